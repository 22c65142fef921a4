#!/usr/bin/env bash
# Simulations, release builds.
#   scripts/sim.sh --seeds N [--first-seed S] [--scenario NAME]
#       the seeded whole-node simulation (spec in node/src/consensus/simulation/ and
#       docs/simulation.md): four validators on the real chain, runtime and RocksDB under
#       commonware's deterministic runtime, N seeds of every scenario (crash_restart,
#       partition_heal, lossy_links, equivocating_validator, withholding_validator,
#       invalid_blocks, joining_validator,
#       crashes_partitions_and_invalid_blocks_on_lossy_links), or of NAME only. A failure
#       names its scenario and seed; rerun it with --first-seed SEED --seeds 1 --scenario NAME
#       (add AGORA_SIM_LOG=debug for the logs).
#       CI runs a short horizon of the same tests (`cargo test -p agora-node`).
#   scripts/sim.sh economics --seeds N [--blocks B] [--first-seed S] [--verifiers V] [--output json]
#       the agent-based economics simulation on the real runtime (crate `sim/`, spec in its
#       crate doc and docs/economics.md): per strategy, mean and 95th-percentile profit per job
#       and the detection rate, over N seeds; JSON is one object with a `strategies` array and
#       a `verification_cost_share` number. CI runs a short horizon (`sim/tests/it`).
# Build output goes to stderr, so stdout is only the report.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >&2
source scripts/env.sh

whole_node() {
    local seeds="" first=0 scenario=""
    while [ $# -gt 0 ]; do
        case "$1" in
        --seeds) seeds="${2:-}"; shift $(( $# > 1 ? 2 : 1 )) ;;
        --first-seed) first="${2:-}"; shift $(( $# > 1 ? 2 : 1 )) ;;
        --scenario) scenario="${2:-}"; shift $(( $# > 1 ? 2 : 1 )) ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
        esac
    done
    if ! [[ "$seeds" =~ ^[0-9]+$ && "$first" =~ ^[0-9]+$ ]]; then
        echo "usage: scripts/sim.sh --seeds N [--first-seed S] [--scenario NAME]" >&2
        exit 2
    fi
    export AGORA_SIM_SEEDS="$seeds" AGORA_SIM_FIRST_SEED="$first"
    if [ -n "$scenario" ]; then export AGORA_SIM_SCENARIO="$scenario"; fi
    exec cargo test --release --locked -p agora-node --lib consensus::simulation:: -- --nocapture
}

case "${1:-}" in
--seeds)
    whole_node "$@"
    ;;
economics)
    cargo build --release --locked -p agora-sim --bin agora-sim >&2
    exec "$CARGO_TARGET_DIR/release/agora-sim" "$@"
    ;;
*)
    echo "usage: scripts/sim.sh --seeds N [--first-seed S] [--scenario NAME]" >&2
    echo "       scripts/sim.sh economics --seeds N [--blocks B] [--first-seed S] [--verifiers V] [--output json]" >&2
    exit 2
    ;;
esac
