/* epoll registrations before the swap, beyond a single ADD (libuv and other
 * event loops ADD, then MOD, sometimes DEL): the state at the moment of the
 * swap is what must survive.
 *  - ADD(EPOLLOUT, data 1) then MOD(EPOLLIN, data 2): after bind the listener
 *    reports EPOLLIN with data 2;
 *  - the same socket in two epoll sets: both report it;
 *  - ADD then DEL before bind: nothing is reported after bind, and a fresh
 *    ADD after bind succeeds (not EEXIST). */
#include "harness.h"
#include <sys/epoll.h>

int main(void) {
    harness_preload("in,port=9981-9982,path={D}/%p.sock");
    int ep1 = epoll_create1(0), ep2 = epoll_create1(0);
    CHECK(ep1 >= 0 && ep2 >= 0, "epoll_create1");

    int l = tcp_socket(AF_INET);
    struct epoll_event ev = {.events = EPOLLOUT, .data.u64 = 1};
    CHECK(epoll_ctl(ep1, EPOLL_CTL_ADD, l, &ev) == 0, "ADD");
    ev.events = EPOLLIN;
    ev.data.u64 = 2;
    CHECK(epoll_ctl(ep1, EPOLL_CTL_MOD, l, &ev) == 0, "MOD");
    ev.data.u64 = 3;
    CHECK(epoll_ctl(ep2, EPOLL_CTL_ADD, l, &ev) == 0, "ADD to second set");
    haddr_t a = haddr("127.0.0.1", 9981);
    CHECK(bind(l, SA(a)) == 0 && listen(l, 8) == 0, "bind+listen");
    CHECK(is_socket_file(tpath("9981.sock")), "not converted (dir: %s)", list_dir(h_dir));

    struct epoll_event out[4];
    CHECK(epoll_wait(ep1, out, 4, 0) == 0, "listener ready before any client (stale EPOLLOUT registration?)");
    int u = unix_connect_ok(tpath("9981.sock"));
    int n = epoll_wait(ep1, out, 4, 5000);
    CHECK(n == 1 && out[0].data.u64 == 2 && (out[0].events & EPOLLIN), "set 1: n=%d data=%llu events=%x", n,
          n > 0 ? (unsigned long long)out[0].data.u64 : 0ULL, n > 0 ? out[0].events : 0);
    n = epoll_wait(ep2, out, 4, 5000);
    CHECK(n == 1 && out[0].data.u64 == 3, "set 2: n=%d", n);
    close(u);

    int l2 = tcp_socket(AF_INET);
    ev.events = EPOLLIN;
    ev.data.u64 = 4;
    CHECK(epoll_ctl(ep2, EPOLL_CTL_ADD, l2, &ev) == 0, "ADD l2");
    CHECK(epoll_ctl(ep2, EPOLL_CTL_DEL, l2, NULL) == 0, "DEL l2");
    a = haddr("127.0.0.1", 9982);
    CHECK(bind(l2, SA(a)) == 0 && listen(l2, 8) == 0, "bind+listen l2");
    int u2 = unix_connect_ok(tpath("9982.sock"));
    /* drain set 2 of the first listener's (still pending) readiness */
    n = epoll_wait(ep2, out, 4, 200);
    for (int i = 0; i < n; i++)
        CHECK(out[i].data.u64 != 4, "a registration deleted before bind was replayed");
    ev.data.u64 = 5;
    CHECK(epoll_ctl(ep2, EPOLL_CTL_ADD, l2, &ev) == 0, "ADD after bind (deleted registration resurrected?)");
    close(u2);
    return 0;
}
