# Guest job: the kernel host follows changes made over nvmfd's JSON-RPC
# socket while it is connected.  It prints, and the test answers each with
# the next change:
#   NVMF-RPC-READY ctrl=.. cntlid=..   connected; namespace 1 is there (the test adds namespace 2)
#   NVMF-RPC-NS-ADDED dev=.. fio_write_ios=.. fio_write_bytes=.. fio_read_ios=.. fio_read_bytes=..
#                                      namespace 2 appeared without a rescan from here (the
#                                      Namespace Attribute Changed event did it); one 4 KiB block
#                                      written and read back with dd, then fio verify (4 KiB, QD 1,
#                                      so nothing merges) with its counts; verified I/O now runs on
#                                      namespace 1 in the background (the test checks nvmfd's
#                                      counters and removes namespace 2)
#   NVMF-RPC-NS-REMOVED bg_rounds=..   namespace 2's block device went away while the background
#                                      I/O ran, which kept completing without error (the test takes
#                                      the listener off line)
#   NVMF-RPC-OFFLINE state=..          the controller left "live" and a reconnect attempt failed
#                                      (the test puts the listener back)
#   NVMF-RPC-ONLINE cntlid=..          it reconnected by itself (reconnect-delay) and namespace 1
#                                      carries data again (the test removes this host)
#   NVMF-RPC-HOST-GONE                 the association ended and reconnecting was refused until
#                                      the controller was deleted (ctrl-loss-tmo)
. /lib.sh
[ -n "${NVMF_NQN:-}" ] || { fail "NVMF_NQN not set"; exit 2; }
# ctrl-loss-tmo: long enough for the test to put the listener back on line, short
# enough that the refused host gives up soon.
host_connect "$NVMF_NQN" -i 1 -k 5 --reconnect-delay=1 --ctrl-loss-tmo=15 || exit 1
dev1=$(host_wait_ns "$NVMF_NQN" 20 1) || exit 1
ctrl=$(host_ctrl "$NVMF_NQN") || exit 1
echo "NVMF-RPC-READY ctrl=$ctrl cntlid=$(cat "/sys/class/nvme/$ctrl/cntlid")"

dev=$(host_wait_ns "$NVMF_NQN" 90 2) || exit 1
run dd if=/dev/urandom of=/tmp/block bs=4096 count=1 2>/dev/null || exit 1
run dd if=/tmp/block of="$dev" bs=4096 count=1 seek=5 oflag=direct 2>/dev/null || exit 1
run dd if="$dev" of=/tmp/back bs=4096 count=1 skip=5 iflag=direct 2>/dev/null || exit 1
cmp /tmp/block /tmp/back || { fail "namespace 2 read back other data"; exit 1; }
log "+ fio verify on $dev"
fio --name=v --filename="$dev" --rw=randwrite --bs=4k --size=2M --direct=1 --ioengine=libaio \
	--iodepth=1 --verify=crc32c --output-format=json >/tmp/fio.json || {
	cat /tmp/fio.json
	fail "fio verify on $dev"
	exit 1
}
# The first io_bytes and total_ios of the job's "read" and "write" sections
# (busybox has no jq; fio's JSON has one key per line).
counts=$(awk '
/"(read|write|trim|sync)" : \{/ { d = $1; gsub(/"/, "", d); next }
d == "read" && $1 == "\"io_bytes\"" && rb == "" { rb = $3 + 0 }
d == "read" && $1 == "\"total_ios\"" && ri == "" { ri = $3 + 0 }
d == "write" && $1 == "\"io_bytes\"" && wb == "" { wb = $3 + 0 }
d == "write" && $1 == "\"total_ios\"" && wi == "" { wi = $3 + 0 }
END { printf "fio_write_ios=%d fio_write_bytes=%d fio_read_ios=%d fio_read_bytes=%d", wi, wb, ri, rb }' /tmp/fio.json)

# Background: verified rounds on namespace 1 until told to stop; each round counted.
: >/tmp/bg.rounds
(
	while [ ! -e /tmp/bg.stop ]; do
		fio --name=bg --filename="$dev1" --rw=randwrite --bs=4k --size=1M --direct=1 \
			--ioengine=libaio --iodepth=4 --verify=crc32c --verify_fatal=1 --randrepeat=0 \
			>/tmp/bg.out 2>&1 || { cat /tmp/bg.out; echo failed >/tmp/bg.failed; exit 1; }
		echo x >>/tmp/bg.rounds
	done
) &
bg=$!
n=300
while [ ! -s /tmp/bg.rounds ]; do
	n=$((n - 1))
	[ $n -gt 0 ] && kill -0 $bg 2>/dev/null || { fail "background fio on $dev1 did not complete a round"; exit 1; }
	usleep 100000
done
echo "NVMF-RPC-NS-ADDED dev=$dev $counts"

n=900
while host_ns_dev "$NVMF_NQN" 2 >/dev/null; do
	n=$((n - 1))
	[ $n -gt 0 ] || { fail "namespace 2 still there after 90 s"; exit 1; }
	usleep 100000
done
host_ns_dev "$NVMF_NQN" 1 >/dev/null || { fail "namespace 1 went with namespace 2"; exit 1; }
# Two more full rounds after the removal, then stop.
r0=$(wc -l </tmp/bg.rounds)
n=600
while [ "$(wc -l </tmp/bg.rounds)" -lt $((r0 + 2)) ]; do
	n=$((n - 1))
	[ $n -gt 0 ] && kill -0 $bg 2>/dev/null || { fail "background I/O on $dev1 stopped after namespace 2 went"; exit 1; }
	usleep 100000
done
touch /tmp/bg.stop
wait $bg || { fail "background fio on $dev1 failed"; exit 1; }
[ ! -e /tmp/bg.failed ] || { fail "background fio on $dev1 failed"; exit 1; }
echo "NVMF-RPC-NS-REMOVED bg_rounds=$(wc -l </tmp/bg.rounds) before_removal=$r0"

n=300
while [ "$(cat "/sys/class/nvme/$ctrl/state")" = live ]; do
	n=$((n - 1))
	[ $n -gt 0 ] || { fail "controller $ctrl still live 30 s after its listener went off line"; exit 1; }
	usleep 100000
done
state=$(cat "/sys/class/nvme/$ctrl/state")
# ... and a reconnect attempt failed (nothing listens) before the test puts it back.
n=300
while ! dmesg | grep -q "$ctrl: Failed reconnect attempt"; do
	n=$((n - 1))
	[ $n -gt 0 ] || { fail "no failed reconnect attempt 30 s after the listener went off line"; exit 1; }
	usleep 100000
done
dmesg | grep "$ctrl: failed to connect socket\|$ctrl: Failed reconnect attempt" | tail -n 2
echo "NVMF-RPC-OFFLINE state=$state"

n=600
while [ "$(cat "/sys/class/nvme/$ctrl/state" 2>/dev/null)" != live ]; do
	n=$((n - 1))
	[ $n -gt 0 ] && [ -e "/sys/class/nvme/$ctrl" ] || { fail "controller $ctrl did not come back live after its listener came back on line"; exit 1; }
	usleep 100000
done
run dd if=/dev/urandom of=/tmp/block bs=4096 count=1 2>/dev/null || exit 1
run dd if=/tmp/block of="$dev1" bs=4096 count=1 seek=7 oflag=direct 2>/dev/null || exit 1
run dd if="$dev1" of=/tmp/back bs=4096 count=1 skip=7 iflag=direct 2>/dev/null || exit 1
cmp /tmp/block /tmp/back || { fail "namespace 1 read back other data after the reconnect"; exit 1; }
echo "NVMF-RPC-ONLINE cntlid=$(cat "/sys/class/nvme/$ctrl/cntlid")"

n=900
while [ -e "/sys/class/nvme/$ctrl" ]; do
	n=$((n - 1))
	[ $n -gt 0 ] || { fail "controller $ctrl still there 90 s after the host was removed ($(cat "/sys/class/nvme/$ctrl/state"))"; exit 1; }
	usleep 100000
done
dmesg | grep -i "not allowed\|invalid host" | tail -n 3
echo "NVMF-RPC-HOST-GONE"
