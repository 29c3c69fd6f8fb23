"""Hostile and malformed requests to a `socketbox socket-server` (the netns= protocol,
sockswap_core::netns), then one valid request.

usage: netns_hostile.py SERVERPATH ALLOWED_TCP_PORT
Prints one line per case: `CASE reply errno=N fd=yes|no` or `CASE closed` (or `CASE error ...`).
The last case, `valid`, is a well-formed connect request for ALLOWED_TCP_PORT.
"""
import array
import os
import socket
import struct
import sys

path, port = sys.argv[1], int(sys.argv[2])


def sin(p, fam=socket.AF_INET):
    if fam == socket.AF_INET:
        return struct.pack("=H", socket.AF_INET) + struct.pack("!H", p) + socket.inet_aton("127.0.0.1") + bytes(8)
    return struct.pack("=H", fam) + bytes(14)


def request(op, domain, ty, proto, sa, length=None):
    return b"SXQ2" + struct.pack("!BBHiii", op, 0, len(sa) if length is None else length, domain, ty, proto) + sa


def ask(name, rec, send=True):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.settimeout(10)
    try:
        s.connect(path)
        if send:
            s.send(rec)
        else:
            s.close()
            print("%s closed-by-us" % name, flush=True)
            return
        fds = array.array("i")
        msg, anc, _, _ = s.recvmsg(64, socket.CMSG_SPACE(4 * 4))
        for level, typ, data in anc:
            if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
                fds.frombytes(data[: len(data) - len(data) % 4])
        if not msg:
            print("%s closed" % name, flush=True)
        elif msg[:4] == b"SXR2" and len(msg) == 8:
            print("%s reply errno=%d fd=%s" % (name, struct.unpack("!i", msg[4:8])[0], "yes" if fds else "no"), flush=True)
        else:
            print("%s garbage-reply %r" % (name, msg), flush=True)
        for fd in fds:
            os.close(fd)
    except OSError as e:
        print("%s error %s" % (name, e), flush=True)
    finally:
        s.close()


ask("random", os.urandom(37))
ask("empty", b"")
ask("magic", b"XXXX" + request(2, socket.AF_INET, socket.SOCK_STREAM, 6, sin(port))[4:])
ask("short-header", b"SXQ1\x02\x00")
ask("length-too-big", request(2, socket.AF_INET, socket.SOCK_STREAM, 6, sin(port), length=128))
ask("length-huge", request(2, socket.AF_INET, socket.SOCK_STREAM, 6, sin(port), length=65535))
ask("bad-op", request(9, socket.AF_INET, socket.SOCK_STREAM, 6, sin(port)))
ask("unix-sockaddr", request(2, socket.AF_INET, socket.SOCK_STREAM, 0, sin(0, socket.AF_UNIX)))
ask("raw-socket", request(2, socket.AF_INET, socket.SOCK_RAW, 255, sin(port)))
ask("udp-on-tcp-port", request(2, socket.AF_INET, socket.SOCK_DGRAM, 17, sin(port)))
ask("bad-domain", request(2, 999, socket.SOCK_STREAM, 6, sin(port)))
ask("oversize", request(2, socket.AF_INET, socket.SOCK_STREAM, 6, sin(port)) + bytes(4000))
ask("silent", b"", send=False)
ask("valid", request(2, socket.AF_INET, socket.SOCK_STREAM, 6, sin(port)))
