/* account.c -- accounts, orders, fills and risk of the control core, in integer money.
 *
 * Accounts, positions and orders live in growable arrays indexed through
 * open-addressing maps. An open order freezes margin and commission at its
 * price; each fill releases the frozen share of the filled lots (share =
 * frozen x lots / leaves, rounded down, the last lots take the remainder) so
 * an order that ends, by fills or cancel, has released exactly what it froze
 * whatever the fill prices. docs/accounts.md explains every formula. */
#include <stdlib.h>
#include <string.h>

#include "control/acct_int.h"

/* ---- maps and arrays ---------------------------------------------------------- */

static uint64_t acctHash(uint64_t k)
{
    k ^= k >> 33;
    k *= UINT64_C(0xff51afd7ed558ccd);
    k ^= k >> 33;
    return k;
}

static int acctMapResize(acctMap *m, uint32_t cap)
{
    acctMap n = {malloc(sizeof(uint64_t) * cap), malloc(sizeof(uint32_t) * cap), cap, 0};
    if (!n.keys || !n.vals) {
        free(n.keys);
        free(n.vals);
        return -1;
    }
    memset(n.vals, 0xff, sizeof(uint32_t) * cap);
    for (uint32_t i = 0; i < m->cap; i++)
        if (m->vals[i] != ACCT_NONE)
            acctMapPut(&n, m->keys[i], m->vals[i]);
    acctMapFree(m);
    *m = n;
    return 0;
}

int acctMapPut(acctMap *m, uint64_t key, uint32_t val)
{
    if ((m->n + 1) * 2 > m->cap && acctMapResize(m, m->cap ? m->cap * 2 : 64))
        return -1;
    uint32_t i = (uint32_t)acctHash(key) & (m->cap - 1);
    while (m->vals[i] != ACCT_NONE && m->keys[i] != key)
        i = (i + 1) & (m->cap - 1);
    if (m->vals[i] == ACCT_NONE)
        m->n++;
    m->keys[i] = key;
    m->vals[i] = val;
    return 0;
}

uint32_t acctMapGet(const acctMap *m, uint64_t key)
{
    if (!m->cap)
        return ACCT_NONE;
    uint32_t i = (uint32_t)acctHash(key) & (m->cap - 1);
    while (m->vals[i] != ACCT_NONE) {
        if (m->keys[i] == key)
            return m->vals[i];
        i = (i + 1) & (m->cap - 1);
    }
    return ACCT_NONE;
}

void acctMapFree(acctMap *m)
{
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

int acctGrow(void **p, uint32_t *cap, uint32_t need, size_t size)
{
    if (need <= *cap)
        return 0;
    uint32_t c = *cap ? *cap : 16;
    while (c < need)
        c *= 2;
    void *n = realloc(*p, (size_t)c * size);
    if (!n)
        return -1;
    memset((char *)n + (size_t)*cap * size, 0, (size_t)(c - *cap) * size);
    *p = n;
    *cap = c;
    return 0;
}

/* ---- the book ------------------------------------------------------------------- */

acctLimits acctLimitsFromConfig(const cfgRisk *risk)
{
    return (acctLimits){.rejectRatio = risk->rejectRatio,
                        .liquidationRatio = risk->liquidationRatio,
                        .concentration = risk->concentration,
                        .maxOrderNotional = risk->maxOrderNotional};
}

static int acctLimitsValid(const acctLimits *l)
{
    return l->rejectRatio > 0 && l->liquidationRatio > 0 && l->rejectRatio <= l->liquidationRatio &&
           l->concentration > 0 && l->concentration <= ACCT_PPM && l->maxOrderNotional > 0;
}

acctBook *acctCreate(const acctLimits *limits)
{
    if (!limits || !acctLimitsValid(limits))
        return NULL;
    acctBook *b = calloc(1, sizeof *b);
    if (b)
        b->lim = *limits;
    return b;
}

void acctDestroy(acctBook *b)
{
    if (!b)
        return;
    free(b->ins);
    free(b->acc);
    acctMapFree(&b->accMap);
    free(b->pos);
    acctMapFree(&b->posMap);
    free(b->ord);
    acctMapFree(&b->ordMap);
    free(b->trd);
    free(b->liq);
    free(b->hist);
    free(b->detail);
    free(b);
}

const acctLimits *acctGetLimits(const acctBook *b)
{
    return &b->lim;
}

int acctSetLimits(acctBook *b, const acctLimits *l)
{
    if (!acctLimitsValid(l))
        return ACCT_ERR_PARAMS;
    b->lim = *l;
    return 0;
}

void acctGetTotals(const acctBook *b, acctTotals *out)
{
    *out = b->tot;
}

/* ---- accounts ------------------------------------------------------------------- */

acctAccount *acctFind(acctBook *b, uint32_t id)
{
    uint32_t i = acctMapGet(&b->accMap, id);
    return i == ACCT_NONE ? NULL : &b->acc[i];
}

const acctAccount *acctGet(const acctBook *b, uint32_t id)
{
    uint32_t i = acctMapGet(&b->accMap, id);
    return i == ACCT_NONE ? NULL : &b->acc[i];
}

uint32_t acctIndex(const acctBook *b, uint32_t id)
{
    return acctMapGet(&b->accMap, id);
}

uint32_t acctCount(const acctBook *b)
{
    return b->nAcc;
}

const acctAccount *acctAt(const acctBook *b, uint32_t i)
{
    return i < b->nAcc ? &b->acc[i] : NULL;
}

int acctOpen(acctBook *b, uint32_t id, const char *name, uint8_t type, int64_t cash, uint64_t nowNs)
{
    if (id == 0 || id == UINT32_MAX || !name || strlen(name) > ACCT_NAME_MAX ||
        type > ACCT_INSTITUTIONAL || cash < 0)
        return ACCT_ERR_PARAMS;
    if (acctGet(b, id))
        return ACCT_ERR_EXISTS;
    if (acctGrow((void **)&b->acc, &b->capAcc, b->nAcc + 1, sizeof *b->acc) ||
        acctMapPut(&b->accMap, id, b->nAcc))
        return 5000;
    acctAccount *a = &b->acc[b->nAcc++];
    memset(a, 0, sizeof *a);
    a->id = id;
    strcpy(a->name, name);
    a->type = type;
    a->deposit = cash;
    a->firstPos = ACCT_NONE;
    a->createdNs = nowNs;
    b->tot.deposits += cash;
    return 0;
}

int acctDeposit(acctBook *b, uint32_t id, int64_t amount)
{
    acctAccount *a = acctFind(b, id);
    if (!a)
        return ACCT_ERR_NO_ACCOUNT;
    int64_t sum;
    if (amount <= 0 || __builtin_add_overflow(a->deposit, amount, &sum) ||
        sum > INT64_MAX / 4 - a->preBalance)
        return ACCT_ERR_DEPOSIT;
    a->deposit = sum;
    b->tot.deposits += amount;
    return 0;
}

int acctWithdraw(acctBook *b, uint32_t id, int64_t amount)
{
    acctAccount *a = acctFind(b, id);
    if (!a)
        return ACCT_ERR_NO_ACCOUNT;
    if (a->frozen)
        return ACCT_ERR_FROZEN;
    acctFigures f;
    acctCompute(b, a, &f);
    if (amount <= 0 || amount > f.available)
        return ACCT_ERR_WITHDRAW;
    a->withdraw += amount;
    b->tot.withdrawals += amount;
    return 0;
}

int acctSetFrozen(acctBook *b, uint32_t id, int frozen)
{
    acctAccount *a = acctFind(b, id);
    if (!a)
        return ACCT_ERR_NO_ACCOUNT;
    a->frozen = frozen ? 1 : 0;
    return 0;
}

void acctCompute(const acctBook *b, const acctAccount *a, acctFigures *out)
{
    int64_t pp = 0, fp = 0;
    for (uint32_t s = a->firstPos; s != ACCT_NONE; s = b->pos[s].next) {
        const acctPosSlot *ps = &b->pos[s];
        const acctInstrument *in = &b->ins[ps->instrument];
        for (int k = 0; k < 2; k++) {
            if (!posLots(&ps->p.side[k]))
                continue;
            pp += posProfit(&ps->p.side[k], k, in->lastPrice, in->spec.multiplier);
            fp += posFloatProfit(&ps->p.side[k], k, in->lastPrice, in->spec.multiplier);
        }
    }
    out->staticBalance = a->preBalance + a->deposit - a->withdraw + a->closeProfit - a->commission;
    out->positionProfit = pp;
    out->floatProfit = fp;
    out->balance = out->staticBalance + pp;
    out->available = out->balance - a->margin - a->frozenMargin - a->frozenCommission;
    out->riskRatio = acctRiskRatio(a->margin, out->balance);
}

acctPosSlot *acctPosSlotOf(acctBook *b, uint32_t accIndex, uint16_t instrument, int create)
{
    const uint64_t key = (uint64_t)accIndex << 16 | instrument;
    uint32_t s = acctMapGet(&b->posMap, key);
    if (s != ACCT_NONE || !create)
        return s == ACCT_NONE ? NULL : &b->pos[s];
    if (acctGrow((void **)&b->pos, &b->capPos, b->nPos + 1, sizeof *b->pos) ||
        acctMapPut(&b->posMap, key, b->nPos))
        return NULL;
    acctPosSlot *ps = &b->pos[b->nPos];
    memset(ps, 0, sizeof *ps);
    ps->account = accIndex;
    ps->instrument = instrument;
    ps->next = b->acc[accIndex].firstPos;
    b->acc[accIndex].firstPos = b->nPos++;
    return ps;
}

const posPosition *acctNextPosition(const acctBook *b, const acctAccount *a, uint32_t *it,
                                    uint16_t *instrument)
{
    /* *it: 0 = start, UINT32_MAX = end, else the next slot + 1 */
    if (*it == UINT32_MAX)
        return NULL;
    const uint32_t s = *it == 0 ? a->firstPos : *it - 1;
    if (s == ACCT_NONE) {
        *it = UINT32_MAX;
        return NULL;
    }
    *it = b->pos[s].next == ACCT_NONE ? UINT32_MAX : b->pos[s].next + 1;
    *instrument = b->pos[s].instrument;
    return &b->pos[s].p;
}

const posPosition *acctPosition(const acctBook *b, uint32_t account, uint16_t instrument)
{
    uint32_t ai = acctMapGet(&b->accMap, account);
    if (ai == ACCT_NONE)
        return NULL;
    uint32_t s = acctMapGet(&b->posMap, (uint64_t)ai << 16 | instrument);
    return s == ACCT_NONE ? NULL : &b->pos[s].p;
}

int64_t acctInstrumentMargin(const acctBook *b, uint32_t account, uint16_t instrument)
{
    uint32_t ai = acctMapGet(&b->accMap, account);
    if (ai == ACCT_NONE)
        return 0;
    uint32_t s = acctMapGet(&b->posMap, (uint64_t)ai << 16 | instrument);
    if (s == ACCT_NONE)
        return 0;
    const acctPosSlot *ps = &b->pos[s];
    int64_t m = ps->frozenMargin;
    for (int k = 0; k < 2; k++)
        m += ps->p.side[k].marginToday + ps->p.side[k].marginYd;
    return m;
}

/* ---- orders ----------------------------------------------------------------------- */

int acctCostOf(const cfgInstrument *s, uint8_t side, uint8_t offset, uint8_t priceType,
               int64_t price, uint32_t qty, acctCost *out)
{
    if (side > 1 || offset > POS_CLOSE_YESTERDAY || priceType > 1 || qty < s->minLots ||
        qty > s->maxLots)
        return ACCT_ERR_PARAMS;
    int64_t px = s->upperTicks * s->tickSize; /* MARKET: the worst price of the day */
    if (priceType == 0) {
        if (price <= 0 || price % s->tickSize != 0 || price / s->tickSize < s->lowerTicks ||
            price / s->tickSize > s->upperTicks)
            return ACCT_ERR_PARAMS;
        px = price;
    }
    out->price = px;
    out->notional = acctNotional(s, px, qty);
    out->margin = acctMargin(s, px, qty);
    out->commission = acctCommission(s, px, qty);
    return 0;
}

int acctOrderCost(const acctBook *b, const acctOrderReq *r, acctCost *out)
{
    if (r->instrument >= b->nIns || b->ins[r->instrument].status == INST_DELISTED)
        return ACCT_ERR_NO_INSTRUMENT;
    return acctCostOf(&b->ins[r->instrument].spec, r->side, r->offset, r->priceType, r->price,
                      r->qty, out);
}

/* Free lots a close order could take, or 2005. */
static int acctCloseLotsOk(const acctBook *b, const acctAccount *a, const acctOrderReq *r)
{
    const posPosition *p = acctPosition(b, a->id, r->instrument);
    posSide side = {0};
    if (p)
        side = p->side[posCloseSide(r->side)];
    uint32_t t, y;
    return posFreezeClose(&side, b->ins[r->instrument].spec.closeRule, r->offset, r->qty, &t, &y);
}

int acctCheckOrder(const acctBook *b, const acctOrderReq *r, int64_t available)
{
    const acctAccount *a = acctGet(b, r->account);
    if (!a)
        return ACCT_ERR_NO_ACCOUNT;
    if (r->instrument >= b->nIns || b->ins[r->instrument].status == INST_DELISTED)
        return ACCT_ERR_NO_INSTRUMENT;
    if (b->ins[r->instrument].status == INST_SUSPENDED)
        return ACCT_ERR_STATE;
    acctCost c;
    int rc = acctOrderCost(b, r, &c);
    if (rc)
        return rc;
    if (a->frozen)
        return ACCT_ERR_FROZEN;
    acctFigures f;
    acctCompute(b, a, &f);
    const int open = r->offset == POS_OPEN;
    if (open && f.riskRatio > (int64_t)b->lim.rejectRatio)
        return ACCT_ERR_RISK;
    if (c.notional > b->lim.maxOrderNotional)
        return ACCT_ERR_NOTIONAL;
    if (!open)
        return acctCloseLotsOk(b, a, r);
    const int64_t inst = acctInstrumentMargin(b, a->id, r->instrument) + c.margin;
    if ((__int128)inst * ACCT_PPM > (__int128)b->lim.concentration * f.balance)
        return ACCT_ERR_CONCENTRATION;
    const int64_t avail = available >= 0 ? available : f.available;
    if (c.margin + c.commission > avail)
        return ACCT_ERR_FUNDS;
    return 0;
}

int acctOrderNew(acctBook *b, const acctOrderReq *r, int trusted)
{
    if (acctOrderGet(b, r->orderId))
        return ACCT_ERR_PARAMS; /* order ids are unique for the day */
    int rc;
    if (!trusted) {
        rc = acctCheckOrder(b, r, -1);
        if (rc)
            return rc;
    }
    acctAccount *a = acctFind(b, r->account);
    if (!a)
        return ACCT_ERR_NO_ACCOUNT;
    acctCost c;
    rc = acctOrderCost(b, r, &c);
    if (rc)
        return rc;
    if (trusted && r->priceType == 1 && r->price > 0) {
        /* a mirrored MARKET order freezes at the price the worker used */
        const cfgInstrument *s = &b->ins[r->instrument].spec;
        c.price = r->price;
        c.margin = acctMargin(s, r->price, r->qty);
        c.commission = acctCommission(s, r->price, r->qty);
    }
    const uint32_t ai = (uint32_t)(a - b->acc);
    acctPosSlot *ps = acctPosSlotOf(b, ai, r->instrument, 1);
    if (!ps || acctGrow((void **)&b->ord, &b->capOrd, b->nOrd + 1, sizeof *b->ord))
        return 5000;
    acctOrder o = {.orderId = r->orderId,
                   .clOrdId = r->clOrdId,
                   .account = r->account,
                   .instrument = r->instrument,
                   .side = r->side,
                   .offset = r->offset,
                   .priceType = r->priceType,
                   .status = ACCT_ORDER_ALIVE,
                   .price = c.price,
                   .qty = r->qty,
                   .leaves = r->qty,
                   .insertNs = r->nowNs,
                   .updateNs = r->nowNs};
    if (r->offset == POS_OPEN) {
        o.frozenMargin = c.margin;
        o.frozenCommission = c.commission;
    } else {
        rc =
            posFreezeClose(&ps->p.side[posCloseSide(r->side)], b->ins[r->instrument].spec.closeRule,
                           r->offset, r->qty, &o.frozenToday, &o.frozenYd);
        if (rc)
            return rc;
    }
    if (acctMapPut(&b->ordMap, r->orderId, b->nOrd)) {
        posUnfreeze(&ps->p.side[posCloseSide(r->side)], o.frozenToday, o.frozenYd);
        return 5000;
    }
    a->frozenMargin += o.frozenMargin;
    a->frozenCommission += o.frozenCommission;
    ps->frozenMargin += o.frozenMargin;
    a->liveOrders++;
    b->ord[b->nOrd++] = o;
    return 0;
}

static acctOrder *acctOrderFind(acctBook *b, uint64_t orderId)
{
    uint32_t i = acctMapGet(&b->ordMap, orderId);
    return i == ACCT_NONE ? NULL : &b->ord[i];
}

const acctOrder *acctOrderGet(const acctBook *b, uint64_t orderId)
{
    uint32_t i = acctMapGet(&b->ordMap, orderId);
    return i == ACCT_NONE ? NULL : &b->ord[i];
}

uint32_t acctOrderCount(const acctBook *b)
{
    return b->nOrd;
}

const acctOrder *acctOrderAt(const acctBook *b, uint32_t i)
{
    return i < b->nOrd ? &b->ord[i] : NULL;
}

uint32_t acctTradeCount(const acctBook *b)
{
    return b->nTrd;
}

const acctTrade *acctTradeAt(const acctBook *b, uint32_t i)
{
    return i < b->nTrd ? &b->trd[i] : NULL;
}

/* frozen x k / leaves, rounded down; all of it for the last lots. */
static int64_t acctFrozenShare(int64_t frozen, uint32_t k, uint32_t leaves)
{
    return k >= leaves ? frozen : (int64_t)((__int128)frozen * k / leaves);
}

/* Releases the frozen money of k lots of an open order. */
static void acctReleaseOpen(acctAccount *a, acctPosSlot *ps, acctOrder *o, uint32_t k)
{
    const int64_t m = acctFrozenShare(o->frozenMargin, k, o->leaves);
    const int64_t c = acctFrozenShare(o->frozenCommission, k, o->leaves);
    o->frozenMargin -= m;
    o->frozenCommission -= c;
    a->frozenMargin -= m;
    a->frozenCommission -= c;
    ps->frozenMargin -= m;
}

static void acctOrderDone(acctAccount *a, acctOrder *o, uint8_t status, uint64_t nowNs)
{
    o->status = status;
    o->updateNs = nowNs;
    if (a->liveOrders)
        a->liveOrders--;
}

/* Closes k frozen lots of the order's position side; returns the close
 * profit at price. */
static int64_t acctCloseFill(acctBook *b, acctAccount *a, acctPosSlot *ps, acctOrder *o,
                             int64_t price, uint32_t k)
{
    const cfgInstrument *s = &b->ins[o->instrument].spec;
    const int si = posCloseSide(o->side);
    uint32_t t, y;
    if (posTodayFirst(s->closeRule, o->offset)) {
        t = k < o->frozenToday ? k : o->frozenToday;
        y = k - t;
    } else {
        y = k < o->frozenYd ? k : o->frozenYd;
        t = k - y;
    }
    posClosed cl = {0, 0, 0};
    posClose(&ps->p.side[si], t, y, &cl);
    o->frozenToday -= t;
    o->frozenYd -= y;
    a->margin -= cl.margin;
    const int64_t value = acctNotional(s, price, k);
    return si == POS_LONG ? value - cl.posCost : cl.posCost - value;
}

int acctOrderFill(acctBook *b, uint64_t orderId, uint64_t tradeId, int64_t price, uint32_t qty,
                  uint64_t nowNs, acctTrade *trade)
{
    acctOrder *o = acctOrderFind(b, orderId);
    if (!o)
        return ACCT_ERR_NO_ORDER;
    if (o->status >= ACCT_ORDER_FILLED)
        return ACCT_ERR_NOT_CANCELLABLE;
    if (qty == 0 || qty > o->leaves || price <= 0)
        return ACCT_ERR_PARAMS;
    acctAccount *a = acctFind(b, o->account);
    const uint32_t ai = (uint32_t)(a - b->acc);
    acctPosSlot *ps = acctPosSlotOf(b, ai, o->instrument, 0);
    acctInstrument *in = &b->ins[o->instrument];
    const int64_t comm = acctCommission(&in->spec, price, qty);
    int64_t closeProfit = 0;
    if (o->offset == POS_OPEN) {
        acctReleaseOpen(a, ps, o, qty);
        const int64_t m = acctMargin(&in->spec, price, qty);
        posOpen(&ps->p.side[o->side == 0 ? POS_LONG : POS_SHORT], qty,
                acctNotional(&in->spec, price, qty), m);
        a->margin += m;
    } else {
        closeProfit = acctCloseFill(b, a, ps, o, price, qty);
        a->closeProfit += closeProfit;
    }
    a->commission += comm;
    b->tot.commission += comm;
    b->tot.fills++;
    o->commission += comm;
    o->leaves -= qty;
    o->filled += qty;
    o->updateNs = nowNs;
    in->lastPrice = price;
    if (o->leaves == 0)
        acctOrderDone(a, o, ACCT_ORDER_FILLED, nowNs);
    else
        o->status = ACCT_ORDER_PARTIAL;
    acctTrade t = {.tradeId = tradeId,
                   .orderId = orderId,
                   .account = o->account,
                   .instrument = o->instrument,
                   .side = o->side,
                   .offset = o->offset,
                   .price = price,
                   .qty = qty,
                   .commission = comm,
                   .closeProfit = closeProfit,
                   .ns = nowNs};
    if (acctGrow((void **)&b->trd, &b->capTrd, b->nTrd + 1, sizeof *b->trd) == 0)
        b->trd[b->nTrd++] = t;
    if (trade)
        *trade = t;
    return 0;
}

int acctOrderReplace(acctBook *b, uint64_t orderId, int64_t price, uint32_t newQty, int trusted,
                     uint64_t nowNs)
{
    acctOrder *o = acctOrderFind(b, orderId);
    if (!o)
        return ACCT_ERR_NO_ORDER;
    if (o->status >= ACCT_ORDER_FILLED)
        return ACCT_ERR_NOT_CANCELLABLE;
    if (newQty <= o->filled)
        return 3004;
    const acctInstrument *in = &b->ins[o->instrument];
    acctCost c;
    int rc = acctCostOf(&in->spec, o->side, o->offset, o->priceType, price, newQty, &c);
    if (rc)
        return rc;
    acctAccount *a = acctFind(b, o->account);
    acctPosSlot *ps = acctPosSlotOf(b, (uint32_t)(a - b->acc), o->instrument, 0);
    const uint32_t leaves = newQty - o->filled;
    if (o->offset == POS_OPEN) {
        const int64_t m = acctMargin(&in->spec, c.price, leaves);
        const int64_t cm = acctCommission(&in->spec, c.price, leaves);
        if (!trusted) {
            acctFigures f;
            acctCompute(b, a, &f);
            if (m + cm - o->frozenMargin - o->frozenCommission > f.available)
                return ACCT_ERR_FUNDS;
        }
        a->frozenMargin += m - o->frozenMargin;
        a->frozenCommission += cm - o->frozenCommission;
        ps->frozenMargin += m - o->frozenMargin;
        o->frozenMargin = m;
        o->frozenCommission = cm;
    } else {
        rc = posResizeClose(&ps->p.side[posCloseSide(o->side)], in->spec.closeRule, o->offset,
                            &o->frozenToday, &o->frozenYd, leaves);
        if (rc)
            return rc;
    }
    o->price = c.price;
    o->qty = newQty;
    o->leaves = leaves;
    o->updateNs = nowNs;
    return 0;
}

int acctOrderCancel(acctBook *b, uint64_t orderId, uint64_t nowNs)
{
    acctOrder *o = acctOrderFind(b, orderId);
    if (!o)
        return ACCT_ERR_NO_ORDER;
    if (o->status >= ACCT_ORDER_FILLED)
        return ACCT_ERR_NOT_CANCELLABLE;
    acctAccount *a = acctFind(b, o->account);
    acctPosSlot *ps = acctPosSlotOf(b, (uint32_t)(a - b->acc), o->instrument, 0);
    if (o->offset == POS_OPEN) {
        acctReleaseOpen(a, ps, o, o->leaves);
    } else {
        posUnfreeze(&ps->p.side[posCloseSide(o->side)], o->frozenToday, o->frozenYd);
        o->frozenToday = o->frozenYd = 0;
    }
    o->leaves = 0;
    acctOrderDone(a, o, ACCT_ORDER_CANCELLED, nowNs);
    return 0;
}

int acctMark(acctBook *b, uint16_t instrument, int64_t price)
{
    if (instrument >= b->nIns)
        return ACCT_ERR_NO_INSTRUMENT;
    if (price <= 0)
        return ACCT_ERR_PARAMS;
    b->ins[instrument].lastPrice = price;
    return 0;
}

/* ---- risk ------------------------------------------------------------------------------ */

int acctShouldLiquidate(const acctBook *b, const acctAccount *a)
{
    if (a->margin <= 0)
        return 0;
    acctFigures f;
    acctCompute(b, a, &f);
    return f.riskRatio >= (int64_t)b->lim.liquidationRatio;
}

static uint32_t acctPlanSide(const posSide *s, uint16_t instrument, uint8_t orderSide,
                             acctCloseOrder *out, uint32_t n, uint32_t max)
{
    const uint32_t freeToday = s->today - s->frozenToday, freeYd = s->yd - s->frozenYd;
    if (freeToday) {
        if (n < max)
            out[n] = (acctCloseOrder){instrument, orderSide, POS_CLOSE_TODAY, freeToday};
        n++;
    }
    if (freeYd) {
        if (n < max)
            out[n] = (acctCloseOrder){instrument, orderSide, POS_CLOSE_YESTERDAY, freeYd};
        n++;
    }
    return n;
}

int acctLiquidate(acctBook *b, uint32_t id, uint64_t nowNs, acctCloseOrder *out, uint32_t max)
{
    acctAccount *a = acctFind(b, id);
    if (!a)
        return -ACCT_ERR_NO_ACCOUNT;
    uint32_t n = 0;
    for (uint32_t s = a->firstPos; s != ACCT_NONE; s = b->pos[s].next) {
        const acctPosSlot *ps = &b->pos[s];
        n = acctPlanSide(&ps->p.side[POS_LONG], ps->instrument, 1, out, n, max);
        n = acctPlanSide(&ps->p.side[POS_SHORT], ps->instrument, 0, out, n, max);
    }
    acctFigures f;
    acctCompute(b, a, &f);
    if (acctGrow((void **)&b->liq, &b->capLiq, b->nLiq + 1, sizeof *b->liq) == 0)
        b->liq[b->nLiq++] = (acctLiquidation){.account = id,
                                              .ns = nowNs,
                                              .riskRatio = f.riskRatio,
                                              .balance = f.balance,
                                              .margin = a->margin,
                                              .orders = n};
    return (int)n;
}

uint32_t acctLiquidationCount(const acctBook *b)
{
    return b->nLiq;
}

const acctLiquidation *acctLiquidationAt(const acctBook *b, uint32_t i)
{
    return i < b->nLiq ? &b->liq[i] : NULL;
}
