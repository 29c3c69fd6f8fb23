/* Two listeners bound to one address with SO_REUSEPORT (nginx "reuseport" opens one per worker
 * before forking). A Unix socket cannot be bound twice; the second must succeed as a share of
 * the first: same socket file, both fds accept, closing one keeps the file, closing both
 * removes it. Without SO_REUSEPORT the second bind still fails with EADDRINUSE. */
#include "harness.h"

int main(void) {
    harness_preload("in,port=9972,path={D}/%p.sock;out,port=9972,path={D}/%p.sock");
    haddr_t a = haddr("127.0.0.1", 9972);
    int l1 = tcp_socket(AF_INET), l2 = tcp_socket(AF_INET), l3 = tcp_socket(AF_INET);
    set_sockopt_int(l1, SOL_SOCKET, SO_REUSEPORT, 1);
    set_sockopt_int(l2, SOL_SOCKET, SO_REUSEPORT, 1);
    CHECK(bind(l1, SA(a)) == 0 && listen(l1, 8) == 0, "first bind");
    CHECK(bind(l2, SA(a)) == 0, "second SO_REUSEPORT bind: %s", strerror(errno));
    CHECK(listen(l2, 8) == 0, "listen on the share");
    CHECK_ERRNO(bind(l3, SA(a)), EADDRINUSE);
    haddr_t n2 = sock_name(l2);
    CHECK_ADDR(n2, "127.0.0.1", 9972);
    CHECK(sockopt_int(l2, SOL_SOCKET, SO_DOMAIN) == AF_INET, "SO_DOMAIN of the share");
    int c1 = tcp_connect_ok("127.0.0.1", 9972);
    int a2 = accept(l2, NULL, NULL);
    CHECK(a2 >= 0, "accept on the second listener");
    int c2 = tcp_connect_ok("127.0.0.1", 9972);
    int a1 = accept(l1, NULL, NULL);
    CHECK(a1 >= 0, "accept on the first listener");
    close(l1);
    CHECK(is_socket_file(tpath("9972.sock")), "closing one share removed the file");
    close(l2);
    CHECK(!path_exists(tpath("9972.sock")), "the file outlived both listeners");
    close(a1); close(a2); close(c1); close(c2); close(l3);
    return 0;
}
