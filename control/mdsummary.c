/* mdsummary.c -- summary market data aggregator: daily statistics, open interest, K-lines,
 * snapshots.
 *
 * Per instrument: the day's statistics, the open interest derived from the
 * offsets of the two orders of each fill, and per period the bar being built
 * plus a ring of the last `history` finished bars. Bars exist only for
 * periods that had trades (no empty bars). The clock only moves forward; a
 * trade older than what was already finished is applied at the clock and
 * counted as late, so published bars never change. All arithmetic is
 * integer (docs/market-data.md). */
#include <stdlib.h>
#include <string.h>

#include "control/mdsummary.h"

/* Series index order: shortest period first, the day last. */
static const mdsPeriod mdsOrder[MDS_PERIODS] = {MDS_3S,  MDS_1M,  MDS_5M, MDS_15M,
                                                MDS_30M, MDS_60M, MDS_DAY};

typedef struct {
    mdsBar cur;         /* valid when active */
    uint8_t active;     /* a bar is being built */
    uint64_t closedEnd; /* end of the last finished bar, 0 = none */
    uint32_t head;      /* next ring slot to write */
    uint32_t kept;      /* finished bars in the ring */
    mdsBar *ring;       /* history slots */
} mdsSeries;

typedef struct {
    mdsDaily day;
    int64_t multiplier;
    mdsSeries series[MDS_PERIODS];
} mdsInstr;

struct mds {
    const cfgConfig *cfg;
    mdsInstr *ins;
    mdsBar *bars;
    uint32_t n, history;
    uint32_t cap; /* entries of ins (the config's instrument capacity): instrument.add */
    int32_t dayStart, utcOffset;
    uint64_t now, dayStartNs, dayEndNs;
    uint64_t nextDueNs; /* earliest end of an open bar: nothing to finish before it */
    uint32_t tradingDay;
    mdsBarFn *onBar;
    mdsDailyFn *onDaily;
    void *ctx;
    mdsStats stats;
};

/* ---- calendar ------------------------------------------------------------------ */

/* Days since 1970-01-01 to YYYYMMDD (proleptic Gregorian; H. Hinnant's
 * civil_from_days). */
static uint32_t mdsCivil(int64_t z)
{
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const int64_t doe = z - era * 146097;
    const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const int64_t mp = (5 * doy + 2) / 153;
    const int64_t d = doy - (153 * mp + 2) / 5 + 1;
    const int64_t mo = mp < 10 ? mp + 3 : mp - 9;
    const int64_t y = yoe + era * 400 + (mo <= 2);
    return (uint32_t)(y * 10000 + mo * 100 + d);
}

static int64_t mdsFloorDiv(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

uint32_t mdsTradingDayOf(uint64_t ns, int32_t dayStart, int32_t utcOffset, uint64_t *startNs)
{
    const int64_t day = (int64_t)MDS_DAY_NS;
    const int64_t shift = dayStart > 0 ? (int64_t)(86400 - dayStart) * (int64_t)MDS_SECOND_NS : 0;
    const int64_t offset = (int64_t)utcOffset * (int64_t)MDS_SECOND_NS;
    int64_t c = mdsFloorDiv((int64_t)ns + offset + shift, day);
    int64_t wd = ((c + 4) % 7 + 7) % 7; /* 1970-01-01 was a Thursday; 0 = Sunday */
    if (wd == 6)
        c += 2, wd = 1;
    else if (wd == 0)
        c += 1, wd = 1;
    /* Saturday and Sunday belong to Monday: its first instant is Saturday's */
    const int64_t first = wd == 1 ? c - 2 : c;
    if (startNs)
        *startNs = (uint64_t)(first * day - shift - offset);
    return mdsCivil(c);
}

/* Start of the trading day after the one that starts at startNs. */
static uint64_t mdsNextDayStart(const mds *m, uint64_t startNs)
{
    const uint32_t d = mdsTradingDayOf(startNs, m->dayStart, m->utcOffset, NULL);
    uint64_t next = startNs + MDS_DAY_NS;
    for (int k = 0; k < 3 && mdsTradingDayOf(next, m->dayStart, m->utcOffset, NULL) == d; k++)
        next += MDS_DAY_NS;
    return next;
}

/* ---- periods ----------------------------------------------------------------------- */

uint64_t mdsPeriodNs(mdsPeriod p)
{
    switch (p) {
    case MDS_3S:
        return 3 * MDS_SECOND_NS;
    case MDS_1M:
        return 60 * MDS_SECOND_NS;
    case MDS_5M:
        return 300 * MDS_SECOND_NS;
    case MDS_15M:
        return 900 * MDS_SECOND_NS;
    case MDS_30M:
        return 1800 * MDS_SECOND_NS;
    case MDS_60M:
        return 3600 * MDS_SECOND_NS;
    default:
        return 0;
    }
}

static int mdsPeriodIndex(mdsPeriod p)
{
    for (int i = 0; i < MDS_PERIODS; i++)
        if (mdsOrder[i] == p)
            return i;
    return -1;
}

const char *mdsPeriodName(mdsPeriod p)
{
    static const char *const names[] = {"3s", "1m", "5m", "15m", "30m", "60m", "day"};
    int i = mdsPeriodIndex(p);
    return i < 0 ? "?" : names[i];
}

int mdsPeriodParse(const char *s, mdsPeriod *out)
{
    static const struct {
        const char *name;
        mdsPeriod p;
    } names[] = {{"3s", MDS_3S},     {"1m", MDS_1M},   {"1min", MDS_1M},   {"5m", MDS_5M},
                 {"5min", MDS_5M},   {"15m", MDS_15M}, {"15min", MDS_15M}, {"30m", MDS_30M},
                 {"30min", MDS_30M}, {"60m", MDS_60M}, {"60min", MDS_60M}, {"1h", MDS_60M},
                 {"day", MDS_DAY},   {"1d", MDS_DAY},  {"0", MDS_DAY},     {"3", MDS_3S},
                 {"4", MDS_1M},      {"5", MDS_5M},    {"6", MDS_15M},     {"7", MDS_30M},
                 {"8", MDS_60M}};
    for (size_t i = 0; s && i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(s, names[i].name) == 0) {
            *out = names[i].p;
            return 0;
        }
    }
    return -1;
}

int64_t mdsChangePercent(int64_t change, int64_t base)
{
    if (base <= 0)
        return 0;
    const int64_t mag = change < 0 ? -change : change;
    const int64_t q = (mag * 2000000 + base) / (2 * base); /* half away from zero */
    return change < 0 ? -q : q;
}

/* ---- life ---------------------------------------------------------------------------- */

static void mdsStartDay(mds *m, uint64_t nowNs)
{
    m->tradingDay = mdsTradingDayOf(nowNs, m->dayStart, m->utcOffset, &m->dayStartNs);
    m->dayEndNs = mdsNextDayStart(m, m->dayStartNs);
}

static void mdsResetDaily(mds *m, mdsInstr *in)
{
    mdsDaily *d = &in->day;
    const int64_t preClose = d->trades ? d->close : d->preClose;
    const int64_t oi = d->openInterest;
    const int64_t upper = d->upperLimit, lower = d->lowerLimit;
    memset(d, 0, sizeof *d);
    d->tradingDay = m->tradingDay;
    d->dayStartNs = m->dayStartNs;
    d->preClose = preClose;
    d->openInterest = d->preOpenInterest = oi;
    d->upperLimit = upper;
    d->lowerLimit = lower;
}

/* Sets instrument i (< cap) up from the config: a fresh day. */
static void mdsInitInstrument(mds *m, uint32_t i)
{
    const cfgInstrument *ci = &m->cfg->instruments[i];
    mdsInstr *in = &m->ins[i];
    in->multiplier = ci->multiplier;
    in->day.preClose = ci->preClose ? ci->preClose : ci->preSettlement;
    in->day.upperLimit = ci->upperTicks * ci->tickSize;
    in->day.lowerLimit = ci->lowerTicks * ci->tickSize;
    mdsResetDaily(m, in);
    for (int p = 0; p < MDS_PERIODS; p++)
        in->series[p].ring = &m->bars[((size_t)i * MDS_PERIODS + (size_t)p) * m->history];
}

uint32_t mdsSync(mds *m)
{
    const uint32_t n = __atomic_load_n(&m->cfg->instrumentCount, __ATOMIC_ACQUIRE);
    uint32_t added = 0;
    for (; m->n < n && m->n < m->cap; m->n++, added++)
        mdsInitInstrument(m, m->n);
    return added;
}

mds *mdsCreate(const mdsOptions *opt)
{
    if (!opt || !opt->cfg || opt->history > MDS_MAX_HISTORY || opt->cfg->instrumentCount == 0)
        return NULL;
    const cfgConfig *cfg = opt->cfg;
    mds *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->cfg = cfg;
    m->n = cfg->instrumentCount;
    m->history = opt->history ? opt->history : cfg->marketData.klineHistory;
    if (m->history == 0)
        m->history = MDS_MAX_HISTORY;
    m->dayStart = cfg->marketData.tradingDayStart;
    m->utcOffset = cfg->marketData.utcOffset;
    m->onBar = opt->onBar;
    m->onDaily = opt->onDaily;
    m->ctx = opt->ctx;
    m->cap = cfg->instrumentCapacity > m->n ? cfg->instrumentCapacity : m->n;
    m->ins = calloc(m->cap, sizeof *m->ins);
    m->bars = calloc((size_t)m->cap * MDS_PERIODS * m->history, sizeof *m->bars);
    if (!m->ins || !m->bars) {
        mdsDestroy(m);
        return NULL;
    }
    m->now = opt->nowNs;
    m->nextDueNs = UINT64_MAX;
    mdsStartDay(m, opt->nowNs);
    for (uint32_t i = 0; i < m->n; i++)
        mdsInitInstrument(m, i);
    return m;
}

void mdsDestroy(mds *m)
{
    if (!m)
        return;
    free(m->ins);
    free(m->bars);
    free(m);
}

/* ---- the clock ------------------------------------------------------------------------ */

static void mdsFinish(mds *m, uint16_t instrument, mdsSeries *s)
{
    s->cur.finished = 1;
    s->ring[s->head] = s->cur;
    s->head = (s->head + 1) % m->history;
    if (s->kept < m->history)
        s->kept++;
    s->closedEnd = s->cur.endNs;
    s->active = 0;
    m->stats.barsFinished++;
    if (m->onBar)
        m->onBar(m->ctx, instrument, &s->cur);
}

/* Finishes the bars that ended by nowNs; recomputes nextDueNs. The scan
 * runs only when a bar is due, so a fill costs O(1) between bar ends
 * whatever the number of instruments. */
static void mdsFinishDue(mds *m, uint64_t nowNs)
{
    uint64_t next = UINT64_MAX;
    for (uint32_t i = 0; i < m->n; i++)
        for (int p = 0; p < MDS_PERIODS; p++) {
            mdsSeries *s = &m->ins[i].series[p];
            if (s->active && s->cur.endNs <= nowNs)
                mdsFinish(m, (uint16_t)i, s);
            else if (s->active && s->cur.endNs < next)
                next = s->cur.endNs;
        }
    m->nextDueNs = next;
}

static void mdsAdvance(mds *m, uint64_t nowNs)
{
    if (nowNs < m->now)
        return;
    m->now = nowNs;
    if (nowNs >= m->nextDueNs)
        mdsFinishDue(m, nowNs);
    if (nowNs < m->dayEndNs)
        return;
    for (uint32_t i = 0; i < m->n; i++) {
        mdsDaily *d = &m->ins[i].day;
        if (m->onDaily)
            m->onDaily(m->ctx, (uint16_t)i, d);
    }
    m->stats.rollovers++;
    mdsStartDay(m, nowNs);
    for (uint32_t i = 0; i < m->n; i++)
        mdsResetDaily(m, &m->ins[i]);
}

void mdsTick(mds *m, uint64_t nowNs)
{
    mdsAdvance(m, nowNs);
}

/* ---- trades ------------------------------------------------------------------------------ */

/* Open interest change of a fill: two opening orders create qty contracts,
 * two closing orders remove them, an open against a close transfers them. */
static int64_t mdsOiDelta(const mdsTrade *t)
{
    const int open0 = t->offset[0] == 0, open1 = t->offset[1] == 0;
    const int close0 = t->offset[0] >= 1 && t->offset[0] <= 3;
    const int close1 = t->offset[1] >= 1 && t->offset[1] <= 3;
    if (open0 && open1)
        return (int64_t)t->qty;
    if (close0 && close1)
        return -(int64_t)t->qty;
    return 0;
}

static void mdsBarSpan(const mds *m, int p, uint64_t ts, mdsBar *b)
{
    const uint64_t len = mdsPeriodNs(mdsOrder[p]);
    if (len == 0) {
        b->startNs = m->dayStartNs;
        b->endNs = m->dayEndNs;
        return;
    }
    const int64_t off = (int64_t)m->utcOffset * (int64_t)MDS_SECOND_NS;
    const int64_t local = (int64_t)ts + off;
    uint64_t start = (uint64_t)(mdsFloorDiv(local, (int64_t)len) * (int64_t)len - off);
    uint64_t end = start + len;
    /* a bar never spans two trading days */
    b->startNs = start < m->dayStartNs ? m->dayStartNs : start;
    b->endNs = end > m->dayEndNs ? m->dayEndNs : end;
}

static void mdsBarAdd(mds *m, mdsSeries *s, int p, uint64_t ts, int64_t price, uint32_t qty,
                      int64_t amount, int64_t oiBefore, int64_t oiAfter)
{
    mdsBar *b = &s->cur;
    if (!s->active) {
        memset(b, 0, sizeof *b);
        mdsBarSpan(m, p, ts, b);
        if (b->endNs < m->nextDueNs)
            m->nextDueNs = b->endNs;
        b->tradingDay = m->tradingDay;
        b->period = (uint8_t)mdsOrder[p];
        b->open = b->high = b->low = price;
        b->openOi = oiBefore;
        s->active = 1;
    }
    if (price > b->high)
        b->high = price;
    if (price < b->low)
        b->low = price;
    b->close = price;
    b->volume += qty;
    b->amount += amount;
    b->closeOi = oiAfter;
    b->trades++;
}

int mdsOnTrade(mds *m, const mdsTrade *t)
{
    if (t->instrument >= m->n || t->qty == 0 || t->price <= 0) {
        m->stats.rejected++;
        return -1;
    }
    mdsAdvance(m, t->timeNs);
    mdsInstr *in = &m->ins[t->instrument];
    mdsDaily *d = &in->day;
    /* a trade older than the clock's trading day or a finished bar is
     * applied at the clock: what was published stays as it was */
    uint64_t ts = t->timeNs;
    int late = ts < m->dayStartNs;
    for (int p = 0; p < MDS_PERIODS && !late; p++) {
        const mdsSeries *s = &in->series[p];
        late = s->active ? ts < s->cur.startNs : ts < s->closedEnd;
    }
    if (late) {
        m->stats.late++;
        ts = m->now;
    }
    const int64_t amount = t->price * (int64_t)t->qty * in->multiplier;
    const int64_t oiBefore = d->openInterest;
    int64_t oi = oiBefore + mdsOiDelta(t);
    if (oi < 0) {
        m->stats.oiFloored++;
        oi = 0;
    }
    if (d->trades == 0)
        d->open = d->high = d->low = t->price;
    if (t->price > d->high)
        d->high = t->price;
    if (t->price < d->low)
        d->low = t->price;
    d->close = t->price;
    d->volume += t->qty;
    d->turnover += amount;
    d->trades++;
    d->openInterest = oi;
    d->vwap = d->turnover / ((int64_t)d->volume * in->multiplier);
    for (int p = 0; p < MDS_PERIODS; p++)
        mdsBarAdd(m, &in->series[p], p, ts, t->price, t->qty, amount, oiBefore, oi);
    m->stats.trades++;
    return 0;
}

/* ---- queries ------------------------------------------------------------------------------- */

int mdsSnapshotBuild(const mds *m, uint16_t instrument, const mdsLevel *bids, uint32_t nbid,
                     const mdsLevel *asks, uint32_t nask, uint64_t nowNs, mdsSnapshot *out)
{
    if (instrument >= m->n)
        return -1;
    const mdsDaily *d = &m->ins[instrument].day;
    memset(out, 0, sizeof *out);
    out->instrument = instrument;
    out->timestampNs = nowNs;
    out->tradingDay = d->tradingDay;
    out->preClose = d->preClose;
    out->lastPrice = d->trades ? d->close : d->preClose;
    out->changeAmount = out->lastPrice - d->preClose;
    out->changePercent = mdsChangePercent(out->changeAmount, d->preClose);
    for (uint32_t i = 0; i < MDS_LEVELS; i++) {
        if (i < nbid)
            out->bid[i] = bids[i];
        if (i < nask)
            out->ask[i] = asks[i];
    }
    out->open = d->open;
    out->high = d->high;
    out->low = d->low;
    out->volume = d->volume;
    out->turnover = d->turnover;
    out->openInterest = d->openInterest;
    out->upperLimit = d->upperLimit;
    out->lowerLimit = d->lowerLimit;
    return 0;
}

int mdsKlines(const mds *m, uint16_t instrument, mdsPeriod period, uint32_t count, mdsBar *out)
{
    const int p = mdsPeriodIndex(period);
    if (instrument >= m->n || p < 0 || count > MDS_MAX_HISTORY)
        return -1;
    const mdsSeries *s = &m->ins[instrument].series[p];
    const uint32_t cur = s->active && count > 0;
    uint32_t fromRing = count - cur;
    if (fromRing > s->kept)
        fromRing = s->kept;
    uint32_t n = 0;
    for (uint32_t k = fromRing; k > 0; k--)
        out[n++] = s->ring[(s->head + m->history - k) % m->history];
    if (cur)
        out[n++] = s->cur;
    return (int)n;
}

int mdsDailyGet(const mds *m, uint16_t instrument, mdsDaily *out)
{
    if (instrument >= m->n)
        return -1;
    *out = m->ins[instrument].day;
    return 0;
}

uint32_t mdsTradingDay(const mds *m)
{
    return m->tradingDay;
}

uint64_t mdsNow(const mds *m)
{
    return m->now;
}

void mdsGetStats(const mds *m, mdsStats *out)
{
    *out = m->stats;
}
