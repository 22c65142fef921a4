//! What one client may ask of a node at once, and how large its requests may be.
//!
//! The RPC port is open to strangers, and the verifiers' blob fetches go through it: a
//! verifier that cannot fetch a job's blobs in time is slashed. So every resource a request
//! can hold is bounded, per client and in total, and a request over a bound is refused at the
//! first byte that shows it, before anything is decoded:
//!
//! - **Clients** are told apart by their IP address, an IPv6 client by its /64 network (one
//!   subscriber's allocation holds 2⁶⁴ addresses, each of which would otherwise get a share of
//!   its own; an IPv4 address mapped into IPv6 counts as that IPv4 address). A node takes at most
//!   [`MAX_CONNECTIONS`] connections, at most [`MAX_CONNECTIONS_PER_CLIENT`] of them from one
//!   address; a connection over either bound is closed as soon as it is accepted.
//! - **Bodies.** A request to any method but [`BLOB_PUT`](crate::method::BLOB_PUT) is at most
//!   [`MAX_CALL_BYTES`], over HTTP or as one WebSocket message. Over HTTP a body larger than
//!   that must name its method within its first [`METHOD_PREFIX_BYTES`] (every JSON-RPC
//!   client writes `method` before `params`), so the node refuses it from its headers and
//!   first bytes, with HTTP 413 and [`ErrorCode::TooLarge`](crate::ErrorCode::TooLarge),
//!   without reading the rest. A WebSocket answer is at most [`MAX_WS_RESPONSE_BYTES`].
//! - **Blob transfers** (`blob_put`, `blob_get`) go over HTTP only, where a body may be up to
//!   [`MAX_BODY_BYTES`](crate::MAX_BODY_BYTES): a 64 MiB blob as hex. Over WebSocket they are
//!   refused with [`ErrorCode::TooLarge`](crate::ErrorCode::TooLarge) naming HTTP. A client
//!   runs [`MAX_TRANSFERS_PER_CLIENT`] at a time and queues at most
//!   [`MAX_QUEUED_TRANSFERS_PER_CLIENT`] more (so several daemons on one host share its turn);
//!   the node holds at most [`MAX_TRANSFER_BYTES`] of transfer bodies at once, a transfer
//!   counting the bytes of its body (an upload's before it is read, a download's once it is
//!   made; at most [`MAX_BLOB_TRANSFERS`] downloads are read from disk at a time). A transfer
//!   that waits [`TRANSFER_QUEUE_WAIT_SECS`] seconds for its turn, or one more than its
//!   client may queue, is answered with [`ErrorCode::Busy`](crate::ErrorCode::Busy). A
//!   transfer holds its place until its body has been read or sent, and must move at least
//!   [`MIN_TRANSFER_BYTES_PER_SEC`] after a grace of [`TRANSFER_GRACE_SECS`] seconds: a slow
//!   reader or writer loses its place.
//! - **Uploads name their blob.** A `blob_put` body larger than
//!   [`MAX_UNNAMED_UPLOAD_BYTES`] must carry the blob's hash in the [`BLOB_HASH_HEADER`]
//!   HTTP header (`X-Blob-Hash: 0x…`). The node looks it up in the on-chain registry before it
//!   reserves any budget: an unregistered hash is refused with
//!   [`ErrorCode::BlobNotRegistered`](crate::ErrorCode::BlobNotRegistered), a body declared
//!   larger than the registered blob's hex ([`max_upload_bytes`]) with HTTP 413, and the
//!   upload counts only that much against the budget. So a stranger cannot hold the budget
//!   with slow uploads of blobs nobody registered (each registration costs a deposit on
//!   chain); the node still checks the bytes against the hash once they have arrived.
//! - **Subscriptions**: at most [`MAX_SUBSCRIPTIONS_PER_CONNECTION`] held at once on a
//!   connection, and new ones at most [`SUBSCRIBE_BURST`] at once and
//!   [`SUBSCRIBES_PER_SEC`] per second after that; a subscription over the rate is refused
//!   with [`ErrorCode::Busy`](crate::ErrorCode::Busy). A storage subscription reads its keys
//!   at every new best block, so the keys watched are bounded too: at most
//!   [`MAX_WATCHED_KEYS_PER_CLIENT`] per client over all its connections and
//!   [`MAX_WATCHED_KEYS`] on the node past each client's first
//!   [`GUARANTEED_WATCHED_KEYS_PER_CLIENT`]; one past them is refused with
//!   [`ErrorCode::Busy`](crate::ErrorCode::Busy), naming the bound.
//! - **Scans** ([`SCAN_METHODS`]: key pages, storage queries and read proofs of many keys, the
//!   views that walk a map or read dozens of blocks) cost the node more than a few reads. Each
//!   waits for its client's turn ([`MAX_SCANS_PER_CLIENT`] at a time) and then the node's
//!   ([`MAX_SCANS`] at a time, on blocking threads), both served in order: a client holding
//!   many connections, or firing many scans, runs one at a time like everybody else, and the
//!   cores the rest of the node needs are never all scanning. A scan that waits
//!   [`SCAN_QUEUE_WAIT_SECS`] seconds is answered [`ErrorCode::Busy`](crate::ErrorCode::Busy).
//! - **HTTP requests in flight**: at most [`MAX_REQUESTS_PER_CLIENT`] per client over all its
//!   connections and HTTP/2 streams (each holds one of the server's [`MAX_CONNECTIONS`]
//!   request permits while its body is read; one more is refused with HTTP 429), and the body
//!   of a request other than a blob transfer must arrive within [`CALL_BODY_SECS`] seconds of
//!   its first bytes. A blob transfer over HTTP must name its method in its first bytes (a
//!   plain `"method"` key before any other string `"method"`): the call layer refuses one the
//!   HTTP layer did not admit as a transfer.
//! - **Calls in flight**: at most [`MAX_CALLS_IN_FLIGHT`] unanswered calls on one WebSocket
//!   connection; one more is refused with [`ErrorCode::Busy`](crate::ErrorCode::Busy).
//!   Batches are not served (no client of the node sends them, and a batch would carry many
//!   calls past these counts as one).
//!
//! - **Abuse**: a client whose requests are refused [`MAX_STRIKES`] times within
//!   [`STRIKE_WINDOW_SECS`] seconds (over a limit above, too large, not HTTP, not JSON) is
//!   banned for [`BAN_SECS`] seconds: its connections are closed and new ones refused as they
//!   are accepted. An honest client is refused a handful of times at most; a flood is refused
//!   thousands of times a second, and once banned costs the node an accept and a close.
//!
//! A busy answer is a JSON-RPC error (over HTTP with status 200), so that every JSON-RPC
//! client reads its code and message; a request too large for its method gets HTTP 413, as
//! jsonrpsee answers a body over its own limit.

use crate::method;

/// Connections the node holds at once, from all clients.
pub const MAX_CONNECTIONS: usize = 256;
/// Connections the node holds at once from one IP address.
pub const MAX_CONNECTIONS_PER_CLIENT: usize = 32;
/// Largest request to a method other than `blob_put`, in bytes: over HTTP the body, over
/// WebSocket one message. `state_queryStorageAt` with [`MAX_KEYS_PER_CALL`](crate::MAX_KEYS_PER_CALL)
/// storage keys fits, as does an extrinsic of the runtime's largest size as hex.
pub const MAX_CALL_BYTES: usize = 1024 * 1024;
/// How far into a large HTTP body its `"method"` must appear.
pub const METHOD_PREFIX_BYTES: usize = 4096;
/// Largest answer sent as one WebSocket message (the views of a busy market fit).
pub const MAX_WS_RESPONSE_BYTES: usize = 16 * 1024 * 1024;
/// Blob transfers one client runs at a time.
pub const MAX_TRANSFERS_PER_CLIENT: usize = 1;
/// Blob transfers one client may have waiting for its turn.
pub const MAX_QUEUED_TRANSFERS_PER_CLIENT: usize = 8;
/// Bytes of transfer bodies the node holds at once, all clients: eight 64 MiB blobs as hex.
pub const MAX_TRANSFER_BYTES: u64 = 1024 * 1024 * 1024;
/// Blob uploads and downloads decoded or encoded at a time, each holding up to three copies of
/// a 64 MiB blob while it runs.
pub const MAX_BLOB_TRANSFERS: usize = 4;
/// Scans ([`SCAN_METHODS`]) one client runs at a time; its others wait, in order.
pub const MAX_SCANS_PER_CLIENT: usize = 1;
/// Scans the node runs at a time, all clients, on blocking threads: the rest of the RPC server
/// and the chain keep the other cores. Clients waiting for a turn are served in order, one scan
/// of each at a time, so a client with many connections (or many clients) waits its turn like
/// everyone else and never takes more than its share.
pub const MAX_SCANS: usize = 2;
/// Longest a scan waits for its turn before it is answered busy (not a strike: the wait is the
/// node's load, not the client's fault).
pub const SCAN_QUEUE_WAIT_SECS: u64 = 30;
/// Longest a transfer waits for its turn before it is refused as busy.
pub const TRANSFER_QUEUE_WAIT_SECS: u64 = 30;
/// A transfer's body may take this long before the rate below applies.
pub const TRANSFER_GRACE_SECS: u64 = 10;
/// Slowest a transfer's body may move after its grace: a 64 MiB blob as hex has
/// `10 s + 128 MiB / 1 MiB/s` ≈ 2 min 18 s.
pub const MIN_TRANSFER_BYTES_PER_SEC: u64 = 1024 * 1024;
/// Subscriptions one connection may hold at once (heads, storage, extrinsic watches).
pub const MAX_SUBSCRIPTIONS_PER_CONNECTION: u32 = 64;
/// New subscriptions a connection may open at once before the rate applies.
pub const SUBSCRIBE_BURST: u32 = 32;
/// New subscriptions per second a connection may open after its burst.
pub const SUBSCRIBES_PER_SEC: u32 = 8;
/// Storage keys one client (IP address) may watch at once over all its storage subscriptions:
/// each is read at every new best block while watched.
pub const MAX_WATCHED_KEYS_PER_CLIENT: usize = 4_096;
/// Storage keys all clients together may watch at once on one node, beyond each client's
/// [`GUARANTEED_WATCHED_KEYS_PER_CLIENT`].
pub const MAX_WATCHED_KEYS: usize = 65_536;
/// Storage keys every client may watch whatever the others watch: they do not count against
/// [`MAX_WATCHED_KEYS`], so the few clients that hold the node's total cannot keep a wallet
/// watching its account from subscribing. At most [`MAX_CONNECTIONS`] clients are connected,
/// so these add at most 65,536 reads a block.
pub const GUARANTEED_WATCHED_KEYS_PER_CLIENT: usize = 256;
/// HTTP requests one client may have in flight at once, over all its connections and HTTP/2
/// streams: its share of the node's [`MAX_CONNECTIONS`] request permits.
pub const MAX_REQUESTS_PER_CLIENT: usize = MAX_CONNECTIONS_PER_CLIENT;
/// Longest the rest of an HTTP request's body, other than a blob transfer's, may take to arrive
/// once its first bytes have named its method (those have [`TRANSFER_GRACE_SECS`]); one that
/// misses it is answered 408 and counts as a refusal.
pub const CALL_BODY_SECS: u64 = 10;
/// Unanswered calls one WebSocket connection may have.
pub const MAX_CALLS_IN_FLIGHT: usize = 64;

/// Refusals within [`STRIKE_WINDOW_SECS`] that get a client banned.
pub const MAX_STRIKES: u32 = 256;
/// The window refusals are counted in.
pub const STRIKE_WINDOW_SECS: u64 = 10;
/// How long a banned client is refused.
pub const BAN_SECS: u64 = 60;
/// Clients whose strikes or ban the node remembers at most (beyond, new strikes are not
/// counted until old ones expire).
pub const MAX_TRACKED_CLIENTS: usize = 65_536;

/// The HTTP header in which a `blob_put` names the blob it uploads, as `0x` and 64 hex
/// digits (the blake3 hash also given as the call's second parameter).
pub const BLOB_HASH_HEADER: &str = "x-blob-hash";
/// Largest `blob_put` body that need not name its blob in [`BLOB_HASH_HEADER`]: a 2 MiB blob
/// as hex, with room for the request around it.
pub const MAX_UNNAMED_UPLOAD_BYTES: u64 = 4 * 1024 * 1024 + UPLOAD_ENVELOPE_BYTES;
/// Bytes of a `blob_put` request besides the blob's hex: the JSON-RPC envelope, the method,
/// the hash parameter and an id (a client that needs more sends a shorter id).
pub const UPLOAD_ENVELOPE_BYTES: u64 = 1024;

/// Largest body of a `blob_put` of a blob registered with `size` bytes: its hex (two digits a
/// byte and `0x`) and the envelope.
pub fn max_upload_bytes(size: u64) -> u64 {
    size.saturating_mul(2)
        .saturating_add(2)
        .saturating_add(UPLOAD_ENVELOPE_BYTES)
}

/// The methods that move blobs: HTTP only, one slot each.
pub const TRANSFER_METHODS: [&str; 2] = [method::BLOB_PUT, method::BLOB_GET];

/// The methods that open a subscription: rate-limited per connection.
pub const SUBSCRIBE_METHODS: [&str; 5] = [
    method::CHAIN_SUBSCRIBE_NEW_HEADS,
    method::CHAIN_SUBSCRIBE_FINALIZED_HEADS,
    method::STATE_SUBSCRIBE_RUNTIME_VERSION,
    method::STATE_SUBSCRIBE_STORAGE,
    method::AUTHOR_SUBMIT_AND_WATCH_EXTRINSIC,
];

/// The methods whose work grows with the chain's state or the request's keys rather than being a
/// few reads: they walk a map, prove up to [`MAX_KEYS_PER_CALL`](crate::MAX_KEYS_PER_CALL) keys or
/// read dozens of blocks. Each waits for a turn ([`MAX_SCANS_PER_CLIENT`], [`MAX_SCANS`]).
pub const SCAN_METHODS: [&str; 7] = [
    method::STATE_GET_KEYS_PAGED,
    method::STATE_QUERY_STORAGE_AT,
    method::STATE_GET_READ_PROOF,
    method::AGORA_CHAIN,
    method::AGORA_MARKET,
    method::AGORA_JOBS,
    method::AGORA_ACCOUNT,
];

/// Largest request body `method` may have, in bytes.
pub fn max_request_bytes(method: &str) -> usize {
    if method == method::BLOB_PUT {
        crate::MAX_BODY_BYTES as usize
    } else {
        MAX_CALL_BYTES
    }
}

/// Whether `method` moves a blob.
pub fn is_transfer(method: &str) -> bool {
    TRANSFER_METHODS.contains(&method)
}

/// Whether `method` opens a subscription.
pub fn is_subscribe(method: &str) -> bool {
    SUBSCRIBE_METHODS.contains(&method)
}

/// Whether `method` is a scan, run in turns.
pub fn is_scan(method: &str) -> bool {
    SCAN_METHODS.contains(&method)
}

/// The latest a transfer of `bytes` may finish, in seconds after it starts.
pub fn transfer_deadline_secs(bytes: u64) -> u64 {
    TRANSFER_GRACE_SECS.saturating_add(bytes / MIN_TRANSFER_BYTES_PER_SEC)
}

/// The method a JSON-RPC request body names, read from its first bytes: the string after the
/// first `"method"` key, if it is complete within `prefix`. A body with several `"method"`
/// strings (a batch, or one inside the params) is judged by its first.
pub fn method_in_prefix(prefix: &[u8]) -> Option<&str> {
    const KEY: &[u8] = b"\"method\"";
    let start = prefix.windows(KEY.len()).position(|w| w == KEY)? + KEY.len();
    let rest = &prefix[start..];
    let colon = rest.iter().position(|b| !b.is_ascii_whitespace())?;
    if rest[colon] != b':' {
        return None;
    }
    let rest = &rest[colon + 1..];
    let quote = rest.iter().position(|b| !b.is_ascii_whitespace())?;
    if rest[quote] != b'"' {
        return None;
    }
    let rest = &rest[quote + 1..];
    // Method names are plain ASCII: a backslash or a control byte means "not one of ours".
    let end = rest
        .iter()
        .position(|b| *b == b'"' || *b == b'\\' || b.is_ascii_control())?;
    if rest[end] != b'"' {
        return None;
    }
    std::str::from_utf8(&rest[..end]).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_method_is_read_from_the_first_bytes_of_a_body() {
        let body = br#"{"jsonrpc":"2.0","id":1,"method":"blob_put","params":["0x00"]}"#;
        assert_eq!(method_in_prefix(body), Some("blob_put"));
        let spaced = br#"{ "id" : 1 , "method" :  "chain_getHeader" }"#;
        assert_eq!(method_in_prefix(spaced), Some("chain_getHeader"));
        // Cut before the name ends: unknown, so a large body is refused.
        assert_eq!(method_in_prefix(br#"{"method":"blob_p"#), None);
        assert_eq!(method_in_prefix(br#"{"params":[1]}"#), None);
        assert_eq!(method_in_prefix(br#"{"method":42}"#), None);
        assert_eq!(method_in_prefix(br#"{"method":"a\"b"}"#), None);
    }

    #[test]
    fn only_blob_put_may_send_a_large_body() {
        assert_eq!(
            max_request_bytes(method::BLOB_PUT),
            crate::MAX_BODY_BYTES as usize
        );
        for name in method::ALL {
            if name != method::BLOB_PUT {
                assert_eq!(max_request_bytes(name), MAX_CALL_BYTES, "{name}");
            }
        }
        // An extrinsic of the runtime's largest size, as hex, fits a call.
        assert!(2 * agora_runtime::extrinsic::MAX_EXTRINSIC_LEN + 1024 < MAX_CALL_BYTES);
        // A 64 MiB blob as hex fits a transfer body, and its deadline is minutes, not hours.
        assert!(2 * 64 * 1024 * 1024 + 1024 < crate::MAX_BODY_BYTES as usize);
        assert_eq!(transfer_deadline_secs(128 * 1024 * 1024), 10 + 128);
    }

    #[test]
    fn the_listed_methods_exist() {
        for name in TRANSFER_METHODS.iter().chain(SUBSCRIBE_METHODS.iter()) {
            assert!(method::ALL.contains(name), "{name}");
        }
    }
}
