#!/usr/bin/env bash
# Faults: a cluster that stops answering mid-I/O (its OSDs stopped with
# SIGSTOP) makes commands complete with Namespace Not Ready, a retryable
# status, rather than hang, and the gateway serves again once the cluster
# answers; a gateway killed (SIGKILL) with writes in flight loses none it
# acknowledged: each one reads back through the other gateway; the killed
# gateway restarted serves the same data.
source "$(dirname "$0")/lib.sh" "$1"
skip_without_ceph
ceph_up --osds 1 --size 64M

gw_start a 15730 --cntlid-min 1 --cntlid-max 1000
gw_start b 15731 --cntlid-min 1001 --cntlid-max 2000

# ---- The cluster stops answering.
head -c 4096 /dev/urandom >"$work/before"
"$nvmf" write "$(addr 15730)" --nsid 1 --lba 0 -i "$work/before" >/dev/null
bash "$top/scripts/ceph-cluster.sh" pause-osds "$cluster"
# The host's own timeout is well above the gateway's (10 s): the status must come from the gateway.
# `timeout` only guards against a hang; a hang is a failure.
rc=0
out=$(timeout 120 "$nvmf" read "$(addr 15730)" --nsid 1 --lba 0 --count 8 -o "$work/r0" --timeout 60000 2>&1) || rc=$?
if [ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q "NS_NOT_READY" <<<"$out"; then
	ok "read while the cluster does not answer: $(grep -o 'NS_NOT_READY' <<<"$out" | head -1) (retryable)"
else
	bad "read while the cluster does not answer: rc $rc: $out"
fi
rc=0
out=$(timeout 120 "$nvmf" write "$(addr 15731)" --nsid 1 --lba 64 -i "$work/before" --timeout 60000 2>&1) || rc=$?
if [ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q "NS_NOT_READY" <<<"$out"; then
	ok "write while the cluster does not answer: NS_NOT_READY"
else
	bad "write while the cluster does not answer: rc $rc: $out"
fi
kill -0 "${gw_pid[a]}" && kill -0 "${gw_pid[b]}" && ok "both gateways still up" || bad "a gateway died"
bash "$top/scripts/ceph-cluster.sh" resume-osds "$cluster"
cluster_wait_serving 180 && ok "the cluster serves again after its OSDs resumed" \
	|| bad "the cluster itself did not serve again within 180 s of its OSDs resuming"
# Once the cluster answers, the same gateways serve again (the host retries as Linux does).
recovered=0 last=""
for _ in $(seq 1 30); do
	if last=$(timeout 120 "$nvmf" read "$(addr 15730)" --nsid 1 --lba 0 --count 8 -o "$work/r0" 2>&1); then
		recovered=1
		break
	fi
	sleep 1
done
if [ $recovered -eq 0 ]; then bad "gateway a did not serve again: $last"
elif ! cmp -s "$work/before" "$work/r0"; then bad "gateway a serves again but reads other data at LBA 0"
else ok "gateway a serves again after the cluster came back"; fi
if out=$("$nvmf" perf "$(addr 15731)" -q 8 -o 4096 -w randwrite -n 500 --verify 2>&1) && grep -q "identical" <<<"$out"; then
	ok "gateway b: perf --verify after recovery"
else
	bad "gateway b after recovery: $(tail -2 <<<"$out")"
fi

# ---- A gateway killed with writes in flight.
# Four writers, each its own LBAs, one 4 KiB block per command with a unique
# pattern; an acknowledged write is logged.  Gateway a is killed while they run.
block() { # writer block lba: the 4096 bytes written there (no pipe: its SIGPIPE would fail the pipeline)
	local h="writer $1 block $2 lba $3 "
	printf '%s%0*d' "$h" $((4096 - ${#h})) 0
}
writer() { # id
	local i lba
	for i in $(seq 0 199); do
		lba=$((8192 + ($1 * 200 + i) * 8))
		block "$1" "$i" "$lba" >"$work/w.$1"
		if "$nvmf" write "$(addr 15730)" --nsid 1 --lba "$lba" -i "$work/w.$1" --timeout 5000 >/dev/null 2>&1; then
			echo "$lba $1 $i" >>"$work/acked.$1"
		else
			return 0
		fi
	done
}
writers=()
for w in 0 1 2 3; do
	writer $w &
	writers+=($!)
done
sleep 3
gw_kill a
wait "${writers[@]}"
cat "$work"/acked.* >"$work/acked" 2>/dev/null || true
n=$(wc -l <"$work/acked")
lost=0
while read -r lba w i; do
	rm -f "$work/check"
	rrc=0
	"$nvmf" read "$(addr 15731)" --nsid 1 --lba "$lba" --count 8 -o "$work/check" >"$work/read.out" 2>&1 || rrc=$?
	block "$w" "$i" "$lba" >"$work/expect"
	if ! cmp -s "$work/expect" "$work/check"; then
		lost=$((lost + 1))
		echo "lost: writer $w block $i lba $lba (read rc $rrc): $(cmp "$work/expect" "$work/check" 2>&1)"
	fi
done <"$work/acked"
if [ "$n" -gt 0 ] && [ $lost -eq 0 ]; then ok "gateway a killed: all $n acknowledged writes read back through b"
else bad "gateway a killed: $lost of $n acknowledged writes lost"; fi

cluster_wait_serving 120 || bad "the cluster does not serve before gateway a restarts"
gw_start a 15730 --cntlid-min 1 --cntlid-max 1000
first=$(head -1 "$work/acked" | cut -d' ' -f1)
if ! out=$("$nvmf" read "$(addr 15730)" --nsid 1 --lba "$first" --count 8 -o "$work/again.a" 2>&1); then
	bad "gateway a restarted: read failed: $out"
elif ! out=$("$nvmf" read "$(addr 15731)" --nsid 1 --lba "$first" --count 8 -o "$work/again.b" 2>&1); then
	bad "gateway b: read failed: $out"
else
	cmp -s "$work/again.a" "$work/again.b" && ok "gateway a restarted serves the same data" \
		|| bad "gateway a restarted reads differently"
fi
finish
