//! The worker daemon's one error type.

/// A failure of the worker daemon. The daemon logs the failures of one job and carries on with
/// the others; only failures at start (a bad key, an unreachable node) end it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading the chain, sending a transaction, or a file of the daemon's state.
    #[error(transparent)]
    Client(#[from] agora_client::Error),
    /// The job engine refused the module or the job failed.
    #[error(transparent)]
    Engine(#[from] agora_engine::Error),
    /// The run's trace could not be built or proven.
    #[error(transparent)]
    Trace(#[from] agora_primitives::trace::TraceError),
    /// The daemon's state could not be encoded as JSON.
    #[error("could not encode the daemon's state as JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// A job on chain cannot be worked on as it stands; the message names it.
    #[error("{0}")]
    InvalidJob(String),
    /// The provider already has an open offer and `--existing-offer refuse` was given: the
    /// daemon stops rather than work under terms it was not told to use.
    #[error(
        "{account} already has open offer #{offer} ({terms}); start with --existing-offer adopt \
         to work under it or --existing-offer replace to cancel it and post the daemon's own"
    )]
    ExistingOffer {
        /// The provider.
        account: agora_primitives::AccountId,
        /// The open offer.
        offer: u64,
        /// Its terms, in words.
        terms: String,
    },
}

agora_client::from_client_errors!(Error);
