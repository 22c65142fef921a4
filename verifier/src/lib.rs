//! # agora-verifier
//!
//! The deterministic job executor: wasmtime with every source of non-determinism off, fuel
//! metering as the billing unit, execution traces with Merkle commitments, segment
//! re-execution and the dispute referee (see `../shared/DESIGN.md`, "Compute" and
//! "Verification").
//!
//! This crate is empty so far: the executor is the subject of the job-engine issue. It exists
//! now so that the workspace has the layout of the design and the dependency direction
//! (verifier depends on no chain crate but `agora-primitives`) is fixed from the start.
