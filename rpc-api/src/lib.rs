//! # agora-rpc-api
//!
//! The JSON-RPC contract of `agora-node`: one place that names every method, its parameters,
//! its answer and its errors. The node implements the `*Server` traits; clients call the
//! generated `*Client` traits, which every jsonrpsee client implements (HTTP and WebSocket;
//! the subscription traits need a WebSocket client). Node and client therefore agree on names
//! and types at compile time.
//!
//! Served over HTTP and WebSocket on one port (default `127.0.0.1:9944`). Method names follow
//! Substrate where one exists; Agora-specific helpers are `agora_*` and `blob_*`. Hashes, keys
//! and byte strings are `0x`-hex ([`Hash`](agora_primitives::Hash), [`Hex`]); accounts are SS58
//! addresses; block numbers and balances (plancks) are JSON numbers, written exactly (u128
//! amounts never pass through `serde_json::Value`). Parameters are positional, as in Substrate;
//! a trailing optional parameter may be left out or sent as `null`.
//!
//! | method | trait | params | result |
//! |---|---|---|---|
//! | `system_health` | [`SystemApi`](SystemApiClient) | – | [`Health`]: `{isSyncing, peers, shouldHavePeers}` |
//! | `system_chain` / `system_name` / `system_version` | [`SystemApi`](SystemApiClient) | – | string |
//! | `system_properties` | [`SystemApi`](SystemApiClient) | – | [`SystemProperties`]: `{ss58Format: 42, tokenDecimals: 12, tokenSymbol: "AGR"}` |
//! | `system_accountNextIndex` | [`SystemApi`](SystemApiClient) | `[address]` | next nonce, counting pooled extrinsics |
//! | `chain_getHeader` | [`ChainApi`](ChainApiClient) | `[hash?]` | [`Header`] (default: best) or `null`; its `digest` makes it a Substrate header that hashes to `hash` |
//! | `chain_getBlock` | [`ChainApi`](ChainApiClient) | `[hash?]` | [`SignedBlock`]: `{block: {extrinsics: [hex], header}, finalityCertificate}` or `null` |
//! | `chain_getBlockHash` | [`ChainApi`](ChainApiClient) | `[number?]` | hash on the best chain (default: best) or `null` |
//! | `chain_getFinalizedHead` | [`ChainApi`](ChainApiClient) | – | hash |
//! | `chain_subscribeNewHeads` | [`ChainHeadsApi`](ChainHeadsApiClient) | – | notifications `chain_newHead` with [`Header`]s, the current best first; `chain_unsubscribeNewHeads` ends it |
//! | `chain_subscribeFinalizedHeads` | [`ChainHeadsApi`](ChainHeadsApiClient) | – | notifications `chain_finalizedHead` with [`Header`]s, the current finalized head first; `chain_unsubscribeFinalizedHeads` ends it |
//! | `state_getStorage` | [`StateApi`](StateApiClient) | `[key, hash?]` | hex value or `null` |
//! | `state_getReadProof` | [`StateApi`](StateApiClient) | `[[key…], hash?]` | [`ReadProof`]: `{at, proof: [hex…]}`, one SCALE-encoded sparse-Merkle proof per key (≤ 1000 keys) |
//! | `state_getKeysPaged` | [`StateApi`](StateApiClient) | `[prefix, count, startKey?, hash?]` | hex keys starting with `prefix` (`null`: every key), strictly after `startKey`, in key order, at most `count` (≤ 1000); at the finalized head or an unfinalized block |
//! | `state_queryStorageAt` | [`StateApi`](StateApiClient) | `[[key…], hash?]` | one [`StorageChangeSet`] in a list: `[{block, changes: [[key, hex value or null]…]}]` (≤ 1000 keys) |
//! | `state_getRuntimeVersion` | [`StateApi`](StateApiClient) | `[hash?]` | [`RuntimeVersion`]: `{specName, implName, specVersion, transactionVersion, apis, …}` |
//! | `state_getMetadata` | [`StateApi`](StateApiClient) | `[hash?]` | hex of the runtime metadata (`meta`, V14; `agora_runtime::metadata`) |
//! | `state_subscribeRuntimeVersion` | [`StateWatchApi`](StateWatchApiClient) | – | notifications `state_runtimeVersion` with the [`RuntimeVersion`]; `state_unsubscribeRuntimeVersion` ends it |
//! | `state_subscribeStorage` | [`StateWatchApi`](StateWatchApiClient) | `[[key…]]` | notifications `state_storage` with a [`StorageChangeSet`]: every key first, then the changed ones at each new best block (1–1000 keys; the node allows 64 subscriptions per connection); `state_unsubscribeStorage` ends it |
//! | `payment_queryInfo` | [`PaymentApi`](PaymentApiClient) | `[hex, hash?]` | [`DispatchInfo`]: `{weight, class, partialFee}`, the fee without tip as a decimal string |
//! | `author_submitExtrinsic` | [`AuthorApi`](AuthorApiClient) | `[hex]` | extrinsic hash |
//! | `author_validatorKeys` | [`AuthorApi`](AuthorApiClient) | – | [`ValidatorKeys`] of the node's validator key (`--validator-key`, `--validator-key-file`, `--dev`), or `null` |
//! | `author_submitAndWatchExtrinsic` | [`AuthorWatchApi`](AuthorWatchApiClient) | `[hex]` | notifications `author_extrinsicUpdate` with [`ExtrinsicStatus`]: `"ready"`, then `{"finalized": hash, "number": n}` or `"dropped"`; `author_unwatchExtrinsic` ends it |
//! | `agora_balance` | [`AgoraApi`](AgoraApiClient) | `[address, hash?]` | [`AccountBalance`]: `{address, free, reserved, total, nonce}` |
//! | `agora_events` | [`AgoraApi`](AgoraApiClient) | `[hash?]` | the events of a block as JSON, for people and scripts (default: finalized head) |
//! | `agora_encodedEvents` | [`AgoraApi`](AgoraApiClient) | `[hash?]` | [`EncodedEvents`]: hex of the block's SCALE-encoded event records (default: finalized head); its blake3 is the header's `eventsRoot` |
//! | `agora_chain` | [`ViewApi`](ViewApiClient) | – | [`ChainReport`](views::ChainReport): heights, committee, pool, the last 64 blocks with timestamps and observed finality latency |
//! | `agora_market` | [`ViewApi`](ViewApiClient) | `[hash?]` | [`MarketReport`](views::MarketReport): offers, bids with the reason each is open, clearings, queue-time percentiles, renewable and newcomer shares |
//! | `agora_job` | [`ViewApi`](ViewApiClient) | `[id, hash?]` | [`JobReport`](views::JobReport): stage, status, spot check, assurance, receipt |
//! | `agora_jobs` | [`ViewApi`](ViewApiClient) | `[hash?]` | every job and open bid as [`JobReport`](views::JobReport)s, newest first |
//! | `agora_account` | [`ViewApi`](ViewApiClient) | `[address, hash?]` | [`AccountReport`](views::AccountReport): balances, stake, roles, offers, bids, jobs |
//! | `blob_put` | [`BlobApi`](BlobApiClient) | `[hex bytes, hash?]` | blake3 hash of the bytes; accepted only if registered on chain (best state) with this size; idempotent. With the hash, an unregistered blob or a wrong size is refused before anything is decoded, and the bytes must hash to it. A body over 4 MiB must also name the hash in the `X-Blob-Hash` HTTP header ([`limits`]) |
//! | `blob_get` | [`BlobApi`](BlobApiClient) | `[hash]` | hex bytes, checked against the hash |
//! | `blob_has` | [`BlobApi`](BlobApiClient) | `[hash]` | [`BlobPresence`]: `{registered, size, stored}`: whether the best state registers it, the registered size or `null`, whether this node holds it |
//! | `rpc_methods` | [`RpcApi`](RpcApiClient) | – | [`RpcMethods`]: `{methods: [...]}` |
//!
//! [`method`] names every method as a constant and [`method::ALL`] lists what the node serves.
//!
//! # Errors
//!
//! Unknown methods get -32601 and malformed parameters -32602 (from jsonrpsee, naming the
//! parameter problem in `data`; a malformed address, key or count is named in `message`).
//! Agora's own errors, as [`ErrorCode`] (constants in [`codes`]):
//!
//! | code | meaning |
//! |---|---|
//! | 1002 | the extrinsic bytes are not hex or do not decode |
//! | 1010 | the runtime refuses the extrinsic (signature, nonce, fee, era, size) |
//! | 1013 | the extrinsic is already in the pool |
//! | 1016 | the pool is full |
//! | 4001 | unknown block |
//! | 4003 | storage failure (RocksDB or the blob store's files) |
//! | 4004 | `state_getKeysPaged` at a finalized block below the head: its state cannot be listed |
//! | 5001 | `blob_put`: the blob is not registered on chain |
//! | 5002 | `blob_put`: the bytes are not the registered size (both sizes named) |
//! | 5003 | `blob_put`: the bytes are over the 64 MiB limit |
//! | 5004 | `blob_get`: the blob is not stored on this node |
//! | 5005 | `blob_get`: the stored copy was corrupt and has been removed |
//! | 4130 | the request is over its method's size limit, or a blob transfer came over WebSocket (HTTP 413 over HTTP) |
//! | 4290 | the client is over a limit (one blob transfer at a time, subscriptions per second, calls in flight) or the node's transfer slots stayed full (with HTTP status 200, so that every JSON-RPC client reads the code; 408 for a request whose first bytes never came); retry later |
//!
//! [`limits`] gives every bound the node keeps per client and in total.
//!
//! # Calling the node
//!
//! ```no_run
//! use agora_rpc_api::{AgoraApiClient, ChainApiClient};
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let client = jsonrpsee::http_client::HttpClientBuilder::default().build("http://127.0.0.1:9944")?;
//! let head = ChainApiClient::finalized_head(&client).await?;
//! let header = ChainApiClient::header(&client, Some(head)).await?;
//! // Events decoded with the runtime's own types, checked against the header.
//! let events = client.encoded_events(Some(head)).await?;
//! assert_eq!(Some(events.hash()?), header.map(|h| h.events_root));
//! let events: Vec<agora_runtime::EventRecord> = events.decode()?;
//! # let _ = events; Ok(()) }
//! ```

mod api;
pub mod error;
mod events;
pub mod limits;
pub mod method;
mod types;
pub mod views;

pub use api::*;
pub use error::{codes, Error, ErrorCode};
pub use events::{block_events, EncodedEvents, EventsError, EventsJson};
pub use types::{
    AccountBalance, Beacon, BlobPresence, Block, Digest, DispatchInfo, ExtrinsicStatus, Header,
    Health, Hex, ReadProof, RpcMethods, RuntimeVersion, SignedBlock, StorageChangeSet,
    SystemProperties, ValidatorKeys,
};

/// Most keys `state_getKeysPaged` returns and `state_getReadProof` and `state_queryStorageAt`
/// read in one call.
pub const MAX_KEYS_PER_CALL: usize = 1_000;
/// Largest request or response body the node accepts or sends: a 64 MiB blob as hex (twice its
/// size) plus room for the JSON around it. Clients should allow as much.
pub const MAX_BODY_BYTES: u32 = 160 * 1024 * 1024;
