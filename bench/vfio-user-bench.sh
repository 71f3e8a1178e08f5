#!/usr/bin/env bash
# vfio-user-bench.sh: nvmfd as a vfio-user NVMe controller, driven by
# `nvmf perf` over vfio-user (the host library's PCIe driver), and beside it
# SPDK's vfio-user target driven by the same client, when SPDK_DIR is set.
#
#   [SPDK_DIR=DIR] bash bench/vfio-user-bench.sh [-t SECONDS] [-r REPS] [--modes LIST] [--client nvmf|spdk]
#                                                 [--ns ram,null] [--build-dir DIR] [--base-build DIR] [--json]
#
# Each target has one core (nvmfd --reactors 1, nvmf_tgt -m 0x1)
# pinned to CPU 0, nvmf perf pinned to CPU 1, on a RAM namespace (SPDK: a
# malloc bdev) and a null namespace, 1 GiB each, one vfio-user socket each.
# Cases: 4 KiB randread QD1 (latency), 4 KiB randread QD32, 4 KiB randwrite
# QD32, 128 KiB read QD32; each in the modes of --modes (default irq,wait,polled):
# irq = I/O queues with interrupts, the client spinning on its CQ; wait = the
# client sleeps on the interrupt eventfd; polled = I/O queues without
# interrupts.  --client spdk drives both targets with SPDK's spdk_nvme_perf
# over vfio-user instead (SPDK_DIR; its own queue settings, mode "spdk"),
# the client of SPDK's reference figures in bench/README.md.  --base-build
# DIR compares with the nvmfd of another build (an earlier commit) in SPDK's
# place: an A/B of a change, same turns, same table.
#
# The machine is shared and its speed changes within minutes (by up to 2x,
# for every process alike), so the targets take turns case by case: both
# are up, and the one not measured is stopped (SIGSTOP), so that SPDK's
# polling reactor takes no CPU from the other.  Each repetition (-r,
# default 1) starts both afresh, and which goes first alternates by case
# and repetition.  The table shows medians and, with SPDK, nvmfd/SPDK:
# trust ratios within one run, not figures across runs.
#
# Null namespaces move no data on either target: a read leaves the guest's
# buffer as it was (nvmfd still checks the PRPs), so they measure the queues.
# Figures only: nothing here passes or fails.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD=$(cd "$HERE/.." && pwd)/build
SECS=5 REPS=1 MODES=irq,wait,polled JSON=0 CLIENT=nvmf NSES=ram,null BASE=
while [ $# -gt 0 ]; do
	case $1 in
	-t) SECS=$2; shift ;;
	-r) REPS=$2; shift ;;
	--modes) MODES=$2; shift ;;
	--client) CLIENT=$2; shift ;;
	--build-dir) BUILD=$2; shift ;;
	--base-build) BASE=$2; shift ;;
	--ns) NSES=$2; shift ;;
	--json) JSON=1 ;;
	-h|--help) sed -n '2,/^set /{/^#/p}' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "unknown option $1" >&2; exit 2 ;;
	esac
	shift
done
NVMFD=$BUILD/src/nvmfd/nvmfd
NVMF=$BUILD/src/nvmf/nvmf
[ -x "$NVMFD" ] && [ -x "$NVMF" ] || { echo "build first: meson setup $BUILD && ninja -C $BUILD" >&2; exit 1; }
TARGETS=(nvmfd)
if [ -n "${SPDK_DIR:-}" ]; then
	export LD_LIBRARY_PATH="$SPDK_DIR/build/lib:$SPDK_DIR/build/libvfio-user/usr/local/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
if [ -n "$BASE" ]; then
	BASE_NVMFD=$BASE/src/nvmfd/nvmfd
	[ -x "$BASE_NVMFD" ] || { echo "--base-build: no $BASE_NVMFD" >&2; exit 1; }
	TARGETS+=(base)
elif [ -n "${SPDK_DIR:-}" ]; then
	if [ -x "$SPDK_DIR/build/bin/nvmf_tgt" ] && [ -f "$SPDK_DIR/scripts/rpc.py" ]; then
		TARGETS+=(spdk)
	else
		echo "SPDK_DIR lacks build/bin/nvmf_tgt or scripts/rpc.py: nvmfd only" >&2
	fi
fi
if [ "$CLIENT" = spdk ]; then
	[ -x "${SPDK_DIR:-}/build/bin/spdk_nvme_perf" ] || { echo "--client spdk needs SPDK_DIR with build/bin/spdk_nvme_perf" >&2; exit 1; }
	MODES=spdk
elif [ "$CLIENT" != nvmf ]; then
	echo "--client nvmf|spdk" >&2
	exit 2
fi
tmp=$(mktemp -d)
declare -A pids=()
# stop_target NAME: the target ended (woken first: a stopped process takes no SIGTERM).
stop_target() {
	local pid=${pids[$1]:-}
	[ -n "$pid" ] || return 0
	kill -CONT "$pid" 2>/dev/null
	kill "$pid" 2>/dev/null
	for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	unset "pids[$1]"
}
stop_all() { for t in "${!pids[@]}"; do stop_target "$t"; done; }
trap 'stop_all; rm -rf "$tmp"' EXIT
pin0= pin1=
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then pin0="taskset -c 0"; pin1="taskset -c 1"; fi

# Both targets serve $tmp/NAME/{ram,null}/cntrl (the socket name SPDK's initiator looks for).
nqn_of() { if [ "$1" != spdk ]; then echo "nqn.2024-01.io.nvmf:bench-$2"; else echo "nqn.2019-07.io.spdk:$2"; fi; }

# start_target NAME: the target up, with its two sockets; false when it failed.
start_target() {
	local t=$1 d=$tmp/$1
	rm -rf "$d"
	mkdir -p "$d/ram" "$d/null"
	: >"$d/log" # truncated here, not by the background job: no stale "ready" is read
	if [ "$t" != spdk ]; then
		local bin=$NVMFD
		[ "$t" = base ] && bin=$BASE_NVMFD
		$pin0 "$bin" --reactors 1 --listen "vfio-user:$d/ram/cntrl" --subsystem nqn.2024-01.io.nvmf:bench-ram \
			--namespace ram:1G --rpc-socket "$d/rpc.sock" >"$d/log" 2>&1 &
		pids[$t]=$!
		for _ in $(seq 100); do grep -q ready "$d/log" && break; sleep 0.1; done
		grep -q ready "$d/log" || { cat "$d/log" >&2; return 1; }
		r() { "$NVMF" rpc "$1" -s "$d/rpc.sock" "${@:2}"; }
		r nvmf_create_subsystem --nqn nqn.2024-01.io.nvmf:bench-null --allow-any-host true >/dev/null &&
			r bdev_null_create --name null0 --num-blocks 2097152 --block-size 512 >/dev/null &&
			r nvmf_subsystem_add_ns --nqn nqn.2024-01.io.nvmf:bench-null --namespace.bdev-name null0 >/dev/null &&
			r nvmf_subsystem_add_listener --nqn nqn.2024-01.io.nvmf:bench-null \
				--listen-address.trtype VFIOUSER --listen-address.traddr "$d/null/cntrl" >/dev/null || return 1
	else
		$pin0 "$SPDK_DIR/build/bin/nvmf_tgt" -m 0x1 -r "$d/spdk.sock" >"$d/log" 2>&1 &
		pids[$t]=$!
		local rpc=(python3 "$SPDK_DIR/scripts/rpc.py" -s "$d/spdk.sock")
		for _ in $(seq 100); do "${rpc[@]}" spdk_get_version >/dev/null 2>&1 && break; sleep 0.1; done
		"${rpc[@]}" nvmf_create_transport -t VFIOUSER >/dev/null &&
			"${rpc[@]}" bdev_malloc_create -b Malloc0 1024 512 >/dev/null &&
			"${rpc[@]}" bdev_null_create Null0 1024 512 >/dev/null || return 1
		local ns bdev
		for ns in ram null; do
			bdev=Malloc0
			[ $ns = null ] && bdev=Null0
			"${rpc[@]}" nvmf_create_subsystem nqn.2019-07.io.spdk:$ns -a -s SPDK$ns >/dev/null &&
				"${rpc[@]}" nvmf_subsystem_add_ns nqn.2019-07.io.spdk:$ns $bdev >/dev/null &&
				"${rpc[@]}" nvmf_subsystem_add_listener nqn.2019-07.io.spdk:$ns -t VFIOUSER -a "$d/$ns" -s 0 >/dev/null || return 1
		done
	fi
	# Fill the RAM namespace once so reads find data.
	$pin1 "$NVMF" perf "vfio-user:$d/ram/cntrl" -q 32 -o 131072 -w write -n 8192 >/dev/null 2>&1
	kill -STOP "${pids[$t]}"
}

# spdk_perf TARGET NS ARGS...: spdk_nvme_perf's Total line as nvmf perf's JSON fields.
spdk_perf() {
	local t=$1 ns=$2
	shift 2
	"$SPDK_DIR/build/bin/spdk_nvme_perf" -r "trtype:VFIOUSER traddr:$tmp/$t/$ns subnqn:$(nqn_of "$t" "$ns")" \
		"$@" -t "$SECS" -c 0x2 2>/dev/null |
		awk '/^Total/ {printf "{\"iops\": %s, \"mib_per_s\": %s, \"latency_us\": {\"mean\": %s}}\n", $3, $4, $5; ok = 1}
		     END {exit !ok}'
}

CASES=("4k randread QD1|-q 1 -o 4096 -w randread" "4k randread QD32|-q 32 -o 4096 -w randread"
	"4k randwrite QD32|-q 32 -o 4096 -w randwrite" "128k read QD32|-q 32 -o 131072 -w read")
results=$tmp/results
: >"$results"
for ((rep = 0; rep < REPS; rep++)); do
	echo "rep $((rep + 1))/$REPS" >&2
	up=()
	for t in "${TARGETS[@]}"; do
		if start_target "$t"; then up+=("$t"); else echo "$t did not start" >&2; stop_target "$t"; fi
	done
	turn=$rep
	for ns in ${NSES//,/ }; do
		for c in "${CASES[@]}"; do
			name=${c%%|*}
			read -r -a args <<<"${c#*|}"
			for mode in ${MODES//,/ }; do
				order=("${up[@]}")
				[ $((turn % 2)) = 1 ] && [ ${#up[@]} = 2 ] && order=("${up[1]}" "${up[0]}")
				turn=$((turn + 1))
				for t in "${order[@]}"; do
					extra=()
					[ $mode = polled ] && extra=(--polled)
					[ $mode = wait ] && extra=(--wait)
					kill -CONT "${pids[$t]}"
					if [ $mode = spdk ]; then
						out=$(spdk_perf "$t" "$ns" "${args[@]}")
					else
						out=$($pin1 "$NVMF" perf "vfio-user:$tmp/$t/$ns/cntrl" -t "$SECS" --json "${args[@]}" "${extra[@]}" 2>/dev/null)
					fi
					rc=$?
					kill -STOP "${pids[$t]}"
					[ $rc = 0 ] || {
						echo "$t $ns $name $mode: perf failed" >&2
						continue
					}
					python3 -c 'import json,sys; d=json.load(sys.stdin); d.pop("histogram",None); d.update(target=sys.argv[1], ns=sys.argv[2], case=sys.argv[3], mode=sys.argv[4], rep=int(sys.argv[5])); print(json.dumps(d))' \
						"$t" "$ns" "$name" "$mode" "$rep" <<<"$out" >>"$results"
				done
			done
		done
	done
	stop_all
done
[ $JSON = 1 ] && cat "$results"
python3 - "$results" <<'EOF'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    d = json.loads(line)
    rows.setdefault((d["ns"], d["case"], d["mode"]), {}).setdefault(d["target"], []).append(d)
def fig(ds):
    iops = statistics.median(x["iops"] for x in ds)
    mean = statistics.median(x["latency_us"]["mean"] for x in ds)
    mbs = statistics.median(x["mib_per_s"] * 1.048576 for x in ds)
    return iops, mbs, mean
other = next((t for t in ("spdk", "base") if any(t in v for v in rows.values())), None)
label = {"spdk": "SPDK", "base": "base"}.get(other)
print("%-5s %-20s %-7s %11s %10s %8s" % ("ns", "case", "mode", "nvmfd IOPS", "MB/s", "mean us")
      + ("  %11s %10s %8s %6s %6s %6s" % (label + " IOPS", "MB/s", "mean us", "ratio", "paired", "ahead") if other else ""))
def gain(case, a, b):
    # QD1: the ratio of latencies (SPDK/nvmfd: above 1 is nvmfd faster); else of IOPS.
    return b["latency_us"]["mean"] / a["latency_us"]["mean"] if "QD1" in case else a["iops"] / b["iops"]
for (ns, case, mode), v in sorted(rows.items(), key=lambda k: (k[0][0] != "ram", k[0][1], k[0][2])):
    line = "%-5s %-20s %-7s" % (ns, case, mode)
    n = fig(v["nvmfd"]) if "nvmfd" in v else None
    line += " %11.0f %10.1f %8.2f" % n if n else " %11s %10s %8s" % ("-", "-", "-")
    if other:
        s = fig(v[other]) if other in v else None
        line += "  %11.0f %10.1f %8.2f" % s if s else "  %11s %10s %8s" % ("-", "-", "-")
        if n and s:
            line += " %6.2f" % (s[2] / n[2] if "QD1" in case else n[0] / s[0])
            # Each repetition's own ratio (the targets ran back to back), then their median.
            pairs = [gain(case, a, b) for a in v["nvmfd"] for b in v[other] if a["rep"] == b["rep"]]
            line += " %6.2f" % statistics.median(pairs) if pairs else " %6s" % "-"
            line += " %6s" % ("%d/%d" % (sum(p > 1 for p in pairs), len(pairs)) if pairs else "-")
    print(line)
print("(medians of the repetitions; ratio > 1: nvmfd ahead. QD1 compares mean latency.")
print(" paired: the median of each repetition's own ratio, robust to the machine's changes of speed;")
print(" ahead: the repetitions in which nvmfd was ahead. With --base-build, nvmfd is this build, base the other.)")
EOF
