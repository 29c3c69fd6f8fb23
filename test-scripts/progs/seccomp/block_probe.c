/* Blocking calls that wait in the seccomp supervisor, probed against the kernel: run once on
 * real loopback sockets and once converted; the transcripts must be the same.
 *   usage: block_probe TCP_PORT UDP_PORT
 * A second thread blocks in accept (then recvfrom); meanwhile the main thread's own socket
 * calls must still be answered; a signal sent to the waiting thread with pthread_kill must end
 * the call with EINTR (handler without SA_RESTART) or leave it waiting (SA_RESTART), as the
 * kernel does. Every wait is bounded (alarm). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static int listener, udp;
static atomic_int handled, waiter_tid;

struct result {
    int ret, err, family;
    char peer[64];
};

static void on_signal(int sig) { (void)sig; atomic_fetch_add(&handled, 1); }

static void handler(int sig, int restart)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = restart ? SA_RESTART : 0;
    sigaction(sig, &sa, NULL);
}

static void describe(struct result *r, struct sockaddr_storage *ss)
{
    r->family = ss->ss_family;
    if (ss->ss_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)ss)->sin_addr, r->peer, sizeof r->peer);
}

static void *do_accept(void *arg)
{
    struct result *r = arg;
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    memset(&ss, 0, sizeof ss);
    atomic_store(&waiter_tid, (int)syscall(SYS_gettid));
    r->ret = accept(listener, (struct sockaddr *)&ss, &len);
    r->err = r->ret < 0 ? errno : 0;
    if (r->ret >= 0) {
        describe(r, &ss);
        close(r->ret);
        r->ret = 0;
    }
    return NULL;
}

static void *do_recvfrom(void *arg)
{
    struct result *r = arg;
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    char buf[64];
    memset(&ss, 0, sizeof ss);
    atomic_store(&waiter_tid, (int)syscall(SYS_gettid));
    r->ret = (int)recvfrom(udp, buf, sizeof buf, 0, (struct sockaddr *)&ss, &len);
    r->err = r->ret < 0 ? errno : 0;
    if (r->ret >= 0)
        describe(r, &ss);
    return NULL;
}

static void pause_briefly(void)
{
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
}

/* Waits until the waiting thread is inside system call `nr` (its readiness: /proc shows the
 * call it is blocked in). */
static void wait_in_call(long nr)
{
    char path[64], text[64];
    while (atomic_load(&waiter_tid) == 0)
        pause_briefly();
    snprintf(path, sizeof path, "/proc/self/task/%d/syscall", atomic_load(&waiter_tid));
    for (;;) {
        FILE *f = fopen(path, "r");
        long got = -1;
        if (f) {
            if (fgets(text, sizeof text, f))
                got = strtol(text, NULL, 10);
            fclose(f);
        }
        if (got == nr)
            return;
        pause_briefly();
    }
}

static void start(pthread_t *t, void *(*fn)(void *), struct result *r, long nr)
{
    memset(r, 0, sizeof *r);
    atomic_store(&waiter_tid, 0);
    pthread_create(t, NULL, fn, r);
    wait_in_call(nr);
}

static void report(const char *what, struct result *r)
{
    printf("%s: ret %d errno %s family %d peer %s handled %d\n", what, r->ret,
           r->err ? strerrorname_np(r->err) : "0", r->family, r->peer, atomic_load(&handled));
}

static void connect_once(int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    int c = socket(AF_INET, SOCK_STREAM, 0);
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if (connect(c, (struct sockaddr *)&sa, sizeof sa) != 0)
        printf("connect failed: %s\n", strerrorname_np(errno));
    close(c);
}

static void send_once(int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    int c = socket(AF_INET, SOCK_DGRAM, 0);
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if (sendto(c, "x", 1, 0, (struct sockaddr *)&sa, sizeof sa) != 1)
        printf("sendto failed: %s\n", strerrorname_np(errno));
    close(c);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: block_probe TCP_PORT UDP_PORT\n");
        return 2;
    }
    int port = atoi(argv[1]), uport = atoi(argv[2]);
    alarm(20);
    setvbuf(stdout, NULL, _IOLBF, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    listener = socket(AF_INET, SOCK_STREAM, 0);
    if (bind(listener, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(listener, 8) != 0) {
        perror("block_probe: bind/listen");
        return 1;
    }
    pthread_t t;
    struct result r;

    /* 1: a thread blocked in accept does not hold up the other threads' calls */
    start(&t, do_accept, &r, SYS_accept);
    struct sockaddr_in name;
    socklen_t len = sizeof name;
    memset(&name, 0, sizeof name);
    int g = getsockname(listener, (struct sockaddr *)&name, &len);
    printf("getsockname while accept waits: ret %d family %d port %s\n", g, name.sin_family,
           ntohs(name.sin_port) == port ? "P" : "other");
    connect_once(port);
    pthread_join(t, NULL);
    report("accept", &r);

    /* 2: pthread_kill, handler without SA_RESTART: accept ends with EINTR */
    handler(SIGUSR1, 0);
    start(&t, do_accept, &r, SYS_accept);
    pthread_kill(t, SIGUSR1);
    pthread_join(t, NULL);
    report("accept, signal without SA_RESTART", &r);

    /* 3: pthread_kill, handler with SA_RESTART: accept goes on and gets the next connection */
    handler(SIGUSR2, 1);
    atomic_store(&handled, 0);
    start(&t, do_accept, &r, SYS_accept);
    pthread_kill(t, SIGUSR2);
    while (atomic_load(&handled) == 0)
        pause_briefly();
    wait_in_call(SYS_accept);
    connect_once(port);
    pthread_join(t, NULL);
    report("accept, signal with SA_RESTART", &r);

    /* 4, 5: the same for recvfrom on a UDP socket */
    sa.sin_port = htons(uport);
    udp = socket(AF_INET, SOCK_DGRAM, 0);
    if (bind(udp, (struct sockaddr *)&sa, sizeof sa) != 0) {
        perror("block_probe: bind udp");
        return 1;
    }
    atomic_store(&handled, 0);
    start(&t, do_recvfrom, &r, SYS_recvfrom);
    pthread_kill(t, SIGUSR1);
    pthread_join(t, NULL);
    report("recvfrom, signal without SA_RESTART", &r);

    atomic_store(&handled, 0);
    start(&t, do_recvfrom, &r, SYS_recvfrom);
    pthread_kill(t, SIGUSR2);
    while (atomic_load(&handled) == 0)
        pause_briefly();
    wait_in_call(SYS_recvfrom);
    send_once(uport);
    pthread_join(t, NULL);
    report("recvfrom, signal with SA_RESTART", &r);
    return 0;
}
