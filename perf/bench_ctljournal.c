/* bench_ctljournal.c -- what journaling costs the control core: events/s with and without its
 * stream.
 *
 *   bench_ctljournal [--config F] [--events N] [--runs R] [--dir D]
 *
 * The control core's state (dataplane/ctljournal.c: acdCreateCore, the
 * ledger and the account book) consumes the same worker event stream (per
 * order: CR_EV_ORDER then a CR_EV_FILL, 64 accounts, instrument 0) through
 * acdDrain, once with no journal attached (the baseline) and once with its
 * control stream attached and a writer thread making it durable (the
 * candidate), alternating R times in one process. The candidate's time runs
 * until the last record is durable (segments not zero-filled ahead: xchgd
 * does that once at start). Then the stream is replayed from
 * scratch (cjReplay) into a fresh state: records/s. Prints JSON lines
 * {"bench":"ctljournal",...}: medians over the runs and the ratio. */
#define _GNU_SOURCE
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/config.h"
#include "dataplane/accounts.h"
#include "dataplane/ctljournal.h"
#include "storage/journal.h"

typedef struct {
    const crEvent *ev;
    uint64_t n, pos;
} Feed;

static uint32_t feedFetch(void *ctx, uint32_t seg, crEvent *out, uint32_t max)
{
    Feed *f = ctx;
    (void)seg;
    uint32_t k = 0;
    while (k < max && f->pos < f->n)
        out[k++] = f->ev[f->pos++];
    return k;
}

static int noSend(void *ctx, uint16_t seg, const crCmd *c)
{
    (void)ctx;
    (void)seg;
    (void)c;
    return 0;
}

static uint64_t monoNs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static acdState *newState(cfgConfig *cfg, Feed *f, jnJournal *j)
{
    const acdHooks h = {.send = noSend, .fetch = feedFetch, .ctx = f};
    acdState *s = acdCreateCore(cfg, 1, NULL, 20250102, &h);
    if (!s)
        return NULL;
    cjAttach(s, j); /* the account opens are journaled too: replay needs them */
    for (uint32_t a = 1; a <= 64; a++) {
        json_t *args =
            json_pack("{s:I, s:s}", "account", (json_int_t)a, "init_cash", "1000000000000");
        json_t *data = NULL;
        ctlError err;
        acdCommand(s, "account.open", args, &data, &err);
        json_decref(data);
        json_decref(args);
    }
    return s;
}

static crEvent *makeEvents(const cfgConfig *cfg, uint64_t n)
{
    crEvent *ev = calloc(n, sizeof *ev);
    const cfgInstrument *in = &cfg->instruments[0];
    for (uint64_t i = 0; i + 1 < n; i += 2) {
        const uint64_t oid = i / 2 + 1;
        const uint32_t qty = 1 + (uint32_t)(oid % 3);
        const int64_t px = in->preSettlement + (int64_t)(oid % 5) * in->tickSize;
        ev[i] = (crEvent){.type = CR_EV_ORDER,
                          .side = (uint8_t)(oid & 1),
                          .book = in->book,
                          .account = 1 + (uint32_t)(oid % 64),
                          .qty = qty,
                          .leaves = qty,
                          .orderId = oid,
                          .tradeId = oid,
                          .price = px,
                          .lineDelta = -1000,
                          .ns = oid};
        ev[i + 1] = ev[i];
        ev[i + 1].type = CR_EV_FILL;
        ev[i + 1].tradeId = oid;
        ev[i + 1].leaves = 0;
        ev[i + 1].lineDelta = 0;
    }
    return ev;
}

static int cmpU64(const void *a, const void *b)
{
    const uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* One run; returns ns from the first event to the last applied (and
 * durable, with a journal); *drainNs: to the last applied. */
static uint64_t runOnce(cfgConfig *cfg, const crEvent *ev, uint64_t n, const char *dir,
                        uint64_t *records, uint64_t *drainNs)
{
    Feed f = {ev, n, 0};
    acdState *s = NULL;
    jnJournal *j = NULL;
    pthread_t th;
    if (dir) {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf %s/control", dir);
        if (system(cmd) != 0)
            return 0;
        snprintf(cmd, sizeof cmd, "%s/control", dir);
        jnConfig c;
        jnError e;
        jnConfigDefaults(&c);
        c.dir = cmd;
        c.stream = CJ_STREAM;
        c.segmentBytes = 64u << 20;
        c.prefill = 0; /* xchgd zero-fills its segments once at start, not per run */
        j = jnOpen(&c, &e);
        if (!j) {
            fprintf(stderr, "bench_ctljournal: %s\n", e.msg);
            exit(1);
        }
        pthread_create(&th, NULL, jnWriterMain, j);
    }
    s = newState(cfg, &f, j);
    const uint64_t t0 = monoNs();
    while (acdDrain(s) > 0 || f.pos < f.n)
        ;
    *drainNs = monoNs() - t0;
    if (j) {
        const uint64_t last = jnLastSeq(j);
        while (jnDurableSeq(j) < last && !jnStatus(j)) {
            const struct timespec nap = {0, 20000}; /* leave the CPU to the writer */
            nanosleep(&nap, NULL);
        }
    }
    const uint64_t t = monoNs() - t0;
    if (j) {
        *records = jnLastSeq(j);
        jnWriterStop(j);
        pthread_join(th, NULL);
        jnClose(j);
    }
    acdDestroy(s);
    return t;
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {{"config", required_argument, NULL, 'c'},
                                       {"events", required_argument, NULL, 'n'},
                                       {"runs", required_argument, NULL, 'r'},
                                       {"dir", required_argument, NULL, 'd'},
                                       {NULL, 0, NULL, 0}};
    const char *conf = "config/xchg.conf", *dirArg = NULL;
    uint64_t n = 400000;
    int runs = 5, c;
    while ((c = getopt_long(argc, argv, "c:n:r:d:", lo, NULL)) != -1) {
        if (c == 'c')
            conf = optarg;
        else if (c == 'n')
            n = strtoull(optarg, NULL, 10) & ~1ull;
        else if (c == 'r')
            runs = atoi(optarg) > 0 ? atoi(optarg) : 1;
        else if (c == 'd')
            dirArg = optarg;
        else {
            fprintf(stderr, "usage: bench_ctljournal [--config F] [--events N] [--runs R] "
                            "[--dir D]\n");
            return 2;
        }
    }
    static cfgConfig cfg;
    char err[512];
    if (cfgLoad(conf, &cfg, err, sizeof err)) {
        fprintf(stderr, "bench_ctljournal: %s\n", err);
        return 2;
    }
    char tmp[] = "/tmp/bench_ctljournal.XXXXXX";
    const char *dir = dirArg ? dirArg : mkdtemp(tmp);
    if (!dir)
        return 1;
    crEvent *ev = makeEvents(&cfg, n);
    uint64_t *base = calloc((size_t)runs, sizeof *base), *cand = calloc((size_t)runs, sizeof *cand);
    uint64_t *drain = calloc((size_t)runs, sizeof *drain);
    uint64_t records = 0, unused;
    for (int r = 0; r < runs; r++) {
        base[r] = runOnce(&cfg, ev, n, NULL, &records, &unused);
        cand[r] = runOnce(&cfg, ev, n, dir, &records, &drain[r]);
    }
    qsort(base, (size_t)runs, sizeof *base, cmpU64);
    qsort(cand, (size_t)runs, sizeof *cand, cmpU64);
    qsort(drain, (size_t)runs, sizeof *drain, cmpU64);
    const double bps = (double)n * 1e9 / (double)base[runs / 2],
                 cps = (double)n * 1e9 / (double)cand[runs / 2],
                 dps = (double)n * 1e9 / (double)drain[runs / 2];
    printf("{\"bench\":\"ctljournal\",\"phase\":\"consume\",\"events\":%llu,\"runs\":%d,"
           "\"baseline_events_per_s\":%.0f,\"journaled_applied_events_per_s\":%.0f,"
           "\"journaled_durable_events_per_s\":%.0f,\"ratio_applied\":%.3f,"
           "\"ratio_durable\":%.3f,\"records\":%llu}\n",
           (unsigned long long)n, runs, bps, dps, cps, dps / bps, cps / bps,
           (unsigned long long)records);
    /* replay the last candidate's stream from scratch */
    char sdir[600];
    snprintf(sdir, sizeof sdir, "%s/control", dir);
    acdState *s = acdCreateCore(&cfg, 1, NULL, 20250102, NULL);
    uint64_t last, recs;
    jnError e;
    const uint64_t t0 = monoNs();
    if (cjReplay(s, sdir, 0, &last, &recs, &e)) {
        fprintf(stderr, "bench_ctljournal: replay: %s\n", e.msg);
        return 1;
    }
    const uint64_t t = monoNs() - t0;
    printf("{\"bench\":\"ctljournal\",\"phase\":\"replay\",\"records\":%llu,\"seconds\":%.3f,"
           "\"records_per_s\":%.0f}\n",
           (unsigned long long)recs, (double)t / 1e9, (double)recs * 1e9 / (double)t);
    acdDestroy(s);
    if (!dirArg) {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        if (system(cmd) != 0)
            return 1;
    }
    free(ev);
    free(base);
    free(cand);
    free(drain);
    cfgFree(&cfg);
    return 0;
}
