#!/usr/bin/env bash
# Delivery never follows a symlink in any component (issue 13 item 2), with openat2 available
# AND with openat2 failing ENOSYS (router/no_openat2.c: a seccomp filter, as on kernels before
# 5.6 or under container profiles), where the router walks the path one component at a time:
#  - a symlinked target socket and a target behind a symlinked directory are refused and
#    logged (`unsafe-target`), the real path is served;
#  - a race: the target's directory is swapped (renameat2 RENAME_EXCHANGE) between the real
#    directory and a symlink to a directory holding a "secret" receiver's socket, as fast as
#    possible, while the router gets SIGHUP every 20 ms (each reload re-opens targets) and
#    clients connect: for 3 s. The secret receiver must get no connection; the real one some.
. "$(dirname "$0")/lib.sh"
. "$TS_DIR/router/lib.sh"
need_router
need cc
cc -O2 -Wall -o "$T/no_openat2" "$RH/no_openat2.c" || fail "cannot build no_openat2.c"

cat >"$T/race.py" <<'PY'
# race.py CUR OTHER ROUTER_PID PORT SECONDS: swaps CUR and OTHER (renameat2 RENAME_EXCHANGE) as
# fast as it can, sends the router SIGHUP every 20 ms, and connects to 127.0.0.4:PORT back to
# back, all for SECONDS; prints "swaps N hups H served S closed C".
import ctypes, os, signal, socket, sys, threading, time
libc = ctypes.CDLL(None, use_errno=True)
a, b, pid, port, secs = sys.argv[1].encode(), sys.argv[2].encode(), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
end = time.time() + secs
counts = {"swaps": 0, "hups": 0, "served": 0, "closed": 0}
def swap():
    while time.time() < end:
        if libc.renameat2(-100, a, -100, b, 2) != 0:
            sys.exit("renameat2: %s" % os.strerror(ctypes.get_errno()))
        counts["swaps"] += 1
def hup():
    while time.time() < end:
        os.kill(pid, signal.SIGHUP)
        counts["hups"] += 1
        time.sleep(0.02)
threads = [threading.Thread(target=swap), threading.Thread(target=hup)]
for t in threads:
    t.start()
while time.time() < end:
    c = socket.create_connection(("127.0.0.4", port), timeout=5)
    try:
        c.sendall(b"hello\n")
        got = c.recv(4096)
    except OSError:
        got = b""
    counts["served" if got else "closed"] += 1
    c.close()
for t in threads:
    t.join()
print(" ".join("%s %d" % kv for kv in counts.items()), flush=True)
PY

run_mode() { # MODE-NAME WRAPPER...
    local mode=$1; shift
    local d=$T/$mode P
    P=$(free_port)
    mkdir -p "$d/real" "$d/secret" "$d/race/cur"
    ln -s real "$d/dirlink"
    ln -s "$d/secret" "$d/race/other"
    start_a "$mode-victim" "$d/real/victim.sock" victim
    start_a "$mode-secret" "$d/secret/t.sock" secret
    start_a "$mode-good" "$d/race/cur/t.sock" good
    ln -s "$d/real/victim.sock" "$d/evil.sock"
    cat >"$d/sb.conf" <<CONF
rule-set:0 size:10
ip:::ffff:127.0.0.1 jump-unix:$d/real/victim.sock
ip:::ffff:127.0.0.2 jump-unix:$d/evil.sock
ip:::ffff:127.0.0.3 jump-unix:$d/dirlink/victim.sock
ip:::ffff:127.0.0.4 jump-unix:$d/race/cur/t.sock
CONF
    bg "$mode-router" "$@" "$SOCKETBOX" -f "$d/sb.conf" -l :: -p "$P"
    local R=$BG_PID
    wait_grep "$T/$mode-router.err" 'event=ready' 10 "$R"
    if [ "$mode" = no-openat2 ]; then
        assert_contains "$T/$mode-router.err" "openat2: ENOSYS" "$mode: the router runs with openat2 failing ENOSYS"
    fi
    one() { "$PYTHON" "$RH/clients.py" "$1" "$P" 1 --timeout 5 | tail -1; }
    assert_eq "ok=1 closed=0 error=0" "$(one 127.0.0.1)" "$mode: the real path is served"
    assert_eq "ok=0 closed=1 error=0" "$(one 127.0.0.2)" "$mode: a symlinked target socket is refused"
    assert_eq "ok=0 closed=1 error=0" "$(one 127.0.0.3)" "$mode: a target behind a symlinked directory is refused"
    assert_contains "$T/$mode-router.err" "event=unsafe-target target=unix:$d/dirlink/victim.sock" \
        "$mode: the symlinked directory is logged"
    assert_eq 1 "$(grep -c '^conn' "$T/$mode-victim.out")" "$mode: the victim got only the connection meant for it"

    # The race, bounded: 3 s of swaps, SIGHUP every 20 ms, clients back to back.
    timeout 30 "$PYTHON" "$T/race.py" "$d/race/cur" "$d/race/other" "$R" "$P" 3 >"$T/$mode-race.out" 2>&1 ||
        fail "$mode: race.py failed: $(cat "$T/$mode-race.out")"
    _is_running "$R" || fail "$mode: the router died in the race"
    local secret good reloads
    secret=$(grep -c '^conn' "$T/$mode-secret.out")
    good=$(grep -c '^conn' "$T/$mode-good.out")
    reloads=$(grep -c 'event=reload' "$T/$mode-router.err")
    assert_eq 0 "$secret" "$mode: no connection reached the socket behind the swapped-in symlink"
    [ "$good" -gt 0 ] || fail "$mode: the real target got no connection in the race: $(cat "$T/$mode-race.out")"
    [ "$reloads" -gt 50 ] || fail "$mode: only $reloads reloads during the race"
    grep -q "event=unsafe-target target=unix:$d/race/cur/t.sock" "$T/$mode-router.err" ||
        fail "$mode: the swapped-in symlink was never met (no unsafe-target logged): the race did not race"
    pass "$mode: race ($(cat "$T/$mode-race.out"), $reloads reloads logged): $good connections served by the real target, 0 behind the symlink"
    stop_bg "$R"
}

run_mode openat2
run_mode no-openat2 "$T/no_openat2"
