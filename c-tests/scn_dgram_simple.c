/* ip2unix scenario: a UDP server and client, IPv4 and IPv6, both under rules.
 * bind(127.0.0.1:6101) / bind(::1:6102) must become Unix datagram sockets at
 * {D}/6101.sock / {D}/6102.sock (checked on disk, by the absence of a real UDP
 * port, and by a native AF_UNIX datagram client), and the program's own UDP
 * client must get its replies, reported as coming from the address it sent
 * to.  The server sees each client as a loopback address of its own family,
 * the same address for every datagram of one sender and different addresses
 * for different senders. */
#include "harness.h"
#include "dgram.h"

static void scenario(const char *ip, int port) {
    char *sock = tpath("%d.sock", port);
    int s = udp_bind(ip, port);
    CHECK(is_socket_file(sock), "no socket file at %s after bind (dir: %s)", sock, list_dir(h_dir));
    CHECK(!real_udp_port_bound(port), "a real UDP socket is bound to port %d", port);

    /* a native AF_UNIX datagram client proves the server really is on the file */
    int u = unix_dgram_bind(tpath("native-%d.sock", port));
    struct sockaddr_un su;
    socklen_t sl = unix_addr(&su, sock);
    CHECK(sendto(u, "native", 6, 0, (struct sockaddr *)&su, sl) == 6, "native sendto %s", sock);
    haddr_t from;
    udp_expect(s, "native", &from);
    CHECK(is_synthetic_peer(&from, ip), "native sender reported as %s (len %u), expected %s:61000-65095",
          sa_str((struct sockaddr *)&from.ss), (unsigned)from.len, ip);
    udp_send_back(s, &from, "NATIVE", 6);
    char buf[64];
    CHECK(wait_readable(u, 5000), "native client got no reply");
    ssize_t n = recv(u, buf, sizeof buf, 0);
    CHECK(n == 6 && memcmp(buf, "NATIVE", 6) == 0, "native client got %zd bytes", n);

    /* a sender keeps its reported address; different senders get different ones
     * (servers keep per-client state by address) */
    haddr_t again, other, conv1, conv2;
    CHECK(sendto(u, "again", 5, 0, (struct sockaddr *)&su, sl) == 5, "native sendto");
    udp_expect(s, "again", &again);
    CHECK(again.len == from.len && memcmp(&again.ss, &from.ss, from.len) == 0,
          "the same native sender was reported as %s, then as %s", sa_str((struct sockaddr *)&from.ss),
          sa_str((struct sockaddr *)&again.ss));
    int u2 = unix_dgram_bind(tpath("native2-%d.sock", port));
    CHECK(sendto(u2, "other", 5, 0, (struct sockaddr *)&su, sl) == 5, "native sendto");
    udp_expect(s, "other", &other);
    int c0 = udp_socket(ip_family(ip));
    udp_send_to(c0, ip, port, "conv");
    udp_expect(s, "conv", &conv1);
    udp_send_to(c0, ip, port, "conv");
    udp_expect(s, "conv", &conv2);
    CHECK(memcmp(&conv1.ss, &conv2.ss, sizeof conv1.ss) == 0, "the same converted client was reported as %s, then %s",
          sa_str((struct sockaddr *)&conv1.ss), sa_str((struct sockaddr *)&conv2.ss));
    CHECK(sa_port((struct sockaddr *)&other.ss) != sa_port((struct sockaddr *)&from.ss) &&
              sa_port((struct sockaddr *)&conv1.ss) != sa_port((struct sockaddr *)&from.ss) &&
              sa_port((struct sockaddr *)&conv1.ss) != sa_port((struct sockaddr *)&other.ss),
          "distinct senders share a reported address: %s %s %s", sa_str((struct sockaddr *)&from.ss),
          sa_str((struct sockaddr *)&other.ss), sa_str((struct sockaddr *)&conv1.ss));
    CHECK(is_synthetic_peer(&other, ip) && is_synthetic_peer(&conv1, ip), "reported %s / %s",
          sa_str((struct sockaddr *)&other.ss), sa_str((struct sockaddr *)&conv1.ss));
    close(c0);
    close(u2);
    close(u);

    /* the program's own UDP client, converted by the out rule */
    udp_echo_thread(s);
    int c = udp_socket(ip_family(ip));
    udp_roundtrip(c, ip, port, "hello over converted udp");
    udp_roundtrip(c, ip, port, "second datagram");
    CHECK(sockopt_int(c, SOL_SOCKET, SO_TYPE) == SOCK_DGRAM, "client SO_TYPE");
    CHECK(sockopt_int(c, SOL_SOCKET, SO_DOMAIN) == ip_family(ip), "client SO_DOMAIN");
    CHECK(!real_udp_port_bound(port), "a real UDP socket is bound to port %d", port);
    udp_send_to(c, ip, port, "quit");
    close(c);
}

int main(void) {
    harness_preload("in,udp,addr=127.0.0.1,port=6101,path={D}/%p.sock;"
                    "out,udp,addr=127.0.0.1,port=6101,path={D}/%p.sock;"
                    "in,udp,addr=::1,port=6102,path={D}/%p.sock;"
                    "out,udp,addr=::1,port=6102,path={D}/%p.sock");
    scenario("127.0.0.1", 6101);
    scenario("::1", 6102);
    return 0;
}
