//! `agora job quote`: what a job will cost, before bidding for it.
//!
//! The job's training fuel — the segments' fuel, what a bid's `--max-fuel` caps (the engine
//! gives the segments no more, `agora_engine::RunSpec::segment_fuel`) and what the worker is
//! paid by — is measured rather than guessed: the quote runs the job's plan (its total steps),
//! then `init` and the first few segments locally with the same engine and settings a worker
//! uses, plus `eval` and `export` on the state they reach, and extrapolates by fuel per step:
//!
//! ```text
//! estimate = steps × (sampled training fuel ÷ sampled steps)       (billed)
//! low/high = the same with the cheapest / dearest sampled segment's fuel per step
//!            (all three the measured fuel when every step was sampled)
//! all calls = init + estimate + eval + export                     (what a machine runs; init,
//!                                                                  eval and export are not billed)
//! ```
//!
//! Every input is deterministic, so the quote is the same on every machine. It assumes the
//! sampled segments are typical: a job whose later steps cost more (a growing model, a
//! curriculum) is quoted low, which is why `--max-fuel` suggestions carry a margin and why a
//! bid's unused fuel is refunded. With a node, the quote adds the market: per region, the
//! cheapest open ask with room for the job, what the job costs and what the bid would escrow at
//! that ask, and the recent queue times; and the last clearing price.

use agora_client::amount::{format_agr, parse_agr};
use agora_client::files;
use agora_client::rpc::Rpc;
use agora_engine::{run_with_fuel, Executor, JobInputs, JobModule, RunSpec};
use agora_primitives::{Balance, Hash};
use agora_rpc_api::views::MarketReport;
use clap::Args;
use pallet_market::{mfuel_decimal, BidTerms, Fuel, JobSpec, FUEL_PER_MFUEL};
use serde::Serialize;

use crate::args::JobArgs;
use crate::cli::CliError;
use crate::commands::prepare::{DEFAULT_DEADLINE_IN, DEFAULT_RUN_BLOCKS};
use crate::commands::{run_local, segment};

/// Margin `job submit` adds to the quote when no `--max-fuel` is given, and the quote's
/// suggestion: 10 %.
pub const MARGIN_PERCENT: u64 = 10;

/// `agora job quote …`
#[derive(Debug, Args)]
pub struct QuoteArgs {
    /// The job: module, dataset, params, steps, segment length, seed.
    #[command(flatten)]
    pub job: JobArgs,
    /// Segments run locally to measure the fuel per step (more: a longer, surer quote).
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub sample_segments: u64,
}

/// The measured fuel and its extrapolation, in fuel units.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct FuelEstimate {
    /// Training steps of the whole job.
    pub steps: u64,
    /// Steps that ran to measure.
    pub sampled_steps: u64,
    /// Fuel of `init`.
    pub init: Fuel,
    /// Fuel of `eval` and `export` on the sampled state.
    pub eval_export: Fuel,
    /// Training fuel extrapolated at the sampled mean fuel per step: the bill's estimate.
    pub training: Fuel,
    /// Every call of the job: `init + training + eval + export`.
    pub total: Fuel,
    /// Training fuel at the cheapest sampled segment's fuel per step.
    pub low: Fuel,
    /// Training fuel at the dearest sampled segment's fuel per step.
    pub high: Fuel,
}

impl FuelEstimate {
    /// Extrapolates from `segments`: `(steps, fuel)` of each sampled segment.
    pub fn extrapolate(
        steps: u64,
        init: Fuel,
        eval_export: Fuel,
        segments: &[(u64, Fuel)],
    ) -> Option<FuelEstimate> {
        let sampled_steps: u64 = segments.iter().map(|(s, _)| *s).sum();
        let sampled_fuel: u128 = segments.iter().map(|(_, f)| u128::from(*f)).sum();
        if sampled_steps == 0 {
            return None;
        }
        // Fuel of `steps` at `fuel / per` per step, rounded up, in u128 (no overflow).
        let at = |fuel: u128, per: u64| -> Option<Fuel> {
            let scaled = fuel.checked_mul(u128::from(steps))?;
            Fuel::try_from(scaled.div_ceil(u128::from(per))).ok()
        };
        let fixed = init.checked_add(eval_export)?;
        let training = at(sampled_fuel, sampled_steps)?;
        let rate = |(s, f): &(u64, Fuel)| (u128::from(*f), (*s).max(1));
        // Compare f1/s1 < f2/s2 as f1·s2 < f2·s1.
        let cheapest = segments
            .iter()
            .map(rate)
            .min_by(|a, b| (a.0 * u128::from(b.1)).cmp(&(b.0 * u128::from(a.1))))?;
        let dearest = segments
            .iter()
            .map(rate)
            .max_by(|a, b| (a.0 * u128::from(b.1)).cmp(&(b.0 * u128::from(a.1))))?;
        // Every step ran: the measurement is the job's fuel, exactly.
        let (low, high) = match sampled_steps >= steps {
            true => (training, training),
            false => (at(cheapest.0, cheapest.1)?, at(dearest.0, dearest.1)?),
        };
        Some(FuelEstimate {
            steps,
            sampled_steps,
            init,
            eval_export,
            training,
            total: fixed.checked_add(training)?,
            low,
            high,
        })
    }

    /// The `--max-fuel` to bid with: the dearer of the high estimate and the estimate plus
    /// [`MARGIN_PERCENT`], rounded up to whole Mfuel.
    pub fn suggested_max_fuel(&self) -> Fuel {
        let margin = self
            .training
            .saturating_add(self.training.saturating_mul(MARGIN_PERCENT).div_ceil(100));
        margin
            .max(self.high)
            .div_ceil(FUEL_PER_MFUEL)
            .saturating_mul(FUEL_PER_MFUEL)
    }
}

/// Measures the job: its plan's steps, `init`, the first `sample_segments` segments, and
/// `eval` and `export` on the state they reach.
pub fn measure(
    executor: &Executor,
    module: &JobModule,
    job: &JobArgs,
    params: &[u8],
    dataset: &[u8],
    sample_segments: u64,
) -> Result<(FuelEstimate, u32), CliError> {
    let (_, steps) = run_local::plan(executor, module, params, dataset, job.steps)?;
    let segment = segment::segment_steps(executor, module, job, (params, dataset), (steps, None));
    let sampled = steps.min(sample_segments.saturating_mul(u64::from(segment)));
    let spec = RunSpec {
        seed: job.seed,
        steps: sampled,
        segment_steps: segment,
        max_fuel: RunSpec::UNBOUNDED,
    };
    let inputs = JobInputs { params, dataset };
    let run = run_with_fuel(executor, module, inputs, spec, |_, _, _| Ok(()))?;
    if let Some(refusal) = run.refused {
        return Err(refusal.error.into());
    }
    // Leaves carry cumulative fuel: each segment's own is the difference.
    let mut segments = Vec::with_capacity(run.leaves.len());
    let mut before = 0;
    for leaf in &run.leaves {
        segments.push((
            u64::from(spec.steps_in(leaf.index)),
            leaf.fuel.saturating_sub(before),
        ));
        before = leaf.fuel;
    }
    let eval = executor.eval(module, params, dataset, &run.final_state)?;
    let export = executor.export(module, params, dataset, &run.final_state)?;
    let estimate = FuelEstimate::extrapolate(
        steps,
        run.init_fuel,
        eval.fuel.saturating_add(export.fuel),
        &segments,
    )
    .ok_or_else(|| CliError::InvalidJob(format!("the job has no steps to measure ({steps})")))?;
    Ok((estimate, segment))
}

/// One region's offer of the market for the quoted job.
#[derive(Debug, Serialize)]
pub struct RegionQuote {
    /// The region.
    pub region: String,
    /// The cheapest open ask there with room for the suggested max fuel, AGR per Mfuel.
    pub ask: String,
    /// The estimated job at that ask, AGR.
    pub cost: String,
    /// What a bid at that ask with the suggested max fuel reserves (escrow, checks included).
    pub escrow: String,
    /// Queue time of recent matches there, blocks (p50 / p90), if any matched.
    pub queue_p50: Option<u64>,
    /// p90 of the same.
    pub queue_p90: Option<u64>,
}

/// The market's side of a quote.
#[derive(Debug, Serialize)]
pub struct MarketQuote {
    /// The block the market was read at.
    pub block: u64,
    /// The most recent clearing price, AGR per Mfuel.
    pub last_clearing_price: Option<String>,
    /// Per region, cheapest first.
    pub regions: Vec<RegionQuote>,
}

/// `job quote`'s answer.
#[derive(Debug, Serialize)]
pub struct QuoteReport {
    /// blake3 of the module.
    pub module: Hash,
    /// blake3 of the dataset.
    pub dataset: Hash,
    /// The fuel, in Mfuel: estimate, low, high, and the parts.
    pub fuel: FuelQuote,
    /// `--max-fuel` to bid with, Mfuel.
    pub suggested_max_fuel: String,
    /// The market, if a node answered.
    pub market: Option<MarketQuote>,
    /// Why there is no market part, if there is none.
    pub market_unavailable: Option<String>,
}

/// [`FuelEstimate`] in Mfuel, the unit users type, as decimal strings.
#[derive(Debug, Serialize)]
pub struct FuelQuote {
    /// Steps of the job.
    pub steps: u64,
    /// Steps per segment: `--segment`, or the length chosen (`segment.rs`).
    pub segment_steps: u32,
    /// Segments of the job.
    pub segments: u64,
    /// Steps measured.
    pub sampled_steps: u64,
    /// The estimate of the training fuel: what the worker bills.
    pub estimate: String,
    /// With the cheapest sampled segment's rate.
    pub low: String,
    /// With the dearest sampled segment's rate.
    pub high: String,
    /// `init` (run by the worker, not billed).
    pub init: String,
    /// `eval` plus `export` (run by the worker, not billed).
    pub eval_export: String,
    /// Every call: `init`, training, `eval`, `export`.
    pub all_calls: String,
}

impl QuoteReport {
    /// Text for a terminal.
    pub fn text(&self) -> String {
        let f = &self.fuel;
        let mut out = format!(
            "fuel    {} Mfuel of training, billed (range {} – {} Mfuel), measured on {} of {} \
             steps; {} Mfuel with init, eval and export, which are not billed\n\
             job     {} segments of {} steps\n\
             bid     --max-fuel {} (Mfuel: the estimate + {MARGIN_PERCENT} %, at least the high end)\n",
            f.estimate,
            f.low,
            f.high,
            f.sampled_steps,
            f.steps,
            f.all_calls,
            f.segments,
            f.segment_steps,
            self.suggested_max_fuel
        );
        match (&self.market, &self.market_unavailable) {
            (Some(market), _) => {
                if let Some(price) = &market.last_clearing_price {
                    out.push_str(&format!(
                        "market  last clearing {price} AGR/Mfuel (block #{})\n",
                        market.block
                    ));
                }
                if market.regions.is_empty() {
                    out.push_str("        no open offer has room for the job now\n");
                }
                for r in &market.regions {
                    let queue = match (r.queue_p50, r.queue_p90) {
                        (Some(p50), Some(p90)) => format!("queue p50 {p50} / p90 {p90} blocks"),
                        _ => "no recent matches".to_owned(),
                    };
                    out.push_str(&format!(
                        "  {:<12} ask {} AGR/Mfuel: about {} AGR, escrow {} AGR; {queue}\n",
                        r.region, r.ask, r.cost, r.escrow
                    ));
                }
            }
            (None, Some(why)) => out.push_str(&format!("market  not shown: {why}\n")),
            (None, None) => {}
        }
        out
    }
}

/// Runs `job quote`: measures locally, then reads the market from `rpc` if it answers.
pub async fn quote(rpc: Result<Rpc, CliError>, args: &QuoteArgs) -> Result<QuoteReport, CliError> {
    let job = &args.job;
    let wasm = files::read(&job.module, "module")?;
    let dataset = files::read(&job.data, "dataset")?;
    let params = files::read_params(&job.params)?;
    let executor = Executor::new(job.settings())?;
    let module = executor.load(&wasm)?;
    let (estimate, segment) = measure(
        &executor,
        &module,
        job,
        &params,
        &dataset,
        args.sample_segments,
    )?;
    let max_fuel = estimate.suggested_max_fuel();
    let spec = JobSpec {
        module: module.hash(),
        dataset: Hash::of(&dataset),
        params,
        steps: estimate.steps,
        segment_steps: u64::from(segment),
        seed: job.seed,
    };
    let (market, market_unavailable) = match rpc {
        Ok(rpc) => match rpc.market_view(None).await {
            Ok(view) => (Some(market_quote(&view, &spec, &estimate, max_fuel)), None),
            Err(e) => (None, Some(e.to_string())),
        },
        Err(e) => (None, Some(e.to_string())),
    };
    Ok(QuoteReport {
        module: spec.module,
        dataset: spec.dataset,
        fuel: FuelQuote {
            steps: estimate.steps,
            segment_steps: segment,
            segments: spec.segments(),
            sampled_steps: estimate.sampled_steps,
            estimate: mfuel_decimal(estimate.training),
            low: mfuel_decimal(estimate.low),
            high: mfuel_decimal(estimate.high),
            init: mfuel_decimal(estimate.init),
            eval_export: mfuel_decimal(estimate.eval_export),
            all_calls: mfuel_decimal(estimate.total),
        },
        suggested_max_fuel: mfuel_decimal(max_fuel),
        market,
        market_unavailable,
    })
}

/// Per region, the cheapest open ask with room for `max_fuel`, priced for this job.
fn market_quote(
    view: &MarketReport,
    spec: &JobSpec,
    estimate: &FuelEstimate,
    max_fuel: Fuel,
) -> MarketQuote {
    use std::collections::BTreeMap;
    let mut cheapest: BTreeMap<&str, Balance> = BTreeMap::new();
    for offer in view.offers.iter().filter(|o| o.free >= max_fuel) {
        let Ok(ask) = parse_agr(&offer.price) else {
            continue;
        };
        let entry = cheapest.entry(offer.region.as_str()).or_insert(ask);
        *entry = (*entry).min(ask);
    }
    let mut regions: Vec<RegionQuote> = cheapest
        .into_iter()
        .map(|(region, ask)| {
            let terms = BidTerms {
                max_price: ask,
                max_fuel,
                // `job submit`'s defaults: the escrow does not depend on them.
                run_blocks: DEFAULT_RUN_BLOCKS,
                deadline: view.block.saturating_add(DEFAULT_DEADLINE_IN),
                region: None,
                renewable_only: false,
                requeue: false,
                assurance_permille: 0,
                assurance_verifiers: 0,
            };
            let escrow = agora_runtime::Market::escrow_for(spec, &terms).unwrap_or(Balance::MAX);
            let cost = ask
                .saturating_mul(Balance::from(estimate.training))
                .div_ceil(Balance::from(FUEL_PER_MFUEL));
            let queue = view.queue_times.iter().find(|q| q.region == region);
            RegionQuote {
                region: region.to_owned(),
                ask: format_agr(ask),
                cost: format_agr(cost),
                escrow: format_agr(escrow),
                queue_p50: queue.map(|q| q.p50),
                queue_p90: queue.map(|q| q.p90),
            }
        })
        .collect();
    regions.sort_by_key(|r| parse_agr(&r.ask).unwrap_or(Balance::MAX));
    MarketQuote {
        block: view.block,
        last_clearing_price: view.clearings.first().map(|c| c.price.clone()),
        regions,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_estimate_extrapolates_fuel_per_step_and_brackets_it() {
        // Three sampled segments of 10, 10 and 5 steps at 100, 120 and 40 fuel per step.
        let e =
            FuelEstimate::extrapolate(100, 7, 3, &[(10, 1_000), (10, 1_200), (5, 200)]).unwrap();
        assert_eq!(e.sampled_steps, 25);
        // 2,400 fuel over 25 steps = 96 a step → 9,600 for 100 steps billed; every call adds
        // init and eval/export, which are not billed.
        assert_eq!(e.training, 9_600);
        assert_eq!(e.total, 9_610);
        assert_eq!((e.low, e.high), (4_000, 12_000));
        // Rounds up to whole Mfuel, and is at least the high end.
        assert_eq!(e.suggested_max_fuel(), FUEL_PER_MFUEL);
        let big = FuelEstimate::extrapolate(1_000, 0, 0, &[(1, 10 * FUEL_PER_MFUEL)]).unwrap();
        assert_eq!(big.training, 10_000 * FUEL_PER_MFUEL);
        assert_eq!(big.suggested_max_fuel(), 11_000 * FUEL_PER_MFUEL);
        assert!(FuelEstimate::extrapolate(10, 0, 0, &[]).is_none());
        // Every step sampled (a short last segment at a dearer rate): the measurement, exactly.
        let all =
            FuelEstimate::extrapolate(25, 7, 3, &[(10, 1_000), (10, 1_200), (5, 200)]).unwrap();
        assert_eq!((all.low, all.training, all.high), (2_400, 2_400, 2_400));
    }

    #[test]
    fn the_market_part_takes_each_regions_cheapest_ask_with_room_for_the_job() {
        use agora_rpc_api::views::{OfferRow, QueueTimes};
        let offer = |id, price: &str, free, region: &str| OfferRow {
            id,
            provider: agora_primitives::AccountId([1; 32]),
            price: price.to_owned(),
            capacity: free,
            free,
            region: region.to_owned(),
            energy: pallet_market::Energy::Renewable,
            collateral: "1".to_owned(),
            expires_at: 1_000,
        };
        let max_fuel = 100 * FUEL_PER_MFUEL;
        let view = MarketReport {
            block: 50,
            offers: vec![
                offer(0, "0.002", max_fuel, "eu-west"),
                offer(1, "0.001", max_fuel, "eu-west"),
                // Cheaper, but without room for the job.
                offer(2, "0.0001", max_fuel - 1, "us-east"),
                offer(3, "0.003", 2 * max_fuel, "ap-south"),
            ],
            bids: Vec::new(),
            clearings: Vec::new(),
            queue_times: vec![QueueTimes {
                region: "eu-west".to_owned(),
                matches: 4,
                p50: 2,
                p90: 7,
                max: 9,
            }],
            renewable_share_percent: None,
            newcomer_share_percent: None,
        };
        let spec = JobSpec {
            module: Hash([2; 32]),
            dataset: Hash([3; 32]),
            params: b"{}".to_vec(),
            steps: 100,
            segment_steps: 10,
            seed: 0,
        };
        let estimate = FuelEstimate::extrapolate(100, 0, 0, &[(10, 8 * FUEL_PER_MFUEL)]).unwrap();
        let market = market_quote(&view, &spec, &estimate, max_fuel);
        let rows: Vec<(&str, &str, &str)> = market
            .regions
            .iter()
            .map(|r| (r.region.as_str(), r.ask.as_str(), r.cost.as_str()))
            .collect();
        // 80 Mfuel at 0.001 and at 0.003 AGR/Mfuel, cheapest first; us-east has no room.
        assert_eq!(
            rows,
            [("eu-west", "0.001", "0.08"), ("ap-south", "0.003", "0.24")]
        );
        assert_eq!(
            (market.regions[0].queue_p50, market.regions[0].queue_p90),
            (Some(2), Some(7))
        );
        assert_eq!(market.regions[1].queue_p50, None);
        // The escrow is what the chain would reserve: at least the fuel at the ask.
        let escrow = parse_agr(&market.regions[0].escrow).unwrap();
        assert!(escrow >= parse_agr("0.1").unwrap(), "{escrow}");
        assert!(market.last_clearing_price.is_none());
    }
}
