#!/usr/bin/env bash
# haproxy on a converted bind (issue 10): `bind 127.0.0.1:P` moved onto a Unix socket by an `in`
# rule, answering `http-request return ... lf-string "%fi:%fp %ci"`. haproxy asks
# getsockopt(SO_ORIGINAL_DST) for the frontend address; a made-up success there made it report
# ":0". It must answer its bound address 127.0.0.1:P and a 127.0.0.1 client, for a native curl
# on the socket file and for a curl converted by an `out` rule.
. "$(dirname "$0")/lib.sh"
need haproxy curl ss
need_artifacts

P=$(free_port)
S=$T/haproxy.sock
cat >"$T/haproxy.cfg" <<EOF
defaults
    mode http
    timeout connect 5s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:$P
    http-request return status 200 content-type text/plain lf-string "%fi:%fp %ci"
EOF
bg haproxy "${PRE[@]}" SOCKSWAP_RULES="in,tcp,port=$P,path=$S" haproxy -db -f "$T/haproxy.cfg"
SRV=$BG_PID
wait_unix_listening "$S" 15 "$SRV"
assert_tcp_not_listening "$P"

out=$(timeout 20 curl -sS --unix-socket "$S" "http://127.0.0.1:$P/" 2>&1) || fail "curl on the socket file: $out"
assert_eq "127.0.0.1:$P 127.0.0.1" "$out" "haproxy answers its frontend address and a loopback client (native curl)"

out=$(timeout 20 "${PRE[@]}" SOCKSWAP_RULES="out,tcp,port=$P,path=$S" curl -sS "http://127.0.0.1:$P/" 2>&1) ||
    fail "curl under an out rule: $out"
assert_eq "127.0.0.1:$P 127.0.0.1" "$out" "haproxy answers its frontend address (converted curl)"
