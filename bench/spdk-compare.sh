#!/usr/bin/env bash
# spdk-compare.sh: nvmfd and SPDK's nvmf_tgt side by side over loopback NVMe/TCP.
#
#   SPDK_DIR=/path/to/spdk bash bench/spdk-compare.sh [-t SECONDS] [-r N] [options]
#
# Each target runs on CPU 0 (nvmfd --reactors 1 under taskset; nvmf_tgt -m 0x1) with a
# null and a RAM namespace (SPDK: null and malloc bdevs), driven from CPU 1 by SPDK's
# spdk_nvme_perf (-c 0x2) and by our `nvmf perf`, through six loads.  The machine's speed
# changes within minutes, so the targets take turns case by case: all are up, and those not
# measured are stopped (SIGSTOP: SPDK's polling reactor takes no CPU meanwhile); which goes
# first rotates.  The table shows each figure's median over the repetitions and the
# ratio nvmfd/SPDK.  Without SPDK_DIR only nvmfd runs (with `nvmf perf`).  See bench/README.md.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)

usage() {
	cat <<EOF
usage: SPDK_DIR=DIR $0 [-t SECONDS] [-r N] [--clients LIST] [--ns LIST] [--loads LIST] [options]
  -t SECONDS       seconds per case (default 5)
  -r N             repetitions (default 3), each with targets started afresh; medians reported
  --clients LIST   comma list of spdk (spdk_nvme_perf), nvmf (nvmf perf); default both
  --ns LIST        comma list of null, ram (default both)
  --loads LIST     comma list of qd1, qd32, qd128, wr32, seq128k, dgst32 (default all)
  --base DIR       also run the nvmfd of build directory DIR (labelled "base"): before/after
  --build-dir DIR  build directory this script owns (default: build-bench at the repository root)
  --no-build       use the build directory as it is
  --port N         first TCP port to try (default 44300; a free one up to N+99 is used)
  --ram-size MIB   RAM namespace size in MiB (default 1024; SPDK's malloc bdev takes it from
                   hugepages)
  --settle SECONDS before each case wait up to this long for CPUs 0 and 1 to be quiet (under 10 % busy
                   for half a second, the target's own polling left out; default 10, 0: do not wait)
  --nice N         run in a session of its own whose scheduler autogroup has nice N (e.g. -5 on a
                   shared machine: with autogroups, a plain nice only ranks processes of one session)
  --sqfc           nvmf perf keeps SQ flow control (default: --disable-sqfc, see bench/README.md)
  --json           also print every case as a JSON line on stdout (the table then goes to stderr)
  --report DIR     only print the report of an earlier run's raw outputs
Environment: SPDK_DIR, an SPDK build tree (build/bin/nvmf_tgt, build/bin/spdk_nvme_perf,
scripts/rpc.py); unset: the SPDK target and client are skipped.
Raw outputs stay in BUILD/spdk-compare/<time>-<pid>/ (the last 10 runs).
EOF
}

ARGS=("$@")
SECS=5
REPEAT=3
CLIENTS=spdk,nvmf
NSS=null,ram
LOADS=qd1,qd32,qd128,wr32,seq128k,dgst32
BASE_BUILD=""
BUILD="$ROOT/build-bench"
DO_BUILD=1
PORT0=44300
RAM_MIB=1024
JSON=0
SQFC=0
SETTLE=10
NICE=""
REPORT_DIR=""
while [ $# -gt 0 ]; do
	case "$1" in
	-t) SECS=${2:?-t wants seconds}; shift ;;
	-r|--repeat) REPEAT=${2:?}; shift ;;
	--clients) CLIENTS=${2:?}; shift ;;
	--ns) NSS=${2:?}; shift ;;
	--loads) LOADS=${2:?}; shift ;;
	--base) BASE_BUILD=${2:?}; shift ;;
	--build-dir) BUILD=${2:?}; shift ;;
	--no-build) DO_BUILD=0 ;;
	--port) PORT0=${2:?}; shift ;;
	--ram-size) RAM_MIB=${2:?}; shift ;;
	--json) JSON=1 ;;
	--sqfc) SQFC=1 ;;
	--settle) SETTLE=${2:?}; shift ;;
	--nice) NICE=${2:?}; shift ;;
	--report) REPORT_DIR=${2:?}; shift ;;
	-h|--help) usage; exit 0 ;;
	*) echo "spdk-compare: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
	esac
	shift
done
case "$SECS" in ''|*[!0-9]*|0) echo "spdk-compare: -t wants whole seconds >= 1" >&2; exit 2 ;; esac
case "$REPEAT" in ''|*[!0-9]*|0) echo "spdk-compare: -r wants a count >= 1" >&2; exit 2 ;; esac
case "$SETTLE" in ''|*[!0-9]*) echo "spdk-compare: --settle wants whole seconds" >&2; exit 2 ;; esac
case "$NICE" in ''|-[0-9]|-1[0-9]|[0-9]|1[0-9]) ;; *) echo "spdk-compare: --nice wants -19..19" >&2; exit 2 ;; esac
case "$RAM_MIB" in ''|*[!0-9]*|0) echo "spdk-compare: --ram-size wants MiB >= 1" >&2; exit 2 ;; esac

# With autogroups (kernel.sched_autogroup_enabled) the scheduler shares a CPU between sessions
# first: a session of our own, with the autogroup's nice, is what makes --nice count.
if [ -n "$NICE" ] && [ -z "$REPORT_DIR" ] && [ -z "${SPDK_COMPARE_SESSION:-}" ]; then
	SPDK_COMPARE_SESSION=1 exec setsid --wait bash "$0" "${ARGS[@]}"
fi
if [ -n "$NICE" ] && [ -w /proc/self/autogroup ]; then
	echo "$NICE" >/proc/self/autogroup 2>/dev/null || true
fi
if [ "$JSON" = 1 ]; then exec 3>&2; else exec 3>&1; fi
say() { printf '%s\n' "$*" >&3; }
die() { printf 'spdk-compare: %s\n' "$*" >&2; exit 1; }
PY=$(command -v python3) || die "python3 is needed"

# load name -> "workload io_size qd digests(0|1)"
load_spec() {
	case "$1" in
	qd1) echo "randread 4096 1 0" ;;
	qd32) echo "randread 4096 32 0" ;;
	qd128) echo "randread 4096 128 0" ;;
	wr32) echo "randwrite 4096 32 0" ;;
	seq128k) echo "read 131072 16 0" ;;
	dgst32) echo "randread 4096 32 1" ;;
	*) return 1 ;;
	esac
}
for l in ${LOADS//,/ }; do load_spec "$l" >/dev/null || die "unknown load '$l'"; done
for c in ${CLIENTS//,/ }; do case "$c" in spdk|nvmf) ;; *) die "unknown client '$c'" ;; esac; done
for n in ${NSS//,/ }; do case "$n" in null|ram) ;; *) die "unknown namespace kind '$n'" ;; esac; done

TGT_PID=""
if [ -n "$REPORT_DIR" ]; then
	[ -d "$REPORT_DIR" ] || die "no directory $REPORT_DIR"
	OUT=$REPORT_DIR
else # the run, down to the report

TGT_CPU=0
TOOL_CPU=1
"$PY" -c 'import os,sys; sys.exit(0 if {0,1} <= os.sched_getaffinity(0) else 1)' ||
	die "CPUs 0 and 1 must both be usable"

# --- programs ---------------------------------------------------------------
NVMFD="$BUILD/src/nvmfd/nvmfd"
NVMF="$BUILD/src/nvmf/nvmf"
if [ "$DO_BUILD" = 1 ]; then
	if [ ! -f "$BUILD/build.ninja" ]; then
		say "spdk-compare: meson setup $BUILD"
		timeout 300 meson setup "$BUILD" "$ROOT" >"$BUILD.setup.log" 2>&1 ||
			{ tail -20 "$BUILD.setup.log" >&2; die "meson setup failed"; }
		rm -f "$BUILD.setup.log"
	fi
	timeout 600 ninja -C "$BUILD" src/nvmfd/nvmfd src/nvmf/nvmf >"$BUILD/spdk-compare.ninja.log" 2>&1 ||
		{ tail -30 "$BUILD/spdk-compare.ninja.log" >&2; die "build failed"; }
fi
for b in "$NVMFD" "$NVMF"; do [ -x "$b" ] || die "missing $b (build it, or drop --no-build)"; done
TARGETS=(nvmfd)
if [ -n "$BASE_BUILD" ]; then
	[ -x "$BASE_BUILD/src/nvmfd/nvmfd" ] || die "no nvmfd in $BASE_BUILD"
	TARGETS+=(base)
fi

SPDK_OK=0
if [ -z "${SPDK_DIR:-}" ]; then
	say "spdk-compare: SPDK_DIR is not set: skipping SPDK's nvmf_tgt and spdk_nvme_perf"
elif [ ! -x "$SPDK_DIR/build/bin/nvmf_tgt" ] || [ ! -x "$SPDK_DIR/build/bin/spdk_nvme_perf" ] ||
	[ ! -f "$SPDK_DIR/scripts/rpc.py" ]; then
	say "spdk-compare: $SPDK_DIR lacks build/bin/nvmf_tgt, build/bin/spdk_nvme_perf or scripts/rpc.py: skipping SPDK"
else
	free_mib=$(awk '/^HugePages_Free:/ {f = $2} /^Hugepagesize:/ {s = $2} END {print int(f * s / 1024)}' /proc/meminfo)
	if [ "$free_mib" -lt $((RAM_MIB + 768)) ]; then
		say "spdk-compare: $free_mib MiB of free hugepages, SPDK needs about $((RAM_MIB + 768)) (--ram-size $RAM_MIB): skipping SPDK"
		say "  (as root: echo 1536 > /proc/sys/vm/nr_hugepages; hugetlbfs mounted on /dev/hugepages)"
	else
		SPDK_OK=1
		TARGETS+=(spdk)
		export LD_LIBRARY_PATH="$SPDK_DIR/build/lib:$SPDK_DIR/build/libvfio-user/usr/local/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
	fi
fi
if [ "$SPDK_OK" = 0 ] && [[ ",$CLIENTS," == *,spdk,* ]]; then
	CLIENTS=$(echo ",$CLIENTS," | sed 's/,spdk,/,/; s/^,//; s/,$//')
	[ -n "$CLIENTS" ] || die "no client left to run"
fi

OUT="$BUILD/spdk-compare/$(date -u +%Y%m%dT%H%M%SZ)-$$"
mkdir -p "$OUT" || die "cannot create $OUT"
ls -1d "$BUILD"/spdk-compare/*/ 2>/dev/null | sort | head -n -10 | while read -r d; do rm -rf "$d"; done
echo "$SECS" >"$OUT/seconds"

# --- processes: only the PIDs started here ----------------------------------
stop_pid() {
	local pid=$1
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null
	for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}
declare -A PIDS=() PORTS=()
# Every target of the repetition ended (woken first: a stopped process takes no SIGTERM).
stop_all() {
	local t
	for t in "${!PIDS[@]}"; do
		kill -CONT "${PIDS[$t]}" 2>/dev/null
		stop_pid "${PIDS[$t]}"
	done
	PIDS=() PORTS=() TGT_PID=""
}
cleanup() { stop_all; rm -f "$OUT/spdk.sock"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

port_free() { [ -z "$(ss -Htan "( sport = :$1 )" 2>/dev/null)" ]; }
pick_port() {
	local p
	for ((p = PORT0; p < PORT0 + 100; p++)); do port_free "$p" && { echo "$p"; return 0; }; done
	return 1
}
# CPU time (ns) of all threads of process $1.
proc_cpu_ns() {
	local sum=0 a f
	for f in /proc/"$1"/task/*/schedstat; do
		read -r a _ <"$f" 2>/dev/null || continue
		sum=$((sum + a))
	done
	echo "$sum"
}
now_ns() { date +%s%N; }
# "busy0 total0 busy1 total1" for CPUs 0 and 1 from /proc/stat (clock ticks; steal counts as busy,
# interrupt time as idle: the loopback traffic of the case itself runs there).
cpus_stat() {
	awk '$1 == "cpu0" || $1 == "cpu1" { b = $2 + $3 + $4 + $9; t = b + $5 + $6 + $7 + $8; printf "%d %d ", b, t }' /proc/stat
}
# Wait up to SETTLE s for CPUs 0 and 1 to be under 10 % busy over half a second, less what the
# target itself uses (SPDK's reactor polls all the time).  Prints the seconds waited.
settle() {
	[ "$SETTLE" -gt 0 ] || { echo 0; return 0; }
	local t0 a b c0 c1 tgt_pct
	t0=$(date +%s)
	while :; do
		a=$(cpus_stat); c0=$(proc_cpu_ns "$TGT_PID"); sleep 0.5; b=$(cpus_stat); c1=$(proc_cpu_ns "$TGT_PID")
		tgt_pct=$(( (c1 - c0) / 5000000 ))
		# shellcheck disable=SC2086
		set -- $a $b
		[ $(( ($5 - $1) * 100 - tgt_pct * ($6 - $2) < ($6 - $2) * 10 && ($7 - $3) * 100 < ($8 - $4) * 10 )) = 1 ] && break
		[ $(( $(date +%s) - t0 )) -lt "$SETTLE" ] || break
	done
	echo $(( $(date +%s) - t0 ))
}

RUN=()
[ -n "$NICE" ] && RUN=(nice -n "$NICE")
NQN_NULL="nqn.2024-01.io.nvmf:cmp-null"
NQN_RAM="nqn.2024-01.io.nvmf:cmp-ram"
HOSTNQN="nqn.2024-01.io.nvmf:cmp-host"
PORT=""
TGT_NAME=""

start_nvmfd() { # binary
	: >"$OUT/$TGT_NAME.log"
	"${RUN[@]}" taskset -c "$TGT_CPU" "$1" --listen "127.0.0.1:$PORT" --reactors 1 \
		--subsystem "$NQN_NULL" --namespace null:1G \
		--subsystem "$NQN_RAM" --namespace "ram:${RAM_MIB}M" >>"$OUT/$TGT_NAME.log" 2>&1 &
	TGT_PID=$!
	for _ in $(seq 100); do
		grep -q '^nvmfd: ready' "$OUT/$TGT_NAME.log" && return 0
		kill -0 "$TGT_PID" 2>/dev/null || break
		sleep 0.05
	done
	return 1
}

start_spdk() {
	local sock="$OUT/spdk.sock" rpc
	rpc() { timeout 60 "$PY" "$SPDK_DIR/scripts/rpc.py" -s "$sock" "$@" >>"$OUT/spdk-rpc.log" 2>&1; }
	rm -f "$sock"
	: >"$OUT/spdk.log"
	"${RUN[@]}" taskset -c "$TGT_CPU" "$SPDK_DIR/build/bin/nvmf_tgt" -m 0x1 --no-pci -r "$sock" >>"$OUT/spdk.log" 2>&1 &
	TGT_PID=$!
	for _ in $(seq 200); do
		[ -S "$sock" ] && break
		kill -0 "$TGT_PID" 2>/dev/null || return 1
		sleep 0.1
	done
	rpc framework_wait_init &&
		rpc nvmf_create_transport -t TCP &&
		rpc bdev_null_create Null0 1024 512 &&
		rpc bdev_malloc_create -b Malloc0 "$RAM_MIB" 512 &&
		rpc nvmf_create_subsystem "$NQN_NULL" -a -s CMP0001 &&
		rpc nvmf_subsystem_add_ns "$NQN_NULL" Null0 &&
		rpc nvmf_subsystem_add_listener "$NQN_NULL" -t tcp -f ipv4 -a 127.0.0.1 -s "$PORT" &&
		rpc nvmf_create_subsystem "$NQN_RAM" -a -s CMP0002 &&
		rpc nvmf_subsystem_add_ns "$NQN_RAM" Malloc0 &&
		rpc nvmf_subsystem_add_listener "$NQN_RAM" -t tcp -f ipv4 -a 127.0.0.1 -s "$PORT"
}

start_target() { # name
	TGT_NAME=$1
	PORT=$(pick_port) || die "no free port in $PORT0..$((PORT0 + 99))"
	case "$1" in
	nvmfd) start_nvmfd "$NVMFD" ;;
	base) start_nvmfd "$BASE_BUILD/src/nvmfd/nvmfd" ;;
	spdk) start_spdk ;;
	esac || { say "spdk-compare: $1 did not start (log: $OUT/$1.log)"; stop_pid "$TGT_PID"; TGT_PID=""; return 1; }
	# Untouched RAM pages would all read the kernel's zero page: write the namespace once.
	if [[ ",$NSS," == *,ram,* ]]; then
		timeout 120 taskset -c "$TOOL_CPU" "$NVMF" perf --hostnqn "$HOSTNQN" --disable-sqfc -q 16 -o 128k -w write \
			-n $((RAM_MIB * 8)) "tcp://127.0.0.1:$PORT/$NQN_RAM" >"$OUT/prefill-$1.out" 2>&1 ||
			say "spdk-compare: RAM prefill on $1 failed: $(tail -1 "$OUT/prefill-$1.out")"
	fi
	# Idle: the target's CPU over 2 s with no connection.
	local c0 c1 t0 t1
	sleep 0.5
	c0=$(proc_cpu_ns "$TGT_PID"); t0=$(now_ns)
	sleep 2
	c1=$(proc_cpu_ns "$TGT_PID"); t1=$(now_ns)
	printf '{"kind":"idle","target":"%s","rep":%d,"cpu_pct":%s}\n' "$1" "$REP" \
		"$("$PY" -c "print(100.0*$((c1 - c0))/$((t1 - t0)))")" >"$OUT/idle-$1.r$REP.json"
	PIDS[$1]=$TGT_PID PORTS[$1]=$PORT
	kill -STOP "$TGT_PID"
}

# run_case CLIENT NS LOAD
run_case() {
	local client=$1 ns=$2 load=$3 wl size qd dg nqn base rc c0 c1 t0 t1
	read -r wl size qd dg <<<"$(load_spec "$load")"
	nqn=$([ "$ns" = null ] && echo "$NQN_NULL" || echo "$NQN_RAM")
	base="$OUT/case-$TGT_NAME-$client-$ns-$load.r$REP"
	local waited s0 s1
	waited=$(settle)
	s0=$(cpus_stat)
	c0=$(proc_cpu_ns "$TGT_PID"); t0=$(now_ns)
	if [ "$client" = spdk ]; then
		local dgf=()
		[ "$dg" = 1 ] && dgf=(-H -I)
		timeout $((SECS + 30)) "${RUN[@]}" "$SPDK_DIR/build/bin/spdk_nvme_perf" -c 0x2 -q "$qd" -o "$size" -w "$wl" -t "$SECS" "${dgf[@]}" \
			-r "trtype:tcp adrfam:ipv4 traddr:127.0.0.1 trsvcid:$PORT subnqn:$nqn hostnqn:$HOSTNQN" >"$base.out" 2>&1
	else
		local dgf=()
		[ "$dg" = 1 ] && dgf=(--hdgst --ddgst)
		# SPDK's target answers a read with its last C2HData alone (SUCCESS flag) whatever the
		# host asked; nvmfd does so when the host disables SQ flow control: same PDUs for both.
		[ "$SQFC" = 0 ] && dgf+=(--disable-sqfc)
		timeout $((SECS + 30)) "${RUN[@]}" taskset -c "$TOOL_CPU" "$NVMF" perf --hostnqn "$HOSTNQN" -q "$qd" -o "$size" -w "$wl" \
			-t "$SECS" "${dgf[@]}" --json "tcp://127.0.0.1:$PORT/$nqn" >"$base.out" 2>"$base.err"
	fi
	rc=$?
	c1=$(proc_cpu_ns "$TGT_PID" 2>/dev/null || echo 0); t1=$(now_ns)
	s1=$(cpus_stat)
	[ "$rc" = 0 ] || say "    $TGT_NAME $client $ns $load failed (exit $rc)"
	printf '{"target":"%s","client":"%s","ns":"%s","load":"%s","rep":%d,"rc":%d,"tgt_cpu_ns":%s,"wall_ns":%s,"settled_s":%s,"cpus_before":"%s","cpus_after":"%s"}\n' \
		"$TGT_NAME" "$client" "$ns" "$load" "$REP" "$rc" "$((c1 - c0))" "$((t1 - t0))" "$waited" "$s0" "$s1" >"$base.meta"
}

NCASES=0
for _ in ${CLIENTS//,/ }; do for _ in ${NSS//,/ }; do for _ in ${LOADS//,/ }; do NCASES=$((NCASES + 1)); done; done; done
say "spdk-compare: $(date -u +%FT%TZ) $(uname -r); targets ${TARGETS[*]} on CPU $TGT_CPU, clients ($CLIENTS) on CPU $TOOL_CPU"
say "spdk-compare: $NCASES cases x ${#TARGETS[@]} targets x $REPEAT reps x $SECS s: about $((REPEAT * ${#TARGETS[@]} * (NCASES * (SECS + 2) + 8))) s plus up to ${SETTLE} s per case waiting for quiet; raw outputs in $OUT"
for ((REP = 1; REP <= REPEAT; REP++)); do
	say " rep $REP/$REPEAT"
	up=()
	for t in "${TARGETS[@]}"; do start_target "$t" && up+=("$t"); done
	[ ${#up[@]} -gt 0 ] || continue
	turn=$REP
	for client in ${CLIENTS//,/ }; do
		for ns in ${NSS//,/ }; do
			for load in ${LOADS//,/ }; do
				# Rotate the order so that no target always runs first (or last).
				for ((i = 0; i < ${#up[@]}; i++)); do
					t=${up[$(((i + turn) % ${#up[@]}))]}
					[ -n "${PIDS[$t]:-}" ] || continue
					TGT_NAME=$t TGT_PID=${PIDS[$t]} PORT=${PORTS[$t]}
					kill -CONT "$TGT_PID"
					if kill -0 "$TGT_PID" 2>/dev/null; then
						run_case "$client" "$ns" "$load"
						kill -STOP "$TGT_PID"
					else
						say "spdk-compare: $t died (log: $OUT/$t.log)"
						unset "PIDS[$t]"
					fi
				done
				turn=$((turn + 1))
			done
		done
	done
	stop_all
done
fi # the run

# --- report -----------------------------------------------------------------
"$PY" - "$OUT" "$JSON" <<'PYEOF'
import glob, json, os, re, statistics, sys

out, as_json = sys.argv[1], sys.argv[2] == "1"
human = sys.stderr if as_json else sys.stdout
def p(*a):
    print(*a, file=human)

def load_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except Exception:
        return None

TOTAL = re.compile(r"^Total\s*:\s*([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)", re.M)
rows = []
for mp in glob.glob(os.path.join(out, "case-*.meta")):
    m = load_json(mp)
    if not m:
        continue
    raw = mp[:-5] + ".out"
    r = dict(m, ok=False, iops=None, mib_s=None, lat_us=None)
    try:
        text = open(raw).read()
    except Exception:
        text = ""
    if m["client"] == "spdk":
        t = TOTAL.search(text)
        if m["rc"] == 0 and t:
            r.update(ok=True, iops=float(t.group(1)), mib_s=float(t.group(2)), lat_us=float(t.group(3)))
    else:
        j = None
        try:
            j = json.loads(text)
        except Exception:
            pass
        if m["rc"] == 0 and j and j.get("ok") and j.get("ios"):
            r.update(ok=True, iops=j["iops"], mib_s=j["mib_per_s"], lat_us=j["latency_us"]["mean"])
    if r["ok"] and r["iops"]:
        secs = m["wall_ns"] / 1e9
        r["tgt_us_per_io"] = m["tgt_cpu_ns"] / 1e3 / (r["iops"] * secs)
        r["tgt_pct"] = 100.0 * m["tgt_cpu_ns"] / m["wall_ns"]
        try:  # other work on the target's CPU during the case
            b = [int(x) for x in m["cpus_before"].split()]
            a = [int(x) for x in m["cpus_after"].split()]
            r["other_cpu0_pct"] = max(0.0, 100.0 * (a[0] - b[0]) / max(1, a[1] - b[1]) - r["tgt_pct"])
        except Exception:
            r["other_cpu0_pct"] = None
        r["noisy"] = (r["other_cpu0_pct"] or 0) > 10
    rows.append(r)
    if as_json:
        print(json.dumps(dict(r, kind="case"), sort_keys=True))

idle = {}
for ip in glob.glob(os.path.join(out, "idle-*.json")):
    j = load_json(ip)
    if j:
        idle.setdefault(j["target"], []).append(j["cpu_pct"])
        if as_json:
            print(json.dumps(j, sort_keys=True))

LOADS = ["qd1", "qd32", "qd128", "wr32", "seq128k", "dgst32"]
DESC = {"qd1": "4K randread QD1", "qd32": "4K randread QD32", "qd128": "4K randread QD128",
        "wr32": "4K randwrite QD32", "seq128k": "128K read QD16", "dgst32": "4K randread QD32 hd+dd"}
targets = [t for t in ("nvmfd", "base", "spdk") if any(r["target"] == t for r in rows)]

def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None

def figure(load, r):
    """The row's figure: mean latency (us) at QD1, MiB/s for 128K reads, IOPS otherwise."""
    if load == "qd1":
        return r["lat_us"]
    if load == "seq128k":
        return r["mib_s"]
    return r["iops"]

def fmt(v, load):
    if v is None:
        return "-"
    if load == "qd1":
        return f"{v:.2f} us"
    if load == "seq128k":
        return f"{v:.0f} MiB/s"
    return f"{v / 1e3:.1f}k"

secs = open(os.path.join(out, "seconds")).read().strip() if os.path.exists(os.path.join(out, "seconds")) else "?"
nrep = max([r["rep"] for r in rows] or [0])
p("")
p(f"spdk-compare: medians of {nrep} repetition(s), {secs} s each; target on CPU 0, client on CPU 1")
p("figure: QD1 = mean latency (lower is better), 128K = MiB/s, else IOPS; ratio = nvmfd/SPDK figure;")
p("gain = how many times better nvmfd is (goal >= 1.10; QD1 latency: >= 1.00); us/IO = target CPU per I/O;")
p("paired = the median of each repetition's own gain (the targets ran back to back: robust to the machine's speed)")
hdr = f"{'client':6} {'ns':4} {'load':23}"
for t in targets:
    hdr += f" {t:>13} {'us/IO':>6}"
if "spdk" in targets and len(targets) > 1:
    hdr += f" {'ratio':>6} {'gain':>5} {'paired':>6}"
    if "base" in targets:
        hdr += f" {'base gain':>9}"
p(hdr)
p("-" * len(hdr))
for client in ("spdk", "nvmf"):
    for ns in ("null", "ram"):
        for load in LOADS:
            sel = [r for r in rows if r["client"] == client and r["ns"] == ns and r["load"] == load]
            if not sel:
                continue
            cname = "spdk_nvme_perf" if client == "spdk" else "nvmf perf"
            line = f"{cname[:6]:6} {ns:4} {DESC[load]:23}"
            figs = {}
            for t in targets:
                rs = [r for r in sel if r["target"] == t and r["ok"]]
                figs[t] = med([figure(load, r) for r in rs])
                cpu = med([r.get("tgt_us_per_io") for r in rs])
                nfail = len([r for r in sel if r["target"] == t and not r["ok"]])
                noisy = any(r.get("noisy") for r in rs)
                line += f" {fmt(figs[t], load) + ('!' if nfail else '~' if noisy else ''):>13} {('-' if cpu is None else f'{cpu:.2f}'):>6}"
            if "spdk" in figs and figs.get("spdk") and len(targets) > 1:
                def gain(t):
                    a, b = figs.get(t), figs["spdk"]
                    if not a:
                        return None
                    return b / a if load == "qd1" else a / b
                if figs.get("nvmfd"):
                    g = gain("nvmfd")
                    pairs = []
                    for rep in sorted({r["rep"] for r in sel}):
                        a = [figure(load, r) for r in sel if r["target"] == "nvmfd" and r["rep"] == rep and r["ok"]]
                        b = [figure(load, r) for r in sel if r["target"] == "spdk" and r["rep"] == rep and r["ok"]]
                        if a and b and a[0] and b[0]:
                            pairs.append(b[0] / a[0] if load == "qd1" else a[0] / b[0])
                    pg = med(pairs)
                    line += f" {figs['nvmfd'] / figs['spdk']:6.2f} {g:5.2f} {('-' if pg is None else f'{pg:.2f}'):>6}"
                    line += " ok" if g >= (1.0 if load == "qd1" else 1.1) else " <-"
                if "base" in targets:
                    g = gain("base")
                    line += f" {('-' if g is None else f'{g:.2f}'):>9}"
            p(line)
p("(! = some repetitions failed, their figures left out; ~ = other work took > 10 % of CPU 0 in one)")
if idle:
    p("idle, no connection (% of a core, median): " +
      ", ".join(f"{t} {statistics.median(v):.2f}" for t, v in sorted(idle.items())))
p(f"raw outputs: {out}")
PYEOF
