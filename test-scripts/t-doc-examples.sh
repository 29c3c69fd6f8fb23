#!/usr/bin/env bash
# TIMEOUT: 400
# Every shell example in README.md and docs/*.md works as printed.
#
# Each code block in those files must be marked by an HTML comment on the line before it:
#   <!-- example: NAME -->       a shell example; check_NAME below runs it and checks its effect
#   <!-- not-shell: WHAT -->     output, rules, a synopsis, a layout: not run
# (fenced blocks with a language other than sh/bash/shell/console, e.g. ```toml, need no mark).
# An unmarked block, a mark without a check, or a check without a mark fails this test: nobody
# can add an example that is not run. An example needing what this machine lacks is reported
# "skip NAME: why" (and counted), never dropped silently.
#
# The examples run as printed (absolute paths, fixed ports) in a private mount and network
# namespace: /run is a fresh tmpfs, /tmp, /etc, /var, /usr and /usr/local are overlays whose
# writes vanish with the test (so `make install`, `dpkg -i` and `useradd` in the examples are
# real but leave no trace),
# and loopback is the namespace's own. Programs the examples name but this machine does not
# serve (node server.js, ./server, my-app, nginx, ./resolver, ./supervisor) are stand-ins from
# helpers/docex.py: small servers and clients that make the calls the example is about.
if [ -z "${DOCEX_IN_NS:-}" ]; then
    exec unshare --mount --net --propagation private env DOCEX_IN_NS=1 bash "$0" "$@"
fi
set -u
ip link set lo up || { echo "not ok - loopback up in the test's network namespace" >&2; exit 1; }
mount -t tmpfs -o mode=0755 tmpfs /run || { echo "not ok - tmpfs on /run" >&2; exit 1; }
for d in /tmp /etc /var /usr /usr/local; do
    o=/run/.docex$d
    mkdir -p "$o/up" "$o/work" &&
        mount -t overlay overlay -o "lowerdir=$d,upperdir=$o/up,workdir=$o/work" "$d" ||
        { echo "not ok - overlay on $d" >&2; exit 1; }
done
. "$(dirname "$0")/lib.sh"
need curl nc redis-server node systemd-socket-activate useradd unshare ss
need_artifacts cli
DOCEX=$HELPERS/docex.py
EXDIR=$T/examples
mkdir -p "$EXDIR"

# ---- extract: one file per marked example, and the list of checks to run
"$PYTHON" - "$EXDIR" "$REPO_ROOT/README.md" "$REPO_ROOT"/docs/*.md >"$T/extract.out" 2>"$T/extract.err" <<'PY'
import os, re, sys
exdir, files = sys.argv[1], sys.argv[2:]
bad = []
seen = {}
def emit(path, line, marker, body):
    rel = os.path.relpath(path, os.path.dirname(files[0]))
    m = re.fullmatch(r"<!--\s*example:\s*([a-z0-9-]+)\s*-->", marker or "")
    if m:
        name = m.group(1)
        if name in seen:
            bad.append("%s:%d: example name '%s' used twice (also %s)" % (rel, line, name, seen[name]))
            return
        seen[name] = "%s:%d" % (rel, line)
        ind = min((len(l) - len(l.lstrip(" ")) for l in body if l.strip()), default=0)
        with open(os.path.join(exdir, name + ".sh"), "w") as f:
            f.write("\n".join(l[ind:] for l in body) + "\n")
        print(name, "%s:%d" % (rel, line))
    elif not re.fullmatch(r"<!--\s*not-shell:[^>]*-->", marker or ""):
        first = next((l.strip() for l in body if l.strip()), "")
        bad.append("%s:%d: code block without <!-- example: NAME --> or <!-- not-shell: ... --> before it: %s" % (rel, line, first[:70]))
for path in files:
    lines = open(path).read().split("\n")
    i = 0
    prev = None  # the last non-blank line before the current one
    while i < len(lines):
        l = lines[i]
        fence = re.match(r"^\s*```(\S*)", l)
        if fence:
            start = i
            i += 1
            body = []
            while i < len(lines) and not re.match(r"^\s*```\s*$", lines[i]):
                body.append(lines[i])
                i += 1
            if fence.group(1) in ("", "sh", "bash", "shell", "console"):
                emit(path, start + 1, prev, body)
            prev = None
            i += 1
            continue
        after = i > 0 and (not lines[i - 1].strip() or lines[i - 1].strip().startswith("<!--"))
        if l.startswith("    ") and l.strip() and after:
            start = i
            body = []
            while i < len(lines) and (lines[i].startswith("    ") or not lines[i].strip()):
                body.append(lines[i])
                i += 1
            while body and not body[-1].strip():
                body.pop()
            emit(path, start + 1, prev, body)
            prev = None
            continue
        if l.strip():
            prev = l.strip()
        i += 1
for b in bad:
    print(b, file=sys.stderr)
sys.exit(1 if bad else 0)
PY
[ $? -eq 0 ] || fail "unmarked or badly marked code blocks:
$(cat "$T/extract.err")"
[ -s "$T/extract.out" ] || fail "no marked examples found"

# ---- helpers for the checks
BIN=$T/bin           # stand-ins the examples call by name
mkdir -p "$BIN"
standin() { # NAME DOCEX-ROLE ARGS...: a program NAME (in $BIN) running docex.py ROLE ARGS
    local name=$1
    shift
    printf '#!/bin/sh\nexec %q %q %s\n' "$PYTHON" "$DOCEX" "$*" >"$BIN/$name"
    chmod +x "$BIN/$name"
}
scratch() { # NAME: a fresh working directory for one example (cd there)
    mkdir -p "$T/work/$1" && cd "$T/work/$1" || fail "scratch dir for $1"
}
# The examples run as a user would: the installed commands, no SOCKSWAP_LIB/SOCKSWAP_BIN (which
# `make test` sets for the other tests, and `sockswap lib` would print instead).
example() { # NAME: run the example's text in the background (its output in $T/NAME.out/.err)
    bg "$1" env -u SOCKSWAP_LIB -u SOCKSWAP_BIN "PATH=$BIN:/usr/local/bin:$PATH" bash -e "$EXDIR/$1.sh"
    EX_PID=$BG_PID
}
example_fg() { # NAME [TIMEOUT]: run it to its end; fails on a non-zero status
    timeout "${2:-60}" env -u SOCKSWAP_LIB -u SOCKSWAP_BIN "PATH=$BIN:/usr/local/bin:$PATH" bash -e "$EXDIR/$1.sh" >"$T/$1.out" 2>"$T/$1.err" ||
        fail "example $1 exited with status $?: $(cat "$T/$1.err")"
}
http_unix() { curl -sS --max-time 5 --unix-socket "$1" http://localhost/; }
http_tcp() { curl -sS --max-time 5 "http://$1/"; }
wait_http_tcp() { # HOST:PORT TEXT [PID]: poll until the answer contains TEXT (bounded: 10 s)
    local deadline=$(( $(now_ms) + 10000 ))
    until http_tcp "$1" 2>/dev/null | grep -qF "$2"; do
        [ "$(now_ms)" -lt "$deadline" ] || fail "no answer '$2' from $1: $(http_tcp "$1" 2>&1)"
        [ -z "${3:-}" ] || _is_running "$3" || fail "the example exited before $1 answered"
        sleep 0.05
    done
}
SKIPPED=()
skip() { # NAME WHY
    SKIPPED+=("$1")
    echo "skip $1: $2"
}

# ---- the checks, one per marked example
check_quickstart_install() {
    cd "$REPO_ROOT" || fail "cd $REPO_ROOT"
    example_fg quickstart-install 600
    assert_eq /usr/local/lib/sockswap/libsockswap.so "$(tail -n 1 "$T/quickstart-install.out")" "sockswap lib after make install"
    for f in bin/sockswap bin/socketbox lib/sockswap/libsockswap.so share/doc/sockswap/router.md \
        share/doc/sockswap/router-config.md share/doc/sockswap/configuration.md lib/systemd/system/socketbox.service; do
        [ -f "/usr/local/$f" ] || fail "make install did not install /usr/local/$f"
    done
    local link
    for link in $(grep -o '](\([a-z-]*\.md\|socketbox.service\))' /usr/local/share/doc/sockswap/*.md | sed 's/.*](//; s/)$//' | sort -u); do
        [ -f "/usr/local/share/doc/sockswap/$link" ] || fail "installed docs link to $link, which make install left out"
    done
    pass "quickstart-install: make install puts everything under /usr/local, sockswap lib says where"
}
check_install_deb() {
    cd "$REPO_ROOT" || fail "cd $REPO_ROOT"
    need dpkg-deb dpkg-shlibdeps
    command -v sudo >/dev/null || printf '#!/bin/sh\nexec "$@"\n' >"$BIN/sudo"
    chmod +x "$BIN/sudo" 2>/dev/null
    # man-db's trigger re-indexes every man page (most of dpkg -i's time); off in the overlay.
    echo 'man-db man-db/auto-update boolean false' | debconf-set-selections 2>/dev/null
    export DPKG_FORCE=unsafe-io  # no fsync per file: the overlay is thrown away anyway
    example_fg install-deb 600
    unset DPKG_FORCE
    dpkg -s sockswap 2>/dev/null | grep -q '^Status: install ok installed' || fail "install-deb: the package is not installed"
    assert_eq /usr/lib/sockswap/libsockswap.so "$(env -u SOCKSWAP_LIB /usr/bin/sockswap lib)" "install-deb: /usr/bin/sockswap lib"
    [ -f /usr/lib/systemd/system/socketbox.service ] || fail "install-deb: no socketbox.service"
    grep -q '^ExecStart=/usr/bin/socketbox ' /usr/lib/systemd/system/socketbox.service || fail "install-deb: the unit does not run /usr/bin/socketbox"
    pass "install-deb: the package installs under /usr, sockswap lib says where"
}
check_quickstart_demo() {
    cd "$REPO_ROOT" || fail "cd $REPO_ROOT"
    example_fg quickstart-demo 300
    assert_contains "$T/quickstart-demo.out" "hello from a TCP program on a Unix socket" "make demo fetched the page"
    assert_contains "$T/quickstart-demo.out" "demo OK" "make demo finished"
}
check_quickstart_test() {
    skip quickstart-test "it is 'make test' itself, which runs this test"
}
check_serve_unix() {
    scratch serve-unix
    cat >server.js <<'JS'
require("http").createServer((q, r) => r.end("hello from node\n")).listen(8080, "127.0.0.1");
JS
    example serve-unix
    wait_unix_connectable /run/app/http.sock 10 "$EX_PID"
    [ "$(http_unix /run/app/http.sock)" = "hello from node" ] || fail "serve-unix: the socket does not answer"
    assert_eq 660 "$(stat -c %a /run/app/http.sock)" "serve-unix: mode=0660"
    assert_tcp_not_listening 8080
    stop_bg "$EX_PID"
    pass "serve-unix: node served on /run/app/http.sock only"
}
check_client_to_unix() {
    scratch client-to-unix
    mkdir -p /run/redis
    bg redis redis-server --port 0 --unixsocket /run/redis/redis.sock --save '' --appendonly no
    wait_unix_connectable /run/redis/redis.sock 10 "$BG_PID"
    standin my-app redis-client 6379
    example_fg client-to-unix
    assert_eq +PONG "$(cat "$T/client-to-unix.out")" "client-to-unix: my-app's 127.0.0.1:6379 reached redis' Unix socket"
    stop_bg "$BG_PID"
}
check_both_ends() {
    scratch both-ends
    printf '#!/bin/sh\nexec %q %q supervisor 9042 /run/svc\n' "$PYTHON" "$DOCEX" >supervisor
    chmod +x supervisor
    example_fg both-ends
    assert_contains "$T/both-ends.out" "reply=hello 9042" "both-ends: the client reached the server"
    assert_contains "$T/both-ends.out" "socket=/run/svc/9042.sock exists" "both-ends: through /run/svc/9042.sock"
    pass "both-ends: a port of the range served and reached on its templated path"
}
check_lock_down() {
    scratch lock-down
    # The claims, with a probe in sshd's place: 22 stays TCP, every other bind (UDP and a
    # client's bind(:0) too) is refused, 10.0.0.0/8 unreachable.
    standin lockdown-probe lockdown-probe
    sed 's#/usr/sbin/sshd -D#lockdown-probe#' "$EXDIR/lock-down.sh" >"$EXDIR/lock-down-probe.sh"
    grep -q lockdown-probe "$EXDIR/lock-down-probe.sh" || fail "lock-down: the example does not run /usr/sbin/sshd -D"
    example_fg lock-down-probe
    local want
    for want in "bind tcp 22 ok" "bind tcp 8080 EACCES" "bind udp 5353 EACCES" "client bind :0 EACCES" \
        "connect 10.1.2.3:80 ENETUNREACH" "connect 127.0.0.1:22 ok"; do
        grep -qxF "$want" "$T/lock-down-probe.out" || fail "lock-down: expected [$want]: $(cat "$T/lock-down-probe.out")"
    done
    pass "lock-down: port 22 stays TCP, UDP binds and bind(:0) refused, 10/8 unreachable"
    if [ ! -x /usr/sbin/sshd ]; then
        skip lock-down-sshd "no /usr/sbin/sshd on this machine (the rules were checked with a probe)"
        return
    fi
    ssh-keygen -A >/dev/null 2>&1 || fail "ssh-keygen -A"
    mkdir -p /run/sshd
    example lock-down
    wait_tcp_connectable 22 10 "$EX_PID"
    local banner
    banner=$(timeout 5 nc -w 3 127.0.0.1 22 </dev/null | head -n 1)
    case $banner in SSH-2.0-*) ;; *) fail "lock-down: sshd does not answer on TCP 22: [$banner] $(cat "$T/lock-down.err")" ;; esac
    stop_bg "$EX_PID"
    pass "lock-down: the real sshd serves TCP 22 under these rules"
}
check_go_seccomp() {
    scratch go-seccomp
    cp "$(go_program serve_one)" go-server || fail "go-seccomp: no Go program"
    sed -i 's#-- ./go-server#-- ./go-server 8080#' "$EXDIR/go-seccomp.sh"
    grep -q -- '-- ./go-server 8080' "$EXDIR/go-seccomp.sh" || fail "go-seccomp: the example no longer runs ./go-server"
    example go-seccomp
    wait_grep "$T/go-seccomp.out" '^listening 127.0.0.1:8080' 20 "$EX_PID"
    assert_tcp_not_listening 8080
    out=$(timeout 5 "$PYTHON" -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); print(s.recv(100).decode().strip())' /run/app.sock)
    assert_eq "hello from go" "$out" "go-seccomp: the Go server answers on /run/app.sock"
    wait_exit "$EX_PID" 10
    assert_contains "$T/go-seccomp.err" "backend seccomp" "go-seccomp: --log info names the backend"
    pass "go-seccomp: a Go server under sockswap run is served on /run/app.sock"
}
check_unsock() {
    scratch unsock
    example unsock
    wait_unix_listening /tmp/unsockets/7000.sock 10 "$EX_PID"
    echo "hello nc" | timeout 5 nc -q 1 -U /tmp/unsockets/7000.sock >/dev/null 2>&1
    wait_grep "$T/unsock.out" '^hello nc$' 10 "$EX_PID"
    assert_tcp_not_listening 7000
    stop_bg "$EX_PID"
    pass "unsock: nc -l -p 7000 served at /tmp/unsockets/7000.sock with LD_PRELOAD=\$(sockswap lib)"
}
check_vsock_vm() {
    skip vsock-vm "needs a VM guest with AF_VSOCK (t-vsock-vm runs these rules in a QEMU guest)"
}
check_vsock_vm_guest_host() {
    skip vsock-vm-guest-host "needs a VM guest with AF_VSOCK (t-vsock-vm runs these rules in a QEMU guest)"
}
check_check_explain() {
    scratch check-explain
    example_fg check-explain
    assert_contains "$T/check-explain.out" "port=8000-8099,path=/run/%p.sock" "check prints the rule"
    assert_contains "$T/check-explain.out" "/run/8042.sock" "explain expands the path for port 8042"
}
check_udp() {
    scratch udp
    printf '#!/bin/sh\nexec %q %q resolver 5353\n' "$PYTHON" "$DOCEX" >resolver
    chmod +x resolver
    example udp
    wait_grep "$T/udp.out" '^resolving' 10 "$EX_PID"
    [ -S /run/dns/5353.sock ] || fail "udp: no socket at /run/dns/5353.sock"
    [ -z "$(ss -Huln 'sport = :5353')" ] || fail "udp: a real UDP socket on 5353"
    sockswap_client=(env -u SOCKSWAP_LIB "PATH=/usr/local/bin:$PATH" sockswap run -r 'udp,port=5353,path=/run/dns/%p.sock' --)
    out=$("${sockswap_client[@]}" "$PYTHON" "$DOCEX" udp-client 5353) || fail "udp: the client failed"
    assert_eq "a:q from 127.0.0.1:5353" "$out" "udp: the answer comes back from the IP address asked"
    stop_bg "$EX_PID"
}
socket_activation() { # NAME
    scratch "$1"
    printf '#!/bin/sh\nexec %q %q serve 8080\n' "$PYTHON" "$DOCEX" >server
    chmod +x server
    example "$1"
    wait_unix_connectable /run/app.sock 10 "$EX_PID"
    [ "$(http_unix /run/app.sock | tail -n 1)" = "hello 8080" ] || fail "$1: /run/app.sock does not answer: $(cat "$T/$1.err")"
    assert_tcp_not_listening 8080
    stop_bg "$EX_PID"
    rm -f /run/app.sock
    pass "$1: ./server, binding TCP 8080, took the activated /run/app.sock"
}
check_socket_activation() { socket_activation socket-activation; }
check_socket_activation_by_hand() { socket_activation socket-activation-by-hand; }
socketbox_a() { # NAME PATH PORT
    scratch "$1"
    mkdir -p /run/socketbox
    local front
    front=$(free_port)
    bg "$1-router" socketbox -S "$2" -l 127.0.0.1 -p "$front"
    local router=$BG_PID
    wait_grep "$T/$1-router.err" 'event=ready' 10 "$router"
    standin nginx serve 80 8080
    example "$1"
    wait_file "$T/$1.out" 10 "$EX_PID"
    wait_http_tcp "127.0.0.1:$front" "hello $3" "$EX_PID"
    assert_tcp_not_listening "$3"
    stop_bg "$EX_PID"
    stop_bg "$router"
    pass "$1: the stand-in nginx's port $3 is the router's A target $2"
}
check_socketbox_a() { socketbox_a socketbox-a /run/socketbox/web 80; }
check_socketbox_a_by_hand() { socketbox_a socketbox-a-by-hand /run/socketbox/web-8080 8080; }
socketbox_b() { # NAME
    scratch "$1"
    mkdir -p /run/socketbox
    local front
    front=$(free_port)
    printf '[[listen]]\naddress = "127.0.0.1:%s"\n[[api_socket]]\npath = "/run/socketbox/api"\n[[slot]]\nnumber = 3\nuid = 0\n[[rule_set]]\nid = 0\ndefault = "slot:3"\n' "$front" >"$T/$1.toml"
    bg "$1-router" socketbox -f "$T/$1.toml"
    local router=$BG_PID
    wait_grep "$T/$1-router.err" 'event=ready' 10 "$router"
    echo "served through slot 3" >index.html
    example "$1"
    wait_http_tcp "127.0.0.1:$front" "served through slot 3" "$EX_PID"
    assert_tcp_not_listening 8080
    stop_bg "$EX_PID"
    stop_bg "$router"
    pass "$1: python's http.server took its connections from slot 3"
}
check_socketbox_b() { socketbox_b socketbox-b; }
check_socketbox_b_by_hand() { socketbox_b socketbox-b-by-hand; }
check_netns_server() {
    scratch netns-server
    example netns-server
    wait_unix_listening /run/sockswap/host.sock 10 "$EX_PID"
    NETNS_SERVER=$EX_PID
    pass "netns-server: listening at /run/sockswap/host.sock"
}
check_netns_program() {
    scratch netns-program
    [ -n "${NETNS_SERVER:-}" ] || fail "netns-program needs netns-server's check first"
    printf '#!/bin/sh\nexec %q %q serve 8000\n' "$PYTHON" "$DOCEX" >server
    chmod +x server
    example netns-program
    wait_http_tcp 127.0.0.1:8000 "hello 8000" "$EX_PID"
    stop_bg "$EX_PID"
    stop_bg "$NETNS_SERVER"
    pass "netns-program: ./server in a namespace without network serves TCP 8000 in the host's"
}
check_router_run() {
    scratch router-run
    mkdir -p /run/sb
    printf 'rule-set:0 size:1\ndefault:jump-unix:/run/sb/web.sock\n' >/etc/socketbox.conf
    bg sb-target "$PYTHON" -u "$TS_DIR/router/a_recv.py" /run/sb/web.sock web
    wait_grep "$T/sb-target.out" '^ready' 10 "$BG_PID"
    example router-run
    ROUTER_RUN=$EX_PID
    wait_grep "$T/router-run.err" 'event=ready' 10 "$EX_PID"
    out=$("$PYTHON" "$TS_DIR/router/clients.py" 127.100.100.1 1 1)
    echo "$out" | grep -q '^web local=::ffff:127.100.100.1:1' || fail "router-run: a connection to 127.100.100.1:1 did not reach the target: $out"
    pass "router-run: socketbox text config, -l ::ffff:127.100.100.1 -p 1 -t, delivered"
}
check_router_handover() {
    scratch router-handover
    mkdir -p /run/socketbox
    example router-handover
    local router=$EX_PID
    wait_grep "$T/router-handover.err" 'event=ready' 10 "$router"
    echo "served through a handed-over listener" >index.html
    bg handover-server env -u SOCKSWAP_LIB "PATH=/usr/local/bin:$PATH" \
        sockswap run -r 'in,tcp,port=8080,socketbox=/run/socketbox/web' -- "$PYTHON" -m http.server 8080 --bind 127.0.0.1
    wait_http_tcp 127.0.0.1:8080 "served through a handed-over listener" "$BG_PID"
    wait_grep "$T/router-handover.err" 'event=handover ' 10 "$router"
    stop_bg "$BG_PID"
    stop_bg "$router"
    pass "router-handover: the daemon behind -S /run/socketbox/web got the listener for 127.0.0.1:8080"
}
check_router_tools() {
    scratch router-tools
    [ -n "${ROUTER_RUN:-}" ] || fail "router-tools needs router-run's check first"
    example_fg router-tools
    assert_contains "$T/router-tools.out" "config ok" "socketbox check"
    assert_contains "$T/router-tools.out" "-> unix:/run/sb/web.sock" "socketbox explain"
    assert_contains "$T/router-tools.out" "target=unix:/run/sb/web.sock delivered=1" "socketbox status"
    stop_bg "$ROUTER_RUN"
}
check_prometheus_textfile() {
    scratch prometheus-textfile
    mkdir -p /run/socketbox /var/lib/node_exporter/textfile
    local front
    front=$(free_port)
    bg prom-router socketbox -S /run/socketbox/none.sock -l 127.0.0.1 -p "$front" --status /run/socketbox/status
    wait_grep "$T/prom-router.err" 'event=ready' 10 "$BG_PID"
    example_fg prometheus-textfile
    local f=/var/lib/node_exporter/textfile/socketbox.prom
    [ -f "$f" ] && [ ! -e "$f.tmp" ] || fail "prometheus-textfile: expected $f and no .tmp left"
    assert_contains "$f" "socketbox_waiting" "prometheus-textfile: the gauges are in the file"
    stop_bg "$BG_PID"
}
check_xsocket_by_hand() {
    skip xsocket-by-hand "not checked yet (merged from issue 15 at the deadline; t-xsocket-style tests of that branch cover XBIND)"
}
check_library_as_tool() {
    skip library-as-tool "not runnable as printed ([optional] and .../ placeholders); not checked yet"
}
check_control_files() {
    scratch control-files
    example_fg control-files
    local f
    for f in 8000 5432 8080; do
        assert_eq 452 "$(stat -c %s "/tmp/unsockets/$f.sock")" "control file $f.sock"
    done
    assert_contains "$T/control-files.out" "/run/vm/vsock.sock" "show explains the hybrid file"
}
check_router_user_and_unit() {
    scratch router-user-and-unit
    [ -f /usr/local/lib/systemd/system/socketbox.service ] || fail "needs quickstart-install's check first"
    example_fg router-user-and-unit
    getent passwd socketbox >/dev/null || fail "no socketbox user after the example"
    grep -q '^ExecStart=/usr/local/bin/socketbox ' "$T/router-user-and-unit.out" ||
        fail "the unit does not run /usr/local/bin/socketbox, where make install puts it: $(cat "$T/router-user-and-unit.out")"
    grep -q '/etc/socketbox.toml' "$T/router-user-and-unit.out" || fail "the unit does not read /etc/socketbox.toml"
    # router.md's TOML example (with user = "socketbox") is valid once the user exists
    awk '/^```toml/ { on = 1; next } /^```/ { on = 0 } on' "$REPO_ROOT/docs/router.md" >"$T/router-example.toml"
    grep -q 'user = "socketbox"' "$T/router-example.toml" || fail "router.md's TOML example lost its user"
    socketbox check -f "$T/router-example.toml" >"$T/toml-check.out" 2>&1 ||
        fail "router.md's TOML example does not pass socketbox check: $(cat "$T/toml-check.out")"
    pass "router-user-and-unit: the socketbox user exists, the unit is installed, the TOML example checks"
}

# ---- run: every marked example has a check, every check a marked example
declare -A marked
while read -r name where; do marked[$name]=$where; done <"$T/extract.out"
for fn in $(declare -F | awk '{ print $3 }' | grep '^check_'); do
    name=${fn#check_}
    name=${name//_/-}
    [ -n "${marked[$name]:-}" ] || fail "check $fn has no marked example (renamed or removed?)"
done
PATH=/usr/local/bin:$PATH  # after quickstart-install: the installed sockswap, as the examples use it
# Installation first: everything after uses the installed commands.
order=(quickstart-install $(cut -d' ' -f1 "$T/extract.out" | grep -v '^quickstart-install$'))
ran=0
for name in "${order[@]}"; do
    fn=check_${name//-/_}
    declare -F "$fn" >/dev/null || fail "${marked[$name]}: example '$name' has no check $fn in $0"
    echo "# $name (${marked[$name]}) $(date +%T)"
    "$fn"
    ran=$((ran + 1))
done
pass "$ran marked examples checked, ${#SKIPPED[@]} skipped by name: ${SKIPPED[*]}"
