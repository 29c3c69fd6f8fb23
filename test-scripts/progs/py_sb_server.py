"""A plain TCP server for the socketbox illusion test; run UNDER the shim.

usage: py_sb_server.py inet|inet6 HOST PORT COUNT
Binds HOST:PORT, prints `name=` (getsockname) and SO_TYPE / SO_DOMAIN / SO_PROTOCOL /
SO_ACCEPTCONN before and after listen, then `ready=1`; accepts COUNT connections and for each
prints `accept=` (the address accept() returned), `peer=`, `local=` (getpeername/getsockname of the
accepted socket) and `domain=` (its SO_DOMAIN), writes `hello` and closes it; then `done=1`.
Addresses print as HOST:PORT.
"""
import socket
import sys

fam = {"inet": socket.AF_INET, "inet6": socket.AF_INET6}[sys.argv[1]]
host, port, count = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])


def out(k, v):
    print("%s=%s" % (k, v), flush=True)


def hp(a):
    return "%s:%d" % (a[0], a[1]) if isinstance(a, tuple) else repr(a)


def opt(s, name):
    v = s.getsockopt(socket.SOL_SOCKET, getattr(socket, name))
    if name == "SO_TYPE":
        return socket.SocketKind(v).name
    if name == "SO_DOMAIN":
        return socket.AddressFamily(v).name
    if name == "SO_PROTOCOL":
        return {socket.IPPROTO_TCP: "IPPROTO_TCP", socket.IPPROTO_UDP: "IPPROTO_UDP"}.get(v, str(v))
    return str(v)


s = socket.socket(fam, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((host, port))
out("name", hp(s.getsockname()))
for o in ("SO_TYPE", "SO_DOMAIN", "SO_PROTOCOL", "SO_ACCEPTCONN"):
    out("bound_" + o, opt(s, o))
s.listen(16)
for o in ("SO_TYPE", "SO_DOMAIN", "SO_PROTOCOL", "SO_ACCEPTCONN"):
    out(o, opt(s, o))
out("name_listening", hp(s.getsockname()))
out("ready", 1)
for _ in range(count):
    c, a = s.accept()
    out("accept", hp(a))
    out("peer", hp(c.getpeername()))
    out("local", hp(c.getsockname()))
    out("domain", opt(c, "SO_DOMAIN"))
    c.sendall(b"hello\n")
    c.close()
out("done", 1)
