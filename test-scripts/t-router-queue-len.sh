#!/usr/bin/env bash
# queue_len (--queue-len) bounds each target's queue, whatever the number of workers: with two
# workers, queue_len 5 and an A receiver that stopped reading, at most 5 connections wait in the
# router (besides the kernel's own datagram queue); every other one is refused, counted and
# logged, and the counters add up to the connections made.
. "$(dirname "$0")/lib.sh"
. "$TS_DIR/router/lib.sh"
need_router
P=$(free_port)
start_a recv "$T/a.sock" slow
RECV=$BG_PID
cat >"$T/sb.toml" <<CONF
status = "$T/st"
workers = 2
queue_len = 5
queue_timeout_ms = 60000
[[listen]]
address = "127.0.0.1:$P"
[[rule_set]]
id = 0
default = "unix:$T/a.sock"
CONF
start_router router -f "$T/sb.toml"
[ "$(ls /proc/"$ROUTER_PID"/task | wc -l)" -ge 3 ] || fail "expected two worker threads and a control thread"
kill -STOP "$RECV"
n=80
"$PYTHON" "$RH/clients.py" 127.0.0.1 "$P" "$n" --timeout 2 >"$T/clients.out"
st=$(status_of "$T/st")
waiting=$(echo "$st" | awk '$1 == "total" { for (i = 2; i <= NF; i++) if ($i ~ /^waiting=/) { sub(/waiting=/, "", $i); print $i } }')
delivered=$(counter "$T/st" "unix:$T/a.sock" delivered)
refused=$(counter "$T/st" "unix:$T/a.sock" refused)
qlen=$(cat /proc/sys/net/unix/max_dgram_qlen)
assert_eq 5 "$waiting" "connections waiting in the router's queues for one target (2 workers, queue_len 5): $st"
[ "$delivered" -le $((qlen + 1)) ] || fail "more delivered ($delivered) than the stopped receiver's kernel queue holds ($((qlen + 1)))"
assert_eq "$n" $((delivered + waiting + refused)) "delivered + waiting + refused = connections made ($st)"
[ "$(grep -c 'event=refused' "$T/router.err")" -eq "$refused" ] || fail "each refusal is logged once: $(grep -c 'event=refused' "$T/router.err") lines, $refused counted"
pass "queue_len 5 with 2 workers: $waiting wait, $delivered in the kernel's queue, $refused refused"
kill -CONT "$RECV"
