#!/usr/bin/env bash
# Self-check of the kernel-host job functions (lib.sh part (a)) with no code
# of ours in the path: guest A runs the kernel target (jobs/kernel-target.sh)
# forwarded to 127.0.0.1:PORT; guest B runs the kernel host
# (jobs/host-full.sh) against 10.0.2.2:PORT, i.e. through this machine's
# loopback to guest A.  Then the target's RAM disk is checked from A.
# Usage: test-kernel-host-selfcheck.sh [WORKDIR] [CONNECT_OPTS]   (e.g. "-i 2 -g -G -k 5")
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/host.sh"
interop_init "${1:-}"
opts=${2:-"-i 1"}
nqn=nqn.2014-08.io.nvmf:selfcheck
port=$(interop_free_port)
ctl=$(interop_free_port)
t0=$(date +%s.%N)
interop_start "$INTEROP_JOBS/kernel-target.sh" -t 240 --fwd "$port:4420" --fwd "$ctl:5555" \
	-e NVMF_NQN=$nqn -e NVMF_BACKING=brd:128 -e NVMF_TARGET_SECONDS=200
interop_wait_log 'NVMF-CTL-READY' 60 || exit 1
ilog "target up: 127.0.0.1:$port"
hlog=$NVMF_INTEROP_DIR/logs/host-full.$$.log
interop_run "$INTEROP_JOBS/host-full.sh" -l "$hlog" -t 200 -e NVMF_TRSVCID="$port" -e NVMF_NQN=$nqn \
	-e "NVMF_CONNECT_OPTS=$opts" -e NVMF_FIO_SIZE="${NVMF_FIO_SIZE:-16M}"
hrc=$?
tr -d '\r' <"$hlog"
interop_ctl "$ctl" checksum /dev/ram0 65536
interop_ctl "$ctl" release >/dev/null
interop_finish 60
trc=$?
ilog "host job exit $hrc, target job exit $trc, $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s"
[ $hrc -eq 0 ] && [ $trc -eq 0 ]
