#!/usr/bin/env bash
# inetd mode: a program per connection with the socket on stdin/stdout, at most max_children at
# once (socketbox's inetd had no limit, S6): 6 connections to a target limited to 2 start 2
# children, 4 wait in the queue (status says so); released, all 6 are answered.
# Relay with a PROXY v2 header (and v1), understood by real consumers: nginx (proxy_protocol)
# and haproxy (accept-proxy) report the real client address the router saw.
. "$(dirname "$0")/lib.sh"
. "$TS_DIR/router/lib.sh"
need_router
need nginx haproxy curl

P=$(free_port); NG=$(free_port); HA=$(free_port)
cat >"$T/sb.toml" <<CONF
status = "$T/st"
[[listen]]
address = "127.0.0.1:$P"
[[spawn]]
name = "child"
argv = ["$PYTHON", "$RH/inetd_child.py", "$T/starts", "$T/release"]
max_children = 2
[[relay]]
name = "nginx"
to = "127.0.0.1:$NG"
proxy = "v2"
[[relay]]
name = "haproxy"
to = "127.0.0.1:$HA"
proxy = "v2"
[[relay]]
name = "haproxy1"
to = "127.0.0.1:$HA"
proxy = "v1"
[[relay]]
name = "plain"
to = "unix:$T/echo.sock"
[[rule_set]]
id = 0
rules = [
  { local = "127.0.0.1", to = "spawn:child" },
  { local = "127.0.0.2", to = "relay:nginx" },
  { local = "127.0.0.3", to = "relay:haproxy" },
  { local = "127.0.0.4", to = "relay:haproxy1" },
  { local = "127.0.0.5", to = "relay:plain" },
]
CONF
start_router router -f "$T/sb.toml" --listen "127.0.0.2:$P" --listen "127.0.0.3:$P" --listen "127.0.0.4:$P" --listen "127.0.0.5:$P"

: >"$T/starts"
bg clients "$PYTHON" -u "$RH/clients.py" 127.0.0.1 "$P" 6 --source 127.0.0.9
CL=$BG_PID
_q() { [ "$(counter "$T/st" spawn:child queued)" = 4 ]; }
_wait_until 10 "$ROUTER_PID" _q || fail "expected 4 connections queued behind the child limit: $(status_of "$T/st")"
_s() { [ "$(wc -l <"$T/starts")" = 2 ]; }
_wait_until 10 "" _s || fail "expected 2 children started: $(cat "$T/starts")"
assert_eq 2 "$(wc -l <"$T/starts")" "2 children run, 4 connections wait (child limit 2)"
touch "$T/release"
wait_exit "$CL" 30 || fail "inetd clients hung"
assert_eq "ok=6 closed=0 error=0" "$(tail -1 "$T/clients.out")" "all 6 answered once children exit"
assert_eq 6 "$(grep -c 'env_remote=127.0.0.9:[0-9]* peer=127.0.0.9:' "$T/clients.out")" "children see the real client on stdin's socket and in SOCKETBOX_REMOTE"
assert_eq 6 "$(wc -l <"$T/starts")" "6 children ran in all"

# nginx with proxy_protocol
mkdir -p "$T/ng"
cat >"$T/ng/nginx.conf" <<CONF
worker_processes 1;
pid $T/ng/nginx.pid;
error_log $T/ng/error.log;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path $T/ng; proxy_temp_path $T/ng; fastcgi_temp_path $T/ng; uwsgi_temp_path $T/ng; scgi_temp_path $T/ng;
  server {
    listen 127.0.0.1:$NG proxy_protocol;
    location / { return 200 "nginx saw client \$proxy_protocol_addr:\$proxy_protocol_port server \$proxy_protocol_server_addr:\$proxy_protocol_server_port\n"; }
  }
}
CONF
bg nginx nginx -c "$T/ng/nginx.conf" -g 'daemon off;'
wait_tcp_connectable "$NG" 10 "$BG_PID"
out=$(curl -s --max-time 10 --interface 127.0.0.9 "http://127.0.0.2:$P/")
echo "$out" | grep -q "^nginx saw client 127.0.0.9:[0-9]* server 127.0.0.2:$P$" || fail "nginx did not get the PROXY v2 addresses: [$out] $(cat "$T/ng/error.log")"
pass "relay + PROXY v2 -> nginx: $out"

cat >"$T/haproxy.cfg" <<CONF
global
  log stderr format raw local0 err
defaults
  mode http
  timeout connect 5s
  timeout client 10s
  timeout server 10s
frontend fe
  bind 127.0.0.1:$HA accept-proxy
  http-request return status 200 content-type text/plain lf-string "haproxy saw client %[src]:%[src_port] server %[dst]:%[dst_port]\n"
CONF
haproxy -c -f "$T/haproxy.cfg" >"$T/hacheck.out" 2>&1 || fail "haproxy config: $(cat "$T/hacheck.out")"
bg haproxy haproxy -db -f "$T/haproxy.cfg"
wait_tcp_connectable "$HA" 10 "$BG_PID"
out=$(curl -s --max-time 10 --interface 127.0.0.9 "http://127.0.0.3:$P/")
echo "$out" | grep -q "^haproxy saw client 127.0.0.9:[0-9]* server 127.0.0.3:$P$" || fail "haproxy did not get the PROXY v2 addresses: [$out]"
pass "relay + PROXY v2 -> haproxy: $out"
out=$(curl -s --max-time 10 --interface 127.0.0.9 "http://127.0.0.4:$P/")
echo "$out" | grep -q "^haproxy saw client 127.0.0.9:[0-9]* server 127.0.0.4:$P$" || fail "haproxy did not get the PROXY v1 addresses: [$out]"
pass "relay + PROXY v1 -> haproxy: $out"

# relay to a Unix stream address, no header, bulk both ways
bg echo socat "UNIX-LISTEN:$T/echo.sock,fork" EXEC:cat
wait_unix_listening "$T/echo.sock" 10 "$BG_PID"
randfile "$T/blob" 3000000
socat -u "OPEN:$T/blob" - 2>/dev/null | timeout 20 socat -t 5 - "TCP:127.0.0.5:$P" >"$T/blob.back"
assert_eq "$(sha "$T/blob")" "$(sha "$T/blob.back")" "3 MB echoed intact through a relay to a Unix address"
