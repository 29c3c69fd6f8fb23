#!/usr/bin/env bash
# The static Go (CGO_ENABLED=0) HTTP server behind a real socketbox router, under the seccomp
# backend (Go never calls libc: the shim could not do this):
#  (a) as an "A" listener (`socketbox=PATH`): the supervisor binds the Unix datagram socket at
#      PATH in the program's place; the router (TOML config) routes a loopback port to
#      unix:PATH; curl through the router's port is answered and the Go server reports curl's
#      own address and port (r.RemoteAddr: the real TCP peer the router passed) and, as the
#      connection's local address, the router's 127.0.0.1:RP (the kernel's answer for the real
#      TCP socket); the listener reports 127.0.0.1:SP (getsockname). Port SP never opens.
#  (b) as a "B" listener (`socketbox-b=API:SLOT`): the supervisor registers the slot on the
#      router's API socket ([[slot]] for uid 0); the same checks through the router's port
#      routed to slot:1, with the router's IPv6 (v4-mapped) listener: the Go server, an AF_INET
#      program, still sees curl's IPv4 address.
#  (c) a refused registration (a slot the router does not have) fails the server's bind in
#      one line ("cannot register slot"), and it exits.
#  (d) a blocking accept (python3's plain socket, forced onto the seccomp backend) on the B
#      listener waits in the supervisor until the router passes a connection: the client's
#      address comes back, in the AF_INET family the program made.
# Router: $SOCKSWAP_ROUTER (default target/release/socketbox).
. "$(dirname "$0")/lib.sh"
. "$HELPERS/router_shim.sh"
need curl go gcc ss socat
need_artifacts
need_router_bin
BIN=$REPO_ROOT/target/seccomp-progs
"$TS_DIR/progs/seccomp/build.sh" "$BIN" || fail "building the test programs failed"

start_routed() { # NAME LISTEN-ADDRESS PORT TO [EXTRA-TOML]: a router (config checked first) routing PORT to TO
    local name=$1
    {
        printf '[[listen]]\naddress = "%s"\n' "$2"
        [ -z "${5:-}" ] || printf '%s\n' "$5"
        printf '[[rule_set]]\nid = 0\ndefault = "fail"\nrules = [ { port = %s, to = "%s" } ]\n' "$3" "$4"
    } >"$T/$name.toml"
    "$ROUTER" check -f "$T/$name.toml" >"$T/$name-check.out" 2>&1 ||
        fail "socketbox check refused $name's config: $(cat "$T/$name-check.out")"
    start_router "$name" -f "$T/$name.toml"
}

check_through_router() { # NAME RP: curl via the router; the Go server sees curl's address
    local name=$1 rp=$2 i out body cport
    for i in 1 2 3; do
        out=$(timeout 10 curl -sS -w ' curl_local=%{local_ip}:%{local_port}' "http://127.0.0.1:$rp/") ||
            fail "$name: curl through the router (port $rp) failed: $out"
        body=${out% curl_local=*}
        body=${body%$'\n'}
        cport=${out##* curl_local=}
        case $body in
            "remote=$cport local=127.0.0.1:$rp") pass "$name: request $i answered, server saw curl's $cport: $body" ;;
            *) fail "$name: expected [remote=$cport local=127.0.0.1:$rp], got [$body]" ;;
        esac
    done
}

# (a) A
RP=$(free_port) || exit 1
SP=$(free_port) || exit 1
A=$T/go.a
start_routed routera "127.0.0.1:$RP" "$RP" "unix:$A"
bg goa "$SOCKSWAP_BIN" run --backend seccomp --log debug -r "in,tcp,port=$SP,socketbox=$A" -- "$BIN/http_server_static" "127.0.0.1:$SP"
SRV=$BG_PID
wait_grep "$T/goa.out" "listening on 127.0.0.1:$SP" 15 "$SRV"
assert_unix_socket "$A"
[ "$(stat -c %F "$A")" = socket ] || fail "A: $A is not a socket"
printf x | socat -u - "UNIX-SENDTO:$A" || fail "A: cannot send to $A" # a stray datagram without an fd: skipped
assert_tcp_not_listening "$SP"
check_through_router "A" "$RP"
assert_contains "$T/goa.err" "skipped" "A: the stray datagram was skipped, not taken for a connection"
kill -TERM "$SRV"
wait_exit "$SRV" 10 || fail "A: server did not exit on SIGTERM"
[ -e "$A" ] && fail "A: socket file left behind"
pass "A: server stopped, socket file removed"

# (b) B
RP=$(free_port) || exit 1
SP=$(free_port) || exit 1
API=$T/api
start_routed routerb "[::ffff:127.0.0.1]:$RP" "$RP" "slot:1" "[[api_socket]]
path = \"$API\"
mode = \"0600\"
[[slot]]
number = 1
uid = 0"
assert_unix_socket "$API"
bg gob "$SOCKSWAP_BIN" run --backend seccomp -r "in,tcp,port=$SP,socketbox-b=$API:1" -- "$BIN/http_server_static" "127.0.0.1:$SP"
SRV=$BG_PID
wait_grep "$T/gob.out" "listening on 127.0.0.1:$SP" 15 "$SRV"
wait_grep "$T/routerb.err" "event=b-register slot=1 uid=0 pid=$SRV( |$)" 10 "$SRV"
pass "B: slot 1 registered by the supervisor (pid $SRV)"
assert_tcp_not_listening "$SP"
check_through_router "B" "$RP"

# (c) a registration the router refuses: the bind fails, in one line, and the server exits
SP2=$(free_port) || exit 1
rc=0
timeout 20 "$SOCKSWAP_BIN" run --backend seccomp -r "in,tcp,port=$SP2,socketbox-b=$API:7" -- "$BIN/http_server_static" "127.0.0.1:$SP2" >"$T/gob7.out" 2>"$T/gob7.err" || rc=$?
[ "$rc" -ne 0 ] || fail "B: the server ran with an unregistered slot"
assert_contains "$T/gob7.err" "cannot register slot 7" "B: the refused registration is reported"
assert_tcp_not_listening "$SP2"
pass "B: refused registration: bind failed (exit $rc)"
kill -TERM "$SRV"
wait_exit "$SRV" 10 || fail "B: server did not exit on SIGTERM"
pass "B: server stopped"

# (d) blocking accept on a B listener, then a connection through the router
SP3=$(free_port) || exit 1
RP3=$(free_port) || exit 1
start_routed routerb3 "[::ffff:127.0.0.1]:$RP3" "$RP3" "slot:3" "[[api_socket]]
path = \"$T/api3\"
[[slot]]
number = 3
uid = 0"
bg pyb "$SOCKSWAP_BIN" run --backend seccomp -r "in,tcp,port=$SP3,socketbox-b=$T/api3:3" -- "$PYTHON" -c "
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind(('127.0.0.1', int(sys.argv[1]))); s.listen(8)
print('listening', s.getsockname(), 'blocking', s.getblocking(), flush=True)
c, a = s.accept()
c.sendall(('peer %s:%d family %d' % (a[0], a[1], c.family)).encode()); c.close()
" "$SP3"
PYB=$BG_PID
wait_grep "$T/pyb.out" "listening \\('127.0.0.1', $SP3\\) blocking True" 15 "$PYB"
wait_grep "$T/routerb3.err" "event=b-register slot=3 uid=0 pid=$PYB( |$)" 10 "$PYB"
out=$(timeout 10 "$PYTHON" -c "
import socket, sys
c = socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=5)
print(c.getsockname()[1], c.recv(200).decode())
" "$RP3") || fail "blocking accept: no answer through the router"
cport=${out%% *}
case $out in
    "$cport peer 127.0.0.1:$cport family 2") pass "blocking accept on a B listener got the client 127.0.0.1:$cport (AF_INET)" ;;
    *) fail "blocking accept: unexpected answer [$out]" ;;
esac
wait_exit "$PYB" 10 || fail "python server did not exit"
assert_eq 0 "$WAIT_RC" "python server exit status"
