#!/usr/bin/env bash
# sockswap benchmark: `make bench` runs this.
#
# Measures the shim against a baseline taken in the same run and prints a table of
# RATIOS (never pass/fail timing assertions; "met" is information):
#   1. pass-through cost on sockets no rule matches (socket()+close(), getsockname())
#   2. redis-server/redis-benchmark: native AF_UNIX vs shim (TCP program -> Unix socket)
#      vs plain TCP loopback
#   3. connection churn (connect, 1-byte echo, close): native AF_UNIX vs shim
#   4. library size and extra idle RSS of a python3 process
#
# Exit status: 0 when every measurement was made (whether or not goals are met),
# 1 when some measurement could not be made (server did not start, the shim did not
# convert, a program failed, ...), 2 on a setup problem (no library, no compiler).
#
# Knobs (environment): SOCKSWAP_LIB, BENCH_REPS, BENCH_REDIS_REPS, BENCH_CHURN_REPS,
# BENCH_SOCKET_ITER, BENCH_GETSOCKNAME_ITER, BENCH_EPOLL_ITER, BENCH_GETSOCKOPT_ITER, BENCH_REDIS_N, BENCH_CHURN_N,
# BENCH_REDIS_PORT, BENCH_CHURN_PORT, BENCH_EPOLL_PORT, BENCH_SECTIONS (default "passthru redis churn dgram footprint router-shim seccomp router responder"; router: bench/router.sh; responder: bench/responder.sh; seccomp: bench/seccomp.sh), BENCH_DGRAM_REPS, BENCH_DGRAM_N, BENCH_DGRAM_PORT.
set -uo pipefail

# Nothing of the caller's shim configuration may leak into the baselines.
unset LD_PRELOAD SOCKSWAP_RULES SOCKSWAP_RULES_FILE SOCKSWAP_LOG UNSOCK_DIR UNSOCK_ADDR \
    UNSOCK_PORT UNSOCK_MODE UNSOCK_BLOCK_INET UNSOCK_BLOCK_INET6 UNSOCK_ACCEPT_CONVERT_ALL

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
LIB=${SOCKSWAP_LIB:-$ROOT/target/release/libsockswap.so}
SRC=$ROOT/c-tests/bench
HERE=$ROOT/test-scripts/bench
BIN=$ROOT/target/bench
LOGS=$BIN/logs

REPS=${BENCH_REPS:-7}
REDIS_REPS=${BENCH_REDIS_REPS:-6}         # native and shim; TCP (information only) every other rep
CHURN_REPS=${BENCH_CHURN_REPS:-7}
SOCK_ITER=${BENCH_SOCKET_ITER:-200000}
GSN_ITER=${BENCH_GETSOCKNAME_ITER:-1000000}
EPOLL_ITER=${BENCH_EPOLL_ITER:-500000}
GSO_ITER=${BENCH_GETSOCKOPT_ITER:-500000}
REDIS_N=${BENCH_REDIS_N:-200000}
CHURN_N=${BENCH_CHURN_N:-20000}
SECTIONS=${BENCH_SECTIONS:-passthru redis churn dgram footprint router-shim seccomp router responder}
NONMATCH_RULES='in,port=1,path=/tmp/none'

say() { printf '%s\n' "$*" >&2; }

# ---------------------------------------------------------------- setup
if [[ ! -f $LIB ]]; then
    say "bench: $LIB not found; build it first: (cd $ROOT && cargo build --release)"
    exit 2
fi
LIB=$(realpath "$LIB")
[[ $LIB == *sockswap* ]] || { say "bench: the library's path must contain 'sockswap' (how the programs tell it is loaded)"; exit 2; }
command -v gcc >/dev/null || { say "bench: gcc not found"; exit 2; }
command -v python3 >/dev/null || { say "bench: python3 not found"; exit 2; }

mkdir -p "$BIN" "$LOGS" || exit 2
rm -f "$LOGS"/*
for p in passthru echo_server churn_client cpurun dgram_echo; do
    gcc -O2 -Wall -Wextra -o "$BIN/$p" "$SRC/$p.c" || { say "bench: compiling $p.c failed"; exit 2; }
done

# Short directory: Unix socket paths must fit in 107 bytes.
WORK=$(mktemp -d /tmp/ssbench.XXXXXX) || exit 2
RESULTS=$WORK/results.tsv
: >"$RESULTS"
PIDS=()

cleanup() {
    local p
    for p in "${PIDS[@]}"; do
        kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null
    done
    wait 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'say "bench: interrupted"; exit 130' INT TERM HUP

record() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$RESULTS"; }
fail() { say "bench: FAILED ($1): $2"; record ERROR "$1" "$2"; }
note() { say "bench: note ($1): $2"; record NOTE "$1" "$2"; }

# kv KEY TEXT: value of the "KEY=value" line in TEXT
kv() { sed -n "s/^$1=//p" <<<"$2" | tail -n 1; }

# port_listening PORT: true if some TCP socket (v4 or v6) listens on PORT
port_listening() {
    local hex
    hex=$(printf '%04X' "$1")
    awk -v h="$hex" '$4 == "0A" { n = split($2, a, ":"); if (a[n] == h) found = 1 }
                     END { exit !found }' /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# pick_port START: first port >= START that nothing listens on
pick_port() {
    local p=$1
    while port_listening "$p"; do p=$((p + 1)); done
    echo "$p"
}

# bg_start LOG CMD...: start CMD in the background, PID in BG_PID
bg_start() {
    local log=$1
    shift
    "$@" >"$log" 2>&1 </dev/null &
    BG_PID=$!
    PIDS+=("$BG_PID")
}

# stop_pid PID: SIGTERM, up to 5 s grace, then SIGKILL; reaps it
stop_pid() {
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    return 0
}

# wait_ready SECONDS PID CMD...: poll CMD until it succeeds; fail if PID dies or time runs out
wait_ready() {
    local secs=$1 pid=$2
    shift 2
    local deadline=$((SECONDS + secs))
    while ((SECONDS < deadline)); do
        kill -0 "$pid" 2>/dev/null || return 1
        "$@" && return 0
        sleep 0.02
    done
    return 1
}

shim_mapped() { grep -q sockswap "/proc/$1/maps" 2>/dev/null; }

CLK_TCK=$(getconf CLK_TCK)
# proc_cpu_us PID: user+system CPU time PID has used so far, in microseconds
proc_cpu_us() {
    awk -v hz="$CLK_TCK" '{ sub(/.*\) /, ""); printf "%d\n", ($12 + $13) * 1000000 / hz }' "/proc/$1/stat"
}

# run_variant base|shim RULES CMD...: run CMD without / with the shim, print its stdout;
# fails unless the program exits 0 and reports shim_loaded matching the variant.
run_variant() {
    local v=$1 rules=$2 out rc want
    shift 2
    if [[ $v == shim ]]; then
        want=1
        out=$(env LD_PRELOAD="$LIB" SOCKSWAP_RULES="$rules" "$@" 2>>"$LOGS/programs.log")
    else
        want=0
        out=$("$@" 2>>"$LOGS/programs.log")
    fi
    rc=$?
    if ((rc != 0)); then
        say "bench: '$*' ($v) exited $rc; see $LOGS/programs.log"
        return 1
    fi
    if [[ $(kv shim_loaded "$out") != "$want" ]]; then
        say "bench: '$*' ($v): shim_loaded=$(kv shim_loaded "$out"), expected $want"
        return 1
    fi
    printf '%s\n' "$out"
}

# ---------------------------------------------------------------- 1. pass-through
bench_passthru() {
    say "bench: [1/4] pass-through: socket()+close() x$SOCK_ITER, getsockname() x$GSN_ITER, epoll_ctl() x$EPOLL_ITER, getsockopt() x$GSO_ITER, $REPS reps"
    local i v order out
    for ((i = 0; i < REPS; i++)); do
        ((i % 2 == 0)) && order="base shim" || order="shim base"
        for v in $order; do
            out=$(run_variant "$v" "$NONMATCH_RULES" "$BIN/passthru" socket "$SOCK_ITER") ||
                { fail passthru "socket()+close() loop ($v) failed"; return; }
            record socket_close_ns "$v" "$(kv ns_per_op "$out")"
            record socket_close_vs_raw "$v" "$(kv ratio_vs_raw "$out")"
        done
    done
    for ((i = 0; i < REPS; i++)); do
        ((i % 2 == 0)) && order="base shim" || order="shim base"
        for v in $order; do
            out=$(run_variant "$v" "$NONMATCH_RULES" "$BIN/passthru" getsockname "$GSN_ITER") ||
                { fail passthru "getsockname() loop ($v) failed"; return; }
            record getsockname_ns "$v" "$(kv ns_per_op "$out")"
            record getsockname_added_vs_raw "$v" "$(kv added_vs_raw_ns "$out")"
        done
    done
    # epoll_ctl(MOD) on a socket the shim converted (base: a real TCP socket): the one hooked
    # call on an event loop's data path
    local port rules
    port=$(pick_port "${BENCH_EPOLL_PORT:-6393}")
    rules="in,port=$port,path=$WORK/ep-%p.sock;out,addr=127.0.0.1,port=$port,path=$WORK/ep-%p.sock"
    # and getsockopt(TCP_NODELAY) on the same socket: what the kernel's answers through a
    # template socket cost (oracle.rs)
    local call iter
    for call in epoll_ctl getsockopt; do
        [[ $call == epoll_ctl ]] && iter=$EPOLL_ITER || iter=$GSO_ITER
        for ((i = 0; i < REPS; i++)); do
            ((i % 2 == 0)) && order="base shim" || order="shim base"
            for v in $order; do
                out=$(run_variant "$v" "$rules" "$BIN/passthru" "$call" "$iter" "$port") ||
                    { fail passthru "$call() loop ($v) failed"; return; }
                if [[ $(kv unix_fd "$out") != "$([[ $v == shim ]] && echo 1 || echo 0)" ]]; then
                    fail passthru "$call() loop ($v): the client socket is$([[ $v == shim ]] && echo " not") an AF_UNIX socket"
                    return
                fi
                record "${call}_ns" "$v" "$(kv ns_per_op "$out")"
                record "${call}_added_vs_raw" "$v" "$(kv added_vs_raw_ns "$out")"
            done
        done
    done
}

# ---------------------------------------------------------------- 2. redis
redis_ping_unix() { [[ $(redis-cli -s "$1" ping 2>/dev/null) == PONG ]]; }
redis_ping_tcp() { [[ $(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null) == PONG ]]; }
redis_conns() {
    redis-cli -s "$1" info stats 2>/dev/null | tr -d '\r' | sed -n 's/^total_connections_received://p'
}

# redis_once native|shim|tcp REP: one server + one redis-benchmark run; records rps
redis_once() {
    local mode=$1 rep=$2 sock log out c0 c1 set get pid rc s0 s1 ccpu
    local common=(--save '' --appendonly no --dir "$WORK" --daemonize no --logfile '')
    local load=(-t get,set -c 50 -n "$REDIS_N" -q)
    log=$LOGS/redis-$mode-$rep
    case $mode in
    native)
        sock=$WORK/redis-native.sock
        rm -f "$sock"
        bg_start "$log.server.log" redis-server --unixsocket "$sock" --port 0 "${common[@]}"
        pid=$BG_PID
        wait_ready 20 "$pid" redis_ping_unix "$sock" ||
            { fail redis "native redis-server did not become ready (log: $log.server.log)"; stop_pid "$pid"; return 1; }
        s0=$(proc_cpu_us "$pid")
        out=$("$BIN/cpurun" "$log.cpu" timeout 300 redis-benchmark -s "$sock" "${load[@]}" 2>"$log.bench.err")
        rc=$?
        s1=$(proc_cpu_us "$pid")
        ;;
    shim)
        sock=$WORK/redis-$REDIS_PORT.sock
        rm -f "$sock"
        bg_start "$log.server.log" env LD_PRELOAD="$LIB" \
            SOCKSWAP_RULES="in,port=$REDIS_PORT,path=$WORK/redis-%p.sock" \
            redis-server --port "$REDIS_PORT" --bind 127.0.0.1 "${common[@]}"
        pid=$BG_PID
        if ! wait_ready 20 "$pid" redis_ping_unix "$sock"; then
            if port_listening "$REDIS_PORT"; then
                fail redis "shim: redis-server listens on TCP port $REDIS_PORT instead of $sock: the in rule did not convert (log: $log.server.log)"
            else
                fail redis "shim: redis-server did not answer PING on $sock (socket file: $([[ -S $sock ]] && echo yes || echo no); reply: '$(redis-cli -s "$sock" ping 2>&1 | head -c 100)'; log: $log.server.log)"
            fi
            stop_pid "$pid"
            return 1
        fi
        # conversion checks: socket file present, TCP port not listening, shim mapped
        if [[ ! -S $sock ]] || port_listening "$REDIS_PORT" || ! shim_mapped "$pid"; then
            fail redis "shim: conversion check failed (socket file: $([[ -S $sock ]] && echo yes || echo no), TCP port $REDIS_PORT listening: $(port_listening "$REDIS_PORT" && echo yes || echo no), shim mapped: $(shim_mapped "$pid" && echo yes || echo no))"
            stop_pid "$pid"
            return 1
        fi
        c0=$(redis_conns "$sock")
        s0=$(proc_cpu_us "$pid")
        out=$("$BIN/cpurun" "$log.cpu" timeout 300 env LD_PRELOAD="$LIB" \
            SOCKSWAP_RULES="out,addr=127.0.0.1,port=$REDIS_PORT,path=$WORK/redis-%p.sock" \
            redis-benchmark -h 127.0.0.1 -p "$REDIS_PORT" "${load[@]}" 2>"$log.bench.err")
        rc=$?
        s1=$(proc_cpu_us "$pid")
        c1=$(redis_conns "$sock")
        if [[ -z $c0 || -z $c1 ]] || ((c1 - c0 < 50)); then
            fail redis "shim: redis-server saw $((${c1:-0} - ${c0:-0})) new connections on $sock during redis-benchmark (expected >= 50): the client was not converted"
            stop_pid "$pid"
            return 1
        fi
        if port_listening "$REDIS_PORT"; then
            fail redis "shim: TCP port $REDIS_PORT is listening during the shim run"
            stop_pid "$pid"
            return 1
        fi
        ;;
    tcp)
        bg_start "$log.server.log" redis-server --port "$REDIS_TCP_PORT" --bind 127.0.0.1 "${common[@]}"
        pid=$BG_PID
        wait_ready 20 "$pid" redis_ping_tcp "$REDIS_TCP_PORT" ||
            { fail redis "TCP redis-server did not become ready on port $REDIS_TCP_PORT (log: $log.server.log)"; stop_pid "$pid"; return 1; }
        s0=$(proc_cpu_us "$pid")
        out=$("$BIN/cpurun" "$log.cpu" timeout 300 redis-benchmark -h 127.0.0.1 -p "$REDIS_TCP_PORT" "${load[@]}" 2>"$log.bench.err")
        rc=$?
        s1=$(proc_cpu_us "$pid")
        ;;
    esac
    printf '%s\n' "$out" | tr '\r' '\n' >"$log.bench.out"
    set=$(awk '/^SET: /{v=$2} END{print v}' "$log.bench.out")
    get=$(awk '/^GET: /{v=$2} END{print v}' "$log.bench.out")
    if [[ $mode == shim ]]; then
        kill -0 "$pid" 2>/dev/null || { fail redis "shim: redis-server died during the run (log: $log.server.log)"; stop_pid "$pid"; return 1; }
    fi
    stop_pid "$pid"
    if ((rc != 0)) || [[ -z $set || -z $get ]]; then
        fail redis "$mode: redis-benchmark failed (rc=$rc, output: $log.bench.out, $log.bench.err)"
        return 1
    fi
    ccpu=$(kv cpu_us "$(cat "$log.cpu" 2>/dev/null)")
    if [[ -z $s0 || -z $s1 || -z $ccpu ]]; then
        fail redis "$mode: could not read the CPU time of redis-server or redis-benchmark"
        return 1
    fi
    if [[ $mode == shim ]]; then
        REDIS_VERIFIED=$((REDIS_VERIFIED + 1))
        REDIS_MINCONN=$(( REDIS_MINCONN == 0 || c1 - c0 < REDIS_MINCONN ? c1 - c0 : REDIS_MINCONN ))
    fi
    record redis_SET_rps "$mode" "$set"
    record redis_cpu_us_per_req "$mode" "$(awk -v s="$((s1 - s0))" -v c="$ccpu" -v n="$REDIS_N" \
        'BEGIN { printf "%.4f", (s + c) / (2 * n) }')"
    record redis_GET_rps "$mode" "$get"
    say "bench:   redis $mode rep $rep: SET $set GET $get req/s, server CPU $(((s1 - s0) / 1000)) ms, client CPU $((ccpu / 1000)) ms"
}

bench_redis() {
    command -v redis-server >/dev/null && command -v redis-benchmark >/dev/null &&
        command -v redis-cli >/dev/null ||
        { fail redis "redis-server/redis-benchmark/redis-cli not installed"; return; }
    REDIS_PORT=$(pick_port "${BENCH_REDIS_PORT:-6390}")
    REDIS_TCP_PORT=$(pick_port $((REDIS_PORT + 1)))
    say "bench: [2/4] redis: get,set -c 50 -n $REDIS_N, $REDIS_REPS reps of native/shim alternating, $(((REDIS_REPS + 1) / 2)) of tcp (ports $REDIS_PORT shim, $REDIS_TCP_PORT tcp)"
    local i m order failed=" "
    REDIS_VERIFIED=0 REDIS_MINCONN=0
    for ((i = 0; i < REDIS_REPS; i++)); do
        # native and shim back to back, alternating which goes first; a mode that failed
        # is not retried
        ((i % 2 == 0)) && order="native shim tcp" || order="shim native"
        for m in $order; do
            [[ $failed == *" $m "* ]] && continue
            redis_once "$m" "$i" || failed+="$m "
        done
    done
    ((REDIS_VERIFIED > 0)) && note redis "conversion verified in $REDIS_VERIFIED shim runs: $WORK/redis-$REDIS_PORT.sock existed, nothing listened on TCP port $REDIS_PORT, redis-server's shared library map had libsockswap, and it received >= $REDIS_MINCONN connections on the Unix socket during each redis-benchmark -h 127.0.0.1 -p $REDIS_PORT"
}

# ---------------------------------------------------------------- 3. churn
# churn_once native|shim REP
churn_once() {
    local mode=$1 rep=$2 sock ready out pid rules=""
    ready=$WORK/echo.ready
    rm -f "$ready"
    if [[ $mode == native ]]; then
        sock=$WORK/churn-native.sock
        rm -f "$sock"
        bg_start "$LOGS/churn-$mode-$rep.server.log" "$BIN/echo_server" unix "$sock" "$ready"
    else
        sock=$WORK/churn-$CHURN_PORT.sock
        rm -f "$sock"
        rules="in,port=$CHURN_PORT,path=$WORK/churn-%p.sock;out,addr=127.0.0.1,port=$CHURN_PORT,path=$WORK/churn-%p.sock"
        bg_start "$LOGS/churn-$mode-$rep.server.log" env LD_PRELOAD="$LIB" SOCKSWAP_RULES="$rules" \
            "$BIN/echo_server" inet "$CHURN_PORT" "$ready"
    fi
    pid=$BG_PID
    if ! wait_ready 20 "$pid" test -s "$ready"; then
        fail churn "$mode: echo_server did not start (log: $LOGS/churn-$mode-$rep.server.log)"
        stop_pid "$pid"
        return 1
    fi
    if [[ $mode == shim ]]; then
        if ! grep -q 'shim_loaded=1' "$ready" || [[ ! -S $sock ]] || port_listening "$CHURN_PORT"; then
            fail churn "shim: conversion check failed ($(cat "$ready"); socket file $sock: $([[ -S $sock ]] && echo yes || echo no); TCP port $CHURN_PORT listening: $(port_listening "$CHURN_PORT" && echo yes || echo no))"
            stop_pid "$pid"
            return 1
        fi
        out=$(run_variant shim "$rules" "$BIN/churn_client" inet "$CHURN_PORT" "$CHURN_N")
    else
        out=$(run_variant base "" "$BIN/churn_client" unix "$sock" "$CHURN_N")
    fi
    local rc=$? slog=$LOGS/churn-$mode-$rep.server.log served scpu
    stop_pid "$pid"
    if ((rc != 0)); then
        fail churn "$mode: churn_client failed (see $LOGS/programs.log)"
        return 1
    fi
    served=$(sed -n 's/^served=\([0-9]*\) cpu_us=\([0-9]*\)$/\1/p' "$slog")
    scpu=$(sed -n 's/^served=\([0-9]*\) cpu_us=\([0-9]*\)$/\2/p' "$slog")
    if [[ -z $served || -z $scpu ]]; then
        fail churn "$mode: echo_server did not report its CPU time on exit (log: $slog)"
        return 1
    fi
    if [[ $served != "$(kv conns_total "$out")" ]]; then
        fail churn "$mode: echo_server served $served connections, churn_client made $(kv conns_total "$out")"
        return 1
    fi
    if [[ $mode == shim && -e $sock && -z ${CHURN_UNLINK_NOTED:-} ]]; then
        note churn "socket file $sock still exists after echo_server closed its listener and exited"
        CHURN_UNLINK_NOTED=1
    fi
    rm -f "$sock"
    [[ $mode == shim ]] && CHURN_VERIFIED=$((CHURN_VERIFIED + 1))
    record churn_us "$mode" "$(kv us_per_conn "$out")"
    record churn_cpu_us "$mode" "$(awk -v s="$scpu" -v c="$(kv cpu_us "$out")" -v n="$served" \
        'BEGIN { printf "%.4f", (s + c) / n }')"
    say "bench:   churn $mode rep $rep: $(kv us_per_conn "$out") us/conn"
}

bench_churn() {
    CHURN_PORT=$(pick_port "${BENCH_CHURN_PORT:-6391}")
    [[ ${REDIS_TCP_PORT:-} == "$CHURN_PORT" ]] && CHURN_PORT=$(pick_port $((CHURN_PORT + 1)))
    say "bench: [3/4] connection churn: $CHURN_N connections, $CHURN_REPS reps alternating native/shim (port $CHURN_PORT)"
    local i m order
    CHURN_VERIFIED=0
    for ((i = 0; i < CHURN_REPS; i++)); do
        ((i % 2 == 0)) && order="native shim" || order="shim native"
        for m in $order; do
            churn_once "$m" "$i" || return
        done
    done
    note churn "conversion verified in $CHURN_VERIFIED shim runs: $WORK/churn-$CHURN_PORT.sock existed, nothing listened on TCP port $CHURN_PORT, both programs had libsockswap mapped, and echo_server accepted exactly the connections churn_client made to 127.0.0.1:$CHURN_PORT"
}

# ---------------------------------------------------------------- 4. footprint
bench_footprint() {
    say "bench: [4/4] footprint: library size, idle python3 VmRSS ($REPS reps)"
    record lib_size_bytes shim "$(stat -c %s "$LIB")"
    if command -v strip >/dev/null && strip --strip-all -o "$WORK/stripped.so" "$LIB" 2>/dev/null; then
        record lib_size_stripped_bytes shim "$(stat -c %s "$WORK/stripped.so")"
    fi
    python3 "$HERE/idle_rss.py" "$LIB" "$REPS" "$NONMATCH_RULES" >>"$RESULTS" ||
        fail footprint "idle python3 RSS measurement failed"
}

# ---------------------------------------------------------------- more sections
# shellcheck source=dgram.sh
. "$HERE/dgram.sh"
# shellcheck source=router_shim.sh
. "$HERE/router_shim.sh"
# shellcheck source=seccomp.sh
. "$HERE/seccomp.sh"

# ---------------------------------------------------------------- main
say "bench: library $LIB ($(stat -c '%s bytes, built %y' "$LIB"))"
say "bench: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) at start"
START=$SECONDS
for s in $SECTIONS; do
    record RAN "$s" 1
    case $s in
    passthru) bench_passthru ;;
    redis) bench_redis ;;
    churn) bench_churn ;;
    dgram) bench_dgram ;;
    router-shim) bench_router_shim ;;
    seccomp) bench_seccomp ;;
    footprint) bench_footprint ;;
    router) ROUTER_REPORT=$WORK/router-report.txt  # the socketbox router: test-scripts/bench/router.sh
        bash "$HERE/router.sh" "$ROUTER_REPORT" || fail router "router benchmark failed (log above)" ;;
    responder) RESPONDER_REPORT=$WORK/responder-report.txt  # the port-80 responder vs nginx
        bash "$HERE/responder.sh" "$RESPONDER_REPORT" || fail responder "responder benchmark failed (log above)" ;;
    *) say "bench: unknown section $s"; exit 2 ;;
    esac
done
say "bench: done in $((SECONDS - START)) s, load average $(cut -d' ' -f1-3 /proc/loadavg) at end"
cp "$RESULTS" "$BIN/results.tsv"
echo
echo "sockswap benchmark ($(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, git $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'))"
echo
python3 "$HERE/report.py" "$RESULTS"
rc=$?
if [[ -s ${ROUTER_REPORT:-} ]]; then echo; cat "$ROUTER_REPORT"; fi
if [[ -s ${RESPONDER_REPORT:-} ]]; then echo; cat "$RESPONDER_REPORT"; fi
# vsock section: boots the test guest (test-scripts/vm/); BENCH_VSOCK=0 skips it.
if [[ ${BENCH_VSOCK:-1} != 0 ]]; then
    SOCKSWAP_LIB=$LIB bash "$HERE/vsock.sh" || rc=1
fi
exit $rc
