/* sendmmsg/recvmmsg on datagram sockets under rules (glibc's resolver, QUIC
 * stacks and high-rate UDP servers batch their datagrams this way).
 *  - sendmmsg of 3 datagrams to a covered address from a fresh socket must
 *    reach the converted server (not leave over real UDP), converting the
 *    socket as sendto would, and a reject rule must fail it like sendto;
 *  - recvmmsg on the converted server must report each sender as an IP
 *    address of the socket's family (msg_namelen = sizeof(sockaddr_in)),
 *    and sendmmsg back to those addresses must reach the client. */
#include "harness.h"
#include "dgram.h"

int main(void) {
    harness_preload("udp,addr=127.0.0.1,port=7301,path={D}/%p.sock;out,udp,port=7302,reject=ECONNREFUSED");
    int s = udp_bind("127.0.0.1", 7301);
    CHECK(is_socket_file(tpath("7301.sock")), "not converted (dir: %s)", list_dir(h_dir));

    int c = udp_socket(AF_INET);
    haddr_t dst = haddr("127.0.0.1", 7301);
    const char *msgs[3] = {"batch one", "batch two", "batch three"};
    struct iovec v[3];
    struct mmsghdr mh[3];
    memset(mh, 0, sizeof mh);
    for (int i = 0; i < 3; i++) {
        v[i].iov_base = (void *)msgs[i];
        v[i].iov_len = strlen(msgs[i]);
        mh[i].msg_hdr.msg_name = &dst.ss;
        mh[i].msg_hdr.msg_namelen = dst.len;
        mh[i].msg_hdr.msg_iov = &v[i];
        mh[i].msg_hdr.msg_iovlen = 1;
    }
    int r = sendmmsg(c, mh, 3, 0);
    CHECK(r == 3, "sendmmsg returned %d", r);
    CHECK(wait_readable(s, 2000), "sendmmsg to a covered address never reached the converted server "
                                  "(sent over real UDP?)");

    char bufs[3][64];
    struct sockaddr_storage from[3];
    struct iovec rv[3];
    struct mmsghdr rm[3];
    memset(rm, 0, sizeof rm);
    for (int i = 0; i < 3; i++) {
        rv[i].iov_base = bufs[i];
        rv[i].iov_len = sizeof bufs[i];
        rm[i].msg_hdr.msg_name = &from[i];
        rm[i].msg_hdr.msg_namelen = sizeof from[i];
        rm[i].msg_hdr.msg_iov = &rv[i];
        rm[i].msg_hdr.msg_iovlen = 1;
    }
    int got = 0;
    while (got < 3) {
        CHECK(wait_readable(s, 5000), "only %d of 3 datagrams arrived", got);
        r = recvmmsg(s, rm + got, 3 - got, 0, NULL);
        CHECK(r > 0, "recvmmsg");
        got += r;
    }
    for (int i = 0; i < 3; i++) {
        CHECK(rm[i].msg_len == strlen(msgs[i]) && memcmp(bufs[i], msgs[i], rm[i].msg_len) == 0,
              "datagram %d: %u bytes '%.*s'", i, rm[i].msg_len, (int)rm[i].msg_len, bufs[i]);
        haddr_t p = {.ss = from[i], .len = rm[i].msg_hdr.msg_namelen};
        CHECK(is_synthetic_peer(&p, "127.0.0.1"), "recvmmsg reported sender %d as %s (family %d, len %u)", i,
              sa_str((struct sockaddr *)&from[i]), from[i].ss_family, (unsigned)p.len);
    }

    /* answer all three with one sendmmsg to the reported addresses */
    struct iovec av[3];
    struct mmsghdr am[3];
    memset(am, 0, sizeof am);
    for (int i = 0; i < 3; i++) {
        av[i].iov_base = "ANSWER";
        av[i].iov_len = 6;
        am[i].msg_hdr.msg_name = &from[i];
        am[i].msg_hdr.msg_namelen = rm[i].msg_hdr.msg_namelen;
        am[i].msg_hdr.msg_iov = &av[i];
        am[i].msg_hdr.msg_iovlen = 1;
    }
    r = sendmmsg(s, am, 3, 0);
    CHECK(r == 3, "server sendmmsg to the reported senders returned %d", r);
    for (int i = 0; i < 3; i++) {
        haddr_t sf;
        udp_expect(c, "ANSWER", &sf);
        CHECK_ADDR(sf, "127.0.0.1", 7301);
    }

    /* reject rules apply to sendmmsg too (ip2unix bug I7, batched) */
    int rj = udp_socket(AF_INET);
    haddr_t rd = haddr("127.0.0.1", 7302);
    mh[0].msg_hdr.msg_name = &rd.ss;
    mh[0].msg_hdr.msg_namelen = rd.len;
    CHECK_ERRNO(sendmmsg(rj, mh, 1, 0), ECONNREFUSED);
    return 0;
}
