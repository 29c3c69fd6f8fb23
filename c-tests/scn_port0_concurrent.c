/* bind(:0) under contention (docs: "bind to port 0 picks a free port
 * (32768-60999) for which the expanded path is free").  4 processes x 4
 * threads each bind 10 converted listeners to 127.0.0.1:0 at the same time
 * and keep them open: every bind must succeed, every reported port must be
 * distinct across all processes, and each must have its own socket file. */
#include "harness.h"

#define PROCS 4
#define THREADS 4
#define PER 10

static int ports[THREADS][PER];

static void *binder(void *arg) {
    int t = (int)(intptr_t)arg;
    for (int i = 0; i < PER; i++) {
        int l = tcp_listen("127.0.0.1", 0);
        haddr_t n = sock_name(l);
        ports[t][i] = sa_port((struct sockaddr *)&n.ss);
        CHECK(ports[t][i] >= 32768 && ports[t][i] <= 60999, "port %d", ports[t][i]);
        CHECK(is_socket_file(tpath("%d.sock", ports[t][i])), "no file for port %d", ports[t][i]);
    }
    return NULL;
}

int main(void) {
    harness_preload("in,addr=127.0.0.1,path={D}/%p.sock");
    int pipes[PROCS][2];
    pid_t kids[PROCS];
    int go[2];
    CHECK(pipe(go) == 0, "pipe");
    for (int p = 0; p < PROCS; p++) {
        CHECK(pipe(pipes[p]) == 0, "pipe");
        kids[p] = harness_fork();
        if (kids[p] == 0) {
            char ch;
            close(go[1]);
            if (read(go[0], &ch, 1) < 0) _exit(2); /* start together */
            pthread_t th[THREADS];
            for (int t = 0; t < THREADS; t++) pthread_create(&th[t], NULL, binder, (void *)(intptr_t)t);
            for (int t = 0; t < THREADS; t++) pthread_join(th[t], NULL);
            write_all(pipes[p][1], ports, sizeof ports);
            pause(); /* keep the listeners open until killed */
            _exit(0);
        }
        close(pipes[p][1]);
    }
    close(go[0]);
    close(go[1]); /* EOF releases everyone at once */

    static int all[PROCS * THREADS * PER];
    int n = 0;
    for (int p = 0; p < PROCS; p++) {
        int got[THREADS][PER];
        CHECK(read_full(pipes[p][0], got, sizeof got) == sizeof got, "process %d failed (status %d)", p,
              wait_child(kids[p]));
        for (int t = 0; t < THREADS; t++)
            for (int i = 0; i < PER; i++) all[n++] = got[t][i];
    }
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            CHECK(all[i] != all[j], "port %d reported to two listeners", all[i]);
    CHECK(count_dir(h_dir) == n, "%d files for %d listeners", count_dir(h_dir), n);
    /* each file reaches a live listener */
    for (int i = 0; i < n; i++) {
        int u = unix_connect(tpath("%d.sock", all[i]));
        CHECK(u >= 0, "port %d: socket file not connectable", all[i]);
        close(u);
    }
    return 0;
}
