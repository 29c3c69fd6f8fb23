/* ip2unix scenario: blackhole.  bind and listen on 127.0.0.1:23490 succeed,
 * but nothing can ever connect: no socket file appears (not even at the path
 * a later rule for the same port would use), a client whose out rule points
 * at that path gets ECONNREFUSED, and the real TCP port is not listening
 * either (ECONNREFUSED on a real loopback connect to 23490). */
#include "harness.h"

int main(void) {
    harness_preload("in,port=23490,blackhole;"
                    "in,port=23490,path={D}/%p.sock;"
                    "out,port=23491,path={D}/23490.sock");
    int l = tcp_listen("127.0.0.1", 23490);
    haddr_t n = sock_name(l);
    CHECK(n.ss.ss_family == AF_INET, "blackholed listener getsockname family %d", n.ss.ss_family);
    CHECK(count_dir(h_dir) == 0, "blackhole created files: %s", list_dir(h_dir));

    /* converted client aimed at the path the second rule would have used */
    CHECK_ERRNO(tcp_connect("127.0.0.1", 23491), ECONNREFUSED);
    /* a real TCP client (no out rule for 23490) */
    CHECK_ERRNO(tcp_connect("127.0.0.1", 23490), ECONNREFUSED);

    /* nothing is ever queued on the listener */
    fcntl(l, F_SETFL, O_NONBLOCK);
    CHECK_ERRNO(accept(l, NULL, NULL), EAGAIN);
    close(l);
    CHECK(count_dir(h_dir) == 0, "files after close: %s", list_dir(h_dir));
    return 0;
}
