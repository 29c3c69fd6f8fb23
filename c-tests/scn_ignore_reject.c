/* ip2unix scenario: ignore before reject.  With "in,addr=127.0.0.1,ignore;
 * in,reject" a bind to 127.0.0.1 stays a real TCP socket (it works as TCP),
 * while every other bind fails with the default errno EACCES. */
#include "harness.h"

int main(void) {
    harness_preload("in,addr=127.0.0.1,ignore;in,reject");
    int l = tcp_listen("127.0.0.1", 0);
    CHECK(sockopt_int(l, SOL_SOCKET, SO_DOMAIN) == AF_INET, "ignored socket is not AF_INET");
    haddr_t n = sock_name(l);
    int port = sa_port((struct sockaddr *)&n.ss);
    CHECK(port != 0, "no kernel port");
    int c = tcp_connect_ok("127.0.0.1", port); /* real loopback TCP */
    int a = accept(l, NULL, NULL);
    CHECK(a >= 0, "accept on the ignored (real) listener");
    close(a);
    close(c);
    close(l);

    const char *others[] = {"::1", "127.0.0.2", "0.0.0.0"};
    for (int i = 0; i < 3; i++) {
        int s = tcp_socket(ip_family(others[i]));
        haddr_t b = haddr(others[i], 5701);
        CHECK_ERRNO(bind(s, SA(b)), EACCES);
        close(s);
    }
    CHECK(count_dir(h_dir) == 0, "files created: %s", list_dir(h_dir));
    return 0;
}
