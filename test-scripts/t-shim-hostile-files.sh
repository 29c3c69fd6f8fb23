#!/usr/bin/env bash
# Files the shim opens, made hostile (issue 13 item 4). Every program that loads the library
# with a bad SOCKSWAP_RULES_FILE must exit 121 with ONE line naming the problem, within a
# second, under a 256 MB address-space limit (prlimit --as), never hang or grow:
#  /dev/zero (endless), a 2 MiB regular file (past the 1 MiB bound), a FIFO with no writer
#  (would block the open, then the read, forever). Controls: the same rules through a pipe
#  (process substitution) and through a FIFO whose writer comes within the deadline load.
# Control files (unsock): a FIFO behind the socket file's symlink never blocks a bind.
. "$(dirname "$0")/lib.sh"
need prlimit mkfifo
need_artifacts

LIMIT=(prlimit --as=268435456)
bad_file() { # FILE EXPECTED-TEXT WHAT
    local t0 rc dt out
    t0=$(now_ms)
    out=$(SOCKSWAP_RULES_FILE=$1 timeout 10 "${LIMIT[@]}" env "LD_PRELOAD=$SOCKSWAP_LIB" /bin/true 2>&1)
    rc=$?
    dt=$(($(now_ms) - t0))
    assert_eq 121 "$rc" "$3: exit status (output: $out)"
    assert_eq 1 "$(printf '%s\n' "$out" | wc -l)" "$3: one line"
    case $out in "sockswap: SOCKSWAP_RULES_FILE: cannot read '$1': $2"*) ;; *) fail "$3: message: $out" ;; esac
    [ "$dt" -lt 1000 ] || fail "$3: took $dt ms"
    pass "$3: exit 121 in $dt ms: $out"
}
bad_file /dev/zero "longer than 1048576 bytes" "/dev/zero"
head -c 2097152 /dev/zero | tr '\0' '#' >"$T/big.rules"
bad_file "$T/big.rules" "longer than 1048576 bytes" "a 2 MiB rules file (comments only)"
mkfifo "$T/fifo"
bad_file "$T/fifo" "no data within 500 ms" "a FIFO with no writer"

# Controls: rules through pipes load (the converted bind proves the rule is in force).
RULE="in,tcp,addr=127.0.0.1,port=8080,path=$T/web.sock"
out=$(SOCKSWAP_RULES_FILE=<(echo "$RULE") timeout 10 "${LIMIT[@]}" "${PRE[@]}" \
    "$PYTHON" "$PROGS/py_probe.py" inet bind=127.0.0.1:8080 "exists=$T/web.sock" 2>&1)
expect_line "$out" "exists=$T/web.sock -> ok socket" "rules through process substitution (a pipe)"
rm -f "$T/web.sock"
( sleep 0.1; echo "$RULE" >"$T/fifo" ) &
out=$(SOCKSWAP_RULES_FILE=$T/fifo timeout 10 "${LIMIT[@]}" "${PRE[@]}" \
    "$PYTHON" "$PROGS/py_probe.py" inet bind=127.0.0.1:8080 "exists=$T/web.sock" 2>&1)
wait
expect_line "$out" "exists=$T/web.sock -> ok socket" "rules through a FIFO whose writer comes within the deadline"

# An unsock control file position holding a symlink to a FIFO with no writer: bind returns.
mkdir -p "$T/u"
mkfifo "$T/u/fifo"
ln -s "$T/u/fifo" "$T/u/7000.sock"
t0=$(now_ms)
out=$(UNSOCK_DIR=$T/u timeout 10 "${PRE[@]}" "$PYTHON" "$PROGS/py_probe.py" inet bind=127.175.0.0:7000 2>&1)
rc=$?
dt=$(($(now_ms) - t0))
[ "$rc" != 124 ] || fail "a bind over a FIFO behind a control-file symlink hung: $out"
case $out in *"bind=127.175.0.0:7000 -> "*) ;; *) fail "no bind result: $out" ;; esac
pass "a FIFO behind a control-file symlink does not block bind ($dt ms): $(printf '%s' "$out" | grep 'bind=')"

# `sockswap check -f` reads as the library does.
for f in /dev/zero "$T/fifo"; do
    t0=$(now_ms)
    out=$(timeout 10 "${LIMIT[@]}" "$SOCKSWAP_BIN" check -f "$f" 2>&1)
    rc=$?
    dt=$(($(now_ms) - t0))
    [ "$rc" != 0 ] && [ "$rc" != 124 ] || fail "sockswap check -f $f: status $rc: $out"
    assert_eq 1 "$(printf '%s\n' "$out" | wc -l)" "sockswap check -f $f: one line"
    [ "$dt" -lt 1000 ] || fail "sockswap check -f $f took $dt ms"
    pass "sockswap check -f $f: status $rc in $dt ms: $out"
done
