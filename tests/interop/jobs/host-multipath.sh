# Guest job: native NVMe multipath across two gateways of one subsystem.
# Connects to NVMF_TRSVCID (gateway A) and NVMF_TRSVCID_B (gateway B), prints
# the paths with their ANA states (nvme list-subsys and NVMF-MP-PATHS), runs
# fio randwrite with crc32c verify (NVMF-MP-FIO-START: the test kills gateway
# A meanwhile), prints NVMF-MP-FIO rc=N, waits for both paths to be live again
# (the test restarts A; NVMF-MP-PATH-BACK) and reads everything back with verify;
# then prints NVMF-MP-RESIZE-NOW, and NVMF-MP-RESIZED size=N (512-byte sectors)
# once the kernel has seen the image grow.
# Variables: NVMF_NQN, NVMF_TRSVCID, NVMF_TRSVCID_B, NVMF_FIO_SIZE (default 48M).
. /lib.sh
[ -n "${NVMF_NQN:-}" ] && [ -n "${NVMF_TRSVCID_B:-}" ] || { fail "NVMF_NQN/NVMF_TRSVCID_B not set"; exit 2; }
modprobe nvme_tcp
echo "NVMF-MP-MULTIPATH $(cat /sys/module/nvme_core/parameters/multipath 2>/dev/null)"
for p in "$NVMF_TRSVCID" "$NVMF_TRSVCID_B"; do
	# Reconnect every second for up to 5 minutes: gateway A comes back.
	run nvme connect -t tcp -a "$NVMF_TRADDR" -s "$p" -n "$NVMF_NQN" -i 1 -k 5 -c 1 -l 300 || exit 1
done
dev=$(host_wait_ns "$NVMF_NQN") || exit 1

# paths: "nvme0 port=P state=live ana=optimized;..." for the subsystem's controllers
paths() {
	for _c in /sys/class/nvme/nvme*; do
		[ "$(cat "$_c/subsysnqn" 2>/dev/null)" = "$NVMF_NQN" ] || continue
		_p=$(sed 's/.*trsvcid=\([0-9]*\).*/\1/' "$_c/address")
		_a=$(cat "$_c"/nvme*c*n1/ana_state 2>/dev/null || echo none)
		printf '%s port=%s state=%s ana=%s;' "$(basename "$_c")" "$_p" "$(cat "$_c/state")" "$_a"
	done
	echo
}
# Both paths with an ANA state (the head node appears before every path has reported).
n=100
while [ $n -gt 0 ] && [ "$(paths | grep -o 'state=live ana=[a-z-]*optimized' | wc -l)" -lt 2 ]; do
	usleep 100000
	n=$((n - 1))
done
run nvme list-subsys "$dev"
echo "NVMF-MP-PATHS dev=$dev $(paths)"

size=${NVMF_FIO_SIZE:-48M}
fio_job() {
	fio --name=mp --filename="$dev" --ioengine=libaio --direct=1 --rw=randwrite --bs=4k --iodepth=16 \
		--size="$size" --random_generator=lfsr --verify=crc32c --verify_fatal=1 --do_verify=1 \
		--verify_backlog=256 --group_reporting=1 "$@"
}
echo "NVMF-MP-FIO-START"
# While fio runs, sample the paths: gateway A's must go down meanwhile.
rm -f /tmp/fio.done /tmp/states
(while [ ! -e /tmp/fio.done ]; do paths >>/tmp/states; usleep 200000; done) &
fio_job
rc=$?
touch /tmp/fio.done
wait
echo "NVMF-MP-FIO rc=$rc paths: $(paths)"
grep -q "port=$NVMF_TRSVCID state=[^l]" /tmp/states && echo "NVMF-MP-A-DOWN-DURING-FIO"
dmesg | grep -E "nvme[0-9]" | tail -8

n=300
while [ $n -gt 0 ] && [ "$(paths | grep -o 'state=live' | wc -l)" -lt 2 ]; do
	usleep 500000
	n=$((n - 1))
done
run nvme list-subsys "$dev"
echo "NVMF-MP-PATH-BACK $(paths)"
fio_job --verify_only=1
echo "NVMF-MP-VERIFY rc=$?"

# The image grows: the test runs `rbd resize` on seeing RESIZE-NOW.  The kernel
# reads the new capacity only when a Namespace Attribute Changed event tells it to.
sz=/sys/block/$(basename "$dev")/size
size0=$(cat "$sz")
echo "NVMF-MP-RESIZE-NOW size=$size0"
n=600
while [ $n -gt 0 ] && [ "$(cat "$sz")" = "$size0" ]; do
	usleep 100000
	n=$((n - 1))
done
echo "NVMF-MP-RESIZED size=$(cat "$sz")"
dmesg | grep -iE "nvme[0-9].*(capacity|size|rescan|ns.*change)" | tail -4
