//! Views: the ledger's state summarized for people, as `agora_market`, `agora_job`,
//! `agora_jobs`, `agora_chain` and `agora_account` answer it and the `agora` command line and
//! the node's dashboard show it. Each view is built here from the runtime's own types, once,
//! so the command line, the dashboard and scripts cannot disagree on what a figure means.
//!
//! One unit per quantity, in JSON as in text: amounts are decimal AGR strings (a JSON number
//! could not hold a u128 of plancks exactly in JavaScript); prices are AGR per Mfuel (10⁶ fuel
//! units); fuel is decimal Mfuel strings (`"991.89047"`: exact, as a bid's `--max-fuel` is
//! typed); times are blocks.

mod chain;
mod job;
mod market;

/// Serde for a fuel amount as a decimal Mfuel string (`pallet_market::mfuel_decimal`), and
/// back (`pallet_market::parse_mfuel`): `#[serde(with = "crate::views::mfuel")]`.
pub(crate) mod mfuel {
    use pallet_market::Fuel;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(fuel: &Fuel, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&pallet_market::mfuel_decimal(*fuel))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Fuel, D::Error> {
        let text = String::deserialize(d)?;
        pallet_market::parse_mfuel(&text).ok_or_else(|| {
            serde::de::Error::custom(format!("'{text}' is not a decimal number of Mfuel"))
        })
    }
}

pub use chain::{AccountReport, BlockRow, ChainReport, ValidatorRow, RECENT_BLOCKS};
pub use job::{
    describe_closed, no_model, stage_of, AssuranceReport, AuditReport, CheckReport,
    DeclarationReport, DismissalReport, DisputeReport, ForfeitureReport, JobReport, JobState,
    MachineDependenceReport, ModelReport, ReceiptReport, RefutationReport, RepaymentReport, Stage,
};
pub use market::{
    percentile, BidRow, ClearingRow, MarketReport, MarketState, OfferRow, QueueTimes,
};

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// `job submit` names the escrow floor when a bid is at it, and why: without it a buyer of
    /// a small job saw ~93 AGR reserved with no reason given.
    #[test]
    fn the_escrow_line_explains_the_floor() {
        let floor = <agora_runtime::Runtime as pallet_market::Config>::MIN_BID_ESCROW;
        let at = AssuranceReport::escrow_line(floor);
        assert!(
            at.contains(&agora_primitives::format_agr(floor)) && at.contains("unrunnable"),
            "{at}"
        );
        let above = AssuranceReport::escrow_line(floor + 5 * agora_primitives::AGR);
        assert!(
            above.contains(&agora_primitives::format_agr(
                floor + 5 * agora_primitives::AGR
            )) && !above.contains("unrunnable"),
            "{above}"
        );
    }

    /// Fuel goes out as the decimal Mfuel a buyer types and comes back exactly; anything else
    /// is refused naming it.
    #[test]
    fn fuel_travels_as_exact_decimal_mfuel() {
        let row = ClearingRow {
            block: 7,
            price: "0.001".into(),
            newcomer_price: None,
            matched: 1,
            fuel: 991_890_470,
        };
        let json = serde_json::to_value(&row).unwrap();
        assert_eq!(json["fuel"], "991.89047");
        assert_eq!(serde_json::from_value::<ClearingRow>(json).unwrap(), row);
        let one = serde_json::json!({"block": 1, "price": "1", "matched": 0, "fuel": "0.000001"});
        assert_eq!(serde_json::from_value::<ClearingRow>(one).unwrap().fuel, 1);
        for bad in [
            serde_json::json!("1.0000001"),
            serde_json::json!(5),
            serde_json::json!("x"),
        ] {
            let row = serde_json::json!({"block": 1, "price": "1", "matched": 0, "fuel": bad});
            let error = serde_json::from_value::<ClearingRow>(row)
                .unwrap_err()
                .to_string();
            assert!(!error.is_empty());
        }
    }
}
