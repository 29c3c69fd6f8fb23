/* ip2unix scenario: getsockopt answers like TCP on converted sockets:
 * SO_DOMAIN AF_INET/AF_INET6, SO_TYPE SOCK_STREAM, SO_PROTOCOL IPPROTO_TCP,
 * SO_ACCEPTCONN the truth (0 after bind, 1 after listen, 0 on connected and
 * accepted sockets). */
#include "harness.h"

static void check_id(int fd, int fam, int acceptconn, const char *what) {
    int d = sockopt_int(fd, SOL_SOCKET, SO_DOMAIN);
    CHECK(d == fam, "%s: SO_DOMAIN %d, expected %d", what, d, fam);
    int t = sockopt_int(fd, SOL_SOCKET, SO_TYPE);
    CHECK(t == SOCK_STREAM, "%s: SO_TYPE %d", what, t);
    int p = sockopt_int(fd, SOL_SOCKET, SO_PROTOCOL);
    CHECK(p == IPPROTO_TCP, "%s: SO_PROTOCOL %d, expected IPPROTO_TCP", what, p);
    int ac = sockopt_int(fd, SOL_SOCKET, SO_ACCEPTCONN);
    CHECK(ac == acceptconn, "%s: SO_ACCEPTCONN %d, expected %d", what, ac, acceptconn);
}

int main(void) {
    harness_preload("in,port=7101-7102,path={D}/%p.sock;out,port=7101-7102,path={D}/%p.sock");
    const char *ips[] = {"127.0.0.1", "::1"};
    for (int i = 0; i < 2; i++) {
        int fam = ip_family(ips[i]), port = 7101 + i;
        char what[64];
        int l = tcp_bind(ips[i], port);
        CHECK(is_socket_file(tpath("%d.sock", port)), "not converted (dir: %s)", list_dir(h_dir));
        snprintf(what, sizeof what, "%s bound", ips[i]);
        check_id(l, fam, 0, what);
        CHECK(listen(l, 8) == 0, "listen");
        snprintf(what, sizeof what, "%s listening", ips[i]);
        check_id(l, fam, 1, what);
        int c = tcp_connect_ok(ips[i], port);
        snprintf(what, sizeof what, "%s connected client", ips[i]);
        check_id(c, fam, 0, what);
        int a = accept(l, NULL, NULL);
        CHECK(a >= 0, "accept");
        snprintf(what, sizeof what, "%s accepted", ips[i]);
        check_id(a, fam, 0, what);
        close(a);
        close(c);
        close(l);
    }
    return 0;
}
