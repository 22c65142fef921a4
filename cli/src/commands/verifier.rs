//! `agora verifier run --key SURI [--bond AGR] [--watch-all [--min-price AGR]]`: the
//! verifier's daemon (crate `agora-verifier`).

use agora_client::amount::parse_agr;
use agora_verifier::VerifierConfig;
use clap::{Args, Subcommand};

use crate::cli::CliError;
use crate::commands::worker::DaemonArgs;

/// `agora verifier …`
#[derive(Debug, Subcommand)]
pub enum VerifierCommand {
    /// Spot-check the jobs this account is drawn for until stopped.
    Run(VerifierArgs),
}

/// `agora verifier run …`
#[derive(Debug, Clone, Args)]
pub struct VerifierArgs {
    /// Account, state directory, module cache, polling.
    #[command(flatten)]
    pub daemon: DaemonArgs,
    /// Stake to keep bonded, AGR (the registration minimum plus a bond per run of segments it checks).
    #[arg(long, value_name = "AGR", default_value = "50")]
    pub bond: String,
    /// Also watch every job: replay each committed job from its start and challenge any
    /// verified result the replay shows wrong, then play the dispute out.
    #[arg(long)]
    pub watch_all: bool,
    /// With --watch-all: leave jobs cheaper than this (AGR per Mfuel) unwatched.
    #[arg(long, value_name = "AGR", default_value = "0", requires = "watch_all")]
    pub min_price: String,
    /// Cheat on purpose, for tests: lazy, copy, false-challenge, miss-segment=S (never attest
    /// segment S's check); or stand in for another machine: arm-nans, aarch64's NaN bits;
    /// small-stack, three quarters of the native stack (builds with the `faults` feature only).
    #[cfg(feature = "faults")]
    #[arg(long = "fault", value_name = "KIND")]
    pub faults: Vec<agora_verifier::faults::Fault>,
}

impl VerifierArgs {
    /// The verifier's configuration, every argument checked.
    pub fn config(&self, rpc_url: &str) -> Result<VerifierConfig, CliError> {
        Ok(VerifierConfig {
            daemon: self.daemon.config(rpc_url, "verifier")?,
            bond: parse_agr(&self.bond)?,
            watch_all: self.watch_all,
            watch_min_price: parse_agr(&self.min_price)?,
            #[cfg(feature = "faults")]
            faults: self.faults.clone(),
        })
    }
}
