/* test_credit.c -- credit lines end to end without DPDK: gateway + credit.c on the "worker",
 * ledger.c + the account book on the "control core", queues in between.
 *
 * A real gateway (dataplane/gateway.c, segment 0 of config/xchg.conf) runs
 * with its risk hooks on a crRisk; every crEvent goes to a queue the
 * ledger drains into an acctBook, every command the ledger sends goes to a
 * queue the worker drains (crApply, gwResume for parked orders), as the
 * SPSC rings do in xchgd. Clients are XOE sessions of accounts 1..N.
 * Scenario tests provoke each worker-side code; the randomized test runs
 * 200,000 client operations and checks after each pump that no line is
 * negative, that the control core's view of every line and every position
 * equals the worker's, and that money is conserved. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "config/config.h"
#include "control/account.h"
#include "control/settle.h"
#include "dataplane/credit.h"
#include "dataplane/gateway.h"
#include "dataplane/ledger.h"

#define T0      UINT64_C(1759714200000000000)
#define M(x)    ((int64_t)(x)*10000)
#define IF      0
#define IC      1
#define NACC    40
#define QCAP    (1u << 20)
#define IFPX(t) ((int64_t)(t)*1000) /* IF price from tenths */

typedef struct {
    uint32_t account;
    gwAddr addr;
    uint8_t token[XOE_TOKEN_SIZE];
    uint64_t seq;
    /* last answers */
    uint16_t lastReject;
    uint64_t lastAccepted; /* order id */
    uint32_t accepted, rejected, executed;
    int64_t commission; /* sum of Executed.commission */
} Cl;

typedef struct {
    cfgConfig cfg, use;
    cfgSegment seg;
    gwGateway *gw;
    crRisk *risk;
    acctBook *book;
    lgLedger *lg;
    crEvent *evq;
    uint32_t nEv;
    struct {
        uint16_t seg;
        crCmd c;
    } * cmdq;
    uint32_t nCmd;
    int failSends; /* the ledger's sends fail while set (a full ring) */
    uint64_t now;
    Cl cl[NACC + 1];
} Fx;

static Fx *gfx;

static void onEmit(void *ctx, const crEvent *ev)
{
    Fx *fx = ctx;
    assert_true(fx->nEv < QCAP);
    fx->evq[fx->nEv++] = *ev;
}

static int onSendCmd(void *ctx, uint16_t seg, const crCmd *c)
{
    Fx *fx = ctx;
    if (fx->failSends || fx->nCmd >= QCAP)
        return -1;
    fx->cmdq[fx->nCmd].seg = seg;
    fx->cmdq[fx->nCmd].c = *c;
    fx->nCmd++;
    return 0;
}

/* Client side: records the answers per client. */
static void onSend(void *ctx, gwAddr to, const uint8_t *data, uint16_t len)
{
    Fx *fx = ctx;
    xoeFrame f;
    xoeErrorInfo ei;
    if (xoeFrameParse(data, len, XOE_DIR_TO_CLIENT, &f, &ei) != XOE_OK) {
        fail_msg("the gateway sent an invalid frame");
        return;
    }
    Cl *c = NULL;
    for (int i = 1; i <= NACC; i++)
        if (fx->cl[i].addr.ip == to.ip && fx->cl[i].addr.port == to.port)
            c = &fx->cl[i];
    if (!c)
        return;
    xoeIter it;
    xoeMsg m;
    xoeIterInit(&it, &f);
    while (xoeIterNext(&it, &m)) {
        switch (m.type) {
        case XOE_MSG_REJECTED:
            c->lastReject = m.u.rejected.code;
            c->rejected++;
            break;
        case XOE_MSG_LOGON_REJECTED:
            c->lastReject = m.u.logonRejected.code;
            break;
        case XOE_MSG_CANCEL_REJECTED:
            c->lastReject = m.u.cancelRejected.code;
            break;
        case XOE_MSG_ACCEPTED:
            c->lastAccepted = m.u.accepted.orderId;
            c->accepted++;
            break;
        case XOE_MSG_EXECUTED:
            c->executed++;
            c->commission += m.u.executed.commission;
            break;
        default:
            break;
        }
    }
}

/* Drains both queues until nothing moves, as the two lcores would. */
static void pump(Fx *fx)
{
    for (int round = 0; round < 1000; round++) {
        if (!fx->nEv && !fx->nCmd)
            return;
        uint32_t nc = fx->nCmd;
        for (uint32_t i = 0; i < nc; i++) {
            crParkedOrder po;
            if (crApply(fx->risk, &fx->cmdq[i].c, &po, fx->now)) {
                gwResume(fx->gw, po.session, &po.order, fx->now);
                gwFlush(fx->gw);
            }
        }
        memmove(fx->cmdq, fx->cmdq + nc, sizeof *fx->cmdq * (fx->nCmd - nc));
        fx->nCmd -= nc;
        uint32_t ne = fx->nEv;
        for (uint32_t i = 0; i < ne; i++)
            lgOnEvent(fx->lg, &fx->evq[i], fx->now);
        memmove(fx->evq, fx->evq + ne, sizeof *fx->evq * (fx->nEv - ne));
        fx->nEv -= ne;
    }
    fail_msg("the queues never drained");
}

static void tokenOf(uint32_t session, uint8_t *t)
{
    for (int i = 0; i < XOE_TOKEN_SIZE; i++)
        t[i] = (uint8_t)(session * 13u + (unsigned)i * 5u + 3u);
}

static void sendMsg(Fx *fx, uint32_t i, uint8_t type, const void *msg, int logon)
{
    Cl *c = &fx->cl[i];
    uint8_t buf[XOE_FRAME_MAX];
    xoeWriter w;
    assert_int_equal(xoeWriterInit(&w, buf, XOE_FRAME_MAX, i, c->seq, 0), XOE_OK);
    assert_int_equal(xoeAppend(&w, type, msg), XOE_OK);
    if (!logon)
        c->seq += (uint64_t)xoeIsSequenced(type);
    size_t len = xoeWriterFinish(&w);
    fx->now += 1000;
    gwOnDatagram(fx->gw, c->addr, buf, (uint16_t)len, fx->now);
    gwFlush(fx->gw);
    pump(fx);
}

static void logon(Fx *fx, uint32_t i)
{
    xoeLogon l = {.heartbeatMs = 30000};
    memcpy(l.token, fx->cl[i].token, XOE_TOKEN_SIZE);
    fx->now += 2000000000ull; /* one logon per second per session */
    sendMsg(fx, i, XOE_MSG_LOGON, &l, 1);
}

static void openAccount(Fx *fx, uint32_t id, int64_t cash)
{
    assert_int_equal(acctOpen(fx->book, id, "t", ACCT_INDIVIDUAL, cash, fx->now), 0);
    assert_int_equal(lgSync(fx->lg, id), 0);
    pump(fx);
}

static int setup(void **state)
{
    Fx *fx = calloc(1, sizeof *fx);
    char err[256];
    if (cfgLoad("config/xchg.conf", &fx->cfg, err, sizeof err) != 0)
        fail_msg("config/xchg.conf: %s", err);
    fx->use = fx->cfg;
    fx->seg = fx->cfg.segments[0];
    fx->seg.orderCapacity = 1u << 16;
    fx->use.segments = &fx->seg;
    fx->evq = calloc(QCAP, sizeof *fx->evq);
    fx->cmdq = calloc(QCAP, sizeof *fx->cmdq);
    fx->now = T0;
    crOptions co = {.cfg = &fx->use,
                    .segment = 0,
                    .maxAccounts = 1024,
                    .maxPositions = 4096,
                    .refCap = fx->seg.orderCapacity + 4,
                    .emit = onEmit,
                    .emitCtx = fx};
    fx->risk = crCreate(&co);
    gwOptions go = {.cfg = &fx->use,
                    .segment = 0,
                    .maxSessions = NACC + 1,
                    .historyDepth = 256,
                    .tradingDay = 20251006,
                    .send = onSend,
                    .sendCtx = fx,
                    .risk = fx->risk};
    fx->gw = gwCreate(&go);
    acctLimits lim = acctLimitsFromConfig(&fx->cfg.risk);
    fx->book = acctCreate(&lim);
    assert_int_equal(instLoadConfig(fx->book, &fx->cfg), 0);
    fx->lg = lgCreate(&fx->cfg, fx->book, onSendCmd, fx);
    assert_non_null(fx->risk);
    assert_non_null(fx->gw);
    assert_non_null(fx->lg);
    for (uint32_t i = 1; i <= NACC; i++) {
        Cl *c = &fx->cl[i];
        c->account = i;
        c->addr = (gwAddr){(198u << 24) | (18u << 16) | (i + 10), (uint16_t)(41000 + i)};
        c->seq = 1;
        tokenOf(i, c->token);
        assert_int_equal(gwSessionAdd(fx->gw, i, c->token, i, 0), 0);
    }
    for (int k = 0; k < 4; k++)
        assert_int_equal(gwSetState(fx->gw, (uint16_t)k, MT_STATE_CONTINUOUS, fx->now), MT_OK);
    gfx = fx;
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    Fx *fx = *state;
    gwDestroy(fx->gw);
    crDestroy(fx->risk);
    lgDestroy(fx->lg);
    acctDestroy(fx->book);
    cfgFree(&fx->cfg);
    free(fx->evq);
    free(fx->cmdq);
    free(fx);
    return 0;
}

static void order(Fx *fx, uint32_t i, uint16_t ins, uint8_t side, uint8_t offset, int64_t price,
                  uint32_t qty, uint8_t priceType)
{
    xoeNewOrder o = {.instrument = ins,
                     .side = side,
                     .offset = offset,
                     .clOrdId = fx->cl[i].seq * 10,
                     .price = price,
                     .qty = qty,
                     .priceType = priceType,
                     .timeCondition = XOE_GFD,
                     .volumeCondition = XOE_VOL_ANY};
    fx->cl[i].lastReject = 0;
    fx->cl[i].lastAccepted = 0;
    sendMsg(fx, i, XOE_MSG_NEW_ORDER, &o, 0);
}

/* The worker's and the control core's views agree. */
static void checkAgree(Fx *fx)
{
    lgStats ls;
    lgGetStats(fx->lg, &ls);
    assert_int_equal(ls.mismatches, 0);
    acctTotals t;
    acctGetTotals(fx->book, &t);
    int64_t balances = 0;
    for (uint32_t k = 0; k < acctCount(fx->book); k++) {
        const acctAccount *a = acctAt(fx->book, k);
        acctFigures f;
        acctCompute(fx->book, a, &f);
        balances += f.balance;
        const int64_t line = crLine(fx->risk, a->id);
        assert_true(line >= 0);
        assert_int_equal(line, lgLineTotal(fx->lg, a->id));
        for (uint16_t ins = 0; ins < 4; ins++) {
            const posPosition *c = acctPosition(fx->book, a->id, ins);
            const posPosition *w = crPosition(fx->risk, a->id, ins);
            posPosition zero;
            memset(&zero, 0, sizeof zero);
            assert_memory_equal(c ? c : &zero, w ? w : &zero, sizeof zero);
        }
    }
    assert_int_equal(t.deposits - t.withdrawals, balances + t.commission);
}

/* ---- scenarios ----------------------------------------------------------------------- */

static void testUnknownAccountLogon(void **state)
{
    Fx *fx = *state;
    logon(fx, 1); /* account 1 never opened */
    assert_int_equal(fx->cl[1].lastReject, XOE_CODE_ACCOUNT_NOT_FOUND);
    openAccount(fx, 1, M(1000000));
    logon(fx, 1);
    order(fx, 1, IF, XOE_BUY, XOE_OPEN, IFPX(38000), 1, XOE_LIMIT);
    assert_int_not_equal(fx->cl[1].lastAccepted, 0);
    checkAgree(fx);
}

static void testWorkerCodes(void **state)
{
    Fx *fx = *state;
    openAccount(fx, 1, M(5000000));
    openAccount(fx, 2, M(5000000));
    logon(fx, 1);
    logon(fx, 2);
    /* 1007 unknown instrument, 1008 lots, off tick, band */
    order(fx, 1, 200, XOE_BUY, XOE_OPEN, IFPX(38000), 1, XOE_LIMIT);
    assert_int_equal(fx->cl[1].lastReject, 1007);
    order(fx, 1, IF, XOE_BUY, XOE_OPEN, IFPX(38000), 0, XOE_LIMIT);
    assert_int_equal(fx->cl[1].lastReject, 1008);
    order(fx, 1, IF, XOE_BUY, XOE_OPEN, IFPX(38000) + 1000, 1, XOE_LIMIT);
    assert_int_equal(fx->cl[1].lastReject, 1008);
    order(fx, 1, IF, XOE_BUY, XOE_OPEN, IFPX(50000), 1, XOE_LIMIT);
    assert_int_equal(fx->cl[1].lastReject, 1008);
    /* 1003: 9 x 3800 x 300 = 10,260,000 > 10,000,000 */
    order(fx, 1, IF, XOE_BUY, XOE_OPEN, IFPX(38000), 9, XOE_LIMIT);
    assert_int_equal(fx->cl[1].lastReject, 1003);
    /* 1002: 8 lots' margin 8 x 136,800 = 1,094,400 > 50% of... no: 2,500,000 ok;
     * 2 orders of 8 then a third: 3 x 1,094,400 > 2,500,000 */
    order(fx, 1, IF, XOE_BUY, XOE_OPEN, IFPX(38000), 8, XOE_LIMIT);
    assert_int_equal(fx->cl[1].lastReject, 0);
    order(fx, 1, IF, XOE_BUY, XOE_OPEN, IFPX(38000), 8, XOE_LIMIT);
    assert_int_equal(fx->cl[1].lastReject, 0);
    order(fx, 1, IF, XOE_BUY, XOE_OPEN, IFPX(38000), 8, XOE_LIMIT);
    assert_int_equal(fx->cl[1].lastReject, 1002);
    /* 2005: no short to close, no long today */
    order(fx, 2, IF, XOE_BUY, XOE_CLOSE, IFPX(38000), 1, XOE_LIMIT);
    assert_int_equal(fx->cl[2].lastReject, 2005);
    order(fx, 2, IF, XOE_SELL, XOE_CLOSE_TODAY, IFPX(38000), 1, XOE_LIMIT);
    assert_int_equal(fx->cl[2].lastReject, 2005);
    /* 2002: a frozen account */
    assert_int_equal(acctSetFrozen(fx->book, 2, 1), 0);
    lgSync(fx->lg, 2);
    pump(fx);
    order(fx, 2, IF, XOE_SELL, XOE_OPEN, IFPX(38000), 1, XOE_LIMIT);
    assert_int_equal(fx->cl[2].lastReject, 2002);
    assert_int_equal(acctSetFrozen(fx->book, 2, 0), 0);
    lgSync(fx->lg, 2);
    pump(fx);
    /* a trade: 2 sells 3 to 1 */
    order(fx, 2, IF, XOE_SELL, XOE_OPEN, IFPX(38000), 3, XOE_LIMIT);
    assert_int_equal(fx->cl[2].lastReject, 0);
    assert_int_equal(fx->cl[2].executed, 1);
    assert_int_equal(fx->cl[1].executed, 1);
    /* Executed carries the commission the accounts were charged:
     * 3800 x 3 x 300 x 0.0023% = 78.66 -> 786600 */
    assert_int_equal(fx->cl[1].commission, 786600);
    assert_int_equal(acctGet(fx->book, 1)->commission, 786600);
    /* now 2 can buy back (CLOSE of its short), and 1 cannot close yesterday */
    order(fx, 1, IF, XOE_SELL, XOE_CLOSE_YESTERDAY, IFPX(38000), 1, XOE_LIMIT);
    assert_int_equal(fx->cl[1].lastReject, 2005);
    checkAgree(fx);
}

static void testTopUpLetsAffordableOrderThrough(void **state)
{
    Fx *fx = *state;
    openAccount(fx, 1, M(200000));
    logon(fx, 1);
    assert_int_equal(crLine(fx->risk, 1), M(200000));
    /* a deposit whose grant does not reach the worker (ring full) */
    fx->failSends = 1;
    assert_int_equal(acctDeposit(fx->book, 1, M(800000)), 0);
    assert_int_equal(lgSync(fx->lg, 1), -1);
    fx->failSends = 0;
    assert_int_equal(crLine(fx->risk, 1), M(200000));
    /* 2 lots need 273,600 + fees: above the line, within the account: parked,
     * topped up, accepted */
    order(fx, 1, IF, XOE_BUY, XOE_OPEN, IFPX(38000), 2, XOE_LIMIT);
    assert_int_equal(fx->cl[1].lastReject, 0);
    assert_int_not_equal(fx->cl[1].lastAccepted, 0);
    crStats st;
    crGetStats(fx->risk, &st);
    assert_int_equal(st.parked, 1);
    assert_int_equal(st.resumed, 1);
    /* 6 more lots (820,800) take IF over 50% of the balance: parked (the cap
     * may be stale too), then refused 1002 */
    order(fx, 1, IF, XOE_BUY, XOE_OPEN, IFPX(38000), 6, XOE_LIMIT);
    assert_int_equal(fx->cl[1].lastReject, 1002);
    crGetStats(fx->risk, &st);
    assert_int_equal(st.parked, 2);
    assert_int_equal(st.topupRejects, 1);
    checkAgree(fx);
}

static void testBlockedAndReclaim(void **state)
{
    Fx *fx = *state;
    openAccount(fx, 1, M(300000));
    openAccount(fx, 2, M(5000000));
    openAccount(fx, 3, M(5000000));
    logon(fx, 1);
    logon(fx, 2);
    logon(fx, 3);
    acctLimits lim = *acctGetLimits(fx->book);
    lim.concentration = ACCT_PPM;
    acctSetLimits(fx->book, &lim);
    lgSync(fx->lg, 1);
    pump(fx);
    /* 2 lots: margin 273,600 of a 300,000 balance: 91% */
    order(fx, 2, IF, XOE_SELL, XOE_OPEN, IFPX(38000), 2, XOE_LIMIT);
    order(fx, 1, IF, XOE_BUY, XOE_OPEN, IFPX(38000), 2, XOE_LIMIT);
    assert_int_equal(fx->cl[1].executed, 1);
    checkAgree(fx);
    /* the price falls 20.0 (2 x 300 x 20 = 12,000 loss): 273,600 / 287,9xx > 95% */
    order(fx, 2, IF, XOE_SELL, XOE_OPEN, IFPX(37800), 1, XOE_LIMIT);
    order(fx, 3, IF, XOE_BUY, XOE_OPEN, IFPX(37800), 1, XOE_LIMIT);
    assert_int_equal(fx->cl[3].executed, 1);
    uint32_t liq[4];
    lgScan(fx->lg, fx->now, liq, 4);
    pump(fx);
    order(fx, 1, IF, XOE_BUY, XOE_OPEN, IFPX(37800), 1, XOE_LIMIT);
    assert_int_equal(fx->cl[1].lastReject, 1004);
    /* the line was reclaimed down to the available money, never below 0 */
    acctFigures f;
    acctCompute(fx->book, acctGet(fx->book, 1), &f);
    assert_int_equal(crLine(fx->risk, 1), f.available > 0 ? f.available : 0);
    /* closing is still allowed */
    order(fx, 1, IF, XOE_SELL, XOE_CLOSE, IFPX(37800), 1, XOE_LIMIT);
    assert_int_equal(fx->cl[1].lastReject, 0);
    checkAgree(fx);
    /* below the liquidation level the scan lists nobody; a trade at 3600.0
     * (1 lot left: margin 3800 x 300 x 12% = 136,800 against a balance near
     * 300,000 - 60,000 - 6,000) takes account 1 over 100%: listed once, a
     * record and its plan, not again while the retry delay runs */
    assert_int_equal(lgScan(fx->lg, fx->now, liq, 4), 0);
    order(fx, 2, IF, XOE_SELL, XOE_OPEN, IFPX(36000), 1, XOE_LIMIT);
    order(fx, 3, IF, XOE_BUY, XOE_OPEN, IFPX(36000), 1, XOE_LIMIT);
    acctCompute(fx->book, acctGet(fx->book, 1), &f);
    if (f.riskRatio >= 1000000) {
        assert_int_equal(lgScan(fx->lg, fx->now, liq, 4), 1);
        assert_int_equal(liq[0], 1);
        assert_int_equal(acctLiquidationCount(fx->book), 1);
        assert_int_equal(acctLiquidationAt(fx->book, 0)->orders, 1);
        assert_int_equal(lgScan(fx->lg, fx->now + 1000, liq, 4), 0);
        assert_int_equal(lgScan(fx->lg, fx->now + 2000000000ull, liq, 4), 1);
    } else {
        fail_msg("account 1 should be over the liquidation level: %lld ppm",
                 (long long)f.riskRatio);
    }
    pump(fx);
    checkAgree(fx);
}

static void testReplaceAndCancelRelease(void **state)
{
    Fx *fx = *state;
    openAccount(fx, 1, M(5000000));
    logon(fx, 1);
    const int64_t line0 = crLine(fx->risk, 1);
    order(fx, 1, IF, XOE_BUY, XOE_OPEN, IFPX(38000), 2, XOE_LIMIT);
    const uint64_t id = fx->cl[1].lastAccepted;
    assert_int_not_equal(id, 0);
    /* 2 x 3800 x 300 x 12% + fees = 273,600 + 52.44 frozen */
    assert_int_equal(line0 - crLine(fx->risk, 1), M(273600) + 524400);
    xoeReplace rq = {.qty = 3, .clOrdId = 77, .orderId = id, .price = IFPX(37990)};
    sendMsg(fx, 1, XOE_MSG_REPLACE, &rq, 0);
    /* 3 x 3799 x 300 x 12% = 410,292; fees 3799 x 900 x 0.0023% = 78.6393 -> 786393 */
    assert_int_equal(line0 - crLine(fx->risk, 1), M(410292) + 786393);
    assert_int_equal(acctGet(fx->book, 1)->frozenMargin, M(410292));
    /* 1001 on a replace the line cannot cover (no parking for replaces): an IC
     * order freezes 134,400 more, the balance comes down to 750,000, so 5 IF
     * lots (684,000) pass the 100% concentration cap but not the money */
    acctLimits lim = *acctGetLimits(fx->book);
    lim.concentration = ACCT_PPM;
    acctSetLimits(fx->book, &lim);
    order(fx, 1, IC, XOE_BUY, XOE_OPEN, IFPX(56000), 1, XOE_LIMIT);
    assert_int_not_equal(fx->cl[1].lastAccepted, 0);
    assert_int_equal(acctWithdraw(fx->book, 1, M(4250000)), 0);
    lgSync(fx->lg, 1);
    pump(fx);
    rq = (xoeReplace){.qty = 5, .clOrdId = 78, .orderId = id, .price = IFPX(38000)};
    sendMsg(fx, 1, XOE_MSG_REPLACE, &rq, 0);
    assert_int_equal(fx->cl[1].lastReject, 1001);
    xoeCancel cx = {.clOrdId = 79, .orderId = id};
    sendMsg(fx, 1, XOE_MSG_CANCEL, &cx, 0);
    assert_int_equal(acctGet(fx->book, 1)->frozenMargin, M(134400)); /* the IC order's */
    acctFigures f;
    acctCompute(fx->book, acctGet(fx->book, 1), &f);
    assert_int_equal(crLine(fx->risk, 1), f.available);
    checkAgree(fx);
}

/* ---- randomized -------------------------------------------------------------------------- */

static uint64_t rs = 88172645463325252ull;
static uint32_t rn(uint32_t n)
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return (uint32_t)(rs % n);
}

static void testRandomized(void **state)
{
    Fx *fx = *state;
    acctLimits lim = *acctGetLimits(fx->book);
    lim.concentration = 900000;
    lim.maxOrderNotional = M(100000000);
    acctSetLimits(fx->book, &lim);
    for (uint32_t i = 1; i <= NACC; i++) {
        openAccount(fx, i, M(500000) * (1 + rn(20)));
        logon(fx, i);
    }
    const int64_t mid[2] = {38000, 56000}; /* tenths */
    uint32_t day = 20251006;
    for (uint32_t op = 0; op < 200000; op++) {
        const uint32_t i = 1 + rn(NACC);
        const uint32_t k = rn(100);
        if (k < 70) {
            const uint16_t ins = (uint16_t)rn(2);
            const uint8_t side = (uint8_t)rn(2);
            const uint8_t offset = rn(3) ? XOE_OPEN : (uint8_t)(1 + rn(3));
            const int64_t px = IFPX(mid[ins] + 2 * ((int64_t)rn(11) - 5));
            const uint8_t pt = rn(20) ? XOE_LIMIT : XOE_MARKET;
            order(fx, i, ins, side, offset, px, 1 + rn(4), pt);
        } else if (k < 85) {
            if (fx->cl[i].lastAccepted) {
                xoeCancel cx = {.clOrdId = 5, .orderId = fx->cl[i].lastAccepted};
                sendMsg(fx, i, XOE_MSG_CANCEL, &cx, 0);
            }
        } else if (k < 92) {
            if (fx->cl[i].lastAccepted) {
                xoeReplace rq = {.qty = 1 + rn(5),
                                 .clOrdId = 6,
                                 .orderId = fx->cl[i].lastAccepted,
                                 .price = IFPX(mid[0] + 2 * ((int64_t)rn(11) - 5))};
                sendMsg(fx, i, XOE_MSG_REPLACE, &rq, 0);
            }
        } else if (k < 96) {
            acctDeposit(fx->book, i, M(1 + rn(100000)));
            lgSync(fx->lg, i);
            pump(fx);
        } else if (k < 99) {
            acctWithdraw(fx->book, i, M(1 + rn(200000)));
            lgSync(fx->lg, i);
            pump(fx);
        } else {
            uint32_t liq[64];
            lgScan(fx->lg, fx->now, liq, 64);
            pump(fx);
        }
        if (op % 50000 == 49999) {
            /* end of day: expire, settle at the last prices, roll both sides */
            for (int b = 0; b < 4; b++)
                gwSetState(fx->gw, (uint16_t)b, MT_STATE_CLOSED, fx->now);
            gwFlush(fx->gw);
            pump(fx);
            for (uint16_t b = 0; b < 4; b++)
                settleSetPrice(fx->book, b, instAt(fx->book, b)->lastPrice);
            assert_int_equal(settleRun(fx->book, ++day, fx->now, NULL), 0);
            for (uint16_t b = 0; b < 4; b++)
                lgRoll(fx->lg, b, instAt(fx->book, b)->spec.preSettlement);
            uint32_t liq[64];
            lgScan(fx->lg, fx->now, liq, 64);
            pump(fx);
            for (int b = 0; b < 4; b++)
                gwSetState(fx->gw, (uint16_t)b, MT_STATE_CONTINUOUS, fx->now);
            gwFlush(fx->gw);
            pump(fx);
        }
        if (op % 500 == 0)
            checkAgree(fx);
    }
    checkAgree(fx);
    acctTotals t;
    acctGetTotals(fx->book, &t);
    assert_true(t.fills > 10000);
    crStats st;
    crGetStats(fx->risk, &st);
    printf("randomized: %llu fills, %llu checks, %llu parked, %llu clamped, %llu grants, %llu "
           "reclaims\n",
           (unsigned long long)t.fills, (unsigned long long)st.checks,
           (unsigned long long)st.parked, (unsigned long long)st.clamped,
           (unsigned long long)st.grants, (unsigned long long)st.reclaims);
}

/* ---- two segments -------------------------------------------------------------------- */

/* IF trades on segment 0, IC on segment 1 (config/xchg.conf's instruments,
 * IC moved): two crRisk "workers" and one ledger, queues in between. */
typedef struct {
    cfgConfig cfg, use;
    cfgSegment seg[2];
    cfgInstrument *ins;
    crRisk *risk[2];
    acctBook *book;
    lgLedger *lg;
    crEvent *evq;
    uint32_t nEv;
    struct {
        uint16_t seg;
        crCmd c;
    } * cmdq;
    uint32_t nCmd;
    uint32_t nextRef;
    uint64_t nextOrderId, now;
    int lastRc; /* the answer to the last order: 0 accepted, or a code */
} Fx2;

static int onSendCmd2(void *ctx, uint16_t seg, const crCmd *c)
{
    Fx2 *fx = ctx;
    assert_true(fx->nCmd < QCAP && seg < 2);
    fx->cmdq[fx->nCmd].seg = seg;
    fx->cmdq[fx->nCmd].c = *c;
    fx->nCmd++;
    return 0;
}

static void onEmit2(void *ctx, const crEvent *ev)
{
    Fx2 *fx = ctx;
    assert_true(fx->nEv < QCAP);
    fx->evq[fx->nEv++] = *ev;
}

/* What the gateway does with a checked order: accepted (CR_EV_ORDER). */
static void accept2(Fx2 *fx, uint16_t seg, uint32_t ref, const xoeNewOrder *o)
{
    fx->lastRc = 0;
    crOnAccepted(fx->risk[seg], ref, ++fx->nextOrderId, o->clOrdId, fx->now);
}

static void pump2(Fx2 *fx)
{
    for (int round = 0; round < 1000; round++) {
        if (!fx->nEv && !fx->nCmd)
            return;
        uint32_t nc = fx->nCmd;
        for (uint32_t i = 0; i < nc; i++) {
            const uint16_t seg = fx->cmdq[i].seg;
            crParkedOrder po;
            if (crApply(fx->risk[seg], &fx->cmdq[i].c, &po, fx->now)) {
                const uint32_t ref = fx->nextRef++;
                fx->lastRc = crCheckNew(fx->risk[seg], ref, po.session, fx->cmdq[i].c.account,
                                        &po.order, 0, fx->now);
                if (fx->lastRc == 0)
                    accept2(fx, seg, ref, &po.order);
            }
        }
        memmove(fx->cmdq, fx->cmdq + nc, sizeof *fx->cmdq * (fx->nCmd - nc));
        fx->nCmd -= nc;
        uint32_t ne = fx->nEv;
        for (uint32_t i = 0; i < ne; i++)
            lgOnEvent(fx->lg, &fx->evq[i], fx->now);
        memmove(fx->evq, fx->evq + ne, sizeof *fx->evq * (fx->nEv - ne));
        fx->nEv -= ne;
    }
    fail_msg("the queues never drained");
}

static int setup2(void **state)
{
    Fx2 *fx = calloc(1, sizeof *fx);
    char err[256];
    if (cfgLoad("config/xchg.conf", &fx->cfg, err, sizeof err) != 0)
        fail_msg("config/xchg.conf: %s", err);
    fx->use = fx->cfg;
    fx->seg[0] = fx->seg[1] = fx->cfg.segments[0];
    fx->seg[1].id = 1;
    fx->seg[1].instrumentCount = 1;
    fx->use.segments = fx->seg;
    fx->use.segmentCount = 2;
    fx->ins = calloc(fx->cfg.instrumentCount, sizeof *fx->ins);
    memcpy(fx->ins, fx->cfg.instruments, fx->cfg.instrumentCount * sizeof *fx->ins);
    fx->ins[IC].segIndex = 1;
    fx->ins[IC].book = 0;
    fx->use.instruments = fx->ins;
    fx->evq = calloc(QCAP, sizeof *fx->evq);
    fx->cmdq = calloc(QCAP, sizeof *fx->cmdq);
    fx->now = T0;
    for (uint16_t s = 0; s < 2; s++) {
        crOptions co = {.cfg = &fx->use,
                        .segment = s,
                        .maxAccounts = 64,
                        .maxPositions = 256,
                        .refCap = 1024,
                        .emit = onEmit2,
                        .emitCtx = fx};
        fx->risk[s] = crCreate(&co);
        assert_non_null(fx->risk[s]);
    }
    acctLimits lim = acctLimitsFromConfig(&fx->cfg.risk);
    lim.concentration = ACCT_PPM; /* the money is what these tests are about */
    fx->book = acctCreate(&lim);
    assert_int_equal(instLoadConfig(fx->book, &fx->use), 0);
    fx->lg = lgCreate(&fx->use, fx->book, onSendCmd2, fx);
    assert_non_null(fx->lg);
    *state = fx;
    return 0;
}

static int teardown2(void **state)
{
    Fx2 *fx = *state;
    for (int s = 0; s < 2; s++)
        crDestroy(fx->risk[s]);
    lgDestroy(fx->lg);
    acctDestroy(fx->book);
    cfgFree(&fx->cfg);
    free(fx->ins);
    free(fx->evq);
    free(fx->cmdq);
    free(fx);
    return 0;
}

/* An opening order on `seg` (book 0 there): the answer in fx->lastRc
 * (CR_PARKED never stays: the pump answers the top-up). */
static void order2(Fx2 *fx, uint16_t seg, uint32_t account, int64_t price, uint32_t qty)
{
    xoeNewOrder o = {.instrument = 0,
                     .side = XOE_BUY,
                     .offset = XOE_OPEN,
                     .clOrdId = fx->nextRef + 1,
                     .price = price,
                     .qty = qty,
                     .priceType = XOE_LIMIT,
                     .timeCondition = XOE_GFD,
                     .volumeCondition = XOE_VOL_ANY};
    const uint32_t ref = fx->nextRef++;
    fx->now += 1000;
    fx->lastRc = crCheckNew(fx->risk[seg], ref, 0, account, &o, 1, fx->now);
    if (fx->lastRc == 0)
        accept2(fx, seg, ref, &o);
    pump2(fx);
}

static int64_t available2(Fx2 *fx, uint32_t account)
{
    acctFigures f;
    acctCompute(fx->book, acctGet(fx->book, account), &f);
    return f.available;
}

/* Both lines are the control core's view, and together the available money. */
static void checkLines2(Fx2 *fx, uint32_t account)
{
    const int64_t l0 = crLine(fx->risk[0], account), l1 = crLine(fx->risk[1], account);
    assert_true(l0 >= 0 && l1 >= 0);
    assert_int_equal(l0 + l1, lgLineTotal(fx->lg, account));
    assert_int_equal(l0 + l1, available2(fx, account));
}

static void testTwoSegmentsTopUpReclaims(void **state)
{
    Fx2 *fx = *state;
    assert_int_equal(acctOpen(fx->book, 7, "t", ACCT_INDIVIDUAL, M(400000), fx->now), 0);
    assert_int_equal(lgSync(fx->lg, 7), 0);
    pump2(fx);
    /* split evenly: 200,000 on each segment */
    assert_int_equal(crLine(fx->risk[0], 7), M(200000));
    assert_int_equal(crLine(fx->risk[1], 7), M(200000));
    /* 2 IF at 3800 on segment 0: margin 273,600 + commission 52.44 > its
     * 200,000: parked; the control core reclaims 73,652.44 from segment 1's
     * idle line and the order goes through */
    order2(fx, 0, 7, IFPX(38000), 2);
    assert_int_equal(fx->lastRc, 0);
    lgStats ls;
    lgGetStats(fx->lg, &ls);
    assert_int_equal(ls.topups, 1);
    assert_int_equal(ls.topupReclaims, 1);
    assert_int_equal(ls.mismatches, 0);
    const acctAccount *a = acctGet(fx->book, 7);
    assert_int_equal(a->frozenMargin, M(273600));
    assert_int_equal(available2(fx, 7), M(400000) - M(273600) - a->frozenCommission);
    checkLines2(fx, 7);
    /* what is left (126,347.56) is split again */
    assert_true(crLine(fx->risk[0], 7) - crLine(fx->risk[1], 7) <= 1);
    /* 1 IC at 5600 on segment 1 needs 134,400 + commission: more than the
     * account has: refused 1001 after the top-up, nothing moved */
    order2(fx, 1, 7, 56000000, 1);
    assert_int_equal(fx->lastRc, ACCT_ERR_FUNDS);
    checkLines2(fx, 7);
    /* a deposit makes it affordable: the top-up reclaims from segment 0 */
    assert_int_equal(acctDeposit(fx->book, 7, M(10000)), 0);
    assert_int_equal(lgSync(fx->lg, 7), 0);
    pump2(fx);
    order2(fx, 1, 7, 56000000, 1);
    assert_int_equal(fx->lastRc, 0);
    lgGetStats(fx->lg, &ls);
    assert_int_equal(ls.topups, 3);
    assert_int_equal(ls.topupReclaims, 2);
    assert_int_equal(ls.mismatches, 0);
    checkLines2(fx, 7);
    assert_int_equal(acctGet(fx->book, 7)->frozenMargin, M(273600) + M(134400));
}

/* An idle line that was spent meanwhile: the reclaim brings back less, the
 * order is refused 1001, nothing goes negative, the views agree. */
static void testTwoSegmentsReclaimShort(void **state)
{
    Fx2 *fx = *state;
    assert_int_equal(acctOpen(fx->book, 8, "t", ACCT_INDIVIDUAL, M(400000), fx->now), 0);
    assert_int_equal(lgSync(fx->lg, 8), 0);
    pump2(fx);
    /* segment 0 asks for a top-up (2 IF: 273,652.44 against 200,000)... */
    xoeNewOrder o = {.instrument = 0,
                     .side = XOE_BUY,
                     .offset = XOE_OPEN,
                     .clOrdId = 1,
                     .price = IFPX(38000),
                     .qty = 2,
                     .priceType = XOE_LIMIT,
                     .timeCondition = XOE_GFD,
                     .volumeCondition = XOE_VOL_ANY};
    const uint32_t ref = fx->nextRef++;
    assert_int_equal(crCheckNew(fx->risk[0], ref, 0, 8, &o, 1, fx->now), CR_PARKED);
    /* ...and before the control core hears of it, segment 1 freezes
     * 134,400 + commission of its line for an IC order */
    xoeNewOrder ic = o;
    ic.price = 56000000;
    ic.qty = 1;
    ic.clOrdId = 2;
    const uint32_t ref1 = fx->nextRef++;
    assert_int_equal(crCheckNew(fx->risk[1], ref1, 0, 8, &ic, 1, fx->now), 0);
    accept2(fx, 1, ref1, &ic);
    pump2(fx);
    /* the account had 400,000; 134,430.9 is frozen: 2 IF do not fit */
    assert_int_equal(fx->lastRc, ACCT_ERR_FUNDS);
    lgStats ls;
    lgGetStats(fx->lg, &ls);
    assert_int_equal(ls.mismatches, 0);
    checkLines2(fx, 8);
}

int main(void)
{
#define T(t) cmocka_unit_test_setup_teardown(t, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(testUnknownAccountLogon),
        T(testWorkerCodes),
        T(testTopUpLetsAffordableOrderThrough),
        T(testBlockedAndReclaim),
        T(testReplaceAndCancelRelease),
        T(testRandomized),
        cmocka_unit_test_setup_teardown(testTwoSegmentsTopUpReclaims, setup2, teardown2),
        cmocka_unit_test_setup_teardown(testTwoSegmentsReclaimShort, setup2, teardown2),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
