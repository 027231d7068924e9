/* test_history.c -- the history store and `xchgctl query` on a known workload.
 *
 * A real gateway (segment 0 of config/xchg.conf, dataplane/gateway.c) is
 * driven with a generated, seeded workload: three sessions log on and send
 * 3000 orders on IF2501 around 3800.0 (crossing often), cancels of resting
 * orders, replaces, and orders the gateway rejects (off-tick prices). Every
 * frame the gateway sends goes both to the history writer (histOnFrame, as
 * the storage thread does) and to this test's own bookkeeping, which keeps
 * the expected answers in plain arrays: executions per account and side,
 * trade ids, final order states, rejects. Then the real xchgctl of the same build
 * is run (popen) with SQL questions, while the history writer still holds
 * the tree open, and its CSV / JSON / table output is compared with those
 * answers. A small memtable makes the history span many tables and
 * compactions; retransmitted frames are fed twice to check de-duplication. */
#define _GNU_SOURCE
#include <ftw.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "config/config.h"
#include "control/mdsummary.h"
#include "dataplane/gateway.h"
#include "storage/history.h"

#define T0      UINT64_C(1759714200000000000)
#define MSEC    UINT64_C(1000000)
#define NORDERS 3000
#define NSESS   3
#define MAXORD  (NORDERS + 16)

static char tmpDir[64];
static char xchgctlPath[512]; /* bin/xchgctl of the build this test belongs to */

typedef struct {
    uint64_t orderId;
    uint32_t account;
    uint8_t side;
    uint8_t status; /* HIST_ORDER_* as expected */
    uint32_t filled;
} expOrder;

typedef struct {
    histWriter *h;
    gwGateway *gw;
    mds *md; /* the summary aggregator: K-lines from the same trades */
    cfgConfig cfg;
    uint64_t bars[9], barVolume[9]; /* finished bars and their lots, by mdsPeriod */
    uint64_t now;
    /* expectations from the reports */
    expOrder orders[MAXORD];
    uint32_t norders;
    uint64_t execs, rejects, cancels;
    uint64_t qtyBy[NSESS][2]; /* executed lots by session and side */
    int64_t notionalBuy;      /* sum price x qty of BUY executions */
    uint64_t maxTradeId;
    /* resting orders of each session, for cancels and replaces */
    uint64_t resting[NSESS][64];
    uint32_t nresting[NSESS];
    uint64_t seq[NSESS];
    int feedTwice; /* feed each frame to the history twice (retransmission) */
    uint8_t *rec;  /* every frame sent: u16 length, bytes (testRetake feeds them again) */
    size_t recLen, recCap;
} world;

static world *W;

static expOrder *findOrder(uint64_t id)
{
    for (uint32_t i = 0; i < W->norders; i++)
        if (W->orders[i].orderId == id)
            return &W->orders[i];
    return NULL;
}

static void dropResting(uint32_t s, uint64_t id)
{
    for (uint32_t i = 0; i < W->nresting[s]; i++)
        if (W->resting[s][i] == id) {
            W->resting[s][i] = W->resting[s][--W->nresting[s]];
            return;
        }
}

static void expect(uint32_t session, const xoeMsg *m)
{
    uint32_t s = session - 1;
    expOrder *o;
    switch (m->type) {
    case XOE_MSG_ACCEPTED:
        assert_true(W->norders < MAXORD);
        o = &W->orders[W->norders++];
        o->orderId = m->u.accepted.orderId;
        o->account = 100 * session;
        o->side = m->u.accepted.side;
        o->status = HIST_ORDER_NEW;
        if (W->nresting[s] < 64)
            W->resting[s][W->nresting[s]++] = o->orderId;
        break;
    case XOE_MSG_EXECUTED:
        o = findOrder(m->u.executed.orderId);
        assert_non_null(o);
        o->filled += m->u.executed.qty;
        o->status = m->u.executed.leaves ? HIST_ORDER_PARTIAL : HIST_ORDER_FILLED;
        if (!m->u.executed.leaves)
            dropResting(s, o->orderId);
        W->execs++;
        W->qtyBy[s][m->u.executed.side] += m->u.executed.qty;
        if (m->u.executed.side == XOE_BUY) {
            W->notionalBuy += m->u.executed.price * (int64_t)m->u.executed.qty;
            mdsTrade t = {.timeNs = m->u.executed.timestamp,
                          .price = m->u.executed.price,
                          .qty = m->u.executed.qty,
                          .instrument = m->u.executed.instrument,
                          .aggressor = m->u.executed.liquidity == XOE_TAKER ? MT_BUY : MT_SELL,
                          .offset = {MDS_NO_OFFSET, MDS_NO_OFFSET}};
            assert_int_equal(mdsOnTrade(W->md, &t), 0);
        }
        if (m->u.executed.tradeId > W->maxTradeId)
            W->maxTradeId = m->u.executed.tradeId;
        break;
    case XOE_MSG_CANCELLED:
        o = findOrder(m->u.cancelled.orderId);
        assert_non_null(o);
        o->status = HIST_ORDER_CANCELLED;
        dropResting(s, o->orderId);
        W->cancels++;
        break;
    case XOE_MSG_REJECTED:
        W->rejects++;
        break;
    default:
        break;
    }
}

static void onSend(void *ctx, gwAddr to, const uint8_t *data, uint16_t len)
{
    (void)ctx;
    (void)to;
    xoeFrame f;
    if (xoeFrameParse(data, len, XOE_DIR_TO_CLIENT, &f, NULL) != XOE_OK) {
        fail_msg("the gateway sent a frame that does not parse");
        return;
    }
    xoeIter it;
    xoeMsg m;
    xoeIterInit(&it, &f);
    while (xoeIterNext(&it, &m))
        expect(f.session, &m);
    sstError err;
    for (int i = 0; i < (W->feedTwice ? 2 : 1); i++)
        assert_int_equal(histOnFrame(W->h, 0, data, len, &err), 0);
    if (W->recLen + 2u + len > W->recCap) {
        W->recCap = W->recCap ? W->recCap * 2 : 1u << 20;
        W->rec = realloc(W->rec, W->recCap);
        assert_non_null(W->rec);
    }
    memcpy(W->rec + W->recLen, &len, 2);
    memcpy(W->rec + W->recLen + 2, data, len);
    W->recLen += 2u + len;
}

static void onBar(void *ctx, uint16_t instrument, const mdsBar *bar)
{
    (void)ctx;
    sstError err;
    assert_true(bar->period < 9);
    W->bars[bar->period]++;
    W->barVolume[bar->period] += bar->volume;
    assert_int_equal(histOnBar(W->h, instrument, bar, &err), 0);
}

static void sendMsg(uint32_t session, uint8_t type, const void *msg)
{
    uint8_t buf[XOE_FRAME_MAX];
    xoeWriter w;
    uint32_t s = session - 1;
    assert_int_equal(xoeWriterInit(&w, buf, sizeof buf, session, W->seq[s], 0), XOE_OK);
    assert_int_equal(xoeAppend(&w, type, msg), XOE_OK);
    size_t len = xoeWriterFinish(&w);
    W->seq[s] += (uint64_t)xoeIsSequenced(type);
    gwAddr from = {(198u << 24) | (18u << 16) | (2 + s), (uint16_t)(40001 + s)};
    W->now += 50 * MSEC; /* the workload spans minutes: several K-line bars */
    gwOnDatagram(W->gw, from, buf, (uint16_t)len, W->now);
    gwFlush(W->gw);
}

static uint64_t rng = 0x1234567887654321ull;
static uint64_t next64(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static int rmEntry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Runs the workload through a real gateway into the history. */
static int setUp(void **state)
{
    (void)state;
    snprintf(tmpDir, sizeof tmpDir, "/tmp/xchg-hist-XXXXXX");
    assert_non_null(mkdtemp(tmpDir));
    W = calloc(1, sizeof *W);
    assert_non_null(W);
    char cerr[256];
    if (cfgLoad("config/xchg.conf", &W->cfg, cerr, sizeof cerr) != 0)
        fail_msg("config/xchg.conf: %s", cerr);
    cfgSegment seg = W->cfg.segments[0];
    seg.orderCapacity = 8192;
    cfgConfig use = W->cfg;
    use.segments = &seg;
    use.risk.throttle = 1000000;
    gwOptions o = {.cfg = &use,
                   .segment = 0,
                   .maxSessions = 8,
                   .historyDepth = 1024,
                   .tradingDay = 20251006,
                   .send = onSend,
                   .sendCtx = W};
    W->gw = gwCreate(&o);
    assert_non_null(W->gw);
    lsmConfig lc;
    lsmConfigDefaults(&lc);
    lc.memtableBytes = 64u << 10;
    lc.targetFileBytes = 64u << 10;
    lc.l1Bytes = 128u << 10;
    lc.sst.sync = 0;
    sstError err;
    W->h = histOpen(tmpDir, &lc, &err);
    if (!W->h)
        fail_msg("%s", err.msg);
    W->now = T0;
    mdsOptions mo = {.cfg = &W->cfg, .onBar = onBar, .ctx = W, .nowNs = T0};
    W->md = mdsCreate(&mo);
    assert_non_null(W->md);
    for (uint32_t s = 1; s <= NSESS; s++) {
        uint8_t token[XOE_TOKEN_SIZE];
        for (int i = 0; i < XOE_TOKEN_SIZE; i++)
            token[i] = (uint8_t)(s * 31u + (unsigned)i * 7u + 1u);
        assert_int_equal(gwSessionAdd(W->gw, s, token, 100 * s, 0), 0);
        assert_int_equal(histSetAccount(W->h, s, 100 * s), 0);
        W->seq[s - 1] = 1;
        xoeLogon l = {.heartbeatMs = 60000, .nextOutSeq = 0};
        memcpy(l.token, token, XOE_TOKEN_SIZE);
        sendMsg(s, XOE_MSG_LOGON, &l);
    }
    assert_int_equal(gwSetState(W->gw, 0, MT_STATE_CONTINUOUS, W->now), MT_OK);
    for (uint64_t n = 1; n <= NORDERS; n++) {
        uint64_t r = next64();
        uint32_t s = 1 + (uint32_t)(r % NSESS), si = s - 1;
        uint32_t what = (uint32_t)((r >> 8) % 100);
        if (what < 8 && W->nresting[si]) {
            xoeCancel c = {.clOrdId = 1000000 + n,
                           .orderId = W->resting[si][(r >> 16) % W->nresting[si]]};
            sendMsg(s, XOE_MSG_CANCEL, &c);
            continue;
        }
        if (what < 12 && W->nresting[si]) {
            xoeReplace p = {.qty = 1 + (uint32_t)((r >> 20) % 20),
                            .clOrdId = 2000000 + n,
                            .orderId = W->resting[si][(r >> 16) % W->nresting[si]],
                            .price = 38000000 + (int64_t)((r >> 28) % 11) * 2000 - 10000};
            sendMsg(s, XOE_MSG_REPLACE, &p);
            continue;
        }
        xoeNewOrder no = {.instrument = 0,
                          .side = (uint8_t)((r >> 32) & 1),
                          .offset = XOE_OPEN,
                          .clOrdId = n,
                          .price = 38000000 + (int64_t)((r >> 36) % 11) * 2000 - 10000,
                          .qty = 1 + (uint32_t)((r >> 44) % 10),
                          .priceType = XOE_LIMIT,
                          .timeCondition = XOE_GFD,
                          .volumeCondition = XOE_VOL_ANY};
        if (what >= 97)
            no.price += 300; /* off the 0.2 tick: rejected */
        W->feedTwice = what == 50;
        sendMsg(s, XOE_MSG_NEW_ORDER, &no);
        W->feedTwice = 0;
    }
    mdsTick(W->md, W->now + 2 * MDS_DAY_NS); /* finishes every bar, the day's too */
    assert_int_equal(histFlush(W->h, &err), 0);
    return 0;
}

static int tearDown(void **state)
{
    (void)state;
    histClose(W->h);
    gwDestroy(W->gw);
    mdsDestroy(W->md);
    cfgFree(&W->cfg);
    free(W->rec);
    free(W);
    nftw(tmpDir, rmEntry, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

/* Runs xchgctl query and returns its stdout (malloc'd); *status its exit. */
static const char *queryDir; /* the tree runQuery asks; NULL: tmpDir */

static char *runQuery(const char *args, const char *sql, int *status)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s query --dir %s %s \"%s\" 2>&1", xchgctlPath,
             queryDir ? queryDir : tmpDir, args, sql);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t cap = 1 << 20, n = 0;
    char *out = malloc(cap);
    size_t k;
    while ((k = fread(out + n, 1, cap - 1 - n, p)) > 0)
        n += k;
    out[n] = 0;
    int rc = pclose(p);
    *status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
    return out;
}

/* A single integer answer (CSV, one column, one row). */
static long long queryInt(const char *sql)
{
    int st;
    char *out = runQuery("--format csv", sql, &st);
    if (st != 0)
        fail_msg("xchgctl query \"%s\" failed: %s", sql, out);
    char *nl = strchr(out, '\n'); /* the header */
    assert_non_null(nl);
    long long v = strtoll(nl + 1, NULL, 10);
    free(out);
    return v;
}

static void testKnownAnswers(void **state)
{
    (void)state;
    histStats hs;
    histGetStats(W->h, &hs);
    assert_true(W->execs > 500); /* the workload really trades */
    assert_true(W->rejects > 20);
    assert_true(W->cancels > 50);
    assert_true(hs.duplicates > 0);
    lsmStats ls;
    lsmGetStats(histDb(W->h), &ls);
    assert_true(ls.flushes > 3);
    print_message("history: %u orders, %llu executions, %llu rejects, %llu cancels; %llu "
                  "flushes, %llu compactions; %llu duplicate messages skipped\n",
                  W->norders, (unsigned long long)W->execs, (unsigned long long)W->rejects,
                  (unsigned long long)W->cancels, (unsigned long long)ls.flushes,
                  (unsigned long long)ls.compactions, (unsigned long long)hs.duplicates);

    assert_int_equal(queryInt("SELECT COUNT(*) FROM orders"), W->norders);
    assert_int_equal(queryInt("SELECT COUNT(*) FROM trades"), W->execs);
    assert_int_equal(queryInt("SELECT COUNT(*) FROM rejects"), W->rejects);
    assert_int_equal(queryInt("SELECT COUNT(*) FROM rejects WHERE code = 1008"), W->rejects);
    /* every trade has a buyer and a seller with the same quantity */
    assert_int_equal(queryInt("SELECT COUNT(*) FROM (SELECT trade_id FROM trades GROUP BY "
                              "trade_id HAVING COUNT(*) != 2 OR SUM(CASE side WHEN 'BUY' THEN "
                              "qty ELSE -qty END) != 0)"),
                     0);
    assert_int_equal(queryInt("SELECT MAX(trade_id) FROM trades"), (long long)W->maxTradeId);
    assert_int_equal(queryInt("SELECT SUM(price * qty) FROM trades WHERE side = 'BUY'"),
                     W->notionalBuy);
    for (uint32_t s = 0; s < NSESS; s++)
        for (int side = 0; side < 2; side++) {
            char sql[256];
            snprintf(sql, sizeof sql,
                     "SELECT COALESCE(SUM(qty), 0) FROM trades WHERE account = %u AND side = '%s'",
                     100 * (s + 1), side ? "SELL" : "BUY");
            assert_int_equal(queryInt(sql), W->qtyBy[s][side]);
        }
    /* order states */
    uint32_t byStatus[4] = {0};
    for (uint32_t i = 0; i < W->norders; i++)
        byStatus[W->orders[i].status]++;
    static const char *const names[] = {"NEW", "PARTIAL", "FILLED", "CANCELLED"};
    for (int s = 0; s < 4; s++) {
        char sql[128];
        snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM orders WHERE status = '%s'", names[s]);
        assert_int_equal(queryInt(sql), byStatus[s]);
    }
    /* orders' filled lots agree with their executions (a join) */
    assert_int_equal(queryInt("SELECT COUNT(*) FROM orders o WHERE filled != (SELECT "
                              "COALESCE(SUM(qty), 0) FROM trades t WHERE t.order_id = o.order_id)"),
                     0);
    assert_int_equal(queryInt("SELECT COUNT(*) FROM orders WHERE cancel_reason IS NOT NULL"),
                     byStatus[HIST_ORDER_CANCELLED]);
}

/* K-lines of the same trades, as the summary aggregator finished them. */
static void testKlines(void **state)
{
    (void)state;
    uint64_t lots = 0;
    for (uint32_t s = 0; s < NSESS; s++)
        lots += W->qtyBy[s][XOE_BUY];
    assert_true(W->bars[MDS_3S] > 20); /* the workload spans minutes */
    assert_int_equal(W->barVolume[MDS_1M], lots);
    static const struct {
        int period;
        const char *name;
    } ps[] = {{MDS_3S, "3s"}, {MDS_1M, "1m"}, {MDS_5M, "5m"}, {MDS_DAY, "day"}};
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) {
        char sql[160];
        snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM klines WHERE period = '%s'", ps[i].name);
        assert_int_equal(queryInt(sql), W->bars[ps[i].period]);
        snprintf(sql, sizeof sql, "SELECT SUM(volume) FROM klines WHERE period = '%s'", ps[i].name);
        assert_int_equal(queryInt(sql), W->barVolume[ps[i].period]);
    }
    /* the bars' trades add up to the trades table's buy side */
    assert_int_equal(queryInt("SELECT SUM(trades) FROM klines WHERE period = '1m'"),
                     queryInt("SELECT COUNT(*) FROM trades WHERE side = 'BUY'"));
    assert_int_equal(queryInt("SELECT COUNT(*) FROM klines WHERE high < low OR open > high OR "
                              "close < low"),
                     0);
}

static void testPointAndRange(void **state)
{
    (void)state;
    /* point lookups by key (a seek): each order's filled lots and status */
    for (uint32_t i = 0; i < W->norders; i += W->norders / 10) {
        const expOrder *o = &W->orders[i];
        char sql[160];
        snprintf(sql, sizeof sql, "SELECT filled FROM orders WHERE order_id = %llu",
                 (unsigned long long)o->orderId);
        assert_int_equal(queryInt(sql), o->filled);
        snprintf(sql, sizeof sql, "SELECT account FROM orders WHERE order_id = %llu",
                 (unsigned long long)o->orderId);
        assert_int_equal(queryInt(sql), o->account);
    }
    assert_int_equal(queryInt("SELECT COUNT(*) FROM orders WHERE order_id = 0"), 0);
    /* ranges on the key */
    uint64_t lo = W->orders[100].orderId, hi = W->orders[400].orderId;
    uint32_t want = 0, wantGt = 0;
    for (uint32_t i = 0; i < W->norders; i++) {
        want += W->orders[i].orderId >= lo && W->orders[i].orderId <= hi;
        wantGt += W->orders[i].orderId > lo && W->orders[i].orderId < hi;
    }
    char sql[200];
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM orders WHERE order_id BETWEEN %llu AND %llu",
             (unsigned long long)lo, (unsigned long long)hi);
    assert_int_equal(queryInt(sql), want);
    snprintf(sql, sizeof sql,
             "SELECT COUNT(*) FROM orders WHERE order_id > %llu AND order_id < %llu",
             (unsigned long long)lo, (unsigned long long)hi);
    assert_int_equal(queryInt(sql), wantGt);
    /* key order is numeric order */
    assert_int_equal(queryInt("SELECT COUNT(*) FROM (SELECT order_id, LAG(order_id) OVER () p "
                              "FROM orders) WHERE p >= order_id"),
                     0);
}

static void testFormats(void **state)
{
    (void)state;
    int st;
    char *out = runQuery("--format json",
                         "SELECT account, side, SUM(qty) AS lots FROM trades GROUP BY account, "
                         "side ORDER BY account, side",
                         &st);
    assert_int_equal(st, 0);
    json_error_t je;
    json_t *a = json_loads(out, 0, &je);
    if (!a)
        fail_msg("not JSON: %s (%s)", je.text, out);
    assert_true(json_is_array(a));
    size_t i;
    json_t *row;
    json_array_foreach(a, i, row)
    {
        long long acct = json_integer_value(json_object_get(row, "account"));
        const char *side = json_string_value(json_object_get(row, "side"));
        long long lots = json_integer_value(json_object_get(row, "lots"));
        assert_true(acct >= 100 && acct <= 100 * NSESS && side);
        assert_int_equal(lots, W->qtyBy[acct / 100 - 1][strcmp(side, "SELL") == 0]);
    }
    assert_true(json_array_size(a) >= 4);
    json_decref(a);
    free(out);
    out = runQuery("", "SELECT status, COUNT(*) AS n FROM orders GROUP BY status", &st);
    assert_int_equal(st, 0);
    assert_non_null(strstr(out, "status"));
    assert_non_null(strstr(out, "------"));
    assert_non_null(strstr(out, "FILLED"));
    assert_non_null(strstr(out, " rows)"));
    free(out);
    /* errors: bad SQL, writes refused, no history */
    out = runQuery("", "SELECT nope FROM orders", &st);
    assert_int_equal(st, 1);
    assert_non_null(strstr(out, "no such column"));
    free(out);
    out = runQuery("", "DELETE FROM orders", &st);
    assert_int_equal(st, 1);
    free(out);
    out = runQuery("", "ATTACH DATABASE '/tmp/x.db' AS x", &st);
    assert_int_equal(st, 1);
    free(out);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s query --dir %s/none 'SELECT 1' >/dev/null 2>&1", xchgctlPath,
             tmpDir);
    assert_int_equal(WEXITSTATUS(system(cmd)), 1);
    snprintf(cmd, sizeof cmd, "%s query >/dev/null 2>&1", xchgctlPath);
    assert_int_equal(WEXITSTATUS(system(cmd)), 2);
}

/* A history of the recorded frames in dir, with the bars built from the
 * ticks; bySession: every frame of session 1, then of 2, ... (so trades
 * reach the bars out of trade-id order). */
static histWriter *feedRecorded(const char *dir, int bySession)
{
    sstError err;
    histWriter *h = histOpen(dir, NULL, &err);
    if (!h)
        fail_msg("%s", err.msg);
    histSetTickBars(h, 1);
    for (uint32_t s = 1; s <= NSESS; s++)
        assert_int_equal(histSetAccount(h, s, 100 * s), 0);
    for (uint32_t pass = bySession ? 1 : 0; pass <= (bySession ? NSESS : 0); pass++)
        for (size_t off = 0; off < W->recLen;) {
            uint16_t len;
            memcpy(&len, W->rec + off, 2);
            xoeFrame f;
            assert_int_equal(xoeFrameParse(W->rec + off + 2, len, XOE_DIR_TO_CLIENT, &f, NULL),
                             XOE_OK);
            if (!pass || f.session == pass)
                assert_int_equal(histOnFrame(h, 0, W->rec + off + 2, len, &err), 0);
            off += 2u + len;
        }
    return h;
}

/* The answers the retake test compares, as CSV text (malloc'd). */
static char *answers(void)
{
    static const char *const qs[] = {
        "SELECT status, COUNT(*), SUM(filled), SUM(notional), SUM(replaces) FROM orders GROUP BY "
        "status ORDER BY status",
        "SELECT COUNT(*), SUM(qty), SUM(price * qty) FROM trades",
        "SELECT COUNT(*), SUM(qty) FROM ticks",
        "SELECT period, start_ns, open, high, low, close, volume, amount, trades FROM klines ORDER "
        "BY period, start_ns",
        "SELECT COUNT(*) FROM rejects"};
    size_t cap = 1 << 20, n = 0;
    char *all = calloc(1, cap);
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
        int st;
        char *out = runQuery("--format csv", qs[i], &st);
        assert_int_equal(st, 0);
        n += (size_t)snprintf(all + n, cap - n, "%s", out);
        free(out);
    }
    return all;
}

static void rmTree(const char *dir)
{
    nftw(dir, rmEntry, 16, FTW_DEPTH | FTW_PHYS);
}

/* What xchgd relies on for exactly once (docs/storage/history.md, "Exactly
 * once across restarts"): the journal position survives a reopen; the same
 * reports taken again by a fresh writer (a restart re-applying records, a
 * retransmission) change no row; bars do not depend on the order trades
 * arrive in; ticks and bars agree with the trades; settlement rows are
 * keyed. */
static void testRetake(void **state)
{
    (void)state;
    char a[96], b[96];
    snprintf(a, sizeof a, "%s-a", tmpDir);
    snprintf(b, sizeof b, "%s-b", tmpDir);
    sstError err;
    uint64_t pos;

    histWriter *h = feedRecorded(a, 0);
    assert_int_equal(histSetPosition(h, 7, 123456, &err), 0);
    histSettleRow sr = {.date = 20250102, .account = 100, .balance = 5000000, .commission = 40};
    assert_int_equal(histOnSettlement(h, &sr, &err), 0);
    assert_int_equal(histOnSettlement(h, &sr, &err), 0); /* handed over again at a start */
    histClose(h);
    queryDir = a;
    char *first = answers();
    assert_int_equal(queryInt("SELECT COUNT(*) FROM ticks"), (long long)W->maxTradeId);
    assert_int_equal(queryInt("SELECT COUNT(*) FROM trades"), (long long)W->execs);
    assert_int_equal(queryInt("SELECT SUM(volume) FROM klines WHERE period = '1m'"),
                     queryInt("SELECT SUM(qty) FROM trades WHERE side = 'BUY'"));
    assert_int_equal(queryInt("SELECT COUNT(*) FROM (SELECT period, SUM(trades) n FROM klines "
                              "GROUP BY period) WHERE n != (SELECT COUNT(*) FROM ticks)"),
                     0);
    assert_int_equal(queryInt("SELECT COUNT(*) FROM settlements"), 1);
    assert_int_equal(queryInt("SELECT balance FROM settlements WHERE account = 100"), 5000000);

    /* a restart: a fresh writer, the position read back, everything taken again */
    h = feedRecorded(a, 0);
    assert_int_equal(histGetPosition(h, 7, &pos, &err), 0);
    assert_int_equal(pos, 123456);
    assert_int_equal(histGetPosition(h, 8, &pos, &err), 0);
    assert_int_equal(pos, 0);
    histStats hs;
    histGetStats(h, &hs);
    assert_true(hs.replayed > 0);
    histClose(h);
    char *again = answers();
    assert_string_equal(again, first);

    /* the same reports in another order: the same rows and bars */
    histClose(feedRecorded(b, 1));
    queryDir = b;
    char *other = answers();
    queryDir = NULL;
    /* the order rows match; orders and bars by trade id, not by arrival */
    assert_string_equal(other, first);
    free(first);
    free(again);
    free(other);
    rmTree(a);
    rmTree(b);
}

int main(int argc, char **argv)
{
    (void)argc;
    /* build/tests/test_history -> build/bin/xchgctl (the asan build uses its own) */
    char self[400];
    snprintf(self, sizeof self, "%s", argv[0]);
    char *slash = strrchr(self, '/');
    if (slash)
        *slash = 0;
    snprintf(xchgctlPath, sizeof xchgctlPath, "%s/../bin/xchgctl", slash ? self : ".");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(testKnownAnswers), cmocka_unit_test(testPointAndRange),
        cmocka_unit_test(testKlines),       cmocka_unit_test(testFormats),
        cmocka_unit_test(testRetake),
    };
    return cmocka_run_group_tests(tests, setUp, tearDown);
}
