#!/usr/bin/env bash
# The kernel host against nvmfd changed at run time over its JSON-RPC socket
# (with `nvmf rpc`), one guest boot (jobs/host-rpc.sh has the guest's side):
#   a namespace added appears in the guest by itself (Namespace Attribute
#   Changed event) and carries data (dd, then fio verify at 4 KiB QD 1);
#   nvmfd's per-namespace counters (nvmf_subsystem_get_io_stats) agree
#   with what the guest did: writes and bytes written exactly, reads at least;
#   removed while verified I/O runs on namespace 1, its block device goes
#   and that I/O goes on without error;
#   the listener taken off line drops the association (the controller
#   leaves "live"), back on line the host reconnects by itself and I/O works;
#   the host removed from the subsystem loses its association and is
#   refused when it reconnects (Connect Invalid Host) until it gives up.
# Here: nvmfd logged the off-line listener and the removal and exits cleanly.
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
	step '^NVMF-RPC-NS-ADDED ' "namespace 2 appeared in the guest and carried data (dd, fio verify)"
fi
if [ $fail -eq 0 ]; then
	# The guest wrote one 4 KiB block with dd, then fio; it read the block back, then
	# fio verified (the kernel reads the new namespace on its own too: partition scan).
	added=$(tr -d '\r' <"$glog" | grep -m1 '^NVMF-RPC-NS-ADDED ')
	stats=$("$nvmf" rpc nvmf_subsystem_get_io_stats -s "$sock" --nqn "$nqn" --json) || fail=1
	ilog "io stats: $(tr -d ' \n' <<<"$stats")"
	if ! python3 - "$added" "$stats" <<'PY'; then
import json, re, sys
fio = {k: int(v) for k, v in re.findall(r"(fio_\w+)=(\d+)", sys.argv[1])}
ns = {n["nsid"]: n for n in json.loads(sys.argv[2])["namespaces"]}.get(2)
if ns is None or len(fio) != 4 or fio["fio_write_ios"] == 0 or fio["fio_read_ios"] == 0:
    sys.exit(f"namespace 2: {ns}, fio: {fio}")
want = {"write_ops": 1 + fio["fio_write_ios"], "bytes_written": 4096 + fio["fio_write_bytes"]}
least = {"read_ops": 1 + fio["fio_read_ios"], "bytes_read": 4096 + fio["fio_read_bytes"]}
print(f"fio: {fio}; nvmfd namespace 2: write_ops {ns['write_ops']} bytes_written {ns['bytes_written']}"
      f" read_ops {ns['read_ops']} bytes_read {ns['bytes_read']}")
bad = [f"{k} {ns[k]} != {v}" for k, v in want.items() if ns[k] != v]
bad += [f"{k} {ns[k]} < {v}" for k, v in least.items() if ns[k] < v]
sys.exit("; ".join(bad) or None)
PY
		ilog "FAIL: nvmfd's counters for namespace 2 disagree with the guest's dd and fio"
		fail=1
	else
		ilog "ok: nvmfd's counters for namespace 2 agree with the guest's dd and fio"
	fi
fi
if [ $fail -eq 0 ]; then
	rpc nvmf_subsystem_remove_ns --nqn "$nqn" --nsid 2
	step '^NVMF-RPC-NS-REMOVED' "namespace 2 left the guest while fio verify ran on namespace 1, which went on without error"
fi
la=(--listen-address.trtype tcp --listen-address.adrfam ipv4 --listen-address.traddr 127.0.0.1
	--listen-address.trsvcid "$NVMFD_PORT")
if [ $fail -eq 0 ]; then
	t0=$EPOCHREALTIME
	rpc nvmf_listener_set_offline "${la[@]}"
	step '^NVMF-RPC-OFFLINE ' "the listener off line: the guest's controller left live"
	if [ $fail -eq 0 ]; then
		# While off line nothing listens: a connect is refused.
		if (exec 3<>"/dev/tcp/127.0.0.1/$NVMFD_PORT") 2>/dev/null; then
			ilog "FAIL: 127.0.0.1:$NVMFD_PORT accepts a connection while off line"
			fail=1
		fi
	fi
	rpc nvmf_listener_set_online "${la[@]}"
	step '^NVMF-RPC-ONLINE ' "the listener on line: the guest reconnected and namespace 1 carried data"
	ilog "off line to reconnected: $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f s", b - a }')"
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
interop_log_has "$nlog" "nvmf: controller [0-9]+ of $nqn for $INTEROP_HOSTNQN: listener taken off line" \
	"nvmfd ended the association when the listener went off line" || fail=1
interop_log_has "$nlog" "nvmf: controller [0-9]+ of $nqn for $INTEROP_HOSTNQN: host removed" \
	"nvmfd ended the removed host's association" || fail=1
# Every reconnect after the removal was refused (the guest kept trying until ctrl-loss-tmo).
interop_log_has "$glog" "not allowed|[Ii]nvalid [Hh]ost" "the guest's reconnect was refused as Invalid Host" || fail=1
[ $fail -eq 0 ] && echo "PASS" || echo "FAIL"
exit $fail
