# shellcheck shell=bash
# Router test helpers; source after test-scripts/lib.sh.
#   SOCKETBOX                 the router binary (override from the environment)
#   RH                        this directory (python helpers)
#   need_router               the binary must exist
#   start_router NAME ARGS..  run it in the background (logs in $T/NAME.err), wait for "event=ready"
#   start_a NAME PATH LABEL   an A receiver at PATH answering LABEL; waits for "ready"
#   status_of STATUS_PATH     the router's status text
#   counter STATUS_PATH TARGET FIELD   one counter of one target
SOCKETBOX=${SOCKETBOX:-$REPO_ROOT/target/release/socketbox}
RH=$TS_DIR/router

need_router() {
    [ -x "$SOCKETBOX" ] || fail "router not built: $SOCKETBOX (cargo build --release -p sockswap-router)"
    need "$PYTHON"
}

start_router() { # NAME ARGS...
    local name=$1; shift
    bg "$name" "$SOCKETBOX" "$@"
    ROUTER_PID=$BG_PID
    wait_grep "$T/$name.err" 'event=ready' 10 "$ROUTER_PID"
}

start_a() { # NAME PATH LABEL [ARGS]
    local name=$1 path=$2 label=$3; shift 3
    bg "$name" "$PYTHON" -u "$RH/a_recv.py" "$path" "$label" "$@"
    wait_grep "$T/$name.out" '^ready' 10 "$BG_PID"
}

status_of() { "$SOCKETBOX" status "$1"; }

counter() { # STATUS_PATH TARGET FIELD
    status_of "$1" | awk -v t="target=$2" -v f="$3" '$1 == t { for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == f) print kv[2] } }'
}

# make_netns: a network namespace of the test's own in $NS (loopback up), deleted on exit.
make_netns() {
    need ip
    NS=sbt-$$-$RANDOM
    ip netns add "$NS" || fail "ip netns add failed"
    trap '_rc=$?; ip netns del "$NS" 2>/dev/null; (exit $_rc); _cleanup' EXIT
    ip -n "$NS" link set lo up || fail "lo up in $NS"
    IN_NS=(ip netns exec "$NS")
}

# wait_socket PATH [TIMEOUT] [PID]: a socket file exists at PATH (an A receiver bound).
wait_socket() {
    _wait_until "${2:-10}" "${3:-}" test -S "$1"
    _wait_report $? "waiting for a socket at $1" "${3:-}"
}
