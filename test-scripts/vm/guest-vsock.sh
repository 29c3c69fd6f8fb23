#!/usr/bin/env bash
# Runs inside the test guest (see t-vsock-vm.sh): starts the guest's servers under the shim,
# runs the guest's clients, leaves each result in $VM_WORK, then waits for the host to finish.
# Needs VM_WORK; sources $VM_WORK/env (SOCKSWAP_LIB, PYTHON, HELPERS).
set -u
. "$VM_WORK/env"
W=$VM_WORK
SHIM=(env "LD_PRELOAD=$SOCKSWAP_LIB")
pids=()
say() { echo "guest: $*"; }
wait_for() { # FILE [SECONDS]
    local n=0 max=$(( ${2:-60} * 20 ))
    while [ ! -e "$1" ]; do sleep 0.05; n=$((n + 1)); [ "$n" -gt "$max" ] && return 1; done
}
vsock_probe() { # PORT: a native AF_VSOCK connect to CID 1 (loopback) succeeds
    "$PYTHON" - "$1" <<'P'
import socket, sys, time
port, end = int(sys.argv[1]), time.time() + 30
while time.time() < end:
    s = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)
    try:
        s.connect((1, port)); s.close(); sys.exit(0)
    except OSError:
        s.close(); time.sleep(0.05)
sys.exit(1)
P
}
run() { # NAME CMD...: stdout+stderr to NAME.out, status to NAME.rc
    local name=$1; shift
    "$@" >"$W/$name.out" 2>&1
    echo $? >"$W/$name.rc"
}

# --- servers: plain TCP programs, made AF_VSOCK listeners by the shim
(cd "$W/www" && exec "${SHIM[@]}" SOCKSWAP_RULES='in,port=8000,vsock=any' \
    "$PYTHON" -m http.server 8000 --bind 127.0.0.1) >"$W/g-http.log" 2>&1 &
pids+=($!)
"${SHIM[@]}" SOCKSWAP_RULES='in,port=9000,vsock=any' "$PYTHON" "$HELPERS/xfer.py" serve 9000 \
    >"$W/g-echo9000.log" 2>&1 &
pids+=($!)
"${SHIM[@]}" SOCKSWAP_RULES='in,port=9100,vsock=any' "$PYTHON" "$HELPERS/xfer.py" serve 9100 \
    >"$W/g-echo9100.log" 2>&1 &
pids+=($!)
# bound through a control file (any:8301, SO_RCVBUF set by the file), program port 8300
"${SHIM[@]}" UNSOCK_DIR="$W/unsock-g" UNSOCK_ADDR=127.0.0.1 "$PYTHON" "$HELPERS/xfer.py" serve 8300 \
    >"$W/g-echo8300.log" 2>&1 &
pids+=($!)
# a static Go HTTP server under the seccomp backend (no library to preload): an AF_VSOCK listener
"$SOCKSWAP_BIN" run --log debug -r 'in,port=8400,vsock=any' -- "$SECC/http_server_static" 127.0.0.1:8400 \
    >"$W/g-go8400.log" 2>&1 &
pids+=($!)
for p in 8000 9000 9100 8301 8400; do
    vsock_probe "$p" || echo "no AF_VSOCK listener on port $p" >>"$W/g-errors"
done
ss -ltnH >"$W/g-ss-tcp.txt" 2>&1
echo ready >"$W/servers-ready"
say "servers ready"

# --- clients: plain TCP programs reaching AF_VSOCK through the shim
# (4) loopback inside the guest, both ends under the shim
run a4 "${SHIM[@]}" SOCKSWAP_RULES='out,port=9100,vsock=local' \
    "$PYTHON" "$HELPERS/xfer.py" send 127.0.0.1 9100 1048576
# (2) a host HTTP server through CID 2
run a2 "${SHIM[@]}" SOCKSWAP_RULES='out,port=8100,vsock=host:6000' \
    curl -sS --max-time 20 http://127.0.0.1:8100/host.txt
# (3) 8 MiB each way to the host's echo server
run a3a "${SHIM[@]}" SOCKSWAP_RULES='out,port=8101,vsock=2:6001' \
    "$PYTHON" "$HELPERS/xfer.py" send 127.0.0.1 8101 8388608
# (5) the same host service through a control file written by the CLI
run a5g "${SHIM[@]}" UNSOCK_DIR="$W/unsock-g" \
    curl -sS --max-time 20 http://127.175.0.0:8100/host.txt
# UNSOCK_ACCEPT_CONVERT_VSOCK: a native AF_VSOCK server sees AF_INET addresses
accept_probe='
import socket
s = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)
s.bind((socket.VMADDR_CID_ANY, 9200)); s.listen()
c = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM); c.connect((1, 9200))
a, addr = s.accept()
print(addr, a.getpeername(), s.getsockname())'
run a7on "${SHIM[@]}" UNSOCK_DIR="$W/unsock-g" UNSOCK_ACCEPT_CONVERT_VSOCK=1 "$PYTHON" -c "$accept_probe"
run a7off "${SHIM[@]}" UNSOCK_DIR="$W/unsock-g" "$PYTHON" -c "$accept_probe"
# (6) guest side: AF_VSOCK connect to a port nobody listens on (loopback: the transport resets
# → ECONNREFUSED) — the fd stays valid and connects again
refused_probe='
import errno, os, select, socket
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
try:
    s.connect(("127.0.0.1", 9199)); print("connected?!")
except ConnectionRefusedError:
    print("blocking ECONNREFUSED")
os.fstat(s.fileno())
print("SO_DOMAIN", s.getsockopt(socket.SOL_SOCKET, socket.SO_DOMAIN))
s.connect(("127.0.0.1", 9100))
print("reconnected")
n = socket.socket(socket.AF_INET, socket.SOCK_STREAM); n.setblocking(False)
rc = n.connect_ex(("127.0.0.1", 9199))
if rc == errno.EINPROGRESS:
    select.select([], [n], [], 10); rc = n.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
print("non-blocking", errno.errorcode.get(rc, rc)); os.fstat(n.fileno())'
run a6g "${SHIM[@]}" SOCKSWAP_RULES='out,port=9199,vsock=local:9199;out,port=9100,vsock=local' \
    "$PYTHON" -c "$refused_probe"
# (8) the seccomp backend in the guest: a static Go client (non-blocking connect) and busybox's
# nc (blocking connect) reach the host HTTP server through CID 2; a refused vsock port
run a8go "$SOCKSWAP_BIN" run -r 'out,port=8100,vsock=host:6000' -- \
    "$SECC/http_client_static" http://127.0.0.1:8100/host.txt
printf 'GET /host.txt HTTP/1.0\r\n\r\n' >"$W/get.txt"
run a8nc "$SOCKSWAP_BIN" run -r 'out,port=8100,vsock=host:6000' -- busybox sh -c \
    "busybox nc 127.0.0.1 8100 <$W/get.txt"
run a8ref "$SOCKSWAP_BIN" run -r 'out,port=9199,vsock=local:9199' -- busybox nc 127.0.0.1 9199
echo done >"$W/guest-clients-done"
say "clients done; waiting for the host"
wait_for "$W/host-done" 90 || say "the host never finished"
kill "${pids[@]}" 2>/dev/null
wait 2>/dev/null
exit 0
