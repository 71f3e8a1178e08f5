#!/usr/bin/env bash
# qemu-run.sh [options] JOB_SCRIPT
#
# Runs one job in a Linux guest under QEMU (TCG): builds or reuses the base
# initramfs (mkinitramfs.sh), appends a small cpio with the job (/job.sh),
# its variables (/job.env), tests/interop/lib.sh (/lib.sh) and any extra
# files, boots, captures the serial console to a log file and exits with the
# job's status from the "NVMF-JOB-EXIT=<status>" marker.
#
# Options:
#   -w, --workdir DIR     cache and scratch directory
#                         (default $NVMF_INTEROP_DIR, else ${TMPDIR:-/tmp}/nvmf-interop-$UID)
#   -l, --log FILE        console log (default WORKDIR/logs/<job>.log)
#   -t, --timeout SEC     hard limit for the whole run, QEMU is killed after it (default 120)
#   -f, --fwd HOST[:GUEST]  forward 127.0.0.1:HOST to the guest's GUEST port (default 4420); repeatable
#   -e, --env NAME=VALUE  variable for the job (in /job.env); repeatable
#   -a, --add SRC[:DEST]  copy a file into the guest (DEST absolute, default /<basename>); repeatable
#   -p, --pcap FILE       record the guest's network traffic (filter-dump)
#       --pcap-maxlen N   keep only the first N bytes of each frame (default: all)
#   -m, --mem MB          guest memory (default 1024)
#   -c, --cpus N          guest vCPUs (default 1; the kernel host makes at most
#                         one I/O queue per CPU, so -i N needs N CPUs)
#   -v, --verbose         copy the console to stdout as it runs
#       --pidfile FILE    write QEMU's PID there (for callers that stop it early)
#
# Environment: NVMF_INTEROP_PCAP_DIR=DIR records every run's traffic to
# DIR/<job>.pcap; NVMF_INTEROP_VERBOSE=1 is --verbose.
#
# Exit status: the job's; 124 when the time ran out before the marker;
# 125 when the marker is missing otherwise; 126 on a harness error.
# Stopping this script (TERM/INT) kills the QEMU it started.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
workdir=${NVMF_INTEROP_DIR:-${TMPDIR:-/tmp}/nvmf-interop-$(id -u)}
log=
timeout_s=120
mem=1024
cpus=1
pcap=
pcap_maxlen=${NVMF_INTEROP_PCAP_MAXLEN:-}
verbose=0
pidfile=
fwds=()
envs=()
adds=()
pos=()

die() { echo "qemu-run: $*" >&2; exit 126; }

while [ $# -gt 0 ]; do
	case $1 in
		-w|--workdir) workdir=$2; shift 2 ;;
		-l|--log) log=$2; shift 2 ;;
		-t|--timeout) timeout_s=$2; shift 2 ;;
		-f|--fwd) fwds+=("$2"); shift 2 ;;
		-e|--env) envs+=("$2"); shift 2 ;;
		-a|--add) adds+=("$2"); shift 2 ;;
		-p|--pcap) pcap=$2; shift 2 ;;
		--pcap-maxlen) pcap_maxlen=$2; shift 2 ;;
		-m|--mem) mem=$2; shift 2 ;;
		-c|--cpus) cpus=$2; shift 2 ;;
		-v|--verbose) verbose=1; shift ;;
		--pidfile) pidfile=$2; shift 2 ;;
		-h|--help) sed -n '2,/^set /p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
		--) shift; pos+=("$@"); break ;;
		-*) die "unknown option $1" ;;
		*) pos+=("$1"); shift ;;
	esac
done
[ "${NVMF_INTEROP_VERBOSE:-0}" = 1 ] && verbose=1
[[ $cpus =~ ^[1-9][0-9]*$ ]] || die "bad --cpus $cpus"
[ ${#pos[@]} -eq 1 ] || die "usage: qemu-run.sh [options] JOB_SCRIPT (see --help)"
job=${pos[0]}
[ -f "$job" ] || die "no job script $job"
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 missing (scripts/setup.sh)"

mkdir -p "$workdir/logs" || die "cannot create $workdir"
workdir=$(cd "$workdir" && pwd)
name=$(basename "$job" .sh)
[ -n "$log" ] || log=$workdir/logs/$name.log
if [ -z "$pcap" ] && [ -n "${NVMF_INTEROP_PCAP_DIR:-}" ]; then
	mkdir -p "$NVMF_INTEROP_PCAP_DIR"
	pcap=$NVMF_INTEROP_PCAP_DIR/$(basename "$log" .log).pcap
fi
mkdir -p "$(dirname "$log")"

t0=$(date +%s.%N)
"$here/mkinitramfs.sh" "$workdir/base" || die "mkinitramfs failed"
# shellcheck disable=SC1091
. "$workdir/base/base.env"

scratch=$(mktemp -d "$workdir/run.XXXXXX") || die "mktemp failed"
qpid=
cleanup() {
	if [ -n "$qpid" ] && kill -0 "$qpid" 2>/dev/null; then
		kill "$qpid" 2>/dev/null
		sleep 0.5
		kill -9 "$qpid" 2>/dev/null
	fi
	[ -n "${tailpid:-}" ] && kill "$tailpid" 2>/dev/null
	rm -rf "$scratch"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

# The job's own archive.
ov=$scratch/overlay
mkdir -p "$ov"
cp "$job" "$ov/job.sh"
cp "$here/lib.sh" "$ov/lib.sh"
: >"$ov/job.env"
for kv in "${envs[@]}"; do
	k=${kv%%=*}
	v=${kv#*=}
	[[ $k =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || die "bad variable name in $kv"
	printf "%s='%s'\n" "$k" "${v//\'/\'\\\'\'}" >>"$ov/job.env"
done
for a in "${adds[@]}"; do
	src=${a%%:*}
	dst=/$(basename "$src")
	[ "$src" != "$a" ] && dst=${a#*:}
	[ -e "$src" ] || die "no file $src"
	mkdir -p "$ov$(dirname "$dst")"
	cp -rL "$src" "$ov$dst"
done
chmod -R a+rX "$ov"
(cd "$ov" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) >"$scratch/job.cpio" ||
	die "cpio failed"
cat "$workdir/base/base.cpio" "$scratch/job.cpio" >"$scratch/initrd" || die "initrd failed"

netdev=user,id=n0
for f in "${fwds[@]}"; do
	hp=${f%%:*}
	gp=4420
	[ "$hp" != "$f" ] && gp=${f#*:}
	netdev+=",hostfwd=tcp:127.0.0.1:$hp-:$gp"
done
# no_timer_check: under TCG on a busy machine the kernel's early IO-APIC timer
# check can miss ticks and panic ("IO-APIC + timer doesn't work!").
# shellcheck disable=SC2054
qargs=(-accel tcg -cpu max -m "$mem" -smp "$cpus" -nodefaults -no-user-config -display none
	-chardev "file,id=con0,path=$log" -serial chardev:con0 -monitor none -no-reboot
	-kernel "$KERNEL" -initrd "$scratch/initrd"
	-append "console=ttyS0 quiet panic=-1 no_timer_check"
	-netdev "$netdev" -device virtio-net-pci,netdev=n0)
[ -n "$pcap" ] && qargs+=(-object "filter-dump,id=f0,netdev=n0,file=$pcap${pcap_maxlen:+,maxlen=$pcap_maxlen}")

: >"$log"
if [ "$verbose" = 1 ]; then
	tail -n +1 -f "$log" &
	tailpid=$!
fi
t1=$(date +%s.%N)
qemu-system-x86_64 "${qargs[@]}" </dev/null >"$scratch/qemu.out" 2>&1 &
qpid=$!
[ -n "$pidfile" ] && echo "$qpid" >"$pidfile"
# Hard limit: poll the QEMU we started, kill it when the time is up.
deadline=$(awk -v t="$t1" -v d="$timeout_s" 'BEGIN{printf "%.0f", (t + d) * 10}')
timed_out=0
while kill -0 "$qpid" 2>/dev/null; do
	now=$(date +%s%N)
	if [ "${now:0:-8}" -ge "$deadline" ]; then
		timed_out=1
		kill "$qpid" 2>/dev/null
		sleep 0.5
		kill -9 "$qpid" 2>/dev/null
		break
	fi
	sleep 0.1
done
wait "$qpid" 2>/dev/null
qrc=$?
qpid=
t2=$(date +%s.%N)
if [ -n "${tailpid:-}" ]; then
	sleep 0.1
	kill "$tailpid" 2>/dev/null
	wait "$tailpid" 2>/dev/null
	tailpid=
fi
if [ -s "$scratch/qemu.out" ]; then
	sed 's/^/qemu: /' "$scratch/qemu.out" >&2
fi

status=$(tr -d '\r' <"$log" | sed -n 's/^.*NVMF-JOB-EXIT=\([0-9][0-9]*\).*$/\1/p' | tail -n 1)
secs=$(awk -v a="$t0" -v b="$t1" -v c="$t2" 'BEGIN{printf "prepare %.1f s, qemu %.1f s", b-a, c-b}')
if [ -z "$status" ]; then
	if [ "$timed_out" = 1 ]; then
		echo "qemu-run: $name: TIMEOUT after ${timeout_s} s, no exit marker ($secs; log $log)" >&2
		exit 124
	fi
	echo "qemu-run: $name: no exit marker, qemu status $qrc ($secs; log $log)" >&2
	exit 125
fi
echo "qemu-run: $name: job exit $status ($secs; log $log)" >&2
exit "$status"
