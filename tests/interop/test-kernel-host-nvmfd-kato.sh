#!/usr/bin/env bash
# Keep alive: nvmfd frees the association of a kernel host that vanished.
# Two guest boots (jobs/host-hold.sh: connect -k KATO, read, print
# NVMF-HOLD-READY, then hold the association idle):
#   stop: the test freezes the guest's QEMU (SIGSTOP): its TCP connections
#         stay open but the host sends nothing, so only keep-alive expiry can
#         end the association; nvmfd must log "controller N of NQN for HOST:
#         keep alive timeout" within KATO + 3 s of the stop (and not before 1 s).
#   kill: the test kills the guest's QEMU (SIGKILL): QEMU's user-mode network
#         sockets close with it, so nvmfd sees the connections close and must
#         log the controller's teardown within KATO + 3 s of the kill (the
#         reason it logs is reported: "admin queue closed" is expected here).
# The cntlid in nvmfd's log line is the one the guest reported.
# Usage: test-kernel-host-nvmfd-kato.sh WORKDIR NVMFD [KATO]
set -uo pipefail
here=$(dirname "${BASH_SOURCE[0]}")
. "$here/host.sh"
. "$here/nvmfd-lib.sh"
workdir=${1:-}
nvmfd=${2:?usage: test-kernel-host-nvmfd-kato.sh WORKDIR NVMFD [KATO]}
kato=${3:-5}
[ -x "$nvmfd" ] || { echo "FAIL: no $nvmfd"; exit 1; }
interop_init "$workdir"
logs=$NVMF_INTEROP_DIR/logs
nqn=nqn.2014-08.io.nvmf:interop-kato
limit=$((kato + 3))
pidfile=$NVMF_INTEROP_DIR/kato.$$.qemu.pid
trap 'interop_cleanup; rm -f "$pidfile"' EXIT

nlog=$logs/nvmfd-kato.log
nvmfd_start "$nlog" "$nvmfd" --subsystem "$nqn" --namespace ram:64M || exit 1

fail=0
# open_conns: nvmfd's TCP connections on its port that nvmfd has not closed
# (ESTABLISHED, or CLOSE-WAIT: the peer closed, nvmfd did not).
open_conns() {
	ss -Htn state established state close-wait "( sport = :$NVMFD_PORT )" | wc -l
}
# run_case MODE SIGNAL EXPECTED_REASON_RE
run_case() {
	local mode=$1 sig=$2 want=$3 glog qpid gkato nconn cntlid t_sig line t_line dt reason n
	glog=$logs/host-hold-$mode.log
	rm -f "$pidfile"
	: >"$glog"
	interop_start "$INTEROP_JOBS/host-hold.sh" -l "$glog" -t 90 --pidfile "$pidfile" \
		-e NVMF_TRSVCID="$NVMFD_PORT" -e NVMF_NQN="$nqn" -e "NVMF_CONNECT_OPTS=-i 1 -k $kato" \
		-e NVMF_HOLD_SECONDS=60
	# shellcheck disable=SC2034 # host.sh's interop_wait_log reads it (-l overrides interop_start's log)
	INTEROP_BG_LOG=$glog
	if ! interop_wait_log '^NVMF-HOLD-READY ' 60; then
		tr -d '\r' <"$glog"
		ilog "FAIL($mode): the guest did not connect"
		interop_finish 5
		return 1
	fi
	cntlid=$(tr -d '\r' <"$glog" | sed -n 's/^NVMF-HOLD-READY .*cntlid=\([0-9]*\).*$/\1/p' | head -n 1)
	qpid=$(cat "$pidfile")
	gkato=$(tr -d '\r' <"$glog" | sed -n 's/^NVMF-HOLD-READY .*kato=\([0-9]*\).*$/\1/p' | head -n 1)
	if [ "$gkato" != "$kato" ]; then
		ilog "FAIL($mode): the guest's controller has KATO '$gkato', not $kato"
		fail=1
	fi
	if grep -q "nvmf: controller $cntlid of $nqn for " "$nlog"; then
		ilog "FAIL($mode): controller $cntlid torn down before the $sig"
		fail=1
	fi
	nconn=$(open_conns)
	if [ "$nconn" -lt 2 ]; then
		ilog "FAIL($mode): $nconn open connections on nvmfd's port, expected admin + I/O queue"
		fail=1
	fi
	t_sig=$EPOCHREALTIME
	kill "-$sig" "$qpid" || { ilog "FAIL($mode): kill -$sig $qpid"; return 1; }
	ilog "$mode: SIG$sig to QEMU $qpid (controller $cntlid, KATO ${kato} s)"
	line=
	for ((n = 0; n < (limit + 5) * 10; n++)); do
		line=$(grep -m1 " nvmf: controller $cntlid of $nqn for $INTEROP_HOSTNQN: " "$nlog")
		[ -n "$line" ] && break
		sleep 0.1
	done
	# nvmfd closed the association's queues (admin and I/O), the frozen guest's too.
	for ((n = 0; n < 20; n++)); do
		[ "$(open_conns)" = 0 ] && break
		sleep 0.1
	done
	if [ "$(open_conns)" = 0 ]; then
		[ -n "$line" ] && ilog "ok($mode): nvmfd closed all $nconn connections of the association"
	else
		ilog "FAIL($mode): nvmfd still has $(open_conns) of $nconn connections open after the teardown"
		ss -tn "( sport = :$NVMFD_PORT )"
		fail=1
	fi
	[ "$sig" = STOP ] && kill -KILL "$qpid" 2>/dev/null
	interop_finish 10 # no exit marker: the guest was killed (125)
	tr -d '\r' <"$glog" | sed -n '/NVMF-JOB-START/,$p'
	if [ -z "$line" ]; then
		ilog "FAIL($mode): nvmfd did not log the teardown of controller $cntlid within $((limit + 5)) s of SIG$sig"
		fail=1
		return 1
	fi
	t_line=${line%% *}
	reason=${line##*: }
	dt=$(awk -v a="$t_sig" -v b="$t_line" 'BEGIN{printf "%.2f", b-a}')
	ilog "$mode: nvmfd: '${line#* }' $dt s after SIG$sig"
	if ! [[ $reason =~ $want ]]; then
		ilog "FAIL($mode): teardown reason '$reason', expected /$want/"
		fail=1
	fi
	if awk -v d="$dt" -v l="$limit" 'BEGIN{exit !(d <= l)}'; then
		ilog "ok($mode): controller $cntlid freed ($reason) $dt s after SIG$sig (limit KATO + 3 = $limit s)"
	else
		ilog "FAIL($mode): controller $cntlid freed $dt s after SIG$sig (limit $limit s)"
		fail=1
	fi
	if [ "$sig" = STOP ] && awk -v d="$dt" 'BEGIN{exit !(d < 1)}'; then
		ilog "FAIL($mode): torn down only $dt s after the guest froze: not a keep-alive expiry"
		fail=1
	fi
}
t0=$EPOCHREALTIME
run_case stop STOP '^keep alive timeout$'
run_case kill KILL '.'
ilog "both cases: $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", b-a}') s"
nvmfd_stop 10
nrc=$?
echo "---- nvmfd ----"
cat "$nlog"
[ $nrc -eq 0 ] || { ilog "FAIL: nvmfd exit $nrc after SIGTERM"; fail=1; }
exit $fail
