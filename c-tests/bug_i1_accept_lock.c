/* ip2unix bug I1: one global mutex was held across blocking accept/recvfrom,
 * so while a thread waited in accept, close() and socket() in other threads
 * stalled (2.1 s measured).  Here one thread blocks in accept() on a converted
 * listener (then another blocks in recv() on a converted connection), and the
 * main thread times socket(), close() of a plain socket, a converted
 * bind+close and close of a converted socket: each must take < 100 ms. */
#include "harness.h"

static volatile pid_t blocked_tid;

static void *block_accept(void *arg) {
    int l = (int)(intptr_t)arg;
    blocked_tid = h_gettid();
    int a = accept(l, NULL, NULL);
    return (void *)(intptr_t)a;
}

static void *block_recv(void *arg) {
    int c = (int)(intptr_t)arg;
    blocked_tid = h_gettid();
    char buf[4];
    ssize_t n = recvfrom(c, buf, sizeof buf, 0, NULL, NULL);
    return (void *)(intptr_t)n;
}

static void timed_ops(const char *while_what, int port) {
    for (int round = 0; round < 5; round++) {
        double t0 = now_s();
        int s = socket(AF_INET, SOCK_STREAM, 0);
        double t1 = now_s();
        CHECK(s >= 0, "socket");
        CHECK(close(s) == 0, "close");
        double t2 = now_s();
        CHECK(t1 - t0 < 0.1, "socket() took %.0f ms while a thread %s", (t1 - t0) * 1000, while_what);
        CHECK(t2 - t1 < 0.1, "close() took %.0f ms while a thread %s", (t2 - t1) * 1000, while_what);

        /* a converted socket too: bind it (becomes {D}/<port>.sock), then close */
        int b = tcp_socket(AF_INET);
        haddr_t a = haddr("127.0.0.1", port);
        double t3 = now_s();
        CHECK(bind(b, SA(a)) == 0, "bind");
        double t4 = now_s();
        CHECK(close(b) == 0, "close converted");
        double t5 = now_s();
        CHECK(t4 - t3 < 0.1, "converted bind() took %.0f ms while a thread %s", (t4 - t3) * 1000, while_what);
        CHECK(t5 - t4 < 0.1, "close() of a converted socket took %.0f ms while a thread %s",
              (t5 - t4) * 1000, while_what);
    }
}

int main(void) {
    harness_preload("in,port=8401-8403,path={D}/%p.sock;out,port=8401,path={D}/%p.sock");
    int l = tcp_listen("127.0.0.1", 8401);
    CHECK(is_socket_file(tpath("8401.sock")), "not converted (dir: %s)", list_dir(h_dir));

    pthread_t t;
    CHECK(pthread_create(&t, NULL, block_accept, (void *)(intptr_t)l) == 0, "pthread_create");
    wait_blocked_in(&blocked_tid, SYS_accept, SYS_accept4);
    timed_ops("is blocked in accept()", 8402);

    int c = tcp_connect_ok("127.0.0.1", 8401); /* wakes the accept */
    void *ret;
    pthread_join(t, &ret);
    int a = (int)(intptr_t)ret;
    CHECK(a >= 0, "the blocked accept failed");

    blocked_tid = 0;
    CHECK(pthread_create(&t, NULL, block_recv, (void *)(intptr_t)c) == 0, "pthread_create");
    wait_blocked_in(&blocked_tid, SYS_recvfrom, SYS_recvfrom);
    timed_ops("is blocked in recvfrom()", 8403);
    write_all(a, "done", 4);
    pthread_join(t, &ret);
    CHECK((intptr_t)ret == 4, "recvfrom returned %d", (int)(intptr_t)ret);
    return 0;
}
