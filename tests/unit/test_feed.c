/* test_feed.c -- unit tests of the ITCH 5.0 codec (include/xchg/itch.h) and the
 * feed builder (dataplane/feed.c) against docs/protocol/feed.md.
 *
 * Covers: every message layout byte for byte against hand-built bytes (and
 * back through the decoder), every decoder and MoldUDP64 parser error,
 * MoldUDP64 framing (sequence numbers across packets, counts, block lengths,
 * packets filled up to the MTU and no further, heartbeats, end of session),
 * the retransmission history, fdCreate's checks, a scripted session through a
 * real mtEngine whose every message is checked field by field, and a
 * randomized session (>= 100,000 orders over four instruments, every STP
 * policy, state changes and auctions) in which a client-side decoder rebuilds
 * the order books from the packets alone and compares them with the engine's
 * (mtEngineForEachOrder, in priority order, and mtEngineDepth) regularly and
 * at the end, together with traded volumes.
 *
 * Other modes (run from the repository root):
 *   build/tests/test_feed --pcap FILE   writes a demo session as a pcap of
 *                                       Ethernet/IPv4/UDP frames to
 *                                       239.1.1.1:9100 and FILE.expect, the
 *                                       packets and messages as
 *                                       tests/unit/feed_tshark.sh expects
 *                                       tshark to decode them
 *   build/tests/test_feed --bench [N [V]]  what the feed costs the worker:
 *                                       N random operations through the
 *                                       matcher alone (V=0), with the feed
 *                                       (1), with the feed and its history
 *                                       (2); all three interleaved five times
 *                                       without V; JSON lines
 * Environment: XCHG_FEED_SEED, XCHG_FEED_OPS (random operations per STP
 * policy, default 40,000). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/config.h"
#include "dataplane/feed.h"
#include "matcher/matcher.h"
#include "xchg/feedbook.h"
#include "xchg/itch.h"

#define T(f) cmocka_unit_test(f)

#define SEG_ID   3
#define NINS     4
#define OID(n)   ((uint64_t)SEG_ID << 56 | (uint64_t)(n))
#define DER(n)   ((uint64_t)SEG_ID << 56 | FD_DERIVED_BIT | (uint64_t)(n))
#define T930     (UINT64_C(34200) * 1000000000u) /* 09:30:00 in ns since midnight */
#define MAX_LIVE 4096

static uint64_t gSeed = UINT64_C(0xFEEDF00D);
static uint64_t gOps = 40000;

/* Messages of one type in an fdStats.byType-like array. */
static uint64_t byType(const uint64_t *counts, char type)
{
    return counts[type - 'A'];
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) {
        fprintf(stderr, "test_feed: out of memory\n");
        abort();
    }
    return p;
}

static uint64_t rngNext(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

static uint64_t rngBelow(uint64_t *s, uint64_t n)
{
    return rngNext(s) % n;
}

/* ------------------------------------------------------------------------ */
/* Configuration: segment id 3, four instruments                            */

typedef struct {
    const char *id;
    int64_t tick, lower, upper, pre;
    uint32_t minLots, maxLots;
} insDef;

/* IF2501: tick 0.2; cu2501: tick 10; ZZZZZZZZ: an 8-character id, tick
 * 0.0001; MAXP: a band ending at the largest ITCH price (5 x 858993459 =
 * 4294967295 = 429496.7295). */
static const insDef kIns[NINS] = {
    {"IF2501", 2000, 18990, 19010, 19000, 1, 10000},
    {"cu2501", 100000, 7515, 7530, 7523, 1, 500},
    {"ZZZZZZZZ", 1, 999990, 1000010, 1000000, 1, 10000},
    {"MAXP", 5, 858993400, 858993459, 858993430, 1, 10000},
};

typedef struct {
    cfgConfig cfg;
    cfgInstrument ins[NINS];
    cfgSegment seg;
} testCfg;

static void cfgBuild(testCfg *c, uint32_t orderCapacity)
{
    memset(c, 0, sizeof *c);
    for (int i = 0; i < NINS; i++) {
        cfgInstrument *ci = &c->ins[i];
        snprintf(ci->id, sizeof ci->id, "%s", kIns[i].id);
        snprintf(ci->name, sizeof ci->name, "%s", kIns[i].id);
        ci->segment = SEG_ID;
        ci->segIndex = 0;
        ci->book = (uint16_t)i;
        ci->tickSize = kIns[i].tick;
        ci->preSettlementTicks = kIns[i].pre;
        ci->preSettlement = kIns[i].pre * kIns[i].tick;
        ci->lowerTicks = kIns[i].lower;
        ci->upperTicks = kIns[i].upper;
        ci->minLots = kIns[i].minLots;
        ci->maxLots = kIns[i].maxLots;
        ci->multiplier = 1;
    }
    c->seg.id = SEG_ID;
    c->seg.orderCapacity = orderCapacity;
    c->seg.instrumentCount = NINS;
    c->seg.feedGroup = 0xEF010101u;
    c->seg.feedPort = 9100;
    c->cfg.instruments = c->ins;
    c->cfg.instrumentCount = NINS;
    c->cfg.segments = &c->seg;
    c->cfg.segmentCount = 1;
}

static void stockOf(int ins, char out[ITCH_STOCK_LEN])
{
    itchPutAlpha((uint8_t *)out, kIns[ins].id, ITCH_STOCK_LEN);
}

/* ------------------------------------------------------------------------ */
/* The client: a feed decoder that rebuilds the books from packets alone    */

typedef struct {
    uint64_t seq;
    itchMsg m;
} clLogged;

typedef struct {
    fbBook *book; /* the books, rebuilt by libxchg-client's feedbook */
    char session[MOLD_SESSION_LEN];
    int sessionSet, ended;
    uint64_t nextSeq, lastTs;
    uint64_t packets, heartbeats, eos, msgs, maxPacket;
    uint64_t byType[26];
    char stock[NINS][ITCH_STOCK_LEN];
    int haveStock[NINS];
    int errors;
    char err[256];
    /* message log, for the scripted tests */
    clLogged *log;
    size_t nLog, capLog, readLog;
    int keepLog;
    uint16_t tracking; /* expected tracking number: the segment id */
} client;

static void clFail(client *c, const char *fmt, ...)
{
    if (c->errors++ == 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->err, sizeof c->err, fmt, ap);
        va_end(ap);
    }
}

static void clInit(client *c, size_t slots)
{
    memset(c, 0, sizeof *c);
    c->book = fbCreate(slots / 2);
    if (!c->book)
        abort();
    c->nextSeq = 1;
    c->tracking = SEG_ID;
}

static void clFree(client *c)
{
    fbDestroy(c->book);
    free(c->log);
    memset(c, 0, sizeof *c);
}

static void clCheckStock(client *c, uint64_t seq, uint16_t locate, const char *stock)
{
    /* tests that skip the directory check only the locate */
    if (locate >= NINS ||
        (c->haveStock[locate] && memcmp(c->stock[locate], stock, ITCH_STOCK_LEN) != 0))
        clFail(c, "seq %" PRIu64 ": stock/locate %u mismatch", seq, locate);
}

static void clMessage(client *c, uint64_t seq, const uint8_t *p, size_t len)
{
    itchMsg m;
    int rc = itchDecode(p, len, &m);
    if (rc != ITCH_OK) {
        clFail(c, "seq %" PRIu64 ": %s", seq, itchErrorName(rc));
        return;
    }
    c->msgs++;
    c->byType[m.type - 'A']++;
    if (m.timestamp < c->lastTs)
        clFail(c, "seq %" PRIu64 ": timestamp goes back", seq);
    c->lastTs = m.timestamp;
    if (m.tracking != c->tracking)
        clFail(c, "seq %" PRIu64 ": tracking number %u", seq, m.tracking);
    if (c->keepLog) {
        if (c->nLog == c->capLog) {
            c->capLog = c->capLog ? 2 * c->capLog : 256;
            c->log = realloc(c->log, c->capLog * sizeof *c->log);
            if (!c->log)
                abort();
        }
        c->log[c->nLog].seq = seq;
        c->log[c->nLog].m = m;
        c->nLog++;
    }
    switch (m.type) {
    case ITCH_SYSTEM_EVENT:
        if (m.locate != 0)
            clFail(c, "seq %" PRIu64 ": system event locate %u", seq, m.locate);
        break;
    case ITCH_STOCK_DIRECTORY:
        if (m.locate < NINS) {
            memcpy(c->stock[m.locate], m.u.stockDirectory.stock, ITCH_STOCK_LEN);
            c->haveStock[m.locate] = 1;
        }
        break;
    case ITCH_TRADING_ACTION:
        clCheckStock(c, seq, m.locate, m.u.tradingAction.stock);
        break;
    case ITCH_ADD_ORDER:
    case ITCH_ADD_ORDER_MPID:
        clCheckStock(c, seq, m.locate, m.u.addOrder.stock);
        break;
    case ITCH_TRADE:
        clCheckStock(c, seq, m.locate, m.u.trade.stock);
        break;
    case ITCH_CROSS_TRADE:
        clCheckStock(c, seq, m.locate, m.u.cross.stock);
        break;
    case ITCH_NOII:
        clCheckStock(c, seq, m.locate, m.u.noii.stock);
        break;
    }
    if (fbApply(c->book, seq, p, len) != FB_OK)
        clFail(c, "%s", fbLastError(c->book));
}

static void clPacket(client *c, const uint8_t *p, size_t len, uint16_t maxPayload)
{
    moldHeader h;
    int rc = moldParse(p, len, &h);
    if (rc != MOLD_OK) {
        clFail(c, "packet: %s", moldErrorName(rc));
        return;
    }
    if (len > maxPayload)
        clFail(c, "packet of %zu bytes above %u", len, maxPayload);
    if (len > c->maxPacket)
        c->maxPacket = len;
    if (!c->sessionSet) {
        memcpy(c->session, h.session, MOLD_SESSION_LEN);
        c->sessionSet = 1;
    } else if (memcmp(c->session, h.session, MOLD_SESSION_LEN) != 0) {
        clFail(c, "session changed");
    }
    if (h.sequence != c->nextSeq)
        clFail(c, "packet sequence %" PRIu64 ", expected %" PRIu64, h.sequence, c->nextSeq);
    if (c->ended && h.count != MOLD_END_OF_SESSION)
        clFail(c, "packet after the end of session");
    if (h.count == MOLD_HEARTBEAT) {
        c->heartbeats++;
        return;
    }
    if (h.count == MOLD_END_OF_SESSION) {
        c->eos++;
        c->ended = 1;
        return;
    }
    c->packets++;
    size_t off = MOLD_HEADER_SIZE;
    const uint8_t *msg;
    size_t n;
    uint64_t seq = h.sequence;
    while (moldNextMessage(p, len, &off, &msg, &n))
        clMessage(c, seq++, msg, n);
    if (seq != h.sequence + h.count)
        clFail(c, "packet count %u, walked %" PRIu64, h.count, seq - h.sequence);
    c->nextSeq = seq;
}

/* Live orders of one instrument and side, in priority order. */
static size_t clSide(client *c, uint16_t locate, uint8_t side, fbOrder *out, size_t cap)
{
    return fbOrders(c->book, locate, side, out, cap);
}

static uint64_t clStat(const client *c, int which)
{
    fbStats st;
    fbGetStats(c->book, &st);
    return which == 0 ? st.printed : which == 1 ? st.crossShares : st.nonPrintable;
}

/* ------------------------------------------------------------------------ */
/* A session: config, feed, engine, client                                  */

typedef struct {
    testCfg tc;
    fdFeed *fd;
    mtEngine *eng;
    client cl;
    uint64_t ns;
    uint16_t maxPayload;
    /* from the engine's events */
    uint64_t lastOrderId, lastTradeId;
    uint64_t contFillQty, auctionFillQty;
    uint64_t live[MAX_LIVE];
    size_t nLive;
    uint64_t events;
    /* raw packets, when kept */
    int keepPackets;
    uint8_t **pkts;
    uint16_t *pktLens;
    size_t nPkts, capPkts;
    /* outputs of --pcap */
    FILE *pcap, *expect;
    uint64_t pcapNs;
} session;

static void writePcapFrame(session *s, const uint8_t *p, uint16_t len);
static void writeExpect(session *s, const uint8_t *p, uint16_t len);

static void onSend(void *ctx, const uint8_t *p, uint16_t len)
{
    session *s = ctx;
    clPacket(&s->cl, p, len, s->maxPayload);
    if (s->keepPackets) {
        if (s->nPkts == s->capPkts) {
            s->capPkts = s->capPkts ? 2 * s->capPkts : 64;
            s->pkts = realloc(s->pkts, s->capPkts * sizeof *s->pkts);
            s->pktLens = realloc(s->pktLens, s->capPkts * sizeof *s->pktLens);
            if (!s->pkts || !s->pktLens)
                abort();
        }
        s->pkts[s->nPkts] = xcalloc(1, len);
        memcpy(s->pkts[s->nPkts], p, len);
        s->pktLens[s->nPkts++] = len;
    }
    if (s->pcap)
        writePcapFrame(s, p, len);
    if (s->expect)
        writeExpect(s, p, len);
}

static void onEngineEvent(void *ctx, const mtEvent *ev)
{
    session *s = ctx;
    s->events++;
    if (ev->type == MT_EV_ACCEPTED) {
        s->lastOrderId = ev->u.accepted.orderId;
        s->live[s->nLive++ % MAX_LIVE] = ev->u.accepted.orderId;
    } else if (ev->type == MT_EV_FILL) {
        s->lastTradeId = ev->u.fill.tradeId;
        if (ev->u.fill.aggressor == MT_AGGRESSOR_NONE)
            s->auctionFillQty += ev->u.fill.qty;
        else
            s->contFillQty += ev->u.fill.qty;
    }
    if (s->fd)
        fdOnEvent(s->fd, ev, s->ns);
}

/* Creates the feed (with the given options on top of the defaults) and the
 * engine. Returns 0 or -1. */
static int sessionOpen(session *s, const fdOptions *over, mtStpPolicy stp, uint32_t capacity)
{
    memset(s, 0, sizeof *s);
    cfgBuild(&s->tc, capacity);
    fdOptions o;
    if (over)
        o = *over;
    else
        memset(&o, 0, sizeof o);
    o.cfg = &s->tc.cfg;
    o.segment = 0;
    if (!o.tradingDay)
        o.tradingDay = 20250106;
    o.send = onSend;
    o.sendCtx = s;
    s->maxPayload = (uint16_t)((o.mtu ? o.mtu : FD_MTU_DEFAULT) - MOLD_IP_UDP_OVERHEAD);
    clInit(&s->cl, 1u << 17);
    s->ns = T930;
    s->fd = fdCreate(&o);
    if (!s->fd)
        return -1;
    mtEngineConfig ec = {.segmentId = SEG_ID,
                         .orderCapacity = capacity,
                         .maxInstruments = NINS,
                         .stp = stp,
                         .onEvent = onEngineEvent,
                         .eventCtx = s};
    s->eng = mtEngineCreate(&ec);
    if (!s->eng)
        return -1;
    for (uint16_t i = 0; i < NINS; i++) {
        mtBookConfig bc = {.lowerPrice = kIns[i].lower,
                           .upperPrice = kIns[i].upper,
                           .referencePrice = kIns[i].pre,
                           .minLots = kIns[i].minLots,
                           .maxLots = kIns[i].maxLots};
        if (mtEngineAddInstrument(s->eng, i, &bc) != MT_OK)
            return -1;
    }
    return 0;
}

static void sessionClose(session *s)
{
    mtEngineDestroy(s->eng);
    fdDestroy(s->fd);
    clFree(&s->cl);
    for (size_t i = 0; i < s->nPkts; i++)
        free(s->pkts[i]);
    free(s->pkts);
    free(s->pktLens);
    memset(s, 0, sizeof *s);
}

static uint64_t tickNs(session *s)
{
    s->ns += 1000;
    return s->ns;
}

static int newOrder(session *s, uint16_t ins, uint8_t side, uint8_t priceType, uint8_t tc,
                    uint8_t vc, int64_t price, uint32_t qty, uint32_t minQty, uint32_t account)
{
    tickNs(s);
    mtNewOrder o = {.instrument = ins,
                    .side = side,
                    .priceType = priceType,
                    .timeCondition = tc,
                    .volumeCondition = vc,
                    .price = price,
                    .qty = qty,
                    .minQty = minQty,
                    .account = account,
                    .userRef = 7};
    return mtEngineNewOrder(s->eng, &o);
}

static uint64_t limitOrder(session *s, uint16_t ins, uint8_t side, int64_t price, uint32_t qty,
                           uint32_t account)
{
    s->lastOrderId = 0;
    int rc = newOrder(s, ins, side, MT_LIMIT, MT_GFD, MT_VOL_ANY, price, qty, 0, account);
    assert_int_equal(rc, MT_OK);
    return s->lastOrderId;
}

/* Compares the client's books with the engine's: every order in priority
 * order (exchange id, price, open quantity) and the aggregated depth. */
typedef struct {
    mtOrderInfo *o;
    size_t n;
} visitBuf;

static void visitOrder(void *ctx, const mtOrderInfo *o)
{
    visitBuf *v = ctx;
    v->o[v->n++] = *o;
}

static int compareBooks(session *s, char *why, size_t whyLen)
{
    mtStats st;
    mtEngineGetStats(s->eng, &st);
    size_t cap = st.ordersResting + 1;
    mtOrderInfo *eo = xcalloc(cap, sizeof *eo);
    fbStats fst;
    fbGetStats(s->cl.book, &fst);
    fbOrder *co = xcalloc(fst.orders + 1, sizeof *co);
    mtDepthLevel *dl = xcalloc(cap, sizeof *dl);
    int bad = 0;
    size_t total = 0;
    for (uint16_t i = 0; i < NINS && !bad; i++) {
        for (uint8_t side = MT_BUY; side <= MT_SELL && !bad; side++) {
            visitBuf v = {eo, 0};
            mtEngineForEachOrder(s->eng, i, (mtSide)side, visitOrder, &v);
            size_t n = clSide(&s->cl, i, side == MT_BUY ? ITCH_BUY : ITCH_SELL, co, fst.orders + 1);
            total += n;
            if (n != v.n) {
                snprintf(why, whyLen, "instrument %u side %u: feed %zu orders, engine %zu", i, side,
                         n, v.n);
                bad = 1;
                break;
            }
            for (size_t k = 0; k < n; k++) {
                uint64_t want = (uint64_t)eo[k].price * (uint64_t)kIns[i].tick;
                if (co[k].origin != eo[k].orderId || co[k].price != want ||
                    co[k].shares != eo[k].leaves) {
                    snprintf(why, whyLen,
                             "instrument %u side %u #%zu: feed %#" PRIx64 " %u@%u, engine %#" PRIx64
                             " %u@%" PRIu64,
                             i, side, k, co[k].origin, co[k].shares, co[k].price, eo[k].orderId,
                             eo[k].leaves, want);
                    bad = 1;
                    break;
                }
            }
            if (bad)
                break;
            uint32_t nd = mtEngineDepth(s->eng, i, (mtSide)side, dl, (uint32_t)cap);
            size_t k = 0;
            for (uint32_t d = 0; d < nd && !bad; d++) {
                uint64_t want = (uint64_t)dl[d].price * (uint64_t)kIns[i].tick, q = 0;
                for (; k < n && co[k].price == want; k++)
                    q += co[k].shares;
                if (q != dl[d].qty) {
                    snprintf(why, whyLen,
                             "instrument %u side %u level %u: feed %" PRIu64 ", engine %" PRIu64, i,
                             side, d, q, dl[d].qty);
                    bad = 1;
                }
            }
            if (!bad && k != n) {
                snprintf(why, whyLen, "instrument %u side %u: feed has more levels", i, side);
                bad = 1;
            }
        }
    }
    if (!bad && total != st.ordersResting) {
        snprintf(why, whyLen, "feed %zu orders, engine %u", total, st.ordersResting);
        bad = 1;
    }
    fdStats fs;
    fdGetStats(s->fd, &fs);
    if (!bad && fs.ordersOpen != st.ordersResting) {
        snprintf(why, whyLen, "fdStats.ordersOpen %u, engine %u", fs.ordersOpen, st.ordersResting);
        bad = 1;
    }
    free(eo);
    free(co);
    free(dl);
    return bad ? -1 : 0;
}

static void assertBooksEqual(session *s)
{
    char why[256] = "";
    fdFlush(s->fd);
    if (s->cl.errors)
        fail_msg("client: %s (%d errors)", s->cl.err, s->cl.errors);
    if (compareBooks(s, why, sizeof why) != 0)
        fail_msg("books differ: %s", why);
}

static void assertClean(session *s)
{
    fdStats fs;
    fdGetStats(s->fd, &fs);
    assert_int_equal(fs.unknownOrder, 0);
    assert_int_equal(fs.unexpected, 0);
    assert_int_equal(fs.priceClipped, 0);
    if (s->cl.errors)
        fail_msg("client: %s", s->cl.err);
}

/* ------------------------------------------------------------------------ */
/* Byte layouts                                                             */

#define HDR(t) (t), 0x01, 0x02, 0x03, 0x04, 0x0A, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F
#define STK_IF 'I', 'F', '2', '5', '0', '1', ' ', ' '

static void msgHeader(itchMsg *m, uint8_t type)
{
    memset(m, 0, sizeof *m);
    m->type = type;
    m->locate = 0x0102;
    m->tracking = 0x0304;
    m->timestamp = UINT64_C(0x0A0B0C0D0E0F);
}

typedef struct {
    itchMsg m;
    uint8_t bytes[ITCH_MSG_MAX + 4];
    size_t len;
} layoutCase;

static size_t layoutCases(layoutCase *c)
{
    size_t n = 0;
    memset(c, 0, 13 * sizeof *c);
    itchMsg *m;

    m = &c[n].m; /* S */
    msgHeader(m, 'S');
    m->u.systemEvent.eventCode = 'O';
    {
        const uint8_t b[] = {HDR('S'), 'O'};
        memcpy(c[n].bytes, b, sizeof b);
        c[n++].len = sizeof b;
    }
    m = &c[n].m; /* R */
    msgHeader(m, 'R');
    memcpy(m->u.stockDirectory.stock, "IF2501  ", 8);
    m->u.stockDirectory.marketCategory = ' ';
    m->u.stockDirectory.financialStatus = ' ';
    m->u.stockDirectory.roundLotSize = 1;
    m->u.stockDirectory.roundLotsOnly = 'Y';
    m->u.stockDirectory.issueClassification = 'Q';
    memcpy(m->u.stockDirectory.issueSubType, "Z ", 2);
    m->u.stockDirectory.authenticity = 'P';
    m->u.stockDirectory.shortSaleThreshold = ' ';
    m->u.stockDirectory.ipoFlag = ' ';
    m->u.stockDirectory.luldTier = ' ';
    m->u.stockDirectory.etpFlag = 'N';
    m->u.stockDirectory.etpLeverage = 0x01020304;
    m->u.stockDirectory.inverse = 'N';
    {
        const uint8_t b[] = {HDR('R'), STK_IF, ' ', ' ', 0,   0,   0, 1, 'Y', 'Q', 'Z',
                             ' ',      'P',    ' ', ' ', ' ', 'N', 1, 2, 3,   4,   'N'};
        memcpy(c[n].bytes, b, sizeof b);
        c[n++].len = sizeof b;
    }
    m = &c[n].m; /* H */
    msgHeader(m, 'H');
    memcpy(m->u.tradingAction.stock, "cu2501  ", 8);
    m->u.tradingAction.state = 'T';
    m->u.tradingAction.reserved = ' ';
    memcpy(m->u.tradingAction.reason, "HALT", 4);
    {
        const uint8_t b[] = {HDR('H'), 'c', 'u', '2', '5', '0', '1', ' ',
                             ' ',      'T', ' ', 'H', 'A', 'L', 'T'};
        memcpy(c[n].bytes, b, sizeof b);
        c[n++].len = sizeof b;
    }
    m = &c[n].m; /* A */
    msgHeader(m, 'A');
    m->u.addOrder.orderRef = UINT64_C(0x0300000000000001);
    m->u.addOrder.side = 'B';
    m->u.addOrder.shares = 100000;
    memcpy(m->u.addOrder.stock, "IF2501  ", 8);
    m->u.addOrder.price = 38002000; /* 3800.2 */
    {
        const uint8_t b[] = {HDR('A'), 0x03, 0,    0,    0,      0,    0,    0,    1,   'B',
                             0x00,     0x01, 0x86, 0xA0, STK_IF, 0x02, 0x43, 0xDD, 0x50};
        memcpy(c[n].bytes, b, sizeof b);
        c[n++].len = sizeof b;
    }
    m = &c[n].m; /* F */
    msgHeader(m, 'F');
    m->u.addOrder.orderRef = UINT64_C(0x0300000000000001);
    m->u.addOrder.side = 'S';
    m->u.addOrder.shares = 100000;
    memcpy(m->u.addOrder.stock, "IF2501  ", 8);
    m->u.addOrder.price = 38002000;
    memcpy(m->u.addOrder.attribution, "XCHG", 4);
    {
        const uint8_t b[] = {HDR('F'), 0x03, 0,    0,    0,    0,    0,      0,
                             1,        'S',  0x00, 0x01, 0x86, 0xA0, STK_IF, 0x02,
                             0x43,     0xDD, 0x50, 'X',  'C',  'H',  'G'};
        memcpy(c[n].bytes, b, sizeof b);
        c[n++].len = sizeof b;
    }
    m = &c[n].m; /* E */
    msgHeader(m, 'E');
    m->u.executed.orderRef = UINT64_C(0x0300000000000002);
    m->u.executed.shares = 7;
    m->u.executed.matchNumber = UINT64_C(0x0300000000000009);
    {
        const uint8_t b[] = {HDR('E'), 0x03, 0,    0, 0, 0, 0, 0, 2, 0, 0,
                             0,        7,    0x03, 0, 0, 0, 0, 0, 0, 9};
        memcpy(c[n].bytes, b, sizeof b);
        c[n++].len = sizeof b;
    }
    m = &c[n].m; /* C */
    msgHeader(m, 'C');
    m->u.executed.orderRef = UINT64_C(0x0300000000000002);
    m->u.executed.shares = 7;
    m->u.executed.matchNumber = UINT64_C(0x0300000000000009);
    m->u.executed.printable = 'N';
    m->u.executed.price = UINT32_MAX; /* 429496.7295 */
    {
        const uint8_t b[] = {HDR('C'), 0x03, 0, 0, 0, 0, 0, 0, 2,   0,    0,    0,    7,
                             0x03,     0,    0, 0, 0, 0, 0, 9, 'N', 0xFF, 0xFF, 0xFF, 0xFF};
        memcpy(c[n].bytes, b, sizeof b);
        c[n++].len = sizeof b;
    }
    m = &c[n].m; /* X */
    msgHeader(m, 'X');
    m->u.cancel.orderRef = UINT64_C(0x0123456789ABCDEF);
    m->u.cancel.shares = 3;
    {
        const uint8_t b[] = {HDR('X'), 0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF, 0, 0, 0, 3};
        memcpy(c[n].bytes, b, sizeof b);
        c[n++].len = sizeof b;
    }
    m = &c[n].m; /* D */
    msgHeader(m, 'D');
    m->u.del.orderRef = UINT64_C(0x0380000000000001);
    {
        const uint8_t b[] = {HDR('D'), 0x03, 0x80, 0, 0, 0, 0, 0, 1};
        memcpy(c[n].bytes, b, sizeof b);
        c[n++].len = sizeof b;
    }
    m = &c[n].m; /* U */
    msgHeader(m, 'U');
    m->u.replace.origRef = UINT64_C(0x0300000000000004);
    m->u.replace.newRef = UINT64_C(0x0380000000000002);
    m->u.replace.shares = 8;
    m->u.replace.price = 38008000;
    {
        const uint8_t b[] = {HDR('U'), 0x03, 0, 0, 0, 0, 0, 0, 4,    0x03, 0x80, 0,   0,
                             0,        0,    0, 2, 0, 0, 0, 8, 0x02, 0x43, 0xF4, 0xC0};
        memcpy(c[n].bytes, b, sizeof b);
        c[n++].len = sizeof b;
    }
    m = &c[n].m; /* P */
    msgHeader(m, 'P');
    m->u.trade.orderRef = 0;
    m->u.trade.side = 'B';
    m->u.trade.shares = 5;
    memcpy(m->u.trade.stock, "ZZZZZZZZ", 8);
    m->u.trade.price = 1;
    m->u.trade.matchNumber = UINT64_C(0x0300000000000010);
    {
        const uint8_t b[] = {HDR('P'), 0, 0,    0,   0,   0,   0,   0,   0,   'B', 0, 0,
                             0,        5, 'Z',  'Z', 'Z', 'Z', 'Z', 'Z', 'Z', 'Z', 0, 0,
                             0,        1, 0x03, 0,   0,   0,   0,   0,   0,   0x10};
        memcpy(c[n].bytes, b, sizeof b);
        c[n++].len = sizeof b;
    }
    m = &c[n].m; /* Q */
    msgHeader(m, 'Q');
    m->u.cross.shares = UINT64_C(0x0000000100000002);
    memcpy(m->u.cross.stock, "IF2501  ", 8);
    m->u.cross.price = 38002000;
    m->u.cross.matchNumber = UINT64_C(0x0380000000000001);
    m->u.cross.crossType = 'O';
    {
        const uint8_t b[] = {HDR('Q'), 0,    0,    0,    1, 0, 0, 0, 2, STK_IF, 0x02, 0x43,
                             0xDD,     0x50, 0x03, 0x80, 0, 0, 0, 0, 0, 1,      'O'};
        memcpy(c[n].bytes, b, sizeof b);
        c[n++].len = sizeof b;
    }
    m = &c[n].m; /* I */
    msgHeader(m, 'I');
    m->u.noii.pairedShares = 0x10;
    m->u.noii.imbalanceShares = 3;
    m->u.noii.direction = 'B';
    memcpy(m->u.noii.stock, "IF2501  ", 8);
    m->u.noii.farPrice = 0x01020304;
    m->u.noii.nearPrice = 0x05060708;
    m->u.noii.refPrice = 0x090A0B0C;
    m->u.noii.crossType = 'H';
    m->u.noii.priceVariation = 'L';
    {
        const uint8_t b[] = {HDR('I'), 0,      0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0,  0,  0,  0,   0,  3,
                             'B',      STK_IF, 1, 2, 3, 4, 5, 6, 7,    8, 9, 10, 11, 12, 'H', 'L'};
        memcpy(c[n].bytes, b, sizeof b);
        c[n++].len = sizeof b;
    }
    return n;
}

static void test_layouts(void **state)
{
    (void)state;
    layoutCase c[16];
    size_t n = layoutCases(c);
    assert_int_equal(n, 13);
    const char *types = "SRHAFECXDUPQI";
    const size_t sizes[] = {12, 39, 25, 36, 40, 31, 36, 23, 19, 35, 44, 40, 50};
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(c[i].m.type, (uint8_t)types[i]);
        assert_int_equal(c[i].len, sizes[i]);
        assert_int_equal(itchSize(c[i].m.type), sizes[i]);
        uint8_t out[64];
        memset(out, 0xEE, sizeof out);
        assert_int_equal(itchEncode(&c[i].m, out, sizeof out), sizes[i]);
        if (memcmp(out, c[i].bytes, sizes[i]) != 0)
            fail_msg("type %c: encoded bytes differ from the hand-built ones", types[i]);
        assert_int_equal(out[sizes[i]], 0xEE); /* nothing written past the end */
        assert_int_equal(itchEncode(&c[i].m, out, sizes[i] - 1), 0);
        /* decode the hand-built bytes, encode again: same bytes */
        itchMsg d;
        assert_int_equal(itchDecode(c[i].bytes, c[i].len, &d), ITCH_OK);
        assert_int_equal(d.type, c[i].m.type);
        assert_int_equal(d.locate, 0x0102);
        assert_int_equal(d.tracking, 0x0304);
        assert_int_equal(d.timestamp, UINT64_C(0x0A0B0C0D0E0F));
        uint8_t again[64];
        assert_int_equal(itchEncode(&d, again, sizeof again), sizes[i]);
        assert_memory_equal(again, c[i].bytes, sizes[i]);
    }
}

static void test_decode_fields(void **state)
{
    (void)state;
    layoutCase c[16];
    layoutCases(c);
    itchMsg d;
    assert_int_equal(itchDecode(c[3].bytes, c[3].len, &d), ITCH_OK); /* A */
    assert_int_equal(d.u.addOrder.orderRef, UINT64_C(0x0300000000000001));
    assert_int_equal(d.u.addOrder.side, 'B');
    assert_int_equal(d.u.addOrder.shares, 100000);
    assert_memory_equal(d.u.addOrder.stock, "IF2501  ", 8);
    assert_int_equal(d.u.addOrder.price, 38002000);
    assert_int_equal(itchDecode(c[6].bytes, c[6].len, &d), ITCH_OK); /* C */
    assert_int_equal(d.u.executed.price, UINT32_MAX);
    assert_int_equal(d.u.executed.printable, 'N');
    assert_int_equal(d.u.executed.matchNumber, UINT64_C(0x0300000000000009));
    assert_int_equal(itchDecode(c[9].bytes, c[9].len, &d), ITCH_OK); /* U */
    assert_int_equal(d.u.replace.origRef, UINT64_C(0x0300000000000004));
    assert_int_equal(d.u.replace.newRef, UINT64_C(0x0380000000000002));
    assert_int_equal(d.u.replace.shares, 8);
    assert_int_equal(d.u.replace.price, 38008000);
    assert_int_equal(itchDecode(c[11].bytes, c[11].len, &d), ITCH_OK); /* Q */
    assert_int_equal(d.u.cross.shares, UINT64_C(0x0000000100000002));
    assert_int_equal(d.u.cross.crossType, 'O');
    assert_int_equal(itchDecode(c[12].bytes, c[12].len, &d), ITCH_OK); /* I */
    assert_int_equal(d.u.noii.pairedShares, 16);
    assert_int_equal(d.u.noii.imbalanceShares, 3);
    assert_int_equal(d.u.noii.farPrice, 0x01020304);
    assert_int_equal(d.u.noii.nearPrice, 0x05060708);
    assert_int_equal(d.u.noii.refPrice, 0x090A0B0C);
    assert_int_equal(itchDecode(c[1].bytes, c[1].len, &d), ITCH_OK); /* R */
    assert_int_equal(d.u.stockDirectory.roundLotSize, 1);
    assert_int_equal(d.u.stockDirectory.etpLeverage, 0x01020304);
    assert_int_equal(d.u.stockDirectory.inverse, 'N');
}

static void test_decode_errors(void **state)
{
    (void)state;
    layoutCase c[16];
    size_t n = layoutCases(c);
    itchMsg d;
    uint8_t buf[64];
    assert_int_equal(itchDecode(buf, 0, &d), ITCH_ERR_EMPTY);
    for (size_t i = 0; i < n; i++) {
        memcpy(buf, c[i].bytes, c[i].len);
        buf[c[i].len] = 0;
        assert_int_equal(itchDecode(buf, c[i].len - 1, &d), ITCH_ERR_LENGTH);
        assert_int_equal(itchDecode(buf, c[i].len + 1, &d), ITCH_ERR_LENGTH);
    }
    /* types the spec has but xchg does not describe, and non-types */
    const char *unknown = "BJKLNOVWYhjaex0 ";
    for (const char *t = unknown; *t; t++) {
        memset(buf, 0, sizeof buf);
        buf[0] = (uint8_t)*t;
        for (size_t len = 1; len <= 50; len++)
            assert_int_equal(itchDecode(buf, len, &d), ITCH_ERR_TYPE);
    }
    /* enumerated fields */
    struct {
        size_t cas, off;
        uint8_t bad, good2;
    } bad[] = {
        {0, ITCH_S_EVENT_CODE, 'X', 'C'},  {2, ITCH_H_STATE, 'X', 'H'},
        {3, ITCH_A_SIDE, 'b', 'S'},        {4, ITCH_A_SIDE, ' ', 'B'},
        {6, ITCH_C_PRINTABLE, 'y', 'Y'},   {10, ITCH_P_SIDE, 'X', 'S'},
        {11, ITCH_Q_CROSS_TYPE, 'X', 'I'}, {12, ITCH_I_DIRECTION, 'X', 'O'},
        {12, ITCH_I_CROSS_TYPE, 'I', 'C'}, {12, ITCH_I_PRICE_VARIATION, 'D', ' '},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memcpy(buf, c[bad[i].cas].bytes, c[bad[i].cas].len);
        buf[bad[i].off] = bad[i].bad;
        assert_int_equal(itchDecode(buf, c[bad[i].cas].len, &d), ITCH_ERR_FIELD);
        buf[bad[i].off] = bad[i].good2;
        assert_int_equal(itchDecode(buf, c[bad[i].cas].len, &d), ITCH_OK);
    }
    assert_string_equal(itchErrorName(ITCH_ERR_LENGTH), "length differs from the type's size");
    assert_string_equal(itchErrorName(42), "?");
}

static void test_big_endian(void **state)
{
    (void)state;
    uint8_t b[8];
    itchPut16(b, 0x0102);
    assert_int_equal(b[0], 1);
    assert_int_equal(b[1], 2);
    assert_int_equal(itchGet16(b), 0x0102);
    itchPut32(b, 0xA1B2C3D4u);
    assert_int_equal(b[0], 0xA1);
    assert_int_equal(b[3], 0xD4);
    assert_int_equal(itchGet32(b), 0xA1B2C3D4u);
    itchPut48(b, UINT64_C(0xFFFF010203040506)); /* the low 48 bits */
    const uint8_t e48[] = {1, 2, 3, 4, 5, 6};
    assert_memory_equal(b, e48, 6);
    assert_int_equal(itchGet48(b), UINT64_C(0x010203040506));
    itchPut64(b, UINT64_C(0x0102030405060708));
    const uint8_t e64[] = {1, 2, 3, 4, 5, 6, 7, 8};
    assert_memory_equal(b, e64, 8);
    assert_int_equal(itchGet64(b), UINT64_C(0x0102030405060708));
    /* 23:59:59.999999999 fits 48 bits */
    itchPut48(b, UINT64_C(86399999999999));
    assert_int_equal(itchGet48(b), UINT64_C(86399999999999));
    uint8_t a[8];
    itchPutAlpha(a, "AB", 8);
    assert_memory_equal(a, "AB      ", 8);
    itchPutAlpha(a, "ABCDEFGHIJ", 8);
    assert_memory_equal(a, "ABCDEFGH", 8);
}

static void test_mold_parse(void **state)
{
    (void)state;
    uint8_t p[128];
    moldHeader h;
    moldPutHeader(p, "2025010603", 42, 2);
    itchPut16(p + 20, 12);
    memset(p + 22, 'S', 12);
    itchPut16(p + 34, 19);
    memset(p + 36, 'D', 19);
    const size_t len = 55;
    assert_int_equal(moldParse(p, len, &h), MOLD_OK);
    assert_memory_equal(h.session, "2025010603", 10);
    assert_int_equal(h.sequence, 42);
    assert_int_equal(h.count, 2);
    size_t off = MOLD_HEADER_SIZE, n;
    const uint8_t *m;
    assert_true(moldNextMessage(p, len, &off, &m, &n));
    assert_ptr_equal(m, p + 22);
    assert_int_equal(n, 12);
    assert_true(moldNextMessage(p, len, &off, &m, &n));
    assert_int_equal(n, 19);
    assert_false(moldNextMessage(p, len, &off, &m, &n));
    /* every shorter prefix is an error, and so is a byte more */
    for (size_t l = 0; l < len; l++)
        assert_int_not_equal(moldParse(p, l, &h), MOLD_OK);
    assert_int_equal(moldParse(p, 19, &h), MOLD_ERR_SHORT);
    assert_int_equal(moldParse(p, 40, &h), MOLD_ERR_BLOCK);
    assert_int_equal(moldParse(p, len + 1, &h), MOLD_ERR_TRAILING);
    /* zero-length block */
    itchPut16(p + 20, 0);
    assert_int_equal(moldParse(p, len, &h), MOLD_ERR_BLOCK);
    /* heartbeat and end of session carry nothing */
    moldPutHeader(p, "2025010603", 7, MOLD_HEARTBEAT);
    assert_int_equal(moldParse(p, 20, &h), MOLD_OK);
    assert_int_equal(h.count, 0);
    assert_int_equal(moldParse(p, 21, &h), MOLD_ERR_TRAILING);
    moldPutHeader(p, "2025010603", 7, MOLD_END_OF_SESSION);
    assert_int_equal(moldParse(p, 20, &h), MOLD_OK);
    assert_int_equal(h.count, 0xFFFF);
    /* sequence overflow */
    moldPutHeader(p, "2025010603", UINT64_MAX, 1);
    itchPut16(p + 20, 1);
    p[22] = 'S';
    assert_int_equal(moldParse(p, 23, &h), MOLD_ERR_SEQUENCE);
    assert_string_equal(moldErrorName(MOLD_ERR_TRAILING), "bytes after the last message");
}

/* ------------------------------------------------------------------------ */
/* Creation                                                                 */

static void noSend(void *ctx, const uint8_t *p, uint16_t len)
{
    (void)ctx;
    (void)p;
    (void)len;
}

static void test_create_checks(void **state)
{
    (void)state;
    testCfg tc;
    cfgBuild(&tc, 1000);
    fdOptions o = {.cfg = &tc.cfg, .tradingDay = 20250106, .send = noSend};
    fdFeed *fd = fdCreate(&o);
    assert_non_null(fd);
    assert_string_equal(fdSession(fd), "2025010603");
    fdDestroy(fd);
    fdDestroy(NULL);

    fdOptions b = o;
    b.cfg = NULL;
    assert_null(fdCreate(&b));
    assert_null(fdCreate(NULL));
    b = o;
    b.send = NULL;
    assert_null(fdCreate(&b));
    b = o;
    b.segment = 1;
    assert_null(fdCreate(&b));
    b = o;
    b.mtu = FD_MTU_MIN - 1;
    assert_null(fdCreate(&b));
    b.mtu = FD_MTU_MAX + 1;
    assert_null(fdCreate(&b));
    b.mtu = FD_MTU_MIN;
    fd = fdCreate(&b);
    assert_non_null(fd);
    fdDestroy(fd);
    b = o;
    b.historyDepth = 1000;
    assert_null(fdCreate(&b));
    b.historyDepth = 1024;
    fd = fdCreate(&b);
    assert_non_null(fd);
    fdDestroy(fd);
    b = o;
    snprintf(b.session, sizeof b.session, "AB-1");
    assert_null(fdCreate(&b));
    snprintf(b.session, sizeof b.session, "XCHG1");
    fd = fdCreate(&b);
    assert_non_null(fd);
    assert_string_equal(fdSession(fd), "XCHG1     ");
    fdDestroy(fd);
    b = o;
    b.tradingDay = 100000000; /* 9 digits */
    assert_null(fdCreate(&b));
    /* a band whose top does not fit ITCH prices, a zero tick */
    testCfg bad;
    cfgBuild(&bad, 1000);
    bad.ins[3].upperTicks = 858993460;
    b = o;
    b.cfg = &bad.cfg;
    assert_null(fdCreate(&b));
    cfgBuild(&bad, 1000);
    bad.ins[1].tickSize = 0;
    assert_null(fdCreate(&b));
    cfgBuild(&bad, 1000);
    fd = fdCreate(&b);
    assert_non_null(fd);
    fdDestroy(fd);
}

static void test_session_name(void **state)
{
    (void)state;
    char s[MOLD_SESSION_LEN + 1];
    assert_int_equal(fdSessionName(s, 20250106, 0), 0);
    assert_string_equal(s, "2025010600");
    assert_int_equal(fdSessionName(s, 20251231, 255), 0);
    assert_string_equal(s, "20251231FF");
    assert_int_equal(fdSessionName(s, 100000000, 1), -1);
    assert_string_equal(s, "20251231FF");
}

static void test_default_config(void **state)
{
    (void)state;
    cfgConfig cfg;
    char err[256];
    if (cfgLoad("config/xchg.conf", &cfg, err, sizeof err) != 0)
        fail_msg("config/xchg.conf: %s", err);
    session s;
    memset(&s, 0, sizeof s);
    clInit(&s.cl, 1024);
    s.cl.keepLog = 1;
    s.cl.tracking = cfg.segments[0].id;
    s.maxPayload = 1472;
    fdOptions o = {
        .cfg = &cfg, .tradingDay = 20250106, .orderCapacity = 1024, .send = onSend, .sendCtx = &s};
    fdFeed *fd = fdCreate(&o);
    assert_non_null(fd);
    assert_int_equal(fdSystemEvent(fd, 'O', 1), 0);
    assert_int_equal(fdDirectory(fd, 2), 0);
    fdFlush(fd);
    assert_int_equal(s.cl.errors, 0);
    assert_int_equal(s.cl.nLog, 1 + 2 * cfg.instrumentCount);
    for (uint32_t i = 0; i < cfg.instrumentCount; i++) {
        const itchMsg *r = &s.cl.log[1 + i].m;
        assert_int_equal(r->type, 'R');
        assert_int_equal(r->locate, cfg.instruments[i].book);
        char stock[8];
        itchPutAlpha((uint8_t *)stock, cfg.instruments[i].id, 8);
        assert_memory_equal(r->u.stockDirectory.stock, stock, 8);
        const itchMsg *h = &s.cl.log[1 + cfg.instrumentCount + i].m;
        assert_int_equal(h->type, 'H');
        assert_int_equal(h->u.tradingAction.state, 'H');
        assert_memory_equal(h->u.tradingAction.reason, "CLSD", 4);
    }
    fdDestroy(fd);
    clFree(&s.cl);
    cfgFree(&cfg);
}

/* ------------------------------------------------------------------------ */
/* Framing                                                                  */

static void test_framing_mtu(void **state)
{
    (void)state;
    session s;
    fdOptions o = {.mtu = 200, .historyDepth = 1024};
    assert_int_equal(sessionOpen(&s, &o, MT_STP_NONE, 10000), 0);
    s.keepPackets = 1;
    assert_int_equal(mtEngineSetState(s.eng, 0, MT_STATE_CONTINUOUS), MT_OK);
    fdFlush(s.fd);
    assert_int_equal(s.nPkts, 1); /* the H */
    /* 30 resting orders then a sweep: packets fill to 172 bytes and no more */
    for (int i = 0; i < 30; i++)
        limitOrder(&s, 0, MT_SELL, 19001 + i % 9, 1 + (uint32_t)i, 1);
    assert_true(s.nPkts > 1); /* packets went out by themselves when full */
    limitOrder(&s, 0, MT_BUY, 19010, 2000, 2);
    fdFlush(s.fd);
    assert_int_equal(s.cl.errors, 0);
    uint64_t next = 1;
    for (size_t i = 0; i < s.nPkts; i++) {
        moldHeader h;
        assert_int_equal(moldParse(s.pkts[i], s.pktLens[i], &h), MOLD_OK);
        assert_memory_equal(h.session, "2025010603", 10);
        assert_int_equal(h.sequence, next);
        assert_true(s.pktLens[i] <= 172);
        assert_true(h.count >= 1);
        next += h.count;
        if (i + 1 < s.nPkts && i > 0) {
            /* full: the first message of the next packet would not have fit */
            size_t nextLen = itchGet16(s.pkts[i + 1] + MOLD_HEADER_SIZE);
            assert_true(s.pktLens[i] + 2 + nextLen > 172);
        }
    }
    fdStats st;
    fdGetStats(s.fd, &st);
    assert_int_equal(st.nextSequence, next);
    assert_int_equal(st.messages, next - 1);
    assert_int_equal(st.packets, s.nPkts);
    assert_int_equal(byType(st.byType, 'A'), 31); /* and the sweep's remainder */
    assert_int_equal(byType(st.byType, 'E'), 30);
    assert_int_equal(byType(st.byType, 'H'), 1);
    assert_int_equal(byType(s.cl.byType, 'A'), 31);
    assertBooksEqual(&s);
    /* the retransmission of each packet's range is the packet itself */
    for (size_t i = 0; i < s.nPkts; i++) {
        moldHeader h = {.sequence = 0};
        assert_int_equal(moldParse(s.pkts[i], s.pktLens[i], &h), MOLD_OK);
        uint8_t out[FD_MTU_MAX];
        size_t len = fdRetransmit(s.fd, h.sequence, h.count, out, sizeof out);
        assert_int_equal(len, s.pktLens[i]);
        assert_memory_equal(out, s.pkts[i], len);
    }
    assertClean(&s);
    sessionClose(&s);
}

static void test_framing_default_mtu(void **state)
{
    (void)state;
    session s;
    assert_int_equal(sessionOpen(&s, NULL, MT_STP_NONE, 10000), 0);
    s.keepPackets = 1;
    mtEngineSetState(s.eng, 2, MT_STATE_CONTINUOUS);
    for (int i = 0; i < 200; i++)
        limitOrder(&s, 2, i & 1 ? MT_SELL : MT_BUY, i & 1 ? 1000001 + i % 9 : 999999 - i % 9, 5, 1);
    fdFlush(s.fd);
    /* 1 H + 200 A of 38 bytes with their length: 1472 bytes hold 38 A's */
    assert_int_equal(s.nPkts, 6);
    assert_int_equal(s.pktLens[0], 20 + 2 + 25 + 37 * 38);
    for (size_t i = 1; i < 5; i++)
        assert_int_equal(s.pktLens[i], 20 + 38 * 38);
    assert_true(s.cl.maxPacket <= 1472);
    assertBooksEqual(&s);
    assertClean(&s);
    sessionClose(&s);
}

static void test_heartbeat(void **state)
{
    (void)state;
    session s;
    fdOptions o = {.heartbeatNs = 1000};
    assert_int_equal(sessionOpen(&s, &o, MT_STP_NONE, 100), 0);
    s.keepPackets = 1;
    fdTick(s.fd, 10000); /* starts the timer */
    fdTick(s.fd, 10999);
    assert_int_equal(s.nPkts, 0);
    fdTick(s.fd, 11000);
    assert_int_equal(s.nPkts, 1);
    moldHeader h;
    assert_int_equal(moldParse(s.pkts[0], s.pktLens[0], &h), MOLD_OK);
    assert_int_equal(s.pktLens[0], 20);
    assert_int_equal(h.count, 0);
    assert_int_equal(h.sequence, 1); /* the next message's number */
    fdTick(s.fd, 11500);
    assert_int_equal(s.nPkts, 1);
    fdTick(s.fd, 12000);
    assert_int_equal(s.nPkts, 2);
    /* a message: fdTick flushes it and the timer restarts */
    assert_int_equal(fdSystemEvent(s.fd, 'O', 5), 0);
    assert_int_equal(s.nPkts, 2);
    fdTick(s.fd, 12700);
    assert_int_equal(s.nPkts, 3);
    assert_int_equal(itchGet16(s.pkts[2] + MOLD_OFF_COUNT), 1);
    fdTick(s.fd, 13699);
    assert_int_equal(s.nPkts, 3);
    fdTick(s.fd, 13700);
    assert_int_equal(s.nPkts, 4);
    assert_int_equal(moldParse(s.pkts[3], s.pktLens[3], &h), MOLD_OK);
    assert_int_equal(h.count, 0);
    assert_int_equal(h.sequence, 2);
    /* forced heartbeat */
    fdHeartbeat(s.fd);
    assert_int_equal(s.nPkts, 5);
    fdStats st;
    fdGetStats(s.fd, &st);
    assert_int_equal(st.heartbeats, 4);
    assert_int_equal(st.packets, 1);
    assert_int_equal(st.bytes, 4 * 20 + 20 + 2 + 12);
    assert_int_equal(s.cl.heartbeats, 4);
    assertClean(&s);
    sessionClose(&s);
}

static void test_end_of_session(void **state)
{
    (void)state;
    session s;
    fdOptions o = {.heartbeatNs = 1000};
    assert_int_equal(sessionOpen(&s, &o, MT_STP_NONE, 100), 0);
    s.keepPackets = 1;
    s.cl.keepLog = 1;
    assert_int_equal(fdSystemEvent(s.fd, 'X', 1), -1);
    assert_int_equal(fdSystemEvent(s.fd, 'O', 1), 0);
    assert_int_equal(fdSystemEvent(s.fd, 'M', 2), 0);
    assert_int_equal(fdSystemEvent(s.fd, 'E', 3), 0);
    fdEndSession(s.fd, 4);
    assert_int_equal(s.nPkts, 2);
    moldHeader h;
    assert_int_equal(moldParse(s.pkts[0], s.pktLens[0], &h), MOLD_OK);
    assert_int_equal(h.count, 4);
    assert_int_equal(s.cl.log[3].m.type, 'S');
    assert_int_equal(s.cl.log[3].m.u.systemEvent.eventCode, 'C');
    assert_int_equal(s.cl.log[3].m.timestamp, 4);
    assert_int_equal(moldParse(s.pkts[1], s.pktLens[1], &h), MOLD_OK);
    assert_int_equal(h.count, MOLD_END_OF_SESSION);
    assert_int_equal(h.sequence, 5);
    assert_int_equal(s.pktLens[1], 20);
    /* nothing more is sequenced; the timer repeats the end of session */
    assert_int_equal(fdSystemEvent(s.fd, 'O', 5), -1);
    assert_int_equal(fdDirectory(s.fd, 5), -1);
    assert_int_equal(mtEngineSetState(s.eng, 0, MT_STATE_CONTINUOUS), MT_OK);
    fdEndSession(s.fd, 6); /* again: nothing */
    fdTick(s.fd, 0);
    fdTick(s.fd, 999);
    assert_int_equal(s.nPkts, 2);
    fdTick(s.fd, 1000);
    assert_int_equal(s.nPkts, 3);
    assert_int_equal(moldParse(s.pkts[2], s.pktLens[2], &h), MOLD_OK);
    assert_int_equal(h.count, MOLD_END_OF_SESSION);
    assert_int_equal(h.sequence, 5);
    fdStats st;
    fdGetStats(s.fd, &st);
    assert_int_equal(st.endOfSession, 2);
    assert_int_equal(st.unexpected, 1); /* the STATE event after the end */
    assert_int_equal(st.messages, 4);
    assert_int_equal(s.cl.eos, 2);
    assert_int_equal(s.cl.errors, 0);
    sessionClose(&s);

    /* an explicit 'C' is not repeated */
    assert_int_equal(sessionOpen(&s, &o, MT_STP_NONE, 100), 0);
    assert_int_equal(fdSystemEvent(s.fd, 'C', 1), 0);
    fdEndSession(s.fd, 2);
    fdGetStats(s.fd, &st);
    assert_int_equal(st.messages, 1);
    sessionClose(&s);
}

static void test_history(void **state)
{
    (void)state;
    session s;
    fdOptions o = {.historyDepth = 8};
    assert_int_equal(sessionOpen(&s, &o, MT_STP_NONE, 100), 0);
    uint64_t first, next;
    fdHistoryRange(s.fd, &first, &next);
    assert_int_equal(first, 1);
    assert_int_equal(next, 1);
    uint8_t out[64];
    assert_int_equal(fdHistoryGet(s.fd, 1, out, sizeof out), -1);
    for (int i = 0; i < 5; i++)
        fdSystemEvent(s.fd, 'S', (uint64_t)i);
    /* not sent yet: not available */
    fdHistoryRange(s.fd, &first, &next);
    assert_int_equal(next, 1);
    assert_int_equal(fdHistoryGet(s.fd, 1, out, sizeof out), -1);
    fdFlush(s.fd);
    fdHistoryRange(s.fd, &first, &next);
    assert_int_equal(first, 1);
    assert_int_equal(next, 6);
    assert_int_equal(fdHistoryGet(s.fd, 3, out, sizeof out), 12);
    assert_int_equal(out[0], 'S');
    assert_int_equal(itchGet48(out + ITCH_OFF_TIMESTAMP), 2);
    assert_int_equal(fdHistoryGet(s.fd, 3, out, 11), -1);
    assert_int_equal(fdHistoryGet(s.fd, 6, out, sizeof out), -1);
    assert_int_equal(fdHistoryGet(s.fd, 0, out, sizeof out), -1);
    for (int i = 5; i < 20; i++)
        fdSystemEvent(s.fd, 'S', (uint64_t)i);
    fdFlush(s.fd);
    fdHistoryRange(s.fd, &first, &next);
    assert_int_equal(first, 13);
    assert_int_equal(next, 21);
    assert_int_equal(fdHistoryGet(s.fd, 12, out, sizeof out), -1);
    assert_int_equal(fdHistoryGet(s.fd, 13, out, sizeof out), 12);
    assert_int_equal(itchGet48(out + ITCH_OFF_TIMESTAMP), 12);
    /* retransmission packets: header, count limited by the request and the history */
    uint8_t pkt[256];
    size_t len = fdRetransmit(s.fd, 18, 100, pkt, sizeof pkt);
    assert_int_equal(len, 20 + 3 * 14);
    moldHeader h;
    assert_int_equal(moldParse(pkt, len, &h), MOLD_OK);
    assert_int_equal(h.sequence, 18);
    assert_int_equal(h.count, 3);
    assert_memory_equal(h.session, "2025010603", 10);
    len = fdRetransmit(s.fd, 13, 2, pkt, sizeof pkt);
    assert_int_equal(len, 20 + 2 * 14);
    len = fdRetransmit(s.fd, 13, 100, pkt, 20 + 5 * 14 + 13); /* room for 5 */
    assert_int_equal(len, 20 + 5 * 14);
    assert_int_equal(fdRetransmit(s.fd, 12, 1, pkt, sizeof pkt), 0);
    assert_int_equal(fdRetransmit(s.fd, 21, 1, pkt, sizeof pkt), 0);
    assert_int_equal(fdRetransmit(s.fd, 13, 0, pkt, sizeof pkt), 0);
    assert_int_equal(fdRetransmit(s.fd, 13, 1, pkt, 30), 0);
    sessionClose(&s);

    /* no history */
    assert_int_equal(sessionOpen(&s, NULL, MT_STP_NONE, 100), 0);
    fdSystemEvent(s.fd, 'S', 1);
    fdFlush(s.fd);
    fdHistoryRange(s.fd, &first, &next);
    assert_int_equal(first, next);
    assert_int_equal(fdHistoryGet(s.fd, 1, out, sizeof out), -1);
    assert_int_equal(fdRetransmit(s.fd, 1, 1, pkt, sizeof pkt), 0);
    sessionClose(&s);
}

/* ------------------------------------------------------------------------ */
/* Scripted session: every message checked                                  */

static const itchMsg *nextMsg(session *s)
{
    fdFlush(s->fd);
    if (s->cl.errors)
        fail_msg("client: %s", s->cl.err);
    if (s->cl.readLog >= s->cl.nLog)
        fail_msg("expected another message after seq %zu", s->cl.readLog);
    const itchMsg *m = &s->cl.log[s->cl.readLog++].m;
    assert_int_equal(m->timestamp, s->ns);
    assert_int_equal(m->tracking, SEG_ID);
    return m;
}

static void noMoreMsgs(session *s)
{
    fdFlush(s->fd);
    if (s->cl.readLog != s->cl.nLog)
        fail_msg("unexpected message of type %c", s->cl.log[s->cl.readLog].m.type);
}

static uint32_t px(int ins, int64_t ticks)
{
    return (uint32_t)(ticks * kIns[ins].tick);
}

static void expectA(session *s, int ins, uint64_t ref, uint8_t side, uint32_t shares, int64_t p)
{
    const itchMsg *m = nextMsg(s);
    assert_int_equal(m->type, 'A');
    assert_int_equal(m->locate, ins);
    assert_int_equal(m->u.addOrder.orderRef, ref);
    assert_int_equal(m->u.addOrder.side, side == MT_BUY ? 'B' : 'S');
    assert_int_equal(m->u.addOrder.shares, shares);
    char stock[8];
    stockOf(ins, stock);
    assert_memory_equal(m->u.addOrder.stock, stock, 8);
    assert_int_equal(m->u.addOrder.price, px(ins, p));
}

static void expectE(session *s, int ins, uint64_t ref, uint32_t shares, uint64_t match)
{
    const itchMsg *m = nextMsg(s);
    assert_int_equal(m->type, 'E');
    assert_int_equal(m->locate, ins);
    assert_int_equal(m->u.executed.orderRef, ref);
    assert_int_equal(m->u.executed.shares, shares);
    assert_int_equal(m->u.executed.matchNumber, match);
}

static void expectC(session *s, int ins, uint64_t ref, uint32_t shares, uint64_t match, int64_t p)
{
    const itchMsg *m = nextMsg(s);
    assert_int_equal(m->type, 'C');
    assert_int_equal(m->locate, ins);
    assert_int_equal(m->u.executed.orderRef, ref);
    assert_int_equal(m->u.executed.shares, shares);
    assert_int_equal(m->u.executed.matchNumber, match);
    assert_int_equal(m->u.executed.printable, 'N');
    assert_int_equal(m->u.executed.price, px(ins, p));
}

static void expectD(session *s, int ins, uint64_t ref)
{
    const itchMsg *m = nextMsg(s);
    assert_int_equal(m->type, 'D');
    assert_int_equal(m->locate, ins);
    assert_int_equal(m->u.del.orderRef, ref);
}

static void expectX(session *s, int ins, uint64_t ref, uint32_t shares)
{
    const itchMsg *m = nextMsg(s);
    assert_int_equal(m->type, 'X');
    assert_int_equal(m->locate, ins);
    assert_int_equal(m->u.cancel.orderRef, ref);
    assert_int_equal(m->u.cancel.shares, shares);
}

static void expectU(session *s, int ins, uint64_t orig, uint64_t nref, uint32_t shares, int64_t p)
{
    const itchMsg *m = nextMsg(s);
    assert_int_equal(m->type, 'U');
    assert_int_equal(m->locate, ins);
    assert_int_equal(m->u.replace.origRef, orig);
    assert_int_equal(m->u.replace.newRef, nref);
    assert_int_equal(m->u.replace.shares, shares);
    assert_int_equal(m->u.replace.price, px(ins, p));
}

static void expectH(session *s, int ins, uint8_t state, const char *reason)
{
    const itchMsg *m = nextMsg(s);
    assert_int_equal(m->type, 'H');
    assert_int_equal(m->locate, ins);
    char stock[8];
    stockOf(ins, stock);
    assert_memory_equal(m->u.tradingAction.stock, stock, 8);
    assert_int_equal(m->u.tradingAction.state, state);
    assert_int_equal(m->u.tradingAction.reserved, ' ');
    assert_memory_equal(m->u.tradingAction.reason, reason, 4);
}

static void setState(session *s, uint16_t ins, mtState st)
{
    tickNs(s);
    assert_int_equal(mtEngineSetState(s->eng, ins, st), MT_OK);
}

static void test_scripted_continuous(void **state)
{
    (void)state;
    session s;
    assert_int_equal(sessionOpen(&s, NULL, MT_STP_CANCEL_BOTH, 1000), 0);
    s.cl.keepLog = 1;
    const int I = 0;

    tickNs(&s);
    assert_int_equal(fdSystemEvent(s.fd, ITCH_EVENT_START_OF_MESSAGES, s.ns), 0);
    const itchMsg *m = nextMsg(&s);
    assert_int_equal(m->type, 'S');
    assert_int_equal(m->locate, 0);
    assert_int_equal(m->u.systemEvent.eventCode, 'O');
    tickNs(&s);
    assert_int_equal(fdDirectory(s.fd, s.ns), 0);
    for (int i = 0; i < NINS; i++) {
        m = nextMsg(&s);
        assert_int_equal(m->type, 'R');
        assert_int_equal(m->locate, i);
        char stock[8];
        stockOf(i, stock);
        assert_memory_equal(m->u.stockDirectory.stock, stock, 8);
        assert_int_equal(m->u.stockDirectory.roundLotSize, 1);
        assert_int_equal(m->u.stockDirectory.authenticity, 'P');
    }
    for (int i = 0; i < NINS; i++)
        expectH(&s, i, 'H', "CLSD");
    setState(&s, I, MT_STATE_CONTINUOUS); /* empty book: no cross */
    expectH(&s, I, 'T', "    ");
    noMoreMsgs(&s);

    /* resting orders are added */
    uint64_t o1 = limitOrder(&s, I, MT_SELL, 19005, 10, 1);
    assert_int_equal(o1, OID(1));
    expectA(&s, I, o1, MT_SELL, 10, 19005);
    uint64_t o2 = limitOrder(&s, I, MT_SELL, 19004, 5, 1);
    expectA(&s, I, o2, MT_SELL, 5, 19004);
    /* an aggressive order that fills completely: only the maker's execution */
    uint64_t o3 = limitOrder(&s, I, MT_BUY, 19006, 3, 2);
    assert_int_equal(o3, OID(3));
    expectE(&s, I, o2, 3, s.lastTradeId);
    assert_int_equal(s.lastTradeId, OID(1));
    noMoreMsgs(&s);
    /* partly aggressive: the execution, then its remainder is added */
    uint64_t o4 = limitOrder(&s, I, MT_BUY, 19004, 8, 2);
    expectE(&s, I, o2, 2, OID(2));
    expectA(&s, I, o4, MT_BUY, 6, 19004);
    noMoreMsgs(&s);
    assertBooksEqual(&s);
    /* cancel: delete */
    tickNs(&s);
    assert_int_equal(mtEngineCancel(s.eng, o1, MT_ANY_ACCOUNT, 0), MT_OK);
    expectD(&s, I, o1);
    /* replace to a smaller quantity keeps priority: partial cancel */
    tickNs(&s);
    assert_int_equal(mtEngineReplace(s.eng, o4, 2, 19004, 5, 0), MT_OK); /* leaves 6 -> 3 */
    expectX(&s, I, o4, 3);
    /* the same quantity: nothing */
    tickNs(&s);
    assert_int_equal(mtEngineReplace(s.eng, o4, 2, 19004, 5, 0), MT_OK);
    noMoreMsgs(&s);
    /* a larger quantity loses priority: replace with a new reference */
    tickNs(&s);
    assert_int_equal(mtEngineReplace(s.eng, o4, 2, 19004, 10, 0), MT_OK); /* leaves 8 */
    expectU(&s, I, o4, DER(1), 8, 19004);
    /* a new price: replace again */
    tickNs(&s);
    assert_int_equal(mtEngineReplace(s.eng, o4, 2, 19003, 10, 0), MT_OK);
    expectU(&s, I, DER(1), DER(2), 8, 19003);
    assertBooksEqual(&s);
    /* a sell through it: the replaced order executes under its new reference */
    uint64_t o5 = limitOrder(&s, I, MT_SELL, 19003, 20, 3);
    expectE(&s, I, DER(2), 8, OID(3));
    expectA(&s, I, o5, MT_SELL, 12, 19003);
    /* IOC partly filled, market order partly filled: executions only */
    tickNs(&s);
    assert_int_equal(newOrder(&s, I, MT_BUY, MT_LIMIT, MT_IOC, MT_VOL_ANY, 19003, 5, 0, 4), MT_OK);
    expectE(&s, I, o5, 5, OID(4));
    tickNs(&s);
    assert_int_equal(newOrder(&s, I, MT_BUY, MT_MARKET, MT_GFD, MT_VOL_ANY, 0, 100, 0, 4), MT_OK);
    expectE(&s, I, o5, 7, OID(5));
    noMoreMsgs(&s);
    /* FOK that cannot fill: nothing */
    tickNs(&s);
    assert_int_equal(newOrder(&s, I, MT_BUY, MT_LIMIT, MT_GFD, MT_VOL_ALL, 19010, 50, 0, 4), MT_OK);
    noMoreMsgs(&s);
    /* self-trade prevention (cancel both): the resting order is deleted */
    uint64_t o9 = limitOrder(&s, I, MT_SELL, 19007, 4, 1);
    expectA(&s, I, o9, MT_SELL, 4, 19007);
    limitOrder(&s, I, MT_BUY, 19008, 4, 1);
    expectD(&s, I, o9);
    noMoreMsgs(&s);
    assertBooksEqual(&s);

    /* a repriced order that fills completely while matching: deleted */
    uint64_t b1 = limitOrder(&s, I, MT_BUY, 19001, 5, 2);
    expectA(&s, I, b1, MT_BUY, 5, 19001);
    uint64_t s1 = limitOrder(&s, I, MT_SELL, 19006, 5, 3);
    expectA(&s, I, s1, MT_SELL, 5, 19006);
    tickNs(&s);
    assert_int_equal(mtEngineReplace(s.eng, b1, 2, 19006, 5, 0), MT_OK);
    expectE(&s, I, s1, 5, OID(6));
    expectD(&s, I, b1);
    noMoreMsgs(&s);
    /* a repriced order that partly fills: executions, then its replace */
    uint64_t b2 = limitOrder(&s, I, MT_BUY, 19001, 5, 2);
    expectA(&s, I, b2, MT_BUY, 5, 19001);
    uint64_t s2 = limitOrder(&s, I, MT_SELL, 19006, 2, 3);
    expectA(&s, I, s2, MT_SELL, 2, 19006);
    tickNs(&s);
    assert_int_equal(mtEngineReplace(s.eng, b2, 2, 19006, 5, 0), MT_OK);
    expectE(&s, I, s2, 2, OID(7));
    expectU(&s, I, b2, DER(3), 3, 19006);
    noMoreMsgs(&s);
    assertBooksEqual(&s);
    /* a repriced order stopped by self-trade prevention: deleted */
    uint64_t s3 = limitOrder(&s, I, MT_SELL, 19008, 2, 2);
    expectA(&s, I, s3, MT_SELL, 2, 19008);
    tickNs(&s);
    assert_int_equal(mtEngineReplace(s.eng, b2, 2, 19009, 5, 0), MT_OK);
    expectD(&s, I, s3);     /* cancel both: the resting order */
    expectD(&s, I, DER(3)); /* and the repriced one */
    noMoreMsgs(&s);
    assertBooksEqual(&s);

    /* halt and resume; cancels still work */
    uint64_t g1 = limitOrder(&s, I, MT_BUY, 19000, 7, 2);
    expectA(&s, I, g1, MT_BUY, 7, 19000);
    tickNs(&s);
    s.lastOrderId = 0;
    assert_int_equal(newOrder(&s, I, MT_SELL, MT_LIMIT, MT_GTC, MT_VOL_ANY, 19009, 9, 0, 3), MT_OK);
    uint64_t gtc = s.lastOrderId;
    expectA(&s, I, gtc, MT_SELL, 9, 19009);
    setState(&s, I, MT_STATE_HALTED);
    expectH(&s, I, 'H', "HALT");
    tickNs(&s);
    assert_int_equal(mtEngineCancel(s.eng, g1, 2, 0), MT_OK);
    expectD(&s, I, g1);
    setState(&s, I, MT_STATE_CONTINUOUS);
    expectH(&s, I, 'T', "    ");
    /* the close expires GFD orders (bids best first, then asks), keeps GTC */
    uint64_t g2 = limitOrder(&s, I, MT_BUY, 18999, 1, 2);
    expectA(&s, I, g2, MT_BUY, 1, 18999);
    setState(&s, I, MT_STATE_CLOSED);
    expectH(&s, I, 'H', "CLSD");
    expectD(&s, I, g2);
    noMoreMsgs(&s); /* the GTC ask stays */
    assertBooksEqual(&s);
    mtStats ms;
    mtEngineGetStats(s.eng, &ms);
    assert_int_equal(ms.ordersResting, 1);
    assertClean(&s);
    sessionClose(&s);
}

static void test_scripted_auction(void **state)
{
    (void)state;
    session s;
    assert_int_equal(sessionOpen(&s, NULL, MT_STP_CANCEL_INCOMING, 1000), 0);
    s.cl.keepLog = 1;
    const int I = 1; /* cu2501, tick 10 */
    tickNs(&s);
    fdDirectory(s.fd, s.ns);
    for (int i = 0; i < 2 * NINS; i++)
        nextMsg(&s);
    setState(&s, I, MT_STATE_PRE_OPEN);
    expectH(&s, I, 'Q', "PREO");
    /* nothing crosses yet: NOII with insufficient orders */
    tickNs(&s);
    assert_int_equal(mtEngineIndicate(s.eng, I, NULL), MT_OK);
    const itchMsg *m = nextMsg(&s);
    assert_int_equal(m->type, 'I');
    assert_int_equal(m->u.noii.pairedShares, 0);
    assert_int_equal(m->u.noii.direction, 'O');
    assert_int_equal(m->u.noii.nearPrice, 0);
    assert_int_equal(m->u.noii.priceVariation, ' ');
    assert_int_equal(m->u.noii.crossType, 'O');
    /* a crossed pre-open book: every order is added */
    uint64_t b1 = limitOrder(&s, I, MT_BUY, 7528, 10, 1);
    uint64_t b2 = limitOrder(&s, I, MT_BUY, 7526, 5, 2);
    uint64_t a1 = limitOrder(&s, I, MT_SELL, 7524, 8, 3);
    uint64_t a2 = limitOrder(&s, I, MT_SELL, 7527, 6, 4);
    uint64_t a3 = limitOrder(&s, I, MT_SELL, 7529, 3, 4);
    s.ns -= 5000; /* the adds are stamped with their orders' times */
    tickNs(&s);
    expectA(&s, I, b1, MT_BUY, 10, 7528);
    tickNs(&s);
    expectA(&s, I, b2, MT_BUY, 5, 7526);
    tickNs(&s);
    expectA(&s, I, a1, MT_SELL, 8, 7524);
    tickNs(&s);
    expectA(&s, I, a2, MT_SELL, 6, 7527);
    tickNs(&s);
    expectA(&s, I, a3, MT_SELL, 3, 7529);
    /* replace in pre-open: new price, no matching */
    tickNs(&s);
    assert_int_equal(mtEngineReplace(s.eng, b2, 2, 7527, 5, 0), MT_OK);
    expectU(&s, I, b2, DER(1), 5, 7527);
    assertBooksEqual(&s);
    /* indicative: bids >= 7527: 15, asks <= 7527: 14 -> paired 14, buy imbalance 1 */
    tickNs(&s);
    mtAuction a;
    assert_int_equal(mtEngineIndicate(s.eng, I, &a), MT_OK);
    assert_int_equal(a.price, 7527);
    assert_int_equal(a.pairedQty, 14);
    m = nextMsg(&s);
    assert_int_equal(m->type, 'I');
    assert_int_equal(m->locate, I);
    assert_int_equal(m->u.noii.pairedShares, 14);
    assert_int_equal(m->u.noii.imbalanceShares, 1);
    assert_int_equal(m->u.noii.direction, 'B');
    assert_int_equal(m->u.noii.nearPrice, px(I, 7527));
    assert_int_equal(m->u.noii.farPrice, px(I, 7527));
    assert_int_equal(m->u.noii.refPrice, px(I, 7527));
    assert_int_equal(m->u.noii.crossType, 'O');
    assert_int_equal(m->u.noii.priceVariation, 'L'); /* 7527 vs 7523: 0.05% */
    /* the open: trading action, non-printable executions of both sides, the cross */
    setState(&s, I, MT_STATE_CONTINUOUS);
    expectH(&s, I, 'T', "    ");
    expectC(&s, I, b1, 8, OID(1), 7527); /* b1 10 vs a1 8 */
    expectC(&s, I, a1, 8, OID(1), 7527);
    expectC(&s, I, b1, 2, OID(2), 7527); /* b1 2 left vs a2 6 */
    expectC(&s, I, a2, 2, OID(2), 7527);
    expectC(&s, I, DER(1), 4, OID(3), 7527); /* b2 5 vs a2 4 left */
    expectC(&s, I, a2, 4, OID(3), 7527);
    m = nextMsg(&s);
    assert_int_equal(m->type, 'Q');
    assert_int_equal(m->locate, I);
    assert_int_equal(m->u.cross.shares, 14);
    assert_int_equal(m->u.cross.price, px(I, 7527));
    assert_int_equal(m->u.cross.matchNumber, DER(1));
    assert_int_equal(m->u.cross.crossType, 'O');
    char stock[8];
    stockOf(I, stock);
    assert_memory_equal(m->u.cross.stock, stock, 8);
    noMoreMsgs(&s);
    assertBooksEqual(&s);
    assert_int_equal(clStat(&s.cl, 1), 14);
    assert_int_equal(clStat(&s.cl, 2), 28);
    assert_int_equal(clStat(&s.cl, 0), 0);

    /* halt, a crossed book cannot happen without pre-open; go through pre-open
     * from a halt: the cross type is H */
    setState(&s, I, MT_STATE_HALTED);
    expectH(&s, I, 'H', "HALT");
    tickNs(&s);
    mtEngineIndicate(s.eng, I, NULL);
    m = nextMsg(&s);
    assert_int_equal(m->type, 'I');
    assert_int_equal(m->u.noii.crossType, 'H');
    setState(&s, I, MT_STATE_PRE_OPEN);
    expectH(&s, I, 'Q', "PREO");
    uint64_t b3 = limitOrder(&s, I, MT_BUY, 7530, 2, 1);
    expectA(&s, I, b3, MT_BUY, 2, 7530);
    setState(&s, I, MT_STATE_HALTED);
    expectH(&s, I, 'H', "HALT");
    setState(&s, I, MT_STATE_CONTINUOUS);
    expectH(&s, I, 'T', "    ");
    /* b3 2 + b2 1 left at 7527 vs a3 3 at 7529: uncross at 7529? bids >= 7529: 2 */
    expectC(&s, I, b3, 2, OID(4), 7529);
    expectC(&s, I, a3, 2, OID(4), 7529);
    m = nextMsg(&s);
    assert_int_equal(m->type, 'Q');
    assert_int_equal(m->u.cross.shares, 2);
    assert_int_equal(m->u.cross.matchNumber, DER(2));
    assert_int_equal(m->u.cross.crossType, 'H');
    noMoreMsgs(&s);
    assertBooksEqual(&s);
    assertClean(&s);
    sessionClose(&s);
}

/* An execution of an order the feed never saw (the feed created late) is
 * still printed: a Trade message. */
static void test_unknown_order_trade(void **state)
{
    (void)state;
    session s;
    assert_int_equal(sessionOpen(&s, NULL, MT_STP_NONE, 100), 0);
    s.cl.keepLog = 1;
    fdFeed *fd = s.fd;
    s.fd = NULL; /* orders enter while the feed is not listening */
    mtEngineSetState(s.eng, 0, MT_STATE_CONTINUOUS);
    uint64_t o1 = limitOrder(&s, 0, MT_SELL, 19002, 5, 1);
    uint64_t o2 = limitOrder(&s, 0, MT_SELL, 19003, 5, 1);
    s.fd = fd;
    tickNs(&s);
    fdDirectory(fd, s.ns);
    for (int i = 0; i < 2 * NINS; i++)
        nextMsg(&s);
    limitOrder(&s, 0, MT_BUY, 19002, 3, 2);
    const itchMsg *m = nextMsg(&s);
    assert_int_equal(m->type, 'P');
    assert_int_equal(m->u.trade.orderRef, 0);
    assert_int_equal(m->u.trade.side, 'B');
    assert_int_equal(m->u.trade.shares, 3);
    assert_int_equal(m->u.trade.price, px(0, 19002));
    assert_int_equal(m->u.trade.matchNumber, s.lastTradeId);
    tickNs(&s);
    mtEngineCancel(s.eng, o2, MT_ANY_ACCOUNT, 0);
    tickNs(&s);
    mtEngineReplace(s.eng, o1, 1, 19002, 4, 0);
    noMoreMsgs(&s);
    fdStats st;
    fdGetStats(fd, &st);
    assert_int_equal(st.unknownOrder, 3);
    assert_int_equal(byType(st.byType, 'P'), 1);
    assert_int_equal(clStat(&s.cl, 0), 3);
    sessionClose(&s);
}

/* ------------------------------------------------------------------------ */
/* Randomized session                                                       */

typedef struct {
    uint64_t orders, replaces, cancels, states, indicates, compares;
    uint64_t msgs[26]; /* messages received by type */
} randomCounts;

static void randomOp(session *s, uint64_t *rng, randomCounts *rc)
{
    uint16_t ins = (uint16_t)rngBelow(rng, NINS);
    const insDef *d = &kIns[ins];
    int64_t mid = (d->lower + d->upper) / 2;
    uint64_t r = rngBelow(rng, 1000);
    s->ns += 100 + rngBelow(rng, 900);
    if (r < 6) {
        int st = mtEngineState(s->eng, ins);
        mtState to;
        uint64_t k = rngBelow(rng, 100);
        if (st == MT_STATE_CONTINUOUS)
            to = k < 50 ? MT_STATE_PRE_OPEN : k < 75 ? MT_STATE_HALTED : MT_STATE_CLOSED;
        else
            to = k < 70 ? MT_STATE_CONTINUOUS : MT_STATE_PRE_OPEN;
        mtEngineSetState(s->eng, ins, to);
        rc->states++;
    } else if (r < 12) {
        mtEngineIndicate(s->eng, ins, NULL);
        rc->indicates++;
    } else if (r < 680) {
        uint8_t side = (uint8_t)rngBelow(rng, 2);
        int64_t off = (int64_t)rngBelow(rng, 8) - 2;
        int64_t price = side == MT_BUY ? mid - off : mid + off;
        if (price < d->lower)
            price = d->lower;
        if (price > d->upper)
            price = d->upper;
        uint8_t pt = MT_LIMIT, tc = MT_GFD, vc = MT_VOL_ANY;
        uint64_t k = rngBelow(rng, 100);
        if (k < 4)
            pt = MT_MARKET;
        else if (k < 10)
            tc = MT_IOC;
        else if (k < 25)
            tc = MT_GTC;
        uint32_t qty = 1 + (uint32_t)rngBelow(rng, 20);
        uint32_t minQty = 0;
        k = rngBelow(rng, 100);
        if (k < 3)
            vc = MT_VOL_ALL;
        else if (k < 6) {
            vc = MT_VOL_MIN;
            minQty = 1 + (uint32_t)rngBelow(rng, qty);
        }
        newOrder(s, ins, side, pt, tc, vc, price, qty, minQty, 1 + (uint32_t)rngBelow(rng, 4));
        rc->orders++;
    } else if (r < 820) {
        if (s->nLive) {
            size_t n = s->nLive < MAX_LIVE ? s->nLive : MAX_LIVE;
            mtEngineCancel(s->eng, s->live[rngBelow(rng, n)], MT_ANY_ACCOUNT, 0);
            rc->cancels++;
        }
    } else {
        if (s->nLive) {
            size_t n = s->nLive < MAX_LIVE ? s->nLive : MAX_LIVE;
            uint64_t id = s->live[rngBelow(rng, n)];
            mtOrderInfo oi;
            if (mtEngineOrderGet(s->eng, id, &oi) == MT_OK) {
                const insDef *od = &kIns[oi.instrument];
                int64_t price = oi.price;
                uint32_t qty = oi.qty;
                uint64_t k = rngBelow(rng, 3);
                if (k == 0) {
                    int64_t omid = (od->lower + od->upper) / 2;
                    price = omid + (int64_t)rngBelow(rng, 9) - 4;
                } else if (k == 1) {
                    qty = oi.qty + 1 + (uint32_t)rngBelow(rng, 10);
                } else {
                    uint32_t filled = oi.qty - oi.leaves;
                    qty = filled + 1 + (uint32_t)rngBelow(rng, oi.leaves);
                }
                mtEngineReplace(s->eng, id, MT_ANY_ACCOUNT, price, qty, 0);
                rc->replaces++;
            }
        }
    }
}

static void runRandom(mtStpPolicy stp, uint64_t seed, uint64_t ops, randomCounts *rc)
{
    session s;
    fdOptions o = {.historyDepth = 1 << 12};
    assert_int_equal(sessionOpen(&s, &o, stp, 20000), 0);
    uint64_t rng = seed;
    fdSystemEvent(s.fd, 'O', s.ns);
    fdDirectory(s.fd, s.ns);
    for (uint16_t i = 0; i < NINS; i++)
        mtEngineSetState(s.eng, i, MT_STATE_CONTINUOUS);
    for (uint64_t op = 1; op <= ops; op++) {
        randomOp(&s, &rng, rc);
        if (op % 16 == 0)
            fdFlush(s.fd);
        if (op % 2500 == 0) {
            char why[256] = "";
            fdFlush(s.fd);
            if (s.cl.errors)
                fail_msg("seed %#" PRIx64 " op %" PRIu64 ": client: %s", seed, op, s.cl.err);
            if (compareBooks(&s, why, sizeof why) != 0)
                fail_msg("seed %#" PRIx64 " op %" PRIu64 ": books differ: %s", seed, op, why);
            rc->compares++;
        }
    }
    assertBooksEqual(&s);
    rc->compares++;
    /* traded volume: continuous executions are printed once (E), auction
     * executions are non-printable on both sides and printed by the cross */
    assert_int_equal(clStat(&s.cl, 0), s.contFillQty);
    assert_int_equal(clStat(&s.cl, 2), 2 * s.auctionFillQty);
    assert_int_equal(clStat(&s.cl, 1), s.auctionFillQty);
    fdEndSession(s.fd, s.ns);
    assert_int_equal(s.cl.eos, 1);
    assertClean(&s);
    for (int t = 0; t < 26; t++)
        rc->msgs[t] += s.cl.byType[t];
    fdStats st;
    fdGetStats(s.fd, &st);
    assert_int_equal(st.messages, s.cl.msgs);
    assert_int_equal(byType(st.byType, 'P'), 0);
    for (int t = 0; t < 26; t++)
        assert_int_equal(st.byType[t], s.cl.byType[t]);
    sessionClose(&s);
}

static void test_random(void **state)
{
    (void)state;
    randomCounts rc;
    memset(&rc, 0, sizeof rc);
    const mtStpPolicy pol[] = {MT_STP_NONE, MT_STP_CANCEL_RESTING, MT_STP_CANCEL_INCOMING,
                               MT_STP_CANCEL_BOTH};
    for (int i = 0; i < 4; i++)
        runRandom(pol[i], gSeed + (uint64_t)i, gOps, &rc);
    printf("[feed] random: %" PRIu64 " orders, %" PRIu64 " replaces, %" PRIu64 " cancels, %" PRIu64
           " state changes, %" PRIu64 " indications, %" PRIu64
           " book comparisons (XCHG_FEED_SEED=%#" PRIx64 ")\n",
           rc.orders, rc.replaces, rc.cancels, rc.states, rc.indicates, rc.compares, gSeed);
    printf("[feed] messages:");
    for (const char *t = "SRHAECXDUQI"; *t; t++)
        printf(" %c %" PRIu64, *t, byType(rc.msgs, *t));
    printf("\n");
    if (gOps >= 40000) {
        assert_true(rc.orders >= 100000);
        for (const char *t = "HAECXDUQI"; *t; t++) /* S and R: once per run */
            if (byType(rc.msgs, *t) < 100)
                fail_msg("only %" PRIu64 " %c messages", byType(rc.msgs, *t), *t);
    }
}

/* ------------------------------------------------------------------------ */
/* pcap and expected decodings for tests/unit/feed_tshark.sh                */

static void put16le(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put32le(uint8_t *p, uint32_t v)
{
    put16le(p, (uint16_t)v);
    put16le(p + 2, (uint16_t)(v >> 16));
}

static uint16_t inetSum(const uint8_t *p, size_t n, uint32_t sum)
{
    for (size_t i = 0; i + 1 < n; i += 2)
        sum += (uint32_t)p[i] << 8 | p[i + 1];
    if (n & 1)
        sum += (uint32_t)p[n - 1] << 8;
    while (sum >> 16)
        sum = (sum & 0xFFFF) + (sum >> 16);
    return (uint16_t)sum;
}

/* Ethernet (to 01:00:5e:01:01:01), IPv4 198.18.0.1 -> 239.1.1.1, UDP 9100 -> 9100. */
static void writePcapFrame(session *s, const uint8_t *p, uint16_t len)
{
    uint8_t f[14 + 20 + 8 + FD_MTU_MAX];
    const uint8_t eth[14] = {0x01, 0x00, 0x5e, 0x01, 0x01, 0x01, 0x02,
                             0x00, 0x00, 0x00, 0x00, 0x01, 0x08, 0x00};
    memcpy(f, eth, 14);
    uint8_t *ip = f + 14, *udp = ip + 20;
    const uint8_t src[4] = {198, 18, 0, 1}, dst[4] = {239, 1, 1, 1};
    memset(ip, 0, 20);
    ip[0] = 0x45;
    itchPut16(ip + 2, (uint16_t)(20 + 8 + len));
    itchPut16(ip + 6, 0x4000); /* DF */
    ip[8] = 32;                /* TTL */
    ip[9] = 17;                /* UDP */
    memcpy(ip + 12, src, 4);
    memcpy(ip + 16, dst, 4);
    itchPut16(ip + 10, (uint16_t)~inetSum(ip, 20, 0));
    itchPut16(udp, 9100);
    itchPut16(udp + 2, 9100);
    itchPut16(udp + 4, (uint16_t)(8 + len));
    itchPut16(udp + 6, 0);
    memcpy(udp + 8, p, len);
    uint8_t pseudo[12];
    memcpy(pseudo, src, 4);
    memcpy(pseudo + 4, dst, 4);
    pseudo[8] = 0;
    pseudo[9] = 17;
    itchPut16(pseudo + 10, (uint16_t)(8 + len));
    uint16_t sum = inetSum(udp, 8 + (size_t)len, inetSum(pseudo, 12, 0));
    /* a computed 0 is sent as 0xFFFF (RFC 768): the sum was 0xFFFF */
    itchPut16(udp + 6, sum == 0xFFFF ? 0xFFFF : (uint16_t)~sum);
    uint32_t flen = 14 + 20 + 8 + (uint32_t)len;
    uint8_t rec[16];
    uint64_t t = UINT64_C(1736154000) * 1000000000u + s->pcapNs; /* 2025-01-06 09:00 UTC */
    s->pcapNs += 1000;
    put32le(rec, (uint32_t)(t / 1000000000u));
    put32le(rec + 4, (uint32_t)(t % 1000000000u));
    put32le(rec + 8, flen);
    put32le(rec + 12, flen);
    fwrite(rec, 1, 16, s->pcap);
    fwrite(f, 1, flen, s->pcap);
}

static void writePcapHeader(FILE *f)
{
    uint8_t h[24];
    put32le(h, 0xA1B23C4Du); /* nanosecond timestamps */
    put16le(h + 4, 2);
    put16le(h + 6, 4);
    put32le(h + 8, 0);
    put32le(h + 12, 0);
    put32le(h + 16, 65535);
    put32le(h + 20, 1); /* Ethernet */
    fwrite(h, 1, 24, f);
}

/* One line per message, the format itch50.lua's summary field uses. */
static void summaryOut(FILE *f, uint64_t seq, const itchMsg *m)
{
    char line[512];
    fbFormat(m, line, sizeof line);
    fprintf(f, "msg %" PRIu64 " %s\n", seq, line);
}

static void writeExpect(session *s, const uint8_t *p, uint16_t len)
{
    moldHeader h;
    if (moldParse(p, len, &h) != MOLD_OK)
        return;
    fprintf(s->expect, "pkt %.10s %" PRIu64 " %u\n", h.session, h.sequence, h.count);
    size_t off = MOLD_HEADER_SIZE, n;
    const uint8_t *msg;
    uint64_t seq = h.sequence;
    if (h.count == MOLD_HEARTBEAT || h.count == MOLD_END_OF_SESSION)
        return;
    while (moldNextMessage(p, len, &off, &msg, &n)) {
        itchMsg m;
        if (itchDecode(msg, n, &m) == ITCH_OK)
            summaryOut(s->expect, seq, &m);
        seq++;
    }
}

/* A day in miniature with every message type xchg sends (no F: the builder
 * does not attribute orders). Plain C, no cmocka assertions: used by --pcap
 * and by test_demo_session. Returns 0 when every step did what it should. */
static int demoSession(session *s)
{
    int bad = 0;
    uint64_t rng = 42;
    fdSystemEvent(s->fd, ITCH_EVENT_START_OF_MESSAGES, s->ns);
    fdDirectory(s->fd, s->ns);
    fdSystemEvent(s->fd, ITCH_EVENT_START_OF_SYSTEM_HOURS, s->ns);
    fdFlush(s->fd);
    fdHeartbeat(s->fd);
    /* pre-open on IF2501 and MAXP (the largest price), indicative, open */
    for (uint16_t ins = 0; ins < NINS; ins += 3) {
        s->ns += 1000;
        bad |= mtEngineSetState(s->eng, ins, MT_STATE_PRE_OPEN) != MT_OK;
        int64_t mid = kIns[ins].pre;
        for (int i = 0; i < 6; i++) {
            s->ns += 1000;
            bad |= newOrder(s, ins, MT_BUY, MT_LIMIT, MT_GFD, MT_VOL_ANY, mid + 2 - i, 3 + i, 0,
                            1) != MT_OK;
            bad |= newOrder(s, ins, MT_SELL, MT_LIMIT, MT_GFD, MT_VOL_ANY, mid - 2 + i, 4 + i, 0,
                            2) != MT_OK;
        }
        s->ns += 1000;
        bad |= mtEngineIndicate(s->eng, ins, NULL) != MT_OK;
    }
    fdSystemEvent(s->fd, ITCH_EVENT_START_OF_MARKET_HOURS, s->ns);
    for (uint16_t ins = 0; ins < NINS; ins++) {
        s->ns += 1000;
        bad |= mtEngineSetState(s->eng, ins, MT_STATE_CONTINUOUS) != MT_OK;
    }
    fdFlush(s->fd);
    /* continuous trading: adds, executions, partial cancels, replaces, deletes */
    randomCounts rc;
    memset(&rc, 0, sizeof rc);
    for (int i = 0; i < 400; i++) {
        randomOp(s, &rng, &rc);
        if (i % 8 == 0)
            fdFlush(s->fd);
    }
    for (uint16_t ins = 0; ins < NINS; ins++)
        if (mtEngineState(s->eng, ins) != MT_STATE_CONTINUOUS)
            mtEngineSetState(s->eng, ins, MT_STATE_CONTINUOUS);
    /* the largest ITCH price: 429496.7295, a GTC ask at MAXP's band top */
    s->ns += 1000;
    bad |= newOrder(s, 3, MT_SELL, MT_LIMIT, MT_GTC, MT_VOL_ANY, kIns[3].upper, 1, 0, 3) != MT_OK;
    /* a Trade message: an execution of an order the feed did not publish */
    mtEvent ev;
    memset(&ev, 0, sizeof ev);
    ev.type = MT_EV_FILL;
    ev.instrument = 2;
    ev.u.fill.tradeId = OID(999999);
    ev.u.fill.price = 1000000;
    ev.u.fill.qty = 5;
    ev.u.fill.aggressor = MT_BUY;
    ev.u.fill.orderId[0] = OID(888888);
    ev.u.fill.orderId[1] = OID(777777);
    fdOnEvent(s->fd, &ev, s->ns);
    fdFlush(s->fd);
    fdHeartbeat(s->fd);
    s->ns += 1000;
    fdSystemEvent(s->fd, ITCH_EVENT_END_OF_MARKET_HOURS, s->ns);
    for (uint16_t ins = 0; ins < NINS; ins++)
        mtEngineSetState(s->eng, ins, MT_STATE_CLOSED);
    fdSystemEvent(s->fd, ITCH_EVENT_END_OF_SYSTEM_HOURS, s->ns);
    fdEndSession(s->fd, s->ns);
    return bad || s->cl.errors;
}

static void test_demo_session(void **state)
{
    (void)state;
    session s;
    fdOptions o = {.historyDepth = 4096};
    assert_int_equal(sessionOpen(&s, &o, MT_STP_CANCEL_INCOMING, 10000), 0);
    assert_int_equal(demoSession(&s), 0);
    const char *types = "SRHAECXDUPQI";
    for (const char *t = types; *t; t++)
        if (byType(s.cl.byType, *t) == 0)
            fail_msg("the demo session sent no %c message", *t);
    assert_true(s.cl.heartbeats >= 2);
    assert_int_equal(s.cl.eos, 1);
    assert_int_equal(s.cl.errors, 0);
    assertBooksEqual(&s); /* closed: only GTC orders left */
    fdStats st;
    fdGetStats(s.fd, &st);
    assert_int_equal(st.unknownOrder, 1); /* the synthetic fill: both orders unknown */
    assert_int_equal(st.unexpected, 1);   /* and its taker was no pending order */
    sessionClose(&s);
}

static int writePcap(const char *path)
{
    char ex[1024];
    snprintf(ex, sizeof ex, "%s.expect", path);
    session s;
    fdOptions o = {.historyDepth = 4096};
    if (sessionOpen(&s, &o, MT_STP_CANCEL_INCOMING, 10000) != 0)
        return 1;
    s.pcap = fopen(path, "wb");
    s.expect = fopen(ex, "w");
    if (!s.pcap || !s.expect) {
        perror(path);
        if (s.pcap)
            fclose(s.pcap);
        if (s.expect)
            fclose(s.expect);
        s.pcap = s.expect = NULL;
        sessionClose(&s);
        return 1;
    }
    writePcapHeader(s.pcap);
    int bad = demoSession(&s);
    if (bad)
        fprintf(stderr, "test_feed --pcap: demo session failed: %s\n", s.cl.err);
    fclose(s.pcap);
    fclose(s.expect);
    s.pcap = s.expect = NULL;
    fdStats st;
    fdGetStats(s.fd, &st);
    printf("%s: %" PRIu64 " packets, %" PRIu64 " heartbeats, %" PRIu64 " end of session, %" PRIu64
           " messages\n",
           path, st.packets, st.heartbeats, st.endOfSession, st.messages);
    sessionClose(&s);
    return bad;
}

/* ------------------------------------------------------------------------ */
/* --bench: what the feed costs the worker                                  */

/* CPU time of this thread: other processes on the machine do not count. */
static uint64_t nowNs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t gSink;

static void sinkSend(void *ctx, const uint8_t *p, uint16_t len)
{
    (void)ctx;
    gSink += p[len - 1] + len;
}

typedef struct {
    fdFeed *fd;
    uint64_t events, ns;
} benchCtx;

static void benchEvent(void *ctx, const mtEvent *ev)
{
    benchCtx *b = ctx;
    b->events++;
    if (b->fd)
        fdOnEvent(b->fd, ev, b->ns);
}

/* variant 0: matcher alone; 1: with the feed, no history; 2: with the feed
 * and a 65536-message history. Returns ns per operation; *msgs gets the
 * messages sent. */
static const char *const kBenchVariant[] = {"matcher", "feed", "feed+history"};

static double benchRun(int variant, uint64_t n, int repeat, uint64_t *msgs)
{
    testCfg tc;
    cfgBuild(&tc, 1 << 20);
    benchCtx b = {0};
    fdOptions o = {.cfg = &tc.cfg,
                   .tradingDay = 20250106,
                   .send = sinkSend,
                   .historyDepth = variant == 2 ? 1 << 16 : 0};
    if (variant)
        b.fd = fdCreate(&o);
    mtEngineConfig ec = {.segmentId = SEG_ID,
                         .orderCapacity = 1 << 20,
                         .maxInstruments = NINS,
                         .stp = MT_STP_NONE,
                         .onEvent = benchEvent,
                         .eventCtx = &b};
    mtEngine *e = mtEngineCreate(&ec);
    for (uint16_t i = 0; i < NINS; i++) {
        mtBookConfig bc = {kIns[i].lower, kIns[i].upper, kIns[i].pre, 1, 10000};
        mtEngineAddInstrument(e, i, &bc);
        mtEngineSetState(e, i, MT_STATE_CONTINUOUS);
    }
    /* pregenerated operations: limit orders around the middle, cancels of
     * recent orders (ids are predictable: they count up) */
    typedef struct {
        uint8_t kind, side;
        uint16_t ins;
        int64_t price;
        uint32_t qty;
        uint64_t id;
    } benchOp;
    benchOp *ops = xcalloc(n, sizeof *ops);
    uint64_t rng = 7, accepted = 0;
    for (uint64_t i = 0; i < n; i++) {
        benchOp *op = &ops[i];
        op->ins = (uint16_t)rngBelow(&rng, NINS);
        int64_t mid = (kIns[op->ins].lower + kIns[op->ins].upper) / 2;
        if (rngBelow(&rng, 100) < 30 && accepted > 16) {
            op->kind = 1;
            op->id = OID(accepted - rngBelow(&rng, 16));
        } else {
            op->side = (uint8_t)rngBelow(&rng, 2);
            int64_t off = (int64_t)rngBelow(&rng, 8) - 1;
            op->price = op->side == MT_BUY ? mid - off : mid + off;
            op->qty = 1 + (uint32_t)rngBelow(&rng, 20);
            accepted++;
        }
    }
    uint64_t t0 = nowNs();
    for (uint64_t i = 0; i < n; i++) {
        const benchOp *op = &ops[i];
        b.ns += 1000;
        if (op->kind == 1) {
            mtEngineCancel(e, op->id, MT_ANY_ACCOUNT, 0);
        } else {
            mtNewOrder no = {.instrument = op->ins,
                             .side = op->side,
                             .priceType = MT_LIMIT,
                             .timeCondition = MT_GFD,
                             .price = op->price,
                             .qty = op->qty,
                             .account = 1};
            mtEngineNewOrder(e, &no);
        }
        if (b.fd && (i & 31) == 31)
            fdFlush(b.fd); /* one flush per 32-operation burst */
    }
    if (b.fd)
        fdFlush(b.fd);
    uint64_t t1 = nowNs();
    fdStats st;
    memset(&st, 0, sizeof st);
    if (b.fd)
        fdGetStats(b.fd, &st);
    double ns = (double)(t1 - t0) / (double)n;
    printf("{\"bench\":\"feed\",\"variant\":\"%s\",\"repeat\":%d,\"ops\":%" PRIu64
           ",\"events\":%" PRIu64 ",\"ns_per_op\":%.1f,\"messages\":%" PRIu64
           ",\"packets\":%" PRIu64 ",\"bytes_per_op\":%.1f}\n",
           kBenchVariant[variant], repeat, n, b.events, ns, st.messages, st.packets,
           (double)st.bytes / (double)n);
    *msgs = st.messages;
    free(ops);
    mtEngineDestroy(e);
    fdDestroy(b.fd);
    return ns;
}

/* Interleaved repeats; the minimum of each variant is the estimate. */
static int bench(uint64_t n)
{
    double best[3] = {1e30, 1e30, 1e30};
    uint64_t msgs = 0;
    for (int r = 0; r < 5; r++)
        for (int v = 0; v < 3; v++) {
            double ns = benchRun(v, n, r, &msgs);
            if (ns < best[v])
                best[v] = ns;
        }
    double perMsg = (double)n / (double)(msgs ? msgs : 1);
    printf("{\"bench\":\"feed-summary\",\"ops\":%" PRIu64 ",\"messages\":%" PRIu64
           ",\"matcher_ns_per_op\":%.1f,\"feed_ns_per_op\":%.1f,\"history_ns_per_op\":%.1f"
           ",\"feed_ns_per_message\":%.1f,\"feed_with_history_ns_per_message\":%.1f}\n",
           n, msgs, best[0], best[1] - best[0], best[2] - best[1], (best[1] - best[0]) * perMsg,
           (best[2] - best[0]) * perMsg);
    return gSink == 42; /* keep the sink */
}

/* ------------------------------------------------------------------------ */

static uint64_t envU64(const char *name, uint64_t def)
{
    const char *s = getenv(name);
    return s && *s ? strtoull(s, NULL, 0) : def;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--pcap") == 0)
        return writePcap(argv[2]);
    if (argc >= 2 && strcmp(argv[1], "--bench") == 0) {
        uint64_t n = argc >= 3 ? strtoull(argv[2], NULL, 0) : 2000000, msgs;
        if (argc >= 4) { /* one variant, for perf stat */
            benchRun((int)strtol(argv[3], NULL, 0) % 3, n ? n : 1, 0, &msgs);
            return gSink == 42;
        }
        return bench(n ? n : 1);
    }
    gSeed = envU64("XCHG_FEED_SEED", gSeed);
    gOps = envU64("XCHG_FEED_OPS", gOps);
    const struct CMUnitTest tests[] = {
        T(test_layouts),          T(test_decode_fields),
        T(test_decode_errors),    T(test_big_endian),
        T(test_mold_parse),       T(test_create_checks),
        T(test_session_name),     T(test_default_config),
        T(test_framing_mtu),      T(test_framing_default_mtu),
        T(test_heartbeat),        T(test_end_of_session),
        T(test_history),          T(test_scripted_continuous),
        T(test_scripted_auction), T(test_unknown_order_trade),
        T(test_demo_session),     T(test_random),
    };
    return cmocka_run_group_tests_name("feed", tests, NULL, NULL) ? 1 : 0;
}
