//! Test support: a tiny Job ABI v1 module written in WAT ("counter"), a builder for variants
//! of it, and the disk-cache settings the cache tests share.
//!
//! The counter's state is 8 bytes: a u64 that every step advances with an LCG mixed with the
//! dataset length, so states depend on the start state, the step count and the inputs, and fuel
//! grows with the steps. `abi_wat` lets a test replace any export's body or add items, which
//! is how the hostile corpus is written; `segment_export` and `store_state` are the WAT pieces
//! tests replace the segment with.

use std::collections::BTreeMap;

use agora_engine::Settings;

/// Body of `agora_alloc`: a bump allocator over `$heap` that grows memory as needed.
const ALLOC: &str = r#"global.get $heap
            local.set $p
            global.get $heap
            local.get $len
            i32.add
            i32.const 15
            i32.add
            i32.const -16
            i32.and
            global.set $heap
            ;; grow memory until the bump pointer fits
            (block $done
              (loop $grow
                global.get $heap
                memory.size
                i32.const 65536
                i32.mul
                i32.le_u
                br_if $done
                i32.const 1
                memory.grow
                i32.const -1
                i32.eq
                br_if $done
                br $grow))
            local.get $p"#;

/// Signature of the counter's `agora_segment` (named parameters, used by its body).
const SEGMENT_SIGNATURE: &str = "(param $pp i32) (param $pl i32) (param $dp i32) (param $dl i32)
              (param $sp i32) (param $sl i32) (param $steps i32) (result i32) (local $v i64)";

/// Body of the counter's `agora_segment`: refuses a state that is not 8 bytes, then advances
/// the u64 state `$v` by `$steps` LCG steps mixed with the dataset length and returns it.
fn counter_segment() -> String {
    format!(
        r#"local.get $sl
            i32.const 8
            i32.ne
            if
              {refuse}
              return
            end
            {steps}"#,
        refuse = finish("i32.const 320", "i32.const 25", 1),
        steps = each_step(
            "local.get $v
                i64.const 6364136223846793005
                i64.mul
                local.get $dl
                i64.extend_i32_u
                i64.add
                i64.const 1442695040888963407
                i64.add"
        ),
    )
}

/// WAT for a named-parameter segment body: loads the u64 state into `$v`, replaces it `$steps`
/// times with what `next` pushes (an i64, computed from `$v`), then stores it as the state.
pub(crate) fn each_step(next: &str) -> String {
    format!(
        r#"local.get $sp
            i64.load
            local.set $v
            (block $done
              (loop $step
                local.get $steps
                i32.eqz
                br_if $done
                {next}
                local.set $v
                local.get $steps
                i32.const 1
                i32.sub
                local.set $steps
                br $step))
            {store}"#,
        store = store_state("local.get $v"),
    )
}

/// WAT that makes the `len` bytes at `ptr` the call's output and leaves `status` on the stack.
fn finish(ptr: &str, len: &str, status: u32) -> String {
    format!(
        "{ptr} global.set $out_ptr
            {len} global.set $out_len
            i32.const {status}"
    )
}

/// WAT that stores the i64 that `value` pushes as the 8-byte state at address 64 and returns it
/// as the call's output, with status 0.
pub(crate) fn store_state(value: &str) -> String {
    format!(
        "i32.const 64
            {value}
            i64.store
            {}",
        finish("i32.const 64", "i32.const 8", 0)
    )
}

/// The WAT of an export `name` with `signature` and `body`.
fn export(name: &str, signature: &str, body: &str) -> String {
    format!("(func (export \"{name}\") {signature}\n            {body})")
}

/// An `agora_segment` export with `body` (parameters unnamed), to replace the counter's.
pub(crate) fn segment_export(body: &str) -> String {
    export(
        "agora_segment",
        "(param i32 i32 i32 i32 i32 i32 i32) (result i32)",
        body,
    )
}

/// Signature of `agora_eval` (params, dataset, state: pointer and length each).
const EVAL_SIGNATURE: &str = "(param i32 i32 i32 i32 i32 i32) (result i32)";

/// The counter with an `agora_eval` whose `body` (parameters unnamed) is given, and `extra`
/// items.
pub(crate) fn with_eval(body: &str, extra: &str) -> Vec<u8> {
    module(
        &[("agora_eval", &export("agora_eval", EVAL_SIGNATURE, body))],
        extra,
    )
}

/// Signature of `agora_export` (params, dataset: pointer and length each; then the state).
const EXPORT_SIGNATURE: &str =
    "(param i32 i32 i32 i32) (param $sp i32) (param $sl i32) (result i32)";

/// The counter with `agora_export` and `agora_eval` bodies of its own (the export's state
/// parameters named `$sp`, `$sl`; the eval's unnamed).
pub(crate) fn with_results(export_body: &str, eval_body: &str) -> Vec<u8> {
    module(
        &[
            (
                "agora_export",
                &export("agora_export", EXPORT_SIGNATURE, export_body),
            ),
            (
                "agora_eval",
                &export("agora_eval", EVAL_SIGNATURE, eval_body),
            ),
        ],
        "",
    )
}

/// Fails unless `wasm` is the committed fixture `engine/tests/modules/<name>` (which end-to-end
/// tests elsewhere run); with `AGORA_WRITE_MODULES` set, writes it first.
pub(crate) fn is_the_committed_module(name: &str, wasm: &[u8]) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/modules")
        .join(name);
    if std::env::var_os("AGORA_WRITE_MODULES").is_some() {
        std::fs::write(&path, wasm).expect("writes the module");
    }
    let committed = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        committed == wasm,
        "{} is not the fixture; rewrite it with AGORA_WRITE_MODULES=1",
        path.display()
    );
}

/// [`is_the_committed_module`], then `wasm` loaded into an executor of default settings: how
/// the fixture tests that run their module start.
pub(crate) fn committed_and_loaded(
    name: &str,
    wasm: &[u8],
) -> (agora_engine::Executor, agora_engine::JobModule) {
    is_the_committed_module(name, wasm);
    let executor = agora_engine::Executor::new(Settings::default()).expect("executor");
    let job = executor.load(wasm).expect("loads");
    (executor, job)
}

/// Default bodies of the ABI exports, keyed by export name (signature included).
fn default_functions() -> BTreeMap<&'static str, String> {
    let eval_signature = EVAL_SIGNATURE;
    let export_signature = EXPORT_SIGNATURE;
    [
        (
            "agora_abi_version",
            "(result i32)",
            "i32.const 1".to_string(),
        ),
        (
            "agora_alloc",
            "(param $len i32) (result i32) (local $p i32)",
            ALLOC.to_string(),
        ),
        (
            "agora_output_ptr",
            "(result i32)",
            "global.get $out_ptr".to_string(),
        ),
        (
            "agora_output_len",
            "(result i32)",
            "global.get $out_len".to_string(),
        ),
        (
            "agora_plan",
            "(param i32 i32 i32 i32) (result i32)",
            finish("i32.const 256", "i32.const 18", 0),
        ),
        (
            "agora_init",
            "(param i32 i32 i32 i32 i64) (result i32)",
            store_state("local.get 4"),
        ),
        ("agora_segment", SEGMENT_SIGNATURE, counter_segment()),
        (
            "agora_eval",
            eval_signature,
            finish("i32.const 288", "i32.const 12", 0),
        ),
        (
            "agora_export",
            export_signature,
            finish("local.get $sp", "local.get $sl", 0),
        ),
    ]
    .into_iter()
    .map(|(name, signature, body)| (name, export(name, signature, &body)))
    .collect()
}

/// WAT text of the counter module with `replace` overriding export bodies (by export name; an
/// empty string removes the export) and `extra` appended inside the module.
pub(crate) fn abi_wat(replace: &[(&str, &str)], extra: &str, memory: &str) -> String {
    let mut functions = default_functions();
    for (name, body) in replace {
        if body.is_empty() {
            functions.remove(name);
        } else {
            functions.insert(name, body.to_string());
        }
    }
    let functions: Vec<String> = functions.into_values().collect();
    // WAT wants imports before every definition.
    let (imports, extra) = if extra.starts_with("(import") {
        (extra, "")
    } else {
        ("", extra)
    };
    format!(
        r#"(module
  {imports}
  {memory}
  (global $heap (mut i32) (i32.const 4096))
  (global $out_ptr (mut i32) (i32.const 0))
  (global $out_len (mut i32) (i32.const 0))
  {functions}
  {extra}
  (data (i32.const 256) "{{\"total_steps\":10}}")
  (data (i32.const 288) "{{\"metric\":1}}")
  (data (i32.const 320) "the state must be 8 bytes")
)"#,
        functions = functions.join("\n  ")
    )
}

/// The counter module as binary.
pub(crate) fn counter() -> Vec<u8> {
    module(&[], "")
}

/// A variant of the counter module, as binary.
pub(crate) fn module(replace: &[(&str, &str)], extra: &str) -> Vec<u8> {
    wat::parse_str(abi_wat(replace, extra, "(memory (export \"memory\") 1)"))
        .expect("fixture WAT parses")
}

/// A variant with its own memory declaration.
pub(crate) fn module_with_memory(replace: &[(&str, &str)], extra: &str, memory: &str) -> Vec<u8> {
    wat::parse_str(abi_wat(replace, extra, memory)).expect("fixture WAT parses")
}

/// A variant of the counter module whose `agora_segment` runs `body` (see [`segment_export`]),
/// with `extra` items, as binary.
/// The counter with an `agora_segment` whose `body` names its parameters as the counter's does
/// (`$sp`, `$sl`, `$steps`, …, and the i64 local `$v`).
pub(crate) fn with_named_segment(body: &str) -> Vec<u8> {
    module(
        &[(
            "agora_segment",
            &export("agora_segment", SEGMENT_SIGNATURE, body),
        )],
        "",
    )
}

pub(crate) fn with_segment(body: &str, extra: &str) -> Vec<u8> {
    module(&[("agora_segment", &segment_export(body))], extra)
}

/// Default settings but caching compiled modules on disk, in a fresh temporary directory that
/// lives as long as the returned guard.
pub(crate) fn disk_cache_settings() -> (tempfile::TempDir, Settings) {
    let dir = tempfile::tempdir().expect("tempdir");
    let settings = Settings {
        cache_dir: Some(dir.path().to_path_buf()),
        ..Settings::default()
    };
    (dir, settings)
}

/// The cumulative fuel before segment `index` of `run`: 0 for the first segment, otherwise
/// the previous leaf's (what a verifier reads from the revealed start leaf).
pub(crate) fn start_fuel(run: &agora_engine::Run, index: u64) -> u64 {
    match index.checked_sub(1) {
        Some(previous) => run.leaves[previous as usize].fuel,
        None => 0,
    }
}
