#!/usr/bin/env python3
"""nvmfd's JSON-RPC socket, driven as SPDK's rpc.py drives it, and through
`nvmf rpc`.  usage: test_rpc.py NVMFD NVMF CASE"""

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rpc_client import Client, RpcError  # noqa: E402

NVMFD, NVMF, CASE = sys.argv[1], sys.argv[2], sys.argv[3]
BASE_NQN = "nqn.2024-01.io.nvmf:rpc-base"
NQN = "nqn.2024-01.io.nvmf:rpc"
HOST1 = "nqn.2014-08.org.nvmexpress:uuid:11111111-2222-4333-8444-555555555555"
HOST2 = "nqn.2014-08.org.nvmexpress:uuid:66666666-7777-4888-9999-000000000000"
TMP = tempfile.mkdtemp(prefix="nvmfd-rpc-")
DAEMONS = []  # killed if a check fails


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def tcp_addr(port):
    return {"trtype": "tcp", "adrfam": "ipv4", "traddr": "127.0.0.1", "trsvcid": str(port)}


class Daemon:
    """nvmfd with its RPC socket in the test's directory."""

    def __init__(self, args=None, name="rpc.sock"):
        self.sock = os.path.join(TMP, name)
        argv = [NVMFD, "--reactors", "2", "--rpc-socket", self.sock] + (args or [])
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        DAEMONS.append(self.proc)
        self.port = None
        ready = False
        self.metrics_port = None
        for line in self.proc.stdout:
            if "metrics on http://127.0.0.1:" in line:
                self.metrics_port = int(line.split("127.0.0.1:")[1].split("/")[0])
            sys.stderr.write(line)
            if "listening on tcp 127.0.0.1:" in line and self.port is None:
                self.port = int(line.split("127.0.0.1:")[1].split()[0])
            if "nvmfd: ready" in line:
                ready = True
                break
        assert ready, "nvmfd did not start"
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        for line in self.proc.stdout:
            sys.stderr.write(line)

    def client(self):
        return Client(self.sock)

    def call(self, method, params=None):
        c = self.client()
        try:
            return c.call(method, params)
        finally:
            c.close()

    def error(self, method, params=None):
        c = self.client()
        try:
            return c.error(method, params)
        finally:
            c.close()

    def alive(self):
        assert self.proc.poll() is None, "nvmfd died"
        assert self.call("spdk_get_version")["version"].startswith("nvmfd")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(timeout=30) == 0, "nvmfd exit status %s" % self.proc.returncode
        assert not os.path.exists(self.sock), "socket file left behind"


def started():
    return Daemon(["--listen", "127.0.0.1:0", "--subsystem", BASE_NQN, "--namespace", "ram:1M"])


def state(d):
    """Everything a failed call must leave as it was."""
    return (d.call("nvmf_get_subsystems"), d.call("bdev_get_bdevs"), d.call("nvmf_get_transports"))


def expect_error(d, method, params, code, message=None, data=None):
    e = d.error(method, params)
    assert e["code"] == code, "%s %s: %s, want code %s" % (method, params, e, code)
    if message is not None:
        assert e["message"] == message, "%s: %s, want message %r" % (method, e, message)
    if data is not None:
        assert data in e.get("data", ""), "%s: %s, want %r in data" % (method, e, data)
    return e


def nvmf(*args, check=True):
    r = subprocess.run([NVMF] + list(args), capture_output=True, text=True, timeout=60)
    if check:
        assert r.returncode == 0, "nvmf %s: %s %s" % (" ".join(args), r.stdout, r.stderr)
    return r


def subsystem(d, nqn):
    return d.call("nvmf_get_subsystems", {"nqn": nqn})[0]


# rpc.py sends every flag its command line defines; these are its defaults.
RPCPY_TRANSPORT = {"trtype": "TCP", "c2h_success": True, "no_srq": False, "zcopy": False,
                   "dif_insert_or_strip": False, "no_wr_batching": False, "disable_mappable_bar0": False,
                   "disable_adaptive_irq": False, "disable_shadow_doorbells": False,
                   "disable_command_passthru": False}
RPCPY_SUBSYSTEM = {"allow_any_host": False, "ana_reporting": False, "passthrough": False, "enable_nssr": False}


def case_methods():
    d = started()
    names = d.call("rpc_get_methods")
    for m in ["rpc_get_methods", "spdk_get_version", "framework_wait_init", "framework_get_subsystems",
              "framework_get_config", "nvmf_create_transport", "nvmf_get_transports", "nvmf_create_subsystem",
              "nvmf_delete_subsystem", "nvmf_get_subsystems", "nvmf_subsystem_add_listener",
              "nvmf_subsystem_remove_listener", "nvmf_subsystem_get_listeners", "nvmf_subsystem_add_ns",
              "nvmf_subsystem_remove_ns", "nvmf_subsystem_add_host", "nvmf_subsystem_remove_host",
              "nvmf_subsystem_allow_any_host", "nvmf_subsystem_get_controllers", "nvmf_subsystem_get_qpairs",
              "nvmf_get_stats", "bdev_malloc_create", "bdev_malloc_delete", "bdev_null_create",
              "bdev_null_delete", "bdev_aio_create", "bdev_aio_delete", "bdev_get_bdevs",
              "nvmf_subsystem_terminate_associations", "nvmf_listener_set_offline", "nvmf_listener_set_online",
              "nvmf_subsystem_get_io_stats"]:
        assert m in names, m
    v = d.call("spdk_get_version")
    assert v["version"].startswith("nvmfd ") and isinstance(v["fields"]["major"], int)
    assert d.call("framework_wait_init") is True
    assert d.call("framework_get_subsystems") == [{"subsystem": "bdev", "depends_on": []},
                                                   {"subsystem": "nvmf", "depends_on": ["bdev"]}]

    # Transport: rpc.py's defaults accepted once (queue depth and I/O queues become the
    # target's limits), then "already exists" as SPDK says.
    assert d.call("nvmf_create_transport", dict(RPCPY_TRANSPORT, max_queue_depth=128, max_io_qpairs_per_ctrlr=4)) is True
    expect_error(d, "nvmf_create_transport", {"trtype": "TCP"}, -32603, "Transport type 'TCP' already exists")
    t = d.call("nvmf_get_transports")
    assert len(t) == 1 and t[0]["trtype"] == "TCP" and t[0]["max_queue_depth"] == 128
    assert t[0]["max_io_qpairs_per_ctrlr"] == 4
    assert d.call("nvmf_get_transports", {"trtype": "tcp"}) == t
    expect_error(d, "nvmf_get_transports", {"trtype": "RDMA"}, -19)

    # bdevs: the command-line namespace got a name; create one of each kind.
    before = {b["name"] for b in d.call("bdev_get_bdevs")}
    assert len(before) == 1
    assert d.call("bdev_malloc_create", {"num_blocks": 2048, "block_size": 512, "name": "Malloc9"}) == "Malloc9"
    auto = d.call("bdev_malloc_create", {"num_blocks": 256, "block_size": 4096})
    assert auto.startswith("Malloc") and auto not in before
    assert d.call("bdev_null_create", {"name": "Null0", "num_blocks": 1 << 20, "block_size": 512}) == "Null0"
    path = os.path.join(TMP, "aio.img")
    with open(path, "wb") as f:
        f.truncate(4 << 20)
    assert d.call("bdev_aio_create", {"filename": path, "name": "AIO0", "readonly": False,
                                      "fallocate": False}) == "AIO0"
    bdevs = {b["name"]: b for b in d.call("bdev_get_bdevs")}
    assert bdevs["Malloc9"]["num_blocks"] == 2048 and bdevs["Malloc9"]["block_size"] == 512
    assert bdevs[auto]["block_size"] == 4096 and bdevs[auto]["num_blocks"] == 256
    assert bdevs["Null0"]["product_name"] == "Null disk"
    assert bdevs["AIO0"]["num_blocks"] * bdevs["AIO0"]["block_size"] == 4 << 20
    assert bdevs["AIO0"]["driver_specific"]["aio"]["filename"] == path
    assert not bdevs["Malloc9"]["claimed"]
    assert [b["name"] for b in d.call("bdev_get_bdevs", {"name": "Null0"})] == ["Null0"]

    # A subsystem with everything rpc.py can say about it.
    params = dict(RPCPY_SUBSYSTEM, nqn=NQN, serial_number="SN-RPC-1", model_number="Model RPC",
                  max_namespaces=3, min_cntlid=5, max_cntlid=10)
    assert d.call("nvmf_create_subsystem", params) is True
    s = subsystem(d, NQN)
    assert s["subtype"] == "NVMe" and s["serial_number"] == "SN-RPC-1" and s["model_number"] == "Model RPC"
    assert s["allow_any_host"] is False and s["max_namespaces"] == 3
    assert (s["min_cntlid"], s["max_cntlid"]) == (5, 10) and s["namespaces"] == [] and s["hosts"] == []

    # Namespaces with explicit identifiers, and one with the lowest free NSID.
    ns = {"bdev_name": "Malloc9", "nsid": 3, "nguid": "0123456789ABCDEF0123456789ABCDEF",
          "eui64": "0011223344556677", "uuid": "b5b2e6d2-4c1a-4f51-9d7e-2f9a1c3b4d5e",
          "no_auto_visible": False, "hide_metadata": False}
    assert d.call("nvmf_subsystem_add_ns", {"nqn": NQN, "namespace": ns}) == 3
    assert d.call("nvmf_subsystem_add_ns", {"nqn": NQN, "namespace": {"bdev_name": "Null0"}}) == 1
    got = {n["nsid"]: n for n in subsystem(d, NQN)["namespaces"]}
    assert sorted(got) == [1, 3]
    assert got[3]["bdev_name"] == "Malloc9" and got[3]["nguid"] == ns["nguid"]
    assert got[3]["eui64"] == ns["eui64"] and got[3]["uuid"] == ns["uuid"]
    # Without a uuid the namespace carries its bdev's, as in SPDK.
    assert got[1]["uuid"] == bdevs["Null0"]["uuid"]
    assert [b["claimed"] for b in d.call("bdev_get_bdevs", {"name": "Malloc9"})] == [True]
    # max_namespaces 3: a third fits, a fourth does not.
    assert d.call("nvmf_subsystem_add_ns", {"nqn": NQN, "namespace": {"bdev_name": "AIO0"}}) == 2
    expect_error(d, "nvmf_subsystem_add_ns", {"nqn": NQN, "namespace": {"bdev_name": auto}}, -32602,
                 "Invalid parameters", "max_namespaces")
    assert d.call("nvmf_subsystem_remove_ns", {"nqn": NQN, "nsid": 2}) is True
    assert sorted(n["nsid"] for n in subsystem(d, NQN)["namespaces"]) == [1, 3]

    # Hosts.
    assert d.call("nvmf_subsystem_add_host", {"nqn": NQN, "host": HOST1}) is True
    assert d.call("nvmf_subsystem_add_host", {"nqn": NQN, "host": HOST2}) is True
    assert sorted(h["nqn"] for h in subsystem(d, NQN)["hosts"]) == sorted([HOST1, HOST2])
    assert d.call("nvmf_subsystem_remove_host", {"nqn": NQN, "host": HOST2}) is True
    assert [h["nqn"] for h in subsystem(d, NQN)["hosts"]] == [HOST1]
    assert d.call("nvmf_subsystem_allow_any_host", {"nqn": NQN, "allow_any_host": True}) is True
    assert subsystem(d, NQN)["allow_any_host"] is True

    # Listeners come and go, and so does the socket behind them.
    port = free_port()
    assert d.call("nvmf_subsystem_add_listener", {"nqn": NQN, "listen_address": tcp_addr(port),
                                                  "secure_channel": False}) is True
    lst = d.call("nvmf_subsystem_get_listeners", {"nqn": NQN})
    addrs = [x["address"] for x in lst]
    want = {"trtype": "TCP", "adrfam": "IPv4", "traddr": "127.0.0.1", "trsvcid": str(port)}
    assert want in addrs and all(x["ana_states"] for x in lst)
    assert want in subsystem(d, NQN)["listen_addresses"]
    # The base subsystem is not exported there.
    assert want not in subsystem(d, BASE_NQN)["listen_addresses"]
    socket.create_connection(("127.0.0.1", port), timeout=5).close()
    assert d.call("nvmf_subsystem_remove_listener", {"nqn": NQN, "listen_address": tcp_addr(port)}) is True
    assert want not in subsystem(d, NQN)["listen_addresses"]
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
        raise AssertionError("port still open after its last subsystem left")
    except ConnectionRefusedError:
        pass

    assert d.call("nvmf_subsystem_get_controllers", {"nqn": NQN}) == []
    assert d.call("nvmf_subsystem_get_qpairs", {"nqn": NQN}) == []
    io = d.call("nvmf_subsystem_get_io_stats", {"nqn": NQN})
    assert io["controllers"] == [] and [n["nsid"] for n in io["namespaces"]] == [1, 3]
    assert all(n["read_ops"] == n["write_ops"] == n["bytes_read"] == 0 for n in io["namespaces"])
    st = d.call("nvmf_get_stats")
    assert st["poll_groups"] and "current_io_qpairs" in st["poll_groups"][0]
    assert d.call("nvmf_subsystem_terminate_associations", {"nqn": NQN}) == {"terminated": 0}

    # Deleting a bdev takes its namespace away first (SPDK hot-removes it).
    assert d.call("bdev_malloc_delete", {"name": "Malloc9"}) is True
    assert [n["nsid"] for n in subsystem(d, NQN)["namespaces"]] == [1]
    assert d.call("bdev_null_delete", {"name": "Null0"}) is True
    assert d.call("bdev_aio_delete", {"name": "AIO0"}) is True
    assert subsystem(d, NQN)["namespaces"] == []
    assert {b["name"] for b in d.call("bdev_get_bdevs")} == before | {auto}

    cfg = d.call("framework_get_config", {"name": "nvmf"})
    assert any(c["method"] == "nvmf_create_subsystem" and c["params"]["nqn"] == NQN for c in cfg)
    assert any(c["method"] == "bdev_malloc_create" and c["params"]["name"] == auto
               for c in d.call("framework_get_config", {"name": "bdev"}))

    assert d.call("nvmf_delete_subsystem", {"nqn": NQN}) is True
    assert NQN not in [s["nqn"] for s in d.call("nvmf_get_subsystems")]
    d.alive()
    d.stop()


def case_defaults():
    """Parameters that mean nothing to nvmfd: accepted at SPDK's default, refused otherwise, by name."""
    d = started()
    path = os.path.join(TMP, "ro.img")
    with open(path, "wb") as f:
        f.truncate(1 << 20)
    assert d.call("bdev_malloc_create", {"num_blocks": 64, "block_size": 512, "name": "M", "md_size": 0,
                                         "md_interleave": False, "dif_type": 0, "dif_is_head_of_md": False,
                                         "optimal_io_boundary": 0}) == "M"
    assert d.call("nvmf_create_subsystem", dict(RPCPY_SUBSYSTEM, nqn=NQN)) is True
    assert d.call("nvmf_subsystem_add_listener", {"nqn": NQN, "listen_address": tcp_addr(free_port()),
                                                  "secure_channel": False, "ana_state": "optimized"}) is True
    snap = state(d)
    refused = [
        ("nvmf_create_transport", {"trtype": "TCP", "zcopy": True}, "zcopy"),
        ("nvmf_create_transport", {"trtype": "TCP", "c2h_success": False}, "c2h_success"),
        ("nvmf_create_transport", {"trtype": "TCP", "max_queue_depth": 4096}, "max_queue_depth"),
        ("nvmf_create_transport", {"trtype": "TCP", "in_capsule_data_size": 4096}, "in_capsule_data_size"),
        ("nvmf_create_transport", {"trtype": "TCP", "dif_insert_or_strip": True}, "dif_insert_or_strip"),
        ("nvmf_create_subsystem", dict(RPCPY_SUBSYSTEM, nqn=NQN + "2", passthrough=True), "passthrough"),
        ("nvmf_create_subsystem", {"nqn": NQN + "2", "tgt_name": "other"}, "tgt_name"),
        ("nvmf_subsystem_add_ns", {"nqn": NQN, "namespace": {"bdev_name": "M", "no_auto_visible": True}},
         "no_auto_visible"),
        ("nvmf_subsystem_add_ns", {"nqn": NQN, "namespace": {"bdev_name": "M", "ptpl_file": "/tmp/p"}},
         "ptpl_file"),
        # PSKs and DH-HMAC-CHAP secrets are taken as themselves, not keyring names.
        ("nvmf_subsystem_add_host", {"nqn": NQN, "host": HOST1, "psk": "key0"}, "psk"),
        ("nvmf_subsystem_add_host", {"nqn": NQN, "host": HOST1, "dhchap_key": "key0"}, "dhchap_key"),
        ("bdev_aio_create", {"filename": path, "name": "RO", "readonly": True}, "readonly"),
        ("bdev_malloc_create", {"num_blocks": 64, "block_size": 512, "md_size": 8}, "md_size"),
        ("bdev_null_create", {"name": "N", "num_blocks": 64, "block_size": 512, "dif_type": 1}, "dif_type"),
    ]
    for method, params, name in refused:
        expect_error(d, method, params, -32602, "Invalid parameters", "'%s'" % name)
    assert state(d) == snap, "a refused call changed something"
    d.alive()
    d.stop()


def case_bad_input():
    d = started()
    assert d.call("bdev_malloc_create", {"num_blocks": 64, "block_size": 512, "name": "M"}) == "M"
    assert d.call("bdev_malloc_create", {"num_blocks": 64, "block_size": 512, "name": "M2"}) == "M2"
    assert d.call("nvmf_create_subsystem", {"nqn": NQN, "allow_any_host": True}) is True
    assert d.call("nvmf_subsystem_add_ns", {"nqn": NQN, "namespace": {"bdev_name": "M", "nsid": 1}}) == 1
    port = free_port()
    assert d.call("nvmf_subsystem_add_listener", {"nqn": NQN, "listen_address": tcp_addr(port)}) is True
    assert d.call("nvmf_subsystem_add_host", {"nqn": NQN, "host": HOST1}) is True
    snap = state(d)
    missing = "nqn.2024-01.io.nvmf:missing"
    cases = [
        ("no_such_method", None, -32601, "Method not found"),
        ("nvmf_create_subsystem", None, -32602, "Invalid parameters"),
        ("nvmf_create_subsystem", {"nqn": 42}, -32602, "Invalid parameters"),
        ("nvmf_create_subsystem", {"nqn": NQN + "x", "allow_any_host": "yes"}, -32602, "Invalid parameters"),
        ("nvmf_create_subsystem", {"nqn": NQN + "x", "bogus": 1}, -32602, "Invalid parameters"),
        ("nvmf_create_subsystem", {"nqn": "not-an-nqn"}, -32603, "Unable to create subsystem not-an-nqn"),
        ("nvmf_create_subsystem", {"nqn": "nqn.2024-13.io.bad:month"}, -32603, None),
        ("nvmf_create_subsystem", {"nqn": "nqn.2024-01.io.x:" + "a" * 250}, -32603, None),
        ("nvmf_create_subsystem", {"nqn": NQN}, -32603, "Unable to create subsystem " + NQN),
        ("nvmf_create_subsystem", {"nqn": NQN + "x", "min_cntlid": 10, "max_cntlid": 5}, -32602,
         "Invalid cntlid range [10-5]"),
        ("nvmf_create_subsystem", {"nqn": NQN + "x", "serial_number": "S" * 21}, -32602, "Invalid parameters"),
        ("nvmf_delete_subsystem", {"nqn": missing}, -32602, "Invalid parameters"),
        ("nvmf_get_subsystems", {"nqn": missing}, -32602, "Invalid parameters"),
        ("nvmf_subsystem_add_ns", {"nqn": missing, "namespace": {"bdev_name": "M2"}}, -32602,
         "Subsystem with NQN '%s' not found" % missing),
        ("nvmf_subsystem_add_ns", {"nqn": NQN, "namespace": {"bdev_name": "NoSuchBdev"}}, -32602,
         "Invalid parameters"),
        ("nvmf_subsystem_add_ns", {"nqn": NQN, "namespace": {"bdev_name": "M2", "nsid": 1}}, -32602,
         "Invalid parameters"),
        ("nvmf_subsystem_add_ns", {"nqn": NQN, "namespace": {"bdev_name": "M2", "nguid": "xyz"}}, -32602,
         "Invalid nguid"),
        ("nvmf_subsystem_add_ns", {"nqn": NQN, "namespace": {"bdev_name": "M2", "eui64": "00"}}, -32602,
         "Invalid eui64"),
        ("nvmf_subsystem_add_ns", {"nqn": NQN, "namespace": {"bdev_name": "M2", "uuid": "nope"}}, -32602,
         "Invalid parameters"),
        ("nvmf_subsystem_add_ns", {"nqn": NQN, "namespace": {"nsid": 4}}, -32602, "Invalid parameters"),
        ("nvmf_subsystem_add_ns", {"nqn": NQN, "namespace": "M2"}, -32602, "Invalid parameters"),
        ("nvmf_subsystem_remove_ns", {"nqn": NQN, "nsid": 9}, -32602, "Invalid parameters"),
        ("nvmf_subsystem_remove_ns", {"nqn": NQN, "nsid": "1"}, -32602, "Invalid parameters"),
        ("nvmf_subsystem_add_listener", {"nqn": NQN, "listen_address": tcp_addr(port)}, -32602,
         "Invalid parameters"),
        ("nvmf_subsystem_add_listener", {"nqn": NQN, "listen_address": dict(tcp_addr(port), traddr="1.2.3")},
         -32602, "Invalid parameters"),
        ("nvmf_subsystem_add_listener", {"nqn": NQN, "listen_address": dict(tcp_addr(port), trtype="RDMA")},
         -32602, "Invalid parameters"),
        ("nvmf_subsystem_add_listener", {"nqn": NQN, "listen_address": dict(tcp_addr(port), trsvcid="99999")},
         -32602, "Invalid parameters"),
        ("nvmf_subsystem_add_listener", {"nqn": NQN}, -32602, "Invalid parameters"),
        ("nvmf_subsystem_remove_listener", {"nqn": NQN, "listen_address": tcp_addr(free_port())}, -32602,
         "Invalid parameters"),
        ("nvmf_subsystem_add_host", {"nqn": NQN, "host": "not a host nqn"}, -32602, "Invalid parameters"),
        ("nvmf_subsystem_remove_host", {"nqn": NQN, "host": HOST2}, -32603, "Internal error"),
        ("nvmf_subsystem_allow_any_host", {"nqn": NQN}, -32602, "Invalid parameters"),
        ("nvmf_subsystem_terminate_associations", {"nqn": NQN, "cntlid": 77}, -32602, "Invalid parameters"),
        ("nvmf_listener_set_online", {"listen_address": tcp_addr(port)}, -32602, "Invalid parameters"),
        ("bdev_malloc_create", {"num_blocks": 64, "block_size": 512, "name": "M"}, -17, "File exists"),
        ("bdev_malloc_create", {"num_blocks": 64, "block_size": 1000}, -22, "Invalid argument"),
        ("bdev_malloc_create", {"num_blocks": -1, "block_size": 512}, -22, "Invalid argument"),
        ("bdev_malloc_delete", {"name": "NoSuchBdev"}, -19, "No such device"),
        ("bdev_null_delete", {"name": "M"}, -19, "No such device"),
        ("bdev_aio_create", {"filename": os.path.join(TMP, "absent.img"), "name": "A"}, -22, None),
        ("bdev_get_bdevs", {"name": "NoSuchBdev"}, -19, "No such device"),
        ("framework_get_config", {"name": "iscsi"}, -32602, None),
        ("spdk_get_version", {"extra": 1}, -32602, "Invalid parameters"),
    ]
    for method, params, code, message in cases:
        expect_error(d, method, params, code, message)
    # Parameters as an array: our methods take names.
    c = d.client()
    c.send_raw(json.dumps({"jsonrpc": "2.0", "method": "nvmf_get_subsystems", "id": 1, "params": [NQN]}))
    r = c.recv()
    assert r["id"] == 1 and r["error"]["code"] == -32602, r
    c.close()
    assert state(d) == snap, "a failed call changed something"
    # The host side is unharmed.
    nvmf("list", "tcp://127.0.0.1:%d/%s" % (port, NQN), "--hostnqn", HOST1)
    d.alive()
    d.stop()


def case_framing():
    d = started()
    # Requests in one write are answered in order.
    c = d.client()
    c.send_raw("".join(json.dumps(c.request(m, req_id=i), indent=2)
                       for i, m in enumerate(["spdk_get_version", "no_such", "framework_wait_init"])))
    rs = [c.recv() for _ in range(3)]
    assert [r["id"] for r in rs] == [0, 1, 2]
    assert "result" in rs[0] and rs[1]["error"]["code"] == -32601 and rs[2]["result"] is True
    # A batch: an array of answers, none for a notification.
    c.send_raw(json.dumps([c.request("framework_wait_init", req_id="a"),
                           {"jsonrpc": "2.0", "method": "framework_wait_init"},
                           c.request("no_such", req_id="b")]))
    r = c.recv()
    assert isinstance(r, list) and [x["id"] for x in r] == ["a", "b"] and r[1]["error"]["code"] == -32601
    c.send_raw("[]")
    r = c.recv()
    assert r["error"]["code"] == -32600 and r["id"] is None
    # A notification alone gets nothing: the next answer is for the next request.
    c.send_raw(json.dumps({"jsonrpc": "2.0", "method": "spdk_get_version"}))
    c.send_raw(json.dumps(c.request("framework_wait_init", req_id=77)))
    assert c.recv()["id"] == 77
    # Invalid requests.
    for req in [{"jsonrpc": "1.0", "method": "spdk_get_version", "id": 5},
                {"jsonrpc": "2.0", "method": 5, "id": 5},
                {"jsonrpc": "2.0", "id": 5},
                {"jsonrpc": "2.0", "method": "spdk_get_version", "id": 5, "extra": True},
                {"jsonrpc": "2.0", "method": "spdk_get_version", "id": 5, "params": "x"}]:
        c.send_raw(json.dumps(req))
        r = c.recv()
        assert r["error"] == {"code": -32600, "message": "Invalid request"} and r["id"] == 5, (req, r)
    c.send_raw("42 ")
    r = c.recv()
    assert r["error"]["code"] == -32600 and r["id"] is None
    c.close()

    # Garbage: "Parse error", then the server closes (a stream cannot resynchronise).
    g = d.client()
    g.send_raw("this is not json\n")
    r = g.recv()
    assert r["error"] == {"code": -32700, "message": "Parse error"} and r["id"] is None
    assert g.recv() is None
    g.close()
    g = d.client()
    g.send_raw(b'{"jsonrpc": "2.0", "method": "x\xff\x00", "id": 1}')
    r = g.recv()
    assert r is None or r["error"]["code"] in (-32700, -32601), r
    g.close()

    # A client that shuts down its sending side after its requests still gets every answer, then EOF.
    # nvmfd is stopped meanwhile so that it finds the requests and the EOF at once.
    hc = socket.socket(socket.AF_UNIX)
    d.proc.send_signal(signal.SIGSTOP)
    try:
        hc.connect(d.sock)
        hc.sendall(("".join(json.dumps({"jsonrpc": "2.0", "method": "framework_wait_init", "id": i})
                            for i in range(20))).encode())
        hc.shutdown(socket.SHUT_WR)
    finally:
        d.proc.send_signal(signal.SIGCONT)
    got = recv_until_eof(hc)
    hc.close()
    assert [json.loads(line)["id"] for line in got.decode().splitlines()] == list(range(20)), got

    # Half a request, then gone; a client that sends nothing stays connected meanwhile.
    idle = d.client()
    h = d.client()
    h.send_raw('{"jsonrpc": "2.0", "method": "nvmf_create_subsystem", "params": {"nqn": "%s"' % NQN)
    h.close()
    d.alive()
    assert NQN not in [s["nqn"] for s in d.call("nvmf_get_subsystems")]

    # Over 1 MiB: refused with a parse error; just under: served.
    big = d.client()
    payload = '{"jsonrpc":"2.0","method":"bdev_get_bdevs","id":1,"params":{"name":"%s"}}' % ("a" * ((1 << 20) + 4096))
    try:
        big.send_raw(payload)
    except (BrokenPipeError, ConnectionResetError):
        pass
    r = big.recv()
    assert r is not None and r["error"]["code"] == -32700, r
    big.close()
    ok = d.client()
    ok.send_raw('{"jsonrpc":"2.0","method":"bdev_get_bdevs","id":2,"params":{"name":"%s"}}' % ("b" * 900000))
    r = ok.recv()
    assert r["id"] == 2 and r["error"]["code"] == -19
    ok.close()

    # Many clients at once, each answered; one over the limit is turned away, the rest unharmed.
    many = [d.client() for _ in range(63)]  # with idle: 64, SPDK's limit
    for i, m in enumerate(many):
        m.send_raw(json.dumps(m.request("framework_wait_init", req_id=i)))
    for i, m in enumerate(many):
        r = m.recv()
        assert r == {"jsonrpc": "2.0", "id": i, "result": True}, r
    extra = Client(d.sock)
    try:
        extra.send_raw(json.dumps(extra.request("framework_wait_init")))
        assert extra.recv() is None
    except (BrokenPipeError, ConnectionResetError):
        pass
    extra.close()
    # At the limit, clients that close free their places for the next at once, however
    # soon those come (rpc.py opens one connection per call).
    for m in many:
        m.close()
    many = [d.client() for _ in range(63)]
    for i, m in enumerate(many):
        m.send_raw(json.dumps(m.request("framework_wait_init", req_id=100 + i)))
    for i, m in enumerate(many):
        r = m.recv()
        assert r == {"jsonrpc": "2.0", "id": 100 + i, "result": True}, (i, r)
    for m in many:
        m.close()
    idle.close()
    d.alive()
    d.stop()


def recv_until_eof(sock):
    """Everything the peer sends until it closes."""
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk


def save_config(d):
    """What rpc.py save_config does: framework_get_subsystems, then framework_get_config for each."""
    c = d.client()
    subs = c.call("framework_get_subsystems")
    cfg = {"subsystems": [{"subsystem": s["subsystem"],
                           "config": c.call("framework_get_config", {"name": s["subsystem"]})} for s in subs]}
    c.close()
    return cfg


def case_save_config():
    d = started()
    path = os.path.join(TMP, "disk.img")
    with open(path, "wb") as f:
        f.truncate(2 << 20)
    d.call("bdev_aio_create", {"filename": path, "name": "Disk"})
    d.call("bdev_malloc_create", {"num_blocks": 128, "block_size": 4096, "name": "Ram"})
    d.call("nvmf_create_subsystem", {"nqn": NQN, "serial_number": "SAVED1", "max_namespaces": 8,
                                     "min_cntlid": 3, "max_cntlid": 300})
    d.call("nvmf_subsystem_add_host", {"nqn": NQN, "host": HOST1})
    d.call("nvmf_subsystem_add_ns", {"nqn": NQN, "namespace": {"bdev_name": "Disk", "nsid": 4}})
    d.call("nvmf_subsystem_add_ns", {"nqn": NQN, "namespace": {"bdev_name": "Ram"}})
    port = free_port()
    d.call("nvmf_subsystem_add_listener", {"nqn": NQN, "listen_address": tcp_addr(port)})
    disc_port = free_port()
    d.call("nvmf_subsystem_add_listener", {"nqn": "nqn.2014-08.org.nvmexpress.discovery",
                                           "listen_address": tcp_addr(disc_port)})
    before = state(d)
    saved = os.path.join(TMP, "saved.json")
    with open(saved, "w") as f:
        json.dump(save_config(d), f, indent=2)
    d.stop()

    d2 = Daemon(["--config", saved], name="rpc2.sock")
    after = state(d2)
    assert after[0] == before[0], "subsystems differ:\n%s\n%s" % (before[0], after[0])
    strip = lambda bs: [{k: v for k, v in b.items()} for b in bs]  # noqa: E731
    assert strip(after[1]) == strip(before[1]), "bdevs differ"
    # The host finds it all where it was.
    out = json.loads(nvmf("list", "tcp://127.0.0.1:%d/%s" % (port, NQN), "--hostnqn", HOST1, "--json").stdout)
    assert sorted(n["nsid"] for n in out["namespaces"]) == [1, 4]
    disc = json.loads(nvmf("discover", "tcp://127.0.0.1:%d" % disc_port, "--json").stdout)
    assert disc["genctr"] >= 1
    d2.stop()

    # nvmetcli's layout stays accepted.
    legacy = os.path.join(TMP, "nvmetcli.json")
    with open(legacy, "w") as f:
        json.dump({"hosts": [], "ports": [{"portid": 1, "addr": {"trtype": "tcp", "adrfam": "ipv4",
                                                                "traddr": "127.0.0.1", "trsvcid": str(port)},
                                          "subsystems": [NQN]}],
                   "subsystems": [{"nqn": NQN, "attr": {"allow_any_host": "1"},
                                   "namespaces": [{"nsid": 2, "enable": 1, "device": {"path": "ram:1M"}}]}]}, f)
    d3 = Daemon(["--config", legacy], name="rpc3.sock")
    s = d3.call("nvmf_get_subsystems", {"nqn": NQN})[0]
    assert [n["nsid"] for n in s["namespaces"]] == [2] and s["allow_any_host"] is True
    d3.stop()


def case_cli():
    d = started()
    sock = ["-s", d.sock]
    out = nvmf("rpc", "spdk_get_version", *sock).stdout
    assert "version: nvmfd" in out, out
    assert nvmf("rpc", "bdev_malloc_create", *sock, "--num-blocks", "2048", "--block-size", "512",
                "--name", "CliDisk").stdout.strip() == "CliDisk"
    assert nvmf("rpc", "nvmf_create_subsystem", *sock, "--nqn", NQN, "--allow-any-host", "true",
                "--serial-number", '"12345"').stdout.strip() == "ok"
    assert subsystem(d, NQN)["serial_number"] == "12345"
    assert nvmf("rpc", "nvmf_subsystem_add_ns", *sock, "--nqn", NQN, "--namespace.bdev-name", "CliDisk",
                "--namespace.nsid", "6").stdout.strip() == "6"
    port = free_port()
    nvmf("rpc", "nvmf_subsystem_add_listener", *sock, "--nqn", NQN, "--listen-address.trtype", "tcp",
         "--listen-address.traddr", "127.0.0.1", "--listen-address.trsvcid", str(port))
    assert json.loads(nvmf("rpc", "nvmf_get_subsystems", *sock, "--nqn", NQN, "--json").stdout) == \
        d.call("nvmf_get_subsystems", {"nqn": NQN})
    human = nvmf("rpc", "nvmf_get_subsystems", *sock, "--nqn", NQN).stdout
    assert "serial_number: 12345" in human and "bdev_name: CliDisk" in human and "trsvcid: %d" % port in human
    assert json.loads(nvmf("rpc", "bdev_get_bdevs", *sock, "--params", '{"name": "CliDisk"}',
                           "--json").stdout)[0]["num_blocks"] == 2048
    r = nvmf("rpc", "no_such_method", *sock, check=False)
    assert r.returncode == 1 and "Method not found (-32601)" in r.stderr, r.stderr
    r = nvmf("rpc", "nvmf_subsystem_remove_ns", *sock, "--nqn", NQN, "--nsid", "99", check=False)
    assert r.returncode == 1 and "Invalid parameters (-32602)" in r.stderr
    r = nvmf("rpc", "spdk_get_version", "-s", os.path.join(TMP, "absent.sock"), check=False)
    assert r.returncode == 1 and "absent.sock" in r.stderr
    # Every method is reachable: each answers (with a result or its own error), none is "not found".
    for m in d.call("rpc_get_methods"):
        if m in ("nvmf_delete_subsystem",):
            continue
        r = nvmf("rpc", m, *sock, "--json", check=False)
        assert r.returncode in (0, 1) and "-32601" not in r.stderr, (m, r.stdout, r.stderr)
        json.loads(r.stdout)
    d.alive()
    d.stop()


def case_host():
    """Run-time changes reach hosts: namespaces, hosts, listeners (the nvmf command as the host)."""
    d = started()
    d.call("bdev_malloc_create", {"num_blocks": 2048, "block_size": 512, "name": "A"})
    d.call("bdev_malloc_create", {"num_blocks": 4096, "block_size": 512, "name": "B"})
    d.call("nvmf_create_subsystem", {"nqn": NQN})
    d.call("nvmf_subsystem_add_host", {"nqn": NQN, "host": HOST1})
    d.call("nvmf_subsystem_add_ns", {"nqn": NQN, "namespace": {"bdev_name": "A"}})
    port = free_port()
    uri = "tcp://127.0.0.1:%d/%s" % (port, NQN)
    disc_uri = "tcp://127.0.0.1:%d" % port
    d.call("nvmf_subsystem_add_listener", {"nqn": NQN, "listen_address": tcp_addr(port)})

    def nsids():
        return sorted(n["nsid"] for n in json.loads(nvmf("list", uri, "--hostnqn", HOST1, "--json").stdout)["namespaces"])

    def genctr():
        return json.loads(nvmf("discover", disc_uri, "--hostnqn", HOST1, "--json").stdout)["genctr"]

    assert nsids() == [1]
    g0 = genctr()
    d.call("nvmf_subsystem_add_ns", {"nqn": NQN, "namespace": {"bdev_name": "B", "nsid": 7}})
    assert nsids() == [1, 7]
    data = os.path.join(TMP, "block")
    with open(data, "wb") as f:
        f.write(os.urandom(512))
    nvmf("write", uri, "--hostnqn", HOST1, "--nsid", "7", "--lba", "3", "-i", data)
    back = os.path.join(TMP, "back")
    nvmf("read", uri, "--hostnqn", HOST1, "--nsid", "7", "--lba", "3", "--count", "1", "-o", back)
    assert open(back, "rb").read() == open(data, "rb").read()
    d.call("nvmf_subsystem_remove_ns", {"nqn": NQN, "nsid": 7})
    assert nsids() == [1]
    # The same bdev again: its data survived the namespace.
    d.call("nvmf_subsystem_add_ns", {"nqn": NQN, "namespace": {"bdev_name": "B", "nsid": 2}})
    nvmf("read", uri, "--hostnqn", HOST1, "--nsid", "2", "--lba", "3", "--count", "1", "-o", back)
    assert open(back, "rb").read() == open(data, "rb").read()

    # A second listener moves the discovery log's generation counter.
    port2 = free_port()
    d.call("nvmf_subsystem_add_listener", {"nqn": NQN, "listen_address": tcp_addr(port2)})
    assert genctr() > g0
    nvmf("list", "tcp://127.0.0.1:%d/%s" % (port2, NQN), "--hostnqn", HOST1)

    # A host removed is refused at its next Connect; one never allowed is refused too.
    assert nvmf("list", uri, "--hostnqn", HOST2, check=False).returncode != 0
    d.call("nvmf_subsystem_remove_host", {"nqn": NQN, "host": HOST1})
    assert nvmf("list", uri, "--hostnqn", HOST1, check=False).returncode != 0
    d.call("nvmf_subsystem_add_host", {"nqn": NQN, "host": HOST1})
    nvmf("list", uri, "--hostnqn", HOST1)

    # A listener off line refuses connections; back on line it serves again.
    d.call("nvmf_listener_set_offline", {"listen_address": tcp_addr(port)})
    assert nvmf("list", uri, "--hostnqn", HOST1, "--timeout", "2000", check=False).returncode != 0
    assert tcp_addr(port)["trsvcid"] not in [a["trsvcid"] for a in subsystem(d, NQN)["listen_addresses"]]
    nvmf("list", "tcp://127.0.0.1:%d/%s" % (port2, NQN), "--hostnqn", HOST1)

    def discovered():
        log = json.loads(nvmf("discover", "tcp://127.0.0.1:%d" % port2, "--hostnqn", HOST1, "--json").stdout)
        return {int(r["trsvcid"]) for r in log["records"]}
    assert port not in discovered() and port2 in discovered()
    d.call("nvmf_listener_set_online", {"listen_address": tcp_addr(port)})
    assert nsids() == [1, 2]
    assert port in discovered()
    d.alive()
    d.stop()


def case_ana():
    """ANA: this gateway's state per listener, set over RPC, seen in the ANA log and by I/O."""
    d = started()
    d.call("bdev_malloc_create", {"num_blocks": 2048, "block_size": 512, "name": "A"})
    d.call("nvmf_create_subsystem", {"nqn": NQN, "allow_any_host": True, "min_cntlid": 100, "max_cntlid": 199})
    d.call("nvmf_subsystem_add_ns", {"nqn": NQN, "namespace": {"bdev_name": "A"}})
    port = free_port()
    uri = "tcp://127.0.0.1:%d/%s" % (port, NQN)
    d.call("nvmf_subsystem_add_listener", {"nqn": NQN, "listen_address": tcp_addr(port),
                                           "ana_state": "non_optimized"})

    def listener_state():
        lst = d.call("nvmf_subsystem_get_listeners", {"nqn": NQN})
        return [x for x in lst if x["address"]["trsvcid"] == str(port)][0]["ana_states"][0]

    def log():  # (change count, groups, group id, nsids in it, state, first nsid)
        data = bytes.fromhex(json.loads(nvmf("get-log", uri, "--log-id", "12", "--len", "52", "--json").stdout)["data"])
        return (int.from_bytes(data[0:8], "little"), int.from_bytes(data[8:10], "little"),
                int.from_bytes(data[16:20], "little"), int.from_bytes(data[20:24], "little"), data[32],
                int.from_bytes(data[48:52], "little"))

    assert listener_state() == {"ana_group": 1, "ana_state": "non_optimized"}
    c0, ngrps, grpid, nnsids, st, nsid = log()
    assert (ngrps, grpid, nnsids, st, nsid) == (1, 1, 1, 2, 1)
    ident = json.loads(nvmf("identify", uri, "--json").stdout)["controller"]
    assert ident["cmic"] & 0x0a == 0x0a and 100 <= ident["cntlid"] <= 199
    back = os.path.join(TMP, "back")
    nvmf("read", uri, "--nsid", "1", "--lba", "0", "--count", "1", "-o", back)

    # Inaccessible: I/O fails with a path status, the log says so; optimized: I/O works again.
    assert d.call("nvmf_subsystem_listener_set_ana_state", {"nqn": NQN, "listen_address": tcp_addr(port),
                                                            "ana_state": "inaccessible", "anagrpid": 1}) is True
    assert listener_state()["ana_state"] == "inaccessible"
    c1, _, _, _, st, _ = log()
    assert st == 3 and c1 > c0
    assert nvmf("read", uri, "--nsid", "1", "--lba", "0", "--count", "1", "-o", back, check=False).returncode != 0
    d.call("nvmf_subsystem_listener_set_ana_state", {"nqn": NQN, "listen_address": tcp_addr(port),
                                                     "ana_state": "optimized"})
    assert log()[4] == 1
    nvmf("read", uri, "--nsid", "1", "--lba", "0", "--count", "1", "-o", back)
    expect_error(d, "nvmf_subsystem_listener_set_ana_state", {"nqn": NQN, "listen_address": tcp_addr(port),
                                                              "ana_state": "sideways"}, -32602)
    expect_error(d, "nvmf_subsystem_listener_set_ana_state", {"nqn": NQN, "listen_address": tcp_addr(free_port()),
                                                              "ana_state": "optimized"}, -32602)
    d.alive()
    d.stop()


def http(port, request):
    """Send raw request bytes; the status code and body."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(request)
    data = recv_until_eof(s)
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1])
    length = [int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")]
    assert length == [len(body)], head
    return status, body.decode()


def parse_exposition(text):
    """The Prometheus text format through prometheus_client's own parser: {'name{k="v",..}': value}."""
    from prometheus_client.parser import text_string_to_metric_families
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join('%s="%s"' % kv for kv in sample.labels.items())
            key = sample.name + ("{%s}" % labels if labels else "")
            assert key not in samples, "duplicate sample " + key
            samples[key] = sample.value
    return samples


def case_metrics():
    d = Daemon(["--listen", "127.0.0.1:0", "--subsystem", BASE_NQN, "--namespace", "ram:1M",
                "--metrics", "127.0.0.1:0"])
    port = d.metrics_port
    assert port
    status, body = http(port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    m = parse_exposition(body)
    assert status == 200 and m["nvmfd_subsystems"] == 1 and m["nvmfd_listeners"] == 1
    assert m['nvmfd_namespaces{subsystem="%s"}' % BASE_NQN] == 1
    assert m['nvmfd_controllers{subsystem="%s"}' % BASE_NQN] == 0
    g = m["nvmfd_discovery_generation"]
    # Run-time changes show at the next scrape.
    d.call("bdev_malloc_create", {"num_blocks": 64, "block_size": 512, "name": "M"})
    d.call("nvmf_create_subsystem", {"nqn": NQN, "allow_any_host": True})
    d.call("nvmf_subsystem_add_ns", {"nqn": NQN, "namespace": {"bdev_name": "M"}})
    m = parse_exposition(http(port, b"GET /metrics HTTP/1.0\r\n\r\n")[1])
    assert m["nvmfd_subsystems"] == 2 and m['nvmfd_namespaces{subsystem="%s"}' % NQN] == 1
    assert m["nvmfd_discovery_generation"] > g
    # I/O shows in the counters and in the latency histograms, one sample per command.
    nvmf("perf", "tcp://127.0.0.1:%d/%s" % (d.port, BASE_NQN), "-q", "8", "-o", "4096", "-w", "randread", "-n", "1000")
    ns = 'subsystem="%s",nsid="1"' % BASE_NQN
    # A queue folds its latencies at the end of the pass that answered: the last commands
    # may show in the histogram a moment after their answers (bounded wait); then every
    # figure must be exact.
    deadline = time.monotonic() + 5
    while True:
        m = parse_exposition(http(port, b"GET /metrics HTTP/1.0\r\n\r\n")[1])
        if m["nvmfd_namespace_io_latency_seconds_count{%s}" % ns] >= 1000 or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    assert m["nvmfd_namespace_read_commands_total{%s}" % ns] == 1000
    assert m['nvmfd_namespace_io_latency_seconds_bucket{%s,le="+Inf"}' % ns] == 1000
    assert m["nvmfd_namespace_io_latency_seconds_count{%s}" % ns] == 1000
    assert 0 < m["nvmfd_namespace_io_latency_seconds_sum{%s}" % ns] < 1000
    assert m['nvmfd_namespace_io_latency_seconds_bucket{%s,le="0.001"}' % ns] <= 1000
    st = d.call("nvmf_subsystem_get_io_stats", {"nqn": BASE_NQN})
    lat = st["namespaces"][0]["latency_us"]
    assert lat["count"] == 1000 and 0 < lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["p99_9"], lat
    # Anything else is refused as HTTP says; a client that says nothing does not stop the others.
    idle = socket.create_connection(("127.0.0.1", port), timeout=10)
    assert http(port, b"GET /other HTTP/1.1\r\n\r\n")[0] == 404
    assert http(port, b"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n")[0] == 405
    assert http(port, b"garbage\r\n\r\n")[0] == 400
    assert http(port, b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 9000 + b"\r\n\r\n")[0] == 431
    assert http(port, b"HEAD /metrics HTTP/1.1\r\n\r\n") == (200, "")
    idle.close()
    assert http(port, b"GET /metrics HTTP/1.1\r\n\r\n")[0] == 200
    d.alive()
    d.stop()


def case_churn():
    """Configuration changing over and over while a host runs verified I/O: neither is harmed."""
    d = started()
    d.call("bdev_malloc_create", {"num_blocks": 8192, "block_size": 512, "name": "Busy"})
    d.call("nvmf_create_subsystem", {"nqn": NQN, "allow_any_host": True})
    d.call("nvmf_subsystem_add_ns", {"nqn": NQN, "namespace": {"bdev_name": "Busy", "nsid": 1}})
    port = free_port()
    d.call("nvmf_subsystem_add_listener", {"nqn": NQN, "listen_address": tcp_addr(port)})
    perf = subprocess.Popen([NVMF, "perf", "tcp://127.0.0.1:%d/%s" % (port, NQN), "-q", "16", "-o", "4096",
                             "-w", "randrw", "-n", "20000", "--verify", "--nsid", "1", "-P", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    rounds = 0
    while perf.poll() is None or rounds < 20:
        name = "Churn%d" % rounds
        d.call("bdev_malloc_create", {"num_blocks": 64, "block_size": 512, "name": name})
        assert d.call("nvmf_subsystem_add_ns", {"nqn": NQN, "namespace": {"bdev_name": name, "nsid": 2}}) == 2
        d.call("nvmf_subsystem_add_host", {"nqn": NQN, "host": HOST1})
        other = free_port()
        d.call("nvmf_subsystem_add_listener", {"nqn": NQN, "listen_address": tcp_addr(other)})
        for m in ("nvmf_subsystem_get_controllers", "nvmf_subsystem_get_qpairs", "nvmf_subsystem_get_io_stats"):
            d.call(m, {"nqn": NQN})
        d.call("nvmf_get_stats")
        d.call("nvmf_subsystem_remove_listener", {"nqn": NQN, "listen_address": tcp_addr(other)})
        d.call("nvmf_subsystem_remove_host", {"nqn": NQN, "host": HOST1})
        d.call("nvmf_subsystem_remove_ns", {"nqn": NQN, "nsid": 2})
        d.call("bdev_malloc_delete", {"name": name})
        rounds += 1
        if rounds > 5000:
            break
    out, err = perf.communicate(timeout=120)
    assert perf.returncode == 0, "perf under churn: %s %s" % (out, err)
    assert [n["nsid"] for n in subsystem(d, NQN)["namespaces"]] == [1]
    d.alive()
    d.stop()


try:
    {"churn": case_churn, "metrics": case_metrics, "methods": case_methods, "defaults": case_defaults, "bad_input": case_bad_input, "framing": case_framing,
     "save_config": case_save_config, "cli": case_cli, "host": case_host, "ana": case_ana}[CASE]()
    print("ok - rpc %s" % CASE)
finally:
    for p in DAEMONS:
        if p.poll() is None:
            p.kill()
            p.wait()
    subprocess.run(["rm", "-rf", TMP])
