#!/usr/bin/env bash
# A receiver in its own network namespace (unshare -n) receives connections made in the host
# namespace through the router, and sees the real client and local addresses, although the
# namespace has no route to them (it cannot even reach the router's port itself).
. "$(dirname "$0")/lib.sh"
. "$TS_DIR/router/lib.sh"
need_router
need unshare

P=$(free_port)
bg recv unshare -n "$PYTHON" -u "$RH/a_recv.py" "$T/ns.sock" isolated
RECV=$BG_PID
wait_grep "$T/recv.out" '^ready' 10 "$RECV"
[ "$(readlink "/proc/$RECV/ns/net")" != "$(readlink /proc/self/ns/net)" ] || fail "receiver is not in its own namespace"
pass "receiver runs in network namespace $(readlink "/proc/$RECV/ns/net")"
if nsenter -t "$RECV" -n "$PYTHON" "$RH/clients.py" 127.0.0.1 "$P" 1 --timeout 2 | tail -1 | grep -q '^ok=1'; then
    fail "the receiver's namespace can reach the host's port"
fi
start_router router -l 127.0.0.1 -p "$P" -S "$T/ns.sock"
out=$("$PYTHON" "$RH/clients.py" 127.0.0.1 "$P" 3 --source 127.0.0.42)
[ "$(echo "$out" | grep -c "^isolated local=::ffff:127.0.0.1:$P peer=::ffff:127.0.0.42:")" = 3 ] || fail "netns receiver: $out"
pass "3 connections from the host namespace served in the isolated one, client 127.0.0.42 seen"
