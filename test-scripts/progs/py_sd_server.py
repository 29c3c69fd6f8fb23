"""A daemon for socket-activation tests; run UNDER the shim by systemd-socket-activate.

usage: py_sd_server.py tcp|udp HOST PORT N [closeall]
With `closeall`, first closes every fd from 3 up (os.closerange, as daemons do). Then binds
HOST:PORT (a `systemd` rule gives it the passed socket), prints what it sees as `key=value`
lines, and serves N connections (tcp: sends `port=PORT` and echoes until EOF) or N datagrams
(udp: answers each upper-cased to the reported sender).
"""
import os
import socket
import sys

kind, host, port, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
if len(sys.argv) > 5 and sys.argv[5] == "closeall":
    os.closerange(3, 1024)
fam = socket.AF_INET6 if ":" in host else socket.AF_INET
SOL = socket.SOL_SOCKET


def out(k, v):
    print("%s=%s" % (k, v), flush=True)


def addr(a):
    return "%s:%d" % (a[0], a[1])


out("listen_fds", os.environ.get("LISTEN_FDS", ""))
s = socket.socket(fam, socket.SOCK_DGRAM if kind == "udp" else socket.SOCK_STREAM)
try:
    s.bind((host, port))
except OSError as e:
    out("bind_errno", e.errno)
    # the program goes on: a port no rule covers
    s.bind((host, 0))
    out("fallback", addr(s.getsockname()))
    sys.exit(0)
out("sockname", addr(s.getsockname()))
out("so_type", s.getsockopt(SOL, socket.SO_TYPE))
out("so_domain", s.getsockopt(SOL, socket.SO_DOMAIN))
if kind == "tcp":
    s.listen(8)
    out("so_acceptconn", s.getsockopt(SOL, socket.SO_ACCEPTCONN))
    for i in range(n):
        c, a = s.accept()
        out("peer", addr(a))
        c.sendall(b"port=%d\n" % port)
        while True:
            d = c.recv(65536)
            if not d:
                break
            c.sendall(d)
        c.close()
else:
    for i in range(n):
        d, a = s.recvfrom(65536)
        out("peer", addr(a))
        s.sendto(d.upper(), a)
out("done", 1)
