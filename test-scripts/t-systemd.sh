#!/usr/bin/env bash
# systemd socket activation (rule action `systemd` / `systemd=NAME`) with real programs under a
# real systemd-socket-activate (it execs the program in place at the first connection, passing
# only LISTEN_* and the -E variables):
#  (a) a python daemon that first closes fds 3..1023 (os.closerange) binds 127.0.0.1:P over
#      AF_INET and gets the passed Unix socket: getsockname 127.0.0.1:P, SOCK_STREAM, AF_INET,
#      listening; native clients are served and reported as 127.0.0.1 peers; no TCP port P.
#  (b) two passed sockets, --fdname=other:web: the rule `systemd=web` gets web.sock.
#  (c) -d: a python UDP daemon gets the passed Unix datagram socket; native AF_UNIX datagram
#      clients get their answers; senders are reported as 127.0.0.1:61000-65095.
#  (d) a real TCP socket (-l 127.0.0.1:Q) stays real: getsockname is 127.0.0.1:Q.
#  (e) `python -m http.server --bind 127.0.0.1 P` activated on a Unix socket, fetched with
#      `curl --unix-socket`.
#  (f) no systemd: the same rule, started by hand: bind fails with EADDRNOTAVAIL (errno 99), one
#      log line says why, and the program carries on.
. "$(dirname "$0")/lib.sh"
need systemd-socket-activate curl ss
need_artifacts

D=$PROGS/py_sd_server.py
activate() { # NAME RULES SA-ARGS... -- PROGRAM...
    local name=$1 rules=$2
    shift 2
    local sa=()
    while [ "$1" != -- ]; do sa+=("$1"); shift; done
    shift
    bg "$name" systemd-socket-activate "${sa[@]}" -E "LD_PRELOAD=$SOCKSWAP_LIB" -E "SOCKSWAP_RULES=$rules" "$@"
}
wait_socket_file() { # PATH PID
    _wait_until 10 "$2" test -S "$1"
    _wait_report $? "waiting for the socket file $1" "$2"
}
ask() { # PATH TEXT: native stream client, prints the answer
    printf '%s' "$2" | timeout 10 "$PYTHON" "$HELPERS/uclient.py" "$1"
}
nl='
'

# (a)
P=$(free_port)
S=$T/a.sock
activate sda "in,tcp,addr=127.0.0.1,port=$P,systemd" -l "$S" -- "$PYTHON" -u "$D" tcp 127.0.0.1 "$P" 2 closeall
PID=$BG_PID
wait_socket_file "$S" "$PID"
assert_eq "port=$P${nl}hello activated" "$(ask "$S" "hello activated")" "(a) first client served by the activated daemon"
assert_eq "port=$P${nl}again" "$(ask "$S" again)" "(a) second client served"
F=$T/sda.out
wait_grep "$F" '^done=1' 10 "$PID"
assert_kv "$F" listen_fds 1
assert_kv "$F" sockname "127.0.0.1:$P"
assert_kv "$F" so_type 1
assert_kv "$F" so_domain 2
assert_kv "$F" so_acceptconn 1
for peer in $(sed -n 's/^peer=//p' "$F"); do
    in_peer_range "$peer" 127.0.0.1 || fail "(a) accepted peer reported as [$peer]"
done
pass "(a) accepted peers reported as 127.0.0.1:32768-60999"
assert_tcp_not_listening "$P"
wait_exit "$PID" 10 || fail "(a) daemon did not exit"
assert_eq 0 "$WAIT_RC" "(a) daemon exit status"

# (b)
P=$(free_port)
activate sdb "in,tcp,addr=127.0.0.1,port=$P,systemd=web" -l "$T/other.sock" -l "$T/web.sock" --fdname=other:web \
    -- "$PYTHON" -u "$D" tcp 127.0.0.1 "$P" 1
PID=$BG_PID
wait_socket_file "$T/web.sock" "$PID"
wait_socket_file "$T/other.sock" "$PID"
assert_eq "port=$P${nl}named" "$(ask "$T/web.sock" named)" "(b) systemd=web got the socket named web"
wait_exit "$PID" 10 || fail "(b) daemon did not exit (it was not given web.sock?)"
assert_eq 0 "$WAIT_RC" "(b) daemon exit status"

# (c)
P=$(free_port)
S=$T/dg.sock
activate sdc "in,udp,addr=127.0.0.1,port=$P,systemd" -d -l "$S" -- "$PYTHON" -u "$D" udp 127.0.0.1 "$P" 2
PID=$BG_PID
wait_socket_file "$S" "$PID"
timeout 20 "$PYTHON" "$HELPERS/udgram_clients.py" "$S" "$T/c1.sock" "$T/c2.sock" >"$T/dgc.out" 2>&1 ||
    fail "(c) native datagram clients: $(cat "$T/dgc.out")"
assert_kv "$T/dgc.out" reply0 "DATAGRAM 0"
assert_kv "$T/dgc.out" reply1 "DATAGRAM 1"
F=$T/sdc.out
wait_grep "$F" '^done=1' 10 "$PID"
assert_kv "$F" sockname "127.0.0.1:$P"
assert_kv "$F" so_type 2
assert_kv "$F" so_domain 2
for peer in $(sed -n 's/^peer=//p' "$F"); do
    p=${peer##*:}
    [ "${peer%:*}" = 127.0.0.1 ] && [ "$p" -ge 61000 ] && [ "$p" -le 65095 ] ||
        fail "(c) datagram sender reported as [$peer]"
done
pass "(c) datagram senders reported as 127.0.0.1:61000-65095"

# (d)
P=$(free_port)
Q=$(free_port)
activate sdd "in,tcp,port=$P,systemd" -l "127.0.0.1:$Q" -- "$PYTHON" -u "$D" tcp 0.0.0.0 "$P" 1
PID=$BG_PID
wait_tcp_connectable "$Q" 10 "$PID" # (this first connection is the one that starts the daemon)
F=$T/sdd.out
wait_grep "$F" '^sockname=' 10 "$PID"
assert_kv "$F" sockname "127.0.0.1:$Q"
assert_kv "$F" so_domain 2
wait_exit "$PID" 10 || fail "(d) daemon did not exit"
assert_eq 0 "$WAIT_RC" "(d) daemon exit status"

# (e)
P=$(free_port)
S=$T/http.sock
mkdir -p "$T/www"
randfile "$T/www/blob" 200000
activate sde "in,tcp,addr=127.0.0.1,port=$P,systemd" -l "$S" -- \
    "$PYTHON" -m http.server --bind 127.0.0.1 --directory "$T/www" "$P"
PID=$BG_PID
wait_socket_file "$S" "$PID"
timeout 20 curl -sS --unix-socket "$S" -o "$T/blob.got" "http://localhost/blob" || fail "(e) curl over the activated socket failed"
assert_eq "$(sha "$T/www/blob")" "$(sha "$T/blob.got")" "(e) http.server activated on a Unix socket served a 200 kB file"
timeout 20 curl -sS --unix-socket "$S" -o /dev/null "http://localhost/blob" || fail "(e) second request failed"
pass "(e) second request served"
assert_tcp_not_listening "$P"

# (f)
P=$(free_port)
env -u LISTEN_PID -u LISTEN_FDS -u LISTEN_FDNAMES "${PRE[@]}" SOCKSWAP_RULES="in,tcp,addr=127.0.0.1,port=$P,systemd" \
    timeout 20 "$PYTHON" -u "$D" tcp 127.0.0.1 "$P" 1 >"$T/f.out" 2>"$T/f.err" || fail "(f) program failed: $(cat "$T/f.err")"
assert_kv "$T/f.out" bind_errno 99
case $(kv "$T/f.out" fallback) in 127.0.0.1:[1-9]*) pass "(f) the program carried on (fallback bind)" ;;
    *) fail "(f) no fallback bind: $(cat "$T/f.out")" ;; esac
assert_contains "$T/f.err" "127.0.0.1:$P" "(f) the log line names the address"
assert_contains "$T/f.err" "systemd" "(f) the log line names systemd"
assert_eq 1 "$(grep -c . "$T/f.err")" "(f) exactly one log line"
