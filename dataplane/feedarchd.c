/* feedarchd.c -- the feed archives' thread (see feedarchd.h). */
#define _GNU_SOURCE
#include "dataplane/feedarchd.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_errno.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "dataplane/feedarch.h"
#include "dataplane/feedsrv.h"
#include "control/log.h"

#define FA_PENDING       64          /* requests per segment waiting for durability */
#define FA_SEGMENT_BYTES (16u << 20) /* archive segment files at most */
#define FA_COMMIT_GAP_US 1000 /* no answer waits for the archive: one fdatasync a ms at most */

typedef struct {
    faRequest r;
    uint64_t since; /* CLOCK_MONOTONIC ns when first tried */
} faPendingReq;

typedef struct {
    faArchive *a;
    struct rte_ring *req, *tx;
    struct rte_mempool *pool;
    fsArchiveStats st; /* read by the worker (fsGetStats), relaxed */
    faPendingReq pend[FA_PENDING];
    uint32_t npend;
    int failedLogged;
    const faRequest *cur; /* the request being answered (faEmit) */
} faSeg;

struct faService {
    uint32_t n;
    faSeg *seg;
    pthread_t thread;
    int started;
    volatile int stop;
};

static uint64_t faNow(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void faAdd(uint64_t *c, uint64_t v)
{
    __atomic_store_n(c, *c + v, __ATOMIC_RELAXED); /* one writer: this thread */
}

/* One answer packet as a frame from the worker's address and
 * retransmission port to the requester, onto the worker's ring. */
static void faEmit(void *ctx, const uint8_t *pkt, uint16_t len)
{
    faSeg *g = ctx;
    const faRequest *r = g->cur;
    struct rte_mbuf *m = rte_pktmbuf_alloc(g->pool);
    uint8_t *f = m ? (uint8_t *)rte_pktmbuf_append(m, (uint16_t)(NET_UDP_HLEN + len)) : NULL;
    if (!f) {
        rte_pktmbuf_free(m);
        faAdd(&g->st.dropped, 1);
        return;
    }
    memcpy(f + NET_UDP_HLEN, pkt, len);
    netUdpHeaders(f, r->srcMac, r->dstMac, r->srcIp, r->dstIp, r->srcPort, r->dstPort, len);
    if (rte_ring_sp_enqueue(g->tx, m) != 0) {
        rte_pktmbuf_free(m);
        faAdd(&g->st.dropped, 1);
        return;
    }
    faAdd(&g->st.packets, 1);
}

/* Answers one request; 1 when it must wait for durability. */
static int faServe(faSeg *g, const faRequest *r, uint64_t since, uint64_t now)
{
    uint32_t msgs = 0;
    g->cur = r;
    faResult rc = faAnswer(g->a, r->seq, r->count, faEmit, g, &msgs);
    switch (rc) {
    case FA_ANSWERED:
        faAdd(&g->st.answered, 1);
        faAdd(&g->st.messages, msgs);
        return 0;
    case FA_GONE:
        faAdd(&g->st.gone, 1);
        return 0;
    case FA_NOT_YET:
        if (now - since < FA_WAIT_NS)
            return 1;
        faAdd(&g->st.notDurable, 1);
        return 0;
    default:
        faAdd(&g->st.errors, 1);
        logText(LOGL_ERROR, faError(g->a));
        return 0;
    }
}

static void faPend(faSeg *g, const faRequest *r, uint64_t since)
{
    if (g->npend == FA_PENDING) {
        faAdd(&g->st.notDurable, 1);
        return;
    }
    g->pend[g->npend++] = (faPendingReq){.r = *r, .since = since};
}

/* One pass over a segment: writer, index, waiting requests, new ones. */
static int faStep(faSeg *g, uint64_t now)
{
    int rc = faPoll(g->a), busy = rc > 0;
    if (rc < 0 && !g->failedLogged) {
        g->failedLogged = 1;
        logText(LOGL_ERROR, faError(g->a)); /* answers go on from what was indexed */
    }
    uint64_t first, next;
    faRange(g->a, &first, &next);
    __atomic_store_n(&g->st.first, first, __ATOMIC_RELAXED);
    __atomic_store_n(&g->st.next, next, __ATOMIC_RELAXED);
    uint32_t keep = 0;
    for (uint32_t i = 0; i < g->npend; i++)
        if (faServe(g, &g->pend[i].r, g->pend[i].since, now))
            g->pend[keep++] = g->pend[i];
    busy |= keep != g->npend;
    g->npend = keep;
    faRequest r[16];
    unsigned k = rte_ring_sc_dequeue_burst_elem(g->req, r, sizeof r[0], 16, NULL);
    for (unsigned i = 0; i < k; i++)
        if (faServe(g, &r[i], now, now))
            faPend(g, &r[i], now);
    return busy || k > 0;
}

static void *faMain(void *arg)
{
    faService *s = arg;
    uint32_t idleUs = 20;
    while (!__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE)) {
        uint64_t now = faNow();
        int busy = 0;
        for (uint32_t i = 0; i < s->n; i++)
            if (s->seg[i].a)
                busy |= faStep(&s->seg[i], now);
        if (busy) {
            idleUs = 20;
            continue;
        }
        usleep(idleUs); /* the kernel completes the journal's I/O meanwhile */
        if (idleUs < 500)
            idleUs *= 2;
    }
    return NULL;
}

/* Opens segment i's archive, its rings and pool, and attaches them. */
static int faSegOpen(const cfgConfig *cfg, faSeg *g, uint32_t i, wkWorker *w, uint32_t tradingDay,
                     char *err, size_t errlen)
{
    const cfgSegment *seg = &cfg->segments[i];
    char session[MOLD_SESSION_LEN + 1], dir[CFG_PATH_MAX + 64], name[32];
    if (fdSessionName(session, tradingDay, (uint8_t)seg->id) != 0) {
        snprintf(err, errlen, "bad trading day %u", tradingDay);
        return -1;
    }
    snprintf(dir, sizeof dir, "%s/feed-%u/%s", cfg->storage.walDir, seg->id, session);
    jnConfig jc;
    jnConfigDefaults(&jc);
    /* smaller files than the input journal's, not zero-filled: the archive
     * is not on the order path, and it should not double the space taken
     * ahead of time */
    jc.segmentBytes = cfg->storage.walSegmentSize < FA_SEGMENT_BYTES ? cfg->storage.walSegmentSize
                                                                     : FA_SEGMENT_BYTES;
    jc.prefill = 0;
    jc.commitGapUs = FA_COMMIT_GAP_US;
    g->a = faOpen(dir, seg->id, FD_MTU_DEFAULT - 28, &jc, err, errlen);
    if (!g->a)
        return -1;
    snprintf(name, sizeof name, "fa%u_req", i);
    g->req = rte_ring_create_elem(name, sizeof(faRequest), FA_REQ_RING, SOCKET_ID_ANY,
                                  RING_F_SP_ENQ | RING_F_SC_DEQ);
    snprintf(name, sizeof name, "fa%u_tx", i);
    g->tx = rte_ring_create(name, FA_TX_RING, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
    snprintf(name, sizeof name, "fa%u_pool", i);
    g->pool =
        rte_pktmbuf_pool_create(name, FA_POOL, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
    if (!g->req || !g->tx || !g->pool) {
        snprintf(err, errlen, "%s failed: %s",
                 !g->pool ? "rte_pktmbuf_pool_create" : "rte_ring_create", rte_strerror(rte_errno));
        return -1;
    }
    uint64_t first, next;
    faRange(g->a, &first, &next);
    printf("xchgd: feed archive: segment %u: %s, %llu packets (sequences %llu..%llu) from before\n",
           seg->id, dir, (unsigned long long)faPackets(g->a), (unsigned long long)first,
           (unsigned long long)(next ? next - 1 : 0));
    wkAttachArchive(w, faJournal(g->a), g->req, g->tx, &g->st);
    return 0;
}

/* Closes segment i's archive (makes the last packets durable) and frees
 * the answer frames still queued, the rings and the pool. */
static void faSegClose(faSeg *g)
{
    faClose(g->a);
    struct rte_mbuf *m;
    while (g->tx && rte_ring_sc_dequeue(g->tx, (void **)&m) == 0)
        rte_pktmbuf_free(m);
    rte_ring_free(g->req);
    rte_ring_free(g->tx);
    rte_mempool_free(g->pool);
    memset(g, 0, sizeof *g);
}

faService *faStart(const cfgConfig *cfg, wkWorker **workers, uint32_t n, uint32_t tradingDay,
                   char *err, size_t errlen)
{
    faService *s = calloc(1, sizeof *s);
    if (s)
        s->seg = calloc(n, sizeof *s->seg);
    if (!s || !s->seg) {
        snprintf(err, errlen, "feed archive: out of memory");
        faStop(s);
        return NULL;
    }
    s->n = n;
    for (uint32_t i = 0; i < n; i++) {
        char why[512];
        if (faSegOpen(cfg, &s->seg[i], i, workers[i], tradingDay, why, sizeof why) != 0) {
            /* trading goes on: requests older than the history are then
             * refused as gone, as without an archive */
            printf("xchgd: feed archive: segment %u: %s; retransmission from memory only\n",
                   cfg->segments[i].id, why);
            logText(LOGL_WARNING, "feed archive: segment %u: %s; retransmission from memory only",
                    cfg->segments[i].id, why);
            faSegClose(&s->seg[i]);
        }
    }
    fflush(stdout);
    int e = pthread_create(&s->thread, NULL, faMain, s);
    if (e) {
        snprintf(err, errlen, "feed archive: thread: %s", strerror(e));
        faStop(s);
        return NULL;
    }
    pthread_setname_np(s->thread, "xchg-feedarch");
    s->started = 1;
    return s;
}

void faStop(faService *s)
{
    if (!s)
        return;
    if (s->started) {
        __atomic_store_n(&s->stop, 1, __ATOMIC_RELEASE);
        pthread_join(s->thread, NULL);
    }
    for (uint32_t i = 0; s->seg && i < s->n; i++)
        faSegClose(&s->seg[i]);
    free(s->seg);
    free(s);
}
