//! A tiny Job ABI v1 module written in WAT ("counter"), and a builder for variants of it.
//!
//! The counter's state is 8 bytes: a u64 that every step advances with an LCG mixed with the
//! dataset length, so states depend on the start state, the step count and the inputs, and fuel
//! grows with the steps. `abi_module` lets a test replace any export's body or add items, which
//! is how the hostile corpus is written.

use std::collections::BTreeMap;

/// Default bodies of the ABI exports, keyed by export name (signature included).
fn default_functions() -> BTreeMap<&'static str, String> {
    let mut f = BTreeMap::new();
    f.insert(
        "agora_abi_version",
        "(func (export \"agora_abi_version\") (result i32) i32.const 1)".to_string(),
    );
    f.insert(
        "agora_alloc",
        r#"(func (export "agora_alloc") (param $len i32) (result i32) (local $p i32)
            global.get $heap
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
            local.get $p)"#
            .to_string(),
    );
    f.insert(
        "agora_output_ptr",
        "(func (export \"agora_output_ptr\") (result i32) global.get $out_ptr)".to_string(),
    );
    f.insert(
        "agora_output_len",
        "(func (export \"agora_output_len\") (result i32) global.get $out_len)".to_string(),
    );
    f.insert(
        "agora_plan",
        r#"(func (export "agora_plan") (param i32 i32 i32 i32) (result i32)
            i32.const 256 global.set $out_ptr
            i32.const 18 global.set $out_len
            i32.const 0)"#
            .to_string(),
    );
    f.insert(
        "agora_init",
        r#"(func (export "agora_init") (param i32 i32 i32 i32 i64) (result i32)
            i32.const 64
            local.get 4
            i64.store
            i32.const 64 global.set $out_ptr
            i32.const 8 global.set $out_len
            i32.const 0)"#
            .to_string(),
    );
    f.insert(
        "agora_segment",
        r#"(func (export "agora_segment") (param $pp i32) (param $pl i32) (param $dp i32) (param $dl i32)
              (param $sp i32) (param $sl i32) (param $steps i32) (result i32) (local $v i64)
            local.get $sl
            i32.const 8
            i32.ne
            if
              i32.const 320 global.set $out_ptr
              i32.const 25 global.set $out_len
              i32.const 1
              return
            end
            local.get $sp
            i64.load
            local.set $v
            (block $done
              (loop $step
                local.get $steps
                i32.eqz
                br_if $done
                local.get $v
                i64.const 6364136223846793005
                i64.mul
                local.get $dl
                i64.extend_i32_u
                i64.add
                i64.const 1442695040888963407
                i64.add
                local.set $v
                local.get $steps
                i32.const 1
                i32.sub
                local.set $steps
                br $step))
            i32.const 64
            local.get $v
            i64.store
            i32.const 64 global.set $out_ptr
            i32.const 8 global.set $out_len
            i32.const 0)"#
            .to_string(),
    );
    f.insert(
        "agora_eval",
        r#"(func (export "agora_eval") (param i32 i32 i32 i32 i32 i32) (result i32)
            i32.const 288 global.set $out_ptr
            i32.const 13 global.set $out_len
            i32.const 0)"#
            .to_string(),
    );
    f.insert(
        "agora_export",
        r#"(func (export "agora_export") (param i32 i32 i32 i32) (param $sp i32) (param $sl i32) (result i32)
            local.get $sp global.set $out_ptr
            local.get $sl global.set $out_len
            i32.const 0)"#
            .to_string(),
    );
    f
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
