//! Unit tests; every test ends with the invariant checkers of balances and staking.

use super::*;
use agora_primitives::AGR;
use pallet_support::mock::apply;

pallet_support::mock_runtime!(Test: staking { const MAX_UNLOCKING_CHUNKS: u32 = 2; });
type Staking = Pallet<Test>;
type Balances = pallet_balances::Pallet<Test>;

const ALICE: AccountId = AccountId([1; 32]);
const BOB: AccountId = AccountId([2; 32]);

/// Alice has 100 AGR free; Bob 10 AGR bonded of 20.
fn genesis_state() -> State {
    genesis(&[(ALICE, 100 * AGR), (BOB, 20 * AGR)], &[(BOB, 10 * AGR)])
}

#[test]
fn bond_reserves_free_balance() {
    let mut state = genesis_state();
    let (result, events) = step(&mut state, 1, |ext| Staking::bond(ext, &ALICE, 5 * AGR));
    result.unwrap();
    assert_eq!(Balances::free_balance(&state, &ALICE), 95 * AGR);
    assert_eq!(Balances::reserved_balance(&state, &ALICE), 5 * AGR);
    assert_eq!(Staking::available(&state, &ALICE), 5 * AGR);
    assert_eq!(Staking::total_bonded(&state), 15 * AGR);
    assert_eq!(
        events,
        vec![Event::Bonded {
            who: ALICE,
            amount: 5 * AGR
        }]
    );
}

#[test]
fn bad_bonds_are_refused_without_writes() {
    let mut state = genesis_state();
    step(&mut state, 1, |_| ());
    let before = state.clone();
    for (amount, expected) in [
        (0, Error::ZeroAmount),
        (AGR / 2, Error::BelowMinimumBond),
        (101 * AGR, Error::InsufficientBalance),
    ] {
        let (result, events) = step(&mut state, 1, |ext| Staking::bond(ext, &ALICE, amount));
        assert_eq!(result, Err(error(expected)), "bond of {amount}");
        assert!(events.is_empty());
    }
    assert_eq!(state, before);
}

#[test]
fn unbonded_stake_waits_for_the_delay() {
    let mut state = genesis_state();
    let (result, events) = step(&mut state, 5, |ext| Staking::unbond(ext, &BOB, 4 * AGR));
    result.unwrap();
    assert_eq!(
        events,
        vec![Event::Unbonding {
            who: BOB,
            amount: 4 * AGR,
            until: 15
        }]
    );
    // Still reserved, no longer available.
    assert_eq!(Staking::available(&state, &BOB), 6 * AGR);
    assert_eq!(Balances::reserved_balance(&state, &BOB), 10 * AGR);
    let (result, _) = step(&mut state, 14, |ext| Staking::withdraw_unbonded(ext, &BOB));
    assert_eq!(result, Err(error(Error::NothingToWithdraw)));
    let (result, events) = step(&mut state, 15, |ext| Staking::withdraw_unbonded(ext, &BOB));
    result.unwrap();
    assert_eq!(
        events,
        vec![Event::Withdrawn {
            who: BOB,
            amount: 4 * AGR
        }]
    );
    assert_eq!(Balances::free_balance(&state, &BOB), 14 * AGR);
    assert_eq!(Staking::total_bonded(&state), 6 * AGR);
}

#[test]
fn unbonding_everything_removes_the_ledger_after_withdrawal() {
    let mut state = genesis_state();
    step(&mut state, 1, |ext| Staking::unbond(ext, &BOB, 10 * AGR))
        .0
        .unwrap();
    step(&mut state, 11, |ext| Staking::withdraw_unbonded(ext, &BOB))
        .0
        .unwrap();
    assert_eq!(Ledger::get(&state, &BOB), None);
    assert_eq!(Balances::free_balance(&state, &BOB), 20 * AGR);
}

#[test]
fn committed_stake_cannot_be_unbonded() {
    let mut state = genesis_state();
    step(&mut state, 1, |ext| Staking::commit(ext, &BOB, 8 * AGR))
        .0
        .unwrap();
    let (result, _) = step(&mut state, 1, |ext| Staking::unbond(ext, &BOB, 3 * AGR));
    assert_eq!(result, Err(error(Error::InsufficientStake)));
    let (result, _) = step(&mut state, 1, |ext| Staking::commit(ext, &BOB, 3 * AGR));
    assert_eq!(result, Err(error(Error::InsufficientStake)));
    let (left, _) = step(&mut state, 1, |ext| Staking::release(ext, &BOB, 8 * AGR));
    assert_eq!(left, 0);
    step(&mut state, 1, |ext| Staking::unbond(ext, &BOB, 3 * AGR))
        .0
        .unwrap();
}

#[test]
fn unbond_may_not_leave_dust_stake() {
    let mut state = genesis_state();
    let (result, _) = step(&mut state, 1, |ext| {
        Staking::unbond(ext, &BOB, 10 * AGR - AGR / 2)
    });
    assert_eq!(result, Err(error(Error::BelowMinimumBond)));
}

#[test]
fn unlocking_chunks_are_bounded() {
    let mut state = genesis_state();
    for _ in 0..2 {
        step(&mut state, 1, |ext| Staking::unbond(ext, &BOB, AGR))
            .0
            .unwrap();
    }
    let (result, _) = step(&mut state, 1, |ext| Staking::unbond(ext, &BOB, AGR));
    assert_eq!(result, Err(error(Error::TooManyUnlockingChunks)));
}

#[test]
fn slashing_destroys_committed_stake_only() {
    let mut state = genesis_state();
    step(&mut state, 1, |ext| Staking::commit(ext, &BOB, 3 * AGR))
        .0
        .unwrap();
    let issuance = Balances::total_issuance(&state);
    // Asking for more than is committed slashes only the committed part.
    let (slashed, events) = step(&mut state, 1, |ext| {
        Staking::slash_committed(ext, &BOB, 5 * AGR)
    });
    assert_eq!(slashed, 3 * AGR);
    assert_eq!(
        events,
        vec![Event::Slashed {
            who: BOB,
            amount: 3 * AGR
        }]
    );
    assert_eq!(Balances::total_issuance(&state), issuance - 3 * AGR);
    let ledger = Staking::ledger(&state, &BOB);
    assert_eq!((ledger.active, ledger.committed), (7 * AGR, 0));
    assert_eq!(Balances::reserved_balance(&state, &BOB), 7 * AGR);
}

/// Two unbonding chunks of different ages: each is withdrawn when it matures, not before,
/// and a slash in between takes only committed stake, never an unbonding chunk.
#[test]
fn unbonding_chunks_mature_one_at_a_time_and_a_partial_slash_spares_them() {
    let mut state = genesis_state();
    step(&mut state, 1, |ext| Staking::unbond(ext, &BOB, AGR))
        .0
        .unwrap();
    step(&mut state, 4, |ext| Staking::unbond(ext, &BOB, 2 * AGR))
        .0
        .unwrap();
    step(&mut state, 4, |ext| Staking::commit(ext, &BOB, 3 * AGR))
        .0
        .unwrap();
    // A partial slash: one of the three committed AGR.
    let issuance = Balances::total_issuance(&state);
    let (slashed, _) = step(&mut state, 5, |ext| {
        Staking::slash_committed(ext, &BOB, AGR)
    });
    assert_eq!(slashed, AGR);
    let ledger = Staking::ledger(&state, &BOB);
    assert_eq!((ledger.active, ledger.committed), (6 * AGR, 2 * AGR));
    assert_eq!(
        ledger.unlocking.len(),
        2,
        "the unbonding chunks are not slashed"
    );
    assert_eq!(Balances::total_issuance(&state), issuance - AGR);
    assert_eq!(Balances::reserved_balance(&state, &BOB), 9 * AGR);

    // The first chunk (block 1 + 10) matures alone.
    let (result, events) = step(&mut state, 11, |ext| Staking::withdraw_unbonded(ext, &BOB));
    result.unwrap();
    assert_eq!(
        events,
        vec![Event::Withdrawn {
            who: BOB,
            amount: AGR
        }]
    );
    assert_eq!(Staking::ledger(&state, &BOB).unlocking.len(), 1);
    let (result, _) = step(&mut state, 13, |ext| Staking::withdraw_unbonded(ext, &BOB));
    assert_eq!(result, Err(error(Error::NothingToWithdraw)));
    // The second (block 4 + 10) then.
    let (result, events) = step(&mut state, 14, |ext| Staking::withdraw_unbonded(ext, &BOB));
    result.unwrap();
    assert_eq!(
        events,
        vec![Event::Withdrawn {
            who: BOB,
            amount: 2 * AGR
        }]
    );
    let ledger = Staking::ledger(&state, &BOB);
    assert!(ledger.unlocking.is_empty());
    assert_eq!((ledger.active, ledger.committed), (6 * AGR, 2 * AGR));
    assert_eq!(Balances::free_balance(&state, &BOB), 13 * AGR);
}

/// An offer's rent is spent out of committed stake like a slash, but it is a charge the
/// provider agreed to: a `Spent` event, not `Slashed` (wallets and dashboards tell the two
/// apart).
#[test]
fn spending_committed_stake_burns_it_without_a_penalty() {
    let mut state = genesis_state();
    step(&mut state, 1, |ext| Staking::commit(ext, &BOB, 3 * AGR))
        .0
        .unwrap();
    let issuance = Balances::total_issuance(&state);
    let (spent, events) = step(&mut state, 1, |ext| {
        Staking::spend_committed(ext, &BOB, 5 * AGR)
    });
    assert_eq!(spent, 3 * AGR);
    assert_eq!(
        events,
        vec![Event::Spent {
            who: BOB,
            amount: 3 * AGR
        }]
    );
    assert_eq!(Balances::total_issuance(&state), issuance - 3 * AGR);
    let ledger = Staking::ledger(&state, &BOB);
    assert_eq!((ledger.active, ledger.committed), (7 * AGR, 0));
}

#[test]
fn a_rewarding_slash_pays_the_winner_and_burns_the_rest() {
    let mut state = genesis_state();
    step(&mut state, 1, |ext| Staking::commit(ext, &BOB, 4 * AGR))
        .0
        .unwrap();
    let issuance = Balances::total_issuance(&state);
    let alice_free = Balances::free_balance(&state, &ALICE);
    // Asking for more than is committed slashes the committed part: 50% to Alice, 50% burned.
    let ((burned, rewarded), _) = step(&mut state, 1, |ext| {
        Staking::slash_committed_rewarding(ext, &BOB, 9 * AGR, &ALICE, (50, Balance::MAX))
    });
    assert_eq!((burned, rewarded), (2 * AGR, 2 * AGR));
    assert_eq!(Balances::free_balance(&state, &ALICE), alice_free + 2 * AGR);
    assert_eq!(Balances::total_issuance(&state), issuance - 2 * AGR);
    let ledger = Staking::ledger(&state, &BOB);
    assert_eq!((ledger.active, ledger.committed), (6 * AGR, 0));
    assert_eq!(Balances::reserved_balance(&state, &BOB), 6 * AGR);
    assert_eq!(Staking::total_bonded(&state), 6 * AGR);
}

#[test]
fn a_reward_that_cannot_create_its_account_is_burned() {
    let mut state = genesis_state();
    step(&mut state, 1, |ext| Staking::commit(ext, &BOB, 4 * AGR))
        .0
        .unwrap();
    let issuance = Balances::total_issuance(&state);
    let nobody = AccountId([9; 32]);
    // 1% of 1 planck-sized slash is zero; 1 planck cannot create an account either way.
    let ((burned, rewarded), _) = step(&mut state, 1, |ext| {
        Staking::slash_committed_rewarding(ext, &BOB, 1, &nobody, (100, Balance::MAX))
    });
    assert_eq!((burned, rewarded), (1, 0));
    assert_eq!(Balances::free_balance(&state, &nobody), 0);
    assert_eq!(Balances::total_issuance(&state), issuance - 1);
}

#[test]
fn calls_dispatch_to_the_pallet() {
    let mut state = genesis_state();
    let call = Call::Bond {
        amount: Compact(2 * AGR),
    };
    let decoded = Call::decode(&mut &call.encode()[..]).unwrap();
    step(&mut state, 1, |ext| {
        Staking::dispatch(ext, &ALICE, &decoded)
    })
    .0
    .unwrap();
    assert_eq!(Staking::available(&state, &ALICE), 2 * AGR);
}

#[test]
fn invariant_checker_catches_stake_above_reserve() {
    let mut state = genesis_state();
    apply(&mut state, |ext| {
        Ledger::insert(
            ext,
            &ALICE,
            &StakeLedger {
                active: AGR,
                committed: 0,
                unlocking: vec![],
            },
        )
    });
    let error = Staking::try_state(&state).unwrap_err();
    assert!(error.contains("reserved"), "{error}");
}

// ---------------------------------------------------------------------------------------------
// Validators and epochs

mod validator_set {
    use super::*;
    use crate::validators::{epoch_of, is_valid_consensus_key};
    use curve25519_dalek::{constants::ED25519_BASEPOINT_POINT, Scalar};

    const CAROL: AccountId = AccountId([3; 32]);
    const DAVE: AccountId = AccountId([4; 32]);
    const EVE: AccountId = AccountId([5; 32]);
    const FERDIE: AccountId = AccountId([6; 32]);
    const GENESIS: AccountId = AccountId([9; 32]);
    const LENGTH: BlockNumber = 10;

    /// A valid consensus key: `k·B`.
    fn key(k: u64) -> Hash {
        Hash((ED25519_BASEPOINT_POINT * Scalar::from(k)).compress().0)
    }

    /// A valid beacon key: `k·B` on ristretto255.
    fn beacon_key(k: u64) -> Hash {
        let point = curve25519_dalek::constants::RISTRETTO_BASEPOINT_POINT * Scalar::from(k);
        Hash(point.compress().0)
    }

    /// Consensus and beacon key `k`.
    fn keys(k: u64) -> (Hash, Hash) {
        (key(k), beacon_key(k))
    }

    /// Epochs of 10 blocks; GENESIS (unbonded) alone in epoch 0; everyone has 100 AGR.
    fn chain() -> State {
        let accounts = [ALICE, BOB, CAROL, DAVE, EVE, FERDIE, GENESIS];
        let balances: Vec<_> = accounts.iter().map(|a| (*a, 100 * AGR)).collect();
        let mut state = genesis(&balances, &[]);
        let first = Validator {
            account: GENESIS,
            consensus_key: key(99),
            beacon_key: beacon_key(99),
            address: b"127.0.0.1:30333".to_vec(),
        };
        apply(&mut state, |ext| {
            Staking::build_validators_genesis(ext, &[(first, 0)], LENGTH);
        });
        check_all(&state);
        state
    }

    fn register(state: &mut State, n: BlockNumber, who: AccountId, k: u64, bond: Balance) {
        let (result, _) = step(state, n, |ext| {
            Staking::register_validator(ext, &who, keys(k), b"10.0.0.1:30333", bond)
        });
        result.unwrap();
    }

    fn members(state: &State, epoch: u64) -> Vec<AccountId> {
        Staking::committee(state, epoch)
            .unwrap()
            .iter()
            .map(|v| v.account)
            .collect()
    }

    /// Runs the end-of-block hooks of blocks `from..=to`; returns their staking events.
    fn run(state: &mut State, from: BlockNumber, to: BlockNumber) -> Vec<Event> {
        (from..=to).flat_map(|n| end_block(state, n)).collect()
    }

    #[test]
    fn epochs_are_blocks_one_to_l_then_l_plus_one_to_2l() {
        assert_eq!(epoch_of(0, LENGTH), 0);
        assert_eq!(epoch_of(1, LENGTH), 0);
        assert_eq!(epoch_of(10, LENGTH), 0);
        assert_eq!(epoch_of(11, LENGTH), 1);
        assert_eq!(crate::validators::last_block_of(1, LENGTH), 20);
    }

    #[test]
    fn registering_bonds_and_commits_the_validator_bond() {
        let mut state = chain();
        let (result, events) = step(&mut state, 1, |ext| {
            Staking::register_validator(ext, &ALICE, keys(1), b"127.0.0.1:1", 20 * AGR)
        });
        result.unwrap();
        let ledger = Staking::ledger(&state, &ALICE);
        assert_eq!((ledger.active, ledger.committed), (20 * AGR, 20 * AGR));
        assert_eq!(Balances::reserved_balance(&state, &ALICE), 20 * AGR);
        assert_eq!(
            events.last(),
            Some(&Event::ValidatorRegistered {
                who: ALICE,
                consensus_key: key(1),
                bond: 20 * AGR
            })
        );
        assert_eq!(Staking::candidate(&state, &ALICE).unwrap().bond, 20 * AGR);
        // The validator bond is committed: it cannot be unbonded while it is a candidacy.
        let (result, _) = step(&mut state, 2, |ext| Staking::unbond(ext, &ALICE, AGR));
        assert_eq!(result, Err(error(Error::InsufficientStake)));
    }

    #[test]
    fn bad_registrations_are_refused_without_writes() {
        let mut state = chain();
        register(&mut state, 1, BOB, 2, 20 * AGR);
        let identity = Hash({
            let mut bytes = [0u8; 32];
            bytes[0] = 1;
            bytes
        });
        assert!(!is_valid_consensus_key(&identity), "small order");
        let not_a_point = (2u8..)
            .map(|b| Hash([b; 32]))
            .find(|k| !is_valid_consensus_key(k))
            .unwrap();
        step(&mut state, 2, |_| ());
        let before = state.clone();
        let cases: [(AccountId, Hash, &[u8], Balance, Error); 7] = [
            (
                ALICE,
                key(1),
                b"",
                9 * AGR,
                Error::BelowMinimumValidatorBond,
            ),
            (ALICE, identity, b"", 20 * AGR, Error::InvalidConsensusKey),
            (
                ALICE,
                not_a_point,
                b"",
                20 * AGR,
                Error::InvalidConsensusKey,
            ),
            (ALICE, key(2), b"", 20 * AGR, Error::ConsensusKeyInUse),
            (ALICE, key(99), b"", 20 * AGR, Error::ConsensusKeyInUse),
            (ALICE, key(1), b"localhost", 20 * AGR, Error::InvalidAddress),
            (BOB, key(3), b"", 20 * AGR, Error::AlreadyCandidate),
        ];
        for (who, k, address, bond, expected) in cases {
            let (result, events) = step(&mut state, 2, |ext| {
                Staking::register_validator(ext, &who, (k, beacon_key(1)), address, bond)
            });
            assert_eq!(result, Err(error(expected)), "{expected:?}");
            assert!(events.is_empty());
        }
        let (result, _) = step(&mut state, 2, |ext| {
            Staking::register_validator(ext, &ALICE, keys(1), b"", 101 * AGR)
        });
        assert_eq!(result, Err(error(Error::InsufficientBalance)));
        assert_eq!(state, before);
    }

    #[test]
    fn the_candidate_list_is_bounded() {
        let mut state = chain();
        for (i, who) in [ALICE, BOB, CAROL, DAVE, EVE].iter().enumerate() {
            register(&mut state, 1, *who, i as u64 + 1, 20 * AGR);
        }
        let (result, _) = step(&mut state, 1, |ext| {
            Staking::register_validator(ext, &FERDIE, keys(6), b"", 20 * AGR)
        });
        assert_eq!(result, Err(error(Error::TooManyCandidates)));
    }

    #[test]
    fn the_election_block_elects_the_top_bonds_and_the_last_block_switches_epochs() {
        let mut state = chain();
        register(&mut state, 2, ALICE, 1, 30 * AGR);
        register(&mut state, 2, BOB, 2, 20 * AGR);
        register(&mut state, 3, CAROL, 3, 50 * AGR);
        register(&mut state, 3, DAVE, 4, 15 * AGR);
        // Ties go to the lower account: EVE (5) loses to BOB (2) at 20 AGR.
        register(&mut state, 3, EVE, 5, 20 * AGR);
        assert!(run(&mut state, 1, 4).is_empty());
        let events = run(&mut state, 5, 5);
        assert_eq!(events, vec![Event::CommitteeElected { epoch: 1, size: 3 }]);
        assert_eq!(members(&state, 1), vec![CAROL, ALICE, BOB]);
        assert_eq!(members(&state, 0), vec![GENESIS]);
        assert_eq!(Staking::current_epoch(&state), 0);
        assert!(run(&mut state, 6, 9).is_empty());
        assert_eq!(
            run(&mut state, 10, 10),
            vec![Event::EpochStarted { epoch: 1 }]
        );
        assert_eq!(Staking::current_epoch(&state), 1);
        // Epoch 2's election reads the candidates of its own election block.
        let (result, _) = step(&mut state, 15, |ext| {
            Staking::register_validator(ext, &FERDIE, keys(6), b"", 90 * AGR)
        });
        result.unwrap_err(); // five candidates already: the list is full
        let (result, _) = step(&mut state, 15, |ext| {
            Staking::unregister_validator(ext, &DAVE)
        });
        result.unwrap();
        register(&mut state, 15, FERDIE, 6, 90 * AGR);
        run(&mut state, 11, 20);
        assert_eq!(members(&state, 2), vec![FERDIE, CAROL, ALICE]);
        // Epoch 0's committee is dropped once epoch 2 starts; 1 (previous) and 2 stay.
        assert!(Staking::committee(&state, 0).is_none());
        assert!(Staking::committee(&state, 1).is_some());
    }

    #[test]
    fn with_no_candidate_the_sitting_committee_serves_again() {
        let mut state = chain();
        let events = run(&mut state, 1, 10);
        assert_eq!(
            events,
            vec![
                Event::CommitteeElected { epoch: 1, size: 1 },
                Event::EpochStarted { epoch: 1 }
            ]
        );
        assert_eq!(members(&state, 1), vec![GENESIS]);
    }

    #[test]
    fn a_leaving_validator_keeps_its_bond_committed_until_it_no_longer_sits() {
        let mut state = chain();
        register(&mut state, 1, ALICE, 1, 30 * AGR);
        run(&mut state, 1, 10);
        assert_eq!(members(&state, 1), vec![ALICE]);
        let (result, events) = step(&mut state, 12, |ext| {
            Staking::unregister_validator(ext, &ALICE)
        });
        result.unwrap();
        assert_eq!(events, vec![Event::ValidatorUnregistered { who: ALICE }]);
        // Still sitting in epoch 1: the bond stays committed.
        assert_eq!(Staking::ledger(&state, &ALICE).committed, 30 * AGR);
        let (result, _) = step(&mut state, 12, |ext| Staking::unbond(ext, &ALICE, AGR));
        assert_eq!(result, Err(error(Error::InsufficientStake)));
        // No candidate at epoch 2's election: epoch 1's committee (Alice) serves again, so
        // her bond stays committed through epoch 2 as well.
        run(&mut state, 11, 20);
        assert_eq!(members(&state, 2), vec![ALICE]);
        assert_eq!(Staking::ledger(&state, &ALICE).committed, 30 * AGR);
        // Bob stands; epoch 3 is his. Epoch 2's committee (Alice) is kept through epoch 3, since
        // evidence of epoch 2 is still taken then: her bond stays committed until epoch 4 starts.
        register(&mut state, 21, BOB, 2, 20 * AGR);
        let events = run(&mut state, 21, 30);
        assert!(!events
            .iter()
            .any(|e| matches!(e, Event::ValidatorBondReleased { who: ALICE, .. })));
        assert_eq!(Staking::ledger(&state, &ALICE).committed, 30 * AGR);
        let events = run(&mut state, 31, 40);
        assert!(events.contains(&Event::ValidatorBondReleased {
            who: ALICE,
            amount: 30 * AGR
        }));
        assert_eq!(Staking::ledger(&state, &ALICE).committed, 0);
        let (result, _) = step(&mut state, 41, |ext| Staking::unbond(ext, &ALICE, 30 * AGR));
        result.unwrap();
    }

    #[test]
    fn a_candidate_who_never_sat_is_released_at_once() {
        let mut state = chain();
        register(&mut state, 1, ALICE, 1, 30 * AGR);
        let (result, events) = step(&mut state, 2, |ext| {
            Staking::unregister_validator(ext, &ALICE)
        });
        result.unwrap();
        assert!(events.contains(&Event::ValidatorBondReleased {
            who: ALICE,
            amount: 30 * AGR
        }));
        assert_eq!(Staking::ledger(&state, &ALICE).committed, 0);
        let (result, _) = step(&mut state, 3, |ext| {
            Staking::unregister_validator(ext, &ALICE)
        });
        assert_eq!(result, Err(error(Error::NotCandidate)));
    }

    #[test]
    fn a_rotated_key_takes_effect_at_the_next_election() {
        let mut state = chain();
        register(&mut state, 1, ALICE, 1, 30 * AGR);
        run(&mut state, 1, 10);
        let (result, _) = step(&mut state, 11, |ext| {
            Staking::set_validator_key(ext, &ALICE, keys(7), b"127.0.0.1:2")
        });
        result.unwrap();
        // Epoch 1 (elected before the rotation) keeps the old key.
        assert_eq!(
            Staking::committee(&state, 1).unwrap()[0].consensus_key,
            key(1)
        );
        run(&mut state, 11, 15);
        let next = &Staking::committee(&state, 2).unwrap()[0];
        assert_eq!(
            (next.consensus_key, &next.address[..]),
            (key(7), &b"127.0.0.1:2"[..])
        );
        // A key another account uses is refused, even if that account only sits.
        let (result, _) = step(&mut state, 16, |ext| {
            Staking::register_validator(ext, &BOB, keys(7), b"", 20 * AGR)
        });
        assert_eq!(result, Err(error(Error::ConsensusKeyInUse)));
        let (result, _) = step(&mut state, 16, |ext| {
            Staking::set_validator_key(ext, &BOB, keys(8), b"")
        });
        assert_eq!(result, Err(error(Error::NotCandidate)));
    }

    /// An ed25519 consensus pair (the `k·B` keys above have no seed to sign with).
    fn signing_pair(name: &str) -> sp_core::ed25519::Pair {
        use sp_core::Pair as _;
        sp_core::ed25519::Pair::from_string(&format!("//{name}"), None).unwrap()
    }

    fn public(pair: &sp_core::ed25519::Pair) -> Hash {
        use sp_core::Pair as _;
        Hash(pair.public().0)
    }

    fn registration(pair: &sp_core::ed25519::Pair, proof_for: &AccountId) -> Call {
        Call::RegisterValidator {
            consensus_key: public(pair),
            beacon_key: public(pair),
            address: b"127.0.0.1:3".to_vec(),
            bond: Compact(20 * AGR),
            key_proof: crate::validators::prove_key_ownership(pair, proof_for),
        }
    }

    #[test]
    fn validator_calls_dispatch_to_the_pallet() {
        let mut state = chain();
        let first = signing_pair("First");
        let register = registration(&first, &ALICE);
        let (result, _) = step(&mut state, 1, |ext| {
            Staking::dispatch(ext, &ALICE, &register)
        });
        result.unwrap();
        let second = signing_pair("Second");
        let set = Call::SetValidatorKey {
            consensus_key: public(&second),
            beacon_key: beacon_key(2),
            address: Vec::new(),
            key_proof: crate::validators::prove_key_ownership(&second, &ALICE),
        };
        let (result, _) = step(&mut state, 2, |ext| Staking::dispatch(ext, &ALICE, &set));
        result.unwrap();
        assert_eq!(
            Staking::candidate(&state, &ALICE).unwrap().consensus_key,
            public(&second)
        );
        let (result, _) = step(&mut state, 3, |ext| {
            Staking::dispatch(ext, &ALICE, &Call::UnregisterValidator)
        });
        result.unwrap();
        assert!(Staking::candidate(&state, &ALICE).is_none());
        let decoded = Call::decode(&mut &register.encode()[..]).unwrap();
        assert_eq!(decoded, register);
    }

    /// The front-running attack of 2026-12-07: Mallory (BOB) learns the joiner's consensus
    /// key (its node shows it to every peer it dials) and registers it before the joiner
    /// does. Without a proof of possession the chain took it, refused the joiner with
    /// `ConsensusKeyInUse`, and the joiner's node voted in Mallory's seat. Now Mallory cannot
    /// make the key's signature of his own account, and the joiner's proof names hers.
    #[test]
    fn a_front_runner_cannot_register_a_key_it_does_not_hold() {
        let mut state = chain();
        let joiner = signing_pair("Joiner");
        // Mallory's options: the joiner's proof (it names ALICE), a signature by a key of
        // his own, or any 64 bytes.
        let seen = registration(&joiner, &ALICE);
        let own_key = registration(&signing_pair("Mallory"), &BOB);
        let Call::RegisterValidator { key_proof: own, .. } = own_key else {
            unreachable!()
        };
        for (forged, why) in [
            (
                crate::validators::prove_key_ownership(&joiner, &ALICE),
                "the joiner's proof",
            ),
            (own, "his own key's signature"),
            ([7; 64], "any bytes"),
        ] {
            let mut front_run = seen.clone();
            if let Call::RegisterValidator { key_proof, .. } = &mut front_run {
                *key_proof = forged;
            }
            let (result, _) = step(&mut state, 1, |ext| {
                Staking::dispatch(ext, &BOB, &front_run)
            });
            assert_eq!(result, Err(error(Error::BadKeyProof)), "{why}");
            assert!(Staking::candidate(&state, &BOB).is_none(), "{why}");
            // Nothing was bonded on the way to the refusal.
            assert_eq!(
                Staking::ledger(&state, &BOB),
                StakeLedger::default(),
                "{why}"
            );
        }
        // The joiner registers her key with her proof.
        let (result, _) = step(&mut state, 2, |ext| Staking::dispatch(ext, &ALICE, &seen));
        result.unwrap();
        assert_eq!(
            Staking::candidate(&state, &ALICE).unwrap().consensus_key,
            public(&joiner)
        );
        // A candidate cannot move onto a key it does not hold either.
        let mallory = registration(&signing_pair("Mallory"), &BOB);
        let (result, _) = step(&mut state, 3, |ext| Staking::dispatch(ext, &BOB, &mallory));
        result.unwrap();
        let take = Call::SetValidatorKey {
            consensus_key: public(&signing_pair("Other")),
            beacon_key: public(&signing_pair("Other")),
            address: Vec::new(),
            key_proof: crate::validators::prove_key_ownership(&signing_pair("Mallory"), &BOB),
        };
        let (result, _) = step(&mut state, 4, |ext| Staking::dispatch(ext, &BOB, &take));
        assert_eq!(result, Err(error(Error::BadKeyProof)));
    }

    #[test]
    fn a_key_proof_names_the_account_and_the_key() {
        use crate::validators::{prove_key_ownership, verify_key_ownership};
        let pair = signing_pair("Holder");
        let proof = prove_key_ownership(&pair, &ALICE);
        assert!(verify_key_ownership(&public(&pair), &ALICE, &proof));
        assert!(!verify_key_ownership(&public(&pair), &BOB, &proof));
        assert!(!verify_key_ownership(
            &public(&signing_pair("Other")),
            &ALICE,
            &proof
        ));
    }

    /// Nothing else a consensus key signs is a key proof for any account: the proof's message
    /// differs from each of them in length or in its first two bytes, whatever the account.
    #[test]
    fn no_other_signature_of_a_consensus_key_is_a_key_proof() {
        use crate::equivocation::{signed_bytes, Vote};
        use crate::validators::key_ownership_message;
        let proof_message = key_ownership_message(&ALICE);
        let head = &proof_message[..2];
        assert_eq!(head, b"ag");
        // Votes (and commonware's other namespaced messages): a varint length, then the
        // namespace, "agora/…": their second byte is 'a' for every namespace length.
        for length in [14, 97, 200] {
            let mut namespace = vec![b'x'; length];
            namespace[..6].copy_from_slice(b"agora/");
            for vote in [
                Vote::Nullify,
                Vote::Notarize {
                    parent_view: 1,
                    block: Hash([1; 32]),
                },
            ] {
                let signed = signed_bytes(&namespace, 3, 4, &vote);
                assert_ne!(&signed[..2], head, "a vote's bytes");
            }
        }
        // The beacon key binding: its tag and length differ (59 bytes against 60).
        let binding = [crate::beacon::BINDING_TAG, &[0; 32][..]].concat();
        assert_ne!(binding.len(), proof_message.len());
        // A real binding signature proves nothing for the account of its bytes.
        let seed = signing_pair("Holder").seed();
        let signer = crate::beacon::BeaconSigner::from_consensus_seed(&seed);
        let beacon_account = AccountId(signer.beacon_key().0);
        assert!(!crate::validators::verify_key_ownership(
            &signer.proposer(),
            &beacon_account,
            &signer.binding()
        ));
        // The ECVRF shares ed25519's nonce only for raw 32-byte messages (`crate::ecvrf`).
        assert_ne!(proof_message.len(), 32);
    }

    /// A candidate moving only its address keeps its key: no proof is needed (its key was
    /// proven when registered), and none is checked; a new key needs one.
    #[test]
    fn an_address_change_needs_no_key_proof() {
        let mut state = chain();
        let held = signing_pair("Held");
        let (result, _) = step(&mut state, 1, |ext| {
            Staking::dispatch(ext, &ALICE, &registration(&held, &ALICE))
        });
        result.unwrap();
        let moved = |key: Hash| Call::SetValidatorKey {
            consensus_key: key,
            beacon_key: key,
            address: b"127.0.0.1:4".to_vec(),
            key_proof: [0; 64],
        };
        let (result, _) = step(&mut state, 2, |ext| {
            Staking::dispatch(ext, &ALICE, &moved(public(&held)))
        });
        result.unwrap();
        assert_eq!(
            Staking::candidate(&state, &ALICE).unwrap().address,
            b"127.0.0.1:4"
        );
        let (result, _) = step(&mut state, 3, |ext| {
            Staking::dispatch(ext, &ALICE, &moved(public(&signing_pair("New"))))
        });
        assert_eq!(result, Err(error(Error::BadKeyProof)));
    }

    #[test]
    fn invariant_checker_catches_a_candidate_missing_from_the_list() {
        let mut state = chain();
        register(&mut state, 1, ALICE, 1, 30 * AGR);
        apply(&mut state, |ext| CandidateList::put(ext, &Vec::new()));
        let broken = <Test as pallet_support::mock::TestRuntime>::try_state(&state).unwrap_err();
        assert!(broken.contains("candidate list"), "{broken}");
    }

    #[test]
    fn invariant_checker_catches_an_uncommitted_validator_bond() {
        let mut state = chain();
        register(&mut state, 1, ALICE, 1, 30 * AGR);
        apply(&mut state, |ext| {
            let mut ledger = Staking::ledger(ext, &ALICE);
            ledger.committed = 0;
            Ledger::insert(ext, &ALICE, &ledger);
        });
        let broken = <Test as pallet_support::mock::TestRuntime>::try_state(&state).unwrap_err();
        assert!(broken.contains("validator bonds"), "{broken}");
    }
}

// ---------------------------------------------------------------------------------------------
// Equivocation

mod equivocations {
    use super::*;
    use crate::equivocation::{consensus_namespace, signed_bytes, Equivocation, SignedVote, Vote};
    use sp_core::{ed25519, Pair};

    const CAROL: AccountId = AccountId([3; 32]);

    fn pair(name: &str) -> ed25519::Pair {
        ed25519::Pair::from_string(&format!("//{name}"), None).unwrap()
    }

    pub(super) fn key(name: &str) -> Hash {
        Hash(pair(name).public().0)
    }

    fn beacon_key(name: &str) -> Hash {
        crate::beacon::BeaconSigner::from_consensus_seed(&pair(name).seed()).beacon_key()
    }

    /// Alice (key //A, bond 20 AGR) and Bob (//B, 30 AGR) sign epoch 0 of chain "test";
    /// block 1 has run, so the namespace is known.
    fn chain() -> State {
        let mut state = chain_at_genesis();
        end_block(&mut state, 1);
        state
    }

    /// [`chain`] before block 1 has run.
    pub(super) fn chain_at_genesis() -> State {
        let balances = [(ALICE, 100 * AGR), (BOB, 100 * AGR), (CAROL, 100 * AGR)];
        let mut state = genesis(&balances, &[]);
        let validator = |account, name: &str| Validator {
            account,
            consensus_key: key(name),
            beacon_key: beacon_key(name),
            address: Vec::new(),
        };
        apply(&mut state, |ext| {
            Staking::build_genesis(
                ext,
                &GenesisConfig {
                    bonds: Vec::new(),
                    validators: vec![
                        (validator(ALICE, "A"), 20 * AGR),
                        (validator(BOB, "B"), 30 * AGR),
                    ],
                    epoch_length: 10,
                    chain_id: b"test".to_vec(),
                },
            );
        });
        state
    }

    fn namespace() -> Vec<u8> {
        consensus_namespace(b"test", &pallet_support::mock::parent_hash(1))
    }

    fn signed(name: &str, namespace: &[u8], view: u64, vote: Vote) -> SignedVote {
        let signature = pair(name).sign(&signed_bytes(namespace, 0, view, &vote)).0;
        SignedVote { vote, signature }
    }

    fn notarize(block: u8) -> Vote {
        Vote::Notarize {
            parent_view: 6,
            block: Hash([block; 32]),
        }
    }

    fn finalize(block: u8) -> Vote {
        Vote::Finalize {
            parent_view: 6,
            block: Hash([block; 32]),
        }
    }

    fn evidence(name: &str, first: Vote, second: Vote) -> Equivocation {
        Equivocation {
            offender: key(name),
            epoch: 0,
            view: 7,
            first: signed(name, &namespace(), 7, first),
            second: signed(name, &namespace(), 7, second),
        }
    }

    /// Found by the whole-node simulation: a validator that equivocates in the first views
    /// is reported at once, and the report lands in block 1, before block 1's end records
    /// the namespace. It must be judged all the same (the evidence task reports an offence
    /// once), or the first offences of a chain go unpunished.
    #[test]
    fn evidence_reported_in_block_one_is_judged() {
        let mut state = chain_at_genesis();
        let report = evidence("A", notarize(1), notarize(2));
        let (result, _) = step(&mut state, 1, |ext| {
            Staking::report_equivocation(ext, &CAROL, &report)
        });
        result.unwrap();
        assert!(Staking::candidate(&state, &ALICE).is_none());
        end_block(&mut state, 1);
        assert_eq!(Staking::consensus_namespace(&state), Some(namespace()));
    }

    #[test]
    fn block_one_records_the_chains_consensus_namespace() {
        let state = chain();
        assert_eq!(Staking::consensus_namespace(&state), Some(namespace()));
    }

    #[test]
    fn two_notarizes_of_one_view_slash_half_the_bond_and_pay_the_reporter() {
        let mut state = chain();
        let issuance = Balances::total_issuance(&state);
        let report = evidence("A", notarize(1), notarize(2));
        let (result, events) = step(&mut state, 3, |ext| {
            Staking::report_equivocation(ext, &CAROL, &report)
        });
        result.unwrap();
        assert!(events.contains(&Event::Equivocated {
            who: ALICE,
            epoch: 0,
            view: 7,
            slashed: 10 * AGR,
            reporter: CAROL,
            rewarded: AGR,
        }));
        assert_eq!(Balances::free_balance(&state, &CAROL), 101 * AGR);
        assert_eq!(Balances::total_issuance(&state), issuance - 9 * AGR);
        // Her candidacy is withdrawn; what is left of her bond leaves like an unregistration.
        assert!(Staking::candidate(&state, &ALICE).is_none());
        assert_eq!(Leaving::get(&state), Some(vec![(ALICE, 10 * AGR)]));
        assert_eq!(Staking::ledger(&state, &ALICE).committed, 10 * AGR);
        // One punishment per key and epoch.
        let again = evidence("A", finalize(1), finalize(3));
        let (result, _) = step(&mut state, 4, |ext| {
            Staking::report_equivocation(ext, &BOB, &again)
        });
        assert_eq!(result, Err(error(Error::AlreadyReported)));
    }

    /// A validator that leaves keeps its bond committed while any committee it sat in is still
    /// kept, since evidence of that epoch is accepted until then. Before, Alice's bond came
    /// back when epoch 1 started without her, while her epoch-0 votes could still be reported:
    /// the report slashed nothing and she could unbond at once — equivocation for free (the
    /// finalize votes of an epoch's last block are signed after that start).
    #[test]
    fn a_leaving_validator_can_be_slashed_for_every_epoch_evidence_is_still_taken_for() {
        let mut state = chain();
        let (result, _) = step(&mut state, 2, |ext| {
            Staking::unregister_validator(ext, &ALICE)
        });
        result.unwrap();
        for n in 2..=10 {
            end_block(&mut state, n);
        }
        assert_eq!(Staking::current_epoch(&state), 1);
        assert!(
            Staking::committee(&state, 0).is_some(),
            "epoch 0 still kept"
        );
        let report = evidence("A", notarize(1), notarize(2));
        let (result, events) = step(&mut state, 11, |ext| {
            Staking::report_equivocation(ext, &CAROL, &report)
        });
        result.unwrap();
        assert!(
            events.iter().any(|e| matches!(e, Event::Equivocated { who: ALICE, slashed, .. } if *slashed == 10 * AGR)),
            "{events:?}"
        );
        let (result, _) = step(&mut state, 11, |ext| Staking::unbond(ext, &ALICE, 20 * AGR));
        assert_eq!(result, Err(error(Error::InsufficientStake)));
    }

    /// Unregistering and standing again with the minimum bond does not shrink what an
    /// equivocation costs: the penalty is a share of the candidacy's bond and of what is
    /// still leaving. Before, only the new candidacy's bond counted (10 AGR of Alice's 30).
    #[test]
    fn standing_again_with_a_smaller_bond_does_not_shrink_the_slash() {
        let mut state = chain();
        let (result, _) = step(&mut state, 3, |ext| {
            Staking::unregister_validator(ext, &ALICE)
        });
        result.unwrap();
        let (result, _) = step(&mut state, 3, |ext| {
            Staking::register_validator(ext, &ALICE, (key("A"), beacon_key("A")), b"", 10 * AGR)
        });
        result.unwrap();
        let report = evidence("A", notarize(1), notarize(2));
        let (result, events) = step(&mut state, 4, |ext| {
            Staking::report_equivocation(ext, &CAROL, &report)
        });
        result.unwrap();
        assert!(
            events.iter().any(|e| matches!(e, Event::Equivocated { who: ALICE, slashed, .. } if *slashed == 15 * AGR)),
            "{events:?}"
        );
        // The rest of both bonds leaves together.
        assert_eq!(Leaving::get(&state), Some(vec![(ALICE, 15 * AGR)]));
        assert_eq!(Staking::ledger(&state, &ALICE).committed, 15 * AGR);
    }

    #[test]
    fn a_nullify_and_a_finalize_of_one_view_conflict_in_either_order() {
        for (first, second) in [(Vote::Nullify, finalize(1)), (finalize(1), Vote::Nullify)] {
            let mut state = chain();
            let report = evidence("B", first, second);
            let (result, _) = step(&mut state, 3, |ext| {
                Staking::report_equivocation(ext, &CAROL, &report)
            });
            result.unwrap();
            assert!(Staking::candidate(&state, &BOB).is_none());
        }
    }

    #[test]
    fn false_evidence_is_refused_with_a_reason_and_changes_nothing() {
        let mut state = chain();
        step(&mut state, 3, |_| ());
        let before = state.clone();
        let mut forged = evidence("A", notarize(1), notarize(2));
        forged.second.signature[0] ^= 1;
        let mut other_chain = evidence("A", notarize(1), notarize(2));
        let elsewhere = consensus_namespace(b"other", &pallet_support::mock::parent_hash(1));
        other_chain.second = signed("A", &elsewhere, 7, notarize(2));
        let mut wrong_view = evidence("A", notarize(1), notarize(2));
        wrong_view.view = 8;
        let mut later_epoch = evidence("A", notarize(1), notarize(2));
        later_epoch.epoch = 5;
        let cases = [
            // One vote twice, and votes of different kinds that may coexist, are no offence.
            (
                evidence("A", notarize(1), notarize(1)),
                Error::NotAnEquivocation,
            ),
            (
                evidence("A", notarize(1), finalize(2)),
                Error::NotAnEquivocation,
            ),
            (
                evidence("A", Vote::Nullify, notarize(1)),
                Error::NotAnEquivocation,
            ),
            // Keys outside the committee, bad signatures, another chain's votes, another round.
            (
                evidence("C", notarize(1), notarize(2)),
                Error::NotInCommittee,
            ),
            (forged, Error::BadEvidenceSignature),
            (other_chain, Error::BadEvidenceSignature),
            (wrong_view, Error::BadEvidenceSignature),
            (later_epoch, Error::EvidenceTooOld),
        ];
        for (report, expected) in cases {
            let (result, events) = step(&mut state, 3, |ext| {
                Staking::report_equivocation(ext, &CAROL, &report)
            });
            assert_eq!(result, Err(error(expected)), "{expected:?}");
            assert!(events.is_empty());
        }
        assert_eq!(state, before);
    }

    #[test]
    fn the_report_call_decodes_and_dispatches() {
        let mut state = chain();
        let call = Call::ReportEquivocation {
            evidence: Box::new(evidence("B", notarize(1), notarize(2))),
        };
        assert_eq!(Call::decode(&mut &call.encode()[..]).unwrap(), call);
        let (result, _) = step(&mut state, 3, |ext| Staking::dispatch(ext, &CAROL, &call));
        result.unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// Beacon

mod beacons {
    use super::*;
    use crate::beacon::{genesis_beacon, next_beacon, BeaconError, BeaconProof, BeaconSigner};
    use sp_core::{ed25519, Pair};

    const CAROL: AccountId = AccountId([3; 32]);

    fn signer(name: &str) -> BeaconSigner {
        let pair = ed25519::Pair::from_string(&format!("//{name}"), None).unwrap();
        BeaconSigner::from_consensus_seed(&pair.seed())
    }

    /// Block 1's beacon noted on `state` (Alice and Bob sit in epoch 0); the state after it.
    fn note(state: &State, proof: &BeaconProof) -> (Result<Hash, BeaconError>, State) {
        let mut after = state.clone();
        let mut result = None;
        apply(&mut after, |ext| {
            pallet_system::Number::put(ext, &1);
            result = Some(Staking::note_beacon(ext, 1, proof));
        });
        (result.unwrap(), after)
    }

    /// A consensus key's binding vouches for its own beacon key only, under its own key only.
    #[test]
    fn a_binding_vouches_for_the_beacon_key_of_its_consensus_key_only() {
        use crate::beacon::verify_binding;
        let (alice, bob) = (signer("A"), signer("B"));
        assert!(verify_binding(
            &alice.proposer(),
            &alice.beacon_key(),
            &alice.binding()
        ));
        assert!(!verify_binding(
            &alice.proposer(),
            &bob.beacon_key(),
            &alice.binding()
        ));
        assert!(!verify_binding(
            &bob.proposer(),
            &alice.beacon_key(),
            &alice.binding()
        ));
        let mut forged = alice.binding();
        forged[7] ^= 1;
        assert!(!verify_binding(
            &alice.proposer(),
            &alice.beacon_key(),
            &forged
        ));
    }

    #[test]
    fn a_blocks_beacon_is_its_proposers_vrf_over_the_parents_beacon() {
        let state = super::equivocations::chain_at_genesis();
        let genesis = genesis_beacon(b"test");
        assert_eq!(pallet_system::Pallet::<Test>::beacon(&state), genesis);
        let alice = signer("A");
        let first = alice.sign(&genesis, 1);
        let (result, after) = note(&state, &first);
        let beacon = result.unwrap();
        assert_eq!(beacon, next_beacon(&genesis, &first.pre_output));
        assert_eq!(pallet_system::Pallet::<Test>::beacon(&after), beacon);
        // Signing is deterministic (block building reads no randomness) ...
        assert_eq!(alice.sign(&genesis, 1), first);
        // ... and a proof made with fresh randomness (sp-core's own `vrf_sign`) differs but
        // proves the same output: Alice has no other beacon to choose from.
        let seed = ed25519::Pair::from_string("//A", None).unwrap().seed();
        let secret = Hash::of_parts(&[crate::beacon::BEACON_KEY_TAG, &seed]);
        let randomised = {
            use sp_core::crypto::VrfSecret;
            let input = sp_core::sr25519::vrf::VrfTranscript::new(
                crate::beacon::BEACON_TAG,
                &[
                    (b"parent", genesis.as_bytes()),
                    (b"number", &1u64.to_le_bytes()),
                ],
            );
            let pair = sp_core::sr25519::Pair::from_seed(&secret.0);
            let signature = pair.vrf_sign(&input.into_sign_data());
            let mut bytes = &signature.encode()[..];
            let mut proof = first.clone();
            proof.pre_output = <[u8; 32]>::decode(&mut bytes).unwrap();
            proof.proof = <[u8; 64]>::decode(&mut bytes).unwrap();
            proof
        };
        assert_eq!(randomised.pre_output, first.pre_output);
        assert_ne!(randomised.proof, first.proof);
        assert_eq!(note(&state, &randomised).0, Ok(beacon));
        // Bob, the other member, would have made another one.
        let bob = signer("B").sign(&genesis, 1);
        assert_ne!(note(&state, &bob).0.unwrap(), beacon);
    }

    /// Spec version 15: a member registered with its consensus key as its beacon key proves
    /// with ECVRF under the consensus key (`crate::ecvrf`). Its signer picks that rule from the
    /// committee; the proof verifies and makes the beacon from the ECVRF output; an sr25519
    /// proof, a padded or tampered one, or one for another block, does not.
    #[test]
    fn a_member_registered_on_its_consensus_key_proves_the_beacon_with_ecvrf() {
        let mut state = super::equivocations::chain_at_genesis();
        apply(&mut state, |ext| {
            let mut committee = Committees::get(ext, &0).unwrap();
            committee[0].beacon_key = committee[0].consensus_key;
            Committees::insert(ext, &0, &committee);
        });
        let genesis = genesis_beacon(b"test");
        let alice = signer("A");
        let proof = alice.sign_next(&state);
        assert_eq!(proof, alice.sign_with_consensus_key(&genesis, 1));
        assert_eq!(proof.proof[48..], [0; 16], "c ‖ s, then zeros");
        let (result, after) = note(&state, &proof);
        let beacon = result.unwrap();
        let contribution = crate::beacon::contribution(&alice.proposer(), &proof, &genesis, 1);
        assert_eq!(beacon, next_beacon(&genesis, &contribution.unwrap()));
        assert_ne!(
            contribution.unwrap(),
            proof.pre_output,
            "the beacon takes β, not Γ"
        );
        assert_eq!(pallet_system::Pallet::<Test>::beacon(&after), beacon);
        let bad = |proof: &BeaconProof| {
            let (result, after) = note(&state, proof);
            assert!(
                matches!(result, Err(BeaconError::BadProof { .. })),
                "{result:?}"
            );
            assert_eq!(
                pallet_system::Pallet::<Test>::beacon(&after),
                genesis,
                "not noted"
            );
        };
        bad(&alice.sign(&genesis, 1));
        bad(&alice.sign_with_consensus_key(&genesis, 2));
        for byte in [0, 40, 63] {
            let mut tampered = proof.clone();
            if byte < 32 {
                tampered.pre_output[byte] ^= 1;
            } else {
                tampered.proof[byte] ^= 1;
            }
            bad(&tampered);
        }
        // Bob, registered with an sr25519 beacon key, keeps that rule.
        let bob = signer("B");
        assert_eq!(bob.sign_next(&state), bob.sign(&genesis, 1));
        assert!(note(&state, &bob.sign_next(&state)).0.is_ok());
    }

    /// A candidacy may name its consensus key as its beacon key (the CLI does when no node
    /// holding the key is named), and nothing else that is not an sr25519 key.
    #[test]
    fn a_candidacy_may_name_its_consensus_key_as_its_beacon_key() {
        let mut state = super::equivocations::chain_at_genesis();
        let key = super::equivocations::key;
        let carol = key("C");
        let (result, _) = step(&mut state, 2, |ext| {
            Staking::register_validator(ext, &CAROL, (carol, carol), b"", 20 * AGR)
        });
        result.unwrap();
        assert_eq!(
            Staking::candidate(&state, &CAROL).unwrap().beacon_key,
            carol
        );
        let (result, _) = step(&mut state, 3, |ext| {
            Staking::set_validator_key(ext, &CAROL, (carol, key("B")), b"")
        });
        assert_eq!(
            result,
            Err(error(Error::InvalidBeaconKey)),
            "another ed25519 key"
        );
    }

    #[test]
    fn a_beacon_from_outside_the_committee_is_refused_and_nothing_is_written() {
        let state = super::equivocations::chain_at_genesis();
        let genesis = genesis_beacon(b"test");
        let carol = signer("C").sign(&genesis, 1);
        let (result, after) = note(&state, &carol);
        assert_eq!(
            result,
            Err(BeaconError::NotInCommittee {
                number: 1,
                proposer: carol.proposer,
                epoch: 0,
            })
        );
        assert_eq!(pallet_system::Pallet::<Test>::beacon(&after), genesis);
    }

    #[test]
    fn a_beacon_proof_that_does_not_verify_is_refused_and_nothing_is_written() {
        let state = super::equivocations::chain_at_genesis();
        let genesis = genesis_beacon(b"test");
        let alice = signer("A");
        let bob = signer("B");
        let honest = alice.sign(&genesis, 1);
        let mut other_pre_output = honest.clone();
        other_pre_output.pre_output = bob.sign(&genesis, 1).pre_output;
        let mut flipped_proof = honest.clone();
        flipped_proof.proof[0] ^= 1;
        let mut garbage = honest.clone();
        garbage.pre_output = [0xff; 32];
        let mut in_bobs_name = honest.clone();
        in_bobs_name.proposer = bob.proposer();
        let cases = [
            (
                "another block's proof",
                alice.sign(&genesis, 2),
                alice.beacon_key(),
            ),
            (
                "another parent's proof",
                alice.sign(&Hash::ZERO, 1),
                alice.beacon_key(),
            ),
            ("another output", other_pre_output, alice.beacon_key()),
            ("a changed proof", flipped_proof, alice.beacon_key()),
            ("bytes that are no point", garbage, alice.beacon_key()),
            (
                "Alice's proof in Bob's name",
                in_bobs_name,
                bob.beacon_key(),
            ),
        ];
        for (case, proof, beacon_key) in cases {
            let (result, after) = note(&state, &proof);
            assert_eq!(
                result,
                Err(BeaconError::BadProof {
                    number: 1,
                    proposer: proof.proposer,
                    beacon_key,
                }),
                "{case}"
            );
            assert_eq!(
                pallet_system::Pallet::<Test>::beacon(&after),
                genesis,
                "{case}"
            );
        }
    }

    #[test]
    fn a_beacon_key_must_be_an_sr25519_public_key() {
        let mut state = super::equivocations::chain_at_genesis();
        let consensus = Hash(ed25519::Pair::from_string("//C", None).unwrap().public().0);
        let (result, events) = step(&mut state, 1, |ext| {
            let keys = (consensus, Hash([0xff; 32]));
            Staking::register_validator(ext, &CAROL, keys, b"", 20 * AGR)
        });
        assert_eq!(result, Err(error(Error::InvalidBeaconKey)));
        assert!(events.is_empty());
        let (result, _) = step(&mut state, 1, |ext| {
            let keys = (consensus, signer("C").beacon_key());
            Staking::register_validator(ext, &CAROL, keys, b"", 20 * AGR)
        });
        result.unwrap();
    }
}
