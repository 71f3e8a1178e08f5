#!/usr/bin/env bash
# vfio-user-doorbells.sh: nvmfd's two doorbell modes side by side, through
# `nvmf perf` over vfio-user on a RAM namespace (one reactor on CPU 0, the
# client on CPU 1).
#
#   bash bench/vfio-user-doorbells.sh [-t SECONDS] [-r REPS] [--build-dir DIR]
#
# mapped:  the client writes doorbells to shared memory; an idle device
#          looks at them every 1 ms (5 ms after a second of idle).
# trapped: doorbell writes are messages; the client takes shadow doorbells
#          (Doorbell Buffer Config) and writes BAR0 only when EventIdx asks,
#          which the device arranges before it sleeps.
# Cases: 4 KiB randread QD1 and QD32 flat out (the cost while busy), and QD1
# paced at 200 and 20 I/Os a second (each I/O finds the device asleep: the
# first-command wait).  Per case: IOPS, mean/p50/p99 latency in µs, and
# nvmfd's CPU time per second of the run (paced cases: what idling costs).
# Both targets run throughout and take turns case by case, alternating who
# goes first.  Figures only: nothing passes or fails.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD=$(cd "$HERE/.." && pwd)/build
SECS=3 REPS=1
while [ $# -gt 0 ]; do
	case $1 in
	-t) SECS=$2; shift ;;
	-r) REPS=$2; shift ;;
	--build-dir) BUILD=$2; shift ;;
	-h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "unknown option $1" >&2; exit 2 ;;
	esac
	shift
done
NVMFD=$BUILD/src/nvmfd/nvmfd
NVMF=$BUILD/src/nvmf/nvmf
[ -x "$NVMFD" ] && [ -x "$NVMF" ] || { echo "build first: meson setup $BUILD && ninja -C $BUILD" >&2; exit 1; }
tmp=$(mktemp -d)
declare -A pids=()
cleanup() {
	for m in "${!pids[@]}"; do kill "${pids[$m]}" 2>/dev/null && wait "${pids[$m]}" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT
pin0= pin1=
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then pin0="taskset -c 0"; pin1="taskset -c 1"; fi

for m in mapped trapped; do
	mkdir -p "$tmp/$m"
	$pin0 "$NVMFD" --reactors 1 --listen "vfio-user:$tmp/$m/s.sock" --subsystem "nqn.2024-01.io.nvmf:db-$m" \
		--namespace ram:256M --rpc-socket "$tmp/$m/rpc.sock" --vfio-user-doorbells "$m" >"$tmp/$m/log" 2>&1 &
	pids[$m]=$!
	for _ in $(seq 100); do grep -q ready "$tmp/$m/log" && break; sleep 0.1; done
	grep -q ready "$tmp/$m/log" || { cat "$tmp/$m/log" >&2; exit 1; }
	$pin1 "$NVMF" perf "vfio-user:$tmp/$m/s.sock" -q 32 -o 131072 -w write -n 2048 >/dev/null 2>&1
done

# nvmfd's CPU time in clock ticks (utime + stime).
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

CASES=("QD1 flat out|-q 1" "QD32 flat out|-q 32" "QD1 at 200 IOPS|-q 1 --rate 200" "QD1 at 20 IOPS|-q 1 --rate 20")
hz=$(getconf CLK_TCK)
results=$tmp/results
: >"$results"
for ((rep = 0; rep < REPS; rep++)); do
	for ((ci = 0; ci < ${#CASES[@]}; ci++)); do
		order=(mapped trapped)
		[ $(((rep + ci) % 2)) -eq 1 ] && order=(trapped mapped)
		for m in "${order[@]}"; do
			c0=$(ticks "${pids[$m]}")
			# shellcheck disable=SC2086
			j=$($pin1 "$NVMF" perf "vfio-user:$tmp/$m/s.sock" ${CASES[$ci]#*|} -o 4096 -w randread -t "$SECS" --json 2>/dev/null)
			c1=$(ticks "${pids[$m]}")
			python3 -c '
import json, sys
j = json.loads(sys.argv[1]); t = j.get("total", j)
lat = t["latency_us"]
print("%s|%s|%d|%.1f|%.1f|%.1f|%.3f" % (sys.argv[2], sys.argv[3], t["iops"], lat["mean"], lat["p50"], lat["p99"],
      (int(sys.argv[5]) - int(sys.argv[4])) / float(sys.argv[6]) / float(sys.argv[7])))' \
				"$j" "$ci" "$m" "$c0" "$c1" "$hz" "$SECS" >>"$results" || echo "case $ci $m failed" >&2
		done
	done
done

python3 - "$results" "${CASES[@]%%|*}" <<'EOF'
import statistics, sys
rows = [l.strip().split("|") for l in open(sys.argv[1]) if l.strip()]
names = sys.argv[2:]
print("| case | doorbells | IOPS | mean µs | p50 µs | p99 µs | nvmfd CPU (cores) |")
print("|---|---|---|---|---|---|---|")
for ci, name in enumerate(names):
    for m in ("mapped", "trapped"):
        r = [x for x in rows if x[0] == str(ci) and x[1] == m]
        if not r:
            continue
        med = lambda k: statistics.median(float(x[k]) for x in r)
        print("| %s | %s | %d | %.1f | %.1f | %.1f | %.3f |" % (name, m, med(2), med(3), med(4), med(5), med(6)))
EOF
