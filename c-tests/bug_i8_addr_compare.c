/* ip2unix bug I8: rule addresses were compared as text, so
 * addr=0:0:0:0:0:0:0:1 never matched ::1.  Addresses must compare as
 * addresses: the long form, a bracketed form and a CIDR all match the
 * program's ::1, and an IPv4-mapped address compares as IPv4. */
#include "harness.h"

int main(void) {
    harness_preload("out,addr=0:0:0:0:0:0:0:1,port=8801,path={D}/peer.sock;"
                    "in,addr=0000:0000::0001,port=8802,path={D}/long-%p.sock;"
                    "in,addr=[::1],port=8803,path={D}/brackets-%p.sock;"
                    "in,addr=::0:1/128,port=8804,path={D}/cidr-%p.sock;"
                    "out,addr=::ffff:127.0.0.1,port=8805,path={D}/peer.sock;"
                    "in,addr=127.0.0.0/8,port=8806,path={D}/mapped-%a.sock");
    native_echo_server(tpath("peer.sock"));
    int c = tcp_connect("::1", 8801);
    CHECK(c >= 0, "addr=0:0:0:0:0:0:0:1 did not match a connect to ::1");
    echo_check(c, "long form matched");
    close(c);

    int l = tcp_listen("::1", 8802);
    CHECK(is_socket_file(tpath("long-8802.sock")), "addr=0000:0000::0001 did not match (dir: %s)",
          list_dir(h_dir));
    close(l);
    l = tcp_listen("::1", 8803);
    CHECK(is_socket_file(tpath("brackets-8803.sock")), "addr=[::1] did not match (dir: %s)", list_dir(h_dir));
    close(l);
    l = tcp_listen("::1", 8804);
    CHECK(is_socket_file(tpath("cidr-8804.sock")), "addr=::0:1/128 did not match (dir: %s)", list_dir(h_dir));
    close(l);

    /* rule written as ::ffff:127.0.0.1 matches an AF_INET connect to 127.0.0.1 */
    c = tcp_connect("127.0.0.1", 8805);
    CHECK(c >= 0, "addr=::ffff:127.0.0.1 did not match 127.0.0.1");
    echo_check(c, "mapped rule, IPv4 program");
    close(c);
    /* and an IPv4 rule matches an AF_INET6 program using ::ffff:127.0.0.1 (as Java does);
     * %a prints the mapped address as IPv4 */
    l = tcp_listen("::ffff:127.0.0.1", 8806);
    CHECK(is_socket_file(tpath("mapped-127.0.0.1.sock")), "IPv4 rule did not match ::ffff:127.0.0.1 (dir: %s)",
          list_dir(h_dir));
    haddr_t n = sock_name(l);
    CHECK_ADDR(n, "::ffff:127.0.0.1", 8806);
    close(l);
    return 0;
}
