/* A UDP socket made non-blocking (SOCK_NONBLOCK, or fcntl) and registered
 * with epoll before the implicit conversion by its first sendto (client) or
 * by bind (server) keeps O_NONBLOCK, FD_CLOEXEC and the epoll registration:
 * an empty receive fails with EAGAIN at once, and epoll_wait reports the
 * reply on the same fd with the registered data. */
#include "harness.h"
#include "dgram.h"

static void expect_event(int ep, int fd, const char *what) {
    struct epoll_event ev[4];
    int n;
    while ((n = epoll_wait(ep, ev, 4, 5000)) < 0 && errno == EINTR) {}
    CHECK(n == 1, "%s: epoll_wait returned %d", what, n);
    CHECK(ev[0].data.u64 == 0xC0FFEE00u + (unsigned)fd && (ev[0].events & EPOLLIN),
          "%s: event data %#llx events %#x", what, (unsigned long long)ev[0].data.u64, ev[0].events);
}

static void add(int ep, int fd) {
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0xC0FFEE00u + (unsigned)fd};
    CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0, "epoll_ctl ADD %d", fd);
}

static void scenario(const char *ip, int port, int use_fcntl) {
    const char *what = use_fcntl ? "fcntl O_NONBLOCK" : "SOCK_NONBLOCK";
    int sep = epoll_create1(EPOLL_CLOEXEC), cep = epoll_create1(EPOLL_CLOEXEC);
    CHECK(sep >= 0 && cep >= 0, "epoll_create1");

    int s, c;
    if (use_fcntl) {
        s = udp_socket(ip_family(ip));
        c = udp_socket(ip_family(ip));
        CHECK(fcntl(s, F_SETFL, fcntl(s, F_GETFL) | O_NONBLOCK) == 0, "fcntl");
        CHECK(fcntl(c, F_SETFL, fcntl(c, F_GETFL) | O_NONBLOCK) == 0, "fcntl");
        CHECK(fcntl(c, F_SETFD, FD_CLOEXEC) == 0, "F_SETFD");
    } else {
        s = socket(ip_family(ip), SOCK_DGRAM | SOCK_NONBLOCK, 0);
        c = socket(ip_family(ip), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        CHECK(s >= 0 && c >= 0, "socket");
    }
    add(sep, s);
    add(cep, c);

    haddr_t a = haddr(ip, port);
    CHECK(bind(s, SA(a)) == 0, "bind %s:%d", ip, port);
    CHECK(is_socket_file(tpath("%d.sock", port)), "%s: not converted (dir: %s)", what, list_dir(h_dir));
    CHECK(fd_nonblock(s), "%s: server lost O_NONBLOCK in the conversion", what);
    char buf[64];
    CHECK_ERRNO(recvfrom(s, buf, sizeof buf, 0, NULL, NULL), EAGAIN);

    udp_send_to(c, ip, port, "ping");
    CHECK(fd_nonblock(c), "%s: client lost O_NONBLOCK in the conversion", what);
    CHECK(fd_cloexec(c), "%s: client lost FD_CLOEXEC in the conversion", what);
    CHECK(sockopt_int(c, SOL_SOCKET, SO_TYPE) == SOCK_DGRAM, "SO_TYPE");
    CHECK_ERRNO(recv(c, buf, sizeof buf, 0), EAGAIN);

    expect_event(sep, s, "server");
    haddr_t from;
    udp_expect(s, "ping", &from);
    udp_send_back(s, &from, "PONG", 4);
    expect_event(cep, c, "client (registered before its conversion)");
    haddr_t sf;
    udp_expect(c, "PONG", &sf);
    CHECK_ADDR(sf, ip, port);
    CHECK_ERRNO(recv(c, buf, sizeof buf, 0), EAGAIN);

    /* the registration is still the live one: DEL works and stops events */
    CHECK(epoll_ctl(cep, EPOLL_CTL_DEL, c, NULL) == 0, "%s: EPOLL_CTL_DEL after conversion", what);
    udp_send_back(s, &from, "LATE", 4);
    CHECK(wait_readable(c, 5000), "no LATE datagram");
    struct epoll_event ev;
    CHECK(epoll_wait(cep, &ev, 1, 0) == 0, "%s: event after EPOLL_CTL_DEL", what);
    close(c);
    close(s);
    close(sep);
    close(cep);
}

int main(void) {
    harness_preload("udp,port=7201-7204,path={D}/%p.sock");
    scenario("127.0.0.1", 7201, 0);
    scenario("::1", 7202, 0);
    scenario("127.0.0.1", 7203, 1);
    scenario("::1", 7204, 1);
    return 0;
}
