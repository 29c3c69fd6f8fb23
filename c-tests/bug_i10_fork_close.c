/* ip2unix bug I10 (their issue #16, JVMs hit it as #28): a forked child's
 * close unlinked the parent's socket file.  The child closes the converted
 * listener (and a dup of it) explicitly and exits; another child just exits.
 * The parent's file must still be there and the parent must still accept. */
#include "harness.h"

int main(void) {
    harness_preload("in,port=9001,path={D}/%p.sock");
    int l = tcp_listen("127.0.0.1", 9001);
    char *path = tpath("9001.sock");
    CHECK(is_socket_file(path), "not converted (dir: %s)", list_dir(h_dir));

    pid_t kid = harness_fork();
    if (kid == 0) {
        int d = dup(l);
        close(l);
        close(d);
        _exit(0);
    }
    CHECK(wait_child(kid) == 0, "child failed");
    CHECK(is_socket_file(path), "the child's close() unlinked the parent's socket file");

    kid = harness_fork();
    if (kid == 0) _exit(0);
    CHECK(wait_child(kid) == 0, "child failed");
    CHECK(is_socket_file(path), "the child's exit unlinked the parent's socket file");

    int u = unix_connect_ok(path);
    int a = accept(l, NULL, NULL);
    CHECK(a >= 0, "parent accept after the children");
    close(a);
    close(u);
    close(l);
    CHECK(!path_exists(path), "parent's close did not unlink");
    return 0;
}
