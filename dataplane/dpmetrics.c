/* dpmetrics.c -- xchgd's monitor: worker snapshots, port counters and the host, as metrics and
 * JSON.
 *
 * Everything runs on the control lcore. Worker figures come from the
 * snapshots the workers publish (wkSnapshotRead, lock-free); the port's
 * counters from rte_eth_stats_get / rte_eth_xstats_get; the host's from a
 * hmSampler fed once a second by dmTick. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include "control/hostmon.h"
#include "control/metrics.h"
#include "dataplane/dpmetrics.h"

#define DM_TOP_BOOKS_MAX    32
#define DM_TOP_ACCOUNTS_MAX 100
#define DM_NS               1000000000ULL

typedef struct {
    wkSnapshot *snap;
    int ok;
} dmSnap;

struct dmMonitor {
    dmOptions opt;
    const cfgInstrument ***ins; /* [segment][book] -> config instrument, NULL if none */
    uint32_t insKnown;          /* config instruments indexed in ins (instrument.add) */
    dmSnap *scrape;             /* [worker] read per scrape or stats call */
    dmSnap *cur, *prev;         /* [worker] at the latest two ticks */
    uint64_t curNs, prevNs;     /* CLOCK_MONOTONIC of those ticks */
    uint32_t ticks;
    hmSampler *host;
    promServer *server;
    const struct rte_ring *rings[DM_MAX_RINGS];
    uint32_t ringCount;
    char portName[CFG_PORT_NAME_MAX + 1];
    int xstatCount;
    struct rte_eth_xstat_name *xstatNames;
    struct rte_eth_xstat *xstats;
    histLog diff;           /* scratch: one interval of a histogram */
    dmAccountsFn *accounts; /* top's accounts nearest liquidation, NULL: none */
    void *accountsCtx;
};

static uint64_t dmMonoNs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * DM_NS + (uint64_t)ts.tv_nsec;
}

static uint64_t dmWallNs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * DM_NS + (uint64_t)ts.tv_nsec;
}

/* ---- life ------------------------------------------------------------------------------ */

static int dmSnapsAlloc(dmMonitor *m, dmSnap **out)
{
    *out = calloc(m->opt.workerCount, sizeof **out);
    if (!*out)
        return -1;
    for (uint32_t i = 0; i < m->opt.workerCount; i++)
        if (!((*out)[i].snap = malloc(wkSnapshotSize(m->opt.workers[i]))))
            return -1;
    return 0;
}

static void dmSnapsFree(dmMonitor *m, dmSnap *s)
{
    for (uint32_t i = 0; s && i < m->opt.workerCount; i++)
        free(s[i].snap);
    free(s);
}

static int dmXstatsInit(dmMonitor *m)
{
    int n = rte_eth_xstats_get_names(m->opt.portId, NULL, 0);
    if (n <= 0)
        return 0; /* a PMD without xstats: only the basic counters */
    m->xstatNames = calloc((size_t)n, sizeof *m->xstatNames);
    m->xstats = calloc((size_t)n, sizeof *m->xstats);
    if (!m->xstatNames || !m->xstats)
        return -1;
    if (rte_eth_xstats_get_names(m->opt.portId, m->xstatNames, (unsigned)n) != n)
        return 0;
    m->xstatCount = n;
    return 0;
}

/* Indexes the config's instruments not indexed yet: those of the file at
 * creation, then each instrument.add (the config only grows, on this lcore). */
static void dmInstrumentsSync(dmMonitor *m)
{
    const cfgConfig *cfg = m->opt.cfg;
    for (; m->insKnown < cfg->instrumentCount; m->insKnown++) {
        const cfgInstrument *in = &cfg->instruments[m->insKnown];
        if (in->segIndex < cfg->segmentCount &&
            in->book < cfg->segments[in->segIndex].instrumentCapacity)
            m->ins[in->segIndex][in->book] = in;
    }
}

static int dmInstrumentsIndex(dmMonitor *m)
{
    const cfgConfig *cfg = m->opt.cfg;
    m->ins = calloc(cfg->segmentCount, sizeof *m->ins);
    if (!m->ins)
        return -1;
    for (uint32_t s = 0; s < cfg->segmentCount; s++)
        if (!(m->ins[s] = calloc(cfg->segments[s].instrumentCapacity + 1u, sizeof *m->ins[s])))
            return -1;
    dmInstrumentsSync(m);
    return 0;
}

dmMonitor *dmCreate(const dmOptions *opt, char *err, size_t errlen)
{
    dmMonitor *m = calloc(1, sizeof *m);
    if (!m) {
        snprintf(err, errlen, "monitor: out of memory");
        return NULL;
    }
    m->opt = *opt;
    snprintf(m->portName, sizeof m->portName, "%s", opt->cfg->ports[0].name);
    if (dmSnapsAlloc(m, &m->scrape) || dmSnapsAlloc(m, &m->cur) || dmSnapsAlloc(m, &m->prev) ||
        dmInstrumentsIndex(m) || dmXstatsInit(m)) {
        snprintf(err, errlen, "monitor: out of memory");
        dmDestroy(m);
        return NULL;
    }
    m->host = hmSamplerCreate(opt->procRoot ? opt->procRoot : "/proc", NULL, err, errlen);
    if (!m->host) {
        dmDestroy(m);
        return NULL;
    }
    for (uint32_t i = 0; i < opt->workerCount; i++)
        dmAddRing(m, wkRequestRing(opt->workers[i]));
    dmTick(m);
    return m;
}

void dmDestroy(dmMonitor *m)
{
    if (!m)
        return;
    dmSnapsFree(m, m->scrape);
    dmSnapsFree(m, m->cur);
    dmSnapsFree(m, m->prev);
    for (uint32_t s = 0; m->ins && s < m->opt.cfg->segmentCount; s++)
        free(m->ins[s]);
    free(m->ins);
    free(m->xstatNames);
    free(m->xstats);
    hmSamplerDestroy(m->host);
    free(m);
}

int dmAddRing(dmMonitor *m, const struct rte_ring *ring)
{
    if (!ring || m->ringCount == DM_MAX_RINGS)
        return -1;
    m->rings[m->ringCount++] = ring;
    return 0;
}

static void dmReadAll(dmMonitor *m, dmSnap *into)
{
    for (uint32_t i = 0; i < m->opt.workerCount; i++)
        into[i].ok = wkSnapshotRead(m->opt.workers[i], into[i].snap) == 0;
}

int dmTick(dmMonitor *m)
{
    dmInstrumentsSync(m);
    dmSnap *t = m->prev;
    m->prev = m->cur;
    m->cur = t;
    m->prevNs = m->curNs;
    m->curNs = dmMonoNs();
    dmReadAll(m, m->cur);
    m->ticks++;
    return hmSamplerSample(m->host);
}

/* ---- Prometheus: the dataplane ---------------------------------------------------------- */

typedef struct {
    const char *name, *help;
    size_t off; /* of a uint64_t in wkSnapshot */
} dmField;

#define SNAP_U64(s, off) (*(const uint64_t *)((const char *)(s) + (off)))

static const dmField dmCounters[] = {
    {"xchg_worker_rx_packets_total", "Frames the worker received from its RX queue.",
     offsetof(wkSnapshot, counters.rxPackets)},
    {"xchg_worker_tx_packets_total", "Frames the PMD accepted from the worker.",
     offsetof(wkSnapshot, counters.txPackets)},
    {"xchg_worker_requests_total", "Control requests the worker served from its mailbox.",
     offsetof(wkSnapshot, counters.requests)},
    {"xchg_worker_snapshots_total", "Snapshots the worker published for the control lcore.",
     offsetof(wkSnapshot, seq)},
    {"xchg_gateway_datagrams_in_total", "Order-entry datagrams received.",
     offsetof(wkSnapshot, gateway.datagramsIn)},
    {"xchg_gateway_datagrams_processed_total", "Order-entry datagrams processed for a session.",
     offsetof(wkSnapshot, gateway.datagramsProcessed)},
    {"xchg_gateway_datagrams_out_total", "Order-entry datagrams sent.",
     offsetof(wkSnapshot, gateway.datagramsOut)},
    {"xchg_session_logons_total", "Logons accepted.", offsetof(wkSnapshot, gateway.logons)},
    {"xchg_session_logon_rejects_total", "Logons rejected.",
     offsetof(wkSnapshot, gateway.logonRejects)},
    {"xchg_session_logouts_total", "Logouts.", offsetof(wkSnapshot, gateway.logouts)},
    {"xchg_session_timeouts_total", "Sessions logged out for silence.",
     offsetof(wkSnapshot, gateway.timeouts)},
    {"xchg_session_throttled_messages_total", "Messages refused by a session's throttle.",
     offsetof(wkSnapshot, gateway.throttled)},
    {"xchg_session_duplicates_total", "Duplicate messages answered from history.",
     offsetof(wkSnapshot, gateway.duplicates)},
    {"xchg_session_gaps_total", "Inbound sequence gaps reported.",
     offsetof(wkSnapshot, gateway.gaps)},
    {"xchg_session_retransmitted_messages_total", "Messages resent on request.",
     offsetof(wkSnapshot, gateway.retransmitted)},
    {"xchg_matcher_orders_accepted_total", "Orders the matcher accepted.",
     offsetof(wkSnapshot, matcher.ordersAccepted)},
    {"xchg_matcher_orders_rejected_total", "Orders the matcher rejected.",
     offsetof(wkSnapshot, matcher.ordersRejected)},
    {"xchg_matcher_fills_total", "Trades (one per fill, both sides together).",
     offsetof(wkSnapshot, matcher.fills)},
    {"xchg_matcher_cancels_total", "Orders cancelled in the matcher.",
     offsetof(wkSnapshot, matcher.cancels)},
    {"xchg_matcher_replaces_total", "Orders replaced in the matcher.",
     offsetof(wkSnapshot, matcher.replaces)},
};

typedef struct {
    const char *type;
    size_t off;
} dmTypedCounter;

static const dmTypedCounter dmMsgIn[] = {{"new_order", offsetof(wkSnapshot, gateway.newOrders)},
                                         {"cancel", offsetof(wkSnapshot, gateway.cancels)},
                                         {"replace", offsetof(wkSnapshot, gateway.replaces)},
                                         {"retransmit_request",
                                          offsetof(wkSnapshot, gateway.retransmitRequests)},
                                         {"unknown", offsetof(wkSnapshot, gateway.unknownTypes)}},
                            dmMsgOut[] = {{"accepted", offsetof(wkSnapshot, gateway.accepted)},
                                          {"rejected", offsetof(wkSnapshot, gateway.rejected)},
                                          {"executed", offsetof(wkSnapshot, gateway.executions)},
                                          {"cancelled", offsetof(wkSnapshot, gateway.cancelled)},
                                          {"replaced", offsetof(wkSnapshot, gateway.replaced)},
                                          {"cancel_rejected",
                                           offsetof(wkSnapshot, gateway.cancelRejected)}},
                            dmDropsFixed[] = {
                                {"udp_other_port", offsetof(wkSnapshot, counters.udpOtherPort)},
                                {"tx_queue_full", offsetof(wkSnapshot, counters.txDropped)},
                                {"mbuf_alloc", offsetof(wkSnapshot, counters.mbufFailed)},
                                {"no_arp", offsetof(wkSnapshot, counters.noArp)},
                                {"unknown_session", offsetof(wkSnapshot, gateway.unknownSession)},
                                {"wrong_address", offsetof(wkSnapshot, gateway.wrongAddress)},
                                {"not_logged_on", offsetof(wkSnapshot, gateway.notLoggedOn)},
                                {"logon_throttled", offsetof(wkSnapshot, gateway.logonThrottled)}};

static const char *const dmStateNames[] = {"closed", "pre_open", "continuous", "halted"};
static const char *const dmSessionStates[] = {"idle", "logged_on", "disabled"};

/* Labels of a worker: segment id and lcore. */
typedef struct {
    char seg[8], lcore[8];
    promLabel l[2];
} dmWorkerLabels;

static void dmLabels(const dmMonitor *m, uint32_t i, dmWorkerLabels *o)
{
    snprintf(o->seg, sizeof o->seg, "%u", m->opt.cfg->segments[i].id);
    snprintf(o->lcore, sizeof o->lcore, "%u", m->opt.cfg->segments[i].lcore);
    o->l[0] = (promLabel){"segment", o->seg};
    o->l[1] = (promLabel){"lcore", o->lcore};
}

static void dmWriteLcores(const dmMonitor *m, promWriter *w, const dmSnap *s)
{
    static const char *const names[4] = {
        "xchg_lcore_busy_cycles_total", "xchg_lcore_idle_cycles_total",
        "xchg_lcore_busy_seconds_total", "xchg_lcore_idle_seconds_total"};
    static const char *const helps[4] = {
        "TSC cycles the worker lcore spent on bursts that brought frames.",
        "TSC cycles the worker lcore spent polling an empty RX queue.",
        "Seconds the worker lcore spent on bursts that brought frames (busy cycles / TSC rate).",
        "Seconds the worker lcore spent polling an empty RX queue."};
    for (int f = 0; f < 4; f++) {
        promFamily(w, names[f], PROM_COUNTER, helps[f]);
        for (uint32_t i = 0; i < m->opt.workerCount; i++) {
            if (!s[i].ok)
                continue;
            dmWorkerLabels L;
            dmLabels(m, i, &L);
            const wkCounters *c = &s[i].snap->counters;
            uint64_t v = (f & 1) ? c->idleCycles : c->busyCycles;
            if (f < 2)
                promSampleU64(w, L.l, 2, v);
            else
                promSampleFrac(w, L.l, 2, (int64_t)v, s[i].snap->tscHz);
        }
    }
    promFamily(w, "xchg_lcore_tsc_hz", PROM_GAUGE, "TSC rate the cycle counts are in.");
    for (uint32_t i = 0; i < m->opt.workerCount; i++) {
        dmWorkerLabels L;
        dmLabels(m, i, &L);
        if (s[i].ok)
            promSampleU64(w, L.l, 2, s[i].snap->tscHz);
    }
}

static void dmWriteFields(const dmMonitor *m, promWriter *w, const dmSnap *s)
{
    for (size_t f = 0; f < sizeof dmCounters / sizeof dmCounters[0]; f++) {
        promFamily(w, dmCounters[f].name, PROM_COUNTER, dmCounters[f].help);
        for (uint32_t i = 0; i < m->opt.workerCount; i++) {
            dmWorkerLabels L;
            dmLabels(m, i, &L);
            if (s[i].ok)
                promSampleU64(w, L.l, 1, SNAP_U64(s[i].snap, dmCounters[f].off));
        }
    }
}

/* One counter family with a "type" label per table entry, for every worker. */
static void dmWriteTypedFamily(const dmMonitor *m, promWriter *w, const dmSnap *s, const char *name,
                               const char *help, const dmTypedCounter *table, size_t n)
{
    promFamily(w, name, PROM_COUNTER, help);
    for (uint32_t i = 0; i < m->opt.workerCount; i++) {
        dmWorkerLabels L;
        dmLabels(m, i, &L);
        for (size_t k = 0; s[i].ok && k < n; k++) {
            promLabel l[2] = {L.l[0], {"type", table[k].type}};
            promSampleU64(w, l, 2, SNAP_U64(s[i].snap, table[k].off));
        }
    }
}

static void dmWriteByType(const dmMonitor *m, promWriter *w, const dmSnap *s)
{
    dmWriteTypedFamily(m, w, s, "xchg_messages_in_total",
                       "Application messages received, by type (in datagrams processed).", dmMsgIn,
                       sizeof dmMsgIn / sizeof dmMsgIn[0]);
    dmWriteTypedFamily(m, w, s, "xchg_messages_out_total",
                       "Application messages sent to sessions, by type.", dmMsgOut,
                       sizeof dmMsgOut / sizeof dmMsgOut[0]);
    promFamily(w, "xchg_worker_frames_total", PROM_COUNTER,
               "Frames received, by what the L2/L3 classifier made of them.");
    for (uint32_t i = 0; i < m->opt.workerCount; i++) {
        dmWorkerLabels L;
        dmLabels(m, i, &L);
        for (int k = 0; s[i].ok && k < NET_KIND_COUNT; k++) {
            promLabel l[2] = {L.l[0], {"kind", netKindName((netKind)k)}};
            promSampleU64(w, l, 2, s[i].snap->counters.kinds[k]);
        }
    }
}

/* Drop reasons: the classifier's drop kinds (without "drop_"), the worker's
 * and the gateway's own, and malformed XOE frames by error. */
static void dmWriteDrops(const dmMonitor *m, promWriter *w, const dmSnap *s)
{
    promFamily(w, "xchg_drops_total", PROM_COUNTER,
               "Frames, datagrams or replies dropped, by reason.");
    for (uint32_t i = 0; i < m->opt.workerCount; i++) {
        if (!s[i].ok)
            continue;
        dmWorkerLabels L;
        dmLabels(m, i, &L);
        const wkSnapshot *sn = s[i].snap;
        for (int k = NET_DROP_SHORT; k < NET_KIND_COUNT; k++) {
            promLabel l[2] = {L.l[0], {"reason", netKindName((netKind)k) + 5}};
            promSampleU64(w, l, 2, sn->counters.kinds[k]);
        }
        for (size_t k = 0; k < sizeof dmDropsFixed / sizeof dmDropsFixed[0]; k++) {
            promLabel l[2] = {L.l[0], {"reason", dmDropsFixed[k].type}};
            promSampleU64(w, l, 2, SNAP_U64(sn, dmDropsFixed[k].off));
        }
        for (int e = 1; e < 32; e++) {
            const char *n = xoeErrorName(e);
            if (n[0] == '?')
                continue;
            char reason[48];
            snprintf(reason, sizeof reason, "malformed_%s", n);
            promLabel l[2] = {L.l[0], {"reason", reason}};
            promSampleU64(w, l, 2, sn->gateway.malformed[e]);
        }
    }
}

static void dmWriteGauges(const dmMonitor *m, promWriter *w, const dmSnap *s)
{
    promFamily(w, "xchg_sessions", PROM_GAUGE, "Sessions by state.");
    for (uint32_t i = 0; i < m->opt.workerCount; i++) {
        dmWorkerLabels L;
        dmLabels(m, i, &L);
        for (int k = 0; s[i].ok && k < 3; k++) {
            promLabel l[2] = {L.l[0], {"state", dmSessionStates[k]}};
            promSampleU64(w, l, 2, s[i].snap->sessions[k]);
        }
    }
    promFamily(w, "xchg_orders_resting", PROM_GAUGE, "Orders resting in the segment's books.");
    for (uint32_t i = 0; i < m->opt.workerCount; i++) {
        dmWorkerLabels L;
        dmLabels(m, i, &L);
        if (s[i].ok)
            promSampleU64(w, L.l, 1, s[i].snap->matcher.ordersResting);
    }
    promFamily(w, "xchg_order_pool_capacity", PROM_GAUGE, "Orders the segment's pool holds.");
    for (uint32_t i = 0; i < m->opt.workerCount; i++) {
        dmWorkerLabels L;
        dmLabels(m, i, &L);
        if (s[i].ok)
            promSampleU64(w, L.l, 1, s[i].snap->matcher.poolCapacity);
    }
    promFamily(w, "xchg_worker_tx_pending_frames", PROM_GAUGE,
               "Frames queued for the worker's next tx burst, at the snapshot.");
    for (uint32_t i = 0; i < m->opt.workerCount; i++) {
        dmWorkerLabels L;
        dmLabels(m, i, &L);
        if (s[i].ok)
            promSampleU64(w, L.l, 1, s[i].snap->txPending);
    }
    promFamily(w, "xchg_worker_snapshot_age_seconds", PROM_GAUGE,
               "Age of the worker's latest published snapshot.");
    uint64_t now = dmWallNs();
    for (uint32_t i = 0; i < m->opt.workerCount; i++) {
        dmWorkerLabels L;
        dmLabels(m, i, &L);
        uint64_t t = s[i].ok ? s[i].snap->publishedNs : now;
        if (s[i].ok)
            promSampleFrac(w, L.l, 1, (int64_t)(now > t ? now - t : 0), DM_NS);
    }
}

static void dmWriteHistograms(const dmMonitor *m, promWriter *w, const dmSnap *s)
{
    static const struct {
        const char *name, *help;
        size_t off;
        int cycles;
    } h[] = {{"xchg_inbox_latency_seconds",
              "In-box time per order datagram: rx burst returned to replies handed to the PMD.",
              offsetof(wkSnapshot, inBoxNs), 0},
             {"xchg_tx_call_seconds", "Time of the PMD's tx burst call for those replies.",
              offsetof(wkSnapshot, txCallNs), 0},
             {"xchg_matcher_seconds",
              "Time in the matcher per NewOrder, Cancel and Replace (reports queued "
              "included), sampled: the first call and then 1 in 16.",
              offsetof(wkSnapshot, matchCycles), 1}};
    for (size_t k = 0; k < sizeof h / sizeof h[0]; k++) {
        promFamily(w, h[k].name, PROM_HISTOGRAM, h[k].help);
        for (uint32_t i = 0; i < m->opt.workerCount; i++) {
            if (!s[i].ok)
                continue;
            dmWorkerLabels L;
            dmLabels(m, i, &L);
            const histLog *hl = (const histLog *)((const char *)s[i].snap + h[k].off);
            promHistLog(w, L.l, 1, hl, h[k].cycles ? s[i].snap->tscHz : DM_NS);
        }
    }
}

/* Price of ticks in display units (1e-4), as a decimal sample. */
static void dmSamplePrice(promWriter *w, const promLabel *l, size_t n, const cfgInstrument *in,
                          int64_t ticks)
{
    int64_t v;
    if (!__builtin_mul_overflow(ticks, in->tickSize, &v))
        promSampleFrac(w, l, n, v, 10000);
}

typedef enum {
    DM_INS_ORDERS,
    DM_INS_TRADES,
    DM_INS_LOTS,
    DM_INS_STATE,
    DM_INS_BEST_PRICE,
    DM_INS_BEST_LOTS,
    DM_INS_LEVELS,
    DM_INS_DEPTH,
    DM_INS_FAMILIES
} dmInsFamily;

static void dmInsSample(promWriter *w, dmInsFamily f, const cfgInstrument *in,
                        const wkInstrumentSnap *is, promLabel *l)
{
    switch (f) {
    case DM_INS_ORDERS:
        promSampleU64(w, l, 2, is->counts.orders);
        break;
    case DM_INS_TRADES:
        promSampleU64(w, l, 2, is->counts.trades);
        break;
    case DM_INS_LOTS:
        promSampleU64(w, l, 2, is->counts.tradedLots);
        break;
    case DM_INS_STATE:
        for (int k = 0; k < 4; k++) {
            l[2] = (promLabel){"state", dmStateNames[k]};
            promSampleU64(w, l, 3, is->state == k);
        }
        break;
    default:
        for (int side = 0; side < 2; side++) {
            uint32_t levels = side ? is->askLevels : is->bidLevels;
            l[2] = (promLabel){"side", side ? "ask" : "bid"};
            if (f == DM_INS_BEST_PRICE && levels)
                dmSamplePrice(w, l, 3, in, side ? is->askTicks : is->bidTicks);
            else if (f == DM_INS_BEST_LOTS && levels)
                promSampleU64(w, l, 3, side ? is->askLots : is->bidLots);
            else if (f == DM_INS_LEVELS)
                promSampleU64(w, l, 3, levels);
            else if (f == DM_INS_DEPTH)
                promSampleU64(w, l, 3, side ? is->askDepthLots : is->bidDepthLots);
        }
    }
}

static void dmWriteInstruments(const dmMonitor *m, promWriter *w, const dmSnap *s)
{
    static const struct {
        const char *name, *help;
        promType type;
    } fam[DM_INS_FAMILIES] = {
        {"xchg_instrument_orders_total", "NewOrders for the instrument.", PROM_COUNTER},
        {"xchg_instrument_trades_total", "Trades in the instrument.", PROM_COUNTER},
        {"xchg_instrument_traded_lots_total", "Lots traded in the instrument.", PROM_COUNTER},
        {"xchg_instrument_trading_state", "1 for the instrument's trading state.", PROM_GAUGE},
        {"xchg_book_best_price", "Best price of a side (absent when the side is empty).",
         PROM_GAUGE},
        {"xchg_book_best_lots", "Quantity at the best price of a side.", PROM_GAUGE},
        {"xchg_book_levels", "Non-empty price levels of a side, counted up to 10.", PROM_GAUGE},
        {"xchg_book_depth_lots", "Quantity within the best 10 levels of a side.", PROM_GAUGE}};
    for (int f = 0; f < DM_INS_FAMILIES; f++) {
        promFamily(w, fam[f].name, fam[f].type, fam[f].help);
        for (uint32_t i = 0; i < m->opt.workerCount; i++) {
            if (!s[i].ok)
                continue;
            dmWorkerLabels L;
            dmLabels(m, i, &L);
            for (uint32_t b = 0; b < s[i].snap->instrumentCount; b++) {
                const cfgInstrument *in = m->ins[i][b];
                if (!in)
                    continue;
                promLabel l[3] = {{"instrument", in->id}, L.l[0], {NULL, NULL}};
                dmInsSample(w, (dmInsFamily)f, in, &s[i].snap->ins[b], l);
            }
        }
    }
}

static void dmWriteRings(const dmMonitor *m, promWriter *w)
{
    promFamily(w, "xchg_ring_entries", PROM_GAUGE, "Entries waiting in an rte_ring.");
    for (uint32_t i = 0; i < m->ringCount; i++) {
        promLabel l = {"ring", m->rings[i]->name};
        promSampleU64(w, &l, 1, rte_ring_count(m->rings[i]));
    }
    promFamily(w, "xchg_ring_capacity", PROM_GAUGE, "Entries an rte_ring holds.");
    for (uint32_t i = 0; i < m->ringCount; i++) {
        promLabel l = {"ring", m->rings[i]->name};
        promSampleU64(w, &l, 1, rte_ring_get_capacity(m->rings[i]));
    }
    promFamily(w, "xchg_mbuf_pool_in_use", PROM_GAUGE,
               "Mbufs of a worker's pool in use (lcore caches counted as free).");
    for (uint32_t i = 0; i < m->opt.workerCount; i++) {
        const struct rte_mempool *p = wkPool(m->opt.workers[i]);
        promLabel l = {"pool", p->name};
        promSampleU64(w, &l, 1, rte_mempool_in_use_count(p));
    }
    promFamily(w, "xchg_mbuf_pool_size", PROM_GAUGE, "Mbufs of a worker's pool.");
    for (uint32_t i = 0; i < m->opt.workerCount; i++) {
        const struct rte_mempool *p = wkPool(m->opt.workers[i]);
        promLabel l = {"pool", p->name};
        promSampleU64(w, &l, 1, p->size);
    }
}

/* ---- Prometheus: the ITCH feed of each segment ------------------------------------------ */

static const dmField dmFeedCounters[] = {
    {"xchg_feed_messages_total", "ITCH messages sequenced on the segment's feed.",
     offsetof(wkSnapshot, feed.messages)},
    {"xchg_feed_packets_total", "MoldUDP64 packets with messages sent.",
     offsetof(wkSnapshot, feed.packets)},
    {"xchg_feed_heartbeats_total", "Feed heartbeat packets sent.",
     offsetof(wkSnapshot, feed.heartbeats)},
    {"xchg_feed_end_of_session_total", "Feed end-of-session packets sent.",
     offsetof(wkSnapshot, feed.endOfSession)},
    {"xchg_feed_sent_bytes_total", "UDP payload bytes of every feed packet sent.",
     offsetof(wkSnapshot, feed.bytes)},
    {"xchg_feed_retransmitted_packets_total", "Packets sent answering retransmission requests.",
     offsetof(wkSnapshot, feedServer.retransPackets)},
    {"xchg_feed_retransmitted_messages_total", "Messages resent answering retransmission requests.",
     offsetof(wkSnapshot, feedServer.retransMessages)},
    {"xchg_feed_snapshot_packets_total", "Packets of book snapshots sent.",
     offsetof(wkSnapshot, feedServer.snapshotPackets)},
    {"xchg_feed_snapshot_messages_total", "Messages of book snapshots sent.",
     offsetof(wkSnapshot, feedServer.snapshotMessages)},
};

static const struct {
    const char *type;
    size_t off;
} dmFeedRequests[] = {{"answered", offsetof(wkSnapshot, feedServer.answered)},
                      {"snapshot", offsetof(wkSnapshot, feedServer.snapshots)},
                      {"malformed", offsetof(wkSnapshot, feedServer.malformed)},
                      {"wrong_session", offsetof(wkSnapshot, feedServer.wrongSession)},
                      {"rate_limited", offsetof(wkSnapshot, feedServer.rateLimited)},
                      {"not_yet_sent", offsetof(wkSnapshot, feedServer.notYetSent)},
                      {"gone", offsetof(wkSnapshot, feedServer.gone)},
                      {"snapshot_busy", offsetof(wkSnapshot, feedServer.snapshotBusy)},
                      {"snapshot_failed", offsetof(wkSnapshot, feedServer.snapshotFailed)}},
  dmFeedAnomalies[] = {{"unknown_order", offsetof(wkSnapshot, feed.unknownOrder)},
                       {"unexpected", offsetof(wkSnapshot, feed.unexpected)},
                       {"price_clipped", offsetof(wkSnapshot, feed.priceClipped)},
                       {"snapshot_mismatch", offsetof(wkSnapshot, feed.snapshotMismatches)}};

/* Labelled counter family over every worker: one sample per (segment, entry). */
static void dmWriteLabelled(const dmMonitor *m, promWriter *w, const dmSnap *s, const char *name,
                            const char *help, const char *label, const char *const *values,
                            const size_t *offs, size_t n)
{
    promFamily(w, name, PROM_COUNTER, help);
    for (uint32_t i = 0; i < m->opt.workerCount; i++) {
        dmWorkerLabels L;
        dmLabels(m, i, &L);
        for (size_t k = 0; s[i].ok && k < n; k++) {
            promLabel l[2] = {L.l[0], {label, values[k]}};
            promSampleU64(w, l, 2, SNAP_U64(s[i].snap, offs[k]));
        }
    }
}

static void dmWriteFeed(const dmMonitor *m, promWriter *w, const dmSnap *s)
{
    for (size_t f = 0; f < sizeof dmFeedCounters / sizeof dmFeedCounters[0]; f++) {
        promFamily(w, dmFeedCounters[f].name, PROM_COUNTER, dmFeedCounters[f].help);
        for (uint32_t i = 0; i < m->opt.workerCount; i++) {
            dmWorkerLabels L;
            dmLabels(m, i, &L);
            if (s[i].ok)
                promSampleU64(w, L.l, 1, SNAP_U64(s[i].snap, dmFeedCounters[f].off));
        }
    }
    /* the ITCH message types the feed sends (docs/protocol/feed.md) */
    static const char types[] = "SRHAFECXDUPQI";
    promFamily(w, "xchg_feed_messages_by_type_total", PROM_COUNTER,
               "ITCH messages sequenced, by message type letter.");
    for (uint32_t i = 0; i < m->opt.workerCount; i++) {
        dmWorkerLabels L;
        dmLabels(m, i, &L);
        for (size_t k = 0; s[i].ok && types[k]; k++) {
            char t[2] = {types[k], 0};
            promLabel l[2] = {L.l[0], {"type", t}};
            promSampleU64(w, l, 2, s[i].snap->feed.byType[types[k] - 'A']);
        }
    }
    const char *rv[16], *av[8];
    size_t ro[16], ao[8];
    const size_t nr = sizeof dmFeedRequests / sizeof dmFeedRequests[0];
    const size_t na = sizeof dmFeedAnomalies / sizeof dmFeedAnomalies[0];
    for (size_t k = 0; k < nr; k++) {
        rv[k] = dmFeedRequests[k].type;
        ro[k] = dmFeedRequests[k].off;
    }
    for (size_t k = 0; k < na; k++) {
        av[k] = dmFeedAnomalies[k].type;
        ao[k] = dmFeedAnomalies[k].off;
    }
    dmWriteLabelled(m, w, s, "xchg_feed_requests_total",
                    "Retransmission and snapshot requests, by outcome.", "outcome", rv, ro, nr);
    dmWriteLabelled(m, w, s, "xchg_feed_anomalies_total",
                    "Events the feed builder could not map (all 0 with a correct matcher).", "kind",
                    av, ao, na);
    promFamily(w, "xchg_feed_next_sequence", PROM_GAUGE,
               "Sequence number of the feed's next message.");
    for (uint32_t i = 0; i < m->opt.workerCount; i++) {
        dmWorkerLabels L;
        dmLabels(m, i, &L);
        if (s[i].ok)
            promSampleU64(w, L.l, 1, s[i].snap->feed.nextSequence);
    }
    promFamily(w, "xchg_feed_orders_open", PROM_GAUGE, "Orders on the book the feed describes.");
    for (uint32_t i = 0; i < m->opt.workerCount; i++) {
        dmWorkerLabels L;
        dmLabels(m, i, &L);
        if (s[i].ok)
            promSampleU64(w, L.l, 1, s[i].snap->feed.ordersOpen);
    }
    static const struct {
        const char *name, *help;
        size_t off;
    } h[] = {{"xchg_feed_request_seconds",
              "Worker time per retransmission request, answers built and queued.",
              offsetof(wkSnapshot, feedReqNs)},
             {"xchg_feed_snapshot_seconds", "Worker time per snapshot request.",
              offsetof(wkSnapshot, feedSnapNs)}};
    for (size_t k = 0; k < 2; k++) {
        promFamily(w, h[k].name, PROM_HISTOGRAM, h[k].help);
        for (uint32_t i = 0; i < m->opt.workerCount; i++) {
            if (!s[i].ok)
                continue;
            dmWorkerLabels L;
            dmLabels(m, i, &L);
            promHistLog(w, L.l, 1, (const histLog *)((const char *)s[i].snap + h[k].off), DM_NS);
        }
    }
}

static int dmSourceDataplane(void *ctx, promWriter *w)
{
    dmMonitor *m = ctx;
    dmReadAll(m, m->scrape);
    int failed = 0;
    for (uint32_t i = 0; i < m->opt.workerCount; i++)
        failed |= !m->scrape[i].ok;
    dmWriteLcores(m, w, m->scrape);
    dmWriteFields(m, w, m->scrape);
    dmWriteByType(m, w, m->scrape);
    dmWriteDrops(m, w, m->scrape);
    dmWriteGauges(m, w, m->scrape);
    dmWriteHistograms(m, w, m->scrape);
    dmWriteInstruments(m, w, m->scrape);
    dmWriteFeed(m, w, m->scrape);
    return failed ? -1 : 0;
}

static int dmSourceRings(void *ctx, promWriter *w)
{
    dmWriteRings(ctx, w);
    return 0;
}

/* ---- Prometheus: the port, the host, the HTTP server ------------------------------------ */

static int dmSourcePort(void *ctx, promWriter *w)
{
    dmMonitor *m = ctx;
    struct rte_eth_stats st;
    if (rte_eth_stats_get(m->opt.portId, &st) != 0)
        return -1;
    const struct {
        const char *name, *help;
        uint64_t v;
    } f[] = {
        {"xchg_port_rx_packets_total", "Packets the port received (rte_eth_stats ipackets).",
         st.ipackets},
        {"xchg_port_tx_packets_total", "Packets the port sent (opackets).", st.opackets},
        {"xchg_port_rx_bytes_total", "Bytes the port received (ibytes).", st.ibytes},
        {"xchg_port_tx_bytes_total", "Bytes the port sent (obytes).", st.obytes},
        {"xchg_port_rx_missed_total", "Packets the port dropped for a full RX queue (imissed).",
         st.imissed},
        {"xchg_port_rx_errors_total", "Erroneous packets received (ierrors).", st.ierrors},
        {"xchg_port_tx_errors_total", "Packets that failed to be sent (oerrors).", st.oerrors},
        {"xchg_port_rx_nombuf_total", "RX mbuf allocation failures (rx_nombuf).", st.rx_nombuf}};
    promLabel l = {"port", m->portName};
    for (size_t k = 0; k < sizeof f / sizeof f[0]; k++) {
        promFamily(w, f[k].name, PROM_COUNTER, f[k].help);
        promSampleU64(w, &l, 1, f[k].v);
    }
    if (m->xstatCount <= 0)
        return 0;
    int n = rte_eth_xstats_get(m->opt.portId, m->xstats, (unsigned)m->xstatCount);
    if (n != m->xstatCount)
        return -1;
    promFamily(w, "xchg_port_xstats_total", PROM_COUNTER,
               "The PMD's extended statistics (rte_eth_xstats), by name.");
    for (int k = 0; k < n; k++) {
        uint64_t id = m->xstats[k].id;
        if (id >= (uint64_t)m->xstatCount)
            continue;
        promLabel xl[2] = {l, {"name", m->xstatNames[id].name}};
        promSampleU64(w, xl, 2, m->xstats[k].value);
    }
    return 0;
}

static int dmSourceHost(void *ctx, promWriter *w)
{
    const dmMonitor *m = ctx;
    return hmWriteProm(w, m->host);
}

static int dmSourceHttp(void *ctx, promWriter *w)
{
    const dmMonitor *m = ctx;
    promServerStats st;
    promServerGetStats(m->server, &st);
    const struct {
        const char *name, *help;
        uint64_t v;
        promType t;
    } f[] = {
        {"xchg_metrics_http_connections_total", "Connections the metrics server accepted.",
         st.accepted, PROM_COUNTER},
        {"xchg_metrics_http_timeouts_total", "Connections closed for idling.", st.timeouts,
         PROM_COUNTER},
        {"xchg_metrics_http_sent_bytes_total", "Response bytes sent.", st.bytesSent, PROM_COUNTER},
        {"xchg_metrics_http_clients", "Connections open now.", st.clients, PROM_GAUGE},
        {"xchg_metrics_http_last_body_bytes", "Length of the previous /metrics body.", st.lastBody,
         PROM_GAUGE}};
    for (size_t k = 0; k < sizeof f / sizeof f[0]; k++) {
        promFamily(w, f[k].name, f[k].t, f[k].help);
        promSampleU64(w, NULL, 0, f[k].v);
    }
    promFamily(w, "xchg_metrics_http_responses_total", PROM_COUNTER,
               "Responses of the metrics server, by outcome.");
    const struct {
        const char *code;
        uint64_t v;
    } r[] = {{"200", st.ok},
             {"404", st.notFound},
             {"4xx_other", st.badRequest},
             {"500", st.renderFails}};
    for (size_t k = 0; k < sizeof r / sizeof r[0]; k++) {
        promLabel l = {"code", r[k].code};
        promSampleU64(w, &l, 1, r[k].v);
    }
    return 0;
}

int dmRegisterSources(dmMonitor *m, promServer *server)
{
    m->server = server;
    if (metricsAddSource("dataplane", dmSourceDataplane, m) ||
        metricsAddSource("rings", dmSourceRings, m) || metricsAddSource("port", dmSourcePort, m) ||
        metricsAddSource("host", dmSourceHost, m))
        return -1;
    return server ? metricsAddSource("http", dmSourceHttp, m) : 0;
}

/* ---- JSON: latency, host, instruments ----------------------------------------------------- */

/* cycles -> ns when unitsPerSecond is a TSC rate */
static json_int_t dmToNs(uint64_t v, uint64_t unitsPerSecond)
{
    return (json_int_t)((unsigned __int128)v * DM_NS / unitsPerSecond);
}

static json_t *dmLatencyJson(const histLog *h, uint64_t unitsPerSecond)
{
    if (!h->total) /* no observation: no percentile to show */
        return json_pack("{s:i, s:n, s:n, s:n, s:n, s:n}", "count", 0, "p50_ns", "p90_ns", "p99_ns",
                         "p999_ns", "max_ns");
    return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "count", (json_int_t)h->total, "p50_ns",
                     dmToNs(histQuantile(h, 1, 2), unitsPerSecond), "p90_ns",
                     dmToNs(histQuantile(h, 9, 10), unitsPerSecond), "p99_ns",
                     dmToNs(histQuantile(h, 99, 100), unitsPerSecond), "p999_ns",
                     dmToNs(histQuantile(h, 999, 1000), unitsPerSecond), "max_ns",
                     dmToNs(h->max, unitsPerSecond));
}

/* cur - prev into out; out->max is the top of the highest non-empty bucket,
 * capped at cur's largest value. */
static void dmHistDiff(histLog *out, const histLog *cur, const histLog *prev)
{
    out->total = 0;
    out->max = 0;
    for (uint32_t b = 0; b < HIST_BUCKETS; b++) {
        uint64_t d = cur->count[b] >= prev->count[b] ? cur->count[b] - prev->count[b] : 0;
        out->count[b] = d;
        out->total += d;
        if (d)
            out->max = b + 1 < HIST_BUCKETS ? histBucketLow(b + 1) - 1 : cur->max;
    }
    if (out->max > cur->max)
        out->max = cur->max;
}

static json_t *dmPriceJson(const cfgInstrument *in, uint32_t levels, int64_t ticks)
{
    char buf[48];
    if (!levels)
        return json_null();
    cfgFormatPrice(in, ticks, buf, sizeof buf);
    return json_string(buf);
}

static json_t *dmInstrumentJson(const cfgInstrument *in, const cfgSegment *seg,
                                const wkInstrumentSnap *is)
{
    json_t *o =
        json_pack("{s:s, s:i, s:s, s:I, s:I, s:I}", "id", in->id, "segment", seg->id, "state",
                  is->state >= 0 && is->state < 4 ? dmStateNames[is->state] : "?", "orders",
                  (json_int_t)is->counts.orders, "trades", (json_int_t)is->counts.trades,
                  "traded_lots", (json_int_t)is->counts.tradedLots);
    json_object_set_new(o, "bid", dmPriceJson(in, is->bidLevels, is->bidTicks));
    json_object_set_new(o, "bid_qty", json_integer((json_int_t)is->bidLots));
    json_object_set_new(o, "ask", dmPriceJson(in, is->askLevels, is->askTicks));
    json_object_set_new(o, "ask_qty", json_integer((json_int_t)is->askLots));
    json_object_set_new(o, "bid_levels", json_integer(is->bidLevels));
    json_object_set_new(o, "ask_levels", json_integer(is->askLevels));
    return o;
}

/* A load average kept in hundredths, as "1.05". */
static json_t *dmLoadJson(uint32_t hundredths)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%u.%02u", hundredths / 100, hundredths % 100);
    return json_string(buf);
}

/* Rate of a counter over an interval, per second, rounded down. */
static json_int_t dmRate(uint64_t cur, uint64_t prev, uint64_t ns)
{
    if (!ns || cur < prev)
        return 0;
    return (json_int_t)((unsigned __int128)(cur - prev) * DM_NS / ns);
}

static json_t *dmHostJson(const dmMonitor *m)
{
    const hmSample *h = hmSamplerLatest(m->host), *p = hmSamplerPrevious(m->host);
    if (!h)
        return json_null();
    json_t *cpus = json_array();
    for (uint32_t c = 0; c < h->lim.maxCpus; c++) {
        const hmCpuUtil *u = hmSamplerCpuUtil(m->host, c);
        if (!h->cpuOnline[c])
            continue;
        json_t *o = json_pack("{s:i}", "cpu", (int)c);
        json_object_set_new(o, "busy_permille", u ? json_integer(u->busy) : json_null());
        json_object_set_new(o, "user_permille",
                            u ? json_integer(u->mode[HM_CPU_USER] + u->mode[HM_CPU_NICE])
                              : json_null());
        json_object_set_new(
            o, "system_permille",
            u ? json_integer(u->mode[HM_CPU_SYSTEM] + u->mode[HM_CPU_IRQ] + u->mode[HM_CPU_SOFTIRQ])
              : json_null());
        json_object_set_new(o, "steal_permille",
                            u ? json_integer(u->mode[HM_CPU_STEAL]) : json_null());
        json_array_append_new(cpus, o);
    }
    const hmMemField *tot = hmMemFind(h, "MemTotal"), *av = hmMemFind(h, "MemAvailable");
    const hmMemField *hpt = hmMemFind(h, "HugePages_Total"), *hpf = hmMemFind(h, "HugePages_Free");
    json_t *mem = json_pack(
        "{s:I, s:I, s:I, s:I}", "total_bytes", (json_int_t)(tot ? tot->value : 0),
        "available_bytes", (json_int_t)(av ? av->value : 0), "hugepages_total",
        (json_int_t)(hpt ? hpt->value : 0), "hugepages_free", (json_int_t)(hpf ? hpf->value : 0));
    json_t *net = json_array();
    uint64_t ns = p ? h->monoNs - p->monoNs : 0;
    for (uint32_t i = 0; i < h->ifCount; i++) {
        const hmNetDev *d = &h->net[i], *pd = p ? hmNetFind(p, d->name) : NULL;
        json_t *o = json_pack("{s:s, s:I, s:I}", "device", d->name, "rx_bytes",
                              (json_int_t)d->v[HM_NET_RX_BYTES], "tx_bytes",
                              (json_int_t)d->v[HM_NET_TX_BYTES]);
        json_object_set_new(
            o, "rx_bytes_per_s",
            pd ? json_integer(dmRate(d->v[HM_NET_RX_BYTES], pd->v[HM_NET_RX_BYTES], ns))
               : json_null());
        json_object_set_new(
            o, "tx_bytes_per_s",
            pd ? json_integer(dmRate(d->v[HM_NET_TX_BYTES], pd->v[HM_NET_TX_BYTES], ns))
               : json_null());
        json_object_set_new(
            o, "rx_packets_per_s",
            pd ? json_integer(dmRate(d->v[HM_NET_RX_PACKETS], pd->v[HM_NET_RX_PACKETS], ns))
               : json_null());
        json_object_set_new(
            o, "tx_packets_per_s",
            pd ? json_integer(dmRate(d->v[HM_NET_TX_PACKETS], pd->v[HM_NET_TX_PACKETS], ns))
               : json_null());
        json_array_append_new(net, o);
    }
    const hmCpuUtil *all = hmSamplerCpuUtilAll(m->host);
    json_t *o = json_pack("{s:o, s:o, s:o, s:o}", "cpus", cpus, "memory", mem, "network", net,
                          "load1", dmLoadJson(h->load[0]));
    json_object_set_new(o, "load5", dmLoadJson(h->load[1]));
    json_object_set_new(o, "load15", dmLoadJson(h->load[2]));
    json_object_set_new(o, "busy_permille", all ? json_integer(all->busy) : json_null());
    return o;
}

static json_t *dmPortJson(const dmMonitor *m)
{
    struct rte_eth_stats st;
    if (rte_eth_stats_get(m->opt.portId, &st) != 0)
        return json_null();
    return json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "port", m->portName,
                     "ipackets", (json_int_t)st.ipackets, "opackets", (json_int_t)st.opackets,
                     "ibytes", (json_int_t)st.ibytes, "obytes", (json_int_t)st.obytes, "imissed",
                     (json_int_t)st.imissed, "ierrors", (json_int_t)st.ierrors, "oerrors",
                     (json_int_t)st.oerrors, "rx_nombuf", (json_int_t)st.rx_nombuf);
}

/* ---- stats ------------------------------------------------------------------------------- */

static json_t *dmDropsJson(const wkSnapshot *s)
{
    json_t *o = json_object();
    for (int k = NET_DROP_SHORT; k < NET_KIND_COUNT; k++)
        if (s->counters.kinds[k])
            json_object_set_new(o, netKindName((netKind)k) + 5,
                                json_integer((json_int_t)s->counters.kinds[k]));
    for (size_t k = 0; k < sizeof dmDropsFixed / sizeof dmDropsFixed[0]; k++)
        if (SNAP_U64(s, dmDropsFixed[k].off))
            json_object_set_new(o, dmDropsFixed[k].type,
                                json_integer((json_int_t)SNAP_U64(s, dmDropsFixed[k].off)));
    for (int e = 1; e < 32; e++)
        if (s->gateway.malformed[e]) {
            char reason[48];
            snprintf(reason, sizeof reason, "malformed_%s", xoeErrorName(e));
            json_object_set_new(o, reason, json_integer((json_int_t)s->gateway.malformed[e]));
        }
    return o;
}

void dmStatsAugment(dmMonitor *m, json_t *data)
{
    dmReadAll(m, m->scrape);
    json_t *segs = json_object_get(data, "segments");
    json_t *ins = json_array();
    for (uint32_t i = 0; i < m->opt.workerCount; i++) {
        const wkSnapshot *s = m->scrape[i].snap;
        if (!m->scrape[i].ok)
            continue;
        json_t *seg = json_array_get(segs, i);
        if (seg) {
            json_object_set_new(seg, "lcore", json_integer(m->opt.cfg->segments[i].lcore));
            json_object_set_new(seg, "matcher_latency", dmLatencyJson(&s->matchCycles, s->tscHz));
            json_object_set_new(seg, "sessions_by_state",
                                json_pack("{s:i, s:i, s:i}", "idle", s->sessions[0], "logged_on",
                                          s->sessions[1], "disabled", s->sessions[2]));
            json_object_set_new(seg, "drops", dmDropsJson(s));
            json_object_set_new(seg, "request_ring", json_integer(s->requestRing));
        }
        for (uint32_t b = 0; b < s->instrumentCount; b++)
            if (m->ins[i][b])
                json_array_append_new(
                    ins, dmInstrumentJson(m->ins[i][b], &m->opt.cfg->segments[i], &s->ins[b]));
    }
    json_object_set_new(data, "instruments", ins);
    json_object_set_new(data, "port", dmPortJson(m));
    json_object_set_new(data, "host", dmHostJson(m));
}

/* ---- top ---------------------------------------------------------------------------------- */

static json_t *dmCoresJson(dmMonitor *m, uint64_t ns)
{
    json_t *cores = json_array();
    unsigned ctl = m->opt.cfg->lcores.control;
    const hmCpuUtil *u = hmSamplerCpuUtil(m->host, rte_lcore_to_cpu_id((int)ctl));
    json_t *c = json_pack("{s:i, s:i, s:s}", "lcore", (int)ctl, "cpu",
                          rte_lcore_to_cpu_id((int)ctl), "role", "control");
    json_object_set_new(c, "busy_permille", u ? json_integer(u->busy) : json_null());
    json_array_append_new(cores, c);
    for (uint32_t i = 0; i < m->opt.workerCount; i++) {
        const cfgSegment *seg = &m->opt.cfg->segments[i];
        c = json_pack("{s:i, s:i, s:s, s:i}", "lcore", seg->lcore, "cpu",
                      rte_lcore_to_cpu_id(seg->lcore), "role", "worker", "segment", seg->id);
        json_t *busy = json_null();
        if (ns && m->cur[i].ok && m->prev[i].ok) {
            const wkCounters *a = &m->cur[i].snap->counters, *b = &m->prev[i].snap->counters;
            uint64_t db = a->busyCycles - b->busyCycles, di = a->idleCycles - b->idleCycles;
            busy = json_integer(db + di ? (json_int_t)(db * 1000 / (db + di)) : 0);
        }
        json_object_set_new(c, "busy_permille", busy);
        json_array_append_new(cores, c);
    }
    return cores;
}

typedef struct {
    uint32_t seg, book;
    uint64_t activity; /* orders + trades in the interval, then in total */
    uint64_t total;
} dmBusy;

static int dmBusyCmp(const void *a, const void *b)
{
    const dmBusy *x = a, *y = b;
    if (x->activity != y->activity)
        return x->activity < y->activity ? 1 : -1;
    if (x->total != y->total)
        return x->total < y->total ? 1 : -1;
    return x->seg != y->seg ? (x->seg < y->seg ? -1 : 1) : (x->book < y->book ? -1 : 1);
}

/* The `books` busiest instruments of the interval, with their top of book. */
static json_t *dmBooksJson(dmMonitor *m, uint32_t books, uint64_t ns)
{
    dmBusy *list = calloc(m->opt.cfg->instrumentCount + 1u, sizeof *list);
    uint32_t n = 0;
    json_t *out = json_array();
    if (!list)
        return out;
    for (uint32_t i = 0; i < m->opt.workerCount; i++) {
        if (!m->cur[i].ok)
            continue;
        const wkSnapshot *s = m->cur[i].snap, *p = m->prev[i].ok ? m->prev[i].snap : NULL;
        for (uint32_t b = 0; b < s->instrumentCount && n < m->opt.cfg->instrumentCount; b++) {
            if (!m->ins[i][b])
                continue;
            const gwInstrumentStats *c = &s->ins[b].counts;
            uint64_t tot = c->orders + c->trades, was = 0;
            if (p)
                was = p->ins[b].counts.orders + p->ins[b].counts.trades;
            list[n++] = (dmBusy){i, b, tot >= was ? tot - was : 0, tot};
        }
    }
    qsort(list, n, sizeof *list, dmBusyCmp);
    for (uint32_t k = 0; k < n && k < books; k++) {
        const dmBusy *e = &list[k];
        const wkSnapshot *s = m->cur[e->seg].snap;
        const wkSnapshot *p = m->prev[e->seg].ok ? m->prev[e->seg].snap : NULL;
        json_t *o = dmInstrumentJson(m->ins[e->seg][e->book], &m->opt.cfg->segments[e->seg],
                                     &s->ins[e->book]);
        const gwInstrumentStats *c = &s->ins[e->book].counts;
        json_object_set_new(o, "orders_per_s",
                            p ? json_integer(dmRate(c->orders, p->ins[e->book].counts.orders, ns))
                              : json_null());
        json_object_set_new(o, "trades_per_s",
                            p ? json_integer(dmRate(c->trades, p->ins[e->book].counts.trades, ns))
                              : json_null());
        json_array_append_new(out, o);
    }
    free(list);
    return out;
}

static json_t *dmRatesJson(dmMonitor *m, uint64_t ns)
{
    uint64_t cur[6] = {0}, prev[6] = {0};
    int have = ns != 0;
    for (uint32_t i = 0; i < m->opt.workerCount; i++) {
        const wkSnapshot *s = m->cur[i].ok ? m->cur[i].snap : NULL;
        const wkSnapshot *p = m->prev[i].ok ? m->prev[i].snap : NULL;
        have = have && s && p;
        const wkSnapshot *both[2] = {s, p};
        uint64_t *into[2] = {cur, prev};
        for (int k = 0; k < 2; k++) {
            if (!both[k])
                continue;
            into[k][0] += both[k]->gateway.newOrders;
            into[k][1] += both[k]->matcher.fills;
            into[k][2] += both[k]->gateway.cancels;
            into[k][3] += both[k]->gateway.datagramsIn;
            into[k][4] += both[k]->counters.rxPackets;
            into[k][5] += both[k]->counters.txPackets;
        }
    }
    static const char *const names[6] = {"orders",       "trades",     "cancels",
                                         "datagrams_in", "rx_packets", "tx_packets"};
    json_t *o = json_object();
    for (int k = 0; k < 6; k++) {
        char key[40];
        snprintf(key, sizeof key, "%s_per_s", names[k]);
        json_object_set_new(o, key, have ? json_integer(dmRate(cur[k], prev[k], ns)) : json_null());
        json_object_set_new(o, names[k], json_integer((json_int_t)cur[k]));
    }
    return o;
}

/* Latency over the interval, per segment and histogram; since start when
 * there is no earlier snapshot. */
static json_t *dmTopLatencyJson(dmMonitor *m)
{
    static const struct {
        const char *name;
        size_t off;
        int cycles;
    } h[] = {{"in_box", offsetof(wkSnapshot, inBoxNs), 0},
             {"matcher", offsetof(wkSnapshot, matchCycles), 1},
             {"tx_call", offsetof(wkSnapshot, txCallNs), 0}};
    json_t *out = json_array();
    for (uint32_t i = 0; i < m->opt.workerCount; i++) {
        if (!m->cur[i].ok)
            continue;
        const wkSnapshot *s = m->cur[i].snap;
        for (size_t k = 0; k < sizeof h / sizeof h[0]; k++) {
            const histLog *c = (const histLog *)((const char *)s + h[k].off);
            const histLog *hl = c;
            if (m->prev[i].ok) {
                dmHistDiff(&m->diff, c,
                           (const histLog *)((const char *)m->prev[i].snap + h[k].off));
                hl = &m->diff;
            }
            json_t *o = dmLatencyJson(hl, h[k].cycles ? s->tscHz : DM_NS);
            json_object_set_new(o, "name", json_string(h[k].name));
            json_object_set_new(o, "segment", json_integer(m->opt.cfg->segments[i].id));
            json_object_set_new(o, "window", json_string(m->prev[i].ok ? "interval" : "total"));
            json_array_append_new(out, o);
        }
    }
    return out;
}

static int dmCmdTop(void *ctx, json_t *args, json_t **data, ctlError *err)
{
    dmMonitor *m = ctx;
    json_t *jb = json_object_get(args, "books");
    json_int_t books = jb ? json_integer_value(jb) : 5;
    if ((jb && !json_is_integer(jb)) || books < 0 || books > DM_TOP_BOOKS_MAX)
        return ctlErrorf(err, 1008, "args.books: an integer from 0 to %d", DM_TOP_BOOKS_MAX);
    json_t *ja = json_object_get(args, "accounts");
    json_int_t accounts = ja ? json_integer_value(ja) : 5;
    if ((ja && !json_is_integer(ja)) || accounts < 0 || accounts > DM_TOP_ACCOUNTS_MAX)
        return ctlErrorf(err, 1008, "args.accounts: an integer from 0 to %d", DM_TOP_ACCOUNTS_MAX);
    uint64_t ns = m->ticks > 1 ? m->curNs - m->prevNs : 0;
    json_t *o = json_object();
    json_object_set_new(o, "interval_ms", json_integer((json_int_t)(ns / 1000000)));
    json_object_set_new(o, "cores", dmCoresJson(m, ns));
    json_object_set_new(o, "rates", dmRatesJson(m, ns));
    json_object_set_new(o, "latency", dmTopLatencyJson(m));
    json_object_set_new(o, "books", dmBooksJson(m, (uint32_t)books, ns));
    json_t *acc = m->accounts ? m->accounts(m->accountsCtx, (uint32_t)accounts) : NULL;
    json_object_set_new(o, "accounts",
                        acc ? acc
                            : json_pack("{s:b, s:s}", "available", 0, "message",
                                        m->accounts ? "accounts could not be read (memory)"
                                                    : "this daemon keeps no accounts"));
    json_object_set_new(o, "host", dmHostJson(m));
    *data = o;
    return 0;
}

void dmSetAccounts(dmMonitor *m, dmAccountsFn *fn, void *ctx)
{
    m->accounts = fn;
    m->accountsCtx = ctx;
}

int dmRegisterCommands(dmMonitor *m, ctlServer *s)
{
    return ctlServerRegister(s, "top", dmCmdTop, m,
                             "[books=N] [accounts=N]: live view data (xchgctl top): cores, rates, "
                             "latency, busiest books, accounts nearest liquidation, host");
}
