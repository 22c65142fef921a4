#!/usr/bin/env bash
# Build every job in jobs/ to jobs/dist/<name>.wasm, reproducibly.
#
#   scripts/build-jobs.sh           build and (re)write jobs/dist/*.wasm
#   scripts/build-jobs.sh --check   rebuild the job crates from source and fail unless the bytes
#                                   equal the checked-in jobs/dist/*.wasm (run by scripts/test.sh)
#
# The built modules are checked in (docs/job-abi.md, "Reproducible builds"): the executor's
# tests and the chain use those exact bytes, and --check proves they come from this source.
# Reproducibility: pinned toolchain and Cargo.lock, release profile with one codegen unit and
# LTO, no incremental compilation, source paths remapped (the checkout's location and
# CARGO_HOME never reach the module), CONST_RANDOM_SEED fixed for crates that bake compile-time
# randomness into their code.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
scripts/setup.sh

CHECK=0
[ "${1:-}" = "--check" ] && CHECK=1

JOBS=(mlp cnn charlm)
export CARGO_TARGET_DIR="${AGORA_JOBS_TARGET_DIR:-$HOME/.cache/agora/jobs-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
export CONST_RANDOM_SEED="agora-jobs-v1"
CARGO_HOME_DIR="${CARGO_HOME:-$HOME/.cargo}"
unset RUSTFLAGS CARGO_ENCODED_RUSTFLAGS

# Build from a fixed staging copy of jobs/, not from this checkout: the remapped source path is
# part of RUSTFLAGS, and RUSTFLAGS (like the linker path) are part of every compiled unit's
# fingerprint, so building in place would recompile all of burn (~10 min) whenever the
# checkout moves (every CI clone).
# A lock keeps two builds from sharing the staging copy.
STAGE="${AGORA_JOBS_STAGE_DIR:-$HOME/.cache/agora/jobs-src}"
mkdir -p "$(dirname "$STAGE")" jobs/dist
exec 9>"$STAGE.lock"
flock 9
rm -rf "$STAGE"
mkdir -p "$STAGE"
cp -r jobs/Cargo.toml jobs/Cargo.lock jobs/sdk jobs/mlp jobs/cnn jobs/charlm jobs/native "$STAGE/"
# The linker path is part of the fingerprint too, so the wrapper is staged with the sources.
cp scripts/wasm-link.sh "$STAGE/wasm-link.sh"
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER="$STAGE/wasm-link.sh"
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="-C target-feature=+simd128 --remap-path-prefix=$STAGE=/agora/jobs --remap-path-prefix=$CARGO_HOME_DIR=/cargo --remap-path-prefix=$CARGO_TARGET_DIR=/target"
status=0
for job in "${JOBS[@]}"; do
    package="agora-job-$job"
    artifact="$CARGO_TARGET_DIR/wasm32-unknown-unknown/release/agora_job_${job//-/_}.wasm"
    if [ "$CHECK" = 1 ]; then
        # Force the job's own crates to compile again (dependencies stay cached), and make sure
        # they did: comparing a stale artifact with itself would prove nothing.
        (cd "$STAGE" && cargo clean --release --target wasm32-unknown-unknown -p "$package" -p agora-job-sdk)
        if [ -e "$artifact" ]; then
            echo "build-jobs: $artifact survived cargo clean" >&2
            exit 1
        fi
    fi
    (cd "$STAGE" && cargo build --locked --release --target wasm32-unknown-unknown -p "$package")
    hash=$(sha256sum "$artifact" | cut -d' ' -f1)
    if [ "$CHECK" = 1 ]; then
        if cmp -s "$artifact" "jobs/dist/$job.wasm"; then
            echo "build-jobs: $job.wasm reproduces the checked-in module ($(wc -c < "$artifact") bytes)"
        else
            echo "build-jobs: $job.wasm built from source differs from jobs/dist/$job.wasm" >&2
            status=1
        fi
    else
        cp "$artifact" "jobs/dist/$job.wasm"
        echo "build-jobs: jobs/dist/$job.wasm ($(wc -c < "$artifact") bytes, sha256 $hash)"
    fi
done
exit $status
