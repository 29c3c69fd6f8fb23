/* Options set before the swap read back after it as on a real socket.  For
 * every option of a list a program may set before bind/connect (reuse,
 * buffers, timeouts, linger, keepalive and its times, Nagle, TOS/TTL/traffic
 * class, v6-only, freebind, ...), a native TCP/UDP socket (on a port no rule
 * covers) and a converted one are given the same value, then made a listener,
 * a client or a bound datagram socket, IPv4 and IPv6 (and a listener's
 * accepted connection, which inherits them); afterwards every option
 * of the list must answer the same on both (return value, errno, length,
 * value).  One option per socket pair, so interactions (IP_TOS sets the
 * priority) show and no per-socket record overflows.  The seccomp backend
 * never sees these calls: it must find them on the program's socket. */
#include "harness.h"
#include <netinet/udp.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif
#ifndef TCP_NOTSENT_LOWAT
#define TCP_NOTSENT_LOWAT 25
#endif

#define CONV_LISTEN 7401 /* converted listener (bound once per option) */
#define CONV_SERVER 7402 /* the converted listener clients connect to */
#define CONV_DGRAM 7403

enum { STREAM = 1, DGRAM = 2, BOTH = 3 };

struct opt {
    const char *name;
    int level, optname, kinds, family; /* family 0: both */
    int value;                          /* int options */
    const void *raw;                    /* or these bytes */
    socklen_t rawlen;
};

static const struct linger linger_on = {1, 7};
static const struct timeval three_s = {3, 0};
static const struct timeval four_s = {4, 500000};

#define I(l, n, k, f, v) {#n, l, n, k, f, v, NULL, 0}
static const struct opt opts[] = {
    I(SOL_SOCKET, SO_REUSEADDR, BOTH, 0, 1),
    I(SOL_SOCKET, SO_REUSEPORT, BOTH, 0, 1),
    I(SOL_SOCKET, SO_KEEPALIVE, STREAM, 0, 1),
    I(SOL_SOCKET, SO_BROADCAST, DGRAM, 0, 1),
    {"SO_LINGER", SOL_SOCKET, SO_LINGER, STREAM, 0, 0, &linger_on, sizeof linger_on},
    I(SOL_SOCKET, SO_OOBINLINE, STREAM, 0, 1),
    I(SOL_SOCKET, SO_SNDBUF, BOTH, 0, 32768),
    I(SOL_SOCKET, SO_RCVBUF, BOTH, 0, 65536),
    I(SOL_SOCKET, SO_RCVLOWAT, STREAM, 0, 10),
    {"SO_RCVTIMEO", SOL_SOCKET, SO_RCVTIMEO, BOTH, 0, 0, &three_s, sizeof three_s},
    {"SO_SNDTIMEO", SOL_SOCKET, SO_SNDTIMEO, BOTH, 0, 0, &four_s, sizeof four_s},
    I(SOL_SOCKET, SO_PRIORITY, BOTH, 0, 3),
    I(SOL_SOCKET, SO_MARK, BOTH, 0, 5),
    I(SOL_SOCKET, SO_DONTROUTE, BOTH, 0, 1),
    I(SOL_SOCKET, SO_TIMESTAMP, DGRAM, 0, 1),
    I(IPPROTO_TCP, TCP_NODELAY, STREAM, 0, 1),
    I(IPPROTO_TCP, TCP_MAXSEG, STREAM, 0, 1000),
    I(IPPROTO_TCP, TCP_KEEPIDLE, STREAM, 0, 30),
    I(IPPROTO_TCP, TCP_KEEPINTVL, STREAM, 0, 5),
    I(IPPROTO_TCP, TCP_KEEPCNT, STREAM, 0, 3),
    I(IPPROTO_TCP, TCP_SYNCNT, STREAM, 0, 2),
    I(IPPROTO_TCP, TCP_LINGER2, STREAM, 0, 10),
    I(IPPROTO_TCP, TCP_DEFER_ACCEPT, STREAM, 0, 5),
    I(IPPROTO_TCP, TCP_USER_TIMEOUT, STREAM, 0, 5000),
    I(IPPROTO_TCP, TCP_NOTSENT_LOWAT, STREAM, 0, 4096),
    {"TCP_CONGESTION", IPPROTO_TCP, TCP_CONGESTION, STREAM, 0, 0, "reno", 4},
    I(IPPROTO_IP, IP_TOS, BOTH, AF_INET, 0x10),
    I(IPPROTO_IP, IP_TTL, BOTH, AF_INET, 33),
    I(IPPROTO_IP, IP_FREEBIND, BOTH, AF_INET, 1),
    I(IPPROTO_IP, IP_MTU_DISCOVER, BOTH, AF_INET, IP_PMTUDISC_DONT),
    I(IPPROTO_IP, IP_RECVERR, BOTH, AF_INET, 1),
    I(IPPROTO_IP, IP_PKTINFO, DGRAM, AF_INET, 1),
    I(IPPROTO_IP, IP_MULTICAST_TTL, DGRAM, AF_INET, 4),
    I(IPPROTO_IP, IP_MULTICAST_LOOP, DGRAM, AF_INET, 0),
    I(IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, STREAM, AF_INET, 1),
    I(IPPROTO_IPV6, IPV6_V6ONLY, BOTH, AF_INET6, 1),
    I(IPPROTO_IPV6, IPV6_TCLASS, BOTH, AF_INET6, 0x20),
    I(IPPROTO_IPV6, IPV6_UNICAST_HOPS, BOTH, AF_INET6, 33),
    I(IPPROTO_IPV6, IPV6_MULTICAST_HOPS, DGRAM, AF_INET6, 4),
    I(IPPROTO_IPV6, IPV6_MULTICAST_LOOP, DGRAM, AF_INET6, 0),
    I(IPPROTO_IPV6, IPV6_RECVPKTINFO, DGRAM, AF_INET6, 1),
    I(IPPROTO_IPV6, IPV6_RECVERR, BOTH, AF_INET6, 1),
    I(IPPROTO_IPV6, IPV6_MTU_DISCOVER, BOTH, AF_INET6, IPV6_PMTUDISC_DONT),
    I(IPPROTO_UDP, UDP_CORK, DGRAM, 0, 1),
};
#define NOPTS (int)(sizeof opts / sizeof opts[0])

static int diffs, checked;

static int applies(const struct opt *o, int family, int kind) {
    return (o->kinds & kind) && (!o->family || o->family == family);
}

static int set_opt(int fd, const struct opt *o) {
    if (o->raw) return setsockopt(fd, o->level, o->optname, o->raw, o->rawlen);
    return setsockopt(fd, o->level, o->optname, &o->value, sizeof o->value);
}

/* Every applicable option of the list, on both sockets. */
static void compare_after(const char *what, const struct opt *set, int nat, int conv, int family,
                          int kind) {
    for (int i = 0; i < NOPTS; i++) {
        const struct opt *o = &opts[i];
        if (!applies(o, family, kind)) continue;
        /* TCP sizes its buffers per connection unless the program fixed them. */
        if (o->level == SOL_SOCKET && (o->optname == SO_SNDBUF || o->optname == SO_RCVBUF) &&
            o != set && kind == STREAM)
            continue;
        unsigned char vn[64], vc[64];
        memset(vn, 0xAA, sizeof vn);
        memset(vc, 0xAA, sizeof vc);
        socklen_t ln = sizeof vn, lc = sizeof vc;
        errno = 0;
        int rn = getsockopt(nat, o->level, o->optname, vn, &ln);
        int en = rn < 0 ? errno : 0;
        errno = 0;
        int rc = getsockopt(conv, o->level, o->optname, vc, &lc);
        int ec = rc < 0 ? errno : 0;
        checked++;
        if (rn != rc || en != ec || ln != lc || (rn == 0 && memcmp(vn, vc, ln) != 0)) {
            int an = 0, ac = 0;
            memcpy(&an, vn, ln < 4 ? ln : 4);
            memcpy(&ac, vc, lc < 4 ? lc : 4);
            printf("  DIFF %s, %s set before: %s native %d/%s len %u (%d), converted %d/%s len "
                   "%u (%d)\n",
                   what, set->name, o->name, rn, en ? strerrorname_np(en) : "0", (unsigned)ln, an,
                   rc, ec ? strerrorname_np(ec) : "0", (unsigned)lc, ac);
            diffs++;
        }
    }
}

static int bind_to(int fd, const char *ip, int port) {
    haddr_t a = haddr(ip, port);
    return bind(fd, SA(a));
}

static int bound_port(int fd) {
    haddr_t a = sock_name(fd);
    return sa_port((struct sockaddr *)&a.ss);
}

/* One option, one role, one family: set on both, do the role, compare. */
static void one(const struct opt *o, const char *ip, int kind, int client, int nat_server) {
    int family = ip_family(ip);
    if (!applies(o, family, kind)) return;
    int sotype = kind == STREAM ? SOCK_STREAM : SOCK_DGRAM;
    int nat = socket(family, sotype, 0), conv = socket(family, sotype, 0);
    CHECK(nat >= 0 && conv >= 0, "socket");
    errno = 0;
    int rn = set_opt(nat, o);
    int en = rn < 0 ? errno : 0;
    errno = 0;
    int rc = set_opt(conv, o);
    int ec = rc < 0 ? errno : 0;
    char what[64];
    snprintf(what, sizeof what, "%s %s", family == AF_INET ? "IPv4" : "IPv6",
             kind == DGRAM ? "datagram" : client ? "client" : "listener");
    if (rn != rc || en != ec) {
        printf("  DIFF %s: setsockopt %s native %d/%d, converted %d/%d\n", what, o->name, rn, en,
               rc, ec);
        diffs++;
    }
    if (kind == DGRAM) {
        CHECK(bind_to(nat, ip, 0) == 0, "native datagram bind");
        CHECK(bind_to(conv, ip, CONV_DGRAM) == 0, "converted datagram bind (%s)", o->name);
    } else if (client) {
        haddr_t n = haddr(ip, nat_server), c = haddr(ip, CONV_SERVER);
        CHECK(connect(nat, SA(n)) == 0, "native connect (%s): %s", o->name, strerror(errno));
        CHECK(connect(conv, SA(c)) == 0, "converted connect (%s): %s", o->name, strerror(errno));
    } else {
        CHECK(bind_to(nat, ip, 0) == 0 && listen(nat, 4) == 0, "native listener");
        CHECK(bind_to(conv, ip, CONV_LISTEN) == 0 && listen(conv, 4) == 0,
              "converted listener (%s): %s", o->name, strerror(errno));
    }
    compare_after(what, o, nat, conv, family, kind);
    if (kind == STREAM && !client) {
        /* The accepted ends: a TCP connection inherits its listener's options. */
        int cn = socket(family, SOCK_STREAM, 0), cc = socket(family, SOCK_STREAM, 0);
        haddr_t n = haddr(ip, bound_port(nat)), c = haddr(ip, CONV_LISTEN);
        CHECK(connect(cn, SA(n)) == 0 && connect(cc, SA(c)) == 0, "connect to the listeners");
        int an = accept(nat, NULL, NULL), ac = accept(conv, NULL, NULL);
        CHECK(an >= 0 && ac >= 0, "accept");
        snprintf(what, sizeof what, "%s accepted", family == AF_INET ? "IPv4" : "IPv6");
        compare_after(what, o, an, ac, family, kind);
        close(an);
        close(ac);
        close(cn);
        close(cc);
    }
    close(nat);
    close(conv);
}

static void family(const char *ip) {
    /* The servers the clients connect to: one native, one converted. */
    int ns = tcp_socket(ip_family(ip)), cs = tcp_socket(ip_family(ip));
    CHECK(bind_to(ns, ip, 0) == 0 && listen(ns, 64) == 0, "native server");
    CHECK(bind_to(cs, ip, CONV_SERVER) == 0 && listen(cs, 64) == 0, "converted server");
    CHECK(is_socket_file(tpath("%d.sock", CONV_SERVER)), "server not converted (dir: %s)",
          list_dir(h_dir));
    int np = bound_port(ns);
    for (int i = 0; i < NOPTS; i++) {
        one(&opts[i], ip, STREAM, 0, np);
        one(&opts[i], ip, STREAM, 1, np);
        /* (the accepted ends are not under test: drain both queues) */
        for (int s = 0; s < 2; s++) {
            int l = s ? cs : ns;
            int fl = fcntl(l, F_GETFL);
            fcntl(l, F_SETFL, fl | O_NONBLOCK);
            int a;
            while ((a = accept(l, NULL, NULL)) >= 0) close(a);
            fcntl(l, F_SETFL, fl);
        }
        one(&opts[i], ip, DGRAM, 0, 0);
    }
    close(ns);
    close(cs);
}

int main(void) {
    harness_preload("in,port=7401-7403,path={D}/%p.sock;out,tcp,port=7401-7402,path={D}/%p.sock");
    family("127.0.0.1");
    family("::1");
    printf("%d options compared after %d set before the swap, %d difference(s)\n", checked,
           NOPTS, diffs);
    CHECK(diffs == 0, "%d difference(s)", diffs);
    return 0;
}
