#!/usr/bin/env bash
# "B" protocol: a raw client (router/b_recv.py, the bytes of anchors.md) registers and receives
# fds; a wrong uid and a wrong API socket are refused (closed, no reply, logged); a slot is
# registered once; hostile and malformed peers are closed and logged and the router survives;
# connections for a slot whose client is gone wait and reach the client that registers again.
# Also the -P flag: a second router takes its connections from this one's slot.
. "$(dirname "$0")/lib.sh"
. "$TS_DIR/router/lib.sh"
need_router
id nobody >/dev/null 2>&1 || fail "user nobody missing"
NOBODY=$(id -u nobody)
chmod 755 "$T"  # nobody must reach the API sockets

P=$(free_port)
cat >"$T/sb.toml" <<CONF
status = "$T/st"
[[listen]]
address = "127.0.0.1:$P"
[[api_socket]]
path = "$T/api0"
mode = "0666"
[[api_socket]]
path = "$T/api1"
mode = "0666"
[[slot]]
number = 7
uid = 0
api_socket = 0
[[slot]]
number = 8
uid = $NOBODY
api_socket = 1
[[rule_set]]
id = 0
rules = [ { local = "127.0.0.1", to = "slot:7" }, { local = "127.0.0.2", to = "slot:8" } ]
CONF
start_router router -f "$T/sb.toml" --listen "127.0.0.2:$P"

# wrong uid: slot 7 belongs to uid 0
out=$(timeout 10 "$PYTHON" "$RH/b_recv.py" "$T/api0" 7 x --uid "$NOBODY"; echo "rc=$?")
echo "$out" | grep -qF "refused b'\\x82\\x00\\x00\\x00slot 7" || fail "wrong uid not refused: $out"
pass "slot 7 from uid $NOBODY is refused (a refusal record with the reason, then closed)"
assert_contains "$T/router.err" "slot 7 belongs to uid 0, peer is uid $NOBODY" "the refusal is logged"
# wrong API socket: slot 7 must register on api0
out=$(timeout 10 "$PYTHON" "$RH/b_recv.py" "$T/api1" 7 x; echo "rc=$?")
echo "$out" | grep -qF "refused b'\\x82\\x00\\x00\\x00slot 7" || fail "wrong API socket not refused: $out"
pass "slot 7 on the wrong API socket is refused"
assert_contains "$T/router.err" "slot 7 must register on API socket 0, not 1" "the refusal is logged"

# the raw client registers and receives fds
bg b7 "$PYTHON" -u "$RH/b_recv.py" "$T/api0" 7 seven
B7=$BG_PID
wait_grep "$T/b7.out" '^registered' 10 "$B7"
bg b8 "$PYTHON" -u "$RH/b_recv.py" "$T/api1" 8 eight --uid "$NOBODY"
wait_grep "$T/b8.out" '^registered' 10 "$BG_PID"
pass "raw clients registered slot 7 (uid 0, api0) and slot 8 (uid $NOBODY, api1)"
out=$(timeout 10 "$PYTHON" "$RH/b_recv.py" "$T/api0" 7 dup; echo "rc=$?")
echo "$out" | grep -qF "refused b'\\x82\\x00\\x00\\x00slot 7" || fail "second registration of slot 7 not refused: $out"
pass "a slot is registered once"

out=$("$PYTHON" "$RH/clients.py" 127.0.0.1 "$P" 4)
[ "$(echo "$out" | grep -c "^seven local=127.0.0.1:$P peer=127.0.0.1:")" = 4 ] || fail "slot 7: $out"
out=$("$PYTHON" "$RH/clients.py" 127.0.0.2 "$P" 2)
[ "$(echo "$out" | grep -c "^eight local=127.0.0.2:$P peer=127.0.0.1:")" = 2 ] || fail "slot 8: $out"
pass "connections arrive over B with the real addresses (4 on slot 7, 2 on slot 8)"

# hostile peers
timeout 60 "$PYTHON" "$RH/hostile_b.py" "$T/api0" 7 >"$T/hostile.out" 2>&1 || fail "hostile peers: $(cat "$T/hostile.out")"
pass "hostile peers closed: $(grep -c '^ok' "$T/hostile.out") cases"
assert_contains "$T/router.err" "malformed registration record" "malformed records are logged"
kill -0 "$ROUTER_PID" || fail "the router died"
out=$("$PYTHON" "$RH/clients.py" 127.0.0.1 "$P" 2)
[ "$(echo "$out" | grep -c "^seven ")" = 2 ] || fail "slot 7 after the hostile peers: $out"
pass "the router still serves slot 7 after the hostile peers"

# the client goes away: connections wait for the slot, a new client gets them
stop_bg "$B7"
bg clients "$PYTHON" -u "$RH/clients.py" 127.0.0.1 "$P" 3
CL=$BG_PID
wait_grep "$T/clients.out" '^connected' 10 "$CL"
bg b7b "$PYTHON" -u "$RH/b_recv.py" "$T/api0" 7 seven-again
wait_grep "$T/b7b.out" '^registered' 10 "$BG_PID"
wait_exit "$CL" 20 || fail "clients hung"
assert_eq 3 "$(grep -c '^seven-again ' "$T/clients.out")" "connections made while slot 7 had no client reach its next client"

# -P: a second router takes connections from slot 9 of this one (a B client), delivers over A
stop_bg "$ROUTER_PID"
cat >>"$T/sb.toml" <<CONF
[[slot]]
number = 9
uid = 0
api_socket = 0
CONF
sed -i 's|{ local = "127.0.0.1", to = "slot:7" }|{ local = "127.0.0.1", to = "slot:9" }|' "$T/sb.toml"
start_router router2 -f "$T/sb.toml" --listen "127.0.0.2:$P"
start_a inner "$T/inner.sock" inner
bg router3 "$SOCKETBOX" -P "9:$T/api0" -S "$T/inner.sock"
wait_grep "$T/router3.err" 'event=ready' 10 "$BG_PID"
out=$("$PYTHON" "$RH/clients.py" 127.0.0.1 "$P" 2)
[ "$(echo "$out" | grep -c "^inner local=127.0.0.1:$P peer=127.0.0.1:")" = 2 ] || fail "-P chain: $out"
pass "-P NR:PATH: connections taken from a B server and delivered over A"
