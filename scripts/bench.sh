#!/usr/bin/env bash
# Benchmarks, release builds. Usage: scripts/bench.sh [ledger|engine|market|dispute|sync|rpc-load|network|dashboard]
#   ledger: block import tx/s vs the raw sr25519 verification rate (same run), idle node RSS,
#           and --dev start-to-first-block time.
#   engine: Wasm job vs native step time (same burn code, same run), NaN-canonicalization
#           cost, trace hashing share, compiled-module cache load, peak memory; then step time,
#           the ratio and fuel per step of every shipped job (mlp, cnn, charlm), and each one's
#           `agora job quote` against the fuel of the run it quotes; and the default digits job
#           end to end (`agora job run-local`) against the native tool, CPU time per process.
#   market: the per-block call auction (Market::on_finalize) with 10 000 open bids and 1 000
#           offers against 20% of a 1 s block; pure clearing, reads and writes apart; state in
#           memory and in RocksDB; then, on a real chain with worker and verifier daemons,
#           blocks from bid to job start and the market path's time to the result commitment
#           against `agora job run-local` of the same job (scripts/bench-market-e2e.sh).
#   dispute: on a real chain (release node, client and daemons, 1 s blocks), an open challenge
#           of a verified job played to the referee: rounds, blocks and seconds; the referee's
#           step time; and the expected re-execution fuel of default sampling against the job's
#           fuel (scripts/bench-dispute-e2e.sh).
#   sync: an empty node joining a 100,000-block chain through state sync (node/tests/it/sync.rs
#           in a release build; AGORA_SYNC_TEST_BLOCKS sets another length): seconds from its
#           start to the chain's tip and bytes it received, against an empty node replaying the
#           same chain (--sync full) and beside the time to build the chain.
#   rpc-load: 200 hostile clients (garbage, huge bodies, slow readers, subscription storms)
#           against a release node while an honest client submits transfers and fetches a blob:
#           its p50/p99 quiet and loaded (fails over 5x) and the node's peak memory
#           (node/tests/it/rpc_load.rs; AGORA_RPC_LOAD_SECS, default 60).
#   network: networks of release agora-node processes on loopback (scripts/testnet.sh): finality
#           latency (p50, p99) and finalized transfers per second with 1 and with 4 validators;
#           then finalized blocks per second of 4 validators at 1000/500/250/100/50 ms block times
#           (cli/benches/network.rs).
#   dashboard: start-to-first-block and idle RSS of --dev nodes with the dashboard (the default)
#           and with --no-dashboard, alternating, three each.
# Figures go to stdout as JSON lines; docs/benchmarks.md records them with this command.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
source scripts/env.sh

what="${1:-ledger}"

# Start-to-first-block and idle memory (VmRSS 10 s after block 1) of a real release
# `agora-node --dev --tmp`, extra node arguments after LABEL; one JSON line.
dev_node() {
    local label="$1"; shift
    local node="$CARGO_TARGET_DIR/release/agora-node"
    local port p2p start first pid number rss_kb
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    p2p=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    start=$(date +%s%N)
    "$node" --dev --tmp --rpc-port "$port" --port "$p2p" --no-prometheus --log warn "$@" &
    pid=$!
    trap "kill $pid 2>/dev/null || true" EXIT
    first=""
    for _ in $(seq 1 300); do
        number=$(curl -s -H 'content-type: application/json' \
            -d '{"id":1,"jsonrpc":"2.0","method":"chain_getHeader"}' "http://127.0.0.1:$port" \
            | python3 -c 'import json,sys; print(json.load(sys.stdin)["result"]["number"])' 2>/dev/null || true)
        if [ -n "$number" ] && [ "$number" -ge 1 ]; then first=$(date +%s%N); break; fi
        sleep 0.02
    done
    [ -n "$first" ] || { echo "bench: no first block within 6 s" >&2; exit 1; }
    sleep 10
    rss_kb=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
    kill "$pid"; wait "$pid" 2>/dev/null || true
    trap - EXIT
    echo "{\"benchmark\":\"$label\",\"start_to_first_block_ms\":$(( (first - start) / 1000000 )),\"idle_rss_mb\":$(( rss_kb / 1024 ))}"
}
case "$what" in
ledger)
    cargo build --release -p agora-node --bins --benches
    cargo bench -p agora-node --bench ledger

    dev_node ledger/dev-node
    ;;
dashboard)
    # The dashboard's cost to an idle node: dev nodes with it (the default) and without it
    # (--no-dashboard), alternating, three of each, in the same run.
    cargo build --release -p agora-node --bins --benches
    for _ in 1 2 3; do
        dev_node dashboard/off --no-dashboard
        dev_node dashboard/on
    done
    ;;
engine)
    # Native baseline: the same SDK training code, built for the host (jobs/native).
    jobs_target="${AGORA_JOBS_TARGET_DIR:-$HOME/.cache/agora/jobs-target}"
    # Built twice: for generic x86-64 (what `cargo build --release` ships) and for this CPU
    # (`-C target-cpu=native`: AVX2/FMA kernels, which Wasm cannot use — its SIMD has no FMA and
    # relaxed SIMD is off for determinism). The benchmark reports the ratio against both.
    (cd jobs && CARGO_TARGET_DIR="$jobs_target" cargo build --locked --release -p agora-job-native)
    (cd jobs && CARGO_TARGET_DIR="$jobs_target-hostcpu" RUSTFLAGS="-C target-cpu=native" \
        cargo build --locked --release -p agora-job-native)
    AGORA_JOB_NATIVE="$jobs_target/release/agora-job-native" \
    AGORA_JOB_NATIVE_HOSTCPU="$jobs_target-hostcpu/release/agora-job-native" \
        cargo bench -p agora-engine --bench engine
    # The quote against the run it quotes, for every shipped job at its defaults, with the
    # segment length the chain's per-segment fuel bound allows (target: within 10%).
    # The client alone: no RocksDB to compile for this part.
    cargo build --release -p agora-cli
    agora="$CARGO_TARGET_DIR/release/agora"
    scratch="$(mktemp -d)"
    for entry in mlp:datasets/digits.csv:100 cnn:datasets/digits.csv:40 charlm:datasets/jargon.txt:3; do
        IFS=: read -r job data segment <<< "$entry"
        "$agora" --output json job quote --module "jobs/dist/$job.wasm" --data "$data" \
            --segment "$segment" > "$scratch/quote.json" 2>/dev/null
        "$agora" --output json job run-local --module "jobs/dist/$job.wasm" --data "$data" \
            --segment "$segment" --no-progress --out "$scratch/run" > "$scratch/run.json"
        python3 - "$job" "$scratch/quote.json" "$scratch/run.json" <<'PY'
import json, sys
job, quote, run = sys.argv[1], json.load(open(sys.argv[2])), json.load(open(sys.argv[3]))
estimate = float(quote["fuel"]["estimate"])
actual = float(run["fuel"]["training"])  # the bill: what --max-fuel caps
print(json.dumps({"benchmark": "engine/quote", "job": job, "quote_mfuel": estimate,
                  "run_mfuel": round(actual, 1), "error": round(estimate / actual - 1, 4),
                  "target_abs_error": 0.10}))
PY
    done
    # The default digits job end to end as a buyer runs it (`agora job run-local`: init, every
    # segment, eval and export, each a fresh instance, plus hashing and writing the outputs)
    # against the native tool training the same SDK code (`agora-job-native train`: init, one
    # segment of every step, eval), process to process: CPU time (user + system), after a
    # warm-up of each, in alternating rounds; the median of the per-round ratios with its
    # interquartile range (target: ≤ 1.5).
    python3 - "$agora" "$jobs_target/release/agora-job-native" "$scratch" <<'PY'
import json, resource, statistics, subprocess, sys
agora, native, scratch = sys.argv[1:4]
def cpu_seconds(argv):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
def wasm(round_):
    # `--segment 100`: the length the recorded figures were measured at (the default before
    # `job run-local` chose its own, 46 steps here, which adds calls; docs/benchmarks.md).
    return cpu_seconds([agora, "job", "run-local", "--module", "jobs/dist/mlp.wasm",
                        "--data", "datasets/digits.csv", "--segment", "100", "--no-progress",
                        "--out", f"{scratch}/e2e-{round_}"])
def native_run():
    return cpu_seconds([native, "train", "--data", "datasets/digits.csv"])
wasm("warm-up"), native_run()
rounds = [(wasm(i), native_run()) for i in range(9)]
ratios = [w / n for w, n in rounds]
q1, _, q3 = statistics.quantiles(ratios, n=4, method="inclusive")
print(json.dumps({"benchmark": "engine/digits-end-to-end", "rounds": len(rounds),
                  "wasm_cpu_s": round(statistics.median(w for w, _ in rounds), 3),
                  "native_cpu_s": round(statistics.median(n for _, n in rounds), 3),
                  "ratio_median": round(statistics.median(ratios), 2),
                  "ratio_iqr": round(q3 - q1, 2),
                  "ratios": [round(r, 2) for r in ratios], "target": 1.5}))
PY
    rm -rf "$scratch"
    ;;
market)
    cargo bench -p agora-runtime --bench market
    # The market path end to end on a real chain (release node, client and daemons).
    cargo build --release -p agora-node -p agora-cli
    scripts/bench-market-e2e.sh
    ;;
dispute)
    cargo build --release -p agora-node -p agora-cli
    scripts/bench-dispute-e2e.sh
    ;;
sync)
    log=$(mktemp)
    AGORA_SYNC_TEST_BLOCKS="${AGORA_SYNC_TEST_BLOCKS:-100000}" AGORA_SYNC_TEST_REPLAY=1 \
        cargo test --release -p agora-node --test it sync:: -- --nocapture --test-threads 1 \
        > "$log" 2>&1 || { tail -50 "$log" >&2; exit 1; }
    grep -o '{"benchmark".*' "$log"
    rm -f "$log"
    ;;
rpc-load)
    # 200 hostile clients against a release node while an honest client submits transfers and
    # fetches a 1 MiB blob (node/tests/it/rpc_load.rs, longer than CI's 8 s): the honest p50/p99
    # quiet and loaded, the node's peak memory; fails if the loaded p99 is over 5x the quiet.
    log=$(mktemp)
    AGORA_RPC_LOAD_SECS="${AGORA_RPC_LOAD_SECS:-60}" \
        cargo test --release -p agora-node --test it rpc_load:: -- --nocapture --test-threads 1 \
        > "$log" 2>&1 || { tail -50 "$log" >&2; exit 1; }
    line=$(grep -o '{"benchmark".*' "$log")
    rm -f "$log"
    echo "$line"
    python3 -c 'import json,sys; r=json.loads(sys.argv[1])["p99_ratio"]; sys.exit(0 if r <= 5 else "rpc-load: the honest p99 under load is %.1fx its quiet p99, over 5x" % r)' "$line"
    ;;
network)
    cargo build --release -p agora-node -p agora-cli
    AGORA_NODE_BIN="$CARGO_TARGET_DIR/release/agora-node" cargo bench -p agora-cli --bench network
    ;;
*)
    echo "unknown benchmark '$what' (known: ledger, engine, market, dispute, sync, rpc-load, network, dashboard)" >&2
    exit 2
    ;;
esac
