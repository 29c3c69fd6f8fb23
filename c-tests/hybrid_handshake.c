/* hybrid-vsock handshake against a fake VMM (Firecracker's convention: the client writes
 * "CONNECT <port>\n" and reads a line starting "OK "), blocking and non-blocking, with fast,
 * slow, split, refused, malformed, truncated and silent answers.  Checks TCP semantics on the
 * program's fd: EINPROGRESS, not writable before "OK", SO_ERROR, the answer line never in the
 * data, and the fd never closed behind the program's back (unsock bug U7).
 *
 * Guest ports of the fake VMM:
 *   1000 "OK 1000\nWELCOME\n" in one write, then echo     1001 "OK 1001\n" after 700 ms, echo
 *   1002 closes at once (no guest listener)               1003 "NO\n" then closes
 *   1004 never answers                                    1005 "OK 10" then closes
 *   1006 "O", 300 ms, "K 1006\nHI" then echo */
#include "harness.h"
#include <sys/epoll.h>

static char vmm_path[200];
static volatile int last_port = -1;

static void *vmm_conn(void *arg) {
    int c = (int)(intptr_t)arg;
    char line[64];
    size_t n = 0;
    while (n < sizeof line - 1) {
        ssize_t r = read(c, line + n, 1);
        if (r <= 0) { close(c); return NULL; }
        if (line[n++] == '\n') break;
    }
    line[n] = 0;
    int port = -1;
    if (sscanf(line, "CONNECT %d\n", &port) != 1 || line[n - 1] != '\n') {
        fprintf(stderr, "fake VMM: bad request '%s'\n", line);
        close(c);
        return NULL;
    }
    last_port = port;
    switch (port) {
    case 1000: write_all(c, "OK 1000\nWELCOME\n", 16); break;
    case 1001: sleep_ms(700); write_all(c, "OK 1001\n", 8); break;
    case 1002: close(c); return NULL;
    case 1003: write_all(c, "NO\n", 3); close(c); return NULL;
    case 1004: sleep_ms(4000); close(c); return NULL;
    case 1005: write_all(c, "OK 10", 5); close(c); return NULL;
    case 1006: write_all(c, "O", 1); sleep_ms(300); write_all(c, "K 1006\nHI", 9); break;
    default: close(c); return NULL;
    }
    echo_serve(c);
    return NULL;
}

static void *vmm_accept(void *arg) {
    int l = (int)(intptr_t)arg;
    for (;;) {
        int c = accept(l, NULL, NULL);
        if (c < 0) continue;
        pthread_t t;
        pthread_create(&t, NULL, vmm_conn, (void *)(intptr_t)c);
        pthread_detach(t);
    }
    return NULL;
}

static int nb_socket(void) {
    int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    CHECK(s >= 0, "socket");
    return s;
}

static void set_sndtimeo(int s, int ms) {
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    CHECK(setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) == 0, "SO_SNDTIMEO");
}

/* Waits until poll reports the fd writable or in error (a wake-up of the placeholder makes the
 * program poll again, as real event loops do). Returns revents of the final poll. */
static short wait_writable(int s, int timeout_ms) {
    long deadline = now_ms() + timeout_ms;
    for (;;) {
        struct pollfd p = {s, POLLOUT, 0};
        int left = (int)(deadline - now_ms());
        CHECK(left > 0, "fd %d never became writable", s);
        int r = poll(&p, 1, left);
        if (r < 0 && errno == EINTR) continue;
        CHECK(r >= 0, "poll");
        if (r == 0) continue;
        /* re-poll at once: the first wake-up may have come from the placeholder */
        struct pollfd q = {s, POLLOUT, 0};
        CHECK(poll(&q, 1, 0) >= 0, "poll");
        if (q.revents) return q.revents;
    }
}

static int so_error(int s) { return sockopt_int(s, SOL_SOCKET, SO_ERROR); }

static void check_tcp_face(int s, const char *what) {
    CHECK(sockopt_int(s, SOL_SOCKET, SO_DOMAIN) == AF_INET, "%s: SO_DOMAIN", what);
    CHECK(sockopt_int(s, SOL_SOCKET, SO_TYPE) == SOCK_STREAM, "%s: SO_TYPE", what);
}

int main(void) {
    harness_preload("out,addr=127.0.0.1,port=1000-1010,hybrid-vsock={D}/vmm.sock");
    snprintf(vmm_path, sizeof vmm_path, "%s", tpath("vmm.sock"));
    int l = unix_listen(vmm_path);
    pthread_t vt;
    pthread_create(&vt, NULL, vmm_accept, (void *)(intptr_t)l);

    /* A. blocking, answer and data in one segment: the line never leaks into the data */
    int s = tcp_connect_ok("127.0.0.1", 1000);
    CHECK(last_port == 1000, "the VMM was asked for port %d", last_port);
    char buf[64] = {0};
    CHECK(read_full(s, buf, 8) == 8 && memcmp(buf, "WELCOME\n", 8) == 0,
          "first bytes after the handshake: '%.8s'", buf);
    echo_check(s, "blocking hybrid");
    check_tcp_face(s, "A");
    haddr_t pa = peer_name(s);
    CHECK_ADDR(pa, "127.0.0.1", 1000);
    close(s);
    INFO("A blocking: ok");

    /* B. blocking, slow answer */
    long t0 = now_ms();
    s = tcp_connect_ok("127.0.0.1", 1001);
    CHECK(now_ms() - t0 >= 600, "connect returned before the answer");
    echo_check(s, "slow");
    close(s);
    INFO("B blocking slow: ok");

    /* C/D/F. blocking failures: errno as TCP, the program's fd still open and still usable */
    int ports[3] = {1002, 1003, 1005}, errs[3] = {ECONNREFUSED, ECONNREFUSED, ECONNRESET};
    for (int i = 0; i < 3; i++) {
        s = tcp_socket(AF_INET);
        haddr_t a = haddr("127.0.0.1", ports[i]);
        CHECK_ERRNO(connect(s, SA(a)), errs[i]);
        CHECK(fd_is_open(s), "port %d: fd %d closed behind the program's back", ports[i], s);
        check_tcp_face(s, "after a failed blocking connect");
        haddr_t ok = haddr("127.0.0.1", 1000);
        CHECK(connect(s, SA(ok)) == 0, "connect again on the same fd after port %d", ports[i]);
        CHECK(read_full(s, buf, 8) == 8, "welcome");
        echo_check(s, "same fd, second try");
        close(s);
    }
    INFO("C/D/F blocking refused, malformed, truncated: ok");

    /* E. blocking, silent VMM: SO_SNDTIMEO bounds the handshake */
    s = tcp_socket(AF_INET);
    set_sndtimeo(s, 500);
    haddr_t a4 = haddr("127.0.0.1", 1004);
    t0 = now_ms();
    CHECK_ERRNO(connect(s, SA(a4)), ETIMEDOUT);
    CHECK(now_ms() - t0 < 3000, "the timeout took %ld ms", now_ms() - t0);
    CHECK(fd_is_open(s), "fd closed after a timeout");
    close(s);
    INFO("E blocking timeout: ok");

    /* G. non-blocking, slow answer, a poll already waiting when the answer comes */
    s = nb_socket();
    int fd_before = s;
    haddr_t a1 = haddr("127.0.0.1", 1001);
    t0 = now_ms();
    CHECK_ERRNO(connect(s, SA(a1)), EINPROGRESS);
    struct pollfd p0 = {s, POLLOUT | POLLIN, 0};
    CHECK(poll(&p0, 1, 0) == 0, "writable/readable before the answer (revents %#x)", p0.revents);
    CHECK(so_error(s) == 0, "SO_ERROR while connecting");
    CHECK_ERRNO(connect(s, SA(a1)), EALREADY);
    check_tcp_face(s, "while connecting");
    haddr_t none;
    none.len = sizeof none.ss;
    CHECK_ERRNO(getpeername(s, (struct sockaddr *)&none.ss, &none.len), ENOTCONN);
    short rev = wait_writable(s, 5000);
    CHECK(now_ms() - t0 >= 600, "writable after %ld ms, before the answer", now_ms() - t0);
    CHECK((rev & POLLOUT) && !(rev & (POLLERR | POLLHUP)), "revents %#x", rev);
    CHECK(so_error(s) == 0, "SO_ERROR after connecting");
    CHECK(s == fd_before && fd_nonblock(s), "fd number and O_NONBLOCK kept");
    pa = peer_name(s);
    CHECK_ADDR(pa, "127.0.0.1", 1001);
    int fl = fcntl(s, F_GETFL);
    fcntl(s, F_SETFL, fl & ~O_NONBLOCK);
    echo_check(s, "non-blocking slow");
    close(s);
    INFO("G non-blocking slow with a waiting poll: ok");

    /* H. non-blocking, epoll registered after EINPROGRESS, answer split in two segments */
    s = nb_socket();
    haddr_t a6 = haddr("127.0.0.1", 1006);
    CHECK_ERRNO(connect(s, SA(a6)), EINPROGRESS);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLOUT, .data.u64 = 42};
    CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev) == 0, "epoll_ctl ADD");
    long deadline = now_ms() + 5000;
    for (;;) {
        struct epoll_event got;
        int n = epoll_wait(ep, &got, 1, (int)(deadline - now_ms()));
        CHECK(n >= 0 && now_ms() < deadline, "epoll_wait never reported the connect");
        if (n == 1) {
            CHECK(got.data.u64 == 42, "epoll data %llu", (unsigned long long)got.data.u64);
            if (got.events & EPOLLOUT) break;
        }
    }
    CHECK(so_error(s) == 0, "SO_ERROR after epoll");
    fcntl(s, F_SETFL, fcntl(s, F_GETFL) & ~O_NONBLOCK);
    CHECK(read_full(s, buf, 2) == 2 && memcmp(buf, "HI", 2) == 0, "data after a split answer");
    echo_check(s, "epoll");
    close(s);
    close(ep);
    INFO("H non-blocking with epoll, split answer: ok");

    /* I. non-blocking, refused: SO_ERROR = ECONNREFUSED once, the fd stays valid and can
     * connect again */
    s = nb_socket();
    fd_before = s;
    haddr_t a2 = haddr("127.0.0.1", 1002);
    int r = connect(s, SA(a2));
    CHECK(r == -1 && (errno == EINPROGRESS || errno == ECONNREFUSED), "refused connect: %d", r);
    if (errno == EINPROGRESS) {
        rev = wait_writable(s, 5000);
        CHECK(rev & (POLLERR | POLLHUP), "refused: revents %#x", rev);
        CHECK(so_error(s) == ECONNREFUSED, "SO_ERROR after refusal");
        CHECK(so_error(s) == 0, "SO_ERROR is reported once");
    }
    CHECK(fd_is_open(s) && s == fd_before, "fd valid after a refused non-blocking connect");
    check_tcp_face(s, "after refusal");
    haddr_t a0 = haddr("127.0.0.1", 1000);
    r = connect(s, SA(a0));
    CHECK(r == 0 || errno == EINPROGRESS, "connect again after refusal");
    rev = wait_writable(s, 5000);
    CHECK(so_error(s) == 0 && (rev & POLLOUT), "second connect: SO_ERROR/revents %#x", rev);
    fcntl(s, F_SETFL, fcntl(s, F_GETFL) & ~O_NONBLOCK);
    CHECK(read_full(s, buf, 8) == 8 && memcmp(buf, "WELCOME\n", 8) == 0, "welcome");
    close(s);
    INFO("I non-blocking refused then reconnected: ok");

    /* J. non-blocking, silent VMM: ETIMEDOUT through SO_ERROR */
    s = nb_socket();
    set_sndtimeo(s, 500);
    CHECK_ERRNO(connect(s, SA(a4)), EINPROGRESS);
    rev = wait_writable(s, 5000);
    CHECK(so_error(s) == ETIMEDOUT, "SO_ERROR after a silent VMM");
    CHECK(fd_is_open(s), "fd open after timeout");
    close(s);
    INFO("J non-blocking timeout: ok");

    /* K. the program closes the fd while the handshake runs and reuses the number: the new
     * socket is never touched */
    s = nb_socket();
    CHECK_ERRNO(connect(s, SA(a1)), EINPROGRESS);
    close(s);
    int again = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(again == s, "fd number reused (%d vs %d)", again, s);
    sleep_ms(1000); /* the VMM answers after 700 ms */
    none.len = sizeof none.ss;
    CHECK_ERRNO(getpeername(again, (struct sockaddr *)&none.ss, &none.len), ENOTCONN);
    struct pollfd pk = {again, POLLIN, 0};
    CHECK(poll(&pk, 1, 0) == 1 && (pk.revents & POLLHUP), "a fresh TCP socket (revents %#x)",
          pk.revents);
    close(again);
    INFO("K close and reuse during the handshake: ok");
    return 0;
}
