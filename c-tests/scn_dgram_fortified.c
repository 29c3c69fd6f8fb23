// EXTRA_CFLAGS: -U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=2
/* Datagram receive in a program built with -O2 -D_FORTIFY_SOURCE=2 (as
 * distributions build their packages): glibc's headers turn recvfrom into
 * __recvfrom_chk when the buffer size is known, so a shim hooking only
 * recvfrom never sees the call and reports the raw Unix sender.  The test
 * first proves that this binary really imports __recvfrom_chk (nm), then
 * checks the reported addresses, NULL address pointers and the round trip
 * back through __recvfrom_chk on a converted server and client, and that a
 * length larger than the buffer still aborts (the check is not lost). */
#include "harness.h"
#include "dgram.h"

static volatile size_t runtime_len = 64; /* not a compile-time constant: forces the _chk variant */
static volatile size_t overflow_len = 128; /* more than the 64-byte buffers below */

static void binary_imports_recvfrom_chk(void) {
    char *self = realpath("/proc/self/exe", NULL);
    CHECK(self != NULL, "realpath /proc/self/exe");
    char cmd[512];
    snprintf(cmd, sizeof cmd, "env -u LD_PRELOAD nm -D --undefined-only '%s'", self);
    FILE *p = popen(cmd, "r");
    CHECK(p != NULL, "popen nm");
    char line[256];
    int chk = 0, plain = 0;
    while (fgets(line, sizeof line, p)) {
        if (strstr(line, " __recvfrom_chk")) chk = 1;
        if (strstr(line, " recvfrom@") || strstr(line, " recvfrom\n")) plain = 1;
    }
    CHECK(pclose(p) == 0, "nm -D failed (is binutils installed?)");
    CHECK(chk, "this test binary does not import __recvfrom_chk: _FORTIFY_SOURCE not in effect");
    INFO("binary imports __recvfrom_chk%s", plain ? " (and recvfrom)" : " only");
}

int main(void) {
    harness_preload("udp,addr=127.0.0.1,port=7001,path={D}/%p.sock;udp,addr=::1,port=7002,path={D}/%p.sock");
    binary_imports_recvfrom_chk();
    const char *ips[] = {"127.0.0.1", "::1"};
    for (int i = 0; i < 2; i++) {
        const char *ip = ips[i];
        int port = 7001 + i;
        int s = udp_bind(ip, port);
        CHECK(is_socket_file(tpath("%d.sock", port)), "not converted (dir: %s)", list_dir(h_dir));
        int c = udp_socket(ip_family(ip));
        udp_send_to(c, ip, port, "fortified");

        char buf[64];
        struct sockaddr_storage from;
        socklen_t fl = sizeof from;
        CHECK(wait_readable(s, 5000), "server got nothing");
        ssize_t n = recvfrom(s, buf, runtime_len, 0, (struct sockaddr *)&from, &fl);
        CHECK(n == 9 && memcmp(buf, "fortified", 9) == 0, "server recvfrom returned %zd", n);
        haddr_t peer = {.ss = from, .len = fl};
        CHECK(is_synthetic_peer(&peer, ip), "server saw %s (family %d, len %u), expected %s with port 61000-65095",
              sa_str((struct sockaddr *)&from), from.ss_family, (unsigned)fl, ip);
        udp_send_back(s, &peer, "REPLY", 5);

        fl = sizeof from;
        CHECK(wait_readable(c, 5000), "client got no reply");
        n = recvfrom(c, buf, runtime_len, 0, (struct sockaddr *)&from, &fl);
        CHECK(n == 5 && memcmp(buf, "REPLY", 5) == 0, "client recvfrom returned %zd", n);
        haddr_t sp = {.ss = from, .len = fl};
        CHECK_ADDR(sp, ip, port);

        /* NULL address pointers through the _chk variant */
        udp_send_to(c, ip, port, "nulls");
        CHECK(wait_readable(s, 5000), "server got nothing");
        n = recvfrom(s, buf, runtime_len, 0, NULL, NULL);
        CHECK(n == 5 && memcmp(buf, "nulls", 5) == 0, "recvfrom(NULL, NULL) returned %zd", n);

        /* the fortify check itself survives: a length larger than the buffer aborts */
        pid_t k = harness_fork();
        if (k == 0) {
            signal(SIGABRT, SIG_DFL);
            int devnull = open("/dev/null", O_WRONLY);
            dup2(devnull, 2); /* glibc's "buffer overflow detected" message */
            udp_send_to(c, ip, port, "overflow");
            wait_readable(s, 5000);
            recvfrom(s, buf, overflow_len, 0, (struct sockaddr *)&from, &fl);
            _exit(0);
        }
        int st = wait_child(k);
        CHECK(st == 128 + SIGABRT, "recvfrom with a length over the buffer size: child status %d, expected SIGABRT "
              "(the fortify check was lost)", st);
        close(c);
        close(s);
    }
    return 0;
}
