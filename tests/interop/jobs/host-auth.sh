# Guest job: the kernel host's DH-HMAC-CHAP against a target at 10.0.2.2.
# NVMF_AUTH_CASES is "NAME NQN SECRET CTRL_SECRET EXPECT" lines (CTRL_SECRET
# "-" for none; EXPECT ok or refused).  ok: connect, fio verify on the
# authenticated namespace, disconnect; refused: the connect must fail and
# leave no controller.  Prints NVMF-AUTH-OK NAME / NVMF-AUTH-REFUSED NAME.
. /lib.sh
[ -n "${NVMF_AUTH_CASES:-}" ] || { fail "NVMF_AUTH_CASES not set"; exit 2; }
status=0
echo "$NVMF_AUTH_CASES" | tr ';' '\n' >/tmp/cases
while read -r name nqn secret ctrl expect; do
	[ -n "$name" ] || continue
	log "case $name: $nqn expect $expect"
	set -- --dhchap-secret="$secret"
	[ "$ctrl" = - ] || set -- "$@" --dhchap-ctrl-secret="$ctrl"
	if [ "$expect" = ok ]; then
		host_connect "$nqn" -i 1 -k 5 "$@" || { fail "$name: connect"; status=1; continue; }
		dev=$(host_wait_ns "$nqn" 20 1) || { status=1; continue; }
		# Fixed, aligned blocks: random writes overwrite whole blocks, so verify holds without a random map.
		host_fio "$dev" "${NVMF_FIO_SIZE:-8M}" 4k-4k 16 --blockalign=4k --rw=randwrite || status=1
		host_disconnect "$nqn" || status=1
		echo "NVMF-AUTH-OK $name"
	else
		if modprobe nvme_tcp && nvme connect -t tcp -a "$NVMF_TRADDR" -s "$NVMF_TRSVCID" -n "$nqn" -i 1 "$@" \
			--ctrl-loss-tmo=0 2>/tmp/err; then
			fail "$name: connect with the wrong secret succeeded"
			host_disconnect "$nqn"
			status=1
			continue
		fi
		sleep 1
		if host_ctrl "$nqn" >/dev/null; then
			fail "$name: a controller is left after the refused connect"
			status=1
			continue
		fi
		dmesg | grep -i "auth\|authentication" | tail -n 3
		echo "NVMF-AUTH-REFUSED $name"
	fi
done </tmp/cases
exit $status
