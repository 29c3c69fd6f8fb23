/* ip2unix scenario: a failing setsockopt is not replayed.  Before bind the
 * program makes setsockopt calls that fail (bad optlen, unknown option); they
 * must not be recorded and replayed (a replay that fails again must not make
 * bind fail, and a bad value must not be applied with a corrected length). */
#include "harness.h"

int main(void) {
    harness_preload("in,port=6301,path={D}/%p.sock");
    int l = tcp_socket(AF_INET);
    int v = 5000;
    /* what SO_RCVBUF would read if the failed call's value had been applied */
    int scratch = socket(AF_UNIX, SOCK_STREAM, 0);
    set_sockopt_int(scratch, SOL_SOCKET, SO_RCVBUF, v);
    int if_applied = sockopt_int(scratch, SOL_SOCKET, SO_RCVBUF);
    close(scratch);
    CHECK_ERRNO(setsockopt(l, SOL_SOCKET, SO_RCVBUF, &v, 1), EINVAL);
    CHECK_ERRNO(setsockopt(l, SOL_SOCKET, 31337, &v, sizeof v), ENOPROTOOPT);
    /* and one that succeeds, which must be kept */
    set_sockopt_int(l, SOL_SOCKET, SO_KEEPALIVE, 1);

    haddr_t a = haddr("127.0.0.1", 6301);
    CHECK(bind(l, SA(a)) == 0, "bind after failing setsockopt calls");
    CHECK(listen(l, 8) == 0, "listen");
    char *path = tpath("6301.sock");
    CHECK(is_socket_file(path), "listener not converted (dir: %s)", list_dir(h_dir));
    /* (SO_RCVBUF was never set successfully, so it is the new socket's default;
     * it must not be the value of the failed call) */
    CHECK(sockopt_int(l, SOL_SOCKET, SO_RCVBUF) != if_applied, "the failed SO_RCVBUF=%d was replayed", v);
    CHECK(sockopt_int(l, SOL_SOCKET, SO_KEEPALIVE) == 1, "successful SO_KEEPALIVE lost");
    int u = unix_connect_ok(path);
    int c = accept(l, NULL, NULL);
    CHECK(c >= 0, "accept");
    close(c);
    close(u);
    return 0;
}
