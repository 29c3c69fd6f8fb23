"""Native AF_UNIX stream echo server (never run under the shim).

usage: echo_server.py PATH
Serves any number of connections, each in a thread: everything read is written back; at EOF the
connection is closed. Removes PATH on exit.
"""
import os
import signal
import socket
import sys
import threading

path = sys.argv[1]
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(path)
srv.listen(64)
signal.signal(signal.SIGTERM, lambda *a: (os.unlink(path), os._exit(0)))


def serve(c):
    with c:
        while True:
            data = c.recv(65536)
            if not data:
                break
            c.sendall(data)


while True:
    conn, _ = srv.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
