/* ip2unix scenario: forking clients.  10 forked children (they inherit the
 * preload and the rules) each make 10 converted connections to the parent's
 * converted server; each must exit 0. */
#include "harness.h"

int main(void) {
    harness_preload("in,port=5301,path={D}/%p.sock;out,port=5301,path={D}/%p.sock");
    int l = tcp_listen("127.0.0.1", 5301);
    CHECK(is_socket_file(tpath("5301.sock")), "socket file missing (dir: %s)", list_dir(h_dir));
    echo_server_thread(l);

    pid_t kids[10];
    for (int k = 0; k < 10; k++) {
        kids[k] = harness_fork();
        if (kids[k] == 0) {
            for (int i = 0; i < 10; i++) {
                int c = tcp_connect_ok("127.0.0.1", 5301);
                char msg[64];
                snprintf(msg, sizeof msg, "child %d connection %d", k, i);
                echo_check(c, msg);
                close(c);
            }
            _exit(0);
        }
    }
    for (int k = 0; k < 10; k++) {
        int st = wait_child(kids[k]);
        CHECK(st == 0, "client child %d exited with status %d", k, st);
    }
    /* the children's closes must not have removed the server's file */
    CHECK(is_socket_file(tpath("5301.sock")), "server socket file gone after children exited");
    return 0;
}
