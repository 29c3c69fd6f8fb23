#!/usr/bin/env bash
# TPROXY as in the socketbox wiki page's dual-stack recipe, in a network namespace of our own:
# connections to several addresses and ports of 2001:db8::/64 and 192.0.2.0/24 all arrive on
# the router's one transparent socket [::ffff:127.100.100.1]:1 (-t) and are routed by their
# original destination (getsockname of the accepted socket).
. "$(dirname "$0")/lib.sh"
. "$TS_DIR/router/lib.sh"
need_router
need iptables ip6tables
make_netns
N=("${IN_NS[@]}")
"${N[@]}" ip route add local 2001:db8::/64 dev lo || fail "AnyIP route v6"
"${N[@]}" ip route add local 192.0.2.0/24 dev lo || fail "AnyIP route v4"
"${N[@]}" ip6tables -t mangle -A PREROUTING -d 2001:db8::/64 -p tcp -m multiport --dports 22,80,443 \
    -j TPROXY --on-ip ::ffff:127.100.100.1 --on-port 1 || fail "ip6tables TPROXY"
"${N[@]}" iptables -t mangle -A PREROUTING -d 192.0.2.0/24 -p tcp -m multiport --dports 22,80,443 \
    -j TPROXY --on-ip 127.100.100.1 --on-port 1 || fail "iptables TPROXY"
pass "TPROXY rules of the wiki recipe installed in $NS"

start_a web "$T/web.sock" web
start_a ssh "$T/ssh.sock" ssh
start_a v4 "$T/v4.sock" v4
cat >"$T/sb.conf" <<CONF
rule-set:0 size:10
ip:2001:db8::1 port:80 jump-unix:$T/web.sock
ip:2001:db8::1 port:443 jump-unix:$T/web.sock
ip:2001:db8::2 port:22 jump-unix:$T/ssh.sock
ip:::ffff:192.0.2.0/120 jump-map:1
default:fail
map-set:1 size:10 match-lport:1
port:80 jump-unix:$T/v4.sock
port:443 jump-unix:$T/v4.sock
default:fail
CONF
bg router "${N[@]}" "$SOCKETBOX" -f "$T/sb.conf" -l ::ffff:127.100.100.1 -p 1 -t --status "$T/st" --workers 1
ROUTER_PID=$BG_PID
wait_grep "$T/router.err" 'event=ready' 10 "$ROUTER_PID"
"${N[@]}" ss -ltnH >"$T/ss.out"
[ "$(wc -l <"$T/ss.out")" = 1 ] || fail "expected one listening socket: $(cat "$T/ss.out")"
pass "one listening socket: $(awk '{print $4}' "$T/ss.out")"

expect() { # ADDR PORT DAEMON-or-refused LOCALSEEN
    local out
    out=$("${N[@]}" "$PYTHON" "$RH/clients.py" "$1" "$2" 1 --timeout 5)
    if [ "$3" = refused ]; then
        assert_eq "ok=0 closed=1 error=0" "$(echo "$out" | tail -1)" "[$1]:$2 is refused"
    else
        echo "$out" | grep -q "^$3 local=$4:$2 peer=" || fail "[$1]:$2 should reach $3 seeing local $4: $out"
        pass "[$1]:$2 -> $3 (original destination seen)"
    fi
}
expect 2001:db8::1 80 web 2001:db8::1
expect 2001:db8::1 443 web 2001:db8::1
expect 2001:db8::2 22 ssh 2001:db8::2
expect 192.0.2.5 80 v4 ::ffff:192.0.2.5
expect 192.0.2.77 443 v4 ::ffff:192.0.2.77
expect 2001:db8::2 80 refused
expect 2001:db8::1 22 refused
expect 192.0.2.5 22 refused
assert_eq 5 "$(status_of "$T/st" | sed -n 's/^total delivered=\([0-9]*\).*/\1/p')" "5 delivered through the one transparent socket"
