#!/usr/bin/env bash
# redis under the shim.
#  - redis-server --port 6390 --bind 127.0.0.1 moved onto a Unix socket by an `in` rule (no TCP
#    listener on 6390);
#  - redis-cli -h 127.0.0.1 -p 6390 moved by an `out` rule onto that socket: SET/GET, and
#    CLIENT INFO shows laddr 127.0.0.1:6390 and a peer 127.0.0.1:32768-60999;
#  - redis-cli -s FILE natively reads the value back;
#  - redis-benchmark (20 parallel connections, event loop, non-blocking connects) under the out rule.
. "$(dirname "$0")/lib.sh"
need redis-server redis-cli redis-benchmark socat ss
need_artifacts

P=6390
S=$T/redis.sock
VAL="v-$$-$RANDOM"
bg redis "${PRE[@]}" SOCKSWAP_RULES="in,tcp,port=$P,path=$S" \
    redis-server --port "$P" --bind 127.0.0.1 --save '' --appendonly no --dir "$T" --daemonize no
SRV=$BG_PID
wait_unix_connectable "$S" 15 "$SRV"
assert_unix_socket "$S"
assert_tcp_not_listening "$P"

CLI=("${PRE[@]}" SOCKSWAP_RULES="out,tcp,addr=127.0.0.1,port=$P,path=$S" redis-cli -h 127.0.0.1 -p "$P")
out=$(timeout 20 "${CLI[@]}" SET sockswap:key "$VAL" 2>&1) || fail "redis-cli SET under an out rule failed: $out"
assert_eq OK "$out" "SET through the converted client"
out=$(timeout 20 "${CLI[@]}" GET sockswap:key 2>&1) || fail "redis-cli GET under an out rule failed: $out"
assert_eq "$VAL" "$out" "GET through the converted client"
out=$(timeout 20 "${CLI[@]}" CLIENT INFO 2>&1) || fail "redis-cli CLIENT INFO failed: $out"
addr=$(printf '%s\n' "$out" | tr ' ' '\n' | sed -n 's/^addr=//p')
laddr=$(printf '%s\n' "$out" | tr ' ' '\n' | sed -n 's/^laddr=//p')
in_peer_range "$addr" 127.0.0.1 || fail "redis sees client addr [$addr], expected 127.0.0.1:32768-60999 ($out)"
pass "redis sees the converted client as $addr"
assert_eq "127.0.0.1:$P" "$laddr" "redis sees laddr"

out=$(timeout 20 redis-cli -s "$S" GET sockswap:key 2>&1) || fail "native redis-cli -s failed: $out"
assert_eq "$VAL" "$out" "GET with native redis-cli -s on the socket file"
out=$(timeout 20 redis-cli -s "$S" INCR sockswap:n 2>&1) || fail "native redis-cli -s INCR failed: $out"
assert_eq 1 "$out" "INCR with native redis-cli -s"

timeout 60 "${PRE[@]}" SOCKSWAP_RULES="out,tcp,addr=127.0.0.1,port=$P,path=$S" \
    redis-benchmark -h 127.0.0.1 -p "$P" -c 20 -n 4000 -t set,get -q 2>&1 | tr '\r' '\n' >"$T/bench.out" ||
    fail "redis-benchmark under the out rule failed (status $?): $(tail -5 "$T/bench.out")"
grep -q '^SET: .*requests per second' "$T/bench.out" && grep -q '^GET: .*requests per second' "$T/bench.out" ||
    fail "redis-benchmark output: $(tail -5 "$T/bench.out")"
pass "redis-benchmark, 20 connections: $(grep -E '^(SET|GET): [0-9]' "$T/bench.out" | cut -d, -f1 | paste -sd';')"
out=$(timeout 20 redis-cli -s "$S" DBSIZE 2>&1) || fail "native redis-cli -s DBSIZE failed: $out"
[ "$out" -ge 2 ] 2>/dev/null || fail "DBSIZE after the benchmark: [$out]"
pass "server still healthy after the benchmark (DBSIZE $out)"
