#!/usr/bin/env bash
# No silent drops (socketbox S1: 11 of 30 served). 200 connections arrive while the A receiver
# is stopped (SIGSTOP) for 2 s: the receiver's datagram queue holds ~11, the rest wait in the
# router's per-target queue and are all served once it resumes. Meanwhile another target is
# served at once (a slow target blocks only itself). Then, with a short queue timeout, waiting
# connections are closed with a log line and counted as timed out.
. "$(dirname "$0")/lib.sh"
. "$TS_DIR/router/lib.sh"
need_router

P=$(free_port)
start_a slow "$T/slow.sock" slow
SLOW=$BG_PID
start_a fast "$T/fast.sock" fast
cat >"$T/sb.conf" <<CONF
rule-set:0 size:2
ip:::ffff:127.0.0.1 jump-unix:$T/slow.sock
ip:::ffff:127.0.0.2 jump-unix:$T/fast.sock
CONF
start_router router -f "$T/sb.conf" -l 127.0.0.1 -p "$P" -F --listen "127.0.0.2:$P" --status "$T/st" --queue-timeout 20000

kill -STOP "$SLOW"
bg clients "$PYTHON" -u "$RH/clients.py" 127.0.0.1 "$P" 200 --timeout 30
CL=$BG_PID
wait_grep "$T/clients.out" '^connected' 20 "$CL"
# All 200 are accepted by the router: ~11 sit in the receiver's queue, the rest in ours.
_q() { [ "$(counter "$T/st" "unix:$T/slow.sock" queued)" -ge 150 ]; }
_wait_until 10 "" _q || fail "the router did not queue the connections: $(status_of "$T/st")"
pass "$(counter "$T/st" "unix:$T/slow.sock" queued) connections wait in the router's queue for the stopped receiver"
w=$(status_of "$T/st" | sed -n 's/^total .* waiting=\([0-9]*\).*/\1/p')
[ "${w:-0}" -ge 150 ] || fail "status waiting gauge: $(status_of "$T/st")"
pass "status shows $w connections waiting now"
out=$("$PYTHON" "$RH/clients.py" 127.0.0.2 "$P" 5)
assert_eq "ok=5 closed=0 error=0" "$(echo "$out" | tail -1)" "the other target is served while the first one is stopped"
sleep 2
kill -CONT "$SLOW"
wait_exit "$CL" 40 || fail "clients did not finish"
assert_eq "ok=200 closed=0 error=0" "$(tail -1 "$T/clients.out")" "all 200 connections served after the 2 s pause"
assert_eq 200 "$(counter "$T/st" "unix:$T/slow.sock" delivered)" "status: 200 delivered"
assert_eq 0 "$(counter "$T/st" "unix:$T/slow.sock" timed_out)" "status: none timed out"
assert_eq 0 "$(counter "$T/st" "unix:$T/slow.sock" refused)" "status: none refused"
assert_eq 0 "$(status_of "$T/st" | sed -n 's/^total .* waiting=\([0-9]*\).*/\1/p')" "status: nothing waits any more"
stop_bg "$ROUTER_PID"

# Queue timeout: closed, logged, counted.
start_router router2 -f "$T/sb.conf" -l 127.0.0.1 -p "$P" --status "$T/st2" --queue-timeout 300
kill -STOP "$SLOW"
bg clients2 "$PYTHON" -u "$RH/clients.py" 127.0.0.1 "$P" 40 --timeout 10
CL2=$BG_PID
_t() { [ "$(counter "$T/st2" "unix:$T/slow.sock" timed_out)" -ge 20 ]; }
_wait_until 10 "$CL2" _t || fail "no queue timeouts: $(status_of "$T/st2")"
kill -CONT "$SLOW"
wait_exit "$CL2" 20 || fail "clients hung"
out=$(cat "$T/clients2.out")
closed=$(echo "$out" | tail -1 | sed 's/.*closed=\([0-9]*\).*/\1/')
[ "$closed" -ge 20 ] || fail "expected most connections closed after the queue timeout: $(echo "$out" | tail -1)"
to=$(counter "$T/st2" "unix:$T/slow.sock" timed_out)
assert_eq "$closed" "$to" "every closed connection is counted as timed out"
assert_contains "$T/router2.err" "event=queue-timeout target=unix:$T/slow.sock" "timeouts are logged"
