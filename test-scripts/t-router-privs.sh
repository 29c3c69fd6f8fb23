#!/usr/bin/env bash
# Privilege drop after binding (-u/-g, no_new_privs), -U path templates, and a B client that
# stops reading: it holds only a few fds in flight, the rest wait in a bounded queue or are
# refused and counted, so the router's open files stay bounded (socketbox S5).
. "$(dirname "$0")/lib.sh"
. "$TS_DIR/router/lib.sh"
need_router
chmod 755 "$T"
mkdir -m 755 "$T/t"

P=$(free_port)
PP=$(printf '%05d' "$P")
start_a tpl1 "$T/t/00001-$PP.sock" tpl-one
start_a tpl2 "$T/t/00002-$PP.sock" tpl-two
printf 'rule-set:0 size:1\ndefault:jump-unix:%s/t/#//7_-#//P_.sock\n' "$T" >"$T/sb.conf"
start_router router -f "$T/sb.conf" -U -l :: -p "$P" -u nobody -g nogroup --status "$T/st"
st=/proc/$ROUTER_PID/status
assert_eq "65534 65534 65534 65534" "$(awk '/^Uid:/ { print $2, $3, $4, $5 }' "$st")" "the router runs as nobody after binding"
assert_eq 1 "$(awk '/^NoNewPrivs:/ { print $2 }' "$st")" "no_new_privs is set"
gid=$(getent group nogroup | cut -d: -f3)
assert_eq "$gid" "$(awk '/^Gid:/ { print $2 }' "$st")" "group nogroup"
assert_eq "$gid" "$(awk '/^Groups:/ { $1 = ""; print }' "$st" | tr -d ' ')" "supplementary groups: just the new group"
out=$("$PYTHON" "$RH/clients.py" 127.0.0.1 "$P" 1)
echo "$out" | grep -q "^tpl-one local=::ffff:127.0.0.1:$P" || fail "template #//7_ for 127.0.0.1: $out"
out=$("$PYTHON" "$RH/clients.py" 127.0.0.2 "$P" 1)
echo "$out" | grep -q "^tpl-two local=::ffff:127.0.0.2:$P" || fail "template #//7_ for 127.0.0.2: $out"
pass "-U: #//7_ and #//P_ expand to 00001/00002 and $PP"
stop_bg "$ROUTER_PID"

# a B client that stops reading
P2=$(free_port)
cat >"$T/b.toml" <<CONF
status = "$T/st2"
queue_len = 10
queue_timeout_ms = 60000
[[listen]]
address = "127.0.0.1:$P2"
[[api_socket]]
path = "$T/api"
[[slot]]
number = 1
uid = 0
[[rule_set]]
id = 0
default = "slot:1"
CONF
start_router router2 -f "$T/b.toml"
bg lazy "$PYTHON" -u "$RH/b_recv.py" "$T/api" 1 lazy
LAZY=$BG_PID
wait_grep "$T/lazy.out" '^registered' 10 "$LAZY"
kill -STOP "$LAZY"
fds_before=$(ls /proc/"$ROUTER_PID"/fd | wc -l)
out=$("$PYTHON" "$RH/clients.py" 127.0.0.1 "$P2" 100 --timeout 3)
fds_during=$(ls /proc/"$ROUTER_PID"/fd | wc -l)
refused=$(counter "$T/st2" slot:1 refused)
[ "$((fds_during - fds_before))" -le 12 ] || fail "the router holds $((fds_during - fds_before)) more fds for a client that does not read"
pass "100 connections for a client that does not read: the router holds $((fds_during - fds_before)) more fds (queue bound 10)"
[ "${refused:-0}" -ge 50 ] || fail "expected most connections refused once the queue is full: $(status_of "$T/st2")"
pass "$refused connections refused and counted once the slot's queue was full"
assert_contains "$T/router2.err" 'event=refused target=slot:1' "refusals are logged"
kill -CONT "$LAZY"
