#!/usr/bin/env bash
# hostile-bench.sh: a good host's QD1 latency on one nvmfd reactor that it shares with hostile
# hosts: none, 16 and 60 blocked hosts (reads queued, responses never read), and one host
# streaming commands as fast as nvmfd takes them.  Prints figures; asserts nothing.
#
#   bash bench/hostile-bench.sh [-t SECONDS] [--build-dir DIR] [--port N] [--nvmfd PATH] [-- NVMFD-FLAGS...]
#
# nvmfd (--reactors 1, a null namespace) runs on CPU 0 and `nvmf perf` (QD1 4 KiB random reads)
# on CPU 1 when the machine has two; the hostile hosts (build/bench/hostile) run anywhere.
# Flags after -- go to nvmfd (e.g. --read-budget 16K, --tx-backlog 0); --nvmfd runs another
# nvmfd binary (an older build, to compare) with this build's hosts.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
SECS=5
BUILD="$ROOT/build"
PORT=44300
EXTRA=()
NVMFD=""
while [ $# -gt 0 ]; do
	case "$1" in
	-t) SECS=${2:?-t wants seconds}; shift ;;
	--build-dir) BUILD=${2:?--build-dir wants a directory}; shift ;;
	--port) PORT=${2:?--port wants a number}; shift ;;
	--nvmfd) NVMFD=${2:?--nvmfd wants a path}; shift ;;
	--) shift; EXTRA=("$@"); break ;;
	-h|--help) sed -n '2,11p' "$0"; exit 0 ;;
	*) echo "hostile-bench: unknown option $1" >&2; exit 2 ;;
	esac
	shift
done

[ -f "$BUILD/build.ninja" ] || meson setup "$BUILD" "$ROOT" >/dev/null || exit 1
ninja -C "$BUILD" >/dev/null || exit 1
NVMFD=${NVMFD:-$BUILD/src/nvmfd/nvmfd}
NVMF="$BUILD/src/nvmf/nvmf"
HOSTILE="$BUILD/bench/hostile"
NQN=nqn.2024-01.io.nvmf:hostile-bench
TMP=$(mktemp -d)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

TGT=() TOOL=()
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
	TGT=(taskset -c 0) TOOL=(taskset -c 1)
fi

# Wait until file $1 has a line matching $2 (up to $3 seconds).
wait_for() {
	for _ in $(seq $(($3 * 10))); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

: >"$TMP/nvmfd.log" # truncated here, not by the background job: no stale "ready" is read
"${TGT[@]}" "$NVMFD" --listen "127.0.0.1:$PORT" --subsystem "$NQN" --namespace null:1G --reactors 1 \
	"${EXTRA[@]}" >"$TMP/nvmfd.log" 2>&1 &
NVMFD_PID=$!
PIDS+=("$NVMFD_PID")
if ! wait_for "$TMP/nvmfd.log" "nvmfd: ready" 10; then
	echo "hostile-bench: nvmfd did not start:" >&2
	cat "$TMP/nvmfd.log" >&2
	exit 1
fi
echo "hostile-bench: $NVMFD; $(grep 'nvmfd: limits' "$TMP/nvmfd.log" || echo 'no limits line')"
echo "hostile-bench: good host: nvmf perf -q 1 -o 4096 -w randread -t $SECS; one reactor"
printf '%-22s %10s %10s %10s %10s %12s\n' "case" "IOPS" "mean us" "p50 us" "p99 us" "nvmfd RSS"

run_case() {
	local name=$1; shift
	local hpid=""
	if [ $# -gt 0 ]; then
		"$HOSTILE" "$@" "$PORT" "$NQN" ${COUNT:+"$COUNT"} >"$TMP/hostile.log" 2>&1 &
		hpid=$!
		PIDS+=("$hpid")
		if ! wait_for "$TMP/hostile.log" "^ready" 120; then
			printf '%-22s hostile hosts did not get ready: %s\n' "$name" "$(tail -1 "$TMP/hostile.log")"
			kill "$hpid" 2>/dev/null
			return
		fi
		sleep 1
	fi
	"${TOOL[@]}" "$NVMF" perf -q 1 -o 4096 -w randread -t "$SECS" --json "tcp://127.0.0.1:$PORT/$NQN" \
		>"$TMP/perf.json" 2>"$TMP/perf.err"
	local rss
	rss=$(awk '/^VmRSS/ {print $2 " kB"}' "/proc/$NVMFD_PID/status")
	python3 - "$TMP/perf.json" "$name" "$rss" <<'PY'
import json, sys
path, name, rss = sys.argv[1:4]
try:
    r = json.load(open(path))
    l = r["latency_us"]
    print(f"{name:<22} {r['iops']:>10.0f} {l['mean']:>10.1f} {l['p50']:>10.1f} {l['p99']:>10.1f} {rss:>12}")
except Exception as e:
    print(f"{name:<22} no result ({e})")
PY
	if [ -n "$hpid" ]; then
		kill "$hpid" 2>/dev/null
		wait "$hpid" 2>/dev/null
	fi
}

run_case "no hostile host"
COUNT=16 run_case "16 blocked hosts" blocked
COUNT=60 run_case "60 blocked hosts" blocked
COUNT="" run_case "1 flooding host" flood
