/* Issue 10: the illusion survives exec and spawn.  A converted socket handed
 * to a new program image, at any fd number, still shows its IP names and
 * SO_DOMAIN/SO_TYPE, and an inherited converted listener still accepts with IP
 * peers:
 *   - accepted socket dup2'd to fd 0, then execv          (sshd's re-exec)
 *   - accepted socket moved to fd 0 by a posix_spawn file action
 *   - accepted socket dup2'd to fd 1, then fexecve
 *   - listener dup2'd to fd 9, then execve: accept reports 127.0.0.1 peers
 *   - IPv6 listener left at its own number, then execvp
 *   - bound UDP socket dup2'd to fd 7, then execv
 *   - socketbox "A" listener dup2'd to fd 9, then execv: accept takes the
 *     connection a router (played by this test) sends, with its IP peer
 * and a socket that was never ours stays what it is: a real Unix socket at
 * fd 8, with a forged SOCKSWAP_INHERIT entry naming fd 8 (wrong inode) passed
 * by a raw execve that no hook sees, is still AF_UNIX in the new image. */
#include "harness.h"
#include "dgram.h"
#include <spawn.h>
#include <sys/syscall.h>

extern char **environ;

/* ---- the new image: argv = self ROLE FD [PORT] ---- */

static int image(const char *role, int fd, int port) {
    alarm(20);
    if (strcmp(role, "unix") == 0) {
        CHECK(sockopt_int(fd, SOL_SOCKET, SO_DOMAIN) == AF_UNIX, "fd %d: a real Unix socket "
              "became SO_DOMAIN %d", fd, sockopt_int(fd, SOL_SOCKET, SO_DOMAIN));
        struct sockaddr_storage ss;
        socklen_t l = sizeof ss;
        CHECK(getsockname(fd, (struct sockaddr *)&ss, &l) == 0 && ss.ss_family == AF_UNIX,
              "getsockname of the Unix socket: family %d", ss.ss_family);
        return 0;
    }
    int v6 = strcmp(role, "listener6") == 0;
    const char *ip = v6 ? "::1" : "127.0.0.1";
    int family = v6 ? AF_INET6 : AF_INET;
    int dgram = strcmp(role, "datagram") == 0;
    CHECK(sockopt_int(fd, SOL_SOCKET, SO_DOMAIN) == family, "%s at fd %d: SO_DOMAIN %d", role,
          fd, sockopt_int(fd, SOL_SOCKET, SO_DOMAIN));
    CHECK(sockopt_int(fd, SOL_SOCKET, SO_TYPE) == (dgram ? SOCK_DGRAM : SOCK_STREAM),
          "%s: SO_TYPE", role);
    CHECK(sockopt_int(fd, SOL_SOCKET, SO_PROTOCOL) == (dgram ? IPPROTO_UDP : IPPROTO_TCP),
          "%s: SO_PROTOCOL", role);
    haddr_t me = sock_name(fd);
    CHECK_ADDR(me, ip, port);
    if (strcmp(role, "accepted") == 0) {
        haddr_t peer = peer_name(fd);
        CHECK(strcmp(sa_ip((struct sockaddr *)&peer.ss), ip) == 0, "peer %s",
              sa_str((struct sockaddr *)&peer.ss));
        echo_serve(fd);
    } else if (!dgram) {
        CHECK(sockopt_int(fd, SOL_SOCKET, SO_ACCEPTCONN) == 1, "%s: SO_ACCEPTCONN", role);
        haddr_t peer;
        memset(&peer, 0, sizeof peer);
        peer.len = sizeof peer.ss;
        int a = accept(fd, (struct sockaddr *)&peer.ss, &peer.len);
        CHECK(a >= 0, "accept on the inherited listener");
        CHECK(peer.ss.ss_family == family && strcmp(sa_ip((struct sockaddr *)&peer.ss), ip) == 0,
              "accept's peer is %s, expected %s", sa_str((struct sockaddr *)&peer.ss), ip);
        CHECK(sockopt_int(a, SOL_SOCKET, SO_DOMAIN) == family, "accepted: SO_DOMAIN");
        echo_serve(a);
    }
    return 0;
}

/* ---- the test ---- */

static char *self_path(void) {
    static char p[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", p, sizeof p - 1);
    CHECK(n > 0, "readlink /proc/self/exe");
    p[n] = 0;
    return p;
}

static void argv_for(char **argv, char *bufs, const char *role, int fd, int port) {
    snprintf(bufs, 16, "%d", fd);
    snprintf(bufs + 16, 16, "%d", port);
    argv[0] = self_path();
    argv[1] = (char *)role;
    argv[2] = bufs;
    argv[3] = bufs + 16;
    argv[4] = NULL;
}

enum how { EXECV, EXECVE, EXECVP, FEXECVE, RAW_EXECVE };

/* fork; in the child put `fd` at `at` (if at >= 0) and exec ROLE AT PORT. */
static pid_t run_image(enum how how, int fd, int at, const char *role, int port, char **env) {
    pid_t pid = harness_fork();
    if (pid != 0) return pid;
    if (at >= 0 && at != fd) {
        CHECK(dup2(fd, at) == at, "dup2(%d, %d)", fd, at);
        close(fd);
    }
    char *argv[5], bufs[32];
    argv_for(argv, bufs, role, at >= 0 ? at : fd, port);
    switch (how) {
    case EXECV: execv(argv[0], argv); break;
    case EXECVE: execve(argv[0], argv, env ? env : environ); break;
    case EXECVP: execvp(argv[0], argv); break;
    case FEXECVE: {
        int exe = open(argv[0], O_RDONLY | O_CLOEXEC);
        CHECK(exe >= 0, "open %s", argv[0]);
        fexecve(exe, argv, environ);
        break;
    }
    case RAW_EXECVE: syscall(SYS_execve, argv[0], argv, env); break;
    }
    perror("exec");
    _exit(127);
}

static void accepted_case(enum how how, int use_spawn, int at, int port, const char *what) {
    int l = tcp_listen("127.0.0.1", port);
    int c = tcp_connect_ok("127.0.0.1", port);
    int a = accept(l, NULL, NULL);
    CHECK(a >= 0, "accept");
    pid_t pid;
    if (use_spawn) {
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, a, at);
        char *argv[5], bufs[32];
        argv_for(argv, bufs, "accepted", at, port);
        CHECK(posix_spawn(&pid, argv[0], &fa, NULL, argv, environ) == 0, "posix_spawn");
        harness_track(pid);
        posix_spawn_file_actions_destroy(&fa);
    } else {
        pid = run_image(how, a, at, "accepted", port, NULL);
    }
    close(a);
    echo_check(c, "through the new image");
    shutdown(c, SHUT_WR);
    CHECK(wait_child(pid) == 0, "%s: the new image failed", what);
    INFO("%s: ok", what);
    close(c);
    close(l);
}

static void listener_case(enum how how, const char *ip, int at, int port, const char *what) {
    int l = tcp_listen(ip, port);
    pid_t pid = run_image(how, l, at, strchr(ip, ':') ? "listener6" : "listener", port, NULL);
    int c = tcp_connect_ok(ip, port);
    echo_check(c, "through the inherited listener");
    shutdown(c, SHUT_WR);
    CHECK(wait_child(pid) == 0, "%s: the new image failed", what);
    INFO("%s: ok", what);
    close(c);
    /* (closed only now: the last close in the process that bound it removes the file) */
    close(l);
}

static void socketbox_case(void) {
    int l = tcp_listen("127.0.0.1", 7308);
    CHECK(is_socket_file(tpath("a-7308")), "A listener not made (dir: %s)", list_dir(h_dir));
    pid_t pid = run_image(EXECV, l, 9, "listener", 7308, NULL);
    int rl = tcp_listen("127.0.0.1", 0); /* the router's real listener: no rule covers port 0 */
    haddr_t rn = sock_name(rl);
    int c = tcp_connect_ok("127.0.0.1", sa_port((struct sockaddr *)&rn.ss));
    int a = accept(rl, NULL, NULL);
    CHECK(a >= 0, "router accept");
    send_fd_to(tpath("a-7308"), a);
    close(a);
    echo_check(c, "through the inherited socketbox listener");
    shutdown(c, SHUT_WR);
    CHECK(wait_child(pid) == 0, "socketbox A listener: the new image failed");
    INFO("socketbox A listener at fd 9, execv: ok");
    close(c);
    close(rl);
    close(l);
}

int main(int argc, char **argv) {
    if (argc == 4) return image(argv[1], atoi(argv[2]), atoi(argv[3]));
    harness_preload("in,tcp,port=7301-7306,path={D}/%p.sock;out,tcp,port=7301-7306,path={D}/%p.sock;"
                    "in,udp,port=7307,path={D}/%p.sock;in,tcp,port=7308,socketbox={D}/a-%p");
    accepted_case(EXECV, 0, 0, 7301, "accepted socket at fd 0, execv");
    accepted_case(EXECV, 1, 0, 7302, "accepted socket at fd 0 by posix_spawn");
    accepted_case(FEXECVE, 0, 1, 7303, "accepted socket at fd 1, fexecve");
    listener_case(EXECVE, "127.0.0.1", 9, 7304, "listener at fd 9, execve");
    listener_case(EXECVP, "::1", -1, 7305, "IPv6 listener at its own fd, execvp");

    int u = udp_bind("127.0.0.1", 7307);
    CHECK(is_socket_file(tpath("7307.sock")), "UDP bind not converted");
    CHECK(wait_child(run_image(EXECV, u, 7, "datagram", 7307, NULL)) == 0, "datagram image");
    INFO("bound UDP socket at fd 7, execv: ok");
    socketbox_case();

    /* never ours: a real Unix socket and a forged entry for its fd */
    int sp[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == 0, "socketpair");
    char forged[256];
    snprintf(forged, sizeof forged,
             "SOCKSWAP_INHERIT=8,0,1,2,1,6,0,0,127.0.0.1:80,-;8,%lu,%lu,2,1,6,0,0,127.0.0.1:80,-",
             (unsigned long)0, (unsigned long)999999999);
    int n = 0;
    while (environ[n]) n++;
    char **env = calloc(n + 2, sizeof *env);
    memcpy(env, environ, n * sizeof *env);
    env[n] = forged;
    CHECK(wait_child(run_image(RAW_EXECVE, sp[0], 8, "unix", 0, env)) == 0, "unix image");
    INFO("a real Unix socket with a forged entry stays AF_UNIX: ok");
    return 0;
}
