/* unsock bug U1: accept(fd, NULL, NULL) on a converted listener segfaulted.
 * unsock mode (UNSOCK_DIR, default UNSOCK_ADDR 127.175.0.0/32): the listener
 * on 127.175.0.0:7801 is {D}/7801.sock; accept(fd, NULL, NULL) and
 * accept4(fd, NULL, NULL, 0) must return working sockets. */
#include "harness.h"

int main(void) {
    harness_preload_env(NULL, "UNSOCK_DIR={D}", (const char *)NULL);
    int l = tcp_listen("127.175.0.0", 7801);
    char *path = tpath("7801.sock");
    CHECK(is_socket_file(path), "not converted (dir: %s)", list_dir(h_dir));
    for (int k = 0; k < 2; k++) {
        int u = unix_connect_ok(path);
        int a = k ? accept4(l, NULL, NULL, 0) : accept(l, NULL, NULL);
        CHECK(a >= 0, "%s(fd, NULL, NULL)", k ? "accept4" : "accept");
        write_all(a, "hi", 2);
        char buf[2];
        CHECK(read_full(u, buf, 2) == 2 && memcmp(buf, "hi", 2) == 0, "accepted socket does not work");
        close(a);
        close(u);
    }
    return 0;
}
