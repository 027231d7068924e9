/* bench_sst.c -- xchg's LSM tree and SSTables against RocksDB on the same keys, in one run.
 *
 *   bench_sst [--keys N] [--value-bytes B] [--runs R] [--dir DIR] [--block-bytes B]
 *
 * Each run, for each engine in turn (xchg first in odd runs, RocksDB first
 * in even ones): put N keys in a random order (16-byte keys, B-byte values,
 * no write-ahead log on either side: xchg's journal is its log), flush, and
 * compact everything into one sorted run (so both read the same shape of
 * data); then a full scan, N gets of present keys in another random order,
 * and N gets of absent keys. Both engines use the same block size, 10 bloom
 * bits per key, no compression, the same memtable and file sizes; RocksDB
 * gets a 1 GiB block cache (all data cached after the scan: its strongest
 * read setting) and pinned gets (no copy); xchg copies each value out, as
 * RocksDB's caller does below. One thread does everything.
 *
 * Prints a JSON line per engine and run, then a summary line with the
 * medians and the xchg / RocksDB ratios (> 1: xchg faster). Gets are timed
 * by the wall clock and by the thread's CPU clock (*_cpu_ns): on a shared
 * host the second is not inflated by time the thread spent descheduled.
 * docs/perf/sst.md
 * has numbers and conditions. */
#define _GNU_SOURCE
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <rocksdb/c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "storage/lsm.h"

#define MAX_RUNS 15

typedef struct {
    double writeOps, compactS, scanOps, hitOps, missOps;
    double hitCpuNs, missCpuNs; /* thread CPU time per get: what a busy host does not inflate */
    uint64_t checksum;          /* of what the reads returned: both engines must agree */
    uint64_t found;
} phaseResult;

typedef struct {
    uint64_t keys;
    uint32_t valueBytes, runs, blockBytes;
    char dir[256];
    uint64_t *order, *readOrder; /* permutations of 0..keys-1 */
} benchCfg;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double cpuNow(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    return x ^ (x >> 33);
}

/* Key i: 16 hex digits of a hash of i (present keys: even hashes' digits
 * come from 2i, absent ones from 2i+1, so the sets are disjoint). */
static void makeKey(uint64_t i, int absent, char *k)
{
    static const char hex[] = "0123456789abcdef";
    uint64_t h = mix64(i * 2 + (uint64_t)absent);
    for (int j = 15; j >= 0; j--, h >>= 4)
        k[j] = hex[h & 15];
}

static void makeValue(uint64_t i, char *v, uint32_t n)
{
    uint64_t h = mix64(i ^ 0x5bd1e995ull);
    for (uint32_t j = 0; j < n; j++) {
        v[j] = (char)('a' + (h % 26));
        h = h * 6364136223846793005ull + 1442695040888963407ull;
    }
}

static void shuffle(uint64_t *a, uint64_t n, uint64_t seed)
{
    for (uint64_t i = 0; i < n; i++)
        a[i] = i;
    for (uint64_t i = n - 1; i > 0; i--) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        uint64_t j = (seed >> 11) % (i + 1), t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
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

static void die(const char *what, const char *msg)
{
    fprintf(stderr, "bench_sst: %s: %s\n", what, msg ? msg : "failed");
    exit(1);
}

/* ---- xchg ------------------------------------------------------------------------------ */

static phaseResult runXchg(const benchCfg *b, const char *dir)
{
    phaseResult r = {0};
    lsmConfig c;
    lsmConfigDefaults(&c);
    c.dir = dir;
    c.memtableBytes = 64u << 20;
    c.targetFileBytes = 64u << 20;
    c.l1Bytes = 256u << 20;
    c.flushIntervalMs = 0;
    c.sst.blockSize = b->blockBytes;
    sstError err;
    lsmDb *db = lsmOpen(&c, &err);
    if (!db)
        die("lsmOpen", err.msg);
    char k[16], v[4096], buf[4096];
    double t0 = now();
    for (uint64_t i = 0; i < b->keys; i++) {
        uint64_t id = b->order[i];
        makeKey(id, 0, k);
        makeValue(id, v, b->valueBytes);
        if (lsmPut(db, k, 16, v, b->valueBytes, &err) < 0)
            die("lsmPut", err.msg);
    }
    if (lsmFlush(db, &err) < 0)
        die("lsmFlush", err.msg);
    r.writeOps = (double)b->keys / (now() - t0);
    t0 = now();
    if (lsmCompactAll(db, &err) < 0)
        die("lsmCompactAll", err.msg);
    r.compactS = now() - t0;

    t0 = now();
    lsmIter *it = lsmIterOpen(db, &err);
    sstEntry e;
    uint64_t n = 0;
    while (lsmIterNext(it, &e, &err) == 1) {
        r.checksum += (uint8_t)e.key[0] + (uint8_t)e.val[e.vlen - 1];
        n++;
    }
    lsmIterClose(it);
    r.scanOps = (double)n / (now() - t0);
    if (n != b->keys)
        die("xchg scan", "wrong number of keys");

    t0 = now();
    double c0 = cpuNow();
    for (uint64_t i = 0; i < b->keys; i++) {
        size_t vl;
        makeKey(b->readOrder[i], 0, k);
        if (lsmGet(db, k, 16, buf, sizeof buf, &vl, &err) == 1) {
            r.found++;
            r.checksum += (uint8_t)buf[vl - 1];
        }
    }
    r.hitCpuNs = (cpuNow() - c0) * 1e9 / (double)b->keys;
    r.hitOps = (double)b->keys / (now() - t0);
    t0 = now();
    c0 = cpuNow();
    for (uint64_t i = 0; i < b->keys; i++) {
        size_t vl;
        makeKey(b->readOrder[i], 1, k);
        if (lsmGet(db, k, 16, buf, sizeof buf, &vl, &err) == 1)
            r.found++;
    }
    r.missCpuNs = (cpuNow() - c0) * 1e9 / (double)b->keys;
    r.missOps = (double)b->keys / (now() - t0);
    lsmClose(db);
    return r;
}

/* ---- RocksDB --------------------------------------------------------------------------- */

static phaseResult runRocks(const benchCfg *b, const char *dir)
{
    phaseResult r = {0};
    rocksdb_options_t *o = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(o, 1);
    rocksdb_options_set_compression(o, rocksdb_no_compression);
    rocksdb_options_set_write_buffer_size(o, 64u << 20);
    rocksdb_options_set_target_file_size_base(o, 64u << 20);
    rocksdb_options_set_max_bytes_for_level_base(o, 256u << 20);
    rocksdb_options_set_level0_file_num_compaction_trigger(o, 4);
    rocksdb_options_set_max_open_files(o, -1);
    rocksdb_block_based_table_options_t *t = rocksdb_block_based_options_create();
    rocksdb_block_based_options_set_block_size(t, b->blockBytes);
    rocksdb_block_based_options_set_filter_policy(t, rocksdb_filterpolicy_create_bloom_full(10));
    rocksdb_cache_t *cache = rocksdb_cache_create_lru(1u << 30);
    rocksdb_block_based_options_set_block_cache(t, cache);
    rocksdb_options_set_block_based_table_factory(o, t);
    char *e = NULL;
    rocksdb_t *db = rocksdb_open(o, dir, &e);
    if (!db)
        die("rocksdb_open", e);
    rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
    rocksdb_writeoptions_disable_WAL(wo, 1);
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    rocksdb_flushoptions_t *fo = rocksdb_flushoptions_create();
    rocksdb_flushoptions_set_wait(fo, 1);
    char k[16], v[4096], buf[4096];
    double t0 = now();
    for (uint64_t i = 0; i < b->keys; i++) {
        uint64_t id = b->order[i];
        makeKey(id, 0, k);
        makeValue(id, v, b->valueBytes);
        rocksdb_put(db, wo, k, 16, v, b->valueBytes, &e);
        if (e)
            die("rocksdb_put", e);
    }
    rocksdb_flush(db, fo, &e);
    if (e)
        die("rocksdb_flush", e);
    r.writeOps = (double)b->keys / (now() - t0);
    t0 = now();
    rocksdb_compact_range(db, NULL, 0, NULL, 0);
    r.compactS = now() - t0;

    t0 = now();
    rocksdb_iterator_t *it = rocksdb_create_iterator(db, ro);
    uint64_t n = 0;
    for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t kl, vl;
        const char *kk = rocksdb_iter_key(it, &kl), *vv = rocksdb_iter_value(it, &vl);
        r.checksum += (uint8_t)kk[0] + (uint8_t)vv[vl - 1];
        n++;
    }
    rocksdb_iter_destroy(it);
    r.scanOps = (double)n / (now() - t0);
    if (n != b->keys)
        die("rocksdb scan", "wrong number of keys");

    t0 = now();
    double c0 = cpuNow();
    for (uint64_t i = 0; i < b->keys; i++) {
        makeKey(b->readOrder[i], 0, k);
        rocksdb_pinnableslice_t *p = rocksdb_get_pinned(db, ro, k, 16, &e);
        if (p) {
            size_t vl;
            const char *vv = rocksdb_pinnableslice_value(p, &vl);
            memcpy(buf, vv, vl < sizeof buf ? vl : sizeof buf);
            r.found++;
            r.checksum += (uint8_t)buf[vl - 1];
            rocksdb_pinnableslice_destroy(p);
        }
    }
    r.hitCpuNs = (cpuNow() - c0) * 1e9 / (double)b->keys;
    r.hitOps = (double)b->keys / (now() - t0);
    t0 = now();
    c0 = cpuNow();
    for (uint64_t i = 0; i < b->keys; i++) {
        makeKey(b->readOrder[i], 1, k);
        rocksdb_pinnableslice_t *p = rocksdb_get_pinned(db, ro, k, 16, &e);
        if (p) {
            r.found++;
            rocksdb_pinnableslice_destroy(p);
        }
    }
    r.missCpuNs = (cpuNow() - c0) * 1e9 / (double)b->keys;
    r.missOps = (double)b->keys / (now() - t0);
    rocksdb_close(db);
    rocksdb_flushoptions_destroy(fo);
    rocksdb_readoptions_destroy(ro);
    rocksdb_writeoptions_destroy(wo);
    rocksdb_block_based_options_destroy(t);
    rocksdb_cache_destroy(cache);
    rocksdb_options_destroy(o);
    return r;
}

/* ---- driver ----------------------------------------------------------------------------- */

static int cmpDouble(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, uint32_t n)
{
    qsort(v, n, sizeof *v, cmpDouble);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void printRun(const char *engine, uint32_t run, const benchCfg *b, const phaseResult *r)
{
    printf("{\"bench\":\"sst\",\"engine\":\"%s\",\"run\":%u,\"keys\":%llu,\"value_bytes\":%u,"
           "\"block_bytes\":%u,\"write_ops_s\":%.0f,\"compact_s\":%.3f,\"scan_ops_s\":%.0f,"
           "\"get_hit_ops_s\":%.0f,\"get_hit_ns\":%.1f,\"get_hit_cpu_ns\":%.1f,"
           "\"get_miss_ops_s\":%.0f,\"get_miss_ns\":%.1f,\"get_miss_cpu_ns\":%.1f}\n",
           engine, run, (unsigned long long)b->keys, b->valueBytes, b->blockBytes, r->writeOps,
           r->compactS, r->scanOps, r->hitOps, 1e9 / r->hitOps, r->hitCpuNs, r->missOps,
           1e9 / r->missOps, r->missCpuNs);
    fflush(stdout);
}

static void parseArgs(int argc, char **argv, benchCfg *b)
{
    static const struct option opts[] = {{"keys", required_argument, NULL, 'k'},
                                         {"value-bytes", required_argument, NULL, 'v'},
                                         {"runs", required_argument, NULL, 'r'},
                                         {"dir", required_argument, NULL, 'd'},
                                         {"block-bytes", required_argument, NULL, 'b'},
                                         {NULL, 0, NULL, 0}};
    b->keys = 1000000;
    b->valueBytes = 100;
    b->runs = 3;
    b->blockBytes = 4096;
    snprintf(b->dir, sizeof b->dir, "/var/tmp/xchg-bench-sst-XXXXXX");
    int ch, dirGiven = 0;
    while ((ch = getopt_long(argc, argv, "k:v:r:d:b:", opts, NULL)) != -1) {
        if (ch == 'k')
            b->keys = strtoull(optarg, NULL, 10);
        else if (ch == 'v')
            b->valueBytes = (uint32_t)strtoul(optarg, NULL, 10);
        else if (ch == 'r')
            b->runs = (uint32_t)strtoul(optarg, NULL, 10);
        else if (ch == 'b')
            b->blockBytes = (uint32_t)strtoul(optarg, NULL, 10);
        else if (ch == 'd') {
            snprintf(b->dir, sizeof b->dir, "%s/xchg-bench-sst-XXXXXX", optarg);
            dirGiven = 1;
        } else {
            fprintf(stderr, "usage: bench_sst [--keys N] [--value-bytes B] [--runs R] "
                            "[--dir DIR] [--block-bytes B]\n");
            exit(2);
        }
    }
    (void)dirGiven;
    if (b->keys < 1000 || b->valueBytes < 1 || b->valueBytes > 4000 || b->runs < 1 ||
        b->runs > MAX_RUNS || b->blockBytes < 4096 || b->blockBytes > 65536)
        die("arguments", "keys >= 1000, value bytes 1-4000, runs 1-15, block bytes 4096-65536");
    if (!mkdtemp(b->dir))
        die(b->dir, strerror(errno));
}

int main(int argc, char **argv)
{
    benchCfg b;
    parseArgs(argc, argv, &b);
    b.order = malloc(b.keys * sizeof *b.order);
    b.readOrder = malloc(b.keys * sizeof *b.readOrder);
    if (!b.order || !b.readOrder)
        die("malloc", "out of memory");
    shuffle(b.order, b.keys, 1);
    shuffle(b.readOrder, b.keys, 2);
    phaseResult xr[MAX_RUNS], rr[MAX_RUNS];
    for (uint32_t run = 0; run < b.runs; run++) {
        char dx[300], dr[300];
        snprintf(dx, sizeof dx, "%s/xchg", b.dir);
        snprintf(dr, sizeof dr, "%s/rocksdb", b.dir);
        for (int side = 0; side < 2; side++) {
            int xchgNow = (side == 0) == (run % 2 == 0);
            if (xchgNow) {
                xr[run] = runXchg(&b, dx);
                printRun("xchg", run + 1, &b, &xr[run]);
                rmTree(dx);
            } else {
                rr[run] = runRocks(&b, dr);
                printRun("rocksdb", run + 1, &b, &rr[run]);
                rmTree(dr);
            }
        }
        if (xr[run].checksum != rr[run].checksum || xr[run].found != rr[run].found)
            die("check", "the engines returned different data");
    }
    rmTree(b.dir);
    double v[2][7][MAX_RUNS];
    for (uint32_t i = 0; i < b.runs; i++) {
        const phaseResult *p[2] = {&xr[i], &rr[i]};
        for (int s = 0; s < 2; s++) {
            v[s][0][i] = p[s]->writeOps;
            v[s][1][i] = p[s]->compactS;
            v[s][2][i] = p[s]->scanOps;
            v[s][3][i] = p[s]->hitOps;
            v[s][4][i] = p[s]->missOps;
            v[s][5][i] = p[s]->hitCpuNs;
            v[s][6][i] = p[s]->missCpuNs;
        }
    }
    double m[2][7];
    for (int s = 0; s < 2; s++)
        for (int f = 0; f < 7; f++)
            m[s][f] = median(v[s][f], b.runs);
    printf("{\"bench\":\"sst_summary\",\"runs\":%u,\"keys\":%llu,\"value_bytes\":%u,"
           "\"block_bytes\":%u,\"xchg_write_ops_s\":%.0f,\"rocksdb_write_ops_s\":%.0f,"
           "\"write_ratio\":%.2f,\"xchg_compact_s\":%.3f,\"rocksdb_compact_s\":%.3f,"
           "\"xchg_scan_ops_s\":%.0f,\"rocksdb_scan_ops_s\":%.0f,\"scan_ratio\":%.2f,"
           "\"xchg_get_hit_ns\":%.1f,\"rocksdb_get_hit_ns\":%.1f,\"get_hit_ratio\":%.2f,"
           "\"xchg_get_miss_ns\":%.1f,\"rocksdb_get_miss_ns\":%.1f,\"get_miss_ratio\":%.2f,"
           "\"xchg_get_hit_cpu_ns\":%.1f,\"rocksdb_get_hit_cpu_ns\":%.1f,"
           "\"get_hit_cpu_ratio\":%.2f,\"xchg_get_miss_cpu_ns\":%.1f,"
           "\"rocksdb_get_miss_cpu_ns\":%.1f,\"get_miss_cpu_ratio\":%.2f}\n",
           b.runs, (unsigned long long)b.keys, b.valueBytes, b.blockBytes, m[0][0], m[1][0],
           m[0][0] / m[1][0], m[0][1], m[1][1], m[0][2], m[1][2], m[0][2] / m[1][2], 1e9 / m[0][3],
           1e9 / m[1][3], m[0][3] / m[1][3], 1e9 / m[0][4], 1e9 / m[1][4], m[0][4] / m[1][4],
           m[0][5], m[1][5], m[1][5] / m[0][5], m[0][6], m[1][6], m[1][6] / m[0][6]);
    free(b.order);
    free(b.readOrder);
    return 0;
}
