//! The wire format of the RPC API: every type serializes to exactly the JSON the node has always
//! sent and reads back; the traits register exactly the documented methods; a typed client and
//! server agree through a real jsonrpsee server.

#![allow(
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    missing_docs,
    unreachable_pub
)]

mod server;
mod wire;
