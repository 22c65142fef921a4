//! Engine benchmark (`scripts/bench.sh engine`): the same burn training natively and as the
//! Wasm job under the executor with every determinism and metering setting on, in one run.
//!
//! Figures (JSON lines on stdout):
//! - step time, Wasm vs native, for an MLP of ~140k parameters at batch 512 (target ratio ≤ 1.3),
//!   measured by differencing a segment of N and one of 2N steps from the same start;
//! - the same with NaN canonicalization on (the cost the NaN design avoids);
//! - trace hashing (blake3 of one state) as a share of one step (target ≤ 5%);
//! - compiled-module load: fresh compile, disk-cache load (target ≤ 20 ms), memory-cache hit;
//! - peak memory: the job's linear memory and this process's peak RSS;
//! - every shipped job with its default params (`engine/job`: the MLP and the CNN on digits, the
//!   language model on `datasets/jargon.txt`): Wasm and native step time and their ratio
//!   (target ≤ 1.5 against generic x86-64), and fuel per step.
//!
//! The native baseline is `agora-job-native bench` (jobs/native), built by `scripts/bench.sh`
//! for generic x86-64 (`AGORA_JOB_NATIVE`) and with `-C target-cpu=native`
//! (`AGORA_JOB_NATIVE_HOSTCPU`); the ratio is reported against both. This machine's speed drifts
//! between minutes, so each ratio comes from alternating native/Wasm rounds (9 for the big MLP,
//! 7 per shipped job, after a warm-up of each side) as the median of the per-round ratios, with
//! their interquartile range beside it.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::cast_possible_truncation,
    clippy::arithmetic_side_effects
)]

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use agora_engine::{Executor, JobModule, Output, Settings};

/// ~138k parameters: 64 → 512 → 200 → 10.
const PARAMS: &str =
    r#"{"hidden":[512,200],"batch_size":512,"optimizer":"adam","learning_rate":0.001}"#;
const STEPS: u32 = 20;
/// Alternating native/Wasm measurement rounds of the big MLP's step.
const ROUNDS: usize = 9;
/// Alternating native/Wasm measurement rounds of each shipped job's step.
const JOB_ROUNDS: usize = 7;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn emit(value: serde_json::Value) {
    println!("{value}");
}

fn best_of<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut last = None;
    for _ in 0..runs {
        let started = Instant::now();
        let out = f();
        best = best.min(started.elapsed());
        last = Some(out);
    }
    (best, last.unwrap())
}

/// One differenced measurement from `state`: a segment of `steps` and one of `2 × steps`, the
/// difference per step in seconds and in fuel (setup cancels out), and the long segment's
/// output.
fn differenced(
    executor: &Executor,
    job: &JobModule,
    params: &[u8],
    data: &[u8],
    state: &[u8],
    steps: u32,
) -> (f64, u64, Output) {
    let (short_time, short) = best_of(1, || {
        executor.segment(job, params, data, state, steps).unwrap()
    });
    let (long_time, long) = best_of(1, || {
        executor
            .segment(job, params, data, state, 2 * steps)
            .unwrap()
    });
    let seconds = (long_time.as_secs_f64() - short_time.as_secs_f64()) / f64::from(steps);
    (seconds, (long.fuel - short.fuel) / u64::from(steps), long)
}

/// Median of `values` (the upper one of an even count), if any.
fn median(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied()
}

/// Interquartile range of `values` (linear interpolation between closest ranks, as Python's
/// `statistics.quantiles(method="inclusive")`), if there are at least two.
fn interquartile_range(mut values: Vec<f64>) -> Option<f64> {
    if values.len() < 2 {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let at = |q: f64| {
        let rank = q * (values.len() - 1) as f64;
        let (low, high) = (rank.floor() as usize, rank.ceil() as usize);
        values[low] + (values[high] - values[low]) * (rank - low as f64)
    };
    Some(at(0.75) - at(0.25))
}

/// Seconds per step by differencing (best of 3), and the peak linear memory of the long segment.
fn wasm_step(executor: &Executor, job: &JobModule, data: &[u8]) -> (f64, u64, Vec<u8>) {
    let params = PARAMS.as_bytes();
    let state = executor.init(job, params, data, 1).unwrap().bytes;
    executor.segment(job, params, data, &state, 1).unwrap();
    let mut best = f64::INFINITY;
    let mut memory = 0;
    let mut end_state = Vec::new();
    for _ in 0..3 {
        let (seconds, _, out) = differenced(executor, job, params, data, &state, STEPS);
        best = best.min(seconds);
        memory = out.memory_bytes;
        end_state = out.bytes;
    }
    (best, memory, end_state)
}

/// Seconds per step of the native baseline whose path is in `var`, if set.
fn native_step(var: &str) -> Option<f64> {
    native_job_step(var, "mlp", "datasets/digits.csv", PARAMS, STEPS)
}

/// Seconds per step of `job` in the native baseline whose path is in `var`, if set.
fn native_job_step(var: &str, job: &str, data: &str, params: &str, steps: u32) -> Option<f64> {
    let bin = std::env::var(var).ok()?;
    let out = Command::new(&bin)
        .args(["bench", "--job", job, "--data"])
        .arg(repo().join(data))
        .args([
            "--params",
            params,
            "--seed",
            "1",
            "--steps",
            &steps.to_string(),
        ])
        .output()
        .expect("runs agora-job-native");
    assert!(
        out.status.success(),
        "{bin}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["seconds_per_step"].as_f64()
}

fn peak_rss_mb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb / 1024)
}

fn main() {
    let wasm = std::fs::read(repo().join("jobs/dist/mlp.wasm")).expect("jobs/dist/mlp.wasm");
    let data = std::fs::read(repo().join("datasets/digits.csv")).expect("datasets/digits.csv");

    // Module loading: fresh compile, disk cache, memory cache.
    let cache = tempfile::tempdir().unwrap();
    let settings = Settings {
        cache_dir: Some(cache.path().to_path_buf()),
        ..Settings::default()
    };
    let compiler = Executor::new(settings.clone()).unwrap();
    let (compile, _) = best_of(1, || compiler.load(&wasm).unwrap());
    // A new executor each time (its memory cache is empty); only `load` is timed.
    let mut disk = Duration::MAX;
    for _ in 0..5 {
        let fresh = Executor::new(settings.clone()).unwrap();
        let started = Instant::now();
        let job = fresh.load(&wasm).unwrap();
        disk = disk.min(started.elapsed());
        assert_eq!(job.origin(), agora_engine::Origin::DiskCache);
    }
    let (memory_hit, _) = best_of(5, || compiler.load(&wasm).unwrap());
    emit(serde_json::json!({
        "benchmark": "engine/module-load",
        "module_bytes": wasm.len(),
        "compile_ms": compile.as_secs_f64() * 1e3,
        "disk_cache_load_ms": disk.as_secs_f64() * 1e3,
        "memory_cache_load_ms": memory_hit.as_secs_f64() * 1e3,
        "target_disk_cache_load_ms": 20,
    }));

    // Step time: native baseline, Wasm, Wasm with NaN canonicalization. This machine's speed
    // drifts by tens of percent between minutes (shared host), so the sides are measured in
    // alternating rounds and the ratio is the median of the per-round ratios.
    let executor = Executor::new(Settings::default()).unwrap();
    let job = executor.load(&wasm).unwrap();
    let canonicalizing = Executor::new(Settings {
        nan_canonicalization: true,
        ..Settings::default()
    })
    .unwrap();
    let canonical_job = canonicalizing.load(&wasm).unwrap();
    let plan: serde_json::Value =
        serde_json::from_slice(&executor.plan(&job, PARAMS.as_bytes(), &data).unwrap().bytes)
            .unwrap();
    let mut rounds = Vec::new();
    let (mut linear_memory, mut state) = (0, Vec::new());
    for _ in 0..ROUNDS {
        let native = native_step("AGORA_JOB_NATIVE");
        let (wasm_s, memory, end_state) = wasm_step(&executor, &job, &data);
        let native_hostcpu = native_step("AGORA_JOB_NATIVE_HOSTCPU");
        let (canonical_s, _, _) = wasm_step(&canonicalizing, &canonical_job, &data);
        (linear_memory, state) = (memory, end_state);
        rounds.push((native, wasm_s, native_hostcpu, canonical_s));
    }
    let ratios = |f: &dyn Fn(&(Option<f64>, f64, Option<f64>, f64)) -> Option<f64>| {
        rounds.iter().filter_map(f).collect::<Vec<f64>>()
    };
    let wasm_step_s = median(ratios(&|r| Some(r.1))).unwrap();
    let over_native = ratios(&|r| r.0.map(|n| r.1 / n));
    emit(serde_json::json!({
        "benchmark": "engine/step",
        "parameters": plan["parameters"],
        "batch": 512,
        "rounds": ROUNDS,
        "native_ms_per_step": median(ratios(&|r| r.0)).map(|s| s * 1e3),
        "wasm_ms_per_step": wasm_step_s * 1e3,
        "wasm_over_native_median": median(over_native.clone()),
        "wasm_over_native_iqr": interquartile_range(over_native.clone()),
        "wasm_over_native_rounds": over_native,
        "native_target_cpu_native_ms_per_step": median(ratios(&|r| r.2)).map(|s| s * 1e3),
        "wasm_over_native_target_cpu_native_median": median(ratios(&|r| r.2.map(|n| r.1 / n))),
        "target_wasm_over_native": 1.3,
        "wasm_nan_canonicalization_ms_per_step": median(ratios(&|r| Some(r.3))).map(|s| s * 1e3),
        "nan_canonicalization_cost_median": median(ratios(&|r| Some(r.3 / r.1))),
    }));

    // Trace hashing: blake3 of one full state, against one step.
    let (hash, _) = best_of(50, || blake3::hash(&state));
    emit(serde_json::json!({
        "benchmark": "engine/trace-hash",
        "state_bytes": state.len(),
        "hash_ms": hash.as_secs_f64() * 1e3,
        "share_of_one_step": hash.as_secs_f64() / wasm_step_s,
        "target_share": 0.05,
    }));

    emit(serde_json::json!({
        "benchmark": "engine/memory",
        "job_linear_memory_mb": linear_memory as f64 / (1 << 20) as f64,
        "process_peak_rss_mb": peak_rss_mb(),
    }));

    // Every shipped job at its defaults: (name, dataset, steps differenced per round).
    for (name, data, steps) in [
        ("mlp", "datasets/digits.csv", 20),
        ("cnn", "datasets/digits.csv", 10),
        ("charlm", "datasets/jargon.txt", 4),
    ] {
        job_figures(&executor, name, data, steps);
    }
}

/// Wasm and native step time of a shipped job with its default params, in alternating rounds,
/// and its fuel per step (exact: the difference of two segments' fuel).
fn job_figures(executor: &Executor, name: &str, data_path: &str, steps: u32) {
    let wasm = std::fs::read(repo().join(format!("jobs/dist/{name}.wasm"))).unwrap();
    let data = std::fs::read(repo().join(data_path)).unwrap();
    let job = executor.load(&wasm).unwrap();
    let state = executor.init(&job, b"{}", &data, 1).unwrap().bytes;
    executor.segment(&job, b"{}", &data, &state, 1).unwrap();
    // A warm-up of the native side too (the binary and the dataset into the page cache).
    native_job_step("AGORA_JOB_NATIVE", name, data_path, "{}", steps);
    let mut rounds = Vec::new();
    let mut fuel_per_step = 0;
    for _ in 0..JOB_ROUNDS {
        let native = native_job_step("AGORA_JOB_NATIVE", name, data_path, "{}", steps);
        let (wasm_s, fuel, _) = differenced(executor, &job, b"{}", &data, &state, steps);
        fuel_per_step = fuel;
        rounds.push((native, wasm_s));
    }
    let over_native: Vec<f64> = rounds.iter().filter_map(|r| r.0.map(|n| r.1 / n)).collect();
    emit(serde_json::json!({
        "benchmark": "engine/job",
        "job": name,
        "dataset": data_path,
        "params": "defaults",
        "wasm_ms_per_step": median(rounds.iter().map(|r| r.1).collect()).map(|s| s * 1e3),
        "native_ms_per_step": median(rounds.iter().filter_map(|r| r.0).collect()).map(|s| s * 1e3),
        "wasm_over_native_median": median(over_native.clone()),
        "wasm_over_native_iqr": interquartile_range(over_native.clone()),
        "wasm_over_native_rounds": over_native,
        "target_wasm_over_native": 1.5,
        "mfuel_per_step": fuel_per_step as f64 / 1e6,
    }));
}
