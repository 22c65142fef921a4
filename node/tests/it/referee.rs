//! The node's referee on the real job: `jobs/dist/mlp.wasm` on the digits dataset, from a real
//! blob store, through the real engine. Every verdict is compared with the engine's own run of
//! the job (whole segments, not single steps), so a referee that stepped differently from a
//! worker would fail here.

use agora_engine::{run, Executor, JobInputs, JobModule, Origin, Run, RunSpec, Settings};
use agora_node::blobs::BlobStore;
use agora_node::referee::EngineReferee;
use agora_primitives::referee::{
    Referee, RefereeError, RefereeRequest, RefereeTask, RefereeVerdict,
};
use agora_primitives::Hash;
use std::path::PathBuf;
use std::sync::Arc;

const PARAMS: &[u8] = br#"{"hidden":[32],"batch_size":32,"learning_rate":0.01}"#;
const SPEC: RunSpec = RunSpec {
    seed: 5,
    steps: 4,
    segment_steps: 2,
    max_fuel: RunSpec::UNBOUNDED,
};
/// Enough for any one call of the small job above.
const FUEL: u64 = 2_000_000_000;

fn repo_file(path: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A blob store holding `blobs`, and the referee over it.
fn referee_over(blobs: &[&[u8]]) -> (tempfile::TempDir, EngineReferee) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(BlobStore::open(&dir.path().join("blobs")).unwrap());
    for bytes in blobs {
        store.put(&Hash::of(bytes), bytes).unwrap();
    }
    let referee = EngineReferee::new(store, Some(dir.path().join("cache")));
    (dir, referee)
}

fn request(wasm: &[u8], dataset: &[u8], task: RefereeTask, fuel_limit: u64) -> RefereeRequest {
    RefereeRequest {
        module: Hash::of(wasm),
        dataset: Hash::of(dataset),
        params: PARAMS.to_vec(),
        seed: SPEC.seed,
        task,
        fuel_limit,
    }
}

/// The worker's view of the job: a whole run in segments of 2 steps with every checkpoint kept
/// (the initial state first), and the executor and module that ran it.
fn workers_run(wasm: &[u8], dataset: &[u8]) -> (Executor, JobModule, Run, Vec<Vec<u8>>) {
    let executor = Executor::new(Settings::default()).unwrap();
    let module = executor.load(wasm).unwrap();
    let mut states = Vec::new();
    let inputs = JobInputs {
        params: PARAMS,
        dataset,
    };
    let job = run(&executor, &module, inputs, SPEC, |_, bytes| {
        states.push(bytes.to_vec());
        Ok(())
    })
    .unwrap();
    (executor, module, job, states)
}

#[test]
fn the_referee_reproduces_the_workers_run_step_by_step() {
    let wasm = repo_file("jobs/dist/mlp.wasm");
    let dataset = repo_file("datasets/digits.csv");
    let (executor, module, job, states) = workers_run(&wasm, &dataset);
    let model = executor
        .export(&module, PARAMS, &dataset, &job.final_state)
        .unwrap();
    let metrics = executor
        .eval(&module, PARAMS, &dataset, &job.final_state)
        .unwrap();

    let mut stored: Vec<&[u8]> = vec![&wasm, &dataset, &job.final_state];
    stored.extend(states.iter().map(Vec::as_slice));
    let (_dir, referee) = referee_over(&stored);
    let step = |pre_state| {
        referee
            .run(&request(
                &wasm,
                &dataset,
                RefereeTask::Step { pre_state },
                FUEL,
            ))
            .unwrap()
    };
    // From the initial state (init, then one step) and from a checkpoint: two single steps
    // make the worker's segment.
    let RefereeVerdict::Stepped { post_state: first } = step(None) else {
        panic!("no step from init");
    };
    let (_d2, with_first) = {
        // Register the state after step 1 the way a worker would upload it.
        let after_one = executor
            .segment(&module, PARAMS, &dataset, &states[0], 1)
            .unwrap()
            .bytes;
        assert_eq!(Hash::of(&after_one), first);
        let mut more = stored.clone();
        more.push(&after_one);
        let (dir, referee) = referee_over(&more);
        let verdict = referee
            .run(&request(
                &wasm,
                &dataset,
                RefereeTask::Step {
                    pre_state: Some(first),
                },
                FUEL,
            ))
            .unwrap();
        (dir, verdict)
    };
    assert_eq!(
        with_first,
        RefereeVerdict::Stepped {
            post_state: job.leaves[0].state_hash
        },
        "two single steps are the first segment"
    );
    assert_eq!(
        step(Some(Hash::of(&states[1]))),
        step(Some(Hash::of(&states[1]))),
        "deterministic"
    );
    assert_eq!(
        referee
            .run(&request(
                &wasm,
                &dataset,
                RefereeTask::Output {
                    state: Hash::of(&job.final_state)
                },
                FUEL
            ))
            .unwrap(),
        RefereeVerdict::Exported {
            output: Hash::of(&model.bytes),
            metrics: Hash::of(&metrics.bytes),
        }
    );
    // The request's fuel bounds `export` and `eval` as it bounds a step (each call is given
    // it; the executor's own limit is a segment's): too little is out of fuel, not a verdict
    // on the model.
    let starved = RefereeTask::Output {
        state: Hash::of(&job.final_state),
    };
    assert_eq!(
        referee.run(&request(&wasm, &dataset, starved, 1_000_000)),
        Ok(RefereeVerdict::OutOfFuel)
    );
}

#[test]
fn the_referee_refuses_to_decide_without_bytes_and_reports_what_the_module_refuses() {
    let wasm = repo_file("jobs/dist/mlp.wasm");
    let dataset = repo_file("datasets/digits.csv");
    let garbage = b"not a job state".to_vec();
    let (_dir, referee) = referee_over(&[&wasm, &dataset, &garbage]);
    let missing = Hash::of(b"never uploaded");
    assert_eq!(
        referee.run(&request(
            &wasm,
            &dataset,
            RefereeTask::Step {
                pre_state: Some(missing)
            },
            FUEL
        )),
        Err(RefereeError::Unavailable { blob: missing })
    );
    // Without the module, nothing is decided either.
    let (_dir2, bare) = referee_over(&[&dataset]);
    assert_eq!(
        bare.run(&request(
            &wasm,
            &dataset,
            RefereeTask::Step { pre_state: None },
            FUEL
        )),
        Err(RefereeError::Unavailable {
            blob: Hash::of(&wasm)
        })
    );
    // A state the module cannot decode is the module's refusal: a verdict, the same anywhere.
    assert_eq!(
        referee.run(&request(
            &wasm,
            &dataset,
            RefereeTask::Step {
                pre_state: Some(Hash::of(&garbage))
            },
            FUEL
        )),
        Ok(RefereeVerdict::Refused)
    );
    // A step past the fuel limit is out of fuel, not refused.
    assert_eq!(
        referee.run(&request(
            &wasm,
            &dataset,
            RefereeTask::Step { pre_state: None },
            1_000
        )),
        Ok(RefereeVerdict::OutOfFuel)
    );
}

/// A fuel dispute's re-run: the referee's whole segment, from `init` and from a checkpoint,
/// uses exactly the fuel the worker's run recorded for it (the difference of its cumulative
/// leaves), though the referee's executor has another fuel limit than the worker's — and a
/// limit below the segment's fuel is out of fuel.
#[test]
fn the_referees_segment_rerun_measures_the_workers_fuel() {
    let wasm = repo_file("jobs/dist/mlp.wasm");
    let dataset = repo_file("datasets/digits.csv");
    let (_, _, job, states) = workers_run(&wasm, &dataset);
    let mut stored: Vec<&[u8]> = vec![&wasm, &dataset];
    stored.extend(states.iter().map(Vec::as_slice));
    let (_dir, referee) = referee_over(&stored);
    let segment = |start, limit| {
        referee.run(&request(
            &wasm,
            &dataset,
            RefereeTask::Segment {
                start,
                steps: SPEC.segment_steps,
            },
            limit,
        ))
    };
    assert_eq!(
        segment(None, FUEL),
        Ok(RefereeVerdict::Segmented {
            post_state: job.leaves[0].state_hash,
            fuel: job.leaves[0].fuel,
        })
    );
    assert_eq!(
        segment(Some(Hash::of(&states[1])), FUEL),
        Ok(RefereeVerdict::Segmented {
            post_state: job.leaves[1].state_hash,
            fuel: job.leaves[1].fuel - job.leaves[0].fuel,
        })
    );
    assert_eq!(
        segment(Some(Hash::of(&states[1])), job.leaves[0].fuel / 2),
        Ok(RefereeVerdict::OutOfFuel)
    );
}

/// The module is compiled once, plain and probed, whatever fuel limits the requests carry: a
/// fuel dispute's limit is its segment's own (what the bid's `max_fuel` leaves after the
/// segment's start), and each limit used to get an executor of its own — the module compiled
/// twice more, a new cache entry on disk, seconds inside the block when not decided ahead
/// (the 2.9 s re-run in `docs/benchmarks.md`). The plain entry is the one a worker's engine
/// on this machine finds: the same settings.
#[test]
fn the_referee_compiles_a_module_once_whatever_the_requests_fuel_limits() {
    let wasm = repo_file("jobs/dist/mlp.wasm");
    let dataset = repo_file("datasets/digits.csv");
    let (_, _, job, states) = workers_run(&wasm, &dataset);
    let mut stored: Vec<&[u8]> = vec![&wasm, &dataset];
    stored.extend(states.iter().map(Vec::as_slice));
    let (dir, referee) = referee_over(&stored);
    let cache = dir.path().join("cache");
    let entries = || {
        std::fs::read_dir(&cache)
            .unwrap()
            .filter(|entry| {
                let name = entry.as_ref().unwrap().file_name();
                name.to_string_lossy().ends_with(".cwasm")
            })
            .count()
    };
    let start = Some(Hash::of(&states[1]));
    let fuel = job.leaves[1].fuel - job.leaves[0].fuel;
    for limit in [FUEL, FUEL - 1, fuel + 7, fuel] {
        let segment = RefereeTask::Segment {
            start,
            steps: SPEC.segment_steps,
        };
        assert_eq!(
            referee.run(&request(&wasm, &dataset, segment, limit)),
            Ok(RefereeVerdict::Segmented {
                post_state: job.leaves[1].state_hash,
                fuel,
            }),
            "limit {limit}"
        );
    }
    let step = RefereeTask::Step { pre_state: start };
    let limit = agora_runtime::verification::REFEREE_FUEL;
    assert!(matches!(
        referee.run(&request(&wasm, &dataset, step, limit)),
        Ok(RefereeVerdict::Stepped { .. })
    ));
    assert_eq!(entries(), 2, "one entry plain, one probed");
    let settings = Settings::within_bounds(
        Some(cache.clone()),
        &agora_runtime::verification::CALL_BOUNDS,
    );
    let workers = Executor::new(settings).unwrap();
    assert_eq!(workers.load(&wasm).unwrap().origin(), Origin::DiskCache);
    assert_eq!(entries(), 2);
}

/// A verdict is kept once decided (the warmer decides ahead of the block that needs it) and a
/// later run of the same request returns it without the bytes; an undecided run is not kept.
#[test]
fn a_decided_verdict_is_kept_and_an_undecided_one_is_not() {
    let wasm = repo_file("jobs/dist/mlp.wasm");
    let dataset = repo_file("datasets/digits.csv");
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(BlobStore::open(&dir.path().join("blobs")).unwrap());
    for bytes in [&wasm, &dataset] {
        store.put(&Hash::of(bytes), bytes).unwrap();
    }
    let referee = EngineReferee::new(store.clone(), None);
    let first_step = request(&wasm, &dataset, RefereeTask::Step { pre_state: None }, FUEL);
    assert_eq!(referee.decided(&first_step), None);
    let verdict = referee.run(&first_step).unwrap();
    assert!(matches!(verdict, RefereeVerdict::Stepped { .. }));
    assert_eq!(referee.decided(&first_step), Some(verdict));
    // Kept: the same request is decided with the module gone from the store.
    store.remove(&Hash::of(&wasm)).unwrap();
    assert_eq!(referee.run(&first_step), Ok(verdict));
    // Another request needs the module: undecided, and not kept.
    let other = request(
        &wasm,
        &dataset,
        RefereeTask::Step { pre_state: None },
        FUEL / 2,
    );
    assert!(matches!(
        referee.run(&other),
        Err(RefereeError::Unavailable { .. })
    ));
    assert_eq!(referee.decided(&other), None);
}

/// Issue 17: `engine/tests/modules/nan-bits.wasm` stores the bits of a run-time `0/0`, which
/// differ between x86-64 and aarch64. The referee does not pick its own machine's answer: the
/// step produced a NaN, so it is machine-dependent, for a step from `init` and for a whole
/// segment alike. The MLP's steps (the tests above) produce none and keep their verdicts.
#[test]
fn a_step_that_produces_a_nan_is_machine_dependent() {
    let wasm = repo_file("engine/tests/modules/nan-bits.wasm");
    let dataset = b"".to_vec();
    let (_dir, referee) = referee_over(&[&wasm, &dataset]);
    for task in [
        RefereeTask::Step { pre_state: None },
        RefereeTask::Segment {
            start: None,
            steps: 2,
        },
    ] {
        assert_eq!(
            referee.run(&request(&wasm, &dataset, task.clone(), FUEL)),
            Ok(RefereeVerdict::MachineDependent),
            "{task:?}"
        );
    }
    // The counter it was made from produces no NaN: its step is decided as usual.
    let counter = repo_file("engine/tests/modules/deep-stack.wasm");
    let (_dir, referee) = referee_over(&[&counter, &dataset]);
    let mut shallow = request(
        &counter,
        &dataset,
        RefereeTask::Step { pre_state: None },
        FUEL,
    );
    shallow.seed = 10;
    assert_eq!(
        referee.run(&shallow),
        Ok(RefereeVerdict::Stepped {
            post_state: Hash::of(&10u64.to_le_bytes())
        })
    );
}

/// Issue 17: `engine/tests/modules/deep-stack.wasm` recurses as deep as its seed. A depth that
/// fits this machine's stack with less than half of it to spare may overflow on a machine with
/// larger frames: the referee runs the step with half the stack and calls it machine-dependent
/// when that overflows, though its own full-stack run succeeds. A depth that fits in half is
/// decided as usual, and one that overflows everywhere is machine-dependent too.
#[test]
fn a_step_near_the_stack_limit_is_machine_dependent() {
    let wasm = repo_file("engine/tests/modules/deep-stack.wasm");
    let dataset = b"".to_vec();
    // The deepest recursion this machine's full stack runs.
    let fits = agora_test_support::deepest_recursion(&wasm);
    let executor = Executor::new(Settings::default()).unwrap();
    let module = executor.load(&wasm).unwrap();
    let runs = |depth: u64| {
        executor
            .segment(&module, b"{}", &dataset, &depth.to_le_bytes(), 1)
            .is_ok()
    };
    assert!(runs(fits) && !runs(fits + 1));
    let (_dir, referee) = referee_over(&[&wasm, &dataset]);
    let verdict = |depth: u64| {
        let mut step = request(&wasm, &dataset, RefereeTask::Step { pre_state: None }, FUEL);
        step.seed = depth;
        referee.run(&step)
    };
    let near = fits / 4 * 3;
    assert!(runs(near), "the worker's own run of depth {near} succeeds");
    assert_eq!(verdict(near), Ok(RefereeVerdict::MachineDependent));
    assert_eq!(
        verdict(fits / 4),
        Ok(RefereeVerdict::Stepped {
            post_state: Hash::of(&(fits / 4).to_le_bytes())
        })
    );
    assert_eq!(verdict(fits * 2), Ok(RefereeVerdict::MachineDependent));
}

/// Issue 17: a module's refusal of `export` or `eval` is its result, as the worker commits it
/// (`agora_engine::JobResult`): `engine/tests/modules/refused-results.wasm` traps in `export` and
/// returns more metrics than a commitment keeps, and the referee exports no model and empty
/// metrics from its final state (before, it returned `Refused`, and the worker who committed
/// exactly that lost the output dispute).
#[test]
fn a_refused_export_and_metrics_over_the_bound_are_the_modules_result() {
    let fixture = "engine/tests/modules/refused-results.wasm";
    assert_eq!(
        output_verdict(fixture, FUEL),
        Ok(RefereeVerdict::Exported {
            output: Hash::ZERO,
            metrics: Hash::of(b""),
        })
    );
    // Out of the referee's fuel is not a refusal: the worker's bound is higher.
    assert_eq!(output_verdict(fixture, 1), Ok(RefereeVerdict::OutOfFuel));
}

/// The referee's verdict on the export and eval of the counter state 10 of the module at
/// `fixture`, with `fuel` for each call.
fn output_verdict(fixture: &str, fuel: u64) -> Result<RefereeVerdict, RefereeError> {
    let wasm = repo_file(fixture);
    let (dataset, state) = (b"".to_vec(), 10u64.to_le_bytes().to_vec());
    let (_dir, referee) = referee_over(&[&wasm, &dataset, &state]);
    let output = RefereeTask::Output {
        state: Hash::of(&state),
    };
    referee.run(&request(&wasm, &dataset, output, fuel))
}

/// Issue 17: `engine/tests/modules/nan-metrics-no-model.wasm` traps in `export` and returns a
/// NaN's bits from `eval`. The refused `export` no longer ends the NaN probe: `eval` beside it
/// is probed too, and the piece is machine-dependent.
#[test]
fn metrics_beside_a_refused_export_are_probed_too() {
    assert_eq!(
        output_verdict("engine/tests/modules/nan-metrics-no-model.wasm", FUEL),
        Ok(RefereeVerdict::MachineDependent)
    );
}

/// Every engine gives a job's `init` the chain's bound on a call, the worker's included,
/// whatever its segments get (`init` is not billed); so the referee's re-run of segment 0 does
/// too. Before (found in review, 2026-12-07), it gave `init` the segment's own fuel — the
/// bid's `max_fuel` if less — and a module whose `init` outweighed that was out of fuel where
/// the worker had run it: the honest worker lost a dispute over segment 0 (a fuel challenge of
/// leaf 0, or a step too heavy for the referee, escalated to the segment's re-run), and a
/// worker could declare such a job unrunnable and collect the cancellation fee.
#[test]
fn the_referees_segment_zero_gives_init_the_workers_bound() {
    let wasm = repo_file("engine/tests/modules/heavy-init.wasm");
    let dataset = b"".to_vec();
    let (_dir, referee) = referee_over(&[&wasm, &dataset]);
    // The worker's engine.
    let bounds = agora_runtime::verification::CALL_BOUNDS;
    let executor = Executor::new(Settings::within_bounds(None, &bounds)).unwrap();
    let module = executor.load(&wasm).unwrap();
    let seed = 1_000_000;
    let init = executor.init(&module, PARAMS, &dataset, seed).unwrap();
    let segment = executor
        .segment(&module, PARAMS, &dataset, &init.bytes, 1)
        .unwrap();
    // The segment's fuel: more than its call, less than `init`'s.
    let limit = init.fuel / 2;
    assert!(segment.fuel < limit, "{} {}", segment.fuel, init.fuel);
    let task = RefereeTask::Segment {
        start: None,
        steps: 1,
    };
    let mut rerun = request(&wasm, &dataset, task.clone(), limit);
    rerun.seed = seed;
    assert_eq!(
        referee.run(&rerun),
        Ok(RefereeVerdict::Segmented {
            post_state: Hash::of(&segment.bytes),
            fuel: segment.fuel,
        })
    );
    // A segment call is still bounded by the request's fuel.
    let mut starved = request(&wasm, &dataset, task, 1);
    starved.seed = seed;
    assert_eq!(referee.run(&starved), Ok(RefereeVerdict::OutOfFuel));
}
