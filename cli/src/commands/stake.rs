//! `agora stake bond|unbond --key SURI --amount AGR`, `agora stake withdraw --key SURI`: stake
//! backs offers (collateral is committed per job) and spot checks.

use agora_client::amount::{format_agr, parse_agr};
use agora_client::chain::State;
use agora_client::rpc::Rpc;
use agora_client::tx;
use agora_primitives::{AccountId, BlockNumber};
use clap::{Args, Subcommand};
use parity_scale_codec::Compact;
use serde::Serialize;

use crate::args::KeyArgs;
use crate::cli::CliError;

/// `agora stake …`
#[derive(Debug, Subcommand)]
pub enum StakeCommand {
    /// Bond free balance as stake.
    Bond(StakeArgs),
    /// Start unbonding uncommitted stake (withdrawable after the unbonding delay).
    Unbond(StakeArgs),
    /// Withdraw stake whose unbonding delay has passed.
    Withdraw(KeyArgs),
}

/// `agora stake bond|unbond …`
#[derive(Debug, Args)]
pub struct StakeArgs {
    /// The staker.
    #[command(flatten)]
    pub staker: KeyArgs,
    /// Amount in AGR.
    #[arg(long, value_name = "AGR")]
    pub amount: String,
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

/// Signs a staking `call` with `key`, sends it and waits for its finalized inclusion; returns
/// the signer's account and the inclusion. `what` names the transaction in errors.
pub async fn send(
    rpc: &Rpc,
    key: &KeyArgs,
    call: pallet_staking::Call,
    what: &'static str,
) -> Result<(AccountId, tx::Sent), CliError> {
    let signer = key.signer()?;
    let sent = tx::send(
        rpc,
        &signer,
        agora_runtime::RuntimeCall::Staking(call),
        what,
        tx::DEFAULT_TIMEOUT,
    )
    .await?;
    Ok((signer.agora_account(), sent))
}

/// Runs a stake command.
pub async fn stake(rpc: &Rpc, command: &StakeCommand) -> Result<StakeReport, CliError> {
    let (staker, call, what) = match command {
        StakeCommand::Bond(args) => {
            let amount = Compact(parse_agr(&args.amount)?);
            (&args.staker, pallet_staking::Call::Bond { amount }, "bond")
        }
        StakeCommand::Unbond(args) => {
            let amount = Compact(parse_agr(&args.amount)?);
            (
                &args.staker,
                pallet_staking::Call::Unbond { amount },
                "unbond",
            )
        }
        StakeCommand::Withdraw(staker) => {
            (staker, pallet_staking::Call::WithdrawUnbonded, "withdrawal")
        }
    };
    let (who, sent) = send(rpc, staker, call, what).await?;
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
