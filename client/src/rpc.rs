//! A typed JSON-RPC client of an Agora node (see the method table in `node/src/rpc.rs`).
//!
//! `ws://` and `wss://` URLs get a WebSocket client, which supports subscriptions;
//! `http://` and `https://` URLs get an HTTP client, with which callers poll instead
//! ([`Rpc::supports_subscriptions`]).
//!
//! Amounts (plancks) can exceed `u64`, so every answer is deserialized straight from the
//! node's JSON text into typed structs holding `u128`s, never through `serde_json::Value`
//! (which would round large numbers to `f64`).

use std::error::Error as StdError;
use std::time::Duration;

use agora_primitives::dispatch::DispatchError;
use agora_primitives::{decode_hex, encode_hex, AccountId, Balance, BlockNumber, Hash, Nonce};
use jsonrpsee::core::client::{ClientT, Error as ClientError, Subscription, SubscriptionClientT};
use jsonrpsee::core::params::ArrayParams;
use jsonrpsee::http_client::{HttpClient, HttpClientBuilder};
use jsonrpsee::rpc_params;
use jsonrpsee::ws_client::{WsClient, WsClientBuilder};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// How long one request may take before it is abandoned.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long opening a connection may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Error codes of the node's own JSON-RPC errors.
pub use agora_primitives::rpc_codes as codes;

/// A failure talking to the node. Each renders as one sentence naming the URL or method.
#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    /// No connection could be made (or kept) to the node.
    #[error("cannot reach the node at {url}: {reason}")]
    Unreachable {
        /// The RPC URL.
        url: String,
        /// Why, e.g. "connection refused".
        reason: String,
    },
    /// The node did not answer in time.
    #[error("the node at {url} did not answer {method} within {} s", .timeout.as_secs())]
    Timeout {
        /// The RPC URL.
        url: String,
        /// The method called.
        method: &'static str,
        /// The request timeout.
        timeout: Duration,
    },
    /// The node refused a submitted extrinsic.
    #[error("the node refused the transaction: {message}")]
    Refused {
        /// The node's error code (1002, 1010, 1013, 1016).
        code: i32,
        /// The node's message.
        message: String,
    },
    /// The node answered a call with an error object.
    #[error("the node answered {method} with error {code}: {message}")]
    Call {
        /// The method called.
        method: &'static str,
        /// The JSON-RPC error code.
        code: i32,
        /// The node's message.
        message: String,
    },
    /// The node's answer does not have the expected shape.
    #[error("the node sent an unexpected answer to {method}: {reason}")]
    BadResponse {
        /// The method called.
        method: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A block the node should have does not exist.
    #[error("the node does not know block {0}")]
    UnknownBlock(String),
    /// A subscription was needed on an HTTP connection.
    #[error("{url} is an HTTP endpoint, which cannot carry subscriptions: use a ws:// URL")]
    NoSubscriptions {
        /// The RPC URL.
        url: String,
    },
}

/// A header as the node renders it (only the fields the client uses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct Header {
    /// The block's hash.
    pub hash: Hash,
    /// Its number.
    pub number: BlockNumber,
    /// Its parent's hash.
    #[serde(rename = "parentHash")]
    pub parent_hash: Hash,
}

/// A block as the node renders it: its header and its extrinsics as SCALE bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// The header.
    pub header: Header,
    /// The encoded extrinsics, in order.
    pub extrinsics: Vec<Vec<u8>>,
}

impl Block {
    /// Position of the extrinsic whose blake3 hash is `hash`, if the block carries it.
    pub fn position(&self, hash: &Hash) -> Option<u32> {
        let index = self
            .extrinsics
            .iter()
            .position(|bytes| Hash::of(bytes) == *hash)?;
        u32::try_from(index).ok()
    }
}

#[derive(Deserialize)]
struct BlockAnswer {
    block: BlockJson,
}

#[derive(Deserialize)]
struct BlockJson {
    header: Header,
    extrinsics: Vec<String>,
}

/// Most storage keys asked for in one `state_queryStorageAt` request.
pub const MAX_KEYS_PER_CALL: usize = 1000;
/// Largest JSON-RPC message the client sends or accepts: a 64 MiB blob as hex, with room.
pub const MAX_MESSAGE_BYTES: u32 = 160 << 20;

/// One block's answer of `state_queryStorageAt`.
#[derive(Debug, Deserialize)]
struct StorageChangeSet {
    changes: Vec<(String, Option<String>)>,
}

/// The answer of `blob_has`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct BlobPresence {
    /// Whether the node holds the bytes.
    pub stored: bool,
    /// Whether the blob is registered on chain.
    pub registered: bool,
}

/// Balances of one account, in plancks (`agora_balance`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct AccountBalance {
    /// The account.
    pub address: AccountId,
    /// Spendable balance.
    pub free: Balance,
    /// Reserved balance.
    pub reserved: Balance,
    /// Free plus reserved.
    pub total: Balance,
    /// Nonce of the account in state (not counting pooled extrinsics).
    pub nonce: Nonce,
}

/// Where in a block an event happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    /// In `on_initialize` hooks.
    Initialization,
    /// While applying the extrinsic at this index.
    ApplyExtrinsic(u32),
    /// In `on_finalize` hooks.
    Finalization,
}

/// The events the client interprets. Everything else is [`Event::Other`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// `System::ExtrinsicSuccess`.
    ExtrinsicSuccess,
    /// `System::ExtrinsicFailed`.
    ExtrinsicFailed(DispatchError),
    /// `Balances::Transfer`.
    Transfer {
        /// Sender.
        from: AccountId,
        /// Recipient.
        to: AccountId,
        /// Plancks moved.
        amount: Balance,
    },
    /// `Balances::TransactionFeePaid`.
    FeePaid {
        /// Payer.
        who: AccountId,
        /// Fee, tip included.
        fee: Balance,
    },
    /// `Balances::Burned` (also how a fee the author could not receive is recorded).
    Burned {
        /// Whose tokens.
        who: AccountId,
        /// Plancks destroyed.
        amount: Balance,
    },
    /// `Market::BidPlaced`.
    BidPlaced {
        /// The bid's (and job's) id.
        bid: u64,
        /// The buyer.
        buyer: AccountId,
    },
    /// `Jobs::JobAssigned`.
    JobAssigned {
        /// The job.
        job: u64,
        /// Its worker.
        worker: AccountId,
    },
    /// Any other event, as the node's JSON.
    Other(String),
}

/// One event of a block with its phase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRecord {
    /// When in the block.
    pub phase: Phase,
    /// What happened.
    pub event: Event,
}

#[derive(Deserialize)]
struct EventRecordJson {
    phase: Phase,
    event: Box<RawValue>,
}

/// Mirrors of the runtime's event JSON (externally tagged, as serde renders it).
#[derive(Deserialize)]
enum KnownEvent {
    System(SystemEvent),
    Balances(BalancesEvent),
    Market(MarketEvent),
    Jobs(JobsEvent),
}

#[derive(Deserialize)]
enum MarketEvent {
    BidPlaced { bid: u64, buyer: AccountId },
}

#[derive(Deserialize)]
enum JobsEvent {
    JobAssigned { job: u64, worker: AccountId },
}

#[derive(Deserialize)]
enum SystemEvent {
    ExtrinsicSuccess {},
    ExtrinsicFailed { error: DispatchErrorJson },
}

#[derive(Deserialize)]
struct DispatchErrorJson {
    pallet: u8,
    error: u8,
}

#[derive(Deserialize)]
enum BalancesEvent {
    Transfer {
        from: AccountId,
        to: AccountId,
        amount: Balance,
    },
    TransactionFeePaid {
        who: AccountId,
        fee: Balance,
    },
    Burned {
        who: AccountId,
        amount: Balance,
    },
}

impl Event {
    /// Interprets one event as the node renders it (`{"Balances": {"Transfer": {…}}}`).
    pub fn from_json(json: &str) -> Event {
        match serde_json::from_str::<KnownEvent>(json) {
            Ok(KnownEvent::System(SystemEvent::ExtrinsicSuccess {})) => Event::ExtrinsicSuccess,
            Ok(KnownEvent::System(SystemEvent::ExtrinsicFailed { error })) => {
                Event::ExtrinsicFailed(DispatchError {
                    pallet: error.pallet,
                    error: error.error,
                })
            }
            Ok(KnownEvent::Balances(BalancesEvent::Transfer { from, to, amount })) => {
                Event::Transfer { from, to, amount }
            }
            Ok(KnownEvent::Balances(BalancesEvent::TransactionFeePaid { who, fee })) => {
                Event::FeePaid { who, fee }
            }
            Ok(KnownEvent::Balances(BalancesEvent::Burned { who, amount })) => {
                Event::Burned { who, amount }
            }
            Ok(KnownEvent::Market(MarketEvent::BidPlaced { bid, buyer })) => {
                Event::BidPlaced { bid, buyer }
            }
            Ok(KnownEvent::Jobs(JobsEvent::JobAssigned { job, worker })) => {
                Event::JobAssigned { job, worker }
            }
            Err(_) => Event::Other(json.to_owned()),
        }
    }
}

/// Parses the answer of `agora_events`.
pub fn parse_events(json: &str) -> Result<Vec<EventRecord>, serde_json::Error> {
    let records: Vec<EventRecordJson> = serde_json::from_str(json)?;
    Ok(records
        .into_iter()
        .map(|record| EventRecord {
            phase: record.phase,
            event: Event::from_json(record.event.get()),
        })
        .collect())
}

/// A notification of `author_submitAndWatchExtrinsic`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxStatus {
    /// In the pool.
    Ready,
    /// In a finalized block.
    Finalized {
        /// The block's hash.
        block_hash: Hash,
        /// The block's number, when the node says it.
        block_number: Option<BlockNumber>,
    },
    /// Removed from the pool without being finalized.
    Dropped,
    /// A status this client does not know.
    Other(String),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum TxStatusJson {
    Word(String),
    Finalized {
        finalized: Hash,
        #[serde(default)]
        number: Option<BlockNumber>,
    },
    Unknown(serde_json::Value),
}

impl From<TxStatusJson> for TxStatus {
    fn from(json: TxStatusJson) -> Self {
        match json {
            TxStatusJson::Word(word) if word == "ready" => TxStatus::Ready,
            TxStatusJson::Word(word) if word == "dropped" => TxStatus::Dropped,
            TxStatusJson::Word(word) => TxStatus::Other(word),
            TxStatusJson::Finalized { finalized, number } => TxStatus::Finalized {
                block_hash: finalized,
                block_number: number,
            },
            TxStatusJson::Unknown(value) => TxStatus::Other(value.to_string()),
        }
    }
}

/// A subscription to the status of a submitted extrinsic.
pub struct TxWatch {
    inner: Subscription<TxStatusJson>,
}

impl TxWatch {
    /// The next status; `None` when the node closed the subscription.
    pub async fn next(&mut self) -> Option<Result<TxStatus, RpcError>> {
        let item = self.inner.next().await?;
        Some(item.map(TxStatus::from).map_err(|e| RpcError::BadResponse {
            method: "author_submitAndWatchExtrinsic",
            reason: e.to_string(),
        }))
    }
}

enum Transport {
    Ws(WsClient),
    Http(HttpClient),
}

/// A connection to one node.
pub struct Rpc {
    url: String,
    transport: Transport,
}

impl Rpc {
    /// Connects to `url` (ws://, wss://, http:// or https://). A WebSocket connection is opened
    /// at once; an HTTP one on the first call, so its errors appear then.
    pub async fn connect(url: &str) -> Result<Rpc, RpcError> {
        let unreachable = |reason: String| RpcError::Unreachable {
            url: url.to_owned(),
            reason,
        };
        let transport = if url.starts_with("ws://") || url.starts_with("wss://") {
            let client = WsClientBuilder::default()
                .request_timeout(REQUEST_TIMEOUT)
                .connection_timeout(CONNECT_TIMEOUT)
                .max_request_size(MAX_MESSAGE_BYTES)
                .max_response_size(MAX_MESSAGE_BYTES)
                .build(url)
                .await
                .map_err(|e| unreachable(describe_client_error(&e)))?;
            Transport::Ws(client)
        } else if url.starts_with("http://") || url.starts_with("https://") {
            let client = HttpClientBuilder::default()
                .request_timeout(REQUEST_TIMEOUT)
                .max_request_size(MAX_MESSAGE_BYTES)
                .max_response_size(MAX_MESSAGE_BYTES)
                .build(url)
                .map_err(|e| unreachable(describe_client_error(&e)))?;
            Transport::Http(client)
        } else {
            return Err(unreachable(
                "the URL must start with ws://, wss://, http:// or https://".to_owned(),
            ));
        };
        Ok(Rpc {
            url: url.to_owned(),
            transport,
        })
    }

    /// The URL this client talks to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Whether the connection can carry subscriptions (WebSocket only).
    pub fn supports_subscriptions(&self) -> bool {
        matches!(self.transport, Transport::Ws(_))
    }

    /// Calls `method` and deserializes its result as `R`.
    pub async fn call<R: DeserializeOwned>(
        &self,
        method: &'static str,
        params: ArrayParams,
    ) -> Result<R, RpcError> {
        let result = match &self.transport {
            Transport::Ws(client) => client.request(method, params).await,
            Transport::Http(client) => client.request(method, params).await,
        };
        result.map_err(|e| self.map_error(method, e))
    }

    fn map_error(&self, method: &'static str, error: ClientError) -> RpcError {
        match error {
            ClientError::Call(object) => RpcError::Call {
                method,
                code: object.code(),
                message: object.message().to_owned(),
            },
            ClientError::RequestTimeout => RpcError::Timeout {
                url: self.url.clone(),
                method,
                timeout: REQUEST_TIMEOUT,
            },
            ClientError::ParseError(e) => RpcError::BadResponse {
                method,
                reason: e.to_string(),
            },
            ClientError::Transport(_) | ClientError::RestartNeeded(_) => RpcError::Unreachable {
                url: self.url.clone(),
                reason: describe_client_error(&error),
            },
            other => RpcError::BadResponse {
                method,
                reason: other.to_string(),
            },
        }
    }

    /// The genesis hash (`chain_getBlockHash [0]`).
    pub async fn genesis_hash(&self) -> Result<Hash, RpcError> {
        self.block_hash(0)
            .await?
            .ok_or_else(|| RpcError::BadResponse {
                method: "chain_getBlockHash",
                reason: "the node has no block 0".to_owned(),
            })
    }

    /// The hash of block `number` on the node's best chain, if it has one.
    pub async fn block_hash(&self, number: BlockNumber) -> Result<Option<Hash>, RpcError> {
        self.call("chain_getBlockHash", rpc_params![number]).await
    }

    /// The hash of the latest finalized block.
    pub async fn finalized_head(&self) -> Result<Hash, RpcError> {
        self.call("chain_getFinalizedHead", rpc_params![]).await
    }

    /// The header of block `hash`.
    pub async fn header(&self, hash: Hash) -> Result<Header, RpcError> {
        let header: Option<Header> = self.call("chain_getHeader", rpc_params![hash]).await?;
        header.ok_or_else(|| RpcError::UnknownBlock(hash.to_hex()))
    }

    /// Block `hash` with its extrinsics.
    pub async fn block(&self, hash: Hash) -> Result<Block, RpcError> {
        let answer: Option<BlockAnswer> = self.call("chain_getBlock", rpc_params![hash]).await?;
        let answer = answer.ok_or_else(|| RpcError::UnknownBlock(hash.to_hex()))?;
        let extrinsics = answer
            .block
            .extrinsics
            .iter()
            .map(|text| decode_hex(text))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| RpcError::BadResponse {
                method: "chain_getBlock",
                reason: e.to_string(),
            })?;
        Ok(Block {
            header: answer.block.header,
            extrinsics,
        })
    }

    /// The next nonce of `who`, counting extrinsics waiting in the pool.
    pub async fn next_index(&self, who: &AccountId) -> Result<Nonce, RpcError> {
        self.call("system_accountNextIndex", rpc_params![who.to_string()])
            .await
    }

    /// The balances of `who` after the node's current block.
    pub async fn balance(&self, who: &AccountId) -> Result<AccountBalance, RpcError> {
        self.call("agora_balance", rpc_params![who.to_string()])
            .await
    }

    /// The events of block `hash`.
    pub async fn events(&self, hash: Hash) -> Result<Vec<EventRecord>, RpcError> {
        const METHOD: &str = "agora_events";
        let raw: Box<RawValue> = self.call(METHOD, rpc_params![hash]).await?;
        parse_events(raw.get()).map_err(|e| RpcError::BadResponse {
            method: METHOD,
            reason: e.to_string(),
        })
    }

    /// The raw value at storage `key` after block `at` (default: the node's best block).
    pub async fn storage(&self, key: &[u8], at: Option<Hash>) -> Result<Option<Vec<u8>>, RpcError> {
        const METHOD: &str = "state_getStorage";
        let value: Option<String> = self.call(METHOD, rpc_params![encode_hex(key), at]).await?;
        value
            .map(|text| decode_hex(&text))
            .transpose()
            .map_err(|e| RpcError::BadResponse {
                method: METHOD,
                reason: e.to_string(),
            })
    }

    /// The raw values at `keys` after block `at`, in the order asked (at most
    /// [`MAX_KEYS_PER_CALL`] keys per request; longer lists are split).
    pub async fn storage_many(
        &self,
        keys: &[Vec<u8>],
        at: Option<Hash>,
    ) -> Result<Vec<Option<Vec<u8>>>, RpcError> {
        const METHOD: &str = "state_queryStorageAt";
        let bad = |reason: String| RpcError::BadResponse {
            method: METHOD,
            reason,
        };
        let mut out = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(MAX_KEYS_PER_CALL) {
            let hex_keys: Vec<String> = chunk.iter().map(|key| encode_hex(key)).collect();
            let answer: Vec<StorageChangeSet> =
                self.call(METHOD, rpc_params![hex_keys.clone(), at]).await?;
            let set = answer
                .into_iter()
                .next()
                .ok_or_else(|| bad("an empty answer".to_owned()))?;
            let values: std::collections::BTreeMap<String, Option<String>> =
                set.changes.into_iter().collect();
            for key in &hex_keys {
                let value = values
                    .get(key)
                    .ok_or_else(|| bad(format!("no entry for key {key}")))?;
                out.push(
                    value
                        .as_deref()
                        .map(decode_hex)
                        .transpose()
                        .map_err(|e| bad(e.to_string()))?,
                );
            }
        }
        Ok(out)
    }

    /// Up to `count` storage keys starting with `prefix`, after `start` (exclusive), in key
    /// order, as of block `at`.
    pub async fn keys_paged(
        &self,
        prefix: &[u8],
        count: u32,
        start: Option<&[u8]>,
        at: Option<Hash>,
    ) -> Result<Vec<Vec<u8>>, RpcError> {
        const METHOD: &str = "state_getKeysPaged";
        let keys: Vec<String> = self
            .call(
                METHOD,
                rpc_params![encode_hex(prefix), count, start.map(encode_hex), at],
            )
            .await?;
        keys.iter()
            .map(|key| decode_hex(key))
            .collect::<Result<_, _>>()
            .map_err(|e| RpcError::BadResponse {
                method: METHOD,
                reason: e.to_string(),
            })
    }

    /// Uploads a registered blob; returns its hash as the node computed it.
    pub async fn blob_put(&self, bytes: &[u8]) -> Result<Hash, RpcError> {
        self.call("blob_put", rpc_params![encode_hex(bytes)]).await
    }

    /// Downloads a blob and checks it against its hash.
    pub async fn blob_get(&self, hash: Hash) -> Result<Vec<u8>, RpcError> {
        const METHOD: &str = "blob_get";
        let text: String = self.call(METHOD, rpc_params![hash]).await?;
        let bytes = decode_hex(&text).map_err(|e| RpcError::BadResponse {
            method: METHOD,
            reason: e.to_string(),
        })?;
        let got = Hash::of(&bytes);
        if got != hash {
            return Err(RpcError::BadResponse {
                method: METHOD,
                reason: format!("it sent bytes hashing to {got} for blob {hash}"),
            });
        }
        Ok(bytes)
    }

    /// Whether the node stores blob `hash`, and whether it is registered on chain.
    pub async fn blob_has(&self, hash: Hash) -> Result<BlobPresence, RpcError> {
        self.call("blob_has", rpc_params![hash]).await
    }

    /// Submits an encoded extrinsic; returns its hash.
    pub async fn submit(&self, extrinsic: &[u8]) -> Result<Hash, RpcError> {
        self.call("author_submitExtrinsic", rpc_params![encode_hex(extrinsic)])
            .await
            .map_err(refusal)
    }

    /// Submits an encoded extrinsic and subscribes to its status (WebSocket only).
    pub async fn submit_and_watch(&self, extrinsic: &[u8]) -> Result<TxWatch, RpcError> {
        const METHOD: &str = "author_submitAndWatchExtrinsic";
        let Transport::Ws(client) = &self.transport else {
            return Err(RpcError::NoSubscriptions {
                url: self.url.clone(),
            });
        };
        let inner = client
            .subscribe(
                METHOD,
                rpc_params![encode_hex(extrinsic)],
                "author_unwatchExtrinsic",
            )
            .await
            .map_err(|e| self.map_error(METHOD, e))
            .map_err(refusal)?;
        Ok(TxWatch { inner })
    }
}

/// Turns the node's pool errors into [`RpcError::Refused`].
fn refusal(error: RpcError) -> RpcError {
    match error {
        RpcError::Call { code, message, .. }
            if matches!(
                code,
                codes::BAD_EXTRINSIC
                    | codes::INVALID_TRANSACTION
                    | codes::ALREADY_IMPORTED
                    | codes::POOL_FULL
            ) =>
        {
            RpcError::Refused { code, message }
        }
        other => other,
    }
}

/// One clause saying why a connection failed: "connection refused", "connection timed out", …
fn describe_client_error(error: &ClientError) -> String {
    let mut innermost: &(dyn StdError + 'static) = error;
    let mut current: Option<&(dyn StdError + 'static)> = Some(error);
    while let Some(e) = current {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return describe_io(io);
        }
        innermost = e;
        current = e.source();
    }
    if matches!(error, ClientError::RestartNeeded(_)) {
        return "the connection was closed".to_owned();
    }
    let text = innermost.to_string();
    let lower = text.to_lowercase();
    for known in ["connection refused", "connection reset", "timed out"] {
        if lower.contains(known) {
            return known.to_owned();
        }
    }
    tidy(&text)
}

fn describe_io(error: &std::io::Error) -> String {
    use std::io::ErrorKind as K;
    match error.kind() {
        K::ConnectionRefused => "connection refused".to_owned(),
        K::ConnectionReset => "connection reset".to_owned(),
        K::TimedOut => "connection timed out".to_owned(),
        K::AddrNotAvailable => "address not available".to_owned(),
        _ => tidy(&error.to_string()),
    }
}

/// Lower-cases the first letter and drops " (os error N)" and a final period.
fn tidy(text: &str) -> String {
    let text = match text.find(" (os error") {
        Some(at) => text.get(..at).unwrap_or(text),
        None => text,
    };
    let text = text.trim().trim_end_matches('.');
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => "unknown error".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const ALICE: &str = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
    const BOB: &str = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty";

    #[test]
    fn parses_events_as_the_node_renders_them() {
        // Exactly what the node's `agora_events` serializes (serde's default enum tagging).
        let big = u128::from(u64::MAX) * 10;
        let json = format!(
            r#"[
            {{"phase":"Initialization","event":{{"Balances":{{"Minted":{{"who":"{ALICE}","amount":1}}}}}}}},
            {{"phase":{{"ApplyExtrinsic":0}},"event":{{"Balances":{{"TransactionFeePaid":{{"who":"{ALICE}","fee":90000000,"tip":0,"author":"{BOB}"}}}}}}}},
            {{"phase":{{"ApplyExtrinsic":0}},"event":{{"Balances":{{"Transfer":{{"from":"{ALICE}","to":"{BOB}","amount":{big}}}}}}}}},
            {{"phase":{{"ApplyExtrinsic":0}},"event":{{"System":{{"ExtrinsicSuccess":{{"weight":75000}}}}}}}},
            {{"phase":{{"ApplyExtrinsic":1}},"event":{{"System":{{"ExtrinsicFailed":{{"error":{{"pallet":1,"error":0}},"weight":75000}}}}}}}},
            {{"phase":"Finalization","event":{{"Staking":"SomethingNew"}}}}
        ]"#
        );
        let events = parse_events(&json).unwrap();
        let alice: AccountId = ALICE.parse().unwrap();
        let bob: AccountId = BOB.parse().unwrap();
        assert_eq!(events.len(), 6);
        assert_eq!(events[0].phase, Phase::Initialization);
        assert!(matches!(events[0].event, Event::Other(_)));
        assert_eq!(events[1].phase, Phase::ApplyExtrinsic(0));
        assert_eq!(
            events[1].event,
            Event::FeePaid {
                who: alice,
                fee: 90_000_000
            }
        );
        assert_eq!(
            events[2].event,
            Event::Transfer {
                from: alice,
                to: bob,
                amount: big
            }
        );
        assert_eq!(events[3].event, Event::ExtrinsicSuccess);
        assert_eq!(
            events[4].event,
            Event::ExtrinsicFailed(DispatchError {
                pallet: 1,
                error: 0
            })
        );
        assert_eq!(events[5].phase, Phase::Finalization);
        assert_eq!(
            events[5].event,
            Event::Other(r#"{"Staking":"SomethingNew"}"#.to_owned())
        );
    }

    #[test]
    fn parses_the_runtime_own_event_json() {
        // The runtime's serializer is the ground truth for the shape.
        use agora_runtime::{EventRecord as RuntimeRecord, RuntimeEvent};
        let alice: AccountId = ALICE.parse().unwrap();
        let bob: AccountId = BOB.parse().unwrap();
        let records = vec![
            RuntimeRecord {
                phase: agora_primitives::storage::Phase::ApplyExtrinsic(3),
                event: RuntimeEvent::Balances(pallet_balances::Event::Transfer {
                    from: alice,
                    to: bob,
                    amount: 1_500_000_000_000,
                }),
            },
            RuntimeRecord {
                phase: agora_primitives::storage::Phase::ApplyExtrinsic(3),
                event: RuntimeEvent::System(pallet_system::Event::ExtrinsicFailed {
                    error: DispatchError {
                        pallet: 1,
                        error: 1,
                    },
                    weight: 1,
                }),
            },
            RuntimeRecord {
                phase: agora_primitives::storage::Phase::Finalization,
                event: RuntimeEvent::System(pallet_system::Event::ExtrinsicSuccess { weight: 1 }),
            },
        ];
        let json = serde_json::to_string(&records).unwrap();
        let events = parse_events(&json).unwrap();
        assert_eq!(events[0].phase, Phase::ApplyExtrinsic(3));
        assert_eq!(
            events[0].event,
            Event::Transfer {
                from: alice,
                to: bob,
                amount: 1_500_000_000_000
            }
        );
        assert_eq!(
            events[1].event,
            Event::ExtrinsicFailed(DispatchError {
                pallet: 1,
                error: 1
            })
        );
        assert_eq!(events[2].event, Event::ExtrinsicSuccess);
    }

    #[test]
    fn parses_balances_beyond_u64() {
        let json = format!(
            r#"{{"address":"{ALICE}","free":340282366920938463463374607431768211455,"reserved":0,"total":340282366920938463463374607431768211455,"nonce":7}}"#
        );
        let balance: AccountBalance = serde_json::from_str(&json).unwrap();
        assert_eq!(balance.free, u128::MAX);
        assert_eq!(balance.nonce, 7);
    }

    #[test]
    fn parses_watch_notifications() {
        let parse =
            |json: &str| TxStatus::from(serde_json::from_str::<TxStatusJson>(json).unwrap());
        assert_eq!(parse(r#""ready""#), TxStatus::Ready);
        assert_eq!(parse(r#""dropped""#), TxStatus::Dropped);
        let hash = Hash([7; 32]);
        assert_eq!(
            parse(&format!(r#"{{"finalized":"{hash}","number":12}}"#)),
            TxStatus::Finalized {
                block_hash: hash,
                block_number: Some(12)
            }
        );
        assert_eq!(
            parse(&format!(r#"{{"finalized":"{hash}"}}"#)),
            TxStatus::Finalized {
                block_hash: hash,
                block_number: None
            }
        );
        assert!(matches!(parse(r#"{"usurped":1}"#), TxStatus::Other(_)));
    }

    #[test]
    fn finds_extrinsics_by_hash() {
        let header = Header {
            hash: Hash([1; 32]),
            number: 1,
            parent_hash: Hash([0; 32]),
        };
        let block = Block {
            header,
            extrinsics: vec![vec![1, 2], vec![3, 4]],
        };
        assert_eq!(block.position(&Hash::of(&[3, 4])), Some(1));
        assert_eq!(block.position(&Hash::of(&[5])), None);
    }

    #[test]
    fn tidies_transport_errors() {
        assert_eq!(
            describe_io(&std::io::Error::from(std::io::ErrorKind::ConnectionRefused)),
            "connection refused"
        );
        assert_eq!(
            tidy("Connection refused (os error 111)."),
            "connection refused"
        );
        let refused = refusal(RpcError::Call {
            method: "author_submitExtrinsic",
            code: 1010,
            message: "bad sr25519 signature".to_owned(),
        });
        assert_eq!(
            refused.to_string(),
            "the node refused the transaction: bad sr25519 signature"
        );
        let other = refusal(RpcError::Call {
            method: "chain_getHeader",
            code: -32602,
            message: "invalid".to_owned(),
        });
        assert!(matches!(other, RpcError::Call { .. }));
    }
}
