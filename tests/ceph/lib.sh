# Shared by the ceph suite: a one-node cluster (scripts/ceph-cluster.sh) and
# nvmfd gateways on it, all on 127.0.0.1, stopped by their PIDs on exit.
# Usage: source lib.sh BUILD_DIR; ceph_up [cluster options]; gw_start NAME PORT [nvmfd flags]...
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=$1
nvmfd=$build/src/nvmfd/nvmfd
nvmf=$build/src/nvmf/nvmf
work=$(mktemp -d /tmp/nvmf-ceph.XXXXXX)
cluster=$work/cluster
conf=$cluster/ceph.conf
NQN=nqn.2024-01.io.nvmf:ceph
declare -A gw_pid=()
failures=0

cleanup() {
	local n
	for n in "${!gw_pid[@]}"; do kill -9 "${gw_pid[$n]}" 2>/dev/null || true; done
	[ -n "${NVMF_KEEP:-}" ] && cp -r "$work" "$NVMF_KEEP" 2>/dev/null
	[ -f "$cluster/ceph.conf" ] && bash "$top/scripts/ceph-cluster.sh" stop "$cluster" || true
	rm -rf "$work"
}
trap cleanup EXIT

skip_without_ceph() {
	if ! command -v ceph-mon >/dev/null; then
		echo "SKIP: Ceph missing (scripts/setup.sh installs it)"
		exit 77
	fi
	local out
	out=$("$nvmfd" --listen 127.0.0.1:1 --rpc-socket "$work/probe.sock" --subsystem $NQN \
		--namespace rbd:x/y@/nonexistent 2>&1 || true)
	if grep -q "no RBD support" <<<"$out"; then
		echo "SKIP: nvmfd built without librbd"
		exit 77
	fi
}

ceph_up() { CEPH_PORT_BASE=${CEPH_PORT_BASE:-15800} bash "$top/scripts/ceph-cluster.sh" start "$cluster" "$@"; }

t0=$SECONDS
ok() { echo "ok [$((SECONDS - t0)) s]: $*"; }
bad() {
	echo "FAIL [$((SECONDS - t0)) s]: $*"
	failures=$((failures + 1))
	[ $failures -eq 1 ] && cluster_report
	return 0
}

# cluster_report: what the cluster says of itself, for a failure's log.
cluster_report() {
	[ -f "$conf" ] || return 0
	local p
	echo "--- cluster at $((SECONDS - t0)) s:"
	timeout 15 ceph -c "$conf" -s 2>&1 | sed 's/^/  /' || echo "  ceph -s: no answer"
	for p in "$cluster"/pids/*.pid; do
		kill -0 "$(cat "$p")" 2>/dev/null && echo "  $(basename "$p" .pid): running" \
			|| echo "  $(basename "$p" .pid): gone"
	done
	grep -hiE "wrongly|marked.*down|failed|suicide|timed out" "$cluster"/log/osd.*.log "$cluster"/log/mon.a.log \
		2>/dev/null | tail -15 | sed 's/^/  /'
	echo "---"
}

# cluster_wait_serving [SECONDS]: until a client reads the image's header from
# an OSD again; ceph's own recovery is not what the gateways are tested for.
cluster_wait_serving() {
	local limit=${1:-120} start=$SECONDS
	while [ $((SECONDS - start)) -lt "$limit" ]; do
		timeout 15 rbd -c "$conf" info rbd/img >/dev/null 2>&1 && return 0
		sleep 1
	done
	return 1
}

# gw_start NAME PORT [flags...]: an nvmfd exporting the image, waits for "ready".
gw_start() {
	local name=$1 port=$2
	shift 2
	: >"$work/$name.log" # truncated here, not by the background job: no stale "ready" is read
	"$nvmfd" --listen 127.0.0.1:"$port" --rpc-socket "$work/$name.sock" --reactors 2 \
		--subsystem $NQN --namespace "rbd:rbd/img@$conf" "$@" >"$work/$name.log" 2>&1 &
	gw_pid[$name]=$!
	for _ in $(seq 1 300); do
		grep -q "nvmfd: ready" "$work/$name.log" && return 0
		kill -0 "${gw_pid[$name]}" 2>/dev/null || { cat "$work/$name.log"; cluster_report; return 1; }
		sleep 0.1
	done
	cat "$work/$name.log"
	cluster_report
	return 1
}

gw_kill() { kill -9 "${gw_pid[$1]}"; wait "${gw_pid[$1]}" 2>/dev/null || true; unset "gw_pid[$1]"; }
gw_stop() { kill "${gw_pid[$1]}"; wait "${gw_pid[$1]}" 2>/dev/null || true; unset "gw_pid[$1]"; }
addr() { echo "tcp://127.0.0.1:$1/$NQN"; }

finish() {
	if [ $failures -eq 0 ]; then echo "all checks passed"; exit 0; fi
	echo "$failures check(s) failed"
	exit 1
}
