/* unsock control files in UNSOCK_DIR, written here byte by byte (the layout of unsock's
 * struct unsock_socket_info), honoured by the shim on the host:
 *   1000.sock Firecracker proxy to a fake VMM, guest port 4000, param SO_RCVBUF=100000
 *             → connect works through the handshake and the option is applied
 *   1001.sock the same file type, bound → EINVAL (as unsock)
 *   1002.sock direct AF_VSOCK any:4242 → bind works, the program still sees 127.0.0.1:1002/TCP
 *   1003.sock magic but unknown option bits → connect fails with EINVAL
 *   1004.sock 452 bytes without the magic → not a control file: ECONNREFUSED */
#include "harness.h"
#include <linux/vm_sockets.h>
#include <sys/syscall.h>

static void put32(unsigned char *b, size_t off, uint32_t v) { memcpy(b + off, &v, 4); }
static void put64(unsigned char *b, size_t off, uint64_t v) { memcpy(b + off, &v, 8); }

static void write_file(const char *path, const unsigned char *b) {
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(b, 1, 452, f) == 452 && fclose(f) == 0, "writing %s", path);
}

static void firecracker_file(unsigned char *b, const char *proxy, uint32_t port) {
    memset(b, 0, 452);
    memcpy(b, "UNSK\0\0\0\0", 8);
    put64(b, 8, 1);              /* Firecracker proxy */
    put32(b, 16, 110);           /* sizeof(struct sockaddr_un) */
    put32(b, 20, 16);            /* sizeof(struct sockaddr_vm) */
    b[32] = AF_UNIX;
    memcpy(b + 34, proxy, strlen(proxy));
    b[160] = AF_VSOCK;
    put32(b, 164, port);         /* svm_port */
    put32(b, 168, 0xffffffffu);  /* svm_cid = any */
}

static volatile int asked_port = -1;

static void *vmm(void *arg) {
    int l = (int)(intptr_t)arg;
    for (;;) {
        int c = accept(l, NULL, NULL);
        if (c < 0) continue;
        char line[64];
        size_t n = 0;
        while (n < sizeof line - 1 && read(c, line + n, 1) == 1 && line[n++] != '\n') {}
        line[n] = 0;
        sscanf(line, "CONNECT %d", (int *)&asked_port);
        write_all(c, "OK 4000\n", 8);
        echo_serve(c);
    }
    return NULL;
}

int main(void) {
    harness_preload_env(NULL, "UNSOCK_DIR={D}/u", "UNSOCK_ADDR=127.0.0.1/32", (const char *)NULL);
    unsigned char b[452];

    int l = unix_listen(tpath("vmm.sock"));
    pthread_t t;
    pthread_create(&t, NULL, vmm, (void *)(intptr_t)l);

    /* 1000: Firecracker file with a socket option */
    firecracker_file(b, tpath("vmm.sock"), 4000);
    put32(b, 24, 1);                      /* parameter count (informational) */
    put32(b, 288, SOL_SOCKET);
    put32(b, 292, SO_RCVBUF);
    put32(b, 296, 100000);
    write_file(tpath("u/1000.sock"), b);
    int s = tcp_connect_ok("127.0.0.1", 1000);
    CHECK(asked_port == 4000, "the VMM was asked for port %d, expected the file's 4000", asked_port);
    echo_check(s, "through a Firecracker control file");
    CHECK(sockopt_int(s, SOL_SOCKET, SO_RCVBUF) == 200000, "SO_RCVBUF from the file: %d",
          sockopt_int(s, SOL_SOCKET, SO_RCVBUF));
    CHECK(sockopt_int(s, SOL_SOCKET, SO_DOMAIN) == AF_INET, "SO_DOMAIN");
    haddr_t p = peer_name(s);
    CHECK_ADDR(p, "127.0.0.1", 1000);
    close(s);
    INFO("Firecracker file: connect, port, option: ok");

    /* 1001: a Firecracker file cannot be bound */
    firecracker_file(b, tpath("vmm.sock"), 4001);
    write_file(tpath("u/1001.sock"), b);
    s = tcp_socket(AF_INET);
    haddr_t a = haddr("127.0.0.1", 1001);
    CHECK_ERRNO(bind(s, SA(a)), EINVAL);
    CHECK(fd_is_open(s), "fd open after a refused bind");
    close(s);

    /* 1002: direct AF_VSOCK file, bound */
    memset(b, 0, 452);
    memcpy(b, "UNSK\0\0\0\0", 8);
    put32(b, 20, 16);
    b[160] = AF_VSOCK;
    put32(b, 164, 4242);
    put32(b, 168, 0xffffffffu);
    write_file(tpath("u/1002.sock"), b);
    s = tcp_socket(AF_INET);
    a = haddr("127.0.0.1", 1002);
    CHECK(bind(s, SA(a)) == 0, "bind through a vsock control file");
    CHECK(listen(s, 4) == 0, "listen on the vsock socket");
    haddr_t n = sock_name(s);
    CHECK_ADDR(n, "127.0.0.1", 1002);
    CHECK(sockopt_int(s, SOL_SOCKET, SO_DOMAIN) == AF_INET, "SO_DOMAIN keeps the TCP face");
    CHECK(sockopt_int(s, SOL_SOCKET, SO_ACCEPTCONN) == 1, "listening");
    /* the kernel's view: an AF_VSOCK socket bound to port 4242 */
    struct sockaddr_vm vm;
    socklen_t vl = sizeof vm;
    CHECK(syscall(SYS_getsockname, s, &vm, &vl) == 0 && vm.svm_family == AF_VSOCK &&
              vm.svm_port == 4242, "kernel: family %d port %u", vm.svm_family, vm.svm_port);
    close(s);
    INFO("direct vsock file: bind: ok");

    /* 1003: magic, unknown option bits */
    memset(b, 0, 452);
    memcpy(b, "UNSK\0\0\0\0", 8);
    put64(b, 8, 2);
    put32(b, 20, 16);
    b[160] = AF_VSOCK;
    write_file(tpath("u/1003.sock"), b);
    s = tcp_socket(AF_INET);
    a = haddr("127.0.0.1", 1003);
    CHECK_ERRNO(connect(s, SA(a)), EINVAL);
    close(s);

    /* 1004: 452 bytes, no magic: not a control file */
    memset(b, 'x', 452);
    write_file(tpath("u/1004.sock"), b);
    CHECK_ERRNO(tcp_connect("127.0.0.1", 1004), ECONNREFUSED);
    INFO("malformed and foreign files: ok");
    return 0;
}
