#!/usr/bin/env bash
# Same bits on aarch64 (called by scripts/test.sh after the workspace tests; issue 17). Agora's
# claim is that a job gives the same bytes on any machine; this runs the x86-64 build and an
# aarch64 build under qemu-user side by side and fails on any difference:
#   1. `agora` and the engine's integration tests are cross-built for aarch64-unknown-linux-gnu
#      (Debian's gcc-aarch64-linux-gnu links them; scripts/setup.sh installs it) into the shared
#      target directory's aarch64 subdirectory. The client needs no RocksDB, so nothing here
#      touches the node's C++ build.
#   2. The engine's integration tests run under qemu-aarch64: among them the pinned golden
#      values of the small MLP run (trace root, fuel, outputs: written on x86-64), and the NaN
#      tests that show ARM's 0/0 bits are the canonical NaN.
#   3. Every job in jobs/dist runs with a small configuration (`agora job run-local`) natively
#      and under qemu: the report (trace root, fuel by phase, metrics, output hash), the trace
#      (every leaf's state hash and fuel) and the exported model's bytes must be identical.
#   4. The comparison is seen to fail on every run: engine/tests/modules/nan-bits.wasm, whose
#      segment stores the bits of a run-time 0/0 in its state, must give *different* trace
#      roots on the two architectures (x86's default NaN is negative, ARM's positive).
#   5. The referee's stack test holds between the two: it calls a piece machine-dependent when
#      it overflows half the native stack, which is sound while no machine's frames are twice
#      another's. engine/tests/modules/deep-stack.wasm recurses as deep as its seed; the
#      deepest seed each build runs (a binary search over `job run-local`) must be within 2x.
# Prints one "check: … ok|FAILED" line per check and exits non-zero if any failed.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

triple=aarch64-unknown-linux-gnu
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
export QEMU_LD_PREFIX=/usr/aarch64-linux-gnu
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER=qemu-aarch64
source scripts/check-lib.sh

cargo build --locked -p agora-cli --bin agora --target "$triple"
native="$CARGO_TARGET_DIR/debug/agora"
arm="$CARGO_TARGET_DIR/$triple/debug/agora"
# qemu-aarch64 runs it (no binfmt registration is assumed).
arm_agora() { qemu-aarch64 "$arm" "$@"; }
[ -x "$native" ] || cargo build --locked -p agora-cli --features agora-cli/faults --bin agora

# The determinism tests, not the whole suite (53 tests take 11 minutes emulated): the pinned
# golden values of the small MLP run, the counter job's runs and re-executions, the NaN tests.
check "the engine's determinism tests pass on aarch64 (qemu), x86-64's golden values included" \
    cargo test --locked -p agora-engine --target "$triple" --test it -- \
    job_engine::the_small_runs_trace_fuel_and_outputs_are_pinned counter_run:: nan::

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
# A second dataset for the MLP: a smooth surface to regress (as scripts/check-jobs.sh does).
surface_csv 12 > "$out/surface.csv"

# run NAME COMMAND ARGS…: `agora job run-local` into $out/NAME (report in $out/NAME.json).
run() {
    local name="$1" agora="$2"
    shift 2
    "$agora" --output json job run-local --no-progress --out "$out/$name" "$@" > "$out/$name.json"
}
# same_run NAME: the x86-64 and aarch64 runs of NAME agree on every result, bit for bit.
same_run() {
    python3 - "$out/$1-x86_64.json" "$out/$1-aarch64.json" <<'EOF' || return 1
import json, sys
x86, arm = (json.load(open(path)) for path in sys.argv[1:])
# Everything but where and how fast: the compiled-module source, seconds and out differ.
keys = ["module_hash", "dataset_hash", "params", "seed", "steps", "segment_steps", "segments",
        "trace_root", "fuel", "metrics", "output_hash", "output_bytes"]
differ = [key for key in keys if x86.get(key) != arm.get(key)]
for key in differ:
    print(f"  {key}: x86-64 {json.dumps(x86.get(key))} aarch64 {json.dumps(arm.get(key))}")
sys.exit(1 if differ else 0)
EOF
    python3 - "$out/$1-x86_64/trace.json" "$out/$1-aarch64/trace.json" <<'EOF' || return 1
import json, sys
x86, arm = (json.load(open(path)) for path in sys.argv[1:])
for report in (x86, arm):
    for key in ("compiled", "seconds", "out"):
        report.pop(key, None)
if x86 != arm:
    print("  trace.json differs (its leaves: each segment's state hash and fuel)")
    sys.exit(1)
EOF
    local file
    for file in final.state metrics.json model.bpk; do
        if ! cmp -s "$out/$1-x86_64/$file" "$out/$1-aarch64/$file"; then
            echo "  $file differs"
            return 1
        fi
    done
}

# Entries: name|module|dataset|extra arguments. Small configurations: under qemu the JIT's
# aarch64 code is emulated, ~10x slower than native.
jobs=(
    "mlp|jobs/dist/mlp.wasm|datasets/digits.csv|--params {\"epochs\":2} --segment 10"
    "mlp-regression|jobs/dist/mlp.wasm|$out/surface.csv|--params {\"task\":\"regression\",\"hidden\":[16],\"epochs\":3,\"batch_size\":16} --segment 5"
    "cnn|jobs/dist/cnn.wasm|datasets/digits.csv|--steps 12 --segment 4"
    "charlm|jobs/dist/charlm.wasm|datasets/jargon.txt|--steps 6 --segment 3"
)
for module in jobs/dist/*.wasm; do
    printf '%s\n' "${jobs[@]}" | grep -q "|$module|" \
        || { echo "check: $module has a configuration in scripts/check-aarch64.sh ... FAILED"; failed=1; }
done
for entry in "${jobs[@]}"; do
    IFS='|' read -r name module data extra <<< "$entry"
    # shellcheck disable=SC2086 # the extra arguments are split on purpose
    run "$name-x86_64" "$native" --module "$module" --data "$data" $extra
    # shellcheck disable=SC2086
    run "$name-aarch64" arm_agora --module "$module" --data "$data" $extra
    root=$(json_at "$out/$name-x86_64.json" trace_root)
    check "$name ($module) gives the same trace root ($root), fuel, metrics, trace and model bytes on x86-64 and aarch64" \
        same_run "$name"
done

# The comparison catches what it must: a module storing NaN bits differs between the two.
run nan-x86_64 "$native" --module engine/tests/modules/nan-bits.wasm --data datasets/digits.csv --segment 2
run nan-aarch64 arm_agora --module engine/tests/modules/nan-bits.wasm --data datasets/digits.csv --segment 2
if same_run nan > "$out/nan.diff"; then
    echo "check: the comparison fails on a module that stores 0/0's bits ... FAILED (same results on both)"
    failed=1
else
    echo "check: the comparison fails on a module that stores 0/0's bits ... ok"
    sed 's/^/  /' "$out/nan.diff"
fi
# The stack margin: the deepest recursion each architecture's native stack runs.
deepest() {
    local fits=1 over=$((1 << 22)) depth
    while [ $((over - fits)) -gt 1 ]; do
        depth=$((fits + (over - fits) / 2))
        if "$@" job run-local --no-progress --module engine/tests/modules/deep-stack.wasm \
            --data datasets/digits.csv --segment 10 --seed "$depth" --out "$out/deep" \
            > /dev/null 2>&1; then
            fits=$depth
        else
            over=$depth
        fi
    done
    echo "$fits"
}
x86_depth=$(deepest "$native")
arm_depth=$(deepest arm_agora)
check "deep-stack.wasm's deepest recursion on aarch64 ($arm_depth) is within 2x of x86-64's ($x86_depth): the referee's half-stack probe covers both" \
    python3 -c 'import sys; a, b = int(sys.argv[1]), int(sys.argv[2]); sys.exit(0 if 1 < a < 2 * b and 1 < b < 2 * a else 1)' \
    "$x86_depth" "$arm_depth"
exit $failed
