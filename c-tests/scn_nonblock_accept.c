/* ip2unix scenario: a non-blocking converted listener with nothing queued
 * returns EAGAIN from accept and accept4 (not a block, not another errno), and
 * a connection once queued is accepted. */
#include "harness.h"

int main(void) {
    harness_preload("in,port=6901,path={D}/%p.sock");
    int l = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK, 0);
    CHECK(l >= 0, "socket");
    haddr_t a = haddr("::1", 6901);
    CHECK(bind(l, SA(a)) == 0, "bind");
    CHECK(listen(l, 8) == 0, "listen");
    char *path = tpath("6901.sock");
    CHECK(is_socket_file(path), "listener not converted (dir: %s)", list_dir(h_dir));

    struct sockaddr_in6 peer;
    socklen_t pl = sizeof peer;
    CHECK_ERRNO(accept(l, (struct sockaddr *)&peer, &pl), EAGAIN);
    CHECK_ERRNO(accept4(l, NULL, NULL, SOCK_CLOEXEC), EAGAIN);

    int u = unix_connect_ok(path);
    struct pollfd p = {l, POLLIN, 0};
    CHECK(poll(&p, 1, 5000) == 1, "listener never became readable");
    pl = sizeof peer;
    int c = accept(l, (struct sockaddr *)&peer, &pl);
    CHECK(c >= 0, "accept of a queued connection");
    CHECK(peer.sin6_family == AF_INET6, "peer family %d", peer.sin6_family);
    CHECK(!fd_nonblock(c), "accept (not accept4) must not make the new socket non-blocking");
    CHECK_ERRNO(accept(l, NULL, NULL), EAGAIN);
    close(c);
    close(u);
    return 0;
}
