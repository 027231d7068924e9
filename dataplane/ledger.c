/* ledger.c -- worker events into the accounts; credit lines kept equal to available money.
 *
 * For every (account, segment) the ledger keeps the line as the control
 * core sees it: what it granted plus every lineDelta the worker reported,
 * minus what reclaims took. Both sides compute the deltas with the same
 * formulas, so once the rings are drained the two views are equal. After
 * each change the account's available money is split over the segments
 * (all of it to the only segment in a one-segment box) and the difference
 * is granted or reclaimed (docs/accounts.md "Credit lines"). With several
 * segments a grant never puts on the lines money another line still holds
 * (a reclaim not answered yet), and a top-up one line cannot get from the
 * account's free money waits for reclaims from the account's other lines. */
#include <stdlib.h>
#include <string.h>

#include "dataplane/ledger.h"

typedef struct {
    int64_t line;    /* granted + reported deltas, control view */
    int64_t pending; /* reclaims asked and not answered yet */
    int64_t lastCap;
    int64_t hold;     /* [0] only: money kept off the lines (a withdrawal in progress) */
    uint64_t liqNs;   /* [0] only: when the last liquidation was decided */
    uint32_t waiting; /* [0] only: top-ups of the account waiting for reclaims */
    uint8_t known, lastFrozen, lastBlocked, liquidating;
} lgLine;

/* A top-up that waits for reclaims from the account's other segments. */
typedef struct {
    uint32_t account, slot;
    uint16_t seg;
    int64_t need;
} lgWait;

struct lgLedger {
    const cfgConfig *cfg;
    acctBook *book;
    lgSendFn *send;
    void *sendCtx;
    lgNotifyFn *notify;
    void *notifyCtx;
    int notifyOn;
    uint16_t nSeg;
    lgLine *lines; /* account index x nSeg */
    uint32_t capAcc;
    int *byBook; /* segIndex x 4096 + book -> instrument index */
    uint64_t seq;
    crCmd *retry; /* top-up answers a full ring refused, sent again by lgScan */
    uint16_t *retrySeg;
    uint32_t nRetry;
    lgWait *wait; /* top-ups waiting for reclaims (several segments only) */
    uint32_t nWait;
    lgStats stats;
};

#define LG_RETRY 1024

#define LG_BOOKS        4096
#define LG_LIQ_RETRY_NS (1000 * 1000000ull) /* still over the level a second later: again */

/* ---- JSON -------------------------------------------------------------------------- */

json_t *lgMoney(int64_t v)
{
    char buf[40];
    cfgFormatDecimal(v, 4, 4, buf, sizeof buf);
    return json_string(buf);
}

static json_t *lgPrice(const acctBook *b, uint16_t ins, int64_t v)
{
    char buf[40];
    cfgFormatDecimal(v, 4, instAt(b, ins)->spec.priceDecimals, buf, sizeof buf);
    return json_string(buf);
}

static json_t *lgRatio(int64_t ppm)
{
    char buf[40];
    cfgFormatDecimal(ppm, 6, 4, buf, sizeof buf);
    return json_string(buf);
}

const char *lgOrderStatusName(uint8_t status)
{
    static const char *const n[] = {"ALIVE", "PARTIALLY_FILLED", "FILLED", "CANCELLED"};
    return status < 4 ? n[status] : "UNKNOWN";
}

const char *lgOffsetName(uint8_t offset)
{
    static const char *const n[] = {"OPEN", "CLOSE", "CLOSETODAY", "CLOSEYESTERDAY"};
    return offset < 4 ? n[offset] : "UNKNOWN";
}

json_t *lgAccountJson(const acctBook *b, const acctAccount *a)
{
    acctFigures f;
    acctCompute(b, a, &f);
    json_t *o = json_object();
    json_object_set_new(o, "user_id", json_integer(a->id));
    json_object_set_new(o, "name", json_string(a->name));
    json_object_set_new(
        o, "account_type",
        json_string(a->type == ACCT_INSTITUTIONAL ? "institutional" : "individual"));
    json_object_set_new(o, "currency", json_string("CNY"));
    json_object_set_new(o, "status", json_string(a->frozen ? "frozen" : "active"));
    json_object_set_new(o, "pre_balance", lgMoney(a->preBalance));
    json_object_set_new(o, "deposit", lgMoney(a->deposit));
    json_object_set_new(o, "withdraw", lgMoney(a->withdraw));
    json_object_set_new(o, "close_profit", lgMoney(a->closeProfit));
    json_object_set_new(o, "commission", lgMoney(a->commission));
    json_object_set_new(o, "static_balance", lgMoney(f.staticBalance));
    json_object_set_new(o, "position_profit", lgMoney(f.positionProfit));
    json_object_set_new(o, "float_profit", lgMoney(f.floatProfit));
    json_object_set_new(o, "balance", lgMoney(f.balance));
    json_object_set_new(o, "margin", lgMoney(a->margin));
    json_object_set_new(o, "frozen_margin", lgMoney(a->frozenMargin));
    json_object_set_new(o, "frozen_commission", lgMoney(a->frozenCommission));
    json_object_set_new(o, "available", lgMoney(f.available));
    json_object_set_new(o, "risk_ratio", lgRatio(f.riskRatio));
    json_object_set_new(o, "live_orders", json_integer(a->liveOrders));
    return o;
}

static int64_t lgAvgPrice(int64_t cost, uint32_t lots, uint32_t mult)
{
    return lots ? cost / ((int64_t)lots * mult) : 0;
}

json_t *lgPositionJson(const acctBook *b, uint32_t account, uint16_t instrument,
                       const posPosition *p)
{
    const acctInstrument *in = instAt(b, instrument);
    const uint32_t m = in->spec.multiplier;
    const posSide *L = &p->side[POS_LONG], *S = &p->side[POS_SHORT];
    json_t *o = json_object();
    json_object_set_new(o, "user_id", json_integer(account));
    json_object_set_new(o, "instrument_id", json_string(in->spec.id));
    json_object_set_new(o, "volume_long_today", json_integer(L->today));
    json_object_set_new(o, "volume_long_his", json_integer(L->yd));
    json_object_set_new(o, "volume_long", json_integer(posLots(L)));
    json_object_set_new(o, "volume_long_frozen_today", json_integer(L->frozenToday));
    json_object_set_new(o, "volume_long_frozen_his", json_integer(L->frozenYd));
    json_object_set_new(o, "volume_short_today", json_integer(S->today));
    json_object_set_new(o, "volume_short_his", json_integer(S->yd));
    json_object_set_new(o, "volume_short", json_integer(posLots(S)));
    json_object_set_new(o, "volume_short_frozen_today", json_integer(S->frozenToday));
    json_object_set_new(o, "volume_short_frozen_his", json_integer(S->frozenYd));
    json_object_set_new(
        o, "open_price_long",
        lgPrice(b, instrument, lgAvgPrice(L->openCostToday + L->openCostYd, posLots(L), m)));
    json_object_set_new(
        o, "open_price_short",
        lgPrice(b, instrument, lgAvgPrice(S->openCostToday + S->openCostYd, posLots(S), m)));
    json_object_set_new(
        o, "position_price_long",
        lgPrice(b, instrument, lgAvgPrice(L->posCostToday + L->posCostYd, posLots(L), m)));
    json_object_set_new(
        o, "position_price_short",
        lgPrice(b, instrument, lgAvgPrice(S->posCostToday + S->posCostYd, posLots(S), m)));
    json_object_set_new(o, "last_price", lgPrice(b, instrument, in->lastPrice));
    const int64_t fl = posFloatProfit(L, POS_LONG, in->lastPrice, m),
                  fs = posFloatProfit(S, POS_SHORT, in->lastPrice, m);
    const int64_t pl = posProfit(L, POS_LONG, in->lastPrice, m),
                  pshort = posProfit(S, POS_SHORT, in->lastPrice, m);
    json_object_set_new(o, "float_profit_long", lgMoney(fl));
    json_object_set_new(o, "float_profit_short", lgMoney(fs));
    json_object_set_new(o, "float_profit", lgMoney(fl + fs));
    json_object_set_new(o, "position_profit_long", lgMoney(pl));
    json_object_set_new(o, "position_profit_short", lgMoney(pshort));
    json_object_set_new(o, "position_profit", lgMoney(pl + pshort));
    json_object_set_new(o, "margin_long", lgMoney(L->marginToday + L->marginYd));
    json_object_set_new(o, "margin_short", lgMoney(S->marginToday + S->marginYd));
    json_object_set_new(o, "margin",
                        lgMoney(L->marginToday + L->marginYd + S->marginToday + S->marginYd));
    return o;
}

json_t *lgOrderJson(const acctBook *b, const acctOrder *o)
{
    json_t *j = json_object();
    json_object_set_new(j, "order_id", json_integer((json_int_t)o->orderId));
    json_object_set_new(j, "cl_ord_id", json_integer((json_int_t)o->clOrdId));
    json_object_set_new(j, "user_id", json_integer(o->account));
    json_object_set_new(j, "instrument_id", json_string(instAt(b, o->instrument)->spec.id));
    json_object_set_new(j, "direction", json_string(o->side ? "SELL" : "BUY"));
    json_object_set_new(j, "offset", json_string(lgOffsetName(o->offset)));
    json_object_set_new(j, "price_type", json_string(o->priceType ? "MARKET" : "LIMIT"));
    json_object_set_new(j, "limit_price", lgPrice(b, o->instrument, o->price));
    json_object_set_new(j, "volume_orign", json_integer(o->qty));
    json_object_set_new(j, "volume_left", json_integer(o->leaves));
    json_object_set_new(j, "volume_filled", json_integer(o->filled));
    json_object_set_new(j, "status", json_string(lgOrderStatusName(o->status)));
    json_object_set_new(j, "frozen_margin", lgMoney(o->frozenMargin));
    json_object_set_new(j, "frozen_commission", lgMoney(o->frozenCommission));
    json_object_set_new(j, "commission", lgMoney(o->commission));
    json_object_set_new(j, "insert_date_time", json_integer((json_int_t)o->insertNs));
    json_object_set_new(j, "update_date_time", json_integer((json_int_t)o->updateNs));
    return j;
}

json_t *lgTradeJson(const acctBook *b, const acctTrade *t)
{
    json_t *j = json_object();
    json_object_set_new(j, "trade_id", json_integer((json_int_t)t->tradeId));
    json_object_set_new(j, "order_id", json_integer((json_int_t)t->orderId));
    json_object_set_new(j, "user_id", json_integer(t->account));
    json_object_set_new(j, "instrument_id", json_string(instAt(b, t->instrument)->spec.id));
    json_object_set_new(j, "direction", json_string(t->side ? "SELL" : "BUY"));
    json_object_set_new(j, "offset", json_string(lgOffsetName(t->offset)));
    json_object_set_new(j, "price", lgPrice(b, t->instrument, t->price));
    json_object_set_new(j, "volume", json_integer(t->qty));
    json_object_set_new(j, "commission", lgMoney(t->commission));
    json_object_set_new(j, "close_profit", lgMoney(t->closeProfit));
    json_object_set_new(j, "trade_date_time", json_integer((json_int_t)t->ns));
    return j;
}

/* ---- life ---------------------------------------------------------------------------- */

lgLedger *lgCreate(const cfgConfig *cfg, acctBook *book, lgSendFn *send, void *sendCtx)
{
    lgLedger *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->cfg = cfg;
    l->book = book;
    l->send = send;
    l->sendCtx = sendCtx;
    l->nSeg = (uint16_t)(cfg->segmentCount ? cfg->segmentCount : 1);
    l->byBook = malloc(sizeof(int) * LG_BOOKS * l->nSeg);
    l->retry = malloc(sizeof(crCmd) * LG_RETRY);
    l->retrySeg = malloc(sizeof(uint16_t) * LG_RETRY);
    l->wait = malloc(sizeof(lgWait) * LG_RETRY);
    if (!l->byBook || !l->retry || !l->retrySeg || !l->wait) {
        lgDestroy(l);
        return NULL;
    }
    for (uint32_t i = 0; i < (uint32_t)LG_BOOKS * l->nSeg; i++)
        l->byBook[i] = -1;
    for (uint32_t i = 0; i < instCount(book); i++) {
        const cfgInstrument *s = &instAt(book, (uint16_t)i)->spec;
        if (s->segIndex < l->nSeg && s->book < LG_BOOKS)
            l->byBook[s->segIndex * LG_BOOKS + s->book] = (int)i;
    }
    return l;
}

void lgDestroy(lgLedger *l)
{
    if (!l)
        return;
    free(l->lines);
    free(l->byBook);
    free(l->retry);
    free(l->retrySeg);
    free(l->wait);
    free(l);
}

void lgSetNotify(lgLedger *l, lgNotifyFn *fn, void *ctx, int on)
{
    l->notify = fn;
    l->notifyCtx = ctx;
    l->notifyOn = on && fn;
}

void lgGetStats(const lgLedger *l, lgStats *out)
{
    *out = l->stats;
}

static lgLine *lgLines(lgLedger *l, uint32_t ai)
{
    if (ai >= l->capAcc) {
        uint32_t cap = l->capAcc ? l->capAcc : 64;
        while (cap <= ai)
            cap *= 2;
        lgLine *n = realloc(l->lines, sizeof(lgLine) * cap * l->nSeg);
        if (!n)
            return NULL;
        memset(n + (size_t)l->capAcc * l->nSeg, 0, sizeof(lgLine) * (cap - l->capAcc) * l->nSeg);
        l->lines = n;
        l->capAcc = cap;
    }
    return &l->lines[(size_t)ai * l->nSeg];
}

int64_t lgLineTotal(const lgLedger *l, uint32_t account)
{
    const uint32_t ai = acctIndex(l->book, account);
    if (ai == UINT32_MAX || ai >= l->capAcc)
        return 0;
    int64_t t = 0;
    for (uint16_t s = 0; s < l->nSeg; s++)
        t += l->lines[(size_t)ai * l->nSeg + s].line;
    return t;
}

/* ---- events ---------------------------------------------------------------------------- */

static void lgNotify(lgLedger *l, const char *kind, uint32_t account, json_t *ev)
{
    if (l->notifyOn)
        l->notify(l->notifyCtx, kind, account, ev);
    json_decref(ev);
}

static int lgSend(lgLedger *l, uint16_t seg, crCmd *c)
{
    c->seq = ++l->seq;
    if (l->send(l->sendCtx, seg, c) != 0) {
        l->stats.sendFailed++;
        return -1;
    }
    return 0;
}

static int lgSyncIndex(lgLedger *l, uint32_t ai)
{
    const acctAccount *a = acctAt(l->book, ai);
    lgLine *ln = lgLines(l, ai);
    if (!a || !ln)
        return -1;
    const acctLimits *lim = acctGetLimits(l->book);
    acctFigures f;
    acctCompute(l->book, a, &f);
    const uint8_t blocked = f.riskRatio > (int64_t)lim->rejectRatio;
    const int64_t cap =
        f.balance > 0 ? (int64_t)((__int128)f.balance * lim->concentration / ACCT_PPM) : 0;
    const int64_t avail = f.available - ln[0].hold > 0 ? f.available - ln[0].hold : 0;
    /* several segments: grant only money no line holds (a line keeps what
     * a reclaim asked until the worker answers), so two segments never
     * spend the same money; a waiting top-up moves money itself */
    int64_t free = INT64_MAX;
    if (l->nSeg > 1) {
        free = avail;
        for (uint16_t s = 0; s < l->nSeg; s++)
            free -= ln[s].line;
        if (ln[0].waiting)
            free = 0;
    }
    int rc = 0;
    for (uint16_t s = 0; s < l->nSeg; s++) {
        lgLine *x = &ln[s];
        const int64_t target = avail / l->nSeg + (s == 0 ? avail % l->nSeg : 0);
        int64_t diff = target - (x->line - x->pending);
        if (diff > 0 && diff > free)
            diff = free > 0 ? free : 0;
        if (diff < 0 && ln[0].waiting)
            diff = 0;
        const int64_t capMoved = cap > x->lastCap ? cap - x->lastCap : x->lastCap - cap;
        if (diff > 0 || !x->known || x->lastFrozen != a->frozen || x->lastBlocked != blocked ||
            capMoved > x->lastCap / 64) {
            crCmd c = {.type = CR_CMD_ACCOUNT,
                       .account = a->id,
                       .frozen = a->frozen,
                       .blocked = blocked,
                       .amount = diff > 0 ? diff : 0,
                       .concCap = cap};
            if (lgSend(l, s, &c) == 0) {
                x->line += c.amount;
                free -= c.amount;
                x->known = 1;
                x->lastFrozen = a->frozen;
                x->lastCap = cap;
                if (x->lastBlocked != blocked) {
                    json_t *ev = json_pack("{s:I, s:o, s:b}", "user_id", (json_int_t)a->id,
                                           "risk_ratio", lgRatio(f.riskRatio), "blocked", blocked);
                    lgNotify(l, "risk", a->id, ev);
                }
                x->lastBlocked = blocked;
                l->stats.grants += c.amount > 0;
            } else {
                rc = -1;
            }
        }
        if (diff < 0) {
            crCmd c = {.type = CR_CMD_RECLAIM, .account = a->id, .amount = -diff};
            if (lgSend(l, s, &c) == 0)
                x->pending += -diff;
            else
                rc = -1;
        }
    }
    return rc;
}

int lgSetHold(lgLedger *l, uint32_t account, int64_t hold)
{
    const uint32_t ai = acctIndex(l->book, account);
    lgLine *ln = ai == UINT32_MAX ? NULL : lgLines(l, ai);
    if (!ln)
        return -1;
    ln[0].hold = hold;
    return lgSyncIndex(l, ai);
}

int64_t lgPending(const lgLedger *l, uint32_t account)
{
    const uint32_t ai = acctIndex(l->book, account);
    if (ai == UINT32_MAX || ai >= l->capAcc)
        return 0;
    int64_t t = 0;
    for (uint16_t s = 0; s < l->nSeg; s++)
        t += l->lines[(size_t)ai * l->nSeg + s].pending;
    return t;
}

int lgSync(lgLedger *l, uint32_t account)
{
    const uint32_t ai = acctIndex(l->book, account);
    return ai == UINT32_MAX ? -1 : lgSyncIndex(l, ai);
}

/* ---- top-ups over several segments ------------------------------------------------ */

/* Answers a parked order's top-up (the worker checks the order again); a
 * full ring's refusal is kept and sent again by lgScan. */
static void lgTopUpAnswer(lgLedger *l, uint16_t seg, uint32_t account, uint32_t slot)
{
    crCmd c = {.type = CR_CMD_TOPUP_DONE, .account = account, .parked = slot};
    if (lgSend(l, seg, &c) != 0 && l->nRetry < LG_RETRY) {
        l->retrySeg[l->nRetry] = seg;
        l->retry[l->nRetry++] = c;
    }
}

/* The account's money on no line: available (less a withdrawal's hold)
 * minus every line's control view (a line keeps what a reclaim asked until
 * the worker answers). */
static int64_t lgFreeMoney(lgLedger *l, uint32_t ai, const lgLine *ln)
{
    acctFigures f;
    acctCompute(l->book, acctAt(l->book, ai), &f);
    int64_t free = f.available - ln[0].hold;
    for (uint16_t s = 0; s < l->nSeg; s++)
        free -= ln[s].line;
    return free;
}

/* Grants segment k up to `amount` of the account's free money, with the
 * flags and cap its last sync sent. Returns what was granted. */
static int64_t lgGrantFree(lgLedger *l, uint32_t ai, lgLine *ln, uint16_t k, int64_t amount)
{
    const int64_t free = lgFreeMoney(l, ai, ln);
    if (amount > free)
        amount = free;
    if (amount <= 0)
        return 0;
    lgLine *x = &ln[k];
    crCmd c = {.type = CR_CMD_ACCOUNT,
               .account = acctAt(l->book, ai)->id,
               .frozen = x->lastFrozen,
               .blocked = x->lastBlocked,
               .amount = amount,
               .concCap = x->lastCap};
    if (lgSend(l, k, &c) != 0)
        return 0;
    x->line += amount;
    l->stats.grants++;
    return amount;
}

/* What segment k's line lacks for `need` (control view, reclaims in flight
 * taken off). */
static int64_t lgShort(const lgLine *x, int64_t need)
{
    return need - (x->line - x->pending);
}

/* A top-up from segment k of a box with several segments: free money
 * first; if the account still has enough on its other lines, reclaim the
 * rest from them and answer when they have answered (lgWaitRun); else
 * answer now (the worker refuses the order: 1001, the account cannot
 * afford it). */
static void lgTopUpMulti(lgLedger *l, uint32_t ai, uint16_t k, uint32_t slot, int64_t need)
{
    lgLine *ln = lgLines(l, ai);
    const uint32_t id = acctAt(l->book, ai)->id;
    lgSyncIndex(l, ai);
    int64_t lack = lgShort(&ln[k], need);
    if (lack > 0 && !ln[0].waiting)
        lack -= lgGrantFree(l, ai, ln, k, lack);
    int64_t idle = 0;
    for (uint16_t s = 0; s < l->nSeg; s++)
        if (s != k && ln[s].line - ln[s].pending > 0)
            idle += ln[s].line - ln[s].pending;
    if (lack <= 0 || idle < lack) {
        lgTopUpAnswer(l, k, id, slot);
        return;
    }
    if (l->nWait >= LG_RETRY) {
        l->stats.topupWaitFull++;
        lgTopUpAnswer(l, k, id, slot);
        return;
    }
    for (uint16_t s = 0; s < l->nSeg && lack > 0; s++) {
        lgLine *x = &ln[s];
        const int64_t take = x->line - x->pending < lack ? x->line - x->pending : lack;
        if (s == k || take <= 0)
            continue;
        crCmd c = {.type = CR_CMD_RECLAIM, .account = id, .amount = take};
        if (lgSend(l, s, &c) == 0) {
            x->pending += take;
            lack -= take;
            l->stats.topupReclaims++;
        }
    }
    l->wait[l->nWait++] = (lgWait){.account = id, .slot = slot, .seg = k, .need = need};
    ln[0].waiting++;
}

/* Once no reclaim of the account is in flight: grants its waiting top-ups
 * what the reclaims freed, and answers them (before any sync spreads the
 * money again: the ring keeps the order). */
static void lgWaitRun(lgLedger *l, uint32_t ai)
{
    lgLine *ln = lgLines(l, ai);
    if (!ln || !ln[0].waiting)
        return;
    for (uint16_t s = 0; s < l->nSeg; s++)
        if (ln[s].pending > 0)
            return;
    const uint32_t id = acctAt(l->book, ai)->id;
    uint32_t kept = 0;
    for (uint32_t i = 0; i < l->nWait; i++) {
        const lgWait w = l->wait[i];
        if (w.account != id) {
            l->wait[kept++] = w;
            continue;
        }
        const int64_t lack = lgShort(&ln[w.seg], w.need);
        if (lack > 0)
            lgGrantFree(l, ai, ln, w.seg, lack);
        lgTopUpAnswer(l, w.seg, id, w.slot);
        ln[0].waiting--;
    }
    l->nWait = kept;
}

static int lgInstrument(const lgLedger *l, const crEvent *ev)
{
    if (ev->segment >= l->nSeg || ev->book >= LG_BOOKS)
        return -1;
    return l->byBook[ev->segment * LG_BOOKS + ev->book];
}

static void lgNotifyFill(lgLedger *l, const crEvent *ev, const acctTrade *t, int ins)
{
    if (!l->notifyOn)
        return;
    const acctAccount *a = acctGet(l->book, ev->account);
    lgNotify(l, "trade", ev->account, lgTradeJson(l->book, t));
    const posPosition *p = acctPosition(l->book, ev->account, (uint16_t)ins);
    if (p)
        lgNotify(l, "position", ev->account,
                 lgPositionJson(l->book, ev->account, (uint16_t)ins, p));
    if (a)
        lgNotify(l, "account", ev->account, lgAccountJson(l->book, a));
}

static void lgOnOrderEvent(lgLedger *l, const crEvent *ev, int ins, uint64_t nowNs)
{
    int rc = 0;
    switch (ev->type) {
    case CR_EV_ORDER: {
        const acctOrderReq r = {.orderId = ev->orderId,
                                .clOrdId = ev->tradeId,
                                .account = ev->account,
                                .instrument = (uint16_t)ins,
                                .side = ev->side,
                                .offset = ev->offset,
                                .priceType = ev->priceType,
                                .price = ev->price,
                                .qty = ev->qty,
                                .nowNs = ev->ns};
        rc = acctOrderNew(l->book, &r, 1);
        l->stats.orders++;
        break;
    }
    case CR_EV_FILL: {
        acctTrade t;
        rc = acctOrderFill(l->book, ev->orderId, ev->tradeId, ev->price, ev->qty, ev->ns, &t);
        l->stats.fills++;
        histRecord(&l->stats.lagNs, nowNs > ev->ns ? nowNs - ev->ns : 0, 1);
        if (rc == 0)
            lgNotifyFill(l, ev, &t, ins);
        break;
    }
    case CR_EV_CANCEL:
        rc = acctOrderCancel(l->book, ev->orderId, ev->ns);
        l->stats.cancels++;
        break;
    case CR_EV_REPLACE:
        rc = acctOrderReplace(l->book, ev->orderId, ev->price, ev->qty, 1, ev->ns);
        l->stats.replaces++;
        break;
    default:
        break;
    }
    if (rc)
        l->stats.mismatches++;
    if (l->notifyOn && ev->type != CR_EV_FILL) {
        const acctOrder *o = acctOrderGet(l->book, ev->orderId);
        if (o)
            lgNotify(l, "order", ev->account, lgOrderJson(l->book, o));
    }
}

void lgOnEvent(lgLedger *l, const crEvent *ev, uint64_t nowNs)
{
    l->stats.events++;
    const uint32_t ai = acctIndex(l->book, ev->account);
    lgLine *ln = ai == UINT32_MAX ? NULL : lgLines(l, ai);
    if (!ln || ev->segment >= l->nSeg) {
        l->stats.mismatches++;
        return;
    }
    lgLine *x = &ln[ev->segment];
    x->line += ev->lineDelta;
    if (ev->type == CR_EV_RECLAIMED) {
        x->pending -= ev->price;
        l->stats.reclaims++;
        lgWaitRun(l, ai);
    } else if (ev->type == CR_EV_TOPUP) {
        l->stats.topups++;
        if (l->nSeg > 1) {
            lgTopUpMulti(l, ai, ev->segment, ev->qty, ev->price);
            return;
        }
        lgSyncIndex(l, ai);
        lgTopUpAnswer(l, ev->segment, ev->account, ev->qty);
        return;
    } else {
        const int ins = lgInstrument(l, ev);
        if (ins < 0) {
            l->stats.mismatches++;
            return;
        }
        lgOnOrderEvent(l, ev, ins, nowNs);
    }
    lgSyncIndex(l, ai);
}

uint32_t lgScan(lgLedger *l, uint64_t nowNs, uint32_t *toLiquidate, uint32_t max)
{
    uint32_t n = 0, kept = 0;
    for (uint32_t i = 0; i < l->nRetry; i++) {
        if (lgSend(l, l->retrySeg[i], &l->retry[i]) != 0) {
            l->retrySeg[kept] = l->retrySeg[i];
            l->retry[kept++] = l->retry[i];
        }
    }
    l->nRetry = kept;
    for (uint32_t ai = 0; ai < acctCount(l->book); ai++) {
        lgWaitRun(l, ai);
        lgSyncIndex(l, ai);
        const acctAccount *a = acctAt(l->book, ai);
        lgLine *ln = lgLines(l, ai);
        if (!ln)
            continue;
        if (!acctShouldLiquidate(l->book, a)) {
            ln[0].liquidating = 0;
            continue;
        }
        if (ln[0].liquidating && nowNs - ln[0].liqNs < LG_LIQ_RETRY_NS)
            continue; /* its closing orders are on their way */
        ln[0].liquidating = 1;
        ln[0].liqNs = nowNs;
        acctLiquidate(l->book, a->id, nowNs, NULL, 0);
        l->stats.liquidations++;
        const acctLiquidation *lq = acctLiquidationAt(l->book, acctLiquidationCount(l->book) - 1);
        json_t *ev = json_pack("{s:I, s:I, s:o, s:o, s:o, s:i}", "user_id", (json_int_t)a->id,
                               "time", (json_int_t)nowNs, "risk_ratio", lgRatio(lq->riskRatio),
                               "balance", lgMoney(lq->balance), "margin", lgMoney(lq->margin),
                               "closing_orders", (int)lq->orders);
        lgNotify(l, "liquidation", a->id, ev);
        if (n < max)
            toLiquidate[n] = a->id;
        n++;
    }
    return n < max ? n : max;
}

void lgNotifyAccount(lgLedger *l, uint32_t account)
{
    const acctAccount *a = acctGet(l->book, account);
    if (l->notifyOn && a)
        lgNotify(l, "account", account, lgAccountJson(l->book, a));
}

void lgRoll(lgLedger *l, uint16_t instrument, int64_t settlePrice)
{
    const acctInstrument *in = instAt(l->book, instrument);
    if (!in || in->spec.segIndex >= l->nSeg)
        return;
    crCmd c = {.type = CR_CMD_ROLL, .book = in->spec.book, .amount = settlePrice};
    lgSend(l, in->spec.segIndex, &c);
}

void lgInstrumentAdded(lgLedger *l, uint16_t instrument)
{
    const acctInstrument *in = instAt(l->book, instrument);
    if (in && in->spec.segIndex < l->nSeg && in->spec.book < LG_BOOKS)
        l->byBook[in->spec.segIndex * LG_BOOKS + in->spec.book] = (int)instrument;
}

void lgInstrumentChanged(lgLedger *l, uint16_t instrument)
{
    const acctInstrument *in = instAt(l->book, instrument);
    if (!in || in->spec.segIndex >= l->nSeg)
        return;
    crCmd c = {.type = CR_CMD_INSTRUMENT,
               .book = in->spec.book,
               .marginRate = in->spec.marginRate,
               .commissionRate = in->spec.commissionRate,
               .commissionPerLot = in->spec.commissionPerLot,
               .minLots = in->spec.minLots,
               .maxLots = in->spec.maxLots,
               /* the daily band in ticks (instrument.update limit_up/down) */
               .amount = in->spec.lowerTicks,
               .concCap = in->spec.upperTicks};
    lgSend(l, in->spec.segIndex, &c);
}

/* ---- control journal support (dataplane/ctljournal.c) ------------------------------- */

int lgLineView(const lgLedger *l, uint32_t account, uint16_t seg, int64_t *line, int64_t *pending)
{
    const uint32_t ai = acctIndex(l->book, account);
    if (ai == UINT32_MAX || seg >= l->nSeg)
        return -1;
    const lgLine *x = ai < l->capAcc ? &l->lines[(size_t)ai * l->nSeg + seg] : NULL;
    *line = x ? x->line : 0;
    *pending = x ? x->pending : 0;
    return 0;
}

int lgResyncLine(lgLedger *l, uint32_t account, uint16_t seg, int64_t line)
{
    const uint32_t ai = acctIndex(l->book, account);
    lgLine *ln = ai == UINT32_MAX || seg >= l->nSeg ? NULL : lgLines(l, ai);
    if (!ln)
        return -1;
    ln[seg].line = line;
    ln[seg].pending = 0;
    return 0;
}

int lgBusy(const lgLedger *l)
{
    if (l->nRetry)
        return 1;
    for (uint32_t ai = 0; ai < l->capAcc && ai < acctCount(l->book); ai++)
        if (l->lines[(size_t)ai * l->nSeg].liquidating)
            return 1;
    return 0;
}

uint64_t lgHash(const lgLedger *l, uint64_t h)
{
    for (uint32_t ai = 0; ai < acctCount(l->book); ai++) {
        for (uint16_t s = 0; s < l->nSeg; s++) {
            const lgLine *x = ai < l->capAcc ? &l->lines[(size_t)ai * l->nSeg + s] : NULL;
            const int64_t v[6] = {x ? x->line : 0, x ? x->pending : 0, x ? x->lastCap : 0,
                                  x ? x->hold : 0, x ? x->known : 0,   x ? x->lastBlocked : 0};
            const unsigned char *p = (const unsigned char *)v;
            for (size_t i = 0; i < sizeof v; i++)
                h = (h ^ p[i]) * 1099511628211ull;
        }
    }
    const uint64_t seq = l->seq;
    for (size_t i = 0; i < sizeof seq; i++)
        h = (h ^ ((seq >> (8 * i)) & 0xff)) * 1099511628211ull;
    return h;
}

/* ---- checkpoints (storage/ckpt.h) ---------------------------------------------------- */

enum { LG_CK_HEADER = 0x20, LG_CK_LINES = 0x21, LG_CK_RETRY = 0x22 };

typedef struct {
    uint32_t version, nSeg, lineSize, nRetry;
    uint64_t seq;
} lgCkHeader;

static void lgCkKey(unsigned char *k, uint8_t kind, uint32_t i)
{
    k[0] = kind;
    k[1] = (unsigned char)(i >> 24);
    k[2] = (unsigned char)(i >> 16);
    k[3] = (unsigned char)(i >> 8);
    k[4] = (unsigned char)i;
}

int lgSnapshot(const lgLedger *l, const ckptSink *sink)
{
    unsigned char k[5];
    const lgCkHeader h = {1, l->nSeg, (uint32_t)sizeof(lgLine), l->nRetry, l->seq};
    lgCkKey(k, LG_CK_HEADER, 0);
    if (ckptPut(sink, k, 1, &h, sizeof h))
        return -1;
    const uint32_t n = acctCount(l->book) < l->capAcc ? acctCount(l->book) : l->capAcc;
    for (uint32_t ai = 0; ai < n; ai++) {
        lgCkKey(k, LG_CK_LINES, ai);
        if (ckptPut(sink, k, sizeof k, &l->lines[(size_t)ai * l->nSeg], sizeof(lgLine) * l->nSeg))
            return -1;
    }
    for (uint32_t i = 0; i < l->nRetry; i++) {
        unsigned char v[sizeof(crCmd) + 2];
        memcpy(v, &l->retry[i], sizeof(crCmd));
        memcpy(v + sizeof(crCmd), &l->retrySeg[i], 2);
        lgCkKey(k, LG_CK_RETRY, i);
        if (ckptPut(sink, k, sizeof k, v, sizeof v))
            return -1;
    }
    return 0;
}

int lgRestore(lgLedger *l, const ckptSource *src)
{
    const void *key, *val;
    size_t klen, vlen;
    int rc, header = 0;
    while ((rc = ckptNext(src, &key, &klen, &val, &vlen)) == 1) {
        const unsigned char *k = key;
        const uint32_t i =
            klen == 5 ? (uint32_t)k[1] << 24 | (uint32_t)k[2] << 16 | (uint32_t)k[3] << 8 | k[4]
                      : 0;
        if (klen >= 1 && k[0] == LG_CK_HEADER && vlen == sizeof(lgCkHeader)) {
            lgCkHeader h;
            memcpy(&h, val, sizeof h);
            if (h.version != 1 || h.nSeg != l->nSeg || h.lineSize != sizeof(lgLine) ||
                h.nRetry > LG_RETRY)
                return -1;
            l->seq = h.seq;
            header = 1;
        } else if (!header) {
            return -1;
        } else if (k[0] == LG_CK_LINES && klen == 5 && vlen == sizeof(lgLine) * l->nSeg) {
            lgLine *ln = lgLines(l, i);
            if (!ln)
                return -1;
            memcpy(ln, val, vlen);
        } else if (k[0] == LG_CK_RETRY && klen == 5 && vlen == sizeof(crCmd) + 2 &&
                   i == l->nRetry && i < LG_RETRY) {
            memcpy(&l->retry[i], val, sizeof(crCmd));
            memcpy(&l->retrySeg[i], (const char *)val + sizeof(crCmd), 2);
            l->nRetry++;
        } else {
            return -1;
        }
    }
    return rc < 0 || !header ? -1 : 0;
}
