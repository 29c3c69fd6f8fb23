"""For t-log-levels: one converted server and client, one socket no rule matches.

argv: PORT (converted by the rules), prints 'tcp-fd=N' for the unconverted socket."""
import socket
import sys

port = int(sys.argv[1])
srv = socket.socket()
srv.bind(("127.0.0.1", port))
srv.listen()
srv.getsockname()
cli = socket.socket()
cli.connect(("127.0.0.1", port))
conn, _ = srv.accept()
cli.sendall(b"ping")
assert conn.recv(4) == b"ping"
plain = socket.socket()
plain.bind(("127.0.0.1", 0))  # no rule: stays TCP/IP
plain.getsockname()
print("tcp-fd=%d" % plain.fileno(), flush=True)
for s in (conn, cli, srv, plain):
    s.close()
