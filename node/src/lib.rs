//! # agora-node
//!
//! The ledger node as a library (the `agora-node` binary is a thin CLI over it, and the
//! benchmarks and integration tests use it directly).
//!
//! - [`chain`]: the ledger itself: finalized blocks in RocksDB, unfinalized ones in memory,
//!   building, importing and finalizing blocks as consensus drives it (`chain/view.rs` the
//!   state of an unfinalized block, `build.rs`, `import.rs`, `finalize.rs`, and `adapter.rs`
//!   the consensus interface). *When a block is final* is decided in
//!   [`chain`]'s `finalize.rs`, on the certificates [`consensus`] delivers.
//! - [`consensus`]: commonware `simplex` BFT; the only module naming commonware types.
//! - [`storage`]: the RocksDB schema.
//! - [`txpool`]: the bounded transaction pool and its admission rules.
//! - [`rpc`]: JSON-RPC over HTTP and WebSocket.
//! - [`blobs`]: the content-addressed blob store and its collector.
//! - [`referee`]: executes disputed job steps for the runtime, from the blob store, with
//!   `agora-engine`.
//! - [`metrics`]: Prometheus metrics.
//! - [`keystore`]: consensus keys waiting to take a seat, and which one a validator runs.
//!
//! Dependencies inside the crate run one way: `rpc` and `blobs` read through [`chain`];
//! [`chain`] uses `storage`, `txpool` and `metrics`, and implements the [`consensus::Chain`]
//! trait, which is all [`consensus`] knows of it.

pub mod blobs;
pub mod chain;
pub mod consensus;
pub mod keystore;
pub mod metrics;
pub mod referee;
pub mod rpc;
pub mod storage;
pub mod txpool;
