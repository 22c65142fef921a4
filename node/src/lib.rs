//! # agora-node
//!
//! The ledger node as a library (the `agora-node` binary is a thin CLI over it, and the
//! benchmarks and integration tests use it directly).
//!
//! - [`chain`]: finalized blocks in RocksDB, unfinalized ones in memory, block building and
//!   import driven by consensus.
//! - [`consensus`]: commonware `simplex` BFT; the only module naming commonware types.
//! - [`storage`]: the RocksDB schema.
//! - [`txpool`]: the bounded transaction pool.
//! - [`rpc`]: JSON-RPC over HTTP and WebSocket.
//! - [`blobs`]: the content-addressed blob store and its collector.
//! - [`metrics`]: Prometheus metrics.

pub mod blobs;
pub mod chain;
pub mod consensus;
pub mod metrics;
pub mod rpc;
pub mod storage;
pub mod txpool;
