# Guest job for interop-min-ctrl: the kernel host against tests/interop/min_ctrl
# on this machine.  NVMF_PORT_PLAIN: "nvme discover" (no digests);
# NVMF_PORT_DIGEST: "nvme connect -g -G" to NVMF_NQN (header and data digests).
# Both are expected to fail after the Connect (min_ctrl has no Identify):
# what matters is what min_ctrl saw, so the job's status is 0 regardless.
. /lib.sh
if [ -n "${NVMF_PORT_PLAIN:-}" ]; then
	NVMF_TRSVCID=$NVMF_PORT_PLAIN host_discover
	echo "NVMF-DISCOVER-RC=$?"
fi
if [ -n "${NVMF_PORT_DIGEST:-}" ]; then
	NVMF_TRSVCID=$NVMF_PORT_DIGEST host_connect "${NVMF_NQN:-nqn.2014-08.io.nvmf:min-ctrl}" -g -G
	echo "NVMF-CONNECT-RC=$?"
fi
dmesg | grep -E 'nvme' | tail -n 20
exit 0
