//! A mock node serving every trait: the registered names are the documented ones, requests
//! with positional and left-out optional parameters reach the right arguments, and the typed
//! clients read the answers over HTTP and WebSocket.

use crate::wire::{runtime_header, ALICE};
use agora_primitives::storage::{Phase, RawEvent};
use agora_primitives::{BlockNumber, Hash, Nonce};
use agora_rpc_api::*;
use jsonrpsee::core::{async_trait, SubscriptionResult};
use jsonrpsee::{PendingSubscriptionSink, RpcModule, SubscriptionMessage};
use parity_scale_codec::Encode;

#[derive(Clone)]
struct Mock;

fn h(byte: u8) -> Hash {
    Hash([byte; 32])
}

fn header() -> Header {
    Header::from(&runtime_header())
}

fn raw_events() -> Vec<RawEvent> {
    let event =
        agora_runtime::RuntimeEvent::System(pallet_system::Event::ExtrinsicSuccess { weight: 5 });
    vec![RawEvent {
        phase: Phase::ApplyExtrinsic(0),
        event: event.encode(),
    }]
}

fn message<T: serde::Serialize>(item: &T) -> SubscriptionMessage {
    SubscriptionMessage::from(serde_json::value::to_raw_value(item).unwrap())
}

impl SystemApiServer for Mock {
    fn properties(&self) -> Result<SystemProperties, Error> {
        Ok(SystemProperties::current())
    }
    fn health(&self) -> Result<Health, Error> {
        Ok(Health {
            is_syncing: false,
            peers: 0,
            should_have_peers: false,
        })
    }
    fn chain(&self) -> Result<String, Error> {
        Ok("Mock".to_owned())
    }
    fn name(&self) -> Result<String, Error> {
        Ok("mock-node".to_owned())
    }
    fn version(&self) -> Result<String, Error> {
        Ok("0.0.0".to_owned())
    }
    fn account_next_index(&self, address: String) -> Result<Nonce, Error> {
        match address.as_str() {
            ALICE => Ok(3),
            other => Err(Error::invalid_params(format!(
                "'{other}' is not an address"
            ))),
        }
    }
}

impl ChainApiServer for Mock {
    fn header(&self, hash: Option<Hash>) -> Result<Option<Header>, Error> {
        Ok((hash.is_none() || hash == Some(header().hash)).then(header))
    }
    fn block(&self, hash: Option<Hash>) -> Result<Option<SignedBlock>, Error> {
        Ok(hash.is_none().then(|| SignedBlock {
            block: Block {
                extrinsics: vec![Hex::encode(&[1])],
                header: header(),
            },
            finality_certificate: None,
        }))
    }
    fn block_hash(&self, number: Option<BlockNumber>) -> Result<Option<Hash>, Error> {
        Ok(Some(h(u8::try_from(number.unwrap_or(99)).unwrap())))
    }
    fn finalized_head(&self) -> Result<Hash, Error> {
        Ok(header().hash)
    }
}

#[async_trait]
impl ChainHeadsApiServer for Mock {
    async fn subscribe_new_heads(&self, pending: PendingSubscriptionSink) -> SubscriptionResult {
        let sink = pending.accept().await?;
        sink.send(message(&header())).await?;
        Ok(())
    }
    async fn subscribe_finalized_heads(
        &self,
        pending: PendingSubscriptionSink,
    ) -> SubscriptionResult {
        let sink = pending.accept().await?;
        sink.send(message(&header())).await?;
        Ok(())
    }
}

#[async_trait]
impl StateWatchApiServer for Mock {
    async fn subscribe_runtime_version(
        &self,
        pending: PendingSubscriptionSink,
    ) -> SubscriptionResult {
        let sink = pending.accept().await?;
        sink.send(message(&RuntimeVersion::current())).await?;
        Ok(())
    }
    async fn subscribe_storage(
        &self,
        pending: PendingSubscriptionSink,
        _ext: &jsonrpsee::Extensions,
        keys: Option<Vec<Hex>>,
    ) -> SubscriptionResult {
        let sink = pending.accept().await?;
        let changes = keys
            .unwrap_or_default()
            .into_iter()
            .map(|key| (key, Some(Hex::encode(&[0xff]))))
            .collect();
        let set = StorageChangeSet {
            block: h(4),
            changes,
        };
        sink.send(message(&set)).await?;
        Ok(())
    }
}

impl PaymentApiServer for Mock {
    fn query_info(&self, extrinsic: Hex, _hash: Option<Hash>) -> Result<DispatchInfo, Error> {
        let len = extrinsic
            .decode()
            .map_err(|e| Error::invalid_params(e.to_string()))?
            .len();
        Ok(DispatchInfo {
            weight: 60_000,
            class: "normal".to_owned(),
            partial_fee: u128::MAX - u128::try_from(len).unwrap_or(0),
        })
    }
}

impl StateApiServer for Mock {
    fn runtime_version(&self, _hash: Option<Hash>) -> Result<RuntimeVersion, Error> {
        Ok(RuntimeVersion::current())
    }
    fn metadata(&self, _hash: Option<Hash>) -> Result<Hex, Error> {
        Ok(Hex::encode(b"meta"))
    }
    fn storage(&self, key: Hex, hash: Option<Hash>) -> Result<Option<Hex>, Error> {
        let key = key
            .decode()
            .map_err(|e| Error::invalid_params(e.to_string()))?;
        Ok(hash
            .is_none()
            .then(|| Hex::encode(&[key, vec![0xff]].concat())))
    }
    fn read_proof(&self, keys: Vec<Hex>, hash: Option<Hash>) -> Result<ReadProof, Error> {
        Ok(ReadProof {
            at: hash.unwrap_or(h(0)),
            proof: keys,
        })
    }
    fn keys_paged(
        &self,
        prefix: Option<Hex>,
        count: u32,
        start_key: Option<Hex>,
        hash: Option<Hash>,
    ) -> Result<Vec<Hex>, Error> {
        // Echoes what it understood.
        Ok(vec![
            prefix.unwrap_or_default(),
            Hex::encode(&count.to_le_bytes()),
            start_key.unwrap_or_default(),
            Hex::encode(&hash.map(|h| h.0.to_vec()).unwrap_or_default()),
        ])
    }
    fn query_storage_at(
        &self,
        keys: Vec<Hex>,
        hash: Option<Hash>,
    ) -> Result<Vec<StorageChangeSet>, Error> {
        Ok(vec![StorageChangeSet {
            block: hash.unwrap_or(h(0)),
            changes: keys.into_iter().map(|key| (key, None)).collect(),
        }])
    }
}

#[async_trait]
impl AuthorApiServer for Mock {
    async fn submit_extrinsic(&self, extrinsic: Hex) -> Result<Hash, Error> {
        let bytes = extrinsic
            .decode()
            .map_err(|e| Error::new(ErrorCode::BadExtrinsic, e.to_string()))?;
        Ok(Hash::of(&bytes))
    }

    fn validator_keys(&self) -> Result<Option<ValidatorKeys>, Error> {
        Ok(None)
    }
}

#[async_trait]
impl AuthorWatchApiServer for Mock {
    async fn submit_and_watch_extrinsic(
        &self,
        pending: PendingSubscriptionSink,
        extrinsic: Hex,
    ) -> SubscriptionResult {
        if extrinsic.decode().is_err() {
            pending
                .reject(Error::new(ErrorCode::BadExtrinsic, "not hex"))
                .await;
            return Ok(());
        }
        let sink = pending.accept().await?;
        sink.send(message(&ExtrinsicStatus::Ready)).await?;
        sink.send(message(&ExtrinsicStatus::Finalized {
            block: h(8),
            number: 8,
        }))
        .await?;
        Ok(())
    }
}

impl AgoraApiServer for Mock {
    fn balance(&self, address: String, _hash: Option<Hash>) -> Result<AccountBalance, Error> {
        Ok(AccountBalance {
            address: address.parse().map_err(|_| Error::invalid_params("bad"))?,
            free: u128::MAX,
            reserved: 0,
            total: u128::MAX,
            nonce: 1,
        })
    }
    fn events(&self, _hash: Option<Hash>) -> Result<EventsJson, Error> {
        let records = agora_runtime::decode_events(&raw_events()).map_err(Error::storage)?;
        EventsJson::from_records(&records).map_err(Error::storage)
    }
    fn encoded_events(&self, hash: Option<Hash>) -> Result<EncodedEvents, Error> {
        match hash {
            Some(hash) if hash != header().hash => Err(Error::unknown_block(&hash)),
            _ => Ok(EncodedEvents::from_raw(&raw_events())),
        }
    }
}

#[async_trait]
impl BlobApiServer for Mock {
    async fn blob_put(&self, blob: Hex, hash: Option<Hash>) -> Result<Hash, Error> {
        let bytes = blob
            .decode()
            .map_err(|e| Error::invalid_params(e.to_string()))?;
        match hash {
            Some(named) if named != Hash::of(&bytes) => {
                Err(Error::invalid_params(format!("not {named}")))
            }
            _ => Ok(Hash::of(&bytes)),
        }
    }
    async fn blob_get(&self, hash: Hash) -> Result<Hex, Error> {
        Err(Error::new(
            ErrorCode::BlobNotStored,
            format!("blob {hash} is not stored on this node"),
        ))
    }
    fn blob_has(&self, _hash: Hash) -> Result<BlobPresence, Error> {
        Ok(BlobPresence {
            registered: true,
            size: Some(4),
            stored: false,
        })
    }
}

/// A market with one open offer and a clearing, through the views' own builder.
fn market_report() -> views::MarketReport {
    views::MarketReport {
        block: 9,
        offers: Vec::new(),
        bids: Vec::new(),
        clearings: vec![views::ClearingRow {
            block: 8,
            price: "0.001".to_owned(),
            newcomer_price: None,
            matched: 1,
            fuel: 1_500_000_000,
        }],
        queue_times: Vec::new(),
        renewable_share_percent: Some(100.0),
        newcomer_share_percent: None,
    }
}

impl ViewApiServer for Mock {
    fn chain_report(&self) -> Result<views::ChainReport, Error> {
        Ok(views::ChainReport {
            chain: "Mock".to_owned(),
            best: 9,
            best_hash: h(9),
            finalized: 8,
            finalized_hash: h(8),
            epoch: 0,
            validators: Vec::new(),
            pool: 0,
            blocks: vec![views::BlockRow {
                number: 9,
                hash: h(9),
                timestamp: 9_000,
                author: ALICE.parse().unwrap(),
                extrinsics: 2,
                finalized: false,
                finality_ms: None,
            }],
        })
    }
    fn market(&self, _hash: Option<Hash>) -> Result<views::MarketReport, Error> {
        Ok(market_report())
    }
    fn job(&self, id: u64, _hash: Option<Hash>) -> Result<views::JobReport, Error> {
        Ok(views::JobReport::unknown(id))
    }
    fn jobs(&self, _hash: Option<Hash>) -> Result<Vec<views::JobReport>, Error> {
        Ok(vec![views::JobReport::unknown(3)])
    }
    fn account(&self, address: String, _hash: Option<Hash>) -> Result<views::AccountReport, Error> {
        Err(Error::invalid_params(format!("unknown address {address}")))
    }
}

struct Methods(Vec<String>);

impl RpcApiServer for Methods {
    fn methods(&self) -> Result<RpcMethods, Error> {
        Ok(RpcMethods {
            methods: self.0.clone(),
        })
    }
}

/// Every trait merged, `rpc_methods` listing the rest, as the node builds its module.
fn module() -> RpcModule<()> {
    let mut module = RpcModule::new(());
    module.merge(SystemApiServer::into_rpc(Mock)).unwrap();
    module.merge(ChainApiServer::into_rpc(Mock)).unwrap();
    module.merge(ChainHeadsApiServer::into_rpc(Mock)).unwrap();
    module.merge(StateApiServer::into_rpc(Mock)).unwrap();
    module.merge(StateWatchApiServer::into_rpc(Mock)).unwrap();
    module.merge(PaymentApiServer::into_rpc(Mock)).unwrap();
    module.merge(AuthorApiServer::into_rpc(Mock)).unwrap();
    module.merge(AuthorWatchApiServer::into_rpc(Mock)).unwrap();
    module.merge(AgoraApiServer::into_rpc(Mock)).unwrap();
    module.merge(ViewApiServer::into_rpc(Mock)).unwrap();
    module.merge(BlobApiServer::into_rpc(Mock)).unwrap();
    let mut names: Vec<String> = module.method_names().map(str::to_owned).collect();
    names.push(method::RPC_METHODS.to_owned());
    names.sort();
    module.merge(Methods(names).into_rpc()).unwrap();
    module
}

#[test]
fn the_traits_register_exactly_the_documented_methods() {
    let module = module();
    let mut registered: Vec<&str> = module.method_names().collect();
    registered.sort_unstable();
    assert_eq!(registered, method::ALL);
    // The crate documentation's method table names the same methods (and the notifications).
    let docs = include_str!("../../src/lib.rs");
    let mut documented: Vec<&str> = docs
        .lines()
        .filter_map(|line| line.strip_prefix("//! | `"))
        .flat_map(|row| {
            let first_cell = row.split(" | ").next().unwrap_or("");
            let last_cell = row.rsplit(" | ").next().unwrap_or("");
            first_cell
                .split('`')
                .chain(last_cell.split('`'))
                .filter(|word| {
                    word.contains('_')
                        && word.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                })
                .collect::<Vec<_>>()
        })
        .collect();
    documented.sort_unstable();
    documented.dedup();
    let notifications = [
        method::AUTHOR_EXTRINSIC_UPDATE,
        method::CHAIN_FINALIZED_HEAD,
        method::CHAIN_NEW_HEAD,
        method::STATE_RUNTIME_VERSION,
        method::STATE_STORAGE,
    ];
    let mut expected: Vec<&str> = method::ALL.iter().chain(&notifications).copied().collect();
    expected.sort_unstable();
    assert_eq!(documented, expected);
}

async fn call(module: &RpcModule<()>, method: &str, params: &str) -> String {
    let request = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"{method}","params":{params}}}"#);
    let (response, _) = module.raw_json_request(&request, 1).await.unwrap();
    response.get().to_owned()
}

#[tokio::test]
async fn parameters_are_positional_and_optional_ones_may_be_left_out() {
    let module = module();
    let result = |text: &str| format!(r#"{{"jsonrpc":"2.0","id":1,"result":{text}}}"#);
    let header_json = serde_json::to_string(&header()).unwrap();
    assert_eq!(
        call(&module, method::CHAIN_GET_HEADER, "[]").await,
        result(&header_json)
    );
    assert_eq!(
        call(&module, method::CHAIN_GET_HEADER, "[null]").await,
        result(&header_json)
    );
    assert_eq!(
        call(
            &module,
            method::CHAIN_GET_HEADER,
            &format!(r#"["{}"]"#, h(5))
        )
        .await,
        result("null")
    );
    let keys = call(
        &module,
        method::STATE_GET_KEYS_PAGED,
        &format!(r#"["0xaa",2,null,"{}"]"#, h(6)),
    )
    .await;
    assert_eq!(
        keys,
        result(&format!(
            r#"["0xaa","0x02000000","","0x{}"]"#,
            "06".repeat(32)
        ))
    );
    let keys = call(&module, method::STATE_GET_KEYS_PAGED, r#"[null,1]"#).await;
    assert_eq!(keys, result(r#"["","0x01000000","","0x"]"#));
    // jsonrpsee's own refusal of a malformed parameter: -32602, the detail in `data`.
    let bad = call(&module, method::CHAIN_GET_HEADER, r#"["0x1234"]"#).await;
    assert!(bad.contains(r#""code":-32602"#), "{bad}");
    assert!(bad.contains("'0x1234' is 2 bytes long"), "{bad}");
    let bad = call(&module, method::CHAIN_GET_BLOCK_HASH, r#"["not a number"]"#).await;
    assert!(bad.contains(r#""code":-32602"#), "{bad}");
    // The server's own errors keep their code and message.
    let bad = call(&module, method::AUTHOR_SUBMIT_EXTRINSIC, r#"["0xzz"]"#).await;
    assert!(
        bad.contains(r#""code":1002"#) && bad.contains("'0xzz'"),
        "{bad}"
    );
    let bad = call(&module, method::SYSTEM_ACCOUNT_NEXT_INDEX, r#"["5Grwva"]"#).await;
    assert!(
        bad.contains(r#""code":-32602,"message":"'5Grwva' is not an address""#),
        "{bad}"
    );
    // Big amounts go out exactly.
    let balance = call(&module, method::AGORA_BALANCE, &format!(r#"["{ALICE}"]"#)).await;
    assert!(
        balance.contains(r#""free":340282366920938463463374607431768211455"#),
        "{balance}"
    );
    let methods = call(&module, method::RPC_METHODS, "[]").await;
    assert!(methods.contains(r#""rpc_methods""#), "{methods}");
}

#[tokio::test]
async fn typed_clients_read_every_answer_over_http_and_websocket() {
    let server = jsonrpsee::server::Server::builder()
        .build("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr().unwrap();
    let handle = server.start(module());
    let http = jsonrpsee::http_client::HttpClientBuilder::default()
        .build(format!("http://{addr}"))
        .unwrap();
    let header = header();

    assert_eq!(SystemApiClient::name(&http).await.unwrap(), "mock-node");
    assert_eq!(http.account_next_index(ALICE.to_owned()).await.unwrap(), 3);
    assert!(!http.health().await.unwrap().should_have_peers);
    assert_eq!(
        ChainApiClient::header(&http, Some(header.hash))
            .await
            .unwrap(),
        Some(header.clone())
    );
    assert_eq!(
        ChainApiClient::header(&http, Some(h(1))).await.unwrap(),
        None
    );
    let block = http.block(None).await.unwrap().unwrap();
    assert_eq!(block.block.extrinsics[0].decode().unwrap(), vec![1]);
    assert_eq!(http.block_hash(Some(4)).await.unwrap(), Some(h(4)));
    assert_eq!(http.finalized_head().await.unwrap(), header.hash);
    assert_eq!(
        http.storage(Hex::encode(&[1]), None).await.unwrap(),
        Some(Hex::encode(&[1, 0xff]))
    );
    let changes = http
        .query_storage_at(vec![Hex::encode(&[2])], Some(h(3)))
        .await
        .unwrap();
    assert_eq!(changes[0].block, h(3));
    assert_eq!(
        http.submit_extrinsic(Hex::encode(&[1, 2])).await.unwrap(),
        Hash::of(&[1, 2])
    );
    let refused = http
        .submit_extrinsic(Hex::from("0xzz".to_owned()))
        .await
        .unwrap_err();
    let refused = Error::from_client_error(&refused).unwrap();
    assert_eq!(refused.code, ErrorCode::BadExtrinsic);
    let balance = http.balance(ALICE.to_owned(), None).await.unwrap();
    assert_eq!(balance.free, u128::MAX);
    assert!(http
        .events(None)
        .await
        .unwrap()
        .get()
        .contains("ExtrinsicSuccess"));
    // Typed events, decoded with the runtime's own types.
    let events = block_events(&http, Some(header.hash)).await.unwrap();
    assert_eq!(events, agora_runtime::decode_events(&raw_events()).unwrap());
    let unknown = block_events(&http, Some(h(1))).await.unwrap_err();
    let EventsError::Rpc(unknown) = unknown else {
        panic!("{unknown}")
    };
    assert_eq!(
        Error::from_client_error(&unknown).map(|e| e.code),
        Some(ErrorCode::UnknownBlock)
    );
    // The hash is optional on the wire: a client that names it and one that does not.
    assert_eq!(
        http.blob_put(Hex::encode(&[5]), None).await.unwrap(),
        Hash::of(&[5])
    );
    assert_eq!(
        http.blob_put(Hex::encode(&[5]), Some(Hash::of(&[5])))
            .await
            .unwrap(),
        Hash::of(&[5])
    );
    assert!(http
        .blob_put(Hex::encode(&[5]), Some(Hash::of(&[6])))
        .await
        .is_err());
    let missing = http.blob_get(h(2)).await.unwrap_err();
    assert_eq!(
        Error::from_client_error(&missing).unwrap().code,
        ErrorCode::BlobNotStored
    );
    assert_eq!(http.blob_has(h(2)).await.unwrap().size, Some(4));
    // Views round-trip: what the node serializes, clients read back unchanged.
    assert_eq!(http.market(None).await.unwrap(), market_report());
    let chain = http.chain_report().await.unwrap();
    assert_eq!((chain.best, chain.blocks[0].extrinsics), (9, 2));
    assert_eq!(
        http.job(7, None).await.unwrap(),
        views::JobReport::unknown(7)
    );
    assert_eq!(http.jobs(None).await.unwrap()[0].job, 3);
    let refused = http.account("nobody".to_owned(), None).await.unwrap_err();
    assert!(Error::from_client_error(&refused)
        .unwrap()
        .message
        .contains("nobody"));
    let mut listed = http.methods().await.unwrap().methods;
    listed.sort();
    assert_eq!(listed, method::ALL);

    // Subscriptions need a WebSocket.
    let ws = jsonrpsee::ws_client::WsClientBuilder::default()
        .build(format!("ws://{addr}"))
        .await
        .unwrap();
    let mut heads = ws.subscribe_finalized_heads().await.unwrap();
    assert_eq!(heads.next().await.unwrap().unwrap(), header);
    let mut heads = ws.subscribe_new_heads().await.unwrap();
    assert_eq!(heads.next().await.unwrap().unwrap(), header);
    let mut watch = ws
        .submit_and_watch_extrinsic(Hex::encode(&[1]))
        .await
        .unwrap();
    assert_eq!(watch.next().await.unwrap().unwrap(), ExtrinsicStatus::Ready);
    assert_eq!(
        watch.next().await.unwrap().unwrap(),
        ExtrinsicStatus::Finalized {
            block: h(8),
            number: 8
        }
    );
    let refused = ws
        .submit_and_watch_extrinsic(Hex::from("0xzz".to_owned()))
        .await
        .unwrap_err();
    assert_eq!(
        Error::from_client_error(&refused).unwrap().code,
        ErrorCode::BadExtrinsic
    );
    // The Substrate-compatible surface: versions, properties, metadata, fees, storage watches.
    assert_eq!(
        http.properties().await.unwrap(),
        SystemProperties::current()
    );
    assert_eq!(
        http.runtime_version(None).await.unwrap(),
        RuntimeVersion::current()
    );
    assert_eq!(http.metadata(None).await.unwrap(), Hex::encode(b"meta"));
    // A fee beyond 2^53 survives the decimal string exactly.
    let info = http.query_info(Hex::encode(&[1, 2]), None).await.unwrap();
    assert_eq!(info.partial_fee, u128::MAX - 2);
    let mut versions = ws.subscribe_runtime_version().await.unwrap();
    assert_eq!(
        versions.next().await.unwrap().unwrap(),
        RuntimeVersion::current()
    );
    let mut storage = ws
        .subscribe_storage(Some(vec![Hex::encode(&[1])]))
        .await
        .unwrap();
    let set = storage.next().await.unwrap().unwrap();
    assert_eq!(
        set.changes,
        vec![(Hex::encode(&[1]), Some(Hex::encode(&[0xff])))]
    );
    handle.stop().unwrap();
}
