/* settle.c -- daily settlement: prices, mark to market, margin at settlement, roll, history. */
#include <stdlib.h>
#include <string.h>

#include "control/acct_int.h"

int settleSetPrice(acctBook *b, uint16_t i, int64_t price)
{
    if (i >= b->nIns || b->ins[i].status == INST_DELISTED)
        return ACCT_ERR_NO_INSTRUMENT;
    const cfgInstrument *s = &b->ins[i].spec;
    int64_t lo, hi;
    /* the next day's band must exist around it */
    if (price <= 0 || price % s->tickSize != 0 ||
        cfgLimitBand(price, s->tickSize, s->limitUp, s->limitDown, &lo, &hi) != 0)
        return ACCT_ERR_PARAMS;
    b->ins[i].settlePrice = price;
    return 0;
}

int64_t settlePrice(const acctBook *b, uint16_t i)
{
    return i < b->nIns ? b->ins[i].settlePrice : 0;
}

/* The first instrument with open interest and no price, or -1. */
static int settleMissing(const acctBook *b)
{
    for (uint32_t k = 0; k < b->nPos; k++) {
        const acctPosSlot *ps = &b->pos[k];
        if ((posLots(&ps->p.side[0]) || posLots(&ps->p.side[1])) &&
            b->ins[ps->instrument].settlePrice == 0)
            return ps->instrument;
    }
    return -1;
}

/* Marks one account at the settlement prices and starts its next day. */
static void settleAccountRun(acctBook *b, acctAccount *a, uint32_t date, settleAccount *d)
{
    int64_t pp = 0, margin = 0;
    for (uint32_t s = a->firstPos; s != ACCT_NONE; s = b->pos[s].next) {
        acctPosSlot *ps = &b->pos[s];
        const acctInstrument *in = &b->ins[ps->instrument];
        for (int k = 0; k < 2; k++) {
            posSide *side = &ps->p.side[k];
            if (!posLots(side) && !side->frozenToday) {
                side->openCostToday = side->openCostYd = 0;
                continue;
            }
            const int64_t m = acctMargin(&in->spec, in->settlePrice, posLots(side));
            pp += posSettle(side, k, in->settlePrice, in->spec.multiplier, m);
            margin += m;
        }
    }
    d->account = a->id;
    d->date = date;
    d->preBalance = a->preBalance;
    d->deposit = a->deposit;
    d->withdraw = a->withdraw;
    d->closeProfit = a->closeProfit;
    d->positionProfit = pp;
    d->commission = a->commission;
    d->balance = a->preBalance + a->deposit - a->withdraw + a->closeProfit - a->commission + pp;
    d->margin = margin;
    a->preBalance = d->balance;
    a->deposit = a->withdraw = a->closeProfit = a->commission = 0;
    a->margin = margin;
    d->riskRatio = acctRiskRatio(margin, d->balance);
    d->forceClose = margin > 0 && d->riskRatio >= (int64_t)b->lim.liquidationRatio;
}

/* Keeps live orders only (their today-frozen lots are yesterday's now). */
static int settleCompactOrders(acctBook *b)
{
    uint32_t n = 0;
    acctMapFree(&b->ordMap);
    for (uint32_t i = 0; i < b->nOrd; i++) {
        acctOrder o = b->ord[i];
        if (o.status >= ACCT_ORDER_FILLED)
            continue;
        o.frozenYd += o.frozenToday;
        o.frozenToday = 0;
        b->ord[n] = o;
        if (acctMapPut(&b->ordMap, o.orderId, n))
            return -1;
        n++;
    }
    b->nOrd = n;
    b->nTrd = 0;
    return 0;
}

/* Settlement prices become the next day's reference prices and bands. */
static void settleRollInstruments(acctBook *b)
{
    for (uint32_t i = 0; i < b->nIns; i++) {
        cfgInstrument *s = &b->ins[i].spec;
        const int64_t p = b->ins[i].settlePrice;
        if (!p)
            continue;
        int64_t lo, hi;
        if (cfgLimitBand(p, s->tickSize, s->limitUp, s->limitDown, &lo, &hi) == 0) {
            s->preSettlement = p;
            s->preSettlementTicks = p / s->tickSize;
            s->lowerTicks = lo;
            s->upperTicks = hi;
        }
        b->ins[i].lastPrice = p;
        b->ins[i].settlePrice = 0;
    }
}

int settleCheck(const acctBook *b, uint32_t date, int *missing)
{
    if (b->nHist && date <= b->hist[b->nHist - 1].date)
        return ACCT_ERR_SETTLED;
    const int miss = settleMissing(b);
    if (miss >= 0) {
        if (missing)
            *missing = miss;
        return ACCT_ERR_PRICE_MISSING;
    }
    return 0;
}

int settleRun(acctBook *b, uint32_t date, uint64_t nowNs, int *missing)
{
    (void)nowNs;
    const int rc = settleCheck(b, date, missing);
    if (rc)
        return rc;
    if (acctGrow((void **)&b->hist, &b->capHist, b->nHist + 1, sizeof *b->hist) ||
        acctGrow((void **)&b->detail, &b->capDetail, b->nDetail + b->nAcc + 1, sizeof *b->detail))
        return 5000;
    settleResult r = {.date = date, .totalAccounts = b->nAcc, .firstDetail = b->nDetail};
    /* every instrument with a price is marked there first: lastPrice is
     * what the accounts' figures use */
    for (uint32_t i = 0; i < b->nIns; i++)
        if (b->ins[i].settlePrice)
            b->ins[i].lastPrice = b->ins[i].settlePrice;
    for (uint32_t i = 0; i < b->nAcc; i++) {
        settleAccount *d = &b->detail[b->nDetail++];
        settleAccountRun(b, &b->acc[i], date, d);
        r.settledAccounts++;
        r.forceClosed += d->forceClose;
        r.totalCommission += d->commission;
        r.totalProfit += d->closeProfit + d->positionProfit;
    }
    settleRollInstruments(b);
    if (settleCompactOrders(b))
        return 5000;
    b->hist[b->nHist++] = r;
    return 0;
}

uint32_t settleCount(const acctBook *b)
{
    return b->nHist;
}

const settleResult *settleAt(const acctBook *b, uint32_t i)
{
    return i < b->nHist ? &b->hist[i] : NULL;
}

const settleResult *settleFind(const acctBook *b, uint32_t date)
{
    for (uint32_t i = 0; i < b->nHist; i++)
        if (b->hist[i].date == date)
            return &b->hist[i];
    return NULL;
}

const settleAccount *settleDetailAt(const acctBook *b, uint32_t i)
{
    return i < b->nDetail ? &b->detail[i] : NULL;
}
