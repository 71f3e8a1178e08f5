#!/usr/bin/env bash
# interop-kernel-target-icresp: the kernel target (nvmet) in the guest,
# reached from this machine through QEMU's port forwarding, answers an ICReq
# (without and with digests) with a valid ICResp; the control channel runs a
# check in the guest (checksum of /dev/ram0) and releases the job, which then
# runs its NVMF_AFTER check and powers off.
# Usage: test-kernel-target-icresp.sh [WORKDIR]
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/host.sh"
interop_init "${1:-}"
port=$(interop_free_port)
ctl=$(interop_free_port)
while [ "$ctl" = "$port" ]; do ctl=$(interop_free_port); done
t0=$(date +%s.%N)
interop_start "$INTEROP_JOBS/kernel-target.sh" -t 120 --fwd "$port:4420" --fwd "$ctl:5555" \
	-e NVMF_BACKING=brd:16 -e NVMF_TARGET_SECONDS=60 -e "NVMF_AFTER=target_checksum /dev/ram0 1048576"
fail=0
if interop_wait_log 'NVMF-CTL-READY' 60; then
	ilog "target up after $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s (127.0.0.1:$port -> guest 4420)"
	python3 "$INTEROP_DIR/icreq_probe.py" 127.0.0.1 "$port" || fail=1
	python3 "$INTEROP_DIR/icreq_probe.py" 127.0.0.1 "$port" --hdgst --ddgst || fail=1
	out=$(interop_ctl "$ctl" checksum /dev/ram0 4096) || fail=1
	echo "$out"
	# 4 KiB of zeros: the fresh RAM disk
	grep -q 'sha256=ad7facb2586fc6e966c004d7d1d16b024f5805ff7cb47c7a85dabd8b48892ca7' <<<"$out" || {
		ilog "unexpected checksum of the fresh /dev/ram0"
		fail=1
	}
	interop_ctl "$ctl" release >/dev/null || fail=1
else
	fail=1
fi
interop_finish 60
rc=$?
ilog "guest job exit $rc after $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s"
tr -d '\r' <"$INTEROP_BG_LOG"
[ $rc -eq 0 ] || fail=1
interop_log_has "$INTEROP_BG_LOG" '^NVMF-TARGET-RELEASED' "released through the control channel" || fail=1
interop_log_has "$INTEROP_BG_LOG" '^NVMF-CHECKSUM dev=/dev/ram0 skip=0 bytes=1048576 sha256=' "check run after release" || fail=1
exit $fail
