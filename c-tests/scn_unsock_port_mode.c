/* unsock variables (docs "unsock compatibility"): UNSOCK_DIR is created (mode
 * 0755) if missing; UNSOCK_PORT covers only that port and is the port reported
 * for converted peers; UNSOCK_MODE chmods each socket file bound. */
#include "harness.h"

int main(void) {
    harness_preload_env(NULL, "UNSOCK_DIR={D}/udir", "UNSOCK_PORT=9601", "UNSOCK_MODE=0640",
                        (const char *)NULL);
    mode_t um = umask(0);
    umask(um);
    int l = tcp_listen("127.175.0.0", 9601);
    char *path = tpath("udir/9601.sock");
    struct stat st;
    CHECK(stat(tpath("udir"), &st) == 0 && S_ISDIR(st.st_mode), "UNSOCK_DIR not created");
    CHECK((st.st_mode & 0777) == (0755 & ~um), "UNSOCK_DIR mode %04o, expected 0755 (umask %03o)",
          st.st_mode & 0777, um);
    CHECK(lstat(path, &st) == 0 && S_ISSOCK(st.st_mode), "no socket file (dir: %s)", list_dir(tpath("udir")));
    CHECK((st.st_mode & 0777) == 0640, "socket file mode %04o, expected 0640", st.st_mode & 0777);

    /* the accepted peer is UNSOCK_ADDR:UNSOCK_PORT */
    int c = tcp_connect_ok("127.175.0.0", 9601);
    struct sockaddr_in peer;
    socklen_t pl = sizeof peer;
    int a = accept(l, (struct sockaddr *)&peer, &pl);
    CHECK(a >= 0, "accept");
    CHECK(pl == sizeof peer && peer.sin_family == AF_INET &&
              strcmp(sa_ip((struct sockaddr *)&peer), "127.175.0.0") == 0 && ntohs(peer.sin_port) == 9601,
          "accepted peer %s, expected 127.175.0.0:9601", sa_str((struct sockaddr *)&peer));
    close(a);
    close(c);

    /* another port on the covered address is not covered: a real TCP socket */
    int r = tcp_listen("127.175.0.0", 0);
    CHECK(sockopt_int(r, SOL_SOCKET, SO_DOMAIN) == AF_INET, "port 0 converted");
    haddr_t n = sock_name(r);
    int port = sa_port((struct sockaddr *)&n.ss);
    CHECK(port != 0 && !path_exists(tpath("udir/%d.sock", port)), "uncovered port %d converted", port);
    int rc = tcp_connect_ok("127.175.0.0", port);
    close(rc);
    return 0;
}
