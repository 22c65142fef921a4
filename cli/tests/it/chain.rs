//! `agora balance` and `agora transfer` against a real dev node, and the client library's
//! registration of many blobs at once.

use std::process::Output;
use std::time::Duration;

use agora_client::amount::parse_agr;
use agora_primitives::{AccountId, AGR};
use serde_json::Value;

use crate::node::{reserve_port, Node};
use crate::{agora, stdout_json};

const ALICE: &str = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
const BOB: &str = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty";
const CHARLIE: &str = "5FLSigC9HGRKVhB9FiEo4Y3koPsNmBmLJbpXg2mp1hXcS59Y";
const DAVE: &str = "5DAAnrj7VHTznn2AWBemMuyBwZWs6FNFjdyVXUeYum3PTXFy";
const FERDIE: &str = "5CiPPseXPECbkjWCa6MnjNokrgYjMqmKndv2rSnekmSK2DjL";
const ONE_MILLION: u128 = 1_000_000 * AGR;

fn account(address: &str) -> AccountId {
    address.parse().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn plancks(value: &Value) -> u128 {
    parse_agr(value.as_str().unwrap()).unwrap()
}

/// `agora --output json transfer --from <from> --to BOB <rest…>` against `node`.
fn json_transfer_to_bob(node: &Node, from: &str, rest: &[&str]) -> Output {
    let head = ["--output", "json", "transfer", "--from", from, "--to", BOB];
    node.agora(&[&head[..], rest].concat())
}

/// Every step runs against one node, in order, so that balance changes are exact.
#[test]
fn balance_and_transfers_against_a_dev_node() {
    let node = Node::start();
    let (alice, bob, charlie) = (account(ALICE), account(BOB), account(CHARLIE));

    // -- balance, JSON and text, by address and by SURI.
    let shown = stdout_json(&node.agora(&["--output", "json", "balance", BOB]));
    assert_eq!(
        shown,
        serde_json::json!({
            "address": BOB, "free": "1000000", "reserved": "0", "total": "1000000", "nonce": 0
        })
    );
    let out = node.agora(&["balance", "//Bob"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains(&format!("Address:   {BOB}")), "{text}");
    assert!(text.contains("Free:      1000000 AGR"), "{text}");
    assert!(text.contains("Nonce:     0"), "{text}");

    // -- Charlie → Bob 1.5 AGR over WebSocket: exact balance changes, the fee goes to the
    // author (//Alice in --dev).
    let (alice0, bob0, charlie0) = (
        node.balance(&alice).free,
        node.balance(&bob).free,
        node.balance(&charlie).free,
    );
    let out = json_transfer_to_bob(&node, "//Charlie", &["--amount", "1.5"]);
    assert!(stderr(&out).starts_with("Submitted 0x"), "{}", stderr(&out));
    let receipt = stdout_json(&out);
    assert_eq!(receipt["status"], "finalized");
    assert_eq!(receipt["from"], CHARLIE);
    assert_eq!(receipt["to"], BOB);
    assert_eq!(receipt["amount"], "1.5");
    assert!(receipt["extrinsic"].as_str().unwrap().starts_with("0x"));
    assert!(receipt["block_hash"].as_str().unwrap().starts_with("0x"));
    let block_number = receipt["block_number"].as_u64().unwrap();
    assert!(block_number >= 1 && block_number <= node.finalized_number());
    let fee = plancks(&receipt["fee"]);
    assert!(fee > 0 && fee < AGR / 1000, "fee {fee}");
    assert_eq!(node.balance(&bob).free, bob0 + 3 * AGR / 2);
    assert_eq!(node.balance(&charlie).free, charlie0 - 3 * AGR / 2 - fee);
    assert_eq!(node.balance(&charlie).nonce, 1);
    assert_eq!(node.balance(&alice).free, alice0 + fee);

    // -- Alice → Bob 1.5 AGR over HTTP (polling), text output. Alice authors every dev block,
    // so the fee she pays comes back to her: she falls by exactly 1.5 + fee − fee.
    let (alice0, bob0) = (node.balance(&alice).free, node.balance(&bob).free);
    let out = agora(&[
        "--rpc",
        &node.http(),
        "transfer",
        "--from",
        "//Alice",
        "--to",
        BOB,
        "--amount",
        "1.5",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    let prefix = format!("Transferred 1.5 AGR from {ALICE} to {BOB} in block #");
    assert!(text.starts_with(&prefix), "{text}");
    let fee_text = text.trim_end().rsplit("fee ").next().unwrap();
    let fee = parse_agr(fee_text.strip_suffix(" AGR").unwrap()).unwrap();
    assert!(fee > 0);
    assert_eq!(node.balance(&bob).free, bob0 + 3 * AGR / 2);
    assert_eq!(node.balance(&alice).free, alice0 - 3 * AGR / 2 - fee + fee);

    // -- More than Dave has: included, the call fails, the fee is charged.
    let dave = account(DAVE);
    let dave0 = node.balance(&dave).free;
    let out = node.agora(&[
        "transfer", "--from", "//Dave", "--to", BOB, "--amount", "2000000",
    ]);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let err = stderr(&out);
    assert!(
        err.contains("error: the transfer failed in block #"),
        "{err}"
    );
    assert!(err.contains("Balances::InsufficientBalance"), "{err}");
    assert!(err.contains("the fee of 0.0"), "{err}");
    let after = node.balance(&dave);
    assert!(after.free < dave0 && after.free > dave0 - AGR / 1000);
    assert_eq!(after.nonce, 1);

    // -- Dust to a fresh account: refused by the existential deposit rule.
    let out = node.agora(&[
        "transfer",
        "--from",
        "//Alice",
        "--to",
        "//Fresh",
        "--amount",
        "0.0000000001",
    ]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("Balances::ExistentialDeposit"), "{err}");
    assert!(err.contains("existential deposit"), "{err}");

    // -- --no-wait, twice in a row from one account: the second takes the next nonce from
    // the pool (system_accountNextIndex), and both land.
    let bob0 = node.balance(&bob).free;
    let mut hashes = Vec::new();
    for amount in ["0.25", "0.5"] {
        let receipt = stdout_json(&json_transfer_to_bob(
            &node,
            "//Eve",
            &["--amount", amount, "--no-wait"],
        ));
        assert_eq!(receipt["status"], "submitted");
        assert_eq!(receipt["amount"], amount);
        assert!(receipt.get("block_number").is_none());
        hashes.push(receipt["extrinsic"].as_str().unwrap().to_owned());
    }
    assert_ne!(hashes[0], hashes[1]);
    node.wait_for(Duration::from_secs(30), "both --no-wait transfers", || {
        (node.balance(&bob).free == bob0 + 3 * AGR / 4).then_some(())
    });

    // -- --all empties the sender: the whole balance minus the fee moves, the account is reaped.
    let ferdie = account(FERDIE);
    let bob0 = node.balance(&bob).free;
    let receipt = stdout_json(&json_transfer_to_bob(&node, "//Ferdie", &["--all"]));
    let moved = plancks(&receipt["amount"]);
    let fee = plancks(&receipt["fee"]);
    assert_eq!(moved + fee, ONE_MILLION);
    assert_eq!(node.balance(&bob).free, bob0 + moved);
    assert_eq!(node.balance(&ferdie).total, 0);

    // -- A tip is part of the fee.
    let receipt = stdout_json(&json_transfer_to_bob(
        &node,
        "//Charlie",
        &["--amount", "1", "--tip", "0.01"],
    ));
    assert!(plancks(&receipt["fee"]) > AGR / 100, "{receipt}");

    // -- Bad input is refused before anything is signed, naming the value.
    let typo = BOB.replacen("Hne", "Hnf", 1);
    let out = node.agora(&[
        "transfer", "--from", "//Alice", "--to", &typo, "--amount", "1",
    ]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(&format!("'{typo}' is not a valid SS58 address")),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    let out = node.agora(&["balance", "5Gxyz"]);
    assert!(stderr(&out).contains("'5Gxyz' is not a valid SS58 address"));
    let out = node.agora(&[
        "transfer", "--from", "//Alice", "--to", BOB, "--amount", "1,5",
    ]);
    assert!(stderr(&out).contains("'1,5' is not a valid AGR amount"));
    let out = node.agora(&[
        "transfer", "--from", "//Alice", "--to", BOB, "--amount", "0",
    ]);
    assert!(stderr(&out).contains("'0' is not a valid amount to transfer"));
    let out = node.agora(&[
        "transfer", "--from", "//Alice", "--to", ALICE, "--amount", "1",
    ]);
    assert!(stderr(&out).contains("to itself"));
    let out = node.agora(&["transfer", "--from", "Alice", "--to", BOB, "--amount", "1"]);
    assert!(stderr(&out).contains("'Alice' is not a valid SURI"));
    let out = node.agora(&[
        "transfer", "--from", "//Alice", "--to", BOB, "--amount", "1", "--all",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    // Nothing above moved Alice's nonce or balance.
    assert_eq!(node.balance(&alice).nonce, 2);
}

#[test]
fn node_not_running_is_named() {
    // Held and never listened on: nothing answers there for the whole test.
    let reserved = reserve_port();
    let port = reserved.port();
    for url in [
        format!("ws://127.0.0.1:{port}"),
        format!("http://127.0.0.1:{port}"),
    ] {
        let out = agora(&["--rpc", &url, "balance", "//Bob"]);
        assert!(!out.status.success());
        let err = stderr(&out);
        assert_eq!(
            err.trim_end(),
            format!("error: cannot reach the node at {url}: connection refused"),
        );
        let out = agora(&[
            "--rpc", &url, "transfer", "--from", "//Alice", "--to", BOB, "--amount", "1",
        ]);
        assert!(!out.status.success());
        assert!(
            stderr(&out).contains(&format!("cannot reach the node at {url}")),
            "{}",
            stderr(&out)
        );
    }
    let out = agora(&["--rpc", "localhost:9944", "balance", "//Bob"]);
    assert!(stderr(&out).contains("'localhost:9944' is not a valid RPC URL"));
}

/// Keys off the command line (issue 15, item 3): a key file of mode 0600 signs, one that other
/// users can read is refused naming the fix, `--key` and `--key-file` together are a usage
/// error, and `key generate --out` writes a new 0600 file instead of printing the secret.
#[test]
fn a_key_file_signs_and_a_loose_one_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let node = Node::start();
    let dir = tempfile::tempdir().unwrap();
    let dave = account(DAVE);
    let file = dir.path().join("dave.key");
    std::fs::write(&file, "//Dave\n").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let path = file.to_str().unwrap();
    let bond = ["stake", "bond", "--key-file", path, "--amount", "5"];

    let before = node.balance(&dave);
    let out = node.agora(&bond);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(node.balance(&dave).reserved, before.reserved + 5 * AGR);

    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let before = node.balance(&dave);
    let out = node.agora(&bond);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("mode 0644") && err.contains("chmod 600"),
        "{err}"
    );
    assert_eq!(node.balance(&dave), before, "nothing was signed");

    let out = node.agora(&[
        "stake",
        "bond",
        "--key",
        "//Dave",
        "--key-file",
        path,
        "--amount",
        "5",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));

    let generated = dir.path().join("new.key");
    let report = stdout_json(&agora(&[
        "--output",
        "json",
        "key",
        "generate",
        "--out",
        generated.to_str().unwrap(),
    ]));
    assert!(report.get("secret_phrase").is_none(), "{report}");
    let mode = std::fs::metadata(&generated).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let phrase = std::fs::read_to_string(&generated).unwrap();
    assert_eq!(phrase.split_whitespace().count(), 12);
    let inspected = stdout_json(&agora(&[
        "--output",
        "json",
        "key",
        "inspect",
        phrase.trim(),
    ]));
    assert_eq!(inspected["ss58_address"], report["ss58_address"]);
}

/// A worker revealing many start states registers them together (`ensure_blobs`): signed with
/// consecutive nonces and awaited together, they land in one or two blocks. One at a time, each
/// awaited to finality, took a block each, and 24 states missed a 20-block reveal window across
/// nodes. The blob registry's expiry (registration block + its lifetime) tells the blocks apart.
/// A second call registers and uploads nothing more.
#[test]
fn many_blobs_are_registered_together_not_one_finality_each() {
    use agora_client::blobs::ensure_blobs;
    use agora_client::chain::State;
    use agora_client::keys::{Scheme, Signer};
    use agora_primitives::Hash;
    let node = Node::start();
    let signer = Signer::from_suri("//Ferdie", Scheme::Sr25519).unwrap();
    // Six distinct blobs and one given twice.
    let mut blobs: Vec<Vec<u8>> = (0..6u8).map(|i| vec![i; 1_000 + usize::from(i)]).collect();
    blobs.push(blobs[2].clone());
    let load = |i: usize| Ok::<_, agora_client::Error>(blobs[i].clone());
    let hashes = node.run(async |rpc| ensure_blobs(rpc, &signer, blobs.len(), load, "blob").await);
    let expected: Vec<Hash> = blobs.iter().map(|bytes| Hash::of(bytes)).collect();
    assert_eq!(hashes, expected);
    let expiries = |node: &Node| {
        node.read(async |rpc| {
            let state = State::best(rpc);
            let mut expiries = Vec::new();
            for hash in &expected {
                let info = state.blob(hash).await?.expect("registered");
                assert!(rpc.blob_has(*hash).await?.stored, "{hash} uploaded");
                expiries.push(info.expires_at);
            }
            Ok(expiries)
        })
    };
    let first = expiries(&node);
    let mut blocks = first.clone();
    blocks.sort_unstable();
    blocks.dedup();
    assert!(
        blocks.len() <= 2,
        "six registrations took blocks expiring at {blocks:?}"
    );
    let again = node.run(async |rpc| ensure_blobs(rpc, &signer, blobs.len(), load, "blob").await);
    assert_eq!(again, expected);
    assert_eq!(expiries(&node), first, "nothing registered anew");
}
