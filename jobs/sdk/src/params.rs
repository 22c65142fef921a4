//! Job parameters: one JSON object, split between the SDK's training keys and the job's own.
//!
//! The SDK owns `task` (`"classification"` or `"regression"`, for table and image datasets),
//! `optimizer` (`"adam"` or `"sgd"`), `learning_rate`, `batch_size`, `epochs`, `holdout`,
//! `momentum` (SGD), `beta1`, `beta2`, `epsilon` (Adam). Every other key is handed
//! to the job's `Params` type, which should `deny_unknown_fields` so a misspelt key is an error
//! rather than a silently ignored setting.

use alloc::format;
use alloc::string::{String, ToString};
use serde_json::{Map, Value};

/// The optimizer and its hyper-parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Optimizer {
    /// Stochastic gradient descent with optional (PyTorch-style) momentum.
    Sgd {
        /// Momentum factor in `[0, 1)`; 0 disables momentum.
        momentum: f32,
    },
    /// Adam (Kingma & Ba 2015) with bias correction.
    Adam {
        /// First-moment decay.
        beta1: f32,
        /// Second-moment decay.
        beta2: f32,
        /// Denominator stabilizer.
        epsilon: f32,
    },
}

/// What a table's `label` column holds and what the network learns from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Task {
    /// An integer class `0..C`; mean cross-entropy of `C` logits.
    Classification,
    /// A real number; mean squared error of one output (on standardized targets).
    Regression,
}

/// Training settings every job shares.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Training {
    /// Optimizer and its settings.
    pub optimizer: Optimizer,
    /// Step size.
    pub learning_rate: f32,
    /// Rows per step (the last batch of an epoch may be smaller).
    pub batch_size: usize,
    /// Passes over the training rows; sets the planned number of steps.
    pub epochs: u32,
    /// Share of each class (of the rows, for regression; of the text, for text) held out for
    /// evaluation.
    pub holdout: f64,
    /// Classification or regression (table and image datasets).
    pub task: Task,
}

impl Default for Training {
    fn default() -> Self {
        Self {
            optimizer: Optimizer::Adam {
                beta1: 0.9,
                beta2: 0.999,
                epsilon: 1e-8,
            },
            learning_rate: 0.001,
            batch_size: 64,
            epochs: 20,
            holdout: 0.2,
            task: Task::Classification,
        }
    }
}

/// Most rows per batch.
pub const MAX_BATCH: usize = 65_536;
/// Most epochs.
pub const MAX_EPOCHS: u32 = 100_000;

/// A numeric params key, removed from `map`; `None` when absent.
pub(crate) fn number(map: &mut Map<String, Value>, key: &str) -> Result<Option<f64>, String> {
    match map.remove(key) {
        None => Ok(None),
        Some(Value::Number(n)) => n
            .as_f64()
            .filter(|v| v.is_finite())
            .map(Some)
            .ok_or_else(|| format!("parameter `{key}` = {n} is not a finite number")),
        Some(other) => Err(format!("parameter `{key}` must be a number, found {other}")),
    }
}

fn in_range(key: &str, value: f64, low: f64, high: f64, open_low: bool) -> Result<f64, String> {
    let above = if open_low { value > low } else { value >= low };
    if above && value < high {
        Ok(value)
    } else {
        let bracket = if open_low { "(" } else { "[" };
        Err(format!(
            "parameter `{key}` = {value} is outside {bracket}{low}, {high})"
        ))
    }
}

/// `value` if it is a whole number in `low..=high`.
pub(crate) fn integer(key: &str, value: f64, low: f64, high: f64) -> Result<f64, String> {
    if value.fract() != 0.0 || value < low || value > high {
        return Err(format!(
            "parameter `{key}` = {value} must be a whole number in {low}..={high}"
        ));
    }
    Ok(value)
}

/// Split the params JSON into the SDK's [`Training`] and the job's remaining keys.
/// Empty input means `{}` (all defaults).
pub fn split(json: &[u8]) -> Result<(Training, Map<String, Value>), String> {
    split_with_defaults(json, "{}")
}

/// [`split`] after filling every key the params leave out from `defaults`, a JSON object the
/// job declares (its `DEFAULTS`): a job can change the SDK's defaults (e.g. a language model's
/// learning rate) as well as supply its own, and the buyer's params still override each key.
pub fn split_with_defaults(
    json: &[u8],
    defaults: &str,
) -> Result<(Training, Map<String, Value>), String> {
    let mut map = if json.iter().all(u8::is_ascii_whitespace) {
        Map::new()
    } else {
        match serde_json::from_slice::<Value>(json) {
            Ok(Value::Object(map)) => map,
            Ok(other) => return Err(format!("params must be a JSON object, found {other}")),
            Err(e) => return Err(format!("params are not valid JSON: {e}")),
        }
    };
    match serde_json::from_str::<Value>(defaults) {
        Ok(Value::Object(defaults)) => {
            for (key, value) in defaults {
                map.entry(key).or_insert(value);
            }
        }
        _ => {
            return Err(format!(
                "the job's DEFAULTS are not a JSON object: {defaults}"
            ))
        }
    }
    let mut training = Training::default();
    if let Some(v) = number(&mut map, "learning_rate")? {
        training.learning_rate = in_range("learning_rate", v, 0.0, 10.0, true)? as f32;
    }
    if let Some(v) = number(&mut map, "batch_size")? {
        training.batch_size = integer("batch_size", v, 1.0, MAX_BATCH as f64)? as usize;
    }
    if let Some(v) = number(&mut map, "epochs")? {
        training.epochs = integer("epochs", v, 1.0, f64::from(MAX_EPOCHS))? as u32;
    }
    if let Some(v) = number(&mut map, "holdout")? {
        training.holdout = in_range("holdout", v, 0.0, 0.9, true)?;
    }
    training.task = match map.remove("task") {
        None => Task::Classification,
        Some(Value::String(s)) if s == "classification" => Task::Classification,
        Some(Value::String(s)) if s == "regression" => Task::Regression,
        Some(other) => {
            return Err(format!(
                "parameter `task` = {other} is not one of \"classification\", \"regression\""
            ))
        }
    };
    let kind = match map.remove("optimizer") {
        None => "adam".to_string(),
        Some(Value::String(s)) => s,
        Some(other) => {
            return Err(format!(
                "parameter `optimizer` must be a string, found {other}"
            ))
        }
    };
    let momentum = number(&mut map, "momentum")?;
    let beta1 = number(&mut map, "beta1")?;
    let beta2 = number(&mut map, "beta2")?;
    let epsilon = number(&mut map, "epsilon")?;
    training.optimizer = match kind.as_str() {
        "sgd" => {
            if let Some(key) = [("beta1", beta1), ("beta2", beta2), ("epsilon", epsilon)]
                .iter()
                .find_map(|(k, v)| v.map(|_| *k))
            {
                return Err(format!("parameter `{key}` applies to adam, not sgd"));
            }
            let momentum = match momentum {
                Some(m) => in_range("momentum", m, 0.0, 1.0, false)? as f32,
                None => 0.0,
            };
            Optimizer::Sgd { momentum }
        }
        "adam" => {
            if momentum.is_some() {
                return Err("parameter `momentum` applies to sgd, not adam".into());
            }
            let Optimizer::Adam {
                beta1: b1,
                beta2: b2,
                epsilon: eps,
            } = Training::default().optimizer
            else {
                unreachable!("the default optimizer is Adam")
            };
            Optimizer::Adam {
                beta1: beta1.map_or(Ok(b1), |v| {
                    in_range("beta1", v, 0.0, 1.0, false).map(|v| v as f32)
                })?,
                beta2: beta2.map_or(Ok(b2), |v| {
                    in_range("beta2", v, 0.0, 1.0, false).map(|v| v as f32)
                })?,
                epsilon: epsilon.map_or(Ok(eps), |v| {
                    in_range("epsilon", v, 0.0, 1.0, true).map(|v| v as f32)
                })?,
            }
        }
        other => {
            return Err(format!(
                "parameter `optimizer` = \"{other}\" is not one of \"adam\", \"sgd\""
            ))
        }
    };
    Ok((training, map))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        let (t, rest) = split(b"").unwrap();
        assert_eq!(t, Training::default());
        assert!(rest.is_empty());
        let (t, rest) = split(br#"{"optimizer":"sgd","momentum":0.9,"learning_rate":0.1,"batch_size":32,"epochs":3,"hidden":[8]}"#).unwrap();
        assert_eq!(t.optimizer, Optimizer::Sgd { momentum: 0.9 });
        assert_eq!((t.learning_rate, t.batch_size, t.epochs), (0.1, 32, 3));
        assert_eq!(rest.keys().collect::<alloc::vec::Vec<_>>(), ["hidden"]);
    }

    #[test]
    fn job_defaults_fill_only_missing_keys() {
        let defaults = r#"{"learning_rate":0.003,"epochs":4,"context":32}"#;
        let (t, rest) = split_with_defaults(br#"{"epochs":9}"#, defaults).unwrap();
        assert_eq!((t.learning_rate, t.epochs), (0.003, 9));
        assert_eq!(rest["context"], 32);
        let err = split_with_defaults(b"{}", "[1]").unwrap_err();
        assert!(err.contains("DEFAULTS"), "{err}");
    }

    #[test]
    fn bad_values_are_named() {
        let cases: &[(&str, &str)] = &[
            ("[1]", "must be a JSON object"),
            ("{", "not valid JSON"),
            (r#"{"learning_rate":0}"#, "`learning_rate` = 0"),
            (
                r#"{"learning_rate":"fast"}"#,
                "`learning_rate` must be a number",
            ),
            (r#"{"batch_size":1.5}"#, "`batch_size` = 1.5"),
            (r#"{"epochs":0}"#, "`epochs` = 0"),
            (r#"{"holdout":0.95}"#, "`holdout` = 0.95"),
            (r#"{"optimizer":"lbfgs"}"#, "\"lbfgs\""),
            (
                r#"{"optimizer":"adam","momentum":0.9}"#,
                "`momentum` applies to sgd",
            ),
            (
                r#"{"optimizer":"sgd","beta1":0.9}"#,
                "`beta1` applies to adam",
            ),
            (r#"{"beta2":1.0}"#, "`beta2` = 1"),
            (r#"{"task":"ranking"}"#, "`task` = \"ranking\""),
        ];
        for (json, expected) in cases {
            let err = split(json.as_bytes()).unwrap_err();
            assert!(err.contains(expected), "{json}: {err}");
        }
    }
}
