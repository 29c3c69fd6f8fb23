/* ip2unix scenario: connecting through a rule to a socket file with no server
 * fails like TCP, with ECONNREFUSED: the file is missing, the file is a dead
 * socket (its server was killed), or even the directory is missing.  Blocking
 * and non-blocking sockets alike. */
#include "harness.h"

int main(void) {
    harness_preload("out,port=7301,path={D}/%p.sock;"
                    "out,port=7302,path={D}/dead.sock;"
                    "out,port=7303,path={D}/nodir/%p.sock");
    CHECK_ERRNO(tcp_connect("127.0.0.1", 7301), ECONNREFUSED);
    CHECK_ERRNO(tcp_connect("::1", 7301), ECONNREFUSED);

    /* a dead socket file: bound, then the (native) server is gone */
    int d = unix_listen(tpath("dead.sock"));
    close(d);
    CHECK(is_socket_file(tpath("dead.sock")), "setup: dead.sock");
    CHECK_ERRNO(tcp_connect("127.0.0.1", 7302), ECONNREFUSED);

    CHECK_ERRNO(tcp_connect("127.0.0.1", 7303), ECONNREFUSED);

    int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    haddr_t a = haddr("127.0.0.1", 7301);
    CHECK_ERRNO(connect(s, SA(a)), ECONNREFUSED);
    close(s);

    /* the socket stays usable after a refused connect once a server appears */
    int pl = unix_listen(tpath("7301.sock"));
    echo_server_thread(pl);
    int c = tcp_connect_ok("127.0.0.1", 7301);
    echo_check(c, "now there is a server");
    close(c);
    return 0;
}
