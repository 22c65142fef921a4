//! JSON-RPC over HTTP and WebSocket (one port, default `127.0.0.1:9944`): the node's side of
//! [`agora_rpc_api`]. That crate is the contract — every method with its parameters, answer
//! and errors, and the error codes — and this module implements its `*Server` traits over the
//! [`Chain`] and the [`BlobStore`].
//!
//! What a client may ask at once is bounded per client and in total
//! ([`agora_rpc_api::limits`], kept by the `limits` module and the accept loop of `serve`): blob
//! transfers go over HTTP, whose bodies may be up to [`MAX_BODY_BYTES`] so that a 64 MiB blob
//! fits as hex; every other request is at most 1 MiB. At most [`MAX_BLOB_TRANSFERS`] blob
//! uploads or downloads are decoded, hashed and written or read at a time, on blocking
//! threads; scans (`state_getKeysPaged`, the `agora_*` views that walk maps, …) run on blocking
//! threads too, [`MAX_SCANS`] at a time and one per client (`limits`).

mod admission;
mod dashboard;
mod limits;
mod serve;
mod sever;
mod substrate;
mod views;

pub use admission::{MAX_BATCH as MAX_ADMISSION_BATCH, QUEUE as ADMISSION_QUEUE};
pub use dashboard::{Dashboard, DashboardLayer};
pub use views::{FinalityWatch, MAX_VIEW_ENTRIES};

use crate::blobs::{BlobError, BlobStore, FetchFailure, MAX_BLOB_SIZE};
use crate::chain::{Chain, ChainError, ChainEvent, StoredBlock, View};
use crate::consensus::{BlobFetcher, FetchClass, FetchError};
use crate::txpool::PoolError;
use agora_primitives::smt::{self, Proof};
use agora_primitives::storage::StateRead;
use agora_primitives::{AccountId, AccountParseError, BlockNumber, Hash, Nonce};
use agora_rpc_api::{
    method, AccountBalance, AgoraApiServer, AuthorApiServer, AuthorWatchApiServer, BlobApiServer,
    BlobPresence, Block, ChainApiServer, ChainHeadsApiServer, EncodedEvents, Error, ErrorCode,
    EventsJson, ExtrinsicStatus, Header, Health, Hex, PaymentApiServer, ReadProof, RpcApiServer,
    RpcMethods, RuntimeVersion, SignedBlock, StateApiServer, StateWatchApiServer, StorageChangeSet,
    SystemApiServer, SystemProperties, ValidatorKeys, ViewApiServer,
};
use agora_runtime::block::Header as RuntimeHeader;
use agora_runtime::executive::TransactionError;
use agora_runtime::extrinsic::ExtrinsicError;
use jsonrpsee::core::{async_trait, SubscriptionResult};
use jsonrpsee::server::ServerHandle;
use jsonrpsee::{PendingSubscriptionSink, RpcModule, SubscriptionMessage};
use parity_scale_codec::{Decode, Encode};
use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::sync::Arc;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::Semaphore;

/// Error codes; see [`agora_rpc_api`]'s documentation.
pub use agora_rpc_api::codes;
pub use agora_rpc_api::{MAX_BODY_BYTES, MAX_KEYS_PER_CALL};

pub use agora_rpc_api::limits::{MAX_BLOB_TRANSFERS, MAX_SCANS, MAX_SUBSCRIPTIONS_PER_CONNECTION};

/// The server: what every method reads. Cheap to clone (one clone per API trait).
#[derive(Clone)]
struct Rpc {
    chain: Chain,
    blobs: Arc<BlobStore>,
    /// Fetches registered blobs this node lacks from its peers (`None`: this node only).
    fetcher: Option<BlobFetcher>,
    /// Bounds the blob transfers running at once.
    transfers: Arc<Semaphore>,
    /// When this node saw blocks finalized, for `agora_chain`.
    finality: Arc<FinalityWatch>,
    /// Clients' extrinsics, admitted in batches.
    admission: admission::Admission,
}

fn pool_error(e: PoolError) -> Error {
    let code = match &e {
        PoolError::Invalid(TransactionError::Extrinsic(
            ExtrinsicError::Malformed(_)
            | ExtrinsicError::TrailingBytes(_)
            | ExtrinsicError::UnsupportedVersion(_),
        )) => ErrorCode::BadExtrinsic,
        PoolError::AlreadyImported(_) => ErrorCode::AlreadyImported,
        PoolError::Full(_) => ErrorCode::PoolFull,
        _ => ErrorCode::InvalidTransaction,
    };
    Error::new(code, e.to_string())
}

fn bad_extrinsic(hex: &Hex) -> Result<Vec<u8>, Error> {
    hex.decode()
        .map_err(|e| Error::new(ErrorCode::BadExtrinsic, e.to_string()))
}

fn parse_account(text: &str) -> Result<AccountId, Error> {
    AccountId::from_ss58_or_hex(text).map_err(|e| match e {
        AccountParseError::Hex(e) => Error::invalid_params(e.to_string()),
        AccountParseError::Ss58(e) => Error::invalid_params(format!("address {text:?}: {e}")),
    })
}

/// `key` as bytes, or invalid params naming it as `what`.
fn parse_key(what: &str, key: &Hex) -> Result<Vec<u8>, Error> {
    key.decode()
        .map_err(|e| Error::invalid_params(format!("{what}: {e}")))
}

/// Optional block hash parameter → stored block, or "unknown block".
fn block_at(chain: &Chain, at: Option<Hash>) -> Result<StoredBlock, Error> {
    let hash = at.unwrap_or_else(|| chain.best_hash());
    chain
        .block(&hash)
        .map_err(Error::storage)?
        .ok_or_else(|| Error::unknown_block(&hash))
}

/// Optional block hash parameter → header, or "unknown block".
fn header_at(chain: &Chain, at: Option<Hash>) -> Result<RuntimeHeader, Error> {
    let hash = at.unwrap_or_else(|| chain.best_hash());
    chain.header(&hash).map_err(|e| match e {
        ChainError::UnknownBlock(_) => Error::unknown_block(&hash),
        other => Error::storage(other),
    })
}

/// Reads `key` in the state after block `at` (default: best), or one of the items served
/// beside the state ([`substrate::virtual_read`]).
fn read_storage(chain: &Chain, key: &[u8], at: Option<Hash>) -> Result<Option<Vec<u8>>, Error> {
    match substrate::virtual_read(chain, key, at) {
        Some(value) => value,
        None => read_native(chain, key, at),
    }
}

/// Reads `key` in the state after block `at` (default: best).
fn read_native(chain: &Chain, key: &[u8], at: Option<Hash>) -> Result<Option<Vec<u8>>, Error> {
    if let Some(view) = chain.view(at) {
        return Ok(view.get(key));
    }
    // A finalized block below the head: walk its state root in the tree.
    let header = header_at(chain, at)?;
    let store = chain
        .view(None)
        .ok_or_else(|| Error::storage("best state unavailable"))?;
    smt::get(&store, header.state_root, key).map_err(Error::storage)
}

/// The state after block `at` (default: best) as a view whose keys can be listed, or 4004 for
/// a known block whose state cannot be (a finalized block below the head), or "unknown block".
fn iterable_view(chain: &Chain, at: Option<Hash>) -> Result<View, Error> {
    chain.view(at).ok_or_else(|| match header_at(chain, at) {
        Ok(header) => Error::new(
            ErrorCode::StateNotIterable,
            format!(
                "the keys of block #{} ({}) cannot be listed: only the finalized head and \
                 executed unfinalized blocks have an iterable state",
                header.number(),
                header.hash()
            ),
        ),
        Err(unknown) => unknown,
    })
}

/// The SCALE value at `key` after block `at`, or its default if absent.
fn read_value<T: Decode + Default>(
    chain: &Chain,
    key: &[u8],
    at: Option<Hash>,
) -> Result<T, Error> {
    match read_storage(chain, key, at)? {
        None => Ok(T::default()),
        Some(bytes) => T::decode(&mut &bytes[..]).map_err(Error::storage),
    }
}

/// The on-chain registration of blob `hash` in the state after block `at` (default: best).
fn registered_blob(
    chain: &Chain,
    hash: &Hash,
    at: Option<Hash>,
) -> Result<Option<pallet_jobs::BlobInfo>, Error> {
    let key = pallet_jobs::Blobs::key(hash);
    read_storage(chain, &key, at)?
        .map(|bytes| {
            pallet_jobs::BlobInfo::decode(&mut &bytes[..]).map_err(|e| {
                Error::storage(format!(
                    "the registration of blob {hash} does not decode: {e}"
                ))
            })
        })
        .transpose()
}

fn blob_error(e: BlobError) -> Error {
    let code = match &e {
        BlobError::Corrupt(_) => ErrorCode::BlobCorrupt,
        BlobError::TooLarge { .. } => ErrorCode::BlobTooLarge,
        BlobError::HashMismatch { .. } => ErrorCode::InvalidParams,
        BlobError::Io { .. } | BlobError::Registry { .. } => ErrorCode::Storage,
    };
    Error::new(code, e.to_string())
}

/// `blob_put`: checks and stores one blob given as hex, whose hash the caller may name
/// (`claimed`). Runs on a blocking thread.
fn put_blob(
    chain: &Chain,
    store: &BlobStore,
    hex: &str,
    claimed: Option<Hash>,
) -> Result<Hash, Error> {
    let digits = hex.strip_prefix("0x").unwrap_or(hex);
    // Refused before decoding: the text alone says the blob is too large.
    let size = u64::try_from(digits.len() / 2).unwrap_or(u64::MAX);
    if size > MAX_BLOB_SIZE {
        return Err(Error::new(
            ErrorCode::BlobTooLarge,
            format!("blob of {size} bytes is over the limit of {MAX_BLOB_SIZE} bytes"),
        ));
    }
    // With a hash named, a blob the node would not keep is refused before decoding and
    // hashing up to 64 MiB of it: the registration and the text's length decide.
    if let Some(claimed) = claimed {
        registered_with_size(chain, &claimed, size)?;
    }
    // Not `Hex::decode`: its error repeats the whole input, up to 128 MiB of it.
    let bytes = hex::decode(digits)
        .map_err(|e| Error::invalid_params(format!("blob bytes are not hex: {e}")))?;
    let hash = Hash::of(&bytes);
    if let Some(claimed) = claimed.filter(|claimed| *claimed != hash) {
        return Err(Error::invalid_params(format!(
            "the blob's bytes hash to {hash}, not to the hash given, {claimed}"
        )));
    }
    let size = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    registered_with_size(chain, &hash, size)?;
    store.put(&hash, &bytes).map_err(blob_error)?;
    Ok(hash)
}

/// Refuses `hash` unless the best state registers it with `size` bytes.
fn registered_with_size(chain: &Chain, hash: &Hash, size: u64) -> Result<(), Error> {
    let info = registered_blob(chain, hash, None)?.ok_or_else(|| {
        Error::new(
            ErrorCode::BlobNotRegistered,
            format!("blob {hash} is not registered on chain; register it first"),
        )
    })?;
    if info.size != size {
        return Err(Error::new(
            ErrorCode::BlobSizeMismatch,
            format!(
                "blob {hash} is registered with a size of {} bytes but {size} bytes were sent",
                info.size
            ),
        ));
    }
    Ok(())
}

/// `blob_get`: one stored blob as hex. Runs on a blocking thread. `fetched`: why fetching it
/// from peers failed, if it was tried.
fn get_blob(store: &BlobStore, hash: &Hash, fetched: Option<FetchError>) -> Result<Hex, Error> {
    match store.get(hash).map_err(blob_error)? {
        Some(bytes) => Ok(Hex::encode(&bytes)),
        None => Err(Error::new(
            ErrorCode::BlobNotStored,
            match fetched {
                Some(error) => format!("blob {hash} is not stored on this node ({error})"),
                None => format!("blob {hash} is not stored on this node"),
            },
        )),
    }
}

impl Rpc {
    /// If blob `hash` is registered but not stored here, fetches it from peers and stores it.
    /// Returns why that failed, if it was tried and no peer delivered it.
    async fn fetch_missing(&self, hash: Hash) -> Result<Option<FetchError>, Error> {
        let Some(fetcher) = self.fetcher.as_ref().filter(|f| f.has_peers()) else {
            return Ok(None);
        };
        match crate::blobs::fetch_registered(
            &self.chain,
            &self.blobs,
            fetcher,
            hash,
            FetchClass::Client,
        )
        .await
        {
            Ok(_) => Ok(None),
            Err(FetchFailure::Fetch(error)) => Ok(Some(error)),
            Err(FetchFailure::Store(error)) => Err(blob_error(error)),
            Err(error @ FetchFailure::Registry { .. }) => Err(Error::storage(error.to_string())),
        }
    }

    /// Runs `task` on a blocking thread while holding one of the blob-transfer permits.
    async fn blob_transfer<T: Send + 'static>(
        &self,
        what: &str,
        task: impl FnOnce() -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        let _permit = self
            .transfers
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| Error::storage(format!("blob transfers closed: {e}")))?;
        tokio::task::spawn_blocking(task)
            .await
            .map_err(|e| Error::storage(format!("{what} task failed: {e}")))?
    }
}

impl SystemApiServer for Rpc {
    fn health(&self) -> Result<Health, Error> {
        let validators = self.chain.spec().validators.len();
        Ok(Health {
            is_syncing: false,
            peers: u64::try_from(validators.saturating_sub(1)).unwrap_or(u64::MAX),
            should_have_peers: validators > 1,
        })
    }

    fn chain(&self) -> Result<String, Error> {
        Ok(self.chain.spec().name.clone())
    }

    fn name(&self) -> Result<String, Error> {
        Ok("agora-node".to_owned())
    }

    fn version(&self) -> Result<String, Error> {
        Ok(env!("CARGO_PKG_VERSION").to_owned())
    }

    fn properties(&self) -> Result<SystemProperties, Error> {
        Ok(SystemProperties::current())
    }

    fn account_next_index(&self, address: String) -> Result<Nonce, Error> {
        Ok(self.chain.next_nonce(&parse_account(&address)?))
    }
}

impl ChainApiServer for Rpc {
    fn header(&self, hash: Option<Hash>) -> Result<Option<Header>, Error> {
        match header_at(&self.chain, hash) {
            Ok(header) => Ok(Some(Header::from(&header))),
            Err(e) if e.code == ErrorCode::UnknownBlock => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn block(&self, hash: Option<Hash>) -> Result<Option<SignedBlock>, Error> {
        let hash = hash.unwrap_or_else(|| self.chain.best_hash());
        let Some(stored) = self.chain.block(&hash).map_err(Error::storage)? else {
            return Ok(None);
        };
        let certificate = self.chain.db().certificate(&hash).map_err(Error::storage)?;
        Ok(Some(SignedBlock {
            block: Block {
                extrinsics: stored
                    .block
                    .extrinsics
                    .iter()
                    .map(|xt| Hex::encode(&xt.encode()))
                    .collect(),
                header: Header::from(&stored.block.header),
            },
            finality_certificate: certificate
                .filter(|c| !c.is_empty())
                .map(|c| Hex::encode(&c)),
        }))
    }

    fn block_hash(&self, number: Option<BlockNumber>) -> Result<Option<Hash>, Error> {
        match number {
            None => Ok(Some(self.chain.best_hash())),
            Some(number) => self.chain.block_hash(number).map_err(Error::storage),
        }
    }

    fn finalized_head(&self) -> Result<Hash, Error> {
        Ok(self.chain.finalized_head().0)
    }
}

#[async_trait]
impl ChainHeadsApiServer for Rpc {
    async fn subscribe_new_heads(&self, pending: PendingSubscriptionSink) -> SubscriptionResult {
        follow_heads(pending, &self.chain, false).await
    }

    async fn subscribe_finalized_heads(
        &self,
        pending: PendingSubscriptionSink,
    ) -> SubscriptionResult {
        follow_heads(pending, &self.chain, true).await
    }
}

impl StateApiServer for Rpc {
    fn storage(&self, key: Hex, hash: Option<Hash>) -> Result<Option<Hex>, Error> {
        let key = key
            .decode()
            .map_err(|e| Error::invalid_params(e.to_string()))?;
        Ok(read_storage(&self.chain, &key, hash)?.map(|value| Hex::encode(&value)))
    }

    fn read_proof(&self, keys: Vec<Hex>, hash: Option<Hash>) -> Result<ReadProof, Error> {
        if keys.len() > MAX_KEYS_PER_CALL {
            return Err(Error::invalid_params(format!(
                "{} keys requested, at most {MAX_KEYS_PER_CALL} per call",
                keys.len()
            )));
        }
        let header = header_at(&self.chain, hash)?;
        let store = self
            .chain
            .view(None)
            .ok_or_else(|| Error::storage("best state unavailable"))?;
        let mut proof = Vec::with_capacity(keys.len());
        for key in keys {
            let key = key
                .decode()
                .map_err(|e| Error::invalid_params(e.to_string()))?;
            let one: Proof = smt::prove(&store, header.state_root, &key).map_err(Error::storage)?;
            proof.push(Hex::encode(&one.encode()));
        }
        Ok(ReadProof {
            at: header.hash(),
            proof,
        })
    }

    fn keys_paged(
        &self,
        prefix: Option<Hex>,
        count: u32,
        start_key: Option<Hex>,
        hash: Option<Hash>,
    ) -> Result<Vec<Hex>, Error> {
        let count = usize::try_from(count).unwrap_or(usize::MAX);
        if count > MAX_KEYS_PER_CALL {
            return Err(Error::invalid_params(format!(
                "count {count} is over the limit of {MAX_KEYS_PER_CALL} keys per call"
            )));
        }
        // Substrate takes `null` for the empty prefix.
        let prefix = match prefix {
            Some(prefix) => parse_key("prefix", &prefix)?,
            None => Vec::new(),
        };
        let start = start_key
            .map(|start| parse_key("startKey", &start))
            .transpose()?;
        let view = iterable_view(&self.chain, hash)?;
        let mut keys = Vec::new();
        if count == 0 {
            return Ok(keys);
        }
        view.try_for_each_prefixed(&prefix, start.as_deref(), &mut |key, _| {
            keys.push(Hex::encode(key));
            if keys.len() >= count {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .map_err(Error::storage)?;
        Ok(keys)
    }

    fn runtime_version(&self, hash: Option<Hash>) -> Result<RuntimeVersion, Error> {
        substrate::runtime_version(&self.chain, hash)
    }

    fn metadata(&self, hash: Option<Hash>) -> Result<Hex, Error> {
        substrate::runtime_metadata(&self.chain, hash)
    }

    fn query_storage_at(
        &self,
        keys: Vec<Hex>,
        hash: Option<Hash>,
    ) -> Result<Vec<StorageChangeSet>, Error> {
        if keys.len() > MAX_KEYS_PER_CALL {
            return Err(Error::invalid_params(format!(
                "{} keys requested, at most {MAX_KEYS_PER_CALL} per call",
                keys.len()
            )));
        }
        // One block for every key, even if the best block moves meanwhile.
        let at = hash.unwrap_or_else(|| self.chain.best_hash());
        header_at(&self.chain, Some(at))?;
        let mut changes = Vec::with_capacity(keys.len());
        for key in keys {
            let key = parse_key("key", &key)?;
            let value = read_storage(&self.chain, &key, Some(at))?;
            changes.push((Hex::encode(&key), value.map(|v| Hex::encode(&v))));
        }
        Ok(vec![StorageChangeSet { block: at, changes }])
    }
}

#[async_trait]
impl AuthorApiServer for Rpc {
    async fn submit_extrinsic(&self, extrinsic: Hex) -> Result<Hash, Error> {
        let bytes = bad_extrinsic(&extrinsic)?;
        self.admission.submit(bytes).await
    }

    fn validator_keys(&self) -> Result<Option<ValidatorKeys>, Error> {
        Ok(self
            .chain
            .validator_keys()
            .map(|(consensus_key, beacon_key, binding)| ValidatorKeys {
                beacon_key,
                binding: Hex::encode(&binding),
                consensus_key,
            }))
    }
}

#[async_trait]
impl AuthorWatchApiServer for Rpc {
    async fn submit_and_watch_extrinsic(
        &self,
        pending: PendingSubscriptionSink,
        extrinsic: Hex,
    ) -> SubscriptionResult {
        watch_extrinsic(pending, &self.chain, &self.admission, &extrinsic).await
    }
}

impl AgoraApiServer for Rpc {
    fn balance(&self, address: String, hash: Option<Hash>) -> Result<AccountBalance, Error> {
        let who = parse_account(&address)?;
        let data: pallet_balances::AccountData =
            read_value(&self.chain, &pallet_balances::Account::key(&who), hash)?;
        let info: pallet_system::AccountInfo =
            read_value(&self.chain, &pallet_system::AccountNonce::key(&who), hash)?;
        Ok(AccountBalance {
            address: who,
            free: data.free,
            reserved: data.reserved,
            total: data.total(),
            nonce: info.nonce,
        })
    }

    fn events(&self, hash: Option<Hash>) -> Result<EventsJson, Error> {
        let stored = self.events_block(hash)?;
        let records = agora_runtime::decode_events(&stored.events).map_err(Error::storage)?;
        EventsJson::from_records(&records).map_err(Error::storage)
    }

    fn encoded_events(&self, hash: Option<Hash>) -> Result<EncodedEvents, Error> {
        Ok(EncodedEvents::from_raw(&self.events_block(hash)?.events))
    }
}

impl Rpc {
    /// The block the event methods read: `hash`, or the finalized head.
    fn events_block(&self, hash: Option<Hash>) -> Result<StoredBlock, Error> {
        let at = hash.unwrap_or_else(|| self.chain.finalized_head().0);
        block_at(&self.chain, Some(at))
    }
}

#[async_trait]
impl BlobApiServer for Rpc {
    async fn blob_put(&self, blob: Hex, hash: Option<Hash>) -> Result<Hash, Error> {
        let (chain, store) = (self.chain.clone(), self.blobs.clone());
        let hex = blob.into_string();
        self.blob_transfer(method::BLOB_PUT, move || {
            put_blob(&chain, &store, &hex, hash)
        })
        .await
    }

    async fn blob_get(&self, hash: Hash) -> Result<Hex, Error> {
        let fetched = self.fetch_missing(hash).await?;
        let store = self.blobs.clone();
        self.blob_transfer(method::BLOB_GET, move || get_blob(&store, &hash, fetched))
            .await
    }

    fn blob_has(&self, hash: Hash) -> Result<BlobPresence, Error> {
        let registered = registered_blob(&self.chain, &hash, None)?;
        Ok(BlobPresence {
            registered: registered.is_some(),
            size: registered.map(|info| info.size),
            stored: self.blobs.has(&hash),
        })
    }
}

/// `rpc_methods`: the names, fixed once every other method is registered.
struct Methods(Vec<String>);

impl RpcApiServer for Methods {
    fn methods(&self) -> Result<RpcMethods, Error> {
        Ok(RpcMethods {
            methods: self.0.clone(),
        })
    }
}

/// Builds the RPC module: every trait of [`agora_rpc_api`], served by one [`Chain`] and
/// [`BlobStore`], and starts its admission thread (`admission`).
pub fn module(
    chain: Chain,
    blobs: Arc<BlobStore>,
    fetcher: Option<BlobFetcher>,
) -> std::io::Result<RpcModule<()>> {
    let rpc = Rpc {
        finality: FinalityWatch::start(&chain),
        admission: admission::Admission::start(chain.clone())?,
        chain,
        blobs,
        fetcher,
        transfers: Arc::new(Semaphore::new(MAX_BLOB_TRANSFERS)),
    };
    let mut module = RpcModule::new(());
    merge_all(&mut module, rpc).map_err(std::io::Error::other)?;
    Ok(module)
}

fn merge_all(
    module: &mut RpcModule<()>,
    rpc: Rpc,
) -> Result<(), jsonrpsee::core::RegisterMethodError> {
    module.merge(SystemApiServer::into_rpc(rpc.clone()))?;
    module.merge(ChainApiServer::into_rpc(rpc.clone()))?;
    module.merge(ChainHeadsApiServer::into_rpc(rpc.clone()))?;
    module.merge(StateApiServer::into_rpc(rpc.clone()))?;
    module.merge(StateWatchApiServer::into_rpc(rpc.clone()))?;
    module.merge(PaymentApiServer::into_rpc(rpc.clone()))?;
    module.merge(AuthorApiServer::into_rpc(rpc.clone()))?;
    module.merge(AuthorWatchApiServer::into_rpc(rpc.clone()))?;
    module.merge(AgoraApiServer::into_rpc(rpc.clone()))?;
    module.merge(ViewApiServer::into_rpc(rpc.clone()))?;
    module.merge(BlobApiServer::into_rpc(rpc))?;
    let mut names: Vec<String> = module.method_names().map(str::to_owned).collect();
    names.push(method::RPC_METHODS.to_owned());
    names.sort();
    module.merge(Methods(names).into_rpc())?;
    Ok(())
}

fn message<T: serde::Serialize>(item: &T) -> Result<SubscriptionMessage, serde_json::Error> {
    Ok(SubscriptionMessage::from(serde_json::value::to_raw_value(
        item,
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
    sink.send(message(&Header::from(&current))?).await?;
    loop {
        let header = match events.recv().await {
            Ok(ChainEvent::NewHead(header)) if !finalized => header,
            Ok(ChainEvent::Finalized { header, .. }) if finalized => header,
            Ok(_) => continue,
            // A slow subscriber missed some heads; carry on with the next.
            Err(RecvError::Lagged(_)) => continue,
            Err(RecvError::Closed) => return Ok(()),
        };
        sink.send(message(&Header::from(&header))?).await?;
    }
}

async fn watch_extrinsic(
    pending: PendingSubscriptionSink,
    chain: &Chain,
    admission: &admission::Admission,
    extrinsic: &Hex,
) -> SubscriptionResult {
    let bytes = match bad_extrinsic(extrinsic) {
        Ok(bytes) => bytes,
        Err(e) => {
            pending.reject(e).await;
            return Ok(());
        }
    };
    // Subscribe before submitting, so the finalization cannot slip past unseen.
    let mut events = chain.subscribe();
    let hash = match admission.submit(bytes).await {
        Ok(hash) => hash,
        Err(e) => {
            pending.reject(e).await;
            return Ok(());
        }
    };
    let sink = pending.accept().await?;
    sink.send(message(&ExtrinsicStatus::Ready)?).await?;
    loop {
        match events.recv().await {
            Ok(ChainEvent::Finalized { header, extrinsics }) if extrinsics.contains(&hash) => {
                let status = ExtrinsicStatus::Finalized {
                    block: header.hash(),
                    number: header.number(),
                };
                sink.send(message(&status)?).await?;
                return Ok(());
            }
            Ok(ChainEvent::Dropped(hashes)) if hashes.contains(&hash) => {
                sink.send(message(&ExtrinsicStatus::Dropped)?).await?;
                return Ok(());
            }
            Ok(_) | Err(RecvError::Lagged(_)) => continue,
            Err(RecvError::Closed) => return Ok(()),
        }
    }
}

/// Starts the server on `addr`, serving blobs from `blobs`, and the dashboard at `/` unless
/// `dashboard` is false.
pub async fn start(
    chain: Chain,
    blobs: Arc<BlobStore>,
    fetcher: Option<BlobFetcher>,
    addr: SocketAddr,
    dashboard: bool,
) -> std::io::Result<(SocketAddr, ServerHandle)> {
    let (lookup, held) = (chain.clone(), blobs.clone());
    let registry: limits::Registry = Arc::new(move |hash: &Hash| {
        // A registry that cannot be read admits nothing large: the upload is refused as
        // unregistered, and the method would refuse it too.
        let size = registered_blob(&lookup, hash, None).ok().flatten()?.size;
        Some(limits::Registered {
            size,
            stored: held.has(hash),
        })
    });
    let module = module(chain, blobs, fetcher)?;
    serve::start(module.into(), addr, dashboard, registry).await
}
