/* ip2unix scenario: stale and live socket files at the rule's path.
 *  - a socket file left by a SIGKILLed server is replaced at bind, and the new
 *    listener is the one reached through it;
 *  - a live listener's file is never stolen: a second converted bind to the
 *    same port fails with EADDRINUSE, and so does a bind over a file that a
 *    native (non-shim) server is listening on; both owners keep serving. */
#include "harness.h"

int main(void) {
    harness_preload("in,port=7401-7402,path={D}/%p.sock");
    char *p1 = tpath("7401.sock"), *p2 = tpath("7402.sock");

    /* a native server that gets killed, leaving its file behind */
    int nl = unix_listen(p1);
    pid_t kid = harness_fork();
    if (kid == 0) {
        for (;;) pause();
    }
    close(nl);
    int u = unix_connect_ok(p1); /* the killed process holds the only copy */
    close(u);
    kill(kid, SIGKILL);
    wait_child(kid);
    CHECK(is_socket_file(p1), "setup: stale file missing");
    CHECK(unix_connect(p1) < 0 && errno == ECONNREFUSED, "setup: stale file still accepting");

    int l = tcp_listen("127.0.0.1", 7401);
    CHECK(is_socket_file(p1), "bind over a stale file: no socket file");
    u = unix_connect_ok(p1);
    int a = accept(l, NULL, NULL);
    CHECK(a >= 0, "new listener not reached through the replaced file");
    close(a);
    close(u);

    /* a second converted bind to the same port must not steal the live file */
    struct stat before, after;
    CHECK(stat(p1, &before) == 0, "stat");
    int s = tcp_socket(AF_INET);
    haddr_t b = haddr("127.0.0.1", 7401);
    CHECK_ERRNO(bind(s, SA(b)), EADDRINUSE);
    close(s);
    CHECK(stat(p1, &after) == 0 && after.st_ino == before.st_ino, "live socket file was replaced");
    u = unix_connect_ok(p1);
    a = accept(l, NULL, NULL);
    CHECK(a >= 0, "the first listener no longer receives connections");
    close(a);
    close(u);
    /* closing the failed socket must not have unlinked the live file */
    CHECK(is_socket_file(p1), "live file removed");

    /* a native live server's file is not stolen either */
    native_echo_server(p2);
    s = tcp_socket(AF_INET6);
    b = haddr("::1", 7402);
    CHECK_ERRNO(bind(s, SA(b)), EADDRINUSE);
    close(s);
    u = unix_connect_ok(p2);
    echo_check(u, "native server still owns its file");
    close(u);
    return 0;
}
