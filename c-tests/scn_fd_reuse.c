/* A converted socket's fd number, once closed, may be reused by anything; the
 * new occupant must not inherit the old socket's fake identity.  The old
 * converted client is closed by close(), dup2() over it, close_range(),
 * closefrom(), and fclose(fdopen()) (glibc closes that one internally, where
 * no preload hook sees it).  Then a native AF_UNIX socket is created on the
 * same fd number: it must report SO_DOMAIN AF_UNIX and its real Unix name. */
#include "harness.h"

static int take_fd(int want) {
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    CHECK(s == want, "native socket got fd %d, wanted the freed %d", s, want);
    return s;
}

int main(void) {
    harness_preload("out,port=10301,path={D}/srv.sock");
    /* the server is a separate process, so this one holds no fds above c */
    native_echo_server(tpath("srv.sock"));
    const char *how[] = {"close", "dup2 over it", "close_range", "closefrom", "fclose(fdopen())"};
    for (int k = 0; k < 5; k++) {
        int c = tcp_connect_ok("127.0.0.1", 10301);
        echo_check(c, how[k]);
        CHECK(sockopt_int(c, SOL_SOCKET, SO_DOMAIN) == AF_INET, "converted client SO_DOMAIN");
        /* nothing else may be open above c, so closefrom(c) closes only c and
         * its new owner gets the same number */
        switch (k) {
        case 0: close(c); break;
        case 1: {
            int tmp = open("/dev/null", O_RDONLY);
            dup2(tmp, c);
            close(tmp);
            close(c);
            break;
        }
        case 2: close_range(c, c, 0); break;
        case 3: closefrom(c); break;
        case 4: {
            FILE *f = fdopen(c, "r+");
            CHECK(f, "fdopen");
            fclose(f);
            break;
        }
        }
        int s = take_fd(c);
        int d = sockopt_int(s, SOL_SOCKET, SO_DOMAIN);
        CHECK(d == AF_UNIX, "after %s: a new AF_UNIX socket on fd %d reports SO_DOMAIN %d", how[k], s, d);
        struct sockaddr_un un;
        socklen_t ul = sizeof un;
        CHECK(getsockname(s, (struct sockaddr *)&un, &ul) == 0, "getsockname");
        CHECK(un.sun_family == AF_UNIX, "after %s: the new socket's getsockname says family %d", how[k],
              un.sun_family);
        /* and it works as the native socket it is */
        struct sockaddr_un ua;
        socklen_t al = unix_addr(&ua, tpath("srv.sock"));
        CHECK(connect(s, (struct sockaddr *)&ua, al) == 0, "native connect on the reused fd");
        echo_check(s, "native");
        ul = sizeof un;
        CHECK(getpeername(s, (struct sockaddr *)&un, &ul) == 0 && un.sun_family == AF_UNIX,
              "after %s: getpeername of the native socket is family %d", how[k], un.sun_family);
        close(s);
    }
    return 0;
}
