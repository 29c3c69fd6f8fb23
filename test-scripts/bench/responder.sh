#!/usr/bin/env bash
# The router's built-in port-80 responder vs nginx answering the same redirect
# (`return 301 https://$host$request_uri;`): requests per second with wrk, one request per
# connection, at 16 concurrent clients. `make bench` runs it as the "responder" section; alone:
# test-scripts/bench/responder.sh [REPORT-FILE]. Ratio of medians; "met" is information.
# Knobs: BENCH_RESPONDER_REPS (5), BENCH_RESPONDER_SECS (3).
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SB=${SOCKETBOX:-$ROOT/target/release/socketbox}
REPORT=${1:-/dev/stdout}
REPS=${BENCH_RESPONDER_REPS:-5}
SECS=${BENCH_RESPONDER_SECS:-3}
say() { printf 'bench: responder: %s\n' "$*" >&2; }
for p in wrk nginx; do command -v "$p" >/dev/null || { say "$p not installed"; exit 1; }; done
W=$(mktemp -d /tmp/sbresp.XXXXXX) || exit 1
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$W"; }
trap cleanup EXIT
free() { local p; while :; do p=$((20000 + RANDOM % 12000)); ss -ltnH "( sport = :$p )" | grep -q . || { echo "$p"; return; }; done; }
wait_port() { local i; for i in $(seq 500); do ss -ltnH "( sport = :$1 )" | grep -q . && return 0; sleep 0.02; done; say "port $1 never listened"; exit 1; }

PN=$(free); PR=$(free)
mkdir -p "$W/nginx"
cat >"$W/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $W/nginx/pid;
error_log stderr warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $W/nginx; proxy_temp_path $W/nginx; fastcgi_temp_path $W/nginx;
  uwsgi_temp_path $W/nginx; scgi_temp_path $W/nginx;
  server { listen 127.0.0.1:$PN; keepalive_timeout 0; return 301 https://\$host\$request_uri; }
}
CONF
nginx -c "$W/nginx.conf" -p "$W/nginx" >"$W/nginx.log" 2>&1 </dev/null & PIDS+=($!)
cat >"$W/sb.toml" <<CONF
workers = 1
[[listen]]
address = "127.0.0.1:$PR"
[[responder]]
name = "port80"
action = "https-redirect"
[[rule_set]]
id = 0
default = "responder:port80"
rules = []
CONF
"$SB" -f "$W/sb.toml" --log-level warn >"$W/sb.log" 2>&1 </dev/null & PIDS+=($!)
wait_port "$PN"; wait_port "$PR"
for port in "$PN" "$PR"; do
    loc=$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' "http://127.0.0.1:$port/x")
    [ "$loc" = "301 https://127.0.0.1/x" ] || { say "port $port answered '$loc', not the redirect"; exit 1; }
done

run() { wrk -t2 -c16 -d"${SECS}s" -H 'Connection: close' "http://127.0.0.1:$1/x" 2>&1 | awk '/^Requests\/sec:/ { print $2 }'; }
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
N="" R=""
for rep in $(seq "$REPS"); do
    n=$(run "$PN"); r=$(run "$PR")
    say "rep $rep: nginx $n req/s, router responder $r req/s"
    N+="$n"$'\n'; R+="$r"$'\n'
done
n=$(grep . <<<"$N" | median); r=$(grep . <<<"$R" | median)
q=$(awk -v a="$r" -v b="$n" 'BEGIN { if (b + 0 == 0) print "n/a"; else printf "%.2f", a / b }')
{
    echo "port-80 responder benchmark ($REPS reps of ${SECS}s, medians, 16 clients, a new connection per request)"
    printf '%-44s %12s %12s %8s\n' "redirects/s (nginx return 301 vs router)" "$n" "$r" "$q"
} >"$REPORT"
