/* test_feedsrv.c -- the feed endpoints (dataplane/feedsrv.h) and the client book library
 * (feedbook.h).
 *
 * A real matcher with config/xchg.conf's instruments feeds an fsServer
 * through its event tap; the send callback records every datagram with its
 * destination. Checked: the start of day, packets to the group, ITCH
 * timestamps from the given midnight and their roll-over; retransmission
 * answers equal to the original messages, the cap per request, and
 * MoldUDP64's rules for not-yet-sent, gone, wrong-session and malformed
 * requests; the per-requester rate limit; snapshots (R, H, Add Orders in
 * priority order, End of Snapshot with the incremental sequence) from which
 * a late joiner's book equals the engine's after more trading, as does a
 * book built from the whole incremental feed; the end of the day; and
 * fbApply's refusals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "dataplane/feedsrv.h"
#include "matcher/matcher.h"
#include "xchg/feedbook.h"
#include "xchg/itch.h"

#define GROUP    0xEF010101u /* 239.1.1.1 */
#define CLIENT   0xC6120002u /* 198.18.0.2 */
#define MIDNIGHT UINT64_C(1700000000000000000)
#define T0       (MIDNIGHT + UINT64_C(34200000000000)) /* 09:30 */
#define MAX_PKTS (1 << 16)
#define MAX_LIVE (1 << 15)

typedef struct {
    uint32_t ip;
    uint16_t port, len;
    uint8_t *data;
} sent;

typedef struct {
    cfgConfig cfg;
    fsServer *fs;
    mtEngine *eng;
    uint64_t now;
    sent *pkts;
    size_t n;
    uint64_t live[MAX_LIVE];
    size_t nLive;
    uint64_t rng;
} fixture;

static void onSend(void *ctx, uint32_t ip, uint16_t port, const uint8_t *p, uint16_t len)
{
    fixture *f = ctx;
    assert_true(f->n < MAX_PKTS);
    sent *s = &f->pkts[f->n++];
    s->ip = ip;
    s->port = port;
    s->len = len;
    s->data = malloc(len);
    assert_non_null(s->data);
    memcpy(s->data, p, len);
}

static void onEvent(void *ctx, const mtEvent *ev)
{
    fixture *f = ctx;
    fsOnEvent(f->fs, ev, f->now);
    if (ev->type == MT_EV_ACCEPTED && f->nLive < MAX_LIVE)
        f->live[f->nLive++] = ev->u.accepted.orderId;
}

static void fxOpen(fixture *f, uint32_t history)
{
    memset(f, 0, sizeof *f);
    char err[512];
    if (cfgLoad("config/xchg.conf", &f->cfg, err, sizeof err) != 0)
        fail_msg("%s", err);
    cfgSegment *seg = &f->cfg.segments[0];
    seg->orderCapacity = 1 << 16;
    seg->feedHistory = history;
    f->pkts = calloc(MAX_PKTS, sizeof *f->pkts);
    f->now = T0;
    f->rng = 0x1234567;
    fsOptions o = {.cfg = &f->cfg,
                   .segment = 0,
                   .tradingDay = 20250106,
                   .midnightNs = MIDNIGHT,
                   .send = onSend,
                   .sendCtx = f};
    f->fs = fsCreate(&o);
    assert_non_null(f->fs);
    mtEngineConfig ec = {.segmentId = seg->id,
                         .orderCapacity = seg->orderCapacity,
                         .maxInstruments = seg->instrumentCount,
                         .stp = MT_STP_NONE,
                         .onEvent = onEvent,
                         .eventCtx = f};
    f->eng = mtEngineCreate(&ec);
    assert_non_null(f->eng);
    for (uint32_t i = 0; i < f->cfg.instrumentCount; i++) {
        const cfgInstrument *ci = &f->cfg.instruments[i];
        mtBookConfig bc = {ci->lowerTicks, ci->upperTicks, ci->preSettlementTicks, ci->minLots,
                           ci->maxLots};
        assert_int_equal(mtEngineAddInstrument(f->eng, ci->book, &bc), MT_OK);
    }
    fsStart(f->fs, f->now);
    for (uint16_t i = 0; i < seg->instrumentCount; i++)
        assert_int_equal(mtEngineSetState(f->eng, i, MT_STATE_CONTINUOUS), MT_OK);
    fsFlush(f->fs);
}

static void fxClose(fixture *f)
{
    for (size_t i = 0; i < f->n; i++)
        free(f->pkts[i].data);
    free(f->pkts);
    mtEngineDestroy(f->eng);
    fsDestroy(f->fs);
    cfgFree(&f->cfg);
}

static uint64_t rnd(fixture *f)
{
    f->rng ^= f->rng << 13;
    f->rng ^= f->rng >> 7;
    f->rng ^= f->rng << 17;
    return f->rng;
}

/* n random operations: limit orders around the reference (a quarter
 * crossing), cancels and replaces of accepted orders. */
static void trade(fixture *f, int n)
{
    for (int k = 0; k < n; k++) {
        f->now += 1000;
        uint64_t d = rnd(f) % 100;
        if (d < 20 && f->nLive) {
            mtEngineCancel(f->eng, f->live[rnd(f) % f->nLive], MT_ANY_ACCOUNT, 0);
        } else if (d < 30 && f->nLive) {
            uint64_t id = f->live[rnd(f) % f->nLive];
            mtOrderInfo oi;
            if (mtEngineOrderGet(f->eng, id, &oi) == MT_OK)
                mtEngineReplace(f->eng, id, MT_ANY_ACCOUNT, oi.price + (int64_t)(rnd(f) % 3) - 1,
                                (uint32_t)(1 + rnd(f) % 8), 0);
        } else {
            const cfgInstrument *ci = &f->cfg.instruments[rnd(f) % f->cfg.instrumentCount];
            mtNewOrder o = {.instrument = ci->book,
                            .side = rnd(f) % 2 ? MT_BUY : MT_SELL,
                            .qty = (uint32_t)(1 + rnd(f) % 8),
                            .account = (uint32_t)(1 + rnd(f) % 3)};
            int64_t away = (int64_t)(1 + rnd(f) % 10);
            if (rnd(f) % 4 == 0)
                away = -(int64_t)(rnd(f) % 3);
            o.price = ci->preSettlementTicks + (o.side == MT_BUY ? -away : away);
            mtEngineNewOrder(f->eng, &o);
        }
        if (k % 16 == 15)
            fsFlush(f->fs);
    }
    fsFlush(f->fs);
}

/* Messages of the multicast packets sent from index `from` on, by sequence
 * number, into book b (when not NULL); returns the next sequence number. */
static uint64_t applyFeed(fixture *f, size_t from, fbBook *b, uint64_t expect)
{
    for (size_t i = from; i < f->n; i++) {
        const sent *s = &f->pkts[i];
        if (s->ip != GROUP)
            continue;
        assert_int_equal(s->port, 9100);
        moldHeader h = {0};
        assert_int_equal(moldParse(s->data, s->len, &h), MOLD_OK);
        if (h.count == MOLD_HEARTBEAT || h.count == MOLD_END_OF_SESSION)
            continue;
        size_t off = MOLD_HEADER_SIZE, n;
        const uint8_t *m;
        uint64_t seq = h.sequence;
        while (moldNextMessage(s->data, s->len, &off, &m, &n)) {
            if (seq >= expect) {
                assert_int_equal(seq, expect);
                if (b && fbApply(b, seq, m, n) != FB_OK)
                    fail_msg("%s", fbLastError(b));
                expect++;
            }
            seq++;
        }
    }
    return expect;
}

typedef struct {
    mtOrderInfo o[MAX_LIVE];
    size_t n;
} visit;

static void onVisit(void *ctx, const mtOrderInfo *o)
{
    visit *v = ctx;
    v->o[v->n++] = *o;
}

/* Every book of b equals the engine's, order by order in priority order. */
static void assertBooks(fixture *f, fbBook *b)
{
    static visit v;
    static fbOrder fo[MAX_LIVE];
    size_t total = 0;
    for (uint32_t i = 0; i < f->cfg.instrumentCount; i++) {
        const cfgInstrument *ci = &f->cfg.instruments[i];
        for (int side = MT_BUY; side <= MT_SELL; side++) {
            v.n = 0;
            mtEngineForEachOrder(f->eng, ci->book, (mtSide)side, onVisit, &v);
            size_t n = fbOrders(b, ci->book, side == MT_BUY ? ITCH_BUY : ITCH_SELL, fo, MAX_LIVE);
            assert_int_equal(n, v.n);
            for (size_t k = 0; k < n; k++) {
                /* a snapshot carries a replaced order's current (derived) reference */
                if (!(fo[k].origin & FD_DERIVED_BIT))
                    assert_int_equal(fo[k].origin, v.o[k].orderId);
                assert_int_equal(fo[k].shares, v.o[k].leaves);
                assert_int_equal(fo[k].price, (uint64_t)v.o[k].price * (uint64_t)ci->tickSize);
            }
            total += n;
        }
    }
    fbStats st;
    fbGetStats(b, &st);
    assert_int_equal(st.orders, total);
    assert_int_equal(st.errors, 0);
}

static void request(fixture *f, const char *session, uint64_t seq, uint16_t count)
{
    uint8_t p[MOLD_HEADER_SIZE];
    moldPutHeader(p, session, seq, count);
    fsOnRequest(f->fs, CLIENT, 40000, p, sizeof p, f->eng, f->now);
}

static const char *sessionOf(fixture *f)
{
    return fdSession(fsFeed(f->fs));
}

/* ---- tests ------------------------------------------------------------------------ */

static void testStartOfDay(void **state)
{
    (void)state;
    static fixture f;
    fxOpen(&f, 1024);
    assert_true(f.n >= 1);
    fbBook *b = fbCreate(1024);
    uint64_t next = applyFeed(&f, 0, b, 1);
    fbStats st;
    fbGetStats(b, &st);
    /* O, R x4, H x4 (closed), S, then Q before the first CONTINUOUS and H x4 */
    assert_int_equal(st.byType['S' - 'A'], 3);
    assert_int_equal(st.byType['R' - 'A'], 4);
    assert_int_equal(st.byType['H' - 'A'], 8);
    assert_int_equal(next, 16);
    assert_int_equal(fbFindStock(b, "cu2501"), f.cfg.instruments[3].book);
    assert_int_equal(fbTradingState(b, 0), ITCH_STATE_TRADING);
    /* timestamps count from the given midnight */
    itchMsg m;
    assert_int_equal(itchDecode(f.pkts[0].data + MOLD_HEADER_SIZE + 2,
                                itchGet16(f.pkts[0].data + MOLD_HEADER_SIZE), &m),
                     ITCH_OK);
    assert_int_equal(m.type, 'S');
    assert_int_equal(m.u.systemEvent.eventCode, 'O');
    assert_int_equal(m.timestamp, T0 - MIDNIGHT);
    fsTick(f.fs, MIDNIGHT + FS_DAY_NS + 5); /* past the next midnight: restart at 0 */
    f.now = MIDNIGHT + FS_DAY_NS + 7;
    size_t at = f.n;
    trade(&f, 1);
    assert_true(f.n > at);
    assert_int_equal(itchDecode(f.pkts[at].data + MOLD_HEADER_SIZE + 2,
                                itchGet16(f.pkts[at].data + MOLD_HEADER_SIZE), &m),
                     ITCH_OK);
    assert_int_equal(m.timestamp, 7 + 1000); /* trade() advances the clock 1 us first */
    fbDestroy(b);
    fxClose(&f);
}

static void testRetransmit(void **state)
{
    (void)state;
    static fixture f;
    fxOpen(&f, 1 << 16);
    trade(&f, 2000);
    fsStats st;
    size_t at = f.n;
    request(&f, sessionOf(&f), 3, 5);
    assert_int_equal(f.n, at + 1);
    const sent *a = &f.pkts[at];
    assert_int_equal(a->ip, CLIENT);
    assert_int_equal(a->port, 40000);
    moldHeader h = {0};
    assert_int_equal(moldParse(a->data, a->len, &h), MOLD_OK);
    assert_int_equal(h.sequence, 3);
    assert_int_equal(h.count, 5);
    /* the same messages as the multicast packets carried */
    uint8_t buf[64];
    size_t off = MOLD_HEADER_SIZE, n;
    const uint8_t *m;
    uint64_t seq = 3;
    while (moldNextMessage(a->data, a->len, &off, &m, &n)) {
        int len = fdHistoryGet(fsFeed(f.fs), seq++, buf, sizeof buf);
        assert_int_equal(len, (int)n);
        assert_memory_equal(buf, m, n);
    }
    /* a large request: at most FS_MAX_PACKETS contiguous packets */
    at = f.n;
    request(&f, sessionOf(&f), 10, 60000);
    assert_int_equal(f.n - at, FS_MAX_PACKETS);
    uint64_t want = 10;
    for (size_t i = at; i < f.n; i++) {
        assert_int_equal(moldParse(f.pkts[i].data, f.pkts[i].len, &h), MOLD_OK);
        assert_int_equal(h.sequence, want);
        assert_true(f.pkts[i].len <= FD_MTU_DEFAULT - MOLD_IP_UDP_OVERHEAD);
        want += h.count;
    }
    /* the rules: not yet sent, wrong session, malformed: no answer */
    fdStats fdst;
    fdGetStats(fsFeed(f.fs), &fdst);
    at = f.n;
    request(&f, sessionOf(&f), fdst.nextSequence, 1);
    request(&f, "2099010100", 1, 1);
    uint8_t bad[MOLD_HEADER_SIZE + 1] = {0};
    fsOnRequest(f.fs, CLIENT, 40000, bad, sizeof bad, f.eng, f.now);
    request(&f, sessionOf(&f), 5, 0);
    request(&f, sessionOf(&f), 5, MOLD_END_OF_SESSION);
    assert_int_equal(f.n, at);
    fsGetStats(f.fs, &st);
    assert_int_equal(st.requests, 7);
    assert_int_equal(st.answered, 2);
    assert_int_equal(st.notYetSent, 1);
    assert_int_equal(st.wrongSession, 1);
    assert_int_equal(st.malformed, 3);
    assert_int_equal(st.retransPackets, 1 + FS_MAX_PACKETS);
    fxClose(&f);
}

static void testGone(void **state)
{
    (void)state;
    static fixture f;
    fxOpen(&f, 64); /* a short history */
    trade(&f, 500);
    uint64_t first, next;
    fdHistoryRange(fsFeed(f.fs), &first, &next);
    assert_true(first > 1);
    size_t at = f.n;
    request(&f, sessionOf(&f), first - 1, 10);
    assert_int_equal(f.n, at); /* gone: not answered */
    request(&f, sessionOf(&f), first, 1000);
    assert_true(f.n > at); /* what the history holds, from `first` on */
    uint64_t want = first;
    for (size_t i = at; i < f.n; i++) {
        moldHeader h = {0};
        assert_int_equal(moldParse(f.pkts[i].data, f.pkts[i].len, &h), MOLD_OK);
        assert_int_equal(h.sequence, want);
        want += h.count;
    }
    assert_int_equal(want, next);
    fsStats st;
    fsGetStats(f.fs, &st);
    assert_int_equal(st.gone, 1);
    assert_int_equal(st.answered, 1);
    fxClose(&f);
}

static void testRateLimit(void **state)
{
    (void)state;
    static fixture f;
    fxOpen(&f, 1024);
    trade(&f, 50);
    for (int i = 0; i < FS_REQ_BURST + 8; i++)
        request(&f, sessionOf(&f), 1, 1);
    fsStats st;
    fsGetStats(f.fs, &st);
    assert_int_equal(st.answered, FS_REQ_BURST);
    assert_int_equal(st.rateLimited, 8);
    f.now += 1000000000u / FS_REQ_RATE; /* one interval later: one more */
    request(&f, sessionOf(&f), 1, 1);
    request(&f, sessionOf(&f), 1, 1);
    fsGetStats(f.fs, &st);
    assert_int_equal(st.answered, FS_REQ_BURST + 1);
    /* another requester is not limited by the first */
    uint8_t p[MOLD_HEADER_SIZE];
    moldPutHeader(p, sessionOf(&f), 1, 1);
    fsOnRequest(f.fs, CLIENT + 1, 40000, p, sizeof p, f.eng, f.now);
    fsGetStats(f.fs, &st);
    assert_int_equal(st.answered, FS_REQ_BURST + 2);
    /* snapshots: FS_SNAPSHOT_BURST at once, then one per interval */
    f.now += UINT64_C(1000000000);
    uint64_t limited = st.rateLimited;
    for (int i = 0; i < FS_SNAPSHOT_BURST + 1; i++) {
        request(&f, sessionOf(&f), 0, 0);
        while (fsPump(f.fs) > 0) {
        }
    }
    fsGetStats(f.fs, &st);
    assert_int_equal(st.snapshots, FS_SNAPSHOT_BURST);
    assert_int_equal(st.rateLimited, limited + 1);
    f.now += FS_SNAPSHOT_INTERVAL_NS;
    request(&f, sessionOf(&f), 0, 0);
    fsGetStats(f.fs, &st);
    assert_int_equal(st.snapshots, FS_SNAPSHOT_BURST + 1);
    /* one snapshot at a time: while it is being sent, another is refused */
    f.now += FS_SNAPSHOT_INTERVAL_NS;
    request(&f, sessionOf(&f), 0, 0);
    fsGetStats(f.fs, &st);
    assert_int_equal(st.snapshots, FS_SNAPSHOT_BURST + 1);
    assert_int_equal(st.snapshotBusy, 1);
    size_t at = f.n;
    while (fsPump(f.fs) > 0) {
    }
    /* the pending one goes out (f.n grows in the send callback) */
    // cppcheck-suppress knownConditionTrueFalse
    assert_true(f.n > at);
    f.now += FS_SNAPSHOT_INTERVAL_NS;
    request(&f, sessionOf(&f), 0, 0);
    fsGetStats(f.fs, &st);
    assert_int_equal(st.snapshots, FS_SNAPSHOT_BURST + 2);
    fxClose(&f);
}

/* Applies the snapshot packets sent from index `from` to a fresh book;
 * returns the incremental sequence number of its End of Snapshot. */
static uint64_t applySnapshot(fixture *f, size_t from, fbBook *b)
{
    uint64_t local = 1, at = 0;
    for (size_t i = from; i < f->n && !at; i++) {
        const sent *s = &f->pkts[i];
        if (s->ip != CLIENT)
            continue;
        moldHeader h = {0};
        assert_int_equal(moldParse(s->data, s->len, &h), MOLD_OK);
        assert_memory_equal(h.session, sessionOf(f), MOLD_SESSION_LEN);
        assert_int_equal(h.sequence, local);
        size_t off = MOLD_HEADER_SIZE, n;
        const uint8_t *m;
        while (moldNextMessage(s->data, s->len, &off, &m, &n)) {
            if (itchGetEndOfSnapshot(m, n, &at) == 0) {
                assert_int_equal(off, s->len); /* the last message */
                break;
            }
            assert_int_not_equal(m[0], 'G');
            if (fbApply(b, local, m, n) != FB_OK)
                fail_msg("%s", fbLastError(b));
            local++;
        }
    }
    assert_true(at > 0);
    return at;
}

static void testSnapshotJoin(void **state)
{
    (void)state;
    static fixture f;
    fxOpen(&f, 1 << 16);
    fbBook *full = fbCreate(MAX_LIVE), *late = fbCreate(MAX_LIVE);
    assert_non_null(full);
    assert_non_null(late);
    trade(&f, 3000);
    fdStats fdst;
    fdGetStats(fsFeed(f.fs), &fdst);
    size_t at = f.n;
    request(&f, sessionOf(&f), 0, 0);
    assert_int_equal(f.n, at);    /* written, not sent yet */
    uint32_t left = fsPump(f.fs); /* at most FS_PUMP_PACKETS a call */
    assert_true(f.n - at <= FS_PUMP_PACKETS && f.n > at);
    while (left) {
        size_t before = f.n;
        left = fsPump(f.fs);
        // cppcheck-suppress duplicateExpression ; f.n grows in the send callback
        assert_true(f.n - before <= FS_PUMP_PACKETS);
    }
    uint64_t resume = applySnapshot(&f, at, late);
    assert_int_equal(resume, fdst.nextSequence);
    assertBooks(&f, late); /* the image itself */
    fbStats st;
    fbGetStats(late, &st);
    assert_int_equal(st.byType['R' - 'A'], 4);
    assert_int_equal(st.byType['H' - 'A'], 4);
    assert_int_equal(st.byType[0], st.orders); /* 'A' */
    assert_true(st.orders > 50);
    size_t more = f.n;
    trade(&f, 3000);
    applyFeed(&f, more, late, resume); /* the joiner continues from the incremental feed */
    assertBooks(&f, late);
    applyFeed(&f, 0, full, 1);
    assertBooks(&f, full);
    fdGetStats(fsFeed(f.fs), &fdst);
    assert_int_equal(fdst.unexpected, 0);
    assert_int_equal(fdst.unknownOrder, 0);
    assert_int_equal(fdst.snapshots, 1);
    assert_int_equal(fdst.snapshotMismatches, 0);
    fbDestroy(full);
    fbDestroy(late);
    fxClose(&f);
}

static void testEndOfDay(void **state)
{
    (void)state;
    static fixture f;
    fxOpen(&f, 1024);
    trade(&f, 10);
    size_t at = f.n;
    fsClose(f.fs, f.now);
    fsClose(f.fs, f.now); /* once */
    fbBook *b = fbCreate(1024);
    applyFeed(&f, 0, b, 1);
    fbStats st;
    fbGetStats(b, &st);
    assert_int_equal(st.byType['S' - 'A'], 6); /* O S Q M E C */
    const sent *last = &f.pkts[f.n - 1];
    assert_int_equal(itchGet16(last->data + MOLD_OFF_COUNT), MOLD_END_OF_SESSION);
    assert_true(f.n > at);
    /* events afterwards are not published; the timer repeats the end of session */
    at = f.n;
    trade(&f, 5);
    assert_int_equal(f.n, at);
    fsTick(f.fs, f.now + 1);
    fsTick(f.fs, f.now + 2 * UINT64_C(1000000000));
    assert_int_equal(f.n, at + 1);
    assert_int_equal(itchGet16(f.pkts[at].data + MOLD_OFF_COUNT), MOLD_END_OF_SESSION);
    fbDestroy(b);
    fxClose(&f);
}

static void testFeedbookErrors(void **state)
{
    (void)state;
    fbBook *b = fbCreate(2);
    itchMsg m = {.type = ITCH_ADD_ORDER, .locate = 1};
    m.u.addOrder = (itchAddOrder){.orderRef = 7, .side = ITCH_BUY, .shares = 5, .price = 100};
    memcpy(m.u.addOrder.stock, "IF2501  ", 8);
    uint8_t p[64];
    size_t n = itchEncode(&m, p, sizeof p);
    assert_int_equal(fbApply(b, 1, p, n), FB_OK);
    assert_int_equal(fbApply(b, 2, p, n), FB_EDUP);
    assert_non_null(strstr(fbLastError(b), "seq 2 A"));
    m.u.addOrder.orderRef = 8;
    n = itchEncode(&m, p, sizeof p);
    assert_int_equal(fbApply(b, 3, p, n), FB_OK);
    m.u.addOrder.orderRef = 9;
    n = itchEncode(&m, p, sizeof p);
    assert_int_equal(fbApply(b, 4, p, n), FB_EFULL);
    itchMsg e = {.type = ITCH_ORDER_EXECUTED, .locate = 1};
    e.u.executed = (itchOrderExecuted){.orderRef = 99, .shares = 1, .matchNumber = 1};
    n = itchEncode(&e, p, sizeof p);
    assert_int_equal(fbApply(b, 5, p, n), FB_EUNKNOWN);
    e.u.executed.orderRef = 7;
    e.u.executed.shares = 6;
    n = itchEncode(&e, p, sizeof p);
    assert_int_equal(fbApply(b, 6, p, n), FB_EBAD); /* more than the order has */
    e.locate = 2;
    e.u.executed.shares = 1;
    n = itchEncode(&e, p, sizeof p);
    assert_int_equal(fbApply(b, 7, p, n), FB_EBAD); /* wrong locate */
    assert_int_equal(fbApply(b, 8, p, 3), FB_EDECODE);
    e.locate = 1;
    e.u.executed.shares = 5;
    n = itchEncode(&e, p, sizeof p);
    assert_int_equal(fbApply(b, 9, p, n), FB_OK);
    fbOrder o;
    assert_int_equal(fbOrderGet(b, 7, &o), -1); /* fully executed: gone */
    assert_int_equal(fbOrderGet(b, 8, &o), 0);
    fbLevel lv[2];
    assert_int_equal(fbDepth(b, 1, ITCH_BUY, lv, 2), 1);
    assert_int_equal(lv[0].shares, 5);
    assert_int_equal(lv[0].orders, 1);
    fbStats st;
    fbGetStats(b, &st);
    assert_int_equal(st.errors, 6);
    assert_int_equal(st.printed, 5);
    assert_int_equal(st.orders, 1);
    fbReset(b);
    fbGetStats(b, &st);
    assert_int_equal(st.orders, 0);
    assert_int_equal(st.errors, 0);
    fbDestroy(b);
    /* End of Snapshot */
    uint8_t g[ITCH_END_OF_SNAPSHOT_SIZE];
    uint64_t v = 0;
    itchPutEndOfSnapshot(g, UINT64_C(18446744073709551615));
    assert_int_equal(itchGetEndOfSnapshot(g, sizeof g, &v), 0);
    assert_true(v == UINT64_MAX);
    itchPutEndOfSnapshot(g, 42);
    assert_memory_equal(g, "G00000000000000000042", sizeof g);
    assert_int_equal(itchGetEndOfSnapshot(g, sizeof g - 1, &v), -1);
    memcpy(g, "G                  42", sizeof g);
    assert_int_equal(itchGetEndOfSnapshot(g, sizeof g, &v), 0);
    assert_int_equal(v, 42);
    memcpy(g, "G99999999999999999999", sizeof g); /* above 64 bits */
    assert_int_equal(itchGetEndOfSnapshot(g, sizeof g, &v), -1);
    memcpy(g, "G0000000000000000004x", sizeof g);
    assert_int_equal(itchGetEndOfSnapshot(g, sizeof g, &v), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(testStartOfDay),     cmocka_unit_test(testRetransmit),
        cmocka_unit_test(testGone),           cmocka_unit_test(testRateLimit),
        cmocka_unit_test(testSnapshotJoin),   cmocka_unit_test(testEndOfDay),
        cmocka_unit_test(testFeedbookErrors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
