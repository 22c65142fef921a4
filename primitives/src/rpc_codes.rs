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
