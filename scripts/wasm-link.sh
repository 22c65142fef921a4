#!/bin/sh
# Linker wrapper for job modules (wasm32-unknown-unknown), used by scripts/build-jobs.sh.
#
# burn reaches `wasm-bindgen` through cubecl on wasm32, and rustc asks the linker to export
# every `#[no_mangle]` symbol in the crate graph, wasm-bindgen's `__wbindgen_*` included. Those
# exports keep wasm-bindgen's glue alive, and the glue imports host functions a job may not
# have (Job ABI v1: a module imports nothing). Dropping every `--export` except the ABI's own
# `agora_*` functions lets the linker's garbage collection remove the glue and its imports.
# The job never calls them: it uses no JS, no clock and no host randomness.
LLD="$(rustc --print sysroot)/lib/rustlib/$(rustc -vV | sed -n 's/^host: //p')/bin/rust-lld"
set -- "$@" END_OF_ARGS
while [ "$1" != END_OF_ARGS ]; do
    arg="$1"
    shift
    if [ "$arg" = "--export" ]; then
        symbol="$1"
        shift
        case "$symbol" in
            agora_*) set -- "$@" --export "$symbol" ;;
        esac
    else
        set -- "$@" "$arg"
    fi
done
shift
exec "$LLD" "$@"
