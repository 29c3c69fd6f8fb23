/* no_openat2 PROGRAM ARGS...: runs PROGRAM with openat2(2) failing ENOSYS, as on kernels before
 * 5.6 or under container seccomp profiles that deny it. Installs a seccomp filter (no new
 * privileges first), checks that openat2 now fails ENOSYS (exit 3 if not: the test could not
 * run), prints "openat2: ENOSYS" on stderr and execs PROGRAM. */
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef __NR_openat2
#define __NR_openat2 437
#endif
#if defined(__x86_64__)
#define ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define ARCH AUDIT_ARCH_AARCH64
#else
#error "add this architecture's AUDIT_ARCH"
#endif

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: no_openat2 PROGRAM ARGS...\n");
        return 2;
    }
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ARCH, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_openat2, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {.len = sizeof f / sizeof f[0], .filter = f};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
        prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) {
        fprintf(stderr, "no_openat2: seccomp: %s\n", strerror(errno));
        return 3;
    }
    long r = syscall(__NR_openat2, AT_FDCWD, "/", NULL, 0);
    if (r != -1 || errno != ENOSYS) {
        fprintf(stderr, "no_openat2: openat2 still answers (%ld, %s)\n", r, strerror(errno));
        return 3;
    }
    fprintf(stderr, "openat2: ENOSYS\n");
    execvp(argv[1], argv + 1);
    fprintf(stderr, "no_openat2: exec %s: %s\n", argv[1], strerror(errno));
    return 127;
}
