#!/usr/bin/env bash
# The market path end to end, release builds, default 1 s blocks (called by
# `scripts/bench.sh market`). On a fresh temporary chain with a worker (//Bob) and a verifier
# (//Charlie), it times the same job twice:
#   1. `agora job run-local` (the executor alone), after a warm-up run that fills the
#      compiled-module cache the daemons share;
#   2. `agora job submit` by //Alice, from the command's start to settlement.
# From the blocks' timestamps and events it reports: blocks from the bid's block to the job's
# assignment (target ≤ 2), from the bid to the result commitment (the market's cost of running
# the job: target ≤ run-local × 1.1 + 3 blocks), and to settlement (adds the spot check's
# reveal phases and the challenge window). One JSON line per figure.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
source scripts/lib.sh
bin="$CARGO_TARGET_DIR/${AGORA_BENCH_PROFILE:-release}"
default_params='{"epochs":5}'
params="${AGORA_BENCH_PARAMS:-$default_params}"
seed=3
scratch_dir
# Info lines of the node: start_dev_node reads its RPC port from one.
start_dev_node "$bin" --log warn,agora_node=info
start_daemons "$bin" "$rpc" "$dir" --price 0.001

job=(--module jobs/dist/mlp.wasm --data datasets/digits.csv --params "$params" --seed "$seed")
"$bin/agora" job run-local "${job[@]}" --out "$dir/warm" > /dev/null
start=$(date +%s%N)
"$bin/agora" --output json job run-local "${job[@]}" --out "$dir/local" > "$dir/local.json"
local_ms=$(( ($(date +%s%N) - start) / 1000000 ))
fuel_mfuel=$(python3 -c 'import json,sys; print(float(json.load(open(sys.argv[1]))["fuel"]["training"]))' "$dir/local.json")

wait_for_offer "$bin" "$rpc"
sleep 3 # the verifier's registration
start=$(date +%s%N)
"$bin/agora" --rpc "$rpc" --output json job submit --key //Alice "${job[@]}" \
    --max-price 0.002 --max-fuel 1500 > "$dir/job.json" 2> "$dir/submit.log"
market_ms=$(( ($(date +%s%N) - start) / 1000000 ))

python3 - "$http" "$dir/job.json" "$local_ms" "$market_ms" "$fuel_mfuel" <<'PY'
import json, sys, urllib.request
http, job_path, local_ms, market_ms, fuel = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
def call(method, params):
    body = json.dumps({"id": 1, "jsonrpc": "2.0", "method": method, "params": params}).encode()
    req = urllib.request.Request(http, body, {"content-type": "application/json"})
    return json.load(urllib.request.urlopen(req))["result"]
job = json.load(open(job_path))
jid = job["job"]
head = call("chain_getHeader", [])["number"]
seen = {}
stamp = {}
for n in range(1, head + 1):
    h = call("chain_getBlockHash", [n])
    stamp[n] = call("chain_getHeader", [h])["timestamp"]
    for rec in call("agora_events", [h]):
        ev = rec["event"]
        for pallet, kinds in (("Market", ("BidPlaced",)), ("Jobs", ("JobAssigned", "ResultCommitted", "JobVerified", "JobSettled"))):
            if pallet in ev:
                for kind in kinds:
                    body = ev[pallet].get(kind) if isinstance(ev[pallet], dict) else None
                    if body is not None and body.get("bid", body.get("job")) == jid:
                        seen.setdefault(kind, n)
bid, assigned, committed, settled = (seen[k] for k in ("BidPlaced", "JobAssigned", "ResultCommitted", "JobSettled"))
block_ms = (stamp[settled] - stamp[bid]) / max(1, settled - bid)
to_commit_ms = stamp[committed] - stamp[bid]
excess_blocks = (to_commit_ms - 1.1 * local_ms) / block_ms
print(json.dumps({"benchmark": "market/bid-to-start", "blocks": assigned - bid, "target_blocks": 2}))
print(json.dumps({"benchmark": "market/run-local", "ms": local_ms, "training_mfuel": fuel}))
print(json.dumps({"benchmark": "market/bid-to-commit", "ms": to_commit_ms, "blocks": committed - bid,
                  "over_run_local_x1.1_in_blocks": round(excess_blocks, 2), "target_blocks": 3}))
print(json.dumps({"benchmark": "market/bid-to-settled", "blocks": settled - bid, "ms": stamp[settled] - stamp[bid],
                  "submit_command_ms": market_ms, "block_ms": round(block_ms)}))
PY
