//! The market across a real network (`scripts/testnet.sh`: validators and a full node, each a
//! real process with its own RocksDB): a buyer, a worker and a verifier each connected to a
//! different node. Blobs are uploaded to the node a client talks to, and every node that
//! executes a call needing one (a bid's inputs, a result, revealed start states) must hold it:
//! nodes fetch them from each other (`node/src/chain/import.rs`, "Blobs a block needs").

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::market::{worker_args_with_key, Daemon, MLP_JOB, SEGMENTS_AND_SEED};
use crate::node::{node_binary, reserve_port, PATIENT_WINDOWS};
use crate::stdout_json;
use agora_test_support::ReservedPort;

/// A network started by `scripts/testnet.sh`, stopped when dropped.
struct Testnet {
    dir: tempfile::TempDir,
    nodes: Vec<Value>,
    /// The nodes' ports, held for the test (no other test's port-0 bind lands on them).
    _ports: Vec<ReservedPort>,
}

impl Testnet {
    fn script() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/testnet.sh")
    }

    /// `validators` validators and one full node, blocks every second, on a dev spec with the
    /// test chains' patient verification windows ([`PATIENT_WINDOWS`]).
    fn start(validators: usize) -> Testnet {
        let dir = tempfile::tempdir().unwrap();
        let ports: Vec<ReservedPort> = (0..2 * (validators + 1)).map(|_| reserve_port()).collect();
        let port_list: Vec<String> = ports.iter().map(|p| p.port().to_string()).collect();
        let out = Command::new(Self::script())
            .arg(validators.to_string())
            .arg("--dir")
            .arg(dir.path())
            .env("AGORA_NODE_BIN", node_binary())
            .env_remove("AGORA_TESTNET_FULL_NODES")
            .env("AGORA_TESTNET_SPEC_ARGS", PATIENT_WINDOWS.join(" "))
            .env("AGORA_TESTNET_PORTS", port_list.join(" "))
            .env("AGORA_TESTNET_MODULE_CACHE", crate::module_cache())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "testnet: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let network: Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("network.json")).unwrap())
                .unwrap();
        let nodes = network["nodes"].as_array().unwrap().clone();
        Testnet {
            dir,
            nodes,
            _ports: ports,
        }
    }

    /// The WebSocket RPC URL of the node named `name`.
    fn ws(&self, name: &str) -> String {
        let node = self.nodes.iter().find(|node| node["name"] == name).unwrap();
        node["ws"].as_str().unwrap().to_owned()
    }

    /// Runs `agora --rpc <name's node> args…`.
    fn agora(&self, name: &str, args: &[&str]) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_agora"))
            .args(["--rpc", &self.ws(name)])
            .args(args)
            .output()
            .unwrap()
    }
}

impl Drop for Testnet {
    fn drop(&mut self) {
        let _ = Command::new(Self::script())
            .args(["stop", "--dir"])
            .arg(self.dir.path())
            .output();
    }
}

/// Polls `daemon`'s log for `needle` for up to `timeout`.
fn wait_for_log(daemon: &mut Daemon, needle: &str, timeout: Duration) {
    let started = Instant::now();
    while !daemon.lines().iter().any(|line| line.contains(needle)) {
        assert!(
            started.elapsed() < timeout,
            "no {needle:?} in:\n{}",
            daemon.lines().join("\n")
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// //Ferdie buys through Alice's node; //Dave's worker talks to the full node only, so the
/// job's result and its revealed start states are uploaded there; //Eve verifies through
/// Bob's node. The job settles. Before validators fetched the blobs pooled calls and imported
/// blocks need, the bid reached a block only through Alice's node, and the worker's result
/// commitment never did: no leader held its blobs.
#[test]
fn a_buyer_a_worker_and_a_verifier_on_different_nodes_settle_a_job() {
    let net = Testnet::start(2);
    let dir = tempfile::tempdir().unwrap();
    let (mut worker, mut verifier) = dave_on_the_full_node_eve_on_bob(&net, dir.path(), &[]);
    let wait = ["--timeout", "400"];
    let out = ferdie_bids_through_alice(&net, &wait);
    assert!(
        out.status.success(),
        "the job did not settle: {}\nworker log:\n{}\nverifier log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        worker.lines().join("\n"),
        verifier.lines().join("\n")
    );
    let report = stdout_json(&out);
    assert_eq!(report["stage"], "settled", "{report}");
    let receipt = &report["receipt"];
    assert!(
        receipt["checks_passed"].as_u64().unwrap() >= 1,
        "the verifier on Bob's node checked the worker's segments: {receipt}"
    );
    // The nodes kept up: neither daemon saw a finalized chain behind the clock.
    for log in [worker.lines().join("\n"), verifier.lines().join("\n")] {
        assert!(!log.contains("behind this machine's clock"), "{log}");
    }
}

/// A dispute across nodes: //Dave's worker, on the full node only, commits a forged last leaf
/// (`--fault tamper-leaf=last`); //Eve, verifying through Bob's node, finds the mismatch and
/// bisects it with Dave down to one step. The referee's pre-state is Dave's state within the
/// segment, which he registers and uploads through the full node only when the turn is the
/// referee's: every validator must fetch it to include or import the `referee` call (the data
/// availability the dispute rules put on the worker, held across nodes). Dave loses his
/// collateral to Eve, decided by the referee's step, not by a missed move.
#[test]
fn a_worker_on_a_full_node_loses_a_dispute_that_the_validators_referee() {
    let net = Testnet::start(2);
    let dir = tempfile::tempdir().unwrap();
    let forger = ["--fault", "tamper-leaf=last"];
    let (mut worker, mut verifier) = dave_on_the_full_node_eve_on_bob(&net, dir.path(), &forger);
    let out = ferdie_bids_through_alice(&net, &["--no-wait"]);
    let id = stdout_json(&out)["job"].as_u64().unwrap().to_string();
    let started = Instant::now();
    let status = loop {
        let out = net.agora("Alice", &["--output", "json", "job", "status", &id]);
        let report = stdout_json(&out);
        if report["stage"] == "ended" || report["stage"] == "settled" {
            break report["status"].clone();
        }
        assert!(
            started.elapsed() < Duration::from_secs(400),
            "job #{id} did not end: {report}\nworker log:\n{}\nverifier log:\n{}",
            worker.lines().join("\n"),
            verifier.lines().join("\n")
        );
        std::thread::sleep(Duration::from_secs(1));
    };
    assert_eq!(
        status["status"],
        "dispute_lost",
        "{status}\nworker log:\n{}\nverifier log:\n{}",
        worker.lines().join("\n"),
        verifier.lines().join("\n")
    );
    assert_eq!(status["decided"]["by"], "referee_step", "{status}");
    let eve = serde_json::to_value(crate::market::account(crate::market::DEV[4])).unwrap();
    assert_eq!(status["challenger"], eve, "{status}");
}

/// //Dave's worker (with `worker_extra` arguments) on the full node and //Eve's verifier on
/// Bob's, in `dir`, once the offer is posted and the verifier registered.
fn dave_on_the_full_node_eve_on_bob(
    net: &Testnet,
    dir: &Path,
    worker_extra: &[&str],
) -> (Daemon, Daemon) {
    let worker_args = [&worker_args_with_key("//Dave")[..], worker_extra].concat();
    let mut worker = Daemon::start_at(&net.ws("Full"), &worker_args, &dir.join("worker"));
    let verifier_args = ["verifier", "run", "--key", "//Eve", "--bond", "50"];
    let mut verifier = Daemon::start_at(&net.ws("Bob"), &verifier_args, &dir.join("verifier"));
    wait_for_log(&mut worker, "offer posted", Duration::from_secs(90));
    wait_for_log(
        &mut verifier,
        "registered as a verifier",
        Duration::from_secs(90),
    );
    (worker, verifier)
}

/// //Ferdie submits the MLP job through Alice's node (`wait`: how `job submit` waits).
fn ferdie_bids_through_alice(net: &Testnet, wait: &[&str]) -> std::process::Output {
    let cache = crate::module_cache();
    let bid = [
        "--output",
        "json",
        "job",
        "submit",
        "--key",
        "//Ferdie",
        "--max-price",
        "0.002",
        "--max-fuel",
        "1000",
        "--cache-dir",
        cache.to_str().unwrap(),
    ];
    net.agora(
        "Alice",
        &[&bid[..], wait, &MLP_JOB, &SEGMENTS_AND_SEED].concat(),
    )
}
