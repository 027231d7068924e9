/* test_account.c -- unit tests of control/account.c, position.c, instrument.c and settle.c.
 *
 * Money is checked to the 1e-4 unit against numbers computed by hand in the
 * comments (M(x) is x currency units, P(x) a price of x). Instrument IX is
 * the reference's worked example (notes-1 "Futures mechanics"): multiplier
 * 200, margin 10%, 0.05 commission per lot (0.5 per 10-lot fill), tick 0.1,
 * pre-settlement 100.0, band +-10%, close rule yesterday_first. IF is
 * config/xchg.conf's: multiplier 300, margin 12%, commission 0.0023% of
 * notional, tick 0.2, pre-settlement 3800.0, close rule today_first. The
 * randomized test runs 1,000,000 operations over 200 accounts and checks
 * the conservation invariants every 10,000. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "control/account.h"
#include "control/settle.h"

#define M(x) ((int64_t)(x)*10000)
#define P(x) ((int64_t)(x)*10000)
#define NS   UINT64_C(1759714200000000000)

static cfgInstrument specIX(void)
{
    cfgInstrument s;
    memset(&s, 0, sizeof s);
    strcpy(s.id, "IX2401");
    strcpy(s.name, "worked example");
    s.tickSize = 1000;
    s.multiplier = 200;
    s.marginRate = 100000;
    s.commissionPerLot = 500;
    s.limitUp = s.limitDown = 100000;
    s.preSettlement = P(100);
    s.minLots = 1;
    s.maxLots = 10000;
    s.closeRule = CFG_CLOSE_YESTERDAY_FIRST;
    return s;
}

static cfgInstrument specIF(void)
{
    cfgInstrument s = specIX();
    strcpy(s.id, "IF2501");
    s.tickSize = 2000;
    s.multiplier = 300;
    s.marginRate = 120000;
    s.commissionPerLot = 0;
    s.commissionRate = 23; /* 0.0023% */
    s.preSettlement = P(3800);
    s.closeRule = CFG_CLOSE_TODAY_FIRST;
    return s;
}

static acctLimits defaultLimits(void)
{
    return (acctLimits){.rejectRatio = 950000,
                        .liquidationRatio = 1000000,
                        .concentration = 500000,
                        .maxOrderNotional = M(10000000)};
}

typedef struct {
    acctBook *b;
    int ix, ifx;
    uint64_t nextOrder, nextTrade;
} Fx;

static int setup(void **state)
{
    Fx *fx = calloc(1, sizeof *fx);
    acctLimits l = defaultLimits();
    fx->b = acctCreate(&l);
    cfgInstrument a = specIX(), c = specIF();
    fx->ix = instAdd(fx->b, &a);
    fx->ifx = instAdd(fx->b, &c);
    fx->nextOrder = 1;
    fx->nextTrade = 1;
    *state = fx;
    return fx->b && fx->ix == 0 && fx->ifx == 1 ? 0 : -1;
}

static int teardown(void **state)
{
    Fx *fx = *state;
    acctDestroy(fx->b);
    free(fx);
    return 0;
}

/* Submits an order; returns the code, and its id in *id. */
static int order(Fx *fx, uint32_t acc, int ins, uint8_t side, uint8_t offset, int64_t price,
                 uint32_t qty, uint64_t *id)
{
    acctOrderReq r = {.orderId = fx->nextOrder++,
                      .clOrdId = 1,
                      .account = acc,
                      .instrument = (uint16_t)ins,
                      .side = side,
                      .offset = offset,
                      .priceType = 0,
                      .price = price,
                      .qty = qty,
                      .nowNs = NS};
    if (id)
        *id = r.orderId;
    return acctOrderNew(fx->b, &r, 0);
}

static void fill(Fx *fx, uint64_t id, int64_t price, uint32_t qty)
{
    assert_int_equal(acctOrderFill(fx->b, id, fx->nextTrade++, price, qty, NS, NULL), 0);
}

static acctFigures figs(Fx *fx, uint32_t acc)
{
    acctFigures f;
    const acctAccount *a = acctGet(fx->b, acc);
    assert_non_null(a);
    acctCompute(fx->b, a, &f);
    return f;
}

/* ---- accounts ------------------------------------------------------------------ */

static void testAccountCodes(void **state)
{
    Fx *fx = *state;
    assert_int_equal(acctOpen(fx->b, 1, "alice", ACCT_INDIVIDUAL, M(1000), NS), 0);
    assert_int_equal(acctOpen(fx->b, 1, "again", ACCT_INDIVIDUAL, M(1), NS), ACCT_ERR_EXISTS);
    assert_int_equal(acctOpen(fx->b, 0, "zero", ACCT_INDIVIDUAL, M(1), NS), ACCT_ERR_PARAMS);
    assert_int_equal(acctOpen(fx->b, 2, "neg", ACCT_INDIVIDUAL, -1, NS), ACCT_ERR_PARAMS);
    assert_int_equal(acctOpen(fx->b, 2, "bad type", 7, M(1), NS), ACCT_ERR_PARAMS);
    assert_int_equal(acctDeposit(fx->b, 1, 0), ACCT_ERR_DEPOSIT);
    assert_int_equal(acctDeposit(fx->b, 1, -5), ACCT_ERR_DEPOSIT);
    assert_int_equal(acctDeposit(fx->b, 9, M(1)), ACCT_ERR_NO_ACCOUNT);
    assert_int_equal(acctDeposit(fx->b, 1, M(500)), 0);
    assert_int_equal(acctWithdraw(fx->b, 1, M(1500) + 1), ACCT_ERR_WITHDRAW);
    assert_int_equal(acctWithdraw(fx->b, 1, 0), ACCT_ERR_WITHDRAW);
    assert_int_equal(acctWithdraw(fx->b, 1, M(200)), 0);
    acctFigures f = figs(fx, 1);
    assert_int_equal(f.balance, M(1300));
    assert_int_equal(f.available, M(1300));
    assert_int_equal(acctSetFrozen(fx->b, 1, 1), 0);
    assert_int_equal(acctWithdraw(fx->b, 1, M(1)), ACCT_ERR_FROZEN);
    assert_int_equal(order(fx, 1, fx->ix, 0, POS_OPEN, P(100), 1, NULL), ACCT_ERR_FROZEN);
    assert_int_equal(acctDeposit(fx->b, 1, M(1)), 0); /* deposits still arrive */
    assert_int_equal(acctSetFrozen(fx->b, 1, 0), 0);
    assert_int_equal(acctSetFrozen(fx->b, 5, 0), ACCT_ERR_NO_ACCOUNT);
    assert_int_equal(acctWithdraw(fx->b, 1, M(1301)), 0);
    assert_int_equal(figs(fx, 1).balance, 0);
    acctTotals t;
    acctGetTotals(fx->b, &t);
    assert_int_equal(t.deposits, M(1501));
    assert_int_equal(t.withdrawals, M(1501));
}

static void testOrderParamCodes(void **state)
{
    Fx *fx = *state;
    assert_int_equal(acctOpen(fx->b, 1, "a", ACCT_INDIVIDUAL, M(1000000), NS), 0);
    assert_int_equal(order(fx, 2, fx->ix, 0, POS_OPEN, P(100), 1, NULL), ACCT_ERR_NO_ACCOUNT);
    assert_int_equal(order(fx, 1, 7, 0, POS_OPEN, P(100), 1, NULL), ACCT_ERR_NO_INSTRUMENT);
    assert_int_equal(order(fx, 1, fx->ix, 0, POS_OPEN, P(100), 0, NULL), ACCT_ERR_PARAMS);
    assert_int_equal(order(fx, 1, fx->ix, 0, POS_OPEN, P(100), 10001, NULL), ACCT_ERR_PARAMS);
    assert_int_equal(order(fx, 1, fx->ix, 0, POS_OPEN, P(100) + 500, 1, NULL),
                     ACCT_ERR_PARAMS); /* 100.05 is off the 0.1 tick */
    assert_int_equal(order(fx, 1, fx->ix, 0, POS_OPEN, 0, 1, NULL), ACCT_ERR_PARAMS);
    assert_int_equal(order(fx, 1, fx->ix, 0, POS_OPEN, P(111), 1, NULL), ACCT_ERR_PARAMS);
    assert_int_equal(order(fx, 1, fx->ix, 2, POS_OPEN, P(100), 1, NULL), ACCT_ERR_PARAMS);
    assert_int_equal(order(fx, 1, fx->ix, 0, 4, P(100), 1, NULL), ACCT_ERR_PARAMS);
    /* 1003: 100.0 x 600 x 200 = 12,000,000 > 10,000,000 */
    assert_int_equal(order(fx, 1, fx->ix, 0, POS_OPEN, P(100), 600, NULL), ACCT_ERR_NOTIONAL);
    /* 1002: 100.0 x 300 x 200 x 10% = 600,000 > 50% of 1,000,000 */
    assert_int_equal(order(fx, 1, fx->ix, 0, POS_OPEN, P(100), 300, NULL), ACCT_ERR_CONCENTRATION);
    assert_int_equal(order(fx, 1, fx->ix, 0, POS_OPEN, P(100), 250, NULL), 0); /* 500,000: at 50% */
    /* 1001: another 240 lots on IF is within its own 50% but not the money:
     * 3800 x 240 x 300 x 12% = 32,832,000 */
    assert_int_equal(order(fx, 1, fx->ifx, 0, POS_OPEN, P(3800), 2, NULL), 0);
    /* 1001: with a 100% share allowed, an account whose money is frozen by
     * one IF lot (3800 x 300 x 12% = 136,800) cannot add 10 IX lots (20,000) */
    acctLimits l = defaultLimits();
    l.concentration = ACCT_PPM;
    assert_int_equal(acctSetLimits(fx->b, &l), 0);
    assert_int_equal(acctOpen(fx->b, 2, "poor", ACCT_INDIVIDUAL, M(150000), NS), 0);
    assert_int_equal(order(fx, 2, fx->ifx, 0, POS_OPEN, P(3800), 1, NULL), 0);
    assert_int_equal(order(fx, 2, fx->ix, 0, POS_OPEN, P(100), 10, NULL), ACCT_ERR_FUNDS);
    assert_int_equal(order(fx, 2, fx->ix, 0, POS_OPEN, P(100), 6, NULL), 0);
    l.rejectRatio = l.liquidationRatio + 1;
    assert_int_equal(acctSetLimits(fx->b, &l), ACCT_ERR_PARAMS);
}

/* ---- the reference's worked scenarios ------------------------------------------- */

static void testLongRoundTrip(void **state)
{
    Fx *fx = *state;
    assert_int_equal(acctOpen(fx->b, 1, "long", ACCT_INDIVIDUAL, M(1000000), NS), 0);
    uint64_t id;
    assert_int_equal(order(fx, 1, fx->ix, 0, POS_OPEN, P(100), 10, &id), 0);
    const acctAccount *a = acctGet(fx->b, 1);
    /* open: available -= m, frozen += m (100.0 x 10 x 200 x 10% = 20,000; fee 0.5) */
    assert_int_equal(a->frozenMargin, M(20000));
    assert_int_equal(a->frozenCommission, 5000);
    assert_int_equal(figs(fx, 1).available, M(980000) - 5000);
    fill(fx, id, P(100), 10);
    assert_int_equal(a->frozenMargin, 0);
    assert_int_equal(a->frozenCommission, 0);
    assert_int_equal(a->margin, M(20000));
    assert_int_equal(a->commission, 5000);
    const posPosition *p = acctPosition(fx->b, 1, (uint16_t)fx->ix);
    assert_int_equal(p->side[POS_LONG].today, 10);
    assert_int_equal(acctOrderGet(fx->b, id)->status, ACCT_ORDER_FILLED);
    /* float P&L at 100.5: (100.5 - 100.0) x 10 x 200 = 1,000 */
    assert_int_equal(acctMark(fx->b, (uint16_t)fx->ix, P(100) + 5000), 0);
    acctFigures f = figs(fx, 1);
    assert_int_equal(f.floatProfit, M(1000));
    assert_int_equal(f.positionProfit, M(1000));
    assert_int_equal(f.balance, M(1001000) - 5000);
    /* risk = 20,000 / 1,000,999.5 = 19979.02 ppm, truncated */
    assert_int_equal(f.riskRatio, 19980);
    assert_int_equal(order(fx, 1, fx->ix, 1, POS_CLOSE, P(100) + 5000, 10, &id), 0);
    /* closing freezes nothing */
    assert_int_equal(a->frozenMargin, 0);
    assert_int_equal(p->side[POS_LONG].frozenToday, 10);
    fill(fx, id, P(100) + 5000, 10);
    f = figs(fx, 1);
    assert_int_equal(a->closeProfit, M(1000));
    assert_int_equal(a->margin, 0);
    assert_int_equal(a->commission, 10000);
    assert_int_equal(f.balance, M(1000999)); /* the reference's 1,000,999.0 */
    assert_int_equal(f.available, M(1000999));
    assert_int_equal(f.riskRatio, 0);
    assert_true(posEmpty(p));
}

static void testShortRoundTrip(void **state)
{
    Fx *fx = *state;
    assert_int_equal(acctOpen(fx->b, 1, "short", ACCT_INDIVIDUAL, M(1000000), NS), 0);
    uint64_t id;
    assert_int_equal(order(fx, 1, fx->ix, 1, POS_OPEN, P(100), 10, &id), 0);
    fill(fx, id, P(100), 10);
    const acctAccount *a = acctGet(fx->b, 1);
    assert_int_equal(a->margin, M(20000));
    /* the price rises to 100.4: a short loses 0.4 x 10 x 200 = 800 */
    acctMark(fx->b, (uint16_t)fx->ix, P(100) + 4000);
    assert_int_equal(figs(fx, 1).floatProfit, -M(800));
    /* BUY CLOSE at 99.6: gains 0.4 x 10 x 200 = 800 */
    assert_int_equal(order(fx, 1, fx->ix, 0, POS_CLOSE, P(100) - 4000, 10, &id), 0);
    fill(fx, id, P(100) - 4000, 10);
    assert_int_equal(a->closeProfit, M(800));
    assert_int_equal(figs(fx, 1).balance, M(1000800) - 10000);
    assert_int_equal(a->margin, 0);
}

static void testHedgedMargin(void **state)
{
    Fx *fx = *state;
    assert_int_equal(acctOpen(fx->b, 1, "hedged", ACCT_INDIVIDUAL, M(1000000), NS), 0);
    uint64_t l, s;
    assert_int_equal(order(fx, 1, fx->ix, 0, POS_OPEN, P(100), 10, &l), 0);
    assert_int_equal(order(fx, 1, fx->ix, 1, POS_OPEN, P(100), 5, &s), 0);
    fill(fx, l, P(100), 10);
    fill(fx, s, P(100), 5);
    /* both sides are charged: 20,000 + 10,000 */
    assert_int_equal(acctGet(fx->b, 1)->margin, M(30000));
    assert_int_equal(acctInstrumentMargin(fx->b, 1, (uint16_t)fx->ix), M(30000));
}

static void testCloseWithoutPosition(void **state)
{
    Fx *fx = *state;
    assert_int_equal(acctOpen(fx->b, 1, "x", ACCT_INDIVIDUAL, M(1000000), NS), 0);
    /* opening a short with a close code (towards -1, SELL CLOSE) fails */
    assert_int_equal(order(fx, 1, fx->ix, 1, POS_CLOSE, P(100), 1, NULL), ACCT_ERR_POSITION);
    assert_int_equal(order(fx, 1, fx->ix, 1, POS_CLOSE_TODAY, P(100), 1, NULL), ACCT_ERR_POSITION);
    uint64_t id;
    assert_int_equal(order(fx, 1, fx->ix, 0, POS_OPEN, P(100), 3, &id), 0);
    fill(fx, id, P(100), 3);
    /* today's lots only: CLOSEYESTERDAY has nothing */
    assert_int_equal(order(fx, 1, fx->ix, 1, POS_CLOSE_YESTERDAY, P(100), 1, NULL),
                     ACCT_ERR_POSITION);
    /* more than held */
    assert_int_equal(order(fx, 1, fx->ix, 1, POS_CLOSE, P(100), 4, NULL), ACCT_ERR_POSITION);
    /* a pending close reserves its lots */
    assert_int_equal(order(fx, 1, fx->ix, 1, POS_CLOSE_TODAY, P(100), 2, &id), 0);
    assert_int_equal(order(fx, 1, fx->ix, 1, POS_CLOSE, P(100), 2, NULL), ACCT_ERR_POSITION);
    assert_int_equal(acctOrderCancel(fx->b, id, NS), 0);
    assert_int_equal(acctOrderCancel(fx->b, id, NS), ACCT_ERR_NOT_CANCELLABLE);
    assert_int_equal(acctOrderCancel(fx->b, 999, NS), ACCT_ERR_NO_ORDER);
    assert_int_equal(order(fx, 1, fx->ix, 1, POS_CLOSE, P(100), 3, NULL), 0);
    /* BUY CLOSE closes shorts: there are none */
    assert_int_equal(order(fx, 1, fx->ix, 0, POS_CLOSE, P(100), 1, NULL), ACCT_ERR_POSITION);
}

/* The three close rules over a position of 2 yesterday + 3 today lots. */
static void testCloseRules(void **state)
{
    (void)state;
    const cfgCloseRule rules[3] = {CFG_CLOSE_YESTERDAY_FIRST, CFG_CLOSE_TODAY_FIRST,
                                   CFG_CLOSE_SPLIT};
    /* CLOSE 4: yesterday_first takes 2 yd + 2 today; today_first 3 today + 1 yd;
     * split refuses (only 2 yd) */
    const uint32_t wantT[3] = {2, 3, 0}, wantY[3] = {2, 1, 0};
    const int wantRc[3] = {0, 0, POS_ERR_INSUFFICIENT};
    for (int r = 0; r < 3; r++) {
        posSide s = {.today = 3, .yd = 2};
        uint32_t t = 99, y = 99;
        assert_int_equal(posFreezeClose(&s, rules[r], POS_CLOSE, 4, &t, &y), wantRc[r]);
        if (wantRc[r] == 0) {
            assert_int_equal(t, wantT[r]);
            assert_int_equal(y, wantY[r]);
            assert_int_equal(s.frozenToday, t);
            assert_int_equal(s.frozenYd, y);
        } else {
            assert_int_equal(s.frozenToday + s.frozenYd, 0);
        }
        posSide u = {.today = 3, .yd = 2};
        assert_int_equal(posFreezeClose(&u, rules[r], POS_CLOSE_TODAY, 3, &t, &y), 0);
        assert_int_equal(t, 3);
        assert_int_equal(posFreezeClose(&u, rules[r], POS_CLOSE_TODAY, 1, &t, &y),
                         POS_ERR_INSUFFICIENT);
        assert_int_equal(posFreezeClose(&u, rules[r], POS_CLOSE_YESTERDAY, 2, &t, &y), 0);
        assert_int_equal(y, 2);
        assert_int_equal(posFreezeClose(&u, rules[r], POS_OPEN, 1, &t, &y), 1008);
    }
}

/* ---- freeze and release ----------------------------------------------------------- */

static void testPartialFillsExactRelease(void **state)
{
    Fx *fx = *state;
    assert_int_equal(acctOpen(fx->b, 1, "p", ACCT_INDIVIDUAL, M(10000000), NS), 0);
    const acctAccount *a = acctGet(fx->b, 1);
    uint64_t id;
    /* BUY OPEN 3 IF @ 3800.2: notional 3800.2 x 3 x 300 = 3,420,180
     *   margin 12% = 410,421.6 exactly; commission 0.0023% = 78.66414 -> 78.6642 */
    assert_int_equal(order(fx, 1, fx->ifx, 0, POS_OPEN, P(3800) + 2000, 3, &id), 0);
    assert_int_equal(a->frozenMargin, 4104216000);
    assert_int_equal(a->frozenCommission, 786642);
    /* 1 lot filled at the better 3799.0: releases floor(frozen / 3) */
    fill(fx, id, P(3799), 1);
    assert_int_equal(a->frozenMargin, 4104216000 - 1368072000);
    assert_int_equal(a->frozenCommission, 786642 - 262214);
    /* margin used at the fill price: 3799 x 300 x 12% = 136,764 */
    assert_int_equal(a->margin, M(136764));
    /* commission: 3799 x 300 x 0.0023% = 26.2131 */
    assert_int_equal(a->commission, 262131);
    fill(fx, id, P(3800) + 2000, 1);
    /* the last lot is cancelled: everything frozen comes back */
    assert_int_equal(acctOrderCancel(fx->b, id, NS), 0);
    assert_int_equal(a->frozenMargin, 0);
    assert_int_equal(a->frozenCommission, 0);
    /* 3800.2 x 300 x 12% = 136,807.2 */
    assert_int_equal(a->margin, M(136764) + 1368072000);
    assert_int_equal(a->commission, 262131 + 262214);
    const acctOrder *o = acctOrderGet(fx->b, id);
    assert_int_equal(o->status, ACCT_ORDER_CANCELLED);
    assert_int_equal(o->filled, 2);
    assert_int_equal(o->leaves, 0);
    assert_int_equal(a->liveOrders, 0);
    /* available: 10,000,000 - margin - commission + position profit at the
     * last price 3800.2: the lot bought at 3799 gains 1.2 x 300 = 360 */
    acctFigures f = figs(fx, 1);
    assert_int_equal(f.positionProfit, M(360));
    assert_int_equal(f.available, M(10000000) - a->margin - a->commission + M(360));
    /* 7 lots frozen then filled one by one at a worse-than-frozen and better
     * prices: nothing remains frozen at the end */
    assert_int_equal(order(fx, 1, fx->ifx, 1, POS_OPEN, P(3801), 7, &id), 0);
    for (int i = 0; i < 7; i++)
        fill(fx, id, P(3801) + 2000 * i, 1);
    assert_int_equal(a->frozenMargin, 0);
    assert_int_equal(a->frozenCommission, 0);
    assert_int_equal(acctInstrumentMargin(fx->b, 1, (uint16_t)fx->ifx), a->margin);
    assert_int_equal(acctOrderFill(fx->b, id, 99, P(3801), 1, NS, NULL), ACCT_ERR_NOT_CANCELLABLE);
}

static void testBetterPriceFillReleasesDifference(void **state)
{
    Fx *fx = *state;
    assert_int_equal(acctOpen(fx->b, 1, "b", ACCT_INDIVIDUAL, M(1000000), NS), 0);
    uint64_t id;
    assert_int_equal(order(fx, 1, fx->ix, 0, POS_OPEN, P(102), 10, &id), 0);
    /* frozen at 102.0: 20,400 */
    assert_int_equal(figs(fx, 1).available, M(1000000 - 20400) - 5000);
    fill(fx, id, P(99), 10);
    /* used at 99.0: 19,800, the 600 difference is back; the position marks at 99 */
    assert_int_equal(acctGet(fx->b, 1)->margin, M(19800));
    assert_int_equal(figs(fx, 1).available, M(1000000 - 19800) - 5000);
    assert_int_equal(acctOrderFill(fx->b, id, 1, P(99), 0, NS, NULL), ACCT_ERR_NOT_CANCELLABLE);
    assert_int_equal(order(fx, 1, fx->ix, 0, POS_OPEN, P(102), 10, &id), 0);
    assert_int_equal(acctOrderFill(fx->b, id, 1, P(99), 11, NS, NULL), ACCT_ERR_PARAMS);
    assert_int_equal(acctOrderFill(fx->b, id, 1, P(99), 0, NS, NULL), ACCT_ERR_PARAMS);
    assert_int_equal(acctOrderFill(fx->b, 12345, 1, P(99), 1, NS, NULL), ACCT_ERR_NO_ORDER);
}

/* Replace re-freezes an open at the new price and resizes a close's lots. */
static void testReplace(void **state)
{
    Fx *fx = *state;
    assert_int_equal(acctOpen(fx->b, 1, "r", ACCT_INDIVIDUAL, M(1000000), NS), 0);
    const acctAccount *a = acctGet(fx->b, 1);
    uint64_t id;
    assert_int_equal(order(fx, 1, fx->ix, 0, POS_OPEN, P(100), 10, &id), 0);
    fill(fx, id, P(100), 4);
    /* 6 left at 100.0: 12,000 + 0.3 frozen; replace to 8 total at 101.0:
     * 4 left, 101 x 4 x 200 x 10% = 8,080 + 0.2 */
    assert_int_equal(a->frozenMargin, M(12000));
    assert_int_equal(acctOrderReplace(fx->b, id, P(101), 8, 0, NS), 0);
    assert_int_equal(a->frozenMargin, M(8080));
    assert_int_equal(a->frozenCommission, 2000);
    assert_int_equal(acctOrderGet(fx->b, id)->leaves, 4);
    assert_int_equal(acctOrderReplace(fx->b, id, P(101), 4, 0, NS), 3004);
    assert_int_equal(acctOrderReplace(fx->b, id, P(101) + 500, 8, 0, NS), ACCT_ERR_PARAMS);
    assert_int_equal(acctOrderReplace(fx->b, 77, P(101), 8, 0, NS), ACCT_ERR_NO_ORDER);
    /* more than the money: 1001 unless trusted */
    assert_int_equal(acctOrderReplace(fx->b, id, P(101), 600, 0, NS), ACCT_ERR_FUNDS);
    assert_int_equal(acctOrderCancel(fx->b, id, NS), 0);
    assert_int_equal(a->frozenMargin + a->frozenCommission, 0);
    /* a close of 2 of the 4 lots grows to 4, then cannot grow to 5 */
    assert_int_equal(order(fx, 1, fx->ix, 1, POS_CLOSE, P(100), 2, &id), 0);
    const posPosition *p = acctPosition(fx->b, 1, (uint16_t)fx->ix);
    assert_int_equal(acctOrderReplace(fx->b, id, P(100), 4, 0, NS), 0);
    assert_int_equal(p->side[POS_LONG].frozenToday, 4);
    assert_int_equal(acctOrderReplace(fx->b, id, P(100), 5, 0, NS), ACCT_ERR_POSITION);
    assert_int_equal(acctOrderReplace(fx->b, id, P(100), 1, 0, NS), 0);
    assert_int_equal(p->side[POS_LONG].frozenToday, 1);
    assert_int_equal(acctOrderCancel(fx->b, id, NS), 0);
    assert_int_equal(p->side[POS_LONG].frozenToday, 0);
}

/* Commission, close profit, float profit and risk ratio on IF by hand. */
static void testHandComputedFigures(void **state)
{
    Fx *fx = *state;
    assert_int_equal(acctOpen(fx->b, 1, "h", ACCT_INDIVIDUAL, M(2000000), NS), 0);
    const acctAccount *a = acctGet(fx->b, 1);
    uint64_t id;
    /* BUY OPEN 5 @ 3800.0, filled 2 @ 3800.0 and 3 @ 3799.4 */
    assert_int_equal(order(fx, 1, fx->ifx, 0, POS_OPEN, P(3800), 5, &id), 0);
    fill(fx, id, P(3800), 2);
    fill(fx, id, P(3799) + 4000, 3);
    /* commissions: 3800 x 2 x 300 x 0.0023% = 52.44 -> 524400;
     * 3799.4 x 3 x 300 x 0.0023% = 78.64758 -> 786476 (rounded up) */
    assert_int_equal(a->commission, 524400 + 786476);
    /* margin: 3800 x 600 x 12% = 273,600; 3799.4 x 900 x 12% = 410,335.2 */
    assert_int_equal(a->margin, M(273600) + 4103352000);
    /* mark 3810.0: float = (3810 - 3800) x 600 + (3810 - 3799.4) x 900 = 6,000 + 9,540 */
    acctMark(fx->b, (uint16_t)fx->ifx, P(3810));
    acctFigures f = figs(fx, 1);
    assert_int_equal(f.floatProfit, M(15540));
    /* SELL CLOSE 4 @ 3805.0 (today_first: all today); average cost:
     * cost = 3800 x 600 + 3799.4 x 900 = 5,699,460; 4/5 of it = 4,559,568;
     * value 3805 x 4 x 300 = 4,566,000 -> close profit 6,432 */
    assert_int_equal(order(fx, 1, fx->ifx, 1, POS_CLOSE, P(3805), 4, &id), 0);
    fill(fx, id, P(3805), 4);
    assert_int_equal(a->closeProfit, M(6432));
    /* commission 3805 x 1200 x 0.0023% = 105.018 -> 1050180 */
    assert_int_equal(a->commission, 524400 + 786476 + 1050180);
    /* margin left: 1/5 of 683,935.2 = 136,787.04 */
    assert_int_equal(a->margin, 1367870400);
    /* the last lot at 3805 (the last price): cost 5,699,460 - 4,559,568 = 1,139,892;
     * value 1,141,500: position profit 1,608 */
    f = figs(fx, 1);
    assert_int_equal(f.positionProfit, M(1608));
    const int64_t bal = M(2000000) + M(6432) - a->commission + M(1608);
    assert_int_equal(f.balance, bal);
    assert_int_equal(f.riskRatio, (int64_t)((__int128)a->margin * 1000000 / bal));
}

/* ---- liquidation ------------------------------------------------------------------ */

static void testLiquidationAtLevel(void **state)
{
    Fx *fx = *state;
    /* 10 lots long IX @ 100.0, margin 20,000; balance 20,000.5 + fee:
     * deposit 20,001 - 0.5 fee = 20,000.5 */
    acctLimits l = defaultLimits();
    l.concentration = ACCT_PPM;
    acctSetLimits(fx->b, &l);
    assert_int_equal(acctOpen(fx->b, 1, "l", ACCT_INDIVIDUAL, M(20001), NS), 0);
    uint64_t id;
    assert_int_equal(order(fx, 1, fx->ix, 0, POS_OPEN, P(100), 10, &id), 0);
    fill(fx, id, P(100), 10);
    const acctAccount *a = acctGet(fx->b, 1);
    /* at 100.0 the balance is 20,000.5: risk 999,975 ppm, below the level */
    assert_int_equal(figs(fx, 1).riskRatio, 999975);
    assert_false(acctShouldLiquidate(fx->b, a));
    /* 1004: over the 95% reject level, opening refused, closing allowed */
    assert_int_equal(order(fx, 1, fx->ix, 0, POS_OPEN, P(100), 1, NULL), ACCT_ERR_RISK);
    /* the price falls 0.2: the long loses 0.2 x 2,000 = 400 -> 19,600.5 */
    acctMark(fx->b, (uint16_t)fx->ix, P(100) - 2000);
    assert_true(acctShouldLiquidate(fx->b, a));
    acctMark(fx->b, (uint16_t)fx->ix, P(100));
    assert_false(acctShouldLiquidate(fx->b, a));
    /* exactly at the level: withdrawing the last 0.5 leaves 20,000 -> 100% */
    assert_int_equal(acctWithdraw(fx->b, 1, 5001), ACCT_ERR_WITHDRAW);
    assert_int_equal(acctWithdraw(fx->b, 1, 5000), 0);
    assert_int_equal(figs(fx, 1).riskRatio, 1000000);
    assert_true(acctShouldLiquidate(fx->b, a));
    /* one unit of money more: 999,999 ppm, below the level */
    assert_int_equal(acctDeposit(fx->b, 1, 1), 0);
    assert_int_equal(figs(fx, 1).riskRatio, 999999);
    assert_false(acctShouldLiquidate(fx->b, a));
    assert_int_equal(acctWithdraw(fx->b, 1, 1), 0);
    acctCloseOrder plan[4];
    assert_int_equal(acctLiquidate(fx->b, 1, NS, plan, 4), 1);
    assert_int_equal(plan[0].instrument, fx->ix);
    assert_int_equal(plan[0].side, 1);
    assert_int_equal(plan[0].offset, POS_CLOSE_TODAY);
    assert_int_equal(plan[0].qty, 10);
    assert_int_equal(acctLiquidationCount(fx->b), 1);
    assert_int_equal(acctLiquidationAt(fx->b, 0)->riskRatio, 1000000);
    assert_int_equal(acctLiquidate(fx->b, 77, NS, plan, 4), -ACCT_ERR_NO_ACCOUNT);
}

/* ---- settlement ------------------------------------------------------------------- */

static void trade(Fx *fx, uint32_t buyer, uint8_t bOff, uint32_t seller, uint8_t sOff, int ins,
                  int64_t price, uint32_t qty)
{
    uint64_t b, s;
    assert_int_equal(order(fx, buyer, ins, 0, bOff, price, qty, &b), 0);
    assert_int_equal(order(fx, seller, ins, 1, sOff, price, qty, &s), 0);
    fill(fx, b, price, qty);
    fill(fx, s, price, qty);
}

static void testSettlementSeveralAccounts(void **state)
{
    Fx *fx = *state;
    for (uint32_t i = 1; i <= 3; i++)
        assert_int_equal(acctOpen(fx->b, i, "s", ACCT_INDIVIDUAL, M(100000), NS), 0);
    /* A buys 4 from B at 100.0; C buys 2 from B at 101.0; A sells 1 back to C
     * (A closes, C opens) at 100.6 */
    trade(fx, 1, POS_OPEN, 2, POS_OPEN, fx->ix, P(100), 4);
    trade(fx, 3, POS_OPEN, 2, POS_OPEN, fx->ix, P(101), 2);
    trade(fx, 3, POS_OPEN, 1, POS_CLOSE, fx->ix, P(100) + 6000, 1);
    int missing = -1;
    assert_int_equal(settleRun(fx->b, 20251006, NS, &missing), ACCT_ERR_PRICE_MISSING);
    assert_int_equal(missing, fx->ix);
    assert_int_equal(settleSetPrice(fx->b, (uint16_t)fx->ix, P(100) + 500), ACCT_ERR_PARAMS);
    assert_int_equal(settleSetPrice(fx->b, 9, P(100)), ACCT_ERR_NO_INSTRUMENT);
    assert_int_equal(settleSetPrice(fx->b, (uint16_t)fx->ix, P(102)), 0);
    /* IF has no positions: its price is not needed */
    assert_int_equal(settleRun(fx->b, 20251006, NS, NULL), 0);
    assert_int_equal(settleRun(fx->b, 20251006, NS, NULL), ACCT_ERR_SETTLED);
    assert_int_equal(settleRun(fx->b, 20251005, NS, NULL), ACCT_ERR_SETTLED);
    /* By hand, multiplier 200, fee 0.05/lot:
     * A: long 4 @100 closes 1 @100.6: close profit 0.6 x 200 = 120; 3 left
     *    marked at 102: (102 - 100) x 3 x 200 = 1,200; fees 0.2 + 0.05
     *    -> 100,000 + 120 + 1,200 - 0.25 = 101,319.75; margin 102 x 3 x 200 x 10% = 6,120
     * B: short 4 @100 + 2 @101: (100 - 102) x 800 + (101 - 102) x 400 = -2,000;
     *    fees 0.3 -> 97,999.7; margin 102 x 6 x 20 = 12,240
     * C: long 2 @101 + 1 @100.6: (102-101) x 400 + (102-100.6) x 200 = 680; fees 0.15
     *    -> 100,679.85; margin 6,120 */
    const settleResult *r = settleFind(fx->b, 20251006);
    assert_non_null(r);
    assert_int_equal(r->totalAccounts, 3);
    assert_int_equal(r->settledAccounts, 3);
    assert_int_equal(r->forceClosed, 0);
    assert_int_equal(r->totalCommission, 7000);
    assert_int_equal(r->totalProfit, 0);
    const int64_t wantBal[3] = {M(101319) + 7500, M(97999) + 7000, M(100679) + 8500};
    const int64_t wantMargin[3] = {M(6120), M(12240), M(6120)};
    const int64_t wantPos[3] = {M(1200), -M(2000), M(680)};
    for (uint32_t k = 0; k < 3; k++) {
        const settleAccount *d = settleDetailAt(fx->b, r->firstDetail + k);
        assert_int_equal(d->account, k + 1);
        assert_int_equal(d->balance, wantBal[k]);
        assert_int_equal(d->margin, wantMargin[k]);
        assert_int_equal(d->positionProfit, wantPos[k]);
        assert_int_equal(d->preBalance, 0);
        assert_int_equal(d->deposit, M(100000));
        const acctAccount *a = acctGet(fx->b, k + 1);
        assert_int_equal(a->preBalance, wantBal[k]);
        assert_int_equal(a->margin, wantMargin[k]);
        acctFigures f = figs(fx, k + 1);
        assert_int_equal(f.balance, wantBal[k]); /* position profit is 0 at the new price */
        assert_int_equal(f.positionProfit, 0);
    }
    /* today rolled into yesterday; the open price stays */
    const posPosition *p = acctPosition(fx->b, 1, (uint16_t)fx->ix);
    assert_int_equal(p->side[POS_LONG].today, 0);
    assert_int_equal(p->side[POS_LONG].yd, 3);
    assert_int_equal(p->side[POS_LONG].openCostYd, M(60000)); /* 100 x 3 x 200 */
    assert_int_equal(figs(fx, 1).floatProfit, M(1200));
    /* the settlement price is the new reference: band 91.8 .. 112.2 */
    assert_int_equal(instAt(fx->b, (uint16_t)fx->ix)->spec.preSettlement, P(102));
    assert_int_equal(instAt(fx->b, (uint16_t)fx->ix)->spec.upperTicks, 1122);
    assert_int_equal(settlePrice(fx->b, (uint16_t)fx->ix), 0);
    /* the next day closes yesterday's lots against the settlement price:
     * A sells 3 at 103: (103 - 102) x 600 = 600 */
    assert_int_equal(order(fx, 1, fx->ix, 1, POS_CLOSE_TODAY, P(103), 1, NULL), ACCT_ERR_POSITION);
    trade(fx, 2, POS_CLOSE, 1, POS_CLOSE_YESTERDAY, fx->ix, P(103), 3);
    assert_int_equal(acctGet(fx->b, 1)->closeProfit, M(600));
    assert_int_equal(acctGet(fx->b, 2)->closeProfit, -M(600));
    assert_int_equal(settleRun(fx->b, 20251007, NS, &missing), ACCT_ERR_PRICE_MISSING);
    assert_int_equal(settleCount(fx->b), 1);
    assert_int_equal(acctTradeCount(fx->b), 2);
}

static void testSettlementForceClose(void **state)
{
    Fx *fx = *state;
    acctLimits l = defaultLimits();
    l.concentration = ACCT_PPM;
    acctSetLimits(fx->b, &l);
    assert_int_equal(acctOpen(fx->b, 1, "weak", ACCT_INDIVIDUAL, M(21000), NS), 0);
    assert_int_equal(acctOpen(fx->b, 2, "strong", ACCT_INDIVIDUAL, M(1000000), NS), 0);
    trade(fx, 1, POS_OPEN, 2, POS_OPEN, fx->ix, P(100), 10);
    /* settle at 99.4: A loses 1,200 -> 19,799.5 against margin 19,880 */
    settleSetPrice(fx->b, (uint16_t)fx->ix, P(99) + 4000);
    assert_int_equal(settleRun(fx->b, 20251006, NS, NULL), 0);
    const settleResult *r = settleAt(fx->b, 0);
    assert_int_equal(r->forceClosed, 1);
    const settleAccount *d = settleDetailAt(fx->b, r->firstDetail);
    assert_int_equal(d->forceClose, 1);
    assert_int_equal(d->balance, M(19799) + 5000);
    assert_int_equal(d->margin, M(19880));
    assert_int_equal(settleDetailAt(fx->b, r->firstDetail + 1)->forceClose, 0);
}

/* ---- instruments -------------------------------------------------------------------- */

static void testInstrumentLifecycle(void **state)
{
    Fx *fx = *state;
    cfgInstrument s = specIX();
    assert_int_equal(instAdd(fx->b, &s), -ACCT_ERR_PARAMS); /* exists */
    strcpy(s.id, "NEW1");
    s.tickSize = 0;
    assert_int_equal(instAdd(fx->b, &s), -ACCT_ERR_PARAMS);
    s = specIX();
    strcpy(s.id, "NEW1");
    s.preSettlement = P(100) + 500; /* off tick */
    assert_int_equal(instAdd(fx->b, &s), -ACCT_ERR_PARAMS);
    s.preSettlement = P(100);
    const int n = instAdd(fx->b, &s);
    assert_int_equal(n, 2);
    assert_int_equal(instFind(fx->b, "NEW1"), 2);
    assert_int_equal(instFind(fx->b, "NOPE"), -1);
    /* update: margin 20% doubles the freeze */
    instUpdate u = {.hasMarginRate = 1, .marginRate = 200000};
    assert_int_equal(instSetParams(fx->b, (uint16_t)n, &u), 0);
    assert_int_equal(acctOpen(fx->b, 1, "i", ACCT_INDIVIDUAL, M(1000000), NS), 0);
    assert_int_equal(acctOpen(fx->b, 2, "j", ACCT_INDIVIDUAL, M(1000000), NS), 0);
    uint64_t id;
    assert_int_equal(order(fx, 1, n, 0, POS_OPEN, P(100), 1, &id), 0);
    assert_int_equal(acctGet(fx->b, 1)->frozenMargin, M(4000));
    u = (instUpdate){.hasMarginRate = 1, .marginRate = 0};
    assert_int_equal(instSetParams(fx->b, (uint16_t)n, &u), ACCT_ERR_PARAMS);
    u = (instUpdate){.hasLots = 1, .minLots = 5, .maxLots = 4};
    assert_int_equal(instSetParams(fx->b, (uint16_t)n, &u), ACCT_ERR_PARAMS);
    u = (instUpdate){.hasCommissionPerLot = 1, .commissionPerLot = 10000};
    assert_int_equal(instSetParams(fx->b, (uint16_t)n, &u), 0);
    /* suspend: 3003; resume */
    assert_int_equal(instSetStatus(fx->b, (uint16_t)n, INST_SUSPENDED), 0);
    assert_int_equal(order(fx, 2, n, 1, POS_OPEN, P(100), 1, NULL), ACCT_ERR_STATE);
    assert_int_equal(instSetStatus(fx->b, (uint16_t)n, INST_TRADING), 0);
    /* delist refused: account 1 has a live order, then positions of 1 and 2 */
    uint32_t holders[4], nh = 0;
    assert_int_equal(instDelist(fx->b, (uint16_t)n, holders, 4, &nh), ACCT_ERR_PARAMS);
    assert_int_equal(nh, 1);
    assert_int_equal(holders[0], 1);
    uint64_t sid;
    assert_int_equal(order(fx, 2, n, 1, POS_OPEN, P(100), 1, &sid), 0);
    fill(fx, id, P(100), 1);
    fill(fx, sid, P(100), 1);
    assert_int_equal(acctGet(fx->b, 1)->commission, M(1)); /* the new 1.0 per lot */
    assert_int_equal(instDelist(fx->b, (uint16_t)n, holders, 4, &nh), ACCT_ERR_PARAMS);
    assert_int_equal(nh, 2);
    assert_int_equal(holders[0], 1);
    assert_int_equal(holders[1], 2);
    trade(fx, 2, POS_CLOSE, 1, POS_CLOSE, n, P(100), 1);
    assert_int_equal(instDelist(fx->b, (uint16_t)n, holders, 4, &nh), 0);
    assert_int_equal(instDelist(fx->b, (uint16_t)n, holders, 4, &nh), ACCT_ERR_NO_INSTRUMENT);
    assert_int_equal(order(fx, 1, n, 0, POS_OPEN, P(100), 1, NULL), ACCT_ERR_NO_INSTRUMENT);
    assert_int_equal(instSetStatus(fx->b, (uint16_t)n, INST_TRADING), ACCT_ERR_NO_INSTRUMENT);
    assert_int_equal(settleSetPrice(fx->b, (uint16_t)n, P(100)), ACCT_ERR_NO_INSTRUMENT);
}

/* ---- randomized invariants ------------------------------------------------------------ */

#define R_ACCOUNTS 200
#define R_OPS      1000000
#define R_LIVE     4096

static uint64_t rngState = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
    rngState ^= rngState << 13;
    rngState ^= rngState >> 7;
    rngState ^= rngState << 17;
    return rngState;
}
static uint32_t rndN(uint32_t n)
{
    return (uint32_t)(rnd() % n);
}

typedef struct {
    int64_t pnlSettled; /* sum of settled results' profit */
    uint64_t live[R_LIVE];
    uint32_t nLive;
} RState;

static void checkInvariants(Fx *fx, const RState *rs)
{
    acctTotals t;
    acctGetTotals(fx->b, &t);
    int64_t balances = 0, pnl = rs->pnlSettled;
    int64_t longs[8] = {0}, shorts[8] = {0};
    for (uint32_t i = 0; i < acctCount(fx->b); i++) {
        const acctAccount *a = acctAt(fx->b, i);
        acctFigures f;
        acctCompute(fx->b, a, &f);
        balances += f.balance;
        pnl += a->closeProfit + f.positionProfit;
        assert_true(a->frozenMargin >= 0 && a->frozenCommission >= 0 && a->margin >= 0);
        uint32_t it = 0;
        uint16_t ins;
        const posPosition *p;
        int64_t m = 0;
        while ((p = acctNextPosition(fx->b, a, &it, &ins)) != NULL) {
            for (int k = 0; k < 2; k++) {
                const posSide *s = &p->side[k];
                assert_true(s->frozenToday <= s->today && s->frozenYd <= s->yd);
                m += s->marginToday + s->marginYd;
            }
            longs[ins] += posLots(&p->side[POS_LONG]);
            shorts[ins] += posLots(&p->side[POS_SHORT]);
        }
        assert_int_equal(m, a->margin);
    }
    /* money is conserved and P&L sums to zero across counterparties */
    assert_int_equal(t.deposits - t.withdrawals, balances + t.commission);
    assert_int_equal(pnl, 0);
    for (int k = 0; k < 8; k++)
        assert_int_equal(longs[k], shorts[k]);
    /* what live orders freeze is what the accounts freeze */
    int64_t fm = 0, fc = 0, am = 0, ac = 0;
    for (uint32_t i = 0; i < acctOrderCount(fx->b); i++) {
        const acctOrder *o = acctOrderAt(fx->b, i);
        fm += o->frozenMargin;
        fc += o->frozenCommission;
        if (o->status >= ACCT_ORDER_FILLED)
            assert_true(o->frozenMargin == 0 && o->frozenCommission == 0 &&
                        o->frozenToday + o->frozenYd == 0);
    }
    for (uint32_t i = 0; i < acctCount(fx->b); i++) {
        am += acctAt(fx->b, i)->frozenMargin;
        ac += acctAt(fx->b, i)->frozenCommission;
    }
    assert_int_equal(fm, am);
    assert_int_equal(fc, ac);
}

/* A random order of account acc on side; returns its id or 0 if refused. */
static uint64_t randomOrder(Fx *fx, uint32_t acc, int ins, uint8_t side, int64_t price,
                            uint32_t qty)
{
    const posPosition *p = acctPosition(fx->b, acc, (uint16_t)ins);
    uint8_t offset = POS_OPEN;
    if (p && rndN(2)) {
        const posSide *s = &p->side[posCloseSide(side)];
        if (posLots(s) - s->frozenToday - s->frozenYd >= qty)
            offset = (uint8_t)(1 + rndN(3));
    }
    uint64_t id;
    int rc = order(fx, acc, ins, side, offset, price, qty, &id);
    if (rc == 0 && offset == POS_OPEN) {
        acctFigures f = figs(fx, acc);
        assert_true(f.available >= 0); /* never froze more than it had */
    }
    assert_true(rc == 0 || rc == ACCT_ERR_FUNDS || rc == ACCT_ERR_CONCENTRATION ||
                rc == ACCT_ERR_RISK || rc == ACCT_ERR_POSITION);
    return rc == 0 ? id : 0;
}

static void randomTrade(Fx *fx, RState *rs)
{
    const int ins = (int)rndN(2);
    const cfgInstrument *s = &instAt(fx->b, (uint16_t)ins)->spec;
    const uint32_t a = 1 + rndN(R_ACCOUNTS);
    uint32_t c = 1 + rndN(R_ACCOUNTS - 1);
    if (c >= a)
        c++;
    const int64_t mid = instAt(fx->b, (uint16_t)ins)->lastPrice / s->tickSize;
    int64_t t = mid + (int64_t)rndN(21) - 10;
    if (t < s->lowerTicks + 3)
        t = s->lowerTicks + 3;
    if (t > s->upperTicks - 3)
        t = s->upperTicks - 3;
    const int64_t buyPx = (t + rndN(3)) * s->tickSize, sellPx = (t - rndN(3)) * s->tickSize;
    const uint32_t qty = 1 + rndN(5);
    uint64_t b = randomOrder(fx, a, ins, 0, buyPx, qty);
    uint64_t sl = randomOrder(fx, c, ins, 1, sellPx, qty);
    if (b && sl) {
        uint32_t left = qty;
        while (left && rndN(4)) {
            uint32_t q = 1 + rndN(left);
            int64_t px = sellPx + (int64_t)rndN((uint32_t)((buyPx - sellPx) / s->tickSize + 1)) *
                                      s->tickSize;
            fill(fx, b, px, q);
            fill(fx, sl, px, q);
            left -= q;
        }
    }
    for (int k = 0; k < 2; k++) {
        uint64_t id = k ? sl : b;
        if (!id || acctOrderGet(fx->b, id)->status >= ACCT_ORDER_FILLED)
            continue;
        if (rs->nLive < R_LIVE && rndN(2))
            rs->live[rs->nLive++] = id;
        else
            assert_int_equal(acctOrderCancel(fx->b, id, NS), 0);
    }
}

static void randomMoney(Fx *fx)
{
    const uint32_t a = 1 + rndN(R_ACCOUNTS);
    const int64_t amount = (int64_t)rndN(200000) * 10000 + 1;
    if (rndN(2)) {
        assert_int_equal(acctDeposit(fx->b, a, amount), 0);
        return;
    }
    acctFigures f = figs(fx, a);
    int rc = acctWithdraw(fx->b, a, amount);
    assert_int_equal(rc, amount <= f.available ? 0 : ACCT_ERR_WITHDRAW);
}

static void randomSettle(Fx *fx, RState *rs, uint32_t day)
{
    /* GFD orders expire at the close */
    for (uint32_t k = 0; k < rs->nLive; k++)
        acctOrderCancel(fx->b, rs->live[k], NS);
    rs->nLive = 0;
    for (uint16_t i = 0; i < 2; i++) {
        const acctInstrument *in = instAt(fx->b, i);
        const int64_t t = in->lastPrice / in->spec.tickSize + (int64_t)rndN(11) - 5;
        assert_int_equal(settleSetPrice(fx->b, i, t * in->spec.tickSize), 0);
    }
    assert_int_equal(settleRun(fx->b, day, NS, NULL), 0);
    rs->pnlSettled += settleAt(fx->b, settleCount(fx->b) - 1)->totalProfit;
}

static void testRandomizedInvariants(void **state)
{
    Fx *fx = *state;
    static RState rs;
    memset(&rs, 0, sizeof rs);
    acctLimits l = defaultLimits();
    l.concentration = 800000;
    acctSetLimits(fx->b, &l);
    for (uint32_t i = 1; i <= R_ACCOUNTS; i++)
        assert_int_equal(
            acctOpen(fx->b, i, "r", ACCT_INDIVIDUAL, (int64_t)(1 + rndN(3000)) * M(1000), NS), 0);
    uint32_t day = 20251006;
    for (uint32_t op = 0; op < R_OPS; op++) {
        const uint32_t k = rndN(100);
        if (k < 55) {
            randomTrade(fx, &rs);
        } else if (k < 75) {
            randomMoney(fx);
        } else if (k < 90) {
            if (rs.nLive) {
                uint32_t j = rndN(rs.nLive);
                acctOrderCancel(fx->b, rs.live[j], NS);
                rs.live[j] = rs.live[--rs.nLive];
            }
        } else {
            const uint16_t i = (uint16_t)rndN(2);
            const acctInstrument *in = instAt(fx->b, i);
            int64_t t = in->lastPrice / in->spec.tickSize + (int64_t)rndN(9) - 4;
            if (t >= in->spec.lowerTicks && t <= in->spec.upperTicks)
                acctMark(fx->b, i, t * in->spec.tickSize);
        }
        if (op % 100000 == 99999)
            randomSettle(fx, &rs, ++day);
        if (op % 10000 == 0)
            checkInvariants(fx, &rs);
    }
    checkInvariants(fx, &rs);
    acctTotals t;
    acctGetTotals(fx->b, &t);
    assert_true(t.fills > 100000); /* the run really traded */
    assert_int_equal(settleCount(fx->b), R_OPS / 100000);
}

/* acctCeilPpm takes 64 bits when v x ppm fits and 128 otherwise: both
 * give the 128-bit rounded-up quotient, at and around the switch. */
static void test_ceil_ppm_64_and_128_bits(void **state)
{
    (void)state;
    const uint32_t ppms[] = {0, 1, 999, 100000, 1000000, 4000000000u};
    const int64_t edge = INT64_MAX - (ACCT_PPM - 1);
    for (size_t i = 0; i < sizeof ppms / sizeof ppms[0]; i++) {
        const uint32_t ppm = ppms[i];
        const int64_t vs[] = {0,
                              1,
                              999999,
                              1000000,
                              1000001,
                              3800 * 10000LL * 5 * 10,
                              ppm ? edge / ppm - 1 : 7,
                              ppm ? edge / ppm : 8,
                              ppm ? edge / ppm + 1 : 9,
                              INT64_MAX / 2,
                              INT64_MAX,
                              -1,
                              -1000001};
        for (size_t j = 0; j < sizeof vs / sizeof vs[0]; j++) {
            const __int128 p = (__int128)vs[j] * ppm;
            const int64_t want = (int64_t)((p + ACCT_PPM - 1) / ACCT_PPM);
            assert_true(acctCeilPpm(vs[j], ppm) == want);
        }
    }
    assert_int_equal(acctCeilPpm(1, 1), 1); /* rounds up */
    assert_int_equal(acctCeilPpm(1000000, 1), 1);
    assert_int_equal(acctCeilPpm(1000001, 1), 2);
}

int main(void)
{
#define T(t) cmocka_unit_test_setup_teardown(t, setup, teardown)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ceil_ppm_64_and_128_bits),
        T(testAccountCodes),
        T(testOrderParamCodes),
        T(testLongRoundTrip),
        T(testShortRoundTrip),
        T(testHedgedMargin),
        T(testCloseWithoutPosition),
        T(testCloseRules),
        T(testPartialFillsExactRelease),
        T(testBetterPriceFillReleasesDifference),
        T(testReplace),
        T(testHandComputedFigures),
        T(testLiquidationAtLevel),
        T(testSettlementSeveralAccounts),
        T(testSettlementForceClose),
        T(testInstrumentLifecycle),
        T(testRandomizedInvariants),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
