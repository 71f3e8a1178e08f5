#!/usr/bin/env python3
"""Build the TCP and controller seed corpora from the Linux-captured PDUs.

Reads tests/unit/vectors/<capture>/c<conn>-<seq>-<dir>-<type>.bin and writes
  corpus/tcp_ctrl_rx/<capture>-c<conn>   the host's PDUs of one connection, in wire order
  corpus/tcp_host_rx/<capture>-c<conn>   the controller's PDUs, CIDs renumbered to the
                                         harness's commands, with the matching plan
  corpus/ctrl_cmds/<capture>-c<conn>     the host's commands after Connect, as records
plus a few hand-made ctrl_cmds seeds (discovery log, I/O commands, SGL
variants) and the vfio_user sessions (version, device/region/IRQ info and
config reads, an NVMe driver's bring-up with Identify and I/O, unmaps,
resets, malformed messages).  The input layouts are described at the top of each harness.
Run it again after the vectors change; its output is committed.
"""
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
VECTORS = os.path.join(HERE, '..', 'tests', 'unit', 'vectors')
CORPUS = os.path.join(HERE, 'corpus')

# PDU types (NVMe/TCP).
ICREQ, ICRESP, H2C_TERM, C2H_TERM, CMD, RESP, H2C, C2H = range(8)
R2T = 9
F_HDGST, F_DDGST, F_SUCCESS = 0x01, 0x02, 0x08


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def connections(capture):
    """{conn: [(seq, dir, bytes)]} in wire order."""
    conns = {}
    folder = os.path.join(VECTORS, capture)
    for name in sorted(os.listdir(folder)):
        if not name.endswith('.bin'):
            continue
        conn, seq, direction = name.split('-')[:3]
        with open(os.path.join(folder, name), 'rb') as f:
            conns.setdefault(conn, []).append((int(seq), direction, f.read()))
    for pdus in conns.values():
        pdus.sort()
    return conns


def write(harness, name, data):
    d = os.path.join(CORPUS, harness)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), 'wb') as f:
        f.write(data)


def set_u16(pdu, off, value):
    """Rewrite a header field, fixing the header digest when there is one."""
    pdu = bytearray(pdu)
    struct.pack_into('<H', pdu, off, value)
    hlen = pdu[2]
    if pdu[1] & F_HDGST:
        struct.pack_into('<I', pdu, hlen, crc32c(bytes(pdu[:hlen])))
    return bytes(pdu)


def ctrl_stream(pdus):
    """The host's PDUs, H2CData TTAGs moved to those the controller under test
    hands out (lowest free first, the last one freed reused first)."""
    free, ttags, out = [], {}, []
    next_new = 0
    for _, direction, pdu in pdus:
        if direction == 'ctrl2host' and pdu[0] == R2T:
            if free:
                ours = free.pop()
            else:
                ours, next_new = next_new, next_new + 1
            ttags[struct.unpack_from('<H', pdu, 10)[0]] = ours
        elif direction == 'host2ctrl' and pdu[0] == H2C:
            theirs = struct.unpack_from('<H', pdu, 10)[0]
            ours = ttags.get(theirs, theirs)
            out.append(set_u16(pdu, 10, ours))
            if pdu[1] & 0x04 and theirs in ttags:  # LAST_PDU: the TTAG is free again
                free.append(ttags.pop(theirs))
        elif direction == 'host2ctrl':
            out.append(pdu)
    return b''.join(out)


def host_stream(pdus, digests, admin):
    """The controller's PDUs with each command moved to the CID the harness gives it."""
    slots = {}   # capture CID -> harness CID, while the command is open
    plan = []    # per harness CID: [direction, length]
    out = []
    for _, direction, pdu in pdus:
        if direction != 'ctrl2host':
            continue
        ptype, flags = pdu[0], pdu[1]
        if ptype in (CMD, H2C, ICREQ) or ptype not in (RESP, C2H, R2T):
            out.append(pdu)
            continue
        cid_off = 20 if ptype == RESP else 8
        cid = struct.unpack_from('<H', pdu, cid_off)[0]
        if cid not in slots:
            if len(plan) == 128:
                break
            slots[cid] = len(plan)
            plan.append([0, 0])
        slot = slots[cid]
        if ptype == C2H:
            datao, datal = struct.unpack_from('<II', pdu, 12)
            plan[slot] = [1, max(plan[slot][1], datao + datal)]
        elif ptype == R2T:
            r2to, r2tl = struct.unpack_from('<II', pdu, 12)
            plan[slot] = [2, max(plan[slot][1], r2to + r2tl)]
        out.append(set_u16(pdu, cid_off, slot))
        if ptype == RESP or (ptype == C2H and flags & F_SUCCESS):
            del slots[cid]
    cfg = (3 if digests else 0) | 4 | (8 if admin else 0) | 0x40 | 0x80
    head = bytearray([cfg])
    for i in range(128):
        direction, length = plan[i] if i < len(plan) else (0, 0)
        head += struct.pack('<H', direction | ((length + 15) // 16) << 3)
    return bytes(head) + b''.join(out)


def ctrl_records(pdus):
    """(mode, records) replaying the host's commands after Connect."""
    mode, recs = 0, bytearray()
    for i, (_, direction, pdu) in enumerate(pdus):
        if direction != 'host2ctrl' or pdu[0] != CMD:
            continue
        sqe = pdu[8:72]
        if sqe[0] == 0x7f and sqe[4] == 0x01:  # Connect: the harness sends its own
            if struct.unpack_from('<H', sqe, 42)[0]:
                mode = 1
            else:  # Linux enables the controller itself: leave CC.EN to the records
                discovery = pdu[pdu[3] + 256:].startswith(b'nqn.2014-08.org.nvmexpress.discovery')
                mode = (2 if discovery else 0) | 8
            continue
        if sqe[0] == 0x7f and sqe[4] == 0x00 and struct.unpack_from('<I', sqe, 44)[0] == 0x14:
            # Property Set CC: Linux chose CSS 110b (I/O command sets) for the kernel
            # target, which reports them in CAP.CSS; ours reports NVM only.
            sqe = bytearray(sqe)
            struct.pack_into('<Q', sqe, 48, struct.unpack_from('<Q', sqe, 48)[0] & ~0x70)
            sqe = bytes(sqe)
        pdo, plen = pdu[3], struct.unpack_from('<I', pdu, 4)[0]
        data = pdu[pdo:plen - (4 if pdu[1] & F_DDGST else 0)] if pdo else b''
        recs += bytes([0]) + sqe + struct.pack('<H', len(data)) + data
        # The host's H2CData for this command: one record per R2T.
        cid = struct.unpack_from('<H', sqe, 2)[0]
        for _, d2, later in pdus[i + 1:]:
            if later[0] == RESP and struct.unpack_from('<H', later, 20)[0] == cid:
                break
            if d2 == 'host2ctrl' and later[0] == H2C and struct.unpack_from('<H', later, 8)[0] == cid:
                lpdo, lplen = later[3], struct.unpack_from('<I', later, 4)[0]
                recs += bytes([1]) + later[lpdo:lplen - (4 if later[1] & F_DDGST else 0)]
    return mode, bytes(recs)


def sqe(opc, nsid=0, cdw10=0, cdw11=0, cdw12=0, cdw13=0, sgl_type=0x5a, sgl_len=0, sgl_addr=0, cid=1, flags=0x40):
    return (struct.pack('<BBHI', opc, flags, cid, nsid) + bytes(16) +
            struct.pack('<QIxxxB', sgl_addr, sgl_len, sgl_type) +
            struct.pack('<IIIIII', cdw10, cdw11, cdw12, cdw13, 0, 0))


def capsule(s, data=b''):
    return bytes([0]) + s + struct.pack('<H', len(data)) + data


def hand_made():
    seeds = {}
    incap = 0x01  # SGL data block, offset subtype: in-capsule data
    # Discovery: the log page in pieces, Identify, an AER, Keep Alive.
    seeds['discovery-log'] = bytes([2]) + b''.join([
        capsule(sqe(0x02, cdw10=0x70 | (1024 // 4 - 1) << 16, sgl_len=1024, cid=1)),
        capsule(sqe(0x02, cdw10=0x70 | (16 // 4 - 1) << 16, sgl_len=16, cid=2)),
        capsule(sqe(0x02, cdw10=0x70 | (512 // 4 - 1) << 16, cdw12=1024, sgl_len=512, cid=3)),
        capsule(sqe(0x06, cdw10=1, sgl_len=4096, cid=4)),
        capsule(sqe(0x0c, cid=5)),
        capsule(sqe(0x18, cid=6)),
    ])
    # Admin: Identify variants, features, log pages, Abort.
    seeds['admin-mix'] = bytes([0]) + b''.join([
        capsule(sqe(0x06, cdw10=1, sgl_len=4096, cid=1)),
        capsule(sqe(0x06, nsid=1, cdw10=0, sgl_len=4096, cid=2)),
        capsule(sqe(0x06, cdw10=2, sgl_len=4096, cid=3)),
        capsule(sqe(0x06, nsid=1, cdw10=3, sgl_len=4096, cid=4)),
        capsule(sqe(0x09, cdw10=7, cdw11=0x00030003, cid=5)),
        capsule(sqe(0x0a, cdw10=7, cid=6)),
        capsule(sqe(0x09, cdw10=0x0b, cdw11=0x100, cid=7)),
        capsule(sqe(0x02, nsid=0xffffffff, cdw10=0x02 | (512 // 4 - 1) << 16, sgl_len=512, cid=8)),
        capsule(sqe(0x02, cdw10=0x01 | (64 // 4 - 1) << 16, sgl_len=64, cid=9)),
        capsule(sqe(0x02, cdw10=0x04 | (4096 // 4 - 1) << 16, sgl_len=4096, cid=10)),
        capsule(sqe(0x0c, cid=11)),
        capsule(sqe(0x08, cdw10=11 << 16 | 0, cid=12)),
        capsule(sqe(0x18, cid=13)),
        bytes([3 | 4]),  # timers an hour ahead: keep alive expires
    ])
    # I/O: writes in-capsule and by R2T, reads, flush, zeroes, DSM, compare, a fused pair.
    block = bytes((i * 7) & 0xff for i in range(512))
    seeds['io-mix'] = bytes([1]) + b''.join([
        capsule(sqe(0x01, nsid=1, cdw12=0, sgl_type=incap, sgl_len=512, cid=1), block),
        capsule(sqe(0x02, nsid=1, cdw12=0, sgl_len=512, cid=2)),
        capsule(sqe(0x01, nsid=1, cdw10=8, cdw12=7, sgl_len=4096, cid=3)),
        bytes([1]) + block * 8,
        capsule(sqe(0x02, nsid=1, cdw10=8, cdw12=7, sgl_len=4096, cid=4)),
        capsule(sqe(0x00, nsid=1, cid=5)),
        capsule(sqe(0x08, nsid=1, cdw10=16, cdw12=3, cid=6)),
        capsule(sqe(0x09, nsid=1, cdw10=0, cdw11=4, sgl_type=incap, sgl_len=16, cid=7),
                struct.pack('<IIQ', 0, 8, 32)),
        capsule(sqe(0x05, nsid=1, cdw12=0, sgl_type=incap, sgl_len=512, cid=8), block),
        capsule(sqe(0x05, nsid=1, cdw12=0, sgl_type=incap, sgl_len=512, cid=9, flags=0x41), block),
        capsule(sqe(0x01, nsid=1, cdw12=0, sgl_type=incap, sgl_len=512, cid=10, flags=0x42), block),
        capsule(sqe(0x02, nsid=3, cdw10=1, cdw12=0, sgl_len=4096, cid=11)),
        capsule(sqe(0x7f, cdw10=0, cid=12, flags=0x40) [:4] + bytes([0x08]) + bytes(59)),  # Disconnect
    ])
    # SGL descriptors the transport must reject or bound.
    sgls = [(0x5a, 1 << 30), (0x01, 9000), (0x01, 512), (0x00, 512), (0x20, 16), (0x30, 16), (0x10, 512),
            (0x41, 512), (0x5a, 0), (0x01, 0)]
    recs = b''
    for i, (t, n) in enumerate(sgls):
        recs += capsule(sqe(0x02 if t == 0x5a else 0x01, nsid=1, cdw12=0, sgl_type=t, sgl_len=n, sgl_addr=4 * i,
                            cid=20 + i), block[:min(n, 512)] if t & 0x0f == 1 else b'')
    seeds['io-sgl'] = bytes([1 | 4]) + recs
    seeds['admin-disabled'] = bytes([3]) + b''.join([
        capsule(sqe(0x7f, cid=1)[:4] + bytes([0x04]) + bytes(35) + bytes([1]) + bytes(3) +
                struct.pack('<I', 0) + bytes(16)),
        capsule(sqe(0x06, cdw10=1, sgl_len=4096, cid=2)),
    ])
    return seeds


# ---- vfio_user records (see fuzz/vfio_user.c) ----
BAR0, CONFIG, BAR4, BAR5 = range(4)  # region selectors of records 2 and 3


def vu_msg(cmd, payload=b'', flags=0, nfds=0, memfd=False):
    return bytes([nfds << 3 | (0x20 if memfd else 0), cmd, flags]) + struct.pack('<H', len(payload)) + payload


def vu_raw(data, memfd=False):
    return bytes([1 | (8 if memfd else 0)]) + struct.pack('<H', len(data)) + data


def vu_regw(sel, off, data):
    return bytes([2 | sel << 3]) + struct.pack('<HB', off, len(data) - 1) + data


def vu_regr(sel, off, count):
    return bytes([3 | sel << 3]) + struct.pack('<HH', off, count)


def vu_submit(qid, s, ring=True):
    return bytes([4 | (0 if ring else 8), qid]) + s


def vu_map(iova_page, off_page, pages, flags=3, fd=True):
    return bytes([5 | (0 if fd else 8)]) + struct.pack('<HBBB', iova_page, off_page, pages, flags)


def vu_unmap(iova_page, pages, all_=False):
    return bytes([6 | (8 if all_ else 0)]) + struct.pack('<HB', iova_page, pages)


def vu_resize(pages):
    return bytes([6 | 0x10]) + struct.pack('<HB', 0, pages)


def vu_other(sub, extra=b''):
    return bytes([7 | sub << 3]) + extra


VU_TURN, VU_REAP, VU_RESET, VU_VERSION, VU_MSIX, VU_ENABLE, VU_DISABLE, VU_FLR = range(8)


def pci_sqe(opc, cid, nsid=0, prp1=0, prp2=0, cdw10=0, cdw11=0, cdw12=0, flags=0):
    return struct.pack('<BBHIIIQQQIIIIII', opc, flags, cid, nsid, 0, 0, 0, prp1, prp2, cdw10, cdw11, cdw12, 0, 0, 0)


def vfio_user_seeds():
    P = 4096
    seeds = {}
    version_json = struct.pack('<HH', 0, 1) + b'{"capabilities":{"max_msg_fds":8,"pgsizes":4096}}\0'
    seeds['version'] = bytes([0]) + vu_msg(1, version_json) + vu_msg(4, struct.pack('<IIII', 16, 0, 0, 0))
    info = vu_other(VU_VERSION) + vu_msg(4, struct.pack('<IIII', 16, 0, 0, 0))
    for index in range(9):
        info += vu_msg(5, struct.pack('<IIIIQQ', 64 if index == 0 else 32, 0, index, 0, 0, 0))
    info += vu_msg(5, struct.pack('<IIIIQQ', 32, 0, 0, 0, 0, 0))  # BAR0 too small for its capability
    for index in range(5):
        info += vu_msg(7, struct.pack('<IIII', 16, 0, index, 0))
    info += vu_regr(CONFIG, 0, 64) + vu_regr(CONFIG, 0x40, 0x30) + vu_regr(CONFIG, 0x68, 2)
    info += vu_regw(CONFIG, 0x04, struct.pack('<H', 0x0406)) + vu_regw(CONFIG, 0x10, struct.pack('<I', 0xfebf0000))
    info += vu_regr(BAR0, 0, 8) + vu_regr(BAR0, 8, 4) + vu_regr(BAR0, 0x1c, 4) + vu_regr(BAR4, 0, 16)
    seeds['info'] = bytes([0]) + info

    # A driver: guest memory at IOVA 0 (64 pages), ASQ page 0, ACQ page 1, I/O CQ 1 page 2, SQ 1 page 3, data from page 4.
    bringup = vu_other(VU_VERSION) + vu_map(0, 0, 64) + vu_other(VU_MSIX, bytes([1])) + vu_other(VU_ENABLE, bytes([0, 1, 32]))
    bringup += vu_regr(BAR0, 0x1c, 4)
    identify = vu_submit(0, pci_sqe(0x06, 1, prp1=4 * P, cdw10=1)) + vu_submit(0, pci_sqe(0x06, 2, nsid=1, prp1=5 * P))
    seeds['identify'] = bytes([1]) + bringup + identify + vu_other(VU_DISABLE)
    io = vu_submit(0, pci_sqe(0x05, 3, prp1=2 * P, cdw10=15 << 16 | 1, cdw11=1 << 16 | 3))
    io += vu_submit(0, pci_sqe(0x01, 4, prp1=3 * P, cdw10=15 << 16 | 1, cdw11=1 << 16 | 1))
    io += vu_submit(1, pci_sqe(0x01, 1, nsid=1, prp1=6 * P, prp2=7 * P, cdw10=0, cdw12=15))  # write 8 KiB
    io += vu_submit(1, pci_sqe(0x02, 2, nsid=1, prp1=8 * P, cdw10=0, cdw12=7))
    io += vu_submit(0, pci_sqe(0x0a, 5, cdw10=7)) + vu_submit(0, pci_sqe(0x02, 6, nsid=0xffffffff, prp1=9 * P, cdw10=0x7f << 16 | 2))
    io += vu_submit(0, pci_sqe(0x00, 7, cdw10=1)) + vu_submit(0, pci_sqe(0x04, 8, cdw10=1))
    seeds['io-queues'] = bytes([1]) + bringup + identify + io + vu_other(VU_DISABLE)
    # Unmap under live queues (CSTS.CFS), then all, then map again and reset.
    unmap = vu_other(VU_VERSION) + vu_map(0, 0, 8) + vu_map(16, 8, 8) + vu_other(VU_ENABLE, bytes([16, 17, 8]))
    unmap += vu_submit(0, pci_sqe(0x06, 1, prp1=20 * P, cdw10=1)) + vu_other(VU_REAP)
    unmap += vu_unmap(16, 8) + vu_regr(BAR0, 0x1c, 4) + vu_unmap(0, 0, True) + vu_map(16, 8, 8)
    unmap += vu_other(VU_DISABLE) + vu_other(VU_ENABLE, bytes([16, 17, 8])) + vu_submit(0, pci_sqe(0x06, 2, prp1=20 * P, cdw10=1))
    unmap += vu_other(VU_REAP) + vu_map(64, 0, 4, fd=False) + vu_unmap(64, 4)
    seeds['unmap'] = bytes([0]) + unmap
    # The client shrinks the memory it shared: the queues' pages fault when the device touches them.
    shrink = bringup + identify + vu_resize(1) + identify + vu_regr(BAR0, 0x1c, 4) + vu_resize(64)
    shrink += vu_other(VU_DISABLE) + vu_unmap(0, 64) + vu_map(0, 0, 64) + vu_other(VU_ENABLE, bytes([0, 1, 32])) + identify
    seeds['shrink'] = bytes([1]) + shrink
    # Resets: DEVICE_RESET, function level reset, CC.EN 0; the client leaves at the end.
    reset = bringup + identify + vu_other(VU_RESET) + vu_other(VU_ENABLE, bytes([0, 1, 32])) + identify
    reset += vu_other(VU_FLR) + vu_regr(BAR0, 0x14, 4) + vu_other(VU_ENABLE, bytes([0, 1, 32])) + identify
    reset += vu_msg(13)
    seeds['reset'] = bytes([1 | 2]) + reset
    # Messages a server must refuse.
    bad = vu_msg(4, struct.pack('<IIII', 16, 0, 0, 0))  # before VERSION
    bad += vu_other(VU_VERSION) + vu_other(VU_VERSION)
    bad += vu_msg(99) + vu_msg(4, struct.pack('<IIII', 16, 0, 0, 0), flags=1) + vu_msg(13, flags=0x10)
    bad += vu_msg(8, struct.pack('<IIIII', 21, 0x22, 2, 0, 1) + b'\1')  # DATA_BOOL trigger
    bad += vu_msg(8, struct.pack('<IIIII', 20, 0x24, 2, 0, 2), nfds=2) + vu_msg(8, struct.pack('<IIIII', 20, 0x21, 2, 0, 0))
    bad += vu_msg(2, struct.pack('<IIQQQ', 32, 3, 0, 0, 4096), nfds=2, memfd=True)
    bad += vu_msg(10, struct.pack('<QII', 0x1000, 0, 4) + struct.pack('<I', 1))  # a doorbell by message
    bad += vu_msg(9, struct.pack('<QII', 0xffc, 0, 8)) + vu_msg(9, struct.pack('<QII', 0, 3, 4))
    bad += vu_raw(struct.pack('<HHIII', 0x77, 4, 8, 0, 0))  # msg_size below a header: the device ends
    seeds['bad'] = bytes([0]) + bad
    return seeds


def main():
    for capture in sorted(os.listdir(VECTORS)):
        if not os.path.isdir(os.path.join(VECTORS, capture)):
            continue
        digests = capture.endswith('-digest')
        for conn, pdus in sorted(connections(capture).items()):
            name = f'{capture}-{conn}'
            if any(d == 'host2ctrl' for _, d, _ in pdus):
                cfg = 0x83  # digests accepted, SQ flow control kept, CPDA 0, MAXH2CDATA 128 KiB, one R2T per write
                write('tcp_ctrl_rx', name, bytes([cfg]) + ctrl_stream(pdus))
                mode, recs = ctrl_records(pdus)
                write('ctrl_cmds', name, bytes([mode]) + recs)
            write('tcp_host_rx', name, host_stream(pdus, digests, conn == 'c1'))
    for name, data in hand_made().items():
        write('ctrl_cmds', name, data)
    for name, data in vfio_user_seeds().items():
        write('vfio_user', name, data)
    return 0


if __name__ == '__main__':
    sys.exit(main())
