/* Datagram echo, for the benchmark's datagram row.
 *
 *   dgram_echo server unix PATH READYFILE | server inet PORT READYFILE
 *       echoes every datagram to its sender; a datagram "quit" ends it, after which it prints
 *       "served=N cpu_us=N" on stdout. READYFILE gets "pid=N shim_loaded=0|1" once bound.
 *   dgram_echo client unix PATH N | client inet PORT N
 *       N times: send 32 bytes, wait for the echo (ping-pong), after 1000 untimed warm-ups.
 *       Prints shim_loaded=, us_per_dgram=, dgrams_total=, cpu_us= (whole process).
 * The unix variants are the native baseline (the client autobinds so replies reach it);
 * the inet variants use 127.0.0.1:PORT and are what the shim converts. */
#include "bench_common.h"
#include <errno.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>

static long cpu_us(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000L + ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
}

static socklen_t make_addr(const char *kind, const char *where, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof *ss);
    if (strcmp(kind, "unix") == 0) {
        struct sockaddr_un *un = (struct sockaddr_un *)ss;
        un->sun_family = AF_UNIX;
        snprintf(un->sun_path, sizeof un->sun_path, "%s", where);
        return sizeof *un;
    }
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    in->sin_family = AF_INET;
    in->sin_port = htons((unsigned short)atoi(where));
    in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return sizeof *in;
}

static int server(const char *kind, const char *where, const char *ready)
{
    struct sockaddr_storage ss;
    socklen_t len = make_addr(kind, where, &ss);
    int fd = socket(ss.ss_family, SOCK_DGRAM, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&ss, len) != 0) {
        fprintf(stderr, "dgram_echo server: bind: %s\n", strerror(errno));
        return 1;
    }
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", ready);
    FILE *rf = fopen(tmp, "w");
    if (!rf)
        return 1;
    fprintf(rf, "pid=%d shim_loaded=%d\n", (int)getpid(), shim_loaded());
    fclose(rf);
    rename(tmp, ready);
    long served = 0;
    char buf[2048];
    for (;;) {
        struct sockaddr_storage from;
        socklen_t flen = sizeof from;
        ssize_t n = recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &flen);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "dgram_echo server: recvfrom: %s\n", strerror(errno));
            return 1;
        }
        if (n == 4 && memcmp(buf, "quit", 4) == 0)
            break;
        if (sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&from, flen) != n) {
            fprintf(stderr, "dgram_echo server: sendto: %s\n", strerror(errno));
            return 1;
        }
        served++;
    }
    printf("served=%ld cpu_us=%ld\n", served, cpu_us());
    return 0;
}

static int client(const char *kind, const char *where, long n)
{
    struct sockaddr_storage ss;
    socklen_t len = make_addr(kind, where, &ss);
    int fd = socket(ss.ss_family, SOCK_DGRAM, 0);
    if (fd < 0)
        return 1;
    if (ss.ss_family == AF_UNIX) {
        sa_family_t fam = AF_UNIX; /* autobind: the server needs a name to answer */
        if (bind(fd, (struct sockaddr *)&fam, sizeof fam) != 0)
            return 1;
    }
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char out[32], in[64];
    memset(out, 'x', sizeof out);
    long warm = 1000, total = 0;
    double t0 = 0;
    for (long i = 0; i < warm + n; i++) {
        if (i == warm)
            t0 = now_ns();
        if (sendto(fd, out, sizeof out, 0, (struct sockaddr *)&ss, len) != (ssize_t)sizeof out) {
            fprintf(stderr, "dgram_echo client: sendto #%ld: %s\n", i, strerror(errno));
            return 1;
        }
        struct sockaddr_storage from;
        socklen_t flen = sizeof from;
        if (recvfrom(fd, in, sizeof in, 0, (struct sockaddr *)&from, &flen) != (ssize_t)sizeof out) {
            fprintf(stderr, "dgram_echo client: recvfrom #%ld: %s\n", i, strerror(errno));
            return 1;
        }
        total++;
    }
    double us = (now_ns() - t0) / 1e3 / (double)n;
    sendto(fd, "quit", 4, 0, (struct sockaddr *)&ss, len);
    printf("shim_loaded=%d\nus_per_dgram=%.3f\ndgrams_total=%ld\ncpu_us=%ld\n", shim_loaded(), us, total, cpu_us());
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "server") == 0)
        return server(argv[2], argv[3], argv[4]);
    if (argc == 5 && strcmp(argv[1], "client") == 0)
        return client(argv[2], argv[3], atol(argv[4]));
    fprintf(stderr, "usage: dgram_echo server unix|inet PATH|PORT READYFILE | client unix|inet PATH|PORT N\n");
    return 2;
}
