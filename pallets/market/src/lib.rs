//! # Market pallet
//!
//! Providers post **offers** of compute; buyers place **bids** for a training job. Once per
//! block, in `on_finalize`, a uniform-price call auction ([`clearing`]) matches crossing bids
//! and offers; each match becomes a job, handed to [`Config::Hooks`] (the jobs pallet).
//!
//! - **Offer**: ask per Mfuel (million fuel units), capacity (fuel the provider takes in flight
//!   at once), region, energy source, collateral (stake committed per job it takes), expiry.
//!   Posting needs the collateral in uncommitted stake (pallet-staking) and commits
//!   [`Config::OFFER_BOND`] while the offer is open.
//! - **Rent**: every open order pays [`Config::ORDER_RENT_PER_BLOCK`] for each block it stays
//!   in the book, burned when it leaves: a bid's from a deposit reserved (beside its escrow)
//!   up to its deadline, an offer's from its bond. Holding a slot of the book is never free
//!   (exploit 5 of the incentives issue).
//! - **Bid**: the job (module and dataset blob hashes, params, steps, segment length, seed),
//!   max price per Mfuel, max fuel, the blocks the worker gets to deliver (`run_blocks`), the
//!   last block by which a result must be committed (`deadline`), region and renewable
//!   preferences, and whether to go back in the queue if a worker misses its deadline.
//!   **Escrow** = `⌈max price × max fuel / 10⁶⌉` plus the verification escrow of its
//!   [`assurance`] (every check's fee at the max price) is reserved when the bid is placed and
//!   stays reserved until the job settles or the bid ends. The worker that takes it commits
//!   the larger of its offer's collateral and the job's (from [`assurance`]: sized so that
//!   skipping work loses money in expectation).
//!
//! ## Lifecycle
//!
//! ```text
//! place_bid ──▶ open ──(clearing)──▶ matched: removed here, handed to Hooks::on_matched
//!                 │ ╲──(cancel_bid)──▶ cancelled: escrow refunded
//!                 ╰───(now + run_blocks > deadline, or unserved
//!                      for UNSERVED_BID_BLOCKS)──▶ expired: escrow refunded
//! post_offer ──▶ open ──(cancel_offer | expiry)──▶ closed ──(last job released)──▶ removed
//! ```
//!
//! ## Public record
//!
//! The order book (open bids and offers), each open bid's current [`Unmatched`] reason (in
//! words by [`Unmatched::describe`]), the clearing price of each block that matched
//! ([`Clearings`]), recent matches with the blocks each bid waited ([`RecentMatches`]), and
//! for [`Config::CLOSED_BID_RETENTION`] blocks each bid that left the book unmatched, how and
//! with what refund ([`ClosedBids`]); every match, expiry and cancellation is also an event.
//!
//! ## Invariants (checked by [`Pallet::try_state`] after every test)
//!
//! 1. `OpenBids` lists exactly the stored bids, without repeats; every bid has its job spec.
//! 2. Each buyer's reserved balance covers the escrow and rent deposits of its open bids.
//! 3. `OpenOffers` lists exactly the open offers; a closed offer is kept only while it has
//!    jobs in flight; `in_flight ≤ capacity`; only open offers hold a bond, and each
//!    provider's committed stake covers its offers' bonds.
//! 4. Per-account counters equal the records they count; every list is within its bound.
//! 5. Every closed bid's record is due to be pruned; no closed bid is open.
//!
//! Layout follows FRAME: config → events → errors → storage → genesis → hooks → calls. The
//! records and their words are in `types.rs`, the bid calls in `bids.rs`, the end-of-block
//! phases in `hooks.rs`, the
//! invariant checker in `invariants.rs`, the auction itself in [`clearing`].

pub mod assurance;
mod bids;
pub mod clearing;
mod hooks;
mod invariants;
mod types;

pub use types::{
    format_mfuel, fuel_cost, mfuel_decimal, parse_mfuel, Bid, BidEnd, BidId, BidTerms, ClosedBid,
    Energy, Fuel, JobSpec, MarketHooks, Matched, Offer, OfferId, Region, Unmatched, FUEL_PER_MFUEL,
    MAX_REGION_LEN,
};

use agora_primitives::dispatch::{DispatchResult, Weight};
use agora_primitives::storage::{Ext, StateRead};
use agora_primitives::{AccountId, Balance, BlockNumber};
use pallet_support::{ensure, put_or_remove, BoundedVec};
use parity_scale_codec::{Compact, Decode, Encode};
use scale_info::TypeInfo;
use serde::Serialize;

// ---------------------------------------------------------------------------------------------
// Config

/// Runtime parameters of the pallet.
pub trait Config: pallet_staking::Config {
    /// Index of this pallet in the runtime.
    const MARKET_PALLET_INDEX: u8;
    /// Most bids open at once (the order book bound).
    const MAX_OPEN_BIDS: u32;
    /// Most offers open at once.
    const MAX_OPEN_OFFERS: u32;
    /// Most open bids per account.
    const MAX_BIDS_PER_ACCOUNT: u32;
    /// Most offer records per provider (open, or closed with jobs in flight).
    const MAX_OFFERS_PER_PROVIDER: u32;
    /// Most matches in one block (bounds the jobs created per block).
    const MAX_MATCHES_PER_BLOCK: u32;
    /// Share of each block's free capacity matched first to newcomers, in percent.
    const NEWCOMER_SHARE_PERCENT: u8;
    /// An account with fewer completed jobs than this is a newcomer.
    const NEWCOMER_JOBS: u32;
    /// Longest job params.
    const MAX_PARAMS_LEN: u32;
    /// Most fuel one job may buy.
    const MAX_JOB_FUEL: Fuel;
    /// Most segments one job may have.
    const MAX_SEGMENTS: u64;
    /// Most fuel one segment may use: what a verifier of the documented minimum speed can
    /// re-execute within the attestation window (see `docs/verification.md`). A bid whose
    /// `max_fuel` would need longer segments on average is refused.
    const MAX_SEGMENT_FUEL: Fuel;
    /// Fewest blocks a worker may be given to run a job.
    const MIN_RUN_BLOCKS: u32;
    /// Smallest collateral an offer may put up per job.
    const MIN_COLLATERAL: Balance;
    /// Least a bid escrows, however little it asks for: the most its worker spends to show
    /// the job unrunnable (pallet-jobs) — the weight parts of `declare_unrunnable`'s and
    /// `prove_unrunnable`'s fees and the largest fee a declaration burns — which a job whose
    /// inputs cannot run pays the worker (the calls' part at least, and its declaration's fee
    /// back). Without it a bid for 1 fuel reserved next to nothing and cost its worker ~1 AGR
    /// to answer.
    const MIN_BID_ESCROW: Balance;
    /// Segments sampled uniformly per thousand segments of a job, besides the last (at least
    /// one; see [`assurance`]).
    const SAMPLE_PERMILLE: u32;
    /// Verifiers drawn for each sampled segment, unless the bid chooses.
    const VERIFIERS_PER_SEGMENT: u32;
    /// The most verifiers a bid may ask for each sampled segment.
    const MAX_VERIFIERS_PER_SEGMENT: u32;
    /// The most segments one job's sample may re-execute (the last, the uniform draws and the
    /// worker's heaviest). Consecutive sampled segments are attested as one run, which gets an
    /// attestation window per `RUN_SEGMENTS` of its segments; this bounds the attestation phase
    /// of a job's audit (not its disputes) whatever assurance level its bid asks for.
    const MAX_SAMPLED_SEGMENTS: u64;
    /// What a check's fee adds to the price of the fuel it re-executed, in percent.
    const VERIFIER_MARGIN_PERCENT: u32;
    /// The largest provider margin (in percent of the price) a job's collateral is sized for:
    /// skipping work must lose money in expectation for any provider at or below it.
    const PROVIDER_MARGIN_PERCENT: u32;
    /// Rent every open order (bid or offer) pays per block it stays open, burned: holding a
    /// slot of the order book is never free (docs/market.md, Rent).
    const ORDER_RENT_PER_BLOCK: Balance;
    /// Stake an offer commits while it is open; its rent is taken from it when it closes, and
    /// an offer may not outlive what the bond pays for.
    const OFFER_BOND: Balance;
    /// Consecutive clearings after which a bid that no open offer could serve (none open,
    /// none in its region or energy, none but its buyer's own, none large enough) expires.
    const UNSERVED_BID_BLOCKS: BlockNumber;
    /// Clearing records kept.
    const CLEARING_HISTORY: u32;
    /// Match records kept (for queue-time statistics).
    const RECENT_MATCHES: u32;
    /// Blocks a bid that left the book unmatched (cancelled, expired) is kept in
    /// [`ClosedBids`], so that `job status` says what became of it.
    const CLOSED_BID_RETENTION: BlockNumber;
    /// Blob registry and job hand-over.
    type Hooks: MarketHooks;
}

// ---------------------------------------------------------------------------------------------
// Events

/// Why an offer closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, Serialize, TypeInfo)]
pub enum CloseReason {
    /// Its provider cancelled it.
    #[codec(index = 0)]
    Cancelled,
    /// It reached its expiry block.
    #[codec(index = 1)]
    Expired,
}

/// Events of the market pallet.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, TypeInfo)]
pub enum Event {
    /// An offer was posted.
    #[codec(index = 0)]
    OfferPosted {
        /// Its id.
        offer: OfferId,
        /// The provider.
        provider: AccountId,
        /// Ask per Mfuel.
        price: Balance,
        /// Capacity in fuel.
        capacity: Fuel,
    },
    /// An offer stopped taking jobs.
    #[codec(index = 1)]
    OfferClosed {
        /// Its id.
        offer: OfferId,
        /// Why.
        reason: CloseReason,
    },
    /// A bid was placed and its escrow reserved.
    #[codec(index = 2)]
    BidPlaced {
        /// Its id (and the job's).
        bid: BidId,
        /// The buyer.
        buyer: AccountId,
        /// Max price per Mfuel.
        max_price: Balance,
        /// Max fuel.
        max_fuel: Fuel,
        /// Escrow reserved.
        escrow: Balance,
    },
    /// A bid was cancelled by its buyer; the escrow was refunded.
    #[codec(index = 3)]
    BidCancelled {
        /// Its id.
        bid: BidId,
        /// Refunded.
        refund: Balance,
    },
    /// A bid can no longer meet its deadline, or no open offer could serve it for
    /// `UNSERVED_BID_BLOCKS`; the escrow was refunded.
    #[codec(index = 4)]
    BidExpired {
        /// Its id.
        bid: BidId,
        /// Refunded.
        refund: Balance,
    },
    /// A bid was matched to an offer; the job starts.
    #[codec(index = 5)]
    BidMatched {
        /// The bid (job) id.
        bid: BidId,
        /// The offer.
        offer: OfferId,
        /// The worker.
        provider: AccountId,
        /// Clearing price per Mfuel.
        price: Balance,
        /// Blocks the bid waited in the queue.
        waited: BlockNumber,
    },
    /// An order left the book and paid its rent (burned): `blocks` open at the rent per block.
    #[codec(index = 8)]
    RentPaid {
        /// Who paid.
        payer: AccountId,
        /// The rent burned.
        rent: Balance,
        /// Blocks the order was open.
        blocks: BlockNumber,
    },
    /// A block's auction matched bids.
    #[codec(index = 6)]
    Cleared {
        /// Clearing price per Mfuel: the open clearing's, or the newcomer pool's if only it
        /// matched.
        price: Balance,
        /// The newcomer pool's price, if it matched anything (its own clearing: it never bounds
        /// the open clearing's).
        newcomer_price: Option<Balance>,
        /// Bids matched.
        matched: u32,
        /// Their fuel.
        fuel: Fuel,
        /// Bids left open.
        open: u32,
    },
    /// A job's bid went back into the queue after a missed deadline.
    #[codec(index = 7)]
    BidRequeued {
        /// The bid (job) id.
        bid: BidId,
    },
}

// ---------------------------------------------------------------------------------------------
// Errors

/// Errors of the market pallet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error, TypeInfo)]
pub enum Error {
    /// A price of zero.
    #[error("the price is zero")]
    ZeroPrice,
    /// An offer with zero capacity.
    #[error("the capacity is zero")]
    ZeroCapacity,
    /// A region name that is empty, too long or has characters outside a–z, 0–9 and '-'.
    #[error("the region must be 1-16 characters of a-z, 0-9 and '-'")]
    BadRegion,
    /// An offer expiring at or before the current block.
    #[error("the offer's expiry block is not in the future")]
    ExpiryNotInFuture,
    /// Collateral below the minimum.
    #[error("the collateral is below the market's minimum per job")]
    CollateralTooLow,
    /// The provider's uncommitted stake is below the offer's collateral.
    #[error(
        "the provider's uncommitted stake is below the offer's collateral plus its bond; bond \
         more first"
    )]
    InsufficientStake,
    /// The provider has the most offers allowed.
    #[error("the provider already has the most offers allowed")]
    TooManyOffers,
    /// The market has the most open offers allowed.
    #[error("the market has the most open offers allowed")]
    OfferBookFull,
    /// No offer with this id.
    #[error("no offer with this id")]
    UnknownOffer,
    /// The signer is not the offer's provider.
    #[error("the signer is not the provider of this offer")]
    NotOfferOwner,
    /// The offer is already closed.
    #[error("the offer is already closed")]
    OfferClosed,
    /// A bid for zero fuel.
    #[error("the max fuel is zero")]
    ZeroFuel,
    /// A bid for more fuel than a job may use.
    #[error("the max fuel is more than one job may buy")]
    FuelTooLarge,
    /// Zero steps, zero segment length, a segment longer than 2^32 − 1 steps, or too many
    /// segments.
    #[error("the job's steps and segment length must be non-zero, a segment at most 4294967295 steps, and give at most the maximum number of segments")]
    BadJobShape,
    /// Params longer than the limit.
    #[error("the job params are longer than the limit")]
    ParamsTooLong,
    /// The module hash is not a registered blob.
    #[error("the job module is not a registered blob; upload it first")]
    UnknownModule,
    /// The dataset hash is not a registered blob.
    #[error("the dataset is not a registered blob; upload it first")]
    UnknownDataset,
    /// The worker would get fewer blocks than the minimum.
    #[error("run_blocks is below the market's minimum")]
    RunWindowTooShort,
    /// No worker could meet the deadline even if matched now.
    #[error("the deadline is too soon: it must be at least run_blocks after the next block")]
    DeadlineTooSoon,
    /// The free balance cannot cover the escrow.
    #[error("the free balance cannot cover the bid's escrow and its rent deposit")]
    CannotPayEscrow,
    /// The account has the most open bids allowed.
    #[error("the account already has the most open bids allowed")]
    TooManyBids,
    /// The order book has the most open bids allowed.
    #[error("the order book has the most open bids allowed")]
    BidBookFull,
    /// No open bid with this id.
    #[error("no open bid with this id")]
    UnknownBid,
    /// The signer is not the bid's buyer.
    #[error("the signer is not the buyer of this bid")]
    NotBidOwner,
    /// The escrow would overflow.
    #[error("max price times max fuel overflows")]
    Overflow,
    /// The max fuel spread over the job's segments exceeds what one segment may use.
    #[error("the max fuel divided by the segment count exceeds the most fuel one segment may use; ask for shorter segments")]
    SegmentsTooLong,
    /// The offer would outlive the rent its bond pays for.
    #[error("the offer's expiry is further away than its bond pays rent for")]
    ExpiryTooFar,
    /// An assurance level above 1000 per thousand.
    #[error("the assurance level is a number of segments per thousand: at most 1000")]
    BadAssurance,
    /// More verifiers per sampled segment than the market allows, or more checks in all than a
    /// job may have (`MAX_SEGMENTS`).
    #[error(
        "too many verifiers: at most MAX_VERIFIERS_PER_SEGMENT for each sampled segment and \
         MAX_SEGMENTS checks for the job"
    )]
    TooManyVerifiers,
    /// This node does not hold the module's bytes (registered, but not uploaded here).
    #[error("this node does not hold the module's bytes: upload them before bidding")]
    ModuleUnavailable,
    /// This node does not hold the dataset's bytes (registered, but not uploaded here).
    #[error("this node does not hold the dataset's bytes: upload them before bidding")]
    DatasetUnavailable,
    /// The assurance level would sample more of the job's segments than `MAX_SAMPLED_SEGMENTS`.
    #[error(
        "the assurance level samples more segments than MAX_SAMPLED_SEGMENTS: ask for a lower \
         level, or split the job into fewer, longer segments"
    )]
    SampleTooLarge,
}

agora_primitives::impl_pallet_error!(Error {
    ZeroPrice,
    ZeroCapacity,
    BadRegion,
    ExpiryNotInFuture,
    CollateralTooLow,
    InsufficientStake,
    TooManyOffers,
    OfferBookFull,
    UnknownOffer,
    NotOfferOwner,
    OfferClosed,
    ZeroFuel,
    FuelTooLarge,
    BadJobShape,
    ParamsTooLong,
    UnknownModule,
    UnknownDataset,
    RunWindowTooShort,
    DeadlineTooSoon,
    CannotPayEscrow,
    TooManyBids,
    BidBookFull,
    UnknownBid,
    NotBidOwner,
    Overflow,
    SegmentsTooLong,
    ExpiryTooFar,
    BadAssurance,
    TooManyVerifiers,
    ModuleUnavailable,
    DatasetUnavailable,
    SampleTooLarge,
});

// ---------------------------------------------------------------------------------------------
// Storage

/// One block's auction result.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, TypeInfo)]
pub struct ClearingRecord {
    /// The block.
    pub block: BlockNumber,
    /// Clearing price per Mfuel: the open clearing's, or the newcomer pool's if only it matched.
    pub price: Balance,
    /// The newcomer pool's price, if it matched anything.
    pub newcomer_price: Option<Balance>,
    /// Bids matched.
    pub matched: u32,
    /// Their fuel.
    pub fuel: Fuel,
    /// The part of that fuel sold by renewable offers.
    pub renewable_fuel: Fuel,
    /// Bids left open.
    pub open: u32,
}

/// One match, for queue-time statistics.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, TypeInfo)]
pub struct MatchRecord {
    /// The bid (job).
    pub bid: BidId,
    /// Block of the match.
    pub block: BlockNumber,
    /// Blocks the bid waited.
    pub waited: BlockNumber,
    /// Region of the offer it went to.
    pub region: Region,
    /// Energy of that offer.
    pub energy: Energy,
    /// Fuel bought.
    pub fuel: Fuel,
    /// Whether the buyer was a newcomer.
    pub newcomer: bool,
}

pallet_support::storage! {
    "Market";
    /// `OfferId → Offer`: open offers, and closed ones with jobs in flight.
    pub Offers: map OfferId => Offer;
    /// Ids of open offers, in posting order (bounded by `MAX_OPEN_OFFERS`).
    pub OpenOffers: value Vec<OfferId>;
    /// Offer records per provider.
    pub OffersOf: map AccountId => u32;
    /// Next offer id.
    pub NextOfferId: value OfferId;
    /// `BidId → Bid`: open bids.
    pub Bids: map BidId => Bid;
    /// `BidId → JobSpec` of open bids (kept apart: the auction never reads it).
    pub BidSpecs: map BidId => JobSpec;
    /// Ids of open bids, in placement order (bounded by `MAX_OPEN_BIDS`).
    pub OpenBids: value Vec<BidId>;
    /// Open bids per account.
    pub BidsOf: map AccountId => u32;
    /// Next bid id (bid ids are job ids).
    pub NextBidId: value BidId;
    /// Jobs each buyer has seen settled, cancelled or found unrunnable; fewer than `NEWCOMER_JOBS`
    /// makes a newcomer.
    pub CompletedJobs: map AccountId => u32;
    /// The last `CLEARING_HISTORY` blocks that matched anything, oldest first.
    pub Clearings: value Vec<ClearingRecord>;
    /// The last `RECENT_MATCHES` matches, oldest first.
    pub RecentMatches: value Vec<MatchRecord>;
    /// All rent the order book has burned (the public record of what spam and waiting cost; the
    /// end-to-end tests' token count adds it back to the issuance).
    pub RentBurned: value Balance;
    /// `BidId → ClosedBid`: bids that left the book unmatched, for `CLOSED_BID_RETENTION` blocks.
    pub ClosedBids: map BidId => ClosedBid;
    /// Closed bids whose record goes at the end of a block.
    pub ClosedBidsDue: map BlockNumber => Vec<BidId>;
}

// ---------------------------------------------------------------------------------------------
// Pallet

pallet_support::pallet!(
    /// The market pallet.
    MARKET_PALLET_INDEX
);

type Staking<T> = pallet_staking::Pallet<T>;
type System<T> = pallet_system::Pallet<T>;

impl<T: Config> Pallet<T> {
    // --- reads -------------------------------------------------------------------------------

    /// Ids of the open bids, in placement order.
    pub fn open_bids(state: &impl StateRead) -> Vec<BidId> {
        OpenBids::get(state).unwrap_or_default()
    }

    /// Ids of the open offers, in posting order.
    pub fn open_offers(state: &impl StateRead) -> Vec<OfferId> {
        OpenOffers::get(state).unwrap_or_default()
    }

    /// An open bid.
    pub fn bid(state: &impl StateRead, id: BidId) -> Option<Bid> {
        Bids::get(state, &id)
    }

    /// The job spec of an open bid.
    pub fn bid_spec(state: &impl StateRead, id: BidId) -> Option<JobSpec> {
        BidSpecs::get(state, &id)
    }

    /// An offer (open, or closed with jobs in flight).
    pub fn offer(state: &impl StateRead, id: OfferId) -> Option<Offer> {
        Offers::get(state, &id)
    }

    /// Clearing records, oldest first.
    pub fn clearings(state: &impl StateRead) -> Vec<ClearingRecord> {
        Clearings::get(state).unwrap_or_default()
    }

    /// A bid that left the book unmatched within `CLOSED_BID_RETENTION` blocks.
    pub fn closed_bid(state: &impl StateRead, id: BidId) -> Option<ClosedBid> {
        ClosedBids::get(state, &id)
    }

    /// Recent matches, oldest first.
    pub fn recent_matches(state: &impl StateRead) -> Vec<MatchRecord> {
        RecentMatches::get(state).unwrap_or_default()
    }

    /// Whether `who` counts as a newcomer.
    pub fn is_newcomer(state: &impl StateRead, who: &AccountId) -> bool {
        CompletedJobs::get(state, who).unwrap_or(0) < T::NEWCOMER_JOBS
    }

    // --- offers ------------------------------------------------------------------------------

    /// Posts an offer. All-or-nothing.
    #[allow(clippy::too_many_arguments)]
    pub fn post_offer(
        ext: &mut Ext<'_>,
        provider: &AccountId,
        price: Balance,
        capacity: Fuel,
        region: Region,
        energy: Energy,
        collateral: Balance,
        expires_at: BlockNumber,
    ) -> DispatchResult {
        let now = System::<T>::block_number(ext);
        ensure!(price != 0, Self::error(Error::ZeroPrice));
        ensure!(capacity != 0, Self::error(Error::ZeroCapacity));
        ensure!(region.is_valid(), Self::error(Error::BadRegion));
        ensure!(expires_at > now, Self::error(Error::ExpiryNotInFuture));
        ensure!(
            collateral >= T::MIN_COLLATERAL,
            Self::error(Error::CollateralTooLow)
        );
        // The bond pays the rent of every block until the expiry.
        let lifetime = expires_at.saturating_sub(now);
        ensure!(
            Self::rent(lifetime).is_some_and(|rent| rent <= T::OFFER_BOND),
            Self::error(Error::ExpiryTooFar)
        );
        ensure!(
            Staking::<T>::available(ext, provider) >= collateral.saturating_add(T::OFFER_BOND),
            Self::error(Error::InsufficientStake)
        );
        let count = OffersOf::get(ext, provider).unwrap_or(0);
        ensure!(
            count < T::MAX_OFFERS_PER_PROVIDER,
            Self::error(Error::TooManyOffers)
        );
        let id = NextOfferId::get(ext).unwrap_or(0);
        let mut open = BoundedVec::with_bound(Self::open_offers(ext), T::MAX_OPEN_OFFERS);
        open.try_push(id)
            .map_err(|_| Self::error(Error::OfferBookFull))?;
        Staking::<T>::commit(ext, provider, T::OFFER_BOND)
            .map_err(|_| Self::error(Error::InsufficientStake))?;
        NextOfferId::put(ext, &id.saturating_add(1));
        OpenOffers::put(ext, open.as_vec());
        OffersOf::insert(ext, provider, &count.saturating_add(1));
        Offers::insert(
            ext,
            &id,
            &Offer {
                provider: *provider,
                price,
                capacity,
                in_flight: 0,
                region,
                energy,
                collateral,
                expires_at,
                posted_at: now,
                open: true,
                bond: T::OFFER_BOND,
            },
        );
        Self::deposit_event(
            ext,
            Event::OfferPosted {
                offer: id,
                provider: *provider,
                price,
                capacity,
            },
        );
        Ok(())
    }

    /// Cancels an open offer: it takes no new jobs; jobs in flight run to the end.
    pub fn cancel_offer(ext: &mut Ext<'_>, who: &AccountId, id: OfferId) -> DispatchResult {
        let offer = Offers::get(ext, &id).ok_or(Self::error(Error::UnknownOffer))?;
        ensure!(offer.provider == *who, Self::error(Error::NotOfferOwner));
        ensure!(offer.open, Self::error(Error::OfferClosed));
        let mut open = Self::open_offers(ext);
        open.retain(|other| *other != id);
        OpenOffers::put(ext, &open);
        Self::close_offer(ext, id, offer, CloseReason::Cancelled);
        Ok(())
    }

    /// Marks an offer closed (already removed from `OpenOffers`), dropping it if idle.
    fn close_offer(ext: &mut Ext<'_>, id: OfferId, mut offer: Offer, reason: CloseReason) {
        offer.open = false;
        // The rent of the blocks it was open comes out of its bond; the rest is released.
        let provider = offer.provider;
        let rent = Self::charge_rent(ext, &provider, offer.posted_at, offer.bond, |ext, rent| {
            Staking::<T>::spend_committed(ext, &provider, rent)
        });
        Staking::<T>::release(ext, &provider, offer.bond.saturating_sub(rent));
        offer.bond = 0;
        if offer.in_flight == 0 {
            Self::remove_offer(ext, id, &offer.provider);
        } else {
            Offers::insert(ext, &id, &offer);
        }
        Self::deposit_event(ext, Event::OfferClosed { offer: id, reason });
    }

    fn remove_offer(ext: &mut Ext<'_>, id: OfferId, provider: &AccountId) {
        Offers::remove(ext, &id);
        let count = OffersOf::get(ext, provider).unwrap_or(0).saturating_sub(1);
        put_or_remove::<OffersOfPrefix, _, _>(ext, provider, &count);
    }

    /// A job taken under `offer` ended: its fuel leaves the offer's in-flight total (and a
    /// closed offer with nothing left in flight is dropped). Called by the jobs pallet.
    pub fn release_capacity(ext: &mut Ext<'_>, id: OfferId, fuel: Fuel) {
        let Some(mut offer) = Offers::get(ext, &id) else {
            return;
        };
        offer.in_flight = offer.in_flight.saturating_sub(fuel);
        if !offer.open && offer.in_flight == 0 {
            Self::remove_offer(ext, id, &offer.provider);
        } else {
            Offers::insert(ext, &id, &offer);
        }
    }

    /// The rent of an order open `blocks` blocks (`None` on overflow).
    pub fn rent(blocks: BlockNumber) -> Option<Balance> {
        T::ORDER_RENT_PER_BLOCK.checked_mul(Balance::from(blocks))
    }

    /// Charges `payer` the rent of an order open since block `since`, at most `cap` (what its
    /// deposit or bond holds), with `burn` (which must burn the whole amount it is given):
    /// records it in the running total and an event (none for no rent). Returns the rent.
    fn charge_rent(
        ext: &mut Ext<'_>,
        payer: &AccountId,
        since: BlockNumber,
        cap: Balance,
        burn: impl FnOnce(&mut Ext<'_>, Balance) -> Balance,
    ) -> Balance {
        let blocks = System::<T>::block_number(ext).saturating_sub(since);
        let rent = Self::rent(blocks).unwrap_or(Balance::MAX).min(cap);
        if rent == 0 {
            return 0;
        }
        let burned = burn(ext, rent);
        assert!(
            burned == rent,
            "market invariant broken: {payer}'s rent of {rent} was not held"
        );
        let total = RentBurned::get(ext).unwrap_or(0).saturating_add(rent);
        RentBurned::put(ext, &total);
        Self::deposit_event(
            ext,
            Event::RentPaid {
                payer: *payer,
                rent,
                blocks,
            },
        );
        rent
    }

    /// A buyer's job settled, or ended by the buyer's doing (cancelled, or its inputs cannot
    /// run): one more completed job (newcomer status fades).
    pub fn note_completed(ext: &mut Ext<'_>, buyer: &AccountId) {
        let done = CompletedJobs::get(ext, buyer).unwrap_or(0);
        // Past the newcomer threshold the count no longer matters; stop writing.
        if done < T::NEWCOMER_JOBS {
            CompletedJobs::insert(ext, buyer, &done.saturating_add(1));
        }
    }

    // --- bids: `bids.rs` ------------------------------------------------------------------

    // --- hooks: `on_finalize` is in `hooks.rs`; `try_state` in `invariants.rs` -----------------

    /// Dispatches a call signed by `who`.
    pub fn dispatch(ext: &mut Ext<'_>, who: &AccountId, call: &Call) -> DispatchResult {
        match call {
            Call::PostOffer {
                price,
                capacity,
                region,
                energy,
                collateral,
                expires_at,
            } => Self::post_offer(
                ext,
                who,
                price.0,
                capacity.0,
                region.clone(),
                *energy,
                collateral.0,
                expires_at.0,
            ),
            Call::CancelOffer { offer } => Self::cancel_offer(ext, who, offer.0),
            Call::PlaceBid { spec, terms } => {
                Self::place_bid(ext, who, spec.clone(), terms.clone())
            }
            Call::CancelBid { bid } => Self::cancel_bid(ext, who, bid.0),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Calls

/// Calls of the market pallet.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
pub enum Call {
    /// Posts an offer of compute.
    #[codec(index = 0)]
    PostOffer {
        /// Ask per Mfuel, in plancks.
        price: Compact<Balance>,
        /// Most fuel of jobs in flight at once.
        capacity: Compact<Fuel>,
        /// Where the machines are.
        region: Region,
        /// How they are powered.
        energy: Energy,
        /// Stake committed per job.
        collateral: Compact<Balance>,
        /// Block from which it takes no new jobs.
        expires_at: Compact<BlockNumber>,
    },
    /// Cancels an open offer; jobs in flight continue.
    #[codec(index = 1)]
    CancelOffer {
        /// The offer.
        offer: Compact<OfferId>,
    },
    /// Places a bid for a training job, reserving its escrow.
    #[codec(index = 2)]
    PlaceBid {
        /// The job.
        spec: JobSpec,
        /// Price, fuel, time and preferences.
        terms: BidTerms,
    },
    /// Cancels an open bid, refunding its escrow.
    #[codec(index = 3)]
    CancelBid {
        /// The bid.
        bid: Compact<BidId>,
    },
}

impl Call {
    /// Weight of the call, fixed before dispatch.
    pub fn weight(&self) -> Weight {
        match self {
            Call::PostOffer { .. } => weights::POST_OFFER,
            Call::CancelOffer { .. } => weights::CANCEL_OFFER,
            Call::PlaceBid { spec, .. } => weights::PLACE_BID.saturating_add(
                weights::PER_PARAMS_BYTE
                    .saturating_mul(u64::try_from(spec.params.len()).unwrap_or(u64::MAX)),
            ),
            Call::CancelBid { .. } => weights::CANCEL_BID,
        }
    }
}

/// Weights, in nanoseconds on the reference machine.
pub mod weights {
    use super::Weight;
    /// `post_offer`: stake read, offer list read/write, offer write.
    pub const POST_OFFER: Weight = 40_000;
    /// `cancel_offer`: offer and list read/write.
    pub const CANCEL_OFFER: Weight = 40_000;
    /// `place_bid`: blob lookups, reserve, bid list read/write, bid and spec writes.
    pub const PLACE_BID: Weight = 60_000;
    /// Per byte of job params.
    pub const PER_PARAMS_BYTE: Weight = 10;
    /// `cancel_bid`: bid, list and account read/write.
    pub const CANCEL_BID: Weight = 50_000;

    /// Removing one closed bid's record at the end of its retention.
    pub const PRUNE_CLOSED_BID: Weight = 5_000;

    /// The clearing at the end of a block with `bids` open bids, `offers` open offers and
    /// `matches` matches: reads of every open order, the auction, writes of the matches.
    pub fn on_finalize(bids: usize, offers: usize, matches: usize) -> Weight {
        let count = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
        20_000u64
            .saturating_add(count(bids).saturating_mul(5_000))
            .saturating_add(count(offers).saturating_mul(5_000))
            .saturating_add(count(matches).saturating_mul(100_000))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::arithmetic_side_effects)]
mod tests;
