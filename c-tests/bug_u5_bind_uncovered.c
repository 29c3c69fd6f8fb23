/* unsock bug U5: bind(0.0.0.0:0) on an address the configuration does not
 * cover turned the socket into AF_UNIX and failed with EINVAL.  With the
 * default UNSOCK_ADDR (127.175.0.0/32) it must stay a real AF_INET socket:
 * bind succeeds, getsockname gives AF_INET with a kernel port, a real TCP
 * client connects, and no file appears in UNSOCK_DIR. */
#include "harness.h"

int main(void) {
    harness_preload_env(NULL, "UNSOCK_DIR={D}", (const char *)NULL);
    const char *ips[] = {"0.0.0.0", "127.0.0.1"};
    for (int i = 0; i < 2; i++) {
        int l = tcp_socket(AF_INET);
        haddr_t a = haddr(ips[i], 0);
        CHECK(bind(l, SA(a)) == 0, "bind(%s:0)", ips[i]);
        CHECK(sockopt_int(l, SOL_SOCKET, SO_DOMAIN) == AF_INET, "SO_DOMAIN not AF_INET");
        haddr_t n = sock_name(l);
        int port = sa_port((struct sockaddr *)&n.ss);
        CHECK(n.ss.ss_family == AF_INET && n.len == sizeof(struct sockaddr_in) && port != 0,
              "getsockname %s", sa_str((struct sockaddr *)&n.ss));
        CHECK(listen(l, 4) == 0, "listen");
        int c = tcp_connect_ok("127.0.0.1", port);
        int s = accept(l, NULL, NULL);
        CHECK(s >= 0, "accept");
        close(s);
        close(c);
        close(l);
    }
    /* also an IPv6 wildcard: not covered either */
    int l6 = tcp_bind("::", 0);
    CHECK(sockopt_int(l6, SOL_SOCKET, SO_DOMAIN) == AF_INET6, "[::]:0 is not AF_INET6");
    close(l6);
    CHECK(count_dir(h_dir) == 0, "files in UNSOCK_DIR: %s", list_dir(h_dir));

    /* control: the covered address in the same configuration is converted
     * (so a shim that converts nothing cannot pass this test) */
    int cl = tcp_listen("127.175.0.0", 10601);
    CHECK(is_socket_file(tpath("10601.sock")), "covered address not converted (dir: %s)", list_dir(h_dir));
    close(cl);
    return 0;
}
