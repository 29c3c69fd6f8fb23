/* Connection-churn client: N times connect, send 1 byte, read the echo, close.
 *
 *   churn_client unix PATH N
 *   churn_client inet PORT N     (connects to 127.0.0.1:PORT)
 *
 * Prints:  shim_loaded=0|1
 *          us_per_conn=FLOAT   wall-clock time of the N timed connections
 *          conns_total=N       N plus the untimed warm-up connections
 *          cpu_us=N            CPU time (user+system) of the whole process
 */
#include "bench_common.h"
#include <errno.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>

static struct sockaddr_storage target;
static socklen_t target_len;
static int target_family;

static int one_conn(long i)
{
    int fd = socket(target_family, SOCK_STREAM, 0);
    if (fd < 0) {
        fprintf(stderr, "churn_client: socket: %s\n", strerror(errno));
        return -1;
    }
    if (connect(fd, (struct sockaddr *)&target, target_len) != 0) {
        fprintf(stderr, "churn_client: connect #%ld: %s\n", i, strerror(errno));
        close(fd);
        return -1;
    }
    char out = (char)('a' + i % 26), in = 0;
    ssize_t n;
    do
        n = write(fd, &out, 1);
    while (n < 0 && errno == EINTR);
    if (n != 1) {
        fprintf(stderr, "churn_client: write #%ld: %s\n", i, strerror(errno));
        close(fd);
        return -1;
    }
    do
        n = read(fd, &in, 1);
    while (n < 0 && errno == EINTR);
    if (n != 1 || in != out) {
        fprintf(stderr, "churn_client: bad echo on #%ld (n=%zd)\n", i, n);
        close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s unix PATH|inet PORT N\n", argv[0]);
        return 2;
    }
    long n = atol(argv[3]);
    if (n <= 0)
        return 2;
    if (strcmp(argv[1], "unix") == 0) {
        struct sockaddr_un *su = (struct sockaddr_un *)&target;
        su->sun_family = AF_UNIX;
        if (strlen(argv[2]) >= sizeof su->sun_path)
            return 2;
        strcpy(su->sun_path, argv[2]);
        target_len = sizeof *su;
        target_family = AF_UNIX;
    } else if (strcmp(argv[1], "inet") == 0) {
        struct sockaddr_in *si = (struct sockaddr_in *)&target;
        si->sin_family = AF_INET;
        si->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        si->sin_port = htons((unsigned short)atoi(argv[2]));
        target_len = sizeof *si;
        target_family = AF_INET;
    } else {
        fprintf(stderr, "churn_client: unknown mode %s\n", argv[1]);
        return 2;
    }
    long warm = n / 20 + 1;
    for (long i = 0; i < warm; i++)
        if (one_conn(i))
            return 1;
    double t0 = now_ns();
    for (long i = 0; i < n; i++)
        if (one_conn(i))
            return 1;
    double t1 = now_ns();
    printf("shim_loaded=%d\n", shim_loaded());
    printf("us_per_conn=%.4f\n", (t1 - t0) / (double)n / 1000.0);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("conns_total=%ld\n", warm + n);
    printf("cpu_us=%ld\n", (long)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000L +
                                ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
    return 0;
}
