#!/usr/bin/env bash
# Java 17 com.sun.net.httpserver.HttpServer and HttpURLConnection under the shim.
#  (a) HttpServer on 127.0.0.1:P moved onto a Unix socket, fetched with `curl --unix-socket`:
#      getAddress() is /127.0.0.1:P, 1 MiB body, the exchange shows remote 127.0.0.1:32768-60999
#      and local 127.0.0.1:P.
#      With port 0 and a %p template: getAddress() shows a nonzero port and that port is served.
#  (b) HttpURLConnection to http://127.0.0.1:P/ moved onto a native AF_UNIX HTTP server.
. "$(dirname "$0")/lib.sh"
need java javac curl socat ss sha256sum
need_artifacts
CP=$(java_classes) || fail "cannot compile the Java test programs"

randfile "$T/body" 1048576

# (a)
P=$(free_port) || exit 1
S=$T/jhttp.sock
bg jsrv "${PRE[@]}" SOCKSWAP_RULES="in,tcp,addr=127.0.0.1,port=$P,path=$S" java -cp "$CP" JHttp server 127.0.0.1 "$P" "$T/body"
SRV=$BG_PID
wait_grep "$T/jsrv.out" '^ready=1' 20 "$SRV"
assert_unix_socket "$S"
assert_tcp_not_listening "$P"
assert_kv "$T/jsrv.out" address "/127.0.0.1:$P"
timeout 30 curl -sS -f --unix-socket "$S" -o "$T/got" "http://127.0.0.1:$P/body" ||
    fail "curl --unix-socket to the Java HttpServer failed (status $?)"
assert_eq "$(sha "$T/body")" "$(sha "$T/got")" "1 MiB body from the Java HttpServer over the Unix socket"
timeout 30 curl -sS -f --unix-socket "$S" -o "$T/req" "http://127.0.0.1:$P/req" || fail "GET /req failed"
read -r remote local host <"$T/req"
in_peer_range "${remote#remote=}" 127.0.0.1 || fail "HttpExchange remote [$remote] is not 127.0.0.1:32768-60999"
pass "HttpServer sees $remote"
assert_eq "local=127.0.0.1:$P" "$local" "HttpExchange local address"
assert_eq "host=127.0.0.1:$P" "$host" "Host header"

# (a') port 0
bg jsrv0 "${PRE[@]}" SOCKSWAP_RULES="in,tcp,addr=127.0.0.1,path=$T/j%p.sock" java -cp "$CP" JHttp server 127.0.0.1 0 "$T/body"
SRV0=$BG_PID
wait_grep "$T/jsrv0.out" '^ready=1' 20 "$SRV0"
P0=$(kv "$T/jsrv0.out" address); P0=${P0##*:}
[ "$P0" -gt 0 ] 2>/dev/null || fail "port 0: HttpServer.getAddress() = $(kv "$T/jsrv0.out" address)"
assert_kv "$T/jsrv0.out" address "/127.0.0.1:$P0"
assert_unix_socket "$T/j$P0.sock"
timeout 30 curl -sS -f --unix-socket "$T/j$P0.sock" -o "$T/got0" "http://127.0.0.1:$P0/body" ||
    fail "curl to the port-0 HttpServer's socket failed (status $?)"
assert_eq "$(sha "$T/body")" "$(sha "$T/got0")" "port $P0 is served"
stop_bg "$SRV0"

# (b)
P2=$(free_port) || exit 1
S2=$T/native-http.sock
bg nathttp "$PYTHON" "$HELPERS/http_server.py" "$S2" "$T/body"
wait_unix_connectable "$S2" 10 "$BG_PID"
assert_tcp_not_listening "$P2"
timeout 60 "${PRE[@]}" SOCKSWAP_RULES="out,tcp,addr=127.0.0.1,port=$P2,path=$S2" \
    java -cp "$CP" JHttp client 127.0.0.1 "$P2" "$T/b.out" >"$T/b.kv" 2>"$T/b.err" ||
    fail "HttpURLConnection under an out rule failed: $(cat "$T/b.kv") $(head -5 "$T/b.err")"
assert_kv "$T/b.kv" status 200
assert_eq "$(sha "$T/body")" "$(sha "$T/b.out")" "1 MiB fetched by HttpURLConnection through the Unix socket"
assert_contains "$T/b.kv" "Host: 127.0.0.1:$P2" "HttpURLConnection's Host header reached the Unix server"
