//! `agora market`: the order book, recent clearing prices, queue-time percentiles per region
//! and the renewable share of matched fuel; every open bid with the reason it is still open.
//!
//! Prices are AGR per Mfuel (10⁶ fuel units), capacities and fuel in Mfuel; JSON amounts are
//! decimal AGR strings and fuel is in units.

use agora_client::chain::State;
use agora_client::rpc::Rpc;
pub use agora_rpc_api::views::{
    BidRow, ClearingRow, MarketReport, MarketState, OfferRow, QueueTimes,
};
use pallet_market::format_mfuel;

use crate::cli::CliError;
use crate::commands::Text;

/// An offer on one line.
pub trait OfferLine {
    /// The offer on one line, with its collateral or without.
    fn line(&self, collateral: bool) -> String;
}

impl OfferLine for OfferRow {
    fn line(&self, collateral: bool) -> String {
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

/// The clearings `agora market` shows.
const RECENT_CLEARINGS: usize = 10;

/// Reads the market.
pub async fn market(rpc: &Rpc) -> Result<MarketReport, CliError> {
    let state = State::best(rpc);
    let market = MarketState {
        block: state.block_number().await?,
        offers: state.open_offers().await?,
        bids: state.open_bids().await?,
        clearings: state.clearings().await?,
        matches: state.recent_matches().await?,
    };
    Ok(MarketReport::new(&market, RECENT_CLEARINGS))
}

impl Text for MarketReport {
    fn text(&self) -> String {
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
