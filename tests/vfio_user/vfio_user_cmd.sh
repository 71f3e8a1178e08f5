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
	out=$($T "$NVMF" perf "${PERF_ADDR:-$VU}" --verify "$@" --json 2>"$tmp/perf.err") &&
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

# The doorbell mode is the listener's. nvmf_create_transport VFIOUSER with disable_mappable_bar0
# traps the doorbells of listeners added after it (Identify then offers Doorbell Buffer Config,
# OACS bit 8, which the host library's driver takes); the command line's listener keeps mapped ones.
oacs() { $T "$NVMF" identify "vfio-user:$1" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["controller"]["oacs"] >> 8 & 1)'; }
SOCK3=$tmp/ctrl-trapped.sock
$T "$NVMF" rpc nvmf_create_transport -s "$tmp/rpc.sock" --trtype VFIOUSER --disable-mappable-bar0 true >/dev/null 2>&1 &&
	ok "nvmf_create_transport VFIOUSER with disable_mappable_bar0" || bad "nvmf_create_transport VFIOUSER"
out=$($T "$NVMF" rpc nvmf_get_transports -s "$tmp/rpc.sock" --trtype VFIOUSER --json 2>&1) &&
	python3 -c 'import json,sys; t=json.load(sys.stdin); assert len(t)==1 and t[0]["trtype"]=="VFIOUSER" and t[0]["disable_mappable_bar0"] is True, t' <<<"$out" &&
	ok "nvmf_get_transports lists VFIOUSER with disable_mappable_bar0" || bad "get_transports VFIOUSER: $out"
if out=$($T "$NVMF" rpc nvmf_create_transport -s "$tmp/rpc.sock" --trtype VFIOUSER 2>&1); then
	bad "a second VFIOUSER transport is created"
elif grep -q "already exists" <<<"$out"; then
	ok "a second VFIOUSER transport: already exists"
else
	bad "second VFIOUSER transport: $out"
fi
$T "$NVMF" rpc nvmf_subsystem_add_listener -s "$tmp/rpc.sock" --nqn $NQN --listen-address.trtype VFIOUSER \
	--listen-address.traddr "$SOCK3" >/dev/null 2>&1 && [ "$(oacs "$SOCK3")" = 1 ] && [ "$(oacs "$SOCK")" = 0 ] &&
	ok "a listener added after it traps its doorbells; the first one maps them" ||
	bad "doorbell mode per listener: trapped $(oacs "$SOCK3"), first $(oacs "$SOCK")"
PERF_ADDR=vfio-user:$SOCK3 perf "QD32 on trapped doorbells (shadow doorbells), 2 queues" -q 32 -P 2 -o 4096 -w randrw -n 20000
# save_config keeps each listener's mode: what rpc.py save_config writes, from the same calls.
for sub in bdev nvmf; do
	$T "$NVMF" rpc framework_get_config -s "$tmp/rpc.sock" --name $sub --json >"$tmp/saved-$sub.json" 2>&1
done
python3 -c 'import json,sys; print(json.dumps({"subsystems": [{"subsystem": s, "config": json.load(open(sys.argv[1] + "/saved-" + s + ".json"))} for s in ("bdev", "nvmf")]}))' "$tmp" >"$tmp/saved.json" ||
	bad "save_config: $(cat "$tmp"/saved-*.json)"

kill "$pid" && wait "$pid"
rc=$?
pid=
[ $rc -eq 0 ] && ok "nvmfd stops cleanly" || bad "nvmfd exit status $rc"
[ ! -e "$SOCK" ] && ok "the vfio-user socket is removed" || bad "the vfio-user socket is left behind"
# Started again from the saved file: the trapped listener traps, the first one maps.
"$NVMFD" --config "$tmp/saved.json" --rpc-socket "$tmp/rpc3.sock" >"$tmp/nvmfd3.log" 2>&1 &
pid=$!
for _ in $(seq 200); do grep -q ready "$tmp/nvmfd3.log" && break; sleep 0.05; done
[ -S "$SOCK3" ] && [ "$(oacs "$SOCK3")" = 1 ] && [ "$(oacs "$SOCK")" = 0 ] &&
	ok "save_config and a restart from it keep each listener's doorbell mode" ||
	bad "restart from save_config: $(cat "$tmp/nvmfd3.log") $(cat "$tmp/saved.json")"
kill "$pid" && wait "$pid"
pid=
# The JSON configuration file (nvmetcli form) names a vfio-user port too.
cat >"$tmp/conf.json" <<JSON
{"ports":[{"portid":7,"addr":{"trtype":"vfio-user","traddr":"$tmp/conf.sock"},"subsystems":["$NQN"]},
          {"portid":8,"addr":{"trtype":"vfio-user","traddr":"$tmp/conf-trapped.sock"},"subsystems":["$NQN"],
           "param":{"vfio_user_doorbells":"trapped"}}],
 "subsystems":[{"nqn":"$NQN","attr":{"allow_any_host":"1"},"namespaces":[{"nsid":1,"enable":1,"device":{"path":"ram:16M"}}]}]}
JSON
"$NVMFD" --config "$tmp/conf.json" --rpc-socket "$tmp/rpc2.sock" >"$tmp/nvmfd2.log" 2>&1 &
pid=$!
for _ in $(seq 200); do grep -q ready "$tmp/nvmfd2.log" && break; sleep 0.05; done
out=$($T "$NVMF" identify "vfio-user:$tmp/conf.sock") && grep -q "nsze    : 0x8000" <<<"$out" &&
	ok "a vfio-user port from the JSON configuration" || bad "config vfio-user port: $out $(cat "$tmp/nvmfd2.log")"
[ "$(oacs "$tmp/conf.sock")" = 0 ] && [ "$(oacs "$tmp/conf-trapped.sock")" = 1 ] &&
	ok "a port's param vfio_user_doorbells trapped (the other port maps them)" ||
	bad "config doorbell mode: $(cat "$tmp/nvmfd2.log")"
kill "$pid" && wait "$pid"
pid=
sed 's/"trapped"/"sideways"/' "$tmp/conf.json" >"$tmp/bad.json"
if out=$(timeout 20 "$NVMFD" --config "$tmp/bad.json" 2>&1); then
	bad "a bad vfio_user_doorbells starts nvmfd"
elif grep -q "vfio_user_doorbells wants mapped or trapped" <<<"$out"; then
	ok "a bad vfio_user_doorbells: a clear error at start"
else
	bad "bad vfio_user_doorbells: $out"
fi

[ $fails -eq 0 ] || { cat "$tmp/nvmfd.log"; exit 1; }
