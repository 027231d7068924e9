/* wal.c -- a segment's input journal: records in, frames gated, replay, state hash.
 *
 * The gate is a ring of (frame, sequence) pairs in the order the gateway
 * sent the frames. A frame is tagged with the journal's last sequence when
 * it is sent: every input that could have produced it is at or below that
 * tag, so it may leave once the durable sequence reaches the tag. Tags only
 * grow, so releasing from the front keeps each session's frames in order. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dataplane/wal.h"
#include "dataplane/crlink.h"

#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

typedef struct {
    void *frame;
    uint64_t seq;
} walSlot;

struct walLog {
    jnJournal *j;
    gwGateway *gw;
    const mtAllocator *alloc;
    int sync, muted, failed, full;
    walOutFn *release, *drop;
    void *outCtx;
    walSlot *gate;
    uint32_t mask, head, tail; /* frames in [tail, head) */
    uint64_t durable;          /* last durable sequence seen */
    uint64_t published;        /* last sequence published */
    uint64_t lastNs;           /* time of the last input journaled */
    walCounters c;
};

walLog *walCreate(jnJournal *j, gwGateway *gw, int sync, uint32_t gateSlots,
                  const mtAllocator *alloc)
{
    if (!j || !gw || gateSlots < 2 || (gateSlots & (gateSlots - 1)))
        return NULL;
    alloc = alloc ? alloc : mtDefaultAllocator();
    walLog *w = alloc->alloc(alloc->ctx, sizeof *w);
    if (!w)
        return NULL;
    w->gate = alloc->alloc(alloc->ctx, (size_t)gateSlots * sizeof *w->gate);
    if (!w->gate) {
        alloc->free(alloc->ctx, w, sizeof *w);
        return NULL;
    }
    w->j = j;
    w->gw = gw;
    w->alloc = alloc;
    w->sync = sync != 0;
    w->muted = 1;
    w->mask = gateSlots - 1;
    w->durable = jnDurableSeq(j);
    w->published = jnLastSeq(j);
    return w;
}

void walDestroy(walLog *w)
{
    if (!w)
        return;
    w->alloc->free(w->alloc->ctx, w->gate, (size_t)(w->mask + 1) * sizeof *w->gate);
    w->alloc->free(w->alloc->ctx, w, sizeof *w);
}

void walSetOutput(walLog *w, walOutFn *release, walOutFn *drop, void *ctx)
{
    w->release = release;
    w->drop = drop;
    w->outCtx = ctx;
}

void walSetMuted(walLog *w, int muted)
{
    w->muted = muted != 0;
}

int walMuted(const walLog *w)
{
    return w->muted;
}

/* ---- worker side ---------------------------------------------------------- */

int walRoom(walLog *w, uint32_t burstBytes)
{
    if (unlikely(w->head - w->tail > (w->mask + 1) / 2))
        return 0;
    return w->failed || jnRoom(w->j, burstBytes);
}

/* Reserves a record; NULL when the journal cannot take it (failed or full). */
static void *walReserve(walLog *w, uint16_t type, uint32_t len)
{
    uint64_t seq;
    void *p = jnReserve(w->j, type, len, &seq);
    if (likely(p != NULL)) {
        w->c.records++;
        return p;
    }
    w->c.skipped++;
    return NULL;
}

static void walFail(walLog *w);

/* jnReserve refused: the writer failed (apply the input in failure mode:
 * the gateway answers 5002) or the ring is full (leave it unapplied). */
static walVerdict walNoRoom(walLog *w)
{
    if (!jnStatus(w->j))
        return WAL_SKIP;
    w->durable = jnDurableSeq(w->j);
    walFail(w);
    return WAL_APPLY;
}

walVerdict walDatagram(walLog *w, gwAddr from, const uint8_t *data, uint16_t len, uint64_t nowNs)
{
    if (unlikely(w->failed))
        return WAL_APPLY; /* the gateway answers 5002 */
    xoeFrame f;
    xoeErrorInfo ei;
    if (xoeFrameParse(data, len, XOE_DIR_TO_XCHG, &f, &ei) != XOE_OK)
        return WAL_APPLY; /* changes no state: counted and maybe answered, not journaled */
    return walDatagramParsed(w, from, data, len, nowNs);
}

walVerdict walDatagramParsed(walLog *w, gwAddr from, const uint8_t *data, uint16_t len,
                             uint64_t nowNs)
{
    if (unlikely(w->failed))
        return WAL_APPLY; /* the gateway answers 5002 */
    uint8_t *p = walReserve(w, WAL_DATAGRAM, (uint32_t)sizeof(walDatagramRec) + len);
    if (unlikely(!p))
        return walNoRoom(w);
    const walDatagramRec h = {.nowNs = nowNs, .ip = from.ip, .port = from.port, .len = len};
    w->lastNs = nowNs;
    memcpy(p, &h, sizeof h);
    memcpy(p + sizeof h, data, len);
    return WAL_APPLY;
}

walVerdict walTimer(walLog *w, uint64_t nowNs)
{
    if (likely(nowNs < gwTimerDue(w->gw)) || unlikely(w->failed))
        return WAL_APPLY;
    walTimeRec *p = walReserve(w, WAL_TIMER, sizeof *p);
    if (unlikely(!p))
        return walNoRoom(w);
    p->nowNs = nowNs;
    w->lastNs = nowNs;
    return WAL_APPLY;
}

walVerdict walControl(walLog *w, walType type, const void *payload, uint32_t len)
{
    if (unlikely(w->failed))
        return WAL_SKIP;
    void *p = walReserve(w, (uint16_t)type, len);
    if (!p)
        return WAL_SKIP;
    memcpy(p, payload, len);
    return WAL_APPLY;
}

void walHold(walLog *w, void *frame, int resend)
{
    const uint64_t seq = jnLastSeq(w->j);
    if (unlikely(w->failed && resend)) {
        w->c.droppedAtFailure++;
        w->drop(w->outCtx, frame);
        return;
    }
    if (!w->sync || w->failed || (w->head == w->tail && seq <= w->durable)) {
        w->release(w->outCtx, frame);
        return;
    }
    if (unlikely(w->head - w->tail > w->mask)) {
        w->c.gateFull++; /* the client recovers it by retransmission */
        w->drop(w->outCtx, frame);
        return;
    }
    w->gate[w->head & w->mask] = (walSlot){frame, seq};
    w->head++;
    w->c.held++;
    if (w->head - w->tail > w->c.heldMax)
        w->c.heldMax = w->head - w->tail;
}

/* The journal stopped (ENOSPC, EIO): nothing journaled from now on becomes
 * durable, so held frames that are not durable will never be; they go, and
 * orders are answered 5002 from now on. */
static void walFail(walLog *w)
{
    w->failed = 1;
    gwSetStorageError(w->gw, XOE_CODE_STORAGE);
    for (; w->tail != w->head; w->tail++) {
        walSlot *s = &w->gate[w->tail & w->mask];
        if (s->seq <= w->durable) {
            w->release(w->outCtx, s->frame);
            w->c.released++;
        } else {
            w->drop(w->outCtx, s->frame);
            w->c.droppedAtFailure++;
        }
    }
}

/* The disk is full: the current segment is all that is left. Orders get
 * 5002 from the next input on, and the switch is an input itself, so a
 * replay rejects the same orders. */
static void walFull(walLog *w, uint64_t nowNs)
{
    const walStorageRec r = {
        .nowNs = nowNs, .code = XOE_CODE_STORAGE, .sysErrno = jnSpareError(w->j)};
    if (walControl(w, WAL_STORAGE, &r, sizeof r) == WAL_APPLY) {
        walApply(w->gw, WAL_STORAGE, &r, sizeof r);
        w->full = 1;
    }
}

uint32_t walPoll(walLog *w)
{
    if (unlikely(!w->full && jnSpareError(w->j)))
        walFull(w, w->lastNs);
    const uint64_t last = jnLastSeq(w->j);
    if (last != w->published) {
        jnPublish(w->j);
        w->published = last;
    }
    if (w->head == w->tail && !unlikely(w->failed) && w->durable == last)
        return 0;
    w->durable = jnDurableSeq(w->j);
    if (unlikely(!w->failed && jnStatus(w->j)))
        walFail(w);
    uint32_t n = 0;
    while (w->tail != w->head && w->gate[w->tail & w->mask].seq <= w->durable) {
        w->release(w->outCtx, w->gate[w->tail & w->mask].frame);
        w->tail++;
        n++;
    }
    w->c.released += n;
    return n;
}

uint32_t walHeld(const walLog *w)
{
    return w->head - w->tail;
}

void walPosition(const walLog *w, uint64_t *lastSeq, uint64_t *durableSeq)
{
    *lastSeq = jnLastSeq(w->j);
    *durableSeq = jnDurableSeq(w->j);
}

void walJournalStats(const walLog *w, jnStats *st)
{
    jnGetStats(w->j, st);
}

int walSpaceError(const walLog *w)
{
    return jnSpareError(w->j);
}

int walStatus(const walLog *w)
{
    return jnStatus(w->j);
}

void walGetCounters(const walLog *w, walCounters *out)
{
    *out = w->c;
}

/* ---- replay ------------------------------------------------------------------ */

#define WAL_NEED(type)                                                                             \
    do {                                                                                           \
        if (len != sizeof(type))                                                                   \
            return -1;                                                                             \
        memcpy(&u, payload, sizeof(type));                                                         \
    } while (0)

walType walCreditType(const crCmd *c)
{
    return c->type == CR_CMD_CANCEL  ? WAL_LIQ_CANCEL
           : c->type == CR_CMD_CLOSE ? WAL_LIQ_ORDER
                                     : WAL_CREDIT;
}

/* One record into gw; its frames may still be queued (walApply flushes). */
static int walApplyOne(gwGateway *gw, uint16_t type, const void *payload, uint32_t len)
{
    union {
        walDatagramRec d;
        walTimeRec t;
        walSessionAddRec sa;
        walSessionRec s;
        walSetStateRec st;
        walAdminCancelRec ac;
        walStorageRec sr;
        walCreditRec cr;
        walThrottleRec th;
        walInstrumentAddRec ia;
    } u;
    switch (type) {
    case WAL_DATAGRAM:
        if (len < sizeof u.d)
            return -1;
        memcpy(&u.d, payload, sizeof u.d);
        if (u.d.len != len - sizeof u.d)
            return -1;
        gwOnDatagram(gw, (gwAddr){u.d.ip, u.d.port}, (const uint8_t *)payload + sizeof u.d, u.d.len,
                     u.d.nowNs);
        return 0;
    case WAL_TIMER:
        WAL_NEED(walTimeRec);
        gwOnTimer(gw, u.t.nowNs);
        return 0;
    case WAL_SESSION_ADD:
        WAL_NEED(walSessionAddRec);
        gwSessionAdd(gw, u.sa.sessionId, u.sa.token, u.sa.account, u.sa.allowedIp);
        return 0;
    case WAL_CREDIT:
    case WAL_LIQ_CANCEL:
    case WAL_LIQ_ORDER:
        WAL_NEED(walCreditRec);
        if (walCreditType(&u.cr.cmd) != type)
            return -1;
        crlApply(gwRisk(gw), gw, &u.cr.cmd, u.cr.nowNs);
        return 0;
    case WAL_INSTRUMENT_ADD:
        WAL_NEED(walInstrumentAddRec);
        /* journaled only once the worker checked it: a refusal here means
         * a journal that does not belong to this config */
        return gwAddInstrument(gw, &u.ia.ins, NULL, u.ia.nowNs) == MT_OK ? 0 : -1;
    case WAL_SET_THROTTLE:
        WAL_NEED(walThrottleRec);
        gwSetThrottle(gw, u.th.msgsPerSec);
        return 0;
    case WAL_SESSION_KICK:
        WAL_NEED(walSessionRec);
        gwSessionKick(gw, u.s.sessionId, u.s.nowNs);
        return 0;
    case WAL_SESSION_ENABLE:
        WAL_NEED(walSessionRec);
        gwSessionEnable(gw, u.s.sessionId);
        return 0;
    case WAL_SET_STATE:
        WAL_NEED(walSetStateRec);
        gwSetState(gw, u.st.instrument, (mtState)u.st.state, u.st.nowNs);
        return 0;
    case WAL_SHUTDOWN:
        WAL_NEED(walTimeRec);
        gwShutdown(gw, u.t.nowNs);
        return 0;
    case WAL_START:
        WAL_NEED(walTimeRec);
        gwSetLogonsOpen(gw, 1);
        gwSetStorageError(gw, 0); /* a start has its storage checked afresh */
        return 0;
    case WAL_STORAGE:
        WAL_NEED(walStorageRec);
        gwSetStorageError(gw, u.sr.code);
        return 0;
    case WAL_ADMIN_CANCEL:
        WAL_NEED(walAdminCancelRec);
        gwAdminCancel(gw, u.ac.orderId, u.ac.nowNs);
        return 0;
    default:
        return -1;
    }
}

/* Every record is followed by a flush, as the worker flushes after every
 * input it journals (docs/storage/checkpoint.md, "Live and replay"): a
 * frame's send time is the session's lastSentNs, which times heartbeats, so
 * frames must leave at the same input live, in the replica and in a replay. */
int walApply(gwGateway *gw, uint16_t type, const void *payload, uint32_t len)
{
    const int rc = walApplyOne(gw, type, payload, len);
    if (rc == 0)
        gwFlush(gw);
    return rc;
}

static uint64_t walNowNs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#define WAL_PROGRESS_EVERY (1u << 20)

int walReplay(const char *dir, uint32_t stream, unsigned flags, gwGateway *gw,
              walProgressFn *progress, void *ctx, walReplayReport *rep, jnError *err)
{
    return walReplayFrom(dir, stream, flags, 0, gw, progress, ctx, rep, err);
}

int walReplayFrom(const char *dir, uint32_t stream, unsigned flags, uint64_t afterSeq,
                  gwGateway *gw, walProgressFn *progress, void *ctx, walReplayReport *rep,
                  jnError *err)
{
    memset(rep, 0, sizeof *rep);
    const uint64_t t0 = walNowNs();
    jnReader *r = jnReaderOpen(dir, stream, flags, err);
    if (!r)
        return -1;
    jnRecord rec;
    int rc;
    uint64_t seen = 0;
    while ((rc = jnReaderNext(r, &rec, err)) == 1) {
        if (!seen++ && rec.seq > afterSeq + 1) {
            memset(err, 0, sizeof *err);
            err->code = JN_ESEQ;
            snprintf(err->msg, sizeof err->msg,
                     "journal %s: starts at sequence %llu, the state is at %llu: the records "
                     "between are gone",
                     rec.file, (unsigned long long)rec.seq, (unsigned long long)afterSeq);
            rc = -1;
            break;
        }
        if (rec.seq <= afterSeq)
            continue; /* in the checkpoint already */
        if (walApply(gw, rec.type, rec.payload, rec.len) != 0) {
            memset(err, 0, sizeof *err);
            err->code = JN_ECORRUPT;
            err->offset = rec.offset;
            snprintf(err->file, sizeof err->file, "%s", rec.file);
            snprintf(err->msg, sizeof err->msg,
                     "journal %s: offset %llu: record %llu: type %u of %u bytes is not a segment "
                     "input this version knows",
                     rec.file, (unsigned long long)rec.offset, (unsigned long long)rec.seq,
                     rec.type, rec.len);
            rc = -1;
            break;
        }
        if (rec.type == WAL_SESSION_ADD) {
            walSessionAddRec sa;
            memcpy(&sa, rec.payload, sizeof sa);
            if (sa.sessionId > rep->maxSessionId)
                rep->maxSessionId = sa.sessionId;
        }
        if (!rep->records++)
            rep->firstSeq = rec.seq;
        rep->lastSeq = rec.seq;
        if (progress && rep->records % WAL_PROGRESS_EVERY == 0) {
            rep->ns = walNowNs() - t0;
            progress(ctx, rep);
        }
    }
    rep->read = *jnReaderReport(r);
    jnReaderClose(r);
    rep->ns = walNowNs() - t0;
    return rc < 0 ? -1 : 0;
}

/* ---- state hash ------------------------------------------------------------------ */

typedef struct {
    uint64_t h;
} walHash;

static void walMix(walHash *h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) {
        h->h ^= b[i];
        h->h *= 0x100000001b3ull;
    }
}

static void walMix64(walHash *h, uint64_t v)
{
    walMix(h, &v, sizeof v);
}

static void walHashOrder(void *ctx, const mtOrderInfo *o)
{
    walHash *h = ctx;
    walMix64(h, o->orderId);
    walMix64(h, o->userRef);
    walMix64(h, (uint64_t)o->price);
    walMix64(h, ((uint64_t)o->account << 32) | o->qty);
    walMix64(h, ((uint64_t)o->leaves << 32) | ((uint64_t)o->instrument << 16) |
                    ((uint64_t)o->side << 8) | o->timeCondition);
}

#define WAL_HASH_SESSIONS 1024

uint64_t walStateHash(const gwGateway *gw, uint16_t instrumentCount)
{
    walHash h = {0xcbf29ce484222325ull};
    /* on the stack (64 KiB): it runs on a worker lcore, which must not
     * allocate, and a failed allocation would hash as "no sessions" */
    gwSessionInfo s[WAL_HASH_SESSIONS];
    uint32_t n = gwSessionList(gw, s, WAL_HASH_SESSIONS);
    walMix64(&h, n);
    for (uint32_t i = 0; i < n; i++) {
        walMix64(&h, ((uint64_t)s[i].sessionId << 32) | s[i].account);
        walMix64(&h, ((uint64_t)s[i].allowedIp << 32) | s[i].state);
        walMix64(&h, ((uint64_t)s[i].bound.ip << 32) | s[i].bound.port);
        walMix64(&h, s[i].nextInSeq);
        walMix64(&h, s[i].nextOutSeq);
    }
    const mtEngine *e = gwEngine(gw);
    if (gwInstrumentCount(gw) > instrumentCount)
        instrumentCount = gwInstrumentCount(gw); /* and the books instrument.add made */
    for (uint16_t i = 0; i < instrumentCount; i++) {
        walMix64(&h, (uint64_t)(int64_t)mtEngineState(e, i));
        walMix64(&h, mtEngineForEachOrder(e, i, MT_BUY, walHashOrder, &h));
        walMix64(&h, mtEngineForEachOrder(e, i, MT_SELL, walHashOrder, &h));
    }
    mtStats st;
    mtEngineGetStats(e, &st);
    walMix64(&h, st.ordersAccepted);
    walMix64(&h, st.ordersRejected);
    walMix64(&h, st.fills);
    if (gwRisk(gw))
        walMix64(&h, crStateHash(gwRisk(gw)));
    return h.h;
}
