#!/usr/bin/env bash
# Python's http.server and urllib under the shim.
#  (a) `python3 -m http.server P --bind 127.0.0.1` moved by an `in` rule, fetched with
#      `curl --unix-socket` (1 MiB file checksum); its banner shows the bound address and port.
#      The same with port 0 and a %p path template: the banner shows a nonzero port and
#      that port's socket file serves.
#      And a dual-stack server (--bind ::, an AF_INET6 socket with IPV6_V6ONLY off):
#      banner shows ::, the client is logged as ::1 (peer = loopback of the listener's family).
#  (b) urllib.request.urlopen("http://127.0.0.1:P/...") moved by an `out` rule onto a native
#      AF_UNIX HTTP server.
. "$(dirname "$0")/lib.sh"
need curl socat ss sha256sum
need_artifacts

mkdir -p "$T/www"
randfile "$T/www/blob.bin" 1048576

# (a) fixed port
P=$(free_port) || exit 1
S=$T/pyhttp.sock
bg pyhttp "${PRE[@]}" SOCKSWAP_RULES="in,tcp,port=$P,path=$S" \
    "$PYTHON" -u -m http.server "$P" --bind 127.0.0.1 --directory "$T/www"
SRV=$BG_PID
wait_unix_connectable "$S" 10 "$SRV"
assert_unix_socket "$S"
assert_tcp_not_listening "$P"
timeout 30 curl -sS -f --unix-socket "$S" -o "$T/got" "http://127.0.0.1:$P/blob.bin" ||
    fail "curl --unix-socket to python http.server failed (status $?)"
assert_eq "$(sha "$T/www/blob.bin")" "$(sha "$T/got")" "1 MiB file served by http.server over the Unix socket"
wait_grep "$T/pyhttp.out" "Serving HTTP" 5 "$SRV"
assert_contains "$T/pyhttp.out" "Serving HTTP on 127.0.0.1 port $P (http://127.0.0.1:$P/)" \
    "http.server reports its original address and port (getsockname)"
stop_bg "$SRV"

# (a') port 0
bg pyhttp0 "${PRE[@]}" SOCKSWAP_RULES="in,tcp,addr=127.0.0.1,path=$T/hs-%p.sock" \
    "$PYTHON" -u -m http.server 0 --bind 127.0.0.1 --directory "$T/www"
SRV0=$BG_PID
wait_grep "$T/pyhttp0.out" "Serving HTTP on" 10 "$SRV0"
P0=$(sed -n 's/^Serving HTTP on 127\.0\.0\.1 port \([0-9]*\) .*/\1/p' "$T/pyhttp0.out")
[ -n "$P0" ] && [ "$P0" -gt 0 ] || fail "port-0 banner: $(cat "$T/pyhttp0.out")"
pass "bind to port 0 reported port $P0"
wait_unix_connectable "$T/hs-$P0.sock" 10 "$SRV0"
assert_tcp_not_listening "$P0"
timeout 30 curl -sS -f --unix-socket "$T/hs-$P0.sock" -o "$T/got0" "http://127.0.0.1:$P0/blob.bin" ||
    fail "curl to the port-0 server's socket failed (status $?)"
assert_eq "$(sha "$T/www/blob.bin")" "$(sha "$T/got0")" "port-$P0 socket file serves"
stop_bg "$SRV0"

# (a'') --bind ::, dual-stack wildcard [::]:P
P6=$(free_port) || exit 1
S6=$T/pyhttp6.sock
bg pyhttp6 "${PRE[@]}" SOCKSWAP_RULES="in,tcp,port=$P6,path=$S6" \
    "$PYTHON" -u -m http.server "$P6" --bind :: --directory "$T/www"
SRV6=$BG_PID
wait_unix_connectable "$S6" 10 "$SRV6"
assert_tcp_not_listening "$P6"
wait_grep "$T/pyhttp6.out" "Serving HTTP" 5 "$SRV6"
assert_contains "$T/pyhttp6.out" "Serving HTTP on :: port $P6 (http://[::]:$P6/)" "dual-stack http.server reports [::]:$P6"
timeout 30 curl -sS -f --unix-socket "$S6" -o "$T/got6" "http://localhost:$P6/blob.bin" ||
    fail "curl to the dual-stack server's socket failed (status $?)"
assert_eq "$(sha "$T/www/blob.bin")" "$(sha "$T/got6")" "1 MiB from the dual-stack server"
wait_grep "$T/pyhttp6.err" 'GET /blob.bin' 5 "$SRV6"
grep -q '^::1 - - .*"GET /blob.bin HTTP/1.1" 200' "$T/pyhttp6.err" ||
    fail "http.server should log the client as ::1: $(cat "$T/pyhttp6.err")"
pass "dual-stack server sees its client as ::1"
stop_bg "$SRV6"

# (b) urllib client
P2=$(free_port) || exit 1
S2=$T/native-http.sock
bg nathttp "$PYTHON" "$HELPERS/http_server.py" "$S2" "$T/www/blob.bin"
wait_unix_connectable "$S2" 10 "$BG_PID"
assert_tcp_not_listening "$P2"
cat >"$T/fetch.py" <<'PY'
import sys, urllib.request
port, out = sys.argv[1], sys.argv[2]
with urllib.request.urlopen("http://127.0.0.1:%s/body" % port, timeout=20) as r:
    open(out, "wb").write(r.read())
with urllib.request.urlopen("http://127.0.0.1:%s/req" % port, timeout=20) as r:
    sys.stdout.write(r.read().decode())
PY
timeout 30 "${PRE[@]}" SOCKSWAP_RULES="out,tcp,addr=127.0.0.1,port=$P2,path=$S2" \
    "$PYTHON" "$T/fetch.py" "$P2" "$T/urllib.bin" >"$T/urllib.req" 2>"$T/urllib.err" ||
    fail "urllib under an out rule failed (status $?): $(tail -5 "$T/urllib.err")"
assert_eq "$(sha "$T/www/blob.bin")" "$(sha "$T/urllib.bin")" "1 MiB fetched by urllib through the Unix socket"
assert_contains "$T/urllib.req" "Host: 127.0.0.1:$P2" "urllib's Host header reached the Unix server"
