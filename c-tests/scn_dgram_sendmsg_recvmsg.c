/* ip2unix scenario: datagrams through sendmsg/recvmsg, IPv4 and IPv6.  The
 * client's sendmsg (msg_name = the server's IP address, the payload split
 * over three iovecs, from a socket never bound) is converted by the out rule;
 * the server's recvmsg scatters it over two iovecs and reports the sender in
 * msg_name as a loopback address of its own family with the right
 * msg_namelen; the reply is a sendmsg to that msg_name, and the client's
 * recvmsg reports the server's IP address.  A too-small buffer gives
 * MSG_TRUNC, and sendmsg without msg_name works on a connected socket. */
#include "harness.h"
#include "dgram.h"

static void scenario(const char *ip, int port) {
    int s = udp_bind(ip, port);
    CHECK(is_socket_file(tpath("%d.sock", port)), "not converted (dir: %s)", list_dir(h_dir));
    int c = udp_socket(ip_family(ip));
    haddr_t dst = haddr(ip, port);

    struct iovec out[3] = {{"abc", 3}, {"defgh", 5}, {"ij", 2}};
    struct msghdr m = {.msg_name = &dst.ss, .msg_namelen = dst.len, .msg_iov = out, .msg_iovlen = 3};
    CHECK(sendmsg(c, &m, 0) == 10, "client sendmsg to %s", sa_str((struct sockaddr *)&dst.ss));

    char a[4] = {0}, b[16] = {0};
    struct iovec in[2] = {{a, sizeof a}, {b, sizeof b}};
    struct sockaddr_storage from;
    memset(&from, 0xa5, sizeof from);
    struct msghdr r = {.msg_name = &from, .msg_namelen = sizeof from, .msg_iov = in, .msg_iovlen = 2};
    CHECK(wait_readable(s, 5000), "server got nothing");
    ssize_t n = recvmsg(s, &r, 0);
    CHECK(n == 10 && memcmp(a, "abcd", 4) == 0 && memcmp(b, "efghij", 6) == 0,
          "server recvmsg: %zd bytes '%.4s' '%.6s'", n, a, b);
    CHECK(!(r.msg_flags & MSG_TRUNC), "MSG_TRUNC on a datagram that fitted");
    haddr_t peer = {.ss = from, .len = r.msg_namelen};
    CHECK(is_synthetic_peer(&peer, ip), "server recvmsg msg_name %s (len %u): expected %s with port 61000-65095",
          sa_str((struct sockaddr *)&from), (unsigned)r.msg_namelen, ip);

    /* reply with sendmsg to the reported msg_name */
    struct iovec rep[2] = {{"ABCDE", 5}, {"FGHIJ", 5}};
    struct msghdr rm = {.msg_name = &from, .msg_namelen = r.msg_namelen, .msg_iov = rep, .msg_iovlen = 2};
    CHECK(sendmsg(s, &rm, 0) == 10, "server sendmsg to %s", sa_str((struct sockaddr *)&from));

    char buf[64] = {0};
    struct iovec cin = {buf, sizeof buf};
    struct sockaddr_storage sfrom;
    struct msghdr cr = {.msg_name = &sfrom, .msg_namelen = sizeof sfrom, .msg_iov = &cin, .msg_iovlen = 1};
    CHECK(wait_readable(c, 5000), "client got no reply");
    n = recvmsg(c, &cr, 0);
    CHECK(n == 10 && memcmp(buf, "ABCDEFGHIJ", 10) == 0, "client recvmsg: %zd '%.10s'", n, buf);
    haddr_t sp = {.ss = sfrom, .len = cr.msg_namelen};
    CHECK_ADDR(sp, ip, port);

    /* truncation: a 10-byte datagram into a 4-byte buffer */
    udp_send_back(s, &peer, "0123456789", 10);
    char small[4];
    struct iovec sv = {small, sizeof small};
    struct msghdr tm = {.msg_iov = &sv, .msg_iovlen = 1};
    CHECK(wait_readable(c, 5000), "client got no second reply");
    n = recvmsg(c, &tm, 0);
    CHECK(n == 4 && memcmp(small, "0123", 4) == 0, "truncated recvmsg returned %zd", n);
    CHECK(tm.msg_flags & MSG_TRUNC, "MSG_TRUNC not set (msg_flags %#x)", tm.msg_flags);

    /* connected socket: sendmsg without msg_name */
    CHECK(connect(c, SA(dst)) == 0, "connect to %s", sa_str((struct sockaddr *)&dst.ss));
    struct iovec one = {"connected", 9};
    struct msghdr cm = {.msg_iov = &one, .msg_iovlen = 1};
    CHECK(sendmsg(c, &cm, 0) == 9, "sendmsg on the connected socket");
    udp_expect(s, "connected", NULL);
    close(c);
    close(s);
}

int main(void) {
    harness_preload("udp,addr=127.0.0.1,port=6501,path={D}/%p.sock;"
                    "udp,addr=::1,port=6502,path={D}/%p.sock");
    scenario("127.0.0.1", 6501);
    scenario("::1", 6502);
    return 0;
}
