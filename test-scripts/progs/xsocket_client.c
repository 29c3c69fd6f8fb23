/* A program written against xsocket's C interface, compiled with sockswap's xsocket.h and linked
 * with -lxsocket. usage: xsocket_client SERVER OP...
 * OPs, each printing one line `OP -> ok [VALUE]` or `OP -> ERRNO_NAME`:
 *   tcp | tcp6 | udp | packet   s = xsocket(SERVER, AF_INET/AF_INET6/AF_INET/AF_PACKET, ...)
 *   null-tcp                    s = xsocket(NULL, AF_INET, SOCK_STREAM, 0)
 *   kind                        SO_DOMAIN SO_TYPE of s, and whether O_NONBLOCK/FD_CLOEXEC are set
 *   listen=PORT                 bind s to 127.0.0.1:PORT and listen
 *   accept-echo                 accept one connection, echo one line back, close it
 *   ready                       print `ready -> ok` (a marker to wait for) */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <xsocket.h>

static const char *ename(int e) {
    switch (e) {
    case EACCES: return "EACCES";
    case EAFNOSUPPORT: return "EAFNOSUPPORT";
    case EINVAL: return "EINVAL";
    case ECONNREFUSED: return "ECONNREFUSED";
    case ENOENT: return "ENOENT";
    case EADDRINUSE: return "EADDRINUSE";
    case EPERM: return "EPERM";
    default: return "OTHER";
    }
}

int main(int argc, char **argv) {
    const char *server = argv[1];
    int s = -1;
    for (int i = 2; i < argc; i++) {
        const char *op = argv[i];
        int r = 0;
        char value[64] = "";
        if (!strcmp(op, "tcp")) r = s = xsocket(server, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        else if (!strcmp(op, "tcp6")) r = s = xsocket(server, AF_INET6, SOCK_STREAM | SOCK_NONBLOCK, 0);
        else if (!strcmp(op, "udp")) r = s = xsocket(server, AF_INET, SOCK_DGRAM, 0);
        else if (!strcmp(op, "packet")) r = s = xsocket(server, AF_PACKET, SOCK_RAW, 0);
        else if (!strcmp(op, "null-tcp")) r = s = xsocket(NULL, AF_INET, SOCK_STREAM, 0);
        else if (!strcmp(op, "kind")) {
            int d = 0, t = 0;
            socklen_t l = sizeof d;
            getsockopt(s, SOL_SOCKET, SO_DOMAIN, &d, &l);
            l = sizeof t;
            getsockopt(s, SOL_SOCKET, SO_TYPE, &t, &l);
            snprintf(value, sizeof value, "domain=%d type=%d nonblock=%d cloexec=%d", d, t,
                     !!(fcntl(s, F_GETFL) & O_NONBLOCK), !!(fcntl(s, F_GETFD) & FD_CLOEXEC));
        } else if (!strncmp(op, "listen=", 7)) {
            struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(op + 7))};
            int one = 1;
            a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
            r = bind(s, (struct sockaddr *)&a, sizeof a);
            if (r == 0) r = listen(s, 8);
        } else if (!strcmp(op, "accept-echo")) {
            int c = r = accept(s, NULL, NULL);
            if (c >= 0) {
                char buf[256];
                ssize_t n = read(c, buf, sizeof buf);
                if (n > 0) write(c, buf, n);
                close(c);
                r = 0;
            }
        } else if (!strcmp(op, "ready")) r = 0;
        else { fprintf(stderr, "unknown op %s\n", op); return 2; }
        if (r < 0) printf("%s -> %s\n", op, ename(errno));
        else printf("%s -> ok%s%s\n", op, value[0] ? " " : "", value);
        fflush(stdout);
    }
    return 0;
}
