//! `agora job run-local`: run a job with the executor alone, no chain.
//!
//! Loads and validates the module (compiled modules are cached under
//! `~/.cache/agora/modules`, keyed by module hash and executor fingerprint), asks the job for its
//! plan, runs `init` and the segments while building the trace, evaluates and exports the final
//! state, and writes to `--out`:
//!
//! - `model.bpk` — the trained model, a burnpack record `burn` loads natively;
//! - `trace.json` — job identity (module, dataset, params, seed, steps, segment length), the
//!   trace root and every leaf (index, state hash, fuel), and the fuel of each phase;
//! - `metrics.json` — what the job's `eval` returned;
//! - `final.state` — the state after the last segment (and with `--keep-states`, every state as
//!   `states/<i>.state`, the checkpoints a worker keeps to answer reveals).

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use agora_client::files;
use agora_client::offers::parse_mfuel;
use agora_engine::{run_with_fuel, Executor, JobInputs, JobModule, Origin, RunSpec, Settings};
use agora_primitives::Hash;
use clap::Args;
use pallet_market::format_mfuel;
use serde::Serialize;

use crate::args::JobArgs;
use crate::cli::CliError;
use crate::commands::segment;

/// `agora job run-local …`
#[derive(Debug, Args)]
pub struct RunLocalArgs {
    /// The job: module, dataset, params, steps, segment length, seed.
    #[command(flatten)]
    pub job: JobArgs,
    /// Output directory (created if missing).
    #[arg(long, value_name = "DIR", default_value = "job-out")]
    pub out: PathBuf,
    /// Also write every intermediate state to DIR/states/.
    #[arg(long)]
    pub keep_states: bool,
    /// Stop the run once training has used more than this much fuel, in Mfuel (10⁶ fuel units;
    /// the unit of `job submit --max-fuel`). Any single call is stopped at it too.
    #[arg(long, value_name = "MFUEL")]
    pub max_fuel: Option<String>,
    /// Do not draw the progress bar (it is drawn on stderr only when stderr is a terminal).
    #[arg(long)]
    pub no_progress: bool,
}

/// Fuel by phase (in JSON: decimal Mfuel strings, the unit of `--max-fuel`).
#[derive(Debug, Clone, Serialize)]
pub struct FuelReport {
    /// `init`.
    #[serde(serialize_with = "mfuel")]
    pub init: u64,
    /// All segments: what a worker bills, and what a bid's `--max-fuel` caps.
    #[serde(serialize_with = "mfuel")]
    pub training: u64,
    /// `eval`.
    #[serde(serialize_with = "mfuel")]
    pub eval: u64,
    /// `export`.
    #[serde(serialize_with = "mfuel")]
    pub export: u64,
    /// Sum.
    #[serde(serialize_with = "mfuel")]
    pub total: u64,
}

/// A fuel amount as a decimal Mfuel string.
fn mfuel<S: serde::Serializer>(fuel: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&pallet_market::mfuel_decimal(*fuel))
}

/// One trace leaf in `trace.json`.
#[derive(Debug, Clone, Serialize)]
pub struct LeafReport {
    /// Segment index.
    pub index: u64,
    /// Steps in the segment.
    pub steps: u32,
    /// blake3 of the state after the segment.
    pub state_hash: Hash,
    /// Cumulative training fuel up to and including the segment, in fuel units: the leaf as
    /// the trace (and the chain) holds it.
    pub fuel: u64,
}

/// What `job run-local` prints (and writes as `trace.json`, with the leaves).
#[derive(Debug, Clone, Serialize)]
pub struct RunLocalReport {
    /// blake3 of the module.
    pub module_hash: Hash,
    /// blake3 of the dataset file.
    pub dataset_hash: Hash,
    /// The params as given.
    pub params: serde_json::Value,
    /// Seed.
    pub seed: u64,
    /// Steps run.
    pub steps: u64,
    /// Steps per segment.
    pub segment_steps: u32,
    /// Segments.
    pub segments: u64,
    /// The trace root (the worker's commitment).
    pub trace_root: Hash,
    /// Fuel by phase.
    pub fuel: FuelReport,
    /// Metrics from the job's `eval`.
    pub metrics: serde_json::Value,
    /// blake3 of the exported model.
    pub output_hash: Hash,
    /// Size of the exported model, bytes.
    pub output_bytes: usize,
    /// Where the compiled module came from: compiled, memory-cache, disk-cache.
    pub compiled: String,
    /// Wall-clock seconds for the whole run (informational; not part of any result).
    pub seconds: f64,
    /// Output directory.
    pub out: PathBuf,
    /// Trace leaves (in `trace.json`; omitted from the printed report).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub leaves: Vec<LeafReport>,
}

impl RunLocalReport {
    /// Human-readable summary.
    pub fn text(&self) -> String {
        let mfuel = |f: u64| format!("{:.3} Mfuel", f as f64 / 1e6);
        let mut metrics = String::new();
        if let Some(map) = self.metrics.as_object() {
            for (k, v) in map {
                metrics.push_str(&format!("\n  {k:<18}{v}"));
            }
        }
        format!(
            "Module        {} ({})\n\
             Dataset       {}\n\
             Run           seed {}, {} steps in {} segments of {}\n\
             Trace root    {}\n\
             Fuel          init {}, training {}, eval {}, export {}; total {}\n\
             Metrics{metrics}\n\
             Output hash   {} ({} bytes)\n\
             Wrote         {}/model.bpk, trace.json, metrics.json, final.state  ({:.1} s)\n",
            self.module_hash,
            self.compiled,
            self.dataset_hash,
            self.seed,
            self.steps,
            self.segments,
            self.segment_steps,
            self.trace_root,
            mfuel(self.fuel.init),
            mfuel(self.fuel.training),
            mfuel(self.fuel.eval),
            mfuel(self.fuel.export),
            mfuel(self.fuel.total),
            self.output_hash,
            self.output_bytes,
            self.out.display(),
            self.seconds,
        )
    }
}

/// The job's own plan (a JSON object) and the steps it means: `--steps` if given, else the
/// plan's `total_steps`. Validates and compiles the module on the way, so a bad module is
/// refused before anything else is done with it.
pub fn plan(
    executor: &Executor,
    job: &JobModule,
    params: &[u8],
    dataset: &[u8],
    steps: Option<u64>,
) -> Result<(serde_json::Value, u64), CliError> {
    let plan = executor.plan(job, params, dataset)?;
    let plan: serde_json::Value = serde_json::from_slice(&plan.bytes)
        .map_err(|e| CliError::InvalidJob(format!("the job's plan is not JSON: {e}")))?;
    let steps = match steps {
        Some(steps) => steps,
        None => plan["total_steps"].as_u64().ok_or_else(|| {
            CliError::InvalidJob(format!("the job's plan has no total_steps: {plan}"))
        })?,
    };
    Ok((plan, steps))
}

/// `--max-fuel`: a cap on a local run's training fuel, and on every single call's fuel.
#[derive(Clone, Copy, Debug)]
struct FuelCap(Option<u64>);

impl FuelCap {
    /// The cap `--max-fuel` gives (Mfuel), if any; 0 is refused.
    fn parse(text: Option<&str>) -> Result<FuelCap, CliError> {
        let Some(text) = text else {
            return Ok(FuelCap(None));
        };
        match parse_mfuel(text)? {
            0 => Err(CliError::InvalidJob(format!(
                "--max-fuel {text} must be more than 0"
            ))),
            cap => Ok(FuelCap(Some(cap))),
        }
    }

    /// A runaway call (a loop in `init` or in one segment) stops at the cap, not at the
    /// engine's much larger per-call limit.
    fn limit(self, settings: &mut Settings) {
        if let Some(cap) = self.0 {
            settings.limits.max_fuel_per_call = settings.limits.max_fuel_per_call.min(cap);
        }
    }

    /// An engine error as the command's, naming the cap when it was the cap that stopped a
    /// call.
    fn error(self, e: agora_engine::Error) -> CliError {
        match (self.0, &e) {
            (Some(cap), agora_engine::Error::OutOfFuel { call, .. }) => {
                CliError::InvalidJob(format!(
                    "`{call}` used all of --max-fuel {} ({cap} fuel units) and was stopped",
                    format_mfuel(cap)
                ))
            }
            _ => e.into(),
        }
    }
}

/// Runs the job's `init` and segments, keeping the states if asked, drawing the progress bar,
/// and stopping once the training fuel passes `cap`. A local run has nothing to bill: a refused
/// segment is the run's error, as `init`'s is.
fn train(
    executor: &Executor,
    job: &JobModule,
    inputs: JobInputs<'_>,
    spec: RunSpec,
    args: &RunLocalArgs,
    cap: FuelCap,
) -> Result<agora_engine::Run, CliError> {
    let mut write_error = None;
    let mut over = None;
    let show = !args.no_progress && std::io::stderr().is_terminal();
    let mut progress = Progress::new(spec, show);
    let result = run_with_fuel(executor, job, inputs, spec, |index, state, fuel| {
        progress.show(index, fuel);
        if args.keep_states {
            if let Err(e) = files::write(&args.out.join(format!("states/{index}.state")), state) {
                write_error = Some(e);
            }
        }
        match cap.0 {
            Some(cap) if fuel > cap => {
                over = Some((index, fuel, cap));
                Err(agora_engine::Error::Stopped { segments: index })
            }
            _ => Ok(()),
        }
    });
    progress.finish();
    if let Some((segments, fuel, cap)) = over {
        return Err(CliError::InvalidJob(format!(
            "training used {} after {segments} of {} segments, more than --max-fuel {}; stopped",
            format_mfuel(fuel),
            spec.segments(),
            format_mfuel(cap)
        )));
    }
    let result = result.map_err(|e| cap.error(e))?;
    if let Some(e) = write_error {
        return Err(e.into());
    }
    if let Some(refusal) = result.refused {
        return Err(cap.error(refusal.error));
    }
    Ok(result)
}

/// Run `job run-local`.
pub fn run_local(args: &RunLocalArgs) -> Result<RunLocalReport, CliError> {
    let started = Instant::now();
    let job_args = &args.job;
    let wasm = files::read(&job_args.module, "module")?;
    let dataset = files::read(&job_args.data, "dataset")?;
    let params_bytes = files::read_params(&job_args.params)?;
    let params = &params_bytes[..];
    // Checked to be a JSON object by `read_params`.
    let params_json: serde_json::Value = serde_json::from_slice(params).unwrap_or_default();
    let cap = FuelCap::parse(args.max_fuel.as_deref())?;
    let mut settings = job_args.settings();
    cap.limit(&mut settings);
    let executor = Executor::new(settings)?;
    let over_cap = |e| cap.error(e);
    let job = executor.load(&wasm).map_err(over_cap)?;
    let (_, steps) = match plan(&executor, &job, params, &dataset, job_args.steps) {
        Err(CliError::Executor(e)) => return Err(over_cap(e)),
        other => other?,
    };
    // As `job submit` would bid it: a `--max-fuel` may need more segments.
    let inputs = (params, &dataset[..]);
    let segment = segment::segment_steps(&executor, &job, job_args, inputs, (steps, cap.0));
    let spec = RunSpec {
        seed: job_args.seed,
        steps,
        segment_steps: segment,
        max_fuel: RunSpec::UNBOUNDED,
    };

    files::create_dir(&args.out)?;
    if args.keep_states {
        files::create_dir(&args.out.join("states"))?;
    }
    let inputs = JobInputs {
        params,
        dataset: &dataset,
    };
    let result = train(&executor, &job, inputs, spec, args, cap)?;
    let eval = executor
        .eval(&job, params, &dataset, &result.final_state)
        .map_err(over_cap)?;
    let export = executor
        .export(&job, params, &dataset, &result.final_state)
        .map_err(over_cap)?;
    let metrics: serde_json::Value = serde_json::from_slice(&eval.bytes)
        .map_err(|e| CliError::InvalidJob(format!("the job's metrics are not JSON: {e}")))?;

    files::write(&args.out.join("model.bpk"), &export.bytes)?;
    files::write(&args.out.join("final.state"), &result.final_state)?;
    files::write(
        &args.out.join("metrics.json"),
        &serde_json::to_vec_pretty(&metrics)?,
    )?;
    let training = result.training_fuel();
    let mut report = RunLocalReport {
        module_hash: job.hash(),
        dataset_hash: Hash::of(&dataset),
        params: params_json,
        seed: job_args.seed,
        steps,
        segment_steps: segment,
        segments: spec.segments(),
        trace_root: result.tree.root(),
        fuel: FuelReport {
            init: result.init_fuel,
            training,
            eval: eval.fuel,
            export: export.fuel,
            total: result
                .init_fuel
                .saturating_add(training)
                .saturating_add(eval.fuel)
                .saturating_add(export.fuel),
        },
        metrics,
        output_hash: Hash::of(&export.bytes),
        output_bytes: export.bytes.len(),
        compiled: match job.origin() {
            Origin::Compiled => "compiled",
            Origin::MemoryCache => "memory cache",
            Origin::DiskCache => "disk cache",
        }
        .to_string(),
        seconds: 0.0,
        out: args.out.clone(),
        leaves: result
            .leaves
            .iter()
            .map(|l| LeafReport {
                index: l.index,
                steps: spec.steps_in(l.index),
                state_hash: l.state_hash,
                fuel: l.fuel,
            })
            .collect(),
    };
    report.seconds = started.elapsed().as_secs_f64();
    files::write(
        &args.out.join("trace.json"),
        &serde_json::to_vec_pretty(&report)?,
    )?;
    report.leaves.clear();
    Ok(report)
}

/// The progress bar of a local run on stderr: segments (and steps), fuel, elapsed time; redrawn
/// at most ten times a second, only on a terminal.
struct Progress {
    spec: RunSpec,
    show: bool,
    started: Instant,
    drawn: Option<Instant>,
}

impl Progress {
    const WIDTH: u64 = 24;

    fn new(spec: RunSpec, show: bool) -> Self {
        Progress {
            spec,
            show,
            started: Instant::now(),
            drawn: None,
        }
    }

    /// The bar after `done` segments and `fuel` training fuel.
    fn line(&self, done: u64, fuel: u64, elapsed: Duration) -> String {
        let total = self.spec.segments().max(1);
        let filled = done
            .saturating_mul(Self::WIDTH)
            .checked_div(total)
            .unwrap_or(0);
        let bar: String = (0..Self::WIDTH)
            .map(|i| if i < filled { '#' } else { '.' })
            .collect();
        let steps = done
            .saturating_mul(u64::from(self.spec.segment_steps))
            .min(self.spec.steps);
        format!(
            "[{bar}] segment {done}/{total}  step {steps}/{}  {}  {:.1} s",
            self.spec.steps,
            format_mfuel(fuel),
            elapsed.as_secs_f64()
        )
    }

    fn show(&mut self, done: u64, fuel: u64) {
        if !self.show {
            return;
        }
        let now = Instant::now();
        let last = done == self.spec.segments();
        if !last
            && self
                .drawn
                .is_some_and(|at| now.duration_since(at) < Duration::from_millis(100))
        {
            return;
        }
        self.drawn = Some(now);
        let line = self.line(done, fuel, now.duration_since(self.started));
        let mut err = std::io::stderr().lock();
        // A progress bar that cannot be drawn is not worth failing the run for.
        let _ = write!(err, "\r{line}\x1b[K");
        let _ = err.flush();
    }

    fn finish(&self) {
        if self.show && self.drawn.is_some() {
            let _ = writeln!(std::io::stderr());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_progress_line_counts_segments_steps_fuel_and_time() {
        let spec = RunSpec {
            seed: 1,
            steps: 10,
            segment_steps: 4,
            max_fuel: RunSpec::UNBOUNDED,
        };
        let progress = Progress::new(spec, false);
        let line = progress.line(2, 2_500_000, Duration::from_millis(1500));
        assert_eq!(
            line,
            format!(
                "[{}{}] segment 2/3  step 8/10  2.5 Mfuel  1.5 s",
                "#".repeat(16),
                ".".repeat(8)
            )
        );
        // The last segment is short: steps never pass the total.
        assert!(progress.line(3, 0, Duration::ZERO).contains("step 10/10"));
    }
}
