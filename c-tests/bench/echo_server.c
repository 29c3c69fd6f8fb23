/* Connection-churn echo server: accept, echo one byte, close; forever.
 *
 *   echo_server unix PATH READYFILE     AF_UNIX listener on PATH
 *   echo_server inet PORT READYFILE     AF_INET listener on 127.0.0.1:PORT
 *
 * After listen() it writes "pid=N shim_loaded=0|1" to READYFILE (atomically,
 * via rename). SIGTERM/SIGINT make it close the listener, print
 * "served=N cpu_us=N" (connections served, CPU time used) on stdout and exit 0.
 */
#include "bench_common.h"
#include <errno.h>
#include <signal.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s unix PATH|inet PORT READYFILE\n", argv[0]);
        return 2;
    }
    struct sigaction sa_sig = {0};
    sa_sig.sa_handler = on_signal; /* no SA_RESTART: accept() returns EINTR */
    sigaction(SIGTERM, &sa_sig, NULL);
    sigaction(SIGINT, &sa_sig, NULL);
    signal(SIGPIPE, SIG_IGN);

    int lfd;
    if (strcmp(argv[1], "unix") == 0) {
        struct sockaddr_un su = {0};
        su.sun_family = AF_UNIX;
        if (strlen(argv[2]) >= sizeof su.sun_path) {
            fprintf(stderr, "echo_server: path too long\n");
            return 1;
        }
        strcpy(su.sun_path, argv[2]);
        unlink(argv[2]);
        lfd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (lfd < 0 || bind(lfd, (struct sockaddr *)&su, sizeof su) != 0) {
            fprintf(stderr, "echo_server: bind %s: %s\n", argv[2], strerror(errno));
            return 1;
        }
    } else if (strcmp(argv[1], "inet") == 0) {
        struct sockaddr_in si = {0};
        int one = 1;
        si.sin_family = AF_INET;
        si.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        si.sin_port = htons((unsigned short)atoi(argv[2]));
        lfd = socket(AF_INET, SOCK_STREAM, 0);
        if (lfd >= 0)
            setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (lfd < 0 || bind(lfd, (struct sockaddr *)&si, sizeof si) != 0) {
            fprintf(stderr, "echo_server: bind 127.0.0.1:%s: %s\n", argv[2], strerror(errno));
            return 1;
        }
    } else {
        fprintf(stderr, "echo_server: unknown mode %s\n", argv[1]);
        return 2;
    }
    if (listen(lfd, 512) != 0) {
        fprintf(stderr, "echo_server: listen: %s\n", strerror(errno));
        return 1;
    }

    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", argv[3]);
    FILE *rf = fopen(tmp, "w");
    if (!rf) {
        fprintf(stderr, "echo_server: %s: %s\n", tmp, strerror(errno));
        return 1;
    }
    fprintf(rf, "pid=%d shim_loaded=%d\n", (int)getpid(), shim_loaded());
    fclose(rf);
    if (rename(tmp, argv[3]) != 0) {
        fprintf(stderr, "echo_server: rename: %s\n", strerror(errno));
        return 1;
    }

    long served = 0;
    while (!stop) {
        int c = accept(lfd, NULL, NULL);
        if (c < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            fprintf(stderr, "echo_server: accept: %s\n", strerror(errno));
            return 1;
        }
        char b;
        ssize_t n;
        do
            n = read(c, &b, 1);
        while (n < 0 && errno == EINTR);
        if (n == 1)
            (void)!write(c, &b, 1);
        close(c);
        served++;
    }
    close(lfd);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("served=%ld cpu_us=%ld\n", served,
           (long)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000L +
               ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
    return 0;
}
