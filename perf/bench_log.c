/* bench_log.c -- what a log call costs the thread that makes it: logMsg against formatting at once.
 *
 *   bench_log [--calls N] [--repeat N]
 *
 * One producer thread (pinned to CPU 1 when there is one) makes N calls of
 * each kind while the logger thread drains to /dev/null:
 *   logMsg    the worker-safe call: TSC, format pointer, 3 integers into the
 *             thread's ring (control/log.h);
 *   logText   the same message formatted at once with vsnprintf into the
 *             ring (what the control lcore uses);
 *   snprintf  the baseline: only formatting the message into a local
 *             buffer, no ring at all (what pre-formatting on the worker would
 *             cost before any queueing).
 * Each call is timed with the TSC (rdtsc before and after, the timer's own
 * cost measured and subtracted); calls are made in bursts of 64 with a pause
 * of 1 ms between bursts (64 records a ms, below the 1024 records a ring
 * holds per 10 ms drain), so nothing should drop (drops are counted and
 * reported).
 * The kinds alternate --repeat times; one JSON line per kind with the median
 * over repeats of p50/p99/p99.9 in nanoseconds, and the drops. */
#define _GNU_SOURCE
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

#include "control/log.h"

#define BURST 64

static uint64_t calls = 100000;
static int repeat = 3;

static int cmpU64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static double tscPerNs(void)
{
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    uint64_t t0 = __rdtsc();
    struct timespec d = {0, 50000000};
    nanosleep(&d, NULL);
    uint64_t t1 = __rdtsc();
    clock_gettime(CLOCK_MONOTONIC, &b);
    double ns = (double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec);
    return (double)(t1 - t0) / ns;
}

enum { K_MSG, K_TEXT, K_SNPRINTF, K_COUNT };
static const char *const kindName[K_COUNT] = {"logMsg", "logText", "snprintf"};

/* Times `calls` calls of one kind; fills lat (cycles, timer cost removed). */
static void runKind(int kind, uint64_t *lat, uint64_t timer)
{
    char buf[LOG_TEXT_MAX];
    volatile size_t sink = 0;
    for (uint64_t i = 0; i < calls; i++) {
        unsigned seg = (unsigned)(i & 7), port = 9000, n = (unsigned)i;
        uint64_t t0 = __rdtsc();
        switch (kind) {
        case K_MSG:
            logMsg(LOGL_INFO, "segment %u: port %u: %u frames dropped", seg, port, n);
            break;
        case K_TEXT:
            logText(LOGL_INFO, "segment %u: port %u: %u frames dropped", seg, port, n);
            break;
        default:
            sink += (size_t)snprintf(buf, sizeof buf, "segment %u: port %u: %u frames dropped", seg,
                                     port, n);
        }
        uint64_t t1 = __rdtsc();
        lat[i] = t1 - t0 > timer ? t1 - t0 - timer : 0;
        if ((i + 1) % BURST == 0) {
            struct timespec d = {0, 1000000}; /* 64 records a ms: below what a 1024-slot ring
                                                 drained every 10 ms holds */
            nanosleep(&d, NULL);
        }
    }
    (void)sink;
}

int main(int argc, char **argv)
{
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--calls"))
            calls = strtoull(argv[i + 1], NULL, 0);
        else if (!strcmp(argv[i], "--repeat"))
            repeat = atoi(argv[i + 1]);
    }
    if (calls < 1000 || repeat < 1 || repeat > 31) {
        fprintf(stderr, "usage: bench_log [--calls N>=1000] [--repeat 1..31]\n");
        return 2;
    }
    if (sysconf(_SC_NPROCESSORS_ONLN) > 1) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(1, &set);
        sched_setaffinity(0, sizeof set, &set);
    }
    char err[256];
    logInit();
    if (logConfigure(LOGL_INFO, "/dev/null", err, sizeof err) != 0 || logStart(err, sizeof err)) {
        fprintf(stderr, "bench_log: %s\n", err);
        return 1;
    }
    logAttach("bench");
    double perNs = tscPerNs();
    uint64_t timer = UINT64_MAX;
    for (int i = 0; i < 1000; i++) {
        uint64_t a = __rdtsc(), b = __rdtsc();
        if (b - a < timer)
            timer = b - a;
    }
    uint64_t *lat = malloc(sizeof *lat * calls);
    double p[K_COUNT][3][31];
    uint64_t dropped[K_COUNT] = {0};
    for (int r = 0; r < repeat; r++)
        for (int k = 0; k < K_COUNT; k++) {
            logStats before, after;
            logGetStats(&before);
            runKind(k, lat, timer);
            logFlush();
            logGetStats(&after);
            dropped[k] += after.dropped - before.dropped;
            qsort(lat, calls, sizeof *lat, cmpU64);
            p[k][0][r] = (double)lat[calls / 2] / perNs;
            p[k][1][r] = (double)lat[calls * 99 / 100] / perNs;
            p[k][2][r] = (double)lat[calls * 999 / 1000] / perNs;
        }
    logStop();
    for (int k = 0; k < K_COUNT; k++) {
        double med[3];
        for (int q = 0; q < 3; q++) {
            double t[31];
            memcpy(t, p[k][q], sizeof(double) * (size_t)repeat);
            for (int i = 1; i < repeat; i++) /* insertion sort: a handful of values */
                for (int j = i; j > 0 && t[j - 1] > t[j]; j--) {
                    double x = t[j];
                    t[j] = t[j - 1];
                    t[j - 1] = x;
                }
            med[q] = t[repeat / 2];
        }
        printf("{\"bench\":\"log\",\"call\":\"%s\",\"calls\":%" PRIu64 ",\"repeat\":%d,"
               "\"p50_ns\":%.1f,\"p99_ns\":%.1f,\"p999_ns\":%.1f,\"dropped\":%" PRIu64
               ",\"timer_cycles\":%" PRIu64 ",\"tsc_per_ns\":%.3f}\n",
               kindName[k], calls, repeat, med[0], med[1], med[2], dropped[k], timer, perNs);
    }
    free(lat);
    return 0;
}
