#!/usr/bin/env bash
# systemd socket activation (`systemd` rules) under the seccomp backend, with a real
# systemd-socket-activate execing `sockswap run` (LISTEN_PID is the launcher's; the program is
# its child, so the supervisor keeps the passed sockets and installs one at the program's bind):
#  (a) a static Go HTTP server binds 127.0.0.1:P and gets the passed Unix socket: curl over it
#      is answered, the server reports its TCP address and a 127.0.0.1 client; no TCP port P.
#  (b) a python daemon forced onto the seccomp backend that first closes fds 3..1023: still
#      gets the socket (the supervisor holds it, not the program); names and options as TCP.
#  (c) two passed sockets, --fdname=other:web: the rule `systemd=web` gets web.sock.
#  (d) -d: a python UDP daemon gets the passed Unix datagram socket; native clients answered.
#  (e) a real TCP socket passed (-l 127.0.0.1:Q) stays real: getsockname 127.0.0.1:Q.
#  (f) no systemd: bind fails with EADDRNOTAVAIL, one log line says why, the program goes on.
#  (g) no systemd rule: a program using the passed socket itself sees LISTEN_PID name it.
#  (h) malformed LISTEN_* variables with a systemd rule: the program does not start (one line).
. "$(dirname "$0")/lib.sh"
need systemd-socket-activate curl go gcc
need_artifacts
BIN=$REPO_ROOT/target/seccomp-progs
"$TS_DIR/progs/seccomp/build.sh" "$BIN" || fail "building the test programs failed"
D=$PROGS/py_sd_server.py
nl='
'
activate() { # NAME RULE SA-ARGS... -- PROGRAM...
    local name=$1 rule=$2
    shift 2
    local sa=()
    while [ "$1" != -- ]; do sa+=("$1"); shift; done
    shift
    bg "$name" systemd-socket-activate "${sa[@]}" -- "$SOCKSWAP_BIN" run --backend seccomp -r "$rule" -- "$@"
}
ask() { # PATH TEXT
    printf '%s' "$2" | timeout 10 "$PYTHON" "$HELPERS/uclient.py" "$1"
}

# (a)
P=$(free_port)
S=$T/go.sock
activate goa "in,tcp,addr=127.0.0.1,port=$P,systemd" -l "$S" -- "$BIN/http_server_static" "127.0.0.1:$P"
PID=$BG_PID
wait_unix_listening "$S" 15 "$PID"
out=$(timeout 20 curl -sS --unix-socket "$S" http://localhost/) || fail "(a) curl over the activated socket failed"
case $out in
    *"remote=127.0.0.1:"*"local=127.0.0.1:$P"*) pass "(a) the Go server answered over the passed socket: $out" ;;
    *) fail "(a) answer [$out]" ;;
esac
wait_grep "$T/goa.out" "listening on 127.0.0.1:$P" 10 "$PID"
assert_tcp_not_listening "$P"
kill -TERM "$PID"
wait_exit "$PID" 10 || fail "(a) server did not exit"

# (b)
P=$(free_port)
S=$T/b.sock
activate sdb "in,tcp,addr=127.0.0.1,port=$P,systemd" -l "$S" -- "$PYTHON" -u "$D" tcp 127.0.0.1 "$P" 2 closeall
PID=$BG_PID
wait_unix_listening "$S" 15 "$PID"
assert_eq "port=$P${nl}hello activated" "$(ask "$S" "hello activated")" "(b) first client served"
assert_eq "port=$P${nl}again" "$(ask "$S" again)" "(b) second client served"
F=$T/sdb.out
wait_grep "$F" '^done=1' 10 "$PID"
assert_kv "$F" sockname "127.0.0.1:$P"
assert_kv "$F" so_type 1
assert_kv "$F" so_domain 2
assert_kv "$F" so_acceptconn 1
for peer in $(sed -n 's/^peer=//p' "$F"); do
    in_peer_range "$peer" 127.0.0.1 || fail "(b) accepted peer reported as [$peer]"
done
pass "(b) accepted peers reported as 127.0.0.1:32768-60999"
wait_exit "$PID" 10 || fail "(b) daemon did not exit"
assert_eq 0 "$WAIT_RC" "(b) daemon exit status"

# (c)
P=$(free_port)
activate sdc "in,tcp,addr=127.0.0.1,port=$P,systemd=web" -l "$T/other.sock" -l "$T/web.sock" --fdname=other:web \
    -- "$PYTHON" -u "$D" tcp 127.0.0.1 "$P" 1
PID=$BG_PID
wait_unix_listening "$T/web.sock" 15 "$PID"
assert_eq "port=$P${nl}named" "$(ask "$T/web.sock" named)" "(c) systemd=web got the socket named web"
wait_exit "$PID" 10 || fail "(c) daemon did not exit (it was not given web.sock?)"
assert_eq 0 "$WAIT_RC" "(c) daemon exit status"

# (d)
P=$(free_port)
S=$T/dg.sock
activate sdd "in,udp,addr=127.0.0.1,port=$P,systemd" -d -l "$S" -- "$PYTHON" -u "$D" udp 127.0.0.1 "$P" 2
PID=$BG_PID
_wait_until 10 "$PID" test -S "$S"
timeout 20 "$PYTHON" "$HELPERS/udgram_clients.py" "$S" "$T/c1.sock" "$T/c2.sock" >"$T/dgc.out" 2>&1 ||
    fail "(d) native datagram clients: $(cat "$T/dgc.out")"
assert_kv "$T/dgc.out" reply0 "DATAGRAM 0"
assert_kv "$T/dgc.out" reply1 "DATAGRAM 1"
F=$T/sdd.out
wait_grep "$F" '^done=1' 10 "$PID"
assert_kv "$F" sockname "127.0.0.1:$P"
assert_kv "$F" so_type 2

# (e)
P=$(free_port)
Q=$(free_port)
activate sde "in,tcp,port=$P,systemd" -l "127.0.0.1:$Q" -- "$PYTHON" -u "$D" tcp 0.0.0.0 "$P" 1
PID=$BG_PID
wait_tcp_connectable "$Q" 10 "$PID" # (this first connection is the one that starts the daemon)
F=$T/sde.out
wait_grep "$F" '^sockname=' 10 "$PID"
assert_kv "$F" sockname "127.0.0.1:$Q"
assert_kv "$F" so_domain 2
wait_exit "$PID" 10 || fail "(e) daemon did not exit"
assert_eq 0 "$WAIT_RC" "(e) daemon exit status"

# (f)
P=$(free_port)
env -u LISTEN_PID -u LISTEN_FDS -u LISTEN_FDNAMES timeout 20 "$SOCKSWAP_BIN" run --backend seccomp \
    -r "in,tcp,addr=127.0.0.1,port=$P,systemd" -- "$PYTHON" -u "$D" tcp 127.0.0.1 "$P" 1 >"$T/f.out" 2>"$T/f.err" ||
    fail "(f) program failed: $(cat "$T/f.err")"
assert_kv "$T/f.out" bind_errno 99
case $(kv "$T/f.out" fallback) in 127.0.0.1:[1-9]*) pass "(f) the program carried on (fallback bind)" ;;
    *) fail "(f) no fallback bind: $(cat "$T/f.out")" ;; esac
assert_contains "$T/f.err" "127.0.0.1:$P" "(f) the log line names the address"
assert_contains "$T/f.err" "systemd" "(f) the log line names systemd"
assert_eq 1 "$(grep -c . "$T/f.err")" "(f) exactly one log line"

# (g) no `systemd` rule: a program that takes the passed socket itself (sd_listen_fds) finds
#     LISTEN_PID naming it, although systemd-socket-activate started `sockswap run`.
S=$T/own.sock
P=$(free_port)
bg own systemd-socket-activate -l "$S" -- "$SOCKSWAP_BIN" run --backend seccomp -r "out,tcp,port=$P,path=$T/none.sock" -- "$PYTHON" -c '
import os, socket
assert os.environ["LISTEN_PID"] == str(os.getpid()), (os.environ["LISTEN_PID"], os.getpid())
s = socket.socket(fileno=3)
c, _ = s.accept()
c.recv(100)
c.sendall(b"mine pid=%s fds=%s\n" % (os.environ["LISTEN_PID"].encode(), os.environ["LISTEN_FDS"].encode()))
'
PID=$BG_PID
wait_unix_listening "$S" 15 "$PID"
out=$(ask "$S" x)
case $out in
    "mine pid="[1-9]*" fds=1") pass "(g) the program took the passed socket itself: $out" ;;
    *) fail "(g) answer [$out] $(cat "$T/own.err")" ;;
esac
wait_exit "$PID" 10 || fail "(g) program did not exit"
assert_eq 0 "$WAIT_RC" "(g) exit status"

# (h) malformed LISTEN_* variables meant for sockswap, with a systemd rule: the program does
#     not start, and one line says why.
rc=0
out=$(timeout 20 sh -c 'LISTEN_PID=$$ LISTEN_FDS=many exec "$@"' sh "$SOCKSWAP_BIN" run --backend seccomp \
    -r "in,tcp,port=1,systemd" -- "$PYTHON" -c 'print("ran")' 2>&1) || rc=$?
assert_eq 2 "$rc" "(h) malformed LISTEN_FDS: exit status 2"
assert_eq 1 "$(printf '%s\n' "$out" | grep -c .)" "(h) one line"
assert_contains <(printf '%s\n' "$out") "LISTEN_FDS" "(h) the line names LISTEN_FDS"
case $out in *ran*) fail "(h) the program ran" ;; esac
pass "(h) refused: $out"
