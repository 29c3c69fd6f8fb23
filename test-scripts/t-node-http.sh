#!/usr/bin/env bash
# node `http` under the shim, both directions.
#  (a) http.createServer().listen(P, '127.0.0.1') moved onto a Unix socket, fetched with
#      `curl --unix-socket`: 1 MiB body, and the request's socket shows local 127.0.0.1:P and a
#      peer 127.0.0.1:32768-60999.
#  (b) http.get('http://127.0.0.1:P/...') moved onto a native AF_UNIX HTTP server.
. "$(dirname "$0")/lib.sh"
need node curl socat ss sha256sum
need_artifacts

randfile "$T/body" 1048576
JS=$PROGS/node_http.js

# (a)
P=$(free_port) || exit 1
S=$T/nodehttp.sock
bg nodesrv "${PRE[@]}" SOCKSWAP_RULES="in,tcp,port=$P,path=$S" node "$JS" server 127.0.0.1 "$P" "$T/body"
SRV=$BG_PID
wait_grep "$T/nodesrv.out" '^ready=1' 10 "$SRV"
assert_unix_socket "$S"
assert_tcp_not_listening "$P"
assert_kv "$T/nodesrv.out" address "{\"address\":\"127.0.0.1\",\"family\":\"IPv4\",\"port\":$P}"
timeout 30 curl -sS -f --unix-socket "$S" -o "$T/got" "http://127.0.0.1:$P/body" ||
    fail "curl --unix-socket to the node http server failed (status $?)"
assert_eq "$(sha "$T/body")" "$(sha "$T/got")" "1 MiB body from the node http server over the Unix socket"
timeout 30 curl -sS -f --unix-socket "$S" -o "$T/req" "http://127.0.0.1:$P/req" || fail "GET /req failed"
read -r remote local host <"$T/req"
in_peer_range "${remote#remote=}" 127.0.0.1 || fail "node request socket remote [$remote] is not 127.0.0.1:32768-60999"
pass "node sees $remote"
assert_eq "local=127.0.0.1:$P" "$local" "node request socket local address"
assert_eq "host=127.0.0.1:$P" "$host" "Host header"

# (b)
P2=$(free_port) || exit 1
S2=$T/native-http.sock
bg nathttp "$PYTHON" "$HELPERS/http_server.py" "$S2" "$T/body"
wait_unix_connectable "$S2" 10 "$BG_PID"
assert_tcp_not_listening "$P2"
timeout 30 "${PRE[@]}" SOCKSWAP_RULES="out,tcp,addr=127.0.0.1,port=$P2,path=$S2" \
    node "$JS" client 127.0.0.1 "$P2" "$T/b.out" >"$T/b.kv" 2>"$T/b.err" ||
    fail "node http client under an out rule failed: $(cat "$T/b.kv") $(tail -5 "$T/b.err")"
assert_kv "$T/b.kv" status 200
assert_eq "$(sha "$T/body")" "$(sha "$T/b.out")" "1 MiB body fetched by node http through the Unix socket"
assert_contains "$T/b.kv" "Host: 127.0.0.1:$P2" "node's Host header reached the Unix server"
