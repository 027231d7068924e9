/* xchg-matcher-demo.c -- drives the matcher from the config, printing every event.
 *
 * Usage: xchg-matcher-demo CONFIG
 *
 * Loads the config, builds one mtEngine per market segment with each
 * instrument's daily limit band, then plays a short trading day on the first
 * instrument (a call auction, crossing orders, cancel, replace, IOC, FOK,
 * self-trade prevention, rejects) and a trade on the last one, and prints
 * the top five levels of every book. `make run` runs it until the dataplane
 * exists. Prices are printed from ticks with integer arithmetic only. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "config/config.h"
#include "matcher/matcher.h"

#define DEMO_DEPTH 5
#define ALICE      1001u
#define BOB        2002u

typedef struct {
    const cfgConfig *cfg;
    uint16_t segIndex;
    mtEngine *engine;
    uint64_t lastAccepted; /* order id of the latest ACCEPTED event, 0 = none */
} demoSegment;

typedef struct {
    const cfgConfig *cfg;
    demoSegment segs[CFG_MAX_SEGMENTS];
    uint64_t userRef;
} demo;

/* ---- printing ---------------------------------------------------------------- */

static const char *demoSide(unsigned side)
{
    return side == MT_BUY ? "BUY" : side == MT_SELL ? "SELL" : "none";
}

static const char *demoStateName(unsigned s)
{
    static const char *const names[] = {"CLOSED", "PRE_OPEN", "CONTINUOUS", "HALTED"};
    return s < 4 ? names[s] : "?";
}

static const char *demoReason(unsigned r)
{
    static const char *const names[] = {"USER", "IOC", "FOK", "MIN_QTY", "SELF_TRADE", "EXPIRED"};
    return r < 6 ? names[r] : "?";
}

static const char *demoTimeCond(unsigned tc)
{
    static const char *const names[] = {"GFD", "IOC", "GTC"};
    return tc < 3 ? names[tc] : "?";
}

static const char *demoVolCond(unsigned vc)
{
    static const char *const names[] = {"", " MIN", " FOK"};
    return vc < 3 ? names[vc] : "?";
}

/* "#seg.seq": order and trade ids carry the segment in their top 8 bits. */
static const char *demoId(uint64_t id, char *buf, size_t len)
{
    snprintf(buf, len, "#%u.%" PRIu64, (unsigned)(id >> 56), id & ((UINT64_C(1) << 56) - 1));
    return buf;
}

static const char *demoPx(const cfgInstrument *ins, int64_t ticks, char *buf, size_t len)
{
    cfgFormatPrice(ins, ticks, buf, len);
    return buf;
}

static void demoPrintAccepted(const cfgInstrument *ins, const mtAccepted *a)
{
    char id[32], px[32];
    printf("ACCEPTED   %s acct %u %s %u @ %s %s%s\n", demoId(a->orderId, id, sizeof id), a->account,
           demoSide(a->side), a->qty,
           a->priceType == MT_MARKET ? "MARKET" : demoPx(ins, a->price, px, sizeof px),
           demoTimeCond(a->timeCondition), demoVolCond(a->volumeCondition));
}

static void demoPrintFill(const cfgInstrument *ins, const mtFill *f)
{
    char t[32], b[32], s[32], px[32];
    printf("FILL       trade %s %u @ %s  buy %s (acct %u, leaves %u)  sell %s (acct %u, "
           "leaves %u)  aggressor %s\n",
           demoId(f->tradeId, t, sizeof t), f->qty, demoPx(ins, f->price, px, sizeof px),
           demoId(f->orderId[0], b, sizeof b), f->account[0], f->leaves[0],
           demoId(f->orderId[1], s, sizeof s), f->account[1], f->leaves[1], demoSide(f->aggressor));
}

static void demoPrintReplaced(const cfgInstrument *ins, const mtReplaced *r)
{
    char id[32], px[32];
    printf("REPLACED   %s acct %u %s qty %u leaves %u @ %s (%s)\n",
           demoId(r->orderId, id, sizeof id), r->account, demoSide(r->side), r->qty, r->leaves,
           demoPx(ins, r->price, px, sizeof px),
           r->keptPriority ? "kept priority" : "lost priority");
}

static void demoPrintAuction(const cfgInstrument *ins, const char *what, const mtAuction *a)
{
    char px[32];
    if (a->pairedQty == 0) {
        printf("%-10s nothing crosses\n", what);
        return;
    }
    printf("%-10s %s paired %" PRIu64 " imbalance %" PRIu64 " %s\n", what,
           demoPx(ins, a->price, px, sizeof px), a->pairedQty, a->imbalanceQty,
           demoSide(a->imbalanceSide));
}

static void demoPrintOther(const cfgInstrument *ins, const mtEvent *ev)
{
    char id[32], px[32];
    switch (ev->type) {
    case MT_EV_REJECTED:
        id[0] = '\0';
        if (ev->u.rejected.orderId != 0)
            demoId(ev->u.rejected.orderId, id, sizeof id);
        printf("REJECTED   %s%s%s code %u\n",
               ev->u.rejected.op == MT_OP_NEW      ? "new order"
               : ev->u.rejected.op == MT_OP_CANCEL ? "cancel"
                                                   : "replace",
               id[0] ? " " : "", id, ev->u.rejected.code);
        break;
    case MT_EV_CANCELLED:
        printf("CANCELLED  %s acct %u %s %u reason %s\n",
               demoId(ev->u.cancelled.orderId, id, sizeof id), ev->u.cancelled.account,
               demoSide(ev->u.cancelled.side), ev->u.cancelled.qty,
               demoReason(ev->u.cancelled.reason));
        break;
    case MT_EV_LEVEL:
        printf("LEVEL      %s %s -> %" PRIu64 "\n", ev->u.level.side == MT_BUY ? "bid" : "ask",
               demoPx(ins, ev->u.level.price, px, sizeof px), ev->u.level.qty);
        break;
    case MT_EV_STATE:
        printf("STATE      %s (was %s)\n", demoStateName(ev->u.state.state),
               demoStateName(ev->u.state.previous));
        break;
    default:
        printf("event %u\n", ev->type);
    }
}

static void demoOnEvent(void *ctx, const mtEvent *ev)
{
    demoSegment *seg = ctx;
    const cfgInstrument *ins = cfgFindBook(seg->cfg, seg->segIndex, ev->instrument);
    if (ins == NULL) {
        printf("  ?        event %u for unknown book %u\n", ev->type, ev->instrument);
        return;
    }
    printf("  %-8s ", ins->id);
    if (ev->type == MT_EV_ACCEPTED) {
        seg->lastAccepted = ev->u.accepted.orderId;
        demoPrintAccepted(ins, &ev->u.accepted);
    } else if (ev->type == MT_EV_FILL) {
        demoPrintFill(ins, &ev->u.fill);
    } else if (ev->type == MT_EV_REPLACED) {
        demoPrintReplaced(ins, &ev->u.replaced);
    } else if (ev->type == MT_EV_UNCROSS || ev->type == MT_EV_IMBALANCE) {
        demoPrintAuction(ins, ev->type == MT_EV_UNCROSS ? "UNCROSS" : "IMBALANCE", &ev->u.auction);
    } else {
        demoPrintOther(ins, ev);
    }
}

/* ---- engines ----------------------------------------------------------------- */

static int demoAddBooks(demo *d, uint16_t s)
{
    const cfgConfig *cfg = d->cfg;
    for (uint32_t i = 0; i < cfg->instrumentCount; i++) {
        const cfgInstrument *ins = &cfg->instruments[i];
        if (ins->segIndex != s)
            continue;
        mtBookConfig bc = {.lowerPrice = ins->lowerTicks,
                           .upperPrice = ins->upperTicks,
                           .referencePrice = ins->preSettlementTicks,
                           .minLots = ins->minLots,
                           .maxLots = ins->maxLots};
        int rc = mtEngineAddInstrument(d->segs[s].engine, ins->book, &bc);
        if (rc != MT_OK) {
            fprintf(stderr, "xchg-matcher-demo: %s: mtEngineAddInstrument failed (%d)\n", ins->id,
                    rc);
            return -1;
        }
    }
    return 0;
}

/* One engine per segment, sized and configured from the segment. */
static int demoCreateEngines(demo *d)
{
    for (uint16_t s = 0; s < d->cfg->segmentCount; s++) {
        const cfgSegment *seg = &d->cfg->segments[s];
        demoSegment *ds = &d->segs[s];
        ds->cfg = d->cfg;
        ds->segIndex = s;
        mtEngineConfig ec = {.segmentId = seg->id,
                             .orderCapacity = seg->orderCapacity,
                             .maxInstruments = seg->instrumentCount,
                             .stp = seg->stp,
                             .onEvent = demoOnEvent,
                             .eventCtx = ds};
        ds->engine = mtEngineCreate(&ec);
        if (ds->engine == NULL) {
            fprintf(stderr, "xchg-matcher-demo: segment %u: mtEngineCreate failed\n", seg->id);
            return -1;
        }
        if (demoAddBooks(d, s) != 0)
            return -1;
    }
    return 0;
}

static void demoDestroyEngines(demo *d)
{
    for (uint32_t s = 0; s < d->cfg->segmentCount; s++)
        mtEngineDestroy(d->segs[s].engine);
}

static void demoSetAllStates(demo *d, mtState state)
{
    printf("\n== all instruments -> %s\n", demoStateName(state));
    for (uint32_t i = 0; i < d->cfg->instrumentCount; i++) {
        const cfgInstrument *ins = &d->cfg->instruments[i];
        mtEngineSetState(d->segs[ins->segIndex].engine, ins->book, state);
    }
}

/* ---- orders ------------------------------------------------------------------ */

typedef struct {
    uint32_t account;
    mtSide side;
    int64_t price; /* ticks */
    uint32_t qty;
    mtTimeCondition tc;
    mtVolumeCondition vc;
} demoOrderSpec;

/* Enters an order and returns its exchange id, or 0 when it was rejected. */
static uint64_t demoOrder(demo *d, const cfgInstrument *ins, const demoOrderSpec *sp)
{
    demoSegment *seg = &d->segs[ins->segIndex];
    char px[32];
    printf("-- acct %u %s %u %s @ %s %s%s\n", sp->account, demoSide(sp->side), sp->qty, ins->id,
           demoPx(ins, sp->price, px, sizeof px), demoTimeCond(sp->tc), demoVolCond(sp->vc));
    mtNewOrder o = {.instrument = ins->book,
                    .side = (uint8_t)sp->side,
                    .priceType = MT_LIMIT,
                    .timeCondition = (uint8_t)sp->tc,
                    .volumeCondition = (uint8_t)sp->vc,
                    .price = sp->price,
                    .qty = sp->qty,
                    .account = sp->account,
                    .userRef = ++d->userRef};
    seg->lastAccepted = 0;
    return mtEngineNewOrder(seg->engine, &o) == MT_OK ? seg->lastAccepted : 0;
}

static uint64_t demoLimit(demo *d, const cfgInstrument *ins, uint32_t account, mtSide side,
                          int64_t price, uint32_t qty)
{
    demoOrderSpec sp = {account, side, price, qty, MT_GFD, MT_VOL_ANY};
    return demoOrder(d, ins, &sp);
}

/* A decimal price typed by a user goes through the config helpers first;
 * the matcher only ever sees ticks. */
static void demoTypedPrice(const cfgInstrument *ins, const char *text)
{
    int64_t units, ticks;
    printf("-- price \"%s\" for %s: ", text, ins->id);
    if (cfgParseDecimal(text, 4, INT64_MAX, &units) != CFG_DEC_OK)
        printf("refused, not a decimal with at most 4 places\n");
    else if (cfgPriceToTicks(units, ins->tickSize, &ticks) != 0)
        printf("refused, not on the tick (code 1008 before the matcher)\n");
    else
        printf("%" PRId64 " ticks\n", ticks);
}

/* ---- the script -------------------------------------------------------------- */

/* Pre-open orders, then the opening auction when continuous trading starts. */
static void demoAuction(demo *d, const cfgInstrument *ins)
{
    int64_t ref = ins->preSettlementTicks;
    mtEngine *e = d->segs[ins->segIndex].engine;
    demoSetAllStates(d, MT_STATE_PRE_OPEN);
    printf("\n== pre-open orders on %s (reference price = pre-settlement)\n", ins->id);
    demoLimit(d, ins, ALICE, MT_BUY, ref + 2, 5);
    demoLimit(d, ins, ALICE, MT_BUY, ref, 3);
    demoLimit(d, ins, BOB, MT_SELL, ref - 1, 4);
    demoOrderSpec gtc = {BOB, MT_SELL, ref + 3, 2, MT_GTC, MT_VOL_ANY};
    demoOrder(d, ins, &gtc);
    demoLimit(d, ins, BOB, MT_SELL, ref + 1, 3);
    printf("-- indicative auction result\n");
    mtEngineIndicate(e, ins->book, NULL);
    demoSetAllStates(d, MT_STATE_CONTINUOUS);
}

static void demoContinuous(demo *d, const cfgInstrument *ins)
{
    int64_t ref = ins->preSettlementTicks;
    mtEngine *e = d->segs[ins->segIndex].engine;
    printf("\n== continuous trading on %s\n", ins->id);
    demoLimit(d, ins, BOB, MT_SELL, ref, 2); /* crosses the resting bid */
    uint64_t rest = demoLimit(d, ins, ALICE, MT_BUY, ref + 1, 4);
    printf("-- acct %u cancels the rest of its last order\n", ALICE);
    mtEngineCancel(e, rest, ALICE, ++d->userRef);
    printf("-- acct %u cancels it again\n", ALICE);
    mtEngineCancel(e, rest, ALICE, ++d->userRef);
    demoOrderSpec gtc = {BOB, MT_SELL, ref + 4, 2, MT_GTC, MT_VOL_ANY};
    uint64_t moved = demoOrder(d, ins, &gtc);
    printf("-- acct %u replaces it: 5 lots one tick lower\n", BOB);
    mtEngineReplace(e, moved, BOB, ref + 3, 5, ++d->userRef);
    demoOrderSpec ioc = {ALICE, MT_BUY, ref + 3, 12, MT_IOC, MT_VOL_ANY};
    demoOrder(d, ins, &ioc);
    demoOrderSpec fok = {BOB, MT_SELL, ref - 2, 10, MT_GFD, MT_VOL_ALL};
    demoOrder(d, ins, &fok); /* not enough bids: killed */
    fok.qty = 1;
    demoOrder(d, ins, &fok); /* fills */
}

static void demoGuards(demo *d, const cfgInstrument *ins)
{
    int64_t ref = ins->preSettlementTicks;
    char text[48];
    printf("\n== self-trade prevention (%s) and rejects on %s\n",
           cfgStpName(d->cfg->segments[ins->segIndex].stp), ins->id);
    demoLimit(d, ins, ALICE, MT_BUY, ref - 1, 2);
    demoLimit(d, ins, ALICE, MT_SELL, ref - 1, 1);
    demoLimit(d, ins, ALICE, MT_BUY, ins->upperTicks + 1, 1); /* above the band */
    cfgFormatDecimal(ins->preSettlement + ins->tickSize / 2, 4, 0, text, sizeof text);
    if (ins->tickSize > 1)
        demoTypedPrice(ins, text);
    cfgFormatDecimal(ins->preSettlement, 4, ins->priceDecimals, text, sizeof text);
    demoTypedPrice(ins, text);
}

/* Leaves a few levels on both sides so the depth print has something. */
static void demoFillBook(demo *d, const cfgInstrument *ins)
{
    int64_t ref = ins->preSettlementTicks;
    printf("\n== resting orders on %s\n", ins->id);
    for (int k = 2; k <= 6; k++) {
        demoLimit(d, ins, ALICE, MT_BUY, ref - k, (uint32_t)k);
        demoLimit(d, ins, BOB, MT_SELL, ref + k + 1, (uint32_t)k + 1);
    }
}

static void demoOther(demo *d, const cfgInstrument *ins)
{
    int64_t ref = ins->preSettlementTicks;
    printf("\n== a trade on %s (tick %" PRId64 " units of 1e-4)\n", ins->id, ins->tickSize);
    demoLimit(d, ins, ALICE, MT_BUY, ref, 2);
    demoLimit(d, ins, BOB, MT_SELL, ref - 1, 3);
    demoLimit(d, ins, BOB, MT_SELL, ref + 1, 1);
}

static void demoPrintSide(const demo *d, const cfgInstrument *ins, mtSide side)
{
    mtDepthLevel lv[DEMO_DEPTH];
    char px[32];
    uint32_t n = mtEngineDepth(d->segs[ins->segIndex].engine, ins->book, side, lv, DEMO_DEPTH);
    printf("  %-4s", side == MT_BUY ? "bids" : "asks");
    if (n == 0)
        printf(" (empty)");
    for (uint32_t i = 0; i < n; i++)
        printf("  %" PRIu64 " @ %s", lv[i].qty, demoPx(ins, lv[i].price, px, sizeof px));
    printf("\n");
}

static void demoPrintBooks(const demo *d)
{
    char lo[32], hi[32];
    printf("\n== top %d levels\n", DEMO_DEPTH);
    for (uint32_t i = 0; i < d->cfg->instrumentCount; i++) {
        const cfgInstrument *ins = &d->cfg->instruments[i];
        printf("%s (segment %u, band %s .. %s)\n", ins->id, ins->segment,
               demoPx(ins, ins->lowerTicks, lo, sizeof lo),
               demoPx(ins, ins->upperTicks, hi, sizeof hi));
        demoPrintSide(d, ins, MT_BUY);
        demoPrintSide(d, ins, MT_SELL);
    }
}

static void demoPrintConfig(const cfgConfig *cfg)
{
    char pre[32], lo[32], hi[32], tick[32];
    printf("config %s: %u instrument(s), %u segment(s)\n", cfg->source, cfg->instrumentCount,
           cfg->segmentCount);
    for (uint32_t i = 0; i < cfg->instrumentCount; i++) {
        const cfgInstrument *ins = &cfg->instruments[i];
        cfgFormatDecimal(ins->tickSize, 4, 0, tick, sizeof tick);
        printf("  %-8s tick %-5s x%-4u pre-settlement %s, band %s .. %s (%" PRId64 "..%" PRId64
               " ticks)\n",
               ins->id, tick, ins->multiplier,
               demoPx(ins, ins->preSettlementTicks, pre, sizeof pre),
               demoPx(ins, ins->lowerTicks, lo, sizeof lo),
               demoPx(ins, ins->upperTicks, hi, sizeof hi), ins->lowerTicks, ins->upperTicks);
    }
}

static void demoRun(demo *d)
{
    const cfgInstrument *first = &d->cfg->instruments[0];
    const cfgInstrument *last = &d->cfg->instruments[d->cfg->instrumentCount - 1];
    demoAuction(d, first);
    demoContinuous(d, first);
    demoGuards(d, first);
    demoFillBook(d, first);
    if (last != first)
        demoOther(d, last);
    demoPrintBooks(d);
}

int main(int argc, char **argv)
{
    static cfgConfig cfg;
    static demo d;
    char err[1024];
    if (argc != 2) {
        fprintf(stderr, "usage: %s CONFIG\n", argv[0]);
        return 2;
    }
    if (cfgLoad(argv[1], &cfg, err, sizeof err) != 0) {
        fprintf(stderr, "xchg-matcher-demo: cannot load config: %s\n", err);
        return 1;
    }
    d.cfg = &cfg;
    demoPrintConfig(&cfg);
    int rc = demoCreateEngines(&d);
    if (rc == 0)
        demoRun(&d);
    demoDestroyEngines(&d);
    cfgFree(&cfg);
    return rc == 0 ? 0 : 1;
}
