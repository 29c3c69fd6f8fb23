/* ip2unix scenario: port ranges.  in,port=23470-23479 converts binds to both
 * ends of the range, and leaves 23469 and 23480 real TCP sockets (no file;
 * a real TCP client, unaffected because there is no out rule, connects). */
#include "harness.h"

int main(void) {
    harness_preload("in,port=23470-23479,path={D}/%p.sock");
    int inside[] = {23470, 23475, 23479};
    for (int i = 0; i < 3; i++) {
        int l = tcp_listen("127.0.0.1", inside[i]);
        CHECK(is_socket_file(tpath("%d.sock", inside[i])), "port %d inside the range not converted (dir: %s)",
              inside[i], list_dir(h_dir));
        int u = unix_connect_ok(tpath("%d.sock", inside[i]));
        close(u);
        close(l);
    }
    int outside[] = {23469, 23480};
    for (int i = 0; i < 2; i++) {
        /* a real TCP port: SO_REUSEADDR in case an earlier run left a TIME_WAIT */
        int l = tcp_socket(AF_INET);
        set_sockopt_int(l, SOL_SOCKET, SO_REUSEADDR, 1);
        haddr_t ad = haddr("127.0.0.1", outside[i]);
        CHECK(bind(l, SA(ad)) == 0 && listen(l, 4) == 0, "bind+listen on real port %d", outside[i]);
        CHECK(!path_exists(tpath("%d.sock", outside[i])), "port %d outside the range was converted",
              outside[i]);
        CHECK(sockopt_int(l, SOL_SOCKET, SO_DOMAIN) == AF_INET, "not a real AF_INET socket");
        int c = tcp_connect_ok("127.0.0.1", outside[i]); /* real TCP loopback */
        int a = accept(l, NULL, NULL);
        CHECK(a >= 0, "accept on the real TCP listener");
        /* client closes first, so TIME_WAIT lands on its ephemeral port */
        close(c);
        char ch;
        CHECK(read(a, &ch, 1) == 0, "EOF on the accepted socket");
        close(a);
        close(l);
    }
    CHECK(count_dir(h_dir) == 0, "files left behind: %s", list_dir(h_dir));
    return 0;
}
