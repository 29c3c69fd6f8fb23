/* ip2unix scenario: abstract targets.  in,abstract=sockswap-{U}-%p makes the
 * server reachable by a native client at the abstract name (exact length, no
 * trailing NULs) and creates no file; out,abstract=... makes the program's
 * TCP connect reach a native abstract listener. */
#include "harness.h"

int main(void) {
    harness_preload("in,port=6701,abstract=sockswap-{U}-%p;out,port=6702,abstract=sockswap-{U}-peer");
    char name[256];

    int l = tcp_listen("127.0.0.1", 6701);
    echo_server_thread(l);
    snprintf(name, sizeof name, "sockswap-%s-6701", h_uniq);
    int u = abstract_connect(name);
    CHECK(u >= 0, "native client cannot reach abstract @%s", name);
    echo_check(u, "abstract in");
    close(u);
    CHECK(count_dir(h_dir) == 0, "abstract rule created files: %s", list_dir(h_dir));
    haddr_t n = sock_name(l);
    CHECK_ADDR(n, "127.0.0.1", 6701);

    snprintf(name, sizeof name, "sockswap-%s-peer", h_uniq);
    int pl = abstract_listen(name);
    echo_server_thread(pl);
    int c = tcp_connect_ok("127.0.0.1", 6702);
    echo_check(c, "abstract out");
    haddr_t p = peer_name(c);
    CHECK_ADDR(p, "127.0.0.1", 6702);
    close(c);
    return 0;
}
