"""Run socket operations step by step UNDER the shim and print one line per step.

usage: py_probe.py OP...
Each OP prints `OP -> RESULT` where RESULT is `ok`, `ok VALUE` or the errno name of the OSError.
OPs (one socket `s`, plus `d` for a dup):
  inet | inet6 | unix        create s (SOCK_STREAM)
  udp | udp6                 create s (SOCK_DGRAM)
  bind=HOST:PORT             bind s (IPv6 host in brackets: bind=[::1]:80); for unix: bind=PATH
  listen                     listen(s, 16)
  connect=HOST:PORT          connect s (for unix: connect=PATH)
  name | peer                getsockname / getpeername of s
  echo-once                  accept one connection on s, echo it until EOF, close it
  send=TEXT | recv           send TEXT on s / receive up to 64 KiB from s
  dup | close-dup | close    dup s into d / close d / close s
  fork-close                 fork; the child closes s (and d) and exits; the parent waits for it
  spawn                      subprocess.run(["true"]) (close_fds=True)
  exists=PATH                whether PATH exists (and is a socket)
  mode=PATH                  octal permission bits of PATH
  ready                      print `ready -> ok` (a marker to wait for)
  wait=FILE                  wait until FILE exists (the test's go-ahead), at most 20 s
"""
import errno
import os
import socket
import stat
import subprocess
import sys
import time

s = None
d = None


def hp(spec):
    host, _, port = spec.rpartition(":")
    return host.strip("[]"), int(port)


def fmt(a):
    if isinstance(a, tuple):
        return "%s:%d" % (a[0], a[1])
    if isinstance(a, bytes):
        return repr(a)
    return str(a)


for op in sys.argv[1:]:
    name, _, arg = op.partition("=")
    try:
        res = "ok"
        if name in ("inet", "inet6", "unix", "udp", "udp6"):
            fam = {"inet": socket.AF_INET, "inet6": socket.AF_INET6, "unix": socket.AF_UNIX,
                   "udp": socket.AF_INET, "udp6": socket.AF_INET6}[name]
            typ = socket.SOCK_DGRAM if name.startswith("udp") else socket.SOCK_STREAM
            s = socket.socket(fam, typ)
            s.settimeout(20)
        elif name == "bind":
            s.bind(arg if s.family == socket.AF_UNIX else hp(arg))
        elif name == "listen":
            s.listen(16)
        elif name == "connect":
            s.connect(arg if s.family == socket.AF_UNIX else hp(arg))
        elif name == "name":
            res = "ok " + fmt(s.getsockname())
        elif name == "peer":
            res = "ok " + fmt(s.getpeername())
        elif name == "echo-once":
            c, a = s.accept()
            with c:
                while True:
                    data = c.recv(65536)
                    if not data:
                        break
                    c.sendall(data)
            res = "ok " + fmt(a)
        elif name == "send":
            s.sendall(arg.encode())
        elif name == "recv":
            res = "ok " + s.recv(65536).decode(errors="replace")
        elif name == "dup":
            d = s.dup()
        elif name == "close-dup":
            d.close()
        elif name == "close":
            s.close()
        elif name == "fork-close":
            pid = os.fork()
            if pid == 0:
                s.close()
                if d is not None:
                    d.close()
                os._exit(0)
            os.waitpid(pid, 0)
        elif name == "spawn":
            subprocess.run(["true"], check=True)
        elif name == "exists":
            try:
                st = os.stat(arg)
                res = "ok " + ("socket" if stat.S_ISSOCK(st.st_mode) else "file")
            except FileNotFoundError:
                res = "ok missing"
        elif name == "mode":
            res = "ok %o" % stat.S_IMODE(os.stat(arg).st_mode)
        elif name == "ready":
            pass
        elif name == "wait":
            deadline = time.time() + 20
            while not os.path.exists(arg) and time.time() < deadline:
                time.sleep(0.02)
        else:
            res = "unknown op"
    except OSError as e:
        res = errno.errorcode.get(e.errno, str(e.errno)) if e.errno else type(e).__name__
    print("%s -> %s" % (op, res), flush=True)
