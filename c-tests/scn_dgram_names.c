/* What a converted datagram socket looks like to the program: getsockname
 * (bound address; the real port when bound to port 0; wildcard + an ephemeral
 * port >= 1024 after sendto's implicit bind), getpeername (ENOTCONN before
 * connect, the connected address after), SO_TYPE/SO_DOMAIN/SO_PROTOCOL, and
 * reported sender addresses in the family of the receiving socket: 127.0.0.1
 * for IPv4, ::1 for IPv6, ::ffff:127.0.0.1 for a socket bound to an
 * IPv4-mapped address, ports >= 1024. */
#include "harness.h"
#include "dgram.h"

static void identity(int fd, int family, const char *what) {
    CHECK(sockopt_int(fd, SOL_SOCKET, SO_TYPE) == SOCK_DGRAM, "%s: SO_TYPE", what);
    CHECK(sockopt_int(fd, SOL_SOCKET, SO_DOMAIN) == family, "%s: SO_DOMAIN %d", what,
          sockopt_int(fd, SOL_SOCKET, SO_DOMAIN));
    CHECK(sockopt_int(fd, SOL_SOCKET, SO_PROTOCOL) == IPPROTO_UDP, "%s: SO_PROTOCOL %d", what,
          sockopt_int(fd, SOL_SOCKET, SO_PROTOCOL));
}

/* server bound at bind_ip:port, client sends to send_ip:port from a socket of
 * client_family; the server must report the client as peer_ip:>=1024. */
static void exchange(const char *bind_ip, const char *send_ip, int port, const char *peer_ip) {
    int s = udp_bind(bind_ip, port);
    CHECK(is_socket_file(tpath("%d.sock", port)), "%s:%d not converted (dir: %s)", bind_ip, port, list_dir(h_dir));
    identity(s, ip_family(bind_ip), "server");
    haddr_t n = sock_name(s);
    CHECK_ADDR(n, bind_ip, port);
    CHECK_ERRNO(getpeername(s, (struct sockaddr *)&n.ss, &n.len), ENOTCONN);

    int c = udp_socket(ip_family(send_ip));
    identity(c, ip_family(send_ip), "fresh client");
    udp_send_to(c, send_ip, port, "who am i");
    identity(c, ip_family(send_ip), "client after sendto");
    haddr_t cn = sock_name(c);
    const char *wild = ip_family(send_ip) == AF_INET6 ? "::" : "0.0.0.0";
    CHECK(cn.ss.ss_family == ip_family(send_ip) && cn.len == haddr(wild, 1).len &&
              strcmp(sa_ip((struct sockaddr *)&cn.ss), wild) == 0 && sa_port((struct sockaddr *)&cn.ss) >= 1024,
          "client getsockname after sendto is %s (len %u), expected %s with a port >= 1024",
          sa_str((struct sockaddr *)&cn.ss), (unsigned)cn.len, wild);
    haddr_t cn2 = sock_name(c);
    CHECK(memcmp(&cn, &cn2, sizeof cn) == 0, "client getsockname is not stable");

    haddr_t from;
    udp_expect(s, "who am i", &from);
    CHECK(from.ss.ss_family == ip_family(bind_ip) && from.len == haddr(peer_ip, 1).len &&
              strcmp(sa_ip((struct sockaddr *)&from.ss), peer_ip) == 0 &&
              sa_port((struct sockaddr *)&from.ss) >= 1024,
          "server saw the client as %s (len %u), expected %s with a port >= 1024",
          sa_str((struct sockaddr *)&from.ss), (unsigned)from.len, peer_ip);
    udp_send_back(s, &from, "YOU", 3);
    haddr_t sfrom;
    udp_expect(c, "YOU", &sfrom);
    CHECK_ADDR(sfrom, send_ip, port);

    /* connect: getpeername is the connected address */
    haddr_t dst = haddr(send_ip, port);
    CHECK(connect(c, SA(dst)) == 0, "connect to %s:%d", send_ip, port);
    haddr_t pn = peer_name(c);
    CHECK_ADDR(pn, send_ip, port);
    identity(c, ip_family(send_ip), "connected client");
    close(c);
    close(s);
}

int main(void) {
    harness_preload("udp,port=6701-6799,path={D}/%p.sock;udp,addr=127.0.0.2,path={D}/zero-%p.sock");
    exchange("127.0.0.1", "127.0.0.1", 6701, "127.0.0.1");
    exchange("::1", "::1", 6702, "::1");
    exchange("::ffff:127.0.0.1", "::ffff:127.0.0.1", 6703, "::ffff:127.0.0.1");
    /* a wildcard-bound server: the rule still matches; peers are loopback of its family */
    exchange("0.0.0.0", "127.0.0.1", 6704, "127.0.0.1");
    exchange("::", "::1", 6705, "::1");

    /* bind to port 0 with a rule covering the range: the real port is reported
     * and the socket file carries it */
    int fd = udp_socket(AF_INET);
    haddr_t z = haddr("127.0.0.2", 0);
    CHECK(bind(fd, SA(z)) == 0, "bind 127.0.0.2:0");
    haddr_t zn = sock_name(fd);
    int p = sa_port((struct sockaddr *)&zn.ss);
    CHECK(p >= 1024 && strcmp(sa_ip((struct sockaddr *)&zn.ss), "127.0.0.2") == 0,
          "getsockname after bind port 0 is %s", sa_str((struct sockaddr *)&zn.ss));
    CHECK(is_socket_file(tpath("zero-%d.sock", p)), "no socket file for the picked port %d (dir: %s)", p,
          list_dir(h_dir));
    CHECK(!real_udp_port_bound(p), "a real UDP socket is bound to port %d", p);
    /* and it is reachable at the reported address */
    int c = udp_socket(AF_INET);
    udp_send_to(c, "127.0.0.2", p, "to port zero");
    udp_expect(fd, "to port zero", NULL);
    close(c);
    identity(fd, AF_INET, "port-0 socket");
    close(fd);
    return 0;
}
