//! `agora worker run --key SURI [offer terms] [--bond AGR]`: the provider's daemon (crate
//! `agora-worker`), and the arguments both daemons take.

use std::path::PathBuf;
use std::time::Duration;

use agora_client::amount::parse_agr;
use agora_client::daemon::DaemonConfig;
use agora_client::files::{default_module_cache_dir, default_state_dir};
use agora_worker::{ExistingOffer, WorkerConfig};
use clap::{Args, Subcommand};

use crate::args::{KeyArgs, OfferSiteArgs};
use crate::cli::CliError;

/// `agora worker …`
#[derive(Debug, Subcommand)]
pub enum WorkerCommand {
    /// Keep an offer open and run the jobs assigned to this account until stopped.
    Run(WorkerArgs),
}

/// What both daemons take.
#[derive(Debug, Clone, Args)]
pub struct DaemonArgs {
    /// The daemon's account.
    #[command(flatten)]
    pub account: KeyArgs,
    /// Where the daemon keeps its work across restarts (default:
    /// ~/.local/share/agora/<worker|verifier>-<address>).
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Directory of the compiled-module cache.
    #[arg(long, value_name = "DIR", env = "AGORA_MODULE_CACHE")]
    pub cache_dir: Option<PathBuf>,
    /// Milliseconds between looks at the chain.
    #[arg(long, value_name = "MS", default_value_t = 500)]
    pub poll_ms: u64,
}

impl DaemonArgs {
    /// The daemon's configuration; `kind` ("worker", "verifier") names its default state
    /// directory.
    pub fn config(&self, rpc_url: &str, kind: &str) -> Result<DaemonConfig, CliError> {
        let signer = self.account.signer()?;
        let state_dir = self
            .state_dir
            .clone()
            .unwrap_or_else(|| default_state_dir(kind, &signer.agora_account()));
        Ok(DaemonConfig {
            rpc_url: rpc_url.to_owned(),
            signer,
            state_dir,
            module_cache_dir: self.cache_dir.clone().or_else(default_module_cache_dir),
            poll: Duration::from_millis(self.poll_ms),
        })
    }
}

/// `agora worker run …`
#[derive(Debug, Clone, Args)]
pub struct WorkerArgs {
    /// Account, state directory, module cache, polling.
    #[command(flatten)]
    pub daemon: DaemonArgs,
    /// Ask in AGR per Mfuel.
    #[arg(long, value_name = "AGR", default_value = "0.001")]
    pub price: String,
    /// Most Mfuel of jobs in flight at once.
    #[arg(long, value_name = "MFUEL", default_value = "1000000")]
    pub capacity: String,
    /// Region, energy source, collateral per job.
    #[command(flatten)]
    pub site: OfferSiteArgs,
    /// Blocks each posted offer lives.
    #[arg(long, value_name = "BLOCKS", default_value_t = 100_000)]
    pub offer_blocks: u64,
    /// Stake to keep bonded, AGR (enough collateral for several jobs at once).
    #[arg(long, value_name = "AGR", default_value = "100")]
    pub bond: String,
    /// When the account already has an open offer the daemon did not post: work under it as
    /// it stands (adopt, saying which flags differ), cancel it and post one with these flags
    /// (replace), or stop (refuse). An offer the provider cancels is never re-posted.
    #[arg(
        long,
        value_name = "POLICY",
        default_value = "adopt",
        value_parser = clap::builder::PossibleValuesParser::new(ExistingOffer::NAMES)
    )]
    pub existing_offer: String,
    /// Cheat on purpose, for tests: tamper-leaf=I|last, withhold-state=I, overbill-fuel=P,
    /// overbill-last=P, wrong-output, skip-steps=N (builds with the `faults` feature only).
    #[cfg(feature = "faults")]
    #[arg(long = "fault", value_name = "KIND")]
    pub faults: Vec<agora_worker::faults::Fault>,
}

impl WorkerArgs {
    /// The worker's configuration, every argument checked.
    pub fn config(&self, rpc_url: &str) -> Result<WorkerConfig, CliError> {
        let terms = self
            .site
            .terms(&self.price, &self.capacity, self.offer_blocks);
        Ok(WorkerConfig {
            daemon: self.daemon.config(rpc_url, "worker")?,
            offer: terms.plan()?,
            bond: parse_agr(&self.bond)?,
            // clap allows only the names.
            existing_offer: ExistingOffer::named(&self.existing_offer).unwrap_or_default(),
            #[cfg(feature = "faults")]
            faults: self.faults.clone(),
        })
    }
}
