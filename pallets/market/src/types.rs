//! The market's records and the words it explains them in: regions, energy, job specs, bid
//! terms, bids, offers, why a bid is unmatched, and what a match hands to the jobs pallet.

use agora_primitives::storage::Ext;
use agora_primitives::{format_agr, AccountId, Balance, BlockNumber, Hash};
use parity_scale_codec::{Decode, Encode};
use scale_info::TypeInfo;
use serde::{Deserialize, Serialize};
use std::fmt;

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
    format!("{} Mfuel", mfuel_decimal(fuel))
}

/// Fuel as a decimal number of Mfuel, exactly (at most 6 decimals, no trailing zeros):
/// `2_500_000` → `"2.5"`. What JSON output carries, as it carries AGR as decimal strings.
pub fn mfuel_decimal(fuel: Fuel) -> String {
    let whole = fuel.checked_div(FUEL_PER_MFUEL).unwrap_or(0);
    let frac = fuel.checked_rem(FUEL_PER_MFUEL).unwrap_or(0);
    if frac == 0 {
        format!("{whole}")
    } else {
        let digits = format!("{frac:06}");
        format!("{whole}.{}", digits.trim_end_matches('0'))
    }
}

/// Parses a decimal number of Mfuel with at most 6 decimals (`"2.5"`, `"0.000001"`, `"7"`)
/// into fuel; `None` for anything else or an amount past `u64`.
pub fn parse_mfuel(text: &str) -> Option<Fuel> {
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    if (whole.is_empty() && frac.is_empty()) || frac.len() > 6 || !digits(whole) || !digits(frac) {
        return None;
    }
    let whole: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let frac: u64 = format!("{frac:0<6}").parse().ok()?;
    whole.checked_mul(FUEL_PER_MFUEL)?.checked_add(frac)
}

/// A region name: 1–16 characters of `a–z`, `0–9` and `-` (e.g. `eu-west`).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode, TypeInfo)]
pub struct Region(pub(crate) Vec<u8>);

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
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Encode,
    Decode,
    Serialize,
    Deserialize,
    TypeInfo,
)]
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
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, TypeInfo)]
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

    /// Training steps in segment `index`: `segment_steps`, fewer in a short last segment, none
    /// past the end.
    pub fn steps_in(&self, index: u64) -> u64 {
        let done = index.saturating_mul(self.segment_steps);
        self.steps.saturating_sub(done).min(self.segment_steps)
    }

    /// What the referee runs for `task` of this job, each engine call within `fuel_limit`.
    pub fn referee_request(
        &self,
        task: agora_primitives::referee::RefereeTask,
        fuel_limit: Fuel,
    ) -> agora_primitives::referee::RefereeRequest {
        agora_primitives::referee::RefereeRequest {
            module: self.module,
            dataset: self.dataset,
            params: self.params.clone(),
            seed: self.seed,
            task,
            fuel_limit,
        }
    }
}

/// What a buyer is willing to pay and wait for.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, TypeInfo)]
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
    /// The buyer's assurance level: segments drawn uniformly for checking per thousand
    /// (besides the last and the worker's heaviest), 1–1000; 0 takes the runtime's default
    /// (`SAMPLE_PERMILLE`). More checks cost more verification escrow and need less worker
    /// collateral ([`crate::assurance`]).
    pub assurance_permille: u32,
    /// Verifiers drawn to re-execute each sampled segment, 1 to `MAX_VERIFIERS_PER_SEGMENT`;
    /// 0 takes the runtime's default (`VERIFIERS_PER_SEGMENT`). One honest verifier among them
    /// is enough to catch a forged segment, so more of them protect the buyer against a
    /// verifier who attests without checking or who sides with the worker; each costs another
    /// check's fee in escrow ([`crate::assurance`]).
    pub assurance_verifiers: u32,
}

/// An open bid.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, TypeInfo)]
pub struct Bid {
    /// Who pays.
    pub buyer: AccountId,
    /// Price, fuel, time and preferences.
    pub terms: BidTerms,
    /// Reserved from the buyer's balance.
    pub escrow: Balance,
    /// Stake the worker that takes it must commit, at least: the job's collateral from its
    /// [`crate::assurance`] (an offer asking more commits its own).
    pub collateral: Balance,
    /// Block the bid was first placed in (queue time counts from here).
    pub placed_at: BlockNumber,
    /// Why the last clearing did not match it (none before its first clearing).
    pub unmatched: Option<Unmatched>,
    /// Reserved beside the escrow: the rent for every block from `placed_at` to the deadline.
    /// The blocks it was open are burned when it leaves the book, the rest refunded (a
    /// requeued bid has none: its requeue was the worker's doing).
    pub rent_deposit: Balance,
    /// First of the consecutive clearings in which no open offer could serve it (it expires
    /// `UNSERVED_BID_BLOCKS` later).
    pub unserved_since: Option<BlockNumber>,
}

/// How a bid left the book without a match.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, Serialize, TypeInfo)]
pub enum BidEnd {
    /// Its buyer cancelled it.
    #[codec(index = 0)]
    Cancelled,
    /// No worker matched now could commit by its deadline any more.
    #[codec(index = 1)]
    Expired,
    /// No open offer could serve it for `UNSERVED_BID_BLOCKS` clearings in a row.
    #[codec(index = 2)]
    Unserved,
}

/// A bid that left the book without a match, kept `CLOSED_BID_RETENTION` blocks so that
/// `job status` can say what became of it.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, TypeInfo)]
pub struct ClosedBid {
    /// The buyer.
    pub buyer: AccountId,
    /// How it ended.
    pub end: BidEnd,
    /// The block it ended in.
    pub at: BlockNumber,
    /// Escrow refunded.
    pub refund: Balance,
    /// Rent burned for the blocks it was open (the rest of its rent deposit was refunded).
    pub rent: Balance,
}

/// An offer of compute.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, TypeInfo)]
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
    /// Stake committed while it is open; its rent is burned from it when it closes, the rest
    /// released.
    pub bond: Balance,
}

/// Why an open bid was not matched in the last clearing, with the numbers that matter.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, TypeInfo)]
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
    /// No suitable, affordable provider has the job's collateral in uncommitted stake.
    #[codec(index = 8)]
    CollateralShort {
        /// The stake the job needs its worker to commit.
        collateral: Balance,
        /// The most uncommitted stake among suitable, affordable providers.
        most_stake: Balance,
    },
    /// Every offer the bid's preferences accept is the buyer's own (an account never matches
    /// itself).
    #[codec(index = 9)]
    OnlyOwnOffers,
}

fn describe_offer_kind(region: &Option<Region>, renewable_only: bool) -> String {
    let energy = if renewable_only { "renewable " } else { "" };
    match region {
        Some(region) => format!("{energy}offer in {region}"),
        None => format!("{energy}offer"),
    }
}

impl Unmatched {
    /// Whether no open offer could serve the bid whatever the price: none open, none in its
    /// region or energy, none but its buyer's own, none large enough. Such a bid expires after
    /// `UNSERVED_BID_BLOCKS` of it.
    pub fn is_unserved(&self) -> bool {
        matches!(
            self,
            Unmatched::NoOffers
                | Unmatched::NoneSuits { .. }
                | Unmatched::OnlyOwnOffers
                | Unmatched::TooLarge { .. }
        )
    }

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
            Unmatched::CollateralShort {
                collateral,
                most_stake,
            } => format!(
                "the job needs {} AGR of worker collateral (sized to its max pay and its checks) and no suitable provider has that much stake free (most: {} AGR); a smaller max fuel or max price needs less",
                format_agr(*collateral),
                format_agr(*most_stake)
            ),
            Unmatched::OnlyOwnOffers => {
                "every offer that suits the bid is the buyer's own; an account never matches \
                 itself"
                    .to_owned()
            }
        }
    }
}

/// A bid turned into a job: everything the jobs pallet needs.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
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
