#!/usr/bin/env bash
# The RBD backend on a one-node cluster: clear errors at start (missing pool,
# missing image, cluster down), nvmf perf --verify through each of two
# gateways on one image, and data written through one read back through the other.
source "$(dirname "$0")/lib.sh" "$1"
skip_without_ceph
ceph_up --osds 1 --size 64M

# Errors at start: nvmfd exits non-zero and names the problem.
start_error() { # expected-text spec
	local out
	if out=$("$nvmfd" --listen 127.0.0.1:15790 --rpc-socket "$work/err.sock" --subsystem $NQN --namespace "$2" 2>&1); then
		bad "nvmfd started on $2"
	elif grep -q "$1" <<<"$out"; then
		ok "$2: $(grep -o "$1.*" <<<"$out" | head -1)"
	else
		bad "$2: expected '$1', got: $out"
	fi
}
start_error "pool 'nopool' does not exist" "rbd:nopool/img@$conf"
start_error "image 'noimg' does not exist in pool 'rbd'" "rbd:rbd/noimg@$conf"
start_error "expected rbd:POOL/IMAGE" "rbd:justapool@$conf"
sed "s/^mon_host = .*/mon_host = [v2:127.0.0.1:15898,v1:127.0.0.1:15899]/" "$conf" >"$work/down.conf"
start_error "the cluster did not answer" "rbd:rbd/img@$work/down.conf"

gw_start a 15710 --cntlid-min 1 --cntlid-max 1000
# Gateway b's two reactors pinned (where this process may use two CPUs): librbd's threads stay free.
pin=$(python3 -c 'import os; c = sorted(os.sched_getaffinity(0)); print("%d,%d" % (c[0], c[1]) if len(c) > 1 else "")')
gw_start b 15711 --cntlid-min 1001 --cntlid-max 2000 ${pin:+--reactor-cpus "$pin"}

# The same namespace identity on both gateways.
ida=$("$nvmf" identify "$(addr 15710)" --json)
idb=$("$nvmf" identify "$(addr 15711)" --json)
ident() { # the identity fields of an identify --json
	python3 -c 'import json,sys
d = json.loads(sys.argv[1]); ns = d["namespaces"][0]
print("sn=%s nguid=%s eui64=%s" % (d["controller"]["sn"], ns["nguid"], ns["eui64"]))' "$1"
}
if [ "$(ident "$ida")" = "$(ident "$idb")" ]; then ok "both gateways: $(ident "$ida")"
else bad "identities differ: $(ident "$ida") vs $(ident "$idb")"; fi
cnt_a=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["controller"]["cntlid"])' "$ida")
cnt_b=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["controller"]["cntlid"])' "$idb")
if [ "$cnt_a" -le 1000 ] && [ "$cnt_b" -gt 1000 ] && [ "$cnt_b" -le 2000 ]; then ok "controller IDs $cnt_a and $cnt_b from each gateway's range"
else bad "controller IDs $cnt_a, $cnt_b outside the ranges"; fi

for p in 15710 15711; do
	if out=$("$nvmf" perf "$(addr $p)" -q 16 -o 4096 -w randwrite -n 2000 --verify 2>&1) \
		&& grep -q "read back identical" <<<"$out"; then
		ok "perf --verify through :$p: $(grep 'read back' <<<"$out")"
	else
		bad "perf --verify through :$p: $(tail -3 <<<"$out")"
	fi
done

if [ -n "$pin" ]; then
	# After I/O: librbd starts no thread of its own on a reactor's CPU alone.
	if out=$(python3 - "${gw_pid[b]}" "$pin" <<'PY'
import os, sys
pid, pin = int(sys.argv[1]), [int(c) for c in sys.argv[2].split(",")]
allowed, bad, names = os.sched_getaffinity(0), [], set()
for tid in os.listdir("/proc/%d/task" % pid):
    comm = open("/proc/%d/task/%s/comm" % (pid, tid)).read().strip()
    cpus = os.sched_getaffinity(int(tid))
    if comm.startswith("reactor"):
        if cpus != {pin[int(comm[7:])]}:
            bad.append("%s on %s" % (comm, sorted(cpus)))
    else:
        names.add(comm)
        if cpus != allowed:
            bad.append("%s on %s" % (comm, sorted(cpus)))
if bad or "io_context_pool" not in names or "msgr-worker-0" not in names:
    sys.exit("threads: %s; seen: %s" % (bad, sorted(names)))
print("reactors on CPUs %s; %d other threads (librbd's among them) on every CPU" % (sys.argv[2], len(names)))
PY
	); then
		ok "--reactor-cpus $pin: $out"
	else
		bad "--reactor-cpus $pin: $out"
	fi
fi

# Written through a, read through b (and the other way).
head -c 65536 /dev/urandom >"$work/w1"
head -c 65536 /dev/urandom >"$work/w2"
"$nvmf" write "$(addr 15710)" --nsid 1 --lba 4096 -i "$work/w1" >/dev/null
"$nvmf" read "$(addr 15711)" --nsid 1 --lba 4096 --count 128 -o "$work/r1" >/dev/null
"$nvmf" write "$(addr 15711)" --nsid 1 --lba 8192 -i "$work/w2" >/dev/null
"$nvmf" read "$(addr 15710)" --nsid 1 --lba 8192 --count 128 -o "$work/r2" >/dev/null
cmp -s "$work/w1" "$work/r1" && ok "written through a, read back through b" || bad "a->b data differs"
cmp -s "$work/w2" "$work/r2" && ok "written through b, read back through a" || bad "b->a data differs"
# And by librbd itself: the gateway stores plain image data.
rbd -c "$conf" export rbd/img "$work/img.raw" >/dev/null 2>&1
cmp -s "$work/w1" <(dd if="$work/img.raw" bs=512 skip=4096 count=128 2>/dev/null) \
	&& ok "rbd export shows the data at the same offset" || bad "rbd export differs"

# The image grows under running gateways: both report the new capacity (librbd's header watch).
nsze() { "$nvmf" identify "$(addr "$1")" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["namespaces"][0]["nsze"])'; }
rbd -c "$conf" resize --size 96M rbd/img >/dev/null 2>&1
want=$((96 * 1024 * 1024 / 512))
for p in 15710 15711; do
	got=
	for _ in $(seq 1 50); do
		got=$(nsze $p)
		[ "$got" = "$want" ] && break
		sleep 0.2
	done
	[ "$got" = "$want" ] && ok "resized image: :$p reports $got blocks" || bad "resized image: :$p reports $got, not $want"
done

# The management API: bdev_rbd_create (4 KiB blocks this time) and nvmf_subsystem_add_ns on a third gateway.
NQN2=nqn.2024-01.io.nvmf:ceph-rpc
"$nvmfd" --listen 127.0.0.1:15712 --rpc-socket "$work/c.sock" --subsystem $NQN2 >"$work/c.log" 2>&1 &
gw_pid[c]=$!
for _ in $(seq 1 100); do grep -q "nvmfd: ready" "$work/c.log" && break; sleep 0.1; done
rpc() { "$nvmf" rpc "$@" -s "$work/c.sock" --json; }
if rpc bdev_rbd_create --pool-name rbd --rbd-name img --block-size 4096 --config-file "$conf" --name Rbd0 >/dev/null \
	&& rpc nvmf_subsystem_add_ns --nqn $NQN2 --namespace '{"bdev_name":"Rbd0"}' >/dev/null; then
	"$nvmf" read "tcp://127.0.0.1:15712/$NQN2" --nsid 1 --lba 512 --count 16 -o "$work/r3" >/dev/null 2>&1
	cmp -s "$work/w1" "$work/r3" && ok "bdev_rbd_create + add_ns: 4 KiB blocks, same data" || bad "RPC-made namespace reads differently"
	rpc bdev_get_bdevs --name Rbd0 | grep -q '"Ceph Rbd Disk"' && ok "bdev_get_bdevs: Ceph Rbd Disk" || bad "bdev_get_bdevs"
	rpc framework_get_config --name bdev | grep -Eq '"pool_name": ?"rbd"' && ok "framework_get_config (save_config) has bdev_rbd_create" || bad "framework_get_config: $(rpc framework_get_config --name bdev | head -c 300)"
else
	bad "bdev_rbd_create / add_ns: $(cat "$work/c.log" | tail -3)"
fi
out=$(rpc bdev_rbd_create --pool-name nopool --rbd-name img --block-size 512 --config-file "$conf" 2>&1) \
	&& bad "bdev_rbd_create on a missing pool succeeded" \
	|| { grep -q "pool 'nopool' does not exist" <<<"$out" && ok "bdev_rbd_create: missing pool named" || bad "bdev_rbd_create error: $out"; }
gw_stop c

gw_stop a
gw_stop b

# Compare and Write is librbd's, so it is atomic across gateways: two hosts on
# two gateways increment one counter with it (test_target's cas_gateways).
NQN=nqn.2024-01.io.nvmf:test
gw_start x 15713 --cntlid-min 1 --cntlid-max 1000
gw_start y 15714 --cntlid-min 1001 --cntlid-max 2000
if out=$("$build/tests/target/test_target" - cas_gateways 15713 15714 2>&1); then
	ok "$(grep 'compare-and-write across gateways' <<<"$out")"
else
	bad "compare and write across gateways: $(tail -3 <<<"$out")"
fi
gw_stop x
gw_stop y
finish
