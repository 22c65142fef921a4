#!/usr/bin/env bash
# The whole story on a fresh temporary chain:
#   //Bob offers compute (worker daemon), //Charlie verifies (verifier daemon),
#   //Alice buys training of a job, waits for settlement, fetches the model, and the model is
#   used natively with burn (a classifier evaluated on its holdout rows, a language model
#   sampled). Prints the receipt and the model's figures. Everything is torn down at the end.
#
#   scripts/demo.sh [JOB] [--data FILE] [--params JSON] [--seed N] [--segment STEPS]
#
#   JOB      mlp (default: the MLP on digits, 5 epochs), cnn (the CNN on digits, segments of
#            40 steps), charlm (the language model on datasets/jargon.txt, 1 epoch in batches of
#            2 windows of 32 bytes, segments of 40 steps: ~140 Mfuel a step, which the referee
#            runs one step at a time in a dispute; the module's default batch of 16 × 64 takes
#            ~2,100, and a dispute at such a step re-runs its segment), or the path of any job
#            module (e.g. one made with `agora job new` and `agora job build`; --data needed).
#   The job is bid without --max-fuel: `job submit` quotes it and bids the quote plus its margin.
#   AGORA_DEMO_PARAMS='{"epochs":20}' scripts/demo.sh   (the params, as before --params existed)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
source scripts/env.sh
source scripts/lib.sh
# The feature set scripts/test.sh builds with: the same binaries, nothing compiled twice.
cargo test --workspace --features agora-cli/faults --no-run >/dev/null 2>&1 ||
    cargo test --workspace --features agora-cli/faults --no-run
bin="$CARGO_TARGET_DIR/debug"
jobs_target="${AGORA_JOBS_TARGET_DIR:-$HOME/.cache/agora/jobs-target}"
job="${1:-mlp}"
[ $# -gt 0 ] && shift
data="" params="" seed="" segment="" native=""
case "$job" in
    mlp) module=jobs/dist/mlp.wasm data=datasets/digits.csv params='{"epochs":5}' seed=5 native=eval ;;
    cnn) module=jobs/dist/cnn.wasm data=datasets/digits.csv params='{}' seed=0 segment=40 native=eval ;;
    charlm) module=jobs/dist/charlm.wasm data=datasets/jargon.txt params='{"epochs":1,"batch_size":2,"context":32}' seed=0 segment=40 native=generate ;;
    *.wasm) module="$job" params='{}' seed=0 job=custom ;;
    *) echo "unknown job '$job': mlp, cnn, charlm or a .wasm module" >&2; exit 2 ;;
esac
params="${AGORA_DEMO_PARAMS:-$params}"
while [ $# -gt 0 ]; do
    case "$1" in
        --data) data="$2" ;;
        --params) params="$2" ;;
        --seed) seed="$2" ;;
        --segment) segment="$2" ;;
        *) echo "unknown argument '$1'" >&2; exit 2 ;;
    esac
    shift 2
done
[ -n "$data" ] || { echo "--data FILE is needed for a module of your own" >&2; exit 2; }
segment_args=()
[ -n "$segment" ] && segment_args=(--segment "$segment")
scratch_dir

echo "== a fresh chain"
start_dev_node "$bin"
echo "   RPC at $rpc"

echo "== //Bob runs a worker (offer 0.001 AGR/Mfuel, renewable, eu-west); //Charlie verifies"
# A provider sized for any demo job: bond for the collateral of a large job, capacity for
# the language model.
start_daemons "$bin" "$rpc" "$dir" --price 0.001 --region eu-west --bond 40000 --capacity 10000000
wait_for_offer "$bin" "$rpc"
"$bin/agora" --rpc "$rpc" market | sed -n '1,6p'

echo "== //Alice buys training: $module on $data, params $params"
"$bin/agora" --rpc "$rpc" --output json job submit --key //Alice \
    --module "$module" --data "$data" --params "$params" --seed "$seed" "${segment_args[@]}" \
    --max-price 0.002 > "$dir/job.json" || {
        echo "worker log:"; tail -20 "$dir/worker.log"; echo "verifier log:"; tail -20 "$dir/verifier.log"; exit 1; }
id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["job"])' "$dir/job.json")

echo "== receipt of job #$id"
"$bin/agora" --rpc "$rpc" job result "$id" --out "$dir/result"

if [ -n "$native" ]; then
    if [ ! -x "$jobs_target/tools/agora-job-native" ]; then
        (cd jobs && CARGO_TARGET_DIR="$jobs_target" cargo build --locked --profile tools -p agora-job-native)
    fi
    if [ "$native" = eval ]; then
        echo "== the model, evaluated natively with burn"
        "$jobs_target/tools/agora-job-native" eval --job "$job" --model "$dir/result/model.bpk" \
            --data "$data" --params "$params" --seed "$seed"
    else
        echo "== text sampled natively with burn from the model"
        "$jobs_target/tools/agora-job-native" generate --job "$job" --model "$dir/result/model.bpk" \
            --params "$params" --prompt ":hacker: " --len 300 --seed 1
    fi
fi
echo
echo "== balances after settlement"
for who in //Alice //Bob //Charlie; do
    echo "$who: $("$bin/agora" --rpc "$rpc" balance "$who" | grep -E 'Free|Reserved' | tr -s ' ' | tr '\n' ' ')"
done
