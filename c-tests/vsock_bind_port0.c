/* vsock=any with bind(:0): the shim picks the port (32768-60999), the program is told the very
 * port the kernel's AF_VSOCK socket holds, and two binds get different ports. */
#include "harness.h"
#include <linux/vm_sockets.h>
#include <sys/syscall.h>

static unsigned kernel_vsock_port(int s) {
    struct sockaddr_vm vm;
    socklen_t l = sizeof vm;
    CHECK(syscall(SYS_getsockname, s, &vm, &l) == 0 && vm.svm_family == AF_VSOCK, "raw getsockname");
    return vm.svm_port;
}

int main(void) {
    harness_preload("in,tcp,vsock=any");
    int s1 = tcp_listen("0.0.0.0", 0), s2 = tcp_listen("0.0.0.0", 0);
    haddr_t n1 = sock_name(s1), n2 = sock_name(s2);
    int p1 = sa_port((struct sockaddr *)&n1.ss), p2 = sa_port((struct sockaddr *)&n2.ss);
    CHECK(p1 >= 32768 && p1 <= 60999 && p2 >= 32768 && p2 <= 60999, "ports %d %d", p1, p2);
    CHECK(p1 != p2, "two binds, one port %d", p1);
    CHECK((int)kernel_vsock_port(s1) == p1 && (int)kernel_vsock_port(s2) == p2,
          "reported %d/%d, kernel %u/%u", p1, p2, kernel_vsock_port(s1), kernel_vsock_port(s2));
    INFO("bind(:0) on vsock: ports %d %d", p1, p2);
    return 0;
}
