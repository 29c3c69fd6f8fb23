#!/usr/bin/env bash
# One spelling of a number in every router grammar (issue 13 item 6): decimal digits, no sign,
# no leading zeros. Each form below is refused by `socketbox check` (exit 2, one line naming
# the number), while the canonical spelling loads: the text config, the JSON config, flags,
# --listen specs, targets, and socket-server's --allow / --allow-uid.
. "$(dirname "$0")/lib.sh"
. "$TS_DIR/router/lib.sh"
need_router
text() { printf 'rule-set:%s size:10\nip:::ffff:127.0.0.1 %s\n' "$1" "$2" >"$T/c.conf"; }
refused() { # WHAT ARGS...
    local what=$1 out rc; shift
    out=$(timeout 10 "$SOCKETBOX" "$@" 2>&1 >/dev/null); rc=$?
    assert_eq 2 "$rc" "$what: refused (exit 2): $(head -1 <<<"$out")"
}
text 0 "jump-unix:$T/x.sock"
timeout 10 "$SOCKETBOX" check -f "$T/c.conf" -p 80 >/dev/null || fail "the canonical config does not load"
pass "the canonical spellings load"
for n in +0 00 -0; do
    text "$n" "jump-unix:$T/x.sock"; refused "text rule-set:$n" check -f "$T/c.conf" -p 80
done
for t in slot:+7 slot:07 jump-rule:+1 jump-fd:03; do
    text 0 "$t"; refused "text target $t" check -f "$T/c.conf" -p 80
done
text 0 "jump-unix:$T/x.sock"
for p in +80 080 " 80"; do refused "-p '$p'" check -f "$T/c.conf" -p "$p"; done
refused "--workers 02" check -f "$T/c.conf" -p 80 --workers 02
refused "--queue-len +5" check -f "$T/c.conf" -p 80 --queue-len +5
refused "--listen 127.0.0.1:+81" check -f "$T/c.conf" -p 80 --listen 127.0.0.1:+81
refused "--listen backlog=+5" check -f "$T/c.conf" -p 80 --listen 127.0.0.1:81,backlog=+5
refused "socket-server --allow tcp:+80" socket-server --listen "$T/ss" --allow tcp:+80
refused "socket-server --allow tcp:080" socket-server --listen "$T/ss" --allow tcp:080
refused "socket-server --allow-uid +0" socket-server --listen "$T/ss" --allow tcp:80 --allow-uid +0
