# Sourced by run.sh: section "seccomp" — the seccomp backend of `sockswap run`.
#  - Go HTTP server connection churn (http_churn: a new connection per GET) under the seccomp
#    backend (TCP listener converted by an `in` rule) vs the same server listening on a native
#    Unix socket; goal >= 0.9x connections/s (us/conn <= 1.11x).
#  - trapped calls per connection and supervisor CPU us per trapped call (from the
#    supervisor's own count at --log info); goal <= 2 us per trapped call.
#  - C echo churn (churn_client -> echo_server, both 127.0.0.1:P) under preload vs seccomp.
# BENCH_SECCOMP_REPS (default 5), BENCH_SECCOMP_N (default 3000), BENCH_SECCOMP_PORT.

SECCOMP_REPS=${BENCH_SECCOMP_REPS:-5}
SECCOMP_N=${BENCH_SECCOMP_N:-3000}
SOCKSWAP_CLI=${SOCKSWAP_BIN:-$ROOT/target/release/sockswap}

# seccomp_go_once native|seccomp REP
seccomp_go_once() {
    local mode=$1 rep=$2 sock log out pid stats
    log=$LOGS/seccomp-go-$mode-$rep.server.log
    if [[ $mode == native ]]; then
        sock=$WORK/go-native.sock
        rm -f "$sock"
        bg_start "$log" "$SECCOMP_PROGS/http_server_static" "unix:$sock"
    else
        sock=$WORK/go-$SECCOMP_PORT.sock
        rm -f "$sock"
        bg_start "$log" "$SOCKSWAP_CLI" run --log info --backend seccomp \
            -r "in,tcp,port=$SECCOMP_PORT,path=$sock" -- "$SECCOMP_PROGS/http_server_static" "127.0.0.1:$SECCOMP_PORT"
    fi
    pid=$BG_PID
    if ! wait_ready 20 "$pid" test -S "$sock"; then
        fail seccomp "$mode: Go server did not start (log: $log)"
        stop_pid "$pid"
        return 1
    fi
    if [[ $mode == seccomp ]] && port_listening "$SECCOMP_PORT"; then
        fail seccomp "seccomp: TCP port $SECCOMP_PORT is listening: not converted"
        stop_pid "$pid"
        return 1
    fi
    out=$("$SECCOMP_PROGS/http_churn_static" "$sock" "$SECCOMP_N" 2>>"$LOGS/programs.log")
    local rc=$?
    stop_pid "$pid"
    if ((rc != 0)); then
        fail seccomp "$mode: http_churn failed (see $LOGS/programs.log)"
        return 1
    fi
    record seccomp_go_us "$mode" "$(kv us_per_conn "$out")"
    say "bench:   Go HTTP churn $mode rep $rep: $(kv us_per_conn "$out") us/conn"
    if [[ $mode == seccomp ]]; then
        # "seccomp: N trapped calls (bind 1, accept4 .., ...), supervisor CPU T us"
        stats=$(grep -o 'seccomp: [0-9]* trapped calls.*' "$log" | tail -n 1)
        local n cpu conns
        n=$(sed -n 's/^seccomp: \([0-9]*\) trapped.*/\1/p' <<<"$stats")
        cpu=$(sed -n 's/.*supervisor CPU \([0-9]*\) us$/\1/p' <<<"$stats")
        conns=$(kv conns_total "$out")
        if [[ -z $n || -z $cpu || $n -eq 0 ]]; then
            fail seccomp "the supervisor did not report its trapped calls (log: $log)"
            return 1
        fi
        record seccomp_traps_per_conn seccomp "$(awk -v n="$n" -v c="$conns" 'BEGIN { printf "%.2f", n / c }')"
        record seccomp_us_per_trap seccomp "$(awk -v n="$n" -v t="$cpu" 'BEGIN { printf "%.3f", t / n }')"
        SECCOMP_STATS=$stats
    fi
}

# seccomp_c_once preload|seccomp REP
seccomp_c_once() {
    local mode=$1 rep=$2 ready log out pid rules
    ready=$WORK/secc-echo.ready
    log=$LOGS/seccomp-c-$mode-$rep.server.log
    rm -f "$ready" "$WORK/secc-$SECCOMP_PORT.sock"
    rules="in,port=$SECCOMP_PORT,path=$WORK/secc-%p.sock;out,addr=127.0.0.1,port=$SECCOMP_PORT,path=$WORK/secc-%p.sock"
    if [[ $mode == preload ]]; then
        bg_start "$log" env LD_PRELOAD="$LIB" SOCKSWAP_RULES="$rules" "$BIN/echo_server" inet "$SECCOMP_PORT" "$ready"
    else
        bg_start "$log" env SOCKSWAP_RULES="$rules" "$SOCKSWAP_CLI" run --backend seccomp -- "$BIN/echo_server" inet "$SECCOMP_PORT" "$ready"
    fi
    pid=$BG_PID
    if ! wait_ready 20 "$pid" test -s "$ready" || ! [[ -S $WORK/secc-$SECCOMP_PORT.sock ]]; then
        fail seccomp "$mode: echo_server did not start converted (log: $log)"
        stop_pid "$pid"
        return 1
    fi
    if [[ $mode == preload ]]; then
        out=$(env LD_PRELOAD="$LIB" SOCKSWAP_RULES="$rules" "$BIN/churn_client" inet "$SECCOMP_PORT" "$SECCOMP_N" 2>>"$LOGS/programs.log")
    else
        out=$(env SOCKSWAP_RULES="$rules" "$SOCKSWAP_CLI" run --backend seccomp -- "$BIN/churn_client" inet "$SECCOMP_PORT" "$SECCOMP_N" 2>>"$LOGS/programs.log")
    fi
    local rc=$?
    stop_pid "$pid"
    if ((rc != 0)); then
        fail seccomp "$mode: churn_client failed (see $LOGS/programs.log)"
        return 1
    fi
    record seccomp_c_us "$mode" "$(kv us_per_conn "$out")"
    say "bench:   C churn $mode rep $rep: $(kv us_per_conn "$out") us/conn"
}

bench_seccomp() {
    SECCOMP_PORT=$(pick_port "${BENCH_SECCOMP_PORT:-6397}")
    SECCOMP_PROGS=$BIN/seccomp-progs
    say "bench: [seccomp] building the Go and static programs"
    "$ROOT/test-scripts/progs/seccomp/build.sh" "$SECCOMP_PROGS" || { fail seccomp "building the programs failed"; return 1; }
    say "bench: [seccomp] Go HTTP churn and C churn: $SECCOMP_N connections, $SECCOMP_REPS reps (port $SECCOMP_PORT)"
    local i m order
    for ((i = 0; i < SECCOMP_REPS; i++)); do
        ((i % 2 == 0)) && order="native seccomp" || order="seccomp native"
        for m in $order; do seccomp_go_once "$m" "$i" || return; done
        ((i % 2 == 0)) && order="preload seccomp" || order="seccomp preload"
        for m in $order; do seccomp_c_once "$m" "$i" || return; done
    done
    note seccomp "Go server, last run: $SECCOMP_STATS (connections = $SECCOMP_N + 50 warm-up)"
}
