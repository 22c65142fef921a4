//! The agreed start of a drawn check's dispute (`dispute.rs`, "The agreed start"): a check
//! inside a run starts from the worker's leaf of the segment before only when its verifier's
//! check of that segment matched; otherwise the dispute is a leaf bisection from the last leaf
//! the verifier vouched for (a lower matched check, or the run's revealed start), so that a
//! forged leaf it never vouched for is found.
//!
//! The job is the parent module's, four segments of `K` steps checked at 1000 ‰ (one run, all
//! Charlie's). A forger's trace leaves the honest chain at step `FORK` (inside segment 1) and
//! continues *correctly from its forged state*: every step after `FORK` is what the module
//! computes from the state before it, and only the step into `FORK` is false. Charlie misses
//! his check of segment 1 and mismatches segments 2 and 3.

use super::dispute::{dispute, play, refereed_by, truth, MockReferee, K, STEPS};
use super::reopened::to_the_referee_as;
use super::*;
use agora_primitives::referee::RefereeVerdict;
use agora_primitives::referee::{Referee, RefereeError, RefereeRequest, RefereeTask};

/// The step whose result the forger made up.
const FORK: u64 = K + 5;

/// The forger's state after `t` steps: the honest one before `FORK`, its own chain after.
fn forged(t: u64) -> Hash {
    if t < FORK {
        truth(t)
    } else {
        Hash::of_parts(&[b"forked", &t.to_le_bytes()])
    }
}

/// The forger's leaf `i`: its state after segment `i`, honest fuel.
fn forged_leaf(i: u64) -> TraceLeaf {
    TraceLeaf {
        state_hash: forged((i + 1) * K),
        ..leaf(i)
    }
}

/// The engine, which runs the module from any state: from one of the forger's states after
/// `FORK` it reaches the forger's next state (the forger computed those steps faithfully);
/// from any other, what the stand-in referee of the dispute tests reaches.
struct ForkReferee;

impl Referee for ForkReferee {
    fn run(&self, request: &RefereeRequest) -> Result<RefereeVerdict, RefereeError> {
        if let RefereeTask::Step {
            pre_state: Some(pre),
        } = request.task
        {
            if let Some(t) = (FORK..STEPS).find(|t| forged(*t) == pre) {
                return Ok(RefereeVerdict::Stepped {
                    post_state: forged(t + 1),
                });
            }
        }
        MockReferee::default().run(request)
    }

    fn holds(&self, _blob: &Hash) -> bool {
        true
    }
}

/// Job 0 committed with `worker_leaf`'s trace (naming `heaviest`) at 1000 ‰ (Charlie alone, one run of four),
/// Charlie's honest attestations of every check but segment 1's (missed), the worker's leaves
/// and Charlie's reveals: returns the state once the dispute is open, and the block after.
fn missed_before_a_mismatch(
    worker_leaf: fn(u64) -> TraceLeaf,
    heaviest: Option<(u64, Fuel)>,
) -> (State, BlockNumber) {
    let tree = TraceTree::new((0..4).map(worker_leaf).collect()).unwrap();
    let mut state = committed_at_assurance(
        &[CHARLIE],
        tree.clone(),
        worker_leaf(3),
        heaviest,
        (1_000, 0),
    );
    let sample = sampled(&mut state);
    assert_eq!(sample, [0, 1, 2, 3]);
    step(&mut state, 5, |ext| {
        // The forged states the worker reveals (the last was registered with the commitment).
        for i in 1..3 {
            let hash = worker_leaf(i).state_hash;
            if hash != leaf(i).state_hash {
                Jobs::register_blob_of_known_size(ext, &BOB, hash, 100)?;
            }
        }
        Verification::reveal_starts(ext, &BOB, 0, starts_from(&tree, worker_leaf, &sample))
    })
    .0
    .unwrap();
    let honest = |s: u64| (leaf(s), (s == 3).then(super::dispute::honest_model));
    for check in [0u32, 2, 3] {
        let (leaf, result) = honest(u64::from(check));
        let hash = attestation_hash(0, check, &CHARLIE, &leaf, &result, &SALT);
        step(&mut state, 6, |ext| {
            Verification::attest(ext, &CHARLIE, 0, check, hash)
        })
        .0
        .unwrap();
    }
    let deadline = Verification::audit(&state, 0).unwrap().deadline;
    end_block(&mut state, deadline);
    let leaves = leaves_from(&tree, worker_leaf, &sample);
    step(&mut state, deadline + 1, |ext| {
        Verification::reveal_leaves(ext, &BOB, 0, leaves)
    })
    .0
    .unwrap();
    for check in [0u32, 2, 3] {
        let (leaf, result) = honest(u64::from(check));
        step(&mut state, deadline + 2, |ext| {
            Verification::reveal_attestation(ext, &CHARLIE, 0, check, leaf, result, SALT)
        })
        .0
        .unwrap();
    }
    let outcomes: Vec<_> = Verification::audit(&state, 0)
        .unwrap()
        .checks
        .iter()
        .map(|c| c.outcome)
        .collect();
    assert_eq!(
        outcomes,
        [
            Some(CheckOutcome::Match),
            Some(CheckOutcome::Missed),
            Some(CheckOutcome::Mismatch),
            Some(CheckOutcome::Mismatch),
        ]
    );
    (state, deadline + 3)
}

/// Bob lost job 0 at segment 1, the one whose leaf he forged or inflated.
fn assert_lost_at_the_forged_segment(state: &State) {
    let status = Jobs::job(state, 0).unwrap().status;
    assert!(
        matches!(status, JobStatus::DisputeLost { segment: 1, .. }),
        "{status:?}"
    );
}

/// Plays job 0's dispute from `block` to the referee's turn against an honest Charlie
/// (`reopened.rs`), Bob revealing `worker_leaf(i)` and posting `worker(t)` after `t` steps.
fn to_the_referee(
    state: &mut State,
    block: BlockNumber,
    worker_leaf: fn(u64) -> TraceLeaf,
    worker: fn(u64) -> Hash,
) -> BlockNumber {
    let tree = TraceTree::new((0..4).map(worker_leaf).collect()).unwrap();
    to_the_referee_as(state, block, (&tree, worker_leaf), worker, truth)
}

/// Found in review of spec version 10: the dispute over Charlie's lowest mismatch (segment 2)
/// started from the worker's leaf 1, which Charlie's missed check never vouched for. The forger
/// computed segment 2 faithfully from its forged leaf 1, so every step of a bisection there
/// was the module's own: the referee sided with the worker, Charlie's mismatches were
/// refuted, and the forgery passed although Charlie had seen the chain go wrong. Now the
/// dispute is a leaf bisection from leaf 0, the last Charlie vouched for (his check of
/// segment 0 matched), which finds leaf 1, and the referee's step into `FORK` from a true
/// state.
#[test]
fn exploit_a_leaf_forged_where_its_verifier_missed_is_found_by_a_leaf_bisection() {
    let (mut state, block) = missed_before_a_mismatch(forged_leaf, None);
    let opened = dispute(&state);
    assert_eq!(
        opened.claim,
        Claim::Leaves(LeafBisection {
            lo: Some(leaf(0)),
            hi: 2,
            hi_leaf: Some(forged_leaf(2)),
            midpoint: None,
            fuel: false,
            output: false,
        }),
        "a leaf bisection from leaf 0, which Charlie matched, not a step bisection from leaf 1"
    );
    // Charlie's first answer may need a re-execution of his run up to segment 2: the
    // attestation window a run of three had (the mock's `RUN_SEGMENTS` is 2: two windows).
    play(
        &mut state,
        block,
        &BOB,
        Call::RevealLeaf {
            job: 0,
            leaf: forged_leaf(1),
            proof: TraceTree::new((0..4).map(forged_leaf).collect())
                .unwrap()
                .prove(1)
                .unwrap(),
        },
    );
    let windows = Verification::windows(&state);
    assert_eq!(
        Verification::audit(&state, 0).unwrap().deadline,
        block + windows.dispute_move + 2 * windows.attest
    );
    let at = to_the_referee(&mut state, block + 1, forged_leaf, forged);
    let d = dispute(&state);
    assert_eq!(d.segment, 1, "narrowed to the forged segment");
    let Claim::Steps(b) = &d.claim else {
        panic!("{:?}", d.claim)
    };
    assert_eq!(
        (u64::from(b.lo), b.lo_state),
        (FORK - K - 1, Some(truth(FORK - 1)))
    );
    refereed_by(&mut state, at, ForkReferee);
    assert_lost_at_the_forged_segment(&state);
}

/// The forger inflates the fuel of leaf 1 (states honest), so every later leaf carries the
/// inflated total, and Charlie misses his check of segment 1. A re-run of segment 2 from the
/// worker's leaf 1 reproduced leaf 2 (the inflated start plus the segment's true fuel) and the
/// inflated bill passed; from leaf 0, comparing whole leaves, the bisection ends at the re-run
/// of segment 1, which the inflated leaf does not match.
#[test]
fn exploit_fuel_inflated_where_its_verifier_missed_is_found_by_a_leaf_bisection() {
    fn inflated(i: u64) -> TraceLeaf {
        TraceLeaf {
            fuel: leaf(i).fuel + if i >= 1 { MFUEL / 2 } else { 0 },
            ..leaf(i)
        }
    }
    // Segment 1 is the heaviest, as the worker names it: the inflation breaks no bound.
    let (mut state, block) = missed_before_a_mismatch(inflated, Some((1, MFUEL * 3 / 2)));
    let opened = dispute(&state);
    let Claim::Leaves(leaves) = &opened.claim else {
        panic!("{:?}", opened.claim)
    };
    assert_eq!(
        (leaves.lo, leaves.hi, leaves.fuel),
        (Some(leaf(0)), 2, true)
    );
    let at = to_the_referee(&mut state, block, inflated, truth);
    let d = dispute(&state);
    let Claim::Segment(segment) = &d.claim else {
        panic!("{:?}", d.claim)
    };
    assert_eq!((segment.start, segment.leaf), (Some(leaf(0)), inflated(1)));
    refereed_by(&mut state, at, MockReferee::default());
    assert_lost_at_the_forged_segment(&state);
}

/// The rule's other side: when the check before matched, the dispute still starts from the
/// worker's leaf there, one segment's bisection with no leaf rounds.
#[test]
fn a_mismatch_after_a_matched_check_starts_from_the_leaf_before() {
    let mut state = committed_at_assurance(&[CHARLIE], trace_of(4), leaf(3), None, (1_000, 0));
    let sample = sampled(&mut state);
    // Charlie's honest leaves but a false one for segment 2: a false mismatch there.
    run_checks(&mut state, &sample, |s| match s {
        2 => TraceLeaf {
            state_hash: Hash([0xAB; 32]),
            ..leaf(2)
        },
        _ => leaf(s),
    });
    let d = dispute(&state);
    let Claim::Steps(b) = &d.claim else {
        panic!("{:?}", d.claim)
    };
    assert_eq!((d.segment, b.lo_state), (2, Some(leaf(1).state_hash)));
}

/// `dispute_start` on audits made by hand: a run of segments 3..=6 whose start (leaf 2) was
/// revealed, one verifier. The mismatch at 6 after a miss at 5 starts from the highest
/// matched leaf below it (4), and from the run's revealed start when nothing below matched;
/// after a match at 5, from leaf 5 itself, as before.
#[test]
fn a_dispute_starts_from_the_last_leaf_its_verifier_vouched_for() {
    use crate::dispute::DisputeStart;
    use CheckOutcome::{Match, Mismatch, Missed, Wrong};
    let audit = |outcomes: [CheckOutcome; 4]| Audit {
        root: Hash::ZERO,
        segments: 8,
        phase: Phase::AwaitingReveals,
        deadline: 0,
        checks: (3..7u64)
            .zip(outcomes)
            .map(|(segment, outcome)| Check {
                segment,
                verifier: CHARLIE,
                start: (segment == 3).then(|| leaf(2)),
                attestation: None,
                worker_leaf: Some(leaf(segment)),
                verifier_leaf: None,
                verifier_result: None,
                outcome: Some(outcome),
                bond: 0,
            })
            .collect(),
        dispute: None,
        refuted: Vec::new(),
        seed: None,
    };
    let start = |outcomes| Verification::dispute_start(&audit(outcomes), 3);
    assert_eq!(
        start([Match, Match, Missed, Mismatch]),
        Some(DisputeStart::LastVouched(Some(leaf(4))))
    );
    assert_eq!(
        start([Missed, Wrong, Missed, Mismatch]),
        Some(DisputeStart::LastVouched(Some(leaf(2))))
    );
    assert_eq!(
        start([Missed, Missed, Match, Mismatch]),
        Some(DisputeStart::Agreed(Some(leaf(5))))
    );
    // The run's first check starts from its revealed start whatever else happened.
    assert_eq!(
        Verification::dispute_start(&audit([Mismatch, Missed, Missed, Missed]), 0),
        Some(DisputeStart::Agreed(Some(leaf(2))))
    );
}
