/* ip2unix scenario: bind(:0) then connect to the reported port.
 * With one rule for both directions, bind(127.0.0.1:0) must pick a port
 * (docs: 32768-60999), getsockname must report it, exactly one socket file
 * {D}/<port>.sock must exist, and a client connecting to 127.0.0.1:<port>
 * must reach this server.  A second bind(:0) gets a different port. */
#include "harness.h"

int main(void) {
    harness_preload("addr=127.0.0.1,path={D}/%p.sock");
    int l = tcp_listen("127.0.0.1", 0);
    haddr_t n = sock_name(l);
    int port = sa_port((struct sockaddr *)&n.ss);
    INFO("bind(:0) reported %s", sa_str((struct sockaddr *)&n.ss));
    CHECK(n.ss.ss_family == AF_INET && port != 0, "getsockname after bind(:0): %s",
          sa_str((struct sockaddr *)&n.ss));
    CHECK(port >= 32768 && port <= 60999, "picked port %d not in 32768-60999", port);
    CHECK(strcmp(sa_ip((struct sockaddr *)&n.ss), "127.0.0.1") == 0, "address changed: %s",
          sa_str((struct sockaddr *)&n.ss));
    CHECK(is_socket_file(tpath("%d.sock", port)), "no socket file for port %d (dir: %s)", port,
          list_dir(h_dir));
    CHECK(count_dir(h_dir) == 1, "expected exactly one file, dir holds: %s", list_dir(h_dir));
    echo_server_thread(l);

    int c = tcp_connect_ok("127.0.0.1", port);
    echo_check(c, "reached the port-0 server");
    close(c);

    /* a second port-0 listener must not collide with the first */
    int l2 = tcp_listen("127.0.0.1", 0);
    haddr_t n2 = sock_name(l2);
    int port2 = sa_port((struct sockaddr *)&n2.ss);
    CHECK(port2 != 0 && port2 != port, "second bind(:0) got port %d (first %d)", port2, port);
    CHECK(is_socket_file(tpath("%d.sock", port2)) && count_dir(h_dir) == 2,
          "after second bind(:0) dir holds: %s", list_dir(h_dir));
    return 0;
}
