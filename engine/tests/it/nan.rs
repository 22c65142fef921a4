//! Why the NaN argument in `docs/nan-determinism.md` is needed, and what it relies on: NaN
//! *bits* differ between executors (x86 produces a negative NaN for 0/0, ARM and wasmtime's
//! canonicalization a positive one), while *comparisons* on NaN give the same answer
//! everywhere. On x86-64 the two executors below stand in for two kinds of hardware; under
//! `qemu-aarch64` (`scripts/check-aarch64.sh`) the ARM side is the real thing.

use agora_engine::executor::ProbedCall;
use agora_engine::{Executor, Settings};

use crate::fixture::{is_the_committed_module, store_state, with_segment};

/// An executor that loads NaN-probed forms as the referee's probing one does: their validation
/// does not ask that the probe can rewrite them again (it cannot: they export its global).
fn probing_executor() -> Executor {
    Executor::new(Settings {
        nan_probed: true,
        ..Settings::default()
    })
    .expect("executor")
}

/// An executor with NaN canonicalization on or off (the stand-ins for two kinds of hardware).
fn executor_with(nan_canonicalization: bool) -> Executor {
    Executor::new(Settings {
        nan_canonicalization,
        ..Settings::default()
    })
    .expect("executor")
}

fn segment_output(body: &str, nan_canonicalization: bool) -> Vec<u8> {
    let wasm = with_segment(body, "");
    let executor = executor_with(nan_canonicalization);
    let job = executor.load(&wasm).expect("loads");
    executor
        .segment(&job, b"{}", b"", &[0; 8], 1)
        .expect("runs")
        .bytes
}

/// The bits of a NaN produced at run time (0/0; the operands come from memory so the compiler
/// cannot fold the division).
pub(crate) const NAN_BITS: &str =
    "i32.const 0 f32.load i32.const 0 f32.load f32.div i32.reinterpret_f32 i64.extend_i32_u";

#[test]
#[cfg(target_arch = "x86_64")]
fn nan_bits_differ_between_x86_and_canonical_nans() {
    let x86 = segment_output(&store_state(NAN_BITS), false);
    let canonical = segment_output(&store_state(NAN_BITS), true);
    assert_eq!(
        u32::from_le_bytes(canonical[..4].try_into().expect("4 bytes")),
        0x7fc0_0000
    );
    assert_ne!(
        x86, canonical,
        "a state holding NaN bits depends on the hardware"
    );
}

#[test]
#[cfg(target_arch = "aarch64")]
fn nan_bits_on_arm_are_the_canonical_nan() {
    // ARM's default NaN is wasmtime's canonical one, so the two executors agree here while
    // both differ from x86-64: the reason comparing them is no detector (docs/nan-determinism.md).
    let arm = segment_output(&store_state(NAN_BITS), false);
    let canonical = segment_output(&store_state(NAN_BITS), true);
    assert_eq!(
        u32::from_le_bytes(arm[..4].try_into().expect("4 bytes")),
        0x7fc0_0000
    );
    assert_eq!(arm, canonical);
}

/// `engine/tests/modules/nan-bits.wasm`: the counter job with a segment that stores the bits of
/// a run-time 0/0 as its state. `scripts/check-aarch64.sh` runs it on x86-64 and aarch64 and
/// requires *different* trace roots, so its comparison is seen to catch a machine-dependent
/// module on every run. Rewrite with `AGORA_WRITE_MODULES=1 cargo test -p agora-engine --test
/// it nan::`.
#[test]
fn the_committed_nan_bits_module_is_the_fixture() {
    is_the_committed_module("nan-bits.wasm", &with_segment(&store_state(NAN_BITS), ""));
}

/// `engine/tests/modules/late-nan.wasm`: a job whose state is a u64 counter that each step
/// adds one to until it reaches 5, after which every step stores the bits of a run-time `0/0`
/// instead. From seed 0 with segments of 5 steps, its first segment is deterministic (no NaN
/// is produced) and every step after it is machine-dependent: the end-to-end test of a dispute
/// reopened from the job's start (`cli/tests/it/disputes.rs`) runs it. Rewrite with
/// `AGORA_WRITE_MODULES=1 cargo test -p agora-engine --test it nan::`.
#[test]
fn the_committed_late_nan_module_is_the_fixture() {
    let wasm = late_nan();
    is_the_committed_module("late-nan.wasm", &wasm);
    let probed = agora_engine::nan_probe::instrument(&wasm).expect("probes");
    // Loads probed forms too (their validation does not probe them again).
    let executor = probing_executor();
    let (job, probed) = (
        executor.load(&wasm).expect("loads"),
        executor.load(&probed).expect("loads"),
    );
    let run = |state: u64, steps: u32| {
        executor.call_probed(
            &probed,
            ProbedCall::Segment {
                state: &state.to_le_bytes(),
                steps,
            },
            b"{}",
            b"",
            10_000_000,
        )
    };
    let first = run(0, 5);
    assert_eq!(
        first.result.expect("runs").bytes,
        5u64.to_le_bytes(),
        "0 → 5, one a step"
    );
    assert!(!first.nan_produced, "the first segment is deterministic");
    assert!(run(5, 1).nan_produced, "the step after it produces a NaN");
    let plain = executor.segment(&job, b"{}", b"", &5u64.to_le_bytes(), 1);
    assert_ne!(plain.expect("runs").bytes, 6u64.to_le_bytes());
}

/// `engine/tests/modules/binary-metrics.wasm`: the counter job whose `eval` returns four bytes
/// that are not UTF-8 (`FF FE 00 80`). Metrics are the module's bytes, not text: the end-to-end
/// test `disputes::metrics_that_are_not_text_are_committed_as_the_module_returned_them` runs it
/// (a worker that kept them as text committed other bytes than every verifier computed, and
/// lost the output dispute while honest). Rewrite with `AGORA_WRITE_MODULES=1 cargo test -p
/// agora-engine --test it nan::`.
#[test]
fn the_committed_binary_metrics_module_is_the_fixture() {
    let wasm = crate::fixture::with_eval(
        "i32.const 400 global.set $out_ptr i32.const 4 global.set $out_len i32.const 0",
        r#"(data (i32.const 400) "\ff\fe\00\80")"#,
    );
    let (executor, job) = crate::fixture::committed_and_loaded("binary-metrics.wasm", &wasm);
    let metrics = executor.eval(&job, b"{}", b"", &[0; 8]).expect("evaluates");
    assert_eq!(metrics.bytes, [0xff, 0xfe, 0x00, 0x80]);
    assert!(std::str::from_utf8(&metrics.bytes).is_err());
}

/// `engine/tests/modules/nan-metrics.wasm`: the counter job whose `eval` returns the bits of a
/// run-time `0/0` as its metrics; its segments are deterministic. The end-to-end test of a
/// dispute over the model and metrics reopened from the start runs it
/// (`disputes::a_module_whose_metrics_are_machine_dependent_costs_neither_the_worker_nor_the_verifier`).
/// Rewrite with `AGORA_WRITE_MODULES=1 cargo test -p agora-engine --test it nan::`.
#[test]
fn the_committed_nan_metrics_module_is_the_fixture() {
    let wasm = crate::fixture::with_eval(
        &format!(
            "i32.const 400 {NAN_BITS} i64.store
            i32.const 400 global.set $out_ptr i32.const 8 global.set $out_len i32.const 0"
        ),
        "",
    );
    is_the_committed_module("nan-metrics.wasm", &wasm);
    let metrics = |nan_canonicalization| {
        let executor = executor_with(nan_canonicalization);
        let job = executor.load(&wasm).expect("loads");
        executor
            .eval(&job, b"{}", b"", &[0; 8])
            .expect("evaluates")
            .bytes
    };
    assert_eq!(
        metrics(true),
        0x7fc0_0000u64.to_le_bytes(),
        "the canonical NaN"
    );
    #[cfg(target_arch = "x86_64")]
    assert_ne!(metrics(false), metrics(true), "x86-64's NaN differs");
}

fn late_nan() -> Vec<u8> {
    let next = format!(
        "local.get $v
        i64.const 5
        i64.lt_u
        if (result i64)
          local.get $v
          i64.const 1
          i64.add
        else
          {NAN_BITS}
        end"
    );
    crate::fixture::with_named_segment(&crate::fixture::each_step(&next))
}

/// `engine/tests/modules/deep-stack.wasm`: the counter job with a segment that recurses as
/// deep as its state's value (the job seed, which `init` stores) and leaves the state as it
/// was. Whether a given depth overflows the native stack depends on the machine's frame
/// sizes: the referee's stack test (`node/src/referee.rs`) and the dispute tests use it.
/// Rewrite with `AGORA_WRITE_MODULES=1 cargo test -p agora-engine --test it nan::`.
#[test]
fn the_committed_deep_stack_module_is_the_fixture() {
    let wasm = deep_stack();
    // It does recurse: deep enough overflows, shallow does not, and the state is unchanged.
    let (executor, job) = crate::fixture::committed_and_loaded("deep-stack.wasm", &wasm);
    let run = |depth: u64| executor.segment(&job, b"{}", b"", &depth.to_le_bytes(), 1);
    assert_eq!(run(100).expect("shallow").bytes, 100u64.to_le_bytes());
    assert!(matches!(
        run(100_000_000),
        Err(agora_engine::Error::StackOverflow { .. })
    ));
}

fn deep_stack() -> Vec<u8> {
    let body = format!(
        "local.get 4 i64.load i32.wrap_i64 call $deep drop {}",
        store_state("local.get 4 i64.load")
    );
    let deep = "(func $deep (param $n i32) (result i32)
        local.get $n
        i32.eqz
        if (result i32)
          i32.const 0
        else
          local.get $n
          i32.const 1
          i32.sub
          call $deep
          i32.const 1
          i32.add
        end)";
    with_segment(&body, deep)
}

/// `engine/tests/modules/heavy-init.wasm`: the counter job whose `init` spins its seed's
/// number of loop rounds (~6 fuel each) before storing the seed: an `init` as heavy as a test
/// wants beside a segment of a few hundred fuel. The referee's re-run of segment 0 gives
/// `init` the chain's bound on a call, as the worker does (`node/tests/it/referee.rs`).
/// Rewrite with `AGORA_WRITE_MODULES=1 cargo test -p agora-engine --test it nan::`.
#[test]
fn the_committed_heavy_init_module_is_the_fixture() {
    let wasm = heavy_init();
    let (executor, job) = crate::fixture::committed_and_loaded("heavy-init.wasm", &wasm);
    let init = |seed: u64| executor.init(&job, b"{}", b"", seed).expect("init runs");
    let (light, heavy) = (init(10), init(1_000_000));
    assert_eq!(heavy.bytes, 1_000_000u64.to_le_bytes());
    assert!(
        heavy.fuel > 5_000_000 && light.fuel < 10_000,
        "{} {}",
        light.fuel,
        heavy.fuel
    );
}

fn heavy_init() -> Vec<u8> {
    let body = format!(
        "(block $done
              (loop $spin
                local.get $i
                local.get 4
                i64.ge_u
                br_if $done
                local.get $i
                i64.const 1
                i64.add
                local.set $i
                br $spin))
            {}",
        store_state("local.get 4")
    );
    let init = format!(
        "(func (export \"agora_init\") (param i32 i32 i32 i32 i64) (result i32) (local $i i64)\n            {body})"
    );
    crate::fixture::module(&[("agora_init", &init)], "")
}

#[test]
fn nan_comparisons_agree_everywhere() {
    // `x != x` is the NaN test a job uses (Rust's is_nan / is_finite compile to comparisons).
    let div = "i32.const 0 f32.load i32.const 0 f32.load f32.div";
    let check = format!("{div} {div} f32.ne i64.extend_i32_u");
    let off = segment_output(&store_state(&check), false);
    let on = segment_output(&store_state(&check), true);
    assert_eq!(off, on);
    assert_eq!(off[0], 1, "NaN != NaN");
}

/// A segment of `wasm` and of its NaN-probed form (`agora_engine::nan_probe::instrument`): the
/// original's outcome, the probed one's, and whether the probe saw a NaN.
fn probed(wasm: &[u8]) -> (Result<Vec<u8>, String>, Result<Vec<u8>, String>, bool) {
    // Loads probed forms too (their validation does not probe them again).
    let executor = probing_executor();
    let original = executor.load(wasm).expect("loads");
    let instrumented = agora_engine::nan_probe::instrument(wasm).expect("instruments");
    let probed = executor
        .load(&instrumented)
        .expect("the probed module validates");
    let plain = executor.segment(&original, b"{}", b"", &[0; 8], 1);
    let run = executor.call_probed(
        &probed,
        ProbedCall::Segment {
            state: &[0; 8],
            steps: 1,
        },
        b"{}",
        b"",
        u64::MAX,
    );
    let (result, produced) = (run.result, run.nan_produced);
    let bytes = |r: Result<agora_engine::Output, agora_engine::Error>| {
        r.map(|o| o.bytes).map_err(|e| e.to_string())
    };
    (bytes(plain), bytes(result), produced)
}

#[test]
fn the_nan_probe_sees_zero_divided_by_zero_and_changes_nothing_else() {
    let (plain, probed_result, produced) = probed(&with_segment(&store_state(NAN_BITS), ""));
    assert!(produced);
    assert_eq!(
        plain, probed_result,
        "same machine, same NaN bits, same state"
    );
}

#[test]
fn the_nan_probe_sees_nothing_in_finite_arithmetic() {
    let finite = "f32.const 1.5 f32.const 2.25 f32.mul f32.sqrt f64.promote_f32 \
                  f64.const 3 f64.div i64.trunc_f64_s";
    let (plain, probed_result, produced) = probed(&with_segment(&store_state(finite), ""));
    assert!(!produced);
    assert_eq!(plain, probed_result);
    assert!(plain.is_ok(), "{plain:?}");
}

#[test]
fn the_nan_probe_sees_a_nan_that_a_comparison_discards() {
    // `0/0 != 0/0` is 1 on every machine: the result does not depend on the bits, but a NaN
    // was produced, and the probe reports what was produced, not what was observed.
    let div = "i32.const 0 f32.load i32.const 0 f32.load f32.div";
    let check = format!("{div} {div} f32.ne i64.extend_i32_u");
    let (plain, probed_result, produced) = probed(&with_segment(&store_state(&check), ""));
    assert!(produced);
    assert_eq!(plain, probed_result);
}

#[test]
fn the_nan_probe_sees_simd_lanes() {
    let zero_by_zero = "v128.const f32x4 0 0 0 0 v128.const f32x4 0 0 0 0 f32x4.div \
                        i64x2.extract_lane 0";
    let (_, _, produced) = probed(&with_segment(&store_state(zero_by_zero), ""));
    assert!(produced, "f32x4.div");
    let finite = "v128.const f64x2 1 2 v128.const f64x2 3 4 f64x2.add i64x2.extract_lane 1";
    let (plain, probed_result, produced) = probed(&with_segment(&store_state(finite), ""));
    assert!(!produced, "f64x2.add");
    assert_eq!(plain, probed_result);
}

#[test]
fn the_nan_probe_is_read_when_the_call_traps() {
    let trap = "i32.const 0 f32.load i32.const 0 f32.load f32.div drop unreachable";
    let (plain, probed_result, produced) = probed(&segment_module(trap));
    assert!(plain.is_err() && probed_result.is_err());
    assert!(produced);
}

#[test]
fn a_module_already_exporting_the_probe_global_is_refused_by_name() {
    let taken = with_segment(
        &store_state("i64.const 1"),
        "(global (export \"agora_nan_produced\") (mut i32) (i32.const 0))",
    );
    let err = agora_engine::nan_probe::instrument(&taken).expect_err("refused");
    assert!(err.to_string().contains("agora_nan_produced"), "{err}");
    let err = agora_engine::nan_probe::instrument(b"\0asm\x01\0\0\0garbage").expect_err("refused");
    assert!(
        matches!(err, agora_engine::Error::InvalidModule { .. }),
        "{err}"
    );
}

/// A counter module whose segment is `body` followed by nothing: for bodies that never return.
fn segment_module(body: &str) -> Vec<u8> {
    with_segment(&format!("{body} i32.const 0"), "")
}

/// [`agora_engine::nan_probe::MAX_PROBE_FUEL`] bounds what the probe adds per instruction, so
/// the referee's probed run ([`agora_engine::nan_probe::PROBED_FUEL_FACTOR`] times the fuel)
/// always covers the original's whole run. The worst case is a chain of one-instruction float
/// operations, scalar and SIMD: each probed.
#[test]
fn the_probe_adds_at_most_max_probe_fuel_per_instruction() {
    use agora_engine::nan_probe::{instrument, MAX_PROBE_FUEL, PROBED_FUEL_FACTOR};
    // Loads probed forms too (their validation does not probe them again).
    let executor = probing_executor();
    let chain = |op: &str, value: &str, unpack: &str| {
        let ops = format!("{op} ").repeat(1000);
        with_segment(&store_state(&format!("{value} {ops} {unpack}")), "")
    };
    for (what, wasm) in [
        (
            "f32.sqrt",
            chain(
                "f32.sqrt",
                "f32.const 2",
                "i32.reinterpret_f32 i64.extend_i32_u",
            ),
        ),
        (
            "f32x4.sqrt",
            chain(
                "f32x4.sqrt",
                "v128.const f32x4 2 2 2 2",
                "i64x2.extract_lane 0",
            ),
        ),
    ] {
        let fuel = |wasm: &[u8]| {
            let job = executor.load(wasm).expect("loads");
            executor
                .segment(&job, b"{}", b"", &[0; 8], 1)
                .expect("runs")
                .fuel
        };
        let (plain, probed) = (fuel(&wasm), fuel(&instrument(&wasm).expect("instruments")));
        let added = probed - plain;
        assert!(
            added <= 1000 * MAX_PROBE_FUEL && added >= 1000 * (MAX_PROBE_FUEL - 1),
            "{what}: the probe added {added} fuel over 1000 operations"
        );
        assert!(probed < plain * PROBED_FUEL_FACTOR, "{what}");
    }
}
