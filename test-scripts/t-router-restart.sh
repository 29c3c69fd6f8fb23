#!/usr/bin/env bash
# "B"-registered servers survive router restarts: python3 http.server (blocking accept) and
# nginx (master + 2 workers sharing the listener: non-blocking accept4 from epoll), each in a network namespace of its
# own (`unshare -n`), registered on slots 1 and 2 of the router's API socket (rule
# socketbox-b=API:N). While a client keeps making requests to python through the router, the
# router is killed (SIGKILL, then in a second round SIGTERM) and started again with the same
# config; the shim sees the end of the registered stream and registers again (no signal to the
# program). The servers' pids stay the same and alive, they register with each new router, and
# requests after each restart succeed (100 to python, 20 to nginx: all of them).
# Router: $SOCKSWAP_ROUTER (default target/release/socketbox).
. "$(dirname "$0")/lib.sh"
. "$HELPERS/router_shim.sh"
need unshare socat nginx pgrep curl
need_artifacts
need_router_bin

RP=$(free_port); RPN=$(free_port)
API=$T/api
cat >"$T/sb.toml" <<CONF
[[listen]]
address = "[::ffff:127.0.0.1]:$RP"
[[listen]]
address = "127.0.0.1:$RPN"
[[api_socket]]
path = "$API"
mode = "0600"
[[slot]]
number = 1
uid = 0
[[slot]]
number = 2
uid = 0
shared = true
[[rule_set]]
id = 0
rules = [ { port = $RP, to = "slot:1" }, { port = $RPN, to = "slot:2" } ]
CONF
start_router router0 -f "$T/sb.toml"

mkdir -p "$T/www"
echo "hello from python" >"$T/www/hello.txt"
bg py "${NS[@]}" "${PRE[@]}" SOCKSWAP_RULES="in,tcp,port=8401,socketbox-b=$API:1" \
    "$PYTHON" -u -m http.server 8401 --bind 127.0.0.1 --directory "$T/www"
SRV=$BG_PID
wait_grep "$T/router0.err" "event=b-register slot=1 uid=0 pid=$SRV( |$)" 15 "$SRV"
assert_other_netns "$SRV"
start_nginx_server ngx 8402 "in,tcp,port=8402,socketbox-b=$API:2" 2
NGX=$SRV_PID
wait_grep "$T/router0.err" "event=b-register slot=2 uid=0 pid=$NGX( |$)" 15 "$NGX"
check_nginx ngx "$RPN" 127.0.0.32
NGX_WORKERS=$(nginx_workers "$NGX" | tr '\n' ' ')

served() { grep -c '"GET /hello.txt HTTP/1.1" 200' "$T/py.err"; }
served_more_than() { [ "$(served)" -gt "$1" ]; }

# steady traffic through the router for the whole test: 2 clients, a request each 5 ms
bg load "$PYTHON" -u "$PROGS/http_load.py" 127.0.0.1 "$RP" /hello.txt 1000000 2 \
    --expect "hello from python" --every-ms 5 --until "$T/stop"
LOAD=$BG_PID

RPID=$ROUTER_PID
for round in 1 2; do
    sig=$([ "$round" = 1 ] && echo KILL || echo TERM)
    before=$(served)
    _wait_until 15 "$LOAD" served_more_than $((before + 20))
    _wait_report $? "round $round: waiting for traffic before the restart" "$LOAD"
    pass "round $round: $(served) requests served so far; now kill -$sig the router (pid $RPID)"
    kill "-$sig" "$RPID"
    wait_exit "$RPID" 10 || fail "the router did not exit on SIG$sig"
    REAPED="$REAPED$RPID "
    _api_gone() { ! timeout 2 socat -u OPEN:/dev/null "UNIX-CONNECT:$API,type=5" 2>/dev/null; }
    _wait_until 5 "" _api_gone || fail "the API socket still answers after the router exited"
    at_kill=$(served)
    _is_running "$SRV" || fail "round $round: the server died with the router"
    # While the router is away, nginx's workers (non-blocking listeners) must not spin on the
    # ended stream: each puts a one-second retry timer at the listener's fd.
    _waits_on_timer() { ls -l "/proc/$1/fd" 2>/dev/null | grep -q 'anon_inode:\[timerfd\]'; }
    for w in $NGX_WORKERS; do
        _wait_until 5 "$w" _waits_on_timer "$w" ||
            fail "round $round: nginx worker $w has no retry timer while the router is away"
    done
    pass "round $round: nginx's workers wait on a retry timer while the router is away"

    start_router "router$round" -f "$T/sb.toml"
    RPID=$ROUTER_PID
    wait_grep "$T/router$round.err" "event=b-register slot=1 uid=0 pid=$SRV( |$)" 15 "$SRV"
    pass "round $round: the same server process (pid $SRV) registered slot 1 with the new router"
    # the nginx process that calls accept first after the restart (a worker) registers again
    wait_grep "$T/router$round.err" "event=b-register slot=2 uid=0 pid=" 15 "$NGX"
    pid2=$(sed -n 's/.*event=b-register slot=2 uid=0 pid=\([0-9]*\).*/\1/p' "$T/router$round.err" | head -n 1)
    case " $NGX $NGX_WORKERS " in *" $pid2 "*) ;; *) fail "slot 2 registered by pid $pid2, not by nginx ($NGX $NGX_WORKERS)" ;; esac
    pass "round $round: nginx (pid $pid2 of master $NGX) registered slot 2 with the new router"
    # slot 2 is `shared`: the other worker, which still held the old stream, registers too
    for w in $NGX_WORKERS; do
        wait_grep "$T/router$round.err" "event=b-register slot=2 uid=0 pid=$w( |$)" 15 "$NGX"
    done
    pass "round $round: both nginx workers ($NGX_WORKERS) registered the shared slot 2"
    _wait_until 15 "$LOAD" served_more_than "$at_kill"
    _wait_report $? "round $round: waiting for the running client's requests to be served again" "$LOAD"
    pass "round $round: the running client's requests are served again ($(served) so far)"
    out=$(timeout 60 "$PYTHON" "$PROGS/http_load.py" 127.0.0.1 "$RP" /hello.txt 100 4 --expect "hello from python")
    assert_eq "ok=100 failed=0" "$(printf '%s\n' "$out" | head -n 1)" "round $round: 100 requests after the restart ($(printf '%s' "$out" | tr '\n' ' '))"
    # The other worker shares the listener fd but still holds the old router's ended stream:
    # it must neither spin (register, be refused "slot registered already", again and again)
    # nor be cut off for good.
    refusals=$(grep -c 'event=b-close .*reason="slot 2 is registered already"' "$T/router$round.err")
    if [ "$refusals" -eq 0 ]; then
        pass "round $round: nginx's other worker does not spin on the ended stream ($refusals refused registrations)"
    else
        soft_fail "round $round: after the restart, nginx's other worker tried to register slot 2 again $refusals times within seconds (refused: slot registered already): it spins on the old router's ended stream ($(grep 'registered already' "$T/router$round.err" | sed -n 's/.* pid=\([0-9]*\) .*/pid \1/p' | sort | uniq -c | tr -s ' ' | tr '\n' ';'))"
    fi
    # The worker that registered again put the new stream at the listener's fd number; its epoll
    # set must not keep the old, ended stream (still open in the master, so still registered,
    # and readable forever: the worker would spin on EPOLLIN|EPOLLHUP with nothing to accept).
    out=$(timeout 60 "$PYTHON" "$PROGS/http_load.py" 127.0.0.1 "$RPN" /hello 20 2 --expect "hello from nginx")
    stale=""
    for w in $NGX_WORKERS; do
        s=$(epoll_stale "$w")
        [ -n "$s" ] && stale="$stale worker $w: $s;"
    done
    if [ -z "$stale" ]; then
        pass "round $round: nginx workers' epoll sets hold no registration of the old router's stream"
    else
        soft_fail "round $round: stale epoll registrations after registering again (the worker busy-loops on them):$stale"
    fi
    assert_eq "ok=20 failed=0" "$(printf '%s\n' "$out" | head -n 1)" "round $round: 20 requests to nginx after the restart ($(printf '%s' "$out" | tr '\n' ' '))"
    assert_eq 2 "$(tail -n 20 "$T/ngx/access.log" | cut -d' ' -f1 | sort -u | wc -l)" \
        "round $round: both nginx workers served those 20 requests (the router alternates between their registrations)"
    _is_running "$SRV" || fail "round $round: the server died"
done

touch "$T/stop"
wait_exit "$LOAD" 30 || fail "the running client did not stop"
pass "the running client: $(head -n 1 "$T/load.out") (failures are the requests made while no router listened)"
assert_not_contains "$T/py.err" "Traceback" "http.server raised no exception"
_is_running "$SRV" || fail "server pid $SRV is gone"
pass "server pid $SRV still alive after two router restarts"
_is_running "$NGX" || fail "nginx master $NGX is gone"
assert_eq "$NGX_WORKERS" "$(nginx_workers "$NGX" | tr '\n' ' ')" "nginx still has its original worker"
pass "nginx master $NGX still alive after two router restarts"
