/* A datagram sender that never binds must still get replies (an AF_UNIX
 * datagram socket without a name cannot be answered: the conversion must
 * give it one).  Covered: sendto from a never-bound socket to a converted
 * server in the same process and to a native AF_UNIX datagram server in
 * another process (which must see a non-empty sender address and answer
 * it); connect + send from a never-bound socket; sendmsg from a never-bound
 * IPv6 socket.  Replies are reported as coming from the address sent to. */
#include "harness.h"
#include "dgram.h"

/* native AF_UNIX datagram echo server (a forked child; no rule touches it) */
static void native_server(int fd) {
    char buf[256];
    for (;;) {
        struct sockaddr_un from;
        socklen_t fl = sizeof from;
        ssize_t n = recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl);
        if (n < 0) _exit(2);
        if (fl <= offsetof(struct sockaddr_un, sun_path)) {
            fprintf(stderr, "native server: the sender has no address (addrlen %u): it cannot be answered\n",
                    (unsigned)fl);
            _exit(3);
        }
        upcase(buf, (size_t)n);
        if (sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&from, fl) != n) {
            perror("native server: sendto");
            _exit(4);
        }
    }
}

int main(void) {
    harness_preload("udp,addr=127.0.0.1,port=7101,path={D}/%p.sock;"
                    "out,udp,addr=127.0.0.1,port=7102,path={D}/native.sock;"
                    "out,udp,addr=::1,port=7103,path={D}/native.sock");
    int s = udp_bind("127.0.0.1", 7101);
    udp_echo_thread(s);
    int n = unix_dgram_bind(tpath("native.sock"));
    pid_t ns = harness_fork();
    if (ns == 0) native_server(n);
    close(n);

    /* sendto from never-bound sockets */
    int c = udp_socket(AF_INET);
    udp_roundtrip(c, "127.0.0.1", 7101, "unbound to converted server");
    udp_roundtrip(c, "127.0.0.1", 7102, "unbound to native server");
    close(c);
    c = udp_socket(AF_INET);
    udp_roundtrip(c, "127.0.0.1", 7102, "fresh unbound to native server");
    close(c);

    /* connect + send from a never-bound socket */
    c = udp_socket(AF_INET);
    haddr_t d = haddr("127.0.0.1", 7102);
    CHECK(connect(c, SA(d)) == 0, "connect to 127.0.0.1:7102");
    CHECK(send(c, "connected", 9, 0) == 9, "send on connected socket");
    char buf[64];
    CHECK(wait_readable(c, 5000), "connected never-bound socket got no reply");
    ssize_t r = recv(c, buf, sizeof buf, 0);
    CHECK(r == 9 && memcmp(buf, "CONNECTED", 9) == 0, "recv returned %zd", r);
    close(c);

    /* sendmsg from a never-bound IPv6 socket */
    c = udp_socket(AF_INET6);
    d = haddr("::1", 7103);
    struct iovec v = {"via sendmsg", 11};
    struct msghdr m = {.msg_name = &d.ss, .msg_namelen = d.len, .msg_iov = &v, .msg_iovlen = 1};
    CHECK(sendmsg(c, &m, 0) == 11, "sendmsg to [::1]:7103");
    haddr_t from;
    udp_expect(c, "VIA SENDMSG", &from);
    CHECK_ADDR(from, "::1", 7103);
    close(c);

    CHECK(!real_udp_port_bound(7101), "a real UDP socket is bound to 7101");
    kill(ns, SIGKILL);
    int st = wait_child(ns);
    CHECK(st == 128 + SIGKILL, "native server died early with status %d", st);
    return 0;
}
