/*
 * sd.h - socket-activation tests: one binary, two roles (include after harness.h).
 *
 * The DRIVER (what c-tests/run.sh starts, not preloaded) makes the per-test
 * directory and runs
 *
 *     systemd-socket-activate ARGS... -E LD_PRELOAD=$SOCKSWAP_LIB
 *         -E SOCKSWAP_RULES=RULES -E SOCKSWAP_TEST_DIR=DIR -E SD_TEST_ROLE=ROLE
 *         [-E EXTRA...] <this binary>
 *
 * systemd-socket-activate binds the -l sockets, waits for the first
 * connection or datagram, then execs the SERVER role (same pid, so
 * LISTEN_PID matches) with LISTEN_FDS/LISTEN_FDNAMES; only the -E variables
 * reach it.  The server runs under the shim, does its own CHECKs and exits 0;
 * the driver talks to the -l sockets with native sockets and finally requires
 * the server's exit status 0.
 *
 * Readiness: the driver waits for the -l socket file to exist (it is bound
 * before systemd-socket-activate starts waiting), then connects/sends; the
 * kernel queues the connection or datagram until the server takes it.
 */
#ifndef SOCKSWAP_SD_H
#define SOCKSWAP_SD_H

/* The role this process plays: NULL for the driver. */
static inline const char *sd_role(void) { return getenv("SD_TEST_ROLE"); }

/* Server role set-up: the directory name, an alarm, no SIGPIPE.  (No clean-up
 * at exit: the driver owns the directory.) */
static inline void sd_server_setup(void) {
    const char *d = getenv("SOCKSWAP_TEST_DIR");
    CHECK(d != NULL, "server: SOCKSWAP_TEST_DIR missing");
    snprintf(h_dir, sizeof h_dir, "%s", d);
    setvbuf(stdout, NULL, _IONBF, 0);
    signal(SIGPIPE, SIG_IGN);
    alarm(20);
    CHECK(getenv("LD_PRELOAD") != NULL, "server: not preloaded");
}

/* Driver set-up: the per-test directory (removed at exit), alarm, checks. */
static inline void sd_driver_setup(void) {
    const char *lib = getenv("SOCKSWAP_LIB");
    CHECK(lib && lib[0] == '/' && access(lib, R_OK) == 0,
          "SOCKSWAP_LIB must be the absolute path of libsockswap.so (got %s)", lib ? lib : "(unset)");
    CHECK(system("command -v systemd-socket-activate >/dev/null") == 0,
          "systemd-socket-activate is not installed (package systemd)");
    snprintf(h_dir, sizeof h_dir, "/tmp/swt-XXXXXX");
    CHECK(mkdtemp(h_dir) != NULL, "mkdtemp");
    h_owner = getpid();
    setvbuf(stdout, NULL, _IONBF, 0);
    atexit(h_cleanup);
    signal(SIGALRM, h_on_alarm);
    signal(SIGTERM, h_on_alarm);
    signal(SIGPIPE, SIG_IGN);
    alarm(40);
    unsetenv("LD_PRELOAD");
}

/* Start systemd-socket-activate with the server role.  sa_args: its own
 * options (NULL-terminated, "{D}" expanded); extra_env: more NAME=VALUE for
 * the server (NULL-terminated, may be NULL).  Returns its pid (= the
 * server's pid once it execs). */
static inline pid_t sd_launch(const char *role, const char *rules, const char *const *sa_args,
                              const char *const *extra_env) {
    static char self[PATH_MAX];
    CHECK(realpath("/proc/self/exe", self) != NULL, "realpath /proc/self/exe");
    const char *argv[96];
    int n = 0;
    argv[n++] = "systemd-socket-activate";
    for (int i = 0; sa_args && sa_args[i]; i++) argv[n++] = h_expand(sa_args[i]);
    char *kv;
    argv[n++] = "-E";
    CHECK(asprintf(&kv, "LD_PRELOAD=%s", getenv("SOCKSWAP_LIB")) > 0, "asprintf");
    argv[n++] = kv;
    argv[n++] = "-E";
    CHECK(asprintf(&kv, "SOCKSWAP_RULES=%s", h_expand(rules)) > 0, "asprintf");
    argv[n++] = kv;
    argv[n++] = "-E";
    CHECK(asprintf(&kv, "SOCKSWAP_TEST_DIR=%s", h_dir) > 0, "asprintf");
    argv[n++] = kv;
    argv[n++] = "-E";
    CHECK(asprintf(&kv, "SD_TEST_ROLE=%s", role) > 0, "asprintf");
    argv[n++] = kv;
    for (int i = 0; extra_env && extra_env[i]; i++) {
        argv[n++] = "-E";
        argv[n++] = h_expand(extra_env[i]);
    }
    argv[n++] = self;
    argv[n] = NULL;
    pid_t p = harness_fork();
    if (p == 0) {
        execvp(argv[0], (char *const *)argv);
        perror("exec systemd-socket-activate");
        _exit(127);
    }
    return p;
}

/* Wait until path is a socket file (systemd-socket-activate has bound it). */
static inline void sd_wait_socket(const char *path, pid_t sa) {
    long deadline = now_ms() + 10000;
    while (!is_socket_file(path)) {
        int st;
        CHECK(waitpid(sa, &st, WNOHANG) == 0, "systemd-socket-activate exited before binding %s", path);
        CHECK(now_ms() < deadline, "no socket at %s after 10 s", path);
        poll(NULL, 0, 10);
    }
}

/* The server's exit status must be 0 (it CHECKs what it saw itself). */
static inline void sd_expect_server_ok(pid_t sa) {
    int st = wait_child(sa);
    CHECK(st == 0, "server (under systemd-socket-activate) exited with status %d", st);
}

/* Read one line (up to '\n') from a stream socket; returns the malloc'd line without '\n'. */
static inline char *read_line(int fd) {
    char *b = calloc(1, 512);
    size_t n = 0;
    CHECK(wait_readable(fd, 10000), "no reply line within 10 s");
    while (n < 511) {
        ssize_t r = read(fd, b + n, 1);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0 || b[n] == '\n') break;
        n++;
    }
    b[n] = 0;
    return b;
}

/* A native AF_UNIX stream connect to a socket-activate socket, CHECKed. */
static inline int sd_connect(const char *path) {
    int fd = unix_connect(path);
    CHECK(fd >= 0, "connect to %s", path);
    return fd;
}

#endif /* SOCKSWAP_SD_H */
