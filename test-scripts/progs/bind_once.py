"""Binds one socket and reports how it went, on stdout only (so stderr holds only the library's
lines). argv: FAMILY(4|6) ADDRESS PORT [udp]. Prints "bind ok" or "bind ERRNO-NAME"."""
import errno
import socket
import sys

fam = socket.AF_INET6 if sys.argv[1] == "6" else socket.AF_INET
ty = socket.SOCK_DGRAM if sys.argv[4:] == ["udp"] else socket.SOCK_STREAM
s = socket.socket(fam, ty)
try:
    s.bind((sys.argv[2], int(sys.argv[3])))
    print("bind ok", flush=True)
except OSError as e:
    print("bind", errno.errorcode.get(e.errno, e.errno), flush=True)
