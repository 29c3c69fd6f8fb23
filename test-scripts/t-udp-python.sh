#!/usr/bin/env bash
# Python's socket module over UDP, both ends under the shim, IPv4 and IPv6:
#  - the server's bind(HOST:P) becomes a Unix datagram socket at the rule's path (file exists,
#    no real UDP port); it sees SO_TYPE 2 (SOCK_DGRAM), SO_DOMAIN of its family, SO_PROTOCOL 17,
#    getsockname HOST:P; senders are reported as the family's loopback address with a port
#    61000-65095;
#  - the client (never bound) gets its replies through sendto/recvfrom, sendmsg/recvmsg (from a
#    second socket) and connect/send/recv, each reported as coming from HOST:P; its getsockname
#    after sendto is the wildcard address with a port; an 8 KiB binary datagram survives;
#  - a native AF_UNIX datagram client (python, not preloaded) talks to the converted server.
. "$(dirname "$0")/lib.sh"
need ss
need_artifacts

SRV=$PROGS/py_udp_server.py
CLI=$PROGS/py_udp_client.py

free_udp_port() {
    local p i
    for i in $(seq 1 200); do
        p=$((20000 + RANDOM % 10000))
        [ -z "$(ss -uanH "( sport = :$p )" 2>/dev/null)" ] && { echo "$p"; return 0; }
    done
    fail "no free UDP port found"
}
synthetic() { # HOST:PORT LOOPBACK
    local host=${1%:*} port=${1##*:}
    [ "$host" = "$2" ] && [ "$port" -ge 61000 ] 2>/dev/null && [ "$port" -le 65095 ]
}

scenario() { # HOST LOOPBACK WILDCARD FAMILY-NUMBER TAG
    local host=$1 lo=$2 wild=$3 fam=$4 tag=$5 P S F C peer
    P=$(free_udp_port)
    S=$T/$tag.sock
    bg "srv$tag" "${PRE[@]}" SOCKSWAP_RULES="in,udp,addr=$host,port=$P,path=$S" "$PYTHON" -u "$SRV" "$host" "$P"
    local pid=$BG_PID
    F=$T/srv$tag.out
    wait_grep "$F" '^ready=1' 10 "$pid"
    assert_unix_socket "$S"
    [ -z "$(ss -uanH "( sport = :$P )")" ] || fail "a real UDP socket is bound to port $P"
    pass "$tag: no real UDP socket on port $P"
    assert_kv "$F" sockname "$host:$P"
    assert_kv "$F" so_type 2
    assert_kv "$F" so_domain "$fam"
    assert_kv "$F" so_protocol 17

    C=$T/cli$tag.out
    timeout 30 "${PRE[@]}" SOCKSWAP_RULES="out,udp,addr=$host,port=$P,path=$S" "$PYTHON" "$CLI" "$host" "$P" \
        >"$C" 2>"$T/cli$tag.err" || fail "$tag: python UDP client failed: $(cat "$T/cli$tag.err")"
    assert_kv "$C" reply1 HELLO
    assert_kv "$C" from1 "$host:$P"
    local sn
    sn=$(kv "$C" sockname1)
    case $sn in "$wild":[1-9]*) pass "$tag: client getsockname after sendto: $sn" ;;
        *) fail "$tag: client getsockname after sendto is [$sn], expected $wild:PORT" ;; esac
    assert_kv "$C" big_ok 1
    assert_kv "$C" reply2 MSG:SCATTER
    assert_kv "$C" from2 "$host:$P"
    assert_kv "$C" peername3 "$host:$P"
    assert_kv "$C" reply3 CONNECTED
    assert_kv "$C" so_type 2
    assert_kv "$C" so_domain "$fam"
    [ "$(grep -c '^peer=' "$F")" -ge 4 ] || fail "$tag: the server saw fewer than 4 datagrams"
    for peer in $(sed -n 's/^peer=//p' "$F"); do
        synthetic "$peer" "$lo" || fail "$tag: server saw a sender as [$peer], expected $lo:61000-65095"
    done
    pass "$tag: the server saw every sender as $lo with a port 61000-65095"

    # a native AF_UNIX datagram client (not preloaded)
    timeout 20 "$PYTHON" - "$S" "$T/n$tag.sock" >"$T/native$tag.out" 2>&1 <<'PY' || fail "$tag: native client: $(cat "$T/native$tag.out")"
import socket, sys
u = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
u.bind(sys.argv[2])
u.settimeout(5)
u.sendto(b"native unix", sys.argv[1])
data, frm = u.recvfrom(100)
print("native_reply=%s" % data.decode())
print("native_from=%s" % frm)
u.sendto(b"quit", sys.argv[1])
PY
    assert_kv "$T/native$tag.out" native_reply "NATIVE UNIX"
    assert_kv "$T/native$tag.out" native_from "$S"
    wait_grep "$F" '^done=1' 10 "$pid"
    wait_exit "$pid" 10 || fail "$tag: server did not exit"
    assert_eq 0 "$WAIT_RC" "$tag: server exit status"
    [ -z "$(ss -uanH "( sport = :$P )")" ] || fail "a real UDP socket is bound to port $P"
}

scenario 127.0.0.1 127.0.0.1 0.0.0.0 2 v4
scenario ::1 ::1 :: 10 v6
