#!/usr/bin/env bash
# nginx `listen 127.0.0.1:P reuseport` with `worker_processes 2` behind the router's "A" path
# (rule socketbox=PATH): nginx's master opens one listening socket per worker, each with
# SO_REUSEPORT set before bind, all bound to 127.0.0.1:P. On TCP that is legal; under the shim
# every one of them should become (a share of) the one A socket at PATH, so nginx starts and both
# workers serve. nginx runs in a network namespace of its own (`unshare -n`); 200 requests.
# Router: $SOCKSWAP_ROUTER (default target/release/socketbox).
. "$(dirname "$0")/lib.sh"
. "$HELPERS/router_shim.sh"
need nginx unshare pgrep
need_artifacts
need_router_bin

RP=$(free_port)
start_router router -l 127.0.0.1 -p "$RP" -S "$T/ngx.a"
nginx_conf "$T/ngx" "127.0.0.1:8601 reuseport" 2
NGINX_PRE=("${NS[@]}" "${PRE[@]}" SOCKSWAP_RULES="in,tcp,port=8601,socketbox=$T/ngx.a")
start_nginx ngx "$T/ngx"
SRV_PID=$NGINX_PID
_two_workers() { [ "$(nginx_workers "$SRV_PID" | wc -l)" -ge 2 ]; }
_wait_until 15 "$SRV_PID" _two_workers
_wait_report $? "waiting for nginx (listen ... reuseport) to start its 2 workers" "$SRV_PID"
assert_not_contains "$T/ngx.err" "[emerg]" "nginx started with 'listen 127.0.0.1:8601 reuseport' under socketbox="
timeout 60 "$PYTHON" "$PROGS/http_load.py" 127.0.0.1 "$RP" /hello 200 8 --expect "hello from nginx" >"$T/load.out" 2>&1
assert_eq "ok=200 failed=0" "$(head -n 1 "$T/load.out")" "200 requests through the router"
assert_eq 2 "$(cut -d' ' -f1 "$T/ngx/access.log" | sort -u | wc -l)" "both workers served requests"
