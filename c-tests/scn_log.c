/* SOCKSWAP_LOG (docs "Variables"): at "trace" every intercepted call a rule
 * touches is logged, one line per event prefixed "sockswap[PID]: "; at "off"
 * nothing is written, even for a failing converted bind; an unknown level is
 * a configuration error (status 121). */
#include "harness.h"

static int run_inner(const char *level, char *err, size_t errsz, pid_t *pid) {
    int ep[2];
    CHECK(pipe(ep) == 0, "pipe");
    pid_t p = fork();
    CHECK(p >= 0, "fork");
    if (p == 0) {
        dup2(ep[1], 2);
        close(ep[0]);
        setenv("SOCKSWAP_LOG", level, 1);
        setenv("LD_PRELOAD", getenv("SOCKSWAP_LIB"), 1);
        execl("/proc/self/exe", "scn_log", "inner", (char *)NULL);
        _exit(99);
    }
    close(ep[1]);
    ssize_t n = read_full(ep[0], err, errsz - 1);
    err[n > 0 ? n : 0] = 0;
    close(ep[0]);
    *pid = p;
    return wait_child(p);
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "inner") == 0) {
        snprintf(h_dir, sizeof h_dir, "%s", getenv("SOCKSWAP_TEST_DIR"));
        /* one converted listener, one client through it, and a bind that fails
         * (a regular file sits at the path) */
        int l = tcp_listen("127.0.0.1", 10201);
        int c = tcp_connect("127.0.0.1", 10201);
        close(c);
        close(l);
        char *f = tpath("10202.sock");
        FILE *fp = fopen(f, "w");
        fclose(fp);
        int s = tcp_socket(AF_INET);
        haddr_t a = haddr("127.0.0.1", 10202);
        if (bind(s, SA(a)) == 0) return 3;
        unlink(f);
        return c >= 0 ? 0 : 2;
    }
    harness_preload("addr=127.0.0.1,port=10201-10202,path={D}/%p.sock");
    char err[65536];
    pid_t pid;
    int st = run_inner("trace", err, sizeof err, &pid);
    CHECK(st == 0, "inner run at trace failed: %d (stderr: %s)", st, err);
    char prefix[64];
    snprintf(prefix, sizeof prefix, "sockswap[%d]: ", (int)pid);
    int lines = 0;
    for (char *line = err; *line; lines++) {
        char *nl = strchr(line, '\n');
        CHECK(nl, "last log line not terminated: %s", line);
        CHECK(strncmp(line, prefix, strlen(prefix)) == 0, "log line without prefix '%s': %.*s", prefix,
              (int)(nl - line), line);
        line = nl + 1;
    }
    INFO("%d trace lines", lines);
    CHECK(lines >= 3, "trace logged only %d lines for bind, connect and a failed bind:\n%s", lines, err);

    st = run_inner("off", err, sizeof err, &pid);
    CHECK(st == 0, "inner run at off failed: %d", st);
    CHECK(err[0] == 0, "SOCKSWAP_LOG=off still wrote: %s", err);

    st = run_inner("loud", err, sizeof err, &pid);
    CHECK(st == 121, "SOCKSWAP_LOG=loud: status %d, expected 121 (stderr: %s)", st, err);
    CHECK(strstr(err, "SOCKSWAP_LOG") && strstr(err, "loud"), "message does not name SOCKSWAP_LOG and 'loud': %s",
          err);
    return 0;
}
