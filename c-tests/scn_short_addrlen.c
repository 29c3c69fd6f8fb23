/* ip2unix scenario (and bug I4): short *addrlen on accept, getsockname and
 * getpeername of converted sockets.  The kernel's contract: copy at most
 * *addrlen bytes (a prefix of the full address), set *addrlen to the full
 * size, never write past the buffer.  Canary bytes after the short buffer
 * catch overruns; lengths 0, 2, 6 and 16 (IPv6) are tried. */
#include "harness.h"

#define CANARY 0xA5

static void check_call(int which, int fd, socklen_t give, const haddr_t *full, const char *what) {
    unsigned char buf[128];
    memset(buf, CANARY, sizeof buf);
    socklen_t l = give;
    int r;
    if (which == 0) r = accept(fd, (struct sockaddr *)buf, &l);
    else if (which == 1) r = getsockname(fd, (struct sockaddr *)buf, &l);
    else r = getpeername(fd, (struct sockaddr *)buf, &l);
    CHECK(r >= 0, "%s with addrlen %u", what, (unsigned)give);
    if (which == 0) {
        /* for accept, compare with getpeername of the accepted socket */
        haddr_t p = peer_name(r);
        CHECK(l == p.len, "%s: *addrlen %u, expected the full size %u", what, (unsigned)l, (unsigned)p.len);
        CHECK(memcmp(buf, &p.ss, give) == 0, "%s: truncated address is not a prefix of the real one", what);
        close(r);
    } else {
        CHECK(l == full->len, "%s: *addrlen %u, expected the full size %u", what, (unsigned)l,
              (unsigned)full->len);
        CHECK(memcmp(buf, &full->ss, give) == 0, "%s: truncated address is not a prefix of the real one",
              what);
    }
    for (size_t i = give; i < sizeof buf; i++)
        CHECK(buf[i] == CANARY, "%s with addrlen %u: byte %zu past the buffer was overwritten", what,
              (unsigned)give, i);
}

int main(void) {
    harness_preload("in,port=7601-7602,path={D}/%p.sock;out,port=7601-7602,path={D}/%p.sock");
    const char *ips[] = {"127.0.0.1", "::1"};
    for (int i = 0; i < 2; i++) {
        int port = 7601 + i;
        int l = tcp_listen(ips[i], port);
        CHECK(is_socket_file(tpath("%d.sock", port)), "not converted (dir: %s)", list_dir(h_dir));
        socklen_t lens[] = {0, 2, 6, 16};
        for (int k = 0; k < 4; k++) {
            char what[64];
            int c = tcp_connect_ok(ips[i], port);
            haddr_t ln = sock_name(l), cn = sock_name(c), cp = peer_name(c);
            snprintf(what, sizeof what, "%s accept", ips[i]);
            check_call(0, l, lens[k], NULL, what);
            snprintf(what, sizeof what, "%s listener getsockname", ips[i]);
            check_call(1, l, lens[k], &ln, what);
            snprintf(what, sizeof what, "%s client getsockname", ips[i]);
            check_call(1, c, lens[k], &cn, what);
            snprintf(what, sizeof what, "%s client getpeername", ips[i]);
            check_call(2, c, lens[k], &cp, what);
            close(c);
        }
        close(l);
    }
    return 0;
}
