#!/usr/bin/env bash
# Set up, build and start nvmfd (no arguments: the embedded default, a 1 GiB RAM namespace on 127.0.0.1:4420).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build >/dev/null
exec build/src/nvmfd/nvmfd "$@"
