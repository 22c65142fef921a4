//! # agora-verifier
//!
//! The deterministic job executor: wasmtime with every source of non-determinism off, fuel
//! metering as the billing unit, execution traces with Merkle commitments, segment
//! re-execution and the dispute referee (see `../shared/DESIGN.md`, "Compute" and
//! "Verification").
//!
//! What exists now:
//!
//! - [`trace`]: the execution-trace commitment. One leaf per segment (segment index, hash of the
//!   state after the segment, fuel used in it), a domain-separated binary Merkle tree over the
//!   leaves whose root also commits to the segment count, and inclusion proofs that a worker
//!   reveals for the sampled segments. It lives in `agora-primitives` (so that runtime pallets,
//!   which do not depend on wasmtime, verify the same proofs) and is re-exported here.
//!
//! Still to come: the executor itself (wasmtime, fuel metering, the job ABI), segment
//! re-execution and the dispute referee; they are the subject of the job-engine issue. The
//! dependency direction is fixed: this crate depends on no chain crate but `agora-primitives`.
//!
//! Every error of the crate is an [`Error`] and names the values involved.

mod error;
pub mod executor;
pub mod run;
pub mod validate;

pub use agora_primitives::trace;
pub use error::Error;
pub use executor::{CpuFeatures, Executor, JobModule, Limits, OptLevel, Origin, Output, Settings};
pub use run::{
    check_segment, reexecute, run, Commitment, JobInputs, Reveal, Run, RunSpec, StartProof, Verdict,
};
