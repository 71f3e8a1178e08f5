# Guest job: connect to NVMF_NQN (NVMF_CONNECT_OPTS, e.g. "-i 1 -k 5"), read
# from the namespace, print "NVMF-HOLD-READY ctrl=.. cntlid=.. kato=.." and
# hold the association for NVMF_HOLD_SECONDS (default 60) without I/O: the
# test stops or kills this guest meanwhile (keep-alive expiry on the target).
. /lib.sh
[ -n "${NVMF_NQN:-}" ] || { fail "NVMF_NQN not set"; exit 2; }
# shellcheck disable=SC2086
host_connect "$NVMF_NQN" ${NVMF_CONNECT_OPTS:-} || exit 1
dev=$(host_wait_ns "$NVMF_NQN") || exit 1
ctrl=$(host_ctrl "$NVMF_NQN") || exit 1
run dd if="$dev" of=/dev/null bs=64k count=16 iflag=direct || exit 1
echo "NVMF-HOLD-READY ctrl=$ctrl cntlid=$(cat "/sys/class/nvme/$ctrl/cntlid") kato=$(cat "/sys/class/nvme/$ctrl/kato" 2>/dev/null)"
sleep "${NVMF_HOLD_SECONDS:-60}"
echo "NVMF-HOLD-END state=$(cat "/sys/class/nvme/$ctrl/state" 2>/dev/null)"
