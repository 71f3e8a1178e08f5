# shellcheck shell=sh
# Guest-side functions for interop jobs (busybox sh).  qemu-run.sh copies
# this file to /lib.sh in every guest; a job starts with ". /lib.sh".
#
# Conventions: every function returns non-zero on failure and says why on
# the console; "set -e" in a job makes the first failure end the job.
# Lines meant for the host to parse start with "NVMF-".
#
# Variables (from qemu-run.sh --env, all optional):
#   NVMF_TRADDR   target address for the kernel host (default 10.0.2.2,
#                 this machine's loopback as seen from the guest)
#   NVMF_TRSVCID  target port (default 4420)
#   NVMF_CTL_PORT guest port of the control channel of target jobs (default 5555)

NVMF_TRADDR=${NVMF_TRADDR:-10.0.2.2}
NVMF_TRSVCID=${NVMF_TRSVCID:-4420}
NVMF_CTL_PORT=${NVMF_CTL_PORT:-5555}
NVMF_CONFIGFS=/sys/kernel/config/nvmet

log() { echo "[job $(cut -d' ' -f1 /proc/uptime)] $*"; }
fail() {
	echo "NVMF-FAIL $*"
	return 1
}
# Run a command, logging it and its status.
run() {
	log "+ $*"
	"$@"
	_rc=$?
	[ $_rc -eq 0 ] || log "exit $_rc: $*"
	return $_rc
}

# wait_for PATH [SECONDS]: poll (10 times a second) until PATH exists.
wait_for() {
	_n=$((${2:-10} * 10))
	while [ ! -e "$1" ]; do
		_n=$((_n - 1))
		[ $_n -gt 0 ] || {
			fail "timeout waiting for $1"
			return 1
		}
		usleep 100000
	done
}

hostnqn() { cat /etc/nvme/hostnqn; }
hostid() { cat /etc/nvme/hostid; }

# ---------------------------------------------------------------------------
# (a) The kernel's NVMe/TCP host against a target on this machine's loopback.

# host_discover [nvme discover options...]
# shellcheck disable=SC2120
host_discover() {
	modprobe nvme_tcp
	run nvme discover -t tcp -a "$NVMF_TRADDR" -s "$NVMF_TRSVCID" "$@"
}

# host_connect NQN [nvme connect options: -i QUEUES, -g, -G, -k KATO, ...]
host_connect() {
	_nqn=$1
	shift
	modprobe nvme_tcp
	run nvme connect -t tcp -a "$NVMF_TRADDR" -s "$NVMF_TRSVCID" -n "$_nqn" "$@"
}

# host_disconnect NQN
host_disconnect() { run nvme disconnect -n "$1"; }
host_disconnect_all() { run nvme disconnect-all; }

# host_ctrl NQN: print the controller (nvme0) connected to NQN.
host_ctrl() {
	for _c in /sys/class/nvme/nvme*; do
		[ -e "$_c/subsysnqn" ] || continue
		[ "$(cat "$_c/subsysnqn")" = "$1" ] || continue
		[ "$(cat "$_c/state" 2>/dev/null)" = deleting ] && continue
		basename "$_c"
		return 0
	done
	return 1
}

# host_ns_dev NQN [NSID]: print the block device (/dev/nvme0n1) of namespace NSID (default 1) of NQN.
host_ns_dev() {
	_nsid=${2:-1}
	for _s in /sys/class/nvme-subsystem/nvme-subsys* /sys/class/nvme/nvme*; do
		[ -e "$_s/subsysnqn" ] || continue
		[ "$(cat "$_s/subsysnqn")" = "$1" ] || continue
		# (not _n: host_wait_ns counts with it)
		for _nsp in "$_s"/nvme*n*; do
			[ -e "$_nsp/nsid" ] || continue
			[ "$(cat "$_nsp/nsid")" = "$_nsid" ] || continue
			_b=$(basename "$_nsp")
			case $_b in *c*n*) continue ;; esac # per-path hidden device of multipath
			[ -b "/dev/$_b" ] && {
				echo "/dev/$_b"
				return 0
			}
		done
	done
	return 1
}

# host_wait_ns NQN [SECONDS] [NSID]: poll until the namespace's block device exists; print it.
# (nvme connect returns before the device appears.)
host_wait_ns() {
	_n=$((${2:-20} * 10))
	while ! host_ns_dev "$1" "${3:-1}"; do
		_n=$((_n - 1))
		[ $_n -gt 0 ] || {
			fail "no namespace ${3:-1} of $1 after ${2:-20} s"
			return 1
		}
		usleep 100000
	done
}

# host_identify NQN: id-ctrl, id-ns, list and smart-log of the connected controller.
host_identify() {
	_ctrl=$(host_ctrl "$1") || {
		fail "no controller for $1"
		return 1
	}
	_dev=$(host_ns_dev "$1") || {
		fail "no namespace for $1"
		return 1
	}
	run nvme list || return 1
	run nvme id-ctrl "/dev/$_ctrl" || return 1
	run nvme id-ns "$_dev" || return 1
	run nvme smart-log "/dev/$_ctrl" || return 1
	log "model=$(cat /sys/class/nvme/$_ctrl/model) serial=$(cat /sys/class/nvme/$_ctrl/serial)" \
		"io_queues=$(ls -d "/sys/class/nvme/$_ctrl"/nvme*/mq/[0-9]* "/sys/block/${_dev#/dev/}"/mq/[0-9]* 2>/dev/null | wc -l)"
}

# host_fio DEV [SIZE] [BSRANGE] [IODEPTH] [extra fio options...]:
# random read/write with crc32c verification (default 32M, 512-1M or the
# device's logical block size to 1M, iodepth 32).
host_fio() {
	_dev=$1
	_size=${2:-32M}
	_lbs=$(cat "/sys/block/$(basename "$_dev")/queue/logical_block_size" 2>/dev/null || echo 512)
	_bsr=${3:-$_lbs-1M}
	_qd=${4:-32}
	shift $(($# < 4 ? $# : 4))
	run fio --name=nvmf-verify --filename="$_dev" --ioengine=libaio --direct=1 \
		--rw=randrw --bsrange="$_bsr" --blockalign="$_lbs" --iodepth="$_qd" --size="$_size" \
		--verify=crc32c --verify_fatal=1 --do_verify=1 --randrepeat=0 \
		--group_reporting=1 "$@" || {
		fail "fio verify on $_dev"
		return 1
	}
}

# host_fs_roundtrip NQN [connect options...]: on the connected namespace of
# NQN: mkfs.ext4, mount, write files, sync, umount, disconnect, reconnect
# (with the same options), mount again and compare checksums.
host_fs_roundtrip() {
	_nqn=$1
	shift
	_dev=$(host_wait_ns "$_nqn") || return 1
	run mkfs.ext4 -q -F "$_dev" || return 1
	mkdir -p /mnt/nvmf
	run mount -t ext4 "$_dev" /mnt/nvmf || return 1
	for _s in 1 7 64 700 3000; do
		dd if=/dev/urandom of=/mnt/nvmf/f$_s bs=1k count=$_s 2>/dev/null || return 1
	done
	mkdir -p /mnt/nvmf/dir && echo hello >/mnt/nvmf/dir/small
	(cd /mnt/nvmf && find . -type f | sort | xargs sha256sum) >/tmp/fs.sums
	sync
	run umount /mnt/nvmf || return 1
	host_disconnect "$_nqn" || return 1
	_n=50
	while host_ctrl "$_nqn" >/dev/null; do
		_n=$((_n - 1))
		[ $_n -gt 0 ] || break
		usleep 100000
	done
	host_connect "$_nqn" "$@" || return 1
	_dev=$(host_wait_ns "$_nqn") || return 1
	run mount -t ext4 "$_dev" /mnt/nvmf || return 1
	(cd /mnt/nvmf && sha256sum -c /tmp/fs.sums) || {
		fail "checksums differ after reconnect"
		umount /mnt/nvmf
		return 1
	}
	run umount /mnt/nvmf || return 1
	log "fs roundtrip OK ($(wc -l </tmp/fs.sums) files)"
}

# host_full_check NQN [connect options...]: the whole host-side sequence:
# discover, connect, wait, identify, fio verify, fs roundtrip, disconnect.
host_full_check() {
	_nqn=$1
	shift
	host_discover || return 1
	host_connect "$_nqn" "$@" || return 1
	_dev=$(host_wait_ns "$_nqn") || return 1
	host_identify "$_nqn" || return 1
	host_fio "$_dev" "${NVMF_FIO_SIZE:-32M}" || return 1
	host_fs_roundtrip "$_nqn" "$@" || return 1
	host_disconnect "$_nqn"
}

# ---------------------------------------------------------------------------
# (b) The kernel's NVMe/TCP target (nvmet) in the guest, reached from this
# machine through qemu-run.sh --fwd HOSTPORT:4420.

# target_backing SPEC: create the backing device and print its path.
#   brd:MB      a RAM disk (/dev/ram0; brd loaded with rd_nr=1 rd_size=MB*1024)
#   null:MB     null_blk, memory backed (/dev/nullb0), size rounded up to GiB
#   file:MB     a file on tmpfs (/tmp/nvmf-backing.img; use buffered_io=1)
#   /dev/...    an existing device
target_backing() {
	case $1 in
	brd:*)
		modprobe brd rd_nr=1 rd_size=$((${1#brd:} * 1024)) max_part=0 || return 1
		wait_for /dev/ram0 5 || return 1
		echo /dev/ram0
		;;
	null:*)
		# module parameter gb is in GiB; memory is allocated as written
		modprobe null_blk nr_devices=1 gb=$(((${1#null:} + 1023) / 1024)) memory_backed=1 || return 1
		wait_for /dev/nullb0 5 || return 1
		echo /dev/nullb0
		;;
	file:*)
		truncate -s "${1#file:}M" /tmp/nvmf-backing.img || return 1
		echo /tmp/nvmf-backing.img
		;;
	/*) echo "$1" ;;
	*)
		fail "unknown backing $1"
		return 1
		;;
	esac
}

# target_setup NQN [BACKING] [PORT] [NSID]: nvmet subsystem NQN (any host
# allowed) with namespace NSID (default 1) on BACKING (default brd:64), a TCP
# port on 0.0.0.0:PORT (default 4420), the subsystem linked to it.  Prints
# "NVMF-TARGET-READY nqn=NQN port=PORT dev=DEVICE" when it is listening.
target_setup() {
	_nqn=$1
	_back=${2:-brd:64}
	_port=${3:-4420}
	_nsid=${4:-1}
	modprobe nvmet || return 1
	modprobe nvmet_tcp || return 1
	grep -q " /sys/kernel/config " /proc/mounts || mount -t configfs configfs /sys/kernel/config
	_dev=$(target_backing "$_back") || return 1
	_s=$NVMF_CONFIGFS/subsystems/$_nqn
	mkdir -p "$_s" || return 1
	echo 1 >"$_s/attr_allow_any_host" || return 1
	mkdir -p "$_s/namespaces/$_nsid" || return 1
	printf '%s' "$_dev" >"$_s/namespaces/$_nsid/device_path" || return 1
	case $_dev in /dev/*) ;; *) echo 1 >"$_s/namespaces/$_nsid/buffered_io" ;; esac
	echo 1 >"$_s/namespaces/$_nsid/enable" || return 1
	_p=$NVMF_CONFIGFS/ports/1
	if [ ! -d "$_p" ]; then
		mkdir -p "$_p" || return 1
		echo tcp >"$_p/addr_trtype"
		echo ipv4 >"$_p/addr_adrfam"
		echo 0.0.0.0 >"$_p/addr_traddr"
		echo "$_port" >"$_p/addr_trsvcid" || return 1
	fi
	ln -s "$_s" "$_p/subsystems/$_nqn" || return 1
	echo "NVMF-TARGET-READY nqn=$_nqn port=$_port dev=$_dev"
}

# target_restrict_host NQN HOSTNQN: allow only HOSTNQN (not any host) on NQN.
target_restrict_host() {
	mkdir -p "$NVMF_CONFIGFS/hosts/$2" || return 1
	echo 0 >"$NVMF_CONFIGFS/subsystems/$1/attr_allow_any_host" || return 1
	ln -s "$NVMF_CONFIGFS/hosts/$2" "$NVMF_CONFIGFS/subsystems/$1/allowed_hosts/$2"
}

# target_checksum DEV BYTES [SKIP_BYTES]: print the sha256 of BYTES bytes of
# DEV from SKIP_BYTES on (multiples of 512), as "NVMF-CHECKSUM dev=.. skip=.. bytes=.. sha256=..".
target_checksum() {
	# nvmet writes below the page cache: drop what an earlier read cached.
	sync
	echo 3 >/proc/sys/vm/drop_caches
	_sum=$(dd if="$1" bs=512 skip=$((${3:-0} / 512)) count=$(($2 / 512)) 2>/dev/null | sha256sum | cut -d' ' -f1)
	echo "NVMF-CHECKSUM dev=$1 skip=${3:-0} bytes=$2 sha256=$_sum"
}

# The control channel: the host connects to the forwarded NVMF_CTL_PORT and
# sends one command line, gets the output back, and the connection closes.
#   release                  end target_wait
#   checksum DEV BYTES [SKIP] target_checksum
#   hexdump DEV BYTES [SKIP]  hexdump -C of that range
#   sh COMMAND...             run a shell command
# Commands and their output also go to the console (ctl> ... lines).
_target_ctl_handler() {
	cat >/tmp/nvmf-ctl.sh <<'EOF'
. /lib.sh
read -r _cmd _args
echo "ctl> $_cmd $_args" >/dev/console
case $_cmd in
release) touch /tmp/nvmf-released; echo "released" ;;
checksum) target_checksum $_args ;;
hexdump) set -- $_args; dd if="$1" bs=512 skip=$((${3:-0} / 512)) count=$(($2 / 512)) 2>/dev/null | hexdump -C ;;
sh) sh -c "$_args" 2>&1 ;;
*) echo "unknown command $_cmd" ;;
esac | tee /dev/console
EOF
}

# target_wait SECONDS: serve the control channel until "release" or SECONDS
# pass.  Prints NVMF-TARGET-RELEASED or NVMF-TARGET-TIMEOUT; returns 0 either
# way unless NVMF_TARGET_WAIT_STRICT=1 (then a timeout returns 1).
target_wait() {
	_target_ctl_handler
	rm -f /tmp/nvmf-released
	_end=$(($(cut -d. -f1 /proc/uptime) + ${1:-60}))
	echo "NVMF-CTL-READY port=$NVMF_CTL_PORT"
	while [ ! -e /tmp/nvmf-released ]; do
		_left=$((_end - $(cut -d. -f1 /proc/uptime)))
		[ $_left -gt 0 ] || break
		timeout "$_left" nc -l -p "$NVMF_CTL_PORT" -e sh /tmp/nvmf-ctl.sh 2>/dev/null
	done
	if [ -e /tmp/nvmf-released ]; then
		echo "NVMF-TARGET-RELEASED"
		return 0
	fi
	echo "NVMF-TARGET-TIMEOUT"
	[ "${NVMF_TARGET_WAIT_STRICT:-0}" = 1 ] && return 1
	return 0
}

# target_report NQN: what the target saw (controllers, namespace state).
target_report() {
	_s=$NVMF_CONFIGFS/subsystems/$1
	for _n in "$_s"/namespaces/*; do
		echo "ns $(basename "$_n"): device=$(cat "$_n/device_path") enable=$(cat "$_n/enable")"
	done
	dmesg | grep -i nvmet | tail -n 20
}
