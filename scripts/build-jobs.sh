#!/usr/bin/env bash
# Build every job in jobs/ to jobs/dist/<name>.wasm, reproducibly.
#
#   scripts/build-jobs.sh           build and (re)write jobs/dist/*.wasm
#   scripts/build-jobs.sh --check   rebuild the job crates from source and fail unless the bytes
#                                   equal the checked-in jobs/dist/*.wasm (run by scripts/test.sh)
#
# The built modules are checked in (docs/job-abi.md, "Reproducible builds"): the executor's
# tests and the chain use those exact bytes, and --check proves they come from this source.
# The build itself is `agora job build` (cli/src/commands/build.rs), the command a user builds
# a job of their own with: one set of pinned settings — staged sources at a fixed path, Cargo.lock,
# one codegen unit and LTO, remapped source paths, CONST_RANDOM_SEED, the linker wrapper
# scripts/wasm-link.sh — for Agora's jobs and everyone else's.
#
# It uses the `agora` of the shared target directory ($AGORA_BIN to choose another), building
# the workspace first if there is none.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
source scripts/env.sh

JOBS=(mlp cnn charlm)
AGORA="${AGORA_BIN:-$CARGO_TARGET_DIR/debug/agora}"
if [ ! -x "$AGORA" ]; then
    # The feature set scripts/test.sh builds with, so this build is reused there (and back).
    cargo build --workspace --features agora-cli/faults
fi
packages=()
for job in "${JOBS[@]}"; do
    packages+=(--package "agora-job-$job")
done
"$AGORA" job build jobs "${packages[@]}" "$@"
