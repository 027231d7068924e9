/* test_snapshot.c -- unit tests of dataplane/gwsnap.c: a segment's snapshot restores to the same
 * state and, above all, to the same future: random workloads (sessions, orders, cancels,
 * replaces, fills, credit commands, timers, trading states, kicks, throttle and storage changes)
 * run through walApply into a real gateway with credit lines; at random points its snapshot is
 * restored into a fresh gateway and both get the same following inputs: same walStateHash, same
 * output frames byte for byte, same credit events, and snapshot -> restore -> snapshot gives the
 * same records. Then the failure paths: truncated values, unknown kinds, keys out of order or
 * repeated, counts that do not match, a failing source and sink, other options. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "config/config.h"
#include "dataplane/crlink.h"
#include "dataplane/gateway.h"
#include "dataplane/gwsnap.h"
#include "dataplane/wal.h"

#define MS      UINT64_C(1000000)
#define SEC     UINT64_C(1000000000)
#define MAXSESS 8
#define CAP     2048 /* order capacity: small, so the pool can fill */

/* ---- an in-memory sorted sink and its source ---- */

typedef struct {
    uint8_t *k, *v;
    size_t kn, vn;
} Rec;

typedef struct {
    Rec *r;
    size_t n, cap, pos;
    long failPutAt;  /* put number that fails, -1 none */
    long failNextAt; /* next number that returns -1, -1 none */
} Store;

static int storePut(void *ctx, const void *k, size_t kn, const void *v, size_t vn)
{
    Store *s = ctx;
    if (s->failPutAt >= 0 && (long)s->n == s->failPutAt)
        return -1;
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 1024;
        s->r = realloc(s->r, s->cap * sizeof *s->r);
        assert_non_null(s->r);
    }
    Rec *r = &s->r[s->n++];
    r->k = malloc(kn);
    r->v = malloc(vn ? vn : 1);
    memcpy(r->k, k, kn);
    if (vn)
        memcpy(r->v, v, vn);
    r->kn = kn;
    r->vn = vn;
    return 0;
}

static int recCmp(const void *a, const void *b)
{
    const Rec *x = a, *y = b;
    int c = memcmp(x->k, y->k, x->kn < y->kn ? x->kn : y->kn);
    return c ? c : (x->kn > y->kn) - (x->kn < y->kn);
}

/* Sorts as a checkpoint writer would; a key given twice fails the test. */
static void storeSort(Store *s)
{
    qsort(s->r, s->n, sizeof *s->r, recCmp);
    for (size_t i = 1; i < s->n; i++)
        assert_int_not_equal(recCmp(&s->r[i - 1], &s->r[i]), 0);
}

static int storeNext(void *ctx, const void **k, size_t *kn, const void **v, size_t *vn)
{
    Store *s = ctx;
    if (s->failNextAt >= 0 && (long)s->pos == s->failNextAt)
        return -1;
    if (s->pos == s->n)
        return 0;
    const Rec *r = &s->r[s->pos++];
    *k = r->k;
    *kn = r->kn;
    *v = r->v;
    *vn = r->vn;
    return 1;
}

static void storeFree(Store *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->r[i].k);
        free(s->r[i].v);
    }
    free(s->r);
    memset(s, 0, sizeof *s);
    s->failPutAt = s->failNextAt = -1;
}

static Store storeNew(void)
{
    return (Store){.failPutAt = -1, .failNextAt = -1};
}

static int storesEqual(const Store *a, const Store *b)
{
    if (a->n != b->n)
        return 0;
    for (size_t i = 0; i < a->n; i++)
        if (recCmp(&a->r[i], &b->r[i]) || a->r[i].vn != b->r[i].vn ||
            memcmp(a->r[i].v, b->r[i].v, a->r[i].vn))
            return 0;
    return 1;
}

/* ---- a segment: gateway, credit state, what they emitted ---- */

typedef struct {
    uint8_t *p;
    size_t n, cap;
} Bytes;

static void bytesAdd(Bytes *b, const void *p, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
}

typedef struct {
    gwGateway *gw;
    crRisk *risk;
    Bytes out; /* every frame: address, length, bytes */
    Bytes ev;  /* every credit event */
} Seg;

static void onSend(void *ctx, gwAddr to, const uint8_t *data, uint16_t len)
{
    Seg *s = ctx;
    bytesAdd(&s->out, &to.ip, sizeof to.ip);
    bytesAdd(&s->out, &to.port, sizeof to.port);
    bytesAdd(&s->out, &len, sizeof len);
    bytesAdd(&s->out, data, len);
}

static void onEmit(void *ctx, const crEvent *ev)
{
    Seg *s = ctx;
    bytesAdd(&s->ev, ev, sizeof *ev);
}

typedef struct {
    cfgConfig cfg;
    uint32_t history; /* history depth of the gateways */
} Fx;

static Seg *segOpen(Fx *fx, int withRisk)
{
    Seg *s = calloc(1, sizeof *s);
    assert_non_null(s);
    if (withRisk) {
        crOptions o;
        crlRiskOptions(&o, &fx->cfg, 0, fx->cfg.segments[0].orderCapacity + CRL_REF_SPARE, NULL);
        o.maxAccounts = 64; /* small tables: the test makes hundreds of segments */
        o.maxPositions = 256;
        o.emit = onEmit;
        o.emitCtx = s;
        s->risk = crCreate(&o);
        assert_non_null(s->risk);
    }
    gwOptions o = {.cfg = &fx->cfg,
                   .segment = 0,
                   .maxSessions = MAXSESS,
                   .historyDepth = fx->history,
                   .tradingDay = 20251006,
                   .risk = s->risk,
                   .send = onSend,
                   .sendCtx = s};
    s->gw = gwCreate(&o);
    assert_non_null(s->gw);
    return s;
}

static void segClose(Seg *s)
{
    if (!s)
        return;
    gwDestroy(s->gw);
    crDestroy(s->risk);
    free(s->out.p);
    free(s->ev.p);
    free(s);
}

/* ---- inputs: walApply records from a seeded generator ---- */

typedef struct {
    uint64_t x;
    uint64_t now;
    uint32_t sessions;             /* added so far (ids 1..sessions) */
    uint64_t inSeq[MAXSESS + 1];   /* next number each session sends */
    uint8_t loggedOn[MAXSESS + 1]; /* the gateway's session states, read before each input */
    uint64_t nextOut[MAXSESS + 1];
    uint64_t nextOrderSeq; /* read back from the engine: recent ids to cancel */
    uint64_t clOrd;
    uint16_t alt; /* the book orders go to instead of 3 (cu2501), 0: 3 */
} Gen;

static uint64_t rnd(Gen *g)
{
    g->x ^= g->x << 13, g->x ^= g->x >> 7, g->x ^= g->x << 17;
    return g->x;
}

static gwAddr addrOf(unsigned s)
{
    return (gwAddr){(198u << 24) | (18u << 16) | (2u + s), (uint16_t)(40000 + s)};
}

static void tokenOf(unsigned s, uint8_t *t)
{
    for (int i = 0; i < XOE_TOKEN_SIZE; i++)
        t[i] = (uint8_t)(s * 17 + (unsigned)i);
}

typedef struct {
    uint16_t type;
    uint32_t len;
    uint8_t p[sizeof(walDatagramRec) + XOE_FRAME_MAX];
} Input;

/* A datagram of one message from session s with frame number seq. */
static void genFrame(Gen *g, Input *in, unsigned s, uint64_t seq, uint8_t type, const void *msg,
                     gwAddr from)
{
    uint8_t buf[XOE_FRAME_MAX];
    xoeWriter w;
    xoeWriterInit(&w, buf, sizeof buf, s, seq, 0);
    assert_int_equal(xoeAppend(&w, type, msg), XOE_OK);
    const size_t len = xoeWriterFinish(&w);
    walDatagramRec d = {.nowNs = g->now, .ip = from.ip, .port = from.port, .len = (uint16_t)len};
    in->type = WAL_DATAGRAM;
    memcpy(in->p, &d, sizeof d);
    memcpy(in->p + sizeof d, buf, len);
    in->len = (uint32_t)(sizeof d + len);
}

static void genApp(Gen *g, Input *in, unsigned s, uint8_t type, const void *msg)
{
    genFrame(g, in, s, g->inSeq[s]++, type, msg, addrOf(s));
}

static void genCredit(Gen *g, Input *in, crCmd c)
{
    walCreditRec r = {.nowNs = g->now, .cmd = c};
    in->type = (uint16_t)walCreditType(&c);
    memcpy(in->p, &r, sizeof r);
    in->len = sizeof r;
}

static uint64_t genOrderId(Gen *g)
{
    const uint64_t n = g->nextOrderSeq > 1 ? g->nextOrderSeq - 1 : 1;
    const uint64_t back = rnd(g) % 64;
    return back < n ? n - back : 1 + rnd(g) % n;
}

static void genNewOrder(Gen *g, Input *in, unsigned s)
{
    const uint64_t x = rnd(g);
    const int cu = (x & 7) == 0; /* instrument 3: tick 10, around 75230 */
    xoeNewOrder o = {.instrument = cu ? (g->alt ? g->alt : 3) : 0,
                     .side = (uint8_t)(x >> 8 & 1),
                     .offset = (x >> 9) % 5 == 0 ? XOE_CLOSE : XOE_OPEN,
                     .clOrdId = ++g->clOrd,
                     .qty = 1 + (uint32_t)((x >> 12) % 5),
                     .timeCondition = (x >> 16) % 6 == 0   ? XOE_IOC
                                      : (x >> 16) % 6 == 1 ? XOE_GTC
                                                           : XOE_GFD};
    o.price = cu ? (int64_t)(75230 - 5 + (x >> 20) % 11) * 10000
                 : (int64_t)(18990 + (x >> 20) % 20) * 2000;
    if ((x >> 28) % 20 == 0) {
        o.priceType = XOE_MARKET;
        o.price = 0;
    }
    if ((x >> 33) % 15 == 0) {
        o.volumeCondition = XOE_VOL_MIN;
        o.minQty = 1 + (uint32_t)((x >> 36) % o.qty);
    } else if ((x >> 33) % 15 == 1) {
        o.volumeCondition = XOE_VOL_ALL;
    }
    genApp(g, in, s, XOE_MSG_NEW_ORDER, &o);
}

static void genControl(Gen *g, Input *in, uint64_t x)
{
    switch (x % 9) {
    case 0: {
        const walSetStateRec r = {.nowNs = g->now,
                                  .instrument = (x >> 8 & 1) ? 3 : 0,
                                  .state = "\2\2\2\1\0\3"[(x >> 12) % 6]};
        in->type = WAL_SET_STATE;
        memcpy(in->p, &r, sizeof r);
        in->len = sizeof r;
        return;
    }
    case 1:
    case 2: {
        const walSessionRec r = {.nowNs = g->now, .sessionId = 1 + (uint32_t)((x >> 8) % MAXSESS)};
        in->type = x % 9 == 1 ? WAL_SESSION_KICK : WAL_SESSION_ENABLE;
        memcpy(in->p, &r, sizeof r);
        in->len = sizeof r;
        return;
    }
    case 3: {
        const walThrottleRec r = {.nowNs = g->now, .msgsPerSec = 20 + (uint32_t)((x >> 8) % 400)};
        in->type = WAL_SET_THROTTLE;
        memcpy(in->p, &r, sizeof r);
        in->len = sizeof r;
        return;
    }
    case 4: {
        const walStorageRec r = {.nowNs = g->now, .code = (x >> 8) % 3 == 0 ? 5002 : 0};
        in->type = WAL_STORAGE;
        memcpy(in->p, &r, sizeof r);
        in->len = sizeof r;
        return;
    }
    case 5: {
        const walAdminCancelRec r = {.nowNs = g->now, .orderId = genOrderId(g)};
        in->type = WAL_ADMIN_CANCEL;
        memcpy(in->p, &r, sizeof r);
        in->len = sizeof r;
        return;
    }
    case 6: {
        const walTimeRec r = {.nowNs = g->now};
        in->type = (x >> 8) % 4 == 0 ? WAL_SHUTDOWN : WAL_START;
        memcpy(in->p, &r, sizeof r);
        in->len = sizeof r;
        return;
    }
    default: {
        const uint32_t acct = 1001 + (uint32_t)((x >> 8) % 4);
        switch ((x >> 12) % 8) {
        case 0:
        case 1:
            genCredit(g, in,
                      (crCmd){.type = CR_CMD_ACCOUNT,
                              .account = acct,
                              .amount = (int64_t)((x >> 20) % 4000000000ull),
                              .concCap = INT64_MAX});
            return;
        case 2:
            genCredit(g, in, (crCmd){.type = CR_CMD_RECLAIM, .account = acct, .amount = 100000000});
            return;
        case 3:
            genCredit(g, in,
                      (crCmd){.type = CR_CMD_TOPUP_DONE,
                              .account = acct,
                              .parked = (uint32_t)((x >> 20) % 4)});
            return;
        case 4:
            genCredit(g, in,
                      (crCmd){.type = CR_CMD_INSTRUMENT,
                              .book = 0,
                              .marginRate = 100000 + (uint32_t)((x >> 20) % 50000),
                              .commissionRate = 23,
                              .minLots = 1,
                              .maxLots = 1000,
                              /* the price band (ticks) instrument.update moves; 0: unchanged */
                              .amount = (x >> 40) & 1 ? 1 : 0,
                              .concCap = (x >> 40) & 1 ? (int64_t)1 << 40 : 0});
            return;
        case 5:
            genCredit(g, in, (crCmd){.type = CR_CMD_ROLL, .book = 0, .amount = 38000000});
            return;
        case 6:
            genCredit(g, in, (crCmd){.type = CR_CMD_CANCEL, .amount = (int64_t)genOrderId(g)});
            return;
        default:
            genCredit(g, in,
                      (crCmd){.type = CR_CMD_CLOSE,
                              .account = acct,
                              .book = 0,
                              .side = (uint8_t)(x >> 20 & 1),
                              .offset = XOE_CLOSE,
                              .parked = 1});
            return;
        }
    }
    }
}

static void genSession(Gen *g, Input *in, unsigned s, uint64_t x)
{
    switch (x % 8) {
    case 0: {
        xoeLogon l = {.heartbeatMs = 100 + (uint32_t)((x >> 8) % 900),
                      .nextOutSeq = (x >> 20) % 3 == 0 ? 1 + (x >> 24) % (g->nextOut[s] + 1) : 0};
        tokenOf(s, l.token);
        if ((x >> 30) % 16 == 5)
            l.token[0] ^= 1; /* a wrong token now and then */
        genFrame(g, in, s, g->inSeq[s], XOE_MSG_LOGON, &l, addrOf(s));
        return;
    }
    case 1: {
        const xoeLogout l = {0};
        genFrame(g, in, s, g->inSeq[s], XOE_MSG_LOGOUT, &l, addrOf(s));
        return;
    }
    case 2: {
        const xoeHeartbeat h = {0};
        genFrame(g, in, s, g->inSeq[s], XOE_MSG_HEARTBEAT, &h, addrOf(s));
        return;
    }
    case 3: {
        const xoeRetransmitRequest r = {.fromSeq = 1 + (x >> 8) % 200,
                                        .count = (uint32_t)((x >> 20) % 30)};
        genFrame(g, in, s, g->inSeq[s], XOE_MSG_RETRANSMIT_REQUEST, &r, addrOf(s));
        return;
    }
    case 4: { /* a duplicate: an old number again (answered from the ranges) */
        const xoeCancel c = {.clOrdId = ++g->clOrd, .orderId = genOrderId(g)};
        const uint64_t seq = g->inSeq[s] > 1 ? 1 + (x >> 8) % (g->inSeq[s] - 1) : 1;
        genFrame(g, in, s, seq, XOE_MSG_CANCEL, &c, addrOf(s));
        return;
    }
    case 5: { /* a gap: a number ahead */
        const xoeCancel c = {.clOrdId = ++g->clOrd, .orderId = genOrderId(g)};
        genFrame(g, in, s, g->inSeq[s] + 1 + (x >> 8) % 3, XOE_MSG_CANCEL, &c, addrOf(s));
        return;
    }
    case 6: { /* from an address not its own */
        const xoeHeartbeat h = {0};
        genFrame(g, in, s, g->inSeq[s], XOE_MSG_HEARTBEAT, &h, addrOf(s + 20));
        return;
    }
    default: { /* malformed */
        const walDatagramRec d = {
            .nowNs = g->now, .ip = addrOf(s).ip, .port = addrOf(s).port, .len = 24};
        in->type = WAL_DATAGRAM;
        memcpy(in->p, &d, sizeof d);
        memset(in->p + sizeof d, (int)(x >> 8 & 0xff), 24);
        in->len = sizeof d + 24;
        return;
    }
    }
}

/* The next input of the workload. */
static void genNext(Gen *g, Input *in, const gwGateway *gw)
{
    mtCounters c;
    mtEngineGetCounters(gwEngine(gw), &c);
    g->nextOrderSeq = c.nextOrderSeq;
    gwSessionInfo si[MAXSESS];
    const uint32_t ns = gwSessionList(gw, si, MAXSESS);
    for (uint32_t i = 0; i < ns; i++) {
        g->loggedOn[si[i].sessionId] = si[i].state;
        g->nextOut[si[i].sessionId] = si[i].nextOutSeq;
    }
    const uint64_t x = rnd(g);
    g->now += (x >> 40) % (2 * MS);
    const unsigned r = (unsigned)(x % 1000);
    if (g->sessions < MAXSESS && (g->sessions < 3 || r < 8)) {
        const uint32_t id = ++g->sessions;
        walSessionAddRec a = {.nowNs = g->now,
                              .sessionId = id,
                              .account = 1000 + 1 + id % 4,
                              .allowedIp = id == 2 ? addrOf(id).ip : 0};
        tokenOf(id, a.token);
        in->type = WAL_SESSION_ADD;
        memcpy(in->p, &a, sizeof a);
        in->len = sizeof a;
        g->inSeq[id] = 1;
        return;
    }
    const unsigned s = 1 + (unsigned)((x >> 10) % g->sessions);
    if (g->loggedOn[s] == GW_SESSION_DISABLED && r < 300) {
        const walSessionRec e = {.nowNs = g->now, .sessionId = s};
        in->type = WAL_SESSION_ENABLE;
        memcpy(in->p, &e, sizeof e);
        in->len = sizeof e;
        return;
    }
    if (g->loggedOn[s] != GW_SESSION_LOGGED_ON && r < 900) {
        if (r < 100)
            g->now += SEC;                        /* logons are evaluated once a second */
        genSession(g, in, s, 0 | (x >> 16) << 3); /* a logon */
        return;
    }
    if (r < 500) {
        genNewOrder(g, in, s);
    } else if (r < 600) {
        const xoeCancel cx = {.clOrdId = ++g->clOrd, .orderId = genOrderId(g)};
        genApp(g, in, s, XOE_MSG_CANCEL, &cx);
    } else if (r < 700) {
        const xoeReplace rp = {.clOrdId = ++g->clOrd,
                               .orderId = genOrderId(g),
                               .qty = 1 + (uint32_t)((x >> 16) % 8),
                               .price = (int64_t)(18990 + (x >> 24) % 20) * 2000};
        genApp(g, in, s, XOE_MSG_REPLACE, &rp);
    } else if (r < 800) {
        if ((x >> 20) % 8 == 0)
            g->now += 2 * SEC; /* silence: heartbeats, timeouts */
        const walTimeRec t = {.nowNs = g->now};
        in->type = WAL_TIMER;
        memcpy(in->p, &t, sizeof t);
        in->len = sizeof t;
    } else if (r < 900) {
        genSession(g, in, s, x >> 16);
    } else {
        genControl(g, in, x >> 16);
    }
}

static void apply(Seg *s, const Input *in)
{
    assert_int_equal(walApply(s->gw, in->type, in->p, in->len), 0);
    gwFlush(s->gw); /* between inputs nothing is pending (walApply flushes what it must) */
}

/* ---- the fixture ---- */

static int setup(void **state)
{
    Fx *fx = calloc(1, sizeof *fx);
    char err[256];
    if (!fx || cfgLoad("config/xchg.conf", &fx->cfg, err, sizeof err)) {
        fprintf(stderr, "config: %s\n", err);
        return -1;
    }
    fx->cfg.segments[0].orderCapacity = CAP;
    fx->history = 64; /* small: the history and duplicate rings wrap */
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    Fx *fx = *state;
    cfgFree(&fx->cfg);
    free(fx);
    return 0;
}

static uint16_t nIns(const Fx *fx)
{
    return fx->cfg.segments[0].instrumentCount;
}

/* Snapshot of a into a fresh segment; asserts the restore and the
 * re-snapshot. Returns the new segment; *recs the records. */
static Seg *cloneSeg(Fx *fx, const Seg *a, Store *recs)
{
    const ckptSink sink = {storePut, recs};
    if (gwSnapshot(a->gw, &sink) != 0)
        fail_msg("gwSnapshot: %s", gwSnapError());
    storeSort(recs);
    Seg *b = segOpen(fx, a->risk != NULL);
    recs->pos = 0;
    const ckptSource src = {storeNext, recs};
    if (gwRestore(b->gw, &src) != 0)
        fail_msg("gwRestore: %s", gwSnapError());
    assert_string_equal(gwSnapError(), "");
    Store again = storeNew();
    const ckptSink sink2 = {storePut, &again};
    assert_int_equal(gwSnapshot(b->gw, &sink2), 0);
    storeSort(&again);
    assert_true(storesEqual(recs, &again)); /* snapshot -> restore -> snapshot: same records */
    storeFree(&again);
    return b;
}

/* The workload with snapshots at random points; after each, both segments
 * get the same `follow` inputs and must say exactly the same. */
static void runWorkload(Fx *fx, uint64_t seed, unsigned inputs, unsigned follow, int withRisk,
                        unsigned *clones, size_t *maxResting)
{
    Gen g = {.x = seed, .now = UINT64_C(1759714200000000000)};
    Seg *a = segOpen(fx, withRisk);
    Input in;
    if (withRisk) /* lines: account 1004 thin, so its orders park for top-ups */
        for (uint32_t acct = 1001; acct <= 1004; acct++) {
            genCredit(&g, &in,
                      (crCmd){.type = CR_CMD_ACCOUNT,
                              .account = acct,
                              .amount = acct == 1004 ? 30000000 : INT64_C(100000000000000),
                              .concCap = INT64_MAX});
            apply(a, &in);
        }
    for (uint16_t ins = 0; ins <= 3; ins += 3) {
        const walSetStateRec st = {.nowNs = g.now, .instrument = ins, .state = MT_STATE_CONTINUOUS};
        in.type = WAL_SET_STATE;
        memcpy(in.p, &st, sizeof st);
        in.len = sizeof st;
        apply(a, &in);
    }
    unsigned nextSnap = 50 + (unsigned)(rnd(&g) % 300);
    for (unsigned i = 0; i < inputs; i++) {
        if (i == nextSnap) {
            Store recs = storeNew();
            Seg *b = cloneSeg(fx, a, &recs);
            mtStats ms;
            mtEngineGetStats(gwEngine(a->gw), &ms);
            if (ms.ordersResting > *maxResting)
                *maxResting = ms.ordersResting;
            assert_true(walStateHash(a->gw, nIns(fx)) == walStateHash(b->gw, nIns(fx)));
            const size_t outA = a->out.n, evA = a->ev.n;
            Gen g2 = g;
            for (unsigned j = 0; j < follow && i + j < inputs; j++) {
                genNext(&g2, &in, a->gw);
                apply(a, &in);
                apply(b, &in);
            }
            assert_int_equal(a->out.n - outA, b->out.n);
            assert_memory_equal(a->out.p + outA, b->out.p, b->out.n);
            assert_int_equal(a->ev.n - evA, b->ev.n);
            if (b->ev.n)
                assert_memory_equal(a->ev.p + evA, b->ev.p, b->ev.n);
            assert_true(walStateHash(a->gw, nIns(fx)) == walStateHash(b->gw, nIns(fx)));
            /* the clone goes on as the original: the rest of the run uses it */
            segClose(a);
            a = b;
            i += follow < inputs - i ? follow : inputs - i;
            g = g2;
            storeFree(&recs);
            (*clones)++;
            nextSnap = i + 1 + (unsigned)(rnd(&g) % 400);
            if (i >= inputs)
                break;
        }
        genNext(&g, &in, a->gw);
        apply(a, &in);
    }
    if (getenv("SNAPDBG")) {
        gwStats st;
        gwGetStats(a->gw, &st);
        mtStats ms;
        mtEngineGetStats(gwEngine(a->gw), &ms);
        fprintf(stderr,
                "in %lu proc %lu logons %lu rej %lu new %lu acc %lu rej %lu exec %lu cxl %lu thr "
                "%lu unk %lu notlog %lu resting %u maxrest %zu\n",
                st.datagramsIn, st.datagramsProcessed, st.logons, st.logonRejects, st.newOrders,
                st.accepted, st.rejected, st.executions, st.cancelled, st.throttled,
                st.unknownSession, st.notLoggedOn, ms.ordersResting, *maxResting);
    }
    segClose(a);
}

static void testRestoreSameFuture(void **state)
{
    Fx *fx = *state;
    unsigned clones = 0;
    size_t maxResting = 0;
    for (uint64_t seed = 1; seed <= 10; seed++)
        runWorkload(fx, 0x9E3779B97F4A7C15ull * seed, 6000, 300, 1, &clones, &maxResting);
    assert_true(clones >= 20);
    assert_true(maxResting > 30); /* the workload built real books */
}

/* An instrument added at run time (WAL_INSTRUMENT_ADD, a copy of cu2501
 * as the next book): replay of the same inputs reaches the same state;
 * the snapshot carries the added book, and a gateway made from the config
 * file alone gets it back (same state hash, same future); a gateway
 * without room for it refuses the snapshot. */
static void testAddedInstrument(void **state)
{
    Fx *fx = *state;
    const uint16_t n = nIns(fx);
    fx->cfg.segments[0].instrumentCapacity = (uint16_t)(n + 1);
    Gen g = {.x = 0x51ED270B, .now = UINT64_C(1759714200000000000), .alt = n};
    Seg *a = segOpen(fx, 1), *r = segOpen(fx, 1);
    Input in;
    walInstrumentAddRec add = {.nowNs = g.now, .ins = fx->cfg.instruments[3]};
    snprintf(add.ins.id, sizeof add.ins.id, "NEW%u", n);
    add.ins.book = n;
    in.type = WAL_INSTRUMENT_ADD;
    memcpy(in.p, &add, sizeof add);
    in.len = sizeof add;
    apply(a, &in);
    apply(r, &in);
    assert_int_equal(gwInstrumentCount(a->gw), n + 1);
    assert_int_equal(mtEngineState(gwEngine(a->gw), n), MT_STATE_CLOSED);
    add.ins.book = (uint16_t)(n + 1); /* past instrument_capacity */
    assert_int_equal(walApply(a->gw, WAL_INSTRUMENT_ADD, &add, sizeof add), -1);
    add.ins.book = n; /* defined already */
    assert_int_equal(walApply(a->gw, WAL_INSTRUMENT_ADD, &add, sizeof add), -1);
    for (uint32_t acct = 1001; acct <= 1004; acct++) {
        genCredit(&g, &in,
                  (crCmd){.type = CR_CMD_ACCOUNT,
                          .account = acct,
                          .amount = INT64_C(100000000000000),
                          .concCap = INT64_MAX});
        apply(a, &in);
        apply(r, &in);
    }
    for (uint16_t ins = 0; ins <= n; ins += n) {
        const walSetStateRec st = {.nowNs = g.now, .instrument = ins, .state = MT_STATE_CONTINUOUS};
        in.type = WAL_SET_STATE;
        memcpy(in.p, &st, sizeof st);
        in.len = sizeof st;
        apply(a, &in);
        apply(r, &in);
    }
    for (unsigned i = 0; i < 4000; i++) {
        genNext(&g, &in, a->gw);
        apply(a, &in);
        apply(r, &in);
    }
    gwInstrumentStats is;
    assert_int_equal(gwGetInstrumentStats(a->gw, n, &is), 0);
    assert_true(is.orders > 50 && is.trades > 0); /* the added book traded */
    assert_true(walStateHash(a->gw, n) == walStateHash(r->gw, n));
    assert_true(a->out.n == r->out.n && memcmp(a->out.p, r->out.p, a->out.n) == 0);
    Store recs = storeNew();
    Seg *b = cloneSeg(fx, a, &recs); /* made with the config's n books */
    assert_int_equal(gwInstrumentCount(b->gw), n + 1);
    assert_true(walStateHash(a->gw, n) == walStateHash(b->gw, n));
    const size_t outA = a->out.n, outB = b->out.n;
    for (unsigned i = 0; i < 500; i++) {
        genNext(&g, &in, a->gw);
        apply(a, &in);
        apply(b, &in);
    }
    assert_true(walStateHash(a->gw, n) == walStateHash(b->gw, n));
    assert_true(a->out.n - outA == b->out.n - outB &&
                memcmp(a->out.p + outA, b->out.p + outB, a->out.n - outA) == 0);
    fx->cfg.segments[0].instrumentCapacity = n; /* no room for the added book */
    Seg *c = segOpen(fx, 1);
    recs.pos = 0;
    const ckptSource src = {storeNext, &recs};
    assert_int_not_equal(gwRestore(c->gw, &src), 0);
    assert_non_null(strstr(gwSnapError(), "instrument_capacity"));
    storeFree(&recs);
    segClose(a);
    segClose(b);
    segClose(c);
    segClose(r);
}

static void testRestoreWithoutCredit(void **state)
{
    Fx *fx = *state;
    unsigned clones = 0;
    size_t maxResting = 0;
    runWorkload(fx, 77, 3000, 200, 0, &clones, &maxResting);
    assert_true(clones >= 5);
}

/* A deep history (records of several thousand messages each) and a full
 * order pool. */
static void testDeepHistory(void **state)
{
    Fx *fx = *state;
    fx->history = 8192;
    Gen g = {.x = 5, .now = UINT64_C(1759714200000000000)};
    Seg *a = segOpen(fx, 0);
    Input in;
    walSessionAddRec r = {.nowNs = g.now, .sessionId = 1, .account = 1001};
    tokenOf(1, r.token);
    in.type = WAL_SESSION_ADD;
    memcpy(in.p, &r, sizeof r);
    in.len = sizeof r;
    apply(a, &in);
    g.sessions = 1;
    g.inSeq[1] = 1;
    genSession(&g, &in, 1, 0); /* logon */
    apply(a, &in);
    const walSetStateRec st = {.nowNs = g.now, .instrument = 0, .state = MT_STATE_CONTINUOUS};
    in.type = WAL_SET_STATE;
    memcpy(in.p, &st, sizeof st);
    in.len = sizeof st;
    apply(a, &in);
    const walThrottleRec th = {.nowNs = g.now, .msgsPerSec = 1000000};
    in.type = WAL_SET_THROTTLE;
    memcpy(in.p, &th, sizeof th);
    in.len = sizeof th;
    apply(a, &in);
    for (unsigned i = 0; i < 9000; i++) { /* buys only: they rest until the pool is full */
        xoeNewOrder o = {.instrument = 0,
                         .side = XOE_BUY,
                         .clOrdId = i + 1,
                         .qty = 1,
                         .price = (int64_t)(18900 + i % 50) * 2000};
        g.now += 1000;
        genApp(&g, &in, 1, XOE_MSG_NEW_ORDER, &o);
        apply(a, &in);
    }
    gwStats st0;
    gwGetStats(a->gw, &st0);
    assert_int_equal(st0.orderRefs, CAP); /* the pool is full, later orders were rejected */
    Store recs = storeNew();
    Seg *b = cloneSeg(fx, a, &recs);
    assert_true(walStateHash(a->gw, nIns(fx)) == walStateHash(b->gw, nIns(fx)));
    /* a replay of the whole history from both, in requests of the most a
     * request gets: byte-identical */
    gwSessionInfo si;
    assert_int_equal(gwSessionList(a->gw, &si, 1), 1);
    const size_t outA = a->out.n;
    for (uint64_t from = si.nextOutSeq - 8192; from < si.nextOutSeq; from += XOE_RETRANSMIT_MAX) {
        const xoeRetransmitRequest rq = {.fromSeq = from, .count = XOE_RETRANSMIT_MAX};
        g.now += MS;
        genFrame(&g, &in, 1, g.inSeq[1], XOE_MSG_RETRANSMIT_REQUEST, &rq, addrOf(1));
        apply(a, &in);
        apply(b, &in);
    }
    if (getenv("SNAPDBG"))
        fprintf(stderr, "replay bytes %zu\n", b->out.n);
    assert_true(b->out.n > 8192 * 24); /* every message of the history, 24 bytes or more each */
    assert_int_equal(a->out.n - outA, b->out.n);
    assert_memory_equal(a->out.p + outA, b->out.p, b->out.n);
    storeFree(&recs);
    segClose(a);
    segClose(b);
}

/* A free list of refs in many short runs (every other order cancelled):
 * several free-ref records; the clone hands out the same refs after. */
static void testManyFreeRuns(void **state)
{
    Fx *fx = *state;
    fx->cfg.segments[0].orderCapacity = 40000;
    Gen g = {.x = 9, .now = UINT64_C(1759714200000000000)};
    Seg *a = segOpen(fx, 0);
    Input in;
    walSessionAddRec r = {.nowNs = g.now, .sessionId = 1, .account = 1001};
    tokenOf(1, r.token);
    in.type = WAL_SESSION_ADD;
    memcpy(in.p, &r, sizeof r);
    in.len = sizeof r;
    apply(a, &in);
    g.sessions = 1;
    g.inSeq[1] = 1;
    genSession(&g, &in, 1, 0); /* logon */
    apply(a, &in);
    const walSetStateRec st = {.nowNs = g.now, .instrument = 0, .state = MT_STATE_CONTINUOUS};
    in.type = WAL_SET_STATE;
    memcpy(in.p, &st, sizeof st);
    in.len = sizeof st;
    apply(a, &in);
    const walThrottleRec th = {.nowNs = g.now, .msgsPerSec = 1000000};
    in.type = WAL_SET_THROTTLE;
    memcpy(in.p, &th, sizeof th);
    in.len = sizeof th;
    apply(a, &in);
    const unsigned n = 36000;
    for (unsigned i = 0; i < n; i++) {
        xoeNewOrder o = {.instrument = 0,
                         .side = XOE_BUY,
                         .clOrdId = i + 1,
                         .qty = 1,
                         .price = (int64_t)(18900 + i % 50) * 2000};
        g.now += 1000;
        genApp(&g, &in, 1, XOE_MSG_NEW_ORDER, &o);
        apply(a, &in);
    }
    for (unsigned i = 0; i < n; i += 2) { /* ids are 1, 2, ...: cancel the odd ones */
        xoeCancel c = {.clOrdId = n + i + 1, .orderId = i + 1};
        g.now += 1000;
        genApp(&g, &in, 1, XOE_MSG_CANCEL, &c);
        apply(a, &in);
    }
    Store recs = storeNew();
    Seg *b = cloneSeg(fx, a, &recs);
    size_t freeRecs = 0;
    for (size_t i = 0; i < recs.n; i++)
        freeRecs += recs.r[i].k[0] == 0x06;
    assert_true(freeRecs >= 3); /* 18,000 single-ref runs, 8192 a record */
    const size_t outA = a->out.n;
    for (unsigned i = 0; i < 500; i++) { /* new orders take refs from the free list */
        xoeNewOrder o = {.instrument = 0,
                         .side = XOE_SELL,
                         .clOrdId = 100000 + i,
                         .qty = 1,
                         .price = (int64_t)(19100 + i % 50) * 2000};
        g.now += 1000;
        genApp(&g, &in, 1, XOE_MSG_NEW_ORDER, &o);
        apply(a, &in);
        apply(b, &in);
    }
    assert_int_equal(a->out.n - outA, b->out.n);
    assert_memory_equal(a->out.p + outA, b->out.p, b->out.n);
    assert_true(walStateHash(a->gw, nIns(fx)) == walStateHash(b->gw, nIns(fx))); /* refs hashed */
    storeFree(&recs);
    segClose(a);
    segClose(b);
}

/* ---- failure paths ---- */

/* A real snapshot with some of everything, sorted. */
static Seg *failureSource(Fx *fx, Store *recs)
{
    Gen g = {.x = 11, .now = UINT64_C(1759714200000000000)};
    Seg *a = segOpen(fx, 1);
    Input in;
    genCredit(&g, &in,
              (crCmd){.type = CR_CMD_ACCOUNT,
                      .account = 1002,
                      .amount = INT64_C(100000000000000),
                      .concCap = INT64_MAX});
    apply(a, &in);
    for (unsigned i = 0; i < 1500; i++) {
        genNext(&g, &in, a->gw);
        apply(a, &in);
    }
    const ckptSink sink = {storePut, recs};
    assert_int_equal(gwSnapshot(a->gw, &sink), 0);
    storeSort(recs);
    return a;
}

/* Restores recs into a fresh segment; expects -1 and a message naming `what`. */
static void expectFail(Fx *fx, Store *recs, const char *what)
{
    Seg *b = segOpen(fx, 1);
    recs->pos = 0;
    const ckptSource src = {storeNext, recs};
    assert_int_equal(gwRestore(b->gw, &src), -1);
    if (!strstr(gwSnapError(), what))
        fail_msg("message '%s' does not say '%s'", gwSnapError(), what);
    segClose(b);
}

static size_t findKind(const Store *s, uint8_t kind)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->r[i].k[0] == kind)
            return i;
    fail_msg("no record of kind 0x%02x", kind);
    return 0;
}

static void testTruncatedValues(void **state)
{
    Fx *fx = *state;
    Store recs = storeNew();
    Seg *a = failureSource(fx, &recs);
    static const uint8_t kinds[] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x10, 0x11,
                                    0x12, 0x20, 0x21, 0x22, 0x23, 0x24, 0x7F};
    for (size_t i = 0; i < sizeof kinds; i++) {
        const size_t at = findKind(&recs, kinds[i]);
        assert_true(recs.r[at].vn > 0);
        recs.r[at].vn--;
        expectFail(fx, &recs, "record");
        recs.r[at].vn++;
    }
    /* and the untouched records still restore */
    Seg *b = segOpen(fx, 1);
    recs.pos = 0;
    const ckptSource src = {storeNext, &recs};
    assert_int_equal(gwRestore(b->gw, &src), 0);
    assert_true(walStateHash(a->gw, nIns(fx)) == walStateHash(b->gw, nIns(fx)));
    segClose(b);
    storeFree(&recs);
    segClose(a);
}

static void testBadKeys(void **state)
{
    Fx *fx = *state;
    Store recs = storeNew();
    Seg *a = failureSource(fx, &recs);
    /* unknown kind, inserted in order */
    uint8_t k = 0x30, v = 0;
    storePut(&recs, &k, 1, &v, 1);
    storeSort(&recs);
    expectFail(fx, &recs, "unknown record kind");
    const size_t u = findKind(&recs, 0x30);
    free(recs.r[u].k);
    free(recs.r[u].v);
    memmove(&recs.r[u], &recs.r[u + 1], (recs.n - u - 1) * sizeof recs.r[0]);
    recs.n--;
    /* out of order: two credit accounts swapped */
    const size_t o = findKind(&recs, 0x22);
    assert_int_equal(recs.r[o + 1].k[0], 0x22);
    Rec t = recs.r[o];
    recs.r[o] = recs.r[o + 1];
    recs.r[o + 1] = t;
    expectFail(fx, &recs, "out of order");
    recs.r[o + 1] = recs.r[o];
    recs.r[o] = t;
    /* a key repeated */
    Rec dup = recs.r[o];
    Rec *saved = recs.r;
    Rec *copy = malloc((recs.n + 1) * sizeof *copy);
    memcpy(copy, recs.r, (o + 1) * sizeof *copy);
    copy[o + 1] = dup;
    memcpy(copy + o + 2, recs.r + o + 1, (recs.n - o - 1) * sizeof *copy);
    recs.r = copy;
    recs.n++;
    expectFail(fx, &recs, "repeated");
    recs.r = saved;
    recs.n--;
    free(copy);
    /* an empty key, a key too long for its kind */
    recs.r[o].kn = 0;
    expectFail(fx, &recs, "empty key");
    recs.r[o].kn = 5;
    storeFree(&recs);
    segClose(a);
}

/* Adds d to the end record's count (big-endian u64), when it is there. */
static void endAdjust(Store *s, int d)
{
    Rec *end = &s->r[s->n - 1];
    if (end->k[0] != 0x7F)
        return;
    uint64_t n = 0;
    for (int i = 0; i < 8; i++)
        n = n << 8 | end->v[i];
    n += (uint64_t)(int64_t)d;
    for (int i = 7; i >= 0; i--, n >>= 8)
        end->v[i] = (uint8_t)n;
}

/* Drops record `at` (the end record counting one less, so the check that
 * fires is the one about what is missing) and expects the restore to fail
 * saying `what`. */
static void expectFailWithout(Fx *fx, Store *recs, size_t at, const char *what)
{
    Rec r = recs->r[at];
    memmove(&recs->r[at], &recs->r[at + 1], (recs->n - at - 1) * sizeof r);
    recs->n--;
    endAdjust(recs, -1);
    expectFail(fx, recs, what);
    endAdjust(recs, +1);
    memmove(&recs->r[at + 1], &recs->r[at], (recs->n - at) * sizeof r);
    recs->r[at] = r;
    recs->n++;
}

static void testCountsMustMatch(void **state)
{
    Fx *fx = *state;
    Store recs = storeNew();
    Seg *a = failureSource(fx, &recs);
    expectFailWithout(fx, &recs, findKind(&recs, 0x12), "expected"); /* an order missing */
    expectFailWithout(fx, &recs, findKind(&recs, 0x11), "");         /* a book missing */
    expectFailWithout(fx, &recs, findKind(&recs, 0x03), "");         /* a session missing */
    expectFailWithout(fx, &recs, findKind(&recs, 0x04), "");         /* a history missing */
    expectFailWithout(fx, &recs, findKind(&recs, 0x06), "refs");     /* the free refs missing */
    expectFailWithout(fx, &recs, findKind(&recs, 0x22), "");         /* an account missing */
    expectFailWithout(fx, &recs, findKind(&recs, 0x01), "header");   /* the header missing */
    expectFailWithout(fx, &recs, recs.n - 1, "missing");             /* the end missing */
    /* the end record counts one record more */
    Rec *end = &recs.r[recs.n - 1];
    end->v[7]++;
    expectFail(fx, &recs, "end record");
    end->v[7]--;
    /* a session's declared duplicate-answer count off by one */
    Rec *s = &recs.r[findKind(&recs, 0x03)];
    s->v[s->vn - 1]++;
    expectFail(fx, &recs, "");
    s->v[s->vn - 1]--;
    /* a source that fails half way */
    recs.failNextAt = (long)recs.n / 2;
    expectFail(fx, &recs, "source failed");
    recs.failNextAt = -1;
    storeFree(&recs);
    segClose(a);
}

/* A snapshot does not restore into a gateway made with other options, and
 * a sink that refuses a record fails the snapshot. */
static void testOtherOptionsAndSink(void **state)
{
    Fx *fx = *state;
    Store recs = storeNew();
    Seg *a = failureSource(fx, &recs);
    fx->history = 128;
    expectFail(fx, &recs, "does not fit");
    fx->history = 64;
    Seg *noRisk = segOpen(fx, 0);
    recs.pos = 0;
    const ckptSource src = {storeNext, &recs};
    assert_int_equal(gwRestore(noRisk->gw, &src), -1);
    segClose(noRisk);
    Store bad = storeNew();
    bad.failPutAt = 3;
    const ckptSink sink = {storePut, &bad};
    assert_int_equal(gwSnapshot(a->gw, &sink), -1);
    assert_non_null(strstr(gwSnapError(), "refused"));
    storeFree(&bad);
    storeFree(&recs);
    segClose(a);
}

/* Every byte of every value flipped in turn on a small snapshot: the
 * restore succeeds or fails cleanly (ASan and UBSan watch). */
static void testFlippedBytesNeverCrash(void **state)
{
    Fx *fx = *state;
    Store recs = storeNew();
    Seg *a = failureSource(fx, &recs);
    unsigned failed = 0, tried = 0;
    for (size_t i = 0; i < recs.n; i += 1 + recs.n / 60) {
        for (size_t b = 0; b < recs.r[i].vn; b += 1 + recs.r[i].vn / 24) {
            recs.r[i].v[b] ^= 0xA5;
            Seg *s = segOpen(fx, 1);
            recs.pos = 0;
            const ckptSource src = {storeNext, &recs};
            failed += gwRestore(s->gw, &src) != 0;
            tried++;
            segClose(s);
            recs.r[i].v[b] ^= 0xA5;
        }
    }
    assert_true(failed > 0 && tried > 100);
    storeFree(&recs);
    segClose(a);
}

/* ---- the live worker versus its journal's replay (docs/storage/checkpoint.md) ---- */

typedef struct {
    Input *r;
    size_t n, cap;
} Journal;

static void jnlPush(Journal *j, const Input *in)
{
    if (j->n == j->cap) {
        j->cap = j->cap ? j->cap * 2 : 4096;
        j->r = realloc(j->r, j->cap * sizeof *j->r);
        assert_non_null(j->r);
    }
    j->r[j->n++] = *in;
}

/* One input the way dataplane/worker.c handles it: a timer tick is
 * journaled only when a deadline is due (walTimer) but always reaches
 * gwOnTimer, and the timer branch does not flush; everything else is
 * journaled, applied and flushed (wkServe, the burst, crlPoll). */
static void liveInput(Seg *l, Journal *j, const Input *in)
{
    if (in->type == WAL_TIMER) {
        walTimeRec t;
        memcpy(&t, in->p, sizeof t);
        if (t.nowNs >= gwTimerDue(l->gw))
            jnlPush(j, in);
        gwOnTimer(l->gw, t.nowNs);
        return;
    }
    if (in->type == WAL_DATAGRAM) {
        walDatagramRec d;
        memcpy(&d, in->p, sizeof d);
        xoeFrame f;
        xoeErrorInfo ei;
        if (xoeFrameParse(in->p + sizeof d, d.len, XOE_DIR_TO_XCHG, &f, &ei) != XOE_OK) {
            /* counted, answered, not journaled */
            gwOnDatagram(l->gw, (gwAddr){d.ip, d.port}, in->p + sizeof d, d.len, d.nowNs);
            return;
        }
        jnlPush(j, in);
        gwOnDatagramParsed(l->gw, (gwAddr){d.ip, d.port}, &f, d.nowNs);
        gwFlush(l->gw);
        return;
    }
    jnlPush(j, in);
    assert_int_equal(walApply(l->gw, in->type, in->p, in->len), 0);
    gwFlush(l->gw);
}

/* The counters of input the worker does not journal (frames it cannot
 * parse): datagramsIn and malformed[] of the gateway record's gwStats (a
 * process's counters, not state a replay can have); zeroed to compare. */
static void maskUnjournaled(Store *st)
{
    for (size_t i = 0; i < st->n; i++)
        if (st->r[i].kn == 1 && st->r[i].k[0] == 0x02) {
            const size_t stats = 4 + 1 + 2 + 8 + 8 + 8 + 2; /* gwsnap.c gwSnapScalars */
            assert_true(st->r[i].vn >= stats + 35 * 8);
            memset(st->r[i].v + stats, 0, 8);              /* datagramsIn */
            memset(st->r[i].v + stats + 3 * 8, 0, 32 * 8); /* malformed[] */
        }
}

static void snapInto(const Seg *s, Store *st)
{
    const ckptSink sink = {storePut, st};
    if (gwSnapshot(s->gw, &sink) != 0)
        fail_msg("gwSnapshot: %s", gwSnapError());
    storeSort(st);
}

/* Fails naming the first record where a and b differ. */
static void assertSameRecords(const Store *a, const Store *b, const char *what, size_t at)
{
    for (size_t i = 0; i < a->n && i < b->n; i++)
        if (recCmp(&a->r[i], &b->r[i]) || a->r[i].vn != b->r[i].vn ||
            memcmp(a->r[i].v, b->r[i].v, a->r[i].vn)) {
            size_t k = 0;
            while (k < a->r[i].vn && k < b->r[i].vn && a->r[i].v[k] == b->r[i].v[k])
                k++;
            if (getenv("SNAPDBG"))
                for (size_t q = 0; q < a->r[i].vn; q++)
                    fprintf(stderr, "%zu: %02x %02x%s\n", q, a->r[i].v[q], b->r[i].v[q],
                            a->r[i].v[q] != b->r[i].v[q] ? " *" : "");
            fail_msg("%s after journal record %zu: record %zu (kind 0x%02x) differs at value byte "
                     "%zu",
                     what, at, i, a->r[i].k[0], k);
        }
    if (a->n != b->n)
        fail_msg("%s after journal record %zu: %zu vs %zu records", what, at, a->n, b->n);
}

/* The replica's checkpoint (durable.c duSnapRec): flush, snapshot, and a
 * recovery restores it into a fresh segment. */
static Seg *checkpointOf(Fx *fx, Seg *shadow)
{
    gwFlush(shadow->gw);
    Store recs = storeNew();
    Seg *c = cloneSeg(fx, shadow, &recs);
    storeFree(&recs);
    return c;
}

/* A live segment with timer ticks between inputs (most not journaled: no
 * deadline due) and flushes at points the journal does not record (a
 * status request), its journal replayed record by record into a replica
 * (walApply only, as the replica thread and xchg-replay), checkpoints of
 * the replica at random points restored and carried on: after every
 * record the three hash the same, and at many points (each flushed first,
 * as a status request or a checkpoint may) their snapshots, the whole
 * state that decides later outputs, are record for record the same. */
static void runLiveVsReplay(Fx *fx, uint64_t seed, unsigned inputs, unsigned *compared,
                            unsigned *restarts)
{
    Gen g = {.x = seed, .now = UINT64_C(1759714200000000000)};
    Seg *live = segOpen(fx, 1), *rep = segOpen(fx, 1), *ck = NULL;
    Journal j = {0};
    size_t applied = 0;
    Input in;
    for (uint32_t acct = 1001; acct <= 1004; acct++) {
        genCredit(&g, &in,
                  (crCmd){.type = CR_CMD_ACCOUNT,
                          .account = acct,
                          .amount = acct == 1004 ? 30000000 : INT64_C(100000000000000),
                          .concCap = INT64_MAX});
        liveInput(live, &j, &in);
    }
    for (uint16_t ins = 0; ins <= 3; ins += 3) {
        const walSetStateRec st = {.nowNs = g.now, .instrument = ins, .state = MT_STATE_CONTINUOUS};
        in.type = WAL_SET_STATE;
        memcpy(in.p, &st, sizeof st);
        in.len = sizeof st;
        liveInput(live, &j, &in);
    }
    for (unsigned i = 0; i < inputs; i++) {
        const uint64_t x = rnd(&g);
        if (x % 3 == 0) { /* the worker's 1 ms tick, usually with nothing due */
            const walTimeRec t = {.nowNs = g.now + (x >> 8) % MS};
            in.type = WAL_TIMER;
            memcpy(in.p, &t, sizeof t);
            in.len = sizeof t;
            g.now = t.nowNs;
            liveInput(live, &j, &in);
        }
        if (x % 7 == 1)
            gwFlush(live->gw); /* a status or book request: not journaled */
        genNext(&g, &in, live->gw);
        liveInput(live, &j, &in);
        if (x % 5 == 3) { /* a burst: datagrams of one receive time, one flush */
            for (unsigned k = 0; k < 1 + x % 4; k++) {
                genNext(&g, &in, live->gw);
                if (in.type != WAL_DATAGRAM)
                    break;
                walDatagramRec d;
                memcpy(&d, in.p, sizeof d);
                d.nowNs = g.now;
                memcpy(in.p, &d, sizeof d);
                liveInput(live, &j, &in);
            }
        }
        for (; applied < j.n; applied++) { /* the replica follows the journal */
            const Input *r = &j.r[applied];
            assert_int_equal(walApply(rep->gw, r->type, r->p, r->len), 0);
            if (ck)
                assert_int_equal(walApply(ck->gw, r->type, r->p, r->len), 0);
            const uint64_t h = walStateHash(live->gw, nIns(fx));
            if (applied + 1 == j.n) {
                assert_true(walStateHash(rep->gw, nIns(fx)) == h);
                if (ck)
                    assert_true(walStateHash(ck->gw, nIns(fx)) == h);
            }
        }
        if (x % 97 == 5) { /* a checkpoint of the replica, then "recovery" from it */
            segClose(ck);
            ck = checkpointOf(fx, rep);
        }
        if (x % 151 == 7 && ck) {
            /* kill -9 and a restart from the checkpoint plus the journal's
             * tail (ck has applied it): the restored segment trades live on */
            segClose(live);
            live = ck;
            ck = NULL;
            (*restarts)++;
            const walTimeRec st = {.nowNs = g.now};
            in.type = WAL_START;
            memcpy(in.p, &st, sizeof st);
            in.len = sizeof st;
            liveInput(live, &j, &in);
            continue;
        }
        if (x % 13 == 2 && ck) { /* everything flushed: the whole states compared */
            gwFlush(live->gw);
            gwFlush(rep->gw);
            gwFlush(ck->gw);
            Store sl = storeNew(), sr = storeNew(), sc = storeNew();
            snapInto(live, &sl);
            snapInto(rep, &sr);
            snapInto(ck, &sc);
            assertSameRecords(&sr, &sc, "replay vs checkpoint + tail", j.n);
            maskUnjournaled(&sl);
            maskUnjournaled(&sr);
            assertSameRecords(&sl, &sr, "live vs replay", j.n);
            storeFree(&sl);
            storeFree(&sr);
            storeFree(&sc);
            (*compared)++;
        }
    }
    segClose(live);
    segClose(rep);
    segClose(ck);
    free(j.r);
}

static void testLiveEqualsReplay(void **state)
{
    Fx *fx = *state;
    unsigned compared = 0, restarts = 0;
    for (uint64_t seed = 1; seed <= 6; seed++)
        runLiveVsReplay(fx, 0xD1B54A32D192ED03ull * seed, 5000, &compared, &restarts);
    assert_true(compared >= 100);
    assert_true(restarts >= 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(testRestoreSameFuture, setup, teardown),
        cmocka_unit_test_setup_teardown(testRestoreWithoutCredit, setup, teardown),
        cmocka_unit_test_setup_teardown(testAddedInstrument, setup, teardown),
        cmocka_unit_test_setup_teardown(testDeepHistory, setup, teardown),
        cmocka_unit_test_setup_teardown(testManyFreeRuns, setup, teardown),
        cmocka_unit_test_setup_teardown(testTruncatedValues, setup, teardown),
        cmocka_unit_test_setup_teardown(testBadKeys, setup, teardown),
        cmocka_unit_test_setup_teardown(testCountsMustMatch, setup, teardown),
        cmocka_unit_test_setup_teardown(testOtherOptionsAndSink, setup, teardown),
        cmocka_unit_test_setup_teardown(testFlippedBytesNeverCrash, setup, teardown),
        cmocka_unit_test_setup_teardown(testLiveEqualsReplay, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
