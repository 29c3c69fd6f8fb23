#!/usr/bin/env bash
# Router on loopback, native TOML config: dispatch by local address and port to three python
# servers, two receiving over A (Unix DGRAM + SCM_RIGHTS) and one over B (SEQPACKET slot).
# Each answers with its name and the addresses it sees: the real client address, the real local
# address. An unrouted address/port is refused and counted.
. "$(dirname "$0")/lib.sh"
. "$TS_DIR/router/lib.sh"
need_router

P1=$(free_port); P2=$(free_port)
start_a ra "$T/a1.sock" alpha
start_a rb "$T/a2.sock" beta
cat >"$T/sb.toml" <<CONF
status = "$T/status"
workers = 2
[[listen]]
address = "[::]:$P1"
[[listen]]
address = "127.0.0.1:$P2"
[[api_socket]]
path = "$T/api0"
mode = "0600"
[[slot]]
number = 7
uid = 0
api_socket = 0
[[rule_set]]
id = 0
default = "fail"
rules = [
  { local = "127.0.0.1", port = $P1, to = "unix:$T/a1.sock" },
  { local = "127.0.0.2", port = $P1, to = "unix:$T/a2.sock" },
  { listener = 1, local = "127.0.0.0/8", port = $P2, to = "slot:7" },
  { local = "::1", port = $P1, to = "map:1" },
  { listener = 2, to = "unix:$T/a1.sock" },
]
[[map_set]]
id = 1
match_local_port = true
default = "fail"
entries = [ { port = $P1, to = "unix:$T/a2.sock" } ]
CONF
"$SOCKETBOX" check -f "$T/sb.toml" >"$T/check.out" 2>&1 || fail "check failed: $(cat "$T/check.out")"
assert_contains "$T/check.out" "config ok" "socketbox check accepts the TOML config"
start_router router -f "$T/sb.toml" --listen "unix:$T/in.sock,mode=0666"
bg rc "$PYTHON" -u "$RH/b_recv.py" "$T/api0" 7 gamma
wait_grep "$T/rc.out" '^registered' 10 "$BG_PID"

out=$("$PYTHON" "$RH/clients.py" 127.0.0.1 "$P1" 1)
echo "$out" | grep -q "^alpha local=::ffff:127.0.0.1:$P1 peer=::ffff:127.0.0.1:[0-9]" || fail "alpha did not see the real addresses: $out"
pass "127.0.0.1:$P1 -> alpha over A (dual-stack listener: v4-mapped addresses, as socketbox)"
out=$("$PYTHON" "$RH/clients.py" 127.0.0.2 "$P1" 1 --source 127.0.0.9)
echo "$out" | grep -q "^beta local=::ffff:127.0.0.2:$P1 peer=::ffff:127.0.0.9:[0-9]" || fail "127.0.0.2 -> beta with the real client 127.0.0.9: $out"
pass "127.0.0.2:$P1 -> beta over A, client address 127.0.0.9 seen"
out=$("$PYTHON" "$RH/clients.py" ::1 "$P1" 1)
echo "$out" | grep -q "^beta local=::1:$P1 peer=::1:[0-9]" || fail "[::1]:$P1 -> map-set -> beta: $out"
pass "[::1]:$P1 -> map-set 1 -> beta over A (IPv6)"
out=$("$PYTHON" "$RH/clients.py" 127.0.0.1 "$P2" 3)
[ "$(echo "$out" | grep -c "^gamma local=127.0.0.1:$P2 peer=127.0.0.1:")" = 3 ] || fail "127.0.0.1:$P2 -> gamma over B: $out"
pass "127.0.0.1:$P2 -> gamma over B (3 connections)"
out=$("$PYTHON" "$RH/clients.py" 127.0.0.3 "$P1" 1)
assert_eq "ok=0 closed=1 error=0" "$(echo "$out" | tail -1)" "127.0.0.3:$P1 (no rule) is closed"

out=$(echo hello | timeout 10 socat -t 5 - "UNIX-CONNECT:$T/in.sock")
echo "$out" | grep -q "^alpha local=" || fail "Unix listener (index 2) -> alpha: [$out]"
pass "a connection on the Unix stream listener is routed by listener index to alpha"
assert_eq 2 "$(counter "$T/status" "unix:$T/a1.sock" delivered)" "status: alpha delivered"
assert_eq 2 "$(counter "$T/status" "unix:$T/a2.sock" delivered)" "status: beta delivered"
assert_eq 3 "$(counter "$T/status" slot:7 delivered)" "status: slot 7 delivered"
assert_eq 1 "$(counter "$T/status" fail refused)" "status: fail refused"
"$SOCKETBOX" explain -f "$T/sb.toml" ::1 "$P1" ::1 5000 >"$T/explain.out" || fail "explain failed"
assert_contains "$T/explain.out" "-> unix:$T/a2.sock" "explain follows rule-set 0 into map-set 1"

# -r: two routers share one port with SO_REUSEPORT; both serve
P3=$(free_port)
start_router r1 -l 127.0.0.1 -p "$P3" -r -S "$T/a1.sock" --workers 1
start_router r2 -l 127.0.0.1 -p "$P3" -r -S "$T/a2.sock" --workers 1
out=$("$PYTHON" "$RH/clients.py" 127.0.0.1 "$P3" 40)
assert_eq "ok=40 closed=0 error=0" "$(echo "$out" | tail -1)" "40 connections to two -r routers on one port"
echo "$out" | grep -q '^alpha ' && echo "$out" | grep -q '^beta ' || fail "SO_REUSEPORT did not spread connections: $out"
pass "both -r routers served connections"
