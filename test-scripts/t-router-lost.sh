#!/usr/bin/env bash
# Issue 13 item 3: an A receiver SIGKILLed with connections unread in its socket queue. The
# router counts them `lost` (SIOCOUTQ on its sending socket: unread datagrams stay charged to
# the sender) and logs one line when its next send finds the receiver gone; every connection
# made is then accounted for: served + lost + refused + timed_out = made.
. "$(dirname "$0")/lib.sh"
. "$TS_DIR/router/lib.sh"
need_router

N=10
P=$(free_port)
# A receiver that binds and never reads.
bg deaf "$PYTHON" -u -c '
import os, socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("ready", flush=True)
time.sleep(3600)' "$T/deaf.sock"
DEAF=$BG_PID
wait_grep "$T/deaf.out" '^ready' 10 "$DEAF"
# One worker: each worker has its own sending socket and notices its own share at its own next
# send, so "one more connection" counts everything only with a single worker (documented).
start_router router -S "$T/deaf.sock" -l 127.0.0.1 -p "$P" --status "$T/st" --workers 1
TGT="unix:$T/deaf.sock"

bg clients "$PYTHON" -u "$RH/clients.py" 127.0.0.1 "$P" "$N" --timeout 20
CL=$BG_PID
_d() { [ "$(counter "$T/st" "$TGT" delivered)" = "$N" ]; }
_wait_until 10 "$CL" _d || fail "the router did not deliver $N: $(status_of "$T/st")"
assert_eq 0 "$(counter "$T/st" "$TGT" lost)" "nothing counted lost while the receiver lives"
kill -KILL "$DEAF"
wait_exit "$CL" 20 || fail "clients did not see their connections end"
assert_eq "ok=0 closed=$N error=0" "$(tail -1 "$T/clients.out")" "the $N queued clients see EOF when the receiver dies"
# One more connection: the router's send finds the receiver gone.
out=$("$PYTHON" "$RH/clients.py" 127.0.0.1 "$P" 1 --timeout 10)
assert_eq "ok=0 closed=1 error=0" "$(echo "$out" | tail -1)" "the next connection is closed (no receiver)"
_l() { [ "$(counter "$T/st" "$TGT" refused)" = 1 ]; }
_wait_until 5 "" _l || fail "the last connection was not refused: $(status_of "$T/st")"
assert_eq "$N" "$(counter "$T/st" "$TGT" lost)" "status: the $N unread connections are counted lost"
assert_contains "$T/router.err" "event=lost target=$TGT count=$N reason=\"the receiver went away with $N connections unread\"" "one log line says what was lost"
[ "$(grep -c 'event=lost' "$T/router.err")" = 1 ] || fail "expected exactly one lost line: $(grep 'event=lost' "$T/router.err")"
lost=$(counter "$T/st" "$TGT" lost); ref=$(counter "$T/st" "$TGT" refused); to=$(counter "$T/st" "$TGT" timed_out)
assert_eq $((N + 1)) $((0 + lost + ref + to)) "served + lost + refused + timed_out = connections made"
status_of "$T/st" | grep -q "^total .* lost=$N " || fail "total line lacks lost=$N: $(status_of "$T/st")"
stop_bg "$ROUTER_PID"
