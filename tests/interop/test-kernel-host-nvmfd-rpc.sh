#!/usr/bin/env bash
# The kernel host against nvmfd changed at run time over its JSON-RPC socket
# (with `nvmf rpc`), one guest boot (jobs/host-rpc.sh has the guest's side):
#   a namespace added appears in the guest by itself (Namespace Attribute
#   Changed event) and carries data; removed, its block device goes;
#   the host removed from the subsystem loses its association and is
#   refused when it reconnects (Connect Invalid Host) until it gives up.
# Here: nvmfd logged the removal and exits cleanly.
# Usage: test-kernel-host-nvmfd-rpc.sh WORKDIR NVMFD NVMF
set -uo pipefail
here=$(dirname "${BASH_SOURCE[0]}")
# shellcheck source=host.sh
. "$here/host.sh"
# shellcheck source=nvmfd-lib.sh
. "$here/nvmfd-lib.sh"
workdir=${1:-}
nvmfd=${2:?usage: test-kernel-host-nvmfd-rpc.sh WORKDIR NVMFD NVMF}
nvmf=${3:?usage: test-kernel-host-nvmfd-rpc.sh WORKDIR NVMFD NVMF}
if [ ! -x "$nvmfd" ] || [ ! -x "$nvmf" ]; then
	echo "FAIL: no $nvmfd or $nvmf"
	exit 1
fi
interop_init "$workdir"
logs=$NVMF_INTEROP_DIR/logs
nqn=nqn.2014-08.io.nvmf:interop-rpc
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nvmf-interop-rpc.XXXXXX") || exit 1
sock=$tmp/rpc.sock
trap 'interop_cleanup; rm -rf "$tmp"' EXIT

nlog=$logs/nvmfd-rpc.log
nvmfd_start "$nlog" "$nvmfd" --rpc-socket "$sock" \
	--subsystem "$nqn" --namespace ram:64M --allow-host "$INTEROP_HOSTNQN" || exit 1
rpc() {
	ilog "rpc $*"
	"$nvmf" rpc "$1" -s "$sock" "${@:2}" || { ilog "FAIL: rpc $1"; fail=1; }
}

fail=0
glog=$logs/host-rpc.log
: >"$glog"
interop_start "$INTEROP_JOBS/host-rpc.sh" -l "$glog" -t 280 \
	-e NVMF_TRSVCID="$NVMFD_PORT" -e NVMF_NQN="$nqn"
# shellcheck disable=SC2034 # host.sh's interop_wait_log reads it
INTEROP_BG_LOG=$glog
step() { # PATTERN WHAT
	if interop_wait_log "$1" 120; then
		ilog "ok: $2"
	else
		ilog "FAIL: $2"
		fail=1
	fi
}
step '^NVMF-RPC-READY ' "the guest connected"
if [ $fail -eq 0 ]; then
	rpc bdev_malloc_create --name Hot --num-blocks 65536 --block-size 512
	rpc nvmf_subsystem_add_ns --nqn "$nqn" --namespace.bdev-name Hot --namespace.nsid 2
	step '^NVMF-RPC-NS-ADDED ' "namespace 2 appeared in the guest and carried data"
fi
if [ $fail -eq 0 ]; then
	rpc nvmf_subsystem_remove_ns --nqn "$nqn" --nsid 2
	step '^NVMF-RPC-NS-REMOVED' "namespace 2 left the guest, namespace 1 stayed"
fi
if [ $fail -eq 0 ]; then
	rpc nvmf_subsystem_remove_host --nqn "$nqn" --host "$INTEROP_HOSTNQN"
	step '^NVMF-RPC-HOST-GONE' "the removed host lost its controller"
fi
interop_finish 60
rc=$?
tr -d '\r' <"$glog"
nvmfd_stop 10
nrc=$?
echo "---- nvmfd ----"
cat "$nlog"
[ $rc -eq 0 ] || { ilog "FAIL: guest job exit $rc"; fail=1; }
[ $nrc -eq 0 ] || { ilog "FAIL: nvmfd exit $nrc after SIGTERM"; fail=1; }
interop_log_has "$nlog" "nvmf: controller [0-9]+ of $nqn for $INTEROP_HOSTNQN: host removed" \
	"nvmfd ended the removed host's association" || fail=1
# Every reconnect after the removal was refused (the guest kept trying until ctrl-loss-tmo).
interop_log_has "$glog" "not allowed|[Ii]nvalid [Hh]ost" "the guest's reconnect was refused as Invalid Host" || fail=1
[ $fail -eq 0 ] && echo "PASS" || echo "FAIL"
exit $fail
