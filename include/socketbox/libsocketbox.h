/* sockswap's libsocketbox (libsocketbox.so / libsocketbox.a): the C API of socketbox's
 * libsocketbox.h, for programs that receive connections from a socketbox router (sockswap's
 * `socketbox`, or socketbox itself) over the "A" protocol (a Unix datagram socket the router
 * sends each accepted socket to) or the "B" protocol (a registered SOCK_SEQPACKET connection).
 * Build: cc prog.c -I$PREFIX/include/socketbox -lsocketbox. See docs/router.md, "C API".
 * Functions return -1 with errno on failure unless said otherwise. */
#ifndef SOCKSWAP_SOCKETBOX_LIBSOCKETBOX_H
#define SOCKSWAP_SOCKETBOX_LIBSOCKETBOX_H
#include "unix_scm_rights.h"
#include <netinet/in.h>
#include <stdint.h>
#include <sys/un.h>
#ifdef __cplusplus
extern "C" {
#endif

/* B registration record and answer, as on the wire (numbers big-endian). */
struct skbox_reg_request {
	uint8_t req;        /* 1 */
	uint8_t reserved_1;
	uint16_t reserved_2;
	uint32_t group;     /* the slot, htonl() */
};
struct skbox_reg_response {
	uint8_t res_code;   /* 128: registered */
	uint8_t reserved_1;
	uint16_t reserved_2;
};

/* Wait for the next connection on fd (an A socket from skbox_new, or a B connection from
 * skbox_register_bind) and return it (close-on-exec). Only the first fd of a message is kept,
 * checked as skbox_set_validation_level says; messages without one are skipped. When a B
 * connection ends (the router went away): ENOLINK, and skbox_receive_fd_from_socket first
 * sends SIGTERM to the process group; skbox_receive_fd_from_socket_p(fd, 1) does not. */
int skbox_receive_fd_from_socket(int fd);
int skbox_receive_fd_from_socket_p(int fd, int notify_disconnect);

/* An A socket: a Unix datagram socket bound at pathname (which must not exist), mode 0660.
 * ENAMETOOLONG if the path does not fit a Unix socket address. */
int skbox_new(const char *pathname);

/* O_NONBLOCK on fd. 0 or -1. */
int skbox_make_fd_nonblocking(int fd);

/* An int socket option's value, or -1. */
int skbox_getsockopt_integer(int fd, int level, int opt);

/* Register slot `target` on a connected B socket: 0 when the router acknowledged; -1 with
 * EPIPE (could not send), EPERM (refused: the router closed), EINVAL (another answer). */
int skbox_register_fd(int fd, uint32_t target);

/* Connect a SOCK_SEQPACKET socket to the B server at pathname and register target; the
 * connection (pass it to skbox_receive_fd_from_socket*) or -1 (EFAULT for NULL or ""). */
int skbox_register_bind(const char *pathname, uint32_t target);

/* Port filters "ODD_BELOW[,EVEN_BELOW[,PORT,...]]" (numbers as strtoul base 0, up to 30 ports):
 * parse gives 1 and fills result, 0 for NULL or an empty filter, -1 if malformed; check gives 1
 * if the port passes (odd ports below result[0], even below result[1], or listed), else 0. */
int skbox_check_port_filter(uint16_t port_to_test, const uint16_t filter[32]);
int skbox_parse_port_filter(const char *filter, uint16_t result[32]);

/* i as 5 decimal digits into result[0..5] (no NUL). */
void skbox_int16tonum(uint16_t i, char *result);

/* In the first `length` bytes of resultant->sun_path, the first "#//0_".."#//7_" each become
 * 16-bit group N of sockaddr's address and the first "#//P_" its port, as 5 digits. */
void skbox_sockaddr_un_subst(const struct sockaddr_in6 *sockaddr, struct sockaddr_un *resultant, uint32_t length);

#ifdef __cplusplus
}
#endif
#endif
