#!/usr/bin/env bash
# Our host (the nvmf command) against the Linux kernel target (nvmet) in a
# QEMU guest: discover, identify, list, a 1 MiB write checked by the guest's
# own sha256 of the RAM disk (with and without digests), data the guest wrote
# read back here (with and without digests), logs, features, perf --verify.
# Usage: host_vs_kernel_target.sh WORKDIR NVMF
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/host.sh"
NVMF=${2:?usage: host_vs_kernel_target.sh WORKDIR NVMF}
interop_init "${1:-}"
nqn=nqn.2014-08.io.nvmf:hostinterop
port=$(interop_free_port)
ctl=$(interop_free_port)
while [ "$ctl" = "$port" ]; do ctl=$(interop_free_port); done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"; interop_cleanup' EXIT
interop_start "$INTEROP_JOBS/kernel-target.sh" -t 240 --fwd "$port:4420" --fwd "$ctl:5555" \
	-e NVMF_NQN=$nqn -e NVMF_BACKING=brd:64 -e NVMF_TARGET_SECONDS=200
fails=0
ok() { ilog "ok - $*"; }
bad() {
	ilog "FAIL - $*"
	fails=$((fails + 1))
}
if ! interop_wait_log 'NVMF-CTL-READY' 90; then
	tr -d '\r' <"$INTEROP_BG_LOG" | tail -40
	exit 1
fi
URI=tcp://127.0.0.1:$port/$nqn
T="timeout 120"

out=$($T "$NVMF" discover "trtype:tcp adrfam:ipv4 traddr:127.0.0.1 trsvcid:$port" 2>&1) && grep -q "subnqn:  $nqn" <<<"$out" &&
	ok "discover" || bad "discover: $out"
echo "$out"
out=$($T "$NVMF" identify "tcp://127.0.0.1:$port/nqn.2014-08.org.nvmexpress.discovery" 2>&1) &&
	grep -q "discovery controller" <<<"$out" && ok "identify the discovery controller" || bad "identify discovery: $out"
out=$($T "$NVMF" identify "$URI" 2>&1) && grep -q "NVME Identify Namespace 1" <<<"$out" && grep -q "^mn        : Linux" <<<"$out" &&
	ok "identify" || bad "identify: $out"
echo "$out" | head -20
out=$($T "$NVMF" list "$URI" 2>&1) && grep -Eq "^1 +131072 +64.00 MiB +512" <<<"$out" && ok "list" || bad "list: $out"
echo "$out"

head -c 1048576 /dev/urandom >"$tmp/in"
want=$(sha256sum <"$tmp/in" | cut -d' ' -f1)
$T "$NVMF" write "$URI" --nsid 1 --lba 0 -i "$tmp/in" && ok "write 1 MiB" || bad "write 1 MiB"
got=$(interop_ctl "$ctl" checksum /dev/ram0 1048576)
grep -q "sha256=$want" <<<"$got" && ok "the guest's /dev/ram0 holds what we wrote" || bad "guest checksum: $got"
$T "$NVMF" read "$URI" --nsid 1 --lba 0 --count 2048 -o "$tmp/out" --hdgst --ddgst && cmp -s "$tmp/in" "$tmp/out" &&
	ok "read back with digests" || bad "read back with digests"
# The same with both digests on the write: the guest checks its backing device.
head -c 1048576 /dev/urandom >"$tmp/in2"
want2=$(sha256sum <"$tmp/in2" | cut -d' ' -f1)
$T "$NVMF" write "$URI" --nsid 1 --lba 2048 -i "$tmp/in2" --hdgst --ddgst && ok "write 1 MiB with digests" ||
	bad "write 1 MiB with digests"
got=$(interop_ctl "$ctl" checksum /dev/ram0 1048576 1048576)
grep -q "sha256=$want2" <<<"$got" && ok "the guest's /dev/ram0 holds what we wrote with digests" ||
	bad "guest checksum (digests): $got"
# The other way round: the guest writes its backing device, we read it over NVMe/TCP.
got=$(interop_ctl "$ctl" sh "dd if=/dev/urandom of=/dev/ram0 bs=1048576 seek=2 count=1 conv=fsync 2>/dev/null;" \
	"dd if=/dev/ram0 bs=1048576 skip=2 count=1 2>/dev/null | sha256sum")
want3=$(grep -oE '^[0-9a-f]{64}' <<<"$got")
[ -n "$want3" ] || bad "guest write: $got"
for dg in "" "--hdgst --ddgst"; do
	# shellcheck disable=SC2086
	$T "$NVMF" read "$URI" --nsid 1 --lba 4096 --count 2048 -o "$tmp/out3" $dg &&
		[ "$(sha256sum <"$tmp/out3" | cut -d' ' -f1)" = "$want3" ] &&
		ok "read what the guest wrote (${dg:-no digests})" || bad "read what the guest wrote (${dg:-no digests})"
done
err=$($T "$NVMF" read "$URI" --nsid 1 --lba 131071 --count 2 -o /dev/null 2>&1)
# nvmet on a block device answers INTERNAL rather than LBA_RANGE: any NVMe status in words will do.
[ $? -ne 0 ] && grep -Eq ": [A-Z_]+: .*\(0x[0-9a-f]+\)" <<<"$err" && ok "out of range: $err" || bad "out of range: $err"
out=$($T "$NVMF" smart-log "$URI" 2>&1) && ok "smart-log" || bad "smart-log: $out"
out=$($T "$NVMF" get-feature "$URI" --feature-id 7 2>&1) && ok "get-feature: $out" || bad "get-feature: $out"
$T "$NVMF" perf "$URI" -q 32 -o 4096 -w randrw -n 4000 --verify >"$tmp/perf" 2>&1 && grep -q "miscompares 0" "$tmp/perf" &&
	ok "perf --verify" || bad "perf --verify: $(cat "$tmp/perf")"
grep -E "^Total|^CPU" "$tmp/perf"
$T "$NVMF" perf "$URI" -q 8 -o 64k -w write -n 400 --verify --hdgst --ddgst >"$tmp/perf2" 2>&1 &&
	grep -q "miscompares 0" "$tmp/perf2" && ok "perf --verify 64 KiB with digests" || bad "perf digests: $(cat "$tmp/perf2")"

# Keep Alive: KATO 2 s, 5 s of I/O; nvmet would tear the controller down without them.
$T "$NVMF" perf "$URI" -q 4 -o 4096 -w randread -t 5 --keep-alive-tmo 2 >"$tmp/perf3" 2>&1 &&
	ok "perf 5 s with a 2 s KATO: keep alive honoured" || bad "keep alive: $(cat "$tmp/perf3")"
interop_ctl "$ctl" release >/dev/null
interop_finish 60 || bad "guest job status"
tr -d '\r' <"$INTEROP_BG_LOG" | grep -iE "nvmet|error" | tail -20
ilog "$fails failed"
[ $fails -eq 0 ]
