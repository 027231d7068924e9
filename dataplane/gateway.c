/* gateway.c -- XOE order entry of one market segment: sessions, sequencing, matcher, reports.
 *
 * Everything is allocated in gwCreate, in one region from the allocator:
 * the session table (per session a pending output frame, a history ring of
 * historyDepth 64-byte message slots and a ring of the outbound range each
 * processed inbound number produced), an open-addressing index from session
 * id to session, and the table of order refs. The matcher carries one
 * opaque u64 per order; we give it the index of a ref that says which
 * session owns the order, its current clOrdId and its offset, so every
 * matcher event can be turned into a report for the right session in O(1).
 *
 * Output: messages for a session are appended to its pending frame; the
 * frame goes out when full, at gwFlush, or at once for answers that must
 * not wait (timer, logouts). Every application message is also written to
 * the history with its number, so duplicates and retransmission requests
 * are answered byte for byte from there (docs/protocol/xoe.md §7). */
#include <string.h>

#include "dataplane/gateway.h"
#include "dataplane/gw_int.h"
#include "dataplane/histogram.h"

#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/* Why gwOnFrame did not process a datagram (for the drop counters). */
typedef enum {
    GW_PROCESSED = 0,
    GW_DROP_UNKNOWN,
    GW_DROP_WRONG_ADDRESS,
    GW_DROP_NOT_LOGGED_ON,
    GW_DROP_LOGON_THROTTLED
} gwVerdict;

/* ---- small helpers ------------------------------------------------------- */

static inline uint64_t gwElapsed(uint64_t now, uint64_t then)
{
    return now > then ? now - then : 0; /* a clock step back is no time passing */
}

/* The matcher's time per request (docs/operations/metrics.md), sampled:
 * 1 when this call is timed (the worker gave us a cycle counter and it is
 * the first of its matchMask + 1). A TSC read costs 45-90 ns on a VM. */
static inline int gwMatchSampled(gwGateway *gw)
{
    return gw->cycles && (gw->matchTick++ & gw->matchMask) == 0;
}

static inline uint64_t gwCyclesNow(const gwGateway *gw, int timed)
{
    return unlikely(timed) ? gw->cycles() : 0;
}

static inline void gwMatchTimed(gwGateway *gw, int timed, uint64_t t0)
{
    if (unlikely(timed))
        histRecord(&gw->matchCycles, gw->cycles() - t0, 1);
}

static inline int gwAddrEq(gwAddr a, gwAddr b)
{
    return a.ip == b.ip && a.port == b.port;
}

static inline uint32_t gwIndexOf(const gwGateway *gw, const gwSession *s)
{
    return (uint32_t)(s - gw->sessions);
}

static inline uint8_t *gwHistorySlot(const gwGateway *gw, const gwSession *s, uint64_t seq)
{
    return s->history + (size_t)(seq & gw->histMask) * XOE_MSG_MAX;
}

/* Price in 1e-4 units of a tick count of an instrument. */
static inline int64_t gwPrice(const gwGateway *gw, uint16_t instrument, int64_t ticks)
{
    return instrument < gw->instrumentCount ? ticks * gw->tick[instrument] : 0;
}

/* ---- order refs -------------------------------------------------------------- */

static uint32_t gwRefAlloc(gwGateway *gw, uint32_t session, uint64_t clOrdId, uint8_t offset)
{
    const uint32_t i = gw->refFree;
    if (unlikely(i == GW_NONE))
        return GW_NONE;
    gwRef *r = &gw->refs[i];
    gw->refFree = r->link;
    r->clOrdId = clOrdId;
    r->link = session;
    r->offset = offset;
    r->inUse = 1;
    gw->stats.orderRefs++;
    return i;
}

static void gwRefFree(gwGateway *gw, uint64_t ref)
{
    if (ref >= gw->refCap || !gw->refs[ref].inUse)
        return;
    gwRef *r = &gw->refs[ref];
    r->inUse = 0;
    r->link = gw->refFree;
    gw->refFree = (uint32_t)ref;
    gw->stats.orderRefs--;
}

/* The ref a matcher userRef names, or NULL for one we did not issue. */
static inline const gwRef *gwRefGet(const gwGateway *gw, uint64_t ref)
{
    return ref < gw->refCap && gw->refs[ref].inUse ? &gw->refs[ref] : NULL;
}

/* ---- output frames -------------------------------------------------------------- */

static void gwFrameOpen(gwGateway *gw, gwSession *s, uint64_t seq, uint8_t flags)
{
    if (likely(!gw->replaying)) {
        xoeWriterInit(&s->w, s->frame, XOE_FRAME_MAX, s->id, seq, flags);
    } else {
        /* the writer's state as xoeWriterInit leaves it, no header written */
        s->w.cap = XOE_FRAME_MAX;
        s->w.len = XOE_HEADER_SIZE;
        s->w.count = s->w.sequenced = 0;
        s->w.dir = XOE_DIR_ANY;
    }
    s->frameSeq = seq;
    s->frameFlags = flags;
    if (!s->queued) {
        s->queued = 1;
        gw->dirty[gw->nDirty++] = gwIndexOf(gw, s);
    }
}

/* Sends the session's pending frame, if any, to its address. */
static void gwFrameSend(gwGateway *gw, gwSession *s)
{
    if (s->w.count == 0)
        return;
    if (likely(!gw->replaying)) {
        if (s->w.sequenced == 0) {
            /* a frame of session messages only carries the next number (§2)
             * and resends nothing */
            const uint8_t flags = 0;
            memcpy(s->frame + offsetof(xoeFrameHeader, seq), &s->nextOut, sizeof s->nextOut);
            memcpy(s->frame + offsetof(xoeFrameHeader, flags), &flags, sizeof flags);
        }
        const size_t len = xoeWriterFinish(&s->w);
        gw->send(gw->sendCtx, s->addr, s->frame, (uint16_t)len);
    }
    gw->stats.datagramsOut++;
    s->messagesOut += s->w.count;
    s->lastSentNs = gw->now;
    s->w.count = 0;
}

/* Appends a message the gateway made (valid, of its direction) to the
 * session's frame: XOE_OK, or XOE_ERR_NO_SPACE with nothing appended.
 * Replaying, only the writer's accounting moves: the frame splits where
 * the live one did, and nothing reads the bytes. */
static inline int gwAppend(gwGateway *gw, gwSession *s, uint8_t type, const void *msg, uint16_t len,
                           int raw)
{
    if (likely(!gw->replaying))
        return raw ? xoeAppendRaw(&s->w, msg, len) : xoeAppend(&s->w, type, msg);
    if (len > xoeWriterRoom(&s->w))
        return XOE_ERR_NO_SPACE;
    return xoeWriterAccept(&s->w, type, len);
}

/* Queues an application message numbered seq (new, flags 0, or resent,
 * XOE_FLAG_RETRANSMIT). A frame's application messages must be
 * consecutive and all new or all resent, else a new frame starts. */
static void gwQueueApp(gwGateway *gw, gwSession *s, const uint8_t *msg, uint64_t seq, uint8_t flags)
{
    const uint16_t len = xoeLoad16(msg);
    if (s->w.count != 0 && s->w.sequenced == 0) {
        /* only session messages so far: the frame takes this numbering */
        if (likely(!gw->replaying)) {
            memcpy(s->frame + offsetof(xoeFrameHeader, seq), &seq, sizeof seq);
            memcpy(s->frame + offsetof(xoeFrameHeader, flags), &flags, sizeof flags);
        }
        s->frameSeq = seq;
        s->frameFlags = flags;
    } else if (s->w.count != 0 && (s->frameFlags != flags || s->frameSeq + s->w.sequenced != seq)) {
        gwFrameSend(gw, s);
    }
    if (s->w.count == 0)
        gwFrameOpen(gw, s, seq, flags);
    if (gwAppend(gw, s, msg[2], msg, len, 1) == XOE_ERR_NO_SPACE) {
        gwFrameSend(gw, s);
        gwFrameOpen(gw, s, seq, flags);
        gwAppend(gw, s, msg[2], msg, len, 1);
    }
}

/* Queues a session (unsequenced) message; it fits any frame. */
static void gwQueueSession(gwGateway *gw, gwSession *s, uint8_t type, const void *msg)
{
    if (s->w.count == 0)
        gwFrameOpen(gw, s, s->nextOut, 0);
    if (gwAppend(gw, s, type, msg, xoeMsgSize(type), 0) == XOE_ERR_NO_SPACE) {
        gwFrameSend(gw, s);
        gwFrameOpen(gw, s, s->nextOut, 0);
        gwAppend(gw, s, type, msg, xoeMsgSize(type), 0);
    }
}

/* Sends one session message in a frame of its own to an address that is
 * not (or no longer) the session's binding. */
static void gwSendDirect(gwGateway *gw, gwAddr to, uint32_t session, uint64_t seq, uint8_t type,
                         const void *msg)
{
    gw->stats.datagramsOut++;
    if (unlikely(gw->replaying))
        return;
    xoeWriter w;
    xoeWriterInit(&w, gw->scratch, sizeof gw->scratch, session, seq, 0);
    xoeAppend(&w, type, msg);
    const size_t len = xoeWriterFinish(&w);
    gw->send(gw->sendCtx, to, gw->scratch, (uint16_t)len);
}

/* Numbers a new application message, keeps it in the history and queues it
 * when the session is logged on (else the client gets it by replay). */
static void gwEmit(gwGateway *gw, gwSession *s, uint8_t type, const void *msg)
{
    const uint64_t seq = s->nextOut++;
    const xoeMsgHeader h = {xoeMsgSize(type), type, 0};
    uint8_t *slot = gwHistorySlot(gw, s, seq);
    memcpy(slot, msg, h.length);
    memcpy(slot, &h, sizeof h);
    if (s->state == GW_SESSION_LOGGED_ON)
        gwQueueApp(gw, s, slot, seq, 0);
}

static void gwEmitRejected(gwGateway *gw, gwSession *s, uint16_t code, uint16_t instrument,
                           uint64_t clOrdId)
{
    const xoeRejected m = {
        .code = code, .instrument = instrument, .clOrdId = clOrdId, .timestamp = gw->now};
    gw->stats.rejected++;
    gwEmit(gw, s, XOE_MSG_REJECTED, &m);
}

static void gwEmitCancelRejected(gwGateway *gw, gwSession *s, uint16_t code, uint8_t op,
                                 uint64_t clOrdId, uint64_t orderId)
{
    const xoeCancelRejected m = {
        .code = code, .op = op, .clOrdId = clOrdId, .orderId = orderId, .timestamp = gw->now};
    gw->stats.cancelRejected++;
    gwEmit(gw, s, XOE_MSG_CANCEL_REJECTED, &m);
}

static void gwSessionReject(gwGateway *gw, gwSession *s, uint8_t reason, uint16_t code,
                            uint8_t detail, uint64_t received)
{
    const xoeSessionReject m = {.code = code,
                                .reason = reason,
                                .detail = detail,
                                .expectedSeq = s->nextIn,
                                .receivedSeq = received};
    gwQueueSession(gw, s, XOE_MSG_SESSION_REJECT, &m);
}

/* ---- matcher events -> reports (docs/protocol/xoe.md §5.13) ------------------------ */

static void gwOnAccepted(gwGateway *gw, const mtEvent *ev)
{
    const mtAccepted *a = &ev->u.accepted;
    const gwRef *r = gwRefGet(gw, a->userRef);
    if (!r)
        return;
    const xoeAccepted m = {.instrument = ev->instrument,
                           .side = a->side,
                           .offset = r->offset,
                           .clOrdId = r->clOrdId,
                           .orderId = a->orderId,
                           .price = gwPrice(gw, ev->instrument, a->price),
                           .qty = a->qty,
                           .minQty = a->minQty,
                           .priceType = a->priceType,
                           .timeCondition = a->timeCondition,
                           .volumeCondition = a->volumeCondition,
                           .timestamp = gw->now};
    gw->stats.accepted++;
    if (gw->risk)
        crOnAccepted(gw->risk, (uint32_t)a->userRef, a->orderId, r->clOrdId, gw->now);
    gwEmit(gw, &gw->sessions[r->link], XOE_MSG_ACCEPTED, &m);
}

static void gwOnRejected(gwGateway *gw, const mtEvent *ev)
{
    const mtRejected *rj = &ev->u.rejected;
    if (rj->op == MT_OP_NEW) {
        const gwRef *r = gwRefGet(gw, rj->userRef);
        if (!r)
            return;
        gwEmitRejected(gw, &gw->sessions[r->link], rj->code, ev->instrument, r->clOrdId);
        if (gw->risk)
            crOnRejected(gw->risk, (uint32_t)rj->userRef);
        gwRefFree(gw, rj->userRef);
        return;
    }
    if (rj->op == MT_OP_REPLACE && gw->cur.newRef != GW_NONE) {
        gwRefFree(gw, gw->cur.newRef);
        gw->cur.newRef = GW_NONE;
    }
    if (gw->cur.session == GW_NONE)
        return; /* the control plane's request: it reads the return code */
    gwEmitCancelRejected(gw, &gw->sessions[gw->cur.session], rj->code, rj->op, gw->cur.clOrdId,
                         rj->orderId);
}

/* The fill for the summary market data, before gwOnFill frees the refs. */
static void gwTradeEvent(gwGateway *gw, const mtEvent *ev)
{
    const mtFill *f = &ev->u.fill;
    const gwRef *b = gwRefGet(gw, f->userRef[0]), *s = gwRefGet(gw, f->userRef[1]);
    const uint8_t offset[2] = {b ? b->offset : 0xFF, s ? s->offset : 0xFF};
    gw->onTrade(gw->tradeCtx, ev->instrument, gwPrice(gw, ev->instrument, f->price), f->qty,
                f->aggressor, offset, gw->now);
}

static void gwOnFill(gwGateway *gw, const mtEvent *ev)
{
    const mtFill *f = &ev->u.fill;
    if (likely(ev->instrument < gw->instrumentCount)) {
        gw->insStats[ev->instrument].trades++;
        gw->insStats[ev->instrument].tradedLots += f->qty;
    }
    if (gw->onTrade)
        gwTradeEvent(gw, ev);
    for (unsigned side = 0; side < 2; side++) {
        const gwRef *r = gwRefGet(gw, f->userRef[side]);
        if (!r)
            continue;
        const uint8_t liquidity = f->aggressor == MT_AGGRESSOR_NONE ? XOE_AUCTION
                                  : f->aggressor == side            ? XOE_TAKER
                                                                    : XOE_MAKER;
        /* the commission the credit line was charged (0 without risk) */
        const int64_t price = gwPrice(gw, ev->instrument, f->price);
        const int64_t commission =
            gw->risk ? crOnFill(gw->risk, (uint32_t)f->userRef[side], f->orderId[side], f->tradeId,
                                price, f->qty, f->leaves[side], gw->now)
                     : 0;
        const xoeExecuted m = {.instrument = ev->instrument,
                               .side = (uint8_t)side,
                               .liquidity = liquidity,
                               .clOrdId = r->clOrdId,
                               .orderId = f->orderId[side],
                               .tradeId = f->tradeId,
                               .price = price,
                               .qty = f->qty,
                               .leaves = f->leaves[side],
                               .commission = commission,
                               .timestamp = gw->now};
        gw->stats.executions++;
        gwEmit(gw, &gw->sessions[r->link], XOE_MSG_EXECUTED, &m);
        if (f->leaves[side] == 0)
            gwRefFree(gw, f->userRef[side]); /* the order left the book */
    }
}

/* The request's direct answer goes to the requester even when another
 * session of the same account owns the order (§7.1: every processed
 * message is answered). */
static int gwAnswerRequester(const gwGateway *gw, uint8_t op, uint64_t orderId, uint32_t owner)
{
    return gw->cur.session != GW_NONE && gw->cur.session != owner && gw->cur.op == op &&
           gw->cur.orderId == orderId;
}

static void gwOnCancelled(gwGateway *gw, const mtEvent *ev)
{
    const mtCancelled *c = &ev->u.cancelled;
    const gwRef *r = gwRefGet(gw, c->userRef);
    if (!r)
        return;
    const uint8_t reason =
        gw->cur.admin && c->reason == MT_CXL_USER ? (uint8_t)XOE_CXL_ADMIN : c->reason;
    const xoeCancelled m = {.instrument = ev->instrument,
                            .side = c->side,
                            .reason = reason,
                            .clOrdId = r->clOrdId,
                            .orderId = c->orderId,
                            .qty = c->qty,
                            .timestamp = gw->now};
    gw->stats.cancelled++;
    if (gw->risk)
        crOnCancelled(gw->risk, (uint32_t)c->userRef, c->orderId, c->qty, gw->now);
    gwEmit(gw, &gw->sessions[r->link], XOE_MSG_CANCELLED, &m);
    if (gwAnswerRequester(gw, MT_OP_CANCEL, c->orderId, r->link))
        gwEmit(gw, &gw->sessions[gw->cur.session], XOE_MSG_CANCELLED, &m);
    gwRefFree(gw, c->userRef);
}

static void gwOnReplaced(gwGateway *gw, const mtEvent *ev)
{
    const mtReplaced *rp = &ev->u.replaced;
    const gwRef *r = gwRefGet(gw, rp->userRef);
    if (!r)
        return;
    const xoeReplaced m = {.instrument = ev->instrument,
                           .side = rp->side,
                           .keptPriority = rp->keptPriority,
                           .clOrdId = r->clOrdId,
                           .orderId = rp->orderId,
                           .price = gwPrice(gw, ev->instrument, rp->price),
                           .qty = rp->qty,
                           .leaves = rp->leaves,
                           .timestamp = gw->now};
    gw->stats.replaced++;
    if (gw->risk)
        crOnReplaced(gw->risk, gw->cur.oldRef, (uint32_t)rp->userRef, rp->orderId, m.price, rp->qty,
                     rp->leaves, gw->now);
    gwEmit(gw, &gw->sessions[r->link], XOE_MSG_REPLACED, &m);
    if (gwAnswerRequester(gw, MT_OP_REPLACE, rp->orderId, r->link))
        gwEmit(gw, &gw->sessions[gw->cur.session], XOE_MSG_REPLACED, &m);
    gwRefFree(gw, gw->cur.oldRef); /* the order now lives under the new ref */
    gw->cur.oldRef = GW_NONE;
    gw->cur.newRef = GW_NONE;
}

/* Market data events. The feed issue publishes them (ITCH, DESIGN.md §5);
 * order entry has nothing to report for them. */
static void gwFeedEvent(gwGateway *gw, const mtEvent *ev)
{
    (void)gw;
    (void)ev;
}

static void gwOnEngineEvent(void *ctx, const mtEvent *ev)
{
    gwGateway *gw = ctx;
    if (gw->tap)
        gw->tap(gw->tapCtx, ev, gw->now);
    switch (ev->type) {
    case MT_EV_ACCEPTED:
        gwOnAccepted(gw, ev);
        break;
    case MT_EV_REJECTED:
        gwOnRejected(gw, ev);
        break;
    case MT_EV_FILL:
        gwOnFill(gw, ev);
        break;
    case MT_EV_CANCELLED:
        gwOnCancelled(gw, ev);
        break;
    case MT_EV_REPLACED:
        gwOnReplaced(gw, ev);
        break;
    default: /* LEVEL, STATE, IMBALANCE, UNCROSS */
        gwFeedEvent(gw, ev);
        break;
    }
}

static void gwRequestClear(gwGateway *gw)
{
    gw->cur.session = GW_NONE;
    gw->cur.oldRef = GW_NONE;
    gw->cur.newRef = GW_NONE;
    gw->cur.op = MT_OP_NEW;
    gw->cur.admin = 0;
    gw->cur.clOrdId = 0;
    gw->cur.orderId = 0;
}

/* ---- application messages ------------------------------------------------------ */

/* Pre-trade risk of a new order under ref (DESIGN.md §7, docs/protocol/xoe.md
 * §9): dataplane/credit.c checks account 1006, lots/band 1008, frozen 2002,
 * risk ratio 1004, notional 1003, position 2005, concentration 1002 and the
 * credit line 1001, and reserves on success. Returns 0, CR_PARKED (a top-up
 * was asked for: answer nothing now) or the reject code. */
static int gwRiskNewOrder(gwGateway *gw, const gwSession *s, const xoeNewOrder *o, uint32_t ref)
{
    if (!gw->risk)
        return 0;
    return crCheckNew(gw->risk, ref, gwIndexOf(gw, s), s->account, o, gw->allowPark, gw->now);
}

/* Pre-trade risk of a replace (the same checks on the changed requirement). */
static int gwRiskReplace(gwGateway *gw, const mtOrderInfo *o, int64_t price, uint32_t qty)
{
    if (!gw->risk)
        return 0;
    return crCheckReplace(gw->risk, (uint32_t)o->userRef, price, qty, o->qty - o->leaves);
}

/* Converts a LIMIT price in 1e-4 units to ticks: 0, or 1008 when it is not
 * positive or not a whole number of ticks. */
static int gwTicks(int64_t price, int64_t tick, int64_t *ticks)
{
    if (price <= 0 || price % tick != 0)
        return XOE_CODE_INVALID_PARAMS;
    *ticks = price / tick;
    return 0;
}

static void gwNewOrder(gwGateway *gw, gwSession *s, const xoeNewOrder *o)
{
    gw->stats.newOrders++;
    if (o->instrument >= gw->instrumentCount || gw->tick[o->instrument] == 0) {
        gwEmitRejected(gw, s, XOE_CODE_UNKNOWN_INSTRUMENT, o->instrument, o->clOrdId);
        return;
    }
    gw->insStats[o->instrument].orders++;
    int64_t ticks = 0;
    int rc = 0;
    if (o->priceType == XOE_LIMIT)
        rc = gwTicks(o->price, gw->tick[o->instrument], &ticks);
    const uint32_t ref = rc ? GW_NONE : gwRefAlloc(gw, gwIndexOf(gw, s), o->clOrdId, o->offset);
    if (rc == 0 && ref == GW_NONE)
        rc = XOE_CODE_POOL_FULL; /* refs outnumber pool slots, so the pool is full too */
    if (rc == 0)
        rc = gwRiskNewOrder(gw, s, o, ref);
    if (rc && ref != GW_NONE)
        gwRefFree(gw, ref);
    if (unlikely(rc == CR_PARKED))
        return; /* answered when the control core has topped the line up */
    if (rc) {
        gwEmitRejected(gw, s, (uint16_t)rc, o->instrument, o->clOrdId);
        return;
    }
    const mtNewOrder no = {.instrument = o->instrument,
                           .side = o->side,
                           .priceType = o->priceType,
                           .timeCondition = o->timeCondition,
                           .volumeCondition = o->volumeCondition,
                           .price = ticks,
                           .qty = o->qty,
                           .minQty = o->minQty,
                           .account = s->account,
                           .userRef = ref};
    gw->cur.op = MT_OP_NEW;
    const int timed = gwMatchSampled(gw);
    const uint64_t t0 = gwCyclesNow(gw, timed);
    mtEngineNewOrder(gw->engine, &no); /* its events free the ref if it is rejected */
    gwMatchTimed(gw, timed, t0);
}

static void gwCancel(gwGateway *gw, gwSession *s, const xoeCancel *c)
{
    gw->stats.cancels++;
    gw->cur.op = MT_OP_CANCEL;
    gw->cur.clOrdId = c->clOrdId;
    gw->cur.orderId = c->orderId;
    const int timed = gwMatchSampled(gw);
    const uint64_t t0 = gwCyclesNow(gw, timed);
    mtEngineCancel(gw->engine, c->orderId, s->account, GW_REF_REQUEST);
    gwMatchTimed(gw, timed, t0);
}

static void gwReplace(gwGateway *gw, gwSession *s, const xoeReplace *rq)
{
    gw->stats.replaces++;
    gw->cur.op = MT_OP_REPLACE;
    gw->cur.clOrdId = rq->clOrdId;
    gw->cur.orderId = rq->orderId;
    mtOrderInfo info;
    if (mtEngineOrderGet(gw->engine, rq->orderId, &info) != MT_OK || info.account != s->account) {
        /* the matcher tells not found (3001) from no longer live (3002) */
        mtEngineReplace(gw->engine, rq->orderId, s->account, 0, rq->qty, GW_REF_REQUEST);
        return;
    }
    int64_t ticks = 0;
    int rc = gwTicks(rq->price, gw->tick[info.instrument], &ticks);
    if (rc == 0)
        rc = gwRiskReplace(gw, &info, rq->price, rq->qty);
    /* the order stays its owner's (another session of the account may own it) */
    const gwRef *old = gwRefGet(gw, info.userRef);
    const uint32_t owner = old ? old->link : gwIndexOf(gw, s);
    const uint8_t offset = old ? old->offset : XOE_OPEN;
    const uint32_t ref = rc ? GW_NONE : gwRefAlloc(gw, owner, rq->clOrdId, offset);
    if (rc == 0 && ref == GW_NONE)
        rc = XOE_CODE_INTERNAL; /* cannot happen: spare refs cover replaces */
    if (rc) {
        gwEmitCancelRejected(gw, s, (uint16_t)rc, XOE_OP_REPLACE, rq->clOrdId, rq->orderId);
        return;
    }
    gw->cur.oldRef = old ? (uint32_t)info.userRef : GW_NONE;
    gw->cur.newRef = ref;
    const int timed = gwMatchSampled(gw);
    const uint64_t t0 = gwCyclesNow(gw, timed);
    mtEngineReplace(gw->engine, rq->orderId, s->account, ticks, rq->qty, ref);
    gwMatchTimed(gw, timed, t0);
    gwRefFree(gw, gw->cur.newRef); /* neither replaced nor rejected: never expected */
}

void gwResume(gwGateway *gw, uint32_t session, const xoeNewOrder *o, uint64_t nowNs)
{
    if (session >= gw->nSessions)
        return;
    gw->now = nowNs;
    gwRequestClear(gw);
    gw->allowPark = 0;
    gwNewOrder(gw, &gw->sessions[session], o);
    gw->allowPark = 1;
    gwRequestClear(gw);
}

int gwAdminOrder(gwGateway *gw, uint32_t account, const xoeNewOrder *o, uint64_t nowNs)
{
    for (uint32_t i = 0; i < gw->nSessions; i++) {
        if (gw->sessions[i].account == account) {
            gwResume(gw, i, o, nowNs);
            gwFlush(gw);
            return 0;
        }
    }
    return -1;
}

/* An application message of a type this version does not know (§6). */
static void gwUnknownApp(gwGateway *gw, gwSession *s, const xoeMsg *m)
{
    uint64_t clOrdId;
    memcpy(&clOrdId, m->u.raw + 8, sizeof clOrdId); /* zeros when it is shorter */
    gw->stats.unknownTypes++;
    gwEmitRejected(gw, s, XOE_CODE_MALFORMED, 0, clOrdId);
}

/* Token bucket refilled at gw->rate a second, holding one second's worth.
 * Returns 1 and takes a token, or 0 when the session is over its rate. */
static int gwThrottleTake(gwGateway *gw, gwSession *s)
{
    const uint64_t cap = gw->rate * GW_SECOND_NS;
    uint64_t dt = gwElapsed(gw->now, s->refillNs);
    if (dt > GW_SECOND_NS)
        dt = GW_SECOND_NS; /* a second refills it completely */
    if (gw->now > s->refillNs)
        s->refillNs = gw->now;
    s->tokens += dt * gw->rate;
    if (s->tokens > cap)
        s->tokens = cap;
    if (s->tokens < GW_SECOND_NS) {
        s->throttled++;
        gw->stats.throttled++;
        return 0;
    }
    s->tokens -= GW_SECOND_NS;
    return 1;
}

static void gwRefuse(gwGateway *gw, gwSession *s, const xoeMsg *m, uint16_t code)
{
    const uint64_t clOrdId = m->u.newOrder.clOrdId; /* offset 8 in every type */
    switch (m->type) {
    case XOE_MSG_CANCEL:
        gwEmitCancelRejected(gw, s, code, XOE_OP_CANCEL, clOrdId, m->u.cancel.orderId);
        break;
    case XOE_MSG_REPLACE:
        gwEmitCancelRejected(gw, s, code, XOE_OP_REPLACE, clOrdId, m->u.replace.orderId);
        break;
    case XOE_MSG_NEW_ORDER:
        gwEmitRejected(gw, s, code, m->u.newOrder.instrument, clOrdId);
        break;
    default:
        gwEmitRejected(gw, s, code, 0, clOrdId);
        break;
    }
}

/* Processes the application message numbered nextIn and records the
 * outbound range it produced, for duplicates. */
static void gwProcessApp(gwGateway *gw, gwSession *s, const xoeMsg *m)
{
    const uint64_t first = s->nextOut;
    gwRequestClear(gw);
    gw->cur.session = gwIndexOf(gw, s);
    if (!gwThrottleTake(gw, s))
        gwRefuse(gw, s, m, XOE_CODE_THROTTLED);
    else if (unlikely(gw->storageCode))
        gwRefuse(gw, s, m, gw->storageCode);
    else if (m->type == XOE_MSG_NEW_ORDER)
        gwNewOrder(gw, s, &m->u.newOrder);
    else if (m->type == XOE_MSG_CANCEL)
        gwCancel(gw, s, &m->u.cancel);
    else if (m->type == XOE_MSG_REPLACE)
        gwReplace(gw, s, &m->u.replace);
    else
        gwUnknownApp(gw, s, m);
    gwRequestClear(gw);
    gwInRange *r = &s->ranges[m->seq & gw->histMask];
    r->inSeq = m->seq;
    r->firstOut = first;
    r->count = s->nextOut - first;
    s->nextIn = m->seq + 1;
}

/* ---- retransmission (§7.3) --------------------------------------------------------- */

static void gwResend(gwGateway *gw, gwSession *s, uint64_t from, uint64_t n)
{
    for (uint64_t seq = from; seq < from + n; seq++)
        gwQueueApp(gw, s, gwHistorySlot(gw, s, seq), seq, XOE_FLAG_RETRANSMIT);
    gw->stats.retransmitted += n;
}

/* Answers [fromSeq, fromSeq + count) with what is kept and sent, at most
 * XOE_RETRANSMIT_MAX messages, then RetransmitEnd. */
static void gwRetransmit(gwGateway *gw, gwSession *s, uint64_t fromSeq, uint32_t count)
{
    const uint64_t oldest = gwOldest(gw, s);
    uint64_t end = fromSeq + count < fromSeq ? UINT64_MAX : fromSeq + count;
    uint8_t flags = 0;
    /* gone: the numbers 1 .. oldest-1 that the range covers (0 never existed) */
    const uint64_t goneFrom = fromSeq > 1 ? fromSeq : 1;
    if (goneFrom < oldest && goneFrom < end)
        flags |= XOE_RT_TOO_OLD;
    if (end > s->nextOut && end > fromSeq) { /* an empty range reaches nowhere */
        flags |= XOE_RT_BEYOND;
        end = s->nextOut;
    }
    const uint64_t start = fromSeq > oldest ? fromSeq : oldest;
    uint64_t n = end > start ? end - start : 0;
    if (n > XOE_RETRANSMIT_MAX) {
        flags |= XOE_RT_LIMIT;
        n = XOE_RETRANSMIT_MAX;
    }
    gwResend(gw, s, start, n);
    const xoeRetransmitEnd m = {.sent = (uint32_t)n,
                                .fromSeq = fromSeq,
                                .count = count,
                                .flags = flags,
                                .firstSeq = n ? start : 0};
    gwQueueSession(gw, s, XOE_MSG_RETRANSMIT_END, &m);
}

static void gwOnRetransmitRequest(gwGateway *gw, gwSession *s, const xoeRetransmitRequest *rq)
{
    gw->stats.retransmitRequests++;
    if (!gwThrottleTake(gw, s)) {
        const xoeRetransmitEnd m = {
            .sent = 0, .fromSeq = rq->fromSeq, .count = rq->count, .flags = XOE_RT_LIMIT};
        gwQueueSession(gw, s, XOE_MSG_RETRANSMIT_END, &m);
        return;
    }
    gwRetransmit(gw, s, rq->fromSeq, rq->count);
}

/* A duplicate numbered n < nextIn: never executed again; what it produced
 * is resent from the history, or DUPLICATE_EXPIRED. It costs a throttle
 * token like a retransmission request; over the rate it is not answered
 * (the client's next resend is). The resend is capped at
 * XOE_RETRANSMIT_MAX like a request, for bounded work per message. */
static void gwDuplicate(gwGateway *gw, gwSession *s, uint64_t n)
{
    gw->stats.duplicates++;
    if (!gwThrottleTake(gw, s))
        return;
    const gwInRange *r = &s->ranges[n & gw->histMask];
    if (n == 0 || r->inSeq != n || r->count == 0 || r->firstOut < gwOldest(gw, s)) {
        gw->stats.duplicatesExpired++;
        gwSessionReject(gw, s, XOE_SR_DUPLICATE_EXPIRED, 0, 0, n);
        return;
    }
    gwResend(gw, s, r->firstOut, r->count < XOE_RETRANSMIT_MAX ? r->count : XOE_RETRANSMIT_MAX);
}

/* ---- sessions ------------------------------------------------------------------------- */

/* Sends LoggedOut{reason} with whatever was pending and unbinds; the
 * address stays known for NOT_LOGGED_ON answers. */
static void gwSessionEnd(gwGateway *gw, gwSession *s, uint8_t reason, uint8_t newState)
{
    const xoeLoggedOut m = {.reason = reason};
    gwQueueSession(gw, s, XOE_MSG_LOGGED_OUT, &m);
    gwFrameSend(gw, s);
    s->state = newState;
    gw->stats.logouts++;
}

/* Handles a session message of a frame; returns 0 when the rest of the
 * frame must be ignored (the session logged out). */
static int gwOnSessionMsg(gwGateway *gw, gwSession *s, const xoeMsg *m)
{
    switch (m->type) {
    case XOE_MSG_HEARTBEAT:
        return 1; /* its work (refreshing lastRecvNs, the GAP check) is done per frame */
    case XOE_MSG_RETRANSMIT_REQUEST:
        gwOnRetransmitRequest(gw, s, &m->u.retransmitRequest);
        return 1;
    case XOE_MSG_LOGOUT:
        gwSessionEnd(gw, s, XOE_LOGOUT_USER, GW_SESSION_IDLE);
        return 0;
    default:
        gw->stats.unknownTypes++; /* skipped: unsequenced, nothing to answer */
        return 1;
    }
}

/* A sound frame from the bound address (§7.1). */
static void gwOnSessionFrame(gwGateway *gw, gwSession *s, const xoeFrame *f)
{
    s->lastRecvNs = gw->now;
    s->messagesIn += f->count;
    if (f->sequenced == 0 && f->seq > s->nextIn) {
        /* a heartbeat after a lost last message */
        gw->stats.gaps++;
        gwSessionReject(gw, s, XOE_SR_GAP, 0, 0, f->seq);
    }
    xoeIter it;
    xoeMsg m;
    int gap = 0;
    xoeIterInit(&it, f);
    while (xoeIterNext(&it, &m)) {
        if (!xoeIsSequenced(m.type)) {
            if (!gwOnSessionMsg(gw, s, &m))
                return;
        } else if (gap) {
            continue; /* not processed: the client sends them again */
        } else if (m.seq == s->nextIn) {
            gwProcessApp(gw, s, &m);
        } else if (m.seq < s->nextIn) {
            gwDuplicate(gw, s, m.seq);
        } else {
            gap = 1;
            gw->stats.gaps++;
            gwSessionReject(gw, s, XOE_SR_GAP, 0, 0, m.seq);
        }
    }
}

/* LogonRejected to the Logon's source. seq: the session's next outbound
 * number once the token is proven, else 0 (nothing about a session is told
 * to whoever does not hold its token). */
static void gwLogonReject(gwGateway *gw, gwAddr to, uint32_t session, uint64_t seq, uint16_t code)
{
    const xoeLogonRejected m = {.code = code};
    gw->stats.logonRejects++;
    gwSendDirect(gw, to, session, seq, XOE_MSG_LOGON_REJECTED, &m);
}

/* The session's account must be known to the segment's credit lines
 * (LogonRejected{1006}); without risk every account exists. */
static int gwAccountExists(const gwGateway *gw, const gwSession *s)
{
    return !gw->risk || crAccountExists(gw->risk, s->account);
}

static uint64_t gwHeartbeatNs(uint32_t ms)
{
    if (ms == 0)
        ms = XOE_HEARTBEAT_DEFAULT_MS;
    if (ms < XOE_HEARTBEAT_MIN_MS)
        ms = XOE_HEARTBEAT_MIN_MS;
    if (ms > XOE_HEARTBEAT_MAX_MS)
        ms = XOE_HEARTBEAT_MAX_MS;
    return ms * GW_MS_NS;
}

/* Binds the session to `from` (taking it over from another address),
 * answers LogonAccepted and replays what the client asks for (§8.1). */
static void gwLogonAccept(gwGateway *gw, gwSession *s, gwAddr from, const xoeLogon *l)
{
    if (s->state == GW_SESSION_LOGGED_ON && !gwAddrEq(s->addr, from))
        gwSessionEnd(gw, s, XOE_LOGOUT_SUPERSEDED, GW_SESSION_IDLE);
    s->state = GW_SESSION_LOGGED_ON;
    s->addr = from;
    s->everBound = 1;
    s->hbNs = gwHeartbeatNs(l->heartbeatMs);
    s->lastRecvNs = gw->now;
    if (gw->now + s->hbNs < gw->timerDueNs)
        gw->timerDueNs = gw->now + s->hbNs;
    gw->stats.logons++;
    const xoeLogonAccepted m = {.heartbeatMs = (uint32_t)(s->hbNs / GW_MS_NS),
                                .nextInSeq = s->nextIn,
                                .nextOutSeq = s->nextOut,
                                .tradingDay = gw->tradingDay,
                                .segment = gw->segmentId};
    gwQueueSession(gw, s, XOE_MSG_LOGON_ACCEPTED, &m);
    if (l->nextOutSeq != 0 && l->nextOutSeq < s->nextOut) {
        const uint64_t n = s->nextOut - l->nextOutSeq;
        gwRetransmit(gw, s, l->nextOutSeq, n > UINT32_MAX ? UINT32_MAX : (uint32_t)n);
    }
}

/* A frame holding a Logon, from any address (§8.1, steps in order). */
static gwVerdict gwOnLogonFrame(gwGateway *gw, gwAddr from, const xoeFrame *f)
{
    if (f->count != 1) {
        gwLogonReject(gw, from, f->session, 0, XOE_CODE_MALFORMED);
        return GW_PROCESSED;
    }
    xoeIter it;
    xoeMsg m;
    xoeIterInit(&it, f);
    xoeIterNext(&it, &m);
    gwSession *s = gwFind(gw, f->session);
    if (!s) {
        gwLogonReject(gw, from, f->session, 0, XOE_CODE_AUTH);
        return GW_PROCESSED;
    }
    if (gw->now < s->logonOkNs)
        return GW_DROP_LOGON_THROTTLED; /* guessing tokens costs a second each */
    s->logonOkNs = gw->now + GW_SECOND_NS;
    uint16_t code = 0;
    if (s->state == GW_SESSION_DISABLED || !xoeTokenEqual(m.u.logon.token, s->token) ||
        (s->allowedIp != 0 && s->allowedIp != from.ip))
        code = XOE_CODE_AUTH;
    else if (!gw->logonsOpen)
        code = XOE_CODE_UNAVAILABLE;
    else if (!gwAccountExists(gw, s))
        code = XOE_CODE_ACCOUNT_NOT_FOUND;
    else if (m.u.logon.nextOutSeq > s->nextOut)
        code = XOE_CODE_INVALID_PARAMS;
    if (code)
        gwLogonReject(gw, from, f->session, code == XOE_CODE_AUTH ? 0 : s->nextOut, code);
    else
        gwLogonAccept(gw, s, from, &m.u.logon);
    return GW_PROCESSED;
}

/* 1 when a message of the parsed frame is a Logon. */
static int gwHasLogon(const xoeFrame *f)
{
    size_t off = XOE_HEADER_SIZE;
    for (unsigned i = 0; i < f->count; i++) {
        if (f->buf[off + 2] == XOE_MSG_LOGON)
            return 1;
        off += xoeLoad16(f->buf + off);
    }
    return 0;
}

/* SessionReject{NOT_LOGGED_ON}, at most one a second per session. */
static void gwNotLoggedOn(gwGateway *gw, gwSession *s, const xoeFrame *f)
{
    if (gw->now < s->nlOkNs)
        return;
    s->nlOkNs = gw->now + GW_SECOND_NS;
    const xoeSessionReject m = {.code = XOE_CODE_NOT_LOGGED_ON,
                                .reason = XOE_SR_NOT_LOGGED_ON,
                                .expectedSeq = s->nextIn,
                                .receivedSeq = f->seq};
    gwSendDirect(gw, s->addr, s->id, s->nextOut, XOE_MSG_SESSION_REJECT, &m);
}

/* Routes a sound frame (§8.2). */
static gwVerdict gwOnFrame(gwGateway *gw, gwAddr from, const xoeFrame *f)
{
    if (gwHasLogon(f))
        return gwOnLogonFrame(gw, from, f);
    gwSession *s = gwFind(gw, f->session);
    if (!s)
        return GW_DROP_UNKNOWN;
    if (s->state == GW_SESSION_LOGGED_ON) {
        if (!gwAddrEq(s->addr, from))
            return GW_DROP_WRONG_ADDRESS;
        gwOnSessionFrame(gw, s, f);
        return GW_PROCESSED;
    }
    if (!s->everBound || !gwAddrEq(s->addr, from))
        return GW_DROP_WRONG_ADDRESS;
    gwNotLoggedOn(gw, s, f);
    return GW_DROP_NOT_LOGGED_ON;
}

/* A frame xoeFrameParse refused: counted by reason; answered MALFORMED only
 * when its header is sound and its session is bound to the sender (§6), so
 * xchg never answers a forged source. */
static void gwOnMalformed(gwGateway *gw, gwAddr from, const uint8_t *data, int err,
                          const xoeErrorInfo *ei)
{
    gw->stats.malformed[err & 31]++;
    if (ei->msgIndex == XOE_NO_MSG)
        return;
    uint32_t id;
    uint64_t seq;
    memcpy(&id, data + offsetof(xoeFrameHeader, session), sizeof id);
    memcpy(&seq, data + offsetof(xoeFrameHeader, seq), sizeof seq);
    const gwSession *s = gwFind(gw, id);
    if (!s || s->state != GW_SESSION_LOGGED_ON || !gwAddrEq(s->addr, from))
        return;
    /* In a frame of its own, leaving the session as it was: the worker does
     * not journal a frame it cannot parse, so answering it must change no
     * state a replay would lack (its send time would move the heartbeat). */
    const xoeSessionReject m = {.code = XOE_CODE_MALFORMED,
                                .reason = XOE_SR_MALFORMED,
                                .detail = (uint8_t)err,
                                .expectedSeq = s->nextIn,
                                .receivedSeq = seq};
    gwSendDirect(gw, from, s->id, s->nextOut, XOE_MSG_SESSION_REJECT, &m);
}

/* ---- data path ------------------------------------------------------------------------ */

static void gwCount(gwGateway *gw, gwVerdict v)
{
    switch (v) {
    case GW_PROCESSED:
        gw->stats.datagramsProcessed++;
        break;
    case GW_DROP_UNKNOWN:
        gw->stats.unknownSession++;
        break;
    case GW_DROP_WRONG_ADDRESS:
        gw->stats.wrongAddress++;
        break;
    case GW_DROP_NOT_LOGGED_ON:
        gw->stats.notLoggedOn++;
        break;
    case GW_DROP_LOGON_THROTTLED:
        gw->stats.logonThrottled++;
        break;
    }
}

void gwOnDatagram(gwGateway *gw, gwAddr from, const uint8_t *data, uint16_t len, uint64_t nowNs)
{
    xoeFrame f;
    xoeErrorInfo ei;
    gw->stats.datagramsIn++;
    const int err = xoeFrameParse(data, len, XOE_DIR_TO_XCHG, &f, &ei);
    if (unlikely(err != XOE_OK)) {
        gwOnMalformed(gw, from, data, err, &ei); /* counted only: not journaled */
        return;
    }
    gw->now = nowNs;
    gwCount(gw, gwOnFrame(gw, from, &f));
}

void gwOnDatagramParsed(gwGateway *gw, gwAddr from, const xoeFrame *f, uint64_t nowNs)
{
    gw->now = nowNs;
    gw->stats.datagramsIn++;
    gwCount(gw, gwOnFrame(gw, from, f));
}

void gwSetReplaying(gwGateway *gw, int on)
{
    gwFlush(gw); /* what was queued before is sent as it was built */
    gw->replaying = on != 0;
}

int gwReplaying(const gwGateway *gw)
{
    return gw->replaying;
}

void gwFlush(gwGateway *gw)
{
    for (uint32_t i = 0; i < gw->nDirty; i++) {
        gwSession *s = &gw->sessions[gw->dirty[i]];
        gwFrameSend(gw, s);
        s->queued = 0;
    }
    gw->nDirty = 0;
}

/* Heartbeat or timeout of one logged-on session (§8.3); returns when it
 * needs the timer next. */
static uint64_t gwSessionTick(gwGateway *gw, gwSession *s)
{
    if (gwElapsed(gw->now, s->lastRecvNs) >= XOE_TIMEOUT_INTERVALS * s->hbNs) {
        gw->stats.timeouts++;
        gwSessionEnd(gw, s, XOE_LOGOUT_TIMEOUT, GW_SESSION_IDLE);
        return UINT64_MAX;
    }
    if (gwElapsed(gw->now, s->lastSentNs) >= s->hbNs) {
        const xoeServerHeartbeat m = {.reserved = 0};
        gwQueueSession(gw, s, XOE_MSG_SERVER_HEARTBEAT, &m);
        gwFrameSend(gw, s);
    }
    const uint64_t recvDue = s->lastRecvNs + XOE_TIMEOUT_INTERVALS * s->hbNs;
    const uint64_t sendDue = s->lastSentNs + s->hbNs;
    return recvDue < sendDue ? recvDue : sendDue;
}

void gwOnTimer(gwGateway *gw, uint64_t nowNs)
{
    /* A tick before the deadline changes nothing, not even the gateway's
     * time: the worker journals only due ticks (walTimer), so the replica
     * and a replay never see the others, and their state must be the live
     * one (docs/storage/checkpoint.md, "Live and replay"). */
    if (nowNs < gw->timerDueNs)
        return; /* deadlines only move later with traffic: this is a lower bound */
    gw->now = nowNs;
    uint64_t due = UINT64_MAX;
    for (uint32_t i = 0; i < gw->nSessions; i++) {
        gwSession *s = &gw->sessions[i];
        if (s->state != GW_SESSION_LOGGED_ON)
            continue;
        const uint64_t d = gwSessionTick(gw, s);
        if (d < due)
            due = d;
    }
    gw->timerDueNs = due;
    gwFlush(gw); /* live and replay alike: nothing left queued after an input */
}

/* ---- control plane --------------------------------------------------------------------- */

int gwSessionAdd(gwGateway *gw, uint32_t sessionId, const uint8_t token[XOE_TOKEN_SIZE],
                 uint32_t account, uint32_t allowedIp)
{
    if (gw->nSessions == gw->maxSessions || gwFind(gw, sessionId))
        return -1;
    const uint32_t idx = gw->nSessions++;
    gwSession *s = &gw->sessions[idx];
    s->id = sessionId;
    s->account = account;
    s->allowedIp = allowedIp;
    memcpy(s->token, token, XOE_TOKEN_SIZE);
    s->state = GW_SESSION_IDLE;
    s->nextIn = 1;
    s->nextOut = 1;
    s->tokens = gw->rate * GW_SECOND_NS; /* a full bucket */
    uint32_t i = gwHash(sessionId, gw->indexMask);
    while (gw->index[i] != 0)
        i = (i + 1) & gw->indexMask;
    gw->index[i] = idx + 1;
    return 0;
}

int gwSessionKick(gwGateway *gw, uint32_t sessionId, uint64_t nowNs)
{
    gwSession *s = gwFind(gw, sessionId);
    if (!s)
        return -1;
    gw->now = nowNs;
    if (s->state == GW_SESSION_LOGGED_ON)
        gwSessionEnd(gw, s, XOE_LOGOUT_ADMIN, GW_SESSION_DISABLED);
    s->state = GW_SESSION_DISABLED;
    return 0;
}

int gwSessionEnable(gwGateway *gw, uint32_t sessionId)
{
    gwSession *s = gwFind(gw, sessionId);
    if (!s)
        return -1;
    if (s->state == GW_SESSION_DISABLED)
        s->state = GW_SESSION_IDLE;
    return 0;
}

uint32_t gwSessionList(const gwGateway *gw, gwSessionInfo *out, uint32_t n)
{
    uint32_t k = 0;
    for (; k < n && k < gw->nSessions; k++) {
        const gwSession *s = &gw->sessions[k];
        gwSessionInfo *o = &out[k];
        memset(o, 0, sizeof *o);
        o->sessionId = s->id;
        o->account = s->account;
        o->allowedIp = s->allowedIp;
        o->state = s->state;
        if (s->state == GW_SESSION_LOGGED_ON)
            o->bound = s->addr;
        o->nextInSeq = s->nextIn;
        o->nextOutSeq = s->nextOut;
        o->messagesIn = s->messagesIn;
        o->messagesOut = s->messagesOut;
        o->throttled = s->throttled;
    }
    return k;
}

int gwSetState(gwGateway *gw, uint16_t instrument, mtState state, uint64_t nowNs)
{
    gw->now = nowNs;
    gwRequestClear(gw);
    const int rc = mtEngineSetState(gw->engine, instrument, state);
    gwFlush(gw);
    return rc;
}

void gwSetLogonsOpen(gwGateway *gw, int open)
{
    gw->logonsOpen = open != 0;
}

int gwSetThrottle(gwGateway *gw, uint32_t msgsPerSec)
{
    if (msgsPerSec < 1)
        return -1;
    gw->rate = msgsPerSec; /* buckets above the new capacity are clamped at their next refill */
    return 0;
}

int gwAdminCancel(gwGateway *gw, uint64_t orderId, uint64_t nowNs)
{
    gw->now = nowNs;
    gwRequestClear(gw);
    gw->cur.op = MT_OP_CANCEL;
    gw->cur.admin = 1;
    gw->cur.orderId = orderId;
    const int rc = mtEngineCancel(gw->engine, orderId, MT_ANY_ACCOUNT, GW_REF_REQUEST);
    gwRequestClear(gw);
    gwFlush(gw);
    return rc;
}

void gwShutdown(gwGateway *gw, uint64_t nowNs)
{
    gw->now = nowNs;
    gw->logonsOpen = 0;
    gwFlush(gw);
    for (uint32_t i = 0; i < gw->nSessions; i++) {
        gwSession *s = &gw->sessions[i];
        if (s->state == GW_SESSION_LOGGED_ON)
            gwSessionEnd(gw, s, XOE_LOGOUT_SHUTDOWN, GW_SESSION_IDLE);
    }
    gwFlush(gw);
}

void gwSetStorageError(gwGateway *gw, uint16_t code)
{
    gw->storageCode = code;
}

crRisk *gwRisk(const gwGateway *gw)
{
    return gw->risk;
}

uint64_t gwTimerDue(const gwGateway *gw)
{
    return gw->timerDueNs;
}

const mtEngine *gwEngine(const gwGateway *gw)
{
    return gw->engine;
}

void gwGetStats(const gwGateway *gw, gwStats *out)
{
    *out = gw->stats;
}

int gwGetInstrumentStats(const gwGateway *gw, uint16_t instrument, gwInstrumentStats *out)
{
    if (instrument >= gw->instrumentCount)
        return -1;
    *out = gw->insStats[instrument];
    return 0;
}

const histLog *gwMatchHistogram(const gwGateway *gw)
{
    return &gw->matchCycles;
}

void gwSessionCounts(const gwGateway *gw, uint32_t counts[3])
{
    counts[0] = counts[1] = counts[2] = 0;
    for (uint32_t k = 0; k < gw->nSessions; k++)
        if (gw->sessions[k].state < 3)
            counts[gw->sessions[k].state]++;
}

/* ---- creation ---------------------------------------------------------------------------- */

/* Where each table sits in the one region gwCreate allocates. */
typedef struct {
    size_t sessions, index, dirty, tick, insStats, refs, frames, history, ranges, total;
} gwLayout;

/* Reserves n items of size bytes, 64-byte aligned; -1 on overflow. */
static int gwReserve(gwLayout *l, size_t n, size_t size, size_t *at)
{
    size_t bytes;
    if (__builtin_mul_overflow(n, size, &bytes) ||
        __builtin_add_overflow(bytes, (size_t)GW_ALIGN - 1, &bytes))
        return -1;
    bytes &= ~(size_t)(GW_ALIGN - 1);
    *at = l->total;
    return __builtin_add_overflow(l->total, bytes, &l->total) ? -1 : 0;
}

static int gwLayoutCompute(gwLayout *l, uint32_t maxSessions, uint32_t indexSize,
                           uint32_t historyDepth, uint16_t instruments, uint32_t refCap)
{
    size_t perSession;
    memset(l, 0, sizeof *l);
    l->total = (sizeof(gwGateway) + GW_ALIGN - 1) & ~(size_t)(GW_ALIGN - 1);
    if (gwReserve(l, maxSessions, sizeof(gwSession), &l->sessions) ||
        gwReserve(l, indexSize, sizeof(uint32_t), &l->index) ||
        gwReserve(l, maxSessions, sizeof(uint32_t), &l->dirty) ||
        gwReserve(l, instruments, sizeof(int64_t), &l->tick) ||
        gwReserve(l, instruments, sizeof(gwInstrumentStats), &l->insStats) ||
        gwReserve(l, refCap, sizeof(gwRef), &l->refs) ||
        gwReserve(l, maxSessions, XOE_FRAME_MAX, &l->frames) ||
        __builtin_mul_overflow((size_t)historyDepth, (size_t)XOE_MSG_MAX, &perSession) ||
        gwReserve(l, maxSessions, perSession, &l->history) ||
        __builtin_mul_overflow((size_t)historyDepth, sizeof(gwInRange), &perSession) ||
        gwReserve(l, maxSessions, perSession, &l->ranges))
        return -1;
    return 0;
}

static int gwOptionsValid(const gwOptions *opt)
{
    if (!opt || !opt->cfg || !opt->send || opt->segment >= opt->cfg->segmentCount)
        return 0;
    if (opt->maxSessions < 1 || opt->maxSessions > GW_MAX_SESSIONS)
        return 0;
    const uint32_t h = opt->historyDepth;
    if (h < 1 || h > GW_MAX_HISTORY || (h & (h - 1)) != 0)
        return 0;
    const cfgSegment *seg = &opt->cfg->segments[opt->segment];
    const uint32_t every = opt->matchSampleEvery;
    if (every & (every - 1))
        return 0;
    return seg->orderCapacity >= 1 && seg->orderCapacity <= UINT32_MAX - GW_REF_SPARE - 1 &&
           seg->instrumentCount >= 1 && opt->cfg->risk.throttle >= 1;
}

/* Points every session at its frame buffer and rings, and chains the refs. */
static void gwWire(gwGateway *gw, uint8_t *base, const gwLayout *l, uint32_t historyDepth)
{
    gw->sessions = (gwSession *)(base + l->sessions);
    gw->index = (uint32_t *)(base + l->index);
    gw->dirty = (uint32_t *)(base + l->dirty);
    gw->tick = (int64_t *)(base + l->tick);
    gw->insStats = (gwInstrumentStats *)(base + l->insStats);
    gw->refs = (gwRef *)(base + l->refs);
    for (uint32_t i = 0; i < gw->maxSessions; i++) {
        gwSession *s = &gw->sessions[i];
        s->frame = base + l->frames + (size_t)i * XOE_FRAME_MAX;
        s->history = base + l->history + (size_t)i * historyDepth * XOE_MSG_MAX;
        s->ranges = (gwInRange *)(base + l->ranges) + (size_t)i * historyDepth;
    }
    for (uint32_t i = 0; i < gw->refCap; i++)
        gw->refs[i].link = i + 1 < gw->refCap ? i + 1 : GW_NONE;
    gw->refFree = 0;
}

/* Creates the segment's matcher with every instrument of the segment at
 * its book index, in MT_STATE_CLOSED. */
static mtEngine *gwEngineCreate(gwGateway *gw, const gwOptions *opt, const cfgSegment *seg)
{
    const mtEngineConfig ec = {.segmentId = seg->id,
                               .orderCapacity = seg->orderCapacity,
                               .maxInstruments = gw->instrumentCapacity,
                               .stp = seg->stp,
                               .onEvent = gwOnEngineEvent,
                               .eventCtx = gw,
                               .allocator = gw->alloc};
    mtEngine *e = mtEngineCreate(&ec);
    if (!e)
        return NULL;
    for (uint32_t i = 0; i < opt->cfg->instrumentCount; i++) {
        const cfgInstrument *ins = &opt->cfg->instruments[i];
        if (ins->segIndex != opt->segment)
            continue;
        const mtBookConfig bc = {.lowerPrice = ins->lowerTicks,
                                 .upperPrice = ins->upperTicks,
                                 .referencePrice = ins->preSettlementTicks,
                                 .minLots = ins->minLots,
                                 .maxLots = ins->maxLots};
        if (ins->book >= seg->instrumentCount || ins->tickSize <= 0 ||
            mtEngineAddInstrument(e, ins->book, &bc) != MT_OK) {
            mtEngineDestroy(e);
            return NULL;
        }
        gw->tick[ins->book] = ins->tickSize;
    }
    return e;
}

gwGateway *gwCreate(const gwOptions *opt)
{
    if (!gwOptionsValid(opt))
        return NULL;
    const cfgSegment *seg = &opt->cfg->segments[opt->segment];
    const uint32_t refCap = seg->orderCapacity + GW_REF_SPARE;
    uint32_t indexSize = 2;
    while (indexSize < 2 * opt->maxSessions)
        indexSize <<= 1; /* at most half full */
    gwLayout l;
    const uint16_t capIns = seg->instrumentCapacity > seg->instrumentCount ? seg->instrumentCapacity
                                                                           : seg->instrumentCount;
    if (gwLayoutCompute(&l, opt->maxSessions, indexSize, opt->historyDepth, capIns, refCap))
        return NULL;
    const mtAllocator *a = opt->allocator ? opt->allocator : mtDefaultAllocator();
    uint8_t *base = a->alloc(a->ctx, l.total);
    if (!base)
        return NULL;
    gwGateway *gw = (gwGateway *)base; /* the allocator zeroes it */
    gw->alloc = a;
    gw->bytes = l.total;
    gw->send = opt->send;
    gw->sendCtx = opt->sendCtx;
    gw->cycles = opt->cycles;
    gw->matchMask = (opt->matchSampleEvery ? opt->matchSampleEvery : GW_MATCH_SAMPLE_EVERY) - 1;
    gw->tap = opt->tap;
    gw->insTap = opt->insTap;
    gw->tapCtx = opt->tapCtx;
    gw->onTrade = opt->onTrade;
    gw->tradeCtx = opt->tradeCtx;
    gw->maxSessions = opt->maxSessions;
    gw->indexMask = indexSize - 1;
    gw->refCap = refCap;
    gw->instrumentCount = seg->instrumentCount;
    gw->instrumentCapacity = capIns;
    gw->instrumentBase = seg->instrumentCount;
    gw->segmentId = seg->id;
    gw->logonsOpen = 1;
    gw->tradingDay = opt->tradingDay;
    gw->histMask = opt->historyDepth - 1;
    gw->rate = opt->cfg->risk.throttle;
    gw->timerDueNs = UINT64_MAX;
    gw->risk = opt->risk;
    gw->allowPark = 1;
    gwWire(gw, base, &l, opt->historyDepth);
    gwRequestClear(gw);
    gw->engine = gwEngineCreate(gw, opt, seg);
    if (!gw->engine) {
        a->free(a->ctx, base, l.total);
        return NULL;
    }
    return gw;
}

int gwAddInstrument(gwGateway *gw, const cfgInstrument *ins, mtBookMem *mem, uint64_t nowNs)
{
    if (ins->book != gw->instrumentCount || ins->book >= gw->instrumentCapacity ||
        ins->tickSize <= 0)
        return MT_ERR_INVALID_PARAMS;
    const mtBookConfig bc = {.lowerPrice = ins->lowerTicks,
                             .upperPrice = ins->upperTicks,
                             .referencePrice = ins->preSettlementTicks,
                             .minLots = ins->minLots,
                             .maxLots = ins->maxLots};
    const int rc = mem ? mtEngineAttachInstrument(gw->engine, ins->book, &bc, mem)
                       : mtEngineAddInstrument(gw->engine, ins->book, &bc);
    if (rc != MT_OK)
        return rc;
    gw->tick[ins->book] = ins->tickSize;
    memset(&gw->insStats[ins->book], 0, sizeof gw->insStats[0]);
    if (gw->risk)
        crAddInstrument(gw->risk, ins);
    gw->instrumentCount++;
    if (gw->insTap)
        gw->insTap(gw->tapCtx, ins, nowNs);
    return MT_OK;
}

uint16_t gwInstrumentCount(const gwGateway *gw)
{
    return gw->instrumentCount;
}

uint16_t gwInstrumentCapacity(const gwGateway *gw)
{
    return gw->instrumentCapacity;
}

void gwDestroy(gwGateway *gw)
{
    if (!gw)
        return;
    const mtAllocator *a = gw->alloc;
    mtEngineDestroy(gw->engine);
    a->free(a->ctx, gw, gw->bytes);
}
