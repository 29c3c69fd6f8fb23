#!/usr/bin/env bash
# The router's built-in port-80 responder (`[[responder]] action = "https-redirect"`): curl gets
# a 301 to https://<Host><path> for IPv4 and IPv6 Host headers (the port dropped, the query kept);
# Certbot's webroot layout (WEBROOT/.well-known/acme-challenge/TOKEN) is served, GET and HEAD;
# a traversal attempt, a symlinked token and a symlinked challenge directory are refused (404);
# a request head over 8 KiB gets 431, a missing Host 400, a silent client 408 after 5 s; the
# status counts delivered and refused answers.
. "$(dirname "$0")/lib.sh"
. "$TS_DIR/router/lib.sh"
need_router
need curl

P=$(free_port)
W=$T/webroot
mkdir -p "$W/.well-known/acme-challenge" "$T/outside/acme-challenge"
printf 'tok3n-Value_1.thumbprint' >"$W/.well-known/acme-challenge/tok3n-Value_1"
echo secret >"$T/outside/secret"
echo secret >"$T/outside/acme-challenge/linked"
ln -s "$T/outside/secret" "$W/.well-known/acme-challenge/symlinked"
cat >"$T/sb.toml" <<CONF
status = "$T/status"
[[listen]]
address = "127.0.0.1:$P"
[[listen]]
address = "[::1]:$P"
[[responder]]
name = "port80"
action = "https-redirect"
webroot = "$W"
[[rule_set]]
id = 0
default = "responder:port80"
rules = []
CONF
"$SOCKETBOX" check -f "$T/sb.toml" >"$T/check.out" 2>&1 || fail "check: $(cat "$T/check.out")"
start_router router -f "$T/sb.toml"

hdrs() { curl -sS --max-time 10 -o /dev/null -D - "$@" | tr -d '\r'; }
out=$(hdrs "http://127.0.0.1:$P/some/path?x=1")
echo "$out" | grep -q '^HTTP/1.1 301 Moved Permanently$' || fail "no 301: $out"
echo "$out" | grep -qx "Location: https://127.0.0.1/some/path?x=1" || fail "IPv4 Host: $out"
pass "301 to https://127.0.0.1/some/path?x=1 (IPv4 Host, port dropped, query kept)"
out=$(hdrs -g "http://[::1]:$P/v6")
echo "$out" | grep -qx "Location: https://\[::1\]/v6" || fail "IPv6 Host: $out"
out=$(hdrs -H "Host: [2001:db8::7]:80" "http://127.0.0.1:$P/a")
echo "$out" | grep -qx "Location: https://\[2001:db8::7\]/a" || fail "IPv6 Host header: $out"
out=$(hdrs -H "Host: www.example.org" "http://127.0.0.1:$P/")
echo "$out" | grep -qx "Location: https://www.example.org/" || fail "name Host: $out"
pass "IPv6 Host headers ([::1], [2001:db8::7]:80) and names redirect with the right Location"

got=$(curl -sS --max-time 10 "http://127.0.0.1:$P/.well-known/acme-challenge/tok3n-Value_1")
assert_eq "tok3n-Value_1.thumbprint" "$got" "the ACME challenge file is served from Certbot's webroot layout"
out=$(curl -sS --max-time 10 -I "http://127.0.0.1:$P/.well-known/acme-challenge/tok3n-Value_1" | tr -d '\r')
echo "$out" | grep -q '^HTTP/1.1 200 OK$' && echo "$out" | grep -qx 'Content-Length: 24' || fail "HEAD: $out"
pass "HEAD of the challenge: 200 with its length"

code() { curl -sS --max-time 10 -o /dev/null -w '%{http_code}' "$@"; }
assert_eq 404 "$(code --path-as-is "http://127.0.0.1:$P/.well-known/acme-challenge/../../../outside/secret")" "a traversal attempt is refused"
assert_eq 404 "$(code "http://127.0.0.1:$P/.well-known/acme-challenge/symlinked")" "a symlinked token is not followed"
assert_eq 404 "$(code "http://127.0.0.1:$P/.well-known/acme-challenge/missing")" "a missing token is 404"
mv "$W/.well-known/acme-challenge" "$T/moved"
ln -s "$T/outside/acme-challenge" "$W/.well-known/acme-challenge"
assert_eq 404 "$(code "http://127.0.0.1:$P/.well-known/acme-challenge/linked")" "a symlinked challenge directory is not followed"

big=$("$PYTHON" - "$P" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
try:
    s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\nX-Pad: " + b"x" * 10000 + b"\r\n\r\n")
except OSError:
    pass
print(s.recv(100).split(b"\r\n")[0].decode())
PY
)
assert_eq "HTTP/1.1 431 Request Header Fields Too Large" "$big" "an oversized request head is refused"
nohost=$(printf 'GET / HTTP/1.0\r\n\r\n' | "$PYTHON" -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(sys.stdin.buffer.read()); print(s.recv(100).split(b"\r\n")[0].decode())' "$P")
assert_eq "HTTP/1.1 400 Bad Request" "$nohost" "a request without Host gets 400"
start=$(now_ms)
silent=$("$PYTHON" -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=15)
print(s.recv(100).split(b"\r\n")[0].decode())' "$P")
took=$(( $(now_ms) - start ))
assert_eq "HTTP/1.1 408 Request Timeout" "$silent" "a silent client gets 408"
[ "$took" -ge 4500 ] && [ "$took" -le 12000 ] || fail "the 408 came after $took ms, not about 5 s"
pass "the read deadline is 5 s ($took ms)"

delivered=$(counter "$T/status" responder:port80 delivered)
refused=$(counter "$T/status" responder:port80 refused)
assert_eq 6 "$delivered" "status: 6 answered requests (4 redirects, GET and HEAD of the challenge) counted delivered"
assert_eq 7 "$refused" "status: 7 refused requests counted refused"
grep -q 'event=refused target=responder:port80 .*symlink' "$T/router.err" || fail "no log line for the symlink refusal"
pass "refusals are logged with the reason"
