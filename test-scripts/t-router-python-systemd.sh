#!/usr/bin/env bash
# python-socketbox's config.json (paths, outgoing slots, incoming IPv6 sockets, rules from
# _start) runs the router with a B client; systemd socket activation (LISTEN_FDS, via
# systemd-socket-activate) and sd_notify readiness (READY=1 on NOTIFY_SOCKET); an inherited
# listening fd (-s).
. "$(dirname "$0")/lib.sh"
. "$TS_DIR/router/lib.sh"
need_router
need systemd-socket-activate

P=$(free_port)
cat >"$T/sb.json" <<CONF
{
  "socketbox-version": 1,
  "daemon": {},
  "paths": [ {"socket": "$T/api0", "mode": "0600"} ],
  "outgoing": [ {"uid": 0, "path_nr": 0}, {"uid": 0, "path_nr": 0}, {"uid": 0, "path_nr": 0}, {"uid": 0, "path_nr": 0} ],
  "incoming": [ {"address": "::1", "port": $P} ],
  "rules": {
    "_start": {"type": "rule", "rules": [ {"l_ip": "::1", "l_port": $P, "jump": "r:bylocal"} ]},
    "bylocal": {"type": "map", "mask": {"l_ip": "::"}, "rules": [ {"l_ip": "::1", "jump": "o:3"} ]}
  }
}
CONF
"$SOCKETBOX" check -f "$T/sb.json" >"$T/check.out" 2>&1 || fail "check: $(cat "$T/check.out")"
pass "python-socketbox JSON config accepted"
bg notify "$PYTHON" -u "$RH/notify_sock.py" "$T/notify"
wait_grep "$T/notify.out" '^ready' 10 "$BG_PID"
bg router env NOTIFY_SOCKET="$T/notify" "$SOCKETBOX" -f "$T/sb.json"
ROUTER_PID=$BG_PID
wait_grep "$T/notify.out" '^READY=1' 10 "$ROUTER_PID"
pass "sd_notify READY=1 received"
bg b3 "$PYTHON" -u "$RH/b_recv.py" "$T/api0" 3 three
wait_grep "$T/b3.out" '^registered' 10 "$BG_PID"
out=$("$PYTHON" "$RH/clients.py" ::1 "$P" 2)
[ "$(echo "$out" | grep -c "^three local=::1:$P peer=::1:")" = 2 ] || fail "JSON config routing: $out"
pass "JSON-configured router delivers [::1]:$P to slot 3 over B"
stop_bg "$ROUTER_PID"
wait_grep "$T/notify.out" '^STOPPING=1' 5; pass "STOPPING=1 on shutdown"

# systemd socket activation
P2=$(free_port)
start_a act "$T/act.sock" activated
bg sa systemd-socket-activate -l "127.0.0.1:$P2" "$SOCKETBOX" --listen systemd -S "$T/act.sock"
wait_tcp_connectable "$P2" 10 "$BG_PID"
out=$("$PYTHON" "$RH/clients.py" 127.0.0.1 "$P2" 2)
[ "$(echo "$out" | grep -c "^activated local=127.0.0.1:$P2 peer=127.0.0.1:")" = 2 ] || fail "socket activation: $out"
pass "systemd socket activation (LISTEN_FDS): 2 connections delivered"
wait_grep "$T/sa.err" 'listener=systemd-fd:3' 5
pass "the router took fd 3 from LISTEN_FDS"

# an inherited listening socket: -s FD
P3=$(free_port)
bg inh "$PYTHON" -c '
import os, socket, sys
s = socket.create_server(("127.0.0.1", int(sys.argv[1])))
os.set_inheritable(s.fileno(), True)
os.dup2(s.fileno(), 7)
os.execv(sys.argv[2], [sys.argv[2], "-s", "7", "-S", sys.argv[3]])' "$P3" "$SOCKETBOX" "$T/act.sock"
wait_grep "$T/inh.err" 'event=ready' 10 "$BG_PID"
out=$("$PYTHON" "$RH/clients.py" 127.0.0.1 "$P3" 1)
echo "$out" | grep -q "^activated local=127.0.0.1:$P3" || fail "-s 7: $out"
pass "-s FD: an inherited listening socket is used"
