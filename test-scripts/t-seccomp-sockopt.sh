#!/usr/bin/env bash
# Socket options and epoll registrations under the seccomp backend, with the kernel as the oracle: the C scenarios the
# shim passes (c-tests/), built static (no library could hook them), run under
# `sockswap run --backend seccomp` with the harness's rules given as -r options:
#  (a) scn_sockopt_differential: getsockopt of every SOL_SOCKET/IP/IPv6/TCP option with 4
#      buffer sizes, common setsockopt values read back, SIOCINQ/SIOCOUTQ/SIOCOUTQNSD, on a
#      real TCP/UDP socket and a converted one in every role and family: 0 differences;
#  (b) scn_getsockopt_identity, bug_i9_getsockopt;
#  (c) scn_sockopt_replay, scn_setsockopt_fail: options set before bind/connect (which the
#      supervisor never saw) are carried over to the Unix socket that replaces the TCP one, and
#      failed ones are not; scn_sockopt_carry_over: every option of the carried list, set
#      before the swap, reads back after it as on a real TCP/UDP socket;
#  (d) scn_epoll_before_bind, scn_epoll_mod_del, scn_dgram_nonblock_epoll,
#      scn_epoll_fork_before_bind: epoll registrations made before the swap survive it.
. "$(dirname "$0")/lib.sh"
need gcc
need_artifacts

scenario() { # NAME [RULES]: build static, run with RULES (default: its harness_preload("...") line)
    local name=$1 src=$REPO_ROOT/c-tests/$1.c rules dir args=() r
    gcc -O2 -Wall -pthread -static -o "$T/$name" "$src" 2>"$T/$name.cc" ||
        fail "$name: build failed: $(cat "$T/$name.cc")"
    rules=${2:-$(sed -n 's/^ *harness_preload("\(.*\)");.*/\1/p' "$src" | head -n 1)}
    [ -n "$rules" ] || fail "$name: no harness_preload rules found"
    dir=$T/$name.d
    mkdir -p "$dir"
    IFS=';' read -ra parts <<<"${rules//\{D\}/$dir}"
    for r in "${parts[@]}"; do args+=(-r "$r"); done
    if SOCKSWAP_TEST_CHILD=1 SOCKSWAP_TEST_DIR=$dir timeout 60 \
        "$SOCKSWAP_BIN" run --backend seccomp --log info "${args[@]}" -- "$T/$name" >"$T/$name.out" 2>&1; then
        pass "$name under the seccomp backend: $(grep -o '[0-9]* difference(s)' "$T/$name.out" || echo passed)"
    else
        fail "$name under the seccomp backend: $(head -c 3000 "$T/$name.out")"
    fi
    grep -o 'seccomp: [0-9]* trapped calls.*' "$T/$name.out" | sed 's/^/    /'
}

# (its rules span two lines in the source)
scenario scn_sockopt_differential "in,tcp,port=7201-7212,path={D}/%p.sock;out,tcp,port=7201-7212,path={D}/%p.sock;in,udp,port=7221-7222,path={D}/%p.sock;out,udp,port=7221-7222,path={D}/%p.sock"
for s in scn_getsockopt_identity bug_i9_getsockopt scn_sockopt_replay scn_setsockopt_fail scn_sockopt_carry_over scn_epoll_before_bind scn_epoll_mod_del scn_dgram_nonblock_epoll scn_epoll_fork_before_bind; do
    scenario "$s"
done
