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
    uint32_t maxTicks; /* the largest price in ticks that fits ITCH_PRICE_MAX */
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
    uint16_t nLive; /* nInstruments, 0 once the session ended: events are checked against it */
    uint16_t capInstruments; /* entries of ins (the segment's instrument_capacity) */
    uint8_t directorySent;   /* fdDirectory ran: an added instrument gets its R and H now */
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
    /* Packets are built in place in the history ring (or, without history,
     * in one packet buffer): each message is written once, as it goes on
     * the wire, and the sent packets are the history. */
    uint8_t *pkt; /* the packet being filled: ring + ringPhys */
    uint8_t *ring;
    size_t ringSize;   /* bytes */
    size_t ringPhys;   /* where the packet being filled (or the next one) starts */
    uint64_t ringVirt; /* the same position counted from the start, never wrapping */
    uint16_t maxPayload;
    uint16_t pktLen; /* bytes used, header included; 0 = no open packet */
    uint16_t pktCount;
    uint64_t pktFirstSeq;
    uint64_t nextSeq;
    fdSendFn *send;
    void *sendCtx;
    /* timer and session */
    uint64_t midnightNs; /* fdTap: wall clock of ITCH time 0 */
    int marketOpen;      /* fdTap sent System Event 'Q' */
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
    uint8_t *snapPkt; /* the snapshot's packet buffer (the ring is the history) */
    /* retransmission history: per sequence number, the ring position
     * (ringVirt count) of its block */
    uint64_t *history;
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
    if ((uint64_t)ticks > ins->maxTicks) {
        fd->stats.priceClipped++;
        return ITCH_PRICE_MAX;
    }
    return (uint32_t)((uint64_t)ticks * ins->tickSize);
}

/* ---- published orders: open addressing, Robin Hood linear probing -------------------
 *
 * An order's home slot is its id's sequence number modulo the table size, so
 * the resting orders of a busy day (recent ids) sit in long runs of
 * consecutive slots, each at its home. Robin Hood keeps every run ordered by
 * home, so a search stops at the first entry closer to its home than the
 * searched id would be, and a delete shifts entries back only up to the next
 * entry at its home: O(1) for that layout, where plain linear probing's
 * delete walked the whole run. The table is at most half full. */

static uint32_t ordHome(const fdFeed *fd, uint64_t orderId)
{
    /* ids are (segment << 56) | seq with seq counting up: the low bits spread */
    return (uint32_t)(orderId & FD_SEQ_MASK) & fd->orderMask;
}

/* How far slot i is from the home of the id it holds. */
static uint32_t ordDist(const fdFeed *fd, uint32_t i, uint64_t orderId)
{
    return (i - ordHome(fd, orderId)) & fd->orderMask;
}

static fdOrder *ordFind(fdFeed *fd, uint64_t orderId)
{
    if (orderId == 0)
        return NULL;
    for (uint32_t i = ordHome(fd, orderId), d = 0;; i = (i + 1) & fd->orderMask, d++) {
        fdOrder *o = &fd->orders[i];
        if (o->orderId == orderId)
            return o;
        if (o->orderId == 0 || ordDist(fd, i, o->orderId) < d)
            return NULL;
    }
}

/* The slot of orderId: the existing one, or a new one (zeroed but for the
 * id). Entries it displaces move further on; pointers to other entries are
 * not valid afterwards. NULL when the table holds its capacity. */
static fdOrder *ordInsert(fdFeed *fd, uint64_t orderId)
{
    if (fd->stats.ordersOpen >= fd->orderMask / 2 + 1 || orderId == 0)
        return NULL; /* more than the capacity: keep the load at 1/2 or less */
    fdOrder carry = {.orderId = orderId}, *placed = NULL;
    for (uint32_t i = ordHome(fd, orderId), d = 0;; i = (i + 1) & fd->orderMask, d++) {
        fdOrder *o = &fd->orders[i];
        if (o->orderId == 0) {
            *o = carry;
            fd->stats.ordersOpen++;
            return placed ? placed : o;
        }
        if (!placed && o->orderId == orderId)
            return o; /* found before the place it would take */
        uint32_t od = ordDist(fd, i, o->orderId);
        if (od < d) { /* the richer entry gives its slot up and moves on */
            fdOrder t = *o;
            *o = carry;
            carry = t;
            d = od;
            if (!placed)
                placed = o;
        }
    }
}

static void ordDelete(fdFeed *fd, const fdOrder *o)
{
    uint32_t mask = fd->orderMask;
    uint32_t i = (uint32_t)(o - fd->orders);
    for (;;) {
        uint32_t j = (i + 1) & mask;
        const fdOrder *n = &fd->orders[j];
        if (n->orderId == 0 || ordDist(fd, j, n->orderId) == 0)
            break; /* the run ends, or the next entry is at home: nothing moves back */
        fd->orders[i] = *n;
        i = j;
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
    if (fd->history) { /* the packet stays where it is, as history; the next follows it */
        size_t used = ((size_t)len + 7) & ~(size_t)7;
        fd->ringPhys += used;
        fd->ringVirt += used;
    }
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

_Static_assert((FD_MTU_MAX - MOLD_IP_UDP_OVERHEAD - MOLD_HEADER_SIZE) /
                       (MOLD_BLOCK_HEADER + ITCH_SIZE_S) <
                   MOLD_MAX_COUNT,
               "a packet holds fewer messages than MoldUDP64's count limit");

/* Big-endian stores of whole fields (one bswap and one store each). */
static inline void fdSt16(uint8_t *p, uint16_t v)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    v = __builtin_bswap16(v);
#endif
    memcpy(p, &v, sizeof v);
}

static inline void fdSt32(uint8_t *p, uint32_t v)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    v = __builtin_bswap32(v);
#endif
    memcpy(p, &v, sizeof v);
}

static inline void fdSt64(uint8_t *p, uint64_t v)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    memcpy(p, &v, sizeof v);
}

/* Opens a packet in the ring: it must fit before the ring's end, else it
 * starts over at the beginning (the tail stays unused). */
static void fdOpenPacket(fdFeed *fd)
{
    if (fd->ringPhys + fd->maxPayload > fd->ringSize) {
        fd->ringVirt += fd->ringSize - fd->ringPhys;
        fd->ringPhys = 0;
    }
    fd->pkt = fd->ring + fd->ringPhys;
    fd->pktLen = MOLD_HEADER_SIZE;
    fd->pktFirstSeq = fd->nextSeq;
}

static uint8_t *snapReserve(fdFeed *fd, size_t n);

/* Sequences one n-byte message of type `type` and returns where its bytes
 * go: in the open packet (sent first when the message would not fit), whose
 * bytes are also the history; or in the snapshot being written. */
static inline uint8_t *fdReserve(fdFeed *fd, uint8_t type, uint16_t n)
{
    if (__builtin_expect(fd->snap.active, 0))
        return snapReserve(fd, n);
    /* (the count cannot reach MOLD_MAX_COUNT: see FD_MTU_MAX) */
    if (fd->pktLen + MOLD_BLOCK_HEADER + n > fd->maxPayload)
        fdFlush(fd);
    if (fd->pktCount == 0)
        fdOpenPacket(fd);
    uint8_t *p = fd->pkt + fd->pktLen;
    fdSt16(p, n);
    if (fd->history)
        fd->history[fd->nextSeq & fd->historyMask] = fd->ringVirt + fd->pktLen;
    fd->pktLen = (uint16_t)(fd->pktLen + MOLD_BLOCK_HEADER + n);
    fd->pktCount++;
    fd->nextSeq++;
    fd->stats.byType[type - 'A']++; /* stats.messages is nextSeq - 1 (fdGetStats) */
    return p + MOLD_BLOCK_HEADER;
}

/* Reserves a message and writes its common header (type, locate = the
 * instrument, tracking = the segment id, 48-bit timestamp); the caller
 * writes the rest of its fields. */
static inline uint8_t *fdBegin(fdFeed *fd, uint8_t type, uint16_t n, uint16_t locate, uint64_t ns)
{
    uint8_t *p = fdReserve(fd, type, n);
    p[ITCH_OFF_TYPE] = type;
    fdSt16(p + ITCH_OFF_LOCATE, locate);
    fdSt16(p + ITCH_OFF_TRACKING, fd->segmentId);
    fdSt16(p + ITCH_OFF_TIMESTAMP, (uint16_t)(ns >> 32));
    fdSt32(p + ITCH_OFF_TIMESTAMP + 2, (uint32_t)ns);
    return p;
}

/* The less frequent messages (S, R, H, Q, I, P) through the codec. */
static void fdEmit(fdFeed *fd, const itchMsg *m)
{
    uint16_t n = (uint16_t)itchSize(m->type);
    itchEncode(m, fdReserve(fd, m->type, n), n);
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
    uint32_t px = fdPrice(fd, ins, price);
    uint8_t *p = fdBegin(fd, ITCH_ADD_ORDER, ITCH_SIZE_A, instrument, ns);
    fdSt64(p + ITCH_A_REF, ref);
    p[ITCH_A_SIDE] = side == MT_BUY ? ITCH_BUY : ITCH_SELL;
    fdSt32(p + ITCH_A_SHARES, shares);
    memcpy(p + ITCH_A_STOCK, ins->stock, ITCH_STOCK_LEN);
    fdSt32(p + ITCH_A_PRICE, px);
}

static void emitExecuted(fdFeed *fd, uint16_t instrument, uint64_t ref, uint32_t shares,
                         uint64_t match, uint64_t ns)
{
    uint8_t *p = fdBegin(fd, ITCH_ORDER_EXECUTED, ITCH_SIZE_E, instrument, ns);
    fdSt64(p + ITCH_E_REF, ref);
    fdSt32(p + ITCH_E_SHARES, shares);
    fdSt64(p + ITCH_E_MATCH, match);
}

static void emitExecutedPrice(fdFeed *fd, uint16_t instrument, uint64_t ref, uint32_t shares,
                              uint64_t match, int64_t price, uint64_t ns)
{
    uint32_t px = fdPrice(fd, &fd->ins[instrument], price);
    uint8_t *p = fdBegin(fd, ITCH_ORDER_EXECUTED_PX, ITCH_SIZE_C, instrument, ns);
    fdSt64(p + ITCH_E_REF, ref);
    fdSt32(p + ITCH_E_SHARES, shares);
    fdSt64(p + ITCH_E_MATCH, match);
    p[ITCH_C_PRINTABLE] = 'N'; /* the Cross Trade message prints the volume */
    fdSt32(p + ITCH_C_PRICE, px);
}

static void emitCancel(fdFeed *fd, uint16_t instrument, uint64_t ref, uint32_t shares, uint64_t ns)
{
    uint8_t *p = fdBegin(fd, ITCH_ORDER_CANCEL, ITCH_SIZE_X, instrument, ns);
    fdSt64(p + ITCH_X_REF, ref);
    fdSt32(p + ITCH_X_SHARES, shares);
}

static void emitDelete(fdFeed *fd, uint16_t instrument, uint64_t ref, uint64_t ns)
{
    uint8_t *p = fdBegin(fd, ITCH_ORDER_DELETE, ITCH_SIZE_D, instrument, ns);
    fdSt64(p + ITCH_D_REF, ref);
}

static void emitReplace(fdFeed *fd, uint16_t instrument, uint64_t oldRef, uint64_t newRef,
                        uint32_t shares, int64_t price, uint64_t ns)
{
    uint32_t px = fdPrice(fd, &fd->ins[instrument], price);
    uint8_t *p = fdBegin(fd, ITCH_ORDER_REPLACE, ITCH_SIZE_U, instrument, ns);
    fdSt64(p + ITCH_U_ORIG_REF, oldRef);
    fdSt64(p + ITCH_U_NEW_REF, newRef);
    fdSt32(p + ITCH_U_SHARES, shares);
    fdSt32(p + ITCH_U_PRICE, px);
}

/* An execution of an order the feed never published: printed as a Trade
 * (non-cross) message, order reference 0 and side 'B' as NASDAQ fills them,
 * so the volume is not lost. */
/* rare: out of line, so the hot path keeps a small frame */
__attribute__((noinline, cold)) static void emitTrade(fdFeed *fd, uint16_t instrument,
                                                      uint32_t shares, int64_t price,
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

/* rare: out of line, so the hot path keeps a small frame */
__attribute__((noinline, cold)) static void emitCross(fdFeed *fd, uint64_t ns)
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

__attribute__((noinline)) static void onAccepted(fdFeed *fd, const mtEvent *ev)
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
    /* its slot, if it rests, is written after matching: fetch it meanwhile */
    __builtin_prefetch(&fd->orders[ordHome(fd, a->orderId)], 1);
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

/* An auction fill: both orders rest; the cross prints the volume. */
__attribute__((noinline, cold)) static void onAuctionFill(fdFeed *fd, const mtEvent *ev,
                                                          uint64_t ns)
{
    const mtFill *f = &ev->u.fill;
    {
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
    }
}

__attribute__((noinline)) static void onFill(fdFeed *fd, const mtEvent *ev, uint64_t ns)
{
    const mtFill *f = &ev->u.fill;
    if (__builtin_expect(f->aggressor == MT_AGGRESSOR_NONE, 0)) {
        onAuctionFill(fd, ev, ns);
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

__attribute__((noinline)) static void onCancelled(fdFeed *fd, const mtEvent *ev, uint64_t ns)
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

/* rare: out of line, so the hot path keeps a small frame */
__attribute__((noinline, cold)) static void onReplaced(fdFeed *fd, const mtEvent *ev, uint64_t ns)
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

__attribute__((noinline)) static void onLevel(fdFeed *fd, const mtEvent *ev, uint64_t ns)
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

/* rare: out of line, so the hot path keeps a small frame */
__attribute__((noinline, cold)) static void onState(fdFeed *fd, const mtEvent *ev, uint64_t ns)
{
    fdInstrument *ins = &fd->ins[ev->instrument];
    ins->state = ev->u.state.state;
    if (ins->state == MT_STATE_CONTINUOUS)
        ins->crossType =
            ev->u.state.previous == MT_STATE_HALTED ? ITCH_CROSS_HALT : ITCH_CROSS_OPENING;
    emitTradingAction(fd, ev->instrument, ns);
}

/* rare: out of line, so the hot path keeps a small frame */
__attribute__((noinline, cold)) static void onUncross(fdFeed *fd, const mtEvent *ev, uint64_t ns)
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

/* rare: out of line, so the hot path keeps a small frame */
__attribute__((noinline, cold)) static void onImbalance(fdFeed *fd, const mtEvent *ev, uint64_t ns)
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

/* A cross that never reached its paired quantity: printed as it is. */
__attribute__((noinline, cold)) static void crossCut(fdFeed *fd, uint64_t ns)
{
    fd->stats.unexpected++;
    emitCross(fd, ns);
}

static inline void fdHandle(fdFeed *fd, const mtEvent *ev, uint64_t ns);

/* A cross that never reached its paired quantity is printed as it is, then
 * the event: out of line and a tail call, so the hot path saves no
 * registers. */
__attribute__((noinline, cold)) static void crossCutThen(fdFeed *fd, const mtEvent *ev, uint64_t ns)
{
    crossCut(fd, ns);
    fdHandle(fd, ev, ns);
}

static inline void fdDispatch(fdFeed *fd, const mtEvent *ev, uint64_t ns)
{
    if (ev->type == MT_EV_REJECTED)
        return; /* nothing changed on the book */
    if (__builtin_expect(ev->instrument >= fd->nLive || !fd->ins[ev->instrument].defined, 0)) {
        fd->stats.unexpected++;
        return;
    }
    if (ev->type == MT_EV_LEVEL && !fd->pend.active)
        return; /* most LEVEL events: no order of this call may rest (onLevel) */
    if (__builtin_expect(fd->cross.active, 0) && ev->type != MT_EV_FILL &&
        ev->type != MT_EV_LEVEL) {
        crossCutThen(fd, ev, ns);
        return;
    }
    fdHandle(fd, ev, ns);
}

/* Each kind of event to its handler (tail calls). */
static inline void fdHandle(fdFeed *fd, const mtEvent *ev, uint64_t ns)
{
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

void fdOnEvent(fdFeed *fd, const mtEvent *ev, uint64_t ns)
{
    fdDispatch(fd, ev, ns);
}

void fdSetMidnight(fdFeed *fd, uint64_t midnightNs)
{
    fd->midnightNs = midnightNs;
}

int fdMarketOpen(const fdFeed *fd)
{
    return fd->marketOpen;
}

/* Start of Market Hours before the first instrument trades continuously. */
__attribute__((noinline, cold)) static void tapState(fdFeed *fd, const mtEvent *ev, uint64_t ns)
{
    if (!fd->marketOpen && !fd->ended && ev->u.state.state == MT_STATE_CONTINUOUS) {
        fdSystemEvent(fd, ITCH_EVENT_START_OF_MARKET_HOURS, ns);
        fd->marketOpen = 1;
    }
    fdDispatch(fd, ev, ns);
}

void fdTap(void *ctx, const mtEvent *ev, uint64_t nowNs)
{
    fdFeed *fd = ctx;
    uint64_t ns = nowNs > fd->midnightNs ? nowNs - fd->midnightNs : 0;
    if (__builtin_expect(ev->type == MT_EV_STATE, 0)) {
        tapState(fd, ev, ns); /* a tail call: the hot path saves no registers */
        return;
    }
    fdDispatch(fd, ev, ns);
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

static void emitStockDirectory(fdFeed *fd, uint16_t i, uint64_t ns)
{
    const fdInstrument *ins = &fd->ins[i];
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

static void emitDirectory(fdFeed *fd, uint64_t ns)
{
    for (uint16_t i = 0; i < fd->nInstruments; i++)
        if (fd->ins[i].defined)
            emitStockDirectory(fd, i, ns);
    for (uint16_t i = 0; i < fd->nInstruments; i++)
        if (fd->ins[i].defined)
            emitTradingAction(fd, i, ns);
}

/* Fills the builder's entry of an instrument (its book index). */
static void fdDefine(fdInstrument *ins, const cfgInstrument *ci)
{
    itchPutAlpha((uint8_t *)ins->stock, ci->id, ITCH_STOCK_LEN);
    ins->tickSize = (uint32_t)ci->tickSize;
    ins->maxTicks = ITCH_PRICE_MAX / ins->tickSize; /* no division per message */
    ins->preSettlementTicks = ci->preSettlementTicks;
    ins->state = MT_STATE_CLOSED; /* as mtEngineAddInstrument leaves it */
    ins->crossType = ITCH_CROSS_OPENING;
    ins->defined = 1;
}

/* Prices the builder can express for an instrument: ITCH's 4-decimal uint32. */
static int fdInstrumentFits(const cfgInstrument *ci)
{
    return ci->tickSize > 0 && ci->tickSize <= (int64_t)ITCH_PRICE_MAX && ci->lowerTicks >= 0 &&
           ci->upperTicks <= (int64_t)(ITCH_PRICE_MAX / ci->tickSize);
}

int fdAddInstrument(fdFeed *fd, const cfgInstrument *ci, uint64_t ns)
{
    if (fd->ended || ci->book != fd->nInstruments || ci->book >= fd->capInstruments ||
        !fdInstrumentFits(ci))
        return -1;
    fdDefine(&fd->ins[ci->book], ci);
    fd->nInstruments++;
    fd->nLive = fd->nInstruments;
    if (fd->directorySent) { /* else the start's directory will name it */
        emitStockDirectory(fd, ci->book, ns);
        emitTradingAction(fd, ci->book, ns);
    }
    return 0;
}

void fdInstrumentTap(void *fd, const cfgInstrument *ci, uint64_t nowNs)
{
    fdAddInstrument(fd, ci, nowNs);
}

int fdDirectory(fdFeed *fd, uint64_t ns)
{
    if (fd->ended)
        return -1;
    emitDirectory(fd, ns);
    fd->directorySent = 1;
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
    fd->nLive = 0; /* every later event is unexpected */
}

/* ---- snapshot ----------------------------------------------------------------------- */

static void snapFlush(fdFeed *fd)
{
    if (fd->snap.count == 0)
        return;
    moldPutHeader(fd->snapPkt, fd->session, fd->snap.first, fd->snap.count);
    uint16_t len = fd->snap.len;
    fd->snap.len = 0;
    fd->snap.count = 0;
    fd->snap.send(fd->snap.ctx, fd->snapPkt, len);
}

/* Room for one n-byte message in the snapshot's open packet. */
static uint8_t *snapReserve(fdFeed *fd, size_t n)
{
    if (fd->snap.len + MOLD_BLOCK_HEADER + n > fd->maxPayload || fd->snap.count == MOLD_MAX_COUNT)
        snapFlush(fd);
    if (fd->snap.count == 0) {
        fd->snap.len = MOLD_HEADER_SIZE;
        fd->snap.first = fd->snap.next;
    }
    uint8_t *p = fd->snapPkt + fd->snap.len;
    itchPut16(p, (uint16_t)n);
    fd->snap.len = (uint16_t)(fd->snap.len + MOLD_BLOCK_HEADER + n);
    fd->snap.count++;
    fd->snap.next++;
    return p + MOLD_BLOCK_HEADER;
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

/* Message seq's block (length, then the message) in the ring, or NULL. */
static const uint8_t *historySlot(const fdFeed *fd, uint64_t seq)
{
    uint64_t first, next;
    fdHistoryRange(fd, &first, &next);
    if (seq < first || seq >= next)
        return NULL;
    uint64_t pos = fd->history[seq & fd->historyMask];
    /* the ring is sized for historyDepth messages (fdCreate): never true */
    if (pos + fd->ringSize < fd->ringVirt + fd->maxPayload)
        return NULL;
    return fd->ring + (size_t)(pos % fd->ringSize);
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
    out->messages = fd->nextSeq - 1;
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
    const uint16_t capIns = seg->instrumentCapacity > nIns ? seg->instrumentCapacity : nIns;
    for (uint32_t i = 0; i < cfg->instrumentCount; i++) {
        const cfgInstrument *ci = &cfg->instruments[i];
        if (ci->segIndex != opt->segment)
            continue;
        if (ci->book >= nIns || !fdInstrumentFits(ci))
            return NULL;
    }
    uint32_t capacity = opt->orderCapacity ? opt->orderCapacity : seg->orderCapacity;
    if (capacity == 0 || capacity > (UINT32_C(1) << 30))
        return NULL;
    uint64_t slots = 16;
    while (slots < 2 * (uint64_t)capacity)
        slots <<= 1;

    size_t offIns = align64(sizeof(fdFeed));
    size_t offOrders = offIns + align64((size_t)capIns * sizeof(fdInstrument) + 1);
    /* The ring holds the last historyDepth messages whatever their sizes:
     * at most FD_HISTORY_SLOT bytes each (the largest block, a packet header
     * of its own and 8-byte alignment), plus a packet being filled and the
     * unused tail before a wrap. */
    size_t maxPayload = (size_t)mtu - MOLD_IP_UDP_OVERHEAD;
    size_t ringSize = opt->historyDepth
                          ? (size_t)opt->historyDepth * FD_HISTORY_SLOT + 2 * align64(maxPayload)
                          : align64(maxPayload);
    size_t offSnap = offOrders + align64((size_t)slots * sizeof(fdOrder));
    size_t offRing = offSnap + align64(maxPayload);
    size_t offHist = offRing + align64(ringSize);
    size_t total = offHist + (size_t)opt->historyDepth * sizeof(uint64_t);
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
    fd->nLive = nIns;
    fd->capInstruments = capIns;
    fd->ins = (fdInstrument *)(base + offIns);
    fd->orders = (fdOrder *)(base + offOrders);
    fd->orderMask = (uint32_t)(slots - 1);
    fd->snapPkt = base + offSnap;
    fd->ring = base + offRing;
    fd->ringSize = ringSize;
    fd->pkt = fd->ring;
    fd->maxPayload = (uint16_t)maxPayload;
    fd->history = opt->historyDepth ? (uint64_t *)(base + offHist) : NULL;
    fd->historyMask = opt->historyDepth ? opt->historyDepth - 1 : 0;
    fd->nextSeq = 1;
    fd->send = opt->send;
    fd->sendCtx = opt->sendCtx;
    fd->heartbeatNs = opt->heartbeatNs ? opt->heartbeatNs : FD_HEARTBEAT_DEFAULT;
    for (uint32_t i = 0; i < cfg->instrumentCount; i++) {
        const cfgInstrument *ci = &cfg->instruments[i];
        if (ci->segIndex != opt->segment)
            continue;
        fdDefine(&fd->ins[ci->book], ci);
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
