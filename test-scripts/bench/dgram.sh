# Sourced by run.sh: section "dgram" — datagram echo rate (ping-pong, 32-byte datagrams)
# through converted sockets vs the same program on native AF_UNIX datagram sockets.

DGRAM_REPS=${BENCH_DGRAM_REPS:-7}
DGRAM_N=${BENCH_DGRAM_N:-50000}

# dgram_once native|shim REP
dgram_once() {
    local mode=$1 rep=$2 sock ready out pid rules="" slog
    ready=$WORK/dgram.ready
    slog=$LOGS/dgram-$mode-$rep.server.log
    rm -f "$ready"
    if [[ $mode == native ]]; then
        sock=$WORK/dgram-native.sock
        rm -f "$sock"
        bg_start "$slog" "$BIN/dgram_echo" server unix "$sock" "$ready"
    else
        sock=$WORK/dgram-$DGRAM_PORT.sock
        rm -f "$sock"
        rules="udp,addr=127.0.0.1,port=$DGRAM_PORT,path=$WORK/dgram-%p.sock"
        bg_start "$slog" env LD_PRELOAD="$LIB" SOCKSWAP_RULES="$rules" \
            "$BIN/dgram_echo" server inet "$DGRAM_PORT" "$ready"
    fi
    pid=$BG_PID
    if ! wait_ready 20 "$pid" test -s "$ready"; then
        fail dgram "$mode: dgram_echo server did not start (log: $slog)"
        stop_pid "$pid"
        return 1
    fi
    if [[ $mode == shim ]] && { ! grep -q 'shim_loaded=1' "$ready" || [[ ! -S $sock ]] || ss -Huln "sport = :$DGRAM_PORT" | grep -q .; }; then
        fail dgram "shim: conversion check failed ($(cat "$ready"); socket file $sock: $([[ -S $sock ]] && echo yes || echo no))"
        stop_pid "$pid"
        return 1
    fi
    if [[ $mode == shim ]]; then
        out=$(run_variant shim "$rules" "$BIN/dgram_echo" client inet "$DGRAM_PORT" "$DGRAM_N")
    else
        out=$(run_variant base "" "$BIN/dgram_echo" client unix "$sock" "$DGRAM_N")
    fi
    local rc=$? served scpu
    wait_ready 10 "$pid" grep -q '^served=' "$slog"
    stop_pid "$pid"
    if ((rc != 0)); then
        fail dgram "$mode: dgram_echo client failed (see $LOGS/programs.log)"
        return 1
    fi
    served=$(sed -n 's/^served=\([0-9]*\) cpu_us=\([0-9]*\)$/\1/p' "$slog")
    scpu=$(sed -n 's/^served=\([0-9]*\) cpu_us=\([0-9]*\)$/\2/p' "$slog")
    if [[ -z $served || $served != "$(kv dgrams_total "$out")" ]]; then
        fail dgram "$mode: server echoed '${served:-?}' datagrams, client exchanged $(kv dgrams_total "$out")"
        return 1
    fi
    rm -f "$sock"
    record dgram_rate "$mode" "$(awk -v u="$(kv us_per_dgram "$out")" 'BEGIN { printf "%.1f", 1e6 / u }')"
    record dgram_cpu_us "$mode" "$(awk -v s="$scpu" -v c="$(kv cpu_us "$out")" -v n="$served" \
        'BEGIN { printf "%.4f", (s + c) / n }')"
    say "bench:   dgram $mode rep $rep: $(kv us_per_dgram "$out") us/round trip"
}

bench_dgram() {
    DGRAM_PORT=$(pick_port "${BENCH_DGRAM_PORT:-6395}")
    say "bench: [dgram] datagram echo: $DGRAM_N round trips, $DGRAM_REPS reps alternating native/shim (UDP port $DGRAM_PORT)"
    local i m order
    for ((i = 0; i < DGRAM_REPS; i++)); do
        ((i % 2 == 0)) && order="native shim" || order="shim native"
        for m in $order; do
            dgram_once "$m" "$i" || return
        done
    done
    note dgram "conversion verified in every shim run: $WORK/dgram-$DGRAM_PORT.sock existed, no UDP socket was bound to port $DGRAM_PORT, both programs had libsockswap mapped, and the server echoed exactly the datagrams the client sent"
}
