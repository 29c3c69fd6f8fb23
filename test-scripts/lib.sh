# shellcheck shell=bash
# Helpers for the black-box tests in test-scripts/t-*.sh.  Source it first:
#
#     . "$(dirname "$0")/lib.sh"
#
# It provides:
#   REPO_ROOT, TS_DIR            repository root and this directory
#   SOCKSWAP_LIB, SOCKSWAP_BIN   the library and the CLI under test (override from the environment)
#   PYTHON                       the real python3 executable (not a pyenv shim)
#   T                            a private temp dir (short path: socket paths must fit in 107 bytes),
#                                removed on exit
#   PRE                          array: `"${PRE[@]}" SOCKSWAP_RULES=... prog` runs prog under the shim
#   bg [-i FILE] NAME CMD...     start CMD in its own process group, stdout/stderr in $T/NAME.out/.err,
#                                stdin from FILE (default /dev/null); sets BG_PID. Every process group
#                                started this way is killed when the test exits.
#   stop_bg PID                  stop one of them now (TERM, then KILL)
#   wait_exit PID [TIMEOUT]      wait for a background process to exit; sets WAIT_RC
#   wait_unix_connectable PATH [TIMEOUT] [PID]   retry a real connect until it succeeds
#   wait_unix_listening PATH [TIMEOUT] [PID]     wait until a listening socket is bound at PATH
#                                (seen by `ss -xl`: does not consume a connection, for one-shot servers)
#   wait_tcp_connectable PORT [TIMEOUT] [PID]    retry a real TCP connect to 127.0.0.1:PORT
#   wait_file PATH [TIMEOUT] [PID]
#   assert_tcp_not_listening PORT   nothing listens on TCP PORT and a connect to 127.0.0.1:PORT fails
#   assert_unix_socket PATH      PATH exists and is a socket
#   free_port                    a TCP port nothing listens on (20000-29999)
#   randfile PATH BYTES, sha FILE
#   pass MSG / fail MSG / soft_fail MSG / assert_eq EXPECTED ACTUAL MSG / assert_contains FILE TEXT MSG
#   need PROG...                 a missing program is a failure (never a skip)
#   java_classes                 prints the directory holding test-scripts/java/*.java compiled
#                                (compiled once per content hash, shared between tests)
# A test that reaches its end without fail/soft_fail exits 0.

set -u -o pipefail

TS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$TS_DIR/.." && pwd)
SOCKSWAP_LIB=${SOCKSWAP_LIB:-$REPO_ROOT/target/release/libsockswap.so}
SOCKSWAP_BIN=${SOCKSWAP_BIN:-$REPO_ROOT/target/release/sockswap}
TEST_NAME=$(basename "$0" .sh)
HELPERS=$TS_DIR/helpers
PROGS=$TS_DIR/progs

# Nothing from the caller's environment may steer the programs under test.
unset LD_PRELOAD SOCKSWAP_RULES SOCKSWAP_RULES_FILE SOCKSWAP_LOG \
    UNSOCK_DIR UNSOCK_ADDR UNSOCK_PORT UNSOCK_MODE UNSOCK_BLOCK_INET UNSOCK_BLOCK_INET6 \
    UNSOCK_ACCEPT_CONVERT_ALL UNSOCK_ACCEPT_CONVERT_VSOCK \
    http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY \
    JAVA_TOOL_OPTIONS _JAVA_OPTIONS JDK_JAVA_OPTIONS NODE_OPTIONS
export LC_ALL=C

T=$(mktemp -d "${TMPDIR:-/tmp}/ssw.XXXXXX") || { echo "FAIL: mktemp" >&2; exit 1; }
PRE=(env "LD_PRELOAD=$SOCKSWAP_LIB")

BG_PIDS=()
BG_NAMES=()
SOFT_FAILS=0
_FAILED=0

# The real interpreter: a pyenv shim is a shell script that would run a dozen processes under the shim.
if [ -z "${PYTHON:-}" ]; then
    PYTHON=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null) || PYTHON=python3
fi

now_ms() { date +%s%3N; }

_is_running() { # PID: alive and not a zombie
    local st
    st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) || return 1
    st=${st%% *}
    [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

REAPED=" "
_kill_group() { # SIG PID: the process group we made for PID (and PID itself while it is ours)
    kill "-$1" -- "-$2" 2>/dev/null
    case $REAPED in *" $2 "*) ;; *) kill "-$1" "$2" 2>/dev/null ;; esac
}

stop_bg() { # PID
    local pid=$1 deadline
    _kill_group TERM "$pid"
    deadline=$(( $(now_ms) + 3000 ))
    while _is_running "$pid" && [ "$(now_ms)" -lt "$deadline" ]; do sleep 0.02; done
    _kill_group KILL "$pid"
    wait "$pid" 2>/dev/null
    REAPED="$REAPED$pid "
    return 0
}

_cleanup() {
    local rc=$? pid
    trap - EXIT INT TERM HUP
    for pid in "${BG_PIDS[@]}"; do _kill_group TERM "$pid"; done
    for pid in "${BG_PIDS[@]}"; do stop_bg "$pid"; done
    if [ "$rc" -eq 0 ] && [ "$SOFT_FAILS" -gt 0 ]; then rc=1; fi
    if [ "$rc" -ne 0 ] && [ "$_FAILED" -eq 0 ]; then
        echo "not ok - $TEST_NAME exited with status $rc" >&2
        _dump_logs
    fi
    if [ -n "${KEEP_TMP:-}" ]; then echo "(temp dir kept: $T)" >&2; else rm -rf "$T"; fi
    exit "$rc"
}
trap _cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

bg() { # [-i FILE] NAME CMD...
    local in=/dev/null
    if [ "$1" = -i ]; then in=$2; shift 2; fi
    local name=$1; shift
    # Not a group leader here, so setsid makes its own process group without forking: $! is the program.
    setsid "$@" <"$in" >"$T/$name.out" 2>"$T/$name.err" &
    BG_PID=$!
    BG_PIDS+=("$BG_PID")
    BG_NAMES+=("$name")
}

wait_exit() { # PID [TIMEOUT]: WAIT_RC = exit status, returns 1 on timeout
    local pid=$1 timeout=${2:-20} deadline
    deadline=$(( $(now_ms) + timeout * 1000 ))
    while _is_running "$pid"; do
        [ "$(now_ms)" -ge "$deadline" ] && { WAIT_RC=124; return 1; }
        sleep 0.02
    done
    wait "$pid" 2>/dev/null
    WAIT_RC=$?
    REAPED="$REAPED$pid "
    return 0
}

_dump_logs() {
    local i f
    for i in "${!BG_NAMES[@]}"; do
        for f in "$T/${BG_NAMES[$i]}.out" "$T/${BG_NAMES[$i]}.err"; do
            [ -s "$f" ] || continue
            grep -Iq . "$f" || { echo "----- ${f##*/}: binary, $(stat -c %s "$f") bytes -----" >&2; continue; }
            echo "----- ${f##*/} (pid ${BG_PIDS[$i]}) -----" >&2
            head -c 4000 "$f" | cat -v >&2
            echo >&2
        done
    done
}

pass() { echo "ok - $*"; }
fail() {
    _FAILED=1
    echo "not ok - $*" >&2
    _dump_logs
    exit 1
}
soft_fail() {
    SOFT_FAILS=$((SOFT_FAILS + 1))
    echo "not ok - $*" >&2
}

assert_eq() { # EXPECTED ACTUAL MSG
    if [ "$1" = "$2" ]; then pass "$3"; else fail "$3: expected [$1], got [$2]"; fi
}
assert_contains() { # FILE TEXT MSG
    if grep -qF -- "$2" "$1"; then pass "$3"; else
        fail "$3: [$2] not found in ${1##*/}: $(head -c 1500 "$1" | cat -v)"
    fi
}
assert_not_contains() { # FILE TEXT MSG
    if grep -qF -- "$2" "$1"; then
        fail "$3: [$2] found in ${1##*/}: $(head -c 1500 "$1" | cat -v)"
    else pass "$3"; fi
}

need() {
    local p
    for p in "$@"; do
        command -v "$p" >/dev/null 2>&1 || fail "required program '$p' is not installed"
    done
}

need_artifacts() {
    [ -f "$SOCKSWAP_LIB" ] || fail "library not built: $SOCKSWAP_LIB"
    [ "${1:-}" = cli ] && { [ -x "$SOCKSWAP_BIN" ] || fail "CLI not built: $SOCKSWAP_BIN"; }
    return 0
}

_wait_until() { # TIMEOUT PID-or-empty CMD...
    local timeout=$1 pid=$2 deadline
    shift 2
    deadline=$(( $(now_ms) + timeout * 1000 ))
    while :; do
        "$@" >/dev/null 2>&1 && return 0
        if [ -n "$pid" ] && ! _is_running "$pid"; then
            "$@" >/dev/null 2>&1 && return 0
            return 2
        fi
        [ "$(now_ms)" -ge "$deadline" ] && return 1
        sleep 0.05
    done
}

_unix_connect_once() { timeout 5 socat -u OPEN:/dev/null "UNIX-CONNECT:$1"; }
_tcp_connect_once() { timeout 5 socat -u OPEN:/dev/null "TCP4:127.0.0.1:$1"; }
_unix_listening() { ss -xlnH 2>/dev/null | awk -v p="$1" '$5 == p { f = 1 } END { exit !f }'; }
_tcp_listening() { [ -n "$(ss -ltnH "( sport = :$1 )" 2>/dev/null)" ]; }

_wait_report() { # RC WHAT PID
    case $1 in
        0) return 0 ;;
        2) fail "$2: the process (pid $3) exited first" ;;
        *) fail "$2: timed out" ;;
    esac
}

wait_unix_connectable() { # PATH [TIMEOUT] [PID]
    _wait_until "${2:-10}" "${3:-}" _unix_connect_once "$1"
    _wait_report $? "waiting for a connectable Unix socket at $1" "${3:-}"
}
wait_unix_listening() { # PATH [TIMEOUT] [PID]
    _wait_until "${2:-10}" "${3:-}" _unix_listening "$1"
    _wait_report $? "waiting for a listening Unix socket at $1" "${3:-}"
}
wait_tcp_connectable() { # PORT [TIMEOUT] [PID]
    _wait_until "${2:-10}" "${3:-}" _tcp_connect_once "$1"
    _wait_report $? "waiting for a TCP listener on 127.0.0.1:$1" "${3:-}"
}
wait_file() { # PATH [TIMEOUT] [PID]: non-empty regular file
    _wait_until "${2:-10}" "${3:-}" test -s "$1"
    _wait_report $? "waiting for $1" "${3:-}"
}
wait_grep() { # FILE REGEX [TIMEOUT] [PID]
    _wait_until "${3:-10}" "${4:-}" grep -qE -- "$2" "$1"
    _wait_report $? "waiting for /$2/ in ${1##*/}" "${4:-}"
}

assert_tcp_not_listening() { # PORT
    local p=$1
    if _tcp_listening "$p"; then
        fail "a TCP listener exists on port $p: $(ss -ltnpH "( sport = :$p )")"
    fi
    if _tcp_connect_once "$p" 2>/dev/null; then
        fail "a TCP connect to 127.0.0.1:$p succeeded"
    fi
    pass "nothing listens on TCP port $p"
}

assert_unix_socket() { # PATH
    [ -S "$1" ] || fail "no socket file at $1 ($(ls -la "$(dirname "$1")" 2>&1 | tr '\n' ' '))"
    pass "socket file $1 exists"
}

free_port() {
    local p i
    for i in $(seq 1 200); do
        p=$((20000 + RANDOM % 10000))
        _tcp_listening "$p" || { echo "$p"; return 0; }
    done
    fail "no free port found"
}

randfile() { head -c "$2" /dev/urandom >"$1"; }
sha() { sha256sum "$1" | cut -d' ' -f1; }

java_classes() {
    local src=$TS_DIR/java h dir
    h=$(cat "$src"/*.java | sha256sum | cut -c1-16)
    dir=${TMPDIR:-/tmp}/sockswap-test-java-$h
    if [ ! -f "$dir/.ok" ]; then
        (
            flock -w 120 9 || exit 1
            if [ ! -f "$dir/.ok" ]; then
                rm -rf "$dir.tmp" && mkdir -p "$dir.tmp" &&
                    javac -nowarn -d "$dir.tmp" "$src"/*.java >&2 &&
                    touch "$dir.tmp/.ok" && rm -rf "$dir" && mv "$dir.tmp" "$dir"
            fi
        ) 9>"$dir.lock" || fail "javac failed"
    fi
    [ -f "$dir/.ok" ] || fail "java classes missing in $dir"
    echo "$dir"
}

# go_program NAME: prints the path of test-scripts/go/NAME.go built as a dynamically linked (cgo)
# executable (built once per content hash, shared between tests; Go's build cache beside it).
go_program() {
    local src=$TS_DIR/go/$1.go h out
    need go gcc
    h=$(sha256sum "$src" | cut -c1-16)
    out=${TMPDIR:-/tmp}/sockswap-test-go-$1-$h
    if [ ! -x "$out" ]; then
        (
            flock -w 300 9 || exit 1
            [ -x "$out" ] || {
                GOCACHE=${TMPDIR:-/tmp}/sockswap-test-gocache GOPATH=${TMPDIR:-/tmp}/sockswap-test-gopath \
                    GO111MODULE=off CGO_ENABLED=1 go build -o "$out.tmp" "$src" >&2 && mv "$out.tmp" "$out"
            }
        ) 9>"$out.lock" || fail "go build of $src failed"
    fi
    [ -x "$out" ] || fail "go program missing: $out"
    echo "$out"
}

kv() { # FILE KEY: value of the first KEY=value line
    sed -n "s/^$2=//p" "$1" | head -n 1
}
assert_kv() { # FILE KEY EXPECTED
    assert_eq "$3" "$(kv "$1" "$2")" "${1##*/}: $2"
}
in_peer_range() { # HOST:PORT EXPECTED-HOST: the peer scheme's loopback address and a 32768-60999 port
    local host=${1%:*} port=${1##*:}
    [ "$host" = "$2" ] && [ "$port" -ge 32768 ] 2>/dev/null && [ "$port" -le 60999 ]
}

# probe RULES OP... : run progs/py_probe.py under the shim with SOCKSWAP_RULES=RULES (output on stdout)
probe() {
    local rules=$1
    shift
    timeout 30 "${PRE[@]}" SOCKSWAP_RULES="$rules" "$PYTHON" "$PROGS/py_probe.py" "$@"
}
# expect_line FILE-OR-TEXT "OP -> RESULT" MSG : the probe printed exactly this line
expect_line() {
    if printf '%s\n' "$1" | grep -qxF -- "$2"; then pass "$3: $2"; else
        fail "$3: expected line [$2] in: $(printf '%s' "$1" | tr '\n' '|')"
    fi
}
