#!/usr/bin/env bash
# Delivery never follows symlinks (socketbox S4): a symlinked target socket and a target behind
# a symlinked directory are refused, logged and counted, while the real path works; a target
# that is not a socket is refused; --target-owner refuses a socket of the wrong owner.
# Malformed records from a hostile B server (-P) are survived and their fds closed.
. "$(dirname "$0")/lib.sh"
. "$TS_DIR/router/lib.sh"
need_router

P=$(free_port)
mkdir -p "$T/real" "$T/own"
ln -s real "$T/dirlink"
start_a victim "$T/real/victim.sock" victim
ln -s "$T/real/victim.sock" "$T/evil.sock"
: >"$T/plain-file"
start_a owned "$T/own/a.sock" owned
cat >"$T/sb.conf" <<CONF
rule-set:0 size:10
ip:::ffff:127.0.0.1 jump-unix:$T/real/victim.sock
ip:::ffff:127.0.0.2 jump-unix:$T/evil.sock
ip:::ffff:127.0.0.3 jump-unix:$T/dirlink/victim.sock
ip:::ffff:127.0.0.4 jump-unix:$T/plain-file
ip:::ffff:127.0.0.5 jump-unix:$T/own/a.sock
CONF
start_router router -f "$T/sb.conf" -l :: -p "$P" --status "$T/st" --target-owner "$T/own/=65534"
one() { "$PYTHON" "$RH/clients.py" "$1" "$P" 1 --timeout 5 | tail -1; }
assert_eq "ok=1 closed=0 error=0" "$(one 127.0.0.1)" "the real path is served"
assert_eq "ok=0 closed=1 error=0" "$(one 127.0.0.2)" "a symlinked target socket is refused"
assert_eq "ok=0 closed=1 error=0" "$(one 127.0.0.3)" "a target behind a symlinked directory is refused"
assert_eq "ok=0 closed=1 error=0" "$(one 127.0.0.4)" "a target that is not a socket is refused"
assert_eq 1 "$(grep -c '^conn' "$T/victim.out")" "the victim got only the connection meant for it"
assert_contains "$T/router.err" "event=unsafe-target target=unix:$T/evil.sock" "the symlink is logged"
assert_eq 1 "$(counter "$T/st" "unix:$T/evil.sock" refused)" "status: symlink refusal counted"
assert_eq "ok=0 closed=1 error=0" "$(one 127.0.0.5)" "a socket owned by root is refused where uid 65534 is required"
assert_contains "$T/router.err" "socket owned by uid 0 but the config requires uid 65534" "the owner mismatch is logged"
chown 65534 "$T/own/a.sock"
assert_eq "ok=1 closed=0 error=0" "$(one 127.0.0.5)" "the same socket owned by uid 65534 is served"
stop_bg "$ROUTER_PID"

# -P with a hostile B server
bg fakeb "$PYTHON" -u "$RH/fake_b_server.py" "$T/fakeb.api"
FB=$BG_PID
wait_grep "$T/fakeb.out" '^listening' 10 "$FB"
# the -P router: its connections come from the hostile server
bg router3 "$SOCKETBOX" -P "5:$T/fakeb.api" -S "$T/real/victim.sock"
R3=$BG_PID
wait_grep "$T/fakeb.out" '^sent' 15 "$FB"
assert_contains "$T/fakeb.out" "registered 5" "-P registered slot 5 with the raw bytes"
assert_contains "$T/fakeb.out" "pipe-eof" "fds in malformed records were closed by the router"
grep -q "^answer victim " "$T/fakeb.out" || fail "the good record after the malformed ones was not delivered: $(cat "$T/fakeb.out")"
pass "the good record after 4 malformed ones was delivered"
kill -0 "$R3" || fail "the -P router died"
assert_contains "$T/router3.err" "malformed record" "malformed records are logged"
