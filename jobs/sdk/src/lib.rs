//! # agora-job-sdk
//!
//! Write an Agora training job in [burn] and get Job ABI v1 (`docs/job-abi.md`) for free.
//!
//! A table or image job implements [`Job`]: its parameter type, how to build the network for a
//! dataset's shape from a seeded [`Init`], and the forward pass. Then `export_job!(MyJob)`
//! generates every ABI export. A text job implements [`TextJob`] (the network from byte tokens
//! to next-token logits) and `export_text_job!(MyJob)`. The SDK supplies the rest, identically
//! on every machine:
//!
//! - datasets in the Agora CSV format ([`data`]; images are rows of pixels), a stratified
//!   train/holdout split from the seed, standardization computed from the training rows; UTF-8
//!   texts ([`text`]) tokenized as bytes, with a held-out tail;
//! - tasks: classification (mean cross-entropy), regression (`"task": "regression"`, mean
//!   squared error on standardized targets) and next-token language modelling (text);
//! - training: per-epoch seeded shuffles (seeded windows for text), SGD (momentum) or Adam
//!   ([`optim`]), a non-finite loss or state stops the job with an error;
//! - the job state between segments ([`state`]), evaluation, and export of the trained model as
//!   a burnpack record that `burn` loads natively ([`model::Classifier`],
//!   [`model::Regressor`], a text job's network);
//! - its own seeded PRNG ([`rng`]) for every random choice — never burn's backend RNG.
//!
//! `no_std` + `alloc`: the same code builds for `wasm32-unknown-unknown` (the reference) and
//! natively (tools, benchmarks). Only the Wasm build is the reference for results.

#![no_std]

extern crate alloc;

pub mod abi;
pub mod data;
pub mod job;
pub mod model;
pub mod optim;
pub mod params;
pub mod rng;
pub mod state;
pub mod text;

pub use data::DataSpec;
pub use job::Job;
pub use model::{Classifier, Init};
pub use text::{TextJob, TextSpec};
