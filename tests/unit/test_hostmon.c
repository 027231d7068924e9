/* test_hostmon.c -- unit tests of the /proc parsers and the sampler (control/hostmon.c).
 *
 * tests/fixtures/proc/t0 and t1 are this project's build machine's /proc
 * files (stat, loadavg, softirqs, interrupts, meminfo, net/dev) copied one
 * second apart while one CPU spun; the expected numbers below are read off
 * those files by hand (the arithmetic is in the comments). Other tests write
 * small hand-made /proc trees into a private temporary directory: offline
 * CPUs, unknown and malformed lines, other column layouts, limits. One test
 * reads the live /proc, one runs the built xchg-hostmon tool, and one
 * compares our exported values with prometheus-node-exporter's on this
 * machine (skipped when it is not installed; tolerances in
 * docs/operations/metrics.md and at test_node_exporter). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "control/hostmon.h"
#include "control/prom.h"

static char tmpDir[64];
static char fixDir[PATH_MAX]; /* …/tests/fixtures/proc */
static char toolPath[PATH_MAX];
static pid_t nodePid; /* a node-exporter this test started, until it is reaped */

/* ---- counting allocations (not under a sanitizer, which owns malloc) -------------------- */

#if defined(__SANITIZE_ADDRESS__)
#define HM_COUNT_ALLOCS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer)
#define HM_COUNT_ALLOCS 0
#endif
#endif
#ifndef HM_COUNT_ALLOCS
#define HM_COUNT_ALLOCS 1
#endif

#if HM_COUNT_ALLOCS
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t n);
static volatile bool countAllocs;
static volatile unsigned long allocs;

void *malloc(size_t n)
{
    if (countAllocs)
        allocs++;
    return __libc_malloc(n);
}

void *calloc(size_t n, size_t size)
{
    if (countAllocs)
        allocs++;
    return __libc_calloc(n, size);
}

void *realloc(void *p, size_t n)
{
    if (countAllocs)
        allocs++;
    return __libc_realloc(p, n);
}
#endif

/* ---- helpers ----------------------------------------------------------------------------- */

static uint64_t nowMs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* realloc that fails the test instead of returning NULL */
static char *grow(char *p, size_t n)
{
    char *q = realloc(p, n);
    if (q == NULL) {
        free(p);
        fail_msg("out of memory");
    }
    return q;
}

/* Writes text to tmpDir/sub/name (creating tmpDir/sub and tmpDir/sub/net). */
static void writeFile(const char *sub, const char *name, const char *text)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", tmpDir, sub);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/%s/net", tmpDir, sub);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/%s/%s", tmpDir, sub, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    assert_int_equal(fclose(f), 0);
}

static const char *subDir(const char *sub)
{
    static char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", tmpDir, sub);
    return path;
}

static const char *fixture(const char *name)
{
    static char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%.4000s/%s", fixDir, name);
    return path;
}

/* A sample of the fixture directory `name` read through hmReadSource. */
static hmSample *readFixture(const char *root, const hmLimits *lim)
{
    hmSample *smp = hmSampleCreate(lim);
    assert_non_null(smp);
    char buf[1 << 16];
    assert_int_equal(hmReadAll(smp, root, buf, sizeof buf), HM_SRC_COUNT);
    return smp;
}

static void parse(int (*fn)(hmSample *, const char *, size_t), hmSample *smp, const char *text,
                  int want)
{
    assert_int_equal(fn(smp, text, strlen(text)), want);
}

/* The Prometheus text of a sampler, in a static buffer. */
static const char *render(const hmSampler *s)
{
    static char buf[1 << 20];
    promWriter w;
    promWriterInit(&w, buf, sizeof buf);
    assert_int_equal(hmWriteProm(&w, s), 0);
    assert_false(w.overflow);
    assert_false(w.invalid);
    return buf;
}

/* The value of `series` (name{labels} exactly as written) in exposition text;
 * false if there is no such line. */
static bool findValue(const char *text, const char *series, double *out)
{
    size_t n = strlen(series);
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (strncmp(p, series, n) == 0 && p[n] == ' ') {
            *out = strtod(p + n + 1, NULL);
            return true;
        }
    }
    return false;
}

static bool hasLine(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (strncmp(p, line, n) == 0 && (p[n] == '\n' || p[n] == '\0'))
            return true;
    return false;
}

/* ---- fixtures: one file each ------------------------------------------------------------- */

static void test_stat_fixture(void **state)
{
    (void)state;
    hmLimits lim = {.maxCpus = 4};
    hmSample *smp = readFixture(fixture("t0"), &lim);
    assert_int_equal(smp->ok, (1u << HM_SRC_COUNT) - 1);
    assert_int_equal(smp->cpuCount, 2);
    assert_true(smp->cpuOnline[0] && smp->cpuOnline[1]);
    assert_false(smp->cpuOnline[2]);
    /* cpu0 126504 0 15705 398193 636 0 1645 1360 0 0 */
    static const uint64_t cpu0[HM_CPU_FIELDS] = {126504, 0,    15705, 398193, 636,
                                                 0,      1645, 1360,  0,      0};
    /* cpu1 170760 0 14963 354888 277 0 2251 1028 0 0 */
    static const uint64_t cpu1[HM_CPU_FIELDS] = {170760, 0,    14963, 354888, 277,
                                                 0,      2251, 1028,  0,      0};
    /* cpu  297265 0 30669 753082 913 0 3897 2388 0 0 */
    static const uint64_t all[HM_CPU_FIELDS] = {297265, 0, 30669, 753082, 913, 0, 3897, 2388, 0, 0};
    for (int i = 0; i < HM_CPU_FIELDS; i++) {
        assert_int_equal(smp->cpu[0].t[i], cpu0[i]);
        assert_int_equal(smp->cpu[1].t[i], cpu1[i]);
        assert_int_equal(smp->cpuAll.t[i], all[i]);
    }
    assert_int_equal(smp->ctxt, 18391799);
    assert_int_equal(smp->btime, 1795300468);
    assert_int_equal(smp->processes, 60444);
    assert_int_equal(smp->procsRunning, 1);
    assert_int_equal(smp->procsBlocked, 0);
    assert_int_equal(smp->intrTotal, 8467066);
    assert_int_equal(smp->softirqTotal, 19430137);
    assert_int_equal(smp->statHave, 0xff);
    assert_int_equal(smp->malformed[HM_SRC_STAT], 0);
    assert_int_equal(smp->dropped[HM_SRC_STAT], 0);
    hmSampleFree(smp);
}

static void test_loadavg_fixture(void **state)
{
    (void)state;
    hmSample *smp = readFixture(fixture("t1"), NULL);
    /* 0.32 1.18 1.14 2/101 28039 */
    assert_int_equal(smp->load[0], 32);
    assert_int_equal(smp->load[1], 118);
    assert_int_equal(smp->load[2], 114);
    assert_int_equal(smp->tasksRunnable, 2);
    assert_int_equal(smp->tasksTotal, 101);
    assert_int_equal(smp->lastPid, 28039);
    /* other shapes: no decimals, one decimal, trailing garbage ignored */
    parse(hmParseLoadavg, smp, "12 3.5 0.07 5/6 7 extra\n", 0);
    assert_int_equal(smp->load[0], 1200);
    assert_int_equal(smp->load[1], 350);
    assert_int_equal(smp->load[2], 7);
    parse(hmParseLoadavg, smp, "1.234 0.00 0.01\n", 0); /* third decimal cut */
    assert_int_equal(smp->load[0], 123);
    assert_int_equal(smp->tasksTotal, 0);
    parse(hmParseLoadavg, smp, "0.1x 0.2 0.3 1/2 3\n", -1);
    assert_int_equal(smp->malformed[HM_SRC_LOADAVG], 1);
    assert_false(smp->ok & (1u << HM_SRC_LOADAVG));
    parse(hmParseLoadavg, smp, "", -1);
    parse(hmParseLoadavg, smp, "-1.00 0.2 0.3\n", -1);
    hmSampleFree(smp);
}

static void test_softirqs_fixture(void **state)
{
    (void)state;
    hmLimits lim = {.maxCpus = 4};
    hmSample *smp = readFixture(fixture("t0"), &lim);
    assert_int_equal(smp->softCols, 2);
    assert_int_equal(smp->softColCpu[0], 0);
    assert_int_equal(smp->softColCpu[1], 1);
    assert_int_equal(smp->softKinds, 10);
    static const char *const names[] = {"HI",       "TIMER",   "NET_TX", "NET_RX",  "BLOCK",
                                        "IRQ_POLL", "TASKLET", "SCHED",  "HRTIMER", "RCU"};
    /* the two columns of each row of t0/softirqs */
    static const uint64_t v[10][2] = {{0, 0},      {98641, 63142},  {205, 171}, {7104043, 10683122},
                                      {0, 159307}, {0, 0},          {1, 1},     {243983, 206215},
                                      {0, 0},      {588213, 283093}};
    for (int k = 0; k < 10; k++) {
        assert_string_equal(smp->softName[k], names[k]);
        assert_int_equal(smp->softCount[k * 4 + 0], v[k][0]);
        assert_int_equal(smp->softCount[k * 4 + 1], v[k][1]);
    }
    hmSampleFree(smp);
}

static void test_interrupts_fixture(void **state)
{
    (void)state;
    hmLimits lim = {.maxCpus = 2};
    hmSample *smp = readFixture(fixture("t0"), &lim);
    /* 36 lines: the header and 35 rows, of which ERR and MIS are machine-wide */
    assert_int_equal(smp->irqCols, 2);
    assert_int_equal(smp->irqRows, 35);
    assert_int_equal(smp->malformed[HM_SRC_INTERRUPTS], 0);
    const hmIrq *first = &smp->irq[0];
    /* " 24:          1          0  IO-APIC   5-edge      ACPI:Ged" */
    assert_string_equal(first->name, "24");
    assert_string_equal(first->info, "IO-APIC 5-edge ACPI:Ged");
    assert_true(first->perCpu);
    assert_int_equal(smp->irqCount[0], 1);
    assert_int_equal(smp->irqCount[1], 0);
    assert_int_equal(first->total, 1);
    int seen = 0;
    for (uint32_t r = 0; r < smp->irqRows; r++) {
        const hmIrq *irq = &smp->irq[r];
        if (strcmp(irq->name, "36") ==
            0) { /* 0 159311 PCI-MSIX-0000:00:02.0 1-edge virtio1-req.0 */
            assert_string_equal(irq->info, "PCI-MSIX-0000:00:02.0 1-edge virtio1-req.0");
            assert_int_equal(smp->irqCount[r * 2 + 1], 159311);
            seen++;
        } else if (strcmp(irq->name, "LOC") == 0) { /* 994594 1761211 Local timer interrupts */
            assert_string_equal(irq->info, "Local timer interrupts");
            assert_int_equal(smp->irqCount[r * 2], 994594);
            assert_int_equal(smp->irqCount[r * 2 + 1], 1761211);
            assert_int_equal(irq->total, 994594 + 1761211);
            seen++;
        } else if (strcmp(irq->name, "ERR") == 0 || strcmp(irq->name, "MIS") == 0) {
            assert_false(irq->perCpu);
            assert_int_equal(irq->total, 0);
            seen++;
        } else {
            assert_true(irq->perCpu);
        }
    }
    assert_int_equal(seen, 4);
    hmSampleFree(smp);
}

static void test_meminfo_fixture(void **state)
{
    (void)state;
    hmSample *smp = readFixture(fixture("t0"), NULL);
    assert_int_equal(smp->memCount, 54);
    const hmMemField *f = hmMemFind(smp, "MemTotal"); /* 24682416 kB */
    assert_non_null(f);
    assert_true(f->isBytes);
    assert_int_equal(f->value, 24682416ull * 1024);
    f = hmMemFind(smp, "MemAvailable"); /* 22710200 kB */
    assert_int_equal(f->value, 22710200ull * 1024);
    f = hmMemFind(smp, "Active(anon)"); /* 1120 kB */
    assert_int_equal(f->value, 1120ull * 1024);
    f = hmMemFind(smp, "HugePages_Total"); /* 512, no unit */
    assert_false(f->isBytes);
    assert_int_equal(f->value, 512);
    f = hmMemFind(smp, "VmallocTotal"); /* 34359738367 kB */
    assert_int_equal(f->value, 34359738367ull * 1024);
    assert_null(hmMemFind(smp, "NoSuchField"));
    hmSampleFree(smp);
}

static void test_netdev_fixture(void **state)
{
    (void)state;
    hmSample *smp = readFixture(fixture("t0"), NULL);
    assert_int_equal(smp->ifCount, 5);
    const hmNetDev *lo = hmNetFind(smp, "lo");
    assert_non_null(lo);
    assert_int_equal(lo->have, 0xffff);
    /* lo: 181366515 999246 0 0 0 0 0 0 181366515 999246 0 0 0 0 0 0 */
    assert_int_equal(lo->v[HM_NET_RX_BYTES], 181366515);
    assert_int_equal(lo->v[HM_NET_RX_PACKETS], 999246);
    assert_int_equal(lo->v[HM_NET_TX_BYTES], 181366515);
    assert_int_equal(lo->v[HM_NET_TX_PACKETS], 999246);
    const hmNetDev *eth = hmNetFind(smp, "eth0");
    /* eth0: 63391671 2300 0 0 0 0 0 0 120027 1600 0 0 0 0 0 0 */
    assert_int_equal(eth->v[HM_NET_RX_BYTES], 63391671);
    assert_int_equal(eth->v[HM_NET_RX_PACKETS], 2300);
    assert_int_equal(eth->v[HM_NET_TX_BYTES], 120027);
    assert_int_equal(eth->v[HM_NET_TX_PACKETS], 1600);
    assert_string_equal(smp->net[4].name, "xit0");
    hmSampleFree(smp);
}

/* ---- utilisation ------------------------------------------------------------------------- */

static void test_util_compute(void **state)
{
    (void)state;
    hmCpuTimes a, b;
    hmCpuUtil u;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    /* 1 user, 1 system, 1 idle: 333.3 -> 333 each, busy 666.7 -> 667 */
    b.t[HM_CPU_USER] = 1;
    b.t[HM_CPU_SYSTEM] = 1;
    b.t[HM_CPU_IDLE] = 1;
    hmCpuUtilCompute(&a, &b, &u);
    assert_true(u.valid);
    assert_int_equal(u.busy, 667);
    assert_int_equal(u.mode[HM_CPU_USER], 333);
    assert_int_equal(u.ticks, 3);
    /* iowait is not busy; guest is part of user already and is not counted again */
    b.t[HM_CPU_IOWAIT] = 1;
    b.t[HM_CPU_GUEST] = 1000;
    hmCpuUtilCompute(&a, &b, &u);
    assert_int_equal(u.busy, 500);
    assert_int_equal(u.ticks, 4);
    assert_int_equal(u.mode[HM_CPU_IOWAIT], 250);
    /* all idle */
    memset(&b, 0, sizeof b);
    b.t[HM_CPU_IDLE] = 100;
    hmCpuUtilCompute(&a, &b, &u);
    assert_true(u.valid);
    assert_int_equal(u.busy, 0);
    assert_int_equal(u.mode[HM_CPU_IDLE], 1000);
    /* no tick passed */
    hmCpuUtilCompute(&b, &b, &u);
    assert_false(u.valid);
    /* a counter went backwards */
    a = b;
    a.t[HM_CPU_STEAL] = 5;
    b.t[HM_CPU_IDLE] = 200;
    hmCpuUtilCompute(&a, &b, &u);
    assert_false(u.valid);
    /* large counters do not overflow the permille arithmetic */
    a.t[HM_CPU_STEAL] = 0;
    a.t[HM_CPU_USER] = UINT64_MAX / 2;
    b.t[HM_CPU_USER] = UINT64_MAX;
    b.t[HM_CPU_IDLE] = 100;
    hmCpuUtilCompute(&a, &b, &u);
    assert_true(u.valid);
    assert_int_equal(u.busy, 1000);
}

static void test_util_two_fixtures(void **state)
{
    (void)state;
    char err[256];
    hmLimits lim = {.maxCpus = 8, .clockTicks = 100};
    hmSampler *s = hmSamplerCreate(fixture("t0"), &lim, err, sizeof err);
    assert_non_null(s);
    assert_null(hmSamplerLatest(s));
    assert_int_equal(hmSamplerSample(s), HM_SRC_COUNT);
    assert_null(hmSamplerPrevious(s));
    assert_null(hmSamplerCpuUtil(s, 0)); /* one sample: no utilisation yet */
    assert_int_equal(hmSamplerSetRoot(s, fixture("t1")), 0);
    assert_int_equal(hmSamplerSample(s), HM_SRC_COUNT);
    assert_non_null(hmSamplerPrevious(s));
    assert_int_equal(hmSamplerLatest(s)->lastPid, 28039);
    assert_int_equal(hmSamplerPrevious(s)->lastPid, 27981);

    /* cpu0: user 126504 -> 126512 (+8), system 15705 -> 15709 (+4), idle
     * 398193 -> 398280 (+87), the rest +0: 99 ticks.
     * busy = 12/99 = 121.2 permille -> 121; user 80.8 -> 81; system 40.4 -> 40;
     * idle 878.8 -> 879 */
    const hmCpuUtil *u = hmSamplerCpuUtil(s, 0);
    assert_non_null(u);
    assert_int_equal(u->ticks, 99);
    assert_int_equal(u->busy, 121);
    assert_int_equal(u->mode[HM_CPU_USER], 81);
    assert_int_equal(u->mode[HM_CPU_SYSTEM], 40);
    assert_int_equal(u->mode[HM_CPU_IDLE], 879);
    assert_int_equal(u->mode[HM_CPU_IOWAIT], 0);
    /* cpu1 (the spinning one): user +97, system +4, idle +1: 102 ticks.
     * busy 101/102 = 990.2 -> 990; user 951.0 -> 951; system 39.2 -> 39; idle 9.8 -> 10 */
    u = hmSamplerCpuUtil(s, 1);
    assert_non_null(u);
    assert_int_equal(u->ticks, 102);
    assert_int_equal(u->busy, 990);
    assert_int_equal(u->mode[HM_CPU_USER], 951);
    assert_int_equal(u->mode[HM_CPU_SYSTEM], 39);
    assert_int_equal(u->mode[HM_CPU_IDLE], 10);
    /* cpu line: user +104, system +7, idle +87, steal +1: 199 ticks.
     * busy 112/199 = 562.8 -> 563; steal 5.0 -> 5 */
    u = hmSamplerCpuUtilAll(s);
    assert_non_null(u);
    assert_int_equal(u->ticks, 199);
    assert_int_equal(u->busy, 563);
    assert_int_equal(u->mode[HM_CPU_STEAL], 5);
    assert_null(hmSamplerCpuUtil(s, 2)); /* no such CPU */
    assert_null(hmSamplerCpuUtil(s, 99));

    /* as exported */
    const char *text = render(s);
    assert_true(hasLine(text, "xchg_host_cpu_busy_ratio{cpu=\"0\"} 0.121"));
    assert_true(hasLine(text, "xchg_host_cpu_busy_ratio{cpu=\"1\"} 0.99"));
    assert_true(hasLine(text, "xchg_host_cpu_mode_ratio{cpu=\"1\",mode=\"idle\"} 0.01"));
    assert_true(hasLine(text, "xchg_host_cpu_all_busy_ratio 0.563"));
    /* 126512 ticks at USER_HZ 100 */
    assert_true(hasLine(text, "xchg_host_cpu_seconds_total{cpu=\"0\",mode=\"user\"} 1265.12"));
    assert_true(hasLine(text, "xchg_host_cpu_seconds_total{cpu=\"1\",mode=\"idle\"} 3548.89"));
    assert_true(hasLine(text, "xchg_host_load1 0.32"));
    assert_true(hasLine(text, "xchg_host_tasks 101"));
    /* 24682416 kB */
    assert_true(hasLine(text, "xchg_host_memory_bytes{field=\"MemTotal\"} 25274793984"));
    /* t1: 1128 kB */
    assert_true(hasLine(text, "xchg_host_memory_bytes{field=\"Active(anon)\"} 1155072"));
    assert_true(hasLine(text, "xchg_host_memory_pages{field=\"HugePages_Total\"} 512"));
    assert_true(hasLine(text, "xchg_host_network_receive_bytes_total{device=\"lo\"} 181366515"));
    assert_true(hasLine(text, "xchg_host_network_transmit_packets_total{device=\"eth0\"} 1600"));
    assert_true(hasLine(text, "xchg_host_softirqs_total{cpu=\"1\",type=\"NET_RX\"} 10683122"));
    assert_true(hasLine(text, "xchg_host_interrupts_total{cpu=\"1\",irq=\"LOC\",info=\"Local timer "
                              "interrupts\"} 1761548")); /* t1 */
    assert_true(hasLine(text, "xchg_host_interrupts_global_total{irq=\"ERR\"} 0"));
    assert_true(hasLine(text, "xchg_host_context_switches_total 18394541")); /* t1 */
    assert_true(hasLine(text, "xchg_host_sampler_samples_total 2"));
    assert_true(hasLine(text, "xchg_host_sampler_source_up{source=\"netdev\"} 1"));
    /* every sample line is ours */
    for (const char *p = text; *p; p = strchr(p, '\n') + 1)
        if (*p != '#')
            assert_memory_equal(p, "xchg_host_", 10);
    hmSamplerDestroy(s);
}

/* ---- hand-made trees: offline CPUs, other layouts, malformed lines ---------------------- */

static const char *const netDevStd =
    "Inter-|   Receive                                                |  Transmit\n"
    " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs "
    "drop fifo colls carrier compressed\n"
    "    lo:     100       2    0    0    0     0          0         0      100       2    0 "
    "   0    0     0       0          0\n";

static void test_cpu_offline(void **state)
{
    (void)state;
    /* sample 1: cpu1 offline (no line, no interrupts column; softirqs keeps
     * a column for every possible CPU) */
    writeFile("off1", "stat",
              "cpu  300 0 30 600 0 0 0 0 0 0\n"
              "cpu0 100 0 10 200 0 0 0 0 0 0\n"
              "cpu2 200 0 20 400 0 0 0 0 0 0\n"
              "ctxt 5\n");
    writeFile("off1", "interrupts",
              "           CPU0       CPU2\n"
              "  1:         10         20   IO-APIC   1-edge      i8042\n"
              "LOC:        100        200   Local timer interrupts\n"
              "ERR:          3\n");
    writeFile("off1", "softirqs",
              "                    CPU0       CPU1       CPU2\n"
              "          HI:          1          2          3\n");
    /* sample 2: cpu1 is back with counters lower than before it went away */
    writeFile("off2", "stat",
              "cpu  420 0 30 700 0 0 0 0 0 0\n"
              "cpu0 150 0 10 250 0 0 0 0 0 0\n"
              "cpu1 5 0 0 5 0 0 0 0 0 0\n"
              "cpu2 260 0 20 440 0 0 0 0 0 0\n");
    char err[256];
    hmLimits lim = {.maxCpus = 4};
    hmSampler *s = hmSamplerCreate(subDir("off1"), &lim, err, sizeof err);
    assert_non_null(s);
    /* stat, softirqs and interrupts exist; the other three do not */
    assert_int_equal(hmSamplerSample(s), 3);
    const hmSample *smp = hmSamplerLatest(s);
    assert_int_equal(smp->cpuCount, 2);
    assert_true(smp->cpuOnline[2]);
    assert_false(smp->cpuOnline[1]);
    assert_int_equal(smp->cpu[2].t[HM_CPU_USER], 200);
    assert_int_equal(smp->irqColCpu[0], 0);
    assert_int_equal(smp->irqColCpu[1], 2);
    assert_int_equal(smp->softColCpu[2], 2);
    assert_int_equal(smp->irqRows, 3);
    assert_false(smp->irq[2].perCpu);
    assert_int_equal(smp->irq[2].total, 3);
    const char *text = render(s);
    assert_true(hasLine(text, "xchg_host_interrupts_total{cpu=\"2\",irq=\"1\",info=\"IO-APIC "
                              "1-edge i8042\"} 20"));
    assert_true(hasLine(text, "xchg_host_softirqs_total{cpu=\"1\",type=\"HI\"} 2"));
    assert_true(hasLine(text, "xchg_host_sampler_source_up{source=\"meminfo\"} 0"));
    assert_null(strstr(text, "xchg_host_cpu_seconds_total{cpu=\"1\""));
    assert_null(strstr(text, "xchg_host_memory_bytes"));

    assert_int_equal(hmSamplerSetRoot(s, subDir("off2")), 0);
    assert_int_equal(hmSamplerSample(s), 1);
    /* cpu0: +50 user, +50 idle: 500 permille */
    assert_int_equal(hmSamplerCpuUtil(s, 0)->busy, 500);
    /* cpu1 was offline in the first sample: no figure */
    assert_null(hmSamplerCpuUtil(s, 1));
    /* cpu2: +60 user, +40 idle */
    assert_int_equal(hmSamplerCpuUtil(s, 2)->busy, 600);
    text = render(s);
    assert_true(hasLine(text, "xchg_host_cpu_seconds_total{cpu=\"1\",mode=\"user\"} 0.05"));
    assert_null(strstr(text, "xchg_host_cpu_busy_ratio{cpu=\"1\"}"));
    assert_null(strstr(text, "xchg_host_interrupts_total")); /* not read this time */

    /* a third sample where cpu1 went backwards against the second: invalid */
    writeFile("off3", "stat",
              "cpu  420 0 30 800 0 0 0 0 0 0\n"
              "cpu0 150 0 10 300 0 0 0 0 0 0\n"
              "cpu1 4 0 0 50 0 0 0 0 0 0\n"
              "cpu2 260 0 20 490 0 0 0 0 0 0\n");
    assert_int_equal(hmSamplerSetRoot(s, subDir("off3")), 0);
    assert_int_equal(hmSamplerSample(s), 1);
    assert_null(hmSamplerCpuUtil(s, 1));
    assert_int_equal(hmSamplerCpuUtil(s, 0)->busy, 0);
    hmSamplerStats st;
    hmSamplerGetStats(s, &st);
    assert_int_equal(st.samples, 3);
    assert_int_equal(st.readErrors[HM_SRC_MEMINFO], 3);
    assert_int_equal(st.readErrors[HM_SRC_INTERRUPTS], 2);
    assert_int_equal(st.readErrors[HM_SRC_STAT], 0);
    hmSamplerDestroy(s);
}

static void test_malformed_counted(void **state)
{
    (void)state;
    hmLimits lim = {.maxCpus = 4};
    hmSample *smp = hmSampleCreate(&lim);
    assert_non_null(smp);

    parse(hmParseStat, smp,
          "cpu  10 0 10 10 0 0 0 0 0 0\n"
          "cpu0 1 2 x 4\n"                    /* not a number: malformed */
          "cpu1 1 2 3\n"                      /* fewer than four fields: malformed */
          "cpu2 1 2 3 4 5 6 7 8 9 10 11 12\n" /* a future kernel's extra fields: kept */
          "cpu3 1 2 3 4\n"                    /* an old kernel's four fields: kept */
          "cpufreq 1 2 3 4\n"                 /* not a cpu line: ignored */
          "ctxt many\n"                       /* malformed */
          "btime\n"                           /* malformed */
          "some_new_key 1 2 3\n"              /* unknown: ignored */
          "\n"
          "processes 77\n",
          0);
    assert_int_equal(smp->malformed[HM_SRC_STAT], 4);
    assert_int_equal(smp->cpuCount, 2);
    assert_false(smp->cpuOnline[0]);
    assert_int_equal(smp->cpu[2].t[HM_CPU_GUEST_NICE], 10);
    assert_int_equal(smp->cpu[3].t[HM_CPU_IDLE], 4);
    assert_int_equal(smp->cpu[3].t[HM_CPU_IOWAIT], 0);
    assert_int_equal(smp->processes, 77);
    assert_false(smp->statHave & HM_STAT_CTXT);
    assert_true(smp->ok & (1u << HM_SRC_STAT));
    /* nothing usable at all */
    parse(hmParseStat, smp, "hello world\n", -1);
    assert_false(smp->ok & (1u << HM_SRC_STAT));

    parse(hmParseMeminfo, smp,
          "MemTotal:       1000 kB\n"
          "Bogus:          12 MB\n"                   /* unknown unit */
          "NoColon         12 kB\n"                   /* no label */
          "Negative:       -5 kB\n"                   /* not a number */
          "TooMuch:        1 kB extra\n"              /* trailing words */
          "Huge:           18446744073709551615 kB\n" /* overflows as bytes */
          "Plain:          7\n",
          0);
    assert_int_equal(smp->malformed[HM_SRC_MEMINFO], 5);
    assert_int_equal(smp->memCount, 2);
    assert_int_equal(hmMemFind(smp, "MemTotal")->value, 1024000);
    assert_int_equal(hmMemFind(smp, "Plain")->value, 7);

    parse(hmParseSoftirqs, smp,
          "       CPU0  CPU1\n"
          "  HI: 1 2\n"
          "  SHORT: 1\n" /* fewer columns than CPUs */
          "  BAD: 1 x\n"
          "  nocolon 1 2\n"
          "  TIMER: 3 4 5\n", /* an extra column is ignored */
          0);
    assert_int_equal(smp->malformed[HM_SRC_SOFTIRQS], 3);
    assert_int_equal(smp->softKinds, 2);
    assert_string_equal(smp->softName[1], "TIMER");
    assert_int_equal(smp->softCount[1 * 4 + 1], 4);
    parse(hmParseSoftirqs, smp, "  HI: 1 2\n", -1); /* no header */
    assert_int_equal(smp->malformed[HM_SRC_SOFTIRQS], 1);

    parse(hmParseInterrupts, smp,
          "       CPU0  CPU1  CPU2\n"
          "  5:  1 2 3  chip  5-edge  dev\n"
          "  6:  1 2  chip\n" /* two counts of three: malformed */
          "  7  1 2 3\n"      /* no colon */
          "ERR: 9\n"
          "NMI: 4 5 6 Non-maskable interrupts\n"
          "  8: 1 2 3\n", /* no description */
          0);
    assert_int_equal(smp->malformed[HM_SRC_INTERRUPTS], 2);
    assert_int_equal(smp->irqRows, 4);
    assert_string_equal(smp->irq[0].info, "chip 5-edge dev");
    assert_int_equal(smp->irq[0].total, 6);
    assert_false(smp->irq[1].perCpu);
    assert_int_equal(smp->irq[1].total, 9);
    assert_string_equal(smp->irq[3].info, "");

    parse(hmParseNetDev, smp,
          "Inter-|   Receive                            |  Transmit\n"
          " face |bytes packets errs drop fifo frame compressed multicast|bytes packets errs "
          "drop fifo colls carrier compressed\n"
          "  eth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n"
          "  eth1: 1 2 3\n" /* short */
          "  eth2: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 x\n"
          "garbage\n"
          "  eth3:1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n", /* no space after ':' */
          0);
    assert_int_equal(smp->malformed[HM_SRC_NETDEV], 3);
    assert_int_equal(smp->ifCount, 2);
    assert_int_equal(hmNetFind(smp, "eth3")->v[HM_NET_RX_BYTES], 1);
    assert_int_equal(hmNetFind(smp, "eth3")->v[HM_NET_TX_COMPRESSED], 16);
    hmSampleFree(smp);
}

static void test_netdev_layouts(void **state)
{
    (void)state;
    hmSample *smp = hmSampleCreate(NULL);
    assert_non_null(smp);
    /* a header with an unknown column and tx columns in another order */
    parse(hmParseNetDev, smp,
          "Inter-|   Receive   |  Transmit\n"
          " face |bytes packets newthing|packets bytes\n"
          "  veth0: 100 2 77 3 300\n",
          0);
    const hmNetDev *d = hmNetFind(smp, "veth0");
    assert_non_null(d);
    assert_int_equal(d->v[HM_NET_RX_BYTES], 100);
    assert_int_equal(d->v[HM_NET_RX_PACKETS], 2);
    assert_int_equal(d->v[HM_NET_TX_PACKETS], 3);
    assert_int_equal(d->v[HM_NET_TX_BYTES], 300);
    assert_int_equal(d->have, (1u << HM_NET_RX_BYTES) | (1u << HM_NET_RX_PACKETS) |
                                  (1u << HM_NET_TX_PACKETS) | (1u << HM_NET_TX_BYTES));
    /* no header at all: the standard sixteen columns */
    parse(hmParseNetDev, smp, "lo: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n", 0);
    assert_int_equal(hmNetFind(smp, "lo")->v[HM_NET_TX_BYTES], 9);
    assert_int_equal(hmNetFind(smp, "lo")->have, 0xffff);
    /* nothing */
    parse(hmParseNetDev, smp, "Inter-|   Receive   |  Transmit\n", -1);
    hmSampleFree(smp);

    /* exported: only the columns the file had */
    writeFile("layout", "net/dev",
              "Inter-|   Receive   |  Transmit\n"
              " face |bytes packets newthing|packets bytes\n"
              "  veth0: 100 2 77 3 300\n");
    char err[256];
    hmSampler *s = hmSamplerCreate(subDir("layout"), NULL, err, sizeof err);
    assert_int_equal(hmSamplerSample(s), 1);
    const char *text = render(s);
    assert_true(hasLine(text, "xchg_host_network_transmit_bytes_total{device=\"veth0\"} 300"));
    assert_null(strstr(text, "xchg_host_network_receive_errs_total"));
    hmSamplerDestroy(s);
}

static void test_limits(void **state)
{
    (void)state;
    hmLimits lim = {
        .maxCpus = 2, .maxSoftirqs = 1, .maxIrqs = 1, .maxMemFields = 1, .maxIfaces = 1};
    hmSample *smp = hmSampleCreate(&lim);
    assert_non_null(smp);
    parse(hmParseStat, smp,
          "cpu0 1 1 1 1\n"
          "cpu1 1 1 1 1\n"
          "cpu7 1 1 1 1\n",
          0);
    assert_int_equal(smp->dropped[HM_SRC_STAT], 1);
    assert_int_equal(smp->cpuCount, 2);
    /* CPU2 and CPU3: an id beyond the table, and a column beyond it */
    parse(hmParseSoftirqs, smp,
          "  CPU0 CPU5 CPU1\n"
          "  HI: 1 2 3\n"
          "  LO: 1 2 3\n",
          0);
    assert_int_equal(smp->softColCpu[1], HM_NO_CPU);
    /* CPU5's id and CPU1's column (third of two) are dropped, and row LO */
    assert_int_equal(smp->dropped[HM_SRC_SOFTIRQS], 3);
    assert_int_equal(smp->softKinds, 1);
    parse(hmParseInterrupts, smp, " CPU0 CPU1\n 1: 1 2 a\n 2: 3 4 b\n", 0);
    assert_int_equal(smp->dropped[HM_SRC_INTERRUPTS], 1);
    assert_int_equal(smp->irqRows, 1);
    parse(hmParseMeminfo, smp, "A: 1 kB\nB: 2 kB\n", 0);
    assert_int_equal(smp->dropped[HM_SRC_MEMINFO], 1);
    parse(hmParseNetDev, smp, netDevStd, 0);
    parse(hmParseNetDev, smp,
          "a: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n"
          "b: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n",
          0);
    assert_int_equal(smp->dropped[HM_SRC_NETDEV], 1);
    assert_int_equal(smp->ifCount, 1);
    /* names that do not fit the fixed fields are malformed, not cut */
    parse(hmParseMeminfo, smp, "AVeryLongMeminfoFieldNameThatGoesOn: 1 kB\n", -1);
    assert_int_equal(smp->malformed[HM_SRC_MEMINFO], 1);
    hmSampleFree(smp);

    /* a file longer than the read buffer is cut at its last whole line */
    char text[4096] = "";
    for (int i = 0; i < 60; i++) {
        char line[64];
        snprintf(line, sizeof line, "Field%02d: %d kB\n", i, i);
        strcat(text, line);
    }
    writeFile("cut", "meminfo", text);
    smp = hmSampleCreate(NULL);
    char buf[200];
    assert_int_equal(hmReadSource(smp, HM_SRC_MEMINFO, subDir("cut"), buf, sizeof buf), 0);
    assert_int_equal(smp->dropped[HM_SRC_MEMINFO], 1);
    assert_int_equal(smp->malformed[HM_SRC_MEMINFO], 0);
    assert_true(smp->memCount > 5 && smp->memCount < 60);
    assert_int_equal(hmMemFind(smp, "Field00")->value, 0);
    /* missing files and directories */
    assert_int_equal(hmReadSource(smp, HM_SRC_STAT, subDir("cut"), buf, sizeof buf), -1);
    assert_int_equal(hmReadAll(smp, "/nonexistent-xchg", buf, sizeof buf), -1);
    assert_int_equal(smp->ok, 0);
    hmSampleFree(smp);

    char err[256];
    hmSampler *s = hmSamplerCreate("/nonexistent-xchg", NULL, err, sizeof err);
    assert_non_null(s);
    assert_int_equal(hmSamplerSample(s), -1);
    assert_null(hmSamplerLatest(s));
    hmSamplerDestroy(s);
}

/* Mutated fixture files and random bytes, in buffers of exactly their length
 * (a sanitizer build catches any read past the end): parsers never crash and
 * never keep more than their limits. */
static void test_garbage(void **state)
{
    (void)state;
    static int (*const parsers[HM_SRC_COUNT])(hmSample *, const char *, size_t) = {
        hmParseStat,       hmParseLoadavg, hmParseSoftirqs,
        hmParseInterrupts, hmParseMeminfo, hmParseNetDev};
    static const char alphabet[] = "0123456789 :|\n\tCPUcpu.-/xkB";
    hmLimits lim = {
        .maxCpus = 2, .maxSoftirqs = 3, .maxIrqs = 4, .maxMemFields = 5, .maxIfaces = 2};
    hmSample *smp = hmSampleCreate(&lim);
    assert_non_null(smp);
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    for (int src = 0; src < HM_SRC_COUNT; src++) {
        char path[PATH_MAX + 64];
        snprintf(path, sizeof path, "%s/t0/%s", fixDir, hmSourceFile((hmSource)src));
        FILE *f = fopen(path, "r");
        assert_non_null(f);
        static char orig[1 << 16];
        size_t olen = fread(orig, 1, sizeof orig, f);
        fclose(f);
        for (int iter = 0; iter < 3000; iter++) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            size_t len = iter % 10 == 0 ? seed % 256 : seed % (olen + 1);
            char *buf = malloc(len ? len : 1);
            assert_non_null(buf);
            if (iter % 10 == 0) {
                for (size_t i = 0; i < len; i++)
                    buf[i] = (char)(seed >> (i % 56));
            } else {
                memcpy(buf, orig, len);
                for (int m = 0; m < 1 + (int)(seed % 8) && len; m++) {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    buf[seed % len] = alphabet[(seed >> 32) % (sizeof alphabet - 1)];
                }
            }
            parsers[src](smp, buf, len);
            free(buf);
            assert_true(smp->cpuCount <= lim.maxCpus);
            assert_true(smp->softKinds <= lim.maxSoftirqs);
            assert_true(smp->irqRows <= lim.maxIrqs);
            assert_true(smp->memCount <= lim.maxMemFields);
            assert_true(smp->ifCount <= lim.maxIfaces);
        }
    }
    hmSampleFree(smp);
}

/* Sampling allocates nothing after create: everything is preallocated. */
static void test_no_allocation(void **state)
{
    (void)state;
#if HM_COUNT_ALLOCS
    char err[256];
    hmSampler *s = hmSamplerCreate("/proc", NULL, err, sizeof err);
    assert_non_null(s);
    static char buf[1 << 20];
    allocs = 0;
    countAllocs = true;
    for (int i = 0; i < 50; i++) {
        hmSamplerSample(s);
        promWriter w;
        promWriterInit(&w, buf, sizeof buf);
        hmWriteProm(&w, s);
    }
    countAllocs = false;
    assert_int_equal(allocs, 0);
    hmSamplerDestroy(s);
#else
    print_message("skipped: a sanitizer owns malloc\n");
    skip();
#endif
}

static void test_live_proc(void **state)
{
    (void)state;
    char err[256];
    hmSampler *s = hmSamplerCreate("/proc", NULL, err, sizeof err);
    assert_non_null(s);
    assert_int_equal(hmSamplerSample(s), HM_SRC_COUNT);
    const hmSample *smp = hmSamplerLatest(s);
    for (int src = 0; src < HM_SRC_COUNT; src++) {
        assert_int_equal(smp->malformed[src], 0);
        if (smp->dropped[src]) /* a machine beyond the default limits */
            print_message("note: %s: %llu rows beyond the default limits\n",
                          hmSourceName((hmSource)src), (unsigned long long)smp->dropped[src]);
    }
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    assert_int_equal(smp->cpuCount, online);
    assert_int_equal(smp->irqCols, online);
    assert_true(smp->softCols >= (uint32_t)online);
    assert_true(hmMemFind(smp, "MemTotal")->value > (64u << 20));
    assert_non_null(hmNetFind(smp, "lo"));
    assert_true(smp->softKinds >= 5);
    assert_true(smp->irqRows >= 1);
    assert_int_equal(hmSamplerClockTicks(s), sysconf(_SC_CLK_TCK));
    /* a busy loop long enough for ticks to pass: utilisation exists */
    uint64_t end = nowMs() + 60;
    volatile uint64_t spin = 0;
    while (nowMs() < end)
        spin++;
    assert_int_equal(hmSamplerSample(s), HM_SRC_COUNT);
    const hmCpuUtil *all = hmSamplerCpuUtilAll(s);
    assert_non_null(all);
    assert_true(all->busy <= 1000);
    assert_true(smp->durationNs > 0);
    hmSamplerDestroy(s);
}

/* ---- the tool ---------------------------------------------------------------------------- */

/* Runs argv, returns its stdout (malloc'd) and exit status. */
static char *runCapture(char *const argv[], int *status)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(p[1], 1);
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0)
            dup2(null, 2); /* the usage and error messages */
        close(p[0]);
        close(p[1]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(p[1]);
    size_t cap = 1 << 16, len = 0;
    char *out = malloc(cap);
    ssize_t n;
    while ((n = read(p[0], out + len, cap - 1 - len)) > 0) {
        len += (size_t)n;
        if (len + 1 == cap)
            out = grow(out, cap *= 2);
    }
    out[len] = '\0';
    close(p[0]);
    waitpid(pid, status, 0);
    return out;
}

static void test_tool(void **state)
{
    (void)state;
    if (toolPath[0] == '\0') {
        print_message("skipped: build/bin/xchg-hostmon not built\n");
        skip();
    }
    int status;
    char root[PATH_MAX + 64];
    snprintf(root, sizeof root, "%s", fixture("t1"));
    char *argv1[] = {toolPath, "--prom", "--root", root, "--interval", "0", NULL};
    char *out = runCapture(argv1, &status);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_true(hasLine(out, "xchg_host_cpu_seconds_total{cpu=\"1\",mode=\"user\"} 1708.57"));
    assert_null(strstr(out, "busy_ratio")); /* one sample */
    free(out);
    char *argv2[] = {toolPath, "--interval", "50", NULL};
    out = runCapture(argv2, &status);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_non_null(strstr(out, "CPU utilisation over 50 ms"));
    assert_non_null(strstr(out, "MemTotal"));
    assert_non_null(strstr(out, "stat=ok"));
    free(out);
    char *argv3[] = {toolPath, "--root", "/nonexistent-xchg", "--interval", "0", NULL};
    free(runCapture(argv3, &status));
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 1);
    char *argv4[] = {toolPath, "--bogus", NULL};
    free(runCapture(argv4, &status));
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 2);
}

/* ---- against prometheus-node-exporter ---------------------------------------------------- */

static bool findExe(const char *name, char *out, size_t cap)
{
    const char *path = getenv("PATH");
    char dirs[4096];
    snprintf(dirs, sizeof dirs, "%s:/usr/bin:/usr/local/bin:/usr/sbin", path ? path : "");
    for (char *save = NULL, *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        snprintf(out, cap, "%s/%s", d, name);
        if (access(out, X_OK) == 0)
            return true;
    }
    return false;
}

/* GET /metrics from 127.0.0.1:port with HTTP/1.0 (no chunking). The body in
 * a malloc'd string, NULL if the connection fails. */
static char *scrape(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        close(fd);
        return NULL;
    }
    const char *req = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (send(fd, req, strlen(req), MSG_NOSIGNAL) != (ssize_t)strlen(req)) {
        close(fd);
        return NULL;
    }
    size_t cap = 1 << 18, len = 0;
    char *buf = malloc(cap);
    ssize_t n;
    while ((n = recv(fd, buf + len, cap - 1 - len, 0)) > 0) {
        len += (size_t)n;
        if (len + 1 == cap)
            buf = grow(buf, cap *= 2);
    }
    close(fd);
    buf[len] = '\0';
    char *body = strstr(buf, "\r\n\r\n");
    if (strncmp(buf, "HTTP/1.", 7) != 0 || strstr(buf, " 200 ") != buf + 8 || body == NULL) {
        free(buf);
        return NULL;
    }
    memmove(buf, body + 4, strlen(body + 4) + 1);
    return buf;
}

static uint16_t freePort(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

static char *sampleText(hmSampler *s)
{
    assert_int_equal(hmSamplerSample(s), HM_SRC_COUNT);
    return strdup(render(s));
}

/* theirs within [min(a, b) - slack, max(a, b) + slack] */
static void assertBracket(const char *what, double a, double theirs, double b, double slack)
{
    double lo = (a < b ? a : b) - slack, hi = (a > b ? a : b) + slack;
    if (theirs < lo || theirs > hi)
        fail_msg("%s: node-exporter %.6f outside ours [%.6f, %.6f] +- %.6f", what, theirs, a, b,
                 slack);
}

/* Tolerances (docs/operations/metrics.md). Both read the same kernel files,
 * so we read ours just before (a) and just after (b) the exporter's scrape
 * and require its value between them:
 *   counters (CPU seconds, lo bytes and packets): within [a, b], plus 2 ticks
 *     (0.02 s at USER_HZ 100) for CPU times, whose idle and iowait come from
 *     the nohz idle clock and may step back by a tick, plus 1e-6 s of float
 *     formatting; network counters exactly;
 *   node_load1: within [a, b] plus 0.005 (both print two decimals);
 *   MemTotal: equal;
 *   MemAvailable: within [a, b] plus max(1% of MemTotal, 64 MiB), for other
 *     processes allocating and freeing while the three reads happen. */
static void test_node_exporter(void **state)
{
    (void)state;
    char exe[PATH_MAX];
    if (!findExe("prometheus-node-exporter", exe, sizeof exe) &&
        !findExe("node_exporter", exe, sizeof exe)) {
        print_message("skipped: prometheus-node-exporter not installed "
                      "(apt-get install prometheus-node-exporter)\n");
        skip();
    }
    uint16_t port = freePort();
    char listen[64], logPath[PATH_MAX];
    snprintf(listen, sizeof listen, "--web.listen-address=127.0.0.1:%u", port);
    snprintf(logPath, sizeof logPath, "%s/node-exporter.log", tmpDir);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    nodePid = pid;
    if (pid == 0) {
        int log = open(logPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (log >= 0) {
            dup2(log, 1);
            dup2(log, 2);
        }
        if (null >= 0)
            dup2(null, 0);
        execl(exe, exe, listen, "--collector.disable-defaults", "--collector.cpu",
              "--collector.meminfo", "--collector.netdev", "--collector.loadavg",
              /* Debian's build leaves lo out by default (^lo$) */
              "--collector.netdev.device-exclude=^$", (char *)NULL);
        _exit(127);
    }
    char *node = NULL;
    uint64_t deadline = nowMs() + 15000;
    while (node == NULL && nowMs() < deadline) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            nodePid = 0;
            fail_msg("node-exporter exited (status %d); see %s", st, logPath);
        }
        node = scrape(port);
        if (node == NULL)
            usleep(50000);
    }
    if (node == NULL) {
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
        nodePid = 0;
        fail_msg("node-exporter did not answer on port %u; see %s", port, logPath);
    }
    free(node);

    char err[256];
    hmSampler *s = hmSamplerCreate("/proc", NULL, err, sizeof err);
    assert_non_null(s);
    char *a = sampleText(s);
    node = scrape(port);
    char *b = sampleText(s);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    nodePid = 0;
    assert_non_null(node);

    const hmSample *smp = hmSamplerLatest(s);
    const double hz = (double)hmSamplerClockTicks(s);
    static const char *const modes[] = {"user",   "nice", "system",  "idle",
                                        "iowait", "irq",  "softirq", "steal"};
    int compared = 0;
    for (uint32_t c = 0; c < smp->lim.maxCpus; c++) {
        if (!smp->cpuOnline[c])
            continue;
        for (int m = 0; m < 8; m++) {
            char ours[128], theirs[128];
            double va, vn, vb;
            snprintf(ours, sizeof ours, "xchg_host_cpu_seconds_total{cpu=\"%u\",mode=\"%s\"}", c,
                     modes[m]);
            snprintf(theirs, sizeof theirs, "node_cpu_seconds_total{cpu=\"%u\",mode=\"%s\"}", c,
                     modes[m]);
            if (!findValue(a, ours, &va) || !findValue(b, ours, &vb))
                continue; /* the CPU went offline between our reads */
            if (!findValue(node, theirs, &vn))
                fail_msg("node-exporter has no %s", theirs);
            assertBracket(theirs, va, vn, vb, 2.0 / hz + 1e-6);
            compared++;
        }
    }
    assert_true(compared >= 8);

    double va, vn, vb;
    assert_true(findValue(a, "xchg_host_memory_bytes{field=\"MemTotal\"}", &va));
    assert_true(findValue(node, "node_memory_MemTotal_bytes", &vn));
    assert_true(findValue(b, "xchg_host_memory_bytes{field=\"MemTotal\"}", &vb));
    assert_true(va == vn && vn == vb);
    double memTotal = va;
    double slack = memTotal / 100 > 64.0 * 1048576 ? memTotal / 100 : 64.0 * 1048576;
    assert_true(findValue(a, "xchg_host_memory_bytes{field=\"MemAvailable\"}", &va));
    assert_true(findValue(node, "node_memory_MemAvailable_bytes", &vn));
    assert_true(findValue(b, "xchg_host_memory_bytes{field=\"MemAvailable\"}", &vb));
    assertBracket("MemAvailable", va, vn, vb, slack);

    static const char *const net[][2] = {
        {"xchg_host_network_receive_bytes_total", "node_network_receive_bytes_total"},
        {"xchg_host_network_receive_packets_total", "node_network_receive_packets_total"},
        {"xchg_host_network_transmit_bytes_total", "node_network_transmit_bytes_total"},
        {"xchg_host_network_transmit_packets_total", "node_network_transmit_packets_total"},
    };
    for (size_t i = 0; i < sizeof net / sizeof net[0]; i++) {
        char ours[128], theirs[128];
        snprintf(ours, sizeof ours, "%s{device=\"lo\"}", net[i][0]);
        snprintf(theirs, sizeof theirs, "%s{device=\"lo\"}", net[i][1]);
        assert_true(findValue(a, ours, &va));
        assert_true(findValue(node, theirs, &vn));
        assert_true(findValue(b, ours, &vb));
        assertBracket(theirs, va, vn, vb, 0);
    }

    assert_true(findValue(a, "xchg_host_load1", &va));
    assert_true(findValue(node, "node_load1", &vn));
    assert_true(findValue(b, "xchg_host_load1", &vb));
    assertBracket("node_load1", va, vn, vb, 0.005);
    print_message("compared %d CPU times, memory, lo and load1 with node-exporter\n", compared);

    free(a);
    free(b);
    free(node);
    hmSamplerDestroy(s);
}

/* ---- set-up ------------------------------------------------------------------------------ */

/* tests/fixtures/proc from the repository root (make runs tests there), else
 * found upwards from this binary (build/tests/ or build/asan/tests/). */
static int findFixtures(void)
{
    char probe[PATH_MAX + 32];
    snprintf(fixDir, sizeof fixDir, "tests/fixtures/proc");
    snprintf(probe, sizeof probe, "%s/t0/stat", fixDir);
    if (access(probe, R_OK) == 0)
        return 0;
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return -1;
    self[n] = '\0';
    for (int up = 0; up < 5; up++) {
        char *slash = strrchr(self, '/');
        if (slash == NULL)
            break;
        *slash = '\0';
        snprintf(fixDir, sizeof fixDir, "%.4000s/tests/fixtures/proc", self);
        snprintf(probe, sizeof probe, "%s/t0/stat", fixDir);
        if (access(probe, R_OK) == 0)
            return 0;
    }
    fprintf(stderr, "test_hostmon: tests/fixtures/proc not found\n");
    return -1;
}

/* The xchg-hostmon of this build tree, else build/bin/; "" when neither. */
static void findTool(void)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash) {
            *slash = '\0';
            snprintf(toolPath, sizeof toolPath, "%.4000s/../bin/xchg-hostmon", self);
            if (access(toolPath, X_OK) == 0)
                return;
        }
    }
    snprintf(toolPath, sizeof toolPath, "build/bin/xchg-hostmon");
    if (access(toolPath, X_OK) != 0)
        toolPath[0] = '\0';
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmpDir, sizeof tmpDir, "/tmp/xchg-hostmon-XXXXXX");
    if (mkdtemp(tmpDir) == NULL)
        return -1;
    findTool();
    signal(SIGPIPE, SIG_IGN);
    return findFixtures();
}

static int teardown(void **state)
{
    (void)state;
    if (nodePid > 0) { /* a failed test left it running */
        kill(nodePid, SIGTERM);
        waitpid(nodePid, NULL, 0);
    }
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpDir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stat_fixture),     cmocka_unit_test(test_loadavg_fixture),
        cmocka_unit_test(test_softirqs_fixture), cmocka_unit_test(test_interrupts_fixture),
        cmocka_unit_test(test_meminfo_fixture),  cmocka_unit_test(test_netdev_fixture),
        cmocka_unit_test(test_util_compute),     cmocka_unit_test(test_util_two_fixtures),
        cmocka_unit_test(test_cpu_offline),      cmocka_unit_test(test_malformed_counted),
        cmocka_unit_test(test_netdev_layouts),   cmocka_unit_test(test_limits),
        cmocka_unit_test(test_garbage),          cmocka_unit_test(test_no_allocation),
        cmocka_unit_test(test_live_proc),        cmocka_unit_test(test_tool),
        cmocka_unit_test(test_node_exporter),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
