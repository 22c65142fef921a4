//! # agora-cli
//!
//! The `agora` command line (the binary is a thin wrapper around [`cli::main`]). It is the one
//! crate that knows clap: [`args`] turns command-line words into the plain types of the client
//! library, the engine and the daemon crates, [`commands`] holds one module per command, and
//! [`cli`] the global options, the dispatch and the error type.

pub mod args;
pub mod cli;
pub mod commands;
#[cfg(test)]
mod reference;
