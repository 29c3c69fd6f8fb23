#!/usr/bin/env bash
# Listener handover (`socketbox --handover listener`, TOML `[[target]] handover = "listener"`):
# the router binds a listener for exactly the keys that route to an opted-in target, sends it
# once, and the kernel gives those connections straight to the target.
#   1. python http.server and nginx (2 workers), each in a network namespace of its own behind
#      the shim (socketbox=PATH): served, the real client address logged, nginx's
#      $server_addr:$server_port is the address curl connected to; every nginx worker holds the
#      handed-over listener; the router's accepted-connection counter stays 0.
#   2. The router is killed (SIGKILL) and started again while wrk runs against nginx: no failed
#      request; the new router keeps the listener its predecessor handed over (accepted=0).
#   1b/2b. The same over B (slots with handover = "listener"): the shim asks for the listener at
#      registration, and registers again after the restart, sending the listener along.
#   3. A mixed config in a network namespace of the test's own (a wildcard listener): one key
#      handed over, one dispatched per connection by the remote address, a `fail` default;
#      every connection lands where `socketbox explain` says, on the path it says.
#   4. A reload moves the handed-over key to a dispatched target: the listener is revoked, a
#      connection accepted before it is still served, new ones go where explain says.
# Router: $SOCKSWAP_ROUTER (default target/release/socketbox).
. "$(dirname "$0")/lib.sh"
. "$HELPERS/router_shim.sh"
need curl nginx unshare pgrep wrk ip ss
need_artifacts
need_router_bin

status_field() { # STATUS_PATH FIELD: a field of the total line
    "$ROUTER" status "$1" | sed -n "s/^total .*$2=\([0-9]*\).*/\1/p"
}

# The inode of the TCP socket listening on 127.0.0.1:PORT in this network namespace.
listener_inode() { # PORT
    awk -v want="$(printf '0100007F:%04X' "$1")" '$2 == want && $4 == "0A" { print $10 }' /proc/net/tcp
}

holds_inode() { # PID INODE
    local f
    for f in /proc/"$1"/fd/*; do
        [ "$(readlink "$f" 2>/dev/null)" = "socket:[$2]" ] && return 0
    done
    return 1
}

# ---- 1a. python http.server
RP=$(free_port)
start_router rpy -l 127.0.0.1 -p "$RP" -S "$T/py.a" --handover listener --status "$T/py.st"
start_py_server py 8111 "in,tcp,port=8111,socketbox=$T/py.a"
wait_grep "$T/rpy.err" 'event=handover target=unix:' 10 "$ROUTER_PID"
check_py py "$RP" 127.0.0.41
check_py py "$RP" 127.0.0.42
assert_eq 0 "$(status_field "$T/py.st" accepted)" "python: the router accepted no connection itself"
"$ROUTER" status "$T/py.st" | grep -q "^handover target=unix:$T/py.a .* state=handed-over since=20" ||
    fail "python: status does not show the target handed over: $("$ROUTER" status "$T/py.st")"
pass "python: status shows the handover and since when"
stop_bg "$SRV_PID"

# ---- 1b. nginx, master + 2 workers; the access log shows the real client and the address and
# port it connected to
RN=$(free_port)
start_router rngx -l 127.0.0.1 -p "$RN" -S "$T/ngx.a" --handover listener --status "$T/ngx.st"
NGX_DIR=$T/ngx
# `listen 8112` (any address): nginx asks getsockname for $server_addr/$server_port instead of
# repeating its configured address.
nginx_conf "$NGX_DIR" "8112" 2
sed -i 's/\$status \$request_uri/$status $request_uri $server_addr:$server_port/' "$NGX_DIR/nginx.conf"
NGINX_PRE=("${NS[@]}" "${PRE[@]}" SOCKSWAP_RULES="in,tcp,port=8112,socketbox=$T/ngx.a")
start_nginx ngx "$NGX_DIR"
NGX=$NGINX_PID
_two_workers() { [ "$(nginx_workers "$NGX" | wc -l)" -ge 2 ]; }
_wait_until 15 "$NGX" _two_workers
_wait_report $? "waiting for 2 nginx workers" "$NGX"
assert_other_netns "$NGX"
for src in 127.0.0.43 127.0.0.44 127.0.0.45 127.0.0.46; do
    got=$(timeout 20 curl -sS -f --interface "$src" -w ' port=%{local_port}' "http://127.0.0.1:$RN/hello") ||
        fail "nginx: curl from $src failed (status $?)"
    lport=${got##*port=}
    assert_eq "hello from nginx" "$(printf '%s' "${got% port=*}" | head -n 1)" "nginx answered $src"
    wait_grep "$NGX_DIR/access.log" "^[0-9]+ ${src//./\\.}:$lport 200 /hello 127\.0\.0\.1:$RN$" 10 "$NGX"
done
pass "nginx logged each real client and \$server_addr:\$server_port = 127.0.0.1:$RN (the address connected to)"
INO=$(listener_inode "$RN")
[ -n "$INO" ] || fail "no TCP listener on 127.0.0.1:$RN"
_workers_hold() {
    local w n=0
    for w in $(nginx_workers "$NGX"); do holds_inode "$w" "$INO" && n=$((n + 1)); done
    [ "$n" -ge 2 ]
}
# A worker takes the listener at its first accept; make enough connections to wake both.
for _ in $(seq 1 20); do curl -sS -o /dev/null "http://127.0.0.1:$RN/hello" || true; _workers_hold && break; done
_workers_hold || fail "not every nginx worker holds the handed-over listener (inode $INO): $(for w in $(nginx_workers "$NGX"); do echo "$w: $(ls -l /proc/$w/fd | grep -c "socket:\[$INO\]")"; done)"
pass "both nginx workers hold the handed-over listener (socket inode $INO)"
assert_eq 0 "$(status_field "$T/ngx.st" accepted)" "nginx: the router accepted no connection itself"

# ---- 2. router restart (SIGKILL, start again) under wrk
wrk -t2 -c8 -d6s "http://127.0.0.1:$RN/hello" >"$T/wrk.out" 2>&1 &
WRK=$!
sleep 1 # let wrk get going (it has no readiness signal); the kill must land mid-run
kill -KILL "$ROUTER_PID"
wait_exit "$ROUTER_PID" 5 || fail "router did not die"
start_router rngx2 -l 127.0.0.1 -p "$RN" -S "$T/ngx.a" --handover listener --status "$T/ngx2.st"
grep -q 'event=handover-kept' "$T/rngx2.err" || fail "the new router did not keep the held listener: $(cat "$T/rngx2.err")"
wait "$WRK" || fail "wrk failed: $(cat "$T/wrk.out")"
cat "$T/wrk.out"
n=$(sed -n 's/^ *\([0-9]*\) requests in.*/\1/p' "$T/wrk.out")
[ "${n:-0}" -gt 100 ] || fail "wrk made only ${n:-0} requests"
! grep -qE 'Socket errors|Non-2xx' "$T/wrk.out" || fail "failed requests across the router restart: $(cat "$T/wrk.out")"
pass "router killed and restarted under wrk: $n requests, none failed"
"$ROUTER" status "$T/ngx2.st" | grep -q "state=kept-from-before" || fail "status after restart: $("$ROUTER" status "$T/ngx2.st")"
assert_eq 0 "$(status_field "$T/ngx2.st" accepted)" "the restarted router accepted no connection itself"
check_nginx_after() { timeout 10 curl -sS -f "http://127.0.0.1:$RN/hello" | grep -q "hello from nginx"; }
check_nginx_after || fail "nginx not served after the restart"
pass "nginx still served by the kept listener"
stop_bg "$NGX"

# ---- 1c/2b. the same over B: python and nginx register slots asking for their listener
RB=$(free_port); RBN=$(free_port)
API=$T/api
cat >"$T/b.toml" <<CONF
status = "$T/b.st"
[[listen]]
address = "127.0.0.1:$RB"
[[listen]]
address = "127.0.0.1:$RBN"
[[api_socket]]
path = "$API"
mode = "0600"
[[slot]]
number = 1
uid = 0
handover = "listener"
[[slot]]
number = 2
uid = 0
shared = true
[[target]]
to = "slot:2"
handover = "listener"
[[rule_set]]
id = 0
rules = [ { port = $RB, to = "slot:1" }, { port = $RBN, to = "slot:2" } ]
CONF
start_router rb -f "$T/b.toml"
start_py_server pyb 8114 "in,tcp,port=8114,socketbox-b=$API:1"
wait_grep "$T/rb.err" "event=b-register slot=1 uid=0 pid=$SRV_PID .*path=handover" 10 "$SRV_PID"
PYB=$SRV_PID
check_py pyb "$RB" 127.0.0.51
NGB_DIR=$T/ngb
nginx_conf "$NGB_DIR" "8115" 2
sed -i 's/\$status \$request_uri/$status $request_uri $server_addr:$server_port/' "$NGB_DIR/nginx.conf"
NGINX_PRE=("${NS[@]}" "${PRE[@]}" SOCKSWAP_RULES="in,tcp,port=8115,socketbox-b=$API:2")
start_nginx ngb "$NGB_DIR"
NGB=$NGINX_PID
wait_grep "$T/rb.err" "event=b-register slot=2 uid=0 pid=$NGB .*path=handover" 10 "$NGB"
for src in 127.0.0.52 127.0.0.53; do
    got=$(timeout 20 curl -sS -f --interface "$src" -w ' port=%{local_port}' "http://127.0.0.1:$RBN/hello") ||
        fail "nginx over B: curl from $src failed (status $?)"
    lport=${got##*port=}
    wait_grep "$NGB_DIR/access.log" "^[0-9]+ ${src//./\\.}:$lport 200 /hello 127\.0\.0\.1:$RBN$" 10 "$NGB"
done
pass "nginx over B logged each real client and \$server_addr:\$server_port = 127.0.0.1:$RBN"
assert_eq 0 "$(status_field "$T/b.st" accepted)" "B: the router accepted no connection itself"
assert_eq 2 "$("$ROUTER" status "$T/b.st" | grep -c '^handover target=slot:[12] .*state=handed-over')" "B: status shows both slots handed over"

wrk -t2 -c8 -d5s "http://127.0.0.1:$RBN/hello" >"$T/wrkb.out" 2>&1 &
WRK=$!
sleep 1 # as above: wrk has no readiness signal
kill -KILL "$ROUTER_PID"
wait_exit "$ROUTER_PID" 5 || fail "router did not die"
start_router rb2 -f "$T/b.toml"
wait "$WRK" || fail "wrk failed: $(cat "$T/wrkb.out")"
n=$(sed -n 's/^ *\([0-9]*\) requests in.*/\1/p' "$T/wrkb.out")
[ "${n:-0}" -gt 100 ] || fail "wrk over B made only ${n:-0} requests"
! grep -qE 'Socket errors|Non-2xx' "$T/wrkb.out" || fail "failed requests across the router restart (B): $(cat "$T/wrkb.out")"
pass "B: router killed and restarted under wrk: $n requests, none failed"
# nginx's workers register again (sending the listener they hold) at their next accept
wait_grep "$T/rb2.err" "event=b-register slot=2 uid=0 .*path=handover" 10 "$NGB"
check_py pyb "$RB" 127.0.0.54
wait_grep "$T/rb2.err" "event=b-register slot=1 uid=0 pid=$PYB .*path=handover" 10 "$PYB"
pass "B: both servers registered again with the new router, keeping their listeners"
assert_eq 0 "$(status_field "$T/b.st" accepted)" "B: the restarted router accepted no connection itself"
stop_bg "$NGB"; stop_bg "$PYB"

# ---- 3. mixed config in a network namespace of the test's own
NSN=sbh-$$-$RANDOM
ip netns add "$NSN" || fail "ip netns add"
trap '_rc=$?; ip netns del "$NSN" 2>/dev/null; (exit $_rc); _cleanup' EXIT
ip -n "$NSN" link set lo up || fail "lo up"
INN=(ip netns exec "$NSN")
MP=8120
cat >"$T/mixed.toml" <<CONF
status = "$T/mixed.st"
[[listen]]
address = "[::]:$MP"
[[target]]
to = "unix:$T/web.a"
handover = "listener"
[[rule_set]]
id = 0
default = "fail"
rules = [
  { local = "127.0.0.2", to = "unix:$T/web.a" },
  { local = "127.0.0.3", remote = "127.0.0.9", to = "unix:$T/one.a" },
  { local = "127.0.0.3", to = "unix:$T/two.a" },
]
CONF
"$ROUTER" check -f "$T/mixed.toml" >/dev/null || fail "mixed config rejected"
bg one "$PYTHON" -u "$TS_DIR/router/a_recv.py" "$T/one.a" ONE
wait_grep "$T/one.out" '^ready' 10 "$BG_PID"
bg two "$PYTHON" -u "$TS_DIR/router/a_recv.py" "$T/two.a" TWO
wait_grep "$T/two.out" '^ready' 10 "$BG_PID"
mkdir -p "$T/www"
echo "web" >"$T/www/who"
bg web "${NS[@]}" "${PRE[@]}" SOCKSWAP_RULES="in,tcp,port=8113,socketbox=$T/web.a" \
    "$PYTHON" -u -m http.server 8113 --bind 127.0.0.1 --directory "$T/www"
wait_grep "$T/web.out" "^Serving HTTP" 15 "$BG_PID"
bg rmix "${INN[@]}" "$ROUTER" -f "$T/mixed.toml"
RMIX=$BG_PID
wait_grep "$T/rmix.err" 'event=ready' 10 "$BG_PID"
wait_grep "$T/rmix.err" 'event=handover ' 10 "$BG_PID"

# who answers a connection from SRC to DST:MP: web, ONE, TWO, or closed
who() { # DST SRC
    "${INN[@]}" "$PYTHON" - "$1" "$MP" "$2" <<'PY'
import socket, sys
dst, port, src = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.create_connection((dst, port), timeout=5, source_address=(src, 0))
s.sendall(b"GET /who HTTP/1.0\r\n\r\n")
data = b""
try:
    while True:
        b = s.recv(4096)
        if not b:
            break
        data += b
except ConnectionResetError:
    pass
if b"\r\n\r\nweb" in data:
    print("unix:%s" % "web")
elif data.startswith(b"ONE"):
    print("one")
elif data.startswith(b"TWO"):
    print("two")
elif not data:
    print("fail")
else:
    print("other: %r" % data[:40])
PY
}
for case in "127.0.0.2 127.0.0.9" "127.0.0.2 127.0.0.10" "127.0.0.3 127.0.0.9" "127.0.0.3 127.0.0.10" \
    "127.0.0.4 127.0.0.9" "127.0.0.1 127.0.0.1"; do
    set -- $case
    ex=$("$ROUTER" explain -f "$T/mixed.toml" "$1" "$MP" "$2" 40000) || ex="$ex"
    target=$(printf '%s\n' "$ex" | sed -n 's/^-> //p')
    path=$(printf '%s\n' "$ex" | sed -n 's/^path: \([a-z]*\).*/\1/p')
    case "$target" in
        "unix:$T/web.a") want=unix:web; want_path=handover ;;
        "unix:$T/one.a") want=one; want_path=dispatch ;;
        "unix:$T/two.a") want=two; want_path=dispatch ;;
        fail) want=fail; want_path=dispatch ;;
        *) fail "explain $1 from $2: unexpected target '$target'" ;;
    esac
    assert_eq "$want_path" "$path" "explain $1:$MP from $2: -> $target by $path"
    assert_eq "$want" "$(who "$1" "$2")" "a connection to $1:$MP from $2 lands where explain says ($target)"
done
st=$("$ROUTER" status "$T/mixed.st")
echo "$st"
acc=$(printf '%s\n' "$st" | sed -n 's/^total .*accepted=\([0-9]*\).*/\1/p')
assert_eq 4 "$acc" "the router accepted exactly the 4 dispatched connections (not the 2 handed over)"

# ---- 4. a reload that moves the handed-over key to a dispatched target: the listener is
# revoked, a connection the server accepted before the reload is still served, and new
# connections go where the new config (and explain) says
"${INN[@]}" "$PYTHON" -u - "$MP" "$T/go" >"$T/inflight.out" 2>&1 <<'PY' &
import os, socket, sys, time
s = socket.create_connection(("127.0.0.2", int(sys.argv[1])), timeout=10, source_address=("127.0.0.11", 0))
s.sendall(b"GET /who HTTP/1.0\r\n")
print("sent", flush=True)
deadline = time.time() + 10
while not os.path.exists(sys.argv[2]) and time.time() < deadline:
    time.sleep(0.01)
s.sendall(b"\r\n")
data = b""
while True:
    b = s.recv(4096)
    if not b:
        break
    data += b
print("got web" if b"\r\n\r\nweb" in data else "got %r" % data[:60], flush=True)
PY
INFLIGHT=$!
wait_grep "$T/inflight.out" '^sent' 10 "$INFLIGHT"
sed -i -e '/^\[\[target\]\]/,/^handover/d' -e "s#{ local = \"127.0.0.2\", to = \"unix:$T/web.a\" }#{ local = \"127.0.0.2\", to = \"unix:$T/two.a\" }#" "$T/mixed.toml"
grep -q "127.0.0.2\", to = \"unix:$T/two.a" "$T/mixed.toml" || fail "config edit failed: $(cat "$T/mixed.toml")"
kill -HUP "$RMIX"
wait_grep "$T/rmix.err" 'event=reload result=ok' 10
grep -q 'event=handover-revoked' "$T/rmix.err" || fail "no handover-revoked after the reload: $(cat "$T/rmix.err")"
touch "$T/go"
wait "$INFLIGHT" || fail "in-flight client failed: $(cat "$T/inflight.out")"
assert_contains "$T/inflight.out" "got web" "a connection accepted before the reload is served after it"
assert_eq two "$(who 127.0.0.2 127.0.0.10)" "after the reload 127.0.0.2 goes to two (dispatched), as explain says"
"$ROUTER" explain -f "$T/mixed.toml" 127.0.0.2 "$MP" 127.0.0.10 40000 | grep -q '^path: dispatch' || fail "explain after the reload"
"$ROUTER" status "$T/mixed.st" | grep -q '^handover ' && fail "status still lists a handover: $("$ROUTER" status "$T/mixed.st")"
pass "status lists no handover after the reload"
