//! `agora challenge --key SURI JOB (--leaf I | --fuel I | --model)`: challenge a verified job's result
//! within its challenge window and play the dispute to its end (crate `agora-verifier`).
//!
//! Before any bond is committed the job is replayed from its start with the engine; a
//! challenge of the final state, the bill or the output that the replay does not support is
//! refused.
//! The command then answers every move the dispute asks of the challenger until it ends, and
//! reports whether the challenger won (the worker's collateral slashed, part of it paid to
//! the challenger), lost (its bond slashed) or was dismissed (the referee could not decide).

use agora_client::amount::format_agr;
use agora_client::rpc::Rpc;
use agora_verifier::{challenge_job, ChallengeOutcome, Challenger};
use clap::Args;
use pallet_verification::ChallengeTarget;
use serde::Serialize;

use crate::cli::CliError;
use crate::commands::worker::DaemonArgs;

/// `agora challenge …`
#[derive(Debug, Clone, Args)]
pub struct ChallengeArgs {
    /// The challenger's account, where it keeps fetched blobs, its module cache, polling.
    #[command(flatten)]
    pub daemon: DaemonArgs,
    /// The job to challenge.
    #[arg(value_name = "JOB")]
    pub job: u64,
    /// The trace leaf whose state to dispute (the last leaf is the committed final state).
    #[arg(long, value_name = "I", required_unless_present_any = ["model", "fuel"])]
    pub leaf: Option<u64>,
    /// The trace leaf whose cumulative fuel to dispute, its state being right (the last leaf's
    /// is the bill).
    #[arg(long, value_name = "I", conflicts_with = "leaf")]
    pub fuel: Option<u64>,
    /// Dispute the committed model and metrics (`export` and `eval` of the final state).
    #[arg(long, conflicts_with_all = ["leaf", "fuel"])]
    pub model: bool,
}

/// What `agora challenge` prints: amounts in AGR, as every report does.
#[derive(Debug, Clone, Serialize)]
pub struct ChallengeReport {
    /// The job.
    pub job: u64,
    /// What was disputed: `leaf I`, `fuel I` or `output`.
    pub target: String,
    /// `won` (the worker's collateral was slashed), `lost` (the bond was slashed) or
    /// `dismissed` (the referee could not decide; the bond was released).
    pub outcome: &'static str,
    /// Paid to the winner out of the loser's stake.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rewarded: Option<String>,
    /// Repaid out of the loser's stake to whoever called the referee.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repaid: Option<String>,
    /// Burned out of the loser's stake.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub burned: Option<String>,
}

impl ChallengeReport {
    fn new(job: u64, target: ChallengeTarget, outcome: ChallengeOutcome) -> Self {
        let target = match target {
            ChallengeTarget::Leaf(index) => format!("leaf {index}"),
            ChallengeTarget::Fuel(index) => format!("fuel {index}"),
            ChallengeTarget::Output => "output".to_owned(),
        };
        let agr = |amount| Some(format_agr(amount));
        let (outcome, rewarded, repaid, burned) = match outcome {
            ChallengeOutcome::Won {
                rewarded,
                repaid,
                burned,
            } => ("won", agr(rewarded), agr(repaid), agr(burned)),
            ChallengeOutcome::Lost {
                rewarded,
                repaid,
                burned,
            } => ("lost", agr(rewarded), agr(repaid), agr(burned)),
            ChallengeOutcome::Dismissed => ("dismissed", None, None, None),
        };
        ChallengeReport {
            job,
            target,
            outcome,
            rewarded,
            repaid,
            burned,
        }
    }

    /// Human-readable rendering.
    pub fn text(&self) -> String {
        let amount = |a: &Option<String>| a.clone().unwrap_or_default();
        let how = match self.outcome {
            "won" => format!(
                "won: the worker's collateral was slashed; {} AGR paid to the challenger, {} AGR repaid for the referee call, {} AGR burned",
                amount(&self.rewarded), amount(&self.repaid), amount(&self.burned)
            ),
            "lost" => format!(
                "lost: the challenge bond was slashed; {} AGR paid to the worker, {} AGR repaid for the referee call, {} AGR burned",
                amount(&self.rewarded), amount(&self.repaid), amount(&self.burned)
            ),
            _ => "dismissed: the referee could not decide; the bond was released".to_owned(),
        };
        format!("Challenge of job #{} at {}: {how}\n", self.job, self.target)
    }
}

/// Runs `agora challenge`.
pub async fn challenge(
    rpc: &Rpc,
    rpc_url: &str,
    args: &ChallengeArgs,
) -> Result<ChallengeReport, CliError> {
    let config = args.daemon.config(rpc_url, "challenger")?;
    let target = match (args.leaf, args.fuel) {
        (Some(index), _) => ChallengeTarget::Leaf(index),
        (None, Some(index)) => ChallengeTarget::Fuel(index),
        (None, None) => ChallengeTarget::Output,
    };
    let dir = config.chain_dir(rpc).await?;
    let challenger = Challenger::new(rpc, &config.signer, &dir, config.module_cache_dir.clone());
    let outcome = challenge_job(&challenger, args.job, target, config.poll).await?;
    Ok(ChallengeReport::new(args.job, target, outcome))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use agora_primitives::AGR;

    #[test]
    fn a_won_challenge_reports_its_amounts_in_agr_and_a_dismissed_one_none() {
        let won = ChallengeOutcome::Won {
            rewarded: 5 * AGR,
            repaid: 0,
            burned: 5 * AGR,
        };
        let report = ChallengeReport::new(3, ChallengeTarget::Leaf(1), won);
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["outcome"], "won");
        assert_eq!(json["target"], "leaf 1");
        assert_eq!(json["rewarded"], "5");
        assert!(
            report.text().contains("job #3 at leaf 1: won"),
            "{}",
            report.text()
        );
        let dismissed =
            ChallengeReport::new(3, ChallengeTarget::Output, ChallengeOutcome::Dismissed);
        let json = serde_json::to_value(&dismissed).unwrap();
        assert_eq!(json["outcome"], "dismissed");
        assert!(json.get("rewarded").is_none());
    }
}
