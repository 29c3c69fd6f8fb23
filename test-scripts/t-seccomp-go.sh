#!/usr/bin/env bash
# Go programs under `sockswap run` (auto -> the seccomp backend; Go makes its socket system calls
# itself, with or without cgo):
#  (a) static (CGO_ENABLED=0) and cgo HTTP servers under an `in` rule: the backend chosen is
#      logged, the socket file exists, the TCP port is closed, `curl --unix-socket` is answered
#      and the server reports a 127.0.0.1 client and its own 127.0.0.1:P address; SIGTERM and
#      SIGINT reach the program, its exit status comes back, the socket file is removed.
#  (b) a static Go client under an `out` rule reaches the (converted) Go server's socket and
#      sees 127.0.0.1 names on both ends.
#  (c) `-r 'in,reject'`: the server fails to listen with "permission denied", no port opens.
#  (d) a setting the seccomp backend cannot carry out (socketbox-preload's SKBOX_*) refuses to
#      start, in one line.
#  (e) a Go UDP echo under a `udp` rule.
#  (f) hybrid vsock: a Go client and busybox nc reach a (fake) VMM's guest port.
. "$(dirname "$0")/lib.sh"
need curl go gcc ss socat
need_artifacts
BIN=$REPO_ROOT/target/seccomp-progs
"$TS_DIR/progs/seccomp/build.sh" "$BIN" || fail "building the test programs failed"

serve() { # NAME FLAVOUR SIGNAL
    local name=$1 flavour=$2 sig=$3 P S
    P=$(free_port) || exit 1
    S=$T/$name.sock
    bg "$name" "$SOCKSWAP_BIN" run --log info -r "in,tcp,port=$P,path=$S" -- "$BIN/http_server_$flavour" "127.0.0.1:$P"
    local SRV=$BG_PID
    wait_unix_listening "$S" 15 "$SRV"
    assert_unix_socket "$S"
    assert_tcp_not_listening "$P"
    assert_contains "$T/$name.err" "is a Go program: backend seccomp" "$name: auto picks seccomp and says so"
    assert_contains "$T/$name.out" "listening on 127.0.0.1:$P" "$name: the listener reports its TCP address"
    local body
    body=$(timeout 10 curl -sS --unix-socket "$S" http://x/) || fail "$name: curl --unix-socket failed"
    case $body in
        "remote=127.0.0.1:"*" local=127.0.0.1:$P") pass "$name: answered over the Unix socket: $body" ;;
        *) fail "$name: expected a 127.0.0.1 client and local 127.0.0.1:$P, got [$body]" ;;
    esac
    local port=${body#remote=127.0.0.1:}; port=${port%% *}
    [ "$port" -ge 32768 ] && [ "$port" -le 60999 ] || fail "$name: client port $port outside 32768-60999"
    kill "-$sig" "$SRV"
    wait_exit "$SRV" 10 || fail "$name: did not exit on SIG$sig"
    assert_eq 0 "$WAIT_RC" "$name: exit status passed through"
    assert_contains "$T/$name.out" "got signal" "$name: SIG$sig reached the program"
    [ -e "$S" ] && fail "$name: socket file left behind"
    pass "$name: SIG$sig delivered, status 0, socket file removed"
}
serve static static TERM
serve cgo cgo INT

# (b) client -> converted server
P=$(free_port) || exit 1
P2=$(free_port) || exit 1
S=$T/pair.sock
bg pairsrv "$SOCKSWAP_BIN" run -r "in,tcp,port=$P,path=$S" -- "$BIN/http_server_static" "127.0.0.1:$P"
wait_unix_listening "$S" 15 "$BG_PID"
out=$(timeout 20 "$SOCKSWAP_BIN" run -r "out,addr=127.0.0.1,port=$P2,path=$S" -- "$BIN/http_client_static" "http://127.0.0.1:$P2/") ||
    fail "Go client under an out rule failed: $out"
case $out in
    "status=200 local=127.0.0.1:"*" remote=127.0.0.1:$P2"*"remote=127.0.0.1:"*" local=127.0.0.1:$P"*) pass "Go client reached the Unix socket: $(echo $out)" ;;
    *) fail "unexpected client output [$out]" ;;
esac
assert_tcp_not_listening "$P"

# (c) reject
P=$(free_port) || exit 1
rc=0
timeout 20 "$SOCKSWAP_BIN" run -r 'in,reject' -- "$BIN/http_server_static" "127.0.0.1:$P" >"$T/rej.out" 2>"$T/rej.err" || rc=$?
assert_eq 3 "$rc" "rejected server exits with its listen failure"
assert_contains "$T/rej.err" "bind: permission denied" "in,reject: bind fails with EACCES"
assert_tcp_not_listening "$P"

# (d) unsupported under seccomp: refused in one line, the program never runs
rc=0
SKBOX_BLOCK_LISTEN_EMPTY_ADDR=1 timeout 20 "$SOCKSWAP_BIN" run -r "in,tcp,port=1,path=$T/uns.sock" -- "$BIN/http_server_static" 127.0.0.1:1 >"$T/uns.out" 2>"$T/uns.err" || rc=$?
assert_eq 2 "$rc" "unsupported rule under seccomp: exit 2"
assert_eq 1 "$(wc -l <"$T/uns.err")" "one line"
assert_contains "$T/uns.err" "not supported by the seccomp backend" "says why"
[ -s "$T/uns.out" ] && fail "the program ran"
pass "unsupported rule refused"

# (e) a Go UDP echo under a `udp` rule: a native Unix datagram client is answered, and the
#     server saw an IP sender (61000+: the synthetic address that routes its reply back); a
#     dynamically linked client forced onto the seccomp backend reaches it through an out rule
#     and sees the reply come from the address it sent to.
P=$(free_port) || exit 1
S=$T/udp.sock
bg udpsrv "$SOCKSWAP_BIN" run -r "udp,port=$P,path=$S" -- "$BIN/udp_echo_static" "127.0.0.1:$P"
wait_grep "$T/udpsrv.out" "listening on 127.0.0.1:$P" 15 "$BG_PID"
assert_unix_socket "$S"
out=$(timeout 10 "$PYTHON" -c "
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind(sys.argv[2]); s.settimeout(5)
for m in (b'one', b'two'):
    s.sendto(m, sys.argv[1]); d, a = s.recvfrom(200); print(d.decode(), a)
" "$S" "$T/ucli.sock") || fail "native datagram client got no echo"
case $out in
    "echo one from 127.0.0.1:610"*" $S"*"echo two from 127.0.0.1:610"*) pass "Go UDP echo answered a Unix sender seen as an IP: $(echo $out)" ;;
    *) fail "udp echo output [$out]" ;;
esac
out=$(printf 'three' | timeout 10 "$SOCKSWAP_BIN" run --backend seccomp -r "udp,port=$P,path=$S" -- socat -T 3 - "UDP4-DATAGRAM:127.0.0.1:$P") ||
    fail "socat under the seccomp backend got no echo: $out"
case $out in
    "echo three from 127.0.0.1:"*) pass "converted UDP client reached the converted Go server: $out" ;;
    *) fail "socat output [$out]" ;;
esac

# (f) hybrid vsock (Firecracker's VMM socket): a static Go client's non-blocking connect is
#     answered after the CONNECT/OK handshake and the guest's bytes follow; a guest port nobody
#     listens on (the VMM closes) is "connection refused"; busybox's blocking connect too.
V=$T/vmm.sock
cat >"$T/vmm.py" <<'PY'
import socket, sys, threading
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); srv.bind(sys.argv[1]); srv.listen(8)
def serve(c):
    f = c.makefile('rb')
    line = f.readline()
    if line != b'CONNECT 5000\n':
        print('refused', line, flush=True); c.close(); return
    c.sendall(b'OK 1073741824\n')
    req = b''
    while b'\r\n\r\n' not in req and b'\n' not in req[-1:]:
        b = f.readline()
        if not b: break
        req += b
        if b in (b'\r\n', b'\n'): break
    body = b'hello from guest port 5000\n'
    if req.startswith(b'GET'):
        c.sendall(b'HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n' % len(body) + body)
    else:
        c.sendall(body)
    c.close()
while True:
    c, _ = srv.accept(); threading.Thread(target=serve, args=(c,)).start()
PY
bg vmm "$PYTHON" "$T/vmm.py" "$V"
wait_unix_listening "$V" 15 "$BG_PID"
P=$(free_port) || exit 1
out=$(timeout 20 "$SOCKSWAP_BIN" run --log debug -r "out,port=$P,hybrid-vsock=$V:5000" -- "$BIN/http_client_static" "http://127.0.0.1:$P/" 2>"$T/hyb.err") ||
    fail "Go client through hybrid vsock failed: $out $(tail -3 "$T/hyb.err")"
case $out in
    "status=200 local=127.0.0.1:"*" remote=127.0.0.1:$P"*"hello from guest port 5000") pass "Go client through hybrid vsock: $(echo $out)" ;;
    *) fail "hybrid vsock client output [$out]" ;;
esac
assert_contains "$T/hyb.err" "connect 127.0.0.1:$P -> hybrid vsock $V port 5000" "the supervisor did the handshake"
rc=0
timeout 20 "$SOCKSWAP_BIN" run -r "out,port=$P,hybrid-vsock=$V:5001" -- "$BIN/http_client_static" "http://127.0.0.1:$P/" >"$T/hyb2.out" 2>&1 || rc=$?
assert_eq 3 "$rc" "refused guest port: the client's GET fails"
assert_contains "$T/hyb2.out" "connection refused" "as a refused TCP connection"
assert_contains "$T/vmm.out" "refused b'CONNECT 5001" "the VMM was asked for port 5001"
out=$(echo hi | timeout 20 "$SOCKSWAP_BIN" run -r "out,port=$P,hybrid-vsock=$V:5000" -- "$(command -v busybox)" nc 127.0.0.1 "$P") ||
    fail "busybox nc through hybrid vsock failed: $out"
assert_eq "hello from guest port 5000" "$out" "busybox's blocking connect through hybrid vsock"
# ... and a VMM that never answers: the program's SO_SNDTIMEO bounds the handshake (ETIMEDOUT)
Q=$T/silent.sock
bg silent "$PYTHON" -c "
import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(8); print('up', flush=True); time.sleep(60)" "$Q"
wait_unix_listening "$Q" 15 "$BG_PID"
out=$(timeout 20 "$SOCKSWAP_BIN" run --backend seccomp -r "out,port=$P,hybrid-vsock=$Q:5000" -- "$PYTHON" -c "
import socket, struct, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack('ll', 1, 0))
t = time.monotonic()
try:
    s.connect(('127.0.0.1', int(sys.argv[1]))); print('connected')
except OSError as e:
    print(e.errno == 110 and 'ETIMEDOUT' or e, round(time.monotonic() - t))
" "$P" 2>&1)
assert_eq "ETIMEDOUT 1" "$out" "a silent VMM: connect fails with ETIMEDOUT after the program's SO_SNDTIMEO"
