#!/usr/bin/env bash
# netcat-openbsd under the shim, both directions: 1 MiB client->server (checksum) and a line back.
# (Only a short reply flows to the connecting nc: nc.openbsd itself sometimes drops its last 16 KiB
# buffer when a Unix-socket peer closes while that buffer is full -- seen with no shim at all,
# about 1 run in 30 -- so a 1 MiB download into nc would make the test flaky for nc's sake.)
#  (a) `nc -l 127.0.0.1 P` moved onto a Unix socket by an `in` rule, reached by native `nc -U`;
#      nc -v reports the original address (getsockname) and a loopback peer in 32768-60999.
#  (b) `nc 127.0.0.1 P` moved by an `out` rule onto a native `nc -lU` server.
. "$(dirname "$0")/lib.sh"
need nc socat ss sha256sum
need_artifacts

randfile "$T/up" 1048576
printf "reply from the server %s\n" "$$" >"$T/down"

# (a) server side
P=$(free_port) || exit 1
S=$T/ncsrv.sock
bg -i "$T/down" ncsrv "${PRE[@]}" SOCKSWAP_RULES="in,tcp,port=$P,path=$S" nc -v -n -N -l 127.0.0.1 "$P"
SRV=$BG_PID
wait_unix_listening "$S" 15 "$SRV"
assert_unix_socket "$S"
assert_tcp_not_listening "$P"
timeout 30 nc -N -U "$S" <"$T/up" >"$T/a.out" || fail "native nc -U client failed (status $?)"
wait_exit "$SRV" 20 || fail "nc server did not exit after the connection closed"
assert_eq 0 "$WAIT_RC" "nc server exit status"
assert_eq "$(sha "$T/up")" "$(sha "$T/ncsrv.out")" "1 MiB client->server through the converted listener"
assert_eq "$(sha "$T/down")" "$(sha "$T/a.out")" "reply server->client through the converted listener"
assert_contains "$T/ncsrv.err" "Listening on 127.0.0.1 $P" "nc -v sees its bound address (getsockname)"
peer=$(sed -n 's/^Connection received on \([^ ]*\) \([0-9]*\)$/\1 \2/p' "$T/ncsrv.err")
[ "${peer% *}" = 127.0.0.1 ] && [ "${peer#* }" -ge 32768 ] && [ "${peer#* }" -le 60999 ] ||
    fail "accepted peer should be 127.0.0.1 with a port in 32768-60999, nc saw [$peer]"
pass "accepted peer is $peer"

# (b) client side
P2=$(free_port) || exit 1
S2=$T/ncnative.sock
bg -i "$T/down" ncnative nc -N -lU "$S2"
NAT=$BG_PID
wait_unix_listening "$S2" 15 "$NAT"
assert_tcp_not_listening "$P2"
timeout 30 "${PRE[@]}" SOCKSWAP_RULES="out,addr=127.0.0.1,port=$P2,path=$S2" \
    nc -N 127.0.0.1 "$P2" <"$T/up" >"$T/b.out" 2>"$T/b.err" ||
    fail "nc client under an out rule failed (status $?): $(cat "$T/b.err")"
wait_exit "$NAT" 20 || fail "native nc -lU server did not exit"
assert_eq "$(sha "$T/up")" "$(sha "$T/ncnative.out")" "1 MiB client->server through the converted client"
assert_eq "$(sha "$T/down")" "$(sha "$T/b.out")" "reply server->client through the converted client"
