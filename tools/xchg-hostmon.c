/* xchg-hostmon -- print the host metrics xchgd exports, once.
 *
 *   xchg-hostmon [--prom] [--root DIR] [--interval MS]
 *
 * Takes two samples of the /proc sources --interval MS apart (default 1000;
 * 0 takes one sample and shows no utilisation) and prints either a readable
 * table (default) or the Prometheus text that xchgd serves on /metrics
 * (--prom). --root reads the sources from another directory than /proc (a
 * copy of /proc files, as in tests/fixtures/proc/). Exit status 0, or 1 if
 * no source could be read, 2 on bad usage. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "control/hostmon.h"
#include "control/prom.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: xchg-hostmon [--prom] [--root DIR] [--interval MS]\n"
               "  --prom         Prometheus text exposition instead of a table\n"
               "  --root DIR     read stat, loadavg, ... under DIR instead of /proc\n"
               "  --interval MS  time between the two samples utilisation is computed\n"
               "                 from (default 1000; 0: one sample, no utilisation)\n");
}

static void sleepMs(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static int printProm(const hmSampler *s)
{
    size_t cap = 1u << 20;
    for (;;) {
        char *buf = malloc(cap);
        if (buf == NULL) {
            fprintf(stderr, "xchg-hostmon: out of memory\n");
            return 1;
        }
        promWriter w;
        promWriterInit(&w, buf, cap);
        int rc = hmWriteProm(&w, s);
        if (rc == 0 || (!w.overflow && w.invalid)) {
            fwrite(buf, 1, w.len, stdout);
            free(buf);
            if (w.invalid)
                fprintf(stderr, "xchg-hostmon: some lines were left out (invalid names)\n");
            return w.invalid ? 1 : 0;
        }
        free(buf);
        if (cap >= (256u << 20)) {
            fprintf(stderr, "xchg-hostmon: output larger than 256 MiB\n");
            return 1;
        }
        cap *= 2;
    }
}

static void printCpuHeader(uint32_t cpu)
{
    char h[16];
    snprintf(h, sizeof h, "cpu%u", cpu);
    printf(" %12s", h);
}

static double perSec(uint64_t ticks, uint32_t hz)
{
    return (double)ticks / (double)hz;
}

static void printUtil(const hmCpuUtil *u)
{
    if (u == NULL) {
        printf("%7s", "-");
        for (int m = 0; m < HM_CPU_MODES; m++)
            printf(" %6s", "-");
        printf("\n");
        return;
    }
    printf("%6.1f%%", u->busy / 10.0);
    for (int m = 0; m < HM_CPU_MODES; m++)
        printf(" %5.1f%%", u->mode[m] / 10.0);
    printf("\n");
}

static void printTable(const hmSampler *s, long intervalMs)
{
    const hmSample *smp = hmSamplerLatest(s);
    const uint32_t hz = hmSamplerClockTicks(s);
    static const char *const modes[HM_CPU_MODES] = {"user",   "nice", "system",  "idle",
                                                    "iowait", "irq",  "softirq", "steal"};

    if (smp->ok & (1u << HM_SRC_STAT)) {
        printf("CPU utilisation over %ld ms\n%-5s %7s", intervalMs, "cpu", "busy");
        for (int m = 0; m < HM_CPU_MODES; m++)
            printf(" %6s", modes[m]);
        printf("\n%-5s ", "all");
        printUtil(hmSamplerCpuUtilAll(s));
        for (uint32_t c = 0; c < smp->lim.maxCpus; c++) {
            if (!smp->cpuOnline[c])
                continue;
            printf("%-5u ", c);
            printUtil(hmSamplerCpuUtil(s, c));
        }
        printf("\nCPU time since boot (seconds)\n%-5s", "cpu");
        for (int m = 0; m < HM_CPU_MODES; m++)
            printf(" %11s", modes[m]);
        printf("\n");
        for (uint32_t c = 0; c < smp->lim.maxCpus; c++) {
            if (!smp->cpuOnline[c])
                continue;
            printf("%-5u", c);
            for (int m = 0; m < HM_CPU_MODES; m++)
                printf(" %11.2f", perSec(smp->cpu[c].t[m], hz));
            printf("\n");
        }
        printf("\ncontext switches %llu, forks %llu, running %llu, blocked %llu, "
               "interrupts %llu, softirqs %llu\n",
               (unsigned long long)smp->ctxt, (unsigned long long)smp->processes,
               (unsigned long long)smp->procsRunning, (unsigned long long)smp->procsBlocked,
               (unsigned long long)smp->intrTotal, (unsigned long long)smp->softirqTotal);
    }
    if (smp->ok & (1u << HM_SRC_LOADAVG))
        printf("load %.2f %.2f %.2f, tasks %u runnable of %u, last pid %u\n", smp->load[0] / 100.0,
               smp->load[1] / 100.0, smp->load[2] / 100.0, smp->tasksRunnable, smp->tasksTotal,
               smp->lastPid);

    if (smp->ok & (1u << HM_SRC_MEMINFO)) {
        static const char *const keys[] = {"MemTotal",        "MemFree",        "MemAvailable",
                                           "Buffers",         "Cached",         "SwapTotal",
                                           "SwapFree",        "Dirty",          "Shmem",
                                           "HugePages_Total", "HugePages_Free", "Hugepagesize"};
        printf("\nmemory\n");
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
            const hmMemField *f = hmMemFind(smp, keys[i]);
            if (f == NULL)
                continue;
            if (f->isBytes)
                printf("  %-16s %12.1f MiB\n", f->name, (double)f->value / 1048576.0);
            else
                printf("  %-16s %12llu\n", f->name, (unsigned long long)f->value);
        }
    }

    if (smp->ok & (1u << HM_SRC_NETDEV)) {
        const hmSample *prev = hmSamplerPrevious(s);
        double secs = prev ? (double)(smp->monoNs - prev->monoNs) / 1e9 : 0;
        printf("\nnetwork %-12s %16s %12s %8s %8s %16s %12s %8s %8s\n", "device", "rx bytes",
               "rx packets", "rx errs", "rx drop", "tx bytes", "tx packets", "tx errs", "tx drop");
        for (uint32_t i = 0; i < smp->ifCount; i++) {
            const hmNetDev *d = &smp->net[i];
            printf(
                "        %-12s %16llu %12llu %8llu %8llu %16llu %12llu %8llu %8llu", d->name,
                (unsigned long long)d->v[HM_NET_RX_BYTES],
                (unsigned long long)d->v[HM_NET_RX_PACKETS],
                (unsigned long long)d->v[HM_NET_RX_ERRS], (unsigned long long)d->v[HM_NET_RX_DROP],
                (unsigned long long)d->v[HM_NET_TX_BYTES],
                (unsigned long long)d->v[HM_NET_TX_PACKETS],
                (unsigned long long)d->v[HM_NET_TX_ERRS], (unsigned long long)d->v[HM_NET_TX_DROP]);
            const hmNetDev *p = prev && secs > 0 ? hmNetFind(prev, d->name) : NULL;
            if (p && d->v[HM_NET_RX_BYTES] >= p->v[HM_NET_RX_BYTES] &&
                d->v[HM_NET_TX_BYTES] >= p->v[HM_NET_TX_BYTES])
                printf("  (%.0f B/s in, %.0f B/s out)",
                       (double)(d->v[HM_NET_RX_BYTES] - p->v[HM_NET_RX_BYTES]) / secs,
                       (double)(d->v[HM_NET_TX_BYTES] - p->v[HM_NET_TX_BYTES]) / secs);
            printf("\n");
        }
    }

    if (smp->ok & (1u << HM_SRC_SOFTIRQS)) {
        uint32_t cols = smp->softCols < smp->lim.maxCpus ? smp->softCols : smp->lim.maxCpus;
        printf("\nsoftirqs  %-10s", "type");
        for (uint32_t c = 0; c < cols; c++)
            if (smp->softColCpu[c] != HM_NO_CPU)
                printCpuHeader(smp->softColCpu[c]);
        printf("\n");
        for (uint32_t k = 0; k < smp->softKinds; k++) {
            printf("          %-10s", smp->softName[k]);
            for (uint32_t c = 0; c < cols; c++)
                if (smp->softColCpu[c] != HM_NO_CPU)
                    printf(" %12llu",
                           (unsigned long long)smp->softCount[(size_t)k * smp->lim.maxCpus + c]);
            printf("\n");
        }
    }

    if (smp->ok & (1u << HM_SRC_INTERRUPTS)) {
        uint32_t cols = smp->irqCols < smp->lim.maxCpus ? smp->irqCols : smp->lim.maxCpus;
        printf("\ninterrupts %-6s", "irq");
        for (uint32_t c = 0; c < cols; c++)
            if (smp->irqColCpu[c] != HM_NO_CPU)
                printCpuHeader(smp->irqColCpu[c]);
        printf("  info\n");
        for (uint32_t r = 0; r < smp->irqRows; r++) {
            const hmIrq *irq = &smp->irq[r];
            printf("           %-6s", irq->name);
            if (irq->perCpu) {
                for (uint32_t c = 0; c < cols; c++)
                    if (smp->irqColCpu[c] != HM_NO_CPU)
                        printf(" %12llu",
                               (unsigned long long)smp->irqCount[(size_t)r * smp->lim.maxCpus + c]);
            } else {
                printf(" %12llu (all CPUs)", (unsigned long long)irq->total);
            }
            printf("  %s\n", irq->info);
        }
    }

    printf("\nsources:");
    for (int src = 0; src < HM_SRC_COUNT; src++)
        printf(" %s=%s", hmSourceName((hmSource)src), (smp->ok >> src) & 1u ? "ok" : "unreadable");
    printf("; sample took %.3f ms\n", (double)smp->durationNs / 1e6);
}

int main(int argc, char **argv)
{
    const char *root = "/proc";
    bool prom = false;
    long intervalMs = 1000;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--prom") == 0) {
            prom = true;
        } else if (strcmp(argv[i], "--root") == 0 && i + 1 < argc) {
            root = argv[++i];
        } else if (strcmp(argv[i], "--interval") == 0 && i + 1 < argc) {
            char *end;
            errno = 0;
            intervalMs = strtol(argv[++i], &end, 10);
            if (errno || *end || intervalMs < 0 || intervalMs > 3600000) {
                fprintf(stderr, "xchg-hostmon: bad --interval %s\n", argv[i]);
                return 2;
            }
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    char err[256];
    hmSampler *s = hmSamplerCreate(root, NULL, err, sizeof err);
    if (s == NULL) {
        fprintf(stderr, "xchg-hostmon: %s\n", err);
        return 1;
    }
    int n = hmSamplerSample(s);
    if (n > 0 && intervalMs > 0) {
        sleepMs(intervalMs);
        n = hmSamplerSample(s);
    }
    if (n < 0) {
        fprintf(stderr, "xchg-hostmon: no source readable under %s\n", root);
        hmSamplerDestroy(s);
        return 1;
    }
    int rc = 0;
    if (prom)
        rc = printProm(s);
    else
        printTable(s, intervalMs);
    hmSamplerDestroy(s);
    return rc;
}
