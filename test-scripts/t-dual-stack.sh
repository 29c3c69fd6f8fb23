#!/usr/bin/env bash
# A dual-stack server binds 0.0.0.0:P and [::]:P (asyncio with host=None, redis' `bind * -::*`):
# both map to one path. The second bind must not replace the first socket's file (it is ours
# and may not be listening yet); it is blackholed, the first serves, and both report their names.
. "$(dirname "$0")/lib.sh"
need socat ss
need_artifacts

P=$(free_port) || exit 1
S=$T/dual-$P.sock
cat >"$T/dual.py" <<'PY'
import asyncio, socket, sys
port = int(sys.argv[1])
async def echo(r, w):
    w.write(b"dual " + await r.read(100)); await w.drain(); w.close()
async def main():
    # Like redis' `bind * -::*`: the IPv4 listener is listening before IPv6 binds the same path,
    # so a stale-file probe would see a live socket and fail the second bind with EADDRINUSE.
    s4 = socket.socket(socket.AF_INET); s4.bind(("0.0.0.0", port)); s4.listen()
    s6 = socket.socket(socket.AF_INET6); s6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s6.bind(("::", port)); s6.listen()
    servers = [await asyncio.start_server(echo, sock=s) for s in (s4, s6)]
    names = sorted(str(s.getsockname()[:2]) for s in (s4, s6))
    print("names=" + ";".join(names), flush=True)
    print("ready=1", flush=True)
    await asyncio.sleep(60)
asyncio.run(main())
PY
bg dual "${PRE[@]}" SOCKSWAP_RULES="in,tcp,path=$T/dual-%p.sock" "$PYTHON" -u "$T/dual.py" "$P"
wait_grep "$T/dual.out" '^ready=1' 10 "$BG_PID"
assert_unix_socket "$S"
assert_tcp_not_listening "$P"
grep -q "names=('0.0.0.0', $P);('::', $P)" "$T/dual.out" || fail "getsockname of both listeners: $(grep names= "$T/dual.out")"
pass "both listeners report their own names"
for i in 1 2 3; do
  out=$(printf 'hi%s' "$i" | timeout 5 socat -t 5 - "UNIX-CONNECT:$S") || fail "connect #$i to $S"
  assert_eq "dual hi$i" "$out" "connection #$i served through the shared path"
done
[ "$(find "$T" -maxdepth 1 -name 'dual-*.sock' | wc -l)" = 1 ] || fail "expected exactly one socket file"
pass "one socket file for the dual-stack pair"
