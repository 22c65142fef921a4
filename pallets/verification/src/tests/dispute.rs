//! Dispute tests: every move, timeout and outcome of the bisection game and the referee, on the
//! job of the parent module (four segments of `K` steps; Bob works, Alice buys, Charlie
//! verifies), with a stand-in referee that knows the honest job's every state. The invariants
//! of every pallet are checked after each block (by `step`).

use super::*;
use agora_primitives::referee::{
    Referee, RefereeError, RefereeRequest, RefereeTask, RefereeVerdict,
};
use proptest::prelude::*;
use std::sync::Arc;

/// Steps per segment of the parent module's job.
pub(super) const K: u64 = 10;
/// Steps of the whole job.
pub(super) const STEPS: u64 = 4 * K;
const REFEREE_FUEL: u64 = <Test as Config>::REFEREE_FUEL;
const MOVE_BLOCKS: BlockNumber = <Test as Config>::MOVE_BLOCKS;
pub(super) const BOND: Balance = <Test as Config>::CHECK_BOND;
/// What the referee's caller is repaid out of the loser's slash.
pub(super) const CALL_FEE: Balance = <Test as Config>::REFEREE_CALL_FEE;
/// Bob's collateral for the job: the offer's, which is more than these jobs' own (up to
/// 6 AGR, for five segments at a max pay of 10 AGR, `pallet_market::assurance`).
pub(super) const COLLATERAL: Balance = 6 * AGR;
/// The state hash a liar posts.
pub(super) const LIE: Hash = Hash([0xEE; 32]);

/// The honest job's state after `t` steps: the leaves of [`leaf`] at segment ends, made-up
/// hashes in between.
pub(super) fn truth(t: u64) -> Hash {
    if t > 0 && t % K == 0 {
        leaf(t / K - 1).state_hash
    } else {
        Hash::of_parts(&[b"mid", &t.to_le_bytes()])
    }
}

/// What export and eval of the honest final state give: the model Bob committed, no metrics.
pub(super) fn honest_model() -> FinalResult {
    FinalResult {
        output: OUTPUT,
        metrics: Hash::of(b""),
    }
}

/// The stand-in engine: runs the honest job from any of its states.
#[derive(Default)]
pub(super) struct MockReferee {
    /// A blob it does not hold.
    pub(super) missing: Option<Hash>,
    /// Whether every call runs out of fuel.
    pub(super) fat: bool,
    /// Whether every one-step call runs out of fuel (a segment's call does not).
    pub(super) fat_steps: bool,
}

impl Referee for MockReferee {
    fn run(&self, request: &RefereeRequest) -> Result<RefereeVerdict, RefereeError> {
        match request.task {
            // The segment bound or, if less, what the bid's max_fuel leaves after the start
            // (exact values: `the_referee_request_is_known_ahead_only_at_the_referees_turn`).
            RefereeTask::Segment { .. } => {
                let bound = <Test as pallet_market::Config>::MAX_SEGMENT_FUEL;
                assert!(request.fuel_limit >= 1 && request.fuel_limit <= bound);
            }
            RefereeTask::Step { .. } => assert_eq!(request.fuel_limit, REFEREE_FUEL),
            // The worker's own bound on `export` and `eval` (spec version 17).
            RefereeTask::Output { .. } => assert_eq!(
                request.fuel_limit,
                <Test as pallet_market::Config>::MAX_SEGMENT_FUEL
            ),
        }
        let state = match request.task {
            RefereeTask::Step { pre_state } => pre_state,
            RefereeTask::Segment { start, .. } => start,
            RefereeTask::Output { state } => Some(state),
        };
        let named = [Some(request.module), Some(request.dataset), state];
        if let Some(blob) = self.missing.filter(|m| named.contains(&Some(*m))) {
            return Err(RefereeError::Unavailable { blob });
        }
        let step = matches!(request.task, RefereeTask::Step { .. });
        if self.fat || (self.fat_steps && step) {
            return Ok(RefereeVerdict::OutOfFuel);
        }
        Ok(match request.task {
            RefereeTask::Step { pre_state: None } => RefereeVerdict::Stepped {
                post_state: truth(1),
            },
            RefereeTask::Step {
                pre_state: Some(pre),
            } => match (0..STEPS).find(|t| truth(*t) == pre) {
                Some(t) => RefereeVerdict::Stepped {
                    post_state: truth(t + 1),
                },
                None => RefereeVerdict::Refused,
            },
            RefereeTask::Output { state } if state == truth(STEPS) => RefereeVerdict::Exported {
                output: honest_model().output,
                metrics: honest_model().metrics,
            },
            RefereeTask::Output { .. } => RefereeVerdict::Refused,
            // The honest job uses 1 Mfuel a segment (see `leaf`), `MFUEL / K` a step.
            RefereeTask::Segment { start, steps } => {
                let from = match start {
                    None => Some(0),
                    Some(pre) => (0..STEPS).find(|t| truth(*t) == pre),
                };
                match from {
                    Some(t) => RefereeVerdict::Segmented {
                        post_state: truth(t + u64::from(steps)),
                        fuel: u64::from(steps) * MFUEL / K,
                    },
                    None => RefereeVerdict::Refused,
                }
            }
        })
    }

    fn holds(&self, blob: &Hash) -> bool {
        self.missing != Some(*blob)
    }
}

pub(super) fn referee() -> Option<Arc<dyn Referee>> {
    Some(Arc::new(MockReferee::default()))
}

/// The dispute of job 0.
pub(super) fn dispute(state: &State) -> Dispute {
    let audit = Verification::audit(state, 0).expect("an audit");
    assert_eq!(audit.phase, Phase::Disputed);
    audit.dispute.expect("a dispute")
}

pub(super) fn bisection(dispute: &Dispute) -> &Bisection {
    match &dispute.claim {
        Claim::Steps(bisection) => bisection,
        Claim::Output | Claim::Leaves(_) | Claim::Segment(_) => panic!("not a step dispute"),
    }
}

/// The job of `committed(&[CHARLIE])` with Charlie's leaf of the non-last sampled segment
/// false (the worker is honest): a state dispute over that segment, opened at block 8.
pub(super) fn false_challenge() -> (State, u64) {
    let mut state = committed(&[CHARLIE]);
    let segments = sampled(&mut state);
    let disputed = segments[0];
    assert_ne!(disputed, 3, "the other sampled segment comes first");
    run_checks(&mut state, &segments, |s| TraceLeaf {
        state_hash: if s == disputed {
            LIE
        } else {
            leaf(s).state_hash
        },
        ..leaf(s)
    });
    (state, disputed)
}

/// A worker whose last leaf (the final state) is `LIE`, checked by an honest Charlie: a state
/// dispute over segment 3, opened at block 8.
fn tampered_last_leaf() -> State {
    forged_last_leaf(|l| TraceLeaf {
        state_hash: LIE,
        ..l
    })
}

/// A worker whose last leaf bills 3 Mfuel more than the run used, checked by an honest Charlie:
/// a fuel dispute over segment 3, opened at block 8, waiting for the referee.
fn overbilled_last_leaf() -> State {
    let state = forged_last_leaf(|l| TraceLeaf {
        fuel: l.fuel + 3 * MFUEL,
        ..l
    });
    assert_eq!(dispute(&state).turn, Turn::Referee);
    state
}

/// A worker whose last leaf is `forge(honest last leaf)`, checked by an honest Charlie: a
/// dispute over segment 3, opened at block 8.
fn forged_last_leaf(forge: impl Fn(TraceLeaf) -> TraceLeaf + Copy) -> State {
    let tampered = move |i: u64| if i == 3 { forge(leaf(i)) } else { leaf(i) };
    let tree = TraceTree::new((0..4).map(tampered).collect()).unwrap();
    let mut state = committed_as(&[CHARLIE], tree.clone(), tampered(3));
    let segments = sampled(&mut state);
    let starts = starts_from(&tree, tampered, &segments);
    step(&mut state, 5, |ext| {
        Verification::reveal_starts(ext, &BOB, 0, starts)
    })
    .0
    .unwrap();
    let model = honest_model();
    checked(&mut state, &segments, (&tree, tampered), |s| {
        (leaf(s), (s == 3).then_some(model))
    });
    state
}

/// The first block that accepts the referee call on job 0's dispute.
pub(super) fn referee_opening(state: &State) -> BlockNumber {
    Verification::referee_opens_at(state, 0).expect("the referee's turn")
}

/// Alice has `referee` decide the dispute of job 0 in `block`; panics if refused. Returns the
/// block's events.
pub(super) fn refereed_by(
    state: &mut State,
    block: BlockNumber,
    referee: impl Referee + 'static,
) -> Vec<Event> {
    let (result, events) = step(state, block, |ext| {
        ext.set_referee(Some(Arc::new(referee)));
        Verification::referee(ext, &ALICE, 0)
    });
    result.unwrap();
    events
}

/// The referee's `events` (of job 0) include its verdict `outcome`.
pub(super) fn assert_refereed(events: &[Event], outcome: RefereeOutcome) {
    assert!(
        events.contains(&Event::Refereed { job: 0, outcome }),
        "{events:?}"
    );
}

/// Alice has the referee decide the dispute of job 0 in `block`, which the worker must lose;
/// checks that only the burned part of its collateral left the supply. Returns the segment
/// the worker lost at and the challenger.
pub(super) fn the_worker_loses_at_the_referee(
    state: &mut State,
    block: BlockNumber,
) -> (u64, AccountId) {
    let issuance = TestBalances::total_issuance(state);
    let events = refereed_by(state, block, MockReferee::default());
    assert_refereed(&events, RefereeOutcome::WorkerWrong);
    let JobStatus::DisputeLost {
        segment,
        challenger,
        burned,
        ..
    } = Jobs::job(state, 0).unwrap().status
    else {
        panic!("the worker did not lose");
    };
    assert_eq!(TestBalances::total_issuance(state), issuance - burned);
    (segment, challenger)
}

/// A move in the dispute of job 0 at `block`; panics if refused.
pub(super) fn play(
    state: &mut State,
    block: BlockNumber,
    who: &AccountId,
    call: Call,
) -> Vec<Event> {
    let (result, events) = step(state, block, |ext| {
        ext.set_referee(referee());
        Verification::dispatch(ext, who, &call)
    });
    result.unwrap_or_else(|e| panic!("{call:?} by {who} refused: {e:?}"));
    events
}

/// Plays the dispute of job 0 to its end from block `block`: Bob posts what `worker` says
/// (`None`: misses the move), the challenger answers what `challenger` says about the posted hash
/// (`None`: misses), and `caller` has the referee run (`None`: nobody does). Returns the
/// block after the last one played and the rounds played.
pub(super) fn play_out(
    state: &mut State,
    mut block: BlockNumber,
    mut worker: impl FnMut(u64, u32) -> Option<Hash>,
    mut challenger: impl FnMut(u64, u32, Hash) -> Option<bool>,
    caller: Option<AccountId>,
) -> (BlockNumber, u32) {
    let mut rounds = 0;
    // Bounded: each round halves the disputed steps, and checks are at most two here.
    for _ in 0..2 * (K + 2) {
        let Some(audit) = Verification::audit(state, 0) else {
            return (block, rounds);
        };
        if audit.phase != Phase::Disputed {
            return (block, rounds);
        }
        let d = audit.dispute.clone().unwrap();
        rounds = rounds.max(d.round);
        let call = match (&d.turn, &d.claim) {
            (Turn::Worker, Claim::Steps(b)) => {
                worker(d.segment, b.mid()).map(|state| (BOB, Call::Bisect { job: 0, state }))
            }
            (Turn::Challenger, Claim::Steps(b)) => {
                challenger(d.segment, b.mid(), b.midpoint.unwrap())
                    .map(|agree| (d.challenger, Call::Answer { job: 0, agree }))
            }
            (Turn::Referee, _) => caller.map(|who| (who, Call::Referee { job: 0 })),
            other => panic!("no such move: {other:?}"),
        };
        match call {
            Some((who, call)) => {
                // A referee call waits for its opening (the re-run queue's since spec 21).
                let at = block.max(d.referee_opens_at.unwrap_or(block));
                play(state, at, &who, call);
                block = at + 1;
            }
            None => {
                end_block(state, audit.deadline);
                block = audit.deadline + 1;
            }
        }
    }
    panic!("the dispute did not end");
}

/// An honest worker's post: its true state after `mid` steps of `segment`.
pub(super) fn honest_post(segment: u64, mid: u32) -> Option<Hash> {
    Some(truth(segment * K + u64::from(mid)))
}

/// An honest challenger's answer: whether the post is the true state there.
pub(super) fn honest_answer(segment: u64, mid: u32, posted: Hash) -> Option<bool> {
    Some(posted == truth(segment * K + u64::from(mid)))
}

#[test]
fn a_state_mismatch_opens_a_dispute_and_holds_the_bond() {
    let (state, disputed) = false_challenge();
    let d = dispute(&state);
    assert_eq!(
        (d.challenger, d.segment, d.turn),
        (CHARLIE, disputed, Turn::Worker)
    );
    let b = bisection(&d);
    assert_eq!((b.lo, b.hi, b.steps), (0, 10, 10));
    assert_eq!(b.lo_state, (disputed > 0).then(|| truth(disputed * K)));
    assert_eq!(b.hi_state, leaf(disputed).state_hash);
    // The matching check's bond is released; the disputed one's is held.
    assert_eq!(TestStaking::ledger(&state, &CHARLIE).committed, BOND);
    assert!(matches!(
        Jobs::job(&state, 0).unwrap().status,
        JobStatus::Committed { .. }
    ));
}

#[test]
fn an_honest_worker_wins_and_the_false_challenger_is_slashed() {
    let (mut state, disputed) = false_challenge();
    let issuance = TestBalances::total_issuance(&state);
    let bob_free = TestBalances::free_balance(&state, &BOB);
    // Charlie disagrees with everything; Bob posts the truth and calls the referee.
    let (block, rounds) = play_out(&mut state, 9, honest_post, |_, _, _| Some(false), Some(BOB));
    // Disagreeing halves downwards, 0..10 → 0..5 → 0..2 → 0..1: 3 rounds (⌈log2 10⌉ = 4 at most).
    assert_eq!(rounds, 3);
    // Charlie's bond repays Bob's referee call, then half of the rest goes to Bob and half is
    // burned; the job passed with one check paid.
    let half = (BOND - CALL_FEE) / 2;
    assert_eq!(TestBalances::total_issuance(&state), issuance - half);
    assert_eq!(
        TestBalances::free_balance(&state, &BOB),
        bob_free + CALL_FEE + half
    );
    assert_eq!(TestStaking::ledger(&state, &CHARLIE).committed, 0);
    let JobStatus::Verified {
        paid,
        missed,
        refuted,
        settle_at,
    } = Jobs::job(&state, 0).unwrap().status
    else {
        panic!("not verified");
    };
    let paid: Vec<AccountId> = paid.iter().map(|check| check.verifier).collect();
    assert_eq!((paid, missed), (vec![CHARLIE], 1));
    assert_eq!(
        refuted,
        vec![pallet_jobs::Refutation {
            verifier: CHARLIE,
            segment: disputed,
            open: false,
            // Disagreeing with every midpoint leaves the first step to the referee.
            decided: Decision::RefereeStep { step: 0 },
            repaid: CALL_FEE,
            burned: half,
            rewarded: half,
        }]
    );
    assert!(settle_at >= block - 1);
    end_block(&mut state, settle_at);
    let JobStatus::Settled { receipt } = Jobs::job(&state, 0).unwrap().status else {
        panic!("not settled");
    };
    assert_eq!(
        receipt.refuted, refuted,
        "the receipt records the refuted check"
    );
}

#[test]
fn a_tampered_leaf_loses_the_dispute_and_the_collateral() {
    let mut state = tampered_last_leaf();
    let d = dispute(&state);
    assert_eq!((d.segment, d.turn), (3, Turn::Worker));
    let issuance = TestBalances::total_issuance(&state);
    let alice_free = TestBalances::free_balance(&state, &ALICE);
    let charlie_free = TestBalances::free_balance(&state, &CHARLIE);
    // Bob keeps to the truth until the last step, where he must stand by his leaf.
    play_out(&mut state, 9, honest_post, honest_answer, Some(CHARLIE));
    assert!(Verification::audit(&state, 0).is_none());
    let JobStatus::DisputeLost {
        segment,
        challenger,
        open,
        decided,
        repaid,
        burned,
        rewarded,
        paid_verifiers,
        requeued,
        ..
    } = Jobs::job(&state, 0).unwrap().status
    else {
        panic!("the worker did not lose");
    };
    assert_eq!((segment, challenger, requeued), (3, CHARLIE, false));
    // Charlie's two checks (the last segment and one other) revealed leaves: their fees come
    // out of Bob's collateral first, as at settlement (the other is 2 Mfuel if segment 0).
    let last = super::fees(&[3], 4);
    assert!(
        [last + super::fees(&[1], 4), last + super::fees(&[0], 4)].contains(&paid_verifiers),
        "{paid_verifiers}"
    );
    // Bob's states are true up to his leaf, so the referee runs the segment's last step.
    assert_eq!((open, decided), (false, Decision::RefereeStep { step: 9 }));
    // Charlie called the referee: repaid first, then half the rest to him but no more than his
    // check bond (a prize above the stake a verifier risks would pay lazy verifiers whose
    // made-up leaves happen to hit cheats, issue 11); the rest is burned.
    let rewarded_expected = ((COLLATERAL - CALL_FEE) / 2).min(BOND);
    assert_eq!(rewarded_expected, BOND, "the cap binds here");
    assert_eq!(
        (repaid, burned, rewarded),
        (
            CALL_FEE,
            COLLATERAL - paid_verifiers - CALL_FEE - BOND,
            BOND
        )
    );
    assert_eq!(TestBalances::total_issuance(&state), issuance - burned);
    assert_eq!(
        TestBalances::free_balance(&state, &CHARLIE),
        charlie_free + paid_verifiers + repaid + rewarded
    );
    assert_eq!(TestStaking::ledger(&state, &CHARLIE).committed, 0);
    assert_eq!(TestStaking::ledger(&state, &BOB).committed, 0);
    // Alice has her escrow back: 10 AGR for the fuel and three verifier fees (the last, one
    // other, the worker's heaviest), each for at most twice the average segment (2 × 2.5
    // Mfuel) at 1 AGR plus 10 %.
    assert_eq!(
        TestBalances::free_balance(&state, &ALICE),
        alice_free + 10 * AGR + 3 * (5 * AGR * 11 / 10)
    );
}

#[test]
fn a_worker_that_misses_a_bisection_move_loses() {
    let mut state = tampered_last_leaf();
    let deadline = Verification::audit(&state, 0).unwrap().deadline;
    assert_eq!(deadline, 8 + MOVE_BLOCKS);
    let events = end_block(&mut state, deadline);
    assert!(
        events.contains(&Event::DisputeLost {
            job: 0,
            check: dispute_check(&events),
            loser: BOB,
            missed_move: true,
        }),
        "{events:?}"
    );
    assert!(matches!(
        Jobs::job(&state, 0).unwrap().status,
        JobStatus::DisputeLost {
            decided: Decision::MissedMove,
            ..
        }
    ));
}

/// The check of the `DisputeLost` event among `events`.
fn dispute_check(events: &[Event]) -> Option<u32> {
    events
        .iter()
        .find_map(|e| match e {
            Event::DisputeLost { check, .. } => Some(*check),
            _ => None,
        })
        .expect("a DisputeLost event")
}

#[test]
fn a_challenger_that_misses_an_answer_loses() {
    let (mut state, _) = false_challenge();
    let bob_free = TestBalances::free_balance(&state, &BOB);
    play(
        &mut state,
        9,
        &BOB,
        Call::Bisect {
            job: 0,
            state: truth(5),
        },
    );
    assert_eq!(dispute(&state).turn, Turn::Challenger);
    let events = end_block(&mut state, 9 + MOVE_BLOCKS);
    assert!(
        events.iter().any(|e| matches!(
            e,
            Event::DisputeLost {
                loser: CHARLIE,
                missed_move: true,
                ..
            }
        )),
        "{events:?}"
    );
    assert_eq!(
        TestBalances::free_balance(&state, &BOB),
        bob_free + BOND / 2
    );
    assert!(matches!(
        Jobs::job(&state, 0).unwrap().status,
        JobStatus::Verified { .. }
    ));
}

#[test]
fn a_referee_call_nobody_makes_counts_against_the_worker() {
    let mut state = tampered_last_leaf();
    // Both play honestly to one step; nobody calls the referee.
    play_out(&mut state, 9, honest_post, honest_answer, None);
    assert!(matches!(
        Jobs::job(&state, 0).unwrap().status,
        JobStatus::DisputeLost { .. }
    ));
}

/// Plays the dispute of job 0 from block 9 until the referee's turn: Bob posts the truth,
/// Charlie answers as `answer` says. Returns the next block.
pub(super) fn to_the_referee(
    state: &mut State,
    answer: impl Fn(u64, u32, Hash) -> bool,
) -> BlockNumber {
    let mut block = 9;
    for _ in 0..K {
        let d = dispute(state);
        let b = bisection(&d).clone();
        let (who, call) = match d.turn {
            Turn::Referee => return block.max(d.referee_opens_at.unwrap()),
            Turn::Worker => (
                BOB,
                Call::Bisect {
                    job: 0,
                    state: truth(d.segment * K + u64::from(b.mid())),
                },
            ),
            Turn::Challenger => (
                CHARLIE,
                Call::Answer {
                    job: 0,
                    agree: answer(d.segment, b.mid(), b.midpoint.unwrap()),
                },
            ),
        };
        play(state, block, &who, call);
        block += 1;
    }
    panic!("no referee turn after {K} moves");
}

#[test]
fn the_referee_without_the_bytes_decides_nothing_and_says_so() {
    let mut state = tampered_last_leaf();
    let block = to_the_referee(&mut state, |s, mid, posted| {
        honest_answer(s, mid, posted).unwrap()
    });
    let pre = bisection(&dispute(&state)).lo_state.unwrap();
    let mut expected = state.clone();
    step(&mut expected, block, |_| ());
    let ((result, undecided), _) = step(&mut state, block, |ext| {
        ext.set_referee(Some(Arc::new(MockReferee {
            missing: Some(pre),
            fat: false,
            fat_steps: false,
        })));
        let result = Verification::referee(ext, &ALICE, 0);
        (result, ext.take_undecided())
    });
    assert_eq!(result, Err(error(Error::RefereeUndecided)));
    assert_eq!(undecided, Some(RefereeError::Unavailable { blob: pre }));
    assert_eq!(state, expected, "nothing written");
}

#[test]
fn moves_out_of_turn_or_by_others_are_refused() {
    let (mut state, _) = false_challenge();
    let before = state.clone();
    let refused = |state: &mut State, who: AccountId, call: Call, expected: Error| {
        let (result, _) = step(state, 9, |ext| {
            ext.set_referee(referee());
            Verification::dispatch(ext, &who, &call)
        });
        assert_eq!(result, Err(error(expected)), "{call:?} by {who}");
    };
    refused(
        &mut state,
        CHARLIE,
        Call::Answer {
            job: 0,
            agree: true,
        },
        Error::NotYourMove,
    );
    refused(
        &mut state,
        ALICE,
        Call::Referee { job: 0 },
        Error::NotYourMove,
    );
    refused(
        &mut state,
        CHARLIE,
        Call::Bisect { job: 0, state: LIE },
        Error::NotJobWorker,
    );
    refused(
        &mut state,
        BOB,
        Call::Bisect { job: 1, state: LIE },
        Error::UnknownAudit,
    );
    play(
        &mut state,
        9,
        &BOB,
        Call::Bisect {
            job: 0,
            state: truth(5),
        },
    );
    refused(
        &mut state,
        BOB,
        Call::Bisect { job: 0, state: LIE },
        Error::NotYourMove,
    );
    refused(
        &mut state,
        BOB,
        Call::Answer {
            job: 0,
            agree: true,
        },
        Error::NotChallenger,
    );
    assert_ne!(state, before);
}

/// The referee of job 0's step dispute in `block` runs out of fuel on the step: the dispute
/// that follows (the segment's re-run, `StepTooHeavy`) and the block its call opens.
fn too_heavy_a_step(state: &mut State, block: BlockNumber) -> (Dispute, BlockNumber) {
    let heavy_steps = MockReferee {
        fat_steps: true,
        ..MockReferee::default()
    };
    let events = refereed_by(state, block, heavy_steps);
    assert_refereed(&events, RefereeOutcome::StepTooHeavy);
    let opens = Verification::referee_opens_at(state, 0).expect("the referee's turn");
    (dispute(state), opens)
}

/// A step the referee cannot run in one call (more than `REFEREE_FUEL`) is decided by
/// re-running its whole segment, as the worker ran it: Bob's forged last leaf loses. Before
/// spec version 17 the dispute ended undecided, a plain mismatch (the buyer refunded, nobody
/// slashed): a buyer whose module's later steps outgrow the referee's fuel, drawn as the
/// verifier of its own job, had the job run for free.
#[test]
fn a_step_too_big_for_the_referee_is_decided_by_its_segments_rerun() {
    let mut state = tampered_last_leaf();
    let block = to_the_referee(&mut state, |_, _, _| true);
    let (d, opens) = too_heavy_a_step(&mut state, block);
    let Claim::Segment(rerun) = &d.claim else {
        panic!("not a segment re-run: {:?}", d.claim)
    };
    assert_eq!(
        (d.turn, d.segment, rerun.leaf.state_hash),
        (Turn::Referee, 3, LIE)
    );
    assert_eq!(
        rerun.start,
        Some(leaf(2)),
        "from the agreed leaf before the segment"
    );
    assert_eq!(
        d.earlier_calls,
        vec![ALICE],
        "her first call decided nothing"
    );
    assert_eq!(
        the_worker_loses_at_the_referee(&mut state, opens),
        (3, CHARLIE)
    );
    // Both of Alice's calls are repaid out of Bob's collateral (spec version 20; before, the
    // deciding one only, and whoever made the first paid for Bob's forgery).
    let JobStatus::DisputeLost { repaid, .. } = Jobs::job(&state, 0).unwrap().status else {
        panic!("the worker did not lose");
    };
    assert_eq!(repaid, 2 * CALL_FEE);
}

/// A dispute's earlier referee calls are bounded (`MAX_EARLIER_CALLS`) and list whoever
/// reopened it: a dispute that forgets a call would leave its caller unpaid.
#[test]
fn invariant_checker_catches_a_dispute_whose_earlier_calls_are_out_of_bounds() {
    let mut state = tampered_last_leaf();
    let block = to_the_referee(&mut state, |_, _, _| true);
    too_heavy_a_step(&mut state, block);
    Verification::try_state(&state).unwrap();
    let broken = |edit: fn(&mut Dispute)| {
        let mut state = state.clone();
        pallet_support::mock::apply(&mut state, |ext| {
            let mut audit = crate::Audits::get(ext, &0).unwrap();
            edit(audit.dispute.as_mut().unwrap());
            crate::Audits::insert(ext, &0, &audit);
        });
        Verification::try_state(&state).unwrap_err()
    };
    let too_many = broken(|d| d.earlier_calls = vec![ALICE; crate::MAX_EARLIER_CALLS + 1]);
    assert!(too_many.contains("earlier referee calls"), "{too_many}");
    let unlisted = broken(|d| d.reopened_by = Some(DAVE));
    assert!(unlisted.contains("reopened by"), "{unlisted}");
    // Spec version 21: the referee's call opens before the turn's deadline, and only at its turn.
    let unopened = broken(|d| d.referee_opens_at = None);
    assert!(unopened.contains("opens its referee call"), "{unopened}");
    let too_late = broken(|d| d.referee_opens_at = Some(BlockNumber::MAX));
    assert!(too_late.contains("opens its referee call"), "{too_late}");
    let off_turn = broken(|d| d.turn = Turn::Worker);
    assert!(off_turn.contains("opens its referee call"), "{off_turn}");
}

/// The converse: an honest worker whose step is too heavy for the referee wins on the
/// segment's re-run, and the false challenger loses (before spec version 17, a plain
/// mismatch: the worker unpaid).
#[test]
fn an_honest_workers_heavy_step_wins_on_its_segments_rerun() {
    let (mut state, disputed) = false_challenge();
    let block = to_the_referee(&mut state, |s, mid, posted| {
        honest_answer(s, mid, posted).unwrap()
    });
    let (d, opens) = too_heavy_a_step(&mut state, block);
    assert!(matches!(d.claim, Claim::Segment(_)));
    assert_eq!(d.segment, disputed);
    let events = refereed_by(&mut state, opens, MockReferee::default());
    assert_refereed(&events, RefereeOutcome::WorkerRight);
    assert!(
        events.contains(&Event::DisputeLost {
            job: 0,
            check: d.check,
            loser: CHARLIE,
            missed_move: false,
        }),
        "{events:?}"
    );
    // Both of Alice's referee calls are repaid out of Charlie's bond.
    let refuted = match Jobs::job(&state, 0).unwrap().status {
        JobStatus::Verified { refuted, .. } => refuted,
        JobStatus::Settled { receipt } => receipt.refuted,
        other => panic!("not verified: {other:?}"),
    };
    assert_eq!(
        (refuted.len(), refuted[0].verifier, refuted[0].repaid),
        (1, CHARLIE, 2 * CALL_FEE)
    );
}

/// The job of `committed(&[CHARLIE])` (Bob's model is OUTPUT), every leaf matching, Charlie's
/// model and metrics of the final state `computed`: an output dispute, opened at block 8.
pub(super) fn output_disputed(computed: FinalResult) -> State {
    let mut state = committed(&[CHARLIE]);
    let segments = sampled(&mut state);
    reveal_starts(&mut state, &segments);
    checked(&mut state, &segments, (&trace(), leaf), |s| {
        (leaf(s), (s == 3).then_some(computed))
    });
    state
}

/// Another model than Bob's OUTPUT, with the same (empty) metrics.
fn other_model() -> FinalResult {
    FinalResult {
        output: Hash([0x0C; 32]),
        metrics: Hash::of(b""),
    }
}

/// Exploit 3 of issue 10, to its end: a worker that commits a model not from its trace loses
/// the dispute over `export`/`eval` of its final state, and its collateral.
#[test]
fn exploit_model_not_from_the_trace_loses_the_output_dispute() {
    // Bob committed OUTPUT; the honest export is `other_model()`, as Charlie found.
    let mut state = output_disputed(other_model());
    let d = dispute(&state);
    assert_eq!(
        (d.claim.clone(), d.turn, d.segment),
        (Claim::Output, Turn::Referee, 3)
    );
    // A referee whose export of the final state is `true_model`, not Bob's OUTPUT.
    struct OtherModel;
    impl Referee for OtherModel {
        fn run(&self, request: &RefereeRequest) -> Result<RefereeVerdict, RefereeError> {
            assert_eq!(
                request.task,
                RefereeTask::Output {
                    state: truth(STEPS)
                }
            );
            Ok(RefereeVerdict::Exported {
                output: other_model().output,
                metrics: other_model().metrics,
            })
        }

        fn holds(&self, _: &Hash) -> bool {
            true
        }
    }
    let opens = referee_opening(&state);
    let events = refereed_by(&mut state, opens, OtherModel);
    assert_refereed(&events, RefereeOutcome::WorkerWrong);
    assert!(matches!(
        Jobs::job(&state, 0).unwrap().status,
        JobStatus::DisputeLost {
            challenger: CHARLIE,
            ..
        }
    ));
}

/// An honest Bob's model, checked by a Charlie that claims another: the referee sides with Bob.
#[test]
fn a_false_output_claim_loses_to_the_referee() {
    let mut state = output_disputed(other_model());
    let opens = referee_opening(&state);
    play(&mut state, opens, &ALICE, Call::Referee { job: 0 });
    assert!(matches!(
        Jobs::job(&state, 0).unwrap().status,
        JobStatus::Verified { .. }
    ));
    assert_eq!(TestStaking::ledger(&state, &CHARLIE).committed, 0);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// For any play of a dishonest side (lying or truthful posts and answers at random, a
    /// missed move anywhere, the referee called or not) against an honest one, the honest side
    /// wins, and the token supply falls by exactly the burned part of the loser's stake.
    #[test]
    fn any_dishonest_play_loses_to_an_honest_side(
        worker_cheats in any::<bool>(),
        choices in proptest::collection::vec(any::<bool>(), 8),
        miss_at in proptest::option::of(0..8usize),
        liar_calls_referee in any::<bool>(),
    ) {
        let mut moves = 0usize;
        let mut next = move || {
            let i = moves;
            moves += 1;
            (Some(i) == miss_at, choices[i % choices.len()])
        };
        let mut state = if worker_cheats { tampered_last_leaf() } else { false_challenge().0 };
        let issuance = TestBalances::total_issuance(&state);
        if worker_cheats {
            let caller = Some(if liar_calls_referee { BOB } else { CHARLIE });
            play_out(
                &mut state,
                9,
                |segment, mid| {
                    let (miss, lie) = next();
                    (!miss).then(|| if lie { LIE } else { truth(segment * K + u64::from(mid)) })
                },
                honest_answer,
                caller,
            );
            let JobStatus::DisputeLost { repaid, burned, rewarded, paid_verifiers, .. } =
                Jobs::job(&state, 0).unwrap().status
            else {
                panic!("the cheating worker did not lose");
            };
            prop_assert_eq!(paid_verifiers + repaid + burned + rewarded, COLLATERAL);
            prop_assert_eq!(TestBalances::total_issuance(&state), issuance - burned);
        } else {
            let caller = if liar_calls_referee { CHARLIE } else { BOB };
            play_out(
                &mut state,
                9,
                honest_post,
                |_, _, _| {
                    let (miss, agree) = next();
                    (!miss).then_some(agree)
                },
                Some(caller),
            );
            let JobStatus::Verified { refuted, .. } = Jobs::job(&state, 0).unwrap().status else {
                panic!("the honest worker did not pass");
            };
            prop_assert_eq!(refuted.len(), 1);
            let r = &refuted[0];
            prop_assert_eq!(r.repaid + r.burned + r.rewarded, BOND);
            prop_assert_eq!(TestBalances::total_issuance(&state), issuance - r.burned);
        }
    }
}

/// Exploit 2 of issue 10 to the end: Bob's last leaf bills 3 Mfuel more than segment 3 used
/// (states all honest); Charlie's check mismatches on the fuel alone, and the referee re-runs
/// the segment from leaf 2: 1 Mfuel, not 4. Bob loses his collateral, Alice gets her escrow.
#[test]
fn an_overbilled_segment_loses_the_fuel_dispute_and_the_collateral() {
    let mut state = overbilled_last_leaf();
    let alice_free = TestBalances::free_balance(&state, &ALICE);
    let escrow = Jobs::job(&state, 0).unwrap().escrow;
    assert_eq!(the_worker_loses_at_the_referee(&mut state, 9), (3, CHARLIE));
    assert!(matches!(
        Jobs::job(&state, 0).unwrap().status,
        JobStatus::DisputeLost {
            open: false,
            decided: Decision::RefereeSegment,
            ..
        }
    ));
    assert_eq!(
        TestBalances::free_balance(&state, &ALICE),
        alice_free + escrow + CALL_FEE,
        "the whole escrow back, and her referee call repaid"
    );
    assert_eq!(TestStaking::ledger(&state, &BOB).committed, 0);
}

/// A referee that fails the test if it is asked anything.
pub(super) struct MustNotRun;

impl Referee for MustNotRun {
    fn run(&self, request: &RefereeRequest) -> Result<RefereeVerdict, RefereeError> {
        panic!("the referee ran: {request:?}")
    }

    fn holds(&self, _: &Hash) -> bool {
        true
    }
}

/// An attack on block production: a `referee` call over a whole segment sent to land in the
/// block whose move made it due would have that block's builder and every importer re-run the
/// segment inline — up to `MAX_SEGMENT_FUEL`, more than a block's weight — before any node's
/// warmer could decide it ahead. It is refused before the referee runs, nothing written, and
/// accepted from the block `referee_opens_at` names (the mock's lead is one block).
#[test]
fn a_segment_referee_call_before_it_opens_is_refused_without_running() {
    let mut state = overbilled_last_leaf();
    let deadline = Verification::audit(&state, 0).unwrap().deadline;
    assert_eq!(
        Verification::referee_opens_at(&state, 0),
        Some(deadline - <Test as Config>::MOVE_BLOCKS + 1)
    );
    assert_eq!(Verification::referee_opens_at(&state, 0), Some(9));
    let mut expected = state.clone();
    step(&mut expected, 8, |_| ());
    let (result, _) = step(&mut state, 8, |ext| {
        ext.set_referee(Some(Arc::new(MustNotRun)));
        Verification::referee(ext, &ALICE, 0)
    });
    assert_eq!(result, Err(error(Error::RefereeNotOpen)));
    assert_eq!(state, expected, "nothing written");
    assert_eq!(the_worker_loses_at_the_referee(&mut state, 9), (3, CHARLIE));
}

/// A step's referee call fits its weight: it opens with the referee's turn.
#[test]
fn a_step_referee_call_opens_with_the_referees_turn() {
    let (mut state, _) = false_challenge();
    to_the_referee(&mut state, |s, mid, posted| {
        honest_answer(s, mid, posted).unwrap()
    });
    let deadline = Verification::audit(&state, 0).unwrap().deadline;
    assert!(matches!(dispute(&state).claim, Claim::Steps(_)));
    assert_eq!(
        Verification::referee_opens_at(&state, 0),
        Some(deadline - <Test as Config>::MOVE_BLOCKS)
    );
}

/// A segment the referee cannot re-run within the segment fuel bound cannot be one an honest
/// worker ran (every engine stops a call there): the worker loses, unlike a step too big for
/// the referee, which is decided by re-running its segment
/// (`a_step_too_big_for_the_referee_is_decided_by_its_segments_rerun`).
#[test]
fn a_segment_over_the_bound_at_the_referee_is_the_workers_fault() {
    let mut state = overbilled_last_leaf();
    let fat = MockReferee {
        missing: None,
        fat: true,
        fat_steps: false,
    };
    let events = refereed_by(&mut state, 9, fat);
    assert_refereed(&events, RefereeOutcome::WorkerWrong);
    assert!(matches!(
        Jobs::job(&state, 0).unwrap().status,
        JobStatus::DisputeLost { .. }
    ));
}

/// The converse: Charlie's leaf of the other sampled segment says one fuel unit more than the
/// honest run; Bob has the referee re-run the segment, wins, and Charlie's bond pays for it.
#[test]
fn a_false_fuel_mismatch_is_refuted_by_the_referee() {
    let mut state = committed(&[CHARLIE]);
    let segments = sampled(&mut state);
    let disputed = segments[0];
    run_checks(&mut state, &segments, |s| TraceLeaf {
        fuel: leaf(s).fuel + u64::from(s == disputed),
        ..leaf(s)
    });
    let d = dispute(&state);
    assert_eq!((d.segment, d.turn), (disputed, Turn::Referee));
    let (block, _) = play_out(&mut state, 9, honest_post, honest_answer, Some(BOB));
    let JobStatus::Verified { refuted, .. } = Jobs::job(&state, 0).unwrap().status else {
        panic!("the honest worker did not pass");
    };
    assert_eq!(refuted.len(), 1);
    assert_eq!(
        (refuted[0].verifier, refuted[0].segment),
        (CHARLIE, disputed)
    );
    assert_eq!(block, 10, "decided by one referee call");
}

/// What nodes decide ahead is exactly what the `referee` call will ask: nothing before the
/// referee's turn, then the step from the agreed state (or, in a fuel dispute, the segment
/// re-run under the segment bound cut to what the bid's max_fuel leaves after its start — the
/// fuel the worker's engine gave it, `agora_engine::RunSpec::segment_fuel` — and, since spec
/// version 21, to the fuel the worker's leaf bills the segment).
#[test]
fn the_referee_request_is_known_ahead_only_at_the_referees_turn() {
    let mut state = tampered_last_leaf();
    assert_eq!(
        Verification::referee_request(&state, 0),
        None,
        "worker's turn"
    );
    to_the_referee(&mut state, |s, mid, posted| {
        honest_answer(s, mid, posted).unwrap()
    });
    let request = Verification::referee_request(&state, 0).expect("the referee's turn");
    let lo_state = bisection(&dispute(&state)).lo_state;
    assert_eq!(
        (request.task, request.fuel_limit),
        (
            RefereeTask::Step {
                pre_state: lo_state
            },
            REFEREE_FUEL
        )
    );
    let state = overbilled_last_leaf();
    let request = Verification::referee_request(&state, 0).expect("the referee's turn");
    assert_eq!(
        (request.task, request.fuel_limit),
        (
            RefereeTask::Segment {
                start: Some(leaf(2).state_hash),
                steps: 10
            },
            // Leaf 3 bills 7 − 3 = 4 Mfuel (1 honest, 3 overbilled), under what max_fuel
            // (10 Mfuel) leaves after leaf 2's 3 Mfuel and the 100 Mfuel bound.
            4 * MFUEL
        )
    );
}

/// A segment's re-run gets no more fuel than the worker's leaf bills it (spec version 21): the
/// verdict is the same as under the segment's whole limit, and the lead — every node's
/// warmer's time, and everyone's place in the re-run queue — is the fuel actually claimed. A
/// refusal leaf bills nothing and says nothing of what the module spent before it refused:
/// its re-run keeps the whole limit.
#[test]
fn a_segment_rerun_gets_the_fuel_its_leaf_bills_unless_the_leaf_is_a_refusal() {
    let start = TraceLeaf {
        index: 0,
        state_hash: Hash([1; 32]),
        fuel: 5,
    };
    let billed = SegmentClaim {
        steps: 3,
        start: Some(start),
        leaf: TraceLeaf {
            index: 1,
            state_hash: Hash([2; 32]),
            fuel: 12,
        },
    };
    assert_eq!(billed.claimed_fuel(), Some(7));
    let refused = SegmentClaim {
        leaf: TraceLeaf::refusal(1, 5),
        ..billed.clone()
    };
    assert_eq!(refused.claimed_fuel(), None);
    // A leaf billing less than its start (a forgery) gets nothing: out of fuel, its worker's.
    let below = SegmentClaim {
        leaf: TraceLeaf {
            fuel: 4,
            ..billed.leaf
        },
        ..billed
    };
    assert_eq!(below.claimed_fuel(), Some(0));
}

/// A referee that finds every piece machine-dependent (a buyer's module that produced a NaN).
struct MachineDependentReferee;

impl Referee for MachineDependentReferee {
    fn run(&self, _: &RefereeRequest) -> Result<RefereeVerdict, RefereeError> {
        Ok(RefereeVerdict::MachineDependent)
    }

    fn holds(&self, _: &Hash) -> bool {
        true
    }
}

/// Issue 17: an honest worker and an honest verifier disagree on a step of a buyer's module
/// whose result depends on the machine (Charlie's leaf differs; nobody lies about what they
/// computed). The referee finds the step machine-dependent: nobody is slashed, Charlie's bond
/// comes back and he is paid for his check, the audit passes and Bob is paid at settlement,
/// Alice is repaid her referee call out of the escrow, and the receipt names the finding.
#[test]
fn a_machine_dependent_step_is_set_aside_and_nobody_loses() {
    let (mut state, disputed) = false_challenge();
    let issuance = TestBalances::total_issuance(&state);
    let alice_free = TestBalances::free_balance(&state, &ALICE);
    let block = to_the_referee(&mut state, |_, _, _| false);
    let events = refereed_by(&mut state, block, MachineDependentReferee);
    assert_refereed(&events, RefereeOutcome::MachineDependent);
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Event::DisputeLost { .. })),
        "{events:?}"
    );
    assert_eq!(
        TestBalances::total_issuance(&state),
        issuance,
        "nothing burned"
    );
    assert_eq!(TestStaking::ledger(&state, &CHARLIE).committed, 0);
    let JobStatus::Verified {
        paid,
        refuted,
        settle_at,
        ..
    } = Jobs::job(&state, 0).unwrap().status
    else {
        panic!("not verified");
    };
    assert!(refuted.is_empty());
    assert_eq!(
        paid.iter().filter(|c| c.verifier == CHARLIE).count(),
        2,
        "both of Charlie's checks earn their fees, the set-aside one too"
    );
    assert_eq!(
        Verification::audit(&state, 0),
        None,
        "the audit ended with the job verified"
    );
    end_block(&mut state, settle_at);
    let JobStatus::Settled { receipt } = Jobs::job(&state, 0).unwrap().status else {
        panic!("not settled");
    };
    assert_eq!(
        receipt.machine_dependent,
        vec![pallet_jobs::MachineDependence {
            segment: disputed,
            challenger: CHARLIE,
            open: false,
            decided: Decision::RefereeStep { step: 0 },
            repay: vec![(ALICE, CALL_FEE)],
            replayed: 0,
        }]
    );
    assert!(receipt.paid_worker > 0);
    assert_eq!(TestBalances::total_issuance(&state), issuance);
    assert!(
        TestBalances::free_balance(&state, &ALICE) + CALL_FEE >= alice_free,
        "Alice's referee call was repaid"
    );
}
