//! Disputes end to end (cargo feature `faults`, which `scripts/test.sh` turns on): a real node,
//! worker and verifier as separate processes, one of them cheating on purpose with
//! `--fault KIND`. The cheat plays out on the ledger — mismatch, bisection, the node's referee
//! executing the disputed step of the real MLP — and the test checks who ends up paying.

use std::path::Path;
use std::time::{Duration, Instant};

use agora_primitives::{AccountId, Balance};
use pallet_jobs::{JobId, JobStatus};

use crate::market::{
    account, conserved, job_status, submit_no_wait, total_issuance, Daemon, ALICE, BOB, CHARLIE,
    TWO_SEGMENTS, VERIFIER_ARGS, WORKER_ARGS,
};
use crate::node::Node;

/// Bob's collateral per job (`--collateral 10` in [`WORKER_ARGS`]).
const COLLATERAL: Balance = 10 * agora_primitives::AGR;
/// A verifier's bond per check (the runtime's `CHECK_BOND`).
const CHECK_BOND: Balance = <agora_runtime::Runtime as pallet_verification::Config>::CHECK_BOND;
/// The share of a loser's stake paid to the winner.
const REWARD_PERCENT: Balance =
    <agora_runtime::Runtime as pallet_jobs::Config>::DISPUTE_REWARD_PERCENT as Balance;

/// Bob's worker and Charlie's verifier, each with `extra` arguments (its `--fault`), ready once
/// the offer is open and Charlie is registered.
fn daemons(node: &Node, dir: &Path, worker: &[&str], verifier: &[&str]) -> (Daemon, Daemon) {
    let cache = dir.join("modules");
    let worker = Daemon::start(
        node,
        &[&WORKER_ARGS[..], worker].concat(),
        &dir.join("worker"),
        &cache,
    );
    let verifier = Daemon::start(
        node,
        &[&VERIFIER_ARGS[..], verifier].concat(),
        &dir.join("verifier"),
        &cache,
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

/// Waits for job `id` to end, showing both daemons' logs if it does not.
fn ended(node: &Node, id: JobId, worker: &mut Daemon, verifier: &mut Daemon) -> JobStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = job_status(node, id).filter(JobStatus::is_final) {
            return status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(360),
            "job #{id} did not end: {:?}\nworker log:\n{}\nverifier log:\n{}",
            job_status(node, id),
            worker.lines().join("\n"),
            verifier.lines().join("\n")
        );
        std::thread::sleep(Duration::from_millis(500));
    }
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
    let node = Node::start_with_block_time(400);
    let dir = tempfile::tempdir().unwrap();
    let (mut worker, mut verifier) =
        daemons(&node, dir.path(), &["--fault", "tamper-leaf=last"], &[]);
    let issuance0 = total_issuance(&node);
    let (alice, bob, charlie) = (account(ALICE), account(BOB), account(CHARLIE));
    let alice0 = node.balance(&alice);
    let charlie0 = total(&node, &charlie);
    let bob0 = total(&node, &bob);
    let id = submit_no_wait(&node, &dir.path().join("modules"), &TWO_SEGMENTS);
    let status = ended(&node, id, &mut worker, &mut verifier);
    let JobStatus::DisputeLost {
        segment,
        challenger,
        burned,
        rewarded,
        requeued,
        ..
    } = status
    else {
        panic!("the cheating worker did not lose: {status:?}");
    };
    assert_eq!((segment, challenger, requeued), (1, charlie, false));
    assert_eq!(rewarded, COLLATERAL * REWARD_PERCENT / 100);
    assert_eq!(burned, COLLATERAL - rewarded);
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
    let log = worker.lines().join("\n");
    assert!(log.contains("referee called"), "{log}");
}

/// `--fault lazy`: Charlie attests made-up leaves without re-executing. Both checks mismatch;
/// Charlie cannot answer Bob's midpoints and loses each dispute by the deadline: his bond for
/// each check is slashed, half to Bob, and the job settles with Bob paid in full.
#[test]
fn a_lazy_verifier_loses_its_bonds_to_the_honest_worker() {
    let node = Node::start_with_block_time(400);
    let dir = tempfile::tempdir().unwrap();
    let (mut worker, mut verifier) = daemons(&node, dir.path(), &[], &["--fault", "lazy"]);
    let issuance0 = total_issuance(&node);
    let id = submit_no_wait(&node, &dir.path().join("modules"), &TWO_SEGMENTS);
    let status = ended(&node, id, &mut worker, &mut verifier);
    let JobStatus::Settled { receipt } = status else {
        panic!("the honest worker's job did not settle: {status:?}");
    };
    assert_eq!((receipt.checks_passed, receipt.checks_missed), (0, 2));
    assert_eq!(receipt.refuted.len(), 2, "both refutations on the receipt");
    assert!(
        receipt
            .refuted
            .iter()
            .all(|r| r.verifier == account(CHARLIE)
                && r.rewarded == CHECK_BOND * REWARD_PERCENT / 100)
    );
    assert!(receipt.paid_worker > 0);
    let burned = 2 * (CHECK_BOND - CHECK_BOND * REWARD_PERCENT / 100);
    assert_eq!(total_issuance(&node), issuance0 - burned);
    conserved(&node, issuance0 - burned, "settled");
}

/// `--fault wrong-output`: Bob's trace is honest but the model he commits is not what his final
/// state exports. Charlie's check of the last segment finds the leaves equal and the model
/// different; the dispute goes straight to the node's referee, which runs `export` and `eval`
/// of Bob's final state, and Bob loses his collateral.
#[test]
fn a_worker_that_commits_another_model_loses_the_output_dispute() {
    let node = Node::start_with_block_time(400);
    let dir = tempfile::tempdir().unwrap();
    let (mut worker, mut verifier) = daemons(&node, dir.path(), &["--fault", "wrong-output"], &[]);
    let issuance0 = total_issuance(&node);
    let id = submit_no_wait(&node, &dir.path().join("modules"), &TWO_SEGMENTS);
    let status = ended(&node, id, &mut worker, &mut verifier);
    let JobStatus::DisputeLost {
        segment,
        challenger,
        burned,
        ..
    } = status
    else {
        panic!("the worker with another model did not lose: {status:?}");
    };
    assert_eq!((segment, challenger), (1, account(CHARLIE)));
    assert_eq!(burned, COLLATERAL - COLLATERAL * REWARD_PERCENT / 100);
    assert_eq!(total_issuance(&node), issuance0 - burned);
    let log = verifier.lines().join("\n");
    assert!(!log.contains("midpoint answered"), "no bisection: {log}");
}
