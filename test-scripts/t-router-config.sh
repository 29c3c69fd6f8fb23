#!/usr/bin/env bash
# `socketbox check` and `socketbox explain` (no daemon): the wiki example and a native TOML
# config are accepted; malformed configs (socketbox S3: keyword prefixes, unknown TOML keys,
# undefined targets, jump loops, bad flags) are refused with one line naming what is wrong and
# exit status 2; explain walks the tables step by step.
. "$(dirname "$0")/lib.sh"
. "$TS_DIR/router/lib.sh"
need_router

"$SOCKETBOX" check -f "$RH/wiki-example.conf" >"$T/ok.out" 2>&1 || fail "wiki example: $(cat "$T/ok.out")"
assert_contains "$T/ok.out" "map-set 2: 2 entries, default fail" "check summarises the wiki example"
"$SOCKETBOX" explain -f "$RH/wiki-example.conf" fd01:db8:1:40::1:10 443 2001:db8::5 40000 >"$T/ex.out" || fail "explain"
assert_contains "$T/ex.out" "-> unix:/vm7/sb-00443" "explain: [::1:10]:443 -> /vm7/sb-00443"
"$SOCKETBOX" explain -f "$RH/wiki-example.conf" fd01:db8:1:40::1:11 22 2001:db8::5 40000 >"$T/ex2.out" || fail "explain 2"
assert_contains "$T/ex2.out" "-> fail" "explain: [::1:11]:22 -> fail"

bad() { # NAME EXPECTED-TEXT CONTENT (file NAME) — must be refused with EXPECTED-TEXT on one line
    printf '%b' "$3" >"$T/$1"
    local rc=0
    "$SOCKETBOX" check -f "$T/$1" >"$T/$1.out" 2>&1 || rc=$?
    assert_eq 2 "$rc" "$1: refused with exit status 2"
    assert_eq 1 "$(wc -l <"$T/$1.out")" "$1: one line of error"
    assert_contains "$T/$1.out" "$2" "$1: the error names the problem"
}
bad prefix.conf "unknown keyword 'i:" 'rule-set:0 size:2\ni:::1 fail\n'
bad missing.conf "map-set 9" 'rule-set:0 size:1\ndefault:jump-map:9\n'
bad typo.toml "line 2: unknown field \`addres\`" '[[listen]]\naddres = "[::]:80"\n'
bad undefined.toml "target 'nope' is not defined" '[[rule_set]]\nid = 0\nrules = [ { to = "relay:nope" } ]\n'
bad slot.toml "slot 4 is routed to but not defined" '[[rule_set]]\nid = 0\ndefault = "slot:4"\n'
bad badip.toml "not an IP address" '[[rule_set]]\nid = 0\nrules = [ { local = "fd00::zz", to = "fail" } ]\n'
printf 'rule-set:0 size:1\ndefault:jump-rule:1\nrule-set:1 size:1\ndefault:jump-rule:0\n' >"$T/loop.conf"
rc=0; "$SOCKETBOX" explain -f "$T/loop.conf" ::1 1 ::1 2 >"$T/loop.out" 2>&1 || rc=$?
assert_eq 1 "$rc" "explain: a jump loop ends in an error (exit 1)"
assert_contains "$T/loop.out" "-> error: more than 100 jumps" "the jump bound is reported"
rc=0; "$SOCKETBOX" -p 99999 -S /x >"$T/flag.out" 2>&1 || rc=$?
assert_eq 2 "$rc" "a bad port is refused"
assert_contains "$T/flag.out" "-p: not a valid number: '99999'" "the flag error names the flag"
rc=0; "$SOCKETBOX" -f "$T/does-not-exist" -p 1 >"$T/nf.out" 2>&1 || rc=$?
assert_eq 2 "$rc" "a missing config file is refused"
assert_contains "$T/nf.out" "$T/does-not-exist: No such file" "the error names the file"

# explain names relay and spawn targets by their kind and says what they do
printf '[[relay]]\nname = "legacy"\nto = "127.0.0.1:8080"\nproxy = "v2"\n[[spawn]]\nname = "echo"\nargv = ["/usr/bin/cat"]\n[[rule_set]]\nid = 0\ndefault = "spawn:echo"\nrules = [ { local = "192.0.2.0/24", to = "relay:legacy" } ]\n' >"$T/named.toml"
"$SOCKETBOX" explain -f "$T/named.toml" 192.0.2.1 443 2001:db8::5 40000 >"$T/named.out" || fail "explain of a relay target"
assert_contains "$T/named.out" "-> relay:legacy (connects to 127.0.0.1:8080, PROXY v2 header)" "explain: a relay target"
grep -q 'named:' "$T/named.out" && fail "explain still prints named: $(cat "$T/named.out")"
"$SOCKETBOX" explain -f "$T/named.toml" 192.0.3.1 443 2001:db8::5 40000 >"$T/named2.out" || fail "explain of a spawn target"
assert_contains "$T/named2.out" "-> spawn:echo (runs /usr/bin/cat, at most 64 at once)" "explain: a spawn target"
pass "explain names relay and spawn targets"
