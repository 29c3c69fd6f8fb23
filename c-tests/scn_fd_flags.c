/* ip2unix scenario: O_NONBLOCK and FD_CLOEXEC survive the swap, both when set
 * with fcntl before bind/connect and when given to socket() as
 * SOCK_NONBLOCK|SOCK_CLOEXEC; and a socket without them does not gain them. */
#include "harness.h"

static void check_flags(int fd, int nb, int ce, const char *what) {
    CHECK(fd_nonblock(fd) == nb, "%s: O_NONBLOCK is %d, expected %d", what, fd_nonblock(fd), nb);
    CHECK(fd_cloexec(fd) == ce, "%s: FD_CLOEXEC is %d, expected %d", what, fd_cloexec(fd), ce);
}

int main(void) {
    harness_preload("in,port=6801-6806,path={D}/%p.sock;out,port=6811-6816,path={D}/peer.sock");
    int pl = unix_listen(tpath("peer.sock"));
    echo_server_thread(pl);

    for (int nb = 0; nb < 2; nb++)
        for (int ce = 0; ce < 2; ce++)
            for (int via_socket = 0; via_socket < 2; via_socket++) {
                if (via_socket && !nb && !ce) continue; /* same as the fcntl case */
                char what[96];
                snprintf(what, sizeof what, "O_NONBLOCK=%d FD_CLOEXEC=%d via %s", nb, ce,
                         via_socket ? "socket() flags" : "fcntl");
                int port_off = 1 + nb * 2 + ce; /* 1..4 */
                int type = SOCK_STREAM;
                if (via_socket) type |= (nb ? SOCK_NONBLOCK : 0) | (ce ? SOCK_CLOEXEC : 0);

                /* bind side */
                int l = socket(AF_INET, type, 0);
                CHECK(l >= 0, "socket");
                if (!via_socket) {
                    if (nb) fcntl(l, F_SETFL, fcntl(l, F_GETFL) | O_NONBLOCK);
                    if (ce) fcntl(l, F_SETFD, FD_CLOEXEC);
                }
                haddr_t a = haddr("127.0.0.1", 6800 + port_off);
                CHECK(bind(l, SA(a)) == 0, "%s: bind", what);
                CHECK(is_socket_file(tpath("%d.sock", 6800 + port_off)), "%s: bind not converted", what);
                check_flags(l, nb, ce, what);
                CHECK(listen(l, 4) == 0, "listen");
                check_flags(l, nb, ce, what);
                close(l);

                /* connect side */
                int c = socket(AF_INET, type, 0);
                CHECK(c >= 0, "socket");
                if (!via_socket) {
                    if (nb) fcntl(c, F_SETFL, fcntl(c, F_GETFL) | O_NONBLOCK);
                    if (ce) fcntl(c, F_SETFD, FD_CLOEXEC);
                }
                haddr_t b = haddr("127.0.0.1", 6810 + port_off);
                int r = connect(c, SA(b));
                /* a non-blocking Unix connect normally completes at once; allow EINPROGRESS */
                if (r != 0 && nb && errno == EINPROGRESS) {
                    struct pollfd p = {c, POLLOUT, 0};
                    CHECK(poll(&p, 1, 5000) == 1, "%s: connect never completed", what);
                    r = 0;
                }
                CHECK(r == 0, "%s: converted connect", what);
                check_flags(c, nb, ce, what);
                if (nb) fcntl(c, F_SETFL, fcntl(c, F_GETFL) & ~O_NONBLOCK);
                echo_check(c, what); /* it is connected to peer.sock */
                close(c);
            }
    return 0;
}
