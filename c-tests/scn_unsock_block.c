/* unsock variables: UNSOCK_BLOCK_INET6=1 makes socket(AF_INET6) fail with
 * EAFNOSUPPORT; UNSOCK_BLOCK_INET=1 makes bind/connect to an IPv4 address
 * that is not covered fail with EACCES, while covered ones still convert. */
#include "harness.h"

int main(void) {
    harness_preload_env(NULL, "UNSOCK_DIR={D}", "UNSOCK_BLOCK_INET=1", "UNSOCK_BLOCK_INET6=1",
                        (const char *)NULL);
    CHECK_ERRNO(socket(AF_INET6, SOCK_STREAM, 0), EAFNOSUPPORT);

    int s = tcp_socket(AF_INET);
    haddr_t a = haddr("127.0.0.1", 0);
    CHECK_ERRNO(bind(s, SA(a)), EACCES);
    a = haddr("0.0.0.0", 9701);
    CHECK_ERRNO(bind(s, SA(a)), EACCES);
    a = haddr("127.0.0.1", 9701);
    CHECK_ERRNO(connect(s, SA(a)), EACCES);
    close(s);

    int l = tcp_listen("127.175.0.0", 9702); /* covered: allowed and converted */
    CHECK(is_socket_file(tpath("9702.sock")), "covered bind not converted (dir: %s)", list_dir(h_dir));
    int c = tcp_connect_ok("127.175.0.0", 9702);
    close(c);
    close(l);
    return 0;
}
