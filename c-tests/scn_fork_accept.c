/* ip2unix scenario: fork after listen, both processes accept.  The parent and
 * the forked child each accept exactly one of two connections made by native
 * AF_UNIX clients, and reply with their pid; both pids must come back (so
 * both processes' accept worked on the converted listener).  After the child
 * exits, the socket file is still there and the parent still accepts. */
#include "harness.h"

static int serve_one(int l) {
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    int a = accept(l, (struct sockaddr *)&ss, &sl);
    if (a < 0) return -1;
    if (ss.ss_family != AF_INET) return -2; /* the fake names must work in the child too */
    int32_t pid = getpid();
    write_all(a, &pid, sizeof pid);
    close(a);
    return 0;
}

int main(void) {
    harness_preload("in,port=6401,path={D}/%p.sock");
    int l = tcp_listen("127.0.0.1", 6401);
    char *path = tpath("6401.sock");
    CHECK(is_socket_file(path), "listener not converted (dir: %s)", list_dir(h_dir));

    pid_t kid = harness_fork();
    if (kid == 0) {
        int r = serve_one(l);
        close(l);
        _exit(r == 0 ? 0 : 10 - r);
    }
    /* two clients; each connection is queued until one of the processes accepts it */
    int c1 = unix_connect_ok(path), c2 = unix_connect_ok(path);
    CHECK(serve_one(l) == 0, "parent accept");
    int32_t p1 = 0, p2 = 0;
    CHECK(read_full(c1, &p1, 4) == 4 && read_full(c2, &p2, 4) == 4, "replies");
    INFO("connection 1 served by %d, connection 2 by %d (parent %d, child %d)", p1, p2, getpid(), kid);
    CHECK((p1 == getpid() && p2 == kid) || (p1 == kid && p2 == getpid()),
          "replies from %d and %d, expected parent %d and child %d", p1, p2, getpid(), kid);
    int st = wait_child(kid);
    CHECK(st == 0, "child exited with status %d", st);

    CHECK(is_socket_file(path), "child's exit removed the parent's socket file");
    int c3 = unix_connect_ok(path);
    CHECK(serve_one(l) == 0, "parent accept after the child exited");
    close(c1);
    close(c2);
    close(c3);
    return 0;
}
