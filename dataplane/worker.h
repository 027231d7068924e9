/* worker.h -- a market segment's worker lcore: port polling around the segment's gateway.
 *
 * The worker owns one RX and one TX queue of the port, the segment's
 * gateway (and through it the matcher), a small ARP cache and its counters.
 * The control lcore talks to it only through an SPSC ring of request
 * pointers: it fills a wkRequest, enqueues it and waits for `done`; the
 * worker applies it between bursts and writes the answer into the same
 * struct (DESIGN.md §2: single writer, no locks). */
#ifndef XCHG_DATAPLANE_WORKER_H
#define XCHG_DATAPLANE_WORKER_H

#include <stdint.h>

#include "dataplane/crlink.h"
#include "dataplane/feedsrv.h"
#include "dataplane/gateway.h"
#include "dataplane/histogram.h"
#include "dataplane/net.h"

#define WK_MAX_DEPTH    64  /* levels per side a book request returns */
#define WK_MAX_SESSIONS 256 /* sessions a list request returns */

typedef enum {
    WK_REQ_SESSION_ADD = 1,
    WK_REQ_SESSION_KICK,
    WK_REQ_SESSION_LIST,
    WK_REQ_BOOK,
    WK_REQ_SET_STATE,
    WK_REQ_STATS,
    WK_REQ_SHUTDOWN,
    WK_REQ_SET_THROTTLE,
    WK_REQ_STATE_HASH,    /* dataplane/wal.h: the segment's state hash and journal position */
    WK_REQ_INSTRUMENT_ADD /* instrument.add: define the next book (memory given) */
} wkRequestType;

/* Counters only the worker writes. */
typedef struct {
    uint64_t rxPackets, txPackets, txDropped, mbufFailed, noArp;
    uint64_t kinds[NET_KIND_COUNT]; /* every received frame by netKind */
    uint64_t udpOtherPort;          /* UDP for us but not the order-entry port */
    uint64_t busyCycles, idleCycles;
    uint64_t requests;
    uint64_t mdTrades, mdDropped; /* fills pushed to the summary ring / dropped: ring full */
    uint64_t mdTx;                /* summary channel frames sent for the control lcore */
    uint64_t journalStalls;       /* times input waited for room in the journal */
    uint64_t controlStalls;       /* times input waited for the control core to take events */
} wkCounters;

typedef struct {
    wkCounters counters;
    gwStats gateway;
    mtStats matcher;
    histLog inBoxNs;    /* rx burst to replies handed to the PMD, per order datagram answered */
    histLog txCallNs;   /* the PMD's tx burst call for those replies, per burst */
    histLog feedReqNs;  /* retransmission request to its answers queued for tx (from memory) */
    histLog feedSnapNs; /* snapshot request to its packets queued for tx */
    fdStats feed;
    fsStats feedServer;
    char feedSession[MOLD_SESSION_LEN + 1];
    uint64_t tscHz;
} wkStatsReply;

/* Published snapshot of an instrument (index = its book index). */
typedef struct {
    gwInstrumentStats counts;
    int32_t state;                       /* mtState, -1 when undefined */
    int64_t bidTicks, askTicks;          /* best prices; 0 when that side is empty */
    uint64_t bidLots, askLots;           /* quantity at the best price */
    uint32_t bidLevels, askLevels;       /* non-empty levels, counted up to WK_SNAP_LEVELS */
    uint64_t bidDepthLots, askDepthLots; /* quantity within those levels */
} wkInstrumentSnap;

#define WK_SNAP_LEVELS 10 /* depth the snapshot sums, per side */

/* What a worker publishes for the control lcore (metrics, stats, top):
 * every WK_PUBLISH_MS and when it serves WK_REQ_STATS. Counters are exact at
 * each publication; the book summaries (best prices, levels, depth) of a
 * segment with more than WK_SNAP_BOOKS instruments are refreshed
 * WK_SNAP_BOOKS instruments per periodic publication, all of them on
 * WK_REQ_STATS. Read with
 * wkSnapshotRead, which never makes the worker wait (docs/operations/metrics.md). */
typedef struct {
    uint64_t seq;         /* publications so far */
    uint64_t publishedNs; /* wall clock of the publication */
    uint64_t tscHz;
    wkCounters counters;
    gwStats gateway;
    mtStats matcher;
    uint32_t sessions[3]; /* by gwSessionState */
    uint32_t requestRing; /* requests waiting in the worker's mailbox */
    uint32_t txPending;   /* frames queued for the next tx burst */
    histLog inBoxNs;      /* rx burst to tx hand-over, per order datagram */
    histLog txCallNs;     /* the tx burst call, per burst */
    histLog matchCycles;  /* matcher time per request, in TSC cycles */
    fdStats feed;         /* the segment's ITCH feed (dataplane/feed.h) */
    fsStats feedServer;   /* its retransmission and snapshot server */
    histLog feedReqNs;    /* worker time per retransmission request */
    histLog feedSnapNs;   /* worker time per snapshot request */
    uint32_t instrumentCount;
    wkInstrumentSnap ins[]; /* instrumentCount entries */
} wkSnapshot;

#define WK_PUBLISH_MS 100
#define WK_SNAP_BOOKS 64 /* book summaries refreshed per periodic publication */

typedef struct {
    int type; /* wkRequestType */
    union {
        struct {
            uint32_t sessionId, account, allowedIp;
            uint8_t token[XOE_TOKEN_SIZE];
        } sessionAdd;
        uint32_t sessionId; /* kick */
        uint32_t throttle;  /* messages per second per session */
        struct {
            uint16_t instrument;
            uint32_t depth;
        } book;
        struct {
            uint16_t instrument;
            uint8_t state;
        } setState;
        struct {
            const cfgInstrument *ins; /* checked by cfgInstrumentCheck; ins->book is next */
            mtBookMem *mem;           /* from mtBookMemAlloc: taken when rc is 0 */
            uint16_t cfgIndex;        /* the index the control core gives it in cfg->instruments */
        } insAdd;
    } arg;
    /* answer, written by the worker before it sets done */
    int rc;
    union {
        struct {
            uint32_t nbids, nasks;
            mtDepthLevel bids[WK_MAX_DEPTH], asks[WK_MAX_DEPTH];
            int state;
            uint32_t resting;
        } book;
        struct {
            uint32_t n;
            gwSessionInfo s[WK_MAX_SESSIONS];
        } sessions;
        wkStatsReply stats;
        struct {
            uint64_t hash, lastSeq, durableSeq;
            int storageErrno; /* 0 while the journal works */
            int spaceErrno;   /* 0, or why the next journal segment cannot be made */
            uint32_t held;    /* frames waiting for their inputs to be durable */
            uint64_t commits, lastCommitNs, records;
        } state;
    } out;
    uint32_t done; /* set last, with release order */
} wkRequest;

typedef struct wkWorker wkWorker;
typedef struct walLog walLog;

typedef struct {
    const cfgConfig *cfg;
    uint16_t segment; /* index into cfg->segments */
    uint16_t portId;
    uint16_t queue;
    uint32_t ip; /* the port's address, host order */
    uint32_t maxSessions, historyDepth, tradingDay;
    unsigned socketId; /* NUMA node for everything the worker allocates */
} wkOptions;

/* Creates a worker: its mbuf pool, request ring and gateway, on the worker
 * lcore's NUMA node. Returns NULL with a message in err on failure. */
wkWorker *wkCreate(const wkOptions *opt, char *err, size_t errlen);

/* The lcore entry point (rte_eal_remote_launch); returns when stopped. */
int wkMain(void *worker);

/* Hands a request to the worker and waits up to timeoutMs for the answer.
 * Called by the control lcore only. Returns 0, or -1 on timeout (the request
 * must then stay allocated until done is set). */
int wkCall(wkWorker *w, wkRequest *req, uint32_t timeoutMs);

/* Asks the worker loop to return (after logging sessions out). */
void wkStop(wkWorker *w);

/* Frees what wkCreate allocated; the lcore must have returned. */
void wkDestroy(wkWorker *w);

/* Journals the worker's inputs and gates its output through wal (see
 * dataplane/wal.h); before wkMain runs. The worker sends through it from
 * then on and owns it until wkDestroy (which does not free it). */
void wkAttachWal(wkWorker *w, walLog *wal);

/* Attaches the segment's feed archive (dataplane/feedarchd.h) before
 * wkMain runs: sent packets are appended to journal j, requests older than
 * the in-memory history go to ring `req` (faRequest elements), and the
 * answer frames that come back on ring `tx` are sent. st: the archive
 * thread's counters, shown in the feed's stats. */
struct rte_ring;
void wkAttachArchive(wkWorker *w, jnJournal *j, struct rte_ring *req, struct rte_ring *tx,
                     const fsArchiveStats *st);

/* Defines an instrument the config has (cfg->instruments[cfgIndex]) but the
 * segment's recovered gateway does not (its instrument.add was journaled by
 * the control core, not by the worker: a crash in between): journals and
 * applies it like WK_REQ_INSTRUMENT_ADD. Before wkMain runs (after the
 * journal is attached). Returns 0 or an MT_ / XOE_ code. */
int wkAddInstrumentOffline(wkWorker *w, uint16_t cfgIndex, uint64_t nowNs);

/* The segment's gateway, for recovery before the lcore runs. */
gwGateway *wkGateway(wkWorker *w);

/* Bytes of this worker's wkSnapshot (its instruments included). */
size_t wkSnapshotSize(const wkWorker *w);

/* Copies the latest published snapshot into out (wkSnapshotSize bytes).
 * Lock-free: retries while the worker is publishing, never blocks it.
 * Returns 0, or -1 when nothing was published yet or the worker kept
 * publishing through 1000 attempts. Any thread may call it. */
int wkSnapshotRead(const wkWorker *w, wkSnapshot *out);

/* The worker's request ring and segment index, for metrics. */
const struct rte_ring *wkRequestRing(const wkWorker *w);

/* The mbuf pool, for ports' RX queue set-up. */
struct rte_mempool *wkPool(const wkWorker *w);

/* Summary market data (dataplane/mdservice.c): the SPSC ring of mdsTrade
 * records the worker fills (consumer: the control lcore), and the SPSC ring
 * of ready frames the control lcore hands to the worker's TX queue. */
struct rte_ring *wkTradeRing(const wkWorker *w);
struct rte_ring *wkSummaryTxRing(const wkWorker *w);

/* The worker's credit link (rings to and from the control core). */
crLink *wkCredit(const wkWorker *w);

#endif
