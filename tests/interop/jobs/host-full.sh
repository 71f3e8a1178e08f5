# Guest job: the whole kernel-host sequence against a target on this machine:
# discover, connect (NVMF_CONNECT_OPTS: -i QUEUES, -g -G digests, -k KATO),
# wait for the namespace, id-ctrl / id-ns / list / smart-log, fio randrw with
# crc32c verify (NVMF_FIO_SIZE, default 32M; bsrange LBA..1M, iodepth 32),
# mkfs.ext4 + files + sync + umount + disconnect + reconnect + checksums.
# Variables: NVMF_TRSVCID, NVMF_NQN (required), NVMF_CONNECT_OPTS (several
# option sets separated by "|" run the sequence once each), NVMF_FIO_SIZE.
. /lib.sh
[ -n "${NVMF_NQN:-}" ] || { fail "NVMF_NQN not set"; exit 2; }
IFS='|'
# shellcheck disable=SC2086
set -- ${NVMF_CONNECT_OPTS:-}
unset IFS
[ $# -gt 0 ] || set -- ""
for opts in "$@"; do
	log "==== connect options: ${opts:-(none)}"
	# shellcheck disable=SC2086
	host_full_check "$NVMF_NQN" $opts || exit 1
	echo "NVMF-HOST-FULL-OK opts=$opts"
done
