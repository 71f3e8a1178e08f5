# Guest job: the kernel target (nvmet) serving NVMF_NQN on port 4420 over
# TLS 1.3 only (addr_tsas tls1.3, addr_treq required), with tlshd and
# nvme-cli 2.13 from /trixie.tar (chroot).  NVMF_TLS_KEY (interchange
# format) goes into the .nvme keyring for NVMF_HOST with both identity
# versions.  Stays up until "release" or NVMF_TARGET_SECONDS, like kernel-target.sh.
. /lib.sh
nqn=${NVMF_NQN:?}
host=${NVMF_HOST:?}
R=/trixie
mkdir -p $R && tar -xf /trixie.tar -C $R || { fail "unpack trixie tools"; exit 1; }
for d in proc sys dev; do mkdir -p $R/$d && mount --bind /$d $R/$d; done
mkdir -p $R/tmp
printf '[debug]\nloglevel=1\ntls=1\nnl=1\n[authenticate]\nkeyrings=.nvme\n' >$R/etc/tlshd.conf
for m in tls nvme_keyring nvmet nvmet_tcp; do modprobe $m || log "modprobe $m failed"; done
chroot $R /usr/sbin/tlshd -s >/tmp/tlshd.log 2>&1 &
for v in 0 1; do
	run chroot $R nvme check-tls-key --keydata="$NVMF_TLS_KEY" --hostnqn="$host" --subsysnqn="$nqn" --identity=$v \
		--insert || { fail "check-tls-key --insert"; exit 1; }
done
target_setup "$nqn" "${NVMF_BACKING:-brd:64}" 4420 || exit 1
p=$NVMF_CONFIGFS/ports/1
rm "$p/subsystems/$nqn"
echo tls1.3 >"$p/addr_tsas" || { fail "addr_tsas"; exit 1; }
echo required >"$p/addr_treq" || { fail "addr_treq"; exit 1; }
ln -s "$NVMF_CONFIGFS/subsystems/$nqn" "$p/subsystems/$nqn" || exit 1
echo "NVMF-TLS-TARGET tsas=$(cat "$p/addr_tsas") treq=$(cat "$p/addr_treq")"
target_wait "${NVMF_TARGET_SECONDS:-60}" || exit 1
tail -n 30 /tmp/tlshd.log
dmesg | grep -i "nvmet.*tls\|tls" | tail -n 10
target_report "$nqn"
exit 0
