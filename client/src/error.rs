//! The one error type of the library's higher-level operations.

use std::path::PathBuf;

use crate::amount::AmountError;
use crate::keys::KeyError;
use crate::rpc::RpcError;
use crate::tx::TxError;

/// A failure of a client operation; each renders as one sentence naming the bad value.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A key could not be derived, parsed or generated.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// An amount is not a valid AGR amount.
    #[error(transparent)]
    Amount(#[from] AmountError),
    /// Talking to the node failed, or the node refused a request.
    #[error(transparent)]
    Rpc(#[from] RpcError),
    /// A transaction did not succeed (boxed: its report of a failure in a block is large, and
    /// every other error would pay for its size).
    #[error(transparent)]
    Tx(Box<TxError>),
    /// A file could not be read, written or created.
    #[error("cannot {action} {}: {source}", path.display())]
    File {
        /// What was attempted, e.g. "read the dataset" or "write".
        action: String,
        /// The file.
        path: PathBuf,
        /// Why not.
        source: std::io::Error,
    },
    /// A file holds bytes that do not decode as what it should hold.
    #[error("{}: {source}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The decoding error.
        source: serde_json::Error,
    },
    /// An argument is unusable (a price, a region, job parameters); the message names it.
    #[error("{0}")]
    Invalid(String),
    /// The node answered in a way that contradicts what it was asked to do; the message says
    /// what was expected.
    #[error("{0}")]
    Unexpected(String),
}

impl From<TxError> for Error {
    fn from(e: TxError) -> Self {
        Error::Tx(Box::new(e))
    }
}

impl Error {
    /// A file error: `action` is what was attempted on `path` ("read the dataset", "write").
    pub fn file(
        action: impl Into<String>,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Error::File {
            action: action.into(),
            path: path.into(),
            source,
        }
    }
}

/// Implements `From` the library's lower-level errors ([`RpcError`], [`TxError`], [`KeyError`],
/// [`AmountError`]) for an error type with a `Client(agora_client::Error)` variant, so that a
/// daemon's code can use `?` on any client call.
#[macro_export]
macro_rules! from_client_errors {
    ($error:ty) => {
        $crate::from_client_errors!(
            @each $error,
            $crate::rpc::RpcError,
            $crate::tx::TxError,
            $crate::keys::KeyError,
            $crate::amount::AmountError
        );
    };
    (@each $error:ty, $($source:ty),*) => {$(
        impl From<$source> for $error {
            fn from(e: $source) -> Self {
                Self::Client(e.into())
            }
        }
    )*};
}
