/* F_SETSIG and F_SETOWN_EX set before bind survive the swap (docs: a
 * converted socket keeps "owner and signal (F_SETOWN/F_SETSIG)").  With
 * F_SETSIG(SIGRTMIN+2) the readiness signal is SIGRTMIN+2 carrying si_fd of
 * the listener, and F_GETOWN_EX returns the owner that was set. */
#include "harness.h"

int main(void) {
    harness_preload("in,port=10401,path={D}/%p.sock");
    int sig = SIGRTMIN + 2;
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, sig);
    sigaddset(&s, SIGIO);
    sigprocmask(SIG_BLOCK, &s, NULL);

    int l = tcp_socket(AF_INET6);
    struct f_owner_ex own = {F_OWNER_PID, getpid()};
    CHECK(fcntl(l, F_SETOWN_EX, &own) == 0, "F_SETOWN_EX");
    CHECK(fcntl(l, F_SETSIG, sig) == 0, "F_SETSIG");
    CHECK(fcntl(l, F_SETFL, fcntl(l, F_GETFL) | O_ASYNC) == 0, "O_ASYNC");
    haddr_t a = haddr("::1", 10401);
    CHECK(bind(l, SA(a)) == 0 && listen(l, 8) == 0, "bind+listen");
    CHECK(is_socket_file(tpath("10401.sock")), "not converted (dir: %s)", list_dir(h_dir));
    CHECK(fcntl(l, F_GETSIG) == sig, "F_GETSIG %d after bind, expected %d", fcntl(l, F_GETSIG), sig);
    struct f_owner_ex got = {0, 0};
    CHECK(fcntl(l, F_GETOWN_EX, &got) == 0 && got.type == F_OWNER_PID && got.pid == getpid(),
          "F_GETOWN_EX type %d pid %d after bind", got.type, got.pid);

    struct timespec zero = {0, 0};
    while (sigtimedwait(&s, NULL, &zero) > 0) {}
    int u = unix_connect_ok(tpath("10401.sock"));
    siginfo_t si;
    struct timespec ts = {3, 0};
    int r = sigtimedwait(&s, &si, &ts);
    CHECK(r == sig, "got signal %d, expected SIGRTMIN+2 (%d)", r, sig);
    CHECK(si.si_fd == l, "si_fd %d, expected the listener fd %d", si.si_fd, l);
    close(u);
    return 0;
}
