//! A job's results as a commitment names them (`agora_engine::JobResult`): a module that refuses
//! `export` or `eval` has no model or empty metrics, which the worker commits and every verifier
//! and the referee compute alike — never a result the worker cannot commit.

use agora_engine::{Executor, Limits, Settings};

use crate::fixture::{is_the_committed_module, with_results};

/// Metrics the chain keeps in a commitment, at most (`MAX_METRICS_LEN` of the runtime).
const CHAIN_METRICS_BYTES: u64 = 4_096;

/// `engine/tests/modules/refused-results.wasm`: the counter job whose `export` traps and whose
/// `eval` returns 5,000 bytes, more than a commitment keeps. Before the chain's bounds applied to
/// every role, its worker ran the job, could not commit (the metrics too long, the model
/// missing) and lost its collateral when the job timed out; the end-to-end test
/// `disputes::a_module_refusing_its_own_results_still_pays_its_worker` runs it. Rewrite with
/// `AGORA_WRITE_MODULES=1 cargo test -p agora-engine --test it results::`.
#[test]
fn a_module_refusing_its_own_results_commits_no_model_and_no_metrics() {
    let wasm = with_results(
        "unreachable",
        "i32.const 0 global.set $out_ptr i32.const 5000 global.set $out_len i32.const 0",
    );
    is_the_committed_module("refused-results.wasm", &wasm);
    let bounded = |max_metrics_bytes| {
        let mut settings = Settings::default();
        settings.limits = Limits {
            max_metrics_bytes,
            ..settings.limits
        };
        Executor::new(settings).expect("executor")
    };
    let state = 10u64.to_le_bytes();
    let loose = bounded(1 << 20);
    let job = loose.load(&wasm).expect("loads");
    assert!(
        loose.export(&job, b"{}", b"", &state).is_err(),
        "export traps"
    );
    let result = loose
        .job_result(&job, b"{}", b"", &state)
        .expect("a result");
    assert_eq!((result.model, result.metrics.len()), (None, 5_000));

    let chain = bounded(CHAIN_METRICS_BYTES);
    let job = chain.load(&wasm).expect("loads");
    let result = chain
        .job_result(&job, b"{}", b"", &state)
        .expect("a result");
    assert_eq!(result.output(), agora_primitives::Hash::ZERO);
    assert!(
        result.metrics.is_empty(),
        "metrics over the bound are refused"
    );
}

/// `Limits::within` takes the tighter of the engine's own limits and the chain's bounds.
#[test]
fn the_chain_bounds_tighten_the_engine_limits() {
    let bounds = agora_primitives::referee::CallBounds {
        fuel: 7,
        state_bytes: 1 << 10,
        model_bytes: 2 << 10,
        metrics_bytes: u64::MAX,
    };
    let limits = Limits::default().within(&bounds);
    assert_eq!(
        (
            limits.max_fuel_per_call,
            limits.max_state_bytes,
            limits.max_output_bytes,
            limits.max_metrics_bytes
        ),
        (7, 1 << 10, 2 << 10, Limits::default().max_metrics_bytes)
    );
}

/// `engine/tests/modules/nan-metrics-no-model.wasm`: the counter job whose `export` traps and
/// whose `eval` returns the bits of a run-time `0/0`. The refused `export` is a result like any,
/// so the referee's NaN probe must still run `eval` (`node/tests/it/referee.rs`,
/// `metrics_beside_a_refused_export_are_probed_too`). Rewrite with `AGORA_WRITE_MODULES=1 cargo
/// test -p agora-engine --test it results::`.
#[test]
fn the_committed_nan_metrics_no_model_module_is_the_fixture() {
    let wasm = with_results(
        "unreachable",
        &format!(
            "i32.const 400 {} i64.store
            i32.const 400 global.set $out_ptr i32.const 8 global.set $out_len i32.const 0",
            crate::nan::NAN_BITS
        ),
    );
    let (executor, job) = crate::fixture::committed_and_loaded("nan-metrics-no-model.wasm", &wasm);
    let result = executor
        .job_result(&job, b"{}", b"", &[0; 8])
        .expect("a result");
    assert_eq!((result.model, result.metrics.len()), (None, 8));
}
