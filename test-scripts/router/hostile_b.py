#!/usr/bin/env python3
"""Hostile and malformed peers on a B API socket. Each case connects, misbehaves, and checks the
router closed the connection without an acknowledgement (a refusal record `82 00 00 00 reason`
before the close is fine). Prints one "ok CASE" line per case;
exits 1 at the first surprise. Usage: hostile_b.py API_PATH GOOD_SLOT"""
import os, socket, struct, sys

api, slot = sys.argv[1], int(sys.argv[2])

def conn():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.settimeout(5)
    s.connect(api)
    return s

def expect_closed(name, s):
    def recv():
        try:
            return s.recv(256)
        except ConnectionResetError:
            return b""
    r = recv()
    if r.startswith(b"\x82\x00\x00\x00"):
        r = recv()
    if r != b"":
        print("FAIL %s: got %r instead of a close" % (name, r), flush=True)
        sys.exit(1)
    s.close()
    print("ok %s" % name, flush=True)

reg = lambda n: bytes([1, 0, 0, 0]) + struct.pack(">I", n)
cases = [
    ("short record", b"\x01\x00\x00"),
    ("long record", reg(slot) + b"\x00"),
    ("wrong opcode", bytes([2, 0, 0, 0]) + struct.pack(">I", slot)),
    ("nonzero reserved byte", bytes([1, 1, 0, 0]) + struct.pack(">I", slot)),
    ("unknown slot", reg(999)),
    ("garbage", os.urandom(200)),
    ("empty record", b""),
]
for name, data in cases:
    s = conn()
    s.send(data)
    expect_closed(name, s)

# A record carrying fds: the router must close them, not keep them.
s = conn()
r, w = os.pipe()
s.sendmsg([reg(slot)], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("ii", r, w))])
os.close(w)
expect_closed("record with fds attached", s)
# The router closed its copy of the write end: reading the pipe now gives EOF.
if os.read(r, 1) != b"":
    print("FAIL the router kept a passed fd", flush=True)
    sys.exit(1)
print("ok fds sent to the router were closed", flush=True)

# Connect and hang up at once, many times.
for _ in range(50):
    conn().close()
print("ok 50 connect-and-close", flush=True)

# More than 5 connections from one uid: the 6th is closed at once.
held = [conn() for _ in range(5)]
extra = conn()
expect_closed("sixth connection of one uid", extra)
for h in held:
    h.close()
