/* sockswap's libsocketbox: sending an fd, and how strictly received fds are checked.
 * Kept as its own header because socketbox's programs include it by this name. */
#ifndef SOCKSWAP_SOCKETBOX_UNIX_SCM_RIGHTS_H
#define SOCKSWAP_SOCKETBOX_UNIX_SCM_RIGHTS_H
#include <stdint.h>
#include <sys/socket.h>
#ifdef __cplusplus
extern "C" {
#endif

/* Send fd over sockfd as an "A" datagram (one byte 0x00 carrying the fd), to addr if not NULL.
 * Non-blocking, never SIGPIPE. 0, or -1 with errno. */
int skbox_send_fd(int sockfd, int fd, const struct sockaddr *addr, socklen_t addrlen);

/* Which received fds the skbox_receive_* functions accept: 0 any (the default), 1 SOCK_STREAM
 * only, 2 SOCK_STREAM of AF_UNIX, AF_INET or AF_INET6. A negative level reads the
 * SKBOX_STRICT_STREAM_MODE environment variable (a number), 2 if unset. */
void skbox_set_validation_level(int level);

#ifdef __cplusplus
}
#endif
#endif
