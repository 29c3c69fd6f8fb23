#!/usr/bin/env bash
# socketbox's receiving-side programs with their original command lines, run through links of
# their original names (as `make install` makes): socketbox-inetd (A) and socketbox-inetd-p (B)
# spawning `cat`, each with a child limit that holds; socketbox-relay to TCP (with a PROXY
# header, -i) and to a Unix socket (-u), from an A socket (-s) and from a listening fd (-l);
# send-receive-fd -s / -r round trip; socket-query's formats against the client's own view.
. "$(dirname "$0")/lib.sh"
. "$TS_DIR/router/lib.sh"
need_router
need socat

B=$T/bin; mkdir -p "$B"
for n in socketbox-inetd socketbox-inetd-p socketbox-relay send-receive-fd socket-query; do
    ln -s "$SOCKETBOX" "$B/$n"
done
export PATH="$B:$PATH"

# socketbox-inetd SOCKET PROGRAM: the original command line (no options).
P=$(free_port)
bg inetd socketbox-inetd "$T/inetd.sock" cat
wait_socket "$T/inetd.sock" 10 "$BG_PID"
start_router r1 -l 127.0.0.1 -p "$P" -S "$T/inetd.sock"
out=$("$PYTHON" "$RH/clients.py" 127.0.0.1 "$P" 3)
[ "$(echo "$out" | grep -c '^hello$')" = 3 ] || fail "socketbox-inetd cat: $out"
[ "$(stat -c %a "$T/inetd.sock")" = 660 ] || fail "A socket mode $(stat -c %a "$T/inetd.sock"), want 660"
pass "socketbox-inetd SOCKET cat: 3 connections echoed by cat on stdin/stdout; the A socket has mode 0660"
stop_bg "$ROUTER_PID"

# --max-children: the 3rd and 4th connection wait (in the A socket's queue) until a child ends.
P=$(free_port)
bg inetd2 socketbox-inetd --max-children 2 "$T/inetd2.sock" cat
INETD=$BG_PID
wait_socket "$T/inetd2.sock" 10 "$INETD"
start_router r2 -l 127.0.0.1 -p "$P" -S "$T/inetd2.sock" --workers 1  # one worker: delivered in connection order, as hold.py expects
out=$("$PYTHON" "$RH/hold.py" 127.0.0.1 "$P" 4 2 "$INETD")
[ "${out%% *}" = ok ] || fail "socketbox-inetd child limit: $out"
pass "socketbox-inetd --max-children 2: at most 2 cat at once, the others wait and are served ($out)"
stop_bg "$ROUTER_PID"

# socketbox-inetd-p SOCKET SLOT PROGRAM, a B client of the router (slot as strtoul reads: 0x1).
P=$(free_port)
cat >"$T/b.json" <<CONF
{"socketbox-version": 1, "daemon": {}, "incoming": [{"address": "::ffff:127.0.0.1", "port": $P}],
 "outgoing": [{"uid": 0, "path_nr": 0}, {"uid": 0, "path_nr": 0}], "paths": [{"socket": "$T/api"}],
 "rules": {"_start": {"type": "rule", "rules": [{"jump": "o:1"}]}}}
CONF
start_router r3 -f "$T/b.json" --workers 1  # connection order, as hold.py expects
ROUTER_B=$ROUTER_PID
bg inetdp socketbox-inetd-p --max-children 1 "$T/api" 0x1 cat
INETDP=$BG_PID
wait_grep "$T/r3.err" 'event=b-register' 10 "$INETDP"
out=$("$PYTHON" "$RH/hold.py" 127.0.0.1 "$P" 2 1 "$INETDP")
[ "${out%% *}" = ok ] || fail "socketbox-inetd-p child limit: $out"
pass "socketbox-inetd-p SOCKET 0x1 cat (slot 1) with --max-children 1: limit holds ($out)"
stop_bg "$ROUTER_B"
wait_exit "$INETDP" 10 || fail "socketbox-inetd-p did not exit when the router went away"
[ "$WAIT_RC" = 0 ] || fail "socketbox-inetd-p exit status $WAIT_RC after the router closed, want 0"
pass "socketbox-inetd-p exits 0 when the router closes the connection"

# socketbox-relay -s PATH -c ADDR -p PORT -i: relay to TCP with a PROXY v1 header.
PB=$(free_port); P=$(free_port)
bg backend "$PYTHON" -u "$RH/proxy_echo.py" 127.0.0.1 "$PB"
wait_grep "$T/backend.out" '^ready' 10 "$BG_PID"
bg relay socketbox-relay -s "$T/relay.sock" -c ::ffff:127.0.0.1 -p "$PB" -i
wait_socket "$T/relay.sock" 10 "$BG_PID"
start_router r4 -l 127.0.0.1 -p "$P" -S "$T/relay.sock"
out=$("$PYTHON" - 127.0.0.1 "$P" <<'PY'
import socket, sys
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
f = c.makefile("rb")
print(f.readline().decode().strip())
c.sendall(b"hello\n")
print(f.readline().decode().strip())
print("client port %d" % c.getsockname()[1])
PY
)
cport=$(echo "$out" | sed -n 's/^client port //p')
echo "$out" | grep -qx "from-backend PROXY TCP6 ::ffff:127.0.0.1 ::ffff:127.0.0.1 $cport $P" || fail "relay PROXY header: $out"
echo "$out" | grep -qx "from-backend hello" || fail "relay data: $out"
grep -q "\[::ffff:127.0.0.1\]:$cport -> \[::ffff:127.0.0.1\]:$P" "$T/relay.err" || fail "relay log line: $(cat "$T/relay.err")"
pass "socketbox-relay -s SOCK -c ADDR -p PORT -i: PROXY v1 header with the real client, data both ways, logged"
stop_bg "$ROUTER_PID"

# socketbox-relay -u PATH, connections from a listening socket on fd 0 (-l 0, the default).
P=$(free_port)
bg ubackend "$PYTHON" -u "$RH/proxy_echo.py" "unix:$T/backend.sock"
wait_grep "$T/ubackend.out" '^ready' 10 "$BG_PID"
bg urelay "$PYTHON" -c '
import os, socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("::1", int(sys.argv[1])))
os.dup2(s.fileno(), 0)
os.execvp("socketbox-relay", ["socketbox-relay", "-u", sys.argv[2]])' "$P" "$T/backend.sock"
_wait_until 10 "$BG_PID" _tcp_listening "$P"; _wait_report $? "waiting for the relay's listener" "$BG_PID"
out=$("$PYTHON" "$RH/clients.py" ::1 "$P" 2)
[ "$(echo "$out" | grep -c '^from-backend hello$')" = 2 ] || fail "relay to Unix: $out"
pass "socketbox-relay -u PATH (listening socket on fd 0): 2 connections relayed to a Unix socket"

# send-receive-fd -s FD_TO_SEND SOCKFD, then -r SOCKFD PROGRAM: a pipe's read end goes across.
out=$("$PYTHON" - <<'PY'
import os, socket, subprocess
a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
r, w = os.pipe()
os.write(w, b"across the socket\n"); os.close(w)
os.dup2(r, 5); os.dup2(a.fileno(), 6); os.dup2(b.fileno(), 7)
rc = subprocess.run(["send-receive-fd", "-s", "5", "6"], pass_fds=(5, 6)).returncode
print("send rc=%d" % rc)
os.close(5)
p = subprocess.run(["send-receive-fd", "-r", "7", "sh", "-c", 'echo "fd=$SKBOX_RECEIVED_FD"; cat <&"$SKBOX_RECEIVED_FD"'],
                   pass_fds=(7,), capture_output=True, text=True)
print("receive rc=%d" % p.returncode); print(p.stdout.strip()); print(p.stderr.strip())
PY
)
echo "$out" | grep -qx 'send rc=0' && echo "$out" | grep -qx 'receive rc=0' || fail "send-receive-fd: $out"
echo "$out" | grep -qx 'across the socket' || fail "send-receive-fd data: $out"
echo "$out" | grep -q '^fd=[0-9]' || fail "SKBOX_RECEIVED_FD not set: $out"
pass "send-receive-fd -s 5 6 / -r 7 sh -c ...: the fd arrives, SKBOX_RECEIVED_FD names it"
socket-query -f 99 2>"$T/sq.err" && fail "socket-query on a closed fd succeeded"
grep -q 'EBADF' "$T/sq.err" || fail "socket-query error not in words: $(cat "$T/sq.err")"
send-receive-fd 2>/dev/null && fail "send-receive-fd without arguments succeeded"
pass "socket-query / send-receive-fd: usage errors fail with the errno named"

# socket-query as the inetd program (the socket on fd 0), subcommand form `socketbox inetd`.
P=$(free_port)
bg sq "$SOCKETBOX" inetd "$T/sq.sock" sh -c 'socket-query; socket-query -R; socket-query -la; socket-query -rp; socket-query -lpR'
wait_socket "$T/sq.sock" 10 "$BG_PID"
start_router r5 -l 127.0.0.1 -p "$P" -S "$T/sq.sock"
out=$("$PYTHON" - 127.0.0.1 "$P" <<'PY'
import socket, sys
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
got = c.makefile("rb").read().decode().split("\n")
lp, rp = int(sys.argv[2]), c.getsockname()[1]
mapped = "0000:0000:0000:0000:0000:ffff:7f00:0001"
want = ["[%s]:%d [%s]:%d" % (mapped, lp, mapped, rp),
        "00000000000000000000FFFF7F000001:%04X 00000000000000000000FFFF7F000001:%04X" % (lp, rp),
        mapped, str(rp), "%04X" % lp, ""]
print("ok" if got == want else "FAIL got %r want %r" % (got, want))
PY
)
[ "$out" = ok ] || fail "socket-query: $out"
pass "socket-query (both, -R, -la, -rp, -lpR) prints what the client sees, in socketbox's formats"
