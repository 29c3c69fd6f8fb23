#!/usr/bin/env python3
"""An "A" protocol receiver: binds a Unix DGRAM socket at PATH, takes one fd per datagram
(SCM_RIGHTS), and serves it: reads one line, answers "NAME local=ADDR peer=ADDR", closes.
Prints "ready" once bound and one "conn ..." line per connection (stdout, flushed).
Usage: a_recv.py PATH NAME [--owner UID] [--mode 0666]"""
import array, os, socket, sys

path, name = sys.argv[1], sys.argv[2]
args = sys.argv[3:]
try:
    os.unlink(path)
except FileNotFoundError:
    pass
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
os.chmod(path, 0o666)
if "--owner" in args:
    os.chown(path, int(args[args.index("--owner") + 1]), -1)
print("ready", flush=True)

def fmt(a):
    return "%s:%d" % (a[0], a[1]) if isinstance(a, tuple) else repr(a)

while True:
    fds = array.array("i")
    data, anc, flags, _ = s.recvmsg(16, socket.CMSG_SPACE(16 * fds.itemsize))
    for level, typ, d in anc:
        if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
            fds.frombytes(d[: len(d) - (len(d) % fds.itemsize)])
    if data != b"\x00" or len(fds) != 1:
        print("bad datagram %r fds=%d" % (data, len(fds)), flush=True)
        for f in fds:
            os.close(f)
        continue
    c = socket.socket(fileno=fds[0])
    try:
        local, peer = c.getsockname(), c.getpeername()
        c.settimeout(5)
        line = c.makefile("rb").readline()
        c.sendall(("%s local=%s peer=%s\n" % (name, fmt(local), fmt(peer))).encode())
        print("conn %s local=%s peer=%s family=%d type=%d" % (name, fmt(local), fmt(peer), c.family, c.type), flush=True)
    except OSError as e:
        print("error %s" % e, flush=True)
    finally:
        c.close()
