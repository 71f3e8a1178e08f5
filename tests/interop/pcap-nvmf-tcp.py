#!/usr/bin/env python3
"""pcap-nvmf-tcp.py PCAP PORT: the NVMe/TCP connections to PORT in a guest's
traffic capture (qemu-run.sh --pcap; --pcap-maxlen 256 is enough), one line
each, in the order they started:

    conn CLIENT_PORT icreq_dgst=D icresp_dgst=D qid=Q

D is the ICReq / ICResp DGST byte (bit 0 header digest, bit 1 data digest),
Q the queue ID of the Fabrics Connect command (the first command capsule);
"-" where the capture does not show it.  Only the start of each direction's
byte stream is looked at (the first payload bytes of each connection)."""
import struct
import sys


def frames(path):
    with open(path, "rb") as f:
        hdr = f.read(24)
        if len(hdr) < 24:
            return
        magic = struct.unpack("<I", hdr[:4])[0]
        endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
        while True:
            rec = f.read(16)
            if len(rec) < 16:
                return
            _, _, incl, _ = struct.unpack(endian + "IIII", rec)
            yield f.read(incl)


def tcp_segments(path):
    for fr in frames(path):
        if len(fr) < 14 or fr[12:14] != b"\x08\x00":
            continue
        ip = fr[14:]
        if len(ip) < 20 or ip[9] != 6:
            continue
        ihl = (ip[0] & 15) * 4
        tot = struct.unpack(">H", ip[2:4])[0]
        tcp = ip[ihl:]
        if len(tcp) < 20:
            continue
        sport, dport, seq = struct.unpack(">HHI", tcp[:8])
        flags = tcp[13]
        doff = (tcp[12] >> 4) * 4
        payload_len = tot - ihl - doff
        yield sport, dport, seq, flags, tcp[doff:doff + max(payload_len, 0)]


def main():
    path, port = sys.argv[1], int(sys.argv[2])
    conns = {}
    order = []
    for sport, dport, seq, flags, data in tcp_segments(path):
        if dport == port:
            key, way = sport, "c"
        elif sport == port:
            key, way = dport, "s"
        else:
            continue
        if flags & 0x02 and way == "c":  # SYN: a new connection (ports may be reused)
            conns[key] = {"isn_c": seq, "c": bytearray(), "s": bytearray(), "isn_s": None}
            order.append((key, conns[key]))
            continue
        c = conns.get(key)
        if c is None:
            continue
        if flags & 0x02 and way == "s":
            c["isn_s"] = seq
            continue
        if not data:
            continue
        isn = c["isn_" + way]
        if isn is None:
            continue
        off = (seq - isn - 1) & 0xFFFFFFFF
        buf = c[way]
        # Keep the stream's first bytes: append only what continues it.
        if off == len(buf) and len(buf) < 4096:
            buf += data
    for key, c in order:
        cb, sb = bytes(c["c"]), bytes(c["s"])
        icreq = cb[11] if len(cb) >= 128 and cb[0] == 0x00 else None
        icresp = sb[11] if len(sb) >= 128 and sb[0] == 0x01 else None
        qid = None
        cap = cb[128:]
        if len(cap) >= 72 and cap[0] == 0x04 and cap[8] == 0x7F and cap[12] == 0x01:
            qid = struct.unpack("<H", cap[8 + 42:8 + 44])[0]
        fmt = lambda v: "-" if v is None else str(v)
        print("conn %d icreq_dgst=%s icresp_dgst=%s qid=%s" % (key, fmt(icreq), fmt(icresp), fmt(qid)))


if __name__ == "__main__":
    main()
