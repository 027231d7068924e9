/* matcher.c -- price-time priority order books of one market segment.
 *
 * Layout (DESIGN.md §8): per instrument and side, an array of price levels
 * indexed by tick within the daily band and a bitmap of the non-empty ones;
 * each level is an intrusive FIFO of orders that live in one preallocated
 * pool and are addressed by 32-bit index; an open-addressing index maps
 * exchange order ids to pool slots for O(1) cancel. Rules and the exact event
 * order are in docs/matcher.md. */
#include <string.h>

#include "matcher/bitmap.h"
#include "matcher/matcher.h"

#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

#define MT_NIL      UINT32_MAX
#define MT_SEQ_BITS 56
#define MT_SEQ_MASK ((1ULL << MT_SEQ_BITS) - 1)

typedef struct {
    uint32_t next, prev; /* FIFO links within the level, or the free list */
    uint64_t id;
    uint64_t userRef;
    int64_t price; /* ticks; 0 while a market order is matching */
    uint32_t account;
    uint32_t qty;    /* total quantity */
    uint32_t leaves; /* open quantity */
    uint16_t instrument;
    uint8_t side;
    uint8_t timeCondition;
} mtOrder;

_Static_assert(sizeof(mtOrder) == 48, "a pool slot must stay within the 64-byte budget");

typedef struct {
    uint32_t head, tail;
    uint64_t qty;
} mtPriceLevel;

typedef struct {
    uint8_t defined;
    uint8_t state;
    uint32_t nLevels;
    int64_t lower, upper, reference;
    uint32_t minLots, maxLots;
    mtPriceLevel *levels[2];
    mtBitmap bm[2];
    int64_t best[2];   /* level index of the best price per side, -1 if empty */
    uint64_t *scratch; /* auction: bid quantity at or above each level */
    size_t bytes;      /* everything allocated for this book */
} mtBook;

struct mtEngine {
    mtOrder *pool;
    uint32_t *index; /* pool slot + 1 per entry, 0 = empty */
    mtBook *books;
    mtEventFn *onEvent;
    void *eventCtx;
    const mtAllocator *alloc;
    uint64_t idBase; /* segment id in the top bits */
    uint64_t nextOrderSeq;
    uint64_t nextTradeSeq;
    uint32_t capacity;
    uint32_t freeHead;
    uint32_t used;
    uint32_t indexMask;
    uint32_t indexShift; /* 64 - log2(chunks of 16 slots): top bits of the hash */
    uint16_t maxInstruments;
    uint8_t stp;
    mtStats stats;
    size_t bytes;
};

/* ---- events --------------------------------------------------------------- */

static inline void emit(mtEngine *e, mtEvent *ev)
{
    e->onEvent(e->eventCtx, ev);
}

static void emitRejected(mtEngine *e, uint16_t instrument, uint64_t orderId, uint64_t userRef,
                         int code, mtOp op)
{
    mtEvent ev;
    ev.type = MT_EV_REJECTED;
    ev.instrument = instrument;
    ev.u.rejected.orderId = orderId;
    ev.u.rejected.userRef = userRef;
    ev.u.rejected.code = (uint16_t)code;
    ev.u.rejected.op = (uint8_t)op;
    e->stats.ordersRejected += op == MT_OP_NEW;
    emit(e, &ev);
}

static void emitCancelled(mtEngine *e, const mtOrder *o, uint32_t qty, mtCancelReason reason)
{
    mtEvent ev;
    ev.type = MT_EV_CANCELLED;
    ev.instrument = o->instrument;
    ev.u.cancelled.orderId = o->id;
    ev.u.cancelled.userRef = o->userRef;
    ev.u.cancelled.account = o->account;
    ev.u.cancelled.qty = qty;
    ev.u.cancelled.side = o->side;
    ev.u.cancelled.reason = (uint8_t)reason;
    e->stats.cancels++;
    emit(e, &ev);
}

static void emitLevel(mtEngine *e, uint16_t instrument, const mtBook *b, uint8_t side, uint32_t idx)
{
    mtEvent ev;
    ev.type = MT_EV_LEVEL;
    ev.instrument = instrument;
    ev.u.level.price = b->lower + idx;
    ev.u.level.qty = b->levels[side][idx].qty;
    ev.u.level.side = side;
    emit(e, &ev);
}

static void emitFill(mtEngine *e, const mtOrder *buy, const mtOrder *sell, int64_t price,
                     uint32_t qty, uint8_t aggressor)
{
    mtEvent ev;
    ev.type = MT_EV_FILL;
    ev.instrument = buy->instrument;
    ev.u.fill.tradeId = e->idBase | e->nextTradeSeq++;
    ev.u.fill.price = price;
    ev.u.fill.qty = qty;
    ev.u.fill.aggressor = aggressor;
    ev.u.fill.orderId[0] = buy->id;
    ev.u.fill.orderId[1] = sell->id;
    ev.u.fill.userRef[0] = buy->userRef;
    ev.u.fill.userRef[1] = sell->userRef;
    ev.u.fill.account[0] = buy->account;
    ev.u.fill.account[1] = sell->account;
    ev.u.fill.leaves[0] = buy->leaves;
    ev.u.fill.leaves[1] = sell->leaves;
    e->stats.fills++;
    emit(e, &ev);
}

static void emitAuction(mtEngine *e, uint16_t instrument, mtEventType type, const mtAuction *a)
{
    mtEvent ev;
    ev.type = (uint8_t)type;
    ev.instrument = instrument;
    ev.u.auction = *a;
    emit(e, &ev);
}

/* ---- order id index --------------------------------------------------------- */

/* Ids are sequential: 16 consecutive ids share one cache line of the table,
 * so a new order lands next to the previous one, while the 16-id chunks are
 * spread by Fibonacci hashing: the chunk number times 2^64/phi, top bits.
 * Consecutive chunks then land as far apart as any N points on the table can
 * (three-distance theorem), whatever the table's size, so a long-lived block
 * of resting orders occupies scattered lines and new ids home between them.
 * Homing ids by their low bits (MT_INDEX_HOME_LOWBITS, kept only as the
 * baseline bench_matcher's idwrap workload measures) made such a block
 * swallow every new id once the sequence wrapped around the table: each
 * insert, lookup and erase walked the whole block (docs/matcher.md). The
 * earlier hash took bits 32 and up of the product, whose spread depended on
 * the table's size: up to 100 probes a pair at 40% load. */
static inline uint32_t indexHome(const mtEngine *e, uint64_t id)
{
#ifdef MT_INDEX_HOME_LOWBITS
    return (uint32_t)id & e->indexMask;
#else
    uint64_t chunk = ((id >> 4) * 0x9E3779B97F4A7C15ULL) >> e->indexShift;
    return (uint32_t)((chunk << 4) | (id & 15)) & e->indexMask;
#endif
}

static inline void indexInsert(mtEngine *e, uint64_t id, uint32_t slot)
{
    uint32_t i = indexHome(e, id);
    while (e->index[i])
        i = (i + 1) & e->indexMask;
    e->index[i] = slot + 1;
}

/* Position of id in the index, or MT_NIL. */
static inline uint32_t indexFind(const mtEngine *e, uint64_t id)
{
    uint32_t i = indexHome(e, id);
    for (;;) {
        uint32_t v = e->index[i];
        if (!v)
            return MT_NIL;
        if (e->pool[v - 1].id == id)
            return i;
        i = (i + 1) & e->indexMask;
    }
}

/* Removes the entry at position pos, shifting later entries of the probe run
 * back so lookups never need tombstones. */
static void indexErase(mtEngine *e, uint32_t pos)
{
    uint32_t i = pos, j = pos;
    for (;;) {
        j = (j + 1) & e->indexMask;
        uint32_t v = e->index[j];
        if (!v)
            break;
        uint32_t k = indexHome(e, e->pool[v - 1].id);
        /* move v into the hole at i unless its home lies cyclically in (i, j] */
        int inRange = i <= j ? (k > i && k <= j) : (k > i || k <= j);
        if (!inRange) {
            e->index[i] = v;
            i = j;
        }
    }
    e->index[i] = 0;
}

/* ---- order pool -------------------------------------------------------------- */

static inline uint32_t poolTake(mtEngine *e)
{
    uint32_t s = e->freeHead;
    e->freeHead = e->pool[s].next;
    e->used++;
    return s;
}

/* Returns an order's slot to the pool and drops it from the id index. */
static inline void orderRelease(mtEngine *e, uint32_t slot)
{
    mtOrder *o = &e->pool[slot];
    indexErase(e, indexFind(e, o->id));
    o->next = e->freeHead;
    e->freeHead = slot;
    e->used--;
}

/* ---- price levels ------------------------------------------------------------ */

static inline int64_t bookNextBest(const mtBook *b, uint8_t side, int64_t from)
{
    return side == MT_BUY ? bmFindAtOrBelow(&b->bm[MT_BUY], from)
                          : bmFindAtOrAbove(&b->bm[MT_SELL], from);
}

/* Appends an order to the tail of its price level. */
static void levelAppend(mtEngine *e, mtBook *b, uint32_t slot)
{
    mtOrder *o = &e->pool[slot];
    uint8_t side = o->side;
    uint32_t idx = (uint32_t)(o->price - b->lower);
    mtPriceLevel *lv = &b->levels[side][idx];
    o->next = MT_NIL;
    o->prev = lv->tail;
    if (lv->tail == MT_NIL) {
        lv->head = slot;
        bmSet(&b->bm[side], idx);
        int64_t best = b->best[side];
        if (best < 0 || (side == MT_BUY ? (int64_t)idx > best : (int64_t)idx < best))
            b->best[side] = idx;
    } else {
        e->pool[lv->tail].next = slot;
    }
    lv->tail = slot;
    lv->qty += o->leaves;
    e->stats.ordersResting++;
}

/* Unlinks an order from its level (its open quantity leaves the level too). */
static void levelUnlink(mtEngine *e, mtBook *b, uint32_t slot)
{
    mtOrder *o = &e->pool[slot];
    uint8_t side = o->side;
    uint32_t idx = (uint32_t)(o->price - b->lower);
    mtPriceLevel *lv = &b->levels[side][idx];
    if (o->prev != MT_NIL)
        e->pool[o->prev].next = o->next;
    else
        lv->head = o->next;
    if (o->next != MT_NIL)
        e->pool[o->next].prev = o->prev;
    else
        lv->tail = o->prev;
    lv->qty -= o->leaves;
    e->stats.ordersResting--;
    if (lv->head == MT_NIL) {
        bmClear(&b->bm[side], idx);
        if (b->best[side] == (int64_t)idx)
            b->best[side] = bookNextBest(b, side, side == MT_BUY ? (int64_t)idx - 1 : idx + 1);
    }
}

static inline int crosses(uint8_t side, int64_t limit, int64_t levelPrice)
{
    return side == MT_BUY ? levelPrice <= limit : levelPrice >= limit;
}

/* ---- continuous matching ------------------------------------------------------- */

/* Open quantity the incoming order could trade before self-trade prevention
 * would stop it, counted up to `need`. */
static uint64_t matchAvailable(const mtEngine *e, const mtBook *b, const mtOrder *in, int isMarket,
                               uint64_t need)
{
    uint8_t opp = in->side ^ 1;
    uint64_t sum = 0;
    for (int64_t idx = b->best[opp]; idx >= 0 && sum < need;
         idx = bookNextBest(b, opp, opp == MT_BUY ? idx - 1 : idx + 1)) {
        if (!isMarket && !crosses(in->side, in->price, b->lower + idx))
            break;
        const mtPriceLevel *lv = &b->levels[opp][idx];
        if (e->stp == MT_STP_NONE) {
            sum += lv->qty;
            continue;
        }
        for (uint32_t r = lv->head; r != MT_NIL && sum < need; r = e->pool[r].next) {
            const mtOrder *ro = &e->pool[r];
            if (ro->account == in->account) {
                if (e->stp == MT_STP_CANCEL_RESTING)
                    continue;
                return sum;
            }
            sum += ro->leaves;
        }
    }
    return sum;
}

/* Removes a resting order of the incoming order's own account. Returns 1
 * when matching must stop. */
static int matchSelfTrade(mtEngine *e, mtBook *b, uint32_t r)
{
    if (e->stp == MT_STP_CANCEL_INCOMING)
        return 1;
    mtOrder *ro = &e->pool[r];
    uint32_t leaves = ro->leaves;
    levelUnlink(e, b, r);
    emitCancelled(e, ro, leaves, MT_CXL_SELF_TRADE);
    orderRelease(e, r);
    return e->stp == MT_STP_CANCEL_BOTH;
}

/* Trades the incoming order `in` (not in the book) against one opposite
 * level until the level or the order is exhausted. Returns 1 if self-trade
 * prevention stopped matching. */
static int matchLevel(mtEngine *e, mtBook *b, mtOrder *in, uint32_t idx)
{
    uint8_t opp = in->side ^ 1;
    mtPriceLevel *lv = &b->levels[opp][idx];
    int64_t price = b->lower + idx;
    int stopped = 0, changed = 0;
    uint32_t r = lv->head;
    while (r != MT_NIL && in->leaves) {
        mtOrder *ro = &e->pool[r];
        uint32_t next = ro->next;
        if (next != MT_NIL)
            __builtin_prefetch(&e->pool[next]);
        if (unlikely(ro->account == in->account && e->stp != MT_STP_NONE)) {
            changed |= e->stp != MT_STP_CANCEL_INCOMING;
            if (matchSelfTrade(e, b, r)) {
                stopped = 1;
                break;
            }
            r = next;
            continue;
        }
        uint32_t q = in->leaves < ro->leaves ? in->leaves : ro->leaves;
        in->leaves -= q;
        ro->leaves -= q;
        lv->qty -= q;
        if (in->side == MT_BUY)
            emitFill(e, in, ro, price, q, MT_BUY);
        else
            emitFill(e, ro, in, price, q, MT_SELL);
        if (!ro->leaves) {
            levelUnlink(e, b, r);
            orderRelease(e, r);
        }
        changed = 1;
        r = next;
    }
    if (changed)
        emitLevel(e, in->instrument, b, opp, idx);
    return stopped;
}

/* Trades an incoming order against the opposite side. Returns 1 if
 * self-trade prevention stopped it. */
static int matchIncoming(mtEngine *e, mtBook *b, mtOrder *in, int isMarket)
{
    uint8_t opp = in->side ^ 1;
    while (in->leaves) {
        int64_t idx = b->best[opp];
        if (idx < 0 || (!isMarket && !crosses(in->side, in->price, b->lower + idx)))
            return 0;
        if (matchLevel(e, b, in, (uint32_t)idx))
            return 1;
    }
    return 0;
}

/* What happens to an incoming order's open quantity after matching: it is
 * cancelled (self-trade stop, IOC, market) or rests. */
static void matchFinish(mtEngine *e, mtBook *b, uint32_t slot, int stopped, int isMarket)
{
    mtOrder *o = &e->pool[slot];
    if (!o->leaves) {
        orderRelease(e, slot);
        return;
    }
    if (unlikely(stopped)) {
        emitCancelled(e, o, o->leaves, MT_CXL_SELF_TRADE);
        orderRelease(e, slot);
    } else if (isMarket || o->timeCondition == MT_IOC) {
        emitCancelled(e, o, o->leaves, MT_CXL_IOC);
        orderRelease(e, slot);
    } else {
        levelAppend(e, b, slot);
        emitLevel(e, o->instrument, b, o->side, (uint32_t)(o->price - b->lower));
    }
}

/* ---- validation ------------------------------------------------------------------ */

static inline mtBook *bookGet(mtEngine *e, uint16_t instrument)
{
    if (unlikely(instrument >= e->maxInstruments || !e->books[instrument].defined))
        return NULL;
    return &e->books[instrument];
}

static int validateNew(const mtBook *b, const mtNewOrder *o)
{
    if (unlikely(o->side > MT_SELL || o->priceType > MT_MARKET || o->timeCondition > MT_GTC ||
                 o->volumeCondition > MT_VOL_ALL))
        return MT_ERR_INVALID_PARAMS;
    if (unlikely(o->qty < b->minLots || o->qty > b->maxLots))
        return MT_ERR_INVALID_PARAMS;
    if (unlikely(o->volumeCondition == MT_VOL_MIN && (o->minQty == 0 || o->minQty > o->qty)))
        return MT_ERR_INVALID_PARAMS;
    if (o->priceType == MT_LIMIT && unlikely(o->price < b->lower || o->price > b->upper))
        return MT_ERR_INVALID_PARAMS;
    if (likely(b->state == MT_STATE_CONTINUOUS))
        return MT_OK;
    if (b->state == MT_STATE_PRE_OPEN && o->priceType == MT_LIMIT && o->timeCondition != MT_IOC &&
        o->volumeCondition == MT_VOL_ANY)
        return MT_OK;
    return MT_ERR_STATE;
}

/* ---- public: orders -------------------------------------------------------------- */

static void emitAccepted(mtEngine *e, const mtNewOrder *no, const mtOrder *o)
{
    mtEvent ev;
    ev.type = MT_EV_ACCEPTED;
    ev.instrument = o->instrument;
    ev.u.accepted.orderId = o->id;
    ev.u.accepted.userRef = o->userRef;
    ev.u.accepted.price = o->price;
    ev.u.accepted.account = o->account;
    ev.u.accepted.qty = o->qty;
    ev.u.accepted.minQty = no->volumeCondition == MT_VOL_MIN ? no->minQty : 0;
    ev.u.accepted.side = no->side;
    ev.u.accepted.priceType = no->priceType;
    ev.u.accepted.timeCondition = no->timeCondition;
    ev.u.accepted.volumeCondition = no->volumeCondition;
    e->stats.ordersAccepted++;
    emit(e, &ev);
}

int mtEngineNewOrder(mtEngine *e, const mtNewOrder *no)
{
    mtBook *b = bookGet(e, no->instrument);
    int rc = b ? validateNew(b, no) : MT_ERR_UNKNOWN_INSTRUMENT;
    if (likely(rc == MT_OK) && unlikely(e->freeHead == MT_NIL))
        rc = MT_ERR_POOL_FULL;
    if (unlikely(rc != MT_OK)) {
        emitRejected(e, no->instrument, 0, no->userRef, rc, MT_OP_NEW);
        return rc;
    }
    int isMarket = no->priceType == MT_MARKET;
    uint32_t slot = poolTake(e);
    mtOrder *o = &e->pool[slot];
    o->id = e->idBase | e->nextOrderSeq++;
    o->userRef = no->userRef;
    o->price = isMarket ? 0 : no->price;
    o->account = no->account;
    o->qty = o->leaves = no->qty;
    o->instrument = no->instrument;
    o->side = no->side;
    o->timeCondition = no->timeCondition;
    indexInsert(e, o->id, slot);
    emitAccepted(e, no, o);

    if (unlikely(b->state == MT_STATE_PRE_OPEN)) {
        levelAppend(e, b, slot);
        emitLevel(e, o->instrument, b, o->side, (uint32_t)(o->price - b->lower));
        return MT_OK;
    }
    if (unlikely(no->volumeCondition != MT_VOL_ANY)) {
        uint64_t need = no->volumeCondition == MT_VOL_ALL ? no->qty : no->minQty;
        if (matchAvailable(e, b, o, isMarket, need) < need) {
            emitCancelled(e, o, o->leaves,
                          no->volumeCondition == MT_VOL_ALL ? MT_CXL_FOK : MT_CXL_MIN_QTY);
            orderRelease(e, slot);
            return MT_OK;
        }
    }
    int stopped = matchIncoming(e, b, o, isMarket);
    matchFinish(e, b, slot, stopped, isMarket);
    return MT_OK;
}

/* Finds the live order id belongs to for account; on failure emits the
 * reject for op and returns MT_NIL with *rc set. */
static uint32_t orderLookup(mtEngine *e, uint64_t id, uint32_t account, uint64_t userRef, mtOp op,
                            int *rc)
{
    uint32_t pos = indexFind(e, id);
    if (likely(pos != MT_NIL)) {
        uint32_t slot = e->index[pos] - 1;
        if (likely(account == MT_ANY_ACCOUNT || e->pool[slot].account == account))
            return slot;
        *rc = MT_ERR_ORDER_NOT_FOUND;
    } else {
        uint64_t seq = id & MT_SEQ_MASK;
        int issued = (id & ~MT_SEQ_MASK) == e->idBase && seq >= 1 && seq < e->nextOrderSeq;
        *rc = issued ? MT_ERR_NOT_CANCELLABLE : MT_ERR_ORDER_NOT_FOUND;
    }
    emitRejected(e, 0, id, userRef, *rc, op);
    return MT_NIL;
}

int mtEngineCancel(mtEngine *e, uint64_t orderId, uint32_t account, uint64_t userRef)
{
    int rc;
    uint32_t slot = orderLookup(e, orderId, account, userRef, MT_OP_CANCEL, &rc);
    if (unlikely(slot == MT_NIL))
        return rc;
    mtOrder *o = &e->pool[slot];
    mtBook *b = &e->books[o->instrument];
    uint32_t idx = (uint32_t)(o->price - b->lower);
    uint8_t side = o->side;
    levelUnlink(e, b, slot);
    emitCancelled(e, o, o->leaves, MT_CXL_USER);
    emitLevel(e, o->instrument, b, side, idx);
    orderRelease(e, slot);
    return MT_OK;
}

static int validateReplace(const mtBook *b, const mtOrder *o, int64_t newPrice, uint32_t newQty)
{
    if (unlikely(b->state != MT_STATE_CONTINUOUS && b->state != MT_STATE_PRE_OPEN))
        return MT_ERR_STATE;
    if (unlikely(newQty < b->minLots || newQty > b->maxLots || newPrice < b->lower ||
                 newPrice > b->upper))
        return MT_ERR_INVALID_PARAMS;
    if (unlikely(newQty <= o->qty - o->leaves))
        return MT_ERR_REPLACE;
    return MT_OK;
}

static void emitReplaced(mtEngine *e, const mtOrder *o, int keptPriority)
{
    mtEvent ev;
    ev.type = MT_EV_REPLACED;
    ev.instrument = o->instrument;
    ev.u.replaced.orderId = o->id;
    ev.u.replaced.userRef = o->userRef;
    ev.u.replaced.price = o->price;
    ev.u.replaced.account = o->account;
    ev.u.replaced.qty = o->qty;
    ev.u.replaced.leaves = o->leaves;
    ev.u.replaced.side = o->side;
    ev.u.replaced.keptPriority = (uint8_t)keptPriority;
    e->stats.replaces++;
    emit(e, &ev);
}

/* Replace without a price change: a smaller open quantity keeps the place in
 * the queue, a larger one goes to the tail. */
static void replaceQuantity(mtEngine *e, mtBook *b, uint32_t slot, uint32_t newQty)
{
    mtOrder *o = &e->pool[slot];
    uint32_t newLeaves = newQty - (o->qty - o->leaves);
    uint32_t idx = (uint32_t)(o->price - b->lower);
    uint32_t oldLeaves = o->leaves;
    o->qty = newQty;
    if (newLeaves <= oldLeaves) {
        b->levels[o->side][idx].qty -= oldLeaves - newLeaves;
        o->leaves = newLeaves;
        emitReplaced(e, o, 1);
    } else {
        levelUnlink(e, b, slot);
        o->leaves = newLeaves;
        levelAppend(e, b, slot);
        emitReplaced(e, o, 0);
    }
    if (newLeaves != oldLeaves)
        emitLevel(e, o->instrument, b, o->side, idx);
}

int mtEngineReplace(mtEngine *e, uint64_t orderId, uint32_t account, int64_t newPrice,
                    uint32_t newQty, uint64_t userRef)
{
    int rc;
    uint32_t slot = orderLookup(e, orderId, account, userRef, MT_OP_REPLACE, &rc);
    if (unlikely(slot == MT_NIL))
        return rc;
    mtOrder *o = &e->pool[slot];
    mtBook *b = &e->books[o->instrument];
    rc = validateReplace(b, o, newPrice, newQty);
    if (unlikely(rc != MT_OK)) {
        emitRejected(e, o->instrument, orderId, userRef, rc, MT_OP_REPLACE);
        return rc;
    }
    o->userRef = userRef;
    if (newPrice == o->price) {
        replaceQuantity(e, b, slot, newQty);
        return MT_OK;
    }
    uint32_t oldIdx = (uint32_t)(o->price - b->lower);
    levelUnlink(e, b, slot);
    o->leaves = newQty - (o->qty - o->leaves);
    o->qty = newQty;
    o->price = newPrice;
    emitReplaced(e, o, 0);
    emitLevel(e, o->instrument, b, o->side, oldIdx);
    if (b->state == MT_STATE_PRE_OPEN) {
        levelAppend(e, b, slot);
        emitLevel(e, o->instrument, b, o->side, (uint32_t)(newPrice - b->lower));
        return MT_OK;
    }
    int stopped = matchIncoming(e, b, o, 0);
    matchFinish(e, b, slot, stopped, 0);
    return MT_OK;
}

/* ---- trading states and the call auction ----------------------------------------- */

/* The uncross price by the rules of docs/matcher.md. */
static void auctionCompute(const mtBook *b, mtAuction *a)
{
    uint64_t *bidsAtOrAbove = b->scratch;
    uint64_t cum = 0;
    for (int64_t i = (int64_t)b->nLevels - 1; i >= 0; i--) {
        cum += b->levels[MT_BUY][i].qty;
        bidsAtOrAbove[i] = cum;
    }
    memset(a, 0, sizeof *a);
    a->imbalanceSide = MT_AGGRESSOR_NONE;
    uint64_t asks = 0, bestImb = 0, bestDist = 0;
    for (uint32_t i = 0; i < b->nLevels; i++) {
        asks += b->levels[MT_SELL][i].qty;
        uint64_t bids = bidsAtOrAbove[i];
        uint64_t paired = bids < asks ? bids : asks;
        if (!paired)
            continue;
        uint64_t imb = bids > asks ? bids - asks : asks - bids;
        int64_t price = b->lower + i;
        /* unsigned: any reference price is allowed, so the signed difference
         * could overflow */
        uint64_t dist = price > b->reference ? (uint64_t)price - (uint64_t)b->reference
                                             : (uint64_t)b->reference - (uint64_t)price;
        int better =
            paired > a->pairedQty ||
            (paired == a->pairedQty && (imb < bestImb || (imb == bestImb && dist < bestDist)));
        if (!better)
            continue;
        a->price = price;
        a->pairedQty = paired;
        a->imbalanceQty = bestImb = imb;
        a->imbalanceSide = bids > asks ? MT_BUY : asks > bids ? MT_SELL : MT_AGGRESSOR_NONE;
        bestDist = dist;
    }
}

/* Removes the head order of a side's best level after it filled completely. */
static void auctionPopFilled(mtEngine *e, mtBook *b, uint8_t side, uint32_t slot)
{
    uint32_t idx = (uint32_t)b->best[side];
    levelUnlink(e, b, slot);
    orderRelease(e, slot);
    if (b->levels[side][idx].head == MT_NIL)
        emitLevel(e, (uint16_t)(b - e->books), b, side, idx);
}

static void auctionUncross(mtEngine *e, mtBook *b, uint16_t instrument)
{
    mtAuction a;
    auctionCompute(b, &a);
    if (!a.pairedQty)
        return;
    emitAuction(e, instrument, MT_EV_UNCROSS, &a);
    uint64_t remaining = a.pairedQty;
    int64_t touched[2] = {-1, -1};
    while (remaining) {
        uint32_t bi = (uint32_t)b->best[MT_BUY], ai = (uint32_t)b->best[MT_SELL];
        uint32_t bs = b->levels[MT_BUY][bi].head, as = b->levels[MT_SELL][ai].head;
        mtOrder *bo = &e->pool[bs], *ao = &e->pool[as];
        uint32_t q = bo->leaves < ao->leaves ? bo->leaves : ao->leaves;
        if (q > remaining)
            q = (uint32_t)remaining;
        bo->leaves -= q;
        ao->leaves -= q;
        b->levels[MT_BUY][bi].qty -= q;
        b->levels[MT_SELL][ai].qty -= q;
        remaining -= q;
        emitFill(e, bo, ao, a.price, q, MT_AGGRESSOR_NONE);
        touched[MT_BUY] = bi;
        touched[MT_SELL] = ai;
        if (!bo->leaves) {
            auctionPopFilled(e, b, MT_BUY, bs);
            if (b->levels[MT_BUY][bi].head == MT_NIL)
                touched[MT_BUY] = -1;
        }
        if (!ao->leaves) {
            auctionPopFilled(e, b, MT_SELL, as);
            if (b->levels[MT_SELL][ai].head == MT_NIL)
                touched[MT_SELL] = -1;
        }
    }
    for (uint8_t side = MT_BUY; side <= MT_SELL; side++)
        if (touched[side] >= 0)
            emitLevel(e, instrument, b, side, (uint32_t)touched[side]);
}

/* Cancels every GFD order of one side, best level first. */
static void expireSide(mtEngine *e, mtBook *b, uint16_t instrument, uint8_t side)
{
    for (int64_t idx = b->best[side]; idx >= 0;
         idx = bookNextBest(b, side, side == MT_BUY ? idx - 1 : idx + 1)) {
        int changed = 0;
        uint32_t r = b->levels[side][idx].head;
        while (r != MT_NIL) {
            mtOrder *o = &e->pool[r];
            uint32_t next = o->next;
            if (o->timeCondition == MT_GFD) {
                levelUnlink(e, b, r);
                emitCancelled(e, o, o->leaves, MT_CXL_EXPIRED);
                orderRelease(e, r);
                changed = 1;
            }
            r = next;
        }
        if (changed)
            emitLevel(e, instrument, b, side, (uint32_t)idx);
    }
}

int mtEngineSetState(mtEngine *e, uint16_t instrument, mtState state)
{
    mtBook *b = bookGet(e, instrument);
    if (!b)
        return MT_ERR_UNKNOWN_INSTRUMENT;
    if ((unsigned)state > MT_STATE_HALTED)
        return MT_ERR_INVALID_PARAMS;
    if (b->state == state)
        return MT_OK;
    mtEvent ev;
    ev.type = MT_EV_STATE;
    ev.instrument = instrument;
    ev.u.state.state = (uint8_t)state;
    ev.u.state.previous = b->state;
    b->state = (uint8_t)state;
    emit(e, &ev);
    if (state == MT_STATE_CONTINUOUS && b->best[MT_BUY] >= 0 && b->best[MT_SELL] >= 0 &&
        b->best[MT_BUY] >= b->best[MT_SELL])
        auctionUncross(e, b, instrument);
    if (state == MT_STATE_CLOSED) {
        expireSide(e, b, instrument, MT_BUY);
        expireSide(e, b, instrument, MT_SELL);
    }
    return MT_OK;
}

int mtEngineSetReferencePrice(mtEngine *e, uint16_t instrument, int64_t price)
{
    mtBook *b = bookGet(e, instrument);
    if (!b)
        return MT_ERR_UNKNOWN_INSTRUMENT;
    b->reference = price;
    return MT_OK;
}

int mtEngineIndicate(mtEngine *e, uint16_t instrument, mtAuction *out)
{
    mtBook *b = bookGet(e, instrument);
    if (!b)
        return MT_ERR_UNKNOWN_INSTRUMENT;
    mtAuction a;
    auctionCompute(b, &a);
    if (!a.pairedQty) {
        memset(&a, 0, sizeof a);
        a.imbalanceSide = MT_AGGRESSOR_NONE;
    }
    emitAuction(e, instrument, MT_EV_IMBALANCE, &a);
    if (out)
        *out = a;
    return MT_OK;
}

/* ---- creation ------------------------------------------------------------------------ */

static void *engineAlloc(mtEngine *e, size_t bytes, size_t *total)
{
    void *p = e->alloc->alloc(e->alloc->ctx, bytes);
    if (p)
        *total += bytes;
    return p;
}

mtEngine *mtEngineCreate(const mtEngineConfig *cfg)
{
    if (!cfg || !cfg->onEvent || cfg->orderCapacity == 0 || cfg->orderCapacity >= (1u << 30) ||
        cfg->maxInstruments == 0 || (unsigned)cfg->stp > MT_STP_CANCEL_BOTH)
        return NULL;
    const mtAllocator *al = cfg->allocator ? cfg->allocator : mtDefaultAllocator();
    mtEngine *e = al->alloc(al->ctx, sizeof *e);
    if (!e)
        return NULL;
    e->alloc = al;
    e->bytes = sizeof *e;
    e->onEvent = cfg->onEvent;
    e->eventCtx = cfg->eventCtx;
    e->capacity = cfg->orderCapacity;
    e->maxInstruments = cfg->maxInstruments;
    e->stp = (uint8_t)cfg->stp;
    e->idBase = (uint64_t)cfg->segmentId << MT_SEQ_BITS;
    e->nextOrderSeq = e->nextTradeSeq = 1;
    uint64_t slots = 2;
    while (slots < 2ULL * cfg->orderCapacity)
        slots <<= 1;
    e->indexMask = (uint32_t)(slots - 1);
    /* 2^m chunks of 16 slots take the top m bits of the hash; with 16 slots
     * or fewer (m = 0) any shift below 64 does: chunk << 4 is masked off */
    e->indexShift = 64;
    for (uint64_t chunks = slots >> 4; chunks > 1; chunks >>= 1)
        e->indexShift--;
    if (e->indexShift == 64)
        e->indexShift = 63;
    e->pool = engineAlloc(e, (size_t)e->capacity * sizeof(mtOrder), &e->bytes);
    e->index = engineAlloc(e, ((size_t)e->indexMask + 1) * sizeof(uint32_t), &e->bytes);
    e->books = engineAlloc(e, (size_t)e->maxInstruments * sizeof(mtBook), &e->bytes);
    if (!e->pool || !e->index || !e->books) {
        mtEngineDestroy(e);
        return NULL;
    }
    for (uint32_t i = 0; i < e->capacity; i++)
        e->pool[i].next = i + 1 < e->capacity ? i + 1 : MT_NIL;
    e->freeHead = 0;
    e->stats.poolCapacity = e->capacity;
    return e;
}

static void bookFree(mtEngine *e, mtBook *b)
{
    size_t levelBytes = (size_t)b->nLevels * sizeof(mtPriceLevel);
    size_t l0 = (size_t)bmWordsL0(b->nLevels) * 8, l1 = (size_t)bmWordsL1(b->nLevels) * 8;
    for (int s = 0; s < 2; s++) {
        e->alloc->free(e->alloc->ctx, b->levels[s], levelBytes);
        e->alloc->free(e->alloc->ctx, b->bm[s].l0, l0);
        e->alloc->free(e->alloc->ctx, b->bm[s].l1, l1);
    }
    e->alloc->free(e->alloc->ctx, b->scratch, (size_t)b->nLevels * sizeof(uint64_t));
}

void mtEngineDestroy(mtEngine *e)
{
    if (!e)
        return;
    const mtAllocator *al = e->alloc;
    if (e->books) {
        for (uint32_t i = 0; i < e->maxInstruments; i++)
            if (e->books[i].nLevels)
                bookFree(e, &e->books[i]);
        al->free(al->ctx, e->books, (size_t)e->maxInstruments * sizeof(mtBook));
    }
    if (e->index)
        al->free(al->ctx, e->index, ((size_t)e->indexMask + 1) * sizeof(uint32_t));
    if (e->pool)
        al->free(al->ctx, e->pool, (size_t)e->capacity * sizeof(mtOrder));
    al->free(al->ctx, e, sizeof *e);
}

static int bookConfigValid(const mtBookConfig *bc)
{
    return bc && bc->lowerPrice >= 1 && bc->upperPrice >= bc->lowerPrice &&
           bc->upperPrice - bc->lowerPrice < (int64_t)MT_BITMAP_MAX_BITS && bc->minLots >= 1 &&
           bc->maxLots >= bc->minLots;
}

/* Frees what mtBookMemAlloc took (the pointers that are set). */
static void bookMemRelease(const mtAllocator *al, mtBookMem *m)
{
    const size_t levelBytes = (size_t)m->nLevels * sizeof(mtPriceLevel);
    const size_t l0 = (size_t)bmWordsL0(m->nLevels) * 8, l1 = (size_t)bmWordsL1(m->nLevels) * 8;
    for (int s = 0; s < 2; s++) {
        if (m->levels[s])
            al->free(al->ctx, m->levels[s], levelBytes);
        if (m->l0[s])
            al->free(al->ctx, m->l0[s], l0);
        if (m->l1[s])
            al->free(al->ctx, m->l1[s], l1);
    }
    if (m->scratch)
        al->free(al->ctx, m->scratch, (size_t)m->nLevels * sizeof(uint64_t));
    memset(m, 0, sizeof *m);
}

int mtBookMemAlloc(const mtEngine *e, const mtBookConfig *bc, mtBookMem *out)
{
    memset(out, 0, sizeof *out);
    if (!bookConfigValid(bc))
        return MT_ERR_INVALID_PARAMS;
    const mtAllocator *al = e->alloc;
    out->nLevels = (uint32_t)(bc->upperPrice - bc->lowerPrice + 1);
    const size_t levelBytes = (size_t)out->nLevels * sizeof(mtPriceLevel);
    const size_t l0 = (size_t)bmWordsL0(out->nLevels) * 8, l1 = (size_t)bmWordsL1(out->nLevels) * 8;
    const size_t sc = (size_t)out->nLevels * sizeof(uint64_t);
    int ok = 1;
    for (int s = 0; s < 2; s++) {
        ok &= (out->levels[s] = al->alloc(al->ctx, levelBytes)) != NULL;
        ok &= (out->l0[s] = al->alloc(al->ctx, l0)) != NULL;
        ok &= (out->l1[s] = al->alloc(al->ctx, l1)) != NULL;
    }
    ok &= (out->scratch = al->alloc(al->ctx, sc)) != NULL;
    if (!ok) {
        bookMemRelease(al, out);
        return MT_ERR_POOL_FULL;
    }
    out->bytes = 2 * (levelBytes + l0 + l1) + sc;
    for (int s = 0; s < 2; s++) {
        mtPriceLevel *lv = out->levels[s];
        for (uint32_t i = 0; i < out->nLevels; i++)
            lv[i].head = lv[i].tail = MT_NIL;
    }
    return MT_OK;
}

void mtBookMemFree(const mtEngine *e, mtBookMem *m)
{
    if (m && m->nLevels)
        bookMemRelease(e->alloc, m);
}

int mtEngineAttachInstrument(mtEngine *e, uint16_t instrument, const mtBookConfig *bc,
                             mtBookMem *mem)
{
    if (instrument >= e->maxInstruments || e->books[instrument].nLevels || !bookConfigValid(bc) ||
        !mem || mem->nLevels != (uint32_t)(bc->upperPrice - bc->lowerPrice + 1))
        return MT_ERR_INVALID_PARAMS;
    mtBook *b = &e->books[instrument];
    b->nLevels = mem->nLevels;
    b->lower = bc->lowerPrice;
    b->upper = bc->upperPrice;
    b->reference = bc->referencePrice;
    b->minLots = bc->minLots;
    b->maxLots = bc->maxLots;
    b->state = MT_STATE_CLOSED;
    for (int s = 0; s < 2; s++) {
        b->levels[s] = mem->levels[s];
        b->bm[s].l0 = mem->l0[s];
        b->bm[s].l1 = mem->l1[s];
        b->bm[s].nbits = b->nLevels;
        b->best[s] = -1;
    }
    b->scratch = mem->scratch;
    b->bytes = mem->bytes;
    e->bytes += mem->bytes;
    memset(mem, 0, sizeof *mem); /* the engine owns it now */
    b->defined = 1;
    return MT_OK;
}

int mtEngineAddInstrument(mtEngine *e, uint16_t instrument, const mtBookConfig *bc)
{
    if (instrument >= e->maxInstruments || e->books[instrument].nLevels || !bookConfigValid(bc))
        return MT_ERR_INVALID_PARAMS;
    mtBookMem m;
    const int rc = mtBookMemAlloc(e, bc, &m);
    if (rc != MT_OK)
        return rc;
    return mtEngineAttachInstrument(e, instrument, bc, &m);
}

uint16_t mtEngineMaxInstruments(const mtEngine *e)
{
    return e->maxInstruments;
}

/* ---- queries ---------------------------------------------------------------------------- */

int mtEngineState(const mtEngine *e, uint16_t instrument)
{
    if (instrument >= e->maxInstruments || !e->books[instrument].defined)
        return -1;
    return e->books[instrument].state;
}

static void orderInfo(const mtOrder *o, mtOrderInfo *out)
{
    out->orderId = o->id;
    out->userRef = o->userRef;
    out->price = o->price;
    out->account = o->account;
    out->qty = o->qty;
    out->leaves = o->leaves;
    out->instrument = o->instrument;
    out->side = o->side;
    out->timeCondition = o->timeCondition;
}

int mtEngineOrderGet(const mtEngine *e, uint64_t orderId, mtOrderInfo *out)
{
    uint32_t pos = indexFind(e, orderId);
    if (pos == MT_NIL)
        return MT_ERR_ORDER_NOT_FOUND;
    orderInfo(&e->pool[e->index[pos] - 1], out);
    return MT_OK;
}

uint32_t mtEngineDepth(const mtEngine *e, uint16_t instrument, mtSide side, mtDepthLevel *out,
                       uint32_t n)
{
    if (instrument >= e->maxInstruments || !e->books[instrument].defined || side > MT_SELL)
        return 0;
    const mtBook *b = &e->books[instrument];
    uint32_t k = 0;
    for (int64_t idx = b->best[side]; idx >= 0 && k < n;
         idx = bookNextBest(b, (uint8_t)side, side == MT_BUY ? idx - 1 : idx + 1)) {
        out[k].price = b->lower + idx;
        out[k].qty = b->levels[side][idx].qty;
        k++;
    }
    return k;
}

uint32_t mtEngineForEachOrder(const mtEngine *e, uint16_t instrument, mtSide side,
                              mtOrderVisitFn *fn, void *ctx)
{
    if (instrument >= e->maxInstruments || !e->books[instrument].defined || side > MT_SELL)
        return 0;
    const mtBook *b = &e->books[instrument];
    uint32_t k = 0;
    for (int64_t idx = b->best[side]; idx >= 0;
         idx = bookNextBest(b, (uint8_t)side, side == MT_BUY ? idx - 1 : idx + 1)) {
        for (uint32_t r = b->levels[side][idx].head; r != MT_NIL; r = e->pool[r].next) {
            mtOrderInfo info;
            orderInfo(&e->pool[r], &info);
            fn(ctx, &info);
            k++;
        }
    }
    return k;
}

void mtEngineIndexStats(const mtEngine *e, mtIndexStats *out)
{
    memset(out, 0, sizeof *out);
    out->slots = e->indexMask + 1;
    /* runs are cyclic: start counting just after an empty slot (there is
     * one: the table has 2 x capacity slots) */
    uint32_t start = 0;
    while (e->index[start])
        start++;
    uint32_t run = 0;
    for (uint32_t n = 1; n <= e->indexMask + 1; n++) {
        uint32_t i = (start + n) & e->indexMask;
        uint32_t v = e->index[i];
        if (!v) {
            run = 0;
            continue;
        }
        out->entries++;
        if (++run > out->longestRun)
            out->longestRun = run;
        uint32_t d = (i - indexHome(e, e->pool[v - 1].id)) & e->indexMask;
        out->displacementSum += d;
        if (d > out->maxDisplacement)
            out->maxDisplacement = d;
    }
}

void mtEngineGetStats(const mtEngine *e, mtStats *out)
{
    *out = e->stats;
    out->poolCapacity = e->capacity;
    out->bytesAllocated = e->bytes;
    out->bytesPerOrder =
        (uint32_t)(sizeof(mtOrder) + ((uint64_t)e->indexMask + 1) * sizeof(uint32_t) / e->capacity);
}

/* ---- snapshots ------------------------------------------------------------------------ */

void mtEngineGetCounters(const mtEngine *e, mtCounters *out)
{
    out->nextOrderSeq = e->nextOrderSeq;
    out->nextTradeSeq = e->nextTradeSeq;
    out->ordersAccepted = e->stats.ordersAccepted;
    out->ordersRejected = e->stats.ordersRejected;
    out->fills = e->stats.fills;
    out->cancels = e->stats.cancels;
    out->replaces = e->stats.replaces;
}

int mtEngineSetCounters(mtEngine *e, const mtCounters *c)
{
    if (e->used || c->nextOrderSeq < 1 || c->nextOrderSeq > MT_SEQ_MASK || c->nextTradeSeq < 1 ||
        c->nextTradeSeq > MT_SEQ_MASK)
        return MT_ERR_INVALID_PARAMS;
    e->nextOrderSeq = c->nextOrderSeq;
    e->nextTradeSeq = c->nextTradeSeq;
    e->stats.ordersAccepted = c->ordersAccepted;
    e->stats.ordersRejected = c->ordersRejected;
    e->stats.fills = c->fills;
    e->stats.cancels = c->cancels;
    e->stats.replaces = c->replaces;
    return MT_OK;
}

int mtEngineBookInfo(const mtEngine *e, uint16_t instrument, mtBookInfo *out)
{
    if (instrument >= e->maxInstruments || !e->books[instrument].defined)
        return MT_ERR_UNKNOWN_INSTRUMENT;
    const mtBook *b = &e->books[instrument];
    out->config = (mtBookConfig){.lowerPrice = b->lower,
                                 .upperPrice = b->upper,
                                 .referencePrice = b->reference,
                                 .minLots = b->minLots,
                                 .maxLots = b->maxLots};
    out->state = b->state;
    return MT_OK;
}

int mtEngineRestoreBook(mtEngine *e, uint16_t instrument, mtState state, int64_t reference)
{
    mtBook *b = bookGet(e, instrument);
    if (!b)
        return MT_ERR_UNKNOWN_INSTRUMENT;
    if ((unsigned)state > MT_STATE_HALTED)
        return MT_ERR_INVALID_PARAMS;
    b->state = (uint8_t)state;
    b->reference = reference;
    return MT_OK;
}

int mtEngineRestoreOrder(mtEngine *e, const mtOrderInfo *in)
{
    mtBook *b = bookGet(e, in->instrument);
    if (!b)
        return MT_ERR_UNKNOWN_INSTRUMENT;
    const uint64_t seq = in->orderId & MT_SEQ_MASK;
    if (in->side > MT_SELL || (in->timeCondition != MT_GFD && in->timeCondition != MT_GTC) ||
        in->price < b->lower || in->price > b->upper || in->leaves == 0 || in->leaves > in->qty ||
        (in->orderId & ~MT_SEQ_MASK) != e->idBase || seq < 1 || seq >= e->nextOrderSeq ||
        indexFind(e, in->orderId) != MT_NIL)
        return MT_ERR_INVALID_PARAMS;
    if (e->freeHead == MT_NIL)
        return MT_ERR_POOL_FULL;
    const uint32_t slot = poolTake(e);
    mtOrder *o = &e->pool[slot];
    o->id = in->orderId;
    o->userRef = in->userRef;
    o->price = in->price;
    o->account = in->account;
    o->qty = in->qty;
    o->leaves = in->leaves;
    o->instrument = in->instrument;
    o->side = in->side;
    o->timeCondition = in->timeCondition;
    indexInsert(e, o->id, slot);
    levelAppend(e, b, slot);
    return MT_OK;
}
