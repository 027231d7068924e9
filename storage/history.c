/* history.c -- gateway reports to history rows (history.h). */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "storage/history.h"
#include "storage/sst_int.h"

/* Per session: account and the last application sequence taken. */
typedef struct {
    uint32_t session; /* 0 = empty slot (session ids start at 1) */
    uint32_t account;
    uint64_t lastSeq;
} histSession;

#define HIST_MAX_SEGMENTS 64
#define HIST_MAX_BOOKS    1024

struct histWriter {
    lsmDb *db;
    uint16_t (*imap)[HIST_MAX_BOOKS]; /* [segment][book]: instrument + 1, 0 unmapped */
    uint32_t tradingDay;
    int tickBars;          /* K-lines built from the ticks (histSetTickBars) */
    size_t memtableBytes;  /* the tree's memtable size (histRoom) */
    uint64_t curSeq;       /* message sequence being taken (0: none) */
    histSession *sessions; /* open addressing, power-of-two size */
    uint32_t nsessions, cap;
    histSession zero; /* session 0 (control-plane reports): no de-duplication */
    histStats st;
};

static void putBe64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static void putBe32(uint8_t *p, uint32_t v)
{
    for (int i = 3; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

size_t histOrderKey(uint8_t *k, uint64_t orderId)
{
    k[0] = HIST_T_ORDER;
    putBe64(k + 1, orderId);
    return 9;
}

size_t histTradeKey(uint8_t *k, uint64_t tradeId, uint64_t orderId)
{
    k[0] = HIST_T_TRADE;
    putBe64(k + 1, tradeId);
    putBe64(k + 9, orderId);
    return 17;
}

size_t histRejectKey(uint8_t *k, uint64_t timestamp, uint32_t session, uint64_t clOrdId)
{
    k[0] = HIST_T_REJECT;
    putBe64(k + 1, timestamp);
    putBe32(k + 9, session);
    putBe64(k + 13, clOrdId);
    return 21;
}

size_t histKlineKey(uint8_t *k, uint16_t instrument, uint8_t period, uint64_t startNs)
{
    k[0] = HIST_T_KLINE;
    k[1] = (uint8_t)(instrument >> 8);
    k[2] = (uint8_t)instrument;
    k[3] = period;
    putBe64(k + 4, startNs);
    return 12;
}

size_t histTickKey(uint8_t *k, uint16_t instrument, uint64_t timestamp, uint64_t tradeId)
{
    k[0] = HIST_T_TICK;
    k[1] = (uint8_t)(instrument >> 8);
    k[2] = (uint8_t)instrument;
    putBe64(k + 3, timestamp);
    putBe64(k + 11, tradeId);
    return 19;
}

size_t histSettleKey(uint8_t *k, uint32_t date, uint32_t account)
{
    k[0] = HIST_T_SETTLEMENT;
    putBe32(k + 1, date);
    putBe32(k + 5, account);
    return 9;
}

int histOnSettlement(histWriter *h, const histSettleRow *r, sstError *err)
{
    histSettleRow row = *r;
    uint8_t k[16];
    size_t kl = histSettleKey(k, r->date, r->account);
    row.version = HIST_ROW_VERSION;
    h->st.settlements++;
    return lsmPut(h->db, k, kl, &row, sizeof row, err);
}

static size_t positionKey(uint8_t *k, uint32_t stream)
{
    k[0] = HIST_T_POSITION;
    putBe32(k + 1, stream);
    return 5;
}

int histSetPosition(histWriter *h, uint32_t stream, uint64_t seq, sstError *err)
{
    uint8_t k[8], v[8];
    size_t kl = positionKey(k, stream);
    for (int i = 0; i < 8; i++)
        v[i] = (uint8_t)(seq >> (8 * i));
    return lsmPut(h->db, k, kl, v, sizeof v, err);
}

int histGetPosition(histWriter *h, uint32_t stream, uint64_t *seq, sstError *err)
{
    uint8_t k[8], v[8];
    size_t kl = positionKey(k, stream), vl = 0;
    *seq = 0;
    int rc = lsmGet(h->db, k, kl, v, sizeof v, &vl, err);
    if (rc < 0)
        return -1;
    if (rc == 1 && vl == sizeof v)
        for (int i = 7; i >= 0; i--)
            *seq = *seq << 8 | v[i];
    return 0;
}

int histMapInstrument(histWriter *h, uint8_t segment, uint16_t book, uint16_t instrument)
{
    if (segment >= HIST_MAX_SEGMENTS || book >= HIST_MAX_BOOKS || instrument == UINT16_MAX)
        return -1;
    if (!h->imap && !(h->imap = calloc(HIST_MAX_SEGMENTS, sizeof *h->imap)))
        return -1;
    h->imap[segment][book] = (uint16_t)(instrument + 1);
    return 0;
}

void histSetTradingDay(histWriter *h, uint32_t tradingDay)
{
    h->tradingDay = tradingDay;
}

int histRoom(histWriter *h, size_t bytes, sstError *err)
{
    lsmStats st;
    lsmGetStats(h->db, &st);
    if (!st.memtableBytes || st.memtableBytes + bytes <= h->memtableBytes)
        return 0;
    return lsmFlush(h->db, err);
}

void histSetTickBars(histWriter *h, int on)
{
    h->tickBars = on;
}

static uint16_t mapInstrument(const histWriter *h, uint8_t segment, uint16_t book)
{
    if (h->imap && segment < HIST_MAX_SEGMENTS && book < HIST_MAX_BOOKS && h->imap[segment][book])
        return (uint16_t)(h->imap[segment][book] - 1);
    return book;
}

/* ---- sessions ------------------------------------------------------------------------ */

static histSession *sessionSlot(histWriter *h, uint32_t session, int create)
{
    if (session == 0)
        return NULL;
    if (create && (h->nsessions + 1) * 2 > h->cap) {
        uint32_t cap = h->cap ? h->cap * 2 : 64;
        histSession *n = calloc(cap, sizeof *n);
        if (!n)
            return NULL;
        for (uint32_t i = 0; i < h->cap; i++) {
            if (!h->sessions[i].session)
                continue;
            uint32_t j = (h->sessions[i].session * 2654435761u) & (cap - 1);
            while (n[j].session)
                j = (j + 1) & (cap - 1);
            n[j] = h->sessions[i];
        }
        free(h->sessions);
        h->sessions = n;
        h->cap = cap;
    }
    if (!h->cap)
        return NULL;
    uint32_t j = (session * 2654435761u) & (h->cap - 1);
    while (h->sessions[j].session && h->sessions[j].session != session)
        j = (j + 1) & (h->cap - 1);
    if (h->sessions[j].session == session)
        return &h->sessions[j];
    if (!create)
        return NULL;
    h->sessions[j].session = session;
    h->nsessions++;
    return &h->sessions[j];
}

int histSetAccount(histWriter *h, uint32_t session, uint32_t account)
{
    histSession *s = sessionSlot(h, session, 1);
    if (!s)
        return -1;
    s->account = account;
    return 0;
}

/* ---- rows ---------------------------------------------------------------------------- */

/* The order's row, or a fresh one (counted) when it has none yet. Returns
 * 1 when message seq of the session is already in the row (taken before a
 * crash: not to be counted again), 0, or -1 with *err. */
static int loadOrder(histWriter *h, uint64_t orderId, histOrderRow *r, sstError *err)
{
    const uint64_t seq = h->curSeq;
    uint8_t k[16];
    size_t kl = histOrderKey(k, orderId), vl;
    memset(r, 0, sizeof *r);
    int rc = lsmGet(h->db, k, kl, r, sizeof *r, &vl, err);
    if (rc < 0)
        return -1;
    if (rc == 0 || vl < offsetof(histOrderRow, lastSeq) || r->version != HIST_ROW_VERSION) {
        memset(r, 0, sizeof *r);
        r->version = HIST_ROW_VERSION;
        r->orderId = orderId;
        r->lastSeq = seq;
        h->st.unknownOrders++;
        return 0;
    }
    if (seq && r->lastSeq >= seq) {
        h->st.replayed++;
        return 1;
    }
    r->lastSeq = seq ? seq : r->lastSeq;
    return 0;
}

static int storeOrder(histWriter *h, const histOrderRow *r, sstError *err)
{
    uint8_t k[16];
    size_t kl = histOrderKey(k, r->orderId);
    h->st.orders++;
    return lsmPut(h->db, k, kl, r, sizeof *r, err);
}

static int onAccepted(histWriter *h, uint8_t segment, uint32_t session, uint32_t account,
                      const xoeAccepted *a, sstError *err)
{
    histOrderRow r;
    uint8_t k[16];
    size_t kl = histOrderKey(k, a->orderId), vl = 0;
    int rc = h->curSeq ? lsmGet(h->db, k, kl, &r, sizeof r, &vl, err) : 0;
    if (rc < 0)
        return -1;
    if (rc == 1 && vl >= sizeof r && r.lastSeq >= h->curSeq) {
        h->st.replayed++; /* taken before a crash, maybe with fills since */
        return 0;
    }
    memset(&r, 0, sizeof r);
    r.version = HIST_ROW_VERSION;
    r.lastSeq = h->curSeq;
    r.status = HIST_ORDER_NEW;
    r.side = a->side;
    r.offset = a->offset;
    r.priceType = a->priceType;
    r.timeCondition = a->timeCondition;
    r.volumeCondition = a->volumeCondition;
    r.instrument = a->instrument;
    r.segment = segment;
    r.session = session;
    r.account = account;
    r.orderId = a->orderId;
    r.clOrdId = a->clOrdId;
    r.price = a->price;
    r.qty = a->qty;
    r.minQty = a->minQty;
    r.leaves = a->qty;
    r.acceptedNs = a->timestamp;
    r.updatedNs = a->timestamp;
    return storeOrder(h, &r, err);
}

/* Period lengths of the bars built from ticks (mdsPeriod order of MDS_*). */
static const struct {
    uint8_t period;
    uint64_t ns;
} histPeriods[] = {{MDS_3S, 3 * MDS_SECOND_NS},
                   {MDS_1M, 60 * MDS_SECOND_NS},
                   {MDS_5M, 300 * MDS_SECOND_NS},
                   {MDS_15M, 900 * MDS_SECOND_NS},
                   {MDS_30M, 1800 * MDS_SECOND_NS},
                   {MDS_60M, 3600 * MDS_SECOND_NS},
                   {MDS_DAY, MDS_DAY_NS}};

/* YYYYMMDD of a time (UTC). */
static uint32_t utcDay(uint64_t ns)
{
    time_t t = (time_t)(ns / MDS_SECOND_NS);
    struct tm tm;
    gmtime_r(&t, &tm);
    return (uint32_t)((tm.tm_year + 1900) * 10000 + (tm.tm_mon + 1) * 100 + tm.tm_mday);
}

/* Adds trade tk to its bar of every period. */
static int barsAdd(histWriter *h, const histTickRow *tk, sstError *err)
{
    for (size_t p = 0; p < sizeof histPeriods / sizeof histPeriods[0]; p++) {
        const uint64_t start = tk->timestamp - tk->timestamp % histPeriods[p].ns;
        uint8_t k[16];
        size_t kl = histKlineKey(k, tk->instrument, histPeriods[p].period, start), vl = 0;
        histKlineRow b;
        memset(&b, 0, sizeof b);
        int rc = lsmGet(h->db, k, kl, &b, sizeof b, &vl, err);
        if (rc < 0)
            return -1;
        if (rc == 0 || vl < sizeof b) {
            memset(&b, 0, sizeof b);
            b.version = HIST_ROW_VERSION;
            b.period = histPeriods[p].period;
            b.instrument = tk->instrument;
            b.tradingDay = h->tradingDay ? h->tradingDay : utcDay(tk->timestamp);
            b.startNs = start;
            b.endNs = start + histPeriods[p].ns;
            b.open = b.high = b.low = tk->price;
        }
        /* open and close by trade id, not by arrival: the prints of one
         * auction reach the history in session order */
        if (!b.firstTradeId || tk->tradeId < b.firstTradeId) {
            b.open = tk->price;
            b.firstTradeId = tk->tradeId;
        }
        if (tk->tradeId >= b.lastTradeId) {
            b.close = tk->price;
            b.lastTradeId = tk->tradeId;
        }
        b.high = tk->price > b.high ? tk->price : b.high;
        b.low = tk->price < b.low ? tk->price : b.low;
        b.volume += tk->qty;
        b.amount += tk->price * (int64_t)tk->qty;
        b.trades++;
        h->st.klines++;
        if (lsmPut(h->db, k, kl, &b, sizeof b, err) < 0)
            return -1;
    }
    return 0;
}

/* A trade print: its tick row and the bars it falls in. */
static int onTick(histWriter *h, uint8_t segment, const xoeExecuted *x, sstError *err)
{
    histTickRow tk;
    memset(&tk, 0, sizeof tk);
    tk.version = HIST_ROW_VERSION;
    tk.side = x->liquidity == XOE_AUCTION ? XOE_BUY : x->side;
    tk.liquidity = x->liquidity;
    tk.segment = segment;
    tk.instrument = mapInstrument(h, segment, x->instrument);
    tk.qty = x->qty;
    tk.tradeId = x->tradeId;
    tk.price = x->price;
    tk.timestamp = x->timestamp;
    uint8_t k[24], old[sizeof tk];
    size_t kl = histTickKey(k, tk.instrument, tk.timestamp, tk.tradeId), vl;
    /* a print already stored (a retransmission, a record taken again) is in
     * its bars too: the bars are written before the tick, in one memtable
     * (histRoom), so a tick that is there had its bars written */
    int rc = lsmGet(h->db, k, kl, old, sizeof old, &vl, err);
    if (rc < 0)
        return -1;
    if (rc == 1) {
        h->st.replayed++;
        return 0;
    }
    if (h->tickBars && barsAdd(h, &tk, err) < 0)
        return -1;
    h->st.ticks++;
    return lsmPut(h->db, k, kl, &tk, sizeof tk, err);
}

static int onExecuted(histWriter *h, uint8_t segment, uint32_t session, uint32_t account,
                      const xoeExecuted *x, sstError *err)
{
    histTradeRow t;
    memset(&t, 0, sizeof t);
    t.version = HIST_ROW_VERSION;
    t.side = x->side;
    t.liquidity = x->liquidity;
    t.segment = segment;
    t.instrument = x->instrument;
    t.session = session;
    t.account = account;
    t.tradeId = x->tradeId;
    t.orderId = x->orderId;
    t.clOrdId = x->clOrdId;
    t.price = x->price;
    t.qty = x->qty;
    t.leaves = x->leaves;
    t.commission = x->commission;
    t.timestamp = x->timestamp;
    uint8_t k[24];
    size_t kl = histTradeKey(k, x->tradeId, x->orderId);
    h->st.trades++;
    if (lsmPut(h->db, k, kl, &t, sizeof t, err) < 0)
        return -1;
    /* the print: from the taker's execution (an auction's: the buyer's) */
    if ((x->liquidity == XOE_TAKER || (x->liquidity == XOE_AUCTION && x->side == XOE_BUY)) &&
        onTick(h, segment, x, err) < 0)
        return -1;
    histOrderRow r;
    int rc = loadOrder(h, x->orderId, &r, err);
    if (rc)
        return rc < 0 ? -1 : 0;
    if (!r.session) { /* started from the execution: what it tells */
        r.side = x->side;
        r.instrument = x->instrument;
        r.segment = segment;
        r.session = session;
        r.account = account;
        r.clOrdId = x->clOrdId;
        r.price = x->price;
        r.qty = x->qty + x->leaves + r.filled;
    }
    r.filled += x->qty;
    r.leaves = x->leaves;
    r.notional += x->price * (int64_t)x->qty;
    r.commission += x->commission;
    r.status = x->leaves ? HIST_ORDER_PARTIAL : HIST_ORDER_FILLED;
    r.updatedNs = x->timestamp;
    return storeOrder(h, &r, err);
}

static int onCancelled(histWriter *h, uint8_t segment, uint32_t session, uint32_t account,
                       const xoeCancelled *c, sstError *err)
{
    histOrderRow r;
    int rc = loadOrder(h, c->orderId, &r, err);
    if (rc)
        return rc < 0 ? -1 : 0;
    if (!r.session) {
        r.side = c->side;
        r.instrument = c->instrument;
        r.segment = segment;
        r.session = session;
        r.account = account;
        r.clOrdId = c->clOrdId;
        r.qty = c->qty;
    }
    r.status = HIST_ORDER_CANCELLED;
    r.cancelReason = c->reason;
    r.leaves = 0;
    r.updatedNs = c->timestamp;
    return storeOrder(h, &r, err);
}

static int onReplaced(histWriter *h, uint8_t segment, uint32_t session, uint32_t account,
                      const xoeReplaced *p, sstError *err)
{
    histOrderRow r;
    int rc = loadOrder(h, p->orderId, &r, err);
    if (rc)
        return rc < 0 ? -1 : 0;
    if (!r.session) {
        r.side = p->side;
        r.instrument = p->instrument;
        r.segment = segment;
        r.session = session;
        r.account = account;
    }
    r.clOrdId = p->clOrdId;
    r.price = p->price;
    r.qty = p->qty;
    r.leaves = p->leaves;
    if (r.replaces < 255)
        r.replaces++;
    r.updatedNs = p->timestamp;
    return storeOrder(h, &r, err);
}

static int onRejected(histWriter *h, uint8_t segment, uint32_t session, uint32_t account,
                      const xoeRejected *j, sstError *err)
{
    histRejectRow r;
    memset(&r, 0, sizeof r);
    r.version = HIST_ROW_VERSION;
    r.segment = segment;
    r.code = j->code;
    r.instrument = j->instrument;
    r.session = session;
    r.account = account;
    r.clOrdId = j->clOrdId;
    r.timestamp = j->timestamp;
    uint8_t k[24];
    size_t kl = histRejectKey(k, j->timestamp, session, j->clOrdId);
    h->st.rejects++;
    return lsmPut(h->db, k, kl, &r, sizeof r, err);
}

int histOnMessage(histWriter *h, uint8_t segment, uint32_t session, const xoeMsg *m, sstError *err)
{
    histSession *s = session ? sessionSlot(h, session, 1) : &h->zero;
    if (!s) {
        sstErrorSet(err, SST_EIO, ENOMEM, NULL, UINT64_MAX, "history: out of memory");
        return -1;
    }
    h->st.messages++;
    h->curSeq = 0;
    if (m->seq && session) {
        if (m->seq <= s->lastSeq) {
            h->st.duplicates++;
            return 0;
        }
        s->lastSeq = m->seq;
        h->curSeq = m->seq;
    }
    switch (m->type) {
    case XOE_MSG_ACCEPTED:
        return onAccepted(h, segment, session, s->account, &m->u.accepted, err);
    case XOE_MSG_EXECUTED:
        return onExecuted(h, segment, session, s->account, &m->u.executed, err);
    case XOE_MSG_CANCELLED:
        return onCancelled(h, segment, session, s->account, &m->u.cancelled, err);
    case XOE_MSG_REPLACED:
        return onReplaced(h, segment, session, s->account, &m->u.replaced, err);
    case XOE_MSG_REJECTED:
        return onRejected(h, segment, session, s->account, &m->u.rejected, err);
    default:
        return 0;
    }
}

int histOnFrame(histWriter *h, uint8_t segment, const void *frame, size_t len, sstError *err)
{
    xoeFrame f;
    h->st.frames++;
    if (xoeFrameParse(frame, len, XOE_DIR_TO_CLIENT, &f, NULL) != XOE_OK) {
        h->st.badFrames++;
        return 0;
    }
    xoeIter it;
    xoeMsg m;
    xoeIterInit(&it, &f);
    while (xoeIterNext(&it, &m))
        if (histOnMessage(h, segment, f.session, &m, err) < 0)
            return -1;
    return 0;
}

int histOnBar(histWriter *h, uint16_t instrument, const mdsBar *bar, sstError *err)
{
    histKlineRow r;
    memset(&r, 0, sizeof r);
    r.version = HIST_ROW_VERSION;
    r.period = bar->period;
    r.instrument = instrument;
    r.tradingDay = bar->tradingDay;
    r.startNs = bar->startNs;
    r.endNs = bar->endNs;
    r.open = bar->open;
    r.high = bar->high;
    r.low = bar->low;
    r.close = bar->close;
    r.volume = bar->volume;
    r.amount = bar->amount;
    r.openOi = bar->openOi;
    r.closeOi = bar->closeOi;
    r.trades = bar->trades;
    uint8_t k[16];
    size_t kl = histKlineKey(k, instrument, bar->period, bar->startNs);
    h->st.klines++;
    return lsmPut(h->db, k, kl, &r, sizeof r, err);
}

/* ---- lifecycle ----------------------------------------------------------------------- */

histWriter *histOpen(const char *dir, const lsmConfig *cfg, sstError *err)
{
    lsmConfig c;
    if (cfg)
        c = *cfg;
    else
        lsmConfigDefaults(&c);
    c.dir = dir;
    histWriter *h = calloc(1, sizeof *h);
    if (!h) {
        sstErrorSet(err, SST_EIO, ENOMEM, dir, UINT64_MAX, "history: out of memory");
        return NULL;
    }
    h->memtableBytes = c.memtableBytes;
    h->db = lsmOpen(&c, err);
    if (!h->db) {
        free(h);
        return NULL;
    }
    return h;
}

void histClose(histWriter *h)
{
    if (!h)
        return;
    lsmClose(h->db);
    free(h->sessions);
    free(h->imap);
    free(h);
}

int histTick(histWriter *h, uint64_t nowNs)
{
    return lsmTick(h->db, nowNs);
}

int histFlush(histWriter *h, sstError *err)
{
    return lsmFlush(h->db, err);
}

void histGetStats(const histWriter *h, histStats *st)
{
    *st = h->st;
}

lsmDb *histDb(histWriter *h)
{
    return h->db;
}
