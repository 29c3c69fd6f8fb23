#!/usr/bin/env python3
"""A "B" protocol client speaking the raw bytes of anchors.md: connects a SEQPACKET socket to
API_PATH, sends 01 00 00 00 + slot (u32 big-endian), expects 80 00 00 00, then takes one fd per
record 03 00 00 00 and serves it like a_recv.py. Prints "registered" or "refused" (exit 3).
Usage: b_recv.py API_PATH SLOT NAME [--uid UID]"""
import array, os, socket, struct, sys

api, slot, name = sys.argv[1], int(sys.argv[2]), sys.argv[3]
args = sys.argv[4:]
if "--uid" in args:
    os.setuid(int(args[args.index("--uid") + 1]))
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(api)
s.send(bytes([0x01, 0x00, 0x00, 0x00]) + struct.pack(">I", slot))
ack = s.recv(16)
if ack != b"\x80\x00\x00\x00":
    print("refused %r" % ack, flush=True)
    sys.exit(3)
print("registered", flush=True)

def fmt(a):
    return "%s:%d" % (a[0], a[1]) if isinstance(a, tuple) else repr(a)

while True:
    fds = array.array("i")
    data, anc, flags, _ = s.recvmsg(16, socket.CMSG_SPACE(16 * fds.itemsize))
    for level, typ, d in anc:
        if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
            fds.frombytes(d[: len(d) - (len(d) % fds.itemsize)])
    if not data and not fds:
        print("eof", flush=True)
        sys.exit(0)
    if data != b"\x03\x00\x00\x00" or len(fds) != 1:
        print("bad record %r fds=%d" % (data, len(fds)), flush=True)
        sys.exit(4)
    c = socket.socket(fileno=fds[0])
    try:
        local, peer = c.getsockname(), c.getpeername()
        c.settimeout(5)
        c.makefile("rb").readline()
        c.sendall(("%s local=%s peer=%s\n" % (name, fmt(local), fmt(peer))).encode())
        print("conn %s local=%s peer=%s" % (name, fmt(local), fmt(peer)), flush=True)
    except OSError as e:
        print("error %s" % e, flush=True)
    finally:
        c.close()
