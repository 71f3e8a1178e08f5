#!/usr/bin/env python3
"""Send an NVMe/TCP ICReq to a target and check its ICResp.

usage: icreq_probe.py HOST PORT [--hdgst] [--ddgst] [--timeout SEC]
Prints "ICRESP-OK pfv=.. cpda=.. hdgst=.. ddgst=.. maxh2cdata=.." and exits 0,
or prints what was wrong and exits 1.
"""
import argparse
import socket
import struct
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("--hdgst", action="store_true")
    ap.add_argument("--ddgst", action="store_true")
    ap.add_argument("--timeout", type=float, default=20.0)
    a = ap.parse_args()

    dgst = (1 if a.hdgst else 0) | (2 if a.ddgst else 0)
    # Common header: type 0 (ICReq), flags 0, HLEN 128, PDO 0, PLEN 128;
    # PFV 0, HPDA 0, DGST, MAXR2T 0, 112 reserved bytes.
    icreq = struct.pack("<BBBBIHBBI", 0x00, 0, 128, 0, 128, 0, 0, dgst, 0) + bytes(112)
    assert len(icreq) == 128

    deadline = time.time() + a.timeout
    resp = b""
    last_err = "no answer"
    # QEMU's port forwarding accepts before the guest does: retry on an early close.
    while time.time() < deadline:
        try:
            s = socket.create_connection((a.host, a.port), timeout=max(1.0, deadline - time.time()))
            s.settimeout(max(1.0, deadline - time.time()))
            s.sendall(icreq)
            resp = b""
            while len(resp) < 128:
                b = s.recv(128 - len(resp))
                if not b:
                    break
                resp += b
            s.close()
            if len(resp) == 128:
                break
            last_err = "connection closed after %d bytes" % len(resp)
        except OSError as e:
            last_err = str(e)
        time.sleep(0.2)
    if len(resp) != 128:
        print("ICRESP-FAIL %s" % last_err)
        return 1
    ptype, flags, hlen, pdo, plen, pfv, cpda, rdgst, maxh2c = struct.unpack("<BBBBIHBBI", resp[:16])
    print("ICRESP type=%d flags=0x%x hlen=%d pdo=%d plen=%d pfv=%d cpda=%d dgst=0x%x maxh2cdata=%d"
          % (ptype, flags, hlen, pdo, plen, pfv, cpda, rdgst, maxh2c))
    errs = []
    if ptype != 0x01:
        errs.append("type %d, want 1 (ICResp)" % ptype)
    if hlen != 128 or plen != 128:
        errs.append("hlen/plen %d/%d, want 128/128" % (hlen, plen))
    if pfv != 0:
        errs.append("pfv %d, want 0" % pfv)
    if rdgst != dgst:
        errs.append("digests 0x%x, asked 0x%x" % (rdgst, dgst))
    if maxh2c < 4096 or maxh2c % 4:
        errs.append("maxh2cdata %d invalid" % maxh2c)
    if errs:
        print("ICRESP-FAIL " + "; ".join(errs))
        return 1
    print("ICRESP-OK pfv=%d cpda=%d hdgst=%d ddgst=%d maxh2cdata=%d"
          % (pfv, cpda, rdgst & 1, (rdgst >> 1) & 1, maxh2c))
    return 0


if __name__ == "__main__":
    sys.exit(main())
