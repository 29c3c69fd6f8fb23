"""An attacker holding sockets from a `socketbox socket-server` (speaking the wire format of
sockswap_core::netns directly) tries to get more than the allow list grants.

usage: netns_attack.py SERVERPATH SERVERPID CONNECT_PORT BIND_PORT SECRET_PORT MAX_CLIENTS IDLE_MS
CONNECT_PORT: allowed, something listens there; BIND_PORT: allowed, free; SECRET_PORT: not
allowed, a listener there must never see a connection. Prints `ok CASE ...` per check passed and
exits 1 at the first `FAIL CASE ...`.
"""
import array
import ctypes
import errno
import os
import resource
import select
import socket
import struct
import sys
import time

path, server_pid = sys.argv[1], int(sys.argv[2])
cport, bport, secret, max_clients, idle_ms = (int(a) for a in sys.argv[3:8])
libc = ctypes.CDLL(None, use_errno=True)
IPPROTO_MPTCP, IPPROTO_SCTP, IPPROTO_UDPLITE, IPPROTO_ICMPV6 = 262, 132, 136, 58
SO_DETACH_FILTER, SO_LOCK_FILTER = 27, 44


def fail(msg):
    print("FAIL " + msg, flush=True)
    sys.exit(1)


def ok(msg):
    print("ok " + msg, flush=True)


def sin(port, fam=socket.AF_INET):
    if fam == socket.AF_INET:
        return struct.pack("=H", fam) + struct.pack("!H", port) + socket.inet_aton("127.0.0.1") + bytes(8)
    if fam == socket.AF_INET6:
        return struct.pack("=H", fam) + struct.pack("!HI", port, 0) + socket.inet_pton(fam, "::1") + bytes(4)
    return struct.pack("=H", fam) + struct.pack("!H", port) + bytes(12)


def request(op, domain, ty, proto, sa, flags=0):
    return b"SXQ2" + struct.pack("!BBHiii", op, flags, len(sa), domain, ty, proto) + sa


def ask(rec, fds=()):
    """(errno, socket or None) of one request; fds are attached as SCM_RIGHTS."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.settimeout(10)
    s.connect(path)
    anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))] if fds else []
    s.sendmsg([rec], anc)
    msg, anc, _, _ = s.recvmsg(64, socket.CMSG_SPACE(4 * 4))
    s.close()
    got = array.array("i")
    for level, typ, data in anc:
        if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
            got.frombytes(data[: len(data) - len(data) % 4])
    if len(msg) != 8 or msg[:4] != b"SXR2":
        fail("reply %r" % msg)
    e = struct.unpack("!i", msg[4:])[0]
    sock = socket.socket(fileno=got[0]) if got else None
    for extra in got[1:]:
        os.close(extra)
    return e, sock


def expect_errno(case, fn, want):
    try:
        fn()
    except OSError as e:
        if e.errno in want:
            ok("%s refused: %s" % (case, errno.errorcode[e.errno]))
            return
        fail("%s: %s, expected %s" % (case, e, [errno.errorcode[w] for w in want]))
    fail("%s succeeded" % case)


def disconnect(s):
    """connect(AF_UNSPEC): the kernel dissolves the connection (or stops the listener)."""
    sa = struct.pack("=H", socket.AF_UNSPEC) + bytes(14)
    return libc.connect(s.fileno(), sa, len(sa))


def never_reaches(case, s, target_port, secret_listener):
    """A non-blocking connect from s to target_port must not complete within 1.5 s, and the
    listener there must not get a connection."""
    s.setblocking(False)
    try:
        s.connect(("127.0.0.1", target_port))
    except BlockingIOError:
        pass
    except OSError as e:
        ok("%s: connect refused at once: %s" % (case, e))
        return
    _, w, _ = select.select([], [s], [], 1.5)
    err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if w and err == 0:
        fail("%s: a connection to port %d was established" % (case, target_port))
    r, _, _ = select.select([secret_listener], [], [], 0.2)
    if r:
        fail("%s: the listener on port %d accepted a connection" % (case, target_port))
    ok("%s: port %d not reached (%s)" % (case, target_port, "pending" if not w else errno.errorcode.get(err, err)))


def count(kind):
    return len(os.listdir("/proc/%d/%s" % (server_pid, kind)))


secret_l = socket.socket()
secret_l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
secret_l.bind(("127.0.0.1", secret))
secret_l.listen(64)
base_fds, base_tasks = count("fd"), count("task")

# 1. a connect request: the socket arrives connected to the allowed port, and stays fenced.
e, s = ask(request(2, socket.AF_INET, socket.SOCK_STREAM, 0, sin(cport)))
if s is None or e not in (0, errno.EINPROGRESS):
    fail("connect request: errno %d, socket %s" % (e, s))
select.select([], [s], [], 5)
if s.getpeername() != ("127.0.0.1", cport):
    fail("the handed-out socket is connected to %s" % (s.getpeername(),))
ok("connect request: the socket arrives connected to port %d" % cport)
expect_errno("re-binding a connected socket", lambda: s.bind(("127.0.0.1", 0)), (errno.EINVAL,))
try:
    # After a non-blocking connect the kernel's first connect() call only completes it (0,
    # whatever the address); the peer must not change.
    s.connect(("127.0.0.1", secret))
except OSError:
    pass
if s.getpeername() != ("127.0.0.1", cport):
    fail("connecting it elsewhere: now connected to %s" % (s.getpeername(),))
expect_errno("connecting it elsewhere", lambda: s.connect(("127.0.0.1", secret)), (errno.EISCONN,))
expect_errno("listening on it", lambda: s.listen(5), (errno.EINVAL,))
expect_errno("detaching its filter", lambda: s.setsockopt(socket.SOL_SOCKET, SO_DETACH_FILTER, 0), (errno.EPERM,))
expect_errno("unlocking its filter", lambda: s.setsockopt(socket.SOL_SOCKET, SO_LOCK_FILTER, 0), (errno.EPERM,))
if disconnect(s) != 0:
    ok("connect(AF_UNSPEC) refused")
never_reaches("dissolved and re-aimed connect socket", s, secret, secret_l)
s.close()
# The same socket dissolved, bound to another port and listening: nobody gets in.
e, s = ask(request(2, socket.AF_INET, socket.SOCK_STREAM, 6, sin(cport)))
select.select([], [s], [], 5)
disconnect(s)
s.setblocking(True)
try:
    s.bind(("127.0.0.1", 0))
    s.listen(5)
except OSError as e:
    ok("dissolved connect socket cannot listen: %s" % e)
else:
    probe = socket.socket()
    probe.settimeout(1.5)
    try:
        probe.connect(s.getsockname())
        fail("a dissolved connect socket listening on %s accepted a connection" % (s.getsockname(),))
    except OSError as e:
        ok("dissolved connect socket turned listener: unreachable (%s)" % e)
    probe.close()
s.close()

# 2. a bind request (with listen): the listener works, and cannot connect out.
e, s = ask(request(1, socket.AF_INET, socket.SOCK_STREAM, 0, sin(bport), flags=1))
if e != 0 or s is None:
    fail("bind+listen request: errno %d" % e)
c = socket.create_connection(("127.0.0.1", bport), timeout=5)
a, _ = s.accept()
c.sendall(b"ping")
if a.recv(4) != b"ping":
    fail("the listener's connection does not carry data")
a.close(); c.close()
ok("bind+listen request: a listener on port %d that accepts" % bport)
expect_errno("connecting a listener", lambda: s.connect(("127.0.0.1", secret)), (errno.EISCONN, errno.EINVAL))
disconnect(s)
never_reaches("stopped listener connecting out from its port", s, secret, secret_l)
s.close()
e, s = ask(request(1, socket.AF_INET, socket.SOCK_STREAM, 0, sin(bport)))
if e != 0 or s is None:
    fail("bind request: errno %d" % e)
never_reaches("bound socket connecting out", s, secret, secret_l)
s.close()

# 3. protocols, types and families the server never creates, whatever the allow list.
kinds = [
    ("MPTCP", socket.AF_INET, socket.SOCK_STREAM, IPPROTO_MPTCP, cport),
    ("SCTP", socket.AF_INET, socket.SOCK_STREAM, IPPROTO_SCTP, cport),
    ("SCTP-seqpacket", socket.AF_INET, socket.SOCK_SEQPACKET, IPPROTO_SCTP, cport),
    ("UDP-Lite", socket.AF_INET, socket.SOCK_DGRAM, IPPROTO_UDPLITE, cport),
    ("ICMP-ping", socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP, cport),
    ("ICMPv6-ping", socket.AF_INET6, socket.SOCK_DGRAM, IPPROTO_ICMPV6, cport),
    ("TCP-as-datagram", socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_TCP, cport),
    ("raw", socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP, cport),
    ("type-with-flags", socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_NONBLOCK, 0, cport),
    ("AF_PACKET", socket.AF_PACKET, socket.SOCK_DGRAM, 0, cport),
    ("AF_NETLINK", socket.AF_NETLINK, socket.SOCK_DGRAM, 0, cport),
    ("AF_UNIX", socket.AF_UNIX, socket.SOCK_STREAM, 0, cport),
]
for op in (1, 2):
    for name, fam, ty, proto, port in kinds:
        e, s = ask(request(op, fam, ty, proto, sin(port, fam)))
        if s is not None or e == 0:
            fail("%s (op %d): errno %d, socket %s" % (name, op, e, s))
    ok("op %d: %s all refused without a socket" % (op, ", ".join(k[0] for k in kinds)))

# 4. file descriptors attached to a request.
r, w = os.pipe()
for n in (1, 3):
    e, s = ask(request(2, socket.AF_INET, socket.SOCK_STREAM, 0, sin(cport)), fds=[r] * n)
    if s is not None or e != errno.EINVAL:
        fail("a request carrying %d fds: errno %d, socket %s" % (n, e, s))
ok("requests carrying file descriptors refused with EINVAL")
os.close(r); os.close(w)

# 5. 1,000 idle connections: threads stay bounded, the idle are disconnected, fds come back.
resource.setrlimit(resource.RLIMIT_NOFILE, (4096, 4096))
idle, most_tasks = [], 0
for i in range(1000):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(path)  # blocking: a full backlog waits for the server's accept
    idle.append(s)
    if i % 50 == 0:
        most_tasks = max(most_tasks, count("task"))
most_tasks = max(most_tasks, count("task"))
if most_tasks > base_tasks + max_clients:
    fail("%d threads with 1000 idle clients (baseline %d, cap %d)" % (most_tasks, base_tasks, max_clients))
ok("1000 idle clients: at most %d threads (baseline %d, cap %d)" % (most_tasks, base_tasks, max_clients))
deadline = time.time() + idle_ms / 1000 + 10
refused = timed_out = 0
for s in idle:
    s.settimeout(max(0.1, deadline - time.time()))
    try:
        m = s.recv(64)
    except socket.timeout:
        fail("an idle client was not disconnected within %d ms + 10 s" % idle_ms)
    if m == b"":
        timed_out += 1
    elif m == b"SXR2" + struct.pack("!i", errno.EAGAIN):
        refused += 1
    else:
        fail("an idle client got %r" % m)
    s.close()
ok("1000 idle clients: %d refused over the cap (EAGAIN), %d disconnected after the idle timeout" % (refused, timed_out))
if timed_out == 0 or refused == 0:
    fail("expected both refusals over the cap and idle timeouts")


def settle(what, base):
    end = time.time() + 10
    while count(what) > base and time.time() < end:
        time.sleep(0.05)
    return count(what)


n = settle("fd", base_fds)
if n != base_fds:
    fail("the server holds %d fds, %d before the attack" % (n, base_fds))
ok("fds back to baseline (%d)" % n)

# 6. a uid that is not allowed costs no thread.
pid = os.fork()
if pid == 0:
    os.setgid(65534)
    os.setuid(65534)
    held, worst = [], 0
    for i in range(300):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        s.connect(path)
        held.append(s)
        worst = max(worst, count("task"))
    for s in held:
        s.settimeout(5)
        if s.recv(64) != b"SXR2" + struct.pack("!i", errno.EACCES):
            os._exit(2)
    os._exit(0 if worst <= base_tasks else 3)
_, status = os.waitpid(pid, 0)
if status != 0:
    fail("uid 65534: status %d (2: not refused with EACCES, 3: threads grew)" % status)
ok("300 connections of uid 65534 refused with EACCES, no thread spent")
n = settle("fd", base_fds)
if n != base_fds:
    fail("the server holds %d fds after the uid attack, %d before" % (n, base_fds))
ok("fds back to baseline after the uid attack (%d)" % n)
r, _, _ = select.select([secret_l], [], [], 0)
if r:
    fail("the secret listener has a connection")
ok("the secret service on port %d was never reached" % secret)
