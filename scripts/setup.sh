#!/usr/bin/env bash
# Installs what building and testing Agora needs. Idempotent: safe to run on every start.
#   - Debian packages: clang/libclang (bindgen for RocksDB), a C++ toolchain, pkg-config.
#   - The wasm32-unknown-unknown target (job modules).
#   - The aarch64-unknown-linux-gnu target, Debian's cross gcc and qemu-user: the client and the
#     engine's tests cross-built and run under emulation (scripts/check-aarch64.sh).
#   - Node.js, npm and Debian's chromium (the dashboard's browser tests, the polkadot.js check).
# Called by scripts/dev.sh, scripts/test.sh and scripts/bench.sh.
set -euo pipefail

# chromium: the dashboard's browser tests (scripts/check-dashboard.sh), as Node.js and npm below.
# gcc-aarch64-linux-gnu, libc6-dev-arm64-cross and qemu-user: scripts/check-aarch64.sh.
packages=(clang libclang-dev build-essential pkg-config chromium
    gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
# Node.js and npm from Debian unless a Node.js with its npm is already installed (NodeSource's
# nodejs package bundles npm and conflicts with Debian's npm package).
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    missing+=(nodejs npm)
fi
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing Debian packages: ${missing[*]}" >&2
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    echo "setup: adding the wasm32-unknown-unknown target" >&2
    rustup target add wasm32-unknown-unknown >/dev/null
fi
if ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
    echo "setup: adding the aarch64-unknown-linux-gnu target" >&2
    rustup target add aarch64-unknown-linux-gnu >/dev/null
fi
