#!/usr/bin/env bash
# ceph-bench.sh: 4 KiB random read and write at queue depth 32 through one
# nvmfd gateway on RBD (nvmf perf over loopback NVMe/TCP) next to `rbd bench`
# (librbd directly, with its cache off as in the gateway, so that both
# acknowledge a write once the OSD has it) on the same one-node cluster in
# the same run; prints
# IOPS for each and the gateway's ratio (goal: >= 0.9x librbd's), and the CPU
# time per I/O of each side: all CPUs, the OSDs, and nvmfd (the gateway with
# its librbd threads).
#
#   bash bench/ceph-bench.sh [-t SECONDS] [-r ROUNDS] [--osds N] [--size SIZE] [--build-dir DIR] [-- NVMFD_FLAGS...]
#
# A memstore OSD slows down as a run goes on (random 4 KiB overwrites cost it
# more and more: the same load falls from 8k to 4k write IOPS within a
# minute), so whichever runs first would win.  Each round therefore runs
# librbd, gateway, gateway, librbd (ABBA; -t seconds each) and the table shows
# the mean of each side over all rounds (-r, default 2), which cancels a
# steady drift, and (paired) the median of each round's own ratio.  Before the write rounds, one librbd write run (not counted)
# takes the OSD past its fastest, fresh first minute.
#
# nvmfd runs with one reactor, pinned to CPU 0 as SPDK's reactors are,
# that sleeps as soon as it has no work (--reactor-cpus 0 --poll-spin-us 0:
# the machine's two CPUs also run the mon, the OSD, librbd's threads and
# nvmf perf, all unpinned); flags after -- replace these.
#
# The cluster comes from scripts/ceph-cluster.sh (memstore OSDs: keep --size
# small; it is written in full before the read cases).  Prints; asserts nothing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
secs=10 rounds=2 osds=1 size=256M build=$top/build port=15750
gw_flags=(--reactor-cpus 0 --poll-spin-us 0)
while [ $# -gt 0 ]; do
	case $1 in
	-t) secs=$2; shift 2 ;;
	-r) rounds=$2; shift 2 ;;
	--osds) osds=$2; shift 2 ;;
	--size) size=$2; shift 2 ;;
	--build-dir) build=$2; shift 2 ;;
	--) shift; gw_flags=("$@"); break ;;
	*) sed -n '2,27p' "$0"; exit 2 ;;
	esac
done
work=$(mktemp -d /tmp/nvmf-ceph-bench.XXXXXX)
cluster=$work/cluster
gw=
cleanup() {
	[ -n "$gw" ] && kill "$gw" 2>/dev/null && wait "$gw" 2>/dev/null
	[ -f "$cluster/ceph.conf" ] && bash "$top/scripts/ceph-cluster.sh" stop "$cluster"
	rm -rf "$work"
}
trap cleanup EXIT
bash "$top/scripts/ceph-cluster.sh" start "$cluster" --osds "$osds" --size "$size" >&2
conf=$cluster/ceph.conf
nqn=nqn.2024-01.io.nvmf:bench
# Fill the image so that reads hit stored objects.
rbd -c "$conf" bench --io-type write --io-pattern seq --io-size 4M --io-threads 4 --io-total "$size" rbd/img >/dev/null

# rbd bench IO_TYPE: "IOPS I/Os" over about $secs seconds (io-total sized from a short
# probe, whose I/Os count in the second figure, as its CPU time counts in measure's).
rbd_iops() {
	local probe probe_ios total
	read -r probe probe_ios < <(rbd -c "$conf" --rbd_cache=false bench --io-type "$1" --io-pattern rand --io-size 4K \
		--io-threads 32 --io-total 8M rbd/img | awk '/^elapsed:/ {print $6, $4}')
	total=$(awk -v p="${probe:-1000}" -v s="$secs" 'BEGIN {n = int(p * s * 4096); if (n < 8388608) n = 8388608; print n}')
	rbd -c "$conf" --rbd_cache=false bench --io-type "$1" --io-pattern rand --io-size 4K --io-threads 32 --io-total "$total" rbd/img \
		| awk -v pre="${probe_ios:-0}" '/^elapsed:/ {printf "%.0f %d\n", $6, $4 + pre}'
}

: >"$work/nvmfd.log" # truncated here, not by the background job: no stale "ready" is read
"$build/src/nvmfd/nvmfd" --listen 127.0.0.1:$port --rpc-socket "$work/rpc.sock" --subsystem $nqn \
	--namespace "rbd:rbd/img@$conf" "${gw_flags[@]}" >"$work/nvmfd.log" 2>&1 &
gw=$!
for _ in $(seq 1 100); do grep -q "nvmfd: ready" "$work/nvmfd.log" 2>/dev/null && break; sleep 0.1; done
# gw_iops WORKLOAD: "IOPS I/Os" through the gateway.
gw_iops() {
	# --wait: like rbd bench, the client sleeps between completions rather than spin on a
	# CPU the OSD and the gateway need.
	"$build/src/nvmf/nvmf" perf "tcp://127.0.0.1:$port/$nqn" -q 32 -o 4096 -w "$1" -t "$secs" --wait --json 2>/dev/null \
		| python3 -c 'import json,sys; d=json.load(sys.stdin); print(round(d["iops"]), d["ios"])'
}

hz=$(getconf CLK_TCK)
osd_pids=$(cat "$cluster"/pids/osd.*.pid)
proc_ticks() { # PID...: their user + system CPU ticks
	local sum=0 p
	for p in "$@"; do sum=$((sum + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0))); done
	echo "$sum"
}
busy_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8}' /proc/stat; } # all CPUs, not idle or stolen
# measure SIDE CMD...: run CMD (it prints "IOPS I/Os"), print the IOPS, and add a line
# "I/Os OSD-ticks nvmfd-ticks all-ticks" for the run to $work/cpu.SIDE.
measure() {
	local side=$1 o0 g0 b0 out
	shift
	o0=$(proc_ticks $osd_pids) g0=$(proc_ticks "$gw") b0=$(busy_ticks)
	out=$("$@")
	echo "${out#* } $(($(proc_ticks $osd_pids) - o0)) $(($(proc_ticks "$gw") - g0)) $(($(busy_ticks) - b0))" >>"$work/cpu.$side"
	echo "${out%% *}"
}
# per_io SIDE: "all A us, OSD O us, nvmfd N us" of CPU per I/O over the lines of $work/cpu.SIDE.
per_io() {
	awk -v hz="$hz" -v side="$1" '{n += $1; o += $2; g += $3; b += $4}
		END {f = 1e6 / hz / (n ? n : 1); printf "all %.1f us, OSD %.1f us", b * f, o * f
		     if (side == "gw") printf ", nvmfd %.1f us", g * f}' "$work/cpu.$1"
}

printf '%-10s %12s %12s %8s %7s   %s\n' case librbd gateway ratio paired "runs in order (librbd/gateway)"
for w in randread randwrite; do
	t=${w#rand}
	libs=() gws=() pairs=() order=""
	: >"$work/cpu.lib"
	: >"$work/cpu.gw"
	[ "$t" = write ] && rbd_iops write >/dev/null
	for ((r = 0; r < rounds; r++)); do
		a=$(measure lib rbd_iops "$t"); b=$(measure gw gw_iops "$w")
		c=$(measure gw gw_iops "$w"); d=$(measure lib rbd_iops "$t")
		libs+=("$a" "$d"); gws+=("$b" "$c"); order+="$a/$b/$c/$d "
		pairs+=("$(awk -v a="$a" -v b="$b" -v c="$c" -v d="$d" 'BEGIN {printf "%.4f", (b + c) / (a + d)}')")
	done
	lib=$(printf '%s\n' "${libs[@]}" | awk '{s += $1} END {printf "%.0f", s / NR}')
	g=$(printf '%s\n' "${gws[@]}" | awk '{s += $1} END {printf "%.0f", s / NR}')
	# paired: the median over rounds of each round's own ratio, which a slow spell of
	# the machine during one round moves less than the means.
	paired=$(printf '%s\n' "${pairs[@]}" | sort -g | awk '{v[NR] = $1} END {m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.2fx", m}')
	printf '%-10s %12s %12s %8s %7s   %s\n' "$w" "$lib" "$g" "$(awk -v a="$g" -v b="$lib" 'BEGIN {printf "%.2fx", a / b}')" "$paired" "$order"
	echo "  CPU per I/O: librbd $(per_io lib); gateway $(per_io gw)"
done
echo "(4 KiB, QD32, $osds memstore OSD(s), ${rounds} ABBA round(s) of ${secs} s runs, nvmfd ${gw_flags[*]}; goal: gateway >= 0.9x librbd)"
