#!/usr/bin/env bash
# DH-HMAC-CHAP between the Linux 6.12 kernel host (bookworm-backports,
# fetched by fetch-backports-kernel.sh; nvme-cli 2.3) and nvmfd, one boot:
# unidirectional and bidirectional, hmac(sha256)/hmac(sha384)/hmac(sha512)
# with the null group, ffdhe2048 and ffdhe3072 (each subsystem allows one
# hash and one group, so passing proves that pair), fio verify on each
# authenticated connection, and a wrong secret refused.  Here: nvmfd logged
# the refusal once with the host NQN and never a secret.
# Usage: test-kernel-host-nvmfd-auth.sh WORKDIR NVMFD
set -uo pipefail
here=$(dirname "${BASH_SOURCE[0]}")
workdir=${1:?usage: test-kernel-host-nvmfd-auth.sh WORKDIR NVMFD}
nvmfd=${2:?usage: test-kernel-host-nvmfd-auth.sh WORKDIR NVMFD}
[ -x "$nvmfd" ] || { echo "FAIL: no $nvmfd"; exit 1; }
if ! kv=$("$here/fetch-backports-kernel.sh" "$workdir/../kernel-6.12"); then
	echo "SKIP: cannot fetch the bookworm-backports kernel"
	exit 77
fi
read -r NVMF_INTEROP_KERNEL NVMF_INTEROP_MODROOT <<<"$kv"
export NVMF_INTEROP_KERNEL NVMF_INTEROP_MODROOT
# shellcheck source=host.sh
. "$here/host.sh"
# shellcheck source=nvmfd-lib.sh
. "$here/nvmfd-lib.sh"
interop_init "$workdir-6.12"
logs=$NVMF_INTEROP_DIR/logs
H=$INTEROP_HOSTNQN
# Secrets as nvme gen-dhchap-key writes them (hash 01: transformed with the host NQN at use).
KH='DHHC-1:01:bHuByyp0b3RFSx1xQPMVO1HKmUWfzveoahfydpW4fNgSLMVm:'
KC='DHHC-1:00:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vcSEgBQ==:'
KX='DHHC-1:00:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh+KfiaR:'
p=nqn.2014-08.io.nvmf:auth
nlog=$logs/nvmfd-auth.log
nvmfd_start "$nlog" "$nvmfd" \
	--subsystem $p-sha256-null --namespace ram:32M --allow-host "$H" --dhchap-key "$KH" \
	--dhchap-hash 'hmac(sha256)' --dhchap-dhgroup null \
	--subsystem $p-sha384-2048 --namespace ram:32M --allow-host "$H" --dhchap-key "$KH" --dhchap-ctrl-key "$KC" \
	--dhchap-hash 'hmac(sha384)' --dhchap-dhgroup ffdhe2048 \
	--subsystem $p-sha512-3072 --namespace ram:32M --allow-host "$H" --dhchap-key "$KH" --dhchap-ctrl-key "$KC" \
	--dhchap-hash 'hmac(sha512)' --dhchap-dhgroup ffdhe3072 \
	--subsystem $p-sha256-2048-uni --namespace ram:32M --allow-host "$H" --dhchap-key "$KH" \
	--dhchap-hash 'hmac(sha256)' --dhchap-dhgroup ffdhe2048 || exit 1
cases="sha256-null-uni $p-sha256-null $KH - ok"
cases+=";sha384-ffdhe2048-bi $p-sha384-2048 $KH $KC ok"
cases+=";sha512-ffdhe3072-bi $p-sha512-3072 $KH $KC ok"
cases+=";sha256-ffdhe2048-uni $p-sha256-2048-uni $KH - ok"
cases+=";wrong-secret $p-sha256-2048-uni $KX - refused"
glog=$logs/host-auth.log
interop_run "$INTEROP_JOBS/host-auth.sh" -l "$glog" -t 280 -e NVMF_TRSVCID="$NVMFD_PORT" \
	-e "NVMF_AUTH_CASES=$cases"
rc=$?
tr -d '\r' <"$glog"
nvmfd_stop
echo "---- nvmfd ----"
cat "$nlog"
fail=0
[ $rc -eq 0 ] || fail=1
for c in sha256-null-uni sha384-ffdhe2048-bi sha512-ffdhe3072-bi sha256-ffdhe2048-uni; do
	interop_log_has "$glog" "^NVMF-AUTH-OK $c\$" "kernel host authenticated ($c) and fio verify passed" || fail=1
done
interop_log_has "$glog" "^NVMF-AUTH-REFUSED wrong-secret\$" "kernel host with a wrong secret refused" || fail=1
interop_log_has "$nlog" "authentication failed: host '$H'.*AUTH_Failure1: authentication failed" \
	"nvmfd logged the refusal with the host NQN" || fail=1
for k in "$KH" "$KC" "$KX"; do
	if grep -qF -- "${k:10:40}" "$nlog"; then
		ilog "FAIL: a secret in nvmfd's log"
		fail=1
	fi
done
exit $fail
