//! End-to-end tests of `agora-node`: real processes, real RocksDB, real sockets on loopback.
//!
//! The `agora` CLI binary is taken from the same target directory as `agora-node`
//! (`scripts/test.sh` builds every binary before running tests).

#![allow(
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    missing_docs,
    unreachable_pub
)]

mod adversarial;
mod blobs;
mod chain;
mod dashboard;
mod e2e;
mod referee;
mod rpc_limits;
mod rpc_load;
mod substrate;
mod support;
mod sync;
