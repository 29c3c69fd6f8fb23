/* Invalid configuration (docs/configuration.md, "Invalid configuration"):
 * the library prints exactly one line on stderr naming the variable and the
 * offending token, and the process exits with status 121 before main runs.
 * Each case re-runs this program ("inner" mode, which would print MAIN RAN)
 * with the library preloaded and one bad variable. */
#include "harness.h"

static int run_inner(const char *var, const char *value, char *err, size_t errsz, char *out, size_t outsz) {
    int ep[2], op[2];
    CHECK(pipe(ep) == 0 && pipe(op) == 0, "pipe");
    pid_t p = fork();
    CHECK(p >= 0, "fork");
    if (p == 0) {
        dup2(ep[1], 2);
        dup2(op[1], 1);
        close(ep[0]);
        close(op[0]);
        unsetenv("SOCKSWAP_RULES");
        setenv(var, value, 1);
        setenv("LD_PRELOAD", getenv("SOCKSWAP_LIB"), 1);
        execl("/proc/self/exe", "scn_bad_config", "inner", (char *)NULL);
        _exit(99);
    }
    close(ep[1]);
    close(op[1]);
    ssize_t n = read_full(ep[0], err, errsz - 1);
    err[n > 0 ? n : 0] = 0;
    n = read_full(op[0], out, outsz - 1);
    out[n > 0 ? n : 0] = 0;
    close(ep[0]);
    close(op[0]);
    return wait_child(p);
}

static void bad(const char *var, const char *value, const char *token) {
    char err[4096], out[256];
    int st = run_inner(var, value, err, sizeof err, out, sizeof out);
    INFO("%s='%s' -> status %d, stderr: %s", var, value, st, err);
    CHECK(st == 121, "%s='%s': exit status %d, expected 121 (stderr: %s)", var, value, st, err);
    CHECK(out[0] == 0, "%s='%s': main ran (stdout: %s)", var, value, out);
    size_t len = strlen(err);
    CHECK(len > 0 && err[len - 1] == '\n' && strchr(err, '\n') == err + len - 1,
          "%s='%s': stderr is not exactly one line: '%s'", var, value, err);
    CHECK(strstr(err, var) != NULL, "%s='%s': message does not name %s: %s", var, value, var, err);
    if (token)
        CHECK(strstr(err, token) != NULL, "%s='%s': message does not name the token '%s': %s", var, value,
              token, err);
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "inner") == 0) {
        printf("MAIN RAN\n");
        return 0;
    }
    harness_preload("out,port=9,reject");
    /* the good configuration runs: sanity check of the method */
    char err[4096], out[256];
    int st = run_inner("SOCKSWAP_RULES", "in,port=80,path=/tmp/x.sock", err, sizeof err, out, sizeof out);
    CHECK(st == 0 && strcmp(out, "MAIN RAN\n") == 0, "a valid rule did not run main: status %d stderr %s",
          st, err);

    bad("SOCKSWAP_RULES", "in,prot=80,path=/tmp/x.sock", "prot=80");
    bad("SOCKSWAP_RULES", "in,port=80,path=/tmp/x.sock;out,addr=300.1.2.3,reject", "300.1.2.3");
    bad("SOCKSWAP_RULES", "in,port=99999,path=/tmp/x.sock", "99999");
    bad("SOCKSWAP_RULES", "out,port=80,reject=ENOTANERRNO", "ENOTANERRNO");
    bad("SOCKSWAP_RULES", "in,port=80,path=/tmp/x.sock,mode=0999", "0999");
    bad("SOCKSWAP_RULES", "in,port=80", NULL);                       /* no action */
    bad("SOCKSWAP_RULES", "in,port=80,path=/tmp/a.sock,reject", NULL); /* two actions */
    bad("UNSOCK_DIR", "relative/dir", "relative/dir");
    bad("UNSOCK_ADDR", "not-an-address", "not-an-address");
    return 0;
}
