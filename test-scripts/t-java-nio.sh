#!/usr/bin/env bash
# Java 17 NIO under the shim, both directions.
#  (a) a non-blocking ServerSocketChannel with a Selector, bound to 127.0.0.1:P (AF_INET6 socket,
#      ::ffff:127.0.0.1), moved onto a Unix socket: getLocalAddress is /127.0.0.1:P; two native
#      AF_UNIX clients get 1 MiB echoed each; accepted channels show peer 127.0.0.1:32768-60999
#      and local 127.0.0.1:P.
#  (b) a SocketChannel with a non-blocking connect moved onto a native echo server.
. "$(dirname "$0")/lib.sh"
need java javac socat ss sha256sum
need_artifacts
CP=$(java_classes) || fail "cannot compile the Java test programs"

randfile "$T/up" 1048576

# (a)
P=$(free_port) || exit 1
S=$T/jnio.sock
bg jsrv "${PRE[@]}" SOCKSWAP_RULES="in,tcp,addr=127.0.0.1,port=$P,path=$S" java -cp "$CP" JNio server 127.0.0.1 "$P"
SRV=$BG_PID
wait_grep "$T/jsrv.out" '^ready=1' 20 "$SRV"
assert_unix_socket "$S"
assert_tcp_not_listening "$P"
assert_kv "$T/jsrv.out" address "/127.0.0.1:$P"
for i in 1 2; do
    timeout 30 "$PYTHON" "$HELPERS/uclient.py" "$S" "$T/up" >"$T/a$i.out" || fail "native AF_UNIX client $i failed"
    assert_eq "$(sha "$T/up")" "$(sha "$T/a$i.out")" "connection $i: 1 MiB echoed by the NIO server"
done
mapfile -t peers < <(sed -n 's/^peer=//p' "$T/jsrv.out")
assert_eq 2 "${#peers[@]}" "two connections accepted"
for pr in "${peers[@]}"; do
    in_peer_range "$pr" 127.0.0.1 || fail "NIO accepted peer [$pr] is not 127.0.0.1:32768-60999"
done
pass "NIO peers ${peers[*]}"
assert_kv "$T/jsrv.out" local "127.0.0.1:$P"

# (b)
P2=$(free_port) || exit 1
S2=$T/echo.sock
bg echosrv "$PYTHON" "$HELPERS/echo_server.py" "$S2"
wait_unix_connectable "$S2" 10 "$BG_PID"
assert_tcp_not_listening "$P2"
timeout 60 "${PRE[@]}" SOCKSWAP_RULES="out,tcp,addr=127.0.0.1,port=$P2,path=$S2" \
    java -cp "$CP" JNio client 127.0.0.1 "$P2" "$T/up" "$T/b.out" >"$T/b.kv" 2>"$T/b.err" ||
    fail "Java SocketChannel client under an out rule failed: $(cat "$T/b.kv") $(head -5 "$T/b.err")"
assert_eq "$(sha "$T/up")" "$(sha "$T/b.out")" "1 MiB echoed to the converted SocketChannel"
assert_kv "$T/b.kv" peer "127.0.0.1:$P2"
