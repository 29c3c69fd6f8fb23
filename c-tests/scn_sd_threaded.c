/* systemd socket activation with a threaded server: the program binds
 * 127.0.0.1:8180 (rule `systemd`), which takes the Unix socket
 * systemd-socket-activate passed, and serves every connection in its own
 * thread; the driver runs 10 client threads x 10 connections through the
 * socket file at once, then asks the server to stop. */
#include "harness.h"
#include "dgram.h"
#include "sd.h"

static void *stop_watch(void *arg) {
    (void)arg;
    /* the driver creates {D}/stop when it is done */
    char *stop = tpath("stop");
    while (!path_exists(stop)) poll(NULL, 0, 10);
    exit(0);
}

static void server(void) {
    sd_server_setup();
    int l = tcp_socket(AF_INET);
    haddr_t a = haddr("127.0.0.1", 8180);
    CHECK(bind(l, SA(a)) == 0, "server: bind with a systemd rule");
    CHECK(listen(l, 128) == 0, "server: listen");
    haddr_t n = sock_name(l);
    CHECK_ADDR(n, "127.0.0.1", 8180);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, stop_watch, NULL) == 0, "pthread_create");
    h_accept_loop((void *)(intptr_t)l);
    CHECK(0, "server: accept loop ended");
}

static char *sock;

static void *client(void *arg) {
    int k = (int)(intptr_t)arg;
    for (int i = 0; i < 10; i++) {
        int c = sd_connect(sock);
        char msg[64];
        snprintf(msg, sizeof msg, "thread %d connection %d", k, i);
        echo_check(c, msg);
        close(c);
    }
    return NULL;
}

int main(void) {
    if (sd_role()) server();
    sd_driver_setup();
    const char *args[] = {"-l", "{D}/mt.sock", NULL};
    pid_t sa = sd_launch("server", "in,tcp,port=8180,systemd", args, NULL);
    sock = tpath("mt.sock");
    sd_wait_socket(sock, sa);
    pthread_t t[10];
    for (int k = 0; k < 10; k++)
        CHECK(pthread_create(&t[k], NULL, client, (void *)(intptr_t)k) == 0, "pthread_create");
    for (int k = 0; k < 10; k++) pthread_join(t[k], NULL);
    int f = open(tpath("stop"), O_CREAT | O_WRONLY, 0600);
    CHECK(f >= 0, "create stop file");
    close(f);
    sd_expect_server_ok(sa);
    return 0;
}
