/* unsock bug U4: recvfrom(fd, buf, n, 0, NULL, NULL) failed with EFAULT after
 * consuming the data, on any socket.  It must return the data on a converted
 * client, on the accepted socket of a converted listener, and on a plain
 * (uncovered, real TCP) socket pair. */
#include "harness.h"

static void check_recv(int from, int to, const char *what) {
    write_all(from, "payload", 7);
    char buf[16] = {0};
    ssize_t n = recvfrom(to, buf, sizeof buf, 0, NULL, NULL);
    CHECK(n == 7 && memcmp(buf, "payload", 7) == 0, "%s: recvfrom(..., NULL, NULL) returned %zd '%.*s'",
          what, n, n > 0 ? (int)n : 0, buf);
    /* the socket keeps working afterwards */
    write_all(from, "again", 5);
    n = recvfrom(to, buf, sizeof buf, 0, NULL, NULL);
    CHECK(n == 5 && memcmp(buf, "again", 5) == 0, "%s: second recvfrom returned %zd", what, n);
}

int main(void) {
    harness_preload_env(NULL, "UNSOCK_DIR={D}", (const char *)NULL);
    int l = tcp_listen("127.175.0.0", 8101);
    CHECK(is_socket_file(tpath("8101.sock")), "not converted (dir: %s)", list_dir(h_dir));
    int c = tcp_connect_ok("127.175.0.0", 8101);
    int a = accept(l, NULL, NULL);
    CHECK(a >= 0, "accept");
    check_recv(a, c, "converted client");
    check_recv(c, a, "accepted socket");

    /* uncovered address: a real TCP pair */
    int rl = tcp_listen("127.0.0.1", 0);
    haddr_t rn = sock_name(rl);
    CHECK(sockopt_int(rl, SOL_SOCKET, SO_DOMAIN) == AF_INET, "127.0.0.1 should not be covered");
    int rc = tcp_connect_ok("127.0.0.1", sa_port((struct sockaddr *)&rn.ss));
    int ra = accept(rl, NULL, NULL);
    CHECK(ra >= 0, "accept");
    check_recv(ra, rc, "real TCP socket");
    return 0;
}
