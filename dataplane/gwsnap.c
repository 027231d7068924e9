/* gwsnap.c -- a market segment's state (gateway, matcher, credit) as checkpoint records and back.
 *
 * Keys are a record-kind byte then big-endian ids, chosen so that ascending
 * key order is the order restore needs: the segment header, the gateway's
 * scalars, sessions, their history and duplicate-answer rings, the free
 * list of order refs, the matcher's counters, books, and resting orders in
 * priority order (best price first, then time), then the credit state and
 * an end record that counts the records. Restore is one pass that checks
 * every record before using it (docs/storage/checkpoint.md, "Component
 * records", has every layout and check). Everything is written exactly,
 * slot for slot where a slot number is observable (session indexes, order
 * refs and their free list, credit table slots), so the restored segment
 * gives the same walStateHash and the same output frames. */
#include <stdlib.h>

#include "dataplane/crsnap.h"
#include "dataplane/gw_int.h"
#include "dataplane/gwsnap.h"

#define GW_SNAP_MAGIC    0x58534E50u /* "XSNP" */
#define GW_SNAP_VERSION  2           /* 2: META carries the instruments added at run time */
#define GW_SNAP_HIST_MSG 4096        /* history messages per record (<= 256 KiB) */
#define GW_SNAP_RANGES   4096        /* duplicate-answer slots per record */
#define GW_SNAP_RUNS     8192        /* free-list runs per record */

_Static_assert(sizeof(gwStats) % sizeof(uint64_t) == 0, "gwStats is written as u64s");
#define GW_STATS_N (sizeof(gwStats) / sizeof(uint64_t))

static __thread char gwSnapMsg[256];

const char *gwSnapError(void)
{
    return gwSnapMsg;
}

/* ---- snapshot --------------------------------------------------------------------- */

/* An instrument added at run time, every field (a restore re-creates the
 * book from it, like a WAL_INSTRUMENT_ADD record). */
static void gwPutInstrument(snapBuf *b, const cfgInstrument *in)
{
    sbPut(b, in->id, sizeof in->id);
    sbPut(b, in->name, sizeof in->name);
    sbU8(b, in->segment);
    sbU16(b, in->segIndex);
    sbU16(b, in->book);
    sbU8(b, in->priceDecimals);
    sbU8(b, (uint8_t)in->closeRule);
    const uint32_t u32[] = {in->multiplier, in->marginRate, in->commissionRate, in->limitUp,
                            in->limitDown,  in->minLots,    in->maxLots};
    for (size_t i = 0; i < sizeof u32 / sizeof u32[0]; i++)
        sbU32(b, u32[i]);
    const int64_t i64[] = {in->tickSize,           in->commissionPerLot, in->preSettlement,
                           in->preSettlementTicks, in->preClose,         in->lowerTicks,
                           in->upperTicks};
    for (size_t i = 0; i < sizeof i64 / sizeof i64[0]; i++)
        sbU64(b, (uint64_t)i64[i]);
}

static void gwGetInstrument(snapRd *v, cfgInstrument *in)
{
    memset(in, 0, sizeof *in);
    srBytes(v, in->id, sizeof in->id);
    srBytes(v, in->name, sizeof in->name);
    in->id[sizeof in->id - 1] = 0;
    in->name[sizeof in->name - 1] = 0;
    in->segment = srU8(v);
    in->segIndex = srU16(v);
    in->book = srU16(v);
    in->priceDecimals = srU8(v);
    in->closeRule = (cfgCloseRule)srU8(v);
    uint32_t *u32[] = {&in->multiplier, &in->marginRate, &in->commissionRate, &in->limitUp,
                       &in->limitDown,  &in->minLots,    &in->maxLots};
    for (size_t i = 0; i < sizeof u32 / sizeof u32[0]; i++)
        *u32[i] = srU32(v);
    int64_t *i64[] = {&in->tickSize,           &in->commissionPerLot, &in->preSettlement,
                      &in->preSettlementTicks, &in->preClose,         &in->lowerTicks,
                      &in->upperTicks};
    for (size_t i = 0; i < sizeof i64 / sizeof i64[0]; i++)
        *i64[i] = (int64_t)srU64(v);
}

static int gwSnapMeta(const gwGateway *gw, snapOut *o)
{
    mtStats ms;
    mtEngineGetStats(gw->engine, &ms);
    soBegin(o, SNAP_META);
    sbU32(&o->v, GW_SNAP_MAGIC);
    sbU16(&o->v, GW_SNAP_VERSION);
    sbU8(&o->v, gw->segmentId);
    sbU16(&o->v, gw->instrumentCount);
    sbU32(&o->v, gw->maxSessions);
    sbU64(&o->v, gw->histMask + 1);
    sbU32(&o->v, gw->refCap);
    sbU32(&o->v, ms.poolCapacity);
    sbU8(&o->v, gw->risk != NULL);
    sbU32(&o->v, gw->tradingDay);
    sbU16(&o->v, gw->instrumentBase);
    for (uint16_t b = gw->instrumentBase; b < gw->instrumentCount; b++) {
        const cfgInstrument *cr = gw->risk ? crInstrument(gw->risk, b) : NULL;
        mtBookInfo bi;
        if (!cr || mtEngineBookInfo(gw->engine, b, &bi) != MT_OK)
            return snapFail(o->err,
                            "snapshot: book %u was added but its definition is not kept "
                            "(a segment without credit checks)",
                            b);
        /* the book as it was made: instrument.update moves only the credit
         * check's band and lots (its SNAP_CR_INSTRUMENT record has them) */
        cfgInstrument in = *cr;
        in.lowerTicks = bi.config.lowerPrice;
        in.upperTicks = bi.config.upperPrice;
        in.preSettlementTicks = bi.config.referencePrice;
        in.minLots = bi.config.minLots;
        in.maxLots = bi.config.maxLots;
        gwPutInstrument(&o->v, &in);
    }
    return soPut(o);
}

static int gwSnapScalars(const gwGateway *gw, snapOut *o)
{
    soBegin(o, SNAP_GW);
    sbU32(&o->v, gw->nSessions);
    sbU8(&o->v, gw->logonsOpen);
    sbU16(&o->v, gw->storageCode);
    sbU64(&o->v, gw->rate);
    sbU64(&o->v, gw->now);
    sbU64(&o->v, gw->timerDueNs);
    sbU16(&o->v, (uint16_t)GW_STATS_N);
    uint64_t st[GW_STATS_N];
    memcpy(st, &gw->stats, sizeof st);
    for (size_t i = 0; i < GW_STATS_N; i++)
        sbU64(&o->v, st[i]);
    for (uint16_t i = 0; i < gw->instrumentCount; i++) {
        sbU64(&o->v, gw->insStats[i].orders);
        sbU64(&o->v, gw->insStats[i].trades);
        sbU64(&o->v, gw->insStats[i].tradedLots);
    }
    return soPut(o);
}

static uint32_t gwRangesUsed(const gwGateway *gw, const gwSession *s)
{
    uint32_t n = 0;
    for (uint64_t i = 0; i <= gw->histMask; i++)
        n += s->ranges[i].inSeq != 0;
    return n;
}

static int gwSnapSession(const gwGateway *gw, uint32_t idx, snapOut *o)
{
    const gwSession *s = &gw->sessions[idx];
    soBegin(o, SNAP_SESSION);
    sbU32(&o->k, idx);
    sbU32(&o->v, s->id);
    sbU32(&o->v, s->account);
    sbU32(&o->v, s->allowedIp);
    sbU8(&o->v, s->state);
    sbU8(&o->v, s->everBound);
    sbU32(&o->v, s->addr.ip);
    sbU16(&o->v, s->addr.port);
    const uint64_t v64[] = {s->nextIn,     s->nextOut,    s->hbNs,        s->lastRecvNs,
                            s->lastSentNs, s->logonOkNs,  s->nlOkNs,      s->tokens,
                            s->refillNs,   s->messagesIn, s->messagesOut, s->throttled};
    for (size_t i = 0; i < sizeof v64 / sizeof v64[0]; i++)
        sbU64(&o->v, v64[i]);
    sbPut(&o->v, s->token, XOE_TOKEN_SIZE);
    sbU32(&o->v, gwRangesUsed(gw, s));
    return soPut(o);
}

/* The session's history from the oldest number kept to the newest, in
 * records of GW_SNAP_HIST_MSG messages keyed by their first number. */
static int gwSnapHistory(const gwGateway *gw, uint32_t idx, snapOut *o)
{
    const gwSession *s = &gw->sessions[idx];
    for (uint64_t seq = gwOldest(gw, s); seq < s->nextOut;) {
        soBegin(o, SNAP_HISTORY);
        sbU32(&o->k, idx);
        sbU64(&o->k, seq);
        for (uint32_t n = 0; n < GW_SNAP_HIST_MSG && seq < s->nextOut; n++, seq++) {
            const uint8_t *m = s->history + (size_t)(seq & gw->histMask) * XOE_MSG_MAX;
            uint16_t len = xoeLoad16(m);
            sbPut(&o->v, m, len <= XOE_MSG_MAX ? len : XOE_MSG_MAX);
        }
        if (soPut(o))
            return -1;
    }
    return 0;
}

/* The duplicate-answer ring's used slots, GW_SNAP_RANGES slots a record. */
static int gwSnapRanges(const gwGateway *gw, uint32_t idx, snapOut *o)
{
    const gwSession *s = &gw->sessions[idx];
    for (uint64_t base = 0; base <= gw->histMask; base += GW_SNAP_RANGES) {
        soBegin(o, SNAP_RANGES);
        sbU32(&o->k, idx);
        sbU32(&o->k, (uint32_t)(base / GW_SNAP_RANGES));
        for (uint64_t i = base; i <= gw->histMask && i < base + GW_SNAP_RANGES; i++) {
            const gwInRange *r = &s->ranges[i];
            if (!r->inSeq)
                continue;
            sbU64(&o->v, r->inSeq);
            sbU64(&o->v, r->firstOut);
            sbU64(&o->v, r->count);
        }
        if (o->v.n && soPut(o))
            return -1;
    }
    return 0;
}

/* The free list of order refs as runs of consecutive ascending refs (a
 * fresh gateway's list is one run), in list order: the refs later orders
 * get, so the restored segment hands out the same ones. */
static int gwSnapRefFree(const gwGateway *gw, snapOut *o)
{
    uint32_t chunk = 0, runs = 0, walked = 0;
    soBegin(o, SNAP_REF_FREE);
    sbU32(&o->k, chunk);
    for (uint32_t i = gw->refFree; i != GW_NONE && walked < gw->refCap;) {
        uint32_t start = i, len = 0;
        while (i != GW_NONE && i == start + len && walked < gw->refCap) {
            len++;
            walked++;
            i = gw->refs[i].link;
        }
        if (runs == GW_SNAP_RUNS) {
            if (soPut(o))
                return -1;
            soBegin(o, SNAP_REF_FREE);
            sbU32(&o->k, ++chunk);
            runs = 0;
        }
        sbU32(&o->v, start);
        sbU32(&o->v, len);
        runs++;
    }
    return runs ? soPut(o) : 0;
}

typedef struct {
    const gwGateway *gw;
    snapOut *o;
    uint8_t side;
    uint32_t n;
    int failed;
} gwOrderWalk;

/* Byte order of the key = priority: best price first (buys descending,
 * sells ascending), then queue position. */
static uint64_t gwPriceKey(uint8_t side, int64_t price)
{
    const uint64_t biased = (uint64_t)price ^ (UINT64_C(1) << 63);
    return side == MT_BUY ? ~biased : biased;
}

static void gwSnapOrder(void *ctx, const mtOrderInfo *m)
{
    gwOrderWalk *w = ctx;
    if (w->failed)
        return;
    snapOut *o = w->o;
    const gwRef *r = m->userRef < w->gw->refCap ? &w->gw->refs[m->userRef] : NULL;
    if (!r || !r->inUse) {
        w->failed = snapFail(o->err, "snapshot: order %llu has no order ref",
                             (unsigned long long)m->orderId);
        return;
    }
    soBegin(o, SNAP_ORDER);
    sbU16(&o->k, m->instrument);
    sbU8(&o->k, w->side);
    sbU64(&o->k, gwPriceKey(w->side, m->price));
    sbU32(&o->k, w->n++);
    sbU64(&o->v, m->orderId);
    sbU32(&o->v, (uint32_t)m->userRef);
    sbU32(&o->v, m->account);
    sbU32(&o->v, m->qty);
    sbU32(&o->v, m->leaves);
    sbU8(&o->v, m->timeCondition);
    sbU64(&o->v, r->clOrdId);
    sbU32(&o->v, r->link);
    sbU8(&o->v, r->offset);
    w->failed = soPut(o);
}

static int gwSnapEngine(const gwGateway *gw, snapOut *o)
{
    mtCounters c;
    mtStats ms;
    mtEngineGetCounters(gw->engine, &c);
    mtEngineGetStats(gw->engine, &ms);
    soBegin(o, SNAP_ENGINE);
    const uint64_t v[] = {c.nextOrderSeq, c.nextTradeSeq, c.ordersAccepted, c.ordersRejected,
                          c.fills,        c.cancels,      c.replaces,       ms.ordersResting};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        sbU64(&o->v, v[i]);
    if (soPut(o))
        return -1;
    for (uint16_t i = 0; i < gw->instrumentCount; i++) {
        mtBookInfo bi;
        if (mtEngineBookInfo(gw->engine, i, &bi) != MT_OK)
            continue;
        uint32_t n[2];
        for (uint8_t side = MT_BUY; side <= MT_SELL; side++) {
            gwOrderWalk w = {.gw = gw, .o = o, .side = side};
            mtEngineForEachOrder(gw->engine, i, (mtSide)side, gwSnapOrder, &w);
            if (w.failed)
                return -1;
            n[side] = w.n;
        }
        soBegin(o, SNAP_BOOK); /* a sink takes keys in any order */
        sbU16(&o->k, i);
        sbU8(&o->v, bi.state);
        sbU64(&o->v, (uint64_t)bi.config.referencePrice);
        sbU64(&o->v, (uint64_t)bi.config.lowerPrice);
        sbU64(&o->v, (uint64_t)bi.config.upperPrice);
        sbU32(&o->v, bi.config.minLots);
        sbU32(&o->v, bi.config.maxLots);
        sbU32(&o->v, n[MT_BUY]);
        sbU32(&o->v, n[MT_SELL]);
        if (soPut(o))
            return -1;
    }
    return 0;
}

static int gwSnapAll(const gwGateway *gw, snapOut *o)
{
    if (gw->nDirty)
        return snapFail(o->err, "snapshot: %u sessions have a frame pending (call gwFlush first)",
                        gw->nDirty);
    if (gwSnapMeta(gw, o) || gwSnapScalars(gw, o))
        return -1;
    for (uint32_t i = 0; i < gw->nSessions; i++)
        if (gwSnapSession(gw, i, o) || gwSnapHistory(gw, i, o) || gwSnapRanges(gw, i, o))
            return -1;
    if (gwSnapRefFree(gw, o) || gwSnapEngine(gw, o))
        return -1;
    if (gw->risk && crSnapshotTo(gw->risk, o))
        return -1;
    const uint64_t n = o->records;
    soBegin(o, SNAP_END);
    sbU64(&o->v, n);
    return soPut(o);
}

int gwSnapshot(const gwGateway *gw, const ckptSink *sink)
{
    snapOut o = {.sink = sink, .err = gwSnapMsg, .errLen = sizeof gwSnapMsg};
    gwSnapMsg[0] = 0;
    const int rc = gwSnapAll(gw, &o);
    free(o.k.p);
    free(o.v.p);
    return rc;
}

/* ---- restore ---------------------------------------------------------------------- */

typedef struct {
    gwGateway *gw;
    uint8_t seen[128];  /* records seen by kind */
    uint32_t *nRanges;  /* per session: declared duplicate-answer entries */
    uint64_t *nextHist; /* per session: the history number expected next */
    uint8_t *refState;  /* per ref: 0 unknown, 1 free, 2 an order's */
    uint32_t lastFree;  /* tail of the free list being rebuilt */
    uint32_t refsFree, refsUsed;
    uint32_t *declared; /* per instrument and side: orders the BOOK record declared */
    uint32_t *got;      /* per instrument and side: orders restored */
    uint32_t books, sessions;
    uint64_t resting, records;
    crRestoreState cr;
    char why[256];
} gwRestoreCtx;

static int gwRestoreMeta(gwRestoreCtx *c, snapRd *v)
{
    const gwGateway *gw = c->gw;
    mtStats ms;
    mtEngineGetStats(gw->engine, &ms);
    const uint32_t magic = srU32(v);
    const uint16_t version = srU16(v);
    const uint8_t seg = srU8(v);
    const uint16_t nIns = srU16(v);
    const uint32_t maxSessions = srU32(v);
    const uint64_t depth = srU64(v);
    const uint32_t refCap = srU32(v), poolCap = srU32(v);
    const uint8_t risk = srU8(v);
    const uint32_t day = srU32(v);
    if (magic != GW_SNAP_MAGIC || (version != GW_SNAP_VERSION && version != 1))
        return snapFail(c->why, "not a segment snapshot of version 1 or %u", GW_SNAP_VERSION);
    const uint16_t base = version >= 2 ? srU16(v) : nIns;
    if (base > nIns || nIns > gw->instrumentCapacity)
        return snapFail(c->why,
                        "snapshot of %u instruments (%u from the config) does not fit "
                        "this gateway's %u (instrument_capacity)",
                        nIns, base, gw->instrumentCapacity);
    cfgInstrument *added = calloc((size_t)(nIns - base) + 1u, sizeof *added);
    if (!added)
        return snapFail(c->why, "out of memory");
    for (uint16_t b = base; b < nIns; b++)
        gwGetInstrument(v, &added[b - base]);
    int bad = !srDone(v);
    /* a gateway made from the config file has the `base` books: the
     * added ones are defined again here, in book order */
    const int fresh = gw->instrumentCount == base && seg == gw->segmentId;
    for (uint16_t b = base; !bad && fresh && b < nIns; b++) {
        const cfgInstrument *in = &added[b - base];
        if (in->book != b || in->segment != seg || gwAddInstrument(c->gw, in, NULL, 0) != MT_OK)
            bad = 2;
    }
    free(added);
    if (bad)
        return snapFail(c->why, bad == 1 ? "truncated or overlong record"
                                         : "an added instrument cannot be defined again");
    if (seg != gw->segmentId || nIns != gw->instrumentCount || maxSessions != gw->maxSessions ||
        depth != gw->histMask + 1 || refCap != gw->refCap || poolCap != ms.poolCapacity ||
        risk != (gw->risk != NULL) || day != gw->tradingDay)
        return snapFail(c->why,
                        "snapshot of segment %u (%u instruments, %u sessions, history %llu, %u "
                        "orders, risk %u, day %u) does not fit this gateway (segment %u, %u, %u, "
                        "%llu, %u, %u, %u)",
                        seg, nIns, maxSessions, (unsigned long long)depth, poolCap, risk, day,
                        gw->segmentId, gw->instrumentCount, gw->maxSessions,
                        (unsigned long long)gw->histMask + 1, ms.poolCapacity, gw->risk != NULL,
                        gw->tradingDay);
    c->nRanges = calloc(gw->maxSessions, sizeof *c->nRanges);
    c->nextHist = calloc(gw->maxSessions, sizeof *c->nextHist);
    c->refState = calloc(gw->refCap, 1);
    c->declared = calloc((size_t)gw->instrumentCount * 2 + 2, sizeof *c->declared);
    c->got = calloc((size_t)gw->instrumentCount * 2 + 2, sizeof *c->got);
    if (!c->nRanges || !c->nextHist || !c->refState || !c->declared || !c->got)
        return snapFail(c->why, "out of memory");
    return 0;
}

static int gwRestoreScalars(gwRestoreCtx *c, snapRd *v)
{
    gwGateway *gw = c->gw;
    const uint32_t n = srU32(v);
    const uint8_t open = srU8(v);
    const uint16_t code = srU16(v);
    const uint64_t rate = srU64(v), now = srU64(v), due = srU64(v);
    const uint16_t nStats = srU16(v);
    uint64_t st[GW_STATS_N];
    for (size_t i = 0; i < GW_STATS_N && i < nStats; i++)
        st[i] = srU64(v);
    gwInstrumentStats is[gw->instrumentCount ? gw->instrumentCount : 1];
    for (uint16_t i = 0; i < gw->instrumentCount; i++) {
        is[i].orders = srU64(v);
        is[i].trades = srU64(v);
        is[i].tradedLots = srU64(v);
    }
    if (!srDone(v) || nStats != GW_STATS_N)
        return snapFail(c->why, "value does not match this version's layout");
    if (n > gw->maxSessions || open > 1 || rate == 0 || rate > UINT32_MAX)
        return snapFail(c->why, "sessions %u (max %u), logons-open %u or throttle %llu invalid", n,
                        gw->maxSessions, open, (unsigned long long)rate);
    c->sessions = n;
    gw->logonsOpen = open;
    gw->storageCode = code;
    gw->rate = rate;
    gw->now = now;
    gw->timerDueNs = due;
    memcpy(&gw->stats, st, sizeof gw->stats);
    memcpy(gw->insStats, is, sizeof is[0] * gw->instrumentCount);
    return 0;
}

static int gwRestoreSession(gwRestoreCtx *c, snapRd *k, snapRd *v)
{
    gwGateway *gw = c->gw;
    const uint32_t idx = srU32(k);
    gwSession t = {0};
    t.id = srU32(v);
    t.account = srU32(v);
    t.allowedIp = srU32(v);
    t.state = srU8(v);
    t.everBound = srU8(v);
    t.addr.ip = srU32(v);
    t.addr.port = srU16(v);
    uint64_t *v64[] = {&t.nextIn,     &t.nextOut,    &t.hbNs,        &t.lastRecvNs,
                       &t.lastSentNs, &t.logonOkNs,  &t.nlOkNs,      &t.tokens,
                       &t.refillNs,   &t.messagesIn, &t.messagesOut, &t.throttled};
    for (size_t i = 0; i < sizeof v64 / sizeof v64[0]; i++)
        *v64[i] = srU64(v);
    srBytes(v, t.token, XOE_TOKEN_SIZE);
    const uint32_t nRanges = srU32(v);
    if (!srDone(k) || !srDone(v))
        return snapFail(c->why, "truncated or overlong record");
    if (idx != gw->nSessions || idx >= gw->maxSessions)
        return snapFail(c->why, "session index %u where %u was expected", idx, gw->nSessions);
    if (t.state > GW_SESSION_DISABLED || t.everBound > 1 || t.nextIn < 1 || t.nextOut < 1 ||
        nRanges > gw->histMask + 1)
        return snapFail(c->why, "session %u: state, sequence or counts invalid", t.id);
    if (gwFind(gw, t.id))
        return snapFail(c->why, "session %u given twice", t.id);
    gwSession *s = &gw->sessions[idx];
    s->id = t.id;
    s->account = t.account;
    s->allowedIp = t.allowedIp;
    s->state = t.state;
    s->everBound = t.everBound;
    s->addr = t.addr;
    s->nextIn = t.nextIn;
    s->nextOut = t.nextOut;
    s->hbNs = t.hbNs;
    s->lastRecvNs = t.lastRecvNs;
    s->lastSentNs = t.lastSentNs;
    s->logonOkNs = t.logonOkNs;
    s->nlOkNs = t.nlOkNs;
    s->tokens = t.tokens;
    s->refillNs = t.refillNs;
    s->messagesIn = t.messagesIn;
    s->messagesOut = t.messagesOut;
    s->throttled = t.throttled;
    memcpy(s->token, t.token, XOE_TOKEN_SIZE);
    uint32_t i = gwHash(t.id, gw->indexMask);
    while (gw->index[i] != 0)
        i = (i + 1) & gw->indexMask;
    gw->index[i] = idx + 1;
    gw->nSessions++;
    c->nRanges[idx] = nRanges;
    c->nextHist[idx] = gwOldest(gw, s);
    return 0;
}

static int gwRestoreHistory(gwRestoreCtx *c, snapRd *k, snapRd *v)
{
    gwGateway *gw = c->gw;
    const uint32_t idx = srU32(k);
    uint64_t seq = srU64(k);
    if (!srDone(k))
        return snapFail(c->why, "truncated or overlong key");
    if (idx >= gw->nSessions)
        return snapFail(c->why, "history of session index %u, which is not there", idx);
    gwSession *s = &gw->sessions[idx];
    if (seq != c->nextHist[idx])
        return snapFail(c->why, "history from number %llu where %llu was expected",
                        (unsigned long long)seq, (unsigned long long)c->nextHist[idx]);
    while (v->n) {
        const uint8_t *hdr = srTake(v, 2);
        const uint16_t len = hdr ? xoeLoad16(hdr) : 0;
        if (!hdr || len < sizeof(xoeMsgHeader) || len > XOE_MSG_MAX || v->n < len - 2u)
            return snapFail(c->why, "message %llu truncated or of length %u",
                            (unsigned long long)seq, len);
        if (seq >= s->nextOut)
            return snapFail(c->why, "message %llu beyond the session's next number %llu",
                            (unsigned long long)seq, (unsigned long long)s->nextOut);
        uint8_t *slot = s->history + (size_t)(seq & gw->histMask) * XOE_MSG_MAX;
        memcpy(slot, hdr, 2);
        srBytes(v, slot + 2, len - 2u);
        seq++;
    }
    c->nextHist[idx] = seq;
    return 0;
}

static int gwRestoreRanges(gwRestoreCtx *c, snapRd *k, snapRd *v)
{
    gwGateway *gw = c->gw;
    const uint32_t idx = srU32(k), chunk = srU32(k);
    if (!srDone(k))
        return snapFail(c->why, "truncated or overlong key");
    if (idx >= gw->nSessions)
        return snapFail(c->why, "ranges of session index %u, which is not there", idx);
    gwSession *s = &gw->sessions[idx];
    const uint64_t lo = (uint64_t)chunk * GW_SNAP_RANGES;
    uint64_t prev = lo;
    int first = 1;
    while (v->n) {
        gwInRange r;
        r.inSeq = srU64(v);
        r.firstOut = srU64(v);
        r.count = srU64(v);
        const uint64_t slot = r.inSeq & gw->histMask;
        if (v->bad)
            return snapFail(c->why, "truncated entry");
        if (r.inSeq == 0 || r.inSeq >= s->nextIn || slot < lo || slot >= lo + GW_SNAP_RANGES ||
            (!first && slot <= prev))
            return snapFail(c->why, "entry for inbound %llu out of place",
                            (unsigned long long)r.inSeq);
        if (r.firstOut < 1 || r.firstOut > s->nextOut || r.count > s->nextOut - r.firstOut)
            return snapFail(c->why, "entry for inbound %llu answers beyond the outbound numbers",
                            (unsigned long long)r.inSeq); /* a resend would read unwritten slots */
        if (c->nRanges[idx] == 0)
            return snapFail(c->why, "more entries than the session declared");
        c->nRanges[idx]--;
        s->ranges[slot] = r;
        prev = slot;
        first = 0;
    }
    return 0;
}

static int gwRestoreRefFree(gwRestoreCtx *c, snapRd *k, snapRd *v)
{
    gwGateway *gw = c->gw;
    (void)srU32(k);
    if (!srDone(k))
        return snapFail(c->why, "truncated or overlong key");
    while (v->n) {
        const uint32_t start = srU32(v), len = srU32(v);
        if (v->bad || len == 0 || start >= gw->refCap || len > gw->refCap - start)
            return snapFail(c->why, "run of %u refs from %u invalid or truncated", len, start);
        for (uint32_t r = start; r < start + len; r++) {
            if (c->refState[r])
                return snapFail(c->why, "ref %u listed twice", r);
            c->refState[r] = 1;
            if (c->refsFree == 0)
                gw->refFree = r;
            else
                gw->refs[c->lastFree].link = r;
            gw->refs[r].link = GW_NONE;
            gw->refs[r].inUse = 0;
            c->lastFree = r;
            c->refsFree++;
        }
    }
    return 0;
}

static int gwRestoreEngine(gwRestoreCtx *c, snapRd *v)
{
    mtCounters m;
    m.nextOrderSeq = srU64(v);
    m.nextTradeSeq = srU64(v);
    m.ordersAccepted = srU64(v);
    m.ordersRejected = srU64(v);
    m.fills = srU64(v);
    m.cancels = srU64(v);
    m.replaces = srU64(v);
    c->resting = srU64(v);
    if (!srDone(v))
        return snapFail(c->why, "truncated or overlong record");
    if (mtEngineSetCounters(c->gw->engine, &m) != MT_OK)
        return snapFail(c->why, "order/trade sequence %llu/%llu invalid",
                        (unsigned long long)m.nextOrderSeq, (unsigned long long)m.nextTradeSeq);
    return 0;
}

static int gwRestoreBook(gwRestoreCtx *c, snapRd *k, snapRd *v)
{
    gwGateway *gw = c->gw;
    const uint16_t ins = srU16(k);
    const uint8_t state = srU8(v);
    const int64_t ref = (int64_t)srU64(v), lower = (int64_t)srU64(v), upper = (int64_t)srU64(v);
    const uint32_t minLots = srU32(v), maxLots = srU32(v), nBuy = srU32(v), nSell = srU32(v);
    if (!srDone(k) || !srDone(v))
        return snapFail(c->why, "truncated or overlong record");
    mtBookInfo bi;
    if (ins >= gw->instrumentCount || mtEngineBookInfo(gw->engine, ins, &bi) != MT_OK)
        return snapFail(c->why, "instrument %u is not defined in this segment", ins);
    if (bi.config.lowerPrice != lower || bi.config.upperPrice != upper ||
        bi.config.minLots != minLots || bi.config.maxLots != maxLots)
        return snapFail(c->why, "instrument %u: band or lot range differs from the config", ins);
    if (mtEngineRestoreBook(gw->engine, ins, (mtState)state, ref) != MT_OK)
        return snapFail(c->why, "instrument %u: trading state %u invalid", ins, state);
    c->declared[ins * 2] = nBuy;
    c->declared[ins * 2 + 1] = nSell;
    c->books++;
    return 0;
}

static int gwRestoreOrder(gwRestoreCtx *c, snapRd *k, snapRd *v)
{
    gwGateway *gw = c->gw;
    mtOrderInfo m = {0};
    m.instrument = srU16(k);
    m.side = srU8(k);
    const uint64_t pkey = srU64(k);
    const uint32_t ordinal = srU32(k);
    m.orderId = srU64(v);
    const uint32_t ref = srU32(v);
    m.userRef = ref;
    m.account = srU32(v);
    m.qty = srU32(v);
    m.leaves = srU32(v);
    m.timeCondition = srU8(v);
    const uint64_t clOrdId = srU64(v);
    const uint32_t session = srU32(v);
    const uint8_t offset = srU8(v);
    if (!srDone(k) || !srDone(v))
        return snapFail(c->why, "truncated or overlong record");
    if (m.instrument >= gw->instrumentCount || m.side > MT_SELL)
        return snapFail(c->why, "instrument %u or side %u invalid", m.instrument, m.side);
    const uint64_t biased = m.side == MT_BUY ? ~pkey : pkey;
    m.price = (int64_t)(biased ^ (UINT64_C(1) << 63));
    uint32_t *got = &c->got[m.instrument * 2 + m.side];
    if (ordinal != *got || *got >= c->declared[m.instrument * 2 + m.side])
        return snapFail(c->why, "order %u of instrument %u side %u: %u of %u declared expected",
                        ordinal, m.instrument, m.side, *got,
                        c->declared[m.instrument * 2 + m.side]);
    if (ref >= gw->refCap || c->refState[ref] || session >= gw->nSessions)
        return snapFail(c->why, "order %llu: ref %u taken or invalid, or session index %u unknown",
                        (unsigned long long)m.orderId, ref, session);
    const int rc = mtEngineRestoreOrder(gw->engine, &m);
    if (rc != MT_OK)
        return snapFail(c->why, "order %llu refused by the matcher (%d)",
                        (unsigned long long)m.orderId, rc);
    c->refState[ref] = 2;
    gwRef *r = &gw->refs[ref];
    r->clOrdId = clOrdId;
    r->link = session;
    r->offset = offset;
    r->inUse = 1;
    c->refsUsed++;
    (*got)++;
    return 0;
}

/* Checks every count once all records are in. */
static int gwRestoreFinish(gwRestoreCtx *c)
{
    gwGateway *gw = c->gw;
    static const uint8_t required[] = {SNAP_META, SNAP_GW, SNAP_ENGINE, SNAP_END};
    for (size_t i = 0; i < sizeof required; i++)
        if (!c->seen[required[i]])
            return snapFail(c->why, "record kind 0x%02x missing", required[i]);
    if (gw->nSessions != c->sessions)
        return snapFail(c->why, "%u sessions where %u were declared", gw->nSessions, c->sessions);
    for (uint32_t i = 0; i < gw->nSessions; i++)
        if (c->nextHist[i] != gw->sessions[i].nextOut || c->nRanges[i] != 0)
            return snapFail(c->why, "session %u: history or duplicate answers incomplete",
                            gw->sessions[i].id);
    uint32_t defined = 0;
    uint64_t orders = 0;
    for (uint16_t i = 0; i < gw->instrumentCount; i++) {
        mtBookInfo bi;
        defined += mtEngineBookInfo(gw->engine, i, &bi) == MT_OK;
        for (int s = 0; s < 2; s++) {
            if (c->got[i * 2 + s] != c->declared[i * 2 + s])
                return snapFail(c->why, "instrument %u side %d: %u orders of %u declared", i, s,
                                c->got[i * 2 + s], c->declared[i * 2 + s]);
            orders += c->got[i * 2 + s];
        }
    }
    if (c->books != defined || orders != c->resting)
        return snapFail(c->why, "%u books of %u, %llu resting orders of %llu declared", c->books,
                        defined, (unsigned long long)orders, (unsigned long long)c->resting);
    if (c->refsFree + c->refsUsed != gw->refCap || gw->stats.orderRefs != c->refsUsed)
        return snapFail(c->why, "order refs: %u free + %u used of %u, %llu counted", c->refsFree,
                        c->refsUsed, gw->refCap, (unsigned long long)gw->stats.orderRefs);
    if (c->refsFree == 0)
        gw->refFree = GW_NONE;
    if (gw->risk && crRestoreFinish(gw->risk, &c->cr, c->why))
        return -1;
    return 0;
}

/* Order in which kinds may come: each kind needs the ones before it. */
static int gwKindKnown(uint8_t kind)
{
    return (kind >= SNAP_META && kind <= SNAP_REF_FREE) ||
           (kind >= SNAP_ENGINE && kind <= SNAP_ORDER) ||
           (kind >= SNAP_CREDIT && kind <= SNAP_CR_PARK) || kind == SNAP_END;
}

static int gwRestoreRecord(gwRestoreCtx *c, const uint8_t *key, size_t klen, const uint8_t *val,
                           size_t vlen)
{
    const uint8_t kind = key[0];
    snapRd k = srOf(key + 1, klen - 1), v = srOf(val, vlen);
    if (!gwKindKnown(kind))
        return snapFail(c->why, "unknown record kind");
    if (c->seen[SNAP_END])
        return snapFail(c->why, "record after the end record");
    if (kind != SNAP_META && !c->seen[SNAP_META])
        return snapFail(c->why, "record before the segment header");
    if (kind > SNAP_GW && kind != SNAP_END && !c->seen[SNAP_GW])
        return snapFail(c->why, "record before the gateway record");
    if (kind > SNAP_ENGINE && kind < SNAP_CREDIT && !c->seen[SNAP_ENGINE])
        return snapFail(c->why, "matcher record before the matcher counters");
    c->seen[kind] = 1;
    switch (kind) {
    case SNAP_META:
        return srDone(&k) ? gwRestoreMeta(c, &v) : snapFail(c->why, "key too long");
    case SNAP_GW:
        return srDone(&k) ? gwRestoreScalars(c, &v) : snapFail(c->why, "key too long");
    case SNAP_SESSION:
        return gwRestoreSession(c, &k, &v);
    case SNAP_HISTORY:
        return gwRestoreHistory(c, &k, &v);
    case SNAP_RANGES:
        return gwRestoreRanges(c, &k, &v);
    case SNAP_REF_FREE:
        return gwRestoreRefFree(c, &k, &v);
    case SNAP_ENGINE:
        return srDone(&k) ? gwRestoreEngine(c, &v) : snapFail(c->why, "key too long");
    case SNAP_BOOK:
        return gwRestoreBook(c, &k, &v);
    case SNAP_ORDER:
        return gwRestoreOrder(c, &k, &v);
    case SNAP_END: {
        const uint64_t n = srU64(&v);
        if (!srDone(&k) || !srDone(&v) || n != c->records)
            return snapFail(c->why, "end record counts %llu records, %llu came before it",
                            (unsigned long long)n, (unsigned long long)c->records);
        return 0;
    }
    default:
        if (!c->gw->risk)
            return snapFail(c->why, "credit record but this gateway has no credit state");
        return crRestoreRecord(c->gw->risk, &c->cr, key, klen, val, vlen, c->why);
    }
}

/* Names a record for messages. */
static const char *gwKindName(uint8_t kind)
{
    switch (kind) {
    case SNAP_META:
        return "segment header";
    case SNAP_GW:
        return "gateway";
    case SNAP_SESSION:
        return "session";
    case SNAP_HISTORY:
        return "session history";
    case SNAP_RANGES:
        return "duplicate answers";
    case SNAP_REF_FREE:
        return "free order refs";
    case SNAP_ENGINE:
        return "matcher counters";
    case SNAP_BOOK:
        return "book";
    case SNAP_ORDER:
        return "resting order";
    case SNAP_CREDIT:
        return "credit header";
    case SNAP_CR_INSTRUMENT:
        return "credit instrument";
    case SNAP_CR_ACCOUNT:
        return "credit account";
    case SNAP_CR_POSITION:
        return "credit position";
    case SNAP_CR_ORDER:
        return "credit order";
    case SNAP_CR_PARK:
        return "parked order";
    case SNAP_END:
        return "end";
    default:
        return "unknown";
    }
}

/* 1 when key b sorts strictly after key a (memcmp order, shorter first). */
static int gwKeyAfter(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    const int c = memcmp(a, b, an < bn ? an : bn);
    return c < 0 || (c == 0 && an < bn);
}

static int gwRestoreAll(gwRestoreCtx *c, const ckptSource *src)
{
    uint8_t prev[CKPT_MAX_KEY];
    size_t prevLen = 0;
    for (;;) {
        const void *kp, *vp;
        size_t klen, vlen;
        const int rc = ckptNext(src, &kp, &klen, &vp, &vlen);
        if (rc == 0)
            break;
        if (rc < 0)
            return snapFail(gwSnapMsg, "gwRestore: the checkpoint source failed after %llu records",
                            (unsigned long long)c->records);
        const uint8_t *key = kp;
        const char *why = NULL;
        if (klen == 0 || klen > CKPT_MAX_KEY || vlen > CKPT_MAX_VALUE)
            why = "key or value of a size no snapshot writes";
        else if (c->records && !gwKeyAfter(prev, prevLen, key, klen))
            why = "key out of order or repeated";
        else if (gwRestoreRecord(c, key, klen, vp, vlen))
            why = c->why;
        if (why) { /* the key in hex only now: formatting every key costs more than restoring */
            char hex[2 * 24 + 1];
            snapKeyHex(key, klen < 24 ? klen : 24, hex, sizeof hex);
            return snapFail(gwSnapMsg, "gwRestore: record %llu (%s, key %s, %zu/%zu bytes): %s",
                            (unsigned long long)c->records, klen ? gwKindName(key[0]) : "empty key",
                            hex, klen, vlen, why);
        }
        memcpy(prev, key, klen);
        prevLen = klen;
        c->records++;
    }
    if (gwRestoreFinish(c))
        return snapFail(gwSnapMsg, "gwRestore: after %llu records: %s",
                        (unsigned long long)c->records, c->why);
    return 0;
}

int gwRestore(gwGateway *gw, const ckptSource *src)
{
    gwRestoreCtx *c = calloc(1, sizeof *c);
    if (!c)
        return snapFail(gwSnapMsg, "gwRestore: out of memory");
    gwSnapMsg[0] = 0;
    c->gw = gw;
    const int rc = gwRestoreAll(c, src);
    free(c->nRanges);
    free(c->nextHist);
    free(c->refState);
    free(c->declared);
    free(c->got);
    free(c);
    return rc;
}
