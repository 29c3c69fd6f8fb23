#!/usr/bin/env bash
# Router benchmark (`make bench` runs it as the "router" section of run.sh; also runs alone:
# test-scripts/bench/router.sh [REPORT-FILE]). Prints ratios against baselines measured in the
# same run; never pass/fail on timing. "met" is information.
#   1. connections per second (connect, small HTTP request, response, close; wrk with
#      Connection: close) at 1 and 64 concurrent clients: server accepting directly vs the same
#      server receiving the connections from the router over A (per-connection dispatch).
#      Goal >= 0.9x. With it, the router's CPU (user+system) per connection.
#   2. bulk throughput of one connection (client sends BENCH_ROUTER_MB MB, server discards):
#      through the router (the server gets the socket itself) vs through socat and haproxy
#      relays. Goal >= 3x.
#   3. added latency per connection: wrk's p50 and p99 at 1 client, router minus direct.
#   4. bulk throughput through `socketbox-relay` (receiving from the router over A, relaying
#      to TCP) vs the socat relay. Goal >= 1x.
# Knobs: BENCH_ROUTER_REPS (5), BENCH_ROUTER_SECS (3), BENCH_ROUTER_MB (2000), BENCH_ROUTER_WORKERS (1).
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SB=${SOCKETBOX:-$ROOT/target/release/socketbox}
REPORT=${1:-/dev/stdout}
REPS=${BENCH_ROUTER_REPS:-5}
SECS=${BENCH_ROUTER_SECS:-3}
MB=${BENCH_ROUTER_MB:-2000}
WORKERS=${BENCH_ROUTER_WORKERS:-1}
say() { printf 'bench: router: %s\n' "$*" >&2; }

for p in wrk socat haproxy gcc; do
    command -v "$p" >/dev/null || { say "$p not installed (.ci/run installs it)"; exit 1; }
done
[ -x "$SB" ] || { say "$SB not built"; exit 1; }
W=$(mktemp -d /tmp/sbbench.XXXXXX) || exit 1
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$W"; }
trap cleanup EXIT
gcc -O2 -Wall -Wextra -o "$W/sbserve" "$ROOT/test-scripts/router/sbserve.c" || { say "compiling sbserve.c failed"; exit 1; }

free() { local p; while :; do p=$((20000 + RANDOM % 12000)); # below the ephemeral range (TIME_WAIT ports of earlier runs)
 ss -ltnH "( sport = :$p )" | grep -q . || { echo "$p"; return; }; done; }
start() { "$@" >"$W/log.$RANDOM" 2>&1 </dev/null & PIDS+=($!); LAST=$!; }
wait_port() { local i; for i in $(seq 500); do ss -ltnH "( sport = :$1 )" | grep -q . && return 0; sleep 0.02; done; say "port $1 never listened"; exit 1; }
wait_sock() { local i; for i in $(seq 500); do [ -S "$1" ] && return 0; sleep 0.02; done; say "$1 never appeared"; exit 1; }

# ---- servers
PD=$(free); start "$W/sbserve" http tcp "$PD"; wait_port "$PD"
start "$W/sbserve" http a "$W/http.sock"; wait_sock "$W/http.sock"
PR=$(free); start "$SB" -l 127.0.0.1 -p "$PR" -S "$W/http.sock" --workers "$WORKERS" --log-level warn; wait_port "$PR"
ROUTER_PID=$LAST

us() { # wrk latency value -> microseconds
    awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) print n; else if (v ~ /ms$/) print n * 1000; else if (v ~ /s$/) print n * 1000000; else print n }'
}
cpu_us() { # PID -> user+system CPU microseconds
    awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); print ($12 + $13) * 1000000 / hz }' "/proc/$1/stat"
}
wrk_run() { # PORT CONNS -> "rps p50us p99us router-cpu-us-per-connection"
    local t=1 out c0=0 c1=0
    [ "$2" -gt 1 ] && t=2
    [ "$1" = "$PR" ] && c0=$(cpu_us "$ROUTER_PID")
    out=$(wrk -t"$t" -c"$2" -d"${SECS}s" --latency -H 'Connection: close' "http://127.0.0.1:$1/" 2>&1)
    [ "$1" = "$PR" ] && c1=$(cpu_us "$ROUTER_PID")
    local rps p50 p99 errs reqs
    rps=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
    p50=$(us "$(awk '$1 == "50%" { print $2 }' <<<"$out")")
    p99=$(us "$(awk '$1 == "99%" { print $2 }' <<<"$out")")
    errs=$(awk '/Non-2xx|Socket errors/ { print }' <<<"$out")
    [ -n "$errs" ] && say "wrk port $1: $errs"
    reqs=$(awk '/ requests in / { print $1 }' <<<"$out")
    echo "$rps $p50 $p99 $(awk -v c="$((c1 - c0))" -v n="${reqs:-0}" 'BEGIN { if (n > 0) printf "%.2f", c / n; else print "nan" }')"
}
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

declare -A R
for rep in $(seq "$REPS"); do
    for c in 1 64; do
        order="direct router"; [ $((rep % 2)) = 0 ] && order="router direct"
        for v in $order; do
            port=$PD; [ "$v" = router ] && port=$PR
            read -r rps p50 p99 cpu < <(wrk_run "$port" "$c")
            say "rep $rep c=$c $v: $rps conn/s p50 ${p50}us p99 ${p99}us"
            R[$v.$c.rps]+="$rps "; R[$v.$c.p50]+="$p50 "; R[$v.$c.p99]+="$p99 "
            [ "$v" = router ] && R[router.$c.cpu]+="$cpu "
        done
    done
done
m() { tr ' ' '\n' <<<"${R[$1]}" | grep . | median; }

# ---- bulk
PS=$(free); start "$W/sbserve" sink tcp "$PS"; wait_port "$PS"
start "$W/sbserve" sink a "$W/sink.sock"; wait_sock "$W/sink.sock"
PRB=$(free); start "$SB" -l 127.0.0.1 -p "$PRB" -S "$W/sink.sock" --workers "$WORKERS" --log-level warn; wait_port "$PRB"
PSO=$(free); start socat "TCP-LISTEN:$PSO,bind=127.0.0.1,reuseaddr,fork" "TCP:127.0.0.1:$PS"; wait_port "$PSO"
PHA=$(free)
cat >"$W/ha.cfg" <<CONF
defaults
  mode tcp
  timeout connect 5s
  timeout client 60s
  timeout server 60s
listen relay
  bind 127.0.0.1:$PHA
  server s 127.0.0.1:$PS
CONF
start haproxy -db -f "$W/ha.cfg"; wait_port "$PHA"
ln -sf "$SB" "$W/socketbox-relay"
start "$W/socketbox-relay" -s "$W/relay.sock" -c ::ffff:127.0.0.1 -p "$PS"; wait_sock "$W/relay.sock"
PSR=$(free); start "$SB" -l 127.0.0.1 -p "$PSR" -S "$W/relay.sock" --workers "$WORKERS" --log-level warn; wait_port "$PSR"
for rep in $(seq "$REPS"); do
    for v in router socat haproxy direct sbrelay; do
        case $v in router) port=$PRB ;; socat) port=$PSO ;; haproxy) port=$PHA ;; direct) port=$PS ;; sbrelay) port=$PSR ;; esac
        x=$("$W/sbserve" bulk 127.0.0.1 "$port" "$MB" | sed -n 's/^mbps=//p')
        say "rep $rep bulk $v: ${x:-failed} MB/s"
        R[bulk.$v]+="${x:-nan} "
    done
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) print "n/a"; else printf "%.2f", a / b }'; }
met() { awk -v r="$1" -v g="$2" 'BEGIN { print (r + 0 >= g) ? "yes" : "NO" }'; }
{
    echo "socketbox router benchmark ($REPS reps, medians; $(nproc) CPUs; router workers=$WORKERS)"
    printf '%-44s %12s %12s %8s %6s %4s\n' "what" "baseline" "router" "ratio" "goal" "met"
    for c in 1 64; do
        d=$(m direct.$c.rps); r=$(m router.$c.rps); q=$(ratio "$r" "$d")
        printf '%-44s %12s %12s %8s %6s %4s\n' "connections/s, $c client(s) (direct vs router)" "$d" "$r" "$q" ">=0.9" "$(met "$q" 0.9)"
        printf '%-44s %12s %12s\n' "  router CPU us/connection, $c client(s)" "-" "$(m router.$c.cpu)"
    done
    rb=$(m bulk.router)
    for v in socat haproxy; do
        b=$(m bulk.$v); q=$(ratio "$rb" "$b")
        printf '%-44s %12s %12s %8s %6s %4s\n' "bulk MB/s, one connection ($v relay vs router)" "$b" "$rb" "$q" ">=3" "$(met "$q" 3)"
    done
    printf '%-44s %12s %12s\n' "bulk MB/s, direct (information)" "$(m bulk.direct)" "$rb"
    b=$(m bulk.socat); r=$(m bulk.sbrelay); q=$(ratio "$r" "$b")
    printf '%-44s %12s %12s %8s %6s %4s\n' "bulk MB/s, socketbox-relay (socat vs ours)" "$b" "$r" "$q" ">=1" "$(met "$q" 1)"
    for p in p50 p99; do
        d=$(m direct.1.$p); r=$(m router.1.$p)
        printf '%-44s %12s %12s %8s\n' "latency $p us, 1 client (direct, router; added)" "$d" "$r" "$(awk -v a="$r" -v b="$d" 'BEGIN { printf "+%.0f", a - b }')"
    done
} >"$REPORT"
