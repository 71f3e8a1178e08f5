#!/usr/bin/env bash
# Set up, build (plain and ASan+UBSan), run every test, print "N passed, N failed".
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

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:halt_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

# Unit and loopback tests in both builds; the QEMU interop suite in the plain build only.
[ -f build/build.ninja ] && meson test -C build --print-errorlogs --num-processes 2 --no-suite interop
[ -f build-asan/build.ninja ] && meson test -C build-asan --print-errorlogs --num-processes 2 --no-suite interop
[ -f build/build.ninja ] && meson test -C build --print-errorlogs --num-processes 1 --suite interop --timeout-multiplier 1

python3 - "$fail_build" <<'PY'
import json, sys, os
passed = failed = skipped = 0
failed += int(sys.argv[1])
for d in ("build", "build-asan"):
    p = os.path.join(d, "meson-logs", "testlog.json")
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
