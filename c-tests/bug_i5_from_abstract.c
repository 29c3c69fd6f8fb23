/* ip2unix bug I5: from-abstract rules never matched.  A program that binds
 * the abstract name "myapp-{U}-srv" and one that connects to "peer-{U}" are
 * redirected by from-abstract rules to socket files: the server's bind
 * creates {D}/app.sock (reached by a native client through that path, and not
 * at the original abstract name), and the client's connect reaches a native
 * server at {D}/peer.sock. */
#include "harness.h"

int main(void) {
    harness_preload("in,from-abstract=myapp-*-srv,path={D}/app.sock;"
                    "out,from-abstract=peer-*,path={D}/peer.sock");
    char name[256];
    snprintf(name, sizeof name, "myapp-%s-srv", h_uniq);
    int l = abstract_listen(name); /* the program's own abstract bind */
    char *app = tpath("app.sock");
    CHECK(is_socket_file(app), "from-abstract bind not redirected to %s (dir: %s)", app, list_dir(h_dir));
    echo_server_thread(l);
    int u = unix_connect_ok(app);
    echo_check(u, "through the redirected path");
    close(u);
    /* the original abstract name is not bound */
    CHECK_ERRNO(abstract_connect(name), ECONNREFUSED);

    native_echo_server(tpath("peer.sock"));
    snprintf(name, sizeof name, "peer-%s", h_uniq);
    int c = abstract_connect(name); /* nothing listens at that abstract name */
    CHECK(c >= 0, "from-abstract connect to @%s not redirected to peer.sock", name);
    echo_check(c, "abstract client redirected");
    close(c);
    return 0;
}
