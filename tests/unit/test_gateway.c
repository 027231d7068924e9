/* test_gateway.c -- unit tests of dataplane/gateway.c against docs/protocol/xoe.md §5.13, §6-§9.
 *
 * Each test builds a gateway for segment 0 of config/xchg.conf (cfgLoad),
 * with a send callback that decodes every datagram the gateway emits with
 * xoeFrameParse (a frame that does not parse, or is longer than
 * XOE_FRAME_MAX, fails the test) and logs its messages with the address
 * they went to.
 *
 * Conventions:
 *  - Clients A..E are sessions 1..5 at their own addresses; A and C share
 *    account 100 (so self-trade prevention, cancel_incoming in the config,
 *    applies between them); D may only log on from 198.18.0.5.
 *  - want(fx, c, TYPE) takes the next message sent to client c and checks
 *    its type and frame session; every new (not resent) application message
 *    taken is checked to carry c's next outbound number, so numbering is
 *    verified everywhere. wantNone(fx, c) asserts nothing more went to c.
 *  - Instrument 0 is IF2501 (tick 0.2 = 2000 units, band 3420.0..4180.0),
 *    instrument 3 is cu2501 (tick 10, lots 1..500). PX(38002) is 3800.2.
 *  - Teardown checks that every datagram was counted exactly once and that
 *    the gateway's order refs match the matcher's resting orders. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "config/config.h"
#include "dataplane/gateway.h"

#define T0  UINT64_C(1759714200000000000) /* 2025-10-06 01:30:00 UTC */
#define SEC UINT64_C(1000000000)
#define MS  UINT64_C(1000000)
#define US  UINT64_C(1000)
#define DAY 20251006u

#define IF     0
#define CU     3
#define PX(t)  ((int64_t)(t)*1000) /* IF price from tenths: PX(38002) = 3800.2 */
#define SEGID  0
#define OID(n) ((uint64_t)SEGID << 56 | (uint64_t)(n))
#define TID(n) ((uint64_t)SEGID << 56 | (uint64_t)(n))

#define NCLIENTS 5
#define MAX_OUT  (1u << 17)

enum { A = 0, B = 1, C = 2, D = 3, E = 4 };

/* ------------------------------------------------------------------------ */
/* Fixture                                                                   */

typedef struct {
    gwAddr to;
    uint8_t flags;
    uint32_t session;
    uint64_t seq; /* the message's number (application) or its frame's seq */
    xoeMsg m;
} Out;

typedef struct {
    uint32_t session, account;
    gwAddr addr;
    uint8_t token[XOE_TOKEN_SIZE];
    uint64_t seq;    /* next inbound number to send */
    uint64_t expect; /* next new outbound number */
    size_t rd;       /* read cursor in Fx.out */
} Cl;

typedef struct Fx Fx;
typedef void OutHook(Fx *fx, const Out *o);

struct Fx {
    cfgConfig cfg; /* as loaded */
    cfgConfig use; /* what the gateway was built from */
    cfgSegment seg;
    gwGateway *gw;
    uint64_t now;
    Out *out;
    size_t nOut;
    uint64_t datagrams, sent; /* received by the test's callback; given to gwOnDatagram */
    OutHook *hook;            /* set: messages go to it instead of the log */
    void *hookCtx;
    Cl cl[NCLIENTS];
    struct {
        uint16_t instrument;
        int64_t price;
        uint32_t qty;
        uint8_t aggressor, offset[2];
        uint64_t nowNs;
    } trades[8]; /* what the gwTradeFn hook received */
    int nTrades;
    uint32_t matchEvery; /* gwOptions.matchSampleEvery of the next fxBuild (0: 1) */
};

static void onTrade(void *ctx, uint16_t instrument, int64_t price, uint32_t qty, uint8_t aggressor,
                    const uint8_t offset[2], uint64_t nowNs)
{
    Fx *fx = ctx;
    if (fx->nTrades >= 8) /* other tests trade more: only the first 8 are kept */
        return;
    fx->trades[fx->nTrades].instrument = instrument;
    fx->trades[fx->nTrades].price = price;
    fx->trades[fx->nTrades].qty = qty;
    fx->trades[fx->nTrades].aggressor = aggressor;
    fx->trades[fx->nTrades].offset[0] = offset[0];
    fx->trades[fx->nTrades].offset[1] = offset[1];
    fx->trades[fx->nTrades++].nowNs = nowNs;
}

static void onSend(void *ctx, gwAddr to, const uint8_t *data, uint16_t len)
{
    Fx *fx = ctx;
    xoeFrame f;
    xoeErrorInfo ei;
    assert_true(len <= XOE_FRAME_MAX);
    int rc = xoeFrameParse(data, len, XOE_DIR_TO_CLIENT, &f, &ei);
    if (rc != XOE_OK) {
        fail_msg("gateway sent an invalid frame: %s at %u", xoeErrorName(rc), ei.offset);
        return;
    }
    if (f.sequenced == 0)
        assert_int_equal(f.flags, 0);
    fx->datagrams++;
    xoeIter it;
    Out o;
    xoeIterInit(&it, &f);
    while (xoeIterNext(&it, &o.m)) {
        o.to = to;
        o.flags = f.flags;
        o.session = f.session;
        o.seq = o.m.seq ? o.m.seq : f.seq;
        if (fx->hook) {
            fx->hook(fx, &o);
            continue;
        }
        assert_true(fx->nOut < MAX_OUT);
        fx->out[fx->nOut++] = o;
    }
}

static gwAddr addr(uint8_t host, uint16_t port)
{
    gwAddr a = {(198u << 24) | (18u << 16) | host, port};
    return a;
}

static int addrEq(gwAddr a, gwAddr b)
{
    return a.ip == b.ip && a.port == b.port;
}

static void tokenOf(uint32_t session, uint8_t *t)
{
    for (int i = 0; i < XOE_TOKEN_SIZE; i++)
        t[i] = (uint8_t)(session * 31u + (unsigned)i * 7u + 1u);
}

/* The gateway's cycle counter in these tests: every read advances it by
 * 1000, so each timed matcher call measures exactly 1000 cycles. */
static uint64_t fakeCycles;
static uint64_t fakeCycleRead(void)
{
    return fakeCycles += 1000;
}

/* Builds the gateway from fx->use; adds clients A..E. */
static void fxBuild(Fx *fx, uint32_t historyDepth, uint32_t maxSessions)
{
    static const uint32_t accounts[NCLIENTS] = {100, 200, 100, 400, 300};
    gwOptions o = {.cfg = &fx->use,
                   .segment = 0,
                   .maxSessions = maxSessions,
                   .historyDepth = historyDepth,
                   .tradingDay = DAY,
                   .send = onSend,
                   .sendCtx = fx,
                   .onTrade = onTrade,
                   .tradeCtx = fx,
                   .cycles = fakeCycleRead,
                   .matchSampleEvery = fx->matchEvery ? fx->matchEvery : 1};
    fx->nTrades = 0;
    fx->gw = gwCreate(&o);
    assert_non_null(fx->gw);
    for (int i = 0; i < NCLIENTS; i++) {
        Cl *c = &fx->cl[i];
        memset(c, 0, sizeof *c);
        c->session = (uint32_t)i + 1;
        c->account = accounts[i];
        c->addr = addr((uint8_t)(2 + i), (uint16_t)(40001 + i));
        tokenOf(c->session, c->token);
        c->seq = 1;
        c->expect = 1;
        c->rd = fx->nOut;
        uint32_t allowed = i == D ? addr(5, 0).ip : 0;
        assert_int_equal(gwSessionAdd(fx->gw, c->session, c->token, c->account, allowed), 0);
    }
}

/* Replaces the gateway with one whose segment holds orderCapacity orders and
 * whose sessions have this throttle and history depth. */
static void fxRebuild(Fx *fx, uint32_t orderCapacity, uint32_t throttle, uint32_t historyDepth)
{
    gwDestroy(fx->gw);
    fx->seg.orderCapacity = orderCapacity;
    fx->use.risk.throttle = throttle;
    fx->nOut = 0;
    fxBuild(fx, historyDepth, 16);
}

static int setup(void **state)
{
    Fx *fx = calloc(1, sizeof *fx);
    char err[256];
    assert_non_null(fx);
    fx->out = calloc(MAX_OUT, sizeof *fx->out);
    assert_non_null(fx->out);
    if (cfgLoad("config/xchg.conf", &fx->cfg, err, sizeof err) != 0)
        fail_msg("config/xchg.conf: %s", err);
    fx->use = fx->cfg;
    fx->seg = fx->cfg.segments[0];
    fx->seg.orderCapacity = 4096; /* keeps each test's matcher small */
    fx->use.segments = &fx->seg;
    fx->now = T0;
    fxBuild(fx, 1024, 16);
    *state = fx;
    return 0;
}

/* Every datagram counted once; refs match resting orders. */
static void checkInvariants(Fx *fx)
{
    gwStats st;
    mtStats ms;
    gwGetStats(fx->gw, &st);
    mtEngineGetStats(gwEngine(fx->gw), &ms);
    uint64_t sum = st.datagramsProcessed + st.unknownSession + st.wrongAddress + st.notLoggedOn +
                   st.logonThrottled;
    for (int i = 0; i < 32; i++)
        sum += st.malformed[i];
    assert_int_equal(st.datagramsIn, fx->sent);
    assert_int_equal(sum, st.datagramsIn);
    assert_int_equal(st.datagramsOut, fx->datagrams);
    assert_int_equal(st.orderRefs, ms.ordersResting);
}

static int teardown(void **state)
{
    Fx *fx = *state;
    checkInvariants(fx);
    gwDestroy(fx->gw);
    cfgFree(&fx->cfg);
    free(fx->out);
    free(fx);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Client side                                                               */

typedef struct {
    uint8_t buf[XOE_FRAME_MAX + 64];
    xoeWriter w;
} Fr;

static void frInit(Fr *f, uint32_t session, uint64_t seq)
{
    assert_int_equal(xoeWriterInit(&f->w, f->buf, XOE_FRAME_MAX, session, seq, 0), XOE_OK);
}

static void frAdd(Fr *f, uint8_t type, const void *m)
{
    assert_int_equal(xoeAppend(&f->w, type, m), XOE_OK);
}

static void rawSend(Fx *fx, gwAddr from, const uint8_t *data, size_t len)
{
    fx->sent++;
    gwOnDatagram(fx->gw, from, data, (uint16_t)len, fx->now);
    gwFlush(fx->gw);
}

static void frSend(Fx *fx, Fr *f, gwAddr from)
{
    size_t len = xoeWriterFinish(&f->w);
    assert_true(len > 0);
    rawSend(fx, from, f->buf, len);
}

/* Sends one message in a frame numbered from c's next inbound number. */
static void clSend(Fx *fx, Cl *c, uint8_t type, const void *m)
{
    Fr f;
    frInit(&f, c->session, c->seq);
    frAdd(&f, type, m);
    c->seq += (uint64_t)xoeIsSequenced(type);
    frSend(fx, &f, c->addr);
}

static void clLogonFull(Fx *fx, Cl *c, gwAddr from, uint32_t hbMs, uint64_t nextOutSeq)
{
    xoeLogon l = {.heartbeatMs = hbMs, .nextOutSeq = nextOutSeq};
    Fr f;
    memcpy(l.token, c->token, XOE_TOKEN_SIZE);
    frInit(&f, c->session, c->seq);
    frAdd(&f, XOE_MSG_LOGON, &l);
    frSend(fx, &f, from);
}

static void clLogonSend(Fx *fx, Cl *c)
{
    clLogonFull(fx, c, c->addr, 1000, 0);
}

static xoeNewOrder nord(uint16_t inst, uint8_t side, int64_t price, uint32_t qty, uint64_t clOrdId)
{
    xoeNewOrder o = {.instrument = inst,
                     .side = side,
                     .offset = XOE_OPEN,
                     .clOrdId = clOrdId,
                     .price = price,
                     .qty = qty,
                     .priceType = XOE_LIMIT,
                     .timeCondition = XOE_GFD,
                     .volumeCondition = XOE_VOL_ANY};
    return o;
}

static void clOrder(Fx *fx, Cl *c, uint16_t inst, uint8_t side, int64_t price, uint32_t qty,
                    uint64_t clOrdId)
{
    xoeNewOrder o = nord(inst, side, price, qty, clOrdId);
    clSend(fx, c, XOE_MSG_NEW_ORDER, &o);
}

static void clCancel(Fx *fx, Cl *c, uint64_t orderId, uint64_t clOrdId)
{
    xoeCancel m = {.clOrdId = clOrdId, .orderId = orderId};
    clSend(fx, c, XOE_MSG_CANCEL, &m);
}

static void clReplace(Fx *fx, Cl *c, uint64_t orderId, int64_t price, uint32_t qty,
                      uint64_t clOrdId)
{
    xoeReplace m = {.qty = qty, .clOrdId = clOrdId, .orderId = orderId, .price = price};
    clSend(fx, c, XOE_MSG_REPLACE, &m);
}

static void clHeartbeat(Fx *fx, Cl *c)
{
    xoeHeartbeat h = {.reserved = 0};
    clSend(fx, c, XOE_MSG_HEARTBEAT, &h);
}

static void clRetransmit(Fx *fx, Cl *c, uint64_t fromSeq, uint32_t count)
{
    xoeRetransmitRequest r = {.count = count, .fromSeq = fromSeq};
    clSend(fx, c, XOE_MSG_RETRANSMIT_REQUEST, &r);
}

/* Takes the next message sent to c's address, or NULL. */
static const Out *take(Fx *fx, Cl *c)
{
    for (size_t i = c->rd; i < fx->nOut; i++) {
        const Out *o = &fx->out[i];
        if (!addrEq(o->to, c->addr))
            continue;
        c->rd = i + 1;
        assert_int_equal(o->session, c->session);
        if (xoeIsSequenced(o->m.type) && !(o->flags & XOE_FLAG_RETRANSMIT)) {
            if (o->seq != c->expect)
                fail_msg("session %u: %s numbered %llu, expected %llu", c->session,
                         xoeTypeName(o->m.type), (unsigned long long)o->seq,
                         (unsigned long long)c->expect);
            c->expect++;
        }
        return o;
    }
    return NULL;
}

static const Out *wantOut(Fx *fx, Cl *c, uint8_t type)
{
    const Out *o = take(fx, c);
    if (!o)
        fail_msg("session %u: expected %s, got nothing", c->session, xoeTypeName(type));
    if (o->m.type != type)
        fail_msg("session %u: expected %s, got %s", c->session, xoeTypeName(type),
                 xoeTypeName(o->m.type));
    return o;
}

static const xoeMsg *want(Fx *fx, Cl *c, uint8_t type)
{
    return &wantOut(fx, c, type)->m;
}

static void wantNone(Fx *fx, Cl *c)
{
    const Out *o = take(fx, c);
    if (o)
        fail_msg("session %u: unexpected %s", c->session, xoeTypeName(o->m.type));
}

static void skipAll(Fx *fx, Cl *c)
{
    while (take(fx, c))
        ;
}

static void logon(Fx *fx, Cl *c)
{
    clLogonSend(fx, c);
    want(fx, c, XOE_MSG_LOGON_ACCEPTED);
    wantNone(fx, c);
}

static void logonAll(Fx *fx)
{
    for (int i = 0; i < NCLIENTS; i++) {
        Cl *c = &fx->cl[i];
        if (i == D)
            c->addr = addr(5, c->addr.port);
        logon(fx, c);
    }
}

static void tradeAll(Fx *fx)
{
    for (uint16_t i = 0; i < 4; i++)
        assert_int_equal(gwSetState(fx->gw, i, MT_STATE_CONTINUOUS, fx->now), MT_OK);
}

/* Places a LIMIT GFD order and takes its Accepted; returns the order id. */
static uint64_t place(Fx *fx, Cl *c, uint16_t inst, uint8_t side, int64_t price, uint32_t qty,
                      uint64_t clOrdId)
{
    clOrder(fx, c, inst, side, price, qty, clOrdId);
    const xoeMsg *m = want(fx, c, XOE_MSG_ACCEPTED);
    assert_int_equal(m->u.accepted.clOrdId, clOrdId);
    return m->u.accepted.orderId;
}

static void wantRejected(Fx *fx, Cl *c, uint16_t code, uint64_t clOrdId)
{
    const xoeMsg *m = want(fx, c, XOE_MSG_REJECTED);
    assert_int_equal(m->u.rejected.code, code);
    assert_int_equal(m->u.rejected.clOrdId, clOrdId);
    assert_int_equal(m->u.rejected.timestamp, fx->now);
}

static void wantCancelRejected(Fx *fx, Cl *c, uint16_t code, uint8_t op, uint64_t clOrdId,
                               uint64_t orderId)
{
    const xoeMsg *m = want(fx, c, XOE_MSG_CANCEL_REJECTED);
    assert_int_equal(m->u.cancelRejected.code, code);
    assert_int_equal(m->u.cancelRejected.op, op);
    assert_int_equal(m->u.cancelRejected.clOrdId, clOrdId);
    assert_int_equal(m->u.cancelRejected.orderId, orderId);
}

static const xoeExecuted *wantExec(Fx *fx, Cl *c, uint8_t liquidity, uint64_t clOrdId, uint32_t qty,
                                   uint32_t leaves)
{
    const xoeMsg *m = want(fx, c, XOE_MSG_EXECUTED);
    assert_int_equal(m->u.executed.liquidity, liquidity);
    assert_int_equal(m->u.executed.clOrdId, clOrdId);
    assert_int_equal(m->u.executed.qty, qty);
    assert_int_equal(m->u.executed.leaves, leaves);
    assert_int_equal(m->u.executed.commission, 0);
    assert_int_equal(m->u.executed.timestamp, fx->now);
    return &m->u.executed;
}

static const xoeSessionReject *wantSessionReject(Fx *fx, Cl *c, uint8_t reason, uint64_t expected,
                                                 uint64_t received)
{
    const xoeMsg *m = want(fx, c, XOE_MSG_SESSION_REJECT);
    assert_int_equal(m->u.sessionReject.reason, reason);
    assert_int_equal(m->u.sessionReject.expectedSeq, expected);
    assert_int_equal(m->u.sessionReject.receivedSeq, received);
    return &m->u.sessionReject;
}

static const xoeRetransmitEnd *wantRetransmitEnd(Fx *fx, Cl *c, uint32_t sent, uint8_t flags,
                                                 uint64_t firstSeq)
{
    const xoeMsg *m = want(fx, c, XOE_MSG_RETRANSMIT_END);
    assert_int_equal(m->u.retransmitEnd.sent, sent);
    assert_int_equal(m->u.retransmitEnd.flags, flags);
    assert_int_equal(m->u.retransmitEnd.firstSeq, firstSeq);
    return &m->u.retransmitEnd;
}

static gwStats stats(const Fx *fx)
{
    gwStats st;
    gwGetStats(fx->gw, &st);
    return st;
}

static gwSessionInfo info(const Fx *fx, uint32_t session)
{
    gwSessionInfo all[32];
    uint32_t n = gwSessionList(fx->gw, all, 32);
    for (uint32_t i = 0; i < n; i++)
        if (all[i].sessionId == session)
            return all[i];
    fail_msg("session %u not listed", session);
    return all[0];
}

static uint64_t depthQty(const Fx *fx, uint16_t inst, mtSide side, uint32_t level)
{
    mtDepthLevel lv[8];
    uint32_t n = mtEngineDepth(gwEngine(fx->gw), inst, side, lv, 8);
    return level < n ? lv[level].qty : 0;
}

static void advance(Fx *fx, uint64_t ns)
{
    fx->now += ns;
}

/* ------------------------------------------------------------------------ */
/* Creation and the session table                                            */

static void test_create_rejects_bad_options(void **state)
{
    Fx *fx = *state;
    gwOptions o = {.cfg = &fx->use,
                   .segment = 0,
                   .maxSessions = 4,
                   .historyDepth = 64,
                   .tradingDay = DAY,
                   .send = onSend,
                   .sendCtx = fx};
    assert_null(gwCreate(NULL));
    gwOptions bad = o;
    bad.cfg = NULL;
    assert_null(gwCreate(&bad));
    bad = o;
    bad.segment = 1;
    assert_null(gwCreate(&bad));
    bad = o;
    bad.maxSessions = 0;
    assert_null(gwCreate(&bad));
    bad = o;
    bad.historyDepth = 48;
    assert_null(gwCreate(&bad));
    bad = o;
    bad.historyDepth = 0;
    assert_null(gwCreate(&bad));
    bad = o;
    bad.send = NULL;
    assert_null(gwCreate(&bad));
    gwGateway *gw = gwCreate(&o);
    assert_non_null(gw);
    gwDestroy(gw);
    gwDestroy(NULL);
}

static void test_create_from_loaded_config(void **state)
{
    Fx *fx = *state;
    /* the config as loaded: a million-order pool */
    gwOptions o = {.cfg = &fx->cfg,
                   .segment = 0,
                   .maxSessions = 2,
                   .historyDepth = 65536,
                   .tradingDay = DAY,
                   .send = onSend,
                   .sendCtx = fx};
    gwGateway *gw = gwCreate(&o);
    assert_non_null(gw);
    mtStats ms;
    mtEngineGetStats(gwEngine(gw), &ms);
    assert_int_equal(ms.poolCapacity, fx->cfg.segments[0].orderCapacity);
    for (uint16_t i = 0; i < 4; i++)
        assert_int_equal(mtEngineState(gwEngine(gw), i), MT_STATE_CLOSED);
    assert_int_equal(mtEngineState(gwEngine(gw), 4), -1);
    gwDestroy(gw);
}

static void test_session_table(void **state)
{
    Fx *fx = *state;
    uint8_t t[XOE_TOKEN_SIZE] = {0};
    assert_int_equal(gwSessionAdd(fx->gw, 1, t, 1, 0), -1); /* exists */
    uint32_t n = NCLIENTS;
    for (uint32_t id = 1000; n < 16; id += 977, n++)
        assert_int_equal(gwSessionAdd(fx->gw, id, t, 9, 0), 0);
    assert_int_equal(gwSessionAdd(fx->gw, 7, t, 9, 0), -1); /* full */
    gwSessionInfo all[20];
    assert_int_equal(gwSessionList(fx->gw, all, 20), 16);
    assert_int_equal(gwSessionList(fx->gw, all, 3), 3);
    assert_int_equal(all[1].sessionId, 2);
    assert_int_equal(all[1].account, 200);
    assert_int_equal(all[1].state, GW_SESSION_IDLE);
    assert_int_equal(all[1].nextInSeq, 1);
    assert_int_equal(all[1].nextOutSeq, 1);
    assert_int_equal(gwSessionKick(fx->gw, 4242, fx->now), -1);
    assert_int_equal(gwSessionEnable(fx->gw, 4242), -1);
}

/* ------------------------------------------------------------------------ */
/* Logon (§8.1)                                                              */

static void test_logon_ok(void **state)
{
    Fx *fx = *state;
    Cl *a = &fx->cl[A];
    clLogonSend(fx, a);
    const Out *o = wantOut(fx, a, XOE_MSG_LOGON_ACCEPTED);
    const xoeLogonAccepted *la = &o->m.u.logonAccepted;
    assert_int_equal(la->heartbeatMs, 1000);
    assert_int_equal(la->nextInSeq, 1);
    assert_int_equal(la->nextOutSeq, 1);
    assert_int_equal(la->tradingDay, DAY);
    assert_int_equal(la->segment, SEGID);
    assert_int_equal(o->seq, 1); /* a frame without application messages: the next number */
    assert_int_equal(o->flags, 0);
    wantNone(fx, a);
    gwSessionInfo si = info(fx, 1);
    assert_int_equal(si.state, GW_SESSION_LOGGED_ON);
    assert_true(addrEq(si.bound, a->addr));
    assert_int_equal(stats(fx).logons, 1);
    /* heartbeat intervals are clamped */
    clLogonFull(fx, &fx->cl[B], fx->cl[B].addr, 5, 0);
    assert_int_equal(want(fx, &fx->cl[B], XOE_MSG_LOGON_ACCEPTED)->u.logonAccepted.heartbeatMs,
                     100);
    clLogonFull(fx, &fx->cl[E], fx->cl[E].addr, 100000, 0);
    assert_int_equal(want(fx, &fx->cl[E], XOE_MSG_LOGON_ACCEPTED)->u.logonAccepted.heartbeatMs,
                     60000);
}

static void test_logon_bad_token(void **state)
{
    Fx *fx = *state;
    Cl *a = &fx->cl[A];
    a->token[3] ^= 0x40;
    clLogonSend(fx, a);
    const Out *o = wantOut(fx, a, XOE_MSG_LOGON_REJECTED);
    assert_int_equal(o->m.u.logonRejected.code, XOE_CODE_AUTH);
    assert_int_equal(o->seq, 0); /* nothing told to whoever lacks the token */
    wantNone(fx, a);
    assert_int_equal(info(fx, 1).state, GW_SESSION_IDLE);
    assert_int_equal(stats(fx).logonRejects, 1);
    a->token[3] ^= 0x40;
    advance(fx, SEC);
    logon(fx, a);
}

static void test_logon_unknown_session(void **state)
{
    Fx *fx = *state;
    Cl x = fx->cl[A];
    x.session = 99;
    clLogonSend(fx, &x);
    assert_int_equal(want(fx, &x, XOE_MSG_LOGON_REJECTED)->u.logonRejected.code, XOE_CODE_AUTH);
    wantNone(fx, &x);
    /* a non-logon frame for an unknown session is dropped */
    clHeartbeat(fx, &x);
    wantNone(fx, &x);
    assert_int_equal(stats(fx).unknownSession, 1);
}

static void test_logon_allowed_ip(void **state)
{
    Fx *fx = *state;
    Cl *d = &fx->cl[D]; /* only from 198.18.0.5 */
    d->addr = addr(9, 5000);
    clLogonSend(fx, d);
    assert_int_equal(want(fx, d, XOE_MSG_LOGON_REJECTED)->u.logonRejected.code, XOE_CODE_AUTH);
    advance(fx, SEC);
    d->addr = addr(5, 5001); /* any port of the allowed address */
    logon(fx, d);
}

static void test_logon_rate_limit(void **state)
{
    Fx *fx = *state;
    Cl *a = &fx->cl[A];
    a->token[0] ^= 1;
    clLogonSend(fx, a);
    want(fx, a, XOE_MSG_LOGON_REJECTED);
    a->token[0] ^= 1;
    advance(fx, 999 * MS); /* within the second: dropped, even with the right token */
    clLogonSend(fx, a);
    wantNone(fx, a);
    assert_int_equal(stats(fx).logonThrottled, 1);
    assert_int_equal(info(fx, 1).state, GW_SESSION_IDLE);
    advance(fx, MS);
    logon(fx, a);
    /* a repeated logon within the second is dropped too */
    advance(fx, 10 * MS);
    clLogonSend(fx, a);
    wantNone(fx, a);
    assert_int_equal(stats(fx).logonThrottled, 2);
}

static void test_logon_takeover(void **state)
{
    Fx *fx = *state;
    Cl *a = &fx->cl[A];
    logon(fx, a);
    tradeAll(fx);
    Cl old = *a;
    advance(fx, SEC);
    a->addr = addr(2, 50000); /* a restarted client: new port */
    clLogonSend(fx, a);
    assert_int_equal(want(fx, &old, XOE_MSG_LOGGED_OUT)->u.loggedOut.reason, XOE_LOGOUT_SUPERSEDED);
    wantNone(fx, &old);
    want(fx, a, XOE_MSG_LOGON_ACCEPTED);
    wantNone(fx, a);
    assert_true(addrEq(info(fx, 1).bound, a->addr));
    /* the old address is dropped and counted */
    clOrder(fx, &old, IF, XOE_BUY, PX(38000), 1, 1);
    wantNone(fx, &old);
    wantNone(fx, a);
    assert_int_equal(stats(fx).wrongAddress, 1);
    a->seq = 1;
    place(fx, a, IF, XOE_BUY, PX(38000), 1, 1);
}

static void test_logon_repeat_and_replay(void **state)
{
    Fx *fx = *state;
    Cl *a = &fx->cl[A];
    logon(fx, a);
    tradeAll(fx);
    clOrder(fx, a, IF, XOE_BUY, PX(38000), 1, 7);
    const Out first = *wantOut(fx, a, XOE_MSG_ACCEPTED);
    advance(fx, SEC);
    /* the client lost the answer and repeats its Logon from the bound address */
    clLogonFull(fx, a, a->addr, 1000, 1);
    const xoeMsg *m = want(fx, a, XOE_MSG_LOGON_ACCEPTED);
    assert_int_equal(m->u.logonAccepted.nextInSeq, 2);
    assert_int_equal(m->u.logonAccepted.nextOutSeq, 2);
    const Out *re = wantOut(fx, a, XOE_MSG_ACCEPTED);
    assert_int_equal(re->flags, XOE_FLAG_RETRANSMIT);
    assert_int_equal(re->seq, 1);
    assert_memory_equal(re->m.u.raw, first.m.u.raw, sizeof(xoeAccepted));
    const xoeRetransmitEnd *end = wantRetransmitEnd(fx, a, 1, 0, 1);
    assert_int_equal(end->fromSeq, 1);
    assert_int_equal(end->count, 1);
    wantNone(fx, a);
    assert_int_equal(info(fx, 1).state, GW_SESSION_LOGGED_ON);
    /* nextOutSeq equal to the next number: nothing to replay, no RetransmitEnd */
    advance(fx, SEC);
    clLogonFull(fx, a, a->addr, 1000, 2);
    want(fx, a, XOE_MSG_LOGON_ACCEPTED);
    wantNone(fx, a);
}

static void test_logon_checks(void **state)
{
    Fx *fx = *state;
    Cl *a = &fx->cl[A];
    /* a Logon not alone in its frame */
    xoeLogon l = {.heartbeatMs = 0};
    xoeHeartbeat hb = {.reserved = 0};
    memcpy(l.token, a->token, XOE_TOKEN_SIZE);
    Fr f;
    frInit(&f, a->session, 1);
    frAdd(&f, XOE_MSG_LOGON, &l);
    frAdd(&f, XOE_MSG_HEARTBEAT, &hb);
    frSend(fx, &f, a->addr);
    assert_int_equal(want(fx, a, XOE_MSG_LOGON_REJECTED)->u.logonRejected.code, XOE_CODE_MALFORMED);
    /* nextOutSeq beyond what was sent */
    clLogonFull(fx, a, a->addr, 0, 2);
    const Out *o = wantOut(fx, a, XOE_MSG_LOGON_REJECTED);
    assert_int_equal(o->m.u.logonRejected.code, XOE_CODE_INVALID_PARAMS);
    assert_int_equal(o->seq, 1); /* the token was right: the next number is told */
    /* the segment not accepting logons */
    advance(fx, SEC);
    gwSetLogonsOpen(fx->gw, 0);
    clLogonSend(fx, a);
    assert_int_equal(want(fx, a, XOE_MSG_LOGON_REJECTED)->u.logonRejected.code,
                     XOE_CODE_UNAVAILABLE);
    advance(fx, SEC);
    gwSetLogonsOpen(fx->gw, 1);
    logon(fx, a);
    assert_int_equal(stats(fx).logonRejects, 3);
}

/* ------------------------------------------------------------------------ */
/* Orders and executions                                                     */

static void test_order_accepted_and_executed(void **state)
{
    Fx *fx = *state;
    Cl *a = &fx->cl[A], *b = &fx->cl[B];
    logonAll(fx);
    tradeAll(fx);
    advance(fx, 123456);
    clOrder(fx, a, IF, XOE_BUY, PX(38002), 5, 1001);
    const xoeAccepted *ac = &want(fx, a, XOE_MSG_ACCEPTED)->u.accepted;
    assert_int_equal(ac->instrument, IF);
    assert_int_equal(ac->side, XOE_BUY);
    assert_int_equal(ac->offset, XOE_OPEN);
    assert_int_equal(ac->clOrdId, 1001);
    assert_int_equal(ac->orderId, OID(1));
    assert_int_equal(ac->price, 38002000);
    assert_int_equal(ac->qty, 5);
    assert_int_equal(ac->minQty, 0);
    assert_int_equal(ac->priceType, XOE_LIMIT);
    assert_int_equal(ac->timeCondition, XOE_GFD);
    assert_int_equal(ac->volumeCondition, XOE_VOL_ANY);
    assert_int_equal(ac->timestamp, fx->now);
    wantNone(fx, a);
    advance(fx, SEC);
    xoeNewOrder o = nord(IF, XOE_SELL, PX(38000), 2, 2001);
    o.offset = XOE_CLOSE_TODAY;
    clSend(fx, b, XOE_MSG_NEW_ORDER, &o);
    const xoeAccepted *bc = &want(fx, b, XOE_MSG_ACCEPTED)->u.accepted;
    assert_int_equal(bc->offset, XOE_CLOSE_TODAY); /* carried through */
    assert_int_equal(bc->orderId, OID(2));
    const xoeExecuted *bx = wantExec(fx, b, XOE_TAKER, 2001, 2, 0);
    assert_int_equal(bx->side, XOE_SELL);
    assert_int_equal(bx->orderId, OID(2));
    assert_int_equal(bx->tradeId, TID(1));
    assert_int_equal(bx->price, 38002000); /* the resting order's price */
    wantNone(fx, b);
    const xoeExecuted *ax = wantExec(fx, a, XOE_MAKER, 1001, 2, 3);
    assert_int_equal(ax->side, XOE_BUY);
    assert_int_equal(ax->orderId, OID(1));
    assert_int_equal(ax->tradeId, TID(1));
    assert_int_equal(ax->price, 38002000);
    wantNone(fx, a);
    assert_int_equal(depthQty(fx, IF, MT_BUY, 0), 3);
    gwStats st = stats(fx);
    assert_int_equal(st.accepted, 2);
    assert_int_equal(st.executions, 2);
    assert_int_equal(st.orderRefs, 1);
}

/* The metrics counters: orders and trades per instrument, the matcher-time
 * histogram (one observation per NewOrder/Cancel/Replace that reached the
 * matcher, none for one refused before it) and sessions by state. */
static void test_metrics_counters(void **state)
{
    Fx *fx = *state;
    Cl *a = &fx->cl[A], *b = &fx->cl[B];
    gwInstrumentStats is;
    const histLog *h = gwMatchHistogram(fx->gw);
    uint32_t counts[3];
    gwSessionCounts(fx->gw, counts);
    assert_int_equal(counts[GW_SESSION_IDLE], NCLIENTS);
    assert_int_equal(counts[GW_SESSION_LOGGED_ON], 0);
    logonAll(fx);
    tradeAll(fx);
    gwSessionCounts(fx->gw, counts);
    assert_int_equal(counts[GW_SESSION_LOGGED_ON], NCLIENTS);
    assert_int_equal(counts[GW_SESSION_IDLE] + counts[GW_SESSION_DISABLED], 0);
    assert_int_equal(h->total, 0);
    place(fx, a, IF, XOE_SELL, PX(38000), 3, 1);
    const uint64_t resting = place(fx, a, IF, XOE_SELL, PX(38002), 4, 2);
    clOrder(fx, b, IF, XOE_BUY, PX(38004), 10, 3); /* 2 trades, 7 lots; 3 rest */
    skipAll(fx, a);
    skipAll(fx, b);
    place(fx, b, 1, XOE_BUY, PX(56000), 1, 4);       /* IC2501 */
    clOrder(fx, b, 1, XOE_BUY, PX(56000) + 1, 1, 5); /* off tick: refused before the matcher */
    wantRejected(fx, b, XOE_CODE_INVALID_PARAMS, 5);
    clOrder(fx, b, 200, XOE_BUY, PX(56000), 1, 6); /* no such instrument */
    clCancel(fx, a, resting, 7);                   /* already filled: the matcher says so */
    assert_int_equal(gwGetInstrumentStats(fx->gw, IF, &is), 0);
    assert_int_equal(is.orders, 3);
    assert_int_equal(is.trades, 2);
    assert_int_equal(is.tradedLots, 7);
    assert_int_equal(gwGetInstrumentStats(fx->gw, 1, &is), 0);
    assert_int_equal(is.orders, 2); /* the off-tick one counts: it was for IC2501 */
    assert_int_equal(is.trades, 0);
    assert_int_equal(gwGetInstrumentStats(fx->gw, CU, &is), 0);
    assert_int_equal(is.orders + is.trades, 0);
    assert_int_equal(gwGetInstrumentStats(fx->gw, 200, &is), -1);
    assert_int_equal(stats(fx).newOrders, 6);
    assert_int_equal(h->total, 5); /* 4 NewOrders and 1 Cancel reached the matcher */
    assert_int_equal(h->max, 1000);
    assert_int_equal(histQuantile(h, 1, 2), 1000);
}

/* The matcher-time histogram is sampled: the first request that reaches
 * the matcher and then one in matchSampleEvery; the others are not timed
 * (no cycle counter read). A sample interval that is not a power of two is
 * refused at creation. */
static void test_metrics_match_sampled(void **state)
{
    Fx *fx = *state;
    fx->matchEvery = 4;
    fxRebuild(fx, fx->seg.orderCapacity, fx->use.risk.throttle, 64);
    Cl *a = &fx->cl[A];
    logonAll(fx);
    tradeAll(fx);
    const histLog *h = gwMatchHistogram(fx->gw);
    const uint64_t reads0 = fakeCycles;
    for (uint64_t k = 1; k <= 9; k++) /* 9 NewOrders that rest: calls 1, 5 and 9 are timed */
        place(fx, a, IF, XOE_SELL, PX(38000) + (int64_t)k * PX(2), 1, k);
    assert_int_equal(h->total, 3);
    assert_int_equal(histQuantile(h, 1, 2), 1000);
    assert_int_equal(fakeCycles - reads0, 3 * 2 * 1000); /* two reads per timed call, none else */
    place(fx, a, IF, XOE_BUY, PX(37990), 1, 10);         /* call 10: not timed */
    assert_int_equal(h->total, 3);
    gwOptions bad = {.cfg = &fx->use,
                     .segment = 0,
                     .maxSessions = 4,
                     .historyDepth = 64,
                     .send = onSend,
                     .sendCtx = fx,
                     .cycles = fakeCycleRead,
                     .matchSampleEvery = 3};
    assert_null(gwCreate(&bad));
    fx->matchEvery = 0;
}

static void test_partial_fills(void **state)
{
    Fx *fx = *state;
    Cl *a = &fx->cl[A], *b = &fx->cl[B], *e = &fx->cl[E];
    logonAll(fx);
    tradeAll(fx);
    place(fx, a, IF, XOE_SELL, PX(38000), 3, 1);
    place(fx, a, IF, XOE_SELL, PX(38002), 4, 2);
    clOrder(fx, b, IF, XOE_BUY, PX(38004), 10, 3);
    want(fx, b, XOE_MSG_ACCEPTED);
    assert_int_equal(wantExec(fx, b, XOE_TAKER, 3, 3, 7)->price, 38000000);
    assert_int_equal(wantExec(fx, b, XOE_TAKER, 3, 4, 3)->price, 38002000);
    wantNone(fx, b);
    assert_int_equal(wantExec(fx, a, XOE_MAKER, 1, 3, 0)->tradeId, TID(1));
    assert_int_equal(wantExec(fx, a, XOE_MAKER, 2, 4, 0)->tradeId, TID(2));
    wantNone(fx, a);
    /* an IOC sell takes the 3 left and cancels its remainder */
    xoeNewOrder o = nord(IF, XOE_SELL, PX(38004), 5, 4);
    o.timeCondition = XOE_IOC;
    clSend(fx, e, XOE_MSG_NEW_ORDER, &o);
    want(fx, e, XOE_MSG_ACCEPTED);
    assert_int_equal(wantExec(fx, e, XOE_TAKER, 4, 3, 2)->tradeId, TID(3));
    const xoeCancelled *c = &want(fx, e, XOE_MSG_CANCELLED)->u.cancelled;
    assert_int_equal(c->reason, XOE_CXL_IOC);
    assert_int_equal(c->qty, 2);
    assert_int_equal(c->clOrdId, 4);
    wantNone(fx, e);
    wantExec(fx, b, XOE_MAKER, 3, 3, 0);
    wantNone(fx, b);
    assert_int_equal(stats(fx).orderRefs, 0);
}

static void test_market_and_volume_conditions(void **state)
{
    Fx *fx = *state;
    Cl *a = &fx->cl[A], *b = &fx->cl[B];
    logonAll(fx);
    tradeAll(fx);
    place(fx, a, IF, XOE_SELL, PX(38000), 2, 1);
    /* MARKET: price ignored, 0 in Accepted, remainder cancelled IOC */
    xoeNewOrder o = nord(IF, XOE_BUY, 0, 5, 2);
    o.priceType = XOE_MARKET;
    clSend(fx, b, XOE_MSG_NEW_ORDER, &o);
    assert_int_equal(want(fx, b, XOE_MSG_ACCEPTED)->u.accepted.price, 0);
    wantExec(fx, b, XOE_TAKER, 2, 2, 3);
    assert_int_equal(want(fx, b, XOE_MSG_CANCELLED)->u.cancelled.reason, XOE_CXL_IOC);
    wantExec(fx, a, XOE_MAKER, 1, 2, 0);
    /* FOK that cannot fill */
    place(fx, a, IF, XOE_SELL, PX(38000), 2, 3);
    o = nord(IF, XOE_BUY, PX(38000), 5, 4);
    o.volumeCondition = XOE_VOL_ALL;
    clSend(fx, b, XOE_MSG_NEW_ORDER, &o);
    want(fx, b, XOE_MSG_ACCEPTED);
    assert_int_equal(want(fx, b, XOE_MSG_CANCELLED)->u.cancelled.reason, XOE_CXL_FOK);
    /* MIN quantity carried in Accepted */
    o = nord(IF, XOE_BUY, PX(38000), 5, 5);
    o.volumeCondition = XOE_VOL_MIN;
    o.minQty = 2;
    clSend(fx, b, XOE_MSG_NEW_ORDER, &o);
    assert_int_equal(want(fx, b, XOE_MSG_ACCEPTED)->u.accepted.minQty, 2);
    wantExec(fx, b, XOE_TAKER, 5, 2, 3);
    wantExec(fx, a, XOE_MAKER, 3, 2, 0);
    wantNone(fx, a);
    wantNone(fx, b);
}

static void test_self_trade_prevention(void **state)
{
    Fx *fx = *state;
    Cl *a = &fx->cl[A], *c = &fx->cl[C]; /* same account, cancel_incoming */
    logonAll(fx);
    tradeAll(fx);
    place(fx, a, IF, XOE_SELL, PX(38000), 2, 1);
    clOrder(fx, c, IF, XOE_BUY, PX(38000), 2, 2);
    want(fx, c, XOE_MSG_ACCEPTED);
    const xoeCancelled *x = &want(fx, c, XOE_MSG_CANCELLED)->u.cancelled;
    assert_int_equal(x->reason, XOE_CXL_SELF_TRADE);
    assert_int_equal(x->qty, 2);
    wantNone(fx, c);
    wantNone(fx, a);
}

static void test_auction_liquidity(void **state)
{
    Fx *fx = *state;
    Cl *a = &fx->cl[A], *b = &fx->cl[B];
    logonAll(fx);
    assert_int_equal(gwSetState(fx->gw, IF, MT_STATE_PRE_OPEN, fx->now), MT_OK);
    place(fx, a, IF, XOE_BUY, PX(38004), 3, 1);
    place(fx, b, IF, XOE_SELL, PX(38000), 2, 2);
    assert_int_equal(gwSetState(fx->gw, IF, MT_STATE_CONTINUOUS, fx->now), MT_OK);
    const xoeExecuted *x = wantExec(fx, a, XOE_AUCTION, 1, 2, 1);
    wantExec(fx, b, XOE_AUCTION, 2, 2, 0);
    assert_int_equal(x->tradeId, TID(1));
    wantNone(fx, a);
    wantNone(fx, b);
}

/* The summary market data hook: one call per fill with price in 1e-4
 * units, aggressor and both orders' offsets, also when the resting order
 * leaves the book with that fill, and for auction fills. */
static void test_trade_hook(void **state)
{
    Fx *fx = *state;
    Cl *a = &fx->cl[A], *b = &fx->cl[B];
    logonAll(fx);
    tradeAll(fx);
    assert_int_equal(fx->nTrades, 0);
    place(fx, a, IF, XOE_BUY, PX(38002), 5, 1); /* OPEN */
    assert_int_equal(fx->nTrades, 0);
    advance(fx, SEC);
    xoeNewOrder o = nord(IF, XOE_SELL, PX(38000), 2, 2);
    o.offset = XOE_CLOSE_TODAY;
    clSend(fx, b, XOE_MSG_NEW_ORDER, &o);
    want(fx, b, XOE_MSG_ACCEPTED);
    wantExec(fx, b, XOE_TAKER, 2, 2, 0);
    wantExec(fx, a, XOE_MAKER, 1, 2, 3);
    assert_int_equal(fx->nTrades, 1);
    assert_int_equal(fx->trades[0].instrument, IF);
    assert_int_equal(fx->trades[0].price, 38002000);
    assert_int_equal(fx->trades[0].qty, 2);
    assert_int_equal(fx->trades[0].aggressor, MT_SELL);
    assert_int_equal(fx->trades[0].offset[0], XOE_OPEN);
    assert_int_equal(fx->trades[0].offset[1], XOE_CLOSE_TODAY);
    assert_int_equal(fx->trades[0].nowNs, fx->now);
    o = nord(IF, XOE_SELL, PX(38002), 3, 3);
    o.offset = XOE_CLOSE;
    clSend(fx, b, XOE_MSG_NEW_ORDER, &o); /* fills the resting buy completely */
    want(fx, b, XOE_MSG_ACCEPTED);
    wantExec(fx, b, XOE_TAKER, 3, 3, 0);
    wantExec(fx, a, XOE_MAKER, 1, 3, 0);
    assert_int_equal(fx->nTrades, 2);
    assert_int_equal(fx->trades[1].qty, 3);
    assert_int_equal(fx->trades[1].offset[0], XOE_OPEN);
    assert_int_equal(fx->trades[1].offset[1], XOE_CLOSE);
    assert_int_equal(gwSetState(fx->gw, IF, MT_STATE_PRE_OPEN, fx->now), MT_OK);
    place(fx, a, IF, XOE_BUY, PX(38004), 3, 4);
    place(fx, b, IF, XOE_SELL, PX(38000), 2, 5);
    assert_int_equal(gwSetState(fx->gw, IF, MT_STATE_CONTINUOUS, fx->now), MT_OK);
    assert_int_equal(fx->nTrades, 3);
    assert_int_equal(fx->trades[2].aggressor, MT_AGGRESSOR_NONE);
    assert_int_equal(fx->trades[2].qty, 2);
    wantExec(fx, a, XOE_AUCTION, 4, 2, 1);
    wantExec(fx, b, XOE_AUCTION, 5, 2, 0);
    wantNone(fx, a);
    wantNone(fx, b);
}

static void test_close_expires_gfd(void **state)
{
    Fx *fx = *state;
    Cl *a = &fx->cl[A];
    logonAll(fx);
    tradeAll(fx);
    uint64_t gfd = place(fx, a, IF, XOE_BUY, PX(38000), 3, 1);
    xoeNewOrder o = nord(IF, XOE_BUY, PX(37990), 1, 2);
    o.timeCondition = XOE_GTC;
    clSend(fx, a, XOE_MSG_NEW_ORDER, &o);
    want(fx, a, XOE_MSG_ACCEPTED);
    assert_int_equal(gwSetState(fx->gw, IF, MT_STATE_CLOSED, fx->now), MT_OK);
    const xoeCancelled *c = &want(fx, a, XOE_MSG_CANCELLED)->u.cancelled;
    assert_int_equal(c->reason, XOE_CXL_EXPIRED);
    assert_int_equal(c->orderId, gfd);
    assert_int_equal(c->clOrdId, 1);
    assert_int_equal(c->qty, 3);
    wantNone(fx, a);
    assert_int_equal(stats(fx).orderRefs, 1); /* the GTC order */
    assert_int_equal(gwSetState(fx->gw, 99, MT_STATE_CLOSED, fx->now), MT_ERR_UNKNOWN_INSTRUMENT);
}

/* ------------------------------------------------------------------------ */
/* Cancel and replace                                                        */

static void test_cancel(void **state)
{
    Fx *fx = *state;
    Cl *a = &fx->cl[A], *b = &fx->cl[B], *c = &fx->cl[C];
    logonAll(fx);
    tradeAll(fx);
    uint64_t id = place(fx, a, IF, XOE_BUY, PX(38000), 5, 1);
    clCancel(fx, a, id, 2);
    const xoeCancelled *x = &want(fx, a, XOE_MSG_CANCELLED)->u.cancelled;
    assert_int_equal(x->reason, XOE_CXL_USER);
    assert_int_equal(x->clOrdId, 1); /* the order's */
    assert_int_equal(x->orderId, id);
    assert_int_equal(x->qty, 5);
    assert_int_equal(x->side, XOE_BUY);
    assert_int_equal(depthQty(fx, IF, MT_BUY, 0), 0);
    clCancel(fx, a, id, 3);
    wantCancelRejected(fx, a, XOE_CODE_NOT_CANCELLABLE, XOE_OP_CANCEL, 3, id);
    clCancel(fx, a, OID(999), 4);
    wantCancelRejected(fx, a, XOE_CODE_ORDER_NOT_FOUND, XOE_OP_CANCEL, 4, OID(999));
    /* another account's order is not found */
    id = place(fx, a, IF, XOE_BUY, PX(38000), 5, 5);
    clCancel(fx, b, id, 6);
    wantCancelRejected(fx, b, XOE_CODE_ORDER_NOT_FOUND, XOE_OP_CANCEL, 6, id);
    wantNone(fx, a);
    /* another session of the same account cancels: both are told */
    clCancel(fx, c, id, 7);
    assert_int_equal(want(fx, c, XOE_MSG_CANCELLED)->u.cancelled.orderId, id);
    assert_int_equal(want(fx, a, XOE_MSG_CANCELLED)->u.cancelled.clOrdId, 5);
    wantNone(fx, a);
    wantNone(fx, c);
    /* cancels are taken in every state */
    id = place(fx, a, IF, XOE_BUY, PX(38000), 5, 8);
    assert_int_equal(gwSetState(fx->gw, IF, MT_STATE_HALTED, fx->now), MT_OK);
    clCancel(fx, a, id, 9);
    want(fx, a, XOE_MSG_CANCELLED);
    assert_int_equal(stats(fx).cancels, 6);
}

static void test_replace_from_other_session_of_account(void **state)
{
    Fx *fx = *state;
    Cl *a = &fx->cl[A], *c = &fx->cl[C], *e = &fx->cl[E];
    logonAll(fx);
    tradeAll(fx);
    uint64_t id = place(fx, a, IF, XOE_BUY, PX(38000), 5, 1);
    /* C (same account) replaces A's order: both are told, A keeps the order */
    clReplace(fx, c, id, PX(38000), 4, 2);
    const xoeReplaced *r = &want(fx, c, XOE_MSG_REPLACED)->u.replaced;
    assert_int_equal(r->clOrdId, 2);
    assert_int_equal(r->orderId, id);
    assert_int_equal(want(fx, a, XOE_MSG_REPLACED)->u.replaced.clOrdId, 2);
    clOrder(fx, e, IF, XOE_SELL, PX(38000), 1, 3);
    skipAll(fx, e);
    wantExec(fx, a, XOE_MAKER, 2, 1, 3);
    wantNone(fx, a);
    wantNone(fx, c);
    /* C's failing replace is answered to C only */
    clReplace(fx, c, id, PX(38000) + 1000, 4, 4);
    wantCancelRejected(fx, c, XOE_CODE_INVALID_PARAMS, XOE_OP_REPLACE, 4, id);
    wantNone(fx, a);
}

static void test_admin_cancel(void **state)
{
    Fx *fx = *state;
    Cl *a = &fx->cl[A];
    logonAll(fx);
    tradeAll(fx);
    uint64_t id = place(fx, a, IF, XOE_BUY, PX(38000), 5, 1);
    assert_int_equal(gwAdminCancel(fx->gw, id, fx->now), MT_OK);
    const xoeCancelled *x = &want(fx, a, XOE_MSG_CANCELLED)->u.cancelled;
    assert_int_equal(x->reason, XOE_CXL_ADMIN);
    assert_int_equal(x->qty, 5);
    assert_int_equal(gwAdminCancel(fx->gw, id, fx->now), MT_ERR_NOT_CANCELLABLE);
    assert_int_equal(gwAdminCancel(fx->gw, OID(77), fx->now), MT_ERR_ORDER_NOT_FOUND);
    wantNone(fx, a);
}

static void test_replace_priority_and_clordid(void **state)
{
    Fx *fx = *state;
    Cl *a = &fx->cl[A], *b = &fx->cl[B], *e = &fx->cl[E];
    logonAll(fx);
    tradeAll(fx);
    uint64_t o1 = place(fx, a, IF, XOE_BUY, PX(38000), 5, 1);
    place(fx, b, IF, XOE_BUY, PX(38000), 5, 2);
    /* a smaller quantity keeps the place */
    clReplace(fx, a, o1, PX(38000), 3, 11);
    const xoeReplaced *r = &want(fx, a, XOE_MSG_REPLACED)->u.replaced;
    assert_int_equal(r->keptPriority, 1);
    assert_int_equal(r->clOrdId, 11);
    assert_int_equal(r->orderId, o1);
    assert_int_equal(r->qty, 3);
    assert_int_equal(r->leaves, 3);
    assert_int_equal(r->price, PX(38000));
    clOrder(fx, e, IF, XOE_SELL, PX(38000), 1, 3);
    want(fx, e, XOE_MSG_ACCEPTED);
    wantExec(fx, e, XOE_TAKER, 3, 1, 0);
    wantExec(fx, a, XOE_MAKER, 11, 1, 2); /* the new clOrdId */
    /* a larger quantity goes to the back */
    clReplace(fx, a, o1, PX(38000), 6, 12);
    r = &want(fx, a, XOE_MSG_REPLACED)->u.replaced;
    assert_int_equal(r->keptPriority, 0);
    assert_int_equal(r->qty, 6);
    assert_int_equal(r->leaves, 5);
    clOrder(fx, e, IF, XOE_SELL, PX(38000), 1, 4);
    want(fx, e, XOE_MSG_ACCEPTED);
    wantExec(fx, e, XOE_TAKER, 4, 1, 0);
    wantExec(fx, b, XOE_MAKER, 2, 1, 4); /* B is ahead now */
    wantNone(fx, a);
    /* a new price loses priority and may trade at once */
    place(fx, e, IF, XOE_SELL, PX(38010), 2, 5);
    clReplace(fx, a, o1, PX(38010), 6, 13);
    r = &want(fx, a, XOE_MSG_REPLACED)->u.replaced;
    assert_int_equal(r->keptPriority, 0);
    assert_int_equal(r->price, PX(38010));
    const xoeExecuted *x = wantExec(fx, a, XOE_TAKER, 13, 2, 3);
    assert_int_equal(x->price, PX(38010));
    wantExec(fx, e, XOE_MAKER, 5, 2, 0);
    wantNone(fx, a);
    /* later executions carry the last clOrdId */
    clOrder(fx, e, IF, XOE_SELL, PX(38010), 3, 6);
    want(fx, e, XOE_MSG_ACCEPTED);
    wantExec(fx, e, XOE_TAKER, 6, 3, 0);
    wantExec(fx, a, XOE_MAKER, 13, 3, 0);
    wantNone(fx, a);
    assert_int_equal(stats(fx).replaced, 3);
}

static void test_replace_rejects(void **state)
{
    Fx *fx = *state;
    Cl *a = &fx->cl[A], *b = &fx->cl[B], *e = &fx->cl[E];
    logonAll(fx);
    tradeAll(fx);
    uint64_t id = place(fx, a, IF, XOE_BUY, PX(38000), 5, 1);
    clReplace(fx, a, id, PX(38000) + 1000, 5, 2); /* 3800.1: off tick */
    wantCancelRejected(fx, a, XOE_CODE_INVALID_PARAMS, XOE_OP_REPLACE, 2, id);
    clReplace(fx, a, id, 0, 5, 3);
    wantCancelRejected(fx, a, XOE_CODE_INVALID_PARAMS, XOE_OP_REPLACE, 3, id);
    clReplace(fx, a, id, PX(42000), 5, 4); /* outside the band */
    wantCancelRejected(fx, a, XOE_CODE_INVALID_PARAMS, XOE_OP_REPLACE, 4, id);
    clReplace(fx, a, id, PX(38000), 0, 5); /* lots */
    wantCancelRejected(fx, a, XOE_CODE_INVALID_PARAMS, XOE_OP_REPLACE, 5, id);
    clReplace(fx, a, OID(500), PX(38000), 5, 6);
    wantCancelRejected(fx, a, XOE_CODE_ORDER_NOT_FOUND, XOE_OP_REPLACE, 6, OID(500));
    clReplace(fx, b, id, PX(38000), 5, 7); /* another account's */
    wantCancelRejected(fx, b, XOE_CODE_ORDER_NOT_FOUND, XOE_OP_REPLACE, 7, id);
    /* at or below the filled quantity */
    clOrder(fx, e, IF, XOE_SELL, PX(38000), 2, 8);
    skipAll(fx, e);
    wantExec(fx, a, XOE_MAKER, 1, 2, 3);
    clReplace(fx, a, id, PX(38000), 2, 9);
    wantCancelRejected(fx, a, XOE_CODE_REPLACE, XOE_OP_REPLACE, 9, id);
    /* not in a halted book */
    assert_int_equal(gwSetState(fx->gw, IF, MT_STATE_HALTED, fx->now), MT_OK);
    clReplace(fx, a, id, PX(38000), 4, 10);
    wantCancelRejected(fx, a, XOE_CODE_STATE, XOE_OP_REPLACE, 10, id);
    assert_int_equal(gwSetState(fx->gw, IF, MT_STATE_CONTINUOUS, fx->now), MT_OK);
    /* the order is untouched: its clOrdId is still the first */
    clOrder(fx, e, IF, XOE_SELL, PX(38000), 3, 11);
    skipAll(fx, e);
    wantExec(fx, a, XOE_MAKER, 1, 3, 0);
    /* filled: 3002 */
    clReplace(fx, a, id, PX(38000), 9, 12);
    wantCancelRejected(fx, a, XOE_CODE_NOT_CANCELLABLE, XOE_OP_REPLACE, 12, id);
    wantNone(fx, a);
    assert_int_equal(stats(fx).orderRefs, 0);
}

/* ------------------------------------------------------------------------ */
/* Rejects                                                                   */

static void test_new_order_rejects(void **state)
{
    Fx *fx = *state;
    Cl *a = &fx->cl[A];
    logonAll(fx);
    /* CLOSED at creation: 3003 */
    clOrder(fx, a, IF, XOE_BUY, PX(38000), 1, 1);
    wantRejected(fx, a, XOE_CODE_STATE, 1);
    tradeAll(fx);
    clOrder(fx, a, 4, XOE_BUY, PX(38000), 1, 2); /* four instruments: 0..3 */
    const xoeMsg *m = want(fx, a, XOE_MSG_REJECTED);
    assert_int_equal(m->u.rejected.code, XOE_CODE_UNKNOWN_INSTRUMENT);
    assert_int_equal(m->u.rejected.instrument, 4);
    clOrder(fx, a, IF, XOE_BUY, PX(38000) + 1000, 1, 3); /* 3800.1, tick 0.2 */
    wantRejected(fx, a, XOE_CODE_INVALID_PARAMS, 3);
    clOrder(fx, a, IF, XOE_BUY, 1, 1, 4); /* 0.0001 */
    wantRejected(fx, a, XOE_CODE_INVALID_PARAMS, 4);
    clOrder(fx, a, IF, XOE_BUY, 0, 1, 5);
    wantRejected(fx, a, XOE_CODE_INVALID_PARAMS, 5);
    clOrder(fx, a, IF, XOE_BUY, -PX(38000), 1, 6);
    wantRejected(fx, a, XOE_CODE_INVALID_PARAMS, 6);
    clOrder(fx, a, IF, XOE_BUY, PX(41820), 1, 7); /* above 4180.0 */
    wantRejected(fx, a, XOE_CODE_INVALID_PARAMS, 7);
    clOrder(fx, a, IF, XOE_BUY, PX(34180), 1, 8); /* below 3420.0 */
    wantRejected(fx, a, XOE_CODE_INVALID_PARAMS, 8);
    clOrder(fx, a, IF, XOE_BUY, PX(38000), 0, 9);
    wantRejected(fx, a, XOE_CODE_INVALID_PARAMS, 9);
    clOrder(fx, a, CU, XOE_BUY, 752300000, 501, 10); /* cu2501: max 500 lots */
    wantRejected(fx, a, XOE_CODE_INVALID_PARAMS, 10);
    clOrder(fx, a, CU, XOE_BUY, 752300000 + 50000, 1, 11); /* tick 10 */
    wantRejected(fx, a, XOE_CODE_INVALID_PARAMS, 11);
    place(fx, a, CU, XOE_BUY, 752300000, 500, 12);
    xoeNewOrder o = nord(IF, XOE_BUY, PX(38000), 5, 13);
    o.volumeCondition = XOE_VOL_MIN;
    o.minQty = 6;
    clSend(fx, a, XOE_MSG_NEW_ORDER, &o);
    wantRejected(fx, a, XOE_CODE_INVALID_PARAMS, 13);
    /* PRE_OPEN takes plain limits only */
    assert_int_equal(gwSetState(fx->gw, IF, MT_STATE_PRE_OPEN, fx->now), MT_OK);
    o = nord(IF, XOE_BUY, PX(38000), 5, 14);
    o.timeCondition = XOE_IOC;
    clSend(fx, a, XOE_MSG_NEW_ORDER, &o);
    wantRejected(fx, a, XOE_CODE_STATE, 14);
    wantNone(fx, a);
    assert_int_equal(stats(fx).rejected, 13);
    assert_int_equal(stats(fx).newOrders, 14);
}

static void test_pool_full(void **state)
{
    Fx *fx = *state;
    fxRebuild(fx, 2, 10000, 1024);
    Cl *a = &fx->cl[A];
    logonAll(fx);
    tradeAll(fx);
    uint64_t id = place(fx, a, IF, XOE_BUY, PX(38000), 1, 1);
    place(fx, a, IF, XOE_BUY, PX(38000), 1, 2);
    clOrder(fx, a, IF, XOE_BUY, PX(38000), 1, 3);
    wantRejected(fx, a, XOE_CODE_POOL_FULL, 3);
    clOrder(fx, a, IF, XOE_SELL, PX(39000), 1, 4);
    wantRejected(fx, a, XOE_CODE_POOL_FULL, 4);
    /* a replace needs no pool slot of its own */
    clReplace(fx, a, id, PX(37990), 1, 5);
    want(fx, a, XOE_MSG_REPLACED);
    clCancel(fx, a, id, 6);
    want(fx, a, XOE_MSG_CANCELLED);
    place(fx, a, IF, XOE_BUY, PX(38000), 1, 7);
    wantNone(fx, a);
}

static void test_throttle(void **state)
{
    Fx *fx = *state;
    fxRebuild(fx, 4096, 5, 1024);
    Cl *a = &fx->cl[A];
    logonAll(fx);
    tradeAll(fx);
    uint64_t id = 0;
    for (uint64_t i = 1; i <= 5; i++)
        id = place(fx, a, IF, XOE_BUY, PX(38000), 1, i);
    clOrder(fx, a, IF, XOE_BUY, PX(38000), 1, 6);
    wantRejected(fx, a, XOE_CODE_THROTTLED, 6);
    clCancel(fx, a, id, 7);
    wantCancelRejected(fx, a, XOE_CODE_THROTTLED, XOE_OP_CANCEL, 7, id);
    clReplace(fx, a, id, PX(38000), 2, 8);
    wantCancelRejected(fx, a, XOE_CODE_THROTTLED, XOE_OP_REPLACE, 8, id);
    clRetransmit(fx, a, 1, 2);
    const xoeRetransmitEnd *re = wantRetransmitEnd(fx, a, 0, XOE_RT_LIMIT, 0);
    assert_int_equal(re->fromSeq, 1);
    assert_int_equal(re->count, 2);
    assert_int_equal(info(fx, 1).nextInSeq, 9); /* the numbers were used */
    assert_int_equal(info(fx, 1).throttled, 4);
    assert_int_equal(stats(fx).throttled, 4);
    /* 200 ms refill one message at 5 a second */
    advance(fx, 199 * MS);
    clOrder(fx, a, IF, XOE_BUY, PX(38000), 1, 9);
    wantRejected(fx, a, XOE_CODE_THROTTLED, 9);
    advance(fx, 1 * MS);
    place(fx, a, IF, XOE_BUY, PX(38000), 1, 10);
    clOrder(fx, a, IF, XOE_BUY, PX(38000), 1, 11);
    wantRejected(fx, a, XOE_CODE_THROTTLED, 11);
    /* a second refills the bucket, and no more than that */
    advance(fx, 10 * SEC);
    for (uint64_t i = 12; i <= 16; i++)
        place(fx, a, IF, XOE_BUY, PX(38000), 1, i);
    clOrder(fx, a, IF, XOE_BUY, PX(38000), 1, 17);
    wantRejected(fx, a, XOE_CODE_THROTTLED, 17);
    /* a duplicate over the rate is not answered (its resend later is) */
    const uint64_t next = a->seq;
    a->seq = 1;
    clOrder(fx, a, IF, XOE_BUY, PX(38000), 1, 1);
    wantNone(fx, a);
    assert_int_equal(stats(fx).duplicates, 1);
    assert_int_equal(info(fx, 1).throttled, 8);
    advance(fx, SEC);
    a->seq = 1;
    clOrder(fx, a, IF, XOE_BUY, PX(38000), 1, 1);
    assert_int_equal(wantOut(fx, a, XOE_MSG_ACCEPTED)->flags, XOE_FLAG_RETRANSMIT);
    wantNone(fx, a);
    a->seq = next;
}

static void test_unknown_types(void **state)
{
    Fx *fx = *state;
    Cl *a = &fx->cl[A];
    logonAll(fx);
    tradeAll(fx);
    /* an application type this version does not know: Rejected{9003} with the
     * 8 bytes at offset 8 as clOrdId, and the number is used */
    uint8_t unk[24] = {24, 0, 0x1F, 0};
    uint64_t cl = 0x1122334455667788u;
    memcpy(unk + 8, &cl, 8);
    Fr f;
    frInit(&f, a->session, a->seq);
    assert_int_equal(xoeAppendRaw(&f.w, unk, sizeof unk), XOE_OK);
    frSend(fx, &f, a->addr);
    a->seq++;
    const xoeMsg *m = want(fx, a, XOE_MSG_REJECTED);
    assert_int_equal(m->u.rejected.code, XOE_CODE_MALFORMED);
    assert_int_equal(m->u.rejected.clOrdId, cl);
    assert_int_equal(m->u.rejected.instrument, 0);
    /* an 8-byte one has no clOrdId: 0 */
    uint8_t unk8[8] = {8, 0, 0x7E, 0};
    frInit(&f, a->session, a->seq);
    assert_int_equal(xoeAppendRaw(&f.w, unk8, sizeof unk8), XOE_OK);
    frSend(fx, &f, a->addr);
    a->seq++;
    assert_int_equal(want(fx, a, XOE_MSG_REJECTED)->u.rejected.clOrdId, 0);
    /* an unknown session-class type is skipped silently */
    uint8_t unkS[8] = {8, 0, 0x09, 0};
    frInit(&f, a->session, a->seq);
    assert_int_equal(xoeAppendRaw(&f.w, unkS, sizeof unkS), XOE_OK);
    frSend(fx, &f, a->addr);
    wantNone(fx, a);
    assert_int_equal(stats(fx).unknownTypes, 3);
    place(fx, a, IF, XOE_BUY, PX(38000), 1, 5);
}

/* ------------------------------------------------------------------------ */
/* Sequencing (§7.1)                                                         */

static void test_duplicate_answered_not_reexecuted(void **state)
{
    Fx *fx = *state;
    Cl *a = &fx->cl[A], *b = &fx->cl[B];
    logonAll(fx);
    tradeAll(fx);
    place(fx, b, IF, XOE_SELL, PX(38000), 2, 1);
    /* A's order 1 trades: Accepted + Executed */
    Fr f;
    xoeNewOrder o = nord(IF, XOE_BUY, PX(38000), 3, 77);
    frInit(&f, a->session, 1);
    frAdd(&f, XOE_MSG_NEW_ORDER, &o);
    size_t len = xoeWriterFinish(&f.w);
    rawSend(fx, a->addr, f.buf, len);
    a->seq = 2;
    const Out acc = *wantOut(fx, a, XOE_MSG_ACCEPTED);
    const Out exe = *wantOut(fx, a, XOE_MSG_EXECUTED);
    wantNone(fx, a);
    skipAll(fx, b);
    mtStats before, after;
    mtEngineGetStats(gwEngine(fx->gw), &before);
    uint64_t bid = depthQty(fx, IF, MT_BUY, 0);
    /* the same datagram again */
    advance(fx, MS);
    rawSend(fx, a->addr, f.buf, len);
    const Out *r1 = wantOut(fx, a, XOE_MSG_ACCEPTED);
    const Out *r2 = wantOut(fx, a, XOE_MSG_EXECUTED);
    assert_int_equal(r1->flags, XOE_FLAG_RETRANSMIT);
    assert_int_equal(r1->seq, acc.seq);
    assert_int_equal(r2->seq, exe.seq);
    assert_memory_equal(r1->m.u.raw, acc.m.u.raw, sizeof(xoeAccepted));
    assert_memory_equal(r2->m.u.raw, exe.m.u.raw, sizeof(xoeExecuted));
    wantNone(fx, a);
    wantNone(fx, b);
    mtEngineGetStats(gwEngine(fx->gw), &after);
    assert_int_equal(after.ordersAccepted, before.ordersAccepted);
    assert_int_equal(after.fills, before.fills);
    assert_int_equal(depthQty(fx, IF, MT_BUY, 0), bid);
    gwStats st = stats(fx);
    assert_int_equal(st.duplicates, 1);
    assert_int_equal(st.retransmitted, 2);
    assert_int_equal(info(fx, 1).nextInSeq, 2);
    /* a frame of duplicate then new: the duplicate answered, the new processed */
    frInit(&f, a->session, 1);
    frAdd(&f, XOE_MSG_NEW_ORDER, &o);
    o.clOrdId = 78;
    frAdd(&f, XOE_MSG_NEW_ORDER, &o);
    frSend(fx, &f, a->addr);
    a->seq = 3;
    wantOut(fx, a, XOE_MSG_ACCEPTED);
    wantOut(fx, a, XOE_MSG_EXECUTED);
    const Out *n = wantOut(fx, a, XOE_MSG_ACCEPTED);
    assert_int_equal(n->flags, 0);
    assert_int_equal(n->m.u.accepted.clOrdId, 78);
    wantNone(fx, a);
}

static void test_duplicate_expired(void **state)
{
    Fx *fx = *state;
    fxRebuild(fx, 4096, 10000, 4);
    Cl *a = &fx->cl[A];
    logonAll(fx);
    tradeAll(fx);
    for (uint64_t i = 1; i <= 6; i++)
        place(fx, a, IF, XOE_BUY, PX(38000), 1, i);
    /* number 1's Accepted (outbound 1) left the 4-deep history */
    a->seq = 1;
    clOrder(fx, a, IF, XOE_BUY, PX(38000), 1, 1);
    const xoeSessionReject *sr = wantSessionReject(fx, a, XOE_SR_DUPLICATE_EXPIRED, 7, 1);
    assert_int_equal(sr->code, 0);
    /* number 5's is still kept */
    a->seq = 5;
    clOrder(fx, a, IF, XOE_BUY, PX(38000), 1, 5);
    const Out *o = wantOut(fx, a, XOE_MSG_ACCEPTED);
    assert_int_equal(o->seq, 5);
    assert_int_equal(o->flags, XOE_FLAG_RETRANSMIT);
    /* number 0 was never processed */
    a->seq = 0;
    clOrder(fx, a, IF, XOE_BUY, PX(38000), 1, 0);
    wantSessionReject(fx, a, XOE_SR_DUPLICATE_EXPIRED, 7, 0);
    wantNone(fx, a);
    assert_int_equal(stats(fx).duplicatesExpired, 2);
}

static void test_duplicate_answer_left_history(void **state)
{
    Fx *fx = *state;
    fxRebuild(fx, 4096, 10000, 4);
    Cl *a = &fx->cl[A], *b = &fx->cl[B];
    logonAll(fx);
    tradeAll(fx);
    for (int64_t i = 0; i < 4; i++)
        place(fx, b, IF, XOE_SELL, PX(38000 + 2 * i), 1, (uint64_t)i + 1);
    place(fx, a, IF, XOE_BUY, PX(37900), 1, 1);   /* out 1 */
    clOrder(fx, a, IF, XOE_BUY, PX(38010), 4, 2); /* out 2..6: Accepted, 4 Executed */
    skipAll(fx, a);
    skipAll(fx, b);
    assert_int_equal(a->expect, 7);
    /* both inbound numbers are still recorded, but their answers are gone
     * (oldest is 3): nothing stale may be resent */
    a->seq = 1;
    clOrder(fx, a, IF, XOE_BUY, PX(37900), 1, 1);
    wantSessionReject(fx, a, XOE_SR_DUPLICATE_EXPIRED, 3, 1);
    clOrder(fx, a, IF, XOE_BUY, PX(38010), 4, 2);
    wantSessionReject(fx, a, XOE_SR_DUPLICATE_EXPIRED, 3, 2);
    wantNone(fx, a);
}

static void test_gap(void **state)
{
    Fx *fx = *state;
    Cl *a = &fx->cl[A];
    logonAll(fx);
    tradeAll(fx);
    place(fx, a, IF, XOE_BUY, PX(38000), 1, 1);
    /* numbers 3 and 4 while 2 is expected: one GAP, nothing processed */
    Fr f;
    xoeNewOrder o = nord(IF, XOE_BUY, PX(38000), 1, 3);
    xoeRetransmitRequest rr = {.count = 1, .fromSeq = 1};
    frInit(&f, a->session, 3);
    frAdd(&f, XOE_MSG_NEW_ORDER, &o);
    frAdd(&f, XOE_MSG_NEW_ORDER, &o);
    frAdd(&f, XOE_MSG_RETRANSMIT_REQUEST, &rr); /* session messages still processed */
    frSend(fx, &f, a->addr);
    const xoeSessionReject *sr = wantSessionReject(fx, a, XOE_SR_GAP, 2, 3);
    assert_int_equal(sr->code, 0);
    assert_int_equal(sr->detail, 0);
    wantOut(fx, a, XOE_MSG_ACCEPTED); /* the resent 1 */
    wantRetransmitEnd(fx, a, 1, 0, 1);
    wantNone(fx, a);
    assert_int_equal(depthQty(fx, IF, MT_BUY, 0), 1);
    assert_int_equal(info(fx, 1).nextInSeq, 2);
    /* a heartbeat saying the next number is 4: the client lost 2 and 3 */
    a->seq = 4;
    clHeartbeat(fx, a);
    wantSessionReject(fx, a, XOE_SR_GAP, 2, 4);
    /* a heartbeat at or below expected is fine */
    a->seq = 2;
    clHeartbeat(fx, a);
    a->seq = 1;
    clHeartbeat(fx, a);
    wantNone(fx, a);
    a->seq = 2;
    place(fx, a, IF, XOE_BUY, PX(38000), 1, 2);
    assert_int_equal(stats(fx).gaps, 2);
}

static void test_frames_split_at_limit(void **state)
{
    Fx *fx = *state;
    Cl *a = &fx->cl[A], *b = &fx->cl[B];
    logonAll(fx);
    tradeAll(fx);
    /* 30 resting sells, then one buy that sweeps them: 61 messages to A */
    Fr f;
    frInit(&f, a->session, a->seq);
    for (uint64_t i = 0; i < 30; i++) {
        xoeNewOrder o = nord(IF, XOE_SELL, PX(38000 + 2 * (int64_t)i), 1, 100 + i);
        frAdd(&f, XOE_MSG_NEW_ORDER, &o);
    }
    a->seq += 30;
    uint64_t d0 = fx->datagrams;
    frSend(fx, &f, a->addr);
    assert_int_equal(fx->datagrams - d0, 2); /* 30 x 56 bytes do not fit one frame */
    for (int i = 0; i < 30; i++)
        want(fx, a, XOE_MSG_ACCEPTED);
    d0 = fx->datagrams;
    clOrder(fx, b, IF, XOE_BUY, PX(38100), 30, 1);
    want(fx, b, XOE_MSG_ACCEPTED);
    for (uint32_t i = 0; i < 30; i++)
        wantExec(fx, b, XOE_TAKER, 1, 1, 29 - i);
    for (uint64_t i = 0; i < 30; i++)
        wantExec(fx, a, XOE_MAKER, 100 + i, 1, 0);
    wantNone(fx, a);
    wantNone(fx, b);
    assert_true(fx->datagrams - d0 >= 4); /* 31 x 64 bytes each way */
}

/* ------------------------------------------------------------------------ */
/* Retransmission (§7.3)                                                     */

static void test_retransmit_request(void **state)
{
    Fx *fx = *state;
    Cl *a = &fx->cl[A];
    logonAll(fx);
    tradeAll(fx);
    for (uint64_t i = 1; i <= 3; i++)
        place(fx, a, IF, XOE_BUY, PX(38000), 1, i);
    clRetransmit(fx, a, 2, 2);
    const Out *o = wantOut(fx, a, XOE_MSG_ACCEPTED);
    assert_int_equal(o->seq, 2);
    assert_int_equal(o->flags, XOE_FLAG_RETRANSMIT);
    assert_int_equal(o->m.u.accepted.clOrdId, 2);
    assert_int_equal(wantOut(fx, a, XOE_MSG_ACCEPTED)->seq, 3);
    const xoeRetransmitEnd *e = wantRetransmitEnd(fx, a, 2, 0, 2);
    assert_int_equal(e->fromSeq, 2);
    assert_int_equal(e->count, 2);
    /* reaching past the last message sent */
    clRetransmit(fx, a, 3, 5);
    assert_int_equal(wantOut(fx, a, XOE_MSG_ACCEPTED)->seq, 3);
    wantRetransmitEnd(fx, a, 1, XOE_RT_BEYOND, 3);
    clRetransmit(fx, a, 10, 1);
    wantRetransmitEnd(fx, a, 0, XOE_RT_BEYOND, 0);
    clRetransmit(fx, a, 1, 0);
    wantRetransmitEnd(fx, a, 0, 0, 0);
    wantNone(fx, a);
    gwStats st = stats(fx);
    assert_int_equal(st.retransmitRequests, 4);
    assert_int_equal(st.retransmitted, 3);
}

static void test_retransmit_too_old(void **state)
{
    Fx *fx = *state;
    fxRebuild(fx, 4096, 10000, 8);
    Cl *a = &fx->cl[A];
    logonAll(fx);
    tradeAll(fx);
    for (uint64_t i = 1; i <= 20; i++)
        place(fx, a, IF, XOE_BUY, PX(38000), 1, i);
    /* next 21, 8 kept: oldest 13 */
    clRetransmit(fx, a, 5, 10);
    assert_int_equal(wantOut(fx, a, XOE_MSG_ACCEPTED)->seq, 13);
    assert_int_equal(wantOut(fx, a, XOE_MSG_ACCEPTED)->seq, 14);
    wantRetransmitEnd(fx, a, 2, XOE_RT_TOO_OLD, 13);
    clRetransmit(fx, a, 1, 4);
    wantRetransmitEnd(fx, a, 0, XOE_RT_TOO_OLD, 0);
    clRetransmit(fx, a, 0, 30); /* everything: gone, kept and beyond */
    for (uint64_t s = 13; s <= 20; s++)
        assert_int_equal(wantOut(fx, a, XOE_MSG_ACCEPTED)->seq, s);
    wantRetransmitEnd(fx, a, 8, XOE_RT_TOO_OLD | XOE_RT_BEYOND, 13);
    wantNone(fx, a);
}

static void test_retransmit_limit(void **state)
{
    Fx *fx = *state;
    Cl *a = &fx->cl[A];
    logonAll(fx);
    tradeAll(fx);
    /* 600 Accepted, 20 orders a frame */
    for (int k = 0; k < 30; k++) {
        Fr f;
        frInit(&f, a->session, a->seq);
        for (int i = 0; i < 20; i++) {
            xoeNewOrder o = nord(IF, XOE_BUY, PX(38000), 1, a->seq + (uint64_t)i);
            frAdd(&f, XOE_MSG_NEW_ORDER, &o);
        }
        a->seq += 20;
        frSend(fx, &f, a->addr);
    }
    skipAll(fx, a);
    assert_int_equal(a->expect, 601);
    uint64_t d0 = fx->datagrams;
    clRetransmit(fx, a, 1, 600);
    for (uint64_t s = 1; s <= 512; s++) {
        const Out *o = wantOut(fx, a, XOE_MSG_ACCEPTED);
        assert_int_equal(o->seq, s);
        assert_int_equal(o->flags, XOE_FLAG_RETRANSMIT);
    }
    wantRetransmitEnd(fx, a, 512, XOE_RT_LIMIT, 1);
    wantNone(fx, a);
    assert_true(fx->datagrams - d0 >= 512 * 56 / XOE_FRAME_MAX);
    /* exactly 512 is no LIMIT; 513 is */
    clRetransmit(fx, a, 1, 512);
    for (uint64_t s = 1; s <= 512; s++)
        assert_int_equal(wantOut(fx, a, XOE_MSG_ACCEPTED)->seq, s);
    wantRetransmitEnd(fx, a, 512, 0, 1);
    clRetransmit(fx, a, 1, 513);
    for (uint64_t s = 1; s <= 512; s++)
        assert_int_equal(wantOut(fx, a, XOE_MSG_ACCEPTED)->seq, s);
    wantRetransmitEnd(fx, a, 512, XOE_RT_LIMIT, 1);
    clRetransmit(fx, a, 513, 88);
    for (uint64_t s = 513; s <= 600; s++)
        assert_int_equal(wantOut(fx, a, XOE_MSG_ACCEPTED)->seq, s);
    wantRetransmitEnd(fx, a, 88, 0, 513);
    wantNone(fx, a);
}

/* ------------------------------------------------------------------------ */
/* Heartbeats, timeout, addresses (§8.2-§8.5)                                */

static void test_heartbeat_and_timeout(void **state)
{
    Fx *fx = *state;
    Cl *a = &fx->cl[A];
    const uint64_t t = fx->now;
    logon(fx, a);
    gwOnTimer(fx->gw, t + 999 * MS);
    wantNone(fx, a);
    gwOnTimer(fx->gw, t + 1000 * MS);
    const Out *o = wantOut(fx, a, XOE_MSG_SERVER_HEARTBEAT);
    assert_int_equal(o->seq, 1); /* the next number */
    wantNone(fx, a);
    gwOnTimer(fx->gw, t + 1500 * MS); /* cheap and silent when nothing is due */
    wantNone(fx, a);
    fx->now = t + 1500 * MS;
    clHeartbeat(fx, a); /* keeps the session: nothing valid for 3 s times out */
    gwOnTimer(fx->gw, t + 2000 * MS);
    want(fx, a, XOE_MSG_SERVER_HEARTBEAT);
    gwOnTimer(fx->gw, t + 3000 * MS);
    want(fx, a, XOE_MSG_SERVER_HEARTBEAT);
    gwOnTimer(fx->gw, t + 4000 * MS);
    want(fx, a, XOE_MSG_SERVER_HEARTBEAT);
    gwOnTimer(fx->gw, t + 4499 * MS);
    wantNone(fx, a);
    gwOnTimer(fx->gw, t + 4500 * MS);
    assert_int_equal(want(fx, a, XOE_MSG_LOGGED_OUT)->u.loggedOut.reason, XOE_LOGOUT_TIMEOUT);
    wantNone(fx, a);
    assert_int_equal(info(fx, 1).state, GW_SESSION_IDLE);
    assert_int_equal(stats(fx).timeouts, 1);
    gwOnTimer(fx->gw, t + 10 * SEC);
    wantNone(fx, a);
    /* a busy session gets no heartbeats */
    fx->now = t + 10 * SEC;
    logon(fx, a);
    tradeAll(fx);
    for (int i = 1; i <= 5; i++) {
        fx->now += 600 * MS;
        place(fx, a, IF, XOE_BUY, PX(38000), 1, (uint64_t)i);
        gwOnTimer(fx->gw, fx->now);
        wantNone(fx, a);
    }
}

static void test_wrong_address_dropped(void **state)
{
    Fx *fx = *state;
    Cl *a = &fx->cl[A];
    logon(fx, a);
    tradeAll(fx);
    Cl spoof = *a;
    spoof.addr = addr(66, 1234);
    clOrder(fx, &spoof, IF, XOE_BUY, PX(38000), 1, 1);
    spoof.addr.ip = a->addr.ip; /* same host, other port */
    spoof.seq = 1;
    clOrder(fx, &spoof, IF, XOE_BUY, PX(38000), 1, 1);
    wantNone(fx, a);
    wantNone(fx, &spoof);
    assert_int_equal(stats(fx).wrongAddress, 2);
    assert_int_equal(depthQty(fx, IF, MT_BUY, 0), 0);
    assert_int_equal(info(fx, 1).nextInSeq, 1);
}

static void test_before_logon_and_not_logged_on(void **state)
{
    Fx *fx = *state;
    Cl *a = &fx->cl[A];
    tradeAll(fx);
    /* never bound: dropped, not answered */
    clOrder(fx, a, IF, XOE_BUY, PX(38000), 1, 1);
    wantNone(fx, a);
    assert_int_equal(stats(fx).wrongAddress, 1);
    a->seq = 1;
    logon(fx, a);
    xoeLogout lo = {.reserved = 0};
    clSend(fx, a, XOE_MSG_LOGOUT, &lo);
    assert_int_equal(want(fx, a, XOE_MSG_LOGGED_OUT)->u.loggedOut.reason, XOE_LOGOUT_USER);
    /* from the address it was bound to: NOT_LOGGED_ON, once a second */
    clOrder(fx, a, IF, XOE_BUY, PX(38000), 1, 1);
    const xoeSessionReject *sr = wantSessionReject(fx, a, XOE_SR_NOT_LOGGED_ON, 1, 1);
    assert_int_equal(sr->code, XOE_CODE_NOT_LOGGED_ON);
    advance(fx, 500 * MS);
    clHeartbeat(fx, a); /* says 2: the order was not processed */
    wantNone(fx, a);
    advance(fx, 500 * MS);
    clHeartbeat(fx, a);
    wantSessionReject(fx, a, XOE_SR_NOT_LOGGED_ON, 1, 2);
    /* from elsewhere: dropped */
    Cl other = *a;
    other.addr = addr(77, 1);
    clHeartbeat(fx, &other);
    wantNone(fx, &other);
    gwStats st = stats(fx);
    assert_int_equal(st.notLoggedOn, 3);
    assert_int_equal(st.wrongAddress, 2);
    assert_int_equal(depthQty(fx, IF, MT_BUY, 0), 0);
}

static void test_malformed(void **state)
{
    Fx *fx = *state;
    Cl *a = &fx->cl[A], *b = &fx->cl[B];
    logon(fx, a);
    tradeAll(fx);
    Fr f;
    xoeNewOrder o = nord(IF, XOE_BUY, PX(38000), 1, 1);
    frInit(&f, a->session, 1);
    frAdd(&f, XOE_MSG_NEW_ORDER, &o);
    size_t len = xoeWriterFinish(&f.w);
    uint8_t bad[XOE_FRAME_MAX];
    /* a bad enum from the bound address: MALFORMED with the reason */
    memcpy(bad, f.buf, len);
    bad[XOE_HEADER_SIZE + offsetof(xoeNewOrder, side)] = 5;
    rawSend(fx, a->addr, bad, len);
    const xoeSessionReject *sr = wantSessionReject(fx, a, XOE_SR_MALFORMED, 1, 1);
    assert_int_equal(sr->code, XOE_CODE_MALFORMED);
    assert_int_equal(sr->detail, XOE_ERR_ENUM);
    /* a reserved byte */
    memcpy(bad, f.buf, len);
    bad[XOE_HEADER_SIZE + offsetof(xoeNewOrder, reserved2)] = 1;
    rawSend(fx, a->addr, bad, len);
    assert_int_equal(wantSessionReject(fx, a, XOE_SR_MALFORMED, 1, 1)->detail, XOE_ERR_RESERVED);
    /* header errors are not answered: the header cannot be trusted */
    memcpy(bad, f.buf, len);
    bad[0] ^= 0xFF;
    rawSend(fx, a->addr, bad, len);
    rawSend(fx, a->addr, f.buf, 10);
    memcpy(bad, f.buf, len);
    bad[offsetof(xoeFrameHeader, version)] = 2;
    rawSend(fx, a->addr, bad, len);
    /* a message error from another address or for a session not logged on */
    memcpy(bad, f.buf, len);
    bad[XOE_HEADER_SIZE + offsetof(xoeNewOrder, side)] = 5;
    rawSend(fx, addr(99, 99), bad, len);
    uint32_t bs = b->session;
    memcpy(bad + offsetof(xoeFrameHeader, session), &bs, sizeof bs);
    rawSend(fx, b->addr, bad, len);
    wantNone(fx, a);
    wantNone(fx, b);
    gwStats st = stats(fx);
    assert_int_equal(st.malformed[XOE_ERR_ENUM], 3);
    assert_int_equal(st.malformed[XOE_ERR_RESERVED], 1);
    assert_int_equal(st.malformed[XOE_ERR_MAGIC], 1);
    assert_int_equal(st.malformed[XOE_ERR_SHORT_HEADER], 1);
    assert_int_equal(st.malformed[XOE_ERR_VERSION], 1);
    /* nothing was processed; the frame as sent still is */
    assert_int_equal(info(fx, 1).nextInSeq, 1);
    rawSend(fx, a->addr, f.buf, len);
    want(fx, a, XOE_MSG_ACCEPTED);
    wantNone(fx, a);
}

static void test_logout_keeps_orders_and_replay(void **state)
{
    Fx *fx = *state;
    Cl *a = &fx->cl[A], *b = &fx->cl[B];
    logonAll(fx);
    tradeAll(fx);
    place(fx, a, IF, XOE_BUY, PX(38000), 5, 1);
    xoeLogout lo = {.reserved = 0};
    /* messages after a Logout in the same frame are ignored */
    Fr f;
    xoeNewOrder o = nord(IF, XOE_BUY, PX(38000), 5, 2);
    frInit(&f, a->session, a->seq);
    frAdd(&f, XOE_MSG_LOGOUT, &lo);
    frAdd(&f, XOE_MSG_NEW_ORDER, &o);
    frSend(fx, &f, a->addr);
    assert_int_equal(want(fx, a, XOE_MSG_LOGGED_OUT)->u.loggedOut.reason, XOE_LOGOUT_USER);
    wantNone(fx, a);
    assert_int_equal(depthQty(fx, IF, MT_BUY, 0), 5); /* the order stays */
    assert_int_equal(stats(fx).logouts, 1);
    /* a fill while logged out is kept and replayed at the next logon */
    clOrder(fx, b, IF, XOE_SELL, PX(38000), 2, 3);
    skipAll(fx, b);
    wantNone(fx, a);
    advance(fx, SEC);
    clLogonFull(fx, a, a->addr, 1000, 2);
    const xoeMsg *m = want(fx, a, XOE_MSG_LOGON_ACCEPTED);
    assert_int_equal(m->u.logonAccepted.nextOutSeq, 3);
    const Out *x = wantOut(fx, a, XOE_MSG_EXECUTED);
    assert_int_equal(x->seq, 2);
    assert_int_equal(x->m.u.executed.leaves, 3);
    wantRetransmitEnd(fx, a, 1, 0, 2);
    wantNone(fx, a);
    a->expect = 3;
    place(fx, a, IF, XOE_BUY, PX(38000), 1, 4);
}

static void test_kick_and_enable(void **state)
{
    Fx *fx = *state;
    Cl *a = &fx->cl[A];
    logon(fx, a);
    assert_int_equal(gwSessionKick(fx->gw, a->session, fx->now), 0);
    assert_int_equal(want(fx, a, XOE_MSG_LOGGED_OUT)->u.loggedOut.reason, XOE_LOGOUT_ADMIN);
    assert_int_equal(info(fx, 1).state, GW_SESSION_DISABLED);
    advance(fx, SEC);
    clLogonSend(fx, a);
    assert_int_equal(want(fx, a, XOE_MSG_LOGON_REJECTED)->u.logonRejected.code, XOE_CODE_AUTH);
    clHeartbeat(fx, a); /* from its last address: NOT_LOGGED_ON */
    wantSessionReject(fx, a, XOE_SR_NOT_LOGGED_ON, 1, 1);
    assert_int_equal(gwSessionEnable(fx->gw, a->session), 0);
    advance(fx, SEC);
    logon(fx, a);
    /* kicking an idle session disables it silently */
    assert_int_equal(gwSessionKick(fx->gw, fx->cl[B].session, fx->now), 0);
    wantNone(fx, &fx->cl[B]);
    assert_int_equal(info(fx, 2).state, GW_SESSION_DISABLED);
}

static void test_shutdown(void **state)
{
    Fx *fx = *state;
    logonAll(fx);
    gwShutdown(fx->gw, fx->now);
    for (int i = 0; i < NCLIENTS; i++) {
        Cl *c = &fx->cl[i];
        assert_int_equal(want(fx, c, XOE_MSG_LOGGED_OUT)->u.loggedOut.reason, XOE_LOGOUT_SHUTDOWN);
        wantNone(fx, c);
        assert_int_equal(info(fx, c->session).state, GW_SESSION_IDLE);
    }
    advance(fx, SEC);
    clLogonSend(fx, &fx->cl[A]);
    assert_int_equal(want(fx, &fx->cl[A], XOE_MSG_LOGON_REJECTED)->u.logonRejected.code,
                     XOE_CODE_UNAVAILABLE);
}

static void test_session_counters(void **state)
{
    Fx *fx = *state;
    Cl *a = &fx->cl[A];
    logon(fx, a);
    tradeAll(fx);
    place(fx, a, IF, XOE_BUY, PX(38000), 1, 1);
    clHeartbeat(fx, a);
    gwSessionInfo si = info(fx, 1);
    assert_int_equal(si.messagesIn, 2);  /* NewOrder, Heartbeat (the Logon is not counted) */
    assert_int_equal(si.messagesOut, 2); /* LogonAccepted, Accepted */
    assert_int_equal(si.nextInSeq, 2);
    assert_int_equal(si.nextOutSeq, 2);
    gwStats st = stats(fx);
    assert_int_equal(st.datagramsProcessed, 3);
    assert_int_equal(st.datagramsOut, 2);
}

/* ------------------------------------------------------------------------ */
/* Robustness: random and mutated datagrams around a trading session         */

#define RND_DATAGRAMS 1000000
#define RND_MAX_ORDER 40000

typedef struct {
    uint64_t s;
    uint8_t answered[RND_MAX_ORDER];  /* by A's clOrdId: 1 once directly answered */
    uint64_t cancelOf[RND_MAX_ORDER]; /* by order sequence: the cancel asked, or 0 */
    uint64_t live[RND_MAX_ORDER];     /* A's accepted order ids, swap-removed */
    uint32_t nLive;
    uint64_t expect; /* A's next outbound number */
    uint64_t aMsgs, otherMsgs, logouts;
} Rnd;

static uint64_t rnd(Rnd *r)
{
    r->s ^= r->s << 13;
    r->s ^= r->s >> 7;
    r->s ^= r->s << 17;
    return r->s;
}

static void rndMark(Rnd *r, uint64_t clOrdId)
{
    assert_true(clOrdId >= 1 && clOrdId < RND_MAX_ORDER);
    r->answered[clOrdId]++;
}

/* Watches what A receives: consecutive numbers, one direct answer per
 * request, never logged out. */
static void rndHook(Fx *fx, const Out *o)
{
    Rnd *r = fx->hookCtx;
    if (!addrEq(o->to, fx->cl[A].addr)) {
        r->otherMsgs++;
        return;
    }
    r->aMsgs++;
    assert_int_equal(o->session, fx->cl[A].session);
    assert_int_equal(o->flags, 0);
    if (o->m.type == XOE_MSG_LOGGED_OUT)
        r->logouts++;
    if (!xoeIsSequenced(o->m.type))
        return;
    assert_int_equal(o->seq, r->expect);
    r->expect++;
    const xoeMsg *m = &o->m;
    if (m->type == XOE_MSG_ACCEPTED) {
        rndMark(r, m->u.accepted.clOrdId);
        assert_true(r->nLive < RND_MAX_ORDER);
        r->live[r->nLive++] = m->u.accepted.orderId;
    } else if (m->type == XOE_MSG_REJECTED) {
        rndMark(r, m->u.rejected.clOrdId);
    } else if (m->type == XOE_MSG_CANCEL_REJECTED) {
        rndMark(r, m->u.cancelRejected.clOrdId);
    } else if (m->type == XOE_MSG_CANCELLED && m->u.cancelled.reason == XOE_CXL_USER) {
        uint64_t seq = m->u.cancelled.orderId & ((UINT64_C(1) << 56) - 1);
        assert_true(seq < RND_MAX_ORDER && r->cancelOf[seq] != 0);
        rndMark(r, r->cancelOf[seq]);
    }
}

/* Valid frames to mutate: other sessions' traffic of every type; A's
 * session id only with a wrong token (a mutation of a few bytes cannot
 * make it right), so nothing random can take A over. */
static size_t rndTemplate(Fx *fx, Rnd *r, uint8_t *buf)
{
    static const uint32_t ids[] = {1, 2, 2, 2, 3, 99};
    const uint32_t sid = ids[rnd(r) % 6];
    Fr f;
    frInit(&f, sid, rnd(r) % 8);
    const unsigned n = 1 + (unsigned)(rnd(r) % 3);
    for (unsigned i = 0; i < n; i++) {
        switch (rnd(r) % 8) {
        case 0: {
            xoeLogon l = {.heartbeatMs = 1000, .nextOutSeq = rnd(r) % 4};
            memcpy(l.token, fx->cl[sid == 1 ? A : B].token, XOE_TOKEN_SIZE);
            if (sid == 1)
                for (int k = 0; k < XOE_TOKEN_SIZE; k++)
                    l.token[k] = (uint8_t)~l.token[k];
            frAdd(&f, XOE_MSG_LOGON, &l);
            break;
        }
        case 1: {
            xoeHeartbeat h = {.reserved = 0};
            frAdd(&f, XOE_MSG_HEARTBEAT, &h);
            break;
        }
        case 2: {
            xoeRetransmitRequest q = {.count = (uint32_t)(rnd(r) % 600), .fromSeq = rnd(r) % 50};
            frAdd(&f, XOE_MSG_RETRANSMIT_REQUEST, &q);
            break;
        }
        case 3: {
            xoeLogout lo = {.reserved = 0};
            frAdd(&f, XOE_MSG_LOGOUT, &lo);
            break;
        }
        case 4: {
            xoeCancel c = {.clOrdId = rnd(r), .orderId = OID(1 + rnd(r) % 3000)};
            frAdd(&f, XOE_MSG_CANCEL, &c);
            break;
        }
        case 5: {
            xoeReplace p = {.qty = 1 + (uint32_t)(rnd(r) % 5),
                            .clOrdId = rnd(r),
                            .orderId = OID(1 + rnd(r) % 3000),
                            .price = PX(37900 + 2 * (int64_t)(rnd(r) % 100))};
            frAdd(&f, XOE_MSG_REPLACE, &p);
            break;
        }
        default: {
            xoeNewOrder o =
                nord((uint16_t)(rnd(r) % 5), (uint8_t)(rnd(r) % 2),
                     PX(37900 + 2 * (int64_t)(rnd(r) % 100)), 1 + (uint32_t)(rnd(r) % 5), rnd(r));
            o.timeCondition = (uint8_t)(rnd(r) % 3);
            o.priceType = rnd(r) % 10 == 0 ? XOE_MARKET : XOE_LIMIT;
            frAdd(&f, XOE_MSG_NEW_ORDER, &o);
            break;
        }
        }
    }
    size_t len = xoeWriterFinish(&f.w);
    memcpy(buf, f.buf, len);
    return len;
}

/* A random datagram: a template mutated (bytes flipped, truncated, grown)
 * or plain garbage. */
static size_t rndDatagram(Fx *fx, Rnd *r, uint8_t *buf)
{
    const unsigned kind = (unsigned)(rnd(r) % 10);
    if (kind == 0) {
        size_t len = rnd(r) % (XOE_FRAME_MAX + 40);
        for (size_t i = 0; i < len; i++)
            buf[i] = (uint8_t)rnd(r);
        return len;
    }
    size_t len = rndTemplate(fx, r, buf);
    if (kind <= 2)
        return len; /* valid as built */
    if (kind <= 6) {
        const unsigned flips = 1 + (unsigned)(rnd(r) % 4);
        for (unsigned i = 0; i < flips; i++)
            buf[rnd(r) % len] ^= (uint8_t)(1u << (rnd(r) % 8));
        return len;
    }
    if (kind == 7)
        return rnd(r) % len;
    const size_t more = rnd(r) % 64;
    for (size_t i = 0; i < more; i++)
        buf[len + i] = (uint8_t)rnd(r);
    return len + more;
}

static void rndValidStep(Fx *fx, Rnd *r, uint64_t *nextClOrdId)
{
    Cl *a = &fx->cl[A];
    const uint64_t id = (*nextClOrdId)++;
    assert_true(id < RND_MAX_ORDER);
    if (r->nLive > 0 && rnd(r) % 3 == 0) {
        const uint32_t k = (uint32_t)(rnd(r) % r->nLive);
        const uint64_t orderId = r->live[k];
        r->live[k] = r->live[--r->nLive];
        r->cancelOf[orderId & ((UINT64_C(1) << 56) - 1)] = id;
        clCancel(fx, a, orderId, id);
        return;
    }
    clOrder(fx, a, IF, (uint8_t)(rnd(r) % 2), PX(37900 + 2 * (int64_t)(rnd(r) % 100)),
            1 + (uint32_t)(rnd(r) % 5), id);
}

static void test_random_datagrams(void **state)
{
    Fx *fx = *state;
    Rnd *r = calloc(1, sizeof *r);
    assert_non_null(r);
    r->s = 0x9E3779B97F4A7C15u;
    r->expect = 1;
    fxRebuild(fx, 1u << 16, 10000, 1024);
    Cl *a = &fx->cl[A];
    logonAll(fx);
    tradeAll(fx);
    r->expect = a->expect;
    fx->hook = rndHook;
    fx->hookCtx = r;
    uint8_t buf[XOE_FRAME_MAX + 128];
    uint64_t nextClOrdId = 1, valid = 0;
    for (uint32_t i = 0; i < RND_DATAGRAMS; i++) {
        fx->now += 10 * US;
        if (i % 97 == 0) {
            rndValidStep(fx, r, &nextClOrdId);
            valid++;
        }
        const size_t len = rndDatagram(fx, r, buf);
        gwAddr from =
            rnd(r) % 8 == 0 ? fx->cl[B].addr : addr((uint8_t)(rnd(r) % 250), (uint16_t)rnd(r));
        if (addrEq(from, a->addr))
            from.port++;
        fx->sent++;
        gwOnDatagram(fx->gw, from, buf, (uint16_t)len, fx->now);
        if (i % 16 == 0) {
            gwFlush(fx->gw);
            gwOnTimer(fx->gw, fx->now);
        }
    }
    gwFlush(fx->gw);
    fx->hook = NULL;
    /* every request of A was answered once, and A stayed logged on */
    for (uint64_t id = 1; id < nextClOrdId; id++)
        if (r->answered[id] != 1)
            fail_msg("A's request %llu answered %u times", (unsigned long long)id, r->answered[id]);
    assert_int_equal(r->logouts, 0);
    assert_int_equal(info(fx, 1).state, GW_SESSION_LOGGED_ON);
    assert_int_equal(info(fx, 1).nextInSeq, valid + 1);
    assert_int_equal(info(fx, 1).nextOutSeq, r->expect);
    gwStats st = stats(fx);
    uint64_t malformed = 0;
    for (int i = 0; i < 32; i++)
        malformed += st.malformed[i];
    print_message("random: %llu datagrams: %llu processed, %llu malformed, %llu unknown session, "
                  "%llu wrong address, %llu not logged on, %llu logons throttled; "
                  "A got %llu messages, others %llu\n",
                  (unsigned long long)st.datagramsIn, (unsigned long long)st.datagramsProcessed,
                  (unsigned long long)malformed, (unsigned long long)st.unknownSession,
                  (unsigned long long)st.wrongAddress, (unsigned long long)st.notLoggedOn,
                  (unsigned long long)st.logonThrottled, (unsigned long long)r->aMsgs,
                  (unsigned long long)r->otherMsgs);
    assert_true(st.datagramsProcessed > valid); /* the chaos did get through sometimes */
    assert_true(malformed > RND_DATAGRAMS / 4);
    free(r);
}

int main(void)
{
#define T(t) cmocka_unit_test_setup_teardown(t, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_create_rejects_bad_options),
        T(test_create_from_loaded_config),
        T(test_session_table),
        T(test_logon_ok),
        T(test_logon_bad_token),
        T(test_logon_unknown_session),
        T(test_logon_allowed_ip),
        T(test_logon_rate_limit),
        T(test_logon_takeover),
        T(test_logon_repeat_and_replay),
        T(test_logon_checks),
        T(test_order_accepted_and_executed),
        T(test_metrics_counters),
        T(test_metrics_match_sampled),
        T(test_partial_fills),
        T(test_market_and_volume_conditions),
        T(test_self_trade_prevention),
        T(test_auction_liquidity),
        T(test_trade_hook),
        T(test_close_expires_gfd),
        T(test_cancel),
        T(test_replace_from_other_session_of_account),
        T(test_admin_cancel),
        T(test_replace_priority_and_clordid),
        T(test_replace_rejects),
        T(test_new_order_rejects),
        T(test_pool_full),
        T(test_throttle),
        T(test_unknown_types),
        T(test_duplicate_answered_not_reexecuted),
        T(test_duplicate_expired),
        T(test_duplicate_answer_left_history),
        T(test_gap),
        T(test_frames_split_at_limit),
        T(test_retransmit_request),
        T(test_retransmit_too_old),
        T(test_retransmit_limit),
        T(test_heartbeat_and_timeout),
        T(test_wrong_address_dropped),
        T(test_before_logon_and_not_logged_on),
        T(test_malformed),
        T(test_logout_keeps_orders_and_replay),
        T(test_kick_and_enable),
        T(test_shutdown),
        T(test_session_counters),
        T(test_random_datagrams),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
