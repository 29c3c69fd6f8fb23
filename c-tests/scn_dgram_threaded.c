/* ip2unix scenario: threaded datagram clients.  One converted UDP server
 * (IPv4) answers 10 client threads at once; each thread has its own UDP
 * socket (never bound: converted and autobound by its first sendto) and makes
 * 10 round trips, checking every reply is its own and comes from the address
 * it sent to.  Half the threads talk IPv6 to a second converted server. */
#include "harness.h"
#include "dgram.h"

static void *client(void *arg) {
    int k = (int)(intptr_t)arg;
    const char *ip = (k & 1) ? "::1" : "127.0.0.1";
    int port = (k & 1) ? 6202 : 6201;
    int c = udp_socket(ip_family(ip));
    for (int i = 0; i < 10; i++) {
        char msg[64];
        snprintf(msg, sizeof msg, "thread %d datagram %d", k, i);
        udp_roundtrip(c, ip, port, msg);
    }
    close(c);
    return NULL;
}

int main(void) {
    harness_preload("udp,port=6201-6202,path={D}/%p.sock");
    int s4 = udp_bind("127.0.0.1", 6201);
    int s6 = udp_bind("::1", 6202);
    CHECK(is_socket_file(tpath("6201.sock")) && is_socket_file(tpath("6202.sock")),
          "socket files missing (dir: %s)", list_dir(h_dir));
    udp_echo_thread(s4);
    udp_echo_thread(s6);
    pthread_t t[10];
    for (int k = 0; k < 10; k++)
        CHECK(pthread_create(&t[k], NULL, client, (void *)(intptr_t)k) == 0, "pthread_create");
    for (int k = 0; k < 10; k++) pthread_join(t[k], NULL);
    CHECK(!real_udp_port_bound(6201) && !real_udp_port_bound(6202), "a real UDP port is bound");
    return 0;
}
