/* systemd socket activation of a datagram server (systemd-socket-activate -d).
 *  (a) a Unix datagram socket passed to a program binding UDP 127.0.0.1:8480
 *      (rule `in,udp,...,systemd`): bind takes it, getsockname reports
 *      127.0.0.1:8480, SO_TYPE/SO_PROTOCOL say UDP, senders (native AF_UNIX
 *      datagram clients of the driver) are reported as 127.0.0.1 with a
 *      port 61000-65095, and replies by sendto, and by a fresh socket
 *      connect()ed to the reported address, reach them.  The program's
 *      SOCK_NONBLOCK|SOCK_CLOEXEC hold on the socket it got.
 *  (b) a real UDP socket (-d -l 127.0.0.1:P) passed to an AF_INET program
 *      binding 0.0.0.0:8481 stays real: getsockname tells 127.0.0.1:P. */
#include "harness.h"
#include "dgram.h"
#include "sd.h"

static void server(const char *role) {
    sd_server_setup();
    int unix_role = strcmp(role, "unix") == 0;
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    CHECK(s >= 0, "socket");
    haddr_t a = unix_role ? haddr("127.0.0.1", 8480) : haddr("0.0.0.0", 8481);
    CHECK(bind(s, SA(a)) == 0, "server: UDP bind with a systemd rule");
    haddr_t n = sock_name(s);
    if (unix_role) {
        CHECK_ADDR(n, "127.0.0.1", 8480);
    } else {
        CHECK_ADDR(n, "127.0.0.1", atoi(getenv("SD_EXPECT_PORT")));
    }
    CHECK(sockopt_int(s, SOL_SOCKET, SO_TYPE) == SOCK_DGRAM, "server: SO_TYPE");
    CHECK(sockopt_int(s, SOL_SOCKET, SO_DOMAIN) == AF_INET, "server: SO_DOMAIN");
    CHECK(sockopt_int(s, SOL_SOCKET, SO_PROTOCOL) == IPPROTO_UDP, "server: SO_PROTOCOL");
    CHECK(fd_nonblock(s) && fd_cloexec(s), "server: SOCK_NONBLOCK/SOCK_CLOEXEC lost when the passed socket was taken");
    for (;;) {
        char buf[256];
        haddr_t from;
        ssize_t r = udp_recv(s, buf, sizeof buf - 1, &from);
        buf[r] = 0;
        if (strcmp(buf, "quit") == 0) break;
        if (unix_role)
            CHECK(is_synthetic_peer(&from, "127.0.0.1"), "server: sender reported as %s (len %u)",
                  sa_str((struct sockaddr *)&from.ss), (unsigned)from.len);
        else
            CHECK(from.ss.ss_family == AF_INET, "server: sender %s", sa_str((struct sockaddr *)&from.ss));
        upcase(buf, (size_t)r);
        udp_send_back(s, &from, buf, (size_t)r);
        /* and once more from a fresh socket connected to the reported address */
        int f = udp_socket(AF_INET);
        CHECK(connect(f, (struct sockaddr *)&from.ss, from.len) == 0, "server: connect back to %s",
              sa_str((struct sockaddr *)&from.ss));
        CHECK(send(f, "BACK", 4, 0) == 4, "server: send on the connected fresh socket");
        close(f);
    }
    exit(0);
}

static void exchange(int c, const struct sockaddr *to, socklen_t tl, const char *msg) {
    CHECK(sendto(c, msg, strlen(msg), 0, to, tl) == (ssize_t)strlen(msg), "driver sendto");
    char *want = upcased(msg);
    udp_expect(c, want, NULL);
    udp_expect(c, "BACK", NULL);
}

int main(void) {
    if (sd_role()) server(sd_role());
    sd_driver_setup();

    /* (a) */
    const char *ua[] = {"-d", "-l", "{D}/dg.sock", NULL};
    pid_t sa = sd_launch("unix", "in,udp,port=8480,systemd", ua, NULL);
    char *sock = tpath("dg.sock");
    sd_wait_socket(sock, sa);
    struct sockaddr_un su;
    socklen_t sl = unix_addr(&su, sock);
    int c1 = unix_dgram_bind(tpath("c1.sock"));
    int c2 = socket(AF_UNIX, SOCK_DGRAM, 0);
    struct sockaddr_un au = {.sun_family = AF_UNIX}; /* autobind: an abstract name */
    CHECK(bind(c2, (struct sockaddr *)&au, sizeof(sa_family_t)) == 0, "autobind");
    exchange(c1, (struct sockaddr *)&su, sl, "first datagram");
    exchange(c2, (struct sockaddr *)&su, sl, "from an abstract sender");
    exchange(c1, (struct sockaddr *)&su, sl, "third");
    CHECK(sendto(c1, "quit", 4, 0, (struct sockaddr *)&su, sl) == 4, "send quit");
    sd_expect_server_ok(sa);

    /* (b) */
    int probe = udp_bind("127.0.0.1", 0);
    haddr_t pn = sock_name(probe);
    int port = sa_port((struct sockaddr *)&pn.ss);
    close(probe);
    char lst[64], env[64];
    snprintf(lst, sizeof lst, "127.0.0.1:%d", port);
    snprintf(env, sizeof env, "SD_EXPECT_PORT=%d", port);
    const char *ta[] = {"-d", "-l", lst, NULL};
    const char *te[] = {env, NULL};
    sa = sd_launch("udp", "in,udp,port=8481,systemd", ta, te);
    /* wait until systemd-socket-activate has bound the port (a real UDP socket) */
    for (long dl = now_ms() + 10000; !real_udp_port_bound(port); poll(NULL, 0, 10))
        CHECK(now_ms() < dl, "UDP port %d never bound", port);
    int c = udp_bind("127.0.0.1", 0);
    haddr_t to = haddr("127.0.0.1", port);
    exchange(c, SA(to), "over real udp");
    CHECK(sendto(c, "quit", 4, 0, SA(to)) == 4, "send quit");
    sd_expect_server_ok(sa);
    return 0;
}
