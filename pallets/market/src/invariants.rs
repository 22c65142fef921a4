//! The market's invariants, checked over a whole state after every test (see the crate
//! documentation for the list).

use crate::{
    BidId, BidSpecs, Bids, BidsOf, ClosedBids, ClosedBidsDue, Config, OfferId, Offers, OffersOf,
    Pallet,
};
use agora_primitives::storage::StateIter;
use agora_primitives::{AccountId, Balance};
use pallet_support::to_usize;
use std::collections::{BTreeMap, BTreeSet};

type Balances<T> = pallet_balances::Pallet<T>;
type Staking<T> = pallet_staking::Pallet<T>;

impl<T: Config> Pallet<T> {
    /// Checks the pallet's invariants over a whole state. Run after every test.
    pub fn try_state(state: &impl StateIter) -> Result<(), String> {
        Self::check_bids(state)?;
        Self::check_offers(state)?;
        Self::check_closed_bids(state)?;
        if Self::clearings(state).len() > to_usize(T::CLEARING_HISTORY)
            || Self::recent_matches(state).len() > to_usize(T::RECENT_MATCHES)
        {
            return Err("market history over its bound".to_owned());
        }
        Ok(())
    }

    /// Invariant 5: every closed bid's record is due to be pruned, and no closed bid is open.
    fn check_closed_bids(state: &impl StateIter) -> Result<(), String> {
        let closed: BTreeSet<BidId> = ClosedBids::iter(state)
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        let due: BTreeSet<BidId> = ClosedBidsDue::iter(state)
            .into_iter()
            .flat_map(|(_, ids)| ids)
            .collect();
        if closed != due {
            return Err(format!(
                "closed bids {closed:?} differ from those due to be pruned {due:?}"
            ));
        }
        match closed.iter().find(|id| Bids::get(state, id).is_some()) {
            Some(id) => Err(format!("bid {id} is both open and closed")),
            None => Ok(()),
        }
    }

    /// Invariants 1 and 2, and the bids' half of 4.
    fn check_bids(state: &impl StateIter) -> Result<(), String> {
        let open_bids = Self::open_bids(state);
        let listed: BTreeSet<BidId> = open_bids.iter().copied().collect();
        if listed.len() != open_bids.len() {
            return Err("OpenBids lists a bid twice".to_owned());
        }
        if open_bids.len() > to_usize(T::MAX_OPEN_BIDS) {
            return Err(format!("{} open bids, over the bound", open_bids.len()));
        }
        let bids = Bids::iter(state);
        let stored: BTreeSet<BidId> = bids.iter().map(|(id, _)| *id).collect();
        if stored != listed {
            return Err(format!(
                "stored bids {stored:?} differ from OpenBids {listed:?}"
            ));
        }
        let specs: BTreeSet<BidId> = BidSpecs::iter(state)
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        if specs != stored {
            return Err(format!("bid specs {specs:?} differ from bids {stored:?}"));
        }
        let mut escrow_of: BTreeMap<AccountId, Balance> = BTreeMap::new();
        let mut bids_of: BTreeMap<AccountId, u32> = BTreeMap::new();
        for (_, bid) in &bids {
            let escrow = escrow_of.entry(bid.buyer).or_default();
            *escrow = escrow
                .saturating_add(bid.escrow)
                .saturating_add(bid.rent_deposit);
            let count = bids_of.entry(bid.buyer).or_default();
            *count = count.saturating_add(1);
        }
        for (buyer, escrow) in &escrow_of {
            let reserved = Balances::<T>::reserved_balance(state, buyer);
            if reserved < *escrow {
                return Err(format!(
                    "{buyer} has {escrow} in open escrow and rent deposits but only {reserved} \
                     reserved"
                ));
            }
        }
        let counted: BTreeMap<AccountId, u32> = BidsOf::iter(state).into_iter().collect();
        if counted != bids_of {
            return Err(format!(
                "BidsOf {counted:?} differs from the bids {bids_of:?}"
            ));
        }
        Ok(())
    }

    /// Invariant 3, and the offers' half of 4.
    fn check_offers(state: &impl StateIter) -> Result<(), String> {
        let open_offers = Self::open_offers(state);
        if open_offers.len() > to_usize(T::MAX_OPEN_OFFERS) {
            return Err(format!("{} open offers, over the bound", open_offers.len()));
        }
        let listed: BTreeSet<OfferId> = open_offers.iter().copied().collect();
        if listed.len() != open_offers.len() {
            return Err("OpenOffers lists an offer twice".to_owned());
        }
        let mut offers_of: BTreeMap<AccountId, u32> = BTreeMap::new();
        let mut bonds_of: BTreeMap<AccountId, Balance> = BTreeMap::new();
        for (id, offer) in Offers::iter(state) {
            if !offer.open && offer.bond != 0 {
                return Err(format!("closed offer {id} still holds a bond"));
            }
            let bonds = bonds_of.entry(offer.provider).or_default();
            *bonds = bonds.saturating_add(offer.bond);
            if offer.open != listed.contains(&id) {
                return Err(format!(
                    "offer {id} is open={} but listed={}",
                    offer.open,
                    listed.contains(&id)
                ));
            }
            if !offer.open && offer.in_flight == 0 {
                return Err(format!("closed offer {id} is kept with nothing in flight"));
            }
            if offer.in_flight > offer.capacity {
                return Err(format!(
                    "offer {id} has {} in flight over its capacity {}",
                    offer.in_flight, offer.capacity
                ));
            }
            let count = offers_of.entry(offer.provider).or_default();
            *count = count.saturating_add(1);
        }
        let stored_open = Offers::iter(state)
            .into_iter()
            .filter(|(_, offer)| offer.open)
            .count();
        if stored_open != listed.len() {
            return Err("OpenOffers lists an offer that is not stored".to_owned());
        }
        for (provider, bonds) in &bonds_of {
            let committed = Staking::<T>::ledger(state, provider).committed;
            if committed < *bonds {
                return Err(format!(
                    "{provider} has {bonds} of offer bonds but {committed} committed"
                ));
            }
        }
        let counted: BTreeMap<AccountId, u32> = OffersOf::iter(state).into_iter().collect();
        if counted != offers_of {
            return Err(format!(
                "OffersOf {counted:?} differs from the offers {offers_of:?}"
            ));
        }
        Ok(())
    }
}
