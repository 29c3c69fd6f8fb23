#!/usr/bin/env bash
# A C program written against socketbox's libsocketbox.h, compiled against the project's header
# (include/socketbox) and library (libsocketbox.so, and statically libsocketbox.a): its pure
# functions answer as socketbox's do; as an A receiver (skbox_new +
# skbox_receive_fd_from_socket) and as a B client (skbox_register_bind +
# skbox_receive_fd_from_socket_p) it serves connections from our router; a refused
# registration is EPERM; the router going away is ENOLINK.
. "$(dirname "$0")/lib.sh"
. "$TS_DIR/router/lib.sh"
need_router
need gcc
LIBDIR=$(dirname "$SOCKETBOX")
[ -f "$LIBDIR/libsocketbox.so" ] || fail "libsocketbox not built: $LIBDIR/libsocketbox.so (cargo build --release -p sockswap-socketbox)"
gcc -O2 -Wall -Werror -I"$REPO_ROOT/include/socketbox" -o "$T/capi" "$RH/capi_client.c" \
    -L"$LIBDIR" -lsocketbox -Wl,-rpath,"$LIBDIR" 2>"$T/cc.err" || fail "compiling against libsocketbox.h: $(cat "$T/cc.err")"
deps=$(ldd "$T/capi") # captured first: grep -q closing the pipe early would fail it under pipefail
grep -q "libsocketbox.so => $LIBDIR/libsocketbox.so" <<<"$deps" || fail "not linked to our libsocketbox: $deps"
gcc -O2 -Wall -Werror -I"$REPO_ROOT/include/socketbox" -o "$T/capi-static" "$RH/capi_client.c" \
    "$LIBDIR/libsocketbox.a" -lpthread -ldl -lm 2>"$T/cc2.err" || fail "static link: $(cat "$T/cc2.err")"
pass "a C program builds against include/socketbox/libsocketbox.h with libsocketbox.so and libsocketbox.a"
for prog in capi capi-static; do
    out=$("$T/$prog" pure) || fail "$prog pure: $out"
    [ "$out" = "pure ok" ] || fail "$prog pure: $out"
done
pass "port filters, int16tonum, sockaddr_un_subst, send/receive with validation levels, EFAULT/ENAMETOOLONG/ENOLINK (shared and static)"

# A: skbox_new + skbox_receive_fd_from_socket behind `socketbox -S`.
P=$(free_port)
bg ca "$T/capi" a "$T/a.sock" 2
wait_grep "$T/ca.out" '^ready' 10 "$BG_PID"
start_router ra -l 127.0.0.1 -p "$P" -S "$T/a.sock"
out=$("$PYTHON" "$RH/clients.py" 127.0.0.1 "$P" 2)
[ "$(echo "$out" | grep -c "^capi-a local=\[::ffff:127.0.0.1\]:$P peer=\[::ffff:127.0.0.1\]:")" = 2 ] || fail "A receiver: $out"
pass "skbox_new/skbox_receive_fd_from_socket: 2 connections from the router, real addresses"
stop_bg "$ROUTER_PID"

# B: skbox_register_bind + skbox_receive_fd_from_socket_p, python-socketbox config.
P=$(free_port)
cat >"$T/b.json" <<CONF
{"socketbox-version": 1, "daemon": {}, "incoming": [{"address": "::ffff:127.0.0.1", "port": $P}],
 "outgoing": [{"uid": 0, "path_nr": 0}, {"uid": 4242, "path_nr": 0}], "paths": [{"socket": "$T/api"}],
 "rules": {"_start": {"type": "rule", "rules": [{"jump": "o:0"}]}}}
CONF
start_router rb -f "$T/b.json"
RB=$ROUTER_PID
bg cb "$T/capi" b "$T/api" 0
CB=$BG_PID
wait_grep "$T/cb.out" '^registered' 10 "$CB"
out=$("$PYTHON" "$RH/clients.py" 127.0.0.1 "$P" 3)
[ "$(echo "$out" | grep -c "^capi-b local=\[::ffff:127.0.0.1\]:$P")" = 3 ] || fail "B client: $out"
pass "skbox_register_bind/skbox_receive_fd_from_socket_p: 3 connections over B"
out=$("$T/capi" refused "$T/api" 1)
[ "$out" = "refused EPERM" ] || fail "registering another uid's slot: $out"
out=$("$T/capi" refused "$T/api" 0)
[ "$out" = "refused EPERM" ] || fail "registering a taken slot: $out"
pass "a refused registration (wrong uid, slot taken) fails with EPERM"
stop_bg "$RB"
wait_exit "$CB" 10 || fail "the B client did not notice the router going away"
grep -qx enolink "$T/cb.out" || fail "no ENOLINK: $(cat "$T/cb.out")"
pass "the router going away: skbox_receive_fd_from_socket_p gives ENOLINK"
