/*
 * harness.h - header-only harness for the sockswap C tests.
 *
 * Every test is one self-contained program:
 *
 *     int main(void) {
 *         harness_preload("in,port=5000,path={D}/%p.sock");
 *         ... test body, using CHECK() ...
 *         return 0;
 *     }
 *
 * harness_preload() runs twice.  The first time (SOCKSWAP_TEST_CHILD unset) it
 * creates the per-test directory, expands "{D}" (that directory) and "{U}" (a
 * unique short name, for abstract sockets) in the rules and extra variables,
 * sets LD_PRELOAD=$SOCKSWAP_LIB, SOCKSWAP_RULES, the extra variables and
 * SOCKSWAP_TEST_CHILD=1, and re-executes /proc/self/exe with the same argv.
 * The second time (inside the preloaded process) it only sets up the
 * directory name, the 20 s alarm and the clean-up at exit, and returns.
 *
 * Extra variables are "NAME=VALUE" strings; the pseudo-variable
 * "@file:NAME=CONTENT" writes CONTENT to {D}/NAME before the exec (for
 * SOCKSWAP_RULES_FILE).  Passing rules == NULL leaves SOCKSWAP_RULES unset.
 *
 * Everything is static inline so that unused helpers cause no warnings.
 */
#ifndef SOCKSWAP_HARNESS_H
#define SOCKSWAP_HARNESS_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#include <sched.h>
#include <sys/syscall.h>
#endif
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* failure reporting                                                   */

/* CHECK(cond, fmt, ...): on failure print file:line, the condition, the
 * message and the errno at that moment, then exit(1). */
#define CHECK(cond, ...)                                                        \
    do {                                                                        \
        if (!(cond)) {                                                          \
            int h_saved_errno_ = errno;                                         \
            fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__,    \
                    #cond);                                                     \
            fprintf(stderr, __VA_ARGS__);                                       \
            fprintf(stderr, " [errno=%d %s]\n", h_saved_errno_,                 \
                    strerror(h_saved_errno_));                                  \
            exit(1);                                                            \
        }                                                                       \
    } while (0)

/* CHECK_ERRNO(expr, E): expr must return -1 with errno == E. */
#define CHECK_ERRNO(expr, E)                                                    \
    do {                                                                        \
        errno = 0;                                                              \
        long h_r_ = (long)(expr);                                               \
        int h_e_ = errno;                                                       \
        CHECK(h_r_ == -1 && h_e_ == (E), "%s: expected -1/%s, got %ld/%s",      \
              #expr, strerrorname_np(E), h_r_,                                  \
              h_e_ ? strerrorname_np(h_e_) : "0");                              \
    } while (0)

/* Print an informational line (goes to the test log). */
#define INFO(...)                                                               \
    do {                                                                        \
        fprintf(stdout, "  " __VA_ARGS__);                                      \
        fputc('\n', stdout);                                                    \
    } while (0)

/* ------------------------------------------------------------------ */
/* process set-up                                                      */

static char h_dir[128];   /* per-test temporary directory */
static char h_uniq[128];   /* unique short name ("swt-XXXXXX") */
static pid_t h_owner;     /* pid of the process that owns h_dir */
static pid_t h_kids[256]; /* forked helpers to kill at exit */
static int h_nkids;

static inline int h_rm_cb(const char *p, const struct stat *st, int flag,
                          struct FTW *ftw) {
    (void)st; (void)flag; (void)ftw;
    remove(p);
    return 0;
}

static inline void h_cleanup(void) {
    if (getpid() != h_owner) return; /* forked children never clean up */
    for (int i = 0; i < h_nkids; i++)
        if (h_kids[i] > 0) kill(h_kids[i], SIGKILL);
    if (h_dir[0]) nftw(h_dir, h_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static inline void h_on_alarm(int sig) {
    static const char msg[] = "TIMEOUT: test did not finish within its alarm\n";
    static const char term[] = "killed by SIGTERM (timeout 60?)\n";
    if (sig == SIGTERM) {
        if (write(2, term, sizeof term - 1) < 0) {}
    } else if (write(2, msg, sizeof msg - 1) < 0) {}
    h_cleanup();
    _exit(1);
}

/* Replace {D} and {U} in s; returns a malloc'd string. */
static inline char *h_expand(const char *s) {
    size_t cap = strlen(s) * 4 + 256, n = 0;
    char *out = malloc(cap);
    for (const char *p = s; *p;) {
        const char *rep = NULL;
        if (strncmp(p, "{D}", 3) == 0) rep = h_dir;
        else if (strncmp(p, "{U}", 3) == 0) rep = h_uniq;
        if (rep) {
            size_t l = strlen(rep);
            if (n + l + 1 >= cap) { cap = (n + l) * 2 + 16; out = realloc(out, cap); }
            memcpy(out + n, rep, l);
            n += l;
            p += 3;
        } else {
            if (n + 2 >= cap) { cap *= 2; out = realloc(out, cap); }
            out[n++] = *p++;
        }
    }
    out[n] = 0;
    return out;
}

static inline void h_unset_config(void) {
    static const char *vars[] = {
        "SOCKSWAP_RULES", "SOCKSWAP_RULES_FILE", "UNSOCK_DIR", "UNSOCK_ADDR",
        "UNSOCK_PORT", "UNSOCK_MODE", "UNSOCK_BLOCK_INET", "UNSOCK_BLOCK_INET6",
        "UNSOCK_ACCEPT_CONVERT_ALL", "UNSOCK_ACCEPT_CONVERT_VSOCK", NULL};
    for (int i = 0; vars[i]; i++) unsetenv(vars[i]);
}

/* Read our own argv from /proc/self/cmdline (so tests need not pass argv). */
static inline char **h_self_argv(void) {
    static char buf[8192];
    static char *argv[64];
    int fd = open("/proc/self/cmdline", O_RDONLY);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
    if (fd >= 0) close(fd);
    if (n <= 0) { fprintf(stderr, "harness: cannot read /proc/self/cmdline\n"); exit(1); }
    buf[n] = 0;
    int argc = 0;
    for (char *p = buf; p < buf + n && argc < 63; p += strlen(p) + 1) argv[argc++] = p;
    argv[argc] = NULL;
    return argv;
}

static inline void h_setup_child(void) {
    const char *d = getenv("SOCKSWAP_TEST_DIR");
    if (!d) { fprintf(stderr, "harness: SOCKSWAP_TEST_DIR missing\n"); exit(1); }
    snprintf(h_dir, sizeof h_dir, "%s", d);
    const char *b = strrchr(h_dir, '/');
    snprintf(h_uniq, sizeof h_uniq, "%s", b ? b + 1 : h_dir);
    h_owner = getpid();
    setvbuf(stdout, NULL, _IONBF, 0); /* forks must not duplicate buffered output */
    atexit(h_cleanup);
    signal(SIGALRM, h_on_alarm);
    signal(SIGTERM, h_on_alarm); /* clean the directory up when run.sh's timeout fires */
    signal(SIGPIPE, SIG_IGN); /* a broken connection should fail a CHECK, not kill us */
    alarm(20);                /* nothing may hang forever */
}

/* Variadic form: extra "NAME=VALUE" strings, terminated by NULL. */
static inline void harness_preload_env(const char *rules, ...) {
    if (getenv("SOCKSWAP_TEST_CHILD")) { h_setup_child(); return; }

    const char *lib = getenv("SOCKSWAP_LIB");
    if (!lib || lib[0] != '/') {
        fprintf(stderr, "harness: SOCKSWAP_LIB must be set to the absolute path of libsockswap.so\n");
        exit(1);
    }
    if (access(lib, R_OK) != 0) {
        fprintf(stderr, "harness: SOCKSWAP_LIB=%s: %s\n", lib, strerror(errno));
        exit(1);
    }
    snprintf(h_dir, sizeof h_dir, "/tmp/swt-XXXXXX");
    if (!mkdtemp(h_dir)) { perror("harness: mkdtemp"); exit(1); }
    snprintf(h_uniq, sizeof h_uniq, "%s", h_dir + 5);

    h_unset_config();
    if (rules) setenv("SOCKSWAP_RULES", h_expand(rules), 1);
    va_list ap;
    va_start(ap, rules);
    for (const char *kv; (kv = va_arg(ap, const char *)) != NULL;) {
        char *e = h_expand(kv);
        if (strncmp(e, "@file:", 6) == 0) {
            char *eq = strchr(e, '=');
            if (!eq) { fprintf(stderr, "harness: bad %s\n", kv); exit(1); }
            *eq = 0;
            char path[256];
            snprintf(path, sizeof path, "%s/%s", h_dir, e + 6);
            FILE *f = fopen(path, "w");
            if (!f) { perror(path); exit(1); }
            fputs(eq + 1, f);
            fclose(f);
            continue;
        }
        if (putenv(e) != 0) { perror("harness: putenv"); exit(1); }
    }
    va_end(ap);
    setenv("SOCKSWAP_TEST_DIR", h_dir, 1);
    setenv("LD_PRELOAD", lib, 1);
    setenv("SOCKSWAP_TEST_CHILD", "1", 1);
    char **argv = h_self_argv();
    execv("/proc/self/exe", argv);
    perror("harness: execv /proc/self/exe");
    exit(1);
}

#define harness_preload(rules) harness_preload_env((rules), (const char *)NULL)

/* ------------------------------------------------------------------ */
/* misc helpers                                                        */

/* "{D}/name" style path built with printf formatting; result is malloc'd. */
static inline char *tpath(const char *fmt, ...) {
    char name[256], *out;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    if (asprintf(&out, "%s/%s", h_dir, name) < 0) exit(1);
    return out;
}

static inline long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static inline double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static inline void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

static inline int path_exists(const char *p) {
    struct stat st;
    return lstat(p, &st) == 0;
}

static inline int is_socket_file(const char *p) {
    struct stat st;
    return lstat(p, &st) == 0 && S_ISSOCK(st.st_mode);
}

/* Number of entries in a directory, "." and ".." excluded. */
static inline int count_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

/* Names in a directory, space separated (for messages). */
static inline const char *list_dir(const char *dir) {
    static char buf[2048];
    buf[0] = 0;
    DIR *d = opendir(dir);
    if (!d) return "(unreadable)";
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            strncat(buf, e->d_name, sizeof buf - strlen(buf) - 2);
            strncat(buf, " ", sizeof buf - strlen(buf) - 1);
        }
    closedir(d);
    return buf[0] ? buf : "(empty)";
}

/* Number of open fds of this process (the DIR's own fd included, so only
 * differences are meaningful). */
static inline int count_fds(void) { return count_dir("/proc/self/fd") ; }

/* The calling thread's id, for wait_blocked_in. */
static inline pid_t h_gettid(void) { return (pid_t)syscall(SYS_gettid); }

/* Readiness for "another thread is now blocked in a system call": wait (at most 5 s) until
 * /proc says thread *tid (0 = not started yet) sleeps in syscall nr1 or nr2. */
static inline void wait_blocked_in(volatile pid_t *tid, long nr1, long nr2) {
    char path[64];
    for (long t0 = now_ms(); now_ms() - t0 < 5000; sched_yield()) {
        if (!*tid) continue;
        snprintf(path, sizeof path, "/proc/self/task/%d/syscall", (int)*tid);
        FILE *f = fopen(path, "r");
        long nr = -1;
        if (f) {
            if (fscanf(f, "%ld", &nr) != 1) nr = -1;
            fclose(f);
        }
        if (nr == nr1 || nr == nr2) return;
    }
    CHECK(0, "thread %d never blocked in syscall %ld/%ld", (int)*tid, nr1, nr2);
}

static inline int fd_is_open(int fd) { return fcntl(fd, F_GETFD) != -1 || errno != EBADF; }
static inline int fd_nonblock(int fd) { return (fcntl(fd, F_GETFL) & O_NONBLOCK) != 0; }
static inline int fd_cloexec(int fd) { return (fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0; }

/* getsockopt of an int option; CHECKs that it succeeds. */
static inline int sockopt_int(int fd, int level, int name) {
    int v = -12345;
    socklen_t l = sizeof v;
    int r = getsockopt(fd, level, name, &v, &l);
    CHECK(r == 0, "getsockopt(fd %d, level %d, opt %d)", fd, level, name);
    CHECK(l == sizeof v, "getsockopt(level %d, opt %d) optlen %u", level, name, (unsigned)l);
    return v;
}

static inline void set_sockopt_int(int fd, int level, int name, int v) {
    int r = setsockopt(fd, level, name, &v, sizeof v);
    CHECK(r == 0, "setsockopt(fd %d, level %d, opt %d, %d)", fd, level, name, v);
}

/* Register a forked helper to be killed when the test exits. */
static inline void harness_track(pid_t pid) {
    if (h_nkids < (int)(sizeof h_kids / sizeof h_kids[0])) h_kids[h_nkids++] = pid;
}

/* fork(); the child gets its own 25 s alarm (alarms are not inherited) and
 * the parent kills it at exit if it is still around. */
static inline pid_t harness_fork(void) {
    pid_t p = fork();
    CHECK(p >= 0, "fork");
    if (p == 0) alarm(25);
    else harness_track(p);
    return p;
}

/* Wait for a child; returns its exit status, or 128+signal. */
static inline int wait_child(pid_t pid) {
    int st;
    pid_t r;
    while ((r = waitpid(pid, &st, 0)) < 0 && errno == EINTR) {}
    CHECK(r == pid, "waitpid(%d)", (int)pid);
    for (int i = 0; i < h_nkids; i++)
        if (h_kids[i] == pid) h_kids[i] = 0;
    if (WIFEXITED(st)) return WEXITSTATUS(st);
    if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
    return 255;
}

/* ------------------------------------------------------------------ */
/* IP addresses                                                        */

typedef struct {
    struct sockaddr_storage ss;
    socklen_t len;
} haddr_t;

/* haddr("127.0.0.1", 80) / haddr("::1", 80): family picked by the text. */
static inline haddr_t haddr(const char *ip, int port) {
    haddr_t a;
    memset(&a, 0, sizeof a);
    if (strchr(ip, ':')) {
        struct sockaddr_in6 *s = (struct sockaddr_in6 *)&a.ss;
        s->sin6_family = AF_INET6;
        s->sin6_port = htons(port);
        CHECK(inet_pton(AF_INET6, ip, &s->sin6_addr) == 1, "bad IPv6 %s", ip);
        a.len = sizeof *s;
    } else {
        struct sockaddr_in *s = (struct sockaddr_in *)&a.ss;
        s->sin_family = AF_INET;
        s->sin_port = htons(port);
        CHECK(inet_pton(AF_INET, ip, &s->sin_addr) == 1, "bad IPv4 %s", ip);
        a.len = sizeof *s;
    }
    return a;
}

#define SA(a) ((struct sockaddr *)&(a).ss), ((a).len)

static inline int ip_family(const char *ip) { return strchr(ip, ':') ? AF_INET6 : AF_INET; }

static inline int sa_port(const struct sockaddr *sa) {
    if (sa->sa_family == AF_INET) return ntohs(((const struct sockaddr_in *)sa)->sin_port);
    if (sa->sa_family == AF_INET6) return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
    return -1;
}

/* "ip:port" / "[ip]:port" / "unix:path" in a rotating static buffer. */
static inline const char *sa_str(const struct sockaddr *sa) {
    static char bufs[4][160];
    static int k;
    char *b = bufs[k++ & 3], ip[INET6_ADDRSTRLEN];
    if (sa->sa_family == AF_INET) {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, ip, sizeof ip);
        snprintf(b, 160, "%s:%d", ip, sa_port(sa));
    } else if (sa->sa_family == AF_INET6) {
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, ip, sizeof ip);
        snprintf(b, 160, "[%s]:%d", ip, sa_port(sa));
    } else if (sa->sa_family == AF_UNIX) {
        const struct sockaddr_un *u = (const struct sockaddr_un *)sa;
        if (u->sun_path[0]) snprintf(b, 160, "unix:%.100s", u->sun_path);
        else snprintf(b, 160, "unix:@%.100s", u->sun_path + 1);
    } else {
        snprintf(b, 160, "family %d", sa->sa_family);
    }
    return b;
}

/* The IP part of an AF_INET/AF_INET6 sockaddr as text. */
static inline const char *sa_ip(const struct sockaddr *sa) {
    static char bufs[4][INET6_ADDRSTRLEN];
    static int k;
    char *b = bufs[k++ & 3];
    b[0] = 0;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, b, INET6_ADDRSTRLEN);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, b, INET6_ADDRSTRLEN);
    return b;
}

/* getsockname / getpeername into a haddr_t, CHECKed. */
static inline haddr_t sock_name(int fd) {
    haddr_t a;
    memset(&a, 0, sizeof a);
    a.len = sizeof a.ss;
    CHECK(getsockname(fd, (struct sockaddr *)&a.ss, &a.len) == 0, "getsockname(%d)", fd);
    return a;
}

static inline haddr_t peer_name(int fd) {
    haddr_t a;
    memset(&a, 0, sizeof a);
    a.len = sizeof a.ss;
    CHECK(getpeername(fd, (struct sockaddr *)&a.ss, &a.len) == 0, "getpeername(%d)", fd);
    return a;
}

/* CHECK that a sockaddr is exactly ip:port with the right family and length. */
#define CHECK_ADDR(a, ip, port)                                                   \
    do {                                                                          \
        haddr_t h_want_ = haddr((ip), (port));                                    \
        CHECK((a).len == h_want_.len && memcmp(&(a).ss, &h_want_.ss, h_want_.len) == 0, \
              "address is %s (len %u), expected %s (len %u)",                    \
              sa_str((struct sockaddr *)&(a).ss), (unsigned)(a).len,             \
              sa_str((struct sockaddr *)&h_want_.ss), (unsigned)h_want_.len);    \
    } while (0)

/* ------------------------------------------------------------------ */
/* TCP sockets (as the program sees them)                              */

static inline int tcp_socket(int family) {
    int fd = socket(family, SOCK_STREAM, 0);
    CHECK(fd >= 0, "socket(%d, SOCK_STREAM)", family);
    return fd;
}

/* socket + bind, CHECKed. */
static inline int tcp_bind(const char *ip, int port) {
    int fd = tcp_socket(ip_family(ip));
    haddr_t a = haddr(ip, port);
    CHECK(bind(fd, SA(a)) == 0, "bind(%s)", sa_str((struct sockaddr *)&a.ss));
    return fd;
}

/* socket + bind + listen, CHECKed. */
static inline int tcp_listen(const char *ip, int port) {
    int fd = tcp_bind(ip, port);
    CHECK(listen(fd, 128) == 0, "listen on %s:%d", ip, port);
    return fd;
}

/* socket + connect; returns the fd, or -1 with errno from connect. */
static inline int tcp_connect(const char *ip, int port) {
    int fd = tcp_socket(ip_family(ip));
    haddr_t a = haddr(ip, port);
    if (connect(fd, SA(a)) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

static inline int tcp_connect_ok(const char *ip, int port) {
    int fd = tcp_connect(ip, port);
    CHECK(fd >= 0, "connect to %s port %d", ip, port);
    return fd;
}

/* ------------------------------------------------------------------ */
/* native AF_UNIX sockets (not touched by the shim without from-unix rules) */

static inline socklen_t unix_addr(struct sockaddr_un *u, const char *path) {
    memset(u, 0, sizeof *u);
    u->sun_family = AF_UNIX;
    CHECK(strlen(path) < sizeof u->sun_path, "path too long: %s", path);
    strcpy(u->sun_path, path);
    return offsetof(struct sockaddr_un, sun_path) + strlen(path) + 1;
}

/* Abstract name without the leading NUL; length covers exactly the name. */
static inline socklen_t abstract_addr(struct sockaddr_un *u, const char *name) {
    memset(u, 0, sizeof *u);
    u->sun_family = AF_UNIX;
    CHECK(strlen(name) < sizeof u->sun_path - 1, "name too long: %s", name);
    memcpy(u->sun_path + 1, name, strlen(name));
    return offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name);
}

static inline int unix_listen(const char *path) {
    struct sockaddr_un u;
    socklen_t l = unix_addr(&u, path);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    CHECK(fd >= 0, "socket(AF_UNIX)");
    CHECK(bind(fd, (struct sockaddr *)&u, l) == 0, "bind unix %s", path);
    CHECK(listen(fd, 128) == 0, "listen unix %s", path);
    return fd;
}

static inline int abstract_listen(const char *name) {
    struct sockaddr_un u;
    socklen_t l = abstract_addr(&u, name);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    CHECK(fd >= 0, "socket(AF_UNIX)");
    CHECK(bind(fd, (struct sockaddr *)&u, l) == 0, "bind abstract @%s", name);
    CHECK(listen(fd, 128) == 0, "listen abstract @%s", name);
    return fd;
}

/* Connects a new AF_UNIX stream socket to u; returns the fd or -1 (errno from connect). */
static inline int unix_connect_addr(const struct sockaddr_un *u, socklen_t l) {
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    CHECK(fd >= 0, "socket(AF_UNIX)");
    if (connect(fd, (const struct sockaddr *)u, l) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

static inline int unix_connect(const char *path) {
    struct sockaddr_un u;
    socklen_t l = unix_addr(&u, path);
    return unix_connect_addr(&u, l);
}

static inline int abstract_connect(const char *name) {
    struct sockaddr_un u;
    socklen_t l = abstract_addr(&u, name);
    return unix_connect_addr(&u, l);
}

/* Readiness by connect: retry every 10 ms until the socket at path accepts a
 * connection or timeout_ms passes.  Returns the connected fd or -1. */
static inline int unix_connect_wait(const char *path, int timeout_ms) {
    long deadline = now_ms() + timeout_ms;
    for (;;) {
        int fd = unix_connect(path);
        if (fd >= 0 || now_ms() >= deadline) return fd;
        poll(NULL, 0, 10);
    }
}

static inline int unix_connect_ok(const char *path) {
    int fd = unix_connect(path);
    CHECK(fd >= 0, "native AF_UNIX connect to %s (dir holds: %s)", path, list_dir(h_dir));
    return fd;
}

/* ------------------------------------------------------------------ */
/* I/O                                                                 */

static inline void write_all(int fd, const void *buf, size_t n) {
    const char *p = buf;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        CHECK(w > 0, "write(%d)", fd);
        p += w;
        n -= (size_t)w;
    }
}

/* Read exactly n bytes unless EOF/error first; returns bytes read. */
static inline ssize_t read_full(int fd, void *buf, size_t n) {
    char *p = buf;
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, p + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return got ? (ssize_t)got : r;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

/* Send msg, expect it echoed back. */
static inline void echo_check(int fd, const char *msg) {
    char buf[512];
    size_t n = strlen(msg);
    CHECK(n < sizeof buf, "message too long");
    write_all(fd, msg, n);
    ssize_t r = read_full(fd, buf, n);
    CHECK(r == (ssize_t)n, "echo of %zu bytes: read returned %zd", n, r);
    CHECK(memcmp(buf, msg, n) == 0, "echo mismatch: sent '%s' got '%.*s'", msg, (int)n, buf);
}

/* What a socketbox router does: one byte and one SCM_RIGHTS fd in a datagram to path. */
static inline void send_fd_to(const char *path, int fd) {
    int d = socket(AF_UNIX, SOCK_DGRAM, 0);
    struct sockaddr_un u;
    socklen_t ul = unix_addr(&u, path);
    char byte = 0, cbuf[CMSG_SPACE(sizeof(int))];
    struct iovec v = {&byte, 1};
    struct msghdr m = {.msg_name = &u, .msg_namelen = ul, .msg_iov = &v, .msg_iovlen = 1,
                       .msg_control = cbuf, .msg_controllen = sizeof cbuf};
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof fd);
    CHECK(sendmsg(d, &m, 0) == 1, "sending an fd to %s", path);
    close(d);
}

/* Echo everything on conn until EOF, then close it. */
static inline void echo_serve(int conn) {
    char buf[4096];
    for (;;) {
        ssize_t r = read(conn, buf, sizeof buf);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        size_t off = 0;
        while (off < (size_t)r) {
            ssize_t w = write(conn, buf + off, (size_t)r - off);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) { close(conn); return; }
            off += (size_t)w;
        }
    }
    close(conn);
}

static inline void *h_echo_conn_thread(void *arg) {
    echo_serve((int)(intptr_t)arg);
    return NULL;
}

/* Accept loop: one detached echo thread per connection.  Ends when accept
 * fails with anything but EINTR/ECONNABORTED (e.g. the listener was closed). */
static inline void *h_accept_loop(void *arg) {
    int l = (int)(intptr_t)arg;
    for (;;) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int c = accept(l, (struct sockaddr *)&ss, &sl);
        if (c < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            return NULL;
        }
        pthread_t t;
        if (pthread_create(&t, NULL, h_echo_conn_thread, (void *)(intptr_t)c) != 0) {
            echo_serve(c);
            continue;
        }
        pthread_detach(t);
    }
}

/* Start an echo server thread on an already listening fd. */
static inline pthread_t echo_server_thread(int listen_fd) {
    pthread_t t;
    CHECK(pthread_create(&t, NULL, h_accept_loop, (void *)(intptr_t)listen_fd) == 0,
          "pthread_create");
    pthread_detach(t);
    return t;
}

/* Fork a process that runs the echo accept loop on listen_fd (killed at exit). */
static inline pid_t echo_server_fork(int listen_fd) {
    pid_t p = harness_fork();
    if (p == 0) {
        h_accept_loop((void *)(intptr_t)listen_fd);
        _exit(0);
    }
    return p;
}

/* A native AF_UNIX echo server at path, in a forked process; returns once the
 * path is connectable. */
static inline pid_t native_echo_server(const char *path) {
    int l = unix_listen(path);
    pid_t p = echo_server_fork(l);
    close(l);
    int c = unix_connect_wait(path, 5000);
    CHECK(c >= 0, "native echo server at %s never became connectable", path);
    close(c);
    return p;
}

#endif /* SOCKSWAP_HARNESS_H */
