#!/usr/bin/env bash
# ip2unix drop-in: `sockswap run` takes ip2unix's command line (-r, -f, -F, -c, -p, -v) and its
# rules unchanged. Rule strings and rule files from ip2unix's README and test scenarios
# (tests/test_rule_args.py, test_rule_file.py, test_reject.py) parse to the same rules, printed by
# `-p` in sockswap's own syntax; what ip2unix refuses is refused (exit 2, one line). Then the
# shim rule grammar (issues 13/16): signs and leading zeros, over-long names (at check and at
# load, exit 121), comments after a blank and `;` the same in files and the variable.
. "$(dirname "$0")/lib.sh"
need systemd-socket-activate curl
need_artifacts cli
B=$SOCKSWAP_BIN
cd "$T" || fail "cd $T"

# ---- rule strings: each prints as the sockswap rule of the same meaning
good() { # IP2UNIX-RULE EXPECTED-SOCKSWAP-RULE
    "$B" run -c -p -r "$1" >"$T/g.out" 2>"$T/g.err" || fail "run -cp -r [$1] refused: $(cat "$T/g.err")"
    assert_eq "1: $2" "$(cat "$T/g.out")" "-r [$1] prints as [$2]"
}
good 'path=/aaa\\,port=0' 'port=0,path=/aaa\\'
good 'path=/bbb\\,port=65535' 'port=65535,path=/bbb\\'
good 'path=/xxx\\,port=2000-6000' 'port=2000-6000,path=/xxx\\'
good 'path=/ddd\\,in' 'in,path=/ddd\\'
good 'path=/eee\\,out' 'out,path=/eee\\'
good 'path=/fff\\,tcp,udp' 'udp,path=/fff\\'
good 'path=/ggg\\,in,out' 'out,path=/ggg\\'
good 'path=/iii\,,out' 'out,path=/iii\,'
good 'path=/kkk\\,stream' 'tcp,path=/kkk\\'
good 'path=/lll\\,datagram' 'udp,path=/lll\\'
good 'path=/mmm\\,dgram' 'udp,path=/mmm\\'
good 'path=/%a\,\\' 'path=/%a\,\\'
good 'reject' 'reject=EACCES'
good 'reject=EPERM' 'reject=EPERM'
good 'reject=eperm' 'reject=EPERM'
good 'reject=9999' 'reject=9999'
good 'reject=999999' 'reject=999999'
good 'in,blackhole' 'in,blackhole'
good 'in,ignore' 'in,ignore'
good 'path=foo' "path=$T/foo"
good 'from-unix=xyz,path=/foo' 'from-unix=xyz,path=/foo'
good 'path=bar,noremove' "path=$T/bar,noremove"
good 'systemd' 'in,systemd'
good 'systemd=web' 'in,systemd=web'
good 'tcp,port=80,systemd' 'in,tcp,port=80,systemd'
good 'addr=1234::1,reject' 'addr=1234::1,reject=EACCES'
good 'address=127.0.0.1,port=8080,abstract=web-%p' 'addr=127.0.0.1,port=8080,abstract=web-%p'
good 'in,from-abstract=app-*,path=/run/x' 'in,from-abstract=app-*,path=/run/x'

# ip2unix's README example, as -r arguments and as a -f file: the same six rules
README_RULES=('out,port=53,ignore' 'out,tcp,path=/run/some.socket' 'in,addr=1.2.3.4,path=/run/another.socket'
    'in,port=80,address=abcd::1,blackhole' 'in,port=80,reject=EADDRINUSE' 'in,tcp,port=22,systemd=ssh')
WANT=$(printf '%s\n' '1: out,port=53,ignore' '2: out,tcp,path=/run/some.socket' \
    '3: in,addr=1.2.3.4,path=/run/another.socket' '4: in,addr=abcd::1,port=80,blackhole' \
    '5: in,port=80,reject=EADDRINUSE' '6: in,tcp,port=22,systemd=ssh')
args=(); for r in "${README_RULES[@]}"; do args+=(-r "$r"); done
assert_eq "$WANT" "$("$B" run -c -p "${args[@]}" 2>&1)" "ip2unix README's -r example"
printf '%s\n' "${README_RULES[@]}" >"$T/readme.rules"
assert_eq "$WANT" "$("$B" run -c -p -f "$T/readme.rules" 2>&1)" "ip2unix README's -f file example"
# rules of ip2unix's scenario tests and VM tests
good 'port=9999,ignore' 'port=9999,ignore'
good 'port=1234,addr=1.2.3.4,noremove,path=/s.sock' 'addr=1.2.3.4,port=1234,path=/s.sock,noremove'
good 'from-unix=/foo/ba[q-s]/xyz,path=/x.sock' 'from-unix=/foo/ba[q-s]/xyz,path=/x.sock'
good 'from-abstract=foob[a-c]r,abstract=n' 'from-abstract=foob[a-c]r,abstract=n'
good 'from-unix=/foo/bar,abstract=someabstract' 'from-unix=/foo/bar,abstract=someabstract'
good 'addr=4.3.2.1,abstract=name' 'addr=4.3.2.1,abstract=name'
good 'in,path=bar.sock' "in,path=$T/bar.sock"
"$B" run -c -p -F '[{"ignore": true}]' >"$T/i.out" 2>&1 || fail "-F ignore: $(cat "$T/i.out")"
assert_eq "1: ignore" "$(cat "$T/i.out")" "-F [{ignore: true}] (test_connections.py)"

# ---- what ip2unix refuses is refused: exit 2, one line
bad() { # RULE...
    local args=() r
    for r in "$@"; do args+=(-r "$r"); done
    "$B" run -c "${args[@]}" >"$T/b.out" 2>"$T/b.err"
    rc=$?
    [ "$rc" -eq 2 ] || fail "run -c [$*]: exit status $rc, expected 2 ($(cat "$T/b.out" "$T/b.err"))"
    [ "$(grep -c '' "$T/b.err")" -eq 1 ] || fail "run -c [$*]: not one line: $(cat "$T/b.err")"
}
for r in "=123" "321=" "=" "xxx=" "==" "blackhole=1" "port=" "port=-1" "port=65536" "port=1000000" \
    "port=12-" "port=12--1" "port=12-65536" "port=12-1000000" "port=3000-2000" "port=1000-0" \
    "reject=" "reject=-1" "reject=INVALIDERRORCODE" "," "" "/" 'path=/a\\,xxx'; do
    bad "$r"
done
pass "ip2unix's bad rule strings (test_rule_args.py) are refused with one line each"

# ---- rule files: ip2unix's newline-separated files (two -f), YAML and JSON
printf 'in,port=1234,path=/foo\n' >"$T/rf1"
printf '  \t in,addr=9.8.7.6,path=/bar\n# some comment\n\n   \t  out,port=4321,path=/foobar' >"$T/rf2"
"$B" run -c -p -f "$T/rf1" -f "$T/rf2" >"$T/f.out" 2>"$T/f.err" || fail "two -f files: $(cat "$T/f.err")"
assert_eq "$(printf '1: in,port=1234,path=/foo\n2: in,addr=9.8.7.6,path=/bar\n3: out,port=4321,path=/foobar')" \
    "$(cat "$T/f.out")" "two newline-separated rule files, in order"
cat >"$T/rules.yaml" <<'YAML'
# ip2unix's YAML rule file (README, "Rule file")
- direction: incoming
  type: tcp
  port: 3000
  portEnd: 3010
  socketPath: /run/app-%p.sock
  noRemove: true
- direction: outgoing
  address: "::1"
  port: 6379
  abstract: redis
- socketActivation: true
  fdName: web
- reject: true
  rejectError: EHOSTUNREACH
- direction: incoming
  blackhole: true
YAML
"$B" run -c -p -f "$T/rules.yaml" >"$T/y.out" 2>"$T/y.err" || fail "YAML rule file: $(cat "$T/y.err")"
assert_eq "$(printf '%s\n' '1: in,tcp,port=3000-3010,path=/run/app-%p.sock,noremove' \
    '2: out,addr=::1,port=6379,abstract=redis' '3: in,systemd=web' '4: reject=EHOSTUNREACH' '5: in,blackhole')" \
    "$(cat "$T/y.out")" "an ip2unix YAML rule file"
JSON='[{"direction": "outgoing", "type": "udp", "socketPath": "/tmp/foo"}, {"direction": "incoming", "address": "::", "socketPath": "/tmp/bar"}]'
"$B" run -c -p -F "$JSON" >"$T/j.out" 2>"$T/j.err" || fail "-F JSON: $(cat "$T/j.err")"
assert_eq "$(printf '1: out,udp,path=/tmp/foo\n2: in,addr=::,path=/tmp/bar')" "$(cat "$T/j.out")" "-F with ip2unix's JSON (test_complete_rules)"
for j in '{"rule1": {"socketPath": "/foo"}}' '[{"foo": 1}]' '[{"socketpath": "xxx"}]' '[{"socketPath": "bbb"}]' \
    '[{"type": "nope", "socketPath": "/tmp/foo"}]' '[{"socketPath": "/aaa", "port": 123, "portEnd": 10}]' \
    '[{"socketPath": "/aaa", "portEnd": 123}]' '[{"reject": true, "rejectError": -10}]' \
    '[{"socketPath": "/foo", "reject": true}]' '[{"fromUnix": "xxx", "port": 234}]' '[{"abstract": ""}]'; do
    "$B" run -c -F "$j" >/dev/null 2>"$T/jb.err" && fail "-F [$j] accepted"
    [ "$(grep -c '' "$T/jb.err")" -eq 1 ] || fail "-F [$j]: not one line: $(cat "$T/jb.err")"
done
pass "ip2unix's bad JSON rules (test_rule_file.py) are refused with one line each"

# -p goes to stderr when a program runs, -v raises the library's log level
"$B" run -p -v -r 'out,port=1,reject' -- "$PYTHON" -c 'import os; print(os.environ["SOCKSWAP_LOG"])' \
    >"$T/p.out" 2>"$T/p.err" || fail "run -p -v: $(cat "$T/p.err")"
assert_eq "info" "$(cat "$T/p.out")" "-v sets SOCKSWAP_LOG=info"
assert_contains "$T/p.err" "1: out,port=1,reject=EACCES" "-p prints the rules on stderr when running a program"

# ---- the rules work as ip2unix's scenarios expect (test_reject.py, on loopback)
cat >"$T/reject.py" <<'PY'
import errno, socket
def rejected(fn, want):
    try:
        fn()
    except OSError as e:
        assert e.errno == want, f"{e.errno} != {want}"
        return
    raise AssertionError("not rejected")
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    rejected(lambda: s.bind(("127.0.0.1", 1234)), errno.EPERM)
    rejected(lambda: s.connect(("127.0.0.1", 1234)), errno.EPERM)
with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
    rejected(lambda: s.bind(("::1", 1234)), errno.EACCES)
    rejected(lambda: s.connect(("::1", 1234)), errno.EACCES)
with socket.socket() as s:
    rejected(lambda: s.connect(("127.0.0.1", 9)), 9999)
print("ok")
PY
"$B" run -r 'addr=::1,reject' -r 'port=9,reject=9999' -r 'reject=eperm' -- "$PYTHON" "$T/reject.py" >"$T/r.out" 2>&1
assert_eq ok "$(cat "$T/r.out")" "reject, reject=eperm and reject=9999 fail the calls with those errnos"

# `-r systemd` (no `in`) takes the socket systemd-socket-activate passes
P=$(free_port)
mkdir -p "$T/www" && echo "activated $RANDOM" >"$T/www/hello.txt"
bg sa systemd-socket-activate -l "127.0.0.1:$P" -E LISTEN_FDNAMES \
    "$B" run -r systemd -- "$PYTHON" -m http.server "$P" --bind 127.0.0.1 --directory "$T/www"
wait_grep "$T/sa.err" "Listening on" 10 "$BG_PID"
got=$(timeout 20 curl -sS "http://127.0.0.1:$P/hello.txt") || fail "curl through the activated socket failed: $(cat "$T/sa.err")"
assert_eq "$(cat "$T/www/hello.txt")" "$got" "-r systemd: the server serves on the socket systemd passed"
stop_bg "$BG_PID"

# ---- the grammar of issues 13/16
"$B" check -r 'in,port=+42702,path=/x' >/dev/null 2>"$T/s.err" && fail "check accepted port=+42702"
assert_contains "$T/s.err" "without sign or leading zeros" "check refuses port=+42702 in words"
"$B" check -r 'in,port=08080,path=/x' >/dev/null 2>&1 && fail "check accepted port=08080"
LONG=/tmp/$(printf 'x%.0s' $(seq 1 110)).sock
"$B" check -r "in,path=$LONG" >/dev/null 2>"$T/l.err" && fail "check accepted a path of ${#LONG} bytes"
assert_contains "$T/l.err" "longer than a Unix socket address holds (107)" "check refuses an over-long fixed path"
env "${PRE[@]:1}" SOCKSWAP_RULES="in,path=$LONG" "$PYTHON" -c 'print("ran")' >"$T/l.out" 2>"$T/l2.err"
rc=$?
assert_eq 121 "$rc" "an over-long fixed path stops the program at load (exit 121)"
[ "$(grep -c '' "$T/l2.err")" -eq 1 ] && grep -q 'SOCKSWAP_RULES: rule 1: .*longer than a Unix socket address holds' "$T/l2.err" ||
    fail "load error is not one line naming the problem: $(cat "$T/l2.err")"
env "${PRE[@]:1}" SOCKSWAP_RULES="in,port=+42702,path=/x" "$PYTHON" -c 'print("ran")' >/dev/null 2>&1
assert_eq 121 "$?" "port=+42702 stops the program at load (exit 121)"

# one grammar: comments after a blank and `;` mean the same in a file and in the variable
printf 'in,port=1,path=/run/x.sock  # the comment\nin,port=2,ignore;in,port=3,ignore # c\n' >"$T/cm.rules"
"$B" check -f "$T/cm.rules" >"$T/cm.out" 2>&1 || fail "check -f with comments: $(cat "$T/cm.out")"
SOCKSWAP_RULES="$(cat "$T/cm.rules")" "$B" check >"$T/cv.out" 2>&1 || fail "check with the same SOCKSWAP_RULES: $(cat "$T/cv.out")"
assert_eq "$(printf '1: in,port=1,path=/run/x.sock\n2: in,port=2,ignore\n3: in,port=3,ignore')" "$(cat "$T/cm.out")" \
    "a rules file: the comment is not part of the path, ';' separates rules"
assert_eq "$(cat "$T/cm.out")" "$(cat "$T/cv.out")" "the variable reads the same text the same way"
SOCKSWAP_RULES_FILE="$T/cm.rules" "$B" check >"$T/cf.out" 2>&1
assert_eq "$(cat "$T/cm.out")" "$(cat "$T/cf.out")" "SOCKSWAP_RULES_FILE reads it the same way"

# a template that fits at load but not once expanded: the bind fails ENAMETOOLONG, one line says why
TPL=/tmp/$(printf 'y%.0s' $(seq 1 92))/%a-%p.sock
"$B" check -r "in,path=$TPL" >/dev/null 2>&1 || fail "check refused a template whose shortest expansion fits"
env "${PRE[@]:1}" SOCKSWAP_RULES="in,path=$TPL" "$PYTHON" -c '
import errno, socket
s = socket.socket()
try:
    s.bind(("127.0.0.1", 12345))
except OSError as e:
    print("bind", errno.errorcode[e.errno])' >"$T/t.out" 2>"$T/t.err"
assert_eq "bind ENAMETOOLONG" "$(cat "$T/t.out")" "an over-long expansion fails the bind with ENAMETOOLONG"
[ "$(grep -c '' "$T/t.err")" -eq 1 ] && grep -q "expanded for 127.0.0.1 port 12345 is longer than a Unix socket address holds" "$T/t.err" ||
    fail "expansion error is not one line naming the template: $(cat "$T/t.err")"
pass "the expansion error names the template and the call: $(cat "$T/t.err")"
