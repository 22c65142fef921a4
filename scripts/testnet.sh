#!/usr/bin/env bash
# Starts a local testnet of N validators (default 4, at most 6) on loopback, each a real
# agora-node process with its own RocksDB, talking simplex over authenticated TCP.
#   scripts/testnet.sh [N]
# Validator i (//Alice, //Bob, …) serves RPC on 127.0.0.1:$((9944 + i)) and p2p on
# 127.0.0.1:$((30333 + i)). Data goes to a temporary directory removed on exit. Ctrl-C stops all.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
source scripts/env.sh

count="${1:-4}"
names=(Alice Bob Charlie Dave Eve Ferdie)
[ "$count" -ge 1 ] && [ "$count" -le 6 ] || { echo "testnet: N must be 1..6, got '$count'" >&2; exit 2; }

cargo test --workspace --no-run >/dev/null 2>&1 || cargo test --workspace --no-run
node="$CARGO_TARGET_DIR/debug/agora-node"
dir="$(mktemp -d -t agora-testnet-XXXXXX)"
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT INT TERM

"$node" build-spec --dev --validators "$count" > "$dir/spec.json"
peers=()
for i in $(seq 0 $((count - 1))); do
    key=$("$node" key inspect "//${names[$i]}" | awk '{print $3}')
    peers+=(--peer "$key@127.0.0.1:$((30333 + i))")
done
for i in $(seq 0 $((count - 1))); do
    "$node" --chain "$dir/spec.json" --validator-key "//${names[$i]}" "${peers[@]}" \
        --base-path "$dir/${names[$i]}" --port $((30333 + i)) --rpc-port $((9944 + i)) \
        --prometheus-port $((9615 + i)) --log warn &
    pids+=($!)
    echo "validator //${names[$i]}: RPC ws://127.0.0.1:$((9944 + i))"
done
echo "Testnet of $count validators running (data in $dir). Try: agora --rpc ws://127.0.0.1:9944 balance //Bob"
wait
