#!/usr/bin/env bash
# TIMEOUT: 300
# A dynamically linked Go program loads the library, but Go's runtime makes its socket system
# calls itself: no hook would ever see them. With rules in force the library refuses to run it
# (exit 121, one stderr line naming the reason and the way out) instead of letting it serve on
# TCP unconverted; without rules it runs untouched. (`sockswap run` is left to its own backend
# choice: its seccomp backend serves such programs.)
. "$(dirname "$0")/lib.sh"
need readelf ss
need_artifacts cli
prog=$(go_program listen)
readelf -lW "$prog" | grep -q INTERP || fail "$prog is not dynamically linked"
readelf -dW "$prog" | grep -q 'NEEDED.*libc' || fail "$prog does not load libc"

port=$(free_port)
# No rules: the library is loaded and lets the program be.
"${PRE[@]}" "$prog" "$port" >"$T/plain.out" 2>"$T/plain.err"
assert_eq 0 "$?" "Go program without rules under LD_PRELOAD: exit status ($(cat "$T/plain.err"))"
assert_contains "$T/plain.out" "listening 127.0.0.1:$port" "Go program without rules runs"

refused() { # LABEL CMD...: exit 121, no output, one stderr line naming the reason and the way out
    local label=$1
    shift
    "$@" >"$T/r.out" 2>"$T/r.err"
    local rc=$?
    assert_eq 121 "$rc" "$label: exit status (stderr: $(cat "$T/r.err"))"
    [ -s "$T/r.out" ] && fail "$label: main ran (stdout: $(cat "$T/r.out"))"
    assert_eq 1 "$(grep -c '' "$T/r.err")" "$label: stderr lines ($(cat "$T/r.err"))"
    for word in "$prog" "Go program" "without the C library" "seccomp" "sockswap run"; do
        grep -qF -- "$word" "$T/r.err" || fail "$label: the message does not say [$word]: $(cat "$T/r.err")"
    done
    assert_tcp_not_listening "$port"
    pass "$label: $(cat "$T/r.err")"
}
refused "LD_PRELOAD + SOCKSWAP_RULES" "${PRE[@]}" "SOCKSWAP_RULES=in,tcp,port=$port,path=$T/go.sock" "$prog" "$port"
printf 'in,tcp,port=%s,path=%s/go.sock\n' "$port" "$T" >"$T/rules"
refused "LD_PRELOAD + SOCKSWAP_RULES_FILE" "${PRE[@]}" "SOCKSWAP_RULES_FILE=$T/rules" "$prog" "$port"
refused "unsock variables" "${PRE[@]}" "UNSOCK_DIR=$T/u" UNSOCK_ADDR=127.0.0.1/32 "$prog" "$port"
[ -e "$T/go.sock" ] && fail "a socket file appeared for a refused Go program"
pass "dynamically linked Go programs are refused, not run unconverted"
