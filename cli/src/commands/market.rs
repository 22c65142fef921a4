//! `agora market`: the order book, recent clearing prices, queue-time percentiles per region
//! and the renewable share of matched fuel; every open bid with the reason it is still open.
//!
//! Prices are AGR per Mfuel (10⁶ fuel units), capacities and fuel in Mfuel; JSON amounts are
//! decimal AGR strings and fuel is in units.

use std::collections::BTreeMap;

use agora_client::amount::{format_agr, parse_agr};
use agora_client::chain::State;
use agora_client::rpc::Rpc;
use agora_primitives::{AccountId, BlockNumber};
use pallet_market::{format_mfuel, Energy, Fuel};
use serde::Serialize;

use crate::cli::CliError;

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

impl OfferRow {
    /// The offer on one line, with its collateral or without.
    pub fn line(&self, collateral: bool) -> String {
        let collateral = if collateral {
            format!("  collateral {} AGR", self.collateral)
        } else {
            String::new()
        };
        format!(
            "#{:<4} {:>10} AGR/Mfuel  free {} of {}  {} {:?}{collateral}  by {}",
            self.id,
            self.price,
            format_mfuel(self.free),
            format_mfuel(self.capacity),
            self.region,
            self.energy,
            self.provider
        )
    }
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
    /// Stake the job needs its worker to commit, at least, AGR.
    pub collateral: String,
    /// Escrow reserved, AGR.
    pub escrow: String,
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
    /// The newcomer pool's price, AGR per Mfuel, if it matched anything.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub newcomer_price: Option<String>,
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
                    collateral: format_agr(b.collateral),
                    escrow: format_agr(b.escrow),
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
            newcomer_price: c.newcomer_price.map(format_agr),
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
            out.push_str(&format!("  {}\n", o.line(true)));
        }
        out.push_str(&format!("\nBids ({} open):\n", self.bids.len()));
        for b in &self.bids {
            out.push_str(&format!(
                "  #{:<4} max {:>10} AGR/Mfuel  {}  escrow {} AGR  collateral {} AGR  waited {} blocks  {}\n",
                b.id,
                b.max_price,
                format_mfuel(b.max_fuel),
                b.escrow,
                b.collateral,
                b.waited,
                b.reason
                    .as_deref()
                    .unwrap_or("waiting for the next clearing")
            ));
        }
        out.push_str("\nRecent clearing prices:\n");
        for c in &self.clearings {
            let newcomers = c
                .newcomer_price
                .as_ref()
                .map(|p| format!(" (newcomer pool {p})"))
                .unwrap_or_default();
            out.push_str(&format!(
                "  block #{:<6} {:>10} AGR/Mfuel{newcomers}  {} bids, {}\n",
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn percentiles_of_queue_times() {
        let waits = [0, 0, 1, 1, 2, 3, 5, 8, 13, 21];
        assert_eq!(percentile(&waits, 50), 2);
        assert_eq!(percentile(&waits, 90), 13);
        assert_eq!(percentile(&[], 50), 0);
    }
}
