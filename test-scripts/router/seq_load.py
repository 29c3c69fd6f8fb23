#!/usr/bin/env python3
"""Sequential HTTP/1.0 GETs, a new connection each, from SOURCE to HOST:PORT until STOP_FILE
exists (or MAX requests); prints "ok=N failed=M" and, per failure, "fail: reason".
Writes the running count of answered requests to PROGRESS_FILE after each one.
Usage: seq_load.py HOST PORT SOURCE STOP_FILE PROGRESS_FILE [MAX]"""
import os, socket, sys

host, port, source, stop, progress = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
limit = int(sys.argv[6]) if len(sys.argv) > 6 else 100000
ok = failed = 0
reasons = []
while ok + failed < limit and not os.path.exists(stop):
    try:
        c = socket.create_connection((host, port), timeout=15, source_address=(source, 0))
        c.sendall(b"GET / HTTP/1.0\r\n\r\n")
        data = b""
        while True:
            chunk = c.recv(65536)
            if not chunk:
                break
            data += chunk
        c.close()
        if data.startswith(b"HTTP/1.0 200") or data.startswith(b"HTTP/1.1 200"):
            ok += 1
        else:
            failed += 1
            reasons.append("answer %r" % data[:40])
    except OSError as e:
        failed += 1
        reasons.append(str(e))
    with open(progress + ".tmp", "w") as f:
        f.write("%d\n" % ok)
    os.replace(progress + ".tmp", progress)
print("ok=%d failed=%d" % (ok, failed), flush=True)
for r in reasons:
    print("fail: " + r, flush=True)
