//! Refusals of the worker's leaf reveal and the verifiers' attestation reveals, and checks
//! whose verifier attests but never opens its attestation, or never attests while another
//! does. Every refusal names its error, emits nothing and leaves the state as it was.

use super::*;

/// Runs `call` in `block`, which must refuse it with `expected`, emit nothing and leave the
/// state as it was.
fn assert_refused(
    state: &mut State,
    block: BlockNumber,
    expected: Error,
    call: impl FnOnce(&mut Ext<'_>) -> DispatchResult,
) {
    // Entering the block writes its context; a second step in the same block writes nothing
    // more, so whatever changes below is the call's.
    step(state, block, |_| ());
    let before = state.clone();
    let (result, events) = step(state, block, call);
    assert_eq!(result, Err(error(expected)), "{expected:?}");
    assert!(events.is_empty(), "{expected:?}: {events:?}");
    assert!(*state == before, "{expected:?} changed state");
}

#[test]
fn bad_leaf_reveals_are_refused_and_change_nothing() {
    let (mut state, segments) = attested();
    let tree = honest_trace(&state);
    let honest = leaves_from(&tree, leaf, &segments);
    let mut swapped = honest.clone();
    swapped.swap(0, 1);
    let mut forged = honest.clone();
    forged[1].0.fuel += 1;
    let mut one_short = honest.clone();
    one_short.pop();
    let cases = [
        (CHARLIE, 0, honest.clone(), Error::NotJobWorker),
        (BOB, 0, one_short, Error::WrongRevealCount),
        (BOB, 0, swapped, Error::WrongLeaf),
        (BOB, 0, forged, Error::BadProof),
        (BOB, 7, honest.clone(), Error::UnknownAudit),
    ];
    for (who, job, leaves, expected) in cases {
        assert_refused(&mut state, 7, expected, |ext| {
            Verification::reveal_leaves(ext, &who, job, leaves)
        });
    }
    reveal_leaves(&mut state, &segments);
    assert_refused(&mut state, 7, Error::WrongPhase, |ext| {
        Verification::reveal_leaves(ext, &BOB, 0, honest)
    });
}

#[test]
fn bad_attestation_reveals_are_refused_and_change_nothing() {
    let (mut state, segments) = attested();
    let honest = |check: usize| (leaf(segments[check]), result(&state, segments[check]));
    let (leaf0, result0) = honest(0);
    // Before the worker's leaves: the reveal phase has not begun.
    assert_refused(&mut state, 7, Error::WrongPhase, |ext| {
        Verification::reveal_attestation(ext, &CHARLIE, 0, 0, leaf0, result0, SALT)
    });
    reveal_leaves(&mut state, &segments);
    let cases = [
        (DAVE, 0, 0, Error::NotCheckVerifier),
        (CHARLIE, 0, 5, Error::UnknownCheck),
        (CHARLIE, 7, 0, Error::UnknownAudit),
    ];
    for (who, job, check, expected) in cases {
        assert_refused(&mut state, 8, expected, |ext| {
            Verification::reveal_attestation(ext, &who, job, check, leaf0, result0, SALT)
        });
    }
    step(&mut state, 8, |ext| {
        Verification::reveal_attestation(ext, &CHARLIE, 0, 0, leaf0, result0, SALT)
    })
    .0
    .unwrap();
    assert_refused(&mut state, 8, Error::NothingToReveal, |ext| {
        Verification::reveal_attestation(ext, &CHARLIE, 0, 0, leaf0, result0, SALT)
    });
}

/// A verifier that attests and then never opens its attestation is slashed as if it had not
/// attested: an attestation nobody can open checks nothing.
#[test]
fn a_verifier_that_attests_but_never_reveals_is_slashed_and_the_job_settles() {
    let (mut state, segments) = attested();
    reveal_leaves(&mut state, &segments);
    let bonded = TestStaking::ledger(&state, &CHARLIE).active;
    let mut missed = Vec::new();
    for block in 8..=12 {
        missed.extend(end_block(&mut state, block).into_iter().filter(|e| {
            matches!(
                e,
                Event::CheckDecided {
                    outcome: CheckOutcome::Missed,
                    ..
                }
            )
        }));
    }
    assert_eq!(missed.len(), 2, "{missed:?}");
    assert_eq!(
        TestStaking::ledger(&state, &CHARLIE).active,
        bonded - 2 * AGR,
        "both check bonds slashed"
    );
    assert_eq!(TestStaking::ledger(&state, &CHARLIE).committed, 0);
    assert!(Verification::audit(&state, 0).is_none());
    let receipt = settle(&mut state, 13);
    assert_eq!((receipt.checks_passed, receipt.checks_missed), (0, 2));
    assert_eq!(receipt.paid_verifiers, 0);
    // The receipt names Charlie, the segments he missed and what he lost.
    let forfeited = &receipt.forfeited;
    assert!(
        forfeited
            .iter()
            .all(|f| f.verifier == CHARLIE && f.wrong.is_empty()),
        "{forfeited:?}"
    );
    let mut missed: Vec<u64> = forfeited.iter().flat_map(|f| f.missed.clone()).collect();
    missed.sort_unstable();
    assert_eq!(missed, segments, "{forfeited:?}");
    assert_eq!(forfeited.iter().map(|f| f.burned).sum::<Balance>(), 2 * AGR);
}

/// Ends blocks from `from` until job 0 settles (at most 10); its receipt.
fn settle(state: &mut State, from: BlockNumber) -> pallet_jobs::Receipt {
    for block in from..from + 10 {
        end_block(state, block);
        if let JobStatus::Settled { receipt } = Jobs::job(state, 0).unwrap().status {
            return receipt;
        }
    }
    panic!("not settled: {:?}", Jobs::job(state, 0).unwrap().status)
}

/// One check attested and opened honestly, the other never attested: the first verifier is
/// paid, the second check's bond slashed, and the job goes on (the missing check is the
/// verifier's fault, not the worker's).
#[test]
fn one_check_passes_while_another_is_missed() {
    let mut state = committed(&[CHARLIE]);
    let segments = sampled(&mut state);
    reveal_starts(&mut state, &segments);
    let (leaf0, result0) = (leaf(segments[0]), result(&state, segments[0]));
    let hash = attestation_hash(0, 0, &CHARLIE, &leaf0, &result0, &SALT);
    step(&mut state, 6, |ext| {
        Verification::attest(ext, &CHARLIE, 0, 0, hash)
    })
    .0
    .unwrap();
    let bonded = TestStaking::ledger(&state, &CHARLIE).active;
    let charlie_free = TestBalances::free_balance(&state, &CHARLIE);
    let mut decided = Vec::new();
    for block in 7..=10 {
        decided.extend(end_block(&mut state, block));
    }
    assert!(
        decided.iter().any(|e| matches!(
            e,
            Event::CheckDecided {
                check: 1,
                outcome: CheckOutcome::Missed,
                ..
            }
        )),
        "{decided:?}"
    );
    assert_eq!(TestStaking::ledger(&state, &CHARLIE).active, bonded - AGR);
    // The attested check goes on: the worker reveals its leaves, Charlie opens check 0, the
    // job settles with one check paid and one missed.
    let audit = Verification::audit(&state, 0).expect("the audit goes on");
    assert_eq!(audit.phase, Phase::AwaitingLeaves);
    let leaves = leaves_from(&honest_trace(&state), leaf, &segments);
    step(&mut state, 11, |ext| {
        Verification::reveal_leaves(ext, &BOB, 0, leaves)
    })
    .0
    .unwrap();
    let (opened, events) = step(&mut state, 12, |ext| {
        Verification::reveal_attestation(ext, &CHARLIE, 0, 0, leaf0, result0, SALT)
    });
    opened.unwrap();
    assert!(
        matches!(
            events.as_slice(),
            [
                Event::CheckDecided {
                    check: 0,
                    outcome: CheckOutcome::Match,
                    ..
                },
                ..
            ]
        ),
        "{events:?}"
    );
    let receipt = settle(&mut state, 12);
    assert_eq!((receipt.checks_passed, receipt.checks_missed), (1, 1));
    assert_eq!(
        receipt
            .forfeited
            .iter()
            .map(|f| (f.verifier, f.missed.clone(), f.wrong.clone(), f.burned))
            .collect::<Vec<_>>(),
        vec![(CHARLIE, vec![segments[1]], vec![], AGR)],
        "one forfeiture: the missed check, its run's bond"
    );
    assert_eq!(receipt.paid_verifiers, fees(&segments[..1], 4));
    assert_eq!(
        TestBalances::free_balance(&state, &CHARLIE),
        charlie_free + fees(&segments[..1], 4)
    );
}

/// Windows the genesis set replace the `Config`'s: the worker's reveal window of a chain that
/// set 10 blocks ends at block 4 + 10, not at the `Config`'s 4 + 3.
#[test]
fn the_genesis_windows_replace_the_configs() {
    let mut state = committed(&[CHARLIE]);
    let windows = VerificationWindows {
        reveal: 10,
        attest: 12,
        dispute_move: 4,
        sample_wait: 3,
    };
    assert_ne!(windows.reveal, <Test as Config>::REVEAL_BLOCKS);
    apply(&mut state, |ext| {
        Verification::build_genesis(
            ext,
            &GenesisConfig {
                windows: Some(windows),
            },
        )
    });
    assert_eq!(Verification::windows(&state), windows);
    sampled(&mut state);
    assert_eq!(Verification::audit(&state, 0).unwrap().deadline, 4 + 10);
    // The Config's window would have timed the worker out at block 7.
    let events = end_block(&mut state, 7);
    assert!(events.is_empty(), "{events:?}");
    assert!(matches!(
        Jobs::job(&state, 0).unwrap().status,
        JobStatus::Committed { .. }
    ));
    end_block(&mut state, 14);
    assert!(matches!(
        Jobs::job(&state, 0).unwrap().status,
        JobStatus::TimedOut { .. }
    ));

    // A chain that sets none keeps the Config's, and its genesis writes nothing.
    let plain = committed(&[CHARLIE]);
    assert_eq!(Windows::get(&plain), None);
    assert_eq!(
        Verification::windows(&plain).reveal,
        <Test as Config>::REVEAL_BLOCKS
    );
}

/// Exploit (audit of the cross-node job flow): a start state registered about `blob_ttl`
/// before its reveal expired in the attest window and nodes deleted its bytes, so every drawn
/// verifier missed and was slashed and the job passed unchecked. The reveal now references the
/// states it names until the audit ends; then they expire as any other blob.
#[test]
fn exploit_a_start_state_registered_long_before_its_reveal_outlives_the_audit() {
    let mut state = committed(&[CHARLIE]);
    // An attest window longer than what is left of the states' lifetime (registered at block
    // 1, so due at the end of block 1 + BLOB_TTL).
    let windows = VerificationWindows {
        attest: 200,
        ..Verification::windows(&state)
    };
    apply(&mut state, |ext| {
        Verification::build_genesis(
            ext,
            &GenesisConfig {
                windows: Some(windows),
            },
        )
    });
    let segments = sampled(&mut state);
    reveal_starts(&mut state, &segments);
    let audit = Verification::audit(&state, 0).unwrap();
    let revealed: Vec<Hash> = Verification::start_states(&audit).collect();
    assert!(!revealed.is_empty(), "sample {segments:?} reveals no start");
    let ttl = <Test as pallet_jobs::Config>::BLOB_TTL;
    let due = 1 + ttl;
    // Due twice while the attest window (blocks 5 to 5 + 200) is open: renewed both times.
    for block in [due, due + ttl] {
        end_block(&mut state, block);
        for hash in &revealed {
            assert!(
                Jobs::blob(&state, hash).is_some(),
                "start state {hash} expired at block {block} while verifiers still fetch it"
            );
        }
    }
    // The window lapses: every check is missed and the audit ends, so the states' next expiry
    // drops them.
    end_block(&mut state, 5 + 200);
    assert!(Verification::audit(&state, 0).is_none());
    end_block(&mut state, due + 2 * ttl);
    for hash in &revealed {
        assert!(
            Jobs::blob(&state, hash).is_none(),
            "start state {hash} outlived its audit"
        );
    }
}

/// A worker that misses its leaf reveal on a job whose bid asked to be requeued: the audit's
/// references to its start states are dropped with it, and the module's and dataset's move to
/// the requeued bid (the blob-reference invariant checks every count after each block).
#[test]
fn a_requeued_job_leaves_no_reference_on_its_start_states() {
    let (mut state, _) = attested();
    apply(&mut state, |ext| {
        let mut job = Jobs::job(ext, 0).unwrap();
        job.terms.requeue = true;
        pallet_jobs::Jobs::insert(ext, &0, &job);
    });
    let audit = Verification::audit(&state, 0).unwrap();
    assert_eq!(audit.phase, Phase::AwaitingLeaves);
    let revealed: Vec<Hash> = Verification::start_states(&audit).collect();
    assert!(!revealed.is_empty());
    let spec = Jobs::job(&state, 0).unwrap().spec;
    end_block(&mut state, audit.deadline);
    assert!(Verification::audit(&state, 0).is_none());
    assert_eq!(Jobs::job(&state, 0), None, "requeued: the job record goes");
    assert_eq!(pallet_market::BidSpecs::get(&state, &0), Some(spec.clone()));
    for hash in &revealed {
        assert_eq!(
            Jobs::blob(&state, hash).unwrap().refs,
            0,
            "start state {hash}"
        );
    }
    assert_eq!(Jobs::blob(&state, &spec.module).unwrap().refs, 1);
    assert_eq!(Jobs::blob(&state, &spec.dataset).unwrap().refs, 1);
}
