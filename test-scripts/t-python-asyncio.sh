#!/usr/bin/env bash
# Python asyncio (non-blocking sockets, epoll) under the shim, both directions.
#  (a) asyncio.start_server on 127.0.0.1:P moved onto a Unix socket: reports the original address,
#      serves a native AF_UNIX client (1 MiB echo); the peer it sees is 127.0.0.1:32768-60999.
#      Also with port 0: the reported port is nonzero and its socket file serves.
#  (b) asyncio.open_connection to 127.0.0.1:P moved onto a native AF_UNIX echo server.
. "$(dirname "$0")/lib.sh"
need socat ss sha256sum
need_artifacts

randfile "$T/up" 1048576
PY=$PROGS/py_asyncio.py

# (a)
P=$(free_port) || exit 1
S=$T/aio.sock
bg aiosrv "${PRE[@]}" SOCKSWAP_RULES="in,tcp,addr=127.0.0.1,port=$P,path=$S" "$PYTHON" -u "$PY" server 127.0.0.1 "$P"
SRV=$BG_PID
wait_grep "$T/aiosrv.out" '^ready=1' 10 "$SRV"
assert_unix_socket "$S"
assert_tcp_not_listening "$P"
assert_kv "$T/aiosrv.out" sockname "127.0.0.1:$P"
timeout 30 "$PYTHON" "$HELPERS/uclient.py" "$S" "$T/up" >"$T/a.out" || fail "native AF_UNIX client failed"
assert_eq "$(sha "$T/up")" "$(sha "$T/a.out")" "1 MiB echoed by the asyncio server over the Unix socket"
pr=$(kv "$T/aiosrv.out" peer)
in_peer_range "$pr" 127.0.0.1 || fail "asyncio peer [$pr] is not 127.0.0.1:32768-60999"
pass "asyncio peer $pr"

# (a') port 0
bg aiosrv0 "${PRE[@]}" SOCKSWAP_RULES="in,tcp,addr=127.0.0.1,path=$T/a%p.sock" "$PYTHON" -u "$PY" server 127.0.0.1 0
SRV0=$BG_PID
wait_grep "$T/aiosrv0.out" '^ready=1' 10 "$SRV0"
P0=$(kv "$T/aiosrv0.out" sockname); P0=${P0##*:}
[ "$P0" -gt 0 ] 2>/dev/null || fail "port 0: reported [$P0]"
pass "port 0 became $P0"
wait_unix_connectable "$T/a$P0.sock" 10 "$SRV0"
timeout 30 "$PYTHON" "$HELPERS/uclient.py" "$T/a$P0.sock" "$T/up" >"$T/a0.out" || fail "client to port $P0's socket failed"
assert_eq "$(sha "$T/up")" "$(sha "$T/a0.out")" "port $P0 is served"

# (b)
P2=$(free_port) || exit 1
S2=$T/echo.sock
bg echosrv "$PYTHON" "$HELPERS/echo_server.py" "$S2"
wait_unix_connectable "$S2" 10 "$BG_PID"
assert_tcp_not_listening "$P2"
timeout 30 "${PRE[@]}" SOCKSWAP_RULES="out,tcp,addr=127.0.0.1,port=$P2,path=$S2" \
    "$PYTHON" "$PY" client 127.0.0.1 "$P2" "$T/up" "$T/b.out" >"$T/b.kv" 2>"$T/b.err" ||
    fail "asyncio client under an out rule failed: $(tail -5 "$T/b.err")"
assert_eq "$(sha "$T/up")" "$(sha "$T/b.out")" "1 MiB echoed to the converted asyncio client"
assert_kv "$T/b.kv" peername "127.0.0.1:$P2"
