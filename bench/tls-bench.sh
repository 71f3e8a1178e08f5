#!/usr/bin/env bash
# tls-bench.sh: 4 KiB random reads at QD1 and QD32 over TLS 1.3 next to
# plain TCP, nvmfd and `nvmf perf` on loopback.
#
#   bash bench/tls-bench.sh [-t SECONDS] [--build-dir DIR] [--port N] [--namespace SPEC] [--json]
#
# nvmfd (one reactor) is pinned to CPU 0 and nvmf perf to CPU 1 when both
# CPUs are usable.  Cases: plain TCP, TLS_AES_128_GCM_SHA256 (a SHA-256
# PSK) and TLS_AES_256_GCM_SHA384 (a SHA-384 PSK), each at QD1 and QD32.
# Prints IOPS, MiB/s and mean / p50 / p99 latency, and the TLS/plain ratio.
# The TLS here is OpenSSL in userspace unless the kernel has kTLS (CONFIG_TLS).
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
SECS=5
BUILD=$ROOT/build
PORT0=44300
NS=null:1G
JSON=0
while [ $# -gt 0 ]; do
	case "$1" in
	-t) SECS=${2:?}; shift ;;
	--build-dir) BUILD=${2:?}; shift ;;
	--port) PORT0=${2:?}; shift ;;
	--namespace) NS=${2:?}; shift ;;
	--json) JSON=1 ;;
	-h|--help) sed -n 2,12p "$0"; exit 0 ;;
	*) echo "tls-bench: unknown argument '$1'" >&2; exit 2 ;;
	esac
	shift
done
NVMFD=$BUILD/src/nvmfd/nvmfd
NVMF=$BUILD/src/nvmf/nvmf
[ -x "$NVMFD" ] && [ -x "$NVMF" ] || { echo "tls-bench: build first (meson setup $BUILD && ninja -C $BUILD)" >&2; exit 1; }
NQN=nqn.2024-01.io.nvmf:tlsbench
HOST=nqn.2014-08.org.nvmexpress:uuid:7e5b0000-0000-4000-8000-000000000001
# Benchmark keys (fixed, public: never use them for anything else).
K256='NVMeTLSkey-1:01:9PUN6xNVs5sxqi7b/ny7NnIABKpLJzgC+m/JlzVAP2h8rUv7:'
K384='NVMeTLSkey-1:02:5uQIUzSA3cfuvENFJyCKkWFwikq3YV1gUG/qAsP5ALEWGx7jCSu95YBBMWN7WRpDqnvikg==:'
free_port() {
	python3 - "$1" <<'PY'
import socket, sys
for p in range(int(sys.argv[1]), int(sys.argv[1]) + 100):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p)); print(p); break
    except OSError:
        pass
    finally:
        s.close()
PY
}
PIN_T="" PIN_H=""
if python3 -c 'import os,sys; sys.exit(0 if {0,1} <= os.sched_getaffinity(0) else 1)'; then
	PIN_T="taskset -c 0" PIN_H="taskset -c 1"
fi
out=$(mktemp -d)
trap 'kill $tpid 2>/dev/null; wait $tpid 2>/dev/null; rm -rf "$out"' EXIT
plain=$(free_port "$PORT0")
tls=$(free_port $((plain + 1)))
: >"$out/nvmfd.log" # truncated here, not by the background job: no stale "ready" is read
$PIN_T "$NVMFD" --reactors 1 --rpc-socket "$out/rpc.sock" --listen "127.0.0.1:$plain" --listen "127.0.0.1:$tls" --tls required \
	--subsystem $NQN --namespace "$NS" --allow-host $HOST --tls-key "$K256" >"$out/nvmfd.log" 2>&1 &
tpid=$!
for _ in $(seq 100); do grep -q ready "$out/nvmfd.log" && break; sleep 0.05; done
grep -q ready "$out/nvmfd.log" || { cat "$out/nvmfd.log"; exit 1; }

run() { # NAME PORT QD [nvmf options]
	local name=$1 port=$2 qd=$3
	shift 3
	$PIN_H "$NVMF" perf "tcp://127.0.0.1:$port/$NQN" --hostnqn $HOST -q "$qd" -o 4096 -w randread -t "$SECS" --json "$@" \
		>"$out/$name-$qd.json" 2>"$out/$name-$qd.err" || { cat "$out/$name-$qd.err" >&2; return 1; }
}
for qd in 1 32; do
	run plain "$plain" $qd
	run tls-aes128 "$tls" $qd --tls-key "$K256"
done
# The SHA-384 key: the same host, its key swapped over JSON-RPC.
"$NVMF" rpc nvmf_subsystem_add_host -s "$out/rpc.sock" --params "{\"nqn\":\"$NQN\",\"host\":\"$HOST\",\"psk\":\"$K384\"}" >/dev/null
for qd in 1 32; do
	run tls-aes256 "$tls" $qd --tls-key "$K384"
done
python3 - "$out" "$JSON" "$SECS" <<'PY'
import json, os, sys
out, as_json, secs = sys.argv[1], sys.argv[2] == "1", sys.argv[3]
rows = {}
for name in ("plain", "tls-aes128", "tls-aes256"):
    for qd in (1, 32):
        p = os.path.join(out, f"{name}-{qd}.json")
        # nvmf perf prints progress lines before its JSON object
        text = open(p).read()
        d = json.loads(text[text.index("{"):])
        rows[(name, qd)] = d
        if as_json:
            print(json.dumps({"case": name, "qd": qd, "iops": d["iops"], "mib_per_s": d["mib_per_s"],
                              "latency_us": {k: d["latency_us"][k] for k in ("mean", "p50", "p99")}}))
if not as_json:
    print(f"4 KiB randread, {secs} s per case, loopback (nvmfd 1 reactor on CPU 0, nvmf perf on CPU 1)")
    print(f"{'case':<12}{'QD':>4}{'IOPS':>11}{'MiB/s':>9}{'mean us':>10}{'p50 us':>10}{'p99 us':>10}{'vs plain':>10}")
    for (name, qd), d in rows.items():
        base = rows[("plain", qd)]["iops"]
        l = d["latency_us"]
        print(f"{name:<12}{qd:>4}{d['iops']:>11.0f}{d['mib_per_s']:>9.1f}{l['mean']:>10.1f}{l['p50']:>10.1f}"
              f"{l['p99']:>10.1f}{d['iops'] / base if base else 0:>10.2f}")
PY
