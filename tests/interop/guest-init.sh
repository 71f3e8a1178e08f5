#!/bin/sh
# /init of the interop guest (busybox sh).  Installed by mkinitramfs.sh.
# Mounts the pseudo file systems, loads the base modules, brings up eth0
# (10.0.2.15/24 via 10.0.2.2, QEMU user networking), runs /job.sh with the
# variables of /job.env, prints NVMF-JOB-EXIT=<status> and powers off.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root TERM=dumb
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
mkdir -p /dev/pts /dev/shm /run /tmp /var/tmp
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /dev/shm
mount -t configfs configfs /sys/kernel/config 2>/dev/null

if [ -f /job.env ]; then
	set -a
	. /job.env
	set +a
fi

# Base modules; jobs load the rest (nvmet, brd with parameters, ...).
for m in configfs crc32c_generic crc32c_intel virtio_pci virtio_net nvme_tcp ext4 $NVMF_INIT_MODULES; do
	modprobe "$m" 2>/dev/null || echo "init: modprobe $m failed"
done
grep -q configfs /proc/mounts || mount -t configfs configfs /sys/kernel/config

ip link set lo up
i=0
while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 50 ]; do usleep 100000; i=$((i + 1)); done
ip addr add 10.0.2.15/24 dev eth0
ip link set eth0 up
ip route add default via 10.0.2.2

cd /
echo "NVMF-JOB-START kernel=$(uname -r)"
if [ -n "${NVMF_JOB_TIMEOUT:-}" ]; then
	timeout -s KILL "$NVMF_JOB_TIMEOUT" sh /job.sh
else
	sh /job.sh
fi
status=$?
if [ "$status" -ne 0 ]; then
	echo "---- dmesg (last 40 lines) ----"
	dmesg | tail -n 40
	echo "----"
fi
sync
echo "NVMF-JOB-EXIT=$status"
# Let the UART drain before the power goes.
usleep 100000 2>/dev/null
poweroff -f
