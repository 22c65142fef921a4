//! Bids: placing one (its escrow and rent deposit reserved), cancelling it, dropping one that
//! leaves the book unmatched, and requeueing a job whose worker missed its deadline. The
//! rules are in the crate documentation.

use crate::assurance::Assurance;
use crate::{
    Bid, BidEnd, BidId, BidSpecs, BidTerms, Bids, BidsOf, BidsOfPrefix, ClosedBid, ClosedBids,
    ClosedBidsDuePrefix, Config, Error, Event, JobSpec, MarketHooks, Matched, NextBidId, OpenBids,
    Pallet, Region,
};
use agora_primitives::dispatch::{DispatchError, DispatchResult};
use agora_primitives::storage::Ext;
use agora_primitives::{AccountId, Balance, BlockNumber};
use pallet_support::due::schedule;
use pallet_support::{ensure, put_or_remove, to_usize, BoundedVec};

type Balances<T> = pallet_balances::Pallet<T>;
type System<T> = pallet_system::Pallet<T>;

impl<T: Config> Pallet<T> {
    /// Places a bid and reserves its escrow. All-or-nothing.
    pub fn place_bid(
        ext: &mut Ext<'_>,
        buyer: &AccountId,
        spec: JobSpec,
        terms: BidTerms,
    ) -> DispatchResult {
        let now = System::<T>::block_number(ext);
        let assurance = Self::check_bid(ext, &spec, &terms, now)?;
        let escrow = assurance.escrow;
        // `check_bid` made sure the deadline is ahead.
        let rent_deposit =
            Self::rent(terms.deadline.saturating_sub(now)).ok_or(Self::error(Error::Overflow))?;
        let count = BidsOf::get(ext, buyer).unwrap_or(0);
        ensure!(
            count < T::MAX_BIDS_PER_ACCOUNT,
            Self::error(Error::TooManyBids)
        );
        let id = NextBidId::get(ext).unwrap_or(0);
        let mut open = BoundedVec::with_bound(Self::open_bids(ext), T::MAX_OPEN_BIDS);
        open.try_push(id)
            .map_err(|_| Self::error(Error::BidBookFull))?;
        let reserve = escrow
            .checked_add(rent_deposit)
            .ok_or(Self::error(Error::Overflow))?;
        // Held, not only registered, as `commit_result` requires of a job's results: a worker
        // matched to a bid whose module or dataset nobody uploaded could neither run it nor have
        // its `declare_unrunnable` decided (the referee lacks the inputs too), and was slashed at
        // `commit_by` for the buyer's omission. A node that does not hold them leaves the call
        // undecided (`Ext::require_available`), so no block carries it. Asked last before the
        // first write, so that a bid every node refuses alike is refused, not undecided.
        ext.require_available(spec.module)
            .map_err(|_| Self::error(Error::ModuleUnavailable))?;
        ext.require_available(spec.dataset)
            .map_err(|_| Self::error(Error::DatasetUnavailable))?;
        Balances::<T>::reserve(ext, buyer, reserve)
            .map_err(|_| Self::error(Error::CannotPayEscrow))?;
        NextBidId::put(ext, &id.saturating_add(1));
        let (max_price, max_fuel) = (terms.max_price, terms.max_fuel);
        let bid = Bid {
            buyer: *buyer,
            terms,
            escrow,
            collateral: assurance.collateral,
            placed_at: now,
            unmatched: None,
            rent_deposit,
            unserved_since: None,
        };
        Self::insert_bid(ext, id, &bid, &spec, &open);
        T::Hooks::on_bid_placed(ext, &spec);
        Self::deposit_event(
            ext,
            Event::BidPlaced {
                bid: id,
                buyer: *buyer,
                max_price,
                max_fuel,
                escrow,
            },
        );
        Ok(())
    }

    /// The checks of a new bid that need nothing but its own fields and the blob registry, in
    /// the order their errors take precedence; on success, how the job will be checked and
    /// what it escrows (computed once, here).
    fn check_bid(
        ext: &Ext<'_>,
        spec: &JobSpec,
        terms: &BidTerms,
        now: BlockNumber,
    ) -> Result<Assurance, DispatchError> {
        ensure!(terms.max_price != 0, Self::error(Error::ZeroPrice));
        ensure!(terms.max_fuel != 0, Self::error(Error::ZeroFuel));
        ensure!(
            terms.max_fuel <= T::MAX_JOB_FUEL,
            Self::error(Error::FuelTooLarge)
        );
        ensure!(
            terms.region.as_ref().is_none_or(Region::is_valid),
            Self::error(Error::BadRegion)
        );
        // Engines count a segment's steps in 32 bits (the ABI's `agora_segment` takes a u32):
        // a longer segment is one no worker can start and no referee can run, so its worker
        // could neither run it nor show it unrunnable, and would be slashed at `commit_by`.
        ensure!(
            spec.steps != 0
                && spec.segment_steps != 0
                && spec.segment_steps <= u64::from(u32::MAX)
                && spec.segments() <= T::MAX_SEGMENTS,
            Self::error(Error::BadJobShape)
        );
        // Exploit 7 of issue 10: a segment too long to re-execute within the attestation
        // window makes every drawn verifier miss (and be slashed) while the job passes.
        ensure!(
            terms.max_fuel <= spec.segments().saturating_mul(T::MAX_SEGMENT_FUEL),
            Self::error(Error::SegmentsTooLong)
        );
        ensure!(
            spec.params.len() <= to_usize(T::MAX_PARAMS_LEN),
            Self::error(Error::ParamsTooLong)
        );
        ensure!(
            T::Hooks::blob_known(ext, &spec.module),
            Self::error(Error::UnknownModule)
        );
        ensure!(
            T::Hooks::blob_known(ext, &spec.dataset),
            Self::error(Error::UnknownDataset)
        );
        ensure!(
            terms.assurance_permille <= 1_000,
            Self::error(Error::BadAssurance)
        );
        let assurance = Self::assurance(spec, terms);
        // Every check is a record in the job's audit: more verifiers may not make it longer
        // than the longest a job's sample can be with one.
        // A long run of sampled segments is attested in one window per `RUN_SEGMENTS` of them,
        // one after another, however little fuel they use: at 1000 per thousand and
        // `MAX_SEGMENTS` that was thousands of windows (days) during which the worker's pay and
        // collateral waited on the buyer's choice. The bound keeps every attestation phase
        // within `MAX_SAMPLED_SEGMENTS / RUN_SEGMENTS` windows. Before the verifiers' bound: a
        // sample too large with one verifier is too large with any.
        ensure!(
            Self::assurance_params_for(terms).drawn_segments(spec.segments())
                <= T::MAX_SAMPLED_SEGMENTS,
            Self::error(Error::SampleTooLarge)
        );
        ensure!(
            terms.assurance_verifiers <= T::MAX_VERIFIERS_PER_SEGMENT
                && assurance
                    .as_ref()
                    .is_none_or(|a| a.checks <= T::MAX_SEGMENTS),
            Self::error(Error::TooManyVerifiers)
        );
        ensure!(
            terms.run_blocks >= T::MIN_RUN_BLOCKS,
            Self::error(Error::RunWindowTooShort)
        );
        // Matched at the earliest in this block's clearing.
        ensure!(
            now.saturating_add(u64::from(terms.run_blocks)) <= terms.deadline,
            Self::error(Error::DeadlineTooSoon)
        );
        assurance.ok_or(Self::error(Error::Overflow))
    }

    /// Stores a bid whose id `open` (the new `OpenBids`) already lists.
    fn insert_bid(ext: &mut Ext<'_>, id: BidId, bid: &Bid, spec: &JobSpec, open: &[BidId]) {
        OpenBids::put(ext, &open.to_vec());
        let count = BidsOf::get(ext, &bid.buyer).unwrap_or(0);
        BidsOf::insert(ext, &bid.buyer, &count.saturating_add(1));
        Bids::insert(ext, &id, bid);
        BidSpecs::insert(ext, &id, spec);
    }

    /// Removes an open bid's records (the caller has taken it out of `OpenBids`) and returns
    /// its job spec and the rent burned for the blocks it was open.
    pub(crate) fn remove_bid(ext: &mut Ext<'_>, id: BidId, bid: &Bid) -> (JobSpec, Balance) {
        let buyer = &bid.buyer;
        // The rent of the blocks it was open is burned from its deposit, the rest refunded.
        let rent = Self::charge_rent(ext, buyer, bid.placed_at, bid.rent_deposit, |ext, rent| {
            Balances::<T>::burn_reserved(ext, buyer, rent)
        });
        let left = Balances::<T>::unreserve(ext, buyer, bid.rent_deposit.saturating_sub(rent));
        assert!(
            left == 0,
            "market invariant broken: the rent deposit of bid {id} was not reserved"
        );
        Bids::remove(ext, &id);
        let spec = BidSpecs::get(ext, &id).expect("every open bid has its spec");
        BidSpecs::remove(ext, &id);
        let count = BidsOf::get(ext, buyer).unwrap_or(0).saturating_sub(1);
        put_or_remove::<BidsOfPrefix, _, _>(ext, buyer, &count);
        (spec, rent)
    }

    /// Cancels an open bid and refunds its escrow.
    pub fn cancel_bid(ext: &mut Ext<'_>, who: &AccountId, id: BidId) -> DispatchResult {
        let bid = Bids::get(ext, &id).ok_or(Self::error(Error::UnknownBid))?;
        ensure!(bid.buyer == *who, Self::error(Error::NotBidOwner));
        let mut open = Self::open_bids(ext);
        open.retain(|other| *other != id);
        OpenBids::put(ext, &open);
        Self::drop_bid(ext, id, &bid, BidEnd::Cancelled);
        Self::deposit_event(
            ext,
            Event::BidCancelled {
                bid: id,
                refund: bid.escrow,
            },
        );
        Ok(())
    }

    /// Removes a bid that leaves the book unmatched (the caller has taken it out of
    /// `OpenBids`): its records go, its blobs lose a reference, its escrow is refunded, and
    /// how it `end`ed is kept in [`ClosedBids`] for `CLOSED_BID_RETENTION` blocks.
    pub(crate) fn drop_bid(ext: &mut Ext<'_>, id: BidId, bid: &Bid, end: BidEnd) {
        let (spec, rent) = Self::remove_bid(ext, id, bid);
        T::Hooks::on_bid_dropped(ext, &spec);
        let left = Balances::<T>::unreserve(ext, &bid.buyer, bid.escrow);
        assert!(
            left == 0,
            "market invariant broken: escrow of bid {id} was not reserved"
        );
        let now = System::<T>::block_number(ext);
        let closed = ClosedBid {
            buyer: bid.buyer,
            end,
            at: now,
            refund: bid.escrow,
            rent,
        };
        ClosedBids::insert(ext, &id, &closed);
        // At most the open bids close in one block (and each cancellation is a transaction):
        // the book's bound bounds the due list.
        schedule::<ClosedBidsDuePrefix, BidId>(
            ext,
            now.saturating_add(T::CLOSED_BID_RETENTION),
            id,
            T::MAX_OPEN_BIDS,
        );
    }

    /// Puts a matched bid back into the queue (a worker missed its deadline and the buyer
    /// asked for a requeue). Returns false, leaving everything to the caller, when the bid
    /// could no longer meet its deadline or the book is full.
    pub fn requeue(ext: &mut Ext<'_>, matched: &Matched) -> bool {
        let now = System::<T>::block_number(ext);
        let mut open = BoundedVec::with_bound(Self::open_bids(ext), T::MAX_OPEN_BIDS);
        let fits_deadline = now
            .saturating_add(1)
            .saturating_add(u64::from(matched.terms.run_blocks))
            <= matched.terms.deadline;
        if !fits_deadline
            || open.try_push(matched.bid).is_err()
            || BidsOf::get(ext, &matched.buyer).unwrap_or(0) >= T::MAX_BIDS_PER_ACCOUNT
        {
            return false;
        }
        // The job's own collateral, as when it was placed (the match may have committed more).
        let collateral = Self::assurance(&matched.spec, &matched.terms).map_or(0, |a| a.collateral);
        let bid = Bid {
            buyer: matched.buyer,
            terms: matched.terms.clone(),
            escrow: matched.escrow,
            collateral,
            placed_at: matched.placed_at,
            unmatched: None,
            // A requeue is the missed worker's doing, not the buyer's: no rent.
            rent_deposit: 0,
            unserved_since: None,
        };
        Self::insert_bid(ext, matched.bid, &bid, &matched.spec, &open);
        Self::deposit_event(ext, Event::BidRequeued { bid: matched.bid });
        true
    }
}
