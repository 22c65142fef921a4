//! The Substrate-compatible surface of a real node (`docs/polkadot-js.md`), checked from Rust at
//! the wire: what polkadot.js computes on its own side (header hashes, storage keys, extrinsic
//! hashes) agrees with what the node serves, the items served beside the state carry the
//! state's values, storage subscriptions report changes, and fee estimates are what is paid.
//! `scripts/check-polkadot-js.sh` runs the real polkadot.js against a node.

use crate::support::{error_of, Node};
use agora_primitives::storage::hashed_prefix;
use agora_primitives::{AccountId, Hash, AGR};
use agora_rpc_api::{
    codes, AgoraApiClient, AuthorApiClient, ChainApiClient, Hex, PaymentApiClient, StateApiClient,
    StateWatchApiClient, SystemApiClient,
};
use agora_runtime::executive::immortal_extra;
use agora_runtime::extrinsic::{hash_of, Extrinsic};
use agora_runtime::genesis::dev_account;
use agora_runtime::metadata::{self, AccountInfo};
use agora_runtime::RuntimeCall;
use parity_scale_codec::{Compact, Decode, Encode};
use sp_core::Pair;
use std::time::Duration;

fn transfer(node: &Node, nonce: u32, value: u128) -> Extrinsic {
    let genesis = node.genesis_hash();
    let alice = sp_core::sr25519::Pair::from_string("//Alice", None).unwrap();
    let call = RuntimeCall::Balances(pallet_balances::Call::TransferKeepAlive {
        dest: dev_account("Bob"),
        value: Compact(value),
    });
    Extrinsic::sign(&alice, call, immortal_extra(nonce, 0), &genesis, &genesis)
}

/// What a Substrate client hashes: the header as JSON, re-encoded as a Substrate header.
fn substrate_hash_of(header: &serde_json::Value) -> Hash {
    let hash = |field: &str| Hash::from_hex(header[field].as_str().unwrap()).unwrap();
    let number = u32::try_from(header["number"].as_u64().unwrap()).unwrap();
    let mut bytes = Vec::new();
    hash("parentHash").encode_to(&mut bytes);
    Compact(number).encode_to(&mut bytes);
    hash("stateRoot").encode_to(&mut bytes);
    hash("extrinsicsRoot").encode_to(&mut bytes);
    let logs = header["digest"]["logs"].as_array().unwrap();
    Compact(u32::try_from(logs.len()).unwrap()).encode_to(&mut bytes);
    for log in logs {
        bytes.extend(agora_primitives::decode_hex(log.as_str().unwrap()).unwrap());
    }
    Hash::blake2_256(&bytes)
}

#[test]
fn a_substrate_client_computes_the_nodes_hashes_and_keys() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_finalized(dir.path());

    // The header hash a client computes from the JSON is the node's block hash.
    let head = node.call(ChainApiClient::finalized_head);
    let header = node
        .try_rpc(
            agora_rpc_api::method::CHAIN_GET_HEADER,
            serde_json::json!([head]),
        )
        .unwrap();
    assert_eq!(substrate_hash_of(&header), head);
    let genesis = node.try_rpc(
        agora_rpc_api::method::CHAIN_GET_HEADER,
        serde_json::json!([node.genesis_hash()]),
    );
    assert_eq!(substrate_hash_of(&genesis.unwrap()), node.genesis_hash());

    // Version, properties and metadata.
    let version = node.call(|c| c.runtime_version(None));
    assert_eq!(
        (version.spec_name.as_str(), version.spec_version),
        ("agora", agora_runtime::SPEC_VERSION)
    );
    let properties = node.call(SystemApiClient::properties);
    assert_eq!(
        (
            properties.ss58_format,
            properties.token_decimals,
            properties.token_symbol.as_str()
        ),
        (42, 12, "AGR")
    );
    let served = node.call(|c| c.metadata(None)).decode().unwrap();
    assert_eq!(served, metadata::encoded());
    assert_eq!(&served[..5], b"meta\x0e", "magic, then version 14");
    // An unknown block is named, for the version as for everything else.
    let error = node
        .try_call(|c| c.runtime_version(Some(Hash([7; 32]))))
        .unwrap_err();
    assert!(error_of(&error).1.contains("0x0707"), "{error:?}");

    // System.Account at FRAME's key for //Alice holds the nonce and the balances.
    let alice = dev_account("Alice");
    let key = metadata::system_account_key(&alice);
    assert!(key.starts_with(&hashed_prefix("System", "Account")));
    let raw = node.call(|c| c.storage(Hex::encode(&key), None)).unwrap();
    let info = AccountInfo::decode(&mut &raw.decode().unwrap()[..]).unwrap();
    let balance = node.call(|c| c.balance(alice.to_string(), None));
    assert_eq!((info.nonce, info.data.free), (balance.nonce, balance.free));
    // An account that never existed reads as absent (clients apply the default).
    let nobody = metadata::system_account_key(&AccountId([0x55; 32]));
    assert_eq!(node.call(|c| c.storage(Hex::encode(&nobody), None)), None);
}

#[test]
fn events_subscriptions_and_fees_match_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_finalized(dir.path());
    let runtime = crate::support::multi_thread_runtime();
    let alice_key = metadata::system_account_key(&dev_account("Alice"));
    let bob_key = metadata::system_account_key(&dev_account("Bob"));
    let xt = transfer(&node, 0, 3 * AGR);

    runtime.block_on(async {
        let ws = jsonrpsee::ws_client::WsClientBuilder::default()
            .build(node.url().replace("http://", "ws://"))
            .await
            .unwrap();
        // Watching no key at all is refused, naming why.
        let refused = ws.subscribe_storage(Some(Vec::new())).await.unwrap_err();
        assert!(
            error_of(&refused).1.contains("needs the keys"),
            "{refused:?}"
        );
        let mut watch = ws
            .subscribe_storage(Some(vec![Hex::encode(&bob_key), Hex::encode(&alice_key)]))
            .await
            .unwrap();
        let first = watch.next().await.unwrap().unwrap();
        assert_eq!(first.changes.len(), 2, "every key first");

        // A transfer priced with payment_queryInfo, then sent.
        let bytes = xt.encode();
        let info = ws.query_info(Hex::encode(&bytes), None).await.unwrap();
        let hash = ws.submit_extrinsic(Hex::encode(&bytes)).await.unwrap();
        assert_eq!(hash, hash_of(&bytes));
        assert_eq!(
            info.partial_fee,
            agora_runtime::executive::extrinsic_fee(&xt, bytes.len())
        );

        // The subscription reports Bob's account once the transfer is in a block.
        let changed = tokio::time::timeout(Duration::from_secs(60), async {
            loop {
                let set = watch.next().await.unwrap().unwrap();
                if set
                    .changes
                    .iter()
                    .any(|(key, _)| key.decode().unwrap() == bob_key)
                {
                    return set;
                }
            }
        })
        .await
        .unwrap();
        let (_, value) = changed
            .changes
            .iter()
            .find(|(key, _)| key.decode().unwrap() == bob_key)
            .unwrap();
        let bob = AccountInfo::decode(&mut &value.as_ref().unwrap().decode().unwrap()[..]).unwrap();
        let before =
            AccountInfo::decode(&mut &first.changes[0].1.as_ref().unwrap().decode().unwrap()[..])
                .unwrap();
        assert_eq!(bob.data.free - before.data.free, 3 * AGR);

        // System.Events at that block is the block's events in FRAME's record format.
        let events_key = metadata::system_events_key();
        let at = changed.block;
        let served = ws
            .storage(Hex::encode(&events_key), Some(at))
            .await
            .unwrap()
            .unwrap();
        let raw = ws.encoded_events(Some(at)).await.unwrap();
        let records = raw.raw().unwrap();
        assert!(!records.is_empty());
        assert_eq!(
            served.decode().unwrap(),
            metadata::encode_system_events(&records)
        );
    });
}

#[test]
fn one_connection_holds_a_bounded_number_of_subscriptions() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_finalized(dir.path());
    let runtime = crate::support::multi_thread_runtime();
    let key = Hex::encode(&metadata::system_account_key(&dev_account("Alice")));
    runtime.block_on(async {
        let url = node.url().replace("http://", "ws://");
        let ws = jsonrpsee::ws_client::WsClientBuilder::default()
            .build(&url)
            .await
            .unwrap();
        let mut held = Vec::new();
        // The connection may open SUBSCRIBE_BURST at once and then SUBSCRIBES_PER_SEC: a
        // subscription refused as busy is opened again after a pause.
        while held.len() < agora_node::rpc::MAX_SUBSCRIPTIONS_PER_CONNECTION as usize {
            match ws.subscribe_storage(Some(vec![key.clone()])).await {
                Ok(subscription) => held.push(subscription),
                Err(jsonrpsee::core::ClientError::Call(e)) if e.code() == codes::BUSY => {
                    tokio::time::sleep(Duration::from_millis(150)).await;
                }
                Err(e) => panic!("subscription {} failed: {e}", held.len() + 1),
            }
        }
        // One more on the same connection is refused for the count, not the rate (the pause
        // refills the rate's bucket); the connection and the node carry on.
        tokio::time::sleep(Duration::from_secs(1)).await;
        match ws.subscribe_storage(Some(vec![key.clone()])).await {
            Ok(_) => panic!("subscription {} accepted", held.len() + 1),
            Err(jsonrpsee::core::ClientError::Call(e)) => assert_ne!(e.code(), codes::BUSY, "{e}"),
            Err(e) => panic!("subscription {} failed otherwise: {e}", held.len() + 1),
        }
        assert!(ws.properties().await.is_ok());
        // Another client is not affected.
        let other = jsonrpsee::ws_client::WsClientBuilder::default()
            .build(&url)
            .await
            .unwrap();
        let mut watch = other.subscribe_storage(Some(vec![key])).await.unwrap();
        assert!(watch.next().await.unwrap().is_ok());
    });
}
