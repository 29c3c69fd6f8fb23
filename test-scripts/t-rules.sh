#!/usr/bin/env bash
# Rule actions and rule order, seen through real programs (python, curl, socat) under the shim:
#  - reject (default EACCES on bind; named and numeric errnos on connect), also for curl;
#  - `ignore` before a catch-all `reject`: the ignored port is a real TCP listener, others fail;
#  - blackhole: bind/listen succeed, no TCP listener, no socket file;
#  - SOCKSWAP_RULES before SOCKSWAP_RULES_FILE before the UNSOCK_* rule;
#  - port ranges with %p; from-unix (bind stays a bind, connect stays a connect); abstract targets.
. "$(dirname "$0")/lib.sh"
need curl socat ss
need_artifacts
P=$(free_port) || exit 1
A=127.0.0.1:$P

# reject
out=$(probe "in,port=$P,reject" inet "bind=$A")
expect_line "$out" "bind=$A -> EACCES" "in reject: default errno"
out=$(probe "out,addr=127.0.0.1,port=$P,reject=EHOSTDOWN" inet "connect=$A")
expect_line "$out" "connect=$A -> EHOSTDOWN" "out reject=EHOSTDOWN"
out=$(probe "out,addr=127.0.0.0/8,reject=113" inet "connect=$A")
expect_line "$out" "connect=$A -> EHOSTUNREACH" "out reject=113 (numeric)"

# curl refused by a rule although a real TCP server listens (its own port: TIME_WAIT stays behind)
P3=$(free_port) || exit 1
mkdir -p "$T/www" && echo hello >"$T/www/index.html"
bg tcphttp "$PYTHON" -m http.server "$P3" --bind 127.0.0.1 --directory "$T/www"
wait_tcp_connectable "$P3" 10 "$BG_PID"
timeout 20 curl -sS -o /dev/null "http://127.0.0.1:$P3/" || fail "control: curl without the shim cannot reach the TCP server"
timeout 20 "${PRE[@]}" SOCKSWAP_RULES="out,addr=127.0.0.1,port=$P3,reject=ECONNREFUSED" \
    curl -sS -o /dev/null "http://127.0.0.1:$P3/" 2>"$T/curl.err"
rc=$?
assert_eq 7 "$rc" "curl under a reject rule fails to connect (exit 7; $(cat "$T/curl.err"))"
stop_bg "$BG_PID"

# ignore before reject
P2=$(free_port) || exit 1
bg ign "${PRE[@]}" SOCKSWAP_RULES="in,port=$P,ignore;in,reject" "$PYTHON" "$PROGS/py_probe.py" \
    inet "bind=$A" listen ready echo-once
IGN=$BG_PID
wait_grep "$T/ign.out" '^ready -> ok' 10 "$IGN"
wait_tcp_connectable "$P" 10 "$IGN"
pass "the ignored port is a real TCP listener"
stop_bg "$IGN"
out=$(probe "in,port=$P,ignore;in,reject" inet "bind=127.0.0.1:$P2")
expect_line "$out" "bind=127.0.0.1:$P2 -> EACCES" "other ports hit the catch-all reject"

# blackhole
bg bh "${PRE[@]}" SOCKSWAP_RULES="in,port=$P,blackhole" "$PYTHON" "$PROGS/py_probe.py" inet "bind=$A" listen ready "wait=$T/never"
BH=$BG_PID
wait_grep "$T/bh.out" '^ready -> ok' 10 "$BH"
expect_line "$(cat "$T/bh.out")" "bind=$A -> ok" "blackhole: bind succeeds"
expect_line "$(cat "$T/bh.out")" "listen -> ok" "blackhole: listen succeeds"
assert_tcp_not_listening "$P"
stop_bg "$BH"

# order: SOCKSWAP_RULES, then SOCKSWAP_RULES_FILE, then UNSOCK_*
printf 'in,port=%s,path=%s\n' "$P" "$T/from-file.sock" >"$T/rules"
order() {
    timeout 20 env LD_PRELOAD="$SOCKSWAP_LIB" UNSOCK_DIR="$T/u" UNSOCK_ADDR=127.0.0.1/0 "$@" \
        "$PYTHON" "$PROGS/py_probe.py" inet "bind=$A" listen \
        "exists=$T/from-env.sock" "exists=$T/from-file.sock" "exists=$T/u/$P.sock"
}
out=$(order SOCKSWAP_RULES="in,port=$P,path=$T/from-env.sock" SOCKSWAP_RULES_FILE="$T/rules")
assert_eq "ok socket ok missing ok missing" "$(printf '%s\n' "$out" | tail -n 3 | sed 's/.* -> //' | xargs)" \
    "SOCKSWAP_RULES wins over the rules file and UNSOCK"
out=$(order SOCKSWAP_RULES_FILE="$T/rules")
assert_eq "ok missing ok socket ok missing" "$(printf '%s\n' "$out" | tail -n 3 | sed 's/.* -> //' | xargs)" \
    "the rules file wins over UNSOCK"
out=$(order)
assert_eq "ok missing ok missing ok socket" "$(printf '%s\n' "$out" | tail -n 3 | sed 's/.* -> //' | xargs)" \
    "UNSOCK rule applies last"

# port range and %p
Q=$((P + 1))
out=$(probe "in,port=$P-$Q,path=$T/r-%p.sock" inet "bind=127.0.0.1:$Q" listen "exists=$T/r-$Q.sock")
expect_line "$out" "exists=$T/r-$Q.sock -> ok socket" "port range covers $Q"

# from-unix: a Unix bind moved to another path (still a listener), a Unix connect redirected
bg fu "${PRE[@]}" SOCKSWAP_RULES="in,from-unix=$T/old-*.sock,path=$T/new.sock" "$PYTHON" "$PROGS/py_probe.py" \
    unix "bind=$T/old-1.sock" listen ready echo-once
FU=$BG_PID
wait_grep "$T/fu.out" '^ready -> ok' 10 "$FU"
[ -e "$T/old-1.sock" ] && fail "from-unix: the original path $T/old-1.sock was created"
out=$(printf 'moved' | timeout 20 "$PYTHON" "$HELPERS/uclient.py" "$T/new.sock") || fail "client to $T/new.sock failed"
assert_eq moved "$out" "from-unix in: the listener serves at the new path"
wait_exit "$FU" 10
bg echo2 "$PYTHON" "$HELPERS/echo_server.py" "$T/real.sock"
wait_unix_connectable "$T/real.sock" 10 "$BG_PID"
out=$(probe "out,from-unix=$T/old-*.sock,path=$T/real.sock" unix "connect=$T/old-2.sock" send=ping recv)
expect_line "$out" "recv -> ok ping" "from-unix out: the connect reached the new path"

# abstract target
NAME=sockswap-test-$$-$P
bg abs "${PRE[@]}" SOCKSWAP_RULES="in,port=$P,abstract=sockswap-test-$$-%p" "$PYTHON" "$PROGS/py_probe.py" \
    inet "bind=$A" listen name ready echo-once
AB=$BG_PID
wait_grep "$T/abs.out" '^ready -> ok' 10 "$AB"
expect_line "$(cat "$T/abs.out")" "name -> ok $A" "getsockname of the abstract-backed listener"
assert_tcp_not_listening "$P"
out=$(printf 'abstract' | timeout 20 socat -t 5 - "ABSTRACT-CONNECT:$NAME") || fail "socat ABSTRACT-CONNECT:$NAME failed"
assert_eq abstract "$out" "served on the abstract socket @$NAME"
