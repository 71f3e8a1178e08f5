# Guest job: write to nvmfd until the test kills it (SIGKILL), then, once
# the test has restarted nvmfd on the same file and port, reconnect and read
# back what must have survived.
# Variables: NVMF_TRSVCID, NVMF_NQN, NVMF_CRASH_RUN (run id stamped in every
# block), NVMF_CRASH_MODE (blocks | fio), NVMF_CRASH_VWC (1, or 0: turn the
# volatile write cache off with Set Features first), NVMF_CRASH_BATCH (blocks
# written in parallel, default 8), NVMF_CRASH_FUA_EVERY (every Nth block is
# a FUA write, default 5), NVMF_CRASH_FIO_SIZE.
#
# blocks: 4 KiB block i holds "NVMF-CRASH run=RUN blk=i " (i in 8 digits) repeated.
# Batches of NVMF_CRASH_BATCH blocks go out in parallel (dd oflag=direct, and
# fio with O_DIRECT|O_DSYNC, a FUA write, for the FUA ones); once a batch is all acknowledged, an
# `nvme flush` goes out alongside the next batch.  Console lines (parsed by
# crash_check.py and the test):
#   NVMF-CRASH-ACK blk=i       write of block i completed successfully
#   NVMF-CRASH-FUA blk=i       FUA write of block i completed successfully
#   NVMF-CRASH-FLUSHED upto=N  a flush completed that was submitted after
#                              blocks 0..N-1 were all acknowledged
#   NVMF-CRASH-STOPPED next=N  the first write failed (target gone); N blocks started
#   NVMF-CRASH-DOWN            the controller is gone (ctrl-loss-tmo)
#   NVMF-CRASH-VERIFIED ...    after the reconnect: every block that had to
#                              survive reads back as written
# fio: sequential 4 KiB writes, iodepth 8, fsync every 8 writes, crc32c
# verify headers; when the target dies fio fails; after the reconnect
# `fio --verify_only` checks the prefix fio completed (its io_bytes less
# the iodepth window).  NVMF-CRASH-FIO-DONE bytes=.. verified=..
. /lib.sh
[ -n "${NVMF_NQN:-}" ] || { fail "NVMF_NQN not set"; exit 2; }
[ -n "${NVMF_CRASH_RUN:-}" ] || { fail "NVMF_CRASH_RUN not set"; exit 2; }
mode=${NVMF_CRASH_MODE:-blocks}
batch=${NVMF_CRASH_BATCH:-16}
fua_every=${NVMF_CRASH_FUA_EVERY:-5}
# Short loss timeout: I/O caught by the kill fails after it and the
# controller goes away, so the reconnect below starts from scratch.
opts="-i 1 -k 5 --reconnect-delay=1 --ctrl-loss-tmo=3"

# shellcheck disable=SC2086
host_connect "$NVMF_NQN" $opts || exit 1
dev=$(host_wait_ns "$NVMF_NQN") || exit 1
ctrl=$(host_ctrl "$NVMF_NQN") || exit 1
lbs=$(cat "/sys/block/${dev#/dev/}/queue/logical_block_size")
nlb=$((4096 / lbs))

if [ "${NVMF_CRASH_VWC:-1}" = 0 ]; then
	run nvme set-feature "/dev/$ctrl" -f 6 -v 0 || { fail "set-feature VWC 0"; exit 1; }
	v=$(nvme get-feature "/dev/$ctrl" -f 6 2>&1 | sed -n 's/^.*Current value: *\(0x\)\{0,1\}\([0-9a-fA-F]*\).*$/\2/p')
	[ -n "$v" ] && [ $((0x$v)) -eq 0 ] || { fail "volatile write cache still on (get-feature: '$v')"; exit 1; }
	echo "NVMF-CRASH-VWC off"
fi

# blk_mark I: what block I holds, over and over (fio's buffer_pattern repeats it the same way).
blk_mark() { printf 'NVMF-CRASH run=%s blk=%08d ' "$NVMF_CRASH_RUN" "$1"; }
# blk_line I: the 4096 bytes of block I.
blk_line() {
	m=$(blk_mark "$1")
	k=0
	while [ $k -lt $((4096 / ${#m} + 1)) ]; do
		printf '%s' "$m"
		k=$((k + 1))
	done | head -c 4096
}

write_one() {
	blk_line "$1" >"/tmp/w.$1"
	if [ $(($1 % fua_every)) -eq $((fua_every - 1)) ]; then
		# O_DIRECT|O_DSYNC writes go out with FUA set (the block layer's dio_bio_write_op).  Not
		# `nvme write -f`: at the kill, passthrough writes that never reached the target were
		# seen to exit 0, and that cannot count as an acknowledgement.
		if fio --name=fua --filename="$dev" --ioengine=psync --rw=write --bs=4096 --size=4096 \
			--offset=$(($1 * 4096)) --direct=1 --sync=dsync --buffer_pattern="\"$(blk_mark "$1")\"" \
			>/dev/null 2>&1; then
			echo "NVMF-CRASH-FUA blk=$1"
			touch "/tmp/acked/$1" "/tmp/fua/$1"
		else
			touch /tmp/failed
		fi
	elif dd if="/tmp/w.$1" of="$dev" bs=4096 seek="$1" count=1 oflag=direct conv=notrunc 2>/dev/null; then
		echo "NVMF-CRASH-ACK blk=$1"
		touch "/tmp/acked/$1"
	else
		touch /tmp/failed
	fi
	rm -f "/tmp/w.$1"
}

flush_upto() {
	if nvme flush "$dev" >/dev/null 2>&1; then
		echo "NVMF-CRASH-FLUSHED upto=$1"
		echo "$1" >>/tmp/flushed
	else
		touch /tmp/failed
	fi
}

# check_block I: block I reads back as written.
check_block() {
	blk_line "$1" >/tmp/want
	dd if="$dev" of=/tmp/got bs=4096 skip="$1" count=1 iflag=direct 2>/dev/null
	cmp -s /tmp/want /tmp/got || {
		fail "block $1 reads back as '$(head -c 40 /tmp/got | tr -c '[:print:]' .)'"
		return 1
	}
}

run_blocks() {
	mkdir -p /tmp/acked /tmp/fua
	rm -f /tmp/failed /tmp/flushed
	echo "NVMF-CRASH-ARMED mode=blocks run=$NVMF_CRASH_RUN dev=$dev lbs=$lbs batch=$batch fua_every=$fua_every"
	i=0
	while [ ! -e /tmp/failed ]; do
		k=0
		while [ $k -lt "$batch" ]; do
			write_one $i &
			i=$((i + 1))
			k=$((k + 1))
		done
		wait # this batch, and the flush sent with it
		[ -e /tmp/failed ] && break
		flush_upto $i &
	done
	wait
	echo "NVMF-CRASH-STOPPED next=$i acked=$(ls /tmp/acked | wc -l)"
}

fio_job() {
	fio --name=crash --filename="$dev" --ioengine=libaio --direct=1 --rw=write --bs=4k --iodepth=8 \
		--verify=crc32c --verify_state_save=0 "$@"
}

run_fio() {
	echo "NVMF-CRASH-ARMED mode=fio dev=$dev"
	fio_job --size="${NVMF_CRASH_FIO_SIZE:-256M}" --fsync=8 --do_verify=0 --output-format=json >/tmp/fio.json 2>/tmp/fio.err
	echo "fio exit $?: $(tr '\n' ' ' </tmp/fio.err | cut -c1-300)"
	fio_bytes=$(sed -n 's/^.*"io_bytes" : \([0-9]*\).*$/\1/p' /tmp/fio.json | sort -n | tail -n 1)
	[ -n "$fio_bytes" ] || { fail "no io_bytes in fio's report"; head -c 2000 /tmp/fio.json; exit 1; }
	# Completions arrive out of order only within the iodepth window.
	fio_prefix=$((fio_bytes - 8 * 4096))
	[ $fio_prefix -gt 0 ] || fio_prefix=0
	echo "NVMF-CRASH-FIO-STOPPED bytes=$fio_bytes prefix=$fio_prefix"
}

case $mode in
blocks) run_blocks ;;
fio) run_fio ;;
*) fail "unknown NVMF_CRASH_MODE $mode"; exit 2 ;;
esac

n=200
while host_ctrl "$NVMF_NQN" >/dev/null; do
	n=$((n - 1))
	[ $n -gt 0 ] || { fail "controller still there 20 s after the target died"; exit 1; }
	usleep 100000
done
echo "NVMF-CRASH-DOWN"

# The test restarts nvmfd on the same file and port: connect until it answers.
n=120
while ! nvme connect -t tcp -a "$NVMF_TRADDR" -s "$NVMF_TRSVCID" -n "$NVMF_NQN" -i 1 -k 5 >/dev/null 2>&1; do
	n=$((n - 1))
	[ $n -gt 0 ] || { fail "no reconnect within 120 s"; exit 1; }
	sleep 1
done
# host_wait_ns says why it failed on its stdout, which $(...) takes: print it, and what the
# kernel shows of the new controller, so that a namespace that never came can be told apart.
if ! dev=$(host_wait_ns "$NVMF_NQN" 60); then
	echo "$dev"
	fail "no namespace after the reconnect"
	for _f in /sys/class/nvme/nvme* /sys/class/nvme-subsystem/nvme-subsys*; do
		[ -e "$_f" ] && echo "NVMF-CRASH-SYSFS $_f: $(ls "$_f" | tr '\n' ' ')"
	done
	dmesg | grep -E 'nvme' | tail -n 12
	exit 1
fi
echo "NVMF-CRASH-RECONNECTED dev=$dev"

if [ "$mode" = fio ]; then
	[ "$fio_prefix" -gt 0 ] || { fail "fio completed nothing before the kill"; exit 1; }
	log "+ fio --verify_only --size=$fio_prefix"
	fio_job --size="$fio_prefix" --verify_only --do_verify=1 --verify_fatal=1 --output-format=json >/tmp/fio.json 2>/tmp/fio.err ||
		{ head -c 3000 /tmp/fio.err; fail "fio verify of the first $fio_prefix bytes"; exit 1; }
	# (do_verify=0 would make --verify_only a no-op: check that it read it all)
	read_bytes=$(sed -n 's/^.*"io_bytes" : \([0-9]*\).*$/\1/p' /tmp/fio.json | sort -n | tail -n 1)
	[ "$read_bytes" = "$fio_prefix" ] || { fail "fio verified $read_bytes bytes, not $fio_prefix"; exit 1; }
	echo "NVMF-CRASH-VERIFIED mode=fio bytes=$fio_prefix"
	host_disconnect "$NVMF_NQN"
	exit 0
fi

# Blocks 0..upto-1 at once; then FUA blocks past it (and with the cache off, every acknowledged block).
upto=$(sort -n /tmp/flushed 2>/dev/null | tail -n 1)
upto=${upto:-0}
i=0
while [ $i -lt "$upto" ]; do
	blk_line $i
	i=$((i + 1))
done >/tmp/expect
if [ "$upto" -gt 0 ]; then
	run dd if="$dev" of=/tmp/back bs=4096 count="$upto" iflag=direct 2>/dev/null || exit 1
	if ! cmp /tmp/expect /tmp/back; then
		bad=$(cmp /tmp/expect /tmp/back | sed -n 's/^.* byte \([0-9]*\).*$/\1/p')
		fail "block $(((bad - 1) / 4096)) of the flushed 0..$((upto - 1)) differs"
		exit 1
	fi
fi
extra=0
if [ "${NVMF_CRASH_VWC:-1}" = 0 ]; then must=/tmp/acked; else must=/tmp/fua; fi
for f in "$must"/*; do
	[ -e "$f" ] || continue
	b=$(basename "$f")
	[ "$b" -ge "$upto" ] || continue
	check_block "$b" || exit 1
	extra=$((extra + 1))
done
echo "NVMF-CRASH-VERIFIED mode=blocks flushed=$upto beyond=$extra"
host_disconnect "$NVMF_NQN"
