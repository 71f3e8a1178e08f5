# Guest job: the issue's list of kernel-host checks against nvmfd, in one boot
# (boot the guest with --cpus 2 so that -i 2 gives two I/O queues).
#   1. discover: both subsystems listed with our port; a host that NVMF_NQN
#      does not allow sees only NVMF_NQN2
#   2. per option set of NVMF_CONNECT_OPTS ("|" separated, e.g.
#      "-i 2 -g -G -k 5|-i 2 -k 5"): connect, NVMF_QUEUES I/O queues in dmesg
#      (and queue_count), list / id-ctrl / id-ns / smart-log, namespace size,
#      fio randrw crc32c verify 512-1M iodepth 32, SMART counters larger
#      after fio, ext4 roundtrip with disconnect + reconnect
#   3. after the last set (still connected): idle NVMF_IDLE s (> KATO), the
#      controller is the same (state live, same cntlid), a read works, no
#      reset / reconnect / keep alive messages in dmesg
#   4. a second host NQN (NVMF_HOSTNQN2 / NVMF_HOSTID2) connects while the
#      first is active: another controller with another cntlid; both carry
#      I/O (round-robin multipath, each one's SMART command counters grow,
#      fio verify across both); data written before is read through the
#      second after the first disconnects
#   5. NVMF_DENIED_HOSTNQN is refused by NVMF_NQN (Connect Invalid Host,
#      ret=16772 in dmesg) and accepted by NVMF_NQN2 (no host list)
# Variables: NVMF_TRSVCID, NVMF_NQN, NVMF_NQN2, NVMF_NS_BYTES (size of
# NVMF_NQN's namespace), NVMF_HOSTNQN2, NVMF_HOSTID2, NVMF_DENIED_HOSTNQN,
# NVMF_DENIED_HOSTID, NVMF_CONNECT_OPTS, NVMF_QUEUES (default 2),
# NVMF_IDLE (default 12), NVMF_FIO_SIZE (default 32M).
# Lines for the test: NVMF-CHECK-OK <what> ..., NVMF-SMART ..., NVMF-CHECKS-DONE.
. /lib.sh
for v in NVMF_NQN NVMF_NQN2 NVMF_NS_BYTES NVMF_HOSTNQN2 NVMF_HOSTID2 NVMF_DENIED_HOSTNQN NVMF_DENIED_HOSTID; do
	eval "[ -n \"\${$v:-}\" ]" || {
		fail "$v not set"
		exit 2
	}
done
QUEUES=${NVMF_QUEUES:-2}
IDLE=${NVMF_IDLE:-12}
FIO_SIZE=${NVMF_FIO_SIZE:-32M}
log "cpus=$(grep -c ^processor /proc/cpuinfo)"

ok() { echo "NVMF-CHECK-OK $*"; }
dmesg_mark() { dmesg | wc -l; }
dmesg_since() { dmesg | tail -n +$(($1 + 1)); }

# smart CTRL FIELD: a counter of the controller's SMART log (JSON keys of nvme-cli).
smart() { nvme smart-log "/dev/$1" -o json | tr -d ' \t",' | sed -n "s/^$2://p"; }
smart_all() {
	echo "dur=$(smart "$1" data_units_read) duw=$(smart "$1" data_units_written)" \
		"hrc=$(smart "$1" host_read_commands) hwc=$(smart "$1" host_write_commands)"
}
field() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }

# ctrl_for NQN HOSTNQN: the live controller of NQN connected as HOSTNQN.
ctrl_for() {
	for _c in /sys/class/nvme/nvme*; do
		[ "$(cat "$_c/subsysnqn" 2>/dev/null)" = "$1" ] || continue
		[ "$(cat "$_c/hostnqn" 2>/dev/null)" = "$2" ] || continue
		[ "$(cat "$_c/state" 2>/dev/null)" = live ] || continue
		basename "$_c"
		return 0
	done
	return 1
}
wait_ctrl_gone() {
	_n=50
	while [ -e "/sys/class/nvme/$1" ] && [ $_n -gt 0 ]; do
		usleep 100000
		_n=$((_n - 1))
	done
	[ ! -e "/sys/class/nvme/$1" ]
}

# fabrics_connect OPTIONS: connect through the kernel's /dev/nvme-fabrics
# (transport, traddr and trsvcid added), print its answer
# "instance=N,cntlid=M".  For a second host NQN to a subsystem this guest is
# already connected to: nvme-cli 2.3 says "already connected" without trying
# (its check ignores --hostnqn and -D); the kernel takes it.
fabrics_connect() {
	_o="transport=tcp,traddr=$NVMF_TRADDR,trsvcid=$NVMF_TRSVCID,$1"
	log "+ echo $_o > /dev/nvme-fabrics"
	exec 3<>/dev/nvme-fabrics || return 1
	if ! echo "$_o" >&3; then
		log "write to /dev/nvme-fabrics failed"
		exec 3>&-
		return 1
	fi
	read -r _ans <&3
	exec 3>&-
	log "/dev/nvme-fabrics: $_ans"
	case $_ans in instance=*) return 0 ;; esac
	return 1
}

# discover_entries [options]: "SUBNQN TRSVCID" per discovery log entry.
discover_entries() {
	host_discover "$@" >/tmp/disc.out 2>&1
	_rc=$?
	cat /tmp/disc.out
	[ $_rc -eq 0 ] || return $_rc
	awk '/Discovery Log Entry/ {if (n != "") print n, s; n = ""; s = ""}
		/^trsvcid:/ {s = $2} /^subnqn:/ {n = $2} END {if (n != "") print n, s}' /tmp/disc.out >/tmp/disc.entries
}

check_discover() {
	discover_entries || return 1
	for _n in "$NVMF_NQN" "$NVMF_NQN2" nqn.2014-08.org.nvmexpress.discovery; do
		grep -qx "$_n $NVMF_TRSVCID" /tmp/disc.entries || {
			fail "discovery log has no entry '$_n $NVMF_TRSVCID'"
			return 1
		}
	done
	ok "discover both subsystems: $(tr '\n' ' ' </tmp/disc.entries)"
	discover_entries --hostnqn="$NVMF_DENIED_HOSTNQN" --hostid="$NVMF_DENIED_HOSTID" || return 1
	grep -qx "$NVMF_NQN2 $NVMF_TRSVCID" /tmp/disc.entries || {
		fail "discovery log for a host not allowed on $NVMF_NQN lacks $NVMF_NQN2"
		return 1
	}
	if grep -q "^$NVMF_NQN " /tmp/disc.entries; then
		fail "discovery log shows $NVMF_NQN to a host it does not allow"
		return 1
	fi
	ok "discover filtered for a host not allowed: $(tr '\n' ' ' </tmp/disc.entries)"
}

# check_queues CTRL MARK: the kernel made QUEUES I/O queues on CTRL (dmesg since MARK).
check_queues() {
	dmesg_since "$2" | grep -E "nvme $1: " >/tmp/q.dmesg
	cat /tmp/q.dmesg
	grep -q "nvme $1: creating $QUEUES I/O queues" /tmp/q.dmesg || {
		fail "$1: no 'creating $QUEUES I/O queues' in dmesg"
		return 1
	}
	grep -q "nvme $1: mapped $QUEUES/0/0 default/read/poll queues" /tmp/q.dmesg || {
		fail "$1: no 'mapped $QUEUES/0/0 default/read/poll queues' in dmesg"
		return 1
	}
	_qc=$(cat "/sys/class/nvme/$1/queue_count" 2>/dev/null || echo none)
	if [ "$_qc" != none ] && [ "$_qc" != $((QUEUES + 1)) ]; then
		fail "$1: queue_count $_qc, expected $((QUEUES + 1)) (admin + $QUEUES I/O)"
		return 1
	fi
	ok "io-queues ctrl=$1 queues=$QUEUES queue_count=$_qc"
}

# check_identify CTRL DEV
check_identify() {
	run nvme list >/tmp/list.out 2>&1 || {
		cat /tmp/list.out
		return 1
	}
	cat /tmp/list.out
	grep -q "^$2 " /tmp/list.out || {
		fail "nvme list does not show $2"
		return 1
	}
	run nvme id-ctrl "/dev/$1" >/tmp/idctrl.out 2>&1 || {
		cat /tmp/idctrl.out
		return 1
	}
	cat /tmp/idctrl.out
	grep -Eq "^subnqn +: $NVMF_NQN\$" /tmp/idctrl.out || {
		fail "id-ctrl subnqn is not $NVMF_NQN"
		return 1
	}
	_cid=$(sed -n 's/^cntlid *: *//p' /tmp/idctrl.out)
	[ $((_cid)) -eq "$(cat "/sys/class/nvme/$1/cntlid")" ] || {
		fail "id-ctrl cntlid $_cid differs from sysfs $(cat "/sys/class/nvme/$1/cntlid")"
		return 1
	}
	run nvme id-ns "$2" >/tmp/idns.out 2>&1 || {
		cat /tmp/idns.out
		return 1
	}
	cat /tmp/idns.out
	_nsze=$(sed -n 's/^nsze *: *//p' /tmp/idns.out)
	_bytes=$(blockdev --getsize64 "$2")
	[ "$_bytes" = "$NVMF_NS_BYTES" ] && [ $((_nsze * 512)) = "$NVMF_NS_BYTES" ] || {
		fail "namespace size: nsze $_nsze, device $_bytes bytes, expected $NVMF_NS_BYTES (512-byte blocks)"
		return 1
	}
	run nvme smart-log "/dev/$1" || return 1
	ok "identify ctrl=$1 dev=$2 cntlid=$((_cid)) nsze=$_nsze bytes=$_bytes"
}

# check_fio_smart CTRL DEV: fio verify; the SMART counters grew.
check_fio_smart() {
	_b=$(smart_all "$1")
	echo "NVMF-SMART ctrl=$1 before $_b"
	host_fio "$2" "$FIO_SIZE" 512-1M 32 || return 1
	_a=$(smart_all "$1")
	echo "NVMF-SMART ctrl=$1 after $_a"
	for _f in dur duw hrc hwc; do
		[ -n "$(field "$_a" $_f)" ] && [ "$(field "$_a" $_f)" -gt "$(field "$_b" $_f)" ] || {
			fail "SMART $_f did not grow with fio: before $_b, after $_a"
			return 1
		}
	done
	ok "fio-verify+smart ctrl=$1 size=$FIO_SIZE bsrange=512-1M iodepth=32 before[$_b] after[$_a]"
}

# ---- 1. discovery
check_discover || exit 1

# ---- 2. full sequence per option set
IFS='|'
# shellcheck disable=SC2086
set -- ${NVMF_CONNECT_OPTS:-"-i $QUEUES -k 5"}
unset IFS
last_opts=
i=0
for opts in "$@"; do
	i=$((i + 1))
	log "==== connect options: $opts"
	mark=$(dmesg_mark)
	# shellcheck disable=SC2086
	host_connect "$NVMF_NQN" $opts || exit 1
	dev=$(host_wait_ns "$NVMF_NQN") || exit 1
	ctrl=$(host_ctrl "$NVMF_NQN") || exit 1
	check_queues "$ctrl" "$mark" || exit 1
	check_identify "$ctrl" "$dev" || exit 1
	check_fio_smart "$ctrl" "$dev" || exit 1
	mark=$(dmesg_mark)
	# shellcheck disable=SC2086
	host_fs_roundtrip "$NVMF_NQN" $opts || exit 1
	ctrl=$(host_ctrl "$NVMF_NQN") || exit 1
	check_queues "$ctrl" "$mark" || exit 1
	ok "fs-roundtrip opts=$opts"
	echo "NVMF-OPTS-OK opts=$opts"
	last_opts=$opts
	[ $i -eq $# ] && break # stay connected after the last set
	host_disconnect "$NVMF_NQN" || exit 1
	wait_ctrl_gone "$ctrl"
done

# ---- 3. idle longer than KATO
ctrl=$(ctrl_for "$NVMF_NQN" "$(hostnqn)") || {
	fail "no live controller after the option sets"
	exit 1
}
dev=$(host_ns_dev "$NVMF_NQN") || exit 1
cid0=$(cat "/sys/class/nvme/$ctrl/cntlid")
kato=$(cat "/sys/class/nvme/$ctrl/kato" 2>/dev/null || echo 5)
[ "$kato" -gt 0 ] && [ "$IDLE" -gt "$kato" ] || {
	fail "idle ${IDLE}s is not longer than the controller's KATO $kato"
	exit 1
}
log "kato=$kato idle ${IDLE}s on $ctrl (cntlid $cid0)"
mark=$(dmesg_mark)
sleep "$IDLE"
[ "$(cat "/sys/class/nvme/$ctrl/state")" = live ] || {
	fail "$ctrl is $(cat "/sys/class/nvme/$ctrl/state") after ${IDLE}s idle"
	exit 1
}
[ "$(cat "/sys/class/nvme/$ctrl/cntlid")" = "$cid0" ] || {
	fail "$ctrl cntlid changed from $cid0 to $(cat "/sys/class/nvme/$ctrl/cntlid") (reconnected)"
	exit 1
}
run dd if="$dev" of=/dev/null bs=1M count=4 iflag=direct || {
	fail "read after ${IDLE}s idle"
	exit 1
}
if dmesg_since "$mark" | grep -iE 'reset|reconnect|keep.?alive|error recovery|timeout|failed'; then
	fail "$ctrl: reset/reconnect/keep-alive messages while idle"
	exit 1
fi
ok "keepalive-idle ctrl=$ctrl idle=${IDLE}s kato=${kato}s cntlid=$cid0 opts=$last_opts"

# ---- 4. a second host while the first is active
# A pattern written through the first controller only.
dd if=/dev/urandom of=/tmp/pat bs=1M count=4 2>/dev/null
run dd if=/tmp/pat of="$dev" bs=1M seek=200 count=4 oflag=direct conv=fsync || exit 1
mark=$(dmesg_mark)
fabrics_connect "nqn=$NVMF_NQN,hostnqn=$NVMF_HOSTNQN2,hostid=$NVMF_HOSTID2,nr_io_queues=$QUEUES,keep_alive_tmo=5" || exit 1
n=50
while ! ctrl2=$(ctrl_for "$NVMF_NQN" "$NVMF_HOSTNQN2") && [ $n -gt 0 ]; do
	usleep 100000
	n=$((n - 1))
done
[ -n "$ctrl2" ] || {
	fail "no live controller for $NVMF_HOSTNQN2"
	exit 1
}
cid2=$(cat "/sys/class/nvme/$ctrl2/cntlid")
# Its path to namespace 1 (multipath: nvmeXcYn1 under the controller).
n=50
while ! ls -d "/sys/class/nvme/$ctrl2"/nvme*n1 >/dev/null 2>&1 && [ $n -gt 0 ]; do
	usleep 100000
	n=$((n - 1))
done
dmesg_since "$mark"
ls -d /sys/class/nvme/*/nvme*n1 /sys/class/nvme-subsystem/*/nvme*n1 2>/dev/null
[ "$(ctrl_for "$NVMF_NQN" "$(hostnqn)")" = "$ctrl" ] || {
	fail "first controller $ctrl not live with the second connected"
	exit 1
}
[ "$cid2" != "$cid0" ] || {
	fail "second controller $ctrl2 has the first one's cntlid $cid0"
	exit 1
}
if dmesg_since "$mark" | grep -iE 'duplicate|rejecting|unshared'; then
	fail "kernel rejected the second controller's namespace"
	exit 1
fi
ls -d "/sys/class/nvme/$ctrl2"/nvme*n1 >/dev/null 2>&1 || {
	fail "$ctrl2 has no path to namespace 1"
	exit 1
}
run nvme id-ctrl "/dev/$ctrl2" >/tmp/idctrl2.out || exit 1
[ $(($(sed -n 's/^cntlid *: *//p' /tmp/idctrl2.out))) -eq "$cid2" ] || {
	fail "id-ctrl of $ctrl2 reports cntlid $(sed -n 's/^cntlid *: *//p' /tmp/idctrl2.out), sysfs $cid2"
	exit 1
}
ok "second-host ctrl1=$ctrl cntlid1=$cid0 ctrl2=$ctrl2 cntlid2=$cid2 hostnqn2=$NVMF_HOSTNQN2"
# Both carry I/O: round-robin over the two paths, each controller's own
# SMART command counters grow.
subsys=
for s in /sys/class/nvme-subsystem/nvme-subsys*; do
	[ "$(cat "$s/subsysnqn")" = "$NVMF_NQN" ] && subsys=$s
done
echo round-robin >"$subsys/iopolicy" || {
	fail "cannot set iopolicy round-robin on $subsys"
	exit 1
}
b1=$(smart_all "$ctrl")
b2=$(smart_all "$ctrl2")
# (bsrange from the LBA size: with blockalign 512 and a larger minimum
# block size, fio 3.33 reports false verify errors even on a local file)
host_fio "$dev" 16M 512-1M 32 --offset=64M || exit 1
a1=$(smart_all "$ctrl")
a2=$(smart_all "$ctrl2")
echo "NVMF-SMART ctrl=$ctrl before $b1 after $a1"
echo "NVMF-SMART ctrl=$ctrl2 before $b2 after $a2"
for f in hrc hwc; do
	[ "$(field "$a1" $f)" -gt "$(field "$b1" $f)" ] && [ "$(field "$a2" $f)" -gt "$(field "$b2" $f)" ] || {
		fail "round-robin I/O did not reach both controllers ($f): $ctrl $b1 -> $a1, $ctrl2 $b2 -> $a2"
		exit 1
	}
done
ok "both-usable ${ctrl}[$b1 -> $a1] ${ctrl2}[$b2 -> $a2]"
# The first goes; the pattern it wrote reads back through the second.
run nvme disconnect -d "$ctrl" || exit 1
wait_ctrl_gone "$ctrl"
dd if="$dev" of=/tmp/pat.back bs=1M skip=200 count=4 iflag=direct 2>/dev/null || {
	fail "read through $ctrl2 after $ctrl disconnected"
	exit 1
}
cmp /tmp/pat /tmp/pat.back || {
	fail "data written through $ctrl differs when read through $ctrl2"
	exit 1
}
ok "second-host-read ctrl2=$ctrl2 reads what $ctrl wrote"

# ---- 5. a host that is not allowed
mark=$(dmesg_mark)
if fabrics_connect "nqn=$NVMF_NQN,hostnqn=$NVMF_DENIED_HOSTNQN,hostid=$NVMF_DENIED_HOSTID,nr_io_queues=1"; then
	fail "connect from $NVMF_DENIED_HOSTNQN to $NVMF_NQN succeeded"
	exit 1
fi
dmesg_since "$mark" | tee /tmp/denied.dmesg
grep -qE "Connect for subsystem $NVMF_NQN is not allowed, hostnqn: $NVMF_DENIED_HOSTNQN|Connect Invalid Host" /tmp/denied.dmesg || {
	fail "no 'Connect ... not allowed' (Invalid Host) in dmesg"
	exit 1
}
grep -q "ret=16772" /tmp/denied.dmesg || {
	fail "no 'ret=16772' (DNR | 0x184 Connect Invalid Host) in dmesg"
	exit 1
}
if ctrl_for "$NVMF_NQN" "$NVMF_DENIED_HOSTNQN"; then
	fail "a controller exists for $NVMF_DENIED_HOSTNQN"
	exit 1
fi
ok "denied-host $NVMF_DENIED_HOSTNQN: $(grep -m1 -E 'not allowed|Invalid Host' /tmp/denied.dmesg | sed 's/^\[[^]]*\] //') / ret=16772"
# ... while a subsystem without a host list takes it.
host_connect "$NVMF_NQN2" --hostnqn="$NVMF_DENIED_HOSTNQN" --hostid="$NVMF_DENIED_HOSTID" -i 1 || exit 1
dev2=$(host_wait_ns "$NVMF_NQN2") || exit 1
run dd if="$dev2" of=/dev/null bs=1M count=1 iflag=direct || exit 1
ok "denied-host-other-subsystem $NVMF_NQN2 accepts $NVMF_DENIED_HOSTNQN ($dev2)"
host_disconnect_all || exit 1
echo "NVMF-CHECKS-DONE"
