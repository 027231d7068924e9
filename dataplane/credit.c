/* credit.c -- a worker's credit lines, positions and pre-trade checks; events to the control core.
 *
 * Tables are fixed at crCreate: accounts and positions in open-addressing
 * tables at most half full (ids are never removed during a run), orders in
 * an array indexed by the gateway's ref, parked orders in a small array.
 * The money each event moves on the line is computed with the control
 * core's formulas (control/account.h) and carried in the event, so the
 * control core's view of the line is exact. A fill the line cannot pay for
 * (a sell opened above its limit needs more margin than it froze, a close
 * pays commission and may lose) takes the line to 0, never below: the
 * event says what was really taken and the control core charges the rest
 * to the account (docs/accounts.md "Credit lines"). */
#include <string.h>

#include "dataplane/cr_int.h"
#include "dataplane/credit.h"

/* ---- tables ---------------------------------------------------------------------- */

static inline uint32_t crHash(uint32_t k)
{
    return k * 2654435761u;
}

static crAccount *crAcct(const crRisk *r, uint32_t id)
{
    uint32_t i = crHash(id) & r->accMask;
    while (r->acc[i].id) {
        if (r->acc[i].id == id)
            return &r->acc[i];
        i = (i + 1) & r->accMask;
    }
    return NULL;
}

static crAccount *crAcctInsert(crRisk *r, uint32_t id)
{
    crAccount *a = crAcct(r, id);
    if (a)
        return a;
    if (r->accCount >= r->accMax || id == 0) {
        r->stats.accountsFull++;
        return NULL;
    }
    uint32_t i = crHash(id) & r->accMask;
    while (r->acc[i].id)
        i = (i + 1) & r->accMask;
    r->accCount++;
    r->acc[i].id = id;
    r->acc[i].concCap = INT64_MAX;
    return &r->acc[i];
}

static uint32_t crPosFind(const crRisk *r, uint32_t acct, uint16_t book, int create, crRisk *w)
{
    const uint32_t key = (acct << 12 | book) + 1;
    uint32_t i = crHash(key) & r->posMask;
    while (r->pos[i].key) {
        if (r->pos[i].key == key)
            return i;
        i = (i + 1) & r->posMask;
    }
    if (!create)
        return CR_NONE;
    if (w->posCount >= w->posMax) {
        w->stats.positionsFull++;
        return CR_NONE;
    }
    w->posCount++;
    w->pos[i].key = key;
    w->pos[i].acct = acct;
    w->pos[i].book = book;
    return i;
}

static void crEmit(crRisk *r, crEvent *ev, uint64_t nowNs)
{
    ev->segment = r->segment;
    ev->ns = nowNs;
    r->stats.events++;
    r->emit(r->emitCtx, ev);
}

/* ---- life -------------------------------------------------------------------------- */

static uint32_t crPow2(uint32_t n)
{
    uint32_t p = 16;
    while (p < 2 * n)
        p <<= 1;
    return p;
}

crRisk *crCreate(const crOptions *opt)
{
    if (!opt || !opt->cfg || !opt->emit || opt->segment >= opt->cfg->segmentCount ||
        opt->maxAccounts < 1 || opt->maxAccounts > (1u << 19) || opt->maxPositions < 1 ||
        opt->maxPositions > (1u << 24) || opt->refCap < 1)
        return NULL;
    const cfgSegment *seg = &opt->cfg->segments[opt->segment];
    const uint16_t nBooks = seg->instrumentCapacity > seg->instrumentCount ? seg->instrumentCapacity
                                                                           : seg->instrumentCount;
    if (nBooks > 4096)
        return NULL;
    const uint32_t accSlots = crPow2(opt->maxAccounts), posSlots = crPow2(opt->maxPositions);
    const size_t head = (sizeof(crRisk) + 63) & ~(size_t)63;
    const size_t insB = ((size_t)nBooks * sizeof(cfgInstrument) + 63) & ~(size_t)63;
    const size_t accB = (size_t)accSlots * sizeof(crAccount);
    const size_t posB = (size_t)posSlots * sizeof(crPos);
    const size_t ordB = (size_t)opt->refCap * sizeof(crOrder);
    const size_t total = head + insB + accB + posB + ordB;
    const mtAllocator *a = opt->allocator ? opt->allocator : mtDefaultAllocator();
    uint8_t *base = a->alloc(a->ctx, total);
    if (!base)
        return NULL;
    crRisk *r = (crRisk *)base; /* zeroed by the allocator */
    r->alloc = a;
    r->bytes = total;
    r->segment = opt->segment;
    r->nBooks = nBooks; /* the books added later have a zero tick until crAddInstrument */
    r->ins = (cfgInstrument *)(base + head);
    r->acc = (crAccount *)(base + head + insB);
    r->pos = (crPos *)(base + head + insB + accB);
    r->ord = (crOrder *)(base + head + insB + accB + posB);
    r->accMask = accSlots - 1;
    r->accMax = opt->maxAccounts;
    r->posMask = posSlots - 1;
    r->posMax = opt->maxPositions;
    r->refCap = opt->refCap;
    r->maxNotional = opt->cfg->risk.maxOrderNotional;
    r->emit = opt->emit;
    r->emitCtx = opt->emitCtx;
    for (uint32_t i = 0; i < opt->cfg->instrumentCount; i++) {
        const cfgInstrument *in = &opt->cfg->instruments[i];
        if (in->segIndex == opt->segment && in->book < r->nBooks)
            r->ins[in->book] = *in;
    }
    return r;
}

int crAddInstrument(crRisk *r, const cfgInstrument *ins)
{
    if (ins->book >= r->nBooks || r->ins[ins->book].tickSize != 0)
        return -1;
    r->ins[ins->book] = *ins;
    return 0;
}

const cfgInstrument *crInstrument(const crRisk *r, uint16_t book)
{
    return book < r->nBooks && r->ins[book].tickSize != 0 ? &r->ins[book] : NULL;
}

void crDestroy(crRisk *r)
{
    if (r)
        r->alloc->free(r->alloc->ctx, r, r->bytes);
}

int crAccountExists(const crRisk *r, uint32_t account)
{
    return crAcct(r, account) != NULL;
}

int64_t crLine(const crRisk *r, uint32_t account)
{
    const crAccount *a = crAcct(r, account);
    return a ? a->credit : -1;
}

const posPosition *crPosition(const crRisk *r, uint32_t account, uint16_t book)
{
    const crAccount *a = crAcct(r, account);
    if (!a)
        return NULL;
    uint32_t i = crPosFind(r, (uint32_t)(a - r->acc), book, 0, NULL);
    return i == CR_NONE ? NULL : &r->pos[i].p;
}

void crGetStats(const crRisk *r, crStats *out)
{
    *out = r->stats;
}

int crRejectSlot(int code)
{
    switch (code) {
    case 1001:
        return 1;
    case 1002:
        return 2;
    case 1003:
        return 3;
    case 1004:
        return 4;
    case 1006:
        return 6;
    case 1007:
        return 7;
    case 1008:
        return 8;
    case 2002:
        return 10;
    case 2005:
        return 11;
    case 4002:
        return 12;
    default:
        return 0;
    }
}

static int crReject(crRisk *r, int code)
{
    r->stats.rejects[crRejectSlot(code)]++;
    return code;
}

/* ---- checks ------------------------------------------------------------------------- */

static int64_t crInstMargin(const crPos *p)
{
    int64_t m = p->frozenMargin;
    for (int k = 0; k < 2; k++)
        m += p->p.side[k].marginToday + p->p.side[k].marginYd;
    return m;
}

static int crParkOrder(crRisk *r, uint32_t session, uint32_t account, const xoeNewOrder *o,
                       int64_t need, uint64_t nowNs)
{
    for (uint32_t i = 0; i < CR_MAX_PARK; i++) {
        if (r->park[i].used)
            continue;
        r->park[i] = (crPark){.used = 1, .account = account, .po = {session, *o}};
        r->stats.parked++;
        crEvent ev = {.type = CR_EV_TOPUP,
                      .book = o->instrument,
                      .account = account,
                      .qty = i,
                      .price = need,
                      .orderId = 0,
                      .tradeId = o->clOrdId};
        crEmit(r, &ev, nowNs);
        return CR_PARKED;
    }
    r->stats.parkFull++;
    return crReject(r, ACCT_ERR_FUNDS);
}

/* The checks after the account is found; reserves on success. */
static int crCheckOpen(crRisk *r, crAccount *a, uint32_t ref, uint32_t session,
                       const xoeNewOrder *o, const acctCost *c, int allowPark, uint64_t nowNs)
{
    const uint32_t ai = (uint32_t)(a - r->acc);
    uint32_t pi = crPosFind(r, ai, o->instrument, 1, r);
    if (pi == CR_NONE)
        return crReject(r, 4002);
    crPos *p = &r->pos[pi];
    /* the cap and the line both follow the balance the control core last
     * told: when either falls short, ask it (the balance may have grown)
     * before refusing */
    const int concOk = (__int128)crInstMargin(p) + c->margin <= a->concCap;
    const int64_t need = c->margin + c->commission;
    if (!concOk || need > a->credit) {
        if (allowPark)
            return crParkOrder(r, session, a->id, o, need, nowNs);
        r->stats.topupRejects++;
        return crReject(r, concOk ? ACCT_ERR_FUNDS : ACCT_ERR_CONCENTRATION);
    }
    a->credit -= need;
    p->frozenMargin += c->margin;
    r->ord[ref] = (crOrder){.live = 1,
                            .side = o->side,
                            .offset = o->offset,
                            .priceType = o->priceType,
                            .book = o->instrument,
                            .acct = ai,
                            .pos = pi,
                            .leaves = o->qty,
                            .price = c->price,
                            .frozenMargin = c->margin,
                            .frozenCommission = c->commission};
    return 0;
}

static int crCheckClose(crRisk *r, crAccount *a, uint32_t ref, const xoeNewOrder *o,
                        const acctCost *c)
{
    const uint32_t ai = (uint32_t)(a - r->acc);
    uint32_t pi = crPosFind(r, ai, o->instrument, 0, NULL);
    if (pi == CR_NONE)
        return crReject(r, ACCT_ERR_POSITION);
    crPos *p = &r->pos[pi];
    uint32_t t, y;
    int rc = posFreezeClose(&p->p.side[posCloseSide(o->side)], r->ins[o->instrument].closeRule,
                            o->offset, o->qty, &t, &y);
    if (rc)
        return crReject(r, rc);
    r->ord[ref] = (crOrder){.live = 1,
                            .side = o->side,
                            .offset = o->offset,
                            .priceType = o->priceType,
                            .book = o->instrument,
                            .acct = ai,
                            .pos = pi,
                            .leaves = o->qty,
                            .price = c->price,
                            .frozenToday = t,
                            .frozenYd = y};
    return 0;
}

int crCheckNew(crRisk *r, uint32_t ref, uint32_t session, uint32_t account, const xoeNewOrder *o,
               int allowPark, uint64_t nowNs)
{
    r->stats.checks++;
    if (ref >= r->refCap)
        return crReject(r, 4002);
    r->ord[ref].live = 0;
    crAccount *a = crAcct(r, account);
    if (!a)
        return crReject(r, ACCT_ERR_NO_ACCOUNT);
    if (o->instrument >= r->nBooks || r->ins[o->instrument].tickSize == 0)
        return crReject(r, ACCT_ERR_NO_INSTRUMENT);
    acctCost c;
    int rc =
        acctCostOf(&r->ins[o->instrument], o->side, o->offset, o->priceType, o->price, o->qty, &c);
    if (rc)
        return crReject(r, rc);
    if (a->frozen)
        return crReject(r, ACCT_ERR_FROZEN);
    const int open = o->offset == POS_OPEN;
    if (open && a->blocked)
        return crReject(r, ACCT_ERR_RISK);
    if (c.notional > r->maxNotional)
        return crReject(r, ACCT_ERR_NOTIONAL);
    return open ? crCheckOpen(r, a, ref, session, o, &c, allowPark, nowNs)
                : crCheckClose(r, a, ref, o, &c);
}

int crCheckReplace(crRisk *r, uint32_t ref, int64_t newPrice, uint32_t newQty, uint32_t filled)
{
    r->stats.checks++;
    if (ref >= r->refCap || !r->ord[ref].live || newQty <= filled)
        return 0; /* not ours, or the matcher refuses it (3004) */
    const crOrder *o = &r->ord[ref];
    const cfgInstrument *in = &r->ins[o->book];
    acctCost c;
    int rc = acctCostOf(in, o->side, o->offset, 0, newPrice, newQty, &c);
    if (rc)
        return crReject(r, rc);
    if (c.notional > r->maxNotional)
        return crReject(r, ACCT_ERR_NOTIONAL);
    crAccount *a = &r->acc[o->acct];
    crPos *p = &r->pos[o->pos];
    const uint32_t leaves = newQty - filled;
    if (o->offset != POS_OPEN) {
        posSide side = p->p.side[posCloseSide(o->side)];
        uint32_t t = o->frozenToday, y = o->frozenYd;
        rc = posResizeClose(&side, in->closeRule, o->offset, &t, &y, leaves);
        return rc ? crReject(r, rc) : 0;
    }
    const int64_t m = acctMargin(in, c.price, leaves), cm = acctCommission(in, c.price, leaves);
    const int64_t more = m + cm - o->frozenMargin - o->frozenCommission;
    if (m > o->frozenMargin && (__int128)crInstMargin(p) + m - o->frozenMargin > a->concCap)
        return crReject(r, ACCT_ERR_CONCENTRATION);
    if (more > a->credit)
        return crReject(r, ACCT_ERR_FUNDS);
    return 0;
}

/* ---- matcher events ------------------------------------------------------------------ */

static void crLineApply(crRisk *r, crAccount *a, int64_t delta, crEvent *ev)
{
    if (a->credit + delta < 0) {
        r->stats.clamped++;
        delta = -a->credit;
    }
    a->credit += delta;
    ev->lineDelta = delta;
}

void crOnAccepted(crRisk *r, uint32_t ref, uint64_t orderId, uint64_t clOrdId, uint64_t nowNs)
{
    if (ref >= r->refCap || !r->ord[ref].live)
        return;
    crOrder *o = &r->ord[ref];
    o->orderId = orderId;
    crEvent ev = {.type = CR_EV_ORDER,
                  .side = o->side,
                  .offset = o->offset,
                  .priceType = o->priceType,
                  .book = o->book,
                  .account = r->acc[o->acct].id,
                  .qty = o->leaves,
                  .leaves = o->leaves,
                  .orderId = orderId,
                  .tradeId = clOrdId,
                  .price = o->price, /* the control core freezes at this price */
                  .lineDelta = -(o->frozenMargin + o->frozenCommission)};
    crEmit(r, &ev, nowNs);
}

void crOnRejected(crRisk *r, uint32_t ref)
{
    if (ref >= r->refCap || !r->ord[ref].live)
        return;
    crOrder *o = &r->ord[ref];
    crAccount *a = &r->acc[o->acct];
    crPos *p = &r->pos[o->pos];
    if (o->offset == POS_OPEN) {
        a->credit += o->frozenMargin + o->frozenCommission;
        p->frozenMargin -= o->frozenMargin;
    } else {
        posUnfreeze(&p->p.side[posCloseSide(o->side)], o->frozenToday, o->frozenYd);
    }
    o->live = 0;
}

static int64_t crShare(int64_t frozen, uint32_t k, uint32_t leaves)
{
    if (k >= leaves)
        return frozen;
    int64_t m; /* in 64 bits when the product fits: the same quotient, no __divti3 call */
    if (!__builtin_mul_overflow(frozen, (int64_t)k, &m))
        return m / (int64_t)leaves;
    return (int64_t)((__int128)frozen * k / leaves);
}

int64_t crOnFill(crRisk *r, uint32_t ref, uint64_t orderId, uint64_t tradeId, int64_t price,
                 uint32_t qty, uint32_t leaves, uint64_t nowNs)
{
    if (ref >= r->refCap || !r->ord[ref].live || qty == 0)
        return 0;
    crOrder *o = &r->ord[ref];
    crAccount *a = &r->acc[o->acct];
    crPos *p = &r->pos[o->pos];
    const cfgInstrument *in = &r->ins[o->book];
    const int64_t comm = acctCommission(in, price, qty);
    int64_t delta;
    if (o->offset == POS_OPEN) {
        const int64_t fm = crShare(o->frozenMargin, qty, o->leaves);
        const int64_t fc = crShare(o->frozenCommission, qty, o->leaves);
        o->frozenMargin -= fm;
        o->frozenCommission -= fc;
        p->frozenMargin -= fm;
        const int64_t m = acctMargin(in, price, qty);
        posOpen(&p->p.side[o->side == 0 ? POS_LONG : POS_SHORT], qty, acctNotional(in, price, qty),
                m);
        delta = fm + fc - m - comm;
    } else {
        const int si = posCloseSide(o->side);
        uint32_t t, y;
        if (posTodayFirst(in->closeRule, o->offset)) {
            t = qty < o->frozenToday ? qty : o->frozenToday;
            y = qty - t;
        } else {
            y = qty < o->frozenYd ? qty : o->frozenYd;
            t = qty - y;
        }
        posClosed cl = {0, 0, 0};
        posClose(&p->p.side[si], t, y, &cl);
        o->frozenToday -= t;
        o->frozenYd -= y;
        const int64_t value = acctNotional(in, price, qty);
        const int64_t profit = si == POS_LONG ? value - cl.posCost : cl.posCost - value;
        delta = cl.margin + profit - comm;
    }
    o->leaves = o->leaves > qty ? o->leaves - qty : 0;
    (void)leaves; /* the matcher's count equals ours; ours is what the freeze used */
    crEvent ev = {.type = CR_EV_FILL,
                  .side = o->side,
                  .offset = o->offset,
                  .book = o->book,
                  .account = a->id,
                  .qty = qty,
                  .leaves = o->leaves,
                  .orderId = orderId,
                  .tradeId = tradeId,
                  .price = price};
    crLineApply(r, a, delta, &ev);
    if (o->leaves == 0)
        o->live = 0;
    crEmit(r, &ev, nowNs);
    return comm;
}

void crOnCancelled(crRisk *r, uint32_t ref, uint64_t orderId, uint32_t qty, uint64_t nowNs)
{
    if (ref >= r->refCap || !r->ord[ref].live)
        return;
    crOrder *o = &r->ord[ref];
    crAccount *a = &r->acc[o->acct];
    crPos *p = &r->pos[o->pos];
    int64_t released = 0;
    if (o->offset == POS_OPEN) {
        released = o->frozenMargin + o->frozenCommission;
        p->frozenMargin -= o->frozenMargin;
        o->frozenMargin = o->frozenCommission = 0;
    } else {
        posUnfreeze(&p->p.side[posCloseSide(o->side)], o->frozenToday, o->frozenYd);
        o->frozenToday = o->frozenYd = 0;
    }
    a->credit += released;
    o->live = 0;
    o->leaves = 0;
    crEvent ev = {.type = CR_EV_CANCEL,
                  .side = o->side,
                  .offset = o->offset,
                  .book = o->book,
                  .account = a->id,
                  .qty = qty,
                  .orderId = orderId,
                  .lineDelta = released};
    crEmit(r, &ev, nowNs);
}

void crOnReplaced(crRisk *r, uint32_t oldRef, uint32_t newRef, uint64_t orderId, int64_t price,
                  uint32_t qty, uint32_t leaves, uint64_t nowNs)
{
    if (oldRef >= r->refCap || newRef >= r->refCap || !r->ord[oldRef].live)
        return;
    r->ord[newRef] = r->ord[oldRef];
    r->ord[oldRef].live = 0;
    crOrder *o = &r->ord[newRef];
    crAccount *a = &r->acc[o->acct];
    crPos *p = &r->pos[o->pos];
    const cfgInstrument *in = &r->ins[o->book];
    crEvent ev = {.type = CR_EV_REPLACE,
                  .side = o->side,
                  .offset = o->offset,
                  .book = o->book,
                  .account = a->id,
                  .qty = qty,
                  .leaves = leaves,
                  .orderId = orderId,
                  .price = price};
    if (o->offset == POS_OPEN) {
        const int64_t m = acctMargin(in, price, leaves), cm = acctCommission(in, price, leaves);
        p->frozenMargin += m - o->frozenMargin;
        crLineApply(r, a, o->frozenMargin + o->frozenCommission - m - cm, &ev);
        o->frozenMargin = m;
        o->frozenCommission = cm;
    } else {
        posResizeClose(&p->p.side[posCloseSide(o->side)], in->closeRule, o->offset, &o->frozenToday,
                       &o->frozenYd, leaves);
    }
    o->leaves = leaves;
    crEmit(r, &ev, nowNs);
}

/* ---- control commands ---------------------------------------------------------------- */

static void crRoll(crRisk *r, uint16_t book, int64_t settle)
{
    if (book >= r->nBooks || settle <= 0)
        return;
    const cfgInstrument *in = &r->ins[book];
    for (uint32_t i = 0; i <= r->posMask; i++) {
        crPos *p = &r->pos[i];
        if (!p->key || p->book != book)
            continue;
        for (int k = 0; k < 2; k++)
            posSettle(&p->p.side[k], k, settle, in->multiplier,
                      acctMargin(in, settle, posLots(&p->p.side[k])));
    }
    for (uint32_t i = 0; i < r->refCap; i++) {
        crOrder *o = &r->ord[i];
        if (o->live && o->book == book) {
            o->frozenYd += o->frozenToday;
            o->frozenToday = 0;
        }
    }
}

int crApply(crRisk *r, const crCmd *c, crParkedOrder *resume, uint64_t nowNs)
{
    switch (c->type) {
    case CR_CMD_ACCOUNT: {
        crAccount *a = crAcctInsert(r, c->account);
        if (!a)
            return 0;
        a->frozen = c->frozen;
        a->blocked = c->blocked;
        a->concCap = c->concCap;
        a->credit += c->amount;
        r->stats.grants += c->amount != 0;
        return 0;
    }
    case CR_CMD_RECLAIM: {
        crAccount *a = crAcct(r, c->account);
        int64_t take = 0;
        if (a && c->amount > 0) {
            take = c->amount < a->credit ? c->amount : a->credit;
            a->credit -= take;
        }
        r->stats.reclaims++;
        crEvent ev = {.type = CR_EV_RECLAIMED, .account = c->account, .lineDelta = -take};
        ev.price = c->amount; /* what was asked */
        crEmit(r, &ev, nowNs);
        return 0;
    }
    case CR_CMD_TOPUP_DONE:
        if (c->parked < CR_MAX_PARK && r->park[c->parked].used) {
            r->park[c->parked].used = 0;
            *resume = r->park[c->parked].po;
            r->stats.resumed++;
            return 1;
        }
        return 0;
    case CR_CMD_INSTRUMENT:
        if (c->book < r->nBooks) {
            cfgInstrument *in = &r->ins[c->book];
            in->marginRate = c->marginRate;
            in->commissionRate = c->commissionRate;
            in->commissionPerLot = c->commissionPerLot;
            in->minLots = c->minLots;
            in->maxLots = c->maxLots;
            /* a new band, inside the book's (the control core checked);
             * 0: a command from before bands could change */
            if (c->amount >= 1 && c->concCap >= c->amount) {
                in->lowerTicks = c->amount;
                in->upperTicks = c->concCap;
            }
        }
        return 0;
    case CR_CMD_ROLL:
        crRoll(r, c->book, c->amount);
        return 0;
    default:
        return 0;
    }
}

/* ---- state digest ------------------------------------------------------------------ */

static void crMix(uint64_t *h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        *h = (*h ^ b[i]) * 0x100000001b3ull;
}

static void crMix64(uint64_t *h, uint64_t v)
{
    crMix(h, &v, sizeof v);
}

uint64_t crStateHash(const crRisk *r)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (uint32_t i = 0; i <= r->accMask; i++) {
        const crAccount *a = &r->acc[i];
        if (!a->id)
            continue;
        crMix64(&h, ((uint64_t)a->id << 16) | ((uint64_t)a->frozen << 8) | a->blocked);
        crMix64(&h, (uint64_t)a->credit);
        crMix64(&h, (uint64_t)a->concCap);
    }
    for (uint32_t i = 0; i <= r->posMask; i++) {
        const crPos *p = &r->pos[i];
        if (!p->key)
            continue;
        crMix64(&h, ((uint64_t)p->key << 32) | p->acct);
        crMix64(&h, ((uint64_t)p->book << 32));
        crMix64(&h, (uint64_t)p->frozenMargin);
        crMix(&h, &p->p, sizeof p->p); /* integers only, no padding */
    }
    for (uint32_t i = 0; i < CR_MAX_PARK; i++)
        crMix64(&h, r->park[i].used ? ((uint64_t)r->park[i].account << 1) | 1 : 0);
    for (uint32_t i = 0; i < r->nBooks; i++) {
        /* what instrument.update changed (rates, lots, the band) */
        const cfgInstrument *in = &r->ins[i];
        crMix64(&h, ((uint64_t)in->marginRate << 32) | in->commissionRate);
        crMix64(&h, (uint64_t)in->commissionPerLot);
        crMix64(&h, ((uint64_t)in->minLots << 32) | in->maxLots);
        crMix64(&h, (uint64_t)in->lowerTicks);
        crMix64(&h, (uint64_t)in->upperTicks);
    }
    return h;
}
