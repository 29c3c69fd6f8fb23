"""Bulk transfer with a checksum, for the vsock tests and benchmark (plain sockets: run it under
the shim to convert them, or with --vsock to use AF_VSOCK natively).

usage: xfer.py serve [--vsock|--unix] PORT|PATH [READY_FILE]
           echo server (TCP on 127.0.0.1:PORT, AF_VSOCK any:PORT, or a Unix socket at PATH):
           per connection (in a thread) reads an 8-byte big-endian length N, then N bytes, then
           sends them back; writes READY_FILE once listening
       xfer.py send [--vsock] HOST|CID PORT NBYTES
           sends the length and NBYTES of deterministic data while reading the echo; prints
           "bytes N sent SHA recv SHA seconds S MiB/s R" (R counts both directions); exit 0
           when both checksums agree

No half-close (shutdown(SHUT_WR)) anywhere, and one direction after the other: vhost-device-vsock
0.3.0 turns a half-close from either side into a full close of the vsock connection, and a
host-initiated connection carrying bulk data both ways at once sometimes stalls ("Failed to
re-enable EPOLLOUT") — both measured with native AF_VSOCK programs, no shim involved.
"""
import hashlib
import random
import socket
import struct
import sys
import threading
import time

CHUNK = 65536


def listener(kind, where):
    if kind == "unix":
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(where)
    elif kind == "vsock":
        s = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)
        s.bind((socket.VMADDR_CID_ANY, int(where)))
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", int(where)))
    s.listen(16)
    return s


def recv_exact(c, n):
    buf = bytearray()
    while len(buf) < n:
        d = c.recv(min(CHUNK, n - len(buf)))
        if not d:
            raise EOFError(f"EOF after {len(buf)} of {n} bytes")
        buf += d
    return bytes(buf)


def echo(c):
    with c:
        (n,) = struct.unpack(">Q", recv_exact(c, 8))
        c.sendall(recv_exact(c, n))
        # wait for the client to close first (a close here could cut the data in flight)
        c.recv(1)


def serve(args):
    kind = {"--vsock": "vsock", "--unix": "unix"}.get(args[0], "tcp")
    if kind != "tcp":
        args = args[1:]
    s = listener(kind, args[0])
    if len(args) > 1:
        with open(args[1], "w") as f:
            f.write("ready\n")
    while True:
        c, _ = s.accept()
        threading.Thread(target=echo, args=(c,), daemon=True).start()


def send(args):
    vsock = args[0] == "--vsock"
    if vsock:
        args = args[1:]
    host, port, n = args[0], int(args[1]), int(args[2])
    data = random.Random(n).randbytes(n)
    if vsock:
        s = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)
        s.settimeout(60)
        s.connect((int(host), port))
    else:
        s = socket.create_connection((host, port), timeout=60)
    s.settimeout(60)
    sent = hashlib.sha256(data).hexdigest()
    t0 = time.monotonic()

    def writer():
        s.sendall(struct.pack(">Q", n))
        view = memoryview(data)
        for i in range(0, n, CHUNK):
            s.sendall(view[i:i + CHUNK])

    t = threading.Thread(target=writer, daemon=True)
    t.start()
    h = hashlib.sha256()
    got = 0
    while got < n:
        d = s.recv(min(CHUNK, n - got))
        if not d:
            break
        h.update(d)
        got += len(d)
    secs = time.monotonic() - t0
    t.join()
    s.close()
    recv = h.hexdigest()
    print(f"bytes {got} sent {sent} recv {recv} seconds {secs:.3f} MiB/s {2 * n / secs / 1048576:.2f}")
    sys.exit(0 if got == n and sent == recv else 1)


if __name__ == "__main__":
    {"serve": serve, "send": send}[sys.argv[1]](sys.argv[2:])
