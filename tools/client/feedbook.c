/* feedbook.c -- order books rebuilt from xchg's ITCH 5.0 feed (include/xchg/feedbook.h).
 *
 * Orders live in an open-addressing table keyed by reference (linear
 * probing, backward-shift delete, load at most 1/2); the queue position is
 * a counter taken at each Add Order and Order Replace, so a snapshot
 * applied first and the incremental messages after it order correctly.
 * Book queries scan the table and sort: they are for checks and displays,
 * not for a trading loop. */
#include "xchg/feedbook.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FB_LOCATES 65536

typedef struct {
    char stock[ITCH_STOCK_LEN];
    uint8_t known;
    uint8_t state;
} fbLocate;

struct fbBook {
    fbOrder *tab;
    size_t mask, n, max;
    fbOrder *scratch; /* max entries, for queries */
    fbLocate *loc;    /* FB_LOCATES */
    uint64_t clock;   /* queue positions */
    fbStats stats;
    fbListenFn *listen;
    void *listenCtx;
    char err[160];
};

static size_t fbHome(const fbBook *b, uint64_t ref)
{
    uint64_t z = ref * UINT64_C(0x9E3779B97F4A7C15);
    return (size_t)(z >> 20) & b->mask;
}

static fbOrder *fbFind(const fbBook *b, uint64_t ref)
{
    for (size_t i = fbHome(b, ref);; i = (i + 1) & b->mask) {
        if (b->tab[i].ref == ref)
            return &b->tab[i];
        if (b->tab[i].ref == 0)
            return NULL;
    }
}

/* A new slot for ref (the caller checked it is absent and there is room). */
static fbOrder *fbInsert(fbBook *b, uint64_t ref)
{
    size_t i = fbHome(b, ref);
    while (b->tab[i].ref)
        i = (i + 1) & b->mask;
    b->tab[i].ref = ref;
    b->n++;
    return &b->tab[i];
}

static void fbRemove(fbBook *b, const fbOrder *o)
{
    size_t i = (size_t)(o - b->tab);
    for (size_t j = (i + 1) & b->mask; b->tab[j].ref; j = (j + 1) & b->mask) {
        size_t k = fbHome(b, b->tab[j].ref);
        int stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
        if (!stays) {
            b->tab[i] = b->tab[j];
            i = j;
        }
    }
    memset(&b->tab[i], 0, sizeof b->tab[i]);
    b->n--;
}

__attribute__((format(printf, 3, 4))) static int fbFail(fbBook *b, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->err, sizeof b->err, fmt, ap);
    va_end(ap);
    b->stats.errors++;
    return code;
}

/* ---- life -------------------------------------------------------------------- */

fbBook *fbCreate(size_t maxOrders)
{
    if (maxOrders == 0 || maxOrders > (SIZE_MAX >> 8))
        return NULL;
    size_t slots = 16;
    while (slots < 2 * maxOrders + 2)
        slots <<= 1;
    fbBook *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->tab = calloc(slots, sizeof *b->tab);
    b->scratch = calloc(maxOrders, sizeof *b->scratch);
    b->loc = calloc(FB_LOCATES, sizeof *b->loc);
    if (!b->tab || !b->scratch || !b->loc) {
        fbDestroy(b);
        return NULL;
    }
    b->mask = slots - 1;
    b->max = maxOrders;
    return b;
}

void fbDestroy(fbBook *b)
{
    if (!b)
        return;
    free(b->tab);
    free(b->scratch);
    free(b->loc);
    free(b);
}

void fbReset(fbBook *b)
{
    memset(b->tab, 0, (b->mask + 1) * sizeof *b->tab);
    memset(b->loc, 0, FB_LOCATES * sizeof *b->loc);
    memset(&b->stats, 0, sizeof b->stats);
    b->n = 0;
    b->clock = 0;
    b->err[0] = 0;
}

/* ---- messages -------------------------------------------------------------------- */

static int fbAdd(fbBook *b, uint64_t seq, const itchMsg *m)
{
    const itchAddOrder *a = &m->u.addOrder;
    if (a->shares == 0 || (a->side != ITCH_BUY && a->side != ITCH_SELL))
        return fbFail(b, FB_EBAD, "seq %" PRIu64 " A: %u shares, side %c", seq, a->shares, a->side);
    if (a->orderRef == 0 || fbFind(b, a->orderRef))
        return fbFail(b, FB_EDUP, "seq %" PRIu64 " A: reference %#" PRIx64 " already on the book",
                      seq, a->orderRef);
    if (b->n >= b->max)
        return fbFail(b, FB_EFULL, "seq %" PRIu64 " A: more than %zu orders", seq, b->max);
    fbOrder *o = fbInsert(b, a->orderRef);
    o->origin = a->orderRef;
    o->prio = ++b->clock;
    o->price = a->price;
    o->shares = a->shares;
    o->locate = m->locate;
    o->side = a->side;
    return FB_OK;
}

static fbOrder *fbNeed(fbBook *b, uint64_t seq, const itchMsg *m, uint64_t ref, int *rc)
{
    fbOrder *o = fbFind(b, ref);
    if (!o)
        *rc = fbFail(b, FB_EUNKNOWN, "seq %" PRIu64 " %c: unknown order reference %#" PRIx64, seq,
                     m->type, ref);
    else if (o->locate != m->locate)
        *rc = fbFail(b, FB_EBAD, "seq %" PRIu64 " %c: order %#" PRIx64 " is on locate %u, not %u",
                     seq, m->type, ref, o->locate, m->locate);
    else
        return o;
    return NULL;
}

static int fbExecuted(fbBook *b, uint64_t seq, const itchMsg *m)
{
    int rc = FB_OK;
    fbOrder *o = fbNeed(b, seq, m, m->u.executed.orderRef, &rc);
    if (!o)
        return rc;
    uint32_t q = m->u.executed.shares;
    if (q == 0 || q > o->shares)
        return fbFail(b, FB_EBAD, "seq %" PRIu64 " %c: %u shares executed of %u", seq, m->type, q,
                      o->shares);
    o->shares -= q;
    if (m->type == ITCH_ORDER_EXECUTED || m->u.executed.printable == 'Y')
        b->stats.printed += q;
    else
        b->stats.nonPrintable += q;
    if (o->shares == 0)
        fbRemove(b, o);
    return FB_OK;
}

static int fbCancel(fbBook *b, uint64_t seq, const itchMsg *m)
{
    int rc = FB_OK;
    fbOrder *o = fbNeed(b, seq, m, m->u.cancel.orderRef, &rc);
    if (!o)
        return rc;
    uint32_t q = m->u.cancel.shares;
    if (q == 0 || q >= o->shares) /* a cancel of everything is a Delete */
        return fbFail(b, FB_EBAD, "seq %" PRIu64 " X: %u shares cancelled of %u", seq, q,
                      o->shares);
    o->shares -= q;
    return FB_OK;
}

static int fbDelete(fbBook *b, uint64_t seq, const itchMsg *m)
{
    int rc = FB_OK;
    fbOrder *o = fbNeed(b, seq, m, m->u.del.orderRef, &rc);
    if (!o)
        return rc;
    fbRemove(b, o);
    return FB_OK;
}

static int fbReplace(fbBook *b, uint64_t seq, const itchMsg *m)
{
    const itchOrderReplace *r = &m->u.replace;
    int rc = FB_OK;
    fbOrder *o = fbNeed(b, seq, m, r->origRef, &rc);
    if (!o)
        return rc;
    if (r->shares == 0)
        return fbFail(b, FB_EBAD, "seq %" PRIu64 " U: 0 shares", seq);
    if (r->newRef == 0 || (r->newRef != r->origRef && fbFind(b, r->newRef)))
        return fbFail(b, FB_EDUP, "seq %" PRIu64 " U: new reference %#" PRIx64 " in use", seq,
                      r->newRef);
    fbOrder old = *o;
    fbRemove(b, o);
    o = fbInsert(b, r->newRef);
    o->origin = old.origin;
    o->prio = ++b->clock;
    o->price = r->price;
    o->shares = r->shares;
    o->locate = old.locate;
    o->side = old.side;
    return FB_OK;
}

static int fbDispatch(fbBook *b, uint64_t seq, const itchMsg *m)
{
    fbLocate *l = &b->loc[m->locate];
    switch (m->type) {
    case ITCH_STOCK_DIRECTORY:
        memcpy(l->stock, m->u.stockDirectory.stock, ITCH_STOCK_LEN);
        l->known = 1;
        return FB_OK;
    case ITCH_TRADING_ACTION:
        l->state = m->u.tradingAction.state;
        return FB_OK;
    case ITCH_ADD_ORDER:
    case ITCH_ADD_ORDER_MPID:
        return fbAdd(b, seq, m);
    case ITCH_ORDER_EXECUTED:
    case ITCH_ORDER_EXECUTED_PX:
        return fbExecuted(b, seq, m);
    case ITCH_ORDER_CANCEL:
        return fbCancel(b, seq, m);
    case ITCH_ORDER_DELETE:
        return fbDelete(b, seq, m);
    case ITCH_ORDER_REPLACE:
        return fbReplace(b, seq, m);
    case ITCH_TRADE:
        b->stats.printed += m->u.trade.shares;
        return FB_OK;
    case ITCH_CROSS_TRADE:
        b->stats.crossShares += m->u.cross.shares;
        return FB_OK;
    default: /* S, I: nothing on the books */
        return FB_OK;
    }
}

int fbApply(fbBook *b, uint64_t seq, const uint8_t *msg, size_t len)
{
    itchMsg m;
    int rc = itchDecode(msg, len, &m);
    if (rc != ITCH_OK)
        return fbFail(b, FB_EDECODE, "seq %" PRIu64 ": %s", seq, itchErrorName(rc));
    rc = fbDispatch(b, seq, &m);
    if (rc != FB_OK)
        return rc;
    b->stats.messages++;
    b->stats.byType[m.type - 'A']++;
    if (b->listen)
        b->listen(b->listenCtx, seq, &m);
    return FB_OK;
}

const char *fbLastError(const fbBook *b)
{
    return b->err;
}

void fbSetListener(fbBook *b, fbListenFn *fn, void *ctx)
{
    b->listen = fn;
    b->listenCtx = ctx;
}

/* ---- queries ---------------------------------------------------------------------- */

static int fbCmpBuy(const void *x, const void *y)
{
    const fbOrder *a = x, *c = y;
    if (a->price != c->price)
        return a->price > c->price ? -1 : 1;
    return a->prio < c->prio ? -1 : a->prio > c->prio;
}

static int fbCmpSell(const void *x, const void *y)
{
    const fbOrder *a = x, *c = y;
    if (a->price != c->price)
        return a->price < c->price ? -1 : 1;
    return a->prio < c->prio ? -1 : a->prio > c->prio;
}

/* The side's orders sorted into b->scratch; returns how many. */
static size_t fbCollect(fbBook *b, uint16_t locate, uint8_t side)
{
    size_t n = 0;
    for (size_t i = 0; i <= b->mask; i++) {
        const fbOrder *o = &b->tab[i];
        if (o->ref && o->locate == locate && o->side == side)
            b->scratch[n++] = *o;
    }
    qsort(b->scratch, n, sizeof *b->scratch, side == ITCH_BUY ? fbCmpBuy : fbCmpSell);
    return n;
}

size_t fbOrders(fbBook *b, uint16_t locate, uint8_t side, fbOrder *out, size_t cap)
{
    size_t n = fbCollect(b, locate, side);
    memcpy(out, b->scratch, (n < cap ? n : cap) * sizeof *out);
    return n;
}

size_t fbDepth(fbBook *b, uint16_t locate, uint8_t side, fbLevel *out, size_t cap)
{
    size_t n = fbCollect(b, locate, side), levels = 0;
    for (size_t i = 0; i < n; i++) {
        if (i == 0 || b->scratch[i].price != b->scratch[i - 1].price) {
            if (levels < cap)
                out[levels] = (fbLevel){b->scratch[i].price, 0, 0};
            levels++;
        }
        if (levels <= cap) {
            out[levels - 1].shares += b->scratch[i].shares;
            out[levels - 1].orders++;
        }
    }
    return levels;
}

int fbOrderGet(const fbBook *b, uint64_t ref, fbOrder *out)
{
    const fbOrder *o = ref ? fbFind(b, ref) : NULL;
    if (!o)
        return -1;
    *out = *o;
    return 0;
}

int fbStock(const fbBook *b, uint16_t locate, char out[ITCH_STOCK_LEN + 1])
{
    const fbLocate *l = &b->loc[locate];
    if (!l->known)
        return -1;
    size_t n = ITCH_STOCK_LEN;
    while (n > 0 && l->stock[n - 1] == ' ')
        n--;
    memcpy(out, l->stock, n);
    out[n] = 0;
    return 0;
}

int fbFindStock(const fbBook *b, const char *stock)
{
    char padded[ITCH_STOCK_LEN];
    if (strlen(stock) > ITCH_STOCK_LEN)
        return -1;
    itchPutAlpha((uint8_t *)padded, stock, ITCH_STOCK_LEN);
    for (uint32_t i = 0; i < FB_LOCATES; i++)
        if (b->loc[i].known && memcmp(b->loc[i].stock, padded, ITCH_STOCK_LEN) == 0)
            return (int)i;
    return -1;
}

uint8_t fbTradingState(const fbBook *b, uint16_t locate)
{
    return b->loc[locate].state;
}

void fbGetStats(const fbBook *b, fbStats *out)
{
    *out = b->stats;
    out->orders = b->n;
}

/* ---- text ---------------------------------------------------------------------------- */

typedef struct {
    char *p;
    size_t left;
    int total;
} fbOut;

__attribute__((format(printf, 2, 3))) static void fbPut(fbOut *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(o->p, o->left, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    o->total += n;
    size_t used = (size_t)n < o->left ? (size_t)n : (o->left ? o->left - 1 : 0);
    o->p += used;
    o->left -= used;
}

static void fbAlpha(fbOut *o, const char *name, const char *s, size_t n)
{
    while (n && s[n - 1] == ' ')
        n--;
    fbPut(o, " %s=%.*s", name, (int)n, s);
}

static void fbFormatBook(fbOut *o, const itchMsg *m)
{
    switch (m->type) {
    case 'A':
    case 'F':
        fbPut(o, " ref=%" PRIu64 " side=%c shares=%u", m->u.addOrder.orderRef, m->u.addOrder.side,
              m->u.addOrder.shares);
        fbAlpha(o, "stock", m->u.addOrder.stock, ITCH_STOCK_LEN);
        fbPut(o, " price=%u", m->u.addOrder.price);
        if (m->type == 'F')
            fbAlpha(o, "mpid", m->u.addOrder.attribution, 4);
        break;
    case 'E':
    case 'C':
        fbPut(o, " ref=%" PRIu64 " shares=%u match=%" PRIu64, m->u.executed.orderRef,
              m->u.executed.shares, m->u.executed.matchNumber);
        if (m->type == 'C')
            fbPut(o, " printable=%c price=%u", m->u.executed.printable, m->u.executed.price);
        break;
    case 'X':
        fbPut(o, " ref=%" PRIu64 " shares=%u", m->u.cancel.orderRef, m->u.cancel.shares);
        break;
    case 'D':
        fbPut(o, " ref=%" PRIu64, m->u.del.orderRef);
        break;
    case 'U':
        fbPut(o, " orig=%" PRIu64 " new=%" PRIu64 " shares=%u price=%u", m->u.replace.origRef,
              m->u.replace.newRef, m->u.replace.shares, m->u.replace.price);
        break;
    default:
        break;
    }
}

static void fbFormatOther(fbOut *o, const itchMsg *m)
{
    switch (m->type) {
    case 'S':
        fbPut(o, " event=%c", m->u.systemEvent.eventCode);
        break;
    case 'R':
        fbAlpha(o, "stock", m->u.stockDirectory.stock, ITCH_STOCK_LEN);
        fbPut(o, " lot=%u class=%c auth=%c leverage=%u", m->u.stockDirectory.roundLotSize,
              m->u.stockDirectory.issueClassification, m->u.stockDirectory.authenticity,
              m->u.stockDirectory.etpLeverage);
        break;
    case 'H':
        fbAlpha(o, "stock", m->u.tradingAction.stock, ITCH_STOCK_LEN);
        fbPut(o, " state=%c", m->u.tradingAction.state);
        fbAlpha(o, "reason", m->u.tradingAction.reason, 4);
        break;
    case 'P':
        fbPut(o, " ref=%" PRIu64 " side=%c shares=%u", m->u.trade.orderRef, m->u.trade.side,
              m->u.trade.shares);
        fbAlpha(o, "stock", m->u.trade.stock, ITCH_STOCK_LEN);
        fbPut(o, " price=%u match=%" PRIu64, m->u.trade.price, m->u.trade.matchNumber);
        break;
    case 'Q':
        fbPut(o, " shares=%" PRIu64, m->u.cross.shares);
        fbAlpha(o, "stock", m->u.cross.stock, ITCH_STOCK_LEN);
        fbPut(o, " price=%u match=%" PRIu64 " cross=%c", m->u.cross.price, m->u.cross.matchNumber,
              m->u.cross.crossType);
        break;
    case 'I':
        fbPut(o, " paired=%" PRIu64 " imbalance=%" PRIu64 " dir=%c", m->u.noii.pairedShares,
              m->u.noii.imbalanceShares, m->u.noii.direction);
        fbAlpha(o, "stock", m->u.noii.stock, ITCH_STOCK_LEN);
        fbPut(o, " far=%u near=%u refpx=%u cross=%c var=%c", m->u.noii.farPrice,
              m->u.noii.nearPrice, m->u.noii.refPrice, m->u.noii.crossType,
              m->u.noii.priceVariation);
        break;
    default:
        fbFormatBook(o, m);
        break;
    }
}

int fbFormat(const itchMsg *m, char *buf, size_t len)
{
    fbOut o = {buf, len, 0};
    if (len)
        buf[0] = 0;
    fbPut(&o, "%c locate=%u tracking=%u ts=%" PRIu64, m->type, m->locate, m->tracking,
          m->timestamp);
    fbFormatOther(&o, m);
    return o.total;
}
