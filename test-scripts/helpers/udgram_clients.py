"""Native AF_UNIX datagram clients: each binds its own name, sends "datagram I" to the server's
socket and prints the answer as `replyI=...`.

usage: udgram_clients.py SERVER-PATH CLIENT-PATH...
"""
import socket
import sys

for i, me in enumerate(sys.argv[2:]):
    u = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    u.bind(me)
    u.settimeout(5)
    u.sendto(b"datagram %d" % i, sys.argv[1])
    print("reply%d=%s" % (i, u.recv(100).decode()))
