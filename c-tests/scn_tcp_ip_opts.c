/* ip2unix scenario: TCP- and IP-level options on converted sockets.
 * setsockopt(TCP_NODELAY) and setsockopt(IPV6_V6ONLY) succeed and getsockopt
 * returns what was set, whether they were set before the swap (on the real
 * TCP socket) or after it; an option never set returns a real TCP socket's
 * default (TCP_KEEPIDLE, compared with an unconverted socket). */
#include "harness.h"

int main(void) {
    harness_preload("in,port=7201-7202,path={D}/%p.sock;out,port=7201-7202,path={D}/%p.sock");
    int real = tcp_socket(AF_INET6); /* never bound: stays TCP, gives the defaults */
    int def_keepidle = sockopt_int(real, IPPROTO_TCP, TCP_KEEPIDLE);
    int def_nodelay = sockopt_int(real, IPPROTO_TCP, TCP_NODELAY);

    /* set before bind */
    int l = tcp_socket(AF_INET6);
    set_sockopt_int(l, IPPROTO_TCP, TCP_NODELAY, 1);
    set_sockopt_int(l, IPPROTO_IPV6, IPV6_V6ONLY, 1);
    haddr_t a = haddr("::1", 7201);
    CHECK(bind(l, SA(a)) == 0, "bind");
    CHECK(listen(l, 8) == 0, "listen");
    CHECK(is_socket_file(tpath("7201.sock")), "not converted (dir: %s)", list_dir(h_dir));
    CHECK(sockopt_int(l, IPPROTO_TCP, TCP_NODELAY) == 1, "TCP_NODELAY set before bind is lost");
    CHECK(sockopt_int(l, IPPROTO_IPV6, IPV6_V6ONLY) == 1, "IPV6_V6ONLY set before bind is lost");
    CHECK(sockopt_int(l, IPPROTO_TCP, TCP_KEEPIDLE) == def_keepidle, "TCP_KEEPIDLE default");

    /* set after connect */
    int c = tcp_connect_ok("::1", 7201);
    CHECK(sockopt_int(c, IPPROTO_TCP, TCP_NODELAY) == def_nodelay, "TCP_NODELAY default on client");
    set_sockopt_int(c, IPPROTO_TCP, TCP_NODELAY, 1);
    CHECK(sockopt_int(c, IPPROTO_TCP, TCP_NODELAY) == 1, "TCP_NODELAY not remembered");
    set_sockopt_int(c, IPPROTO_TCP, TCP_NODELAY, 0);
    CHECK(sockopt_int(c, IPPROTO_TCP, TCP_NODELAY) == 0, "TCP_NODELAY 0 not remembered");
    set_sockopt_int(c, IPPROTO_TCP, TCP_KEEPIDLE, 30);
    CHECK(sockopt_int(c, IPPROTO_TCP, TCP_KEEPIDLE) == 30, "TCP_KEEPIDLE not remembered");
    set_sockopt_int(c, IPPROTO_IPV6, IPV6_V6ONLY, 0);
    CHECK(sockopt_int(c, IPPROTO_IPV6, IPV6_V6ONLY) == 0, "IPV6_V6ONLY 0 not remembered");

    /* accepted socket: options per socket, not shared with the listener */
    int s = accept(l, NULL, NULL);
    CHECK(s >= 0, "accept");
    set_sockopt_int(s, IPPROTO_TCP, TCP_NODELAY, 1);
    CHECK(sockopt_int(s, IPPROTO_TCP, TCP_NODELAY) == 1, "TCP_NODELAY on accepted socket");
    CHECK(sockopt_int(c, IPPROTO_TCP, TCP_NODELAY) == 0, "accepted socket's option leaked to the client");

    /* IPv4: IP_TOS set before connect */
    int s4 = tcp_listen("127.0.0.1", 7202);
    int c4 = tcp_socket(AF_INET);
    set_sockopt_int(c4, IPPROTO_IP, IP_TOS, 0x10);
    haddr_t b = haddr("127.0.0.1", 7202);
    CHECK(connect(c4, SA(b)) == 0, "connect");
    CHECK(sockopt_int(c4, SOL_SOCKET, SO_DOMAIN) == AF_INET, "SO_DOMAIN");
    CHECK(sockopt_int(c4, IPPROTO_IP, IP_TOS) == 0x10, "IP_TOS set before connect is lost");
    close(s4);
    return 0;
}
