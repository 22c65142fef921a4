//! # agora-engine
//!
//! The deterministic job engine: wasmtime with every source of non-determinism off, fuel
//! metering as the billing unit, execution traces with Merkle commitments, and segment
//! re-execution (see `docs/architecture.md` and `docs/job-abi.md`).
//!
//! - [`validate`]: what a job module may contain before it is compiled (imports, exports,
//!   features, sizes); a module that fails is refused with the reason.
//! - [`executor`]: the [`Executor`] (wasmtime with NaN canonicalisation, fuel and hard limits)
//!   and its on-disk cache of compiled modules.
//! - [`run`]: a whole job as a trace of segments ([`run()`]), and the re-execution of one
//!   segment from its committed start state ([`reexecute`]), which is how a spot check or a
//!   dispute decides whether a worker's leaf is right.
//! - [`nan_probe`]: a module rewritten to record whether a call produced a NaN, the one
//!   property a machine-dependent call has on every machine alike (the referee's test).
//! - [`trace`]: the execution-trace commitment. It lives in `agora-primitives` (so that runtime
//!   pallets, which do not depend on wasmtime, verify the same proofs) and is re-exported here.
//!
//! The worker and verifier daemons (crates `agora-worker`, `agora-verifier`) and the `agora`
//! CLI's `job run-local` are this crate's users. The dependency direction is fixed: this crate
//! depends on no chain crate but `agora-primitives`.
//!
//! Every error of the crate is an [`Error`] and names the values involved.

mod cache;
mod error;
pub mod executor;
pub mod nan_probe;
pub mod run;
mod settings;
pub mod validate;

pub use agora_primitives::trace;
pub use error::Error;
pub use executor::{CpuFeatures, Executor, JobModule, Limits, OptLevel, Origin, Output, Settings};
pub use run::{
    check_segment, reexecute, reexecute_run, reexecute_run_keeping, run, run_with_fuel,
    state_within, Commitment, JobInputs, JobResult, OwnedJob, Refusal, Reveal, Run, RunSpec,
    Segments, StartProof, Verdict,
};
