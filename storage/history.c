/* history.c -- gateway reports to history rows (history.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "storage/history.h"
#include "storage/sst_int.h"

/* Per session: account and the last application sequence taken. */
typedef struct {
    uint32_t session; /* 0 = empty slot (session ids start at 1) */
    uint32_t account;
    uint64_t lastSeq;
} histSession;

struct histWriter {
    lsmDb *db;
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

/* The order's row, or a fresh one (counted) when it has none yet. */
static int loadOrder(histWriter *h, uint64_t orderId, histOrderRow *r, sstError *err)
{
    uint8_t k[16];
    size_t kl = histOrderKey(k, orderId), vl;
    memset(r, 0, sizeof *r);
    int rc = lsmGet(h->db, k, kl, r, sizeof *r, &vl, err);
    if (rc < 0)
        return -1;
    if (rc == 0 || vl < sizeof *r || r->version != HIST_ROW_VERSION) {
        memset(r, 0, sizeof *r);
        r->version = HIST_ROW_VERSION;
        r->orderId = orderId;
        h->st.unknownOrders++;
    }
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
    memset(&r, 0, sizeof r);
    r.version = HIST_ROW_VERSION;
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
    histOrderRow r;
    if (loadOrder(h, x->orderId, &r, err) < 0)
        return -1;
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
    if (loadOrder(h, c->orderId, &r, err) < 0)
        return -1;
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
    if (loadOrder(h, p->orderId, &r, err) < 0)
        return -1;
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
    if (m->seq && session) {
        if (m->seq <= s->lastSeq) {
            h->st.duplicates++;
            return 0;
        }
        s->lastSeq = m->seq;
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
