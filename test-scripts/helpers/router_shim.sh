# shellcheck shell=bash
# Helpers for the tests of the shim as the socketbox router's client (t-router-shim-*.sh,
# t-router-nginx-workers.sh, t-router-restart.sh, t-router-illusion.sh, t-netns-socket-server.sh).
# Source after test-scripts/lib.sh.
#
#   ROUTER                      the router binary: $SOCKSWAP_ROUTER, default target/release/socketbox
#   need_router_bin             ROUTER exists and is the real router (not the pre-merge skeleton)
#   start_router NAME ARGS...   run ROUTER ARGS in the background (log $T/NAME.err), wait for its
#                               "event=ready" line; ROUTER_PID
#   NS=(unshare -n)             prefix: run a program in a new, empty network namespace of its own
#                               (loopback down; it disappears with the program)
#   assert_other_netns PID      PID runs in another network namespace than the test
#   nginx_conf DIR LISTEN WORKERS   a minimal nginx config in DIR/nginx.conf: listen LISTEN,
#                               access log DIR/access.log "$pid $remote_addr:$remote_port $status $request_uri",
#                               GET /hello -> "hello from nginx\n"
#   start_nginx NAME DIR        run nginx -p DIR -c DIR/nginx.conf in the foreground (under whatever
#                               prefix the caller puts in NGINX_PRE); NGINX_PID
#   nginx_workers MASTER_PID    the pids of the master's children (its workers), one a line

ROUTER=${SOCKSWAP_ROUTER:-$REPO_ROOT/target/release/socketbox}
NS=(unshare -n)

need_router_bin() {
    [ -x "$ROUTER" ] || fail "router not built: $ROUTER (cargo build --release -p sockswap-router; or set SOCKSWAP_ROUTER)"
    "$ROUTER" --help >/dev/null 2>&1 ||
        fail "$ROUTER is not the socketbox router (\`socketbox --help\` failed: $("$ROUTER" --help 2>&1 | head -n 1))"
}

start_router() { # NAME ARGS...
    local name=$1
    shift
    bg "$name" "$ROUTER" "$@"
    ROUTER_PID=$BG_PID
    wait_grep "$T/$name.err" 'event=ready' 10 "$ROUTER_PID"
}

assert_other_netns() { # PID
    local theirs ours
    theirs=$(readlink "/proc/$1/ns/net") || fail "pid $1 is gone"
    ours=$(readlink /proc/self/ns/net)
    [ "$theirs" != "$ours" ] || fail "pid $1 runs in the test's own network namespace ($ours)"
    pass "pid $1 runs in its own network namespace ($theirs)"
}

nginx_conf() { # DIR LISTEN WORKERS
    local dir=$1
    mkdir -p "$dir/logs" "$dir/tmp"
    cat >"$dir/nginx.conf" <<CONF
daemon off;
master_process on;
user root;
worker_processes $3;
error_log stderr notice;
pid $dir/nginx.pid;
events { worker_connections 1024; }
http {
    log_format ids '\$pid \$remote_addr:\$remote_port \$status \$request_uri';
    access_log $dir/access.log ids;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    server {
        listen $2;
        location = /hello { default_type text/plain; return 200 "hello from nginx\n"; }
    }
}
CONF
}

NGINX_PRE=()
start_nginx() { # NAME DIR
    bg "$1" "${NGINX_PRE[@]}" nginx -e stderr -p "$2" -c "$2/nginx.conf"
    NGINX_PID=$BG_PID
}

nginx_workers() { # MASTER_PID
    pgrep -P "$1"
}

# ---- the four servers of t-router-shim-a.sh / t-router-shim-b.sh, each in its own network
# namespace, its listener converted by RULE (a socketbox= or socketbox-b= action). The program
# binds 127.0.0.1:SP; the router delivers connections made to its own TCP port RP.
# Each check_* fetches with curl from 127.0.0.1:RP bound to source SRC and asserts the body and
# that the server saw the real client SRC:<curl's local port>. SRV_PID: the server's pid.

start_py_server() { # NAME SP RULE
    mkdir -p "$T/www"
    [ -f "$T/www/blob.bin" ] || randfile "$T/www/blob.bin" 262144
    bg "$1" "${NS[@]}" "${PRE[@]}" SOCKSWAP_RULES="$3" \
        "$PYTHON" -u -m http.server "$2" --bind 127.0.0.1 --directory "$T/www"
    SRV_PID=$BG_PID
    wait_grep "$T/$1.out" "^Serving HTTP on 127\.0\.0\.1 port $2 " 15 "$SRV_PID"
    pass "python http.server banner shows its original address: $(head -n 1 "$T/$1.out")"
    assert_other_netns "$SRV_PID"
}

_count_log() { grep -cE -- "$2" "$1" 2>/dev/null; }
_more_log() { [ "$(_count_log "$1" "$2")" -gt "$3" ]; }

check_py() { # NAME RP SRC
    local lport n0 re
    re="^${3//./\\.} - - \[.*\] \"GET /blob.bin HTTP/1.1\" 200"
    n0=$(_count_log "$T/$1.err" "$re")
    lport=$(timeout 20 curl -sS -f --interface "$3" -o "$T/$1.got" -w '%{local_port}' \
        "http://127.0.0.1:$2/blob.bin") || fail "$1: curl http://127.0.0.1:$2/blob.bin from $3 failed (status $?)"
    assert_eq "$(sha "$T/www/blob.bin")" "$(sha "$T/$1.got")" "$1: 256 KiB file from python http.server through the router"
    _wait_until 10 "$SRV_PID" _more_log "$T/$1.err" "$re" "$n0"
    _wait_report $? "$1: waiting for http.server's log line of the request from $3" "$SRV_PID"
    pass "$1: http.server logged the real client $3 (curl's port $lport): $(grep -F 'GET /blob.bin' "$T/$1.err" | tail -n 1)"
}

start_node_server() { # NAME SP RULE
    [ -f "$T/body" ] || randfile "$T/body" 262144
    bg "$1" "${NS[@]}" "${PRE[@]}" SOCKSWAP_RULES="$3" node "$PROGS/node_http.js" server 127.0.0.1 "$2" "$T/body"
    SRV_PID=$BG_PID
    wait_grep "$T/$1.out" '^ready=1' 15 "$SRV_PID"
    assert_kv "$T/$1.out" address "{\"address\":\"127.0.0.1\",\"family\":\"IPv4\",\"port\":$2}"
    assert_other_netns "$SRV_PID"
}

start_java_server() { # NAME SP RULE
    [ -f "$T/body" ] || randfile "$T/body" 262144
    bg "$1" "${NS[@]}" "${PRE[@]}" SOCKSWAP_RULES="$3" java -cp "$CP" JHttp server 127.0.0.1 "$2" "$T/body"
    SRV_PID=$BG_PID
    wait_grep "$T/$1.out" '^ready=1' 30 "$SRV_PID"
    assert_kv "$T/$1.out" address "/127.0.0.1:$2"
    assert_other_netns "$SRV_PID"
}

# node_http.js and JHttp answer GET /req with "remote=A:P local=A:P host=H"
check_req_server() { # NAME RP SRC
    local lport remote local host
    timeout 30 curl -sS -f -o "$T/$1.got" "http://127.0.0.1:$2/body" ||
        fail "$1: curl http://127.0.0.1:$2/body failed (status $?)"
    assert_eq "$(sha "$T/body")" "$(sha "$T/$1.got")" "$1: 256 KiB body through the router"
    lport=$(timeout 20 curl -sS -f --interface "$3" -o "$T/$1.req" -w '%{local_port}' \
        "http://127.0.0.1:$2/req") || fail "$1: curl /req from $3 failed (status $?)"
    read -r remote local host <"$T/$1.req"
    assert_eq "remote=$3:$lport" "$remote" "$1: the server sees the real client (curl from $3 port $lport)"
    assert_eq "local=127.0.0.1:$2" "$local" "$1: the server sees the router's real local address"
    assert_eq "host=127.0.0.1:$2" "$host" "$1: Host header"
}

start_nginx_server() { # NAME SP RULE WORKERS
    local dir=$T/$1
    nginx_conf "$dir" "127.0.0.1:$2" "$4"
    NGINX_PRE=("${NS[@]}" "${PRE[@]}" SOCKSWAP_RULES="$3")
    start_nginx "$1" "$dir"
    SRV_PID=$NGINX_PID
    # nginx prints nothing when it is ready; its workers exist once the master has bound,
    # listened and forked.
    _nginx_has_workers() { [ "$(nginx_workers "$SRV_PID" | wc -l)" -ge "$1" ]; }
    _wait_until 15 "$SRV_PID" _nginx_has_workers "$4"
    _wait_report $? "waiting for $4 nginx worker(s) of pid $SRV_PID" "$SRV_PID"
    assert_other_netns "$SRV_PID"
}

check_nginx() { # NAME RP SRC
    local lport got
    got=$(timeout 20 curl -sS -f --interface "$3" -w ' port=%{local_port}' "http://127.0.0.1:$2/hello") ||
        fail "$1: curl http://127.0.0.1:$2/hello from $3 failed (status $?)"
    lport=${got##*port=}
    assert_eq "hello from nginx" "$(printf '%s' "${got% port=*}" | head -n 1)" "$1: nginx answered through the router"
    wait_grep "$T/$1/access.log" "^[0-9]+ ${3//./\\.}:$lport 200 /hello$" 10 "$SRV_PID"
    pass "$1: nginx logged the real client $3 (curl's port $lport): $(tail -n 1 "$T/$1/access.log")"
}

# epoll_stale PID: the registrations of PID's epoll sets that no longer match the fd they were
# made for (the fd now refers to another file, or is closed), one "epfd E: tfd N ino X, fd N is
# now ..." line each. The kernel keeps a registration as long as any process holds the file it
# was made for, so an fd replaced under a program (dup2/dup3) leaves its old registration live.
epoll_stale() {
    local pid=$1 link e tfd ino now
    for e in /proc/"$pid"/fd/*; do
        link=$(readlink "$e" 2>/dev/null) || continue
        [ "$link" = "anon_inode:[eventpoll]" ] || continue
        while read -r tfd ino; do
            now=$(stat -L -c %i "/proc/$pid/fd/$tfd" 2>/dev/null) || now=closed
            [ "$now" = "$((16#$ino))" ] ||
                echo "epfd ${e##*/}: tfd $tfd registered for inode $((16#$ino)), fd $tfd is now $now ($(readlink "/proc/$pid/fd/$tfd" 2>/dev/null))"
        done < <(sed -n 's/^tfd: *\([0-9]*\) .* ino:\([0-9a-f]*\).*/\1 \2/p' "/proc/$pid/fdinfo/${e##*/}" 2>/dev/null)
    done
}
