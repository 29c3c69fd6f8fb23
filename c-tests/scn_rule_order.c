/* ip2unix scenario: rule order, the first matching rule wins.
 *  - two rules for the same port: the first one's path is used;
 *  - a general rule before a specific one: the general rule wins. */
#include "harness.h"

int main(void) {
    harness_preload("in,port=5601,path={D}/first-%p.sock;"
                    "in,port=5601,path={D}/second-%p.sock;"
                    "in,addr=127.0.0.1,path={D}/general-%p.sock;"
                    "in,port=5602,path={D}/specific-%p.sock");
    int l1 = tcp_listen("127.0.0.1", 5601);
    CHECK(is_socket_file(tpath("first-5601.sock")), "first rule not used (dir: %s)", list_dir(h_dir));
    CHECK(!path_exists(tpath("second-5601.sock")), "second rule also used");

    int l2 = tcp_listen("127.0.0.1", 5602);
    CHECK(is_socket_file(tpath("general-5602.sock")), "earlier general rule not used (dir: %s)",
          list_dir(h_dir));
    CHECK(!path_exists(tpath("specific-5602.sock")), "later specific rule used");

    /* ::1 is not matched by the general rule (addr=127.0.0.1): the specific one applies */
    int l3 = tcp_listen("::1", 5602);
    CHECK(is_socket_file(tpath("specific-5602.sock")), "specific rule not used for [::1]:5602 (dir: %s)",
          list_dir(h_dir));
    CHECK(count_dir(h_dir) == 3, "dir holds: %s", list_dir(h_dir));
    close(l1);
    close(l2);
    close(l3);
    return 0;
}
