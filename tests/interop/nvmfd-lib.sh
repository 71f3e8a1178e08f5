# shellcheck shell=bash
# Host-side helpers for tests that run nvmfd (source after host.sh).
#   nvmfd_start LOG NVMFD [nvmfd options...]   listens on 127.0.0.1 on a free port
#                                               (--listen 127.0.0.1:0); sets NVMFD_PID, NVMFD_PORT
#   nvmfd_stop [SECONDS]                        SIGTERM, wait; nvmfd's exit status (124: had to be killed)
# LOG gets nvmfd's stdout and stderr, each line prefixed with the time it was
# written (seconds since the epoch, like $EPOCHREALTIME).
NVMFD_PID=
NVMFD_PORT=
NVMFD_LOG=

nvmfd_start() {
	NVMFD_LOG=$1
	local bin=$2 n=50
	shift 2
	: >"$NVMFD_LOG"
	"$bin" --listen 127.0.0.1:0 "$@" > >(while IFS= read -r l; do printf '%s %s\n' "$EPOCHREALTIME" "$l"; done >>"$NVMFD_LOG") 2>&1 &
	NVMFD_PID=$!
	INTEROP_PIDS="${INTEROP_PIDS:-} $NVMFD_PID"
	while ! grep -q 'nvmfd: ready' "$NVMFD_LOG" && kill -0 "$NVMFD_PID" 2>/dev/null && [ $n -gt 0 ]; do
		sleep 0.1
		n=$((n - 1))
	done
	# (a TLS listener's line ends in " (TLS required)" or " (TLS allowed)")
	NVMFD_PORT=$(sed -n 's/^.* nvmfd: listening on tcp 127\.0\.0\.1:\([0-9][0-9]*\)\( (TLS [a-z]*)\)\{0,1\}$/\1/p' "$NVMFD_LOG" | head -n 1)
	if ! grep -q 'nvmfd: ready' "$NVMFD_LOG" || [ -z "$NVMFD_PORT" ]; then
		cat "$NVMFD_LOG"
		ilog "FAIL: nvmfd did not start"
		return 1
	fi
	ilog "nvmfd (pid $NVMFD_PID) on 127.0.0.1:$NVMFD_PORT"
}

nvmfd_stop() {
	local n=$((${1:-10} * 10)) rc
	[ -n "$NVMFD_PID" ] || return 0
	kill -TERM "$NVMFD_PID" 2>/dev/null
	while kill -0 "$NVMFD_PID" 2>/dev/null && [ $n -gt 0 ]; do
		sleep 0.1
		n=$((n - 1))
	done
	if kill -0 "$NVMFD_PID" 2>/dev/null; then
		ilog "nvmfd did not exit after SIGTERM: killing it"
		kill -KILL "$NVMFD_PID" 2>/dev/null
		wait "$NVMFD_PID" 2>/dev/null
		rc=124
	else
		wait "$NVMFD_PID"
		rc=$?
	fi
	INTEROP_PIDS=${INTEROP_PIDS// $NVMFD_PID/}
	NVMFD_PID=
	sleep 0.1 # the time-stamping reader drains
	return $rc
}
