/* mdservice.c -- xchgd's summary market data service on the control lcore (rings, clock, channel,
 * commands). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

#include "control/mdsummary.h"
#include "control/metrics.h"
#include "dataplane/mdservice.h"

#define MDSV_GRACE_NS   UINT64_C(100000000) /* bars close 100 ms after their end: fills in flight */
#define MDSV_BURST      256
#define MDSV_MAX_BURSTS 64 /* per worker per poll: bounded work */
#define MDSV_POOL       1023
#define MDSV_TIMEOUT_MS 1000

struct mdsvService {
    const cfgConfig *cfg;
    wkWorker **workers;
    uint32_t workerCount;
    mds *md;
    mdsPacker packer;
    struct rte_mempool *pool;
    uint8_t mac[NET_MAC_LEN], groupMac[NET_MAC_LEN];
    uint32_t ip;
    uint64_t nextSnapshotNs;
    uint32_t sessionDay; /* trading day of the packer's session */
    wkRequest *req;      /* reused for book requests; replaced if a worker times out */
    uint64_t packets, packetsDropped, snapshots, bookTimeouts;
    uint64_t received; /* trades taken off the workers' rings */
};

static uint64_t mdsvNowNs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * MDS_SECOND_NS + (uint64_t)ts.tv_nsec;
}

/* ---- the channel ---------------------------------------------------------------------- */

/* A finished MoldUDP64 packet: Ethernet/IPv4/UDP to the group, handed to
 * segment 0's worker (the control lcore has no TX queue of its own). */
static void mdsvSend(void *ctx, const uint8_t *pkt, uint16_t len)
{
    mdsvService *s = ctx;
    const cfgMarketData *md = &s->cfg->marketData;
    if (!md->summaryPort)
        return; /* the channel is off: md.* commands only */
    struct rte_mbuf *m = rte_pktmbuf_alloc(s->pool);
    uint8_t *f = m ? (uint8_t *)rte_pktmbuf_append(m, (uint16_t)(NET_UDP_HLEN + len)) : NULL;
    if (!f) {
        rte_pktmbuf_free(m);
        s->packetsDropped++;
        return;
    }
    memcpy(f + NET_UDP_HLEN, pkt, len);
    netUdpHeaders(f, s->mac, s->groupMac, s->ip, md->summaryGroup, md->summaryPort, md->summaryPort,
                  len);
    if (rte_ring_sp_enqueue(wkSummaryTxRing(s->workers[0]), m) != 0) {
        rte_pktmbuf_free(m);
        s->packetsDropped++;
        return;
    }
    s->packets++;
}

/* A new trading day is a new MoldUDP64 session starting at sequence 1. */
static void mdsvSession(mdsvService *s)
{
    const uint32_t day = mdsTradingDay(s->md);
    if (day != s->sessionDay) {
        mdsPackerFlush(&s->packer);
        mdsPackerInit(&s->packer, day, 0, mdsvSend, s);
        s->sessionDay = day;
    }
}

static void mdsvOnBar(void *ctx, uint16_t instrument, const mdsBar *bar)
{
    mdsvService *s = ctx;
    uint8_t msg[MDS_KLINE_LEN];
    size_t n =
        mdsEncodeKline(msg, instrument, s->cfg->instruments[instrument].id, mdsNow(s->md), bar);
    mdsPackerAdd(&s->packer, msg, (uint16_t)n);
}

/* Called at the rollover, before the new day starts: still the old session. */
static void mdsvOnDaily(void *ctx, uint16_t instrument, const mdsDaily *d)
{
    mdsvService *s = ctx;
    uint8_t msg[MDS_DAILY_LEN];
    size_t n =
        mdsEncodeDaily(msg, instrument, s->cfg->instruments[instrument].id, mdsNow(s->md), d);
    mdsPackerAdd(&s->packer, msg, (uint16_t)n);
}

/* ---- aggregation ---------------------------------------------------------------------------- */

static void mdsvDrain(mdsvService *s)
{
    mdsSync(s->md); /* instruments added since: before their first trade is taken */
    mdsTrade t[MDSV_BURST];
    for (uint32_t w = 0; w < s->workerCount; w++) {
        struct rte_ring *r = wkTradeRing(s->workers[w]);
        for (int b = 0; b < MDSV_MAX_BURSTS; b++) {
            unsigned n = rte_ring_sc_dequeue_burst_elem(r, t, sizeof t[0], MDSV_BURST, NULL);
            s->received += n;
            for (unsigned i = 0; i < n; i++) {
                mdsOnTrade(s->md, &t[i]);
                mdsvSession(s);
            }
            if (n < MDSV_BURST)
                break;
        }
    }
}

/* Book depth from the instrument's worker, in 1e-4 price units. Returns 0,
 * -1 if the worker did not answer in time. */
static int mdsvBook(mdsvService *s, const cfgInstrument *ins, mdsLevel *bids, uint32_t *nb,
                    mdsLevel *asks, uint32_t *na)
{
    if (!s->req && !(s->req = malloc(sizeof *s->req)))
        return -1;
    memset(s->req, 0, sizeof *s->req);
    s->req->type = WK_REQ_BOOK;
    s->req->arg.book.instrument = ins->book;
    s->req->arg.book.depth = MDS_LEVELS;
    if (wkCall(s->workers[ins->segIndex], s->req, MDSV_TIMEOUT_MS) != 0) {
        s->req = NULL; /* the worker may still write it: leave it allocated */
        s->bookTimeouts++;
        return -1;
    }
    *nb = s->req->out.book.nbids < MDS_LEVELS ? s->req->out.book.nbids : MDS_LEVELS;
    *na = s->req->out.book.nasks < MDS_LEVELS ? s->req->out.book.nasks : MDS_LEVELS;
    for (uint32_t i = 0; i < *nb; i++)
        bids[i] = (mdsLevel){s->req->out.book.bids[i].price * ins->tickSize,
                             s->req->out.book.bids[i].qty};
    for (uint32_t i = 0; i < *na; i++)
        asks[i] = (mdsLevel){s->req->out.book.asks[i].price * ins->tickSize,
                             s->req->out.book.asks[i].qty};
    return 0;
}

static int mdsvSnapshot(mdsvService *s, uint16_t instrument, uint64_t nowNs, mdsSnapshot *out)
{
    const cfgInstrument *ins = &s->cfg->instruments[instrument];
    mdsLevel bids[MDS_LEVELS], asks[MDS_LEVELS];
    uint32_t nb = 0, na = 0;
    if (mdsvBook(s, ins, bids, &nb, asks, &na) != 0)
        return -1;
    return mdsSnapshotBuild(s->md, instrument, bids, nb, asks, na, nowNs, out);
}

static void mdsvPublishSnapshots(mdsvService *s, uint64_t nowNs)
{
    for (uint32_t i = 0; i < s->cfg->instrumentCount; i++) {
        mdsSnapshot snap;
        if (mdsvSnapshot(s, (uint16_t)i, nowNs, &snap) != 0)
            continue;
        uint8_t msg[MDS_SNAPSHOT_LEN];
        size_t n = mdsEncodeSnapshot(msg, s->cfg->instruments[i].id, &snap);
        mdsPackerAdd(&s->packer, msg, (uint16_t)n);
        s->snapshots++;
    }
}

void mdsvPoll(mdsvService *s)
{
    const uint64_t now = mdsvNowNs();
    mdsvDrain(s);
    mdsTick(s->md, now - MDSV_GRACE_NS);
    mdsvSession(s);
    if (now >= s->nextSnapshotNs && s->cfg->marketData.summaryPort) {
        mdsvPublishSnapshots(s, now);
        s->nextSnapshotNs = (now / MDS_SECOND_NS + 1) * MDS_SECOND_NS;
    }
    mdsPackerFlush(&s->packer);
}

/* ---- commands
 * ------------------------------------------------------------------------------------ */

static json_t *mdsvPrice(const cfgInstrument *ins, int64_t v)
{
    char buf[48];
    cfgFormatDecimal(v, 4, ins->priceDecimals, buf, sizeof buf);
    return json_string(buf);
}

/* A price that may be absent (no trade yet, no level): null. */
static json_t *mdsvPriceOrNull(const cfgInstrument *ins, int64_t v, int present)
{
    return present ? mdsvPrice(ins, v) : json_null();
}

static json_t *mdsvMoney(int64_t v)
{
    char buf[48];
    cfgFormatDecimal(v, 4, 2, buf, sizeof buf);
    return json_string(buf);
}

static const cfgInstrument *mdsvInstrument(mdsvService *s, json_t *args, uint16_t *index,
                                           ctlError *err)
{
    const char *name = json_string_value(json_object_get(args, "instrument"));
    if (!name) {
        ctlErrorf(err, 1008, "args.instrument: an instrument id is required");
        return NULL;
    }
    const cfgInstrument *ins = cfgFindInstrument(s->cfg, name);
    if (!ins) {
        ctlErrorf(err, 1007, "unknown instrument '%s'", name);
        return NULL;
    }
    *index = (uint16_t)(ins - s->cfg->instruments);
    mdsSync(s->md); /* an instrument.add since the last poll */
    return ins;
}

static json_t *mdsvSnapshotJson(const cfgInstrument *ins, const mdsSnapshot *p)
{
    char pct[32];
    cfgFormatDecimal(p->changePercent, 4, 4, pct, sizeof pct);
    const int traded = p->volume > 0;
    json_t *o = json_pack(
        "{s:s, s:I, s:I, s:o, s:s, s:o, s:o, s:o, s:o, s:o, s:I, s:o, s:I, s:o, s:o}",
        "instrument_id", ins->id, "timestamp", (json_int_t)p->timestampNs, "trading_day",
        (json_int_t)p->tradingDay, "last_price", mdsvPrice(ins, p->lastPrice), "change_percent",
        pct, "change_amount", mdsvPrice(ins, p->changeAmount), "pre_close",
        mdsvPrice(ins, p->preClose), "open", mdsvPriceOrNull(ins, p->open, traded), "high",
        mdsvPriceOrNull(ins, p->high, traded), "low", mdsvPriceOrNull(ins, p->low, traded),
        "volume", (json_int_t)p->volume, "turnover", mdsvMoney(p->turnover), "open_interest",
        (json_int_t)p->openInterest, "upper_limit", mdsvPrice(ins, p->upperLimit), "lower_limit",
        mdsvPrice(ins, p->lowerLimit));
    for (unsigned i = 0; i < MDS_LEVELS; i++) {
        char k[32];
        snprintf(k, sizeof k, "bid_price%u", i + 1);
        json_object_set_new(o, k, mdsvPriceOrNull(ins, p->bid[i].price, p->bid[i].qty > 0));
        snprintf(k, sizeof k, "bid_volume%u", i + 1);
        json_object_set_new(o, k, json_integer((json_int_t)p->bid[i].qty));
        snprintf(k, sizeof k, "ask_price%u", i + 1);
        json_object_set_new(o, k, mdsvPriceOrNull(ins, p->ask[i].price, p->ask[i].qty > 0));
        snprintf(k, sizeof k, "ask_volume%u", i + 1);
        json_object_set_new(o, k, json_integer((json_int_t)p->ask[i].qty));
    }
    return o;
}

static int mdsvCmdSnapshot(void *ctx, json_t *args, json_t **data, ctlError *err)
{
    mdsvService *s = ctx;
    uint16_t idx;
    const cfgInstrument *ins = mdsvInstrument(s, args, &idx, err);
    if (!ins)
        return -1;
    mdsvDrain(s); /* every fill the workers made so far */
    mdsSnapshot p;
    if (mdsvSnapshot(s, idx, mdsvNowNs(), &p) != 0)
        return ctlErrorf(err, 5000, "segment %u did not answer within %d ms", ins->segment,
                         MDSV_TIMEOUT_MS);
    *data = mdsvSnapshotJson(ins, &p);
    return 0;
}

static json_t *mdsvBarJson(const cfgInstrument *ins, const mdsBar *b)
{
    return json_pack("{s:I, s:I, s:I, s:o, s:o, s:o, s:o, s:I, s:o, s:I, s:I, s:I, s:b}",
                     "datetime", (json_int_t)b->startNs, "end", (json_int_t)b->endNs, "trading_day",
                     (json_int_t)b->tradingDay, "open", mdsvPrice(ins, b->open), "high",
                     mdsvPrice(ins, b->high), "low", mdsvPrice(ins, b->low), "close",
                     mdsvPrice(ins, b->close), "volume", (json_int_t)b->volume, "amount",
                     mdsvMoney(b->amount), "open_oi", (json_int_t)b->openOi, "close_oi",
                     (json_int_t)b->closeOi, "trades", (json_int_t)b->trades, "finished",
                     b->finished);
}

/* period: a name ("1m") or the numeric code; count: 1..1000, default 100. */
static int mdsvKlineArgs(json_t *args, mdsPeriod *p, uint32_t *count, ctlError *err)
{
    json_t *jp = json_object_get(args, "period"), *jc = json_object_get(args, "count");
    char code[24];
    const char *name = json_string_value(jp);
    if (json_is_integer(jp)) {
        snprintf(code, sizeof code, "%lld", (long long)json_integer_value(jp));
        name = code;
    }
    if (!name || mdsPeriodParse(name, p) != 0)
        return ctlErrorf(err, 1008, "args.period: one of 3s, 1m, 5m, 15m, 30m, 60m, day");
    json_int_t c = jc ? json_integer_value(jc) : 100;
    if ((jc && !json_is_integer(jc)) || c < 1 || c > MDS_MAX_HISTORY)
        return ctlErrorf(err, 1008, "args.count: an integer from 1 to %d", MDS_MAX_HISTORY);
    *count = (uint32_t)c;
    return 0;
}

static int mdsvCmdKlines(void *ctx, json_t *args, json_t **data, ctlError *err)
{
    mdsvService *s = ctx;
    uint16_t idx;
    mdsPeriod p = MDS_DAY;
    uint32_t count = 0;
    const cfgInstrument *ins = mdsvInstrument(s, args, &idx, err);
    if (!ins || mdsvKlineArgs(args, &p, &count, err) != 0)
        return -1;
    mdsvDrain(s);
    mdsBar *bars = malloc(sizeof *bars * count);
    if (!bars)
        return ctlErrorf(err, 5000, "out of memory");
    int n = mdsKlines(s->md, idx, p, count, bars);
    json_t *list = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(list, mdsvBarJson(ins, &bars[i]));
    free(bars);
    *data = json_pack("{s:s, s:s, s:i, s:o}", "instrument_id", ins->id, "period", mdsPeriodName(p),
                      "period_code", (int)p, "bars", list);
    return 0;
}

static json_t *mdsvDailyJson(const cfgInstrument *ins, const mdsDaily *d)
{
    const int traded = d->trades > 0;
    return json_pack(
        "{s:s, s:I, s:o, s:o, s:o, s:o, s:o, s:I, s:o, s:o, s:I, s:I, s:I, s:o, "
        "s:o}",
        "instrument_id", ins->id, "trading_day", (json_int_t)d->tradingDay, "pre_close",
        mdsvPrice(ins, d->preClose), "open", mdsvPriceOrNull(ins, d->open, traded), "high",
        mdsvPriceOrNull(ins, d->high, traded), "low", mdsvPriceOrNull(ins, d->low, traded), "close",
        mdsvPriceOrNull(ins, d->close, traded), "volume", (json_int_t)d->volume, "turnover",
        mdsvMoney(d->turnover), "vwap", mdsvPriceOrNull(ins, d->vwap, traded), "trades",
        (json_int_t)d->trades, "open_interest", (json_int_t)d->openInterest, "pre_open_interest",
        (json_int_t)d->preOpenInterest, "upper_limit", mdsvPrice(ins, d->upperLimit), "lower_limit",
        mdsvPrice(ins, d->lowerLimit));
}

static json_t *mdsvCountersJson(mdsvService *s)
{
    mdsStats st;
    mdsGetStats(s->md, &st);
    return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "trades",
                     (json_int_t)st.trades, "rejected", (json_int_t)st.rejected, "late",
                     (json_int_t)st.late, "bars_finished", (json_int_t)st.barsFinished, "rollovers",
                     (json_int_t)st.rollovers, "oi_floored", (json_int_t)st.oiFloored, "snapshots",
                     (json_int_t)s->snapshots, "packets", (json_int_t)s->packets, "packets_dropped",
                     (json_int_t)s->packetsDropped, "book_timeouts", (json_int_t)s->bookTimeouts,
                     "sequence", (json_int_t)s->packer.seq);
}

static int mdsvCmdDaily(void *ctx, json_t *args, json_t **data, ctlError *err)
{
    mdsvService *s = ctx;
    uint16_t idx;
    const cfgInstrument *only = NULL;
    if (json_object_get(args, "instrument") && !(only = mdsvInstrument(s, args, &idx, err)))
        return -1;
    mdsvDrain(s);
    json_t *list = json_array();
    for (uint32_t i = 0; i < s->cfg->instrumentCount; i++) {
        const cfgInstrument *ins = &s->cfg->instruments[i];
        mdsDaily d;
        if ((only && ins != only) || mdsDailyGet(s->md, (uint16_t)i, &d) != 0)
            continue;
        json_array_append_new(list, mdsvDailyJson(ins, &d));
    }
    *data = json_pack("{s:I, s:o, s:o}", "trading_day", (json_int_t)mdsTradingDay(s->md),
                      "instruments", list, "counters", mdsvCountersJson(s));
    return 0;
}

int mdsvRegister(mdsvService *s, ctlServer *ctl)
{
    if (ctlServerRegister(ctl, "md.snapshot", mdsvCmdSnapshot, s,
                          "instrument=ID: the 35-field market snapshot now") ||
        ctlServerRegister(ctl, "md.klines", mdsvCmdKlines, s,
                          "instrument=ID period=3s|1m|5m|15m|30m|60m|day [count=N<=1000]") ||
        ctlServerRegister(ctl, "md.daily", mdsvCmdDaily, s,
                          "[instrument=ID]: daily statistics and summary counters"))
        return -1;
    return 0;
}

/* ---- metrics
 * ---------------------------------------------------------------------------------------- */

/* One counter family with one unlabelled sample. */
static void mdsvCounter(promWriter *w, const char *name, const char *help, uint64_t v)
{
    promFamily(w, name, PROM_COUNTER, help);
    promSampleU64(w, NULL, 0, v);
}

/* The workers' side of the trade rings (pushed, dropped because full) from
 * their published snapshots: lock-free, a worker never waits. */
static int mdsvRingCounters(mdsvService *s, promWriter *w)
{
    int rc = 0;
    static const char *const names[2] = {"xchg_md_service_ring_trades_total",
                                         "xchg_md_service_ring_dropped_total"};
    static const char *const helps[2] = {
        "fills a worker pushed to the summary service's ring",
        "fills a worker could not push (ring full): missing from bars and statistics"};
    for (int k = 0; k < 2; k++) {
        promFamily(w, names[k], PROM_COUNTER, helps[k]);
        for (uint32_t i = 0; i < s->workerCount; i++) {
            wkSnapshot *snap = malloc(wkSnapshotSize(s->workers[i]));
            if (!snap || wkSnapshotRead(s->workers[i], snap) != 0) {
                free(snap);
                rc = -1;
                continue;
            }
            char seg[16];
            snprintf(seg, sizeof seg, "%u", s->cfg->segments[i].id);
            promLabel l = {"segment", seg};
            promSampleU64(w, &l, 1, k ? snap->counters.mdDropped : snap->counters.mdTrades);
            free(snap);
        }
    }
    return rc;
}

static int mdsvMetricsRender(void *ctx, promWriter *w)
{
    mdsvService *s = ctx;
    mdsStats st;
    mdsGetStats(s->md, &st);
    mdsvCounter(w, "xchg_md_service_trades_received_total",
                "trades the summary service took off the workers' rings", s->received);
    mdsvCounter(w, "xchg_md_service_trades_applied_total", "trades applied to bars and statistics",
                st.trades);
    mdsvCounter(w, "xchg_md_service_trades_rejected_total",
                "trades refused (unknown instrument, zero quantity, bad price)", st.rejected);
    mdsvCounter(w, "xchg_md_service_late_fills_total",
                "trades older than a closed bar or day, applied at the clock", st.late);
    mdsvCounter(w, "xchg_md_service_bars_total", "bars finished", st.barsFinished);
    mdsvCounter(w, "xchg_md_service_rollovers_total", "trading days ended", st.rollovers);
    mdsvCounter(w, "xchg_md_service_snapshots_total", "snapshots built for the channel",
                s->snapshots);
    mdsvCounter(w, "xchg_md_service_packets_total", "MoldUDP64 packets sent on the channel",
                s->packets);
    mdsvCounter(w, "xchg_md_service_packets_dropped_total",
                "channel packets dropped (no mbuf or the worker's TX ring full)",
                s->packetsDropped);
    mdsvCounter(w, "xchg_md_service_book_timeouts_total",
                "book requests a worker did not answer in time", s->bookTimeouts);
    int rc = mdsvRingCounters(s, w);
    return rc < 0 || w->overflow || w->invalid ? -1 : 0;
}

int mdsvRegisterMetrics(mdsvService *s)
{
    return metricsAddSource("md_service", mdsvMetricsRender, s);
}

/* ---- life
 * ------------------------------------------------------------------------------------------ */

mdsvService *mdsvCreate(const mdsvOptions *opt, char *err, size_t errlen)
{
    mdsvService *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "market data: out of memory");
        return NULL;
    }
    s->cfg = opt->cfg;
    s->workers = opt->workers;
    s->workerCount = opt->workerCount;
    s->ip = opt->ip;
    const uint64_t now = mdsvNowNs();
    mdsOptions mo = {.cfg = opt->cfg,
                     .onBar = mdsvOnBar,
                     .onDaily = mdsvOnDaily,
                     .ctx = s,
                     .nowNs = now - MDSV_GRACE_NS};
    s->md = mdsCreate(&mo);
    s->pool = rte_pktmbuf_pool_create("md_pool", MDSV_POOL, 32, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
                                      (int)opt->socketId);
    if (!s->md || !s->pool) {
        snprintf(err, errlen, "market data: %s failed",
                 !s->md ? "aggregator creation (memory)" : "rte_pktmbuf_pool_create(md_pool)");
        mdsvDestroy(s);
        return NULL;
    }
    mdsvSession(s);
    struct rte_ether_addr mac;
    if (rte_eth_macaddr_get(opt->portId, &mac) == 0)
        memcpy(s->mac, mac.addr_bytes, NET_MAC_LEN);
    /* IPv4 multicast MAC: 01:00:5e and the group's low 23 bits */
    const uint32_t g = opt->cfg->marketData.summaryGroup;
    const uint8_t gm[NET_MAC_LEN] = {
        0x01, 0x00, 0x5e, (uint8_t)(g >> 16 & 0x7f), (uint8_t)(g >> 8), (uint8_t)g};
    memcpy(s->groupMac, gm, NET_MAC_LEN);
    return s;
}

void mdsvDestroy(mdsvService *s)
{
    if (!s)
        return;
    mdsDestroy(s->md);
    rte_mempool_free(s->pool);
    free(s->req);
    free(s);
}
