#!/usr/bin/env bash
# vfio-user-bench.sh: nvmfd as a vfio-user NVMe controller, driven by
# `nvmf perf` over vfio-user (the host library's PCIe driver).
#
#   bash bench/vfio-user-bench.sh [-t SECONDS] [--build-dir DIR] [--json]
#
# nvmfd runs with one reactor pinned to CPU 0, nvmf perf pinned to CPU 1, on
# a RAM and a null namespace (one vfio-user socket each, in a temporary
# directory).  Cases: 4 KiB randread QD1 (latency), 4 KiB randread QD32,
# 4 KiB randwrite QD32, 128 KiB read QD32; each with interrupts (the client
# spinning on its CQ: irq), with interrupts the client sleeps on (--wait: wait)
# and with polled I/O queues (polled).  The reference is SPDK's vfio-user target on this
# machine: QD1 1.29 us, QD32 1.40M IOPS, randwrite QD32 2.02M, 128 KiB 26.9 GB/s.
# Figures only: nothing here passes or fails.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD=$(cd "$HERE/.." && pwd)/build
SECS=5
JSON=0
while [ $# -gt 0 ]; do
	case $1 in
	-t) SECS=$2; shift ;;
	--build-dir) BUILD=$2; shift ;;
	--json) JSON=1 ;;
	-h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "unknown option $1" >&2; exit 2 ;;
	esac
	shift
done
NVMFD=$BUILD/src/nvmfd/nvmfd
NVMF=$BUILD/src/nvmf/nvmf
[ -x "$NVMFD" ] && [ -x "$NVMF" ] || { echo "build first: meson setup $BUILD && ninja -C $BUILD" >&2; exit 1; }
tmp=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill $pid 2>/dev/null && wait $pid 2>/dev/null; rm -rf "$tmp"' EXIT
pin0= pin1=
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then pin0="taskset -c 0"; pin1="taskset -c 1"; fi
: >"$tmp/nvmfd.log" # truncated here, not by the background job: no stale "ready" is read
$pin0 "$NVMFD" --reactors 1 --listen "vfio-user:$tmp/ram.sock" --subsystem nqn.2024-01.io.nvmf:bench-ram --namespace ram:1G \
	--rpc-socket "$tmp/rpc.sock" >"$tmp/nvmfd.log" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q ready "$tmp/nvmfd.log" && break; sleep 0.1; done
grep -q ready "$tmp/nvmfd.log" || { cat "$tmp/nvmfd.log"; exit 1; }
# A second subsystem on a null namespace, its own socket.
"$NVMF" rpc nvmf_create_subsystem -s "$tmp/rpc.sock" --nqn nqn.2024-01.io.nvmf:bench-null --allow-any-host true >/dev/null &&
	"$NVMF" rpc bdev_null_create -s "$tmp/rpc.sock" --name null0 --num-blocks 2097152 --block-size 512 >/dev/null &&
	"$NVMF" rpc nvmf_subsystem_add_ns -s "$tmp/rpc.sock" --nqn nqn.2024-01.io.nvmf:bench-null --namespace.bdev-name null0 >/dev/null &&
	"$NVMF" rpc nvmf_subsystem_add_listener -s "$tmp/rpc.sock" --nqn nqn.2024-01.io.nvmf:bench-null \
		--listen-address.trtype VFIOUSER --listen-address.traddr "$tmp/null.sock" >/dev/null ||
	echo "(no null namespace: the RPC calls failed)" >&2
# Fill the RAM namespace once so reads find data.
$pin1 "$NVMF" perf "vfio-user:$tmp/ram.sock" -q 32 -o 131072 -w write -n 8192 >/dev/null 2>&1

printf "%-6s %-28s %-8s %12s %10s %9s %9s %9s\n" ns case queues IOPS MB/s "mean us" "p50 us" "p99 us"
run() { # ns case-name perf-args...
	local ns=$1 name=$2
	shift 2
	[ -S "$tmp/$ns.sock" ] || return
	for mode in irq wait polled; do
		local extra=()
		[ $mode = polled ] && extra=(--polled)
		[ $mode = wait ] && extra=(--wait)
		local out
		out=$($pin1 "$NVMF" perf "vfio-user:$tmp/$ns.sock" -t "$SECS" --json "$@" "${extra[@]}" 2>/dev/null) || {
			echo "$ns $name $mode: perf failed" >&2
			continue
		}
		[ $JSON = 1 ] && python3 -c 'import json,sys; d=json.load(sys.stdin); d.pop("histogram",None); d["case"]=sys.argv[1]; d["ns"]=sys.argv[2]; d["mode"]=sys.argv[3]; print(json.dumps(d))' "$name" "$ns" "$mode" <<<"$out"
		python3 -c '
import json,sys
d=json.load(sys.stdin); l=d["latency_us"]
print("%-6s %-28s %-8s %12.0f %10.1f %9.2f %9.2f %9.2f" % (sys.argv[1], sys.argv[2], sys.argv[3], d["iops"], d["mib_per_s"]*1.048576, l["mean"], l["p50"], l["p99"]))
' "$ns" "$name" "$mode" <<<"$out"
	done
}
for ns in ram null; do
	run $ns "4k randread QD1" -q 1 -o 4096 -w randread
	run $ns "4k randread QD32" -q 32 -o 4096 -w randread
	run $ns "4k randwrite QD32" -q 32 -o 4096 -w randwrite
	run $ns "128k read QD32" -q 32 -o 131072 -w read
done
echo "SPDK vfio-user target on this machine: QD1 1.29 us, QD32 1.40M IOPS, randwrite QD32 2.02M, 128 KiB 26.9 GB/s"
