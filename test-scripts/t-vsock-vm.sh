#!/usr/bin/env bash
# AF_VSOCK and hybrid vsock in a real guest VM (QEMU TCG + vhost-device-vsock, recipe in
# test-scripts/vm/): unmodified TCP programs under the shim, on both sides.
#   1  guest `python3 -m http.server` (bind → AF_VSOCK) fetched by host curl (hybrid vsock)
#   2  guest curl reaches a host HTTP server through AF_VSOCK CID 2
#   3  8 MiB each way with a checksum (guest → host, host → guest)
#   4  AF_VSOCK loopback (CID 1) inside the guest, server and client under the shim
#   5  control files written by `sockswap control write` drive the same connections as rules
#      (hybrid on the host, vsock connect and vsock bind in the guest)
#   6  no guest listener: the hybrid handshake is refused → ECONNREFUSED (blocking, and through
#      SO_ERROR non-blocking), the program's fd stays valid and connects again; in the guest,
#      an AF_VSOCK connect to a port without listener is refused the same way
#   +  UNSOCK_ACCEPT_CONVERT_VSOCK in the guest
#   8  the seccomp backend (static programs, no library): a guest Go HTTP server bound to
#      AF_VSOCK fetched by the host's static Go client through hybrid vsock; guest static Go
#      client and busybox nc reach the host through CID 2; a refused vsock port
# Setup (apt/cargo, ~90 s the first time) is cached in ${SOCKSWAP_VM_CACHE:-/var/cache/sockswap-vm}.
. "$(dirname "$0")/lib.sh"
. "$TS_DIR/vm/vm.sh"
need curl ss go gcc busybox
need_artifacts cli
SECC=$REPO_ROOT/target/seccomp-progs
"$TS_DIR/progs/seccomp/build.sh" "$SECC" || fail "building the static test programs failed"
t_start=$(now_ms)
vm_setup
SHIM=("${PRE[@]}")

# --- host side: content, services, control files
mkdir -p "$VM_WORK/www" "$T/hostwww" "$VM_WORK/unsock-g" "$T/unsock-h"
echo "served by the guest $RANDOM" >"$VM_WORK/www/hello.txt"
echo "served by the host $RANDOM" >"$T/hostwww/host.txt"
# The host HTTP server is itself a TCP program under the shim, listening where guest
# connections to CID 2 port 6000 arrive.
bg hosthttp "${SHIM[@]}" SOCKSWAP_RULES="in,port=8100,path=$VM_RUN/vm.vsock_6000" \
    "$PYTHON" -m http.server 8100 --bind 127.0.0.1 --directory "$T/hostwww"
bg hostecho "$PYTHON" "$HELPERS/xfer.py" serve --unix "$VM_RUN/vm.vsock_6001"
wait_unix_listening "$VM_RUN/vm.vsock_6000" 10 "${BG_PIDS[0]}"
wait_unix_listening "$VM_RUN/vm.vsock_6001" 10 "${BG_PIDS[1]}"
"$SOCKSWAP_BIN" control write "$VM_WORK/unsock-g/8100.sock" --vsock host:6000 >/dev/null ||
    fail "sockswap control write --vsock"
"$SOCKSWAP_BIN" control write "$VM_WORK/unsock-g/8300.sock" --vsock any:8301 \
    --sockopt socket:SO_RCVBUF:131072 >/dev/null || fail "sockswap control write (bind file)"
"$SOCKSWAP_BIN" control write "$T/unsock-h/8000.sock" --hybrid "$VM_RUN/vm.vsock:8000" >/dev/null ||
    fail "sockswap control write --hybrid"
"$SOCKSWAP_BIN" control show "$T/unsock-h/8000.sock" >"$T/show.txt"
assert_contains "$T/show.txt" "CONNECT 8000" "sockswap control show explains the hybrid file"

cat >"$VM_WORK/env" <<ENV
SOCKSWAP_LIB='$SOCKSWAP_LIB'
SOCKSWAP_BIN='$SOCKSWAP_BIN'
SECC='$SECC'
PYTHON='$PYTHON'
HELPERS='$HELPERS'
ENV
printf '#!/bin/sh\nexport VM_WORK=%s\nexec bash %s\n' "$VM_WORK" "$TS_DIR/vm/guest-vsock.sh" \
    >"$VM_WORK/guest-test"
chmod +x "$VM_WORK/guest-test"

t_boot=$(now_ms)
vm_start "$VM_WORK/guest-test"
wait_file "$VM_WORK/servers-ready" 90 "$VM_PID"
echo "# guest servers ready $(( $(now_ms) - t_boot )) ms after boot started"
[ -e "$VM_WORK/g-errors" ] && soft_fail "guest: $(cat "$VM_WORK/g-errors")"
for p in 8000 9000 9100 8300 8400; do
    if awk -v p=":$p\$" '$4 ~ p { f = 1 } END { exit !f }' "$VM_WORK/g-ss-tcp.txt"; then
        soft_fail "guest: a TCP listener exists on port $p (the shim did not convert the bind)"
    fi
done
pass "guest servers listen on AF_VSOCK only (no TCP listener on 8000/9000/9100/8300/8400)"

HYB=(env "LD_PRELOAD=$SOCKSWAP_LIB" "SOCKSWAP_RULES=out,addr=127.0.0.1,port=8000-9999,hybrid-vsock=$VM_RUN/vm.vsock")

# (1) host curl → guest http.server through the hybrid socket
if "${HYB[@]}" curl -sS --max-time 20 -o "$T/a1.out" http://127.0.0.1:8000/hello.txt 2>"$T/a1.err" &&
    cmp -s "$T/a1.out" "$VM_WORK/www/hello.txt"; then
    pass "1: host curl (hybrid vsock) fetched the guest http.server's file"
else
    soft_fail "1: host curl through hybrid vsock: $(cat "$T/a1.err" "$T/a1.out" 2>/dev/null | head -c 300)"
fi

# (6) no guest listener on 8001: refused, fd valid, same fd connects again
cat >"$T/refused.py" <<'PY'
import errno, os, select, socket, sys
bad, good = int(sys.argv[1]), int(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
try:
    s.connect(("127.0.0.1", bad))
    sys.exit("blocking connect to a port without guest listener succeeded")
except ConnectionRefusedError:
    pass
except OSError as e:
    sys.exit(f"blocking: expected ECONNREFUSED, got {e!r}")
os.fstat(s.fileno())
assert s.getsockopt(socket.SOL_SOCKET, socket.SO_DOMAIN) == socket.AF_INET, "SO_DOMAIN"
s.connect(("127.0.0.1", good))
s.sendall(b"GET /hello.txt HTTP/1.0\r\n\r\n")
reply = b""
while chunk := s.recv(65536):
    reply += chunk
assert reply.startswith(b"HTTP/1.0 200"), reply[:100]
n = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
n.setblocking(False)
fd = n.fileno()
rc = n.connect_ex(("127.0.0.1", bad))
if rc == errno.EINPROGRESS:
    select.select([], [n], [], 20)
    rc = n.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
if rc != errno.ECONNREFUSED:
    sys.exit(f"non-blocking: expected ECONNREFUSED, got {errno.errorcode.get(rc, rc)}")
os.fstat(fd)
assert n.fileno() == fd and n.getsockopt(socket.SOL_SOCKET, socket.SO_TYPE) == socket.SOCK_STREAM
print("ok")
PY
if "${HYB[@]}" "$PYTHON" "$T/refused.py" 8001 8000 >"$T/a6.out" 2>&1 && grep -q '^ok$' "$T/a6.out"; then
    pass "6: refused hybrid handshake → ECONNREFUSED (blocking and SO_ERROR), fd valid and reusable"
else
    soft_fail "6: refused handshake: $(head -c 400 "$T/a6.out")"
fi
"${HYB[@]}" curl -sS --max-time 20 http://127.0.0.1:8001/ >/dev/null 2>"$T/a6c.err"
rc=$?
if [ "$rc" -eq 7 ]; then pass "6: curl to a port without guest listener: couldn't connect (exit 7)"
else soft_fail "6: curl exit status $rc, expected 7: $(head -c 200 "$T/a6c.err")"; fi

# (3) host → guest: 8 MiB each way through the hybrid socket to a shim-converted guest server
if "${HYB[@]}" "$PYTHON" "$HELPERS/xfer.py" send 127.0.0.1 9000 8388608 >"$T/a3b.out" 2>&1; then
    pass "3: host → guest 8 MiB each way, checksums match ($(grep -o 'MiB/s.*' "$T/a3b.out"))"
else
    soft_fail "3: host → guest transfer: $(head -c 300 "$T/a3b.out")"
fi

# (5) host: the same connection as (1) through a control file in UNSOCK_DIR
if "${SHIM[@]}" UNSOCK_DIR="$T/unsock-h" UNSOCK_ADDR=127.0.0.1 \
    curl -sS --max-time 20 -o "$T/a5h.out" http://127.0.0.1:8000/hello.txt 2>"$T/a5h.err" &&
    cmp -s "$T/a5h.out" "$VM_WORK/www/hello.txt"; then
    pass "5: host curl through a hybrid control file fetched the guest's file"
else
    soft_fail "5: host control file: $(cat "$T/a5h.err" 2>/dev/null | head -c 300)"
fi
# (5) guest server bound through a control file (vsock any:8301), reached with a rule
if "${HYB[@]}" "$PYTHON" "$HELPERS/xfer.py" send 127.0.0.1 8301 65536 >"$T/a5b.out" 2>&1; then
    pass "5: guest server bound through a vsock control file (port 8300 → vsock 8301) answers"
else
    soft_fail "5: control-file bind: $(head -c 300 "$T/a5b.out")"
fi

# (8) host static Go client (seccomp, hybrid vsock) → guest static Go server (seccomp, AF_VSOCK)
out=$(timeout 30 "$SOCKSWAP_BIN" run -r "out,port=8400,hybrid-vsock=$VM_RUN/vm.vsock" -- \
    "$SECC/http_client_static" http://127.0.0.1:8400/ 2>&1)
case $out in
    "status=200 local=127.0.0.1:"*" remote=127.0.0.1:8400"*"remote=127.0.0.1:"*" local=127.0.0.1:8400")
        pass "8: host Go client (seccomp, hybrid vsock) → guest Go server (seccomp, AF_VSOCK): $(echo $out)" ;;
    *) soft_fail "8: host Go client → guest Go server: $(echo $out | head -c 300)" ;;
esac

wait_file "$VM_WORK/guest-clients-done" 90 "$VM_PID"
echo done >"$VM_WORK/host-done"
vm_wait 60
[ "$VM_RC" = 0 ] || soft_fail "the guest script exited with status $VM_RC"

guest_result() { # NAME: rc 0
    [ "$(cat "$VM_WORK/$1.rc" 2>/dev/null)" = 0 ]
}
if guest_result a2 && cmp -s "$VM_WORK/a2.out" "$T/hostwww/host.txt"; then
    pass "2: guest curl reached the host HTTP server through AF_VSOCK CID 2"
else soft_fail "2: guest curl → host: $(head -c 300 "$VM_WORK/a2.out")"; fi
if guest_result a3a; then
    pass "3: guest → host 8 MiB each way, checksums match ($(grep -o 'MiB/s.*' "$VM_WORK/a3a.out"))"
else soft_fail "3: guest → host transfer: $(head -c 300 "$VM_WORK/a3a.out")"; fi
if guest_result a4; then
    pass "4: AF_VSOCK loopback (CID 1) in the guest, both ends under the shim ($(grep -o 'MiB/s.*' "$VM_WORK/a4.out"))"
else soft_fail "4: loopback: $(head -c 300 "$VM_WORK/a4.out")"; fi
if guest_result a5g && cmp -s "$VM_WORK/a5g.out" "$T/hostwww/host.txt"; then
    pass "5: guest curl through a vsock control file reached the host server"
else soft_fail "5: guest control file: $(head -c 300 "$VM_WORK/a5g.out")"; fi
if guest_result a6g && grep -q '^blocking ECONNREFUSED$' "$VM_WORK/a6g.out" &&
    grep -q '^SO_DOMAIN 2$' "$VM_WORK/a6g.out" && grep -q '^reconnected$' "$VM_WORK/a6g.out" &&
    grep -qE '^non-blocking ECONNREFUSED$' "$VM_WORK/a6g.out"; then
    pass "6: guest AF_VSOCK connect without listener → ECONNREFUSED, fd valid and reusable ($(grep '^non-blocking' "$VM_WORK/a6g.out") via SO_ERROR)"
else soft_fail "6: guest refused vsock connect: $(head -c 400 "$VM_WORK/a6g.out")"; fi
if guest_result a7on && grep -q "^('127.175.0.0', 0) ('127.175.0.0', 0) ('127.175.0.0', 0)$" "$VM_WORK/a7on.out" &&
    guest_result a7off && grep -q "^(1, " "$VM_WORK/a7off.out"; then
    pass "UNSOCK_ACCEPT_CONVERT_VSOCK: accept/getpeername/getsockname report 127.175.0.0 (AF_VSOCK without it)"
else soft_fail "UNSOCK_ACCEPT_CONVERT_VSOCK: on: $(cat "$VM_WORK/a7on.out") off: $(cat "$VM_WORK/a7off.out")"; fi
if guest_result a8go && grep -q "^status=200 local=127.0.0.1:[0-9]* remote=127.0.0.1:8100" "$VM_WORK/a8go.out" &&
    grep -qxF "$(cat "$T/hostwww/host.txt")" "$VM_WORK/a8go.out"; then
    pass "8: guest static Go client (seccomp) reached the host through AF_VSOCK CID 2, IP names intact"
else soft_fail "8: guest Go client: $(head -c 300 "$VM_WORK/a8go.out")"; fi
if guest_result a8nc && grep -qxF "$(cat "$T/hostwww/host.txt")" "$VM_WORK/a8nc.out"; then
    pass "8: guest busybox nc (seccomp, blocking connect) reached the host through CID 2"
else soft_fail "8: guest busybox nc: $(head -c 300 "$VM_WORK/a8nc.out")"; fi
if grep -q "Connection refused" "$VM_WORK/a8ref.out" && ! guest_result a8ref; then
    pass "8: a vsock port nobody serves: busybox nc under seccomp gets 'Connection refused'"
else soft_fail "8: refused vsock port: rc $(cat "$VM_WORK/a8ref.rc") $(head -c 300 "$VM_WORK/a8ref.out")"; fi
echo "# total $(( $(now_ms) - t_start )) ms"
if [ "$SOFT_FAILS" -gt 0 ]; then
    echo "----- guest console -----" >&2; tail -n 30 "$T/console.log" >&2
    for f in "$VM_WORK"/g-*.log; do echo "----- ${f##*/} -----" >&2; tail -n 20 "$f" >&2; done
fi
