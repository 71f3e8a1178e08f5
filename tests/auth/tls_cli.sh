#!/usr/bin/env bash
# TLS 1.3 with PSKs end to end: the nvmf command against nvmfd on 127.0.0.1.
# A port that requires TLS and one that allows both; SHA-256 and SHA-384
# keys (TLS_AES_128_GCM_SHA256 and TLS_AES_256_GCM_SHA384); both PSK
# identity forms; verified I/O; TLS with DH-HMAC-CHAP; the discovery log's
# TREQ and TSAS; keys from flags, an nvmetcli-layout config and JSON-RPC;
# refusals (plaintext on the TLS-only port, an unknown identity, a wrong
# PSK, a stalled handshake), each logged, and no key in any log.
# usage: tls_cli.sh NVMF NVMFD
set -uo pipefail
NVMF=$1
NVMFD=$2
NQN=nqn.2024-01.io.nvmf:tlscli
H1=nqn.2014-08.org.nvmexpress:uuid:11111111-2222-4333-8444-555555555555
H2=nqn.2014-08.org.nvmexpress:uuid:66666666-7777-4888-9999-000000000000
H3=nqn.2014-08.org.nvmexpress:uuid:77777777-7777-4888-9999-000000000000
# nvme gen-tls-key -m 1 / -m 2 (nvme-cli 2.3)
K256='NVMeTLSkey-1:01:9PUN6xNVs5sxqi7b/ny7NnIABKpLJzgC+m/JlzVAP2h8rUv7:'
K384='NVMeTLSkey-1:02:5uQIUzSA3cfuvENFJyCKkWFwikq3YV1gUG/qAsP5ALEWGx7jCSu95YBBMWN7WRpDqnvikg==:'
KOTHER='NVMeTLSkey-1:01:OhCLsu3Vv9w4mn2UEwpP99korKGcMBhFMspQZyxdoew9656j:'
DH='DHHC-1:01:bHuByyp0b3RFSx1xQPMVO1HKmUWfzveoahfydpW4fNgSLMVm:'
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
T="timeout 60"
[ -x "$NVMFD" ] || { echo "nvmfd not built: skip"; exit 77; }

start() {
	: >"$tmp/nvmfd.log" # truncated here, not by the background job: no stale "ready" is read
	"$NVMFD" --rpc-socket "$tmp/rpc.sock" "$@" >"$tmp/nvmfd.log" 2>&1 &
	pid=$!
	for _ in $(seq 600); do grep -q ready "$tmp/nvmfd.log" && break; sleep 0.05; done
	mapfile -t ports < <(sed -n 's/.*listening on tcp 127.0.0.1:\([0-9]*\).*/\1/p' "$tmp/nvmfd.log")
	[ ${#ports[@]} -gt 0 ] || { cat "$tmp/nvmfd.log"; echo "nvmfd did not start"; exit 1; }
}
stop() {
	kill "$pid" && wait "$pid" 2>/dev/null
	pid=
	cat "$tmp/nvmfd.log" >>"$tmp/all.log"
}

start --listen 127.0.0.1:0 --tls required --listen 127.0.0.1:0 --tls allowed --listen 127.0.0.1:0 \
	--subsystem $NQN --namespace ram:64M --allow-host $H1 --tls-key "$K256" --allow-host $H2 --tls-key "$K384" \
	--dhchap-key "$DH" --allow-host $H3
REQ=${ports[0]} ALLOW=${ports[1]} PLAIN=${ports[2]}

# Discovery log: TREQ and TSAS per port.
out=$($T "$NVMF" discover "tcp://127.0.0.1:$PLAIN" --json --hostnqn $H3 2>&1) && python3 - "$REQ" "$ALLOW" "$PLAIN" "$out" <<'PY' && ok "discovery log: required/tls13, not required/tls13, plain/none" || bad "discovery: $out"
import json, sys
req, allow, plain, out = sys.argv[1:]
recs = {r["trsvcid"]: r for r in json.loads(out)["records"] if r["subtype"].startswith("nvme")}
assert recs[req]["treq"] == "required" and recs[req]["sectype"] == "tls13", recs[req]
assert recs[allow]["treq"] == "not required" and recs[allow]["sectype"] == "tls13", recs[allow]
assert recs[plain]["sectype"] == "none", recs[plain]
PY

head -c 1048576 /dev/urandom >"$tmp/in"
for idv in 0 1; do
	for who in "H1 $H1 $K256 AES_128" "H2 $H2 $K384 AES_256"; do
		set -- $who
		A=(--hostnqn "$2" --tls --tls-key "$3" --tls-identity $idv --nr-io-queues 2)
		[ "$1" = H2 ] && A+=(--dhchap-secret "$DH")
		URI=tcp://127.0.0.1:$REQ/$NQN
		$T "$NVMF" write "$URI" --nsid 1 --lba $((idv * 4096)) -i "$tmp/in" "${A[@]}" 2>"$tmp/err" &&
			$T "$NVMF" read "$URI" --nsid 1 --lba $((idv * 4096)) --count 2048 -o "$tmp/out" "${A[@]}" 2>>"$tmp/err" &&
			cmp -s "$tmp/in" "$tmp/out" && ok "TLS_$4 identity NVMe${idv}R0x ($1$([ "$1" = H2 ] && echo ', with DH-HMAC-CHAP')): 1 MiB verified" ||
			bad "TLS $1 identity $idv: $(cat "$tmp/err")"
	done
done
# A host deriving its PSKs with TP 8011's HkdfLabel: the identity's digest tells nvmfd which derivation.
out=$($T "$NVMF" identify "tcp://127.0.0.1:$REQ/$NQN" --hostnqn $H1 --tls-key "$K256" --tls-identity 1 --tls-kdf tp8011 2>&1) &&
	ok "identity 1 with TP 8011 derivation recognised by its digest" || bad "tp8011 identity 1: $out"
out=$($T "$NVMF" perf "tcp://127.0.0.1:$REQ/$NQN" --hostnqn $H1 --tls-key "$K256" -q 16 -o 4096 -w randrw -n 4000 --verify 2>&1) &&
	grep -q "miscompares 0" <<<"$out" && ok "perf --verify over TLS" || bad "perf over TLS: $out"

# The port that allows both.
out=$($T "$NVMF" identify "tcp://127.0.0.1:$ALLOW/$NQN" --hostnqn $H1 --tls-key "$K256" 2>&1) && ok "allowed port: TLS" || bad "allowed TLS: $out"
out=$($T "$NVMF" identify "tcp://127.0.0.1:$ALLOW/$NQN" --hostnqn $H3 2>&1) && ok "allowed port: plain TCP" || bad "allowed plain: $out"

# Refusals on the port that requires TLS.
out=$($T "$NVMF" identify "tcp://127.0.0.1:$REQ/$NQN" --hostnqn $H1 2>&1) && bad "plaintext accepted on the TLS-only port" ||
	ok "plaintext ICReq on the TLS-only port refused"
out=$($T "$NVMF" identify "tcp://127.0.0.1:$REQ/$NQN" --hostnqn $H3 --tls-key "$K256" 2>&1) && bad "unknown identity accepted" ||
	ok "unknown TLS PSK identity refused"
out=$($T "$NVMF" identify "tcp://127.0.0.1:$REQ/$NQN" --hostnqn $H1 --tls-key "$KOTHER" --tls-identity 0 2>&1) && bad "wrong PSK accepted" ||
	ok "wrong PSK (identity 0) refused"
out=$($T "$NVMF" identify "tcp://127.0.0.1:$REQ/$NQN" --hostnqn $H1 --tls-key "$KOTHER" --tls-identity 1 2>&1) && bad "wrong PSK digest accepted" ||
	ok "wrong PSK (identity 1, digest mismatch) refused"
out=$($T "$NVMF" identify "tcp://127.0.0.1:$REQ/$NQN" --hostnqn $H2 --tls-key "$K384" 2>&1) && bad "TLS without the DH-HMAC-CHAP secret accepted" ||
	ok "TLS does not replace DH-HMAC-CHAP where the host has a key"
# A handshake that stalls after the record header: the connection is closed (and nothing else is harmed).
python3 - "$REQ" <<'PY' && ok "stalled TLS handshake closed by the target" || bad "stalled handshake still open"
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"\x16\x03\x01\x02\x00")  # a ClientHello record header, then nothing
s.settimeout(60)
sys.exit(0 if s.recv(1) == b"" else 1)
PY
out=$($T "$NVMF" identify "tcp://127.0.0.1:$REQ/$NQN" --hostnqn $H1 --tls-key "$K256" 2>&1) && ok "other hosts unharmed" || bad "after refusals: $out"
refusals_logged() {
	grep -q "refused connection from 127.0.0.1 on port 1: plaintext NVMe/TCP on a port that requires TLS" "$tmp/nvmfd.log" &&
		grep -q "TLS PSK identity 'NVMe0R01 $H3 $NQN').*unknown TLS PSK identity" "$tmp/nvmfd.log" &&
		grep -q "TLS PSK identity 'NVMe1R01 $H1 $NQN .*digest does not match" "$tmp/nvmfd.log"
}
# The target logs a refusal as it closes the queue, which may come after the host gave up: wait a little.
for _ in $(seq 100); do refusals_logged && break; sleep 0.05; done
refusals_logged && ok "refusals logged with the peer and the identity (host NQN)" || { bad "refusal log"; cat "$tmp/nvmfd.log"; }

# Keys at run time: a TLS-only listener and a host PSK over JSON-RPC.
RPC() { $T "$NVMF" rpc "$1" -s "$tmp/rpc.sock" --params "$2"; }
RPC nvmf_subsystem_add_host "{\"nqn\":\"$NQN\",\"host\":\"$H3\",\"psk\":\"$KOTHER\"}" >/dev/null &&
	ok "nvmf_subsystem_add_host with psk" || bad "add_host psk"
out=$($T "$NVMF" identify "tcp://127.0.0.1:$REQ/$NQN" --hostnqn $H3 --tls-key "$KOTHER" 2>&1) && ok "RPC-given PSK works" || bad "rpc psk: $out"
nport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
RPC nvmf_subsystem_add_listener "{\"nqn\":\"$NQN\",\"listen_address\":{\"trtype\":\"tcp\",\"adrfam\":\"ipv4\",\"traddr\":\"127.0.0.1\",\"trsvcid\":\"$nport\"},\"secure_channel\":true}" >/dev/null &&
	$T "$NVMF" identify "tcp://127.0.0.1:$nport/$NQN" --hostnqn $H1 --tls-key "$K256" >/dev/null 2>&1 &&
	! $T "$NVMF" identify "tcp://127.0.0.1:$nport/$NQN" --hostnqn $H1 >/dev/null 2>&1 &&
	ok "nvmf_subsystem_add_listener secure_channel: a TLS-only listener" || bad "RPC secure_channel listener"
out=$(RPC nvmf_subsystem_add_host "{\"nqn\":\"$NQN\",\"host\":\"$H3\",\"psk\":\"NVMeTLSkey-1:01:Zm9vYmFy:\"}" 2>&1) &&
	bad "bad PSK accepted" || { ! grep -q Zm9vYmFy <<<"$out" && ok "bad PSK refused over RPC, not echoed" || bad "rpc bad psk: $out"; }
stop

# An nvmetcli-layout config: tsas/treq on the port, tls_key on the host.
cat >"$tmp/cfg.json" <<JSON
{"hosts": [{"nqn": "$H1", "tls_key": "$K256"}],
 "ports": [{"portid": 1, "addr": {"trtype": "tcp", "adrfam": "ipv4", "traddr": "127.0.0.1", "trsvcid": "0",
            "tsas": "tls1.3", "treq": "required"}, "subsystems": ["$NQN"]}],
 "subsystems": [{"nqn": "$NQN", "allowed_hosts": ["$H1"], "attr": {"allow_any_host": "0"},
                 "namespaces": [{"nsid": 1, "enable": 1, "device": {"path": "ram:16M"}}]}]}
JSON
start --config "$tmp/cfg.json"
out=$($T "$NVMF" identify "tcp://127.0.0.1:${ports[0]}/$NQN" --hostnqn $H1 --tls-key "$K256" 2>&1) && ok "config: TLS port and host PSK" || bad "config: $out"
out=$($T "$NVMF" identify "tcp://127.0.0.1:${ports[0]}/$NQN" --hostnqn $H1 2>&1) && bad "config: plaintext accepted" || ok "config: treq required holds"
stop

leak=0
for k in "$K256" "$K384" "$KOTHER" "$DH"; do
	grep -qF -- "${k:16:30}" "$tmp/all.log" && leak=1
done
[ $leak = 0 ] && ok "no key in the logs" || bad "a key in the logs"
echo "$fails failed"
[ $fails = 0 ]
