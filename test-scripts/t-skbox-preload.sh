#!/usr/bin/env bash
# socketbox-preload's users change only LD_PRELOAD: servers under OUR library configured with
# nothing but socketbox-preload's SKBOX_* variables, in network namespaces of their own, are
# served by our router (`socketbox -l 127.0.0.1 -p RP -S FILE`) through the socket files
# socketbox-preload would have made, and look native:
#  1. wildcard-filter mode, IPv4: python3 -m http.server 8100 --bind 0.0.0.0 with
#     SKBOX_DIRECTORY_ROOT2 and SKBOX_PORT_FILTER_IPV4_WILDCARD=1,1,8100 -> ROOT2/X0004/00000_08100;
#     its banner (getsockname) says 0.0.0.0 port 8100, a 256 KiB file arrives, the real client
#     address is logged;
#  2. wildcard-filter mode, IPv6: --bind :: with SKBOX_PORT_FILTER_IPV6_WILDCARD -> ROOT2/X0000/00000_08101;
#  3. fe8f:: mode with a lookup file: SKBOX_DIRECTORY_ROOT/skbox_dir_00001, record 2 holding
#     "$T/sb_@SB_.a": --bind fe8f::1:2 port 80 -> $T/sb00080.a (port 80 needs no privilege: it is
#     a Unix socket); a port outside the default filter (>= 1024) stays TCP;
#  4. the same listener seen from inside (py_sb_server.py, fe8f::2:7:9 port 443 under
#     SKBOX_DIRECTORY_ROOT2 -> ROOT2/00007/00009_00443): getsockname, SO_TYPE, SO_DOMAIN,
#     SO_PROTOCOL, SO_ACCEPTCONN as for a TCP listener, the accepted socket's peer the real client;
#  5. SKBOX_ENABLE_CONNECT=1: a client connecting to fe8f::3:7:9 port 22 reaches the stream
#     listener a server bound there (ROOT2/00007/00009_00022), both under the variables;
#  6. SKBOX_BLOCK_LISTEN_EMPTY_ADDR: listen on an unbound TCP socket fails with EINVAL (default),
#     works with =0; SKBOX_GETPEERNAME_PROTECTION=2 zeroes the bytes past a sockaddr_in;
#  7. what sockswap cannot do is refused at start (exit 121, one line naming the variable).
. "$(dirname "$0")/lib.sh"
. "$HELPERS/router_shim.sh"
need curl unshare sha256sum
need_artifacts
need_router_bin

R2=$T/r2
mkdir -p "$R2/X0004" "$R2/X0000" "$R2/00007" "$T/www"
randfile "$T/www/blob.bin" 262144

fetch() { # NAME RP SRC: the blob through the router; the server logs the request from SRC
    local re="\"GET /blob.bin HTTP/1.1\" 200"
    timeout 20 curl -sS -f --interface "$3" -o "$T/$1.got" "http://127.0.0.1:$2/blob.bin" ||
        fail "$1: curl through the router failed (status $?)"
    assert_eq "$(sha "$T/www/blob.bin")" "$(sha "$T/$1.got")" "$1: 256 KiB file from python http.server through the router"
    wait_grep "$T/$1.err" "^(::ffff:)?${3//./\\.} - - .*$re" 10 "$SRV_PID"
    pass "$1: the server logged the real client $3: $(grep -F 'GET /blob.bin' "$T/$1.err" | tail -n 1)"
}

http_server() { # NAME PORT BIND VAR=VALUE...
    local name=$1 port=$2 bind=$3
    shift 3
    bg "$name" "${NS[@]}" env LD_PRELOAD="$SOCKSWAP_LIB" "$@" \
        "$PYTHON" -u -m http.server "$port" --bind "$bind" --directory "$T/www"
    SRV_PID=$BG_PID
    wait_grep "$T/$name.out" "^Serving HTTP on ${bind//./\\.} port $port " 15 "$SRV_PID"
    pass "$name: banner shows the address it bound: $(head -n 1 "$T/$name.out")"
}

# 1. wildcard-filter mode, IPv4
RP=$(free_port)
http_server w4 8100 0.0.0.0 SKBOX_DIRECTORY_ROOT2="$R2" SKBOX_PORT_FILTER_IPV4_WILDCARD=1,1,8100
assert_unix_socket "$R2/X0004/00000_08100"
start_router rw4 -l 127.0.0.1 -p "$RP" -S "$R2/X0004/00000_08100"
fetch w4 "$RP" 127.0.0.11

# 2. wildcard-filter mode, IPv6
RP=$(free_port)
http_server w6 8101 :: SKBOX_DIRECTORY_ROOT2="$R2" SKBOX_PORT_FILTER_IPV6_WILDCARD=8102
assert_unix_socket "$R2/X0000/00000_08101"
start_router rw6 -l 127.0.0.1 -p "$RP" -S "$R2/X0000/00000_08101"
fetch w6 "$RP" 127.0.0.12

# 3. fe8f:: mode, lookup file skbox_dir_00001, record 2
mkdir -p "$T/lk"
"$PYTHON" - "$T/lk/skbox_dir_00001" "$T/sb_@SB_.a" <<'PY'
import sys
rec = lambda p: p.encode().ljust(128, b"\0")
open(sys.argv[1], "wb").write(rec("/nowhere/0") + rec("") + rec(sys.argv[2]))
PY
RP=$(free_port)
http_server fe 80 fe8f::1:2 SKBOX_DIRECTORY_ROOT="$T/lk"
assert_unix_socket "$T/sb00080.a"
start_router rfe -l 127.0.0.1 -p "$RP" -S "$T/sb00080.a"
fetch fe "$RP" 127.0.0.13
out=$("${NS[@]}" env LD_PRELOAD="$SOCKSWAP_LIB" SKBOX_DIRECTORY_ROOT="$T/lk" \
    "$PYTHON" "$PROGS/py_probe.py" inet6 bind=[fe8f::1:2]:1024 bind=[fe8f::1:9]:80 2>&1)
# the kernel's own answer for an address no interface has (EINVAL with loopback down)
grep -qE 'bind=\[fe8f::1:2\]:1024 -> E(INVAL|ADDRNOTAVAIL)$' <<<"$out" || fail "port 1024: $out"
[ ! -e "$T/sb01024.a" ] || fail "port 1024 was converted"
grep -q 'bind=\[fe8f::1:9\]:80 -> ERANGE' <<<"$out" || fail "a record beyond the file: $out"
pass "outside the default IPv6 filter the bind stays TCP; a missing record is ERANGE, as in socketbox-preload"

# 4. inside view of a converted listener (fe8f::2:X:Y under ROOT2)
RP=$(free_port)
bg sb "${NS[@]}" env LD_PRELOAD="$SOCKSWAP_LIB" SKBOX_DIRECTORY_ROOT2="$R2" \
    "$PYTHON" -u "$PROGS/py_sb_server.py" inet6 fe8f::2:7:9 443 1
SRV_PID=$BG_PID
wait_grep "$T/sb.out" '^ready=1' 15 "$SRV_PID"
assert_unix_socket "$R2/00007/00009_00443"
start_router rsb -l 127.0.0.1 -p "$RP" -S "$R2/00007/00009_00443"
got=$(timeout 20 "$PYTHON" - "$RP" <<'PY'
import socket, sys
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=15, source_address=("127.0.0.14", 0))
print("%d %s" % (c.getsockname()[1], c.makefile("rb").readline().decode().strip()))
PY
) || fail "client through the router failed"
cport=${got%% *}
assert_eq hello "${got#* }" "the fe8f:: server answered through the router"
wait_exit "$SRV_PID" 10 || fail "py_sb_server did not finish"
for kv in "name=fe8f::2:7:9:443" bound_SO_TYPE=SOCK_STREAM bound_SO_DOMAIN=AF_INET6 \
    bound_SO_PROTOCOL=IPPROTO_TCP bound_SO_ACCEPTCONN=0 SO_TYPE=SOCK_STREAM SO_DOMAIN=AF_INET6 \
    SO_PROTOCOL=IPPROTO_TCP SO_ACCEPTCONN=1 "name_listening=fe8f::2:7:9:443" \
    "accept=::ffff:127.0.0.14:$cport" "peer=::ffff:127.0.0.14:$cport" domain=AF_INET6; do
    grep -qxF "$kv" "$T/sb.out" || fail "py_sb_server: [$kv] not in: $(tr '\n' ' ' <"$T/sb.out")"
done
pass "the listener looks like a TCP listener on [fe8f::2:7:9]:443; the peer is the real client"

# 5. SKBOX_ENABLE_CONNECT=1: stream addresses connect to the stream listener
export SKBOX_DIRECTORY_ROOT2="$R2" SKBOX_ENABLE_CONNECT=1
bg st env LD_PRELOAD="$SOCKSWAP_LIB" "$PYTHON" -u "$PROGS/py_probe.py" inet6 bind=[fe8f::3:7:9]:22 listen ready echo-once
wait_grep "$T/st.out" '^ready -> ok' 10 "$BG_PID"
assert_unix_socket "$R2/00007/00009_00022"
out=$(env LD_PRELOAD="$SOCKSWAP_LIB" "$PYTHON" "$PROGS/py_probe.py" inet6 connect=[fe8f::3:7:9]:22 peer send=ping recv 2>&1)
grep -q 'recv -> ok ping' <<<"$out" || fail "connect to fe8f::3:7:9 port 22: $out"
grep -qF 'peer -> ok fe8f::3:7:9' <<<"$out" || fail "getpeername after connect: $out"
out=$(env LD_PRELOAD="$SOCKSWAP_LIB" "$PYTHON" "$PROGS/py_probe.py" inet6 connect=[fe8f::2:7:9]:22 2>&1)
grep -q 'connect=.* -> EINVAL' <<<"$out" || fail "connect to a datagram address with SKBOX_ENABLE_CONNECT=1: $out"
pass "SKBOX_ENABLE_CONNECT=1: stream address connected, datagram address EINVAL (as socketbox-preload)"
unset SKBOX_DIRECTORY_ROOT2 SKBOX_ENABLE_CONNECT

# 6. listen on an unbound socket; name buffer protection
probe_listen() { env LD_PRELOAD="$SOCKSWAP_LIB" "$@" "$PYTHON" "$PROGS/py_probe.py" inet listen 2>&1; }
grep -q 'listen -> EINVAL' <<<"$(probe_listen SKBOX_SCHED_YIELD=0)" || fail "listen without a port was not refused"
grep -q 'listen -> ok' <<<"$(probe_listen SKBOX_BLOCK_LISTEN_EMPTY_ADDR=0)" || fail "SKBOX_BLOCK_LISTEN_EMPTY_ADDR=0 did not allow it"
pass "SKBOX_BLOCK_LISTEN_EMPTY_ADDR: listen on 0.0.0.0:0 is EINVAL by default, allowed with 0"
prot() {
    env LD_PRELOAD="$SOCKSWAP_LIB" "$@" "$PYTHON" - <<'PY'
import ctypes, socket
s = socket.socket(); s.bind(("127.0.0.1", 0))
buf = ctypes.create_string_buffer(b"\xaa" * 128, 128); n = ctypes.c_uint(128)
ctypes.CDLL(None).getsockname(s.fileno(), buf, ctypes.byref(n))
print(buf.raw[16:].count(b"\xaa"))
PY
}
assert_eq 0 "$(prot SKBOX_GETPEERNAME_PROTECTION=2)" "SKBOX_GETPEERNAME_PROTECTION=2: bytes past the sockaddr_in are zero"
assert_eq 112 "$(prot SKBOX_GETPEERNAME_PROTECTION=0)" "SKBOX_GETPEERNAME_PROTECTION=0: the buffer is left alone"

# 7. refusals
refuse() { # EXPECTED VAR=VALUE
    local err rc
    err=$(env LD_PRELOAD="$SOCKSWAP_LIB" "$2" true 2>&1)
    rc=$?
    [ "$rc" = 121 ] || fail "[$2]: exit status $rc, expected 121 ($err)"
    case $err in "sockswap: $1"*) pass "refused: $err" ;; *) fail "[$2]: got [$err]" ;; esac
}
refuse "SKBOX_PORT_FILTER_IPV4: bad number 'x'" SKBOX_PORT_FILTER_IPV4=80,x
refuse "SKBOX_ACCEPT_STREAM: 1" SKBOX_ACCEPT_STREAM=1
refuse "SKBOX_ENABLE_CONNECT: '2'" SKBOX_ENABLE_CONNECT=2
refuse "SKBOX_DIRECTORY_ROOT: cannot read '$T/none'" SKBOX_DIRECTORY_ROOT=$T/none
