/* A vfork child shares the parent's memory (CPython's subprocess and
 * posix_spawn use vfork).  A vfork child that closes the converted listener
 * before _exit must neither unlink the parent's socket file nor corrupt the
 * parent's view of the socket (it still looks like TCP, still accepts, and
 * the parent's own close still unlinks). */
#include "harness.h"

int main(void) {
    harness_preload("in,port=9951,path={D}/%p.sock");
    int l = tcp_listen("127.0.0.1", 9951);
    char *path = tpath("9951.sock");
    CHECK(is_socket_file(path), "not converted (dir: %s)", list_dir(h_dir));

    pid_t p = vfork();
    if (p == 0) {
        close(l);
        _exit(0);
    }
    CHECK(p > 0, "vfork");
    int st;
    CHECK(waitpid(p, &st, 0) == p && WIFEXITED(st) && WEXITSTATUS(st) == 0, "vfork child");
    CHECK(is_socket_file(path), "vfork child's close unlinked the parent's socket file");
    CHECK(sockopt_int(l, SOL_SOCKET, SO_DOMAIN) == AF_INET, "parent's socket no longer looks like AF_INET");
    haddr_t n = sock_name(l);
    CHECK_ADDR(n, "127.0.0.1", 9951);
    int u = unix_connect_ok(path);
    int a = accept(l, NULL, NULL);
    CHECK(a >= 0, "parent accept");
    close(a);
    close(u);
    close(l);
    CHECK(!path_exists(path), "parent's close did not unlink after the vfork child");
    return 0;
}
