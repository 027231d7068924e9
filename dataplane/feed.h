/* feed.h -- a market segment's ITCH 5.0 / MoldUDP64 feed builder (DESIGN.md §5).
 *
 * The segment's worker hands every matcher event to fdOnEvent as a by-product
 * of matching; the builder turns them into ITCH 5.0 messages (include/xchg/
 * itch.h), numbers them, packs them into MoldUDP64 packets of at most
 * `mtu - 28` bytes and gives each finished packet to the send callback.
 * docs/protocol/feed.md is the normative description of what is sent for
 * what; this header is the API.
 *
 * In short: an order appears on the feed only when it rests (Add Order with
 * its resting remainder, order reference = exchange order id); executions of
 * resting orders are Order Executed (continuous) or Order Executed With Price,
 * non-printable (auction), followed by one Cross Trade for the auction;
 * cancels and expiries are Order Delete; a replace is Order Cancel (smaller
 * quantity, priority kept), Order Replace with a new reference (larger
 * quantity or new price), or Order Delete (a repriced order that filled or
 * was cancelled while matching); trading states are Stock Trading Action,
 * indicative auction results NOII. Nothing is published for REJECTED.
 *
 * Everything is allocated by fdCreate; after it nothing allocates, locks,
 * makes a system call or uses floating point (DESIGN.md §2). One thread (the
 * segment's worker) calls every function of one fdFeed. No DPDK dependency. */
#ifndef XCHG_DATAPLANE_FEED_H
#define XCHG_DATAPLANE_FEED_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "matcher/matcher.h"
#include "xchg/itch.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FD_MTU_DEFAULT       1500
#define FD_MTU_MIN           100                  /* header + the largest message must fit */
#define FD_MTU_MAX           9216                 /* jumbo frames */
#define FD_HEARTBEAT_DEFAULT UINT64_C(1000000000) /* 1 s */
/* Ring bytes per message of history: the largest block (2 + 50), a packet
 * header of its own (20) and alignment (7), rounded; plus 8 bytes of index. */
#define FD_HISTORY_SLOT 80
/* Order references of replaced orders and match numbers of crosses are taken
 * from this namespace: (segment id << 56) | FD_DERIVED_BIT | n, n = 1, 2, ...
 * Exchange order ids and trade ids ((segment id << 56) | seq) never set it. */
#define FD_DERIVED_BIT (UINT64_C(1) << 55)

/* Called with each finished packet (MoldUDP64 header + blocks); `pkt` is
 * valid only during the call. */
typedef void fdSendFn(void *ctx, const uint8_t *pkt, uint16_t len);

typedef struct {
    const cfgConfig *cfg; /* instruments and segments; read during fdCreate only */
    uint16_t segment;     /* index into cfg->segments */
    /* MoldUDP64 session: 1..10 letters or digits (padded with spaces on the
     * wire); "" = fdSessionName(tradingDay, segment id). */
    char session[MOLD_SESSION_LEN + 1];
    uint32_t tradingDay;    /* YYYYMMDD, for the default session name */
    uint16_t mtu;           /* IPv4 MTU of the feed path; 0 = FD_MTU_DEFAULT */
    uint64_t heartbeatNs;   /* idle time before fdTick sends a heartbeat; 0 = 1 s */
    uint32_t historyDepth;  /* messages kept for retransmission: 0 or a power of two */
    uint32_t orderCapacity; /* resting orders tracked; 0 = the segment's order_capacity */
    fdSendFn *send;
    void *sendCtx;
    const mtAllocator *allocator; /* NULL: mtDefaultAllocator() */
} fdOptions;

typedef struct {
    uint64_t messages;     /* ITCH messages sequenced */
    uint64_t byType[26];   /* messages by type letter: byType[type - 'A'] */
    uint64_t packets;      /* packets with messages sent */
    uint64_t heartbeats;   /* heartbeat packets sent */
    uint64_t endOfSession; /* end-of-session packets sent */
    uint64_t bytes;        /* UDP payload bytes of every packet sent */
    /* Events the builder could not map; all stay 0 with a matcher that
     * follows docs/matcher.md and a feed created before the first order:
     * unknownOrder: execution, cancel or replace of an order the feed never
     *   published (an execution is then printed as a Trade message);
     * unexpected: an event out of the documented order, for an undefined
     *   instrument, or after fdEndSession;
     * priceClipped: a price outside 0..429496.7295 (sent clipped). */
    uint64_t unknownOrder, unexpected, priceClipped;
    uint64_t snapshots;          /* fdSnapshot calls that wrote a snapshot */
    uint64_t snapshotMismatches; /* engine orders a snapshot could not describe (0) */
    uint32_t ordersOpen;         /* orders on the book the feed describes */
    uint64_t nextSequence;       /* sequence number of the next message */
} fdStats;

typedef struct fdFeed fdFeed;

/* Writes the default session name: the trading day as 8 digits and the
 * segment id as 2 hex digits ("2025010600"), NUL-terminated. Returns 0, or -1
 * when tradingDay has more than 8 digits (out untouched). */
int fdSessionName(char out[MOLD_SESSION_LEN + 1], uint32_t tradingDay, uint8_t segmentId);

/* Creates the feed builder of one segment. Returns NULL for a bad option
 * (no cfg or send callback, segment out of range, bad session name, MTU
 * outside FD_MTU_MIN..FD_MTU_MAX, history depth not a power of two, an
 * instrument whose band does not fit ITCH prices) or when memory cannot be
 * had. Nothing is sent until the first message. */
fdFeed *fdCreate(const fdOptions *opt);

/* Frees everything fdCreate allocated. NULL is a no-op. */
void fdDestroy(fdFeed *fd);

/* Publishes what a matcher event means for the book (docs/protocol/feed.md
 * §5). `ns` is the time of the event in nanoseconds since midnight; it
 * stamps every message the event produces. Call it for every event of the
 * segment's engine, in order. */
void fdOnEvent(fdFeed *fd, const mtEvent *ev, uint64_t ns);

/* The gateway's event tap (gwEventTapFn, ctx = the fdFeed) straight into
 * the builder: fdOnEvent with the time nowNs - the midnight fdSetMidnight
 * set (0 before it), and System Event 'Q' (Start of Market Hours) before
 * the first event that puts an instrument into continuous trading, once,
 * unless the session ended. One call per event, no wrapper: the feed's
 * share of the worker's per-order cost (docs/protocol/feed.md §9). */
void fdTap(void *fd, const mtEvent *ev, uint64_t nowNs);

/* Wall-clock nanoseconds (fdTap's clock) of the midnight ITCH time counts
 * from. */
void fdSetMidnight(fdFeed *fd, uint64_t midnightNs);

/* 1 once fdTap sent System Event 'Q', else 0. */
int fdMarketOpen(const fdFeed *fd);

/* System Event message ('O', 'S', 'Q', 'M', 'E', 'C': ITCH_EVENT_*).
 * Returns 0, or -1 for another code or after fdEndSession. */
int fdSystemEvent(fdFeed *fd, uint8_t code, uint64_t ns);

/* Stock Directory for every instrument of the segment, then a Stock
 * Trading Action with each one's current state. Returns 0, or -1 after
 * fdEndSession. */
int fdDirectory(fdFeed *fd, uint64_t ns);

/* Sends the packet being filled, if it holds messages. The worker calls it
 * after each burst; a packet is also sent by itself when the next message
 * does not fit. */
void fdFlush(fdFeed *fd);

/* Timer: flushes, and sends a heartbeat (or, after fdEndSession, the
 * end-of-session packet again) when nothing was sent for heartbeatNs.
 * `nowNs` is any monotonic clock in nanoseconds. */
void fdTick(fdFeed *fd, uint64_t nowNs);

/* Flushes, then sends a heartbeat packet now. */
void fdHeartbeat(fdFeed *fd);

/* Defines an instrument added at run time (instrument.add) as the next
 * book of the segment (ci->book must equal the books defined so far and be
 * below the segment's instrument_capacity): it gets its Stock Directory (R)
 * and Stock Trading Action (H, the book's CLOSED state: Halted) now, or with
 * the start's directory if that was not sent yet. No allocation. Returns 0,
 * or -1 (nothing changed) for a wrong book, a full table, prices ITCH
 * cannot carry or an ended session. */
int fdAddInstrument(fdFeed *fd, const cfgInstrument *ci, uint64_t ns);

/* fdAddInstrument as a gateway instrument tap (gwOptions.insTap, ctx: the feed). */
void fdInstrumentTap(void *fd, const cfgInstrument *ci, uint64_t nowNs);

/* Ends the session: System Event 'C' (End of Messages) unless it was the
 * last system event sent, flush, and the end-of-session packet. Afterwards
 * events are ignored (counted as unexpected) and fdTick repeats the
 * end-of-session packet instead of heartbeats. */
void fdEndSession(fdFeed *fd, uint64_t ns);

/* Retransmission history (historyDepth > 0). A message is available from the
 * moment its packet was sent until historyDepth newer messages replaced it.
 * fdHistoryRange gives [*first, *next): the available sequence numbers
 * (first == next when none). */
void fdHistoryRange(const fdFeed *fd, uint64_t *first, uint64_t *next);

/* Copies message `seq` into out. Returns its length, or -1 when it is not
 * available or cap is too small. */
int fdHistoryGet(const fdFeed *fd, uint64_t seq, uint8_t *out, size_t cap);

/* Builds the MoldUDP64 packet answering a retransmission request: header
 * (this session, sequence `seq`) and the available messages from seq on, at
 * most `count`, as many as fit in min(cap, mtu - 28) bytes. Returns the
 * packet length, or 0 when seq is not available or count is 0. */
size_t fdRetransmit(const fdFeed *fd, uint64_t seq, uint16_t count, uint8_t *out, size_t cap);

/* Writes a snapshot of the segment's books (docs/protocol/feed.md §2.5):
 * MoldUDP64 packets of this session numbered by the snapshot's own message
 * numbers from 1, holding R and H for every instrument, an Add Order for
 * every resting order of each instrument (bids then asks, each in priority
 * order, with the references the incremental feed uses) and last the End
 * of Snapshot 'G' carrying the incremental sequence number the image
 * corresponds to: every message before it is reflected, none from it on.
 * Flushes the incremental packet first. Each packet goes to `send` (not the
 * feed's callback). Call between matcher calls, with the segment's engine.
 * Returns the number of messages written, or -1 for bad arguments, in the
 * middle of a matcher call, or when an engine order did not match the
 * published one (then counted in snapshotMismatches; the packets were sent
 * without it). Takes time linear in the resting orders. */
int64_t fdSnapshot(fdFeed *fd, const mtEngine *e, uint64_t ns, fdSendFn *send, void *ctx);

/* The session name as sent (10 bytes, space padded, NUL-terminated). */
const char *fdSession(const fdFeed *fd);

void fdGetStats(const fdFeed *fd, fdStats *out);

#ifdef __cplusplus
}
#endif
#endif
