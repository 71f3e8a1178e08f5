#!/usr/bin/env bash
# Our host (the nvmf command) over NVMe/TCP TLS 1.3 to the Linux 6.12 kernel
# target (nvmet with addr_tsas tls1.3 / addr_treq required, tlshd and the
# PSK inserted by nvme-cli 2.13 from trixie): both identity forms, verified
# I/O; plaintext and a wrong PSK refused.  One boot.
# Usage: test-host-vs-kernel-target-tls.sh WORKDIR NVMF
set -uo pipefail
here=$(dirname "${BASH_SOURCE[0]}")
workdir=${1:?usage: test-host-vs-kernel-target-tls.sh WORKDIR NVMF}
NVMF=${2:?usage: test-host-vs-kernel-target-tls.sh WORKDIR NVMF}
kv=$("$here/fetch-backports-kernel.sh" "$workdir/../kernel-6.12") || { echo "SKIP: no bookworm-backports kernel"; exit 77; }
troot=$("$here/fetch-trixie-tls-tools.sh" "$workdir/../trixie-tls") || { echo "SKIP: no trixie TLS tools"; exit 77; }
read -r NVMF_INTEROP_KERNEL NVMF_INTEROP_MODROOT <<<"$kv"
export NVMF_INTEROP_KERNEL NVMF_INTEROP_MODROOT
# shellcheck source=host.sh
. "$here/host.sh"
interop_init "$workdir-6.12"
tarball=$NVMF_INTEROP_DIR/trixie-tls.tar
[ -s "$tarball" ] || tar -C "$troot" --exclude=./usr/share/doc --exclude=./usr/share/man --exclude=./usr/share/locale \
	--exclude=./usr/share/info -cf "$tarball" . || { echo "FAIL: tar"; exit 1; }
nqn=nqn.2014-08.io.nvmf:kernel-target-tls
H=nqn.2014-08.org.nvmexpress:uuid:6e766d66-746c-7368-6f73-740000000001
K='NVMeTLSkey-1:01:9PUN6xNVs5sxqi7b/ny7NnIABKpLJzgC+m/JlzVAP2h8rUv7:'
KX='NVMeTLSkey-1:01:OhCLsu3Vv9w4mn2UEwpP99korKGcMBhFMspQZyxdoew9656j:'
port=$(interop_free_port)
ctl=$(interop_free_port)
while [ "$ctl" = "$port" ]; do ctl=$(interop_free_port); done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"; interop_cleanup' EXIT
interop_start "$INTEROP_JOBS/kernel-target-tls.sh" -t 280 --mem 2048 --add "$tarball:/trixie.tar" \
	--fwd "$port:4420" --fwd "$ctl:5555" -e NVMF_NQN=$nqn -e NVMF_HOST=$H -e "NVMF_TLS_KEY=$K" -e NVMF_TARGET_SECONDS=240
fails=0
ok() { ilog "ok - $*"; }
bad() {
	ilog "FAIL - $*"
	fails=$((fails + 1))
}
if ! interop_wait_log 'NVMF-CTL-READY' 150; then
	tr -d '\r' <"$INTEROP_BG_LOG" | tail -40
	exit 1
fi
URI=tcp://127.0.0.1:$port/$nqn
T="timeout 120"
head -c 1048576 /dev/urandom >"$tmp/in"
for idv in 0 1; do
	A=(--hostnqn $H --tls --tls-key "$K" --tls-identity $idv)
	$T "$NVMF" write "$URI" --nsid 1 --lba $((idv * 2048)) -i "$tmp/in" "${A[@]}" 2>"$tmp/err" &&
		$T "$NVMF" read "$URI" --nsid 1 --lba $((idv * 2048)) --count 2048 -o "$tmp/out" "${A[@]}" 2>>"$tmp/err" &&
		cmp -s "$tmp/in" "$tmp/out" && ok "TLS identity NVMe${idv}R01: 1 MiB written and read back" ||
		bad "TLS identity $idv: $(cat "$tmp/err")"
done
out=$($T "$NVMF" perf "$URI" --hostnqn $H --tls-key "$K" --nr-io-queues 2 -q 16 -o 4096 -w randrw -n 2000 --verify 2>&1) &&
	grep -q "miscompares 0" <<<"$out" && ok "perf --verify over TLS on 2 queues" || bad "perf over TLS: $out"
out=$($T "$NVMF" identify "$URI" --hostnqn $H 2>&1) && bad "plaintext accepted by the TLS-only port" || ok "plaintext refused"
out=$($T "$NVMF" identify "$URI" --hostnqn $H --tls-key "$KX" 2>&1) && bad "wrong PSK accepted" || ok "wrong PSK refused"
interop_ctl "$ctl" release >/dev/null
interop_finish 60 || true
tr -d '\r' <"$INTEROP_BG_LOG" | grep -E "NVMF-TLS-TARGET|tlshd|TLS|tls" | tail -20
exit $((fails > 0))
