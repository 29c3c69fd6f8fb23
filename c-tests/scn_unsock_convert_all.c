/* unsock variable UNSOCK_ACCEPT_CONVERT_ALL=1: an address other than
 * AF_INET/AF_INET6 returned by accept, getsockname or getpeername (here from
 * the program's own native AF_UNIX sockets) is reported as AF_INET
 * UNSOCK_ADDR:UNSOCK_PORT. */
#include "harness.h"

static void check_inet(const struct sockaddr_in *s, socklen_t l, const char *what) {
    CHECK(l == sizeof *s && s->sin_family == AF_INET && strcmp(sa_ip((const struct sockaddr *)s), "127.175.0.0") == 0 &&
              ntohs(s->sin_port) == 9801,
          "%s: %s (len %u), expected 127.175.0.0:9801", what, sa_str((const struct sockaddr *)s), (unsigned)l);
}

int main(void) {
    harness_preload_env(NULL, "UNSOCK_DIR={D}", "UNSOCK_PORT=9801", "UNSOCK_ACCEPT_CONVERT_ALL=1",
                        (const char *)NULL);
    int l = unix_listen(tpath("native.sock"));
    int c = unix_connect_ok(tpath("native.sock"));
    struct sockaddr_in s;
    socklen_t sl = sizeof s;
    int a = accept(l, (struct sockaddr *)&s, &sl);
    CHECK(a >= 0, "accept");
    check_inet(&s, sl, "accept");
    sl = sizeof s;
    CHECK(getsockname(l, (struct sockaddr *)&s, &sl) == 0, "getsockname");
    check_inet(&s, sl, "getsockname of a Unix listener");
    sl = sizeof s;
    CHECK(getpeername(c, (struct sockaddr *)&s, &sl) == 0, "getpeername");
    check_inet(&s, sl, "getpeername of a Unix client");
    return 0;
}
