/*
 * dgram.h - UDP helpers for the datagram C tests (include after harness.h).
 *
 * Sockets are created as the program sees them (AF_INET/AF_INET6, SOCK_DGRAM);
 * every receive is bounded by a poll() so that a lost datagram fails a CHECK
 * instead of hanging until the alarm.
 */
#ifndef SOCKSWAP_DGRAM_H
#define SOCKSWAP_DGRAM_H

#include <sys/epoll.h>
#include <sys/uio.h>

static inline int udp_socket(int family) {
    int fd = socket(family, SOCK_DGRAM, 0);
    CHECK(fd >= 0, "socket(%d, SOCK_DGRAM)", family);
    return fd;
}

/* socket + bind, CHECKed. */
static inline int udp_bind(const char *ip, int port) {
    int fd = udp_socket(ip_family(ip));
    haddr_t a = haddr(ip, port);
    CHECK(bind(fd, SA(a)) == 0, "bind UDP %s", sa_str((struct sockaddr *)&a.ss));
    return fd;
}

/* sendto(ip:port) of a NUL-free text, CHECKed to send it whole. */
static inline void udp_send_to(int fd, const char *ip, int port, const char *msg) {
    haddr_t a = haddr(ip, port);
    ssize_t n = sendto(fd, msg, strlen(msg), 0, SA(a));
    CHECK(n == (ssize_t)strlen(msg), "sendto(fd %d, %s) returned %zd", fd,
          sa_str((struct sockaddr *)&a.ss), n);
}

/* sendto an address as received from recvfrom. */
static inline void udp_send_back(int fd, const haddr_t *to, const void *buf, size_t n) {
    ssize_t w = sendto(fd, buf, n, 0, (const struct sockaddr *)&to->ss, to->len);
    CHECK(w == (ssize_t)n, "sendto(fd %d, %s) returned %zd", fd, sa_str((const struct sockaddr *)&to->ss), w);
}

/* Wait up to timeout_ms for fd to become readable; 1 if readable. */
static inline int wait_readable(int fd, int timeout_ms) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int r;
    while ((r = poll(&p, 1, timeout_ms)) < 0 && errno == EINTR) {}
    return r == 1;
}

/* recvfrom with a 5 s bound; returns the length, fills *from (if non-NULL). */
static inline ssize_t udp_recv(int fd, char *buf, size_t cap, haddr_t *from) {
    CHECK(wait_readable(fd, 5000), "fd %d: no datagram within 5 s", fd);
    haddr_t dummy;
    haddr_t *f = from ? from : &dummy;
    memset(f, 0, sizeof *f);
    f->len = sizeof f->ss;
    ssize_t n = recvfrom(fd, buf, cap, 0, (struct sockaddr *)&f->ss, &f->len);
    CHECK(n >= 0, "recvfrom(fd %d)", fd);
    return n;
}

/* Receive one datagram, CHECK it equals msg; fills *from if non-NULL. */
static inline void udp_expect(int fd, const char *msg, haddr_t *from) {
    char buf[2048];
    ssize_t n = udp_recv(fd, buf, sizeof buf, from);
    CHECK(n == (ssize_t)strlen(msg) && memcmp(buf, msg, n) == 0,
          "fd %d: expected '%s', got %zd bytes '%.*s'", fd, msg, n, n > 0 ? (int)n : 0, buf);
}

/* Uppercase a buffer in place (the echo servers answer in upper case, so that
 * a datagram looped back by mistake is told apart from a real reply). */
static inline void upcase(char *b, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (b[i] >= 'a' && b[i] <= 'z') b[i] = (char)(b[i] - 'a' + 'A');
}

static inline char *upcased(const char *s) {
    char *u = strdup(s);
    upcase(u, strlen(u));
    return u;
}

/* An "upcase echo" server loop on a bound datagram socket: every datagram is
 * sent back, upper-cased, to the address recvfrom reported.  Stops at a
 * datagram "QUIT" (or "quit") or on a receive error. */
static inline void *udp_echo_loop(void *arg) {
    int fd = (int)(intptr_t)arg;
    char buf[2048];
    for (;;) {
        haddr_t from;
        memset(&from, 0, sizeof from);
        from.len = sizeof from.ss;
        ssize_t n = recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&from.ss, &from.len);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return NULL;
        upcase(buf, (size_t)n);
        if (n == 4 && memcmp(buf, "QUIT", 4) == 0) return NULL;
        if (sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&from.ss, from.len) != n) {
            fprintf(stderr, "udp echo server: sendto(%s) failed: %s\n",
                    sa_str((struct sockaddr *)&from.ss), strerror(errno));
            exit(1);
        }
    }
}

static inline pthread_t udp_echo_thread(int fd) {
    pthread_t t;
    CHECK(pthread_create(&t, NULL, udp_echo_loop, (void *)(intptr_t)fd) == 0, "pthread_create");
    pthread_detach(t);
    return t;
}

static inline pid_t udp_echo_fork(int fd) {
    pid_t p = harness_fork();
    if (p == 0) {
        udp_echo_loop((void *)(intptr_t)fd);
        _exit(0);
    }
    return p;
}

/* One round trip from a client socket: sendto ip:port, expect the upcased
 * reply, and CHECK it came from ip:port (the address the program sent to). */
static inline void udp_roundtrip(int fd, const char *ip, int port, const char *msg) {
    udp_send_to(fd, ip, port, msg);
    haddr_t from;
    char *want = upcased(msg);
    udp_expect(fd, want, &from);
    free(want);
    CHECK_ADDR(from, ip, port);
}

/* Is a real UDP socket bound to this port (any address)?  Reads
 * /proc/net/udp and /proc/net/udp6 (local address column ":PPPP"). */
static inline int real_udp_port_bound(int port) {
    const char *files[] = {"/proc/net/udp", "/proc/net/udp6"};
    char want[16];
    snprintf(want, sizeof want, ":%04X ", port);
    for (int i = 0; i < 2; i++) {
        FILE *f = fopen(files[i], "r");
        if (!f) continue;
        char line[512];
        while (fgets(line, sizeof line, f)) {
            /* "  sl  local_address rem_address ..." : the local address is field 2 */
            char sl[32], local[128];
            if (sscanf(line, "%31s %127s", sl, local) != 2) continue;
            char *colon = strrchr(local, ':');
            if (!colon) continue;
            char tail[16];
            snprintf(tail, sizeof tail, "%s ", colon);
            if (strcmp(tail, want) == 0) { fclose(f); return 1; }
        }
        fclose(f);
    }
    return 0;
}

/* A native AF_UNIX datagram socket bound at path (for replies). */
static inline int unix_dgram_bind(const char *path) {
    struct sockaddr_un u;
    socklen_t l = unix_addr(&u, path);
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    CHECK(fd >= 0, "socket(AF_UNIX, SOCK_DGRAM)");
    unlink(path);
    CHECK(bind(fd, (struct sockaddr *)&u, l) == 0, "bind unix dgram %s", path);
    return fd;
}

/* Is ip:port the synthetic loopback address of a datagram peer (the family's
 * loopback, port 61000-65095)? */
static inline int is_synthetic_peer(const haddr_t *a, const char *loopback) {
    const struct sockaddr *sa = (const struct sockaddr *)&a->ss;
    if (sa->sa_family != ip_family(loopback)) return 0;
    if (strcmp(sa_ip(sa), loopback) != 0) return 0;
    if (a->len != haddr(loopback, 1).len) return 0;
    int p = sa_port(sa);
    return p >= 61000 && p <= 65095;
}

#endif /* SOCKSWAP_DGRAM_H */
