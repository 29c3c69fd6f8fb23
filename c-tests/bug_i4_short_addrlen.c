/* ip2unix bug I4: getpeername/getsockname ignored the caller's *addrlen and
 * wrote a whole sockaddr past a short buffer.  On converted IPv6 sockets
 * (full size 28) a buffer of 8 bytes followed by canaries is used: only 8
 * bytes may change, they must be the prefix of the real address, and
 * *addrlen must come back as 28.  A sockaddr_in-sized buffer (16) too, the
 * classic mistake of code that assumes IPv4. */
#include "harness.h"

struct guarded {
    unsigned char addr[8];
    unsigned char canary[64];
};

static void check(int fd, int peer, socklen_t give, const char *what) {
    haddr_t full = peer ? peer_name(fd) : sock_name(fd);
    CHECK(full.len == sizeof(struct sockaddr_in6), "%s: full length %u", what, (unsigned)full.len);
    unsigned char buf[sizeof(struct guarded) + 32];
    memset(buf, 0xA5, sizeof buf);
    socklen_t l = give;
    int r = peer ? getpeername(fd, (struct sockaddr *)buf, &l) : getsockname(fd, (struct sockaddr *)buf, &l);
    CHECK(r == 0, "%s", what);
    CHECK(l == sizeof(struct sockaddr_in6), "%s: *addrlen %u, expected 28", what, (unsigned)l);
    CHECK(memcmp(buf, &full.ss, give) == 0, "%s: first %u bytes are not the address prefix", what,
          (unsigned)give);
    for (size_t i = give; i < sizeof buf; i++)
        CHECK(buf[i] == 0xA5, "%s: wrote byte %zu past a %u-byte buffer", what, i, (unsigned)give);
}

int main(void) {
    harness_preload("in,port=8701,path={D}/%p.sock;out,port=8701,path={D}/%p.sock");
    int l = tcp_listen("::1", 8701);
    CHECK(is_socket_file(tpath("8701.sock")), "not converted (dir: %s)", list_dir(h_dir));
    int c = tcp_connect_ok("::1", 8701);
    int a = accept(l, NULL, NULL);
    CHECK(a >= 0, "accept");
    socklen_t sizes[] = {8, 16};
    for (int i = 0; i < 2; i++) {
        check(l, 0, sizes[i], "listener getsockname");
        check(c, 0, sizes[i], "client getsockname");
        check(c, 1, sizes[i], "client getpeername");
        check(a, 0, sizes[i], "accepted getsockname");
        check(a, 1, sizes[i], "accepted getpeername");
    }
    return 0;
}
