//! Aggregating seeds into the report: per strategy, the mean and 95th percentile over seeds of
//! the profit per job (AGR), and the detection rate; as a table and as the JSON of the
//! `scripts/sim.sh economics --output json` contract.

use std::collections::BTreeMap;

use agora_primitives::Balance;
use agora_primitives::AGR;
use serde::Serialize;

use crate::Config;

/// What one strategy did in one seed.
#[derive(Clone, Debug, Default)]
pub struct StrategyRun {
    /// Whether the strategy is honest.
    pub honest: bool,
    /// Sum of its parties' profit, in plancks.
    pub profit: i128,
    /// Jobs (workers) or checks (verifiers) they took part in.
    pub units: u64,
    /// How many of those the protocol flagged.
    pub detected: u64,
    /// How many of those it had nothing to rule on (a job cancelled before its result):
    /// counted in the profit per job, left out of the detection rate.
    pub unruled: u64,
}

impl StrategyRun {
    /// An empty run of an honest (or not) strategy.
    pub fn new(honest: bool) -> StrategyRun {
        StrategyRun {
            honest,
            ..StrategyRun::default()
        }
    }

    /// Profit per job or check, in AGR; `None` if it took part in none.
    fn per_unit(&self) -> Option<f64> {
        (self.units > 0).then(|| agr(self.profit) / self.units as f64)
    }
}

/// What one seed gave.
#[derive(Clone, Debug)]
pub struct SeedOutcome {
    /// Per strategy, by name.
    pub strategies: BTreeMap<&'static str, StrategyRun>,
    /// The buyer's change in holdings (negative: what its jobs cost).
    pub buyer_profit: i128,
    /// Over settled jobs: verifier fees paid and the worker's pay.
    pub verification_cost: (Balance, Balance),
    /// Jobs still running at the horizon (their parties' profit is incomplete).
    pub unfinished_jobs: u64,
    /// Extrinsics refused or failed, by reason.
    pub failed_calls: BTreeMap<String, u64>,
}

/// One strategy across seeds.
#[derive(Clone, Debug, Serialize)]
pub struct StrategyReport {
    /// Its name.
    pub strategy: String,
    /// Whether it is honest.
    pub honest: bool,
    /// Mean over seeds of the profit per job (AGR).
    pub mean_profit: f64,
    /// Standard deviation over seeds.
    pub stddev_profit: f64,
    /// 95th percentile over seeds.
    pub p95_profit: f64,
    /// Flagged jobs (or checks) ÷ all of them, over every seed.
    pub detected_rate: f64,
    /// Jobs (workers) or checks (verifiers) over every seed.
    pub samples: u64,
}

/// The whole run.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Seeds run.
    pub seeds: u64,
    /// The first of them.
    pub first_seed: u64,
    /// Blocks per seed.
    pub blocks: u64,
    /// Verifiers the buyer asked for each sampled segment (0: the runtime's default).
    pub verifiers_per_segment: u32,
    /// Per strategy.
    pub strategies: Vec<StrategyReport>,
    /// Verifier fees ÷ the worker's pay, over settled jobs: what checking costs a buyer
    /// relative to the compute it buys, at the runtime's default sampling.
    pub verification_cost_share: f64,
    /// The buyer's mean spend per seed (AGR).
    pub buyer_spend: f64,
    /// Jobs still running at the horizon, over every seed (their parties' profit is partial).
    pub unfinished_jobs: u64,
    /// Extrinsics refused or failed, by reason, over every seed.
    pub failed_calls: BTreeMap<String, u64>,
}

fn agr(plancks: i128) -> f64 {
    plancks as f64 / AGR as f64
}

impl Report {
    /// The report of `outcomes`, one per seed of `config`.
    pub fn from_seeds(config: &Config, outcomes: &[SeedOutcome]) -> Report {
        let mut names: Vec<(&'static str, bool)> = Vec::new();
        for outcome in outcomes {
            for (name, run) in &outcome.strategies {
                if !names.iter().any(|(n, _)| n == name) {
                    names.push((name, run.honest));
                }
            }
        }
        let strategies = names
            .into_iter()
            .map(|(name, honest)| {
                let runs: Vec<&StrategyRun> = outcomes
                    .iter()
                    .filter_map(|o| o.strategies.get(name))
                    .collect();
                let mut profits: Vec<f64> = runs.iter().filter_map(|r| r.per_unit()).collect();
                profits.sort_by(f64::total_cmp);
                let samples: u64 = runs.iter().map(|r| r.units).sum();
                let detected: u64 = runs.iter().map(|r| r.detected).sum();
                let ruled = samples - runs.iter().map(|r| r.unruled).sum::<u64>();
                StrategyReport {
                    strategy: name.to_owned(),
                    honest,
                    mean_profit: mean(&profits),
                    stddev_profit: stddev(&profits),
                    p95_profit: percentile(&profits, 95),
                    detected_rate: if ruled == 0 {
                        0.0
                    } else {
                        detected as f64 / ruled as f64
                    },
                    samples,
                }
            })
            .collect();
        let (fees, pay) = outcomes.iter().fold((0u128, 0u128), |(f, p), o| {
            (f + o.verification_cost.0, p + o.verification_cost.1)
        });
        let mut failed_calls = BTreeMap::new();
        for outcome in outcomes {
            for (what, count) in &outcome.failed_calls {
                *failed_calls.entry(what.clone()).or_default() += count;
            }
        }
        Report {
            seeds: config.seeds,
            first_seed: config.first_seed,
            blocks: config.blocks,
            verifiers_per_segment: config.verifiers_per_segment,
            strategies,
            verification_cost_share: if pay == 0 {
                0.0
            } else {
                fees as f64 / pay as f64
            },
            buyer_spend: -mean(
                &outcomes
                    .iter()
                    .map(|o| agr(o.buyer_profit))
                    .collect::<Vec<_>>(),
            ),
            unfinished_jobs: outcomes.iter().map(|o| o.unfinished_jobs).sum(),
            failed_calls,
        }
    }

    /// The human-readable table.
    pub fn table(&self) -> String {
        let mut out = format!(
            "{} seeds from {}, {} blocks each, {}\n{:<34} {:>6} {:>12} {:>12} {:>12} {:>9} {:>8}\n",
            self.seeds,
            self.first_seed,
            self.blocks,
            match self.verifiers_per_segment {
                0 => "the runtime's verifiers per segment".to_owned(),
                v => format!("{v} verifiers per sampled segment"),
            },
            "strategy",
            "honest",
            "mean AGR/job",
            "stddev",
            "p95",
            "detected",
            "samples"
        );
        for s in &self.strategies {
            out.push_str(&format!(
                "{:<34} {:>6} {:>12.4} {:>12.4} {:>12.4} {:>8.1}% {:>8}\n",
                s.strategy,
                s.honest,
                s.mean_profit,
                s.stddev_profit,
                s.p95_profit,
                s.detected_rate * 100.0,
                s.samples
            ));
        }
        out.push_str(&format!(
            "verification cost share: {:.2}% of the compute price; buyer spend {:.3} AGR a seed; {} jobs unfinished at the horizon\n",
            self.verification_cost_share * 100.0,
            self.buyer_spend,
            self.unfinished_jobs
        ));
        for (what, count) in &self.failed_calls {
            out.push_str(&format!("  {count} × {what}\n"));
        }
        out
    }
}

fn mean(values: &[f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.iter().sum::<f64>() / values.len() as f64
}

fn stddev(values: &[f64]) -> f64 {
    if values.len() < 2 {
        return 0.0;
    }
    let m = mean(values);
    (values.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / (values.len() - 1) as f64).sqrt()
}

/// The `p`-th percentile of ascending `sorted` (nearest rank).
fn percentile(sorted: &[f64], p: usize) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    sorted[rank.min(sorted.len()) - 1]
}
