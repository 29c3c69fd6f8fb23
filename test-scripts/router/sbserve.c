/* Benchmark server and bulk client for the router benchmark (test-scripts/bench/router.sh).
 *
 *   sbserve http tcp PORT      accept on 127.0.0.1:PORT; per connection: read an HTTP request,
 *   sbserve http a PATH        answer a tiny "200 ok" with Connection: close, close.
 *                              "a": take the connections from an A-protocol datagram socket
 *                              bound at PATH (one 0x00 byte + SCM_RIGHTS fd each) instead.
 *   sbserve sink tcp PORT      per connection: read until EOF, answer "ok\n", close.
 *   sbserve sink a PATH
 *   sbserve bulk HOST PORT MB  client: connect, send MB megabytes, shut down writing, wait for
 *                              the answer; prints "mbps=N" (megabytes per second).
 * Single-threaded epoll loop; prints "ready" on stdout once listening. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static const char RESP[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
static int sink_mode;
static char big[1 << 18];

static void die(const char *m) { perror(m); exit(1); }

static void add_conn(int ep, int fd) {
    if (sink_mode) {
        /* bulk: one connection at a time, blocking */
        int fl = fcntl(fd, F_GETFL);
        fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
        while (read(fd, big, sizeof big) > 0) {}
        if (write(fd, "ok\n", 3) < 0) {}
        close(fd);
        return;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) close(fd);
}

static void serve_conn(int fd) {
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EAGAIN) return;
    if (n > 0) {
        /* small requests arrive in one segment on loopback */
        if (write(fd, RESP, sizeof RESP - 1) < 0) {}
    }
    close(fd);
}

static int bulk(const char *host, int port, long mb) {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, host, &a.sin_addr);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(s, (struct sockaddr *)&a, sizeof a) < 0) die("connect");
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    long total = mb << 20;
    while (total > 0) {
        ssize_t n = write(s, big, total < (long)sizeof big ? total : (long)sizeof big);
        if (n <= 0) die("write");
        total -= n;
    }
    shutdown(s, SHUT_WR);
    char r[8];
    if (read(s, r, sizeof r) <= 0) die("no answer");
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("mbps=%.1f\n", mb / secs);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: see the source\n"); return 2; }
    if (!strcmp(argv[1], "bulk")) return bulk(argv[2], atoi(argv[3]), atol(argv[4]));
    sink_mode = !strcmp(argv[1], "sink");
    int a_mode = !strcmp(argv[2], "a");
    int lfd;
    if (a_mode) {
        struct sockaddr_un un = {.sun_family = AF_UNIX};
        snprintf(un.sun_path, sizeof un.sun_path, "%s", argv[3]);
        unlink(argv[3]);
        lfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (bind(lfd, (struct sockaddr *)&un, sizeof un) < 0) die("bind");
    } else {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[3]))};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        int one = 1;
        setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(lfd, (struct sockaddr *)&a, sizeof a) < 0) die("bind");
        if (listen(lfd, 4096) < 0) die("listen");
    }
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd};
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    printf("ready\n");
    fflush(stdout);
    struct epoll_event evs[256];
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd != lfd) { serve_conn(fd); continue; }
            for (int k = 0; k < 64; k++) {
                int c;
                if (a_mode) {
                    char byte;
                    union { char b[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } cb;
                    struct iovec iov = {.iov_base = &byte, .iov_len = 1};
                    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cb.b, .msg_controllen = sizeof cb.b};
                    if (recvmsg(lfd, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC) < 0) break;
                    struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
                    if (!cm || cm->cmsg_type != SCM_RIGHTS) continue;
                    memcpy(&c, CMSG_DATA(cm), sizeof c);
                } else {
                    c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
                    if (c < 0) break;
                }
                add_conn(ep, c);
            }
        }
    }
}
