// A client that makes its socket calls with syscall(SYS_...), bypassing libc's wrappers (built
// -static, so no library can hook anything). Usage: raw_client IPV4 PORT
// Sends "hello from raw\n", prints "peer=A:P local=A:P" as getpeername/getsockname say, then
// what the server answered.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

static void show(const char *what, struct sockaddr_in *a) {
    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
    printf("%s=%s:%d ", what, ip, ntohs(a->sin_port));
}

int main(int argc, char **argv) {
    if (argc != 3) return 2;
    int fd = syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
    if (fd < 0) { perror("socket"); return 1; }
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[2])) };
    inet_pton(AF_INET, argv[1], &sa.sin_addr);
    if (syscall(SYS_connect, fd, &sa, sizeof sa) != 0) { perror("connect"); return 1; }
    struct sockaddr_in peer, local;
    socklen_t pl = sizeof peer, ll = sizeof local;
    if (syscall(SYS_getpeername, fd, &peer, &pl) != 0) { perror("getpeername"); return 1; }
    if (syscall(SYS_getsockname, fd, &local, &ll) != 0) { perror("getsockname"); return 1; }
    if (peer.sin_family != AF_INET || local.sin_family != AF_INET) { printf("not AF_INET\n"); return 1; }
    show("peer", &peer);
    show("local", &local);
    printf("\n");
    const char *msg = "hello from raw\n";
    if (write(fd, msg, strlen(msg)) < 0) { perror("write"); return 1; }
    shutdown(fd, SHUT_WR);
    char buf[256];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) fwrite(buf, 1, n, stdout);
    return 0;
}
