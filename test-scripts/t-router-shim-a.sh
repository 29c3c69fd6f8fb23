#!/usr/bin/env bash
# The shim as the socketbox router's "A" client (rule action socketbox=PATH): four unmodified
# servers — python3 http.server, node http, Java HttpServer, nginx — each in a network namespace
# of its own (created here with `unshare -n`: no interface but a down loopback), bind
# 127.0.0.1:SP, which the shim turns into an AF_UNIX datagram socket at PATH. A router in the
# test's namespace (`socketbox -l 127.0.0.1 -p RP -S PATH`: its sockets are IPv6, v4-mapped)
# accepts TCP connections on 127.0.0.1:RP and hands each over PATH. curl from the host, bound to
# a distinct 127.0.0.x source per server; each server must answer and log that real client
# address (in its own IPv4 form: bug S2) and port. The python server is also stopped and
# started again behind the running router (the A socket file is replaced) and is served again.
# Router: $SOCKSWAP_ROUTER (default target/release/socketbox).
. "$(dirname "$0")/lib.sh"
. "$HELPERS/router_shim.sh"
need curl node java javac nginx unshare pgrep sha256sum
need_artifacts
need_router_bin
CP=$(java_classes) || fail "cannot compile the Java test programs"
SERVERS=()

# python3 -m http.server
RP=$(free_port)
start_router rpy -l 127.0.0.1 -p "$RP" -S "$T/py.a"
start_py_server py 8101 "in,tcp,port=8101,socketbox=$T/py.a"
assert_unix_socket "$T/py.a"
check_py py "$RP" 127.0.0.11

# the server restarts behind the running router (its A socket file is replaced): served again
stop_bg "$SRV_PID"
start_py_server py2 8101 "in,tcp,port=8101,socketbox=$T/py.a"
SERVERS+=("$SRV_PID")
check_py py2 "$RP" 127.0.0.15
pass "python http.server restarted behind the same router is served again"

# node http
RP=$(free_port)
start_router rnode -l 127.0.0.1 -p "$RP" -S "$T/node.a"
start_node_server node 8102 "in,tcp,port=8102,socketbox=$T/node.a"
SERVERS+=("$SRV_PID")
check_req_server node "$RP" 127.0.0.12

# Java com.sun.net.httpserver.HttpServer
RP=$(free_port)
start_router rjava -l 127.0.0.1 -p "$RP" -S "$T/java.a"
start_java_server java 8103 "in,tcp,port=8103,socketbox=$T/java.a"
SERVERS+=("$SRV_PID")
check_req_server java "$RP" 127.0.0.13

# nginx (master + 1 worker)
RP=$(free_port)
start_router rngx -l 127.0.0.1 -p "$RP" -S "$T/ngx.a"
start_nginx_server ngx 8104 "in,tcp,port=8104,socketbox=$T/ngx.a" 1
assert_unix_socket "$T/ngx.a"
SERVERS+=("$SRV_PID")
check_nginx ngx "$RP" 127.0.0.14

# every server is still alive (no server was restarted to get here)
for pid in "${SERVERS[@]}"; do _is_running "$pid" || fail "server pid $pid died"; done
pass "all four servers still run"
