#!/usr/bin/env bash
# Supervised daemons (`[[daemon]]`): the router starts an unmodified `python3 -m http.server`
# under the shim with no socket path anywhere — its connections come over a socket pair passed
# as LISTEN_FDS, taken by the shim's `systemd=web` rule — and the server logs the real client
# address (127.0.0.9). The daemon runs as its own user. `kill -9` of the daemon twice while a
# client makes requests one after another: it is restarted each time (status: restarts=2), and
# every connection is answered except at most the one the killed process was serving when it
# died; the connections that arrived while it was down waited and were served. Stopping the
# router stops the daemon.
. "$(dirname "$0")/lib.sh"
. "$TS_DIR/router/lib.sh"
need_router
need /usr/bin/python3

P=$(free_port)
mkdir -p "$T/www" && echo "hello from the daemon" >"$T/www/index.html"
chmod 755 "$T" "$T/www"; chmod 644 "$T/www/index.html"
cat >"$T/sb.toml" <<CONF
status = "$T/status"
queue_timeout_ms = 20000
[[listen]]
address = "127.0.0.1:$P"
[[daemon]]
name = "web"
user = "nobody"
cwd = "$T/www"
env = { PYTHONUNBUFFERED = "1" }
argv = ["$SOCKSWAP_BIN", "run", "--lib", "$SOCKSWAP_LIB", "-r", "in,tcp,port=8080,systemd=web", "--",
        "/usr/bin/python3", "-m", "http.server", "8080", "--bind", "127.0.0.1"]
[[rule_set]]
id = 0
default = "daemon:web"
rules = []
CONF
"$SOCKETBOX" check -f "$T/sb.toml" >"$T/check.out" 2>&1 || fail "check: $(cat "$T/check.out")"
start_router router -f "$T/sb.toml"
wait_grep "$T/router.err" 'event=daemon-start daemon=web' 10 "$ROUTER_PID"

daemon_pid() { "$SOCKETBOX" status "$T/status" | sed -n 's/^daemon=web pid=\([0-9]*\) .*running=1.*/\1/p'; }
pid=$(daemon_pid)
[ -n "$pid" ] || fail "status shows no running daemon: $("$SOCKETBOX" status "$T/status")"
[ "$(stat -c %U "/proc/$pid")" = nobody ] || fail "the daemon runs as $(stat -c %U "/proc/$pid"), not nobody"
grep -q '^CapEff:\s*0*$' "/proc/$pid/status" || fail "the daemon has capabilities: $(grep Cap "/proc/$pid/status")"
pass "the daemon (pid $pid) runs as nobody without capabilities"
ls -l "/proc/$pid/fd/" | grep -q 'socket:' || fail "the daemon holds no socket"
socks=$(find "$T" -type s ! -name status)
[ -z "$socks" ] || fail "socket files exist: $socks"

out=$(curl -sS --max-time 10 --interface 127.0.0.9 "http://127.0.0.1:$P/index.html") || fail "curl through the router failed"
assert_eq "hello from the daemon" "$out" "a request reaches the daemon with no socket path anywhere"
wait_grep "$T/router.err" '^127\.0\.0\.9 - - .*"GET /index.html' 10 "$ROUTER_PID"
pass "the daemon logs the real client address 127.0.0.9"

bg load "$PYTHON" -u "$RH/seq_load.py" 127.0.0.1 "$P" 127.0.0.9 "$T/stop" "$T/progress" 400
LOAD=$BG_PID
progress() { cat "$T/progress" 2>/dev/null || echo 0; }
wait_progress() { # N: wait until N requests were answered
    local deadline=$(( $(now_ms) + 30000 ))
    while [ "$(progress)" -lt "$1" ]; do
        [ "$(now_ms)" -lt "$deadline" ] || fail "the load stalled at $(progress) answered requests"
        _is_running "$LOAD" || break
        sleep 0.05
    done
}
for kill_no in 1 2; do
    wait_progress $((kill_no * 60))
    pid=$(daemon_pid)
    [ -n "$pid" ] || fail "no running daemon before kill $kill_no"
    kill -9 "$pid"
    pass "kill -9 of the daemon (pid $pid) after $(progress) answered requests"
done
wait_exit "$LOAD" 60
summary=$(head -n 1 "$T/load.out")
ok=$(sed -n 's/^ok=\([0-9]*\) .*/\1/p' <<<"$summary"); failed=$(sed -n 's/.* failed=\([0-9]*\)/\1/p' <<<"$summary")
[ "$((ok + failed))" = 400 ] || fail "the load did not finish: $(cat "$T/load.out")"
[ "$failed" -le 2 ] || fail "more connections failed than were being served at the kills: $(cat "$T/load.out")"
pass "400 requests through two kills: $ok answered, $failed cut by a kill (at most one per kill)"
st=$("$SOCKETBOX" status "$T/status")
echo "$st" | grep -q '^daemon=web pid=[0-9]* restarts=2 running=1' || fail "status after two kills: $st"
grep -c 'event=daemon-exit daemon=web .*status="signal 9"' "$T/router.err" | grep -qx 2 || fail "no daemon-exit log lines"
pass "the daemon was restarted twice (status restarts=2, logged)"
delivered=$(counter "$T/status" daemon:web delivered)
timed_out=$(counter "$T/status" daemon:web timed_out)
[ "$delivered" -ge 401 ] && [ "${timed_out:-0}" = 0 ] || fail "delivered=$delivered timed_out=$timed_out: $st"
pass "every connection was delivered (delivered=$delivered, timed_out=0)"

pid=$(daemon_pid)
stop_bg "$ROUTER_PID"
for _ in $(seq 100); do [ -d "/proc/$pid" ] || break; sleep 0.05; done
[ -d "/proc/$pid" ] && fail "the daemon outlived the router"
pass "stopping the router stops the daemon"

# The command-line form: socketbox --daemon 'PROGRAM ARGS' (every connection to it, as -u's user).
P2=$(free_port)
start_router router3 -l 127.0.0.1 -p "$P2" -u nobody --status "$T/status3" \
    --daemon "$SOCKSWAP_BIN run --lib $SOCKSWAP_LIB -r in,tcp,port=8080,systemd -- /usr/bin/python3 -m http.server 8080 --bind 127.0.0.1 --directory $T/www"
wait_grep "$T/router3.err" 'event=daemon-start daemon=daemon' 10 "$ROUTER_PID"
out=$(curl -sS --max-time 10 "http://127.0.0.1:$P2/index.html") || fail "curl through --daemon failed"
assert_eq "hello from the daemon" "$out" "socketbox --daemon 'PROGRAM ARGS' serves through a supervised daemon"
