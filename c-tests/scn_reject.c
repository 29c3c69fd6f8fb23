/* ip2unix scenario: reject with the default and custom errnos, on connect and
 * on bind: reject=ECONNREFUSED (by name), reject=111 (by number), plain
 * reject (EACCES), and reject=EADDRNOTAVAIL for a bind. */
#include "harness.h"

int main(void) {
    harness_preload("out,port=5801,reject=ECONNREFUSED;"
                    "out,port=5802,reject=111;"
                    "out,port=5803,reject;"
                    "in,port=5804,reject;"
                    "in,port=5805,reject=EADDRNOTAVAIL;"
                    "in,port=5806,reject=ENETUNREACH");
    CHECK_ERRNO(tcp_connect("127.0.0.1", 5801), ECONNREFUSED);
    CHECK_ERRNO(tcp_connect("::1", 5801), ECONNREFUSED);
    CHECK_ERRNO(tcp_connect("127.0.0.1", 5802), 111);
    CHECK_ERRNO(tcp_connect("127.0.0.1", 5803), EACCES);
    CHECK_ERRNO(tcp_connect("10.1.2.3", 5803), EACCES);

    int s = tcp_socket(AF_INET);
    haddr_t b = haddr("127.0.0.1", 5804);
    CHECK_ERRNO(bind(s, SA(b)), EACCES);
    b = haddr("127.0.0.1", 5805);
    CHECK_ERRNO(bind(s, SA(b)), EADDRNOTAVAIL);
    b = haddr("0.0.0.0", 5806);
    CHECK_ERRNO(bind(s, SA(b)), ENETUNREACH);
    /* a rejected bind leaves the socket usable: a later bind elsewhere works */
    b = haddr("127.0.0.1", 0);
    CHECK(bind(s, SA(b)) == 0, "bind after rejected binds");
    close(s);

    /* a non-blocking connect is rejected the same way (not EINPROGRESS) */
    s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    b = haddr("127.0.0.1", 5801);
    CHECK_ERRNO(connect(s, SA(b)), ECONNREFUSED);
    close(s);
    CHECK(count_dir(h_dir) == 0, "files created: %s", list_dir(h_dir));
    return 0;
}
