#!/usr/bin/env bash
# `socketbox status PATH --format prometheus`: after three connections delivered over A
# the exposition is valid (checked by a strict parser, and by promtool where installed)
# and says delivered 3 for the target; the gauges are there.
. "$(dirname "$0")/lib.sh"
. "$TS_DIR/router/lib.sh"
need_router

P=$(free_port)
start_a ra "$T/a.sock" alpha
start_router router -l 127.0.0.1 -p "$P" -S "$T/a.sock" --status "$T/status"
out=$("$PYTHON" "$RH/clients.py" 127.0.0.1 "$P" 3)
[ "$(echo "$out" | grep -c '^alpha ')" = 3 ] || fail "three connections should reach alpha: $out"

"$SOCKETBOX" status "$T/status" --format prometheus >"$T/prom.txt" 2>"$T/prom.err" \
    || fail "status --format prometheus failed: $(cat "$T/prom.err")"
res=$("$PYTHON" "$RH/prom_check.py" <"$T/prom.txt") || fail "invalid exposition: $res
$(cat "$T/prom.txt")"
pass "valid Prometheus exposition ($res)"
grep -Eq "^socketbox_target_delivered_total\{target=\"unix:$T/a.sock\"\} 3$" "$T/prom.txt" \
    || fail "delivered counter of 3 expected: $(cat "$T/prom.txt")"
pass "delivered counter is 3"
grep -q '^# TYPE socketbox_target_delivered_total counter$' "$T/prom.txt" || fail "delivered is not a counter"
grep -q '^# TYPE socketbox_waiting gauge$' "$T/prom.txt" || fail "no waiting gauge: $(cat "$T/prom.txt")"
pass "counters typed counter, levels typed gauge"
if command -v promtool >/dev/null; then
    promtool check metrics <"$T/prom.txt" || fail "promtool rejects the exposition"
    pass "promtool check metrics"
fi
"$SOCKETBOX" status "$T/status" --format json >/dev/null 2>"$T/bad.err" && fail "status --format json should be refused"
grep -q "expected text or prometheus" "$T/bad.err" || fail "unclear error: $(cat "$T/bad.err")"
pass "a wrong status format is refused with a clear line"
