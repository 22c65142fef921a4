//! # agora-job-cnn
//!
//! A small convolutional network for images given as CSV rows: each row's features are one
//! image's pixels in row-major `channels × height × width` order (`image` in the params, default
//! `[1, 8, 8]`: `datasets/digits.csv`), standardized per pixel by the SDK like any features.
//!
//! The network: for each entry of `channels` (default `[32]`), a 3×3 convolution padded to keep
//! the size, ReLU, and a 2×2 max pool (stride 2); then the feature map flattened, a fully
//! connected layer of `hidden` units (default 0: none) with ReLU, and the logits. The defaults
//! were chosen on digits for held-out accuracy per fuel: a second convolution (`[16, 32]`) costs
//! 9× the fuel for no better accuracy, `[32, 64]` 34× for +0.4 points (`docs/benchmarks.md`). Training
//! settings are the SDK's (`optimizer`, `learning_rate`, `batch_size`, `epochs`, `holdout`).
//! Built to `jobs/dist/cnn.wasm` by `scripts/build-jobs.sh`.
//!
//! Every weight is drawn from the SDK's seeded [`Init`]; convolution and pooling are burn's, on
//! the same ndarray backend the MLP uses, single-threaded in Wasm: the same bits everywhere.

#![no_std]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use agora_job_sdk::{DataSpec, Init, Job};
use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Linear, PaddingConfig2d};
use burn::tensor::activation::relu;
use burn::tensor::Tensor;
use serde::Deserialize;

/// Most convolution layers accepted.
pub const MAX_CONVS: usize = 4;
/// Most channels of one convolution.
pub const MAX_CHANNELS: usize = 256;
/// Widest fully connected layer accepted.
pub const MAX_HIDDEN: usize = 4_096;
/// Most pixels of one image.
pub const MAX_PIXELS: usize = 1 << 16;
/// The convolutions' kernel size.
const KERNEL: usize = 3;

/// The CNN's own params.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CnnParams {
    /// `[channels, height, width]` of each row's image; their product must be the dataset's
    /// feature count.
    #[serde(default = "default_image")]
    pub image: [usize; 3],
    /// Output channels of each convolution, input to output.
    #[serde(default = "default_channels")]
    pub channels: Vec<usize>,
    /// Width of the fully connected layer before the logits; 0 for none.
    #[serde(default = "default_hidden")]
    pub hidden: usize,
}

fn default_image() -> [usize; 3] {
    [1, 8, 8]
}

fn default_channels() -> Vec<usize> {
    alloc::vec![32]
}

fn default_hidden() -> usize {
    0
}

/// The network.
#[derive(Module, Debug)]
pub struct Cnn {
    /// The convolutions, input to output.
    pub convs: Vec<Conv2d>,
    /// The 2×2 max pool after each convolution.
    pub pool: MaxPool2d,
    /// The fully connected layer before the logits, if any.
    pub hidden: Option<Linear>,
    /// The layer giving class logits.
    pub output: Linear,
    /// `[channels, height, width]` of the input image.
    pub image: [usize; 3],
}

/// The job.
pub struct CnnJob;

/// A 3×3 convolution `c_in → c_out`, padded to keep the size, weights and bias uniform in
/// `±1/√(c_in·9)` (the fan-in rule the MLP's layers use).
fn conv(init: &mut Init, c_in: usize, c_out: usize) -> Conv2d {
    let fan_in = c_in * KERNEL * KERNEL;
    let bound = 1.0 / libm::sqrtf(fan_in as f32);
    Conv2d {
        weight: init.uniform([c_out, c_in, KERNEL, KERNEL], bound),
        bias: Some(init.uniform([c_out], bound)),
        stride: [1, 1],
        kernel_size: [KERNEL, KERNEL],
        dilation: [1, 1],
        groups: 1,
        padding: PaddingConfig2d::Explicit(1, 1, 1, 1),
    }
}

impl Job for CnnJob {
    type Params = CnnParams;
    type Model = Cnn;

    fn build(params: &CnnParams, spec: &DataSpec, init: &mut Init) -> Result<Cnn, String> {
        let [c, h, w] = params.image;
        let pixels = c.checked_mul(h).and_then(|n| n.checked_mul(w));
        if c == 0 || h == 0 || w == 0 || pixels.is_none_or(|p| p > MAX_PIXELS) {
            return Err(format!(
                "`image` {:?} must be three sizes of at least 1 and at most {MAX_PIXELS} pixels",
                params.image
            ));
        }
        if pixels != Some(spec.features) {
            return Err(format!(
                "`image` {:?} has {} pixels but the dataset has {} features",
                params.image,
                c * h * w,
                spec.features
            ));
        }
        if params.channels.is_empty() || params.channels.len() > MAX_CONVS {
            return Err(format!(
                "`channels` has {} layers; 1 to {MAX_CONVS}",
                params.channels.len()
            ));
        }
        if let Some(bad) = params
            .channels
            .iter()
            .find(|n| **n == 0 || **n > MAX_CHANNELS)
        {
            return Err(format!(
                "`channels` entry {bad} is outside 1..={MAX_CHANNELS}"
            ));
        }
        if params.hidden > MAX_HIDDEN {
            return Err(format!("`hidden` {} is over {MAX_HIDDEN}", params.hidden));
        }
        // Each pool halves the height and width (rounding down); the last map must keep a
        // pixel.
        let pools = params.channels.len() as u32;
        let (out_h, out_w) = (h >> pools, w >> pools);
        if out_h == 0 || out_w == 0 {
            return Err(format!(
                "{pools} poolings of 2×2 leave nothing of a {h}×{w} image; use fewer `channels`"
            ));
        }
        let mut convs = Vec::with_capacity(params.channels.len());
        let mut c_in = c;
        for &c_out in &params.channels {
            convs.push(conv(init, c_in, c_out));
            c_in = c_out;
        }
        let flat = c_in * out_h * out_w;
        let (hidden, last_in) = match params.hidden {
            0 => (None, flat),
            width => (Some(init.linear(flat, width)), width),
        };
        Ok(Cnn {
            convs,
            pool: MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
            hidden,
            output: init.linear(last_in, spec.classes),
            image: params.image,
        })
    }

    fn forward(model: &Cnn, x: Tensor<2>) -> Tensor<2> {
        let [rows, _] = x.dims();
        let [c, h, w] = model.image;
        let mut x: Tensor<4> = x.reshape([rows, c, h, w]);
        for conv in &model.convs {
            x = model.pool.forward(relu(conv.forward(x)));
        }
        let [rows, c, h, w] = x.dims();
        let mut x: Tensor<2> = x.reshape([rows, c * h * w]);
        if let Some(hidden) = &model.hidden {
            x = relu(hidden.forward(x));
        }
        model.output.forward(x)
    }
}

agora_job_sdk::export_job!(CnnJob);

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use burn::tensor::TensorData;

    fn spec(features: usize) -> DataSpec {
        DataSpec {
            features,
            classes: 10,
            train_rows: 100,
            holdout_rows: 20,
        }
    }

    fn params(json: &str) -> CnnParams {
        serde_json::from_str(json).unwrap()
    }

    fn build(json: &str, features: usize) -> Result<Cnn, String> {
        let mut init = Init::new(7, agora_job_sdk::job::device());
        CnnJob::build(&params(json), &spec(features), &mut init)
    }

    #[test]
    fn the_default_network_maps_8x8_images_to_class_logits() {
        let model = build("{}", 64).unwrap();
        let x = Tensor::<2>::from_data(
            TensorData::new(alloc::vec![0.5f32; 3 * 64], [3, 64]),
            &agora_job_sdk::job::device(),
        );
        assert_eq!(CnnJob::forward(&model, x).dims(), [3, 10]);
    }

    #[test]
    fn shapes_that_do_not_fit_are_refused_naming_the_numbers() {
        let error = build("{}", 63).unwrap_err();
        assert!(
            error.contains("64 pixels") && error.contains("63 features"),
            "{error}"
        );
        let error = build(r#"{"channels":[]}"#, 64).unwrap_err();
        assert!(error.contains("0 layers"), "{error}");
        let error = build(r#"{"channels":[8,8,8,8]}"#, 64).unwrap_err();
        assert!(error.contains("leave nothing of a 8×8 image"), "{error}");
        let error = build(r#"{"channels":[0]}"#, 64).unwrap_err();
        assert!(error.contains("entry 0"), "{error}");
        let error = build(r#"{"image":[0,8,8]}"#, 64).unwrap_err();
        assert!(error.contains("[0, 8, 8]"), "{error}");
        assert!(serde_json::from_str::<CnnParams>(r#"{"kernel":5}"#).is_err());
    }
}
