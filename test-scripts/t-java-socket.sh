#!/usr/bin/env bash
# Java 17 java.net.ServerSocket / Socket under the shim (IPv4 through AF_INET6 sockets with
# ::ffff:127.0.0.1 addresses, matched by an addr=127.0.0.1 rule), both directions.
#  (a) ServerSocket bound to 127.0.0.1:P moved onto a Unix socket: getLocalSocketAddress is
#      /127.0.0.1:P; a native AF_UNIX client gets 1 MiB echoed; the accepted Socket shows peer
#      127.0.0.1:32768-60999 and local 127.0.0.1:P, TCP_NODELAY set; a subprocess started after
#      bind (ProcessBuilder: posix_spawn + jspawnhelper closing fds) does not remove the socket
#      file; the file is removed when the ServerSocket is closed.
#  (b) new Socket(127.0.0.1, P) moved by an `out` rule onto a native echo server, 1 MiB round trip.
. "$(dirname "$0")/lib.sh"
need java javac socat ss sha256sum
need_artifacts
CP=$(java_classes) || fail "cannot compile the Java test programs"

randfile "$T/up" 1048576

# (a)
P=$(free_port) || exit 1
S=$T/jsock.sock
bg jsrv "${PRE[@]}" SOCKSWAP_RULES="in,tcp,addr=127.0.0.1,port=$P,path=$S" java -cp "$CP" JSock server 127.0.0.1 "$P" 1 spawn
SRV=$BG_PID
wait_grep "$T/jsrv.out" '^ready=1' 20 "$SRV"
assert_unix_socket "$S"
assert_tcp_not_listening "$P"
assert_kv "$T/jsrv.out" address "/127.0.0.1:$P"
assert_kv "$T/jsrv.out" localport "$P"
assert_kv "$T/jsrv.out" spawned 0
assert_unix_socket "$S"
timeout 30 "$PYTHON" "$HELPERS/uclient.py" "$S" "$T/up" >"$T/a.out" || fail "native AF_UNIX client failed"
assert_eq "$(sha "$T/up")" "$(sha "$T/a.out")" "1 MiB echoed by the Java ServerSocket over the Unix socket"
wait_grep "$T/jsrv.out" '^closed=1' 20 "$SRV"
pr=$(kv "$T/jsrv.out" peer)
in_peer_range "$pr" 127.0.0.1 || fail "Java accepted peer [$pr] is not 127.0.0.1:32768-60999"
pass "Java peer $pr"
assert_kv "$T/jsrv.out" local "127.0.0.1:$P"
assert_kv "$T/jsrv.out" tcpnodelay true
wait_exit "$SRV" 20 || fail "Java server did not exit"
assert_eq 0 "$WAIT_RC" "Java server exit status"
[ -e "$S" ] && fail "socket file $S still exists after ServerSocket.close()"
pass "socket file removed when the ServerSocket was closed"

# (b)
P2=$(free_port) || exit 1
S2=$T/echo.sock
bg echosrv "$PYTHON" "$HELPERS/echo_server.py" "$S2"
wait_unix_connectable "$S2" 10 "$BG_PID"
assert_tcp_not_listening "$P2"
timeout 60 "${PRE[@]}" SOCKSWAP_RULES="out,tcp,addr=127.0.0.1,port=$P2,path=$S2" \
    java -cp "$CP" JSock client 127.0.0.1 "$P2" "$T/up" "$T/b.out" >"$T/b.kv" 2>"$T/b.err" ||
    fail "Java Socket client under an out rule failed: $(cat "$T/b.kv") $(head -5 "$T/b.err")"
assert_eq "$(sha "$T/up")" "$(sha "$T/b.out")" "1 MiB echoed to the converted Java Socket"
assert_kv "$T/b.kv" peer "127.0.0.1:$P2"
lo=$(kv "$T/b.kv" local)
case $lo in 127.0.0.1:[1-9]*) pass "Java client local address $lo" ;; *) fail "Java client local address [$lo]" ;; esac
