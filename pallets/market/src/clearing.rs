//! The call auction, as a pure function of the order book.
//!
//! # Specification
//!
//! Input: the open bids and live offers of one block, each provider's uncommitted stake, the
//! newcomer share and the most matches a block may make. Output: which bid goes to which offer,
//! the block's single clearing price, and for every bid left open the reason in terms a buyer
//! can act on.
//!
//! Bids are indivisible (a job runs on one worker). A bid `b` can go to an offer `o` when
//! - `o` is *compatible*: in `b`'s region if `b` names one, renewable if `b` asks for it;
//! - `o` is not the buyer's own: an account never matches itself (a self-match fakes volume,
//!   queue times and the renewable share, and with the newcomer share a private region lets a
//!   newcomer bid at its own ask set the block's price bounds for everyone);
//! - `o` has `b.max_fuel` of free capacity and its provider has `max(o.collateral,
//!   b.collateral)` of uncommitted stake left (the collateral is committed per job; a job's
//!   own is sized to what it pays, see [`crate::assurance`]);
//! - one price still fits every match of the block: all matched offers' prices stay at or
//!   below all matched bids' max prices.
//!
//! **Order.** Bids by max price, highest first, then by id (older first); offers by price,
//! cheapest first, then by id. Each bid takes the cheapest offer it can go to. Ids are
//! assigned in placement order, so every tie-break is deterministic and favours the earlier
//! order; the input order of the slices does not matter.
//!
//! **Newcomer pool.** Before everyone else, bids from newcomers (accounts with few completed
//! jobs) are matched in the same order, as long as their total fuel stays within
//! `newcomer_share_percent` of the block's free capacity that some bid could buy (offers asking
//! no more than the highest bid's max price), in a clearing of their own: the pool
//! has its own price bounds and its own price. Newcomer bids that did not fit then compete with
//! everyone else in the open clearing, which starts from fresh bounds over the capacity and
//! stake the pool left. A newcomer bid therefore never bounds the price anyone else pays: with
//! one pool, a newcomer's bid at 1 planck matched first capped every later match of the block,
//! and one at the top price against a high ask made everyone pay that ask (exploit 4 of the
//! incentives issue).
//!
//! **Price.** Each clearing's price is the highest ask among its matched offers (the marginal
//! seller's price): every provider gets at least its ask, no buyer pays above its max.
//!
//! Cost: `O(bids × offers)` comparisons in the worst case, over data already in memory.

use crate::{Energy, Fuel, Region, Unmatched};
use agora_primitives::{AccountId, Balance};
use std::collections::BTreeMap;

/// An open bid as the auction sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BookBid {
    /// Bid id (placement order).
    pub id: u64,
    /// Who placed it (never matched to its own offers).
    pub buyer: AccountId,
    /// Most the buyer pays per Mfuel.
    pub max_price: Balance,
    /// Fuel the job may use; the capacity it takes.
    pub max_fuel: Fuel,
    /// Region the buyer insists on, if any.
    pub region: Option<Region>,
    /// Whether the buyer accepts renewable offers only.
    pub renewable_only: bool,
    /// Whether the buyer is a newcomer.
    pub newcomer: bool,
    /// Stake the job needs its worker to commit, at least.
    pub collateral: Balance,
}

/// A live offer as the auction sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BookOffer {
    /// Offer id.
    pub id: u64,
    /// Provider account.
    pub provider: AccountId,
    /// Ask per Mfuel.
    pub price: Balance,
    /// Capacity not taken by jobs in flight.
    pub free: Fuel,
    /// Total capacity (in flight or not).
    pub capacity: Fuel,
    /// Where it runs.
    pub region: Region,
    /// How it is powered.
    pub energy: Energy,
    /// Stake committed per job (at least).
    pub collateral: Balance,
}

impl BookOffer {
    /// The stake taking `bid` commits: the larger of the offer's and the job's.
    pub fn collateral_for(&self, bid: &BookBid) -> Balance {
        self.collateral.max(bid.collateral)
    }

    /// Whether `bid` may go to this offer: another account's, and one its preferences accept.
    pub fn suits(&self, bid: &BookBid) -> bool {
        self.provider != bid.buyer && self.suits_preferences(bid)
    }

    /// Whether `bid`'s region and energy preferences accept this offer.
    fn suits_preferences(&self, bid: &BookBid) -> bool {
        bid.region
            .as_ref()
            .is_none_or(|region| *region == self.region)
            && (!bid.renewable_only || self.energy == Energy::Renewable)
    }
}

/// Parameters of one clearing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Params {
    /// Share of the block's free capacity reserved first for newcomers, in percent (0–100).
    pub newcomer_share_percent: u8,
    /// Most matches in one block.
    pub max_matches: usize,
}

/// The outcome of one clearing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// `(bid id, offer id)` in the order they were made: the newcomer pool's first.
    pub matches: Vec<(u64, u64)>,
    /// How many of `matches` (the first ones) the newcomer pool made.
    pub newcomer_matches: usize,
    /// The newcomer pool's price, if it matched anything.
    pub newcomer_price: Option<Balance>,
    /// The open clearing's price, if it matched anything.
    pub price: Option<Balance>,
    /// Fuel reserved for newcomers this block.
    pub newcomer_quota: Fuel,
    /// Every bid left open, with the reason, by bid id.
    pub unmatched: BTreeMap<u64, Unmatched>,
}

/// Runs the auction. `stake` holds each provider's uncommitted stake (absent = zero).
pub fn clear(
    bids: &[BookBid],
    offers: &[BookOffer],
    stake: &BTreeMap<AccountId, Balance>,
    params: Params,
) -> Outcome {
    let mut bid_order: Vec<&BookBid> = bids.iter().collect();
    bid_order.sort_by(|a, b| b.max_price.cmp(&a.max_price).then(a.id.cmp(&b.id)));
    let mut offer_order: Vec<&BookOffer> = offers.iter().collect();
    offer_order.sort_by(|a, b| a.price.cmp(&b.price).then(a.id.cmp(&b.id)));

    // The pool is a share of the capacity some bid could buy: an offer priced above every bid
    // is not supply, and counting it would let one such offer (a bond's price) hand newcomers
    // all the real capacity.
    let top_bid = bid_order.first().map_or(0, |bid| bid.max_price);
    let total_free = offers
        .iter()
        .filter(|offer| offer.price <= top_bid)
        .fold(0u128, |sum, offer| {
            sum.saturating_add(u128::from(offer.free))
        });
    let share = u128::from(params.newcomer_share_percent.min(100));
    let newcomer_quota =
        Fuel::try_from(total_free.saturating_mul(share) / 100).unwrap_or(Fuel::MAX);

    let mut book = Book {
        free: offer_order.iter().map(|offer| offer.free).collect(),
        stake: stake.clone(),
        floor: Balance::MAX,
        ceiling: 0,
        matched: BTreeMap::new(),
        matches: Vec::new(),
    };

    let mut newcomer_fuel: Fuel = 0;
    for bid in bid_order.iter().filter(|bid| bid.newcomer) {
        if book.matches.len() >= params.max_matches {
            break;
        }
        let fits = newcomer_fuel
            .checked_add(bid.max_fuel)
            .is_some_and(|total| total <= newcomer_quota);
        if fits && book.try_match(bid, &offer_order) {
            newcomer_fuel = newcomer_fuel.saturating_add(bid.max_fuel);
        }
    }
    let newcomer_matches = book.matches.len();
    let newcomer_price = (newcomer_matches > 0).then_some(book.ceiling);
    // The open clearing: fresh price bounds, over what the pool left.
    book.floor = Balance::MAX;
    book.ceiling = 0;
    for bid in &bid_order {
        if book.matches.len() >= params.max_matches {
            break;
        }
        if !book.matched.contains_key(&bid.id) {
            book.try_match(bid, &offer_order);
        }
    }

    let price = (book.matches.len() > newcomer_matches).then_some(book.ceiling);
    let limit_reached = book.matches.len() >= params.max_matches;
    let unmatched = bid_order
        .iter()
        .filter(|bid| !book.matched.contains_key(&bid.id))
        .map(|bid| {
            let reason = book.reason(bid, &offer_order, price, limit_reached);
            (bid.id, reason)
        })
        .collect();
    Outcome {
        matches: book.matches,
        newcomer_matches,
        newcomer_price,
        price,
        newcomer_quota,
        unmatched,
    }
}

/// The auction's working state.
struct Book {
    /// Free capacity per offer, indexed like the sorted offers.
    free: Vec<Fuel>,
    /// Uncommitted stake per provider, decreasing as jobs commit collateral.
    stake: BTreeMap<AccountId, Balance>,
    /// Lowest max price among the current clearing's matched bids.
    floor: Balance,
    /// Highest ask among the current clearing's matched offers.
    ceiling: Balance,
    /// Matched bid ids.
    matched: BTreeMap<u64, u64>,
    matches: Vec<(u64, u64)>,
}

impl Book {
    fn stake_of(&self, who: &AccountId) -> Balance {
        self.stake.get(who).copied().unwrap_or(0)
    }

    /// Gives `bid` the cheapest offer it can go to, if any.
    fn try_match(&mut self, bid: &BookBid, offers: &[&BookOffer]) -> bool {
        if bid.max_price < self.ceiling {
            return false;
        }
        let limit = self.floor.min(bid.max_price);
        let chosen = offers
            .iter()
            .enumerate()
            .take_while(|(_, offer)| offer.price <= limit)
            .find(|(index, offer)| {
                offer.suits(bid)
                    && self
                        .free
                        .get(*index)
                        .is_some_and(|free| *free >= bid.max_fuel)
                    && self.stake_of(&offer.provider) >= offer.collateral_for(bid)
            });
        let Some((index, offer)) = chosen else {
            return false;
        };
        if let Some(free) = self.free.get_mut(index) {
            *free = free.saturating_sub(bid.max_fuel);
        }
        let stake = self
            .stake_of(&offer.provider)
            .saturating_sub(offer.collateral_for(bid));
        self.stake.insert(offer.provider, stake);
        self.floor = self.floor.min(bid.max_price);
        self.ceiling = self.ceiling.max(offer.price);
        self.matched.insert(bid.id, offer.id);
        self.matches.push((bid.id, offer.id));
        true
    }

    /// Why `bid` stayed open, from the first thing that stopped it.
    fn reason(
        &self,
        bid: &BookBid,
        offers: &[&BookOffer],
        price: Option<Balance>,
        limit_reached: bool,
    ) -> Unmatched {
        if offers.is_empty() {
            return Unmatched::NoOffers;
        }
        let suitable: Vec<(usize, &&BookOffer)> = offers
            .iter()
            .enumerate()
            .filter(|(_, offer)| offer.suits(bid))
            .collect();
        let Some((_, cheapest)) = suitable.first() else {
            if offers.iter().any(|offer| offer.suits_preferences(bid)) {
                return Unmatched::OnlyOwnOffers;
            }
            return Unmatched::NoneSuits {
                region: bid.region.clone(),
                renewable_only: bid.renewable_only,
            };
        };
        if bid.max_price < cheapest.price {
            return Unmatched::PriceBelowCheapest {
                max_price: bid.max_price,
                cheapest: cheapest.price,
                region: bid.region.clone(),
                renewable_only: bid.renewable_only,
            };
        }
        let affordable = || {
            suitable
                .iter()
                .filter(|(_, offer)| offer.price <= bid.max_price)
        };
        let largest = affordable()
            .map(|(_, offer)| offer.capacity)
            .max()
            .unwrap_or(0);
        if largest < bid.max_fuel {
            return Unmatched::TooLarge {
                max_fuel: bid.max_fuel,
                largest_capacity: largest,
            };
        }
        let most_stake = affordable()
            .map(|(_, offer)| self.stake_of(&offer.provider))
            .max()
            .unwrap_or(0);
        if most_stake < bid.collateral {
            return Unmatched::CollateralShort {
                collateral: bid.collateral,
                most_stake,
            };
        }
        if let Some(price) = price {
            if bid.max_price < price {
                return Unmatched::BelowClearingPrice {
                    max_price: bid.max_price,
                    clearing_price: price,
                };
            }
        }
        if limit_reached {
            return Unmatched::BlockFull;
        }
        let free_now = affordable().any(|(index, offer)| {
            self.free
                .get(*index)
                .is_some_and(|free| *free >= bid.max_fuel)
                && self.stake_of(&offer.provider) >= offer.collateral_for(bid)
        });
        if free_now {
            // Capacity was there, but only above the price the block settled on.
            Unmatched::OnePricePerBlock {
                clearing_price: price.unwrap_or(0),
            }
        } else {
            Unmatched::OffersBusy
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::arithmetic_side_effects)]
mod tests;
