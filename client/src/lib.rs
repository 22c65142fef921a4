//! The Agora client: account keys, AGR amounts and the `agora` command line.
//!
//! - [`keys`]: SURIs, key generation, SS58 addresses and the [`keys::Signer`] of extrinsics.
//! - [`amount`]: decimal AGR amounts and plancks.
//! - [`rpc`]: a typed JSON-RPC client of a node (WebSocket or HTTP).
//! - [`tx`]: building, signing, submitting and following extrinsics.
//! - [`job`]: `agora job run-local`, the job executor without a chain.
//! - [`cli`]: the `agora` command line (the binary is a thin wrapper around [`cli::run`]).

pub mod amount;
pub mod cli;
pub mod job;
pub mod keys;
pub mod rpc;
pub mod tx;
