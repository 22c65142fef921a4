//! The hostile-module corpus: each module misbehaves in one way and must end in a typed error
//! within its fuel, memory or size bound — and the executor must keep running good jobs after.
//! Scenarios are named after the fault.

use agora_engine::{Error, Executor, Limits, Settings};

use crate::fixture::{
    counter, module, module_with_memory, segment_export, store_state, with_segment,
};

/// Small limits so every fault is reached quickly.
fn executor() -> Executor {
    Executor::new(Settings {
        limits: Limits {
            max_module_bytes: 64 << 10,
            max_memory_bytes: 16 << 20,
            max_table_elements: 1_000,
            max_fuel_per_call: 50_000_000,
            max_state_bytes: 1 << 20,
            max_output_bytes: 1 << 20,
            max_metrics_bytes: 1 << 20,
            max_input_bytes: 1 << 20,
            max_wasm_stack: 256 << 10,
        },
        ..Settings::default()
    })
    .expect("executor")
}

/// The executor still runs the good counter job (the host stayed healthy).
fn still_healthy(executor: &Executor) {
    let job = executor.load(&counter()).expect("counter loads");
    let state = executor.init(&job, b"{}", b"data", 1).expect("init").bytes;
    let out = executor
        .segment(&job, b"{}", b"data", &state, 5)
        .expect("segment");
    assert_eq!(out.bytes.len(), 8);
}

/// Load must fail with an error matching `check`.
fn refused_at_load(executor: &Executor, wasm: &[u8], check: impl Fn(&Error) -> bool) {
    match executor.load(wasm) {
        Ok(_) => panic!("hostile module was accepted"),
        Err(e) => assert!(check(&e), "unexpected error: {e}"),
    }
    still_healthy(executor);
}

/// Loading succeeds; the segment call fails with an error matching `check`.
fn fails_in_segment(executor: &Executor, wasm: &[u8], check: impl Fn(&Error) -> bool) {
    let job = executor.load(wasm).expect("module loads");
    let err = executor
        .segment(&job, b"{}", b"data", &[0; 8], 3)
        .expect_err("segment must fail");
    assert!(check(&err), "unexpected error: {err}");
    // The message names the call.
    assert!(err.to_string().contains("agora_segment"), "{err}");
    still_healthy(executor);
}

#[test]
fn infinite_loop_runs_out_of_fuel() {
    let wasm = with_segment("(loop $l br $l) i32.const 0", "");
    fails_in_segment(&executor(), &wasm, |e| {
        matches!(
            e,
            Error::OutOfFuel {
                limit: 50_000_000,
                ..
            }
        )
    });
}

#[test]
fn unbounded_memory_growth_hits_the_memory_limit() {
    let body = "(loop $l i32.const 16 memory.grow i32.const -1 i32.ne br_if $l) i32.const 0";
    let wasm = with_segment(body, "");
    fails_in_segment(
        &executor(),
        &wasm,
        |e| matches!(e, Error::MemoryLimit { limit, .. } if *limit == 16 << 20),
    );
}

/// A `memory.grow` within the limit but past the module's own declared maximum returns -1 on
/// every machine: the request alone decides it, and the module may keep the -1 in its state
/// (the engine's limiter answers it before wasmtime tries, so that any failure after its
/// approval is the host's: `executor::tests::a_growth_the_host_cannot_back_fails_the_call_as_the_hosts_error`).
#[test]
fn growth_past_the_declared_maximum_returns_minus_one_everywhere() {
    let executor = executor();
    let body = store_state("i32.const 2 memory.grow i64.extend_i32_s");
    let wasm = module_with_memory(
        &[("agora_segment", &segment_export(&body))],
        "",
        "(memory (export \"memory\") 1 2)",
    );
    let job = executor.load(&wasm).expect("module loads");
    let out = executor
        .segment(&job, b"{}", b"data", &[0; 8], 1)
        .expect("the segment runs");
    assert_eq!(out.bytes, (-1i64).to_le_bytes());
}

#[test]
fn huge_initial_memory_is_refused_before_running() {
    let wasm = module_with_memory(&[], "", "(memory (export \"memory\") 1024)");
    refused_at_load(
        &executor(),
        &wasm,
        |e| matches!(e, Error::MemoryLimit { call: "validate", requested, .. } if *requested == 1024 * 65536),
    );
}

#[test]
fn deep_recursion_overflows_the_stack() {
    let extra = "(func $down (param i64) (result i64) local.get 0 i64.const 1 i64.add call $down)";
    let wasm = with_segment("i64.const 0 call $down drop i32.const 0", extra);
    fails_in_segment(&executor(), &wasm, |e| {
        matches!(e, Error::StackOverflow { .. })
    });
}

/// A module whose NaN-probed form is not a valid module is refused at load. Here one unused
/// function has 49,998 locals: the validator allows 50,000, and the probe adds three scratch
/// locals to every function. Before, the module loaded and ran, but the referee's load of its
/// probed form failed, that failure read as the module refusing the run, and every dispute over
/// the job ended against its honest worker (any challenger won by disagreeing at every move).
#[test]
fn a_module_the_nan_probe_cannot_rewrite_is_refused_at_load() {
    let locals = " i32".repeat(49_998);
    let wasm = module(&[], &format!("(func $wide (local{locals}))"));
    refused_at_load(
        &executor(),
        &wasm,
        |e| matches!(e, Error::InvalidModule { reason } if reason.contains("NaN probe")),
    );
}

/// A module cached by the referee's probing executor (which does not ask that the probe can
/// rewrite its modules) is still checked for the probe by an executor sharing the cache
/// directory: a disk hit skips validation, so the cache's key holds whether that rule applied.
/// Before, the plain executor loaded the unprobeable module from the probing one's entry.
#[test]
fn a_module_the_probing_executor_cached_is_still_checked_for_the_probe() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sharing_the_cache = |nan_probed: bool| {
        let base = executor().settings().clone();
        Executor::new(Settings {
            nan_probed,
            cache_dir: Some(dir.path().to_path_buf()),
            ..base
        })
        .expect("executor")
    };
    let locals = " i32".repeat(49_998);
    let wasm = module(&[], &format!("(func $wide (local{locals}))"));
    sharing_the_cache(true)
        .load(&wasm)
        .expect("the probing executor loads it");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "compiled and cached"
    );
    refused_at_load(
        &sharing_the_cache(false),
        &wasm,
        |e| matches!(e, Error::InvalidModule { reason } if reason.contains("NaN probe")),
    );
}

#[test]
fn huge_table_is_refused_at_validation() {
    let wasm = module(&[], "(table 100000 funcref)");
    refused_at_load(&executor(), &wasm, |e| {
        matches!(
            e,
            Error::TableLimit {
                requested: 100_000,
                limit: 1_000,
                ..
            }
        )
    });
}

#[test]
fn growing_a_table_without_bound_hits_the_table_limit() {
    let body = "(loop $l ref.null func i32.const 100 table.grow $t i32.const -1 i32.ne br_if $l) i32.const 0";
    let wasm = with_segment(body, "(table $t 1 funcref)");
    fails_in_segment(&executor(), &wasm, |e| {
        matches!(e, Error::TableLimit { limit: 1_000, .. })
    });
}

#[test]
fn wasi_import_is_forbidden() {
    let extra = r#"(import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))"#;
    let wasm = module(&[], extra);
    refused_at_load(
        &executor(),
        &wasm,
        |e| matches!(e, Error::ForbiddenImport { module, name } if module == "wasi_snapshot_preview1" && name == "fd_write"),
    );
}

#[test]
fn unknown_host_import_is_forbidden() {
    let wasm = module(&[], r#"(import "env" "clock_now" (func (result i64)))"#);
    refused_at_load(&executor(), &wasm, |e| {
        e.to_string().contains("`env`.`clock_now`")
    });
}

#[test]
fn threads_and_atomics_are_forbidden() {
    let body = "i32.const 0 i32.const 1 i32.atomic.rmw.add drop i32.const 0";
    let wasm = module_with_memory(
        &[("agora_segment", &segment_export(body))],
        "",
        "(memory (export \"memory\") 1 1 shared)",
    );
    refused_at_load(&executor(), &wasm, |e| {
        matches!(e, Error::ForbiddenFeature { .. })
    });
}

#[test]
fn relaxed_simd_is_forbidden() {
    let body = "v128.const i64x2 0 0 v128.const i64x2 0 0 v128.const i64x2 0 0 f32x4.relaxed_madd drop i32.const 0";
    let wasm = with_segment(body, "");
    refused_at_load(&executor(), &wasm, |e| {
        matches!(e, Error::ForbiddenFeature { .. })
    });
}

#[test]
fn invalid_bytes_are_refused() {
    refused_at_load(&executor(), b"\0asm\x01\0\0\0\xff\xff", |e| {
        matches!(e, Error::InvalidModule { .. })
    });
    refused_at_load(&executor(), b"this is not webassembly", |e| {
        matches!(e, Error::InvalidModule { .. })
    });
    let mut truncated = counter();
    truncated.truncate(truncated.len() / 2);
    refused_at_load(&executor(), &truncated, |e| {
        matches!(e, Error::InvalidModule { .. })
    });
}

#[test]
fn empty_file_is_refused() {
    refused_at_load(&executor(), b"", |e| matches!(e, Error::EmptyModule));
}

#[test]
fn oversized_module_is_refused_before_parsing() {
    let padding = "x".repeat(70_000);
    let wasm = module(&[], &format!("(data (i32.const 8192) \"{padding}\")"));
    refused_at_load(
        &executor(),
        &wasm,
        |e| matches!(e, Error::ModuleTooLarge { limit, .. } if *limit == 64 << 10),
    );
}

#[test]
fn export_with_the_wrong_signature_is_refused() {
    let alloc = r#"(func (export "agora_alloc") (param i64) (result i32) i32.const 0)"#;
    refused_at_load(&executor(), &module(&[("agora_alloc", alloc)], ""), |e| {
        matches!(
            e,
            Error::WrongExport {
                name: "agora_alloc",
                ..
            }
        ) && e.to_string().contains("(i64)")
    });
}

#[test]
fn memory_exported_as_a_global_is_refused() {
    let wasm = module_with_memory(
        &[],
        "",
        "(memory 1) (global (export \"memory\") i32 (i32.const 0))",
    );
    refused_at_load(&executor(), &wasm, |e| {
        matches!(e, Error::WrongExport { name: "memory", .. })
    });
}

#[test]
fn missing_export_is_refused() {
    refused_at_load(&executor(), &module(&[("agora_eval", "")], ""), |e| {
        matches!(e, Error::MissingExport { name: "agora_eval" })
    });
}

#[test]
fn unsupported_abi_version_is_refused() {
    let version = r#"(func (export "agora_abi_version") (result i32) i32.const 2)"#;
    refused_at_load(
        &executor(),
        &module(&[("agora_abi_version", version)], ""),
        |e| {
            matches!(
                e,
                Error::UnsupportedAbi {
                    found: 2,
                    supported: 1
                }
            )
        },
    );
}

#[test]
fn state_bigger_than_the_limit_is_refused() {
    let body = "i32.const 0 global.set $out_ptr i32.const 2000000 global.set $out_len i32.const 0";
    let wasm = module_with_memory(
        &[("agora_segment", &segment_export(body))],
        "",
        "(memory (export \"memory\") 40)",
    );
    fails_in_segment(
        &executor(),
        &wasm,
        |e| matches!(e, Error::OutputTooLarge { size: 2_000_000, limit, .. } if *limit == 1 << 20),
    );
}

#[test]
fn output_outside_memory_is_an_abi_violation() {
    let body = "i32.const 65000 global.set $out_ptr i32.const 1000 global.set $out_len i32.const 0";
    let wasm = with_segment(body, "");
    fails_in_segment(&executor(), &wasm, |e| {
        matches!(e, Error::AbiViolation { .. })
    });
}

#[test]
fn unknown_status_is_an_abi_violation() {
    let wasm = with_segment("i32.const 7", "");
    fails_in_segment(&executor(), &wasm, |e| e.to_string().contains("status 7"));
}

#[test]
fn panic_in_the_job_is_a_trap() {
    let wasm = with_segment("unreachable", "");
    fails_in_segment(&executor(), &wasm, |e| {
        matches!(e, Error::Trap { .. }) && e.to_string().contains("unreachable")
    });
}

#[test]
fn out_of_bounds_access_is_a_trap() {
    let wasm = with_segment("i32.const -8 i64.load drop i32.const 0", "");
    fails_in_segment(&executor(), &wasm, |e| matches!(e, Error::Trap { .. }));
}

#[test]
fn job_error_is_reported_with_its_message() {
    let executor = executor();
    let job = executor.load(&counter()).expect("loads");
    let err = executor
        .segment(&job, b"{}", b"data", b"short", 1)
        .expect_err("bad state");
    assert_eq!(
        err,
        Error::Job {
            call: "agora_segment",
            message: "the state must be 8 bytes".into()
        }
    );
}

#[test]
fn oversized_input_is_refused_before_running() {
    let executor = executor();
    let job = executor.load(&counter()).expect("loads");
    let big = vec![b'1'; (1 << 20) + 1];
    let err = executor.init(&job, b"{}", &big, 1).expect_err("too big");
    assert!(
        matches!(
            err,
            Error::InputTooLarge {
                what: "dataset",
                ..
            }
        ),
        "{err}"
    );
}

/// A compiled module is cached only with the limits it was validated under: one that passed
/// an executor with loose limits, sharing the disk cache with a stricter executor, is still
/// validated — and refused — by the stricter one (a cache hit skips validation, so a cache
/// keyed without the limits would let the module through).
#[test]
fn a_module_cached_under_loose_limits_is_refused_under_stricter_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let with_limits = |max_table_elements: u64| {
        let strict = executor().settings().clone();
        Executor::new(Settings {
            limits: Limits {
                max_table_elements,
                ..strict.limits
            },
            cache_dir: Some(dir.path().to_path_buf()),
            ..strict
        })
        .expect("executor")
    };
    let wasm = module(&[], "(table 100000 funcref)");
    let loose = with_limits(200_000);
    loose.load(&wasm).expect("within the loose limits");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "compiled and cached"
    );
    let strict = with_limits(1_000);
    refused_at_load(&strict, &wasm, |e| {
        matches!(
            e,
            Error::TableLimit {
                requested: 100_000,
                limit: 1_000,
                ..
            }
        )
    });
    // And the loose executor still gets its cache hit.
    assert_eq!(
        with_limits(200_000).load(&wasm).expect("cached").origin(),
        agora_engine::Origin::DiskCache
    );
}
