//! Every method name as a constant, for code that speaks raw JSON-RPC (tests of the wire
//! format, scripts' fixtures). Typed callers use the `*Client` traits instead. The crate's
//! tests check that [`ALL`] is exactly what the traits register.

/// `system_health`.
pub const SYSTEM_HEALTH: &str = "system_health";
/// `system_chain`.
pub const SYSTEM_CHAIN: &str = "system_chain";
/// `system_name`.
pub const SYSTEM_NAME: &str = "system_name";
/// `system_version`.
pub const SYSTEM_VERSION: &str = "system_version";
/// `system_properties`.
pub const SYSTEM_PROPERTIES: &str = "system_properties";
/// `system_accountNextIndex`.
pub const SYSTEM_ACCOUNT_NEXT_INDEX: &str = "system_accountNextIndex";
/// `chain_getHeader`.
pub const CHAIN_GET_HEADER: &str = "chain_getHeader";
/// `chain_getBlock`.
pub const CHAIN_GET_BLOCK: &str = "chain_getBlock";
/// `chain_getBlockHash`.
pub const CHAIN_GET_BLOCK_HASH: &str = "chain_getBlockHash";
/// `chain_getFinalizedHead`.
pub const CHAIN_GET_FINALIZED_HEAD: &str = "chain_getFinalizedHead";
/// `chain_subscribeNewHeads`.
pub const CHAIN_SUBSCRIBE_NEW_HEADS: &str = "chain_subscribeNewHeads";
/// `chain_unsubscribeNewHeads`.
pub const CHAIN_UNSUBSCRIBE_NEW_HEADS: &str = "chain_unsubscribeNewHeads";
/// `chain_newHead`: the notifications of [`CHAIN_SUBSCRIBE_NEW_HEADS`].
pub const CHAIN_NEW_HEAD: &str = "chain_newHead";
/// `chain_subscribeFinalizedHeads`.
pub const CHAIN_SUBSCRIBE_FINALIZED_HEADS: &str = "chain_subscribeFinalizedHeads";
/// `chain_unsubscribeFinalizedHeads`.
pub const CHAIN_UNSUBSCRIBE_FINALIZED_HEADS: &str = "chain_unsubscribeFinalizedHeads";
/// `chain_finalizedHead`: the notifications of [`CHAIN_SUBSCRIBE_FINALIZED_HEADS`].
pub const CHAIN_FINALIZED_HEAD: &str = "chain_finalizedHead";
/// `state_getStorage`.
pub const STATE_GET_STORAGE: &str = "state_getStorage";
/// `state_getReadProof`.
pub const STATE_GET_READ_PROOF: &str = "state_getReadProof";
/// `state_getKeysPaged`.
pub const STATE_GET_KEYS_PAGED: &str = "state_getKeysPaged";
/// `state_queryStorageAt`.
pub const STATE_QUERY_STORAGE_AT: &str = "state_queryStorageAt";
/// `state_getRuntimeVersion`.
pub const STATE_GET_RUNTIME_VERSION: &str = "state_getRuntimeVersion";
/// `state_getMetadata`.
pub const STATE_GET_METADATA: &str = "state_getMetadata";
/// `state_subscribeRuntimeVersion`.
pub const STATE_SUBSCRIBE_RUNTIME_VERSION: &str = "state_subscribeRuntimeVersion";
/// `state_unsubscribeRuntimeVersion`.
pub const STATE_UNSUBSCRIBE_RUNTIME_VERSION: &str = "state_unsubscribeRuntimeVersion";
/// `state_runtimeVersion`: the notifications of [`STATE_SUBSCRIBE_RUNTIME_VERSION`].
pub const STATE_RUNTIME_VERSION: &str = "state_runtimeVersion";
/// `state_subscribeStorage`.
pub const STATE_SUBSCRIBE_STORAGE: &str = "state_subscribeStorage";
/// `state_unsubscribeStorage`.
pub const STATE_UNSUBSCRIBE_STORAGE: &str = "state_unsubscribeStorage";
/// `state_storage`: the notifications of [`STATE_SUBSCRIBE_STORAGE`].
pub const STATE_STORAGE: &str = "state_storage";
/// `payment_queryInfo`.
pub const PAYMENT_QUERY_INFO: &str = "payment_queryInfo";
/// `author_submitExtrinsic`.
pub const AUTHOR_SUBMIT_EXTRINSIC: &str = "author_submitExtrinsic";
/// `author_validatorKeys`.
pub const AUTHOR_VALIDATOR_KEYS: &str = "author_validatorKeys";
/// `author_submitAndWatchExtrinsic`.
pub const AUTHOR_SUBMIT_AND_WATCH_EXTRINSIC: &str = "author_submitAndWatchExtrinsic";
/// `author_unwatchExtrinsic`.
pub const AUTHOR_UNWATCH_EXTRINSIC: &str = "author_unwatchExtrinsic";
/// `author_extrinsicUpdate`: the notifications of [`AUTHOR_SUBMIT_AND_WATCH_EXTRINSIC`].
pub const AUTHOR_EXTRINSIC_UPDATE: &str = "author_extrinsicUpdate";
/// `agora_balance`.
pub const AGORA_BALANCE: &str = "agora_balance";
/// `agora_events`.
pub const AGORA_EVENTS: &str = "agora_events";
/// `agora_encodedEvents`.
pub const AGORA_ENCODED_EVENTS: &str = "agora_encodedEvents";
/// `agora_chain`.
pub const AGORA_CHAIN: &str = "agora_chain";
/// `agora_market`.
pub const AGORA_MARKET: &str = "agora_market";
/// `agora_job`.
pub const AGORA_JOB: &str = "agora_job";
/// `agora_jobs`.
pub const AGORA_JOBS: &str = "agora_jobs";
/// `agora_account`.
pub const AGORA_ACCOUNT: &str = "agora_account";
/// `blob_put`.
pub const BLOB_PUT: &str = "blob_put";
/// `blob_get`.
pub const BLOB_GET: &str = "blob_get";
/// `blob_has`.
pub const BLOB_HAS: &str = "blob_has";
/// `rpc_methods`.
pub const RPC_METHODS: &str = "rpc_methods";

/// Every method the node serves, as `rpc_methods` lists them (sorted; subscribe and
/// unsubscribe methods included, notification names not: they are not methods).
pub const ALL: [&str; 41] = [
    AGORA_ACCOUNT,
    AGORA_BALANCE,
    AGORA_CHAIN,
    AGORA_ENCODED_EVENTS,
    AGORA_EVENTS,
    AGORA_JOB,
    AGORA_JOBS,
    AGORA_MARKET,
    AUTHOR_SUBMIT_AND_WATCH_EXTRINSIC,
    AUTHOR_SUBMIT_EXTRINSIC,
    AUTHOR_UNWATCH_EXTRINSIC,
    AUTHOR_VALIDATOR_KEYS,
    BLOB_GET,
    BLOB_HAS,
    BLOB_PUT,
    CHAIN_GET_BLOCK,
    CHAIN_GET_BLOCK_HASH,
    CHAIN_GET_FINALIZED_HEAD,
    CHAIN_GET_HEADER,
    CHAIN_SUBSCRIBE_FINALIZED_HEADS,
    CHAIN_SUBSCRIBE_NEW_HEADS,
    CHAIN_UNSUBSCRIBE_FINALIZED_HEADS,
    CHAIN_UNSUBSCRIBE_NEW_HEADS,
    PAYMENT_QUERY_INFO,
    RPC_METHODS,
    STATE_GET_KEYS_PAGED,
    STATE_GET_METADATA,
    STATE_GET_READ_PROOF,
    STATE_GET_RUNTIME_VERSION,
    STATE_GET_STORAGE,
    STATE_QUERY_STORAGE_AT,
    STATE_SUBSCRIBE_RUNTIME_VERSION,
    STATE_SUBSCRIBE_STORAGE,
    STATE_UNSUBSCRIBE_RUNTIME_VERSION,
    STATE_UNSUBSCRIBE_STORAGE,
    SYSTEM_ACCOUNT_NEXT_INDEX,
    SYSTEM_CHAIN,
    SYSTEM_HEALTH,
    SYSTEM_NAME,
    SYSTEM_PROPERTIES,
    SYSTEM_VERSION,
];
