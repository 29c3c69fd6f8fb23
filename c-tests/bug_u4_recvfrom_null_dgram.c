/* unsock bug U4, datagram sockets: recvfrom(fd, buf, n, 0, NULL, NULL) failed
 * with EFAULT after consuming the data.  It must return the data on a
 * converted datagram server, on a converted client (converted by its
 * sendto), and on real (uncovered) UDP sockets; recvmsg with msg_name NULL
 * too (msg_namelen 0 or not: the kernel ignores it); and a later recvfrom with an address still reports it. */
#include "harness.h"
#include "dgram.h"

static void check_null_recv(int fd, const char *msg, const char *what) {
    char buf[64] = {0};
    CHECK(wait_readable(fd, 5000), "%s: nothing to read", what);
    ssize_t n = recvfrom(fd, buf, sizeof buf, 0, NULL, NULL);
    CHECK(n == (ssize_t)strlen(msg) && memcmp(buf, msg, n) == 0,
          "%s: recvfrom(..., NULL, NULL) returned %zd '%.*s'", what, n, n > 0 ? (int)n : 0, buf);
}

static void check_null_recvmsg(int fd, const char *msg, socklen_t namelen, const char *what) {
    char buf[64] = {0};
    struct iovec v = {buf, sizeof buf};
    struct msghdr m = {.msg_name = NULL, .msg_namelen = namelen, .msg_iov = &v, .msg_iovlen = 1};
    CHECK(wait_readable(fd, 5000), "%s: nothing to read", what);
    ssize_t n = recvmsg(fd, &m, 0);
    CHECK(n == (ssize_t)strlen(msg) && memcmp(buf, msg, n) == 0,
          "%s: recvmsg(msg_name NULL, msg_namelen %u) returned %zd '%.*s'", what, (unsigned)namelen, n, n > 0 ? (int)n : 0, buf);
}

/* server s (bound at ip:port as the program sees it), client c */
static void pair(int s, int c, const char *ip, int port, const char *what) {
    char w[96];
    udp_send_to(c, ip, port, "one");
    snprintf(w, sizeof w, "%s server", what);
    check_null_recv(s, "one", w);
    udp_send_to(c, ip, port, "two");
    check_null_recvmsg(s, "two", 0, w);
    udp_send_to(c, ip, port, "two-b");
    check_null_recvmsg(s, "two-b", sizeof(struct sockaddr_in6), w);
    udp_send_to(c, ip, port, "three");
    haddr_t from;
    udp_expect(s, "three", &from); /* an address is still reported afterwards */
    udp_send_back(s, &from, "back1", 5);
    snprintf(w, sizeof w, "%s client", what);
    check_null_recv(c, "back1", w);
    udp_send_back(s, &from, "back2", 5);
    check_null_recvmsg(c, "back2", 0, w);
    udp_send_back(s, &from, "back2-b", 7);
    check_null_recvmsg(c, "back2-b", sizeof(struct sockaddr_in6), w);
    udp_send_back(s, &from, "back3", 5);
    haddr_t sf;
    udp_expect(c, "back3", &sf);
    CHECK_ADDR(sf, ip, port);
}

int main(void) {
    harness_preload("udp,addr=127.0.0.1,port=6901,path={D}/%p.sock;udp,addr=::1,port=6902,path={D}/%p.sock");
    int s = udp_bind("127.0.0.1", 6901);
    CHECK(is_socket_file(tpath("6901.sock")), "not converted (dir: %s)", list_dir(h_dir));
    int c = udp_socket(AF_INET);
    pair(s, c, "127.0.0.1", 6901, "converted IPv4");
    int s6 = udp_bind("::1", 6902);
    int c6 = udp_socket(AF_INET6);
    pair(s6, c6, "::1", 6902, "converted IPv6");

    /* uncovered address: real UDP sockets */
    int rs = udp_bind("127.0.0.1", 0);
    CHECK(sockopt_int(rs, SOL_SOCKET, SO_DOMAIN) == AF_INET, "127.0.0.1:0 should not be covered");
    haddr_t rn = sock_name(rs);
    int rc = udp_socket(AF_INET);
    pair(rs, rc, "127.0.0.1", sa_port((struct sockaddr *)&rn.ss), "real UDP");
    return 0;
}
