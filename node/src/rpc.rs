//! JSON-RPC over HTTP and WebSocket (one port, default `127.0.0.1:9944`).
//!
//! Method names follow Substrate where one exists; Agora-specific helpers are `agora_*`.
//! Hashes, keys and byte strings are `0x`-hex; accounts are SS58 addresses; block numbers and
//! balances (plancks) are JSON numbers. Parameters are positional, as in Substrate.
//!
//! | method | params | result |
//! |---|---|---|
//! | `system_health` | – | `{peers, isSyncing, shouldHavePeers}` |
//! | `system_chain` / `system_name` / `system_version` | – | string |
//! | `chain_getHeader` | `[hash?]` | header (default: best) or `null` |
//! | `chain_getBlock` | `[hash?]` | `{block: {header, extrinsics: [hex]}, finalityCertificate}` or `null` |
//! | `chain_getBlockHash` | `[number?]` | hash on the best chain (default: best) or `null` |
//! | `chain_getFinalizedHead` | – | hash |
//! | `chain_subscribeNewHeads` | – | notifications `chain_newHead` with headers |
//! | `chain_subscribeFinalizedHeads` | – | notifications `chain_finalizedHead` with headers |
//! | `state_getStorage` | `[key, hash?]` | hex value or `null` |
//! | `state_getReadProof` | `[[key…], hash?]` | `{at, proof: [hex…]}`: one SCALE-encoded sparse-Merkle proof per key |
//! | `state_getKeysPaged` | `[prefix, count, startKey?, hash?]` | hex keys starting with `prefix`, strictly after `startKey`, in key order, at most `count` (≤ 1000); at the finalized head or an unfinalized block |
//! | `state_queryStorageAt` | `[[key…], hash?]` | `[{block, changes: [[key, hex value or null]…]}]` (≤ 1000 keys) |
//! | `author_submitExtrinsic` | `[hex]` | extrinsic hash |
//! | `author_submitAndWatchExtrinsic` | `[hex]` | notifications `author_extrinsicUpdate`: `"ready"`, then `{"finalized": hash, "number": n}` or `"dropped"` |
//! | `system_accountNextIndex` | `[address]` | next nonce, counting pooled extrinsics |
//! | `agora_balance` | `[address, hash?]` | `{address, free, reserved, total, nonce}` |
//! | `agora_events` | `[hash?]` | decoded events of a block (default: finalized head) |
//! | `blob_put` | `[hex bytes]` | blake3 hash of the bytes; accepted only if registered on chain (best state) with this size; idempotent |
//! | `blob_get` | `[hash]` | hex bytes, checked against the hash |
//! | `blob_has` | `[hash]` | `{stored, registered, size}`: whether this node holds it, whether the best state registers it, the registered size or `null` |
//! | `rpc_methods` | – | `{methods: [...]}` |
//!
//! # Errors
//!
//! Unknown methods get -32601 and malformed parameters -32602 (from jsonrpsee, naming the
//! parameter problem). Agora's own errors:
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
//!
//! Requests and responses may be up to [`MAX_BODY_BYTES`] so that a 64 MiB blob fits as hex;
//! at most [`MAX_BLOB_TRANSFERS`] blob uploads or downloads are decoded, hashed and written or
//! read at a time.

use crate::blobs::{BlobError, BlobStore, MAX_BLOB_SIZE};
use crate::chain::{Chain, ChainError, ChainEvent, StoredBlock};
use crate::txpool::PoolError;
use agora_primitives::smt::{self, Proof};
use agora_primitives::storage::StateRead;
use agora_primitives::{decode_hex, encode_hex, AccountId, Hash};
use agora_runtime::block::Header;
use agora_runtime::executive::TransactionError;
use agora_runtime::extrinsic::ExtrinsicError;
use jsonrpsee::core::SubscriptionResult;
use jsonrpsee::server::{Server, ServerHandle};
use jsonrpsee::types::{ErrorObjectOwned, Params};
use jsonrpsee::{PendingSubscriptionSink, RpcModule, SubscriptionMessage};
use parity_scale_codec::{Decode, Encode};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::sync::Arc;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::Semaphore;

/// Error codes; see the module documentation.
pub use agora_primitives::rpc_codes as codes;

/// Largest request or response body: a [`MAX_BLOB_SIZE`] blob as hex (twice its size) plus
/// room for the JSON around it.
pub const MAX_BODY_BYTES: u32 = 160 * 1024 * 1024;
/// Most keys `state_getKeysPaged` returns and `state_queryStorageAt` reads in one call.
pub const MAX_KEYS_PER_CALL: usize = 1_000;
/// Blob uploads and downloads handled at a time: each holds up to three copies of a 64 MiB blob
/// (hex text, bytes, the JSON answer) while it runs.
pub const MAX_BLOB_TRANSFERS: usize = 4;

fn error(code: i32, message: impl Into<String>) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(code, message.into(), None::<()>)
}

fn invalid_params(message: impl Into<String>) -> ErrorObjectOwned {
    error(jsonrpsee::types::error::INVALID_PARAMS_CODE, message)
}

fn storage_error(e: impl std::fmt::Display) -> ErrorObjectOwned {
    error(codes::STORAGE, e.to_string())
}

fn pool_error(e: PoolError) -> ErrorObjectOwned {
    let code = match &e {
        PoolError::Invalid(TransactionError::Extrinsic(
            ExtrinsicError::Malformed(_)
            | ExtrinsicError::TrailingBytes(_)
            | ExtrinsicError::UnsupportedVersion(_),
        )) => codes::BAD_EXTRINSIC,
        PoolError::AlreadyImported(_) => codes::ALREADY_IMPORTED,
        PoolError::Full(_) => codes::POOL_FULL,
        _ => codes::INVALID_TRANSACTION,
    };
    error(code, e.to_string())
}

/// A header as JSON, with its hash.
pub fn header_json(header: &Header) -> Value {
    json!({
        "hash": header.hash(),
        "parentHash": header.parent_hash,
        "number": header.number(),
        "timestamp": header.timestamp,
        "author": header.author,
        "extrinsicsRoot": header.extrinsics_root,
        "stateRoot": header.state_root,
        "eventsRoot": header.events_root,
    })
}

fn parse_account(text: &str) -> Result<AccountId, ErrorObjectOwned> {
    if text.starts_with("0x") {
        let hash = Hash::from_hex(text).map_err(|e| invalid_params(e.to_string()))?;
        return Ok(AccountId(hash.0));
    }
    text.parse::<AccountId>()
        .map_err(|e| invalid_params(e.to_string()))
}

/// Optional block hash parameter → stored block, or "unknown block".
fn block_at(chain: &Chain, at: Option<Hash>) -> Result<StoredBlock, ErrorObjectOwned> {
    let hash = at.unwrap_or_else(|| chain.best_hash());
    chain
        .block(&hash)
        .map_err(storage_error)?
        .ok_or_else(|| error(codes::UNKNOWN_BLOCK, format!("block {hash} is unknown")))
}

/// Optional block hash parameter → header, or "unknown block".
fn header_at(chain: &Chain, at: Option<Hash>) -> Result<Header, ErrorObjectOwned> {
    let hash = at.unwrap_or_else(|| chain.best_hash());
    chain.header(&hash).map_err(|e| match e {
        ChainError::UnknownBlock(_) => {
            error(codes::UNKNOWN_BLOCK, format!("block {hash} is unknown"))
        }
        other => storage_error(other),
    })
}

/// Reads `key` in the state after block `at` (default: best).
fn read_storage(
    chain: &Chain,
    key: &[u8],
    at: Option<Hash>,
) -> Result<Option<Vec<u8>>, ErrorObjectOwned> {
    if let Some(view) = chain.view(at) {
        return Ok(view.get(key));
    }
    // A finalized block below the head: walk its state root in the tree.
    let header = header_at(chain, at)?;
    let store = chain
        .view(None)
        .ok_or_else(|| storage_error("best state unavailable"))?;
    smt::get(&store, header.state_root, key).map_err(storage_error)
}

// Answers holding balances are typed `Serialize` values, never `serde_json::Value`: a `Value`
// cannot hold a number above u64::MAX, while serializing straight to text writes any u128
// exactly.

fn decoded_events(
    stored: &StoredBlock,
) -> Result<Vec<agora_runtime::EventRecord>, ErrorObjectOwned> {
    agora_runtime::decode_events(&stored.events).map_err(storage_error)
}

/// The answer of `agora_balance`.
#[derive(Clone, serde::Serialize)]
struct BalanceAnswer {
    address: AccountId,
    free: u128,
    reserved: u128,
    total: u128,
    nonce: u32,
}

/// `key` as bytes, or invalid params naming it.
fn parse_key(what: &str, text: &str) -> Result<Vec<u8>, ErrorObjectOwned> {
    decode_hex(text).map_err(|e| invalid_params(format!("{what}: {e}")))
}

/// The on-chain registration of blob `hash` in the state after block `at` (default: best).
fn registered_blob(
    chain: &Chain,
    hash: &Hash,
    at: Option<Hash>,
) -> Result<Option<pallet_jobs::BlobInfo>, ErrorObjectOwned> {
    let key = pallet_jobs::Blobs::key(hash);
    read_storage(chain, &key, at)?
        .map(|bytes| {
            pallet_jobs::BlobInfo::decode(&mut &bytes[..]).map_err(|e| {
                storage_error(format!(
                    "the registration of blob {hash} does not decode: {e}"
                ))
            })
        })
        .transpose()
}

fn blob_error(e: BlobError) -> ErrorObjectOwned {
    let code = match &e {
        BlobError::Corrupt(_) => codes::BLOB_CORRUPT,
        BlobError::TooLarge { .. } => codes::BLOB_TOO_LARGE,
        BlobError::HashMismatch { .. } => jsonrpsee::types::error::INVALID_PARAMS_CODE,
        BlobError::Io { .. } | BlobError::Registry { .. } => codes::STORAGE,
    };
    error(code, e.to_string())
}

fn too_large(size: u64) -> ErrorObjectOwned {
    error(
        codes::BLOB_TOO_LARGE,
        format!("blob of {size} bytes is over the limit of {MAX_BLOB_SIZE} bytes"),
    )
}

/// `blob_put`: checks and stores one blob given as hex. Runs on a blocking thread.
fn put_blob(chain: &Chain, store: &BlobStore, hex: &str) -> Result<Hash, ErrorObjectOwned> {
    let digits = hex.strip_prefix("0x").unwrap_or(hex);
    // Refused before decoding: the text alone says the blob is too large.
    let size = u64::try_from(digits.len() / 2).unwrap_or(u64::MAX);
    if size > MAX_BLOB_SIZE {
        return Err(too_large(size));
    }
    // Not `decode_hex`: its error repeats the whole input, up to 128 MiB of it.
    let bytes =
        hex::decode(digits).map_err(|e| invalid_params(format!("blob bytes are not hex: {e}")))?;
    let hash = Hash::of(&bytes);
    let size = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    let info = registered_blob(chain, &hash, None)?.ok_or_else(|| {
        error(
            codes::BLOB_NOT_REGISTERED,
            format!("blob {hash} is not registered on chain; register it first"),
        )
    })?;
    if info.size != size {
        return Err(error(
            codes::BLOB_SIZE_MISMATCH,
            format!(
                "blob {hash} is registered with a size of {} bytes but {size} bytes were sent",
                info.size
            ),
        ));
    }
    store.put(&hash, &bytes).map_err(blob_error)?;
    Ok(hash)
}

/// `blob_get`: one stored blob as hex. Runs on a blocking thread.
fn get_blob(store: &BlobStore, hash: &Hash) -> Result<String, ErrorObjectOwned> {
    match store.get(hash).map_err(blob_error)? {
        Some(bytes) => Ok(encode_hex(&bytes)),
        None => Err(error(
            codes::BLOB_NOT_STORED,
            format!("blob {hash} is not stored on this node"),
        )),
    }
}

/// `state_getKeysPaged`. Runs on a blocking thread.
fn keys_paged(chain: &Chain, params: Params<'_>) -> Result<Vec<String>, ErrorObjectOwned> {
    let mut seq = params.sequence();
    // Substrate takes `null` for the empty prefix.
    let prefix: Option<String> = seq.next()?;
    let count: u32 = seq.next()?;
    let start: Option<String> = seq.optional_next()?;
    let at: Option<Hash> = seq.optional_next()?;
    let count = usize::try_from(count).unwrap_or(usize::MAX);
    if count > MAX_KEYS_PER_CALL {
        return Err(invalid_params(format!(
            "count {count} is over the limit of {MAX_KEYS_PER_CALL} keys per call"
        )));
    }
    let prefix = match prefix {
        Some(prefix) => parse_key("prefix", &prefix)?,
        None => Vec::new(),
    };
    let start = start
        .map(|start| parse_key("startKey", &start))
        .transpose()?;
    let Some(view) = chain.view(at) else {
        // Known but not iterable, or unknown.
        let header = header_at(chain, at)?;
        return Err(error(
            codes::STATE_NOT_ITERABLE,
            format!(
                "the keys of block #{} ({}) cannot be listed: only the finalized head and \
                 executed unfinalized blocks have an iterable state",
                header.number(),
                header.hash()
            ),
        ));
    };
    let mut keys = Vec::new();
    if count == 0 {
        return Ok(keys);
    }
    view.try_for_each_prefixed(&prefix, start.as_deref(), &mut |key, _| {
        keys.push(encode_hex(key));
        if keys.len() >= count {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })
    .map_err(storage_error)?;
    Ok(keys)
}

/// `state_queryStorageAt`. Runs on a blocking thread.
fn query_storage_at(chain: &Chain, params: Params<'_>) -> Result<Value, ErrorObjectOwned> {
    let mut seq = params.sequence();
    let keys: Vec<String> = seq.next()?;
    let at: Option<Hash> = seq.optional_next()?;
    if keys.len() > MAX_KEYS_PER_CALL {
        return Err(invalid_params(format!(
            "{} keys requested, at most {MAX_KEYS_PER_CALL} per call",
            keys.len()
        )));
    }
    // One block for every key, even if the best block moves meanwhile.
    let at = at.unwrap_or_else(|| chain.best_hash());
    header_at(chain, Some(at))?;
    let mut changes = Vec::with_capacity(keys.len());
    for key in keys {
        let key = parse_key("key", &key)?;
        let value = read_storage(chain, &key, Some(at))?;
        changes.push(json!([encode_hex(&key), value.map(|v| encode_hex(&v))]));
    }
    Ok(json!([{ "block": at, "changes": changes }]))
}

/// Registers the blob methods; `transfers` bounds how many run at once.
fn register_blob_methods(
    module: &mut RpcModule<Chain>,
    blobs: Arc<BlobStore>,
) -> Result<(), jsonrpsee::core::RegisterMethodError> {
    let transfers = Arc::new(Semaphore::new(MAX_BLOB_TRANSFERS));
    let (store, permits) = (blobs.clone(), transfers.clone());
    module.register_async_method("blob_put", move |params, chain, _| {
        let (store, permits) = (store.clone(), permits.clone());
        async move {
            let mut seq = params.sequence();
            let hex: String = seq.next()?;
            let _permit = permits
                .acquire_owned()
                .await
                .map_err(|e| storage_error(format!("blob transfers closed: {e}")))?;
            let hash = tokio::task::spawn_blocking(move || put_blob(&chain, &store, &hex))
                .await
                .map_err(|e| storage_error(format!("blob_put task failed: {e}")))??;
            Ok::<_, ErrorObjectOwned>(hash.to_hex())
        }
    })?;
    let (store, permits) = (blobs.clone(), transfers);
    module.register_async_method("blob_get", move |params, _, _| {
        let (store, permits) = (store.clone(), permits.clone());
        async move {
            let mut seq = params.sequence();
            let hash: Hash = seq.next()?;
            let _permit = permits
                .acquire_owned()
                .await
                .map_err(|e| storage_error(format!("blob transfers closed: {e}")))?;
            tokio::task::spawn_blocking(move || get_blob(&store, &hash))
                .await
                .map_err(|e| storage_error(format!("blob_get task failed: {e}")))?
        }
    })?;
    module.register_method("blob_has", move |params: Params<'_>, chain, _| {
        let mut seq = params.sequence();
        let hash: Hash = seq.next()?;
        let registered = registered_blob(chain, &hash, None)?;
        Ok::<_, ErrorObjectOwned>(json!({
            "stored": blobs.has(&hash),
            "registered": registered.is_some(),
            "size": registered.map(|info| info.size),
        }))
    })?;
    Ok(())
}

/// Builds the RPC module.
pub fn module(
    chain: Chain,
    blobs: Arc<BlobStore>,
) -> Result<RpcModule<Chain>, jsonrpsee::core::RegisterMethodError> {
    let mut module = RpcModule::new(chain);

    module.register_method("system_health", |_, chain, _| {
        let validators = chain.spec().validators.len();
        json!({ "peers": validators.saturating_sub(1), "isSyncing": false, "shouldHavePeers": validators > 1 })
    })?;
    module.register_method("system_chain", |_, chain, _| chain.spec().name.clone())?;
    module.register_method("system_name", |_, _, _| "agora-node")?;
    module.register_method("system_version", |_, _, _| env!("CARGO_PKG_VERSION"))?;

    module.register_method("chain_getHeader", |params: Params<'_>, chain, _| {
        let mut seq = params.sequence();
        let at: Option<Hash> = seq.optional_next()?;
        match header_at(chain, at) {
            Ok(header) => Ok(Some(header_json(&header))),
            Err(e) if e.code() == codes::UNKNOWN_BLOCK => Ok(None),
            Err(e) => Err(e),
        }
    })?;
    module.register_method("chain_getBlock", |params: Params<'_>, chain, _| {
        let mut seq = params.sequence();
        let at: Option<Hash> = seq.optional_next()?;
        let hash = at.unwrap_or_else(|| chain.best_hash());
        let Some(stored) = chain.block(&hash).map_err(storage_error)? else {
            return Ok::<_, ErrorObjectOwned>(Value::Null);
        };
        let certificate = chain.db().certificate(&hash).map_err(storage_error)?;
        let extrinsics: Vec<String> = stored
            .block
            .extrinsics
            .iter()
            .map(|xt| encode_hex(&xt.encode()))
            .collect();
        Ok(json!({
            "block": { "header": header_json(&stored.block.header), "extrinsics": extrinsics },
            "finalityCertificate": certificate.filter(|c| !c.is_empty()).map(|c| encode_hex(&c)),
        }))
    })?;
    module.register_method("chain_getBlockHash", |params: Params<'_>, chain, _| {
        let mut seq = params.sequence();
        let number: Option<u64> = seq.optional_next()?;
        match number {
            None => Ok::<_, ErrorObjectOwned>(Some(chain.best_hash().to_hex())),
            Some(number) => Ok(chain
                .block_hash(number)
                .map_err(storage_error)?
                .map(|hash| hash.to_hex())),
        }
    })?;
    module.register_method("chain_getFinalizedHead", |_, chain, _| {
        chain.finalized_head().0.to_hex()
    })?;

    module.register_method("state_getStorage", |params: Params<'_>, chain, _| {
        let mut seq = params.sequence();
        let key: String = seq.next()?;
        let at: Option<Hash> = seq.optional_next()?;
        let key = decode_hex(&key).map_err(|e| invalid_params(e.to_string()))?;
        Ok::<_, ErrorObjectOwned>(read_storage(chain, &key, at)?.map(|value| encode_hex(&value)))
    })?;
    module.register_method("state_getReadProof", |params: Params<'_>, chain, _| {
        let mut seq = params.sequence();
        let keys: Vec<String> = seq.next()?;
        let at: Option<Hash> = seq.optional_next()?;
        if keys.len() > 1_000 {
            return Err(invalid_params(format!(
                "{} keys requested, at most 1000 per call",
                keys.len()
            )));
        }
        let header = header_at(chain, at)?;
        let store = chain
            .view(None)
            .ok_or_else(|| storage_error("best state unavailable"))?;
        let mut proofs = Vec::with_capacity(keys.len());
        for key in keys {
            let key = decode_hex(&key).map_err(|e| invalid_params(e.to_string()))?;
            let proof: Proof =
                smt::prove(&store, header.state_root, &key).map_err(storage_error)?;
            proofs.push(encode_hex(&proof.encode()));
        }
        Ok(json!({ "at": header.hash(), "proof": proofs }))
    })?;

    module.register_blocking_method("state_getKeysPaged", |params, chain, _| {
        keys_paged(&chain, params)
    })?;
    module.register_blocking_method("state_queryStorageAt", |params, chain, _| {
        query_storage_at(&chain, params)
    })?;
    register_blob_methods(&mut module, blobs)?;

    module.register_method("author_submitExtrinsic", |params: Params<'_>, chain, _| {
        let mut seq = params.sequence();
        let hex: String = seq.next()?;
        let bytes = decode_hex(&hex).map_err(|e| error(codes::BAD_EXTRINSIC, e.to_string()))?;
        chain
            .submit(&bytes)
            .map(|hash| hash.to_hex())
            .map_err(pool_error)
    })?;
    module.register_subscription(
        "author_submitAndWatchExtrinsic",
        "author_extrinsicUpdate",
        "author_unwatchExtrinsic",
        |params, pending, chain, _| async move { watch_extrinsic(params, pending, &chain).await },
    )?;
    module.register_method("system_accountNextIndex", |params: Params<'_>, chain, _| {
        let mut seq = params.sequence();
        let who: String = seq.next()?;
        Ok::<_, ErrorObjectOwned>(chain.next_nonce(&parse_account(&who)?))
    })?;
    module.register_method("agora_balance", |params: Params<'_>, chain, _| {
        let mut seq = params.sequence();
        let who: String = seq.next()?;
        let at: Option<Hash> = seq.optional_next()?;
        let who = parse_account(&who)?;
        let account_key = pallet_balances::Account::key(&who);
        let nonce_key = pallet_system::Account::key(&who);
        let data: pallet_balances::AccountData =
            decode_value(read_storage(chain, &account_key, at)?)?;
        let info: pallet_system::AccountInfo = decode_value(read_storage(chain, &nonce_key, at)?)?;
        Ok::<_, ErrorObjectOwned>(BalanceAnswer {
            address: who,
            free: data.free,
            reserved: data.reserved,
            total: data.total(),
            nonce: info.nonce,
        })
    })?;
    module.register_method("agora_events", |params: Params<'_>, chain, _| {
        let mut seq = params.sequence();
        let at: Option<Hash> = seq.optional_next()?;
        let at = Some(at.unwrap_or_else(|| chain.finalized_head().0));
        decoded_events(&block_at(chain, at)?)
    })?;

    module.register_subscription(
        "chain_subscribeNewHeads",
        "chain_newHead",
        "chain_unsubscribeNewHeads",
        |_, pending, chain, _| async move { follow_heads(pending, &chain, false).await },
    )?;
    module.register_subscription(
        "chain_subscribeFinalizedHeads",
        "chain_finalizedHead",
        "chain_unsubscribeFinalizedHeads",
        |_, pending, chain, _| async move { follow_heads(pending, &chain, true).await },
    )?;

    let mut names: Vec<String> = module.method_names().map(str::to_owned).collect();
    names.push("rpc_methods".to_owned());
    names.sort();
    module.register_method("rpc_methods", move |_, _, _| json!({ "methods": names }))?;
    Ok(module)
}

fn decode_value<T: parity_scale_codec::Decode + Default>(
    bytes: Option<Vec<u8>>,
) -> Result<T, ErrorObjectOwned> {
    match bytes {
        None => Ok(T::default()),
        Some(bytes) => T::decode(&mut &bytes[..]).map_err(storage_error),
    }
}

fn message(value: &Value) -> Result<SubscriptionMessage, serde_json::Error> {
    Ok(SubscriptionMessage::from(serde_json::value::to_raw_value(
        value,
    )?))
}

async fn follow_heads(
    pending: PendingSubscriptionSink,
    chain: &Chain,
    finalized: bool,
) -> SubscriptionResult {
    let mut events = chain.subscribe();
    let sink = pending.accept().await?;
    // Start with the current head so a subscriber never waits a block time to see anything.
    let current = if finalized {
        chain.finalized_head().1
    } else {
        chain
            .block(&chain.best_hash())
            .ok()
            .flatten()
            .map(|s| s.block.header)
            .unwrap_or_else(|| chain.finalized_head().1)
    };
    sink.send(message(&header_json(&current))?).await?;
    loop {
        let header = match events.recv().await {
            Ok(ChainEvent::NewHead(header)) if !finalized => header,
            Ok(ChainEvent::Finalized { header, .. }) if finalized => header,
            Ok(_) => continue,
            // A slow subscriber missed some heads; carry on with the next.
            Err(RecvError::Lagged(_)) => continue,
            Err(RecvError::Closed) => return Ok(()),
        };
        sink.send(message(&header_json(&header))?).await?;
    }
}

async fn watch_extrinsic(
    params: Params<'static>,
    pending: PendingSubscriptionSink,
    chain: &Chain,
) -> SubscriptionResult {
    let hex: String = match params.one() {
        Ok(hex) => hex,
        Err(e) => {
            pending.reject(e).await;
            return Ok(());
        }
    };
    let bytes = match decode_hex(&hex) {
        Ok(bytes) => bytes,
        Err(e) => {
            pending
                .reject(error(codes::BAD_EXTRINSIC, e.to_string()))
                .await;
            return Ok(());
        }
    };
    // Subscribe before submitting, so the finalization cannot slip past unseen.
    let mut events = chain.subscribe();
    let hash = match chain.submit(&bytes) {
        Ok(hash) => hash,
        Err(e) => {
            pending.reject(pool_error(e)).await;
            return Ok(());
        }
    };
    let sink = pending.accept().await?;
    sink.send(message(&json!("ready"))?).await?;
    loop {
        match events.recv().await {
            Ok(ChainEvent::Finalized { header, extrinsics }) if extrinsics.contains(&hash) => {
                sink.send(message(
                    &json!({ "finalized": header.hash(), "number": header.number() }),
                )?)
                .await?;
                return Ok(());
            }
            Ok(ChainEvent::Dropped(hashes)) if hashes.contains(&hash) => {
                sink.send(message(&json!("dropped"))?).await?;
                return Ok(());
            }
            Ok(_) | Err(RecvError::Lagged(_)) => continue,
            Err(RecvError::Closed) => return Ok(()),
        }
    }
}

/// Starts the server on `addr`, serving blobs from `blobs`.
pub async fn start(
    chain: Chain,
    blobs: Arc<BlobStore>,
    addr: SocketAddr,
) -> std::io::Result<(SocketAddr, ServerHandle)> {
    let config = jsonrpsee::server::ServerConfig::builder()
        .max_request_body_size(MAX_BODY_BYTES)
        .max_response_body_size(MAX_BODY_BYTES)
        .max_connections(256)
        .build();
    let server = Server::builder().set_config(config).build(addr).await?;
    let bound = server.local_addr()?;
    let module = module(chain, blobs).map_err(std::io::Error::other)?;
    Ok((bound, server.start(module)))
}
