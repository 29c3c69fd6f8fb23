/* systemd socket activation for a daemon that closes every inherited fd
 * before it creates its sockets (common in old-style daemons): the socket
 * systemd-socket-activate passed must survive and reach the `systemd` rule's
 * bind.  Variants: close() on 3..1023 one by one; close_range(3, ~0U, 0);
 * glibc's closefrom(3); dup2() of /dev/null onto fd 3 (the program's dup2
 * wins: fd 3 is /dev/null afterwards, and the socket still arrives). */
#include "harness.h"
#include "dgram.h"
#include "sd.h"
#include <linux/close_range.h>
#include <sys/syscall.h>

static void server(const char *how) {
    sd_server_setup();
    if (strcmp(how, "close") == 0) {
        for (int fd = 3; fd < 1024; fd++) close(fd);
    } else if (strcmp(how, "close_range") == 0) {
        CHECK(close_range(3, ~0U, 0) == 0, "server: close_range");
    } else if (strcmp(how, "closefrom") == 0) {
        closefrom(3);
    } else if (strcmp(how, "dup2") == 0) {
        int n = open("/dev/null", O_RDONLY);
        CHECK(n >= 0, "open /dev/null");
        CHECK(dup2(n, 3) == 3, "server: dup2 onto fd 3");
        close(n);
        char target[64] = {0};
        CHECK(readlink("/proc/self/fd/3", target, sizeof target - 1) > 0 && strcmp(target, "/dev/null") == 0,
              "server: fd 3 after dup2 is '%s', expected /dev/null", target);
    }
    int l = tcp_socket(AF_INET);
    haddr_t a = haddr("127.0.0.1", 8380);
    CHECK(bind(l, SA(a)) == 0, "server (%s): bind with a systemd rule after closing the inherited fds", how);
    CHECK(listen(l, 5) == 0, "server: listen");
    haddr_t n = sock_name(l);
    CHECK_ADDR(n, "127.0.0.1", 8380);
    if (strcmp(how, "dup2") == 0) {
        char target[64] = {0};
        CHECK(readlink("/proc/self/fd/3", target, sizeof target - 1) > 0 && strcmp(target, "/dev/null") == 0,
              "server: fd 3 after bind is '%s', expected /dev/null still", target);
    }
    int c = accept(l, NULL, NULL);
    CHECK(c >= 0, "server: accept");
    write_all(c, how, strlen(how));
    write_all(c, "\n", 1);
    echo_serve(c);
    exit(0);
}

int main(void) {
    if (sd_role()) server(sd_role());
    sd_driver_setup();
    const char *variants[] = {"close", "close_range", "closefrom", "dup2"};
    for (int v = 0; v < 4; v++) {
        char l[64];
        snprintf(l, sizeof l, "{D}/%s.sock", variants[v]);
        const char *args[] = {"-l", l, NULL};
        pid_t sa = sd_launch(variants[v], "in,tcp,port=8380,systemd", args, NULL);
        char *sock = tpath("%s.sock", variants[v]);
        sd_wait_socket(sock, sa);
        int c = sd_connect(sock);
        char *line = read_line(c);
        CHECK(strcmp(line, variants[v]) == 0, "%s: server said '%s'", variants[v], line);
        echo_check(c, "still here");
        close(c);
        sd_expect_server_ok(sa);
    }
    return 0;
}
