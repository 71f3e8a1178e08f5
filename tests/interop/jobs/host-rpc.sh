# Guest job: the kernel host follows changes made over nvmfd's JSON-RPC
# socket while it is connected.  It prints, and the test answers each with
# the next change:
#   NVMF-RPC-READY ctrl=.. cntlid=..   connected; namespace 1 is there (the test adds namespace 2)
#   NVMF-RPC-NS-ADDED dev=..           namespace 2 appeared without a rescan from here (the
#                                      Namespace Attribute Changed event did it); a block written
#                                      and read back (the test removes namespace 2)
#   NVMF-RPC-NS-REMOVED                its block device went away (the test removes this host)
#   NVMF-RPC-HOST-GONE                 the association ended and reconnecting was refused until
#                                      the controller was deleted (ctrl-loss-tmo)
. /lib.sh
[ -n "${NVMF_NQN:-}" ] || { fail "NVMF_NQN not set"; exit 2; }
host_connect "$NVMF_NQN" -i 1 -k 5 --reconnect-delay=1 --ctrl-loss-tmo=6 || exit 1
host_wait_ns "$NVMF_NQN" 20 1 >/dev/null || exit 1
ctrl=$(host_ctrl "$NVMF_NQN") || exit 1
echo "NVMF-RPC-READY ctrl=$ctrl cntlid=$(cat "/sys/class/nvme/$ctrl/cntlid")"

dev=$(host_wait_ns "$NVMF_NQN" 90 2) || exit 1
run dd if=/dev/urandom of=/tmp/block bs=4096 count=1 2>/dev/null || exit 1
run dd if=/tmp/block of="$dev" bs=4096 count=1 seek=5 oflag=direct 2>/dev/null || exit 1
run dd if="$dev" of=/tmp/back bs=4096 count=1 skip=5 iflag=direct 2>/dev/null || exit 1
cmp /tmp/block /tmp/back || { fail "namespace 2 read back other data"; exit 1; }
echo "NVMF-RPC-NS-ADDED dev=$dev"

n=900
while host_ns_dev "$NVMF_NQN" 2 >/dev/null; do
	n=$((n - 1))
	[ $n -gt 0 ] || { fail "namespace 2 still there after 90 s"; exit 1; }
	usleep 100000
done
host_ns_dev "$NVMF_NQN" 1 >/dev/null || { fail "namespace 1 went with namespace 2"; exit 1; }
echo "NVMF-RPC-NS-REMOVED"

n=900
while [ -e "/sys/class/nvme/$ctrl" ]; do
	n=$((n - 1))
	[ $n -gt 0 ] || { fail "controller $ctrl still there 90 s after the host was removed ($(cat "/sys/class/nvme/$ctrl/state"))"; exit 1; }
	usleep 100000
done
dmesg | grep -i "not allowed\|invalid host" | tail -n 3
echo "NVMF-RPC-HOST-GONE"
