//! The verifier daemon's one error type.

/// A failure of the verifier daemon. The daemon logs the failures of one check and carries on
/// with the others; only failures at start (a bad key, an unreachable node) end it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading the chain, sending a transaction, or a file of the daemon's state.
    #[error(transparent)]
    Client(#[from] agora_client::Error),
    /// The job engine refused the module or the job failed.
    #[error(transparent)]
    Engine(#[from] agora_engine::Error),
    /// The daemon's state could not be encoded as JSON.
    #[error("could not encode the daemon's state as JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The attestation to reveal is not on disk (it was written before its commitment left).
    #[error("the attestation of job #{job} check {check} is not on disk ({})", path.display())]
    MissingAttestation {
        /// The job.
        job: u64,
        /// The check's index.
        check: u32,
        /// Where it should be.
        path: std::path::PathBuf,
    },
    /// A job on chain cannot be checked as it stands; the message names it.
    #[error("{0}")]
    InvalidJob(String),
}

agora_client::from_client_errors!(Error);
