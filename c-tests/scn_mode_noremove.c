/* Flags (docs "Rules"): mode=0660 chmods the socket file right after bind;
 * noremove keeps the file after the last close.  Without noremove the file is
 * unlinked on close. */
#include "harness.h"

int main(void) {
    harness_preload("in,port=9401,path={D}/mode.sock,mode=0660;"
                    "in,port=9402,path={D}/keep.sock,noremove;"
                    "in,port=9403,path={D}/plain.sock;"
                    "out,port=9402,path={D}/keep.sock");
    struct stat st;
    int l1 = tcp_listen("127.0.0.1", 9401);
    CHECK(lstat(tpath("mode.sock"), &st) == 0 && S_ISSOCK(st.st_mode), "mode.sock missing (dir: %s)",
          list_dir(h_dir));
    CHECK((st.st_mode & 07777) == 0660, "mode.sock has mode %04o, expected 0660", st.st_mode & 07777);

    int l2 = tcp_listen("127.0.0.1", 9402);
    CHECK(is_socket_file(tpath("keep.sock")), "keep.sock missing");
    close(l2);
    CHECK(is_socket_file(tpath("keep.sock")), "noremove file was unlinked on close");
    /* the kept file is dead: a client through it is refused, and a new bind replaces it */
    CHECK_ERRNO(tcp_connect("127.0.0.1", 9402), ECONNREFUSED);
    l2 = tcp_listen("127.0.0.1", 9402);
    echo_server_thread(l2);
    int c = tcp_connect_ok("127.0.0.1", 9402);
    echo_check(c, "rebound over the kept file");
    close(c);

    int l3 = tcp_listen("127.0.0.1", 9403);
    CHECK(is_socket_file(tpath("plain.sock")), "plain.sock missing");
    close(l3);
    CHECK(!path_exists(tpath("plain.sock")), "plain.sock not unlinked on close");
    close(l1);
    CHECK(!path_exists(tpath("mode.sock")), "mode.sock not unlinked on close");
    return 0;
}
