//! The `agora` command line.
//!
//! Global options: `--rpc URL` (default `ws://127.0.0.1:9944`, or `AGORA_RPC`) and
//! `--output text|json`. Errors are printed to stderr as one sentence naming the bad value,
//! with a non-zero exit status (1 for command errors, 2 for usage errors reported by clap).
//!
//! Each command lives in a module of its own under [`crate::commands`], which documents its
//! arguments and output; this module holds the global options, the dispatch and the error type.

use std::future::Future;
use std::io::Write;
use std::process::ExitCode;

use agora_client::keys::Scheme;
use agora_client::rpc::Rpc;
use clap::{Parser, Subcommand, ValueEnum};
use serde::Serialize;

use crate::args::{scheme_parser, KeyArgs};
use crate::commands::balance::{balance, BalanceReport};
use crate::commands::build::{BuildArgs, BuildReport};
use crate::commands::challenge::{ChallengeArgs, ChallengeReport};
use crate::commands::job::{JobReport, ResultReport, SubmitArgs};
use crate::commands::key::{key, KeyCommand, KeyReport};
use crate::commands::market::MarketReport;
use crate::commands::new::{NewArgs, NewReport};
use crate::commands::offer::{OfferCommand, OfferOutput};
use crate::commands::prepare::{self, BidArgs, PreparedBid};
use crate::commands::quote::{self, QuoteArgs, QuoteReport};
use crate::commands::run_local::{RunLocalArgs, RunLocalReport};
use crate::commands::stake::{StakeCommand, StakeReport};
use crate::commands::transfer::{transfer, TransferArgs, TransferReport};
use crate::commands::validator::{self, ValidatorCommand, ValidatorReport};
use crate::commands::verifier::VerifierCommand;
use crate::commands::worker::WorkerCommand;
use crate::commands::Text;
use crate::commands::{job, market, offer, stake};

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
    // Checked by `Cli::rpc_url` only when a command talks to a node, so that a stale
    // `AGORA_RPC` does not break offline commands such as `key inspect`. (A `//` comment: clap
    // would print a doc comment in `--help`.)
    #[arg(long, global = true, env = "AGORA_RPC", default_value = DEFAULT_RPC, value_name = "URL")]
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
        #[arg(long, value_parser = scheme_parser(), default_value = "sr25519")]
        scheme: Scheme,
    },
    /// Transfer AGR to another account and wait until the transfer is finalized.
    Transfer(TransferArgs),
    /// Training jobs: submit, follow, fetch results, cancel; or run one locally.
    #[command(subcommand)]
    Job(JobCommand),
    /// Bond, unbond and withdraw stake (collateral for offers and spot checks).
    #[command(subcommand)]
    Stake(StakeCommand),
    /// Stand for election to the consensus committee, rotate the consensus key, withdraw.
    #[command(subcommand)]
    Validator(ValidatorCommand),
    /// Post, list and cancel compute offers.
    #[command(subcommand)]
    Offer(OfferCommand),
    /// The order book, recent clearing prices, queue times and renewable share.
    Market,
    /// The provider's daemon.
    #[command(subcommand)]
    Worker(WorkerCommand),
    /// The verifier's daemon.
    #[command(subcommand)]
    Verifier(VerifierCommand),
    /// Challenge a verified job's result and play the dispute to its end.
    Challenge(ChallengeArgs),
}

/// `agora job …`
#[derive(Debug, Subcommand)]
pub enum JobCommand {
    /// Run a job with the executor alone (no chain): prints the trace root, segments, fuel,
    /// metrics and output hash, and writes the model and the trace.
    RunLocal(RunLocalArgs),
    /// Buy training time: upload the module and data, bid, and follow the job to settlement.
    Submit(SubmitArgs),
    /// What a job will cost: its fuel measured on its first segments and extrapolated, the
    /// `--max-fuel` to bid with, and (with a node) the cheapest ask, cost, escrow and queue
    /// time per region.
    Quote(QuoteArgs),
    /// Start a job of your own: a crate outside the repository from a shipped job (`mlp`,
    /// `cnn` or `lm`), depending on the job SDK.
    New(NewArgs),
    /// Build a job crate into `DIR/dist/NAME.wasm`, reproducibly (pinned settings, staged
    /// sources, `--check` to prove the bytes).
    Build(BuildArgs),
    /// Upload and register a job's module and data and print the bid (spec and terms) for
    /// other software to place with `market.placeBid`; places no bid.
    Prepare(BidArgs),
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
    /// Release a settled job's model once fetched: the registry drops it at the end of the next
    /// block and returns the buyer's deposit (otherwise it is kept MODEL_RETENTION blocks, 30
    /// days at 1 s blocks, from settlement).
    Release {
        /// The buyer.
        #[command(flatten)]
        buyer: KeyArgs,
        /// The job id.
        id: u64,
    },
    /// Cancel an open bid (full refund) or an assigned job (after a notice of CANCEL_NOTICE_BLOCKS
    /// the worker is paid for the share of the run time it held, at least the cancel fee; a
    /// result committed within the notice voids it).
    Cancel {
        /// The buyer.
        #[command(flatten)]
        buyer: KeyArgs,
        /// The job id.
        id: u64,
    },
}

/// A command failure; renders as one sentence.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A client operation failed (a key, an amount, reading the chain, a transaction, a file,
    /// an argument).
    #[error(transparent)]
    Client(#[from] agora_client::Error),
    /// The provider's daemon stopped.
    #[error(transparent)]
    Worker(#[from] agora_worker::Error),
    /// The verifier's daemon stopped.
    #[error(transparent)]
    Verifier(#[from] agora_verifier::Error),
    /// The `--rpc` URL is malformed; the message names it.
    #[error("{0}")]
    RpcUrl(String),
    /// The result could not be written to stdout.
    #[error("could not write the output: {0}")]
    Output(#[from] std::io::Error),
    /// The result could not be encoded as JSON.
    #[error("could not encode the output as JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// A transfer that cannot succeed, refused before anything is signed.
    #[error("{0}")]
    InvalidTransfer(String),
    /// The async runtime could not start.
    #[error("could not start the async runtime: {0}")]
    Runtime(std::io::Error),
    /// The job executor refused the module or the job failed.
    #[error(transparent)]
    Executor(#[from] agora_engine::Error),
    /// A job argument is unusable; the message names it.
    #[error("{0}")]
    InvalidJob(String),
    /// An argument is unusable; the message names it.
    #[error("{0}")]
    InvalidArgument(String),
}

// Keys, amounts, RPC and transaction errors are client errors.
agora_client::from_client_errors!(CliError);

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

/// Runs `command` against the node at the `--rpc` URL.
fn with_node<T>(
    cli: &Cli,
    command: impl AsyncFnOnce(&Rpc) -> Result<T, CliError>,
) -> Result<T, CliError> {
    let url = cli.rpc_url()?;
    block_on(async { command(&Rpc::connect(url).await?).await })
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<(), CliError> {
    let output = cli.output;
    match &cli.command {
        Command::Key(command) => emit(output, &key(command)?, KeyReport::text),
        Command::Balance { who, scheme } => {
            let report = block_on(balance(cli.rpc_url()?, who, *scheme))?;
            emit(output, &report, BalanceReport::text)
        }
        Command::Transfer(args) => {
            let report = block_on(transfer(cli.rpc_url()?, args))?;
            emit(output, &report, TransferReport::text)
        }
        Command::Job(JobCommand::RunLocal(args)) => {
            let report = crate::commands::run_local::run_local(args)?;
            emit(output, &report, RunLocalReport::text)
        }
        Command::Job(JobCommand::Submit(args)) => {
            let report = with_node(&cli, async |rpc| job::submit(rpc, args).await)?;
            emit(output, &report, JobReport::text)
        }
        Command::Job(JobCommand::Quote(args)) => {
            let url = cli.rpc_url()?;
            let report = block_on(async {
                let rpc = Rpc::connect(url).await.map_err(CliError::from);
                quote::quote(rpc, args).await
            })?;
            emit(output, &report, QuoteReport::text)
        }
        Command::Job(JobCommand::New(args)) => {
            emit(output, &crate::commands::new::run(args)?, NewReport::text)
        }
        Command::Job(JobCommand::Build(args)) => emit(
            output,
            &crate::commands::build::run(args)?,
            BuildReport::text,
        ),
        Command::Job(JobCommand::Prepare(args)) => {
            let report = with_node(&cli, async |rpc| prepare::run(rpc, args).await)?;
            emit(output, &report, PreparedBid::text)
        }
        Command::Job(JobCommand::Status { id }) => {
            let report = with_node(&cli, async |rpc| job::status(rpc, *id).await)?;
            emit(output, &report, JobReport::text)
        }
        Command::Job(JobCommand::Result { id, out }) => {
            let report = with_node(&cli, async |rpc| job::result(rpc, *id, out).await)?;
            emit(output, &report, ResultReport::text)
        }
        Command::Job(JobCommand::Release { buyer, id }) => {
            let signer = buyer.signer()?;
            let report = with_node(&cli, async |rpc| job::release(rpc, &signer, *id).await)?;
            emit(output, &report, JobReport::text)
        }
        Command::Job(JobCommand::Cancel { buyer, id }) => {
            let signer = buyer.signer()?;
            let report = with_node(&cli, async |rpc| job::cancel(rpc, &signer, *id).await)?;
            emit(output, &report, JobReport::text)
        }
        Command::Stake(command) => {
            let report = with_node(&cli, async |rpc| stake::stake(rpc, command).await)?;
            emit(output, &report, StakeReport::text)
        }
        Command::Validator(command) => {
            // Bad arguments are named before any node is contacted.
            validator::check(command)?;
            let report = with_node(&cli, async |rpc| validator::validator(rpc, command).await)?;
            emit(output, &report, ValidatorReport::text)
        }
        Command::Offer(command) => {
            // Bad arguments are named before any node is contacted.
            if let OfferCommand::Post(args) = command {
                args.terms().plan()?;
            }
            let report = with_node(&cli, async |rpc| offer::offer(rpc, command).await)?;
            emit(output, &report, OfferOutput::text)
        }
        Command::Market => {
            let report = with_node(&cli, async |rpc| market::market(rpc).await)?;
            emit(output, &report, MarketReport::text)
        }
        Command::Worker(WorkerCommand::Run(args)) => {
            let config = args.config(cli.rpc_url()?)?;
            init_daemon_logging();
            Ok(daemon_runtime()?.block_on(agora_worker::run_worker(config))?)
        }
        Command::Challenge(args) => {
            let url = cli.rpc_url()?;
            let report = with_node(&cli, async |rpc| {
                crate::commands::challenge::challenge(rpc, url, args).await
            })?;
            emit(output, &report, ChallengeReport::text)
        }
        Command::Verifier(VerifierCommand::Run(args)) => {
            let config = args.config(cli.rpc_url()?)?;
            init_daemon_logging();
            Ok(daemon_runtime()?.block_on(agora_verifier::run_verifier(config))?)
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
    use agora_client::keys::MnemonicWords;
    use clap::CommandFactory;

    /// Every `--help` of every command, walked from the top.
    fn helps(command: &mut clap::Command, path: &str, out: &mut Vec<(String, String)>) {
        out.push((path.to_owned(), command.render_long_help().to_string()));
        for sub in command.get_subcommands_mut() {
            let path = format!("{path} {}", sub.get_name());
            helps(sub, &path, out);
        }
    }

    #[test]
    fn help_texts_read_as_help_for_a_user() {
        let mut all = Vec::new();
        helps(&mut Cli::command(), "agora", &mut all);
        assert!(all.len() > 20, "{} help pages", all.len());
        for (path, help) in &all {
            // Rust doc links and paths are for the code's readers, not the command's users.
            for leak in ["[`", "`]", "](", "crate::", "Self::"] {
                assert!(
                    !help.contains(leak),
                    "`{path} --help` shows {leak:?}:\n{help}"
                );
            }
        }
        let run_local = all
            .iter()
            .find(|(path, _)| path == "agora job run-local")
            .map(|(_, help)| help.as_str())
            .unwrap_or_default();
        assert!(run_local.contains("--max-fuel <MFUEL>"), "{run_local}");
    }

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn a_challenge_names_a_leaf_its_fuel_or_the_model_and_keeps_the_global_output() {
        let parse = |args: &[&str]| {
            Cli::try_parse_from([&["agora", "--output", "json", "challenge"][..], args].concat())
        };
        let cli = parse(&["--key", "//Dave", "3", "--leaf", "1"]).unwrap();
        assert_eq!(cli.output, OutputFormat::Json);
        let Command::Challenge(args) = &cli.command else {
            panic!("{:?}", cli.command)
        };
        assert_eq!((args.job, args.leaf, args.model), (3, Some(1), false));
        let cli = parse(&["--key", "//Dave", "3", "--model"]).unwrap();
        let Command::Challenge(args) = &cli.command else {
            panic!("{:?}", cli.command)
        };
        assert_eq!((args.leaf, args.model), (None, true));
        let cli = parse(&["--key", "//Dave", "3", "--fuel", "2"]).unwrap();
        let Command::Challenge(args) = &cli.command else {
            panic!("{:?}", cli.command)
        };
        assert_eq!((args.leaf, args.fuel, args.model), (None, Some(2), false));
        assert!(parse(&["--key", "//Dave", "3"]).is_err(), "none");
        for two in [
            ["--leaf", "1", "--model"].as_slice(),
            &["--fuel", "1", "--model"],
            &["--leaf", "1", "--fuel", "1"],
        ] {
            assert!(
                parse(&[&["--key", "//Dave", "3"][..], two].concat()).is_err(),
                "{two:?}"
            );
        }
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
            Command::Key(KeyCommand::Generate { scheme, words, out }) => {
                assert_eq!(scheme, Scheme::Ed25519);
                assert_eq!(words, MnemonicWords::TwentyFour);
                assert_eq!(out, None);
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
    fn rpc_url_validation() {
        assert!(check_rpc_url(DEFAULT_RPC).is_ok());
        assert!(check_rpc_url("http://10.0.0.1:9944/rpc").is_ok());
        assert!(check_rpc_url("ws://").unwrap_err().contains("'ws://'"));
        assert!(check_rpc_url("ftp://x").unwrap_err().contains("'ftp://x'"));
    }
}
