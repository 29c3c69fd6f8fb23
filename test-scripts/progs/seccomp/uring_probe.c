// Prints "io_uring_setup: ERRNO_NAME" (or "io_uring_setup: ok") — the seccomp backend must make
// io_uring unavailable while rules are in force (its socket operations bypass the filter).
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(void) {
    unsigned char params[120];
    memset(params, 0, sizeof params);
    long r = syscall(SYS_io_uring_setup, 1, params);
    if (r >= 0) { printf("io_uring_setup: ok\n"); return 0; }
    printf("io_uring_setup: %s\n", errno == ENOSYS ? "ENOSYS" : strerror(errno));
    return 0;
}
