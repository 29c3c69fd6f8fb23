#!/usr/bin/env bash
# The example config of the socketbox wiki page ("How we use socketbox"), loaded unchanged
# (router/wiki-example.conf), in a network namespace of our own where the seed's prefix is made
# local with the AnyIP route. The router chroots (-x) so the config's absolute paths
# (/vm7/..., /nat64/...) resolve inside the test's directory. Every documented address/port
# reaches its documented daemon; the others are refused.
. "$(dirname "$0")/lib.sh"
. "$TS_DIR/router/lib.sh"
need_router
make_netns
ip -n "$NS" -6 route add local fd01:db8:1:40::/64 dev lo || fail "AnyIP route"

R=$T/root
mkdir -p "$R/vm7" "$R/nat64"
start_a sb443 "$R/vm7/sb-00443" sb-00443
start_a ap443 "$R/vm7/apache-00443" apache-00443
start_a sshd "$R/vm7/sshd_socket" sshd_socket
start_a nat64 "$R/nat64/nat64.sock" nat64
"$SOCKETBOX" check -f "$RH/wiki-example.conf" >"$T/check.out" 2>&1 || fail "check: $(cat "$T/check.out")"
pass "the wiki example config loads unchanged"
bg router "${IN_NS[@]}" "$SOCKETBOX" -f "$RH/wiki-example.conf" -l :: -p 22 --listen '[::]:80' --listen '[::]:443' \
    -x "$R" --status "$T/status"
ROUTER_PID=$BG_PID
wait_grep "$T/router.err" 'event=ready' 10 "$ROUTER_PID"

expect() { # ADDR PORT DAEMON-or-refused
    local out
    out=$("${IN_NS[@]}" "$PYTHON" "$RH/clients.py" "$1" "$2" 1 --timeout 5)
    if [ "$3" = refused ]; then
        assert_eq "ok=0 closed=1 error=0" "$(echo "$out" | tail -1)" "[$1]:$2 is refused"
    else
        echo "$out" | grep -q "^$3 local=$1:$2 peer=" || fail "[$1]:$2 should reach $3: $out"
        pass "[$1]:$2 -> $3"
    fi
}
expect fd01:db8:1:40::1:10 22 sshd_socket
expect fd01:db8:1:40::1:10 443 sb-00443
expect fd01:db8:1:40::1:11 443 apache-00443
expect fd01:db8:1:40:0:64:c000:201 80 nat64
expect fd01:db8:1:40:0:64:c000:201 443 nat64
expect fd01:db8:1:40:0:64:a:b 80 nat64
expect fd01:db8:1:40::1:11 22 refused
expect fd01:db8:1:40::1:f 22 refused
expect fd01:db8:1:40::1:0 22 refused
expect fd01:db8:1:40::1:f 443 refused
expect fd01:db8:1:40::1:12 443 refused
expect fd01:db8:1:40::1:1f 443 refused
expect fd01:db8:1:40::1234:5678 443 refused
expect fd01:db8:1:40::1:10 80 refused
expect fd01:db8:1:40:0:64:c000:201 22 refused
st=$(status_of "$T/status")
echo "$st" | grep -qx "target=fail delivered=0 queued=0 timed_out=0 refused=9 lost=0" || fail "status: $st"
pass "status counts 9 refusals and no failed delivery"
# SIGHUP inside the chroot: the config is re-read through the directory opened before chroot
kill -HUP "$ROUTER_PID"
wait_grep "$T/router.err" 'event=reload result=ok' 10 "$ROUTER_PID"
pass "SIGHUP reloads the config although the router is chrooted"
expect fd01:db8:1:40::1:11 443 apache-00443
