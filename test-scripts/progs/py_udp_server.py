"""UDP upper-casing echo server with the socket module; run UNDER the shim.

usage: py_udp_server.py HOST PORT
Prints what the program sees (one `key=value` per line, flushed), then answers every datagram,
upper-cased, to the address recvfrom reported (printed as `peer=`), until it receives `quit`.
Datagrams starting with `msg:` are received with recvmsg and answered with sendmsg.
"""
import socket
import sys

host, port = sys.argv[1], int(sys.argv[2])
fam = socket.AF_INET6 if ":" in host else socket.AF_INET
SOL = socket.SOL_SOCKET


def out(k, v):
    print("%s=%s" % (k, v), flush=True)


def addr(a):
    return "%s:%d" % (a[0], a[1])


s = socket.socket(fam, socket.SOCK_DGRAM)
s.bind((host, port))
out("sockname", addr(s.getsockname()))
out("so_type", s.getsockopt(SOL, socket.SO_TYPE))
out("so_domain", s.getsockopt(SOL, socket.SO_DOMAIN))
out("so_protocol", s.getsockopt(SOL, socket.SO_PROTOCOL))
out("ready", 1)
while True:
    data, _, _, peer = s.recvmsg(65536)
    out("peer", addr(peer))
    if data == b"quit":
        break
    if data.startswith(b"msg:"):
        s.sendmsg([data.upper()], [], 0, peer)
    else:
        s.sendto(data.upper(), peer)
out("done", 1)
