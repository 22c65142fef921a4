#!/usr/bin/env bash
# The layering rules of docs/architecture.md, checked (the issue "one-way layers"):
#   - the client library builds without wasmtime, clap or RocksDB;
#   - the engine depends on no chain crate but agora-primitives; the runtime on no wasmtime,
#     tokio or RocksDB;
#   - no non-test .rs file over 900 lines, no function over 120 lines;
#   - no RPC method name written as a string outside the rpc-api crate and the tests of the
#     wire format.
# Prints one "check: … ok|FAILED" line per rule (scripts/test.sh counts them).
set -uo pipefail
cd "$(dirname "$0")/.."
status=0

forbid() { # crate, pattern of forbidden packages, what
    local found
    found="$(cargo tree -p "$1" -e normal --prefix none 2>/dev/null | grep -E "^($2) v" | sort -u)"
    if [ -z "$found" ]; then
        echo "check: $1 $3 ok"
    else
        echo "check: $1 $3 FAILED"
        echo "  it depends on: $(echo "$found" | tr '\n' ' ')"
        status=1
    fi
}
forbid agora-client "wasmtime|clap|rocksdb|librocksdb-sys" "builds without wasmtime, clap or RocksDB"
forbid agora-engine "agora-runtime|agora-client|agora-node|pallet-[a-z]+" "depends on no chain crate but primitives"
forbid agora-runtime "wasmtime|tokio|rocksdb|librocksdb-sys" "stays free of wasmtime, tokio and RocksDB"
forbid agora-worker "clap|rocksdb|librocksdb-sys" "takes a plain config (no clap, no RocksDB)"
forbid agora-verifier "clap|rocksdb|librocksdb-sys" "takes a plain config (no clap, no RocksDB)"

if sizes="$(python3 scripts/layout_sizes.py)"; then
    echo "check: file and function sizes ok"
else
    echo "check: file and function sizes FAILED"
    echo "$sizes"
    status=1
fi

# The method names are the constants of rpc-api/src/method.rs; outside rpc-api/, only the node's
# tests of the wire format (which speak raw JSON on purpose) may spell one.
names="$(grep -oE '"[a-z]+_[A-Za-z]+"' rpc-api/src/method.rs | sort -u)"
strings="$(grep -rnF --include='*.rs' "$names" . 2>/dev/null \
    | grep -vE '^\./(rpc-api|target|jobs/target)/' || true)"
if [ -z "$strings" ]; then
    echo "check: RPC method names only in rpc-api ok"
else
    echo "check: RPC method names only in rpc-api FAILED"
    echo "$strings"
    status=1
fi
exit $status
