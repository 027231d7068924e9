/* gateway.h -- order entry of one market segment: XOE datagrams in, matcher, XOE reports out.
 *
 * The gateway is the whole order path of a worker lcore except the packet
 * I/O: it validates XOE frames (include/xchg/xoe.h), runs the sessions
 * (logon, sequences, duplicates, gaps, retransmission, heartbeats, throttle;
 * docs/protocol/xoe.md §7-§8), converts prices to ticks, calls the
 * segment's matcher and turns its events into the sessions' reports. It has
 * no DPDK dependency so it is unit-tested with plain buffers; the worker
 * loop (dataplane/xchgd.c) feeds it UDP payloads and sends what it emits.
 *
 * Single-threaded: only the worker lcore calls it (the control lcore's
 * requests reach it through a ring and are applied by the worker). No call
 * allocates, locks, makes a system call or uses floating point after
 * gwCreate. Time is passed in (nanoseconds, any monotonic origin), so tests
 * control it. */
#ifndef XCHG_DATAPLANE_GATEWAY_H
#define XCHG_DATAPLANE_GATEWAY_H

#include <stdint.h>

#include "config/config.h"
#include "dataplane/credit.h"
#include "dataplane/histogram.h"
#include "matcher/matcher.h"
#include "xchg/xoe.h"

typedef struct {
    uint32_t ip;   /* IPv4, host byte order */
    uint16_t port; /* UDP port, host byte order */
} gwAddr;

/* Called for each datagram the gateway sends (a full XOE frame); `data` is
 * valid only during the call. */
typedef void gwSendFn(void *ctx, gwAddr to, const uint8_t *data, uint16_t len);

/* A cycle counter (the worker passes rte_rdtsc); times the matcher. */
typedef uint64_t gwCyclesFn(void);
/* Called with every matcher event, before the gateway handles it, with the
 * time of the request that caused it (the market data tap). */
typedef void gwEventTapFn(void *ctx, const mtEvent *ev, uint64_t nowNs);
/* Called once per fill for the summary market data (docs/market-data.md):
 * instrument index in the segment, price in 1e-4 units, the aggressor
 * (MT_BUY, MT_SELL, MT_AGGRESSOR_NONE) and the xoeOffset of the buy [0] and
 * sell [1] order (0xFF when unknown). Must not block. */
typedef void gwTradeFn(void *ctx, uint16_t instrument, int64_t price, uint32_t qty,
                       uint8_t aggressor, const uint8_t offset[2], uint64_t nowNs);

/* Called when an instrument is added at run time (gwAddInstrument), with
 * tapCtx: the feed's directory entry for it (fdInstrumentTap). */
typedef void gwInstrumentTapFn(void *ctx, const cfgInstrument *ins, uint64_t nowNs);

typedef struct {
    const cfgConfig *cfg;
    uint16_t segment;      /* index into cfg->segments */
    uint32_t maxSessions;  /* sessions this segment can hold, >= 1 */
    uint32_t historyDepth; /* outbound messages kept per session, power of two */
    uint32_t tradingDay;   /* YYYYMMDD, told to clients at logon */
    gwSendFn *send;
    void *sendCtx;
    gwEventTapFn *tap; /* NULL: none */
    void *tapCtx;
    gwInstrumentTapFn *insTap; /* NULL: none; called with tapCtx */
    gwTradeFn *onTrade;        /* NULL: none */
    void *tradeCtx;
    const mtAllocator *allocator; /* NULL: mtDefaultAllocator() */
    crRisk *risk;                 /* pre-trade risk and credit lines (not owned); NULL: none */
    gwCyclesFn *cycles;           /* NULL: no matcher-time histogram */
    uint32_t matchSampleEvery;    /* time 1 matcher call in this many (power of two);
                                   * 0: GW_MATCH_SAMPLE_EVERY */
} gwOptions;

/* The matcher-time histogram times the first matcher call and then one in
 * this many: two TSC reads cost 90-180 ns on a VM, more than the matcher's
 * own work for a resting order (docs/operations/metrics.md). */
#define GW_MATCH_SAMPLE_EVERY 16u

typedef enum {
    GW_SESSION_IDLE = 0,      /* known, never logged on or logged out */
    GW_SESSION_LOGGED_ON = 1, /* bound to an address */
    GW_SESSION_DISABLED = 2   /* kicked by the operator: logons refused */
} gwSessionState;

typedef struct {
    uint32_t sessionId;
    uint32_t account;
    uint32_t allowedIp; /* 0 = any source address */
    uint8_t state;      /* gwSessionState */
    gwAddr bound;       /* while logged on */
    uint64_t nextInSeq, nextOutSeq;
    /* messagesIn: messages of every class in frames processed for the
     * session; messagesOut: messages sent to it (new, resent, session);
     * throttled: messages refused by its throttle (§8.4) */
    uint64_t messagesIn, messagesOut, throttled;
} gwSessionInfo;

/* Drop and event counters; read by the control lcore only through a copy
 * the worker publishes (the worker is the single writer). */
typedef struct {
    /* Every datagram received is counted in datagramsIn and in exactly one
     * of: datagramsProcessed, malformed[], unknownSession, wrongAddress,
     * notLoggedOn, logonThrottled. */
    uint64_t datagramsIn, datagramsOut, datagramsProcessed;
    uint64_t malformed[32]; /* by xoeError */
    uint64_t unknownSession, wrongAddress, notLoggedOn, logonThrottled;
    uint64_t logons, logonRejects, logouts, timeouts;
    uint64_t duplicates, duplicatesExpired, gaps, retransmitRequests, retransmitted;
    uint64_t throttled;
    uint64_t newOrders, cancels, replaces;
    uint64_t accepted, rejected, executions, cancelled, replaced, cancelRejected;
    uint64_t unknownTypes;
    uint64_t orderRefs; /* live orders the gateway tracks (= the matcher's resting orders) */
} gwStats;

/* Per instrument of the segment (index = its book index). */
typedef struct {
    uint64_t orders;     /* NewOrders for the instrument that reached risk checks */
    uint64_t trades;     /* fills (one per trade, not per side) */
    uint64_t tradedLots; /* lots traded */
} gwInstrumentStats;

typedef struct gwGateway gwGateway;

/* Creates the segment's gateway and its matcher (instruments from the
 * config, all in MT_STATE_CLOSED). Returns NULL when the options are
 * invalid or memory cannot be had. Free with gwDestroy. */
gwGateway *gwCreate(const gwOptions *opt);

/* Frees the gateway and its matcher. NULL is a no-op. */
void gwDestroy(gwGateway *gw);

/* ---- data path ------------------------------------------------------------ */

/* Processes one UDP payload received on the segment's order-entry port from
 * `from`. Answers are queued per session and sent by gwFlush. Never fails:
 * bad input is dropped or answered as docs/protocol/xoe.md says, and counted. */
void gwOnDatagram(gwGateway *gw, gwAddr from, const uint8_t *data, uint16_t len, uint64_t nowNs);

/* gwOnDatagram for a payload the caller has parsed already: `f` is what
 * xoeFrameParse(data, len, XOE_DIR_TO_XCHG, ...) returned XOE_OK for (it
 * points into the payload, which must stay valid during the call). The
 * worker parses once for the journal and the gateway. Never fails. */
void gwOnDatagramParsed(gwGateway *gw, gwAddr from, const xoeFrame *f, uint64_t nowNs);

/* Sends every queued frame (one or more per session with pending messages)
 * through the send callback. Call once per rx burst. */
void gwFlush(gwGateway *gw);

/* Replaying a journal (xchg-replay turns it on around walReplay): answers are
 * numbered, kept in the history and accounted exactly as live (frame
 * splits, datagramsOut, messagesOut, lastSentNs, so heartbeats and the
 * state hash come out the same) but no frame is built and the send
 * callback is not called. Never fails. */
void gwSetReplaying(gwGateway *gw, int on);
int gwReplaying(const gwGateway *gw);

/* Heartbeats for idle sessions and logout of silent ones. Call often (every
 * few ms); cheap when nothing is due. Frames it produces go out at once. */
void gwOnTimer(gwGateway *gw, uint64_t nowNs);

/* ---- control plane (applied on the worker) ------------------------------------- */

/* Adds a session. Returns 0, or -1 if the id exists or the table is full. */
int gwSessionAdd(gwGateway *gw, uint32_t sessionId, const uint8_t token[XOE_TOKEN_SIZE],
                 uint32_t account, uint32_t allowedIp);

/* Logs a session out (LoggedOut{ADMIN} to its address) and disables it.
 * Returns 0, or -1 for an unknown session. */
int gwSessionKick(gwGateway *gw, uint32_t sessionId, uint64_t nowNs);

/* Lets a kicked session log on again. Returns 0, or -1 for an unknown
 * session. */
int gwSessionEnable(gwGateway *gw, uint32_t sessionId);

/* Copies up to n sessions' info; returns how many were copied. */
uint32_t gwSessionList(const gwGateway *gw, gwSessionInfo *out, uint32_t n);

/* Moves an instrument (index in the segment) to a trading state; matcher
 * events go to the sessions concerned (sent at once). Returns an MT_ code. */
int gwSetState(gwGateway *gw, uint16_t instrument, mtState state, uint64_t nowNs);

/* Defines an instrument added at run time (instrument.add) as the
 * segment's next book: ins->book must equal the books defined so far and be
 * below the segment's instrument_capacity. The book starts CLOSED (the
 * operator opens it with instrument.state); the credit check learns its
 * rates; the instrument tap (the feed) gets it. mem: the book's memory from
 * mtBookMemAlloc (taken on success), or NULL to allocate here (start-up and
 * replay only: never on a running worker lcore). Returns 0, or an MT_ code
 * (MT_ERR_INVALID_PARAMS: wrong book, band or a full segment; nothing
 * changed, mem still the caller's). */
int gwAddInstrument(gwGateway *gw, const cfgInstrument *ins, mtBookMem *mem, uint64_t nowNs);

/* Books defined so far, and the most the segment holds. */
uint16_t gwInstrumentCount(const gwGateway *gw);
uint16_t gwInstrumentCapacity(const gwGateway *gw);

/* Opens or closes the segment to logons (closed: LogonRejected{9005}, for
 * start-up and recovery). Open after gwCreate; gwShutdown closes it. */
void gwSetLogonsOpen(gwGateway *gw, int open);

/* Changes the per-session throttle (messages per second, >= 1) for every
 * session from now on (SIGHUP reload). Returns 0, -1 for 0. */
int gwSetThrottle(gwGateway *gw, uint32_t msgsPerSec);

/* Cancels any order of the segment for the control plane (operator, force
 * liquidation): its session gets Cancelled{ADMIN}. Returns MT_OK,
 * MT_ERR_ORDER_NOT_FOUND or MT_ERR_NOT_CANCELLABLE. Flushes. */
int gwAdminCancel(gwGateway *gw, uint64_t orderId, uint64_t nowNs);

/* Storage failure (docs/storage/recovery.md): from now on NewOrder, Cancel
 * and Replace are answered Rejected/CancelRejected{code} (5002) and not
 * executed. 0 lifts it. */
void gwSetStorageError(gwGateway *gw, uint16_t code);

/* Time before which gwOnTimer does nothing (UINT64_MAX: no session needs
 * it), so the journal records only the timer calls that act. */
uint64_t gwTimerDue(const gwGateway *gw);

/* Runs a NewOrder that dataplane/credit.c parked for a top-up again, for
 * the session with internal index `session` (crParkedOrder.session); this
 * time an uncovered order is rejected 1001. Reports are queued (gwFlush). */
void gwResume(gwGateway *gw, uint32_t session, const xoeNewOrder *o, uint64_t nowNs);

/* Enters an order for the control plane (force liquidation) under the
 * first session of `account` on the segment, whose client gets the
 * reports; the usual checks apply, a top-up is not waited for. Flushes.
 * Returns 0, or -1 when the account has no session here. */
int gwAdminOrder(gwGateway *gw, uint32_t account, const xoeNewOrder *o, uint64_t nowNs);

/* The gateway's crRisk (gwOptions.risk), NULL when it has none. */
crRisk *gwRisk(const gwGateway *gw);

/* Logs every session out with reason SHUTDOWN and flushes. */
void gwShutdown(gwGateway *gw, uint64_t nowNs);

/* The segment's matcher, for read-only queries (depth, orders, stats). */
const mtEngine *gwEngine(const gwGateway *gw);

/* Copies the counters. */
void gwGetStats(const gwGateway *gw, gwStats *out);

/* Copies an instrument's counters. Returns 0, or -1 for an index outside
 * the segment. */
int gwGetInstrumentStats(const gwGateway *gw, uint16_t instrument, gwInstrumentStats *out);

/* Time the matcher took per NewOrder, Cancel and Replace that reached it,
 * in cycles of opt->cycles (its event callbacks, which queue the reports,
 * included), sampled: the 1st such call and then one in
 * opt->matchSampleEvery, so its count is ceil(calls / every). Empty when
 * no cycle counter was given. Owned by the gateway. */
const histLog *gwMatchHistogram(const gwGateway *gw);

/* Sessions by gwSessionState (idle, logged on, disabled). */
void gwSessionCounts(const gwGateway *gw, uint32_t counts[3]);

#endif
