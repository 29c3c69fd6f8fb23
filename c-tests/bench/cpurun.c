/* cpurun OUTFILE CMD [ARG...]: run CMD, then write the CPU time it used (user+system,
 * from wait4's rusage, in microseconds) to OUTFILE as "cpu_us=N". Exits with CMD's
 * status (128+signal if it was killed). Used for the data-path CPU-per-request metric,
 * which a busy shared machine disturbs far less than wall-clock throughput. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/wait.h>

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s OUTFILE CMD [ARG...]\n", argv[0]);
        return 2;
    }
    pid_t pid = fork();
    if (pid < 0) {
        perror("cpurun: fork");
        return 2;
    }
    if (pid == 0) {
        execvp(argv[2], argv + 2);
        fprintf(stderr, "cpurun: %s: %s\n", argv[2], strerror(errno));
        _exit(127);
    }
    int st;
    struct rusage ru;
    while (wait4(pid, &st, 0, &ru) < 0)
        if (errno != EINTR) {
            perror("cpurun: wait4");
            return 2;
        }
    FILE *f = fopen(argv[1], "w");
    if (!f) {
        perror("cpurun: OUTFILE");
        return 2;
    }
    fprintf(f, "cpu_us=%ld\n",
            (long)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000L +
                ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
    fclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
