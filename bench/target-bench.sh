#!/usr/bin/env bash
# target-bench.sh: benchmark the nvmfd target daemon over loopback NVMe/TCP.
#
#   bash bench/target-bench.sh [-t SECONDS] [--quick] [--json] [options]
#
# nvmfd runs pinned to CPU 0 with one reactor, `nvmf perf` pinned to CPU 1,
# on a null and a RAM namespace.  For each case: IOPS, MiB/s, mean/p50/p99/
# p99.9 latency, the target's CPU per I/O (sum of /proc/PID/task/*/schedstat
# over the run), the tool's CPU per I/O; then the target's CPU while idle
# (no connection; a connected host that sends nothing) and the loopback TCP
# ping-pong (bench/pingpong) as the yardstick, and the issue's goals with a
# ratio each.  See bench/README.md.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)

usage() {
	cat <<EOF
usage: $0 [-t SECONDS] [--quick] [-r N] [--json] [--build-dir DIR] [--buildtype TYPE]
          [--no-build] [--port N] [--idle SECONDS] [--ram-size SIZE]
  -t SECONDS       seconds per case (default 5)
  --quick          1 s per case, fewer cases (null: QD1, QD32, QD32+digests, 128K seq; RAM: QD32)
  --json           JSON lines on stdout (one object per case, idle figure, ping-pong mode, goal);
                   the readable table then goes to stderr
  --build-dir DIR  build directory this script owns (default: build-bench at the repository root)
  --buildtype T    meson buildtype when the build directory is created (default: the project's,
                   debugoptimized)
  --no-build       use the build directory as it is
  --port N         first TCP port to try (default 44200; the next free one up to N+99 is used)
  --idle SECONDS   length of each idle measurement (default 5; --quick: 2)
  --ram-size SIZE  RAM namespace size (default 1G; it is written once before the RAM cases)
  -r N             sweep the cases N times and report each case's best run (highest IOPS; every
                   run is in the JSON lines): on a shared machine, the one least disturbed
  --settle SECONDS before each case (and the ping-pong), wait up to this long for CPUs 0 and 1 to be
                   under 10 % busy for half a second (default 0: do not wait; NOISY flags the cases)
  --nice N         run nvmfd, nvmf perf and pingpong under nice -n N (e.g. -5: less noise from
                   other work on a shared machine, which then gets less CPU)
  --report DIR     only print the report of an earlier run's raw outputs
Raw outputs (nvmfd log, each nvmf perf JSON) stay in BUILD/target-bench/<time>/ (the last 10 runs).
EOF
}

SECONDS_PER_CASE=5
QUICK=0
JSON=0
BUILD="$ROOT/build-bench"
BUILDTYPE=""
DO_BUILD=1
PORT0=44200
IDLE_S=""
RAM_SIZE=1G
REPORT_DIR=""
SETTLE=0
NICE=""
REPEAT=1
REP=1
while [ $# -gt 0 ]; do
	case "$1" in
	-t) SECONDS_PER_CASE=${2:?-t wants seconds}; shift ;;
	--quick) QUICK=1 ;;
	--json) JSON=1 ;;
	--build-dir) BUILD=${2:?}; shift ;;
	--buildtype) BUILDTYPE=${2:?}; shift ;;
	--no-build) DO_BUILD=0 ;;
	--port) PORT0=${2:?}; shift ;;
	--idle) IDLE_S=${2:?}; shift ;;
	--ram-size) RAM_SIZE=${2:?}; shift ;;
	--report) REPORT_DIR=${2:?}; shift ;;
	--settle) SETTLE=${2:?}; shift ;;
	-r|--repeat) REPEAT=${2:?}; shift ;;
	--nice) NICE=${2:?}; shift ;;
	-h|--help) usage; exit 0 ;;
	*) echo "target-bench: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
	esac
	shift
done
[ "$QUICK" = 1 ] && SECONDS_PER_CASE=1
[ -n "$IDLE_S" ] || IDLE_S=$([ "$QUICK" = 1 ] && echo 2 || echo 5)
case "$SECONDS_PER_CASE" in ''|*[!0-9]*|0) echo "target-bench: -t wants a whole number of seconds >= 1" >&2; exit 2 ;; esac
case "$REPEAT" in ''|*[!0-9]*|0) echo "target-bench: -r wants a count >= 1" >&2; exit 2 ;; esac
case "$SETTLE" in ''|*[!0-9]*) echo "target-bench: --settle wants whole seconds" >&2; exit 2 ;; esac
case "$NICE" in ''|-[0-9]|-1[0-9]|[0-9]|1[0-9]) ;; *) echo "target-bench: --nice wants -19..19" >&2; exit 2 ;; esac
case "$IDLE_S" in ''|*[!0-9]*|0) echo "target-bench: --idle wants a whole number of seconds >= 1" >&2; exit 2 ;; esac
[ "$SECONDS_PER_CASE" -le 600 ] || { echo "target-bench: -t is at most 600" >&2; exit 2; }

# Human-readable output: stdout, or stderr when stdout carries JSON lines.
if [ "$JSON" = 1 ]; then exec 3>&2; else exec 3>&1; fi
say() { printf '%s\n' "$*" >&3; }
die() { printf 'target-bench: %s\n' "$*" >&2; exit 1; }

PY=$(command -v python3) || die "python3 is needed (meson needs it too)"
command -v taskset >/dev/null || die "taskset is needed (util-linux)"

TGT_PID=""
HOST_PID=""
BTYPE="?"
if [ -n "$REPORT_DIR" ]; then
	[ -d "$REPORT_DIR" ] || die "no directory $REPORT_DIR"
	OUT=$REPORT_DIR
	[ -f "$OUT/buildtype" ] && BTYPE=$(cat "$OUT/buildtype")
else # the run, down to the report

# --- CPUs -------------------------------------------------------------------
TGT_CPU=0
TOOL_CPU=1
"$PY" -c 'import os,sys; a=os.sched_getaffinity(0); sys.exit(0 if {0,1} <= a else 1)' ||
	die "CPUs 0 and 1 must both be usable (taskset -c 0 / -c 1)"

# --- build ------------------------------------------------------------------
NVMFD="$BUILD/src/nvmfd/nvmfd"
NVMF="$BUILD/src/nvmf/nvmf"
PINGPONG="$BUILD/bench/pingpong"
if [ "$DO_BUILD" = 1 ]; then
	if [ ! -f "$BUILD/build.ninja" ]; then
		say "target-bench: meson setup $BUILD${BUILDTYPE:+ -Dbuildtype=$BUILDTYPE}"
		timeout 300 meson setup "$BUILD" "$ROOT" ${BUILDTYPE:+-Dbuildtype=$BUILDTYPE} >"$BUILD.setup.log" 2>&1 ||
			{ tail -20 "$BUILD.setup.log" >&2; die "meson setup failed (log: $BUILD.setup.log)"; }
		rm -f "$BUILD.setup.log"
	fi
	# Only the three programs: the rest of the tree may be mid-edit.
	timeout 600 ninja -C "$BUILD" src/nvmfd/nvmfd src/nvmf/nvmf bench/pingpong >"$BUILD/target-bench.ninja.log" 2>&1 ||
		{ tail -30 "$BUILD/target-bench.ninja.log" >&2; die "build failed (log: $BUILD/target-bench.ninja.log)"; }
fi
for b in "$NVMFD" "$NVMF" "$PINGPONG"; do [ -x "$b" ] || die "missing $b (build it, or drop --no-build)"; done
BTYPE=$(meson introspect --buildoptions "$BUILD" 2>/dev/null |
	"$PY" -c 'import json,sys; print(next((o["value"] for o in json.load(sys.stdin) if o["name"]=="buildtype"),"?"))' 2>/dev/null || echo "?")

OUT="$BUILD/target-bench/$(date -u +%Y%m%dT%H%M%SZ)-$$"
mkdir -p "$OUT" || die "cannot create $OUT"
echo "$BTYPE" >"$OUT/buildtype"
echo "$SECONDS_PER_CASE" >"$OUT/seconds"
echo "${NICE:-0}" >"$OUT/nice"
echo "$REPEAT" >"$OUT/repeat"
# Keep the last 10 runs' raw outputs.
ls -1d "$BUILD"/target-bench/*/ 2>/dev/null | sort | head -n -10 | while read -r d; do rm -rf "$d"; done

# --- processes: only the PIDs started here ----------------------------------
stop_pid() { # pid: TERM, wait up to 3 s, then KILL
	local pid=$1
	[ -n "$pid" ] || return 0
	kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
	kill -CONT "$pid" 2>/dev/null
	kill -TERM "$pid" 2>/dev/null
	for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}
cleanup() {
	stop_pid "$HOST_PID"; HOST_PID=""
	stop_pid "$TGT_PID"; TGT_PID=""
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- measurement helpers ----------------------------------------------------
now_ns() { date +%s%N; }
# "cpu_ns runs ticks wait_ns reads" of process $1: schedstat (ns on CPU, timeslices, ns waiting
# for a CPU) summed over its threads, utime+stime from /proc/PID/stat (clock ticks, includes
# threads that exited), and read() system calls (syscr in /proc/PID/io: the socket reads).
proc_cpu() {
	local pid=$1 sum=0 runs=0 wait=0 a b c f ticks reads
	for f in /proc/"$pid"/task/*/schedstat; do
		read -r a b c <"$f" 2>/dev/null || continue
		sum=$((sum + a)); wait=$((wait + b)); runs=$((runs + c))
	done
	ticks=$(sed 's/^.*) //' /proc/"$pid"/stat 2>/dev/null | awk '{print $12 + $13}')
	reads=$(awk '$1 == "syscr:" {print $2}' /proc/"$pid"/io 2>/dev/null)
	echo "$sum $runs ${ticks:-0} $wait ${reads:-0}"
}
# "busy0 total0 busy1 total1" for CPUs 0 and 1 from /proc/stat (clock ticks; busy counts steal).
cpus_stat() {
	awk '$1 == "cpu0" || $1 == "cpu1" { b = $2 + $3 + $4 + $7 + $8 + $9; t = b + $5 + $6; printf "%d %d ", b, t }' /proc/stat
}
# CPU speed probe: GB/s of `dd if=/dev/zero of=/dev/null` (the kernel zeroing a 64 KiB buffer,
# about 30 ms) on CPU $1.  A vCPU whose physical core is shared with someone else's work on the
# host runs slower without any of it showing in /proc/stat: this catches it.
cpu_probe() {
	LC_ALL=C taskset -c "$1" dd if=/dev/zero of=/dev/null bs=64k count=16384 2>&1 |
		awk '/copied/ { for (i = 1; i <= NF; i++) if ($i == "s,") t = $(i - 1); if (t > 0) printf "%.2f", 1073741824 / t / 1e9 }'
}
probes() { echo "$(cpu_probe "$TGT_CPU") $(cpu_probe "$TOOL_CPU")"; }
# Machine-wide TCP counters "RetransSegs TCPTimeouts TCPLossProbes PruneCalled TCPOFOQueue": a
# loopback segment dropped (receive buffer full, pruned) costs a retransmission timeout, a tail
# latency of 200 ms or more.  Machine-wide: other people's traffic counts too.
tcp_counters() {
	awk 'function grab(hdr, val, names,   n, i, h, v) { n = split(hdr, h); split(val, v); for (i = 2; i <= n; i++) if (h[i] in names) out[h[i]] = v[i] }
	     BEGIN { want["RetransSegs"]; want["TCPTimeouts"]; want["TCPLossProbes"]; want["PruneCalled"]; want["TCPOFOQueue"] }
	     { if (prev_key == $1) grab(prev, $0, want); prev = $0; prev_key = $1 }
	     END { printf "%d %d %d %d %d", out["RetransSegs"], out["TCPTimeouts"], out["TCPLossProbes"], out["PruneCalled"], out["TCPOFOQueue"] }' \
		/proc/net/snmp /proc/net/netstat 2>/dev/null
}
# Per-thread "name:cpu_ns:runs" list, for the idle breakdown.
thread_cpu() {
	local pid=$1 t a b c n out=""
	for t in /proc/"$pid"/task/*; do
		read -r a b c <"$t/schedstat" 2>/dev/null || continue
		n=$(tr -d ' :' <"$t/comm" 2>/dev/null)
		out="$out ${n:-?}:$a:$c"
	done
	echo "$out"
}
port_free() { # listening socket or connection on 127.0.0.1:$1?
	if command -v ss >/dev/null; then
		[ -z "$(ss -Htan "( sport = :$1 )" 2>/dev/null)" ]
	else
		! (exec 9<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null
	fi
}

# Prefix for our programs: nice when asked.
RUN=()
[ -n "$NICE" ] && RUN=(nice -n "$NICE")
# settle: wait up to SETTLE s for CPUs 0 and 1 to be < 10 % busy over 0.5 s.
settle() {
	[ "$SETTLE" -gt 0 ] || return 0
	local deadline=$(( $(date +%s) + SETTLE )) a b
	while :; do
		a=$(cpus_stat); sleep 0.5; b=$(cpus_stat)
		# shellcheck disable=SC2086
		set -- $a $b
		[ $(( ($5 - $1) * 100 < ($6 - $2) * 10 && ($7 - $3) * 100 < ($8 - $4) * 10 )) = 1 ] && return 0
		[ "$(date +%s)" -lt "$deadline" ] || { say "    (machine still busy after ${SETTLE} s: running anyway)"; return 0; }
	done
}

NQN_NULL="nqn.2024-01.io.nvmf:bench-null"
NQN_RAM="nqn.2024-01.io.nvmf:bench-ram"
PORT=""
start_target() {
	local p tries=0
	for ((p = PORT0; p < PORT0 + 100 && tries < 5; p++)); do
		port_free "$p" || continue
		tries=$((tries + 1))
		: >"$OUT/nvmfd.log"
		"${RUN[@]}" taskset -c "$TGT_CPU" "$NVMFD" --listen "127.0.0.1:$p" --reactors 1 \
			--subsystem "$NQN_NULL" --namespace null:1G \
			--subsystem "$NQN_RAM" --namespace "ram:$RAM_SIZE" >>"$OUT/nvmfd.log" 2>&1 &
		TGT_PID=$!
		for _ in $(seq 100); do
			grep -q '^nvmfd: ready' "$OUT/nvmfd.log" && { PORT=$p; return 0; }
			kill -0 "$TGT_PID" 2>/dev/null || break
			sleep 0.05
		done
		stop_pid "$TGT_PID"; TGT_PID=""
		say "target-bench: nvmfd did not start on port $p: $(tail -1 "$OUT/nvmfd.log")"
	done
	return 1
}
target_alive() { [ -n "$TGT_PID" ] && kill -0 "$TGT_PID" 2>/dev/null; }
addr() { echo "tcp://127.0.0.1:$PORT/$1"; }

RAM_FILLED=0
prefill_ram() {
	# Untouched RAM pages read as the shared zero page: write the whole namespace once.
	local bytes n
	bytes=$("$PY" -c 'import sys; s=sys.argv[1]; m={"k":1<<10,"m":1<<20,"g":1<<30}; print(int(s[:-1])*m[s[-1].lower()] if s[-1].lower() in m else int(s))' "$RAM_SIZE")
	n=$((bytes / 131072))
	say "target-bench: writing the RAM namespace once ($RAM_SIZE, $n x 128 KiB)"
	timeout 120 "${RUN[@]}" taskset -c "$TOOL_CPU" "$NVMF" perf -q 16 -o 128k -w write -n "$n" --json "$(addr "$NQN_RAM")" \
		>"$OUT/prefill.json" 2>"$OUT/prefill.err" && RAM_FILLED=1 ||
		say "target-bench: RAM prefill failed: $(tail -1 "$OUT/prefill.err")"
}

# run_case NS NAME WORKLOAD SIZE QD DIGEST(0|1)
run_case() {
	local ns=$1 name=$2 wl=$3 size=$4 qd=$5 dg=$6 nqn base rc c0 c1 t0 t1
	nqn=$([ "$ns" = null ] && echo "$NQN_NULL" || echo "$NQN_RAM")
	base="$OUT/case-$ns-$name.r$REP"
	if ! target_alive; then
		say "target-bench: nvmfd is gone (see below); restarting it"
		tail -5 "$OUT/nvmfd.log" >&3
		wait "$TGT_PID" 2>/dev/null; TGT_PID=""
		start_target || die "cannot restart nvmfd"
		RAM_FILLED=0
	fi
	[ "$ns" = ram ] && [ "$RAM_FILLED" = 0 ] && prefill_ram
	local dgflags=()
	[ "$dg" = 1 ] && dgflags=(--hdgst --ddgst)
	say "  $ns $name: nvmf perf -w $wl -o $size -q $qd ${dgflags[*]} -t $SECONDS_PER_CASE"
	local r0 k0 w0 r1 k1 w1 s0 s1 y0 y1 p0 p1 n0 n1
	settle
	p0=$(probes)
	n0=$(tcp_counters)
	s0=$(cpus_stat)
	read -r c0 r0 k0 w0 y0 <<<"$(proc_cpu "$TGT_PID")"
	t0=$(now_ns)
	timeout $((SECONDS_PER_CASE + 30)) "${RUN[@]}" taskset -c "$TOOL_CPU" "$NVMF" perf -q "$qd" -o "$size" -w "$wl" \
		-t "$SECONDS_PER_CASE" "${dgflags[@]}" --json "$(addr "$nqn")" >"$base.json" 2>"$base.err"
	rc=$?
	t1=$(now_ns)
	read -r c1 r1 k1 w1 y1 <<<"$(proc_cpu "$TGT_PID" 2>/dev/null || echo "0 0 0 0 0")"
	s1=$(cpus_stat)
	n1=$(tcp_counters)
	p1=$(probes)
	[ "$rc" = 0 ] || say "    failed (exit $rc): $(grep -v '^\[' "$base.err" | tail -2 | tr '\n' ' ')"
	printf '{"ns":"%s","case":"%s","workload":"%s","io_size":"%s","qd":%s,"digests":%s,"rc":%s,"tgt_cpu_ns":%s,"tgt_runs":%s,"tgt_ticks":%s,"tgt_wait_ns":%s,"tgt_reads":%s,"wall_ns":%s,"cpus_before":"%s","cpus_after":"%s","probe_before":"%s","probe_after":"%s","tcp_before":"%s","tcp_after":"%s"}\n' \
		"$ns" "$name" "$wl" "$size" "$qd" "$([ "$dg" = 1 ] && echo true || echo false)" "$rc" \
		"$((c1 - c0))" "$((r1 - r0))" "$((k1 - k0))" "$((w1 - w0))" "$((y1 - y0))" "$((t1 - t0))" "$s0" "$s1" "$p0" "$p1" "$n0" "$n1" >"$base.meta"
}

# idle_measure LABEL: the target's CPU over IDLE_S seconds as it is now.
idle_measure() {
	local label=$1 c0 c1 r0 r1 k0 k1 w0 w1 t0 t1 th0 th1 s0 s1
	s0=$(cpus_stat)
	read -r c0 r0 k0 w0 _ <<<"$(proc_cpu "$TGT_PID")"
	th0=$(thread_cpu "$TGT_PID")
	t0=$(now_ns)
	sleep "$IDLE_S"
	read -r c1 r1 k1 w1 _ <<<"$(proc_cpu "$TGT_PID")"
	th1=$(thread_cpu "$TGT_PID")
	t1=$(now_ns)
	s1=$(cpus_stat)
	printf '{"idle":"%s","tgt_cpu_ns":%s,"tgt_runs":%s,"tgt_ticks":%s,"tgt_wait_ns":%s,"wall_ns":%s,"threads_before":"%s","threads_after":"%s","cpus_before":"%s","cpus_after":"%s"}\n' \
		"$label" "$((c1 - c0))" "$((r1 - r0))" "$((k1 - k0))" "$((w1 - w0))" "$((t1 - t0))" "$th0" "$th1" "$s0" "$s1" >"$OUT/idle-$label.meta"
}

# --- the run ----------------------------------------------------------------
if [ "$QUICK" = 1 ]; then
	CASES=(
		"null rr4k-qd1 randread 4096 1 0"
		"null rr4k-qd32 randread 4096 32 0"
		"null rr4k-qd32-dgst randread 4096 32 1"
		"null sr128k-qd16 read 131072 16 0"
		"ram rr4k-qd32 randread 4096 32 0"
	)
	PP_T=0.5
else
	CASES=()
	for ns in null ram; do
		CASES+=(
			"$ns rr4k-qd1 randread 4096 1 0"
			"$ns rr4k-qd32 randread 4096 32 0"
			"$ns rr4k-qd128 randread 4096 128 0"
			"$ns rw4k-qd32 randwrite 4096 32 0"
			"$ns sr128k-qd16 read 131072 16 0"
			"$ns rr4k-qd32-dgst randread 4096 32 1"
		)
	done
	PP_T=2
fi
EST=$(( REPEAT * (${#CASES[@]} * (SECONDS_PER_CASE + 1 + SETTLE) + 4 * ${PP_T%.*}) + 2 * IDLE_S + 10 ))
say "target-bench: $(date -u +%FT%TZ) $(uname -r), $(nproc) CPUs; build $BUILD ($BTYPE)"
say "target-bench: nvmfd on CPU $TGT_CPU (--reactors 1), nvmf perf on CPU $TOOL_CPU; ${#CASES[@]} cases x ${REPEAT} x ${SECONDS_PER_CASE} s, about ${EST} s in all"

# 1. Ping-pong first, alone on the machine (it pins its server to CPU 0, client to CPU 1).
# Background load on CPUs 0 and 1 with nothing of ours running: this machine is shared.
BG0=$(cpus_stat); sleep 1; BG1=$(cpus_stat)
printf '{"cpus_before":"%s","cpus_after":"%s"}\n' "$BG0" "$BG1" >"$OUT/background.meta"
say "target-bench: loopback ping-pong (bench/pingpong -t $PP_T)"
for ((REP = 1; REP <= REPEAT; REP++)); do
	settle
	pp0=$(probes)
	timeout 120 "${RUN[@]}" "$PINGPONG" -t "$PP_T" --json >"$OUT/pingpong.r$REP.json" 2>"$OUT/pingpong.err" ||
		say "target-bench: pingpong failed: $(tail -1 "$OUT/pingpong.err")"
	printf '{"probe_before":"%s","probe_after":"%s"}\n' "$pp0" "$(probes)" >"$OUT/pingpong.r$REP.meta"
done

# 2. The target, idle with no connection (after a settling second).
start_target || die "nvmfd did not start (log: $OUT/nvmfd.log)"
say "target-bench: nvmfd pid $TGT_PID on 127.0.0.1:$PORT; idle, no connection (${IDLE_S} s)"
sleep 1
idle_measure no-conn

# 3. Idle with a connected host: an nvmf perf at QD1, stopped (SIGSTOP) once connected.
say "target-bench: idle with a connected host that sends nothing (${IDLE_S} s)"
"${RUN[@]}" taskset -c "$TOOL_CPU" "$NVMF" perf --keep-alive-tmo 120 -q 1 -o 4096 -w randread -t $((IDLE_S + 4)) \
	"$(addr "$NQN_NULL")" >"$OUT/idle-host.out" 2>"$OUT/idle-host.err" &
HOST_PID=$!
connected=0
for _ in $(seq 100); do
	grep -q '^\[' "$OUT/idle-host.err" 2>/dev/null && { connected=1; break; } # first progress line: I/O flowing
	kill -0 "$HOST_PID" 2>/dev/null || break
	sleep 0.05
done
if [ "$connected" = 1 ]; then
	kill -STOP "$HOST_PID"
	sleep 0.5 # in-flight I/O completes; the reactor's spin window ends
	idle_measure idle-host
	kill -CONT "$HOST_PID"
else
	say "target-bench: idle host did not connect: $(tail -1 "$OUT/idle-host.err")"
fi
stop_pid "$HOST_PID"; HOST_PID=""

# 4. The cases.
say "target-bench: cases"
# With -r N: N sweeps over all the cases (not N runs of one case in a row), so that each case
# gets a chance at a quiet moment and the pairs behind a ratio are from nearby moments.
for ((REP = 1; REP <= REPEAT; REP++)); do
	[ "$REPEAT" -gt 1 ] && say " sweep $REP of $REPEAT"
	for c in "${CASES[@]}"; do
		# shellcheck disable=SC2086
		run_case $c
	done
done
stop_pid "$TGT_PID"; TGT_PID=""
fi # the run

[ -f "$OUT/seconds" ] && SECONDS_PER_CASE=$(cat "$OUT/seconds")
# --- report -----------------------------------------------------------------
"$PY" - "$OUT" "$JSON" "$SECONDS_PER_CASE" "$BTYPE" <<'PYEOF'
import glob, json, os, sys

out, as_json, secs, btype = sys.argv[1], sys.argv[2] == "1", int(sys.argv[3]), sys.argv[4]
human = sys.stderr if as_json else sys.stdout
def p(*a):
    print(*a, file=human)
def emit(obj):
    if as_json:
        print(json.dumps(obj, sort_keys=True))

def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except Exception:
        return None

def cpus(meta):
    """Busy % of CPU 0 and CPU 1 over a window, from the /proc/stat samples."""
    try:
        b = [int(x) for x in meta["cpus_before"].split()]
        a = [int(x) for x in meta["cpus_after"].split()]
        return [100.0 * (a[i] - b[i]) / max(1, a[i + 1] - b[i + 1]) for i in (0, 2)]
    except Exception:
        return [None, None]

def probe(meta):
    """Slowest CPU 0 / CPU 1 probe (GB/s) of the before/after pair, or None."""
    try:
        b = [float(x) for x in meta["probe_before"].split()]
        a = [float(x) for x in meta["probe_after"].split()]
        return [min(b[0], a[0]), min(b[1], a[1])]
    except Exception:
        return [None, None]

# The run's fastest probe per CPU: the speed of an undisturbed CPU.
best_probe = [0.0, 0.0]
for path in glob.glob(os.path.join(out, "*.meta")):
    m = load(path) or {}
    for key in ("probe_before", "probe_after"):
        try:
            v = [float(x) for x in m[key].split()]
            best_probe = [max(best_probe[0], v[0]), max(best_probe[1], v[1])]
        except Exception:
            pass

def speed(meta):
    pr = probe(meta)
    return [100.0 * pr[i] / best_probe[i] if pr[i] is not None and best_probe[i] else None for i in (0, 1)]

SLOW_PCT = 70

# Goals from the issue.  SPDK on this machine: QD1 4 KiB read 11.3 us vs ping-pong 8.6 us; QD32 877k IOPS.
GOAL_QD1_RATIO = 1.3
GOAL_QD32_IOPS = 877e3
AIM_QD32_IOPS = 965e3
GOAL_SEQ_BPS = 6.6e9
GOAL_DIGEST_COST = 0.20
GOAL_IDLE_PCT = 1.0
SPDK_QD1_US, SPDK_PP_US = 11.3, 8.6

# Ping-pong.
# Ping-pong: per mode, the best repetition (most transactions/s).
ppm = {}
for path in sorted(glob.glob(os.path.join(out, "pingpong*.json"))):
    sp = speed(load(path[:-5] + ".meta") or {})
    for m in (load(path) or {}).get("modes", []):
        m = dict(m, speed_cpu0_pct=sp[0], speed_cpu1_pct=sp[1])
        emit(dict(kind="pingpong", **m))
        if m["mode"] not in ppm or m["tps"] > ppm[m["mode"]]["tps"]:
            ppm[m["mode"]] = m

# Cases.
cases = {}
order = []
for meta_path in sorted(glob.glob(os.path.join(out, "case-*.meta")), key=os.path.getmtime):
    meta = load(meta_path)
    if not meta:
        continue
    r = load(meta_path[:-5] + ".json") or {}
    ios = r.get("ios", 0) or 0
    lat = r.get("latency_us", {})
    row = dict(kind="case", ns=meta["ns"], case=meta["case"], workload=meta["workload"],
               io_size=int(meta["io_size"]), qd=r.get("queue_depth", meta["qd"]), digests=meta["digests"],
               ok=bool(meta["rc"] == 0 and r.get("ok", False) and ios > 0), ios=ios,
               seconds=r.get("seconds"), iops=r.get("iops", 0.0), mib_per_s=r.get("mib_per_s", 0.0),
               bytes_per_s=(r.get("mib_per_s", 0.0) or 0.0) * 1048576.0,
               lat_mean_us=lat.get("mean"), lat_p50_us=lat.get("p50"), lat_p99_us=lat.get("p99"),
               lat_p99_9_us=lat.get("p99_9"), lat_max_us=lat.get("max"),
               tgt_cpu_us_per_io=(meta["tgt_cpu_ns"] / 1e3 / ios) if ios else None,
               tgt_cpu_pct=100.0 * meta["tgt_cpu_ns"] / meta["wall_ns"] if meta["wall_ns"] else None,
               tgt_runs_per_io=(meta["tgt_runs"] / ios) if ios else None,
               tgt_reads_per_io=(meta.get("tgt_reads", 0) / ios) if ios else None,
               tgt_ticks=meta["tgt_ticks"],
               tool_cpu_us_per_io=r.get("thread_cpu_us_per_io"),
               tool_proc_cpu_us_per_io=r.get("process_cpu_us_per_io"),
               tgt_wait_pct=100.0 * meta.get("tgt_wait_ns", 0) / meta["wall_ns"] if meta["wall_ns"] else None)
    c0, c1 = cpus(meta)
    tool_pct = 100.0 * (row["tool_proc_cpu_us_per_io"] or 0) * ios / 1e6 / (r.get("seconds") or 1e9)
    # Other processes' share of CPU 0 / CPU 1 (busy, steal included, less our own processes' use).
    row["other_cpu0_pct"] = max(0.0, c0 - row["tgt_cpu_pct"]) if c0 is not None and row["tgt_cpu_pct"] is not None else None
    row["other_cpu1_pct"] = max(0.0, c1 - tool_pct) if c1 is not None else None
    row["speed_cpu0_pct"], row["speed_cpu1_pct"] = speed(meta)
    try:
        tb = [int(x) for x in meta["tcp_before"].split()]
        ta = [int(x) for x in meta["tcp_after"].split()]
        d = [a - b for a, b in zip(ta, tb)]
        row["tcp"] = dict(zip(("retrans_segs", "timeouts", "loss_probes", "prune_called", "ofo_queue"), d))
    except Exception:
        row["tcp"] = None
    row["noisy"] = bool((row["other_cpu0_pct"] or 0) > 10 or (row["other_cpu1_pct"] or 0) > 10 or (row["tgt_wait_pct"] or 0) > 5
                        or (row["speed_cpu0_pct"] or 100) < SLOW_PCT or (row["speed_cpu1_pct"] or 100) < SLOW_PCT)
    base = os.path.basename(meta_path)[:-5]
    row["rep"] = int(base.rsplit(".r", 1)[1]) if ".r" in base else 1
    emit(row)
    key = (row["ns"], row["case"])
    old = cases.get(key)
    if old is None:
        order.append(key)
    # Keep the best repetition: a successful one with the most IOPS.
    if old is None or (row["ok"], row["iops"] or 0) > (old["ok"], old["iops"] or 0):
        row["reps"] = (old or {}).get("reps", 0) + 1
        cases[key] = row
    else:
        old["reps"] += 1
order = [cases[k] for k in order]
for r in order:
    emit(dict(r, kind="best"))

def f(v, fmt="{:.2f}", none="-"):
    return none if v is None else fmt.format(v)

p("")
nice = (open(os.path.join(out, "nice")).read().strip() if os.path.exists(os.path.join(out, "nice")) else "0")
p(f"nvmfd benchmark: {secs} s per case, build type {btype}; target on CPU 0 (1 reactor), nvmf perf on CPU 1"
  + (f"; nice {nice}" if nice not in ("", "0") else "")
  + (f"; best of {max(r['reps'] for r in order)} runs per case" if order and max(r['reps'] for r in order) > 1 else ""))
bg = load(os.path.join(out, "background.meta"))
if bg:
    b0, b1 = cpus(bg)
    p(f"background load before the run (nothing of ours running): CPU 0 {b0:.0f} %, CPU 1 {b1:.0f} %")
    emit(dict(kind="background", cpu0_pct=b0, cpu1_pct=b1))
hdr = f"{'ns':<5} {'case':<16} {'QD':>4} {'IOPS':>10} {'MiB/s':>9} {'mean us':>8} {'p50 us':>8} {'p99 us':>8} {'p99.9 us':>9} {'tgt us/IO':>9} {'tgt %':>6} {'rd/IO':>5} {'tool us/IO':>10} {'other% c0/c1':>12} {'speed% c0/c1':>12}"
p(hdr)
p("-" * len(hdr))
for r in order:
    mark = ("" if r["ok"] else "  FAILED") + ("  NOISY" if r["noisy"] else "")
    other = f"{f(r['other_cpu0_pct'], '{:.0f}')}/{f(r['other_cpu1_pct'], '{:.0f}')}"
    spd = f"{f(r['speed_cpu0_pct'], '{:.0f}')}/{f(r['speed_cpu1_pct'], '{:.0f}')}"
    p(f"{r['ns']:<5} {r['case']:<16} {r['qd']:>4} {f(r['iops'], '{:,.0f}'):>10} {f(r['mib_per_s'], '{:.1f}'):>9} "
      f"{f(r['lat_mean_us']):>8} {f(r['lat_p50_us']):>8} {f(r['lat_p99_us']):>8} {f(r['lat_p99_9_us']):>9} "
      f"{f(r['tgt_cpu_us_per_io'], '{:.3f}'):>9} {f(r['tgt_cpu_pct'], '{:.0f}'):>6} {f(r['tgt_reads_per_io'], '{:.2f}'):>5} {f(r['tool_cpu_us_per_io'], '{:.3f}'):>10} {other:>12} {spd:>12}{mark}")
p("tgt us/IO: nvmfd CPU (all threads, /proc/PID/task/*/schedstat) over the run / I/Os; tgt %: of one core;")
p("rd/IO: nvmfd read() calls (/proc/PID/io syscr) per I/O: 1/rd/IO commands arrive per socket read;")
p("tool us/IO: the nvmf perf I/O thread's CPU / I/Os.  Both sides busy-poll, so at low depth these include spinning.")
p("other% c0/c1: CPU 0 / CPU 1 time used by other processes (and hypervisor steal) during the case;")
p("speed% c0/c1: a 30 ms kernel-zeroing probe (dd) on each CPU just before and after the case (the slower one),")
p("  against the run's fastest: a vCPU slowed by the hypervisor (a shared physical core) shows nowhere else;")
tails = [r for r in order if r.get("tcp") and (r["tcp"]["timeouts"] or r["tcp"]["retrans_segs"])]
if tails:
    p("TCP retransmissions during a case (machine-wide counters; a timeout is a tail of 200 ms or more):")
    for r in tails:
        t = r["tcp"]
        p(f"  {r['ns']} {r['case']}: {t['retrans_segs']} segments retransmitted, {t['timeouts']} timeouts, "
          f"{t['loss_probes']} loss probes, {t['prune_called']} receive queue prunes, {t['ofo_queue']} out of order; max latency {f(r['lat_max_us'], '{:.0f}')} us")
p("NOISY: other > 10 % on either CPU, nvmfd waited for its CPU > 5 % of the time, or speed < 70 %: rerun when the machine is quiet.")

# Idle.
idle = {}
p("")
p("target idle (nvmfd alone on CPU 0)")
for label, what in (("no-conn", "no connection"), ("idle-host", "a connected host sending nothing (SIGSTOPped nvmf perf)")):
    m = load(os.path.join(out, f"idle-{label}.meta"))
    if not m:
        p(f"  {what:<58}  not measured")
        continue
    pct = 100.0 * m["tgt_cpu_ns"] / m["wall_ns"]
    wakes = m["tgt_runs"] / (m["wall_ns"] / 1e9)
    # Per-thread CPU over the window.
    def parse(s):
        d = {}
        for tok in s.split():
            name, ns, runs = tok.rsplit(":", 2)
            k = name
            while k in d:
                k += "'"
            d[k] = (int(ns), int(runs))
        return d
    b, a = parse(m["threads_before"]), parse(m["threads_after"])
    per = {k: round(100.0 * (a[k][0] - b[k][0]) / m["wall_ns"], 3) for k in a if k in b}
    idle[label] = pct
    c0, c1 = cpus(m)
    p(f"  {what:<58} {pct:7.3f} % of a core, {wakes:6.0f} wakeups/s   (threads: "
      + ", ".join(f"{k} {v:.3f}%" for k, v in per.items()) + f"; others on CPU 0/1: {f(c0, '{:.0f}')}/{f(c1, '{:.0f}')} %)")
    emit(dict(kind="idle", idle=label, cpu_pct=pct, wakeups_per_s=wakes, threads_pct=per,
              seconds=m["wall_ns"] / 1e9, cpu0_busy_pct=c0, cpu1_busy_pct=c1))

# Ping-pong beside.
p("")
p("loopback TCP ping-pong (bench/pingpong: 64 B request, 4 KiB response; server CPU 0, client CPU 1)")
for name, m in ppm.items():
    sp = f"   speed% {f(m.get('speed_cpu0_pct'), '{:.0f}')}/{f(m.get('speed_cpu1_pct'), '{:.0f}')}"
    p(f"  {name:<11} {m['tps']:>12,.0f} transactions/s   mean {m['mean_us']:7.2f} us  p50 {m['p50_us']:7.2f} us  p99 {m['p99_us']:7.2f} us{sp}")
pp1 = ppm.get("qd1-busy", {}).get("mean_us")
pp32 = ppm.get("qd32-busy", {}).get("tps")
for ns in ("null", "ram"):
    a, b = cases.get((ns, "rr4k-qd1")), cases.get((ns, "rr4k-qd32"))
    bits = []
    pp1p50 = ppm.get("qd1-busy", {}).get("p50_us")
    if a and a["ok"] and pp1:
        bits.append(f"QD1 4K read mean {a['lat_mean_us']:.2f} us = {a['lat_mean_us'] / pp1:.2f} x ping-pong qd1-busy mean ({pp1:.2f} us)"
                    + (f", p50 {a['lat_p50_us']:.2f} us = {a['lat_p50_us'] / pp1p50:.2f} x ({pp1p50:.2f} us)" if pp1p50 else ""))
    if b and b["ok"] and pp32:
        bits.append(f"QD32 {b['iops'] / 1e3:.0f}k IOPS = {b['iops'] / pp32:.2f} x ping-pong qd32-busy ({pp32 / 1e3:.0f}k/s)")
    if bits:
        p(f"  {ns:<5} " + "; ".join(bits))

# Goals.
goals = []
def goal(name, figure, unit, target, cmp, note="", rows=()):
    if any(r and r.get("noisy") for r in rows):
        note = "NOISY input; " + note
    if figure is None:
        goals.append(dict(goal=name, figure=None, unit=unit, target=target, ratio=None, met=None, note=note or "not measured"))
        return
    ratio = figure / target if target else None
    met = figure <= target if cmp == "<=" else figure < target if cmp == "<" else figure >= target
    goals.append(dict(goal=name, figure=figure, unit=unit, target=target, cmp=cmp, ratio=ratio, met=met, note=note))

for ns in ("null", "ram"):
    a = cases.get((ns, "rr4k-qd1"))
    if a and a["ok"] and pp1:
        goal(f"{ns}: QD1 4K randread mean / ping-pong qd1-busy", a["lat_mean_us"] / pp1, "x", GOAL_QD1_RATIO, "<=",
             f"{a['lat_mean_us']:.2f} us vs {pp1:.2f} us; SPDK {SPDK_QD1_US} vs {SPDK_PP_US} us = {SPDK_QD1_US / SPDK_PP_US:.2f} x"
             + (f"; vs SPDK's 11.3 us: {a['lat_mean_us'] / SPDK_QD1_US:.2f} x"), rows=(a,))
    elif a:
        goal(f"{ns}: QD1 4K randread mean / ping-pong qd1-busy", None, "x", GOAL_QD1_RATIO, "<=")
for ns in ("null", "ram"):
    b = cases.get((ns, "rr4k-qd32"))
    if b:
        v = b["iops"] if b["ok"] else None
        goal(f"{ns}: 4K randread QD32 IOPS", v, "IOPS", GOAL_QD32_IOPS, ">=",
             f"SPDK 877k; aim 965k: {v / AIM_QD32_IOPS:.2f} x" if v else "", rows=(b,))
for ns in ("null", "ram"):
    s = cases.get((ns, "sr128k-qd16"))
    if s:
        goal(f"{ns}: 128K seq read QD16 bytes/s", s["bytes_per_s"] if s["ok"] else None, "B/s", GOAL_SEQ_BPS, ">=",
             f"{s['bytes_per_s'] / 1e9:.2f} GB/s = {s['mib_per_s']:.0f} MiB/s" if s["ok"] else "", rows=(s,))
for ns in ("null", "ram"):
    b, d = cases.get((ns, "rr4k-qd32")), cases.get((ns, "rr4k-qd32-dgst"))
    if b and d:
        v = (1.0 - d["iops"] / b["iops"]) if b["ok"] and d["ok"] and b["iops"] else None
        goal(f"{ns}: digest cost (IOPS lost, QD32 4K)", v, "fraction", GOAL_DIGEST_COST, "<=",
             f"{d['iops'] / 1e3:.0f}k with vs {b['iops'] / 1e3:.0f}k without" if v is not None else "", rows=(b, d))
for label, what in (("no-conn", "idle target, no connection"), ("idle-host", "idle target, connected idle host")):
    goal(what + " (% of a core)", idle.get(label), "%", GOAL_IDLE_PCT, "<")

def show(v, unit):
    if v is None:
        return "-"
    if unit == "IOPS":
        return f"{v / 1e3:,.0f}k"
    if unit == "B/s":
        return f"{v / 1e9:.2f} GB/s"
    if unit == "fraction":
        return f"{100 * v:.1f} %"
    if unit == "%":
        return f"{v:.3f} %"
    return f"{v:.2f} {unit}"

p("")
p("goals (issue)")
gh = f"  {'goal':<48} {'figure':>12} {'goal':>14} {'ratio':>7}  {'':4}  note"
p(gh)
for g in goals:
    cmp = g.get("cmp", "<" if g["unit"] == "%" else "<=" if g["unit"] in ("x", "fraction") else ">=")
    status = "-" if g["met"] is None else ("MET" if g["met"] else "MISS")
    p(f"  {g['goal']:<48} {show(g['figure'], g['unit']):>12} {cmp + ' ' + show(g['target'], g['unit']):>14} "
      f"{f(g['ratio'], '{:.2f}'):>7}  {status:<4}  {g['note']}")
    emit(dict(kind="goal", **g))
p("ratio = figure / goal: >= 1 is good for IOPS and GB/s, <= 1 for latency ratio, digest cost and idle CPU.")
p("This machine is noisy: compare ratios within one run, not figures across runs.")
sys.exit(0 if order and all(r["ok"] for r in order) else 1)
PYEOF
rc=$?
[ -n "$REPORT_DIR" ] || say "target-bench: raw outputs in $OUT"
exit $rc
