#!/usr/bin/env bash
# unsock drop-in: unsock's own scenarios with OUR library, configured only by LD_PRELOAD and the
# UNSOCK_* variables, exactly as an unsock user would.
#  - nc -l -p 7000 under UNSOCK_DIR/UNSOCK_ADDR=127.0.0.1/0/UNSOCK_PORT=7000/UNSOCK_BLOCK_INET6=1
#    is reached by `nc -U $dir/7000.sock`, message round trip both ways;
#  - nc -l -p 0 creates exactly one socket file in UNSOCK_DIR (and it serves);
#  - UNSOCK_BLOCK_INET6=1: socket(AF_INET6) fails with EAFNOSUPPORT (also under the seccomp
#    backend, and a static busybox nc -l under the UNSOCK_* variables is reached);
#  - UNSOCK_MODE=600: the socket file has mode 600;
#  - UNSOCK_BLOCK_INET=1: connect to a non-covered IPv4 address fails with EACCES (PermissionError);
#  - an accepted peer is reported as UNSOCK_ADDR's address with port UNSOCK_PORT;
#  - UNSOCK_ACCEPT_CONVERT_ALL=1: a plain AF_UNIX server's accept/getsockname report AF_INET
#    UNSOCK_ADDR:UNSOCK_PORT.
. "$(dirname "$0")/lib.sh"
need nc socat ss
need_artifacts
LIB=$SOCKSWAP_LIB

# 1. unsock's `make test`: nc -l -p 7000
D=$T/u1
mkdir -p "$D"
printf 'hello from server\n' >"$T/srv.in"
printf 'hello from client\n' >"$T/cli.in"
bg -i "$T/srv.in" nc7000 env UNSOCK_DIR="$D" UNSOCK_ADDR=127.0.0.1/0 UNSOCK_PORT=7000 UNSOCK_BLOCK_INET6=1 \
    LD_PRELOAD="$LIB" nc -N -l -p 7000
SRV=$BG_PID
wait_unix_listening "$D/7000.sock" 10 "$SRV"
assert_unix_socket "$D/7000.sock"
[ -z "$(ss -ltnH '( sport = :7000 )')" ] || fail "a TCP listener exists on port 7000"
timeout 20 nc -N -U "$D/7000.sock" <"$T/cli.in" >"$T/cli.out" || fail "nc -U $D/7000.sock failed (status $?)"
wait_exit "$SRV" 10 || fail "nc -l -p 7000 did not exit after the connection"
assert_eq "hello from client" "$(cat "$T/nc7000.out")" "server received the client's message"
assert_eq "hello from server" "$(cat "$T/cli.out")" "client received the server's message"

# 2. nc -l -p 0 creates exactly one socket file
D=$T/u2
mkdir -p "$D"
printf 'port zero\n' >"$T/z.in"
bg -i "$T/z.in" nc0 env UNSOCK_DIR="$D" UNSOCK_ADDR=127.0.0.1/0 LD_PRELOAD="$LIB" nc -N -l -p 0
SRV0=$BG_PID
one_file() { [ -n "$(ls -A "$D")" ]; }
_wait_until 10 "$SRV0" one_file || fail "nc -l -p 0 created no file in UNSOCK_DIR"
f=$(ls -A "$D")
wait_unix_listening "$D/$f" 10 "$SRV0"
assert_eq 1 "$(ls -A "$D" | wc -l)" "exactly one file in UNSOCK_DIR ($(ls -A "$D" | tr '\n' ' '))"
[[ $f =~ ^[0-9]+\.sock$ ]] && [ "${f%.sock}" -gt 0 ] || fail "file name [$f] is not PORT.sock"
[ -S "$D/$f" ] || fail "$D/$f is not a socket"
pass "nc -l -p 0 made $f"
out=$(timeout 20 nc -N -U "$D/$f" </dev/null) || fail "nc -U to $f failed"
assert_eq "port zero" "$out" "the port-0 socket serves"
wait_exit "$SRV0" 10

# 3. UNSOCK_BLOCK_INET6
cat >"$T/inet6.py" <<'PY'
import errno, socket
try:
    socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    print("created")
except OSError as e:
    print(errno.errorcode.get(e.errno, e.errno))
PY
out=$(timeout 20 env UNSOCK_DIR="$T/u3" UNSOCK_ADDR=127.0.0.1/0 UNSOCK_BLOCK_INET6=1 LD_PRELOAD="$LIB" "$PYTHON" "$T/inet6.py" 2>&1)
assert_eq EAFNOSUPPORT "$out" "UNSOCK_BLOCK_INET6=1: socket(AF_INET6) fails"
out=$(timeout 20 env UNSOCK_DIR="$T/u3" UNSOCK_ADDR=127.0.0.1/0 UNSOCK_BLOCK_INET6=1 "$SOCKSWAP_BIN" run --backend seccomp -- "$PYTHON" "$T/inet6.py" 2>&1)
assert_eq EAFNOSUPPORT "$out" "UNSOCK_BLOCK_INET6=1 under the seccomp backend (refused in the filter)"
if command -v busybox >/dev/null; then
    # unsock's own scenario with a static nc (no library can reach it): the seccomp backend.
    D=$T/u3b
    mkdir -p "$D"
    printf 'hello from busybox\n' >"$T/bb.in"
    bg -i "$T/bb.in" bbnc env UNSOCK_DIR="$D" UNSOCK_ADDR=127.0.0.1/0 UNSOCK_PORT=7000 UNSOCK_BLOCK_INET6=1 \
        "$SOCKSWAP_BIN" run --log info -- "$(command -v busybox)" nc -l -p 7000
    BB=$BG_PID
    wait_unix_listening "$D/7000.sock" 10 "$BB"
    assert_contains "$T/bbnc.err" "backend seccomp" "static busybox nc under UNSOCK_*: the seccomp backend"
    out=$(echo "hello busybox" | timeout 10 nc -U -q 1 "$D/7000.sock" 2>&1 || true)
    assert_eq "hello from busybox" "$out" "the client got the static nc's message"
    wait_grep "$T/bbnc.out" "hello busybox" 10 "$BB"
    pass "static busybox nc -l -p 7000 under UNSOCK_* got the message over $D/7000.sock"
    kill "$BB" 2>/dev/null || true
fi

# 4. UNSOCK_MODE=600
D=$T/u4
mkdir -p "$D"
bg nc7001 env UNSOCK_DIR="$D" UNSOCK_ADDR=127.0.0.1/0 UNSOCK_PORT=7001 UNSOCK_MODE=600 LD_PRELOAD="$LIB" nc -l -p 7001
SRVM=$BG_PID
wait_unix_listening "$D/7001.sock" 10 "$SRVM"
assert_eq 600 "$(stat -c %a "$D/7001.sock")" "UNSOCK_MODE=600: mode of the socket file"
stop_bg "$SRVM"

# 5. UNSOCK_BLOCK_INET: 127.0.0.2 is not covered by UNSOCK_ADDR=127.0.0.1 (/32)
cat >"$T/inet.py" <<'PY'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.settimeout(10)
try:
    s.connect(("127.0.0.2", int(sys.argv[1])))
    print("connected")
except OSError as e:
    print(type(e).__name__, e.errno)
PY
P=$(free_port) || exit 1
out=$(timeout 20 env UNSOCK_DIR="$T/u5" UNSOCK_ADDR=127.0.0.1 UNSOCK_BLOCK_INET=1 LD_PRELOAD="$LIB" "$PYTHON" "$T/inet.py" "$P" 2>&1)
assert_eq "PermissionError 13" "$out" "UNSOCK_BLOCK_INET=1: connect to a non-covered address"

# 6. peer of an accepted connection = UNSOCK_ADDR's address : UNSOCK_PORT
D=$T/u6
bg upy env UNSOCK_DIR="$D" UNSOCK_ADDR=127.0.0.1/0 UNSOCK_PORT=7002 LD_PRELOAD="$LIB" \
    "$PYTHON" -u "$PROGS/py_sock_server.py" 127.0.0.1 7002 1
SRVP=$BG_PID
wait_grep "$T/upy.out" '^ready=1' 10 "$SRVP"
[ -d "$D" ] && [ "$(stat -c %a "$D")" = 755 ] || fail "UNSOCK_DIR $D not created with mode 0755 ($(stat -c %a "$D" 2>&1))"
pass "UNSOCK_DIR created with mode 0755"
assert_kv "$T/upy.out" sockname "127.0.0.1:7002"
out=$(printf 'x' | timeout 20 "$PYTHON" "$HELPERS/uclient.py" "$D/7002.sock") || fail "native client to $D/7002.sock failed"
assert_eq x "$out" "echo through $D/7002.sock"
wait_grep "$T/upy.out" '^closed=1' 10 "$SRVP"
assert_kv "$T/upy.out" accept_addr "127.0.0.1:7002"

# 7. UNSOCK_ACCEPT_CONVERT_ALL: a program's own AF_UNIX listener reports AF_INET addresses
bg conv env UNSOCK_DIR="$T/u7" UNSOCK_ADDR=127.0.0.1/0 UNSOCK_PORT=7003 UNSOCK_ACCEPT_CONVERT_ALL=1 LD_PRELOAD="$LIB" \
    "$PYTHON" "$PROGS/py_probe.py" unix "bind=$T/plain.sock" listen name ready echo-once
CV=$BG_PID
wait_grep "$T/conv.out" '^ready -> ok' 10 "$CV"
out=$(printf 'conv' | timeout 20 "$PYTHON" "$HELPERS/uclient.py" "$T/plain.sock") || fail "client to $T/plain.sock failed"
assert_eq conv "$out" "plain AF_UNIX server under UNSOCK_ACCEPT_CONVERT_ALL serves"
wait_exit "$CV" 10
expect_line "$(cat "$T/conv.out")" "name -> ok 127.0.0.1:7003" "getsockname of an AF_UNIX socket reported as AF_INET"
expect_line "$(cat "$T/conv.out")" "echo-once -> ok 127.0.0.1:7003" "accept address of an AF_UNIX peer reported as AF_INET"
