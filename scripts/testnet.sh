#!/usr/bin/env bash
# A local network on loopback: N validators (//Alice, //Bob, … in that order, at most 6) and one
# full node, each a real agora-node process with its own RocksDB, in the background.
#
#   scripts/testnet.sh N [--dir DIR] [--block-time-ms MS] [--epoch-length BLOCKS]   start; prints DIR
#   scripts/testnet.sh stop --dir DIR                        stop every node of DIR/network.json
#
# DIR (default: a new temporary directory) holds spec.json, one base path and one log per node
# (DIR/<name>/, DIR/<name>.log) and network.json, which tests and users drive the network by:
#
#   { "chain_spec": "DIR/spec.json",
#     "nodes": [ { "name": "Alice", "role": "validator", "pid": 1234,
#                  "rpc": "http://127.0.0.1:PORT", "ws": "ws://127.0.0.1:PORT",
#                  "p2p": "127.0.0.1:PORT", "key": "0x<ed25519 p2p key>",
#                  "base_path": "DIR/Alice", "log": "DIR/Alice.log",
#                  "command": ["/path/to/agora-node", "--chain", …] }, … ] }
#
# `command` is the argv that restarts the node on its data (same ports, keys and peers). The
# full node is named "Full", has role "full" and comes last. The script returns once every
# node's RPC answers and block 1 is finalized. AGORA_NODE_BIN=PATH uses that agora-node binary
# instead of building one; AGORA_TESTNET_FULL_NODES=0 leaves the full node out (benchmarks);
# AGORA_TESTNET_SPEC_ARGS="..." passes more arguments to `agora-node build-spec` (e.g.
# "--reveal-blocks 75"); AGORA_TESTNET_PORTS="P1 R1 P2 R2 ..." gives each node, in order, its
# p2p and RPC port (tests reserve them; by default the script picks free ones). The nodes share
# one compiled-module cache, DIR/module-cache (one user on one machine: a module is compiled
# once for all of them, plain and NaN-probed, not twice per node); AGORA_TESTNET_MODULE_CACHE=DIR2
# puts it elsewhere.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
    echo "usage: scripts/testnet.sh N [--dir DIR] [--block-time-ms MS] [--epoch-length BLOCKS] | scripts/testnet.sh stop --dir DIR" >&2
    exit 2
}

stop_network() {
    local file="$1/network.json"
    [ -f "$file" ] || { echo "testnet: no $file" >&2; exit 1; }
    local pids
    pids=$(jq -r '.nodes[].pid' "$file")
    for pid in $pids; do kill -TERM "$pid" 2>/dev/null || true; done
    for _ in $(seq 1 100); do
        local alive=0
        for pid in $pids; do kill -0 "$pid" 2>/dev/null && alive=1; done
        [ "$alive" = 0 ] && { echo "testnet: stopped $(echo "$pids" | wc -w) nodes of $1"; return 0; }
        sleep 0.1
    done
    for pid in $pids; do kill -KILL "$pid" 2>/dev/null || true; done
    echo "testnet: killed the nodes of $1 that did not stop within 10 s"
}

[ $# -ge 1 ] || usage
command="$1"
shift
dir=""
block_time_ms=1000
epoch_length=()
while [ $# -gt 0 ]; do
    case "$1" in
        --dir) [ $# -ge 2 ] || usage; dir="$2"; shift 2 ;;
        --block-time-ms) [ $# -ge 2 ] || usage; block_time_ms="$2"; shift 2 ;;
        --epoch-length) [ $# -ge 2 ] || usage; epoch_length=(--epoch-length "$2"); shift 2 ;;
        *) usage ;;
    esac
done

if [ "$command" = stop ]; then
    [ -n "$dir" ] || usage
    stop_network "$dir"
    exit 0
fi

count="$command"
names=(Alice Bob Charlie Dave Eve Ferdie)
[[ "$count" =~ ^[1-6]$ ]] || { echo "testnet: N must be 1..6, got '$count'" >&2; exit 2; }

source scripts/lib.sh
node="${AGORA_NODE_BIN:-}"
if [ -z "$node" ]; then
    scripts/setup.sh >/dev/null
    source scripts/env.sh
    # The very build scripts/test.sh makes: any other package set would rebuild RocksDB's C++.
    cargo test --workspace --no-run >/dev/null 2>&1 || cargo test --workspace --no-run
    node="$CARGO_TARGET_DIR/debug/agora-node"
fi

if [ -z "$dir" ]; then dir="$(mktemp -d -t agora-testnet-XXXXXX)"; fi
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
[ -f "$dir/network.json" ] && { echo "testnet: $dir/network.json exists; stop that network or pick another --dir" >&2; exit 1; }
# shellcheck disable=SC2086 # the extra arguments are words
"$node" build-spec --dev --validators "$count" "${epoch_length[@]}" ${AGORA_TESTNET_SPEC_ARGS:-} > "$dir/spec.json"

# Everyone's p2p key and port first: every node is told every other's address.
all_names=("${names[@]:0:$count}")
[ "${AGORA_TESTNET_FULL_NODES:-1}" = 0 ] || all_names+=(Full)
keys=() p2p_ports=() rpc_ports=() peers=()
read -r -a given_ports <<< "${AGORA_TESTNET_PORTS:-}"
if [ "${#given_ports[@]}" -gt 0 ] && [ "${#given_ports[@]}" -ne $((2 * ${#all_names[@]})) ]; then
    echo "testnet: AGORA_TESTNET_PORTS needs $((2 * ${#all_names[@]})) ports, got ${#given_ports[@]}" >&2
    exit 2
fi
for i in "${!all_names[@]}"; do
    name="${all_names[$i]}"
    if [ "$name" = Full ]; then suri="//Full"; else suri="//$name"; fi
    keys+=("$("$node" key inspect "$suri" | awk '/^Public key:/ {print $3}')")
    if [ "${#given_ports[@]}" -gt 0 ]; then
        p2p_ports+=("${given_ports[$((2 * i))]}")
        rpc_ports+=("${given_ports[$((2 * i + 1))]}")
    else
        p2p_ports+=("$(free_port)")
        rpc_ports+=("$(free_port)")
    fi
    peers+=(--peer "${keys[$i]}@127.0.0.1:${p2p_ports[$i]}")
done

entries=()
for i in "${!all_names[@]}"; do
    name="${all_names[$i]}"
    if [ "$name" = Full ]; then role=full; key_args=(--node-key //Full); else role=validator; key_args=(--validator-key "//$name"); fi
    argv=("$node" --chain "$dir/spec.json" "${key_args[@]}" "${peers[@]}"
        --base-path "$dir/$name" --port "${p2p_ports[$i]}" --rpc-port "${rpc_ports[$i]}"
        --no-prometheus --block-time-ms "$block_time_ms" --log info
        --module-cache-dir "${AGORA_TESTNET_MODULE_CACHE:-$dir/module-cache}")
    # setsid: the node outlives this script and its terminal; `stop` ends it.
    setsid "${argv[@]}" > "$dir/$name.log" 2>&1 < /dev/null &
    pid=$!
    entries+=("$(jq -n --arg name "$name" --arg role "$role" --argjson pid "$pid" \
        --arg rpc "http://127.0.0.1:${rpc_ports[$i]}" --arg ws "ws://127.0.0.1:${rpc_ports[$i]}" \
        --arg p2p "127.0.0.1:${p2p_ports[$i]}" --arg key "${keys[$i]}" \
        --arg base "$dir/$name" --arg log "$dir/$name.log" \
        '{name: $name, role: $role, pid: $pid, rpc: $rpc, ws: $ws, p2p: $p2p, key: $key,
          base_path: $base, log: $log, command: $ARGS.positional}' --args -- "${argv[@]}")")
done
printf '%s\n' "${entries[@]}" | jq -s --arg spec "$dir/spec.json" '{chain_spec: $spec, nodes: .}' \
    > "$dir/network.json.tmp"
mv "$dir/network.json.tmp" "$dir/network.json"

# Ready when every RPC answers and every node has finalized block 1.
finalized_number() {
    local port="$1" hash
    hash=$(curl -sf -H 'content-type: application/json' \
        -d '{"id":1,"jsonrpc":"2.0","method":"chain_getFinalizedHead"}' \
        "http://127.0.0.1:$port" | jq -r .result) || return 1
    curl -sf -H 'content-type: application/json' \
        -d "{\"id\":1,\"jsonrpc\":\"2.0\",\"method\":\"chain_getHeader\",\"params\":[\"$hash\"]}" \
        "http://127.0.0.1:$port" | jq -r '.result.number' | xargs printf '%d\n'
}
for i in "${!all_names[@]}"; do
    ready=0
    for _ in $(seq 1 600); do
        number=$(finalized_number "${rpc_ports[$i]}" 2>/dev/null || echo 0)
        [ "${number:-0}" -ge 1 ] && { ready=1; break; }
        sleep 0.2
    done
    if [ "$ready" = 0 ]; then
        echo "testnet: ${all_names[$i]} did not finalize block 1 within 120 s; see $dir/${all_names[$i]}.log" >&2
        stop_network "$dir" >&2
        exit 1
    fi
done
echo "testnet: $count validators and $(( ${#all_names[@]} - count )) full node(s) running; network in $dir/network.json"
echo "  try: agora --rpc $(jq -r '.nodes[0].ws' "$dir/network.json") balance //Bob"
echo "  stop: scripts/testnet.sh stop --dir $dir"
echo "$dir"
