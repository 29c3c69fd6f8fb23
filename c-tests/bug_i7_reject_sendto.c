/* ip2unix bug I7: reject rules were applied to connect() only; a datagram
 * program that never connects (sendto/sendmsg with a destination) slipped
 * through and its datagrams went out over real UDP.  Here reject=ECONNREFUSED
 * (by name), reject=113 (EHOSTUNREACH by number) and plain reject (EACCES) must
 * fail sendto and sendmsg, from a fresh socket and from one that already sent
 * elsewhere, over IPv4 and IPv6; nothing may reach the real UDP socket bound
 * on the rejected port, and the socket stays usable for other addresses. */
#include "harness.h"
#include "dgram.h"

static ssize_t send_msg(int fd, const char *ip, int port) {
    haddr_t a = haddr(ip, port);
    struct iovec v = {"rejected?", 9};
    struct msghdr m = {.msg_name = &a.ss, .msg_namelen = a.len, .msg_iov = &v, .msg_iovlen = 1};
    return sendmsg(fd, &m, 0);
}

static ssize_t send_to(int fd, const char *ip, int port) {
    haddr_t a = haddr(ip, port);
    return sendto(fd, "rejected?", 9, 0, SA(a));
}

/* A UDP port free on both 127.0.0.1 and ::1 (picked before the shim is loaded). */
static int free_udp_port(void) {
    for (int tries = 0; tries < 100; tries++) {
        int a = socket(AF_INET, SOCK_DGRAM, 0);
        haddr_t z = haddr("127.0.0.1", 0);
        CHECK(bind(a, SA(z)) == 0, "bind 127.0.0.1:0");
        haddr_t n = sock_name(a);
        int p = sa_port((struct sockaddr *)&n.ss);
        int b = socket(AF_INET6, SOCK_DGRAM, 0);
        haddr_t z6 = haddr("::1", p);
        int ok = bind(b, SA(z6)) == 0;
        close(a);
        close(b);
        if (ok) return p;
    }
    CHECK(0, "no UDP port free on both 127.0.0.1 and ::1");
    return -1;
}

int main(void) {
    char rules[256] = "", ports[64] = "";
    if (!getenv("SOCKSWAP_TEST_CHILD")) {
        int p[3] = {free_udp_port(), free_udp_port(), free_udp_port()};
        snprintf(rules, sizeof rules, "out,udp,port=%d,reject=ECONNREFUSED;out,udp,port=%d,reject=113;"
                 "out,udp,port=%d,reject", p[0], p[1], p[2]);
        snprintf(ports, sizeof ports, "I7_PORTS=%d,%d,%d", p[0], p[1], p[2]);
    }
    harness_preload_env(rules, ports, (const char *)NULL);
    int port[3];
    CHECK(sscanf(getenv("I7_PORTS"), "%d,%d,%d", &port[0], &port[1], &port[2]) == 3, "I7_PORTS");
    /* real UDP sinks on the rejected ports: anything arriving there is a leak */
    int sink4[3], sink6[3];
    for (int i = 0; i < 3; i++) {
        sink4[i] = udp_bind("127.0.0.1", port[i]);
        sink6[i] = udp_bind("::1", port[i]);
        CHECK(sockopt_int(sink4[i], SOL_SOCKET, SO_DOMAIN) == AF_INET, "sink should be a real UDP socket");
    }
    struct { int port, err; } cases[] = {{port[0], ECONNREFUSED}, {port[1], EHOSTUNREACH}, {port[2], EACCES}};
    const char *ips[] = {"127.0.0.1", "::1"};
    for (int k = 0; k < 3; k++)
        for (int f = 0; f < 2; f++) {
            int c = udp_socket(ip_family(ips[f]));
            CHECK_ERRNO(send_to(c, ips[f], cases[k].port), cases[k].err);
            CHECK_ERRNO(send_msg(c, ips[f], cases[k].port), cases[k].err);
            close(c);
            c = udp_socket(ip_family(ips[f]));
            CHECK_ERRNO(send_msg(c, ips[f], cases[k].port), cases[k].err);
            haddr_t a = haddr(ips[f], cases[k].port);
            CHECK_ERRNO(connect(c, SA(a)), cases[k].err);
            close(c);
        }

    /* a socket that already sent to an uncovered address (real UDP) is still checked */
    int okr = udp_bind("127.0.0.1", 0);
    haddr_t okn = sock_name(okr);
    int okp = sa_port((struct sockaddr *)&okn.ss);
    int c = udp_socket(AF_INET);
    udp_send_to(c, "127.0.0.1", okp, "allowed");
    udp_expect(okr, "allowed", NULL);
    CHECK_ERRNO(send_to(c, "127.0.0.1", port[0]), ECONNREFUSED);
    CHECK_ERRNO(send_msg(c, "127.0.0.1", port[1]), EHOSTUNREACH);
    /* and keeps working after the rejections */
    udp_send_to(c, "127.0.0.1", okp, "still allowed");
    udp_expect(okr, "still allowed", NULL);
    close(c);

    for (int i = 0; i < 3; i++)
        CHECK(!wait_readable(sink4[i], 0) && !wait_readable(sink6[i], 0),
              "a rejected datagram reached the real UDP port %d", port[i]);
    CHECK(count_dir(h_dir) == 0, "files created: %s", list_dir(h_dir));
    return 0;
}
