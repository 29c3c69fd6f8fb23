/* Path templates (docs "Rules", path=TEMPLATE): %a is the address (IPv4
 * dotted, IPv6 compressed), %p the port, %t "tcp", %% a percent sign; and
 * `\,` / `\;` escape a comma / semicolon inside a value. */
#include "harness.h"

int main(void) {
    harness_preload("in,port=9301-9302,path={D}/%a_%p_%t_%%.sock;"
                    "in,port=9303,path={D}/with\\,comma\\;semi-%p.sock");
    int l4 = tcp_listen("127.0.0.1", 9301);
    CHECK(is_socket_file(tpath("127.0.0.1_9301_tcp_%%.sock")), "IPv4 expansion wrong (dir: %s)", list_dir(h_dir));
    int l6 = tcp_listen("0:0:0:0:0:0:0:1", 9302);
    CHECK(is_socket_file(tpath("::1_9302_tcp_%%.sock")), "IPv6 expansion not compressed (dir: %s)",
          list_dir(h_dir));
    int le = tcp_listen("127.0.0.1", 9303);
    CHECK(is_socket_file(tpath("with,comma;semi-9303.sock")), "escapes not honoured (dir: %s)", list_dir(h_dir));
    close(l4);
    close(l6);
    close(le);
    CHECK(count_dir(h_dir) == 0, "files not unlinked: %s", list_dir(h_dir));
    return 0;
}
