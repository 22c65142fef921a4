//! Datasets in the Agora CSV format, the seeded train/holdout split and feature
//! standardization.
//!
//! Format (the one `../shared/datasets` uses and users are expected to supply): UTF-8 CSV, one
//! header row, numeric feature columns, and a last column named `label` holding the integer
//! class `0..C` — or, for `"task": "regression"`, a real number. No missing values. Images are
//! the same format: one image's pixels per row, `channels × height × width` in row-major order,
//! the shape declared in the job's params. Every rule below is checked and a violation names the line,
//! the column and the offending text.
//!
//! The split is stratified: the rows of each class are shuffled with the job seed and the first
//! `round(count × holdout)` of them are held out, so every class appears in both parts in its
//! proportion (a regression dataset is one class: a plain seeded split). Regression targets
//! are standardized like the features, with the training rows' mean and standard deviation;
//! the exported model turns its output back into the target's units. Standardization statistics (mean and inverse standard deviation per feature) come
//! from the training rows only and are applied as `(x − mean) × inv_std` in `f32` — the same
//! two operations the exported model performs, so a model evaluated outside Agora sees the same
//! inputs it was trained on.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::params::Task;
use crate::rng::Rng;

/// Most feature columns a dataset may have.
pub const MAX_FEATURES: usize = 4096;
/// Most classes a dataset may have.
pub const MAX_CLASSES: usize = 1024;
/// Most rows a dataset may have.
pub const MAX_ROWS: usize = 10_000_000;

/// A parsed dataset: raw features, row-major, and integer labels.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// Number of feature columns.
    pub features: usize,
    /// Number of classes (`max label + 1`); 1 for regression.
    pub classes: usize,
    /// `rows × features` values, row-major.
    pub x: Vec<f32>,
    /// One label per row (all 0 for regression).
    pub labels: Vec<u32>,
    /// One target per row (regression only; empty for classification).
    pub targets: Vec<f32>,
}

impl Dataset {
    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.labels.len()
    }

    /// Parse CSV bytes in the Agora dataset format, labels as classes.
    pub fn parse_csv(bytes: &[u8]) -> Result<Self, String> {
        Self::parse_csv_for(bytes, Task::Classification)
    }

    /// Parse CSV bytes in the Agora dataset format, labels as `task` reads them.
    pub fn parse_csv_for(bytes: &[u8], task: Task) -> Result<Self, String> {
        let text = core::str::from_utf8(bytes).map_err(|e| {
            format!(
                "the dataset is not UTF-8 text (invalid byte at offset {})",
                e.valid_up_to()
            )
        })?;
        let mut lines = text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty());
        let (_, header) = lines
            .next()
            .ok_or("the dataset is empty: expected a header row")?;
        let columns: Vec<&str> = header.split(',').map(str::trim).collect();
        let last = columns.last().copied().unwrap_or("");
        if last != "label" {
            return Err(format!(
                "the dataset's last column must be named `label`, found `{last}`"
            ));
        }
        let features = columns.len() - 1;
        if features == 0 {
            return Err("the dataset has no feature columns, only `label`".into());
        }
        if features > MAX_FEATURES {
            return Err(format!(
                "the dataset has {features} feature columns; the limit is {MAX_FEATURES}"
            ));
        }
        let mut x = Vec::new();
        let mut labels = Vec::new();
        let mut targets = Vec::new();
        for (line_index, line) in lines {
            // 1-based line number in the file, header included: what an editor shows.
            let line_number = line_index + 1;
            if labels.len() >= MAX_ROWS {
                return Err(format!("the dataset has more than {MAX_ROWS} rows"));
            }
            let mut cells = 0;
            for (column, cell) in Cells::new(line).enumerate() {
                cells += 1;
                if column < features {
                    let value = feature_value(&cell).ok_or_else(|| {
                        let cell = cell.text.trim();
                        match cell.parse::<f64>() {
                            Err(_) => format!(
                                "line {line_number}, column `{}`: `{cell}` is not a number",
                                columns[column]
                            ),
                            Ok(_) => format!(
                                "line {line_number}, column `{}`: `{cell}` is not a finite f32 value",
                                columns[column]
                            ),
                        }
                    })?;
                    x.push(value);
                } else if column == features && task == Task::Regression {
                    let value = feature_value(&cell).ok_or_else(|| {
                        format!(
                            "line {line_number}: label `{}` is not a finite number",
                            cell.text.trim()
                        )
                    })?;
                    targets.push(value);
                    labels.push(0);
                } else if column == features {
                    let cell = cell.text.trim();
                    let label: u32 = cell
                        .parse()
                        .ok()
                        .filter(|l| (*l as usize) < MAX_CLASSES)
                        .ok_or_else(|| {
                            format!(
                            "line {line_number}: label `{cell}` is not a class number in 0..{MAX_CLASSES}"
                        )
                        })?;
                    labels.push(label);
                }
            }
            if cells != columns.len() {
                return Err(format!(
                    "line {line_number} has {cells} columns; the header has {}",
                    columns.len()
                ));
            }
        }
        if labels.len() < 2 {
            return Err(format!(
                "the dataset has {} data rows; at least 2 are needed",
                labels.len()
            ));
        }
        let classes = labels.iter().copied().max().unwrap_or(0) as usize + 1;
        Ok(Self {
            features,
            classes,
            x,
            labels,
            targets,
        })
    }
}

/// The cells of one CSV line, split at every `,` (no quoting in this format), each with its
/// value when it is a plain decimal ([`plain_decimal`]).
///
/// One pass over the bytes finds the cell's end and accumulates its digits together, rather
/// than `str::split(',')` and a parse of each piece: every call of a job parses its dataset
/// again, and in Wasm the generic pattern searcher and the general float parser cost more fuel
/// than the training step of a small model.
struct Cells<'a> {
    line: &'a str,
    start: usize,
    done: bool,
}

impl<'a> Cells<'a> {
    fn new(line: &'a str) -> Self {
        Self {
            line,
            start: 0,
            done: false,
        }
    }
}

/// One cell: its text and, when the text is a plain decimal, its value as `str::parse::<f64>`
/// gives it.
struct Cell<'a> {
    text: &'a str,
    plain: Option<f64>,
}

impl<'a> Iterator for Cells<'a> {
    type Item = Cell<'a>;

    #[inline(always)]
    fn next(&mut self) -> Option<Cell<'a>> {
        if self.done {
            return None;
        }
        let cell_start = self.start;
        let (cell_end, plain) = scan_cell(self.line.as_bytes(), cell_start);
        if cell_end == self.line.len() {
            self.done = true;
        } else {
            self.start = cell_end + 1;
        }
        // The cell ends at a `,` (ASCII) or at the line's end: both are character boundaries.
        Some(Cell {
            text: &self.line[cell_start..cell_end],
            plain,
        })
    }
}

/// `10^k` for `k` in `0..=15`: every one is exactly representable in an `f64`.
const EXACT_POWERS_OF_TEN: [f64; PLAIN_DECIMAL_DIGITS + 1] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
];

/// A feature cell's value: the text as an `f64`, correctly rounded, then rounded to `f32` — the
/// two roundings the format defines — or `None` when the cell is not a number or its value is
/// not a finite `f32`.
///
/// Plain decimals (`-12.5`, `0.031`, `16`: an optional sign, digits, an optional fraction, at
/// most 15 digits in all) take a short path whose result is *identical* to `str::parse::<f64>`,
/// not merely close: the digits form an integer `m < 10^15 < 2^53` and the fraction a power
/// `10^k` with `k ≤ 15`, both exact in `f64`, so `m / 10^k` is one IEEE division of exact
/// operands, correctly rounded as the parse is (Clinger's fast path, which the standard
/// library's own parser takes for these inputs). Everything else (exponents, surrounding
/// white space, `inf`, longer digit strings) goes through `str::parse`.
fn feature_value(cell: &Cell<'_>) -> Option<f32> {
    if let Some(value) = cell.plain {
        // Below 10^15 in magnitude: always a finite f32 value, no check needed.
        return Some(value as f32);
    }
    let value = cell.text.trim().parse::<f64>().ok()?;
    (value.is_finite() && value.abs() <= f64::from(f32::MAX)).then_some(value as f32)
}

/// Most digits [`plain_decimal`] takes: `10^15 − 1 < 2^53`, so the digits are exact in `f64`.
const PLAIN_DECIMAL_DIGITS: usize = 15;

/// The value of `text` if it is `-?[0-9]+(\.[0-9]+)?` with at most [`PLAIN_DECIMAL_DIGITS`]
/// digits, exactly as `str::parse::<f64>` gives it; `None` for any other text.
#[cfg(test)]
fn plain_decimal(text: &[u8]) -> Option<f64> {
    match scan_cell(text, 0) {
        (end, value) if end == text.len() => value,
        _ => None,
    }
}

/// Scan the cell of `line` that starts at `start`: the index of its end (the next `,`, or the
/// line's length) and its value when it is a plain decimal ([`plain_decimal`]).
#[inline(always)]
fn scan_cell(line: &[u8], start: usize) -> (usize, Option<f64>) {
    let mut at = start;
    let negative = line.get(at) == Some(&b'-');
    if negative {
        at += 1;
    }
    let mut mantissa: u64 = 0;
    let mut digits = 0usize;
    let mut point: Option<usize> = None;
    while let Some(&byte) = line.get(at) {
        match byte {
            b',' => break,
            b'0'..=b'9' if digits < PLAIN_DECIMAL_DIGITS => {
                mantissa = mantissa * 10 + u64::from(byte - b'0');
                digits += 1;
            }
            b'.' if point.is_none() && digits > 0 => point = Some(digits),
            // Not a plain decimal: find the cell's end and leave the value to the full parser.
            _ => {
                let end = line[at..]
                    .iter()
                    .position(|b| *b == b',')
                    .map_or(line.len(), |length| at + length);
                return (end, None);
            }
        }
        at += 1;
    }
    let fraction_digits = digits - point.unwrap_or(digits);
    if digits == 0 || (point.is_some() && fraction_digits == 0) {
        return (at, None);
    }
    // `mantissa < 10^15 < 2^53`: exact through `i64` (one x86-64 instruction once compiled;
    // `u64 → f64` is a branchy sequence there), and dividing by `10^0` would change nothing,
    // so an integer cell skips the division. The same bits either way.
    let digits_value = mantissa as i64 as f64;
    let magnitude = if fraction_digits == 0 {
        digits_value
    } else {
        digits_value / EXACT_POWERS_OF_TEN[fraction_digits]
    };
    (at, Some(if negative { -magnitude } else { magnitude }))
}

/// The shape facts a job needs to build its model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DataSpec {
    /// Feature columns (model input width).
    pub features: usize,
    /// Model output width: the classes, or 1 for regression.
    pub classes: usize,
    /// Rows used for training.
    pub train_rows: usize,
    /// Rows held out for evaluation.
    pub holdout_rows: usize,
}

/// A dataset split and standardized for one job seed.
#[derive(Clone, Debug)]
pub struct Prepared {
    /// Shape facts.
    pub spec: DataSpec,
    /// Standardized training features, row-major.
    pub train_x: Vec<f32>,
    /// Training labels.
    pub train_y: Vec<u32>,
    /// Standardized holdout features, row-major.
    pub holdout_x: Vec<f32>,
    /// Holdout labels.
    pub holdout_y: Vec<u32>,
    /// Per-feature mean of the training rows.
    pub mean: Vec<f32>,
    /// Per-feature `1 / standard deviation` of the training rows (1 for constant features).
    pub inv_std: Vec<f32>,
    /// Standardized training targets (regression; empty otherwise).
    pub train_t: Vec<f32>,
    /// Standardized holdout targets (regression; empty otherwise).
    pub holdout_t: Vec<f32>,
    /// Mean of the training targets (regression; 0 otherwise).
    pub target_mean: f32,
    /// Standard deviation of the training targets (regression, 1 if constant; 1 otherwise).
    pub target_std: f32,
}

impl Prepared {
    /// Split `data` with `seed` (stratified, `holdout` share held out) and standardize it.
    pub fn new(data: &Dataset, seed: u64, holdout: f64) -> Result<Self, String> {
        let (train_rows, holdout_rows) = split_rows(data, seed, holdout);
        if train_rows.is_empty() {
            return Err(format!("holdout {holdout} leaves no training rows"));
        }
        if holdout_rows.is_empty() {
            return Err(format!(
                "holdout {holdout} of {} rows holds out nothing to evaluate on",
                data.rows()
            ));
        }
        let f = data.features;
        let (mean, inv_std) = standardization(data, &train_rows);
        let gather = |rows: &[u32]| {
            let mut out = Vec::with_capacity(rows.len() * f);
            for &row in rows {
                let start = row as usize * f;
                // Zipped rather than indexed: no bounds checks, and the compiler vectorizes it
                // (each value's subtraction and product are the same IEEE operations).
                let values = data.x[start..start + f].iter().zip(&mean).zip(&inv_std);
                out.extend(values.map(|((value, mean), inv_std)| (value - mean) * inv_std));
            }
            out
        };
        let train_x = gather(&train_rows);
        let holdout_x = gather(&holdout_rows);
        let label_of = |rows: &[u32]| rows.iter().map(|r| data.labels[*r as usize]).collect();
        let (target_mean, target_std) = target_statistics(&data.targets, &train_rows);
        let target_of = |rows: &[u32]| -> Vec<f32> {
            if data.targets.is_empty() {
                return Vec::new();
            }
            rows.iter()
                .map(|r| (data.targets[*r as usize] - target_mean) / target_std)
                .collect()
        };
        Ok(Self {
            train_t: target_of(&train_rows),
            holdout_t: target_of(&holdout_rows),
            target_mean,
            target_std,
            spec: DataSpec {
                features: f,
                classes: data.classes,
                train_rows: train_rows.len(),
                holdout_rows: holdout_rows.len(),
            },
            train_y: label_of(&train_rows),
            holdout_y: label_of(&holdout_rows),
            train_x,
            holdout_x,
            mean,
            inv_std,
        })
    }
}

/// The stratified split for `seed`: `(training rows, holdout rows)`, each in dataset order.
pub fn split_rows(data: &Dataset, seed: u64, holdout: f64) -> (Vec<u32>, Vec<u32>) {
    let mut by_class: Vec<Vec<u32>> = alloc::vec![Vec::new(); data.classes];
    for (row, label) in data.labels.iter().enumerate() {
        by_class[*label as usize].push(row as u32);
    }
    let mut rng = Rng::stream(seed, b"split", 0);
    let mut train_rows = Vec::new();
    let mut holdout_rows = Vec::new();
    for rows in &mut by_class {
        rng.shuffle(rows);
        // f64 multiply and round-half-up: IEEE-exact, so identical everywhere.
        let held = libm::floor(rows.len() as f64 * holdout + 0.5) as usize;
        let held = held.min(rows.len());
        holdout_rows.extend_from_slice(&rows[..held]);
        train_rows.extend_from_slice(&rows[held..]);
    }
    // Class-major order would put all of class 0 first; restore dataset order so the per-epoch
    // shuffle is the only thing that orders training.
    train_rows.sort_unstable();
    holdout_rows.sort_unstable();
    (train_rows, holdout_rows)
}

/// Mean and population standard deviation of the targets of `rows` (f64 in row order); `(0, 1)`
/// without targets, standard deviation 1 for constant targets.
fn target_statistics(targets: &[f32], rows: &[u32]) -> (f32, f32) {
    if targets.is_empty() {
        return (0.0, 1.0);
    }
    let n = rows.len() as f64;
    let mean = rows
        .iter()
        .map(|r| f64::from(targets[*r as usize]))
        .sum::<f64>()
        / n;
    let square: f64 = rows
        .iter()
        .map(|r| {
            let d = f64::from(targets[*r as usize]) - mean;
            d * d
        })
        .sum();
    let std = libm::sqrt(square / n);
    (mean as f32, if std > 1e-12 { std as f32 } else { 1.0 })
}

/// Mean and inverse population standard deviation of each feature over `rows`, accumulated in
/// f64 in row order (a fixed order: the result is the same everywhere).
fn standardization(data: &Dataset, rows: &[u32]) -> (Vec<f32>, Vec<f32>) {
    let f = data.features;
    let n = rows.len() as f64;
    // Each feature's sums run over the rows in order whichever way the loop is written; zipped
    // rather than indexed, the compiler vectorizes across features without changing a bit.
    let mut sum = alloc::vec![0f64; f];
    for &row in rows {
        let start = row as usize * f;
        for (sum, value) in sum.iter_mut().zip(&data.x[start..start + f]) {
            *sum += f64::from(*value);
        }
    }
    let mean: Vec<f64> = sum.iter().map(|s| s / n).collect();
    let mut square = alloc::vec![0f64; f];
    for &row in rows {
        let start = row as usize * f;
        let values = square.iter_mut().zip(&data.x[start..start + f]).zip(&mean);
        for ((square, value), mean) in values {
            let d = f64::from(*value) - mean;
            *square += d * d;
        }
    }
    let inv_std = square
        .iter()
        .map(|s| {
            let std = libm::sqrt(s / n);
            if std > 1e-12 {
                (1.0 / std) as f32
            } else {
                1.0
            }
        })
        .collect();
    (mean.iter().map(|m| *m as f32).collect(), inv_std)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = "a,b,label\n1,2,0\n3,4,1\n5,6,0\n7,8,1\n9,10,0\n11,12,1\n";

    #[test]
    fn parses_the_format() {
        let d = Dataset::parse_csv(SMALL.as_bytes()).unwrap();
        assert_eq!((d.features, d.classes, d.rows()), (2, 2, 6));
        assert_eq!(d.x[..4], [1.0, 2.0, 3.0, 4.0]);
        assert_eq!(d.labels, [0, 1, 0, 1, 0, 1]);
    }

    #[test]
    fn errors_name_the_bad_value() {
        let cases: &[(&str, &str)] = &[
            ("", "empty"),
            ("a,b,y\n1,2,0\n", "`y`"),
            ("label\n0\n1\n", "no feature columns"),
            ("a,label\n1,0\nx,1\n", "`x` is not a number"),
            ("a,label\n1,0\n2,-1\n", "label `-1`"),
            ("a,label\n1,0\n2,1,3\n", "line 3 has 3 columns"),
            ("a,label\n1,0\n", "1 data rows"),
            ("a,label\n1,0\ninf,1\n", "`inf` is not a finite"),
        ];
        for (csv, expected) in cases {
            let err = Dataset::parse_csv(csv.as_bytes()).unwrap_err();
            assert!(err.contains(expected), "{csv:?}: {err}");
        }
        let err = Dataset::parse_csv(&[0xff, 0xfe]).unwrap_err();
        assert!(err.contains("not UTF-8"), "{err}");
    }

    /// The short path for plain decimals gives the standard parser's bits, not merely close
    /// ones: over 200 000 random decimals of every length it takes, and at its edges.
    #[test]
    fn plain_decimals_parse_to_the_standard_parsers_bits() {
        use alloc::string::ToString;
        let mut rng = Rng::stream(7, b"plain decimals", 0);
        let mut checked = 0;
        for _ in 0..200_000 {
            let digits = 1 + rng.below(PLAIN_DECIMAL_DIGITS as u64) as usize;
            let mut text = String::new();
            if rng.below(2) == 0 {
                text.push('-');
            }
            let point = rng.below(digits as u64 + 1) as usize;
            for i in 0..digits {
                if i == point && i > 0 {
                    text.push('.');
                }
                text.push(char::from(b'0' + rng.below(10) as u8));
            }
            let fast = plain_decimal(text.as_bytes()).expect(&text);
            let standard: f64 = text.parse().unwrap();
            assert_eq!(fast.to_bits(), standard.to_bits(), "{text}");
            checked += 1;
        }
        assert_eq!(checked, 200_000);
        let edges = [
            "0",
            "-0",
            "-0.0",
            "16",
            "0.1",
            "0.3",
            "2.675",
            "999999999999999",
            "0.00000000000001",
            "900719925.474099",
            "1.00000000000001",
            "123456789.012345",
        ];
        for text in edges {
            let standard: f64 = text.parse().unwrap();
            assert_eq!(
                plain_decimal(text.as_bytes()).map(f64::to_bits),
                Some(standard.to_bits()),
                "{text}"
            );
        }
        // Anything else is left to the standard parser, which gives the same values.
        let others = [
            "1e3",
            "+5",
            ".5",
            "5.",
            " 7",
            "1234567890123456",
            "1.2.3",
            "-",
            "",
            "inf",
            "0x1",
            "1_0",
        ];
        for text in others {
            assert_eq!(plain_decimal(text.as_bytes()), None, "{text}");
        }
        let value_of = |text: &str| feature_value(&Cells::new(text).next().unwrap());
        for (text, value) in [
            ("1e3", 1000.0),
            ("+5", 5.0),
            (".5", 0.5),
            ("5.", 5.0),
            (" 7 ", 7.0),
        ] {
            assert_eq!(value_of(text), Some(value), "{text}");
        }
        let long = "1234567890123456.5".to_string();
        assert_eq!(value_of(&long), Some(long.parse::<f64>().unwrap() as f32));
        assert_eq!(value_of("1e39"), None, "past f32::MAX");
    }

    #[test]
    fn cells_split_at_every_comma() {
        let texts = |line| Cells::new(line).map(|c| c.text).collect::<Vec<_>>();
        assert_eq!(texts("1, 2,,x ,"), ["1", " 2", "", "x ", ""]);
        assert_eq!(texts(""), [""]);
        assert_eq!(texts("é,ü"), ["é", "ü"]);
        assert_eq!(texts("1e3,-,2.5"), ["1e3", "-", "2.5"]);
        let values: Vec<Option<f64>> = Cells::new("16,-0.5,1e3,,7.,3").map(|c| c.plain).collect();
        assert_eq!(
            values,
            [Some(16.0), Some(-0.5), None, None, None, Some(3.0)]
        );
    }

    #[test]
    fn split_is_stratified_seeded_and_complete() {
        let d = Dataset::parse_csv(SMALL.as_bytes()).unwrap();
        let p = Prepared::new(&d, 1, 0.34).unwrap();
        assert_eq!(p.spec.holdout_rows, 2);
        assert_eq!(p.spec.train_rows, 4);
        assert_eq!(p.holdout_y.iter().filter(|l| **l == 0).count(), 1);
        let again = Prepared::new(&d, 1, 0.34).unwrap();
        assert_eq!(p.train_x, again.train_x);
        let other_seeds_differ =
            (2..20).any(|s| Prepared::new(&d, s, 0.34).unwrap().train_x != p.train_x);
        assert!(other_seeds_differ);
    }

    #[test]
    fn standardization_uses_training_rows_only() {
        let d = Dataset::parse_csv(SMALL.as_bytes()).unwrap();
        let p = Prepared::new(&d, 5, 0.34).unwrap();
        // Training features have mean 0 and unit variance per column.
        for j in 0..2 {
            let col: Vec<f64> = p
                .train_x
                .iter()
                .skip(j)
                .step_by(2)
                .map(|v| f64::from(*v))
                .collect();
            let mean = col.iter().sum::<f64>() / col.len() as f64;
            let var = col.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / col.len() as f64;
            assert!(
                mean.abs() < 1e-6 && (var - 1.0).abs() < 1e-5,
                "column {j}: {mean} {var}"
            );
        }
    }

    #[test]
    fn regression_labels_are_real_numbers_standardized_by_the_training_rows() {
        let csv = "a,label\n1,0.5\n2,1.5\n3,2.5\n4,3.5\n5,4.5\n6,5.5\n";
        let d = Dataset::parse_csv_for(csv.as_bytes(), Task::Regression).unwrap();
        assert_eq!((d.classes, d.targets.len()), (1, 6));
        assert_eq!(d.targets[1], 1.5);
        let p = Prepared::new(&d, 3, 0.34).unwrap();
        let mean = p.train_t.iter().map(|t| f64::from(*t)).sum::<f64>() / p.train_t.len() as f64;
        assert!(mean.abs() < 1e-6, "{mean}");
        // Back in the target's units, a holdout target is one of the dataset's.
        let back = p.holdout_t[0] * p.target_std + p.target_mean;
        assert!(d.targets.iter().any(|t| (t - back).abs() < 1e-5), "{back}");
        let err = Dataset::parse_csv_for(b"a,label\n1,x\n2,1\n", Task::Regression).unwrap_err();
        assert!(err.contains("label `x` is not a finite number"), "{err}");
    }

    #[test]
    fn holdout_that_leaves_nothing_is_refused() {
        let d = Dataset::parse_csv(SMALL.as_bytes()).unwrap();
        assert!(Prepared::new(&d, 1, 1.0)
            .unwrap_err()
            .contains("no training rows"));
        assert!(Prepared::new(&d, 1, 0.01)
            .unwrap_err()
            .contains("holds out nothing"));
    }
}
