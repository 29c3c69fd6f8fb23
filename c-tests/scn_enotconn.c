/* Still TCP where it says "not connected": getpeername of a converted
 * listener and of a converted but never-connected bound socket fails with
 * ENOTCONN, as on TCP; after the peer of an accepted connection closes, read
 * returns 0 (EOF) and shutdown(SHUT_WR) of a converted client gives the
 * server EOF while the client can still read the reply. */
#include "harness.h"

int main(void) {
    harness_preload("in,port=10501-10502,path={D}/%p.sock;out,port=10501,path={D}/%p.sock");
    int l = tcp_listen("127.0.0.1", 10501);
    CHECK(is_socket_file(tpath("10501.sock")), "not converted (dir: %s)", list_dir(h_dir));
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    CHECK_ERRNO(getpeername(l, (struct sockaddr *)&ss, &sl), ENOTCONN);
    int b = tcp_bind("::1", 10502);
    sl = sizeof ss;
    CHECK_ERRNO(getpeername(b, (struct sockaddr *)&ss, &sl), ENOTCONN);
    close(b);

    int c = tcp_connect_ok("127.0.0.1", 10501);
    int a = accept(l, NULL, NULL);
    CHECK(a >= 0, "accept");
    CHECK(shutdown(c, SHUT_WR) == 0, "shutdown(SHUT_WR)");
    char buf[8];
    CHECK(read(a, buf, sizeof buf) == 0, "server did not see EOF after the client's SHUT_WR");
    write_all(a, "reply", 5);
    CHECK(read_full(c, buf, 5) == 5 && memcmp(buf, "reply", 5) == 0, "client cannot read after SHUT_WR");
    close(a);
    CHECK(read(c, buf, sizeof buf) == 0, "client did not see EOF");
    close(c);
    return 0;
}
