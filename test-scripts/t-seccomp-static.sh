#!/usr/bin/env bash
# Static and raw-syscall programs under the seccomp backend (no library can hook them):
#  (a) busybox's static nc as a server under an `in` rule (blocking accept in the supervisor)
#      and as a client under an `out` rule, through busybox sh: fork+exec children stay under
#      the filter;
#  (b) a static C client making its calls with syscall(SYS_socket/SYS_connect/...) sees
#      AF_INET names from getpeername/getsockname;
#  (c) exit status and death by signal pass through; io_uring_setup fails with ENOSYS;
#  (d) a set-user-ID program with rules is refused in one line unless --allow-bypass;
#  (e) the supervisor dies: the program gets errors, no hang;
#  (f) calls that wait in the supervisor (blocking accept, recvfrom) differentially against
#      the kernel: other threads' calls are answered meanwhile, and pthread_kill ends them
#      with EINTR or restarts them (SA_RESTART) as on real sockets.
. "$(dirname "$0")/lib.sh"
need busybox gcc socat ss
need_artifacts
BIN=$REPO_ROOT/target/seccomp-progs
"$TS_DIR/progs/seccomp/build.sh" "$BIN" || fail "building the test programs failed"
BB=$(command -v busybox)

# (a) server side: busybox nc -l, reached by a native Unix client
P=$(free_port) || exit 1
S=$T/nc.sock
printf 'reply from busybox\n' >"$T/down"
bg -i "$T/down" bbsrv "$SOCKSWAP_BIN" run --log info -r "in,tcp,port=$P,path=$S" -- "$BB" nc -l -p "$P"
SRV=$BG_PID
wait_unix_listening "$S" 15 "$SRV"
assert_contains "$T/bbsrv.err" "is a statically linked program: backend seccomp" "auto picks seccomp for busybox"
assert_tcp_not_listening "$P"
got=$(printf 'hello busybox\n' | timeout 10 socat -t 2 - "UNIX-CONNECT:$S") || fail "native client failed"
assert_eq "reply from busybox" "$got" "busybox nc server answered over the Unix socket"
wait_exit "$SRV" 10 || fail "busybox nc server did not exit"
assert_eq 0 "$WAIT_RC" "busybox nc server status"
assert_contains "$T/bbsrv.out" "hello busybox" "busybox nc server received the line"

# (a) client side through a static shell: sh forks, execs busybox nc twice
S2=$T/native.sock
P2=$(free_port) || exit 1
bg natsrv socat "UNIX-LISTEN:$S2,fork" SYSTEM:'cat; echo pong'
wait_unix_listening "$S2" 15 "$BG_PID"
out=$(timeout 20 "$SOCKSWAP_BIN" run -r "out,addr=127.0.0.1,port=$P2,path=$S2" -- "$BB" sh -c \
    "echo one | $BB nc 127.0.0.1 $P2; echo two | $BB nc 127.0.0.1 $P2; exit 5")
rc=$?
assert_eq 5 "$rc" "the shell's exit status passed through"
assert_eq "$(printf 'one\npong\ntwo\npong')" "$out" "forked and exec'd busybox nc children were converted"

# (b) raw syscalls
P3=$(free_port) || exit 1
out=$(timeout 20 "$SOCKSWAP_BIN" run -r "out,port=$P3,path=$S2" -- "$BIN/raw_client" 127.0.0.1 "$P3") ||
    fail "raw syscall client failed: $out"
case $out in
    "peer=127.0.0.1:$P3 local=127.0.0.1:"*"hello from raw"*pong*) pass "syscall(SYS_connect) converted, AF_INET names: $(echo $out)" ;;
    *) fail "raw client output [$out]" ;;
esac

# (c) signals and io_uring
rc=0
timeout 20 "$SOCKSWAP_BIN" run --backend seccomp -- "$BB" sh -c 'kill -9 $$' 2>/dev/null || rc=$?
assert_eq 137 "$rc" "death by SIGKILL passed through"
ign=$("$SOCKSWAP_BIN" run --backend seccomp -- "$BB" sed -n 's/^SigIgn:[[:space:]]*//p' /proc/self/status)
[ -n "$ign" ] && [ $(( 0x$ign & (1 << 12) )) -eq 0 ] || fail "SIGPIPE is ignored in the program (SigIgn $ign)"
pass "the program starts with SIGPIPE at its default (SigIgn $ign)"
out=$("$SOCKSWAP_BIN" run --backend seccomp -r 'in,reject' -- "$BIN/uring_probe")
assert_eq "io_uring_setup: ENOSYS" "$out" "io_uring is unavailable under the filter"

# (d) setuid
mkdir -p "$T/suid" && cp "$BB" "$T/suid/busybox" && chmod u+s "$T/suid/busybox"
rc=0
"$SOCKSWAP_BIN" run -r 'in,reject' -- "$T/suid/busybox" true 2>"$T/suid.err" || rc=$?
assert_eq 2 "$rc" "setuid program with rules refused"
assert_eq 1 "$(wc -l <"$T/suid.err")" "in one line"
assert_contains "$T/suid.err" "set-user-ID" "saying why"
"$SOCKSWAP_BIN" run --allow-bypass -r 'in,reject' -- "$T/suid/busybox" true 2>/dev/null ||
    fail "--allow-bypass should run it"
pass "setuid: refused, and run with --allow-bypass"

# (e) the supervisor dies: the program's trapped calls fail (ENOSYS), it does not hang
P4=$(free_port) || exit 1
bg orphan "$SOCKSWAP_BIN" run -r "out,port=$P4,path=$S2" -- "$BB" sh -c \
    "echo ready >$T/ready; while [ ! -e $T/go ]; do $BB sleep 0.05; done; $BB nc 127.0.0.1 $P4 </dev/null; echo \"status \$?\" >$T/after"
SUP=$BG_PID
wait_file "$T/ready" 15 "$SUP"
kill -KILL "$SUP"
wait_exit "$SUP" 10 || fail "sockswap did not die"
touch "$T/go"
wait_file "$T/after" 15 || fail "the program hung after its supervisor died"
assert_contains "$T/after" "status 1" "nc failed once the supervisor was gone"
assert_contains "$T/orphan.err" "Function not implemented" "its connect failed with ENOSYS"

# (f) blocking calls waiting in the supervisor, the same transcript as on real sockets
P5=$(free_port) || exit 1
P6=$(free_port) || exit 1
timeout 30 "$BIN/block_probe" "$P5" "$P6" >"$T/block.native" 2>&1 || fail "block_probe on real sockets failed: $(cat "$T/block.native")"
timeout 30 "$SOCKSWAP_BIN" run --log debug --backend seccomp -r "in,tcp,port=$P5,path=$T/b.sock" \
    -r "out,tcp,port=$P5,path=$T/b.sock" -r "udp,port=$P6,path=$T/u.sock" -- \
    "$BIN/block_probe" "$P5" "$P6" >"$T/block.seccomp" 2>"$T/block.err" ||
    fail "block_probe under the supervisor failed: $(cat "$T/block.seccomp" "$T/block.err" | tail -5)"
assert_eq "$(cat "$T/block.native")" "$(cat "$T/block.seccomp")" "blocking accept/recvfrom: same transcript as the kernel's"
assert_eq 6 "$(grep -c 'handled\|getsockname' "$T/block.seccomp")" "all probe steps ran"
assert_contains "$T/block.err" "bind 127.0.0.1:$P5 -> $T/b.sock" "the probe's listener was converted"
assert_contains "$T/block.err" "bind 127.0.0.1:$P6 -> $T/u.sock" "its UDP socket was converted"
