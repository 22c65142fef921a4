#!/usr/bin/env bash
# Starts a local development market: one validator node (//Alice) on BFT consensus with RocksDB
# under the base path and JSON-RPC on ws://127.0.0.1:9944 (dev accounts //Alice … //Ferdie
# funded), a worker daemon for //Bob (bonds stake, keeps an offer open, runs assigned jobs) and
# a verifier daemon for //Charlie (bonds stake, spot-checks jobs).
#
#   scripts/dev.sh                 keep state in ~/.local/share/agora-node (survives restarts)
#   AGORA_TMP=1 scripts/dev.sh     throw-away chain in a temporary directory
#   AGORA_BASE_PATH=DIR scripts/dev.sh     keep state in DIR instead
#   AGORA_RPC_PORT=N scripts/dev.sh        JSON-RPC (and the dashboard) on port N, not 9944
#   AGORA_PROFILE=release scripts/dev.sh   optimized build (slower to compile, faster jobs)
#   AGORA_NO_DAEMONS=1 scripts/dev.sh      the node alone
#   scripts/dev.sh --prometheus-port 0 …   further arguments go to agora-node
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
source scripts/env.sh
source scripts/lib.sh

profile="${AGORA_PROFILE:-debug}"
if [ "$profile" = release ]; then
    cargo build --release -p agora-node -p agora-cli
else
    # The very build scripts/test.sh makes (binaries included, `faults` feature too): any other
    # set of packages unifies dependency features differently and would compile RocksDB's C++ a
    # second time, and other features would rebuild the worker, verifier and client crates.
    cargo test --workspace --features agora-cli/faults --no-run
fi
bin="$CARGO_TARGET_DIR/$profile"

if [ -n "${AGORA_TMP:-}" ]; then
    base="$(mktemp -d)"
    trap 'rm -rf "$base"' EXIT
else
    base="${AGORA_BASE_PATH:-${XDG_DATA_HOME:-$HOME/.local/share}/agora-node}"
fi
mkdir -p "$base"
rpc_port="${AGORA_RPC_PORT:-9944}"
rpc="ws://127.0.0.1:$rpc_port"

trap 'stop_children; [ -n "${AGORA_TMP:-}" ] && rm -rf "$base"' EXIT
trap 'exit 130' INT TERM

"$bin/agora-node" --dev --base-path "$base" --rpc-port "$rpc_port" "$@" &
children+=($!)
wait_for_rpc "$rpc_port"

if [ -z "${AGORA_NO_DAEMONS:-}" ]; then
    start_daemons "$bin" "$rpc" "$base" --region local --price 0.001
fi

cat <<TRY

Agora dev market on $rpc: node (//Alice validates), worker //Bob, verifier //Charlie.
Dashboard: http://127.0.0.1:$rpc_port/   Logs: $base/worker.log, $base/verifier.log.
In another terminal, try:
  export AGORA_RPC=$rpc
  $bin/agora market
  $bin/agora job submit --key //Alice --module jobs/dist/mlp.wasm --data datasets/digits.csv \\
      --params '{"epochs":2}' --max-price 0.002 --max-fuel 1000
  $bin/agora job status 0
  $bin/agora job result 0 --out /tmp/agora-result
  $bin/agora balance //Bob
  $bin/agora transfer --from //Alice --to 5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty --amount 1.5
Metrics: http://127.0.0.1:9615/metrics (unless --prometheus-port says otherwise)
Stop: Ctrl-C (state is kept unless AGORA_TMP=1)
TRY
wait "${children[0]}"
