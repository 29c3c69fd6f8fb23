#!/usr/bin/env bash
# The shim as the socketbox router's "B" client (rule action socketbox-b=APIPATH:SLOT): the same
# four unmodified servers as t-router-shim-a.sh — python3 http.server, node http, Java
# HttpServer, nginx (master + 2 workers sharing the registered stream) — each in a network
# namespace of its own (`unshare -n`). Their bind registers slots 1..4 on one router's API
# socket (SOCK_SEQPACKET, native TOML config); the router listens on four TCP ports
# ([::ffff:127.0.0.1]:RPn: IPv6 sockets, v4-mapped) and routes port RPn to slot n. curl from the
# host with a distinct 127.0.0.x source per server; each server answers and logs the real client
# address in its own family (bug S2) and port.
# Router: $SOCKSWAP_ROUTER (default target/release/socketbox).
. "$(dirname "$0")/lib.sh"
. "$HELPERS/router_shim.sh"
need curl node java javac nginx unshare pgrep sha256sum
need_artifacts
need_router_bin
CP=$(java_classes) || fail "cannot compile the Java test programs"

RP1=$(free_port); RP2=$(free_port); RP3=$(free_port); RP4=$(free_port)
API=$T/api
cat >"$T/sb.toml" <<CONF
[[listen]]
address = "[::ffff:127.0.0.1]:$RP1"
[[listen]]
address = "[::ffff:127.0.0.1]:$RP2"
[[listen]]
address = "[::ffff:127.0.0.1]:$RP3"
[[listen]]
address = "[::ffff:127.0.0.1]:$RP4"
[[api_socket]]
path = "$API"
mode = "0600"
[[slot]]
number = 1
uid = 0
[[slot]]
number = 2
uid = 0
[[slot]]
number = 3
uid = 0
[[slot]]
number = 4
uid = 0
[[rule_set]]
id = 0
default = "fail"
rules = [
  { port = $RP1, to = "slot:1" },
  { port = $RP2, to = "slot:2" },
  { port = $RP3, to = "slot:3" },
  { port = $RP4, to = "slot:4" },
]
CONF
"$ROUTER" check -f "$T/sb.toml" >"$T/check.out" 2>&1 || fail "socketbox check refused the config: $(cat "$T/check.out")"
start_router router -f "$T/sb.toml"
assert_unix_socket "$API"

SERVERS=()
registered() { # SLOT PID: the router logged the registration of SLOT by PID
    wait_grep "$T/router.err" "event=b-register slot=$1 uid=0 pid=$2( |$)" 10 "$2"
    pass "slot $1 registered by pid $2"
}

start_py_server py 8201 "in,tcp,port=8201,socketbox-b=$API:1"
SERVERS+=("$SRV_PID")
registered 1 "$SRV_PID"
check_py py "$RP1" 127.0.0.21

start_node_server node 8202 "in,tcp,port=8202,socketbox-b=$API:2"
SERVERS+=("$SRV_PID")
registered 2 "$SRV_PID"
check_req_server node "$RP2" 127.0.0.22

start_java_server java 8203 "in,tcp,port=8203,socketbox-b=$API:3"
SERVERS+=("$SRV_PID")
registered 3 "$SRV_PID"
check_req_server java "$RP3" 127.0.0.23

start_nginx_server ngx 8204 "in,tcp,port=8204,socketbox-b=$API:4" 2
SERVERS+=("$SRV_PID")
registered 4 "$SRV_PID"
check_nginx ngx "$RP4" 127.0.0.24
for i in 1 2 3 4 5 6; do check_nginx ngx "$RP4" 127.0.0.24 >/dev/null; done
assert_eq 7 "$(grep -c ' 200 /hello$' "$T/ngx/access.log")" "nginx's two workers served 7 requests from the one registered slot"

for pid in "${SERVERS[@]}"; do _is_running "$pid" || fail "server pid $pid died"; done
pass "all four servers still run"
# a second registration of a taken slot must fail the program's bind, not steal the slot
out=$(timeout 20 "${NS[@]}" "${PRE[@]}" SOCKSWAP_RULES="in,tcp,port=8201,socketbox-b=$API:1" \
    "$PYTHON" "$PROGS/py_probe.py" inet bind=127.0.0.1:8201 2>"$T/dup.err")
expect_line "$out" "bind=127.0.0.1:8201 -> EADDRNOTAVAIL" "binding a second listener to slot 1"
check_py py "$RP1" 127.0.0.21
