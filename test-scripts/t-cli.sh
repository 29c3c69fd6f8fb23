#!/usr/bin/env bash
# The sockswap command and the library's handling of bad configuration.
#  - `sockswap check` accepts the documented rule examples (exit 0, prints them), and rejects a bad
#    rule with exactly one stderr line naming the bad token, exit 2;
#  - `sockswap explain` picks the first matching rule and prints the expanded path
#    (%a %p %t %% placeholders, IPv4-mapped and non-canonical IPv6 addresses);
#  - `sockswap run` runs a program under -r / -f rules (a server reached over its Unix socket, a
#    client reaching a native server), passes the exit status through, and --log trace logs
#    `sockswap[PID]: ` lines;
#  - a program started by hand with malformed SOCKSWAP_RULES / SOCKSWAP_RULES_FILE / SOCKSWAP_LOG /
#    UNSOCK_* exits 121 before main, with one stderr line naming the variable and the token, and
#    `sockswap check` under the same environment prints the same line and exits 2.
. "$(dirname "$0")/lib.sh"
need socat ss sha256sum
need_artifacts cli
B=$SOCKSWAP_BIN

lines() { if [ -s "$1" ]; then wc -l <"$1"; else echo 0; fi; }
one_line() { # FILE: exactly one line (a missing final newline still counts as one line)
    [ "$(grep -c '' "$1")" -eq 1 ]
}

# ---- check: good rules
"$B" check -r 'in,tcp,port=8080,path=/run/app/http.sock' -r 'out,addr=127.0.0.1,port=6379,path=/run/redis.sock' \
    >"$T/c1.out" 2>"$T/c1.err"
rc=$?
assert_eq 0 "$rc" "check of two good rules: exit status (stderr: $(cat "$T/c1.err"))"
assert_contains "$T/c1.out" "/run/app/http.sock" "check prints rule 1's path"
assert_contains "$T/c1.out" "8080" "check prints rule 1's port"
assert_contains "$T/c1.out" "/run/redis.sock" "check prints rule 2's path"
assert_contains "$T/c1.out" "6379" "check prints rule 2's port"

for r in 'in,port=1000-1999,path=/tmp/svc/%a-%p.sock' 'out,addr=10.0.0.0/8,reject=ENETUNREACH' \
    'in,addr=::1,abstract=app-%p' 'in,port=22,ignore' 'in,reject' 'out,reject=111' 'in,addr=[::1],path=/x' \
    'in,udp,blackhole' 'in,from-unix=/tmp/*.sock,path=/tmp/new.sock' 'out,from-abstract=app-*,abstract=other' \
    'in,path=/tmp/a\,b.sock,noremove,mode=0660' 'in,tcp,addr=::ffff:127.0.0.1,port=80,path=/tmp/%t-%%.sock'; do
    "$B" check -r "$r" >"$T/ce.out" 2>"$T/ce.err"
    rc=$?
    [ "$rc" -eq 0 ] || fail "check rejected the valid rule [$r] (status $rc): $(cat "$T/ce.err")"
done
pass "check accepts the documented rule forms"

printf '# a comment\n\nin,port=1000-1999,path=/tmp/svc/%%a-%%p.sock\n  \n# another\nout,addr=10.0.0.0/8,reject=ENETUNREACH\n' >"$T/rules"
"$B" check -f "$T/rules" >"$T/c2.out" 2>"$T/c2.err"
assert_eq 0 "$?" "check -f with comments and blank lines: exit status ($(cat "$T/c2.err"))"
assert_contains "$T/c2.out" "/tmp/svc/%a-%p.sock" "check -f prints the file's rule"

# ---- check: bad rules
bad_rule() { # TOKEN-TO-NAME RULE... (empty TOKEN: only the shape of the error is checked)
    local tok=$1 args=() r rc
    shift
    for r in "$@"; do args+=(-r "$r"); done
    "$B" check "${args[@]}" >"$T/b.out" 2>"$T/b.err"
    rc=$?
    [ "$rc" -eq 2 ] || fail "check [$*]: exit status $rc, expected 2 (stderr: $(cat "$T/b.err"))"
    one_line "$T/b.err" || fail "check [$*]: expected exactly one stderr line, got $(lines "$T/b.err"): $(cat "$T/b.err")"
    [ -s "$T/b.out" ] && fail "check [$*]: printed rules although one is bad: $(cat "$T/b.out")"
    if [ -n "$tok" ]; then
        grep -qF -- "$tok" "$T/b.err" || fail "check [$*]: the error does not name [$tok]: $(cat "$T/b.err")"
    fi
    pass "check rejects [$*]: $(cat "$T/b.err")"
}
bad_rule 'prot=80' 'in,tcp,port=8080,path=/a' 'in,prot=80,path=/b'
bad_rule '70000' 'in,port=70000,path=/a'
bad_rule '300.1.1.1' 'out,addr=300.1.1.1,path=/a'
bad_rule 'EFOO' 'out,reject=EFOO'
bad_rule '999' 'in,path=/a,mode=999'
bad_rule '' 'in,port=5'
bad_rule '' 'in,path=/a,reject'
bad_rule '' 'out,blackhole'

# ---- explain
explain() { # EXPECT-IN-OUTPUT NOT-EXPECTED ARGS...
    local want=$1 unwanted=$2
    shift 2
    "$B" explain "$@" >"$T/e.out" 2>"$T/e.err"
    local rc=$?
    [ "$rc" -eq 0 ] || fail "explain $*: exit status $rc: $(cat "$T/e.err")"
    if [ -n "$want" ]; then
        grep -qF -- "$want" "$T/e.out" || fail "explain $*: [$want] not in output: $(cat "$T/e.out")"
    fi
    if [ -n "$unwanted" ]; then
        grep -qF -- "$unwanted" "$T/e.out" && fail "explain $*: [$unwanted] in output: $(cat "$T/e.out")"
    fi
    pass "explain $* -> $(tr '\n' ' ' <"$T/e.out")"
}
R1='in,port=1000-1999,path=/tmp/svc/%a-%p.sock'
R2='in,path=/tmp/other-%p.sock'
explain /tmp/svc/127.0.0.1-1234.sock /tmp/other-1234.sock -r "$R1" -r "$R2" 127.0.0.1 1234 in tcp
explain /tmp/other-2000.sock /tmp/svc/127.0.0.1-2000.sock -r "$R1" -r "$R2" 127.0.0.1 2000 in tcp
explain /tmp/other-1500.sock /tmp/svc/127.0.0.1-1500.sock -r "$R2" -r "$R1" 127.0.0.1 1500 in tcp
explain /run/redis-tcp.sock '' -r 'out,addr=127.0.0.1,port=6379,path=/run/redis-%t.sock' 127.0.0.1 6379 out tcp
explain /run/redis-udp.sock '' -r 'out,addr=127.0.0.1,port=6379,path=/run/redis-%t.sock' 127.0.0.1 6379 out udp
explain /x/127.0.0.1-80 '' -r 'in,addr=127.0.0.1,path=/x/%a-%p' ::ffff:127.0.0.1 80 in
explain /x/::1-80 '' -r 'in,addr=0:0:0:0:0:0:0:1,path=/x/%a-%p' 0:0:0:0:0:0:0:1 80 in
explain /x/100%-80 '' -r 'in,path=/x/100%%-%p' 127.0.0.1 80 in
explain /x/10.1.2.3-22 '' -r 'out,addr=10.0.0.0/8,path=/x/%a-%p' 10.1.2.3 22 out
explain '' /tmp/o-80 -r 'out,path=/tmp/o-%p' 127.0.0.1 80 in
explain '' /tmp/u-80 -r 'udp,path=/tmp/u-%p' 127.0.0.1 80 in tcp
explain '' /tmp/nomatch-2.sock -r 'in,port=1,path=/tmp/nomatch-%p.sock' 127.0.0.1 2 in

# ---- run
randfile "$T/up" 262144
P=$(free_port) || exit 1
S=$T/run.sock
bg runsrv "$B" run -r "in,tcp,addr=127.0.0.1,port=$P,path=$S" -- "$PYTHON" -u "$PROGS/py_sock_server.py" 127.0.0.1 "$P" 1
SRV=$BG_PID
wait_grep "$T/runsrv.out" '^ready=1' 10 "$SRV"
assert_unix_socket "$S"
assert_tcp_not_listening "$P"
assert_kv "$T/runsrv.out" sockname "127.0.0.1:$P"
printf 'out,tcp,addr=127.0.0.1,port=%s,path=%s\n' "$P" "$S" >"$T/client.rules"
timeout 30 "$B" run -f "$T/client.rules" --log trace -- "$PYTHON" "$PROGS/py_sock_client.py" 127.0.0.1 "$P" "$T/up" "$T/run.out" \
    >"$T/runcli.kv" 2>"$T/runcli.err" || fail "sockswap run -f client failed: $(tail -5 "$T/runcli.err")"
assert_eq "$(sha "$T/up")" "$(sha "$T/run.out")" "sockswap run: client under -f rules reached the server under -r rules"
grep -qE '^sockswap\[[0-9]+\]: ' "$T/runcli.err" ||
    fail "sockswap run --log trace: no 'sockswap[PID]: ' line on stderr: $(head -5 "$T/runcli.err")"
pass "--log trace logs: $(grep -E '^sockswap\[' "$T/runcli.err" | head -1)"
wait_exit "$SRV" 10 || fail "server under sockswap run did not exit"
assert_eq 0 "$WAIT_RC" "server under sockswap run: exit status"

out=$(timeout 20 "$B" run -r 'in,port=1,path=/tmp/x' -- sh -c 'echo "$LD_PRELOAD"; exit 7' 2>"$T/r7.err")
rc=$?
assert_eq 7 "$rc" "sockswap run passes the program's exit status through"
case $out in *libsockswap*) pass "sockswap run sets LD_PRELOAD ($out)" ;; *) fail "LD_PRELOAD under sockswap run: [$out]" ;; esac
[ -s "$T/r7.err" ] && fail "sockswap run with a valid rule wrote to stderr: $(cat "$T/r7.err")"
pass "nothing on stderr at the default log level"

# ---- malformed configuration by hand: exit 121 before main, one line naming the variable
bad_env() { # VAR TOKEN ENV-ASSIGNMENTS...
    local var=$1 tok=$2 rc
    shift 2
    timeout 20 env LD_PRELOAD="$SOCKSWAP_LIB" "$@" sh -c 'echo main-ran' >"$T/x.out" 2>"$T/x.err"
    rc=$?
    [ "$rc" -eq 121 ] || fail "[$*]: exit status $rc, expected 121 (stdout: $(cat "$T/x.out") stderr: $(cat "$T/x.err"))"
    [ -s "$T/x.out" ] && fail "[$*]: the program's main ran: $(cat "$T/x.out")"
    one_line "$T/x.err" || fail "[$*]: expected exactly one stderr line, got $(lines "$T/x.err"): $(cat "$T/x.err")"
    grep -qF -- "$var" "$T/x.err" || fail "[$*]: the error does not name $var: $(cat "$T/x.err")"
    grep -qF -- "$tok" "$T/x.err" || fail "[$*]: the error does not name [$tok]: $(cat "$T/x.err")"
    pass "[$*] -> 121: $(cat "$T/x.err")"
    # `sockswap check` reads the same variables and must give the same message, exit 2
    timeout 20 env "$@" "$B" check >"$T/xc.out" 2>"$T/xc.err"
    rc=$?
    [ "$rc" -eq 2 ] || fail "[$*] sockswap check: exit status $rc, expected 2 ($(cat "$T/xc.err"))"
    assert_eq "$(cat "$T/x.err")" "$(cat "$T/xc.err")" "[$*] sockswap check gives the library's message"
}
bad_env SOCKSWAP_RULES 'prot=80' SOCKSWAP_RULES='in,path=/tmp/a;in,prot=80,path=/tmp/b'
bad_env SOCKSWAP_RULES '1.2.3' SOCKSWAP_RULES='out,addr=1.2.3,path=/tmp/a'
printf '# ok\nin,port=1,path=/tmp/a\nin,bogus-option,path=/tmp/b\n' >"$T/bad.rules"
bad_env SOCKSWAP_RULES_FILE 'bogus-option' SOCKSWAP_RULES_FILE="$T/bad.rules"
bad_env SOCKSWAP_LOG 'loud' SOCKSWAP_LOG=loud
bad_env UNSOCK_MODE 'rwx' UNSOCK_DIR="$T/ud" UNSOCK_MODE=rwx
bad_env UNSOCK_ADDR '127.0.0.300' UNSOCK_DIR="$T/ud" UNSOCK_ADDR=127.0.0.300
bad_env UNSOCK_PORT '99999' UNSOCK_DIR="$T/ud" UNSOCK_PORT=99999
bad_env UNSOCK_DIR 'relative/dir' UNSOCK_DIR=relative/dir
# a rules file that cannot be read: its rules cannot be in force, so the program must not run
bad_env SOCKSWAP_RULES_FILE "$T/no-such.rules" SOCKSWAP_RULES_FILE="$T/no-such.rules"

# control: a valid configuration runs main normally
out=$(timeout 20 env LD_PRELOAD="$SOCKSWAP_LIB" SOCKSWAP_RULES='in,port=1,path=/tmp/x' sh -c 'echo main-ran' 2>"$T/ok.err")
rc=$?
assert_eq "0 main-ran" "$rc $out" "a valid SOCKSWAP_RULES runs the program"

# A relative SOCKSWAP_RULES_FILE is read from each process's working directory; `sockswap run`
# passes it on absolute, so a helper that changes directory still finds it.
mkdir -p "$T/rel" && printf 'in,tcp,port=8080,path=/tmp/x.sock\n' >"$T/rel/rules"
(cd "$T/rel" && SOCKSWAP_RULES_FILE=rules "$B" run --lib "$SOCKSWAP_LIB" -- sh -c 'cd / && sh -c "echo \$SOCKSWAP_RULES_FILE"') >"$T/rel.out" 2>"$T/rel.err"
assert_eq 0 "$?" "a helper that changed directory under a relative SOCKSWAP_RULES_FILE ($(cat "$T/rel.err"))"
assert_eq "$T/rel/rules" "$(cat "$T/rel.out")" "sockswap run passes the rules file on absolute"
(cd "$T/rel" && SOCKSWAP_RULES_FILE=rules "${PRE[@]}" sh -c 'cd / && sh -c true') 2>"$T/rel2.err"
assert_eq 121 "$?" "by hand, a relative rules file is looked up in the helper's own directory"
assert_contains "$T/rel2.err" "SOCKSWAP_RULES_FILE" "the refusal names the variable"
pass "relative rules files: resolved per process by hand, made absolute by sockswap run"

# A rules file that can be read only once (a pipe, `-f <(...)`): the program still gets the rules
# (the CLI passes what it read in SOCKSWAP_RULES), never an empty second read.
out=$("$B" run --lib "$SOCKSWAP_LIB" -f <(printf 'in,tcp,port=8080,path=/tmp/pipe.sock\n') -- sh -c 'echo "$SOCKSWAP_RULES"')
assert_eq "in,tcp,port=8080,path=/tmp/pipe.sock" "$out" "run -f <(pipe): the program gets the rules read from the pipe"
