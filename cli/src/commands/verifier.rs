//! `agora verifier run --key SURI [--bond AGR]`: the verifier's daemon (crate
//! `agora-verifier`).

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
    /// Stake to keep bonded, AGR (the registration minimum plus a bond per check).
    #[arg(long, value_name = "AGR", default_value = "50")]
    pub bond: String,
    /// Cheat on purpose, for tests: lazy (copy and false-challenge come with open challenges)
    /// (builds with the `faults` feature only).
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
            #[cfg(feature = "faults")]
            faults: self.faults.clone(),
        })
    }
}
