#!/usr/bin/env bash
# interop-smoke: boot the guest, load nvme-tcp, print uname -r and nvme version.
# Usage: test-smoke.sh [WORKDIR]
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/host.sh"
interop_init "${1:-}"
log=$NVMF_INTEROP_DIR/logs/smoke.log
interop_run "$INTEROP_JOBS/smoke.sh" -l "$log" -t 120
rc=$?
cat "$log"
[ $rc -eq 0 ] || { ilog "FAIL: job exit $rc"; exit 1; }
ok=0
interop_log_has "$log" "^NVMF-UNAME=$INTEROP_KVER" "uname -r = $INTEROP_KVER" || ok=1
interop_log_has "$log" '^nvme version [0-9]' "nvme version" || ok=1
interop_log_has "$log" "^NVMF-HOSTNQN=$INTEROP_HOSTNQN\$" "fixed host NQN" || ok=1
interop_log_has "$log" '^NVMF-SMOKE-OK' "smoke job complete" || ok=1
exit $ok
