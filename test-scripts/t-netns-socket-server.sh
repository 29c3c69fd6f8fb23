#!/usr/bin/env bash
# Sockets made in another network namespace (rule action netns=SERVER) by
# `socketbox socket-server` running in the test's (host) namespace:
#  (a) python3 http.server in an empty namespace (`unshare -n`) binds 127.0.0.1:P through the
#      server: the listener exists in the host namespace (ss shows it, owned by that pid), curl
#      from the host (source 127.0.0.51) gets the file and the server logs 127.0.0.51.
#  (b) connect: curl in an empty namespace reaches an http.server of the host namespace through
#      the server (and without the rule cannot: the control).
#  (c) the allow list: a port not allowed is refused with EACCES (connect and bind); a uid not
#      allowed (setpriv --reuid=65534, socket file mode 0666) is refused with EACCES; both logged.
#  (d) malformed and hostile requests (progs/netns_hostile.py: random bytes, bad magic, lengths,
#      a raw socket, a UDP socket on a TCP port, a bad family, oversize, silence) get an error
#      reply and never a socket; the server survives and (a)/(b) keep working.
#  (e) an attacker speaking the wire format (progs/netns_attack.py): a connect socket arrives
#      connected and cannot be re-bound, re-aimed (also after connect(AF_UNSPEC)), or turned
#      into a listener anyone reaches; a bound listener cannot connect out; MPTCP, SCTP,
#      UDP-Lite, ICMP, raw, AF_PACKET/NETLINK/UNIX refused; fds attached to a request refused;
#      1,000 idle clients: threads stay under the cap, idle ones disconnected after the timeout,
#      fds back to baseline; uid 65534 costs no thread; a secret port is never reached.
#  (f) the same under the seccomp backend: a static Go server binds, a static Go client and a
#      blocking python connect reach the host, refusals are ECONNREFUSED/EACCES.
# Server binary: $SOCKSWAP_ROUTER (default target/release/socketbox), command socket-server.
. "$(dirname "$0")/lib.sh"
. "$HELPERS/router_shim.sh"
need unshare setpriv curl ss go gcc
need_artifacts
[ -x "$ROUTER" ] || fail "socketbox not built: $ROUTER"
usage=$("$ROUTER" socket-server --help 2>&1)
case $usage in *"usage: socketbox socket-server"*) ;; *) fail "$ROUTER has no socket-server command: ${usage%%$'\n'*}" ;; esac
SYSPY=/usr/bin/python3 # readable by uid 65534 (the pyenv interpreter lives under /root)
need "$SYSPY"

P=$(free_port); Q=$(free_port); R=$(free_port); B=$(free_port); S=$(free_port)
while [ "$Q" = "$P" ]; do Q=$(free_port); done
while [ "$B" = "$P" ] || [ "$B" = "$Q" ] || [ "$B" = "$R" ]; do B=$(free_port); done
while [ "$S" = "$P" ] || [ "$S" = "$Q" ] || [ "$S" = "$R" ] || [ "$S" = "$B" ]; do S=$(free_port); done
MAXC=16
XS=$T/xs.sock
chmod 755 "$T" # uid 65534 must reach the socket file
bg xs "$ROUTER" socket-server --listen "$XS" --mode 0666 --allow "tcp:$P" --allow "tcp:$Q" \
    --allow "tcp:$B" --max-clients $MAXC --idle-timeout-ms 1000
XSPID=$BG_PID
wait_grep "$T/xs.err" "listening on $XS" 10 "$XSPID"
assert_eq 666 "$(stat -c %a "$XS")" "the server's socket file has mode 0666"

mkdir -p "$T/www"
echo "hello from the namespace" >"$T/www/hello.txt"
echo "hello from the host" >"$T/www/host.txt"

# (a) bind through the server
bg py "${NS[@]}" "${PRE[@]}" SOCKSWAP_RULES="in,tcp,port=$P,netns=$XS" \
    "$PYTHON" -u -m http.server "$P" --bind 127.0.0.1 --directory "$T/www"
SRV=$BG_PID
wait_grep "$T/py.out" "^Serving HTTP on 127\.0\.0\.1 port $P " 15 "$SRV"
assert_other_netns "$SRV"
wait_tcp_connectable "$P" 10 "$SRV"
ss -ltnpH "( sport = :$P )" | grep -q "pid=$SRV," ||
    fail "the listener on port $P in the host namespace is not the server's: $(ss -ltnpH "( sport = :$P )")"
pass "127.0.0.1:$P listens in the host namespace, owned by pid $SRV of another namespace"
fetch_a() {
    local got
    got=$(timeout 20 curl -sS -f --interface 127.0.0.51 "http://127.0.0.1:$P/hello.txt") ||
        fail "curl http://127.0.0.1:$P/hello.txt failed (status $?)"
    assert_eq "hello from the namespace" "$got" "$1: the host reaches the server in the empty namespace"
    wait_grep "$T/py.err" '^127\.0\.0\.51 - - .*"GET /hello.txt HTTP/1.1" 200' 10 "$SRV"
}
fetch_a "(a)"
pass "(a) http.server logged the real client 127.0.0.51"

# (b) connect through the server
bg host "$PYTHON" -u -m http.server "$Q" --bind 127.0.0.1 --directory "$T/www"
wait_tcp_connectable "$Q" 10 "$BG_PID"
if timeout 10 "${NS[@]}" curl -sS -o /dev/null "http://127.0.0.1:$Q/host.txt" 2>/dev/null; then
    fail "control: curl in an empty namespace reached 127.0.0.1:$Q without the shim"
fi
pass "control: without the rule, curl in an empty namespace cannot reach 127.0.0.1:$Q"
fetch_b() {
    local got
    got=$(timeout 20 "${NS[@]}" "${PRE[@]}" SOCKSWAP_RULES="out,tcp,port=$Q,netns=$XS" \
        curl -sS -f "http://127.0.0.1:$Q/host.txt" 2>"$T/b.err") ||
        fail "curl in an empty namespace with netns=: $(cat "$T/b.err")"
    assert_eq "hello from the host" "$got" "$1: curl in an empty namespace reaches the host's server"
}
fetch_b "(b)"

# (c) the allow list
out=$(timeout 20 "${NS[@]}" "${PRE[@]}" SOCKSWAP_RULES="out,tcp,port=$R,netns=$XS" \
    "$PYTHON" "$PROGS/py_probe.py" inet "connect=127.0.0.1:$R" 2>&1)
expect_line "$out" "connect=127.0.0.1:$R -> EACCES" "connect to a port not allowed"
out=$(timeout 20 "${NS[@]}" "${PRE[@]}" SOCKSWAP_RULES="in,tcp,port=$R,netns=$XS" \
    "$PYTHON" "$PROGS/py_probe.py" inet "bind=127.0.0.1:$R" 2>&1)
expect_line "$out" "bind=127.0.0.1:$R -> EACCES" "bind to a port not allowed"
assert_tcp_not_listening "$R"
assert_contains "$T/xs.err" "refused a request from uid 0: family 2 type 1 port $R is not on the allow list" \
    "the refusal is logged"
out=$(timeout 20 "${NS[@]}" setpriv --reuid=65534 --regid=65534 --clear-groups \
    env "LD_PRELOAD=$SOCKSWAP_LIB" SOCKSWAP_RULES="out,tcp,port=$Q,netns=$XS" \
    "$SYSPY" "$PROGS/py_probe.py" inet "connect=127.0.0.1:$Q" 2>&1)
expect_line "$out" "connect=127.0.0.1:$Q -> EACCES" "uid 65534 (not allowed) connecting to an allowed port"
assert_contains "$T/xs.err" "refused a connection from uid 65534: uid 65534 is not allowed" "the uid refusal is logged"

# (d) malformed and hostile requests
timeout 60 "$PYTHON" "$PROGS/netns_hostile.py" "$XS" "$Q" >"$T/hostile.out" 2>&1 ||
    fail "netns_hostile.py failed: $(cat "$T/hostile.out")"
n=0
while read -r case what rest; do
    case $case in
    valid)
        case "$what $rest" in
        "reply errno=0 fd=yes" | "reply errno=115 fd=yes") pass "(d) a valid connect after the hostile ones gets a socket, connected or connecting ($what $rest)" ;;
        *) fail "(d) a valid connect after the hostile ones: $what $rest" ;;
        esac
        ;;
    silent) ;;
    empty) assert_eq closed "$what" "(d) an empty record: the connection is closed" ;;
    *)
        case "$what $rest" in
        "reply errno="[1-9]*" fd=no") n=$((n + 1)) ;;
        *) fail "(d) $case: expected an error reply without a socket, got: $what $rest" ;;
        esac
        ;;
    esac
done <"$T/hostile.out"
pass "(d) $n malformed or disallowed requests answered with an errno and no socket: $(tr '\n' ';' <"$T/hostile.out")"
grep -q 'raw-socket reply errno=13 fd=no' "$T/hostile.out" || fail "(d) a raw socket request was not refused with EACCES"
pass "(d) a raw socket request is refused with EACCES"
_is_running "$XSPID" || fail "the socket server died"
fetch_a "(d) after the hostile requests"
fetch_b "(d) after the hostile requests"
_is_running "$SRV" || fail "the http.server in the namespace died"

# The server connects; its answer is the kernel's, as a blocking connect reports it.
out=$(timeout 20 "${NS[@]}" "${PRE[@]}" SOCKSWAP_RULES="out,tcp,port=$B,netns=$XS" \
    "$PYTHON" "$PROGS/py_probe.py" inet "connect=127.0.0.1:$B" 2>&1)
expect_line "$out" "connect=127.0.0.1:$B -> ECONNREFUSED" "a connect to an allowed port where nothing listens"

# (e) the attacker
timeout 120 "$PYTHON" "$PROGS/netns_attack.py" "$XS" "$XSPID" "$Q" "$B" "$S" $MAXC 1000 >"$T/attack.out" 2>&1 ||
    fail "(e) $(grep -m1 FAIL "$T/attack.out" || tail -3 "$T/attack.out")"
while read -r line; do pass "(e) ${line#ok }"; done <"$T/attack.out"
assert_contains "$T/xs.err" "refused a connection from uid 65534: uid 65534 is not allowed" "(e) the uid refusal is logged"
assert_contains "$T/xs.err" "refused a connection from uid 0: $MAXC clients are already being served" "(e) the cap is logged"
assert_contains "$T/xs.err" "refused a request from uid 0: the request carried file descriptors" "(e) attached fds are logged"
_is_running "$XSPID" || fail "the socket server died"
fetch_a "(e) after the attack"
fetch_b "(e) after the attack"

# (f) the seccomp backend (programs that bypass libc): a static Go HTTP server in an empty
#     namespace binds through the server and is reached from the host; a static Go client
#     (non-blocking connect: EINPROGRESS, then the handshake) and a blocking python connect in
#     an empty namespace reach the host's server; a refused connect is ECONNREFUSED.
GOBIN=$REPO_ROOT/target/seccomp-progs
"$TS_DIR/progs/seccomp/build.sh" "$GOBIN" || fail "(f) building the Go test programs failed"
bg gosrv "${NS[@]}" "$SOCKSWAP_BIN" run --log info -r "in,tcp,port=$B,netns=$XS" -- "$GOBIN/http_server_static" "127.0.0.1:$B"
GOSRV=$BG_PID
wait_tcp_connectable "$B" 15 "$GOSRV"
assert_contains "$T/gosrv.err" "backend seccomp" "(f) the Go server runs under the seccomp backend"
got=$(timeout 20 curl -sS --interface 127.0.0.51 "http://127.0.0.1:$B/") || fail "(f) curl to the Go server in the namespace failed"
case $got in
    *"remote=127.0.0.51:"*"local=127.0.0.1:$B"*) pass "(f) the host reached the Go server bound through the socket server: $got" ;;
    *) fail "(f) Go server answered [$got]" ;;
esac
out=$(timeout 20 "${NS[@]}" "$SOCKSWAP_BIN" run -r "out,tcp,port=$Q,netns=$XS" -- "$GOBIN/http_client_static" "http://127.0.0.1:$Q/host.txt" 2>&1) ||
    fail "(f) Go client in an empty namespace: $out"
case $out in
    "status=200 local=127.0.0.1:"*" remote=127.0.0.1:$Q"*"hello from the host") pass "(f) a static Go client in an empty namespace reached the host: $(echo $out)" ;;
    *) fail "(f) Go client output [$out]" ;;
esac
out=$(timeout 20 "${NS[@]}" "$SOCKSWAP_BIN" run --backend seccomp -r "out,tcp,port=$Q,netns=$XS" -- \
    "$PYTHON" "$PROGS/py_probe.py" inet "connect=127.0.0.1:$Q" 2>&1)
expect_line "$out" "connect=127.0.0.1:$Q -> ok" "(f) a blocking connect through the server under the seccomp backend"
kill "$GOSRV"
wait_exit "$GOSRV" 10 || fail "(f) the Go server did not exit"
out=$(timeout 20 "${NS[@]}" "$SOCKSWAP_BIN" run --backend seccomp -r "out,tcp,port=$B,netns=$XS" -- \
    "$PYTHON" "$PROGS/py_probe.py" inet "connect=127.0.0.1:$B" 2>&1)
expect_line "$out" "connect=127.0.0.1:$B -> ECONNREFUSED" "(f) a refused connect through the server under the seccomp backend"
out=$(timeout 20 "${NS[@]}" "$SOCKSWAP_BIN" run --backend seccomp -r "out,tcp,port=$R,netns=$XS" -- \
    "$PYTHON" "$PROGS/py_probe.py" inet "connect=127.0.0.1:$R" 2>&1)
expect_line "$out" "connect=127.0.0.1:$R -> EACCES" "(f) a port the server does not allow: EACCES"
