/* bench_journal.c -- journal throughput and group-commit latency against raw io_uring writes.
 *
 * Prints JSON lines (docs/storage/journal.md explains every field).
 *
 *   bench_journal [--dir D] [--payload N] [--records N] [--iters N] [--repeat N]
 *                 [--segment-mb N] [--batch-kb N] [--sync direct|dsync|fdatasync|all]
 *                 [--prefill zero|none|both] [--writer-cpu C] [--producer-cpu C]
 *
 * For every sync mode (O_DIRECT write + fdatasync, O_DIRECT|O_DSYNC write,
 * buffered write + fdatasync) and segment
 * preparation (zero-filled, fallocate only), in the same directory and run:
 *  - throughput: the producer appends --records records as fast as the ring
 *    takes them, publishing every 32; the writer thread commits whatever has
 *    accumulated (group commit). Timed from the first append to the last
 *    record durable. Then the baseline: the same record bytes, cut into the
 *    same number of commits, written with io_uring (registered buffer) into
 *    one file prepared the same way, each write followed by fdatasync (or O_DSYNC), one in
 *    flight at a time. The two alternate --repeat times (the host may be
 *    busy); medians are reported, ratio = journal / baseline rate.
 *  - commit_latency: batches of 1, 8, 64 and 512 records appended and
 *    published at once; latency = publish to durable seen by the producer.
 *    Baseline: the same bytes per commit with io_uring write + sync, on the
 *    writer's CPU, in blocks alternating with the journal's.
 * Segments are prepared before the clock starts (readySegments covers the
 * run), as an operator would before the open; both sides wait for their
 * completions the same way: asleep in io_uring_wait_cqe (--spin-io 1 makes
 * the writer spin instead).
 *
 * Placement matters: the writer runs on the CPU that takes the disk's
 * interrupts (found in /proc/interrupts; --writer-cpu overrides) and the
 * producer on another. A thread spinning on the interrupt CPU delays the
 * completion work queued there until the next scheduler tick (4 ms at
 * HZ=250), which is what a worker lcore would do to the journal there. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <liburing.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "storage/crc32c.h"
#include "storage/journal.h"

#define BLOCK 4096u

typedef struct {
    const char *dir;
    uint32_t payload;
    uint64_t records;
    uint32_t iters;
    uint64_t segmentBytes;
    uint32_t batchBytes;
    int syncMask;    /* bit per jnSyncMode */
    int prefillMask; /* bit 0 zero, bit 1 none */
    int writerCpu, producerCpu;
    int spinOnIo;
    int repeat;
} benchOpts;

static const uint32_t batchSizes[] = {1, 8, 64, 512};
#define LAT_BLOCKS 4 /* journal and baseline alternate in this many blocks */
#define N_BATCH    (sizeof batchSizes / sizeof batchSizes[0])

/* ---- helpers ---------------------------------------------------------------- */

static uint64_t nowNs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void pin(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (cpu >= 0)
        pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "bench_journal: %s: %s\n", what, detail);
    exit(1);
}

static int rmEntry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void rmTree(const char *dir)
{
    nftw(dir, rmEntry, 16, FTW_DEPTH | FTW_PHYS);
}

static int cmpU64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static double pct(uint64_t *v, size_t n, double p)
{
    qsort(v, n, sizeof *v, cmpU64);
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return (double)v[i] / 1000.0;
}

static uint32_t recSize(uint32_t payload)
{
    return (24 + payload + 7) & ~7u;
}

static const char *fsName(const char *dir)
{
    struct statfs s;
    if (statfs(dir, &s))
        return "unknown";
    switch ((unsigned long)s.f_type) {
    case 0xEF53:
        return "ext4";
    case 0x58465342:
        return "xfs";
    case 0x9123683E:
        return "btrfs";
    case 0x01021994:
        return "tmpfs";
    default:
        return "other";
    }
}

/* ---- raw baseline: one file, io_uring write + sync, one in flight ------------- */

typedef struct {
    struct io_uring ring;
    int fd;
    jnSyncMode mode;
    unsigned char *buf;
    size_t bufBytes;
} rawFile;

static void rawOpen(rawFile *r, const char *path, uint64_t bytes, jnSyncMode mode, int zero,
                    size_t maxChunk)
{
    bytes = (bytes + (1u << 20) - 1) & ~(uint64_t)((1u << 20) - 1);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || fallocate(fd, 0, 0, (off_t)bytes))
        die(path, strerror(errno));
    r->bufBytes = (maxChunk + 3 * BLOCK + (1u << 20)) & ~(size_t)(BLOCK - 1);
    if (posix_memalign((void **)&r->buf, BLOCK, r->bufBytes))
        die("memory", "posix_memalign");
    memset(r->buf, 0, r->bufBytes);
    int zfd = open(path, O_RDWR | O_DIRECT); /* as the journal fills: not via the cache */
    for (uint64_t off = 0; zero && off < bytes; off += 1u << 20) {
        size_t n = bytes - off < (1u << 20) ? (size_t)(bytes - off) : 1u << 20;
        if (pwrite(zfd >= 0 ? zfd : fd, r->buf, n, (off_t)off) != (ssize_t)n)
            die(path, "zero-fill");
    }
    if (zfd >= 0)
        close(zfd);
    if (fdatasync(fd))
        die(path, strerror(errno));
    for (size_t i = 0; i < r->bufBytes; i++)
        r->buf[i] = (unsigned char)(i * 131 + 17);
    r->mode = mode;
    r->fd = mode == JN_SYNC_FDATASYNC
                ? fd
                : open(path, O_RDWR | O_DIRECT | (mode == JN_SYNC_DSYNC ? O_DSYNC : 0));
    if (r->fd < 0)
        die(path, strerror(errno));
    if (r->fd != fd)
        close(fd);
    if (io_uring_queue_init(8, &r->ring, 0))
        die("io_uring", "init");
    struct iovec iov = {r->buf, r->bufBytes}; /* registered, as the journal's buffers */
    if (io_uring_register_buffers(&r->ring, &iov, 1))
        die("io_uring", "register buffers");
}

/* Writes [start, end) (widened to whole blocks with O_DIRECT), syncs, and
 * waits until it is durable. */
static void rawWrite(rawFile *r, uint64_t start, uint64_t end)
{
    if (r->mode != JN_SYNC_FDATASYNC) {
        start &= ~(uint64_t)(BLOCK - 1);
        end = (end + BLOCK - 1) & ~(uint64_t)(BLOCK - 1);
    }
    struct io_uring_sqe *w = io_uring_get_sqe(&r->ring);
    io_uring_prep_write_fixed(w, r->fd, r->buf, (unsigned)(end - start), start, 0);
    unsigned ops = 1;
    if (r->mode != JN_SYNC_DSYNC) {
        w->flags |= IOSQE_IO_LINK;
        io_uring_prep_fsync(io_uring_get_sqe(&r->ring), r->fd, IORING_FSYNC_DATASYNC);
        ops = 2;
    }
    io_uring_submit_and_wait(&r->ring, ops);
    while (ops) {
        struct io_uring_cqe *cqe;
        if (io_uring_wait_cqe(&r->ring, &cqe))
            die("raw write", "wait");
        if (cqe->res < 0)
            die("raw write", strerror(-cqe->res));
        io_uring_cqe_seen(&r->ring, cqe);
        ops--;
    }
}

static void rawClose(rawFile *r, const char *path)
{
    io_uring_queue_exit(&r->ring);
    close(r->fd);
    free(r->buf);
    unlink(path);
}

/* ---- journal side -------------------------------------------------------------- */

typedef struct {
    jnJournal *j;
    pthread_t thread;
    char dir[512];
    int cpu;
} jnRun;

static void *writerThread(void *arg)
{
    jnRun *run = arg;
    pin(run->cpu);
    return jnWriterMain(run->j);
}

static void jnStart(jnRun *run, const benchOpts *o, const char *name, jnSyncMode mode, int zero,
                    uint64_t bytes)
{
    snprintf(run->dir, sizeof run->dir, "%s/%s", o->dir, name);
    rmTree(run->dir);
    jnConfig c;
    jnConfigDefaults(&c);
    c.dir = run->dir;
    c.segmentBytes = o->segmentBytes;
    c.maxBatchBytes = o->batchBytes;
    c.maxPayload = o->payload > 65536 ? o->payload : 65536;
    c.sync = mode;
    c.prefill = zero;
    c.spinOnIo = o->spinOnIo;
    uint64_t segs = bytes / (o->segmentBytes - BLOCK) + 2;
    c.readySegments = (uint32_t)(segs > 64 ? 64 : segs);
    jnError err;
    run->j = jnOpen(&c, &err);
    if (!run->j)
        die("jnOpen", err.msg);
    run->cpu = o->writerCpu;
    if (pthread_create(&run->thread, NULL, writerThread, run))
        die("pthread_create", strerror(errno));
}

static void jnStop(jnRun *run, jnStats *st)
{
    jnWriterStop(run->j);
    pthread_join(run->thread, NULL);
    jnGetStats(run->j, st);
    if (jnStatus(run->j))
        die("journal", jnStatusMessage(run->j));
    jnClose(run->j);
    rmTree(run->dir);
}

/* Reserves one record, spinning while the ring is full; fills the payload. */
static void appendOne(jnJournal *j, uint32_t payload, const unsigned char *tmpl)
{
    uint64_t seq;
    unsigned char *p;
    while ((p = jnReserve(j, 1, payload, &seq)) == NULL) {
        jnPublish(j);
        if (jnStatus(j))
            die("journal", jnStatusMessage(j));
    }
    memcpy(p, tmpl, payload);
    memcpy(p, &seq, payload >= 8 ? 8 : payload);
}

static void waitDurable(jnJournal *j, uint64_t seq)
{
    while (jnDurableSeq(j) < seq) {
        if (jnStatus(j))
            die("journal", jnStatusMessage(j));
    }
}

/* ---- the two measurements ---------------------------------------------------------- */

static const char *const modeName[] = {"direct", "dsync", "fdatasync"};

/* One journal run: seconds from the first append to the last record durable. */
static double journalRun(const benchOpts *o, jnSyncMode mode, int zero, const unsigned char *tmpl,
                         jnStats *st)
{
    jnRun run = {.j = NULL};
    jnStart(&run, o, "tput", mode, zero, o->records * recSize(o->payload));
    uint64_t t0 = nowNs();
    for (uint64_t k = 1; k <= o->records; k++) {
        appendOne(run.j, o->payload, tmpl);
        if ((k & 31) == 0)
            jnPublish(run.j);
    }
    jnPublish(run.j);
    waitDurable(run.j, o->records);
    double secs = (double)(nowNs() - t0) / 1e9;
    jnStop(&run, st);
    return secs;
}

/* The baseline: bytes in `commits` equal writes, each made durable. */
static double rawRun(const benchOpts *o, jnSyncMode mode, int zero, uint64_t bytes,
                     uint64_t commits)
{
    char path[600];
    snprintf(path, sizeof path, "%s/raw-tput", o->dir);
    rawFile r;
    rawOpen(&r, path, bytes + 2 * BLOCK, mode, zero, bytes / commits + 1);
    pin(o->writerCpu); /* where the journal's writer ran */
    uint64_t t0 = nowNs();
    for (uint64_t c = 0; c < commits; c++)
        rawWrite(&r, bytes * c / commits, bytes * (c + 1) / commits);
    double secs = (double)(nowNs() - t0) / 1e9;
    pin(o->producerCpu);
    rawClose(&r, path);
    return secs;
}

static int cmpDouble(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmpDouble);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static double loadAvg(void)
{
    double l = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &l) != 1)
            l = -1;
        fclose(f);
    }
    return l;
}

/* Journal and baseline runs alternate, --repeat times; medians reported. */
static void throughput(const benchOpts *o, jnSyncMode mode, int zero, const unsigned char *tmpl)
{
    uint32_t rs = recSize(o->payload);
    uint64_t bytes = o->records * rs;
    double js[16] = {0}, rws[16] = {0}, ratio[16] = {0};
    jnStats st = {0};
    char runs[256] = "";
    int n = o->repeat, k = 0;
    double load = loadAvg();
    for (int i = 0; i < n; i++) {
        js[i] = journalRun(o, mode, zero, tmpl, &st);
        rws[i] = rawRun(o, mode, zero, bytes, st.commits);
        ratio[i] = rws[i] / js[i];
        k += snprintf(runs + k, sizeof runs - (size_t)k, "%s%.3f", i ? "," : "", ratio[i]);
    }
    double secs = median(js, n), rawSecs = median(rws, n);
    double mbs = (double)bytes / secs / 1e6, rawMbs = (double)bytes / rawSecs / 1e6;
    printf("{\"bench\":\"journal\",\"test\":\"throughput\",\"fs\":\"%s\",\"sync\":\"%s\","
           "\"prefill\":\"%s\",\"payload\":%u,\"record_bytes\":%u,\"records\":%llu,"
           "\"repeat\":%d,\"seconds\":%.3f,\"records_per_s\":%.0f,\"mb_per_s\":%.1f,"
           "\"commits\":%llu,\"records_per_commit\":%.1f,\"io_mb\":%.1f,\"segments\":%llu,"
           "\"raw_seconds\":%.3f,\"raw_mb_per_s\":%.1f,\"raw_records_per_s\":%.0f,"
           "\"ratio\":%.3f,\"ratio_runs\":[%s],\"loadavg\":%.2f}\n",
           fsName(o->dir), modeName[mode], zero ? "zero" : "none", o->payload, rs,
           (unsigned long long)o->records, n, secs, (double)o->records / secs, mbs,
           (unsigned long long)st.commits, (double)st.records / (double)st.commits,
           (double)st.ioBytes / 1e6, (unsigned long long)st.rotations + 1, rawSecs, rawMbs,
           (double)o->records / rawSecs, mbs / rawMbs, runs, load);
    fflush(stdout);
}

static uint32_t itersFor(const benchOpts *o, uint32_t batch)
{
    return batch >= 512 ? (o->iters / 4 ? o->iters / 4 : 1) : o->iters;
}

static void latency(const benchOpts *o, jnSyncMode mode, int zero, const unsigned char *tmpl)
{
    uint32_t rs = recSize(o->payload);
    uint64_t total = 0;
    for (size_t b = 0; b < N_BATCH; b++)
        total += (uint64_t)batchSizes[b] * itersFor(o, batchSizes[b]) * rs;
    uint64_t *lat = malloc(sizeof *lat * o->iters), *raw = malloc(sizeof *raw * o->iters);
    jnRun run = {.j = NULL};
    jnStart(&run, o, "lat", mode, zero, total);
    char path[600];
    snprintf(path, sizeof path, "%s/raw-lat", o->dir);
    rawFile r;
    rawOpen(&r, path, total + 2 * BLOCK, mode, zero, 512u * rs);
    uint64_t rawOff = 0;
    for (size_t b = 0; b < N_BATCH; b++) {
        uint32_t batch = batchSizes[b], n = itersFor(o, batch);
        for (uint32_t blk = 0; blk < LAT_BLOCKS; blk++) { /* alternate: load varies */
            uint32_t from = n * blk / LAT_BLOCKS, to = n * (blk + 1) / LAT_BLOCKS;
            for (uint32_t i = from; i < to; i++) {
                for (uint32_t k = 0; k < batch; k++)
                    appendOne(run.j, o->payload, tmpl);
                uint64_t t0 = nowNs();
                jnPublish(run.j);
                waitDurable(run.j, jnLastSeq(run.j));
                lat[i] = nowNs() - t0;
            }
            pin(o->writerCpu);
            for (uint32_t i = from; i < to; i++) {
                uint64_t t0 = nowNs();
                rawWrite(&r, rawOff, rawOff + (uint64_t)batch * rs);
                raw[i] = nowNs() - t0;
                rawOff += (uint64_t)batch * rs;
            }
            pin(o->producerCpu);
        }
        double sum = 0;
        for (uint32_t i = 0; i < n; i++)
            sum += (double)lat[i];
        double p50 = pct(lat, n, 0.50), p99 = pct(lat, n, 0.99);
        double r50 = pct(raw, n, 0.50), r99 = pct(raw, n, 0.99);
        printf("{\"bench\":\"journal\",\"test\":\"commit_latency\",\"fs\":\"%s\",\"sync\":\"%s\","
               "\"prefill\":\"%s\",\"payload\":%u,\"batch\":%u,\"iters\":%u,\"p50_us\":%.1f,"
               "\"p99_us\":%.1f,\"mean_us\":%.1f,\"max_us\":%.1f,\"raw_p50_us\":%.1f,"
               "\"raw_p99_us\":%.1f,\"ratio_p50\":%.3f,\"records_per_s\":%.0f,\"loadavg\":%.2f}\n",
               fsName(o->dir), modeName[mode], zero ? "zero" : "none", o->payload, batch, n, p50,
               p99, sum / n / 1000.0, (double)lat[n - 1] / 1000.0, r50, r99, p50 / r50,
               (double)batch * n / (sum / 1e9), loadAvg());
        fflush(stdout);
    }
    jnStats st;
    jnStop(&run, &st);
    rawClose(&r, path);
    free(lat);
    free(raw);
}

/* ---- options ----------------------------------------------------------------------- */

/* Bit i set for names[i] == v; "all" sets every bit. */
static int maskOf(const char *v, const char *const *names, int n)
{
    for (int i = 0; i < n; i++) {
        if (!strcmp(v, names[i]))
            return 1 << i;
    }
    if (!strcmp(v, "all") || !strcmp(v, "both"))
        return (1 << n) - 1;
    die("bad option value", v);
    return 0;
}

static const char *const prefillName[] = {"zero", "none"};

static void parseArgs(int argc, char **argv, benchOpts *o)
{
    static char defDir[64];
    snprintf(defDir, sizeof defDir, "/tmp/xchg-bench-journal-%d", (int)getpid());
    *o = (benchOpts){defDir, 64, 2000000, 2000, 64ull << 20, 1u << 20, 7, 3, -1, -1, 0, 5};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            die("missing value for", a);
        i++;
        if (!strcmp(a, "--dir"))
            o->dir = v;
        else if (!strcmp(a, "--payload"))
            o->payload = (uint32_t)strtoul(v, NULL, 0);
        else if (!strcmp(a, "--records"))
            o->records = strtoull(v, NULL, 0);
        else if (!strcmp(a, "--iters"))
            o->iters = (uint32_t)strtoul(v, NULL, 0);
        else if (!strcmp(a, "--segment-mb"))
            o->segmentBytes = strtoull(v, NULL, 0) << 20;
        else if (!strcmp(a, "--batch-kb"))
            o->batchBytes = (uint32_t)strtoul(v, NULL, 0) << 10;
        else if (!strcmp(a, "--sync"))
            o->syncMask = maskOf(v, modeName, 3);
        else if (!strcmp(a, "--prefill"))
            o->prefillMask = maskOf(v, prefillName, 2);
        else if (!strcmp(a, "--writer-cpu"))
            o->writerCpu = atoi(v);
        else if (!strcmp(a, "--producer-cpu"))
            o->producerCpu = atoi(v);
        else if (!strcmp(a, "--repeat"))
            o->repeat = atoi(v);
        else if (!strcmp(a, "--spin-io"))
            o->spinOnIo = atoi(v);
        else
            die("unknown option", a);
    }
    if (!o->records || !o->iters || o->payload > (1u << 20) || o->repeat < 1 || o->repeat > 16)
        die("bad option", "records, iters > 0; payload <= 1 MiB; repeat 1..16");
}

int main(int argc, char **argv)
{
    benchOpts o;
    parseArgs(argc, argv, &o);
    if (mkdir(o.dir, 0755) && errno != EEXIST)
        die(o.dir, strerror(errno));
    int irqCpu = jnDiskIrqCpu(o.dir);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    if (o.writerCpu < 0)
        o.writerCpu = irqCpu >= 0 ? irqCpu : 0;
    if (o.producerCpu < 0)
        o.producerCpu = ncpu > 1 ? (o.writerCpu + 1) % (int)ncpu : 0;
    printf("{\"bench\":\"journal\",\"test\":\"setup\",\"dir\":\"%s\",\"fs\":\"%s\","
           "\"cpus\":%ld,\"disk_irq_cpu\":%d,\"writer_cpu\":%d,\"producer_cpu\":%d,"
           "\"crc32c\":\"%s\",\"loadavg\":%.2f}\n",
           o.dir, fsName(o.dir), ncpu, irqCpu, o.writerCpu, o.producerCpu,
           crc32cHardware() ? "sse4.2" : "table", loadAvg());
    pin(o.producerCpu);
    unsigned char *tmpl = malloc(o.payload + 8);
    for (uint32_t i = 0; i < o.payload + 8; i++)
        tmpl[i] = (unsigned char)(i * 7 + 3);
    for (int s = 0; s < 3; s++) {
        for (int z = 0; z < 2; z++) {
            if (!(o.syncMask & (1 << s)) || !(o.prefillMask & (1 << z)))
                continue;
            throughput(&o, (jnSyncMode)s, z == 0, tmpl);
            latency(&o, (jnSyncMode)s, z == 0, tmpl);
        }
    }
    free(tmpl);
    if (strncmp(o.dir, "/tmp/xchg-bench-journal-", 24) == 0)
        rmTree(o.dir);
    return 0;
}
