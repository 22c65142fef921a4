//! JSON-RPC error codes of the node's own errors: the contract between `agora-node`'s server
//! and every client (the `agora` CLI among them). Codes follow Substrate's where one exists.

/// The extrinsic bytes are not hex or do not decode.
pub const BAD_EXTRINSIC: i32 = 1002;
/// The runtime refuses the extrinsic (signature, nonce, fee, era, size).
pub const INVALID_TRANSACTION: i32 = 1010;
/// The extrinsic is already in the pool.
pub const ALREADY_IMPORTED: i32 = 1013;
/// The pool is full.
pub const POOL_FULL: i32 = 1016;
/// Unknown block.
pub const UNKNOWN_BLOCK: i32 = 4001;
/// Storage failure.
pub const STORAGE: i32 = 4003;
/// The keys of this block's state cannot be listed: only the finalized head and executed
/// unfinalized blocks have an iterable state (older states are kept as a tree keyed by hash).
pub const STATE_NOT_ITERABLE: i32 = 4004;
/// `blob_put`: the blob's hash is not in the on-chain registry (`pallet_jobs::Blobs`).
pub const BLOB_NOT_REGISTERED: i32 = 5001;
/// `blob_put`: the bytes are not the size the blob was registered with.
pub const BLOB_SIZE_MISMATCH: i32 = 5002;
/// `blob_put`: the bytes are larger than any blob the chain registers.
pub const BLOB_TOO_LARGE: i32 = 5003;
/// `blob_get`: this node does not hold the blob.
pub const BLOB_NOT_STORED: i32 = 5004;
/// `blob_get`: the stored copy did not match its hash and has been deleted.
pub const BLOB_CORRUPT: i32 = 5005;
