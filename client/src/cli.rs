//! The `agora` command line.
//!
//! Global options: `--rpc URL` (default `ws://127.0.0.1:9944`, or `AGORA_RPC`) and
//! `--output text|json`. Errors are printed to stderr as one sentence naming the bad value,
//! with a non-zero exit status (1 for command errors, 2 for usage errors reported by clap).
//!
//! Node commands:
//! - `agora balance ADDRESS|SURI`: free, reserved and total balance in AGR, and the nonce.
//!   JSON: `{"address", "free", "reserved", "total", "nonce"}`, amounts as decimal AGR strings.
//! - `agora transfer --from SURI --to ADDRESS (--amount AGR | --all) [--tip AGR] [--no-wait]`:
//!   signs a mortal transfer, submits it and (unless `--no-wait`) waits until it is finalized
//!   and reads its outcome from the block's events. JSON: `{"extrinsic", "status", "block_hash",
//!   "block_number", "from", "to", "amount", "fee"}` (`status` "finalized", or "submitted"
//!   with `--no-wait`, which has no block fields). A transfer that fails in its block exits
//!   non-zero with a sentence naming the runtime's error.

use std::future::Future;
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use agora_primitives::{AccountId, Balance, BlockNumber, Hash, Nonce};
use clap::{Args, Parser, Subcommand, ValueEnum};
use serde::Serialize;

use crate::amount::{format_agr, parse_agr, AmountError};
use crate::keys::{self, KeyError, MnemonicWords, Scheme, Signer};
use crate::rpc::{AccountBalance, Rpc, RpcError};
use crate::tx::{self, TransferAmount, TxError};

/// The default JSON-RPC endpoint of a local node.
pub const DEFAULT_RPC: &str = "ws://127.0.0.1:9944";

/// Agora command-line client.
#[derive(Debug, Parser)]
#[command(
    name = "agora",
    version,
    about = "Agora command-line client",
    propagate_version = true
)]
pub struct Cli {
    /// JSON-RPC endpoint of an Agora node (ws://, wss://, http:// or https://).
    #[arg(long, global = true, env = "AGORA_RPC", default_value = DEFAULT_RPC, value_name = "URL")]
    ///
    /// Checked by [`Cli::rpc_url`] only when a command talks to a node, so a stale
    /// `AGORA_RPC` does not break offline commands such as `key inspect`.
    pub rpc: String,
    /// Output format: human-readable text or machine-readable JSON.
    #[arg(long, global = true, value_enum, default_value = "text")]
    pub output: OutputFormat,
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// The `--rpc` URL, checked: ws://, wss://, http:// or https:// and a non-empty host.
    pub fn rpc_url(&self) -> Result<&str, CliError> {
        check_rpc_url(&self.rpc).map_err(CliError::RpcUrl)?;
        Ok(&self.rpc)
    }
}

/// Output format of every command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum OutputFormat {
    /// Human-readable text.
    #[default]
    Text,
    /// One JSON object on stdout.
    Json,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate and inspect account keys (no node needed).
    #[command(subcommand)]
    Key(KeyCommand),
    /// Show the balance and nonce of an account.
    Balance {
        /// SS58 address, 0x-prefixed public key, or SURI of the account.
        #[arg(value_name = "ADDRESS|SURI")]
        who: String,
        /// Signature scheme, when the account is given as a SURI.
        #[arg(long, value_enum, default_value = "sr25519")]
        scheme: Scheme,
    },
    /// Transfer AGR to another account and wait until the transfer is finalized.
    Transfer(TransferArgs),
    /// Training jobs: submit, follow, fetch results, cancel; or run one locally.
    #[command(subcommand)]
    Job(JobCommand),
    /// Bond, unbond and withdraw stake (collateral for offers and spot checks).
    #[command(subcommand)]
    Stake(crate::market::StakeCommand),
    /// Post, list and cancel compute offers.
    #[command(subcommand)]
    Offer(crate::market::OfferCommand),
    /// The order book, recent clearing prices, queue times and renewable share.
    Market,
    /// The provider's daemon.
    #[command(subcommand)]
    Worker(WorkerCommand),
    /// The verifier's daemon.
    #[command(subcommand)]
    Verifier(VerifierCommand),
}

/// `agora worker …`
#[derive(Debug, Subcommand)]
pub enum WorkerCommand {
    /// Keep an offer open and run the jobs assigned to this account until stopped.
    Run(crate::worker::WorkerArgs),
}

/// `agora verifier …`
#[derive(Debug, Subcommand)]
pub enum VerifierCommand {
    /// Spot-check the jobs this account is drawn for until stopped.
    Run(crate::verify::VerifierArgs),
}

/// `agora job …`
#[derive(Debug, Subcommand)]
pub enum JobCommand {
    /// Run a job with the executor alone (no chain): prints the trace root, segments, fuel,
    /// metrics and output hash, and writes the model and the trace.
    RunLocal(crate::job::RunLocalArgs),
    /// Buy training time: upload the module and data, bid, and follow the job to settlement.
    Submit(crate::buyer::SubmitArgs),
    /// Where a job is: queued (and why), running, committed, verified, settled.
    Status {
        /// The job id (printed by `job submit`).
        id: u64,
    },
    /// Fetch a settled job's trained model, metrics and receipt into a directory.
    Result {
        /// The job id.
        id: u64,
        /// Output directory.
        #[arg(long, value_name = "DIR", default_value = "job-result")]
        out: std::path::PathBuf,
    },
    /// Cancel an open bid (full refund) or an assigned job (the worker keeps the cancel fee).
    Cancel {
        /// SURI of the buyer.
        #[arg(long, value_name = "SURI")]
        key: String,
        /// The job id.
        id: u64,
        /// Signature scheme of the key.
        #[arg(long, value_enum, default_value = "sr25519")]
        scheme: Scheme,
    },
}

/// `agora transfer …`
#[derive(Debug, Args)]
pub struct TransferArgs {
    /// SURI of the sending key (//Alice, a mnemonic[//path][///password], 0x seed).
    #[arg(long, value_name = "SURI")]
    pub from: String,
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
    #[arg(long, value_enum, default_value = "sr25519")]
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

/// `agora key …`
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Generate a key from a fresh random BIP-39 mnemonic and print its secret phrase.
    Generate {
        /// Signature scheme.
        #[arg(long, value_enum, default_value = "sr25519")]
        scheme: Scheme,
        /// Number of mnemonic words.
        #[arg(long, value_enum, default_value = "12")]
        words: MnemonicWords,
    },
    /// Show the public key and address of a SURI (//Alice, a mnemonic[//path][///password], 0x seed).
    Inspect {
        /// Secret URI of the key.
        #[arg(value_name = "SURI")]
        suri: String,
        /// Signature scheme.
        #[arg(long, value_enum, default_value = "sr25519")]
        scheme: Scheme,
    },
}

/// A command failure; renders as one sentence.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A key could not be derived, parsed or generated.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The `--rpc` URL is malformed; the message names it.
    #[error("{0}")]
    RpcUrl(String),
    /// The result could not be written to stdout.
    #[error("could not write the output: {0}")]
    Output(#[from] std::io::Error),
    /// The result could not be encoded as JSON.
    #[error("could not encode the output as JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// An amount argument is not a valid AGR amount.
    #[error(transparent)]
    Amount(#[from] AmountError),
    /// Talking to the node failed, or the node refused a request.
    #[error(transparent)]
    Rpc(#[from] RpcError),
    /// A transaction did not succeed.
    #[error(transparent)]
    Tx(#[from] TxError),
    /// A transfer that cannot succeed, refused before anything is signed.
    #[error("{0}")]
    InvalidTransfer(String),
    /// The async runtime could not start.
    #[error("could not start the async runtime: {0}")]
    Runtime(std::io::Error),
    /// The job executor refused the module or the job failed.
    #[error(transparent)]
    Executor(#[from] agora_verifier::Error),
    /// A file could not be read or written; the message names it.
    #[error("{0}")]
    File(String),
    /// A job argument is unusable; the message names it.
    #[error("{0}")]
    InvalidJob(String),
    /// A trace could not be built or proven.
    #[error(transparent)]
    Trace(#[from] agora_primitives::trace::TraceError),
}

/// What `key generate` and `key inspect` print. JSON field names are stable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyReport {
    /// `sr25519` or `ed25519`.
    pub scheme: Scheme,
    /// 0x-prefixed hex public key.
    pub public_key: String,
    /// 0x-prefixed hex account id (the public key).
    pub account_id: String,
    /// SS58 address, prefix 42.
    pub ss58_address: String,
    /// The mnemonic (`key generate` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_phrase: Option<String>,
    /// 0x-prefixed hex secret seed (`key generate` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_seed: Option<String>,
}

impl KeyReport {
    /// The public part of a report on `signer`.
    pub fn public(signer: &Signer) -> Self {
        let public = format!("0x{}", hex::encode(signer.public()));
        KeyReport {
            scheme: signer.scheme(),
            account_id: public.clone(),
            public_key: public,
            ss58_address: signer.ss58_address(),
            secret_phrase: None,
            secret_seed: None,
        }
    }

    fn text(&self) -> String {
        let mut out = String::new();
        if let Some(phrase) = &self.secret_phrase {
            out.push_str(&format!("Secret phrase:     {phrase}\n"));
        }
        if let Some(seed) = &self.secret_seed {
            out.push_str(&format!("Secret seed:       {seed}\n"));
        }
        out.push_str(&format!("Public key (hex):  {}\n", self.public_key));
        out.push_str(&format!("Account ID:        {}\n", self.account_id));
        out.push_str(&format!("SS58 address:      {}\n", self.ss58_address));
        out.push_str(&format!("Scheme:            {}\n", self.scheme));
        out
    }
}

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
    fn text(&self) -> String {
        format!(
            "Address:   {}\nFree:      {} AGR\nReserved:  {} AGR\nTotal:     {} AGR\nNonce:     {}\n",
            self.address, self.free, self.reserved, self.total, self.nonce
        )
    }
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
    fn text(&self) -> String {
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

/// Accepts a ws://, wss://, http:// or https:// URL with a non-empty host.
fn check_rpc_url(url: &str) -> Result<(), String> {
    let rest = ["ws://", "wss://", "http://", "https://"]
        .iter()
        .find_map(|scheme| url.strip_prefix(scheme))
        .ok_or_else(|| {
            format!("'{url}' is not a valid RPC URL: expected ws://, wss://, http:// or https://")
        })?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() || host.chars().any(char::is_whitespace) {
        return Err(format!(
            "'{url}' is not a valid RPC URL: it has no valid host"
        ));
    }
    Ok(())
}

fn emit<R: Serialize>(
    output: OutputFormat,
    report: &R,
    text: impl FnOnce(&R) -> String,
) -> Result<(), CliError> {
    let text = match output {
        OutputFormat::Text => text(report),
        OutputFormat::Json => format!("{}\n", serde_json::to_string_pretty(report)?),
    };
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    Ok(())
}

/// Runs `future` to completion on a single-threaded runtime.
fn block_on<T>(future: impl Future<Output = Result<T, CliError>>) -> Result<T, CliError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(CliError::Runtime)?
        .block_on(future)
}

async fn balance(url: &str, who: &str, scheme: Scheme) -> Result<BalanceReport, CliError> {
    let account = keys::to_agora_account(&keys::parse_address(who, scheme)?);
    let rpc = Rpc::connect(url).await?;
    Ok(rpc.balance(&account).await?.into())
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
    let signer = Signer::from_suri(&args.from, args.scheme)?;
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

async fn transfer(url: &str, args: &TransferArgs) -> Result<TransferReport, CliError> {
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
    let inclusion = pending.wait(Duration::from_secs(args.timeout)).await?;
    let events = rpc.events(inclusion.block_hash).await?;
    let outcome = tx::outcome(&events, inclusion.index, &plan.from).ok_or(TxError::NoOutcome {
        hash: inclusion.hash,
        block_hash: inclusion.block_hash,
        block_number: inclusion.block_number,
    })?;
    let fee = outcome.fee.unwrap_or(signed.fee);
    if let Err(error) = outcome.result {
        return Err(TxError::Failed {
            what: "transfer",
            hash: inclusion.hash,
            block_hash: inclusion.block_hash,
            block_number: inclusion.block_number,
            error,
            reason: agora_runtime::describe_dispatch_error(error),
            fee,
        }
        .into());
    }
    let moved = outcome
        .transfers
        .iter()
        .find(|(from, to, _)| *from == plan.from && *to == plan.to)
        .map(|(_, _, amount)| *amount)
        .or(requested);
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

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<(), CliError> {
    match &cli.command {
        Command::Key(KeyCommand::Generate { scheme, words }) => {
            let key = keys::generate(*scheme, *words)?;
            let report = KeyReport {
                secret_phrase: Some(key.phrase.clone()),
                secret_seed: Some(format!("0x{}", hex::encode(key.secret_seed))),
                ..KeyReport::public(&key.signer)
            };
            emit(cli.output, &report, KeyReport::text)
        }
        Command::Key(KeyCommand::Inspect { suri, scheme }) => {
            let signer = Signer::from_suri(suri, *scheme)?;
            emit(cli.output, &KeyReport::public(&signer), KeyReport::text)
        }
        Command::Balance { who, scheme } => {
            let url = cli.rpc_url()?;
            let report = block_on(balance(url, who, *scheme))?;
            emit(cli.output, &report, BalanceReport::text)
        }
        Command::Transfer(args) => {
            let url = cli.rpc_url()?;
            let report = block_on(transfer(url, args))?;
            emit(cli.output, &report, TransferReport::text)
        }
        Command::Job(JobCommand::RunLocal(args)) => {
            let report = crate::job::run_local(args)?;
            emit(cli.output, &report, crate::job::RunLocalReport::text)
        }
        Command::Job(JobCommand::Submit(args)) => {
            let url = cli.rpc_url()?;
            let report =
                block_on(async { crate::buyer::submit(&Rpc::connect(url).await?, args).await })?;
            emit(cli.output, &report, crate::buyer::JobReport::text)
        }
        Command::Job(JobCommand::Status { id }) => {
            let url = cli.rpc_url()?;
            let report =
                block_on(async { crate::buyer::status(&Rpc::connect(url).await?, *id).await })?;
            emit(cli.output, &report, crate::buyer::JobReport::text)
        }
        Command::Job(JobCommand::Result { id, out }) => {
            let url = cli.rpc_url()?;
            let report = block_on(async {
                crate::buyer::result(&Rpc::connect(url).await?, *id, out).await
            })?;
            emit(cli.output, &report, crate::buyer::ResultReport::text)
        }
        Command::Job(JobCommand::Cancel { key, id, scheme }) => {
            let url = cli.rpc_url()?;
            let signer = Signer::from_suri(key, *scheme)?;
            let report = block_on(async {
                crate::buyer::cancel(&Rpc::connect(url).await?, &signer, *id).await
            })?;
            emit(cli.output, &report, crate::buyer::JobReport::text)
        }
        Command::Stake(command) => {
            let url = cli.rpc_url()?;
            let report =
                block_on(async { crate::market::stake(&Rpc::connect(url).await?, command).await })?;
            emit(cli.output, &report, crate::market::StakeReport::text)
        }
        Command::Offer(command) => {
            // Bad arguments are named before any node is contacted.
            if let crate::market::OfferCommand::Post(args) = command {
                args.plan()?;
            }
            let url = cli.rpc_url()?;
            let report =
                block_on(async { crate::market::offer(&Rpc::connect(url).await?, command).await })?;
            emit(cli.output, &report, crate::market::OfferOutput::text)
        }
        Command::Market => {
            let url = cli.rpc_url()?;
            let report =
                block_on(async { crate::market::market(&Rpc::connect(url).await?).await })?;
            emit(cli.output, &report, crate::market::MarketReport::text)
        }
        Command::Worker(WorkerCommand::Run(args)) => {
            let url = cli.rpc_url()?.to_owned();
            init_daemon_logging();
            daemon_runtime()?.block_on(crate::worker::run_worker(&url, args.clone()))
        }
        Command::Verifier(VerifierCommand::Run(args)) => {
            let url = cli.rpc_url()?.to_owned();
            init_daemon_logging();
            daemon_runtime()?.block_on(crate::verify::run_verifier(&url, args.clone()))
        }
    }
}

/// Logs of the daemons: stderr, `info` unless `RUST_LOG` says otherwise.
fn init_daemon_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Daemons run engine work on blocking threads while they keep talking to the node.
fn daemon_runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(CliError::Runtime)
}

/// Parses the process arguments, runs the command, and reports any error on stderr.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError::Output(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_globals_anywhere() {
        let cli =
            Cli::try_parse_from(["agora", "key", "inspect", "//Bob", "--output", "json"]).unwrap();
        assert_eq!(cli.output, OutputFormat::Json);
        let cli = Cli::try_parse_from([
            "agora",
            "--rpc",
            "wss://node.example:443",
            "key",
            "generate",
            "--words",
            "24",
            "--scheme",
            "ed25519",
        ])
        .unwrap();
        assert_eq!(cli.rpc, "wss://node.example:443");
        match cli.command {
            Command::Key(KeyCommand::Generate { scheme, words }) => {
                assert_eq!(scheme, Scheme::Ed25519);
                assert_eq!(words, MnemonicWords::TwentyFour);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(Cli::try_parse_from(["agora", "key", "generate", "--words", "15"]).is_err());
        // The URL is checked only when a command needs the node.
        let cli =
            Cli::try_parse_from(["agora", "--rpc", "localhost:9944", "key", "generate"]).unwrap();
        let err = cli.rpc_url().unwrap_err().to_string();
        assert!(
            err.starts_with("'localhost:9944' is not a valid RPC URL"),
            "{err}"
        );
        let cli = Cli::try_parse_from(["agora", "key", "generate"]).unwrap();
        assert_eq!(cli.rpc_url().unwrap(), DEFAULT_RPC);
    }

    #[test]
    fn report_json_field_names() {
        let signer = Signer::from_suri("//Alice", Scheme::Sr25519).unwrap();
        let json = serde_json::to_value(KeyReport::public(&signer)).unwrap();
        assert_eq!(json["scheme"], "sr25519");
        assert_eq!(
            json["ss58_address"],
            "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"
        );
        assert_eq!(json["public_key"], json["account_id"]);
        assert!(json.get("secret_phrase").is_none() && json.get("secret_seed").is_none());
    }

    const ALICE: &str = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
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

    #[test]
    fn rpc_url_validation() {
        assert!(check_rpc_url(DEFAULT_RPC).is_ok());
        assert!(check_rpc_url("http://10.0.0.1:9944/rpc").is_ok());
        assert!(check_rpc_url("ws://").unwrap_err().contains("'ws://'"));
        assert!(check_rpc_url("ftp://x").unwrap_err().contains("'ftp://x'"));
    }
}
