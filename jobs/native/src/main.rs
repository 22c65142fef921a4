//! `agora-job-native`: the native side of Agora jobs.
//!
//! ```text
//! agora-job-native eval  --model model.bpk --data data.csv [--job mlp|cnn] [--params JSON] [--seed N]
//! agora-job-native train --data data.csv [--job mlp|cnn|charlm] [--params JSON] [--seed N] [--steps N]
//! agora-job-native bench --data data.csv [--job mlp|cnn|charlm] [--params JSON] [--seed N] [--steps N]
//! agora-job-native generate --model model.bpk --prompt TEXT [--len N] [--temperature T]
//!                           [--job charlm] [--params JSON] [--seed N]
//! ```
//!
//! `--job` names the job whose code to run (default `mlp`): the same crates `jobs/dist/*.wasm`
//! are built from. `train` and `bench` take every job; `eval` the classifiers (`mlp`, `cnn`),
//! `generate` the language model (`charlm`).
//!
//! `eval` loads an exported model (burnpack, as `agora job run-local` writes it) with burn's own
//! `Module::load_record` and prints its accuracy on the holdout rows of the seed's split — the
//! check that a buyer can use the model outside Agora. `train` runs the same SDK training code
//! natively and prints the time per step (the engine benchmark's native baseline). `generate`
//! loads an exported language model (with the params it was trained with, for its shape) and
//! samples `--len` bytes after the prompt, seeded: the same text for the same seed. Native
//! results are never a reference: only the Wasm build is (see `docs/nan-determinism.md`).

use std::process::ExitCode;
use std::time::Instant;

use agora_job_charlm::CharLmJob;
use agora_job_cnn::CnnJob;
use agora_job_mlp::MlpJob;
use agora_job_sdk::abi::Operations;
use agora_job_sdk::job::{Context, Tabular};
use agora_job_sdk::model::{Classifier, Standardize};
use agora_job_sdk::text::{self, Text, TextJob};
use agora_job_sdk::Job;
use burn::module::Module;
use burn::store::ModuleRecord;
use burn::tensor::{Bytes, Tensor, TensorData};

struct Args {
    command: String,
    job: String,
    model: Option<String>,
    data: Option<String>,
    params: String,
    seed: u64,
    steps: Option<u32>,
    prompt: Option<String>,
    len: usize,
    temperature: f32,
}

fn parse_args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let command = it
        .next()
        .ok_or("usage: agora-job-native eval|train --data D [...]")?;
    let mut args = Args {
        command,
        job: "mlp".into(),
        model: None,
        data: None,
        params: "{}".into(),
        seed: 0,
        steps: None,
        prompt: None,
        len: 200,
        temperature: 1.0,
    };
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--model" => args.model = Some(value),
            "--job" => args.job = value,
            "--data" => args.data = Some(value),
            "--params" => args.params = value,
            "--seed" => {
                args.seed = value
                    .parse()
                    .map_err(|_| format!("--seed {value} is not a u64"))?
            }
            "--steps" => {
                args.steps = Some(
                    value
                        .parse()
                        .map_err(|_| format!("--steps {value} is not a u32"))?,
                )
            }
            "--prompt" => args.prompt = Some(value),
            "--len" => {
                args.len = value
                    .parse()
                    .map_err(|_| format!("--len {value} is not a count"))?
            }
            "--temperature" => {
                args.temperature = value
                    .parse()
                    .map_err(|_| format!("--temperature {value} is not a number"))?
            }
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(args)
}

fn read(path: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {path}: {e}"))
}

fn eval<J: Job>(args: &Args) -> Result<(), String> {
    let data = read(args.data.as_deref().ok_or("eval needs --data")?)?;
    let model_path = args.model.as_deref().ok_or("eval needs --model")?;
    let bytes = read(model_path)?;
    let ctx = Context::<J>::new(args.params.as_bytes(), &data, args.seed)?;
    // The structure to load into: the network for this dataset's shape, standardization zeros.
    let spec = ctx.data.spec;
    let net = ctx.build(0)?;
    let skeleton = Classifier {
        standardize: Standardize::new(
            &vec![0.0; spec.features],
            &vec![1.0; spec.features],
            &ctx.device,
        ),
        net,
    };
    let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes))
        .map_err(|e| format!("{model_path} is not a burnpack model: {e}"))?;
    let model = skeleton.load_record(record);
    // Raw (unstandardized) holdout features: the model standardizes them itself.
    let raw = agora_job_sdk::data::Dataset::parse_csv(&data)?;
    let holdout = holdout_rows(&raw, args.seed, ctx.training.holdout);
    let f = spec.features;
    let mut x = Vec::with_capacity(holdout.len() * f);
    for &row in &holdout {
        x.extend_from_slice(&raw.x[row * f..(row + 1) * f]);
    }
    let input = Tensor::<2>::from_data(TensorData::new(x, [holdout.len(), f]), &ctx.device);
    let logits = J::forward(&model.net, model.standardize.forward(input)).into_data();
    let logits = logits.as_slice::<f32>().map_err(|e| format!("{e:?}"))?;
    let mut correct = 0;
    for (scores, &row) in logits.chunks(spec.classes).zip(&holdout) {
        let mut best = 0;
        for (class, value) in scores.iter().enumerate() {
            if *value > scores[best] {
                best = class;
            }
        }
        correct += usize::from(best == raw.labels[row] as usize);
    }
    let accuracy = correct as f64 / holdout.len() as f64;
    println!(
        "{}",
        serde_json::json!({ "holdout_rows": holdout.len(), "correct": correct, "holdout_accuracy": accuracy })
    );
    Ok(())
}

/// Holdout row indices in dataset order, as the SDK splits them.
fn holdout_rows(raw: &agora_job_sdk::data::Dataset, seed: u64, holdout: f64) -> Vec<usize> {
    let (_, rows) = agora_job_sdk::data::split_rows(raw, seed, holdout);
    rows.into_iter().map(|r| r as usize).collect()
}

fn train<O: Operations>(args: &Args) -> Result<(), String> {
    let data = read(args.data.as_deref().ok_or("train needs --data")?)?;
    let params = args.params.as_bytes();
    let plan: serde_json::Value =
        serde_json::from_slice(&O::plan(params, &data)?).map_err(|e| e.to_string())?;
    let steps = args
        .steps
        .unwrap_or_else(|| plan["total_steps"].as_u64().unwrap_or(1) as u32);
    let state = O::init(params, &data, args.seed)?;
    let started = Instant::now();
    let state = O::segment(params, &data, &state, steps)?;
    let elapsed = started.elapsed();
    let metrics: serde_json::Value =
        serde_json::from_slice(&O::eval(params, &data, &state)?).map_err(|e| e.to_string())?;
    println!(
        "{}",
        serde_json::json!({
            "steps": steps,
            "seconds": elapsed.as_secs_f64(),
            "seconds_per_step": elapsed.as_secs_f64() / f64::from(steps.max(1)),
            "parameters": plan["parameters"],
            "metrics": metrics,
        })
    );
    Ok(())
}

/// Seconds per training step, by differencing a segment of `n` and one of `2n` steps from the
/// same start (setup — parsing, splitting, restoring the model — cancels out). The engine
/// benchmark measures the Wasm job the same way.
fn bench<O: Operations>(args: &Args) -> Result<(), String> {
    let data = read(args.data.as_deref().ok_or("bench needs --data")?)?;
    let params = args.params.as_bytes();
    let n = args.steps.unwrap_or(20);
    let state = O::init(params, &data, args.seed)?;
    // Warm-up: first-touch allocations and page faults are not step time.
    O::segment(params, &data, &state, 1)?;
    let time = |steps: u32| -> Result<f64, String> {
        let started = Instant::now();
        O::segment(params, &data, &state, steps)?;
        Ok(started.elapsed().as_secs_f64())
    };
    let mut best = f64::INFINITY;
    for _ in 0..3 {
        let short = time(n)?;
        let long = time(2 * n)?;
        best = best.min((long - short) / f64::from(n));
    }
    let plan: serde_json::Value =
        serde_json::from_slice(&O::plan(params, &data)?).map_err(|e| e.to_string())?;
    println!(
        "{}",
        serde_json::json!({ "seconds_per_step": best, "steps": n, "parameters": plan["parameters"] })
    );
    Ok(())
}

fn generate<J: TextJob>(args: &Args) -> Result<(), String> {
    let model_path = args.model.as_deref().ok_or("generate needs --model")?;
    let prompt = args.prompt.as_deref().ok_or("generate needs --prompt")?;
    let (skeleton, context) = text::skeleton::<J>(args.params.as_bytes())?;
    let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(read(model_path)?))
        .map_err(|e| format!("{model_path} is not a burnpack model: {e}"))?;
    let model = skeleton.load_record(record);
    let out = text::generate::<J>(
        &model,
        context,
        prompt.as_bytes(),
        args.len,
        args.temperature,
        args.seed,
    )?;
    println!("{}", String::from_utf8_lossy(&out));
    Ok(())
}

fn main() -> ExitCode {
    let result = parse_args().and_then(|args| match (args.command.as_str(), args.job.as_str()) {
        ("eval", "mlp") => eval::<MlpJob>(&args),
        ("eval", "cnn") => eval::<CnnJob>(&args),
        ("generate", "charlm") => generate::<CharLmJob>(&args),
        ("train", "mlp") => train::<Tabular<MlpJob>>(&args),
        ("train", "cnn") => train::<Tabular<CnnJob>>(&args),
        ("train", "charlm") => train::<Text<CharLmJob>>(&args),
        ("bench", "mlp") => bench::<Tabular<MlpJob>>(&args),
        ("bench", "cnn") => bench::<Tabular<CnnJob>>(&args),
        ("bench", "charlm") => bench::<Text<CharLmJob>>(&args),
        (command, job @ ("mlp" | "cnn" | "charlm")) => Err(format!(
            "command {command} does not apply to job {job}: train and bench take every job, \
             eval mlp or cnn, generate charlm"
        )),
        (_, other) => Err(format!(
            "unknown --job {other}; expected mlp, cnn or charlm"
        )),
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
