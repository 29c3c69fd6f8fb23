/* systemd socket activation, plain `systemd` rule, under a real
 * systemd-socket-activate (see sd.h).
 *  (a) -l {D}/web.sock (a Unix socket) passed to a program that binds
 *      127.0.0.1:8080 over AF_INET: bind takes the passed socket, listen is
 *      a no-op, getsockname reports 127.0.0.1:8080, accept reports loopback
 *      peers, the passed fd number does not stay open beside the program's
 *      socket, and two connections in a row are served; the program's close
 *      does not unlink systemd's socket file.
 *  (b) -l 127.0.0.1:P (a real TCP socket, the program's own family) passed to
 *      a program binding 0.0.0.0:8081: it stays a real socket and
 *      getsockname tells the truth (127.0.0.1:P). */
#include "harness.h"
#include "dgram.h"
#include "sd.h"

static void report_and_echo(int l, const char *local_ip, int local_port) {
    for (int i = 0; i < 2; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int c = accept(l, (struct sockaddr *)&ss, &sl);
        CHECK(c >= 0, "server: accept %d", i);
        haddr_t peer = {.ss = ss, .len = sl};
        CHECK(peer.ss.ss_family == AF_INET && strcmp(sa_ip((struct sockaddr *)&ss), "127.0.0.1") == 0 &&
                  sa_port((struct sockaddr *)&ss) >= 1024,
              "server: accept reported peer %s (len %u)", sa_str((struct sockaddr *)&ss), (unsigned)sl);
        haddr_t pn = peer_name(c);
        CHECK(pn.len == peer.len && memcmp(&pn.ss, &peer.ss, pn.len) == 0, "server: getpeername %s != accept's %s",
              sa_str((struct sockaddr *)&pn.ss), sa_str((struct sockaddr *)&ss));
        haddr_t ln = sock_name(c);
        CHECK_ADDR(ln, local_ip, local_port);
        CHECK(sockopt_int(c, SOL_SOCKET, SO_DOMAIN) == AF_INET, "server: accepted SO_DOMAIN");
        write_all(c, "ready\n", 6);
        echo_serve(c);
    }
}

static void server(const char *role) {
    sd_server_setup();
    CHECK(getenv("LISTEN_FDS") && strcmp(getenv("LISTEN_FDS"), "1") == 0, "server: LISTEN_FDS=%s",
          getenv("LISTEN_FDS") ? getenv("LISTEN_FDS") : "(unset)");
    if (strcmp(role, "unix") == 0) {
        int l = tcp_socket(AF_INET);
        CHECK(l != 3, "socket() returned the passed fd 3");
        haddr_t a = haddr("127.0.0.1", 8080);
        CHECK(bind(l, SA(a)) == 0, "server: bind 127.0.0.1:8080 with a systemd rule");
        CHECK(listen(l, 5) == 0, "server: listen on the passed socket");
        CHECK(!fd_is_open(3), "server: the passed fd 3 is still open beside the program's socket %d", l);
        haddr_t n = sock_name(l);
        CHECK_ADDR(n, "127.0.0.1", 8080);
        CHECK(sockopt_int(l, SOL_SOCKET, SO_DOMAIN) == AF_INET, "server: SO_DOMAIN");
        CHECK(sockopt_int(l, SOL_SOCKET, SO_TYPE) == SOCK_STREAM, "server: SO_TYPE");
        CHECK(sockopt_int(l, SOL_SOCKET, SO_ACCEPTCONN) == 1, "server: SO_ACCEPTCONN");
        CHECK(!fd_nonblock(l), "server: the program's blocking socket became non-blocking");
        report_and_echo(l, "127.0.0.1", 8080);
        /* closing it must not remove systemd's socket file */
        close(l);
        CHECK(is_socket_file(tpath("web.sock")), "server: closing the activated socket removed web.sock");
    } else {
        int want_port = atoi(getenv("SD_EXPECT_PORT"));
        int l = tcp_socket(AF_INET);
        haddr_t a = haddr("0.0.0.0", 8081);
        CHECK(bind(l, SA(a)) == 0, "server: bind 0.0.0.0:8081 with a systemd rule");
        CHECK(listen(l, 5) == 0, "server: listen");
        haddr_t n = sock_name(l);
        CHECK_ADDR(n, "127.0.0.1", want_port);
        report_and_echo(l, "127.0.0.1", want_port);
    }
    exit(0);
}

static void client_round(int c) {
    char *line = read_line(c);
    CHECK(strcmp(line, "ready") == 0, "server said '%s'", line);
    echo_check(c, "hello activated server");
    close(c);
}

int main(void) {
    if (sd_role()) server(sd_role());
    sd_driver_setup();

    /* (a) a Unix socket passed to an AF_INET program */
    const char *ua[] = {"-l", "{D}/web.sock", NULL};
    pid_t sa = sd_launch("unix", "in,tcp,addr=127.0.0.1,port=8080,systemd", ua, NULL);
    char *sock = tpath("web.sock");
    sd_wait_socket(sock, sa);
    client_round(sd_connect(sock));
    client_round(sd_connect(sock));
    sd_expect_server_ok(sa);
    CHECK(is_socket_file(sock), "the activation socket file %s is gone after the server exited", sock);

    /* (b) a real TCP socket of the program's family */
    int probe = tcp_bind("127.0.0.1", 0);
    haddr_t pn = sock_name(probe);
    int port = sa_port((struct sockaddr *)&pn.ss);
    close(probe);
    char lst[64], env[64];
    snprintf(lst, sizeof lst, "127.0.0.1:%d", port);
    snprintf(env, sizeof env, "SD_EXPECT_PORT=%d", port);
    const char *ta[] = {"-l", lst, NULL};
    const char *te[] = {env, NULL};
    sa = sd_launch("tcp", "in,tcp,port=8081,systemd", ta, te);
    int c = -1;
    for (long dl = now_ms() + 10000; c < 0 && now_ms() < dl; poll(NULL, 0, 10)) c = tcp_connect("127.0.0.1", port);
    CHECK(c >= 0, "TCP connect to the activation socket %s", lst);
    client_round(c);
    client_round(tcp_connect_ok("127.0.0.1", port));
    sd_expect_server_ok(sa);
    return 0;
}
