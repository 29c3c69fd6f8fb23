#!/usr/bin/env bash
# curl moved onto a Unix socket by an `out` rule, fetching from a native AF_UNIX HTTP server:
# 1 MiB body checksum, the Host header curl sent, and curl's own view of the connection
# (it reports 127.0.0.1 and the port it connected to; its TCP_NODELAY/keepalive setsockopt succeed);
# the same over IPv6 ([::1] and an addr=::1 rule); curl --unix-socket redirected by a from-unix rule.
. "$(dirname "$0")/lib.sh"
need curl socat ss sha256sum
need_artifacts

randfile "$T/body" 1048576
P=$(free_port) || exit 1
S=$T/http.sock
bg httpsrv "$PYTHON" "$HELPERS/http_server.py" "$S" "$T/body"
wait_unix_connectable "$S" 10 "$BG_PID"
assert_tcp_not_listening "$P"

timeout 30 "${PRE[@]}" SOCKSWAP_RULES="out,tcp,addr=127.0.0.1,port=$P,path=$S" \
    curl -sS -v -o "$T/got" "http://127.0.0.1:$P/body" 2>"$T/curl.err" ||
    fail "curl under an out rule failed (status $?): $(cat "$T/curl.err")"
assert_eq "$(sha "$T/body")" "$(sha "$T/got")" "1 MiB body fetched by curl through the Unix socket"
assert_contains "$T/curl.err" "Connected to 127.0.0.1 (127.0.0.1) port $P" "curl sees the address it connected to"
assert_not_contains "$T/curl.err" "Could not set TCP_NODELAY" "TCP_NODELAY accepted on the converted socket"
assert_not_contains "$T/curl.err" "Failed to set" "keepalive options accepted on the converted socket"

timeout 30 "${PRE[@]}" SOCKSWAP_RULES="out,tcp,addr=127.0.0.1,port=$P,path=$S" \
    curl -sS -o "$T/req" "http://127.0.0.1:$P/req" 2>"$T/curl2.err" ||
    fail "second curl failed (status $?): $(cat "$T/curl2.err")"
assert_contains "$T/req" "GET /req HTTP/1.1" "request line reached the Unix server"
assert_contains "$T/req" "Host: 127.0.0.1:$P" "Host header unchanged"

# IPv6: curl http://[::1]:P/ under an addr=::1 rule
timeout 30 "${PRE[@]}" SOCKSWAP_RULES="out,tcp,addr=::1,port=$P,path=$S" \
    curl -sS -v -o "$T/got6" "http://[::1]:$P/body" 2>"$T/curl6.err" ||
    fail "curl to [::1]:$P under an out rule failed (status $?): $(cat "$T/curl6.err")"
assert_eq "$(sha "$T/body")" "$(sha "$T/got6")" "1 MiB over IPv6 ::1 through the Unix socket"
assert_contains "$T/curl6.err" "Connected to ::1 (::1) port $P" "curl sees [::1]:$P as its peer"

# from-unix: curl --unix-socket to a path that a rule redirects
timeout 30 "${PRE[@]}" SOCKSWAP_RULES="out,from-unix=$T/old-*.sock,path=$S" \
    curl -sS -o "$T/gotu" --unix-socket "$T/old-http.sock" "http://localhost/body" 2>"$T/curlu.err" ||
    fail "curl --unix-socket under a from-unix rule failed (status $?): $(cat "$T/curlu.err")"
assert_eq "$(sha "$T/body")" "$(sha "$T/gotu")" "curl --unix-socket redirected by a from-unix rule"
