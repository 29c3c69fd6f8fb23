#!/usr/bin/env python3
"""A hostile "B" server for the router's -P mode: acknowledges the registration, then sends
malformed records (garbage, no fd, two fds, oversized) and finally one good record carrying a
accepted TCP socket (of a loopback connection it makes itself). Prints "registered SLOT",
"answer ..." (what the daemon behind the router answered) and "sent". Usage: fake_b_server.py API_PATH"""
import os, socket, struct, sys

api = sys.argv[1]
try:
    os.unlink(api)
except FileNotFoundError:
    pass
srv = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
srv.bind(api)
srv.listen(1)
print("listening", flush=True)
c, _ = srv.accept()
rec = c.recv(64)
assert len(rec) == 8 and rec[0] == 1, rec
print("registered %d" % struct.unpack(">I", rec[4:])[0], flush=True)
c.send(b"\x80\x00\x00\x00")
r, w = os.pipe()
c.send(os.urandom(100))
c.send(b"\x03\x00\x00\x00")  # delivery without an fd
c.sendmsg([b"\x03\x00\x00\x00"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("ii", r, w))])
c.sendmsg([b"\x03\x00\x00\x00\x00"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("i", r))])
os.close(w)
lst = socket.create_server(("127.0.0.1", 0))
t = socket.create_connection(lst.getsockname())
acc, _ = lst.accept()
c.sendmsg([b"\x03\x00\x00\x00"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("i", acc.fileno()))])
acc.close()
t.sendall(b"hello\n")
print("answer " + t.makefile().readline().strip(), flush=True)
# the router closed every fd it got in a malformed record: the pipe's write end is gone
os.set_blocking(r, False)
try:
    print("pipe-eof" if os.read(r, 1) == b"" else "pipe-data", flush=True)
except BlockingIOError:
    print("pipe-still-open", flush=True)
print("sent", flush=True)
c.recv(1)
