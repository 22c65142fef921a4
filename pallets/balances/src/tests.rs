//! Unit tests; every test ends with the invariant checker.

use super::*;
use agora_primitives::dispatch::PalletError;
use agora_primitives::AGR;

pallet_support::mock_runtime!(Test: balances);
type Balances = Pallet<Test>;

const ED: Balance = <Test as Config>::EXISTENTIAL_DEPOSIT;
const ALICE: AccountId = AccountId([1; 32]);
const BOB: AccountId = AccountId([2; 32]);
const CHARLIE: AccountId = AccountId([3; 32]);

/// Runs `f` on a state where Alice has 100 AGR and Bob 10 AGR, then checks the invariants
/// on the resulting state and returns it with the events.
fn run<R>(f: impl FnOnce(&mut Ext<'_>) -> R) -> (R, State, Vec<Event>) {
    let mut state = genesis(&[(ALICE, 100 * AGR), (BOB, 10 * AGR)], &[]);
    let (result, events) = step(&mut state, 1, f);
    (result, state, events)
}

#[test]
fn transfer_moves_free_balance_and_endows_new_accounts() {
    let (result, state, events) = run(|ext| Balances::transfer(ext, &ALICE, &CHARLIE, AGR, true));
    result.unwrap();
    assert_eq!(Balances::free_balance(&state, &ALICE), 99 * AGR);
    assert_eq!(Balances::free_balance(&state, &CHARLIE), AGR);
    assert_eq!(
        events,
        vec![
            Event::Endowed {
                account: CHARLIE,
                free_balance: AGR
            },
            Event::Transfer {
                from: ALICE,
                to: CHARLIE,
                amount: AGR
            },
        ]
    );
}

#[test]
fn transfer_refusals_write_nothing() {
    let cases = [
        (ALICE, CHARLIE, ED - 1, Error::ExistentialDeposit),
        (ALICE, BOB, 101 * AGR, Error::InsufficientBalance),
        (BOB, ALICE, 10 * AGR - 1, Error::WouldLeaveDust),
        (ALICE, BOB, 0, Error::ZeroAmount),
        (ALICE, ALICE, AGR, Error::SelfTransfer),
    ];
    for (from, to, amount, expected) in cases {
        let (result, state, events) = run(|ext| {
            let result = Balances::transfer(ext, &from, &to, amount, true);
            assert!(ext.block_changes().is_empty(), "{expected:?} wrote state");
            result
        });
        assert_eq!(result, Err(error(expected)));
        assert_eq!(Balances::free_balance(&state, &ALICE), 100 * AGR);
        assert!(events.is_empty());
    }
}

#[test]
fn transfer_all_reaps_the_sender() {
    let (result, state, events) =
        run(|ext| Balances::dispatch(ext, &BOB, &Call::TransferAll { dest: ALICE }));
    result.unwrap();
    assert_eq!(Balances::account(&state, &BOB), AccountData::default());
    assert!(
        Account::get(&state, &BOB).is_none(),
        "an empty account stays in state"
    );
    assert!(events.contains(&Event::Reaped { account: BOB }));
}

#[test]
fn reserve_unreserve_round_trip() {
    let ((), state, _) = run(|ext| {
        Balances::reserve(ext, &ALICE, 30 * AGR).unwrap();
        assert_eq!(
            Balances::reserve(ext, &ALICE, 71 * AGR),
            Err(error(Error::InsufficientBalance))
        );
        assert_eq!(Balances::unreserve(ext, &ALICE, 40 * AGR), 10 * AGR);
    });
    assert_eq!(
        Balances::account(&state, &ALICE),
        AccountData {
            free: 100 * AGR,
            reserved: 0
        }
    );
}

#[test]
fn repatriate_moves_reserve_to_free_or_reserved() {
    let ((), state, _) = run(|ext| {
        Balances::reserve(ext, &ALICE, 30 * AGR).unwrap();
        Balances::repatriate_reserved(ext, &ALICE, &BOB, 10 * AGR, BalanceStatus::Free).unwrap();
        Balances::repatriate_reserved(ext, &ALICE, &CHARLIE, 5 * AGR, BalanceStatus::Reserved)
            .unwrap();
        assert_eq!(
            Balances::repatriate_reserved(ext, &ALICE, &BOB, 16 * AGR, BalanceStatus::Free),
            Err(error(Error::InsufficientReserved))
        );
    });
    assert_eq!(
        Balances::account(&state, &ALICE),
        AccountData {
            free: 70 * AGR,
            reserved: 15 * AGR
        }
    );
    assert_eq!(Balances::free_balance(&state, &BOB), 20 * AGR);
    assert_eq!(
        Balances::account(&state, &CHARLIE),
        AccountData {
            free: 0,
            reserved: 5 * AGR
        }
    );
}

#[test]
fn slash_burns_reserved_and_lowers_issuance() {
    let (slashed, state, events) = run(|ext| {
        Balances::reserve(ext, &BOB, 4 * AGR).unwrap();
        Balances::slash_reserved(ext, &BOB, 5 * AGR)
    });
    assert_eq!(slashed, 4 * AGR);
    assert_eq!(Balances::total_issuance(&state), 106 * AGR);
    assert!(events.contains(&Event::Slashed {
        who: BOB,
        amount: 4 * AGR
    }));
}

#[test]
fn mint_and_burn_change_issuance_with_events() {
    let ((), state, events) = run(|ext| {
        Balances::mint(ext, &CHARLIE, 5 * AGR).unwrap();
        Balances::burn(ext, &ALICE, 50 * AGR).unwrap();
        assert_eq!(
            Balances::burn(ext, &BOB, 11 * AGR),
            Err(error(Error::InsufficientBalance))
        );
        assert_eq!(
            Balances::mint(ext, &CHARLIE, Balance::MAX),
            Err(error(Error::Overflow))
        );
    });
    assert_eq!(Balances::total_issuance(&state), 65 * AGR);
    assert!(events.contains(&Event::Minted {
        who: CHARLIE,
        amount: 5 * AGR
    }));
    assert!(events.contains(&Event::Burned {
        who: ALICE,
        amount: 50 * AGR
    }));
}

#[test]
fn fees_go_to_the_author_or_are_burned_if_they_cannot_endow_it() {
    let ((), state, _) = run(|ext| {
        Balances::pay_fee(ext, &ALICE, &BOB, 3 * AGR, AGR).unwrap();
        // Charlie does not exist and ED - 1 cannot create it: the fee is burned.
        Balances::pay_fee(ext, &ALICE, &CHARLIE, ED - 1, 0).unwrap();
        assert_eq!(
            Balances::pay_fee(ext, &BOB, &ALICE, 100 * AGR, 0),
            Err(error(Error::InsufficientBalance))
        );
    });
    assert_eq!(Balances::free_balance(&state, &BOB), 13 * AGR);
    assert_eq!(Balances::free_balance(&state, &ALICE), 97 * AGR - (ED - 1));
    assert_eq!(Balances::total_issuance(&state), 110 * AGR - (ED - 1));
}

#[test]
fn invariant_checker_catches_a_broken_issuance() {
    let ((), mut state, _) = run(|ext| Balances::mint(ext, &ALICE, AGR).unwrap());
    state.insert(TotalIssuance::key(), (1 as Balance).encode());
    assert!(Balances::try_state(&state)
        .unwrap_err()
        .contains("total issuance 1"));
}

#[test]
fn error_indices_round_trip() {
    let mut index = 0u8;
    while let Some(error) = Error::from_index(index) {
        assert_eq!(error.index(), index);
        index += 1;
    }
    assert_eq!(index, 7, "every error has its index");
    assert_eq!(Error::InsufficientBalance.name(), "InsufficientBalance");
}
