/* position.c -- position arithmetic: close rules, frozen lots, exact cost removal, daily roll. */
#include "control/position.h"

int posTodayFirst(cfgCloseRule rule, uint8_t offset)
{
    return offset == POS_CLOSE_TODAY || (offset == POS_CLOSE && rule == CFG_CLOSE_TODAY_FIRST);
}

int posFreezeClose(posSide *s, cfgCloseRule rule, uint8_t offset, uint32_t qty, uint32_t *fromToday,
                   uint32_t *fromYd)
{
    const uint32_t freeToday = s->today - s->frozenToday;
    const uint32_t freeYd = s->yd - s->frozenYd;
    uint32_t t = 0, y = 0;
    if (offset == POS_CLOSE_TODAY || (offset == POS_CLOSE && rule == CFG_CLOSE_TODAY_FIRST)) {
        t = qty < freeToday ? qty : freeToday;
        if (offset == POS_CLOSE)
            y = qty - t;
    } else if (offset == POS_CLOSE_YESTERDAY || (offset == POS_CLOSE && rule == CFG_CLOSE_SPLIT)) {
        y = qty;
    } else if (offset == POS_CLOSE) { /* yesterday_first */
        y = qty < freeYd ? qty : freeYd;
        t = qty - y;
    } else {
        return 1008;
    }
    if (t > freeToday || y > freeYd || t + y != qty)
        return POS_ERR_INSUFFICIENT;
    s->frozenToday += t;
    s->frozenYd += y;
    *fromToday = t;
    *fromYd = y;
    return 0;
}

int posResizeClose(posSide *s, cfgCloseRule rule, uint8_t offset, uint32_t *ordToday,
                   uint32_t *ordYd, uint32_t newLeaves)
{
    const uint32_t cur = *ordToday + *ordYd;
    if (newLeaves > cur) {
        uint32_t t, y;
        int rc = posFreezeClose(s, rule, offset, newLeaves - cur, &t, &y);
        if (rc)
            return rc;
        *ordToday += t;
        *ordYd += y;
        return 0;
    }
    uint32_t cut = cur - newLeaves;
    uint32_t *first = posTodayFirst(rule, offset) ? ordYd : ordToday; /* taken last */
    uint32_t *second = first == ordYd ? ordToday : ordYd;
    const uint32_t a = cut < *first ? cut : *first;
    const uint32_t c = cut - a;
    *first -= a;
    *second -= c;
    if (first == ordYd)
        posUnfreeze(s, c, a);
    else
        posUnfreeze(s, a, c);
    return 0;
}

void posUnfreeze(posSide *s, uint32_t today, uint32_t yd)
{
    s->frozenToday -= today < s->frozenToday ? today : s->frozenToday;
    s->frozenYd -= yd < s->frozenYd ? yd : s->frozenYd;
}

void posOpen(posSide *s, uint32_t qty, int64_t cost, int64_t margin)
{
    s->today += qty;
    s->openCostToday += cost;
    s->posCostToday += cost;
    s->marginToday += margin;
}

/* cost x k / n, rounded down; the whole of it when k == n. */
static int64_t posShare(int64_t cost, uint32_t k, uint32_t n)
{
    if (k == n)
        return cost;
    __int128 p = (__int128)cost * k;
    /* floor for negative costs too (a short's cost is never negative, but
     * a cost can be after exotic prices; keep the rounding one-sided) */
    int64_t q = (int64_t)(p / n);
    if (p % n < 0)
        q--;
    return q;
}

static void posTake(uint32_t *lots, uint32_t *frozen, int64_t *openCost, int64_t *posCost,
                    int64_t *margin, uint32_t k, posClosed *out)
{
    if (k == 0)
        return;
    int64_t oc = posShare(*openCost, k, *lots);
    int64_t pc = posShare(*posCost, k, *lots);
    int64_t m = posShare(*margin, k, *lots);
    *openCost -= oc;
    *posCost -= pc;
    *margin -= m;
    *lots -= k;
    *frozen -= k;
    out->openCost += oc;
    out->posCost += pc;
    out->margin += m;
}

int posClose(posSide *s, uint32_t today, uint32_t yd, posClosed *out)
{
    if (today > s->frozenToday || yd > s->frozenYd)
        return -1;
    posTake(&s->today, &s->frozenToday, &s->openCostToday, &s->posCostToday, &s->marginToday, today,
            out);
    posTake(&s->yd, &s->frozenYd, &s->openCostYd, &s->posCostYd, &s->marginYd, yd, out);
    return 0;
}

int64_t posProfit(const posSide *s, int sideIndex, int64_t price, uint32_t multiplier)
{
    const int64_t value = price * (int64_t)posLots(s) * (int64_t)multiplier;
    const int64_t cost = s->posCostToday + s->posCostYd;
    return sideIndex == POS_LONG ? value - cost : cost - value;
}

int64_t posFloatProfit(const posSide *s, int sideIndex, int64_t price, uint32_t multiplier)
{
    const int64_t value = price * (int64_t)posLots(s) * (int64_t)multiplier;
    const int64_t cost = s->openCostToday + s->openCostYd;
    return sideIndex == POS_LONG ? value - cost : cost - value;
}

int64_t posSettle(posSide *s, int sideIndex, int64_t settlePrice, uint32_t multiplier,
                  int64_t margin)
{
    const int64_t profit = posProfit(s, sideIndex, settlePrice, multiplier);
    s->yd += s->today;
    s->frozenYd += s->frozenToday;
    s->openCostYd += s->openCostToday;
    s->today = s->frozenToday = 0;
    s->openCostToday = s->posCostToday = s->marginToday = 0;
    s->posCostYd = settlePrice * (int64_t)s->yd * (int64_t)multiplier;
    s->marginYd = margin;
    return profit;
}

int posEmpty(const posPosition *p)
{
    for (int i = 0; i < 2; i++)
        if (posLots(&p->side[i]) || p->side[i].frozenToday || p->side[i].frozenYd)
            return 0;
    return 1;
}
