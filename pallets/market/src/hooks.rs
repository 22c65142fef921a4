//! The end of a block: expiries, then the auction.
//!
//! `on_finalize` runs six phases, in this order (the order of their events):
//!
//! 0. **Prune closed bids** whose `CLOSED_BID_RETENTION` ended (no event).
//! 1. **Expire offers** past their expiry block: they close (and go, if nothing is in flight).
//! 2. **Expire bids** that no worker could finish by their deadline any more, or that no open
//!    offer could serve for `UNSERVED_BID_BLOCKS` consecutive clearings: refunded, less the
//!    rent of the blocks they were open.
//! 3. **Build the book** of what is left: the auction's view of each bid and offer, and each
//!    provider's uncommitted stake.
//! 4. **Apply the matches** of the auction ([`clearing::clear`]): collateral committed,
//!    capacity taken, the bid handed to [`Config::Hooks`] as a job; every bid left open gets
//!    the reason it was not matched.
//! 5. **Record the clearing**: the block's price and volume in [`Clearings`], its matches in
//!    [`RecentMatches`], and a `Cleared` event (only for blocks that matched something).

use crate::{
    clearing, weights, Bid, BidEnd, BidId, Bids, BidsPrefix, ClearingRecord, Clearings,
    CloseReason, ClosedBids, ClosedBidsDue, Config, Energy, Event, Fuel, MarketHooks, MatchRecord,
    Matched, Offer, OfferId, Offers, OffersPrefix, OpenBids, OpenBidsPrefix, OpenOffersPrefix,
    Pallet, RecentMatches,
};
use agora_primitives::dispatch::Weight;
use agora_primitives::storage::{Ext, StorageInstance, StorageMap, StorageValue};
use agora_primitives::{AccountId, Balance, BlockNumber};
use pallet_support::{to_usize, BoundedVec};
use parity_scale_codec::{Decode, Encode};
use std::collections::{BTreeMap, BTreeSet};

type Staking<T> = pallet_staking::Pallet<T>;
type System<T> = pallet_system::Pallet<T>;

/// The auction's input: the book of one block.
struct Book {
    bids: Vec<clearing::BookBid>,
    offers: Vec<clearing::BookOffer>,
    /// Uncommitted stake of every provider with an open offer.
    stake: BTreeMap<AccountId, Balance>,
}

/// A block's prices: the open clearing's (or the newcomer pool's, if only it matched) and the
/// newcomer pool's.
#[derive(Clone, Copy)]
struct Prices {
    open: Balance,
    newcomer: Option<Balance>,
}

/// What a block's matches add up to.
#[derive(Default)]
struct Matches {
    /// Matches the auction made.
    count: u32,
    records: Vec<MatchRecord>,
    fuel: Fuel,
    renewable_fuel: Fuel,
}

impl<T: Config> Pallet<T> {
    /// End of block: expire offers and bids, then run the auction. Returns the weight used.
    pub fn on_finalize(ext: &mut Ext<'_>) -> Weight {
        let now = System::<T>::block_number(ext);
        let pruned = Self::prune_closed_bids(ext, now);
        let offers = Self::expire_offers(ext, now);
        let bids = Self::expire_bids(ext, now);
        let book = Self::build_book(ext, &bids, &offers);
        let outcome = clearing::clear(
            &book.bids,
            &book.offers,
            &book.stake,
            clearing::Params {
                newcomer_share_percent: T::NEWCOMER_SHARE_PERCENT,
                max_matches: to_usize(T::MAX_MATCHES_PER_BLOCK),
            },
        );
        let prices = Prices {
            open: outcome.price.or(outcome.newcomer_price).unwrap_or(0),
            newcomer: outcome.newcomer_price,
        };
        let newcomers: BTreeSet<BidId> = book
            .bids
            .iter()
            .filter(|bid| bid.newcomer)
            .map(|bid| bid.id)
            .collect();
        let listed: Vec<BidId> = bids.iter().map(|(id, _)| *id).collect();
        let mut open_bids: BTreeMap<BidId, Bid> = bids.into_iter().collect();
        let matches = Self::apply_matches(ext, now, &outcome, &newcomers, &mut open_bids, offers);
        let open = Self::note_unmatched(ext, &outcome, &listed, open_bids);
        Self::record_clearing(ext, now, prices, matches, open);
        weights::on_finalize(book.bids.len(), book.offers.len(), outcome.matches.len())
            .saturating_add(
                weights::PRUNE_CLOSED_BID.saturating_mul(u64::try_from(pruned).unwrap_or(u64::MAX)),
            )
    }

    /// Phase 0: records of bids closed `CLOSED_BID_RETENTION` blocks ago go. Returns how many.
    fn prune_closed_bids(ext: &mut Ext<'_>, now: BlockNumber) -> usize {
        let Some(due) = ClosedBidsDue::get(ext, &now) else {
            return 0;
        };
        ClosedBidsDue::remove(ext, &now);
        for id in &due {
            ClosedBids::remove(ext, id);
        }
        due.len()
    }

    /// Phase 1: offers past their expiry close. Returns the open ones, in posting order.
    fn expire_offers(ext: &mut Ext<'_>, now: BlockNumber) -> Vec<(OfferId, Offer)> {
        sweep::<OpenOffersPrefix, OffersPrefix, OfferId, Offer>(
            ext,
            |offer| offer.expires_at <= now,
            |ext, id, offer| Self::close_offer(ext, id, offer, CloseReason::Expired),
        )
    }

    /// Phase 2: bids that no worker could finish by their deadline any more (a match now
    /// gives the worker until `now + run_blocks`), or that no open offer could serve for
    /// `UNSERVED_BID_BLOCKS` clearings in a row, expire, refunded. Returns the open ones, in
    /// placement order.
    fn expire_bids(ext: &mut Ext<'_>, now: BlockNumber) -> Vec<(BidId, Bid)> {
        sweep::<OpenBidsPrefix, BidsPrefix, BidId, Bid>(
            ext,
            |bid| Self::bid_end_at(bid, now).is_some(),
            |ext, id, bid| {
                // `sweep` closes only the bids the predicate above chose.
                let end = Self::bid_end_at(&bid, now).unwrap_or(BidEnd::Expired);
                Self::drop_bid(ext, id, &bid, end);
                let refund = bid.escrow;
                Self::deposit_event(ext, Event::BidExpired { bid: id, refund });
            },
        )
    }

    /// How an open bid ends at the clearing of block `now`, if it does: `Expired` once a worker
    /// matched now could not commit by its deadline, `Unserved` after `UNSERVED_BID_BLOCKS`
    /// clearings in a row without an offer that could serve it.
    fn bid_end_at(bid: &Bid, now: BlockNumber) -> Option<BidEnd> {
        if now.saturating_add(u64::from(bid.terms.run_blocks)) > bid.terms.deadline {
            Some(BidEnd::Expired)
        } else if bid
            .unserved_since
            .is_some_and(|since| now.saturating_sub(since) >= T::UNSERVED_BID_BLOCKS)
        {
            Some(BidEnd::Unserved)
        } else {
            None
        }
    }

    /// Phase 3: the auction's view of the open orders.
    fn build_book(ext: &Ext<'_>, bids: &[(BidId, Bid)], offers: &[(OfferId, Offer)]) -> Book {
        let book_bids = bids
            .iter()
            .map(|(id, bid)| clearing::BookBid {
                id: *id,
                buyer: bid.buyer,
                max_price: bid.terms.max_price,
                max_fuel: bid.terms.max_fuel,
                region: bid.terms.region.clone(),
                renewable_only: bid.terms.renewable_only,
                newcomer: Self::is_newcomer(ext, &bid.buyer),
                collateral: bid.collateral,
            })
            .collect();
        let mut stake = BTreeMap::new();
        let book_offers = offers
            .iter()
            .map(|(id, offer)| {
                stake
                    .entry(offer.provider)
                    .or_insert_with(|| Staking::<T>::available(ext, &offer.provider));
                clearing::BookOffer {
                    id: *id,
                    provider: offer.provider,
                    price: offer.price,
                    free: offer.capacity.saturating_sub(offer.in_flight),
                    capacity: offer.capacity,
                    region: offer.region.clone(),
                    energy: offer.energy,
                    collateral: offer.collateral,
                }
            })
            .collect();
        Book {
            bids: book_bids,
            offers: book_offers,
            stake,
        }
    }

    /// Phase 4a: every match of the auction becomes a job. Matched bids leave `open_bids`.
    fn apply_matches(
        ext: &mut Ext<'_>,
        now: BlockNumber,
        outcome: &clearing::Outcome,
        newcomers: &BTreeSet<BidId>,
        open_bids: &mut BTreeMap<BidId, Bid>,
        offers: Vec<(OfferId, Offer)>,
    ) -> Matches {
        let mut offers: BTreeMap<OfferId, Offer> = offers.into_iter().collect();
        let mut matches = Matches {
            count: u32::try_from(outcome.matches.len()).unwrap_or(u32::MAX),
            ..Matches::default()
        };
        for (index, (bid_id, offer_id)) in outcome.matches.iter().enumerate() {
            let (Some(bid), Some(offer)) = (open_bids.remove(bid_id), offers.get_mut(offer_id))
            else {
                continue;
            };
            // The newcomer pool's matches come first, at its own price.
            let price = if index < outcome.newcomer_matches {
                outcome.newcomer_price
            } else {
                outcome.price
            }
            .expect("a clearing that matched has a price");
            let fuel = bid.terms.max_fuel;
            let record = Self::apply_match(ext, now, price, (*bid_id, bid), (*offer_id, offer));
            matches.fuel = matches.fuel.saturating_add(fuel);
            if record.energy == Energy::Renewable {
                matches.renewable_fuel = matches.renewable_fuel.saturating_add(fuel);
            }
            matches.records.push(MatchRecord {
                newcomer: newcomers.contains(bid_id),
                ..record
            });
        }
        matches
    }

    /// One match: the offer takes the job's fuel and commits its collateral, the bid leaves
    /// the book and is handed over as a job.
    fn apply_match(
        ext: &mut Ext<'_>,
        now: BlockNumber,
        price: Balance,
        (bid_id, bid): (BidId, Bid),
        (offer_id, offer): (OfferId, &mut Offer),
    ) -> MatchRecord {
        offer.in_flight = offer.in_flight.saturating_add(bid.terms.max_fuel);
        Offers::insert(ext, &offer_id, offer);
        let collateral = offer.collateral.max(bid.collateral);
        Staking::<T>::commit(ext, &offer.provider, collateral)
            .expect("the auction only matches offers whose provider has the collateral");
        let (spec, _) = Self::remove_bid(ext, bid_id, &bid);
        let waited = now.saturating_sub(bid.placed_at);
        let record = MatchRecord {
            bid: bid_id,
            block: now,
            waited,
            region: offer.region.clone(),
            energy: offer.energy,
            fuel: bid.terms.max_fuel,
            newcomer: false,
        };
        Self::deposit_event(
            ext,
            Event::BidMatched {
                bid: bid_id,
                offer: offer_id,
                provider: offer.provider,
                price,
                waited,
            },
        );
        T::Hooks::on_matched(
            ext,
            Matched {
                bid: bid_id,
                buyer: bid.buyer,
                spec,
                terms: bid.terms,
                escrow: bid.escrow,
                placed_at: bid.placed_at,
                offer: offer_id,
                provider: offer.provider,
                price,
                collateral,
            },
        );
        record
    }

    /// Phase 4b: each bid left open keeps the reason it was not matched (written only when it
    /// changed), and `OpenBids` loses the matched ones. Returns how many bids are open.
    fn note_unmatched(
        ext: &mut Ext<'_>,
        outcome: &clearing::Outcome,
        listed: &[BidId],
        mut open_bids: BTreeMap<BidId, Bid>,
    ) -> u32 {
        let now = System::<T>::block_number(ext);
        for (id, reason) in &outcome.unmatched {
            if let Some(bid) = open_bids.get_mut(id) {
                let unserved_since = if reason.is_unserved() {
                    Some(bid.unserved_since.unwrap_or(now))
                } else {
                    None
                };
                if bid.unmatched.as_ref() != Some(reason) || bid.unserved_since != unserved_since {
                    bid.unmatched = Some(reason.clone());
                    bid.unserved_since = unserved_since;
                    Bids::insert(ext, id, bid);
                }
            }
        }
        let still_open: Vec<BidId> = listed
            .iter()
            .copied()
            .filter(|id| open_bids.contains_key(id))
            .collect();
        if still_open != listed {
            OpenBids::put(ext, &still_open);
        }
        u32::try_from(still_open.len()).unwrap_or(u32::MAX)
    }

    /// Phase 5: a block that matched anything enters the public record.
    fn record_clearing(
        ext: &mut Ext<'_>,
        now: BlockNumber,
        prices: Prices,
        matches: Matches,
        open: u32,
    ) {
        let matched = matches.count;
        if matched == 0 {
            return;
        }
        let fuel = matches.fuel;
        let mut history = BoundedVec::with_bound(Self::clearings(ext), T::CLEARING_HISTORY);
        history.push_evicting([ClearingRecord {
            block: now,
            price: prices.open,
            newcomer_price: prices.newcomer,
            matched,
            fuel,
            renewable_fuel: matches.renewable_fuel,
            open,
        }]);
        Clearings::put(ext, history.as_vec());
        let mut recent = BoundedVec::with_bound(Self::recent_matches(ext), T::RECENT_MATCHES);
        recent.push_evicting(matches.records);
        RecentMatches::put(ext, recent.as_vec());
        Self::deposit_event(
            ext,
            Event::Cleared {
                price: prices.open,
                newcomer_price: prices.newcomer,
                matched,
                fuel,
                open,
            },
        );
    }
}

/// Walks an open-order list (`L`, ids into the records `M`), in order: each order for which
/// `expired` holds is handed to `close`, the others are returned. The list is rewritten only
/// if an order left it.
fn sweep<L, M, Id, V>(
    ext: &mut Ext<'_>,
    expired: impl Fn(&V) -> bool,
    mut close: impl FnMut(&mut Ext<'_>, Id, V),
) -> Vec<(Id, V)>
where
    L: StorageInstance,
    M: StorageInstance,
    Id: Copy + PartialEq + Encode + Decode,
    V: Encode + Decode,
{
    let listed = StorageValue::<L, Vec<Id>>::get(ext).unwrap_or_default();
    let mut open = Vec::new();
    for id in listed.iter().copied() {
        // A listed id without a record would be a broken invariant; it is dropped.
        let Some(order) = StorageMap::<M, Id, V>::get(ext, &id) else {
            continue;
        };
        if expired(&order) {
            close(ext, id, order);
        } else {
            open.push((id, order));
        }
    }
    let still_listed: Vec<Id> = open.iter().map(|(id, _)| *id).collect();
    if still_listed != listed {
        StorageValue::<L, Vec<Id>>::put(ext, &still_listed);
    }
    open
}
