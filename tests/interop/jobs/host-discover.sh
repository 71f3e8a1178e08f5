# Guest job: the kernel host discovers (and optionally connects to) a target
# on this machine.  Variables: NVMF_TRSVCID (port), NVMF_NQN (connect to it
# when set), NVMF_CONNECT_OPTS (e.g. "-g -G"), NVMF_EXPECT_FAIL=1 (a failure
# of discover/connect is the expected outcome: exit 0 either way).
. /lib.sh
rc=0
if [ -n "${NVMF_NQN:-}" ]; then
	# shellcheck disable=SC2086
	host_connect "$NVMF_NQN" ${NVMF_CONNECT_OPTS:-} || rc=$?
else
	host_discover || rc=$?
fi
echo "NVMF-HOST-RC=$rc"
dmesg | grep -E 'nvme|nvmet' | tail -n 20
if [ "${NVMF_EXPECT_FAIL:-0}" = 1 ]; then
	exit 0
fi
exit $rc
