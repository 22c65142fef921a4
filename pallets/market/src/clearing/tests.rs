//! Examples and properties of the auction.

use super::*;
use crate::FUEL_PER_MFUEL;
use agora_primitives::AGR;
use proptest::prelude::*;

const UNIT: Fuel = FUEL_PER_MFUEL;

fn region(name: &str) -> Region {
    Region::new(name).unwrap()
}

fn provider(n: u8) -> AccountId {
    AccountId([n; 32])
}

fn bid(id: u64, max_price: Balance, max_fuel: Fuel) -> BookBid {
    BookBid {
        id,
        buyer: AccountId([0xB0; 32]),
        max_price,
        max_fuel,
        region: None,
        renewable_only: false,
        newcomer: false,
        collateral: 0,
    }
}

fn offer(id: u64, price: Balance, free: Fuel) -> BookOffer {
    BookOffer {
        id,
        provider: provider(1),
        price,
        free,
        capacity: free,
        region: region("eu-west"),
        energy: Energy::Grid,
        collateral: 0,
    }
}

fn params() -> Params {
    Params {
        newcomer_share_percent: 0,
        max_matches: 100,
    }
}

fn rich() -> BTreeMap<AccountId, Balance> {
    (0..8).map(|n| (provider(n), Balance::MAX / 16)).collect()
}

#[test]
fn highest_bids_take_the_cheapest_offers_at_one_price() {
    let bids = [bid(0, 3, UNIT), bid(1, 5, UNIT), bid(2, 1, UNIT)];
    let offers = [offer(10, 2, UNIT), offer(11, 4, UNIT)];
    let outcome = clear(&bids, &offers, &rich(), params());
    // Bid 1 (max 5) takes offer 10 (ask 2); bid 0 (max 3) cannot pay offer 11's 4 and the price
    // must stay at or below every matched max; bid 2 is below every ask.
    assert_eq!(outcome.matches, vec![(1, 10)]);
    assert_eq!(outcome.price, Some(2));
    assert_eq!(
        outcome.unmatched.get(&2),
        Some(&Unmatched::PriceBelowCheapest {
            max_price: 1,
            cheapest: 2,
            region: None,
            renewable_only: false
        })
    );
    assert_eq!(outcome.unmatched.get(&0), Some(&Unmatched::OffersBusy));
}

/// Exploit 4 of the incentives issue (self-matching): an account's newcomer bid at 1 planck
/// against its own 1-planck offer in a private region cleared first and capped the price of
/// every later match in the block (here the regular bid would have gone to the offer asking 5
/// and paid 5; the block's price stayed 1 and it went unmatched), and any self-match fakes
/// volume, queue times and the renewable share. An account never matches itself now.
#[test]
fn exploit_a_bid_never_matches_its_buyers_own_offer() {
    let attacker = provider(7);
    let private = region("attacker-only");
    let newcomer = BookBid {
        buyer: attacker,
        newcomer: true,
        region: Some(private.clone()),
        ..bid(0, 1, UNIT)
    };
    let own = BookOffer {
        provider: attacker,
        region: private,
        ..offer(10, 1, UNIT)
    };
    let outcome = clear(
        &[
            newcomer,
            BookBid {
                region: Some(region("eu-west")),
                ..bid(1, 9, UNIT)
            },
        ],
        &[own, offer(11, 5, UNIT)],
        &rich(),
        Params {
            newcomer_share_percent: 50,
            max_matches: 10,
        },
    );
    assert_eq!(outcome.matches, vec![(1, 11)]);
    assert_eq!(outcome.price, Some(5));
    assert_eq!(outcome.unmatched.get(&0), Some(&Unmatched::OnlyOwnOffers));
}

/// Exploit 4 of the incentives issue (newcomer sybils): newcomer bids cleared first in the same
/// clearing as everyone else's, so a newcomer's low max (here 2, at its sybil's ask of 1)
/// capped the price of every later match of the block and the regular bid could not use the
/// free offer asking 5, though it would pay 9; a newcomer at a top price against a high ask
/// (50) made every later match pay that ask, or none. The newcomer pool is a clearing of its
/// own now: it never bounds the price others pay.
#[test]
fn exploit_a_newcomer_bid_never_bounds_the_price_others_pay() {
    let params = Params {
        newcomer_share_percent: 50,
        max_matches: 10,
    };
    let newcomer = |max_price| BookBid {
        newcomer: true,
        ..bid(0, max_price, UNIT)
    };
    let low = clear(
        &[newcomer(2), bid(1, 9, UNIT)],
        &[offer(10, 1, UNIT), offer(11, 5, UNIT)],
        &rich(),
        params,
    );
    assert_eq!(low.matches, vec![(0, 10), (1, 11)]);
    assert_eq!(low.newcomer_matches, 1);
    assert_eq!((low.newcomer_price, low.price), (Some(1), Some(5)));
    // The high ask is in a region only the newcomer's sybil serves.
    let private = region("sybil-only");
    let high = clear(
        &[
            BookBid {
                region: Some(private.clone()),
                ..newcomer(100)
            },
            bid(1, 9, UNIT),
        ],
        &[
            BookOffer {
                region: private,
                ..offer(10, 50, UNIT)
            },
            offer(11, 5, UNIT),
        ],
        &rich(),
        params,
    );
    assert_eq!(high.matches, vec![(0, 10), (1, 11)]);
    assert_eq!((high.newcomer_price, high.price), (Some(50), Some(5)));
}

#[test]
fn ties_go_to_the_older_bid_and_the_older_offer() {
    let bids = [bid(7, 5, UNIT), bid(3, 5, UNIT)];
    let offers = [offer(9, 2, UNIT), offer(4, 2, UNIT)];
    let outcome = clear(&bids, &offers, &rich(), params());
    assert_eq!(outcome.matches, vec![(3, 4), (7, 9)]);
}

#[test]
fn preferences_are_honoured_and_explained() {
    let mut green = offer(1, 11 * AGR / 10, 10 * UNIT);
    green.energy = Energy::Renewable;
    let grid = offer(2, AGR / 2, 10 * UNIT);
    let mut wants_green = bid(5, 8 * AGR / 10, UNIT);
    wants_green.renewable_only = true;
    let mut wants_asia = bid(6, 2 * AGR, UNIT);
    wants_asia.region = Some(region("ap-south"));
    let outcome = clear(
        &[wants_green, wants_asia],
        &[green, grid],
        &rich(),
        params(),
    );
    assert!(outcome.matches.is_empty());
    let reason = outcome.unmatched.get(&5).unwrap();
    assert_eq!(
        reason.describe(),
        "max price 0.8 AGR/Mfuel is below the cheapest renewable offer, 1.1"
    );
    assert_eq!(
        outcome.unmatched.get(&6).unwrap().describe(),
        "there is no open offer in ap-south"
    );
}

#[test]
fn capacity_and_stake_limit_matches() {
    let mut staked = offer(1, 1, 3 * UNIT);
    staked.collateral = 10;
    let stake = BTreeMap::from([(provider(1), 25)]);
    let bids = [
        bid(0, 5, UNIT),
        bid(1, 5, UNIT),
        bid(2, 5, UNIT),
        bid(3, 5, 9 * UNIT),
    ];
    let outcome = clear(&bids, &[staked], &stake, params());
    // Capacity for three, stake for two.
    assert_eq!(outcome.matches, vec![(0, 1), (1, 1)]);
    assert_eq!(outcome.unmatched.get(&2), Some(&Unmatched::OffersBusy));
    assert_eq!(
        outcome.unmatched.get(&3),
        Some(&Unmatched::TooLarge {
            max_fuel: 9 * UNIT,
            largest_capacity: 3 * UNIT
        })
    );
}

/// The newcomer pool is a share of capacity a bid could buy. An offer priced above every bid
/// (here a phantom with all the fuel there is, at half the largest price) adds nothing to it.
/// Before, it counted, so for a 10 AGR bond one such offer lifted the pool to all the real
/// capacity: newcomer sybils took it at their low prices ahead of higher regular bids.
#[test]
fn capacity_no_bid_can_afford_does_not_grow_the_newcomer_pool() {
    let phantom = BookOffer {
        provider: provider(6),
        capacity: Fuel::MAX,
        ..offer(11, Balance::MAX / 2, Fuel::MAX)
    };
    let offers = [offer(10, 1, UNIT), phantom];
    let bids = [
        BookBid {
            newcomer: true,
            ..bid(0, 2, UNIT)
        },
        bid(1, 9, UNIT),
    ];
    let outcome = clear(
        &bids,
        &offers,
        &rich(),
        Params {
            newcomer_share_percent: 20,
            max_matches: 100,
        },
    );
    assert_eq!(outcome.newcomer_quota, UNIT / 5);
    assert_eq!(outcome.matches, vec![(1, 10)]);
}

#[test]
fn newcomers_get_their_share_before_higher_bids() {
    // Ten units of capacity, 30% for newcomers: three newcomer units go first even though
    // every regular bid offers more.
    let offers = [offer(1, 1, 10 * UNIT)];
    let mut bids: Vec<BookBid> = (0..10).map(|id| bid(id, 9, UNIT)).collect();
    bids.extend((10..15).map(|id| BookBid {
        newcomer: true,
        ..bid(id, 2, UNIT)
    }));
    let with_share = clear(
        &bids,
        &offers,
        &rich(),
        Params {
            newcomer_share_percent: 30,
            max_matches: 100,
        },
    );
    let newcomer_matches =
        |outcome: &Outcome| outcome.matches.iter().filter(|(bid, _)| *bid >= 10).count();
    assert_eq!(with_share.newcomer_quota, 3 * UNIT);
    assert_eq!(newcomer_matches(&with_share), 3);
    assert_eq!(with_share.matches.len(), 10);
    let without = clear(&bids, &offers, &rich(), params());
    assert_eq!(newcomer_matches(&without), 0);
}

#[test]
fn the_match_limit_is_explained() {
    let bids = [bid(0, 5, UNIT), bid(1, 5, UNIT)];
    let outcome = clear(
        &bids,
        &[offer(1, 1, 5 * UNIT)],
        &rich(),
        Params {
            newcomer_share_percent: 0,
            max_matches: 1,
        },
    );
    assert_eq!(outcome.matches.len(), 1);
    assert_eq!(outcome.unmatched.get(&1), Some(&Unmatched::BlockFull));
}

#[test]
fn an_empty_market_says_so() {
    let outcome = clear(&[bid(0, 5, UNIT)], &[], &rich(), params());
    assert_eq!(outcome.unmatched.get(&0), Some(&Unmatched::NoOffers));
    assert_eq!(outcome.price, None);
}

// --- properties ------------------------------------------------------------------------------

fn arb_region() -> impl Strategy<Value = Region> {
    prop_oneof![Just(region("eu")), Just(region("us"))]
}

fn arb_offer(id: u64) -> impl Strategy<Value = BookOffer> {
    (
        1u128..10,
        0u64..6,
        0u64..3,
        0u8..3,
        arb_region(),
        any::<bool>(),
        0u128..4,
    )
        .prop_map(
            move |(price, free, extra, who, region, green, collateral)| BookOffer {
                id,
                provider: provider(who),
                price,
                free: free * UNIT,
                capacity: (free + extra) * UNIT,
                region,
                energy: if green {
                    Energy::Renewable
                } else {
                    Energy::Grid
                },
                collateral,
            },
        )
}

fn arb_bid(id: u64) -> impl Strategy<Value = BookBid> {
    (
        1u128..12,
        1u64..4,
        proptest::option::weighted(0.3, arb_region()),
        proptest::bool::weighted(0.3),
        any::<bool>(),
        // Providers are accounts 0–2: some buyers are providers too.
        0u8..6,
    )
        .prop_map(
            move |(max_price, fuel, region, renewable_only, newcomer, buyer)| BookBid {
                id,
                buyer: provider(buyer),
                max_price,
                max_fuel: fuel * UNIT,
                region,
                renewable_only,
                newcomer,
                collateral: 0,
            },
        )
}

fn arb_market() -> impl Strategy<
    Value = (
        Vec<BookBid>,
        Vec<BookOffer>,
        BTreeMap<AccountId, Balance>,
        Params,
    ),
> {
    let offers = (0usize..10).prop_flat_map(|n| {
        (0..n)
            .map(|i| arb_offer(u64::try_from(i).unwrap() + 100))
            .collect::<Vec<_>>()
    });
    let bids = (0usize..25).prop_flat_map(|n| {
        (0..n)
            .map(|i| arb_bid(u64::try_from(i).unwrap()))
            .collect::<Vec<_>>()
    });
    let stake = proptest::collection::vec(0u128..12, 3).prop_map(|amounts| {
        amounts
            .into_iter()
            .enumerate()
            .map(|(i, amount)| (provider(u8::try_from(i).unwrap()), amount))
            .collect()
    });
    let params = (0u8..=100, 0usize..30).prop_map(|(share, max)| Params {
        newcomer_share_percent: share,
        max_matches: max,
    });
    (bids, offers, stake, params)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn clearing_is_safe((bids, offers, stake, params) in arb_market()) {
        let outcome = clear(&bids, &offers, &stake, params);
        let bid_of = |id: u64| bids.iter().find(|b| b.id == id).unwrap();
        let offer_of = |id: u64| offers.iter().find(|o| o.id == id).unwrap();

        prop_assert!(outcome.matches.len() <= params.max_matches);
        let pool = outcome.newcomer_matches;
        prop_assert_eq!(outcome.newcomer_price.is_some(), pool > 0);
        prop_assert_eq!(outcome.price.is_some(), outcome.matches.len() > pool);
        let mut seen = BTreeSet::new();
        let mut taken: BTreeMap<u64, Fuel> = BTreeMap::new();
        let mut committed: BTreeMap<AccountId, Balance> = BTreeMap::new();
        for (index, (bid_id, offer_id)) in outcome.matches.iter().enumerate() {
            prop_assert!(seen.insert(*bid_id), "bid {} matched twice", bid_id);
            let (bid, offer) = (bid_of(*bid_id), offer_of(*offer_id));
            // Never the buyer's own offer, always one its preferences accept.
            prop_assert!(offer.suits(bid) && offer.provider != bid.buyer);
            // The newcomer pool holds newcomers only.
            prop_assert!(index >= pool || bid.newcomer);
            let price = if index < pool { outcome.newcomer_price } else { outcome.price }.unwrap();
            // One price per clearing, never above a buyer's max, never below a seller's ask.
            prop_assert!(offer.price <= price && price <= bid.max_price);
            *taken.entry(*offer_id).or_default() += bid.max_fuel;
            *committed.entry(offer.provider).or_default() += offer.collateral;
        }
        for (offer_id, fuel) in &taken {
            prop_assert!(*fuel <= offer_of(*offer_id).free, "offer {} over capacity", offer_id);
        }
        for (who, amount) in &committed {
            prop_assert!(*amount <= stake.get(who).copied().unwrap_or(0));
        }
        // Every bid is either matched or explained.
        let explained: BTreeSet<u64> = outcome.unmatched.keys().copied().collect();
        prop_assert!(explained.is_disjoint(&seen));
        prop_assert_eq!(explained.len() + seen.len(), bids.len());
        for (id, reason) in &outcome.unmatched {
            let bid = bid_of(*id);
            if let Unmatched::PriceBelowCheapest { cheapest, .. } = reason {
                prop_assert!(offers.iter().filter(|o| o.suits(bid)).all(|o| o.price >= *cheapest));
                prop_assert!(bid.max_price < *cheapest);
            }
            if let Unmatched::NoneSuits { .. } = reason {
                prop_assert!(offers.iter().all(|o| !o.suits(bid)));
            }
        }
    }

    #[test]
    fn no_unmatched_bid_could_still_clear((bids, offers, stake, params) in arb_market()) {
        let outcome = clear(&bids, &offers, &stake, params);
        if outcome.matches.len() >= params.max_matches {
            return Ok(());
        }
        let mut free: BTreeMap<u64, Fuel> = offers.iter().map(|o| (o.id, o.free)).collect();
        let mut left = stake.clone();
        // The open clearing's bounds (the newcomer pool's matches take capacity and stake, but
        // do not bound it).
        let mut floor = Balance::MAX;
        for (index, (bid_id, offer_id)) in outcome.matches.iter().enumerate() {
            let bid = bids.iter().find(|b| b.id == *bid_id).unwrap();
            let offer = offers.iter().find(|o| o.id == *offer_id).unwrap();
            *free.get_mut(offer_id).unwrap() -= bid.max_fuel;
            *left.get_mut(&offer.provider).unwrap() -= offer.collateral;
            if index >= outcome.newcomer_matches {
                floor = floor.min(bid.max_price);
            }
        }
        let ceiling = outcome.price.unwrap_or(0);
        for id in outcome.unmatched.keys() {
            let bid = bids.iter().find(|b| b.id == *id).unwrap();
            let possible = bid.max_price >= ceiling && offers.iter().any(|o| {
                o.suits(bid)
                    && o.price <= bid.max_price.min(floor)
                    && free[&o.id] >= bid.max_fuel
                    && left.get(&o.provider).copied().unwrap_or(0) >= o.collateral
            });
            prop_assert!(!possible, "bid {} could still have matched", id);
        }
    }

    #[test]
    fn clearing_ignores_input_order((bids, offers, stake, params) in arb_market(), seed in any::<u64>()) {
        let outcome = clear(&bids, &offers, &stake, params);
        prop_assert_eq!(&outcome, &clear(&bids, &offers, &stake, params));
        let mut shuffled_bids = bids.clone();
        let mut shuffled_offers = offers.clone();
        // A deterministic shuffle driven by the generated seed.
        let rotate = |len: usize| usize::try_from(seed % (len.max(1) as u64)).unwrap();
        shuffled_bids.reverse();
        let n = rotate(shuffled_bids.len());
        shuffled_bids.rotate_left(n);
        let m = rotate(shuffled_offers.len());
        shuffled_offers.rotate_right(m);
        prop_assert_eq!(outcome, clear(&shuffled_bids, &shuffled_offers, &stake, params));
    }

    /// In a uniform market (one ask, no preferences, capacity in whole bid sizes, stake to
    /// spare), newcomers get at least their share, whatever the others bid.
    #[test]
    fn newcomer_share_is_honoured(
        sizes in proptest::collection::vec(1u64..5, 1..6),
        bids in proptest::collection::vec((2u128..20, any::<bool>()), 0..40),
        share in 0u8..=100,
    ) {
        let offers: Vec<BookOffer> = sizes
            .iter()
            .enumerate()
            .map(|(i, size)| offer(u64::try_from(i).unwrap(), 2, size * UNIT))
            .collect();
        let bids: Vec<BookBid> = bids
            .iter()
            .enumerate()
            .map(|(i, (max, newcomer))| BookBid { newcomer: *newcomer, ..bid(u64::try_from(i).unwrap() + 100, *max, UNIT) })
            .collect();
        let outcome = clear(&bids, &offers, &rich(), Params { newcomer_share_percent: share, max_matches: 1000 });
        let newcomer_demand: Fuel = bids.iter().filter(|b| b.newcomer).map(|b| b.max_fuel).sum();
        let newcomer_fuel: Fuel = outcome
            .matches
            .iter()
            .filter(|(id, _)| bids.iter().any(|b| b.id == *id && b.newcomer))
            .count() as u64 * UNIT;
        let quota_in_units = outcome.newcomer_quota / UNIT * UNIT;
        prop_assert!(newcomer_fuel >= newcomer_demand.min(quota_in_units),
            "newcomers got {} of demand {} and quota {}", newcomer_fuel, newcomer_demand, outcome.newcomer_quota);
        // Every offer is within reach of a bid (asks 2, bids from 2), if there is a bid.
        let total: Fuel = if bids.is_empty() { 0 } else { offers.iter().map(|o| o.free).sum() };
        prop_assert_eq!(outcome.newcomer_quota, total * u64::from(share) / 100);
    }
}

use std::collections::BTreeSet;
