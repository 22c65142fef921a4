# Sourced by the other scripts: the shared target directory outside the clone, so that CI,
# dev.sh and test.sh reuse one build (a clean build takes ~30 CPU-minutes on 2 cores).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/agora/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
mkdir -p "$CARGO_TARGET_DIR"
