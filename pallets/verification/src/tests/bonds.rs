//! Run bonds (`bonds.rs`) and the draw that waits for verifiers' stake (`sampling.rs`): a run
//! of any length is bonded by any registered verifier, the bond is held whole until the run is
//! settled, a fault forfeits it once, and a job never passes unchecked for want of stake that
//! the audits under way will release.

use super::dispute::{honest_post, play_out, BOND, LIE};
use super::*;

/// The run bond of a run of more than `VERIFIER_MIN_STAKE / CHECK_BOND` (2) segments.
const RUN_BOND: Balance = 2 * AGR;

/// Job 0 over `segments` segments, checked at 1000 ‰ (one run of the whole job) by Charlie,
/// who has 5 AGR bonded; the sample drawn at block 4. Returns the state and the sample.
fn one_long_run(segments: u64) -> (State, Vec<u64>) {
    let tree = trace_of(segments);
    let last = leaf(segments - 1);
    let mut state = committed_at_assurance(&[CHARLIE], tree, last, None, (1_000, 0));
    let sample = sampled(&mut state);
    assert_eq!(sample, (0..segments).collect::<Vec<_>>());
    (state, sample)
}

/// Charlie attests the honest leaf of every check of job 0 but those in `skipped`, in `block`.
fn attest_all_but(state: &mut State, block: BlockNumber, sample: &[u64], skipped: &[u64]) {
    for (i, segment) in sample.iter().enumerate() {
        if skipped.contains(segment) {
            continue;
        }
        let check = u32::try_from(i).unwrap();
        let hash = attestation_hash(
            0,
            check,
            &CHARLIE,
            &leaf(*segment),
            &result(state, *segment),
            &SALT,
        );
        step(state, block, |ext| {
            Verification::attest(ext, &CHARLIE, 0, check, hash)
        })
        .0
        .unwrap();
    }
}

/// Charlie opens his honest attestation of check `check` (of `segment`) in `block`.
fn reveal(state: &mut State, block: BlockNumber, check: u32, segment: u64) -> Vec<Event> {
    let result = result(state, segment);
    let (outcome, events) = step(state, block, |ext| {
        Verification::reveal_attestation(ext, &CHARLIE, 0, check, leaf(segment), result, SALT)
    });
    outcome.unwrap();
    events
}

/// Found in review of spec version 9: a verifier bonded one `CHECK_BOND` per segment of its
/// run, so a run longer than every verifier's free stake (here 8 segments against Charlie's
/// 5 AGR; at 1000 ‰ the whole job is one run) got no verifier, and after `SAMPLE_WAIT_BLOCKS`
/// the job passed unchecked: a 1000 ‰ job has no collateral, so its worker risked nothing.
/// Now a run bonds at most `VERIFIER_MIN_STAKE`, which every registered verifier holds.
#[test]
fn exploit_a_run_longer_than_any_verifiers_stake_is_checked_not_passed() {
    let (state, _) = one_long_run(8);
    assert_eq!(Verification::run_bond(8), RUN_BOND);
    assert_eq!(TestStaking::ledger(&state, &CHARLIE).committed, RUN_BOND);
    assert_eq!(Verification::check_bonds(&state, &CHARLIE), RUN_BOND);
    let audit = Verification::audit(&state, 0).unwrap();
    let bonds: Vec<Balance> = audit.checks.iter().map(|c| c.bond).collect();
    assert_eq!(
        bonds,
        [0, 0, 0, 0, 0, 0, AGR, AGR],
        "on the run's last checks"
    );
}

/// A match passes its bond on to a check of the run still holding one: the whole run bond
/// stays committed until the run's last check is decided, and the honest run is then paid.
#[test]
fn an_honest_run_holds_its_whole_bond_until_its_last_check() {
    let (mut state, sample) = one_long_run(8);
    reveal_starts(&mut state, &sample);
    attest_all_but(&mut state, 6, &sample, &[]);
    reveal_leaves(&mut state, &sample);
    // Decided from the last check down: the bonded checks first.
    for (i, segment) in sample.iter().enumerate().rev() {
        let committed = TestStaking::ledger(&state, &CHARLIE).committed;
        assert_eq!(committed, RUN_BOND, "before the reveal of check {i}");
        reveal(&mut state, 8, u32::try_from(i).unwrap(), *segment);
    }
    assert_eq!(TestStaking::ledger(&state, &CHARLIE).committed, 0);
    assert_eq!(Verification::check_bonds(&state, &CHARLIE), 0);
    let JobStatus::Verified { paid, missed, .. } = Jobs::job(&state, 0).unwrap().status else {
        panic!("not verified");
    };
    assert_eq!((paid.len(), missed), (8, 0));
}

/// A verifier that attests part of its run and misses the rest forfeits the whole run bond,
/// once; the checks it did attest go on, and are paid when they match. Before spec version
/// 10 the missed check alone was slashed, one `CHECK_BOND`. Since spec version 11 the
/// forfeited bond stays committed, on the checks still undecided, until the run is settled
/// (it is the stake of the run's disputes), and is slashed then.
#[test]
fn a_verifier_that_misses_part_of_its_run_forfeits_the_run_bond() {
    let (mut state, sample) = one_long_run(8);
    let active = TestStaking::ledger(&state, &CHARLIE).active;
    reveal_starts(&mut state, &sample);
    attest_all_but(&mut state, 6, &sample, &[7]);
    let deadline = Verification::audit(&state, 0).unwrap().deadline;
    let events = end_block(&mut state, deadline);
    let missed = events
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::CheckDecided {
                    outcome: CheckOutcome::Missed,
                    ..
                }
            )
        })
        .count();
    assert_eq!(missed, 1, "{events:?}");
    let charlie = TestStaking::ledger(&state, &CHARLIE);
    assert_eq!(
        (charlie.active, charlie.committed),
        (active, RUN_BOND),
        "held until the run is settled"
    );
    let audit = Verification::audit(&state, 0).unwrap();
    assert_eq!(
        audit.checks[7].bond, 0,
        "the missed check passed its bond on"
    );
    let held: Balance = audit.checks.iter().map(|c| c.bond).sum();
    assert_eq!(held, RUN_BOND, "on the undecided checks");
    let leaves = leaves_from(&honest_trace(&state), leaf, &sample);
    step(&mut state, deadline + 1, |ext| {
        Verification::reveal_leaves(ext, &BOB, 0, leaves)
    })
    .0
    .unwrap();
    for i in 0..7u32 {
        reveal(&mut state, deadline + 2, i, u64::from(i));
    }
    let JobStatus::Verified { paid, missed, .. } = Jobs::job(&state, 0).unwrap().status else {
        panic!("not verified");
    };
    assert_eq!((paid.len(), missed), (7, 1));
    let charlie = TestStaking::ledger(&state, &CHARLIE);
    assert_eq!((charlie.active, charlie.committed), (active - RUN_BOND, 0));
    assert_eq!(Verification::check_bonds(&state, &CHARLIE), 0);
}

/// Found in review of the change above: a miss anywhere in a run decided every check of the run
/// still holding a bond the same way, mismatches included, so an honest verifier that caught
/// a forgery in one check and missed the reveal of another erased its own catch, and the
/// forger was paid. Now the miss forfeits the run bond and the mismatch stands: it is
/// disputed, with the forfeited bond as its stake (slashed whoever wins, since spec version
/// 11), and the forger loses. Here Bob forges his last leaf and Charlie, checking every
/// segment, does not reveal his check of segment 0.
#[test]
fn a_missed_reveal_in_a_run_does_not_erase_the_forgery_it_caught() {
    let (mut state, active) = forgery_caught_after_a_missed_reveal(false);
    assert!(
        matches!(
            Jobs::job(&state, 0).unwrap().status,
            JobStatus::DisputeLost { segment: 3, .. }
        ),
        "{:?}",
        Jobs::job(&state, 0).unwrap().status
    );
    let charlie = TestStaking::ledger(&state, &CHARLIE);
    assert_eq!(
        (charlie.active, charlie.committed),
        (active - RUN_BOND, 0),
        "forfeited although he won"
    );
    // The job ended without a receipt, and keeps its forfeiture with its record (spec version
    // 14; before, it was dropped and only the events named it) until the record is pruned.
    let forfeited = pallet_jobs::ForfeitedRuns::get(&state, &0).unwrap();
    let [forfeiture] = forfeited.as_slice() else {
        panic!("{forfeited:?}")
    };
    assert_eq!(
        (
            forfeiture.verifier,
            &forfeiture.missed[..],
            &forfeiture.wrong[..]
        ),
        (CHARLIE, &[0][..], &[][..])
    );
    assert_eq!(forfeiture.burned, RUN_BOND);
    check_all(&state);
    let ended = Jobs::job(&state, 0).unwrap().status.ended_at().unwrap();
    let retention = <Test as pallet_jobs::Config>::JOB_RETENTION;
    for block in ended + 1..=ended + retention {
        end_block(&mut state, block);
        check_all(&state);
    }
    assert!(Jobs::job(&state, 0).is_none(), "pruned");
    assert!(
        pallet_jobs::ForfeitedRuns::get(&state, &0).is_none(),
        "with its record"
    );
}

/// The same job with a bid that asked to be requeued: its record goes at once (the bid, under
/// the same id, is back in the book), and its forfeitures with it — a later match reuses the
/// id and must not inherit them.
#[test]
fn a_requeued_job_drops_its_forfeitures_with_its_record() {
    let (state, _) = forgery_caught_after_a_missed_reveal(true);
    assert!(Jobs::job(&state, 0).is_none(), "requeued");
    assert!(pallet_jobs::ForfeitedRuns::get(&state, &0).is_none());
    check_all(&state);
}

/// Bob forges his last leaf, Charlie (checking every segment of a 1000 ‰ job whose bid asks
/// for `requeue` or not) misses his reveal of segment 0 and wins the dispute over segment 3.
/// Returns the state after the dispute and Charlie's active stake before it.
fn forgery_caught_after_a_missed_reveal(requeue: bool) -> (State, Balance) {
    let forged = |i: u64| match i {
        3 => TraceLeaf {
            state_hash: LIE,
            ..leaf(i)
        },
        _ => leaf(i),
    };
    let tree = TraceTree::new((0..4).map(forged).collect()).unwrap();
    let mut state = committed_at_assurance(&[CHARLIE], tree.clone(), forged(3), None, (1_000, 0));
    apply(&mut state, |ext| {
        let mut job = Jobs::job(ext, 0).unwrap();
        job.terms.requeue = requeue;
        pallet_jobs::Jobs::insert(ext, &0, &job);
    });
    let sample = sampled(&mut state);
    assert_eq!(sample, [0, 1, 2, 3]);
    let active = TestStaking::ledger(&state, &CHARLIE).active;
    let starts = starts_from(&tree, forged, &sample);
    step(&mut state, 5, |ext| {
        Verification::reveal_starts(ext, &BOB, 0, starts)
    })
    .0
    .unwrap();
    let honest = |s: u64| (leaf(s), (s == 3).then(super::dispute::honest_model));
    for (i, segment) in sample.iter().enumerate() {
        let check = u32::try_from(i).unwrap();
        let (leaf, result) = honest(*segment);
        let hash = attestation_hash(0, check, &CHARLIE, &leaf, &result, &SALT);
        step(&mut state, 6, |ext| {
            Verification::attest(ext, &CHARLIE, 0, check, hash)
        })
        .0
        .unwrap();
    }
    let leaves = leaves_from(&tree, forged, &sample);
    step(&mut state, 7, |ext| {
        Verification::reveal_leaves(ext, &BOB, 0, leaves)
    })
    .0
    .unwrap();
    for (i, segment) in sample.iter().enumerate().skip(1) {
        let check = u32::try_from(i).unwrap();
        let (leaf, result) = honest(*segment);
        step(&mut state, 8, |ext| {
            Verification::reveal_attestation(ext, &CHARLIE, 0, check, leaf, result, SALT)
        })
        .0
        .unwrap();
    }
    let deadline = Verification::audit(&state, 0).unwrap().deadline;
    end_block(&mut state, deadline);
    let opened = super::dispute::dispute(&state);
    assert_eq!(
        (opened.segment, opened.bond),
        (3, RUN_BOND),
        "the forfeited run bond is the dispute's stake"
    );
    assert_eq!(TestStaking::ledger(&state, &CHARLIE).active, active);
    play_out(
        &mut state,
        deadline + 1,
        honest_post,
        super::dispute::honest_answer,
        Some(CHARLIE),
    );
    (state, active)
}

/// Found in review of spec version 10: a miss slashed the run bond at once, so the verifier's
/// mismatches in the run were disputed with nothing at stake. One that missed a check on
/// purpose (its run bond burned) could then make an honest worker answer a false dispute and
/// pay for the referee call, and nobody repaid it. Now the forfeited bond stays committed as
/// the stake of the run's disputes: the worker who wins is repaid its referee call and
/// rewarded out of it, as against any verifier whose mismatch is refuted. Here Charlie misses
/// his reveal of segment 0 and claims a false state for segment 2 of Bob's honest job.
#[test]
fn exploit_a_forfeited_verifiers_false_dispute_pays_the_worker() {
    let mut state = committed_at_assurance(&[CHARLIE], trace(), leaf(3), None, (1_000, 0));
    let sample = sampled(&mut state);
    assert_eq!(sample, [0, 1, 2, 3]);
    let active = TestStaking::ledger(&state, &CHARLIE).active;
    reveal_starts(&mut state, &sample);
    let charlie = |s: u64| match s {
        2 => TraceLeaf {
            state_hash: LIE,
            ..leaf(s)
        },
        _ => leaf(s),
    };
    for (i, s) in sample.iter().enumerate() {
        let check = u32::try_from(i).unwrap();
        let hash = attestation_hash(0, check, &CHARLIE, &charlie(*s), &result(&state, *s), &SALT);
        step(&mut state, 6, |ext| {
            Verification::attest(ext, &CHARLIE, 0, check, hash)
        })
        .0
        .unwrap();
    }
    reveal_leaves(&mut state, &sample);
    for (i, s) in sample.iter().enumerate().skip(1) {
        let check = u32::try_from(i).unwrap();
        let result = result(&state, *s);
        step(&mut state, 8, |ext| {
            Verification::reveal_attestation(ext, &CHARLIE, 0, check, charlie(*s), result, SALT)
        })
        .0
        .unwrap();
    }
    let deadline = Verification::audit(&state, 0).unwrap().deadline;
    end_block(&mut state, deadline);
    let opened = super::dispute::dispute(&state);
    assert_eq!((opened.segment, opened.bond), (2, RUN_BOND));
    play_out(
        &mut state,
        deadline + 1,
        honest_post,
        |_, _, _| Some(false),
        Some(BOB),
    );
    let JobStatus::Verified { refuted, .. } = Jobs::job(&state, 0).unwrap().status else {
        panic!("not verified");
    };
    let [refutation] = refuted.as_slice() else {
        panic!("{refuted:?}")
    };
    assert!(
        pallet_jobs::ForfeitedRuns::get(&state, &0).is_none(),
        "a run bond lost in a dispute is the refutation's, not also a forfeiture"
    );
    assert_eq!(
        refutation.repaid,
        super::dispute::CALL_FEE,
        "Bob's referee call"
    );
    assert!(refutation.rewarded > 0, "{refutation:?}");
    assert_eq!(
        refutation.repaid + refutation.burned + refutation.rewarded,
        RUN_BOND
    );
    let charlie = TestStaking::ledger(&state, &CHARLIE);
    assert_eq!((charlie.active, charlie.committed), (active - RUN_BOND, 0));
}

/// The run bond moves onto the checks still undecided, so a verifier that reveals the run's
/// bonded checks and misses an unbonded one loses the whole bond too, not the nothing the
/// missed check held.
#[test]
fn a_missed_check_of_a_run_takes_the_bond_its_matched_checks_passed_on() {
    let (mut state, sample) = one_long_run(8);
    let active = TestStaking::ledger(&state, &CHARLIE).active;
    reveal_starts(&mut state, &sample);
    attest_all_but(&mut state, 6, &sample, &[]);
    reveal_leaves(&mut state, &sample);
    for i in 1..8u32 {
        reveal(&mut state, 8, i, u64::from(i));
    }
    assert_eq!(TestStaking::ledger(&state, &CHARLIE).committed, RUN_BOND);
    let audit = Verification::audit(&state, 0).unwrap();
    assert_eq!(
        audit.checks[0].bond, RUN_BOND,
        "passed on to the one undecided"
    );
    end_block(&mut state, audit.deadline);
    assert_eq!(
        TestStaking::ledger(&state, &CHARLIE).active,
        active - RUN_BOND
    );
    assert_eq!(TestStaking::ledger(&state, &CHARLIE).committed, 0);
}

/// A verifier that posts false leaves for two segments of its run puts its whole run bond at
/// stake in the dispute over the first and, losing it, has the other refuted with it: its
/// later states start from the one the referee showed wrong. One dispute per run, one bond;
/// before, each false mismatch was a dispute of its own for one `CHECK_BOND` each, so a
/// verifier drawn for a long run could hold the worker's pay through one dispute per segment.
#[test]
fn a_verifier_refuted_in_a_run_loses_its_run_bond_once_and_forces_one_dispute() {
    let mut state = committed_at_assurance(&[CHARLIE], trace(), leaf(3), None, (1_000, 0));
    let sample = sampled(&mut state);
    assert_eq!(sample, [0, 1, 2, 3]);
    let active = TestStaking::ledger(&state, &CHARLIE).active;
    run_checks(&mut state, &sample, |s| match s {
        1 | 2 => TraceLeaf {
            state_hash: LIE,
            ..leaf(s)
        },
        _ => leaf(s),
    });
    let opened = Verification::audit(&state, 0).unwrap().dispute.unwrap();
    assert_eq!((opened.segment, opened.bond), (1, RUN_BOND));
    play_out(&mut state, 9, honest_post, |_, _, _| Some(false), Some(BOB));
    let JobStatus::Verified {
        paid,
        missed,
        refuted,
        ..
    } = Jobs::job(&state, 0).unwrap().status
    else {
        panic!("a second dispute, or not verified");
    };
    assert_eq!((paid.len(), missed, refuted.len()), (2, 2, 1));
    assert_eq!(
        TestStaking::ledger(&state, &CHARLIE).active,
        active - RUN_BOND
    );
    assert_eq!(TestStaking::ledger(&state, &CHARLIE).committed, 0);
}

/// Found in review of spec version 9: a worker could tie up the registered verifiers' free
/// stake in checks of jobs of its own, and a job of its drawn meanwhile passed unchecked once
/// `SAMPLE_WAIT_BLOCKS` were up. Now the draw waits on while a run has no verifier but one's
/// check bonds will come free: here Charlie's stake is bonded to job 0's checks (the rest
/// committed elsewhere), and job 1, due at block 7, waits past block 10 (where it passed
/// unchecked before) until Charlie's checks of job 0 are decided at the end of block 13: it is
/// drawn at the start of block 14.
#[test]
fn exploit_verifiers_bonded_to_other_checks_make_a_draw_wait_not_pass() {
    let mut state = committed(&[CHARLIE]);
    let sample = sampled(&mut state);
    let free = TestStaking::available(&state, &CHARLIE);
    step(&mut state, 5, |ext| {
        TestStaking::commit(ext, &CHARLIE, free)
    })
    .0
    .unwrap();
    commit_second_job(&mut state, 5);
    let deferred = |events: &[Event]| {
        matches!(
            events,
            [Event::SampleDeferred {
                job: 1,
                drawn: 0,
                ..
            }]
        )
    };
    // Job 0's audit goes on slowly: starts in block 7, attestations in 11, leaves in 12.
    assert!(deferred(&begin(&mut state, 7)), "block 7");
    let starts = starts(&state, &sample);
    step(&mut state, 7, |ext| {
        Verification::reveal_starts(ext, &BOB, 0, starts)
    })
    .0
    .unwrap();
    end_block(&mut state, 7);
    for block in 8..=10 {
        let events = end_block(&mut state, block);
        assert!(deferred(&events), "block {block}: {events:?}");
    }
    let wait = <Test as Config>::SAMPLE_WAIT_BLOCKS;
    assert!(10 >= 7 + wait, "past the unconditional wait");
    assert!(deferred(&begin(&mut state, 11)), "block 11");
    attest_all_but(&mut state, 11, &sample, &[]);
    end_block(&mut state, 11);
    assert!(deferred(&begin(&mut state, 12)), "block 12");
    let leaves = leaves_from(&honest_trace(&state), leaf, &sample);
    step(&mut state, 12, |ext| {
        Verification::reveal_leaves(ext, &BOB, 0, leaves)
    })
    .0
    .unwrap();
    end_block(&mut state, 12);
    assert!(deferred(&begin(&mut state, 13)), "block 13");
    for (i, segment) in sample.iter().enumerate() {
        reveal(&mut state, 13, u32::try_from(i).unwrap(), *segment);
    }
    end_block(&mut state, 13);
    let events = begin(&mut state, 14);
    assert!(
        matches!(events.as_slice(), [Event::Sampled { job: 1, .. }]),
        "{events:?}"
    );
    let audit = Verification::audit(&state, 1).unwrap();
    assert!(audit.checks.iter().all(|c| c.verifier == CHARLIE));
    assert_eq!(audit.checks.len(), 2);
}

/// Found in review of the change above: a waiting draw first kept its whole seed, so after the
/// first attempt everyone knew how each later one would pick verifiers from their stakes, and
/// an account could tune its stake (or a sybil's) to be picked for the run it wanted. Now the
/// segments keep the first attempt's seed (a proposer freeing stake in its own block cannot
/// choose among samples) and each attempt draws its verifiers from its own block's beacon.
#[test]
fn a_waiting_draw_keeps_its_segments_and_draws_verifiers_from_each_blocks_beacon() {
    let mut state = committed(&[CHARLIE, DAVE]);
    let busy = [CHARLIE, DAVE].map(|v| TestStaking::available(&state, &v));
    step(&mut state, 3, |ext| {
        TestStaking::commit(ext, &CHARLIE, busy[0])?;
        TestStaking::commit(ext, &DAVE, busy[1])
    })
    .0
    .unwrap();
    let at = |state: &mut State, block: BlockNumber, beacon: u8| {
        apply(state, |ext| {
            pallet_system::Number::put(ext, &block);
            pallet_system::Beacon::put(ext, &Hash([beacon; 32]));
            Verification::on_initialize(ext);
        });
    };
    at(&mut state, 4, 1);
    let waiting = Verification::audit(&state, 0).unwrap();
    assert_eq!(waiting.phase, Phase::AwaitingSample);
    assert!(waiting.seed.is_some());
    step(&mut state, 4, |ext| {
        TestStaking::release(ext, &CHARLIE, busy[0]);
        TestStaking::release(ext, &DAVE, busy[1]);
    });
    let draws: Vec<Vec<(u64, AccountId)>> = (0..16u8)
        .map(|beacon| {
            let mut state = state.clone();
            at(&mut state, 5, beacon);
            picks(&state)
        })
        .collect();
    let segments: std::collections::BTreeSet<Vec<u64>> = draws
        .iter()
        .map(|d| d.iter().map(|(s, _)| *s).collect())
        .collect();
    assert_eq!(
        segments.len(),
        1,
        "the segments are the first attempt's: {draws:?}"
    );
    let verifiers: std::collections::BTreeSet<Vec<AccountId>> = draws
        .iter()
        .map(|d| d.iter().map(|(_, v)| *v).collect())
        .collect();
    assert!(
        verifiers.len() > 1,
        "the verifiers never change with the beacon"
    );
}

/// Job 0's drawn checks (its draw made): each segment with its verifier.
fn picks(state: &State) -> Vec<(u64, AccountId)> {
    let audit = Verification::audit(state, 0).unwrap();
    assert_eq!(audit.phase, Phase::AwaitingStarts);
    audit
        .checks
        .iter()
        .map(|c| (c.segment, c.verifier))
        .collect()
}

/// Found in review of spec version 11: the draw was made at the end of its block, weighing
/// each verifier by its free stake then, the pick a value modulo the total weight; the
/// proposer, who knows the block's beacon while it builds it, could re-roll every pick of the
/// block by choosing which transactions to include: a bond, an unbond, an offer's collateral,
/// a challenge — any change of any drawable verifier's free stake, up or down. Now the draws
/// are made at the start of the block, from the parent's state: whatever the block holds, the
/// checks are the same.
#[test]
fn exploit_a_proposer_cannot_move_a_draw_with_the_transactions_it_includes() {
    let state = committed(&[CHARLIE, DAVE]);
    let mut empty = state.clone();
    end_block(&mut empty, 4);
    let expected = picks(&empty);
    let mut moved = Vec::new();
    for twentieth in 1..20u128 {
        // Dave bonds more; Charlie commits part of what stake he has free elsewhere.
        for who in [DAVE, CHARLIE] {
            let mut block = state.clone();
            let amount = step(&mut block, 4, |ext| {
                if who == DAVE {
                    let amount = twentieth * AGR / 4;
                    TestStaking::bond(ext, &who, amount).map(|()| amount)
                } else {
                    let amount = TestStaking::available(ext, &who) * twentieth / 20;
                    TestStaking::commit(ext, &who, amount).map(|()| amount)
                }
            })
            .0
            .unwrap();
            end_block(&mut block, 4);
            if picks(&block) != expected {
                moved.push((who, amount));
            }
        }
    }
    assert!(
        moved.is_empty(),
        "these transactions moved the draw: {moved:?}"
    );
}

/// Found in review of the change above: with verifiers' stake short of the full sample, the
/// draw gave a run all the verifiers it asked for before the next run got any, so a bid asking
/// two verifiers a segment could leave a run unchecked that one of them could have taken. Now
/// every run gets its first verifier before any gets its second. Here Charlie and Dave have
/// one check bond free each and the bid asks two per segment: each of the two runs gets one.
#[test]
fn stake_short_of_the_sample_covers_every_run_before_doubling_any() {
    let mut state = committed_at_assurance(&[CHARLIE, DAVE], trace(), leaf(3), None, (0, 2));
    let spare = [CHARLIE, DAVE].map(|v| TestStaking::available(&state, &v) - BOND);
    step(&mut state, 3, |ext| {
        TestStaking::commit(ext, &CHARLIE, spare[0])?;
        TestStaking::commit(ext, &DAVE, spare[1])
    })
    .0
    .unwrap();
    let wait = <Test as Config>::SAMPLE_WAIT_BLOCKS;
    for block in 4..4 + wait {
        let events = end_block(&mut state, block);
        assert!(
            matches!(
                events.as_slice(),
                [Event::SampleDeferred {
                    job: 0,
                    drawn: 2,
                    wanted: 4
                }]
            ),
            "block {block}: {events:?}"
        );
    }
    let events = end_block(&mut state, 4 + wait);
    assert!(
        matches!(events.as_slice(), [Event::Sampled { job: 0, .. }]),
        "{events:?}"
    );
    let audit = Verification::audit(&state, 0).unwrap();
    let segments: Vec<u64> = audit.checks.iter().map(|c| c.segment).collect();
    assert_eq!(sampling::runs(&segments).len(), 2, "two runs: {segments:?}");
    assert_eq!(
        audit.checks.len(),
        2,
        "one verifier each: {:?}",
        audit.checks
    );
    assert_ne!(audit.checks[0].verifier, audit.checks[1].verifier);
}

/// Found in review of the rounds above: within a round the runs picked in segment order, so a
/// one-segment run could take the one verifier able to bond a longer run after it, which then
/// went unchecked. Now the largest bond picks first. Charlie has the bond of a long run free
/// (2 AGR), Dave one check bond: whatever the sample, its long run gets Charlie and its short
/// one Dave.
#[test]
fn a_long_run_picks_before_a_short_one_takes_its_only_verifier() {
    let base = committed_at_assurance(&[CHARLIE, DAVE], trace_of(8), leaf(7), None, (300, 0));
    let draw = super::drawn_after;
    let mut short = base.clone();
    let spare = [
        TestStaking::available(&short, &CHARLIE) - RUN_BOND,
        TestStaking::available(&short, &DAVE) - BOND,
    ];
    step(&mut short, 3, |ext| {
        TestStaking::commit(ext, &CHARLIE, spare[0])?;
        TestStaking::commit(ext, &DAVE, spare[1])
    })
    .0
    .unwrap();
    let mut mixed = 0;
    for beacon in 0..64u8 {
        let sample: Vec<u64> = draw(&base, beacon)
            .checks
            .iter()
            .map(|c| c.segment)
            .collect();
        let runs = sampling::runs(&sample);
        let long = runs.iter().filter(|(a, b)| b > a).count();
        if runs.len() != 2 || long != 1 {
            continue;
        }
        mixed += 1;
        let audit = draw(&short, beacon);
        assert_eq!(
            audit.phase,
            Phase::AwaitingStarts,
            "beacon {beacon}: {runs:?}"
        );
        for (first, last) in runs {
            let verifier = if last > first { CHARLIE } else { DAVE };
            assert!(
                audit
                    .checks
                    .iter()
                    .filter(|c| (first..=last).contains(&c.segment))
                    .all(|c| c.verifier == verifier),
                "beacon {beacon}: {:?}",
                audit.checks
            );
        }
    }
    assert!(
        mixed >= 3,
        "only {mixed} samples of one long and one short run"
    );
}

/// The wait past `SAMPLE_WAIT_BLOCKS` for stake bonded to other checks is capped at
/// `SAMPLE_WAIT_ROUNDS` times it: a verifier whose check bonds never come free (an audit held
/// up in disputes, say) cannot hold a job unsampled for ever. Here Charlie has no free stake
/// and 2 AGR of check bonds, enough for both of job 0's runs once free.
#[test]
fn a_draw_waits_for_bonded_stake_at_most_sample_wait_rounds_times_the_wait() {
    let mut state = committed(&[CHARLIE]);
    let job = Jobs::job(&state, 0).unwrap();
    let JobStatus::Committed { at } = job.status else {
        panic!("{:?}", job.status)
    };
    let first = at + Verification::sample_delay(&state);
    let wait = <Test as Config>::SAMPLE_WAIT_BLOCKS;
    apply(&mut state, |ext| {
        pallet_support::put_or_remove::<crate::CheckBondsPrefix, _, _>(ext, &CHARLIE, &(2 * AGR));
    });
    let waits = |now: BlockNumber| {
        apply(&mut state.clone(), |ext| {
            Verification::should_wait(ext, (&job, now), &[0, 3], &[], (&[CHARLIE], &[0]))
        })
    };
    assert!(waits(first + wait), "past the unconditional wait");
    assert!(waits(
        first + crate::sampling::SAMPLE_WAIT_ROUNDS * wait - 1
    ));
    assert!(!waits(first + crate::sampling::SAMPLE_WAIT_ROUNDS * wait));
}

/// `run_mates` by binary search over the checks, in segment order, names exactly the checks
/// the scan it replaced named — the checks of the same verifier in the maximal run of
/// consecutive sampled segments — over samples with gaps and one to three verifiers a segment.
#[test]
fn run_mates_by_binary_search_name_what_the_scan_named() {
    let scan = |checks: &[Check], index: usize| -> Vec<usize> {
        let check = &checks[index];
        let sampled = |segment: u64| checks.iter().any(|c| c.segment == segment);
        let mut first = check.segment;
        while first.checked_sub(1).is_some_and(sampled) {
            first -= 1;
        }
        let mut last = check.segment;
        while sampled(last + 1) {
            last += 1;
        }
        (0..checks.len())
            .filter(|&i| {
                checks[i].verifier == check.verifier && (first..=last).contains(&checks[i].segment)
            })
            .collect()
    };
    let mut compared = 0;
    for seed in 0..200u64 {
        let mut x = seed;
        let mut draw = |n: u64| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (x >> 33) % n
        };
        let mut checks = Vec::new();
        for segment in 0..40u64 {
            if draw(3) == 0 {
                continue;
            }
            for _ in 0..=draw(3) {
                let verifier = [CHARLIE, DAVE, ALICE][usize::try_from(draw(3)).unwrap()];
                checks.push(Check {
                    segment,
                    verifier,
                    start: None,
                    attestation: None,
                    worker_leaf: None,
                    verifier_leaf: None,
                    verifier_result: None,
                    outcome: None,
                    bond: 0,
                });
            }
        }
        for index in 0..checks.len() {
            assert_eq!(
                Verification::run_mates(&checks, index),
                scan(&checks, index),
                "seed {seed}, check {index}"
            );
            compared += 1;
        }
    }
    assert!(compared > 10_000, "{compared}");
}

/// The order `run_mates` relies on is an invariant: an audit whose checks are out of segment
/// order is caught.
#[test]
fn invariant_checker_catches_checks_out_of_segment_order() {
    let (mut state, _) = one_long_run(4);
    Verification::try_state(&state).unwrap();
    pallet_support::mock::apply(&mut state, |ext| {
        let mut audit = Audits::get(ext, &0).unwrap();
        audit.checks.reverse();
        Audits::insert(ext, &0, &audit);
    });
    let broken = Verification::try_state(&state).unwrap_err();
    assert!(broken.contains("out of segment order"), "{broken}");
}
