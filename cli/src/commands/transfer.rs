//! `agora transfer (--from SURI | --from-file PATH) --to ADDRESS (--amount AGR | --all) [--tip AGR] [--no-wait]`:
//! signs a mortal transfer, submits it and (unless `--no-wait`) waits until it is finalized
//! and reads its outcome from the block's events. JSON: `{"extrinsic", "status", "block_hash",
//! "block_number", "from", "to", "amount", "fee"}` (`status` "finalized", or "submitted"
//! with `--no-wait`, which has no block fields). A transfer that fails in its block exits
//! non-zero with a sentence naming the runtime's error.

use std::time::Duration;

use agora_client::amount::{format_agr, parse_agr};
use agora_client::keys::{self, Scheme, Signer};
use agora_client::rpc::Rpc;
use agora_client::tx::{self, TransferAmount};
use agora_primitives::{AccountId, Balance, BlockNumber, Hash};
use clap::Args;
use serde::Serialize;

use crate::args::scheme_parser;
use crate::cli::CliError;

/// `agora transfer …`
#[derive(Debug, Args)]
pub struct TransferArgs {
    /// SURI of the sending key (//Alice, a mnemonic[//path][///password], 0x seed). Visible in
    /// `ps` and shell history: for anything but dev keys use --from-file.
    #[arg(
        long,
        value_name = "SURI",
        required_unless_present = "from_file",
        conflicts_with = "from_file"
    )]
    pub from: Option<String>,
    /// A file holding the sending key's SURI, readable by its owner only (mode 0600; `agora
    /// key generate --out PATH` writes one).
    #[arg(long, value_name = "PATH")]
    pub from_file: Option<std::path::PathBuf>,
    /// The recipient: SS58 address, 0x-prefixed public key, or SURI.
    #[arg(long, value_name = "ADDRESS")]
    pub to: String,
    /// Amount in AGR, e.g. 1.5 (required unless --all).
    #[arg(
        long,
        value_name = "AGR",
        required_unless_present = "all",
        conflicts_with = "all",
        allow_hyphen_values = true
    )]
    pub amount: Option<String>,
    /// Transfer the whole free balance after the fee, emptying the account (transfer_all).
    #[arg(long)]
    pub all: bool,
    /// Signature scheme of the --from key (and of --to when it is a SURI).
    #[arg(long, value_parser = scheme_parser(), default_value = "sr25519")]
    pub scheme: Scheme,
    /// Tip for the block author in AGR, on top of the fee; raises priority in the pool.
    #[arg(
        long,
        value_name = "AGR",
        default_value = "0",
        allow_hyphen_values = true
    )]
    pub tip: String,
    /// Print the extrinsic hash once the node accepts it, without waiting for finality.
    #[arg(long)]
    pub no_wait: bool,
    /// Give up waiting for finality after this many seconds.
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 120,
        value_parser = clap::value_parser!(u64).range(1..=3600)
    )]
    pub timeout: u64,
}

/// Status of a transfer in a [`TransferReport`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TransferStatus {
    /// Accepted by the node's pool (`--no-wait`).
    Submitted,
    /// Applied successfully in a finalized block.
    Finalized,
}

/// What `agora transfer` prints. JSON amounts are decimal AGR strings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TransferReport {
    /// The extrinsic's hash.
    pub extrinsic: Hash,
    /// "submitted" or "finalized".
    pub status: TransferStatus,
    /// The finalized block carrying it (absent with `--no-wait`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub block_hash: Option<Hash>,
    /// That block's number (absent with `--no-wait`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub block_number: Option<BlockNumber>,
    /// Sender, SS58.
    pub from: AccountId,
    /// Recipient, SS58.
    pub to: AccountId,
    /// Amount moved, decimal AGR; `null` for `--all --no-wait`, where it is not known yet.
    pub amount: Option<String>,
    /// Fee paid (tip included), decimal AGR.
    pub fee: String,
}

impl TransferReport {
    /// Human-readable rendering.
    pub fn text(&self) -> String {
        let amount = self.amount.as_deref().map_or_else(
            || "the whole free balance".to_owned(),
            |a| format!("{a} AGR"),
        );
        match (self.status, self.block_number, self.block_hash) {
            (TransferStatus::Finalized, Some(number), Some(hash)) => format!(
                "Transferred {amount} from {} to {} in block #{number} ({hash}), fee {} AGR\n",
                self.from, self.to, self.fee
            ),
            _ => format!(
                "Submitted {} (transfer of {amount} from {} to {}, fee {} AGR); not waiting for finality\n",
                self.extrinsic, self.from, self.to, self.fee
            ),
        }
    }
}

/// A transfer's arguments, checked.
struct TransferPlan {
    signer: Signer,
    from: AccountId,
    to: AccountId,
    amount: TransferAmount,
    tip: Balance,
}

fn plan_transfer(args: &TransferArgs) -> Result<TransferPlan, CliError> {
    let suri = agora_primitives::secret::suri_from(args.from.as_deref(), args.from_file.as_deref())
        .map_err(keys::KeyError::from)?
        // clap requires one of the two.
        .ok_or_else(|| {
            CliError::InvalidTransfer("neither --from nor --from-file was given".into())
        })?;
    let signer = Signer::from_suri(&suri, args.scheme)?;
    let from = signer.agora_account();
    let to = keys::to_agora_account(&keys::parse_address(&args.to, args.scheme)?);
    let amount = match (&args.amount, args.all) {
        (None, true) => TransferAmount::All,
        (Some(text), false) => {
            let plancks = parse_agr(text)?;
            if plancks == 0 {
                return Err(CliError::InvalidTransfer(format!(
                    "'{text}' is not a valid amount to transfer: it must be more than 0"
                )));
            }
            TransferAmount::Exact(plancks)
        }
        _ => {
            return Err(CliError::InvalidTransfer(
                "give either --amount AGR or --all, not both".to_owned(),
            ))
        }
    };
    if from == to {
        return Err(CliError::InvalidTransfer(format!(
            "cannot transfer from {from} to itself: --from and --to name the same account"
        )));
    }
    let tip = parse_agr(&args.tip)?;
    Ok(TransferPlan {
        signer,
        from,
        to,
        amount,
        tip,
    })
}

/// Signs and submits a transfer; unless `--no-wait`, waits for its finalized outcome.
pub async fn transfer(url: &str, args: &TransferArgs) -> Result<TransferReport, CliError> {
    let plan = plan_transfer(args)?;
    let requested = match plan.amount {
        TransferAmount::Exact(plancks) => Some(plancks),
        TransferAmount::All => None,
    };
    let rpc = Rpc::connect(url).await?;
    let context = tx::ChainContext::fetch(&rpc, &plan.from).await?;
    let signed = tx::sign(
        &plan.signer,
        tx::transfer_call(plan.to, plan.amount),
        &context,
        plan.tip,
    );
    if args.no_wait {
        rpc.submit(&signed.bytes).await?;
        return Ok(TransferReport {
            extrinsic: signed.hash,
            status: TransferStatus::Submitted,
            block_hash: None,
            block_number: None,
            from: plan.from,
            to: plan.to,
            amount: requested.map(format_agr),
            fee: format_agr(signed.fee),
        });
    }
    let pending = tx::submit(&rpc, &signed, &context).await?;
    eprintln!("Submitted {}; waiting for finality…", pending.hash());
    let timeout = Duration::from_secs(args.timeout);
    let sent = tx::settle(&rpc, pending, &signed, &plan.from, "transfer", timeout).await?;
    let moved = sent
        .transfers
        .iter()
        .find(|(from, to, _)| *from == plan.from && *to == plan.to)
        .map(|(_, _, amount)| *amount)
        .or(requested);
    let (inclusion, fee) = (sent.inclusion, sent.fee);
    Ok(TransferReport {
        extrinsic: inclusion.hash,
        status: TransferStatus::Finalized,
        block_hash: Some(inclusion.block_hash),
        block_number: Some(inclusion.block_number),
        from: plan.from,
        to: plan.to,
        amount: moved.map(format_agr),
        fee: format_agr(fee),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    const ALICE: &str = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
    const BOB: &str = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty";

    #[test]
    fn transfer_json_shapes() {
        let finalized = TransferReport {
            extrinsic: Hash([1; 32]),
            status: TransferStatus::Finalized,
            block_hash: Some(Hash([2; 32])),
            block_number: Some(12),
            from: ALICE.parse().unwrap(),
            to: BOB.parse().unwrap(),
            amount: Some("1.5".to_owned()),
            fee: "0.00009".to_owned(),
        };
        assert_eq!(
            serde_json::to_value(&finalized).unwrap(),
            serde_json::json!({
                "extrinsic": Hash([1; 32]).to_hex(),
                "status": "finalized",
                "block_hash": Hash([2; 32]).to_hex(),
                "block_number": 12,
                "from": ALICE,
                "to": BOB,
                "amount": "1.5",
                "fee": "0.00009",
            })
        );
        assert_eq!(
            finalized.text(),
            format!(
                "Transferred 1.5 AGR from {ALICE} to {BOB} in block #12 ({}), fee 0.00009 AGR\n",
                Hash([2; 32])
            )
        );
        let submitted = TransferReport {
            status: TransferStatus::Submitted,
            block_hash: None,
            block_number: None,
            amount: None,
            ..finalized
        };
        let json = serde_json::to_value(&submitted).unwrap();
        assert_eq!(json["status"], "submitted");
        assert!(json.get("block_hash").is_none() && json.get("block_number").is_none());
        assert_eq!(json["amount"], serde_json::Value::Null);
        assert!(submitted.text().starts_with("Submitted 0x0101"));
    }

    #[test]
    fn transfer_arguments() {
        let parse = |args: &[&str]| {
            let mut all = vec!["agora", "transfer"];
            all.extend_from_slice(args);
            Cli::try_parse_from(all)
        };
        let cli = parse(&["--from", "//Alice", "--to", BOB, "--amount", "1.5"]).unwrap();
        let Command::Transfer(args) = &cli.command else {
            panic!("not a transfer")
        };
        assert_eq!(args.timeout, 120);
        assert_eq!(args.tip, "0");
        let plan = plan_transfer(args).unwrap();
        assert_eq!(plan.amount, TransferAmount::Exact(1_500_000_000_000));
        assert_eq!(plan.from.to_string(), ALICE);
        assert_eq!(plan.to.to_string(), BOB);
        // --all excludes --amount, and one of them is required.
        assert!(parse(&["--from", "//Alice", "--to", BOB, "--all", "--amount", "1"]).is_err());
        assert!(parse(&["--from", "//Alice", "--to", BOB]).is_err());
        let cli = parse(&[
            "--from", "//Alice", "--to", "//Bob", "--all", "--tip", "0.5",
        ])
        .unwrap();
        let Command::Transfer(args) = &cli.command else {
            panic!("not a transfer")
        };
        let plan = plan_transfer(args).unwrap();
        assert_eq!(plan.amount, TransferAmount::All);
        assert_eq!(plan.tip, 500_000_000_000);
        // Checked before anything is signed, naming the value.
        let plan_err = |args: &[&str]| {
            let cli = parse(args).unwrap();
            let Command::Transfer(args) = &cli.command else {
                panic!("not a transfer")
            };
            plan_transfer(args).err().unwrap().to_string()
        };
        let err = plan_err(&["--from", "//Alice", "--to", BOB, "--amount", "0"]);
        assert!(
            err.starts_with("'0' is not a valid amount to transfer"),
            "{err}"
        );
        let err = plan_err(&["--from", "//Alice", "--to", "//Alice", "--amount", "1"]);
        assert!(err.contains("to itself"), "{err}");
        let err = plan_err(&["--from", "//Alice", "--to", "5Gxyz", "--amount", "1"]);
        assert!(
            err.starts_with("'5Gxyz' is not a valid SS58 address"),
            "{err}"
        );
        let err = plan_err(&["--from", "//Alice", "--to", BOB, "--amount", "-1"]);
        assert!(err.starts_with("'-1' is not a valid AGR amount"), "{err}");
        let err = plan_err(&[
            "--from", "//Alice", "--to", BOB, "--amount", "1", "--tip", "x",
        ]);
        assert!(err.starts_with("'x' is not a valid AGR amount"), "{err}");
    }
}
