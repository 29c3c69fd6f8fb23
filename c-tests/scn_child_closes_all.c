/* ip2unix scenario: a child that closes all its fds must not remove the
 * parent's socket file.  Three children: one closes 3..1023 in a loop, one
 * uses close_range(3, ~0U), one closes everything then exits through exit()
 * (atexit handlers, stdio).  The parent's listener file must survive each,
 * and the parent must still accept. */
#include "harness.h"

int main(void) {
    harness_preload("in,port=6501,path={D}/%p.sock");
    int l = tcp_listen("::1", 6501);
    char *path = tpath("6501.sock");
    CHECK(is_socket_file(path), "listener not converted (dir: %s)", list_dir(h_dir));
    /* a dup too, so the child has two descriptors of the socket to close */
    int d = dup(l);
    CHECK(d >= 0, "dup");

    for (int how = 0; how < 3; how++) {
        pid_t kid = harness_fork();
        if (kid == 0) {
            if (how == 1) {
                if (close_range(3, ~0U, 0) != 0) _exit(3);
            } else {
                for (int fd = 3; fd < 1024; fd++) close(fd);
            }
            if (how == 2) exit(0);
            _exit(0);
        }
        int st = wait_child(kid);
        CHECK(st == 0, "child %d exited with %d", how, st);
        CHECK(is_socket_file(path), "child %d (%s) removed the parent's socket file", how,
              how == 0 ? "close loop" : how == 1 ? "close_range" : "close loop + exit()");
        int u = unix_connect_ok(path);
        int a = accept(l, NULL, NULL);
        CHECK(a >= 0, "parent accept after child %d", how);
        close(a);
        close(u);
    }
    close(d);
    close(l);
    CHECK(!path_exists(path), "parent's last close did not unlink the socket file");
    return 0;
}
