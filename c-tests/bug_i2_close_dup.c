/* ip2unix bug I2: close(dupfd) closed the original fd.  close(dup(fd)) must
 * leave a converted listener and a converted client fully working (and still
 * looking like TCP: the shim's per-socket state must survive too). */
#include "harness.h"

int main(void) {
    harness_preload("in,port=8501,path={D}/%p.sock;out,port=8501,path={D}/%p.sock");
    char *path = tpath("8501.sock");
    int l = tcp_listen("127.0.0.1", 8501);
    CHECK(is_socket_file(path), "not converted (dir: %s)", list_dir(h_dir));
    CHECK(close(dup(l)) == 0, "close(dup(listener))");
    CHECK(fd_is_open(l), "listener fd closed by close(dup)");
    CHECK(is_socket_file(path), "socket file removed by close(dup)");
    haddr_t ln = sock_name(l);
    CHECK_ADDR(ln, "127.0.0.1", 8501);
    echo_server_thread(l);

    int c = tcp_connect_ok("127.0.0.1", 8501);
    CHECK(close(dup(c)) == 0, "close(dup(client))");
    CHECK(fd_is_open(c), "client fd closed by close(dup)");
    echo_check(c, "still connected");
    haddr_t cp = peer_name(c);
    CHECK_ADDR(cp, "127.0.0.1", 8501);
    CHECK(sockopt_int(c, SOL_SOCKET, SO_DOMAIN) == AF_INET, "client SO_DOMAIN after close(dup)");
    int d2 = dup2(c, 100);
    CHECK(d2 == 100 && close(d2) == 0, "close(dup2)");
    echo_check(c, "still connected after dup2");

    /* new connections still reach the listener */
    int c2 = tcp_connect_ok("127.0.0.1", 8501);
    echo_check(c2, "listener still accepts");
    return 0;
}
