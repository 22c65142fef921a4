//! The market end to end: a real node, a real worker (`//Bob`) and a real verifier
//! (`//Charlie`) as separate processes on loopback; `//Alice` buys a small training job of the
//! example MLP and the test follows it to settlement, checking the money at every stage.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use agora_client::amount::parse_agr;
use agora_client::chain::State;
use agora_primitives::{AccountId, Balance, Hash};
use agora_test_support::Process;
use pallet_jobs::{JobId, JobStatus};
use serde_json::Value;

use crate::node::{Node, PATIENT_WINDOWS};
use crate::stdout_json;

pub(crate) const ALICE: &str = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
pub(crate) const BOB: &str = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty";
pub(crate) const CHARLIE: &str = "5FLSigC9HGRKVhB9FiEo4Y3koPsNmBmLJbpXg2mp1hXcS59Y";
pub(crate) const DEV: [&str; 6] = [
    ALICE,
    BOB,
    CHARLIE,
    "5DAAnrj7VHTznn2AWBemMuyBwZWs6FNFjdyVXUeYum3PTXFy",
    "5HGjWAeFDfFCWPsjFQdVV2Msvz2XtMktvgocEZcCj68kUMaw",
    "5CiPPseXPECbkjWCa6MnjNokrgYjMqmKndv2rSnekmSK2DjL",
];
const PARAMS: &str = r#"{"hidden":[32],"epochs":1,"batch_size":128}"#;
/// The job every test runs: the example MLP on the digits dataset with [`PARAMS`].
pub(crate) const MLP_JOB: [&str; 6] = [
    "--module",
    concat!(env!("CARGO_MANIFEST_DIR"), "/../jobs/dist/mlp.wasm"),
    "--data",
    concat!(env!("CARGO_MANIFEST_DIR"), "/../datasets/digits.csv"),
    "--params",
    PARAMS,
];
/// How `run-local` and the market run it.
pub(crate) const SEGMENTS_AND_SEED: [&str; 4] = ["--segment", "3", "--seed", "7"];
/// Two segments of the same job (one epoch is 12 steps): both are always sampled, as one run
/// that the verifier re-executes from `init` with no start revealed.
pub(crate) const TWO_SEGMENTS: [&str; 4] = ["--segment", "6", "--seed", "7"];

pub(crate) fn account(address: &str) -> AccountId {
    address.parse().unwrap()
}

/// A daemon process (`agora worker run` / `agora verifier run`); killed on drop.
pub(crate) struct Daemon {
    process: Process,
    seen: Vec<String>,
}

impl Daemon {
    pub(crate) fn start(node: &Node, args: &[&str], state: &Path) -> Daemon {
        Daemon::start_at(&node.ws(), args, state)
    }

    /// [`Daemon::start`] against the node whose RPC is at `rpc`.
    pub(crate) fn start_at(rpc: &str, args: &[&str], state: &Path) -> Daemon {
        let process = Process::spawn(
            Command::new(env!("CARGO_BIN_EXE_agora"))
                .args(["--rpc", rpc])
                .args(args)
                .arg("--state-dir")
                .arg(state)
                .arg("--cache-dir")
                .arg(crate::module_cache())
                .args(["--poll-ms", "200"])
                .env("RUST_LOG", "info"),
        );
        Daemon {
            process,
            seen: Vec::new(),
        }
    }

    pub(crate) fn lines(&mut self) -> &[String] {
        self.seen.extend(self.process.drain_log());
        &self.seen
    }

    /// The log once it holds a line containing `needle` (or after 20 s, for the assertion to
    /// show). A daemon logs a step after its transaction is final, which the test may see first.
    pub(crate) fn log_once(&mut self, needle: &str) -> String {
        let started = Instant::now();
        while !self.lines().iter().any(|l| l.contains(needle))
            && started.elapsed() < Duration::from_secs(20)
        {
            std::thread::sleep(Duration::from_millis(100));
        }
        self.lines().join("\n")
    }
}

/// The chain's total issuance with the order book's rent added back: the order book burns
/// a little rent for every block an order is open (docs/market.md, Rent), which the tests'
/// token counts leave out so that they see every other burn to the planck.
pub(crate) fn total_issuance(node: &Node) -> Balance {
    issuance(node) + rent_burned(node)
}

/// The chain's total issuance.
fn issuance(node: &Node) -> Balance {
    node.read(async |rpc| {
        let bytes = rpc
            .storage(&pallet_balances::TotalIssuance::key(), None)
            .await?
            .unwrap();
        Ok(parity_scale_codec::Decode::decode(&mut &bytes[..]).unwrap())
    })
}

/// All rent the order book has burned.
fn rent_burned(node: &Node) -> Balance {
    node.read(async |rpc| Ok(State::best(rpc).rent_burned().await?))
}

/// The status of job `id` in the best state, if the job is known.
pub(crate) fn job_status(node: &Node, id: JobId) -> Option<JobStatus> {
    node.read(async |rpc| Ok(State::best(rpc).job(id).await?.map(|job| job.status)))
}

/// Total issuance equals the sum of every account's free + reserved balance (the dev accounts
/// are the only accounts on this chain), and nothing is created: fees move to the author,
/// escrow and stake are reserved, payments are transfers out of escrow.
/// Waits until `done` holds for job `id`'s status, showing the daemons' logs if it does not.
pub(crate) fn wait_for_status(
    node: &Node,
    id: JobId,
    what: &str,
    timeout: Duration,
    daemons: &mut [&mut Daemon],
    done: impl Fn(&JobStatus) -> bool,
) -> JobStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = job_status(node, id).filter(&done) {
            return status;
        }
        if started.elapsed() > timeout {
            panic!(
                "job #{id} is not {what}: {:?}\nlogs:\n{}",
                job_status(node, id),
                logs(daemons)
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The daemons' logs so far, one after the other: for a failure's message, so that a run that
/// went wrong on a loaded machine says which deadline was missed and why.
pub(crate) fn logs(daemons: &mut [&mut Daemon]) -> String {
    let logs: Vec<String> = daemons.iter_mut().map(|d| d.lines().join("\n")).collect();
    logs.join("\n----\n")
}

pub(crate) fn conserved(node: &Node, issuance0: Balance, stage: &str) {
    let sum: Balance = DEV.iter().map(|a| node.balance(&account(a)).total).sum();
    assert_eq!(
        issuance(node),
        sum,
        "issuance vs sum of balances at {stage}"
    );
    assert_eq!(
        total_issuance(node),
        issuance0,
        "total issuance (rent added back) changed at {stage}"
    );
}

/// Starts the worker (`//Bob`, state in `dir/worker`) and the verifier (`//Charlie`, state in
/// `dir/verifier`) and waits until both are ready: the worker's offer is open and the verifier
/// is registered.
fn start_daemons(node: &Node, dir: &Path) -> (Daemon, Daemon) {
    start_daemons_with(node, dir, &WORKER_ARGS)
}

/// [`start_daemons`] with the worker started with `worker_args`.
fn start_daemons_with(node: &Node, dir: &Path, worker_args: &[&str]) -> (Daemon, Daemon) {
    let worker = Daemon::start(node, worker_args, &dir.join("worker"));
    let verifier = Daemon::start(node, &VERIFIER_ARGS, &dir.join("verifier"));
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
    (worker, verifier)
}

fn run_local(out: &Path) -> Value {
    let command = ["--output", "json", "job", "run-local"];
    let out = ["--out", out.to_str().unwrap()];
    stdout_json(&crate::agora(
        &[&command[..], &MLP_JOB, &SEGMENTS_AND_SEED, &out].concat(),
    ))
}

/// `job run-local --max-fuel`: a cap the training passes stops the run with an error naming
/// the cap and the fuel used, a cap below one call stops that call, and a cap the job fits in
/// changes nothing.
#[test]
fn run_local_stops_at_its_fuel_cap_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let full = run_local(&dir.path().join("full"));
    let training = pallet_market::parse_mfuel(full["fuel"]["training"].as_str().unwrap()).unwrap();
    let segments = full["segments"].as_u64().unwrap();
    assert!(segments >= 2, "{full}");
    let capped = |cap: &str, out: &str| {
        let out = dir.path().join(out);
        let out = out.to_str().unwrap();
        let command = [
            "--output",
            "json",
            "job",
            "run-local",
            "--max-fuel",
            cap,
            "--out",
            out,
        ];
        crate::agora(&[&command[..], &MLP_JOB, &SEGMENTS_AND_SEED].concat())
    };
    let mfuel = |fuel: u64| pallet_market::format_mfuel(fuel).replace(" Mfuel", "");

    // Half the training: stopped after the segment that passed it.
    let half = mfuel(training / 2);
    let out = capped(&half, "half");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("more than --max-fuel {half} Mfuel"))
            && stderr.contains(&format!("of {segments} segments")),
        "{stderr}"
    );
    assert!(
        !dir.path().join("half/model.bpk").exists(),
        "no model from a stopped run"
    );

    // Below what `init` needs: the call itself is stopped at the cap.
    let out = capped("0.000001", "tiny");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("used all of --max-fuel 0.000001 Mfuel (1 fuel units)"),
        "{stderr}"
    );

    // Exactly the training fuel: the same run, the same model.
    let out = capped(&mfuel(training), "exact");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let exact: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(exact["output_hash"], full["output_hash"]);
    assert_eq!(exact["trace_root"], full["trace_root"]);
}

/// The registry's lifetimes of [`a_training_job_is_bought_run_checked_and_settled`]'s chain:
/// a blob lifetime of 100 blocks (40 s) instead of 14,400 (four hours), so that the test sees
/// the model outlive it, and a model retention that is not the runtime's either.
const SHORT_LIFETIMES: [&str; 4] = ["--blob-ttl", "100", "--model-retention", "100000"];

#[test]
fn a_training_job_is_bought_run_checked_and_settled() {
    let dir = tempfile::tempdir().unwrap();
    // The node's compiled modules in a directory of its own (`--module-cache-dir`): it must
    // compile the assigned job's module there, plain and NaN-probed, ahead of any dispute.
    let node_cache = dir.path().join("node-modules");
    let node = Node::start_dev_chain_caching(
        &[&SHORT_LIFETIMES[..], &PATIENT_WINDOWS].concat(),
        400,
        &node_cache,
    );
    let issuance0 = total_issuance(&node);
    conserved(&node, issuance0, "genesis");

    // The same job without a chain: what the market's result must equal, bit for bit.
    let local = run_local(&dir.path().join("local"));
    let training_fuel =
        pallet_market::parse_mfuel(local["fuel"]["training"].as_str().unwrap()).unwrap();

    // Bob's worker and Charlie's verifier, ready once the offer is open and Charlie verifies.
    let (mut worker, mut verifier) = start_daemons(&node, dir.path());
    conserved(&node, issuance0, "daemons ready");
    let offers = stdout_json(&node.agora(&["--output", "json", "offer", "list"]));
    assert_eq!(offers[0]["provider"], BOB);
    assert_eq!(offers[0]["price"], "0.001");

    // Alice buys: --no-wait returns the job id once the bid is finalized.
    let alice0 = node.balance(&account(ALICE));
    let id = submit_no_wait(&node, &SEGMENTS_AND_SEED);
    conserved(&node, issuance0, "bid placed");

    // Follow the job, checking conservation at every stage it passes through.
    let started = Instant::now();
    let mut stages = Vec::new();
    let report = loop {
        let status =
            stdout_json(&node.agora(&["--output", "json", "job", "status", &id.to_string()]));
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
        pallet_market::parse_mfuel(receipt["fuel"].as_str().unwrap()).unwrap(),
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
    // Alice authors every dev block, so the fees she pays come back to her; her deposits for
    // the two blobs stay reserved until they expire, and so does the model's, whose
    // registration she took over at settlement (issue 15, item 1).
    let output = Hash::from_hex(local["output_hash"].as_str().unwrap()).unwrap();
    let kept = node
        .read(async |rpc| State::best(rpc).blob(&output).await)
        .expect("the model is kept");
    assert_eq!(kept.owner, account(ALICE));
    let settled_at = receipt["settled_at"].as_u64().unwrap();
    assert_eq!(
        kept.expires_at,
        settled_at + 100_000,
        "the chain's model retention"
    );
    assert_eq!(report["model"]["kept_until"], kept.expires_at);
    assert_eq!(report["model"]["held_by_buyer"], true);
    // The module and the dataset expire 100 blocks (40 s) after the job stopped referring to
    // them: on a slow machine that can be before this point. So Alice's balance and the two
    // registrations are read in one block, and only the deposits of those still held count.
    let (alice1, deposits): (_, Balance) = node.read(async |rpc| {
        let best = State::best(rpc).block_number().await?;
        let at = rpc.block_hash(best).await?.expect("the best block");
        let state = State::at(rpc, at);
        let mut held = 0;
        for key in ["module_hash", "dataset_hash"] {
            let hash = Hash::from_hex(local[key].as_str().unwrap()).unwrap();
            if let Some(blob) = state.blob(&hash).await? {
                assert_eq!(blob.owner, account(ALICE), "{key}");
                held += blob.deposit;
            }
        }
        Ok((rpc.balance_at(&account(ALICE), Some(at)).await?, held))
    });
    assert_eq!(alice1.reserved, alice0.reserved + deposits + kept.deposit);
    conserved(&node, issuance0, "settled");

    // The result: the trained model, byte for byte what run-local produced.
    let out = dir.path().join("result");
    let result = job_result(&node, id, &out);
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
    assert_eq!(result["kept_until"], kept.expires_at);
    assert!(
        result.get("warning").is_none(),
        "100,000 blocks left: {result}"
    );

    // The node compiled the job's module where it was told to, plain and NaN-probed (its
    // warmer runs in the background from the assignment on; the job outlasts a compile).
    let entries = || {
        std::fs::read_dir(&node_cache)
            .map(|dir| {
                dir.filter_map(Result::ok)
                    .filter(|e| e.path().extension().is_some_and(|x| x == "cwasm"))
                    .count()
            })
            .unwrap_or(0)
    };
    node.wait_for(
        Duration::from_secs(60),
        "the node's two compiled modules",
        || (entries() == 2).then_some(()),
    );

    // The market's public record shows the clearing and the queue time.
    let market = stdout_json(&node.agora(&["--output", "json", "market"]));
    assert_eq!(market["clearings"][0]["price"], "0.001");
    assert_eq!(market["queue_times"][0]["region"], "eu-west");
    assert!(
        market["queue_times"][0]["p50"].as_u64().unwrap() <= 2,
        "bid to match within 2 blocks"
    );
    assert_eq!(market["renewable_share_percent"], 100.0);
    // The node's views (the dashboard's figures) agree with what the command line read and
    // computed itself (a block or two later: the node's clearings may have grown at the front).
    let view = node.read(async |rpc| rpc.market_view(None).await);
    let from_cli: agora_rpc_api::views::MarketReport =
        serde_json::from_value(market.clone()).unwrap();
    let first = &from_cli.clearings[0];
    let at = view.clearings.iter().position(|c| c == first).unwrap();
    assert_eq!(
        view.clearings[at..at + from_cli.clearings.len()],
        from_cli.clearings[..]
    );
    assert_eq!(view.offers, from_cli.offers);
    assert_eq!(view.queue_times, from_cli.queue_times);
    assert_eq!(view.renewable_share_percent, Some(100.0));
    assert_eq!(
        view.newcomer_share_percent,
        Some(100.0),
        "Alice's first job"
    );
    let job_view = node.read(async |rpc| rpc.job_view(id, None).await);
    assert_eq!(job_view.stage, agora_rpc_api::views::Stage::Settled);
    assert_eq!(
        serde_json::to_value(&job_view.receipt).unwrap(),
        report["receipt"]
    );

    // A bid beyond the balance: refused before anything is uploaded or reserved (not even the
    // deposit of a blob that expired since Alice's job), no fee, the process exits non-zero.
    let dave = account(DEV[3]);
    let dave0 = node.balance(&dave);
    let command = ["job", "submit", "--key", "//Dave"];
    let bid = ["--steps", "12", "--max-price", "2000", "--max-fuel", "1000"];
    let out = node.agora(&[&command[..], &MLP_JOB, &bid].concat());
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot pay the bid") && stderr.contains("nothing was uploaded"),
        "a bid beyond the balance: {stderr}"
    );
    let dave1 = node.balance(&dave);
    assert_eq!(dave1, dave0, "nothing reserved, nothing paid");
    conserved(&node, issuance0, "refused bid");
    let out = node.agora(&["job", "cancel", "--key", "//Bob", &id.to_string()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Jobs::NotJobBuyer"), "{stderr}");
    let unknown = stdout_json(&node.agora(&["--output", "json", "job", "status", "999"]));
    assert_eq!(unknown["stage"], "unknown");

    // The chain's own record of the job.
    let status = job_status(&node, id).unwrap();
    assert!(matches!(status, JobStatus::Settled { .. }));

    // Issue 15, item 1: past the registry's lifetime since the settlement — when the model,
    // with no job referring to it any more, used to expire — the module Alice uploaded has
    // gone, and the model she paid for is still there, byte for byte.
    let module = Hash::from_hex(local["module_hash"].as_str().unwrap()).unwrap();
    node.wait_for(
        Duration::from_secs(120),
        "the blob lifetime to pass",
        || (node.finalized_number() > settled_at + 100).then_some(()),
    );
    let (module_kept, model_kept) = node.read(async |rpc| {
        let state = State::best(rpc);
        Ok((state.blob(&module).await?, state.blob(&output).await?))
    });
    assert_eq!(
        module_kept, None,
        "the module expired with the short lifetime"
    );
    assert_eq!(model_kept, Some(kept.clone()), "the model did not");
    let again = dir.path().join("again");
    let result = job_result(&node, id, &again);
    assert_eq!(result["output"], local["output_hash"]);
    assert_eq!(std::fs::read(again.join("model.bpk")).unwrap(), model);

    // Alice has her model and releases it: only she may, it is dropped at the end of the
    // next block, her deposit comes back, and `job result` then says the model is gone.
    let out = node.agora(&["job", "release", "--key", "//Bob", &id.to_string()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Jobs::NotJobBuyer"), "{stderr}");
    let released = stdout_json(&node.agora(&[
        "--output",
        "json",
        "job",
        "release",
        "--key",
        "//Alice",
        &id.to_string(),
    ]));
    let until = released["model"]["kept_until"].as_u64().unwrap();
    assert!(until < kept.expires_at, "{released}");
    node.wait_for(Duration::from_secs(30), "the model to be dropped", || {
        node.read(async |rpc| Ok(State::best(rpc).blob(&output).await?.is_none()))
            .then_some(())
    });
    assert_eq!(
        node.balance(&account(ALICE)).reserved,
        alice0.reserved,
        "the module's, the dataset's and the model's deposits returned"
    );
    let stderr = job_result_error(&node, id, &dir.path().join("gone"));
    assert!(stderr.contains("no longer kept"), "{stderr}");
}

/// `agora --output json job result ID --out DIR`, which must succeed: its report.
fn job_result(node: &Node, id: u64, out: &Path) -> Value {
    stdout_json(&node.agora(&[
        "--output",
        "json",
        "job",
        "result",
        &id.to_string(),
        "--out",
        out.to_str().unwrap(),
    ]))
}

/// `agora job result ID --out DIR`, which must fail: its stderr.
fn job_result_error(node: &Node, id: u64, out: &Path) -> String {
    let result = node.agora(&[
        "job",
        "result",
        &id.to_string(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!result.status.success(), "there was a model to fetch");
    String::from_utf8_lossy(&result.stderr).into_owned()
}

/// Issue 15, item 5: the worker ignored its offer flags without a word when its provider had an
/// offer open, and re-posted an offer its provider had cancelled. Bob posts an offer at 0.002
/// by hand; his worker, started at 0.001, adopts it and says the price differs; with
/// `--existing-offer refuse` a second worker stops naming it. Bob cancels the offer: the
/// worker says so and posts none, and a restarted worker does not either.
#[test]
fn a_worker_adopts_its_providers_offer_says_how_it_differs_and_never_undoes_a_cancel() {
    let node = Node::start_with_block_time(400);
    let dir = tempfile::tempdir().unwrap();
    let bob = ["--key", "//Bob"];
    let bond = node.agora(&[&["stake", "bond"][..], &bob, &["--amount", "100"]].concat());
    assert!(
        bond.status.success(),
        "{}",
        String::from_utf8_lossy(&bond.stderr)
    );
    let post = [
        "--output",
        "json",
        "offer",
        "post",
        "--price",
        "0.002",
        "--capacity",
        "100000",
        "--region",
        "eu-west",
        "--collateral",
        "10",
    ];
    let posted = stdout_json(&node.agora(&[&post[..], &bob].concat()));
    let offer = posted["offer"].as_u64().unwrap();
    let bobs_offers = || {
        node.read(async |rpc| State::best(rpc).open_offers().await)
            .into_iter()
            .filter(|(_, o)| o.provider == account(BOB))
            .map(|(id, o)| (id, o.price))
            .collect::<Vec<_>>()
    };

    let state = dir.path().join("worker");
    let mut worker = Daemon::start(&node, &WORKER_ARGS, &state);
    let log = worker.log_once("adopting open offer");
    assert!(
        log.contains(&format!("adopting open offer #{offer}"))
            && log.contains("--price 0.001 vs 0.002"),
        "{log}"
    );
    assert_eq!(
        bobs_offers(),
        [(offer, parse_agr("0.002").unwrap())],
        "not replaced"
    );

    let refuse = [&WORKER_ARGS[..], &["--existing-offer", "refuse"]].concat();
    let mut refusing = Daemon::start(&node, &refuse, &dir.path().join("other"));
    let log = refusing.log_once("already has open offer");
    assert!(log.contains(&format!("open offer #{offer}")), "{log}");

    let cancel = node.agora(&[&["offer", "cancel"][..], &bob, &[&offer.to_string()]].concat());
    assert!(
        cancel.status.success(),
        "{}",
        String::from_utf8_lossy(&cancel.stderr)
    );
    let log = worker.log_once("the provider cancelled offer");
    assert!(log.contains(&format!("cancelled offer #{offer}")), "{log}");
    drop(worker);
    // Restarted on the same state: still no offer posted, several polls later.
    let mut restarted = Daemon::start(&node, &WORKER_ARGS, &state);
    let head = node.finalized_number();
    node.wait_for(Duration::from_secs(30), "five more blocks", || {
        (node.finalized_number() >= head + 5).then_some(())
    });
    assert_eq!(bobs_offers(), [], "{}", restarted.lines().join("\n"));
    assert!(!restarted.lines().iter().any(|l| l.contains("offer posted")));
}

/// Issue 15, item 6: a worker's state from a purged dev chain made it skip the new chain's
/// assignments: the new chain has the same genesis, the state's next block to scan was past
/// the new chain's head, and an old run of job 0 could be committed as the new job 0. State
/// now lives per chain (`chains/<genesis>-<block 1>`): the worker on the second chain starts
/// afresh and sees the job assigned to it in an early block.
#[test]
fn a_workers_state_from_a_purged_chain_does_not_skip_the_new_chains_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("worker");
    let chains = || -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(state.join("chains"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    // The old chain runs to block 100 (40 s): far enough that the new chain's daemons start,
    // the bid is placed and the job assigned below it even on a loaded machine (at block 40 a
    // loaded CI run once assigned it past the old head, and the test could not tell).
    const OLD_HEAD: u64 = 100;
    {
        let old = Node::start_with_block_time(400);
        let _worker = Daemon::start(&old, &WORKER_ARGS, &state);
        old.wait_for(
            Duration::from_secs(120),
            "block 100 on the old chain",
            || (old.finalized_number() >= OLD_HEAD).then_some(()),
        );
    }
    let new = Node::start_with_block_time(400);
    let (mut worker, _verifier) = start_daemons(&new, dir.path());
    let id = submit_no_wait(&new, &SEGMENTS_AND_SEED);
    let log = worker.log_once("job assigned");
    assert!(log.contains("job assigned"), "{log}");
    assert!(
        new.finalized_number() < OLD_HEAD,
        "assigned below the old chain's head"
    );
    assert_eq!(id, 0, "job ids start again on the new chain");
    let names = chains();
    assert_eq!(names.len(), 2, "{names:?}");
    assert_eq!(
        names[0][..16],
        names[1][..16],
        "one genesis (dev chains are deterministic), two chains: {names:?}"
    );
}

/// Issue 15, item 4: a bid cancelled before any match read as "job #N is not on chain". Now
/// `job status`, `job cancel`'s own report and `job result` say it never matched, was
/// cancelled in which block and what was refunded.
#[test]
fn a_cancelled_bid_says_it_was_cancelled_and_refunded() {
    let node = Node::start_with_block_time(400);
    let dir = tempfile::tempdir().unwrap();
    let id = submit_no_wait(&node, &SEGMENTS_AND_SEED);
    let escrow = stdout_json(&node.agora(&["--output", "json", "job", "status", &id.to_string()]))
        ["escrow"]
        .as_str()
        .unwrap()
        .to_owned();
    let cancelled = stdout_json(&node.agora(&[
        "--output",
        "json",
        "job",
        "cancel",
        "--key",
        "//Alice",
        &id.to_string(),
    ]));
    assert_eq!(cancelled["stage"], "ended", "{cancelled}");
    assert_eq!(cancelled["status"]["end"], "Cancelled", "{cancelled}");
    let ended = cancelled["bid_ended"].as_str().unwrap();
    assert!(
        ended.contains("cancelled by its buyer")
            && ended.contains(&format!("escrow refunded {escrow} AGR")),
        "{ended}"
    );
    let text = node.agora(&["job", "status", &id.to_string()]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("bid never matched; cancelled"), "{text}");
    let stderr = job_result_error(&node, id, &dir.path().join("result"));
    assert!(
        stderr.contains("has no result: its bid never matched"),
        "{stderr}"
    );
}

#[test]
fn market_commands_refuse_bad_input_naming_the_value() {
    let post = |args: &[&str]| crate::agora(&[&["offer", "post", "--key", "//Bob"], args].concat());
    let out = post(&["--price", "0", "--capacity", "10"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--price 0 is zero"), "{stderr}");
    let out = post(&["--price", "1", "--capacity", "1.0000001"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("'1.0000001' is not a fuel amount"),
        "{stderr}"
    );
    let out = post(&["--price", "1", "--capacity", "1", "--region", "EU West"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("'EU West' is not a region"), "{stderr}");
}

/// The bond Bob's open offer commits (the runtime's `OFFER_BOND`).
const OFFER_BOND: Balance = <agora_runtime::Runtime as pallet_market::Config>::OFFER_BOND;

pub(crate) const WORKER_ARGS: [&str; 14] = [
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
/// [`WORKER_ARGS`] with the worker's key `key` instead of //Bob.
pub(crate) fn worker_args_with_key(key: &'static str) -> [&'static str; 14] {
    let mut args = WORKER_ARGS;
    args[3] = key;
    args
}

pub(crate) const VERIFIER_ARGS: [&str; 6] =
    ["verifier", "run", "--key", "//Charlie", "--bond", "50"];

pub(crate) fn submit_no_wait(node: &Node, segments: &[&str]) -> u64 {
    submit_job(node, &[&MLP_JOB[..], segments].concat(), "1000")
}

/// Alice bids for `job` (module, data, params and segment arguments) at up to 0.002 AGR per
/// Mfuel and `max_fuel` Mfuel, without waiting for the result; returns the job's id.
pub(crate) fn submit_job(node: &Node, job: &[&str], max_fuel: &str) -> u64 {
    let cache = crate::module_cache();
    let command = ["--output", "json", "job", "submit", "--key", "//Alice"];
    let bid = [
        "--max-price",
        "0.002",
        "--max-fuel",
        max_fuel,
        "--cache-dir",
        cache.to_str().unwrap(),
        "--no-wait",
    ];
    let submitted = stdout_json(&node.agora(&[&command[..], job, &bid].concat()));
    submitted["job"].as_u64().unwrap()
}

/// The worker is killed as soon as its result is committed and started again on the same state
/// directory: it answers the spot check from the run on disk, never runs the job again, and
/// the job settles once. The job has two segments, so both are checked as one run that the
/// verifier re-executes from `init` (no start revealed: the adjacent-sample rule of issue 10).
#[test]
fn a_worker_restarted_mid_job_resumes_without_running_it_again() {
    let node = Node::start_with_block_time(400);
    let dir = tempfile::tempdir().unwrap();
    let (worker, _verifier) = start_daemons(&node, dir.path());
    let id = submit_no_wait(&node, &TWO_SEGMENTS);
    node.wait_for(Duration::from_secs(120), "the result commitment", || {
        job_status(&node, id).filter(|status| !matches!(status, JobStatus::Assigned))
    });
    drop(worker);
    let state = dir.path().join("worker");
    let mut worker = Daemon::start(&node, &WORKER_ARGS, &state);
    let status = node.wait_for(Duration::from_secs(120), "settlement", || {
        job_status(&node, id).filter(JobStatus::is_final)
    });
    let JobStatus::Settled { receipt } = status else {
        panic!(
            "the job did not settle: {status:?}\nworker log:\n{}",
            worker.lines().join("\n")
        );
    };
    assert_eq!(receipt.checks_passed, 2, "both segments, one run");
    let lines = worker.lines().join("\n");
    assert!(lines.contains("worker starting"), "{lines}");
    assert!(
        !lines.contains("run finished"),
        "the restarted worker ran the job again:\n{lines}"
    );
}

/// A buyer who cancels a running job gets its worker's compute back: the worker's daemon,
/// seeing it cannot commit before the cancellation takes effect, stops the run at the next
/// segment instead of running on for nothing (the sim's workers do the same, issue 11's
/// griefing buyers), and the job ends `Cancelled` with the worker paid for the time it held it.
/// Before, the daemon ran every cancelled job to its end, holding its one run slot.
#[test]
fn a_worker_stops_the_run_of_a_job_its_buyer_cancelled() {
    let node = Node::start_with_block_time(400);
    let dir = tempfile::tempdir().unwrap();
    // The job's collateral grows with its price: bond enough for it.
    let mut worker_args = WORKER_ARGS;
    worker_args[13] = "10000";
    let (mut worker, mut verifier) = start_daemons_with(&node, dir.path(), &worker_args);
    // About 1,150 steps of a wider MLP (~10 s, ~83,000 Mfuel) in segments of 10.
    let long = r#"{"hidden":[256,256],"epochs":50,"batch_size":64}"#;
    let job = [&MLP_JOB[..4], &["--params", long, "--segment", "10"]].concat();
    let id = submit_job(&node, &job, "90000");
    let log = worker.log_once("running");
    assert!(
        log.contains("running"),
        "the worker never started job #{id} ({:?}): {log}",
        job_status(&node, id)
    );
    let out = node.agora(&["job", "cancel", "--key", "//Alice", &id.to_string()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status = wait_for_status(
        &node,
        id,
        "cancelled",
        Duration::from_secs(60),
        &mut [&mut worker, &mut verifier],
        JobStatus::is_final,
    );
    assert!(
        matches!(status, JobStatus::Cancelled { .. }),
        "the job did not end cancelled: {status:?}"
    );
    let log = worker.log_once("run stopped");
    assert!(log.contains("stopping it"), "{log}");
    assert!(
        log.contains("run stopped"),
        "the run was not stopped: {log}"
    );
    assert!(
        !log.contains("run finished"),
        "the cancelled run ran to its end: {log}"
    );
}

/// Item 6 of issue 10: inputs the module refuses are the buyer's fault. Alice buys training on
/// a dataset that is not numbers; Bob's run is refused at `init`, his daemon has the nodes'
/// referee run `init` and segment 0 (`declare_unrunnable`, then `prove_unrunnable`), which the
/// module refuses there too: the job ends `Unrunnable`, Alice pays the cancellation fee out of her escrow
/// and gets the rest back, and Bob's collateral is released, not slashed.
#[test]
fn a_dataset_the_module_refuses_costs_the_buyer_the_cancel_fee_not_the_worker_its_collateral() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("letters.csv");
    std::fs::write(&bad, "a,b,label\nx,y,z\n").unwrap();
    // The local plan would refuse the dataset before bidding; a buyer may skip it.
    let node_log =
        unrunnable_costs_the_buyer(dir.path(), &bad, PARAMS, ("1000", &["--steps", "4"]));
    // The node's warmer decided segment 0's re-run ahead, from the declaration's finalized
    // block (spec version 19), so the block carrying the proof re-ran nothing. Before, the
    // declaration itself re-ran segment 0 inside the block that carried it.
    assert_the_warmer_decided_a_segment_ahead(&node_log);
}

/// The node's warmer decided a segment's re-run ahead of the call that needs it (its own log
/// line: a verdict found "decided ahead" alone may be the block builder's inline run, found
/// again when the finalized block is executed once more).
pub(crate) fn assert_the_warmer_decided_a_segment_ahead(node_log: &str) {
    assert!(
        node_log
            .lines()
            .any(|l| l.contains("the warmer decides a referee request ahead")
                && l.contains("Segment")),
        "{node_log}"
    );
}

/// The same for a refusal later in segment 0: with these params (plain SGD at a learning rate
/// of 9.9 on three wide layers) training diverges and the module refuses step 6 of the
/// 8-step segment. `init` and the first step run, so the referee also re-runs segment 0 as one
/// call, within the segment bound, and finds it refused.
#[test]
fn a_run_the_module_refuses_later_in_segment_0_costs_the_buyer_the_cancel_fee() {
    let dir = tempfile::tempdir().unwrap();
    let digits = concat!(env!("CARGO_MANIFEST_DIR"), "/../datasets/digits.csv");
    let diverging = r#"{"hidden":[128,128,128],"epochs":1,"batch_size":8,"learning_rate":9.9,"optimizer":"sgd"}"#;
    let segment = ["--steps", "16", "--segment", "8"];
    unrunnable_costs_the_buyer(dir.path(), Path::new(digits), diverging, ("1000", &segment));
}

/// A job whose one step is heavier than the referee's fuel for a step (`REFEREE_FUEL`, 250
/// Mfuel) is sold, run and paid for like any other: an MLP of two 256-wide layers in batches of
/// 512, whose step takes ~400 Mfuel, within the bid's 1,000 Mfuel, checked by Charlie. From
/// 2026-12-06 to spec version 18 the worker probed `init` and one step under that fuel before it
/// ran a job and declared such a job unrunnable (the buyer paying the cancellation fee),
/// because a dispute at such a step ended undecided; since spec version 17 such a dispute goes
/// on as the re-run of the step's whole segment (`StepTooHeavy`), so the job can be judged,
/// and the chain no longer takes a heavy first step as proof (`declare_unrunnable`).
#[test]
fn a_job_whose_step_is_heavier_than_the_referees_fuel_runs_and_settles() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_with_block_time(400);
    let digits = concat!(env!("CARGO_MANIFEST_DIR"), "/../datasets/digits.csv");
    let heavy = r#"{"hidden":[256,256],"epochs":1,"batch_size":512}"#;
    let segment = ["--steps", "2", "--segment", "1"];
    let (_, status, mut worker) = run_until_ended(
        &node,
        dir.path(),
        Path::new(digits),
        heavy,
        ("1000", &segment),
    );
    let JobStatus::Settled { receipt } = status else {
        panic!(
            "the job did not settle: {status:?}\nworker log:\n{}",
            worker.lines().join("\n")
        );
    };
    // Each one-step segment is over the referee's fuel for a step: the worker ran them, and
    // was paid for them.
    assert!(
        receipt.fuel > 2 * agora_runtime::verification::REFEREE_FUEL,
        "{receipt:?}"
    );
    assert!(receipt.checks_passed >= 1, "{receipt:?}");
    let lines = worker.lines().join("\n");
    assert!(!lines.contains("declared unrunnable"), "{lines}");
}

/// Item 2 of issue 15, in segment 0: Alice bids 25 Mfuel for a job whose first 2-step segment
/// needs ~46 (2026-12-06 modules; most of it the call's dataset parse). Bob's engine gives
/// segment 0 the 25 Mfuel the bid allows, runs out there, and
/// the referee, giving it the same, runs out too: the job is the buyer's fault (`Unrunnable`),
/// not a deadline Bob misses and is slashed for.
#[test]
fn a_first_segment_that_needs_more_than_the_bids_max_fuel_costs_the_buyer_the_cancel_fee() {
    let dir = tempfile::tempdir().unwrap();
    let digits = concat!(env!("CARGO_MANIFEST_DIR"), "/../datasets/digits.csv");
    let segment = ["--steps", "8", "--segment", "2"];
    unrunnable_costs_the_buyer(dir.path(), Path::new(digits), PARAMS, ("25", &segment));
}

/// Item 2 of issue 15, later: Alice bids 120 Mfuel for 8 steps in 2-step segments that need
/// ~46 Mfuel each (2026-12-06 modules: ~8 Mfuel a call less than the 2026-12-04 ones, whose
/// cumulative 54.7, 109.4, 164.2, 218.9 had a bid of 150). Segments 0 and 1
/// fit; segment 2 gets what is left and runs out of it, on
/// Bob's machine and on Charlie's alike, so Bob commits a trace ending in segment 2's refusal
/// leaf and is paid for segments 0 and 1; Alice gets the rest back and `job result` says the
/// max_fuel ran out. Before the engine gave a segment only what the bid left, Bob ran all 8
/// steps, his commitment was refused for billing more than max_fuel, and he was slashed at
/// the deadline.
#[test]
fn a_job_that_needs_more_than_the_bids_max_fuel_pays_the_worker_for_the_segments_that_fit() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_with_block_time(400);
    let issuance0 = total_issuance(&node);
    let digits = concat!(env!("CARGO_MANIFEST_DIR"), "/../datasets/digits.csv");
    let segment = ["--steps", "8", "--segment", "2"];
    let bid = ("120", &segment[..]);
    let (id, receipt, commitment, stderr) = settled_refused(
        &node,
        dir.path(),
        (Path::new(digits), PARAMS, bid),
        issuance0,
    );
    assert_eq!(commitment.segments, 3, "segments 0 and 1 fit, 2 ran out");
    assert!(
        receipt.fuel > 80 * 1_000_000 && receipt.fuel <= 120 * 1_000_000,
        "two segments billed, within max_fuel: {receipt:?}"
    );
    assert!(receipt.refund > 0, "{receipt:?}");
    assert!(
        stderr.contains("refused segment 2") && stderr.contains("max_fuel of 120 Mfuel"),
        "the reason names the budget: {stderr}"
    );
    let status = node.agora(&["job", "status", &id.to_string()]);
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(
        text.contains("no model: the module refused segment 2"),
        "{text}"
    );
}

/// Alice buys training on `data` with `params` (at most `max_fuel` Mfuel, and `extra`
/// arguments); Bob's run is refused and his declaration and its proof must end the job
/// `Unrunnable`: the cancellation fee (at least the two calls' fees) paid out of the escrow, the
/// rest refunded, the collateral released, nobody slashed. Returns the node's log.
fn unrunnable_costs_the_buyer(
    dir: &Path,
    data: &Path,
    params: &str,
    bid: (&str, &[&str]),
) -> String {
    let node = Node::start_with_block_time(400);
    let issuance0 = total_issuance(&node);
    let (_, status, mut worker) = run_until_ended(&node, dir, data, params, bid);
    let JobStatus::Unrunnable { fee, refund, .. } = status else {
        panic!("not unrunnable: {status:?}\n{}", worker.lines().join("\n"));
    };
    // Since spec version 20 Bob's declaration burned 1 AGR for each block of its proof's lead:
    // `init`'s bound and segment 0 (the bid's max_fuel at most) at the slowest node's speed.
    let max_fuel: u128 = bid.0.parse().unwrap();
    let lead = agora_primitives::referee::referee_lead(
        agora_runtime::verification::MAX_SEGMENT_FUEL
            + agora_runtime::verification::MAX_SEGMENT_FUEL
                .min(u64::try_from(max_fuel).unwrap() * pallet_market::FUEL_PER_MFUEL),
        agora_runtime::verification::REFEREE_LEAD_FUEL_PER_BLOCK,
    );
    let burned = agora_runtime::verification::DECLARATION_FEE_PER_LEAD_BLOCK * Balance::from(lead);
    assert_eq!(
        issuance0 - total_issuance(&node),
        burned,
        "the declaration's fee burned, nobody slashed"
    );
    // Bob gets it back, beside 10% of the most the job could pay (max_fuel at the clearing price
    // of 0.001 AGR), or the two calls' fees if that is more: every bid escrows both at their
    // largest.
    let floor = <agora_runtime::Runtime as pallet_market::Config>::MIN_BID_ESCROW;
    let calls = agora_runtime::Jobs::unrunnable_calls_floor();
    assert_eq!(
        fee,
        (parse_agr("0.001").unwrap() * max_fuel / 10).max(calls) + burned
    );
    assert!(
        fee + refund >= floor,
        "the escrow held the floor: {fee} + {refund}"
    );
    let bob = node.read(async |rpc| State::best(rpc).ledger(&account(BOB)).await);
    assert_eq!(
        bob.committed, OFFER_BOND,
        "collateral released; only the open offer's bond stays committed"
    );
    // Two calls since spec version 19: the declaration, then the proof once every node has
    // decided segment 0's re-run ahead.
    let log = worker.log_once("proved unrunnable");
    assert!(
        log.contains("declared unrunnable") && log.contains("proved unrunnable"),
        "{log}"
    );
    node.drain_log().join("\n")
}

/// The griefing a declaration cannot answer: the module refuses a segment after the first (the
/// diverging params above, in 2-step segments, diverge a few segments in). Bob commits the
/// trace up to it, ending in its refusal leaf, with no model; Charlie's re-run of the refused
/// (last) segment is refused too, the audit passes and the job settles paying Bob for the
/// segments that ran. Nobody is slashed, and `job result` says why there is no model.
#[test]
fn a_run_the_module_refuses_after_segment_0_is_paid_for_the_segments_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_with_block_time(400);
    let issuance0 = total_issuance(&node);
    let digits = concat!(env!("CARGO_MANIFEST_DIR"), "/../datasets/digits.csv");
    let diverging = r#"{"hidden":[128,128,128],"epochs":1,"batch_size":8,"learning_rate":9.9,"optimizer":"sgd"}"#;
    let segment = ["--steps", "16", "--segment", "2"];
    let bid = ("1000", &segment[..]);
    let (_, receipt, commitment, stderr) = settled_refused(
        &node,
        dir.path(),
        (Path::new(digits), diverging, bid),
        issuance0,
    );
    assert!(
        (2..8).contains(&commitment.segments),
        "refused after segment 0, before the end: {commitment:?}"
    );
    assert!(receipt.checks_passed >= 1, "{receipt:?}");
    assert!(
        stderr.contains(&format!("refused segment {}", commitment.segments - 1)),
        "{stderr}"
    );
}

/// Alice buys training on `data` with `params` and `bid` (max fuel, further arguments); Bob's
/// run is refused after segment 0. The job must settle with a trace ending in the refusal,
/// billing exactly the segments before it (paid to Bob), his collateral released, nobody
/// slashed, and `job result` refusing to fetch a model. Returns the job, its receipt, its
/// commitment and `job result`'s stderr.
fn settled_refused(
    node: &Node,
    dir: &Path,
    (data, params, bid): (&Path, &str, (&str, &[&str])),
    issuance0: Balance,
) -> (JobId, pallet_jobs::Receipt, pallet_jobs::Commitment, String) {
    let (id, status, mut worker) = run_until_ended(node, dir, data, params, bid);
    let JobStatus::Settled { receipt } = status else {
        panic!("not settled: {status:?}\n{}", worker.lines().join("\n"));
    };
    let job = node
        .read(async |rpc| State::best(rpc).job(id).await)
        .unwrap();
    let commitment = job.commitment.unwrap();
    assert!(commitment.ends_in_refusal(), "{commitment:?}");
    assert_eq!(
        receipt.fuel, commitment.total_fuel,
        "the segments before the refusal"
    );
    assert!(receipt.paid_worker > 0, "{receipt:?}");
    let bob = node.read(async |rpc| State::best(rpc).ledger(&account(BOB)).await);
    assert_eq!(
        bob.committed, OFFER_BOND,
        "collateral released; only the open offer's bond stays committed"
    );
    assert_eq!(total_issuance(node), issuance0, "nobody slashed");
    let log = worker.lines().join("\n");
    assert!(log.contains("the trace ends there"), "{log}");
    let stderr = job_result_error(node, id, &dir.join("result"));
    (id, receipt, commitment, stderr)
}

/// Starts Bob's worker and Charlie's verifier; Alice buys training of the example MLP on `data`
/// with `params`, at most `max_fuel` Mfuel (and `extra` arguments). Returns the job, its final status and the worker.
fn run_until_ended(
    node: &Node,
    dir: &Path,
    data: &Path,
    params: &str,
    (max_fuel, extra): (&str, &[&str]),
) -> (JobId, JobStatus, Daemon) {
    let (mut worker, mut verifier) = start_daemons(node, dir);
    let command = ["--output", "json", "job", "submit", "--key", "//Alice"];
    let job = [
        "--module",
        concat!(env!("CARGO_MANIFEST_DIR"), "/../jobs/dist/mlp.wasm"),
        "--data",
        data.to_str().unwrap(),
        "--params",
        params,
        "--max-price",
        "0.002",
        "--max-fuel",
        max_fuel,
        "--no-wait",
    ];
    let submitted = stdout_json(&node.agora(&[&command[..], &job, extra].concat()));
    let id = submitted["job"].as_u64().unwrap();
    let status = wait_for_status(
        node,
        id,
        "ended",
        Duration::from_secs(180),
        &mut [&mut worker, &mut verifier],
        JobStatus::is_final,
    );
    (id, status, worker)
}
