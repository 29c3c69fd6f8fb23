/* Rule matching by type and direction (docs "Rules"): a udp rule never
 * matches a TCP socket; an out rule never matches a bind and an in rule never
 * matches a connect; a rule without direction or type matches both. */
#include "harness.h"

int main(void) {
    harness_preload("in,udp,port=10001,path={D}/udp-%p.sock;"
                    "out,port=10002,path={D}/out-%p.sock;"
                    "in,port=10003,path={D}/in-%p.sock;"
                    "tcp,port=10004,path={D}/both-%p.sock");
    /* udp rule, TCP bind: real TCP */
    int s = tcp_socket(AF_INET);
    set_sockopt_int(s, SOL_SOCKET, SO_REUSEADDR, 1);
    haddr_t a = haddr("127.0.0.1", 10001);
    CHECK(bind(s, SA(a)) == 0, "bind");
    CHECK(!path_exists(tpath("udp-10001.sock")) && sockopt_int(s, SOL_SOCKET, SO_DOMAIN) == AF_INET,
          "udp rule converted a TCP bind");
    close(s);
    /* out rule, bind: real */
    s = tcp_socket(AF_INET);
    set_sockopt_int(s, SOL_SOCKET, SO_REUSEADDR, 1);
    a = haddr("127.0.0.1", 10002);
    CHECK(bind(s, SA(a)) == 0, "bind");
    CHECK(count_dir(h_dir) == 0, "out rule converted a bind (dir: %s)", list_dir(h_dir));
    close(s);
    /* in rule, connect: real (nothing listens on 127.0.0.1:10003 -> refused by the kernel) */
    int pl = unix_listen(tpath("in-10003.sock")); /* a trap: reaching it would be wrong */
    CHECK_ERRNO(tcp_connect("127.0.0.1", 10003), ECONNREFUSED);
    fcntl(pl, F_SETFL, O_NONBLOCK);
    CHECK(accept(pl, NULL, NULL) < 0 && errno == EAGAIN, "in rule converted a connect");
    close(pl);
    unlink(tpath("in-10003.sock"));
    /* no direction: both */
    int l = tcp_listen("127.0.0.1", 10004);
    CHECK(is_socket_file(tpath("both-10004.sock")), "direction-less rule did not match bind (dir: %s)",
          list_dir(h_dir));
    echo_server_thread(l);
    int c = tcp_connect_ok("127.0.0.1", 10004);
    echo_check(c, "direction-less rule matched connect");
    return 0;
}
