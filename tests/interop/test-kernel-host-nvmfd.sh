#!/usr/bin/env bash
# The kernel host (jobs/host-full.sh) against nvmfd on 127.0.0.1: discover,
# connect, identify, fio randrw crc32c verify, ext4 roundtrip with a
# reconnect; once per connect option set (default: "-i 1" and "-g -G -k 5").
# Usage: test-kernel-host-nvmfd.sh WORKDIR NVMFD ["OPTS1|OPTS2..."]
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/host.sh"
workdir=${1:-}
nvmfd=${2:?usage: test-kernel-host-nvmfd.sh WORKDIR NVMFD [CONNECT_OPTS]}
opts=${3:-"-i 1|-g -G -k 5"}
[ -x "$nvmfd" ] || { echo "FAIL: no $nvmfd"; exit 1; }
interop_init "$workdir"
nqn=nqn.2014-08.io.nvmf:interop-kernel-host
logs=$NVMF_INTEROP_DIR/logs
port=
for _ in 1 2 3 4 5; do
	port=$(interop_free_port)
	: >"$logs/nvmfd.log" # truncated here, not by the background job: no stale "ready" is read
	"$nvmfd" --listen "127.0.0.1:$port" --subsystem "$nqn" --namespace ram:128M >"$logs/nvmfd.log" 2>&1 &
	npid=$!
	INTEROP_PIDS=$npid
	n=50
	while ! grep -q 'ready' "$logs/nvmfd.log" && kill -0 $npid 2>/dev/null && [ $n -gt 0 ]; do
		sleep 0.1
		n=$((n - 1))
	done
	grep -q 'ready' "$logs/nvmfd.log" && break
	kill $npid 2>/dev/null
	wait $npid 2>/dev/null
	port=
done
[ -n "$port" ] || { cat "$logs/nvmfd.log"; ilog "FAIL: nvmfd did not start"; exit 1; }
ilog "nvmfd on 127.0.0.1:$port"
t0=$(date +%s.%N)
glog=$logs/host-full-nvmfd.log
interop_run "$INTEROP_JOBS/host-full.sh" -l "$glog" -t 240 -e NVMF_TRSVCID="$port" -e NVMF_NQN="$nqn" \
	-e "NVMF_CONNECT_OPTS=$opts" -e NVMF_FIO_SIZE="${NVMF_FIO_SIZE:-32M}"
rc=$?
ilog "guest job exit $rc after $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s"
tr -d '\r' <"$glog"
kill $npid 2>/dev/null
wait $npid 2>/dev/null
INTEROP_PIDS=
echo "---- nvmfd ----"
cat "$logs/nvmfd.log"
fail=0
[ $rc -eq 0 ] || fail=1
IFS='|' read -ra sets <<<"$opts"
for o in "${sets[@]}"; do
	interop_log_has "$glog" "^NVMF-HOST-FULL-OK opts=$o\$" "full kernel-host check with options '$o'" || fail=1
done
exit $fail
