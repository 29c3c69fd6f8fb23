#!/usr/bin/env bash
# SIGHUP reloads the config under continuous load without dropping a connection: 4 client
# threads connect back to back while the router is sent 20 SIGHUPs that switch the route
# between two receivers (and one broken config, which is refused and the old one kept).
# Every connection is answered; both receivers served; nothing refused, timed out or lost.
. "$(dirname "$0")/lib.sh"
. "$TS_DIR/router/lib.sh"
need_router

P=$(free_port)
start_a one "$T/one.sock" one
start_a two "$T/two.sock" two
conf() { printf 'rule-set:0 size:1\nip:::ffff:127.0.0.1 port:%s jump-unix:%s\n' "$P" "$T/$1.sock" >"$T/sb.conf.new"; mv "$T/sb.conf.new" "$T/sb.conf"; }
conf one
start_router router -f "$T/sb.conf" -l 127.0.0.1 -p "$P" --status "$T/st"
bg load "$PYTHON" -u "$RH/load.py" 127.0.0.1 "$P" 4 "$T/stop"
LOAD=$BG_PID
wait_grep "$T/load.out" '^running' 20 "$LOAD"
for i in $(seq 1 20); do
    if [ $((i % 2)) = 1 ]; then conf two; else conf one; fi
    if [ "$i" = 10 ]; then echo "rule-set:0 size:1 bogus-keyword" >"$T/sb.conf"; fi
    kill -HUP "$ROUTER_PID"
    n=$(grep -c 'event=reload' "$T/router.err")
    _r() { [ "$(grep -c 'event=reload' "$T/router.err")" -gt "$n" ] || [ "$(grep -c 'event=reload' "$T/router.err")" -ge "$i" ]; }
    _wait_until 5 "$ROUTER_PID" _r
    # let some connections through between reloads
    c0=$(counter "$T/st" "unix:$T/one.sock" delivered); c0=${c0:-0}
    _more() { [ "$(( $(counter "$T/st" "unix:$T/one.sock" delivered) + 0 ))" -gt "$c0" ] || [ -n "$(counter "$T/st" "unix:$T/two.sock" delivered)" ]; }
    _wait_until 5 "" _more
done
conf two
kill -HUP "$ROUTER_PID"
_r2() { [ "$(grep -c 'event=reload result=ok' "$T/router.err")" -ge 20 ]; }
_wait_until 5 "$ROUTER_PID" _r2 || fail "reloads not logged: $(grep -c event=reload "$T/router.err")"
touch "$T/stop"
wait_exit "$LOAD" 30 || fail "load did not stop"
tail -3 "$T/load.out" | sed 's/^/# /'
last=$(tail -1 "$T/load.out")
case $last in ok=*" closed=0 error=0") ;; *) fail "connections were lost during reloads: $last" ;; esac
total=${last#ok=}; total=${total%% *}
[ "$total" -ge 100 ] || fail "too little load to mean anything: $last"
pass "$total connections during 21 reloads, none lost"
grep -q '^one [0-9]' "$T/load.out" && grep -q '^two [0-9]' "$T/load.out" || fail "the route did not switch: $(cat "$T/load.out")"
pass "the reloads switched the route between the two receivers"
assert_contains "$T/router.err" 'event=reload result="kept the old config"' "a broken config is refused on reload and the old one kept"
st=$(status_of "$T/st")
echo "$st" | grep -q "^total .* timed_out=0 refused=0 " || fail "status shows losses: $st"
pass "status: nothing refused or timed out"
