/* Stress: 8 threads x 2,000 converted connects (1-byte echo each) while the
 * main thread forks 50 times; each child closes the converted listener (as a
 * fork+exec child closing fds would) and exits at once.  Nothing may hang: a
 * shim that holds a lock across fork deadlocks the child or the workers.
 * Bounded by alarm(50). */
#include "harness.h"
#include <stdatomic.h>

static atomic_int done_workers;

static void *server(void *arg) {
    int l = (int)(intptr_t)arg;
    for (;;) {
        int a = accept(l, NULL, NULL);
        if (a < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            return NULL;
        }
        char ch;
        if (read_full(a, &ch, 1) == 1) write_all(a, &ch, 1);
        close(a);
    }
}

static void *worker(void *arg) {
    int id = (int)(intptr_t)arg;
    for (int i = 0; i < 2000; i++) {
        int c = tcp_connect("127.0.0.1", 9101);
        CHECK(c >= 0, "worker %d connect %d", id, i);
        char ch = 'a' + id, back = 0;
        write_all(c, &ch, 1);
        CHECK(read_full(c, &back, 1) == 1 && back == ch, "worker %d echo %d", id, i);
        close(c);
    }
    atomic_fetch_add(&done_workers, 1);
    return NULL;
}

int main(void) {
    harness_preload("in,port=9101,path={D}/%p.sock;out,port=9101,path={D}/%p.sock");
    alarm(50);
    int l = tcp_listen("127.0.0.1", 9101);
    CHECK(is_socket_file(tpath("9101.sock")), "not converted (dir: %s)", list_dir(h_dir));
    pthread_t srv[2], w[8];
    for (int i = 0; i < 2; i++) pthread_create(&srv[i], NULL, server, (void *)(intptr_t)l);
    for (int i = 0; i < 8; i++) pthread_create(&w[i], NULL, worker, (void *)(intptr_t)i);

    for (int f = 0; f < 50; f++) {
        pid_t p = fork();
        CHECK(p >= 0, "fork");
        if (p == 0) {
            close(l);
            _exit(0);
        }
        int st;
        CHECK(waitpid(p, &st, 0) == p && WIFEXITED(st) && WEXITSTATUS(st) == 0, "fork child %d", f);
        sleep_ms(5);
    }
    for (int i = 0; i < 8; i++) pthread_join(w[i], NULL);
    CHECK(atomic_load(&done_workers) == 8, "workers");
    CHECK(is_socket_file(tpath("9101.sock")), "children's close removed the listener's file");
    return 0;
}
