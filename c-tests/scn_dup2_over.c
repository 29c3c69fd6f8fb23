/* Implicit closes count as closes: dup2() of another fd over the last copy of
 * a converted listener, and close_range() covering it, unlink the socket
 * file (docs: unlinked when the process closes its last descriptor). */
#include "harness.h"

int main(void) {
    harness_preload("in,port=9961-9962,path={D}/%p.sock");
    int devnull = open("/dev/null", O_RDWR);
    CHECK(devnull >= 0, "open /dev/null");

    int l = tcp_listen("127.0.0.1", 9961);
    CHECK(is_socket_file(tpath("9961.sock")), "not converted (dir: %s)", list_dir(h_dir));
    CHECK(dup2(devnull, l) == l, "dup2 over the listener");
    CHECK(!path_exists(tpath("9961.sock")), "dup2 over the last copy did not unlink the file");
    close(l);

    int l2 = tcp_listen("127.0.0.1", 9962);
    CHECK(is_socket_file(tpath("9962.sock")), "not converted (dir: %s)", list_dir(h_dir));
    CHECK(close_range(l2, l2, 0) == 0, "close_range");
    CHECK(!path_exists(tpath("9962.sock")), "close_range did not unlink the file");

    /* a fresh socket reusing the fd number is a plain new socket */
    int s = tcp_socket(AF_INET);
    CHECK(sockopt_int(s, SOL_SOCKET, SO_DOMAIN) == AF_INET, "new socket");
    haddr_t a = haddr("127.0.0.1", 9962);
    CHECK(bind(s, SA(a)) == 0 && is_socket_file(tpath("9962.sock")), "rebind after close_range");
    close(s);
    return 0;
}
