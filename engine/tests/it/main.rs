//! Integration tests of the verifier crate: the hostile-module corpus, runs and re-execution on
//! a small WAT job, and the determinism evidence on the real burn job (`jobs/dist/mlp.wasm`).

mod counter_run;
mod fixture;
mod hostile;
mod job_engine;
mod nan;
mod results;
