#!/usr/bin/env bash
# The dispute path end to end, release builds, default 1 s blocks (called by
# `scripts/bench.sh dispute`). On a fresh temporary chain with a worker (//Bob) and a verifier
# (//Charlie), //Alice buys the digits MLP in 6 segments of 2 steps; once it is verified, //Dave
# challenges leaf 3 with `agora challenge` and plays the dispute to its end: leaf bisection,
# step bisection inside segment 3, the node's referee executing one step. Release builds have
# no fault injection, so the worker is honest and the challenge is a false one that Dave loses;
# the game has the same moves either way (who wins only changes at the referee's comparison).
# From the blocks' timestamps and events it reports rounds, blocks and seconds from the
# challenge's block to the referee's (target ≤ 60 s), and the referee's step time from the
# node's log (its share of a 1 s block). Dave then challenges the fuel of leaf 3 of the same job
# (`agora challenge --fuel 3`, again a false challenge): leaf bisection, then the referee re-runs
# the whole disputed segment; the same figures for it. Then, from `agora job run-local` of
# longer jobs (epochs 20 and 40, 3 steps a segment), the expected re-execution fuel of the
# default sampling against the job's fuel (target ≤ 3 %). One JSON line per figure.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
source scripts/lib.sh
bin="$CARGO_TARGET_DIR/${AGORA_BENCH_PROFILE:-release}"
params='{"hidden":[32],"epochs":1,"batch_size":128}'
scratch_dir
# The node's info lines: start_dev_node reads the RPC port from one, and the referee logs
# its step times at info.
start_dev_node "$bin" --log warn,agora_node=info
start_daemons "$bin" "$rpc" "$dir" --price 0.001
"$bin/agora" --rpc "$rpc" stake bond --key //Dave --amount 20 > /dev/null
wait_for_offer "$bin" "$rpc"
sleep 3 # the verifier's registration

job=(--module jobs/dist/mlp.wasm --data datasets/digits.csv --params "$params" --seed 3 --segment 2)
id=$("$bin/agora" --rpc "$rpc" --output json job submit --key //Alice "${job[@]}" \
    --max-price 0.002 --max-fuel 1500 --no-wait 2> "$dir/submit.log" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["job"])')
for _ in $(seq 1 240); do
    stage=$("$bin/agora" --rpc "$rpc" --output json job status "$id" \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["stage"])')
    [ "$stage" = verified ] && break
    [ "$stage" = ended ] && { echo "bench: job $id ended before it was verified" >&2; exit 1; }
    sleep 0.5
done
[ "$stage" = verified ] || { echo "bench: job $id not verified within 120 s" >&2; exit 1; }

start=$(date +%s%N)
"$bin/agora" --rpc "$rpc" --output json challenge --key //Dave "$id" --leaf 3 \
    --state-dir "$dir/dave" > "$dir/challenge.json" 2> "$dir/challenge.log"
challenge_ms=$(( ($(date +%s%N) - start) / 1000000 ))
fuel_from=$(curl -s -H 'content-type: application/json' \
    -d '{"id":1,"jsonrpc":"2.0","method":"chain_getHeader","params":[]}' "$http" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["result"]["number"] + 1)')
referee_runs=$(grep -c "referee ran" "$dir/node.log" || true)
start=$(date +%s%N)
"$bin/agora" --rpc "$rpc" --output json challenge --key //Dave "$id" --fuel 3 \
    --state-dir "$dir/dave" > "$dir/fuel-challenge.json" 2> "$dir/fuel-challenge.log"
fuel_challenge_ms=$(( ($(date +%s%N) - start) / 1000000 ))

# The verification cost of longer jobs, from their measured fuel per call and per segment.
for epochs in 20 40; do
    "$bin/agora" --output json job run-local --module jobs/dist/mlp.wasm \
        --data datasets/digits.csv --params "{\"hidden\":[32],\"epochs\":$epochs,\"batch_size\":128}" \
        --seed 3 --segment 3 --out "$dir/long-$epochs" > /dev/null
done

python3 - "$http" "$id" "$challenge_ms,$fuel_challenge_ms" "$fuel_from" "$referee_runs" \
    "$dir/challenge.json,$dir/fuel-challenge.json" "$dir/node.log" \
    "$dir/long-20/trace.json,$dir/long-40/trace.json" <<'PY'
import json, re, sys, urllib.request
http, jid, fuel_from, referee_runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[4]), int(sys.argv[5])
challenge_ms = [int(x) for x in sys.argv[3].split(",")]
report_paths, log_path, trace_paths = sys.argv[6].split(","), sys.argv[7], sys.argv[8].split(",")
def call(method, params):
    body = json.dumps({"id": 1, "jsonrpc": "2.0", "method": method, "params": params}).encode()
    req = urllib.request.Request(http, body, {"content-type": "application/json"})
    return json.load(urllib.request.urlopen(req))["result"]
head = call("chain_getHeader", [])["number"]
# The events of the job per challenge: the state challenge's blocks, then the fuel challenge's.
parts = [({}, {}), ({}, {})]
stamp = {}
for n in range(1, head + 1):
    h = call("chain_getBlockHash", [n])
    stamp[n] = call("chain_getHeader", [h])["timestamp"]
    first, moves = parts[1 if n >= fuel_from else 0]
    for rec in call("agora_events", [h]):
        body = rec["event"].get("Verification")
        if not isinstance(body, dict):
            continue
        for kind, fields in body.items():
            if isinstance(fields, dict) and fields.get("job") == jid:
                # A step too heavy for the referee is not the resolution: its segment's
                # re-run, a later `Refereed`, is (spec version 17).
                if kind != "Refereed" or fields.get("outcome") != "StepTooHeavy":
                    first.setdefault(kind, n)
                moves[kind] = moves.get(kind, 0) + 1
log = re.sub(r"\x1b\[[0-9;]*m", "", open(log_path).read())
runs = [float(m.group(1)) for m in re.finditer(r"referee ran.*?ms=([0-9.]+)", log)]
prepared = [float(m.group(1)) for m in re.finditer(r"referee module prepared.*?ms=([0-9.]+)", log)]
names = [("challenge-to-resolution", "referee-step", runs[:referee_runs]),
         ("fuel-challenge-to-resolution", "referee-segment-rerun", runs[referee_runs:])]
for (first, moves), report_path, ms, (name, referee_name, referee_ms) in zip(parts, report_paths, challenge_ms, names):
    report = json.load(open(report_path))
    challenged, refereed = first["Challenged"], first["Refereed"]
    print(json.dumps({"benchmark": "dispute/" + name, "outcome": report["outcome"],
                      "leaf_reveals": moves.get("LeafRevealed", 0), "midpoints": moves.get("Bisected", 0),
                      "answers": moves.get("Answered", 0), "blocks": refereed - challenged,
                      "seconds": round((stamp[refereed] - stamp[challenged]) / 1000, 1),
                      "challenge_command_seconds": round(ms / 1000, 1), "target_seconds": 60}))
    if referee_ms:
        # One run per referee call on a single node: the author runs it while building the
        # block (other validators would run it on import).
        print(json.dumps({"benchmark": "dispute/" + referee_name, "runs_ms": [round(r, 1) for r in referee_ms],
                          "share_of_1s_block": round(max(referee_ms) / 1000, 3),
                          "module_compiled_ahead_ms": [round(p) for p in prepared]}))
for trace_path in trace_paths:
    trace = json.load(open(trace_path))
    # The report's fuel is in Mfuel (decimal strings); the leaves' cumulative fuel in units.
    fuel = {k: float(v) * 1e6 for k, v in trace["fuel"].items()}
    leaves = trace["leaves"]
    n = len(leaves)
    seg = [leaves[0]["fuel"]] + [leaves[i]["fuel"] - leaves[i - 1]["fuel"] for i in range(1, n)]
    # Default sampling, as the runtime draws it (`Params::uniform_samples`, `draw_segments`):
    # the last segment, the worker's heaviest, and u = max(1, ceil(n * SAMPLE_PERMILLE / 1000))
    # drawn uniformly from the others (SAMPLE_PERMILLE = 15, runtime/src/lib.rs); `init` when
    # segment 0 is drawn; `export` and `eval` of the final state always.
    heaviest = max(range(n - 1), key=lambda i: seg[i]) if n > 1 else n - 1
    others = [i for i in range(n - 1) if i != heaviest]
    u = min(max(1, -(-n * 15 // 1000)), len(others))
    drawn = seg[-1] + (seg[heaviest] if heaviest != n - 1 else 0)
    if others:
        drawn += u * sum(seg[i] for i in others) / len(others)
    p_init = 1 if heaviest == 0 else (u / len(others) if others else 0)
    expected = drawn + fuel["export"] + fuel["eval"] + fuel["init"] * p_init
    print(json.dumps({"benchmark": "verification/cost", "segments": n, "job_fuel": fuel["total"],
                      "expected_reexecution_fuel": round(expected),
                      "ratio_percent": round(100 * expected / fuel["total"], 2),
                      "ratio_without_export_eval_percent": round(100 * (expected - fuel["export"] - fuel["eval"]) / fuel["total"], 2),
                      "target_percent": 3}))
PY
