//! Exploit 5 of the incentives issue (free book spam), on a runtime that charges rent: every
//! open order pays `ORDER_RENT_PER_BLOCK` for each block it stays open, an offer commits
//! `OFFER_BOND` while open, and a bid no open offer could serve expires.
//!
//! Before: bids for a region nobody serves with a far deadline never expired (16,384 slots for
//! ~328 AGR, all refundable), and posting an offer committed no stake (128 providers × 16
//! offers filled the offer book for ~1 AGR each).

use super::super::*;
use super::TestHooks;
use agora_primitives::{Hash, AGR};

pallet_support::mock_runtime!(Test: market<Hooks = TestHooks> {
    const ORDER_RENT_PER_BLOCK: Balance = AGR / 1_000;
    const OFFER_BOND: Balance = AGR;
    const UNSERVED_BID_BLOCKS: BlockNumber = 5;
});
type Market = Pallet<Test>;
type TestBalances = pallet_balances::Pallet<Test>;
type TestStaking = pallet_staking::Pallet<Test>;

const ALICE: AccountId = AccountId([1; 32]);
const BOB: AccountId = AccountId([2; 32]);
const RENT: Balance = AGR / 1_000;

/// Alice (buyer) has 100 AGR; Bob (provider) 50 AGR with 20 bonded.
fn genesis_state() -> State {
    genesis(&[(ALICE, 100 * AGR), (BOB, 50 * AGR)], &[(BOB, 20 * AGR)])
}

fn spec() -> JobSpec {
    JobSpec {
        module: Hash([1; 32]),
        dataset: Hash([2; 32]),
        params: Vec::new(),
        steps: 40,
        segment_steps: 10,
        seed: 7,
    }
}

/// 10 Mfuel at up to 1 AGR, due by block 100, in `region` if given.
fn terms(region: Option<&str>) -> BidTerms {
    BidTerms {
        max_price: AGR,
        max_fuel: 10 * FUEL_PER_MFUEL,
        run_blocks: 5,
        deadline: 100,
        region: region.map(|r| Region::new(r).unwrap()),
        renewable_only: false,
        requeue: false,
        assurance_permille: 0,
        assurance_verifiers: 0,
    }
}

/// Bob offers 20 Mfuel at 0.25 AGR in eu-west from block `number`, expiring at `expires_at`.
fn post(state: &mut State, number: BlockNumber, expires_at: BlockNumber) -> DispatchResult {
    step(state, number, |ext| {
        Market::post_offer(
            ext,
            &BOB,
            AGR / 4,
            20 * FUEL_PER_MFUEL,
            Region::new("eu-west").unwrap(),
            Energy::Renewable,
            2 * AGR,
            expires_at,
        )
    })
    .0
}

fn rent_paid(events: &[Event]) -> Vec<(AccountId, Balance, BlockNumber)> {
    events
        .iter()
        .filter_map(|event| match event {
            Event::RentPaid {
                payer,
                rent,
                blocks,
            } => Some((*payer, *rent, *blocks)),
            _ => None,
        })
        .collect()
}

#[test]
fn exploit_a_bid_pays_rent_for_every_block_it_holds_a_slot() {
    let mut state = genesis_state();
    let issuance = TestBalances::total_issuance(&state);
    step(&mut state, 1, |ext| {
        Market::place_bid(ext, &ALICE, spec(), terms(None))
    })
    .0
    .unwrap();
    let bid = Market::bid(&state, 0).unwrap();
    // The deposit covers every block until the deadline, and is reserved with the escrow.
    assert_eq!(bid.rent_deposit, 99 * RENT);
    assert_eq!(
        TestBalances::reserved_balance(&state, &ALICE),
        bid.escrow + 99 * RENT
    );
    let (result, events) = step(&mut state, 11, |ext| Market::cancel_bid(ext, &ALICE, 0));
    result.unwrap();
    assert_eq!(rent_paid(&events), vec![(ALICE, 10 * RENT, 10)]);
    assert_eq!(TestBalances::reserved_balance(&state, &ALICE), 0);
    assert_eq!(
        TestBalances::free_balance(&state, &ALICE),
        100 * AGR - 10 * RENT
    );
    assert_eq!(TestBalances::total_issuance(&state), issuance - 10 * RENT);
    assert_eq!(RentBurned::get(&state), Some(10 * RENT));
}

#[test]
fn a_matched_bid_pays_the_rent_of_its_wait() {
    let mut state = genesis_state();
    post(&mut state, 1, 50).unwrap();
    step(&mut state, 2, |ext| {
        Market::place_bid(ext, &ALICE, spec(), terms(None))
    })
    .0
    .unwrap();
    let escrow = Market::bid(&state, 0).unwrap().escrow;
    let events = end_block(&mut state, 4);
    assert!(rent_paid(&events).contains(&(ALICE, 2 * RENT, 2)));
    // Only the job's escrow stays reserved: the deposit's unused part came back.
    assert_eq!(TestBalances::reserved_balance(&state, &ALICE), escrow);
}

#[test]
fn exploit_an_offer_commits_a_bond_and_pays_its_rent_from_it() {
    let mut state = genesis_state();
    let issuance = TestBalances::total_issuance(&state);
    // The bond pays 1,000 blocks of rent: an offer may not run longer.
    assert_eq!(post(&mut state, 1, 1_002), Err(error(Error::ExpiryTooFar)));
    post(&mut state, 1, 1_001).unwrap();
    assert_eq!(TestStaking::ledger(&state, &BOB).committed, AGR);
    let (result, events) = step(&mut state, 21, |ext| Market::cancel_offer(ext, &BOB, 0));
    result.unwrap();
    assert_eq!(rent_paid(&events), vec![(BOB, 20 * RENT, 20)]);
    let ledger = TestStaking::ledger(&state, &BOB);
    assert_eq!(ledger.committed, 0);
    assert_eq!(ledger.active, 20 * AGR - 20 * RENT);
    assert_eq!(TestBalances::total_issuance(&state), issuance - 20 * RENT);
}

#[test]
fn an_offer_needs_its_bond_free_beside_its_collateral() {
    let mut state = genesis(&[(BOB, 50 * AGR)], &[(BOB, 2 * AGR)]);
    // 2 AGR bonded covers the 2 AGR collateral but not the 1 AGR bond on top.
    assert_eq!(
        post(&mut state, 1, 50),
        Err(error(Error::InsufficientStake))
    );
    assert_eq!(TestStaking::ledger(&state, &BOB).committed, 0);
}

#[test]
fn exploit_a_bid_no_offer_can_serve_expires() {
    let mut state = genesis_state();
    post(&mut state, 1, 50).unwrap();
    // Nobody serves "nowhere": unserved from the clearing of block 2 on.
    step(&mut state, 2, |ext| {
        Market::place_bid(ext, &ALICE, spec(), terms(Some("nowhere")))
    })
    .0
    .unwrap();
    for number in 2..7 {
        let events = end_block(&mut state, number);
        assert!(
            !events.iter().any(|e| matches!(e, Event::BidExpired { .. })),
            "expired early, at block {number}"
        );
    }
    assert_eq!(Market::bid(&state, 0).unwrap().unserved_since, Some(2));
    let events = end_block(&mut state, 7);
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::BidExpired { bid: 0, .. })));
    assert!(rent_paid(&events).contains(&(ALICE, 5 * RENT, 5)));
    assert_eq!(TestBalances::reserved_balance(&state, &ALICE), 0);
    assert!(Market::open_bids(&state).is_empty());
    let closed = Market::closed_bid(&state, 0).unwrap();
    assert_eq!(
        (closed.end, closed.at, closed.rent),
        (crate::BidEnd::Unserved, 7, 5 * RENT),
        "unserved, not past its deadline; the rent it paid recorded"
    );
}
