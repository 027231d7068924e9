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
 * does. --repeat replays N times (fresh gateways) and reports the best
 * rate, for benchmarking. Then the control core's stream (<wal_dir>/control/,
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

static int xrSegment(const cfgConfig *cfg, uint32_t i, const char *walDir, int repeat)
{
    char dir[CFG_PATH_MAX + 32];
    snprintf(dir, sizeof dir, "%s/seg-%u", walDir, cfg->segments[i].id);
    walReplayReport rep, best = {0};
    uint64_t hash = 0;
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
        jnError err;
        if (walReplay(dir, cfg->segments[i].id, 0, gw, NULL, NULL, &rep, &err)) {
            fprintf(stderr, "xchg-replay: segment %u: %s\n", cfg->segments[i].id, err.msg);
            gwDestroy(gw);
            crDestroy(risk);
            return 1;
        }
        hash = walStateHash(gw, cfg->segments[i].instrumentCount);
        gwDestroy(gw);
        crDestroy(risk);
        if (k == 0 || rep.ns < best.ns)
            best = rep;
    }
    double secs = (double)best.ns / 1e9;
    printf("{\"segment\":%u,\"records\":%llu,\"last_seq\":%llu,\"state_hash\":\"%016llx\","
           "\"torn_tail\":%d,\"replay_s\":%.6f,\"records_per_s\":%.0f}\n",
           cfg->segments[i].id, (unsigned long long)best.records, (unsigned long long)best.lastSeq,
           (unsigned long long)hash, best.read.torn, secs,
           secs > 0 ? (double)best.records / secs : 0.0);
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
            repeat = atoi(optarg) > 0 ? atoi(optarg) : 1;
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
