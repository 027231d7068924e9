/* test_matcher_diff.c -- randomized differential test of the matcher.
 *
 * A deliberately simple reference matcher, written from docs/matcher.md
 * alone, runs next to the real engine (matcher/matcher.c). A seeded random
 * driver feeds both the same calls; after every call the return codes and
 * the event streams are compared event by event and field by field (never
 * whole structs: padding and union bytes are unspecified), and the queries
 * (mtEngineState, mtEngineOrderGet, mtEngineDepth, mtEngineForEachOrder,
 * mtEngineGetStats) are compared with the reference book regularly.
 *
 * The reference keeps, per instrument and side, one array of resting orders
 * sorted in priority order (index 0 is the best order: best price, then
 * arrival). Every operation is a linear walk or a memmove over that array.
 *
 * Runs: one per STP policy, one with a 48-order pool (4002 rejects), each
 * over six instruments (40-tick band, 2000-tick band, lots 5..40, uint32
 * quantities, a one-tick band, a band ending at INT64_MAX) and four accounts.
 * test_coverage then asserts that every event type, cancel reason, reject
 * code and the scenarios counted in gCov occurred. test_edge_reference_price
 * is a directed script (reference prices far outside the band) through the
 * same comparison.
 *
 * Environment:
 *   XCHG_DIFF_SEED     base seed (decimal or 0x hex); printed at the start
 *   XCHG_DIFF_OPS      total operations over all runs (default 6,000,000;
 *                      coverage is asserted from 200,000 on)
 *   XCHG_DIFF_VERBOSE  1: print every operation and the reference's events
 *
 * On the first mismatch the seed, run, operation number, the operation, the
 * last operations before it and both event streams are printed. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "matcher/matcher.h"

#define SEQ_MASK  ((UINT64_C(1) << 56) - 1)
#define N_EVTYPES 10 /* event types are 1..9 */
#define N_REASONS 6

/* ------------------------------------------------------------------------ */
/* small helpers                                                             */

static void *xrealloc(void *p, size_t bytes)
{
    void *q = realloc(p, bytes ? bytes : 1);
    if (!q) {
        fprintf(stderr, "test_matcher_diff: out of memory\n");
        abort();
    }
    return q;
}

typedef struct {
    mtEvent *v;
    size_t n, cap;
} EvVec;

static void evPush(EvVec *ev, const mtEvent *e)
{
    if (ev->n == ev->cap) {
        ev->cap = ev->cap ? ev->cap * 2 : 256;
        ev->v = xrealloc(ev->v, ev->cap * sizeof *ev->v);
    }
    ev->v[ev->n++] = *e;
}

static mtEvent evMake(uint8_t type, uint16_t instrument)
{
    mtEvent e;
    memset(&e, 0, sizeof e);
    e.type = type;
    e.instrument = instrument;
    return e;
}

/* splitmix64 */
static uint64_t rngNext(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/* ------------------------------------------------------------------------ */
/* scenario counters: how often the workload reached the doc's rules; they
 * play no part in the reference's results */

enum {
    COV_AUCTION_BY_VOLUME,    /* one price has the largest paired volume */
    COV_AUCTION_BY_IMBALANCE, /* ... tie broken by the smaller imbalance */
    COV_AUCTION_BY_REFERENCE, /* ... then by the distance to the reference */
    COV_AUCTION_BY_LOWER,     /* ... then by the lower price */
    COV_AUCTION_NONE,         /* nothing crosses */
    COV_AUCTION_REF_OUTSIDE,  /* decided by a reference price outside the band */
    COV_UNCROSS_BOTH_EMPTIED, /* one auction fill emptied a bid and an ask level */
    COV_UNCROSS_PARTIAL_BID,  /* partly consumed bid level at the end */
    COV_UNCROSS_PARTIAL_ASK,
    COV_MATCH_MULTI_LEVEL,   /* an incoming order traded at two levels or more */
    COV_STP_STOP_TRADED,     /* STP stopped matching at a level where it traded */
    COV_STP_STOP_FRESH,      /* STP stopped matching at a level it had not touched */
    COV_STP_RESTING_GOES_ON, /* CANCEL_RESTING cancelled one and the order traded on */
    COV_FOK_FILLED,          /* volume condition ALL passed */
    COV_MIN_RESTS,           /* volume condition MIN passed, remainder rests */
    COV_MARKET_NOT_IOC,      /* market GFD/GTC order, remainder cancelled IOC */
    COV_REPLACE_SMALLER,
    COV_REPLACE_LARGER,
    COV_REPLACE_EQUAL,
    COV_REPLACE_TRADES,     /* new price traded in CONTINUOUS */
    COV_REPLACE_STP,        /* ... and self-trade prevention cancelled it */
    COV_REPLACE_PRE_OPEN,   /* new price in PRE_OPEN */
    COV_EXPIRE_GTC_STAYS,   /* a level lost GFD orders and kept GTC ones */
    COV_CANCEL_ANY_ACCOUNT, /* cancel with MT_ANY_ACCOUNT */
    COV_N
};

static const char *const kCovName[COV_N] = {
    "auction-by-volume",    "auction-by-imbalance", "auction-by-reference",
    "auction-by-lower",     "auction-none",         "auction-ref-outside",
    "uncross-both-emptied", "uncross-partial-bid",  "uncross-partial-ask",
    "match-multi-level",    "stp-stop-traded",      "stp-stop-fresh",
    "stp-resting-goes-on",  "fok-filled",           "min-rests",
    "market-not-ioc",       "replace-smaller",      "replace-larger",
    "replace-equal",        "replace-trades",       "replace-stp",
    "replace-pre-open",     "expire-gtc-stays",     "cancel-any-account"};

static uint64_t gCov[COV_N];

/* ------------------------------------------------------------------------ */
/* the reference matcher                                                     */

typedef struct {
    uint64_t id, userRef;
    int64_t price;
    uint32_t account, qty, leaves; /* qty: total quantity, leaves: open */
    uint8_t side, tc;
} ROrder;

typedef struct {
    ROrder *v; /* priority order: v[0] is the best */
    size_t n, cap;
} RSide;

typedef struct {
    int defined;
    mtBookConfig bc;
    int64_t refPrice;
    int state;
    RSide book[2];
} RInst;

typedef struct {
    uint8_t live, side;
    uint16_t inst;
} RSlot; /* per order seq: where a live order is */

typedef struct {
    uint8_t seg;
    uint32_t capacity;
    uint16_t maxInst;
    mtStpPolicy stp;
    uint64_t nextOrderSeq, nextTradeSeq;
    uint32_t resting;
    uint64_t accepted, fills;
    RInst *inst;
    RSlot *slot;
    size_t slotCap;
    EvVec *out;
} Ref;

static void refInit(Ref *r, uint8_t seg, uint32_t capacity, uint16_t maxInst, mtStpPolicy stp,
                    EvVec *out)
{
    memset(r, 0, sizeof *r);
    r->seg = seg;
    r->capacity = capacity;
    r->maxInst = maxInst;
    r->stp = stp;
    r->nextOrderSeq = 1;
    r->nextTradeSeq = 1;
    r->inst = xrealloc(NULL, maxInst * sizeof *r->inst);
    memset(r->inst, 0, maxInst * sizeof *r->inst);
    r->out = out;
}

static void refFree(Ref *r)
{
    for (uint32_t i = 0; i < r->maxInst; i++) {
        free(r->inst[i].book[0].v);
        free(r->inst[i].book[1].v);
    }
    free(r->inst);
    free(r->slot);
    memset(r, 0, sizeof *r);
}

static int refAddInstrument(Ref *r, uint16_t ii, const mtBookConfig *bc)
{
    if (ii >= r->maxInst || r->inst[ii].defined || bc->lowerPrice < 1 ||
        bc->lowerPrice > bc->upperPrice || bc->minLots > bc->maxLots)
        return MT_ERR_INVALID_PARAMS;
    r->inst[ii].defined = 1;
    r->inst[ii].bc = *bc;
    r->inst[ii].refPrice = bc->referencePrice;
    r->inst[ii].state = MT_STATE_CLOSED;
    return MT_OK;
}

static int refDefined(const Ref *r, uint16_t ii)
{
    return ii < r->maxInst && r->inst[ii].defined;
}

/* a resting order at level price `lvl` crosses an incoming limit `limit` */
static int crosses(uint8_t side, int64_t limit, int64_t lvl)
{
    return side == MT_BUY ? lvl <= limit : lvl >= limit;
}

/* price a is strictly worse than price b for a resting order of `side` */
static int worse(uint8_t side, int64_t a, int64_t b)
{
    return side == MT_BUY ? a < b : a > b;
}

static RSlot *refSlot(Ref *r, uint64_t seq)
{
    if (seq >= r->slotCap) {
        size_t nc = r->slotCap ? r->slotCap : 1024;
        while (nc <= seq)
            nc *= 2;
        r->slot = xrealloc(r->slot, nc * sizeof *r->slot);
        memset(r->slot + r->slotCap, 0, (nc - r->slotCap) * sizeof *r->slot);
        r->slotCap = nc;
    }
    return &r->slot[seq];
}

/* Puts an order at the tail of its price level. */
static void refRest(Ref *r, uint16_t ii, const ROrder *o)
{
    RSide *s = &r->inst[ii].book[o->side];
    size_t i = 0;
    while (i < s->n && !worse(o->side, s->v[i].price, o->price))
        i++;
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 64;
        s->v = xrealloc(s->v, s->cap * sizeof *s->v);
    }
    memmove(&s->v[i + 1], &s->v[i], (s->n - i) * sizeof *s->v);
    s->v[i] = *o;
    s->n++;
    RSlot *sl = refSlot(r, o->id & SEQ_MASK);
    sl->live = 1;
    sl->side = o->side;
    sl->inst = ii;
    r->resting++;
}

static void refRemoveAt(Ref *r, uint16_t ii, uint8_t side, size_t i)
{
    RSide *s = &r->inst[ii].book[side];
    refSlot(r, s->v[i].id & SEQ_MASK)->live = 0;
    memmove(&s->v[i], &s->v[i + 1], (s->n - i - 1) * sizeof *s->v);
    s->n--;
    r->resting--;
}

static uint64_t refLevelQty(const RSide *s, int64_t price)
{
    uint64_t q = 0;
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i].price == price)
            q += s->v[i].leaves;
    return q;
}

static void refEmitLevel(Ref *r, uint16_t ii, uint8_t side, int64_t price)
{
    mtEvent e = evMake(MT_EV_LEVEL, ii);
    e.u.level.side = side;
    e.u.level.price = price;
    e.u.level.qty = refLevelQty(&r->inst[ii].book[side], price);
    evPush(r->out, &e);
}

static void refEmitCancel(Ref *r, uint16_t ii, const ROrder *o, uint8_t reason)
{
    mtEvent e = evMake(MT_EV_CANCELLED, ii);
    e.u.cancelled.orderId = o->id;
    e.u.cancelled.userRef = o->userRef;
    e.u.cancelled.account = o->account;
    e.u.cancelled.qty = o->leaves;
    e.u.cancelled.side = o->side;
    e.u.cancelled.reason = reason;
    evPush(r->out, &e);
}

static int refReject(Ref *r, uint16_t ii, uint64_t orderId, uint64_t userRef, int code, uint8_t op)
{
    mtEvent e = evMake(MT_EV_REJECTED, ii);
    e.u.rejected.orderId = orderId;
    e.u.rejected.userRef = userRef;
    e.u.rejected.code = (uint16_t)code;
    e.u.rejected.op = op;
    evPush(r->out, &e);
    return code;
}

static void refEmitFill(Ref *r, uint16_t ii, int64_t price, uint32_t qty, uint8_t aggressor,
                        const ROrder *buy, const ROrder *sell)
{
    mtEvent e = evMake(MT_EV_FILL, ii);
    e.u.fill.tradeId = ((uint64_t)r->seg << 56) | r->nextTradeSeq++;
    e.u.fill.price = price;
    e.u.fill.qty = qty;
    e.u.fill.aggressor = aggressor;
    e.u.fill.orderId[0] = buy->id;
    e.u.fill.orderId[1] = sell->id;
    e.u.fill.userRef[0] = buy->userRef;
    e.u.fill.userRef[1] = sell->userRef;
    e.u.fill.account[0] = buy->account;
    e.u.fill.account[1] = sell->account;
    e.u.fill.leaves[0] = buy->leaves;
    e.u.fill.leaves[1] = sell->leaves;
    evPush(r->out, &e);
    r->fills++;
}

/* Feasibility walk (doc: "A new order in CONTINUOUS", step 2). */
static uint64_t refAvailable(const Ref *r, uint16_t ii, const ROrder *in, int market)
{
    const RSide *opp = &r->inst[ii].book[!in->side];
    uint64_t sum = 0;
    for (size_t i = 0; i < opp->n; i++) {
        const ROrder *ro = &opp->v[i];
        if (!market && !crosses(in->side, in->price, ro->price))
            break;
        if (r->stp != MT_STP_NONE && ro->account == in->account) {
            if (r->stp == MT_STP_CANCEL_RESTING)
                continue;
            break;
        }
        sum += ro->leaves;
    }
    return sum;
}

/* Matching (step 3). Returns 1 when self-trade prevention stopped it. */
static int refMatch(Ref *r, uint16_t ii, ROrder *in, int market)
{
    uint8_t oside = (uint8_t)!in->side;
    RSide *opp = &r->inst[ii].book[oside];
    int stopped = 0, levels = 0, stpCancels = 0;
    while (in->leaves > 0 && opp->n > 0 && !stopped) {
        int64_t lp = opp->v[0].price;
        int touched = 0;
        if (!market && !crosses(in->side, in->price, lp))
            break;
        while (in->leaves > 0 && opp->n > 0 && opp->v[0].price == lp) {
            ROrder *ro = &opp->v[0];
            if (r->stp != MT_STP_NONE && ro->account == in->account) {
                if (r->stp == MT_STP_CANCEL_INCOMING) {
                    stopped = 1;
                    break;
                }
                refEmitCancel(r, ii, ro, MT_CXL_SELF_TRADE);
                refRemoveAt(r, ii, oside, 0);
                touched = 1;
                stpCancels++;
                if (r->stp == MT_STP_CANCEL_BOTH) {
                    stopped = 1;
                    break;
                }
                continue;
            }
            uint32_t q = in->leaves < ro->leaves ? in->leaves : ro->leaves;
            in->leaves -= q;
            ro->leaves -= q;
            if (in->side == MT_BUY)
                refEmitFill(r, ii, ro->price, q, in->side, in, ro);
            else
                refEmitFill(r, ii, ro->price, q, in->side, ro, in);
            touched = 1;
            if (stpCancels && r->stp == MT_STP_CANCEL_RESTING)
                gCov[COV_STP_RESTING_GOES_ON]++;
            if (ro->leaves == 0)
                refRemoveAt(r, ii, oside, 0);
        }
        if (touched) {
            refEmitLevel(r, ii, oside, lp);
            levels++;
        }
        if (stopped)
            gCov[touched ? COV_STP_STOP_TRADED : COV_STP_STOP_FRESH]++;
    }
    if (levels >= 2)
        gCov[COV_MATCH_MULTI_LEVEL]++;
    return stopped;
}

/* Step 4 for an order that was matched (or could have been). */
static void refRemainder(Ref *r, uint16_t ii, ROrder *in, int stopped, int neverRests)
{
    if (in->leaves == 0)
        return;
    if (stopped) {
        refEmitCancel(r, ii, in, MT_CXL_SELF_TRADE);
    } else if (neverRests) {
        refEmitCancel(r, ii, in, MT_CXL_IOC);
    } else {
        refRest(r, ii, in);
        refEmitLevel(r, ii, in->side, in->price);
    }
}

static int refNewOrder(Ref *r, const mtNewOrder *o)
{
    uint16_t ii = o->instrument;
    if (!refDefined(r, ii))
        return refReject(r, ii, 0, o->userRef, MT_ERR_UNKNOWN_INSTRUMENT, MT_OP_NEW);
    RInst *I = &r->inst[ii];
    if (o->side > MT_SELL || o->priceType > MT_MARKET || o->timeCondition > MT_GTC ||
        o->volumeCondition > MT_VOL_ALL)
        return refReject(r, ii, 0, o->userRef, MT_ERR_INVALID_PARAMS, MT_OP_NEW);
    if (o->qty < I->bc.minLots || o->qty > I->bc.maxLots)
        return refReject(r, ii, 0, o->userRef, MT_ERR_INVALID_PARAMS, MT_OP_NEW);
    if (o->volumeCondition == MT_VOL_MIN && (o->minQty < 1 || o->minQty > o->qty))
        return refReject(r, ii, 0, o->userRef, MT_ERR_INVALID_PARAMS, MT_OP_NEW);
    if (o->priceType == MT_LIMIT && (o->price < I->bc.lowerPrice || o->price > I->bc.upperPrice))
        return refReject(r, ii, 0, o->userRef, MT_ERR_INVALID_PARAMS, MT_OP_NEW);
    int stateOk = 0;
    if (I->state == MT_STATE_CONTINUOUS)
        stateOk = 1;
    else if (I->state == MT_STATE_PRE_OPEN)
        stateOk = o->priceType == MT_LIMIT &&
                  (o->timeCondition == MT_GFD || o->timeCondition == MT_GTC) &&
                  o->volumeCondition == MT_VOL_ANY;
    if (!stateOk)
        return refReject(r, ii, 0, o->userRef, MT_ERR_STATE, MT_OP_NEW);
    if (r->resting >= r->capacity)
        return refReject(r, ii, 0, o->userRef, MT_ERR_POOL_FULL, MT_OP_NEW);

    int market = o->priceType == MT_MARKET;
    ROrder in;
    memset(&in, 0, sizeof in);
    in.id = ((uint64_t)r->seg << 56) | r->nextOrderSeq++;
    in.userRef = o->userRef;
    in.price = market ? 0 : o->price;
    in.account = o->account;
    in.qty = o->qty;
    in.leaves = o->qty;
    in.side = o->side;
    in.tc = o->timeCondition;
    r->accepted++;

    mtEvent e = evMake(MT_EV_ACCEPTED, ii);
    e.u.accepted.orderId = in.id;
    e.u.accepted.userRef = in.userRef;
    e.u.accepted.price = in.price;
    e.u.accepted.account = in.account;
    e.u.accepted.qty = in.qty;
    e.u.accepted.minQty = o->volumeCondition == MT_VOL_MIN ? o->minQty : 0;
    e.u.accepted.side = o->side;
    e.u.accepted.priceType = o->priceType;
    e.u.accepted.timeCondition = o->timeCondition;
    e.u.accepted.volumeCondition = o->volumeCondition;
    evPush(r->out, &e);

    if (I->state == MT_STATE_PRE_OPEN) {
        refRest(r, ii, &in);
        refEmitLevel(r, ii, in.side, in.price);
        return MT_OK;
    }
    if (o->volumeCondition != MT_VOL_ANY) {
        uint64_t need = o->volumeCondition == MT_VOL_ALL ? o->qty : o->minQty;
        if (refAvailable(r, ii, &in, market) < need) {
            refEmitCancel(r, ii, &in,
                          o->volumeCondition == MT_VOL_ALL ? MT_CXL_FOK : MT_CXL_MIN_QTY);
            return MT_OK;
        }
    }
    int stopped = refMatch(r, ii, &in, market);
    if (o->volumeCondition == MT_VOL_ALL)
        gCov[COV_FOK_FILLED]++;
    if (o->volumeCondition == MT_VOL_MIN && in.leaves > 0 && !stopped && !market &&
        o->timeCondition != MT_IOC)
        gCov[COV_MIN_RESTS]++;
    if (market && o->timeCondition != MT_IOC && in.leaves > 0 && !stopped)
        gCov[COV_MARKET_NOT_IOC]++;
    refRemainder(r, ii, &in, stopped, market || o->timeCondition == MT_IOC);
    return MT_OK;
}

/* Lookup for cancel and replace: MT_OK (and where the order is) when it is
 * live and owned, else the code. */
static int refLookup(Ref *r, uint64_t orderId, uint32_t account, uint16_t *ii, uint8_t *side,
                     size_t *idx)
{
    uint64_t seq = orderId & SEQ_MASK;
    if ((orderId >> 56) != r->seg || seq < 1 || seq >= r->nextOrderSeq)
        return MT_ERR_ORDER_NOT_FOUND;
    const RSlot *sl = refSlot(r, seq);
    if (!sl->live)
        return MT_ERR_NOT_CANCELLABLE;
    const RSide *s = &r->inst[sl->inst].book[sl->side];
    size_t i = 0;
    while (i < s->n && s->v[i].id != orderId)
        i++;
    assert_true(i < s->n); /* reference self-check */
    if (account != MT_ANY_ACCOUNT && account != s->v[i].account)
        return MT_ERR_ORDER_NOT_FOUND;
    *ii = sl->inst;
    *side = sl->side;
    *idx = i;
    return MT_OK;
}

static int refCancel(Ref *r, uint64_t orderId, uint32_t account, uint64_t userRef)
{
    uint16_t ii = 0;
    uint8_t side = 0;
    size_t i = 0;
    int rc = refLookup(r, orderId, account, &ii, &side, &i);
    if (rc != MT_OK)
        return refReject(r, 0, orderId, userRef, rc, MT_OP_CANCEL);
    ROrder o = r->inst[ii].book[side].v[i];
    if (account == MT_ANY_ACCOUNT)
        gCov[COV_CANCEL_ANY_ACCOUNT]++;
    refEmitCancel(r, ii, &o, MT_CXL_USER);
    refRemoveAt(r, ii, side, i);
    refEmitLevel(r, ii, side, o.price);
    return MT_OK;
}

static void refEmitReplaced(Ref *r, uint16_t ii, const ROrder *o, uint8_t kept)
{
    mtEvent e = evMake(MT_EV_REPLACED, ii);
    e.u.replaced.orderId = o->id;
    e.u.replaced.userRef = o->userRef;
    e.u.replaced.price = o->price;
    e.u.replaced.account = o->account;
    e.u.replaced.qty = o->qty;
    e.u.replaced.leaves = o->leaves;
    e.u.replaced.side = o->side;
    e.u.replaced.keptPriority = kept;
    evPush(r->out, &e);
}

static int refReplace(Ref *r, uint64_t orderId, uint32_t account, int64_t newPrice, uint32_t newQty,
                      uint64_t userRef)
{
    uint16_t ii = 0;
    uint8_t side = 0;
    size_t i = 0;
    int rc = refLookup(r, orderId, account, &ii, &side, &i);
    if (rc != MT_OK)
        return refReject(r, 0, orderId, userRef, rc, MT_OP_REPLACE);
    RInst *I = &r->inst[ii];
    ROrder *o = &I->book[side].v[i];
    if (I->state != MT_STATE_CONTINUOUS && I->state != MT_STATE_PRE_OPEN)
        return refReject(r, ii, orderId, userRef, MT_ERR_STATE, MT_OP_REPLACE);
    if (newQty < I->bc.minLots || newQty > I->bc.maxLots)
        return refReject(r, ii, orderId, userRef, MT_ERR_INVALID_PARAMS, MT_OP_REPLACE);
    if (newPrice < I->bc.lowerPrice || newPrice > I->bc.upperPrice)
        return refReject(r, ii, orderId, userRef, MT_ERR_INVALID_PARAMS, MT_OP_REPLACE);
    uint32_t filled = o->qty - o->leaves;
    if (newQty <= filled)
        return refReject(r, ii, orderId, userRef, MT_ERR_REPLACE, MT_OP_REPLACE);

    uint32_t newLeaves = newQty - filled;
    uint32_t oldLeaves = o->leaves;
    o->userRef = userRef;
    o->qty = newQty;
    o->leaves = newLeaves;
    if (newPrice == o->price) {
        ROrder copy = *o;
        if (newLeaves > oldLeaves) { /* to the tail of the level */
            refRemoveAt(r, ii, side, i);
            refRest(r, ii, &copy);
        }
        refEmitReplaced(r, ii, &copy, newLeaves <= oldLeaves);
        gCov[newLeaves < oldLeaves   ? COV_REPLACE_SMALLER
             : newLeaves > oldLeaves ? COV_REPLACE_LARGER
                                     : COV_REPLACE_EQUAL]++;
        if (newLeaves != oldLeaves)
            refEmitLevel(r, ii, side, copy.price);
        return MT_OK;
    }
    ROrder in = *o;
    int64_t oldPrice = o->price;
    refRemoveAt(r, ii, side, i);
    in.price = newPrice;
    refEmitReplaced(r, ii, &in, 0);
    refEmitLevel(r, ii, side, oldPrice);
    if (I->state == MT_STATE_CONTINUOUS) {
        uint64_t fills = r->fills;
        int stopped = refMatch(r, ii, &in, 0);
        if (r->fills != fills)
            gCov[COV_REPLACE_TRADES]++;
        if (stopped)
            gCov[COV_REPLACE_STP]++;
        refRemainder(r, ii, &in, stopped, 0);
    } else {
        gCov[COV_REPLACE_PRE_OPEN]++;
        refRest(r, ii, &in);
        refEmitLevel(r, ii, side, in.price);
    }
    return MT_OK;
}

/* The call auction over every tick of the band. */
static void refAuction(const Ref *r, uint16_t ii, mtAuction *a)
{
    const RInst *I = &r->inst[ii];
    int64_t lo = I->bc.lowerPrice;
    size_t w = (size_t)(I->bc.upperPrice - lo + 1);
    uint64_t *bidAt = xrealloc(NULL, w * sizeof *bidAt);
    uint64_t *askAt = xrealloc(NULL, w * sizeof *askAt);
    memset(bidAt, 0, w * sizeof *bidAt);
    memset(askAt, 0, w * sizeof *askAt);
    for (size_t i = 0; i < I->book[MT_BUY].n; i++)
        bidAt[I->book[MT_BUY].v[i].price - lo] += I->book[MT_BUY].v[i].leaves;
    for (size_t i = 0; i < I->book[MT_SELL].n; i++)
        askAt[I->book[MT_SELL].v[i].price - lo] += I->book[MT_SELL].v[i].leaves;
    /* B(p): bids at prices >= p (suffix sums); S(p): asks at <= p (prefix) */
    for (size_t i = w - 1; i-- > 0;)
        bidAt[i] += bidAt[i + 1];
    for (size_t i = 1; i < w; i++)
        askAt[i] += askAt[i - 1];
    uint64_t bestV = 0, bestImb = 0, bestDist = 0;
    size_t best = 0;
    for (size_t i = 0; i < w; i++) {
        int64_t p = lo + (int64_t)i;
        uint64_t B = bidAt[i], S = askAt[i];
        uint64_t V = B < S ? B : S;
        uint64_t imb = B > S ? B - S : S - B;
        uint64_t dist = p >= I->refPrice ? (uint64_t)p - (uint64_t)I->refPrice
                                         : (uint64_t)I->refPrice - (uint64_t)p;
        /* strict comparisons over ascending prices: the lower price wins ties */
        if (i == 0 || V > bestV || (V == bestV && imb < bestImb) ||
            (V == bestV && imb == bestImb && dist < bestDist)) {
            bestV = V;
            bestImb = imb;
            bestDist = dist;
            best = i;
        }
    }
    memset(a, 0, sizeof *a);
    a->imbalanceSide = MT_AGGRESSOR_NONE;
    if (bestV > 0) { /* which rule decided (coverage only) */
        unsigned nV = 0, nImb = 0, nDist = 0;
        for (size_t i = 0; i < w; i++) {
            int64_t p = lo + (int64_t)i;
            uint64_t B = bidAt[i], S = askAt[i];
            if ((B < S ? B : S) != bestV)
                continue;
            nV++;
            if ((B > S ? B - S : S - B) != bestImb)
                continue;
            nImb++;
            nDist += (p >= I->refPrice ? (uint64_t)p - (uint64_t)I->refPrice
                                       : (uint64_t)I->refPrice - (uint64_t)p) == bestDist;
        }
        if (nV > 1 && nImb > 1 &&
            (I->refPrice < I->bc.lowerPrice || I->refPrice > I->bc.upperPrice))
            gCov[COV_AUCTION_REF_OUTSIDE]++;
        gCov[nV == 1      ? COV_AUCTION_BY_VOLUME
             : nImb == 1  ? COV_AUCTION_BY_IMBALANCE
             : nDist == 1 ? COV_AUCTION_BY_REFERENCE
                          : COV_AUCTION_BY_LOWER]++;
    } else {
        gCov[COV_AUCTION_NONE]++;
    }
    if (bestV > 0) {
        a->price = lo + (int64_t)best;
        a->pairedQty = bestV;
        a->imbalanceQty = bestImb;
        if (bidAt[best] > askAt[best])
            a->imbalanceSide = MT_BUY;
        else if (askAt[best] > bidAt[best])
            a->imbalanceSide = MT_SELL;
    }
    free(bidAt);
    free(askAt);
}

static void refEmitAuction(Ref *r, uint16_t ii, uint8_t type, const mtAuction *a)
{
    mtEvent e = evMake(type, ii);
    e.u.auction = *a;
    evPush(r->out, &e);
}

static void refUncross(Ref *r, uint16_t ii)
{
    mtAuction a;
    refAuction(r, ii, &a);
    assert_true(a.pairedQty > 0); /* only called on a crossed book */
    refEmitAuction(r, ii, MT_EV_UNCROSS, &a);
    RSide *bids = &r->inst[ii].book[MT_BUY], *asks = &r->inst[ii].book[MT_SELL];
    uint64_t rem = a.pairedQty;
    int bidTouched = 0, askTouched = 0;
    int64_t bidLvl = 0, askLvl = 0;
    while (rem > 0) {
        assert_true(bids->n > 0 && asks->n > 0);
        ROrder *b = &bids->v[0], *s = &asks->v[0];
        assert_true(b->price >= a.price && s->price <= a.price);
        uint32_t q = b->leaves < s->leaves ? b->leaves : s->leaves;
        assert_true(q <= rem);
        b->leaves -= q;
        s->leaves -= q;
        rem -= q;
        bidLvl = b->price;
        askLvl = s->price;
        bidTouched = askTouched = 1;
        refEmitFill(r, ii, a.price, q, MT_AGGRESSOR_NONE, b, s);
        int bDone = b->leaves == 0, sDone = s->leaves == 0;
        if (bDone)
            refRemoveAt(r, ii, MT_BUY, 0);
        if (sDone)
            refRemoveAt(r, ii, MT_SELL, 0);
        if (bDone && sDone && refLevelQty(bids, bidLvl) == 0 && refLevelQty(asks, askLvl) == 0)
            gCov[COV_UNCROSS_BOTH_EMPTIED]++;
        if (bDone && refLevelQty(bids, bidLvl) == 0) {
            refEmitLevel(r, ii, MT_BUY, bidLvl);
            bidTouched = 0;
        }
        if (sDone && refLevelQty(asks, askLvl) == 0) {
            refEmitLevel(r, ii, MT_SELL, askLvl);
            askTouched = 0;
        }
    }
    if (bidTouched) {
        refEmitLevel(r, ii, MT_BUY, bidLvl);
        gCov[COV_UNCROSS_PARTIAL_BID]++;
    }
    if (askTouched) {
        refEmitLevel(r, ii, MT_SELL, askLvl);
        gCov[COV_UNCROSS_PARTIAL_ASK]++;
    }
}

static void refExpire(Ref *r, uint16_t ii)
{
    for (uint8_t side = 0; side < 2; side++) {
        RSide *s = &r->inst[ii].book[side];
        size_t i = 0;
        while (i < s->n) {
            int64_t p = s->v[i].price;
            int changed = 0;
            while (i < s->n && s->v[i].price == p) {
                if (s->v[i].tc == MT_GFD) {
                    refEmitCancel(r, ii, &s->v[i], MT_CXL_EXPIRED);
                    refRemoveAt(r, ii, side, i);
                    changed = 1;
                } else {
                    i++;
                }
            }
            if (changed) {
                refEmitLevel(r, ii, side, p);
                if (refLevelQty(s, p) > 0)
                    gCov[COV_EXPIRE_GTC_STAYS]++;
            }
        }
    }
}

static int refCrossed(const Ref *r, uint16_t ii)
{
    const RInst *I = &r->inst[ii];
    return I->book[MT_BUY].n > 0 && I->book[MT_SELL].n > 0 &&
           I->book[MT_BUY].v[0].price >= I->book[MT_SELL].v[0].price;
}

static int refSetState(Ref *r, uint16_t ii, int state)
{
    if (!refDefined(r, ii))
        return MT_ERR_UNKNOWN_INSTRUMENT;
    if (state < MT_STATE_CLOSED || state > MT_STATE_HALTED)
        return MT_ERR_INVALID_PARAMS;
    RInst *I = &r->inst[ii];
    if (state == I->state)
        return MT_OK;
    mtEvent e = evMake(MT_EV_STATE, ii);
    e.u.state.state = (uint8_t)state;
    e.u.state.previous = (uint8_t)I->state;
    evPush(r->out, &e);
    I->state = state;
    if (state == MT_STATE_CONTINUOUS && refCrossed(r, ii))
        refUncross(r, ii);
    if (state == MT_STATE_CLOSED)
        refExpire(r, ii);
    return MT_OK;
}

static int refIndicate(Ref *r, uint16_t ii, mtAuction *out)
{
    if (!refDefined(r, ii))
        return MT_ERR_UNKNOWN_INSTRUMENT;
    refAuction(r, ii, out);
    refEmitAuction(r, ii, MT_EV_IMBALANCE, out);
    return MT_OK;
}

static int refSetReferencePrice(Ref *r, uint16_t ii, int64_t price)
{
    if (!refDefined(r, ii))
        return MT_ERR_UNKNOWN_INSTRUMENT;
    r->inst[ii].refPrice = price;
    return MT_OK;
}

static void refOrderInfo(const ROrder *o, uint16_t ii, mtOrderInfo *out)
{
    memset(out, 0, sizeof *out);
    out->orderId = o->id;
    out->userRef = o->userRef;
    out->price = o->price;
    out->account = o->account;
    out->qty = o->qty;
    out->leaves = o->leaves;
    out->instrument = ii;
    out->side = o->side;
    out->timeCondition = o->tc;
}

static int refOrderGet(Ref *r, uint64_t orderId, mtOrderInfo *out)
{
    uint16_t ii = 0;
    uint8_t side = 0;
    size_t i = 0;
    if (refLookup(r, orderId, MT_ANY_ACCOUNT, &ii, &side, &i) != MT_OK)
        return MT_ERR_ORDER_NOT_FOUND;
    refOrderInfo(&r->inst[ii].book[side].v[i], ii, out);
    return MT_OK;
}

static uint32_t refDepth(const Ref *r, uint16_t ii, uint8_t side, mtDepthLevel *out, uint32_t n)
{
    if (!refDefined(r, ii))
        return 0;
    const RSide *s = &r->inst[ii].book[side];
    uint32_t k = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (k > 0 && out[k - 1].price == s->v[i].price) {
            out[k - 1].qty += s->v[i].leaves;
            continue;
        }
        if (k == n)
            break;
        out[k].price = s->v[i].price;
        out[k].qty = s->v[i].leaves;
        k++;
    }
    return k;
}

/* ------------------------------------------------------------------------ */
/* event printing and comparison                                             */

static const char *evTypeName(unsigned t)
{
    static const char *const names[N_EVTYPES] = {"?",         "ACCEPTED", "REJECTED", "FILL",
                                                 "CANCELLED", "REPLACED", "LEVEL",    "STATE",
                                                 "IMBALANCE", "UNCROSS"};
    return t < N_EVTYPES ? names[t] : "?";
}

static const char *reasonName(unsigned r)
{
    static const char *const names[N_REASONS] = {"USER",    "IOC",        "FOK",
                                                 "MIN_QTY", "SELF_TRADE", "EXPIRED"};
    return r < N_REASONS ? names[r] : "?";
}

static const char *stateName(unsigned s)
{
    static const char *const names[4] = {"CLOSED", "PRE_OPEN", "CONTINUOUS", "HALTED"};
    return s < 4 ? names[s] : "?";
}

static const char *sideName(unsigned s)
{
    return s == MT_BUY ? "BUY" : s == MT_SELL ? "SELL" : s == MT_AGGRESSOR_NONE ? "NONE" : "?";
}

/* "seg:seq" */
static const char *idStr(char *buf, uint64_t id)
{
    snprintf(buf, 32, "%u:%" PRIu64, (unsigned)(id >> 56), id & SEQ_MASK);
    return buf;
}

static void evPrint(FILE *f, const mtEvent *e)
{
    char b0[32];
    fprintf(f, "%-9s inst=%u ", evTypeName(e->type), e->instrument);
    switch (e->type) {
    case MT_EV_ACCEPTED: {
        const mtAccepted *a = &e->u.accepted;
        fprintf(f,
                "id=%s ref=%" PRIu64 " price=%" PRId64 " acct=%u qty=%u minQty=%u side=%s "
                "pt=%u tc=%u vc=%u",
                idStr(b0, a->orderId), a->userRef, a->price, a->account, a->qty, a->minQty,
                sideName(a->side), a->priceType, a->timeCondition, a->volumeCondition);
        break;
    }
    case MT_EV_REJECTED: {
        const mtRejected *a = &e->u.rejected;
        fprintf(f, "id=%s ref=%" PRIu64 " code=%u op=%u", idStr(b0, a->orderId), a->userRef,
                a->code, a->op);
        break;
    }
    case MT_EV_FILL: {
        const mtFill *a = &e->u.fill;
        char b1[32], b2[32];
        fprintf(f,
                "trade=%s price=%" PRId64 " qty=%u aggr=%s buy[id=%s ref=%" PRIu64
                " acct=%u leaves=%u] sell[id=%s ref=%" PRIu64 " acct=%u leaves=%u]",
                idStr(b0, a->tradeId), a->price, a->qty, sideName(a->aggressor),
                idStr(b1, a->orderId[0]), a->userRef[0], a->account[0], a->leaves[0],
                idStr(b2, a->orderId[1]), a->userRef[1], a->account[1], a->leaves[1]);
        break;
    }
    case MT_EV_CANCELLED: {
        const mtCancelled *a = &e->u.cancelled;
        fprintf(f, "id=%s ref=%" PRIu64 " acct=%u qty=%u side=%s reason=%s", idStr(b0, a->orderId),
                a->userRef, a->account, a->qty, sideName(a->side), reasonName(a->reason));
        break;
    }
    case MT_EV_REPLACED: {
        const mtReplaced *a = &e->u.replaced;
        fprintf(f,
                "id=%s ref=%" PRIu64 " price=%" PRId64 " acct=%u qty=%u leaves=%u side=%s "
                "kept=%u",
                idStr(b0, a->orderId), a->userRef, a->price, a->account, a->qty, a->leaves,
                sideName(a->side), a->keptPriority);
        break;
    }
    case MT_EV_LEVEL:
        fprintf(f, "side=%s price=%" PRId64 " qty=%" PRIu64, sideName(e->u.level.side),
                e->u.level.price, e->u.level.qty);
        break;
    case MT_EV_STATE:
        fprintf(f, "state=%s previous=%s", stateName(e->u.state.state),
                stateName(e->u.state.previous));
        break;
    case MT_EV_IMBALANCE:
    case MT_EV_UNCROSS:
        fprintf(f, "price=%" PRId64 " paired=%" PRIu64 " imbalance=%" PRIu64 " side=%s",
                e->u.auction.price, e->u.auction.pairedQty, e->u.auction.imbalanceQty,
                sideName(e->u.auction.imbalanceSide));
        break;
    default:
        break;
    }
    fputc('\n', f);
}

#define DIFF(field)                                                                                \
    do {                                                                                           \
        if (a->field != b->field)                                                                  \
            return #field;                                                                         \
    } while (0)

static const char *auctionDiff(const mtAuction *a, const mtAuction *b)
{
    DIFF(price);
    DIFF(pairedQty);
    DIFF(imbalanceQty);
    DIFF(imbalanceSide);
    return NULL;
}

/* NULL when equal, else the name of the first differing field. The
 * instrument of a cancel's or replace's REJECTED is not specified (the order
 * may be unknown), so it is not compared. */
static const char *evDiff(const mtEvent *a, const mtEvent *b)
{
    DIFF(type);
    if (!(a->type == MT_EV_REJECTED && a->u.rejected.op != MT_OP_NEW))
        DIFF(instrument);
    switch (a->type) {
    case MT_EV_ACCEPTED:
        DIFF(u.accepted.orderId);
        DIFF(u.accepted.userRef);
        DIFF(u.accepted.price);
        DIFF(u.accepted.account);
        DIFF(u.accepted.qty);
        DIFF(u.accepted.minQty);
        DIFF(u.accepted.side);
        DIFF(u.accepted.priceType);
        DIFF(u.accepted.timeCondition);
        DIFF(u.accepted.volumeCondition);
        break;
    case MT_EV_REJECTED:
        DIFF(u.rejected.orderId);
        DIFF(u.rejected.userRef);
        DIFF(u.rejected.code);
        DIFF(u.rejected.op);
        break;
    case MT_EV_FILL:
        DIFF(u.fill.tradeId);
        DIFF(u.fill.price);
        DIFF(u.fill.qty);
        DIFF(u.fill.aggressor);
        for (int k = 0; k < 2; k++) {
            DIFF(u.fill.orderId[k]);
            DIFF(u.fill.userRef[k]);
            DIFF(u.fill.account[k]);
            DIFF(u.fill.leaves[k]);
        }
        break;
    case MT_EV_CANCELLED:
        DIFF(u.cancelled.orderId);
        DIFF(u.cancelled.userRef);
        DIFF(u.cancelled.account);
        DIFF(u.cancelled.qty);
        DIFF(u.cancelled.side);
        DIFF(u.cancelled.reason);
        break;
    case MT_EV_REPLACED:
        DIFF(u.replaced.orderId);
        DIFF(u.replaced.userRef);
        DIFF(u.replaced.price);
        DIFF(u.replaced.account);
        DIFF(u.replaced.qty);
        DIFF(u.replaced.leaves);
        DIFF(u.replaced.side);
        DIFF(u.replaced.keptPriority);
        break;
    case MT_EV_LEVEL:
        DIFF(u.level.price);
        DIFF(u.level.qty);
        DIFF(u.level.side);
        break;
    case MT_EV_STATE:
        DIFF(u.state.state);
        DIFF(u.state.previous);
        break;
    case MT_EV_IMBALANCE:
    case MT_EV_UNCROSS:
        return auctionDiff(&a->u.auction, &b->u.auction);
    default:
        return "unknown type";
    }
    return NULL;
}

static const char *infoDiff(const mtOrderInfo *a, const mtOrderInfo *b)
{
    DIFF(orderId);
    DIFF(userRef);
    DIFF(price);
    DIFF(account);
    DIFF(qty);
    DIFF(leaves);
    DIFF(instrument);
    DIFF(side);
    DIFF(timeCondition);
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* operations                                                                */

typedef enum { OP_NEW, OP_CANCEL, OP_REPLACE, OP_STATE, OP_INDICATE, OP_REFPRICE } OpKind;

typedef struct {
    OpKind kind;
    mtNewOrder no;    /* OP_NEW */
    uint64_t orderId; /* OP_CANCEL, OP_REPLACE */
    uint32_t account; /* OP_CANCEL, OP_REPLACE */
    int64_t price;    /* OP_REPLACE: new price; OP_REFPRICE */
    uint32_t qty;     /* OP_REPLACE: new total quantity */
    uint64_t userRef; /* OP_CANCEL, OP_REPLACE */
    uint16_t inst;    /* OP_STATE, OP_INDICATE, OP_REFPRICE */
    int state;        /* OP_STATE; OP_INDICATE: 1 = out NULL */
} Op;

static void opPrint(FILE *f, const Op *op)
{
    char b0[32];
    switch (op->kind) {
    case OP_NEW:
        fprintf(f,
                "mtEngineNewOrder{inst=%u side=%u pt=%u tc=%u vc=%u price=%" PRId64
                " qty=%u minQty=%u acct=%u ref=%" PRIu64 "}",
                op->no.instrument, op->no.side, op->no.priceType, op->no.timeCondition,
                op->no.volumeCondition, op->no.price, op->no.qty, op->no.minQty, op->no.account,
                op->no.userRef);
        break;
    case OP_CANCEL:
        fprintf(f, "mtEngineCancel(id=%s (0x%" PRIx64 "), acct=%u, ref=%" PRIu64 ")",
                idStr(b0, op->orderId), op->orderId, op->account, op->userRef);
        break;
    case OP_REPLACE:
        fprintf(f,
                "mtEngineReplace(id=%s (0x%" PRIx64 "), acct=%u, price=%" PRId64
                ", qty=%u, ref=%" PRIu64 ")",
                idStr(b0, op->orderId), op->orderId, op->account, op->price, op->qty, op->userRef);
        break;
    case OP_STATE:
        fprintf(f, "mtEngineSetState(inst=%u, %d %s)", op->inst, op->state,
                stateName((unsigned)op->state));
        break;
    case OP_INDICATE:
        fprintf(f, "mtEngineIndicate(inst=%u, %s)", op->inst, op->state ? "NULL" : "&out");
        break;
    case OP_REFPRICE:
        fprintf(f, "mtEngineSetReferencePrice(inst=%u, %" PRId64 ")", op->inst, op->price);
        break;
    }
}

/* ------------------------------------------------------------------------ */
/* the driver                                                                */

#define N_INST     6
#define MAX_INST   8   /* indexes 2 and 4 stay undefined */
#define HIST       24  /* operations kept for the failure report */
#define BOOK_LIMIT 200 /* resting orders per instrument before cancels dominate */

static const uint16_t kInstIdx[N_INST] = {0, 1, 3, 5, 7, 6};
static const mtBookConfig kInstCfg[N_INST] = {
    /* narrow: 40 ticks, deep books that cross often */
    {.lowerPrice = 1000, .upperPrice = 1039, .referencePrice = 1020, .minLots = 1, .maxLots = 100},
    /* wide: 2000 ticks */
    {.lowerPrice = 5000, .upperPrice = 6999, .referencePrice = 6000, .minLots = 1, .maxLots = 500},
    /* small prices, lots 5..40 */
    {.lowerPrice = 1, .upperPrice = 120, .referencePrice = 60, .minLots = 5, .maxLots = 40},
    /* 65 ticks, any uint32 quantity: level and auction sums pass 2^32 */
    {.lowerPrice = 100,
     .upperPrice = 164,
     .referencePrice = 131,
     .minLots = 1,
     .maxLots = UINT32_MAX},
    /* a band of one tick */
    {.lowerPrice = 777, .upperPrice = 777, .referencePrice = 777, .minLots = 1, .maxLots = 10},
    /* the top of the int64 range: price arithmetic must not overflow */
    {.lowerPrice = INT64_MAX - 99,
     .upperPrice = INT64_MAX,
     .referencePrice = INT64_MAX - 50,
     .minLots = 1,
     .maxLots = 50},
};
/* 0: prices uniform over the band, else within this many ticks of a
 * drifting centre */
static const int64_t kInstSpread[N_INST] = {0, 40, 20, 0, 0, 0};

typedef struct {
    const char *name;
    mtStpPolicy stp;
    uint32_t capacity;
    uint8_t seg;
    uint64_t ops;
} RunCfg;

/* totals over all runs, for the coverage assertions */
static struct {
    uint64_t ops, events;
    uint64_t evType[N_EVTYPES];
    uint64_t reason[N_REASONS];
    uint64_t code[5000];
    uint64_t queries;
    int runs;
} gTot;

static uint64_t gSeed;
static uint64_t gTotalOps;
static int gVerbose;

typedef struct {
    const RunCfg *cfg;
    uint64_t rng, startSeed;
    mtEngine *eng;
    EvVec engEv, refEv;
    Ref ref;
    int64_t center[N_INST];
    Op hist[HIST];
    uint64_t opNo;
    uint64_t evType[N_EVTYPES];
    uint64_t events;
    uint64_t restingSum; /* sum over operations of the resting orders */
    uint32_t restingMax;
} Drv;

static uint64_t rnd(Drv *d, uint64_t n)
{
    return n ? rngNext(&d->rng) % n : 0;
}

/* percent chance */
static int chance(Drv *d, unsigned pct)
{
    return rnd(d, 100) < pct;
}

static void engOnEvent(void *ctx, const mtEvent *ev)
{
    evPush((EvVec *)ctx, ev);
}

static void printHistory(const Drv *d)
{
    uint64_t first = d->opNo >= HIST ? d->opNo - HIST + 1 : 1;
    printf("last operations (this run):\n");
    for (uint64_t k = first; k <= d->opNo; k++) {
        printf("  #%" PRIu64 " ", k);
        opPrint(stdout, &d->hist[k % HIST]);
        printf("\n");
    }
}

static void failReport(const Drv *d, const char *what)
{
    printf("\n==== MISMATCH: %s\n", what);
    printf("XCHG_DIFF_SEED=0x%" PRIx64 " XCHG_DIFF_OPS=%" PRIu64 " run=%s (run seed 0x%" PRIx64
           ") stp=%d capacity=%u seg=%u op #%" PRIu64 "\n",
           gSeed, gTotalOps, d->cfg->name, d->startSeed, (int)d->cfg->stp, d->cfg->capacity,
           d->cfg->seg, d->opNo);
    printHistory(d);
    printf("operation: ");
    opPrint(stdout, &d->hist[d->opNo % HIST]);
    printf("\nreference events (%zu):\n", d->refEv.n);
    for (size_t i = 0; i < d->refEv.n; i++) {
        printf("  [%zu] ", i);
        evPrint(stdout, &d->refEv.v[i]);
    }
    printf("engine events (%zu):\n", d->engEv.n);
    for (size_t i = 0; i < d->engEv.n; i++) {
        printf("  [%zu] ", i);
        evPrint(stdout, &d->engEv.v[i]);
    }
    fflush(stdout);
}

static void mismatch(const Drv *d, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    failReport(d, msg);
    fail_msg("differential test mismatch (run %s, op #%" PRIu64 "): %s", d->cfg->name, d->opNo,
             msg);
}

/* Runs one operation on both sides and compares codes and events. */
static void apply(Drv *d, const Op *op)
{
    int rcE = 0, rcR = 0;
    mtAuction auE, auR;
    memset(&auE, 0, sizeof auE);
    memset(&auR, 0, sizeof auR);
    d->opNo++;
    d->hist[d->opNo % HIST] = *op;
    d->engEv.n = 0;
    d->refEv.n = 0;
    switch (op->kind) {
    case OP_NEW:
        rcE = mtEngineNewOrder(d->eng, &op->no);
        rcR = refNewOrder(&d->ref, &op->no);
        break;
    case OP_CANCEL:
        rcE = mtEngineCancel(d->eng, op->orderId, op->account, op->userRef);
        rcR = refCancel(&d->ref, op->orderId, op->account, op->userRef);
        break;
    case OP_REPLACE:
        rcE = mtEngineReplace(d->eng, op->orderId, op->account, op->price, op->qty, op->userRef);
        rcR = refReplace(&d->ref, op->orderId, op->account, op->price, op->qty, op->userRef);
        break;
    case OP_STATE:
        rcE = mtEngineSetState(d->eng, op->inst, (mtState)op->state);
        rcR = refSetState(&d->ref, op->inst, op->state);
        break;
    case OP_INDICATE:
        /* out may be NULL; the event must be the same */
        rcE = mtEngineIndicate(d->eng, op->inst, op->state ? NULL : &auE);
        rcR = refIndicate(&d->ref, op->inst, &auR);
        break;
    case OP_REFPRICE:
        rcE = mtEngineSetReferencePrice(d->eng, op->inst, op->price);
        rcR = refSetReferencePrice(&d->ref, op->inst, op->price);
        break;
    }
    if (gVerbose) {
        printf("#%" PRIu64 " ", d->opNo);
        opPrint(stdout, op);
        printf(" -> %d\n", rcR);
        for (size_t i = 0; i < d->refEv.n; i++) {
            printf("    ");
            evPrint(stdout, &d->refEv.v[i]);
        }
    }
    if (rcE != rcR)
        mismatch(d, "return code: engine %d, reference %d", rcE, rcR);
    size_t n = d->engEv.n < d->refEv.n ? d->engEv.n : d->refEv.n;
    for (size_t i = 0; i < n; i++) {
        const char *f = evDiff(&d->refEv.v[i], &d->engEv.v[i]);
        if (f)
            mismatch(d, "event [%zu] differs in field %s", i, f);
    }
    if (d->engEv.n != d->refEv.n)
        mismatch(d, "event count: engine %zu, reference %zu", d->engEv.n, d->refEv.n);
    if (op->kind == OP_INDICATE && rcR == MT_OK && !op->state) {
        const char *f = auctionDiff(&auR, &auE);
        if (f)
            mismatch(d, "mtEngineIndicate *out differs in field %s", f);
    }
    /* tallies */
    for (size_t i = 0; i < d->refEv.n; i++) {
        const mtEvent *e = &d->refEv.v[i];
        d->evType[e->type]++;
        gTot.evType[e->type]++;
        if (e->type == MT_EV_CANCELLED)
            gTot.reason[e->u.cancelled.reason]++;
        if (e->type == MT_EV_REJECTED)
            gTot.code[e->u.rejected.code]++;
    }
    d->events += d->refEv.n;
    gTot.events += d->refEv.n;
    gTot.ops++;
}

/* ---- query comparisons ---- */

typedef struct {
    mtOrderInfo *v;
    size_t n, cap;
} InfoVec;

static void infoVisit(void *ctx, const mtOrderInfo *o)
{
    InfoVec *iv = ctx;
    if (iv->n == iv->cap) {
        iv->cap = iv->cap ? iv->cap * 2 : 256;
        iv->v = xrealloc(iv->v, iv->cap * sizeof *iv->v);
    }
    iv->v[iv->n++] = *o;
}

static void checkBook(Drv *d, uint16_t ii)
{
    gTot.queries++;
    int stE = mtEngineState(d->eng, ii);
    int stR = refDefined(&d->ref, ii) ? d->ref.inst[ii].state : -1;
    if (stE != stR)
        mismatch(d, "mtEngineState(%u): engine %d, reference %d", ii, stE, stR);
    if (!refDefined(&d->ref, ii))
        return;
    for (uint8_t side = 0; side < 2; side++) {
        mtDepthLevel dE[12], dR[12];
        memset(dE, 0, sizeof dE);
        memset(dR, 0, sizeof dR);
        uint32_t want = 1 + (uint32_t)rnd(d, 12);
        uint32_t nE = mtEngineDepth(d->eng, ii, (mtSide)side, dE, want);
        uint32_t nR = refDepth(&d->ref, ii, side, dR, want);
        if (nE != nR)
            mismatch(d, "mtEngineDepth(inst %u, side %u, n %u) returned %u, reference %u", ii, side,
                     want, nE, nR);
        for (uint32_t k = 0; k < nR; k++)
            if (dE[k].price != dR[k].price || dE[k].qty != dR[k].qty)
                mismatch(d,
                         "mtEngineDepth(inst %u, side %u) level %u: engine %" PRId64 "x%" PRIu64
                         ", reference %" PRId64 "x%" PRIu64,
                         ii, side, k, dE[k].price, dE[k].qty, dR[k].price, dR[k].qty);
        InfoVec iv = {0};
        uint32_t cnt = mtEngineForEachOrder(d->eng, ii, (mtSide)side, infoVisit, &iv);
        const RSide *s = &d->ref.inst[ii].book[side];
        if (cnt != iv.n || iv.n != s->n)
            mismatch(d,
                     "mtEngineForEachOrder(inst %u, side %u): returned %u, visited %zu, "
                     "reference %zu",
                     ii, side, cnt, iv.n, s->n);
        for (size_t k = 0; k < s->n; k++) {
            mtOrderInfo want1;
            refOrderInfo(&s->v[k], ii, &want1);
            const char *f = infoDiff(&want1, &iv.v[k]);
            if (f) {
                char b0[32], b1[32];
                mismatch(d,
                         "mtEngineForEachOrder(inst %u, side %u) order %zu differs in %s "
                         "(reference id %s, engine id %s)",
                         ii, side, k, f, idStr(b0, want1.orderId), idStr(b1, iv.v[k].orderId));
            }
        }
        free(iv.v);
    }
}

static void checkOrderGet(Drv *d, uint64_t id)
{
    mtOrderInfo iE, iR;
    memset(&iE, 0, sizeof iE);
    int rcE = mtEngineOrderGet(d->eng, id, &iE);
    int rcR = refOrderGet(&d->ref, id, &iR);
    char b0[32];
    if (rcE != rcR)
        mismatch(d, "mtEngineOrderGet(%s): engine %d, reference %d", idStr(b0, id), rcE, rcR);
    if (rcR == MT_OK) {
        const char *f = infoDiff(&iR, &iE);
        if (f)
            mismatch(d, "mtEngineOrderGet(%s) differs in %s", idStr(b0, id), f);
    }
}

static void checkStats(Drv *d)
{
    mtStats st;
    memset(&st, 0, sizeof st);
    mtEngineGetStats(d->eng, &st);
    if (st.ordersResting != d->ref.resting)
        mismatch(d, "stats.ordersResting: engine %u, reference %u", st.ordersResting,
                 d->ref.resting);
    if (st.poolCapacity != d->cfg->capacity)
        mismatch(d, "stats.poolCapacity: engine %u, configured %u", st.poolCapacity,
                 d->cfg->capacity);
    if (st.ordersAccepted != d->ref.accepted)
        mismatch(d, "stats.ordersAccepted: engine %" PRIu64 ", reference %" PRIu64,
                 st.ordersAccepted, d->ref.accepted);
    if (st.fills != d->ref.fills)
        mismatch(d, "stats.fills: engine %" PRIu64 ", reference %" PRIu64, st.fills, d->ref.fills);
}

/* ---- operation generation ---- */

static uint32_t drvAccount(Drv *d)
{
    return 1 + (uint32_t)rnd(d, 4);
}

static int drvInstSlot(uint16_t ii)
{
    for (int k = 0; k < N_INST; k++)
        if (kInstIdx[k] == ii)
            return k;
    return -1;
}

static size_t instOrders(const Drv *d, uint16_t ii)
{
    return d->ref.inst[ii].book[0].n + d->ref.inst[ii].book[1].n;
}

static uint16_t drvUndefinedInst(Drv *d)
{
    static const uint16_t bad[] = {2, 4, MAX_INST, MAX_INST + 1, 1000, 65535};
    return bad[rnd(d, sizeof bad / sizeof bad[0])];
}

/* a random live order, NULL when none; `only` restricts to one instrument */
static const ROrder *drvLiveOrder(Drv *d, int only)
{
    size_t total = 0;
    for (int k = 0; k < N_INST; k++)
        if (only < 0 || only == kInstIdx[k])
            total += instOrders(d, kInstIdx[k]);
    if (total == 0)
        return NULL;
    size_t pick = rnd(d, total);
    for (int k = 0; k < N_INST; k++) {
        if (only >= 0 && only != kInstIdx[k])
            continue;
        for (uint8_t side = 0; side < 2; side++) {
            const RSide *s = &d->ref.inst[kInstIdx[k]].book[side];
            if (pick < s->n)
                return &s->v[pick];
            pick -= s->n;
        }
    }
    return NULL;
}

/* a price up to 3 ticks outside the band (below it when the band ends at
 * INT64_MAX) */
static int64_t drvOutside(Drv *d, const mtBookConfig *bc)
{
    if (chance(d, 50) || bc->upperPrice > INT64_MAX - 3)
        return bc->lowerPrice - 1 - (int64_t)rnd(d, 3);
    return bc->upperPrice + 1 + (int64_t)rnd(d, 3);
}

static int64_t drvPrice(Drv *d, int slot, uint8_t side)
{
    const mtBookConfig *bc = &kInstCfg[slot];
    unsigned u = (unsigned)rnd(d, 1000);
    if (u < 15) /* just outside the band */
        return drvOutside(d, bc);
    if (u < 17) /* absurd */
        return chance(d, 50) ? INT64_MIN : INT64_MAX;
    if (u < 27) /* the band's edges */
        return chance(d, 50) ? bc->lowerPrice : bc->upperPrice;
    if (kInstSpread[slot] == 0 || u < 60) /* uniform over the band */
        return bc->lowerPrice + (int64_t)rnd(d, (uint64_t)(bc->upperPrice - bc->lowerPrice + 1));
    /* around a drifting centre: 20% of orders cross it */
    int64_t off = (int64_t)rnd(d, (uint64_t)kInstSpread[slot]) - kInstSpread[slot] / 5;
    int64_t p = side == MT_BUY ? d->center[slot] - off : d->center[slot] + off;
    if (p < bc->lowerPrice)
        p = bc->lowerPrice;
    if (p > bc->upperPrice)
        p = bc->upperPrice;
    return p;
}

static uint32_t drvQty(Drv *d, const mtBookConfig *bc)
{
    unsigned u = (unsigned)rnd(d, 1000);
    if (u < 8)
        return 0;
    if (u < 14)
        return bc->minLots - 1;
    if (u < 20)
        return bc->maxLots + 1 + (uint32_t)rnd(d, 3);
    if (u < 22)
        return UINT32_MAX;
    if (u < 30)
        return bc->maxLots;
    if (u < 40)
        return bc->minLots;
    if (bc->maxLots == UINT32_MAX && u < 400)
        return UINT32_C(0x80000000) + (uint32_t)rnd(d, UINT32_C(0x80000000));
    uint32_t span = bc->maxLots - bc->minLots + 1;
    uint32_t q = bc->minLots + (uint32_t)rnd(d, u < 200 ? (span < 60 ? span : 60) : 10);
    return q > bc->maxLots ? bc->maxLots : q;
}

static void genNew(Drv *d, Op *op, int slot)
{
    memset(op, 0, sizeof *op);
    op->kind = OP_NEW;
    mtNewOrder *o = &op->no;
    const mtBookConfig *bc = &kInstCfg[slot];
    o->instrument = chance(d, 1) ? drvUndefinedInst(d) : kInstIdx[slot];
    o->side = rnd(d, 400) == 0 ? (uint8_t)(2 + rnd(d, 254)) : (uint8_t)rnd(d, 2);
    o->priceType = rnd(d, 400) == 0 ? (uint8_t)(2 + rnd(d, 254))
                   : chance(d, 7)   ? MT_MARKET
                                    : MT_LIMIT;
    unsigned t = (unsigned)rnd(d, 100);
    o->timeCondition = rnd(d, 400) == 0 ? (uint8_t)(3 + rnd(d, 253))
                       : t < 45         ? MT_GFD
                       : t < 62         ? MT_IOC
                                        : MT_GTC;
    unsigned v = (unsigned)rnd(d, 100);
    o->volumeCondition = rnd(d, 400) == 0 ? (uint8_t)(3 + rnd(d, 253))
                         : v < 76         ? MT_VOL_ANY
                         : v < 88         ? MT_VOL_MIN
                                          : MT_VOL_ALL;
    o->qty = drvQty(d, bc);
    if (o->volumeCondition == MT_VOL_MIN) {
        unsigned m = (unsigned)rnd(d, 100);
        o->minQty = m < 3    ? 0
                    : m < 6  ? o->qty + 1
                    : m < 12 ? o->qty
                             : 1 + (uint32_t)rnd(d, o->qty ? o->qty : 1);
    } else {
        o->minQty = (uint32_t)rnd(d, 2 * (uint64_t)o->qty + 2); /* ignored */
    }
    o->price = drvPrice(d, slot, o->side);
    if (o->priceType == MT_MARKET && chance(d, 50))
        o->price = (int64_t)rngNext(&d->rng); /* ignored for market orders */
    o->account = drvAccount(d);
    o->userRef = rngNext(&d->rng);
    if (kInstSpread[slot] && chance(d, 30)) {
        int64_t lo = bc->lowerPrice + kInstSpread[slot], hi = bc->upperPrice - kInstSpread[slot];
        d->center[slot] += (int64_t)rnd(d, 5) - 2;
        if (rnd(d, 500) == 0) /* jump: leaves orders far from the new centre */
            d->center[slot] = lo + (int64_t)rnd(d, (uint64_t)(hi - lo + 1));
        if (d->center[slot] < lo)
            d->center[slot] = lo;
        if (d->center[slot] > hi)
            d->center[slot] = hi;
    }
}

/* an id that was issued (maybe still live) or never issued */
static uint64_t drvOtherId(Drv *d)
{
    uint64_t seg = d->cfg->seg, next = d->ref.nextOrderSeq;
    unsigned u = (unsigned)rnd(d, 100);
    if (u < 60 && next > 1)
        return (seg << 56) | (1 + rnd(d, next - 1)); /* issued */
    if (u < 75)
        return (seg << 56) | (next + rnd(d, 3)); /* not yet issued */
    if (u < 82)
        return seg << 56; /* seq 0 */
    if (u < 92)
        return ((uint64_t)(uint8_t)(seg + 1 + rnd(d, 255)) << 56) |
               (1 + rnd(d, next)); /* other segment */
    return rngNext(&d->rng);
}

static void genCancel(Drv *d, Op *op, int only)
{
    memset(op, 0, sizeof *op);
    op->kind = OP_CANCEL;
    op->userRef = rngNext(&d->rng);
    const ROrder *o = chance(d, only >= 0 ? 100 : 75) ? drvLiveOrder(d, only) : NULL;
    if (o) {
        op->orderId = o->id;
        unsigned u = (unsigned)rnd(d, 100);
        op->account = u < 78   ? o->account
                      : u < 90 ? MT_ANY_ACCOUNT
                               : o->account % 4 + 1; /* another account */
    } else {
        op->orderId = drvOtherId(d);
        op->account = chance(d, 30) ? MT_ANY_ACCOUNT : drvAccount(d);
    }
}

static void genReplace(Drv *d, Op *op)
{
    memset(op, 0, sizeof *op);
    op->kind = OP_REPLACE;
    op->userRef = rngNext(&d->rng);
    const ROrder *o = chance(d, 80) ? drvLiveOrder(d, -1) : NULL;
    if (!o) {
        op->orderId = drvOtherId(d);
        op->account = chance(d, 30) ? MT_ANY_ACCOUNT : drvAccount(d);
        op->price = kInstCfg[0].lowerPrice + (int64_t)rnd(d, 40);
        op->qty = 1 + (uint32_t)rnd(d, 20);
        return;
    }
    int slot = drvInstSlot(d->ref.slot[o->id & SEQ_MASK].inst);
    const mtBookConfig *bc = &kInstCfg[slot];
    op->orderId = o->id;
    unsigned a = (unsigned)rnd(d, 100);
    op->account = a < 86 ? o->account : a < 92 ? MT_ANY_ACCOUNT : o->account % 4 + 1;
    uint32_t filled = o->qty - o->leaves;
    op->price = o->price;
    op->qty = o->qty;
    unsigned u = (unsigned)rnd(d, 100);
    int newPrice = 0, newQty = 0;
    if (u < 30)
        newQty = 1;
    else if (u < 60)
        newPrice = 1;
    else if (u < 85)
        newPrice = newQty = 1;
    else if (u < 90)
        ;            /* identical */
    else if (u < 94) /* not above the filled quantity (or below minLots) */
        op->qty = filled ? (uint32_t)rnd(d, filled + 1) : (uint32_t)rnd(d, bc->minLots + 1);
    else if (u < 97) /* outside the lots */
        op->qty = chance(d, 50) ? bc->maxLots + 1 : bc->minLots - 1;
    else { /* outside the band, sometimes with a bad quantity too (check order) */
        op->price = drvOutside(d, bc);
        if (chance(d, 40))
            op->qty = chance(d, 50) ? bc->minLots - 1 : (uint32_t)rnd(d, filled + 1);
    }
    if (newQty) {
        unsigned q = (unsigned)rnd(d, 100);
        if (q < 40) /* smaller open quantity */
            op->qty = filled + 1 + (o->leaves > 1 ? (uint32_t)rnd(d, o->leaves - 1) : 0);
        else if (q < 80) /* larger */
            op->qty = o->qty + 1 + (uint32_t)rnd(d, 10);
        else
            op->qty = filled + 1 + (uint32_t)rnd(d, 30);
        if (op->qty > bc->maxLots && chance(d, 90))
            op->qty = bc->maxLots;
    }
    if (newPrice) {
        if (chance(d, 15)) {
            op->price =
                bc->lowerPrice + (int64_t)rnd(d, (uint64_t)(bc->upperPrice - bc->lowerPrice + 1));
        } else {
            int64_t delta = 1 + (int64_t)rnd(d, 5);
            op->price = chance(d, 50) && o->price <= INT64_MAX - delta ? o->price + delta
                                                                       : o->price - delta;
            if (op->price < bc->lowerPrice && chance(d, 90))
                op->price = bc->lowerPrice;
            if (op->price > bc->upperPrice && chance(d, 90))
                op->price = bc->upperPrice;
        }
    }
}

/* A state change of instrument slot `slot`, or of a bad instrument/state. */
static void genState(Drv *d, Op *op, int slot)
{
    memset(op, 0, sizeof *op);
    op->kind = OP_STATE;
    op->inst = kInstIdx[slot];
    unsigned u = (unsigned)rnd(d, 100);
    int cur = d->ref.inst[op->inst].state;
    if (u < 3) {
        op->inst = drvUndefinedInst(d);
        op->state = MT_STATE_CONTINUOUS;
        return;
    }
    if (u < 6) {
        op->state = chance(d, 50) ? 4 + (int)rnd(d, 10) : -1;
        return;
    }
    unsigned v = (unsigned)rnd(d, 100);
    switch (cur) {
    case MT_STATE_CONTINUOUS:
        op->state = v < 50   ? MT_STATE_PRE_OPEN
                    : v < 65 ? MT_STATE_HALTED
                    : v < 90 ? MT_STATE_CLOSED
                             : MT_STATE_CONTINUOUS;
        break;
    case MT_STATE_CLOSED:
        op->state = v < 45 ? MT_STATE_PRE_OPEN : v < 90 ? MT_STATE_CONTINUOUS : (int)rnd(d, 4);
        break;
    default:
        op->state = v < 70 ? MT_STATE_CONTINUOUS : (int)rnd(d, 4);
        break;
    }
}

static void genOp(Drv *d, Op *op)
{
    /* state changes: an instrument stays about 3000 operations in CONTINUOUS
     * and about 500 in the other states */
    int slot = (int)rnd(d, N_INST);
    int cont = d->ref.inst[kInstIdx[slot]].state == MT_STATE_CONTINUOUS;
    if (rnd(d, cont ? 1000 : 170) == 0) {
        genState(d, op, slot);
        return;
    }
    unsigned u = (unsigned)rnd(d, 10000);
    if (u < 120) {
        memset(op, 0, sizeof *op);
        op->kind = OP_INDICATE;
        op->inst = chance(d, 3) ? drvUndefinedInst(d) : kInstIdx[slot];
        op->state = chance(d, 20); /* 1: call with out == NULL */
        return;
    }
    if (u < 150) {
        memset(op, 0, sizeof *op);
        op->kind = OP_REFPRICE;
        const mtBookConfig *bc = &kInstCfg[slot];
        op->inst = chance(d, 3) ? drvUndefinedInst(d) : kInstIdx[slot];
        op->price =
            bc->lowerPrice + (int64_t)rnd(d, (uint64_t)(bc->upperPrice - bc->lowerPrice + 1));
        /* just outside the band (the doc sets no limit); the far values
         * are in test_edge_reference_price */
        if (chance(d, 20))
            op->price = drvOutside(d, bc);
        return;
    }
    unsigned cancelW = 1500 + (d->ref.resting > 3 * BOOK_LIMIT ? 2500 : 0);
    if (d->ref.resting + 4 >= d->cfg->capacity && chance(d, 50))
        cancelW += 2000;
    u = (unsigned)rnd(d, 10000);
    if (u < cancelW) {
        genCancel(d, op, -1);
        return;
    }
    if (u < cancelW + 1800) {
        genReplace(d, op);
        return;
    }
    if (instOrders(d, kInstIdx[slot]) > BOOK_LIMIT) {
        genCancel(d, op, kInstIdx[slot]);
        return;
    }
    genNew(d, op, slot);
}

static void drvCheckSome(Drv *d)
{
    /* OrderGet of a live order and of some other id, every operation */
    const ROrder *o = drvLiveOrder(d, -1);
    if (o)
        checkOrderGet(d, o->id);
    checkOrderGet(d, drvOtherId(d));
    if (d->opNo % 32 == 0) {
        checkBook(d, kInstIdx[rnd(d, N_INST)]);
        checkStats(d);
    }
    if (d->opNo % 4096 == 0)
        checkBook(d, drvUndefinedInst(d));
}

static uint64_t runSeed(const RunCfg *cfg)
{
    uint64_t s = gSeed ^ ((uint64_t)cfg->stp * UINT64_C(0x9E3779B97F4A7C15)) ^
                 ((uint64_t)cfg->capacity << 20) ^ cfg->seg;
    rngNext(&s);
    return s;
}

/* An engine and a reference with every instrument defined, in CONTINUOUS. */
static Drv *drvOpen(const RunCfg *cfg)
{
    Drv *d = xrealloc(NULL, sizeof *d);
    memset(d, 0, sizeof *d);
    d->cfg = cfg;
    d->rng = runSeed(cfg);
    d->startSeed = d->rng;

    mtEngineConfig ec;
    memset(&ec, 0, sizeof ec);
    ec.segmentId = cfg->seg;
    ec.orderCapacity = cfg->capacity;
    ec.maxInstruments = MAX_INST;
    ec.stp = cfg->stp;
    ec.onEvent = engOnEvent;
    ec.eventCtx = &d->engEv;
    ec.allocator = NULL;
    d->eng = mtEngineCreate(&ec);
    assert_non_null(d->eng);
    refInit(&d->ref, cfg->seg, cfg->capacity, MAX_INST, cfg->stp, &d->refEv);
    for (int k = 0; k < N_INST; k++) {
        assert_int_equal(mtEngineAddInstrument(d->eng, kInstIdx[k], &kInstCfg[k]), MT_OK);
        assert_int_equal(refAddInstrument(&d->ref, kInstIdx[k], &kInstCfg[k]), MT_OK);
        d->center[k] =
            kInstCfg[k].lowerPrice + (kInstCfg[k].upperPrice - kInstCfg[k].lowerPrice) / 2;
    }
    /* already defined, index out of range */
    assert_int_equal(mtEngineAddInstrument(d->eng, 0, &kInstCfg[0]), MT_ERR_INVALID_PARAMS);
    assert_int_equal(mtEngineAddInstrument(d->eng, MAX_INST, &kInstCfg[0]), MT_ERR_INVALID_PARAMS);
    assert_int_equal(d->engEv.n, 0);
    for (uint16_t ii = 0; ii < MAX_INST + 2; ii++)
        checkBook(d, ii);

    Op op;
    /* open every instrument: CLOSED -> PRE_OPEN -> CONTINUOUS */
    for (int k = 0; k < N_INST; k++) {
        memset(&op, 0, sizeof op);
        op.kind = OP_STATE;
        op.inst = kInstIdx[k];
        op.state = MT_STATE_PRE_OPEN;
        apply(d, &op);
        op.state = MT_STATE_CONTINUOUS;
        apply(d, &op);
    }
    return d;
}

static void drvClose(Drv *d)
{
    mtEngineDestroy(d->eng);
    refFree(&d->ref);
    free(d->engEv.v);
    free(d->refEv.v);
    free(d);
}

static void runDiff(const RunCfg *cfg)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    Drv *d = drvOpen(cfg);
    Op op;
    for (uint64_t i = 0; i < cfg->ops; i++) {
        genOp(d, &op);
        apply(d, &op);
        drvCheckSome(d);
        d->restingSum += d->ref.resting;
        if (d->ref.resting > d->restingMax)
            d->restingMax = d->ref.resting;
        if (op.kind == OP_STATE)
            checkBook(d, op.inst);
    }
    for (uint16_t ii = 0; ii < MAX_INST + 2; ii++)
        checkBook(d, ii);
    checkStats(d);

    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("[diff] run %-16s seed=0x%016" PRIx64 " ops=%" PRIu64 " events=%" PRIu64
           " resting=%u orders=%" PRIu64 " fills=%" PRIu64 " %.2fs\n",
           cfg->name, d->startSeed, d->opNo, d->events, d->ref.resting, d->ref.accepted,
           d->ref.fills, secs);
    printf("[diff]   events:");
    for (unsigned t = 1; t < N_EVTYPES; t++)
        printf(" %s=%" PRIu64, evTypeName(t), d->evType[t]);
    printf("\n[diff]   resting orders: mean %.1f max %u\n",
           cfg->ops ? (double)d->restingSum / (double)cfg->ops : 0.0, d->restingMax);
    fflush(stdout);
    gTot.runs++;
    drvClose(d);
}

/* ---- directed scripts through the same comparison ---- */

static void scrState(Drv *d, uint16_t ii, int state)
{
    Op op;
    memset(&op, 0, sizeof op);
    op.kind = OP_STATE;
    op.inst = ii;
    op.state = state;
    apply(d, &op);
    checkBook(d, ii);
}

static void scrLimit(Drv *d, uint16_t ii, uint8_t side, int64_t price, uint32_t qty,
                     uint32_t account)
{
    Op op;
    memset(&op, 0, sizeof op);
    op.kind = OP_NEW;
    op.no.instrument = ii;
    op.no.side = side;
    op.no.priceType = MT_LIMIT;
    op.no.timeCondition = MT_GTC;
    op.no.volumeCondition = MT_VOL_ANY;
    op.no.price = price;
    op.no.qty = qty;
    op.no.account = account;
    op.no.userRef = d->opNo + 1;
    apply(d, &op);
    checkBook(d, ii);
}

/* sets the reference price, then asks for the indicative auction */
static void scrRefIndicate(Drv *d, uint16_t ii, int64_t ref)
{
    Op op;
    memset(&op, 0, sizeof op);
    op.kind = OP_REFPRICE;
    op.inst = ii;
    op.price = ref;
    apply(d, &op);
    memset(&op, 0, sizeof op);
    op.kind = OP_INDICATE;
    op.inst = ii;
    apply(d, &op);
}

/* Reference prices far outside the band on a crossed book whose every tick
 * ties on volume and imbalance: the tick closest to the reference price must
 * win, without the distance |p - ref| overflowing int64 (the band of
 * instrument 6 ends at INT64_MAX). */
static void test_edge_reference_price(void **state)
{
    (void)state;
    static const RunCfg cfg = {"edge-reference", MT_STP_NONE, 64, 9, 0};
    static const int64_t refs[] = {-1, -1000, INT64_MIN, INT64_MIN / 2, 0, INT64_MAX, 1, 50};
    static const uint16_t insts[] = {6, 3, 0};
    Drv *d = drvOpen(&cfg);
    for (size_t k = 0; k < sizeof insts / sizeof insts[0]; k++) {
        uint16_t ii = insts[k];
        int slot = drvInstSlot(ii);
        const mtBookConfig *bc = &kInstCfg[slot];
        scrState(d, ii, MT_STATE_PRE_OPEN);
        scrLimit(d, ii, MT_BUY, bc->upperPrice, bc->minLots + 4, 1);
        scrLimit(d, ii, MT_SELL, bc->lowerPrice, bc->minLots + 4, 2);
        for (size_t r = 0; r < sizeof refs / sizeof refs[0]; r++)
            scrRefIndicate(d, ii, refs[r]);
        scrRefIndicate(d, ii, -1);
        scrState(d, ii, MT_STATE_CONTINUOUS); /* uncrosses */
    }
    drvClose(d);
}

static RunCfg gRuns[5];

static void test_stp_none(void **state)
{
    (void)state;
    runDiff(&gRuns[0]);
}

static void test_stp_cancel_resting(void **state)
{
    (void)state;
    runDiff(&gRuns[1]);
}

static void test_stp_cancel_incoming(void **state)
{
    (void)state;
    runDiff(&gRuns[2]);
}

static void test_stp_cancel_both(void **state)
{
    (void)state;
    runDiff(&gRuns[3]);
}

static void test_small_pool(void **state)
{
    (void)state;
    runDiff(&gRuns[4]);
}

static void test_coverage(void **state)
{
    (void)state;
    static const int codes[] = {
        MT_ERR_UNKNOWN_INSTRUMENT, MT_ERR_INVALID_PARAMS, MT_ERR_ORDER_NOT_FOUND,
        MT_ERR_NOT_CANCELLABLE,    MT_ERR_STATE,          MT_ERR_REPLACE,
        MT_ERR_POOL_FULL};
    printf("[diff] total: %d runs, %" PRIu64 " operations, %" PRIu64 " events, %" PRIu64
           " book checks\n",
           gTot.runs, gTot.ops, gTot.events, gTot.queries);
    printf("[diff] events:");
    for (unsigned t = 1; t < N_EVTYPES; t++)
        printf(" %s=%" PRIu64, evTypeName(t), gTot.evType[t]);
    printf("\n[diff] cancel reasons:");
    for (unsigned r = 0; r < N_REASONS; r++)
        printf(" %s=%" PRIu64, reasonName(r), gTot.reason[r]);
    printf("\n[diff] reject codes:");
    for (size_t k = 0; k < sizeof codes / sizeof codes[0]; k++)
        printf(" %d=%" PRIu64, codes[k], gTot.code[codes[k]]);
    printf("\n[diff] scenarios:");
    for (unsigned c = 0; c < COV_N; c++)
        printf("%s %s=%" PRIu64, c % 6 == 5 ? "\n[diff]   " : "", kCovName[c], gCov[c]);
    printf("\n");
    fflush(stdout);
    if (gTotalOps < 200000) {
        printf("[diff] fewer than 200000 operations: coverage not asserted\n");
        return;
    }
    for (unsigned t = 1; t < N_EVTYPES; t++)
        if (gTot.evType[t] == 0)
            fail_msg("event type %s never occurred", evTypeName(t));
    for (unsigned r = 0; r < N_REASONS; r++)
        if (gTot.reason[r] == 0)
            fail_msg("cancel reason %s never occurred", reasonName(r));
    for (size_t k = 0; k < sizeof codes / sizeof codes[0]; k++)
        if (gTot.code[codes[k]] == 0)
            fail_msg("reject code %d never occurred", codes[k]);
    /* The lower-price tie-break is never decisive with integer prices: the
     * prices that tie on volume and imbalance form one run of consecutive
     * ticks (B - S does not increase with the price), so one of them is
     * strictly closest to the (integer) reference price. */
    for (unsigned c = 0; c < COV_N; c++)
        if (gCov[c] == 0 && c != COV_AUCTION_BY_LOWER)
            fail_msg("scenario %s never occurred", kCovName[c]);
}

static uint64_t envU64(const char *name, uint64_t dflt)
{
    const char *s = getenv(name);
    if (!s || !*s)
        return dflt;
    char *end = NULL;
    uint64_t v = strtoull(s, &end, 0);
    if (!end || *end) {
        fprintf(stderr, "test_matcher_diff: bad %s=%s\n", name, s);
        exit(2);
    }
    return v;
}

int main(void)
{
    gSeed = envU64("XCHG_DIFF_SEED", UINT64_C(0x5EED0F1CE));
    gTotalOps = envU64("XCHG_DIFF_OPS", 6000000);
    gVerbose = (int)envU64("XCHG_DIFF_VERBOSE", 0);
    /* the four policies share 88% of the operations, the small pool 12% */
    uint64_t per = gTotalOps * 22 / 100, small = gTotalOps - 4 * per;
    gRuns[0] = (RunCfg){"stp-none", MT_STP_NONE, 4096, 7, per};
    gRuns[1] = (RunCfg){"stp-cancel-rest", MT_STP_CANCEL_RESTING, 4096, 0, per};
    gRuns[2] = (RunCfg){"stp-cancel-inc", MT_STP_CANCEL_INCOMING, 4096, 255, per};
    gRuns[3] = (RunCfg){"stp-cancel-both", MT_STP_CANCEL_BOTH, 4096, 42, per};
    gRuns[4] = (RunCfg){"small-pool", MT_STP_CANCEL_BOTH, 48, 3, small};
    printf("[diff] XCHG_DIFF_SEED=0x%" PRIx64 " XCHG_DIFF_OPS=%" PRIu64 "\n", gSeed, gTotalOps);
    fflush(stdout);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stp_none),
        cmocka_unit_test(test_stp_cancel_resting),
        cmocka_unit_test(test_stp_cancel_incoming),
        cmocka_unit_test(test_stp_cancel_both),
        cmocka_unit_test(test_small_pool),
        cmocka_unit_test(test_coverage),
        /* last: a sanitizer abort in it does not hide the runs above */
        cmocka_unit_test(test_edge_reference_price),
    };
    return cmocka_run_group_tests_name("matcher differential", tests, NULL, NULL);
}
