#!/usr/bin/env bash
# The Linux kernel host (QEMU guest, native NVMe multipath) across two nvmfd
# gateways on one RBD image of a one-node cluster: gateway A reports
# optimized, B non-optimized; the guest (jobs/host-multipath.sh) sees one
# namespace through two paths with those ANA states, runs fio with crc32c
# verify while this test kills A (SIGKILL); fio finishes on B without a
# verify error; A restarted, its path comes back and everything reads back;
# the image resized, the kernel sees the new size (the gateways' AEN).
# Usage: test-kernel-multipath.sh BUILD_DIR [INTEROP_WORKDIR]
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh" "$1"
skip_without_ceph
set +e
. "$here/../interop/host.sh"
interop_init "${2:-}"
trap 'interop_cleanup; cleanup' EXIT
ceph_up --osds 1 --size 64M || exit 1

pa=15740 pb=15741
gw_start a $pa --cntlid-min 1 --cntlid-max 1000 --ana-state optimized || exit 1
gw_start b $pb --cntlid-min 1001 --cntlid-max 2000 --ana-state non-optimized || exit 1

glog=$work/guest.log
interop_start "$here/../interop/jobs/host-multipath.sh" -l "$glog" -t 500 \
	-e NVMF_TRSVCID=$pa -e NVMF_TRSVCID_B=$pb -e NVMF_NQN=$NQN -e NVMF_FIO_SIZE=48M
INTEROP_BG_LOG=$glog
interop_wait_log '^NVMF-MP-PATHS ' 120 || { tr -d '\r' <"$glog"; bad "the guest did not connect both paths"; finish; }
interop_wait_log '^NVMF-MP-FIO-START' 60 || { tr -d '\r' <"$glog"; bad "fio did not start"; finish; }
sleep 2
gw_kill a
echo "gateway A killed with fio running"
interop_wait_log '^NVMF-MP-FIO rc=' 300 || { tr -d '\r' <"$glog"; bad "fio did not finish"; finish; }
gw_start a $pa --cntlid-min 1 --cntlid-max 1000 --ana-state optimized || exit 1
echo "gateway A restarted"
# The image grows under the connected host: the gateways' Namespace Attribute
# Changed events are what make the kernel read the new size.
resized=0
if interop_wait_log '^NVMF-MP-RESIZE-NOW' 300; then
	rbd -c "$conf" resize --size 96M rbd/img >/dev/null 2>&1 && resized=1
fi
interop_finish 300
rc=$?
tr -d '\r' <"$glog" >"$work/guest.txt"
grep -E '^NVMF-|^nvme-subsys|^ \+- nvme|err=|run=' "$work/guest.txt"
line=$(grep '^NVMF-MP-PATHS ' "$work/guest.txt")
if grep -q "port=$pa state=live ana=optimized" <<<"$line" && grep -q "port=$pb state=live ana=non-optimized" <<<"$line"; then
	ok "two paths: A optimized, B non-optimized"
else
	bad "paths: $line"
fi
grep -q "^NVMF-MP-MULTIPATH Y" "$work/guest.txt" && ok "native NVMe multipath on" || bad "multipath off"
heads=$(grep -c "^NVMF-MP-PATHS dev=/dev/nvme[0-9]*n1 " "$work/guest.txt")
[ "$heads" = 1 ] && ok "one namespace device for both paths" || bad "namespace device: $line"
grep -q '^NVMF-MP-FIO rc=0 ' "$work/guest.txt" && ok "fio verify passed with gateway A killed mid-run" \
	|| bad "fio: $(grep '^NVMF-MP-FIO rc=' "$work/guest.txt")"
grep -q '^NVMF-MP-A-DOWN-DURING-FIO' "$work/guest.txt" && ok "gateway A's path went down while fio ran" \
	|| bad "gateway A's path never went down during fio (killed too late?)"
back=$(grep '^NVMF-MP-PATH-BACK ' "$work/guest.txt")
if grep -q "port=$pa state=live ana=optimized" <<<"$back" && grep -q "port=$pb state=live" <<<"$back"; then
	ok "gateway A restarted: its path is back"
else
	bad "path back: $back"
fi
grep -q '^NVMF-MP-VERIFY rc=0' "$work/guest.txt" && ok "everything reads back with verify after failback" \
	|| bad "verify after failback: $(grep '^NVMF-MP-VERIFY' "$work/guest.txt")"
want=$((96 * 1024 * 1024 / 512))
if [ $resized = 1 ] && grep -q "^NVMF-MP-RESIZED size=$want\$" "$work/guest.txt"; then
	ok "image resized to 96M: the kernel saw the Namespace Attribute Changed event ($want sectors)"
else
	bad "resize: rbd resize ran: $resized; guest: $(grep '^NVMF-MP-RESIZE' "$work/guest.txt" | tr '\n' ' ')"
fi
[ "$rc" = 0 ] || bad "guest job exit $rc"
finish
