#!/usr/bin/env bash
# Simulations, release builds.
#   scripts/sim.sh economics --seeds N [--blocks B] [--first-seed S] [--output json]
#       the agent-based economics simulation on the real runtime (crate `sim/`, spec in its
#       crate doc and docs/economics.md): per strategy, mean and 95th-percentile profit per job
#       and the detection rate, over N seeds; JSON is one object with a `strategies` array and
#       a `verification_cost_share` number. CI runs a short horizon (`sim/tests/it`).
# Build output goes to stderr, so stdout is only the report.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >&2
source scripts/env.sh

case "${1:-}" in
economics)
    cargo build --release --locked -p agora-sim --bin agora-sim >&2
    exec "$CARGO_TARGET_DIR/release/agora-sim" "$@"
    ;;
*)
    echo "usage: scripts/sim.sh economics --seeds N [--blocks B] [--first-seed S] [--output json]" >&2
    exit 2
    ;;
esac
