/* ip2unix scenario: an IPv4 TCP server and client, both under rules.
 * The server's bind(127.0.0.1:5101) must become the Unix socket {D}/5101.sock
 * (checked on disk, and by a native AF_UNIX client talking through it), and
 * the program's own TCP client must reach the server through the same file. */
#include "harness.h"

int main(void) {
    harness_preload("in,addr=127.0.0.1,port=5101,path={D}/%p.sock;"
                    "out,addr=127.0.0.1,port=5101,path={D}/%p.sock");
    char *sock = tpath("5101.sock");

    int l = tcp_listen("127.0.0.1", 5101);
    CHECK(is_socket_file(sock), "no socket file at %s after bind+listen (dir: %s)", sock, list_dir(h_dir));
    echo_server_thread(l);

    /* a native AF_UNIX client proves the listener really is on the file */
    int u = unix_connect_ok(sock);
    echo_check(u, "hello over AF_UNIX");
    close(u);

    /* the program's TCP client, converted by the out rule */
    int c = tcp_connect_ok("127.0.0.1", 5101);
    echo_check(c, "hello over converted TCP");
    echo_check(c, "second message");
    close(c);
    return 0;
}
