//! The node's error codes and the typed error its methods answer with.
//!
//! The node returns [`Error`]; jsonrpsee turns it into a JSON-RPC error object through
//! `From<Error> for ErrorObjectOwned`. A client gets the object back inside
//! `jsonrpsee::core::client::Error::Call` and reads it with [`Error::from_client_error`].

use jsonrpsee::core::client::Error as ClientError;
use jsonrpsee::types::error::INVALID_PARAMS_CODE;
use jsonrpsee::types::{ErrorObject, ErrorObjectOwned};

/// The codes as plain numbers. Codes follow Substrate's where one exists.
pub mod codes {
    use super::ErrorCode;

    /// The extrinsic bytes are not hex or do not decode.
    pub const BAD_EXTRINSIC: i32 = ErrorCode::BadExtrinsic.code();
    /// The runtime refuses the extrinsic (signature, nonce, fee, era, size).
    pub const INVALID_TRANSACTION: i32 = ErrorCode::InvalidTransaction.code();
    /// The extrinsic is already in the pool.
    pub const ALREADY_IMPORTED: i32 = ErrorCode::AlreadyImported.code();
    /// The pool is full.
    pub const POOL_FULL: i32 = ErrorCode::PoolFull.code();
    /// Unknown block.
    pub const UNKNOWN_BLOCK: i32 = ErrorCode::UnknownBlock.code();
    /// Storage failure.
    pub const STORAGE: i32 = ErrorCode::Storage.code();
    /// The keys of this block's state cannot be listed: only the finalized head and executed
    /// unfinalized blocks have an iterable state (older states are kept as a tree keyed by hash).
    pub const STATE_NOT_ITERABLE: i32 = ErrorCode::StateNotIterable.code();
    /// `blob_put`: the blob's hash is not in the on-chain registry (`pallet_jobs::Blobs`).
    pub const BLOB_NOT_REGISTERED: i32 = ErrorCode::BlobNotRegistered.code();
    /// `blob_put`: the bytes are not the size the blob was registered with.
    pub const BLOB_SIZE_MISMATCH: i32 = ErrorCode::BlobSizeMismatch.code();
    /// `blob_put`: the bytes are larger than any blob the chain registers.
    pub const BLOB_TOO_LARGE: i32 = ErrorCode::BlobTooLarge.code();
    /// `blob_get`: this node does not hold the blob.
    pub const BLOB_NOT_STORED: i32 = ErrorCode::BlobNotStored.code();
    /// `blob_get`: the stored copy did not match its hash and has been deleted.
    pub const BLOB_CORRUPT: i32 = ErrorCode::BlobCorrupt.code();
    /// The request is larger than its method allows, or a blob transfer came over WebSocket
    /// (see [`limits`](crate::limits)).
    pub const TOO_LARGE: i32 = ErrorCode::TooLarge.code();
    /// This client is over one of its limits (blob transfers, subscriptions per second, calls
    /// in flight) or the node's transfer slots stayed full: retry later.
    pub const BUSY: i32 = ErrorCode::Busy.code();
    /// Malformed parameters (JSON-RPC's own code).
    pub const INVALID_PARAMS: i32 = ErrorCode::InvalidParams.code();
}

/// What went wrong, as a code the node sends. See the crate documentation's error table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// 1002: the extrinsic bytes are not hex or do not decode.
    BadExtrinsic,
    /// 1010: the runtime refuses the extrinsic (signature, nonce, fee, era, size).
    InvalidTransaction,
    /// 1013: the extrinsic is already in the pool.
    AlreadyImported,
    /// 1016: the pool is full.
    PoolFull,
    /// 4001: unknown block.
    UnknownBlock,
    /// 4003: storage failure (RocksDB or the blob store's files).
    Storage,
    /// 4004: the state of a finalized block below the head cannot be listed.
    StateNotIterable,
    /// 5001: `blob_put` of a blob not registered on chain.
    BlobNotRegistered,
    /// 5002: `blob_put` of bytes that are not the registered size.
    BlobSizeMismatch,
    /// 5003: `blob_put` of bytes over the 64 MiB limit.
    BlobTooLarge,
    /// 5004: `blob_get` of a blob this node does not hold.
    BlobNotStored,
    /// 5005: `blob_get` found a corrupt copy and removed it.
    BlobCorrupt,
    /// 4130: the request is over its method's size limit, or a blob transfer over WebSocket.
    TooLarge,
    /// 4290: the client is over a limit, or the transfer slots stayed full; retry later.
    Busy,
    /// -32602: malformed parameters, named in the message.
    InvalidParams,
}

impl ErrorCode {
    /// Every code.
    pub const ALL: [ErrorCode; 15] = [
        ErrorCode::BadExtrinsic,
        ErrorCode::InvalidTransaction,
        ErrorCode::AlreadyImported,
        ErrorCode::PoolFull,
        ErrorCode::UnknownBlock,
        ErrorCode::Storage,
        ErrorCode::StateNotIterable,
        ErrorCode::BlobNotRegistered,
        ErrorCode::BlobSizeMismatch,
        ErrorCode::BlobTooLarge,
        ErrorCode::BlobNotStored,
        ErrorCode::BlobCorrupt,
        ErrorCode::TooLarge,
        ErrorCode::Busy,
        ErrorCode::InvalidParams,
    ];

    /// The number on the wire.
    pub const fn code(self) -> i32 {
        match self {
            ErrorCode::BadExtrinsic => 1002,
            ErrorCode::InvalidTransaction => 1010,
            ErrorCode::AlreadyImported => 1013,
            ErrorCode::PoolFull => 1016,
            ErrorCode::UnknownBlock => 4001,
            ErrorCode::Storage => 4003,
            ErrorCode::StateNotIterable => 4004,
            ErrorCode::BlobNotRegistered => 5001,
            ErrorCode::BlobSizeMismatch => 5002,
            ErrorCode::BlobTooLarge => 5003,
            ErrorCode::BlobNotStored => 5004,
            ErrorCode::BlobCorrupt => 5005,
            ErrorCode::TooLarge => 4130,
            ErrorCode::Busy => 4290,
            ErrorCode::InvalidParams => INVALID_PARAMS_CODE,
        }
    }

    /// The code with this number, if it is one of the node's.
    pub fn from_code(code: i32) -> Option<ErrorCode> {
        ErrorCode::ALL
            .into_iter()
            .find(|known| known.code() == code)
    }

    /// Whether the node refused a submitted extrinsic (bad bytes, invalid, already pooled,
    /// pool full): the transaction did not enter the pool.
    pub fn is_refusal(self) -> bool {
        matches!(
            self,
            ErrorCode::BadExtrinsic
                | ErrorCode::InvalidTransaction
                | ErrorCode::AlreadyImported
                | ErrorCode::PoolFull
        )
    }
}

/// An error answer: its code and the node's one-sentence message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    /// What went wrong.
    pub code: ErrorCode,
    /// The node's message.
    pub message: String,
}

impl Error {
    /// An error with `code` and `message`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Error {
        Error {
            code,
            message: message.into(),
        }
    }

    /// -32602 with `message` naming the problem.
    pub fn invalid_params(message: impl Into<String>) -> Error {
        Error::new(ErrorCode::InvalidParams, message)
    }

    /// 4003 with the failure's own words.
    pub fn storage(error: impl std::fmt::Display) -> Error {
        Error::new(ErrorCode::Storage, error.to_string())
    }

    /// 4001 for block `hash`.
    pub fn unknown_block(hash: &agora_primitives::Hash) -> Error {
        Error::new(ErrorCode::UnknownBlock, format!("block {hash} is unknown"))
    }

    /// The typed view of an error object, if its code is one of the node's.
    pub fn from_object(object: &ErrorObject<'_>) -> Option<Error> {
        let code = ErrorCode::from_code(object.code())?;
        Some(Error::new(code, object.message()))
    }

    /// The node's error inside a client error, if the node answered with one of its codes.
    pub fn from_client_error(error: &ClientError) -> Option<Error> {
        match error {
            ClientError::Call(object) => Error::from_object(object),
            _ => None,
        }
    }
}

impl From<Error> for ErrorObjectOwned {
    fn from(error: Error) -> ErrorObjectOwned {
        ErrorObjectOwned::owned(error.code.code(), error.message, None::<()>)
    }
}
