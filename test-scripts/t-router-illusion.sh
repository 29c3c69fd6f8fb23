#!/usr/bin/env bash
# What a program sees of a socketbox listener (rules socketbox= and socketbox-b=) and of the
# sockets the router hands it: the illusion of an ordinary TCP listener.
#  (1) python, AF_INET, bind 127.0.0.1:0 under an A rule with a %p path template: getsockname
#      shows 127.0.0.1 and a nonzero port (the same before and after listen), SO_TYPE
#      SOCK_STREAM, SO_DOMAIN AF_INET, SO_PROTOCOL IPPROTO_TCP, SO_ACCEPTCONN 0 then 1; the A
#      socket is at the path of that port. The router (`-l 127.0.0.1`: IPv6 sockets, v4-mapped)
#      delivers; accept() returns ('127.0.0.41', the client's port), getpeername the same,
#      getsockname the router's 127.0.0.1:RP, the accepted socket's SO_DOMAIN AF_INET
#      (socketbox bug S2: an AF_INET program got sockaddr_in6 garbage).
#  (2) the same over B (socketbox-b=API:SLOT), port 0.
#  (3) the reverse: an AF_INET6 python server bound to [::1]:0 and given the router's AF_INET
#      sockets (TOML listener 127.0.0.1:RP): accept() returns ('::ffff:127.0.0.43', port).
#  (4) node http.createServer().listen(0, '127.0.0.1') under an A rule: server.address() is
#      {"address":"127.0.0.1","family":"IPv4","port":<nonzero>}, and a request through the
#      router shows remote 127.0.0.44:<curl's port>.
# Every server runs in a network namespace of its own (`unshare -n`).
# Router: $SOCKSWAP_ROUTER (default target/release/socketbox).
. "$(dirname "$0")/lib.sh"
. "$HELPERS/router_shim.sh"
need unshare node curl
need_artifacts
need_router_bin

SRV_PY=$PROGS/py_sb_server.py
# client SRC HOST PORT: connect from SRC, print "port=<our port> got=<first line>"
client() {
    "$PYTHON" - "$@" <<'PY'
import socket, sys
src, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
fam = socket.AF_INET6 if ":" in host else socket.AF_INET
c = socket.socket(fam, socket.SOCK_STREAM)
c.settimeout(15)
c.bind((src, 0))
c.connect((host, port))
print("port=%d got=%s" % (c.getsockname()[1], c.makefile("rb").readline().decode().strip()))
PY
}

# (1) A, AF_INET, port 0
bg pya "${NS[@]}" "${PRE[@]}" SOCKSWAP_RULES="in,tcp,addr=127.0.0.1,socketbox=$T/a-%p.sock" \
    "$PYTHON" -u "$SRV_PY" inet 127.0.0.1 0 2
SRV=$BG_PID
wait_grep "$T/pya.out" '^ready=1' 10 "$SRV"
assert_other_netns "$SRV"
P0=$(kv "$T/pya.out" name); P0=${P0##*:}
[ "$P0" -gt 0 ] 2>/dev/null || fail "bind to port 0: getsockname = $(kv "$T/pya.out" name)"
assert_kv "$T/pya.out" name "127.0.0.1:$P0"
assert_kv "$T/pya.out" name_listening "127.0.0.1:$P0"
assert_kv "$T/pya.out" bound_SO_TYPE SOCK_STREAM
assert_kv "$T/pya.out" bound_SO_DOMAIN AF_INET
assert_kv "$T/pya.out" bound_SO_ACCEPTCONN 0
assert_kv "$T/pya.out" SO_TYPE SOCK_STREAM
assert_kv "$T/pya.out" SO_DOMAIN AF_INET
assert_kv "$T/pya.out" SO_PROTOCOL IPPROTO_TCP
assert_kv "$T/pya.out" SO_ACCEPTCONN 1
assert_unix_socket "$T/a-$P0.sock"
RP=$(free_port)
start_router ra -l 127.0.0.1 -p "$RP" -S "$T/a-$P0.sock"
for src in 127.0.0.41 127.0.0.42; do
    got=$(client "$src" 127.0.0.1 "$RP") || fail "client from $src failed"
    assert_eq hello "${got#*got=}" "A: the server answered the client from $src"
    cport=${got%% *}; cport=${cport#port=}
    wait_grep "$T/pya.out" "^accept=${src//./\\.}:$cport$" 10 "$SRV"
    pass "A, AF_INET server, router's IPv6 socket: accept() returned $src:$cport (bug S2)"
done
assert_eq "2 2 2" "$(grep -c "^peer=127\.0\.0\.4[12]:" "$T/pya.out") $(grep -c "^local=127\.0\.0\.1:$RP$" "$T/pya.out") $(grep -c '^domain=AF_INET$' "$T/pya.out")" \
    "A: accepted sockets show getpeername = the client, getsockname = 127.0.0.1:$RP, SO_DOMAIN AF_INET"
wait_exit "$SRV" 10 || fail "the A server did not finish"

# (2) B, AF_INET, port 0
RPB=$(free_port)
cat >"$T/sb.toml" <<CONF
[[listen]]
address = "[::ffff:127.0.0.1]:$RPB"
[[api_socket]]
path = "$T/api"
[[slot]]
number = 5
uid = 0
[[rule_set]]
id = 0
rules = [ { to = "slot:5" } ]
CONF
start_router rb -f "$T/sb.toml"
bg pyb "${NS[@]}" "${PRE[@]}" SOCKSWAP_RULES="in,tcp,addr=127.0.0.1,socketbox-b=$T/api:5" \
    "$PYTHON" -u "$SRV_PY" inet 127.0.0.1 0 1
SRV=$BG_PID
wait_grep "$T/pyb.out" '^ready=1' 10 "$SRV"
PB=$(kv "$T/pyb.out" name); PB=${PB##*:}
[ "$PB" -gt 0 ] 2>/dev/null || fail "B: bind to port 0: getsockname = $(kv "$T/pyb.out" name)"
assert_kv "$T/pyb.out" name_listening "127.0.0.1:$PB"
assert_kv "$T/pyb.out" SO_TYPE SOCK_STREAM
assert_kv "$T/pyb.out" SO_DOMAIN AF_INET
assert_kv "$T/pyb.out" SO_PROTOCOL IPPROTO_TCP
assert_kv "$T/pyb.out" SO_ACCEPTCONN 1
got=$(client 127.0.0.45 127.0.0.1 "$RPB") || fail "B client failed"
cport=${got%% *}; cport=${cport#port=}
wait_grep "$T/pyb.out" "^accept=127\.0\.0\.45:$cport$" 10 "$SRV"
pass "B, AF_INET server, router's IPv6 socket: accept() returned 127.0.0.45:$cport"
assert_kv "$T/pyb.out" local "127.0.0.1:$RPB"
assert_kv "$T/pyb.out" domain AF_INET
wait_exit "$SRV" 10 || fail "the B server did not finish"

# (3) AF_INET6 server, the router's AF_INET sockets
RP4=$(free_port)
cat >"$T/sb4.toml" <<CONF
[[listen]]
address = "127.0.0.1:$RP4"
[[rule_set]]
id = 0
rules = [ { to = "unix:$T/six.sock" } ]
CONF
start_router r4 -f "$T/sb4.toml"
bg py6 "${NS[@]}" "${PRE[@]}" SOCKSWAP_RULES="in,tcp,socketbox=$T/six.sock" \
    "$PYTHON" -u "$SRV_PY" inet6 ::1 0 1
SRV=$BG_PID
wait_grep "$T/py6.out" '^ready=1' 10 "$SRV"
P6=$(kv "$T/py6.out" name); P6=${P6##*:}
[ "$P6" -gt 0 ] 2>/dev/null || fail "inet6: bind to port 0: getsockname = $(kv "$T/py6.out" name)"
assert_kv "$T/py6.out" name "::1:$P6"
assert_kv "$T/py6.out" SO_DOMAIN AF_INET6
got=$(client 127.0.0.43 127.0.0.1 "$RP4") || fail "client to the AF_INET6 server failed"
cport=${got%% *}; cport=${cport#port=}
wait_grep "$T/py6.out" "^accept=" 10 "$SRV"
assert_kv "$T/py6.out" accept "::ffff:127.0.0.43:$cport"
assert_kv "$T/py6.out" local "::ffff:127.0.0.1:$RP4"
assert_kv "$T/py6.out" domain AF_INET6

# (4) node, port 0
bg node "${NS[@]}" "${PRE[@]}" SOCKSWAP_RULES="in,tcp,addr=127.0.0.1,socketbox=$T/n-%p.sock" \
    node "$PROGS/node_http.js" server 127.0.0.1 0 /dev/null
SRV=$BG_PID
wait_grep "$T/node.out" '^ready=1' 15 "$SRV"
addr=$(kv "$T/node.out" address)
NP=$(printf '%s' "$addr" | sed -n 's/.*"port":\([0-9]*\).*/\1/p')
[ "${NP:-0}" -gt 0 ] 2>/dev/null || fail "node listen(0): server.address() = $addr"
assert_eq "{\"address\":\"127.0.0.1\",\"family\":\"IPv4\",\"port\":$NP}" "$addr" "node server.address() after listen(0)"
assert_unix_socket "$T/n-$NP.sock"
RPN=$(free_port)
start_router rn -l 127.0.0.1 -p "$RPN" -S "$T/n-$NP.sock"
lport=$(timeout 20 curl -sS -f --interface 127.0.0.44 -o "$T/node.req" -w '%{local_port}' "http://127.0.0.1:$RPN/req") ||
    fail "curl to node through the router failed"
read -r remote local _ <"$T/node.req"
assert_eq "remote=127.0.0.44:$lport" "$remote" "node: req.socket.remoteAddress/remotePort (bug S2)"
assert_eq "local=127.0.0.1:$RPN" "$local" "node: req.socket.localAddress/localPort"
