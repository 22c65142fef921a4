//! # agora-job-mlp
//!
//! The example Agora job: a multi-layer perceptron classifier for any dataset in the Agora CSV
//! format. Its shape comes from the params (`hidden`, a list of layer widths, default `[128]`),
//! the training settings from the SDK's keys (`optimizer`, `learning_rate`, `batch_size`,
//! `epochs`, `holdout`, …). Built to `jobs/dist/mlp.wasm` by `scripts/build-jobs.sh`.

#![no_std]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use agora_job_sdk::{DataSpec, Init, Job};
use burn::module::Module;
use burn::nn::Linear;
use burn::tensor::activation::relu;
use burn::tensor::Tensor;
use serde::Deserialize;

/// Widest hidden layer accepted.
pub const MAX_WIDTH: usize = 16_384;
/// Most hidden layers accepted.
pub const MAX_LAYERS: usize = 16;

/// The MLP's own params.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MlpParams {
    /// Widths of the hidden layers, input to output.
    #[serde(default = "default_hidden")]
    pub hidden: Vec<usize>,
}

fn default_hidden() -> Vec<usize> {
    alloc::vec![128]
}

/// Fully connected layers with ReLU between them; the last layer gives class logits.
#[derive(Module, Debug)]
pub struct Mlp {
    /// The layers, input to output.
    pub layers: Vec<Linear>,
}

/// The job.
pub struct MlpJob;

impl Job for MlpJob {
    type Params = MlpParams;
    type Model = Mlp;

    fn build(params: &MlpParams, spec: &DataSpec, init: &mut Init) -> Result<Mlp, String> {
        if params.hidden.len() > MAX_LAYERS {
            return Err(format!(
                "`hidden` has {} layers; at most {MAX_LAYERS}",
                params.hidden.len()
            ));
        }
        if let Some(bad) = params.hidden.iter().find(|w| **w == 0 || **w > MAX_WIDTH) {
            return Err(format!("`hidden` width {bad} is outside 1..={MAX_WIDTH}"));
        }
        let mut widths = Vec::with_capacity(params.hidden.len() + 2);
        widths.push(spec.features);
        widths.extend_from_slice(&params.hidden);
        widths.push(spec.classes);
        let layers = widths.windows(2).map(|w| init.linear(w[0], w[1])).collect();
        Ok(Mlp { layers })
    }

    fn forward(model: &Mlp, x: Tensor<2>) -> Tensor<2> {
        let last = model.layers.len() - 1;
        let mut x = x;
        for (i, layer) in model.layers.iter().enumerate() {
            x = layer.forward(x);
            if i != last {
                x = relu(x);
            }
        }
        x
    }
}

agora_job_sdk::export_job!(MlpJob);

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use agora_job_sdk::abi::Operations;
    use agora_job_sdk::job::Tabular;

    /// `y = 3·a − 2·b + a·b` on a 20 × 20 grid: smooth, not linear.
    fn surface() -> Vec<u8> {
        let mut csv = String::from("a,b,label\n");
        for i in 0..20 {
            for j in 0..20 {
                let (a, b) = (i as f32 / 10.0 - 1.0, j as f32 / 10.0 - 1.0);
                csv.push_str(&format!("{a},{b},{}\n", 3.0 * a - 2.0 * b + a * b));
            }
        }
        csv.into_bytes()
    }

    #[test]
    fn regression_fits_a_smooth_surface_and_reports_its_error_in_the_target_s_units() {
        let data = surface();
        let params = br#"{"task":"regression","hidden":[32],"epochs":60,"batch_size":32,"learning_rate":0.01}"#;
        let plan: serde_json::Value =
            serde_json::from_slice(&Tabular::<MlpJob>::plan(params, &data).unwrap()).unwrap();
        assert_eq!(
            (plan["task"].as_str(), plan["classes"].as_u64()),
            (Some("regression"), Some(1))
        );
        let steps = plan["total_steps"].as_u64().unwrap() as u32;
        let state = Tabular::<MlpJob>::init(params, &data, 3).unwrap();
        let metrics: serde_json::Value =
            serde_json::from_slice(&Tabular::<MlpJob>::eval(params, &data, &state).unwrap())
                .unwrap();
        let untrained = metrics["holdout_mse"].as_f64().unwrap();
        let state = Tabular::<MlpJob>::segment(params, &data, &state, steps).unwrap();
        let metrics: serde_json::Value =
            serde_json::from_slice(&Tabular::<MlpJob>::eval(params, &data, &state).unwrap())
                .unwrap();
        let (mse, r2) = (
            metrics["holdout_mse"].as_f64().unwrap(),
            metrics["holdout_r2"].as_f64().unwrap(),
        );
        assert!(
            r2 > 0.98 && mse < untrained / 20.0,
            "{metrics} (untrained mse {untrained})"
        );
        assert_eq!(metrics["holdout_rows"], 80);
        // The exported regressor loads and carries the target's statistics.
        assert!(!Tabular::<MlpJob>::export(params, &data, &state)
            .unwrap()
            .is_empty());
    }
}
