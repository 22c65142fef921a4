#!/usr/bin/env bash
# Fuzzing of every decoder that reads bytes from strangers (fuzz/, docs/reliability.md).
# Usage: scripts/fuzz.sh [--minutes N] [--target NAME]… [--seed S] [--list]
#   Runs each target for an equal share of N minutes (default 1) from its seeds and its
#   corpus (fuzz/corpus/<target>/), mutating them. The build is a debug one on purpose:
#   overflow checks and debug assertions turn silent arithmetic bugs into crashes the fuzzer
#   reports (it still runs tens of millions of cases a minute). Every crashing input is
#   written to fuzz/corpus/<target>/crash-<hash>.bin, replayed first by every later run and by
#   CI (`cargo test -p agora-fuzz`); the exit status is 1 if there was any.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
cargo build --locked --quiet -p agora-fuzz
exec "$CARGO_TARGET_DIR/debug/agora-fuzz" "$@"
