/* position.h -- one account's position in one instrument: lots by side and day, costs, margin.
 *
 * A futures position as the reference system keeps it (QA_Position,
 * reference/qaexchange-notes-1.md): long and short held at the same time,
 * each split into today's lots and yesterday's (his) lots, with lots frozen
 * by pending close orders. Costs are kept as money totals, never as average
 * prices, so no rounding ever creates or destroys money (docs/accounts.md):
 *   open cost     = sum of price x lots x multiplier at the fill prices
 *                   (open_price = open cost / (lots x multiplier));
 *   position cost = the same, reset to the settlement price every day
 *                   (position_price; daily mark to market).
 * Closing k of n lots of a bucket removes cost x k / n (rounded down; the
 * last lot takes the remainder), so realised + unrealised P&L always adds up
 * to exactly what the fills paid. Plain C, no allocation, no floating point:
 * used by the control core's accounts and by the workers' position keeper. */
#ifndef XCHG_CONTROL_POSITION_H
#define XCHG_CONTROL_POSITION_H

#include <stdint.h>

#include "config/config.h"

#define POS_LONG  0
#define POS_SHORT 1

/* Offsets (the values of xoeOffset). */
#define POS_OPEN            0
#define POS_CLOSE           1
#define POS_CLOSE_TODAY     2
#define POS_CLOSE_YESTERDAY 3

#define POS_ERR_INSUFFICIENT 2005 /* not enough free lots to close */

typedef struct {
    uint32_t today, yd;                /* lots held (volume_*_today, volume_*_his) */
    uint32_t frozenToday, frozenYd;    /* of which reserved by pending closes */
    int64_t openCostToday, openCostYd; /* 1e-4 money at the open prices */
    int64_t posCostToday, posCostYd;   /* 1e-4 money at the position prices */
    int64_t marginToday, marginYd;     /* margin used, 1e-4 money */
} posSide;

typedef struct {
    posSide side[2]; /* POS_LONG, POS_SHORT */
} posPosition;

/* What a close removed from a side. */
typedef struct {
    int64_t openCost, posCost, margin;
} posClosed;

/* The side a close order closes: BUY closes shorts, SELL closes longs. */
static inline int posCloseSide(uint8_t orderSide)
{
    return orderSide == 0 ? POS_SHORT : POS_LONG;
}

/* 1 when a close order's fills take today's lots before yesterday's:
 * CLOSETODAY, or CLOSE under the today_first rule. */
int posTodayFirst(cfgCloseRule rule, uint8_t offset);

/* Reserves qty free lots of s for a close order with this offset under the
 * close rule (docs/config.md "Close rules"): CLOSE by the rule, CLOSETODAY
 * only today's lots, CLOSEYESTERDAY only yesterday's. Sets how many came from
 * each day. Returns 0, or POS_ERR_INSUFFICIENT (2005, nothing changed) when
 * the lots are not there, or 1008 for an offset that is not a close. */
int posFreezeClose(posSide *s, cfgCloseRule rule, uint8_t offset, uint32_t qty, uint32_t *fromToday,
                   uint32_t *fromYd);

/* Changes the lots a pending close order reserves (*ordToday + *ordYd) to
 * newLeaves: more are reserved as posFreezeClose would (2005, nothing
 * changed, when they are not there); fewer are released from the day its
 * fills would take last. Returns 0 or 2005. */
int posResizeClose(posSide *s, cfgCloseRule rule, uint8_t offset, uint32_t *ordToday,
                   uint32_t *ordYd, uint32_t newLeaves);

/* Releases lots a close order had reserved (cancel, expiry). The counts
 * must not exceed what is frozen (checked; extra is ignored). */
void posUnfreeze(posSide *s, uint32_t today, uint32_t yd);

/* Adds qty lots opened today at `cost` (price x qty x multiplier) with
 * `margin` used. */
void posOpen(posSide *s, uint32_t qty, int64_t cost, int64_t margin);

/* Removes frozen lots a close order filled: `today` lots from today's
 * bucket and `yd` from yesterday's (each at most what is frozen there).
 * Adds the removed costs and margin to *out (not zeroed here). Returns 0,
 * or -1 when the lots are not frozen (nothing changed). */
int posClose(posSide *s, uint32_t today, uint32_t yd, posClosed *out);

/* Daily roll: today's lots become yesterday's; the position cost is reset
 * to settlePrice x lots x multiplier and margin to `margin` (computed by the
 * caller at the settlement price). Returns the position profit the reset
 * realised (mark to market at the settlement price; signed for the side). */
int64_t posSettle(posSide *s, int sideIndex, int64_t settlePrice, uint32_t multiplier,
                  int64_t margin);

/* Lots held on the side (today + yd). */
static inline uint32_t posLots(const posSide *s)
{
    return s->today + s->yd;
}

/* Profit of the side marked at `price` against the position cost
 * (position_profit) or the open cost (float_profit). */
int64_t posProfit(const posSide *s, int sideIndex, int64_t price, uint32_t multiplier);
int64_t posFloatProfit(const posSide *s, int sideIndex, int64_t price, uint32_t multiplier);

/* 1 when the position holds or reserves nothing. */
int posEmpty(const posPosition *p);

#endif
