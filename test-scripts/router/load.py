#!/usr/bin/env python3
"""Continuous load: THREADS threads make connections to HOST PORT one after another (send a
line, read the answer) until STOPFILE exists. Prints "running" after the first answer, then at
the end one "NAME count" line per answering daemon and "ok=K closed=C error=E".
Usage: load.py HOST PORT THREADS STOPFILE"""
import collections, os, socket, sys, threading

host, port, nthreads, stop = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
lock = threading.Lock()
names = collections.Counter()
res = collections.Counter()
first = threading.Event()

def worker():
    while not os.path.exists(stop):
        try:
            c = socket.create_connection((host, port), timeout=10)
            c.sendall(b"hello\n")
            data = c.makefile("rb").readline()
            c.close()
            with lock:
                if data:
                    res["ok"] += 1
                    names[data.split()[0].decode()] += 1
                    first.set()
                else:
                    res["closed"] += 1
        except (ConnectionResetError, BrokenPipeError):
            with lock:
                res["closed"] += 1
        except OSError as e:
            with lock:
                res["error"] += 1
                print("error %s" % e, flush=True)

ts = [threading.Thread(target=worker) for _ in range(nthreads)]
for t in ts:
    t.start()
first.wait(20)
print("running", flush=True)
for t in ts:
    t.join()
for n, k in sorted(names.items()):
    print("%s %d" % (n, k))
print("ok=%d closed=%d error=%d" % (res["ok"], res["closed"], res["error"]), flush=True)
