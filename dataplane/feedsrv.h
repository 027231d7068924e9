/* feedsrv.h -- a market segment's feed endpoints: incremental multicast, retransmission, snapshot.
 *
 * The segment's worker owns one fsServer. It wraps the ITCH builder
 * (dataplane/feed.h): matcher events come in through fsOnEvent (the
 * gateway's event tap), finished packets go out to the segment's multicast
 * group through the send callback. MoldUDP64 request packets that clients
 * send unicast to the segment's retransmission port come in through
 * fsOnRequest and are answered from the builder's in-memory history, or,
 * for a request of sequence number 0, with a snapshot of every book
 * (docs/protocol/feed.md §2.4, §2.5), written at once and sent a few
 * packets per loop iteration by fsPump. Requests are capped and rate-limited
 * per requester so a client cannot make the worker spend more than a
 * bounded share of its time answering.
 *
 * No DPDK dependency (the worker turns the callback's datagrams into
 * frames), so it is unit-tested with plain buffers. Everything is allocated
 * by fsCreate; afterwards nothing allocates, locks, makes a system call or
 * uses floating point. One thread calls every function of one fsServer. */
#ifndef XCHG_DATAPLANE_FEEDSRV_H
#define XCHG_DATAPLANE_FEEDSRV_H

#include <stdint.h>

#include "config/config.h"
#include "dataplane/feed.h"
#include "matcher/matcher.h"
#include "storage/journal.h"

#define FS_DAY_NS UINT64_C(86400000000000)
/* Retransmission: packets answering one request at most. */
#define FS_MAX_PACKETS 8
/* Per requester (IPv4 address): requests of any kind at most FS_REQ_RATE
 * per second with bursts of FS_REQ_BURST; snapshots at most one per
 * FS_SNAPSHOT_INTERVAL_NS with bursts of FS_SNAPSHOT_BURST. */
#define FS_REQ_RATE             1000
#define FS_REQ_BURST            32
#define FS_SNAPSHOT_INTERVAL_NS UINT64_C(100000000) /* 100 ms */
#define FS_SNAPSHOT_BURST       2
#define FS_REQUESTERS           256 /* rate-limit slots, by hashed address */
/* A snapshot is written at once (consistent with one point of the stream)
 * into a buffer of this size and sent FS_PUMP_PACKETS per fsPump call (the
 * worker calls it from its millisecond timer: 32,000 packets a second), so
 * a burst of a thousand packets does not overflow the queues between the
 * port and the receiver (a veth's backlog holds 1,000). One snapshot at a
 * time; a larger one is refused. */
#define FS_SNAPSHOT_BYTES (8u << 20)
#define FS_PUMP_PACKETS   32

/* Sends one UDP payload: to the segment's group and feed port (incremental
 * packets) or to a requester's address and port (answers). `pkt` is valid
 * only during the call. Addresses and ports in host byte order. */
typedef void fsSendFn(void *ctx, uint32_t dstIp, uint16_t dstPort, const uint8_t *pkt,
                      uint16_t len);

typedef struct {
    const cfgConfig *cfg; /* read during fsCreate only */
    uint16_t segment;     /* index into cfg->segments */
    uint32_t tradingDay;  /* YYYYMMDD: the session name (feed.md §2.1) */
    /* Wall-clock nanoseconds (the clock of the times passed in) of the
     * midnight ITCH timestamps count from. */
    uint64_t midnightNs;
    uint16_t mtu; /* 0 = FD_MTU_DEFAULT */
    fsSendFn *send;
    void *sendCtx;
    const mtAllocator *allocator; /* NULL: mtDefaultAllocator() */
} fsOptions;

/* What the segment's feed archive (dataplane/feedarch.h, answered off the
 * worker by dataplane/feedarchd.c) did with the requests forwarded to it.
 * Written by the archive's thread with relaxed atomic stores; fsGetStats
 * reads them the same way. */
typedef struct {
    uint64_t answered;   /* answered from the journal */
    uint64_t gone;       /* older than the archive's first packet or in a hole of it */
    uint64_t notDurable; /* the packets were not durable within FA_WAIT_NS (not answered) */
    uint64_t errors;     /* a read failed or a record was damaged (not answered) */
    uint64_t dropped;    /* answer packets lost for want of an mbuf or ring room */
    uint64_t packets, messages;
    uint64_t first, next; /* the feed sequence numbers it holds: [first, next) */
} fsArchiveStats;

/* Every request counted in `requests` is counted in exactly one of the
 * other request counters (archiveForwarded's are then counted again in
 * `archive` once the archive's thread has dealt with them). */
typedef struct {
    uint64_t requests;
    uint64_t malformed;      /* not a 20-byte MoldUDP64 request */
    uint64_t wrongSession;   /* another session name */
    uint64_t rateLimited;    /* over the requester's rate (not answered) */
    uint64_t notYetSent;     /* first sequence number not sent yet (not answered) */
    uint64_t gone;           /* first sequence number older than the history (not answered) */
    uint64_t answered;       /* retransmission requests answered */
    uint64_t snapshots;      /* snapshot requests answered */
    uint64_t snapshotBusy;   /* snapshot requests while one was being sent (not answered) */
    uint64_t snapshotFailed; /* snapshots not sent: larger than FS_SNAPSHOT_BYTES, or
                                engine and feed disagreed (never with a correct matcher) */
    uint64_t retransPackets, retransMessages;
    uint64_t snapshotPackets, snapshotMessages;
    uint64_t archiveForwarded; /* older than the history: handed to the archive's thread */
    uint64_t archiveBusy;      /* ... but its request ring was full (not answered) */
    uint64_t archiveLost;      /* packets the archive journal had no room for (not archived) */
    fsArchiveStats archive;
} fsStats;

typedef struct fsServer fsServer;

/* Creates the segment's feed: the builder with the segment's history depth
 * and heartbeat interval from the config. Returns NULL for bad options or
 * when memory cannot be had. Sends nothing before fsStart. */
fsServer *fsCreate(const fsOptions *opt);

/* Frees it. NULL is a no-op. */
void fsDestroy(fsServer *fs);

/* Start of the day (feed.md §6): System Events 'O', the directory (R and H
 * for every instrument), 'S'. Call once, before the first order. */
void fsStart(fsServer *fs, uint64_t nowNs);

/* The gateway's event tap: publishes one matcher event. Sends System
 * Event 'Q' before the first instrument enters continuous trading. The
 * worker gives the gateway fdTap with fsFeed(fs) instead (the same, one
 * call less per event). */
void fsOnEvent(void *fs, const mtEvent *ev, uint64_t nowNs);

/* Sends the packet being filled. Call after every burst. */
void fsFlush(fsServer *fs);

/* Timer: flush, heartbeat when idle, midnight roll-over of timestamps.
 * Call every millisecond or so. */
void fsTick(fsServer *fs, uint64_t nowNs);

/* End of the day: 'M', 'E', 'C' and the end-of-session packet. Later
 * events are ignored; fsTick repeats the end-of-session packet. */
void fsClose(fsServer *fs, uint64_t nowNs);

/* One UDP payload received on the retransmission port from srcIp:srcPort:
 * answered (retransmission or snapshot through the send callback to the
 * source), or dropped and counted. `engine` is the segment's matcher, for
 * snapshots. Never fails. */
void fsOnRequest(fsServer *fs, uint32_t srcIp, uint16_t srcPort, const uint8_t *data, uint16_t len,
                 const mtEngine *engine, uint64_t nowNs);

/* Sends up to FS_PUMP_PACKETS packets of the snapshot being sent, if any.
 * Returns how many remain. The worker calls it every millisecond. */
uint32_t fsPump(fsServer *fs);

/* Hands a request for sequence numbers older than the history to the
 * archive's thread. Returns 0 if queued, -1 if its ring is full. */
typedef int fsForwardFn(void *ctx, uint32_t ip, uint16_t port, uint64_t seq, uint16_t count);

/* Attaches the segment's feed archive (before the worker runs): every
 * packet with messages sent from then on is appended to journal j
 * (producer side: a copy into its ring, published at once); requests for
 * sequence numbers older than the history go to fwd instead of being
 * counted gone; st (may be NULL) is the archive thread's counters, copied
 * into fsGetStats. */
void fsSetArchive(fsServer *fs, jnJournal *j, fsForwardFn *fwd, void *ctx,
                  const fsArchiveStats *st);

/* The builder, for its statistics and tests. */
fdFeed *fsFeed(const fsServer *fs);

void fsGetStats(const fsServer *fs, fsStats *out);

#endif
