#!/usr/bin/env bash
# Departure at scale: hosts that vanish, over many cycles; nvmfd's file
# descriptors, memory and controller IDs return to their baseline.
# The subsystem is made over JSON-RPC with controller IDs 1-3 only, so a
# single controller ID not given back shows within a few cycles (the next
# Connect is refused).  Cycles:
#   guest    a kernel host (2 vCPUs, connect -i 2: 2 I/O queues) runs fio
#            (jobs/host-churn.sh); its TCP connections are reset RESETS
#            times (ss -K on QEMU's sockets to nvmfd: nvmfd gets RSTs, the
#            kernel host reconnects with a new controller), then its QEMU is
#            killed (SIGKILL) with I/O running.
#   raw      churn_client.py: connections reset (SO_LINGER 0) after the
#            ICReq, mid-PDU header, after Connect, mid-H2CData, mid
#            in-capsule data, with a Read outstanding.
# After each cycle nvmfd must list no controller and no queue pair
# (nvmf_subsystem_get_controllers / _get_qpairs) within 20 s.  Baseline:
# after a warm-up round of both; at the end, fds (/proc/PID/fd) back to the
# baseline count, VmRSS within RSS_SLACK_KB of it, controllers none, a new
# Connect still gets a controller ID, and nvmfd exits cleanly.
# Usage: test-kernel-host-nvmfd-churn.sh WORKDIR NVMFD NVMF [GUEST_BOOTS [RESETS [RAW_CYCLES]]]
set -uo pipefail
here=$(dirname "${BASH_SOURCE[0]}")
# shellcheck source=host.sh
. "$here/host.sh"
# shellcheck source=nvmfd-lib.sh
. "$here/nvmfd-lib.sh"
workdir=${1:-}
nvmfd=${2:?usage: test-kernel-host-nvmfd-churn.sh WORKDIR NVMFD NVMF [GUEST_BOOTS [RESETS [RAW_CYCLES]]]}
nvmf=${3:?usage: test-kernel-host-nvmfd-churn.sh WORKDIR NVMFD NVMF [GUEST_BOOTS [RESETS [RAW_CYCLES]]]}
boots=${4:-3}
resets=${5:-3}
raw_cycles=${6:-60}
rss_slack_kb=${RSS_SLACK_KB:-4096}
if [ ! -x "$nvmfd" ] || [ ! -x "$nvmf" ]; then
	echo "FAIL: no $nvmfd or $nvmf"
	exit 1
fi
interop_init "$workdir"
logs=$NVMF_INTEROP_DIR/logs
nqn=nqn.2014-08.io.nvmf:interop-churn
rawhost=nqn.2014-08.org.example:churn-raw
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nvmf-interop-churn.XXXXXX") || exit 1
sock=$tmp/rpc.sock
pidfile=$tmp/qemu.pid
trap 'interop_cleanup; rm -rf "$tmp"' EXIT
fail=0
t0=$EPOCHREALTIME
elapsed() { awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", b-a}'; }

nlog=$logs/nvmfd-churn.log
# The command line's subsystem is idle; the one under test comes over JSON-RPC.
nvmfd_start "$nlog" "$nvmfd" --rpc-socket "$sock" --subsystem nqn.2014-08.io.nvmf:interop-churn-idle \
	--namespace null:1M || exit 1
rpc() { "$nvmf" rpc "$1" -s "$sock" "${@:2}"; }
rpc nvmf_create_subsystem --nqn "$nqn" --allow-any-host true --min-cntlid 1 --max-cntlid 3 >/dev/null &&
	rpc bdev_malloc_create --name Churn0 --num-blocks 16384 --block-size 512 >/dev/null &&
	rpc nvmf_subsystem_add_ns --nqn "$nqn" --namespace.bdev-name Churn0 >/dev/null ||
	{ ilog "FAIL: subsystem setup over JSON-RPC"; exit 1; }

# ctrls: "CNTLID:IO_QPAIRS ..." of the subsystem's controllers.
ctrls() {
	rpc nvmf_subsystem_get_controllers --nqn "$nqn" --json |
		python3 -c 'import json, sys; print(" ".join("%d:%d" % (c["cntlid"], c["num_io_qpairs"]) for c in json.load(sys.stdin)))'
}
qpairs() { rpc nvmf_subsystem_get_qpairs --nqn "$nqn" --json | python3 -c 'import json, sys; print(len(json.load(sys.stdin)))'; }
fds() { find "/proc/$NVMFD_PID/fd" -mindepth 1 | wc -l; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$NVMFD_PID/status"; }
threads() { awk '/^Threads:/ {print $2}' "/proc/$NVMFD_PID/status"; }

# wait_gone WHAT: no controller and no queue pair left (20 s).
wait_gone() {
	local n c q
	for ((n = 0; n < 200; n++)); do
		c=$(ctrls)
		q=$(qpairs)
		[ -z "$c" ] && [ "$q" = 0 ] && return 0
		sleep 0.1
	done
	ilog "FAIL: after $1: controllers '$c', $q queue pairs still there 20 s later"
	fail=1
	return 1
}

# guest_cycle N RESETS
guest_cycle() {
	local g=$1 r glog before after n qpid old
	glog=$logs/host-churn-$g.log
	: >"$glog"
	rm -f "$pidfile"
	interop_start "$INTEROP_JOBS/host-churn.sh" --cpus 2 -l "$glog" -t 400 --pidfile "$pidfile" \
		-e NVMF_TRSVCID="$NVMFD_PORT" -e NVMF_NQN="$nqn" \
		-e "NVMF_CONNECT_OPTS=-i 2 -k 5 --reconnect-delay=1 --ctrl-loss-tmo=60"
	# shellcheck disable=SC2034 # host.sh's interop_wait_log reads it
	INTEROP_BG_LOG=$glog
	if ! interop_wait_log '^NVMF-CHURN-IO ' 300; then
		tr -d '\r' <"$glog" | tail -n 40
		ilog "FAIL: guest $g did not get I/O going"
		fail=1
		interop_finish 5
		return 1
	fi
	qpid=$(cat "$pidfile")
	before=$(ctrls)
	ilog "guest $g: $(tr -d '\r' <"$glog" | grep -m1 '^NVMF-CHURN-IO ') (nvmfd: $before)"
	[[ $before =~ ^[0-9]+:2$ ]] || { ilog "FAIL: guest $g: expected one controller with 2 I/O queues, nvmfd has '$before'"; fail=1; }
	for ((r = 1; r <= $2; r++)); do
		old=${before%%:*}
		# QEMU's sockets to nvmfd (nothing else talks to it now): nvmfd gets RSTs.
		ss -K -tn dst "127.0.0.1:$NVMFD_PORT" >/dev/null
		after=
		for ((n = 0; n < 600; n++)); do
			after=$(ctrls)
			[[ $after =~ ^[0-9]+:2$ ]] && [ "${after%%:*}" != "$old" ] && break
			sleep 0.1
		done
		if [[ $after =~ ^[0-9]+:2$ ]] && [ "${after%%:*}" != "$old" ]; then
			ilog "guest $g: reset $r: controller $old gone, the host reconnected as $after"
		else
			ilog "FAIL: guest $g: reset $r: nvmfd has '$after' 60 s after resetting controller $old"
			fail=1
			break
		fi
		before=$after
	done
	kill -KILL "$qpid"
	interop_finish 10 # killed: no exit marker
	wait_gone "guest $g killed" && ilog "guest $g killed (controller ${before%%:*}): nothing left in nvmfd"
}

raw_round() {
	local out
	out=$(python3 "$here/churn_client.py" 127.0.0.1 "$NVMFD_PORT" "$nqn" "$rawhost" --cycles "$1")
	echo "$out" | tail -n 1
	echo "$out" | grep -q '^CHURN-CLIENT OK' || { ilog "FAIL: raw client"; fail=1; }
	wait_gone "$1 raw cycles"
}

# ss -K needs CAP_NET_ADMIN and a kernel with CONFIG_INET_DIAG_DESTROY: try it on a socket of our own.
if ! python3 -c '
import socket, subprocess, sys
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen()
c = socket.create_connection(l.getsockname()); a, _ = l.accept()
subprocess.run(["ss", "-K", "-tn", "dst", "%s:%d" % l.getsockname()], capture_output=True)
a.settimeout(2)
try:
    a.recv(1)
except ConnectionResetError:
    sys.exit(0)
except OSError:
    pass
sys.exit(1)
'; then
	ilog "note: ss -K cannot reset sockets here (CAP_NET_ADMIN, CONFIG_INET_DIAG_DESTROY): guests are only killed"
	resets=0
fi
ilog "==== warm-up: one guest ($((resets ? 1 : 0)) reset), 12 raw cycles"
guest_cycle 1 $((resets ? 1 : 0))
raw_round 12
sleep 1
base_fds=$(fds) base_rss=$(rss_kb) base_threads=$(threads)
ilog "baseline: fds $base_fds, VmRSS $base_rss kB, threads $base_threads ($(elapsed) s)"
for ((g = 2; g <= boots; g++)); do
	ilog "==== guest $g of $boots"
	guest_cycle "$g" "$resets"
	raw_round "$raw_cycles"
	ilog "after round $g: fds $(fds), VmRSS $(rss_kb) kB ($(elapsed) s)"
done

ilog "==== after the cycles"
for ((n = 0; n < 50; n++)); do
	[ "$(fds)" -le "$base_fds" ] && break
	sleep 0.1
done
end_fds=$(fds) end_rss=$(rss_kb) end_threads=$(threads)
ilog "end: fds $end_fds (baseline $base_fds), VmRSS $end_rss kB (baseline $base_rss, slack $rss_slack_kb)," \
	"threads $end_threads (baseline $base_threads)"
if [ "$end_fds" -gt "$base_fds" ]; then
	ilog "FAIL: nvmfd holds $((end_fds - base_fds)) more file descriptors than at the baseline"
	ls -l "/proc/$NVMFD_PID/fd"
	fail=1
fi
[ "$end_rss" -le $((base_rss + rss_slack_kb)) ] ||
	{ ilog "FAIL: VmRSS grew by $((end_rss - base_rss)) kB (more than $rss_slack_kb)"; fail=1; }
[ "$end_threads" -le "$base_threads" ] || { ilog "FAIL: threads $base_threads -> $end_threads"; fail=1; }
# Controller IDs: 1-3 only, yet every Connect above got one; one more now.
raw_round 3
torn=$(grep -c " nvmf: controller [0-9]* of $nqn for " "$nlog")
ilog "controllers torn down: $torn through controller IDs 1-3; reasons:"
sed -n "s/^.* nvmf: controller [0-9]* of $nqn for [^ ]*: //p" "$nlog" | sort | uniq -c
[ "$torn" -gt 3 ] || { ilog "FAIL: only $torn controllers: the ID range was never reused"; fail=1; }
nvmfd_stop 10 || { ilog "FAIL: nvmfd did not exit cleanly after SIGTERM"; fail=1; }
ilog "total $(elapsed) s"
[ $fail -eq 0 ] && echo "PASS" || echo "FAIL"
exit $fail
