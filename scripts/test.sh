#!/usr/bin/env bash
# The whole test suite: formatting, unit tests, integration and end-to-end tests (which start
# real agora-node processes on loopback), the layering checks (scripts/check-layout.sh), then
# the job workspace (scripts/check-jobs.sh), then the same jobs on aarch64 under qemu-user
# (scripts/check-aarch64.sh), then the dashboard in a browser (scripts/check-dashboard.sh),
# then polkadot.js against a node (scripts/check-polkadot-js.sh).
# Usage: scripts/test.sh [extra cargo test args]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
source scripts/env.sh

cargo fmt --all -- --check
# Test and benchmark executables of past builds pile up in the shared target directory (half a
# GiB each for agora-node's; they filled the disk once). Cargo relinks any it still needs, so
# those untouched for a day go.
find "$CARGO_TARGET_DIR"/debug/deps "$CARGO_TARGET_DIR"/release/deps -maxdepth 1 -type f \
    -perm -u+x ! -name '*.so' -mmin +1440 -delete 2>/dev/null || true
# One invocation for everything: `cargo test --workspace` builds every binary that an
# integration test names (the end-to-end tests run `agora-node` and `agora`) before running
# any test, and building with other flags first would unify features differently and compile
# RocksDB's C++ a second time. `faults` (fault injection, `--fault KIND`) is on for the tests
# only: it changes agora-worker, agora-verifier and agora-cli, none of RocksDB's features.
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
# Six tests at a time in each workspace test binary, not one per core: the end-to-end tests
# mostly wait for blocks (their processes share one compiled-module cache, so they seldom
# compile), and the agora-cli suite, CI's longest, took 666 s on two threads and 284 s on six
# with every test passing (docs/reliability.md, "CI time"). The CPU-bound binaries take about
# as long either way. Only this cargo test: the checks below keep their own defaults.
test_threads="${RUST_TEST_THREADS:-6}"
# That cache is emptied first: each run compiles its modules once, with this revision's engine,
# rather than trusting entries an earlier revision wrote into the shared target directory.
rm -rf "$CARGO_TARGET_DIR/tmp/module-cache"
status=0
# Each phase's wall time, printed as it ends and listed again at the close: where CI's minutes
# go (docs/reliability.md, "CI time").
timings=()
phase_start=$SECONDS
phase_done() {
    local took=$((SECONDS - phase_start))
    timings+=("$(printf '%5d s  %s' "$took" "$1")")
    echo "time: $1 took $took s" | tee -a "$log"
    phase_start=$SECONDS
}
RUST_TEST_THREADS="$test_threads" cargo test --workspace --features agora-cli/faults "$@" 2>&1 \
    | tee "$log" || status=1
phase_done "cargo test --workspace (build and run)"
# The benchmarks compile (they run only under scripts/bench.sh, release): built in the test
# profile with the same features, so nothing is compiled twice. Without this a signature change
# broke `node/benches/ledger.rs` unnoticed for a session.
if cargo test --workspace --features agora-cli/faults --benches --no-run >>"$log" 2>&1; then
    echo "check: benchmarks compile ... ok" | tee -a "$log"
else
    # (The command on a line of its own: the totals count lines that end in FAILED.)
    echo "check: benchmarks compile ... FAILED" | tee -a "$log"
    echo "  cargo test --workspace --features agora-cli/faults --benches --no-run said:"
    grep -E -A8 '^error' "$log" | tail -60 || true
    status=1
fi
phase_done "benchmarks compile"
# The layering rules of docs/architecture.md (dependency directions, file and function sizes,
# RPC method names only in rpc-api).
scripts/check-layout.sh 2>&1 | tee -a "$log" || status=1
phase_done "check-layout.sh"
# The job workspace (jobs/): SDK unit tests, the reproducible-build check, the native-load check.
# It needs the `agora` binary the workspace tests just built.
if [ "$status" = 0 ]; then
    scripts/check-jobs.sh 2>&1 | tee -a "$log" || status=1
    phase_done "check-jobs.sh"
fi
# Same bits on aarch64: `agora` and the engine's tests cross-built (no RocksDB) and run under
# qemu-aarch64 against the x86-64 build; any difference in a job's results fails.
if [ "$status" = 0 ]; then
    scripts/check-aarch64.sh 2>&1 | tee -a "$log" || status=1
    phase_done "check-aarch64.sh"
fi
# The dashboard in headless chromium against a dev chain that settles a job (~1.5 min).
if [ "$status" = 0 ]; then
    scripts/check-dashboard.sh 2>&1 | tee -a "$log" || status=1
    phase_done "check-dashboard.sh"
fi
# An unmodified @polkadot/api from npm against a dev chain: start, read, sign, send (~1 min).
if [ "$status" = 0 ]; then
    scripts/check-polkadot-js.sh 2>&1 | tee -a "$log" || status=1
    phase_done "check-polkadot-js.sh"
fi
# Close with the phases' times and the totals of every cargo test run and every check.
printf 'time: %s\n' "${timings[@]}"
awk '/^test result:/ { passed += $4; failed += $6; ignored += $8 }
     /^check: .* ok$/ { passed += 1 } /^check: .* FAILED$/ { failed += 1 }
     END { printf "tests: %d passed, %d failed, %d skipped\n", passed, failed, ignored }' "$log"
exit $status
