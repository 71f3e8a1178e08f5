#!/usr/bin/env bash
# The kernel host against nvmfd: the issue's list of checks in one guest
# boot with 2 vCPUs (jobs/host-nvmfd-checks.sh has the details):
#   discovery of two subsystems (and filtered for a host that is not allowed),
#   connect -i 2 with and without header/data digests (2 I/O queues each),
#   id-ctrl / id-ns / list / smart-log, SMART counters grow with fio,
#   fio randrw crc32c verify 512-1M iodepth 32 on a FILE-backed namespace,
#   ext4 roundtrip with disconnect + reconnect, idle > KATO without a reset,
#   a second host NQN (second controller, other cntlid, both carry I/O),
#   a refused host NQN (Connect Invalid Host).
# Here: nvmfd exits cleanly, never logged a keep-alive timeout, and the
# file behind the namespace holds the guest's ext4.
# Usage: test-kernel-host-nvmfd-checks.sh WORKDIR NVMFD ["OPTS1|OPTS2..."]
set -uo pipefail
here=$(dirname "${BASH_SOURCE[0]}")
. "$here/host.sh"
. "$here/nvmfd-lib.sh"
workdir=${1:-}
nvmfd=${2:?usage: test-kernel-host-nvmfd-checks.sh WORKDIR NVMFD [CONNECT_OPTS]}
opts=${3:-"-i 2 -g -G -k 5|-i 2 -k 5"}
[ -x "$nvmfd" ] || { echo "FAIL: no $nvmfd"; exit 1; }
interop_init "$workdir"
logs=$NVMF_INTEROP_DIR/logs
nqn=nqn.2014-08.io.nvmf:interop-checks-file
nqn2=nqn.2014-08.io.nvmf:interop-checks-ram
hostnqn2=nqn.2014-08.org.example:second-host
hostid2=6e766d66-696e-7465-726f-700000000002
denied=nqn.2014-08.org.example:not-allowed
deniedid=6e766d66-696e-7465-726f-700000000003
ns_bytes=$((256 * 1024 * 1024))

tmp=$(mktemp -d "${TMPDIR:-/tmp}/nvmf-interop-ns.XXXXXX") || exit 1
trap 'interop_cleanup; rm -rf "$tmp"' EXIT
truncate -s "$ns_bytes" "$tmp/ns1.img" || exit 1

nlog=$logs/nvmfd-checks.log
nvmfd_start "$nlog" "$nvmfd" \
	--subsystem "$nqn" --namespace "$tmp/ns1.img" --allow-host "$INTEROP_HOSTNQN" --allow-host "$hostnqn2" \
	--subsystem "$nqn2" --namespace ram:64M || exit 1

glog=$logs/host-nvmfd-checks.log
pcap=$logs/host-nvmfd-checks.pcap
t0=$EPOCHREALTIME
interop_run "$INTEROP_JOBS/host-nvmfd-checks.sh" --cpus 2 -l "$glog" -t 300 -p "$pcap" --pcap-maxlen 256 \
	-e NVMF_TRSVCID="$NVMFD_PORT" -e NVMF_NQN="$nqn" -e NVMF_NQN2="$nqn2" -e NVMF_NS_BYTES="$ns_bytes" \
	-e NVMF_HOSTNQN2="$hostnqn2" -e NVMF_HOSTID2="$hostid2" \
	-e NVMF_DENIED_HOSTNQN="$denied" -e NVMF_DENIED_HOSTID="$deniedid" \
	-e "NVMF_CONNECT_OPTS=$opts" -e NVMF_QUEUES=2 -e NVMF_IDLE="${NVMF_IDLE:-12}" \
	-e NVMF_FIO_SIZE="${NVMF_FIO_SIZE:-32M}" -e NVMF_JOB_TIMEOUT=280
rc=$?
ilog "guest job exit $rc after $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", b-a}') s"
tr -d '\r' <"$glog"
nvmfd_stop 10
nrc=$?
echo "---- nvmfd ----"
cat "$nlog"

fail=0
[ $rc -eq 0 ] || { ilog "FAIL: guest job exit $rc"; fail=1; }
[ $nrc -eq 0 ] || { ilog "FAIL: nvmfd exit $nrc after SIGTERM"; fail=1; }
interop_log_has "$glog" "^NVMF-CHECK-OK discover both subsystems: .*$nqn $NVMFD_PORT .*$nqn2 $NVMFD_PORT|^NVMF-CHECK-OK discover both subsystems: .*$nqn2 $NVMFD_PORT .*$nqn $NVMFD_PORT" \
	"discovery lists both subsystems on port $NVMFD_PORT" || fail=1
interop_log_has "$glog" "^NVMF-CHECK-OK discover filtered for a host not allowed: .*$nqn2 $NVMFD_PORT" \
	"discovery for a host that is not allowed" || fail=1
IFS='|' read -ra sets <<<"$opts"
nq=$(tr -d '\r' <"$glog" | grep -c '^NVMF-CHECK-OK io-queues .* queues=2 ')
if [ "$nq" -ge $((2 * ${#sets[@]})) ]; then
	ilog "ok: 2 I/O queues on each of $nq connects"
else
	ilog "MISSING: 2 I/O queues on every connect ($nq of $((2 * ${#sets[@]})))"
	fail=1
fi
for o in "${sets[@]}"; do
	interop_log_has "$glog" "^NVMF-OPTS-OK opts=$o\$" "queues, identify, fio + SMART, fs roundtrip with '$o'" || fail=1
done
ns=$(tr -d '\r' <"$glog" | grep -c '^NVMF-CHECK-OK fio-verify.smart .*bsrange=512-1M iodepth=32')
if [ "$ns" -ge "${#sets[@]}" ]; then
	ilog "ok: SMART counters grew with fio ($ns times)"
else
	ilog "MISSING: fio + SMART counters per option set"
	fail=1
fi
interop_log_has "$glog" "^NVMF-CHECK-OK keepalive-idle .* idle=${NVMF_IDLE:-12}s" "idle longer than KATO without reset" || fail=1
interop_log_has "$glog" "^NVMF-CHECK-OK second-host " "second host NQN: second controller, other cntlid" || fail=1
interop_log_has "$glog" "^NVMF-CHECK-OK both-usable " "both controllers carry I/O" || fail=1
interop_log_has "$glog" "^NVMF-CHECK-OK second-host-read " "second controller reads the first one's data" || fail=1
interop_log_has "$glog" "^NVMF-CHECK-OK denied-host $denied: .*ret=16772" "host not allowed is refused (Invalid Host)" || fail=1
interop_log_has "$glog" "^NVMF-CHECK-OK denied-host-other-subsystem " "refused host accepted by an open subsystem" || fail=1
interop_log_has "$glog" "^NVMF-CHECKS-DONE" "job completed" || fail=1
if grep -q 'keep alive timeout' "$nlog"; then
	ilog "FAIL: nvmfd tore an association down for keep alive while the host was active"
	fail=1
else
	ilog "ok: no keep alive timeout in nvmfd's log"
fi
# Digests as negotiated on the wire (ICReq / ICResp DGST per connection, the
# Connect command's queue ID): nvmfd grants what the host asks, and each
# option set made its admin queue and both I/O queues (twice: connect and the
# roundtrip's reconnect) with (-g -G: 3) or without (0) digests.
"$here/pcap-nvmf-tcp.py" "$pcap" "$NVMFD_PORT" >"$tmp/conns" || { ilog "FAIL: pcap-nvmf-tcp.py"; fail=1; }
echo "---- NVMe/TCP connections (client port, ICReq/ICResp DGST, Connect QID) ----"
cat "$tmp/conns"
if awk '$3 != "icreq_dgst=-" && substr($3, 12) != substr($4, 13) {bad = 1} END {exit !bad}' "$tmp/conns"; then
	ilog "FAIL: ICResp DGST differs from the ICReq's on some connection"
	fail=1
else
	ilog "ok: every ICResp grants the ICReq's digests"
fi
n_dig=0 n_plain=0
for o in "${sets[@]}"; do
	g=0
	[[ " $o " == *" -g "* ]] && g=$((g + 1))
	[[ " $o " == *" -G "* ]] && g=$((g + 1))
	[ $g = 2 ] && n_dig=$((n_dig + 1))
	[ $g = 0 ] && n_plain=$((n_plain + 1))
done
for d in 3 0; do
	want=$((2 * n_dig))
	[ $d = 0 ] && want=$((2 * n_plain))
	for q in 0 1 2; do
		got=$(grep -c "icreq_dgst=$d icresp_dgst=$d qid=$q\$" "$tmp/conns")
		if [ "$got" -ge "$want" ]; then
			ilog "ok: $got connections with DGST=$d for queue $q (>= $want)"
		else
			ilog "FAIL: $got connections with DGST=$d for queue $q, expected >= $want"
			fail=1
		fi
	done
done
rm -f "$pcap"
# The guest's ext4 (magic EF53 at byte 1080) is in the file behind the namespace.
magic=$(od -An -tx1 -j 1080 -N 2 "$tmp/ns1.img" | tr -d ' ')
if [ "$magic" = 53ef ]; then
	ilog "ok: the namespace's file holds the guest's ext4 (magic 0xEF53)"
else
	ilog "FAIL: no ext4 superblock in the namespace's file (bytes at 1080: '$magic')"
	fail=1
fi
exit $fail
