#!/usr/bin/env python3
"""Child-limit probe for the inetd programs (each child: `cat`, echoing).
Opens N connections to HOST PORT (one line sent on each) while the server PID may run at most
LIMIT children: the first LIMIT must echo, the rest must not (checked for HOLD seconds); then
the first connection is closed and the next must echo. The server's child count is sampled
all along and must never exceed LIMIT. Prints "ok max_children=K" or "FAIL ...".
Usage: hold.py HOST PORT N LIMIT SERVER_PID [HOLD]"""
import select, socket, sys, threading, time

host, port, n, limit, pid = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
hold = float(sys.argv[6]) if len(sys.argv) > 6 else 1.0
seen, stop = [0], threading.Event()

def children():
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return len(f.read().split())
    except OSError:
        return 0

def sample():
    while not stop.is_set():
        seen[0] = max(seen[0], children())
        time.sleep(0.002)

def echoed(c, timeout):
    r, _, _ = select.select([c], [], [], timeout)
    return bool(r) and c.recv(100).startswith(b"line")

def fail(msg):
    stop.set()
    print("FAIL " + msg, flush=True)
    sys.exit(1)

threading.Thread(target=sample, daemon=True).start()
fam = socket.AF_INET6 if ":" in host else socket.AF_INET
conns = []
for i in range(n):
    c = socket.socket(fam, socket.SOCK_STREAM)
    c.connect((host, port))
    c.sendall(b"line %d\n" % i)
    conns.append(c)
for i in range(limit):
    if not echoed(conns[i], 10):
        fail("connection %d (within the limit) got no echo" % i)
for i in range(limit, n):
    if echoed(conns[i], hold):
        fail("connection %d echoed although %d children were running" % (i, limit))
conns[0].close()
if not echoed(conns[limit], 10):
    fail("connection %d got no echo after a child ended" % limit)
stop.set()
if seen[0] > limit:
    fail("%d children seen, limit %d" % (seen[0], limit))
print("ok max_children=%d" % seen[0], flush=True)
