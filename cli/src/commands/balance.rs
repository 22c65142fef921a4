//! `agora balance ADDRESS|SURI`: free, reserved and total balance in AGR, and the nonce.
//! JSON: `{"address", "free", "reserved", "total", "nonce"}`, amounts as decimal AGR strings.

use agora_client::amount::format_agr;
use agora_client::keys::{self, Scheme};
use agora_client::rpc::{AccountBalance, Rpc};
use agora_primitives::{AccountId, Nonce};
use serde::Serialize;

use crate::cli::CliError;

/// What `agora balance` prints. JSON amounts are decimal AGR strings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BalanceReport {
    /// SS58 address.
    pub address: AccountId,
    /// Spendable balance, decimal AGR.
    pub free: String,
    /// Reserved balance, decimal AGR.
    pub reserved: String,
    /// Free plus reserved, decimal AGR.
    pub total: String,
    /// Nonce in state.
    pub nonce: Nonce,
}

impl From<AccountBalance> for BalanceReport {
    fn from(balance: AccountBalance) -> Self {
        BalanceReport {
            address: balance.address,
            free: format_agr(balance.free),
            reserved: format_agr(balance.reserved),
            total: format_agr(balance.total),
            nonce: balance.nonce,
        }
    }
}

impl BalanceReport {
    /// Human-readable rendering.
    pub fn text(&self) -> String {
        format!(
            "Address:   {}\nFree:      {} AGR\nReserved:  {} AGR\nTotal:     {} AGR\nNonce:     {}\n",
            self.address, self.free, self.reserved, self.total, self.nonce
        )
    }
}

/// Reads the balance of `who` (an address or a SURI of `scheme`).
pub async fn balance(url: &str, who: &str, scheme: Scheme) -> Result<BalanceReport, CliError> {
    let account = keys::to_agora_account(&keys::parse_address(who, scheme)?);
    let rpc = Rpc::connect(url).await?;
    Ok(rpc.balance(&account).await?.into())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const BOB: &str = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty";

    #[test]
    fn balance_json_shape() {
        let report = BalanceReport::from(AccountBalance {
            address: BOB.parse().unwrap(),
            free: 1_000_001_500_000_000_000,
            reserved: 0,
            total: u128::MAX,
            nonce: 4,
        });
        assert_eq!(
            serde_json::to_value(&report).unwrap(),
            serde_json::json!({
                "address": BOB,
                "free": "1000001.5",
                "reserved": "0",
                "total": "340282366920938463463374607.431768211455",
                "nonce": 4,
            })
        );
        assert!(report.text().contains("Free:      1000001.5 AGR\n"));
    }
}
