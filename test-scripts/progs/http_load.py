"""HTTP load for the router tests: N GET requests, CONC at a time, each on a new TCP connection.

usage: http_load.py HOST PORT PATH N CONC [--expect TEXT] [--every-ms MS] [--until FILE]
Prints `ok=K failed=F` and then up to 10 `error=...` lines. A request succeeds when the status
is 200 (and the body starts with TEXT if given). --every-ms: pause MS between a worker's
requests (a steady trickle instead of a flood). --until: stop once FILE exists (N is then
only the most requests made). Exit status 0 when F == 0.
"""
import http.client
import os
import sys
import threading
import time

host, port, path, n, conc = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
opts = sys.argv[6:]
expect = opts[opts.index("--expect") + 1].encode() if "--expect" in opts else None
every = float(opts[opts.index("--every-ms") + 1]) / 1000 if "--every-ms" in opts else 0.0
until = opts[opts.index("--until") + 1] if "--until" in opts else None

lock = threading.Lock()
next_i = 0
ok = 0
errors = []


def one():
    c = http.client.HTTPConnection(host, port, timeout=20)
    try:
        c.request("GET", path, headers={"Connection": "close"})
        r = c.getresponse()
        body = r.read()
        if r.status != 200:
            return "status %d" % r.status
        if expect is not None and not body.startswith(expect):
            return "body %r" % body[:60]
        return None
    except Exception as e:  # noqa: BLE001 - every failure is counted and reported
        return "%s: %s" % (type(e).__name__, e)
    finally:
        c.close()


def worker():
    global next_i, ok
    while True:
        with lock:
            if next_i >= n or (until is not None and os.path.exists(until)):
                return
            next_i += 1
        err = one()
        with lock:
            if err is None:
                ok += 1
            else:
                errors.append(err)
        if every:
            time.sleep(every)


threads = [threading.Thread(target=worker) for _ in range(conc)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("ok=%d failed=%d" % (ok, len(errors)))
for e in errors[:10]:
    print("error=%s" % e)
sys.exit(0 if not errors else 1)
