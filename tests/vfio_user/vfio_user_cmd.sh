#!/usr/bin/env bash
# The nvmf command over vfio-user against nvmfd: identify, read/write, perf
# --verify (queues, depths, interrupts and polled); the same namespace over
# TCP at once; a clean end (socket file gone) when nvmfd stops.
# usage: vfio_user_cmd.sh NVMF NVMFD
set -uo pipefail
NVMF=$1
NVMFD=$2
NQN=nqn.2024-01.io.nvmf:vfiouser
tmp=$(mktemp -d)
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
fails=0
ok() { echo "ok - $*"; }
bad() { echo "FAIL - $*"; fails=$((fails + 1)); }
[ -x "$NVMFD" ] || { echo "nvmfd not built: skip"; exit 77; }

SOCK=$tmp/ctrl0.sock
: >"$tmp/nvmfd.log" # truncated here, not by the background job: no stale "ready" is read
"$NVMFD" --listen "vfio-user:$SOCK" --listen 127.0.0.1:0 --subsystem $NQN --namespace ram:64M \
	--rpc-socket "$tmp/rpc.sock" >"$tmp/nvmfd.log" 2>&1 &
pid=$!
for _ in $(seq 200); do grep -q ready "$tmp/nvmfd.log" && break; sleep 0.05; done
port=$(sed -n 's/.*listening on tcp 127.0.0.1:\([0-9]*\).*/\1/p' "$tmp/nvmfd.log" | head -1)
[ -n "$port" ] && [ -S "$SOCK" ] || { cat "$tmp/nvmfd.log"; echo "nvmfd did not start"; exit 1; }
VU=vfio-user:$SOCK
TCP=tcp://127.0.0.1:$port/$NQN
T="timeout 120"

out=$($T "$NVMF" identify "$VU") && grep -q "^subnqn    : $NQN" <<<"$out" && grep -q "NVME Identify Namespace 1" <<<"$out" &&
	ok "identify over vfio-user" || bad "identify over vfio-user: $out"
out=$($T "$NVMF" identify "trtype:vfiouser traddr:$SOCK" --json) &&
	python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["namespaces"][0]["nsze"]==131072' <<<"$out" &&
	ok "identify --json (SPDK transport ID form)" || bad "identify --json: $out"

# Transfers of one page, two pages (PRP2) and a PRP list, both ways, across transports.
for size in 512 8192 131072 1048576; do
	head -c $size /dev/urandom >"$tmp/in"
	n=$((size / 512))
	$T "$NVMF" write "$VU" --nsid 1 --lba 100 -i "$tmp/in" 2>/dev/null &&
		$T "$NVMF" read "$VU" --nsid 1 --lba 100 --count $n -o "$tmp/out" 2>/dev/null && cmp -s "$tmp/in" "$tmp/out" &&
		ok "write and read $size bytes over vfio-user" || bad "write/read $size bytes over vfio-user"
	$T "$NVMF" read "$TCP" --nsid 1 --lba 100 --count $n -o "$tmp/out2" 2>/dev/null && cmp -s "$tmp/in" "$tmp/out2" &&
		ok "$size bytes written over vfio-user read back over TCP" || bad "vfio-user -> TCP $size"
	head -c $size /dev/urandom >"$tmp/in2"
	$T "$NVMF" write "$TCP" --nsid 1 --lba 5000 -i "$tmp/in2" 2>/dev/null &&
		$T "$NVMF" read "$VU" --nsid 1 --lba 5000 --count $n -o "$tmp/out3" 2>/dev/null && cmp -s "$tmp/in2" "$tmp/out3" &&
		ok "$size bytes written over TCP read back over vfio-user" || bad "TCP -> vfio-user $size"
done

perf() { # name, args...
	local name=$1
	shift
	out=$($T "$NVMF" perf "$VU" --verify "$@" --json 2>"$tmp/perf.err") &&
		python3 -c 'import json,sys; d=json.load(sys.stdin); t=d["total"] if "total" in d else d; assert d["errors"]==0 and d["miscompares"]==0 and d["ios"]>0, d' <<<"$out" &&
		ok "perf --verify $name" || bad "perf --verify $name: $out $(cat "$tmp/perf.err")"
}
perf "QD1" -q 1 -o 4096 -w randrw -n 2000
perf "QD128, 4 queues" -q 128 -P 4 -o 4096 -w randrw -n 20000
perf "QD32, 128 KiB" -q 32 -o 131072 -w rw -n 2000
perf "QD128 polled, 2 queues" -q 128 -P 2 -o 4096 -w randrw -n 20000 --polled
perf "QD1 polled" -q 1 -o 4096 -w randrw -n 2000 --polled
perf "QD32, client sleeping on the interrupt eventfd (--wait)" -q 32 -o 4096 -w randrw -n 8000 --wait

# TCP and vfio-user at once on the same namespace (the TCP host reads: two verifying
# writers of the same blocks would each see the other's pattern).
$T "$NVMF" perf "$TCP" -q 16 -o 4096 -w randread -n 50000 >"$tmp/tcp_perf.out" 2>&1 &
tcp_perf=$!
perf "QD16 while a TCP host reads" -q 16 -o 4096 -w randrw -n 20000
wait $tcp_perf && grep -q "errors 0" "$tmp/tcp_perf.out" && ok "the TCP host's reads at the same time" ||
	bad "the TCP host's reads at the same time: $(cat "$tmp/tcp_perf.out")"

# A listener added at run time through the management API, and listed.
SOCK2=$tmp/ctrl-rpc.sock
$T "$NVMF" rpc nvmf_subsystem_add_listener -s "$tmp/rpc.sock" --nqn $NQN --listen-address.trtype VFIOUSER \
	--listen-address.traddr "$SOCK2" >/dev/null 2>&1 && [ -S "$SOCK2" ] &&
	out=$($T "$NVMF" identify "vfio-user:$SOCK2") && grep -q "^subnqn    : $NQN" <<<"$out" &&
	ok "nvmf_subsystem_add_listener VFIOUSER: a new device" || bad "RPC vfio-user listener: $out"
out=$($T "$NVMF" rpc nvmf_subsystem_get_listeners -s "$tmp/rpc.sock" --nqn $NQN --json 2>&1) &&
	grep -q '"VFIOUSER"' <<<"$out" && ok "listeners list VFIOUSER" || bad "get_listeners: $out"
$T "$NVMF" rpc nvmf_subsystem_remove_listener -s "$tmp/rpc.sock" --nqn $NQN --listen-address.trtype VFIOUSER \
	--listen-address.traddr "$SOCK2" >/dev/null 2>&1 && [ ! -e "$SOCK2" ] &&
	ok "nvmf_subsystem_remove_listener removes the socket" || bad "remove vfio-user listener"

kill "$pid" && wait "$pid"
rc=$?
pid=
[ $rc -eq 0 ] && ok "nvmfd stops cleanly" || bad "nvmfd exit status $rc"
[ ! -e "$SOCK" ] && ok "the vfio-user socket is removed" || bad "the vfio-user socket is left behind"
# The JSON configuration file (nvmetcli form) names a vfio-user port too.
cat >"$tmp/conf.json" <<JSON
{"ports":[{"portid":7,"addr":{"trtype":"vfio-user","traddr":"$tmp/conf.sock"},"subsystems":["$NQN"]}],
 "subsystems":[{"nqn":"$NQN","attr":{"allow_any_host":"1"},"namespaces":[{"nsid":1,"enable":1,"device":{"path":"ram:16M"}}]}]}
JSON
"$NVMFD" --config "$tmp/conf.json" --rpc-socket "$tmp/rpc2.sock" >"$tmp/nvmfd2.log" 2>&1 &
pid=$!
for _ in $(seq 200); do grep -q ready "$tmp/nvmfd2.log" && break; sleep 0.05; done
out=$($T "$NVMF" identify "vfio-user:$tmp/conf.sock") && grep -q "nsze    : 0x8000" <<<"$out" &&
	ok "a vfio-user port from the JSON configuration" || bad "config vfio-user port: $out $(cat "$tmp/nvmfd2.log")"

[ $fails -eq 0 ] || { cat "$tmp/nvmfd.log"; exit 1; }
