#!/usr/bin/env bash
# socat's UDP addresses under the shim, moved onto Unix datagram sockets.
#  (a) `socat UDP4-RECVFROM:P,fork EXEC:'tr a-z A-Z'` moved by an `in,udp` rule: the socket file
#      exists, no real UDP port is open, and native `socat UNIX-SENDTO` clients (bound, so that
#      they can be answered) get their datagrams back upper-cased; the forked children answer
#      through the synthetic peer addresses the parent's recvfrom reported. 3000-byte datagram too.
#  (b) `socat UDP6-LISTEN:P PIPE` (an echo; it connect()s to its first peer, reported as a synthetic [::1]:port).
#  (c) socat UDP clients moved by an `out,udp` rule (UDP4-SENDTO: sendto from a never-bound socket;
#      UDP4: connect + send; UDP6-SENDTO) onto a native `socat UNIX-RECVFROM` server, which
#      answers the client's autobound name.
#  (d) both ends under the shim: socat UDP4-SENDTO client -> socat UDP4-RECVFROM server.
. "$(dirname "$0")/lib.sh"
need socat ss tr base64
need_artifacts

free_udp_port() {
    local p i
    for i in $(seq 1 200); do
        p=$((20000 + RANDOM % 10000))
        [ -z "$(ss -uanH "( sport = :$p )" 2>/dev/null)" ] && { echo "$p"; return 0; }
    done
    fail "no free UDP port found"
}
assert_udp_not_bound() { # PORT
    local s
    s=$(ss -uanpH "( sport = :$1 )" 2>/dev/null)
    [ -z "$s" ] || fail "a real UDP socket is bound to port $1: $s"
    pass "no real UDP socket on port $1"
}
wait_socket_file() { # PATH PID
    _wait_until 10 "$2" test -S "$1"
    _wait_report $? "waiting for the socket file $1" "$2"
}
# udp_ask NAME MSG SOCAT-ADDRESS [PRELOAD-RULES]: socat client sending MSG, reply in $T/NAME.reply
udp_ask() {
    local name=$1 msg=$2 addr=$3 rules=${4:-}
    if [ -n "$rules" ]; then
        printf '%s' "$msg" | timeout 20 "${PRE[@]}" SOCKSWAP_RULES="$rules" socat -t 1 - "$addr" \
            >"$T/$name.reply" 2>"$T/$name.err" || fail "$name: socat client failed (status $?): $(cat "$T/$name.err")"
    else
        printf '%s' "$msg" | timeout 20 socat -t 1 - "$addr" \
            >"$T/$name.reply" 2>"$T/$name.err" || fail "$name: socat client failed (status $?): $(cat "$T/$name.err")"
    fi
}
upper() { printf '%s' "$1" | tr a-z A-Z; }

BIG=$(head -c 2250 /dev/urandom | base64 -w0) # 3000 bytes, one datagram

# (a)
P=$(free_udp_port)
S=$T/a.sock
bg srva "${PRE[@]}" SOCKSWAP_RULES="in,udp,addr=127.0.0.1,port=$P,path=$S" \
    socat "UDP4-RECVFROM:$P,bind=127.0.0.1,fork" "EXEC:tr a-z A-Z"
wait_socket_file "$S" "$BG_PID"
assert_unix_socket "$S"
assert_udp_not_bound "$P"
[ "$(stat -c %F "$S")" = socket ] || fail "not a socket"
ss -xanH | awk -v p="$S" '$1 == "u_dgr" && $5 == p { f = 1 } END { exit !f }' ||
    fail "$S is not a Unix datagram socket: $(ss -xanH | grep -F "$S")"
pass "$S is a Unix datagram socket (ss -xa: u_dgr)"
udp_ask a1 "hello datagram" "UNIX-SENDTO:$S,bind=$T/ca1.sock"
assert_eq "HELLO DATAGRAM" "$(cat "$T/a1.reply")" "(a) native client 1 answered by the converted socat UDP4-RECVFROM server"
udp_ask a2 "second client" "UNIX-SENDTO:$S,bind=$T/ca2.sock"
assert_eq "SECOND CLIENT" "$(cat "$T/a2.reply")" "(a) native client 2 answered"
udp_ask a3 "$BIG" "UNIX-SENDTO:$S,bind=$T/ca3.sock"
assert_eq "$(upper "$BIG")" "$(cat "$T/a3.reply")" "(a) 3000-byte datagram round trip"
assert_unix_socket "$S"
assert_udp_not_bound "$P"

# (b)
P=$(free_udp_port)
S=$T/b.sock
# PIPE echoes (an EXEC'd tr would hold its output until EOF, which a UDP "connection" never has)
bg srvb "${PRE[@]}" SOCKSWAP_RULES="in,udp,addr=::1,port=$P,path=$S" socat "UDP6-LISTEN:$P,bind=[::1]" PIPE
wait_socket_file "$S" "$BG_PID"
assert_udp_not_bound "$P"
udp_ask b1 "to udp6-listen" "UNIX-SENDTO:$S,bind=$T/cb1.sock"
assert_eq "to udp6-listen" "$(cat "$T/b1.reply")" "(b) converted socat UDP6-LISTEN answered a native client"

# (c)
P=$(free_udp_port)
S=$T/c.sock
bg srvc socat "UNIX-RECVFROM:$S,fork" "EXEC:tr a-z A-Z"
wait_socket_file "$S" "$BG_PID"
R="out,udp,port=$P,path=$S"
udp_ask c1 "udp4 sendto" "UDP4-SENDTO:127.0.0.1:$P" "$R"
assert_eq "UDP4 SENDTO" "$(cat "$T/c1.reply")" "(c) converted socat UDP4-SENDTO client answered by a native Unix server"
udp_ask c2 "udp4 connected" "UDP4:127.0.0.1:$P" "$R"
assert_eq "UDP4 CONNECTED" "$(cat "$T/c2.reply")" "(c) converted socat UDP4 (connect) client answered"
udp_ask c3 "udp6 sendto" "UDP6-SENDTO:[::1]:$P" "$R"
assert_eq "UDP6 SENDTO" "$(cat "$T/c3.reply")" "(c) converted socat UDP6-SENDTO client answered"
udp_ask c4 "$BIG" "UDP4-SENDTO:127.0.0.1:$P" "$R"
assert_eq "$(upper "$BIG")" "$(cat "$T/c4.reply")" "(c) 3000-byte datagram round trip"
assert_udp_not_bound "$P"

# (d)
P=$(free_udp_port)
S=$T/d.sock
bg srvd "${PRE[@]}" SOCKSWAP_RULES="in,udp,addr=127.0.0.1,port=$P,path=$S" \
    socat "UDP4-RECVFROM:$P,bind=127.0.0.1,fork" "EXEC:tr a-z A-Z"
wait_socket_file "$S" "$BG_PID"
udp_ask d1 "both ends converted" "UDP4-SENDTO:127.0.0.1:$P" "out,udp,addr=127.0.0.1,port=$P,path=$S"
assert_eq "BOTH ENDS CONVERTED" "$(cat "$T/d1.reply")" "(d) converted socat client <-> converted socat server"
assert_udp_not_bound "$P"
