#!/usr/bin/env bash
# Go bindings (src/go/socketbox): `go test` of the package (malformed records dropped, Close
# unblocks Accept, B re-registers after its server closes), then a Go HTTP server using them behind
# the real router, over A and over B: each answer names the client the server saw — the real
# client address and port (curl's own) — and the address the client reached. After a router
# restart the B listener registers again by itself and serves.
. "$(dirname "$0")/lib.sh"
. "$TS_DIR/router/lib.sh"
need_router
need go curl

GOSRC=$REPO_ROOT/src/go/socketbox
mkdir -p "$REPO_ROOT/target/go"
export GOCACHE=$REPO_ROOT/target/go/cache GOPATH=$REPO_ROOT/target/go/path GOPROXY=off GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0
(cd "$GOSRC" && go vet ./... && timeout 100 go test -count=1 ./...) >"$T/gotest.out" 2>&1 ||
    fail "go test of the bindings failed: $(tail -20 "$T/gotest.out")"
pass "go test: $(grep '^ok' "$T/gotest.out" | head -n 1)"
(cd "$GOSRC" && go build -o "$T/hello" ./cmd/socketbox-hello) >"$T/gobuild.out" 2>&1 ||
    fail "go build failed: $(cat "$T/gobuild.out")"

PA=$(free_port); PB=$(free_port)
cat >"$T/sb.toml" <<CONF
status = "$T/status"
[[listen]]
address = "127.0.0.1:$PA"
[[listen]]
address = "127.0.0.1:$PB"
[[api_socket]]
path = "$T/api"
mode = "0600"
[[slot]]
number = 8
uid = 0
api_socket = 0
[[rule_set]]
id = 0
default = "fail"
rules = [
  { port = $PA, to = "unix:$T/a.sock" },
  { port = $PB, to = "slot:8" },
]
CONF
start_router router -f "$T/sb.toml"
bg goa "$T/hello" a "$T/a.sock"
wait_grep "$T/goa.out" '^ready' 10 "$BG_PID"
bg gob "$T/hello" b "$T/api" 8
wait_grep "$T/gob.out" '^ready' 10 "$BG_PID"

check() { # PORT WHAT
    local out
    out=$(curl -sS --max-time 10 -w ' curl=%{local_ip}:%{local_port}' "http://127.0.0.1:$1/") || fail "$2: curl failed"
    echo "$out" | grep -qE "^client=127\.0\.0\.1:[0-9]+ local=127\.0\.0\.1:$1 tcp=true" || fail "$2: $out"
    local seen=${out#client=}; seen=${seen%% *}
    local mine=${out##* curl=}
    [ "$seen" = "$mine" ] || fail "$2: the server saw $seen, the client was $mine"
    pass "$2: the Go server saw the real client $seen on 127.0.0.1:$1 (a *net.TCPConn)"
}
check "$PA" "over A"
check "$PB" "over B"

stop_bg "$ROUTER_PID"
start_router router2 -f "$T/sb.toml"
wait_grep "$T/router2.err" 'event=b-register' 10 "$ROUTER_PID"
check "$PB" "over B after a router restart (registered again by itself)"
check "$PA" "over A after a router restart"
