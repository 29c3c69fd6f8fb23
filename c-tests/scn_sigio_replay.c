/* ip2unix scenario: F_SETOWN + FIOASYNC (and O_ASYNC via fcntl) set before
 * bind/connect survive the swap: SIGIO is delivered for the converted socket.
 * SIGIO is blocked and collected with sigtimedwait, so no handler races. */
#include "harness.h"

static int got_sigio(int ms) {
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGIO);
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    return sigtimedwait(&s, NULL, &ts) == SIGIO;
}

int main(void) {
    harness_preload("in,port=6201,path={D}/%p.sock;out,port=6202,path={D}/peer.sock");
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGIO);
    sigprocmask(SIG_BLOCK, &s, NULL);

    /* listener: F_SETOWN + ioctl(FIOASYNC) before bind */
    int l = tcp_socket(AF_INET);
    CHECK(fcntl(l, F_SETOWN, getpid()) == 0, "F_SETOWN");
    int on = 1;
    CHECK(ioctl(l, FIOASYNC, &on) == 0, "FIOASYNC");
    haddr_t a = haddr("127.0.0.1", 6201);
    CHECK(bind(l, SA(a)) == 0, "bind");
    CHECK(listen(l, 8) == 0, "listen");
    char *path = tpath("6201.sock");
    CHECK(is_socket_file(path), "listener not converted (dir: %s)", list_dir(h_dir));
    CHECK(fcntl(l, F_GETOWN) == getpid(), "F_GETOWN after bind = %d", fcntl(l, F_GETOWN));
    CHECK(fcntl(l, F_GETFL) & O_ASYNC, "O_ASYNC lost on bind");
    while (got_sigio(0)) {}
    int u = unix_connect_ok(path);
    CHECK(got_sigio(3000), "no SIGIO after a client connected to the converted listener");
    close(u);

    /* client: F_SETOWN + fcntl(O_ASYNC) before connect */
    int pl = unix_listen(tpath("peer.sock"));
    int c = tcp_socket(AF_INET);
    CHECK(fcntl(c, F_SETOWN, getpid()) == 0, "F_SETOWN");
    CHECK(fcntl(c, F_SETFL, fcntl(c, F_GETFL) | O_ASYNC) == 0, "O_ASYNC");
    haddr_t b = haddr("127.0.0.1", 6202);
    CHECK(connect(c, SA(b)) == 0, "converted connect");
    int pa = accept(pl, NULL, NULL);
    CHECK(pa >= 0, "connect did not reach peer.sock");
    CHECK(fcntl(c, F_GETOWN) == getpid(), "F_GETOWN after connect");
    CHECK(fcntl(c, F_GETFL) & O_ASYNC, "O_ASYNC lost on connect");
    while (got_sigio(0)) {}
    write_all(pa, "wake", 4);
    CHECK(got_sigio(3000), "no SIGIO after data arrived on the converted client");
    return 0;
}
