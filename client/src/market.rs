//! `agora stake …`, `agora offer …` and `agora market`: the provider's side of the market and
//! its public record.
//!
//! - `stake bond|unbond --key SURI --amount AGR`, `stake withdraw --key SURI`: stake backs
//!   offers (collateral is committed per job) and spot checks.
//! - `offer post --key SURI --price AGR --capacity MFUEL --region R [--energy renewable|grid]
//!   --collateral AGR [--expires-in BLOCKS]`, `offer list`, `offer cancel --key SURI ID`.
//! - `market`: the order book, recent clearing prices, queue-time percentiles per region and the
//!   renewable share of matched fuel; every open bid with the reason it is still open.
//!
//! Prices are AGR per Mfuel (10⁶ fuel units), capacities and fuel in Mfuel; JSON amounts are
//! decimal AGR strings and fuel is in units.

use std::collections::BTreeMap;
use std::time::Duration;

use agora_primitives::{AccountId, BlockNumber};
use clap::{Args, Subcommand, ValueEnum};
use pallet_market::{format_mfuel, Energy, Fuel, Region, FUEL_PER_MFUEL};
use parity_scale_codec::Compact;
use serde::Serialize;

use crate::amount::{format_agr, parse_agr};
use crate::chain::State;
use crate::cli::CliError;
use crate::keys::{Scheme, Signer};
use crate::rpc::Rpc;
use crate::tx;

/// Default wait for a transaction to be finalized.
pub const TX_TIMEOUT: Duration = Duration::from_secs(120);

/// Parses a decimal Mfuel amount ("2.5" → 2,500,000 fuel).
pub fn parse_mfuel(text: &str) -> Result<Fuel, CliError> {
    let bad = || {
        CliError::InvalidJob(format!(
            "'{text}' is not a fuel amount: expected Mfuel as a decimal number with at most 6 decimals, e.g. 2.5"
        ))
    };
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() && frac.is_empty() || frac.len() > 6 {
        return Err(bad());
    }
    if !whole
        .chars()
        .chain(frac.chars())
        .all(|c| c.is_ascii_digit())
    {
        return Err(bad());
    }
    let whole: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| bad())?
    };
    let padded = format!("{frac:0<6}");
    let frac: u64 = padded.parse().map_err(|_| bad())?;
    whole
        .checked_mul(FUEL_PER_MFUEL)
        .and_then(|w| w.checked_add(frac))
        .ok_or_else(bad)
}

/// Energy source on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EnergyArg {
    /// Renewable sources.
    Renewable,
    /// The grid mix.
    Grid,
}

impl From<EnergyArg> for Energy {
    fn from(arg: EnergyArg) -> Energy {
        match arg {
            EnergyArg::Renewable => Energy::Renewable,
            EnergyArg::Grid => Energy::Grid,
        }
    }
}

/// Parses a region name.
pub fn parse_region(text: &str) -> Result<Region, CliError> {
    Region::new(text).ok_or_else(|| {
        CliError::InvalidJob(format!(
            "'{text}' is not a region: use 1-16 characters of a-z, 0-9 and '-', e.g. eu-west"
        ))
    })
}

/// `agora stake …`
#[derive(Debug, Subcommand)]
pub enum StakeCommand {
    /// Bond free balance as stake.
    Bond(StakeArgs),
    /// Start unbonding uncommitted stake (withdrawable after the unbonding delay).
    Unbond(StakeArgs),
    /// Withdraw stake whose unbonding delay has passed.
    Withdraw {
        /// SURI of the staker.
        #[arg(long, value_name = "SURI")]
        key: String,
        /// Signature scheme of the key.
        #[arg(long, value_enum, default_value = "sr25519")]
        scheme: Scheme,
    },
}

/// `agora stake bond|unbond …`
#[derive(Debug, Args)]
pub struct StakeArgs {
    /// SURI of the staker.
    #[arg(long, value_name = "SURI")]
    pub key: String,
    /// Amount in AGR.
    #[arg(long, value_name = "AGR")]
    pub amount: String,
    /// Signature scheme of the key.
    #[arg(long, value_enum, default_value = "sr25519")]
    pub scheme: Scheme,
}

/// `agora offer …`
#[derive(Debug, Subcommand)]
pub enum OfferCommand {
    /// Post an offer of compute.
    Post(OfferArgs),
    /// List the open offers.
    List,
    /// Cancel an offer (jobs in flight run to the end).
    Cancel {
        /// SURI of the provider.
        #[arg(long, value_name = "SURI")]
        key: String,
        /// The offer's id.
        id: u64,
        /// Signature scheme of the key.
        #[arg(long, value_enum, default_value = "sr25519")]
        scheme: Scheme,
    },
}

/// `agora offer post …`
#[derive(Debug, Args, Clone)]
pub struct OfferArgs {
    /// SURI of the provider (needs uncommitted stake of at least the collateral).
    #[arg(long, value_name = "SURI")]
    pub key: String,
    /// Ask in AGR per Mfuel.
    #[arg(long, value_name = "AGR")]
    pub price: String,
    /// Most Mfuel of jobs in flight at once.
    #[arg(long, value_name = "MFUEL")]
    pub capacity: String,
    /// Region of the machines, e.g. eu-west.
    #[arg(long, value_name = "REGION", default_value = "local")]
    pub region: String,
    /// Energy source.
    #[arg(long, value_enum, default_value = "renewable")]
    pub energy: EnergyArg,
    /// Stake committed per job taken (slashed if the job's deadline is missed), in AGR.
    #[arg(long, value_name = "AGR", default_value = "10")]
    pub collateral: String,
    /// Blocks until the offer expires.
    #[arg(long, value_name = "BLOCKS", default_value_t = 100_000)]
    pub expires_in: u64,
    /// Signature scheme of the key.
    #[arg(long, value_enum, default_value = "sr25519")]
    pub scheme: Scheme,
}

/// An offer checked and ready to post.
#[derive(Debug, Clone)]
pub struct OfferPlan {
    /// Ask per Mfuel.
    pub price: u128,
    /// Capacity, fuel.
    pub capacity: Fuel,
    /// Region.
    pub region: Region,
    /// Energy.
    pub energy: Energy,
    /// Collateral per job.
    pub collateral: u128,
    /// Blocks until expiry.
    pub expires_in: u64,
}

impl OfferArgs {
    /// Checks the arguments.
    pub fn plan(&self) -> Result<OfferPlan, CliError> {
        let price = parse_agr(&self.price)?;
        if price == 0 {
            return Err(CliError::InvalidJob(format!(
                "--price {} is zero: an offer must ask a price",
                self.price
            )));
        }
        let capacity = parse_mfuel(&self.capacity)?;
        if capacity == 0 {
            return Err(CliError::InvalidJob(format!(
                "--capacity {} is zero: an offer must have capacity",
                self.capacity
            )));
        }
        Ok(OfferPlan {
            price,
            capacity,
            region: parse_region(&self.region)?,
            energy: self.energy.into(),
            collateral: parse_agr(&self.collateral)?,
            expires_in: self.expires_in,
        })
    }
}

/// Posts an offer; returns its id.
pub async fn post_offer(rpc: &Rpc, signer: &Signer, plan: &OfferPlan) -> Result<u64, CliError> {
    let now = State::finalized(rpc).await?.block_number().await?;
    let call = agora_runtime::RuntimeCall::Market(pallet_market::Call::PostOffer {
        price: Compact(plan.price),
        capacity: Compact(plan.capacity),
        region: plan.region.clone(),
        energy: plan.energy,
        collateral: Compact(plan.collateral),
        expires_at: Compact(now.saturating_add(plan.expires_in)),
    });
    let sent = tx::send(rpc, signer, call, "offer", TX_TIMEOUT).await?;
    let me = signer.agora_account();
    // The new offer is the provider's newest open one in the block that carried it.
    let state = State::at(rpc, sent.inclusion.block_hash);
    state
        .open_offers()
        .await?
        .into_iter()
        .filter(|(_, offer)| offer.provider == me)
        .map(|(id, _)| id)
        .max()
        .ok_or_else(|| CliError::InvalidJob("the offer was accepted but is not in the book".into()))
}

/// One offer as printed.
#[derive(Debug, Clone, Serialize)]
pub struct OfferRow {
    /// Id.
    pub id: u64,
    /// Provider.
    pub provider: AccountId,
    /// AGR per Mfuel.
    pub price: String,
    /// Capacity, fuel.
    pub capacity: Fuel,
    /// Free capacity, fuel.
    pub free: Fuel,
    /// Region.
    pub region: String,
    /// Energy.
    pub energy: Energy,
    /// Collateral per job, AGR.
    pub collateral: String,
    /// Expiry block.
    pub expires_at: BlockNumber,
}

/// One open bid as printed.
#[derive(Debug, Clone, Serialize)]
pub struct BidRow {
    /// Id (the job's).
    pub id: u64,
    /// Buyer.
    pub buyer: AccountId,
    /// Max AGR per Mfuel.
    pub max_price: String,
    /// Max fuel.
    pub max_fuel: Fuel,
    /// Blocks waited so far.
    pub waited: BlockNumber,
    /// Region preference.
    pub region: Option<String>,
    /// Renewable only.
    pub renewable_only: bool,
    /// Why it is still open, in words.
    pub reason: Option<String>,
}

/// Queue-time percentiles of one region, in blocks.
#[derive(Debug, Clone, Serialize)]
pub struct QueueTimes {
    /// Region.
    pub region: String,
    /// Matches counted.
    pub matches: usize,
    /// Median wait.
    pub p50: BlockNumber,
    /// 90th percentile.
    pub p90: BlockNumber,
    /// Longest.
    pub max: BlockNumber,
}

/// One clearing as printed.
#[derive(Debug, Clone, Serialize)]
pub struct ClearingRow {
    /// Block.
    pub block: BlockNumber,
    /// AGR per Mfuel.
    pub price: String,
    /// Bids matched.
    pub matched: u32,
    /// Fuel matched.
    pub fuel: Fuel,
}

/// What `agora market` prints.
#[derive(Debug, Clone, Serialize)]
pub struct MarketReport {
    /// Block of the state shown.
    pub block: BlockNumber,
    /// Open offers, cheapest first.
    pub offers: Vec<OfferRow>,
    /// Open bids, highest max price first.
    pub bids: Vec<BidRow>,
    /// The most recent clearings, newest first.
    pub clearings: Vec<ClearingRow>,
    /// Queue times per region over the recent matches.
    pub queue_times: Vec<QueueTimes>,
    /// Share of recently matched fuel sold by renewable offers, percent.
    pub renewable_share_percent: Option<f64>,
}

fn percentile(sorted: &[BlockNumber], p: usize) -> BlockNumber {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (sorted.len().saturating_mul(p)).div_ceil(100).max(1);
    sorted
        .get(rank.saturating_sub(1).min(sorted.len().saturating_sub(1)))
        .copied()
        .unwrap_or(0)
}

/// Reads the market.
pub async fn market(rpc: &Rpc) -> Result<MarketReport, CliError> {
    let state = State::best(rpc);
    let block = state.block_number().await?;
    let mut offers: Vec<OfferRow> = state
        .open_offers()
        .await?
        .into_iter()
        .map(|(id, o)| OfferRow {
            id,
            provider: o.provider,
            price: format_agr(o.price),
            capacity: o.capacity,
            free: o.capacity.saturating_sub(o.in_flight),
            region: o.region.to_string(),
            energy: o.energy,
            collateral: format_agr(o.collateral),
            expires_at: o.expires_at,
        })
        .collect();
    offers.sort_by_key(|o| (parse_agr(&o.price).unwrap_or(u128::MAX), o.id));
    let mut bids: Vec<(u128, BidRow)> = state
        .open_bids()
        .await?
        .into_iter()
        .map(|(id, b)| {
            (
                b.terms.max_price,
                BidRow {
                    id,
                    buyer: b.buyer,
                    max_price: format_agr(b.terms.max_price),
                    max_fuel: b.terms.max_fuel,
                    waited: block.saturating_sub(b.placed_at),
                    region: b.terms.region.as_ref().map(ToString::to_string),
                    renewable_only: b.terms.renewable_only,
                    reason: b.unmatched.as_ref().map(pallet_market::Unmatched::describe),
                },
            )
        })
        .collect();
    bids.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.id.cmp(&b.1.id)));
    let history = state.clearings().await?;
    let renewable: u128 = history.iter().map(|c| u128::from(c.renewable_fuel)).sum();
    let total: u128 = history.iter().map(|c| u128::from(c.fuel)).sum();
    #[allow(clippy::cast_precision_loss)]
    let renewable_share_percent = (total > 0).then(|| renewable as f64 * 100.0 / total as f64);
    let clearings = history
        .iter()
        .rev()
        .take(10)
        .map(|c| ClearingRow {
            block: c.block,
            price: format_agr(c.price),
            matched: c.matched,
            fuel: c.fuel,
        })
        .collect();
    let mut waits: BTreeMap<String, Vec<BlockNumber>> = BTreeMap::new();
    for m in state.recent_matches().await? {
        waits
            .entry(m.region.to_string())
            .or_default()
            .push(m.waited);
    }
    let queue_times = waits
        .into_iter()
        .map(|(region, mut w)| {
            w.sort_unstable();
            QueueTimes {
                region,
                matches: w.len(),
                p50: percentile(&w, 50),
                p90: percentile(&w, 90),
                max: w.last().copied().unwrap_or(0),
            }
        })
        .collect();
    Ok(MarketReport {
        block,
        offers,
        bids: bids.into_iter().map(|(_, row)| row).collect(),
        clearings,
        queue_times,
        renewable_share_percent,
    })
}

impl MarketReport {
    /// Human-readable rendering.
    pub fn text(&self) -> String {
        let mut out = format!(
            "Market at block #{}\n\nOffers ({} open):\n",
            self.block,
            self.offers.len()
        );
        for o in &self.offers {
            out.push_str(&format!(
                "  #{:<4} {:>10} AGR/Mfuel  free {} of {}  {} {:?}  collateral {} AGR  by {}\n",
                o.id,
                o.price,
                format_mfuel(o.free),
                format_mfuel(o.capacity),
                o.region,
                o.energy,
                o.collateral,
                o.provider
            ));
        }
        out.push_str(&format!("\nBids ({} open):\n", self.bids.len()));
        for b in &self.bids {
            out.push_str(&format!(
                "  #{:<4} max {:>10} AGR/Mfuel  {}  waited {} blocks  {}\n",
                b.id,
                b.max_price,
                format_mfuel(b.max_fuel),
                b.waited,
                b.reason
                    .as_deref()
                    .unwrap_or("waiting for the next clearing")
            ));
        }
        out.push_str("\nRecent clearing prices:\n");
        for c in &self.clearings {
            out.push_str(&format!(
                "  block #{:<6} {:>10} AGR/Mfuel  {} bids, {}\n",
                c.block,
                c.price,
                c.matched,
                format_mfuel(c.fuel)
            ));
        }
        out.push_str("\nQueue time (blocks from bid to match), recent matches:\n");
        for q in &self.queue_times {
            out.push_str(&format!(
                "  {:<16} p50 {}  p90 {}  max {}  ({} matches)\n",
                q.region, q.p50, q.p90, q.max, q.matches
            ));
        }
        match self.renewable_share_percent {
            Some(share) => {
                out.push_str(&format!("\nRenewable share of matched fuel: {share:.1}%\n"))
            }
            None => out.push_str("\nNo matches yet.\n"),
        }
        out
    }
}

/// What `stake …` prints.
#[derive(Debug, Clone, Serialize)]
pub struct StakeReport {
    /// The staker.
    pub who: AccountId,
    /// Active stake, AGR.
    pub active: String,
    /// Committed part, AGR.
    pub committed: String,
    /// Unbonding, AGR.
    pub unbonding: String,
    /// Block of the transaction.
    pub block_number: BlockNumber,
}

impl StakeReport {
    /// Human-readable rendering.
    pub fn text(&self) -> String {
        format!(
            "Stake of {} after block #{}: active {} AGR ({} committed), unbonding {} AGR\n",
            self.who, self.block_number, self.active, self.committed, self.unbonding
        )
    }
}

/// Runs a stake command.
pub async fn stake(rpc: &Rpc, command: &StakeCommand) -> Result<StakeReport, CliError> {
    let (key, scheme, call, what) = match command {
        StakeCommand::Bond(args) => (
            &args.key,
            args.scheme,
            pallet_staking::Call::Bond {
                amount: Compact(parse_agr(&args.amount)?),
            },
            "bond",
        ),
        StakeCommand::Unbond(args) => (
            &args.key,
            args.scheme,
            pallet_staking::Call::Unbond {
                amount: Compact(parse_agr(&args.amount)?),
            },
            "unbond",
        ),
        StakeCommand::Withdraw { key, scheme } => (
            key,
            *scheme,
            pallet_staking::Call::WithdrawUnbonded,
            "withdrawal",
        ),
    };
    let signer = Signer::from_suri(key, scheme)?;
    let sent = tx::send(
        rpc,
        &signer,
        agora_runtime::RuntimeCall::Staking(call),
        what,
        TX_TIMEOUT,
    )
    .await?;
    let who = signer.agora_account();
    let ledger = State::at(rpc, sent.inclusion.block_hash)
        .ledger(&who)
        .await?;
    let unbonding = ledger.unlocking.iter().map(|c| c.amount).sum();
    Ok(StakeReport {
        who,
        active: format_agr(ledger.active),
        committed: format_agr(ledger.committed),
        unbonding: format_agr(unbonding),
        block_number: sent.inclusion.block_number,
    })
}

/// What `offer post|cancel` prints.
#[derive(Debug, Clone, Serialize)]
pub struct OfferReport {
    /// The offer's id.
    pub offer: u64,
    /// "posted" or "cancelled".
    pub status: &'static str,
}

/// Runs an offer command.
pub async fn offer(rpc: &Rpc, command: &OfferCommand) -> Result<OfferOutput, CliError> {
    match command {
        OfferCommand::Post(args) => {
            let plan = args.plan()?;
            let signer = Signer::from_suri(&args.key, args.scheme)?;
            let id = post_offer(rpc, &signer, &plan).await?;
            Ok(OfferOutput::Done(OfferReport {
                offer: id,
                status: "posted",
            }))
        }
        OfferCommand::Cancel { key, id, scheme } => {
            let signer = Signer::from_suri(key, *scheme)?;
            let call = agora_runtime::RuntimeCall::Market(pallet_market::Call::CancelOffer {
                offer: Compact(*id),
            });
            tx::send(rpc, &signer, call, "offer cancellation", TX_TIMEOUT).await?;
            Ok(OfferOutput::Done(OfferReport {
                offer: *id,
                status: "cancelled",
            }))
        }
        OfferCommand::List => Ok(OfferOutput::List(market(rpc).await?.offers)),
    }
}

/// The output of an offer command.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum OfferOutput {
    /// A posted or cancelled offer.
    Done(OfferReport),
    /// The open offers.
    List(Vec<OfferRow>),
}

impl OfferOutput {
    /// Human-readable rendering.
    pub fn text(&self) -> String {
        match self {
            OfferOutput::Done(report) => format!("Offer #{} {}\n", report.offer, report.status),
            OfferOutput::List(rows) if rows.is_empty() => "No open offers.\n".to_owned(),
            OfferOutput::List(rows) => rows
                .iter()
                .map(|o| {
                    format!(
                        "#{:<4} {:>10} AGR/Mfuel  free {} of {}  {} {:?}  by {}\n",
                        o.id,
                        o.price,
                        format_mfuel(o.free),
                        format_mfuel(o.capacity),
                        o.region,
                        o.energy,
                        o.provider
                    )
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn mfuel_amounts_parse_exactly_and_bad_ones_are_named() {
        assert_eq!(parse_mfuel("2.5").unwrap(), 2_500_000);
        assert_eq!(parse_mfuel("0.000001").unwrap(), 1);
        assert_eq!(parse_mfuel("7").unwrap(), 7_000_000);
        for bad in ["", ".", "1.0000001", "-1", "1e3", "x"] {
            let error = parse_mfuel(bad).unwrap_err().to_string();
            assert!(error.contains(&format!("'{bad}'")), "{error}");
        }
    }

    #[test]
    fn percentiles_of_queue_times() {
        let waits = [0, 0, 1, 1, 2, 3, 5, 8, 13, 21];
        assert_eq!(percentile(&waits, 50), 2);
        assert_eq!(percentile(&waits, 90), 13);
        assert_eq!(percentile(&[], 50), 0);
    }
}
