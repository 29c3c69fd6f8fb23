/* unsock bug U2: one fd leaked per converted socket, so 20,000 connects hit
 * EMFILE (the fd limit here is 20000).  20,000 converted connects (unsock
 * mode, to a native AF_UNIX server thread that accepts and closes) must leave
 * the fd count unchanged; so must 1,000 connects refused for lack of a
 * server, and 1,000 converted bind+close. */
#include "harness.h"
#include <stdatomic.h>

static atomic_int accepted;

static void *acceptor(void *arg) {
    int l = (int)(intptr_t)arg;
    for (;;) {
        int a = accept(l, NULL, NULL);
        if (a < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            return NULL;
        }
        close(a);
        atomic_fetch_add(&accepted, 1);
    }
}

int main(void) {
    harness_preload_env(NULL, "UNSOCK_DIR={D}", (const char *)NULL);
    alarm(50); /* 22,000 connects: allow more than the default 20 s */
    int pl = unix_listen(tpath("7901.sock"));
    pthread_t t;
    CHECK(pthread_create(&t, NULL, acceptor, (void *)(intptr_t)pl) == 0, "pthread_create");

    int before = count_fds();
    const int N = 20000;
    for (int i = 0; i < N; i++) {
        int c = tcp_connect("127.175.0.0", 7901);
        CHECK(c >= 0, "converted connect %d of %d failed (fds open: %d, before: %d)", i, N, count_fds(), before);
        close(c);
    }
    long deadline = now_ms() + 10000;
    while (atomic_load(&accepted) < N && now_ms() < deadline) sleep_ms(5);
    CHECK(atomic_load(&accepted) == N, "server accepted %d of %d", atomic_load(&accepted), N);
    int after = count_fds();
    CHECK(after == before, "fd count %d before %d connects, %d after", before, N, after);

    for (int i = 0; i < 1000; i++) {
        int c = tcp_connect("127.175.0.0", 7902); /* no such socket file */
        CHECK(c < 0 && errno == ECONNREFUSED, "refused connect %d", i);
    }
    after = count_fds();
    CHECK(after == before, "fd count %d before 1000 refused connects, %d after", before, after);

    for (int i = 0; i < 1000; i++) {
        int l = tcp_bind("127.175.0.0", 7903);
        close(l);
    }
    after = count_fds();
    CHECK(after == before, "fd count %d before 1000 converted binds, %d after", before, after);
    CHECK(!path_exists(tpath("7903.sock")), "7903.sock left behind");
    return 0;
}
