/* A program written against socketbox's C API (libsocketbox.h), built against sockswap's header
 * and libsocketbox (t-router-capi.sh).
 *   capi_client a PATH N          an A receiver at PATH (skbox_new), serves N connections
 *   capi_client b PATH SLOT       registers SLOT at the B server PATH (skbox_register_bind),
 *                                 serves connections until the router closes (prints "enolink")
 *   capi_client refused PATH SLOT registration must fail; prints the errno
 *   capi_client pure              the functions that need no router; prints "pure ok"
 * Serving: read one line, answer "capi-MODE local=[ADDR]:PORT peer=[ADDR]:PORT", close. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "libsocketbox.h"

static const char *errname(int e) {
	switch (e) {
	case EPERM: return "EPERM";
	case EINVAL: return "EINVAL";
	case EFAULT: return "EFAULT";
	case ENOLINK: return "ENOLINK";
	case ENAMETOOLONG: return "ENAMETOOLONG";
	case ECONNREFUSED: return "ECONNREFUSED";
	case ENOENT: return "ENOENT";
	default: return "other";
	}
}

static void fmt(const struct sockaddr_in6 *a, char *out, size_t n) {
	char ip[INET6_ADDRSTRLEN];
	inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
	snprintf(out, n, "[%s]:%u", ip, ntohs(a->sin6_port));
}

static void serve(int fd, const char *mode) {
	struct sockaddr_in6 l = {0}, r = {0};
	socklen_t ll = sizeof l, rl = sizeof r;
	char buf[256], ls[80], rs[80];
	getsockname(fd, (struct sockaddr *)&l, &ll);
	getpeername(fd, (struct sockaddr *)&r, &rl);
	fmt(&l, ls, sizeof ls);
	fmt(&r, rs, sizeof rs);
	if (read(fd, buf, sizeof buf) <= 0) { close(fd); return; }
	int n = snprintf(buf, sizeof buf, "capi-%s local=%s peer=%s\n", mode, ls, rs);
	if (write(fd, buf, n) != n) perror("write");
	close(fd);
	printf("served %s\n", ls);
	fflush(stdout);
}

#define CHECK(cond) do { if (!(cond)) { printf("FAIL line %d: %s\n", __LINE__, #cond); return 1; } } while (0)

static int pure(void) {
	CHECK(sizeof(struct skbox_reg_request) == 8 && sizeof(struct skbox_reg_response) == 4);
	uint16_t f[32];
	CHECK(skbox_parse_port_filter(NULL, f) == 0 && skbox_parse_port_filter("", f) == 0);
	CHECK(skbox_parse_port_filter("1024,0x400,8080", f) == 1);
	CHECK(skbox_check_port_filter(80, f) == 1 && skbox_check_port_filter(8080, f) == 1);
	CHECK(skbox_check_port_filter(8081, f) == 0 && skbox_check_port_filter(0, f) == 0);
	CHECK(skbox_parse_port_filter("70000", f) == -1);
	char num[6] = {0};
	skbox_int16tonum(443, num);
	CHECK(strcmp(num, "00443") == 0);
	struct sockaddr_in6 a = {AF_INET6, htons(80), 0, {{{0}}}, 0};
	inet_pton(AF_INET6, "fd00:1::2", &a.sin6_addr);
	struct sockaddr_un u = {AF_UNIX, "/run/#//0_/#//7_-#//P_"};
	skbox_sockaddr_un_subst(&a, &u, strlen(u.sun_path));
	CHECK(strcmp(u.sun_path, "/run/64768/00002-00080") == 0);
	errno = 0;
	CHECK(skbox_new(NULL) == -1 && errno == EFAULT);
	char longp[200];
	memset(longp, 'x', sizeof longp - 1);
	longp[0] = '/';
	longp[sizeof longp - 1] = 0;
	CHECK(skbox_new(longp) == -1 && errno == ENAMETOOLONG);
	CHECK(skbox_register_bind("", 1) == -1 && errno == EFAULT);
	/* send a pipe then a stream socket: at validation level 2 the pipe is skipped */
	int sp[2], p[2], st[2];
	CHECK(socketpair(AF_UNIX, SOCK_DGRAM, 0, sp) == 0 && pipe(p) == 0);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, st) == 0);
	CHECK(skbox_getsockopt_integer(st[0], SOL_SOCKET, SO_TYPE) == SOCK_STREAM);
	CHECK(skbox_send_fd(sp[0], p[0], NULL, 0) == 0 && skbox_send_fd(sp[0], st[0], NULL, 0) == 0);
	skbox_set_validation_level(2);
	int got = skbox_receive_fd_from_socket(sp[1]);
	CHECK(got >= 0 && skbox_getsockopt_integer(got, SOL_SOCKET, SO_TYPE) == SOCK_STREAM);
	CHECK(fcntl(got, F_GETFD) & FD_CLOEXEC);
	CHECK(skbox_make_fd_nonblocking(got) == 0 && (fcntl(got, F_GETFL) & O_NONBLOCK));
	/* level 0: the pipe is taken */
	CHECK(skbox_send_fd(sp[0], p[1], NULL, 0) == 0);
	skbox_set_validation_level(0);
	int gp = skbox_receive_fd_from_socket(sp[1]);
	CHECK(gp >= 0 && skbox_getsockopt_integer(gp, SOL_SOCKET, SO_TYPE) == -1);
	/* a B-style connection that ends: _p gives ENOLINK without signalling */
	int sq[2];
	CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sq) == 0);
	close(sq[0]);
	CHECK(skbox_receive_fd_from_socket_p(sq[1], 1) == -1 && errno == ENOLINK);
	printf("pure ok\n");
	return 0;
}

int main(int argc, char **argv) {
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 2 && !strcmp(argv[1], "pure")) return pure();
	if (argc == 4 && !strcmp(argv[1], "a")) {
		skbox_set_validation_level(-1);
		int s = skbox_new(argv[2]);
		if (s < 0) { perror("skbox_new"); return 1; }
		printf("ready\n");
		for (int i = 0; i < atoi(argv[3]); i++) {
			int fd = skbox_receive_fd_from_socket(s);
			if (fd < 0) { perror("receive"); return 1; }
			serve(fd, "a");
		}
		return 0;
	}
	if (argc == 4 && !strcmp(argv[1], "b")) {
		skbox_set_validation_level(-1);
		int s = skbox_register_bind(argv[2], strtoul(argv[3], NULL, 0));
		if (s < 0) { printf("register failed %s\n", errname(errno)); return 1; }
		printf("registered\n");
		for (;;) {
			int fd = skbox_receive_fd_from_socket_p(s, 1);
			if (fd < 0) {
				if (errno == ENOLINK) { printf("enolink\n"); return 0; }
				if (errno == EINTR) continue;
				perror("receive");
				return 1;
			}
			serve(fd, "b");
		}
	}
	if (argc == 4 && !strcmp(argv[1], "refused")) {
		int s = skbox_register_bind(argv[2], strtoul(argv[3], NULL, 0));
		printf("%s %s\n", s < 0 ? "refused" : "registered", s < 0 ? errname(errno) : "-");
		return 0;
	}
	fprintf(stderr, "usage: see the comment at the top\n");
	return 2;
}
