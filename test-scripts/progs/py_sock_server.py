"""TCP echo server with the socket module; run UNDER the shim.

usage: py_sock_server.py HOST PORT NCONN
Prints what the program sees (one `key=value` per line, flushed), serves NCONN connections
one after another (echo until EOF), closes the listener and prints `closed`.
"""
import socket
import sys

host, port, nconn = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
fam = socket.AF_INET6 if ":" in host else socket.AF_INET
SOL, TCP = socket.SOL_SOCKET, socket.IPPROTO_TCP


def out(k, v):
    print("%s=%s" % (k, v), flush=True)


def addr(a):
    return "%s:%d" % (a[0], a[1])


s = socket.socket(fam, socket.SOCK_STREAM)
s.setsockopt(SOL, socket.SO_REUSEADDR, 1)
s.setsockopt(TCP, socket.TCP_NODELAY, 1)
s.bind((host, port))
out("bound", addr(s.getsockname()))
s.listen(16)
out("sockname", addr(s.getsockname()))
out("so_type", s.getsockopt(SOL, socket.SO_TYPE))
out("so_domain", s.getsockopt(SOL, socket.SO_DOMAIN))
out("so_protocol", s.getsockopt(SOL, socket.SO_PROTOCOL))
out("so_acceptconn", s.getsockopt(SOL, socket.SO_ACCEPTCONN))
out("so_reuseaddr", int(s.getsockopt(SOL, socket.SO_REUSEADDR) != 0))
out("tcp_nodelay", int(s.getsockopt(TCP, socket.TCP_NODELAY) != 0))
out("ready", 1)
for i in range(nconn):
    c, a = s.accept()
    out("accept_addr", addr(a))
    out("peername", addr(c.getpeername()))
    out("conn_sockname", addr(c.getsockname()))
    out("conn_so_domain", c.getsockopt(SOL, socket.SO_DOMAIN))
    out("conn_so_type", c.getsockopt(SOL, socket.SO_TYPE))
    try:
        c.setsockopt(TCP, socket.TCP_NODELAY, 1)
        out("conn_tcp_nodelay", int(c.getsockopt(TCP, socket.TCP_NODELAY) != 0))
    except OSError as e:
        out("conn_tcp_nodelay", "error %s" % e)
    n = 0
    while True:
        d = c.recv(65536)
        if not d:
            break
        c.sendall(d)
        n += len(d)
    c.close()
    out("echoed", n)
s.close()
out("closed", 1)
