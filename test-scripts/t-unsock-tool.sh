#!/usr/bin/env bash
# unsock's library doubles as its control-file tool; ours too. libsockswap.so run as a program
# (no LD_PRELOAD anywhere) with unsock's variables writes the same 452 bytes as
# `sockswap control write` for each kind of file (vsock any / given CID, Firecracker proxy,
# TIPC), refuses to overwrite, prints a usage without UNSOCK_FILE, and names the variable in a
# one-line error for incomplete or malformed input. The written files also work: a vsock control
# file is decoded by `sockswap control show`.
. "$(dirname "$0")/lib.sh"
need_artifacts cli
LIB=$SOCKSWAP_LIB
B=$SOCKSWAP_BIN
cd "$T" || fail "cd $T"

# A program run by the kernel: the loader named in PT_INTERP, then the ELF entry point.
out=$(env -u LD_PRELOAD "$LIB" 2>&1) || fail "running $LIB without variables failed (status $?): $out"
grep -q '^usage: UNSOCK_FILE=' <<<"$out" || fail "no usage line: $out"
pass "usage printed, exit status 0"

tool() { env -u LD_PRELOAD "$@" "$LIB"; }
same() { # TOOL-FILE CLI-FILE WHAT
    [ "$(stat -c %s "$1")" = 452 ] || fail "$3: $1 is not 452 bytes"
    cmp "$1" "$2" || fail "$3: the library's file differs from sockswap control write's"
    [ "$(stat -c %a "$1")" = "$(stat -c %a "$2")" ] || fail "$3: modes differ"
    pass "$3: byte-identical to sockswap control write"
}

tool UNSOCK_FILE=v1.sock UNSOCK_VSOCK_PORT=5678 >v1.out || fail "vsock file (status $?)"
"$B" control write c1.sock --vsock any:5678 >/dev/null || fail "control write --vsock"
same v1.sock c1.sock "vsock CID any"
grep -q "port 5678" v1.out || fail "the tool did not explain what it wrote: $(cat v1.out)"

tool UNSOCK_FILE=v2.sock UNSOCK_VSOCK_PORT=1024 UNSOCK_VSOCK_CID=3 >/dev/null || fail "vsock cid 3"
"$B" control write c2.sock --vsock 3:1024 >/dev/null || fail "control write --vsock 3:1024"
same v2.sock c2.sock "vsock CID 3"

: >fc.sock.real
tool UNSOCK_FILE=f.sock UNSOCK_FC_SOCK=fc.sock.real UNSOCK_VSOCK_PORT=52 >/dev/null || fail "firecracker file"
"$B" control write cf.sock --hybrid fc.sock.real:52 >/dev/null || fail "control write --hybrid"
same f.sock cf.sock "Firecracker proxy (relative path made absolute)"
"$B" control show f.sock | grep -qF "$T/fc.sock.real" || fail "proxy path not absolute: $("$B" control show f.sock)"

tool UNSOCK_FILE=t.sock UNSOCK_TIPC_ADDRTYPE=2 UNSOCK_TIPC_SCOPE=2 UNSOCK_TIPC_TYPE=128 \
    UNSOCK_TIPC_LOWER=99 UNSOCK_TIPC_UPPER=0 >/dev/null || fail "tipc file"
"$B" control write ct.sock --tipc 2:2:128:99:0 >/dev/null || fail "control write --tipc"
same t.sock ct.sock "TIPC service 128 instance 99"
# struct sockaddr_tipc at offset 160: family 30, addrtype 2, scope 2, type 128, lower 99, upper 0.
assert_eq "1e000202800000006300000000000000" "$(od -An -tx1 -j160 -N16 t.sock | tr -d ' \n')" "sockaddr_tipc as unsock lays it out"

# Refusals: each one line, naming the variable; nothing written.
refuse() { # EXPECTED-PREFIX VAR=VALUE...
    local want=$1 err rc
    shift
    err=$(tool "$@" 2>&1 >/dev/null)
    rc=$?
    [ "$rc" = 2 ] || fail "[$*]: exit status $rc, expected 2 ($err)"
    [ "$(printf '%s\n' "$err" | wc -l)" = 1 ] || fail "[$*]: error is not one line: $err"
    case $err in "sockswap: $want"*) ;; *) fail "[$*]: error [$err] does not start with [sockswap: $want]" ;; esac
    pass "refused: $err"
}
refuse "UNSOCK_FILE: cannot create 'v1.sock'" UNSOCK_FILE=v1.sock UNSOCK_VSOCK_PORT=1
cmp v1.sock c1.sock || fail "the refused overwrite changed v1.sock"
refuse "UNSOCK_FILE: set, but no kind" UNSOCK_FILE=n.sock
refuse "UNSOCK_VSOCK_PORT: expected a number" UNSOCK_FILE=n.sock UNSOCK_VSOCK_PORT=12x
refuse "UNSOCK_TIPC_LOWER: not set" UNSOCK_FILE=n.sock UNSOCK_TIPC_ADDRTYPE=2 UNSOCK_TIPC_SCOPE=2 UNSOCK_TIPC_TYPE=128 UNSOCK_TIPC_UPPER=0
refuse "UNSOCK_FC_SOCK: needs UNSOCK_VSOCK_PORT" UNSOCK_FILE=n.sock UNSOCK_FC_SOCK=/x
[ ! -e n.sock ] || fail "a refused request created n.sock"

# Still a library: loading it into a program changes nothing when no rule is set.
assert_eq "ok" "$(env LD_PRELOAD="$LIB" sh -c 'echo ok')" "the runnable library still preloads"
