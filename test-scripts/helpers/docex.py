#!/usr/bin/env python3
"""Stand-in programs for the README/docs examples (t-doc-examples). Usage: docex.py ROLE ARGS.

  serve PORT...         TCP servers on 127.0.0.1:PORT: each connection gets an HTTP/1.0 answer
                        whose body is "hello PORT"; prints "serving PORT" once bound
  redis-client PORT     connects to 127.0.0.1:PORT, sends PING, prints the answer
  supervisor PORT DIR   serves PORT and connects to it itself; prints "reply=..." and whether
                        DIR/PORT.sock existed meanwhile
  resolver PORT         UDP 127.0.0.1:PORT: answers each datagram with "a:" + the datagram
  udp-client PORT       sends "q" to 127.0.0.1:PORT, prints the answer and who sent it
  lockdown-probe        tries what the lock-down example claims, one line per call:
                        "WHAT ok" or "WHAT ERRNO-NAME"
"""
import errno
import os
import socket
import sys
import threading


def answer(conn, port):
    try:
        conn.settimeout(5)
        try:
            conn.recv(4096)
        except OSError:
            pass
        body = b"hello %d\n" % port
        conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    finally:
        conn.close()


def serve(ports):
    listeners = []
    for port in ports:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen(16)
        listeners.append((s, port))
        print("serving %d" % port, flush=True)

    def loop(s, port):
        while True:
            c, _ = s.accept()
            threading.Thread(target=answer, args=(c, port), daemon=True).start()

    threads = [threading.Thread(target=loop, args=l, daemon=True) for l in listeners]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def name(e):
    return errno.errorcode.get(e, str(e))


def attempt(what, fn):
    try:
        fn()
        print(what, "ok", flush=True)
    except OSError as e:
        print(what, name(e.errno), flush=True)


def main():
    role, args = sys.argv[1], sys.argv[2:]
    if role == "serve":
        serve([int(p) for p in args])
    elif role == "redis-client":
        c = socket.create_connection(("127.0.0.1", int(args[0])), timeout=5)
        c.sendall(b"PING\r\n")
        print(c.recv(100).decode().strip(), flush=True)
    elif role == "supervisor":
        port, d = int(args[0]), args[1]
        s = socket.socket()
        s.bind(("127.0.0.1", port))
        s.listen(1)
        threading.Thread(target=lambda: answer(s.accept()[0], port), daemon=True).start()
        c = socket.create_connection(("127.0.0.1", port), timeout=5)
        c.sendall(b"GET / HTTP/1.0\r\n\r\n")
        data = b""
        while True:
            chunk = c.recv(4096)
            if not chunk:
                break
            data += chunk
        print("reply=" + data.decode().split("\r\n\r\n")[-1].strip(), flush=True)
        path = os.path.join(d, "%d.sock" % port)
        print("socket=%s %s" % (path, "exists" if os.path.exists(path) else "missing"), flush=True)
    elif role == "resolver":
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", int(args[0])))
        print("resolving", flush=True)
        while True:
            data, peer = s.recvfrom(512)
            s.sendto(b"a:" + data, peer)
    elif role == "udp-client":
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(5)
        s.sendto(b"q", ("127.0.0.1", int(args[0])))
        data, peer = s.recvfrom(512)
        print("%s from %s:%d" % (data.decode(), peer[0], peer[1]), flush=True)
    elif role == "lockdown-probe":
        def bind(ty, port):
            s = socket.socket(socket.AF_INET, ty)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", port))
            return s

        keep = []
        attempt("bind tcp 22", lambda: keep.append(bind(socket.SOCK_STREAM, 22)))
        attempt("bind tcp 8080", lambda: keep.append(bind(socket.SOCK_STREAM, 8080)))
        attempt("bind udp 5353", lambda: keep.append(bind(socket.SOCK_DGRAM, 5353)))
        attempt("client bind :0", lambda: keep.append(bind(socket.SOCK_STREAM, 0)))

        def connect(addr):
            c = socket.socket()
            c.settimeout(2)
            try:
                c.connect(addr)
            finally:
                c.close()

        attempt("connect 10.1.2.3:80", lambda: connect(("10.1.2.3", 80)))
        if keep:
            keep[0].listen(1)
        attempt("connect 127.0.0.1:22", lambda: connect(("127.0.0.1", 22)))
    else:
        sys.exit("unknown role " + role)


main()
