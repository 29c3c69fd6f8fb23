/* ip2unix bug I6: an in,from-unix rule turned the program's bind into a
 * connect.  The program binds AF_UNIX {D}/orig-1.sock and serves on it; the
 * rule moves it to {D}/new.sock.  new.sock must exist, orig-1.sock must not,
 * and a native client reaching new.sock must be served by the program's
 * accept loop (so the bind stayed a bind).  An out,from-unix rule likewise
 * sends a connect to {D}/want.sock on to {D}/real.sock. */
#include "harness.h"

int main(void) {
    harness_preload("in,from-unix={D}/orig-*.sock,path={D}/new.sock;"
                    "out,from-unix={D}/want.sock,path={D}/real.sock");
    char *orig = tpath("orig-1.sock"), *neu = tpath("new.sock");
    int l = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un ua;
    socklen_t ul = unix_addr(&ua, orig);
    CHECK(bind(l, (struct sockaddr *)&ua, ul) == 0, "bind of the program's Unix path");
    CHECK(listen(l, 8) == 0, "listen (the bind must have stayed a bind)");
    CHECK(is_socket_file(neu), "new.sock missing (dir: %s)", list_dir(h_dir));
    CHECK(!path_exists(orig), "orig-1.sock was created too");
    echo_server_thread(l);

    /* a native client outside the rules: connect() to new.sock is not matched
     * by the in-rule (it is an out call, and new.sock is not orig-*) */
    int u = unix_connect_ok(neu);
    echo_check(u, "served by the program");
    close(u);

    /* out direction */
    native_echo_server(tpath("real.sock"));
    int c = unix_connect(tpath("want.sock"));
    CHECK(c >= 0, "connect to want.sock not redirected to real.sock");
    echo_check(c, "out from-unix");
    close(c);
    CHECK(!path_exists(tpath("want.sock")), "want.sock created");
    return 0;
}
