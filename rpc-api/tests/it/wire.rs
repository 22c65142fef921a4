//! Each wire type against a literal of today's JSON, and back.

use agora_primitives::storage::{Phase, RawEvent};
use agora_primitives::{AccountId, Hash};
use agora_rpc_api::*;
use agora_runtime::{EventRecord, RuntimeEvent};
use jsonrpsee::types::ErrorObjectOwned;
use parity_scale_codec::Encode;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::json;
use std::fmt::Debug;

pub const ALICE: &str = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
pub const BOB: &str = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty";

/// `value` serializes to exactly `json` and `json` reads back as `value`.
fn wire<T: Serialize + DeserializeOwned + PartialEq + Debug>(value: &T, json: &str) {
    assert_eq!(serde_json::to_string(value).unwrap(), json);
    assert_eq!(&serde_json::from_str::<T>(json).unwrap(), value);
}

fn h(byte: u8) -> Hash {
    Hash([byte; 32])
}

pub fn runtime_header() -> agora_runtime::block::Header {
    agora_runtime::block::Header {
        parent_hash: h(1),
        number: 7u64.into(),
        timestamp: 1_700_000_000_000,
        author: ALICE.parse().unwrap(),
        beacon: agora_runtime::block::BeaconProof {
            proposer: h(5),
            pre_output: [6; 32],
            proof: [7; 64],
        },
        extrinsics_root: h(2),
        state_root: h(3),
        events_root: h(4),
    }
}

#[test]
fn header_is_what_the_node_built_with_json() {
    let runtime = runtime_header();
    // The node's former `header_json`, verbatim.
    let before = json!({
        "hash": runtime.hash(),
        "parentHash": runtime.parent_hash,
        "number": runtime.number(),
        "timestamp": runtime.timestamp,
        "author": runtime.author,
        "beacon": {
            "proposer": runtime.beacon.proposer,
            "preOutput": Hash(runtime.beacon.pre_output),
            "proof": format!("0x{}", "07".repeat(64)),
        },
        "extrinsicsRoot": runtime.extrinsics_root,
        "stateRoot": runtime.state_root,
        "eventsRoot": runtime.events_root,
        // Since spec version 2: the fields above Substrate has no place for, as Substrate's
        // digest, so a Substrate client hashes the header to `hash`.
        "digest": { "logs": [Hex::encode(&runtime.digest_item().0)] },
    })
    .to_string();
    let header = Header::from(&runtime);
    wire(&header, &before);
    assert!(before.starts_with(&format!(
        r#"{{"author":"{ALICE}","beacon":{{"preOutput":"0x0606"#
    )));
    assert_eq!(header.to_runtime(), runtime);
    assert_eq!(header.to_runtime().hash(), header.hash);
}

#[test]
fn signed_block_names_its_certificate_or_null() {
    let header = Header::from(&runtime_header());
    let block = SignedBlock {
        block: Block {
            extrinsics: vec![Hex::encode(&[1, 2]), Hex::encode(&[])],
            header: header.clone(),
        },
        finality_certificate: None,
    };
    let header_json = serde_json::to_string(&header).unwrap();
    let before = json!({
        "block": { "header": header, "extrinsics": ["0x0102", "0x"] },
        "finalityCertificate": null,
    })
    .to_string();
    assert_eq!(
        before,
        format!(
            r#"{{"block":{{"extrinsics":["0x0102","0x"],"header":{header_json}}},"finalityCertificate":null}}"#
        )
    );
    wire(&block, &before);
    let certified = SignedBlock {
        finality_certificate: Some(Hex::encode(&[0xab])),
        ..block
    };
    wire(
        &certified,
        &format!(
            r#"{{"block":{{"extrinsics":["0x0102","0x"],"header":{header_json}}},"finalityCertificate":"0xab"}}"#
        ),
    );
}

#[test]
fn small_answers_keep_their_shape() {
    wire(
        &Health {
            is_syncing: false,
            peers: 3,
            should_have_peers: true,
        },
        r#"{"isSyncing":false,"peers":3,"shouldHavePeers":true}"#,
    );
    wire(
        &ReadProof {
            at: h(9),
            proof: vec![Hex::encode(&[1]), Hex::encode(&[2, 3])],
        },
        &format!(r#"{{"at":"{}","proof":["0x01","0x0203"]}}"#, h(9)),
    );
    wire(
        &vec![StorageChangeSet {
            block: h(5),
            changes: vec![
                (Hex::encode(&[0xaa]), Some(Hex::encode(&[0xbb]))),
                (Hex::encode(&[0xcc]), None),
            ],
        }],
        &format!(
            r#"[{{"block":"{}","changes":[["0xaa","0xbb"],["0xcc",null]]}}]"#,
            h(5)
        ),
    );
    wire(
        &BlobPresence {
            registered: true,
            size: Some(1000),
            stored: false,
        },
        r#"{"registered":true,"size":1000,"stored":false}"#,
    );
    wire(
        &BlobPresence {
            registered: false,
            size: None,
            stored: false,
        },
        r#"{"registered":false,"size":null,"stored":false}"#,
    );
    wire(
        &RpcMethods {
            methods: vec!["a_b".to_owned(), "c_d".to_owned()],
        },
        r#"{"methods":["a_b","c_d"]}"#,
    );
    // Plain answers: hashes and hex are `0x`-strings, nonces numbers.
    wire(&h(1), &format!("\"0x{}\"", "01".repeat(32)));
    wire(&Hex::encode(&[0, 255]), r#""0x00ff""#);
    wire(&Some(h(2)), &format!("\"{}\"", h(2)));
    wire(&None::<Hash>, "null");
}

#[test]
fn balances_beyond_u64_are_exact() {
    let balance = AccountBalance {
        address: ALICE.parse().unwrap(),
        free: u128::MAX,
        reserved: 1,
        total: u128::MAX,
        nonce: 7,
    };
    wire(
        &balance,
        &format!(
            r#"{{"address":"{ALICE}","free":340282366920938463463374607431768211455,"reserved":1,"total":340282366920938463463374607431768211455,"nonce":7}}"#
        ),
    );
}

#[test]
fn extrinsic_status_is_a_word_or_the_finalized_block() {
    wire(&ExtrinsicStatus::Ready, r#""ready""#);
    wire(&ExtrinsicStatus::Dropped, r#""dropped""#);
    wire(
        &ExtrinsicStatus::Finalized {
            block: h(7),
            number: 12,
        },
        &format!(r#"{{"finalized":"{}","number":12}}"#, h(7)),
    );
    // What the node used to build with `json!`.
    assert_eq!(
        serde_json::to_string(&ExtrinsicStatus::Finalized {
            block: h(7),
            number: 12
        })
        .unwrap(),
        json!({ "finalized": h(7), "number": 12u64 }).to_string()
    );
    assert!(serde_json::from_str::<ExtrinsicStatus>(r#""usurped""#).is_err());
}

fn records() -> Vec<EventRecord> {
    let alice: AccountId = ALICE.parse().unwrap();
    let bob: AccountId = BOB.parse().unwrap();
    vec![
        EventRecord {
            phase: Phase::ApplyExtrinsic(3),
            event: RuntimeEvent::Balances(pallet_balances::Event::Transfer {
                from: alice,
                to: bob,
                amount: u128::from(u64::MAX) * 10,
            }),
        },
        EventRecord {
            phase: Phase::Finalization,
            event: RuntimeEvent::System(pallet_system::Event::ExtrinsicSuccess { weight: 1 }),
        },
    ]
}

#[test]
fn events_json_is_the_runtime_serialization_untouched() {
    let records = records();
    let json = EventsJson::from_records(&records).unwrap();
    assert_eq!(json.get(), serde_json::to_string(&records).unwrap());
    assert!(json.get().contains(r#""amount":184467440737095516150"#));
    // As an answer it is carried verbatim.
    let back: EventsJson = serde_json::from_str(&serde_json::to_string(&json).unwrap()).unwrap();
    assert_eq!(back.get(), json.get());
}

#[test]
fn encoded_events_decode_with_the_runtime_types_and_hash_to_the_events_root() {
    let records = records();
    let raw: Vec<RawEvent> = records
        .iter()
        .map(|record| RawEvent {
            phase: record.phase,
            event: record.event.encode(),
        })
        .collect();
    let encoded = EncodedEvents::from_raw(&raw);
    assert_eq!(encoded.as_hex(), &Hex::encode(&raw.encode()));
    wire(&encoded, &format!("\"{}\"", Hex::encode(&raw.encode())));
    assert_eq!(encoded.raw().unwrap(), raw);
    assert_eq!(encoded.decode().unwrap(), records);
    assert_eq!(
        encoded.hash().unwrap(),
        agora_runtime::block::events_root(&raw)
    );
    // Not events: refused, not guessed.
    let garbage: EncodedEvents = serde_json::from_str(r#""0x0401ff""#).unwrap();
    assert!(matches!(garbage.decode(), Err(EventsError::Decode(_))));
    let not_hex: EncodedEvents = serde_json::from_str(r#""0xzz""#).unwrap();
    assert!(matches!(not_hex.decode(), Err(EventsError::Hex(_))));
}

#[test]
fn error_codes_are_the_documented_numbers() {
    let expected = [
        (ErrorCode::BadExtrinsic, 1002),
        (ErrorCode::InvalidTransaction, 1010),
        (ErrorCode::AlreadyImported, 1013),
        (ErrorCode::PoolFull, 1016),
        (ErrorCode::UnknownBlock, 4001),
        (ErrorCode::Storage, 4003),
        (ErrorCode::StateNotIterable, 4004),
        (ErrorCode::TooLarge, 4130),
        (ErrorCode::Busy, 4290),
        (ErrorCode::BlobNotRegistered, 5001),
        (ErrorCode::BlobSizeMismatch, 5002),
        (ErrorCode::BlobTooLarge, 5003),
        (ErrorCode::BlobNotStored, 5004),
        (ErrorCode::BlobCorrupt, 5005),
        (ErrorCode::InvalidParams, -32602),
    ];
    assert_eq!(expected.len(), ErrorCode::ALL.len());
    for (code, number) in expected {
        assert_eq!(code.code(), number);
        assert_eq!(ErrorCode::from_code(number), Some(code));
    }
    assert_eq!(ErrorCode::from_code(-32601), None);
    // The documented table lists every Agora code.
    let docs = include_str!("../../src/lib.rs");
    for code in ErrorCode::ALL
        .into_iter()
        .filter(|c| *c != ErrorCode::InvalidParams)
    {
        assert!(
            docs.contains(&format!("//! | {} | ", code.code())),
            "{code:?} is not in the error table"
        );
    }
}

#[test]
fn errors_become_error_objects_and_back() {
    let error = Error::unknown_block(&h(3));
    let object = ErrorObjectOwned::from(error.clone());
    assert_eq!(
        serde_json::to_string(&object).unwrap(),
        format!(r#"{{"code":4001,"message":"block {} is unknown"}}"#, h(3))
    );
    assert_eq!(Error::from_object(&object), Some(error));
    let client_error = jsonrpsee::core::client::Error::Call(ErrorObjectOwned::owned(
        1010,
        "bad sr25519 signature",
        None::<()>,
    ));
    let typed = Error::from_client_error(&client_error).unwrap();
    assert_eq!(typed.code, ErrorCode::InvalidTransaction);
    assert!(typed.code.is_refusal());
    assert_eq!(typed.to_string(), "bad sr25519 signature");
    assert!(!ErrorCode::UnknownBlock.is_refusal());
}
