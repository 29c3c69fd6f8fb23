/* vsock=CID[:PORT] on bind, on the host (whose kernel can bind AF_VSOCK sockets but cannot
 * connect them locally; connections are tested in the VM test, t-vsock-vm.sh):
 *   - the program's port becomes the vsock port, the program still sees TCP and its address;
 *   - bind(:0) reports the vsock port the kernel really holds;
 *   - a rule port overrides the program's;
 *   - datagram sockets are refused with EPROTOTYPE (vsock carries streams). */
#include "harness.h"
#include <linux/vm_sockets.h>
#include <sys/syscall.h>

static unsigned kernel_vsock_port(int s) {
    struct sockaddr_vm vm;
    socklen_t l = sizeof vm;
    CHECK(syscall(SYS_getsockname, s, &vm, &l) == 0, "raw getsockname");
    CHECK(vm.svm_family == AF_VSOCK, "kernel family %d, expected AF_VSOCK", vm.svm_family);
    return vm.svm_port;
}

int main(void) {
    harness_preload("in,tcp,port=4300-4399,vsock=any;in,port=4400,vsock=any:5400;in,udp,port=4500,vsock=any");
    int s = tcp_listen("127.0.0.1", 4301);
    haddr_t n = sock_name(s);
    CHECK_ADDR(n, "127.0.0.1", 4301);
    CHECK(kernel_vsock_port(s) == 4301, "vsock port %u", kernel_vsock_port(s));
    CHECK(sockopt_int(s, SOL_SOCKET, SO_DOMAIN) == AF_INET, "SO_DOMAIN");
    CHECK(sockopt_int(s, SOL_SOCKET, SO_PROTOCOL) == IPPROTO_TCP, "SO_PROTOCOL");
    int one = 1;
    CHECK(setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == 0, "TCP_NODELAY accepted");
    CHECK(sockopt_int(s, IPPROTO_TCP, TCP_NODELAY) == 1, "TCP_NODELAY remembered");
    close(s);

    /* IPv6 (bind(:0) is in vsock_bind_port0.c) */
    s = tcp_listen("::1", 4302);
    n = sock_name(s);
    CHECK_ADDR(n, "::1", 4302);
    CHECK(sockopt_int(s, SOL_SOCKET, SO_DOMAIN) == AF_INET6, "SO_DOMAIN v6");
    close(s);

    s = tcp_listen("127.0.0.1", 4400);
    n = sock_name(s);
    CHECK_ADDR(n, "127.0.0.1", 4400);
    CHECK(kernel_vsock_port(s) == 5400, "rule port: vsock port %u", kernel_vsock_port(s));
    close(s);

    int u = socket(AF_INET, SOCK_DGRAM, 0);
    haddr_t a = haddr("127.0.0.1", 4500);
    CHECK_ERRNO(bind(u, SA(a)), EPROTOTYPE);
    CHECK(fd_is_open(u), "fd open");
    close(u);
    INFO("vsock bind: ok");
    return 0;
}
