/* ip2unix scenario: forking datagram clients.  10 forked children (they
 * inherit the preload and the rules) each make 10 round trips with a fresh
 * UDP socket per round to the parent's converted server; each must exit 0,
 * and the children's closes must not remove the server's socket file. */
#include "harness.h"
#include "dgram.h"

int main(void) {
    harness_preload("in,udp,port=6301,path={D}/%p.sock;out,udp,port=6301,path={D}/%p.sock");
    int s = udp_bind("127.0.0.1", 6301);
    CHECK(is_socket_file(tpath("6301.sock")), "socket file missing (dir: %s)", list_dir(h_dir));
    udp_echo_thread(s);

    pid_t kids[10];
    for (int k = 0; k < 10; k++) {
        kids[k] = harness_fork();
        if (kids[k] == 0) {
            for (int i = 0; i < 10; i++) {
                int c = udp_socket(AF_INET);
                char msg[64];
                snprintf(msg, sizeof msg, "child %d datagram %d", k, i);
                udp_roundtrip(c, "127.0.0.1", 6301, msg);
                close(c);
            }
            _exit(0);
        }
    }
    for (int k = 0; k < 10; k++) {
        int st = wait_child(kids[k]);
        CHECK(st == 0, "client child %d exited with status %d", k, st);
    }
    CHECK(is_socket_file(tpath("6301.sock")), "server socket file gone after children exited");
    /* and the server still answers */
    int c = udp_socket(AF_INET);
    udp_roundtrip(c, "127.0.0.1", 6301, "after the children");
    return 0;
}
