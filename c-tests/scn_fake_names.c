/* ip2unix scenario: fake names on both sides.  For converted IPv4 and IPv6
 * sockets (and listeners bound to the wildcard address) the program must see
 * a consistent TCP world (docs/configuration.md, "What the program sees"):
 *  - listener getsockname = what it bound;
 *  - client getpeername = what it connected to, getsockname = loopback of its
 *    family with an ephemeral port (>= 1024);
 *  - accept's address = getpeername of the accepted socket = loopback of the
 *    listener's family, port in 32768-60999, distinct per connection;
 *  - accepted getsockname = listener's address (loopback for a wildcard);
 *  - the family is preserved: an AF_INET6 program sees sockaddr_in6 only. */
#include "harness.h"

static void check_family(const char *bind_ip, const char *conn_ip, int port) {
    int fam = ip_family(conn_ip);
    socklen_t flen = fam == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
    INFO("listener %s port %d, client to %s", bind_ip, port, conn_ip);

    int l = tcp_listen(bind_ip, port);
    CHECK(is_socket_file(tpath("%d.sock", port)), "listener not converted (dir: %s)", list_dir(h_dir));
    haddr_t ln = sock_name(l);
    CHECK_ADDR(ln, bind_ip, port);

    int prev_port = -1;
    for (int round = 0; round < 2; round++) {
        int c = tcp_connect_ok(conn_ip, port);
        haddr_t cp = peer_name(c);
        CHECK_ADDR(cp, conn_ip, port);
        haddr_t cn = sock_name(c);
        CHECK(cn.len == flen && cn.ss.ss_family == fam, "client getsockname %s has wrong family/len %u",
              sa_str((struct sockaddr *)&cn.ss), (unsigned)cn.len);
        CHECK(strcmp(sa_ip((struct sockaddr *)&cn.ss), conn_ip) == 0,
              "client getsockname %s is not loopback %s", sa_str((struct sockaddr *)&cn.ss), conn_ip);
        CHECK(sa_port((struct sockaddr *)&cn.ss) >= 1024, "client local port %d not ephemeral",
              sa_port((struct sockaddr *)&cn.ss));

        haddr_t acc;
        memset(&acc, 0, sizeof acc);
        acc.len = sizeof acc.ss;
        int a = accept(l, (struct sockaddr *)&acc.ss, &acc.len);
        CHECK(a >= 0, "accept");
        CHECK(acc.len == flen && acc.ss.ss_family == fam, "accept address %s family/len %u wrong",
              sa_str((struct sockaddr *)&acc.ss), (unsigned)acc.len);
        CHECK(strcmp(sa_ip((struct sockaddr *)&acc.ss), conn_ip) == 0, "accepted peer %s is not loopback %s",
              sa_str((struct sockaddr *)&acc.ss), conn_ip);
        int pp = sa_port((struct sockaddr *)&acc.ss);
        CHECK(pp >= 32768 && pp <= 60999, "accepted peer port %d not in 32768-60999", pp);
        CHECK(pp != prev_port, "two connections got the same peer port %d", pp);
        prev_port = pp;

        haddr_t ap = peer_name(a);
        CHECK(ap.len == acc.len && memcmp(&ap.ss, &acc.ss, acc.len) == 0,
              "getpeername %s differs from accept's %s", sa_str((struct sockaddr *)&ap.ss),
              sa_str((struct sockaddr *)&acc.ss));
        haddr_t an = sock_name(a);
        CHECK_ADDR(an, conn_ip, port); /* listener's address; loopback when it bound a wildcard */

        /* and the connection works */
        write_all(c, "x", 1);
        char ch;
        CHECK(read_full(a, &ch, 1) == 1 && ch == 'x', "data did not arrive");
        close(a);
        close(c);
    }
    close(l);
}

int main(void) {
    harness_preload("in,port=5501-5504,path={D}/%p.sock;out,port=5501-5504,path={D}/%p.sock");
    check_family("127.0.0.1", "127.0.0.1", 5501);
    check_family("::1", "::1", 5502);
    check_family("0.0.0.0", "127.0.0.1", 5503);
    check_family("::", "::1", 5504);
    return 0;
}
