/* Issue 10: getsockopt and ioctl on a converted socket answer exactly as the
 * kernel answers on a real TCP/UDP socket of the same family in the same
 * state.  Every option of SOL_SOCKET 1..80, IPPROTO_IP 1..81 (SO_ORIGINAL_DST
 * is 80), IPPROTO_IPV6 1..81 and IPPROTO_TCP 1..45 is asked, with buffers of 256, 4, 1 and 0 bytes,
 * on a native socket (a loopback port no rule covers) and on a converted one,
 * for every role: stream bound, listener, client, accepted; datagram bound,
 * connected; IPv4 and IPv6.  Return value, errno and returned length must be
 * identical, and so must the value, except where the kernel itself gives two
 * real sockets different values (each exclusion below says why).  Then a set
 * of options is set on both and must read back the same, and FIONREAD /
 * SIOCOUTQ / SIOCOUTQNSD must agree with data queued. */
#include "harness.h"
#include "dgram.h"
#include <linux/sockios.h>

#ifndef SO_MEMINFO
#define SO_MEMINFO 55
#endif
#ifndef SO_INCOMING_CPU
#define SO_INCOMING_CPU 49
#endif
#ifndef SO_COOKIE
#define SO_COOKIE 57
#endif
#define IP_PROTOCOL_ 52 /* linux/in.h IP_PROTOCOL; older libc headers lack it */
#ifndef TCP_CC_INFO
#define TCP_CC_INFO 26
#endif

static int diffs;
/* Set once options were changed: see route_dropped(). */
static int after_set;

static int local_port(int fd) {
    struct sockaddr_storage ss;
    socklen_t l = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &l) != 0) return -1;
    return sa_port((struct sockaddr *)&ss);
}

/* Changing IP_TOS / IPV6_TCLASS drops a real socket's cached route, and until
 * its next packet IP_MTU, IPV6_MTU and IPV6_PATHMTU answer ENOTCONN; a
 * converted socket has no route to drop.  (Kernel state, not a value: the
 * only rc exclusion, and only after the set pass.) */
static int route_dropped(int level, int name) {
    return after_set && ((level == IPPROTO_IP && name == IP_MTU) ||
                         (level == IPPROTO_IPV6 && (name == IPV6_MTU || name == IPV6_PATHMTU)));
}

/* Values the kernel varies between two real sockets in the same state. */
static const char *value_exclusion(int level, int name) {
    if (level == SOL_SOCKET) {
        switch (name) {
        case SO_SNDBUF:
        case SO_RCVBUF: return "buffer sizes: TCP autotunes them per connection";
        case SO_COOKIE: return "a unique number per socket";
        case SO_MEMINFO: return "memory counters of this socket's queues";
        case SO_INCOMING_CPU: return "the CPU that last handled the socket";
        case SO_PEERNAME: return "compared without the port (each connection has its own)";
        }
    }
    if (level == IPPROTO_TCP && name == TCP_INFO)
        return "counters and timings (only tcpi_state is compared)";
    if (level == IPPROTO_TCP && name == TCP_CC_INFO)
        return "the congestion control's running estimates";
    if (level == IPPROTO_TCP && name == TCP_TIMESTAMP)
        return "the connection's TCP timestamp clock, now";
    if (level == IPPROTO_IP && name == IP_PROTOCOL_)
        return "inet_num, the local port: compared with each socket's own getsockname port";
    return NULL;
}

/* For values excluded above, the part that must still be equal. */
static int partial_equal(int level, int name, const unsigned char *a, const unsigned char *b,
                         socklen_t len) {
    if (level == IPPROTO_TCP && name == TCP_INFO) return len < 1 || a[0] == b[0];
    if (level == SOL_SOCKET && name == SO_PEERNAME) {
        /* family, then (after the port) the address */
        for (socklen_t i = 0; i < len; i++)
            if ((i < 2 || i >= 4) && a[i] != b[i]) return 0;
        return 1;
    }
    return 1;
}

static void hex(char *out, const unsigned char *v, socklen_t n) {
    out[0] = 0;
    for (socklen_t i = 0; i < n && i < 24; i++) sprintf(out + 2 * i, "%02x", v[i]);
}

static void compare_one(const char *role, int nat, int conv, int level, int name, socklen_t cap,
                        int values) {
    unsigned char vn[256], vc[256];
    memset(vn, 0xAA, sizeof vn);
    memset(vc, 0xAA, sizeof vc);
    socklen_t ln = cap, lc = cap;
    errno = 0;
    int rn = getsockopt(nat, level, name, vn, &ln);
    int en = rn < 0 ? errno : 0;
    errno = 0;
    int rc = getsockopt(conv, level, name, vc, &lc);
    int ec = rc < 0 ? errno : 0;
    int same = rn == rc && en == ec && ln == lc;
    const char *why = "";
    if (!same && route_dropped(level, name)) return;
    if (same && rn == 0 && level == IPPROTO_IP && name == IP_PROTOCOL_ && ln >= 1) {
        int want_n = local_port(nat), want_c = local_port(conv), got_n = 0, got_c = 0;
        memcpy(&got_n, vn, ln < 4 ? ln : 4);
        memcpy(&got_c, vc, lc < 4 ? lc : 4);
        int mask = ln >= 4 ? -1 : 0xff;
        if ((got_n & mask) != (want_n & mask) || (got_c & mask) != (want_c & mask)) {
            printf("  DIFF %s IP_PROTOCOL buffer %u: native %d (port %d), converted %d (port %d)\n",
                   role, (unsigned)cap, got_n, want_n, got_c, want_c);
            diffs++;
        }
        return;
    }
    if (same && rn == 0 && values) {
        const char *ex = value_exclusion(level, name);
        same = ex ? partial_equal(level, name, vn, vc, ln) : memcmp(vn, vc, ln) == 0;
        why = " (value)";
    }
    if (!same) {
        char hn[64], hc[64];
        hex(hn, vn, rn == 0 ? ln : 0);
        hex(hc, vc, rc == 0 ? lc : 0);
        if (diffs < 100)
            printf("  DIFF%s %s level %d option %d buffer %u: native %d/%s len %u [%s], "
                   "converted %d/%s len %u [%s]\n",
                   why, role, level, name, (unsigned)cap, rn, en ? strerrorname_np(en) : "0",
                   (unsigned)ln, hn, rc, ec ? strerrorname_np(ec) : "0", (unsigned)lc, hc);
        diffs++;
    }
}

static void compare_all(const char *role, int nat, int conv) {
    static const struct { int level, max; } levels[] = {
        {SOL_SOCKET, 80}, {IPPROTO_IP, 81}, {IPPROTO_IPV6, 81}, {IPPROTO_TCP, 45}};
    static const socklen_t caps[] = {256, 4, 1, 0};
    for (unsigned l = 0; l < 4; l++)
        for (int name = 1; name <= levels[l].max; name++)
            for (unsigned c = 0; c < 4; c++)
                compare_one(role, nat, conv, levels[l].level, name, caps[c], 1);
}

/* Options a program commonly sets; they must read back the same on both. */
static void set_and_compare(const char *role, int nat, int conv, int family, int stream) {
    struct { int level, name, value, stream_only, family; } opts[] = {
        {SOL_SOCKET, SO_KEEPALIVE, 1, 0, 0},
        {SOL_SOCKET, SO_RCVBUF, 65536, 0, 0},
        {SOL_SOCKET, SO_SNDBUF, 65536, 0, 0},
        {SOL_SOCKET, SO_PRIORITY, 3, 0, 0},
        {IPPROTO_TCP, TCP_NODELAY, 1, 1, 0},
        {IPPROTO_TCP, TCP_KEEPIDLE, 30, 1, 0},
        {IPPROTO_TCP, TCP_KEEPINTVL, 5, 1, 0},
        {IPPROTO_TCP, TCP_KEEPCNT, 3, 1, 0},
        {IPPROTO_TCP, TCP_USER_TIMEOUT, 10000, 1, 0},
        {IPPROTO_IP, IP_TOS, 0x10, 0, AF_INET},
        {IPPROTO_IP, IP_TTL, 32, 0, AF_INET},
        {IPPROTO_IPV6, IPV6_TCLASS, 0x20, 0, AF_INET6},
        {IPPROTO_IPV6, IPV6_UNICAST_HOPS, 32, 0, AF_INET6},
    };
    for (unsigned i = 0; i < sizeof opts / sizeof opts[0]; i++) {
        if ((opts[i].stream_only && !stream) || (opts[i].family && opts[i].family != family))
            continue;
        int v = opts[i].value;
        errno = 0;
        int rn = setsockopt(nat, opts[i].level, opts[i].name, &v, sizeof v);
        int en = rn < 0 ? errno : 0;
        errno = 0;
        int rc = setsockopt(conv, opts[i].level, opts[i].name, &v, sizeof v);
        int ec = rc < 0 ? errno : 0;
        if (rn != rc || en != ec) {
            printf("  DIFF %s setsockopt level %d option %d: native %d/%d, converted %d/%d\n",
                   role, opts[i].level, opts[i].name, rn, en, rc, ec);
            diffs++;
        }
        for (socklen_t cap = 256; cap > 0; cap = cap == 256 ? 4 : 0)
            compare_one(role, nat, conv, opts[i].level, opts[i].name, cap, 1);
    }
}

static void compare_ioctls(const char *role, int nat, int conv) {
    static const unsigned long reqs[] = {SIOCINQ, SIOCOUTQ, SIOCOUTQNSD};
    for (unsigned i = 0; i < 3; i++) {
        int vn = -7, vc = -7;
        errno = 0;
        int rn = ioctl(nat, reqs[i], &vn);
        int en = rn < 0 ? errno : 0;
        errno = 0;
        int rc = ioctl(conv, reqs[i], &vc);
        int ec = rc < 0 ? errno : 0;
        if (rn != rc || en != ec || vn != vc) {
            printf("  DIFF %s ioctl %#lx: native %d/%s value %d, converted %d/%s value %d\n", role,
                   reqs[i], rn, en ? strerrorname_np(en) : "0", vn, rc,
                   ec ? strerrorname_np(ec) : "0", vc);
            diffs++;
        }
    }
}

struct pair { int nat, conv; };

static void check_roles(const char *role, struct pair *p, int n, int family, int stream) {
    for (int i = 0; i < n; i++) {
        char what[64];
        snprintf(what, sizeof what, "%s/%s", family == AF_INET ? "IPv4" : "IPv6", role);
        compare_all(what, p[i].nat, p[i].conv);
        compare_ioctls(what, p[i].nat, p[i].conv);
        set_and_compare(what, p[i].nat, p[i].conv, family, stream);
        after_set = 1;
        compare_all(what, p[i].nat, p[i].conv);
        after_set = 0;
    }
}

static int bound_port(int fd) {
    haddr_t a = sock_name(fd);
    return sa_port((struct sockaddr *)&a.ss);
}

static void stream(const char *ip, int conv_port) {
    int family = ip_family(ip);
    /* bound, not listening */
    struct pair bound = {tcp_bind(ip, 0), tcp_bind(ip, conv_port + 10)};
    CHECK(is_socket_file(tpath("%d.sock", conv_port + 10)), "bind not converted (dir: %s)",
          list_dir(h_dir));
    struct pair listener = {tcp_listen(ip, 0), tcp_listen(ip, conv_port)};
    CHECK(is_socket_file(tpath("%d.sock", conv_port)), "listener not converted");
    struct pair client = {tcp_connect_ok(ip, bound_port(listener.nat)),
                          tcp_connect_ok(ip, conv_port)};
    struct pair accepted = {accept(listener.nat, NULL, NULL), accept(listener.conv, NULL, NULL)};
    CHECK(accepted.nat >= 0 && accepted.conv >= 0, "accept");
    CHECK(sockopt_int(accepted.conv, SOL_SOCKET, SO_DOMAIN) == family, "accepted: SO_DOMAIN");
    check_roles("stream bound", &bound, 1, family, 1);
    check_roles("listener", &listener, 1, family, 1);
    check_roles("client", &client, 1, family, 1);
    check_roles("accepted", &accepted, 1, family, 1);
    /* bytes queued: 5 waiting at the accepted end */
    write_all(client.nat, "hello", 5);
    write_all(client.conv, "hello", 5);
    CHECK(wait_readable(accepted.nat, 5000) && wait_readable(accepted.conv, 5000), "no data");
    compare_ioctls("accepted with 5 bytes queued", accepted.nat, accepted.conv);
    compare_ioctls("client after sending 5 bytes", client.nat, client.conv);
    int fds[] = {bound.nat, bound.conv, listener.nat, listener.conv, client.nat, client.conv,
                 accepted.nat, accepted.conv};
    for (unsigned i = 0; i < 8; i++) close(fds[i]);
}

static void datagram(const char *ip, int conv_port) {
    int family = ip_family(ip);
    struct pair bound = {udp_bind(ip, 0), udp_bind(ip, conv_port)};
    CHECK(is_socket_file(tpath("%d.sock", conv_port)), "UDP bind not converted");
    struct pair connected = {udp_socket(family), udp_socket(family)};
    haddr_t an = haddr(ip, bound_port(bound.nat)), ac = haddr(ip, conv_port);
    CHECK(connect(connected.nat, SA(an)) == 0 && connect(connected.conv, SA(ac)) == 0,
          "UDP connect");
    check_roles("datagram bound", &bound, 1, family, 0);
    check_roles("datagram connected", &connected, 1, family, 0);
    CHECK(send(connected.nat, "hello", 5, 0) == 5 && send(connected.conv, "hello", 5, 0) == 5,
          "UDP send");
    CHECK(wait_readable(bound.nat, 5000) && wait_readable(bound.conv, 5000), "no datagram");
    compare_ioctls("datagram bound with one queued", bound.nat, bound.conv);
    close(bound.nat);
    close(bound.conv);
    close(connected.nat);
    close(connected.conv);
}

int main(void) {
    harness_preload("in,tcp,port=7201-7212,path={D}/%p.sock;out,tcp,port=7201-7212,path={D}/%p.sock;"
                    "in,udp,port=7221-7222,path={D}/%p.sock;out,udp,port=7221-7222,path={D}/%p.sock");
    stream("127.0.0.1", 7201);
    stream("::1", 7202);
    datagram("127.0.0.1", 7221);
    datagram("::1", 7222);
    INFO("%d difference(s)", diffs);
    CHECK(diffs == 0, "%d difference(s) between native and converted sockets", diffs);
    return 0;
}
