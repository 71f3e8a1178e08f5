# Guest job: the stock Linux nvme PCI driver on nvmfd's controller, served
# over vfio-user by QEMU's vfio-user-pci.  Binds with MSI-X; nvme list and
# id-ctrl; fio verify at several queue depths; ext4 with files across an
# unbind and rebind of the driver; data written before a function level
# reset reads back after it.  The guest's power-off ends the device.
. /lib.sh
FIO_SIZE=${NVMF_FIO_SIZE:-16M}
ok() { echo "NVMF-VU-OK $*"; }

run modprobe nvme || fail "modprobe nvme"
wait_for /dev/nvme0n1 30 || exit 1
bdf=$(basename "$(readlink -f /sys/class/nvme/nvme0/device)")
log "nvme0 is PCI function $bdf"
grep -q 'nvme0q' /proc/interrupts && grep 'nvme0q' /proc/interrupts | grep -q 'MSI' &&
	ok "msix" || { grep nvme /proc/interrupts; fail "no MSI-X vectors for nvme0"; }
grep nvme0q /proc/interrupts
dmesg | grep -i 'nvme' | tail -n 5

out=$(nvme list 2>&1)
echo "$out"
echo "$out" | grep -q '/dev/nvme0n1' && echo "$out" | grep -q 'nvmf userspace target' && ok "list" || fail "nvme list"
out=$(nvme id-ctrl /dev/nvme0 2>&1)
echo "$out" | grep -E '^(mn|subnqn|mdts|sgls|oacs) '
echo "$out" | grep -q "subnqn *: $NVMF_NQN" && ok "id-ctrl" || fail "nvme id-ctrl"

for qd in 1 16 64; do
	host_fio /dev/nvme0n1 "$FIO_SIZE" 512-128k $qd && ok "fio-qd$qd" || exit 1
done

run mkfs.ext4 -q -F /dev/nvme0n1 || exit 1
mkdir -p /mnt/v
run mount -t ext4 /dev/nvme0n1 /mnt/v || exit 1
for s in 1 7 64 700 3000; do dd if=/dev/urandom of=/mnt/v/f$s bs=1k count=$s 2>/dev/null; done
(cd /mnt/v && find . -type f | sort | xargs sha256sum) >/tmp/sums
sync
run umount /mnt/v || exit 1
ok "ext4"

# Unbind and bind the driver: the controller is reset and brought up again.
echo "$bdf" >/sys/bus/pci/drivers/nvme/unbind
n=50; while [ -e /dev/nvme0n1 ] && [ $n -gt 0 ]; do usleep 100000; n=$((n - 1)); done
echo "$bdf" >/sys/bus/pci/drivers/nvme/bind
wait_for /dev/nvme0n1 30 || exit 1
dev=$(ls /dev/nvme*n1 | head -n 1)
run mount -t ext4 "$dev" /mnt/v || exit 1
(cd /mnt/v && sha256sum -c /tmp/sums >/dev/null) && ok "rebind" || fail "files differ after unbind and bind"
run umount /mnt/v

# Function level reset (the device advertises FLR): data written before reads back after.
dd if=/dev/urandom of=/tmp/pattern bs=64k count=16 2>/dev/null
dd if=/tmp/pattern of="$dev" bs=64k seek=100 oflag=direct 2>/dev/null || fail "write before reset"
echo 1 >"/sys/bus/pci/devices/$bdf/reset" || fail "reset"
dmesg | tail -n 3
wait_for "$dev" 30 || exit 1
dd if="$dev" of=/tmp/back bs=64k skip=100 count=16 iflag=direct 2>/dev/null
cmp /tmp/pattern /tmp/back && ok "flr" || fail "data after the function level reset"
# Every block written once, then verified (no overlapping writes to muddle the check).
run fio --name=after-flr --filename="$dev" --ioengine=libaio --direct=1 --rw=randwrite --bs=4k --iodepth=16 \
	--size=8M --verify=crc32c --verify_fatal=1 --do_verify=1 && ok "fio-after-flr" || fail "fio verify after the reset"
echo NVMF-VU-GUEST-DONE
# The driver's view of the run (timeouts and aborts would show here).
dmesg | grep -i -E "nvme|timeout|abort|reset" | tail -n 40
