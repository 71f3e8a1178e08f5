# shellcheck shell=bash
# Host-side helpers for interop tests (bash).  Source it from a test script:
#   . "$(dirname "${BASH_SOURCE[0]}")/host.sh"
#   interop_init WORKDIR          # exits 77 (meson: skipped) without QEMU or a kernel
#
# Foreground job:   interop_run JOB [qemu-run.sh options...]
# Background guest (a kernel target this machine talks to):
#   port=$(interop_free_port); ctl=$(interop_free_port)
#   interop_start JOB --fwd "$port:4420" --fwd "$ctl:5555" ...
#   interop_wait_log 'NVMF-CTL-READY' 60    # the target is listening
#   ... talk to 127.0.0.1:$port ...
#   interop_ctl "$ctl" checksum /dev/ram0 1048576   # run a check in the guest, print its output
#   interop_ctl "$ctl" release                      # let the job finish
#   interop_finish 60                               # wait for the job; its exit status
INTEROP_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
INTEROP_QEMU_RUN=$INTEROP_DIR/qemu-run.sh
export INTEROP_JOBS=$INTEROP_DIR/jobs
INTEROP_BG_PID=
INTEROP_BG_LOG=

ilog() { echo "[$(date +%T.%3N)] $*"; }

# interop_init WORKDIR: check prerequisites, build the base initramfs.
interop_init() {
	export NVMF_INTEROP_DIR=${1:-${NVMF_INTEROP_DIR:-${TMPDIR:-/tmp}/nvmf-interop-$(id -u)}}
	mkdir -p "$NVMF_INTEROP_DIR/logs"
	if ! command -v qemu-system-x86_64 >/dev/null; then
		echo "SKIP: qemu-system-x86_64 not installed (scripts/setup.sh)"
		exit 77
	fi
	if [ -z "${NVMF_INTEROP_KERNEL:-}" ] && ! ls /boot/vmlinuz-* >/dev/null 2>&1; then
		echo "SKIP: no kernel in /boot (apt-get install linux-image-amd64)"
		exit 77
	fi
	if [ ! -r "$(ls -1 /boot/vmlinuz-* 2>/dev/null | sort -V | tail -n 1)" ]; then
		echo "SKIP: the kernel image is not readable"
		exit 77
	fi
	"$INTEROP_DIR/mkinitramfs.sh" "$NVMF_INTEROP_DIR/base" || {
		echo "FAIL: mkinitramfs"
		exit 1
	}
	# shellcheck disable=SC1091
	. "$NVMF_INTEROP_DIR/base/base.env"
	export INTEROP_HOSTNQN=$HOSTNQN INTEROP_HOSTID=$HOSTID INTEROP_KVER=$KVER
	trap interop_cleanup EXIT
}

# interop_free_port: a TCP port on 127.0.0.1 that is free right now.
interop_free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# interop_run JOB [qemu-run.sh options...]: run a job in the foreground; its exit status.
interop_run() {
	local job=$1
	shift
	"$INTEROP_QEMU_RUN" -w "$NVMF_INTEROP_DIR" "$@" "$job"
}

# interop_start JOB [qemu-run.sh options...]: start a job in the background.
# INTEROP_BG_LOG is its console log.
interop_start() {
	local job=$1
	shift
	INTEROP_BG_LOG=$NVMF_INTEROP_DIR/logs/$(basename "$job" .sh).$$.log
	"$INTEROP_QEMU_RUN" -w "$NVMF_INTEROP_DIR" -l "$INTEROP_BG_LOG" "$@" "$job" &
	INTEROP_BG_PID=$!
}

# interop_wait_log PATTERN [SECONDS]: wait until the background guest's console
# shows PATTERN (grep -E, CRs removed).  Fails when the guest ends first or time runs out.
interop_wait_log() {
	local pat=$1 n=$((${2:-60} * 10))
	while [ $n -gt 0 ]; do
		tr -d '\r' <"$INTEROP_BG_LOG" 2>/dev/null | grep -qE "$pat" && return 0
		if ! kill -0 "$INTEROP_BG_PID" 2>/dev/null; then
			tr -d '\r' <"$INTEROP_BG_LOG" 2>/dev/null | grep -qE "$pat" && return 0
			ilog "guest ended before '$pat'"
			return 1
		fi
		sleep 0.1
		n=$((n - 1))
	done
	ilog "timeout waiting for '$pat' in $INTEROP_BG_LOG"
	return 1
}

# interop_ctl HOSTPORT COMMAND...: send one command to the guest's control
# channel (lib.sh target_wait) and print the reply.  Retries while the guest
# is not listening (QEMU accepts forwarded connections even then).
interop_ctl() {
	local port=$1
	shift
	python3 - "$port" "$*" <<'PY'
import socket, sys, time
port, cmd = int(sys.argv[1]), sys.argv[2]
deadline = time.time() + 30
while time.time() < deadline:
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(cmd.encode() + b"\n")
        out = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            out += b
        s.close()
        if out:
            sys.stdout.write(out.decode(errors="replace"))
            sys.exit(0)
    except OSError:
        pass
    time.sleep(0.2)
sys.exit("interop_ctl: no answer from the guest")
PY
}

# interop_finish [SECONDS]: wait for the background job; returns its exit status.
interop_finish() {
	local n=$((${1:-60} * 10)) rc
	while kill -0 "$INTEROP_BG_PID" 2>/dev/null && [ $n -gt 0 ]; do
		sleep 0.1
		n=$((n - 1))
	done
	if kill -0 "$INTEROP_BG_PID" 2>/dev/null; then
		ilog "background job still running: stopping it"
		kill "$INTEROP_BG_PID" 2>/dev/null
	fi
	wait "$INTEROP_BG_PID"
	rc=$?
	INTEROP_BG_PID=
	return $rc
}

# interop_cleanup: stop what this script started (the EXIT trap of interop_init).
interop_cleanup() {
	if [ -n "$INTEROP_BG_PID" ] && kill -0 "$INTEROP_BG_PID" 2>/dev/null; then
		kill "$INTEROP_BG_PID" 2>/dev/null
		wait "$INTEROP_BG_PID" 2>/dev/null
	fi
	local p
	for p in ${INTEROP_PIDS:-}; do
		kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	return 0
}

# interop_log_has FILE PATTERN WHAT: check a log for a line (grep -E, CRs of the
# serial console removed); say what failed.
interop_log_has() {
	# (grep -q would quit at the first match: tr's SIGPIPE fails the pipe under pipefail)
	if tr -d '\r' <"$1" | grep -E "$2" >/dev/null; then
		ilog "ok: $3"
		return 0
	fi
	ilog "MISSING: $3 (/$2/ in $1)"
	return 1
}
