#!/usr/bin/env python3
"""A stand-in for systemd's notification socket: binds a DGRAM socket at PATH, prints "ready",
then prints every message received. Usage: notify_sock.py PATH"""
import os, socket, sys
try:
    os.unlink(sys.argv[1])
except FileNotFoundError:
    pass
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("ready", flush=True)
while True:
    print(s.recv(4096).decode(errors="replace"), flush=True)
