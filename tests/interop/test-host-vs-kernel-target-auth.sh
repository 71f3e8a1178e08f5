#!/usr/bin/env bash
# Our host (the nvmf command) authenticating to the Linux 6.12 kernel target
# (nvmet with dhchap_key; bookworm-backports kernel from
# fetch-backports-kernel.sh): unidirectional with hmac(sha256) and the null
# group, bidirectional with hmac(sha384) and ffdhe2048, then hmac(sha512)
# with ffdhe3072, each with verified I/O; a wrong secret and no secret
# refused.  One boot; the keys change over the control channel.
# Usage: test-host-vs-kernel-target-auth.sh WORKDIR NVMF
set -uo pipefail
here=$(dirname "${BASH_SOURCE[0]}")
workdir=${1:?usage: test-host-vs-kernel-target-auth.sh WORKDIR NVMF}
NVMF=${2:?usage: test-host-vs-kernel-target-auth.sh WORKDIR NVMF}
if ! kv=$("$here/fetch-backports-kernel.sh" "$workdir/../kernel-6.12"); then
	echo "SKIP: cannot fetch the bookworm-backports kernel"
	exit 77
fi
read -r NVMF_INTEROP_KERNEL NVMF_INTEROP_MODROOT <<<"$kv"
export NVMF_INTEROP_KERNEL NVMF_INTEROP_MODROOT
# shellcheck source=host.sh
. "$here/host.sh"
interop_init "$workdir-6.12"
nqn=nqn.2014-08.io.nvmf:kernel-target-auth
H=nqn.2014-08.org.nvmexpress:uuid:6e766d66-6175-7468-2d68-6f7374000001
KH='DHHC-1:01:bHuByyp0b3RFSx1xQPMVO1HKmUWfzveoahfydpW4fNgSLMVm:'
KC='DHHC-1:00:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vcSEgBQ==:'
KX='DHHC-1:00:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh+KfiaR:'
port=$(interop_free_port)
ctl=$(interop_free_port)
while [ "$ctl" = "$port" ]; do ctl=$(interop_free_port); done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"; interop_cleanup' EXIT
interop_start "$INTEROP_JOBS/kernel-target-auth.sh" -t 280 --fwd "$port:4420" --fwd "$ctl:5555" \
	-e NVMF_NQN=$nqn -e NVMF_HOST=$H -e "NVMF_DHCHAP_KEY=$KH" -e 'NVMF_DHCHAP_HASH=hmac(sha256)' \
	-e NVMF_DHCHAP_DHGROUP=null -e NVMF_TARGET_SECONDS=240
fails=0
ok() { ilog "ok - $*"; }
bad() {
	ilog "FAIL - $*"
	fails=$((fails + 1))
}
if ! interop_wait_log 'NVMF-CTL-READY' 120; then
	tr -d '\r' <"$INTEROP_BG_LOG" | tail -40
	exit 1
fi
URI=tcp://127.0.0.1:$port/$nqn
T="timeout 120"
A=(--hostnqn $H --dhchap-secret "$KH")
head -c 1048576 /dev/urandom >"$tmp/in"

out=$($T "$NVMF" identify "$URI" "${A[@]}" 2>&1) && grep -q "^mn        : Linux" <<<"$out" &&
	ok "unidirectional hmac(sha256) null: identify" || bad "unidirectional: $out"
$T "$NVMF" write "$URI" --nsid 1 --lba 0 -i "$tmp/in" "${A[@]}" &&
	$T "$NVMF" read "$URI" --nsid 1 --lba 0 --count 2048 -o "$tmp/out" "${A[@]}" && cmp -s "$tmp/in" "$tmp/out" &&
	ok "unidirectional: 1 MiB written and read back" || bad "unidirectional I/O"

# (interop_ctl repeats a command until it prints something)
cfg() { interop_ctl "$ctl" sh "h=/sys/kernel/config/nvmet/hosts/$H; $*; echo configured" | grep -q configured; }
cfg "printf '%s' '$KC' >\$h/dhchap_ctrl_key; echo 'hmac(sha384)' >\$h/dhchap_hash; echo ffdhe2048 >\$h/dhchap_dhgroup" ||
	bad "reconfigure the target"
out=$($T "$NVMF" perf "$URI" "${A[@]}" --dhchap-ctrl-secret "$KC" --nr-io-queues 2 -q 16 -o 4096 -w randrw -n 2000 --verify 2>&1) &&
	grep -q "miscompares 0" <<<"$out" && ok "bidirectional hmac(sha384) ffdhe2048: perf --verify on 2 queues" ||
	bad "bidirectional sha384/2048: $out"
cfg "echo 'hmac(sha512)' >\$h/dhchap_hash; echo ffdhe3072 >\$h/dhchap_dhgroup" || bad "reconfigure the target"
head -c 1048576 /dev/urandom >"$tmp/in2"
$T "$NVMF" write "$URI" --nsid 1 --lba 0 -i "$tmp/in2" "${A[@]}" --dhchap-ctrl-secret "$KC" &&
	$T "$NVMF" read "$URI" --nsid 1 --lba 0 --count 2048 -o "$tmp/out2" "${A[@]}" --dhchap-ctrl-secret "$KC" &&
	cmp -s "$tmp/in2" "$tmp/out2" && ok "bidirectional hmac(sha512) ffdhe3072: 1 MiB written and read back" || bad "sha512/3072"

out=$($T "$NVMF" identify "$URI" --hostnqn $H --dhchap-secret "$KX" 2>&1) && bad "wrong secret accepted" ||
	{ grep -q "authentication" <<<"$out" && ok "wrong secret refused: $out" || bad "wrong secret: $out"; }
out=$($T "$NVMF" identify "$URI" --hostnqn $H --dhchap-secret "$KH" --dhchap-ctrl-secret "$KX" 2>&1) &&
	bad "wrong controller secret accepted" ||
	{ grep -q "controller failed to authenticate" <<<"$out" && ok "controller with another secret refused by our host: $out" || bad "ctrl secret: $out"; }
out=$($T "$NVMF" identify "$URI" --hostnqn $H 2>&1) && bad "no secret accepted" || ok "no secret refused: $out"

interop_ctl "$ctl" release >/dev/null
interop_finish 60 || true
tr -d '\r' <"$INTEROP_BG_LOG" | grep -E "NVMF-AUTH-TARGET|dhchap|auth" | tail -20
exit $((fails > 0))
