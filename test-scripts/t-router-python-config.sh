#!/usr/bin/env bash
# python-socketbox's own config.json, unchanged: its sample (two incoming sockets, one in another
# network namespace, final_netns, a rule list with a key python-socketbox ignores) passes
# `socketbox check` with a warning, `explain` routes it as python-socketbox does, and a router
# run from it (inside test namespaces standing in for the sample's /run/netns/test_1, test_2)
# serves a B client; a config using every key (daemon, every incoming option, an inherited fd,
# netns, final_netns, two paths, a map) loads without a warning and serves two B clients, the
# listener opened in a test-created namespace.
. "$(dirname "$0")/lib.sh"
. "$TS_DIR/router/lib.sh"
need_router
need ip

sample() { # the sample config.json of python-socketbox, its values verbatim
cat <<'CONF'
{ "socketbox-version": 1,
  "daemon": { "uid": 0, "gid": 0 },
  "incoming": [ { "address": "::", "port": 80 },
                { "address": "::ffff:127.0.0.150", "port": 2, "transparent": true, "netns": "/run/netns/test_1" } ],
  "final_netns": "/run/netns/test_2",
  "outgoing": [ { "uid": 150000, "path_nr": 0 } ],
  "paths": [ { "socket": "/run/socketbox/socketbox-ctl.sock", "mode": "0777", "uid": 0, "gid": 0 } ],
  "rules": {
    "_start": { "type": "rule", "rules": [ { "l_ip": "::1", "port": 80, "incoming_socket": 0, "jump": "r:another" } ] },
    "another": { "type": "rule", "rules": [ { "jump": "o:0" } ] } } }
CONF
}
sample >"$T/config.json"
"$SOCKETBOX" check -f "$T/config.json" >"$T/check.out" 2>"$T/check.err" || fail "check: $(cat "$T/check.err")"
grep -q '^config ok' "$T/check.out" || fail "check: $(cat "$T/check.out")"
grep -q 'warning: .*rules._start.rules\[0\]: key "port" is not one python-socketbox reads; ignored' "$T/check.err" \
    || fail "no warning for the ignored key: $(cat "$T/check.err")"
[ "$(grep -c warning "$T/check.err")" = 1 ] || fail "more than one warning: $(cat "$T/check.err")"
pass "python-socketbox's sample config.json: check exits 0, one warning for the ignored \"port\""

# Routing as python-socketbox: listener 0 and local ::1 (any port: "port" is not read) -> slot 0.
ex() { "$SOCKETBOX" explain -f "$T/config.json" "$@" 2>/dev/null | grep "^-> "; }
for args in ":: 80 ::1 5000 0|-> fail" "::1 80 ::1 5000 0|-> slot:0" "::1 8080 ::1 5000 0|-> slot:0" \
            "::1 80 ::1 5000 1|-> fail" "::ffff:127.0.0.150 2 ::ffff:127.0.0.1 9 1|-> fail"; do
    got=$(ex ${args%|*})
    [ "$got" = "${args#*|}" ] || fail "explain ${args%|*}: '$got', want '${args#*|}'"
done
pass "explain routes the sample as python-socketbox would (5 tuples)"

# Run the sample in namespaces of our own: OUTER (where it starts: port 80 is free there), and
# two for the sample's test_1 / test_2 (only their paths and the socket path are substituted).
make_netns; OUTER=$NS; NS_OUTER=("${IN_NS[@]}")
N1=sbt1-$$-$RANDOM; N2=sbt2-$$-$RANDOM
ip netns add "$N1" && ip netns add "$N2" || fail "ip netns add"
trap '_rc=$?; ip netns del "$OUTER" 2>/dev/null; ip netns del "$N1" 2>/dev/null; ip netns del "$N2" 2>/dev/null; (exit $_rc); _cleanup' EXIT
ip -n "$N1" link set lo up; ip -n "$N2" link set lo up
chmod 755 "$T"
sample | sed -e "s|/run/netns/test_1|/run/netns/$N1|" -e "s|/run/netns/test_2|/run/netns/$N2|" \
    -e "s|/run/socketbox/socketbox-ctl.sock|$T/ctl.sock|" >"$T/run.json"
bg router "${NS_OUTER[@]}" "$SOCKETBOX" -f "$T/run.json"
ROUTER_PID=$BG_PID
wait_grep "$T/router.err" 'event=ready' 10 "$ROUTER_PID"
[ "$(stat -L -c %i "/proc/$ROUTER_PID/ns/net")" = "$(stat -L -c %i "/run/netns/$N2")" ] \
    || fail "the router is not in final_netns"
pass "the router ends in final_netns"
"${NS_OUTER[@]}" ss -ltnH | grep -q ':80 ' || fail "no listener on port 80 in the starting namespace"
ip netns exec "$N1" ss -ltnH | grep -q '127.0.0.150]:2 ' || fail "no listener 127.0.0.150:2 in test_1's stand-in: $(ip netns exec "$N1" ss -ltn)"
pass "incoming[1] (netns) listens in its namespace, incoming[0] in the starting one"
[ "$(stat -c %a "$T/ctl.sock")" = 777 ] || fail "API socket mode $(stat -c %a "$T/ctl.sock")"
bg b0 "$PYTHON" -u "$RH/b_recv.py" "$T/ctl.sock" 0 slot0 --uid 150000
wait_grep "$T/b0.out" '^registered' 10 "$BG_PID"
pass "a B client of uid 150000 registers slot 0 (o:0) on paths[0] (mode 0777)"
out=$("${NS_OUTER[@]}" "$PYTHON" "$RH/clients.py" ::1 80 2)
[ "$(echo "$out" | grep -c '^slot0 local=::1:80 peer=::1:')" = 2 ] || fail "sample routing: $out"
out=$(ip netns exec "$N1" "$PYTHON" "$RH/clients.py" 127.0.0.150 2 1)
echo "$out" | grep -q '^closed' || fail "incoming_socket 1 should be refused: $out"
pass "[::1]:80 on incoming 0 reaches slot 0; incoming 1 (no rule) is closed"
stop_bg "$ROUTER_PID"

# Every key.
P1=$(free_port); P2=$(free_port)
mkdir -p "$T/empty"
cat >"$T/every.json" <<CONF
{ "socketbox-version": 1,
  "daemon": { "uid": 65534, "gid": 65534, "groups": [65534], "chroot": "$T/empty" },
  "incoming": [
    { "address": "::1", "port": $P1, "transparent": true, "freebind": true, "reuseaddr": false,
      "reuseport": true, "backlog": 16, "netns": "/run/netns/$N1" },
    { "fd": 7, "listen": true, "backlog": 8 } ],
  "final_netns": "/proc/$$/ns/net",
  "outgoing": [ { "uid": 0, "path_nr": 0 }, { "uid": "0", "path_nr": 1 } ],
  "paths": [ { "socket": "$T/api0", "mode": "0600", "uid": 0, "gid": 0 },
             { "socket": "$T/api1", "mode": "0660", "uid": -1, "gid": 65534 } ],
  "rules": {
    "_start": { "type": "rule", "rules": [
      { "r_port": 1, "jump": "o:1" },
      { "l_ip": "::1", "l_mask": "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "r_ip": "::1",
        "r_mask": "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "l_port": $P1, "incoming_socket": 0, "jump": "r:bymap" },
      { "incoming_socket": 1, "jump": "o:1" } ] },
    "bymap": { "type": "map", "mask": { "l_port": 0 }, "rules": [ { "l_port": $P1, "jump": "o:0" } ] } } }
CONF
"$SOCKETBOX" check -f "$T/every.json" >"$T/check2.out" 2>"$T/check2.err" || fail "check every key: $(cat "$T/check2.err")"
[ ! -s "$T/check2.err" ] || fail "warnings for a config of known keys: $(cat "$T/check2.err")"
pass "a config using every key loads without a warning"
# fd 7: a bound, not yet listening TCP socket on 127.0.0.1:P2 ("listen": true makes the router listen).
bg every "$PYTHON" -c '
import os, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
os.dup2(s.fileno(), 7)
os.execv(sys.argv[2], [sys.argv[2], "-f", sys.argv[3]])' "$P2" "$SOCKETBOX" "$T/every.json"
ROUTER_PID=$BG_PID
wait_grep "$T/every.err" 'event=ready' 10 "$ROUTER_PID"
[ "$(stat -L -c %i "/proc/$ROUTER_PID/ns/net")" = "$(stat -L -c %i /proc/$$/ns/net)" ] || fail "final_netns not entered"
[ "$(awk '/^Uid:/ {print $2}' "/proc/$ROUTER_PID/status")" = 65534 ] || fail "daemon.uid not taken"
[ "$(awk '/^Groups:/ {print $2}' "/proc/$ROUTER_PID/status")" = 65534 ] || fail "daemon.groups not taken"
[ "$(readlink "/proc/$ROUTER_PID/root")" = "$T/empty" ] || fail "daemon.chroot not taken: $(readlink "/proc/$ROUTER_PID/root")"
[ "$(stat -c '%a %g' "$T/api1")" = "660 65534" ] || fail "paths[1] mode/gid: $(stat -c '%a %g' "$T/api1")"
pass "daemon uid, groups, chroot taken; final_netns entered; paths[1] mode 0660 group 65534"
bg e0 "$PYTHON" -u "$RH/b_recv.py" "$T/api0" 0 zero
wait_grep "$T/e0.out" '^registered' 10 "$BG_PID"
bg e1 "$PYTHON" -u "$RH/b_recv.py" "$T/api1" 1 one
wait_grep "$T/e1.out" '^registered' 10 "$BG_PID"
out=$(ip netns exec "$N1" "$PYTHON" "$RH/clients.py" ::1 "$P1" 2)
[ "$(echo "$out" | grep -c "^zero local=::1:$P1 peer=::1:")" = 2 ] || fail "netns listener via the map: $out"
pass "the listener opened in a test-created namespace (netns) serves slot 0 through the map"
out=$("$PYTHON" "$RH/clients.py" 127.0.0.1 "$P2" 2)
[ "$(echo "$out" | grep -c "^one local=::ffff:127.0.0.1:$P2 peer=::ffff:127.0.0.1:\|^one local=127.0.0.1:$P2 peer=127.0.0.1:")" = 2 ] || fail "fd listener: $out"
pass "the inherited fd (listen: true) serves slot 1 (incoming_socket 1)"
