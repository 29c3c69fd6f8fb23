/* vsock_xfer: bulk throughput for the vsock benchmark (test-scripts/bench/vsock.sh).
 *
 *   vsock_xfer serve [--vsock] PORT READY_FILE   echo server: TCP 127.0.0.1:PORT, or AF_VSOCK
 *                                                any:PORT; one connection at a time: reads an
 *                                                8-byte length N, echoes N bytes
 *   vsock_xfer send [--vsock] HOST|CID PORT N    sends N bytes while reading the echo; prints
 *                                                "MiB/s R" (both directions counted); exit 1 on
 *                                                a short or corrupted echo
 * Plain sockets: run it under the shim to convert the TCP ones. No half-close (see
 * test-scripts/helpers/xfer.py for why). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/vm_sockets.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (256 * 1024)

static int vsock_mode;

static void die(const char *what) { perror(what); exit(2); }

static int make_socket(void) {
    int s = socket(vsock_mode ? AF_VSOCK : AF_INET, SOCK_STREAM, 0);
    if (s < 0) die("socket");
    return s;
}

static void fill_addr(struct sockaddr_storage *ss, socklen_t *len, const char *host, int port) {
    memset(ss, 0, sizeof *ss);
    if (vsock_mode) {
        struct sockaddr_vm *vm = (struct sockaddr_vm *)ss;
        vm->svm_family = AF_VSOCK;
        vm->svm_port = (unsigned)port;
        vm->svm_cid = host ? (unsigned)strtoul(host, NULL, 10) : VMADDR_CID_ANY;
        *len = sizeof *vm;
    } else {
        struct sockaddr_in *in = (struct sockaddr_in *)ss;
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)port);
        inet_pton(AF_INET, host ? host : "127.0.0.1", &in->sin_addr);
        *len = sizeof *in;
    }
}

static int read_full(int fd, void *buf, size_t n) {
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, (char *)buf + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        got += (size_t)r;
    }
    return 0;
}

static int write_full(int fd, const void *buf, size_t n) {
    size_t off = 0;
    while (off < n) {
        ssize_t w = write(fd, (const char *)buf + off, n - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        off += (size_t)w;
    }
    return 0;
}

static unsigned char pattern(uint64_t i) { return (unsigned char)((i * 2654435761u) >> 13); }

struct job { int fd; uint64_t n; };

static void *writer(void *arg) {
    struct job *j = arg;
    static unsigned char buf[CHUNK];
    uint64_t sent = 0, be = __builtin_bswap64(j->n);
    if (write_full(j->fd, &be, 8)) die("write length");
    while (sent < j->n) {
        size_t k = j->n - sent < CHUNK ? (size_t)(j->n - sent) : CHUNK;
        for (size_t i = 0; i < k; i++) buf[i] = pattern(sent + i);
        if (write_full(j->fd, buf, k)) die("write");
        sent += k;
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: see the source\n"); return 2; }
    int a = 2;
    if (argc > a && strcmp(argv[a], "--vsock") == 0) { vsock_mode = 1; a++; }
    struct sockaddr_storage ss;
    socklen_t len;
    static unsigned char buf[CHUNK];
    if (strcmp(argv[1], "serve") == 0 && argc == a + 2) {
        int l = make_socket(), one = 1;
        setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        fill_addr(&ss, &len, NULL, atoi(argv[a]));
        if (bind(l, (struct sockaddr *)&ss, len) || listen(l, 8)) die("bind/listen");
        FILE *f = fopen(argv[a + 1], "w");
        if (f) { fputs("ready\n", f); fclose(f); }
        for (;;) {
            int c = accept(l, NULL, NULL);
            if (c < 0) continue;
            uint64_t be, n;
            if (read_full(c, &be, 8) == 0) {
                n = __builtin_bswap64(be);
                while (n > 0) {
                    ssize_t r = read(c, buf, n < CHUNK ? (size_t)n : CHUNK);
                    if (r < 0 && errno == EINTR) continue;
                    if (r <= 0 || write_full(c, buf, (size_t)r)) break;
                    n -= (uint64_t)r;
                }
                (void)read(c, buf, 1); /* the client closes first */
            }
            close(c);
        }
    }
    if (strcmp(argv[1], "send") == 0 && argc == a + 3) {
        int s = make_socket();
        fill_addr(&ss, &len, argv[a], atoi(argv[a + 1]));
        if (connect(s, (struct sockaddr *)&ss, len)) die("connect");
        struct job j = {s, strtoull(argv[a + 2], NULL, 10)};
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        pthread_t t;
        pthread_create(&t, NULL, writer, &j);
        uint64_t got = 0;
        int bad = 0;
        while (got < j.n) {
            ssize_t r = read(s, buf, j.n - got < CHUNK ? (size_t)(j.n - got) : CHUNK);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) break;
            for (ssize_t i = 0; i < r; i++) bad |= buf[i] != pattern(got + (uint64_t)i);
            got += (uint64_t)r;
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        pthread_join(t, NULL);
        close(s);
        double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
        printf("MiB/s %.2f bytes %llu ok %d\n", 2.0 * (double)j.n / secs / 1048576.0,
               (unsigned long long)got, got == j.n && !bad);
        return got == j.n && !bad ? 0 : 1;
    }
    fprintf(stderr, "usage: see the source\n");
    return 2;
}
