/* A `systemd` rule when systemd passed nothing: the process has no LISTEN_*
 * variables at all (started by hand).  bind on the rule's address must fail
 * with EADDRNOTAVAIL and log one line saying why (naming the address); the
 * program must go on: the socket is still usable for a bind elsewhere (no
 * rule: a real TCP socket), and a second socket's bind fails the same way. */
#include "harness.h"
#include "dgram.h"

/* bind with stderr captured into {D}/err-N.log; returns errno (0 on success) and the log text */
static int bind_captured(int fd, const char *ip, int port, char *log, size_t cap) {
    static int k;
    char *p = tpath("err-%d.log", k++);
    int saved = dup(2);
    int f = open(p, O_CREAT | O_TRUNC | O_WRONLY, 0600);
    CHECK(saved >= 0 && f >= 0, "open %s", p);
    dup2(f, 2);
    close(f);
    haddr_t a = haddr(ip, port);
    errno = 0;
    int r = bind(fd, SA(a));
    int e = r == 0 ? 0 : errno;
    dup2(saved, 2);
    close(saved);
    f = open(p, O_RDONLY);
    ssize_t n = read(f, log, cap - 1);
    close(f);
    log[n > 0 ? n : 0] = 0;
    return e;
}

int main(void) {
    if (!getenv("SOCKSWAP_TEST_CHILD")) {
        unsetenv("LISTEN_PID");
        unsetenv("LISTEN_FDS");
        unsetenv("LISTEN_FDNAMES");
    }
    harness_preload("in,tcp,addr=127.0.0.1,port=8580,systemd");
    char log[2048];
    int s = tcp_socket(AF_INET);
    int e = bind_captured(s, "127.0.0.1", 8580, log, sizeof log);
    CHECK(e == EADDRNOTAVAIL, "bind with a systemd rule and no passed socket: errno %s, expected EADDRNOTAVAIL",
          e ? strerrorname_np(e) : "0 (success)");
    CHECK(strstr(log, "sockswap[") && strstr(log, "127.0.0.1:8580") &&
              (strstr(log, "systemd") || strstr(log, "LISTEN_FDS")),
          "no log line naming the address and the missing systemd socket; stderr was: '%s'", log);
    INFO("log: %s", log);
    CHECK(strchr(log, '\n') == strrchr(log, '\n'), "more than one log line: '%s'", log);

    /* the program continues: the same socket binds elsewhere as real TCP */
    e = bind_captured(s, "127.0.0.1", 0, log, sizeof log);
    CHECK(e == 0, "bind 127.0.0.1:0 after the failed bind: %s", strerrorname_np(e));
    CHECK(listen(s, 5) == 0, "listen");
    CHECK(sockopt_int(s, SOL_SOCKET, SO_DOMAIN) == AF_INET, "should be a real TCP socket");
    haddr_t n = sock_name(s);
    echo_server_thread(s);
    int c = tcp_connect_ok("127.0.0.1", sa_port((struct sockaddr *)&n.ss));
    echo_check(c, "life goes on");

    int s2 = tcp_socket(AF_INET);
    e = bind_captured(s2, "127.0.0.1", 8580, log, sizeof log);
    CHECK(e == EADDRNOTAVAIL, "second bind: errno %s", e ? strerrorname_np(e) : "0 (success)");
    CHECK(count_dir(h_dir) == 3, "unexpected files: %s", list_dir(h_dir));
    return 0;
}
