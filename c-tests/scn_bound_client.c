/* A client that binds to port 0 before connecting (source-address selection,
 * curl --local-port style): the bind matches no rule and stays real, then the
 * connect matches an out rule.  The connect must still be converted and reach
 * the native server behind the socket file. */
#include "harness.h"

int main(void) {
    harness_preload("out,port=10101,path={D}/srv.sock");
    /* a native server: only a converted connect can reach it */
    native_echo_server(tpath("srv.sock"));
    const char *ips[] = {"127.0.0.1", "0.0.0.0"};
    for (int i = 0; i < 2; i++) {
        int c = tcp_bind(ips[i], 0);
        haddr_t a = haddr("127.0.0.1", 10101);
        CHECK(connect(c, SA(a)) == 0, "connect after bind(%s:0)", ips[i]);
        echo_check(c, "bound client reached the converted server");
        haddr_t p = peer_name(c);
        CHECK_ADDR(p, "127.0.0.1", 10101);
        close(c);
    }
    return 0;
}
