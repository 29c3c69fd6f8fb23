#!/usr/bin/env python3
"""The program `socketbox -e` runs: takes the socket in SKBOX_LISTEN_FD and prints what it got
("uid=U accepting=A port=P"), then serves one connection with the line "exec MODE".
Mode tcp: the fd is a bound TCP socket (listen, accept). Mode b: the fd is a registered B
connection (receive one fd, 03 00 00 00 + SCM_RIGHTS).
Usage: exec_prog.py tcp|b"""
import array, os, socket, sys

mode = sys.argv[1]
fd = int(os.environ["SKBOX_LISTEN_FD"])
s = socket.socket(fileno=fd)
accepting = s.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
if mode == "tcp":
    print("uid=%d accepting=%d port=%d" % (os.getuid(), accepting, s.getsockname()[1]), flush=True)
    s.listen(8)
    c, _ = s.accept()
else:
    print("uid=%d type=%d" % (os.getuid(), s.getsockopt(socket.SOL_SOCKET, socket.SO_TYPE)), flush=True)
    fds = array.array("i")
    data, anc, _, _ = s.recvmsg(16, socket.CMSG_SPACE(4 * fds.itemsize))
    for level, typ, d in anc:
        fds.frombytes(d[: len(d) - len(d) % fds.itemsize])
    c = socket.socket(fileno=fds[0])
c.recv(100)
c.sendall(b"exec %s\n" % mode.encode())
c.close()
print("served", flush=True)
