#!/usr/bin/env bash
# Second binds under `socketbox-b=` behave as under `path=`, against a real router:
#   1  a dual-stack server binds 0.0.0.0:P and [::]:P (V6ONLY) under one socketbox-b rule: both
#      binds succeed, the router sees ONE registration, and connections through the router are
#      served (by the first listener, as a path rule's first socket serves both names);
#   2  two SO_REUSEPORT listeners on one address share the registered stream: both accept, every
#      connection is served;
#   3  a registration the router refuses fails the bind with one line naming the errno in words
#      and the router's own reason ("slot 1 is registered already", "belongs to uid").
. "$(dirname "$0")/lib.sh"
. "$HELPERS/router_shim.sh"
need curl
need_artifacts
need_router_bin

RP1=$(free_port); RP2=$(free_port)
API=$T/api
cat >"$T/sb.toml" <<CONF
[[listen]]
address = "127.0.0.1:$RP1"
[[listen]]
address = "127.0.0.1:$RP2"
[[api_socket]]
path = "$API"
mode = "0600"
[[slot]]
number = 1
uid = 0
[[slot]]
number = 2
uid = 0
[[slot]]
number = 3
uid = 4242
[[rule_set]]
id = 0
default = "fail"
rules = [
  { port = $RP1, to = "slot:1" },
  { port = $RP2, to = "slot:2" },
]
CONF
start_router router -f "$T/sb.toml"
assert_unix_socket "$API"

# A server that accepts on every socket it binds and answers "<listener index> <peer family>".
cat >"$T/srv.py" <<'PY'
import socket, sys, threading
mode, port, ready = sys.argv[1], int(sys.argv[2]), sys.argv[3]
socks = []
if mode == "dual":
    s4 = socket.socket(socket.AF_INET); s4.bind(("0.0.0.0", port))
    s6 = socket.socket(socket.AF_INET6)
    s6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1); s6.bind(("::", port))
    socks = [s4, s6]
else:
    for _ in range(2):
        s = socket.socket(socket.AF_INET)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        s.bind(("127.0.0.1", port))
        socks.append(s)
for s in socks:
    s.listen(16)
names = [s.getsockname()[:2] for s in socks]
def serve(i, s):
    while True:
        c, peer = s.accept()
        c.recv(100)
        c.sendall(f"HTTP/1.0 200 OK\r\n\r\nlistener {i} {c.family.name}\n".encode())
        c.close()
for i, s in enumerate(socks):
    threading.Thread(target=serve, args=(i, s), daemon=True).start()
open(ready, "w").write(f"{names}\n")
threading.Event().wait(60)
PY

registrations() { grep -cE "event=b-register slot=$1 " "$T/router.err"; }

# (1) dual stack
P=$(free_port)
bg dual "${PRE[@]}" SOCKSWAP_LOG=info SOCKSWAP_RULES="in,tcp,port=$P,socketbox-b=$API:1" \
    "$PYTHON" -u "$T/srv.py" dual "$P" "$T/dual.ready"
DUAL=$BG_PID
wait_file "$T/dual.ready" 10 "$DUAL"
assert_contains "$T/dual.ready" "[('0.0.0.0', $P), ('::', $P)]" "both binds succeed and keep their names"
assert_eq 1 "$(registrations 1)" "the router saw one registration of slot 1"
assert_contains "$T/dual.err" "slot 1 is registered by fd" "the second bind says the first listener serves it"
for i in 1 2 3; do
    out=$(timeout 10 curl -sS "http://127.0.0.1:$RP1/") || fail "dual: request $i through the router failed"
    [ "$out" = "listener 0 AF_INET" ] || fail "dual: request $i answered [$out], expected the first listener"
done
pass "dual stack: 3 connections through the router served by the first listener"

# (2) SO_REUSEPORT: two listeners, one registration, both accept
Q=$(free_port)
bg reuse "${PRE[@]}" SOCKSWAP_RULES="in,tcp,port=$Q,socketbox-b=$API:2" \
    "$PYTHON" -u "$T/srv.py" reuse "$Q" "$T/reuse.ready"
REUSE=$BG_PID
wait_file "$T/reuse.ready" 10 "$REUSE"
assert_eq 1 "$(registrations 2)" "the router saw one registration of slot 2"
: >"$T/reuse.answers"
for i in $(seq 1 40); do
    timeout 10 curl -sS "http://127.0.0.1:$RP2/" >>"$T/reuse.answers" || fail "reuseport: request $i failed"
done
assert_eq 40 "$(grep -c '^listener [01] AF_INET$' "$T/reuse.answers")" "reuseport: 40 of 40 connections served"
[ "$(grep -c '^listener 1 ' "$T/reuse.answers")" -gt 0 ] && [ "$(grep -c '^listener 0 ' "$T/reuse.answers")" -gt 0 ] ||
    fail "reuseport: one listener never accepted ($(sort "$T/reuse.answers" | uniq -c | tr '\n' ' '))"
pass "reuseport: both listeners accepted from the shared stream ($(sort "$T/reuse.answers" | uniq -c | tr '\n' ' '))"

# (3) refusals say why
refused() { # SLOT EXPECTED-REASON
    local R
    R=$(free_port)
    timeout 20 env "${PRE[@]:1}" SOCKSWAP_RULES="in,tcp,port=$R,socketbox-b=$API:$1" "$PYTHON" -c "
import socket, sys
s = socket.socket()
try:
    s.bind(('127.0.0.1', $R))
except OSError as e:
    print('bind failed', e.errno); sys.exit(0)
print('bind succeeded')" >"$T/ref$1.out" 2>"$T/ref$1.err"
    assert_contains "$T/ref$1.out" "bind failed" "slot $1: the refused registration fails the bind"
    assert_eq 1 "$(grep -c 'cannot register' "$T/ref$1.err")" "slot $1: one line about it ($(cat "$T/ref$1.err"))"
    assert_contains "$T/ref$1.err" "ECONNREFUSED (Connection refused): the router says: $2" "slot $1: errno in words and the router's reason"
}
refused 1 "slot 1 is registered already"
refused 3 "slot 3 belongs to uid 4242"
stop_bg "$DUAL"; stop_bg "$REUSE"
