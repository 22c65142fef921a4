#!/usr/bin/env bash
# Compatibility of an unmodified @polkadot/api (npm, pinned in testing/polkadot-js) with an
# Agora node: a fresh dev chain, then testing/polkadot-js/compat.mjs starts an ApiPromise from
# the node's URL alone, reads constants and balances, signs and sends
# balances.transferKeepAlive, staking.bond and market.postOffer with @polkadot/keyring's dev
# keys, waits for finality and decodes the events, and places the bid `agora job prepare`
# readied; then `agora offer list` and `agora job status` must show the offer and the bid made
# from JavaScript. See docs/polkadot-js.md.
#
#   scripts/check-polkadot-js.sh        (scripts/test.sh runs it)
#
# Needs the debug binaries scripts/test.sh builds, Node.js and npm (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
source scripts/lib.sh
bin="$CARGO_TARGET_DIR/debug"

# The npm packages at the versions package-lock.json pins.
(cd testing/polkadot-js && npm ci --no-audit --no-fund --loglevel=error >/dev/null)

scratch_dir
start_dev_node "$bin"

# A buyer's job prepared by the CLI (blobs registered and uploaded), for JavaScript to bid on;
# without --max-fuel, the bid's fuel is `agora job quote`'s suggestion.
"$bin/agora" --rpc "$rpc" --output json job prepare --key //Ferdie \
    --module jobs/dist/mlp.wasm --data datasets/digits.csv --params '{"epochs":1}' --seed 5 \
    --max-price 0.002 > "$dir/prepared.json"

if ! AGORA_RPC_PORT="$port" AGORA_OFFER_OUT="$dir/offer.json" AGORA_PREPARED="$dir/prepared.json" \
    AGORA_BID_OUT="$dir/bid.json" node testing/polkadot-js/compat.mjs; then
    echo "check: polkadot.js: compatibility ... FAILED (node log: last lines below)"
    tail -20 "$dir/node.log"
    exit 1
fi
# The session docs/polkadot-js.md shows, as written.
if AGORA_RPC_URL="$rpc" node testing/polkadot-js/session.mjs > "$dir/session.log" 2>&1 \
    && grep -q '^offer ' "$dir/session.log" && grep -q '^balances.Transfer ' "$dir/session.log"; then
    echo "check: polkadot.js: the session of docs/polkadot-js.md runs ... ok"
else
    echo "check: polkadot.js: the session of docs/polkadot-js.md runs ... FAILED:"
    cat "$dir/session.log"
    exit 1
fi
# The offer posted from JavaScript is on the market as the agora CLI sees it.
provider=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["provider"])' "$dir/offer.json")
offers=$("$bin/agora" --rpc "$rpc" --output json offer list)
if python3 -c 'import json,sys; sys.exit(0 if any(o["provider"] == sys.argv[1] for o in json.loads(sys.argv[2])) else 1)' \
    "$provider" "$offers"; then
    echo "check: polkadot.js: the offer posted from JavaScript is in agora offer list ... ok"
else
    echo "check: polkadot.js: the offer posted from JavaScript is in agora offer list ... FAILED: $offers"
    exit 1
fi
# The bid placed from JavaScript is a job the CLI follows.
bid=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$dir/bid.json")
status=$("$bin/agora" --rpc "$rpc" --output json job status "$bid")
if python3 -c 'import json,sys; r=json.loads(sys.argv[1]); sys.exit(0 if r["buyer"] == sys.argv[2] and r["stage"] != "unknown" else 1)' \
    "$status" "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["buyer"])' "$dir/bid.json")"; then
    echo "check: polkadot.js: the bid placed from JavaScript is in agora job status ... ok"
else
    echo "check: polkadot.js: the bid placed from JavaScript is in agora job status ... FAILED: $status"
    exit 1
fi
