/* worker.c -- the worker lcore loop: rx burst, L2/L3, gateway, batched tx (l3fwd style). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>
#include <rte_ring.h>

#include "control/log.h"
#include "dataplane/feedarchd.h"
#include "dataplane/feedsrv.h"
#include "control/mdsummary.h"
#include "dataplane/wal.h"
#include "dataplane/worker.h"

#define RX_BURST    32
#define TX_BURST    32
#define ARP_SLOTS   256 /* direct-mapped by address */
#define POOL_MBUFS  8191
#define POOL_CACHE  256
#define RING_SIZE   64
#define TIMER_PER_S 1000  /* gateway timer calls per second */
#define MD_RING     16384 /* fills waiting for the control lcore */
#define MD_TX_RING  256   /* summary frames waiting for the TX queue */
/* journal room a burst may need: RX_BURST datagrams of the largest size */
#define WAL_BURST_BYTES (RX_BURST * (24 + sizeof(walDatagramRec) + XOE_FRAME_MAX + 8))
/* a crlPoll burst of control commands, journaled before each is applied */
#define WAL_CREDIT_BYTES (CRL_BURST * (24 + sizeof(walCreditRec) + 8))

typedef struct {
    uint32_t ip;
    uint8_t mac[NET_MAC_LEN];
} wkArpEntry;

struct wkWorker {
    wkOptions opt;
    struct rte_mempool *pool;
    struct rte_ring *requests;
    gwGateway *gw;
    crLink *credit;                         /* credit lines and their rings to the control core */
    fsServer *feed;                         /* the segment's market data (dataplane/feedsrv.h) */
    struct rte_ring *trades, *mdTx;         /* summary market data (wkTradeRing) */
    struct rte_ring *faReq, *faTx;          /* feed archive: requests out, answers in */
    uint16_t insIndex[CFG_MAX_INSTRUMENTS]; /* book -> index in cfg->instruments */
    mtAllocator alloc;
    uint8_t mac[NET_MAC_LEN];
    uint16_t orderPort, retransPort;
    netUdpFlow feedFlow;  /* headers of the incremental feed's packets (to the group) */
    netFlowCache flows;   /* prepared headers of the answers to each peer (net.h) */
    uint8_t inputBacklog; /* the journal or the control core stalled input: no timeouts until
                           * rx is drained */
    uint16_t ntx;
    struct rte_mbuf *tx[TX_BURST];
    wkArpEntry arp[ARP_SLOTS];
    wkCounters c;
    histLog inBox;    /* rx burst returned .. replies handed to the PMD, per order datagram */
    histLog txCall;   /* rte_eth_tx_burst of those replies, per burst */
    wkSnapshot *snap; /* published copy, guarded by snapSeq */
    size_t snapBytes;
    uint32_t snapSeq;    /* seqlock: odd while the worker writes snap */
    uint32_t snapCursor; /* next instrument whose book summary is refreshed */
    uint64_t publishes;
    histLog feedReq;  /* feed requests other than snapshots: answered from memory, queued for tx */
    histLog feedSnap; /* snapshot requests: the same */
    walLog *wal;      /* the segment's input journal and output gate, NULL: none */
    uint64_t tscHz, tsc0, wall0, nsMult; /* wall ns = wall0 + (tsc - tsc0) * nsMult >> 32 */
    uint32_t stop;
};

/* ---- time and memory ------------------------------------------------------- */

static inline uint64_t wkCyclesToNs(const wkWorker *w, uint64_t cycles)
{
    return (uint64_t)(((unsigned __int128)cycles * w->nsMult) >> 32);
}

static inline uint64_t wkNowNs(const wkWorker *w, uint64_t tsc)
{
    return w->wall0 + (uint64_t)(((unsigned __int128)(tsc - w->tsc0) * w->nsMult) >> 32);
}

static uint64_t wkCycles(void)
{
    return rte_rdtsc();
}

static void *wkAlloc(void *ctx, size_t bytes)
{
    const wkWorker *w = ctx;
    return rte_zmalloc_socket("xchg", bytes, 64, (int)w->opt.socketId);
}

static void wkFree(void *ctx, void *p, size_t bytes)
{
    (void)ctx;
    (void)bytes;
    rte_free(p);
}

/* The TSC calibrated to the wall clock once (DESIGN.md §2). */
static void wkClockInit(wkWorker *w)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    w->tscHz = rte_get_tsc_hz();
    w->tsc0 = rte_rdtsc();
    w->wall0 = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
    w->nsMult = (uint64_t)(((unsigned __int128)1000000000ULL << 32) / w->tscHz);
}

/* Wall-clock ns of the last local midnight before wallNs: ITCH timestamps
 * count from it (docs/protocol/feed.md §3). */
static uint64_t wkMidnight(uint64_t wallNs)
{
    time_t t = (time_t)(wallNs / 1000000000u);
    struct tm tm;
    localtime_r(&t, &tm);
    uint64_t sinceMidnight = (uint64_t)(tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec);
    return (wallNs / 1000000000u - sinceMidnight) * 1000000000u;
}

/* ---- transmit ---------------------------------------------------------------- */

static void wkTxFlush(wkWorker *w)
{
    if (!w->ntx)
        return;
    uint16_t sent = rte_eth_tx_burst(w->opt.portId, w->opt.queue, w->tx, w->ntx);
    w->c.txPackets += sent;
    if (unlikely(sent < w->ntx)) {
        w->c.txDropped += (uint64_t)(w->ntx - sent);
        rte_pktmbuf_free_bulk(&w->tx[sent], (unsigned)(w->ntx - sent));
    }
    w->ntx = 0;
}

static inline void wkTxQueue(wkWorker *w, struct rte_mbuf *m)
{
    w->tx[w->ntx++] = m;
    if (w->ntx == TX_BURST)
        wkTxFlush(w);
}

static inline wkArpEntry *wkArpSlot(wkWorker *w, uint32_t ip)
{
    return &w->arp[(ip * 2654435761u) >> 24 & (ARP_SLOTS - 1)];
}

static inline void wkArpLearn(wkWorker *w, uint32_t ip, const uint8_t mac[NET_MAC_LEN])
{
    wkArpEntry *e = wkArpSlot(w, ip);
    e->ip = ip;
    memcpy(e->mac, mac, NET_MAC_LEN);
}

/* One UDP datagram from our address and srcPort, in an mbuf queued for tx;
 * gated: through the durability gate (resend: it is an XOE retransmission). */
static void wkUdpOut(wkWorker *w, const uint8_t dstMac[NET_MAC_LEN], gwAddr to, uint16_t srcPort,
                     const uint8_t *data, uint16_t len, int gated, int resend)
{
    struct rte_mbuf *m = rte_pktmbuf_alloc(w->pool);
    if (unlikely(!m)) {
        w->c.mbufFailed++;
        return;
    }
    uint8_t *f = (uint8_t *)rte_pktmbuf_append(m, (uint16_t)(NET_UDP_HLEN + len));
    if (unlikely(!f)) {
        rte_pktmbuf_free(m);
        w->c.mbufFailed++;
        return;
    }
    netFlowCacheFrame(&w->flows, f, dstMac, to.ip, srcPort, to.port, data, len);
    if (gated && w->wal) /* out once its inputs are durable (sync) */
        walHold(w->wal, m, resend);
    else
        wkTxQueue(w, m);
}

static void wkGateRelease(void *ctx, void *frame)
{
    wkTxQueue(ctx, frame);
}

static void wkGateDrop(void *ctx, void *frame)
{
    (void)ctx;
    rte_pktmbuf_free(frame);
}

/* Gateway output: one XOE frame to a client, wrapped in Ethernet/IPv4/UDP. */
static void wkSend(void *ctx, gwAddr to, const uint8_t *data, uint16_t len)
{
    wkWorker *w = ctx;
    if (unlikely(w->wal && walMuted(w->wal)))
        return; /* replaying the journal: the frames went out before */
    const wkArpEntry *e = wkArpSlot(w, to.ip);
    if (unlikely(e->ip != to.ip)) {
        w->c.noArp++;
        return;
    }
    wkUdpOut(w, e->mac, to, w->orderPort, data, len, 1,
             data[offsetof(xoeFrameHeader, flags)] & XOE_FLAG_RETRANSMIT);
}

/* Feed output: a MoldUDP64 packet to the segment's multicast group (MAC
 * 01:00:5e + the group's low 23 bits, RFC 1112) or, answering a request,
 * to the requester. The source port is the retransmission port, so a
 * receiver can send its requests back to where the packets come from. */
static void wkFeedSend(void *ctx, uint32_t ip, uint16_t port, const uint8_t *data, uint16_t len)
{
    wkWorker *w = ctx;
    if (unlikely(w->wal && walMuted(w->wal)))
        return; /* replaying the journal: the feed's state is rebuilt, nothing sent */
    if (likely((ip >> 28) == 0xE)) {
        /* the segment's group (the only multicast the feed sends to): the
         * prepared headers, payload copied and summed in one pass; gated
         * like every other output (docs/storage/recovery.md) */
        struct rte_mbuf *m = rte_pktmbuf_alloc(w->pool);
        uint8_t *f = m ? (uint8_t *)rte_pktmbuf_append(m, (uint16_t)(NET_UDP_HLEN + len)) : NULL;
        if (unlikely(!f)) {
            rte_pktmbuf_free(m);
            w->c.mbufFailed++;
            return;
        }
        netUdpFlowFrame(f, &w->feedFlow, data, len);
        if (w->wal)
            walHold(w->wal, m, 0);
        else
            wkTxQueue(w, m);
        return;
    }
    const wkArpEntry *e = wkArpSlot(w, ip);
    if (unlikely(e->ip != ip)) {
        w->c.noArp++;
        return;
    }
    wkUdpOut(w, e->mac, (gwAddr){ip, port}, w->retransPort, data, len, 1, 0);
}

/* Gateway fill hook: one compact record to the control lcore; never blocks,
 * a full ring drops and counts (docs/market-data.md). */
static void wkOnTrade(void *ctx, uint16_t instrument, int64_t price, uint32_t qty,
                      uint8_t aggressor, const uint8_t offset[2], uint64_t nowNs)
{
    wkWorker *w = ctx;
    if (unlikely(w->wal && walMuted(w->wal)))
        return; /* replaying the journal: these fills were summarised before */
    mdsTrade t = {.timeNs = nowNs,
                  .price = price,
                  .qty = qty,
                  .instrument = w->insIndex[instrument],
                  .aggressor = aggressor,
                  .offset = {offset[0], offset[1]}};
    if (unlikely(rte_ring_sp_enqueue_elem(w->trades, &t, sizeof t) != 0))
        w->c.mdDropped++;
    else
        w->c.mdTrades++;
}

/* Summary channel frames built by the control lcore, and the feed
 * archive's answers, go out on our queue. */
static void wkSummaryTx(wkWorker *w)
{
    struct rte_mbuf *m[TX_BURST];
    unsigned n = rte_ring_sc_dequeue_burst(w->mdTx, (void **)m, TX_BURST, NULL);
    for (unsigned i = 0; i < n; i++)
        wkTxQueue(w, m[i]);
    w->c.mdTx += n;
    if (w->faTx) {
        n = rte_ring_sc_dequeue_burst(w->faTx, (void **)m, TX_BURST, NULL);
        for (unsigned i = 0; i < n; i++)
            wkTxQueue(w, m[i]);
    }
}

/* A request older than the feed's memory, to the archive's thread with
 * the addresses it needs to answer on its own (dataplane/feedarchd.h). */
static int wkArchiveForward(void *ctx, uint32_t ip, uint16_t port, uint64_t seq, uint16_t count)
{
    wkWorker *w = ctx;
    const wkArpEntry *e = wkArpSlot(w, ip);
    if (unlikely(e->ip != ip)) {
        w->c.noArp++;
        return -1;
    }
    faRequest r = {.seq = seq,
                   .dstIp = ip,
                   .srcIp = w->opt.ip,
                   .dstPort = port,
                   .srcPort = w->retransPort,
                   .count = count};
    memcpy(r.dstMac, e->mac, NET_MAC_LEN);
    memcpy(r.srcMac, w->mac, NET_MAC_LEN);
    return rte_ring_sp_enqueue_elem(w->faReq, &r, sizeof r) == 0 ? 0 : -1;
}

/* ---- receive ------------------------------------------------------------------- */

/* A retransmission or snapshot request, answered at once; the time from
 * the request to its answers queued for tx (all in memory) is recorded. */
static void wkFeedRequest(wkWorker *w, const netFrame *nf, const uint8_t *f, uint64_t nowNs)
{
    fsStats before, after;
    fsGetStats(w->feed, &before);
    uint64_t t0 = rte_rdtsc();
    fsOnRequest(w->feed, nf->srcIp, nf->srcPort, f + nf->payloadOff, nf->payloadLen,
                gwEngine(w->gw), nowNs);
    uint64_t ns = wkCyclesToNs(w, rte_rdtsc() - t0);
    fsGetStats(w->feed, &after);
    if (after.snapshots != before.snapshots)
        histRecord(&w->feedSnap, ns, 1);
    else if (after.answered != before.answered)
        histRecord(&w->feedReq, ns, 1);
}

/* Handles one received frame. Returns WK_ORDER for an order-entry datagram,
 * WK_FEED_REQ for a feed request, else 0. */
#define WK_ORDER    1
#define WK_FEED_REQ 0x10000
static int wkHandle(wkWorker *w, struct rte_mbuf *m, uint64_t nowNs)
{
    uint8_t *f = rte_pktmbuf_mtod(m, uint8_t *);
    uint16_t len = m->nb_segs == 1 ? rte_pktmbuf_data_len(m) : 0;
    netFrame nf;
    netKind k = netClassify(f, len, w->opt.ip, &nf);
    w->c.kinds[k]++;
    if (likely(k == NET_UDP)) {
        int orderEntry = nf.dstPort == w->orderPort;
        int r = orderEntry;
        if (likely(orderEntry)) {
            wkArpLearn(w, nf.srcIp, nf.srcMac);
            const gwAddr from = {nf.srcIp, nf.srcPort};
            const uint8_t *p = f + nf.payloadOff;
            xoeFrame xf; /* parsed once, for the journal and the gateway */
            xoeErrorInfo ei;
            if (unlikely(xoeFrameParse(p, nf.payloadLen, XOE_DIR_TO_XCHG, &xf, &ei) != XOE_OK))
                gwOnDatagram(w->gw, from, p, nf.payloadLen, nowNs); /* counted, not journaled */
            else if (likely(!w->wal || walDatagramParsed(w->wal, from, p, nf.payloadLen, nowNs) ==
                                           WAL_APPLY)) {
                gwOnDatagramParsed(w->gw, from, &xf, nowNs);
                gwFlush(w->gw); /* per datagram, as its replay (walApply) */
            }
        } else if (nf.dstPort == w->retransPort) {
            wkArpLearn(w, nf.srcIp, nf.srcMac);
            wkFeedRequest(w, &nf, f, nowNs);
            r = WK_FEED_REQ;
        } else {
            w->c.udpOtherPort++;
        }
        rte_pktmbuf_free(m);
        return r;
    }
    if (k == NET_ARP_REQUEST || k == NET_ICMP_ECHO) {
        wkArpLearn(w, nf.srcIp, nf.srcMac);
        uint16_t out = k == NET_ARP_REQUEST ? netArpReply(f, w->mac) : netIcmpReply(f);
        m->data_len = m->pkt_len = out;
        wkTxQueue(w, m);
        return 0;
    }
    rte_pktmbuf_free(m);
    return 0;
}

/* ---- control requests ---------------------------------------------------------- */

static void wkServeBook(wkWorker *w, wkRequest *r)
{
    const mtEngine *e = gwEngine(w->gw);
    uint32_t depth = r->arg.book.depth < WK_MAX_DEPTH ? r->arg.book.depth : WK_MAX_DEPTH;
    r->out.book.state = mtEngineState(e, r->arg.book.instrument);
    r->out.book.nbids = mtEngineDepth(e, r->arg.book.instrument, MT_BUY, r->out.book.bids, depth);
    r->out.book.nasks = mtEngineDepth(e, r->arg.book.instrument, MT_SELL, r->out.book.asks, depth);
    r->rc = r->out.book.state < 0 ? MT_ERR_UNKNOWN_INSTRUMENT : 0;
}

/* ---- published snapshot ------------------------------------------------------- */

static void wkSnapInstrument(const wkWorker *w, uint16_t i, wkInstrumentSnap *o)
{
    const mtEngine *e = gwEngine(w->gw);
    mtDepthLevel lv[WK_SNAP_LEVELS];
    o->state = mtEngineState(e, i);
    uint32_t n = o->state < 0 ? 0 : mtEngineDepth(e, i, MT_BUY, lv, WK_SNAP_LEVELS);
    o->bidLevels = n;
    o->bidTicks = n ? lv[0].price : 0;
    o->bidLots = n ? lv[0].qty : 0;
    o->bidDepthLots = 0;
    for (uint32_t k = 0; k < n; k++)
        o->bidDepthLots += lv[k].qty;
    n = o->state < 0 ? 0 : mtEngineDepth(e, i, MT_SELL, lv, WK_SNAP_LEVELS);
    o->askLevels = n;
    o->askTicks = n ? lv[0].price : 0;
    o->askLots = n ? lv[0].qty : 0;
    o->askDepthLots = 0;
    for (uint32_t k = 0; k < n; k++)
        o->askDepthLots += lv[k].qty;
}

/* Seqlock writer: the sequence is odd while the copy is inconsistent.
 * The worker is the only writer, so it never waits. Counters and
 * histograms are copied whole; the book summaries (a depth walk each) of at
 * most `books` instruments, round robin, so a segment with thousands of
 * instruments does not stall its worker for long at once. */
static void wkPublish(wkWorker *w, uint64_t tsc, uint32_t books)
{
    wkSnapshot *s = w->snap;
    __atomic_store_n(&w->snapSeq, w->snapSeq + 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    s->seq = ++w->publishes;
    s->publishedNs = wkNowNs(w, tsc);
    s->tscHz = w->tscHz;
    s->counters = w->c;
    gwGetStats(w->gw, &s->gateway);
    mtEngineGetStats(gwEngine(w->gw), &s->matcher);
    gwSessionCounts(w->gw, s->sessions);
    s->requestRing = rte_ring_count(w->requests);
    s->txPending = w->ntx;
    s->inBoxNs = w->inBox;
    s->txCallNs = w->txCall;
    s->matchCycles = *gwMatchHistogram(w->gw);
    fdGetStats(fsFeed(w->feed), &s->feed);
    fsGetStats(w->feed, &s->feedServer);
    s->feedReqNs = w->feedReq;
    s->feedSnapNs = w->feedSnap;
    const uint32_t n = s->instrumentCount;
    for (uint32_t i = 0; i < n; i++)
        gwGetInstrumentStats(w->gw, (uint16_t)i, &s->ins[i].counts);
    for (uint32_t k = 0; k < books && k < n; k++) {
        wkSnapInstrument(w, (uint16_t)w->snapCursor, &s->ins[w->snapCursor]);
        w->snapCursor = w->snapCursor + 1 < n ? w->snapCursor + 1 : 0;
    }
    __atomic_store_n(&w->snapSeq, w->snapSeq + 1, __ATOMIC_RELEASE);
}

size_t wkSnapshotSize(const wkWorker *w)
{
    return w->snapBytes;
}

int wkSnapshotRead(const wkWorker *w, wkSnapshot *out)
{
    for (int attempt = 0; attempt < 1000; attempt++) {
        uint32_t before = __atomic_load_n(&w->snapSeq, __ATOMIC_ACQUIRE);
        if (before == 0)
            return -1;
        if (before & 1) {
            rte_pause();
            continue;
        }
        memcpy(out, w->snap, w->snapBytes);
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (__atomic_load_n(&w->snapSeq, __ATOMIC_RELAXED) == before)
            return 0;
    }
    return -1;
}

const struct rte_ring *wkRequestRing(const wkWorker *w)
{
    return w->requests;
}

static void wkServeStats(wkWorker *w, wkRequest *r)
{
    wkPublish(w, rte_rdtsc(), UINT32_MAX); /* asked for: every book, exact now */
    r->out.stats.counters = w->c;
    gwGetStats(w->gw, &r->out.stats.gateway);
    mtEngineGetStats(gwEngine(w->gw), &r->out.stats.matcher);
    r->out.stats.inBoxNs = w->inBox;
    r->out.stats.txCallNs = w->txCall;
    r->out.stats.feedReqNs = w->feedReq;
    r->out.stats.feedSnapNs = w->feedSnap;
    fdGetStats(fsFeed(w->feed), &r->out.stats.feed);
    fsGetStats(w->feed, &r->out.stats.feedServer);
    memcpy(r->out.stats.feedSession, fdSession(fsFeed(w->feed)), MOLD_SESSION_LEN + 1);
    r->out.stats.tscHz = w->tscHz;
    r->rc = 0;
}

/* Checks an instrument.add against the gateway (so what is journaled
 * always applies, live and in replay) and journals it. Returns 0 or the
 * code to answer. walInstrumentAddRec is ~200 bytes: on the stack. */
static int wkJournalInstrument(wkWorker *w, const cfgInstrument *ins, const mtBookMem *mem,
                               uint64_t nowNs)
{
    if (ins->book != gwInstrumentCount(w->gw) || ins->book >= gwInstrumentCapacity(w->gw) ||
        ins->tickSize <= 0 || ins->lowerTicks < 1 || ins->upperTicks < ins->lowerTicks ||
        (mem && mem->nLevels != (uint64_t)(ins->upperTicks - ins->lowerTicks + 1)))
        return MT_ERR_INVALID_PARAMS;
    if (!w->wal)
        return 0;
    walInstrumentAddRec rec;
    memset(&rec, 0, sizeof rec);
    rec.nowNs = nowNs;
    rec.ins = *ins;
    return walControl(w->wal, WAL_INSTRUMENT_ADD, &rec, sizeof rec) == WAL_APPLY ? 0
                                                                                 : XOE_CODE_STORAGE;
}

/* Journals a request that changes state before it is applied. Returns 0
 * to apply it, else the code to answer (5002: the journal cannot take it). */
static int wkJournalRequest(wkWorker *w, const wkRequest *r, uint64_t nowNs)
{
    walVerdict v = WAL_APPLY;
    if (!w->wal)
        return 0;
    if (r->type == WK_REQ_SESSION_ADD) {
        walSessionAddRec rec = {.nowNs = nowNs,
                                .sessionId = r->arg.sessionAdd.sessionId,
                                .account = r->arg.sessionAdd.account,
                                .allowedIp = r->arg.sessionAdd.allowedIp};
        memcpy(rec.token, r->arg.sessionAdd.token, XOE_TOKEN_SIZE);
        v = walControl(w->wal, WAL_SESSION_ADD, &rec, sizeof rec);
    } else if (r->type == WK_REQ_SESSION_KICK) {
        const walSessionRec rec = {.nowNs = nowNs, .sessionId = r->arg.sessionId};
        v = walControl(w->wal, WAL_SESSION_KICK, &rec, sizeof rec);
    } else if (r->type == WK_REQ_SET_STATE) {
        const walSetStateRec rec = {.nowNs = nowNs,
                                    .instrument = r->arg.setState.instrument,
                                    .state = r->arg.setState.state};
        v = walControl(w->wal, WAL_SET_STATE, &rec, sizeof rec);
    } else if (r->type == WK_REQ_SET_THROTTLE) {
        const walThrottleRec rec = {.nowNs = nowNs, .msgsPerSec = r->arg.throttle};
        v = walControl(w->wal, WAL_SET_THROTTLE, &rec, sizeof rec);
    } else if (r->type == WK_REQ_INSTRUMENT_ADD) {
        return wkJournalInstrument(w, r->arg.insAdd.ins, r->arg.insAdd.mem, nowNs);
    } else if (r->type == WK_REQ_SHUTDOWN) {
        const walTimeRec rec = {.nowNs = nowNs};
        walControl(w->wal, WAL_SHUTDOWN, &rec, sizeof rec); /* logouts happen anyway */
    }
    return v == WAL_APPLY ? 0 : XOE_CODE_STORAGE;
}

/* crlPoll's journal hook: each control-core command is journaled before
 * it is applied, at its place among the worker's inputs (replay applies it
 * there with the same crlApply). Nonzero: the journal refused it (storage
 * failed), the command is dropped like the orders answered 5002. */
static int wkJournalCredit(void *ctx, const crCmd *c, uint64_t nowNs)
{
    wkWorker *w = ctx;
    walCreditRec rec = {.nowNs = nowNs};
    rec.cmd = *c;
    return walControl(w->wal, walCreditType(c), &rec, sizeof rec) != WAL_APPLY;
}

static void wkServeState(wkWorker *w, wkRequest *r)
{
    r->out.state.hash = walStateHash(w->gw, gwInstrumentCount(w->gw));
    r->out.state.lastSeq = r->out.state.durableSeq = 0;
    r->out.state.storageErrno = r->out.state.spaceErrno = 0;
    r->out.state.held = 0;
    if (w->wal) {
        walPosition(w->wal, &r->out.state.lastSeq, &r->out.state.durableSeq);
        r->out.state.storageErrno = walStatus(w->wal);
        r->out.state.spaceErrno = walSpaceError(w->wal);
        r->out.state.held = walHeld(w->wal);
        jnStats js;
        walJournalStats(w->wal, &js);
        r->out.state.commits = js.commits;
        r->out.state.lastCommitNs = js.lastCommitNs;
        r->out.state.records = js.records;
    }
    r->rc = 0;
}

/* A book defined after wkCreate: its index in the config (fills and
 * summaries name it) and its place in the published snapshot, which was
 * sized for the segment's capacity. */
static void wkInstrumentAdded(wkWorker *w, uint16_t book, uint16_t cfgIndex)
{
    w->insIndex[book] = cfgIndex;
    if (book >= w->snap->instrumentCount)
        w->snap->instrumentCount = book + 1u; /* read by wkSnapshotRead's copy: seqlocked */
}

/* Books the journal's replay defined before the lcore ran. */
static void wkSyncInstruments(wkWorker *w)
{
    for (uint16_t b = (uint16_t)w->snap->instrumentCount; b < gwInstrumentCount(w->gw); b++) {
        const cfgInstrument *ins = cfgFindBook(w->opt.cfg, w->opt.segment, b);
        wkInstrumentAdded(w, b, ins ? (uint16_t)(ins - w->opt.cfg->instruments) : UINT16_MAX);
    }
}

int wkAddInstrumentOffline(wkWorker *w, uint16_t cfgIndex, uint64_t nowNs)
{
    const cfgInstrument *ins = &w->opt.cfg->instruments[cfgIndex];
    int rc = wkJournalInstrument(w, ins, NULL, nowNs);
    if (rc == 0)
        rc = gwAddInstrument(w->gw, ins, NULL, nowNs);
    if (rc == 0)
        wkInstrumentAdded(w, ins->book, cfgIndex);
    return rc;
}

static void wkServe(wkWorker *w, wkRequest *r, uint64_t nowNs)
{
    w->c.requests++;
    r->rc = wkJournalRequest(w, r, nowNs);
    switch (r->rc ? -1 : r->type) {
    case -1:
        break;
    case WK_REQ_SESSION_ADD:
        r->rc = gwSessionAdd(w->gw, r->arg.sessionAdd.sessionId, r->arg.sessionAdd.token,
                             r->arg.sessionAdd.account, r->arg.sessionAdd.allowedIp);
        logMsg(r->rc == 0 ? LOGL_INFO : LOGL_WARNING, "session %u (account %u): %s",
               r->arg.sessionAdd.sessionId, r->arg.sessionAdd.account,
               (uintptr_t)(r->rc == 0 ? "added" : "refused by the gateway"));
        break;
    case WK_REQ_SESSION_KICK:
        r->rc = gwSessionKick(w->gw, r->arg.sessionId, nowNs);
        logMsg(LOGL_INFO, "session %u: kicked (rc %d)", r->arg.sessionId, r->rc);
        break;
    case WK_REQ_SESSION_LIST:
        r->out.sessions.n = gwSessionList(w->gw, r->out.sessions.s, WK_MAX_SESSIONS);
        r->rc = 0;
        break;
    case WK_REQ_BOOK:
        wkServeBook(w, r);
        break;
    case WK_REQ_SET_STATE:
        r->rc =
            gwSetState(w->gw, r->arg.setState.instrument, (mtState)r->arg.setState.state, nowNs);
        break;
    case WK_REQ_STATS:
        wkServeStats(w, r);
        break;
    case WK_REQ_SHUTDOWN:
        gwShutdown(w->gw, nowNs);
        r->rc = 0;
        break;
    case WK_REQ_STATE_HASH:
        wkServeState(w, r);
        break;
    case WK_REQ_INSTRUMENT_ADD:
        r->rc = gwAddInstrument(w->gw, r->arg.insAdd.ins, r->arg.insAdd.mem, nowNs);
        if (r->rc == 0)
            wkInstrumentAdded(w, r->arg.insAdd.ins->book, r->arg.insAdd.cfgIndex);
        logMsg(r->rc == 0 ? LOGL_INFO : LOGL_WARNING, "instrument book %u added (rc %d)",
               r->arg.insAdd.ins->book, r->rc);
        break;
    case WK_REQ_SET_THROTTLE:
        r->rc = gwSetThrottle(w->gw, r->arg.throttle);
        logMsg(LOGL_INFO, "throttle now %u messages/s per session", r->arg.throttle);
        break;
    default:
        r->rc = -1;
    }
    gwFlush(w->gw);
    fsFlush(w->feed);
    if (w->wal)
        walPoll(w->wal);
    wkTxFlush(w);
    __atomic_store_n(&r->done, 1, __ATOMIC_RELEASE);
}

/* ---- the loop ------------------------------------------------------------------- */

int wkMain(void *arg)
{
    wkWorker *w = arg;
    struct rte_mbuf *pkts[RX_BURST];
    const uint64_t timerCycles = w->tscHz / TIMER_PER_S;
    const uint64_t publishCycles = w->tscHz / 1000 * WK_PUBLISH_MS;
    uint64_t lastTimer = rte_rdtsc(), lastPublish = lastTimer;
    wkSyncInstruments(w); /* books the journal's replay added */
    wkPublish(w, lastTimer, UINT32_MAX);
    char logName[LOG_NAME_MAX];
    snprintf(logName, sizeof logName, "worker%u", rte_lcore_id());
    logAttach(logName); /* allocates its ring now, never in the loop */
    logMsg(LOGL_INFO, "segment %u: worker running on lcore %u, queue %u", w->opt.segment,
           rte_lcore_id(), w->opt.queue);

    fsStart(w->feed, wkNowNs(w, lastTimer));
    wkTxFlush(w);
    while (!__atomic_load_n(&w->stop, __ATOMIC_RELAXED)) {
        uint64_t t = rte_rdtsc();
        if (unlikely(t - lastTimer > timerCycles)) {
            const uint64_t now = wkNowNs(w, t);
            /* after a journal stall the sessions' heartbeats wait unread in
             * the rx queue: timeouts are judged once it has been drained */
            if (likely(!w->inputBacklog) && (!w->wal || walTimer(w->wal, now) == WAL_APPLY))
                gwOnTimer(w->gw, now);
            fsTick(w->feed, now);
            fsPump(w->feed); /* a snapshot being sent: a few packets a millisecond */
            wkSummaryTx(w);
            wkTxFlush(w);
            lastTimer = t;
            if (unlikely(t - lastPublish > publishCycles)) {
                wkPublish(w, t, WK_SNAP_BOOKS);
                lastPublish = t;
            }
        }
        if (w->wal) {
            walPoll(w->wal); /* frames whose inputs became durable */
            wkTxFlush(w);
            if (unlikely(!walRoom(w->wal, WAL_BURST_BYTES + WAL_CREDIT_BYTES))) {
                rte_pause(); /* input waits in the NIC until the journal catches up */
                w->c.journalStalls += !w->inputBacklog; /* episodes, not loop turns */
                w->inputBacklog = 1;
                continue;
            }
        }
        void *req;
        if (unlikely(rte_ring_sc_dequeue(w->requests, &req) == 0))
            wkServe(w, req, wkNowNs(w, t));
        if (crlPoll(w->credit, w->gw, wkNowNs(w, t))) {
            gwFlush(w->gw); /* orders a top-up let through */
            if (w->wal)
                walPoll(w->wal);
            wkTxFlush(w);
        }
        if (unlikely(!crlRoom(w->credit))) {
            rte_pause(); /* a control core behind: input waits rather than its events get lost */
            w->c.controlStalls += !w->inputBacklog;
            w->inputBacklog = 1;
            continue;
        }

        uint16_t n = rte_eth_rx_burst(w->opt.portId, w->opt.queue, pkts, RX_BURST);
        if (n < RX_BURST)
            w->inputBacklog = 0; /* what waited during a stall has been read */
        if (n == 0) {
            rte_pause();
            w->c.idleCycles += rte_rdtsc() - t;
            continue;
        }
        /* The in-box clock runs from the burst's arrival in our hands to the
         * replies' hand-over to the PMD; the hand-over itself is a syscall on
         * the virtual devices (af_packet, af_xdp kick) that a real NIC's
         * doorbell write does not cost, so it is timed on its own. */
        uint64_t rx = rte_rdtsc();
        w->c.rxPackets += n;
        uint64_t nowNs = wkNowNs(w, rx);
        uint32_t handled = 0;
        for (uint16_t i = 0; i < n; i++) {
            if (i + 1 < n)
                rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 1], void *));
            handled += (uint32_t)wkHandle(w, pkts[i], nowNs);
        }
        gwFlush(w->gw);
        fsFlush(w->feed);
        if (w->wal)
            walPoll(w->wal); /* publishes the burst's records; async: nothing held */
        uint64_t ready = rte_rdtsc();
        wkTxFlush(w);
        uint64_t done = rte_rdtsc();
        uint32_t orders = handled & (WK_FEED_REQ - 1);
        if (orders) {
            histRecord(&w->inBox, wkCyclesToNs(w, ready - rx), orders);
            histRecord(&w->txCall, wkCyclesToNs(w, done - ready), 1);
        }
        w->c.busyCycles += done - t;
    }
    const uint64_t end = wkNowNs(w, rte_rdtsc());
    const walTimeRec rec = {.nowNs = end};
    if (w->wal)
        walControl(w->wal, WAL_SHUTDOWN, &rec, sizeof rec);
    gwShutdown(w->gw, end);
    gwFlush(w->gw);
    fsClose(w->feed, wkNowNs(w, rte_rdtsc()));
    /* the last frames (the feed's end of session too) wait for their inputs
     * like the others, a while at most */
    for (uint64_t t0 = rte_rdtsc(); w->wal && walPoll(w->wal) + walHeld(w->wal) > 0 &&
                                    !walStatus(w->wal) && rte_rdtsc() - t0 < w->tscHz * 2;)
        wkTxFlush(w);
    wkTxFlush(w);
    logMsg(LOGL_INFO,
           "segment %u: worker stopped, sessions logged out (%" PRIu64 " rx, %" PRIu64
           " tx packets, %" PRIu64 " tx dropped)",
           w->opt.segment, w->c.rxPackets, w->c.txPackets, w->c.txDropped);
    return 0;
}

/* ---- life ------------------------------------------------------------------------- */

wkWorker *wkCreate(const wkOptions *opt, char *err, size_t errlen)
{
    wkWorker *w = rte_zmalloc_socket("xchg-worker", sizeof *w, 64, (int)opt->socketId);
    if (!w) {
        snprintf(err, errlen, "worker %u: rte_zmalloc_socket failed", opt->segment);
        return NULL;
    }
    w->opt = *opt;
    w->orderPort = opt->cfg->segments[opt->segment].orderPort;
    w->retransPort = opt->cfg->segments[opt->segment].retransPort;
    w->alloc = (mtAllocator){wkAlloc, wkFree, w};
    wkClockInit(w);
    char name[32];
    snprintf(name, sizeof name, "wk%u_pool", opt->segment);
    w->pool = rte_pktmbuf_pool_create(name, POOL_MBUFS, POOL_CACHE, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
                                      (int)opt->socketId);
    snprintf(name, sizeof name, "wk%u_req", opt->segment);
    w->requests =
        rte_ring_create(name, RING_SIZE, (int)opt->socketId, RING_F_SP_ENQ | RING_F_SC_DEQ);
    snprintf(name, sizeof name, "wk%u_md", opt->segment);
    w->trades = rte_ring_create_elem(name, sizeof(mdsTrade), MD_RING, (int)opt->socketId,
                                     RING_F_SP_ENQ | RING_F_SC_DEQ);
    snprintf(name, sizeof name, "wk%u_mdtx", opt->segment);
    w->mdTx = rte_ring_create(name, MD_TX_RING, (int)opt->socketId, RING_F_SP_ENQ | RING_F_SC_DEQ);
    for (uint16_t b = 0; b < opt->cfg->segments[opt->segment].instrumentCount; b++) {
        const cfgInstrument *ins = cfgFindBook(opt->cfg, opt->segment, b);
        w->insIndex[b] = ins ? (uint16_t)(ins - opt->cfg->instruments) : UINT16_MAX;
    }
    const uint32_t refCap = opt->cfg->segments[opt->segment].orderCapacity + CRL_REF_SPARE;
    if (w->pool && w->requests)
        w->credit =
            crlCreate(opt->cfg, opt->segment, refCap, opt->socketId, &w->alloc, err, errlen);
    if (!w->credit) {
        wkDestroy(w);
        return NULL;
    }
    gwOptions go = {.cfg = opt->cfg,
                    .segment = opt->segment,
                    .maxSessions = opt->maxSessions,
                    .historyDepth = opt->historyDepth,
                    .tradingDay = opt->tradingDay,
                    .send = wkSend,
                    .sendCtx = w,
                    .tap = fdTap, /* the feed's tap, straight into the builder */
                    .insTap = fdInstrumentTap,
                    .onTrade = wkOnTrade,
                    .tradeCtx = w,
                    .allocator = &w->alloc,
                    .risk = crlRisk(w->credit),
                    .cycles = wkCycles};
    fsOptions fo = {.cfg = opt->cfg,
                    .segment = opt->segment,
                    .tradingDay = opt->tradingDay,
                    .midnightNs = wkMidnight(w->wall0),
                    .send = wkFeedSend,
                    .sendCtx = w,
                    .allocator = &w->alloc};
    const int rings = w->requests && w->trades && w->mdTx;
    const uint32_t nins = opt->cfg->segments[opt->segment].instrumentCount;
    const uint32_t capIns = opt->cfg->segments[opt->segment].instrumentCapacity > nins
                                ? opt->cfg->segments[opt->segment].instrumentCapacity
                                : nins;
    w->snapBytes = sizeof(wkSnapshot) + (size_t)capIns * sizeof(wkInstrumentSnap);
    w->snap = rte_zmalloc_socket("xchg-snap", w->snapBytes, 64, (int)opt->socketId);
    if (w->snap)
        w->snap->instrumentCount = nins;
    if (w->pool && rings && w->snap)
        w->feed = fsCreate(&fo);
    go.tapCtx = w->feed ? fsFeed(w->feed) : NULL;
    if (w->feed)
        w->gw = gwCreate(&go);
    if (!w->pool || !rings || !w->snap || !w->feed || !w->gw) {
        snprintf(err, errlen, "worker %u: %s failed (%s)", opt->segment,
                 !w->pool   ? "rte_pktmbuf_pool_create"
                 : !rings   ? "rte_ring_create"
                 : !w->snap ? "snapshot allocation"
                 : !w->feed ? "feed creation (memory or config)"
                            : "gateway creation (memory or config)",
                 rte_strerror(rte_errno));
        wkDestroy(w);
        return NULL;
    }
    struct rte_ether_addr mac;
    if (rte_eth_macaddr_get(opt->portId, &mac) == 0)
        memcpy(w->mac, mac.addr_bytes, NET_MAC_LEN);
    const cfgSegment *seg = &opt->cfg->segments[opt->segment];
    const uint8_t gmac[NET_MAC_LEN] = {0x01,
                                       0x00,
                                       0x5e,
                                       (uint8_t)(seg->feedGroup >> 16 & 0x7f),
                                       (uint8_t)(seg->feedGroup >> 8),
                                       (uint8_t)seg->feedGroup};
    netUdpFlowInit(&w->feedFlow, w->mac, gmac, opt->ip, seg->feedGroup, w->retransPort,
                   seg->feedPort);
    netFlowCacheInit(&w->flows, w->mac, opt->ip);
    return w;
}

void wkAttachArchive(wkWorker *w, jnJournal *j, struct rte_ring *req, struct rte_ring *tx,
                     const fsArchiveStats *st)
{
    w->faReq = req;
    w->faTx = tx;
    fsSetArchive(w->feed, j, wkArchiveForward, w, st);
}

int wkCall(wkWorker *w, wkRequest *req, uint32_t timeoutMs)
{
    __atomic_store_n(&req->done, 0, __ATOMIC_RELAXED);
    if (rte_ring_sp_enqueue(w->requests, req) != 0)
        return -1;
    uint64_t deadline = rte_get_timer_cycles() + rte_get_timer_hz() / 1000 * timeoutMs;
    while (!__atomic_load_n(&req->done, __ATOMIC_ACQUIRE)) {
        if (rte_get_timer_cycles() > deadline)
            return -1;
        rte_pause();
    }
    return 0;
}

void wkStop(wkWorker *w)
{
    __atomic_store_n(&w->stop, 1, __ATOMIC_RELEASE);
}

void wkDestroy(wkWorker *w)
{
    if (!w)
        return;
    gwDestroy(w->gw);
    rte_free(w->snap);
    fsDestroy(w->feed);
    crlDestroy(w->credit);
    rte_ring_free(w->requests);
    rte_ring_free(w->trades);
    if (w->mdTx) {
        struct rte_mbuf *m;
        while (rte_ring_sc_dequeue(w->mdTx, (void **)&m) == 0)
            rte_pktmbuf_free(m);
    }
    rte_ring_free(w->mdTx);
    rte_mempool_free(w->pool);
    rte_free(w);
}

void wkAttachWal(wkWorker *w, walLog *wal)
{
    w->wal = wal;
    walSetOutput(wal, wkGateRelease, wkGateDrop, w);
    crlSetJournal(w->credit, wkJournalCredit, w);
}

gwGateway *wkGateway(wkWorker *w)
{
    return w->gw;
}

struct rte_mempool *wkPool(const wkWorker *w)
{
    return w->pool;
}

crLink *wkCredit(const wkWorker *w)
{
    return w->credit;
}

struct rte_ring *wkTradeRing(const wkWorker *w)
{
    return w->trades;
}

struct rte_ring *wkSummaryTxRing(const wkWorker *w)
{
    return w->mdTx;
}
