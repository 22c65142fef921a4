//! Disputes end to end (cargo feature `faults`, which `scripts/test.sh` turns on): a real node,
//! worker and verifier as separate processes, one of them cheating on purpose with
//! `--fault KIND`. The cheat plays out on the ledger — mismatch, bisection, the node's referee
//! executing the disputed step of the real MLP — and the test checks who ends up paying.

use std::path::Path;
use std::time::Duration;

use agora_primitives::{AccountId, Balance};
use pallet_jobs::{Decision, JobId, JobStatus};

use crate::market::{
    account, conserved, job_status, logs, submit_job, submit_no_wait, total_issuance,
    wait_for_status, Daemon, ALICE, BOB, CHARLIE, DEV, MLP_JOB, TWO_SEGMENTS, VERIFIER_ARGS,
    WORKER_ARGS,
};
use crate::node::Node;

/// Bob's collateral per job (`--collateral 10` in [`WORKER_ARGS`]).
const COLLATERAL: Balance = 10 * agora_primitives::AGR;
/// A verifier's bond per check (the runtime's `CHECK_BOND`).
const CHECK_BOND: Balance = <agora_runtime::Runtime as pallet_verification::Config>::CHECK_BOND;
/// The run bond of `TWO_SEGMENTS`' sample: both segments, one run, a `CHECK_BOND` each, held
/// whole until the run is settled (`pallets/verification/src/bonds.rs`).
const RUN_BOND: Balance = 2 * CHECK_BOND;
/// The share of a loser's stake paid to the winner.
const REWARD_PERCENT: Balance =
    <agora_runtime::Runtime as pallet_jobs::Config>::DISPUTE_REWARD_PERCENT as Balance;

/// Bob's worker and Charlie's verifier, each with `extra` arguments (its `--fault`), ready once
/// the offer is open and Charlie is registered.
fn daemons(node: &Node, dir: &Path, worker: &[&str], verifier: &[&str]) -> (Daemon, Daemon) {
    let worker = Daemon::start(
        node,
        &[&WORKER_ARGS[..], worker].concat(),
        &dir.join("worker"),
    );
    let verifier = Daemon::start(
        node,
        &[&VERIFIER_ARGS[..], verifier].concat(),
        &dir.join("verifier"),
    );
    node.wait_for(
        Duration::from_secs(60),
        "the worker's offer and the verifier's registration",
        || {
            node.read(async |rpc| {
                let state = agora_client::chain::State::best(rpc);
                Ok(!state.open_offers().await?.is_empty() && !state.verifiers().await?.is_empty())
            })
            .then_some(())
        },
    );
    (worker, verifier)
}

/// A verifier daemon for //Dave (bond 50 AGR) with `--fault fault`, in `dir/dave`.
fn dave(node: &Node, dir: &Path, fault: &str) -> Daemon {
    let args = [
        "verifier", "run", "--key", "//Dave", "--bond", "50", "--fault", fault,
    ];
    Daemon::start(node, &args, &dir.join("dave"))
}

/// Waits for job `id` to end, showing both daemons' logs if it does not.
fn ended(node: &Node, id: JobId, worker: &mut Daemon, verifier: &mut Daemon) -> JobStatus {
    wait_for_status(
        node,
        id,
        "ended",
        Duration::from_secs(360),
        &mut [worker, verifier],
        JobStatus::is_final,
    )
}

/// The receipt of job `id` once it has ended settled; the daemons' logs if it ends otherwise.
fn settled(node: &Node, id: JobId, daemons: &mut [&mut Daemon]) -> pallet_jobs::Receipt {
    let status = wait_for_status(
        node,
        id,
        "settled",
        Duration::from_secs(360),
        daemons,
        JobStatus::is_final,
    );
    let JobStatus::Settled { receipt } = status else {
        panic!("the job did not settle: {status:?}\n{}", logs(daemons));
    };
    receipt
}

/// Free plus reserved balance.
fn total(node: &Node, who: &AccountId) -> Balance {
    node.balance(who).total
}

/// `--fault tamper-leaf=last`: Bob commits a final state his run never reached. Charlie's
/// re-execution mismatches; Bob defends with his real states down to one step, the node's
/// referee executes it, and Bob loses: half his collateral to Charlie, half burned, and
/// Alice's escrow comes back in full.
#[test]
fn a_worker_that_tampers_its_last_leaf_loses_its_collateral_to_the_verifier() {
    a_tampered_leaf_loses_the_collateral_to_the_verifier("tamper-leaf=last", 1);
}

/// `--fault tamper-leaf=0`: the same with a leaf inside the trace, the first: Charlie's check
/// of segment 0 mismatches, the dispute runs from `init`, and Bob loses it at segment 0 (found
/// missing by an audit of the issue: only `last` had an end-to-end test).
#[test]
fn a_worker_that_tampers_its_first_leaf_loses_its_collateral_to_the_verifier() {
    a_tampered_leaf_loses_the_collateral_to_the_verifier("tamper-leaf=0", 0);
}

/// Bob works with `fault` (a `tamper-leaf`), Charlie verifies honestly, two segments both
/// sampled; Bob loses the dispute at `segment` to Charlie, who gains, and Alice is whole again.
fn a_tampered_leaf_loses_the_collateral_to_the_verifier(fault: &str, at: u64) {
    let node = Node::start_with_block_time(400);
    let dir = tempfile::tempdir().unwrap();
    let (mut worker, mut verifier) = daemons(&node, dir.path(), &["--fault", fault], &[]);
    let issuance0 = total_issuance(&node);
    let (alice, bob, charlie) = (account(ALICE), account(BOB), account(CHARLIE));
    let alice0 = node.balance(&alice);
    let charlie0 = total(&node, &charlie);
    let bob0 = total(&node, &bob);
    let id = submit_no_wait(&node, &TWO_SEGMENTS);
    let status = ended(&node, id, &mut worker, &mut verifier);
    let JobStatus::DisputeLost {
        segment,
        challenger,
        burned,
        rewarded,
        paid_verifiers,
        requeued,
        ..
    } = status
    else {
        panic!("the cheating worker did not lose: {status:?}");
    };
    assert_eq!((segment, challenger, requeued), (at, charlie, false));
    // The fees of the checks that revealed a leaf first, then half the rest, but no more than
    // the verifier's run bond; the rest burned.
    assert!(paid_verifiers > 0);
    let rest = COLLATERAL - paid_verifiers;
    assert_eq!(rewarded, (rest * REWARD_PERCENT / 100).min(RUN_BOND));
    assert_eq!(burned, rest - rewarded);
    // Fees go to Alice (she authors every dev block) and blob deposits stay reserved, so
    // compare what cannot be fees: Charlie gained the reward less at most his fees.
    let charlie1 = total(&node, &charlie);
    assert!(
        charlie1 > charlie0 + rewarded - agora_primitives::AGR / 10,
        "{charlie0} → {charlie1}"
    );
    assert!(total(&node, &bob) < bob0 - COLLATERAL + agora_primitives::AGR / 10);
    let alice1 = node.balance(&alice);
    assert!(
        alice1.free + alice1.reserved >= alice0.free + alice0.reserved,
        "Alice is whole again"
    );
    // Only the burned half left the supply.
    assert_eq!(total_issuance(&node), issuance0 - burned);
    let log = worker.log_once("referee called");
    assert!(log.contains("referee called"), "{log}");
}

/// A step heavier than the referee's fuel for one, with real processes (spec version 17): an
/// MLP of two 256-wide layers in batches of 512 (~400 Mfuel a step, over `REFEREE_FUEL`'s 250)
/// in two one-step segments. Bob commits a final state his run never reached
/// (`tamper-leaf=last`); Charlie's check of segment 1 mismatches, the dispute is at once the
/// one step, the node's referee runs out of fuel on it, and the dispute goes on as the re-run
/// of the whole segment, which Bob loses. Before, it ended undecided: a plain mismatch, Bob's
/// collateral released.
#[test]
fn a_tampered_step_too_heavy_for_the_referee_loses_on_its_segments_rerun() {
    let heavy = [
        MLP_JOB[0],
        MLP_JOB[1],
        MLP_JOB[2],
        MLP_JOB[3],
        "--params",
        r#"{"hidden":[256,256],"epochs":1,"batch_size":512}"#,
        "--steps",
        "2",
        "--segment",
        "1",
        "--seed",
        "7",
    ];
    let lost = worker_loses_to_charlie_on("tamper-leaf=last", &heavy, 1);
    assert_eq!(lost.decided, Decision::RefereeSegment);
    // Two referee calls: the step (too heavy), then the segment's re-run.
    let log = &lost.worker_log;
    assert!(log.matches("referee called").count() >= 2, "{log}");
    // The node's warmer decided the segment's re-run ahead: the step's verdict sent the dispute
    // on to it with no move between, and the warmer, which looked only at moves, never did
    // (spec version 21's review); the block carrying the call ran it inline.
    crate::market::assert_the_warmer_decided_a_segment_ahead(&lost.node_log);
}

/// `--fault lazy`: Charlie attests made-up leaves without re-executing. Both checks mismatch;
/// Charlie cannot answer Bob's midpoints and loses the dispute over the first by the deadline:
/// his run bond (both checks' bonds) is slashed, half to Bob, the other mismatch of the run is
/// refuted with it, and the job settles with Bob paid in full.
#[test]
fn a_lazy_verifier_loses_its_bonds_to_the_honest_worker() {
    let node = Node::start_with_block_time(400);
    let dir = tempfile::tempdir().unwrap();
    let (mut worker, mut verifier) = daemons(&node, dir.path(), &[], &["--fault", "lazy"]);
    let issuance0 = total_issuance(&node);
    let id = submit_no_wait(&node, &TWO_SEGMENTS);
    let receipt = settled(&node, id, &mut [&mut worker, &mut verifier]);
    assert_eq!((receipt.checks_passed, receipt.checks_missed), (0, 2));
    assert_eq!(
        receipt.refuted.len(),
        1,
        "one dispute, over the run's first mismatch"
    );
    assert!(receipt
        .refuted
        .iter()
        .all(|r| r.verifier == account(CHARLIE) && r.rewarded == RUN_BOND * REWARD_PERCENT / 100));
    assert!(receipt.paid_worker > 0);
    let burned = RUN_BOND - RUN_BOND * REWARD_PERCENT / 100;
    assert_eq!(total_issuance(&node), issuance0 - burned);
    conserved(&node, issuance0 - burned, "settled");
}

/// `--fault copy`: Alice asks for two verifiers per sampled segment, and Dave, drawn beside
/// Charlie for both segments, attests with Charlie's commitments instead of re-executing. A
/// commitment binds its verifier and salt, so Dave cannot open what he copied: his two reveals
/// are `Wrong`, both his check bonds are burned, and the job settles on Charlie's two matches,
/// Bob paid and Charlie paid his fees.
#[test]
fn a_verifier_that_copies_another_verifiers_commitment_loses_its_bonds() {
    let node = Node::start_with_block_time(400);
    let dir = tempfile::tempdir().unwrap();
    let (mut worker, mut verifier) = daemons(&node, dir.path(), &[], &[]);
    let mut copier = dave(&node, dir.path(), "copy");
    node.wait_for(Duration::from_secs(60), "Dave's registration", || {
        node.read(async |rpc| {
            Ok(agora_client::chain::State::best(rpc)
                .verifiers()
                .await?
                .len()
                == 2)
        })
        .then_some(())
    });
    let issuance0 = total_issuance(&node);
    let dave = account(DEV[3]);
    let dave0 = total(&node, &dave);
    let job = [&MLP_JOB[..], &TWO_SEGMENTS, &["--verifiers", "2"]].concat();
    let id = submit_job(&node, &job, "1000");
    let receipt = settled(&node, id, &mut [&mut worker, &mut verifier, &mut copier]);
    // Both segments sampled, each checked by both verifiers: Charlie's two matched, Dave's two
    // are counted as missed (a reveal that does not open its commitment is `Wrong`).
    assert_eq!((receipt.checks_passed, receipt.checks_missed), (2, 2));
    assert!(receipt.paid_worker > 0 && receipt.paid_verifiers > 0);
    assert!(receipt.refuted.is_empty(), "nothing was disputed");
    let log = copier.log_once("another verifier's commitment");
    assert!(
        log.contains("fault: attested with another verifier's commitment"),
        "{log}"
    );
    // Dave's two check bonds were burned; he paid a few fees besides.
    let dave1 = total(&node, &dave);
    assert!(
        dave1 <= dave0 - 2 * CHECK_BOND
            && dave1 > dave0 - 2 * CHECK_BOND - agora_primitives::AGR / 10,
        "{dave0} → {dave1}"
    );
    assert_eq!(total_issuance(&node), issuance0 - 2 * CHECK_BOND);
    conserved(&node, issuance0 - 2 * CHECK_BOND, "settled");
    // The receipt names him, his two wrong reveals and the bond burned.
    let forfeited = &receipt.forfeited;
    assert!(
        forfeited
            .iter()
            .all(|f| f.verifier == dave && f.missed.is_empty()),
        "{forfeited:?}"
    );
    // One run (both segments), so one entry: its two wrong reveals, both check bonds.
    let [run] = forfeited.as_slice() else {
        panic!("one forfeited run expected: {forfeited:?}")
    };
    assert_eq!(
        (run.wrong.len(), run.burned),
        (2, 2 * CHECK_BOND),
        "{run:?}"
    );
}

/// `--fault wrong-output`: Bob's trace is honest but the model he commits is not what his final
/// state exports. Charlie's check of the last segment finds the leaves equal and the model
/// different; the dispute goes straight to the node's referee, which runs `export` and `eval`
/// of Bob's final state, and Bob loses his collateral.
#[test]
fn a_worker_that_commits_another_model_loses_the_output_dispute() {
    let lost = worker_loses_to_charlie("wrong-output", 1);
    assert_eq!(lost.decided, Decision::RefereeOutput);
    assert!(!lost.bisected(), "{}", lost.verifier_log);
}

/// `--fault overbill-fuel=50`: Bob's states and model are honest but every leaf bills 50% more
/// fuel than his run used (the bill is the last leaf's). Charlie's checks find equal states and
/// different fuel; the lowest, segment 0, is disputed over its fuel: the node's referee re-runs
/// the whole segment from `init` (fuel is measured per call, so it is not bisected) and finds
/// Bob's leaf wrong. Bob loses his collateral; nothing of the overbill is paid.
#[test]
fn a_worker_that_overbills_fuel_loses_the_fuel_dispute() {
    let lost = worker_loses_to_charlie("overbill-fuel=50", 0);
    assert_eq!(lost.decided, Decision::RefereeSegment);
    assert!(!lost.bisected(), "{}", lost.verifier_log);
    assert!(
        lost.worker_log.contains("referee called"),
        "{}",
        lost.worker_log
    );
    // Bob waited for the segment's referee call to open: an early call is refused (and costs
    // its fee), and the node names the error.
    assert!(
        !lost.worker_log.contains("RefereeNotOpen"),
        "{}",
        lost.worker_log
    );
}

/// Spec version 11, end to end: Charlie misses his check of segment 0 (`--fault
/// miss-segment=0`: he re-executes the run but never sends that attestation) and Bob bills 50 %
/// more fuel in every leaf. Charlie's check of segment 1 mismatches in fuel; its dispute cannot
/// start from Bob's leaf 0, which Charlie's missed check never vouched for, so it opens as a
/// leaf bisection from the run's start (`init`): Bob reveals leaf 0, Charlie's daemon answers
/// from its own leaf there (kept with its attestations) that the two differ, and the node's
/// referee re-runs segment 0. Bob loses at segment 0. Charlie, who won, still forfeits his run
/// bond for the miss: it was the dispute's stake, and is slashed when the run is settled.
#[test]
fn a_mismatch_after_a_missed_check_is_disputed_from_the_runs_start() {
    let node = Node::start_with_block_time(400);
    let dir = tempfile::tempdir().unwrap();
    let (mut worker, mut verifier) = daemons(
        &node,
        dir.path(),
        &["--fault", "overbill-fuel=50"],
        &["--fault", "miss-segment=0"],
    );
    let issuance0 = total_issuance(&node);
    let id = submit_no_wait(&node, &TWO_SEGMENTS);
    let status = ended(&node, id, &mut worker, &mut verifier);
    let JobStatus::DisputeLost {
        segment,
        challenger,
        decided,
        burned,
        rewarded,
        paid_verifiers,
        ..
    } = status
    else {
        panic!("the overbilling worker did not lose: {status:?}");
    };
    assert_eq!(
        (segment, challenger, decided),
        (0, account(CHARLIE), Decision::RefereeSegment)
    );
    let rest = COLLATERAL - paid_verifiers;
    assert_eq!(rewarded, (rest * REWARD_PERCENT / 100).min(RUN_BOND));
    assert_eq!(
        total_issuance(&node),
        issuance0 - burned - RUN_BOND,
        "Bob's burned collateral and Charlie's forfeited run bond left the supply"
    );
    let log = verifier.log_once("run leaf answered");
    assert!(log.contains("run leaf answered"), "{log}");
    assert!(log.contains("attestation kept back"), "{log}");
    // The job ended without a receipt, and still names who forfeited what (spec version 14).
    let id = id.to_string();
    let report = crate::stdout_json(&node.agora(&["--output", "json", "job", "status", &id]));
    let forfeited = &report["forfeited"];
    assert_eq!(
        (&forfeited[0]["verifier"], &forfeited[0]["missed"]),
        (
            &account(CHARLIE).to_string().into(),
            &serde_json::json!([0])
        ),
        "{report}"
    );
    let shown = node.agora(&["job", "status", &id]);
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(
        shown.contains(&format!(
            "forfeited: {} missed segment 0: run bond",
            account(CHARLIE)
        )),
        "{shown}"
    );
}

/// How a cheating worker lost, for the test's own assertions.
struct Lost {
    decided: Decision,
    worker_log: String,
    verifier_log: String,
    node_log: String,
}

impl Lost {
    /// Whether the verifier answered any bisection midpoint.
    fn bisected(&self) -> bool {
        self.verifier_log.contains("midpoint answered")
    }
}

/// Bob works with `--fault worker_fault` and Charlie verifies honestly: Bob must lose the dispute
/// over `segment` to Charlie, Charlie's check fees and reward out of his collateral and the
/// rest burned (only that leaving the supply), and Alice must be whole again.
fn worker_loses_to_charlie(worker_fault: &str, segment: u64) -> Lost {
    worker_loses_to_charlie_on(
        worker_fault,
        &[&MLP_JOB[..], &TWO_SEGMENTS].concat(),
        segment,
    )
}

/// [`worker_loses_to_charlie`] for the job `job` (module, data, params and segment arguments,
/// two segments both sampled), bid at 1,000 Mfuel.
fn worker_loses_to_charlie_on(worker_fault: &str, job: &[&str], segment: u64) -> Lost {
    let node = Node::start_with_block_time(400);
    let dir = tempfile::tempdir().unwrap();
    let (mut worker, mut verifier) = daemons(&node, dir.path(), &["--fault", worker_fault], &[]);
    let issuance0 = total_issuance(&node);
    let alice = account(ALICE);
    let alice0 = node.balance(&alice);
    let id = submit_job(&node, job, "1000");
    let status = ended(&node, id, &mut worker, &mut verifier);
    let JobStatus::DisputeLost {
        segment: lost_at,
        challenger,
        decided,
        burned,
        rewarded,
        paid_verifiers,
        requeued,
        ..
    } = status
    else {
        panic!("the worker with {worker_fault} did not lose: {status:?}");
    };
    assert_eq!(
        (lost_at, challenger, requeued),
        (segment, account(CHARLIE), false)
    );
    // The fees of the checks that revealed a leaf first, then half the rest, but no more than
    // the verifier's run bond; the rest burned.
    assert!(paid_verifiers > 0);
    let rest = COLLATERAL - paid_verifiers;
    assert_eq!(rewarded, (rest * REWARD_PERCENT / 100).min(RUN_BOND));
    assert_eq!(burned, rest - rewarded);
    assert_eq!(total_issuance(&node), issuance0 - burned);
    let alice1 = node.balance(&alice);
    assert!(
        alice1.free + alice1.reserved >= alice0.free + alice0.reserved,
        "Alice is whole again"
    );
    Lost {
        decided,
        // Its last step is logged once final, maybe after the test saw the job end.
        worker_log: worker.log_once("job ended"),
        verifier_log: verifier.lines().join("\n"),
        node_log: node.drain_log().join("\n"),
    }
}

/// Dave, the fourth dev account: challenges in the tests below.
const DAVE: &str = crate::market::DEV[3];
/// The stake an open challenge commits (the runtime's `CHALLENGE_BOND`).
const CHALLENGE_BOND: Balance =
    <agora_runtime::Runtime as pallet_verification::Config>::CHALLENGE_BOND;

/// Exploit 6 of issue 10: a forgery the sample misses is still caught. Bob commits a final
/// state his run never reached (`tamper-leaf=last`) and the only verifier drawn is lazy: its
/// made-up mismatches lose their disputes by the deadline and the job is verified. Within the
/// challenge window Dave, who was never drawn, replays the job and runs
/// `agora challenge --leaf 1`: the leaf bisection narrows to segment 1, the step bisection to
/// one step, the node's referee executes it, and Bob loses his collateral to Dave.
#[test]
fn a_forgery_the_sample_missed_loses_to_an_open_challenge() {
    open_challenge_wins("tamper-leaf=last", "--leaf", 1);
}

/// Item 7's honest watcher, `agora verifier run --watch-all` (found untested by an audit of
/// the issue): Bob commits a final state his run never reached and the only verifier drawn,
/// Charlie, is lazy, so the job is verified. Dave then starts a watcher, which replays every
/// job in its challenge window and challenges what its replay contradicts: Bob loses the
/// dispute, Dave being the challenger.
#[test]
fn an_honest_watcher_challenges_a_forgery_the_sample_missed() {
    // Bonded ahead (bonding does not enter the draw; registering does), so that the watcher
    // has only to register and replay within the 60-block challenge window.
    let (node, dir, id, verified, (mut worker, mut verifier)) =
        verified_past_a_lazy_verifier("tamper-leaf=last", "50");
    assert!(
        matches!(verified, JobStatus::Verified { .. }),
        "{verified:?}"
    );
    // Started after the draw, so that it can only catch the forgery by watching.
    let args = [
        "verifier",
        "run",
        "--key",
        "//Dave",
        "--bond",
        "50",
        "--watch-all",
    ];
    let mut watcher = Daemon::start(&node, &args, &dir.path().join("dave"));
    let status = wait_for_status(
        &node,
        id,
        "the watcher's challenge to end the job",
        Duration::from_secs(360),
        &mut [&mut worker, &mut verifier, &mut watcher],
        JobStatus::is_final,
    );
    let JobStatus::DisputeLost { challenger, .. } = status else {
        panic!(
            "the forgery was not lost to the watcher: {status:?}\nwatcher log:\n{}",
            watcher.lines().join("\n")
        );
    };
    assert_eq!(challenger, account(DAVE));
}

/// Exploit 2 by open challenge, over a segment that starts from a state: Bob overbills his
/// last leaf only (`overbill-last=700`) and the only verifier drawn is lazy, so the job is
/// verified. Dave's replay agrees with every state and the model but not the bill: `agora
/// challenge --fuel 1` bisects over whole leaves to segment 1, the first overbilled, whose
/// re-run by the node's referee from leaf 0's state shows the fuel Bob's leaf inflated. Bob
/// loses his collateral to Dave. Nobody registered that state before the dispute reached the
/// referee's turn: Bob does then, and the node's warmer, looking again on the next blocks,
/// decides the re-run ahead of the call. Before, Bob registered it only when the call opened
/// and the warmer had looked once, at the move: the block carrying the call re-ran the whole
/// segment inline.
#[test]
fn an_overbilled_last_segment_loses_to_a_fuel_challenge_decided_ahead() {
    // Since spec version 21 the re-run gets the fuel Bob's leaf bills segment 1: 700 % more on
    // a ~120 Mfuel job (~900 Mfuel of the bid's 1,000) makes it a call every node must decide
    // ahead (a six-block lead, as the bid's limit gave before); a small overbill is a re-run
    // within the call's own weight, opening a block after the turn and run by the block.
    let node_log = open_challenge_wins("overbill-last=700", "--fuel", 1);
    crate::market::assert_the_warmer_decided_a_segment_ahead(&node_log);
}

/// Bob works with `--fault worker_fault` and Charlie verifies lazily; Dave bonds `dave_bond`
/// AGR; Alice submits a two-segment job, waited for until it is verified (or ends). Returns the
/// node, the test's directory, the job, its status then and the two daemons.
fn verified_past_a_lazy_verifier(
    worker_fault: &str,
    dave_bond: &str,
) -> (Node, tempfile::TempDir, JobId, JobStatus, (Daemon, Daemon)) {
    let node = Node::start_with_block_time(400);
    let dir = tempfile::tempdir().unwrap();
    let (mut worker, mut verifier) = daemons(
        &node,
        dir.path(),
        &["--fault", worker_fault],
        &["--fault", "lazy"],
    );
    let bond = ["stake", "bond", "--key", "//Dave", "--amount", dave_bond];
    assert!(node.agora(&bond).status.success());
    let id = submit_no_wait(&node, &TWO_SEGMENTS);
    let status = wait_for_status(
        &node,
        id,
        "verified",
        Duration::from_secs(360),
        &mut [&mut worker, &mut verifier],
        |s| matches!(s, JobStatus::Verified { .. }) || s.is_final(),
    );
    (node, dir, id, status, (worker, verifier))
}

/// Bob works with `--fault worker_fault`, Charlie verifies lazily, and once the job is verified
/// Dave runs `agora challenge JOB <target> 1`; he must win, Bob losing at `segment`. Returns
/// the node's log.
fn open_challenge_wins(worker_fault: &str, target: &str, segment: u64) -> String {
    let (node, dir, id, _, (mut worker, _verifier)) =
        verified_past_a_lazy_verifier(worker_fault, "20");
    let cache = crate::module_cache();
    let dave = account(DAVE);
    // Submitting and verifying the job moved nothing of Dave's: this is his total before.
    let dave0 = total(&node, &dave);
    let challenge = [
        "--output",
        "json",
        "challenge",
        "--key",
        "//Dave",
        &id.to_string(),
        target,
        "1",
        "--state-dir",
        dir.path().join("dave").to_str().unwrap(),
        "--cache-dir",
        cache.to_str().unwrap(),
        "--poll-ms",
        "200",
    ]
    .map(str::to_owned);
    let args: Vec<&str> = challenge.iter().map(String::as_str).collect();
    let out = node.agora(&args);
    if !out.status.success() {
        panic!(
            "agora challenge failed: {}\nworker log:\n{}",
            String::from_utf8_lossy(&out.stderr),
            worker.lines().join("\n")
        );
    }
    let report = crate::stdout_json(&out);
    assert_eq!(report["outcome"], "won", "{report}");
    let JobStatus::DisputeLost {
        segment: lost_at,
        challenger,
        rewarded,
        burned,
        repaid,
        paid_verifiers,
        ..
    } = job_status(&node, id).unwrap()
    else {
        panic!("the cheat did not lose");
    };
    assert_eq!((lost_at, challenger), (segment, dave));
    // Fees of checks that matched before the challenge come out of the collateral first.
    assert_eq!(paid_verifiers + repaid + burned + rewarded, COLLATERAL);
    assert_eq!(
        report["rewarded"],
        agora_client::amount::format_agr(rewarded).as_str()
    );
    // Dave's bond is back and the reward is his, less at most his fees.
    assert_eq!(
        node.read(async |rpc| Ok(agora_client::chain::State::best(rpc)
            .ledger(&dave)
            .await?
            .committed)),
        0
    );
    let dave1 = total(&node, &dave);
    assert!(
        dave1 > dave0 + rewarded - agora_primitives::AGR / 10,
        "{dave0} → {dave1}"
    );
    let log = worker.lines().join("\n");
    assert!(log.contains("challenged leaf revealed"), "{log}");
    node.drain_log().join("\n")
}

/// `--fault false-challenge`: Dave's daemon challenges the last leaf of Bob's honest job,
/// though its own replay agrees, and plays the dispute truthfully from there. The bisection
/// ends at a step the referee reproduces; Dave's bond is slashed (Bob's referee call repaid
/// first, half the rest to Bob, half burned) and the job settles with Bob paid after a fresh
/// challenge window.
#[test]
fn a_false_challenge_loses_its_bond_and_the_honest_worker_is_paid() {
    let node = Node::start_with_block_time(400);
    let dir = tempfile::tempdir().unwrap();
    let (mut worker, mut verifier) = daemons(&node, dir.path(), &[], &[]);
    let mut dave = dave(&node, dir.path(), "false-challenge");
    let issuance0 = total_issuance(&node);
    let id = submit_no_wait(&node, &TWO_SEGMENTS);
    let receipt = settled(&node, id, &mut [&mut worker, &mut verifier, &mut dave]);
    let [refutation] = receipt.refuted.as_slice() else {
        panic!("one refutation expected: {receipt:?}");
    };
    assert_eq!(refutation.verifier, account(DAVE));
    let fee = <agora_runtime::Runtime as pallet_verification::Config>::REFEREE_CALL_FEE;
    assert_eq!(refutation.repaid, fee, "Bob called the referee");
    assert_eq!(
        refutation.repaid + refutation.burned + refutation.rewarded,
        CHALLENGE_BOND
    );
    assert!(receipt.paid_worker > 0);
    assert_eq!(total_issuance(&node), issuance0 - refutation.burned);
    let log = dave.lines().join("\n");
    assert!(log.contains("challenged"), "{log}");
}

/// `--fault skip-steps=2`: Bob runs 10 of the 12 steps the job asks for (the segment count is
/// unchanged, so the commitment is accepted). Charlie's re-execution of the last segment ends
/// elsewhere; the bisection over that segment's steps reaches the step after Bob's real end,
/// which the node's referee executes, and Bob loses his collateral.
#[test]
fn a_worker_that_skips_steps_loses_its_collateral() {
    let lost = worker_loses_to_charlie("skip-steps=2", 1);
    assert!(
        matches!(lost.decided, Decision::RefereeStep { .. }),
        "{:?}",
        lost.decided
    );
}

/// `--fault withhold-state=0 --fault withhold-state=1 --fault withhold-state=2`: Bob registers
/// every start state a check of his 4-segment job could need but uploads none. The node holds
/// no bytes for the start he must reveal, so his reveal never gets into a block (exploit 1 of
/// issue 10); he misses the deadline and times out: collateral slashed, Alice refunded, and
/// Charlie — who never had anything to fetch — keeps his bond.
#[test]
fn a_worker_that_withholds_a_start_state_times_out_and_the_verifier_keeps_its_bond() {
    // The runtime's windows: the test waits for the worker's reveal window to run out.
    let node = Node::start_dev_chain(&[], 400);
    let dir = tempfile::tempdir().unwrap();
    let withhold = [
        "--fault",
        "withhold-state=0",
        "--fault",
        "withhold-state=1",
        "--fault",
        "withhold-state=2",
    ];
    let (mut worker, mut verifier) = daemons(&node, dir.path(), &withhold, &[]);
    let (alice, charlie) = (account(ALICE), account(CHARLIE));
    let alice0 = node.balance(&alice);
    let issuance0 = total_issuance(&node);
    // 12 steps in segments of 3: the last segment, one other and Bob's heaviest are sampled,
    // at most three of four, so some run starts after segment 0 and its start (leaf 0, 1 or 2)
    // must be revealed. (With three segments all three may be sampled: one run from init,
    // nothing to reveal.)
    let four_segments = ["--segment", "3", "--seed", "7"];
    let id = submit_no_wait(&node, &four_segments);
    let status = ended(&node, id, &mut worker, &mut verifier);
    let JobStatus::TimedOut {
        slashed, requeued, ..
    } = status
    else {
        panic!("the withholding worker did not time out: {status:?}");
    };
    assert_eq!((slashed, requeued), (COLLATERAL, false));
    // A time-out burns the whole collateral: nobody is owed it (the withheld state hurt no
    // verifier, whose bond comes back), and the buyer's escrow comes back in full.
    assert_eq!(total_issuance(&node), issuance0 - COLLATERAL);
    let alice1 = node.balance(&alice);
    assert!(
        alice1.free + alice1.reserved >= alice0.free + alice0.reserved,
        "Alice is whole again: {alice0:?} → {alice1:?}"
    );
    let ledger =
        node.read(async |rpc| agora_client::chain::State::best(rpc).ledger(&charlie).await);
    assert_eq!(
        ledger.committed, 0,
        "Charlie's check bond released, not slashed"
    );
    let log = worker.lines().join("\n");
    assert!(
        log.contains("registered a checkpoint without uploading it"),
        "{log}"
    );
}

/// Alice buys a run of `module` (from `engine/tests/modules`, `seed`, segments of 5 steps);
/// Bob works honestly on this machine and Charlie verifies honestly as another machine would
/// (`--fault machine`: `arm-nans`, aarch64's NaN bits; `small-stack`, larger native frames)
/// until the job settles. Checks that neither
/// lost money to Alice's machine-dependent module: nothing burned or created, Charlie's bonds
/// all back, each gained his pay less at most his transaction fees (Alice authors every dev
/// block, so fees are hers: the referee calls, whoever made them, came back out of the
/// escrow). Returns the receipt and the two daemons, for their logs.
fn settled_with_nobody_out_of_pocket(
    (module, seed): (&str, &str),
    machine: &str,
) -> (pallet_jobs::Receipt, AccountId, Daemon, Daemon) {
    let node = Node::start_with_block_time(400);
    let dir = tempfile::tempdir().unwrap();
    let (mut worker, mut verifier) = daemons(&node, dir.path(), &[], &["--fault", machine]);
    let issuance0 = total_issuance(&node);
    let (bob, charlie) = (account(BOB), account(CHARLIE));
    let (bob0, charlie0) = (total(&node, &bob), total(&node, &charlie));
    let module = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../engine/tests/modules")
        .join(module);
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/../datasets/digits.csv");
    let job = [
        "--module",
        module.to_str().unwrap(),
        "--data",
        data,
        "--segment",
        "5",
        "--seed",
        seed,
    ];
    let id = submit_job(&node, &job, "1000");
    let receipt = settled(&node, id, &mut [&mut worker, &mut verifier]);
    assert!(receipt.refuted.is_empty(), "{receipt:?}");
    assert_eq!(receipt.checks_passed, 2, "Charlie is paid for both checks");
    assert!(receipt.paid_worker > 0 && receipt.paid_verifiers > 0);
    assert_eq!(
        total_issuance(&node),
        issuance0,
        "nothing burned or created"
    );
    conserved(&node, issuance0, "settled");
    assert_eq!(
        node.read(async |rpc| Ok(agora_client::chain::State::best(rpc)
            .ledger(&charlie)
            .await?
            .committed)),
        0,
        "Charlie's bonds are all back"
    );
    let (bob1, charlie1) = (total(&node, &bob), total(&node, &charlie));
    assert!(
        bob1 + agora_primitives::AGR / 10 > bob0 + receipt.paid_worker,
        "{bob0} → {bob1}"
    );
    assert!(
        charlie1 + agora_primitives::AGR / 10 > charlie0,
        "{charlie0} → {charlie1}"
    );
    (receipt, charlie, worker, verifier)
}

/// Both segments' mismatches were Charlie's drawn checks, and both disputes were set aside
/// without reopening (each piece machine-dependent from the job's start, or with the job's
/// first segment machine-dependent too).
fn both_set_aside_without_a_replay(receipt: &pallet_jobs::Receipt, charlie: &AccountId) {
    let segments: Vec<u64> = receipt
        .machine_dependent
        .iter()
        .map(|m| m.segment)
        .collect();
    // The second mismatch follows a check set aside, so nothing shows Charlie agrees with
    // Bob's leaf 0: its dispute is a leaf bisection from the run's start (spec version 11),
    // which narrows back to segment 0, where their states first differ.
    assert_eq!(
        segments,
        vec![0, 0],
        "both mismatches set aside, at segment 0: {receipt:?}"
    );
    assert!(receipt
        .machine_dependent
        .iter()
        .all(|m| m.challenger == *charlie && !m.open && m.replayed == 0));
}

/// Issue 17, end to end: Alice's module (`engine/tests/modules/nan-bits.wasm`, 10 steps) stores
/// the bits of a run-time `0/0` in its state, which differ between x86-64 and aarch64. Both
/// segments mismatch; the first dispute is bisected to one step, and the node's referee finds
/// the step produced a NaN from the job's start: set aside. The second, after a check set
/// aside, is disputed from the run's start and narrows to segment 0 again: set aside too.
/// Nobody is out of pocket, and the receipt names both findings.
#[test]
fn a_buyers_machine_dependent_module_costs_neither_the_worker_nor_the_verifier() {
    let (receipt, charlie, mut worker, _) =
        settled_with_nobody_out_of_pocket(("nan-bits.wasm", "7"), "arm-nans");
    both_set_aside_without_a_replay(&receipt, &charlie);
    let log = worker.log_once("referee called");
    assert!(log.contains("referee called"), "{log}");
}

/// Issue 17, end to end: Alice's module (`engine/tests/modules/deep-stack.wasm`) recurses as
/// deep as its seed in every segment, and her seed is 85 % of the deepest recursion this
/// machine's full native stack runs. Bob's run fits; Charlie verifies as a machine with larger
/// frames would (`--fault small-stack`: three quarters of the stack) and overflows in both
/// segments. Each dispute reaches the referee, whose probe with half the stack overflows too:
/// machine-dependent — from the job's start, or with the job's first segment machine-dependent
/// too — and set aside. Nobody is out of pocket.
#[test]
fn a_module_recursing_near_the_stack_limit_costs_neither_the_worker_nor_the_verifier() {
    let wasm = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../engine/tests/modules/deep-stack.wasm"
    ))
    .unwrap();
    let seed = (agora_test_support::deepest_recursion(&wasm) / 20 * 17).to_string();
    let (receipt, charlie, _, _) =
        settled_with_nobody_out_of_pocket(("deep-stack.wasm", &seed), "small-stack");
    both_set_aside_without_a_replay(&receipt, &charlie);
}

/// Issue 17, the dispute reopened from the start, end to end: Alice's module
/// (`engine/tests/modules/late-nan.wasm`, seed 0) counts to 5 in its first segment and stores
/// the bits of a run-time `0/0` at every step after. Segment 0 matches; segment 1, checked
/// from Bob's leaf 0, mismatches and is bisected to a step whose NaN the referee sees — but
/// from a state only Bob vouched for, and the job's first segment is not machine-dependent:
/// not established. The dispute is reopened from the job's start, Charlie replays the job and
/// agrees with leaf 0, the bisection lands on the same step, now from a state Charlie reached
/// himself, and the referee's verdict sets it aside. Nobody is out of pocket.
#[test]
fn a_module_machine_dependent_after_its_first_segment_costs_neither_the_worker_nor_the_verifier() {
    let (receipt, charlie, _, mut verifier) =
        settled_with_nobody_out_of_pocket(("late-nan.wasm", "0"), "arm-nans");
    let [finding] = receipt.machine_dependent.as_slice() else {
        panic!("one dispute set aside: {receipt:?}");
    };
    assert_eq!((finding.segment, finding.challenger), (1, charlie));
    assert!(
        finding.replayed > 0,
        "reopened from the start and replayed: {finding:?}"
    );
    let log = verifier.log_once("reopened from the start");
    assert!(log.contains("dispute reopened from the start"), "{log}");
}

/// A job an honest Bob worked and an honest Charlie checked, settled with nothing disputed.
struct Undisputed {
    node: Node,
    id: JobId,
    receipt: pallet_jobs::Receipt,
    commitment: pallet_jobs::Commitment,
    /// Bob's total balance before the job was submitted.
    bob_before: Balance,
}

/// Alice's job on `module` (in `engine/tests/modules`; digits, segments of 5, seed 0), worked
/// by Bob and checked by Charlie, both honest and on the same machine: it settles with both
/// checks passed and nothing disputed.
fn settled_undisputed(module: &str) -> Undisputed {
    let node = Node::start_with_block_time(400);
    let dir = tempfile::tempdir().unwrap();
    let (mut worker, mut verifier) = daemons(&node, dir.path(), &[], &[]);
    let bob_before = total(&node, &account(BOB));
    let module = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../engine/tests/modules")
        .join(module);
    let job = [
        "--module",
        module.to_str().unwrap(),
        "--data",
        concat!(env!("CARGO_MANIFEST_DIR"), "/../datasets/digits.csv"),
        "--segment",
        "5",
        "--seed",
        "0",
    ];
    let id = submit_job(&node, &job, "1000");
    let receipt = settled(&node, id, &mut [&mut worker, &mut verifier]);
    assert!(
        receipt.refuted.is_empty() && receipt.machine_dependent.is_empty(),
        "nothing disputed: {receipt:?}"
    );
    assert_eq!(receipt.checks_passed, 2, "{receipt:?}");
    let commitment = node.read(async |rpc| {
        Ok(agora_client::chain::State::best(rpc)
            .job(id)
            .await?
            .and_then(|job| job.commitment))
    });
    Undisputed {
        node,
        id,
        receipt,
        commitment: commitment.expect("committed"),
        bob_before,
    }
}

/// A buyer's module whose `eval` returns bytes that are not UTF-8
/// (`engine/tests/modules/binary-metrics.wasm`: `FF FE 00 80`): the job settles with nothing
/// disputed, and the committed metrics are the module's bytes. (A worker that kept metrics as
/// text committed other bytes — a replacement character for each invalid one — than Charlie
/// computed: the last segment's check mismatched, and the referee's `eval` sided with Charlie:
/// an honest worker slashed by its buyer's module.)
#[test]
fn metrics_that_are_not_text_are_committed_as_the_module_returned_them() {
    let settled = settled_undisputed("binary-metrics.wasm");
    assert_eq!(settled.commitment.metrics, [0xff, 0xfe, 0x00, 0x80]);
}

/// Issue 17, a buyer's module turned against its worker through its results: Alice's module
/// (`engine/tests/modules/refused-results.wasm`) trains, but its `export` traps and its `eval`
/// returns more metrics than a commitment keeps. Bob commits the run with no model and no
/// metrics, Charlie computes the same from the final state, and the job settles with Bob paid
/// for the whole run. (Before, Bob's run failed at `export`, the chain refused his declaration
/// that the job could not run — its `init` and first segment run — and he lost his collateral
/// when the job timed out.)
#[test]
fn a_module_refusing_its_own_results_still_pays_its_worker() {
    let Undisputed {
        node,
        id,
        receipt,
        commitment,
        bob_before,
    } = settled_undisputed("refused-results.wasm");
    assert!(receipt.paid_worker > 0, "{receipt:?}");
    assert!(!commitment.ends_in_refusal(), "the whole run is billed");
    assert!(!commitment.has_model() && commitment.metrics.is_empty());
    assert!(
        total(&node, &account(BOB)) + agora_primitives::AGR / 10 > bob_before + receipt.paid_worker,
        "Bob keeps his collateral and is paid"
    );
    let shown = node.agora(&["job", "status", &id.to_string()]);
    assert!(
        String::from_utf8_lossy(&shown.stdout).contains("the module refused to export a model"),
        "{}",
        String::from_utf8_lossy(&shown.stdout)
    );
}

/// Issue 17, a dispute over the model and metrics reopened from the start, end to end: Alice's
/// module (`engine/tests/modules/nan-metrics.wasm`, seed 0) runs deterministic segments, but its
/// `eval` returns the bits of a run-time `0/0`. Every leaf matches; the last segment's check
/// mismatches on the metrics alone, and the referee's `eval` of Bob's final state produces a
/// NaN — a state only Bob's trace vouches for, with the job's first segment deterministic: not
/// established. Reopened from the start, Charlie replays the job and agrees with every leaf, the
/// dispute returns to the model and metrics of a state he reached himself, and is set aside.
/// Nobody is out of pocket.
#[test]
fn a_module_whose_metrics_are_machine_dependent_costs_neither_the_worker_nor_the_verifier() {
    let (receipt, charlie, _, _) =
        settled_with_nobody_out_of_pocket(("nan-metrics.wasm", "0"), "arm-nans");
    let [finding] = receipt.machine_dependent.as_slice() else {
        panic!("one dispute set aside: {receipt:?}");
    };
    assert_eq!(
        (finding.segment, finding.challenger, finding.decided),
        (1, charlie, Decision::RefereeOutput)
    );
    assert!(finding.replayed > 0, "reopened and replayed: {finding:?}");
}
