//! One module per command of `agora`: its arguments (clap), what it does (through the client
//! library, the engine or a daemon crate) and what it prints (a report that renders as text
//! or JSON).

pub mod balance;
pub mod build;
pub mod challenge;
pub mod job;
pub mod key;
pub mod market;
pub mod new;
pub mod offer;
pub mod prepare;
pub mod quote;
pub mod run_local;
pub mod segment;
pub mod stake;
pub mod transfer;
pub mod validator;
pub mod verifier;
pub mod worker;

/// A file-system failure on `path`, as one sentence: "cannot `what` `path`: the reason".
pub(crate) fn io_error(
    what: &str,
    path: &std::path::Path,
    e: std::io::Error,
) -> crate::cli::CliError {
    crate::cli::CliError::InvalidArgument(format!("cannot {what} {}: {e}", path.display()))
}

/// Text for a terminal, for reports whose type lives outside this crate (the views of
/// `agora_rpc_api::views`, shared with the node's dashboard).
pub trait Text {
    /// Human-readable rendering.
    fn text(&self) -> String;
}
