/* ip2unix scenario: 20 clients x 10 in parallel.  The converted listener is
 * served by a forked process; 20 client processes start at once and each
 * makes 10 converted connections, over IPv4 for even and IPv6 for odd
 * clients. */
#include "harness.h"

int main(void) {
    harness_preload("in,port=5401-5402,path={D}/%p.sock;out,port=5401-5402,path={D}/%p.sock");
    int l4 = tcp_listen("127.0.0.1", 5401);
    int l6 = tcp_listen("::1", 5402);
    echo_server_fork(l4);
    echo_server_fork(l6);

    pid_t kids[20];
    for (int k = 0; k < 20; k++) {
        kids[k] = harness_fork();
        if (kids[k] == 0) {
            const char *ip = (k & 1) ? "::1" : "127.0.0.1";
            int port = (k & 1) ? 5402 : 5401;
            for (int i = 0; i < 10; i++) {
                int c = tcp_connect_ok(ip, port);
                char msg[64];
                snprintf(msg, sizeof msg, "client %d round %d", k, i);
                echo_check(c, msg);
                close(c);
            }
            _exit(0);
        }
    }
    for (int k = 0; k < 20; k++) {
        int st = wait_child(kids[k]);
        CHECK(st == 0, "client %d exited with status %d", k, st);
    }
    CHECK(is_socket_file(tpath("5401.sock")) && is_socket_file(tpath("5402.sock")),
          "socket files missing (dir: %s)", list_dir(h_dir));
    return 0;
}
