//! Traces that end in a refusal: the module refused segment 2 of the job's four (a trap, a
//! divergence, more fuel than a segment may use), so Bob committed leaves 0 and 1 and the
//! refusal leaf of segment 2, with no model. The audit checks the refused segment like any last
//! segment; a mismatch over a refusal is decided by the referee re-running the whole segment.

use super::dispute::{assert_refereed, refereed_by, the_worker_loses_at_the_referee, MockReferee};
use super::*;
use agora_primitives::referee::{
    Referee, RefereeError, RefereeRequest, RefereeTask, RefereeVerdict,
};

/// Bob's trace: segments 0 and 1 as the honest job ran them, then segment 2's refusal.
fn refused(i: u64) -> TraceLeaf {
    match i {
        2 => TraceLeaf::refusal(2, leaf(1).fuel),
        _ => leaf(i),
    }
}

/// The job committed as `worker` says (leaves 0 to 2, the last a refusal), sampled, its starts
/// revealed, and checked by Charlie, whose leaf of segment 2 is `verifier_leaf` (and its result
/// zero, what a re-run that is refused reveals). Returns the outcomes of the checks.
fn checked_as(
    worker: impl Fn(u64) -> TraceLeaf + Copy,
    verifier_leaf: TraceLeaf,
) -> (State, Vec<(u64, CheckOutcome)>) {
    let tree = TraceTree::new((0..3).map(worker).collect()).unwrap();
    let mut state = committed_as(&[CHARLIE], tree.clone(), worker(2));
    let segments = sampled(&mut state);
    assert!(segments.contains(&2), "the refused segment is the last one");
    let starts = starts_from(&tree, worker, &segments);
    step(&mut state, 5, |ext| {
        Verification::reveal_starts(ext, &BOB, 0, starts)
    })
    .0
    .unwrap();
    let zero = FinalResult {
        output: Hash::ZERO,
        metrics: Hash::ZERO,
    };
    let outcomes = checked(&mut state, &segments, (&tree, worker), |s| match s {
        2 => (verifier_leaf, Some(zero)),
        _ => (leaf(s), None),
    });
    (state, outcomes)
}

/// [`checked_as`] Bob's [`refused`] trace.
fn checked_refusal(verifier_leaf: TraceLeaf) -> (State, Vec<(u64, CheckOutcome)>) {
    checked_as(refused, verifier_leaf)
}

/// The stand-in engine of the parent module, except that the module refuses segment 2.
struct RefusesSegment2;

impl Referee for RefusesSegment2 {
    fn run(&self, request: &RefereeRequest) -> Result<RefereeVerdict, RefereeError> {
        match request.task {
            RefereeTask::Segment { start, .. } if start == Some(leaf(1).state_hash) => {
                Ok(RefereeVerdict::Refused)
            }
            _ => MockReferee::default().run(request),
        }
    }

    fn holds(&self, _: &Hash) -> bool {
        true
    }
}

/// The verifier's re-run is refused at the same segment: the leaves match, the job passes and
/// settles billing the segments before the refusal.
#[test]
fn a_refusal_the_verifier_meets_too_passes_the_audit() {
    let (state, outcomes) = checked_refusal(refused(2));
    assert!(
        outcomes.iter().all(|(_, o)| *o == CheckOutcome::Match),
        "{outcomes:?}"
    );
    let job = Jobs::job(&state, 0).unwrap();
    assert!(matches!(job.status, JobStatus::Verified { .. }), "{job:?}");
    assert_eq!(job.commitment.unwrap().total_fuel, leaf(1).fuel);
}

/// A worker that stops early claiming a refusal the module does not make: the honest verifier
/// ran segment 2, the referee re-runs it and it runs, so Bob loses his collateral.
#[test]
fn a_false_refusal_loses_the_segment_re_run() {
    let (mut state, outcomes) = checked_refusal(leaf(2));
    assert!(
        outcomes.contains(&(2, CheckOutcome::Mismatch)),
        "{outcomes:?}"
    );
    let d = dispute::dispute(&state);
    assert_eq!(
        (d.segment, d.turn, d.claim),
        (
            2,
            Turn::Referee,
            Claim::Segment(crate::SegmentClaim {
                steps: 10,
                start: Some(leaf(1)),
                leaf: refused(2),
            })
        ),
        "a refusal is decided by re-running the whole segment, not by bisecting its steps"
    );
    assert_eq!(the_worker_loses_at_the_referee(&mut state, 9), (2, CHARLIE));
}

/// A verifier that denies a true refusal (attests a leaf for a segment the module refuses)
/// loses its bond to the referee, which is refused too; Bob passes and is paid.
#[test]
fn a_verifier_that_denies_a_true_refusal_loses_its_bond() {
    let (mut state, outcomes) = checked_refusal(leaf(2));
    assert!(outcomes.contains(&(2, CheckOutcome::Mismatch)));
    let bond = TestStaking::ledger(&state, &CHARLIE).committed;
    let events = refereed_by(&mut state, 9, RefusesSegment2);
    assert_refereed(&events, RefereeOutcome::WorkerRight);
    let JobStatus::Verified { refuted, .. } = Jobs::job(&state, 0).unwrap().status else {
        panic!("the worker did not pass");
    };
    assert_eq!((refuted[0].verifier, refuted[0].segment), (CHARLIE, 2));
    assert!(TestStaking::ledger(&state, &CHARLIE).committed < bond);
}

/// A refusal leaf must bill nothing for the refused segment: one that claims fuel for it is
/// not reproduced by the referee's refusal.
#[test]
fn a_refusal_that_bills_the_refused_segment_loses() {
    let padded = |i: u64| TraceLeaf {
        fuel: refused(i).fuel + u64::from(i == 2) * MFUEL,
        ..refused(i)
    };
    let (mut state, _) = checked_as(padded, refused(2));
    let events = refereed_by(&mut state, 9, RefusesSegment2);
    assert_refereed(&events, RefereeOutcome::WorkerWrong);
}

/// A trace that ends in a refusal has no model to challenge; its last leaf is challenged
/// instead, and the leaf bisection ends at the segment re-run.
#[test]
fn a_refused_trace_has_no_output_to_challenge() {
    let (mut state, _) = checked_refusal(refused(2));
    step(&mut state, 9, |_| ());
    let before = state.clone();
    let (result, events) = step(&mut state, 9, |ext| {
        Verification::challenge(ext, &DAVE, 0, ChallengeTarget::Output)
    });
    assert_eq!(result, Err(Verification::error(Error::NoOutputToChallenge)));
    assert!(events.is_empty());
    assert_eq!(state, before);
}
