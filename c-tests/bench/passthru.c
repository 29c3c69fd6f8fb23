/* Pass-through cost of the shim on sockets no rule matches.
 *
 *   passthru socket ITER       socket(AF_INET, SOCK_STREAM) + close(), ITER times
 *   passthru getsockname ITER  getsockname() on a TCP socket bound to 127.0.0.1:0
 *   passthru epoll_ctl ITER PORT
 *                              epoll_ctl(EPOLL_CTL_MOD) on a TCP client socket connected to
 *                              127.0.0.1:PORT (listener in the same process): the one hooked
 *                              call on the data path of event-loop programs (redis-benchmark
 *                              makes ~5 per request). Run under rules matching PORT it measures
 *                              a converted socket; it also prints unix_fd=0|1, whether the
 *                              kernel sees the client fd as an AF_UNIX socket.
 *   passthru getsockopt ITER PORT
 *                              getsockopt(IPPROTO_TCP, TCP_NODELAY) on the same kind of client
 *                              socket: on a converted one the shim asks a template TCP socket
 *                              (one fstat + one getsockopt). Its raw half asks the kernel on
 *                              the fd itself and ignores the answer (a Unix socket refuses it).
 *
 * The ITER calls go through libc (and so through the shim when it is preloaded).
 * Interleaved with them, in alternating blocks, the same number of calls is made as
 * raw syscall(2)s, which no LD_PRELOAD library sees: the in-process reference that
 * lets the harness cancel the drift of a shared machine (both halves of a block pair
 * run within milliseconds of each other).
 *
 * Prints machine-readable lines:
 *   shim_loaded=0|1
 *   ns_per_op=FLOAT          libc calls: median block
 *   raw_ns_per_op=FLOAT      raw syscalls: median block
 *   added_vs_raw_ns=FLOAT    median over block pairs of (libc - raw) ns per op
 *   ratio_vs_raw=FLOAT       median over block pairs of libc/raw
 */
#include "bench_common.h"
#include <errno.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <sys/epoll.h>
#include <sys/stat.h>

#define BLOCKS 20

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, n, sizeof v[0], cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int socket_loop(long iter, int raw)
{
    for (long i = 0; i < iter; i++) {
        int fd = raw ? (int)syscall(SYS_socket, AF_INET, SOCK_STREAM, 0)
                     : socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0) {
            fprintf(stderr, "passthru: socket: %s\n", strerror(errno));
            return -1;
        }
        if (raw)
            syscall(SYS_close, fd);
        else
            close(fd);
    }
    return 0;
}

static int gsn_fd;
static struct sockaddr_in gsn_expect;

static int getsockname_loop(long iter, int raw)
{
    struct sockaddr_in sa;
    for (long i = 0; i < iter; i++) {
        socklen_t len = sizeof sa;
        int r = raw ? (int)syscall(SYS_getsockname, gsn_fd, (struct sockaddr *)&sa, &len)
                    : getsockname(gsn_fd, (struct sockaddr *)&sa, &len);
        if (r != 0) {
            fprintf(stderr, "passthru: getsockname: %s\n", strerror(errno));
            return -1;
        }
        if (sa.sin_port != gsn_expect.sin_port) {
            fprintf(stderr, "passthru: getsockname returned a different port\n");
            return -1;
        }
    }
    return 0;
}

static int ep_fd, ep_sock;

static int epoll_loop(long iter, int raw)
{
    struct epoll_event ev = {0};
    ev.data.fd = ep_sock;
    for (long i = 0; i < iter; i++) {
        ev.events = (i & 1) ? EPOLLIN | EPOLLOUT : EPOLLIN;
        int r = raw ? (int)syscall(SYS_epoll_ctl, ep_fd, EPOLL_CTL_MOD, ep_sock, &ev)
                    : epoll_ctl(ep_fd, EPOLL_CTL_MOD, ep_sock, &ev);
        if (r != 0) {
            fprintf(stderr, "passthru: epoll_ctl: %s\n", strerror(errno));
            return -1;
        }
    }
    return 0;
}

static int getsockopt_loop(long iter, int raw)
{
    for (long i = 0; i < iter; i++) {
        int v = -1;
        socklen_t len = sizeof v;
        if (raw) {
            syscall(SYS_getsockopt, ep_sock, IPPROTO_TCP, TCP_NODELAY, &v, &len);
        } else if (getsockopt(ep_sock, IPPROTO_TCP, TCP_NODELAY, &v, &len) != 0 || v != 0) {
            fprintf(stderr, "passthru: getsockopt(TCP_NODELAY): %s, value %d\n", strerror(errno), v);
            return -1;
        }
    }
    return 0;
}

/* 1 if the kernel lists fd's socket inode in /proc/net/unix */
static int is_unix_fd(int fd)
{
    struct stat st;
    char line[512];
    int found = 0;
    if (fstat(fd, &st) != 0)
        return -1;
    FILE *f = fopen("/proc/net/unix", "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f)) {
        unsigned long ino;
        /* Num RefCount Protocol Flags Type St Inode Path */
        if (sscanf(line, "%*s %*s %*s %*s %*s %*s %lu", &ino) == 1 && ino == st.st_ino) {
            found = 1;
            break;
        }
    }
    fclose(f);
    return found;
}

static int epoll_setup(int port)
{
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons((unsigned short)port);
    int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    if (l >= 0)
        setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(l, 4) != 0) {
        fprintf(stderr, "passthru: listen on 127.0.0.1:%d: %s\n", port, strerror(errno));
        return -1;
    }
    ep_sock = socket(AF_INET, SOCK_STREAM, 0);
    if (ep_sock < 0 || connect(ep_sock, (struct sockaddr *)&sa, sizeof sa) != 0) {
        fprintf(stderr, "passthru: connect to 127.0.0.1:%d: %s\n", port, strerror(errno));
        return -1;
    }
    if (accept(l, NULL, NULL) < 0) {
        fprintf(stderr, "passthru: accept: %s\n", strerror(errno));
        return -1;
    }
    struct epoll_event ev = {0};
    ev.events = EPOLLIN;
    ev.data.fd = ep_sock;
    ep_fd = epoll_create1(EPOLL_CLOEXEC);
    if (ep_fd < 0 || epoll_ctl(ep_fd, EPOLL_CTL_ADD, ep_sock, &ev) != 0) {
        fprintf(stderr, "passthru: epoll setup: %s\n", strerror(errno));
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 3 && !(argc == 4 && (strcmp(argv[1], "epoll_ctl") == 0 ||
                                     strcmp(argv[1], "getsockopt") == 0))) {
        fprintf(stderr, "usage: %s socket|getsockname ITERATIONS | epoll_ctl|getsockopt ITERATIONS PORT\n",
                argv[0]);
        return 2;
    }
    long iter = atol(argv[2]);
    long per_block = iter / BLOCKS;
    if (per_block <= 0)
        return 2;
    int (*loop)(long, int);

    if (strcmp(argv[1], "socket") == 0) {
        loop = socket_loop;
    } else if (strcmp(argv[1], "getsockname") == 0) {
        socklen_t len = sizeof gsn_expect;
        loop = getsockname_loop;
        gsn_fd = socket(AF_INET, SOCK_STREAM, 0);
        gsn_expect.sin_family = AF_INET;
        gsn_expect.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        gsn_expect.sin_port = 0;
        if (gsn_fd < 0 || bind(gsn_fd, (struct sockaddr *)&gsn_expect, sizeof gsn_expect) != 0 ||
            getsockname(gsn_fd, (struct sockaddr *)&gsn_expect, &len) != 0) {
            fprintf(stderr, "passthru: setup: %s\n", strerror(errno));
            return 1;
        }
        if (gsn_expect.sin_family != AF_INET || gsn_expect.sin_port == 0) {
            fprintf(stderr, "passthru: bound socket does not look like TCP/IPv4\n");
            return 1;
        }
    } else if (strcmp(argv[1], "epoll_ctl") == 0) {
        loop = epoll_loop;
        if (epoll_setup(atoi(argv[3])))
            return 1;
        printf("unix_fd=%d\n", is_unix_fd(ep_sock));
    } else if (strcmp(argv[1], "getsockopt") == 0) {
        loop = getsockopt_loop;
        if (epoll_setup(atoi(argv[3])))
            return 1;
        printf("unix_fd=%d\n", is_unix_fd(ep_sock));
    } else {
        fprintf(stderr, "passthru: unknown mode %s\n", argv[1]);
        return 2;
    }

    /* warm-up, both paths */
    if (loop(iter / 20 + 1, 0) || loop(iter / 20 + 1, 1))
        return 1;

    double lib[BLOCKS], raw[BLOCKS], diff[BLOCKS], ratio[BLOCKS];
    for (int b = 0; b < BLOCKS; b++) {
        for (int k = 0; k < 2; k++) {
            int is_raw = (k ^ b) & 1; /* alternate which half goes first */
            double t0 = now_ns();
            if (loop(per_block, is_raw))
                return 1;
            double ns = (now_ns() - t0) / (double)per_block;
            if (is_raw)
                raw[b] = ns;
            else
                lib[b] = ns;
        }
        diff[b] = lib[b] - raw[b];
        ratio[b] = lib[b] / raw[b];
    }
    printf("shim_loaded=%d\n", shim_loaded());
    printf("ns_per_op=%.3f\n", median(lib, BLOCKS));
    printf("raw_ns_per_op=%.3f\n", median(raw, BLOCKS));
    printf("added_vs_raw_ns=%.3f\n", median(diff, BLOCKS));
    printf("ratio_vs_raw=%.5f\n", median(ratio, BLOCKS));
    return 0;
}
