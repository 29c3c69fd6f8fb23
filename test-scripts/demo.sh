#!/usr/bin/env bash
# The main job, end to end: an unmodified python3 http.server that believes it listens on TCP
# port 8000 is served on a Unix socket; curl fetches from it natively over the Unix socket, and
# an unmodified curl that believes it connects to 127.0.0.1:8000 is moved onto it too.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
bin=${SOCKSWAP_BIN:-$repo/target/release/sockswap}
lib=${SOCKSWAP_LIB:-$repo/target/release/libsockswap.so}
work=$(mktemp -d /tmp/sockswap-demo.XXXXXX)
server=
cleanup() { [ -n "$server" ] && kill "$server" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

echo "hello from a TCP program on a Unix socket" > "$work/index.html"
sock="$work/http-8000.sock"

echo "# server: sockswap run -r 'in,tcp,port=8000,path=$work/http-%p.sock' -- python3 -m http.server 8000"
(cd "$work" && exec "$bin" run --lib "$lib" -r "in,tcp,port=8000,path=$work/http-%p.sock" -- \
    python3 -m http.server 8000 --bind 127.0.0.1) >"$work/server.log" 2>&1 &
server=$!

# Ready when a connect to the socket file succeeds (bounded: 10 s).
for _ in $(seq 200); do
  python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])' "$sock" 2>/dev/null && break
  kill -0 "$server" 2>/dev/null || { cat "$work/server.log"; exit 1; }
  sleep 0.05
done
ls -l "$sock"
if python3 -c 'import socket; socket.create_connection(("127.0.0.1", 8000), timeout=1)' 2>/dev/null; then
  echo "unexpected: TCP port 8000 is open"; exit 1
fi
echo "# TCP port 8000 is closed; the server lives only at $sock"

echo "# native Unix client: curl --unix-socket $sock http://localhost/index.html"
curl -sS --unix-socket "$sock" http://localhost/index.html

echo "# unmodified TCP client moved onto the socket: sockswap run -r 'out,addr=127.0.0.1,port=8000,path=...' -- curl http://127.0.0.1:8000/"
"$bin" run --lib "$lib" -r "out,addr=127.0.0.1,port=8000,path=$work/http-%p.sock" -- \
    curl -sS http://127.0.0.1:8000/index.html

echo "# the server saw (its log):"
grep -m2 'GET' "$work/server.log" || true
echo "demo OK"
