/* systemd socket activation with named sockets (LISTEN_FDNAMES).
 * systemd-socket-activate passes two Unix sockets; the program binds two
 * ports: 8281 with a plain `systemd` rule, then 8280 with `systemd=web`.
 * The named rule must get the socket named "web" and the plain rule the one
 * no rule names ("other"), whatever their order in LISTEN_FDS: run once with
 * --fdname=other:web and once with --fdname=web:other (a plain rule that
 * simply took the first fd would steal "web" in the second run).  Each
 * server answers with the port it bound, so the driver sees which socket
 * reached which bind.  A third plain rule finds nothing left, and a rule
 * naming a socket that was not passed (systemd=nosuch) fails: EADDRNOTAVAIL. */
#include "harness.h"
#include "dgram.h"
#include "sd.h"

static void server(void) {
    sd_server_setup();
    int plain = tcp_socket(AF_INET);
    haddr_t a = haddr("127.0.0.1", 8281);
    CHECK(bind(plain, SA(a)) == 0, "server: bind 8281 (plain systemd rule)");
    int web = tcp_socket(AF_INET);
    a = haddr("127.0.0.1", 8280);
    CHECK(bind(web, SA(a)) == 0, "server: bind 8280 (systemd=web)");
    CHECK(listen(plain, 5) == 0 && listen(web, 5) == 0, "server: listen");
    /* a third bind with a plain rule: nothing left to take */
    int third = tcp_socket(AF_INET);
    a = haddr("127.0.0.1", 8282);
    CHECK_ERRNO(bind(third, SA(a)), EADDRNOTAVAIL);
    /* a rule naming a socket systemd did not pass */
    a = haddr("127.0.0.1", 8283);
    CHECK_ERRNO(bind(third, SA(a)), EADDRNOTAVAIL);
    int fds[2] = {web, plain};
    const char *names[2] = {"8280\n", "8281\n"};
    for (int i = 0; i < 2; i++) {
        /* the driver connects to both; each listener answers its own */
        int c = accept(fds[i], NULL, NULL);
        CHECK(c >= 0, "server: accept on %s", names[i]);
        write_all(c, names[i], 5);
        close(c);
    }
    exit(0);
}

static void run(const char *first, const char *second) {
    char fdname[64];
    snprintf(fdname, sizeof fdname, "--fdname=%s:%s", first, second);
    char l1[64], l2[64];
    snprintf(l1, sizeof l1, "{D}/%s.sock", first);
    snprintf(l2, sizeof l2, "{D}/%s.sock", second);
    const char *args[] = {"-l", l1, "-l", l2, fdname, NULL};
    pid_t sa = sd_launch("server", "in,tcp,port=8280,systemd=web;in,tcp,port=8281-8282,systemd;in,tcp,port=8283,systemd=nosuch", args, NULL);
    char *web = tpath("web.sock"), *other = tpath("other.sock");
    sd_wait_socket(web, sa);
    sd_wait_socket(other, sa);
    int w = sd_connect(web);
    int o = sd_connect(other);
    char *wl = read_line(w), *ol = read_line(o);
    CHECK(strcmp(wl, "8280") == 0, "--fdname=%s:%s: the socket named web reached the bind of port %s, expected 8280",
          first, second, wl);
    CHECK(strcmp(ol, "8281") == 0, "--fdname=%s:%s: the socket named other reached the bind of port %s, expected 8281",
          first, second, ol);
    close(w);
    close(o);
    sd_expect_server_ok(sa);
    unlink(web);
    unlink(other);
}

int main(void) {
    if (sd_role()) server();
    sd_driver_setup();
    run("other", "web");
    run("web", "other");
    return 0;
}
