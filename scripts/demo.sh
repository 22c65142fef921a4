#!/usr/bin/env bash
# The whole story on a fresh temporary chain:
#   //Bob offers compute (worker daemon), //Charlie verifies (verifier daemon),
#   //Alice buys training of the example MLP on digits, waits for settlement,
#   and the trained model is evaluated natively with burn.
# Prints the receipt and the model's held-out accuracy. Everything is torn down at the end.
#
#   scripts/demo.sh                    default job (5 epochs)
#   AGORA_DEMO_PARAMS='{"epochs":20}' scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
source scripts/env.sh
source scripts/lib.sh
cargo test --workspace --no-run >/dev/null 2>&1 || cargo test --workspace --no-run
bin="$CARGO_TARGET_DIR/debug"
jobs_target="${AGORA_JOBS_TARGET_DIR:-$HOME/.cache/agora/jobs-target}"
default_params='{"epochs":5}'
params="${AGORA_DEMO_PARAMS:-$default_params}"
seed=5
scratch_dir

port=$(free_port); p2p=$(free_port); prom=$(free_port)
rpc="ws://127.0.0.1:$port"
echo "== a fresh chain on $rpc"
"$bin/agora-node" --dev --base-path "$dir/node" --rpc-port "$port" --port "$p2p" \
    --prometheus-port "$prom" 2> "$dir/node.log" &
children+=($!)
wait_for_rpc "$port"

echo "== //Bob runs a worker (offer 0.001 AGR/Mfuel, renewable, eu-west); //Charlie verifies"
start_daemons "$bin" "$rpc" "$dir" --price 0.001 --region eu-west
wait_for_offer "$bin" "$rpc"
"$bin/agora" --rpc "$rpc" market | sed -n '1,6p'

echo "== //Alice buys training: MLP on digits, params $params"
"$bin/agora" --rpc "$rpc" --output json job submit --key //Alice \
    --module jobs/dist/mlp.wasm --data datasets/digits.csv --params "$params" --seed "$seed" \
    --max-price 0.002 --max-fuel 1500 > "$dir/job.json" || {
        echo "worker log:"; tail -20 "$dir/worker.log"; echo "verifier log:"; tail -20 "$dir/verifier.log"; exit 1; }
job=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["job"])' "$dir/job.json")

echo "== receipt of job #$job"
"$bin/agora" --rpc "$rpc" job result "$job" --out "$dir/result"

echo "== the model, evaluated natively with burn"
if [ ! -x "$jobs_target/tools/agora-job-native" ]; then
    (cd jobs && CARGO_TARGET_DIR="$jobs_target" cargo build --locked --profile tools -p agora-job-native)
fi
"$jobs_target/tools/agora-job-native" eval --model "$dir/result/model.bpk" \
    --data datasets/digits.csv --seed "$seed"
echo
echo "== balances after settlement"
for who in //Alice //Bob //Charlie; do
    echo "$who: $("$bin/agora" --rpc "$rpc" balance "$who" | grep -E 'Free|Reserved' | tr -s ' ' | tr '\n' ' ')"
done
