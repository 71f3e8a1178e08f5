#!/usr/bin/env bash
# interop-min-ctrl (issue 3): the Linux kernel's host completes the
# ICReq/ICResp exchange and a Connect against min_ctrl, a minimal controller
# built on our transport layer's blocking API; then sends at least one more
# command (proof that it accepted our Connect response).  Two variants in
# one guest boot: "nvme discover" without digests, and "nvme connect -g -G"
# to a test NQN with header and data digests.
# Usage: test-min-ctrl.sh WORKDIR MIN_CTRL_PATH
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/host.sh"
workdir=${1:-}
min_ctrl=${2:?usage: test-min-ctrl.sh WORKDIR MIN_CTRL_PATH}
[ -x "$min_ctrl" ] || { echo "FAIL: no $min_ctrl"; exit 1; }

interop_init "$workdir"
nqn=nqn.2014-08.io.nvmf:min-ctrl
logs=$NVMF_INTEROP_DIR/logs
INTEROP_PIDS=
start_ctrl() { # NAME [min_ctrl options...]: start min_ctrl on a free port; sets port_NAME
	local name=$1
	shift
	rm -f "$logs/min_ctrl.$name.port"
	"$min_ctrl" --port 0 --port-file "$logs/min_ctrl.$name.port" --timeout 120 \
		--expect-hostnqn "$INTEROP_HOSTNQN" "$@" >"$logs/min_ctrl.$name.log" 2>&1 &
	local pid=$!
	INTEROP_PIDS="$INTEROP_PIDS $pid"
	eval "pid_$name=$pid"
	local n=50
	while [ ! -s "$logs/min_ctrl.$name.port" ] && [ $n -gt 0 ]; do
		sleep 0.1
		n=$((n - 1))
	done
	[ -s "$logs/min_ctrl.$name.port" ] || {
		cat "$logs/min_ctrl.$name.log"
		ilog "FAIL: min_ctrl ($name) did not start"
		exit 1
	}
	eval "port_$name=$(cat "$logs/min_ctrl.$name.port")"
}
start_ctrl plain
start_ctrl digest --subnqn "$nqn" --expect-digests
# shellcheck disable=SC2154
ilog "min_ctrl listening: plain 127.0.0.1:$port_plain, digest 127.0.0.1:$port_digest"

t0=$(date +%s.%N)
glog=$logs/min-ctrl.log
interop_run "$INTEROP_JOBS/min-ctrl.sh" -l "$glog" -t 150 \
	-e NVMF_PORT_PLAIN="$port_plain" -e NVMF_PORT_DIGEST="$port_digest" -e NVMF_NQN="$nqn"
grc=$?
ilog "guest job exit $grc after $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s"
tr -d '\r' <"$glog"

fail=0
[ $grc -eq 0 ] || fail=1
for v in plain digest; do
	pid=pid_$v
	n=100
	while kill -0 "${!pid}" 2>/dev/null && [ $n -gt 0 ]; do
		sleep 0.1
		n=$((n - 1))
	done
	kill "${!pid}" 2>/dev/null
	wait "${!pid}"
	rc=$?
	echo "---- min_ctrl ($v), exit $rc ----"
	cat "$logs/min_ctrl.$v.log"
	l=$logs/min_ctrl.$v.log
	if [ $v = plain ]; then
		interop_log_has "$l" '^ICREQ-OK hdgst=0 ddgst=0' "$v: ICReq/ICResp" || fail=1
		interop_log_has "$l" "^CONNECT qid=0 .* subnqn=nqn.2014-08.org.nvmexpress.discovery hostnqn=$INTEROP_HOSTNQN\$" \
			"$v: Connect to the discovery NQN from the guest's host NQN" || fail=1
	else
		interop_log_has "$l" '^ICREQ-OK hdgst=1 ddgst=1' "$v: ICReq/ICResp with both digests" || fail=1
		interop_log_has "$l" "^CONNECT qid=0 .* subnqn=$nqn hostnqn=$INTEROP_HOSTNQN\$" \
			"$v: Connect to $nqn from the guest's host NQN" || fail=1
	fi
	interop_log_has "$l" '^CONNECT-RESPONSE status=0x0000' "$v: Connect answered with success" || fail=1
	interop_log_has "$l" '^CMD ' "$v: a command after the Connect" || fail=1
	[ $rc -eq 0 ] || { ilog "$v: min_ctrl exit $rc"; fail=1; }
done
INTEROP_PIDS=
exit $fail
