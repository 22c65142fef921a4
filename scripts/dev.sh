#!/usr/bin/env bash
# Starts a local development chain: one validator (//Alice) on BFT consensus, RocksDB under
# the base path, JSON-RPC on ws://127.0.0.1:9944, dev accounts //Alice … //Ferdie funded.
#
#   scripts/dev.sh                 keep state in ~/.local/share/agora-node (survives restarts)
#   AGORA_TMP=1 scripts/dev.sh     throw-away chain in a temporary directory
#   AGORA_PROFILE=release scripts/dev.sh   optimized build (slower to compile)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
source scripts/env.sh

profile="${AGORA_PROFILE:-debug}"
if [ "$profile" = release ]; then
    cargo build --release -p agora-node -p agora-client
else
    # The very build scripts/test.sh makes (binaries included): any other set of packages
    # unifies dependency features differently and would compile RocksDB's C++ a second time.
    cargo test --workspace --no-run
fi
bin="$CARGO_TARGET_DIR/$profile"

storage=(--base-path "${AGORA_BASE_PATH:-${XDG_DATA_HOME:-$HOME/.local/share}/agora-node}")
[ -n "${AGORA_TMP:-}" ] && storage=(--tmp)

cat <<TRY
Starting agora-node --dev. In another terminal, try:
  $bin/agora key inspect //Alice
  $bin/agora balance //Bob
  $bin/agora transfer --from //Alice --to 5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty --amount 1.5
  curl -s -H 'content-type: application/json' -d '{"id":1,"jsonrpc":"2.0","method":"chain_getHeader"}' http://127.0.0.1:9944
Metrics: http://127.0.0.1:9615/metrics   Stop: Ctrl-C (state is kept unless AGORA_TMP=1)
TRY
exec "$bin/agora-node" --dev "${storage[@]}" "$@"
