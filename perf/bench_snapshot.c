/* bench_snapshot.c -- time and size of a segment's snapshot and restore (dataplane/gwsnap.h)
 * against a memcpy of the same bytes.
 *
 *   bench_snapshot [--config F] [--repeats R] [--case ORDERS:SESSIONS]...
 *
 * For each case (default 10000:16, 100000:16, 1000000:16 and 100000:1000)
 * a gateway with credit lines (sized as xchgd's, dataplane/crlink.c) is
 * filled through gwOnDatagram with ORDERS resting one-lot orders (buys
 * below and sells above 3800.0 on instrument 0, over 400 levels) from
 * SESSIONS logged-on sessions, each with a history of 1024 messages. Then,
 * R times (median, min and max printed):
 *  - snapshot: gwSnapshot into an in-memory sink that appends each record
 *    to one arena (what a checkpoint writer does before its sort);
 *  - restore: gwRestore from those records, sorted (the sort is not timed:
 *    it is the checkpoint writer's), into a gateway fresh from gwCreate
 *    (creation not timed);
 *  - memcpy: the same number of bytes copied between two warm buffers, the
 *    floor for any in-memory copy of the state.
 * The restored state is checked (walStateHash equal) once per case. One
 * JSON line per case on stdout. Single thread; needs no privileges. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/config.h"
#include "dataplane/crlink.h"
#include "dataplane/gateway.h"
#include "dataplane/gwsnap.h"
#include "dataplane/wal.h"

#define BS_LEVELS  400
#define BS_HISTORY 1024

typedef struct {
    size_t off;
    uint32_t kn, vn;
} bsRec;

typedef struct {
    uint8_t *arena;
    size_t used, cap;
    bsRec *rec;
    size_t n, capRec, pos;
} bsStore;

static int bsPut(void *ctx, const void *k, size_t kn, const void *v, size_t vn)
{
    bsStore *s = ctx;
    if (s->used + kn + vn > s->cap) {
        size_t cap = s->cap ? s->cap * 2 : (size_t)1 << 24;
        while (cap < s->used + kn + vn)
            cap *= 2;
        uint8_t *p = realloc(s->arena, cap);
        if (!p)
            return -1;
        s->arena = p;
        s->cap = cap;
    }
    if (s->n == s->capRec) {
        size_t cap = s->capRec ? s->capRec * 2 : 1 << 16;
        bsRec *r = realloc(s->rec, cap * sizeof *r);
        if (!r)
            return -1;
        s->rec = r;
        s->capRec = cap;
    }
    s->rec[s->n++] = (bsRec){s->used, (uint32_t)kn, (uint32_t)vn};
    memcpy(s->arena + s->used, k, kn);
    memcpy(s->arena + s->used + kn, v, vn);
    s->used += kn + vn;
    return 0;
}

static bsStore *bsSortCtx;

static int bsCmp(const void *a, const void *b)
{
    const bsRec *x = a, *y = b;
    const uint8_t *ka = bsSortCtx->arena + x->off, *kb = bsSortCtx->arena + y->off;
    const int c = memcmp(ka, kb, x->kn < y->kn ? x->kn : y->kn);
    return c ? c : (x->kn > y->kn) - (x->kn < y->kn);
}

static int bsNext(void *ctx, const void **k, size_t *kn, const void **v, size_t *vn)
{
    bsStore *s = ctx;
    if (s->pos == s->n)
        return 0;
    const bsRec *r = &s->rec[s->pos++];
    *k = s->arena + r->off;
    *kn = r->kn;
    *v = s->arena + r->off + r->kn;
    *vn = r->vn;
    return 1;
}

static uint64_t bsNow(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void bsSend(void *ctx, gwAddr to, const uint8_t *data, uint16_t len)
{
    (void)ctx;
    (void)to;
    (void)data;
    (void)len;
}

static void bsEmit(void *ctx, const crEvent *ev)
{
    (void)ctx;
    (void)ev;
}

typedef struct {
    gwGateway *gw;
    crRisk *risk;
} bsSeg;

static int bsOpen(cfgConfig *cfg, uint32_t sessions, bsSeg *s)
{
    crOptions co;
    crlRiskOptions(&co, cfg, 0, cfg->segments[0].orderCapacity + CRL_REF_SPARE, NULL);
    co.emit = bsEmit;
    s->risk = crCreate(&co);
    const gwOptions o = {.cfg = cfg,
                         .segment = 0,
                         .maxSessions = sessions,
                         .historyDepth = BS_HISTORY,
                         .tradingDay = 20251006,
                         .send = bsSend,
                         .risk = s->risk};
    s->gw = s->risk ? gwCreate(&o) : NULL;
    return s->gw ? 0 : -1;
}

static void bsClose(bsSeg *s)
{
    gwDestroy(s->gw);
    crDestroy(s->risk);
}

static gwAddr bsAddr(uint32_t s)
{
    return (gwAddr){0xC6120000u + 2 + s, (uint16_t)(20000 + s % 40000)};
}

/* Sessions logged on with lines, then `orders` resting orders, round robin. */
static int bsFill(bsSeg *s, uint32_t sessions, uint64_t orders)
{
    uint64_t now = UINT64_C(1759714200000000000);
    crParkedOrder po;
    gwSetThrottle(s->gw, 100000000);
    uint64_t *seq = calloc(sessions, sizeof *seq);
    if (!seq)
        return -1;
    for (uint32_t i = 0; i < sessions; i++) {
        const crCmd c = {.type = CR_CMD_ACCOUNT,
                         .account = 1000 + i,
                         .amount = INT64_C(1) << 60,
                         .concCap = INT64_MAX};
        crApply(s->risk, &c, &po, now);
        uint8_t tok[XOE_TOKEN_SIZE] = {(uint8_t)i, (uint8_t)(i >> 8), 7};
        if (gwSessionAdd(s->gw, i + 1, tok, 1000 + i, 0))
            return -1;
        uint8_t buf[XOE_FRAME_MAX];
        xoeWriter w;
        xoeWriterInit(&w, buf, sizeof buf, i + 1, 1, 0);
        xoeLogon l = {.heartbeatMs = 30000};
        memcpy(l.token, tok, sizeof tok);
        xoeAppend(&w, XOE_MSG_LOGON, &l);
        gwOnDatagram(s->gw, bsAddr(i), buf, (uint16_t)xoeWriterFinish(&w), now);
        seq[i] = 1;
    }
    gwSetState(s->gw, 0, MT_STATE_CONTINUOUS, now);
    for (uint64_t n = 0; n < orders;) {
        const uint32_t i = (uint32_t)((n / 24) % sessions);
        uint8_t buf[XOE_FRAME_MAX];
        xoeWriter w;
        xoeWriterInit(&w, buf, sizeof buf, i + 1, seq[i], 0);
        for (int k = 0; k < 24 && n < orders; k++, n++, seq[i]++) {
            const uint8_t side = (uint8_t)(n & 1);
            const int64_t lvl = 1 + (int64_t)((n / 2) % (BS_LEVELS / 2));
            const xoeNewOrder o = {.instrument = 0,
                                   .side = side,
                                   .clOrdId = n + 1,
                                   .qty = 1,
                                   .price = (19000 + (side ? lvl : -lvl)) * 2000};
            xoeAppend(&w, XOE_MSG_NEW_ORDER, &o);
        }
        now += 1000;
        gwOnDatagram(s->gw, bsAddr(i), buf, (uint16_t)xoeWriterFinish(&w), now);
        gwFlush(s->gw);
    }
    free(seq);
    mtStats ms;
    mtEngineGetStats(gwEngine(s->gw), &ms);
    return ms.ordersResting == orders ? 0 : -1;
}

static int bsU64Cmp(const void *a, const void *b)
{
    const uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* median, min, max of n samples in ns, as milliseconds JSON. */
static void bsStats(const char *name, uint64_t *v, unsigned n)
{
    qsort(v, n, sizeof *v, bsU64Cmp);
    printf("\"%s_ms\":{\"median\":%.3f,\"min\":%.3f,\"max\":%.3f}", name, v[n / 2] / 1e6,
           v[0] / 1e6, v[n - 1] / 1e6);
}

static int bsCase(cfgConfig *cfg, uint64_t orders, uint32_t sessions, unsigned repeats)
{
    cfg->segments[0].orderCapacity = (uint32_t)(orders + 1024);
    bsSeg a;
    if (bsOpen(cfg, sessions, &a) || bsFill(&a, sessions, orders)) {
        fprintf(stderr, "bench_snapshot: cannot build %" PRIu64 " orders, %u sessions\n", orders,
                sessions);
        return -1;
    }
    const uint16_t nIns = cfg->segments[0].instrumentCount;
    uint64_t *tSnap = calloc(repeats, sizeof(uint64_t)), *tRest = calloc(repeats, sizeof(uint64_t));
    uint64_t *tCopy = calloc(repeats, sizeof(uint64_t));
    bsStore st = {0};
    size_t bytes = 0, records = 0;
    int verified = 1;
    uint8_t *dst = NULL;
    for (unsigned r = 0; r < repeats; r++) {
        st.used = st.n = st.pos = 0;
        const ckptSink sink = {bsPut, &st};
        uint64_t t0 = bsNow();
        if (gwSnapshot(a.gw, &sink)) {
            fprintf(stderr, "bench_snapshot: %s\n", gwSnapError());
            return -1;
        }
        tSnap[r] = bsNow() - t0;
        bytes = st.used;
        records = st.n;
        bsSortCtx = &st;
        qsort(st.rec, st.n, sizeof *st.rec, bsCmp);
        bsSeg b;
        if (bsOpen(cfg, sessions, &b))
            return -1;
        const ckptSource src = {bsNext, &st};
        t0 = bsNow();
        if (gwRestore(b.gw, &src)) {
            fprintf(stderr, "bench_snapshot: %s\n", gwSnapError());
            return -1;
        }
        tRest[r] = bsNow() - t0;
        if (r == 0)
            verified = walStateHash(a.gw, nIns) == walStateHash(b.gw, nIns);
        bsClose(&b);
        if (!dst) {
            dst = malloc(bytes);
            if (!dst)
                return -1;
            memset(dst, 1, bytes); /* faulted in: the baseline copies, it does not page */
        }
        t0 = bsNow();
        memcpy(dst, st.arena, bytes);
        __asm__ volatile("" : : "r"(dst) : "memory");
        tCopy[r] = bsNow() - t0;
    }
    printf("{\"bench\":\"snapshot\",\"orders\":%" PRIu64
           ",\"sessions\":%u,\"history\":%u,\"repeats\":%u,\"records\":%zu,\"bytes\":%zu,"
           "\"bytes_per_order\":%.1f,",
           orders, sessions, BS_HISTORY, repeats, records, bytes, (double)bytes / (double)orders);
    bsStats("snapshot", tSnap, repeats);
    printf(",");
    bsStats("restore", tRest, repeats);
    printf(",");
    bsStats("memcpy", tCopy, repeats);
    printf(",\"snapshot_vs_memcpy\":%.1f,\"restore_vs_memcpy\":%.1f,\"snapshot_mb_s\":%.0f,"
           "\"restore_mb_s\":%.0f,\"verified\":%s}\n",
           (double)tSnap[repeats / 2] / (double)tCopy[repeats / 2],
           (double)tRest[repeats / 2] / (double)tCopy[repeats / 2],
           (double)bytes / 1e6 / ((double)tSnap[repeats / 2] / 1e9),
           (double)bytes / 1e6 / ((double)tRest[repeats / 2] / 1e9), verified ? "true" : "false");
    fflush(stdout);
    free(dst);
    free(st.arena);
    free(st.rec);
    free(tSnap);
    free(tRest);
    free(tCopy);
    bsClose(&a);
    return verified ? 0 : -1;
}

int main(int argc, char **argv)
{
    const char *config = "config/xchg.conf";
    unsigned repeats = 5;
    uint64_t cases[16][2];
    unsigned nCases = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--config") && i + 1 < argc) {
            config = argv[++i];
        } else if (!strcmp(argv[i], "--repeats") && i + 1 < argc) {
            repeats = (unsigned)atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--case") && i + 1 < argc && nCases < 16) {
            unsigned long long o = 0, s = 0;
            if (sscanf(argv[++i], "%llu:%llu", &o, &s) != 2 || !o || !s) {
                fprintf(stderr, "bench_snapshot: --case ORDERS:SESSIONS\n");
                return 2;
            }
            cases[nCases][0] = o;
            cases[nCases++][1] = s;
        } else {
            fprintf(stderr, "usage: bench_snapshot [--config F] [--repeats R] "
                            "[--case ORDERS:SESSIONS]...\n");
            return 2;
        }
    }
    if (repeats < 1)
        repeats = 1;
    if (!nCases) {
        static const uint64_t def[][2] = {{10000, 16}, {100000, 16}, {1000000, 16}, {100000, 1000}};
        memcpy(cases, def, sizeof def);
        nCases = 4;
    }
    cfgConfig cfg;
    char err[256];
    if (cfgLoad(config, &cfg, err, sizeof err)) {
        fprintf(stderr, "bench_snapshot: %s\n", err);
        return 1;
    }
    int rc = 0;
    for (unsigned c = 0; c < nCases && !rc; c++)
        rc = bsCase(&cfg, cases[c][0], (uint32_t)cases[c][1], repeats);
    cfgFree(&cfg);
    return rc ? 1 : 0;
}
