/* SO_REUSEPORT set before bind, the usual server pattern (asyncio
 * reuse_port=True, nginx "reuseport", many Go/Rust servers).  On this kernel
 * setsockopt(SO_REUSEPORT) on an AF_UNIX socket fails with EOPNOTSUPP, so a
 * shim that replays the recorded SOL_SOCKET options must cope: the converted
 * bind must succeed, the server must work, and (docs: the SOL_SOCKET options
 * set before the swap are kept) getsockopt(SO_REUSEPORT) still says 1. */
#include "harness.h"

int main(void) {
    harness_preload("in,port=9971,path={D}/%p.sock;out,port=9971,path={D}/%p.sock");
    int l = tcp_socket(AF_INET);
    set_sockopt_int(l, SOL_SOCKET, SO_REUSEADDR, 1);
    set_sockopt_int(l, SOL_SOCKET, SO_REUSEPORT, 1);
    haddr_t a = haddr("127.0.0.1", 9971);
    CHECK(bind(l, SA(a)) == 0, "bind after SO_REUSEPORT failed");
    CHECK(listen(l, 8) == 0, "listen");
    CHECK(is_socket_file(tpath("9971.sock")), "not converted (dir: %s)", list_dir(h_dir));
    echo_server_thread(l);
    int c = tcp_connect_ok("127.0.0.1", 9971);
    echo_check(c, "reuseport server works");
    close(c);
    CHECK(sockopt_int(l, SOL_SOCKET, SO_REUSEADDR) == 1, "SO_REUSEADDR lost");
    CHECK(sockopt_int(l, SOL_SOCKET, SO_REUSEPORT) == 1, "SO_REUSEPORT reads %d after the swap, the program set 1",
          sockopt_int(l, SOL_SOCKET, SO_REUSEPORT));

    /* and on a client socket before connect */
    int s = tcp_socket(AF_INET);
    set_sockopt_int(s, SOL_SOCKET, SO_REUSEPORT, 1);
    CHECK(connect(s, SA(a)) == 0, "converted connect after SO_REUSEPORT failed");
    echo_check(s, "client with SO_REUSEPORT");
    return 0;
}
