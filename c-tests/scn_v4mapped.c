/* IPv4 through AF_INET6 sockets with v4-mapped addresses, as Java does
 * (docs: a mapped address is compared as IPv4, and the peer of a connection
 * accepted on a listener bound to a mapped address is ::ffff:127.0.0.1).
 * An IPv4 rule must convert both the AF_INET6 listener and client, and all
 * names stay AF_INET6 sockaddrs. */
#include "harness.h"

int main(void) {
    harness_preload("in,addr=127.0.0.1,port=9991,path={D}/%p.sock;out,addr=127.0.0.1,port=9991,path={D}/%p.sock");
    const char *m = "::ffff:127.0.0.1";
    int l = tcp_listen(m, 9991);
    CHECK(is_socket_file(tpath("9991.sock")), "mapped bind not converted (dir: %s)", list_dir(h_dir));
    haddr_t ln = sock_name(l);
    CHECK_ADDR(ln, m, 9991);

    int c = tcp_connect_ok(m, 9991);
    haddr_t cp = peer_name(c);
    CHECK_ADDR(cp, m, 9991);
    haddr_t cn = sock_name(c);
    CHECK(cn.ss.ss_family == AF_INET6 && cn.len == sizeof(struct sockaddr_in6), "client getsockname %s",
          sa_str((struct sockaddr *)&cn.ss));

    struct sockaddr_in6 peer;
    socklen_t pl = sizeof peer;
    int a = accept(l, (struct sockaddr *)&peer, &pl);
    CHECK(a >= 0, "accept");
    CHECK(pl == sizeof peer && peer.sin6_family == AF_INET6 && strcmp(sa_ip((struct sockaddr *)&peer), m) == 0,
          "accepted peer %s, expected %s", sa_str((struct sockaddr *)&peer), m);
    int pp = ntohs(peer.sin6_port);
    CHECK(pp >= 32768 && pp <= 60999, "peer port %d", pp);
    haddr_t an = sock_name(a);
    CHECK_ADDR(an, m, 9991);
    CHECK(sockopt_int(a, SOL_SOCKET, SO_DOMAIN) == AF_INET6, "accepted SO_DOMAIN");
    write_all(c, "j", 1);
    char ch;
    CHECK(read_full(a, &ch, 1) == 1 && ch == 'j', "data");
    return 0;
}
