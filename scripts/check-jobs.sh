#!/usr/bin/env bash
# The job side of the test suite (called by scripts/test.sh, after the workspace tests):
#   1. the SDK's and the example job's unit tests, natively;
#   2. reproducible build: the job crates recompiled from this source give exactly the bytes
#      checked in at jobs/dist/ (scripts/build-jobs.sh --check);
#   3. the exported model loads in a native burn program with the same accuracy:
#      `agora job run-local` trains the MLP on digits, `agora-job-native eval` loads model.bpk
#      with burn's Module::load_record and evaluates the same holdout rows.
# Prints one "check: … ok|FAILED" line per check and exits non-zero if any failed.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
jobs_target="${AGORA_JOBS_TARGET_DIR:-$HOME/.cache/agora/jobs-target}"
failed=0

(cd jobs && cargo fmt --all -- --check)
(cd jobs && CARGO_TARGET_DIR="$jobs_target" cargo test --locked --workspace --exclude agora-job-native)

if scripts/build-jobs.sh --check; then
    echo "check: reproducible build of jobs/dist/*.wasm ... ok"
else
    echo "check: reproducible build of jobs/dist/*.wasm ... FAILED"
    failed=1
fi

(cd jobs && CARGO_TARGET_DIR="$jobs_target" cargo build --locked --profile tools -p agora-job-native)
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
seed=5
"$CARGO_TARGET_DIR/debug/agora" --output json job run-local --module jobs/dist/mlp.wasm \
    --data datasets/digits.csv --seed "$seed" --out "$out" > "$out/report.json"
native=$("$jobs_target/tools/agora-job-native" eval --model "$out/model.bpk" --data datasets/digits.csv --seed "$seed")
wasm_accuracy=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["metrics"]["holdout_accuracy"])' "$out/report.json")
native_accuracy=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["holdout_accuracy"])' "$native")
if [ "$wasm_accuracy" = "$native_accuracy" ] && python3 -c "import sys; sys.exit(0 if float('$native_accuracy') >= 0.95 else 1)"; then
    echo "check: exported model loads natively with burn, holdout accuracy $native_accuracy (Wasm $wasm_accuracy) ... ok"
else
    echo "check: exported model loads natively with burn: accuracy $native_accuracy natively vs $wasm_accuracy in Wasm ... FAILED"
    failed=1
fi
exit $failed
