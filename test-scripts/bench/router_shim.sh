# Sourced by run.sh: section "router-shim" — nginx requests/s under wrk, a new connection per
# request (`-H 'Connection: close'`), behind the socketbox router with the shim's "A" listener
# (rule socketbox=PATH; router `-l 127.0.0.1 -p RP -S PATH`) vs the same nginx listening on TCP
# directly, and the same with the router handing its listener over (`--handover listener`: the
# kernel dispatches, the router sees no connection). Both nginx runs use the same config
# (worker_processes BENCH_RS_NGINX_WORKERS, no access log). Goals: >= 0.9x req/s per connection
# dispatch, >= 0.97x with handover. A CPU row adds up user+system CPU time of nginx (master and
# workers) and the router, per request.
# Knobs: BENCH_RS_REPS (5), BENCH_RS_DURATION (5 s), BENCH_RS_CONNS (16), BENCH_RS_THREADS (2),
# BENCH_RS_NGINX_WORKERS (1), BENCH_RS_PORT, SOCKSWAP_ROUTER (the router binary).

RS_REPS=${BENCH_RS_REPS:-5}
RS_DURATION=${BENCH_RS_DURATION:-5}
RS_CONNS=${BENCH_RS_CONNS:-16}
RS_THREADS=${BENCH_RS_THREADS:-2}
RS_WORKERS=${BENCH_RS_NGINX_WORKERS:-1}
RS_ROUTER=${SOCKSWAP_ROUTER:-$ROOT/target/release/socketbox}

# rs_nginx_conf DIR LISTEN
rs_nginx_conf() {
    mkdir -p "$1/tmp"
    cat >"$1/nginx.conf" <<CONF
daemon off;
master_process on;
user root;
worker_processes $RS_WORKERS;
error_log stderr warn;
pid $1/nginx.pid;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $1/tmp/body;
    proxy_temp_path $1/tmp/proxy;
    fastcgi_temp_path $1/tmp/fastcgi;
    uwsgi_temp_path $1/tmp/uwsgi;
    scgi_temp_path $1/tmp/scgi;
    server {
        listen $2;
        location = /hello { default_type text/plain; return 200 "hello from nginx\n"; }
    }
}
CONF
}

rs_hello() { [[ $(curl -s -m 5 "http://127.0.0.1:$1/hello" 2>/dev/null) == "hello from nginx" ]]; }

# rs_group_cpu_us PID...: CPU time of the PIDs and their children (nginx workers); the
# children's time is read while they run (not the reaped-children counters)
rs_group_cpu_us() {
    local p c total=0
    for p in "$@"; do
        for c in "$p" $(pgrep -P "$p"); do
            total=$((total + $(proc_cpu_us "$c" 2>/dev/null || echo 0)))
        done
    done
    echo "$total"
}

# rs_once base|shim|handover REP
rs_once() {
    local mode=$1 rep=$2 dir=$WORK/rs-$1 log=$LOGS/router-shim-$1-$2 port npid rpid="" out rc
    local c0 c1 r0=0 r1=0 rps reqs errs non2xx delivered0 delivered1 accepted0 accepted1 handed
    rm -rf "$dir"
    mkdir -p "$dir"
    if [[ $mode == base ]]; then
        port=$RS_BASE_PORT
        rs_nginx_conf "$dir" "127.0.0.1:$port"
        bg_start "$log.nginx.log" nginx -e stderr -p "$dir" -c "$dir/nginx.conf"
        npid=$BG_PID
    else
        port=$RS_ROUTER_PORT
        rm -f "$WORK/rs.a"
        local handover=()
        [[ $mode == handover ]] && handover=(--handover listener)
        bg_start "$log.router.log" "$RS_ROUTER" -l 127.0.0.1 -p "$port" -S "$WORK/rs.a" --status "$WORK/rs.status" "${handover[@]}"
        rpid=$BG_PID
        if ! wait_ready 10 "$rpid" grep -qs 'event=ready' "$log.router.log"; then
            fail router-shim "the router did not start (log: $log.router.log)"
            stop_pid "$rpid"
            return 1
        fi
        rs_nginx_conf "$dir" "127.0.0.1:$RS_SHIM_PORT"
        bg_start "$log.nginx.log" env LD_PRELOAD="$LIB" SOCKSWAP_RULES="in,tcp,port=$RS_SHIM_PORT,socketbox=$WORK/rs.a" \
            nginx -e stderr -p "$dir" -c "$dir/nginx.conf"
        npid=$BG_PID
    fi
    if ! wait_ready 20 "$npid" rs_hello "$port"; then
        fail router-shim "$mode: nginx did not answer on 127.0.0.1:$port (logs: $log.*)"
        stop_pid "$npid"
        [[ -n $rpid ]] && stop_pid "$rpid"
        return 1
    fi
    if [[ $mode != base ]]; then
        if [[ ! -S $WORK/rs.a ]] || port_listening "$RS_SHIM_PORT" || ! shim_mapped "$npid"; then
            fail router-shim "shim: conversion check failed (A socket $WORK/rs.a: $([[ -S $WORK/rs.a ]] && echo yes || echo no), TCP port $RS_SHIM_PORT listening: $(port_listening "$RS_SHIM_PORT" && echo yes || echo no), shim mapped: $(shim_mapped "$npid" && echo yes || echo no))"
            stop_pid "$npid"
            stop_pid "$rpid"
            return 1
        fi
        delivered0=$("$RS_ROUTER" status "$WORK/rs.status" 2>/dev/null | sed -n 's/^total delivered=\([0-9]*\).*/\1/p')
        accepted0=$("$RS_ROUTER" status "$WORK/rs.status" 2>/dev/null | sed -n 's/^total .*accepted=\([0-9]*\).*/\1/p')
    fi
    c0=$(rs_group_cpu_us "$npid")
    [[ -n $rpid ]] && r0=$(proc_cpu_us "$rpid")
    out=$(timeout $((RS_DURATION + 30)) wrk -t"$RS_THREADS" -c"$RS_CONNS" -d"${RS_DURATION}s" \
        -H 'Connection: close' "http://127.0.0.1:$port/hello" 2>&1)
    rc=$?
    c1=$(rs_group_cpu_us "$npid")
    [[ -n $rpid ]] && r1=$(proc_cpu_us "$rpid")
    printf '%s\n' "$out" >"$log.wrk.out"
    if [[ $mode != base ]]; then
        delivered1=$("$RS_ROUTER" status "$WORK/rs.status" 2>/dev/null | sed -n 's/^total delivered=\([0-9]*\).*/\1/p')
        accepted1=$("$RS_ROUTER" status "$WORK/rs.status" 2>/dev/null | sed -n 's/^total .*accepted=\([0-9]*\).*/\1/p')
        handed=$("$RS_ROUTER" status "$WORK/rs.status" 2>/dev/null | grep -c '^handover .*state=handed-over')
    fi
    local alive=1
    kill -0 "$npid" 2>/dev/null || alive=0
    stop_pid "$npid"
    [[ -n $rpid ]] && stop_pid "$rpid"
    rps=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
    reqs=$(awk '/ requests in / { print $1 }' <<<"$out")
    errs=$(sed -n 's/^ *Socket errors: //p' <<<"$out")
    non2xx=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' <<<"$out")
    if ((rc != 0)) || [[ -z $rps || -z $reqs ]] || ((alive == 0)); then
        fail router-shim "$mode: wrk failed or nginx died (rc=$rc, nginx alive: $alive; output: $log.wrk.out)"
        return 1
    fi
    if [[ -n $non2xx ]]; then
        fail router-shim "$mode: $non2xx responses were not 2xx ($log.wrk.out)"
        return 1
    fi
    [[ -n $errs ]] && note router-shim "$mode rep $rep: wrk socket errors: $errs"
    if [[ $mode == shim ]]; then
        if [[ -z $delivered0 || -z $delivered1 ]] || ((delivered1 - delivered0 < reqs)); then
            fail router-shim "shim: the router delivered $((${delivered1:-0} - ${delivered0:-0})) connections over A during wrk's $reqs requests (status: $WORK/rs.status)"
            return 1
        fi
        RS_VERIFIED=$((RS_VERIFIED + 1))
    fi
    if [[ $mode == handover ]]; then
        if [[ $handed != 1 || -z $accepted0 || $accepted0 != "${accepted1:-x}" || $delivered1 != 0 ]]; then
            fail router-shim "handover: the router was not out of the way (handed-over keys: $handed, accepted $accepted0 -> $accepted1, delivered $delivered1; status: $WORK/rs.status)"
            return 1
        fi
        RS_HANDED=$((RS_HANDED + 1))
    fi
    record router_shim_rps "$mode" "$rps"
    record router_shim_cpu_us "$mode" "$(awk -v c="$((c1 - c0 + r1 - r0))" -v n="$reqs" 'BEGIN { printf "%.2f", c / n }')"
    record router_shim_nginx_cpu_us "$mode" "$(awk -v c="$((c1 - c0))" -v n="$reqs" 'BEGIN { printf "%.2f", c / n }')"
    [[ $mode != base ]] && record router_shim_router_cpu_us "$mode" "$(awk -v c="$((r1 - r0))" -v n="$reqs" 'BEGIN { printf "%.2f", c / n }')"
    say "bench:   router-shim $mode rep $rep: $rps req/s ($reqs requests), CPU nginx $(((c1 - c0) / 1000)) ms, router $(((r1 - r0) / 1000)) ms"
}

bench_router_shim() {
    local m order i
    command -v nginx >/dev/null && command -v wrk >/dev/null && command -v curl >/dev/null ||
        { fail router-shim "nginx, wrk or curl not installed"; return; }
    if ! "$RS_ROUTER" --help >/dev/null 2>&1; then
        fail router-shim "no socketbox router at $RS_ROUTER (build it, or set SOCKSWAP_ROUTER)"
        return
    fi
    RS_BASE_PORT=$(pick_port "${BENCH_RS_PORT:-6400}")
    RS_ROUTER_PORT=$(pick_port $((RS_BASE_PORT + 1)))
    RS_SHIM_PORT=$(pick_port $((RS_ROUTER_PORT + 1)))
    say "bench: [router-shim] nginx (worker_processes $RS_WORKERS) under wrk -t$RS_THREADS -c$RS_CONNS -d${RS_DURATION}s, Connection: close; $RS_REPS reps alternating TCP/router+shim (router $RS_ROUTER)"
    RS_VERIFIED=0
    RS_HANDED=0
    for ((i = 0; i < RS_REPS; i++)); do
        case $((i % 3)) in
            0) order="base shim handover" ;;
            1) order="shim handover base" ;;
            *) order="handover base shim" ;;
        esac
        for m in $order; do
            rs_once "$m" "$i" || return
        done
    done
    note router-shim "conversion verified in $RS_VERIFIED shim runs: the A socket $WORK/rs.a existed, nothing listened on TCP port $RS_SHIM_PORT (nginx's own), nginx had libsockswap mapped, and the router's status counted at least as many A deliveries as wrk completed requests; in $RS_HANDED handover runs the router's status showed the key handed over and no connection accepted or delivered by the router"
}
