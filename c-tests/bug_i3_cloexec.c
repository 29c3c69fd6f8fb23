/* ip2unix bug I3: FD_CLOEXEC was lost on conversion.  Converted sockets with
 * FD_CLOEXEC (set by SOCK_CLOEXEC or fcntl) keep it and really are closed
 * across exec; converted sockets without it stay open across exec.  Checked
 * by re-executing this program in "check" mode with the fd numbers. */
#include "harness.h"

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "check") == 0) {
        /* after exec: argv[2] fds must be closed, argv[3] fds open */
        char *save, *tok;
        for (tok = strtok_r(argv[2], ",", &save); tok; tok = strtok_r(NULL, ",", &save))
            if (fcntl(atoi(tok), F_GETFD) != -1) { printf("fd %s survived exec despite FD_CLOEXEC\n", tok); return 1; }
        for (tok = strtok_r(argv[3], ",", &save); tok; tok = strtok_r(NULL, ",", &save))
            if (fcntl(atoi(tok), F_GETFD) == -1) { printf("fd %s without FD_CLOEXEC was closed by exec\n", tok); return 1; }
        return 0;
    }
    harness_preload("in,port=8601-8604,path={D}/%p.sock;out,port=8611-8612,path={D}/peer.sock");
    int pl = unix_listen(tpath("peer.sock"));
    echo_server_thread(pl);

    int l1 = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int l2 = socket(AF_INET6, SOCK_STREAM, 0);
    fcntl(l2, F_SETFD, FD_CLOEXEC);
    int l3 = socket(AF_INET, SOCK_STREAM, 0); /* no CLOEXEC */
    haddr_t a1 = haddr("127.0.0.1", 8601), a2 = haddr("::1", 8602), a3 = haddr("127.0.0.1", 8603);
    CHECK(bind(l1, SA(a1)) == 0 && bind(l2, SA(a2)) == 0 && bind(l3, SA(a3)) == 0, "bind");
    CHECK(listen(l1, 4) == 0 && listen(l2, 4) == 0 && listen(l3, 4) == 0, "listen");
    CHECK(count_dir(h_dir) == 4, "binds not converted (dir: %s)", list_dir(h_dir));
    CHECK(fd_cloexec(l1), "SOCK_CLOEXEC lost on bind");
    CHECK(fd_cloexec(l2), "fcntl FD_CLOEXEC lost on bind");
    CHECK(!fd_cloexec(l3), "FD_CLOEXEC appeared on bind");

    int c1 = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int c2 = socket(AF_INET, SOCK_STREAM, 0); /* no CLOEXEC */
    haddr_t b1 = haddr("127.0.0.1", 8611), b2 = haddr("127.0.0.1", 8612);
    CHECK(connect(c1, SA(b1)) == 0 && connect(c2, SA(b2)) == 0, "converted connect");
    CHECK(fd_cloexec(c1), "SOCK_CLOEXEC lost on connect");
    CHECK(!fd_cloexec(c2), "FD_CLOEXEC appeared on connect");
    echo_check(c1, "c1");
    echo_check(c2, "c2");

    char closed[64], open_[64];
    snprintf(closed, sizeof closed, "%d,%d,%d", l1, l2, c1);
    snprintf(open_, sizeof open_, "%d,%d", l3, c2);
    pid_t p = harness_fork();
    if (p == 0) {
        execl("/proc/self/exe", "bug_i3_cloexec", "check", closed, open_, (char *)NULL);
        _exit(99);
    }
    int st = wait_child(p);
    CHECK(st == 0, "exec check failed with status %d", st);
    return 0;
}
