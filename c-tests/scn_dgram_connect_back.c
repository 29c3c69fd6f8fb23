/* ip2unix scenario: a datagram server answers from a fresh socket.  The server
 * (converted, IPv4 and IPv6) receives from a client in another process and
 * gets a reported peer address; it then creates a fresh UDP socket, never
 * bound and never converted, and connect()s it to that address: the send must
 * reach the client.  A sendto from a second fresh socket works as well. */
#include "harness.h"
#include "dgram.h"

static void scenario(const char *ip, int port) {
    int s = udp_bind(ip, port);
    pid_t kid = harness_fork();
    if (kid == 0) {
        int c = udp_socket(ip_family(ip));
        udp_send_to(c, ip, port, "call me back");
        udp_expect(c, "via connect", NULL);
        udp_expect(c, "via sendto", NULL);
        _exit(0);
    }
    haddr_t peer;
    udp_expect(s, "call me back", &peer);
    CHECK(is_synthetic_peer(&peer, ip), "peer %s (len %u): expected %s with port 61000-65095",
          sa_str((struct sockaddr *)&peer.ss), (unsigned)peer.len, ip);

    int f = udp_socket(ip_family(ip));
    CHECK(connect(f, (struct sockaddr *)&peer.ss, peer.len) == 0, "connect fresh socket to %s",
          sa_str((struct sockaddr *)&peer.ss));
    haddr_t pn = peer_name(f);
    CHECK(pn.len == peer.len && memcmp(&pn.ss, &peer.ss, peer.len) == 0,
          "getpeername after connect is %s, expected %s", sa_str((struct sockaddr *)&pn.ss),
          sa_str((struct sockaddr *)&peer.ss));
    CHECK(send(f, "via connect", 11, 0) == 11, "send on the connected fresh socket");

    int g = udp_socket(ip_family(ip));
    udp_send_back(g, &peer, "via sendto", 10);
    int st = wait_child(kid);
    CHECK(st == 0, "client exited with status %d", st);
    close(f);
    close(g);
    close(s);
}

int main(void) {
    harness_preload("udp,addr=127.0.0.1,port=6601,path={D}/%p.sock;"
                    "udp,addr=::1,port=6602,path={D}/%p.sock");
    scenario("127.0.0.1", 6601);
    scenario("::1", 6602);
    return 0;
}
