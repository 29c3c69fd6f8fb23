#!/usr/bin/env bash
# socketbox-b=@NAME:SLOT: the shim connects to an abstract API socket (no file, so usable from a
# chroot or a mount namespace without the router's directory) when the name starts with '@',
# as netns=@NAME and the router's NOTIFY_SOCKET do. The router's TOML `[[api_socket]] path =
# "@NAME"` must therefore listen on the abstract name @NAME (and not create a file called
# "@NAME" in its working directory); python3 http.server in a mount namespace of its own
# registers there and is served. (Abstract names belong to a network namespace: a server in
# another network namespace needs a path, which the other tests use.)
# Router: $SOCKSWAP_ROUTER (default target/release/socketbox).
. "$(dirname "$0")/lib.sh"
. "$HELPERS/router_shim.sh"
need unshare curl ss
need_artifacts
need_router_bin

RP=$(free_port)
NAME=sockswap-test-api-$$-$RANDOM
cat >"$T/sb.toml" <<CONF
[[listen]]
address = "127.0.0.1:$RP"
[[api_socket]]
path = "@$NAME"
[[slot]]
number = 6
uid = 0
[[rule_set]]
id = 0
rules = [ { to = "slot:6" } ]
CONF
mkdir -p "$T/cwd"
cd "$T/cwd" || fail "cd"
start_router router -f "$T/sb.toml"
[ -e "$T/cwd/@$NAME" ] && soft_fail "the router created a file named '@$NAME' in its working directory instead of an abstract socket"
_abstract_connectable() {
    timeout 5 "$PYTHON" -c 'import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect("\0" + sys.argv[1])' "$NAME"
}
_wait_until 5 "$ROUTER_PID" _abstract_connectable ||
    fail "nothing accepts connections on the abstract socket @$NAME (the router's log: $(tr '\n' ' ' <"$T/router.err"))"
pass "the router listens on the abstract socket @$NAME"
mkdir -p "$T/www"
randfile "$T/www/blob.bin" 262144
bg py unshare -m "${PRE[@]}" SOCKSWAP_RULES="in,tcp,port=8501,socketbox-b=@$NAME:6" \
    "$PYTHON" -u -m http.server 8501 --bind 127.0.0.1 --directory "$T/www"
SRV_PID=$BG_PID
wait_grep "$T/py.out" "^Serving HTTP on 127\.0\.0\.1 port 8501 " 15 "$SRV_PID"
[ "$(readlink /proc/$SRV_PID/ns/mnt)" != "$(readlink /proc/self/ns/mnt)" ] ||
    fail "the server should run in a mount namespace of its own"
pass "python http.server, in its own mount namespace, registered through @$NAME"
wait_grep "$T/router.err" "event=b-register slot=6 uid=0 pid=$SRV_PID( |$)" 10 "$SRV_PID"
check_py py "$RP" 127.0.0.61
