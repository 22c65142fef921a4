//! The method traits. `#[rpc(server, client)]` generates, for each trait `XApi`, a server trait
//! `XApiServer` (with `into_rpc`) the node implements, and a client trait `XApiClient` that
//! every jsonrpsee client implements. Subscriptions live in traits of their own
//! ([`ChainHeadsApiClient`], [`AuthorWatchApiClient`]) because their client side needs a
//! WebSocket client, while the others work over HTTP as well.
//!
//! Parameters named `hash` choose the block (`None`: the default the method documents).

use crate::error::Error;
use crate::events::{EncodedEvents, EventsJson};
use crate::types::{
    AccountBalance, BlobPresence, DispatchInfo, ExtrinsicStatus, Header, Health, Hex, ReadProof,
    RpcMethods, RuntimeVersion, SignedBlock, StorageChangeSet, SystemProperties, ValidatorKeys,
};
use crate::views::{AccountReport, ChainReport, JobReport, MarketReport};
use agora_primitives::{BlockNumber, Hash, Nonce};
use jsonrpsee::core::SubscriptionResult;
use jsonrpsee::proc_macros::rpc;

/// `system_*`: the node and accounts' next nonces.
#[rpc(server, client, namespace = "system")]
pub trait SystemApi {
    /// `system_health`.
    #[method(name = "health")]
    fn health(&self) -> Result<Health, Error>;

    /// `system_chain`: the chain spec's name.
    #[method(name = "chain")]
    fn chain(&self) -> Result<String, Error>;

    /// `system_name`: `"agora-node"`.
    #[method(name = "name")]
    fn name(&self) -> Result<String, Error>;

    /// `system_version`: the node's version.
    #[method(name = "version")]
    fn version(&self) -> Result<String, Error>;

    /// `system_properties`: the SS58 prefix and the token's symbol and decimals, as wallets
    /// read them.
    #[method(name = "properties")]
    fn properties(&self) -> Result<SystemProperties, Error>;

    /// `system_accountNextIndex`: the next nonce of `address` (SS58, or `0x`-hex of the 32
    /// bytes), counting extrinsics waiting in the pool.
    #[method(name = "accountNextIndex")]
    fn account_next_index(&self, address: String) -> Result<Nonce, Error>;
}

/// `chain_*` calls: headers, blocks, hashes.
#[rpc(server, client, namespace = "chain")]
pub trait ChainApi {
    /// `chain_getHeader`: the header of block `hash` (default: best); `None` if unknown.
    #[method(name = "getHeader")]
    fn header(&self, hash: Option<Hash>) -> Result<Option<Header>, Error>;

    /// `chain_getBlock`: block `hash` (default: best) with its finality certificate; `None`
    /// if unknown.
    #[method(name = "getBlock")]
    fn block(&self, hash: Option<Hash>) -> Result<Option<SignedBlock>, Error>;

    /// `chain_getBlockHash`: the hash of block `number` on the best chain (default: the best
    /// block); `None` if there is none.
    #[method(name = "getBlockHash")]
    fn block_hash(&self, number: Option<BlockNumber>) -> Result<Option<Hash>, Error>;

    /// `chain_getFinalizedHead`.
    #[method(name = "getFinalizedHead")]
    fn finalized_head(&self) -> Result<Hash, Error>;
}

/// `chain_subscribe*Heads`: new best and finalized headers (WebSocket only).
#[rpc(server, client, namespace = "chain")]
pub trait ChainHeadsApi {
    /// `chain_subscribeNewHeads`: every new best header as `chain_newHead`, starting with the
    /// current one.
    #[subscription(
        name = "subscribeNewHeads" => "newHead",
        unsubscribe = "unsubscribeNewHeads",
        item = Header
    )]
    async fn subscribe_new_heads(&self) -> SubscriptionResult;

    /// `chain_subscribeFinalizedHeads`: every finalized header as `chain_finalizedHead`,
    /// starting with the current one.
    #[subscription(
        name = "subscribeFinalizedHeads" => "finalizedHead",
        unsubscribe = "unsubscribeFinalizedHeads",
        item = Header
    )]
    async fn subscribe_finalized_heads(&self) -> SubscriptionResult;
}

/// `state_*`: storage reads, proofs and listings.
#[rpc(server, client, namespace = "state")]
pub trait StateApi {
    /// `state_getStorage`: the value at `key` after block `hash` (default: best).
    #[method(name = "getStorage")]
    fn storage(&self, key: Hex, hash: Option<Hash>) -> Result<Option<Hex>, Error>;

    /// `state_getReadProof`: a sparse-Merkle proof per key against block `hash`'s state root
    /// (at most [`MAX_KEYS_PER_CALL`](crate::MAX_KEYS_PER_CALL) keys).
    #[method(name = "getReadProof", blocking)]
    fn read_proof(&self, keys: Vec<Hex>, hash: Option<Hash>) -> Result<ReadProof, Error>;

    /// `state_getKeysPaged`: up to `count` keys (at most
    /// [`MAX_KEYS_PER_CALL`](crate::MAX_KEYS_PER_CALL)) starting with `prefix` (`None`: any),
    /// strictly after `start_key`, in key order, in the state after block `hash` (default:
    /// best), which must be the finalized head or an unfinalized block.
    #[method(name = "getKeysPaged", blocking)]
    fn keys_paged(
        &self,
        prefix: Option<Hex>,
        count: u32,
        start_key: Option<Hex>,
        hash: Option<Hash>,
    ) -> Result<Vec<Hex>, Error>;

    /// `state_getRuntimeVersion`: the runtime's name and versions at block `hash` (default:
    /// best).
    #[method(name = "getRuntimeVersion")]
    fn runtime_version(&self, hash: Option<Hash>) -> Result<RuntimeVersion, Error>;

    /// `state_getMetadata`: the SCALE-encoded runtime metadata (Substrate's V14, magic
    /// `meta` included) at block `hash` (default: best).
    #[method(name = "getMetadata")]
    fn metadata(&self, hash: Option<Hash>) -> Result<Hex, Error>;

    /// `state_queryStorageAt`: the values at `keys` after block `hash` (default: best), all
    /// read at one block (at most [`MAX_KEYS_PER_CALL`](crate::MAX_KEYS_PER_CALL) keys).
    #[method(name = "queryStorageAt", blocking)]
    fn query_storage_at(
        &self,
        keys: Vec<Hex>,
        hash: Option<Hash>,
    ) -> Result<Vec<StorageChangeSet>, Error>;
}

/// `state_subscribe*`: the runtime version and storage values as new best blocks arrive
/// (WebSocket only).
#[rpc(server, client, namespace = "state")]
pub trait StateWatchApi {
    /// `state_subscribeRuntimeVersion`: the runtime version as `state_runtimeVersion`, now and
    /// whenever it changes (it does not while the node runs: one runtime per binary).
    #[subscription(
        name = "subscribeRuntimeVersion" => "runtimeVersion",
        unsubscribe = "unsubscribeRuntimeVersion",
        item = RuntimeVersion
    )]
    async fn subscribe_runtime_version(&self) -> SubscriptionResult;

    /// `state_subscribeStorage`: the values at `keys` (1 to
    /// [`MAX_KEYS_PER_CALL`](crate::MAX_KEYS_PER_CALL) of them; watching every key is not
    /// offered) as `state_storage`: every key at the best block first, then the keys whose
    /// value changed, at each new best block.
    /// A client watches at most [`MAX_WATCHED_KEYS_PER_CLIENT`](crate::limits::MAX_WATCHED_KEYS_PER_CLIENT)
    /// keys over all its subscriptions.
    #[subscription(
        name = "subscribeStorage" => "storage",
        unsubscribe = "unsubscribeStorage",
        item = StorageChangeSet,
        with_extensions
    )]
    async fn subscribe_storage(&self, keys: Option<Vec<Hex>>) -> SubscriptionResult;
}

/// `payment_queryInfo`: what an extrinsic will pay.
#[rpc(server, client, namespace = "payment")]
pub trait PaymentApi {
    /// `payment_queryInfo`: the weight and the fee (without tip) of the SCALE-encoded
    /// `extrinsic` if it were included after block `hash` (default: best). The extrinsic is
    /// decoded, not validated: its signature and nonce are not checked.
    #[method(name = "queryInfo")]
    fn query_info(&self, extrinsic: Hex, hash: Option<Hash>) -> Result<DispatchInfo, Error>;
}

/// `author_submitExtrinsic` and `author_validatorKeys`.
#[rpc(server, client, namespace = "author")]
pub trait AuthorApi {
    /// `author_submitExtrinsic`: puts the SCALE-encoded extrinsic in the pool; its hash.
    #[method(name = "submitExtrinsic")]
    async fn submit_extrinsic(&self, extrinsic: Hex) -> Result<Hash, Error>;

    /// `author_validatorKeys`: the public keys of this node's validator key, or `null` for a
    /// node without one. What Substrate's `author_rotateKeys` answers, without making keys:
    /// an operator registers the node's keys without copying them from `agora-node key
    /// inspect`. Public keys only; the secret never leaves the node.
    #[method(name = "validatorKeys")]
    fn validator_keys(&self) -> Result<Option<ValidatorKeys>, Error>;
}

/// `author_submitAndWatchExtrinsic` (WebSocket only).
#[rpc(server, client, namespace = "author")]
pub trait AuthorWatchApi {
    /// `author_submitAndWatchExtrinsic`: submits like `author_submitExtrinsic` (a refusal
    /// rejects the subscription with the same error), then notifies `author_extrinsicUpdate`:
    /// `Ready`, then `Finalized` or `Dropped`.
    #[subscription(
        name = "submitAndWatchExtrinsic" => "extrinsicUpdate",
        unsubscribe = "unwatchExtrinsic",
        item = ExtrinsicStatus
    )]
    async fn submit_and_watch_extrinsic(&self, extrinsic: Hex) -> SubscriptionResult;
}

/// `agora_*`: balances and events.
#[rpc(server, client, namespace = "agora")]
pub trait AgoraApi {
    /// `agora_balance`: the balances of `address` (SS58, or `0x`-hex of the 32 bytes) after
    /// block `hash` (default: best).
    #[method(name = "balance")]
    fn balance(&self, address: String, hash: Option<Hash>) -> Result<AccountBalance, Error>;

    /// `agora_events`: block `hash`'s events as JSON (default: the finalized head).
    #[method(name = "events")]
    fn events(&self, hash: Option<Hash>) -> Result<EventsJson, Error>;

    /// `agora_encodedEvents`: block `hash`'s events SCALE-encoded (default: the finalized
    /// head); [`EncodedEvents::decode`] gives the runtime's event records.
    #[method(name = "encodedEvents")]
    fn encoded_events(&self, hash: Option<Hash>) -> Result<EncodedEvents, Error>;
}

/// `agora_*` views: the ledger's state summarized for people (see [`crate::views`]).
#[rpc(server, client, namespace = "agora")]
pub trait ViewApi {
    /// `agora_chain`: heights, the committee, the pool and the most recent blocks with their
    /// timestamps and this node's observed finality latency.
    #[method(name = "chain", blocking)]
    fn chain_report(&self) -> Result<ChainReport, Error>;

    /// `agora_market`: the order book, clearings, queue times and shares after block `hash`
    /// (default: best); every clearing the chain holds, newest first.
    #[method(name = "market", blocking)]
    fn market(&self, hash: Option<Hash>) -> Result<MarketReport, Error>;

    /// `agora_job`: job `id` after block `hash` (default: best); stage `unknown` if the chain
    /// holds nothing under that id.
    #[method(name = "job")]
    fn job(&self, id: u64, hash: Option<Hash>) -> Result<JobReport, Error>;

    /// `agora_jobs`: every job the chain holds (live, or ended within its retention) and every
    /// open bid, after block `hash` (default: best), newest first.
    #[method(name = "jobs", blocking)]
    fn jobs(&self, hash: Option<Hash>) -> Result<Vec<JobReport>, Error>;

    /// `agora_account`: balances, stake, roles, open offers and bids, and jobs of `address`
    /// (SS58, or `0x`-hex of the 32 bytes) after block `hash` (default: best).
    #[method(name = "account", blocking)]
    fn account(&self, address: String, hash: Option<Hash>) -> Result<AccountReport, Error>;
}

/// `blob_*`: the node's content-addressed blob store.
#[rpc(server, client, namespace = "blob")]
pub trait BlobApi {
    /// `blob_put`: stores `blob`, which must be registered on chain (best state) with its
    /// size; the blake3 hash of the bytes. Idempotent. Given `hash` (the blob's, as
    /// registered), the node refuses an unregistered blob or a wrong size from the text's
    /// length alone, before decoding or hashing a byte, and then checks the bytes against it.
    #[method(name = "put")]
    async fn blob_put(&self, blob: Hex, hash: Option<Hash>) -> Result<Hash, Error>;

    /// `blob_get`: the bytes of blob `hash`, checked against it.
    #[method(name = "get")]
    async fn blob_get(&self, hash: Hash) -> Result<Hex, Error>;

    /// `blob_has`: whether this node holds blob `hash` and whether the best state registers
    /// it.
    #[method(name = "has")]
    fn blob_has(&self, hash: Hash) -> Result<BlobPresence, Error>;
}

/// `rpc_methods`.
#[rpc(server, client, namespace = "rpc")]
pub trait RpcApi {
    /// `rpc_methods`: every method the node serves.
    #[method(name = "methods")]
    fn methods(&self) -> Result<RpcMethods, Error>;
}
