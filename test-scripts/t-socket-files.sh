#!/usr/bin/env bash
# Socket-file rules, seen through python programs under the shim:
#  - a live socket file at the path: bind fails with EADDRINUSE and the live server keeps serving;
#  - a stale socket file (nothing accepts) is replaced; a regular file is never replaced (EADDRINUSE);
#  - the file is unlinked when the listener is closed, only after the last dup is closed, never by
#    a forked child's close or a subprocess; `noremove` keeps it; `mode=0660` chmods it;
#  - connect to a missing or dead socket file fails with ECONNREFUSED;
#  - a bind to ::ffff:127.0.0.1 matches addr=127.0.0.1 and %a expands to 127.0.0.1.
. "$(dirname "$0")/lib.sh"
need socat ss
need_artifacts
P=$(free_port) || exit 1
A=127.0.0.1:$P

# live socket file
bg live "$PYTHON" "$HELPERS/echo_server.py" "$T/live.sock"
LIVE=$BG_PID
wait_unix_connectable "$T/live.sock" 10 "$LIVE"
out=$(probe "in,tcp,port=$P,path=$T/live.sock" inet "bind=$A" listen)
expect_line "$out" "bind=$A -> EADDRINUSE" "bind onto a live socket file"
out=$(printf 'still-live' | timeout 20 "$PYTHON" "$HELPERS/uclient.py" "$T/live.sock")
assert_eq still-live "$out" "the live server still serves its socket file"

# stale socket file: replaced, and served
"$PYTHON" -c 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$T/stale.sock"
[ -S "$T/stale.sock" ] || fail "could not make a stale socket file"
bg stale "${PRE[@]}" SOCKSWAP_RULES="in,tcp,port=$P,path=$T/stale.sock" "$PYTHON" "$PROGS/py_probe.py" inet "bind=$A" listen ready echo-once
ST=$BG_PID
wait_grep "$T/stale.out" '^ready -> ok' 10 "$ST"
expect_line "$(cat "$T/stale.out")" "bind=$A -> ok" "bind over a stale socket file"
out=$(printf 'replaced' | timeout 20 "$PYTHON" "$HELPERS/uclient.py" "$T/stale.sock") || fail "client to the replaced socket failed"
assert_eq replaced "$out" "the stale file was replaced by a live listener"
wait_exit "$ST" 10

# regular file: never replaced
printf 'precious\n' >"$T/regular.sock"
out=$(probe "in,tcp,port=$P,path=$T/regular.sock" inet "bind=$A" listen)
expect_line "$out" "bind=$A -> EADDRINUSE" "bind onto a regular file"
assert_eq precious "$(cat "$T/regular.sock")" "the regular file is untouched"

# unlink on close, dups, noremove, mode
S=$T/f.sock
out=$(probe "in,tcp,port=$P,path=$S" inet "bind=$A" listen "exists=$S" close "exists=$S")
expect_line "$out" "bind=$A -> ok" "bind"
assert_eq "exists=$S -> ok socket|close -> ok|exists=$S -> ok missing" \
    "$(printf '%s\n' "$out" | tail -n 3 | paste -sd'|')" "socket file removed when the listener is closed"
out=$(probe "in,tcp,port=$P,path=$S" inet "bind=$A" listen dup close "exists=$S" close-dup "exists=$S")
assert_eq "close -> ok|exists=$S -> ok socket|close-dup -> ok|exists=$S -> ok missing" \
    "$(printf '%s\n' "$out" | tail -n 4 | paste -sd'|')" "removed only when the last dup is closed"
out=$(probe "in,tcp,port=$P,path=$S,noremove" inet "bind=$A" listen close "exists=$S")
expect_line "$out" "exists=$S -> ok socket" "noremove keeps the file after close"
rm -f "$S"
out=$(probe "in,tcp,port=$P,path=$S,mode=0660" inet "bind=$A" "mode=$S" listen)
expect_line "$out" "mode=$S -> ok 660" "mode=0660"
[ -e "$S" ] && rm -f "$S"

# a forked child's close and a subprocess never remove the parent's file
bg forker "${PRE[@]}" SOCKSWAP_RULES="in,tcp,port=$P,path=$S" "$PYTHON" "$PROGS/py_probe.py" \
    inet "bind=$A" listen dup fork-close spawn "exists=$S" ready echo-once
FK=$BG_PID
wait_grep "$T/forker.out" '^ready -> ok' 10 "$FK"
expect_line "$(cat "$T/forker.out")" "fork-close -> ok" "fork, child closes the listener"
expect_line "$(cat "$T/forker.out")" "spawn -> ok" "subprocess.run"
expect_line "$(cat "$T/forker.out")" "exists=$S -> ok socket" "file still there after the child's close and a subprocess"
out=$(printf 'after-fork' | timeout 20 "$PYTHON" "$HELPERS/uclient.py" "$S") || fail "client after fork failed"
assert_eq after-fork "$out" "the parent still serves after fork/subprocess"
wait_exit "$FK" 10

# connect to a missing or dead socket file
out=$(probe "out,tcp,addr=127.0.0.1,port=$P,path=$T/missing.sock" inet "connect=$A")
expect_line "$out" "connect=$A -> ECONNREFUSED" "connect to a missing socket file"
out=$(probe "out,tcp,addr=127.0.0.1,port=$P,path=$T/stale2.sock" unix "bind=$T/stale2.sock" inet "connect=$A")
[ -S "$T/stale2.sock" ] || fail "could not make a dead socket file"
expect_line "$out" "connect=$A -> ECONNREFUSED" "connect to a dead socket file"

# IPv4-mapped bind matches addr=127.0.0.1; %a prints IPv4
out=$(probe "in,tcp,addr=127.0.0.1,port=$P,path=$T/m-%a-%p.sock" inet6 "bind=[::ffff:127.0.0.1]:$P" listen name "exists=$T/m-127.0.0.1-$P.sock")
expect_line "$out" "bind=[::ffff:127.0.0.1]:$P -> ok" "bind to ::ffff:127.0.0.1"
expect_line "$out" "name -> ok ::ffff:127.0.0.1:$P" "getsockname of the mapped listener"
expect_line "$out" "exists=$T/m-127.0.0.1-$P.sock -> ok socket" "%a of a mapped address expands to 127.0.0.1"
