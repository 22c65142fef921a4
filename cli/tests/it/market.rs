//! The market end to end: a real node, a real worker (`//Bob`) and a real verifier
//! (`//Charlie`) as separate processes on loopback; `//Alice` buys a small training job of the
//! example MLP and the test follows it to settlement, checking the money at every stage.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use agora_client::amount::parse_agr;
use agora_client::chain::State;
use agora_primitives::{AccountId, Balance, Hash};
use pallet_jobs::JobStatus;
use serde_json::Value;

use crate::node::Node;

const ALICE: &str = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
const BOB: &str = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty";
const CHARLIE: &str = "5FLSigC9HGRKVhB9FiEo4Y3koPsNmBmLJbpXg2mp1hXcS59Y";
const DEV: [&str; 6] = [
    ALICE,
    BOB,
    CHARLIE,
    "5DAAnrj7VHTznn2AWBemMuyBwZWs6FNFjdyVXUeYum3PTXFy",
    "5HGjWAeFDfFCWPsjFQdVV2Msvz2XtMktvgocEZcCj68kUMaw",
    "5CiPPseXPECbkjWCa6MnjNokrgYjMqmKndv2rSnekmSK2DjL",
];
const PARAMS: &str = r#"{"hidden":[32],"epochs":1,"batch_size":128}"#;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn account(address: &str) -> AccountId {
    address.parse().unwrap()
}

/// A daemon process (`agora worker run` / `agora verifier run`); killed on drop.
struct Daemon {
    child: Child,
    log: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Daemon {
    fn start(node: &Node, args: &[&str], state: &Path, cache: &Path) -> Daemon {
        let mut child = Command::new(env!("CARGO_BIN_EXE_agora"))
            .args(["--rpc", &node.ws()])
            .args(args)
            .arg("--state-dir")
            .arg(state)
            .arg("--cache-dir")
            .arg(cache)
            .args(["--poll-ms", "200"])
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = agora_test_support::capture_lines(child.stderr.take().unwrap());
        Daemon {
            child,
            log,
            seen: Vec::new(),
        }
    }

    fn lines(&mut self) -> &[String] {
        self.seen.extend(self.log.try_iter());
        &self.seen
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Total issuance equals the sum of every account's free + reserved balance (the dev accounts
/// are the only accounts on this chain), and nothing is created: fees move to the author,
/// escrow and stake are reserved, payments are transfers out of escrow.
fn conserved(node: &Node, issuance0: Balance, stage: &str) {
    let issuance: Balance = node.read(async |rpc| {
        let bytes = rpc
            .storage(&pallet_balances::TotalIssuance::key(), None)
            .await?
            .unwrap();
        Ok(parity_scale_codec::Decode::decode(&mut &bytes[..]).unwrap())
    });
    let sum: Balance = DEV.iter().map(|a| node.balance(&account(a)).total).sum();
    assert_eq!(issuance, sum, "issuance vs sum of balances at {stage}");
    assert_eq!(issuance, issuance0, "total issuance changed at {stage}");
}

/// Both daemons are ready once the worker's offer is open and the verifier is registered.
fn wait_for_daemons(node: &Node) {
    node.wait_for(
        Duration::from_secs(60),
        "the worker's offer and the verifier's registration",
        || {
            node.read(async |rpc| {
                let state = State::best(rpc);
                Ok(!state.open_offers().await?.is_empty() && !state.verifiers().await?.is_empty())
            })
            .then_some(())
        },
    );
}

fn run_local(out: &Path) -> Value {
    let output = crate::agora(&[
        "--output",
        "json",
        "job",
        "run-local",
        "--module",
        repo().join("jobs/dist/mlp.wasm").to_str().unwrap(),
        "--data",
        repo().join("datasets/digits.csv").to_str().unwrap(),
        "--params",
        PARAMS,
        "--segment",
        "3",
        "--seed",
        "7",
        "--out",
        out.to_str().unwrap(),
    ]);
    json(&output)
}

#[test]
fn a_training_job_is_bought_run_checked_and_settled() {
    let node = Node::start_with_block_time(400);
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("modules");
    let issuance0 = node.read(async |rpc| {
        let bytes = rpc
            .storage(&pallet_balances::TotalIssuance::key(), None)
            .await?
            .unwrap();
        Ok(<Balance as parity_scale_codec::Decode>::decode(&mut &bytes[..]).unwrap())
    });
    conserved(&node, issuance0, "genesis");

    // The same job without a chain: what the market's result must equal, bit for bit.
    let local = run_local(&dir.path().join("local"));
    let training_fuel = local["fuel"]["training"].as_u64().unwrap();

    let mut worker = Daemon::start(&node, &WORKER_ARGS, &dir.path().join("worker"), &cache);
    let mut verifier = Daemon::start(
        &node,
        &["verifier", "run", "--key", "//Charlie", "--bond", "50"],
        &dir.path().join("verifier"),
        &cache,
    );
    // Both daemons are ready once the offer is open and Charlie is a verifier.
    wait_for_daemons(&node);
    conserved(&node, issuance0, "daemons ready");
    let offers = json(&node.agora(&["--output", "json", "offer", "list"]));
    assert_eq!(offers[0]["provider"], BOB);
    assert_eq!(offers[0]["price"], "0.001");

    // Alice buys: --no-wait returns the job id once the bid is finalized.
    let alice0 = node.balance(&account(ALICE));
    let id = submit_no_wait(&node, &cache);
    conserved(&node, issuance0, "bid placed");

    // Follow the job, checking conservation at every stage it passes through.
    let started = Instant::now();
    let mut stages = Vec::new();
    let report = loop {
        let status = json(&node.agora(&["--output", "json", "job", "status", &id.to_string()]));
        let stage = status["stage"].as_str().unwrap().to_owned();
        if stages.last() != Some(&stage) {
            conserved(&node, issuance0, &stage);
            stages.push(stage.clone());
        }
        if stage == "settled" {
            break status;
        }
        assert_ne!(stage, "ended", "the job ended without settlement: {status}");
        assert!(
            started.elapsed() < Duration::from_secs(240),
            "job stuck at {stage}; worker log:\n{}\nverifier log:\n{}",
            worker.lines().join("\n"),
            verifier.lines().join("\n")
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(stages.len() >= 2, "stages seen: {stages:?}");

    // The money: the worker is paid the committed fuel at the clearing price, the verifier its
    // fee per check, the rest of the escrow is back with Alice.
    let receipt = &report["receipt"];
    assert_eq!(
        receipt["fuel"].as_u64().unwrap(),
        training_fuel,
        "the billed fuel is the trace's"
    );
    assert_eq!(receipt["price"], "0.001");
    let paid_worker = parse_agr(receipt["paid_worker"].as_str().unwrap()).unwrap();
    let expected = (u128::from(training_fuel) * parse_agr("0.001").unwrap()).div_ceil(1_000_000);
    assert_eq!(paid_worker, expected);
    assert!(receipt["checks_passed"].as_u64().unwrap() >= 1, "{receipt}");
    assert_eq!(receipt["checks_missed"], 0);
    let paid_verifiers = parse_agr(receipt["paid_verifiers"].as_str().unwrap()).unwrap();
    assert!(paid_verifiers > 0);
    let alice1 = node.balance(&account(ALICE));
    // Alice authors every dev block, so the fees she pays come back to her; her deposits for
    // the two blobs stay reserved until they expire.
    let deposits: Balance = node.read(async |rpc| {
        let state = State::best(rpc);
        let module = state
            .blob(&Hash::from_hex(local["module_hash"].as_str().unwrap()).unwrap())
            .await?
            .unwrap();
        let dataset = state
            .blob(&Hash::from_hex(local["dataset_hash"].as_str().unwrap()).unwrap())
            .await?
            .unwrap();
        Ok(module.deposit + dataset.deposit)
    });
    assert_eq!(alice1.reserved, alice0.reserved + deposits);
    conserved(&node, issuance0, "settled");

    // The result: the trained model, byte for byte what run-local produced.
    let out = dir.path().join("result");
    let result = json(&node.agora(&[
        "--output",
        "json",
        "job",
        "result",
        &id.to_string(),
        "--out",
        out.to_str().unwrap(),
    ]));
    assert_eq!(result["output"], local["output_hash"]);
    let model = std::fs::read(out.join("model.bpk")).unwrap();
    assert_eq!(
        Hash::of(&model).to_hex(),
        local["output_hash"].as_str().unwrap()
    );
    assert!(out.join("receipt.json").exists());
    assert_eq!(
        result["metrics"]["holdout_accuracy"],
        local["metrics"]["holdout_accuracy"]
    );

    // The market's public record shows the clearing and the queue time.
    let market = json(&node.agora(&["--output", "json", "market"]));
    assert_eq!(market["clearings"][0]["price"], "0.001");
    assert_eq!(market["queue_times"][0]["region"], "eu-west");
    assert!(
        market["queue_times"][0]["p50"].as_u64().unwrap() <= 2,
        "bid to match within 2 blocks"
    );
    assert_eq!(market["renewable_share_percent"], 100.0);

    // Bad input on a live chain: refused with the runtime's reason, no tokens move beyond the
    // fee, the process exits non-zero.
    let dave = account(DEV[3]);
    let dave0 = node.balance(&dave);
    let out = node.agora(&[
        "job",
        "submit",
        "--key",
        "//Dave",
        "--module",
        repo().join("jobs/dist/mlp.wasm").to_str().unwrap(),
        "--data",
        repo().join("datasets/digits.csv").to_str().unwrap(),
        "--params",
        PARAMS,
        "--steps",
        "12",
        "--max-price",
        "2000",
        "--max-fuel",
        "1000",
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Market::CannotPayEscrow"),
        "a bid beyond the balance: {stderr}"
    );
    let dave1 = node.balance(&dave);
    assert_eq!(dave1.reserved, dave0.reserved, "no escrow was reserved");
    assert!(
        dave0.free - dave1.free < parse_agr("0.01").unwrap(),
        "only the fee was paid"
    );
    conserved(&node, issuance0, "refused bid");
    let out = node.agora(&["job", "cancel", "--key", "//Bob", &id.to_string()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Jobs::NotJobBuyer"), "{stderr}");
    let unknown = json(&node.agora(&["--output", "json", "job", "status", "999"]));
    assert_eq!(unknown["stage"], "unknown");

    // The chain's own record of the job.
    let status = node.read(async |rpc| Ok(State::best(rpc).job(id).await?.unwrap().status));
    assert!(matches!(status, JobStatus::Settled { .. }));
}

#[test]
fn market_commands_refuse_bad_input_naming_the_value() {
    let out = crate::agora(&[
        "offer",
        "post",
        "--key",
        "//Bob",
        "--price",
        "0",
        "--capacity",
        "10",
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--price 0 is zero"), "{stderr}");
    let out = crate::agora(&[
        "offer",
        "post",
        "--key",
        "//Bob",
        "--price",
        "1",
        "--capacity",
        "1.0000001",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("'1.0000001' is not a fuel amount"),
        "{stderr}"
    );
    let out = crate::agora(&[
        "offer",
        "post",
        "--key",
        "//Bob",
        "--price",
        "1",
        "--capacity",
        "1",
        "--region",
        "EU West",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("'EU West' is not a region"), "{stderr}");
}

const WORKER_ARGS: [&str; 14] = [
    "worker",
    "run",
    "--key",
    "//Bob",
    "--price",
    "0.001",
    "--capacity",
    "100000",
    "--region",
    "eu-west",
    "--collateral",
    "10",
    "--bond",
    "100",
];

fn submit_no_wait(node: &Node, cache: &Path) -> u64 {
    let submitted = json(&node.agora(&[
        "--output",
        "json",
        "job",
        "submit",
        "--key",
        "//Alice",
        "--module",
        repo().join("jobs/dist/mlp.wasm").to_str().unwrap(),
        "--data",
        repo().join("datasets/digits.csv").to_str().unwrap(),
        "--params",
        PARAMS,
        "--segment",
        "3",
        "--seed",
        "7",
        "--max-price",
        "0.002",
        "--max-fuel",
        "1000",
        "--cache-dir",
        cache.to_str().unwrap(),
        "--no-wait",
    ]));
    submitted["job"].as_u64().unwrap()
}

/// The worker is killed as soon as its result is committed and started again on the same state
/// directory: it answers the spot check from the run on disk, never runs the job again, and
/// the job settles once.
#[test]
fn a_worker_restarted_mid_job_resumes_without_running_it_again() {
    let node = Node::start_with_block_time(400);
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("modules");
    let state = dir.path().join("worker");
    let worker = Daemon::start(&node, &WORKER_ARGS, &state, &cache);
    let _verifier = Daemon::start(
        &node,
        &["verifier", "run", "--key", "//Charlie", "--bond", "50"],
        &dir.path().join("verifier"),
        &cache,
    );
    wait_for_daemons(&node);
    let id = submit_no_wait(&node, &cache);
    node.wait_for(Duration::from_secs(120), "the result commitment", || {
        node.read(async |rpc| Ok(State::best(rpc).job(id).await?.map(|job| job.status)))
            .filter(|status| !matches!(status, JobStatus::Assigned))
    });
    drop(worker);
    let mut worker = Daemon::start(&node, &WORKER_ARGS, &state, &cache);
    let status = node.wait_for(Duration::from_secs(120), "settlement", || {
        node.read(async |rpc| Ok(State::best(rpc).job(id).await?.map(|job| job.status)))
            .filter(JobStatus::is_final)
    });
    let JobStatus::Settled { receipt } = status else {
        panic!(
            "the job did not settle: {status:?}\nworker log:\n{}",
            worker.lines().join("\n")
        );
    };
    assert!(receipt.checks_passed >= 1);
    let lines = worker.lines().join("\n");
    assert!(lines.contains("worker starting"), "{lines}");
    assert!(
        !lines.contains("run finished"),
        "the restarted worker ran the job again:\n{lines}"
    );
}
