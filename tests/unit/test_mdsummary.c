/* test_mdsummary.c -- unit tests of the summary market data (control/mdsummary.c,
 * control/mdswire.c).
 *
 * Every expected value below was computed by hand from the trades the test
 * feeds (the arithmetic is written next to it): the trading day of chosen
 * instants (night session start, weekend, year end, no night session, UTC),
 * K-line bars at exact period multiples (a trade at the boundary opens the
 * next bar), empty periods (no bar), bars finished by the clock alone,
 * open interest from the orders' offsets, the trading-day rollover (day bar,
 * daily statistics, pre-close and open interest carried), late trades,
 * history limits, snapshots with change and change percent, and the summary
 * channel's byte layouts and MoldUDP64 packing. Times are the exchange's
 * local time (+08:00) on chosen days: 2025-01-06 is a Monday, day 20094
 * since the epoch (2025-01-01 = 1735689600 s = day 20089). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "control/mdsummary.h"

#define NS    UINT64_C(1000000000)
#define MON6  20094 /* 2025-01-06, Monday */
#define FRI3  20091 /* 2025-01-03, Friday */
#define FRI10 20098
#define SAT11 20099
#define SUN12 20100
#define THU9  20097
#define TUE31 20088 /* 2024-12-31, Tuesday */
#define SAT4  20092

/* Local (+08:00) time on an epoch day to UTC ns. */
static uint64_t T(int64_t day, int h, int m, int s, int ms)
{
    int64_t sec = day * 86400 + h * 3600 + m * 60 + s - 8 * 3600;
    return (uint64_t)sec * NS + (uint64_t)ms * 1000000u;
}

/* Prices in 1e-4 units: P(3800, 2) = 3800.2. */
#define P(whole, tenths) ((int64_t)(whole)*10000 + (int64_t)(tenths)*1000)

static cfgInstrument gIns[2];
static cfgConfig gCfg;

/* Two instruments like config/xchg.conf's IF2501 (tick 0.2, x300, band
 * +-10% of 3800.0 = 3420.0 .. 4180.0) and cu2501 (tick 10, x5). */
static const cfgConfig *config(void)
{
    memset(gIns, 0, sizeof gIns);
    strcpy(gIns[0].id, "IF2501");
    gIns[0].tickSize = 2000;
    gIns[0].multiplier = 300;
    gIns[0].preSettlement = gIns[0].preClose = P(3800, 0);
    gIns[0].lowerTicks = 17100; /* 3420.0 / 0.2 */
    gIns[0].upperTicks = 20900; /* 4180.0 / 0.2 */
    strcpy(gIns[1].id, "cu2501");
    gIns[1].tickSize = 100000;
    gIns[1].multiplier = 5;
    gIns[1].preSettlement = gIns[1].preClose = P(75230, 0);
    gIns[1].lowerTicks = 6922;
    gIns[1].upperTicks = 8124;
    memset(&gCfg, 0, sizeof gCfg);
    gCfg.instruments = gIns;
    gCfg.instrumentCount = 2;
    gCfg.marketData.tradingDayStart = 21 * 3600;
    gCfg.marketData.utcOffset = 8 * 3600;
    gCfg.marketData.klineHistory = 1000;
    return &gCfg;
}

/* What the callbacks received. */
typedef struct {
    mdsBar bars[64];
    uint16_t barIns[64];
    int nbars;
    mdsDaily days[8];
    uint16_t dayIns[8];
    int ndays;
} sink;

static void onBar(void *ctx, uint16_t instrument, const mdsBar *b)
{
    sink *s = ctx;
    if (s->nbars < 64) {
        s->barIns[s->nbars] = instrument;
        s->bars[s->nbars++] = *b;
    }
}

static void onDaily(void *ctx, uint16_t instrument, const mdsDaily *d)
{
    sink *s = ctx;
    if (s->ndays < 8) {
        s->dayIns[s->ndays] = instrument;
        s->days[s->ndays++] = *d;
    }
}

static mds *create(sink *s, uint64_t now, uint32_t history)
{
    memset(s, 0, sizeof *s);
    mdsOptions o = {.cfg = config(),
                    .history = history,
                    .onBar = onBar,
                    .onDaily = onDaily,
                    .ctx = s,
                    .nowNs = now};
    mds *m = mdsCreate(&o);
    assert_non_null(m);
    return m;
}

enum { OPEN = 0, CLOSE = 1, CLOSE_TODAY = 2 };

static void trade(mds *m, uint16_t ins, uint64_t t, int64_t price, uint32_t qty, uint8_t buyOff,
                  uint8_t sellOff)
{
    mdsTrade tr = {.timeNs = t,
                   .price = price,
                   .qty = qty,
                   .instrument = ins,
                   .aggressor = 0,
                   .offset = {buyOff, sellOff}};
    assert_int_equal(mdsOnTrade(m, &tr), 0);
}

/* The last finished bar of a period in the sink, or NULL. */
static const mdsBar *lastBar(const sink *s, mdsPeriod p)
{
    for (int i = s->nbars - 1; i >= 0; i--)
        if (s->bars[i].period == p)
            return &s->bars[i];
    return NULL;
}

static int countBars(const sink *s, mdsPeriod p)
{
    int n = 0;
    for (int i = 0; i < s->nbars; i++)
        n += s->bars[i].period == p;
    return n;
}

static void checkBar(const mdsBar *b, uint64_t start, uint64_t end, int64_t o, int64_t h, int64_t l,
                     int64_t c, uint64_t v, int64_t amount, int64_t oi0, int64_t oi1)
{
    assert_non_null(b);
    assert_int_equal(b->startNs, start);
    assert_int_equal(b->endNs, end);
    assert_int_equal(b->open, o);
    assert_int_equal(b->high, h);
    assert_int_equal(b->low, l);
    assert_int_equal(b->close, c);
    assert_int_equal(b->volume, v);
    assert_int_equal(b->amount, amount);
    assert_int_equal(b->openOi, oi0);
    assert_int_equal(b->closeOi, oi1);
}

/* ---- trading day ------------------------------------------------------------------------ */

static void test_trading_day(void **state)
{
    (void)state;
    const int32_t night = 21 * 3600, cst = 8 * 3600;
    uint64_t start;
    /* Monday before 21:00 is Monday's day, which began Friday 21:00 */
    assert_int_equal(mdsTradingDayOf(T(MON6, 20, 59, 59, 999), night, cst, &start), 20250106);
    assert_int_equal(start, T(FRI3, 21, 0, 0, 0));
    /* 21:00:00.000 exactly starts Tuesday's day */
    assert_int_equal(mdsTradingDayOf(T(MON6, 21, 0, 0, 0), night, cst, &start), 20250107);
    assert_int_equal(start, T(MON6, 21, 0, 0, 0));
    assert_int_equal(mdsTradingDayOf(T(THU9, 8, 59, 0, 0), night, cst, &start), 20250109);
    assert_int_equal(start, T(MON6 + 2, 21, 0, 0, 0));
    /* Friday night, Saturday and Sunday belong to Monday the 13th */
    assert_int_equal(mdsTradingDayOf(T(FRI10, 21, 0, 0, 0), night, cst, &start), 20250113);
    assert_int_equal(start, T(FRI10, 21, 0, 0, 0));
    assert_int_equal(mdsTradingDayOf(T(SAT11, 10, 0, 0, 0), night, cst, NULL), 20250113);
    assert_int_equal(mdsTradingDayOf(T(SUN12, 23, 0, 0, 0), night, cst, NULL), 20250113);
    assert_int_equal(mdsTradingDayOf(T(FRI10, 20, 59, 59, 0), night, cst, NULL), 20250110);
    /* year end: Tuesday 2024-12-31 21:00 starts 2025-01-01 (no holiday calendar) */
    assert_int_equal(mdsTradingDayOf(T(TUE31, 21, 0, 0, 0), night, cst, NULL), 20250101);
    assert_int_equal(mdsTradingDayOf(T(TUE31, 20, 0, 0, 0), night, cst, NULL), 20241231);
    /* no night session: the calendar day; Monday's day begins Saturday 00:00 */
    assert_int_equal(mdsTradingDayOf(T(MON6, 23, 59, 59, 0), 0, cst, &start), 20250106);
    assert_int_equal(start, T(SAT4, 0, 0, 0, 0));
    assert_int_equal(mdsTradingDayOf(T(MON6 + 1, 0, 0, 0, 0), 0, cst, &start), 20250107);
    assert_int_equal(start, T(MON6 + 1, 0, 0, 0, 0));
    /* local time is what counts: 2025-01-06 14:00 UTC is 22:00 at +08:00 */
    const uint64_t utc14 = (uint64_t)(MON6 * 86400 + 14 * 3600) * NS;
    assert_int_equal(mdsTradingDayOf(utc14, night, cst, NULL), 20250107);
    assert_int_equal(mdsTradingDayOf(utc14, night, 0, &start), 20250106);
    assert_int_equal(start, (uint64_t)(FRI3 * 86400 + 21 * 3600) * NS);
}

static void test_period_names(void **state)
{
    (void)state;
    mdsPeriod p;
    assert_int_equal(mdsPeriodParse("3s", &p), 0);
    assert_int_equal(p, MDS_3S);
    assert_int_equal(mdsPeriodParse("1h", &p), 0);
    assert_int_equal(p, MDS_60M);
    assert_int_equal(mdsPeriodParse("0", &p), 0);
    assert_int_equal(p, MDS_DAY);
    assert_int_equal(mdsPeriodParse("15min", &p), 0);
    assert_int_equal(p, MDS_15M);
    assert_int_equal(mdsPeriodParse("2m", &p), -1);
    assert_int_equal(mdsPeriodParse("", &p), -1);
    assert_string_equal(mdsPeriodName(MDS_30M), "30m");
    assert_string_equal(mdsPeriodName((mdsPeriod)2), "?");
    assert_int_equal(mdsPeriodNs(MDS_5M), 300 * NS);
    assert_int_equal(mdsPeriodNs(MDS_DAY), 0);
}

static void test_change_percent(void **state)
{
    (void)state;
    assert_int_equal(mdsChangePercent(1, 2), 500000);   /* 50% */
    assert_int_equal(mdsChangePercent(2, 3), 666667);   /* 66.66667 rounds up */
    assert_int_equal(mdsChangePercent(-2, 3), -666667); /* away from zero */
    assert_int_equal(mdsChangePercent(-1, 3), -333333);
    assert_int_equal(mdsChangePercent(5, 10000000), 1);         /* 0.5 -> 1 */
    assert_int_equal(mdsChangePercent(-5, 10000000), -1);       /* -0.5 -> -1 */
    assert_int_equal(mdsChangePercent(4, 10000000), 0);         /* 0.4 -> 0 */
    assert_int_equal(mdsChangePercent(-20000, 38000000), -526); /* -526.3 */
    assert_int_equal(mdsChangePercent(7, 0), 0);
}

/* ---- K-lines --------------------------------------------------------------------------------- */

/* The trades of the bar tests (IF2501, x300):
 *  a 09:30:00.000 3800.0 x2 open/open   OI 0 -> 2
 *  b 09:30:02.999 3801.0 x1 open/close  OI 2
 *  c 09:30:03.000 3799.0 x1 close/close OI 2 -> 1
 *  d 09:30:59.999 3802.2 x4 open/open   OI 1 -> 5
 *  e 09:31:00.000 3800.4 x5 close/open  OI 5
 *  f 09:33:20.000 3798.0 x2 close/close OI 5 -> 3
 * amounts (price x qty x 300): a 22,800,000,000 b 11,403,000,000
 * c 11,397,000,000 d 45,626,400,000 e 57,006,000,000 f 22,788,000,000. */
static void feedScript(mds *m, sink *s, int withTicks)
{
    trade(m, 0, T(MON6, 9, 30, 0, 0), P(3800, 0), 2, OPEN, OPEN);
    trade(m, 0, T(MON6, 9, 30, 2, 999), P(3801, 0), 1, OPEN, CLOSE);
    assert_int_equal(countBars(s, MDS_3S), 0);
    trade(m, 0, T(MON6, 9, 30, 3, 0), P(3799, 0), 1, CLOSE, CLOSE_TODAY);
    /* the boundary trade finished the first 3s bar: [09:30:00, 09:30:03) */
    assert_int_equal(countBars(s, MDS_3S), 1);
    checkBar(lastBar(s, MDS_3S), T(MON6, 9, 30, 0, 0), T(MON6, 9, 30, 3, 0), P(3800, 0), P(3801, 0),
             P(3800, 0), P(3801, 0), 3, 34203000000, 0, 2);
    trade(m, 0, T(MON6, 9, 30, 59, 999), P(3802, 2), 4, OPEN, OPEN);
    if (withTicks) {
        mdsTick(m, T(MON6, 9, 30, 59, 999));
        assert_int_equal(countBars(s, MDS_1M), 0);
        mdsTick(m, T(MON6, 9, 31, 0, 0)); /* the clock alone finishes the minute */
        assert_int_equal(countBars(s, MDS_1M), 1);
        mdsTick(m, T(MON6, 9, 30, 30, 0)); /* going back is ignored */
        assert_int_equal(mdsNow(m), T(MON6, 9, 31, 0, 0));
    }
    trade(m, 0, T(MON6, 9, 31, 0, 0), P(3800, 4), 5, CLOSE, OPEN);
    trade(m, 0, T(MON6, 9, 33, 20, 0), P(3798, 0), 2, CLOSE, CLOSE);
}

static void test_bars_boundaries(void **state)
{
    (void)state;
    sink s;
    mds *m = create(&s, T(MON6, 9, 0, 0, 0), 0);
    assert_int_equal(mdsTradingDay(m), 20250106);
    feedScript(m, &s, 0);
    mdsBar out[8];
    /* 1m: [09:30] a-d and [09:31] e finished, no bar for the empty 09:32,
     * [09:33] f is the current bar */
    assert_int_equal(mdsKlines(m, 0, MDS_1M, 8, out), 3);
    checkBar(&out[0], T(MON6, 9, 30, 0, 0), T(MON6, 9, 31, 0, 0), P(3800, 0), P(3802, 2),
             P(3799, 0), P(3802, 2), 8, 91226400000, 0, 5);
    assert_int_equal(out[0].finished, 1);
    assert_int_equal(out[0].trades, 4);
    assert_int_equal(out[0].tradingDay, 20250106);
    checkBar(&out[1], T(MON6, 9, 31, 0, 0), T(MON6, 9, 32, 0, 0), P(3800, 4), P(3800, 4),
             P(3800, 4), P(3800, 4), 5, 57006000000, 5, 5);
    checkBar(&out[2], T(MON6, 9, 33, 0, 0), T(MON6, 9, 34, 0, 0), P(3798, 0), P(3798, 0),
             P(3798, 0), P(3798, 0), 2, 22788000000, 5, 3);
    assert_int_equal(out[2].finished, 0);
    /* the callback saw exactly the two finished minutes, equal to the query */
    assert_int_equal(countBars(&s, MDS_1M), 2);
    assert_memory_equal(lastBar(&s, MDS_1M), &out[1], sizeof out[1]);
    /* 3s: [09:30:00) a+b, [09:30:03) c, [09:30:57) d, [09:31:00) e, [09:33:18) f */
    assert_int_equal(mdsKlines(m, 0, MDS_3S, 8, out), 5);
    checkBar(&out[1], T(MON6, 9, 30, 3, 0), T(MON6, 9, 30, 6, 0), P(3799, 0), P(3799, 0),
             P(3799, 0), P(3799, 0), 1, 11397000000, 2, 1);
    checkBar(&out[2], T(MON6, 9, 30, 57, 0), T(MON6, 9, 31, 0, 0), P(3802, 2), P(3802, 2),
             P(3802, 2), P(3802, 2), 4, 45626400000, 1, 5);
    assert_int_equal(out[3].startNs, T(MON6, 9, 31, 0, 0));
    assert_int_equal(out[4].startNs, T(MON6, 9, 33, 18, 0));
    assert_int_equal(out[4].endNs, T(MON6, 9, 33, 21, 0));
    /* 5m, 15m, 30m, 60m: one current bar holding all six trades */
    const mdsPeriod longer[] = {MDS_5M, MDS_15M, MDS_30M, MDS_60M};
    const int startMin[] = {30, 30, 30, 0}, endH[] = {9, 9, 10, 10}, endMin[] = {35, 45, 0, 0};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(mdsKlines(m, 0, longer[i], 8, out), 1);
        checkBar(&out[0], T(MON6, 9, startMin[i], 0, 0), T(MON6, endH[i], endMin[i], 0, 0),
                 P(3800, 0), P(3802, 2), P(3798, 0), P(3798, 0), 15, 171020400000, 0, 3);
    }
    /* the day bar runs from Friday 21:00 to Monday 21:00 */
    assert_int_equal(mdsKlines(m, 0, MDS_DAY, 8, out), 1);
    checkBar(&out[0], T(FRI3, 21, 0, 0, 0), T(MON6, 21, 0, 0, 0), P(3800, 0), P(3802, 2),
             P(3798, 0), P(3798, 0), 15, 171020400000, 0, 3);
    /* the other instrument has no bar at all */
    assert_int_equal(mdsKlines(m, 1, MDS_1M, 8, out), 0);
    /* daily statistics: vwap = 171,020,400,000 / (15 x 300) = 38,004,533.3 -> 38,004,533 */
    mdsDaily d;
    assert_int_equal(mdsDailyGet(m, 0, &d), 0);
    assert_int_equal(d.tradingDay, 20250106);
    assert_int_equal(d.open, P(3800, 0));
    assert_int_equal(d.high, P(3802, 2));
    assert_int_equal(d.low, P(3798, 0));
    assert_int_equal(d.close, P(3798, 0));
    assert_int_equal(d.volume, 15);
    assert_int_equal(d.turnover, 171020400000);
    assert_int_equal(d.vwap, 38004533);
    assert_int_equal(d.openInterest, 3);
    assert_int_equal(d.preOpenInterest, 0);
    assert_int_equal(d.trades, 6);
    assert_int_equal(d.preClose, P(3800, 0));
    mdsDestroy(m);
}

static void test_bars_clock(void **state)
{
    (void)state;
    sink s;
    mds *m = create(&s, T(MON6, 9, 0, 0, 0), 0);
    feedScript(m, &s, 1);
    /* the minute finished by the tick is the one the query returns */
    const mdsBar *first = NULL;
    for (int i = 0; i < s.nbars && !first; i++)
        if (s.bars[i].period == MDS_1M)
            first = &s.bars[i];
    checkBar(first, T(MON6, 9, 30, 0, 0), T(MON6, 9, 31, 0, 0), P(3800, 0), P(3802, 2), P(3799, 0),
             P(3802, 2), 8, 91226400000, 0, 5);
    /* 09:35:00 finishes the 09:33 minute and the 09:30 five minutes; nothing
     * for 09:32 or 09:34 (no trades) */
    mdsTick(m, T(MON6, 9, 35, 0, 0));
    assert_int_equal(countBars(&s, MDS_1M), 3);
    assert_int_equal(countBars(&s, MDS_5M), 1);
    assert_int_equal(countBars(&s, MDS_15M), 0);
    checkBar(lastBar(&s, MDS_5M), T(MON6, 9, 30, 0, 0), T(MON6, 9, 35, 0, 0), P(3800, 0),
             P(3802, 2), P(3798, 0), P(3798, 0), 15, 171020400000, 0, 3);
    mdsBar out[4];
    assert_int_equal(mdsKlines(m, 0, MDS_5M, 4, out), 1);
    assert_int_equal(out[0].finished, 1);
    mdsStats st;
    mdsGetStats(m, &st);
    assert_int_equal(st.trades, 6);
    assert_int_equal(st.late, 0);
    assert_int_equal(st.barsFinished, (uint64_t)s.nbars);
    mdsDestroy(m);
}

static void test_rollover(void **state)
{
    (void)state;
    sink s;
    mds *m = create(&s, T(MON6, 14, 0, 0, 0), 0);
    trade(m, 0, T(MON6, 14, 59, 0, 0), P(3810, 0), 2, OPEN, OPEN);
    trade(m, 1, T(MON6, 14, 59, 30, 0), P(75300, 0), 1, OPEN, OPEN);
    mdsTick(m, T(MON6, 20, 59, 59, 999));
    assert_int_equal(s.ndays, 0);
    assert_int_equal(countBars(&s, MDS_DAY), 0);
    assert_int_equal(countBars(&s, MDS_60M), 2); /* [14:00, 15:00) of both */
    /* 21:00 ends Monday's day: day bars and statistics of both instruments */
    mdsTick(m, T(MON6, 21, 0, 0, 0));
    assert_int_equal(s.ndays, 2);
    assert_int_equal(s.dayIns[0], 0);
    assert_int_equal(s.days[0].tradingDay, 20250106);
    assert_int_equal(s.days[0].volume, 2);
    assert_int_equal(s.days[0].close, P(3810, 0));
    assert_int_equal(s.days[0].turnover, 22860000000); /* 38,100,000 x 2 x 300 */
    assert_int_equal(s.days[0].openInterest, 2);
    assert_int_equal(s.days[1].close, P(75300, 0));
    assert_int_equal(countBars(&s, MDS_DAY), 2);
    checkBar(lastBar(&s, MDS_DAY), T(FRI3, 21, 0, 0, 0), T(MON6, 21, 0, 0, 0), P(75300, 0),
             P(75300, 0), P(75300, 0), P(75300, 0), 1, 3765000000, 0, 1);
    assert_int_equal(lastBar(&s, MDS_DAY)->tradingDay, 20250106);
    /* Tuesday's day: pre-close = Monday's close, open interest carried */
    assert_int_equal(mdsTradingDay(m), 20250107);
    mdsDaily d;
    mdsDailyGet(m, 0, &d);
    assert_int_equal(d.tradingDay, 20250107);
    assert_int_equal(d.preClose, P(3810, 0));
    assert_int_equal(d.volume, 0);
    assert_int_equal(d.open, 0);
    assert_int_equal(d.openInterest, 2);
    assert_int_equal(d.preOpenInterest, 2);
    assert_int_equal(d.dayStartNs, T(MON6, 21, 0, 0, 0));
    trade(m, 0, T(MON6, 21, 5, 0, 0), P(3812, 0), 1, CLOSE, CLOSE);
    mdsBar out[4];
    assert_int_equal(mdsKlines(m, 0, MDS_DAY, 4, out), 2);
    assert_int_equal(out[0].tradingDay, 20250106);
    checkBar(&out[1], T(MON6, 21, 0, 0, 0), T(MON6 + 1, 21, 0, 0, 0), P(3812, 0), P(3812, 0),
             P(3812, 0), P(3812, 0), 1, 11436000000, 2, 1);
    assert_int_equal(out[1].tradingDay, 20250107);
    /* change against the new pre-close: +2.0 / 3810.0 = 0.0524934% -> 525 */
    mdsSnapshot snap;
    assert_int_equal(mdsSnapshotBuild(m, 0, NULL, 0, NULL, 0, T(MON6, 21, 5, 1, 0), &snap), 0);
    assert_int_equal(snap.tradingDay, 20250107);
    assert_int_equal(snap.lastPrice, P(3812, 0));
    assert_int_equal(snap.changeAmount, P(2, 0));
    assert_int_equal(snap.changePercent, 525);
    assert_int_equal(snap.volume, 1);
    assert_int_equal(snap.openInterest, 1);
    /* an instrument that did not trade keeps its pre-close: cu traded Monday */
    mdsDailyGet(m, 1, &d);
    assert_int_equal(d.preClose, P(75300, 0));
    /* a trade stamped Monday afternoon arriving now is late: applied at the clock */
    trade(m, 0, T(MON6, 15, 0, 0, 0), P(3811, 0), 1, OPEN, CLOSE);
    mdsStats st;
    mdsGetStats(m, &st);
    assert_int_equal(st.late, 1);
    assert_int_equal(st.rollovers, 1);
    mdsDailyGet(m, 0, &d);
    assert_int_equal(d.volume, 2);
    assert_int_equal(d.tradingDay, 20250107);
    /* a whole idle weekend: Friday 21:00 rolls to Monday the 13th at once */
    mdsTick(m, T(SAT11, 12, 0, 0, 0));
    assert_int_equal(mdsTradingDay(m), 20250113);
    assert_int_equal(s.ndays, 4);
    mdsDestroy(m);
}

static void test_open_interest_floor(void **state)
{
    (void)state;
    sink s;
    mds *m = create(&s, T(MON6, 9, 0, 0, 0), 0);
    trade(m, 0, T(MON6, 9, 30, 0, 0), P(3800, 0), 3, OPEN, OPEN);          /* 3 */
    trade(m, 0, T(MON6, 9, 30, 1, 0), P(3800, 0), 2, CLOSE, OPEN);         /* 3 */
    trade(m, 0, T(MON6, 9, 30, 2, 0), P(3800, 0), 1, MDS_NO_OFFSET, OPEN); /* 3: unknown */
    trade(m, 0, T(MON6, 9, 30, 3, 0), P(3800, 0), 5, CLOSE, CLOSE);        /* -2 -> 0 */
    mdsDaily d;
    mdsDailyGet(m, 0, &d);
    assert_int_equal(d.openInterest, 0);
    mdsStats st;
    mdsGetStats(m, &st);
    assert_int_equal(st.oiFloored, 1);
    mdsDestroy(m);
}

static void test_history_and_errors(void **state)
{
    (void)state;
    sink s;
    mds *m = create(&s, T(MON6, 9, 0, 0, 0), 2);
    for (int k = 0; k < 4; k++)
        trade(m, 0, T(MON6, 9, 30 + k, 10, 0), P(3800, 2 * k), 1, OPEN, OPEN);
    mdsBar out[8];
    /* two finished kept (09:31, 09:32) plus the current 09:33 */
    assert_int_equal(mdsKlines(m, 0, MDS_1M, 8, out), 3);
    assert_int_equal(out[0].startNs, T(MON6, 9, 31, 0, 0));
    assert_int_equal(out[1].startNs, T(MON6, 9, 32, 0, 0));
    assert_int_equal(out[2].startNs, T(MON6, 9, 33, 0, 0));
    assert_int_equal(out[2].close, P(3800, 6));
    assert_int_equal(mdsKlines(m, 0, MDS_1M, 1, out), 1);
    assert_int_equal(out[0].startNs, T(MON6, 9, 33, 0, 0));
    assert_int_equal(mdsKlines(m, 0, MDS_1M, 2, out), 2);
    assert_int_equal(out[0].startNs, T(MON6, 9, 32, 0, 0));
    assert_int_equal(mdsKlines(m, 0, MDS_1M, 0, out), 0);
    assert_int_equal(mdsKlines(m, 0, MDS_1M, MDS_MAX_HISTORY + 1, out), -1);
    assert_int_equal(mdsKlines(m, 0, (mdsPeriod)1, 1, out), -1);
    assert_int_equal(mdsKlines(m, 2, MDS_1M, 1, out), -1);
    /* bad trades change nothing */
    mdsTrade bad = {.timeNs = T(MON6, 9, 34, 0, 0), .price = P(3800, 0), .qty = 1, .instrument = 2};
    assert_int_equal(mdsOnTrade(m, &bad), -1);
    bad.instrument = 0;
    bad.qty = 0;
    assert_int_equal(mdsOnTrade(m, &bad), -1);
    bad.qty = 1;
    bad.price = 0;
    assert_int_equal(mdsOnTrade(m, &bad), -1);
    mdsStats st;
    mdsGetStats(m, &st);
    assert_int_equal(st.rejected, 3);
    assert_int_equal(st.trades, 4);
    mdsDaily d;
    assert_int_equal(mdsDailyGet(m, 2, &d), -1);
    mdsSnapshot snap;
    assert_int_equal(mdsSnapshotBuild(m, 2, NULL, 0, NULL, 0, 0, &snap), -1);
    mdsDestroy(m);
    mdsOptions o = {.cfg = config(), .history = MDS_MAX_HISTORY + 1};
    assert_null(mdsCreate(&o));
    o.cfg = NULL;
    o.history = 0;
    assert_null(mdsCreate(&o));
    mdsDestroy(NULL);
}

/* ---- snapshots and the wire ---------------------------------------------------------------- */

static mds *scriptSnapshot(sink *s, mdsSnapshot *snap)
{
    mds *m = create(s, T(MON6, 9, 0, 0, 0), 0);
    feedScript(m, s, 0);
    const mdsLevel bids[] = {{P(3797, 8), 3}, {P(3797, 6), 7}};
    const mdsLevel asks[] = {{P(3798, 4), 1}};
    assert_int_equal(mdsSnapshotBuild(m, 0, bids, 2, asks, 1, T(MON6, 9, 33, 21, 0), snap), 0);
    return m;
}

static void test_snapshot(void **state)
{
    (void)state;
    sink s;
    mdsSnapshot snap;
    mds *m = scriptSnapshot(&s, &snap);
    assert_int_equal(snap.instrument, 0);
    assert_int_equal(snap.timestampNs, T(MON6, 9, 33, 21, 0));
    assert_int_equal(snap.tradingDay, 20250106);
    assert_int_equal(snap.lastPrice, P(3798, 0));
    assert_int_equal(snap.preClose, P(3800, 0));
    assert_int_equal(snap.changeAmount, -20000); /* -2.0 */
    assert_int_equal(snap.changePercent, -526);  /* -2.0 / 3800.0 = -0.0526316% */
    assert_int_equal(snap.bid[0].price, P(3797, 8));
    assert_int_equal(snap.bid[0].qty, 3);
    assert_int_equal(snap.bid[1].price, P(3797, 6));
    assert_int_equal(snap.bid[1].qty, 7);
    assert_int_equal(snap.bid[2].price, 0);
    assert_int_equal(snap.ask[0].price, P(3798, 4));
    assert_int_equal(snap.ask[1].qty, 0);
    assert_int_equal(snap.open, P(3800, 0));
    assert_int_equal(snap.high, P(3802, 2));
    assert_int_equal(snap.low, P(3798, 0));
    assert_int_equal(snap.volume, 15);
    assert_int_equal(snap.turnover, 171020400000);
    assert_int_equal(snap.openInterest, 3);
    assert_int_equal(snap.upperLimit, P(4180, 0));
    assert_int_equal(snap.lowerLimit, P(3420, 0));
    /* before any trade: last = pre-close, no change, open/high/low 0 */
    mdsSnapshot cu;
    assert_int_equal(mdsSnapshotBuild(m, 1, NULL, 0, NULL, 0, 1, &cu), 0);
    assert_int_equal(cu.lastPrice, P(75230, 0));
    assert_int_equal(cu.changeAmount, 0);
    assert_int_equal(cu.changePercent, 0);
    assert_int_equal(cu.open, 0);
    assert_int_equal(cu.upperLimit, 812400000);
    mdsDestroy(m);
}

static void test_wire_layouts(void **state)
{
    (void)state;
    sink s;
    mdsSnapshot snap;
    mds *m = scriptSnapshot(&s, &snap);
    uint8_t buf[512];
    assert_int_equal(mdsEncodeSnapshot(buf, "IF2501", &snap), MDS_SNAPSHOT_LEN);
    /* header: type, locate, stock padded with spaces, timestamp */
    assert_int_equal(buf[0], 'M');
    assert_int_equal(buf[1], 0);
    assert_int_equal(buf[2], 0);
    assert_memory_equal(buf + 3, "IF2501  ", 8);
    /* trading day 20250106 = 0x0134FDFA at 19 */
    const uint8_t day[] = {0x01, 0x34, 0xFD, 0xFA};
    assert_memory_equal(buf + 19, day, 4);
    /* last price 37,980,000 = 0x0243_8760 at 23 */
    const uint8_t last[] = {0, 0, 0, 0, 0x02, 0x43, 0x87, 0x60};
    assert_memory_equal(buf + 23, last, 8);
    /* change percent -526 = ...FF FD F2 at 39 */
    const uint8_t pct[] = {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFD, 0xF2};
    assert_memory_equal(buf + 39, pct, 8);
    /* bid 1 quantity 3 at 63; ask 1 price at 135 */
    assert_int_equal(buf[70], 3);
    const uint8_t ask[] = {0, 0, 0, 0, 0x02, 0x43, 0x97, 0x00}; /* 37,984,000 = 0x0243_9700 */
    assert_memory_equal(buf + 135, ask, 8);
    /* lower limit 34,200,000 = 0x0209_D9C0 in the last 8 bytes */
    const uint8_t lower[] = {0, 0, 0, 0, 0x02, 0x09, 0xD9, 0xC0};
    assert_memory_equal(buf + 271, lower, 8);
    mdsWireMsg msg;
    assert_int_equal(mdsDecode(buf, MDS_SNAPSHOT_LEN, &msg), 0);
    assert_int_equal(msg.type, 'M');
    assert_string_equal(msg.stock, "IF2501");
    assert_memory_equal(&msg.u.snapshot, &snap, sizeof snap);
    assert_int_equal(mdsDecode(buf, MDS_SNAPSHOT_LEN - 1, &msg), -1);
    assert_int_equal(mdsDecode(buf, MDS_SNAPSHOT_LEN + 1, &msg), -1);
    assert_int_equal(mdsDecode(buf, 3, &msg), -1);
    buf[0] = 'Z';
    assert_int_equal(mdsDecode(buf, MDS_SNAPSHOT_LEN, &msg), -1);

    mdsBar bars[2];
    assert_int_equal(mdsKlines(m, 0, MDS_1M, 1, bars), 1);
    bars[0].finished = 1;
    assert_int_equal(mdsEncodeKline(buf, 0, "IF2501", 77, &bars[0]), MDS_KLINE_LEN);
    assert_int_equal(buf[0], 'K');
    assert_int_equal(buf[19], MDS_1M);
    assert_int_equal(buf[107], 1); /* trades, last byte */
    assert_int_equal(mdsDecode(buf, MDS_KLINE_LEN, &msg), 0);
    assert_int_equal(msg.timestampNs, 77);
    assert_memory_equal(&msg.u.bar, &bars[0], sizeof bars[0]);

    mdsDaily d;
    mdsDailyGet(m, 0, &d);
    d.dayStartNs = 0; /* not on the wire */
    assert_int_equal(mdsEncodeDaily(buf, 0, "IF2501", 78, &d), MDS_DAILY_LEN);
    assert_int_equal(buf[0], 'Y');
    assert_int_equal(buf[110], 6); /* trades (8 bytes at 103) */
    assert_int_equal(mdsDecode(buf, MDS_DAILY_LEN, &msg), 0);
    assert_memory_equal(&msg.u.daily, &d, sizeof d);
    mdsDestroy(m);
}

typedef struct {
    uint8_t pkts[4][1500];
    uint16_t lens[4];
    int n;
} pktSink;

static void onPacket(void *ctx, const uint8_t *pkt, uint16_t len)
{
    pktSink *s = ctx;
    assert_true(s->n < 4);
    memcpy(s->pkts[s->n], pkt, len);
    s->lens[s->n++] = len;
}

static void test_packer(void **state)
{
    (void)state;
    sink s;
    mdsSnapshot snap;
    mds *m = scriptSnapshot(&s, &snap);
    uint8_t msg[MDS_SNAPSHOT_LEN];
    mdsEncodeSnapshot(msg, "IF2501", &snap);
    pktSink ps = {.n = 0};
    mdsPacker p;
    mdsPackerInit(&p, 20250106, 0, onPacket, &ps);
    mdsPackerFlush(&p); /* nothing pending: nothing sent */
    assert_int_equal(ps.n, 0);
    /* 20 + 5 x (2 + 279) = 1425 bytes; a sixth would make 1706 > 1472 */
    for (int i = 0; i < 6; i++)
        mdsPackerAdd(&p, msg, MDS_SNAPSHOT_LEN);
    assert_int_equal(ps.n, 1);
    mdsPackerFlush(&p);
    assert_int_equal(ps.n, 2);
    assert_int_equal(ps.lens[0], 1425);
    assert_int_equal(ps.lens[1], 301);
    assert_memory_equal(ps.pkts[0], "20250106SM", 10);
    assert_int_equal(ps.pkts[0][17], 1); /* sequence 1 */
    assert_int_equal(ps.pkts[0][19], 5); /* count 5 */
    assert_int_equal(ps.pkts[1][17], 6); /* sequence 6 */
    assert_int_equal(ps.pkts[1][19], 1);
    assert_int_equal(ps.pkts[1][20] << 8 | ps.pkts[1][21], MDS_SNAPSHOT_LEN);
    mdsWireMsg w;
    assert_int_equal(mdsDecode(ps.pkts[1] + 22, MDS_SNAPSHOT_LEN, &w), 0);
    assert_int_equal(w.u.snapshot.volume, 15);
    mdsDestroy(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trading_day),
        cmocka_unit_test(test_period_names),
        cmocka_unit_test(test_change_percent),
        cmocka_unit_test(test_bars_boundaries),
        cmocka_unit_test(test_bars_clock),
        cmocka_unit_test(test_rollover),
        cmocka_unit_test(test_open_interest_floor),
        cmocka_unit_test(test_history_and_errors),
        cmocka_unit_test(test_snapshot),
        cmocka_unit_test(test_wire_layouts),
        cmocka_unit_test(test_packer),
    };
    return cmocka_run_group_tests_name("mdsummary", tests, NULL, NULL) ? 1 : 0;
}
