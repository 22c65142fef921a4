//! # Market pallet
//!
//! Providers post **offers** of compute; buyers place **bids** for a training job. Once per
//! block, in `on_finalize`, a uniform-price call auction ([`clearing`]) matches crossing bids
//! and offers; each match becomes a job, handed to [`Config::Hooks`] (the jobs pallet).
//!
//! - **Offer**: ask per Mfuel (million fuel units), capacity (fuel the provider takes in flight
//!   at once), region, energy source, collateral (stake committed per job it takes), expiry.
//!   Posting needs the collateral in uncommitted stake (pallet-staking).
//! - **Bid**: the job (module and dataset blob hashes, params, steps, segment length, seed),
//!   max price per Mfuel, max fuel, the blocks the worker gets to deliver (`run_blocks`), the
//!   last block by which a result must be committed (`deadline`), region and renewable
//!   preferences, and whether to go back in the queue if a worker misses its deadline.
//!   **Escrow** = `⌈max price × max fuel / 10⁶⌉` + [`Config::VERIFICATION_ESCROW`] is reserved
//!   when the bid is placed and stays reserved until the job settles or the bid ends.
//!
//! ## Lifecycle
//!
//! ```text
//! place_bid ──▶ open ──(clearing)──▶ matched: removed here, handed to Hooks::on_matched
//!                 │ ╲──(cancel_bid)──▶ cancelled: escrow refunded
//!                 ╰───(now + run_blocks > deadline)──▶ expired: escrow refunded
//! post_offer ──▶ open ──(cancel_offer | expiry)──▶ closed ──(last job released)──▶ removed
//! ```
//!
//! ## Public record
//!
//! The order book (open bids and offers), each open bid's current [`Unmatched`] reason (in
//! words by [`Unmatched::describe`]), the clearing price of each block that matched
//! ([`Clearings`]), and recent matches with the blocks each bid waited ([`RecentMatches`]);
//! every match, expiry and cancellation is also an event.
//!
//! ## Invariants (checked by [`Pallet::try_state`] after every test)
//!
//! 1. `OpenBids` lists exactly the stored bids, without repeats; every bid has its job spec.
//! 2. Each buyer's reserved balance covers the escrow of its open bids.
//! 3. `OpenOffers` lists exactly the open offers; a closed offer is kept only while it has
//!    jobs in flight; `in_flight ≤ capacity`.
//! 4. Per-account counters equal the records they count; every list is within its bound.
//!
//! Layout follows FRAME: config → events → errors → storage → genesis → hooks → calls.

pub mod clearing;

use agora_primitives::dispatch::{DispatchError, DispatchResult, PalletError, Weight};
use agora_primitives::storage::{
    Ext, StateIter, StateRead, StorageInstance, StorageMap, StorageValue,
};
use agora_primitives::{format_agr, AccountId, Balance, BlockNumber, Hash};
use parity_scale_codec::{Compact, Decode, Encode};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::marker::PhantomData;

/// Fuel units (the executor's deterministic instruction count).
pub type Fuel = u64;
/// Identifier of an offer.
pub type OfferId = u64;
/// Identifier of a bid; the job made from it keeps the same id.
pub type BidId = u64;

/// Fuel in one Mfuel, the unit prices are quoted in.
pub const FUEL_PER_MFUEL: Fuel = 1_000_000;
/// Longest region name.
pub const MAX_REGION_LEN: usize = 16;

/// `⌈price × fuel / 10⁶⌉`: what `fuel` costs at `price` per Mfuel, rounded up so that escrow
/// always covers payment. `None` on overflow.
pub fn fuel_cost(price: Balance, fuel: Fuel) -> Option<Balance> {
    let mfuel = u128::from(FUEL_PER_MFUEL);
    price
        .checked_mul(u128::from(fuel))?
        .checked_add(mfuel.checked_sub(1)?)?
        .checked_div(mfuel)
}

/// Renders fuel in Mfuel: `"2.5 Mfuel"`.
pub fn format_mfuel(fuel: Fuel) -> String {
    let whole = fuel.checked_div(FUEL_PER_MFUEL).unwrap_or(0);
    let frac = fuel.checked_rem(FUEL_PER_MFUEL).unwrap_or(0);
    if frac == 0 {
        format!("{whole} Mfuel")
    } else {
        let digits = format!("{frac:06}");
        format!("{whole}.{} Mfuel", digits.trim_end_matches('0'))
    }
}

// ---------------------------------------------------------------------------------------------
// Types

/// A region name: 1–16 characters of `a–z`, `0–9` and `-` (e.g. `eu-west`).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode)]
pub struct Region(Vec<u8>);

impl Region {
    /// Parses and checks a region name.
    pub fn new(name: &str) -> Option<Region> {
        let valid = !name.is_empty()
            && name.len() <= MAX_REGION_LEN
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        valid.then(|| Region(name.as_bytes().to_vec()))
    }

    /// Whether decoded bytes form a valid region name.
    pub fn is_valid(&self) -> bool {
        std::str::from_utf8(&self.0).is_ok_and(|name| Region::new(name).is_some())
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("<invalid>")
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

impl serde::Serialize for Region {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// How an offer's machines are powered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Encode, Decode, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Energy {
    /// Renewable sources.
    #[codec(index = 0)]
    Renewable,
    /// The grid mix.
    #[codec(index = 1)]
    Grid,
}

/// The training job a bid buys: what the executor needs, by content address.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, serde::Serialize)]
pub struct JobSpec {
    /// blake3 of the job module (a registered blob).
    pub module: Hash,
    /// blake3 of the dataset (a registered blob).
    pub dataset: Hash,
    /// Job parameters (the module's JSON), at most [`Config::MAX_PARAMS_LEN`] bytes.
    #[serde(serialize_with = "serialize_params")]
    pub params: Vec<u8>,
    /// Training steps in total.
    pub steps: u64,
    /// Steps per segment (the unit of checkpointing and spot checks).
    pub segment_steps: u64,
    /// Seed of the job's random streams.
    pub seed: u64,
}

fn serialize_params<S: serde::Serializer>(params: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&String::from_utf8_lossy(params))
}

impl JobSpec {
    /// Number of segments: `⌈steps / segment_steps⌉`.
    pub fn segments(&self) -> u64 {
        self.steps.div_ceil(self.segment_steps.max(1))
    }
}

/// What a buyer is willing to pay and wait for.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, serde::Serialize)]
pub struct BidTerms {
    /// Most the buyer pays per Mfuel, in plancks.
    pub max_price: Balance,
    /// Most fuel the job may use; the worker is paid for verified fuel up to this.
    pub max_fuel: Fuel,
    /// Blocks the worker gets from the match to commit a result.
    pub run_blocks: u32,
    /// Last block by which a result must be committed; the bid expires when no worker could
    /// make it any more.
    pub deadline: BlockNumber,
    /// Region the buyer insists on, if any.
    pub region: Option<Region>,
    /// Whether only renewable offers are acceptable.
    pub renewable_only: bool,
    /// Whether the bid goes back into the queue when a worker misses its deadline.
    pub requeue: bool,
}

/// An open bid.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, serde::Serialize)]
pub struct Bid {
    /// Who pays.
    pub buyer: AccountId,
    /// Price, fuel, time and preferences.
    pub terms: BidTerms,
    /// Reserved from the buyer's balance.
    pub escrow: Balance,
    /// Block the bid was first placed in (queue time counts from here).
    pub placed_at: BlockNumber,
    /// Why the last clearing did not match it (none before its first clearing).
    pub unmatched: Option<Unmatched>,
}

/// An offer of compute.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, serde::Serialize)]
pub struct Offer {
    /// Who sells.
    pub provider: AccountId,
    /// Ask per Mfuel, in plancks.
    pub price: Balance,
    /// Most fuel of jobs in flight at once.
    pub capacity: Fuel,
    /// Fuel of jobs in flight (their max fuel).
    pub in_flight: Fuel,
    /// Where the machines are.
    pub region: Region,
    /// How they are powered.
    pub energy: Energy,
    /// Stake committed for every job taken, slashed if the job's deadline is missed.
    pub collateral: Balance,
    /// Block from which the offer takes no new jobs.
    pub expires_at: BlockNumber,
    /// Block it was posted in.
    pub posted_at: BlockNumber,
    /// Whether it still takes jobs (false once cancelled or expired).
    pub open: bool,
}

/// Why an open bid was not matched in the last clearing, with the numbers that matter.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, serde::Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Unmatched {
    /// No offer is open.
    #[codec(index = 0)]
    NoOffers,
    /// No open offer satisfies the bid's region or renewable preference.
    #[codec(index = 1)]
    NoneSuits {
        /// The bid's region.
        region: Option<Region>,
        /// The bid's renewable preference.
        renewable_only: bool,
    },
    /// Every suitable offer asks more than the bid's max price.
    #[codec(index = 2)]
    PriceBelowCheapest {
        /// The bid's max price per Mfuel.
        max_price: Balance,
        /// The cheapest suitable ask per Mfuel.
        cheapest: Balance,
        /// The bid's region.
        region: Option<Region>,
        /// The bid's renewable preference.
        renewable_only: bool,
    },
    /// No suitable, affordable offer has that much capacity at all.
    #[codec(index = 3)]
    TooLarge {
        /// The bid's max fuel.
        max_fuel: Fuel,
        /// The largest capacity among suitable offers within the max price.
        largest_capacity: Fuel,
    },
    /// The block cleared at a price above the bid's max.
    #[codec(index = 4)]
    BelowClearingPrice {
        /// The bid's max price per Mfuel.
        max_price: Balance,
        /// The block's clearing price per Mfuel.
        clearing_price: Balance,
    },
    /// Suitable, affordable offers are full with jobs in flight (or their providers' stake is
    /// committed); the bid keeps its place in the queue.
    #[codec(index = 5)]
    OffersBusy,
    /// A suitable offer was free but asked more than this block's clearing price, which every
    /// match of a block shares.
    #[codec(index = 6)]
    OnePricePerBlock {
        /// The block's clearing price per Mfuel.
        clearing_price: Balance,
    },
    /// The block made its maximum number of matches.
    #[codec(index = 7)]
    BlockFull,
}

fn describe_offer_kind(region: &Option<Region>, renewable_only: bool) -> String {
    let energy = if renewable_only { "renewable " } else { "" };
    match region {
        Some(region) => format!("{energy}offer in {region}"),
        None => format!("{energy}offer"),
    }
}

impl Unmatched {
    /// The reason in words a buyer can act on.
    pub fn describe(&self) -> String {
        match self {
            Unmatched::NoOffers => "no compute is offered right now".to_owned(),
            Unmatched::NoneSuits {
                region,
                renewable_only,
            } => format!(
                "there is no open {}",
                describe_offer_kind(region, *renewable_only)
            ),
            Unmatched::PriceBelowCheapest {
                max_price,
                cheapest,
                region,
                renewable_only,
            } => format!(
                "max price {} AGR/Mfuel is below the cheapest {}, {}",
                format_agr(*max_price),
                describe_offer_kind(region, *renewable_only),
                format_agr(*cheapest)
            ),
            Unmatched::TooLarge {
                max_fuel,
                largest_capacity,
            } => format!(
                "max fuel {} is more than any suitable offer can take (largest capacity {})",
                format_mfuel(*max_fuel),
                format_mfuel(*largest_capacity)
            ),
            Unmatched::BelowClearingPrice {
                max_price,
                clearing_price,
            } => format!(
                "max price {} AGR/Mfuel is below this block's clearing price, {}",
                format_agr(*max_price),
                format_agr(*clearing_price)
            ),
            Unmatched::OffersBusy => {
                "every suitable offer within your max price is busy; the bid keeps its place in the queue"
                    .to_owned()
            }
            Unmatched::OnePricePerBlock { clearing_price } => format!(
                "the suitable offers still free ask more than this block's clearing price, {} AGR/Mfuel (one price per block); the bid stays queued",
                format_agr(*clearing_price)
            ),
            Unmatched::BlockFull => {
                "this block made its maximum number of matches; the bid stays queued".to_owned()
            }
        }
    }
}

/// A bid turned into a job: everything the jobs pallet needs.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Matched {
    /// The bid's id, which the job keeps.
    pub bid: BidId,
    /// The buyer.
    pub buyer: AccountId,
    /// The job.
    pub spec: JobSpec,
    /// The bid's terms.
    pub terms: BidTerms,
    /// Escrow still reserved on the buyer.
    pub escrow: Balance,
    /// Block the bid was placed.
    pub placed_at: BlockNumber,
    /// The offer it went to.
    pub offer: OfferId,
    /// The worker's account.
    pub provider: AccountId,
    /// The block's clearing price per Mfuel.
    pub price: Balance,
    /// Stake committed by the provider for this job.
    pub collateral: Balance,
}

/// What the market needs from the rest of the runtime.
pub trait MarketHooks {
    /// Whether `hash` names a registered blob a bid may refer to.
    fn blob_known(state: &Ext<'_>, hash: &Hash) -> bool;
    /// A bid referring to `spec`'s blobs entered the book: they must be kept while it lives.
    fn on_bid_placed(ext: &mut Ext<'_>, spec: &JobSpec);
    /// A bid left the book without a match (cancelled or expired): its blobs may go.
    fn on_bid_dropped(ext: &mut Ext<'_>, spec: &JobSpec);
    /// A bid was matched; the job is the hook's from now on (escrow, collateral and the
    /// blobs' references included).
    fn on_matched(ext: &mut Ext<'_>, matched: Matched);
}

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
    /// Fewest blocks a worker may be given to run a job.
    const MIN_RUN_BLOCKS: u32;
    /// Smallest collateral an offer may put up per job.
    const MIN_COLLATERAL: Balance;
    /// Added to every bid's escrow to pay the verifiers.
    const VERIFICATION_ESCROW: Balance;
    /// Clearing records kept.
    const CLEARING_HISTORY: u32;
    /// Match records kept (for queue-time statistics).
    const RECENT_MATCHES: u32;
    /// Blob registry and job hand-over.
    type Hooks: MarketHooks;
}

// ---------------------------------------------------------------------------------------------
// Events

/// Why an offer closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, serde::Serialize)]
pub enum CloseReason {
    /// Its provider cancelled it.
    #[codec(index = 0)]
    Cancelled,
    /// It reached its expiry block.
    #[codec(index = 1)]
    Expired,
}

/// Events of the market pallet.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, serde::Serialize)]
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
    /// A bid can no longer meet its deadline; the escrow was refunded.
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
    /// A block's auction matched bids.
    #[codec(index = 6)]
    Cleared {
        /// Clearing price per Mfuel.
        price: Balance,
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
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
    #[error("the provider's uncommitted stake is below the offer's collateral; bond more first")]
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
    /// Zero steps, zero segment length, or too many segments.
    #[error("the job's steps and segment length must be non-zero and give at most the maximum number of segments")]
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
    #[error("the free balance cannot cover the bid's escrow")]
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
});

// ---------------------------------------------------------------------------------------------
// Storage

/// One block's auction result.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, serde::Serialize)]
pub struct ClearingRecord {
    /// The block.
    pub block: BlockNumber,
    /// Clearing price per Mfuel.
    pub price: Balance,
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
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, serde::Serialize)]
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

macro_rules! storage_instance {
    ($name:ident, $item:literal) => {
        #[doc = concat!("Storage instance of `Market::", $item, "`.")]
        pub struct $name;
        impl StorageInstance for $name {
            const PALLET: &'static str = "Market";
            const ITEM: &'static str = $item;
        }
    };
}
storage_instance!(OffersPrefix, "Offers");
storage_instance!(OpenOffersPrefix, "OpenOffers");
storage_instance!(OffersOfPrefix, "OffersOf");
storage_instance!(NextOfferIdPrefix, "NextOfferId");
storage_instance!(BidsPrefix, "Bids");
storage_instance!(BidSpecsPrefix, "BidSpecs");
storage_instance!(OpenBidsPrefix, "OpenBids");
storage_instance!(BidsOfPrefix, "BidsOf");
storage_instance!(NextBidIdPrefix, "NextBidId");
storage_instance!(CompletedJobsPrefix, "CompletedJobs");
storage_instance!(ClearingsPrefix, "Clearings");
storage_instance!(RecentMatchesPrefix, "RecentMatches");

/// `OfferId → Offer`: open offers, and closed ones with jobs in flight.
pub type Offers = StorageMap<OffersPrefix, OfferId, Offer>;
/// Ids of open offers, in posting order (bounded by `MAX_OPEN_OFFERS`).
pub type OpenOffers = StorageValue<OpenOffersPrefix, Vec<OfferId>>;
/// Offer records per provider.
pub type OffersOf = StorageMap<OffersOfPrefix, AccountId, u32>;
/// Next offer id.
pub type NextOfferId = StorageValue<NextOfferIdPrefix, OfferId>;
/// `BidId → Bid`: open bids.
pub type Bids = StorageMap<BidsPrefix, BidId, Bid>;
/// `BidId → JobSpec` of open bids (kept apart: the auction never reads it).
pub type BidSpecs = StorageMap<BidSpecsPrefix, BidId, JobSpec>;
/// Ids of open bids, in placement order (bounded by `MAX_OPEN_BIDS`).
pub type OpenBids = StorageValue<OpenBidsPrefix, Vec<BidId>>;
/// Open bids per account.
pub type BidsOf = StorageMap<BidsOfPrefix, AccountId, u32>;
/// Next bid id (bid ids are job ids).
pub type NextBidId = StorageValue<NextBidIdPrefix, BidId>;
/// Jobs each buyer has seen settled; fewer than `NEWCOMER_JOBS` makes a newcomer.
pub type CompletedJobs = StorageMap<CompletedJobsPrefix, AccountId, u32>;
/// The last `CLEARING_HISTORY` blocks that matched anything, oldest first.
pub type Clearings = StorageValue<ClearingsPrefix, Vec<ClearingRecord>>;
/// The last `RECENT_MATCHES` matches, oldest first.
pub type RecentMatches = StorageValue<RecentMatchesPrefix, Vec<MatchRecord>>;

// ---------------------------------------------------------------------------------------------
// Pallet

/// The market pallet.
pub struct Pallet<T>(PhantomData<T>);

type Balances<T> = pallet_balances::Pallet<T>;
type Staking<T> = pallet_staking::Pallet<T>;
type System<T> = pallet_system::Pallet<T>;

fn to_usize(n: u32) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// Appends to a bounded history, dropping the oldest entries.
fn push_bounded<V>(list: &mut Vec<V>, items: impl IntoIterator<Item = V>, bound: u32) {
    list.extend(items);
    let excess = list.len().saturating_sub(to_usize(bound));
    list.drain(..excess);
}

impl<T: Config> Pallet<T> {
    fn error(error: Error) -> DispatchError {
        error.into_dispatch(T::MARKET_PALLET_INDEX)
    }

    fn deposit_event(ext: &mut Ext<'_>, event: Event) {
        ext.deposit_event(T::MARKET_PALLET_INDEX, &event);
    }

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

    /// Recent matches, oldest first.
    pub fn recent_matches(state: &impl StateRead) -> Vec<MatchRecord> {
        RecentMatches::get(state).unwrap_or_default()
    }

    /// Whether `who` counts as a newcomer.
    pub fn is_newcomer(state: &impl StateRead, who: &AccountId) -> bool {
        CompletedJobs::get(state, who).unwrap_or(0) < T::NEWCOMER_JOBS
    }

    /// What a bid with these terms reserves.
    pub fn escrow_for(terms: &BidTerms) -> Option<Balance> {
        fuel_cost(terms.max_price, terms.max_fuel)?.checked_add(T::VERIFICATION_ESCROW)
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
        if price == 0 {
            return Err(Self::error(Error::ZeroPrice));
        }
        if capacity == 0 {
            return Err(Self::error(Error::ZeroCapacity));
        }
        if !region.is_valid() {
            return Err(Self::error(Error::BadRegion));
        }
        if expires_at <= now {
            return Err(Self::error(Error::ExpiryNotInFuture));
        }
        if collateral < T::MIN_COLLATERAL {
            return Err(Self::error(Error::CollateralTooLow));
        }
        if Staking::<T>::available(ext, provider) < collateral {
            return Err(Self::error(Error::InsufficientStake));
        }
        let count = OffersOf::get(ext, provider).unwrap_or(0);
        if count >= T::MAX_OFFERS_PER_PROVIDER {
            return Err(Self::error(Error::TooManyOffers));
        }
        let mut open = Self::open_offers(ext);
        if open.len() >= to_usize(T::MAX_OPEN_OFFERS) {
            return Err(Self::error(Error::OfferBookFull));
        }
        let id = NextOfferId::get(ext).unwrap_or(0);
        NextOfferId::put(ext, &id.saturating_add(1));
        open.push(id);
        OpenOffers::put(ext, &open);
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
        if offer.provider != *who {
            return Err(Self::error(Error::NotOfferOwner));
        }
        if !offer.open {
            return Err(Self::error(Error::OfferClosed));
        }
        let mut open = Self::open_offers(ext);
        open.retain(|other| *other != id);
        OpenOffers::put(ext, &open);
        Self::close_offer(ext, id, offer, CloseReason::Cancelled);
        Ok(())
    }

    /// Marks an offer closed (already removed from `OpenOffers`), dropping it if idle.
    fn close_offer(ext: &mut Ext<'_>, id: OfferId, mut offer: Offer, reason: CloseReason) {
        offer.open = false;
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
        if count == 0 {
            OffersOf::remove(ext, provider);
        } else {
            OffersOf::insert(ext, provider, &count);
        }
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

    /// A buyer's job settled: one more completed job (newcomer status fades).
    pub fn note_completed(ext: &mut Ext<'_>, buyer: &AccountId) {
        let done = CompletedJobs::get(ext, buyer).unwrap_or(0);
        // Past the newcomer threshold the count no longer matters; stop writing.
        if done < T::NEWCOMER_JOBS {
            CompletedJobs::insert(ext, buyer, &done.saturating_add(1));
        }
    }

    // --- bids --------------------------------------------------------------------------------

    /// Places a bid and reserves its escrow. All-or-nothing.
    pub fn place_bid(
        ext: &mut Ext<'_>,
        buyer: &AccountId,
        spec: JobSpec,
        terms: BidTerms,
    ) -> DispatchResult {
        let now = System::<T>::block_number(ext);
        if terms.max_price == 0 {
            return Err(Self::error(Error::ZeroPrice));
        }
        if terms.max_fuel == 0 {
            return Err(Self::error(Error::ZeroFuel));
        }
        if terms.max_fuel > T::MAX_JOB_FUEL {
            return Err(Self::error(Error::FuelTooLarge));
        }
        if terms
            .region
            .as_ref()
            .is_some_and(|region| !region.is_valid())
        {
            return Err(Self::error(Error::BadRegion));
        }
        if spec.steps == 0 || spec.segment_steps == 0 || spec.segments() > T::MAX_SEGMENTS {
            return Err(Self::error(Error::BadJobShape));
        }
        if spec.params.len() > to_usize(T::MAX_PARAMS_LEN) {
            return Err(Self::error(Error::ParamsTooLong));
        }
        if !T::Hooks::blob_known(ext, &spec.module) {
            return Err(Self::error(Error::UnknownModule));
        }
        if !T::Hooks::blob_known(ext, &spec.dataset) {
            return Err(Self::error(Error::UnknownDataset));
        }
        if terms.run_blocks < T::MIN_RUN_BLOCKS {
            return Err(Self::error(Error::RunWindowTooShort));
        }
        // Matched at the earliest in this block's clearing.
        if now.saturating_add(u64::from(terms.run_blocks)) > terms.deadline {
            return Err(Self::error(Error::DeadlineTooSoon));
        }
        let escrow = Self::escrow_for(&terms).ok_or(Self::error(Error::Overflow))?;
        let count = BidsOf::get(ext, buyer).unwrap_or(0);
        if count >= T::MAX_BIDS_PER_ACCOUNT {
            return Err(Self::error(Error::TooManyBids));
        }
        let open = Self::open_bids(ext);
        if open.len() >= to_usize(T::MAX_OPEN_BIDS) {
            return Err(Self::error(Error::BidBookFull));
        }
        Balances::<T>::reserve(ext, buyer, escrow)
            .map_err(|_| Self::error(Error::CannotPayEscrow))?;
        let id = NextBidId::get(ext).unwrap_or(0);
        NextBidId::put(ext, &id.saturating_add(1));
        let (max_price, max_fuel) = (terms.max_price, terms.max_fuel);
        let bid = Bid {
            buyer: *buyer,
            terms,
            escrow,
            placed_at: now,
            unmatched: None,
        };
        Self::insert_bid(ext, id, &bid, &spec, open);
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

    fn insert_bid(ext: &mut Ext<'_>, id: BidId, bid: &Bid, spec: &JobSpec, mut open: Vec<BidId>) {
        open.push(id);
        OpenBids::put(ext, &open);
        let count = BidsOf::get(ext, &bid.buyer).unwrap_or(0);
        BidsOf::insert(ext, &bid.buyer, &count.saturating_add(1));
        Bids::insert(ext, &id, bid);
        BidSpecs::insert(ext, &id, spec);
    }

    /// Removes an open bid's records (the caller has taken it out of `OpenBids`) and returns
    /// its job spec.
    fn remove_bid(ext: &mut Ext<'_>, id: BidId, buyer: &AccountId) -> JobSpec {
        Bids::remove(ext, &id);
        let spec = BidSpecs::get(ext, &id).expect("every open bid has its spec");
        BidSpecs::remove(ext, &id);
        let count = BidsOf::get(ext, buyer).unwrap_or(0).saturating_sub(1);
        if count == 0 {
            BidsOf::remove(ext, buyer);
        } else {
            BidsOf::insert(ext, buyer, &count);
        }
        spec
    }

    /// Cancels an open bid and refunds its escrow.
    pub fn cancel_bid(ext: &mut Ext<'_>, who: &AccountId, id: BidId) -> DispatchResult {
        let bid = Bids::get(ext, &id).ok_or(Self::error(Error::UnknownBid))?;
        if bid.buyer != *who {
            return Err(Self::error(Error::NotBidOwner));
        }
        let mut open = Self::open_bids(ext);
        open.retain(|other| *other != id);
        OpenBids::put(ext, &open);
        let spec = Self::remove_bid(ext, id, who);
        T::Hooks::on_bid_dropped(ext, &spec);
        let left = Balances::<T>::unreserve(ext, who, bid.escrow);
        assert!(
            left == 0,
            "market invariant broken: escrow of bid {id} was not reserved"
        );
        Self::deposit_event(
            ext,
            Event::BidCancelled {
                bid: id,
                refund: bid.escrow,
            },
        );
        Ok(())
    }

    /// Puts a matched bid back into the queue (a worker missed its deadline and the buyer
    /// asked for a requeue). Returns false, leaving everything to the caller, when the bid
    /// could no longer meet its deadline or the book is full.
    pub fn requeue(ext: &mut Ext<'_>, matched: &Matched) -> bool {
        let now = System::<T>::block_number(ext);
        let open = Self::open_bids(ext);
        let fits_deadline = now
            .saturating_add(1)
            .saturating_add(u64::from(matched.terms.run_blocks))
            <= matched.terms.deadline;
        if !fits_deadline
            || open.len() >= to_usize(T::MAX_OPEN_BIDS)
            || BidsOf::get(ext, &matched.buyer).unwrap_or(0) >= T::MAX_BIDS_PER_ACCOUNT
        {
            return false;
        }
        let bid = Bid {
            buyer: matched.buyer,
            terms: matched.terms.clone(),
            escrow: matched.escrow,
            placed_at: matched.placed_at,
            unmatched: None,
        };
        Self::insert_bid(ext, matched.bid, &bid, &matched.spec, open);
        Self::deposit_event(ext, Event::BidRequeued { bid: matched.bid });
        true
    }

    // --- hooks -------------------------------------------------------------------------------

    /// End of block: expire offers and bids, then run the auction. Returns the weight used.
    pub fn on_finalize(ext: &mut Ext<'_>) -> Weight {
        let now = System::<T>::block_number(ext);

        // Offers past their expiry.
        let mut offers = Vec::new();
        let mut open_offers = Vec::new();
        let offers_before = Self::open_offers(ext);
        for id in offers_before.iter().copied() {
            let Some(offer) = Offers::get(ext, &id) else {
                continue;
            };
            if offer.expires_at <= now {
                Self::close_offer(ext, id, offer, CloseReason::Expired);
            } else {
                open_offers.push(id);
                offers.push((id, offer));
            }
        }
        if open_offers != offers_before {
            OpenOffers::put(ext, &open_offers);
        }

        // Bids that no worker could finish in time any more.
        let mut bids = Vec::new();
        let mut open_bids = Vec::new();
        let before = Self::open_bids(ext);
        for id in &before {
            let Some(bid) = Bids::get(ext, id) else {
                continue;
            };
            if now.saturating_add(u64::from(bid.terms.run_blocks)) > bid.terms.deadline {
                let spec = Self::remove_bid(ext, *id, &bid.buyer);
                T::Hooks::on_bid_dropped(ext, &spec);
                let left = Balances::<T>::unreserve(ext, &bid.buyer, bid.escrow);
                assert!(
                    left == 0,
                    "market invariant broken: escrow of bid {id} was not reserved"
                );
                Self::deposit_event(
                    ext,
                    Event::BidExpired {
                        bid: *id,
                        refund: bid.escrow,
                    },
                );
            } else {
                open_bids.push(*id);
                bids.push((*id, bid));
            }
        }

        // The auction.
        let book_bids: Vec<clearing::BookBid> = bids
            .iter()
            .map(|(id, bid)| clearing::BookBid {
                id: *id,
                max_price: bid.terms.max_price,
                max_fuel: bid.terms.max_fuel,
                region: bid.terms.region.clone(),
                renewable_only: bid.terms.renewable_only,
                newcomer: Self::is_newcomer(ext, &bid.buyer),
            })
            .collect();
        let mut stake = BTreeMap::new();
        let book_offers: Vec<clearing::BookOffer> = offers
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
        let outcome = clearing::clear(
            &book_bids,
            &book_offers,
            &stake,
            clearing::Params {
                newcomer_share_percent: T::NEWCOMER_SHARE_PERCENT,
                max_matches: to_usize(T::MAX_MATCHES_PER_BLOCK),
            },
        );

        let newcomers: BTreeSet<BidId> = book_bids
            .iter()
            .filter(|bid| bid.newcomer)
            .map(|bid| bid.id)
            .collect();
        let mut bids_by_id: BTreeMap<BidId, Bid> = bids.into_iter().collect();
        let mut offers_by_id: BTreeMap<OfferId, Offer> = offers.into_iter().collect();
        let mut records = Vec::with_capacity(outcome.matches.len());
        let (mut fuel, mut renewable_fuel) = (0u64, 0u64);
        let price = outcome.price.unwrap_or(0);
        for (bid_id, offer_id) in &outcome.matches {
            let (Some(bid), Some(offer)) =
                (bids_by_id.remove(bid_id), offers_by_id.get_mut(offer_id))
            else {
                continue;
            };
            offer.in_flight = offer.in_flight.saturating_add(bid.terms.max_fuel);
            Offers::insert(ext, offer_id, offer);
            Staking::<T>::commit(ext, &offer.provider, offer.collateral)
                .expect("the auction only matches offers whose provider has the collateral");
            let spec = Self::remove_bid(ext, *bid_id, &bid.buyer);
            let waited = now.saturating_sub(bid.placed_at);
            fuel = fuel.saturating_add(bid.terms.max_fuel);
            if offer.energy == Energy::Renewable {
                renewable_fuel = renewable_fuel.saturating_add(bid.terms.max_fuel);
            }
            records.push(MatchRecord {
                bid: *bid_id,
                block: now,
                waited,
                region: offer.region.clone(),
                energy: offer.energy,
                fuel: bid.terms.max_fuel,
                newcomer: newcomers.contains(bid_id),
            });
            Self::deposit_event(
                ext,
                Event::BidMatched {
                    bid: *bid_id,
                    offer: *offer_id,
                    provider: offer.provider,
                    price,
                    waited,
                },
            );
            T::Hooks::on_matched(
                ext,
                Matched {
                    bid: *bid_id,
                    buyer: bid.buyer,
                    spec,
                    terms: bid.terms,
                    escrow: bid.escrow,
                    placed_at: bid.placed_at,
                    offer: *offer_id,
                    provider: offer.provider,
                    price,
                    collateral: offer.collateral,
                },
            );
        }

        // Reasons for the bids left open, written only when they changed.
        for (id, reason) in &outcome.unmatched {
            if let Some(bid) = bids_by_id.get_mut(id) {
                if bid.unmatched.as_ref() != Some(reason) {
                    bid.unmatched = Some(reason.clone());
                    Bids::insert(ext, id, bid);
                }
            }
        }
        let still_open: Vec<BidId> = open_bids
            .into_iter()
            .filter(|id| bids_by_id.contains_key(id))
            .collect();
        if still_open != before {
            OpenBids::put(ext, &still_open);
        }

        let matched = u32::try_from(outcome.matches.len()).unwrap_or(u32::MAX);
        let open = u32::try_from(still_open.len()).unwrap_or(u32::MAX);
        if matched > 0 {
            let mut history = Self::clearings(ext);
            push_bounded(
                &mut history,
                [ClearingRecord {
                    block: now,
                    price,
                    matched,
                    fuel,
                    renewable_fuel,
                    open,
                }],
                T::CLEARING_HISTORY,
            );
            Clearings::put(ext, &history);
            let mut recent = Self::recent_matches(ext);
            push_bounded(&mut recent, records, T::RECENT_MATCHES);
            RecentMatches::put(ext, &recent);
            Self::deposit_event(
                ext,
                Event::Cleared {
                    price,
                    matched,
                    fuel,
                    open,
                },
            );
        }
        weights::on_finalize(book_bids.len(), book_offers.len(), outcome.matches.len())
    }

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

    /// Checks the pallet's invariants over a whole state. Run after every test.
    pub fn try_state(state: &impl StateIter) -> Result<(), String> {
        // Bids.
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
            *escrow = escrow.saturating_add(bid.escrow);
            let count = bids_of.entry(bid.buyer).or_default();
            *count = count.saturating_add(1);
        }
        for (buyer, escrow) in &escrow_of {
            let reserved = Balances::<T>::reserved_balance(state, buyer);
            if reserved < *escrow {
                return Err(format!(
                    "{buyer} has {escrow} in open escrow but only {reserved} reserved"
                ));
            }
        }
        let counted: BTreeMap<AccountId, u32> = BidsOf::iter(state).into_iter().collect();
        if counted != bids_of {
            return Err(format!(
                "BidsOf {counted:?} differs from the bids {bids_of:?}"
            ));
        }
        // Offers.
        let open_offers = Self::open_offers(state);
        if open_offers.len() > to_usize(T::MAX_OPEN_OFFERS) {
            return Err(format!("{} open offers, over the bound", open_offers.len()));
        }
        let listed: BTreeSet<OfferId> = open_offers.iter().copied().collect();
        if listed.len() != open_offers.len() {
            return Err("OpenOffers lists an offer twice".to_owned());
        }
        let mut offers_of: BTreeMap<AccountId, u32> = BTreeMap::new();
        for (id, offer) in Offers::iter(state) {
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
        let counted: BTreeMap<AccountId, u32> = OffersOf::iter(state).into_iter().collect();
        if counted != offers_of {
            return Err(format!(
                "OffersOf {counted:?} differs from the offers {offers_of:?}"
            ));
        }
        if Self::clearings(state).len() > to_usize(T::CLEARING_HISTORY)
            || Self::recent_matches(state).len() > to_usize(T::RECENT_MATCHES)
        {
            return Err("market history over its bound".to_owned());
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Calls

/// Calls of the market pallet.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
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
