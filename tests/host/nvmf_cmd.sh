#!/usr/bin/env bash
# The nvmf command against a real nvmfd on an ephemeral port.
# usage: nvmf_cmd.sh NVMF NVMFD
set -uo pipefail
NVMF=$1
NVMFD=$2
NQN=nqn.2024-01.io.nvmf:hosttest
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

# A second subsystem on a null namespace (writes vanish): --verify must notice.
# A third admits one host only: --hostnqn must reach the Connect data.
HOSTNQN=nqn.2014-08.org.nvmexpress:uuid:11111111-2222-4333-8444-555555555555
: >"$tmp/nvmfd.log" # truncated here, not by the background job: no stale "ready" is read
"$NVMFD" --listen 127.0.0.1:0 --subsystem $NQN --namespace ram:64M --subsystem $NQN-null --namespace null:1G \
	--subsystem $NQN-restricted --namespace ram:1M --allow-host $HOSTNQN >"$tmp/nvmfd.log" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q ready "$tmp/nvmfd.log" && break; sleep 0.05; done
port=$(sed -n 's/.*listening on tcp 127.0.0.1:\([0-9]*\).*/\1/p' "$tmp/nvmfd.log" | head -1)
[ -n "$port" ] || { cat "$tmp/nvmfd.log"; echo "nvmfd did not start"; exit 1; }
URI=tcp://127.0.0.1:$port/$NQN
TRID="trtype:tcp adrfam:ipv4 traddr:127.0.0.1 trsvcid:$port subnqn:$NQN"
T="timeout 60"

# discover, both address forms
out=$($T "$NVMF" discover "tcp://127.0.0.1:$port") && grep -q "subnqn:  $NQN" <<<"$out" &&
	grep -q "Number of Records 3" <<<"$out" && ok "discover (URI)" || bad "discover (URI): $out"
out=$($T "$NVMF" discover "trtype:tcp adrfam:ipv4 traddr:127.0.0.1 trsvcid:$port") && grep -q "$NQN" <<<"$out" &&
	ok "discover (transport ID)" || bad "discover (transport ID)"
out=$($T "$NVMF" discover "tcp://127.0.0.1:$port" --json) && python3 -c 'import json,sys; d=json.load(sys.stdin); assert any(r["subnqn"]==sys.argv[1] for r in d["records"])' "$NQN" <<<"$out" &&
	ok "discover --json" || bad "discover --json"

# identify: controller and the namespace; no subnqn picks the first subsystem from discovery
out=$($T "$NVMF" identify "$URI") && grep -q "^mn        : nvmf userspace target" <<<"$out" &&
	grep -q "NVME Identify Namespace 1" <<<"$out" && ok "identify" || bad "identify: $out"
out=$($T "$NVMF" identify "tcp://127.0.0.1:$port" --json) &&
	python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["controller"]["subnqn"]==sys.argv[1]; assert d["namespaces"][0]["nsze"]==131072' "$NQN" <<<"$out" &&
	ok "identify --json (subsystem from discovery)" || bad "identify --json"
out=$($T "$NVMF" identify "tcp://127.0.0.1:$port/nqn.2014-08.org.nvmexpress.discovery") &&
	grep -q "discovery controller" <<<"$out" && ok "identify the discovery controller" || bad "identify discovery: $out"
out=$($T "$NVMF" identify "$URI" --hdgst --ddgst) && grep -q "NVME Identify Namespace 1" <<<"$out" &&
	ok "identify with header and data digests" || bad "identify with digests"

# list
out=$($T "$NVMF" list "$TRID") && grep -Eq "^1 +131072 +64.00 MiB +512" <<<"$out" && ok "list" || bad "list: $out"

# write / read round trips: file, stdin/stdout, digests, several commands (past MDTS)
head -c 1048576 /dev/urandom >"$tmp/in"
$T "$NVMF" write "$URI" --nsid 1 --lba 1000 -i "$tmp/in" 2>/dev/null && ok "write 1 MiB from a file" || bad "write"
$T "$NVMF" read "$URI" --nsid 1 --lba 1000 --count 2048 -o "$tmp/out" 2>/dev/null && cmp -s "$tmp/in" "$tmp/out" &&
	ok "read back 1 MiB identical" || bad "read back"
head -c 4096 /dev/urandom >"$tmp/small"
$T "$NVMF" write "$URI" --nsid 1 --lba 7 --hdgst --ddgst <"$tmp/small" 2>/dev/null &&
	$T "$NVMF" read "$URI" --nsid 1 --lba 7 --count 8 --hdgst --ddgst 2>/dev/null | cmp -s - "$tmp/small" &&
	ok "stdin/stdout round trip with digests" || bad "stdin/stdout round trip"
printf 'abc' | $T "$NVMF" write "$URI" --nsid 1 --lba 50 2>/dev/null
$T "$NVMF" read "$URI" --nsid 1 --lba 50 --count 1 2>/dev/null | od -An -tx1 | head -1 | grep -q "61 62 63 00 00" &&
	ok "short input padded with zeros" || bad "short input padding"

# errors: NVMe status in words, non-zero exit
err=$($T "$NVMF" read "$URI" --nsid 1 --lba 131070 --count 8 -o /dev/null 2>&1)
rc=$?
[ $rc -ne 0 ] && grep -q "LBA_RANGE: The command references an LBA that exceeds the size of the namespace (0x4080)" <<<"$err" &&
	ok "LBA out of range reported in words" || bad "LBA out of range: rc=$rc $err"
err=$($T "$NVMF" read "$URI" --nsid 9 --lba 0 --count 1 -o /dev/null 2>&1)
[ $? -ne 0 ] && grep -qi "namespace" <<<"$err" && ok "inactive namespace: $err" || bad "inactive namespace: $err"
err=$($T "$NVMF" identify "tcp://127.0.0.1:$port/nqn.2024-01.io.nvmf:nosuch" 2>&1)
[ $? -ne 0 ] && grep -q "CONNECT_INVALID_PARAM\|CONNECT_INVALID_HOST\|rejected" <<<"$err" && ok "unknown subsystem: $err" ||
	bad "unknown subsystem: $err"
err=$($T "$NVMF" identify "tcp://127.0.0.1:1/$NQN" 2>&1)
[ $? -ne 0 ] && grep -q "Connection refused" <<<"$err" && ok "connection refused reported" || bad "refused: $err"
err=$($T "$NVMF" identify "tcp://127.0.0.1:99999/x" 2>&1)
[ $? -eq 2 ] && grep -q "invalid port" <<<"$err" && ok "bad address rejected" || bad "bad address: $err"

# host identity flags
out=$($T "$NVMF" list "$URI-restricted" --hostnqn $HOSTNQN --hostid 11111111-2222-4333-8444-555555555555 2>&1) &&
	grep -Eq "^1 +2048 " <<<"$out" && ok "--hostnqn/--hostid admitted by an allow-host subsystem" || bad "--hostnqn: $out"
out=$($T "$NVMF" discover "tcp://127.0.0.1:$port" --hostnqn $HOSTNQN) && grep -q "Number of Records 4" <<<"$out" &&
	grep -q "subnqn:  $NQN-restricted" <<<"$out" && ok "discovery lists the allow-host subsystem to that host only" ||
	bad "discover --hostnqn: $out"
err=$($T "$NVMF" list "$URI-restricted" 2>&1)
[ $? -ne 0 ] && grep -q "CONNECT_INVALID_HOST" <<<"$err" && ok "other host refused: $err" || bad "other host: $err"

# logs and features
out=$($T "$NVMF" smart-log "$URI") && grep -q "^data_units_written" <<<"$out" && ok "smart-log" || bad "smart-log: $out"
out=$($T "$NVMF" smart-log "$URI" --json) && python3 -c 'import json,sys; d=json.load(sys.stdin); assert "host_write_commands" in d and d["avail_spare"]>0' <<<"$out" &&
	ok "smart-log --json" || bad "smart-log --json: $out"
out=$($T "$NVMF" get-log "$URI" --log-id 2 --len 512) && [ "$(grep -c '^0' <<<"$out")" = 32 ] && ok "get-log SMART 512 bytes" ||
	bad "get-log: $out"
out=$($T "$NVMF" get-log "tcp://127.0.0.1:$port" --log-id 0x70 --len 3072 --json) &&
	python3 -c 'import json,sys; d=json.load(sys.stdin); b=bytes.fromhex(d["data"]); assert int.from_bytes(b[8:16],"little")==3' <<<"$out" &&
	ok "get-log discovery from the discovery controller" || bad "get-log discovery"
err=$($T "$NVMF" get-log "$URI" --log-id 0xbe --len 512 2>&1)
[ $? -ne 0 ] && grep -q "INVALID_LOG_PAGE\|INVALID_FIELD" <<<"$err" && ok "unsupported log page: $err" || bad "bad log page: $err"
out=$($T "$NVMF" get-feature "$URI" --feature-id 7) && grep -q "Number of Queues" <<<"$out" && ok "get-feature: $out" ||
	bad "get-feature: $out"
out=$($T "$NVMF" set-feature "$URI" --feature-id 6 --value 0 2>&1)
echo "set-feature volatile write cache: $out"
out=$($T "$NVMF" set-feature "$URI" --feature-id 0x0b --value 0x100) && ok "set-feature async event config" ||
	bad "set-feature: $out"
out=$($T "$NVMF" get-feature "$URI" --feature-id 0x0b --json) &&
	python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["feature_id"]==11' <<<"$out" && ok "get-feature --json" ||
	bad "get-feature --json: $out"

# perf: verify at depth 1 and 128 over several queues, digests, count mode, JSON
$T "$NVMF" perf "$URI" -q 1 -o 4096 -w randwrite -n 2000 --verify >"$tmp/p1" 2>/dev/null &&
	grep -q "miscompares 0" "$tmp/p1" && ok "perf --verify depth 1" || { cat "$tmp/p1"; bad "perf verify q1"; }
$T "$NVMF" perf "$URI" -q 128 -o 8k -w randrw -M 70 -j 2 -P 2 -t 2 --verify --json >"$tmp/p2" 2>/dev/null &&
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["ok"] and d["miscompares"]==0 and d["reads"]>0 and d["writes"]==d["reads"], d' "$tmp/p2" &&
	ok "perf --verify depth 128, 2 threads x 2 queues" || { cat "$tmp/p2"; bad "perf verify q128"; }
$T "$NVMF" perf "$URI" -q 32 -o 64k -w write -j 2 -t 1 --hdgst --ddgst --verify >"$tmp/p3" 2>/dev/null &&
	grep -q "miscompares 0" "$tmp/p3" && ok "perf --verify 64 KiB with digests (R2T path)" ||
	{ cat "$tmp/p3"; bad "perf verify digests"; }
# SQ flow control disabled: reads end with C2HData SUCCESS and no response capsule.
# --wait sleeps on the queues' sockets instead of spinning: every I/O still completes.
$T "$NVMF" perf "$URI" -q 16 -o 4096 -w randrw -j 2 -n 4000 --verify --wait >"$tmp/p6" 2>/dev/null &&
	grep -q "I/Os: 8000 (4000 reads, 4000 writes).*errors 0; miscompares 0" "$tmp/p6" && ok "perf --verify --wait" ||
	{ cat "$tmp/p6"; bad "perf --wait"; }
$T "$NVMF" perf "$URI" -q 32 -o 16k -w randrw -n 4000 --verify --disable-sqfc >"$tmp/p5" 2>/dev/null &&
	grep -q "miscompares 0" "$tmp/p5" && ok "perf --verify with SQ flow control disabled" ||
	{ cat "$tmp/p5"; bad "perf verify disable-sqfc"; }
$T "$NVMF" perf "$URI" -q 16 -o 4096 -w randread -t 1 --json >"$tmp/p4" 2>"$tmp/p4.err" &&
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); l=d["latency_us"]; assert d["iops"]>0 and l["p50"]<=l["p99"]<=l["p99_9"]<=l["max"]' "$tmp/p4" &&
	grep -q "IOPS" "$tmp/p4.err" && ok "perf randread --json, progress lines" || { cat "$tmp/p4" "$tmp/p4.err"; bad "perf json"; }

err=$($T "$NVMF" perf "$URI-null" -q 4 -o 4096 -w randwrite -n 100 --verify 2>&1 >/dev/null)
[ $? -eq 1 ] && grep -q "verify: lba [0-9]*: data read back differs" <<<"$err" && ok "perf --verify catches lost writes" ||
	bad "perf --verify on a null namespace: $err"

# the target stayed up and saw clean disconnects
kill -0 "$pid" && ok "nvmfd still running" || bad "nvmfd died"

# the target dies under load: perf ends with the connection error, exit 1, no hang
(sleep 1; kill -9 "$pid") &
err=$($T "$NVMF" perf "$URI" -q 32 -w randread -t 20 -j 2 2>&1 >/dev/null)
rc=$?
wait
pid=
[ $rc -eq 1 ] && grep -q "connection failed\|reset by peer\|closed by peer" <<<"$err" &&
	ok "target killed under perf: exit 1: $(grep -m1 'thread\|admin' <<<"$err")" || bad "target killed: rc=$rc $err"
echo "$fails failed"
[ $fails -eq 0 ]
