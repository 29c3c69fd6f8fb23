/* ip2unix scenario: SOL_SOCKET options set before bind/connect are still in
 * effect on the converted socket.  SO_RCVBUF is the trap: the kernel doubles
 * the value set, so replaying the value read back would double it twice;
 * getsockopt after the swap must equal getsockopt before it. */
#include "harness.h"

int main(void) {
    harness_preload("in,port=6101,path={D}/%p.sock;out,port=6102,path={D}/peer.sock");

    /* listener */
    int l = tcp_socket(AF_INET);
    set_sockopt_int(l, SOL_SOCKET, SO_REUSEADDR, 1);
    set_sockopt_int(l, SOL_SOCKET, SO_KEEPALIVE, 1);
    set_sockopt_int(l, SOL_SOCKET, SO_RCVBUF, 65536);
    int rcv_before = sockopt_int(l, SOL_SOCKET, SO_RCVBUF);
    haddr_t a = haddr("127.0.0.1", 6101);
    CHECK(bind(l, SA(a)) == 0, "bind");
    CHECK(listen(l, 8) == 0, "listen");
    CHECK(is_socket_file(tpath("6101.sock")), "listener not converted (dir: %s)", list_dir(h_dir));
    CHECK(sockopt_int(l, SOL_SOCKET, SO_REUSEADDR) == 1, "SO_REUSEADDR lost");
    CHECK(sockopt_int(l, SOL_SOCKET, SO_KEEPALIVE) == 1, "SO_KEEPALIVE lost");
    int rcv_after = sockopt_int(l, SOL_SOCKET, SO_RCVBUF);
    CHECK(rcv_after == rcv_before, "SO_RCVBUF %d before bind, %d after (doubled twice?)", rcv_before,
          rcv_after);

    /* client */
    int pl = unix_listen(tpath("peer.sock"));
    int c = tcp_socket(AF_INET);
    set_sockopt_int(c, SOL_SOCKET, SO_KEEPALIVE, 1);
    set_sockopt_int(c, SOL_SOCKET, SO_SNDBUF, 32768);
    struct linger lg = {1, 7};
    CHECK(setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) == 0, "SO_LINGER");
    int snd_before = sockopt_int(c, SOL_SOCKET, SO_SNDBUF);
    haddr_t b = haddr("127.0.0.1", 6102);
    CHECK(connect(c, SA(b)) == 0, "converted connect");
    int pa = accept(pl, NULL, NULL);
    CHECK(pa >= 0, "connect did not reach peer.sock");
    CHECK(sockopt_int(c, SOL_SOCKET, SO_KEEPALIVE) == 1, "client SO_KEEPALIVE lost");
    int snd_after = sockopt_int(c, SOL_SOCKET, SO_SNDBUF);
    CHECK(snd_after == snd_before, "SO_SNDBUF %d before connect, %d after", snd_before, snd_after);
    struct linger lg2 = {0, 0};
    socklen_t ll = sizeof lg2;
    CHECK(getsockopt(c, SOL_SOCKET, SO_LINGER, &lg2, &ll) == 0, "getsockopt SO_LINGER");
    CHECK(lg2.l_onoff == 1 && lg2.l_linger == 7, "SO_LINGER {%d,%d}, expected {1,7}", lg2.l_onoff,
          lg2.l_linger);
    return 0;
}
