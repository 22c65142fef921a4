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
