# Guest job: connect to NVMF_NQN with NVMF_CONNECT_OPTS (several I/O
# queues, a short reconnect delay), run fio on the namespace with no end,
# print "NVMF-CHURN-IO ctrl=.. cntlid=.. queues=.." once I/O flows, and keep
# it going: the test resets this guest's connections (the kernel host
# reconnects: a new controller each time) and finally kills the guest.
. /lib.sh
[ -n "${NVMF_NQN:-}" ] || { fail "NVMF_NQN not set"; exit 2; }
# shellcheck disable=SC2086
host_connect "$NVMF_NQN" ${NVMF_CONNECT_OPTS:-} || exit 1
dev=$(host_wait_ns "$NVMF_NQN") || exit 1
ctrl=$(host_ctrl "$NVMF_NQN") || exit 1
# Every block written once first: a RAM namespace then holds all its memory
# before the test takes its baseline.
run dd if=/dev/zero of="$dev" bs=1M count=$(($(cat "/sys/block/${dev#/dev/}/size") / 2048)) oflag=direct 2>/dev/null || exit 1
# I/O errors while the controller reconnects are expected: fio goes on.
fio --name=churn --filename="$dev" --ioengine=libaio --direct=1 --rw=randrw --bs=4k-64k --iodepth=16 \
	--numjobs=2 --time_based=1 --runtime=600 --continue_on_error=all >/tmp/fio.out 2>&1 &
# I/O counts of the controller's path device (the multipath head may not count).
iostat() { cat "/sys/class/nvme/$ctrl"/nvme*/stat "/sys/block/${dev#/dev/}/stat" 2>/dev/null; }
stat0=$(iostat)
n=300
while [ "$(iostat)" = "$stat0" ]; do
	n=$((n - 1))
	[ $n -gt 0 ] || { fail "fio issued no I/O in 30 s"; exit 1; }
	usleep 100000
done
echo "NVMF-CHURN-IO ctrl=$ctrl cntlid=$(cat "/sys/class/nvme/$ctrl/cntlid") queues=$(cat "/sys/class/nvme/$ctrl/queue_count" 2>/dev/null)"
sleep "${NVMF_HOLD_SECONDS:-600}"
