/* ip2unix scenario: a socket that binds and then connects unlinks only its
 * own path.  The client binds 127.0.0.1:6602 ({D}/6602.sock) and connects to
 * the server 127.0.0.1:6601 ({D}/6601.sock).  Closing the client removes
 * 6602.sock only; the server's file stays until the server closes. */
#include "harness.h"

int main(void) {
    harness_preload("addr=127.0.0.1,port=6601-6602,path={D}/%p.sock");
    char *srv = tpath("6601.sock"), *cli = tpath("6602.sock");
    int l = tcp_listen("127.0.0.1", 6601);
    CHECK(is_socket_file(srv), "server not converted (dir: %s)", list_dir(h_dir));
    echo_server_thread(l);

    int c = tcp_bind("127.0.0.1", 6602);
    CHECK(is_socket_file(cli), "client bind not converted (dir: %s)", list_dir(h_dir));
    haddr_t a = haddr("127.0.0.1", 6601);
    CHECK(connect(c, SA(a)) == 0, "connect of the bound socket");
    echo_check(c, "bound client");
    haddr_t n = sock_name(c);
    CHECK_ADDR(n, "127.0.0.1", 6602);
    haddr_t p = peer_name(c);
    CHECK_ADDR(p, "127.0.0.1", 6601);
    close(c);
    CHECK(!path_exists(cli), "client's own socket file not unlinked on close");
    CHECK(is_socket_file(srv), "closing the client unlinked the server's socket file");
    int c2 = tcp_connect_ok("127.0.0.1", 6601);
    echo_check(c2, "server still there");
    close(c2);
    return 0;
}
