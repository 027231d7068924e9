/* gw_int.h -- the gateway's private structures, shared by gateway.c and gwsnap.c (snapshots).
 *
 * Not an API: only the gateway's own files include it. */
#ifndef XCHG_DATAPLANE_GW_INT_H
#define XCHG_DATAPLANE_GW_INT_H

#include <stdint.h>

#include "dataplane/gateway.h"
#include "dataplane/histogram.h"

#define GW_SECOND_NS    UINT64_C(1000000000)
#define GW_MS_NS        UINT64_C(1000000)
#define GW_NONE         UINT32_MAX /* no session, no ref */
#define GW_REF_REQUEST  UINT64_MAX /* userRef of matcher calls that create no ref */
#define GW_REF_SPARE    4          /* refs beyond the pool: a replace holds two at once */
#define GW_MAX_SESSIONS (1u << 20)
#define GW_MAX_HISTORY  (1u << 24)
#define GW_ALIGN        64

/* What each processed inbound number produced, for duplicate answers. */
typedef struct {
    uint64_t inSeq;    /* inbound number; 0 = nothing recorded yet */
    uint64_t firstOut; /* first outbound number it produced */
    uint64_t count;    /* outbound messages it produced, consecutive */
} gwInRange;

typedef struct {
    uint32_t id, account, allowedIp;
    uint8_t state;      /* gwSessionState */
    uint8_t everBound;  /* addr holds the address it was last bound to */
    uint8_t queued;     /* listed in gw->dirty */
    uint8_t frameFlags; /* of the pending frame */
    gwAddr addr;
    uint64_t nextIn, nextOut;
    uint64_t hbNs; /* granted heartbeat interval */
    uint64_t lastRecvNs, lastSentNs;
    uint64_t logonOkNs; /* earliest time the next Logon is evaluated */
    uint64_t nlOkNs;    /* earliest time the next NOT_LOGGED_ON is sent */
    uint64_t tokens;    /* throttle bucket in 1e-9 messages, so refills are exact */
    uint64_t refillNs;
    uint64_t frameSeq; /* header seq of the pending frame */
    uint64_t messagesIn, messagesOut, throttled;
    uint8_t token[XOE_TOKEN_SIZE];
    xoeWriter w;       /* pending frame; w.count == 0: none */
    uint8_t *frame;    /* XOE_FRAME_MAX bytes */
    uint8_t *history;  /* historyDepth slots of XOE_MSG_MAX bytes */
    gwInRange *ranges; /* historyDepth entries, by inbound number */
} gwSession;

/* An order the gateway entered: where its reports go. */
typedef struct {
    uint64_t clOrdId; /* current: a Replace changes it */
    uint32_t link;    /* owning session index; next free ref when free */
    uint8_t inUse;
    uint8_t offset; /* xoeOffset, kept for the positions keeper */
    uint8_t pad[2];
} gwRef;

/* The request being processed, for matcher events that do not carry it
 * (rejects of cancels and replaces, answers to another session). */
typedef struct {
    uint32_t session; /* requesting session, GW_NONE for the control plane */
    uint32_t oldRef;  /* replace: the order's ref until REPLACED */
    uint32_t newRef;  /* replace: the ref it gets, until REPLACED or rejected */
    uint8_t op;       /* mtOp */
    uint8_t admin;    /* control-plane cancel: CANCELLED reason USER becomes ADMIN */
    uint64_t clOrdId; /* of the request */
    uint64_t orderId;
} gwRequest;

struct gwGateway {
    mtEngine *engine;
    const mtAllocator *alloc;
    size_t bytes; /* of the region this struct heads */
    gwSendFn *send;
    void *sendCtx;
    gwEventTapFn *tap;
    gwInstrumentTapFn *insTap;
    void *tapCtx;
    gwTradeFn *onTrade;
    void *tradeCtx;
    gwSession *sessions;
    uint32_t nSessions, maxSessions;
    uint32_t *index; /* session index + 1 by hashed id, 0 = empty */
    uint32_t indexMask;
    uint32_t *dirty; /* sessions with a pending frame */
    uint32_t nDirty;
    gwRef *refs;
    uint32_t refCap, refFree;
    int64_t *tick;               /* tick size (1e-4 units) by instrument index; 0 = none */
    gwInstrumentStats *insStats; /* by instrument index */
    gwCyclesFn *cycles;          /* NULL: the matcher is not timed */
    histLog matchCycles;         /* per sampled matcher call of a request */
    uint32_t matchMask;          /* sample the call when (matchTick & matchMask) == 0 */
    uint32_t matchTick;          /* matcher calls of requests so far (not in snapshots: */
                                 /* it only picks the calls the histogram times) */
    uint16_t instrumentCount;    /* books defined (grows with gwAddInstrument) */
    uint16_t instrumentCapacity; /* entries of tick, insStats and the matcher's books */
    uint16_t instrumentBase;     /* books from the config at gwCreate; the rest were added */
    uint8_t segmentId;
    uint8_t logonsOpen;
    uint32_t tradingDay;
    uint64_t histMask;
    uint64_t rate; /* throttle, messages per second */
    uint64_t now;
    uint64_t timerDueNs;  /* no session needs the timer before this */
    uint16_t storageCode; /* non-zero: the journal failed, orders get this code */
    gwRequest cur;
    crRisk *risk;      /* credit lines and positions; NULL = no pre-trade risk */
    uint8_t allowPark; /* 0 while a parked order is retried */
    uint8_t replaying; /* frames accounted, not built or sent (gwSetReplaying) */
    gwStats stats;
    uint8_t scratch[XOE_FRAME_MAX]; /* frames sent outside any session's pending frame */
};

/* Home slot of a session id in the session index. */
static inline uint32_t gwHash(uint32_t id, uint32_t mask)
{
    return (uint32_t)((id * UINT64_C(0x9E3779B97F4A7C15)) >> 40) & mask;
}

/* The oldest outbound number still in the history (§7.3). */
static inline uint64_t gwOldest(const gwGateway *gw, const gwSession *s)
{
    const uint64_t depth = gw->histMask + 1;
    return s->nextOut > depth ? s->nextOut - depth : 1;
}

/* The session with this id, or NULL. The index is at most half full, so the
 * probe ends at an empty slot quickly. */
static inline gwSession *gwFind(const gwGateway *gw, uint32_t id)
{
    uint32_t i = gwHash(id, gw->indexMask);
    for (uint32_t n = 0; n <= gw->indexMask; n++, i = (i + 1) & gw->indexMask) {
        const uint32_t v = gw->index[i];
        if (v == 0)
            return NULL;
        if (gw->sessions[v - 1].id == id)
            return &gw->sessions[v - 1];
    }
    return NULL;
}

#endif
