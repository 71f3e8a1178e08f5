#!/usr/bin/env python3
"""NVMe/TCP hosts that vanish mid-command: each connection ends with a reset
(SO_LINGER 0 close sends RST) at a different point of the protocol.

usage: churn_client.py HOST PORT SUBNQN HOSTNQN [--cycles N]

Scenarios, taken in turn, one per cycle:
  icreq         ICReq sent, reset before the ICResp is read
  half-header   ICReq done, 5 bytes of a command capsule's header, reset
  admin         admin queue connected (a controller exists), reset
  write-r2t     admin + I/O queue, CC.EN = 1; a 64 KiB Write (data by R2T),
                half of the H2CData sent, reset (I/O queue first, then admin)
  write-inline  a 4 KiB Write with in-capsule data, 1000 bytes of it sent, reset
                (admin queue first, then the I/O queue)
  read          a 128 KiB Read, nothing of the answer read, reset
A Connect the target refuses (every controller ID taken) is retried for up
to 10 s: the target frees a reset host's controller soon, not at once.
Prints one line per cycle and "CHURN-CLIENT OK cycles=N controllers=M
cntlids=[..]" or "CHURN-CLIENT FAIL ..."; exits 0 or 1.
"""
import argparse
import socket
import struct
import sys
import time
import uuid

SCENARIOS = ["icreq", "half-header", "admin", "write-r2t", "write-inline", "read"]
HOSTID = uuid.UUID("6e766d66-696e-7465-726f-7000000000c1").bytes


class Refused(Exception):
    pass


def pdu(ptype, hlen, body, data=b"", pdo=None):
    if pdo is None:
        pdo = hlen if data else 0
    return struct.pack("<BBBBI", ptype, 0, hlen, pdo, hlen + len(data)) + body + data


def reset(s):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


class Queue:
    def __init__(self, host, port):
        self.s = socket.create_connection((host, port), timeout=10)
        self.cid = 0

    def recv_exact(self, n):
        b = b""
        while len(b) < n:
            c = self.s.recv(n - len(b))
            if not c:
                raise OSError("connection closed by the target")
            b += c
        return b

    def recv_pdu(self):
        ch = self.recv_exact(8)
        ptype, _flags, _hlen, _pdo, plen = struct.unpack("<BBBBI", ch)
        return ptype, ch + self.recv_exact(plen - 8)

    def icreq(self):
        self.s.sendall(pdu(0x00, 128, struct.pack("<HBBI", 0, 0, 0, 0) + bytes(112)))
        ptype, _ = self.recv_pdu()
        assert ptype == 0x01, "no ICResp (type %d)" % ptype

    def capsule(self, sqe, data=b""):
        assert len(sqe) == 64
        self.s.sendall(pdu(0x04, 72, sqe, data))

    def next_cid(self):
        self.cid = (self.cid + 1) & 0xFFFF
        return self.cid

    def response(self):
        """The next CapsuleResp: (dw0, status without the phase bit)."""
        while True:
            ptype, p = self.recv_pdu()
            if ptype == 0x05:
                dw0, _dw1, _sqhd, _sqid, _cid, status = struct.unpack_from("<IIHHHH", p, 8)
                return dw0, status >> 1
            if ptype == 0x07:  # C2HData of a read: not needed here
                continue
            raise AssertionError("unexpected PDU type %d" % ptype)


def fabrics_sqe(cid, fctype, tail):
    return struct.pack("<BBHB35x", 0x7F, 0, cid, fctype) + tail


def connect(q, qid, cntlid, subnqn, hostnqn):
    data = HOSTID + struct.pack("<H", cntlid) + bytes(238)
    data += subnqn.encode().ljust(256, b"\0") + hostnqn.encode().ljust(256, b"\0") + bytes(256)
    # SGL: in-capsule data block at offset 0, 1024 bytes
    sgl = struct.pack("<QI3xB", 0, len(data), 0x01)
    sqe = struct.pack("<BBHB19x", 0x7F, 0x40, q.next_cid(), 0x01) + sgl
    sqe += struct.pack("<HHHBxI12x", 0, qid, 31, 0, 30000)
    q.capsule(sqe, data)
    dw0, status = q.response()
    if status:
        raise Refused("Connect qid %d refused, status 0x%x" % (qid, status))
    return dw0 & 0xFFFF


def prop_set(q, offset, value):
    q.capsule(fabrics_sqe(q.next_cid(), 0x00, struct.pack("<B3xIQ8x", 0, offset, value)))
    assert q.response()[1] == 0, "Property Set failed"


def prop_get(q, offset):
    q.capsule(fabrics_sqe(q.next_cid(), 0x04, struct.pack("<B3xIQ8x", 0, offset, 0)))
    dw0, status = q.response()
    assert status == 0, "Property Get failed"
    return dw0


def rw_sqe(cid, opc, slba, nbytes, inline):
    sgl = struct.pack("<QI3xB", 0, nbytes, 0x01 if inline else 0x5A)
    return struct.pack("<BBHI16x", opc, 0x40, cid, 1) + sgl + struct.pack("<QI12x", slba, nbytes // 512 - 1)


def admin_queue(a):
    deadline = time.time() + 10
    while True:
        q = Queue(a.host, a.port)
        q.icreq()
        try:
            return q, connect(q, 0, 0xFFFF, a.subnqn, a.hostnqn)
        except Refused:
            reset(q.s)
            if time.time() > deadline:
                raise
            time.sleep(0.2)


def enabled_pair(a):
    adm, cntlid = admin_queue(a)
    prop_set(adm, 0x14, (6 << 16) | (4 << 20) | 1)  # CC: IOSQES 6, IOCQES 4, EN
    for _ in range(100):
        if prop_get(adm, 0x1C) & 1:  # CSTS.RDY
            break
        time.sleep(0.05)
    else:
        raise AssertionError("CSTS.RDY never set")
    io = Queue(a.host, a.port)
    io.icreq()
    connect(io, 1, cntlid, a.subnqn, a.hostnqn)
    return adm, io, cntlid


def cycle(a, name):
    """Run one scenario; the cntlid it got, or None."""
    if name == "icreq":
        q = Queue(a.host, a.port)
        q.s.sendall(pdu(0x00, 128, struct.pack("<HBBI", 0, 0, 0, 0) + bytes(112)))
        reset(q.s)
        return None
    if name == "half-header":
        q = Queue(a.host, a.port)
        q.icreq()
        q.s.sendall(pdu(0x04, 72, bytes(64))[:5])
        reset(q.s)
        return None
    if name == "admin":
        q, cntlid = admin_queue(a)
        reset(q.s)
        return cntlid
    adm, io, cntlid = enabled_pair(a)
    if name == "write-r2t":
        cid = io.next_cid()
        io.capsule(rw_sqe(cid, 0x01, 0, 65536, False))
        ptype, p = io.recv_pdu()
        assert ptype == 0x09, "no R2T (type %d)" % ptype
        _cccid, ttag, r2to, r2tl = struct.unpack_from("<HHII", p, 8)
        half = r2tl // 2
        hdr = struct.pack("<BBBBIHHII4x", 0x06, 0x04, 24, 24, 24 + r2tl, cid, ttag, r2to, r2tl)
        io.s.sendall(hdr + bytes(half))
        reset(io.s)
        reset(adm.s)
    elif name == "write-inline":
        io.s.sendall(pdu(0x04, 72, rw_sqe(io.next_cid(), 0x01, 8, 4096, True), bytes(4096))[:72 + 8 + 1000])
        reset(adm.s)
        reset(io.s)
    elif name == "read":
        io.capsule(rw_sqe(io.next_cid(), 0x02, 0, 131072, False))
        time.sleep(0.01)
        reset(io.s)
        reset(adm.s)
    return cntlid


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("subnqn")
    ap.add_argument("hostnqn")
    ap.add_argument("--cycles", type=int, default=len(SCENARIOS))
    a = ap.parse_args()
    cntlids = []
    for i in range(a.cycles):
        name = SCENARIOS[i % len(SCENARIOS)]
        try:
            c = cycle(a, name)
        except (OSError, AssertionError, Refused) as e:
            print("CHURN-CLIENT FAIL cycle %d (%s): %s" % (i, name, e))
            return 1
        if c is not None:
            cntlids.append(c)
        print("cycle %d %s%s" % (i, name, "" if c is None else " cntlid %d" % c))
    print("CHURN-CLIENT OK cycles=%d controllers=%d cntlids=%s" % (a.cycles, len(cntlids), sorted(set(cntlids))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
