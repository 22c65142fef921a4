#!/usr/bin/env bash
# Browser tests of the node's dashboard (served at / of the RPC port): a fresh dev chain settles
# a small job (//Bob's worker, //Charlie's verifier, //Alice buys), then headless Debian chromium
# (puppeteer-core from npm, testing/browser) loads every page on a desktop and a phone-sized
# screen and compares what it shows to the RPC's answers (testing/browser/dashboard.mjs).
#
#   scripts/check-dashboard.sh                 the check (scripts/test.sh runs it)
#   scripts/check-dashboard.sh --screenshots   also rewrites docs/img/dashboard-*.png
#
# Needs the debug binaries scripts/test.sh builds, Node.js, npm and chromium (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
source scripts/lib.sh
bin="$CARGO_TARGET_DIR/debug"
shots=()
[ "${1:-}" = --screenshots ] && shots=(--screenshots "$PWD/docs/img") && mkdir -p docs/img

# puppeteer-core at the version package-lock.json pins; it drives Debian's chromium and
# downloads no browser.
(cd testing/browser && PUPPETEER_SKIP_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error >/dev/null)

scratch_dir
start_dev_node "$bin"
start_daemons "$bin" "$rpc" "$dir" --price 0.001 --region eu-west
wait_for_offer "$bin" "$rpc"
"$bin/agora" --rpc "$rpc" --output json job submit --key //Alice \
    --module jobs/dist/mlp.wasm --data datasets/digits.csv --params '{"epochs":1}' --seed 5 \
    --max-price 0.002 --max-fuel 1500 > "$dir/job.json" || {
        echo "worker log:"; tail -20 "$dir/worker.log"; echo "verifier log:"; tail -20 "$dir/verifier.log"
        echo "check: dashboard: a dev chain settles a job ... FAILED"; exit 1; }
job=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["job"])' "$dir/job.json")
alice=$("$bin/agora" --output json key inspect //Alice | python3 -c 'import json,sys; print(json.load(sys.stdin)["ss58_address"])')
echo "check: dashboard: a dev chain settles a job ... ok"

if AGORA_RPC_PORT="$port" AGORA_JOB="$job" AGORA_ACCOUNT="$alice" \
    node testing/browser/dashboard.mjs "${shots[@]}"; then
    :
else
    echo "check: dashboard: browser tests ... FAILED (node log: last lines below)"
    tail -20 "$dir/node.log"
    exit 1
fi
