"""Native AF_UNIX stream client (never run under the shim).

usage: uclient.py PATH [INFILE]
Connects to PATH, sends INFILE (or stdin) while reading, shuts down its write side after the
last byte, and copies everything received until EOF to stdout.
"""
import socket
import sys
import threading

path = sys.argv[1]
src = open(sys.argv[2], "rb") if len(sys.argv) > 2 else sys.stdin.buffer
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(30)
s.connect(path)


def send():
    while True:
        chunk = src.read(65536)
        if not chunk:
            break
        s.sendall(chunk)
    s.shutdown(socket.SHUT_WR)


t = threading.Thread(target=send, daemon=True)
t.start()
out = sys.stdout.buffer
while True:
    data = s.recv(65536)
    if not data:
        break
    out.write(data)
out.flush()
t.join(30)
