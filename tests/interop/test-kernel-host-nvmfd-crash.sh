#!/usr/bin/env bash
# Crash consistency: nvmfd killed with SIGKILL while the kernel host writes
# and flushes on a file-backed namespace, restarted on the same file; what
# the host was told is stored must be there.  One guest boot per variant
# (jobs/host-crash.sh has the guest's side):
#   vwc-on   numbered 4 KiB blocks, parallel batches, a flush alongside each
#            next batch, every 5th block a FUA write; nvmfd is killed once
#            a flush covers 48 blocks, writes in flight.  Every block below
#            the highest completed flush's mark and every completed FUA
#            write must be in the file.
#   vwc-off  the same after Set Features Volatile Write Cache = 0: every
#            completed write must be in the file.
#   fio      fio sequential writes, crc32c verify headers, fsync every 8;
#            killed after 8 MiB; every block fio completed (less the
#            iodepth window) must be there.
# Checked twice: the file right after the kill (crash_check.py, before
# anything else opens it), then nvmfd restarted on the same file and port,
# the same guest reconnects and reads everything back (cmp / fio --verify_only).
# Usage: test-kernel-host-nvmfd-crash.sh WORKDIR NVMFD [VARIANT...]
set -uo pipefail
here=$(dirname "${BASH_SOURCE[0]}")
# shellcheck source=host.sh
. "$here/host.sh"
# shellcheck source=nvmfd-lib.sh
. "$here/nvmfd-lib.sh"
workdir=${1:-}
nvmfd=${2:?usage: test-kernel-host-nvmfd-crash.sh WORKDIR NVMFD [vwc-on|vwc-off|fio...]}
shift 2
variants=("$@")
[ ${#variants[@]} -gt 0 ] || variants=(vwc-on vwc-off fio)
[ -x "$nvmfd" ] || { echo "FAIL: no $nvmfd"; exit 1; }
interop_init "$workdir"
logs=$NVMF_INTEROP_DIR/logs
nqn=nqn.2014-08.io.nvmf:interop-crash
# The backing file lives next to the build (a disk file system: O_DIRECT works there, not on tmpfs).
tmp=$(mktemp -d "$NVMF_INTEROP_DIR/crash.XXXXXX") || exit 1
trap 'interop_cleanup; rm -rf "$tmp"' EXIT
fail=0

# kill_nvmfd: SIGKILL, reap; the namespace's file is left as the kill left it.
kill_nvmfd() {
	kill -KILL "$NVMFD_PID"
	wait "$NVMFD_PID" 2>/dev/null
	INTEROP_PIDS=${INTEROP_PIDS// $NVMFD_PID/}
	NVMFD_PID=
}

# run_variant NAME: one boot; returns 1 on a failed check.
run_variant() {
	local v=$1 mode=blocks vwc=1 img=$tmp/$1.img glog nlog port run t0 tkill n bytes check_args
	case $v in
	vwc-on) ;;
	vwc-off) vwc=0 ;;
	fio) mode=fio ;;
	*) ilog "FAIL: unknown variant $v"; return 1 ;;
	esac
	glog=$logs/host-crash-$v.log
	nlog=$logs/nvmfd-crash-$v.log
	run=$v-$$-$RANDOM
	truncate -s 256M "$img" || return 1
	# A fixed port as well as nvmfd_start's own: the restarted nvmfd must be where the guest reconnects.
	port=$(interop_free_port)
	nvmfd_start "$nlog" "$nvmfd" --listen "127.0.0.1:$port" --subsystem "$nqn" --namespace "$img" || return 1
	grep -q 'buffered I/O' "$nlog" && ilog "note: nvmfd uses buffered I/O on $img"
	: >"$glog"
	t0=$EPOCHREALTIME
	interop_start "$INTEROP_JOBS/host-crash.sh" -l "$glog" -t 240 \
		-e NVMF_TRSVCID="$port" -e NVMF_NQN="$nqn" -e NVMF_CRASH_RUN="$run" \
		-e NVMF_CRASH_MODE="$mode" -e NVMF_CRASH_VWC="$vwc" -e NVMF_JOB_TIMEOUT=220
	# shellcheck disable=SC2034 # host.sh's interop_wait_log reads it
	INTEROP_BG_LOG=$glog
	if [ $mode = blocks ]; then
		interop_wait_log '^NVMF-CRASH-FLUSHED upto=(4[89]|[5-9][0-9]|[0-9]{3,})' 150 ||
			{ tr -d '\r' <"$glog"; ilog "FAIL($v): no flush covering 48 blocks"; interop_finish 5; return 1; }
	else
		interop_wait_log '^NVMF-CRASH-ARMED' 90 || { tr -d '\r' <"$glog"; interop_finish 5; return 1; }
		# Kill once fio has 8 MiB in the file (a sparse file: allocated blocks grow as it writes).
		for ((n = 0; n < 1200; n++)); do
			bytes=$(($(stat -c '%b * %B' "$img")))
			[ "$bytes" -ge $((8 << 20)) ] && break
			sleep 0.1
		done
	fi
	tkill=$EPOCHREALTIME
	kill_nvmfd
	ilog "$v: nvmfd killed (SIGKILL) $(awk -v a="$t0" -v b="$tkill" 'BEGIN{printf "%.1f", b-a}') s after the boot began"
	if ! interop_wait_log '^NVMF-CRASH-DOWN' 60; then
		tr -d '\r' <"$glog"
		ilog "FAIL($v): the guest did not see the target go"
		interop_finish 5
		return 1
	fi
	# Every acknowledgement the guest got is on its console now (nothing answers it).
	if [ $mode = blocks ]; then
		check_args=(blocks "$run")
		[ $vwc = 0 ] && check_args+=(--all-acked)
	else
		check_args=(fio)
	fi
	python3 "$here/crash_check.py" "$img" "$glog" "${check_args[@]}" || fail=1
	nvmfd_start "$nlog.2" "$nvmfd" --listen "127.0.0.1:$port" --subsystem "$nqn" --namespace "$img" ||
		{ interop_finish 5; return 1; }
	interop_finish 200
	local rc=$?
	tr -d '\r' <"$glog" | grep -E '^NVMF-|^\[job|fio exit' | grep -vE '^NVMF-CRASH-(ACK|FUA|FLUSHED) '
	[ $mode = blocks ] && ilog "$v: $(tr -d '\r' <"$glog" | grep -cE '^NVMF-CRASH-(ACK|FUA) ') writes and" \
		"$(tr -d '\r' <"$glog" | grep -c '^NVMF-CRASH-FLUSHED ') flushes acknowledged before the kill"
	ilog "$v: $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", b-a}') s"
	nvmfd_stop 10 || { ilog "FAIL($v): restarted nvmfd did not exit cleanly"; fail=1; }
	if [ $rc -ne 0 ] || ! tr -d '\r' <"$glog" | grep -q '^NVMF-CRASH-VERIFIED '; then
		tr -d '\r' <"$glog" | tail -n 60
		ilog "FAIL($v): guest job exit $rc: the restarted nvmfd did not serve what had to survive"
		return 1
	fi
	ilog "ok($v): $(tr -d '\r' <"$glog" | grep '^NVMF-CRASH-VERIFIED ')"
}

for v in "${variants[@]}"; do
	ilog "==== variant $v"
	run_variant "$v" || fail=1
	rm -f "$tmp/$v.img"
done
[ $fail -eq 0 ] && echo "PASS" || echo "FAIL"
exit $fail
