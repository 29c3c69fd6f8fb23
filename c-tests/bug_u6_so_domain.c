/* unsock bug U6: getsockopt(SO_DOMAIN) reported AF_UNIX on converted sockets.
 * In unsock mode it must say AF_INET on a converted listener, client and
 * accepted socket (and SO_TYPE SOCK_STREAM, SO_PROTOCOL IPPROTO_TCP). */
#include "harness.h"

static void check(int fd, const char *what) {
    CHECK(sockopt_int(fd, SOL_SOCKET, SO_DOMAIN) == AF_INET, "%s: SO_DOMAIN %d, expected AF_INET", what,
          sockopt_int(fd, SOL_SOCKET, SO_DOMAIN));
    CHECK(sockopt_int(fd, SOL_SOCKET, SO_TYPE) == SOCK_STREAM, "%s: SO_TYPE", what);
    CHECK(sockopt_int(fd, SOL_SOCKET, SO_PROTOCOL) == IPPROTO_TCP, "%s: SO_PROTOCOL", what);
}

int main(void) {
    harness_preload_env(NULL, "UNSOCK_DIR={D}", (const char *)NULL);
    int l = tcp_listen("127.175.0.0", 8201);
    CHECK(is_socket_file(tpath("8201.sock")), "not converted (dir: %s)", list_dir(h_dir));
    check(l, "listener");
    int c = tcp_connect_ok("127.175.0.0", 8201);
    check(c, "client");
    int a = accept(l, NULL, NULL);
    CHECK(a >= 0, "accept");
    check(a, "accepted");
    return 0;
}
