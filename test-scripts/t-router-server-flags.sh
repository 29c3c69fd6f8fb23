#!/usr/bin/env bash
# socketbox's server flags -e (run a program with the socket in SKBOX_LISTEN_FD: bound and not
# yet listening, or the registered B connection with -P; privileges dropped first), -d
# (daemonize after binding: the command returns, the daemon serves) and -z (clear
# IPV6_TRANSPARENT on each accepted socket: 1 without it, 0 with it, on the same listener kind).
. "$(dirname "$0")/lib.sh"
. "$TS_DIR/router/lib.sh"
need_router
need ss

# -e with -l/-p and -u: the program gets the bound socket, as the dropped user.
SYSPY=/usr/bin/python3 # runnable by uid 65534 (a pyenv interpreter may live under /root)
need "$SYSPY"
chmod 755 "$T"; cp "$RH/exec_prog.py" "$T/exec_prog.py"; chmod 644 "$T/exec_prog.py"
P=$(free_port)
bg ex "$SOCKETBOX" -l 127.0.0.1 -p "$P" -u 65534 -e "$SYSPY" -u "$T/exec_prog.py" tcp
wait_grep "$T/ex.out" '^uid=' 10 "$BG_PID"
grep -qx "uid=65534 accepting=0 port=$P" "$T/ex.out" || fail "-e socket: $(cat "$T/ex.out")"
_wait_until 10 "$BG_PID" _tcp_listening "$P"; _wait_report $? "the -e program's listen" "$BG_PID"
out=$("$PYTHON" "$RH/clients.py" 127.0.0.1 "$P" 1)
echo "$out" | grep -qx 'exec tcp' || fail "-e program serving: $out"
pass "-e PROGRAM: SKBOX_LISTEN_FD is the bound, not listening socket; -u applied before exec; it serves"

# -e with -P: the registered B connection.
P=$(free_port)
cat >"$T/b.json" <<CONF
{"socketbox-version": 1, "daemon": {}, "incoming": [{"address": "::ffff:127.0.0.1", "port": $P}],
 "outgoing": [{"uid": 0, "path_nr": 0}], "paths": [{"socket": "$T/api"}],
 "rules": {"_start": {"type": "rule", "rules": [{"jump": "o:0"}]}}}
CONF
start_router rb -f "$T/b.json"
bg exb "$SOCKETBOX" -P "0:$T/api" -e "$PYTHON" -u "$RH/exec_prog.py" b
wait_grep "$T/exb.out" '^uid=' 10 "$BG_PID"
grep -qx "uid=0 type=5" "$T/exb.out" || fail "-e -P socket: $(cat "$T/exb.out")"
out=$("$PYTHON" "$RH/clients.py" 127.0.0.1 "$P" 1)
echo "$out" | grep -qx 'exec b' || fail "-e -P serving: $out"
pass "-P NR:PATH -e PROGRAM: SKBOX_LISTEN_FD is the registered SOCK_SEQPACKET B connection"
stop_bg "$ROUTER_PID"
"$SOCKETBOX" -p 1 -e 2>"$T/e.err" && fail "-e without a program succeeded"
grep -q -- '-e: no program given' "$T/e.err" || fail "-e without a program: $(cat "$T/e.err")"
pass "-e without a program is refused with a one-line error"

# -d: the command returns 0 at once; the daemon (own session) serves.
P=$(free_port)
start_a recv "$T/a.sock" daemonized
timeout 10 "$SOCKETBOX" -d -l 127.0.0.1 -p "$P" -S "$T/a.sock" >"$T/d.out" 2>"$T/d.err"
rc=$?
[ "$rc" = 0 ] || fail "socketbox -d exited $rc: $(cat "$T/d.err")"
wait_grep "$T/d.err" 'event=ready' 10
DPID=$(ss -ltnpH "( sport = :$P )" | sed -n 's/.*pid=\([0-9]*\),.*/\1/p' | head -1)
[ -n "$DPID" ] || fail "no daemon listening on $P"
BG_PIDS+=("$DPID"); BG_NAMES+=(daemon)
[ "$(awk '{print $6}' "/proc/$DPID/stat")" = "$DPID" ] || fail "the daemon is not a session leader"
[ "$(readlink "/proc/$DPID/cwd")" = / ] || fail "the daemon's cwd is $(readlink "/proc/$DPID/cwd")"
out=$("$PYTHON" "$RH/clients.py" 127.0.0.1 "$P" 2)
[ "$(echo "$out" | grep -c '^daemonized ')" = 2 ] || fail "-d serving: $out"
pass "-d: returns 0, the daemon leads its own session in /, logs to the same stderr, serves"
kill "$DPID"; wait_grep "$T/d.err" 'event=stop' 10

# -z: IPV6_TRANSPARENT on the delivered socket, from a transparent (-t) listener.
cat >"$T/tp.py" <<'PY'
import array, os, socket, sys
path = sys.argv[1]
if os.path.exists(path): os.unlink(path)
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind(path)
print("ready", flush=True)
while True:
    fds = array.array("i")
    _, anc, _, _ = s.recvmsg(4, socket.CMSG_SPACE(4 * fds.itemsize))
    for _l, _t, d in anc:
        fds.frombytes(d[: len(d) - len(d) % fds.itemsize])
    c = socket.socket(fileno=fds[0])
    c.recv(100)
    c.sendall(b"transparent=%d\n" % c.getsockopt(socket.IPPROTO_IPV6, 75))
    c.close()
PY
for z in "" -z; do
    P=$(free_port)
    bg "tp$z" "$PYTHON" -u "$T/tp.py" "$T/tp$z.sock"
    wait_grep "$T/tp$z.out" '^ready' 10 "$BG_PID"
    start_router "rz$z" -t $z -l 127.0.0.1 -p "$P" -S "$T/tp$z.sock"
    got=$("$PYTHON" "$RH/clients.py" 127.0.0.1 "$P" 1 | grep "^transparent=")
    want=transparent=1; [ -n "$z" ] && want=transparent=0
    [ "$got" = "$want" ] || fail "socketbox -t $z: $got, want $want"
    stop_bg "$ROUTER_PID"
done
pass "-z: the delivered socket's IPV6_TRANSPARENT is 1 from a -t listener, 0 with -z"
