//! A typed JSON-RPC client of an Agora node, on the contract of `agora-rpc-api`: every call
//! goes through the generated `*Client` traits, so method names, parameters and answers are
//! the node's own types, checked at compile time.
//!
//! `ws://` and `wss://` URLs get a WebSocket client, which supports subscriptions;
//! `http://` and `https://` URLs get an HTTP client, with which callers poll instead
//! ([`Rpc::supports_subscriptions`]).
//!
//! Events reach the client SCALE-encoded (`agora_encodedEvents`) and are decoded with the
//! runtime's own types ([`agora_runtime::EventRecord`]); nothing mirrors the runtime's JSON.

use std::error::Error as StdError;
use std::time::Duration;

use agora_primitives::{AccountId, BlockNumber, Hash, Nonce};
use agora_rpc_api::{
    method, AgoraApiClient, AuthorApiClient, AuthorWatchApiClient, BlobApiClient, ChainApiClient,
    Hex, StateApiClient, SystemApiClient, ValidatorKeys, ViewApiClient,
};
use jsonrpsee::core::client::{Error as ClientError, Subscription};
use jsonrpsee::http_client::{HttpClient, HttpClientBuilder};
use jsonrpsee::ws_client::{WsClient, WsClientBuilder};

pub use agora_primitives::storage::Phase;
pub use agora_rpc_api::views::{JobReport, MarketReport};
pub use agora_rpc_api::{
    codes, AccountBalance, BlobPresence, ExtrinsicStatus, Header, MAX_KEYS_PER_CALL,
};
pub use agora_runtime::{EventRecord, RuntimeEvent};

/// How long one request may take before it is abandoned.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long opening a connection may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest JSON-RPC message the client sends or accepts: as much as the node does (a 64 MiB
/// blob as hex, with room).
pub const MAX_MESSAGE_BYTES: u32 = agora_rpc_api::MAX_BODY_BYTES;
/// How long one blob transfer may take, its wait for a turn included: the node's queue wait
/// and its deadline for the largest body (`agora_rpc_api::limits`).
pub const BLOB_TIMEOUT: Duration = Duration::from_secs(
    agora_rpc_api::limits::TRANSFER_QUEUE_WAIT_SECS
        + agora_rpc_api::limits::TRANSFER_GRACE_SECS
        + agora_rpc_api::MAX_BODY_BYTES as u64 / agora_rpc_api::limits::MIN_TRANSFER_BYTES_PER_SEC,
);

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

/// A block as the node serves it: its header and its extrinsics as SCALE bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// The header.
    pub header: Header,
    /// The encoded extrinsics, in order.
    pub extrinsics: Vec<Vec<u8>>,
}

impl Block {
    /// Position of the extrinsic whose hash ([`agora_runtime::extrinsic::hash_of`]) is `hash`, if the block carries it.
    pub fn position(&self, hash: &Hash) -> Option<u32> {
        let index = self
            .extrinsics
            .iter()
            .position(|bytes| agora_runtime::extrinsic::hash_of(bytes) == *hash)?;
        u32::try_from(index).ok()
    }
}

/// A subscription to the status of a submitted extrinsic.
pub struct TxWatch {
    inner: Subscription<ExtrinsicStatus>,
}

impl TxWatch {
    /// The next status; `None` when the node closed the subscription.
    pub async fn next(&mut self) -> Option<Result<ExtrinsicStatus, RpcError>> {
        let item = self.inner.next().await?;
        Some(item.map_err(|e| RpcError::BadResponse {
            method: method::AUTHOR_SUBMIT_AND_WATCH_EXTRINSIC,
            reason: e.to_string(),
        }))
    }
}

enum Transport {
    Ws(WsClient),
    Http(HttpClient),
}

/// Calls one generated client method on whichever transport the connection has, mapping its
/// error to an [`RpcError`] that names `$method`.
macro_rules! request {
    ($self:ident, $method:expr, |$client:ident| $call:expr) => {{
        let result = match &$self.transport {
            Transport::Ws($client) => $call.await,
            Transport::Http($client) => $call.await,
        };
        result.map_err(|e| $self.map_error($method, e))
    }};
}

/// A connection to one node.
pub struct Rpc {
    url: String,
    transport: Transport,
    /// Blob transfers go over HTTP whatever the transport (the node refuses them over
    /// WebSocket, whose messages it limits to 1 MiB).
    blobs: HttpClient,
    /// The HTTP URL of blob transfers (an upload builds a client naming its blob).
    blob_url: String,
}

/// A client for blob transfers at `url`; `naming` sets the upload's
/// [`BLOB_HASH_HEADER`](agora_rpc_api::limits::BLOB_HASH_HEADER).
fn blob_client(url: &str, naming: Option<Hash>) -> Result<HttpClient, ClientError> {
    let mut headers = jsonrpsee::http_client::HeaderMap::new();
    if let Some(hash) = naming {
        let value = jsonrpsee::http_client::HeaderValue::from_str(&hash.to_hex())
            .map_err(|e| ClientError::Custom(e.to_string()))?;
        headers.insert(agora_rpc_api::limits::BLOB_HASH_HEADER, value);
    }
    HttpClientBuilder::default()
        .request_timeout(BLOB_TIMEOUT)
        .max_request_size(MAX_MESSAGE_BYTES)
        .max_response_size(MAX_MESSAGE_BYTES)
        .set_headers(headers)
        .build(url)
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
        // ws:// and wss:// become http:// and https://; an HTTP URL stays.
        let http_url = url
            .strip_prefix("ws")
            .map_or_else(|| url.to_owned(), |rest| format!("http{rest}"));
        let blobs =
            blob_client(&http_url, None).map_err(|e| unreachable(describe_client_error(&e)))?;
        Ok(Rpc {
            url: url.to_owned(),
            transport,
            blobs,
            blob_url: http_url,
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
                timeout: if agora_rpc_api::limits::is_transfer(method) {
                    BLOB_TIMEOUT
                } else {
                    REQUEST_TIMEOUT
                },
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

    /// The genesis hash (block 0).
    pub async fn genesis_hash(&self) -> Result<Hash, RpcError> {
        self.block_hash(0)
            .await?
            .ok_or_else(|| RpcError::BadResponse {
                method: method::CHAIN_GET_BLOCK_HASH,
                reason: "the node has no block 0".to_owned(),
            })
    }

    /// The hash of block `number` on the node's best chain, if it has one.
    pub async fn block_hash(&self, number: BlockNumber) -> Result<Option<Hash>, RpcError> {
        request!(self, method::CHAIN_GET_BLOCK_HASH, |c| {
            ChainApiClient::block_hash(c, Some(number))
        })
    }

    /// The hash of the latest finalized block.
    pub async fn finalized_head(&self) -> Result<Hash, RpcError> {
        request!(self, method::CHAIN_GET_FINALIZED_HEAD, |c| {
            ChainApiClient::finalized_head(c)
        })
    }

    /// The header of block `hash`.
    pub async fn header(&self, hash: Hash) -> Result<Header, RpcError> {
        let header = request!(self, method::CHAIN_GET_HEADER, |c| ChainApiClient::header(
            c,
            Some(hash)
        ))?;
        header.ok_or_else(|| RpcError::UnknownBlock(hash.to_hex()))
    }

    /// Block `hash` with its extrinsics.
    pub async fn block(&self, hash: Hash) -> Result<Block, RpcError> {
        let answer = request!(self, method::CHAIN_GET_BLOCK, |c| ChainApiClient::block(
            c,
            Some(hash)
        ))?;
        let answer = answer.ok_or_else(|| RpcError::UnknownBlock(hash.to_hex()))?;
        let extrinsics = answer
            .block
            .extrinsics
            .iter()
            .map(Hex::decode)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| RpcError::BadResponse {
                method: method::CHAIN_GET_BLOCK,
                reason: e.to_string(),
            })?;
        Ok(Block {
            header: answer.block.header,
            extrinsics,
        })
    }

    /// The next nonce of `who`, counting extrinsics waiting in the pool.
    pub async fn next_index(&self, who: &AccountId) -> Result<Nonce, RpcError> {
        request!(self, method::SYSTEM_ACCOUNT_NEXT_INDEX, |c| {
            SystemApiClient::account_next_index(c, who.to_string())
        })
    }

    /// The balances of `who` after the node's current block.
    pub async fn balance(&self, who: &AccountId) -> Result<AccountBalance, RpcError> {
        self.balance_at(who, None).await
    }

    /// The balances of `who` after block `at` (default: the node's best), to read them in the
    /// same state as other values.
    pub async fn balance_at(
        &self,
        who: &AccountId,
        at: Option<Hash>,
    ) -> Result<AccountBalance, RpcError> {
        request!(self, method::AGORA_BALANCE, |c| AgoraApiClient::balance(
            c,
            who.to_string(),
            at
        ))
    }

    /// The node's view of the market after block `at` (default: best): every clearing it
    /// holds, as the dashboard shows it.
    pub async fn market_view(&self, at: Option<Hash>) -> Result<MarketReport, RpcError> {
        request!(self, method::AGORA_MARKET, |c| ViewApiClient::market(c, at))
    }

    /// The node's view of job `id` after block `at` (default: best).
    pub async fn job_view(&self, id: u64, at: Option<Hash>) -> Result<JobReport, RpcError> {
        request!(self, method::AGORA_JOB, |c| ViewApiClient::job(c, id, at))
    }

    /// The events of block `hash`, decoded with the runtime's own types.
    pub async fn events(&self, hash: Hash) -> Result<Vec<EventRecord>, RpcError> {
        let encoded = request!(self, method::AGORA_ENCODED_EVENTS, |c| {
            AgoraApiClient::encoded_events(c, Some(hash))
        })?;
        encoded.decode().map_err(|e| RpcError::BadResponse {
            method: method::AGORA_ENCODED_EVENTS,
            reason: e.to_string(),
        })
    }

    /// The raw value at storage `key` after block `at` (default: the node's best block).
    pub async fn storage(&self, key: &[u8], at: Option<Hash>) -> Result<Option<Vec<u8>>, RpcError> {
        let value = request!(self, method::STATE_GET_STORAGE, |c| {
            StateApiClient::storage(c, Hex::encode(key), at)
        })?;
        value
            .as_ref()
            .map(Hex::decode)
            .transpose()
            .map_err(|e| RpcError::BadResponse {
                method: method::STATE_GET_STORAGE,
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
        let bad = |reason: String| RpcError::BadResponse {
            method: method::STATE_QUERY_STORAGE_AT,
            reason,
        };
        let mut out = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(MAX_KEYS_PER_CALL) {
            let hex_keys: Vec<Hex> = chunk.iter().map(|key| Hex::encode(key)).collect();
            let answer = request!(self, method::STATE_QUERY_STORAGE_AT, |c| {
                StateApiClient::query_storage_at(c, hex_keys.clone(), at)
            })?;
            let set = answer
                .into_iter()
                .next()
                .ok_or_else(|| bad("an empty answer".to_owned()))?;
            let values: std::collections::BTreeMap<String, Option<Hex>> = set
                .changes
                .into_iter()
                .map(|(key, value)| (key.into_string(), value))
                .collect();
            for key in &hex_keys {
                let value = values
                    .get(key.as_str())
                    .ok_or_else(|| bad(format!("no entry for key {key}")))?;
                out.push(
                    value
                        .as_ref()
                        .map(Hex::decode)
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
        let keys = request!(self, method::STATE_GET_KEYS_PAGED, |c| {
            StateApiClient::keys_paged(
                c,
                Some(Hex::encode(prefix)),
                count,
                start.map(Hex::encode),
                at,
            )
        })?;
        keys.iter()
            .map(Hex::decode)
            .collect::<Result<_, _>>()
            .map_err(|e| RpcError::BadResponse {
                method: method::STATE_GET_KEYS_PAGED,
                reason: e.to_string(),
            })
    }

    /// Uploads a registered blob, naming its hash in the request's headers and parameters (so
    /// that the node refuses a blob it would not keep before reading or decoding it); returns
    /// its hash as the node computed it.
    pub async fn blob_put(&self, bytes: &[u8]) -> Result<Hash, RpcError> {
        let hash = Hash::of(bytes);
        let client = blob_client(&self.blob_url, Some(hash))
            .map_err(|e| self.map_error(method::BLOB_PUT, e))?;
        BlobApiClient::blob_put(&client, Hex::encode(bytes), Some(hash))
            .await
            .map_err(|e| self.map_error(method::BLOB_PUT, e))
    }

    /// Downloads a blob and checks it against its hash.
    pub async fn blob_get(&self, hash: Hash) -> Result<Vec<u8>, RpcError> {
        let text = BlobApiClient::blob_get(&self.blobs, hash)
            .await
            .map_err(|e| self.map_error(method::BLOB_GET, e))?;
        let bytes = text.decode().map_err(|e| RpcError::BadResponse {
            method: method::BLOB_GET,
            reason: e.to_string(),
        })?;
        let got = Hash::of(&bytes);
        if got != hash {
            return Err(RpcError::BadResponse {
                method: method::BLOB_GET,
                reason: format!("it sent bytes hashing to {got} for blob {hash}"),
            });
        }
        Ok(bytes)
    }

    /// Whether the node stores blob `hash`, and whether it is registered on chain.
    pub async fn blob_has(&self, hash: Hash) -> Result<BlobPresence, RpcError> {
        request!(self, method::BLOB_HAS, |c| BlobApiClient::blob_has(c, hash))
    }

    /// The public keys of the node's validator key, or `None` for a node without one.
    pub async fn validator_keys(&self) -> Result<Option<ValidatorKeys>, RpcError> {
        request!(self, method::AUTHOR_VALIDATOR_KEYS, |c| {
            AuthorApiClient::validator_keys(c)
        })
    }

    /// Submits an encoded extrinsic; returns its hash.
    pub async fn submit(&self, extrinsic: &[u8]) -> Result<Hash, RpcError> {
        request!(self, method::AUTHOR_SUBMIT_EXTRINSIC, |c| {
            AuthorApiClient::submit_extrinsic(c, Hex::encode(extrinsic))
        })
        .map_err(refusal)
    }

    /// Submits an encoded extrinsic and subscribes to its status (WebSocket only).
    pub async fn submit_and_watch(&self, extrinsic: &[u8]) -> Result<TxWatch, RpcError> {
        let Transport::Ws(client) = &self.transport else {
            return Err(RpcError::NoSubscriptions {
                url: self.url.clone(),
            });
        };
        let inner =
            AuthorWatchApiClient::submit_and_watch_extrinsic(client, Hex::encode(extrinsic))
                .await
                .map_err(|e| self.map_error(method::AUTHOR_SUBMIT_AND_WATCH_EXTRINSIC, e))
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
    use parity_scale_codec::Encode;

    const ALICE: &str = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";

    #[test]
    fn events_arrive_as_the_runtime_encodes_them() {
        // What the node sends for a block: its raw records; the client decodes them with the
        // runtime's own types, u128 amounts and all.
        let alice: AccountId = ALICE.parse().unwrap();
        let transfer = RuntimeEvent::Balances(pallet_balances::Event::Transfer {
            from: alice,
            to: alice,
            amount: u128::from(u64::MAX) * 10,
        });
        let raw = vec![agora_primitives::storage::RawEvent {
            phase: Phase::ApplyExtrinsic(3),
            event: transfer.encode(),
        }];
        let encoded = agora_rpc_api::EncodedEvents::from_raw(&raw);
        let wire = serde_json::to_string(&encoded).unwrap();
        let back: agora_rpc_api::EncodedEvents = serde_json::from_str(&wire).unwrap();
        let events = back.decode().unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].phase, Phase::ApplyExtrinsic(3));
        assert_eq!(events[0].event, transfer);
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
    fn finds_extrinsics_by_hash() {
        let header = Header {
            author: AccountId([0; 32]),
            beacon: agora_rpc_api::Beacon {
                proposer: Hash([0; 32]),
                pre_output: Hash([0; 32]),
                proof: [0; 64],
            },
            events_root: Hash([0; 32]),
            extrinsics_root: Hash([0; 32]),
            digest: agora_rpc_api::Digest::default(),
            hash: Hash([1; 32]),
            number: 1,
            parent_hash: Hash([0; 32]),
            state_root: Hash([0; 32]),
            timestamp: 0,
        };
        let block = Block {
            header,
            extrinsics: vec![vec![1, 2], vec![3, 4]],
        };
        let hash_of = agora_runtime::extrinsic::hash_of;
        assert_eq!(block.position(&hash_of(&[3, 4])), Some(1));
        assert_eq!(block.position(&hash_of(&[5])), None);
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
            method: method::AUTHOR_SUBMIT_EXTRINSIC,
            code: 1010,
            message: "bad sr25519 signature".to_owned(),
        });
        assert_eq!(
            refused.to_string(),
            "the node refused the transaction: bad sr25519 signature"
        );
        let other = refusal(RpcError::Call {
            method: method::CHAIN_GET_HEADER,
            code: -32602,
            message: "invalid".to_owned(),
        });
        assert!(matches!(other, RpcError::Call { .. }));
    }
}
