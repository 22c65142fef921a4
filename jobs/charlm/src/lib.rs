//! # agora-job-charlm
//!
//! A small decoder-only transformer that learns to predict the next byte of a UTF-8 text (the
//! SDK's text kind: byte tokens, a held-out tail, `bits_per_char` in the metrics).
//!
//! The network, GPT-style with pre-normalization: token and learned position embeddings of
//! width `d_model`, then `layers` blocks of `x + attention(norm(x))` (burn's
//! `MultiHeadAttention`, `heads` heads, a causal mask from burn's
//! `generate_autoregressive_mask`) and `x + down(gelu(up(norm(x))))` (`ff` hidden units), a
//! final layer norm and a linear map to the 256 byte logits. No dropout: burn's dropout draws
//! from the backend's RNG, which a job must never use; every weight comes from the SDK's seeded
//! [`Init`].
//!
//! Defaults (`DEFAULTS`, each overridable in the params): `d_model` 64, `heads` 4, `layers` 2,
//! `ff` 256, `context` 64, Adam at `learning_rate` 0.003, `batch_size` 16, `epochs` 3,
//! `holdout` 0.1. Chosen on `datasets/jargon.txt` for held-out bits per character per fuel
//! (`docs/benchmarks.md`). Built to `jobs/dist/charlm.wasm` by `scripts/build-jobs.sh`.

#![no_std]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use agora_job_sdk::text::{TextJob, TextSpec};
use agora_job_sdk::Init;
use burn::module::Module;
use burn::nn::attention::{generate_autoregressive_mask, MhaInput, MultiHeadAttention};
use burn::nn::{DropoutConfig, Embedding, LayerNorm, LayerNormConfig, Linear};
use burn::tensor::activation::gelu;
use burn::tensor::{Int, Tensor};
use serde::Deserialize;

/// Widest model accepted.
pub const MAX_D_MODEL: usize = 1024;
/// Most blocks accepted.
pub const MAX_LAYERS: usize = 16;
/// Widest feed-forward layer accepted.
pub const MAX_FF: usize = 8192;

/// The language model's own params.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CharLmParams {
    /// Width of the embeddings and of every block.
    pub d_model: usize,
    /// Attention heads per block; must divide `d_model`.
    pub heads: usize,
    /// Transformer blocks.
    pub layers: usize,
    /// Hidden units of each block's feed-forward layer.
    pub ff: usize,
}

/// One pre-norm transformer block.
#[derive(Module, Debug)]
pub struct Block {
    /// Normalization before attention.
    pub attention_norm: LayerNorm,
    /// Causal self-attention.
    pub attention: MultiHeadAttention,
    /// Normalization before the feed-forward layer.
    pub ff_norm: LayerNorm,
    /// Feed-forward expansion.
    pub up: Linear,
    /// Feed-forward projection back to `d_model`.
    pub down: Linear,
}

/// The network.
#[derive(Module, Debug)]
pub struct CharLm {
    /// Byte embeddings `[256, d_model]`.
    pub token: Embedding,
    /// Position embeddings `[context, d_model]`.
    pub position: Embedding,
    /// The blocks, input to output.
    pub blocks: Vec<Block>,
    /// The final normalization.
    pub norm: LayerNorm,
    /// Logits over the 256 bytes.
    pub output: Linear,
}

/// The job.
pub struct CharLmJob;

fn embedding(init: &mut Init, n: usize, d: usize) -> Embedding {
    Embedding {
        weight: init.uniform([n, d], 1.0 / libm::sqrtf(d as f32)),
    }
}

fn block(init: &mut Init, d: usize, heads: usize, ff: usize) -> Block {
    let device = init.device().clone();
    Block {
        attention_norm: LayerNormConfig::new(d).init(&device),
        attention: MultiHeadAttention {
            query: init.linear(d, d),
            key: init.linear(d, d),
            value: init.linear(d, d),
            output: init.linear(d, d),
            // Probability 0: burn skips dropout entirely, so its RNG is never drawn.
            dropout: DropoutConfig::new(0.0).init(),
            activation: burn::nn::Gelu::new(),
            d_model: d,
            n_heads: heads,
            d_k: d / heads,
            min_float: -1.0e4,
            quiet_softmax: false,
        },
        ff_norm: LayerNormConfig::new(d).init(&device),
        up: init.linear(d, ff),
        down: init.linear(ff, d),
    }
}

impl TextJob for CharLmJob {
    type Params = CharLmParams;
    type Model = CharLm;
    const DEFAULTS: &'static str = r#"{"d_model":64,"heads":4,"layers":2,"ff":256,"context":64,
        "learning_rate":0.003,"batch_size":16,"epochs":3,"holdout":0.1}"#;

    fn build(params: &CharLmParams, spec: &TextSpec, init: &mut Init) -> Result<CharLm, String> {
        let CharLmParams {
            d_model: d,
            heads,
            layers,
            ff,
        } = *params;
        if d == 0 || d > MAX_D_MODEL {
            return Err(format!("`d_model` {d} is outside 1..={MAX_D_MODEL}"));
        }
        if heads == 0 || d % heads != 0 {
            return Err(format!("`heads` {heads} must divide `d_model` {d}"));
        }
        if layers == 0 || layers > MAX_LAYERS {
            return Err(format!("`layers` {layers} is outside 1..={MAX_LAYERS}"));
        }
        if ff == 0 || ff > MAX_FF {
            return Err(format!("`ff` {ff} is outside 1..={MAX_FF}"));
        }
        Ok(CharLm {
            token: embedding(init, spec.vocab, d),
            position: embedding(init, spec.context, d),
            blocks: (0..layers).map(|_| block(init, d, heads, ff)).collect(),
            norm: LayerNormConfig::new(d).init(init.device()),
            output: init.linear(d, spec.vocab),
        })
    }

    fn forward(model: &CharLm, tokens: Tensor<2, Int>) -> Tensor<3> {
        let [batch, positions] = tokens.dims();
        let device = tokens.device();
        let index = Tensor::<1, Int>::arange(0..positions as i64, &device).reshape([1, positions]);
        let mut x = model.token.forward(tokens) + model.position.forward(index);
        let mask = generate_autoregressive_mask(batch, positions, &device);
        for block in &model.blocks {
            let input = MhaInput::self_attn(block.attention_norm.forward(x.clone()))
                .mask_attn(mask.clone());
            x = x + block.attention.forward(input).context;
            let hidden = gelu(block.up.forward(block.ff_norm.forward(x.clone())));
            x = x + block.down.forward(hidden);
        }
        model.output.forward(model.norm.forward(x))
    }
}

agora_job_sdk::export_text_job!(CharLmJob);

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use burn::tensor::TensorData;

    fn spec() -> TextSpec {
        TextSpec {
            vocab: 256,
            context: 8,
            train_tokens: 100,
            holdout_tokens: 20,
        }
    }

    fn model() -> CharLm {
        let params = CharLmParams {
            d_model: 16,
            heads: 2,
            layers: 2,
            ff: 32,
        };
        let mut init = Init::new(3, agora_job_sdk::job::device());
        CharLmJob::build(&params, &spec(), &mut init).unwrap()
    }

    fn logits(model: &CharLm, bytes: &[u8]) -> Vec<f32> {
        let ids: Vec<i64> = bytes.iter().map(|b| i64::from(*b)).collect();
        let tokens = Tensor::<2, Int>::from_data(
            TensorData::new(ids, [1, bytes.len()]),
            &agora_job_sdk::job::device(),
        );
        let out = CharLmJob::forward(model, tokens);
        assert_eq!(out.dims(), [1, bytes.len(), 256]);
        out.into_data().as_slice::<f32>().unwrap().to_vec()
    }

    #[test]
    fn the_model_is_causal_a_later_byte_never_changes_an_earlier_prediction() {
        let model = model();
        let a = logits(&model, b"abcdefgh");
        let b = logits(&model, b"abcdXYZW");
        // Positions 0..4 saw the same bytes: the same logits, bit for bit.
        assert_eq!(a[..4 * 256], b[..4 * 256]);
        // Position 4 saw a different byte: its logits differ (the test can fail).
        assert_ne!(a[4 * 256..5 * 256], b[4 * 256..5 * 256]);
    }

    #[test]
    fn params_that_do_not_fit_are_refused_naming_the_numbers() {
        let mut init = Init::new(3, agora_job_sdk::job::device());
        let bad = CharLmParams {
            d_model: 10,
            heads: 3,
            layers: 1,
            ff: 8,
        };
        let error = CharLmJob::build(&bad, &spec(), &mut init).unwrap_err();
        assert!(
            error.contains("`heads` 3 must divide `d_model` 10"),
            "{error}"
        );
    }
}
