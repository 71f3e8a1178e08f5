#!/usr/bin/env bash
# The real vfio-user peer: a Linux guest's stock nvme driver on nvmfd's
# controller through QEMU 11's vfio-user-pci (trixie-backports, run from a
# chroot in a private mount namespace; vfio-user-root.sh builds it once).
# The guest job (jobs/vfio-user-guest.sh) binds with MSI-X, runs nvme list /
# id-ctrl, fio verify at QD 1/16/64, ext4 with files across an unbind and
# rebind, and a function level reset with data kept; its power-off must end
# the device cleanly while nvmfd carries on.
# With DOORBELLS trapped, nvmfd traps BAR0's doorbells and offers shadow
# doorbells: the guest's driver must take them (Doorbell Buffer Config at
# every enable) and all of the above must work as well.
# Usage: test-vfio-user-guest.sh WORKDIR NVMFD [mapped|trapped]
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
workdir=${1:-${TMPDIR:-/tmp}/nvmf-interop-$(id -u)}
nvmfd=${2:?usage: test-vfio-user-guest.sh WORKDIR NVMFD [mapped|trapped]}
doorbells=${3:-mapped}
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root (chroot, mount namespace)"; exit 77; }
[ -x "$nvmfd" ] || { echo "FAIL: no $nvmfd"; exit 1; }
mkdir -p "$workdir/logs"
workdir=$(cd "$workdir" && pwd)
nqn=nqn.2014-08.io.nvmf:vfio-user-guest

root=$("$here/vfio-user-root.sh" "$workdir") || { echo "FAIL: no trixie root with QEMU"; exit 1; }
"$here/mkinitramfs.sh" "$workdir/base" || { echo "FAIL: initramfs"; exit 1; }
# shellcheck disable=SC1091
. "$workdir/base/base.env"

# Everything QEMU opens lies inside the root: kernel, initrd, console log, the socket.
run=$(mktemp -d "$root/nvmf/run.XXXXXX")
inroot=/nvmf/$(basename "$run")
npid=
qpid=
cleanup() {
	[ -n "$qpid" ] && kill "$qpid" 2>/dev/null
	[ -n "$npid" ] && kill "$npid" 2>/dev/null && wait "$npid" 2>/dev/null
	rm -rf "$run"
}
trap cleanup EXIT

ov=$run/overlay
mkdir -p "$ov"
cp "$here/jobs/vfio-user-guest.sh" "$ov/job.sh"
cp "$here/lib.sh" "$ov/lib.sh"
printf "NVMF_NQN='%s'\nNVMF_FIO_SIZE='%s'\nNVMF_JOB_TIMEOUT='%s'\n" "$nqn" "${NVMF_FIO_SIZE:-16M}" 900 >"$ov/job.env"
(cd "$ov" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) >"$run/job.cpio"
cat "$workdir/base/base.cpio" "$run/job.cpio" >"$run/initrd"
cp "$KERNEL" "$run/vmlinuz"

log=$workdir/logs/vfio-user-guest-$doorbells.log
nlog=$workdir/logs/vfio-user-guest-$doorbells-nvmfd.log
"$nvmfd" --listen "vfio-user:$run/ctrl0.sock" --subsystem "$nqn" --namespace ram:128M \
	--rpc-socket "$run/rpc.sock" --vfio-user-doorbells "$doorbells" >"$nlog" 2>&1 &
npid=$!
for _ in $(seq 100); do grep -q ready "$nlog" && break; sleep 0.1; done
grep -q ready "$nlog" || { cat "$nlog"; echo "FAIL: nvmfd did not start"; exit 1; }

device='{"driver":"vfio-user-pci","socket":{"path":"'$inroot/ctrl0.sock'","type":"unix"}}'
t0=$(date +%s)
timeout -k 5 "${NVMF_VU_GUEST_TIMEOUT:-1200}" unshare -m --propagation private bash -c '
	root=$1; shift
	for d in proc sys dev; do mount --rbind "/$d" "$root/$d"; done
	exec chroot "$root" "$@"' _ "$root" \
	qemu-system-x86_64 -accel tcg -cpu max -m 1024 -smp 2 -nodefaults -no-user-config -display none \
	-object memory-backend-memfd,id=mem,size=1024M,share=on -machine pc,memory-backend=mem \
	-chardev "file,id=con0,path=$inroot/console.log" -serial chardev:con0 -monitor none -no-reboot \
	-kernel "$inroot/vmlinuz" -initrd "$inroot/initrd" -append "console=ttyS0 quiet panic=-1" \
	-device "$device" >"$run/qemu.out" 2>&1 &
qpid=$!
wait $qpid
qrc=$?
qpid=
t1=$(date +%s)
tr -d '\r' <"$run/console.log" >"$log" 2>/dev/null
cat "$log"
sed 's/^/qemu: /' "$run/qemu.out"
echo "---- nvmfd ----"
cat "$nlog"
echo "guest run: $((t1 - t0)) s, qemu status $qrc"

fails=0
check() { if grep -q "$1" "$log"; then echo "ok - $2"; else echo "FAIL - $2"; fails=$((fails + 1)); fi; }
check '^NVMF-VU-OK msix' "the stock nvme driver binds with MSI-X"
check '^NVMF-VU-OK list' "nvme list shows the namespace"
check '^NVMF-VU-OK id-ctrl' "nvme id-ctrl"
for qd in 1 16 64; do check "^NVMF-VU-OK fio-qd$qd" "fio verify at queue depth $qd"; done
check '^NVMF-VU-OK ext4' "mkfs.ext4, mount, files, umount"
check '^NVMF-VU-OK rebind' "files intact after unbinding and binding the driver"
check '^NVMF-VU-OK flr' "data written before a function level reset reads back after it"
check '^NVMF-VU-OK fio-after-flr' "fio verify after the reset"
check '^NVMF-JOB-EXIT=0' "the guest job ended well and the guest powered off"
if [ "$doorbells" = trapped ]; then
	# Enables: the first bind, the rebind and the function level reset.
	n=$(grep -c 'shadow doorbells at guest address' "$nlog")
	if [ "$n" -ge 3 ]; then echo "ok - the guest's driver took shadow doorbells at each of $n enables"
	else echo "FAIL - shadow doorbells configured $n times (3 enables expected)"; fails=$((fails + 1)); fi
	check '^oacs *: 0x1[0-9a-f][0-9a-f]$' "id-ctrl shows Doorbell Buffer Config in OACS"
fi
if kill -0 "$npid" 2>/dev/null; then echo "ok - nvmfd runs after the guest went"; else echo "FAIL - nvmfd died"; fails=$((fails + 1)); fi
kill "$npid"
wait "$npid"
rc=$?
npid=
[ $rc -eq 0 ] && echo "ok - nvmfd stops cleanly" || { echo "FAIL - nvmfd exit $rc"; fails=$((fails + 1)); }
[ $fails -eq 0 ]
