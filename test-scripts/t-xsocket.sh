#!/usr/bin/env bash
# xsocket's users keep their command lines, plus an allow list:
#  1. `socketbox xsocket-server PATH` (and the `xsocket-server` name, as a link) without --allow
#     refuses to start, and its one-line error says to add --allow;
#  2. `LD_PRELOAD=libsockswap.so XBIND=$P nc -l -p $P` run in `unshare -n` (its own, empty
#     network namespace) listens in the server's namespace, the test's: a client on the host
#     reaches it, message round trip both ways; no socket is left in nc's namespace;
#  3. XBIND with a port off the server's allow list: bind fails (EACCES) and nc exits;
#  4. a C program written against xsocket.h and linked with -lxsocket (run in `unshare -n`):
#     an allowed request (AF_INET stream; AF_INET6 stream with SOCK_NONBLOCK) gets a socket of
#     that kind, created in the server's namespace (it listens on the host's loopback and a host
#     client is echoed); refused requests get an errno: a type off the list (UDP) EACCES, a
#     family the server never creates (AF_PACKET) EAFNOSUPPORT;
#  5. the socket handed out for XS01 is fenced to the allow list: listening on a port off the
#     list, it never completes a handshake (a host client's connect times out);
#  6. an abstract server name (@name) works as well (from the server's own namespace: abstract
#     names are per network namespace).
. "$(dirname "$0")/lib.sh"
. "$HELPERS/router_shim.sh"
need nc socat ss gcc unshare
need_artifacts
need_router_bin
XLIB_DIR=$REPO_ROOT/target/release
[ -f "$XLIB_DIR/libxsocket.so" ] || fail "libxsocket.so not built in $XLIB_DIR"

# 1. no --allow: refused, and the error says what to add
mkdir -p "$T/bin"
ln -s "$ROUTER" "$T/bin/xsocket-server"
for cmd in "$ROUTER xsocket-server" "$T/bin/xsocket-server"; do
    err=$($cmd "$T/xs0" 2>&1)
    rc=$?
    [ "$rc" = 2 ] || fail "[$cmd PATH] without --allow: exit status $rc ($err)"
    [ "$(printf '%s\n' "$err" | wc -l)" = 1 ] || fail "not one line: $err"
    grep -q "no --allow given.*add --allow tcp:PORT" <<<"$err" || fail "error does not say to add --allow: $err"
    [ ! -e "$T/xs0" ] || fail "the server created its socket anyway"
done
pass "xsocket-server without --allow refuses to start: $err"

P=$(free_port)
Q=$(free_port)
while [ "$Q" = "$P" ]; do Q=$(free_port); done
D=$(free_port)
while [ "$D" = "$P" ] || [ "$D" = "$Q" ]; do D=$(free_port); done
bg xs "$T/bin/xsocket-server" "$T/xs" --allow "tcp:$P" --allow "tcp:$Q"
XS_PID=$BG_PID
wait_grep "$T/xs.err" "listening on $T/xs" 10 "$XS_PID"

# 2. XBIND=$P nc -l -p $P in its own namespace listens in the server's
printf 'from nc\n' >"$T/nc.in"
bg -i "$T/nc.in" nc "${NS[@]}" env LD_PRELOAD="$SOCKSWAP_LIB" XBIND="$P" XSOCKET="$T/xs" \
    nc -N -l -s 127.0.0.1 -p "$P"
NC_PID=$BG_PID
_wait_until 10 "$NC_PID" sh -c "ss -ltnH '( sport = :$P )' | grep -q ."
_wait_report $? "waiting for nc's listener on the host's port $P" "$NC_PID"
pass "nc in its own namespace listens on the host's 127.0.0.1:$P: $(ss -ltnH "( sport = :$P )" | head -n 1)"
assert_other_netns "$NC_PID"
got=$(printf 'from host\n' | timeout 10 nc -N 127.0.0.1 "$P") || fail "host client to nc failed (status $?)"
assert_eq "from nc" "$got" "the host client received nc's message"
wait_exit "$NC_PID" 10 || fail "nc did not exit after its connection"
assert_eq "from host" "$(cat "$T/nc.out")" "nc received the host client's message"

# 3. a port off the allow list
out=$("${NS[@]}" env LD_PRELOAD="$SOCKSWAP_LIB" XBIND="$D" XSOCKET="$T/xs" timeout 10 nc -l -s 127.0.0.1 -p "$D" 2>&1)
rc=$?
[ "$rc" != 0 ] && [ "$rc" != 124 ] || fail "nc with XBIND=$D off the allow list: exit status $rc ($out)"
grep -qi "permission denied" <<<"$out" || fail "nc's error is not EACCES: $out"
grep -q "port $D is not on the allow list" "$T/xs.err" || fail "the server did not log the refusal"
pass "XBIND to a port off the allow list fails with EACCES: $out"

# 4. the C interface
gcc -Wall -Werror -o "$T/xsocket_client" "$PROGS/xsocket_client.c" -I "$REPO_ROOT/src/xsocket/include" \
    -L "$XLIB_DIR" -lxsocket -Wl,-rpath,"$XLIB_DIR" || fail "cannot compile a program against xsocket.h"
printf 'echo me\n' >"$T/echo.in"
bg xc "${NS[@]}" "$T/xsocket_client" "$T/xs" udp packet tcp6 kind tcp kind "listen=$Q" ready accept-echo
XC_PID=$BG_PID
wait_grep "$T/xc.out" '^ready -> ok' 10 "$XC_PID"
got=$(timeout 10 nc -N 127.0.0.1 "$Q" <"$T/echo.in") || fail "host client to the xsocket() listener failed"
assert_eq "echo me" "$got" "a host client reached the listener the C program made with xsocket()"
wait_exit "$XC_PID" 10 || fail "xsocket_client did not finish"
want="udp -> EACCES
packet -> EAFNOSUPPORT
tcp6 -> ok
kind -> ok domain=10 type=1 nonblock=1 cloexec=0
tcp -> ok
kind -> ok domain=2 type=1 nonblock=0 cloexec=1
listen=$Q -> ok
ready -> ok
accept-echo -> ok"
assert_eq "$want" "$(cat "$T/xc.out")" "xsocket(): allowed requests get sockets of their kind, refused ones an errno"
grep -q "XS01: family 2 type 2 is not on the allow list" "$T/xs.err" || fail "the server did not log the UDP refusal"

# 5. the XS01 socket is fenced: listening on a port off the list, it never hears a SYN
bg xd "${NS[@]}" "$T/xsocket_client" "$T/xs" tcp "listen=$D" ready accept-echo
XD_PID=$BG_PID
wait_grep "$T/xd.out" '^ready -> ok' 10 "$XD_PID"
[ -n "$(ss -ltnH "( sport = :$D )")" ] || fail "the fenced socket is not listening on $D"
if timeout 5 socat -u OPEN:/dev/null "TCP4:127.0.0.1:$D,connect-timeout=2" 2>/dev/null; then
    fail "a connection to port $D (off the allow list) got through"
fi
_is_running "$XD_PID" || fail "the fenced listener exited: $(cat "$T/xd.out")"
pass "the XS01 socket listens on $D (off the list) but no handshake completes: its locked filter drops the SYNs"
stop_bg "$XD_PID"

# 6. abstract server name
bg xsa "$ROUTER" xsocket-server "@ssw-xs-$$" --allow "tcp:$Q"
wait_grep "$T/xsa.err" "listening on @ssw-xs-$$" 10 "$BG_PID"
# (abstract names belong to a network namespace: the client runs in the server's)
out=$("$T/xsocket_client" "@ssw-xs-$$" tcp kind 2>&1)
grep -q '^kind -> ok domain=2 type=1' <<<"$out" || fail "xsocket(@name): $out"
pass "xsocket() reaches an abstract server name (@ssw-xs-$$)"
