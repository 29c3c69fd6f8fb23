/* ip2unix scenario: epoll registrations made before the swap survive it.
 *  - a listener added to an epoll set (EPOLLIN) before bind reports
 *    readiness after a native AF_UNIX client connects to its socket file;
 *  - a client socket added (EPOLLIN) before connect reports readiness when
 *    the server it reached through the out rule sends data. */
#include "harness.h"
#include <sys/epoll.h>

int main(void) {
    harness_preload("in,port=6001,path={D}/%p.sock;out,port=6002,path={D}/peer.sock");
    int ep = epoll_create1(EPOLL_CLOEXEC);
    CHECK(ep >= 0, "epoll_create1");

    int l = tcp_socket(AF_INET);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0x1234};
    CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev) == 0, "epoll_ctl ADD before bind");
    haddr_t a = haddr("127.0.0.1", 6001);
    CHECK(bind(l, SA(a)) == 0, "bind");
    CHECK(listen(l, 16) == 0, "listen");
    char *path = tpath("6001.sock");
    CHECK(is_socket_file(path), "listener not converted (dir: %s)", list_dir(h_dir));

    struct epoll_event out[4];
    CHECK(epoll_wait(ep, out, 4, 0) == 0, "readiness before any client");
    int u = unix_connect_ok(path);
    int n = epoll_wait(ep, out, 4, 5000);
    CHECK(n == 1, "epoll_wait returned %d after a client connected (registration lost in the swap?)", n);
    CHECK(out[0].data.u64 == 0x1234 && (out[0].events & EPOLLIN), "wrong event data %llx events %x",
          (unsigned long long)out[0].data.u64, out[0].events);
    int c = accept(l, NULL, NULL);
    CHECK(c >= 0, "accept");
    close(c);
    close(u);

    /* client side: registered before connect */
    int pl = unix_listen(tpath("peer.sock"));
    int ep2 = epoll_create1(0);
    int s = tcp_socket(AF_INET);
    struct epoll_event ev2 = {.events = EPOLLIN, .data.u64 = 0x5678};
    CHECK(epoll_ctl(ep2, EPOLL_CTL_ADD, s, &ev2) == 0, "epoll_ctl ADD before connect");
    haddr_t b = haddr("127.0.0.1", 6002);
    CHECK(connect(s, SA(b)) == 0, "converted connect");
    int pa = accept(pl, NULL, NULL);
    CHECK(pa >= 0, "peer accept (did connect reach peer.sock?)");
    CHECK(epoll_wait(ep2, out, 4, 0) == 0, "client readable before data was sent");
    write_all(pa, "data", 4);
    n = epoll_wait(ep2, out, 4, 5000);
    CHECK(n == 1 && out[0].data.u64 == 0x5678, "client epoll_wait returned %d after data arrived", n);
    return 0;
}
