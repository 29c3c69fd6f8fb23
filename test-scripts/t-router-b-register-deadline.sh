#!/usr/bin/env bash
# B server: connections that never register (issue 13 item 5). With b_register_timeout_ms = 800
# and b_uid_limit = 5: five idle unregistered connections of one uid fill its limit (a sixth is
# refused at once), all five are closed by the router after the deadline (EOF seen by the
# client, `no registration within 800 ms` logged), the router's fd count is back to what it was,
# and the uid can then register its slot. A client that registers in time is not closed.
. "$(dirname "$0")/lib.sh"
. "$TS_DIR/router/lib.sh"
need_router

P=$(free_port)
cat >"$T/sb.toml" <<CONF
b_uid_limit = 5
b_register_timeout_ms = 800
[[listen]]
address = "127.0.0.1:$P"
[[api_socket]]
path = "$T/api0"
mode = "0600"
[[slot]]
number = 7
uid = 0
api_socket = 0
[[rule_set]]
id = 0
rules = [ { local = "127.0.0.1", to = "slot:7" } ]
CONF
start_router router -f "$T/sb.toml"
RPID=$ROUTER_PID
cat >"$T/idle.py" <<'PY'
import os, socket, struct, sys, time
api, pid = sys.argv[1], int(sys.argv[2])
fds = lambda: len(os.listdir("/proc/%d/fd" % pid))
def settle(base):
    end = time.time() + 5
    while fds() > base and time.time() < end:
        time.sleep(0.02)
    return fds()
base = fds()
# A registered client that keeps its registration past the deadline.
reg = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
reg.connect(api)
reg.send(b"\x01\x00\x00\x00" + struct.pack("!I", 7))
reg.settimeout(5)
assert reg.recv(8) == b"\x80\x00\x00\x00", "registration not acknowledged"
idle = []
for i in range(4):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(api)
    idle.append(s)
sixth = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
sixth.connect(api)
sixth.settimeout(3)
t0 = time.time()
if sixth.recv(8) != b"" or time.time() - t0 > 1:
    print("FAIL the sixth connection of the uid was not refused at once"); sys.exit(1)
print("ok a connection over the uid's limit (1 registered + 4 idle) is closed at once")
t0 = time.time()
for s in idle:
    s.settimeout(5)
    if s.recv(8) != b"":
        print("FAIL an idle connection got a record"); sys.exit(1)
    s.close()
dt = time.time() - t0
if not 0.5 < dt < 3:
    print("FAIL idle connections closed after %.2f s, not about 0.8 s" % dt); sys.exit(1)
print("ok 4 idle unregistered connections closed by the router after %.2f s" % dt)
reg.setblocking(False)
try:
    if reg.recv(8) == b"":
        print("FAIL the registered client was closed"); sys.exit(1)
except BlockingIOError:
    pass
print("ok the registered client stays connected")
reg.close()
n = settle(base)
if n != base:
    print("FAIL router fds: %d, %d before" % (n, base)); sys.exit(1)
print("ok router fds back to %d" % n)
# The slot can be registered again, and the uid's count was given back.
again = [socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) for _ in range(5)]
for s in again:
    s.connect(api)
again[0].send(b"\x01\x00\x00\x00" + struct.pack("!I", 7))
again[0].settimeout(5)
if again[0].recv(8) != b"\x80\x00\x00\x00":
    print("FAIL the slot cannot be registered after the idle ones went"); sys.exit(1)
print("ok 5 new connections of the uid accepted and slot 7 registered again")
PY
timeout 60 "$PYTHON" "$T/idle.py" "$T/api0" "$RPID" >"$T/idle.out" 2>&1 || fail "$(cat "$T/idle.out")"
while read -r line; do pass "${line#ok }"; done <"$T/idle.out"
assert_contains "$T/router.err" "no registration within 800 ms" "the closes are logged"
assert_contains "$T/router.err" "uid has 5 connections (limit 5)" "the refusal over the limit is logged"
