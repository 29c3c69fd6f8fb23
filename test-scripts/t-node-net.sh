#!/usr/bin/env bash
# node `net` (libuv) under the shim, both directions.
#  (a) net.createServer().listen(P, '127.0.0.1') moved onto a Unix socket: server.address() prints
#      the original address/family/port; a native AF_UNIX client gets 1 MiB echoed; the peer node
#      sees is 127.0.0.1:32768-60999. With port 0: address().port nonzero and that port is served.
#      20 native clients at once: each gets its own data back, and node sees 20 distinct peer ports.
#  (b) net.connect(P, '127.0.0.1') moved onto a native echo server, 1 MiB round trip.
. "$(dirname "$0")/lib.sh"
need node socat ss sha256sum
need_artifacts

randfile "$T/up" 1048576
JS=$PROGS/node_net.js

# (a)
P=$(free_port) || exit 1
S=$T/node.sock
bg nodesrv "${PRE[@]}" SOCKSWAP_RULES="in,tcp,addr=127.0.0.1,port=$P,path=$S" node "$JS" server 127.0.0.1 "$P"
SRV=$BG_PID
wait_grep "$T/nodesrv.out" '^ready=1' 10 "$SRV"
assert_unix_socket "$S"
assert_tcp_not_listening "$P"
assert_kv "$T/nodesrv.out" address "{\"address\":\"127.0.0.1\",\"family\":\"IPv4\",\"port\":$P}"
timeout 30 "$PYTHON" "$HELPERS/uclient.py" "$S" "$T/up" >"$T/a.out" || fail "native AF_UNIX client failed"
assert_eq "$(sha "$T/up")" "$(sha "$T/a.out")" "1 MiB echoed by the node server over the Unix socket"
pr=$(kv "$T/nodesrv.out" peer)
in_peer_range "$pr" 127.0.0.1 || fail "node's remoteAddress:remotePort [$pr] is not 127.0.0.1:32768-60999"
pass "node peer $pr"

# 20 parallel clients
pids=()
for i in $(seq 1 20); do
    head -c $((1000 + i * 997)) /dev/urandom >"$T/par$i.in"
    timeout 30 "$PYTHON" "$HELPERS/uclient.py" "$S" "$T/par$i.in" >"$T/par$i.out" &
    pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done
for i in $(seq 1 20); do
    cmp -s "$T/par$i.in" "$T/par$i.out" || fail "parallel client $i: echo mismatch"
done
pass "20 parallel clients echoed"
n=$(sed -n 's/^peer=//p' "$T/nodesrv.out" | sort -u | wc -l)
assert_eq 21 "$n" "distinct peers seen by node (1 + 20)"

# (a') port 0
bg nodesrv0 "${PRE[@]}" SOCKSWAP_RULES="in,tcp,addr=127.0.0.1,path=$T/n%p.sock" node "$JS" server 127.0.0.1 0
SRV0=$BG_PID
wait_grep "$T/nodesrv0.out" '^ready=1' 10 "$SRV0"
P0=$(kv "$T/nodesrv0.out" address | sed -n 's/.*"port":\([0-9]*\).*/\1/p')
[ "${P0:-0}" -gt 0 ] || fail "port 0: server.address() = $(kv "$T/nodesrv0.out" address)"
assert_kv "$T/nodesrv0.out" address "{\"address\":\"127.0.0.1\",\"family\":\"IPv4\",\"port\":$P0}"
wait_unix_connectable "$T/n$P0.sock" 10 "$SRV0"
timeout 30 "$PYTHON" "$HELPERS/uclient.py" "$T/n$P0.sock" "$T/up" >"$T/a0.out" || fail "client to port $P0's socket failed"
assert_eq "$(sha "$T/up")" "$(sha "$T/a0.out")" "port $P0 is served"

# (b)
P2=$(free_port) || exit 1
S2=$T/echo.sock
bg echosrv "$PYTHON" "$HELPERS/echo_server.py" "$S2"
wait_unix_connectable "$S2" 10 "$BG_PID"
assert_tcp_not_listening "$P2"
timeout 30 "${PRE[@]}" SOCKSWAP_RULES="out,tcp,addr=127.0.0.1,port=$P2,path=$S2" \
    node "$JS" client 127.0.0.1 "$P2" "$T/up" "$T/b.out" >"$T/b.kv" 2>"$T/b.err" ||
    fail "node client under an out rule failed: $(cat "$T/b.kv") $(tail -5 "$T/b.err")"
assert_eq "$(sha "$T/up")" "$(sha "$T/b.out")" "1 MiB echoed to the converted node client"
assert_kv "$T/b.kv" peername "127.0.0.1:$P2"
