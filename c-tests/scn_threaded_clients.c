/* ip2unix scenario: threaded clients.  10 threads each make 20 converted
 * connections (alternating IPv4 and IPv6 servers) at the same time; every
 * connection must echo its own message. */
#include "harness.h"

static void *client(void *arg) {
    int id = (int)(intptr_t)arg;
    for (int i = 0; i < 20; i++) {
        const char *ip = (i & 1) ? "::1" : "127.0.0.1";
        int port = (i & 1) ? 5202 : 5201;
        int c = tcp_connect_ok(ip, port);
        char msg[64];
        snprintf(msg, sizeof msg, "thread %d connection %d", id, i);
        echo_check(c, msg);
        close(c);
    }
    return NULL;
}

int main(void) {
    harness_preload("in,port=5201-5202,path={D}/%p.sock;out,port=5201-5202,path={D}/%p.sock");
    int l4 = tcp_listen("127.0.0.1", 5201);
    int l6 = tcp_listen("::1", 5202);
    CHECK(is_socket_file(tpath("5201.sock")) && is_socket_file(tpath("5202.sock")),
          "socket files missing (dir: %s)", list_dir(h_dir));
    echo_server_thread(l4);
    echo_server_thread(l6);

    pthread_t t[10];
    for (int i = 0; i < 10; i++)
        CHECK(pthread_create(&t[i], NULL, client, (void *)(intptr_t)i) == 0, "pthread_create");
    for (int i = 0; i < 10; i++) pthread_join(t[i], NULL);
    return 0;
}
