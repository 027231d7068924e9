/* xchg-replay.c -- replays xchgd's journals from scratch and prints each segment's state hash.
 *
 *   xchg-replay [-c CONFIG] [--wal DIR] [--repeat N]
 *
 * For every market segment of the config it builds the segment's gateway
 * and matcher as xchgd does, replays the segment's journal stream
 * (<wal_dir>/seg-<id>/, or DIR/seg-<id>/) from its first record, and
 * prints one JSON line per segment: records, last sequence, the state hash
 * (the one `xchgctl status` shows for a live xchgd) and the replay rate.
 * Read-only: a torn tail is reported, not cut, so it can run while xchgd
 * does. --repeat replays N times (at most 64, fresh gateways) and reports
 * the best rate and the medians of the wall-clock and CPU times (the
 * process's CPU time over the replay: on a shared machine the wall clock
 * also counts time other processes had the CPU), for benchmarking;
 * requests are the NewOrders, Cancels and Replaces replayed. Answers are
 * not built (gwSetReplaying). Then the control core's stream (<wal_dir>/control/,
 * docs/storage/recovery.md) is replayed into a fresh account book and one
 * more line prints its records, last sequence and state hash (the
 * "control" object of `xchgctl status`). Exit status 1 on a damaged
 * journal. */
#include <getopt.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "dataplane/accounts.h"
#include "dataplane/crlink.h"
#include "dataplane/gateway.h"
#include "dataplane/wal.h"

/* as xchgd (dataplane/xchgd.c): the session table's size decides whether a
 * session.add succeeds, so replay must use the same */
#define XR_MAX_SESSIONS 64
#define XR_HISTORY      4096

static void xrSend(void *ctx, gwAddr to, const uint8_t *data, uint16_t len)
{
    (void)ctx;
    (void)to;
    (void)data;
    (void)len;
}

/* The credit lines' events go to the control core live; replay drops them:
 * the control core's own stream holds the ones it consumed (xrControl). */
static void xrEmit(void *ctx, const crEvent *ev)
{
    (void)ctx;
    (void)ev;
}

static uint64_t xrCpuNs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int xrCmpU64(const void *a, const void *b)
{
    const uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

#define XR_MAX_REPEAT 64

static int xrSegment(const cfgConfig *cfg, uint32_t i, const char *walDir, int repeat)
{
    char dir[CFG_PATH_MAX + 32];
    snprintf(dir, sizeof dir, "%s/seg-%u", walDir, cfg->segments[i].id);
    walReplayReport rep, best = {0};
    uint64_t hash = 0, requests = 0, wall[XR_MAX_REPEAT], cpu[XR_MAX_REPEAT];
    for (int k = 0; k < repeat; k++) {
        crOptions co;
        crlRiskOptions(&co, cfg, (uint16_t)i, cfg->segments[i].orderCapacity + CRL_REF_SPARE, NULL);
        co.emit = xrEmit;
        crRisk *risk = crCreate(&co);
        gwOptions go = {.cfg = cfg,
                        .segment = (uint16_t)i,
                        .maxSessions = XR_MAX_SESSIONS,
                        .historyDepth = XR_HISTORY,
                        .tradingDay = 0,
                        .risk = risk,
                        .send = xrSend};
        gwGateway *gw = risk ? gwCreate(&go) : NULL;
        if (!gw) {
            crDestroy(risk);
            fprintf(stderr, "xchg-replay: segment %u: gateway creation failed\n",
                    cfg->segments[i].id);
            return 1;
        }
        gwSetReplaying(gw, 1); /* nobody receives the answers: count them, build none */
        jnError err;
        const uint64_t c0 = xrCpuNs();
        if (walReplay(dir, cfg->segments[i].id, 0, gw, NULL, NULL, &rep, &err)) {
            fprintf(stderr, "xchg-replay: segment %u: %s\n", cfg->segments[i].id, err.msg);
            gwDestroy(gw);
            crDestroy(risk);
            return 1;
        }
        cpu[k] = xrCpuNs() - c0;
        wall[k] = rep.ns;
        hash = walStateHash(gw, cfg->segments[i].instrumentCount);
        gwStats gs;
        gwGetStats(gw, &gs);
        requests = gs.newOrders + gs.cancels + gs.replaces;
        gwDestroy(gw);
        crDestroy(risk);
        if (k == 0 || rep.ns < best.ns)
            best = rep;
    }
    qsort(wall, (size_t)repeat, sizeof wall[0], xrCmpU64);
    qsort(cpu, (size_t)repeat, sizeof cpu[0], xrCmpU64);
    const double secs = (double)best.ns / 1e9, med = (double)wall[repeat / 2] / 1e9,
                 cpuMed = (double)cpu[repeat / 2] / 1e9;
    const double recs = (double)best.records;
    printf("{\"segment\":%u,\"records\":%llu,\"last_seq\":%llu,\"state_hash\":\"%016llx\","
           "\"torn_tail\":%d,\"replay_s\":%.6f,\"records_per_s\":%.0f,\"requests\":%llu,"
           "\"repeat\":%d,\"replay_s_median\":%.6f,\"records_per_s_median\":%.0f,"
           "\"requests_per_s_median\":%.0f,\"cpu_s_median\":%.6f,\"records_per_cpu_s_median\":%.0f,"
           "\"requests_per_cpu_s_median\":%.0f}\n",
           cfg->segments[i].id, (unsigned long long)best.records, (unsigned long long)best.lastSeq,
           (unsigned long long)hash, best.read.torn, secs, secs > 0 ? recs / secs : 0.0,
           (unsigned long long)requests, repeat, med, med > 0 ? recs / med : 0.0,
           med > 0 ? (double)requests / med : 0.0, cpuMed, cpuMed > 0 ? recs / cpuMed : 0.0,
           cpuMed > 0 ? (double)requests / cpuMed : 0.0);
    return 0;
}

/* Replays the control stream into a fresh control state (no workers:
 * nothing is sent). */
static int xrControl(cfgConfig *cfg, const char *walDir)
{
    char dir[CFG_PATH_MAX + 32];
    snprintf(dir, sizeof dir, "%s/control", walDir);
    acdState *s = acdCreateCore(cfg, cfg->segmentCount, NULL, 0, NULL);
    if (!s) {
        fprintf(stderr, "xchg-replay: control: out of memory\n");
        return 1;
    }
    uint64_t skip[CJ_MAX_SEGMENTS], last, records;
    jnError err;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (cjPrepass(s, dir, 0, skip, &err) || cjReplay(s, dir, 0, &last, &records, &err)) {
        fprintf(stderr, "xchg-replay: control: %s\n", err.msg);
        acdDestroy(s);
        return 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    lgStats st;
    lgGetStats(s->lg, &st);
    const double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("{\"stream\":\"control\",\"records\":%llu,\"last_seq\":%llu,\"control_hash\":"
           "\"%016llx\",\"accounts\":%u,\"void_events\":%llu,\"mismatches\":%llu,"
           "\"replay_s\":%.6f}\n",
           (unsigned long long)records, (unsigned long long)last,
           (unsigned long long)cjStateHash(s), acctCount(s->book), (unsigned long long)s->cj.voided,
           (unsigned long long)st.mismatches, secs);
    acdDestroy(s);
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {{"wal", required_argument, NULL, 'w'},
                                       {"repeat", required_argument, NULL, 'r'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
    const char *conf = "config/xchg.conf", *wal = NULL;
    int repeat = 1, c;
    while ((c = getopt_long(argc, argv, "c:h", lo, NULL)) != -1) {
        if (c == 'c')
            conf = optarg;
        else if (c == 'w')
            wal = optarg;
        else if (c == 'r')
            repeat = atoi(optarg) < 1               ? 1
                     : atoi(optarg) > XR_MAX_REPEAT ? XR_MAX_REPEAT
                                                    : atoi(optarg);
        else {
            fprintf(c == 'h' ? stdout : stderr,
                    "usage: xchg-replay [-c CONFIG] [--wal DIR] [--repeat N]\n");
            return c == 'h' ? 0 : 2;
        }
    }
    static cfgConfig cfg;
    char err[512];
    if (cfgLoad(conf, &cfg, err, sizeof err)) {
        fprintf(stderr, "xchg-replay: %s\n", err);
        return 2;
    }
    int rc = 0;
    for (uint32_t i = 0; i < cfg.segmentCount; i++)
        rc |= xrSegment(&cfg, i, wal ? wal : cfg.storage.walDir, repeat);
    rc |= xrControl(&cfg, wal ? wal : cfg.storage.walDir);
    cfgFree(&cfg);
    return rc;
}
