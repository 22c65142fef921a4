//! The market as people read it: `agora_market`, `agora market` and the dashboard's market
//! page. Prices are decimal AGR strings per Mfuel (10⁶ fuel units); capacities and fuel are in
//! fuel units.

use std::collections::BTreeMap;

use agora_primitives::{format_agr, AccountId, BlockNumber};
use pallet_market::{Bid, BidId, ClearingRecord, Energy, Fuel, MatchRecord, Offer, OfferId};
use serde::{Deserialize, Serialize};

/// One open offer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OfferRow {
    /// Id.
    pub id: u64,
    /// Provider.
    pub provider: AccountId,
    /// AGR per Mfuel.
    pub price: String,
    /// Capacity (in JSON: Mfuel).
    #[serde(with = "crate::views::mfuel")]
    pub capacity: Fuel,
    /// Free capacity (in JSON: Mfuel).
    #[serde(with = "crate::views::mfuel")]
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
    /// The row of offer `id`.
    pub fn new(id: OfferId, o: &Offer) -> Self {
        OfferRow {
            id,
            provider: o.provider,
            price: format_agr(o.price),
            capacity: o.capacity,
            free: o.capacity.saturating_sub(o.in_flight),
            region: o.region.to_string(),
            energy: o.energy,
            collateral: format_agr(o.collateral),
            expires_at: o.expires_at,
        }
    }
}

/// One open bid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BidRow {
    /// Id (the job's).
    pub id: u64,
    /// Buyer.
    pub buyer: AccountId,
    /// Max AGR per Mfuel.
    pub max_price: String,
    /// Max fuel (in JSON: Mfuel).
    #[serde(with = "crate::views::mfuel")]
    pub max_fuel: Fuel,
    /// Blocks waited so far.
    pub waited: BlockNumber,
    /// Region preference.
    pub region: Option<String>,
    /// Renewable only.
    pub renewable_only: bool,
    /// Why it is still open, in words (`None` before its first clearing).
    pub reason: Option<String>,
    /// Stake the job needs its worker to commit, at least, AGR.
    pub collateral: String,
    /// Escrow reserved, AGR.
    pub escrow: String,
}

impl BidRow {
    /// The row of bid `id` at block `now`.
    pub fn new(id: BidId, b: &Bid, now: BlockNumber) -> Self {
        BidRow {
            id,
            buyer: b.buyer,
            max_price: format_agr(b.terms.max_price),
            max_fuel: b.terms.max_fuel,
            waited: now.saturating_sub(b.placed_at),
            region: b.terms.region.as_ref().map(ToString::to_string),
            renewable_only: b.terms.renewable_only,
            reason: b.unmatched.as_ref().map(pallet_market::Unmatched::describe),
            collateral: format_agr(b.collateral),
            escrow: format_agr(b.escrow),
        }
    }
}

/// Queue-time percentiles of one region, in blocks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

/// One block's clearing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClearingRow {
    /// Block.
    pub block: BlockNumber,
    /// AGR per Mfuel.
    pub price: String,
    /// The newcomer pool's price, AGR per Mfuel, if it matched anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newcomer_price: Option<String>,
    /// Bids matched.
    pub matched: u32,
    /// Fuel matched (in JSON: Mfuel).
    #[serde(with = "crate::views::mfuel")]
    pub fuel: Fuel,
}

/// The market at one block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    /// Share of recently matched fuel sold by renewable offers, percent (`None`: no match in
    /// the clearings held).
    pub renewable_share_percent: Option<f64>,
    /// Share of recently matched fuel bought by newcomers, percent (`None`: no recent match).
    #[serde(default)]
    pub newcomer_share_percent: Option<f64>,
}

/// The `p`-th percentile of `sorted` by the nearest-rank rule (0 when empty).
pub fn percentile(sorted: &[BlockNumber], p: usize) -> BlockNumber {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (sorted.len().saturating_mul(p)).div_ceil(100).max(1);
    sorted
        .get(rank.saturating_sub(1).min(sorted.len().saturating_sub(1)))
        .copied()
        .unwrap_or(0)
}

/// `part` as a percentage of `whole` (`None` when `whole` is 0).
#[allow(clippy::cast_precision_loss)]
fn share(part: u128, whole: u128) -> Option<f64> {
    (whole > 0).then(|| part as f64 * 100.0 / whole as f64)
}

/// What the market's state holds at one block, as read from storage.
pub struct MarketState {
    /// The block.
    pub block: BlockNumber,
    /// Open offers.
    pub offers: Vec<(OfferId, Offer)>,
    /// Open bids.
    pub bids: Vec<(BidId, Bid)>,
    /// Clearing records, oldest first.
    pub clearings: Vec<ClearingRecord>,
    /// Recent matches, oldest first.
    pub matches: Vec<MatchRecord>,
}

impl MarketReport {
    /// The report of `state`, with its `recent` newest clearings.
    pub fn new(state: &MarketState, recent: usize) -> Self {
        let mut offers: Vec<(u128, OfferRow)> = state
            .offers
            .iter()
            .map(|(id, o)| (o.price, OfferRow::new(*id, o)))
            .collect();
        offers.sort_by_key(|(price, row)| (*price, row.id));
        let mut bids: Vec<(u128, BidRow)> = state
            .bids
            .iter()
            .map(|(id, b)| (b.terms.max_price, BidRow::new(*id, b, state.block)))
            .collect();
        bids.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.id.cmp(&b.1.id)));
        let history = &state.clearings;
        let renewable: u128 = history.iter().map(|c| u128::from(c.renewable_fuel)).sum();
        let total: u128 = history.iter().map(|c| u128::from(c.fuel)).sum();
        let clearings = history
            .iter()
            .rev()
            .take(recent)
            .map(|c| ClearingRow {
                block: c.block,
                price: format_agr(c.price),
                newcomer_price: c.newcomer_price.map(format_agr),
                matched: c.matched,
                fuel: c.fuel,
            })
            .collect();
        let mut waits: BTreeMap<String, Vec<BlockNumber>> = BTreeMap::new();
        for m in &state.matches {
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
        let matched: u128 = state.matches.iter().map(|m| u128::from(m.fuel)).sum();
        let newcomer: u128 = state
            .matches
            .iter()
            .filter(|m| m.newcomer)
            .map(|m| u128::from(m.fuel))
            .sum();
        MarketReport {
            block: state.block,
            offers: offers.into_iter().map(|(_, row)| row).collect(),
            bids: bids.into_iter().map(|(_, row)| row).collect(),
            clearings,
            queue_times,
            renewable_share_percent: share(renewable, total),
            newcomer_share_percent: share(newcomer, matched),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_queue_times() {
        let waits = [0, 0, 1, 1, 2, 3, 5, 8, 13, 21];
        assert_eq!(percentile(&waits, 50), 2);
        assert_eq!(percentile(&waits, 90), 13);
        assert_eq!(percentile(&[], 50), 0);
    }

    #[test]
    fn shares_are_none_without_matches_and_exact_with_them() {
        assert_eq!(share(0, 0), None);
        assert_eq!(share(1, 4), Some(25.0));
    }
}
