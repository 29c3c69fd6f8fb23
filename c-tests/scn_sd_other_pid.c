/* A `systemd` rule in a process that inherited another process's
 * activation variables (LISTEN_PID is not this process, as in a child of the
 * activated daemon): the fds are not ours to take.  fd 3, a listening
 * abstract Unix socket, is inherited with LISTEN_FDS=1 but LISTEN_PID=1.  The
 * bind must fail with EADDRNOTAVAIL, fd 3 must stay untouched (still the same
 * socket, accepting on its name), and the program's close(3) must really
 * close it. */
#include "harness.h"
#include "dgram.h"

int main(void) {
    if (!getenv("SOCKSWAP_TEST_CHILD")) {
        /* first stage: make fd 3 a listening (abstract) Unix socket that survives the exec */
        char name[64];
        snprintf(name, sizeof name, "swt-sdpid-%d", (int)getpid());
        int l = abstract_listen(name);
        if (l != 3) {
            CHECK(dup2(l, 3) == 3, "dup2 to 3");
            close(l);
        }
        setenv("SD_INHERITED_NAME", name, 1);
        unsetenv("LISTEN_FDNAMES");
    }
    harness_preload_env("in,tcp,port=8680,systemd", "LISTEN_PID=1", "LISTEN_FDS=1", (const char *)NULL);
    const char *name = getenv("SD_INHERITED_NAME");
    CHECK(fd_is_open(3), "fd 3 was not inherited");

    int s = tcp_socket(AF_INET);
    CHECK(s != 3, "socket() got fd 3");
    haddr_t a = haddr("127.0.0.1", 8680);
    CHECK_ERRNO(bind(s, SA(a)), EADDRNOTAVAIL);

    /* fd 3 is still the inherited listener */
    CHECK(sockopt_int(3, SOL_SOCKET, SO_DOMAIN) == AF_UNIX, "fd 3 is no longer the Unix listener");
    CHECK(sockopt_int(3, SOL_SOCKET, SO_ACCEPTCONN) == 1, "fd 3 is not listening");
    int c = abstract_connect(name);
    CHECK(c >= 0, "connect to the inherited listener @%s", name);
    int acc = accept(3, NULL, NULL);
    CHECK(acc >= 0, "accept on the inherited fd 3");
    close(acc);
    close(c);
    /* and a close(3) by the program closes it for real */
    CHECK(close(3) == 0, "close(3)");
    CHECK(!fd_is_open(3), "fd 3 still open after close(3)");
    CHECK(abstract_connect(name) < 0, "the inherited listener still accepts after close(3)");
    return 0;
}
