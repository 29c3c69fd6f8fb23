/* unsock bug U3: O_NONBLOCK and FD_CLOEXEC were lost on conversion.  In unsock
 * mode, sockets created with SOCK_NONBLOCK|SOCK_CLOEXEC, and sockets given the
 * flags by fcntl, keep them through a converted bind, listen and connect. */
#include "harness.h"

static void check(int fd, const char *what) {
    CHECK(fd_nonblock(fd), "%s: O_NONBLOCK lost", what);
    CHECK(fd_cloexec(fd), "%s: FD_CLOEXEC lost", what);
}

int main(void) {
    harness_preload_env(NULL, "UNSOCK_DIR={D}", (const char *)NULL);
    int pl = unix_listen(tpath("8002.sock"));
    echo_server_thread(pl);

    for (int via_fcntl = 0; via_fcntl < 2; via_fcntl++) {
        const char *how = via_fcntl ? "fcntl" : "socket flags";
        int l = via_fcntl ? socket(AF_INET, SOCK_STREAM, 0)
                          : socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        CHECK(l >= 0, "socket");
        if (via_fcntl) {
            fcntl(l, F_SETFL, O_NONBLOCK);
            fcntl(l, F_SETFD, FD_CLOEXEC);
        }
        haddr_t a = haddr("127.175.0.0", 8001);
        CHECK(bind(l, SA(a)) == 0, "bind");
        CHECK(is_socket_file(tpath("8001.sock")), "not converted (dir: %s)", list_dir(h_dir));
        check(l, via_fcntl ? "bind (fcntl)" : "bind (socket flags)");
        CHECK(listen(l, 4) == 0, "listen");
        check(l, how);
        CHECK_ERRNO(accept(l, NULL, NULL), EAGAIN); /* really non-blocking */
        close(l);

        int c = via_fcntl ? socket(AF_INET, SOCK_STREAM, 0)
                          : socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (via_fcntl) {
            fcntl(c, F_SETFL, O_NONBLOCK);
            fcntl(c, F_SETFD, FD_CLOEXEC);
        }
        haddr_t b = haddr("127.175.0.0", 8002);
        int r = connect(c, SA(b));
        if (r != 0 && errno == EINPROGRESS) {
            struct pollfd p = {c, POLLOUT, 0};
            CHECK(poll(&p, 1, 5000) == 1, "connect never completed");
            r = 0;
        }
        CHECK(r == 0, "converted connect (%s)", how);
        check(c, via_fcntl ? "connect (fcntl)" : "connect (socket flags)");
        char ch;
        CHECK_ERRNO(read(c, &ch, 1), EAGAIN); /* really non-blocking */
        close(c);
    }
    return 0;
}
