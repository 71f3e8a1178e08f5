# Guest job: the kernel target (nvmet) serving NVMF_NQN (default
# nqn.2014-08.io.nvmf:interop) on port 4420 from NVMF_BACKING (default brd:64),
# staying up until the host sends "release" on the control channel (guest
# port 5555) or NVMF_TARGET_SECONDS (default 60) pass; then runs
# NVMF_AFTER (a shell command, e.g. "target_checksum /dev/ram0 1048576").
# Reach it with qemu-run.sh --fwd HOSTPORT:4420 --fwd CTLPORT:5555.
. /lib.sh
nqn=${NVMF_NQN:-nqn.2014-08.io.nvmf:interop}
target_setup "$nqn" "${NVMF_BACKING:-brd:64}" 4420 || exit 1
[ -n "${NVMF_RESTRICT_HOST:-}" ] && { target_restrict_host "$nqn" "$NVMF_RESTRICT_HOST" || exit 1; }
target_wait "${NVMF_TARGET_SECONDS:-60}" || exit 1
if [ -n "${NVMF_AFTER:-}" ]; then
	eval "$NVMF_AFTER" || exit 1
fi
target_report "$nqn"
# Power off without tearing nvmet down (a teardown can hang after errors on 6.12).
exit 0
