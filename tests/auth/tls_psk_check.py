#!/usr/bin/env python3
"""Recompute tls_psk_print's TLS PSK derivations with Python's hmac (RFC 5869
HKDF, RFC 8446 HKDF-Expand-Label) and compare: an implementation of its own,
so a slip in ours shows.  usage: tls_psk_check.py TLS_PSK_PRINT"""
import base64, hashlib, hmac, struct, subprocess, sys

out = subprocess.run([sys.argv[1]], capture_output=True, text=True)
print(out.stdout, end="")
if out.returncode != 0:
    sys.exit("FAIL: tls_psk_print failed")
lines = out.stdout.splitlines()
val = {}
host = next(l.split(" ", 1)[1] for l in lines if l.startswith("hostnqn "))
sub = next(l.split(" ", 1)[1] for l in lines if l.startswith("subnqn "))

def hkdf_expand_label(md, key, label, context, length, kdf):
    prk = hmac.new(b"", key, md).digest()          # HKDF-Extract(salt 0, key)
    if kdf == 1:   # TP 8011 / RFC 8446 HkdfLabel
        info = struct.pack(">H", length) + bytes([len(b"tls13 " + label)]) + b"tls13 " + label
        info += bytes([len(context)]) + context
    else:          # as nvme-cli / libnvme put keys in the keyring
        info = struct.pack("<H", length) + b"tls13 " + label + context
    okm, t, i = b"", b"", 1
    while len(okm) < length:
        t = hmac.new(prk, t + info + bytes([i]), md).digest()
        okm += t
        i += 1
    return okm[:length]

fails = 0
cases = [i for i, l in enumerate(lines) if l.startswith("case ")]
for start in cases:
    f = dict(l.split(" ", 1) for l in lines[start + 1:start + 8])
    hdr = dict(kv.split("=") for kv in lines[start].split()[1:])
    h, cipher, kdf = int(hdr["hash"]), int(hdr["cipher"]), int(hdr["kdf"])
    md = hashlib.sha384 if cipher == 2 else hashlib.sha256
    conf = bytes.fromhex(f["configured"])
    retained = conf if h == 0 else hkdf_expand_label(hashlib.sha384 if h == 2 else hashlib.sha256, conf,
                                                    b"HostNQN", host.encode(), len(conf), kdf)
    digest = base64.b64encode(hmac.new(retained, f"{host} {sub} NVMe-over-Fabrics".encode(), md).digest()).decode()
    id0 = f"NVMe0R{cipher:02d} {host} {sub}"
    id1 = f"NVMe1R{cipher:02d} {host} {sub} {digest}"
    psk0 = hkdf_expand_label(md, retained, b"nvme-tls-psk", id0.encode(), len(conf), kdf)
    psk1 = hkdf_expand_label(md, retained, b"nvme-tls-psk", f"{cipher:02d} {digest}".encode(), len(conf), kdf)
    for name, want in (("retained", retained.hex()), ("digest", digest), ("identity0", id0),
                       ("psk0", psk0.hex()), ("identity1", id1), ("psk1", psk1.hex())):
        ok = f[name] == want
        fails += not ok
        print(("ok - " if ok else "FAIL - ") + f"kdf {kdf} hash {h}: {name}")
sys.exit(1 if fails or not cases else 0)
