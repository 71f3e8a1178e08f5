# Guest job: the kernel host over NVMe/TCP TLS 1.3 against a target at
# 10.0.2.2, with tlshd and nvme-cli 2.13 from /trixie.tar (run by chroot).
# NVMF_TLS_CASES: "NAME NQN KEY IDENTITY EXPECT" lines (';' between them):
# the configured PSK (interchange format) goes into the .nvme keyring with
# `nvme check-tls-key --insert` for that identity version (0 or 1); EXPECT ok:
# `nvme connect --tls`, fio verify, disconnect; refused: the connect fails.
# Prints NVMF-TLS-OK NAME / NVMF-TLS-REFUSED NAME.
. /lib.sh
[ -n "${NVMF_TLS_CASES:-}" ] || { fail "NVMF_TLS_CASES not set"; exit 2; }
R=/trixie
mkdir -p $R && tar -xf /trixie.tar -C $R || { fail "unpack trixie tools"; exit 1; }
for d in proc sys dev; do mkdir -p $R/$d && mount --bind /$d $R/$d; done
mkdir -p $R/etc/nvme $R/tmp && cp /etc/nvme/hostnqn /etc/nvme/hostid $R/etc/nvme/
printf '[debug]\nloglevel=1\ntls=1\nnl=1\n[authenticate]\nkeyrings=.nvme\n' >$R/etc/tlshd.conf
for m in tls nvme_keyring nvme_tcp; do modprobe $m || log "modprobe $m failed"; done
chroot $R /usr/sbin/tlshd -s >/tmp/tlshd.log 2>&1 &
tlshd=$!
usleep 500000
kill -0 $tlshd || { cat /tmp/tlshd.log; fail "tlshd did not start"; exit 1; }
T() { chroot $R "$@"; }
status=0
echo "$NVMF_TLS_CASES" | tr ';' '\n' >/tmp/cases
while read -r name nqn key idv expect; do
	[ -n "$name" ] || continue
	log "case $name: $nqn identity $idv expect $expect"
	# One key in the keyring at a time.
	for k in $(T keyctl rlist %:.nvme 2>/dev/null); do T keyctl unlink "$k" %:.nvme >/dev/null 2>&1; done
	run chroot $R nvme check-tls-key --keydata="$key" --hostnqn="$(hostnqn)" --subsysnqn="$nqn" \
		--identity="$idv" --insert || { fail "$name: check-tls-key --insert"; status=1; continue; }
	T keyctl show %:.nvme 2>&1 | tail -n 2
	if [ "$expect" = ok ]; then
		run chroot $R nvme connect -t tcp -a "$NVMF_TRADDR" -s "$NVMF_TRSVCID" -n "$nqn" -i 1 --tls ||
			{ fail "$name: connect --tls"; status=1; continue; }
		dev=$(host_wait_ns "$nqn" 20 1) || { status=1; continue; }
		host_fio "$dev" "${NVMF_FIO_SIZE:-8M}" 4k-4k 16 --blockalign=4k --rw=randwrite || status=1
		host_disconnect "$nqn" || status=1
		echo "NVMF-TLS-OK $name"
	else
		if chroot $R nvme connect -t tcp -a "$NVMF_TRADDR" -s "$NVMF_TRSVCID" -n "$nqn" -i 1 --tls \
			--ctrl-loss-tmo=0 2>/tmp/err; then
			fail "$name: connect succeeded"
			host_disconnect "$nqn"
			status=1
			continue
		fi
		echo "NVMF-TLS-REFUSED $name"
	fi
done </tmp/cases
kill $tlshd 2>/dev/null
tail -n 20 /tmp/tlshd.log
dmesg | grep -i "tls\|nvme" | tail -n 10
exit $status
