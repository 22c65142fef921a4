//! A provider's offer: its terms parsed and checked ([`OfferTerms::plan`]) and posted
//! ([`post_offer`]). Prices are AGR per Mfuel (10⁶ fuel units), capacities in Mfuel.

use pallet_market::{Energy, Fuel, Region};
use parity_scale_codec::Compact;

use crate::amount::parse_agr;
use crate::chain::State;
use crate::keys::Signer;
use crate::rpc::Rpc;
use crate::{tx, Error};

/// Parses a decimal Mfuel amount ("2.5" → 2,500,000 fuel).
pub fn parse_mfuel(text: &str) -> Result<Fuel, Error> {
    pallet_market::parse_mfuel(text).ok_or_else(|| {
        Error::Invalid(format!(
            "'{text}' is not a fuel amount: expected Mfuel as a decimal number with at most 6 decimals, e.g. 2.5"
        ))
    })
}

/// Parses a region name.
pub fn parse_region(text: &str) -> Result<Region, Error> {
    Region::new(text).ok_or_else(|| {
        Error::Invalid(format!(
            "'{text}' is not a region: use 1-16 characters of a-z, 0-9 and '-', e.g. eu-west"
        ))
    })
}

/// Parses an energy source: `renewable` or `grid`.
pub fn parse_energy(text: &str) -> Result<Energy, Error> {
    match text {
        "renewable" => Ok(Energy::Renewable),
        "grid" => Ok(Energy::Grid),
        _ => Err(Error::Invalid(format!(
            "'{text}' is not an energy source: use renewable or grid"
        ))),
    }
}

/// An offer's terms as a person writes them (decimal AGR, decimal Mfuel, a region name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferTerms {
    /// Ask in AGR per Mfuel.
    pub price: String,
    /// Most Mfuel of jobs in flight at once.
    pub capacity: String,
    /// Region of the machines.
    pub region: String,
    /// Energy source.
    pub energy: Energy,
    /// Stake committed per job, AGR.
    pub collateral: String,
    /// Blocks until the offer expires.
    pub expires_in: u64,
}

impl OfferTerms {
    /// Checks the terms: every amount parses, price and capacity are not zero, the region is
    /// a valid name.
    pub fn plan(&self) -> Result<OfferPlan, Error> {
        let price = parse_agr(&self.price)?;
        if price == 0 {
            return Err(Error::Invalid(format!(
                "--price {} is zero: an offer must ask a price",
                self.price
            )));
        }
        let capacity = parse_mfuel(&self.capacity)?;
        if capacity == 0 {
            return Err(Error::Invalid(format!(
                "--capacity {} is zero: an offer must have capacity",
                self.capacity
            )));
        }
        Ok(OfferPlan {
            price,
            capacity,
            region: parse_region(&self.region)?,
            energy: self.energy,
            collateral: parse_agr(&self.collateral)?,
            expires_in: self.expires_in,
        })
    }
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

/// Posts an offer; returns its id.
pub async fn post_offer(rpc: &Rpc, signer: &Signer, plan: &OfferPlan) -> Result<u64, Error> {
    let now = State::finalized(rpc).await?.block_number().await?;
    let call = agora_runtime::RuntimeCall::Market(pallet_market::Call::PostOffer {
        price: Compact(plan.price),
        capacity: Compact(plan.capacity),
        region: plan.region.clone(),
        energy: plan.energy,
        collateral: Compact(plan.collateral),
        expires_at: Compact(now.saturating_add(plan.expires_in)),
    });
    let sent = tx::send(rpc, signer, call, "offer", tx::DEFAULT_TIMEOUT).await?;
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
        .ok_or_else(|| Error::Unexpected("the offer was accepted but is not in the book".into()))
}

/// Cancels the provider's open offer `id` and waits for its finality.
pub async fn cancel_offer(rpc: &Rpc, signer: &Signer, id: u64) -> Result<(), Error> {
    let call =
        agora_runtime::RuntimeCall::Market(pallet_market::Call::CancelOffer { offer: Compact(id) });
    tx::send(rpc, signer, call, "offer cancellation", tx::DEFAULT_TIMEOUT).await?;
    Ok(())
}

/// An offer in words: ask, capacity, region, energy, collateral.
pub fn describe_offer(offer: &pallet_market::Offer) -> String {
    format!(
        "{} AGR/Mfuel, capacity {}, {}, {:?}, collateral {} AGR",
        crate::amount::format_agr(offer.price),
        pallet_market::format_mfuel(offer.capacity),
        offer.region,
        offer.energy,
        crate::amount::format_agr(offer.collateral)
    )
}

/// The daemon's offer flags that an open `offer` does not match, in words.
pub fn offer_differences(offer: &pallet_market::Offer, plan: &OfferPlan) -> Vec<String> {
    let agr = crate::amount::format_agr;
    let mut out = Vec::new();
    if offer.price != plan.price {
        out.push(format!(
            "--price {} vs {}",
            agr(plan.price),
            agr(offer.price)
        ));
    }
    if offer.capacity != plan.capacity {
        out.push(format!(
            "--capacity {} vs {}",
            pallet_market::format_mfuel(plan.capacity),
            pallet_market::format_mfuel(offer.capacity)
        ));
    }
    if offer.region != plan.region {
        out.push(format!("--region {} vs {}", plan.region, offer.region));
    }
    if offer.energy != plan.energy {
        out.push(format!("--energy {:?} vs {:?}", plan.energy, offer.energy));
    }
    if offer.collateral != plan.collateral {
        out.push(format!(
            "--collateral {} vs {}",
            agr(plan.collateral),
            agr(offer.collateral)
        ));
    }
    out
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
    fn terms_with_zero_price_or_capacity_are_refused() {
        let terms = OfferTerms {
            price: "0.001".into(),
            capacity: "5".into(),
            region: "eu-west".into(),
            energy: Energy::Grid,
            collateral: "10".into(),
            expires_in: 100,
        };
        let plan = terms.plan().unwrap();
        assert_eq!(plan.capacity, 5 * pallet_market::FUEL_PER_MFUEL);
        let zero = OfferTerms {
            price: "0".into(),
            ..terms.clone()
        };
        assert!(zero
            .plan()
            .unwrap_err()
            .to_string()
            .contains("--price 0 is zero"));
        let nowhere = OfferTerms {
            region: "Not A Region".into(),
            ..terms
        };
        assert!(nowhere
            .plan()
            .unwrap_err()
            .to_string()
            .contains("'Not A Region' is not a region"));
    }
}
