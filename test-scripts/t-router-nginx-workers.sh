#!/usr/bin/env bash
# nginx with `worker_processes 2` behind the router, both workers sharing the one "A" listener
# (rule socketbox=PATH: the master binds, the shim makes the fd an AF_UNIX datagram socket at
# PATH, the forked workers inherit it and epoll/accept4 on it). nginx runs in a network
# namespace of its own (`unshare -n`). 1,000 requests, each on a new connection (200 one at a
# time, then 800 with 16 in flight), all must succeed; the access log must hold exactly 1,000
# lines from 127.0.0.1 and both worker pids must have served some.
# Router: $SOCKSWAP_ROUTER (default target/release/socketbox).
. "$(dirname "$0")/lib.sh"
. "$HELPERS/router_shim.sh"
need nginx unshare pgrep
need_artifacts
need_router_bin

RP=$(free_port)
start_router router -l 127.0.0.1 -p "$RP" -S "$T/ngx.a"
start_nginx_server ngx 8301 "in,tcp,port=8301,socketbox=$T/ngx.a" 2
mapfile -t WORKERS < <(nginx_workers "$SRV_PID")
assert_eq 2 "${#WORKERS[@]}" "nginx master $SRV_PID has two workers"
assert_unix_socket "$T/ngx.a"

timeout 60 "$PYTHON" "$PROGS/http_load.py" 127.0.0.1 "$RP" /hello 200 1 --expect "hello from nginx" >"$T/seq.out" 2>&1 ||
    fail "sequential requests: $(cat "$T/seq.out")"
assert_eq "ok=200 failed=0" "$(head -n 1 "$T/seq.out")" "200 sequential requests"
timeout 90 "$PYTHON" "$PROGS/http_load.py" 127.0.0.1 "$RP" /hello 800 16 --expect "hello from nginx" >"$T/conc.out" 2>&1 ||
    fail "concurrent requests: $(cat "$T/conc.out")"
assert_eq "ok=800 failed=0" "$(head -n 1 "$T/conc.out")" "800 requests, 16 at a time"

# nginx writes the access log line when it finishes a request: all are written by now
assert_eq 1000 "$(grep -cE '^[0-9]+ 127\.0\.0\.1:[0-9]+ 200 /hello$' "$T/ngx/access.log")" "1,000 access log lines from 127.0.0.1"
assert_eq 1000 "$(wc -l <"$T/ngx/access.log")" "no other access log lines"
for w in "${WORKERS[@]}"; do
    n=$(awk -v p="$w" '$1 == p' "$T/ngx/access.log" | wc -l)
    [ "$n" -gt 0 ] || fail "worker $w served no request (pids in the log: $(cut -d' ' -f1 "$T/ngx/access.log" | sort | uniq -c | tr '\n' ' '))"
    pass "worker $w served $n requests"
done
others=$(cut -d' ' -f1 "$T/ngx/access.log" | sort -u | grep -vxF -e "${WORKERS[0]}" -e "${WORKERS[1]}" | tr '\n' ' ')
assert_eq "" "$others" "no other pid served requests"
_is_running "$SRV_PID" || fail "nginx master died"
assert_not_contains "$T/ngx.err" "[alert]" "nginx logged no alert"
