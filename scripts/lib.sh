# Sourced by the scripts that start real processes (dev.sh, demo.sh, the end-to-end benches and
# the check scripts): a free loopback port, a dev chain, the child processes to stop on exit, and
# the readiness waits they all need.

# A TCP port on 127.0.0.1 that nothing listens on right now.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# The RPC port of the node logging to LOG (its "JSON-RPC listening on IP:PORT" line), waiting
# up to 120 s for it: for a node started with `--rpc-port 0`, which picks its own port, so no
# other process can take it between a choice and the bind.
rpc_port_from_log() {
    local log="$1"
    for _ in $(seq 1 600); do
        local port
        port=$(sed -n 's/.*JSON-RPC listening on [0-9.]*:\([0-9]*\).*/\1/p' "$log" 2>/dev/null | head -1)
        [ -n "$port" ] && { echo "$port"; return 0; }
        sleep 0.2
    done
    echo "no JSON-RPC port in $log within 120 s" >&2
    return 1
}

# Background processes started by the script; `stop_children` kills and reaps them.
children=()
stop_children() {
    for pid in "${children[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}

# Waits up to 60 s for the node whose RPC listens on PORT to answer with a finalized head.
wait_for_rpc() {
    local port="$1"
    for _ in $(seq 1 300); do
        curl -sf -H 'content-type: application/json' \
            -d '{"id":1,"jsonrpc":"2.0","method":"chain_getFinalizedHead"}' \
            "http://127.0.0.1:$port" >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    echo "no node answered on RPC port $port within 60 s" >&2
    return 1
}

# Starts a fresh dev chain (`agora-node --dev`; extra node arguments after BIN) with its
# database under $dir/node and its log in $dir/node.log, on ports the node picks itself (0),
# so no other process can take them between a choice and the bind. Its log must keep the
# node's info lines (the RPC port is read from one). Waits for its RPC and sets `port`, and
# `rpc` and `http`, the URLs of its RPC.
start_dev_node() {
    local bin="$1"
    shift
    "$bin/agora-node" --dev --base-path "$dir/node" --rpc-port 0 --port 0 --prometheus-port 0 \
        "$@" 2> "$dir/node.log" &
    children+=($!)
    port=$(rpc_port_from_log "$dir/node.log")
    wait_for_rpc "$port"
    rpc="ws://127.0.0.1:$port"
    http="http://127.0.0.1:$port"
}

# Starts the worker daemon for //Bob (extra worker arguments after DIR) and the verifier daemon
# for //Charlie against RPC, with state and logs under DIR.
start_daemons() {
    local bin="$1" rpc="$2" dir="$3"
    shift 3
    "$bin/agora" --rpc "$rpc" worker run --key //Bob --state-dir "$dir/worker" "$@" \
        2> "$dir/worker.log" &
    children+=($!)
    "$bin/agora" --rpc "$rpc" verifier run --key //Charlie --state-dir "$dir/verifier" \
        2> "$dir/verifier.log" &
    children+=($!)
}

# Waits up to 150 s for the market to list an open offer (the worker daemon's).
wait_for_offer() {
    local bin="$1" rpc="$2"
    for _ in $(seq 1 300); do
        [ "$("$bin/agora" --rpc "$rpc" --output json offer list 2>/dev/null || echo '[]')" != "[]" ] \
            && return 0
        sleep 0.5
    done
    echo "no offer on the market within 150 s" >&2
    return 1
}

# Makes a scratch directory in $dir, removed (after the children are stopped) when the script exits.
scratch_dir() {
    dir="$(mktemp -d)"
    trap 'stop_children; rm -rf "$dir"' EXIT
}
