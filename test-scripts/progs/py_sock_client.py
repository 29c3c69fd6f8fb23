"""TCP client with the socket module; run UNDER the shim.

usage: py_sock_client.py HOST PORT INFILE OUTFILE
Connects, prints what it sees (`key=value` lines), sends INFILE, shuts down writing, and stores
everything received until EOF in OUTFILE.
"""
import socket
import sys
import threading

host, port, infile, outfile = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
fam = socket.AF_INET6 if ":" in host else socket.AF_INET
SOL = socket.SOL_SOCKET


def out(k, v):
    print("%s=%s" % (k, v), flush=True)


s = socket.socket(fam, socket.SOCK_STREAM)
s.settimeout(30)
s.connect((host, port))
out("peername", "%s:%d" % s.getpeername()[:2])
out("sockname", "%s:%d" % s.getsockname()[:2])
out("so_domain", s.getsockopt(SOL, socket.SO_DOMAIN))
out("so_type", s.getsockopt(SOL, socket.SO_TYPE))
data = open(infile, "rb").read()


def send():
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)


t = threading.Thread(target=send)
t.start()
with open(outfile, "wb") as f:
    while True:
        d = s.recv(65536)
        if not d:
            break
        f.write(d)
t.join()
out("done", 1)
