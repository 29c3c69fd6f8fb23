/* ip2unix scenario: 20 datagram clients x 10 in parallel.  The converted
 * servers (IPv4 and IPv6) run in forked processes; 20 client processes start
 * at once and each makes 10 round trips, over IPv4 for even and IPv6 for odd
 * clients, each with a fresh socket. */
#include "harness.h"
#include "dgram.h"

int main(void) {
    harness_preload("in,udp,port=6401-6402,path={D}/%p.sock;out,udp,port=6401-6402,path={D}/%p.sock");
    int s4 = udp_bind("127.0.0.1", 6401);
    int s6 = udp_bind("::1", 6402);
    udp_echo_fork(s4);
    udp_echo_fork(s6);

    pid_t kids[20];
    for (int k = 0; k < 20; k++) {
        kids[k] = harness_fork();
        if (kids[k] == 0) {
            const char *ip = (k & 1) ? "::1" : "127.0.0.1";
            int port = (k & 1) ? 6402 : 6401;
            for (int i = 0; i < 10; i++) {
                int c = udp_socket(ip_family(ip));
                char msg[64];
                snprintf(msg, sizeof msg, "client %d round %d", k, i);
                udp_roundtrip(c, ip, port, msg);
                close(c);
            }
            _exit(0);
        }
    }
    for (int k = 0; k < 20; k++) {
        int st = wait_child(kids[k]);
        CHECK(st == 0, "client %d exited with status %d", k, st);
    }
    CHECK(is_socket_file(tpath("6401.sock")) && is_socket_file(tpath("6402.sock")),
          "socket files missing (dir: %s)", list_dir(h_dir));
    CHECK(!real_udp_port_bound(6401) && !real_udp_port_bound(6402), "a real UDP port is bound");
    return 0;
}
