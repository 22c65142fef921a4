#!/usr/bin/env bash
# The whole test suite: formatting, unit tests, integration and end-to-end tests (which start
# real agora-node processes on loopback). Usage: scripts/test.sh [extra cargo test args]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
source scripts/env.sh

cargo fmt --all -- --check
# One invocation for everything: `cargo test --workspace` builds every binary that an
# integration test names (the end-to-end tests run `agora-node` and `agora`) before running
# any test, and building with other flags first would unify features differently and compile
# RocksDB's C++ a second time.
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
cargo test --workspace "$@" 2>&1 | tee "$log"
# Cargo ends with the (often empty) doc-test run of the last crate; close with the totals.
awk '/^test result:/ { passed += $4; failed += $6; ignored += $8 }
     END { printf "tests: %d passed, %d failed, %d skipped\n", passed, failed, ignored }' "$log"
