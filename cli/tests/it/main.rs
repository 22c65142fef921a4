//! Integration tests of the `agora` binary.

#![allow(
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    missing_docs,
    unreachable_pub
)]

mod chain;
#[cfg(feature = "faults")]
mod disputes;
mod market;
mod network;
mod node;
mod quote;

use std::path::PathBuf;
use std::process::{Command, Output};

/// The compiled-module cache every process these tests start shares: the nodes' referees, the
/// workers and verifiers, `agora job submit`. Compiling a job module takes ~7.6 CPU-seconds in
/// the test profile, and when each test gave each of its processes a cache of its own, the
/// same few modules were compiled 3–5 times per test: two-fifths of the CPU time of this
/// suite, CI's longest (`docs/reliability.md`, "CI time"). Entries are keyed by the module's
/// hash and the engine's settings and replaced only by rename (`engine/src/cache.rs`), so
/// processes sharing one is what a machine running a node and a worker does
/// (`agora-node --module-cache-dir`).
/// It lives in cargo's scratch directory for integration tests, bounded by the cache's own
/// pruning (2 GiB).
pub(crate) fn module_cache() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("module-cache")
}

/// Runs the `agora` binary with `args`.
fn agora(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_agora"))
        .args(args)
        .env_remove("AGORA_RPC")
        .output()
        .unwrap()
}

/// The JSON `agora` printed, asserting that it succeeded (showing its stderr if not).
fn stdout_json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn key_inspect_alice_json() {
    let json = stdout_json(&agora(&["key", "inspect", "//Alice", "--output", "json"]));
    assert_eq!(
        json["ss58_address"],
        "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"
    );
    assert_eq!(json["scheme"], "sr25519");
    assert_eq!(
        json["public_key"],
        "0xd43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d"
    );
    assert_eq!(json["account_id"], json["public_key"]);
    assert!(json.get("secret_phrase").is_none());
}

#[test]
fn key_inspect_ed25519_text() {
    let out = agora(&["key", "inspect", "//Alice", "--scheme", "ed25519"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("5FA9nQDVg267DEd8m1ZypXLBnvN7SFxYwV7ndqSYGiN9TTpu"),
        "{text}"
    );
    assert!(text.contains("ed25519"), "{text}");
}

#[test]
fn key_inspect_bad_suri_fails_naming_the_value() {
    let out = agora(&["key", "inspect", "//Alice//"]);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("'//Alice//'"), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");

    let out = agora(&["--output", "json", "key", "inspect", "nonsense"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("'nonsense' is not a valid SURI"),
        "{stderr}"
    );
}

#[test]
fn key_generate_round_trips_through_inspect() {
    let generated = stdout_json(&agora(&[
        "key", "generate", "--words", "24", "--output", "json",
    ]));
    let phrase = generated["secret_phrase"].as_str().unwrap();
    assert_eq!(phrase.split(' ').count(), 24);
    assert!(generated["secret_seed"].as_str().unwrap().starts_with("0x"));
    let inspected = stdout_json(&agora(&["key", "inspect", phrase, "--output", "json"]));
    assert_eq!(inspected["ss58_address"], generated["ss58_address"]);
}
