#!/usr/bin/env bash
# NVMe/TCP TLS 1.3 between the Linux 6.12 kernel host (bookworm-backports;
# tlshd and nvme-cli 2.13 from trixie, fetched by fetch-trixie-tls-tools.sh
# and run in the guest by chroot) and nvmfd on a port that requires TLS:
# a PSK made by nvme-cli's gen-tls-key (inserted in the guest's keyring with
# check-tls-key --insert) with identity versions 0 and 1, fio verify over each, and a
# wrong PSK refused.  Usage: test-kernel-host-nvmfd-tls.sh WORKDIR NVMFD
set -uo pipefail
here=$(dirname "${BASH_SOURCE[0]}")
workdir=${1:?usage: test-kernel-host-nvmfd-tls.sh WORKDIR NVMFD}
nvmfd=${2:?usage: test-kernel-host-nvmfd-tls.sh WORKDIR NVMFD}
[ -x "$nvmfd" ] || { echo "FAIL: no $nvmfd"; exit 1; }
kv=$("$here/fetch-backports-kernel.sh" "$workdir/../kernel-6.12") || { echo "SKIP: no bookworm-backports kernel"; exit 77; }
troot=$("$here/fetch-trixie-tls-tools.sh" "$workdir/../trixie-tls") || { echo "SKIP: no trixie TLS tools"; exit 77; }
read -r NVMF_INTEROP_KERNEL NVMF_INTEROP_MODROOT <<<"$kv"
export NVMF_INTEROP_KERNEL NVMF_INTEROP_MODROOT
# shellcheck source=host.sh
. "$here/host.sh"
# shellcheck source=nvmfd-lib.sh
. "$here/nvmfd-lib.sh"
interop_init "$workdir-6.12"
logs=$NVMF_INTEROP_DIR/logs
tarball=$NVMF_INTEROP_DIR/trixie-tls.tar
[ -s "$tarball" ] || tar -C "$troot" --exclude=./usr/share/doc --exclude=./usr/share/man --exclude=./usr/share/locale \
	--exclude=./usr/share/info -cf "$tarball" . || { echo "FAIL: tar"; exit 1; }
H=$INTEROP_HOSTNQN
# The PSK is made afresh by nvme-cli's own gen-tls-key (the trixie nvme-cli, run here by chroot).
K=$(chroot "$troot" /usr/sbin/nvme gen-tls-key --hmac=1 2>/dev/null | tail -n 1)
[[ $K =~ ^NVMeTLSkey-1:01:[A-Za-z0-9+/]{48}:$ ]] || { echo "FAIL: nvme gen-tls-key gave '$K'"; exit 1; }
echo "PSK from nvme gen-tls-key: $K"
KX='NVMeTLSkey-1:01:OhCLsu3Vv9w4mn2UEwpP99korKGcMBhFMspQZyxdoew9656j:'
nqn=nqn.2014-08.io.nvmf:tls
nlog=$logs/nvmfd-tls.log
nvmfd_start "$nlog" "$nvmfd" --tls required --subsystem $nqn --namespace ram:32M --allow-host "$H" --tls-key "$K" || exit 1
cases="identity0 $nqn $K 0 ok;identity1 $nqn $K 1 ok;wrong-psk $nqn $KX 0 refused"
glog=$logs/host-tls.log
interop_run "$INTEROP_JOBS/host-tls.sh" -l "$glog" -t 280 --mem 2048 --add "$tarball:/trixie.tar" \
	-e NVMF_TRSVCID="$NVMFD_PORT" -e "NVMF_TLS_CASES=$cases"
rc=$?
tr -d '\r' <"$glog"
nvmfd_stop
echo "---- nvmfd ----"
cat "$nlog"
fail=0
[ $rc -eq 0 ] || fail=1
interop_log_has "$glog" "^NVMF-TLS-OK identity0\$" "kernel host over TLS with identity NVMe0R01, fio verify" || fail=1
interop_log_has "$glog" "^NVMF-TLS-OK identity1\$" "kernel host over TLS with identity NVMe1R01 (digest), fio verify" || fail=1
interop_log_has "$glog" "^NVMF-TLS-REFUSED wrong-psk\$" "a wrong PSK refused" || fail=1
exit $fail
