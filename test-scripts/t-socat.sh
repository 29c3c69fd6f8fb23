#!/usr/bin/env bash
# socat under the shim, both directions, 1 MiB echo round trips with checksums.
#  (a) `socat TCP-LISTEN:P,fork EXEC:cat` moved onto a Unix socket by an `in` rule, reached by
#      native `socat UNIX-CONNECT`; two connections in a row (the forked child's close must not
#      remove the listener's socket file).
#  (b) `socat - TCP:127.0.0.1:P` moved by an `out` rule onto a native echo server.
. "$(dirname "$0")/lib.sh"
need socat ss sha256sum
need_artifacts

randfile "$T/up" 1048576

# (a) server side
P=$(free_port) || exit 1
S=$T/socat.sock
bg socatsrv "${PRE[@]}" SOCKSWAP_RULES="in,tcp,addr=127.0.0.1,port=$P,path=$S" \
    socat "TCP4-LISTEN:$P,bind=127.0.0.1,reuseaddr,fork" EXEC:cat
SRV=$BG_PID
wait_unix_connectable "$S" 10 "$SRV"
assert_unix_socket "$S"
assert_tcp_not_listening "$P"
for i in 1 2; do
    timeout 30 socat -t 20 - "UNIX-CONNECT:$S" <"$T/up" >"$T/a$i.out" ||
        fail "native socat client $i failed (status $?)"
    assert_eq "$(sha "$T/up")" "$(sha "$T/a$i.out")" "connection $i: 1 MiB echoed by socat through the converted listener"
done
# The forked children have closed their copies of the listener; the file must still be there and served.
assert_unix_socket "$S"
wait_unix_connectable "$S" 5 "$SRV"
pass "listener still served after forked children exited"

# (b) client side
P2=$(free_port) || exit 1
S2=$T/echo.sock
bg echosrv "$PYTHON" "$HELPERS/echo_server.py" "$S2"
wait_unix_connectable "$S2" 10 "$BG_PID"
assert_tcp_not_listening "$P2"
timeout 30 "${PRE[@]}" SOCKSWAP_RULES="out,tcp,addr=127.0.0.1,port=$P2,path=$S2" \
    socat -t 20 - "TCP4:127.0.0.1:$P2" <"$T/up" >"$T/b.out" 2>"$T/b.err" ||
    fail "socat client under an out rule failed (status $?): $(cat "$T/b.err")"
assert_eq "$(sha "$T/up")" "$(sha "$T/b.out")" "1 MiB echoed through the converted socat client"
