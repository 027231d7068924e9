/* crsnap.c -- the credit state (lines, positions, frozen amounts, parked orders, rates) as records.
 *
 * Every table entry is written with its slot (accounts, positions, parked
 * orders) or its gateway ref (orders), and restored to the same slot, so
 * the open-addressing tables, the orders' links to their account and
 * position slots and the park numbers the control core answers with are
 * exactly what they were: crStateHash and every later event are equal. */
#include "dataplane/crsnap.h"
#include "dataplane/cr_int.h"

_Static_assert(sizeof(crStats) % sizeof(uint64_t) == 0, "crStats is written as u64s");

#define CR_STATS_N (sizeof(crStats) / sizeof(uint64_t))

/* ---- snapshot ----------------------------------------------------------------- */

static void crPutSide(snapBuf *b, const posSide *s)
{
    sbU32(b, s->today);
    sbU32(b, s->yd);
    sbU32(b, s->frozenToday);
    sbU32(b, s->frozenYd);
    sbU64(b, (uint64_t)s->openCostToday);
    sbU64(b, (uint64_t)s->openCostYd);
    sbU64(b, (uint64_t)s->posCostToday);
    sbU64(b, (uint64_t)s->posCostYd);
    sbU64(b, (uint64_t)s->marginToday);
    sbU64(b, (uint64_t)s->marginYd);
}

static int crSnapHeader(const crRisk *r, snapOut *o)
{
    uint32_t nOrd = 0, nPark = 0;
    for (uint32_t i = 0; i < r->refCap; i++)
        nOrd += r->ord[i].live != 0;
    for (uint32_t i = 0; i < CR_MAX_PARK; i++)
        nPark += r->park[i].used != 0;
    soBegin(o, SNAP_CREDIT);
    sbU32(&o->v, r->accMask + 1);
    sbU32(&o->v, r->posMask + 1);
    sbU32(&o->v, r->refCap);
    sbU16(&o->v, r->nBooks);
    sbU32(&o->v, r->accCount);
    sbU32(&o->v, r->posCount);
    sbU32(&o->v, nOrd);
    sbU32(&o->v, nPark);
    sbU16(&o->v, (uint16_t)CR_STATS_N);
    uint64_t st[CR_STATS_N];
    memcpy(st, &r->stats, sizeof st);
    for (size_t i = 0; i < CR_STATS_N; i++)
        sbU64(&o->v, st[i]);
    return soPut(o);
}

static int crSnapInstruments(const crRisk *r, snapOut *o)
{
    for (uint16_t b = 0; b < r->nBooks; b++) {
        const cfgInstrument *in = &r->ins[b];
        soBegin(o, SNAP_CR_INSTRUMENT);
        sbU16(&o->k, b);
        sbU32(&o->v, in->marginRate);
        sbU32(&o->v, in->commissionRate);
        sbU64(&o->v, (uint64_t)in->commissionPerLot);
        sbU32(&o->v, in->minLots);
        sbU32(&o->v, in->maxLots);
        if (soPut(o))
            return -1;
    }
    return 0;
}

/* The tables are sized for the most accounts and positions a day may
 * bring: the scans stop once every entry counted is written. */
static int crSnapAccounts(const crRisk *r, snapOut *o)
{
    for (uint32_t i = 0, n = 0; i <= r->accMask && n < r->accCount; i++) {
        const crAccount *a = &r->acc[i];
        if (!a->id)
            continue;
        n++;
        soBegin(o, SNAP_CR_ACCOUNT);
        sbU32(&o->k, i);
        sbU32(&o->v, a->id);
        sbU8(&o->v, a->frozen);
        sbU8(&o->v, a->blocked);
        sbU64(&o->v, (uint64_t)a->credit);
        sbU64(&o->v, (uint64_t)a->concCap);
        if (soPut(o))
            return -1;
    }
    return 0;
}

static int crSnapPositions(const crRisk *r, snapOut *o)
{
    for (uint32_t i = 0, n = 0; i <= r->posMask && n < r->posCount; i++) {
        const crPos *p = &r->pos[i];
        if (!p->key)
            continue;
        n++;
        soBegin(o, SNAP_CR_POSITION);
        sbU32(&o->k, i);
        sbU32(&o->v, p->acct);
        sbU16(&o->v, p->book);
        sbU64(&o->v, (uint64_t)p->frozenMargin);
        crPutSide(&o->v, &p->p.side[0]);
        crPutSide(&o->v, &p->p.side[1]);
        if (soPut(o))
            return -1;
    }
    return 0;
}

static int crSnapOrders(const crRisk *r, snapOut *o)
{
    for (uint32_t i = 0; i < r->refCap; i++) {
        const crOrder *c = &r->ord[i];
        if (!c->live)
            continue;
        soBegin(o, SNAP_CR_ORDER);
        sbU32(&o->k, i);
        sbU8(&o->v, c->side);
        sbU8(&o->v, c->offset);
        sbU8(&o->v, c->priceType);
        sbU16(&o->v, c->book);
        sbU32(&o->v, c->acct);
        sbU32(&o->v, c->pos);
        sbU32(&o->v, c->leaves);
        sbU32(&o->v, c->frozenToday);
        sbU32(&o->v, c->frozenYd);
        sbU64(&o->v, (uint64_t)c->price);
        sbU64(&o->v, (uint64_t)c->frozenMargin);
        sbU64(&o->v, (uint64_t)c->frozenCommission);
        sbU64(&o->v, c->orderId);
        if (soPut(o))
            return -1;
    }
    return 0;
}

static int crSnapParked(const crRisk *r, snapOut *o)
{
    for (uint32_t i = 0; i < CR_MAX_PARK; i++) {
        const crPark *p = &r->park[i];
        if (!p->used)
            continue;
        soBegin(o, SNAP_CR_PARK);
        sbU16(&o->k, (uint16_t)i);
        sbU32(&o->v, p->account);
        sbU32(&o->v, p->po.session);
        sbPut(&o->v, &p->po.order, sizeof p->po.order); /* the XOE wire struct, as received */
        if (soPut(o))
            return -1;
    }
    return 0;
}

int crSnapshotTo(const crRisk *r, snapOut *o)
{
    if (crSnapHeader(r, o) || crSnapInstruments(r, o) || crSnapAccounts(r, o) ||
        crSnapPositions(r, o) || crSnapOrders(r, o) || crSnapParked(r, o))
        return -1;
    return 0;
}

/* ---- restore -------------------------------------------------------------------- */

static void crGetSide(snapRd *rd, posSide *s)
{
    s->today = srU32(rd);
    s->yd = srU32(rd);
    s->frozenToday = srU32(rd);
    s->frozenYd = srU32(rd);
    s->openCostToday = (int64_t)srU64(rd);
    s->openCostYd = (int64_t)srU64(rd);
    s->posCostToday = (int64_t)srU64(rd);
    s->posCostYd = (int64_t)srU64(rd);
    s->marginToday = (int64_t)srU64(rd);
    s->marginYd = (int64_t)srU64(rd);
}

static int crRestoreHeader(crRisk *r, crRestoreState *st, snapRd *v, char *why)
{
    const uint32_t accSlots = srU32(v), posSlots = srU32(v), refCap = srU32(v);
    const uint16_t nBooks = srU16(v);
    st->declAcc = srU32(v);
    st->declPos = srU32(v);
    st->declOrd = srU32(v);
    st->declPark = srU32(v);
    const uint16_t nStats = srU16(v);
    uint64_t stats[CR_STATS_N];
    for (size_t i = 0; i < CR_STATS_N && i < nStats; i++)
        stats[i] = srU64(v);
    if (!srDone(v) || nStats != CR_STATS_N)
        return snapFail(why, "value of %zu bytes does not match this version's layout", v->n);
    if (accSlots != r->accMask + 1 || posSlots != r->posMask + 1 || refCap != r->refCap ||
        nBooks != r->nBooks)
        return snapFail(why,
                        "credit tables differ: snapshot %u/%u/%u/%u (accounts/positions/refs/"
                        "books), this segment %u/%u/%u/%u",
                        accSlots, posSlots, refCap, nBooks, r->accMask + 1, r->posMask + 1,
                        r->refCap, r->nBooks);
    if (st->declAcc > r->accMax || st->declPos > r->posMax || st->declOrd > r->refCap ||
        st->declPark > CR_MAX_PARK)
        return snapFail(why, "counts %u/%u/%u/%u exceed this segment's tables", st->declAcc,
                        st->declPos, st->declOrd, st->declPark);
    memcpy(&r->stats, stats, sizeof r->stats);
    st->header = 1;
    return 0;
}

static int crRestoreInstrument(crRisk *r, crRestoreState *st, snapRd *k, snapRd *v, char *why)
{
    const uint16_t b = srU16(k);
    const uint32_t margin = srU32(v), comm = srU32(v);
    const int64_t perLot = (int64_t)srU64(v);
    const uint32_t minLots = srU32(v), maxLots = srU32(v);
    if (!srDone(k) || !srDone(v))
        return snapFail(why, "truncated or overlong record");
    if (b >= r->nBooks)
        return snapFail(why, "book %u outside the segment's %u", b, r->nBooks);
    cfgInstrument *in = &r->ins[b];
    in->marginRate = margin;
    in->commissionRate = comm;
    in->commissionPerLot = perLot;
    in->minLots = minLots;
    in->maxLots = maxLots;
    st->ins++;
    return 0;
}

static int crRestoreAccount(crRisk *r, crRestoreState *st, snapRd *k, snapRd *v, char *why)
{
    const uint32_t slot = srU32(k);
    crAccount a = {0};
    a.id = srU32(v);
    a.frozen = srU8(v);
    a.blocked = srU8(v);
    a.credit = (int64_t)srU64(v);
    a.concCap = (int64_t)srU64(v);
    if (!srDone(k) || !srDone(v))
        return snapFail(why, "truncated or overlong record");
    if (slot > r->accMask || a.id == 0 || a.frozen > 1 || a.blocked > 1)
        return snapFail(why, "slot %u or account id %u invalid", slot, a.id);
    if (st->acc >= st->declAcc)
        return snapFail(why, "more accounts than the %u declared", st->declAcc);
    if (crAccountExists(r, a.id))
        return snapFail(why, "account %u given twice", a.id);
    r->acc[slot] = a;
    r->accCount++;
    st->acc++;
    return 0;
}

static int crRestorePosition(crRisk *r, crRestoreState *st, snapRd *k, snapRd *v, char *why)
{
    const uint32_t slot = srU32(k);
    crPos p = {0};
    p.acct = srU32(v);
    p.book = srU16(v);
    p.frozenMargin = (int64_t)srU64(v);
    crGetSide(v, &p.p.side[0]);
    crGetSide(v, &p.p.side[1]);
    if (!srDone(k) || !srDone(v))
        return snapFail(why, "truncated or overlong record");
    if (slot > r->posMask || p.acct > r->accMask || p.book >= r->nBooks || p.book >= 4096)
        return snapFail(why, "slot %u, account slot %u or book %u invalid", slot, p.acct, p.book);
    if (st->pos >= st->declPos)
        return snapFail(why, "more positions than the %u declared", st->declPos);
    p.key = (p.acct << 12 | p.book) + 1;
    r->pos[slot] = p;
    r->posCount++;
    st->pos++;
    return 0;
}

static int crRestoreOrder(crRisk *r, crRestoreState *st, snapRd *k, snapRd *v, char *why)
{
    const uint32_t ref = srU32(k);
    crOrder c = {.live = 1};
    c.side = srU8(v);
    c.offset = srU8(v);
    c.priceType = srU8(v);
    c.book = srU16(v);
    c.acct = srU32(v);
    c.pos = srU32(v);
    c.leaves = srU32(v);
    c.frozenToday = srU32(v);
    c.frozenYd = srU32(v);
    c.price = (int64_t)srU64(v);
    c.frozenMargin = (int64_t)srU64(v);
    c.frozenCommission = (int64_t)srU64(v);
    c.orderId = srU64(v);
    if (!srDone(k) || !srDone(v))
        return snapFail(why, "truncated or overlong record");
    if (ref >= r->refCap || c.side > 1 || c.book >= r->nBooks || c.acct > r->accMask ||
        c.pos > r->posMask)
        return snapFail(why, "ref %u, side, book %u, account slot %u or position slot %u invalid",
                        ref, c.book, c.acct, c.pos);
    if (st->ord >= st->declOrd)
        return snapFail(why, "more orders than the %u declared", st->declOrd);
    r->ord[ref] = c;
    st->ord++;
    return 0;
}

static int crRestorePark(crRisk *r, crRestoreState *st, snapRd *k, snapRd *v, char *why)
{
    const uint16_t slot = srU16(k);
    crPark p = {.used = 1};
    p.account = srU32(v);
    p.po.session = srU32(v);
    srBytes(v, &p.po.order, sizeof p.po.order);
    if (!srDone(k) || !srDone(v))
        return snapFail(why, "truncated or overlong record");
    if (slot >= CR_MAX_PARK)
        return snapFail(why, "park slot %u beyond %u", slot, CR_MAX_PARK);
    if (st->park >= st->declPark)
        return snapFail(why, "more parked orders than the %u declared", st->declPark);
    r->park[slot] = p;
    st->park++;
    return 0;
}

int crRestoreRecord(crRisk *r, crRestoreState *st, const uint8_t *key, size_t klen,
                    const uint8_t *val, size_t vlen, char *why)
{
    snapRd k = srOf(key + 1, klen - 1), v = srOf(val, vlen);
    if (key[0] == SNAP_CREDIT) {
        if (!srDone(&k))
            return snapFail(why, "key has %zu extra bytes", k.n);
        return crRestoreHeader(r, st, &v, why);
    }
    if (!st->header)
        return snapFail(why, "credit record before the credit header");
    switch (key[0]) {
    case SNAP_CR_INSTRUMENT:
        return crRestoreInstrument(r, st, &k, &v, why);
    case SNAP_CR_ACCOUNT:
        return crRestoreAccount(r, st, &k, &v, why);
    case SNAP_CR_POSITION:
        return crRestorePosition(r, st, &k, &v, why);
    case SNAP_CR_ORDER:
        return crRestoreOrder(r, st, &k, &v, why);
    case SNAP_CR_PARK:
        return crRestorePark(r, st, &k, &v, why);
    default:
        return snapFail(why, "not a credit record");
    }
}

int crRestoreFinish(const crRisk *r, const crRestoreState *st, char *why)
{
    if (!st->header)
        return snapFail(why, "credit header missing");
    if (st->acc != st->declAcc || st->pos != st->declPos || st->ord != st->declOrd ||
        st->park != st->declPark || st->ins != r->nBooks)
        return snapFail(why,
                        "credit counts do not match: accounts %u/%u, positions %u/%u, orders "
                        "%u/%u, parked %u/%u, instruments %u/%u (got/declared)",
                        st->acc, st->declAcc, st->pos, st->declPos, st->ord, st->declOrd, st->park,
                        st->declPark, st->ins, r->nBooks);
    return 0;
}
