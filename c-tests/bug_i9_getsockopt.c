/* ip2unix bug I9: getsockopt was not hooked: SO_DOMAIN said AF_UNIX and
 * TCP-level getsockopt failed.  On converted IPv6 sockets (listener, client,
 * accepted) SO_DOMAIN must be AF_INET6, and getsockopt(TCP_NODELAY) and
 * getsockopt(TCP_KEEPCNT) must succeed with sensible values. */
#include "harness.h"

static void check(int fd, const char *what) {
    int d = sockopt_int(fd, SOL_SOCKET, SO_DOMAIN);
    CHECK(d == AF_INET6, "%s: SO_DOMAIN %d, expected AF_INET6", what, d);
    int nd = -1;
    socklen_t l = sizeof nd;
    CHECK(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &nd, &l) == 0, "%s: getsockopt(TCP_NODELAY)", what);
    CHECK(nd == 0 || nd == 1, "%s: TCP_NODELAY value %d", what, nd);
    int kc = -1;
    l = sizeof kc;
    CHECK(getsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &kc, &l) == 0 && kc > 0, "%s: getsockopt(TCP_KEEPCNT) %d",
          what, kc);
}

int main(void) {
    harness_preload("in,port=8901,path={D}/%p.sock;out,port=8901,path={D}/%p.sock");
    int l = tcp_listen("::1", 8901);
    CHECK(is_socket_file(tpath("8901.sock")), "not converted (dir: %s)", list_dir(h_dir));
    check(l, "listener");
    int c = tcp_connect_ok("::1", 8901);
    check(c, "client");
    int a = accept(l, NULL, NULL);
    CHECK(a >= 0, "accept");
    check(a, "accepted");
    return 0;
}
