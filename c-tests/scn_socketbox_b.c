/* socketbox "B" client (issue 6): bind(127.0.0.1:5202) under socketbox-b={D}/api:7 registers
 * slot 7 on a SEQPACKET API socket (first the versioned record asking for a handed-over
 * listener, which this router of the old kind refuses by closing; then the plain record
 * 01 00 00 00 00 00 00 07, answered 80 00 00 00),
 * and accept takes the fds the server sends in 03 00 00 00 records.  The test's fake router
 * then closes the stream and comes back on a new socket at the same path (a restart): the next
 * accept registers again and keeps serving, the process is not signalled.  A router that
 * refuses (closes without the acknowledgement) makes bind fail with EADDRNOTAVAIL. */
#include "harness.h"

static int seq_listen(const char *path) {
    int s = socket(AF_UNIX, SOCK_SEQPACKET, 0);
    struct sockaddr_un u;
    socklen_t ul = unix_addr(&u, path);
    unlink(path);
    CHECK(bind(s, (struct sockaddr *)&u, ul) == 0 && listen(s, 8) == 0, "API socket %s", path);
    return s;
}

static void send_record_fd(int s, int fd) {
    char rec[4] = {3, 0, 0, 0}, cbuf[CMSG_SPACE(sizeof(int))];
    struct iovec v = {rec, 4};
    struct msghdr m = {.msg_iov = &v, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof fd);
    CHECK(sendmsg(s, &m, 0) == 4, "delivery record");
}

/* Fake router: accept one registration, check it, acknowledge, deliver `n` connections made to
 * a TCP port of its own, then close the stream (and the API socket: a restart). `first`: the
 * shim's first registration of the socket (a bind), which asks for a listener first; a
 * registration after a restart sends the plain record only. */
static void fake_router(const char *api, int n, int ack, const char *ready, int first) {
    int l = seq_listen(api);
    int tl = socket(AF_INET6, SOCK_STREAM, 0);
    haddr_t any = haddr("::1", 0);
    CHECK(bind(tl, SA(any)) == 0 && listen(tl, 16) == 0, "router TCP listener");
    haddr_t tn = sock_name(tl);
    FILE *f = fopen(ready, "w");
    fprintf(f, "%d\n", sa_port((struct sockaddr *)&tn.ss));
    fclose(f);
    int s = accept(l, NULL, NULL);
    CHECK(s >= 0, "API accept");
    unsigned char rec[16];
    ssize_t r = recv(s, rec, sizeof rec, 0);
    /* A new shim asks for a handed-over listener first (the versioned 12-byte record); a
     * router of socketbox's time refuses any record that is not 8 bytes by closing, as
     * python-socketbox does, and the shim registers again with the plain record. */
    unsigned char ext[12] = {1, 0, 0, 1, 0, 0, 0, 7, 0, 0, 0, 1};
    if (first) {
        CHECK(r == 12 && memcmp(rec, ext, 12) == 0, "versioned registration record: %zd bytes", r);
        close(s);
        s = accept(l, NULL, NULL);
        CHECK(s >= 0, "API accept (plain registration)");
        r = recv(s, rec, sizeof rec, 0);
    }
    unsigned char want[8] = {1, 0, 0, 0, 0, 0, 0, 7};
    CHECK(r == 8 && memcmp(rec, want, 8) == 0, "registration record: %zd bytes", r);
    if (!ack) {
        close(s);
        close(l);
        return;
    }
    CHECK(send(s, "\x80\0\0\0", 4, 0) == 4, "ack");
    for (int i = 0; i < n; i++) {
        int a = accept(tl, NULL, NULL);
        send_record_fd(s, a);
        close(a);
    }
    /* records already queued stay readable after the close */
    close(s);
    close(l);
    close(tl);
}

static int read_port(const char *ready) {
    for (int i = 0; i < 2000; i++) {
        FILE *f = fopen(ready, "r");
        int p = 0;
        if (f) {
            int ok = fscanf(f, "%d", &p) == 1;
            fclose(f);
            if (ok && p > 0) return p;
        }
        sleep_ms(5);
    }
    CHECK(0, "fake router did not start");
    return -1;
}

static void serve_one(int l, int port) {
    int c = tcp_connect_ok("::1", port);
    int a = accept(l, NULL, NULL);
    CHECK(a >= 0, "accept from the B stream: %s", strerror(errno));
    write_all(c, "hi", 2);
    char buf[4] = {0};
    CHECK(read_full(a, buf, 2) == 2 && memcmp(buf, "hi", 2) == 0, "data");
    close(a);
    close(c);
}

int main(void) {
    harness_preload("in,tcp,addr=127.0.0.1,port=5202,socketbox-b={D}/api:7;"
                    "in,tcp,addr=127.0.0.1,port=5203,socketbox-b={D}/refuse:7");
    char *api = tpath("api"), *ready1 = tpath("ready1"), *ready2 = tpath("ready2");
    char *refuse = tpath("refuse"), *ready3 = tpath("ready3");

    /* refused registration: bind fails, cleanly */
    pid_t r = harness_fork();
    if (r == 0) { fake_router(refuse, 0, 0, ready3, 1); _exit(0); }
    read_port(ready3);
    int x = tcp_socket(AF_INET);
    haddr_t xb = haddr("127.0.0.1", 5203);
    CHECK_ERRNO(bind(x, SA(xb)), EADDRNOTAVAIL);
    CHECK(wait_child(r) == 0, "refusing router");
    close(x);

    pid_t k = harness_fork();
    if (k == 0) { fake_router(api, 2, 1, ready1, 1); _exit(0); }
    int port = read_port(ready1);
    int l = tcp_socket(AF_INET);
    haddr_t b = haddr("127.0.0.1", 5202);
    CHECK(bind(l, SA(b)) == 0, "bind registers: %s", strerror(errno));
    CHECK(listen(l, 8) == 0, "listen");
    haddr_t n = sock_name(l);
    CHECK_ADDR(n, "127.0.0.1", 5202);
    CHECK(sockopt_int(l, SOL_SOCKET, SO_TYPE) == SOCK_STREAM && sockopt_int(l, SOL_SOCKET, SO_ACCEPTCONN) == 1,
          "listener options");
    serve_one(l, port);
    serve_one(l, port);
    CHECK(wait_child(k) == 0, "first router");

    /* the router restarts: a new API socket at the same path */
    unlink(ready2);
    k = harness_fork();
    if (k == 0) { fake_router(api, 1, 1, ready2, 0); _exit(0); }
    port = read_port(ready2);
    serve_one(l, port); /* accept sees EOF, registers again, then takes the connection */
    CHECK(wait_child(k) == 0, "restarted router");
    return 0;
}
