/* dpdk_mdbench.c -- what the summary market data costs: the worker's fill hook and the control
 * lcore's aggregation.
 *
 *   dpdk_mdbench [--config F] [--fills N] [--rounds R]
 *
 * Worker side (docs/market-data.md §1): per fill the worker builds a 24-byte
 * mdsTrade and pushes it into an SP/SC rte_ring (rte_ring_sp_enqueue_elem).
 * Timed here per block of 1024 fills, against a baseline that builds the same
 * record and stores it to memory without the ring; the ring is drained
 * between blocks (not timed), as the control lcore does. The ring is
 * initialised with rte_ring_init on heap memory: no EAL, no hugepages, no
 * privileges. Control side: mdsOnTrade per fill (four instruments, 1 ms of
 * clock per fill, so 3 s and longer bars finish as they would), mdsTick with
 * nothing due, and one snapshot built and encoded. Each measurement runs R
 * rounds interleaved (baseline, ring, aggregator, ...) and reports the
 * median round in ns per operation; TSC ticks are converted with a
 * frequency measured against CLOCK_MONOTONIC.
 *
 * Output: one JSON line {"bench":"md_summary", "fills", "rounds",
 * "worker_record_only_ns", "worker_ring_push_ns", "worker_hook_extra_ns",
 * "control_on_trade_ns", "control_tick_ns", "control_snapshot_ns",
 * "ring_full_drops"} (all medians). */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <x86intrin.h>

#include <rte_ring.h>
#include <rte_ring_elem.h>

#include "control/mdsummary.h"

#define MB_BLOCK      1024
#define MB_RING       16384
#define MB_MAX_ROUNDS 31

static double gNsPerTick;

static uint64_t mbMonoNs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void mbCalibrate(void)
{
    const uint64_t n0 = mbMonoNs(), t0 = __rdtsc();
    while (mbMonoNs() - n0 < 100000000ULL)
        ;
    gNsPerTick = (double)(mbMonoNs() - n0) / (double)(__rdtsc() - t0);
}

static int mbCmp(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double mbMedian(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, mbCmp);
    return v[n / 2];
}

static volatile mdsTrade gSink[MB_BLOCK];
static uint64_t gDrops;

/* The hook's work without the ring: the record built and stored. */
static double mbRecordOnly(uint64_t fills)
{
    uint64_t ticks = 0;
    for (uint64_t done = 0; done < fills; done += MB_BLOCK) {
        const uint64_t t0 = __rdtsc();
        for (unsigned i = 0; i < MB_BLOCK; i++) {
            const mdsTrade t = {.timeNs = done + i,
                                .price = 38000000 + (int64_t)(i & 15) * 2000,
                                .qty = 1 + (i & 3),
                                .instrument = (uint16_t)(i & 3),
                                .offset = {0, 1}};
            gSink[i].timeNs = t.timeNs;
            gSink[i].price = t.price;
            gSink[i].qty = t.qty;
            gSink[i].instrument = t.instrument;
        }
        ticks += __rdtsc() - t0;
    }
    return (double)ticks * gNsPerTick / (double)fills;
}

/* The hook's work as the worker does it: into the SP/SC ring. */
static double mbRingPush(struct rte_ring *r, uint64_t fills)
{
    uint64_t ticks = 0;
    mdsTrade out[MB_BLOCK];
    for (uint64_t done = 0; done < fills; done += MB_BLOCK) {
        const uint64_t t0 = __rdtsc();
        for (unsigned i = 0; i < MB_BLOCK; i++) {
            mdsTrade t = {.timeNs = done + i,
                          .price = 38000000 + (int64_t)(i & 15) * 2000,
                          .qty = 1 + (i & 3),
                          .instrument = (uint16_t)(i & 3),
                          .offset = {0, 1}};
            if (rte_ring_sp_enqueue_elem(r, &t, sizeof t) != 0)
                gDrops++;
        }
        ticks += __rdtsc() - t0;
        while (rte_ring_sc_dequeue_burst_elem(r, out, sizeof out[0], MB_BLOCK, NULL) > 0)
            ;
    }
    return (double)ticks * gNsPerTick / (double)fills;
}

/* The control lcore's aggregation of the same fills. */
static double mbOnTrade(mds *m, uint64_t *clock, uint64_t fills)
{
    const uint64_t t0 = __rdtsc();
    for (uint64_t i = 0; i < fills; i++) {
        *clock += 1000000; /* 1 ms per fill */
        const mdsTrade t = {.timeNs = *clock,
                            .price = 38000000 + (int64_t)(i & 15) * 2000,
                            .qty = 1 + (uint32_t)(i & 3),
                            .instrument = (uint16_t)(i & 3),
                            .offset = {(uint8_t)(i & 1), 0}};
        mdsOnTrade(m, &t);
    }
    return (double)(__rdtsc() - t0) * gNsPerTick / (double)fills;
}

static double mbTick(mds *m, uint64_t clock, uint64_t n)
{
    const uint64_t t0 = __rdtsc();
    for (uint64_t i = 0; i < n; i++)
        mdsTick(m, clock + i);
    return (double)(__rdtsc() - t0) * gNsPerTick / (double)n;
}

static double mbSnapshot(const mds *m, uint64_t n)
{
    const mdsLevel lv[MDS_LEVELS] = {
        {38000000, 3}, {37998000, 5}, {37996000, 1}, {37994000, 7}, {37992000, 2}};
    uint8_t msg[MDS_SNAPSHOT_LEN];
    uint64_t sum = 0;
    const uint64_t t0 = __rdtsc();
    for (uint64_t i = 0; i < n; i++) {
        mdsSnapshot s;
        mdsSnapshotBuild(m, (uint16_t)(i & 3), lv, MDS_LEVELS, lv, MDS_LEVELS, i, &s);
        sum += mdsEncodeSnapshot(msg, "IF2501", &s) + msg[30];
    }
    const double ns = (double)(__rdtsc() - t0) * gNsPerTick / (double)n;
    return sum ? ns : -1;
}

int main(int argc, char **argv)
{
    const char *config = "config/xchg.conf";
    uint64_t fills = 1 << 20;
    int rounds = 7;
    static const struct option lo[] = {{"config", required_argument, NULL, 'c'},
                                       {"fills", required_argument, NULL, 'n'},
                                       {"rounds", required_argument, NULL, 'r'},
                                       {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        if (c == 'c')
            config = optarg;
        else if (c == 'n')
            fills = strtoull(optarg, NULL, 0);
        else if (c == 'r')
            rounds = atoi(optarg);
        else {
            fprintf(stderr, "usage: dpdk_mdbench [--config F] [--fills N] [--rounds R]\n");
            return 2;
        }
    }
    fills = (fills + MB_BLOCK - 1) / MB_BLOCK * MB_BLOCK;
    if (rounds < 1 || rounds > MB_MAX_ROUNDS || fills == 0) {
        fprintf(stderr, "dpdk_mdbench: rounds 1..%d, fills > 0\n", MB_MAX_ROUNDS);
        return 2;
    }
    static cfgConfig cfg;
    char err[512];
    if (cfgLoad(config, &cfg, err, sizeof err) != 0) {
        fprintf(stderr, "dpdk_mdbench: %s\n", err);
        return 1;
    }
    const ssize_t bytes = rte_ring_get_memsize_elem(sizeof(mdsTrade), MB_RING);
    struct rte_ring *ring = bytes > 0 ? aligned_alloc(128, (size_t)bytes) : NULL;
    if (!ring || rte_ring_init(ring, "mdbench", MB_RING, RING_F_SP_ENQ | RING_F_SC_DEQ) != 0) {
        fprintf(stderr, "dpdk_mdbench: ring set-up failed\n");
        return 1;
    }
    uint64_t clock = 1736127000000000000ULL; /* 2025-01-06 01:30 UTC */
    mdsOptions mo = {.cfg = &cfg, .nowNs = clock};
    mds *m = mdsCreate(&mo);
    if (!m) {
        fprintf(stderr, "dpdk_mdbench: mdsCreate failed\n");
        return 1;
    }
    mbCalibrate();
    double rec[MB_MAX_ROUNDS] = {0}, push[MB_MAX_ROUNDS] = {0}, agg[MB_MAX_ROUNDS] = {0},
           tick[MB_MAX_ROUNDS] = {0}, snap[MB_MAX_ROUNDS] = {0}, extra[MB_MAX_ROUNDS] = {0};
    for (int r = 0; r < rounds; r++) {
        rec[r] = mbRecordOnly(fills);
        push[r] = mbRingPush(ring, fills);
        extra[r] = push[r] - rec[r];
        agg[r] = mbOnTrade(m, &clock, fills);
        tick[r] = mbTick(m, clock, fills / 16);
        snap[r] = mbSnapshot(m, fills / 16);
    }
    mdsStats st;
    mdsGetStats(m, &st);
    printf("{\"bench\":\"md_summary\",\"fills\":%llu,\"rounds\":%d,"
           "\"worker_record_only_ns\":%.2f,\"worker_ring_push_ns\":%.2f,"
           "\"worker_hook_extra_ns\":%.2f,\"control_on_trade_ns\":%.2f,"
           "\"control_tick_ns\":%.2f,\"control_snapshot_ns\":%.2f,\"ring_full_drops\":%llu,"
           "\"bars_finished\":%llu}\n",
           (unsigned long long)fills, rounds, mbMedian(rec, rounds), mbMedian(push, rounds),
           mbMedian(extra, rounds), mbMedian(agg, rounds), mbMedian(tick, rounds),
           mbMedian(snap, rounds), (unsigned long long)gDrops, (unsigned long long)st.barsFinished);
    mdsDestroy(m);
    free(ring);
    cfgFree(&cfg);
    return 0;
}
