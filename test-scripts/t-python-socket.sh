#!/usr/bin/env bash
# Python's socket module under the shim: what the program sees.
#  (a) a listener on 127.0.0.1:P moved onto a Unix socket: getsockname is the original address,
#      SO_TYPE SOCK_STREAM, SO_DOMAIN AF_INET, SO_PROTOCOL IPPROTO_TCP, SO_ACCEPTCONN 1, options set
#      before bind read back; served to a native AF_UNIX client and to a converted python client
#      (1 MiB echo each); accepted peers follow the peer scheme (127.0.0.1, 32768-60999, accept's
#      address == getpeername, distinct ports, local address = the listener's); the socket file is
#      removed when the listener is closed.
#  (b) a python client moved by an `out` rule onto a native echo server.
#  (c) bind to port 0 under a %p template: a nonzero port is reported, and that port is served.
#  (d) IPv6: a rule written addr=0:0:0:0:0:0:0:1 matches a bind to ::1; peers are ::1.
. "$(dirname "$0")/lib.sh"
need socat ss sha256sum
need_artifacts

randfile "$T/up" 1048576
randfile "$T/up2" 1048576
SRVPY=$PROGS/py_sock_server.py
CLIPY=$PROGS/py_sock_client.py

# (a)
P=$(free_port) || exit 1
S=$T/pysock.sock
bg pysrv "${PRE[@]}" SOCKSWAP_RULES="in,tcp,addr=127.0.0.1,port=$P,path=$S" "$PYTHON" -u "$SRVPY" 127.0.0.1 "$P" 2
SRV=$BG_PID
wait_grep "$T/pysrv.out" '^ready=1' 10 "$SRV"
assert_unix_socket "$S"
assert_tcp_not_listening "$P"
F=$T/pysrv.out
assert_kv "$F" bound "127.0.0.1:$P"
assert_kv "$F" sockname "127.0.0.1:$P"
assert_kv "$F" so_type 1
assert_kv "$F" so_domain 2
assert_kv "$F" so_protocol 6
assert_kv "$F" so_acceptconn 1
assert_kv "$F" so_reuseaddr 1
assert_kv "$F" tcp_nodelay 1

timeout 30 "$PYTHON" "$HELPERS/uclient.py" "$S" "$T/up" >"$T/a1.out" || fail "native AF_UNIX client failed"
assert_eq "$(sha "$T/up")" "$(sha "$T/a1.out")" "1 MiB echoed to a native AF_UNIX client"
timeout 30 "${PRE[@]}" SOCKSWAP_RULES="out,tcp,addr=127.0.0.1,port=$P,path=$S" \
    "$PYTHON" "$CLIPY" 127.0.0.1 "$P" "$T/up2" "$T/a2.out" >"$T/a2.kv" 2>"$T/a2.err" ||
    fail "converted python client failed: $(tail -5 "$T/a2.err")"
assert_eq "$(sha "$T/up2")" "$(sha "$T/a2.out")" "1 MiB echoed to a converted python client"
assert_kv "$T/a2.kv" peername "127.0.0.1:$P"
assert_kv "$T/a2.kv" so_domain 2
assert_kv "$T/a2.kv" so_type 1
cs=$(kv "$T/a2.kv" sockname)
case $cs in 127.0.0.1:[1-9]*) pass "client getsockname $cs" ;; *) fail "client getsockname: [$cs]" ;; esac

wait_grep "$F" '^closed=1' 10 "$SRV"
mapfile -t acc < <(sed -n 's/^accept_addr=//p' "$F")
mapfile -t peer < <(sed -n 's/^peername=//p' "$F")
assert_eq 2 "${#acc[@]}" "two connections accepted"
for i in 0 1; do
    in_peer_range "${acc[$i]}" 127.0.0.1 || fail "accept address ${acc[$i]} is not 127.0.0.1:32768-60999"
    assert_eq "${acc[$i]}" "${peer[$i]}" "accept address == getpeername (connection $((i + 1)))"
done
[ "${acc[0]}" != "${acc[1]}" ] || fail "both accepted connections got the same peer ${acc[0]}"
pass "peers ${acc[0]} and ${acc[1]}"
mapfile -t cso < <(sed -n 's/^conn_sockname=//p' "$F")
assert_eq "127.0.0.1:$P 127.0.0.1:$P" "${cso[*]}" "accepted sockets' getsockname is the listener's address"
assert_eq "2 2" "$(sed -n 's/^conn_so_domain=//p' "$F" | xargs)" "accepted sockets' SO_DOMAIN"
assert_eq "1 1" "$(sed -n 's/^conn_so_type=//p' "$F" | xargs)" "accepted sockets' SO_TYPE"
assert_eq "1 1" "$(sed -n 's/^conn_tcp_nodelay=//p' "$F" | xargs)" "TCP_NODELAY set and read back on accepted sockets"
wait_exit "$SRV" 10 || fail "server did not exit"
assert_eq 0 "$WAIT_RC" "server exit status"
[ -e "$S" ] && fail "socket file $S still exists after the listener was closed"
pass "socket file removed on close"

# (b)
P2=$(free_port) || exit 1
S2=$T/echo.sock
bg echosrv "$PYTHON" "$HELPERS/echo_server.py" "$S2"
wait_unix_connectable "$S2" 10 "$BG_PID"
assert_tcp_not_listening "$P2"
timeout 30 "${PRE[@]}" SOCKSWAP_RULES="out,tcp,addr=127.0.0.1,port=$P2,path=$S2" \
    "$PYTHON" "$CLIPY" 127.0.0.1 "$P2" "$T/up" "$T/b.out" >"$T/b.kv" 2>"$T/b.err" ||
    fail "python client under an out rule failed: $(tail -5 "$T/b.err")"
assert_eq "$(sha "$T/up")" "$(sha "$T/b.out")" "1 MiB echoed by the native server to the converted client"
assert_kv "$T/b.kv" peername "127.0.0.1:$P2"

# (c) port 0
bg pysrv0 "${PRE[@]}" SOCKSWAP_RULES="in,tcp,addr=127.0.0.1,path=$T/p%p.sock" "$PYTHON" -u "$SRVPY" 127.0.0.1 0 1
SRV0=$BG_PID
wait_grep "$T/pysrv0.out" '^ready=1' 10 "$SRV0"
P0=$(kv "$T/pysrv0.out" sockname); P0=${P0##*:}
[ "$P0" -ge 32768 ] 2>/dev/null && [ "$P0" -le 60999 ] || fail "port 0 bind reported port [$P0], expected 32768-60999"
pass "port 0 became $P0"
assert_kv "$T/pysrv0.out" bound "127.0.0.1:$P0"
assert_unix_socket "$T/p$P0.sock"
assert_tcp_not_listening "$P0"
timeout 30 "${PRE[@]}" SOCKSWAP_RULES="out,tcp,addr=127.0.0.1,path=$T/p%p.sock" \
    "$PYTHON" "$CLIPY" 127.0.0.1 "$P0" "$T/up" "$T/c.out" >"$T/c.kv" 2>"$T/c.err" ||
    fail "client to the reported port $P0 failed: $(tail -5 "$T/c.err")"
assert_eq "$(sha "$T/up")" "$(sha "$T/c.out")" "the reported port $P0 is served"

# (d) IPv6
P6=$(free_port) || exit 1
S6=$T/py6.sock
bg pysrv6 "${PRE[@]}" SOCKSWAP_RULES="in,tcp,addr=0:0:0:0:0:0:0:1,port=$P6,path=$S6" "$PYTHON" -u "$SRVPY" ::1 "$P6" 1
SRV6=$BG_PID
wait_grep "$T/pysrv6.out" '^ready=1' 10 "$SRV6"
assert_unix_socket "$S6"
assert_kv "$T/pysrv6.out" sockname "::1:$P6"
assert_kv "$T/pysrv6.out" so_domain 10
timeout 30 "$PYTHON" "$HELPERS/uclient.py" "$S6" "$T/up" >"$T/d.out" || fail "native client to the IPv6 listener failed"
assert_eq "$(sha "$T/up")" "$(sha "$T/d.out")" "1 MiB echoed by the IPv6 listener"
wait_grep "$T/pysrv6.out" '^closed=1' 10 "$SRV6"
a6=$(kv "$T/pysrv6.out" accept_addr)
in_peer_range "$a6" ::1 || fail "IPv6 accept address [$a6] is not ::1:32768-60999"
pass "IPv6 peer $a6"
