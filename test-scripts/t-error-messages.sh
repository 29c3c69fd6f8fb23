#!/usr/bin/env bash
# Mistakes at run time get ONE line from the library, naming the path or token and saying what
# is wrong in words (the errno's name and meaning, never "errno N"), and what to do where that
# is knowable; the program's call fails with the kernel's errno:
#  - a socket path in a directory that does not exist;
#  - a directory the program's user may not write;
#  - a templated path that expands too long for a Unix socket (a fixed one is refused when the
#    rules are parsed; this one fits for 127.0.0.1 and not for a long IPv6 address);
#  - a "B" registration the router never answers (its 5 s deadline);
#  - `socketbox socket-server` with its socket in a missing directory: one line, exit 2, as the
#    router's own setup mistakes.
. "$(dirname "$0")/lib.sh"
need setpriv
need_artifacts cli
chmod 755 "$T"
P=$(free_port)

one_line_in_words() { # LABEL FILE TEXT...: exactly one line, containing every TEXT, no "errno N"
    local label=$1 file=$2
    shift 2
    assert_eq 1 "$(grep -c '' "$file")" "$label: lines on stderr ($(cat "$file"))"
    grep -qE 'errno [0-9]|error [0-9]|os error' "$file" && fail "$label: a number instead of words: $(cat "$file")"
    local t
    for t in "$@"; do
        grep -qF -- "$t" "$file" || fail "$label: the message does not say [$t]: $(cat "$file")"
    done
    pass "$label: $(cat "$file")"
}

# missing directory
"${PRE[@]}" "SOCKSWAP_RULES=in,tcp,port=$P,path=$T/missing/http.sock" "$PYTHON" "$PROGS/bind_once.py" 4 127.0.0.1 "$P" \
    >"$T/m.out" 2>"$T/m.err"
assert_eq "bind ENOENT" "$(cat "$T/m.out")" "missing directory: the program's bind fails with ENOENT"
one_line_in_words "missing directory" "$T/m.err" "cannot bind $T/missing/http.sock" "ENOENT (No such file or directory)" \
    "directory $T/missing does not exist"

# permission
mkdir -m 755 "$T/ro"
"${PRE[@]}" "SOCKSWAP_RULES=in,tcp,port=$P,path=$T/ro/http.sock" setpriv --reuid 65534 --regid 65534 --clear-groups \
    "$PYTHON" "$PROGS/bind_once.py" 4 127.0.0.1 "$P" >"$T/p.out" 2>"$T/p.err"
assert_eq "bind EACCES" "$(cat "$T/p.out")" "permission: the program's bind fails with EACCES"
one_line_in_words "permission" "$T/p.err" "cannot bind $T/ro/http.sock" "EACCES (Permission denied)" \
    "uid 65534 may not create files in $T/ro" "owner uid 0" "mode 755"

# over-long templated path: fits for 127.0.0.1, not for a 39-character IPv6 address
pad=$(printf 'p%.0s' $(seq $((107 - ${#T} - 1 - 6 - 9 - 5))))
tpl="$T/$pad-%a.sock"
"${PRE[@]}" "SOCKSWAP_RULES=in,tcp,port=$P,path=$tpl" "$PYTHON" "$PROGS/bind_once.py" 4 127.0.0.1 "$P" >"$T/l4.out" 2>"$T/l4.err"
assert_eq "bind ok" "$(cat "$T/l4.out")" "the template fits for 127.0.0.1 ($(cat "$T/l4.err"))"
long_ip=fd00:1234:5678:9abc:def0:1234:5678:9abc
"${PRE[@]}" "SOCKSWAP_RULES=in,tcp,port=$P,path=$tpl" "$PYTHON" "$PROGS/bind_once.py" 6 "$long_ip" "$P" >"$T/l.out" 2>"$T/l.err"
assert_eq "bind ENAMETOOLONG" "$(cat "$T/l.out")" "over-long path: the program's bind fails with ENAMETOOLONG"
one_line_in_words "over-long templated path" "$T/l.err" "rule 1: '$tpl' expands to $T/$pad-$long_ip" \
    "more than the 107 a Unix socket name holds" "ENAMETOOLONG (File name too long)" "shorten the template"

# a "B" router that accepts the registration and never answers
cat >"$T/mute_api.py" <<'PY'
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.bind(sys.argv[1]); s.listen(4)
print("listening", flush=True)
conns = []
while True:
    c, _ = s.accept(); conns.append(c)  # read nothing, answer nothing
PY
bg mute "$PYTHON" -u "$T/mute_api.py" "$T/api"
wait_grep "$T/mute.out" '^listening' 10 "$BG_PID"
start=$(now_ms)
"${PRE[@]}" "SOCKSWAP_RULES=in,tcp,port=$P,socketbox-b=$T/api:3" "$PYTHON" "$PROGS/bind_once.py" 4 127.0.0.1 "$P" \
    >"$T/b.out" 2>"$T/b.err"
took=$(( $(now_ms) - start ))
assert_eq "bind EADDRNOTAVAIL" "$(cat "$T/b.out")" "B timeout: the program's bind fails with EADDRNOTAVAIL"
[ "$took" -ge 4500 ] && [ "$took" -le 15000 ] || fail "B timeout: the bind took $took ms, expected about 5 s"
one_line_in_words "B registration timeout" "$T/b.err" "cannot register slot 3 on the router's API socket $T/api" \
    "did not answer within 5 s" "EAGAIN (Resource temporarily unavailable)"

# socket-server's setup mistake: one line, in words, exit 2
rc=0
"${SOCKETBOX:-$REPO_ROOT/target/release/socketbox}" socket-server --listen "$T/nodir/host.sock" --allow tcp:8000 >"$T/ss.out" 2>"$T/ss.err" || rc=$?
assert_eq 2 "$rc" "socket-server with its socket in a missing directory: exit status"
one_line_in_words "socket-server setup" "$T/ss.err" "$T/nodir/host.sock" "ENOENT (No such file or directory)" \
    "directory $T/nodir does not exist"
