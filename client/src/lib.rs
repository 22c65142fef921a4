//! # agora-client
//!
//! The client library of an Agora node: everything a program needs to hold keys, read the
//! ledger and send transactions, and nothing it does not (no job engine, no command line, no
//! database; `cargo tree -p agora-client -e normal` shows no wasmtime, clap or RocksDB).
//!
//! - [`keys`]: SURIs, key generation, SS58 addresses and the [`keys::Signer`] of extrinsics.
//! - [`amount`]: decimal AGR amounts and plancks.
//! - [`rpc`]: a typed JSON-RPC client of a node (WebSocket or HTTP).
//! - [`chain`]: typed reads of the ledger's state (jobs, bids, offers, stake, blobs).
//! - [`tx`]: building, signing, submitting and following extrinsics.
//! - [`blobs`]: registering, uploading and fetching content-addressed blobs.
//! - [`offers`]: a provider's offer, checked, and posting it.
//! - [`files`]: atomic writes, job parameters, default directories of daemons and caches.
//! - [`daemon`]: the configuration every daemon takes.
//!
//! Its users are the `agora` command line (crate `agora-cli`) and the two daemons (crates
//! `agora-worker` and `agora-verifier`). Every failure is an [`Error`].

pub mod amount;
pub mod blobs;
pub mod chain;
pub mod daemon;
mod error;
pub mod files;
pub mod keys;
pub mod offers;
pub mod rpc;
pub mod tx;

pub use error::Error;
