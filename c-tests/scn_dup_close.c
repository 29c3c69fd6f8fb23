/* ip2unix scenario: dup/dup2/dup3/fcntl(F_DUPFD_CLOEXEC)/fcntl64(F_DUPFD) of a converted listener, then
 * close of either copy.  The remaining copy must still accept (a native
 * AF_UNIX client connects through the socket file and is accepted on it), the
 * file must stay while any copy is open, and be unlinked when the last copy
 * is closed (docs: "closes its last descriptor of that socket (dups
 * included)"). */
#include "harness.h"

enum { DUP, DUP2, DUP3, DUPFD_CLOEXEC, FCNTL64_DUPFD };
static const char *names[] = {"dup", "dup2", "dup3", "F_DUPFD_CLOEXEC", "fcntl64(F_DUPFD)"};

static int make_copy(int how, int fd) {
    switch (how) {
    case DUP: return dup(fd);
    case DUP2: return dup2(fd, 200);
    case DUP3: return dup3(fd, 201, O_CLOEXEC);
    case DUPFD_CLOEXEC: return fcntl(fd, F_DUPFD_CLOEXEC, 300);
    default: return fcntl64(fd, F_DUPFD, 400); /* node, libpython import fcntl64 */
    }
}

static void check_accepts(int fd, const char *path, const char *what) {
    int u = unix_connect(path);
    CHECK(u >= 0, "%s: native connect to %s", what, path);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    int a = accept(fd, (struct sockaddr *)&ss, &sl);
    CHECK(a >= 0, "%s: accept on fd %d", what, fd);
    CHECK(ss.ss_family == AF_INET, "%s: accept address family %d, expected AF_INET", what, ss.ss_family);
    write_all(u, "ping", 4);
    char buf[4];
    CHECK(read_full(a, buf, 4) == 4 && memcmp(buf, "ping", 4) == 0, "%s: data", what);
    close(a);
    close(u);
}

int main(void) {
    harness_preload("in,port=5900-5999,path={D}/%p.sock");
    for (int how = DUP; how <= FCNTL64_DUPFD; how++) {
        for (int close_original_first = 0; close_original_first < 2; close_original_first++) {
            int port = 5900 + how * 2 + close_original_first;
            char *path = tpath("%d.sock", port);
            char what[96];
            snprintf(what, sizeof what, "%s, closing the %s first", names[how],
                     close_original_first ? "original" : "copy");
            INFO("%s", what);
            int l = tcp_listen("127.0.0.1", port);
            CHECK(is_socket_file(path), "%s: no socket file", what);
            int d = make_copy(how, l);
            CHECK(d >= 0 && d != l, "%s failed", names[how]);
            if (how == DUP3 || how == DUPFD_CLOEXEC)
                CHECK(fd_cloexec(d), "%s: copy lost its FD_CLOEXEC", what);
            check_accepts(d, path, what);

            int first = close_original_first ? l : d, second = close_original_first ? d : l;
            CHECK(close(first) == 0, "%s: close", what);
            CHECK(is_socket_file(path), "%s: socket file removed while a copy is still open", what);
            check_accepts(second, path, what);
            CHECK(sockopt_int(second, SOL_SOCKET, SO_DOMAIN) == AF_INET,
                  "%s: remaining copy no longer looks like AF_INET", what);
            CHECK(close(second) == 0, "%s: close of the last copy", what);
            CHECK(!path_exists(path), "%s: socket file not unlinked after the last close", what);
        }
    }
    return 0;
}
