//! The Agora client: account keys, AGR amounts and the `agora` command line.
//!
//! - [`keys`]: SURIs, key generation, SS58 addresses and the [`keys::Signer`] of extrinsics.
//! - [`amount`]: decimal AGR amounts and plancks.
//! - [`rpc`]: a typed JSON-RPC client of a node (WebSocket or HTTP).
//! - [`chain`]: typed reads of the ledger's state (jobs, bids, offers, stake, blobs).
//! - [`tx`]: building, signing, submitting and following extrinsics.
//! - [`job`]: `agora job run-local`, the job executor without a chain.
//! - [`market`], [`buyer`]: the market's commands (stake, offers, the order book; job submit,
//!   status, result, cancel).
//! - [`worker`], [`verify`]: the provider's and the verifier's daemons.
//! - [`cli`]: the `agora` command line (the binary is a thin wrapper around [`cli::run`]).

pub mod amount;
pub mod buyer;
pub mod chain;
pub mod cli;
pub mod job;
pub mod keys;
pub mod market;
pub mod rpc;
pub mod tx;
pub mod verify;
pub mod worker;
