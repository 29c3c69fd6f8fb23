/* xsocket.h — sockswap's libxsocket: the C interface of xsocket (koro666/xsocket).
 *
 * int xsocket(const char *path, int domain, int type, int protocol);
 *
 * Asks the socket server listening at `path` (`socketbox xsocket-server PATH --allow ...` or
 * `socketbox socket-server --listen PATH ...`, running in another network namespace) for a new
 * socket of this domain, type and protocol, created in the server's namespace. `path` NULL means
 * /run/xsocket/default; a leading '@' names an abstract socket. `type` may carry SOCK_NONBLOCK
 * and SOCK_CLOEXEC, as for socket(2).
 *
 * Returns the new file descriptor, or -1 with errno set: the server's refusal (EACCES when the
 * family or type is not on its allow list or the caller's uid is not allowed), ECONNREFUSED or
 * ENOENT when no server listens at `path`, EINVAL for a reply that is not XS02.
 *
 * Link with -lxsocket. */
#ifndef SOCKSWAP_XSOCKET_H
#define SOCKSWAP_XSOCKET_H

#ifdef __cplusplus
extern "C" {
#endif

int xsocket(const char *path, int domain, int type, int protocol);

#ifdef __cplusplus
}
#endif

#endif
