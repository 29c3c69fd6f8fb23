/* An epoll instance made before fork serves the child too: a socket the child
 * adds to the inherited instance before bind still reports readiness after
 * the swap (the seccomp supervisor must find it although the child never
 * created an epoll instance itself); in a grandchild too. */
#include "harness.h"
#include <sys/epoll.h>
#include <sys/wait.h>

static void serve_once(int ep, int port, unsigned long long tag) {
    int l = tcp_socket(AF_INET);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = tag};
    CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev) == 0, "epoll_ctl ADD before bind");
    haddr_t a = haddr("127.0.0.1", port);
    CHECK(bind(l, SA(a)) == 0 && listen(l, 4) == 0, "bind+listen");
    char *path = tpath("%d.sock", port);
    CHECK(is_socket_file(path), "listener not converted (dir: %s)", list_dir(h_dir));
    struct epoll_event out[4];
    CHECK(epoll_wait(ep, out, 4, 0) == 0, "readiness before any client");
    int u = unix_connect_ok(path);
    int n = epoll_wait(ep, out, 4, 5000);
    CHECK(n == 1 && out[0].data.u64 == tag, "port %d: epoll_wait %d (registration lost in the swap?)",
          port, n);
    close(u);
    close(l);
}

int main(void) {
    harness_preload("in,port=6011-6012,path={D}/%p.sock");
    int ep = epoll_create1(0);
    CHECK(ep >= 0, "epoll_create1");
    pid_t child = harness_fork();
    if (child == 0) {
        serve_once(ep, 6011, 0x11);
        pid_t grandchild = fork();
        if (grandchild == 0) {
            serve_once(ep, 6012, 0x12);
            _exit(0);
        }
        _exit(wait_child(grandchild));
    }
    CHECK(wait_child(child) == 0, "child failed");
    return 0;
}
