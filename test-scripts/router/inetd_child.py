#!/usr/bin/env python3
"""An inetd-mode program: the connection is stdin/stdout. Logs "start PID" to LOG, waits until
RELEASE exists, reads one line, answers "child local=... peer=..." from the router's
SOCKETBOX_LOCAL/SOCKETBOX_REMOTE and the socket's own getpeername. Usage: inetd_child.py LOG RELEASE"""
import os, socket, sys, time

log, release = sys.argv[1], sys.argv[2]
with open(log, "a") as f:
    f.write("start %d\n" % os.getpid())
while not os.path.exists(release):
    time.sleep(0.02)
s = socket.socket(fileno=0)
peer = s.getpeername()
sys.stdin.readline()
sys.stdout.write("child env_remote=%s peer=%s:%d\n" % (os.environ.get("SOCKETBOX_REMOTE"), peer[0], peer[1]))
sys.stdout.flush()
