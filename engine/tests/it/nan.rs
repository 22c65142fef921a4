//! Why the NaN argument in `docs/nan-determinism.md` is needed, and what it relies on: NaN
//! *bits* differ between executors (x86 produces a negative NaN for 0/0, ARM and wasmtime's
//! canonicalization a positive one), while *comparisons* on NaN give the same answer
//! everywhere. On x86-64 the two executors below stand in for two kinds of hardware; under
//! `qemu-aarch64` (`scripts/check-aarch64.sh`) the ARM side is the real thing.

use agora_engine::{Executor, Settings};

use crate::fixture::{store_state, with_segment};

fn segment_output(body: &str, nan_canonicalization: bool) -> Vec<u8> {
    let wasm = with_segment(body, "");
    let executor = Executor::new(Settings {
        nan_canonicalization,
        ..Settings::default()
    })
    .expect("executor");
    let job = executor.load(&wasm).expect("loads");
    executor
        .segment(&job, b"{}", b"", &[0; 8], 1)
        .expect("runs")
        .bytes
}

/// The bits of a NaN produced at run time (0/0; the operands come from memory so the compiler
/// cannot fold the division).
const NAN_BITS: &str =
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
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/modules/nan-bits.wasm");
    let wasm = with_segment(&store_state(NAN_BITS), "");
    if std::env::var_os("AGORA_WRITE_MODULES").is_some() {
        std::fs::write(&path, &wasm).expect("writes the module");
    }
    let committed = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        committed == wasm,
        "{} is not the fixture; rewrite it with AGORA_WRITE_MODULES=1",
        path.display()
    );
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
