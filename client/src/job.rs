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

use std::path::{Path, PathBuf};
use std::time::Instant;

use agora_primitives::Hash;
use agora_verifier::{run, Executor, JobInputs, Origin, RunSpec, Settings};
use clap::Args;
use serde::Serialize;

use crate::cli::CliError;

/// Default segment length, steps.
pub const DEFAULT_SEGMENT_STEPS: u32 = 100;

/// `agora job run-local …`
#[derive(Debug, Args)]
pub struct RunLocalArgs {
    /// The job module (`.wasm`), e.g. jobs/dist/mlp.wasm.
    #[arg(long, value_name = "PATH")]
    pub module: PathBuf,
    /// The dataset: CSV with a header row, numeric features and a last column `label`.
    #[arg(long, value_name = "PATH")]
    pub data: PathBuf,
    /// Job params as a JSON object, or @FILE to read them from a file.
    #[arg(long, value_name = "JSON", default_value = "{}")]
    pub params: String,
    /// Training steps (default: what the params plan, epochs × batches per epoch).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub steps: Option<u64>,
    /// Steps per segment (trace granularity).
    #[arg(long, value_name = "K", default_value_t = DEFAULT_SEGMENT_STEPS, value_parser = clap::value_parser!(u32).range(1..))]
    pub segment: u32,
    /// The job seed (split, shuffles, initial weights).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output directory (created if missing).
    #[arg(long, value_name = "DIR", default_value = "job-out")]
    pub out: PathBuf,
    /// Also write every intermediate state to DIR/states/.
    #[arg(long)]
    pub keep_states: bool,
    /// Directory of the compiled-module cache.
    #[arg(long, value_name = "DIR", env = "AGORA_MODULE_CACHE")]
    pub cache_dir: Option<PathBuf>,
}

/// Fuel by phase.
#[derive(Debug, Clone, Serialize)]
pub struct FuelReport {
    /// `init`.
    pub init: u64,
    /// All segments.
    pub training: u64,
    /// `eval`.
    pub eval: u64,
    /// `export`.
    pub export: u64,
    /// Sum.
    pub total: u64,
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
    /// Fuel the segment used.
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

fn read(path: &Path, what: &str) -> Result<Vec<u8>, CliError> {
    std::fs::read(path)
        .map_err(|e| CliError::File(format!("cannot read the {what} {}: {e}", path.display())))
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    std::fs::write(path, bytes)
        .map_err(|e| CliError::File(format!("cannot write {}: {e}", path.display())))
}

/// `~/.cache/agora/modules`, the default compiled-module cache.
pub fn default_cache_dir() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache/agora/modules"))
}

/// Run `job run-local`.
pub fn run_local(args: &RunLocalArgs) -> Result<RunLocalReport, CliError> {
    let started = Instant::now();
    let wasm = read(&args.module, "module")?;
    let dataset = read(&args.data, "dataset")?;
    let params_text = match args.params.strip_prefix('@') {
        Some(path) => String::from_utf8(read(Path::new(path), "params file")?)
            .map_err(|_| CliError::File(format!("the params file {path} is not UTF-8")))?,
        None => args.params.clone(),
    };
    let params_json: serde_json::Value = serde_json::from_str(&params_text).map_err(|e| {
        CliError::InvalidJob(format!("--params is not valid JSON ({e}): {params_text}"))
    })?;
    if !params_json.is_object() {
        return Err(CliError::InvalidJob(format!(
            "--params must be a JSON object, got {params_text}"
        )));
    }
    let params = params_text.as_bytes();

    let settings = Settings {
        cache_dir: args.cache_dir.clone().or_else(default_cache_dir),
        ..Settings::default()
    };
    let executor = Executor::new(settings)?;
    let job = executor.load(&wasm)?;
    let plan = executor.plan(&job, params, &dataset)?;
    let plan: serde_json::Value = serde_json::from_slice(&plan.bytes)
        .map_err(|e| CliError::InvalidJob(format!("the job's plan is not JSON: {e}")))?;
    let steps = match args.steps {
        Some(steps) => steps,
        None => plan["total_steps"].as_u64().ok_or_else(|| {
            CliError::InvalidJob(format!("the job's plan has no total_steps: {plan}"))
        })?,
    };
    let spec = RunSpec {
        seed: args.seed,
        steps,
        segment_steps: args.segment,
    };

    std::fs::create_dir_all(&args.out)
        .map_err(|e| CliError::File(format!("cannot create {}: {e}", args.out.display())))?;
    if args.keep_states {
        std::fs::create_dir_all(args.out.join("states")).map_err(|e| {
            CliError::File(format!("cannot create {}/states: {e}", args.out.display()))
        })?;
    }
    let inputs = JobInputs {
        params,
        dataset: &dataset,
    };
    let mut write_error = None;
    let result = run(&executor, &job, inputs, spec, |index, state| {
        if args.keep_states {
            if let Err(e) = write(&args.out.join(format!("states/{index}.state")), state) {
                write_error = Some(e);
            }
        }
        Ok(())
    })?;
    if let Some(e) = write_error {
        return Err(e);
    }
    let eval = executor.eval(&job, params, &dataset, &result.final_state)?;
    let export = executor.export(&job, params, &dataset, &result.final_state)?;
    let metrics: serde_json::Value = serde_json::from_slice(&eval.bytes)
        .map_err(|e| CliError::InvalidJob(format!("the job's metrics are not JSON: {e}")))?;

    write(&args.out.join("model.bpk"), &export.bytes)?;
    write(&args.out.join("final.state"), &result.final_state)?;
    write(
        &args.out.join("metrics.json"),
        &serde_json::to_vec_pretty(&metrics)?,
    )?;
    let training = result.training_fuel();
    let mut report = RunLocalReport {
        module_hash: job.hash(),
        dataset_hash: Hash::of(&dataset),
        params: params_json,
        seed: args.seed,
        steps,
        segment_steps: args.segment,
        segments: spec.segments(),
        trace_root: result.tree.root(),
        fuel: FuelReport {
            init: result.init_fuel,
            training,
            eval: eval.fuel,
            export: export.fuel,
            total: result.init_fuel + training + eval.fuel + export.fuel,
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
    write(
        &args.out.join("trace.json"),
        &serde_json::to_vec_pretty(&report)?,
    )?;
    report.leaves.clear();
    Ok(report)
}
