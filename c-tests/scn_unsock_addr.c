/* unsock variable UNSOCK_ADDR beyond unsock: "/0 covers every address of that
 * family while the given address is still the fake address reported", an
 * IPv6 address works, and several may be given separated by commas. */
#include "harness.h"

int main(void) {
    harness_preload_env(NULL, "UNSOCK_DIR={D}", "UNSOCK_ADDR=10.9.8.7/0,::1", (const char *)NULL);
    /* any IPv4 address is covered */
    int l = tcp_listen("127.0.0.1", 9901);
    CHECK(is_socket_file(tpath("9901.sock")), "127.0.0.1 not covered by /0 (dir: %s)", list_dir(h_dir));
    int c = tcp_connect_ok("10.200.1.1", 9901); /* unroutable for real, converted here */
    struct sockaddr_in peer;
    socklen_t pl = sizeof peer;
    int a = accept(l, (struct sockaddr *)&peer, &pl);
    CHECK(a >= 0, "accept");
    CHECK(peer.sin_family == AF_INET && strcmp(sa_ip((struct sockaddr *)&peer), "10.9.8.7") == 0,
          "accepted peer %s, expected the fake address 10.9.8.7", sa_str((struct sockaddr *)&peer));
    close(a);
    close(c);
    close(l);

    /* ::1 is covered; another IPv6 address is not */
    int l6 = tcp_listen("::1", 9902);
    CHECK(is_socket_file(tpath("9902.sock")), "::1 not covered (dir: %s)", list_dir(h_dir));
    close(l6);
    int r6 = tcp_listen("::", 0);
    CHECK(sockopt_int(r6, SOL_SOCKET, SO_DOMAIN) == AF_INET6 && count_dir(h_dir) == 0,
          "[::]:0 converted (dir: %s)", list_dir(h_dir));
    close(r6);
    return 0;
}
