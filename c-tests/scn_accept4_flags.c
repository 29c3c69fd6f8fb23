/* ip2unix scenario: accept4 flags are applied to the accepted socket of a
 * converted listener; accept4(..., 0) and accept give neither flag. */
#include "harness.h"

static int accept_one(int l, const char *path, int flags) {
    int u = unix_connect_ok(path);
    struct sockaddr_in peer;
    socklen_t pl = sizeof peer;
    int c = flags < 0 ? accept(l, (struct sockaddr *)&peer, &pl)
                      : accept4(l, (struct sockaddr *)&peer, &pl, flags);
    CHECK(c >= 0, "accept4(flags %d)", flags);
    CHECK(pl == sizeof peer && peer.sin_family == AF_INET, "peer len %u family %d", (unsigned)pl,
          peer.sin_family);
    /* the connection works */
    write_all(u, "z", 1);
    char ch = 0;
    CHECK(read_full(c, &ch, 1) == 1 && ch == 'z', "data on accepted socket");
    close(u);
    return c;
}

int main(void) {
    harness_preload("in,port=7001,path={D}/%p.sock");
    int l = tcp_listen("127.0.0.1", 7001);
    char *path = tpath("7001.sock");
    CHECK(is_socket_file(path), "listener not converted (dir: %s)", list_dir(h_dir));

    int c = accept_one(l, path, SOCK_NONBLOCK | SOCK_CLOEXEC);
    CHECK(fd_nonblock(c) && fd_cloexec(c), "NONBLOCK|CLOEXEC: nonblock=%d cloexec=%d", fd_nonblock(c),
          fd_cloexec(c));
    close(c);
    c = accept_one(l, path, SOCK_NONBLOCK);
    CHECK(fd_nonblock(c) && !fd_cloexec(c), "NONBLOCK: nonblock=%d cloexec=%d", fd_nonblock(c),
          fd_cloexec(c));
    close(c);
    c = accept_one(l, path, SOCK_CLOEXEC);
    CHECK(!fd_nonblock(c) && fd_cloexec(c), "CLOEXEC: nonblock=%d cloexec=%d", fd_nonblock(c),
          fd_cloexec(c));
    close(c);
    c = accept_one(l, path, 0);
    CHECK(!fd_nonblock(c) && !fd_cloexec(c), "0: nonblock=%d cloexec=%d", fd_nonblock(c), fd_cloexec(c));
    close(c);
    /* the listener's own flags do not leak into plain accept */
    fcntl(l, F_SETFD, FD_CLOEXEC);
    c = accept_one(l, path, -1);
    CHECK(!fd_nonblock(c) && !fd_cloexec(c), "accept: nonblock=%d cloexec=%d", fd_nonblock(c),
          fd_cloexec(c));
    close(c);
    return 0;
}
