/* ip2unix scenario: a file that is not a socket is never replaced.  A bind
 * whose rule path names a regular file fails with EADDRINUSE and the file and
 * its content survive; the same for a directory and a symlink to a file. */
#include "harness.h"

int main(void) {
    harness_preload("in,port=7501-7503,path={D}/%p.sock");
    char *f = tpath("7501.sock");
    FILE *fp = fopen(f, "w");
    CHECK(fp, "create %s", f);
    fputs("precious data\n", fp);
    fclose(fp);

    int s = tcp_socket(AF_INET);
    haddr_t a = haddr("127.0.0.1", 7501);
    CHECK_ERRNO(bind(s, SA(a)), EADDRINUSE);
    close(s);
    char buf[64] = {0};
    fp = fopen(f, "r");
    CHECK(fp && fgets(buf, sizeof buf, fp), "regular file was removed");
    fclose(fp);
    CHECK(strcmp(buf, "precious data\n") == 0, "regular file content changed: '%s'", buf);

    CHECK(mkdir(tpath("7502.sock"), 0755) == 0, "mkdir");
    s = tcp_socket(AF_INET);
    a = haddr("127.0.0.1", 7502);
    CHECK_ERRNO(bind(s, SA(a)), EADDRINUSE);
    close(s);
    struct stat st;
    CHECK(stat(tpath("7502.sock"), &st) == 0 && S_ISDIR(st.st_mode), "directory removed");

    CHECK(symlink(f, tpath("7503.sock")) == 0, "symlink");
    s = tcp_socket(AF_INET);
    a = haddr("127.0.0.1", 7503);
    CHECK_ERRNO(bind(s, SA(a)), EADDRINUSE);
    close(s);
    CHECK(lstat(tpath("7503.sock"), &st) == 0 && S_ISLNK(st.st_mode), "symlink removed");
    CHECK(stat(f, &st) == 0 && S_ISREG(st.st_mode), "symlink target removed");
    return 0;
}
