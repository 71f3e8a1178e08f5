#!/usr/bin/env python3
"""Build the TCP and controller seed corpora from the Linux-captured PDUs.

Reads tests/unit/vectors/<capture>/c<conn>-<seq>-<dir>-<type>.bin and writes
  corpus/tcp_ctrl_rx/<capture>-c<conn>   the host's PDUs of one connection, in wire order
  corpus/tcp_host_rx/<capture>-c<conn>   the controller's PDUs, CIDs renumbered to the
                                         harness's commands, with the matching plan
  corpus/ctrl_cmds/<capture>-c<conn>     the host's commands after Connect, as records
plus a few hand-made ctrl_cmds seeds (discovery log, I/O commands, SGL
variants), the vfio_user sessions (version, device/region/IRQ info and
config reads, an NVMe driver's bring-up with Identify and I/O, unmaps,
resets, malformed messages), the rpc sessions, and the auth seeds:
DH-HMAC-CHAP secrets and TLS PSKs of each hash, PSK identities, TLS
handshakes and whole DH-HMAC-CHAP exchanges for each hash and DH group
(corpus/auth/).  The input layouts are described at the top of each harness.
Run it again after the vectors change; its output is committed.
"""
import json
import base64
import hashlib
import hmac
import os
import struct
import sys
import zlib

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


def rpc_sessions():
    """JSON-RPC client streams for the rpc harness: what rpc.py and `nvmf rpc` send."""
    nqn = 'nqn.2024-01.io.nvmf:fuzz'
    addr = {'trtype': 'tcp', 'adrfam': 'ipv4', 'traddr': '127.0.0.1', 'trsvcid': '4420'}
    n = [0]

    def req(method, params=None, notify=False):
        r = {'jsonrpc': '2.0', 'method': method}
        if params is not None:
            r['params'] = params
        if not notify:
            n[0] += 1
            r['id'] = n[0]
        return r

    def stream(*reqs, sep='\n'):
        return sep.join(json.dumps(r) for r in reqs).encode()

    setup = [req('nvmf_create_transport', {'trtype': 'TCP', 'max_queue_depth': 128}),
             req('bdev_malloc_create', {'name': 'M0', 'num_blocks': 2048, 'block_size': 512}),
             req('bdev_null_create', {'name': 'N0', 'num_blocks': 4096, 'block_size': 4096}),
             req('nvmf_create_subsystem', {'nqn': nqn, 'serial_number': 'FUZZ1', 'allow_any_host': True,
                                           'max_namespaces': 8}),
             req('nvmf_subsystem_add_ns', {'nqn': nqn, 'namespace': {'bdev_name': 'M0', 'nsid': 1,
                                           'uuid': '6f2a1e3c-0b7d-4e59-9a0c-3d1f5b2e8a71'}}),
             req('nvmf_subsystem_add_ns', {'nqn': nqn, 'namespace': {'bdev_name': 'N0'}}),
             req('nvmf_subsystem_add_listener', {'nqn': nqn, 'listen_address': addr}),
             req('nvmf_subsystem_add_host', {'nqn': nqn, 'host': 'nqn.2014-08.org.nvmexpress:uuid:1'})]
    queries = [req('nvmf_get_subsystems'), req('bdev_get_bdevs', {'name': 'M0'}), req('nvmf_get_transports'),
               req('nvmf_subsystem_get_listeners', {'nqn': nqn}), req('nvmf_subsystem_get_controllers', {'nqn': nqn}),
               req('nvmf_subsystem_get_qpairs', {'nqn': nqn}), req('nvmf_subsystem_get_io_stats', {'nqn': nqn}),
               req('nvmf_get_stats'), req('framework_get_config', {'name': 'nvmf'}),
               req('framework_get_config', {'name': 'bdev'}), req('framework_get_subsystems'),
               req('rpc_get_methods'), req('spdk_get_version'), req('framework_wait_init')]
    teardown = [req('nvmf_subsystem_listener_set_ana_state', {'nqn': nqn, 'listen_address': addr,
                                                              'ana_state': 'inaccessible'}),
                req('nvmf_listener_set_offline', {'nqn': nqn, 'listen_address': addr}),
                req('nvmf_listener_set_online', {'nqn': nqn, 'listen_address': addr}),
                req('nvmf_subsystem_terminate_associations', {'nqn': nqn}),
                req('nvmf_subsystem_remove_host', {'nqn': nqn, 'host': 'nqn.2014-08.org.nvmexpress:uuid:1'}),
                req('nvmf_subsystem_allow_any_host', {'nqn': nqn, 'allow_any_host': False}),
                req('nvmf_subsystem_remove_ns', {'nqn': nqn, 'nsid': 2}),
                req('nvmf_subsystem_remove_listener', {'nqn': nqn, 'listen_address': addr}),
                req('nvmf_delete_subsystem', {'nqn': nqn}), req('bdev_malloc_delete', {'name': 'M0'}),
                req('bdev_null_delete', {'name': 'N0'})]
    return {
        'session': stream(*setup, *queries, *teardown),
        'session-packed': stream(*setup, *queries, sep=''),
        'batch': json.dumps(setup + [req('nvmf_get_subsystems', notify=True), req('nvmf_get_subsystems')]).encode(),
        'aio-rbd': stream(req('bdev_aio_create', {'filename': 'disk.img', 'name': 'A0', 'block_size': 4096}),
                          req('bdev_rbd_create', {'name': 'R0', 'pool_name': 'rbd', 'rbd_name': 'img',
                                                  'block_size': 512}),
                          req('bdev_rbd_delete', {'name': 'R0'}), req('bdev_aio_delete', {'name': 'A0'})),
        'errors': stream(req('no_such_method'), req('nvmf_create_subsystem', {'nqn': 'x'}),
                         req('nvmf_subsystem_add_ns', [1, 2]), {'jsonrpc': '1.0', 'method': 'x', 'id': 1},
                         {'method': 5, 'id': [1]}, {'jsonrpc': '2.0', 'method': 'spdk_get_version', 'extra': 1}),
        'parse-error': stream(req('spdk_get_version')) + b'\n{"jsonrpc": "2.0", "method": }\n' +
                       stream(req('spdk_get_version')),
        'empty-batch': b'[] null 1 "x" ' + stream(req('spdk_get_version')),
    }
# ---- auth (fuzz/auth.c) ----
AUTH_HOSTNQN = b'nqn.2014-08.org.nvmexpress:uuid:00000000-0000-0000-0000-00000000a017'
AUTH_SUBNQN = b'nqn.2024-01.io.nvmf:fuzz-auth'


def key_text(prefix, hash_id, key):
    """The interchange form: prefix 0N: base64(key || CRC-32 LE):"""
    blob = key + struct.pack('<I', zlib.crc32(key))
    return f'{prefix}:{hash_id:02d}:{base64.b64encode(blob).decode()}:'.encode()


def hkdf_expand_label(md, key, label, context, length, tp8011):
    """HKDF-Extract with no salt, then Expand with the HkdfLabel of tls_psk.c (either encoding)."""
    full = b'tls13 ' + label
    if tp8011:
        info = struct.pack('>H', length) + bytes([len(full)]) + full + bytes([len(context)]) + context
    else:
        info = struct.pack('<H', length) + full + context
    prk = hmac.new(bytes(hashlib.new(md).digest_size), key, md).digest()
    out, t, i = b'', b'', 1
    while len(out) < length:
        t = hmac.new(prk, t + info + bytes([i]), md).digest()
        out += t
        i += 1
    return out[:length]


def tls_identity(version, key, key_hash, tp8011=False):
    """The identity a host holding key (the harness's configured key) sends."""
    cipher = key_hash or (2 if len(key) == 48 else 1)
    head = b'NVMe%dR%02d %s %s' % (version, cipher, AUTH_HOSTNQN, AUTH_SUBNQN)
    if version == 0:
        return head
    md = 'sha384' if cipher == 2 else 'sha256'
    retained = key
    if key_hash:
        retained = hkdf_expand_label('sha384' if key_hash == 2 else 'sha256', key, b'HostNQN', AUTH_HOSTNQN,
                                     len(key), tp8011)
    mac = hmac.new(retained, AUTH_HOSTNQN + b' ' + AUTH_SUBNQN + b' NVMe-over-Fabrics', md).digest()
    return head + b' ' + base64.b64encode(mac)


def dhchap_exchange(tid, bidirectional):
    """Records: the host's Negotiate to the controller, Challenge, Reply, Success1 (and Success2)."""
    recs = bytes([2]) + struct.pack('<H', tid) + bytes([4, 0, 3, 5, 0, 4, 0, 3, 5, 0])
    return recs + (bytes([4, 0]) if bidirectional else b'')


def auth_seeds():
    seeds = {}
    # Mode 0: DH-HMAC-CHAP secrets as nvme-cli writes them (hash 0 with any length).
    for hash_id, length in [(0, 32), (0, 48), (0, 64), (1, 32), (2, 48), (3, 64)]:
        seeds[f'secret-{hash_id}-{length}'] = bytes([0]) + key_text('DHHC-1', hash_id, bytes(range(length)))
    seeds['secret-no-colon'] = seeds['secret-0-32'][:-1]
    # Mode 1: TLS PSKs in the interchange format.
    for hash_id, length in [(0, 32), (0, 48), (1, 32), (2, 48)]:
        seeds[f'psk-{hash_id}-{length}'] = bytes([1]) + key_text('NVMeTLSkey-1', hash_id, bytes(range(length)))
    # Mode 2: identities of both versions and suites.
    tls_keys = [(bytes(range(0x30, 0x30 + 32)), 0), (bytes(range(0x30, 0x30 + 48)), 0),
                (bytes(range(0x30, 0x30 + 32)), 1), (bytes(range(0x30, 0x30 + 48)), 2)]
    for opt, (key, key_hash) in enumerate(tls_keys):
        for version in (0, 1):
            seeds[f'identity-{version}-key{opt}'] = bytes([2]) + tls_identity(version, key, key_hash)
            # Mode 3: the same in a TLS handshake with the controller holding that key.
            seeds[f'tls-{version}-key{opt}'] = bytes([3, opt]) + tls_identity(version, key, key_hash)
    seeds['tls-1-key3-tp8011'] = bytes([3, 3 | 8]) + tls_identity(1, tls_keys[3][0], 2, tp8011=True)
    # Mode 4: a whole exchange for each hash and DH group, the secret transformed with that hash.
    for h in (1, 2, 3):
        for g in range(6):
            p = bytes([1 << (h - 1), 1 << g, (1 << (h - 1)) | h << 3 | (h - 1) << 5, 1 << g])
            seeds[f'dhchap-h{h}-g{g}'] = bytes([4]) + p + dhchap_exchange(h * 16 + g, False)
        # Bidirectional (both ends hold the controller key), null and ffdhe2048.
        for g in (0, 1):
            p = bytes([1 << (h - 1) | 8 | 16, 1 << g, 1 << (h - 1), 1 << g])
            seeds[f'dhchap-h{h}-g{g}-bidir'] = bytes([4]) + p + dhchap_exchange(0x100 + h, True)
    # Defaults on both sides; a host with the wrong secret; re-authentication.
    seeds['dhchap-defaults'] = bytes([4, 0, 0, 0, 0]) + dhchap_exchange(7, False)
    seeds['dhchap-wrong-secret'] = bytes([4, 1 | 32, 1, 1, 1]) + dhchap_exchange(8, False)
    seeds['dhchap-reauth'] = bytes([4, 1, 1, 1, 1]) + dhchap_exchange(9, False) + dhchap_exchange(10, False)
    # A raw Negotiate (SHA-256, null group) and a raw Challenge for the host after its Negotiate.
    descr = bytes([1, 0, 1, 1]) + bytes([1]) + bytes(29) + bytes([0]) + bytes(29)
    negotiate = bytes([0, 0, 0, 0]) + struct.pack('<H', 5) + bytes([0, 1]) + descr
    seeds['dhchap-raw-negotiate'] = bytes([4, 1, 1, 1, 1, 0]) + struct.pack('<H', len(negotiate)) + negotiate + \
        bytes([3])
    challenge = bytes([1, 1, 0, 0]) + struct.pack('<H', 5) + bytes([32, 0, 1, 0]) + struct.pack('<HI', 0, 1) + \
        bytes(range(32))
    seeds['dhchap-raw-challenge'] = bytes([4, 1, 1, 1, 1, 2]) + struct.pack('<H', 5) + bytes([1]) + \
        struct.pack('<H', len(challenge)) + challenge
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
    for name, data in rpc_sessions().items():
        write('rpc', name, data)
    for name, data in auth_seeds().items():
        write('auth', name, data)
    for name, data in vfio_user_seeds().items():
        write('vfio_user', name, data)
    return 0


if __name__ == '__main__':
    sys.exit(main())
