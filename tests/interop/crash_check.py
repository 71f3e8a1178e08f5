#!/usr/bin/env python3
"""Check a namespace's backing file after nvmfd was killed (crash test).

usage: crash_check.py FILE CONSOLE_LOG blocks RUN_ID [--all-acked]
       crash_check.py FILE CONSOLE_LOG fio

blocks: jobs/host-crash.sh wrote 4 KiB block i as
"NVMF-CRASH run=RUN_ID blk=%08d " repeated to 4096 bytes.  Every
block below the highest NVMF-CRASH-FLUSHED mark and every NVMF-CRASH-FUA
block must be in the file as written; with --all-acked (volatile write
cache off) every NVMF-CRASH-ACK block too.
fio: every 4 KiB block of the prefix in NVMF-CRASH-FIO-STOPPED starts with
fio's verify header (magic 0xacca) naming its own offset.
Prints the figures and "CRASH-CHECK OK" or the blocks that are wrong; exits 0 or 1.
"""
import re
import struct
import sys

BLOCK = 4096


def console(path):
    with open(path, "rb") as f:
        return f.read().decode(errors="replace").replace("\r", "")


def marks(text, name, key):
    return [int(m) for m in re.findall(r"^NVMF-CRASH-%s .*?%s=(\d+)" % (name, key), text, re.M)]


def expected(run, i):
    mark = "NVMF-CRASH run=%s blk=%08d " % (run, i)
    return (mark * (BLOCK // len(mark) + 1))[:BLOCK].encode()


def check_blocks(img, text, run, all_acked):
    acked = set(marks(text, "ACK", "blk"))
    fua = set(marks(text, "FUA", "blk"))
    flushed = max(marks(text, "FLUSHED", "upto"), default=0)
    stopped = marks(text, "STOPPED", "next")
    started = stopped[0] if stopped else None
    must = set(range(flushed)) | fua
    if all_acked:
        must |= acked
    bad = []
    present = 0
    for i in range(max([flushed] + list(acked | fua) + [started or 0]) + 1):
        data = img[i * BLOCK:(i + 1) * BLOCK]
        ok = data == expected(run, i)
        present += ok
        if i in must and not ok:
            bad.append((i, data[:40]))
    unflushed = (acked | fua) - set(range(flushed))
    print("flushed mark %d; acknowledged %d (%d FUA); acknowledged past the mark %d, of them in the file %d; "
          "blocks started %s, in the file %d, started but never acknowledged %s"
          % (flushed, len(acked | fua), len(fua), len(unflushed),
             sum(img[i * BLOCK:(i + 1) * BLOCK] == expected(run, i) for i in unflushed),
             started, present, "?" if started is None else started - len(acked | fua)))
    if flushed == 0:
        print("CRASH-CHECK FAIL: no flush completed before the kill")
        return 1
    if started is None:
        print("CRASH-CHECK FAIL: the guest did not report where it stopped")
        return 1
    for i, head in bad[:20]:
        print("CRASH-CHECK MISSING block %d (%s): %r" % (i, "FUA" if i in fua else "acknowledged", head))
    if bad:
        print("CRASH-CHECK FAIL: %d of %d blocks that had to survive are not in the file" % (len(bad), len(must)))
        return 1
    print("CRASH-CHECK OK: all %d blocks that had to survive are in the file" % len(must))
    return 0


def check_fio(img, text):
    prefix = marks(text, "FIO-STOPPED", "prefix")
    if not prefix:
        print("CRASH-CHECK FAIL: no NVMF-CRASH-FIO-STOPPED line")
        return 1
    n = prefix[0] // BLOCK
    bad = []
    for i in range(n):
        magic, _vtype, _len, _seed, off = struct.unpack_from("<HHIQQ", img, i * BLOCK)
        if magic != 0xacca or off != i * BLOCK:
            bad.append((i, magic, off))
    print("fio completed prefix %d bytes (%d blocks)" % (prefix[0], n))
    for i, magic, off in bad[:20]:
        print("CRASH-CHECK MISSING block %d: magic 0x%04x offset %d" % (i, magic, off))
    if n == 0:
        print("CRASH-CHECK FAIL: fio completed nothing before the kill")
        return 1
    if bad:
        print("CRASH-CHECK FAIL: %d of %d completed fio blocks are not in the file" % (len(bad), n))
        return 1
    print("CRASH-CHECK OK: all %d completed fio blocks are in the file" % n)
    return 0


def main():
    if len(sys.argv) < 4 or sys.argv[3] not in ("blocks", "fio"):
        sys.exit(__doc__)
    with open(sys.argv[1], "rb") as f:
        img = f.read()
    text = console(sys.argv[2])
    if sys.argv[3] == "fio":
        return check_fio(img, text)
    return check_blocks(img, text, sys.argv[4], "--all-acked" in sys.argv[5:])


if __name__ == "__main__":
    sys.exit(main())
