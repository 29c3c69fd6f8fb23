#!/usr/bin/env python3
"""A relay backend: listens on TCP HOST PORT or on the Unix stream socket unix:PATH; per
connection reads lines and answers each "from-backend LINE" (so a PROXY v1 header arrives as
"from-backend PROXY ..."). Prints "ready" once listening.
Usage: proxy_echo.py HOST PORT | proxy_echo.py unix:PATH"""
import os, socket, sys, threading

if sys.argv[1].startswith("unix:"):
    path = sys.argv[1][5:]
    if os.path.exists(path):
        os.unlink(path)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
else:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(16)
print("ready", flush=True)

def serve(c):
    with c, c.makefile("rb") as f:
        for line in f:
            c.sendall(b"from-backend " + line)

while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
