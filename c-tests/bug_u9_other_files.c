/* unsock bug U9: any other file in UNSOCK_DIR made getsockname/getpeername
 * fail with ENOBUFS.  With a README, a subdirectory, a stray socket and a
 * 452-byte non-control file in the directory, converted sockets still report
 * their fake AF_INET names. */
#include "harness.h"

int main(void) {
    harness_preload_env(NULL, "UNSOCK_DIR={D}", (const char *)NULL);
    FILE *f = fopen(tpath("README"), "w");
    fputs("not a socket\n", f);
    fclose(f);
    f = fopen(tpath("9999.sock"), "w");
    for (int i = 0; i < 452; i++) fputc('x', f);
    fclose(f);
    mkdir(tpath("subdir"), 0755);
    int stray = unix_listen(tpath("stray.sock"));
    (void)stray;

    int l = tcp_listen("127.175.0.0", 8301);
    CHECK(is_socket_file(tpath("8301.sock")), "not converted (dir: %s)", list_dir(h_dir));
    haddr_t ln = sock_name(l);
    CHECK_ADDR(ln, "127.175.0.0", 8301);

    int c = tcp_connect_ok("127.175.0.0", 8301);
    haddr_t cp = peer_name(c);
    CHECK_ADDR(cp, "127.175.0.0", 8301);
    haddr_t cn = sock_name(c);
    CHECK(cn.ss.ss_family == AF_INET && cn.len == sizeof(struct sockaddr_in),
          "client getsockname %s", sa_str((struct sockaddr *)&cn.ss));

    struct sockaddr_in peer;
    socklen_t pl = sizeof peer;
    int a = accept(l, (struct sockaddr *)&peer, &pl);
    CHECK(a >= 0, "accept");
    /* unsock mode peer: UNSOCK_ADDR's address, ephemeral port (UNSOCK_PORT unset) */
    CHECK(pl == sizeof peer && peer.sin_family == AF_INET, "accepted peer family %d len %u", peer.sin_family,
          (unsigned)pl);
    CHECK(strcmp(sa_ip((struct sockaddr *)&peer), "127.175.0.0") == 0, "accepted peer %s",
          sa_str((struct sockaddr *)&peer));
    haddr_t ap = peer_name(a);
    CHECK(ap.len == pl && memcmp(&ap.ss, &peer, pl) == 0, "getpeername %s != accept's %s",
          sa_str((struct sockaddr *)&ap.ss), sa_str((struct sockaddr *)&peer));
    haddr_t an = sock_name(a);
    CHECK_ADDR(an, "127.175.0.0", 8301);
    /* the 452-byte file that is not a control file is left alone */
    struct stat st;
    CHECK(stat(tpath("9999.sock"), &st) == 0 && st.st_size == 452, "9999.sock touched");
    return 0;
}
