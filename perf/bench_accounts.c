/* bench_accounts.c -- can the control core keep up with a worker? Fills/s on both sides and the
 * worker-fill to account-update lag.
 *
 *   bench_accounts [--config F] [--accounts N] [--orders N] [--pace-pct P]
 *
 * The worker side is xchgd's order path without the port: the segment's
 * gateway (dataplane/gateway.c) with its credit lines (dataplane/credit.c),
 * fed NewOrders of 1..3 lots from N accounts (one session each) around
 * 3800.0 on instrument 0, 60% of them IOC through the book (so the book
 * stays shallow), the others resting. The control side is the
 * ledger (dataplane/ledger.c) applying the worker's events to the account
 * book (control/account.c) and sending the credit commands back.
 *
 * Phase "throughput" runs the two sides one after the other in one thread
 * on the same event stream: worker fills/s (orders in, events out) against
 * control fills/s (events in, accounts updated), the baseline and the
 * candidate side by side. Phase "lag" runs them on two threads (CPU 1 and
 * CPU 0 when they exist) joined by an SPSC ring of crEvent (C11 acquire /
 * release, the discipline of xchgd's rte_ring with SP/SC flags; the
 * commands go back on a second ring the worker drains between datagrams):
 * the worker stamps each event with CLOCK_MONOTONIC, the control thread
 * records now - stamp when the fill has been applied (the same histogram
 * xchgd's ledger keeps, ledger.stats fill_lag). It runs at the worker's
 * full rate and at --pace-pct of it (default 50%).
 *
 * Output: JSON lines {"bench":"accounts","phase":...}. On this shared
 * 2-vCPU machine the numbers are noisy; run it a few times. */
#define _GNU_SOURCE
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/config.h"
#include "control/account.h"
#include "dataplane/credit.h"
#include "dataplane/gateway.h"
#include "dataplane/histogram.h"
#include "dataplane/ledger.h"

#define RING (1u << 16)

static uint64_t nowNs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- SPSC ring ------------------------------------------------------------------------ */

typedef struct {
    _Alignas(64) _Atomic uint64_t head; /* written by the producer */
    _Alignas(64) _Atomic uint64_t tail; /* written by the consumer */
    _Alignas(64) uint8_t slots[RING][64];
} Ring;

static int ringPut(Ring *r, const void *e)
{
    const uint64_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
    if (h - atomic_load_explicit(&r->tail, memory_order_acquire) == RING)
        return -1;
    memcpy(r->slots[h & (RING - 1)], e, 64);
    atomic_store_explicit(&r->head, h + 1, memory_order_release);
    return 0;
}

static int ringGet(Ring *r, void *e)
{
    const uint64_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
    if (t == atomic_load_explicit(&r->head, memory_order_acquire))
        return -1;
    memcpy(e, r->slots[t & (RING - 1)], 64);
    atomic_store_explicit(&r->tail, t + 1, memory_order_release);
    return 0;
}

/* ---- the two sides ------------------------------------------------------------------------ */

typedef struct {
    cfgConfig cfg, use;
    cfgSegment seg;
    gwGateway *gw;
    crRisk *risk;
    acctBook *book;
    lgLedger *lg;
    uint32_t accounts;
    /* events: an array (throughput) or the ring (lag) */
    crEvent *events;
    uint64_t nEvents, capEvents;
    Ring *toControl, *toWorker;
    int threaded;
    uint64_t lost;
    uint64_t *seq; /* per session inbound number */
    uint64_t rng;
} Bench;

static void emitEvent(void *ctx, const crEvent *ev)
{
    Bench *b = ctx;
    if (b->threaded) {
        crEvent e = *ev;
        e.ns = nowNs();
        while (ringPut(b->toControl, &e) != 0)
            ; /* the control thread is behind: the worker would spill */
        return;
    }
    if (b->nEvents < b->capEvents)
        b->events[b->nEvents++] = *ev;
    else
        b->lost++;
}

static int sendCommand(void *ctx, uint16_t seg, const crCmd *c)
{
    Bench *b = ctx;
    (void)seg;
    if (b->threaded)
        return ringPut(b->toWorker, c);
    crParkedOrder po;
    if (crApply(b->risk, c, &po, 0))
        gwResume(b->gw, po.session, &po.order, 0);
    return 0;
}

static void discard(void *ctx, gwAddr to, const uint8_t *data, uint16_t len)
{
    (void)ctx;
    (void)to;
    (void)data;
    (void)len;
}

static uint32_t rnd(Bench *b, uint32_t n)
{
    b->rng ^= b->rng << 13;
    b->rng ^= b->rng >> 7;
    b->rng ^= b->rng << 17;
    return (uint32_t)(b->rng % n);
}

static int build(Bench *b, const char *config, uint32_t accounts)
{
    char err[256];
    if (cfgLoad(config, &b->cfg, err, sizeof err) != 0) {
        fprintf(stderr, "bench_accounts: %s\n", err);
        return -1;
    }
    b->use = b->cfg;
    b->seg = b->cfg.segments[0];
    b->seg.orderCapacity = 1u << 18;
    b->use.segments = &b->seg;
    b->use.risk.throttle = 10000000;
    b->accounts = accounts;
    b->rng = 0x2545f4914f6cdd1dull;
    crOptions co = {.cfg = &b->use,
                    .segment = 0,
                    .maxAccounts = accounts + 1,
                    .maxPositions = 4 * accounts + 16,
                    .refCap = b->seg.orderCapacity + 4,
                    .emit = emitEvent,
                    .emitCtx = b};
    b->risk = crCreate(&co);
    gwOptions go = {.cfg = &b->use,
                    .segment = 0,
                    .maxSessions = accounts,
                    .historyDepth = 64,
                    .tradingDay = 20251006,
                    .send = discard,
                    .risk = b->risk};
    b->gw = b->risk ? gwCreate(&go) : NULL;
    acctLimits lim = acctLimitsFromConfig(&b->cfg.risk);
    lim.concentration = ACCT_PPM;
    b->book = acctCreate(&lim);
    if (!b->gw || !b->book || instLoadConfig(b->book, &b->cfg) != 0)
        return -1;
    b->lg = lgCreate(&b->cfg, b->book, sendCommand, b);
    b->seq = calloc(accounts + 1, sizeof *b->seq);
    if (!b->lg || !b->seq)
        return -1;
    gwSetState(b->gw, 0, MT_STATE_CONTINUOUS, 1);
    for (uint32_t i = 1; i <= accounts; i++) {
        uint8_t tok[XOE_TOKEN_SIZE] = {(uint8_t)i, (uint8_t)(i >> 8), 7};
        if (gwSessionAdd(b->gw, i, tok, i, 0) != 0 ||
            acctOpen(b->book, i, "bench", ACCT_INDIVIDUAL, (int64_t)1e9 * 10000, 0) != 0)
            return -1;
        lgSync(b->lg, i); /* grants go straight to the worker (single thread) */
        xoeLogon l = {.heartbeatMs = 60000};
        memcpy(l.token, tok, sizeof tok);
        uint8_t buf[XOE_FRAME_MAX];
        xoeWriter w;
        xoeWriterInit(&w, buf, sizeof buf, i, 1, 0);
        xoeAppend(&w, XOE_MSG_LOGON, &l);
        gwOnDatagram(b->gw, (gwAddr){0xc6120000u + i, 40000}, buf, (uint16_t)xoeWriterFinish(&w),
                     2000000000ull);
        b->seq[i] = 1;
    }
    gwFlush(b->gw);
    b->nEvents = 0;
    return 0;
}

/* One NewOrder datagram from a random session: 1..3 lots around 3800, half crossing. */
static void oneOrder(Bench *b, uint64_t t)
{
    const uint32_t i = 1 + rnd(b, b->accounts);
    const uint8_t side = (uint8_t)rnd(b, 2);
    const int64_t off = 1 + rnd(b, 5);
    const int cross = rnd(b, 10) < 6; /* more taken than rests: the book stays shallow */
    const int64_t tick = 2000;
    const int64_t price = 38000000 + (side == XOE_BUY ? 1 : -1) * (cross ? off : -off) * tick;
    xoeNewOrder o = {.instrument = 0,
                     .side = side,
                     .offset = XOE_OPEN,
                     .clOrdId = b->seq[i],
                     .price = price,
                     .qty = 1 + rnd(b, 3),
                     .priceType = XOE_LIMIT,
                     .timeCondition = cross ? XOE_IOC : XOE_GFD,
                     .volumeCondition = XOE_VOL_ANY};
    uint8_t buf[XOE_FRAME_MAX];
    xoeWriter w;
    xoeWriterInit(&w, buf, sizeof buf, i, b->seq[i]++, 0);
    xoeAppend(&w, XOE_MSG_NEW_ORDER, &o);
    gwOnDatagram(b->gw, (gwAddr){0xc6120000u + i, 40000}, buf, (uint16_t)xoeWriterFinish(&w), t);
    gwFlush(b->gw);
}

static uint64_t fillsIn(const crEvent *ev, uint64_t n)
{
    uint64_t f = 0;
    for (uint64_t i = 0; i < n; i++)
        f += ev[i].type == CR_EV_FILL;
    return f;
}

/* Returns the worker's ns per order. */
static uint64_t throughput(Bench *b, uint32_t orders)
{
    b->capEvents = (uint64_t)orders * 8;
    b->events = malloc(sizeof *b->events * b->capEvents);
    const uint64_t t0 = nowNs();
    for (uint32_t k = 0; k < orders; k++)
        oneOrder(b, 3000000000ull + k);
    const uint64_t t1 = nowNs();
    const uint64_t n = b->nEvents, fills = fillsIn(b->events, n);
    b->nEvents = 0;
    const uint64_t t2 = nowNs();
    for (uint64_t i = 0; i < n; i++)
        lgOnEvent(b->lg, &b->events[i], 0);
    const uint64_t t3 = nowNs();
    lgStats st;
    lgGetStats(b->lg, &st);
    const double ws = (double)(t1 - t0) / 1e9, cs = (double)(t3 - t2) / 1e9;
    printf("{\"bench\":\"accounts\",\"phase\":\"throughput\",\"accounts\":%u,\"orders\":%u,"
           "\"events\":%" PRIu64 ",\"fills\":%" PRIu64 ",\"worker_s\":%.4f,\"control_s\":%.4f,"
           "\"worker_fills_per_s\":%.0f,\"control_fills_per_s\":%.0f,"
           "\"control_events_per_s\":%.0f,\"control_over_worker\":%.2f,\"mismatches\":%" PRIu64
           ",\"lost\":%" PRIu64 "}\n",
           b->accounts, orders, n, fills, ws, cs, (double)fills / ws, (double)fills / cs,
           (double)n / cs, ws / cs, st.mismatches, b->lost);
    free(b->events);
    b->events = NULL;
    b->capEvents = 0;
    return (t1 - t0) / orders;
}

/* ---- lag: two threads ------------------------------------------------------------------- */

typedef struct {
    Bench *b;
    uint32_t orders;
    uint64_t gapNs; /* pacing: at least this between orders; 0 = full rate */
    _Atomic int done;
    histLog lag;
    uint64_t fills;
} LagRun;

static void pin(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

static void *workerThread(void *arg)
{
    LagRun *r = arg;
    Bench *b = r->b;
    pin(1);
    uint64_t next = nowNs();
    for (uint32_t k = 0; k < r->orders; k++) {
        crCmd c;
        while (ringGet(b->toWorker, &c) == 0) {
            crParkedOrder po;
            if (crApply(b->risk, &c, &po, 0))
                gwResume(b->gw, po.session, &po.order, 0);
        }
        if (r->gapNs) {
            while (nowNs() < next)
                ;
            next += r->gapNs;
        }
        oneOrder(b, nowNs());
    }
    atomic_store(&r->done, 1);
    return NULL;
}

static void lag(Bench *b, uint32_t orders, uint64_t gapNs, const char *name)
{
    LagRun r = {.b = b, .orders = orders, .gapNs = gapNs};
    b->threaded = 1;
    pin(0);
    pthread_t t;
    pthread_create(&t, NULL, workerThread, &r);
    const uint64_t t0 = nowNs();
    crEvent ev;
    for (;;) {
        if (ringGet(b->toControl, &ev) != 0) {
            if (atomic_load(&r.done) && ringGet(b->toControl, &ev) != 0)
                break;
            continue;
        }
        lgOnEvent(b->lg, &ev, 0);
        if (ev.type == CR_EV_FILL) {
            const uint64_t now = nowNs();
            histRecord(&r.lag, now > ev.ns ? now - ev.ns : 0, 1);
            r.fills++;
        }
    }
    const uint64_t t1 = nowNs();
    pthread_join(t, NULL);
    b->threaded = 0;
    printf("{\"bench\":\"accounts\",\"phase\":\"lag\",\"rate\":\"%s\",\"orders\":%u,"
           "\"fills\":%" PRIu64 ",\"fills_per_s\":%.0f,\"lag_ns\":{\"count\":%" PRIu64
           ",\"p50\":%" PRIu64 ",\"p90\":%" PRIu64 ",\"p99\":%" PRIu64 ",\"p999\":%" PRIu64
           ",\"max\":%" PRIu64 "}}\n",
           name, orders, r.fills, (double)r.fills / ((double)(t1 - t0) / 1e9), r.lag.total,
           histQuantile(&r.lag, 1, 2), histQuantile(&r.lag, 9, 10), histQuantile(&r.lag, 99, 100),
           histQuantile(&r.lag, 999, 1000), r.lag.max);
}

int main(int argc, char **argv)
{
    const char *config = "config/xchg.conf";
    uint32_t accounts = 1000, orders = 1000000, pace = 50;
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"accounts", required_argument, NULL, 'a'},
                                         {"orders", required_argument, NULL, 'n'},
                                         {"pace-pct", required_argument, NULL, 'p'},
                                         {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'c')
            config = optarg;
        else if (c == 'a')
            accounts = (uint32_t)atoi(optarg);
        else if (c == 'n')
            orders = (uint32_t)atoi(optarg);
        else if (c == 'p')
            pace = (uint32_t)atoi(optarg);
        else
            return 2;
    }
    if (accounts < 2 || orders < 1 || pace < 1 || pace > 100)
        return 2;
    static Bench b;
    if (build(&b, config, accounts) != 0) {
        fprintf(stderr, "bench_accounts: set-up failed\n");
        return 1;
    }
    b.toControl = aligned_alloc(64, sizeof(Ring));
    b.toWorker = aligned_alloc(64, sizeof(Ring));
    if (!b.toControl || !b.toWorker)
        return 1;
    memset(b.toControl, 0, sizeof(Ring));
    memset(b.toWorker, 0, sizeof(Ring));
    /* the worker's full rate, measured here, sets the pace */
    const uint64_t perOrder = throughput(&b, orders);
    lag(&b, orders, 0, "full");
    lag(&b, orders / 2, perOrder * 100 / pace, "paced");
    return 0;
}
