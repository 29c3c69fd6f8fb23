#!/usr/bin/env bash
# SOCKSWAP_LOG levels say what docs/configuration.md promises, counted line by line:
#  - warn (the default): nothing when all goes well;
#  - info: exactly one line per conversion (a server's bind, a client's connect);
#  - debug: also one decision line per bind/connect, naming every rule tried and why it did
#    not match ("why doesn't my rule match?"), also for a call no rule matches;
#  - trace: also one line per intercepted call on a converted socket, none for other sockets.
. "$(dirname "$0")/lib.sh"
need_artifacts
port=$(free_port)
other=$((port + 1))
rules="in,tcp,port=$other,path=$T/other.sock;tcp,port=$port,path=$T/app.sock"
for lvl in warn info debug trace; do
    "${PRE[@]}" SOCKSWAP_LOG=$lvl "SOCKSWAP_RULES=$rules" "$PYTHON" "$PROGS/log_levels.py" "$port" \
        >"$T/$lvl.out" 2>"$T/$lvl.err" || fail "$lvl: the program failed: $(cat "$T/$lvl.err")"
    grep -v '^sockswap\[[0-9]*\]: ' "$T/$lvl.err" && fail "$lvl: stderr lines not from the library"
done
count() { grep -c -- "$2" "$T/$1.err"; }

assert_eq 0 "$(grep -c '' "$T/warn.err")" "warn: lines when nothing goes wrong"

assert_eq 2 "$(grep -c '' "$T/info.err")" "info: one line per conversion ($(cat "$T/info.err"))"
assert_eq 1 "$(count info "info: fd [0-9]*: bind 127.0.0.1:$port -> $T/app.sock")" "info: the server's bind"
assert_eq 1 "$(count info "info: fd [0-9]*: connect 127.0.0.1:$port -> $T/app.sock")" "info: the client's connect"
pass "info: one line per conversion"

assert_eq 3 "$(count debug ': debug: fd [0-9]*: \(bind\|connect\) ')" "debug: one decision per bind/connect"
assert_eq 1 "$(count debug "debug: fd [0-9]*: bind 127.0.0.1:$port (tcp): rule 1 (in,tcp,port=$other,path=$T/other.sock) does not match: port $port is not in the rule's port=; rule 2 (tcp,port=$port,path=$T/app.sock) matches: converted")" \
    "debug: the bind's decision names rule 1, why it does not match, and rule 2 ($(cat "$T/debug.err"))"
assert_eq 1 "$(count debug "debug: fd [0-9]*: connect 127.0.0.1:$port (tcp): rule 1 .* does not match: the rule is for bind (in); rule 2 .* matches: converted")" \
    "debug: the connect's decision"
assert_eq 1 "$(count debug "debug: fd [0-9]*: bind 127.0.0.1:0 (tcp): rule 1 .* does not match: port 0 is not in the rule's port=; rule 2 .* does not match: port 0 is not in the rule's port=; no rule matches: stays TCP/IP")" \
    "debug: a bind no rule matches says so"
assert_eq 2 "$(count debug ': info: ')" "debug includes the info lines"
pass "debug: one decision line per bind/connect, with every rule tried"

tcp_fd=$(sed -n 's/^tcp-fd=//p' "$T/trace.out")
srv_fd=$(sed -n "s/.*: fd \([0-9]*\): bind 127.0.0.1:$port (tcp).*/\1/p" "$T/trace.err")
[ -n "$tcp_fd" ] && [ -n "$srv_fd" ] || fail "trace: fds not found ($(cat "$T/trace.err"))"
assert_eq 0 "$(count trace ": trace: fd $tcp_fd: ")" "trace: lines for the socket no rule converted"
assert_eq 1 "$(count trace ": trace: fd $srv_fd: listen\$")" "trace: the converted listener's listen"
assert_eq 1 "$(count trace ": trace: fd $srv_fd: getsockname\$")" "trace: the converted listener's getsockname"
assert_eq 1 "$(count trace ": trace: fd $srv_fd: accept4\?\$")" "trace: the converted listener's accept"
assert_eq 3 "$(count trace ": trace: fd [0-9]*: close\$")" "trace: the three converted sockets' close"
assert_eq 5 "$(grep -c ': \(info\|debug\): fd ' "$T/trace.err")" "trace includes the info and debug lines"
pass "trace: a line per call on a converted socket ($(count trace ': trace: ') lines), none for others"
