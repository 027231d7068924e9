/* feed.c -- matcher events to ITCH 5.0 messages in MoldUDP64 packets.
 *
 * docs/protocol/feed.md is the normative description; dataplane/feed.h the
 * API. The builder keeps the book it has published: one entry per resting
 * order (exchange order id -> current ITCH reference, price, open quantity)
 * in an open-addressing table, and at most one "pending" order: the order of
 * the current matcher call that may still rest (a new order, or a resting
 * order whose price a replace changed). docs/matcher.md guarantees that an
 * order that rests is followed by a LEVEL event for its own side and price,
 * and that no other LEVEL of that side and price comes before it in the same
 * call; that event publishes the pending order (Add Order, or Order Replace
 * for a repriced one) with the quantity left after matching. A fill that
 * leaves nothing, or a cancel, ends it (Order Delete for a repriced one).
 *
 * No allocation after fdCreate, no system calls, no floating point. */
#include "dataplane/feed.h"

#include <stdio.h>
#include <string.h>

#define FD_SEQ_MASK ((UINT64_C(1) << 56) - 1)

/* Stock Directory values for xchg's instruments (docs/protocol/feed.md §4). */
#define FD_R_MARKET_CATEGORY      ' ' /* not a NASDAQ tier */
#define FD_R_FINANCIAL_STATUS     ' ' /* not available */
#define FD_R_ROUND_LOT_SIZE       1   /* quantities are whole lots */
#define FD_R_ROUND_LOTS_ONLY      'Y'
#define FD_R_ISSUE_CLASSIFICATION 'Q' /* other securities (futures) */
#define FD_R_AUTHENTICITY         'P' /* live/production */
#define FD_R_NOT_AVAILABLE        ' '
#define FD_R_ETP_FLAG             'N'
#define FD_R_INVERSE              'N'

typedef struct {
    uint64_t orderId; /* 0 = empty slot */
    uint64_t ref;     /* ITCH order reference now */
    int64_t price;    /* ticks */
    uint32_t leaves;  /* open quantity published */
    uint16_t instrument;
    uint8_t side;
} fdOrder;

typedef struct {
    char stock[ITCH_STOCK_LEN];
    uint32_t tickSize; /* 1e-4 price units */
    int64_t preSettlementTicks;
    uint8_t defined;
    uint8_t state;     /* mtState, from STATE events */
    uint8_t crossType; /* of the next uncross: ITCH_CROSS_OPENING or _HALT */
} fdInstrument;

struct fdFeed {
    /* identity */
    char session[MOLD_SESSION_LEN + 1];
    uint8_t segmentId;
    uint16_t nInstruments;
    fdInstrument *ins;
    /* published book */
    fdOrder *orders;
    uint32_t orderMask;
    uint64_t derivedRefs, crossNumbers; /* last n used in the FD_DERIVED_BIT namespace */
    struct {
        int active;
        int repriced; /* a resting order repriced by a replace (else a new order) */
        uint64_t orderId, oldRef;
        int64_t price;
        uint32_t leaves;
        uint16_t instrument;
        uint8_t side;
    } pend;
    struct {
        int active;
        uint16_t instrument;
        uint8_t crossType;
        int64_t price;
        uint64_t paired, filled;
    } cross;
    /* packet being filled */
    uint8_t *pkt;
    uint16_t maxPayload;
    uint16_t pktLen; /* bytes used, header included; 0 = no open packet */
    uint16_t pktCount;
    uint64_t pktFirstSeq;
    uint64_t nextSeq;
    fdSendFn *send;
    void *sendCtx;
    /* timer and session */
    uint64_t heartbeatNs, lastActivityNs;
    int tickStarted, sentSinceTick, ended;
    uint8_t lastSystemEvent;
    /* snapshot being written (fdSnapshot): messages go to its packets */
    struct {
        int active;
        uint16_t len, count;
        uint64_t first, next; /* snapshot-local message numbers, from 1 */
        uint32_t mismatched;
        uint64_t ns; /* timestamp of its messages */
        fdSendFn *send;
        void *ctx;
    } snap;
    /* retransmission history */
    uint8_t *history;
    uint32_t historyMask; /* depth - 1; history == NULL when depth is 0 */
    fdStats stats;
    /* memory */
    const mtAllocator *alloc;
    size_t bytes;
};

/* ---- helpers ---------------------------------------------------------------------- */

static int isPow2(uint64_t v)
{
    return v && !(v & (v - 1));
}

static size_t align64(size_t n)
{
    return (n + 63) & ~(size_t)63;
}

static uint64_t derivedNumber(const fdFeed *fd, uint64_t n)
{
    return (uint64_t)fd->segmentId << 56 | FD_DERIVED_BIT | n;
}

/* Ticks to an ITCH Price(4): ticks × tick size, clipped to 0..ITCH_PRICE_MAX. */
static uint32_t fdPrice(fdFeed *fd, const fdInstrument *ins, int64_t ticks)
{
    if (ticks < 0) {
        fd->stats.priceClipped++;
        return 0;
    }
    if ((uint64_t)ticks > ITCH_PRICE_MAX / ins->tickSize) {
        fd->stats.priceClipped++;
        return ITCH_PRICE_MAX;
    }
    return (uint32_t)((uint64_t)ticks * ins->tickSize);
}

/* ---- published orders: open addressing, linear probing, backward-shift delete ---- */

static uint32_t ordHome(const fdFeed *fd, uint64_t orderId)
{
    /* ids are (segment << 56) | seq with seq counting up: the low bits spread */
    return (uint32_t)(orderId & FD_SEQ_MASK) & fd->orderMask;
}

static fdOrder *ordFind(fdFeed *fd, uint64_t orderId)
{
    if (orderId == 0)
        return NULL;
    for (uint32_t i = ordHome(fd, orderId);; i = (i + 1) & fd->orderMask) {
        fdOrder *o = &fd->orders[i];
        if (o->orderId == orderId)
            return o;
        if (o->orderId == 0)
            return NULL;
    }
}

static fdOrder *ordInsert(fdFeed *fd, uint64_t orderId)
{
    if (fd->stats.ordersOpen >= fd->orderMask / 2 + 1 || orderId == 0)
        return NULL; /* more than the capacity: keep the load at 1/2 or less */
    for (uint32_t i = ordHome(fd, orderId);; i = (i + 1) & fd->orderMask) {
        fdOrder *o = &fd->orders[i];
        if (o->orderId == orderId)
            return o;
        if (o->orderId == 0) {
            o->orderId = orderId;
            fd->stats.ordersOpen++;
            return o;
        }
    }
}

static void ordDelete(fdFeed *fd, const fdOrder *o)
{
    uint32_t mask = fd->orderMask;
    uint32_t i = (uint32_t)(o - fd->orders);
    for (uint32_t j = (i + 1) & mask; fd->orders[j].orderId; j = (j + 1) & mask) {
        uint32_t k = ordHome(fd, fd->orders[j].orderId);
        /* entry j may fill the hole at i unless its home lies cyclically in (i, j] */
        int stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
        if (!stays) {
            fd->orders[i] = fd->orders[j];
            i = j;
        }
    }
    memset(&fd->orders[i], 0, sizeof fd->orders[i]);
    fd->stats.ordersOpen--;
}

/* ---- packets ------------------------------------------------------------------------ */

static void fdSendPacket(fdFeed *fd, const uint8_t *p, uint16_t len)
{
    fd->stats.bytes += len;
    fd->sentSinceTick = 1;
    fd->send(fd->sendCtx, p, len);
}

void fdFlush(fdFeed *fd)
{
    if (fd->pktCount == 0)
        return;
    moldPutHeader(fd->pkt, fd->session, fd->pktFirstSeq, fd->pktCount);
    fd->stats.packets++;
    uint16_t len = fd->pktLen;
    fd->pktLen = 0;
    fd->pktCount = 0;
    fdSendPacket(fd, fd->pkt, len);
}

/* A header-only packet: heartbeat (count 0) or end of session (0xFFFF). */
static void fdSendEmpty(fdFeed *fd, uint16_t count)
{
    uint8_t p[MOLD_HEADER_SIZE];
    moldPutHeader(p, fd->session, fd->nextSeq, count);
    if (count == MOLD_END_OF_SESSION)
        fd->stats.endOfSession++;
    else
        fd->stats.heartbeats++;
    fdSendPacket(fd, p, sizeof p);
}

void fdHeartbeat(fdFeed *fd)
{
    fdFlush(fd);
    fdSendEmpty(fd, MOLD_HEARTBEAT);
}

void fdTick(fdFeed *fd, uint64_t nowNs)
{
    fdFlush(fd);
    if (!fd->tickStarted || fd->sentSinceTick) {
        fd->tickStarted = 1;
        fd->sentSinceTick = 0;
        fd->lastActivityNs = nowNs;
        return;
    }
    if (nowNs - fd->lastActivityNs < fd->heartbeatNs)
        return;
    fdSendEmpty(fd, fd->ended ? MOLD_END_OF_SESSION : MOLD_HEARTBEAT);
    fd->sentSinceTick = 0;
    fd->lastActivityNs = nowNs;
}

/* Sequences one message: encodes it into the open packet (sending the packet
 * first when it would not fit) and keeps a copy in the history. */
static void snapEmit(fdFeed *fd, const itchMsg *m);

static void fdEmit(fdFeed *fd, const itchMsg *m)
{
    if (__builtin_expect(fd->snap.active, 0)) {
        snapEmit(fd, m);
        return;
    }
    size_t n = itchSize(m->type);
    if (fd->pktLen + MOLD_BLOCK_HEADER + n > fd->maxPayload || fd->pktCount == MOLD_MAX_COUNT)
        fdFlush(fd);
    if (fd->pktCount == 0) {
        fd->pktLen = MOLD_HEADER_SIZE;
        fd->pktFirstSeq = fd->nextSeq;
    }
    uint8_t *p = fd->pkt + fd->pktLen;
    itchPut16(p, (uint16_t)n);
    itchEncode(m, p + MOLD_BLOCK_HEADER, n);
    if (fd->history) {
        uint8_t *slot = fd->history + (size_t)(fd->nextSeq & fd->historyMask) * FD_HISTORY_SLOT;
        memcpy(slot, p, MOLD_BLOCK_HEADER + n);
    }
    fd->pktLen = (uint16_t)(fd->pktLen + MOLD_BLOCK_HEADER + n);
    fd->pktCount++;
    fd->nextSeq++;
    fd->stats.messages++;
    fd->stats.byType[m->type - 'A']++;
}

static void fdMsgInit(const fdFeed *fd, itchMsg *m, uint8_t type, uint16_t locate, uint64_t ns)
{
    memset(m, 0, sizeof *m);
    m->type = type;
    m->locate = locate;
    m->tracking = fd->segmentId;
    m->timestamp = ns & ITCH_TIMESTAMP_MAX;
}

/* ---- one message per kind ------------------------------------------------------------ */

static void emitAdd(fdFeed *fd, uint16_t instrument, uint64_t ref, uint8_t side, uint32_t shares,
                    int64_t price, uint64_t ns)
{
    const fdInstrument *ins = &fd->ins[instrument];
    itchMsg m;
    fdMsgInit(fd, &m, ITCH_ADD_ORDER, instrument, ns);
    m.u.addOrder.orderRef = ref;
    m.u.addOrder.side = side == MT_BUY ? ITCH_BUY : ITCH_SELL;
    m.u.addOrder.shares = shares;
    memcpy(m.u.addOrder.stock, ins->stock, ITCH_STOCK_LEN);
    m.u.addOrder.price = fdPrice(fd, ins, price);
    fdEmit(fd, &m);
}

static void emitExecuted(fdFeed *fd, uint16_t instrument, uint64_t ref, uint32_t shares,
                         uint64_t match, uint64_t ns)
{
    itchMsg m;
    fdMsgInit(fd, &m, ITCH_ORDER_EXECUTED, instrument, ns);
    m.u.executed.orderRef = ref;
    m.u.executed.shares = shares;
    m.u.executed.matchNumber = match;
    fdEmit(fd, &m);
}

static void emitExecutedPrice(fdFeed *fd, uint16_t instrument, uint64_t ref, uint32_t shares,
                              uint64_t match, int64_t price, uint64_t ns)
{
    itchMsg m;
    fdMsgInit(fd, &m, ITCH_ORDER_EXECUTED_PX, instrument, ns);
    m.u.executed.orderRef = ref;
    m.u.executed.shares = shares;
    m.u.executed.matchNumber = match;
    m.u.executed.printable = 'N'; /* the Cross Trade message prints the volume */
    m.u.executed.price = fdPrice(fd, &fd->ins[instrument], price);
    fdEmit(fd, &m);
}

static void emitCancel(fdFeed *fd, uint16_t instrument, uint64_t ref, uint32_t shares, uint64_t ns)
{
    itchMsg m;
    fdMsgInit(fd, &m, ITCH_ORDER_CANCEL, instrument, ns);
    m.u.cancel.orderRef = ref;
    m.u.cancel.shares = shares;
    fdEmit(fd, &m);
}

static void emitDelete(fdFeed *fd, uint16_t instrument, uint64_t ref, uint64_t ns)
{
    itchMsg m;
    fdMsgInit(fd, &m, ITCH_ORDER_DELETE, instrument, ns);
    m.u.del.orderRef = ref;
    fdEmit(fd, &m);
}

static void emitReplace(fdFeed *fd, uint16_t instrument, uint64_t oldRef, uint64_t newRef,
                        uint32_t shares, int64_t price, uint64_t ns)
{
    itchMsg m;
    fdMsgInit(fd, &m, ITCH_ORDER_REPLACE, instrument, ns);
    m.u.replace.origRef = oldRef;
    m.u.replace.newRef = newRef;
    m.u.replace.shares = shares;
    m.u.replace.price = fdPrice(fd, &fd->ins[instrument], price);
    fdEmit(fd, &m);
}

/* An execution of an order the feed never published: printed as a Trade
 * (non-cross) message, order reference 0 and side 'B' as NASDAQ fills them,
 * so the volume is not lost. */
static void emitTrade(fdFeed *fd, uint16_t instrument, uint32_t shares, int64_t price,
                      uint64_t match, uint64_t ns)
{
    const fdInstrument *ins = &fd->ins[instrument];
    itchMsg m;
    fdMsgInit(fd, &m, ITCH_TRADE, instrument, ns);
    m.u.trade.orderRef = 0;
    m.u.trade.side = ITCH_BUY;
    m.u.trade.shares = shares;
    memcpy(m.u.trade.stock, ins->stock, ITCH_STOCK_LEN);
    m.u.trade.price = fdPrice(fd, ins, price);
    m.u.trade.matchNumber = match;
    fdEmit(fd, &m);
}

static void emitCross(fdFeed *fd, uint64_t ns)
{
    const fdInstrument *ins = &fd->ins[fd->cross.instrument];
    itchMsg m;
    fdMsgInit(fd, &m, ITCH_CROSS_TRADE, fd->cross.instrument, ns);
    m.u.cross.shares = fd->cross.paired;
    memcpy(m.u.cross.stock, ins->stock, ITCH_STOCK_LEN);
    m.u.cross.price = fdPrice(fd, ins, fd->cross.price);
    m.u.cross.matchNumber = derivedNumber(fd, ++fd->crossNumbers);
    m.u.cross.crossType = fd->cross.crossType;
    fdEmit(fd, &m);
    fd->cross.active = 0;
}

/* ITCH trading state and our reason code for a matcher state. */
static void itchState(uint8_t state, uint8_t *itch, const char **reason)
{
    switch (state) {
    case MT_STATE_CONTINUOUS:
        *itch = ITCH_STATE_TRADING;
        *reason = "    ";
        break;
    case MT_STATE_PRE_OPEN:
        *itch = ITCH_STATE_QUOTATION_ONLY;
        *reason = "PREO";
        break;
    case MT_STATE_HALTED:
        *itch = ITCH_STATE_HALTED;
        *reason = "HALT";
        break;
    default:
        *itch = ITCH_STATE_HALTED;
        *reason = "CLSD";
        break;
    }
}

static void emitTradingAction(fdFeed *fd, uint16_t instrument, uint64_t ns)
{
    const fdInstrument *ins = &fd->ins[instrument];
    const char *reason;
    itchMsg m;
    fdMsgInit(fd, &m, ITCH_TRADING_ACTION, instrument, ns);
    memcpy(m.u.tradingAction.stock, ins->stock, ITCH_STOCK_LEN);
    itchState(ins->state, &m.u.tradingAction.state, &reason);
    m.u.tradingAction.reserved = ' ';
    memcpy(m.u.tradingAction.reason, reason, ITCH_REASON_LEN);
    fdEmit(fd, &m);
}

/* NOII price variation: |near - reference| / reference in whole percent,
 * bucketed as the spec's codes. The reference is the pre-settlement price. */
static uint8_t priceVariation(int64_t near, int64_t reference)
{
    if (near <= 0 || reference <= 0)
        return ' ';
    uint64_t d = near > reference ? (uint64_t)(near - reference) : (uint64_t)(reference - near);
    uint64_t pct = d / (uint64_t)reference < 100 ? d * 100 / (uint64_t)reference : 100;
    if (pct < 1)
        return 'L';
    if (pct < 10)
        return (uint8_t)('0' + pct);
    if (pct < 20)
        return 'A';
    if (pct < 30)
        return 'B';
    return 'C';
}

/* ---- events ---------------------------------------------------------------------------- */

static void onAccepted(fdFeed *fd, const mtEvent *ev)
{
    const mtAccepted *a = &ev->u.accepted;
    if (fd->pend.active)
        fd->stats.unexpected++; /* the previous call's order neither rested nor ended */
    fd->pend.active = 1;
    fd->pend.repriced = 0;
    fd->pend.orderId = a->orderId;
    fd->pend.oldRef = 0;
    fd->pend.price = a->price;
    fd->pend.leaves = a->qty;
    fd->pend.instrument = ev->instrument;
    fd->pend.side = a->side;
}

/* The pending order ended without resting: a repriced order leaves the book. */
static void pendingGone(fdFeed *fd, uint64_t ns)
{
    if (fd->pend.repriced) {
        fdOrder *o = ordFind(fd, fd->pend.orderId);
        emitDelete(fd, fd->pend.instrument, fd->pend.oldRef, ns);
        if (o)
            ordDelete(fd, o);
    }
    fd->pend.active = 0;
}

static void onFill(fdFeed *fd, const mtEvent *ev, uint64_t ns)
{
    const mtFill *f = &ev->u.fill;
    if (f->aggressor == MT_AGGRESSOR_NONE) {
        /* auction: both orders rest; the cross prints the volume */
        for (int s = MT_BUY; s <= MT_SELL; s++) {
            fdOrder *o = ordFind(fd, f->orderId[s]);
            if (!o) {
                fd->stats.unknownOrder++;
                continue;
            }
            emitExecutedPrice(fd, ev->instrument, o->ref, f->qty, f->tradeId, f->price, ns);
            if (o->leaves != f->leaves[s] + f->qty)
                fd->stats.unexpected++;
            o->leaves = f->leaves[s];
            if (o->leaves == 0)
                ordDelete(fd, o);
        }
        if (fd->cross.active && fd->cross.instrument == ev->instrument) {
            fd->cross.filled += f->qty;
            if (fd->cross.filled >= fd->cross.paired)
                emitCross(fd, ns);
        } else {
            fd->stats.unexpected++;
        }
        return;
    }
    int maker = f->aggressor == MT_BUY ? MT_SELL : MT_BUY;
    int taker = f->aggressor;
    fdOrder *o = ordFind(fd, f->orderId[maker]);
    if (o) {
        emitExecuted(fd, ev->instrument, o->ref, f->qty, f->tradeId, ns);
        if (o->leaves != f->leaves[maker] + f->qty)
            fd->stats.unexpected++;
        o->leaves = f->leaves[maker];
        if (o->leaves == 0)
            ordDelete(fd, o);
    } else {
        fd->stats.unknownOrder++;
        emitTrade(fd, ev->instrument, f->qty, f->price, f->tradeId, ns);
    }
    if (fd->pend.active && fd->pend.orderId == f->orderId[taker]) {
        fd->pend.leaves = f->leaves[taker];
        if (fd->pend.leaves == 0)
            pendingGone(fd, ns);
    } else {
        fd->stats.unexpected++;
    }
}

static void onCancelled(fdFeed *fd, const mtEvent *ev, uint64_t ns)
{
    const mtCancelled *c = &ev->u.cancelled;
    if (fd->pend.active && fd->pend.orderId == c->orderId) {
        pendingGone(fd, ns); /* IOC/market remainder, FOK, minimum quantity, STP */
        return;
    }
    fdOrder *o = ordFind(fd, c->orderId);
    if (!o) {
        fd->stats.unknownOrder++;
        return;
    }
    if (o->leaves != c->qty)
        fd->stats.unexpected++; /* the matcher cancels the whole open quantity */
    emitDelete(fd, ev->instrument, o->ref, ns);
    ordDelete(fd, o);
}

static void onReplaced(fdFeed *fd, const mtEvent *ev, uint64_t ns)
{
    const mtReplaced *r = &ev->u.replaced;
    fdOrder *o = ordFind(fd, r->orderId);
    if (!o) {
        fd->stats.unknownOrder++;
        return;
    }
    if (fd->pend.active) {
        fd->stats.unexpected++;
        fd->pend.active = 0;
    }
    if (r->price != o->price) {
        /* it leaves its level and matches as an incoming order: published
         * when it rests (Order Replace) or when it ends (Order Delete) */
        fd->pend.active = 1;
        fd->pend.repriced = 1;
        fd->pend.orderId = r->orderId;
        fd->pend.oldRef = o->ref;
        fd->pend.price = r->price;
        fd->pend.leaves = r->leaves;
        fd->pend.instrument = ev->instrument;
        fd->pend.side = r->side;
        return;
    }
    if (r->keptPriority) {
        if (r->leaves < o->leaves)
            emitCancel(fd, ev->instrument, o->ref, o->leaves - r->leaves, ns);
        else if (r->leaves > o->leaves)
            fd->stats.unexpected++;
        o->leaves = r->leaves;
        return;
    }
    /* more quantity: the order goes to the tail of its level under a new reference */
    uint64_t ref = derivedNumber(fd, ++fd->derivedRefs);
    emitReplace(fd, ev->instrument, o->ref, ref, r->leaves, r->price, ns);
    o->ref = ref;
    o->leaves = r->leaves;
}

static void onLevel(fdFeed *fd, const mtEvent *ev, uint64_t ns)
{
    const mtLevel *l = &ev->u.level;
    if (!fd->pend.active || fd->pend.instrument != ev->instrument || fd->pend.side != l->side ||
        fd->pend.price != l->price)
        return; /* only the resting of the pending order matters: ITCH is order by order */
    if (fd->pend.repriced) {
        fdOrder *o = ordFind(fd, fd->pend.orderId);
        uint64_t ref = derivedNumber(fd, ++fd->derivedRefs);
        emitReplace(fd, ev->instrument, fd->pend.oldRef, ref, fd->pend.leaves, fd->pend.price, ns);
        if (o) {
            o->ref = ref;
            o->price = fd->pend.price;
            o->leaves = fd->pend.leaves;
        }
    } else {
        fdOrder *o = ordInsert(fd, fd->pend.orderId);
        emitAdd(fd, ev->instrument, fd->pend.orderId, fd->pend.side, fd->pend.leaves,
                fd->pend.price, ns);
        if (o) {
            o->ref = fd->pend.orderId;
            o->price = fd->pend.price;
            o->leaves = fd->pend.leaves;
            o->instrument = ev->instrument;
            o->side = fd->pend.side;
        } else {
            fd->stats.unexpected++; /* more resting orders than orderCapacity */
        }
    }
    fd->pend.active = 0;
}

static void onState(fdFeed *fd, const mtEvent *ev, uint64_t ns)
{
    fdInstrument *ins = &fd->ins[ev->instrument];
    ins->state = ev->u.state.state;
    if (ins->state == MT_STATE_CONTINUOUS)
        ins->crossType =
            ev->u.state.previous == MT_STATE_HALTED ? ITCH_CROSS_HALT : ITCH_CROSS_OPENING;
    emitTradingAction(fd, ev->instrument, ns);
}

static void onUncross(fdFeed *fd, const mtEvent *ev, uint64_t ns)
{
    const mtAuction *a = &ev->u.auction;
    if (fd->cross.active) {
        fd->stats.unexpected++; /* the previous cross never completed */
        emitCross(fd, ns);
    }
    if (a->pairedQty == 0)
        return;
    fd->cross.active = 1;
    fd->cross.instrument = ev->instrument;
    fd->cross.crossType = fd->ins[ev->instrument].crossType;
    fd->cross.price = a->price;
    fd->cross.paired = a->pairedQty;
    fd->cross.filled = 0;
}

static void onImbalance(fdFeed *fd, const mtEvent *ev, uint64_t ns)
{
    const mtAuction *a = &ev->u.auction;
    const fdInstrument *ins = &fd->ins[ev->instrument];
    itchMsg m;
    fdMsgInit(fd, &m, ITCH_NOII, ev->instrument, ns);
    m.u.noii.pairedShares = a->pairedQty;
    m.u.noii.imbalanceShares = a->imbalanceQty;
    if (a->price == 0 || a->pairedQty == 0)
        m.u.noii.direction = ITCH_IMBALANCE_INSUFFICIENT;
    else if (a->imbalanceSide == MT_BUY)
        m.u.noii.direction = ITCH_IMBALANCE_BUY;
    else if (a->imbalanceSide == MT_SELL)
        m.u.noii.direction = ITCH_IMBALANCE_SELL;
    else
        m.u.noii.direction = ITCH_IMBALANCE_NONE;
    memcpy(m.u.noii.stock, ins->stock, ITCH_STOCK_LEN);
    uint32_t px = a->pairedQty ? fdPrice(fd, ins, a->price) : 0;
    m.u.noii.farPrice = px;
    m.u.noii.nearPrice = px;
    m.u.noii.refPrice = px;
    m.u.noii.crossType = ins->state == MT_STATE_HALTED ? ITCH_CROSS_HALT : ITCH_CROSS_OPENING;
    m.u.noii.priceVariation =
        a->pairedQty ? priceVariation(a->price, ins->preSettlementTicks) : (uint8_t)' ';
    fdEmit(fd, &m);
}

void fdOnEvent(fdFeed *fd, const mtEvent *ev, uint64_t ns)
{
    if (ev->type == MT_EV_REJECTED)
        return; /* nothing changed on the book */
    if (fd->ended || ev->instrument >= fd->nInstruments || !fd->ins[ev->instrument].defined) {
        fd->stats.unexpected++;
        return;
    }
    if (fd->cross.active && ev->type != MT_EV_FILL && ev->type != MT_EV_LEVEL) {
        fd->stats.unexpected++; /* a cross that never reached its paired quantity */
        emitCross(fd, ns);
    }
    switch (ev->type) {
    case MT_EV_ACCEPTED:
        onAccepted(fd, ev);
        break;
    case MT_EV_FILL:
        onFill(fd, ev, ns);
        break;
    case MT_EV_CANCELLED:
        onCancelled(fd, ev, ns);
        break;
    case MT_EV_REPLACED:
        onReplaced(fd, ev, ns);
        break;
    case MT_EV_LEVEL:
        onLevel(fd, ev, ns);
        break;
    case MT_EV_STATE:
        onState(fd, ev, ns);
        break;
    case MT_EV_IMBALANCE:
        onImbalance(fd, ev, ns);
        break;
    case MT_EV_UNCROSS:
        onUncross(fd, ev, ns);
        break;
    default:
        fd->stats.unexpected++;
        break;
    }
}

/* ---- session ------------------------------------------------------------------------- */

int fdSystemEvent(fdFeed *fd, uint8_t code, uint64_t ns)
{
    if (fd->ended || !itchIsOneOf(code, "OSQMEC"))
        return -1;
    itchMsg m;
    fdMsgInit(fd, &m, ITCH_SYSTEM_EVENT, 0, ns);
    m.u.systemEvent.eventCode = code;
    fdEmit(fd, &m);
    fd->lastSystemEvent = code;
    return 0;
}

static void emitDirectory(fdFeed *fd, uint64_t ns)
{
    for (uint16_t i = 0; i < fd->nInstruments; i++) {
        const fdInstrument *ins = &fd->ins[i];
        if (!ins->defined)
            continue;
        itchMsg m;
        fdMsgInit(fd, &m, ITCH_STOCK_DIRECTORY, i, ns);
        itchStockDirectory *r = &m.u.stockDirectory;
        memcpy(r->stock, ins->stock, ITCH_STOCK_LEN);
        r->marketCategory = FD_R_MARKET_CATEGORY;
        r->financialStatus = FD_R_FINANCIAL_STATUS;
        r->roundLotSize = FD_R_ROUND_LOT_SIZE;
        r->roundLotsOnly = FD_R_ROUND_LOTS_ONLY;
        r->issueClassification = FD_R_ISSUE_CLASSIFICATION;
        memcpy(r->issueSubType, "Z ", 2); /* not applicable */
        r->authenticity = FD_R_AUTHENTICITY;
        r->shortSaleThreshold = FD_R_NOT_AVAILABLE;
        r->ipoFlag = FD_R_NOT_AVAILABLE;
        r->luldTier = FD_R_NOT_AVAILABLE;
        r->etpFlag = FD_R_ETP_FLAG;
        r->etpLeverage = 0;
        r->inverse = FD_R_INVERSE;
        fdEmit(fd, &m);
    }
    for (uint16_t i = 0; i < fd->nInstruments; i++)
        if (fd->ins[i].defined)
            emitTradingAction(fd, i, ns);
}

int fdDirectory(fdFeed *fd, uint64_t ns)
{
    if (fd->ended)
        return -1;
    emitDirectory(fd, ns);
    return 0;
}

void fdEndSession(fdFeed *fd, uint64_t ns)
{
    if (fd->ended)
        return;
    if (fd->lastSystemEvent != ITCH_EVENT_END_OF_MESSAGES)
        fdSystemEvent(fd, ITCH_EVENT_END_OF_MESSAGES, ns);
    fdFlush(fd);
    fdSendEmpty(fd, MOLD_END_OF_SESSION);
    fd->ended = 1;
}

/* ---- snapshot ----------------------------------------------------------------------- */

static void snapFlush(fdFeed *fd)
{
    if (fd->snap.count == 0)
        return;
    moldPutHeader(fd->pkt, fd->session, fd->snap.first, fd->snap.count);
    uint16_t len = fd->snap.len;
    fd->snap.len = 0;
    fd->snap.count = 0;
    fd->snap.send(fd->snap.ctx, fd->pkt, len);
}

/* Room for one n-byte message in the snapshot's open packet (the incremental
 * packet buffer, empty while a snapshot is written). */
static uint8_t *snapReserve(fdFeed *fd, size_t n)
{
    if (fd->snap.len + MOLD_BLOCK_HEADER + n > fd->maxPayload || fd->snap.count == MOLD_MAX_COUNT)
        snapFlush(fd);
    if (fd->snap.count == 0) {
        fd->snap.len = MOLD_HEADER_SIZE;
        fd->snap.first = fd->snap.next;
    }
    uint8_t *p = fd->pkt + fd->snap.len;
    itchPut16(p, (uint16_t)n);
    fd->snap.len = (uint16_t)(fd->snap.len + MOLD_BLOCK_HEADER + n);
    fd->snap.count++;
    fd->snap.next++;
    return p + MOLD_BLOCK_HEADER;
}

static void snapEmit(fdFeed *fd, const itchMsg *m)
{
    size_t n = itchSize(m->type);
    itchEncode(m, snapReserve(fd, n), n);
}

/* One resting order of the engine, as the feed published it. */
static void snapVisit(void *ctx, const mtOrderInfo *info)
{
    fdFeed *fd = ctx;
    const fdOrder *o = ordFind(fd, info->orderId);
    if (!o || o->leaves != info->leaves || o->price != info->price || o->side != info->side) {
        fd->snap.mismatched++; /* cannot happen while unknownOrder and unexpected are 0 */
        return;
    }
    emitAdd(fd, o->instrument, o->ref, o->side, o->leaves, o->price, fd->snap.ns);
}

int64_t fdSnapshot(fdFeed *fd, const mtEngine *e, uint64_t ns, fdSendFn *send, void *ctx)
{
    if (!e || !send || fd->pend.active || fd->cross.active)
        return -1;
    fdFlush(fd);
    fd->snap.ns = ns;
    fd->snap.active = 1;
    fd->snap.len = fd->snap.count = 0;
    fd->snap.next = 1;
    fd->snap.mismatched = 0;
    fd->snap.send = send;
    fd->snap.ctx = ctx;
    emitDirectory(fd, ns);
    for (uint16_t i = 0; i < fd->nInstruments; i++)
        if (fd->ins[i].defined) {
            mtEngineForEachOrder(e, i, MT_BUY, snapVisit, fd);
            mtEngineForEachOrder(e, i, MT_SELL, snapVisit, fd);
        }
    itchPutEndOfSnapshot(snapReserve(fd, ITCH_END_OF_SNAPSHOT_SIZE), fd->nextSeq);
    snapFlush(fd);
    fd->snap.active = 0;
    fd->stats.snapshots++;
    if (fd->snap.mismatched) {
        fd->stats.snapshotMismatches += fd->snap.mismatched;
        return -1;
    }
    return (int64_t)(fd->snap.next - 1);
}

/* ---- history --------------------------------------------------------------------------- */

void fdHistoryRange(const fdFeed *fd, uint64_t *first, uint64_t *next)
{
    uint64_t sentNext = fd->pktCount ? fd->pktFirstSeq : fd->nextSeq;
    uint64_t lo = 1;
    if (!fd->history)
        lo = sentNext;
    else if (fd->nextSeq > (uint64_t)fd->historyMask + 1)
        lo = fd->nextSeq - fd->historyMask - 1;
    if (lo > sentNext)
        lo = sentNext;
    *first = lo;
    *next = sentNext;
}

static const uint8_t *historySlot(const fdFeed *fd, uint64_t seq)
{
    uint64_t first, next;
    fdHistoryRange(fd, &first, &next);
    if (seq < first || seq >= next)
        return NULL;
    return fd->history + (size_t)(seq & fd->historyMask) * FD_HISTORY_SLOT;
}

int fdHistoryGet(const fdFeed *fd, uint64_t seq, uint8_t *out, size_t cap)
{
    const uint8_t *slot = historySlot(fd, seq);
    if (!slot)
        return -1;
    size_t n = itchGet16(slot);
    if (n > cap)
        return -1;
    memcpy(out, slot + MOLD_BLOCK_HEADER, n);
    return (int)n;
}

size_t fdRetransmit(const fdFeed *fd, uint64_t seq, uint16_t count, uint8_t *out, size_t cap)
{
    if (count == 0 || !historySlot(fd, seq))
        return 0;
    if (cap > fd->maxPayload)
        cap = fd->maxPayload;
    if (cap < MOLD_HEADER_SIZE)
        return 0;
    size_t len = MOLD_HEADER_SIZE;
    uint16_t n = 0;
    if (count > MOLD_MAX_COUNT)
        count = MOLD_MAX_COUNT;
    while (n < count) {
        const uint8_t *slot = historySlot(fd, seq + n);
        if (!slot)
            break;
        size_t b = MOLD_BLOCK_HEADER + itchGet16(slot);
        if (len + b > cap)
            break;
        memcpy(out + len, slot, b);
        len += b;
        n++;
    }
    if (n == 0)
        return 0;
    moldPutHeader(out, fd->session, seq, n);
    return len;
}

/* ---- creation ---------------------------------------------------------------------------- */

int fdSessionName(char out[MOLD_SESSION_LEN + 1], uint32_t tradingDay, uint8_t segmentId)
{
    if (tradingDay > 99999999u)
        return -1;
    snprintf(out, MOLD_SESSION_LEN + 1, "%08u%02X", (unsigned)tradingDay, (unsigned)segmentId);
    return 0;
}

const char *fdSession(const fdFeed *fd)
{
    return fd->session;
}

void fdGetStats(const fdFeed *fd, fdStats *out)
{
    *out = fd->stats;
    out->nextSequence = fd->nextSeq;
}

static int sessionValid(const char *s)
{
    size_t n = strnlen(s, MOLD_SESSION_LEN + 1);
    if (n == 0 || n > MOLD_SESSION_LEN)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')))
            return 0;
    }
    return 1;
}

fdFeed *fdCreate(const fdOptions *opt)
{
    if (!opt || !opt->cfg || !opt->send || opt->segment >= opt->cfg->segmentCount)
        return NULL;
    const cfgConfig *cfg = opt->cfg;
    const cfgSegment *seg = &cfg->segments[opt->segment];
    uint16_t mtu = opt->mtu ? opt->mtu : FD_MTU_DEFAULT;
    if (mtu < FD_MTU_MIN || mtu > FD_MTU_MAX)
        return NULL;
    if (opt->historyDepth && !isPow2(opt->historyDepth))
        return NULL;
    char session[MOLD_SESSION_LEN + 1];
    if (opt->session[0]) {
        if (!sessionValid(opt->session))
            return NULL;
        memset(session, ' ', MOLD_SESSION_LEN);
        memcpy(session, opt->session, strnlen(opt->session, MOLD_SESSION_LEN));
        session[MOLD_SESSION_LEN] = 0;
    } else if (fdSessionName(session, opt->tradingDay, seg->id) != 0) {
        return NULL;
    }
    uint16_t nIns = seg->instrumentCount;
    for (uint32_t i = 0; i < cfg->instrumentCount; i++) {
        const cfgInstrument *ci = &cfg->instruments[i];
        if (ci->segIndex != opt->segment)
            continue;
        if (ci->book >= nIns || ci->tickSize <= 0 || ci->tickSize > (int64_t)ITCH_PRICE_MAX ||
            ci->lowerTicks < 0 || ci->upperTicks > (int64_t)(ITCH_PRICE_MAX / ci->tickSize))
            return NULL;
    }
    uint32_t capacity = opt->orderCapacity ? opt->orderCapacity : seg->orderCapacity;
    if (capacity == 0 || capacity > (UINT32_C(1) << 30))
        return NULL;
    uint64_t slots = 16;
    while (slots < 2 * (uint64_t)capacity)
        slots <<= 1;

    size_t offIns = align64(sizeof(fdFeed));
    size_t offOrders = offIns + align64((size_t)nIns * sizeof(fdInstrument) + 1);
    size_t offPkt = offOrders + align64((size_t)slots * sizeof(fdOrder));
    size_t offHist = offPkt + align64(mtu);
    size_t total = offHist + (size_t)opt->historyDepth * FD_HISTORY_SLOT;
    const mtAllocator *alloc = opt->allocator ? opt->allocator : mtDefaultAllocator();
    uint8_t *base = alloc->alloc(alloc->ctx, total);
    if (!base)
        return NULL;
    memset(base, 0, total);
    fdFeed *fd = (fdFeed *)base;
    fd->alloc = alloc;
    fd->bytes = total;
    memcpy(fd->session, session, sizeof session);
    fd->segmentId = seg->id;
    fd->nInstruments = nIns;
    fd->ins = (fdInstrument *)(base + offIns);
    fd->orders = (fdOrder *)(base + offOrders);
    fd->orderMask = (uint32_t)(slots - 1);
    fd->pkt = base + offPkt;
    fd->maxPayload = (uint16_t)(mtu - MOLD_IP_UDP_OVERHEAD);
    fd->history = opt->historyDepth ? base + offHist : NULL;
    fd->historyMask = opt->historyDepth ? opt->historyDepth - 1 : 0;
    fd->nextSeq = 1;
    fd->send = opt->send;
    fd->sendCtx = opt->sendCtx;
    fd->heartbeatNs = opt->heartbeatNs ? opt->heartbeatNs : FD_HEARTBEAT_DEFAULT;
    for (uint32_t i = 0; i < cfg->instrumentCount; i++) {
        const cfgInstrument *ci = &cfg->instruments[i];
        if (ci->segIndex != opt->segment)
            continue;
        fdInstrument *ins = &fd->ins[ci->book];
        itchPutAlpha((uint8_t *)ins->stock, ci->id, ITCH_STOCK_LEN);
        ins->tickSize = (uint32_t)ci->tickSize;
        ins->preSettlementTicks = ci->preSettlementTicks;
        ins->state = MT_STATE_CLOSED; /* as mtEngineAddInstrument leaves it */
        ins->crossType = ITCH_CROSS_OPENING;
        ins->defined = 1;
    }
    return fd;
}

void fdDestroy(fdFeed *fd)
{
    if (!fd)
        return;
    const mtAllocator *alloc = fd->alloc;
    alloc->free(alloc->ctx, fd, fd->bytes);
}
