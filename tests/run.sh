#!/usr/bin/env bash
# Set up, build (plain, ASan+UBSan, TSan), run every test, print "N passed, N failed".
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

bash scripts/setup.sh || { echo "setup failed"; echo "0 passed, 1 failed"; exit 1; }

build() { # dir, extra meson options...
  local dir=$1; shift
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" "$@" >"$dir.setup.log" 2>&1 || { cat "$dir.setup.log"; return 1; }
  fi
  ninja -C "$dir" >"$dir.ninja.log" 2>&1 || { tail -60 "$dir.ninja.log"; return 1; }
}

fail_build=0
build build || fail_build=$((fail_build + 1))
build build-asan -Db_sanitize=address,undefined -Db_lundef=false || fail_build=$((fail_build + 1))
# TSan cannot model the fences the vfio-user rings need (GCC warns): the warning stays a warning.
build build-tsan -Db_sanitize=thread -Dc_args=-Wno-tsan || fail_build=$((fail_build + 1))

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:halt_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# A data race ends the process (nvmfd included), which fails its test.
export TSAN_OPTIONS=halt_on_error=1:exitcode=66:report_signal_unsafe=0

# Each run writes its own log (meson-logs/<logbase>.json), counted below.
rm -f build/meson-logs/run-*.json build-asan/meson-logs/run-*.json build-tsan/meson-logs/run-*.json
run() { # build dir, log base, meson test options...
  local dir=$1 base=$2; shift 2
  [ -f "$dir/build.ninja" ] || return 0
  meson test -C "$dir" --no-rebuild --print-errorlogs --logbase "$base" "$@"
}
# Unit, loopback, backend, target and host tests in both builds; the QEMU
# interop suite (Linux peers, slow under TCG) in the plain build only.
run build run-main --num-processes 2 --no-suite interop --no-suite ceph
run build-asan run-asan --num-processes 2 --no-suite interop --no-suite ceph
# The suites where threads share controller state (reactors, the RPC thread, backends'
# completion threads) under ThreadSanitizer, which slows them several times.
run build-tsan run-tsan --num-processes 2 --timeout-multiplier 4 \
  --suite target --suite rpc --suite bdev --suite vfio_user --suite host
run build run-interop --num-processes 1 --suite interop
# Ceph RBD gateways on a one-node cluster (one at a time: each starts its own).
run build run-ceph --num-processes 1 --suite ceph

python3 - "$fail_build" <<'PY'
import json, sys, os
passed = failed = skipped = 0
failed += int(sys.argv[1])
for d in ("build", "build-asan", "build-tsan"):
    for base in ("run-main", "run-asan", "run-tsan", "run-interop", "run-ceph"):
        p = os.path.join(d, "meson-logs", base + ".json")
        if not os.path.exists(p):
            continue
        for line in open(p):
            r = json.loads(line)["result"]
            if r in ("OK", "EXPECTEDFAIL"):
                passed += 1
            elif r == "SKIP":
                skipped += 1
            else:
                failed += 1
print(f"{passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed else 0)
PY
