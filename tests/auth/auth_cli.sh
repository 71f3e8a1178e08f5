#!/usr/bin/env bash
# DH-HMAC-CHAP end to end: the nvmf command against nvmfd on 127.0.0.1,
# keys from flags, from an nvmetcli-layout config and from JSON-RPC at run
# time; unidirectional and bidirectional, several hashes and DH groups,
# verified I/O on authenticated queues, refusals, and no secret in any log.
# usage: auth_cli.sh NVMF NVMFD
set -uo pipefail
NVMF=$1
NVMFD=$2
NQN=nqn.2024-01.io.nvmf:authcli
NQN2=nqn.2024-01.io.nvmf:authcli-rpc
H1=nqn.2014-08.org.nvmexpress:uuid:11111111-2222-4333-8444-555555555555
H2=nqn.2014-08.org.nvmexpress:uuid:66666666-7777-4888-9999-000000000000
# nvme gen-dhchap-key output (nvme-cli 2.3): 32-byte SHA-256-transformed, 48-byte plain, 32-byte plain.
KH='DHHC-1:01:bHuByyp0b3RFSx1xQPMVO1HKmUWfzveoahfydpW4fNgSLMVm:'
KC='DHHC-1:00:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vcSEgBQ==:'
KX='DHHC-1:00:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh+KfiaR:'
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

start() { # nvmfd args...
	: >"$tmp/nvmfd.log" # truncated here, not by the background job: no stale "ready" is read
	"$NVMFD" --listen 127.0.0.1:0 --rpc-socket "$tmp/rpc.sock" "$@" >"$tmp/nvmfd.log" 2>&1 &
	pid=$!
	for _ in $(seq 600); do grep -q ready "$tmp/nvmfd.log" && break; sleep 0.05; done
	port=$(sed -n 's/.*listening on tcp 127.0.0.1:\([0-9]*\).*/\1/p' "$tmp/nvmfd.log" | head -1)
	[ -n "$port" ] || { cat "$tmp/nvmfd.log"; echo "nvmfd did not start"; exit 1; }
}
stop() {
	kill "$pid" && wait "$pid" 2>/dev/null
	pid=
	cat "$tmp/nvmfd.log" >>"$tmp/all.log"
}

# ---- keys from flags ----
start --subsystem $NQN --namespace ram:64M --allow-host $H1 --dhchap-key "$KH" --dhchap-ctrl-key "$KC" \
	--dhchap-hash 'hmac(sha256),hmac(sha384),hmac(sha512)' --dhchap-dhgroup null,ffdhe2048,ffdhe3072 \
	--allow-host $H2 --subsystem $NQN2 --namespace ram:16M --allow-host nqn.2024-01.io.nvmf:nobody
URI=tcp://127.0.0.1:$port/$NQN
URI2=tcp://127.0.0.1:$port/$NQN2

for combo in "hmac(sha256) null" "hmac(sha384) ffdhe2048" "hmac(sha512) ffdhe3072"; do
	set -- $combo
	for dir in uni bi; do
		extra=()
		[ $dir = bi ] && extra=(--dhchap-ctrl-secret "$KC")
		out=$($T "$NVMF" identify "$URI" --hostnqn $H1 --dhchap-secret "$KH" "${extra[@]}" --dhchap-hash "$1" \
			--dhchap-dhgroup "$2" 2>&1) && grep -q "NVME Identify Namespace 1" <<<"$out" &&
			ok "$1 $2 $dir" || bad "$1 $2 $dir: $out"
	done
done

# Verified I/O over two authenticated I/O queues, bidirectional.
head -c 1048576 /dev/urandom >"$tmp/in"
A=(--hostnqn $H1 --dhchap-secret "$KH" --dhchap-ctrl-secret "$KC" --nr-io-queues 2)
$T "$NVMF" write "$URI" --nsid 1 --lba 0 -i "$tmp/in" "${A[@]}" 2>"$tmp/err" &&
	$T "$NVMF" read "$URI" --nsid 1 --lba 0 --count 2048 -o "$tmp/out" "${A[@]}" 2>>"$tmp/err" &&
	cmp -s "$tmp/in" "$tmp/out" && ok "1 MiB written and read back identical on authenticated queues" ||
	bad "authenticated I/O: $(cat "$tmp/err")"
out=$($T "$NVMF" perf "$URI" "${A[@]}" -q 8 -o 4096 -w randrw -t 1 2>&1) && ok "perf on authenticated queues" ||
	bad "perf: $out"

# Refusals.
out=$($T "$NVMF" identify "$URI" --hostnqn $H1 --dhchap-secret "$KX" 2>&1) && bad "wrong secret accepted" ||
	{ grep -q "AUTH_Failure1, authentication failed" <<<"$out" && ok "wrong secret refused: AUTH_Failure1" || bad "wrong secret: $out"; }
out=$($T "$NVMF" identify "$URI" --hostnqn $H1 2>&1) && bad "no secret accepted" ||
	{ grep -q "requires authentication" <<<"$out" && ok "no secret: refused" || bad "no secret: $out"; }
out=$($T "$NVMF" identify "$URI" --hostnqn $H1 --dhchap-secret "$KH" --dhchap-ctrl-secret "$KX" 2>&1) &&
	bad "wrong controller secret accepted" ||
	{ grep -q "controller failed to authenticate" <<<"$out" && ok "controller with the wrong secret refused by the host" || bad "ctrl secret: $out"; }
out=$($T "$NVMF" identify "$URI" --hostnqn $H1 --dhchap-secret "$KH" --dhchap-dhgroup ffdhe8192 2>&1) && bad "ffdhe8192 accepted" ||
	{ grep -q "DH group not usable" <<<"$out" && ok "DH group the subsystem does not allow: refused" || bad "group: $out"; }
out=$($T "$NVMF" identify "$URI" --hostnqn $H1 --dhchap-secret bogus 2>&1) && bad "bogus secret accepted" ||
	{ grep -q "not a valid DHHC-1 secret" <<<"$out" && ! grep -q bogus <<<"$out" && ok "malformed secret refused, not echoed" || bad "bogus: $out"; }
# A host without keys on the same subsystem is unharmed.
out=$($T "$NVMF" identify "$URI" --hostnqn $H2 2>&1) && ok "host without keys connects" || bad "H2: $out"
# A host that wants the controller's proof refuses a controller that asks for none.
out=$($T "$NVMF" identify "$URI" --hostnqn $H2 --dhchap-secret "$KH" --dhchap-ctrl-secret "$KC" 2>&1) &&
	bad "bidirectional without controller keys accepted" || ok "bidirectional asked of a controller without keys for the host: refused"

# ---- keys at run time over JSON-RPC ----
RPC() { $T "$NVMF" rpc "$1" -s "$tmp/rpc.sock" --params "$2"; }
out=$($T "$NVMF" identify "$URI2" --hostnqn $H1 2>&1) && bad "host not yet allowed on $NQN2" || true
RPC nvmf_subsystem_add_host "{\"nqn\":\"$NQN2\",\"host\":\"$H1\",\"dhchap_key\":\"$KH\",\"dhchap_ctrlr_key\":\"$KC\"}" >/dev/null &&
	ok "nvmf_subsystem_add_host with dhchap_key and dhchap_ctrlr_key" || bad "add_host with keys"
out=$($T "$NVMF" identify "$URI2" --hostnqn $H1 2>&1) && bad "RPC host without secret accepted" || ok "RPC-added host must authenticate"
out=$($T "$NVMF" identify "$URI2" --hostnqn $H1 --dhchap-secret "$KH" --dhchap-ctrl-secret "$KC" 2>&1) &&
	ok "RPC-added host authenticates bidirectionally" || bad "RPC host: $out"
# Rotate: the same call with a new key.
RPC nvmf_subsystem_add_host "{\"nqn\":\"$NQN2\",\"host\":\"$H1\",\"dhchap_key\":\"$KX\"}" >/dev/null
out=$($T "$NVMF" identify "$URI2" --hostnqn $H1 --dhchap-secret "$KH" 2>&1) && bad "old key still accepted" ||
	ok "after rotation the old key is refused"
out=$($T "$NVMF" identify "$URI2" --hostnqn $H1 --dhchap-secret "$KX" 2>&1) && ok "after rotation the new key passes" || bad "rotated: $out"
out=$(RPC nvmf_subsystem_add_host "{\"nqn\":\"$NQN2\",\"host\":\"$H2\",\"dhchap_key\":\"DHHC-1:00:Zm9v:\"}" 2>&1) &&
	bad "bad key accepted over RPC" || { ! grep -q "Zm9v" <<<"$out" && ok "bad key refused over RPC, not echoed" || bad "rpc bad key: $out"; }
stop

# ---- keys from an nvmetcli-layout config ----
cat >"$tmp/cfg.json" <<JSON
{"hosts": [{"nqn": "$H1", "dhchap": {"key": "$KH", "ctrl_key": "$KC", "hash": "hmac(sha384)", "dhgroup": "ffdhe2048"}},
           {"nqn": "$H2"}],
 "ports": [{"portid": 1, "addr": {"trtype": "tcp", "adrfam": "ipv4", "traddr": "127.0.0.1", "trsvcid": "0"},
            "subsystems": ["$NQN"]}],
 "subsystems": [{"nqn": "$NQN", "allowed_hosts": ["$H1", "$H2"], "attr": {"allow_any_host": "0"},
                 "namespaces": [{"nsid": 1, "enable": 1, "device": {"path": "ram:16M"}}]}]}
JSON
start --config "$tmp/cfg.json"
URI=tcp://127.0.0.1:$port/$NQN
out=$($T "$NVMF" identify "$URI" --hostnqn $H1 --dhchap-secret "$KH" --dhchap-ctrl-secret "$KC" 2>&1) &&
	ok "config: host authenticates (hmac(sha384), ffdhe2048)" || bad "config: $out"
out=$($T "$NVMF" identify "$URI" --hostnqn $H1 --dhchap-secret "$KH" --dhchap-hash 'hmac(sha256)' 2>&1) &&
	bad "config: hash not allowed accepted" || ok "config: hmac(sha256) not allowed there"
out=$($T "$NVMF" identify "$URI" --hostnqn $H2 2>&1) && ok "config: host without dhchap connects" || bad "config H2: $out"
stop

# No secret (their base64 bodies) in any log, nor in what nvmf printed.
leak=0
for k in "$KH" "$KC" "$KX"; do
	body=${k:10:40}
	grep -qF -- "$body" "$tmp/all.log" && leak=1
done
[ $leak = 0 ] && grep -q "authentication failed: host '$H1'" "$tmp/all.log" &&
	ok "failures logged with the host NQN, no secret in the logs" || bad "log check"

echo "$fails failed"
[ $fails = 0 ]
