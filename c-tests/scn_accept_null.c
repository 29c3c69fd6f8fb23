/* ip2unix scenario: NULL address pointers on accept/accept4 of a converted
 * listener, as the kernel allows: accept(fd, NULL, NULL), accept(fd, NULL,
 * &len) and accept4(fd, NULL, NULL, flags).  Each accepted socket works. */
#include "harness.h"

int main(void) {
    harness_preload("in,port=7701,path={D}/%p.sock");
    int l = tcp_listen("::1", 7701);
    char *path = tpath("7701.sock");
    CHECK(is_socket_file(path), "not converted (dir: %s)", list_dir(h_dir));
    for (int k = 0; k < 3; k++) {
        int u = unix_connect_ok(path);
        socklen_t len = 5;
        int a = k == 0 ? accept(l, NULL, NULL)
              : k == 1 ? accept(l, NULL, &len)
                       : accept4(l, NULL, NULL, SOCK_CLOEXEC);
        CHECK(a >= 0, "accept variant %d with NULL address", k);
        if (k == 2) CHECK(fd_cloexec(a), "accept4 flag lost");
        write_all(u, "n", 1);
        char ch = 0;
        CHECK(read_full(a, &ch, 1) == 1 && ch == 'n', "accepted socket %d does not work", k);
        haddr_t p = peer_name(a);
        CHECK(p.ss.ss_family == AF_INET6, "accepted peer family %d", p.ss.ss_family);
        close(a);
        close(u);
    }
    return 0;
}
