//! The [`Job`] trait a job author implements, and the five operations of Job ABI v1 as plain
//! functions over bytes (`plan`, `init`, `segment`, `eval`, `export`).
//!
//! The ABI exports (see [`export_job!`](crate::export_job)) are thin wrappers over these
//! functions; a native program can call them directly (the engine benchmark does, to train the
//! same burn code natively).
//!
//! A training step takes the next batch of the epoch's shuffle (`Rng::stream(seed, "shuffle",
//! epoch)` over the training rows), computes the loss — the mean cross-entropy of the job's
//! logits for classification, the mean squared error of its one output against the
//! standardized target for regression — and applies the optimizer. A non-finite loss stops the job at that step with an error, and so
//! does a non-finite value anywhere in the state: the same outcome on every machine.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use burn::module::{Module, ModuleDisplay};
use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Tensor, TensorData};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::abi::Operations;
use crate::data::{DataSpec, Dataset, Prepared};
use crate::model::{Classifier, Destandardize, Init, Regressor, Standardize};
use crate::optim;
use crate::params::{self, Task, Training};
use crate::rng::Rng;
use crate::state::{self, State};

/// A training job: a burn model for a classification dataset in the Agora CSV format.
pub trait Job {
    /// The job's own parameters (every params key the SDK does not use). Use
    /// `#[serde(deny_unknown_fields)]` so misspelt keys are errors.
    type Params: DeserializeOwned;
    /// The network. It maps standardized features `[rows, spec.features]` to class logits
    /// `[rows, spec.classes]`.
    type Model: Module + ModuleDisplay;

    /// Build the network for a dataset of shape `spec`, drawing initial weights from `init`.
    fn build(
        params: &Self::Params,
        spec: &DataSpec,
        init: &mut Init,
    ) -> Result<Self::Model, String>;

    /// Class logits for a batch of standardized features.
    fn forward(model: &Self::Model, x: Tensor<2>) -> Tensor<2>;
}

/// Rows per forward pass in evaluation (bounds memory, not results).
const EVAL_CHUNK: usize = 1024;

/// The device every job runs on: burn's ndarray CPU backend with autodiff.
#[allow(deprecated)] // ndarray is the only no_std CPU backend in burn 0.22 known to build for wasm32.
pub fn device() -> Device {
    Device::ndarray().autodiff()
}

/// Everything derived from `(params, dataset, seed)`.
pub struct Context<J: Job> {
    /// SDK training settings.
    pub training: Training,
    /// The job's own params.
    pub params: J::Params,
    /// The split, standardized dataset.
    pub data: Prepared,
    /// The device.
    pub device: Device,
}

impl<J: Job> Context<J> {
    /// Parse params and dataset and split for `seed`.
    pub fn new(params: &[u8], dataset: &[u8], seed: u64) -> Result<Self, String> {
        let (training, rest) = params::split(params)?;
        let params = serde_json::from_value::<J::Params>(Value::Object(rest))
            .map_err(|e| format!("params: {e}"))?;
        let data = Dataset::parse_csv_for(dataset, training.task)?;
        let data = Prepared::new(&data, seed, training.holdout)?;
        Ok(Self {
            training,
            params,
            data,
            device: device(),
        })
    }

    /// Batches in one epoch.
    pub fn steps_per_epoch(&self) -> u64 {
        self.data.spec.train_rows.div_ceil(self.training.batch_size) as u64
    }

    /// A freshly initialized network.
    pub fn build(&self, seed: u64) -> Result<J::Model, String> {
        J::build(
            &self.params,
            &self.data.spec,
            &mut Init::new(seed, self.device.clone()),
        )
    }

    /// The network with the parameters of `state`.
    pub fn restore(&self, state: &State) -> Result<J::Model, String> {
        let model = self.build(state.seed)?;
        state::load(model, state.params.clone())
    }
}

/// A JSON object's bytes (the ABI's plan and metrics outputs).
pub(crate) fn json(map: Map<String, Value>) -> Vec<u8> {
    serde_json::to_vec(&Value::Object(map)).unwrap_or_default()
}

/// `agora_plan`: the shape of the job — planned steps, rows, parameter count — as JSON.
pub fn plan<J: Job>(params: &[u8], dataset: &[u8]) -> Result<Vec<u8>, String> {
    let ctx = Context::<J>::new(params, dataset, 0)?;
    let model = ctx.build(0)?;
    let spec = ctx.data.spec;
    let mut out = Map::new();
    let per_epoch = ctx.steps_per_epoch();
    out.insert(
        "total_steps".into(),
        (per_epoch * u64::from(ctx.training.epochs)).into(),
    );
    out.insert("steps_per_epoch".into(), per_epoch.into());
    out.insert("train_rows".into(), spec.train_rows.into());
    out.insert("holdout_rows".into(), spec.holdout_rows.into());
    out.insert("features".into(), spec.features.into());
    out.insert("classes".into(), spec.classes.into());
    let task = match ctx.training.task {
        Task::Classification => "classification",
        Task::Regression => "regression",
    };
    out.insert("task".into(), task.into());
    out.insert("parameters".into(), model.num_params().into());
    Ok(json(out))
}

/// `agora_init`: the state before the first step.
pub fn init<J: Job>(params: &[u8], dataset: &[u8], seed: u64) -> Result<Vec<u8>, String> {
    let ctx = Context::<J>::new(params, dataset, seed)?;
    State::fresh(&ctx.build(seed)?, seed, ctx.training.optimizer).encode()
}

/// Decode a state (once) and the context for its seed, checking the state against the params:
/// optimizer slot count and finite values.
fn open<J: Job>(
    params: &[u8],
    dataset: &[u8],
    bytes: &[u8],
) -> Result<(Context<J>, State), String> {
    let state = State::decode(bytes)?;
    let ctx = Context::<J>::new(params, dataset, state.seed)?;
    state.check_against(ctx.training.optimizer)?;
    Ok((ctx, state))
}

/// `agora_segment`: run `steps` training steps from `state`.
pub fn segment<J: Job>(
    params: &[u8],
    dataset: &[u8],
    state: &[u8],
    steps: u32,
) -> Result<Vec<u8>, String> {
    let (ctx, mut state) = open::<J>(params, dataset, state)?;
    let seed = state.seed;
    let mut model = ctx.restore(&state)?;
    let f = ctx.data.spec.features;
    let classes = ctx.data.spec.classes;
    let batch = ctx.training.batch_size;
    let per_epoch = ctx.steps_per_epoch();
    let mut order: Vec<u32> = Vec::new();
    let mut order_epoch = u64::MAX;
    for _ in 0..steps {
        let epoch = state.step / per_epoch;
        if epoch != order_epoch {
            order = (0..ctx.data.spec.train_rows as u32).collect();
            Rng::stream(seed, b"shuffle", epoch).shuffle(&mut order);
            order_epoch = epoch;
        }
        let first = (state.step % per_epoch) as usize * batch;
        let rows = &order[first..(first + batch).min(order.len())];
        let mut x = Vec::with_capacity(rows.len() * f);
        let mut target = alloc::vec![0f32; rows.len() * classes];
        for (i, &row) in rows.iter().enumerate() {
            let row = row as usize;
            x.extend_from_slice(&ctx.data.train_x[row * f..(row + 1) * f]);
            match ctx.training.task {
                Task::Classification => target[i * classes + ctx.data.train_y[row] as usize] = 1.0,
                Task::Regression => target[i] = ctx.data.train_t[row],
            }
        }
        let n = rows.len();
        let x = Tensor::<2>::from_data(TensorData::new(x, [n, f]), &ctx.device);
        let target = Tensor::<2>::from_data(TensorData::new(target, [n, classes]), &ctx.device);
        let output = J::forward(&model, x);
        let loss = match ctx.training.task {
            Task::Classification => (log_softmax(output, 1) * target)
                .sum()
                .mul_scalar(-1.0 / n as f32),
            Task::Regression => (output - target)
                .powi_scalar(2)
                .sum()
                .mul_scalar(1.0 / n as f32),
        };
        model = optim::step(model, loss, &ctx.training, &mut state)?;
    }
    state.params = state::blobs(&model);
    state.encode()
}

/// `agora_eval`: loss and accuracy on the holdout rows (and the training rows), as JSON; for
/// regression the mean squared error, its root and R² in the target's units.
pub fn eval<J: Job>(params: &[u8], dataset: &[u8], state: &[u8]) -> Result<Vec<u8>, String> {
    let (ctx, state) = open::<J>(params, dataset, state)?;
    let model = ctx.restore(&state)?;
    if ctx.training.task == Task::Regression {
        let holdout =
            regression_errors::<J>(&ctx, &model, &ctx.data.holdout_x, &ctx.data.holdout_t)?;
        let train = regression_errors::<J>(&ctx, &model, &ctx.data.train_x, &ctx.data.train_t)?;
        let mut out = Map::new();
        out.insert("step".into(), state.step.into());
        out.insert("holdout_mse".into(), holdout.0.into());
        out.insert("holdout_rmse".into(), libm::sqrt(holdout.0).into());
        out.insert("holdout_r2".into(), holdout.1.into());
        out.insert("holdout_rows".into(), ctx.data.holdout_t.len().into());
        out.insert("train_mse".into(), train.0.into());
        out.insert("train_r2".into(), train.1.into());
        return Ok(json(out));
    }
    let (holdout_loss, holdout_accuracy) =
        evaluate::<J>(&ctx, &model, &ctx.data.holdout_x, &ctx.data.holdout_y)?;
    let (train_loss, train_accuracy) =
        evaluate::<J>(&ctx, &model, &ctx.data.train_x, &ctx.data.train_y)?;
    let mut out = Map::new();
    out.insert("step".into(), state.step.into());
    out.insert("holdout_accuracy".into(), holdout_accuracy.into());
    out.insert("holdout_loss".into(), holdout_loss.into());
    out.insert("holdout_rows".into(), ctx.data.holdout_y.len().into());
    out.insert("train_accuracy".into(), train_accuracy.into());
    out.insert("train_loss".into(), train_loss.into());
    Ok(json(out))
}

/// Mean squared error and R² of `model` on standardized rows against standardized targets,
/// both in the target's units (f64 sums in row order).
fn regression_errors<J: Job>(
    ctx: &Context<J>,
    model: &J::Model,
    x: &[f32],
    t: &[f32],
) -> Result<(f64, f64), String> {
    let f = ctx.data.spec.features;
    let std = f64::from(ctx.data.target_std);
    let (mut squared_error, mut sum, mut sum_sq) = (0f64, 0f64, 0f64);
    for (chunk, targets) in x.chunks(EVAL_CHUNK * f).zip(t.chunks(EVAL_CHUNK)) {
        let n = targets.len();
        let input = Tensor::<2>::from_data(TensorData::new(chunk.to_vec(), [n, f]), &ctx.device);
        let out = J::forward(model, input).into_data();
        let out = out
            .as_slice::<f32>()
            .map_err(|e| format!("eval output: {e:?}"))?;
        for (prediction, target) in out.iter().zip(targets) {
            if !prediction.is_finite() {
                return Err(format!(
                    "evaluation produced a non-finite prediction ({prediction})"
                ));
            }
            let error = (f64::from(*prediction) - f64::from(*target)) * std;
            squared_error += error * error;
            let value = f64::from(*target) * std;
            sum += value;
            sum_sq += value * value;
        }
    }
    let n = t.len() as f64;
    let variance = sum_sq / n - (sum / n) * (sum / n);
    let r2 = if variance > 0.0 {
        1.0 - squared_error / n / variance
    } else {
        0.0
    };
    Ok((squared_error / n, r2))
}

/// Mean cross-entropy and accuracy of `model` on standardized rows.
fn evaluate<J: Job>(
    ctx: &Context<J>,
    model: &J::Model,
    x: &[f32],
    y: &[u32],
) -> Result<(f64, f64), String> {
    let f = ctx.data.spec.features;
    let classes = ctx.data.spec.classes;
    let mut loss = 0f64;
    let mut correct = 0usize;
    for (chunk, labels) in x.chunks(EVAL_CHUNK * f).zip(y.chunks(EVAL_CHUNK)) {
        let n = labels.len();
        let input = Tensor::<2>::from_data(TensorData::new(chunk.to_vec(), [n, f]), &ctx.device);
        let logp = log_softmax(J::forward(model, input), 1).into_data();
        let logp = logp
            .as_slice::<f32>()
            .map_err(|e| format!("eval output: {e:?}"))?;
        for (row, label) in logp.chunks(classes).zip(labels) {
            // Checked before any comparison so that argmax never sees a NaN (whose ordering
            // would depend on its sign bit).
            if let Some(bad) = row.iter().find(|v| !v.is_finite()) {
                return Err(format!(
                    "evaluation produced a non-finite log-probability ({bad})"
                ));
            }
            let mut best = 0;
            for (class, value) in row.iter().enumerate() {
                if *value > row[best] {
                    best = class;
                }
            }
            correct += usize::from(best == *label as usize);
            loss -= f64::from(row[*label as usize]);
        }
    }
    let n = y.len() as f64;
    Ok((loss / n, correct as f64 / n))
}

/// The five ABI operations for a [`Job`]: [`plan`], [`init`], [`segment`], [`eval`], [`export`].
pub struct Tabular<J>(core::marker::PhantomData<J>);

impl<J: Job> Operations for Tabular<J> {
    fn plan(params: &[u8], dataset: &[u8]) -> Result<Vec<u8>, String> {
        plan::<J>(params, dataset)
    }
    fn init(params: &[u8], dataset: &[u8], seed: u64) -> Result<Vec<u8>, String> {
        init::<J>(params, dataset, seed)
    }
    fn segment(p: &[u8], d: &[u8], state: &[u8], steps: u32) -> Result<Vec<u8>, String> {
        segment::<J>(p, d, state, steps)
    }
    fn eval(params: &[u8], dataset: &[u8], state: &[u8]) -> Result<Vec<u8>, String> {
        eval::<J>(params, dataset, state)
    }
    fn export(params: &[u8], dataset: &[u8], state: &[u8]) -> Result<Vec<u8>, String> {
        export::<J>(params, dataset, state)
    }
}

/// `agora_export`: the trained model as a burnpack record: a [`Classifier`] (standardization +
/// network), or for regression a [`Regressor`] (the same, then the target's units restored).
pub fn export<J: Job>(params: &[u8], dataset: &[u8], state: &[u8]) -> Result<Vec<u8>, String> {
    let (ctx, state) = open::<J>(params, dataset, state)?;
    let net = ctx.restore(&state)?;
    let standardize = Standardize::new(&ctx.data.mean, &ctx.data.inv_std, &ctx.device);
    let record = match ctx.training.task {
        Task::Classification => Classifier { standardize, net }.into_record().into_bytes(),
        Task::Regression => Regressor {
            standardize,
            net,
            target: Destandardize::new(ctx.data.target_mean, ctx.data.target_std, &ctx.device),
        }
        .into_record()
        .into_bytes(),
    };
    let bytes = record.map_err(|e| format!("export: {e}"))?;
    Ok(bytes.to_vec())
}
