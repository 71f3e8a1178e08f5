#!/usr/bin/env bash
# A one-node Ceph cluster on loopback for tests and for trying the RBD backend:
# one mon, one mgr and 1-3 memstore OSDs under DIR, no systemd, cephx on.
#
#   scripts/ceph-cluster.sh start DIR [--osds N] [--pool P] [--image I] [--size S]
#   scripts/ceph-cluster.sh stop DIR          # stops every daemon it started, removes DIR
#   scripts/ceph-cluster.sh pause-osds DIR    # SIGSTOP the OSDs: the cluster stops answering
#   scripts/ceph-cluster.sh resume-osds DIR   # SIGCONT them
#
# Clients use DIR/ceph.conf (it names DIR/keyring, client.admin's key), e.g.
#   rbd -c DIR/ceph.conf ls;  nvmfd --namespace rbd:rbd/img@DIR/ceph.conf
# Memstore OSDs keep whole 4 MiB objects in memory (1.4-2.7 GB per GiB
# written): keep images small.  Ports: CEPH_PORT_BASE (default 15800) and the
# next one for the mon (v2, v1); mgr and OSDs bind in CEPH_PORT_BASE+10..+99.
set -euo pipefail

usage() { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
[ $# -ge 2 ] || usage
cmd=$1 dir=$2
shift 2

pids_of() { cat "$dir"/pids/*.pid 2>/dev/null || true; }

stop_cluster() {
	[ -f "$dir/ceph.conf" ] || { echo "ceph-cluster: $dir holds no cluster" >&2; return 1; }
	local p
	for p in $(pids_of); do kill -CONT "$p" 2>/dev/null || true; kill "$p" 2>/dev/null || true; done
	for _ in $(seq 1 100); do
		local alive=0
		for p in $(pids_of); do kill -0 "$p" 2>/dev/null && alive=1; done
		[ $alive -eq 0 ] && break
		sleep 0.1
	done
	for p in $(pids_of); do kill -9 "$p" 2>/dev/null || true; done
	rm -rf "$dir"
}

signal_osds() {
	local p
	for p in "$dir"/pids/osd.*.pid; do kill "-$1" "$(cat "$p")"; done
}

case $cmd in
stop) stop_cluster; exit ;;
pause-osds) signal_osds STOP; exit ;;
resume-osds) signal_osds CONT; exit ;;
start) ;;
*) usage ;;
esac

osds=1 pool=rbd image=img size=256M
while [ $# -gt 0 ]; do
	case $1 in
	--osds) osds=$2; shift 2 ;;
	--pool) pool=$2; shift 2 ;;
	--image) image=$2; shift 2 ;;
	--size) size=$2; shift 2 ;;
	*) usage ;;
	esac
done
[[ $osds =~ ^[1-3]$ ]] || { echo "ceph-cluster: --osds takes 1..3" >&2; exit 2; }
for t in ceph-mon ceph-mgr ceph-osd ceph rbd monmaptool ceph-authtool; do
	command -v $t >/dev/null || { echo "ceph-cluster: $t missing (scripts/setup.sh installs Ceph)" >&2; exit 1; }
done
[ ! -e "$dir/ceph.conf" ] || { echo "ceph-cluster: $dir already holds a cluster" >&2; exit 1; }

base=${CEPH_PORT_BASE:-15800}
dir=$(mkdir -p "$dir" && cd "$dir" && pwd)
mkdir -p "$dir"/{run,pids,log,mon/a,mgr/x}
fsid=$(cat /proc/sys/kernel/random/uuid)
mon_addr="[v2:127.0.0.1:$base,v1:127.0.0.1:$((base + 1))]"
conf=$dir/ceph.conf
cat >"$conf" <<EOF
[global]
fsid = $fsid
mon_host = $mon_addr
public_addr = 127.0.0.1
ms_bind_port_min = $((base + 10))
ms_bind_port_max = $((base + 99))
auth_cluster_required = cephx
auth_service_required = cephx
auth_client_required = cephx
keyring = $dir/keyring
run_dir = $dir/run
log_file = $dir/log/\$name.log
pid_file = $dir/run/\$name.pid
osd_pool_default_size = 1
osd_pool_default_min_size = 1
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
mon_allow_pool_size_one = true
mon_allow_pool_delete = true
mon_warn_on_pool_no_redundancy = false
osd_crush_chooseleaf_type = 0
mon_data_avail_warn = 2
mon_data_avail_crit = 1
mon_osd_down_out_interval = 0
# A PG whose read lease (this ratio x osd_heartbeat_grace, 16 s by default)
# runs out while its OSD is paused stays "laggy" for good when no peer OSD
# renews it: pause-osds would leave the image's header unreadable.
osd_pool_default_read_lease_ratio = 10
# Clients (gateways, rbd): no admin socket, so that several share a name.
[client]
admin_socket =
[mon]
admin_socket = $dir/run/\$name.asok
mon_data = $dir/mon/\$id
[mgr]
admin_socket = $dir/run/\$name.asok
mgr_data = $dir/mgr/\$id
keyring = $dir/mgr/\$id/keyring
[osd]
admin_socket = $dir/run/\$name.asok
osd_data = $dir/osd/\$id
keyring = $dir/osd/\$id/keyring
osd_objectstore = memstore
memstore_device_bytes = 2147483648
osd_max_object_name_len = 256
osd_max_object_namespace_len = 64
EOF

fail() {
	echo "ceph-cluster: $*; logs in $dir/log" >&2
	local p
	for p in $(pids_of); do kill "$p" 2>/dev/null || true; done
	exit 1
}

ceph-authtool --create-keyring "$dir/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
ceph-authtool "$dir/keyring" --gen-key -n client.admin --cap mon 'allow *' --cap osd 'allow *' \
	--cap mgr 'allow *' --cap mds 'allow *' >/dev/null
monmaptool --create --addv a "$mon_addr" --fsid "$fsid" "$dir/monmap" >/dev/null
ceph-mon -c "$conf" --mkfs -i a --monmap "$dir/monmap" --keyring "$dir/keyring" 2>>"$dir/log/setup.log" \
	|| fail "ceph-mon --mkfs failed"
ceph-mon -c "$conf" -i a -f </dev/null >/dev/null 2>>"$dir/log/mon.a.stderr" &
echo $! >"$dir/pids/mon.a.pid"
c() { timeout 30 ceph -c "$conf" "$@"; }
c -s >/dev/null 2>>"$dir/log/setup.log" || fail "the mon did not answer"

c auth get-or-create mgr.x mon 'allow profile mgr' osd 'allow *' mds 'allow *' -o "$dir/mgr/x/keyring" \
	2>>"$dir/log/setup.log"
ceph-mgr -c "$conf" -i x -f </dev/null >/dev/null 2>>"$dir/log/mgr.x.stderr" &
echo $! >"$dir/pids/mgr.x.pid"

for _ in $(seq 1 "$osds"); do
	uuid=$(cat /proc/sys/kernel/random/uuid)
	id=$(c osd new "$uuid" 2>>"$dir/log/setup.log") || fail "ceph osd new failed"
	mkdir -p "$dir/osd/$id"
	ceph-authtool --create-keyring "$dir/osd/$id/keyring" --gen-key -n "osd.$id" >/dev/null
	c auth add "osd.$id" osd 'allow *' mon 'allow profile osd' mgr 'allow profile osd' \
		-i "$dir/osd/$id/keyring" >/dev/null 2>>"$dir/log/setup.log" || fail "osd.$id's key not added"
	ceph-osd -c "$conf" -i "$id" --mkfs --osd-uuid "$uuid" >>"$dir/log/setup.log" 2>&1 \
		|| fail "ceph-osd --mkfs failed"
	ceph-osd -c "$conf" -i "$id" -f </dev/null >/dev/null 2>>"$dir/log/osd.$id.stderr" &
	echo $! >"$dir/pids/osd.$id.pid"
done

for _ in $(seq 1 120); do
	up=$(c osd stat -f json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["num_up_osds"])' \
		2>/dev/null || echo 0)
	[ "$up" = "$osds" ] && break
	sleep 0.5
done
[ "$up" = "$osds" ] || fail "only $up of $osds OSDs came up"

c osd pool create "$pool" 8 8 >/dev/null 2>>"$dir/log/setup.log" || fail "pool $pool not created"
timeout 60 rbd -c "$conf" pool init "$pool" 2>>"$dir/log/setup.log" || fail "rbd pool init failed"
timeout 60 rbd -c "$conf" create "$pool/$image" --size "$size" --image-feature layering 2>>"$dir/log/setup.log" \
	|| fail "image $pool/$image not created"
echo "ceph-cluster: up in $dir (conf $conf, image $pool/$image, $size, $osds OSD(s))"
