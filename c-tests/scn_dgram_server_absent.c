/* UDP semantics when the converted server is not there (yet, or any more).
 * Over real UDP, on loopback:
 *  - sendto to a port nobody has bound succeeds (the datagram is dropped);
 *  - connect() of a UDP socket needs no server: it succeeds, and the socket
 *    reaches the server once it has started (statsd/syslog-style clients
 *    connect once at start-up and send forever);
 *  - a server that restarts (closes and binds again) is reached again by the
 *    same connected client, after at most one ECONNREFUSED.
 * The shim must keep these for converted sockets: the Unix datagram
 * errors (ENOENT for a missing file, ECONNREFUSED from connect, the socket
 * left unconnected or disconnected for good) must not reach the program. */
#include "harness.h"
#include "dgram.h"

int main(void) {
    harness_preload("udp,addr=127.0.0.1,port=7401,path={D}/%p.sock");
    haddr_t a = haddr("127.0.0.1", 7401);

    int c = udp_socket(AF_INET);
    ssize_t n = sendto(c, "lost", 4, 0, SA(a));
    CHECK(n == 4, "sendto with no server bound: returned %zd (UDP drops the datagram and succeeds)", n);

    int k = udp_socket(AF_INET);
    CHECK(connect(k, SA(a)) == 0, "connect of a UDP socket before the server exists (UDP needs no server)");

    int s = udp_bind("127.0.0.1", 7401);
    CHECK(is_socket_file(tpath("7401.sock")), "not converted (dir: %s)", list_dir(h_dir));
    n = send(k, "early client", 12, 0);
    CHECK(n == 12, "send on the socket connected before the server started: %zd", n);
    udp_expect(s, "early client", NULL);

    /* server restart */
    close(s);
    s = udp_bind("127.0.0.1", 7401);
    int delivered = 0;
    for (int i = 0; i < 3 && !delivered; i++) {
        n = send(k, "after restart", 13, 0);
        CHECK(n == 13 || (n < 0 && errno == ECONNREFUSED),
              "send %d after the server restarted: %zd (UDP allows one ECONNREFUSED, nothing else)", i, n);
        if (n == 13) delivered = wait_readable(s, 1000);
    }
    CHECK(delivered, "the connected client never reached the restarted server");
    udp_expect(s, "after restart", NULL);
    return 0;
}
