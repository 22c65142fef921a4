//! Disputes reopened from the job's start (issue 17): the referee finds a drawn check's
//! disputed step machine-dependent, but the step starts from a state only the worker vouched
//! for. The dispute goes on as a leaf bisection from `init`, Charlie answering from his own
//! replay, and the referee's second verdict decides it: machine-dependent again, from a state
//! Charlie reached himself, is the buyer's module (set aside); a forger meets the referee at
//! its first forged step instead, from a true state, and loses.

use super::dispute::{
    assert_refereed, bisection, dispute, false_challenge, honest_model, output_disputed, play,
    referee_opening, refereed_by, to_the_referee, truth, MockReferee, BOND, CALL_FEE, K, STEPS,
};
use super::*;
use agora_primitives::referee::{
    Referee, RefereeError, RefereeRequest, RefereeTask, RefereeVerdict,
};

/// The honest job's engine, with a buyer's module that produces a NaN at every step from
/// step `from` of the job on: a step from any later honest state is machine-dependent, and
/// so is one from a state the honest job never reaches (a worker's forgery full of
/// infinities); the job's first segment from `init` is not.
struct LateNanReferee {
    from: u64,
}

impl Referee for LateNanReferee {
    fn run(&self, request: &RefereeRequest) -> Result<RefereeVerdict, RefereeError> {
        if let RefereeTask::Step {
            pre_state: Some(pre),
        } = request.task
        {
            match (0..STEPS).find(|t| truth(*t) == pre) {
                Some(t) if t < self.from => {}
                _ => return Ok(RefereeVerdict::MachineDependent),
            }
        }
        MockReferee::default().run(request)
    }

    fn holds(&self, _: &Hash) -> bool {
        true
    }
}

/// The honest job's engine on a forged state: a step from any state the honest job never
/// reaches produces a NaN (the forger filled it with infinities); the module itself is
/// deterministic.
struct ForgedStateReferee;

impl Referee for ForgedStateReferee {
    fn run(&self, request: &RefereeRequest) -> Result<RefereeVerdict, RefereeError> {
        if let RefereeTask::Step {
            pre_state: Some(pre),
        } = request.task
        {
            if !(0..STEPS).any(|t| truth(t) == pre) {
                return Ok(RefereeVerdict::MachineDependent);
            }
        }
        MockReferee::default().run(request)
    }

    fn holds(&self, _: &Hash) -> bool {
        true
    }
}

/// The referee's `events`: an unestablished verdict, and the dispute of `check` reopened from
/// the start at `segment`.
fn assert_reopened(events: &[Event], check: Option<u32>, segment: u64) {
    assert_refereed(events, RefereeOutcome::Unestablished);
    assert!(
        events.contains(&Event::DisputeReopened {
            job: 0,
            check,
            segment
        }),
        "{events:?}"
    );
}

/// Job 0, verified with one dispute set aside, settled at its time: its receipt and the
/// finding on it.
fn settled_with_one_finding(
    state: &mut State,
) -> (pallet_jobs::Receipt, pallet_jobs::MachineDependence) {
    let JobStatus::Verified { settle_at, .. } = Jobs::job(state, 0).unwrap().status else {
        panic!("not verified: {:?}", Jobs::job(state, 0).unwrap().status);
    };
    end_block(state, settle_at);
    let JobStatus::Settled { receipt } = Jobs::job(state, 0).unwrap().status else {
        panic!("not settled");
    };
    let [finding] = receipt.machine_dependent.as_slice() else {
        panic!("{:?}", receipt.machine_dependent);
    };
    let finding = finding.clone();
    (receipt, finding)
}

/// Plays the dispute of job 0 from `block` to the referee's turn: Bob reveals
/// `worker_leaf(i)` (proved in `tree`) and posts `worker(t)` as his state after `t` steps of the
/// job; Charlie agrees exactly with what his own run reaches, `charlie(t)` after `t` steps
/// (with the honest fuel, in a bisection over whole leaves). Returns the block the referee is
/// due in.
pub(super) fn to_the_referee_as(
    state: &mut State,
    mut block: BlockNumber,
    (tree, worker_leaf): (&TraceTree, impl Fn(u64) -> TraceLeaf),
    worker: impl Fn(u64) -> Hash,
    charlie: impl Fn(u64) -> Hash,
) -> BlockNumber {
    // Bounded: leaf rounds (⌈log2 4⌉ reveals and answers) then step rounds (⌈log2 K⌉ each).
    for _ in 0..4 * (K + 4) {
        let d = dispute(state);
        let (who, call) = match (&d.turn, &d.claim) {
            // The call waits for its opening (the re-run queue's, spec version 21).
            (Turn::Referee, _) => return block.max(d.referee_opens_at.unwrap()),
            (Turn::Worker, Claim::Leaves(leaves)) => {
                let index = leaves.wanted();
                let call = Call::RevealLeaf {
                    job: 0,
                    leaf: worker_leaf(index),
                    proof: tree.prove(index).unwrap(),
                };
                (BOB, call)
            }
            (Turn::Challenger, Claim::Leaves(leaves)) => {
                let posted = leaves.midpoint.unwrap();
                let mine = TraceLeaf {
                    state_hash: charlie((posted.index + 1) * K),
                    ..leaf(posted.index)
                };
                let agree = if leaves.fuel {
                    posted == mine
                } else {
                    posted.state_hash == mine.state_hash
                };
                (CHARLIE, Call::Answer { job: 0, agree })
            }
            (Turn::Worker, Claim::Steps(b)) => {
                let state = worker(d.segment * K + u64::from(b.mid()));
                (BOB, Call::Bisect { job: 0, state })
            }
            (Turn::Challenger, Claim::Steps(b)) => {
                let at = d.segment * K + u64::from(b.mid());
                let agree = charlie(at) == b.midpoint.unwrap();
                (CHARLIE, Call::Answer { job: 0, agree })
            }
            other => panic!("no such move: {other:?}"),
        };
        play(state, block, &who, call);
        block += 1;
    }
    panic!("no referee turn");
}

/// An honest worker on one machine and an honest Charlie on another, and a buyer's module that
/// first produces a NaN halfway through the disputed segment (after the job's first segment,
/// so the first verdict is not established). The dispute is reopened from the start, Charlie
/// is given time to replay, the bisection from `init` lands on the step where the NaN first
/// appears — from a state Charlie reached himself — and that verdict sets the dispute aside:
/// nobody slashed, Bob paid, Charlie paid his checks, both referee calls repaid.
#[test]
fn a_module_machine_dependent_after_its_first_segment_is_reopened_and_set_aside() {
    let (mut state, disputed) = false_challenge();
    let from = disputed * K + K / 2;
    // Charlie's machine gives other NaN bits: his states differ from the step after `from`.
    let charlie = move |t: u64| {
        if t <= from {
            truth(t)
        } else {
            Hash::of_parts(&[b"other NaN bits", &t.to_le_bytes()])
        }
    };
    let issuance = TestBalances::total_issuance(&state);
    let charlie_free = TestBalances::free_balance(&state, &CHARLIE);
    let block = to_the_referee(&mut state, |s, mid, posted| {
        charlie(s * K + u64::from(mid)) == posted
    });
    let events = refereed_by(&mut state, block, LateNanReferee { from });
    assert_reopened(&events, Some(0), disputed);
    let reopened = dispute(&state);
    if disputed > 0 {
        assert_eq!(
            reopened.claim,
            Claim::Leaves(LeafBisection {
                lo: None,
                hi: disputed,
                hi_leaf: Some(leaf(disputed)),
                midpoint: None,
                fuel: false,
                output: false,
            }),
            "a leaf bisection from init to the check's leaf, which the check revealed"
        );
    } else {
        // Segment 0's leaf bisection is narrowed at once: its steps from `init`.
        assert_eq!(bisection(&reopened).lo_state, None);
    }
    assert_eq!(reopened.reopened_by, Some(ALICE));
    assert_eq!(TestStaking::ledger(&state, &CHARLIE).committed, BOND);
    let block = to_the_referee_as(&mut state, block + 1, (&trace(), leaf), truth, charlie);
    let events = refereed_by(&mut state, block, LateNanReferee { from });
    assert_refereed(&events, RefereeOutcome::MachineDependent);
    assert_eq!(
        TestBalances::total_issuance(&state),
        issuance,
        "nobody slashed"
    );
    assert_eq!(TestStaking::ledger(&state, &CHARLIE).committed, 0);
    let (receipt, finding) = settled_with_one_finding(&mut state);
    assert_eq!(
        (finding.segment, finding.challenger, finding.replayed),
        (disputed, CHARLIE, leaf(disputed).fuel),
        "Charlie replayed the job up to the check's leaf"
    );
    assert_eq!(
        finding.repay,
        vec![(ALICE, CALL_FEE), (ALICE, CALL_FEE)],
        "both referee calls are repaid: the one that reopened the dispute and the one that set it aside"
    );
    assert!(receipt.paid_worker > 0, "Bob is paid for his fuel");
    assert!(
        TestBalances::free_balance(&state, &CHARLIE) > charlie_free,
        "Charlie is paid his checks"
    );
    assert_eq!(TestBalances::total_issuance(&state), issuance);
}

/// Issue 17, the forger's side: Bob runs the job honestly up to leaf `f` and forges every leaf
/// from `f` on (states full of infinities, which make any step produce a NaN), and Charlie's
/// check starts from a forged leaf. The first verdict is machine-dependent from a state only
/// Bob vouches for: not established, and were it set aside, Bob could forge every segment
/// after his first forged one and be paid. Reopened from the start, the bisection lands on
/// Bob's first forged step, from a true state Charlie reached himself: deterministic, and Bob
/// loses his collateral.
#[test]
fn a_nan_from_a_state_only_the_worker_vouches_for_buys_no_pass() {
    // Which segments the draw picks is a function of the block beacon; find the first check's.
    let (_, disputed) = false_challenge();
    assert!(
        disputed > 0,
        "the check must start from a leaf Bob can forge"
    );
    let first_forged = disputed - 1;
    let forged = move |i: u64| {
        if i < first_forged {
            leaf(i)
        } else {
            TraceLeaf {
                state_hash: Hash::of_parts(&[b"infinities", &i.to_le_bytes()]),
                ..leaf(i)
            }
        }
    };
    let tree = TraceTree::new((0..4).map(forged).collect()).unwrap();
    let mut state = committed_as(&[CHARLIE], tree.clone(), forged(3));
    let segments = sampled(&mut state);
    assert_eq!(segments[0], disputed);
    step(&mut state, 5, |ext| {
        // The last (the final state) was registered for the commitment.
        for i in first_forged..3 {
            Jobs::register_blob_of_known_size(ext, &BOB, forged(i).state_hash, 100).unwrap();
        }
        Verification::reveal_starts(ext, &BOB, 0, starts_from(&tree, forged, &segments))
    })
    .0
    .unwrap();
    let model = honest_model();
    checked(&mut state, &segments, (&tree, forged), |s| {
        (leaf(s), (s == 3).then_some(model))
    });
    // Bob posts states past his first forged leaf that nothing honest reaches; Charlie agrees
    // with the truth only.
    let bob = move |t: u64| {
        if t <= first_forged * K {
            truth(t)
        } else {
            Hash::of_parts(&[b"forged", &t.to_le_bytes()])
        }
    };
    // Charlie's run from the forged start reaches none of Bob's made-up states.
    let block = to_the_referee_as(&mut state, 9, (&tree, forged), bob, truth);
    let events = refereed_by(&mut state, block, ForgedStateReferee);
    assert_refereed(&events, RefereeOutcome::Unestablished);
    assert!(dispute(&state).from_start());
    let issuance = TestBalances::total_issuance(&state);
    let block = to_the_referee_as(&mut state, block + 1, (&tree, forged), bob, truth);
    assert_eq!(
        dispute(&state).segment,
        first_forged,
        "Bob's first forged segment"
    );
    let events = refereed_by(&mut state, block, ForgedStateReferee);
    assert_refereed(&events, RefereeOutcome::WorkerWrong);
    let JobStatus::DisputeLost { burned, .. } = Jobs::job(&state, 0).unwrap().status else {
        panic!(
            "Bob did not lose: {:?}",
            Jobs::job(&state, 0).unwrap().status
        );
    };
    assert_eq!(TestBalances::total_issuance(&state), issuance - burned);
    assert_eq!(pallet_jobs::MachineDependentFindings::get(&state, &0), None);
}

/// Charlie's first answer in a reopened dispute comes after his replay of the job up to the
/// check's leaf: it is due an attestation window per replayed segment after the move window,
/// and every later move in the move window as usual. A Charlie who never answers loses his
/// bond, as in any dispute.
#[test]
fn a_reopened_dispute_gives_the_challenger_time_to_replay_and_no_more() {
    let (mut state, disputed) = false_challenge();
    let from = disputed * K + K / 2;
    let block = to_the_referee(&mut state, |s, mid, posted| {
        truth(s * K + u64::from(mid)) == posted && s * K + u64::from(mid) <= from
    });
    refereed_by(&mut state, block, LateNanReferee { from });
    let windows = Verification::windows(&state);
    let d = dispute(&state);
    let Claim::Leaves(leaves) = &d.claim else {
        // A check of segment 0 narrows at once to its steps from `init`: nothing to replay.
        assert_eq!(disputed, 0);
        return;
    };
    assert_eq!(d.turn, Turn::Worker);
    let index = leaves.wanted();
    play(
        &mut state,
        block + 1,
        &BOB,
        Call::RevealLeaf {
            job: 0,
            leaf: leaf(index),
            proof: trace().prove(index).unwrap(),
        },
    );
    let audit = Verification::audit(&state, 0).unwrap();
    let replayed = BlockNumber::try_from(disputed + 1).unwrap();
    assert_eq!(
        audit.deadline,
        block + 1 + windows.dispute_move + windows.attest * replayed
    );
    let bond = TestStaking::ledger(&state, &CHARLIE).committed;
    end_block(&mut state, audit.deadline);
    assert!(
        matches!(
            Jobs::job(&state, 0).unwrap().status,
            JobStatus::Verified { .. }
        ),
        "Charlie missed his answer: the dispute is his loss"
    );
    assert!(TestStaking::ledger(&state, &CHARLIE).committed < bond);
}

/// The honest job's engine, with a buyer's module whose `eval` produces a NaN (its metrics'
/// bits depend on the machine); its segments are deterministic.
pub(super) struct NanMetricsReferee;

impl Referee for NanMetricsReferee {
    fn run(&self, request: &RefereeRequest) -> Result<RefereeVerdict, RefereeError> {
        match request.task {
            RefereeTask::Output { .. } => Ok(RefereeVerdict::MachineDependent),
            _ => MockReferee::default().run(request),
        }
    }

    fn holds(&self, _: &Hash) -> bool {
        true
    }
}

/// The dispute over the model and metrics, reopened: every leaf matches, but Charlie's metrics
/// of the final state differ from Bob's, and the referee's `eval` produces a NaN — from a final
/// state only Bob's trace vouches for, with the job's first segment deterministic: not
/// established. Reopened from the start, Charlie agrees with every leaf from his replay, the
/// dispute returns to the model and metrics, now of a state Charlie reached from `init`, and
/// is set aside: Bob is paid. A Charlie that instead disagrees with a leaf Bob got right turns
/// it into a state dispute there, and loses it.
#[test]
fn a_dispute_over_machine_dependent_metrics_is_reopened_and_set_aside() {
    let other_metrics = FinalResult {
        output: OUTPUT,
        metrics: Hash([0x0D; 32]),
    };
    let mut state = output_disputed(other_metrics);
    let check = dispute(&state).check;
    assert_eq!(dispute(&state).claim, Claim::Output);
    let opens = referee_opening(&state);
    let events = refereed_by(&mut state, opens, NanMetricsReferee);
    assert_reopened(&events, check, 3);
    let issuance = TestBalances::total_issuance(&state);
    let mut griefed = state.clone();
    let block = to_the_referee_as(&mut state, opens + 1, (&trace(), leaf), truth, truth);
    let d = dispute(&state);
    assert_eq!(
        (d.claim.clone(), d.turn, d.from_start()),
        (Claim::Output, Turn::Referee, true)
    );
    let events = refereed_by(&mut state, block, NanMetricsReferee);
    assert_refereed(&events, RefereeOutcome::MachineDependent);
    let (receipt, finding) = settled_with_one_finding(&mut state);
    assert_eq!(
        (finding.segment, finding.decided, finding.replayed),
        (3, Decision::RefereeOutput, leaf(3).fuel)
    );
    assert!(receipt.paid_worker > 0);
    assert_eq!(
        TestBalances::total_issuance(&state),
        issuance,
        "nobody slashed"
    );

    // Charlie disagreeing with Bob's (true) leaf 1 makes it a dispute over segment 1's states,
    // which the referee decides for Bob.
    let griefer = |t: u64| {
        if t < 2 * K {
            truth(t)
        } else {
            Hash::of_parts(&[b"griefer", &t.to_le_bytes()])
        }
    };
    let block = to_the_referee_as(&mut griefed, opens + 1, (&trace(), leaf), truth, griefer);
    assert_eq!(dispute(&griefed).segment, 1);
    let events = refereed_by(&mut griefed, block, NanMetricsReferee);
    assert_refereed(&events, RefereeOutcome::WorkerRight);
    assert!(
        TestBalances::total_issuance(&griefed) < issuance,
        "Charlie's bond burned in part"
    );
}

/// Machine-dependent on the first whole-segment re-run it is asked for; the honest engine
/// after that (the job's first segment from `init`, which establishes nothing, included).
struct FirstSegmentNan(std::sync::atomic::AtomicBool);

impl Referee for FirstSegmentNan {
    fn run(&self, request: &RefereeRequest) -> Result<RefereeVerdict, RefereeError> {
        let segment = matches!(request.task, RefereeTask::Segment { .. });
        if segment && !self.0.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return Ok(RefereeVerdict::MachineDependent);
        }
        MockReferee::default().run(request)
    }

    fn holds(&self, _: &Hash) -> bool {
        true
    }
}

/// A state dispute escalated to its segment's re-run (`StepTooHeavy`, spec version 17) whose
/// re-run is machine-dependent but not established is reopened from the start as a *state*
/// dispute, bisected by steps again — not as a fuel dispute (found in review: reopened in fuel
/// mode, it re-ran whole segments only, and a machine-dependent step anywhere in a forged
/// segment then set the forgery aside).
#[test]
fn an_escalated_state_dispute_reopens_as_a_state_dispute() {
    let (mut state, _) = false_challenge();
    let block = to_the_referee(&mut state, |s, mid, posted| {
        super::dispute::honest_answer(s, mid, posted).unwrap()
    });
    let heavy_steps = MockReferee {
        fat_steps: true,
        ..MockReferee::default()
    };
    let events = refereed_by(&mut state, block, heavy_steps);
    assert_refereed(&events, RefereeOutcome::StepTooHeavy);
    let opens = Verification::referee_opens_at(&state, 0).unwrap();
    let nan = FirstSegmentNan(std::sync::atomic::AtomicBool::new(false));
    let events = refereed_by(&mut state, opens, nan);
    assert_refereed(&events, RefereeOutcome::Unestablished);
    let d = dispute(&state);
    assert!(d.from_start(), "{d:?}");
    match &d.claim {
        Claim::Leaves(leaves) => assert!(!leaves.fuel && !leaves.output, "{leaves:?}"),
        // Segment 0: the leaf bisection is narrowed at once, to its steps.
        Claim::Steps(_) => assert_eq!(d.segment, 0),
        other => panic!("reopened as {other:?}"),
    }
}
