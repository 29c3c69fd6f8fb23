#!/usr/bin/env python3
"""Open N TCP connections to HOST PORT at once (threads), send one line on each, print each
answer line (or "closed" / "error ..."), then a summary "ok=K closed=C error=E".
Usage: clients.py HOST PORT [N] [--source ADDR] [--timeout S]"""
import socket, sys, threading

host, port = sys.argv[1], int(sys.argv[2])
n = int(sys.argv[3]) if len(sys.argv) > 3 and not sys.argv[3].startswith("--") else 1
args = sys.argv[3:]
src = args[args.index("--source") + 1] if "--source" in args else None
timeout = float(args[args.index("--timeout") + 1]) if "--timeout" in args else 15.0
results = [None] * n
started = threading.Barrier(n + 1) if n <= 1000 else None

def one(i):
    try:
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        c = socket.socket(fam, socket.SOCK_STREAM)
        c.settimeout(timeout)
        if src:
            c.bind((src, 0))
        c.connect((host, port))
        if started:
            started.wait()
        data = b""
        try:
            c.sendall(b"hello\n")
            while not data.endswith(b"\n"):
                chunk = c.recv(4096)
                if not chunk:
                    break
                data += chunk
        except (ConnectionResetError, BrokenPipeError):
            data = b""  # closed by the far end (a reset: our line was unread)
        results[i] = data.decode().strip() if data else "closed"
        c.close()
    except threading.BrokenBarrierError:
        results[i] = "error barrier"
    except OSError as e:
        if started:
            try:
                started.abort()
            except Exception:
                pass
        results[i] = "error %s" % e

ts = [threading.Thread(target=one, args=(i,)) for i in range(n)]
for t in ts:
    t.start()
if started:
    try:
        started.wait()
    except threading.BrokenBarrierError:
        pass
    print("connected", flush=True)
for t in ts:
    t.join()
ok = sum(1 for r in results if r and not r.startswith("error") and r != "closed")
closed = sum(1 for r in results if r == "closed")
for r in results:
    print(r)
print("ok=%d closed=%d error=%d" % (ok, closed, n - ok - closed), flush=True)
