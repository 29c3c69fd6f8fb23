/* Shared helpers for the sockswap benchmark programs (c-tests/bench). */
#ifndef SOCKSWAP_BENCH_COMMON_H
#define SOCKSWAP_BENCH_COMMON_H

#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static inline double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* 1 if a library whose path contains "sockswap" is mapped into this process:
 * LD_PRELOAD of a missing file only warns, so the harness checks this. */
static inline int shim_loaded(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[4096];
    int found = 0;
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (strstr(line, "sockswap")) {
            found = 1;
            break;
        }
    fclose(f);
    return found;
}

#endif
