"""UDP client with the socket module; run UNDER the shim.

usage: py_udp_client.py HOST PORT
Never binds. sendto + recvfrom, then sendmsg + recvmsg from a second socket, then connect + send
+ recv; prints what it sees as `key=value` lines.  Every receive times out after 5 s.
"""
import socket
import sys

host, port = sys.argv[1], int(sys.argv[2])
fam = socket.AF_INET6 if ":" in host else socket.AF_INET


def out(k, v):
    print("%s=%s" % (k, v), flush=True)


def addr(a):
    return "%s:%d" % (a[0], a[1])


c = socket.socket(fam, socket.SOCK_DGRAM)
c.settimeout(5)
c.sendto(b"hello", (host, port))
data, frm = c.recvfrom(65536)
out("reply1", data.decode())
out("from1", addr(frm))
out("sockname1", addr(c.getsockname()))
big = bytes(range(256)) * 32  # 8 KiB, binary
c.sendto(big, (host, port))
data, frm = c.recvfrom(65536)
out("big_ok", int(data == big.upper()))

m = socket.socket(fam, socket.SOCK_DGRAM)
m.settimeout(5)
m.sendmsg([b"msg:", b"scatter"], [], 0, (host, port))
data, _, flags, frm = m.recvmsg(65536)
out("reply2", data.decode())
out("from2", addr(frm))

c.connect((host, port))
out("peername3", addr(c.getpeername()))
c.send(b"connected")
out("reply3", c.recv(65536).decode())
out("so_type", c.getsockopt(socket.SOL_SOCKET, socket.SO_TYPE))
out("so_domain", c.getsockopt(socket.SOL_SOCKET, socket.SO_DOMAIN))
