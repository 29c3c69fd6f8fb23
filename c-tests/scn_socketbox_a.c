/* socketbox "A" listener (issue 6): bind(127.0.0.1:5201) under a socketbox= rule becomes an
 * AF_UNIX datagram socket at {D}/a-5201 that looks like a TCP listener, and accept takes the
 * connections a router sends there (one byte + one SCM_RIGHTS fd per datagram).  The test
 * plays the router itself: a real dual-stack TCP listener on [::] (no rule matches it), whose
 * accepted IPv4-mapped IPv6 sockets it sends to the path.  Checked: the listener's names and
 * options, EAGAIN and epoll readiness, accept4 flags whatever the router's socket had, the
 * program's family for the router's IPv6 socket (bug S2), a passed fd that is not a stream
 * socket skipped and closed, a live path never stolen, and a thread blocked in accept on the
 * listener can be cancelled. */
#include "harness.h"
#include <sys/epoll.h>

static int router_listen(int *port) {
    int l = socket(AF_INET6, SOCK_STREAM, 0);
    int zero = 0;
    setsockopt(l, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    haddr_t a = haddr("::", 0);
    CHECK(bind(l, SA(a)) == 0 && listen(l, 16) == 0, "router listener");
    haddr_t n = sock_name(l);
    CHECK(n.ss.ss_family == AF_INET6, "the router's listener must stay a real IPv6 socket");
    *port = sa_port((struct sockaddr *)&n.ss);
    return l;
}

/* A client connection through the router: returns the client fd; *passed gets the router's
 * accepted socket (already sent to the listener and closed by the router). */
static int via_router(int rl, int rport, const char *path, int router_nonblock) {
    int c = tcp_connect_ok("127.0.0.1", rport);
    int a = accept4(rl, NULL, NULL, router_nonblock ? SOCK_NONBLOCK : 0);
    CHECK(a >= 0, "router accept");
    send_fd_to(path, a);
    close(a);
    return c;
}

static volatile pid_t accept_tid;
static void *blocked_accept(void *arg) {
    int l = *(int *)arg;
    accept_tid = h_gettid();
    int r = accept(l, NULL, NULL);
    return (void *)(long)r; /* not reached if cancelled */
}

int main(void) {
    harness_preload("in,tcp,addr=127.0.0.1,port=5201,socketbox={D}/a-%p");
    char *path = tpath("a-5201");
    int l = tcp_socket(AF_INET);
    int one = 1;
    CHECK(setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0, "SO_REUSEADDR");
    haddr_t b = haddr("127.0.0.1", 5201);
    CHECK(bind(l, SA(b)) == 0, "bind");
    CHECK(sockopt_int(l, SOL_SOCKET, SO_ACCEPTCONN) == 0, "SO_ACCEPTCONN before listen");
    CHECK(listen(l, 16) == 0, "listen is a no-op that succeeds");
    struct stat st;
    CHECK(stat(path, &st) == 0 && S_ISSOCK(st.st_mode), "no socket at %s (dir: %s)", path, list_dir(h_dir));
    haddr_t n = sock_name(l);
    CHECK_ADDR(n, "127.0.0.1", 5201);
    CHECK(sockopt_int(l, SOL_SOCKET, SO_TYPE) == SOCK_STREAM, "SO_TYPE");
    CHECK(sockopt_int(l, SOL_SOCKET, SO_DOMAIN) == AF_INET, "SO_DOMAIN");
    CHECK(sockopt_int(l, SOL_SOCKET, SO_PROTOCOL) == IPPROTO_TCP, "SO_PROTOCOL");
    CHECK(sockopt_int(l, SOL_SOCKET, SO_ACCEPTCONN) == 1, "SO_ACCEPTCONN after listen");

    /* a second listener on the same live path must not steal it */
    int l2 = tcp_socket(AF_INET);
    CHECK_ERRNO(bind(l2, SA(b)), EADDRINUSE);
    close(l2);

    /* non-blocking: EAGAIN, then epoll readiness */
    CHECK(fcntl(l, F_SETFL, O_NONBLOCK) == 0, "O_NONBLOCK");
    CHECK_ERRNO(accept(l, NULL, NULL), EAGAIN);
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 77}, got;
    CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev) == 0, "epoll_ctl");
    CHECK(epoll_wait(ep, &got, 1, 0) == 0, "listener readable with nothing queued");

    int rport, rl = router_listen(&rport);
    int c = via_router(rl, rport, path, 1);
    CHECK(epoll_wait(ep, &got, 1, 2000) == 1 && got.data.u64 == 77, "no EPOLLIN for a queued connection");
    struct sockaddr_in pa;
    socklen_t pl = sizeof pa; /* an AF_INET program's buffer: 16 bytes (bug S2) */
    int a = accept4(l, (struct sockaddr *)&pa, &pl, SOCK_CLOEXEC);
    CHECK(a >= 0, "accept4: %s", strerror(errno));
    CHECK(pl == sizeof pa && pa.sin_family == AF_INET, "peer family %d len %u: expected AF_INET, 16", pa.sin_family, pl);
    haddr_t cl = sock_name(c);
    CHECK(pa.sin_addr.s_addr == htonl(INADDR_LOOPBACK) && ntohs(pa.sin_port) == sa_port((struct sockaddr *)&cl.ss),
          "peer %s, expected the client's real address %s", sa_str((struct sockaddr *)&pa), sa_str((struct sockaddr *)&cl.ss));
    haddr_t ap = peer_name(a), an = sock_name(a);
    CHECK_ADDR(ap, "127.0.0.1", sa_port((struct sockaddr *)&cl.ss));
    CHECK_ADDR(an, "127.0.0.1", rport);
    CHECK(sockopt_int(a, SOL_SOCKET, SO_DOMAIN) == AF_INET, "accepted socket's SO_DOMAIN");
    CHECK(!fd_nonblock(a), "accept4 without SOCK_NONBLOCK gave a non-blocking socket (the router's flag)");
    CHECK(fd_cloexec(a), "SOCK_CLOEXEC not applied");
    set_sockopt_int(a, IPPROTO_TCP, TCP_NODELAY, 1); /* reaches the real TCP socket */
    CHECK(sockopt_int(a, IPPROTO_TCP, TCP_NODELAY) == 1, "TCP_NODELAY");
    write_all(c, "ping", 4);
    char buf[8] = {0};
    CHECK(read_full(a, buf, 4) == 4 && memcmp(buf, "ping", 4) == 0, "data through the passed socket");
    close(a);
    close(c);

    /* a pipe and a UDP socket are skipped (and closed), then a real connection arrives */
    int p[2];
    CHECK(pipe(p) == 0, "pipe");
    send_fd_to(path, p[0]);
    close(p[0]);
    int u = socket(AF_INET6, SOCK_DGRAM, 0);
    send_fd_to(path, u);
    close(u);
    c = via_router(rl, rport, path, 0);
    a = accept4(l, NULL, NULL, SOCK_NONBLOCK);
    CHECK(a >= 0, "accept4 after skipped messages: %s", strerror(errno));
    CHECK(sockopt_int(a, SOL_SOCKET, SO_TYPE) == SOCK_STREAM, "got a non-stream socket");
    CHECK(fd_nonblock(a) && !fd_cloexec(a), "accept4(SOCK_NONBLOCK) flags");
    char one_byte;
    CHECK(write(p[1], "x", 1) == -1 && errno == EPIPE, "the skipped pipe end was not closed");
    (void)one_byte;
    close(a);
    close(c);
    CHECK_ERRNO(accept(l, NULL, NULL), EAGAIN);

    /* blocking accept in a thread can be cancelled */
    CHECK(fcntl(l, F_SETFL, 0) == 0, "blocking again");
    pthread_t t;
    CHECK(pthread_create(&t, NULL, blocked_accept, &l) == 0, "thread");
    wait_blocked_in(&accept_tid, SYS_recvmsg, SYS_recvmsg);
    CHECK(pthread_cancel(t) == 0, "pthread_cancel");
    void *res;
    CHECK(pthread_join(t, &res) == 0 && res == PTHREAD_CANCELED, "a thread blocked in accept was not cancelled");
    close(l);
    return 0;
}
