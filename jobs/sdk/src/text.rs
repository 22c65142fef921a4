//! Text datasets and next-token language modelling: the [`TextJob`] trait and its five ABI
//! operations.
//!
//! **Dataset.** A UTF-8 text file (checked; a violation names the byte offset). It is tokenized
//! as bytes: token `t` is byte `t`, the vocabulary is the 256 byte values, so the tokenization
//! has no table to ship and no decision that could differ between machines. The last
//! `holdout` share of the bytes, but at most `max_holdout_bytes` (default 8,192: it bounds the
//! cost of `eval`, which must fit one engine call's fuel limit on the chain), moved forward to
//! the next character boundary, is the held-out tail; the rest is the training text. Both parts
//! must hold more than one context of bytes. The text kind's own params keys are `context`
//! (default 64) and `max_holdout_bytes`.
//!
//! **Training.** Step `s` draws `batch_size` windows of `context + 1` bytes from the training
//! text at offsets `Rng::stream(seed, "windows", s)` chooses uniformly; the first `context` bytes
//! are the input, the last `context` the targets. The loss is the mean cross-entropy of the
//! job's next-token logits over all `batch_size × context` positions. An epoch is the number of
//! steps whose windows add up to the training text's length (rounded up), so `epochs` keeps its
//! meaning: the planned steps see about `epochs` times the training text.
//!
//! **Evaluation.** The held-out tail is cut into consecutive chunks of `context` targets; each
//! chunk's input is the `context` bytes before its targets (for the first chunk, the last byte
//! of the training text starts it). `loss` is the mean cross-entropy per byte in nats,
//! `bits_per_byte` the same in bits, `bits_per_char` the total bits divided by the number of
//! characters among the targets (bytes that do not continue a UTF-8 sequence) — equal to
//! `bits_per_byte` for ASCII text. `unigram_bits_per_char` is the entropy of the tail's own
//! character frequencies, the bar a model that ignores context cannot beat. The same figures
//! for the first [`TRAIN_SAMPLE_BYTES`] of the training text are `train_*` (a sign of
//! overfitting when far below the held-out figures).
//! Sums are in `f64` in text order: the same bits everywhere.
//!
//! **Export.** The job's network as a burnpack record; `agora-job-native generate` loads it and
//! samples text.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::marker::PhantomData;

use burn::module::{Module, ModuleDisplay};
use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Int, Tensor, TensorData};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::abi::Operations;
use crate::job::{device, json};
use crate::model::Init;
use crate::optim;
use crate::params::{self, Training};
use crate::rng::Rng;
use crate::state::{self, State};

/// Tokens in the vocabulary: the byte values.
pub const VOCAB: usize = 256;
/// Longest context a job may declare.
pub const MAX_CONTEXT: usize = 2048;
/// Longest text accepted (bytes).
pub const MAX_TEXT: usize = 64 << 20;
/// Default context length (bytes).
pub const DEFAULT_CONTEXT: usize = 64;
/// Default cap on the held-out tail (bytes).
pub const DEFAULT_MAX_HOLDOUT_BYTES: usize = 8192;
/// Bytes of training text scored for the `train_*` metrics.
pub const TRAIN_SAMPLE_BYTES: usize = 1024;
/// Chunks per forward pass in evaluation (bounds memory, not results).
const EVAL_BATCH: usize = 64;

/// A language-model job: a burn network from byte tokens to next-token logits.
pub trait TextJob {
    /// The job's own parameters (every params key neither the SDK nor the text kind uses).
    type Params: DeserializeOwned;
    /// The network.
    type Model: Module + ModuleDisplay;
    /// Defaults for any params key (the SDK's training keys, `context`, or the job's own) as a
    /// JSON object; the buyer's params override them key by key.
    const DEFAULTS: &'static str = "{}";

    /// Build the network for `spec`, drawing initial weights from `init`.
    fn build(
        params: &Self::Params,
        spec: &TextSpec,
        init: &mut Init,
    ) -> Result<Self::Model, String>;

    /// Next-token logits `[batch, positions, VOCAB]` for tokens `[batch, positions]`, where
    /// `positions ≤ spec.context` and the logits at position `i` may depend only on tokens
    /// `0..=i` (a causal model).
    fn forward(model: &Self::Model, tokens: Tensor<2, Int>) -> Tensor<3>;
}

/// The shape facts a language-model job needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TextSpec {
    /// Tokens in the vocabulary ([`VOCAB`]).
    pub vocab: usize,
    /// Most tokens the model sees at once.
    pub context: usize,
    /// Bytes of training text.
    pub train_tokens: usize,
    /// Bytes of held-out text.
    pub holdout_tokens: usize,
}

/// A text dataset split for training.
#[derive(Clone, Debug)]
pub struct Corpus {
    /// The whole text, one token per byte.
    pub bytes: Vec<u8>,
    /// `bytes[..split]` is the training text, `bytes[split..]` the held-out tail.
    pub split: usize,
}

impl Corpus {
    /// Check `bytes` and split off the last `holdout` share, at most `max_holdout` bytes, as the
    /// held-out tail.
    pub fn new(
        bytes: &[u8],
        holdout: f64,
        max_holdout: usize,
        context: usize,
    ) -> Result<Self, String> {
        if bytes.len() > MAX_TEXT {
            return Err(format!(
                "the text has {} bytes; the limit is {MAX_TEXT}",
                bytes.len()
            ));
        }
        let text = core::str::from_utf8(bytes).map_err(|e| {
            format!(
                "the dataset is not UTF-8 text (invalid byte at offset {})",
                e.valid_up_to()
            )
        })?;
        // f64 multiply and floor: IEEE-exact, so identical everywhere.
        let tail = (libm::floor(bytes.len() as f64 * holdout) as usize).min(max_holdout);
        let mut split = bytes.len() - tail;
        while split < bytes.len() && !text.is_char_boundary(split) {
            split += 1;
        }
        let (train, held) = (split, bytes.len() - split);
        if train <= context || held <= context {
            return Err(format!(
                "a text of {} bytes split with holdout {holdout} leaves {train} bytes to train on \
                 and {held} held out; each needs more than the context of {context} bytes",
                bytes.len()
            ));
        }
        Ok(Self {
            bytes: bytes.to_vec(),
            split,
        })
    }
}

/// Everything derived from `(params, text)`.
pub struct TextContext<J: TextJob> {
    /// SDK training settings.
    pub training: Training,
    /// The job's own params.
    pub params: J::Params,
    /// The shape facts.
    pub spec: TextSpec,
    /// The split text.
    pub corpus: Corpus,
    /// The device.
    pub device: Device,
}

impl<J: TextJob> TextContext<J> {
    /// Parse params and text.
    pub fn new(params: &[u8], text: &[u8]) -> Result<Self, String> {
        let (training, params, layout) = parse_params::<J>(params)?;
        let context = layout.context;
        let corpus = Corpus::new(text, training.holdout, layout.max_holdout_bytes, context)?;
        Ok(Self {
            spec: TextSpec {
                vocab: VOCAB,
                context,
                train_tokens: corpus.split,
                holdout_tokens: corpus.bytes.len() - corpus.split,
            },
            training,
            params,
            corpus,
            device: device(),
        })
    }

    /// Steps in one epoch: enough windows to cover the training text once.
    pub fn steps_per_epoch(&self) -> u64 {
        let per_step = self.training.batch_size * self.spec.context;
        self.spec.train_tokens.div_ceil(per_step) as u64
    }

    /// A freshly initialized network.
    pub fn build(&self, seed: u64) -> Result<J::Model, String> {
        J::build(
            &self.params,
            &self.spec,
            &mut Init::new(seed, self.device.clone()),
        )
    }

    /// The network with the parameters of `state`.
    pub fn restore(&self, state: &State) -> Result<J::Model, String> {
        state::load(self.build(state.seed)?, state.params.clone())
    }
}

/// The text kind's own params.
struct Layout {
    context: usize,
    max_holdout_bytes: usize,
}

/// A whole-number params key in `low..=high`, removed from `rest`; `None` when absent.
fn count(
    rest: &mut Map<String, Value>,
    key: &str,
    low: usize,
    high: usize,
) -> Result<Option<usize>, String> {
    params::number(rest, key)?
        .map(|v| params::integer(key, v, low as f64, high as f64).map(|v| v as usize))
        .transpose()
}

/// Split the params into the SDK's training settings, the job's own params and the text
/// kind's layout.
fn parse_params<J: TextJob>(params: &[u8]) -> Result<(Training, J::Params, Layout), String> {
    let (training, mut rest) = params::split_with_defaults(params, J::DEFAULTS)?;
    let layout = Layout {
        context: count(&mut rest, "context", 1, MAX_CONTEXT)?.unwrap_or(DEFAULT_CONTEXT),
        max_holdout_bytes: count(&mut rest, "max_holdout_bytes", 1, MAX_TEXT)?
            .unwrap_or(DEFAULT_MAX_HOLDOUT_BYTES),
    };
    let params = serde_json::from_value::<J::Params>(Value::Object(rest))
        .map_err(|e| format!("params: {e}"))?;
    Ok((training, params, layout))
}

/// The network a job's params describe, with freshly drawn weights, and its context length:
/// the structure an exported model loads into (no text needed).
pub fn skeleton<J: TextJob>(params: &[u8]) -> Result<(J::Model, usize), String> {
    let (_, params, Layout { context, .. }) = parse_params::<J>(params)?;
    let spec = TextSpec {
        vocab: VOCAB,
        context,
        train_tokens: 0,
        holdout_tokens: 0,
    };
    let model = J::build(&params, &spec, &mut Init::new(0, device()))?;
    Ok((model, context))
}

/// Token ids `[rows, positions]` as an integer tensor.
fn tokens(ids: &[u8], rows: usize, device: &Device) -> Tensor<2, Int> {
    let ids: Vec<i64> = ids.iter().map(|b| i64::from(*b)).collect();
    let positions = ids.len() / rows;
    Tensor::<2, Int>::from_data(TensorData::new(ids, [rows, positions]), device)
}

/// The five ABI operations for a [`TextJob`].
pub struct Text<J>(PhantomData<J>);

impl<J: TextJob> Operations for Text<J> {
    fn plan(params: &[u8], text: &[u8]) -> Result<Vec<u8>, String> {
        let ctx = TextContext::<J>::new(params, text)?;
        let model = ctx.build(0)?;
        let per_epoch = ctx.steps_per_epoch();
        let mut out = Map::new();
        out.insert(
            "total_steps".into(),
            (per_epoch * u64::from(ctx.training.epochs)).into(),
        );
        out.insert("steps_per_epoch".into(), per_epoch.into());
        out.insert("train_tokens".into(), ctx.spec.train_tokens.into());
        out.insert("holdout_tokens".into(), ctx.spec.holdout_tokens.into());
        out.insert("context".into(), ctx.spec.context.into());
        out.insert("vocab".into(), ctx.spec.vocab.into());
        out.insert("parameters".into(), model.num_params().into());
        Ok(json(out))
    }

    fn init(params: &[u8], text: &[u8], seed: u64) -> Result<Vec<u8>, String> {
        let ctx = TextContext::<J>::new(params, text)?;
        State::fresh(&ctx.build(seed)?, seed, ctx.training.optimizer).encode()
    }

    fn segment(params: &[u8], text: &[u8], state: &[u8], steps: u32) -> Result<Vec<u8>, String> {
        let (ctx, mut state) = open::<J>(params, text, state)?;
        let mut model = ctx.restore(&state)?;
        let (batch, context) = (ctx.training.batch_size, ctx.spec.context);
        let train = &ctx.corpus.bytes[..ctx.corpus.split];
        // Offsets in 0..=train.len() - context - 1: every window of context + 1 bytes fits.
        let starts = (train.len() - context) as u64;
        for _ in 0..steps {
            let mut rng = Rng::stream(state.seed, b"windows", state.step);
            let mut inputs = Vec::with_capacity(batch * context);
            let mut target = alloc::vec![0f32; batch * context * VOCAB];
            for row in 0..batch {
                let start = rng.below(starts) as usize;
                inputs.extend_from_slice(&train[start..start + context]);
                for (i, next) in train[start + 1..start + 1 + context].iter().enumerate() {
                    target[(row * context + i) * VOCAB + usize::from(*next)] = 1.0;
                }
            }
            let n = batch * context;
            let logits =
                J::forward(&model, tokens(&inputs, batch, &ctx.device)).reshape([n, VOCAB]);
            let target = Tensor::<2>::from_data(TensorData::new(target, [n, VOCAB]), &ctx.device);
            let loss = (log_softmax(logits, 1) * target)
                .sum()
                .mul_scalar(-1.0 / n as f32);
            model = optim::step(model, loss, &ctx.training, &mut state)?;
        }
        state.params = state::blobs(&model);
        state.encode()
    }

    fn eval(params: &[u8], text: &[u8], state: &[u8]) -> Result<Vec<u8>, String> {
        let (ctx, state) = open::<J>(params, text, state)?;
        let model = ctx.restore(&state)?;
        let bytes = &ctx.corpus.bytes;
        let split = ctx.corpus.split;
        let held = Score::of::<J>(&ctx, &model, bytes, split, bytes.len())?;
        let train_end = (1 + TRAIN_SAMPLE_BYTES).min(split);
        let train = Score::of::<J>(&ctx, &model, bytes, 1, train_end)?;
        let mut out = Map::new();
        out.insert("step".into(), state.step.into());
        out.insert("loss".into(), held.loss().into());
        out.insert("bits_per_byte".into(), held.bits_per_byte().into());
        out.insert("bits_per_char".into(), held.bits_per_char().into());
        out.insert(
            "unigram_bits_per_char".into(),
            unigram_entropy(&bytes[split..]).into(),
        );
        out.insert("holdout_tokens".into(), held.tokens.into());
        out.insert("train_loss".into(), train.loss().into());
        out.insert("train_bits_per_char".into(), train.bits_per_char().into());
        Ok(json(out))
    }

    fn export(params: &[u8], text: &[u8], state: &[u8]) -> Result<Vec<u8>, String> {
        let (ctx, state) = open::<J>(params, text, state)?;
        let bytes = ctx
            .restore(&state)?
            .into_record()
            .into_bytes()
            .map_err(|e| format!("export: {e}"))?;
        Ok(bytes.to_vec())
    }
}

/// Decode a state and check it against the params (optimizer slots, finite values).
fn open<J: TextJob>(
    params: &[u8],
    text: &[u8],
    bytes: &[u8],
) -> Result<(TextContext<J>, State), String> {
    let state = State::decode(bytes)?;
    let ctx = TextContext::<J>::new(params, text)?;
    state.check_against(ctx.training.optimizer)?;
    Ok((ctx, state))
}

/// Summed negative log-likelihood over a run of target bytes.
struct Score {
    nats: f64,
    tokens: usize,
    chars: usize,
}

impl Score {
    /// Score the targets `bytes[from..to]` (`from ≥ 1`) in chunks of `context`, each predicted
    /// from the `context` bytes before it.
    fn of<J: TextJob>(
        ctx: &TextContext<J>,
        model: &J::Model,
        bytes: &[u8],
        from: usize,
        to: usize,
    ) -> Result<Self, String> {
        let context = ctx.spec.context;
        let mut score = Self {
            nats: 0.0,
            tokens: 0,
            chars: 0,
        };
        let full = (to - from) / context;
        let mut chunk = 0;
        // Full chunks in batches of EVAL_BATCH, then the shorter last chunk alone.
        while chunk < full {
            let rows = (full - chunk).min(EVAL_BATCH);
            let start = from + chunk * context;
            score.add::<J>(ctx, model, bytes, start, rows, context)?;
            chunk += rows;
        }
        let rest = (to - from) % context;
        if rest > 0 {
            score.add::<J>(ctx, model, bytes, to - rest, 1, rest)?;
        }
        Ok(score)
    }

    /// Add `rows` consecutive chunks of `len` targets starting at byte `start`.
    fn add<J: TextJob>(
        &mut self,
        ctx: &TextContext<J>,
        model: &J::Model,
        bytes: &[u8],
        start: usize,
        rows: usize,
        len: usize,
    ) -> Result<(), String> {
        let inputs = &bytes[start - 1..start - 1 + rows * len];
        let logits =
            J::forward(model, tokens(inputs, rows, &ctx.device)).reshape([rows * len, VOCAB]);
        let logp = log_softmax(logits, 1).into_data();
        let logp = logp
            .as_slice::<f32>()
            .map_err(|e| format!("eval output: {e:?}"))?;
        let targets = &bytes[start..start + rows * len];
        for (row, target) in logp.chunks(VOCAB).zip(targets) {
            let value = row[usize::from(*target)];
            if !value.is_finite() {
                return Err(format!(
                    "evaluation produced a non-finite log-probability ({value})"
                ));
            }
            self.nats -= f64::from(value);
            self.tokens += 1;
            // A byte 0b10xx_xxxx continues a character; every other byte starts one.
            self.chars += usize::from(*target & 0xC0 != 0x80);
        }
        Ok(())
    }

    fn loss(&self) -> f64 {
        self.nats / self.tokens as f64
    }

    fn bits_per_byte(&self) -> f64 {
        self.nats / core::f64::consts::LN_2 / self.tokens as f64
    }

    fn bits_per_char(&self) -> f64 {
        self.nats / core::f64::consts::LN_2 / self.chars.max(1) as f64
    }
}

/// Entropy in bits of the character frequencies of `bytes` (valid UTF-8, split at a character
/// boundary), summed in character order.
pub fn unigram_entropy(bytes: &[u8]) -> f64 {
    let text = core::str::from_utf8(bytes).unwrap_or_default();
    let mut counts: BTreeMap<char, u64> = BTreeMap::new();
    for c in text.chars() {
        *counts.entry(c).or_default() += 1;
    }
    let total = counts.values().sum::<u64>() as f64;
    counts
        .values()
        .map(|n| {
            let p = *n as f64 / total;
            -p * libm::log2(p)
        })
        .sum()
}

/// Sample `len` bytes after `prompt` from a trained model: each next byte is drawn from the
/// softmax of the logits divided by `temperature` with `Rng::stream(seed, "generate", i)`. The
/// model sees at most its last `context` bytes.
pub fn generate<J: TextJob>(
    model: &J::Model,
    context: usize,
    prompt: &[u8],
    len: usize,
    temperature: f32,
    seed: u64,
) -> Result<Vec<u8>, String> {
    if prompt.is_empty() {
        return Err("the prompt must not be empty".into());
    }
    if !(temperature.is_finite() && temperature > 0.0) {
        return Err(format!(
            "temperature {temperature} must be a positive number"
        ));
    }
    let device = device();
    let mut out = prompt.to_vec();
    for i in 0..len {
        let window = &out[out.len().saturating_sub(context)..];
        let positions = window.len();
        let logits = J::forward(model, tokens(window, 1, &device))
            .slice([0..1, positions - 1..positions, 0..VOCAB])
            .reshape([1, VOCAB])
            .div_scalar(temperature);
        let probs = burn::tensor::activation::softmax(logits, 1).into_data();
        let probs = probs.as_slice::<f32>().map_err(|e| format!("{e:?}"))?;
        let mut draw = Rng::stream(seed, b"generate", i as u64).next_f32();
        let mut next = VOCAB - 1;
        for (token, p) in probs.iter().enumerate() {
            if draw < *p {
                next = token;
                break;
            }
            draw -= p;
        }
        out.push(next as u8);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_split_is_at_a_character_boundary_and_refuses_short_texts() {
        // "é" is two bytes: a split inside it moves forward.
        let text = "aaaaaaaaé bbbbbbbbbbbb".as_bytes();
        let corpus = Corpus::new(text, 0.6, 100, 4).unwrap();
        assert!(core::str::from_utf8(&text[corpus.split..]).is_ok());
        let err = Corpus::new(b"abcdef", 0.5, 100, 4).unwrap_err();
        assert!(err.contains("3 bytes to train on"), "{err}");
        let err = Corpus::new(&[b'a', 0xff, b'b'], 0.5, 100, 1).unwrap_err();
        // The cap bounds the tail whatever the share.
        let long = [b'x'; 1000];
        assert_eq!(Corpus::new(&long, 0.5, 64, 4).unwrap().split, 1000 - 64);
        assert!(err.contains("offset 1"), "{err}");
    }

    #[test]
    fn unigram_entropy_counts_characters() {
        assert_eq!(unigram_entropy(b"aaaa"), 0.0);
        assert!((unigram_entropy(b"abab") - 1.0).abs() < 1e-12);
        // Two characters of two bytes each: still one bit.
        assert!((unigram_entropy("éüéü".as_bytes()) - 1.0).abs() < 1e-12);
    }
}
