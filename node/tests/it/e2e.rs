//! A dev chain as a user meets it: start, transfer with the CLI, finality, SIGKILL, restart;
//! and every kind of bad input refused while blocks keep coming.

use crate::support::{binary, error_of, reserve_port, run_ok, Node, ReservedPort};
use agora_primitives::{AccountId, Hash, AGR};
use agora_rpc_api::{
    method, AgoraApiClient, AuthorApiClient, BlobApiClient, ChainApiClient, ChainHeadsApiClient,
    Hex, RpcApiClient, StateApiClient, SystemApiClient,
};
use agora_runtime::executive::immortal_extra;
use agora_runtime::extrinsic::{Extrinsic, MAX_EXTRINSIC_LEN};
use agora_runtime::genesis::{dev_account, DEV_ENDOWMENT};
use agora_runtime::RuntimeCall;
use parity_scale_codec::{Compact, Encode};
use serde_json::{json, Value};
use sp_core::{sr25519, Pair};
use std::path::Path;
use std::process::Command;

const ALICE: &str = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
const BOB: &str = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty";

fn free(node: &Node, who: &str) -> u128 {
    node.call(|c| c.balance(who.to_owned(), None)).free
}

fn agora(node: &Node, args: &[&str]) -> std::process::Output {
    Command::new(binary("agora"))
        .args(["--rpc", &node.url()])
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn dev_chain_transfers_with_the_cli_and_survives_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path());
    node.wait_finalized(2);
    assert_eq!(node.call(SystemApiClient::chain), "Agora Development");
    let bob_before = free(&node, BOB);
    assert_eq!(bob_before, DEV_ENDOWMENT);

    let output = agora(
        &node,
        &[
            "--output", "json", "transfer", "--from", "//Alice", "--to", BOB, "--amount", "1.5",
        ],
    );
    assert!(
        output.status.success(),
        "transfer failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let receipt: Value = serde_json::from_slice(&output.stdout).unwrap();
    let block_number = receipt["block_number"]
        .as_u64()
        .expect("the receipt names the finalized block");
    assert!(node.finalized_number() >= block_number);
    assert_eq!(free(&node, BOB), bob_before + 3 * AGR / 2);

    // The block's events, decoded with the runtime's own types and checked against its header.
    let block = node
        .call(|c| c.block_hash(Some(block_number)))
        .expect("the finalized block has a hash");
    let header = node.call(|c| c.header(Some(block))).unwrap();
    let encoded = node.call(|c| c.encoded_events(Some(block)));
    assert_eq!(encoded.hash().unwrap(), header.events_root);
    let transfer = agora_runtime::RuntimeEvent::Balances(pallet_balances::Event::Transfer {
        from: dev_account("Alice"),
        to: dev_account("Bob"),
        amount: 3 * AGR / 2,
    });
    let events = agora_rpc_api::EncodedEvents::decode(&encoded).unwrap();
    assert!(
        events.iter().any(|record| record.event == transfer),
        "no transfer among {events:?}"
    );
    let typed = node.run(|c| agora_rpc_api::block_events(c, Some(block)));
    assert_eq!(typed.unwrap(), events);
    // The JSON for people says the same.
    let json = node.call(|c| c.events(Some(block)));
    assert_eq!(
        json.get(),
        agora_rpc_api::EventsJson::from_records(&events)
            .unwrap()
            .get()
    );

    // The CLI reads the same balance.
    let output = agora(&node, &["--output", "json", "balance", BOB]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let shown: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(shown["free"], json!("1000001.5"));

    // SIGKILL, then restart on the same base path.
    let head_before = node.call(ChainApiClient::finalized_head);
    let number_before = node.finalized_number();
    let alice_before = node.call(|c| c.balance(ALICE.to_owned(), None));
    let header_before = node.call(|c| c.header(Some(head_before)));
    assert!(header_before.is_some());
    node.kill();

    let node = Node::start(dir.path());
    // The old head is still there, unchanged, and at or below the new finalized head.
    assert_eq!(node.call(|c| c.header(Some(head_before))), header_before);
    assert!(node.finalized_number() >= number_before);
    assert_eq!(free(&node, BOB), bob_before + 3 * AGR / 2);
    let alice_after = node.call(|c| c.balance(ALICE.to_owned(), None));
    assert_eq!(alice_after.free, alice_before.free);
    // And the chain goes on.
    node.wait_finalized(number_before + 2);
}

fn signed(genesis: &Hash, who: &str, nonce: u32, dest: AccountId, value: u128) -> Extrinsic {
    let signer = sr25519::Pair::from_string(&format!("//{who}"), None).unwrap();
    let call = RuntimeCall::Balances(pallet_balances::Call::TransferKeepAlive {
        dest,
        value: Compact(value),
    });
    Extrinsic::sign(&signer, call, immortal_extra(nonce, 0), genesis, genesis)
}

fn code(error: &Value) -> i64 {
    error["code"].as_i64().unwrap()
}

/// The node's refusal of a submission: its code and message.
type Refusal = (i32, String);

#[test]
fn bad_input_is_refused_with_a_named_reason_and_blocks_keep_coming() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_finalized(dir.path());
    let genesis = node.genesis_hash();
    let bob = dev_account("Bob");
    let submit_hex = |hex: Hex| -> Result<Hash, Refusal> {
        node.try_call(|c| c.submit_extrinsic(hex))
            .map_err(|e| error_of(&e))
    };
    let submit = |xt: &[u8]| submit_hex(Hex::encode(xt));

    // Not hex.
    let error = submit_hex(Hex::from("0xzz".to_owned())).unwrap_err();
    assert_eq!(error.0, 1002);
    assert!(error.1.contains("'0xzz'"), "{error:?}");
    // Hex, but not SCALE for an extrinsic.
    let error = submit(&[1, 2, 3]).unwrap_err();
    assert_eq!(error.0, 1002, "{error:?}");
    // Too long.
    let error = submit(&vec![1u8; MAX_EXTRINSIC_LEN + 1]).unwrap_err();
    assert!(error.1.contains("over the limit"), "{error:?}");
    // A bad signature: the amount changed after signing.
    let mut forged = signed(&genesis, "Alice", 0, bob, AGR);
    forged.call = RuntimeCall::Balances(pallet_balances::Call::TransferKeepAlive {
        dest: bob,
        value: Compact(1_000 * AGR),
    });
    let error = submit(&forged.encode()).unwrap_err();
    assert_eq!(error.0, 1010);
    assert!(error.1.starts_with("bad sr25519 signature"), "{error:?}");
    // Signed for another chain.
    let error = submit(&signed(&Hash([9; 32]), "Alice", 0, bob, AGR).encode()).unwrap_err();
    assert!(error.1.starts_with("bad sr25519 signature"), "{error:?}");
    // A nonce further ahead than the pool waits for (a gap; nearer ones wait for it to fill).
    let error = submit(&signed(&genesis, "Alice", 1_000, bob, AGR).encode()).unwrap_err();
    assert!(error.1.contains("leaves a gap"), "{error:?}");
    // An account that cannot pay the fee.
    let error = submit(&signed(&genesis, "Nobody", 0, bob, AGR).encode()).unwrap_err();
    assert!(error.1.contains("cannot pay the fee"), "{error:?}");

    // A valid one goes in, then its replay is refused once it is used.
    let good = signed(&genesis, "Alice", 0, bob, AGR).encode();
    submit(&good).unwrap();
    let error = submit(&good).unwrap_err();
    assert_eq!(error.0, 1013, "{error:?}");
    node.wait_for(
        std::time::Duration::from_secs(30),
        "the transfer to land",
        || (free(&node, BOB) == DEV_ENDOWMENT + AGR).then_some(()),
    );
    node.wait_for(
        std::time::Duration::from_secs(30),
        "the pool to forget it",
        || {
            submit(&good)
                .err()
                .filter(|e| e.1.contains("stale"))
                .map(|_| ())
        },
    );
    // More than the balance: admitted (the fee is payable) but the call fails in the block,
    // moving nothing but the fee.
    let alice = ALICE;
    let bob_free = free(&node, BOB);
    submit(&signed(&genesis, "Alice", 1, bob, 10 * DEV_ENDOWMENT).encode()).unwrap();
    node.wait_for(
        std::time::Duration::from_secs(30),
        "the failing transfer to be included",
        || {
            (node.call(|c| c.account_next_index(alice.to_owned())) == 2
                && node.call(|c| c.balance(alice.to_owned(), None)).nonce == 2)
                .then_some(())
        },
    );
    assert_eq!(free(&node, BOB), bob_free);

    // RPC-level errors: malformed requests, sent raw.
    let error = node.try_rpc("no_such_method", json!([])).unwrap_err();
    assert_eq!(code(&error), -32601);
    let error = node
        .try_rpc(method::CHAIN_GET_BLOCK_HASH, json!(["not a number"]))
        .unwrap_err();
    assert_eq!(code(&error), -32602);
    let error = node
        .try_call(|c| c.balance("5Grwva".to_owned(), None))
        .unwrap_err();
    let (code_of_error, message) = error_of(&error);
    assert_eq!(code_of_error, -32602);
    assert!(message.contains("'5Grwva'"), "{message}");
    let error = node
        .try_rpc(method::CHAIN_GET_HEADER, json!(["0x1234"]))
        .unwrap_err();
    // jsonrpsee's own parameter errors say "Invalid params" and put the detail in `data`.
    assert_eq!(code(&error), -32602);
    assert!(
        error["data"]
            .as_str()
            .unwrap()
            .contains("'0x1234' is 2 bytes long"),
        "{error}"
    );
    assert_eq!(node.call(|c| c.header(Some(Hash([3; 32])))), None);

    // Through all of it the node kept finalizing.
    let now = node.finalized_number();
    node.wait_finalized(now + 2);
}

/// Issue 15, item 3: the node's own keys off the command line. A dev validator whose key comes
/// from a 0600 file (`--validator-key-file`) produces blocks; a file other users can read is
/// refused naming the `chmod` that fixes it; and a mistyped key SURI — here a mnemonic with a
/// wrong word — is refused without echoing the phrase (it used to be printed whole).
#[test]
fn validator_keys_come_from_owner_only_files_and_bad_ones_are_not_echoed() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("validator.key");
    std::fs::write(&key, "//Alice\n").unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let node_bin = env!("CARGO_BIN_EXE_agora-node");
    let loose = Command::new(node_bin)
        .args([
            "--dev",
            "--tmp",
            "--validator-key-file",
            key.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&loose.stderr);
    assert!(
        !loose.status.success() && stderr.contains("chmod 600"),
        "{stderr}"
    );
    let phrase = "bottom drive obey lake curtain smoke basket hold race lonely fit walkk";
    let bad = Command::new(node_bin)
        .args(["--dev", "--tmp", "--validator-key", phrase])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(!bad.status.success(), "{stderr}");
    assert!(
        stderr.contains("<12-word phrase>") && !stderr.contains("curtain"),
        "the phrase must not be echoed: {stderr}"
    );
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let node = Node::start_with(
        &dir.path().join("base"),
        &["--dev", "--validator-key-file", key.to_str().unwrap()],
    );
    node.wait_finalized(2);
}

#[test]
fn read_proofs_verify_against_the_header_state_root() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_finalized(dir.path());

    // The RPC surface: Substrate's names, plus the agora helpers — exactly the API's.
    let methods = node.call(RpcApiClient::methods).methods;
    assert_eq!(methods, method::ALL);
    assert_eq!(node.call(SystemApiClient::name), "agora-node");
    assert!(!node.call(SystemApiClient::health).is_syncing);
    let head = node.call(ChainApiClient::finalized_head);
    let block = node.call(|c| c.block(Some(head))).unwrap();
    // The certificate served with a finalized block proves it against the committee.
    let certificate = block.finality_certificate.unwrap().decode().unwrap();
    let spec = agora_runtime::genesis::ChainSpec::development();
    let namespace = agora_node::chain::consensus_namespace(&spec.id, &spec.genesis().block.hash());
    let committee = [spec.validators[0].consensus_key.0];
    let proven = agora_node::consensus::verify_certificate(&namespace, &committee, &certificate);
    assert_eq!(proven.map(|(hash, _view)| hash), Some(head));
    let elsewhere =
        agora_node::consensus::verify_certificate(b"another chain", &committee, &certificate);
    assert_eq!(elsewhere, None);
    let header = node.call(|c| c.header(Some(head))).unwrap();
    let root = header.state_root;
    // On the wire: the header's JSON object, fields in their documented order.
    let raw = node
        .raw_rpc(method::CHAIN_GET_HEADER, json!([head]))
        .unwrap();
    assert_eq!(
        raw,
        format!(
            r#"{{"jsonrpc":"2.0","id":1,"result":{}}}"#,
            serde_json::to_string(&header).unwrap()
        )
    );
    assert!(raw.contains(r#""result":{"author":""#), "{raw}");
    let present = pallet_balances::Account::key(&dev_account("Bob"));
    let absent = pallet_balances::Account::key(&AccountId([42; 32]));
    let answer = node.call(|c| {
        c.read_proof(
            vec![Hex::encode(&present), Hex::encode(&absent)],
            Some(head),
        )
    });
    assert_eq!(answer.at, head);
    let proofs = answer.proof;
    let value = node.call(|c| c.storage(Hex::encode(&present), Some(head)));
    let value = value.unwrap().decode().unwrap();
    let decode = |hex: &Hex| {
        let bytes = hex.decode().unwrap();
        <agora_primitives::smt::Proof as parity_scale_codec::Decode>::decode(&mut &bytes[..])
            .unwrap()
    };
    agora_primitives::smt::verify(root, &present, Some(&value), &decode(&proofs[0])).unwrap();
    agora_primitives::smt::verify(root, &absent, None, &decode(&proofs[1])).unwrap();
    // The same proof does not prove a different value.
    assert!(
        agora_primitives::smt::verify(root, &present, Some(b"forged"), &decode(&proofs[0]))
            .is_err()
    );
}

#[test]
fn chain_spec_round_trips_and_purge_chain_removes_the_data_but_the_keystore() {
    let dir = tempfile::tempdir().unwrap();
    let node_bin = env!("CARGO_BIN_EXE_agora-node");
    let output = run_ok(Command::new(node_bin).args(["build-spec", "--dev"]));
    let spec_path = dir.path().join("spec.json");
    std::fs::write(&spec_path, &output.stdout).unwrap();
    let spec: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(spec["id"], json!("agora_dev"));

    // A node started from the written spec has the dev chain's genesis. A blob store of the
    // layout before stores belonged to a chain (`<base>/blobs`) is adopted by the chain.
    let base = dir.path().join("base");
    let legacy_blob = base.join("blobs").join("ab").join("legacy");
    std::fs::create_dir_all(legacy_blob.parent().unwrap()).unwrap();
    std::fs::write(&legacy_blob, b"kept").unwrap();
    let node = Node::start_with(
        &base,
        &[
            "--chain",
            spec_path.to_str().unwrap(),
            "--validator-key",
            "//Alice",
        ],
    );
    let dev_genesis = agora_runtime::genesis::ChainSpec::development()
        .genesis()
        .block
        .hash();
    assert_eq!(node.call(|c| c.block_hash(Some(0))), Some(dev_genesis));
    node.wait_finalized(1);
    node.kill();

    // Balances above u64::MAX plancks (~18.4 million AGR) are served exactly. Alice's
    // validator bond is reserved from her genesis balance: give it its own room.
    let mut rich = agora_runtime::genesis::ChainSpec::development();
    rich.genesis.balances[0].1 = 20_000_000 * AGR + rich.validators[0].bond;
    let rich_path = dir.path().join("rich.json");
    std::fs::write(&rich_path, rich.to_json()).unwrap();
    let node = Node::start_with(
        &dir.path().join("rich"),
        &[
            "--chain",
            rich_path.to_str().unwrap(),
            "--validator-key",
            "//Alice",
        ],
    );
    let body = node.raw_rpc(method::AGORA_BALANCE, json!([ALICE])).unwrap();
    assert!(body.contains("\"free\":20000000000000000000,"), "{body}");
    // And read back exactly by the typed client.
    assert_eq!(
        node.call(|c| c.balance(ALICE.to_owned(), None)).free,
        20_000_000 * AGR
    );
    node.kill();

    // A broken spec is refused with a sentence naming the file.
    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, "{\"name\": 1}").unwrap();
    let output = Command::new(node_bin)
        .arg("--chain")
        .arg(&broken)
        .args(["--validator-key", "//Alice"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("broken.json"), "{stderr}");

    // purge-chain wants -y, then removes the chain's directory: its database and its blob
    // store (issue 15, item 6; no store is left at the base path for the next chain to share).
    let chain_dir = base.join("chains").join("agora_dev");
    assert!(chain_dir.join("db").exists());
    // The old store was moved, not left behind (its stray file is the collector's to judge).
    assert!(!base.join("blobs").exists());
    assert!(chain_dir.join("blobs").is_dir());
    let output = Command::new(node_bin)
        .args(["purge-chain", "--dev", "--base-path"])
        .arg(&base)
        .output()
        .unwrap();
    assert!(
        !output.status.success(),
        "purge-chain without -y must refuse"
    );
    assert!(chain_dir.exists());
    run_ok(
        Command::new(node_bin)
            .args(["purge-chain", "--dev", "-y", "--base-path"])
            .arg(&base),
    );
    assert!(!chain_dir.exists());

    // `key rotate` wants the chain's data where it is told to look, and a purge keeps the
    // keystore: a rotated key exists nowhere else.
    let output = Command::new(node_bin)
        .args(["key", "rotate", "--dev", "--base-path"])
        .arg(&base)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("no chain data at {}", chain_dir.display())),
        "{stderr}"
    );
    assert!(
        !chain_dir.exists(),
        "nothing written for a refused rotation"
    );
    std::fs::create_dir_all(chain_dir.join("db")).unwrap();
    run_ok(
        Command::new(node_bin)
            .args(["key", "rotate", "--dev", "--base-path"])
            .arg(&base),
    );
    let keystore = chain_dir.join("keystore");
    assert_eq!(std::fs::read_dir(&keystore).unwrap().count(), 1);
    run_ok(
        Command::new(node_bin)
            .args(["purge-chain", "--dev", "-y", "--base-path"])
            .arg(&base),
    );
    assert!(!chain_dir.join("db").exists());
    assert_eq!(
        std::fs::read_dir(&keystore).unwrap().count(),
        1,
        "the key is kept"
    );
}

#[test]
fn websocket_subscriptions_deliver_new_and_finalized_heads() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let url = format!("ws://127.0.0.1:{}", node.rpc_port);
        let client = jsonrpsee::ws_client::WsClientBuilder::default()
            .build(&url)
            .await
            .unwrap();
        let mut finalized = client.subscribe_finalized_heads().await.unwrap();
        let mut new = client.subscribe_new_heads().await.unwrap();
        let mut last = 0;
        for _ in 0..3 {
            let header = tokio::time::timeout(std::time::Duration::from_secs(30), finalized.next())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            let number = header.number;
            assert!(
                number >= last,
                "finalized heads go backwards: {number} after {last}"
            );
            last = number;
        }
        let header = tokio::time::timeout(std::time::Duration::from_secs(30), new.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(header.to_runtime().hash(), header.hash);
        assert!(
            last >= 2,
            "three finalized heads reach at least block 2, got {last}"
        );
    });
}

/// Four validators and a full node over real TCP on loopback: they agree on the same blocks;
/// a transfer sent to the full node reaches the committee and is finalized; the network keeps
/// finalizing with one validator killed, and the killed validator, restarted on its data,
/// catches up and agrees (n = 3f + 1 with f = 1).
#[test]
fn four_validators_and_a_full_node_agree_relay_and_survive_a_crash() {
    let names = ["Alice", "Bob", "Charlie", "Dave"];
    let dir = tempfile::tempdir().unwrap();
    // Short epochs: Dave's crash and restart span an epoch switch.
    const EPOCH: u64 = 8;
    let (spec, spec_path) = build_spec(dir.path(), &["--epoch-length", &EPOCH.to_string()]);
    assert_eq!(spec.validators.len(), 4);
    assert_eq!(spec.validators[1].account, dev_account("Bob"));
    // Held until the test ends, so no other process takes a port while its node is down.
    let held: Vec<ReservedPort> = (0..5).map(|_| reserve_port()).collect();
    let ports: Vec<u16> = held.iter().map(ReservedPort::port).collect();
    let full_key = sp_core::ed25519::Pair::from_string("//Full", None).unwrap();
    let mut peers = committee_peers(&spec, &ports);
    peers.push(format!(
        "0x{}@127.0.0.1:{}",
        hex::encode(full_key.public().0),
        ports[4]
    ));
    let start = |who: &str, key_flag: &str, key: &str, port: u16| {
        start_on_spec(
            &dir.path().join(who),
            &spec_path,
            &peers,
            [key_flag, key],
            port,
        )
    };
    let mut nodes: Vec<Node> = names
        .iter()
        .zip(&ports)
        .map(|(name, port)| start(name, "--validator-key", &format!("//{name}"), *port))
        .collect();
    let full = start("full", "--node-key", "//Full", ports[4]);
    for node in nodes.iter().chain([&full]) {
        node.wait_finalized(3);
    }
    let hashes: Vec<Option<Hash>> = nodes
        .iter()
        .chain([&full])
        .map(|node| node.call(|c| c.block_hash(Some(3))))
        .collect();
    assert!(
        hashes.iter().all(|hash| *hash == hashes[0]),
        "nodes disagree on block 3: {hashes:?}"
    );
    // Blocks were proposed by more than one validator (round-robin leaders).
    let authors: std::collections::BTreeSet<AccountId> = (1..=3)
        .map(|n| {
            let hash = nodes[0].call(|c| c.block_hash(Some(n)));
            nodes[0].call(|c| c.header(hash)).unwrap().author
        })
        .collect();
    assert!(
        authors.len() > 1,
        "one validator authored every block: {authors:?}"
    );

    // A transfer submitted to the full node, which never proposes, is relayed to the
    // committee, finalized, and seen by the full node and the validators alike. The payee is
    // no validator: a block's author also collects its fees.
    let ferdie = dev_account("Ferdie").to_string();
    let ferdie_before = free(&full, &ferdie);
    let output = agora(
        &full,
        &[
            "transfer", "--from", "//Alice", "--to", &ferdie, "--amount", "2",
        ],
    );
    assert!(
        output.status.success(),
        "transfer through the full node failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(free(&full, &ferdie), ferdie_before + 2 * AGR);
    let settled = full.finalized_number();
    nodes[0].wait_finalized(settled);
    assert_eq!(free(&nodes[0], &ferdie), ferdie_before + 2 * AGR);

    // A blob registered and uploaded through Bob's node is served by the full node, which
    // fetches it from its peers on first request and keeps it.
    let blob = crate::blobs::bytes(7, 700_000);
    let hash = Hash::of(&blob);
    let genesis = nodes[1].genesis_hash();
    let registration = crate::blobs::register(&genesis, 1, &blob, 700_000);
    nodes[1].call(|c| c.submit_extrinsic(Hex::encode(&registration)));
    full.wait_for(
        std::time::Duration::from_secs(30),
        "the blob's registration",
        || full.call(|c| c.blob_has(hash)).registered.then_some(()),
    );
    nodes[1].wait_for(
        std::time::Duration::from_secs(30),
        "the registration on Bob's node",
        || nodes[1].call(|c| c.blob_has(hash)).registered.then_some(()),
    );
    assert_eq!(
        nodes[1].call(|c| c.blob_put(Hex::encode(&blob), None)),
        hash
    );
    assert!(!full.call(|c| c.blob_has(hash)).stored);
    let served = full.call(|c| c.blob_get(hash));
    assert_eq!(
        served.decode().unwrap(),
        blob,
        "the full node serves the true bytes"
    );
    assert!(full.call(|c| c.blob_has(hash)).stored, "and keeps them");

    // A bid placed through Bob's node names a module and dataset only Bob's node holds (the
    // CLI uploads them there). Every node that executes the bid's block needs their bytes:
    // the others fetch them from Bob and the bid is finalized. Before, they refused every
    // block of Bob's that carried it (his views failed) and the bid was never finalized.
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let (module, data) = (
        repo.join("jobs/dist/mlp.wasm"),
        repo.join("datasets/digits.csv"),
    );
    let bid_through = |node: &Node, buyer: &str, data: &std::path::Path| {
        agora(
            node,
            &[
                "--output",
                "json",
                "job",
                "submit",
                "--key",
                buyer,
                "--module",
                module.to_str().unwrap(),
                "--data",
                data.to_str().unwrap(),
                "--steps",
                "12",
                "--max-price",
                "0.002",
                "--max-fuel",
                "1000",
                "--no-wait",
            ],
        )
    };
    let bid = bid_through(&nodes[1], "//Charlie", &data);
    assert!(
        bid.status.success(),
        "a bid through Bob's node was not finalized: {}",
        String::from_utf8_lossy(&bid.stderr)
    );
    let inputs = [
        Hash::of(&std::fs::read(&module).unwrap()),
        Hash::of(&std::fs::read(&data).unwrap()),
    ];
    for node in nodes.iter().chain([&full]) {
        node.wait_for(
            std::time::Duration::from_secs(30),
            "the bid's inputs on every node that executed its block",
            || {
                inputs
                    .iter()
                    .all(|input| node.call(|c| c.blob_has(*input)).stored)
                    .then_some(())
            },
        );
    }
    // A bid placed through the full node, whose dataset only the full node holds: no leader
    // could include it (a leader leaves out a call it cannot decide), until validators began
    // fetching the blobs a call they pool needs.
    let small = dir.path().join("digits-head.csv");
    let csv = std::fs::read_to_string(&data).unwrap();
    let head: Vec<&str> = csv.lines().take(400).collect();
    std::fs::write(&small, head.join("\n") + "\n").unwrap();
    let bid = bid_through(&full, "//Dave", &small);
    assert!(
        bid.status.success(),
        "a bid through the full node was not finalized: {}",
        String::from_utf8_lossy(&bid.stderr)
    );

    // From here on Eve pays Ferdie under steady load through Alice's node. Dave is killed
    // (SIGKILL); three validators keep finalizing, across the next epoch switch (the same
    // committee, elected again from the genesis bonds), and the full node follows.
    let ferdie_paid_before = free(&nodes[0], &ferdie);
    let mut load = Load::new(nodes[0].genesis_hash(), dev_account("Ferdie"), &nodes[0]);
    let dave_port = ports[3];
    nodes.pop().unwrap().kill();
    let killed_at = nodes[0].finalized_number();
    let target = (killed_at / EPOCH + 1) * EPOCH + 2;
    while !nodes
        .iter()
        .chain([&full])
        .all(|node| node.finalized_number() >= target)
    {
        load.step(&nodes[0]);
    }
    // Dave restarts on his data (his signing record covers what he signed: the double-sign
    // guard lets him in), catches up to the others' tip through the epoch switch, and votes.
    nodes.push(start("Dave", "--validator-key", "//Dave", dave_port));
    let tip = nodes[0].finalized_number();
    while nodes[3].finalized_number() < tip {
        load.step(&nodes[0]);
    }
    let dave = dev_account("Dave");
    let mut dave_led = None;
    while dave_led.is_none() {
        load.step(&nodes[0]);
        let now = nodes[0].finalized_number();
        dave_led = (tip..=now).find(|n| {
            let hash = nodes[0].call(|c| c.block_hash(Some(*n)));
            nodes[0].call(|c| c.header(hash)).unwrap().author == dave
        });
        assert!(
            load.elapsed() < std::time::Duration::from_secs(120),
            "the restarted Dave authored no block"
        );
    }
    // No transfer was lost: every one Eve sent is finalized, once, on every node.
    let paid = load.paid;
    nodes[0].wait_for(
        std::time::Duration::from_secs(60),
        "every transfer of the load to be finalized",
        || (finalized_free(&nodes[0], &ferdie) == ferdie_paid_before + paid).then_some(()),
    );
    load.assert_finality_kept_up("during the crash and restart");
    let tip = nodes[0].finalized_number();
    for node in nodes.iter().chain([&full]) {
        node.wait_finalized(tip);
    }
    let at_tip: Vec<(Option<Hash>, u128)> = nodes
        .iter()
        .chain([&full])
        .map(|node| {
            let hash = node.call(|c| c.block_hash(Some(tip)));
            (hash, node.call(|c| c.balance(ferdie.clone(), hash)).free)
        })
        .collect();
    assert!(
        at_tip.iter().all(|state| *state == at_tip[0]),
        "nodes disagree after the crash and restart: {at_tip:?}"
    );
    assert_eq!(at_tip[0].1, ferdie_paid_before + paid);
    assert!(
        load.sent >= 100,
        "the load was light: {} transfers",
        load.sent
    );
}

/// Ferdie's (or anyone's) free balance at `node`'s finalized head.
fn finalized_free(node: &Node, who: &str) -> u128 {
    let head = node.call(ChainApiClient::finalized_head);
    node.call(|c| c.balance(who.to_owned(), Some(head))).free
}

/// Transfers from //Eve to `dest` submitted in batches over RPC, and the longest time the
/// finalized height stood still while they were.
struct Load {
    genesis: Hash,
    dest: AccountId,
    /// Transfers sent (also Eve's next nonce).
    sent: u32,
    /// Their sum.
    paid: u128,
    started: std::time::Instant,
    height: u64,
    since: std::time::Instant,
    longest_stall: std::time::Duration,
}

impl Load {
    /// Transfers per step; with a step of about 100 ms, a few hundred a second at most.
    const BATCH: u32 = 10;

    fn new(genesis: Hash, dest: AccountId, via: &Node) -> Load {
        let now = std::time::Instant::now();
        Load {
            genesis,
            dest,
            sent: 0,
            paid: 0,
            started: now,
            height: via.finalized_number(),
            since: now,
            longest_stall: std::time::Duration::ZERO,
        }
    }

    /// Submits a batch through `via`, pauses, and notes how long finality has stood still.
    fn step(&mut self, via: &Node) {
        for _ in 0..Self::BATCH {
            let value = AGR + u128::from(self.sent);
            let transfer = signed(&self.genesis, "Eve", self.sent, self.dest, value);
            via.call(|c| c.submit_extrinsic(Hex::encode(&transfer.encode())));
            self.sent += 1;
            self.paid += value;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        let height = via.finalized_number();
        let now = std::time::Instant::now();
        if height > self.height {
            self.height = height;
            self.since = now;
        }
        self.longest_stall = self.longest_stall.max(now - self.since);
    }

    /// A load from //Eve to //Payee, a bystander no test uses otherwise, through `via`.
    fn to_bystander(via: &Node) -> Load {
        let payee = sr25519::Pair::from_string("//Payee", None).unwrap();
        Load::new(via.genesis_hash(), AccountId(payee.public().0), via)
    }

    /// Waits until `via` has finalized every transfer sent (the payee holds their sum, which
    /// only a bystander's balance shows exactly); returns the payee's address.
    fn wait_all_paid(&self, via: &Node) -> String {
        let payee = self.dest.to_string();
        via.wait_for(
            std::time::Duration::from_secs(60),
            "every transfer of the load to be finalized",
            || (finalized_free(via, &payee) == self.paid).then_some(()),
        );
        payee
    }

    fn elapsed(&self) -> std::time::Duration {
        self.started.elapsed()
    }

    /// Reports the load and asserts finality never stood still for more than a few views
    /// (20 s) `during` what the test did.
    fn assert_finality_kept_up(&self, during: &str) {
        eprintln!(
            "load: {} transfers in {:?}, longest stall of finality {:?}",
            self.sent,
            self.elapsed(),
            self.longest_stall
        );
        assert!(
            self.longest_stall < std::time::Duration::from_secs(20),
            "finality stalled for {:?} {during} (a few views at most)",
            self.longest_stall
        );
    }
}

/// A `--peer` for each of `spec`'s validators, the i-th on loopback at `ports[i]`.
fn committee_peers(spec: &agora_runtime::genesis::ChainSpec, ports: &[u16]) -> Vec<String> {
    spec.validators
        .iter()
        .zip(ports)
        .map(|(validator, port)| format!("{}@127.0.0.1:{port}", validator.consensus_key))
        .collect()
}

/// `agora-node build-spec --dev --validators 4 EXTRA…` written to `dir/spec.json`, parsed.
fn build_spec(
    dir: &Path,
    extra: &[&str],
) -> (agora_runtime::genesis::ChainSpec, std::path::PathBuf) {
    let output = run_ok(
        Command::new(env!("CARGO_BIN_EXE_agora-node"))
            .args(["build-spec", "--dev", "--validators", "4"])
            .args(extra),
    );
    let text = std::str::from_utf8(&output.stdout).unwrap();
    let spec = agora_runtime::genesis::ChainSpec::from_json(text).unwrap();
    let path = dir.join("spec.json");
    std::fs::write(&path, text).unwrap();
    (spec, path)
}

/// Starts a node on `base_path` with the chain spec at `spec`, `key` (`[--validator-key, SURI]`
/// or `[--node-key, SURI]`), p2p `port` and a `--peer` for each of `peers`.
fn start_on_spec(
    base_path: &Path,
    spec: &Path,
    peers: &[String],
    key: [&str; 2],
    port: u16,
) -> Node {
    let port = port.to_string();
    let mut args = vec![
        "--chain",
        spec.to_str().unwrap(),
        key[0],
        key[1],
        "--port",
        &port,
    ];
    for peer in peers {
        args.extend(["--peer", peer.as_str()]);
    }
    Node::start_with(base_path, &args)
}

/// `scripts/testnet.sh N --dir DIR` keeps its contract: N validators and one full node in the
/// background, `DIR/network.json` naming each with a live pid, an RPC URL that answers, its base
/// path, its role and the argv that restarts it; `scripts/testnet.sh stop --dir DIR` ends them.
#[test]
fn testnet_script_writes_network_json_and_stops_the_network() {
    let dir = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/testnet.sh");
    run_ok(
        Command::new(&script)
            .args(["2", "--dir"])
            .arg(dir.path())
            .env("AGORA_NODE_BIN", env!("CARGO_BIN_EXE_agora-node")),
    );
    let network: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("network.json")).unwrap()).unwrap();
    let nodes = network["nodes"].as_array().unwrap();
    let summary: Vec<(&str, &str)> = nodes
        .iter()
        .map(|node| {
            (
                node["name"].as_str().unwrap(),
                node["role"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("Alice", "validator"),
            ("Bob", "validator"),
            ("Full", "full")
        ]
    );
    let pids: Vec<u64> = nodes.iter().map(|n| n["pid"].as_u64().unwrap()).collect();
    let mut heads = Vec::new();
    for node in nodes {
        let base_path = Path::new(node["base_path"].as_str().unwrap());
        assert!(
            base_path.join("chains").is_dir(),
            "{base_path:?} holds the chain"
        );
        let command: Vec<&str> = node["command"]
            .as_array()
            .unwrap()
            .iter()
            .map(|arg| arg.as_str().unwrap())
            .collect();
        assert!(command[0].ends_with("agora-node"));
        assert!(command
            .windows(2)
            .any(|w| w == ["--base-path", base_path.to_str().unwrap()]));
        assert!(alive(node["pid"].as_u64().unwrap()), "the node runs");
        heads.push(block_one(node["rpc"].as_str().unwrap()));
    }
    assert!(
        heads.iter().all(|head| *head == heads[0] && head.is_some()),
        "{heads:?}"
    );
    run_ok(
        Command::new(&script)
            .args(["stop", "--dir"])
            .arg(dir.path()),
    );
    for pid in pids {
        assert!(!alive(pid), "node {pid} stopped");
    }
}

/// The hash of block 1 as the node at `url` reports it.
fn block_one(url: &str) -> Option<Hash> {
    let runtime = crate::support::multi_thread_runtime();
    runtime.block_on(async {
        let client = jsonrpsee::http_client::HttpClientBuilder::default()
            .build(url)
            .unwrap();
        ChainApiClient::block_hash(&client, Some(1)).await.unwrap()
    })
}

/// Whether process `pid` runs (a zombie left for a non-reaping init does not count).
fn alive(pid: u64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        // The state follows the parenthesised command name.
        stat.rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z'))
    })
}

/// A node refuses, with the value named, to start on a committee whose addresses it lacks; a
/// full node without `--node-key` generates its p2p key once and keeps it.
#[test]
fn full_node_needs_every_validator_address_and_keeps_its_generated_key() {
    let dir = tempfile::tempdir().unwrap();
    let node = env!("CARGO_BIN_EXE_agora-node");
    let spec = run_ok(Command::new(node).args(["build-spec", "--dev", "--validators", "2"]));
    let spec_path = dir.path().join("spec.json");
    std::fs::write(&spec_path, &spec.stdout).unwrap();
    let base = dir.path().join("full");
    let output = Command::new(node)
        .args(["--chain", spec_path.to_str().unwrap(), "--no-prometheus"])
        .args(["--rpc-port", "0", "--base-path", base.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let alice = sp_core::ed25519::Pair::from_string("//Alice", None).unwrap();
    assert!(
        stderr.contains(&format!(
            "no --peer address for validator 0x{}",
            hex::encode(alice.public().0)
        )),
        "{stderr}"
    );
    let key_file = base.join("chains/agora_local/node_key");
    let first = std::fs::read_to_string(&key_file).expect("the key was generated");
    assert_eq!(Hash::from_hex(first.trim()).map(|_| ()), Ok(()));
    let _ = Command::new(node)
        .args(["--chain", spec_path.to_str().unwrap(), "--no-prometheus"])
        .args(["--rpc-port", "0", "--base-path", base.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(&key_file).unwrap(),
        first,
        "the key is kept"
    );
}

/// Runs `agora --output json ARGS` against `node`; panics with its stderr if it fails.
fn agora_json(node: &Node, args: &[&str]) -> Value {
    let output = Command::new(binary("agora"))
        .args(["--rpc", &node.url(), "--output", "json"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "agora {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// `author_validatorKeys` answers the public keys of the node's validator key, the ones
/// `agora-node key inspect` prints; `agora validator set-key` / `register` without
/// `--beacon-key` take the beacon key from the node `--rpc` (or `--keys-from`) names when it
/// runs the `--consensus-key`; a `--keys-from` node that runs another key is refused, naming
/// both keys, before anything is submitted; and without `--keys-from`, through a node that
/// runs another key, the consensus key is registered as the beacon key too (since spec
/// version 15: the beacon is then an ECVRF under it). Since spec version 16 the registration
/// carries the key's signature of the account: signed with the account's SURI when it is the
/// key's (dev keys), else given (`--key-proof`, printed by `agora-node key inspect --owner`),
/// else refused before anything is submitted.
#[test]
fn a_validator_registers_its_nodes_keys_without_copying_the_beacon_key() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_finalized(dir.path());
    let inspect = |suri: &str| -> (Hash, Hash) {
        let pair = sp_core::ed25519::Pair::from_string(suri, None).unwrap();
        let beacon =
            pallet_staking::beacon::BeaconSigner::from_consensus_seed(&pair.seed()).beacon_key();
        (Hash(pair.public().0), beacon)
    };
    let (alice_key, alice_beacon) = inspect("//Alice");
    let keys = node
        .call(AuthorApiClient::validator_keys)
        .expect("a --dev node runs //Alice's validator key");
    assert_eq!(
        (keys.consensus_key, keys.beacon_key),
        (alice_key, alice_beacon)
    );
    let binding: [u8; 64] = keys.binding.decode().unwrap().try_into().unwrap();
    assert!(
        pallet_staking::beacon::verify_binding(&alice_key, &alice_beacon, &binding),
        "the consensus key vouches for the beacon key"
    );

    // Alice moves her candidacy to a new address through her own node: the beacon key is
    // the node's.
    let moved = agora_json(
        &node,
        &[
            "validator",
            "set-key",
            "--key",
            "//Alice",
            "--consensus-key",
            &alice_key.to_string(),
            "--address",
            "127.0.0.1:30999",
        ],
    );
    assert_eq!(moved["candidate_key"], json!(alice_key), "{moved}");
    assert_eq!(moved["address"], "127.0.0.1:30999", "{moved}");
    // A key change without --address keeps the address (a rotation does not move the node).
    let kept = agora_json(
        &node,
        &[
            "validator",
            "set-key",
            "--key",
            "//Alice",
            "--consensus-key",
            &alice_key.to_string(),
        ],
    );
    assert_eq!(kept["address"], "127.0.0.1:30999", "{kept}");

    // Bob's key is not the node's: with --keys-from naming it, refused, naming both, and
    // nothing is submitted.
    let (bob_key, _) = inspect("//Bob");
    let bob = format!("0x{}", hex::encode(dev_account("Bob").0));
    let nonce_before = node.call(|c| c.account_next_index(bob.clone()));
    // `suri` registers `key` with a bond of 2,000 AGR and `extra` arguments.
    let register = |suri: &str, key: &Hash, extra: &[&str]| {
        let key = key.to_string();
        let mut args = vec!["validator", "register", "--key", suri, "--bond", "2000"];
        args.extend_from_slice(&["--consensus-key", &key]);
        args.extend_from_slice(extra);
        agora(&node, &args)
    };
    let register_bob = |extra: &[&str]| register("//Bob", &bob_key, extra);
    let url = node.url();
    let refused = register_bob(&["--keys-from", &url]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains(&format!(
            "runs validator key {alice_key}, not --consensus-key {bob_key}"
        )),
        "{stderr}"
    );
    node.wait_finalized(node.finalized_number() + 2);
    assert_eq!(
        node.call(|c| c.account_next_index(bob.clone())),
        nonce_before
    );
    // Without it: the consensus key alone, its own beacon key.
    let registered = register_bob(&[]);
    assert!(
        registered.status.success(),
        "{}",
        String::from_utf8_lossy(&registered.stderr)
    );
    let status = agora_json(&node, &["validator", "status", &bob]);
    assert_eq!(status["candidate_key"], json!(bob_key), "{status}");

    // Charlie names a key his SURI is not (a node's generated key): without a proof he is
    // refused before anything is submitted (spec version 16: the chain wants the key's
    // signature of his account); with the proof `agora-node key inspect --owner` prints on the
    // node's machine, he registers.
    let charlie = format!("0x{}", hex::encode(dev_account("Charlie").0));
    let (node_key, _) = inspect("//CharliesNode");
    let register_charlie = |extra: &[&str]| register("//Charlie", &node_key, extra);
    let nonce_before = node.call(|c| c.account_next_index(charlie.clone()));
    let refused = register_charlie(&[]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains(&format!("may register --consensus-key {node_key}")),
        "{stderr}"
    );
    // The node's key file, as an operator keeps it (the SURI off the command line).
    let key_file = dir.path().join("charlies-node.key");
    agora_primitives::secret::write_key_file(&key_file, "//CharliesNode").unwrap();
    let printed = std::process::Command::new(env!("CARGO_BIN_EXE_agora-node"))
        .args(["key", "inspect", "--key-file", key_file.to_str().unwrap()])
        .args(["--owner", &charlie])
        .output()
        .unwrap();
    let printed = String::from_utf8(printed.stdout).unwrap();
    let proof = printed
        .lines()
        .find_map(|line| line.strip_prefix("Key proof:"))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no key proof in: {printed}"));
    // 64 bytes that are not the key's signature of his account are refused, named.
    let forged = format!("0x{}", "00".repeat(64));
    let refused = register_charlie(&["--key-proof", &forged]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains(&format!(
            "--key-proof '{forged}' is not --consensus-key {node_key}'s"
        )),
        "{stderr}"
    );
    node.wait_finalized(node.finalized_number() + 2);
    assert_eq!(
        node.call(|c| c.account_next_index(charlie.clone())),
        nonce_before,
        "nothing was submitted"
    );
    let registered = register_charlie(&["--key-proof", proof]);
    assert!(
        registered.status.success(),
        "{}",
        String::from_utf8_lossy(&registered.stderr)
    );
    let status = agora_json(&node, &["validator", "status", &charlie]);
    assert_eq!(status["candidate_key"], json!(node_key), "{status}");
}

/// Item 1 of issue 12 with real processes, as `docs/operator.md` has an operator join: four
/// genesis validators on epochs of 60 blocks, under a steady load of transfers. //Ferdie starts
/// a node with a key outside the genesis committee that no validator lists in `--peer` (its
/// address is given only on chain), registers with a bond through the CLI, is accepted by the
/// committee from its election on and catches up before its epoch begins, then sits and
/// authors finalized blocks. Genesis validator //Dave unregisters and the network goes on
/// with Alice, Bob, Charlie and Ferdie; no transfer is lost.
#[test]
fn a_validator_joins_with_stake_at_an_epoch_boundary_and_leaves() {
    const EPOCH: u64 = 60;
    let dir = tempfile::tempdir().unwrap();
    let (spec, spec_path) = build_spec(dir.path(), &["--epoch-length", &EPOCH.to_string()]);
    assert_eq!(spec.genesis.epoch_length, EPOCH);
    let joiner_pair = sp_core::ed25519::Pair::from_string("//Ferdie", None).unwrap();
    let joiner_key = Hash(joiner_pair.public().0);
    let joiner_beacon_key =
        pallet_staking::beacon::BeaconSigner::from_consensus_seed(&joiner_pair.seed()).beacon_key();
    // `agora-node key inspect` prints both keys an operator registers.
    let inspected = std::process::Command::new(env!("CARGO_BIN_EXE_agora-node"))
        .args(["key", "inspect", "//Ferdie"])
        .output()
        .unwrap();
    let inspected = String::from_utf8(inspected.stdout).unwrap();
    assert!(
        inspected.contains(&format!("Public key: {joiner_key}"))
            && inspected.contains(&format!("Beacon key: {joiner_beacon_key}")),
        "{inspected}"
    );
    // Held until the test ends, so no other process takes a port while its node is down.
    let held: Vec<ReservedPort> = (0..5).map(|_| reserve_port()).collect();
    let ports: Vec<u16> = held.iter().map(ReservedPort::port).collect();
    // The genesis committee lists only itself: the joiner is in nobody's `--peer` list.
    let committee_peers = committee_peers(&spec, &ports);
    let start = |name: &str, port: u16| {
        let key = format!("//{name}");
        start_on_spec(
            &dir.path().join(name),
            &spec_path,
            &committee_peers,
            ["--validator-key", &key],
            port,
        )
    };
    let nodes: Vec<Node> = ["Alice", "Bob", "Charlie", "Dave", "Ferdie"]
        .iter()
        .zip(&ports)
        .map(|(name, port)| start(name, *port))
        .collect();
    let (alice, joiner) = (&nodes[0], &nodes[4]);
    alice.wait_finalized(2);
    let joiner_account = format!("0x{}", hex::encode(dev_account("Ferdie").0));
    let status = agora_json(alice, &["validator", "status", &joiner_account]);
    assert_eq!(status["in_current_committee"], false, "{status}");
    assert_eq!(status["candidate_key"], Value::Null, "{status}");
    assert_eq!(
        joiner.finalized_number(),
        0,
        "no validator accepts the joiner's connection yet"
    );

    // From here on Eve pays a bystander through Alice's node.
    let mut load = Load::to_bystander(alice);

    // Ferdie stands with a bond, naming his node's consensus key and address, through Alice's
    // node: issue 12's command, the consensus key alone (no beacon key: his beacon is an ECVRF
    // under his consensus key, spec version 15 — his blocks' proofs verify under it below).
    let address = format!("127.0.0.1:{}", ports[4]);
    let registered = agora_json(
        alice,
        &[
            "validator",
            "register",
            "--key",
            "//Ferdie",
            "--bond",
            "20000",
            "--consensus-key",
            &joiner_key.to_string(),
            "--address",
            &address,
        ],
    );
    assert_eq!(
        registered["candidate_key"],
        json!(joiner_key),
        "{registered}"
    );
    assert_eq!(registered["bond"], "20000", "{registered}");

    // Elected in the middle of an epoch, he is accepted from then on: his node catches up
    // while the epoch before his still runs (before, the committee accepted him only once his
    // epoch began).
    let elected = loop {
        load.step(alice);
        let status = agora_json(alice, &["validator", "status", &joiner_account]);
        if status["in_next_committee"] == true {
            break status;
        }
        assert!(
            load.elapsed() < std::time::Duration::from_secs(120),
            "Ferdie was not elected: {status}"
        );
    };
    let epoch = elected["epoch"].as_u64().unwrap();
    let election = epoch * EPOCH + EPOCH / 2;
    // The committee switches to his epoch once it finalizes this block: every node then
    // dials the new committee, him too.
    let last_before_his = (epoch + 1) * EPOCH;
    let his_epoch_opens = last_before_his + 1;
    while joiner.finalized_number() < election {
        load.step(alice);
        assert!(
            alice.finalized_number() < last_before_his,
            "Ferdie's node had not passed his election (block {election}) when the epoch \
             before his ended (it holds {})",
            joiner.finalized_number()
        );
    }
    eprintln!(
        "Ferdie's node passed his election (block {election}) when the committee had \
         finalized block {}; the epoch before his ends at block {last_before_his}",
        alice.finalized_number()
    );

    // He sits from the next epoch; his node proposes blocks the others finalize, credited to
    // his account.
    let authored = loop {
        load.step(alice);
        let tip = alice.finalized_number();
        let found = (his_epoch_opens..=tip).find(|n| {
            let hash = alice.call(|c| c.block_hash(Some(*n)));
            let header = alice.call(|c| c.header(hash)).unwrap();
            if header.beacon.proposer == joiner_key {
                assert_eq!(header.author, dev_account("Ferdie"), "block {n}'s fees");
                // The ECVRF rule's encoding (c ‖ s, then zeros): registered with the
                // consensus key alone, his beacon is an ECVRF under it, not an sr25519 VRF.
                assert_eq!(
                    header.beacon.proof[48..],
                    [0; 16],
                    "block {n}'s beacon proof"
                );
            }
            header.beacon.proposer == joiner_key
        });
        if let Some(found) = found {
            break found;
        }
        assert!(
            load.elapsed() < std::time::Duration::from_secs(240),
            "no finalized block authored by Ferdie"
        );
    };
    let sitting = agora_json(alice, &["validator", "status", &joiner_account]);
    assert_eq!(sitting["in_current_committee"], true, "{sitting}");
    assert_eq!(sitting["committee_size"], 5, "{sitting}");
    joiner.wait_finalized(authored);
    assert_eq!(
        joiner.call(|c| c.block_hash(Some(authored))),
        alice.call(|c| c.block_hash(Some(authored))),
        "Ferdie's node holds the same chain"
    );

    // Genesis validator Dave leaves: no longer elected, the network goes on with Alice, Bob,
    // Charlie and Ferdie (Dave's node follows as a non-member).
    let dave_account = format!("0x{}", hex::encode(dev_account("Dave").0));
    let left = agora_json(&nodes[3], &["validator", "unregister", "--key", "//Dave"]);
    assert_eq!(left["candidate_key"], Value::Null, "{left}");
    let gone = loop {
        load.step(alice);
        let status = agora_json(alice, &["validator", "status", &dave_account]);
        if status["in_current_committee"] == false {
            break status;
        }
        assert!(
            load.elapsed() < std::time::Duration::from_secs(360),
            "Dave is still in the committee: {status}"
        );
    };
    assert_eq!(gone["committee_size"], 4, "{gone}");
    let after = alice.finalized_number();
    while alice.finalized_number() < after + 5 {
        load.step(alice);
    }
    let dave_author = dev_account("Dave");
    let tip = alice.finalized_number();
    for n in after + 1..=tip {
        let hash = alice.call(|c| c.block_hash(Some(n)));
        let author = alice.call(|c| c.header(hash)).unwrap().author;
        assert_ne!(author, dave_author, "block {n} is Dave's after he left");
    }

    // No transfer was lost, and every node, Dave's too, holds the same state at the tip.
    let payee = load.wait_all_paid(alice);
    let tip = alice.finalized_number();
    let at_tip: Vec<(Option<Hash>, u128)> = nodes
        .iter()
        .map(|node| {
            node.wait_finalized(tip);
            let hash = node.call(|c| c.block_hash(Some(tip)));
            (hash, node.call(|c| c.balance(payee.clone(), hash)).free)
        })
        .collect();
    assert!(
        at_tip.iter().all(|state| *state == at_tip[0]),
        "nodes disagree: {at_tip:?}"
    );
    load.assert_finality_kept_up("while the committee changed");
}

/// Item 1's key rotation with real processes, as `docs/operator.md` has an operator rotate:
/// `agora-node key rotate` writes a new key into Bob's node's keystore while it votes, and
/// `agora validator set-key` registers it. Bob's node keeps voting with the old key until the
/// epoch the new one was elected for begins, then restarts itself under the new key (same
/// process, same RPC port) and authors finalized blocks with it; the old key authors nothing
/// in that epoch, finality keeps up under load and no transfer is lost.
#[test]
fn a_validator_rotates_its_consensus_key_and_its_node_switches_at_the_epoch() {
    // Long enough that the restart (a few seconds of 200 ms blocks) leaves the new key turns
    // to propose in its first epoch.
    const EPOCH: u64 = 60;
    let dir = tempfile::tempdir().unwrap();
    let (spec, spec_path) = build_spec(dir.path(), &["--epoch-length", &EPOCH.to_string()]);
    let held: Vec<ReservedPort> = (0..4).map(|_| reserve_port()).collect();
    let ports: Vec<u16> = held.iter().map(ReservedPort::port).collect();
    let committee_peers = committee_peers(&spec, &ports);
    // Bob's node does not list itself: after the switch its genesis key, which the spec's
    // committee still names, must be taken as its own (it failed to start without `--peer`
    // for it before).
    let nodes: Vec<Node> = ["Alice", "Bob", "Charlie", "Dave"]
        .iter()
        .zip(&ports)
        .enumerate()
        .map(|(index, (name, port))| {
            let key = format!("//{name}");
            let peers: Vec<String> = committee_peers
                .iter()
                .enumerate()
                .filter(|(peer, _)| index != 1 || *peer != 1)
                .map(|(_, peer)| peer.clone())
                .collect();
            start_on_spec(
                &dir.path().join(name),
                &spec_path,
                &peers,
                ["--validator-key", &key],
                *port,
            )
        })
        .collect();
    let (alice, bob) = (&nodes[0], &nodes[1]);
    let bob_pid = bob.pid();
    alice.wait_finalized(2);

    // The new key goes into the keystore of Bob's running node.
    let rotated = run_ok(Command::new(env!("CARGO_BIN_EXE_agora-node")).args([
        "key",
        "rotate",
        "--chain",
        spec_path.to_str().unwrap(),
        "--base-path",
        dir.path().join("Bob").to_str().unwrap(),
    ]));
    let printed = String::from_utf8(rotated.stdout).unwrap();
    let field = |name: &str| -> Hash {
        let line = printed
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name} in: {printed}"));
        Hash::from_hex(line.trim()).unwrap()
    };
    let (new_key, new_beacon) = (field("Public key:"), field("Beacon key:"));
    let stored = dir
        .path()
        .join("Bob/chains")
        .join(&spec.id)
        .join("keystore")
        .join(hex::encode(new_key.0));
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&stored).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600, "{}", stored.display());
    // The command it prints names the file that signs the key proof.
    assert!(
        printed.contains(&format!("--consensus-key-file {}", stored.display())),
        "{printed}"
    );
    let old_key = spec.validators[1].consensus_key;
    assert_eq!(
        bob.call(AuthorApiClient::validator_keys)
            .unwrap()
            .consensus_key,
        old_key,
        "Bob's node votes with his old key until the new one is elected"
    );

    let mut load = Load::to_bystander(alice);
    let address = format!("127.0.0.1:{}", ports[1]);
    let set = agora_json(
        alice,
        &[
            "validator",
            "set-key",
            "--key",
            "//Bob",
            "--consensus-key",
            &new_key.to_string(),
            "--beacon-key",
            &new_beacon.to_string(),
            "--address",
            &address,
            // The keystore file signs the key proof, as `key rotate` printed.
            "--consensus-key-file",
            stored.to_str().unwrap(),
        ],
    );
    assert_eq!(set["candidate_key"], json!(new_key), "{set}");

    // Elected: the next committee seats Bob's account under the new key. His node keeps
    // voting with the old one until its epoch ends.
    let bob_account = format!("0x{}", hex::encode(dev_account("Bob").0));
    let elected = loop {
        load.step(alice);
        let status = agora_json(alice, &["validator", "status", &bob_account]);
        if status["next_key"] == json!(new_key) {
            break status;
        }
        assert!(
            load.elapsed() < std::time::Duration::from_secs(120),
            "Bob's new key was not elected: {status}"
        );
    };
    assert_eq!(elected["current_key"], json!(old_key), "{elected}");
    let new_epoch = elected["epoch"].as_u64().unwrap() + 1;
    assert_eq!(
        bob.call(AuthorApiClient::validator_keys)
            .unwrap()
            .consensus_key,
        old_key,
        "Bob's node switched at the election, an epoch early: {elected}"
    );

    // The new key proposes a finalized block, credited to Bob's account (the seat's).
    let header_of = |n: u64| {
        let hash = alice.call(|c| c.block_hash(Some(n)));
        alice.call(|c| c.header(hash)).unwrap()
    };
    let mut looked = alice.finalized_number();
    let first = loop {
        load.step(alice);
        let tip = alice.finalized_number();
        if let Some(found) = (looked + 1..=tip).find(|n| header_of(*n).beacon.proposer == new_key) {
            break found;
        }
        looked = tip;
        assert!(
            load.elapsed() < std::time::Duration::from_secs(180),
            "no finalized block authored with Bob's new key; Bob's log:\n{}",
            bob.drain_log().join("\n")
        );
    };
    assert_eq!(
        header_of(first).author,
        dev_account("Bob"),
        "fees go to Bob's account"
    );
    // His node remembers the account it sits for, so that his old key, if it leaked and
    // someone else registered it, never pulls the node into that seat (`keystore.rs`).
    let remembered = std::fs::read_to_string(stored.with_file_name("account")).unwrap();
    assert_eq!(remembered.trim(), dev_account("Bob").to_string());
    assert!(
        alive(u64::from(bob_pid)),
        "Bob's node restarted itself in place"
    );
    let log = bob.drain_log();
    let restart = log
        .iter()
        .position(|line| line.contains(&format!("restarting to vote with consensus key {new_key}")))
        .unwrap_or_else(|| panic!("Bob's node did not say it restarted: {}", log.join("\n")));
    let voting = log[restart..]
        .iter()
        .find(|line| line.contains("consensus started"))
        .expect("Bob's node started consensus again");
    eprintln!("Bob's restart: {}\n  … {voting}", log[restart]);
    // Its RPC is back on the same port, answering for the new key.
    bob.wait_for(
        std::time::Duration::from_secs(60),
        "Bob's node to answer for its new key",
        || {
            let keys = bob.try_call(AuthorApiClient::validator_keys).ok()??;
            (keys.consensus_key == new_key).then_some(())
        },
    );
    // Not late: the new key proposed in the epoch it was elected for (a switch an epoch late
    // would leave that epoch's seat to a key nobody ran).
    assert_eq!(
        (first - 1) / EPOCH,
        new_epoch,
        "the new key first proposed block {first}, outside its epoch {new_epoch}"
    );

    load.wait_all_paid(alice);
    let tip = alice.finalized_number();
    bob.wait_finalized(tip);
    assert_eq!(
        bob.call(|c| c.block_hash(Some(tip))),
        alice.call(|c| c.block_hash(Some(tip))),
        "Bob's node holds the same chain"
    );
    load.assert_finality_kept_up("while Bob's node switched keys");
}
