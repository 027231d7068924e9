/* test_matcher.c -- unit tests of matcher/ against docs/matcher.md.
 *
 * Every rule of docs/matcher.md has a test here that drives the public API of
 * matcher/matcher.h and asserts the exact sequence of events the engine
 * emits (type and every relevant field, never a memcmp of whole structs).
 *
 * Conventions used throughout:
 *  - The default fixture is segment SEG (5), orderCapacity 64, four
 *    instrument slots, STP NONE, and instrument 0 defined with the daily band
 *    [100, 200], reference price 150 and lots 1..1000, moved to CONTINUOUS.
 *  - Orders are written by the sequence number of their order id: "o3" is
 *    order id (SEG << 56) | 3; "t2" is trade id (SEG << 56) | 2.
 *  - Every operation helper clears the event log first, so the CK_* checks
 *    that follow describe exactly the events of that one call, in order, and
 *    CK_END asserts that nothing else was emitted.
 *  - Books are written "bids | asks", each side best level first, as
 *    "price x quantity"; "-" is an empty side.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "matcher/matcher.h"

#define SEG      5
#define MAX_EV   1024
#define MAX_SEQ  4096
#define SEQ_MASK ((UINT64_C(1) << 56) - 1)

#define ACC_A 11
#define ACC_B 22
#define ACC_C 33
#define ACC_D 44
#define ACC_E 55
#define ACC_F 66
#define ACC_G 77

#define BUY      MT_BUY
#define SELL     MT_SELL
#define AGG_NONE MT_AGGRESSOR_NONE

/* ------------------------------------------------------------------------ */
/* Fixture and event recorder                                                */

typedef struct {
    mtEngine *e;
    uint8_t seg;
    uint16_t inst; /* instrument the next operations and checks refer to */
    int keep;      /* 1: operations do not clear the log (determinism test) */
    mtEvent ev[MAX_EV];
    size_t n, cur;
    int overflow;
    uint64_t nextRef; /* userRef given to the next order */
    mtNewOrder last;  /* the last order submitted */
    /* what ACCEPTED and REPLACED said about each order, by sequence */
    uint64_t refOf[MAX_SEQ];
    uint32_t acctOf[MAX_SEQ];
} Fx;

static void onEv(void *ctx, const mtEvent *ev)
{
    Fx *f = ctx;
    if (f->n < MAX_EV)
        f->ev[f->n++] = *ev;
    else
        f->overflow = 1;
    if (ev->type == MT_EV_ACCEPTED) {
        uint64_t seq = ev->u.accepted.orderId & SEQ_MASK;
        if (seq < MAX_SEQ) {
            f->refOf[seq] = ev->u.accepted.userRef;
            f->acctOf[seq] = ev->u.accepted.account;
        }
    } else if (ev->type == MT_EV_REPLACED) {
        uint64_t seq = ev->u.replaced.orderId & SEQ_MASK;
        if (seq < MAX_SEQ)
            f->refOf[seq] = ev->u.replaced.userRef;
    }
}

static void nopEv(void *ctx, const mtEvent *ev)
{
    (void)ctx;
    (void)ev;
}

static void clr(Fx *f)
{
    if (f->keep)
        return;
    f->n = 0;
    f->cur = 0;
    f->overflow = 0;
}

static uint64_t oid(const Fx *f, uint64_t seq)
{
    return ((uint64_t)f->seg << 56) | seq;
}
#define OID(s) oid(f, (s))

static mtBookConfig bookCfg(int64_t lower, int64_t upper, int64_t ref, uint32_t minLots,
                            uint32_t maxLots)
{
    mtBookConfig bc;
    memset(&bc, 0, sizeof bc);
    bc.lowerPrice = lower;
    bc.upperPrice = upper;
    bc.referencePrice = ref;
    bc.minLots = minLots;
    bc.maxLots = maxLots;
    return bc;
}

static mtEngineConfig engineCfg(uint8_t seg, uint32_t cap, uint16_t maxInst, mtStpPolicy stp,
                                mtEventFn *fn, void *ctx, const mtAllocator *al)
{
    mtEngineConfig c;
    memset(&c, 0, sizeof c);
    c.segmentId = seg;
    c.orderCapacity = cap;
    c.maxInstruments = maxInst;
    c.stp = stp;
    c.onEvent = fn;
    c.eventCtx = ctx;
    c.allocator = al;
    return c;
}

static Fx *fxCreate(uint8_t seg, uint32_t cap, mtStpPolicy stp, const mtAllocator *al)
{
    Fx *f = calloc(1, sizeof *f);
    if (f == NULL)
        return NULL;
    f->seg = seg;
    f->nextRef = 1001;
    mtEngineConfig c = engineCfg(seg, cap, 4, stp, onEv, f, al);
    f->e = mtEngineCreate(&c);
    mtBookConfig bc = bookCfg(100, 200, 150, 1, 1000);
    if (f->e == NULL || mtEngineAddInstrument(f->e, 0, &bc) != MT_OK ||
        mtEngineSetState(f->e, 0, MT_STATE_CONTINUOUS) != MT_OK) {
        mtEngineDestroy(f->e);
        free(f);
        return NULL;
    }
    clr(f);
    return f;
}

static void fxFree(Fx *f)
{
    if (f == NULL)
        return;
    mtEngineDestroy(f->e);
    free(f);
}

static int setupStp(void **state, uint8_t seg, uint32_t cap, mtStpPolicy stp)
{
    *state = fxCreate(seg, cap, stp, NULL);
    return *state == NULL ? -1 : 0;
}
static int setupDefault(void **state)
{
    return setupStp(state, SEG, 64, MT_STP_NONE);
}
static int setupSegAB(void **state)
{
    return setupStp(state, 0xAB, 64, MT_STP_NONE);
}
static int setupResting(void **state)
{
    return setupStp(state, SEG, 64, MT_STP_CANCEL_RESTING);
}
static int setupIncoming(void **state)
{
    return setupStp(state, SEG, 64, MT_STP_CANCEL_INCOMING);
}
static int setupBoth(void **state)
{
    return setupStp(state, SEG, 64, MT_STP_CANCEL_BOTH);
}
static int setupPool3(void **state)
{
    return setupStp(state, SEG, 3, MT_STP_NONE);
}
static int teardownFx(void **state)
{
    fxFree(*state);
    *state = NULL;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Operations (each clears the event log first)                              */

static int submit(Fx *f, const mtNewOrder *o)
{
    f->last = *o;
    clr(f);
    return mtEngineNewOrder(f->e, o);
}

static int order(Fx *f, int side, int pt, int tc, int vc, int64_t px, uint32_t qty, uint32_t minQty,
                 uint32_t acct)
{
    mtNewOrder o;
    memset(&o, 0, sizeof o);
    o.instrument = f->inst;
    o.side = (uint8_t)side;
    o.priceType = (uint8_t)pt;
    o.timeCondition = (uint8_t)tc;
    o.volumeCondition = (uint8_t)vc;
    o.price = px;
    o.qty = qty;
    o.minQty = minQty;
    o.account = acct;
    o.userRef = f->nextRef++;
    return submit(f, &o);
}
static int lim(Fx *f, int side, int64_t px, uint32_t qty, uint32_t acct)
{
    return order(f, side, MT_LIMIT, MT_GFD, MT_VOL_ANY, px, qty, 0, acct);
}
static int gtc(Fx *f, int side, int64_t px, uint32_t qty, uint32_t acct)
{
    return order(f, side, MT_LIMIT, MT_GTC, MT_VOL_ANY, px, qty, 0, acct);
}
static int ioc(Fx *f, int side, int64_t px, uint32_t qty, uint32_t acct)
{
    return order(f, side, MT_LIMIT, MT_IOC, MT_VOL_ANY, px, qty, 0, acct);
}
static int mkt(Fx *f, int side, uint32_t qty, uint32_t acct)
{
    return order(f, side, MT_MARKET, MT_GFD, MT_VOL_ANY, 0, qty, 0, acct);
}
static int cxl(Fx *f, uint64_t id, uint32_t acct, uint64_t ref)
{
    clr(f);
    return mtEngineCancel(f->e, id, acct, ref);
}
static int rpl(Fx *f, uint64_t id, uint32_t acct, int64_t px, uint32_t qty, uint64_t ref)
{
    clr(f);
    return mtEngineReplace(f->e, id, acct, px, qty, ref);
}
static int setSt(Fx *f, mtState s)
{
    clr(f);
    return mtEngineSetState(f->e, f->inst, s);
}
static int setRef(Fx *f, int64_t px)
{
    clr(f);
    return mtEngineSetReferencePrice(f->e, f->inst, px);
}
static int indicate(Fx *f, mtAuction *out)
{
    clr(f);
    return mtEngineIndicate(f->e, f->inst, out);
}

#define OK(x) assert_int_equal((x), MT_OK)

/* ------------------------------------------------------------------------ */
/* Event formatting (diagnostics and the determinism comparison)             */

static const char *typeName(int t)
{
    static const char *const names[] = {"?",         "ACCEPTED", "REJECTED", "FILL",
                                        "CANCELLED", "REPLACED", "LEVEL",    "STATE",
                                        "IMBALANCE", "UNCROSS"};
    return t >= 1 && t <= 9 ? names[t] : "?";
}

static void idStr(uint64_t id, char *buf, size_t cap)
{
    snprintf(buf, cap, "%u:%llu", (unsigned)(id >> 56), (unsigned long long)(id & SEQ_MASK));
}

/* Every field of the event's member, as text. */
static void evStr(const mtEvent *ev, char *buf, size_t cap)
{
    char a[32], b[32];
    int k = snprintf(buf, cap, "%s inst=%u ", typeName(ev->type), (unsigned)ev->instrument);
    if (k < 0 || (size_t)k >= cap)
        return;
    buf += k;
    cap -= (size_t)k;
    switch (ev->type) {
    case MT_EV_ACCEPTED: {
        const mtAccepted *x = &ev->u.accepted;
        idStr(x->orderId, a, sizeof a);
        snprintf(buf, cap,
                 "id=%s ref=%llu px=%lld acct=%u qty=%u minQty=%u side=%u pt=%u tc=%u vc=%u", a,
                 (unsigned long long)x->userRef, (long long)x->price, x->account, x->qty, x->minQty,
                 x->side, x->priceType, x->timeCondition, x->volumeCondition);
        break;
    }
    case MT_EV_REJECTED: {
        const mtRejected *x = &ev->u.rejected;
        idStr(x->orderId, a, sizeof a);
        snprintf(buf, cap, "id=%s ref=%llu code=%u op=%u", a, (unsigned long long)x->userRef,
                 x->code, x->op);
        break;
    }
    case MT_EV_FILL: {
        const mtFill *x = &ev->u.fill;
        idStr(x->tradeId, a, sizeof a);
        char c[32], d[32];
        idStr(x->orderId[0], c, sizeof c);
        idStr(x->orderId[1], d, sizeof d);
        snprintf(buf, cap,
                 "trade=%s px=%lld qty=%u aggr=%u buy{id=%s ref=%llu acct=%u leaves=%u} "
                 "sell{id=%s ref=%llu acct=%u leaves=%u}",
                 a, (long long)x->price, x->qty, x->aggressor, c, (unsigned long long)x->userRef[0],
                 x->account[0], x->leaves[0], d, (unsigned long long)x->userRef[1], x->account[1],
                 x->leaves[1]);
        break;
    }
    case MT_EV_CANCELLED: {
        const mtCancelled *x = &ev->u.cancelled;
        idStr(x->orderId, a, sizeof a);
        snprintf(buf, cap, "id=%s ref=%llu acct=%u qty=%u side=%u reason=%u", a,
                 (unsigned long long)x->userRef, x->account, x->qty, x->side, x->reason);
        break;
    }
    case MT_EV_REPLACED: {
        const mtReplaced *x = &ev->u.replaced;
        idStr(x->orderId, a, sizeof a);
        snprintf(buf, cap, "id=%s ref=%llu px=%lld acct=%u qty=%u leaves=%u side=%u kept=%u", a,
                 (unsigned long long)x->userRef, (long long)x->price, x->account, x->qty, x->leaves,
                 x->side, x->keptPriority);
        break;
    }
    case MT_EV_LEVEL: {
        const mtLevel *x = &ev->u.level;
        snprintf(buf, cap, "side=%u px=%lld qty=%llu", x->side, (long long)x->price,
                 (unsigned long long)x->qty);
        break;
    }
    case MT_EV_STATE:
        snprintf(buf, cap, "state=%u previous=%u", ev->u.state.state, ev->u.state.previous);
        break;
    case MT_EV_IMBALANCE:
    case MT_EV_UNCROSS: {
        const mtAuction *x = &ev->u.auction;
        snprintf(buf, cap, "px=%lld paired=%llu imbalance=%llu side=%u", (long long)x->price,
                 (unsigned long long)x->pairedQty, (unsigned long long)x->imbalanceQty,
                 x->imbalanceSide);
        break;
    }
    default:
        snprintf(b, sizeof b, "unknown type");
        snprintf(buf, cap, "%s", b);
        break;
    }
}

static void dumpEvents(const Fx *f)
{
    char buf[512];
    print_error("  events recorded (%zu):\n", f->n);
    for (size_t i = 0; i < f->n; i++) {
        evStr(&f->ev[i], buf, sizeof buf);
        print_error("  %s #%zu %s\n", i == f->cur ? "->" : "  ", i, buf);
    }
}

static void failAt(const Fx *f, const char *file, int line, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 4, 5)));
static void failAt(const Fx *f, const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprint_error(fmt, ap);
    va_end(ap);
    print_error("\n");
    if (f != NULL)
        dumpEvents(f);
    _fail(file, line);
    abort(); /* _fail does not return inside a test */
}

/* ------------------------------------------------------------------------ */
/* Event checks: each consumes the next event and compares its fields        */

static const mtEvent *nextEv(Fx *f, int type, const char *file, int line)
{
    if (f->overflow)
        failAt(f, file, line, "more than %d events recorded", MAX_EV);
    if (f->cur >= f->n)
        failAt(f, file, line, "expected %s as event #%zu, but only %zu events were emitted",
               typeName(type), f->cur, f->n);
    const mtEvent *ev = &f->ev[f->cur];
    if (ev->type != type)
        failAt(f, file, line, "event #%zu is %s, expected %s", f->cur, typeName(ev->type),
               typeName(type));
    /* a rejected cancel or replace may name no known instrument */
    if (type != MT_EV_REJECTED && ev->instrument != f->inst)
        failAt(f, file, line, "event #%zu has instrument %u, expected %u", f->cur,
               (unsigned)ev->instrument, (unsigned)f->inst);
    f->cur++;
    return ev;
}

static void field(const Fx *f, const char *file, int line, const char *name, uint64_t got,
                  uint64_t want)
{
    if (got != want)
        failAt(f, file, line, "event #%zu: %s is %lld (0x%llx), expected %lld (0x%llx)", f->cur - 1,
               name, (long long)got, (unsigned long long)got, (long long)want,
               (unsigned long long)want);
}
#define FLD(name, got, want) field(f, file, line, name, (uint64_t)(got), (uint64_t)(want))

/* ACCEPTED for the last order submitted, with order id oN. */
#define CK_ACC(f, seq) ckAcc((f), (seq), __FILE__, __LINE__)
static void ckAcc(Fx *f, uint64_t seq, const char *file, int line)
{
    const mtAccepted *a = &nextEv(f, MT_EV_ACCEPTED, file, line)->u.accepted;
    const mtNewOrder *o = &f->last;
    FLD("orderId", a->orderId, oid(f, seq));
    FLD("userRef", a->userRef, o->userRef);
    FLD("price", a->price, o->priceType == MT_MARKET ? 0 : o->price);
    FLD("account", a->account, o->account);
    FLD("qty", a->qty, o->qty);
    FLD("minQty", a->minQty, o->volumeCondition == MT_VOL_MIN ? o->minQty : 0);
    FLD("side", a->side, o->side);
    FLD("priceType", a->priceType, o->priceType);
    FLD("timeCondition", a->timeCondition, o->timeCondition);
    FLD("volumeCondition", a->volumeCondition, o->volumeCondition);
}

#define CK_REJ(f, id, ref, code, op) ckRej((f), (id), (ref), (code), (op), __FILE__, __LINE__)
static void ckRej(Fx *f, uint64_t id, uint64_t ref, int code, int op, const char *file, int line)
{
    const mtRejected *r = &nextEv(f, MT_EV_REJECTED, file, line)->u.rejected;
    FLD("orderId", r->orderId, id);
    FLD("userRef", r->userRef, ref);
    FLD("code", r->code, code);
    FLD("op", r->op, op);
}
/* REJECTED of the last order submitted. */
#define CK_REJNEW(f, code) ckRej((f), 0, (f)->last.userRef, (code), MT_OP_NEW, __FILE__, __LINE__)

/* FILL tN at px for qty between buy oB and sell oS; userRefs and accounts
 * are the ones the orders' ACCEPTED (or last REPLACED) events carried. */
#define CK_FILL(f, tseq, px, qty, aggr, bseq, sseq, bleaves, sleaves)                              \
    ckFill((f), (tseq), (px), (qty), (aggr), (bseq), (sseq), (bleaves), (sleaves), __FILE__,       \
           __LINE__)
static void ckFill(Fx *f, uint64_t tseq, int64_t px, uint32_t qty, int aggr, uint64_t bseq,
                   uint64_t sseq, uint32_t bleaves, uint32_t sleaves, const char *file, int line)
{
    const mtFill *x = &nextEv(f, MT_EV_FILL, file, line)->u.fill;
    FLD("tradeId", x->tradeId, oid(f, tseq));
    FLD("price", x->price, px);
    FLD("qty", x->qty, qty);
    FLD("aggressor", x->aggressor, aggr);
    FLD("orderId[0] (buy)", x->orderId[0], oid(f, bseq));
    FLD("orderId[1] (sell)", x->orderId[1], oid(f, sseq));
    FLD("leaves[0] (buy)", x->leaves[0], bleaves);
    FLD("leaves[1] (sell)", x->leaves[1], sleaves);
    FLD("userRef[0] (buy)", x->userRef[0], f->refOf[bseq]);
    FLD("userRef[1] (sell)", x->userRef[1], f->refOf[sseq]);
    FLD("account[0] (buy)", x->account[0], f->acctOf[bseq]);
    FLD("account[1] (sell)", x->account[1], f->acctOf[sseq]);
}

/* CANCELLED of oN; userRef and account are the order's own. */
#define CK_CXL(f, seq, side, qty, reason)                                                          \
    ckCxl((f), (seq), (side), (qty), (reason), __FILE__, __LINE__)
static void ckCxl(Fx *f, uint64_t seq, int side, uint32_t qty, int reason, const char *file,
                  int line)
{
    const mtCancelled *x = &nextEv(f, MT_EV_CANCELLED, file, line)->u.cancelled;
    FLD("orderId", x->orderId, oid(f, seq));
    FLD("qty", x->qty, qty);
    FLD("side", x->side, side);
    FLD("reason", x->reason, reason);
    FLD("userRef", x->userRef, f->refOf[seq]);
    FLD("account", x->account, f->acctOf[seq]);
}

#define CK_RPL(f, seq, ref, px, qty, leaves, side, kept)                                           \
    ckRpl((f), (seq), (ref), (px), (qty), (leaves), (side), (kept), __FILE__, __LINE__)
static void ckRpl(Fx *f, uint64_t seq, uint64_t ref, int64_t px, uint32_t qty, uint32_t leaves,
                  int side, int kept, const char *file, int line)
{
    const mtReplaced *x = &nextEv(f, MT_EV_REPLACED, file, line)->u.replaced;
    FLD("orderId", x->orderId, oid(f, seq));
    FLD("userRef", x->userRef, ref);
    FLD("price", x->price, px);
    FLD("account", x->account, f->acctOf[seq]);
    FLD("qty", x->qty, qty);
    FLD("leaves", x->leaves, leaves);
    FLD("side", x->side, side);
    FLD("keptPriority", x->keptPriority, kept);
}

#define CK_LVL(f, side, px, qty) ckLvl((f), (side), (px), (qty), __FILE__, __LINE__)
static void ckLvl(Fx *f, int side, int64_t px, uint64_t qty, const char *file, int line)
{
    const mtLevel *x = &nextEv(f, MT_EV_LEVEL, file, line)->u.level;
    FLD("side", x->side, side);
    FLD("price", x->price, px);
    FLD("qty", x->qty, qty);
}

#define CK_STATE(f, st, prev) ckState((f), (st), (prev), __FILE__, __LINE__)
static void ckState(Fx *f, int st, int prev, const char *file, int line)
{
    const mtStateChange *x = &nextEv(f, MT_EV_STATE, file, line)->u.state;
    FLD("state", x->state, st);
    FLD("previous", x->previous, prev);
}

#define CK_UNCROSS(f, px, paired, imb, side)                                                       \
    ckAuction((f), MT_EV_UNCROSS, (px), (paired), (imb), (side), __FILE__, __LINE__)
#define CK_IMB(f, px, paired, imb, side)                                                           \
    ckAuction((f), MT_EV_IMBALANCE, (px), (paired), (imb), (side), __FILE__, __LINE__)
static void ckAuction(Fx *f, int type, int64_t px, uint64_t paired, uint64_t imb, int side,
                      const char *file, int line)
{
    const mtAuction *x = &nextEv(f, type, file, line)->u.auction;
    FLD("price", x->price, px);
    FLD("pairedQty", x->pairedQty, paired);
    FLD("imbalanceQty", x->imbalanceQty, imb);
    FLD("imbalanceSide", x->imbalanceSide, side);
}

#define CK_END(f) ckEnd((f), __FILE__, __LINE__)
static void ckEnd(const Fx *f, const char *file, int line)
{
    if (f->overflow || f->cur != f->n)
        failAt(f, file, line, "expected no more events after #%zu, but %zu were emitted", f->cur,
               f->n);
}

/* The book of the current instrument: "bids | asks", best level first. */
static void bookStr(const Fx *f, char *buf, size_t cap)
{
    mtDepthLevel lv[64];
    size_t len = 0;
    buf[0] = '\0';
    for (int side = MT_BUY; side <= MT_SELL; side++) {
        uint32_t n = mtEngineDepth(f->e, f->inst, (mtSide)side, lv, 64);
        if (side == MT_SELL)
            len += (size_t)snprintf(buf + len, cap - len, " | ");
        if (n == 0)
            len += (size_t)snprintf(buf + len, cap - len, "-");
        for (uint32_t i = 0; i < n && len < cap; i++)
            len += (size_t)snprintf(buf + len, cap - len, "%s%lldx%llu", i ? " " : "",
                                    (long long)lv[i].price, (unsigned long long)lv[i].qty);
    }
}
#define CK_BOOK(f, want) ckBook((f), (want), __FILE__, __LINE__)
static void ckBook(const Fx *f, const char *want, const char *file, int line)
{
    char got[1024];
    bookStr(f, got, sizeof got);
    if (strcmp(got, want) != 0)
        failAt(NULL, file, line, "book is \"%s\", expected \"%s\"", got, want);
}

/* Resting orders of one side in priority order: "seq@price:leaves ...". */
typedef struct {
    mtOrderInfo o[64];
    uint32_t n;
} Visit;
static void visitFn(void *ctx, const mtOrderInfo *o)
{
    Visit *v = ctx;
    if (v->n < 64)
        v->o[v->n] = *o;
    v->n++;
}
#define CK_ORDERS(f, side, want) ckOrders((f), (side), (want), __FILE__, __LINE__)
static void ckOrders(const Fx *f, int side, const char *want, const char *file, int line)
{
    Visit v;
    char got[1024];
    size_t len = 0;
    memset(&v, 0, sizeof v);
    uint32_t n = mtEngineForEachOrder(f->e, f->inst, (mtSide)side, visitFn, &v);
    if (n != v.n)
        failAt(NULL, file, line, "mtEngineForEachOrder returned %u but visited %u", n, v.n);
    got[0] = '\0';
    for (uint32_t i = 0; i < v.n && i < 64 && len < sizeof got; i++)
        len += (size_t)snprintf(got + len, sizeof got - len, "%s%llu@%lld:%u", i ? " " : "",
                                (unsigned long long)(v.o[i].orderId & SEQ_MASK),
                                (long long)v.o[i].price, v.o[i].leaves);
    if (v.n == 0)
        snprintf(got, sizeof got, "-");
    if (strcmp(got, want) != 0)
        failAt(NULL, file, line, "side %d orders are \"%s\", expected \"%s\"", side, got, want);
}

static mtOrderInfo getOrder(const Fx *f, uint64_t seq)
{
    mtOrderInfo info;
    memset(&info, 0, sizeof info);
    assert_int_equal(mtEngineOrderGet(f->e, oid(f, seq), &info), MT_OK);
    return info;
}

/* mtEngineOrderGet's result for oN (MT_OK or 3001). */
static int orderCode(const Fx *f, uint64_t seq)
{
    mtOrderInfo info;
    return mtEngineOrderGet(f->e, oid(f, seq), &info);
}

static mtStats stats(const Fx *f)
{
    mtStats s;
    memset(&s, 0, sizeof s);
    mtEngineGetStats(f->e, &s);
    return s;
}

/* ======================================================================== */
/* Tests                                                                     */
/* ======================================================================== */

/* ---- engine and instrument creation ------------------------------------ */

static void test_create_rejects_invalid_config(void **state)
{
    (void)state;
    mtEngineConfig c = engineCfg(1, 8, 2, MT_STP_NONE, nopEv, NULL, NULL);

    c.orderCapacity = 0; /* orderCapacity >= 1 */
    assert_null(mtEngineCreate(&c));
    c.orderCapacity = 8;

    c.onEvent = NULL; /* an engine that cannot report is useless */
    assert_null(mtEngineCreate(&c));
    c.onEvent = nopEv;

    c.maxInstruments = 0; /* no instrument could ever be defined */
    assert_null(mtEngineCreate(&c));
    c.maxInstruments = 2;

    mtEngine *e = mtEngineCreate(&c);
    assert_non_null(e);
    mtEngineDestroy(e);
    mtEngineDestroy(NULL); /* no-op */
    assert_non_null(mtDefaultAllocator());
}

static void test_add_instrument_validation(void **state)
{
    (void)state;
    mtEngineConfig c = engineCfg(1, 8, 3, MT_STP_NONE, nopEv, NULL, NULL);
    mtEngine *e = mtEngineCreate(&c);
    assert_non_null(e);
    mtBookConfig bc;

    bc = bookCfg(0, 200, 150, 1, 1000); /* lower 0 */
    assert_int_equal(mtEngineAddInstrument(e, 1, &bc), MT_ERR_INVALID_PARAMS);
    bc = bookCfg(-5, 200, 150, 1, 1000); /* lower negative */
    assert_int_equal(mtEngineAddInstrument(e, 1, &bc), MT_ERR_INVALID_PARAMS);
    bc = bookCfg(201, 200, 150, 1, 1000); /* lower > upper */
    assert_int_equal(mtEngineAddInstrument(e, 1, &bc), MT_ERR_INVALID_PARAMS);
    bc = bookCfg(100, 200, 150, 10, 5); /* minLots > maxLots */
    assert_int_equal(mtEngineAddInstrument(e, 1, &bc), MT_ERR_INVALID_PARAMS);
    assert_int_equal(mtEngineState(e, 1), -1); /* none of them defined it */

    bc = bookCfg(100, 200, 150, 1, 1000);
    assert_int_equal(mtEngineAddInstrument(e, 3, &bc), MT_ERR_INVALID_PARAMS); /* == max */
    assert_int_equal(mtEngineAddInstrument(e, 65535, &bc), MT_ERR_INVALID_PARAMS);
    assert_int_equal(mtEngineState(e, 3), -1);

    OK(mtEngineAddInstrument(e, 1, &bc));
    assert_int_equal(mtEngineState(e, 1), MT_STATE_CLOSED); /* a new book is CLOSED */
    assert_int_equal(mtEngineAddInstrument(e, 1, &bc), MT_ERR_INVALID_PARAMS); /* duplicate */

    bc = bookCfg(150, 150, 150, 7, 7); /* a one-price band and one lot size are valid */
    OK(mtEngineAddInstrument(e, 2, &bc));
    assert_int_equal(mtEngineState(e, 2), MT_STATE_CLOSED);
    assert_int_equal(mtEngineState(e, 0), -1); /* never added */
    mtEngineDestroy(e);
}

/* A counting allocator: zeroed, 64-byte aligned; fails once `failAfter`
 * allocations have been made (-1: never). */
typedef struct {
    long allocs, frees, live, failAfter;
    long long bytes;
    long mark;
} Counter;
/* Allocations made since the previous call. */
static long sinceMark(Counter *c)
{
    long d = c->allocs - c->mark;
    c->mark = c->allocs;
    return d;
}
static void *ctrAlloc(void *ctx, size_t bytes)
{
    Counter *c = ctx;
    if (c->failAfter >= 0 && c->allocs >= c->failAfter)
        return NULL;
    size_t r = (bytes + 63) & ~(size_t)63;
    void *p = aligned_alloc(64, r ? r : 64);
    if (p == NULL)
        return NULL;
    memset(p, 0, r ? r : 64);
    c->allocs++;
    c->live++;
    c->bytes += (long long)bytes;
    return p;
}
static void ctrFree(void *ctx, void *p, size_t bytes)
{
    Counter *c = ctx;
    if (p == NULL)
        return;
    c->frees++;
    c->live--;
    c->bytes -= (long long)bytes;
    free(p);
}

static void test_allocator_used_only_at_setup(void **state)
{
    (void)state;
    Counter ctr = {0, 0, 0, -1, 0, 0};
    const mtAllocator al = {ctrAlloc, ctrFree, &ctr};
    Fx *f = fxCreate(SEG, 16, MT_STP_NONE, &al);
    assert_non_null(f);
    assert_true(ctr.allocs > 0);
    assert_true((unsigned long long)stats(f).bytesAllocated > 0);
    long afterSetup = ctr.allocs;

    /* Trading allocates nothing (docs/matcher.md, Memory). */
    for (int i = 0; i < 10; i++)
        OK(lim(f, BUY, 140 - i, 5, ACC_A));
    for (int i = 0; i < 4; i++)
        OK(lim(f, SELL, 150 + i, 5, ACC_B));
    OK(mkt(f, SELL, 12, ACC_C));
    OK(ioc(f, BUY, 151, 30, ACC_C));
    OK(cxl(f, OID(3), ACC_A, 1));
    OK(rpl(f, OID(4), ACC_A, 150, 9, 2));
    OK(setSt(f, MT_STATE_PRE_OPEN));
    OK(lim(f, BUY, 160, 5, ACC_A));
    OK(indicate(f, NULL));
    OK(setSt(f, MT_STATE_CONTINUOUS));
    OK(setSt(f, MT_STATE_CLOSED));
    assert_int_equal(ctr.allocs, afterSetup);

    fxFree(f);
    assert_int_equal(ctr.live, 0);
    assert_int_equal(ctr.frees, ctr.allocs);
    assert_int_equal(ctr.bytes, 0); /* every free was given its allocation's size */
}

static void test_allocator_failure(void **state)
{
    (void)state;
    Counter ctr = {0, 0, 0, -1, 0, 0};
    const mtAllocator al = {ctrAlloc, ctrFree, &ctr};
    mtEngineConfig c = engineCfg(SEG, 16, 2, MT_STP_NONE, nopEv, NULL, &al);

    /* How many allocations creation and one instrument take. */
    mtEngine *e = mtEngineCreate(&c);
    assert_non_null(e);
    long create = sinceMark(&ctr);
    mtBookConfig bc = bookCfg(100, 200, 150, 1, 1000);
    OK(mtEngineAddInstrument(e, 0, &bc));
    long inst = sinceMark(&ctr);
    assert_true(create > 0 && inst > 0);
    mtEngineDestroy(e);
    assert_int_equal(ctr.live, 0);

    /* Creation fails cleanly at each of its allocations. */
    for (long k = 0; k < create; k++) {
        ctr = (Counter){0, 0, 0, k, 0, 0};
        assert_null(mtEngineCreate(&c));
        assert_int_equal(ctr.live, 0);
    }
    /* Adding an instrument fails with MT_ERR_POOL_FULL at each of its
     * allocations, leaves the instrument undefined, and it can be added once
     * memory is there again. */
    for (long k = 0; k < inst; k++) {
        ctr = (Counter){0, 0, 0, create + k, 0, 0};
        e = mtEngineCreate(&c);
        assert_non_null(e);
        assert_int_equal(mtEngineAddInstrument(e, 0, &bc), MT_ERR_POOL_FULL);
        assert_int_equal(mtEngineState(e, 0), -1);
        ctr.failAfter = -1;
        OK(mtEngineAddInstrument(e, 0, &bc));
        mtEngineDestroy(e);
        assert_int_equal(ctr.live, 0);
        assert_int_equal(ctr.bytes, 0);
    }
}

/* ---- ids ---------------------------------------------------------------- */

static void test_ids_segment_and_sequence(void **state)
{
    Fx *f = *state; /* segment 0xAB */
    OK(lim(f, SELL, 150, 10, ACC_B));
    CK_ACC(f, 1);
    CK_LVL(f, SELL, 150, 10);
    CK_END(f);
    assert_true(f->ev[0].u.accepted.orderId == UINT64_C(0xAB00000000000001));

    OK(lim(f, BUY, 150, 4, ACC_A));
    CK_ACC(f, 2);
    CK_FILL(f, 1, 150, 4, BUY, 2, 1, 0, 6);
    CK_LVL(f, SELL, 150, 6);
    CK_END(f);
    assert_true(f->ev[0].u.accepted.orderId == UINT64_C(0xAB00000000000002));
    assert_true(f->ev[1].u.fill.tradeId == UINT64_C(0xAB00000000000001));

    OK(lim(f, BUY, 150, 3, ACC_A));
    CK_ACC(f, 3);
    CK_FILL(f, 2, 150, 3, BUY, 3, 1, 0, 3);
    CK_LVL(f, SELL, 150, 3);
    CK_END(f);
    assert_true(f->ev[1].u.fill.tradeId == UINT64_C(0xAB00000000000002));
    assert_int_equal(getOrder(f, 1).leaves, 3);
}

static void test_rejects_consume_no_id(void **state)
{
    Fx *f = *state;
    assert_int_equal(lim(f, BUY, 300, 1, ACC_A), MT_ERR_INVALID_PARAMS);
    CK_REJNEW(f, MT_ERR_INVALID_PARAMS);
    CK_END(f);
    f->inst = 2; /* not defined */
    assert_int_equal(lim(f, BUY, 140, 1, ACC_A), MT_ERR_UNKNOWN_INSTRUMENT);
    CK_REJNEW(f, MT_ERR_UNKNOWN_INSTRUMENT);
    CK_END(f);
    f->inst = 0;
    OK(setSt(f, MT_STATE_HALTED));
    assert_int_equal(lim(f, BUY, 140, 1, ACC_A), MT_ERR_STATE);
    CK_REJNEW(f, MT_ERR_STATE);
    CK_END(f);
    OK(setSt(f, MT_STATE_CONTINUOUS));

    OK(lim(f, BUY, 140, 1, ACC_A)); /* the first accepted order is o1 */
    CK_ACC(f, 1);
    CK_LVL(f, BUY, 140, 1);
    CK_END(f);

    /* failed cancels and replaces take no id either */
    assert_int_equal(cxl(f, OID(50), ACC_A, 1), MT_ERR_ORDER_NOT_FOUND);
    assert_int_equal(rpl(f, OID(1), ACC_A, 140, 5000, 1), MT_ERR_INVALID_PARAMS);

    /* accepted orders take an id even when nothing of them rests */
    OK(mkt(f, BUY, 3, ACC_A)); /* o2: empty ask side */
    CK_ACC(f, 2);
    CK_CXL(f, 2, BUY, 3, MT_CXL_IOC);
    CK_END(f);
    OK(order(f, BUY, MT_LIMIT, MT_IOC, MT_VOL_ALL, 150, 3, 0, ACC_A)); /* o3: FOK */
    CK_ACC(f, 3);
    CK_CXL(f, 3, BUY, 3, MT_CXL_FOK);
    CK_END(f);
    OK(lim(f, BUY, 141, 1, ACC_A));
    CK_ACC(f, 4);
    CK_LVL(f, BUY, 141, 1);
    CK_END(f);
}

/* The same calls on two engines give the same events, field by field. */
static void determinismScript(Fx *f)
{
    f->keep = 1;
    (void)lim(f, SELL, 150, 5, ACC_B);
    (void)lim(f, SELL, 151, 3, ACC_C);
    (void)lim(f, BUY, 149, 4, ACC_A);
    (void)gtc(f, BUY, 148, 6, ACC_D);
    (void)mkt(f, BUY, 6, ACC_A);
    (void)lim(f, BUY, 151, 4, ACC_D);
    (void)lim(f, BUY, 300, 4, ACC_D);
    (void)rpl(f, OID(3), ACC_A, 149, 9, 77);
    (void)rpl(f, OID(3), ACC_A, 152, 9, 78);
    (void)cxl(f, OID(4), ACC_D, 79);
    (void)cxl(f, OID(4), ACC_D, 80);
    (void)order(f, SELL, MT_LIMIT, MT_IOC, MT_VOL_MIN, 140, 20, 3, ACC_B);
    (void)order(f, SELL, MT_LIMIT, MT_GFD, MT_VOL_ALL, 140, 50, 0, ACC_B);
    (void)setSt(f, MT_STATE_PRE_OPEN);
    (void)lim(f, BUY, 160, 7, ACC_A);
    (void)gtc(f, SELL, 155, 4, ACC_B);
    (void)lim(f, SELL, 158, 6, ACC_C);
    (void)indicate(f, NULL);
    (void)setSt(f, MT_STATE_CONTINUOUS);
    (void)setSt(f, MT_STATE_CLOSED);
    f->keep = 0;
}

static void test_deterministic_two_engines(void **state)
{
    (void)state;
    Fx *a = fxCreate(9, 32, MT_STP_CANCEL_RESTING, NULL);
    Fx *b = fxCreate(9, 32, MT_STP_CANCEL_RESTING, NULL);
    assert_non_null(a);
    assert_non_null(b);
    determinismScript(a);
    determinismScript(b);
    assert_true(a->n > 25);
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        char sa[512], sb[512];
        evStr(&a->ev[i], sa, sizeof sa);
        evStr(&b->ev[i], sb, sizeof sb);
        assert_string_equal(sa, sb);
    }
    fxFree(a);
    fxFree(b);
}

/* ---- the order-id index ---------------------------------------------------- */

/* A block of consecutive ids that stays resting (40% of the index, as GTC
 * orders entered at the open), then new+cancel pairs whose ids go four
 * times around the table, a few of them left resting on the way. Homing ids
 * by their low bits put every id after a wrap inside the block's run: each
 * insert, cancel lookup and erase walked ~13,000 slots. The index's shape
 * (mtEngineIndexStats) bounds every operation: a lookup reads
 * displacement + 1 slots, an insert or erase at most the longest run. */
static void test_index_ids_wrap_the_table(void **state)
{
    (void)state;
    Fx *f = fxCreate(SEG, 16384, MT_STP_NONE, NULL);
    assert_non_null(f);
    mtIndexStats st;
    mtEngineIndexStats(f->e, &st);
    const uint32_t slots = st.slots;
    assert_int_equal(slots, 32768);
    assert_int_equal(st.entries, 0);
    const uint32_t block = slots * 2 / 5;
    for (uint32_t i = 0; i < block; i++)
        OK(gtc(f, BUY, 100 + i % 50, 1, ACC_A));
    uint32_t worstDisp = 0, worstRun = 0, resting = block;
    for (uint32_t n = 1; n <= 4 * slots; n++) {
        OK(gtc(f, SELL, 151 + n % 50, 1, ACC_B));
        assert_int_equal(f->ev[0].type, MT_EV_ACCEPTED);
        const uint64_t id = f->ev[0].u.accepted.orderId;
        if (n % 256 == 0)
            resting++; /* ~512 more, spread over the wraps */
        else
            OK(cxl(f, id, ACC_B, 1));
        assert_int_equal(id, oid(f, block + n));
        if (n % 1024 == 0) {
            mtEngineIndexStats(f->e, &st);
            assert_int_equal(st.entries, resting);
            worstDisp = st.maxDisplacement > worstDisp ? st.maxDisplacement : worstDisp;
            worstRun = st.longestRun > worstRun ? st.longestRun : worstRun;
        }
    }
    /* the Fibonacci-hashed 16-id chunks give 30 and 34 here; homing by the
     * low bits gave over 13,000 for both */
    assert_in_range(worstDisp, 0, 96);
    assert_in_range(worstRun, 16, 128);
    /* every resting order is still found */
    mtOrderInfo oi;
    assert_int_equal(mtEngineOrderGet(f->e, oid(f, 1), &oi), MT_OK);
    assert_int_equal(mtEngineOrderGet(f->e, oid(f, block + 256), &oi), MT_OK);
    assert_int_equal(mtEngineOrderGet(f->e, oid(f, block + 255), &oi), MT_ERR_ORDER_NOT_FOUND);
    fprintf(stderr, "index: %u slots, %u entries, max displacement %u, longest run %u\n", slots,
            resting, worstDisp, worstRun);
    fxFree(f);
}

/* ---- limit orders in CONTINUOUS ------------------------------------------ */

static void test_limit_rests_and_levels(void **state)
{
    Fx *f = *state;
    OK(lim(f, BUY, 140, 10, ACC_A));
    CK_ACC(f, 1);
    CK_LVL(f, BUY, 140, 10);
    CK_END(f);
    OK(lim(f, BUY, 140, 5, ACC_B)); /* same level: LEVEL carries the new total */
    CK_ACC(f, 2);
    CK_LVL(f, BUY, 140, 15);
    CK_END(f);
    OK(lim(f, BUY, 141, 2, ACC_C));
    CK_ACC(f, 3);
    CK_LVL(f, BUY, 141, 2);
    CK_END(f);
    OK(lim(f, SELL, 160, 7, ACC_D));
    CK_ACC(f, 4);
    CK_LVL(f, SELL, 160, 7);
    CK_END(f);
    OK(lim(f, SELL, 159, 1, ACC_D));
    CK_ACC(f, 5);
    CK_LVL(f, SELL, 159, 1);
    CK_END(f);
    OK(lim(f, BUY, 158, 1, ACC_A)); /* just below the best ask: no trade */
    CK_ACC(f, 6);
    CK_LVL(f, BUY, 158, 1);
    CK_END(f);
    CK_BOOK(f, "158x1 141x2 140x15 | 159x1 160x7");
    CK_ORDERS(f, BUY, "6@158:1 3@141:2 1@140:10 2@140:5");
}

static void test_accepted_echoes_every_field(void **state)
{
    Fx *f = *state;
    mtNewOrder o;
    memset(&o, 0, sizeof o);
    o.instrument = 0;
    o.side = MT_SELL;
    o.priceType = MT_LIMIT;
    o.timeCondition = MT_GTC;
    o.volumeCondition = MT_VOL_ANY;
    o.price = 155;
    o.qty = 12;
    o.minQty = 7; /* ignored: volume condition ANY */
    o.account = 0xC0FFEE;
    o.userRef = UINT64_C(0xFEEDFACECAFEBEEF);
    OK(submit(f, &o));
    const mtAccepted *a = &f->ev[0].u.accepted;
    assert_int_equal(f->ev[0].type, MT_EV_ACCEPTED);
    assert_int_equal(f->ev[0].instrument, 0);
    assert_true(a->orderId == oid(f, 1));
    assert_true(a->userRef == UINT64_C(0xFEEDFACECAFEBEEF));
    assert_true(a->price == 155);
    assert_int_equal(a->account, 0xC0FFEE);
    assert_int_equal(a->qty, 12);
    assert_int_equal(a->minQty, 0);
    assert_int_equal(a->side, MT_SELL);
    assert_int_equal(a->priceType, MT_LIMIT);
    assert_int_equal(a->timeCondition, MT_GTC);
    assert_int_equal(a->volumeCondition, MT_VOL_ANY);
    CK_ACC(f, 1);
    CK_LVL(f, SELL, 155, 12);
    CK_END(f);

    /* MIN echoes minQty; the market order's price reads 0 whatever was sent */
    OK(order(f, BUY, MT_MARKET, MT_IOC, MT_VOL_MIN, 777, 10, 4, ACC_A));
    CK_ACC(f, 2);
    assert_int_equal(f->ev[0].u.accepted.minQty, 4);
    assert_true(f->ev[0].u.accepted.price == 0);
    CK_FILL(f, 1, 155, 10, BUY, 2, 1, 0, 2);
    CK_LVL(f, SELL, 155, 2);
    CK_END(f);

    /* ALL reports minQty 0 */
    OK(order(f, BUY, MT_LIMIT, MT_IOC, MT_VOL_ALL, 155, 2, 9, ACC_A));
    CK_ACC(f, 3);
    assert_int_equal(f->ev[0].u.accepted.minQty, 0);
    CK_FILL(f, 2, 155, 2, BUY, 3, 1, 0, 0);
    CK_LVL(f, SELL, 155, 0);
    CK_END(f);
}

static void test_full_match_at_resting_price(void **state)
{
    Fx *f = *state;
    OK(lim(f, SELL, 150, 10, ACC_B));
    OK(lim(f, BUY, 155, 10, ACC_A)); /* crosses by 5 ticks: trades at 150 */
    CK_ACC(f, 2);
    CK_FILL(f, 1, 150, 10, BUY, 2, 1, 0, 0);
    CK_LVL(f, SELL, 150, 0);
    CK_END(f);
    CK_BOOK(f, "- | -");
    assert_int_equal(orderCode(f, 1), MT_ERR_ORDER_NOT_FOUND);
    assert_int_equal(orderCode(f, 2), MT_ERR_ORDER_NOT_FOUND);
}

static void test_sell_aggressor_fill_indexes(void **state)
{
    Fx *f = *state;
    OK(lim(f, BUY, 155, 5, ACC_A));  /* o1 */
    OK(lim(f, BUY, 154, 5, ACC_C));  /* o2 */
    OK(lim(f, SELL, 150, 7, ACC_B)); /* o3: [0] is always the buy order */
    CK_ACC(f, 3);
    CK_FILL(f, 1, 155, 5, SELL, 1, 3, 0, 2);
    CK_LVL(f, BUY, 155, 0);
    CK_FILL(f, 2, 154, 2, SELL, 2, 3, 3, 0);
    CK_LVL(f, BUY, 154, 3);
    CK_END(f);
    CK_BOOK(f, "154x3 | -");
}

static void test_price_time_priority_sweep(void **state)
{
    Fx *f = *state;
    OK(lim(f, SELL, 152, 5, ACC_B)); /* o1: worst price, first in time */
    OK(lim(f, SELL, 151, 5, ACC_C)); /* o2 */
    OK(lim(f, SELL, 151, 5, ACC_D)); /* o3: behind o2 */
    OK(lim(f, SELL, 150, 3, ACC_E)); /* o4: best price, last in time */
    CK_BOOK(f, "- | 150x3 151x10 152x5");
    CK_ORDERS(f, SELL, "4@150:3 2@151:5 3@151:5 1@152:5");

    /* buy 15 at 152: 3 @150 (o4), 5 @151 (o2), 5 @151 (o3), 2 @152 (o1) */
    OK(lim(f, BUY, 152, 15, ACC_A));
    CK_ACC(f, 5);
    CK_FILL(f, 1, 150, 3, BUY, 5, 4, 12, 0);
    CK_LVL(f, SELL, 150, 0);
    CK_FILL(f, 2, 151, 5, BUY, 5, 2, 7, 0);
    CK_FILL(f, 3, 151, 5, BUY, 5, 3, 2, 0);
    CK_LVL(f, SELL, 151, 0);
    CK_FILL(f, 4, 152, 2, BUY, 5, 1, 0, 3);
    CK_LVL(f, SELL, 152, 3);
    CK_END(f);
    CK_BOOK(f, "- | 152x3");
    mtOrderInfo o1 = getOrder(f, 1);
    assert_int_equal(o1.qty, 5);
    assert_int_equal(o1.leaves, 3);
}

static void test_bid_side_priority(void **state)
{
    Fx *f = *state;
    OK(lim(f, BUY, 148, 4, ACC_B));  /* o1 */
    OK(lim(f, BUY, 149, 2, ACC_C));  /* o2 */
    OK(lim(f, BUY, 149, 3, ACC_D));  /* o3 */
    OK(lim(f, SELL, 148, 6, ACC_A)); /* o4: 2 from o2, 3 from o3, 1 from o1 */
    CK_ACC(f, 4);
    CK_FILL(f, 1, 149, 2, SELL, 2, 4, 0, 4);
    CK_FILL(f, 2, 149, 3, SELL, 3, 4, 0, 1);
    CK_LVL(f, BUY, 149, 0);
    CK_FILL(f, 3, 148, 1, SELL, 1, 4, 3, 0);
    CK_LVL(f, BUY, 148, 3);
    CK_END(f);
    CK_BOOK(f, "148x3 | -");
}

static void test_one_level_event_per_level(void **state)
{
    Fx *f = *state;
    OK(lim(f, SELL, 150, 2, ACC_B));
    OK(lim(f, SELL, 150, 3, ACC_C));
    OK(lim(f, SELL, 150, 5, ACC_D));
    OK(lim(f, BUY, 150, 4, ACC_A)); /* two fills, one LEVEL when done */
    CK_ACC(f, 4);
    CK_FILL(f, 1, 150, 2, BUY, 4, 1, 2, 0);
    CK_FILL(f, 2, 150, 2, BUY, 4, 2, 0, 1);
    CK_LVL(f, SELL, 150, 6);
    CK_END(f);
    CK_BOOK(f, "- | 150x6");
    CK_ORDERS(f, SELL, "2@150:1 3@150:5");
}

static void test_incoming_remainder_rests(void **state)
{
    Fx *f = *state;
    OK(lim(f, SELL, 150, 4, ACC_B));
    OK(lim(f, SELL, 153, 2, ACC_B));
    OK(lim(f, BUY, 152, 10, ACC_A));
    CK_ACC(f, 3);
    CK_FILL(f, 1, 150, 4, BUY, 3, 1, 6, 0);
    CK_LVL(f, SELL, 150, 0);
    CK_LVL(f, BUY, 152, 6);
    CK_END(f);
    CK_BOOK(f, "152x6 | 153x2"); /* never crossed after a call */
    mtOrderInfo o3 = getOrder(f, 3);
    assert_int_equal(o3.qty, 10);
    assert_int_equal(o3.leaves, 6);
}

static void test_resting_partially_filled(void **state)
{
    Fx *f = *state;
    OK(lim(f, SELL, 150, 10, ACC_B));
    OK(lim(f, BUY, 150, 3, ACC_A));
    CK_ACC(f, 2);
    CK_FILL(f, 1, 150, 3, BUY, 2, 1, 0, 7);
    CK_LVL(f, SELL, 150, 7);
    CK_END(f);
    assert_int_equal(getOrder(f, 1).leaves, 7);
}

static void test_fill_reports_accounts_and_userrefs(void **state)
{
    Fx *f = *state;
    mtNewOrder o;
    memset(&o, 0, sizeof o);
    o.side = MT_SELL;
    o.price = 150;
    o.qty = 5;
    o.account = 77;
    o.userRef = 0xDEADBEEF;
    OK(submit(f, &o));
    o.side = MT_BUY;
    o.qty = 2;
    o.account = 88;
    o.userRef = 0x1234;
    OK(submit(f, &o));
    assert_int_equal(f->n, 3);
    assert_int_equal(f->ev[1].type, MT_EV_FILL);
    const mtFill *x = &f->ev[1].u.fill;
    assert_true(x->userRef[0] == 0x1234);
    assert_true(x->userRef[1] == 0xDEADBEEF);
    assert_int_equal(x->account[0], 88);
    assert_int_equal(x->account[1], 77);
    assert_true(x->orderId[0] == oid(f, 2));
    assert_true(x->orderId[1] == oid(f, 1));
    assert_int_equal(x->leaves[0], 0);
    assert_int_equal(x->leaves[1], 3);
}

/* ---- market orders ------------------------------------------------------- */

static void test_market_sweep_remainder_ioc(void **state)
{
    Fx *f = *state;
    OK(lim(f, SELL, 150, 3, ACC_B));
    OK(lim(f, SELL, 151, 4, ACC_C));
    /* the price of a market order is ignored, even far outside the band */
    OK(order(f, BUY, MT_MARKET, MT_GFD, MT_VOL_ANY, 999, 10, 0, ACC_A));
    CK_ACC(f, 3);
    CK_FILL(f, 1, 150, 3, BUY, 3, 1, 7, 0);
    CK_LVL(f, SELL, 150, 0);
    CK_FILL(f, 2, 151, 4, BUY, 3, 2, 3, 0);
    CK_LVL(f, SELL, 151, 0);
    CK_CXL(f, 3, BUY, 3, MT_CXL_IOC);
    CK_END(f);
    CK_BOOK(f, "- | -");
    assert_int_equal(orderCode(f, 3), MT_ERR_ORDER_NOT_FOUND);

    OK(lim(f, BUY, 140, 2, ACC_B)); /* o4 */
    OK(mkt(f, SELL, 1, ACC_A));     /* o5 */
    CK_ACC(f, 5);
    CK_FILL(f, 3, 140, 1, SELL, 4, 5, 1, 0);
    CK_LVL(f, BUY, 140, 1);
    CK_END(f);
}

static void test_market_empty_opposite_side(void **state)
{
    Fx *f = *state;
    OK(mkt(f, SELL, 5, ACC_A));
    CK_ACC(f, 1);
    CK_CXL(f, 1, SELL, 5, MT_CXL_IOC);
    CK_END(f);
    OK(lim(f, BUY, 140, 3, ACC_B)); /* o2: own side only */
    OK(mkt(f, BUY, 4, ACC_A));      /* o3 */
    CK_ACC(f, 3);
    CK_CXL(f, 3, BUY, 4, MT_CXL_IOC);
    CK_END(f);
    CK_BOOK(f, "140x3 | -");
}

static void test_market_gtc_remainder_cancelled(void **state)
{
    Fx *f = *state;
    OK(lim(f, SELL, 150, 2, ACC_B));
    /* whatever its time condition, a market remainder never rests */
    OK(order(f, BUY, MT_MARKET, MT_GTC, MT_VOL_ANY, 0, 5, 0, ACC_A));
    CK_ACC(f, 2);
    CK_FILL(f, 1, 150, 2, BUY, 2, 1, 3, 0);
    CK_LVL(f, SELL, 150, 0);
    CK_CXL(f, 2, BUY, 3, MT_CXL_IOC);
    CK_END(f);
    OK(lim(f, SELL, 151, 2, ACC_B));
    OK(order(f, BUY, MT_MARKET, MT_IOC, MT_VOL_ANY, 0, 5, 0, ACC_A));
    CK_ACC(f, 4);
    CK_FILL(f, 2, 151, 2, BUY, 4, 3, 3, 0);
    CK_LVL(f, SELL, 151, 0);
    CK_CXL(f, 4, BUY, 3, MT_CXL_IOC);
    CK_END(f);
    CK_BOOK(f, "- | -");
}

static void test_market_full_fill(void **state)
{
    Fx *f = *state;
    OK(lim(f, SELL, 150, 5, ACC_B));
    OK(mkt(f, BUY, 3, ACC_A));
    CK_ACC(f, 2);
    CK_FILL(f, 1, 150, 3, BUY, 2, 1, 0, 2);
    CK_LVL(f, SELL, 150, 2);
    CK_END(f);
}

/* ---- time conditions ----------------------------------------------------- */

static void test_ioc_remainder_cancelled(void **state)
{
    Fx *f = *state;
    OK(lim(f, SELL, 150, 4, ACC_B));
    OK(lim(f, SELL, 152, 9, ACC_B));
    OK(ioc(f, BUY, 151, 10, ACC_A)); /* 4 at 150; 152 is beyond the limit */
    CK_ACC(f, 3);
    CK_FILL(f, 1, 150, 4, BUY, 3, 1, 6, 0);
    CK_LVL(f, SELL, 150, 0);
    CK_CXL(f, 3, BUY, 6, MT_CXL_IOC);
    CK_END(f);
    CK_BOOK(f, "- | 152x9");
    OK(ioc(f, BUY, 152, 9, ACC_A)); /* fully filled: no cancel */
    CK_ACC(f, 4);
    CK_FILL(f, 2, 152, 9, BUY, 4, 2, 0, 0);
    CK_LVL(f, SELL, 152, 0);
    CK_END(f);
}

static void test_ioc_no_cross(void **state)
{
    Fx *f = *state;
    OK(lim(f, SELL, 150, 4, ACC_B));
    OK(ioc(f, SELL, 160, 3, ACC_A)); /* no bids */
    CK_ACC(f, 2);
    CK_CXL(f, 2, SELL, 3, MT_CXL_IOC);
    CK_END(f);
    OK(ioc(f, BUY, 149, 2, ACC_A)); /* below the ask */
    CK_ACC(f, 3);
    CK_CXL(f, 3, BUY, 2, MT_CXL_IOC);
    CK_END(f);
    CK_BOOK(f, "- | 150x4");
}

static void test_close_expires_gfd_keeps_gtc(void **state)
{
    Fx *f = *state;
    OK(lim(f, BUY, 140, 5, ACC_A));  /* o1 GFD */
    OK(gtc(f, BUY, 140, 3, ACC_A));  /* o2 GTC */
    OK(lim(f, BUY, 140, 2, ACC_B));  /* o3 GFD */
    OK(lim(f, BUY, 139, 4, ACC_B));  /* o4 GFD */
    OK(gtc(f, BUY, 138, 1, ACC_C));  /* o5 GTC: a level with nothing to expire */
    OK(lim(f, SELL, 160, 6, ACC_D)); /* o6 GFD */
    OK(gtc(f, SELL, 161, 1, ACC_D)); /* o7 GTC */
    OK(lim(f, SELL, 161, 2, ACC_E)); /* o8 GFD */
    OK(lim(f, SELL, 140, 1, ACC_F)); /* o9: o1 keeps 4 open */
    CK_ACC(f, 9);
    CK_FILL(f, 1, 140, 1, SELL, 1, 9, 4, 0);
    CK_LVL(f, BUY, 140, 9);
    CK_END(f);

    /* STATE first; then bids best to worst, asks best to worst, FIFO within
     * a level, LEVEL after each level that changed; GTC orders stay. */
    OK(setSt(f, MT_STATE_CLOSED));
    CK_STATE(f, MT_STATE_CLOSED, MT_STATE_CONTINUOUS);
    CK_CXL(f, 1, BUY, 4, MT_CXL_EXPIRED);
    CK_CXL(f, 3, BUY, 2, MT_CXL_EXPIRED);
    CK_LVL(f, BUY, 140, 3);
    CK_CXL(f, 4, BUY, 4, MT_CXL_EXPIRED);
    CK_LVL(f, BUY, 139, 0);
    CK_CXL(f, 6, SELL, 6, MT_CXL_EXPIRED);
    CK_LVL(f, SELL, 160, 0);
    CK_CXL(f, 8, SELL, 2, MT_CXL_EXPIRED);
    CK_LVL(f, SELL, 161, 1);
    CK_END(f);
    CK_BOOK(f, "140x3 138x1 | 161x1");
    CK_ORDERS(f, BUY, "2@140:3 5@138:1");
    assert_int_equal(cxl(f, OID(1), ACC_A, 5), MT_ERR_NOT_CANCELLABLE);

    OK(setSt(f, MT_STATE_CONTINUOUS)); /* book not crossed: STATE only */
    CK_STATE(f, MT_STATE_CONTINUOUS, MT_STATE_CLOSED);
    CK_END(f);
    OK(lim(f, SELL, 140, 3, ACC_F)); /* o10: the GTC order still trades */
    CK_ACC(f, 10);
    CK_FILL(f, 2, 140, 3, SELL, 2, 10, 0, 0);
    CK_LVL(f, BUY, 140, 0);
    CK_END(f);
}

static void test_close_expires_pre_open_orders(void **state)
{
    Fx *f = *state;
    OK(setSt(f, MT_STATE_PRE_OPEN));
    OK(lim(f, BUY, 155, 5, ACC_A));  /* o1 GFD */
    OK(gtc(f, SELL, 150, 2, ACC_B)); /* o2 GTC: book crossed */
    OK(setSt(f, MT_STATE_CLOSED));   /* expiry only, no uncross */
    CK_STATE(f, MT_STATE_CLOSED, MT_STATE_PRE_OPEN);
    CK_CXL(f, 1, BUY, 5, MT_CXL_EXPIRED);
    CK_LVL(f, BUY, 155, 0);
    CK_END(f);
    CK_BOOK(f, "- | 150x2");
}

/* ---- volume conditions --------------------------------------------------- */

static void test_min_qty_satisfied_rests(void **state)
{
    Fx *f = *state;
    OK(lim(f, SELL, 150, 3, ACC_B));
    OK(lim(f, SELL, 151, 2, ACC_B));
    OK(lim(f, SELL, 153, 5, ACC_B));
    /* need 5; crossing levels 150 and 151 hold 3 + 2 = 5 (153 is beyond the
     * limit): feasible, so it trades and the GFD remainder rests */
    OK(order(f, BUY, MT_LIMIT, MT_GFD, MT_VOL_MIN, 151, 10, 5, ACC_A));
    CK_ACC(f, 4);
    CK_FILL(f, 1, 150, 3, BUY, 4, 1, 7, 0);
    CK_LVL(f, SELL, 150, 0);
    CK_FILL(f, 2, 151, 2, BUY, 4, 2, 5, 0);
    CK_LVL(f, SELL, 151, 0);
    CK_LVL(f, BUY, 151, 5);
    CK_END(f);
    CK_BOOK(f, "151x5 | 153x5");
}

static void test_min_qty_satisfied_ioc(void **state)
{
    Fx *f = *state;
    OK(lim(f, SELL, 150, 3, ACC_B));
    OK(lim(f, SELL, 151, 2, ACC_B));
    OK(lim(f, SELL, 153, 5, ACC_B));
    OK(order(f, BUY, MT_LIMIT, MT_IOC, MT_VOL_MIN, 151, 10, 4, ACC_A));
    CK_ACC(f, 4);
    CK_FILL(f, 1, 150, 3, BUY, 4, 1, 7, 0);
    CK_LVL(f, SELL, 150, 0);
    CK_FILL(f, 2, 151, 2, BUY, 4, 2, 5, 0);
    CK_LVL(f, SELL, 151, 0);
    CK_CXL(f, 4, BUY, 5, MT_CXL_IOC);
    CK_END(f);
    CK_BOOK(f, "- | 153x5");
}

static void test_min_qty_not_satisfied(void **state)
{
    Fx *f = *state;
    OK(lim(f, SELL, 150, 3, ACC_B));
    OK(lim(f, SELL, 152, 5, ACC_B));
    /* need 4; only 150 crosses a 151 limit: 3 < 4 */
    OK(order(f, BUY, MT_LIMIT, MT_GFD, MT_VOL_MIN, 151, 10, 4, ACC_A));
    CK_ACC(f, 3);
    CK_CXL(f, 3, BUY, 10, MT_CXL_MIN_QTY);
    CK_END(f);
    CK_BOOK(f, "- | 150x3 152x5");
    assert_int_equal(stats(f).fills, 0);

    /* market MIN counts every level: 3 + 5 = 8 < 9 */
    OK(order(f, BUY, MT_MARKET, MT_GFD, MT_VOL_MIN, 0, 20, 9, ACC_A));
    CK_ACC(f, 4);
    CK_CXL(f, 4, BUY, 20, MT_CXL_MIN_QTY);
    CK_END(f);
    /* 8 >= 8: trades everything, the market remainder is cancelled IOC */
    OK(order(f, BUY, MT_MARKET, MT_GFD, MT_VOL_MIN, 0, 20, 8, ACC_A));
    CK_ACC(f, 5);
    CK_FILL(f, 1, 150, 3, BUY, 5, 1, 17, 0);
    CK_LVL(f, SELL, 150, 0);
    CK_FILL(f, 2, 152, 5, BUY, 5, 2, 12, 0);
    CK_LVL(f, SELL, 152, 0);
    CK_CXL(f, 5, BUY, 12, MT_CXL_IOC);
    CK_END(f);
}

static void test_fok_fills_across_levels(void **state)
{
    Fx *f = *state;
    OK(lim(f, SELL, 150, 3, ACC_B));
    OK(lim(f, SELL, 151, 4, ACC_B));
    OK(lim(f, SELL, 152, 5, ACC_B));
    OK(order(f, BUY, MT_LIMIT, MT_IOC, MT_VOL_ALL, 151, 7, 0, ACC_A)); /* 3 + 4 = 7 */
    CK_ACC(f, 4);
    CK_FILL(f, 1, 150, 3, BUY, 4, 1, 4, 0);
    CK_LVL(f, SELL, 150, 0);
    CK_FILL(f, 2, 151, 4, BUY, 4, 2, 0, 0);
    CK_LVL(f, SELL, 151, 0);
    CK_END(f);
    CK_BOOK(f, "- | 152x5");
}

static void test_fok_cannot_fill_book_unchanged(void **state)
{
    Fx *f = *state;
    OK(lim(f, SELL, 150, 3, ACC_B));
    OK(lim(f, SELL, 151, 4, ACC_B));
    OK(lim(f, SELL, 152, 5, ACC_B));
    /* 3 + 4 = 7 < 8 within the limit (152 would make 12 but does not cross) */
    OK(order(f, BUY, MT_LIMIT, MT_IOC, MT_VOL_ALL, 151, 8, 0, ACC_A));
    CK_ACC(f, 4);
    CK_CXL(f, 4, BUY, 8, MT_CXL_FOK);
    CK_END(f);
    /* ALL with GFD is cancelled the same way, reason FOK */
    OK(order(f, BUY, MT_LIMIT, MT_GFD, MT_VOL_ALL, 151, 8, 0, ACC_A));
    CK_ACC(f, 5);
    CK_CXL(f, 5, BUY, 8, MT_CXL_FOK);
    CK_END(f);
    CK_BOOK(f, "- | 150x3 151x4 152x5");
    assert_int_equal(getOrder(f, 1).leaves, 3);

    OK(lim(f, BUY, 140, 2, ACC_C)); /* o6 */
    OK(order(f, SELL, MT_LIMIT, MT_IOC, MT_VOL_ALL, 140, 3, 0, ACC_A));
    CK_ACC(f, 7);
    CK_CXL(f, 7, SELL, 3, MT_CXL_FOK);
    CK_END(f);
    CK_BOOK(f, "140x2 | 150x3 151x4 152x5");
    assert_int_equal(stats(f).fills, 0);
}

static void test_fok_market(void **state)
{
    Fx *f = *state;
    OK(lim(f, SELL, 150, 3, ACC_B));
    OK(lim(f, SELL, 151, 4, ACC_B));
    OK(lim(f, SELL, 152, 5, ACC_B));
    OK(order(f, BUY, MT_MARKET, MT_IOC, MT_VOL_ALL, 0, 13, 0, ACC_A)); /* 12 < 13 */
    CK_ACC(f, 4);
    CK_CXL(f, 4, BUY, 13, MT_CXL_FOK);
    CK_END(f);
    OK(order(f, BUY, MT_MARKET, MT_IOC, MT_VOL_ALL, 0, 12, 0, ACC_A));
    CK_ACC(f, 5);
    CK_FILL(f, 1, 150, 3, BUY, 5, 1, 9, 0);
    CK_LVL(f, SELL, 150, 0);
    CK_FILL(f, 2, 151, 4, BUY, 5, 2, 5, 0);
    CK_LVL(f, SELL, 151, 0);
    CK_FILL(f, 3, 152, 5, BUY, 5, 3, 0, 0);
    CK_LVL(f, SELL, 152, 0);
    CK_END(f);
}

static void test_fok_stp_none_counts_own_orders(void **state)
{
    Fx *f = *state; /* STP NONE */
    OK(lim(f, SELL, 150, 3, ACC_A));
    OK(lim(f, SELL, 150, 4, ACC_B));
    OK(order(f, BUY, MT_LIMIT, MT_IOC, MT_VOL_ALL, 150, 7, 0, ACC_A)); /* 3 + 4 */
    CK_ACC(f, 3);
    CK_FILL(f, 1, 150, 3, BUY, 3, 1, 4, 0);
    CK_FILL(f, 2, 150, 4, BUY, 3, 2, 0, 0);
    CK_LVL(f, SELL, 150, 0);
    CK_END(f);
}

static void test_fok_stp_cancel_resting(void **state)
{
    Fx *f = *state;                  /* STP CANCEL_RESTING: own orders are skipped in the count */
    OK(lim(f, SELL, 150, 3, ACC_A)); /* o1 own */
    OK(lim(f, SELL, 150, 4, ACC_B)); /* o2 */
    OK(lim(f, SELL, 151, 5, ACC_A)); /* o3 own */
    /* counted: o2 = 4 < 5 -> FOK, and o1 is not cancelled */
    OK(order(f, BUY, MT_LIMIT, MT_IOC, MT_VOL_ALL, 151, 5, 0, ACC_A));
    CK_ACC(f, 4);
    CK_CXL(f, 4, BUY, 5, MT_CXL_FOK);
    CK_END(f);
    CK_BOOK(f, "- | 150x7 151x5");
    /* 4 >= 4: o1 is cancelled on the way, o2 fills */
    OK(order(f, BUY, MT_LIMIT, MT_IOC, MT_VOL_ALL, 151, 4, 0, ACC_A));
    CK_ACC(f, 5);
    CK_CXL(f, 1, SELL, 3, MT_CXL_SELF_TRADE);
    CK_FILL(f, 1, 150, 4, BUY, 5, 2, 0, 0);
    CK_LVL(f, SELL, 150, 0);
    CK_END(f);
    CK_BOOK(f, "- | 151x5");
}

static void stpFeasibilitySetup(Fx *f)
{
    OK(lim(f, SELL, 150, 3, ACC_B)); /* o1 */
    OK(lim(f, SELL, 150, 4, ACC_A)); /* o2 own */
    OK(lim(f, SELL, 151, 5, ACC_B)); /* o3 */
}

static void test_fok_stp_cancel_incoming(void **state)
{
    Fx *f = *state; /* STP CANCEL_INCOMING: the count stops at the first own order */
    stpFeasibilitySetup(f);
    OK(order(f, BUY, MT_LIMIT, MT_IOC, MT_VOL_ALL, 151, 5, 0, ACC_A)); /* 3 < 5 */
    CK_ACC(f, 4);
    CK_CXL(f, 4, BUY, 5, MT_CXL_FOK);
    CK_END(f);
    CK_BOOK(f, "- | 150x7 151x5");
    OK(order(f, BUY, MT_LIMIT, MT_IOC, MT_VOL_ALL, 151, 3, 0, ACC_A)); /* 3 >= 3 */
    CK_ACC(f, 5);
    CK_FILL(f, 1, 150, 3, BUY, 5, 1, 0, 0);
    CK_LVL(f, SELL, 150, 4);
    CK_END(f);
    CK_BOOK(f, "- | 150x4 151x5");
}

static void test_fok_stp_cancel_both(void **state)
{
    Fx *f = *state; /* STP CANCEL_BOTH: as CANCEL_INCOMING for the count */
    stpFeasibilitySetup(f);
    OK(order(f, BUY, MT_LIMIT, MT_IOC, MT_VOL_ALL, 151, 5, 0, ACC_A)); /* 3 < 5 */
    CK_ACC(f, 4);
    CK_CXL(f, 4, BUY, 5, MT_CXL_FOK);
    CK_END(f); /* in particular o2 is not cancelled */
    CK_BOOK(f, "- | 150x7 151x5");
    OK(order(f, BUY, MT_LIMIT, MT_IOC, MT_VOL_ALL, 151, 3, 0, ACC_A));
    CK_ACC(f, 5);
    CK_FILL(f, 1, 150, 3, BUY, 5, 1, 0, 0);
    CK_LVL(f, SELL, 150, 4);
    CK_END(f);
    /* now o2 (own) is first: nothing counts, 0 < 1 */
    OK(order(f, BUY, MT_LIMIT, MT_IOC, MT_VOL_ALL, 151, 1, 0, ACC_A));
    CK_ACC(f, 6);
    CK_CXL(f, 6, BUY, 1, MT_CXL_FOK);
    CK_END(f);
    CK_BOOK(f, "- | 150x4 151x5");
}

static void test_min_qty_stp_cancel_both(void **state)
{
    Fx *f = *state;                  /* STP CANCEL_BOTH */
    OK(lim(f, SELL, 150, 3, ACC_B)); /* o1 */
    OK(lim(f, SELL, 150, 4, ACC_A)); /* o2 own */
    OK(lim(f, SELL, 150, 2, ACC_B)); /* o3 */
    /* count stops at o2: 3 >= minQty 3, feasible. Matching: fill o1, then
     * o2 is own: cancel it and stop; LEVEL; the remainder is cancelled. */
    OK(order(f, BUY, MT_LIMIT, MT_GFD, MT_VOL_MIN, 150, 9, 3, ACC_A));
    CK_ACC(f, 4);
    CK_FILL(f, 1, 150, 3, BUY, 4, 1, 6, 0);
    CK_CXL(f, 2, SELL, 4, MT_CXL_SELF_TRADE);
    CK_LVL(f, SELL, 150, 2);
    CK_CXL(f, 4, BUY, 6, MT_CXL_SELF_TRADE);
    CK_END(f);
    CK_BOOK(f, "- | 150x2");
    /* o3 alone: 2 < 4 */
    OK(order(f, BUY, MT_LIMIT, MT_GFD, MT_VOL_MIN, 150, 9, 4, ACC_A));
    CK_ACC(f, 5);
    CK_CXL(f, 5, BUY, 9, MT_CXL_MIN_QTY);
    CK_END(f);
}

/* ---- self-trade prevention ----------------------------------------------- */

static void test_stp_none_trades_with_itself(void **state)
{
    Fx *f = *state;
    OK(lim(f, SELL, 150, 5, ACC_A));
    OK(lim(f, BUY, 150, 5, ACC_A));
    CK_ACC(f, 2);
    CK_FILL(f, 1, 150, 5, BUY, 2, 1, 0, 0);
    CK_LVL(f, SELL, 150, 0);
    CK_END(f);
    assert_int_equal(f->ev[1].u.fill.account[0], ACC_A);
    assert_int_equal(f->ev[1].u.fill.account[1], ACC_A);
}

static void test_stp_cancel_resting(void **state)
{
    Fx *f = *state;                  /* STP CANCEL_RESTING */
    OK(lim(f, SELL, 150, 2, ACC_A)); /* o1 own */
    OK(lim(f, SELL, 150, 3, ACC_B)); /* o2 */
    OK(lim(f, SELL, 151, 4, ACC_A)); /* o3 own */
    OK(lim(f, SELL, 151, 1, ACC_B)); /* o4 */
    OK(lim(f, BUY, 151, 10, ACC_A)); /* o5 */
    CK_ACC(f, 5);
    CK_CXL(f, 1, SELL, 2, MT_CXL_SELF_TRADE);
    CK_FILL(f, 1, 150, 3, BUY, 5, 2, 7, 0);
    CK_LVL(f, SELL, 150, 0);
    CK_CXL(f, 3, SELL, 4, MT_CXL_SELF_TRADE);
    CK_FILL(f, 2, 151, 1, BUY, 5, 4, 6, 0);
    CK_LVL(f, SELL, 151, 0);
    CK_LVL(f, BUY, 151, 6);
    CK_END(f);
    CK_BOOK(f, "151x6 | -");
    assert_int_equal(cxl(f, OID(1), ACC_A, 1), MT_ERR_NOT_CANCELLABLE);

    /* incoming sell against an own bid: the level had only a cancel, and
     * still gets its LEVEL; then the remainder rests */
    OK(lim(f, SELL, 150, 2, ACC_A)); /* o6 */
    CK_ACC(f, 6);
    CK_CXL(f, 5, BUY, 6, MT_CXL_SELF_TRADE);
    CK_LVL(f, BUY, 151, 0);
    CK_LVL(f, SELL, 150, 2);
    CK_END(f);
    CK_BOOK(f, "- | 150x2");
}

static void test_stp_cancel_incoming(void **state)
{
    Fx *f = *state;                  /* STP CANCEL_INCOMING */
    OK(lim(f, SELL, 150, 2, ACC_B)); /* o1 */
    OK(lim(f, SELL, 150, 3, ACC_A)); /* o2 own */
    OK(lim(f, SELL, 150, 4, ACC_B)); /* o3 */
    OK(lim(f, SELL, 151, 5, ACC_B)); /* o4 */
    OK(lim(f, BUY, 151, 10, ACC_A)); /* o5 */
    CK_ACC(f, 5);
    CK_FILL(f, 1, 150, 2, BUY, 5, 1, 8, 0);
    CK_LVL(f, SELL, 150, 7);
    CK_CXL(f, 5, BUY, 8, MT_CXL_SELF_TRADE);
    CK_END(f);
    CK_BOOK(f, "- | 150x7 151x5");
    assert_int_equal(getOrder(f, 2).leaves, 3); /* the own order stays */

    /* own order first: no fill or cancel at the level, so no LEVEL */
    OK(lim(f, BUY, 151, 1, ACC_A)); /* o6 */
    CK_ACC(f, 6);
    CK_CXL(f, 6, BUY, 1, MT_CXL_SELF_TRADE);
    CK_END(f);

    /* another account trades with o2 normally */
    OK(lim(f, BUY, 150, 3, ACC_C)); /* o7 */
    CK_ACC(f, 7);
    CK_FILL(f, 2, 150, 3, BUY, 7, 2, 0, 0);
    CK_LVL(f, SELL, 150, 4);
    CK_END(f);
}

static void test_stp_cancel_both(void **state)
{
    Fx *f = *state;                  /* STP CANCEL_BOTH */
    OK(lim(f, SELL, 150, 2, ACC_B)); /* o1 */
    OK(lim(f, SELL, 150, 3, ACC_A)); /* o2 own */
    OK(lim(f, SELL, 150, 4, ACC_B)); /* o3 */
    OK(lim(f, BUY, 151, 10, ACC_A)); /* o4 */
    CK_ACC(f, 4);
    CK_FILL(f, 1, 150, 2, BUY, 4, 1, 8, 0);
    CK_CXL(f, 2, SELL, 3, MT_CXL_SELF_TRADE);
    CK_LVL(f, SELL, 150, 4);
    CK_CXL(f, 4, BUY, 8, MT_CXL_SELF_TRADE);
    CK_END(f);
    CK_BOOK(f, "- | 150x4");

    OK(lim(f, SELL, 149, 2, ACC_A)); /* o5 own, now the best ask */
    OK(lim(f, BUY, 155, 3, ACC_A));  /* o6 */
    CK_ACC(f, 6);
    CK_CXL(f, 5, SELL, 2, MT_CXL_SELF_TRADE);
    CK_LVL(f, SELL, 149, 0);
    CK_CXL(f, 6, BUY, 3, MT_CXL_SELF_TRADE);
    CK_END(f);
    CK_BOOK(f, "- | 150x4");
}

static void test_stp_market_remainder_is_self_trade(void **state)
{
    Fx *f = *state;                  /* STP CANCEL_INCOMING */
    OK(lim(f, SELL, 150, 2, ACC_A)); /* o1 own */
    /* STP stopped matching: reason SELF_TRADE, not IOC */
    OK(mkt(f, BUY, 5, ACC_A)); /* o2 */
    CK_ACC(f, 2);
    CK_CXL(f, 2, BUY, 5, MT_CXL_SELF_TRADE);
    CK_END(f);
    OK(ioc(f, BUY, 150, 5, ACC_A)); /* o3 */
    CK_ACC(f, 3);
    CK_CXL(f, 3, BUY, 5, MT_CXL_SELF_TRADE);
    CK_END(f);
    CK_BOOK(f, "- | 150x2");
}

/* ---- cancel -------------------------------------------------------------- */

static void test_cancel_success(void **state)
{
    Fx *f = *state;
    OK(lim(f, BUY, 140, 5, ACC_A)); /* o1 */
    OK(lim(f, BUY, 140, 3, ACC_B)); /* o2 */
    OK(cxl(f, OID(1), ACC_A, 9001));
    CK_CXL(f, 1, BUY, 5, MT_CXL_USER); /* userRef is the order's, not 9001 */
    CK_LVL(f, BUY, 140, 3);
    CK_END(f);
    assert_true(f->ev[0].u.cancelled.userRef != 9001);
    assert_int_equal(orderCode(f, 1), MT_ERR_ORDER_NOT_FOUND);
    CK_BOOK(f, "140x3 | -");
    OK(cxl(f, OID(2), ACC_B, 9002));
    CK_CXL(f, 2, BUY, 3, MT_CXL_USER);
    CK_LVL(f, BUY, 140, 0);
    CK_END(f);
    CK_BOOK(f, "- | -");
}

static void test_cancel_partially_filled(void **state)
{
    Fx *f = *state;
    OK(lim(f, SELL, 150, 10, ACC_B));
    OK(lim(f, BUY, 150, 4, ACC_A));
    OK(cxl(f, OID(1), ACC_B, 9003)); /* the open 6 is cancelled */
    CK_CXL(f, 1, SELL, 6, MT_CXL_USER);
    CK_LVL(f, SELL, 150, 0);
    CK_END(f);
}

static void test_cancel_any_account(void **state)
{
    Fx *f = *state;
    OK(lim(f, SELL, 150, 10, ACC_B));
    OK(lim(f, SELL, 150, 1, ACC_C));
    OK(cxl(f, OID(1), MT_ANY_ACCOUNT, 9004));
    CK_CXL(f, 1, SELL, 10, MT_CXL_USER); /* account reads the owner, ACC_B */
    CK_LVL(f, SELL, 150, 1);
    CK_END(f);
}

static void test_cancel_not_found(void **state)
{
    Fx *f = *state;
    assert_int_equal(cxl(f, OID(1), ACC_A, 9010), MT_ERR_ORDER_NOT_FOUND); /* empty engine */
    CK_REJ(f, OID(1), 9010, MT_ERR_ORDER_NOT_FOUND, MT_OP_CANCEL);
    CK_END(f);

    OK(lim(f, SELL, 150, 10, ACC_B)); /* o1 */
    /* o2 is the next sequence: not issued yet */
    assert_int_equal(cxl(f, OID(2), ACC_B, 9011), MT_ERR_ORDER_NOT_FOUND);
    CK_REJ(f, OID(2), 9011, MT_ERR_ORDER_NOT_FOUND, MT_OP_CANCEL);
    CK_END(f);
    assert_int_equal(cxl(f, OID(1000), ACC_B, 9012), MT_ERR_ORDER_NOT_FOUND);
    CK_REJ(f, OID(1000), 9012, MT_ERR_ORDER_NOT_FOUND, MT_OP_CANCEL);
    CK_END(f);
    /* a live order of another account */
    assert_int_equal(cxl(f, OID(1), ACC_A, 9013), MT_ERR_ORDER_NOT_FOUND);
    CK_REJ(f, OID(1), 9013, MT_ERR_ORDER_NOT_FOUND, MT_OP_CANCEL);
    CK_END(f);
    /* the same sequence in another segment, and without segment bits */
    uint64_t other = ((uint64_t)(SEG + 1) << 56) | 1;
    assert_int_equal(cxl(f, other, ACC_B, 9014), MT_ERR_ORDER_NOT_FOUND);
    CK_REJ(f, other, 9014, MT_ERR_ORDER_NOT_FOUND, MT_OP_CANCEL);
    CK_END(f);
    assert_int_equal(cxl(f, 1, ACC_B, 9015), MT_ERR_ORDER_NOT_FOUND);
    CK_REJ(f, 1, 9015, MT_ERR_ORDER_NOT_FOUND, MT_OP_CANCEL);
    CK_END(f);
    assert_int_equal(cxl(f, UINT64_MAX, ACC_B, 9016), MT_ERR_ORDER_NOT_FOUND);
    CK_REJ(f, UINT64_MAX, 9016, MT_ERR_ORDER_NOT_FOUND, MT_OP_CANCEL);
    CK_END(f);
    CK_BOOK(f, "- | 150x10"); /* o1 untouched */
    assert_int_equal(getOrder(f, 1).leaves, 10);
}

static void test_cancel_not_cancellable(void **state)
{
    Fx *f = *state;
    OK(lim(f, SELL, 150, 5, ACC_B)); /* o1 */
    OK(lim(f, BUY, 150, 5, ACC_A));  /* o2: both filled */
    assert_int_equal(cxl(f, OID(1), ACC_B, 9020), MT_ERR_NOT_CANCELLABLE);
    CK_REJ(f, OID(1), 9020, MT_ERR_NOT_CANCELLABLE, MT_OP_CANCEL);
    CK_END(f);
    assert_int_equal(cxl(f, OID(2), ACC_A, 9021), MT_ERR_NOT_CANCELLABLE);
    CK_REJ(f, OID(2), 9021, MT_ERR_NOT_CANCELLABLE, MT_OP_CANCEL);
    CK_END(f);
    /* issued but no longer live: 3002 whatever the account */
    assert_int_equal(cxl(f, OID(1), ACC_C, 9022), MT_ERR_NOT_CANCELLABLE);
    CK_REJ(f, OID(1), 9022, MT_ERR_NOT_CANCELLABLE, MT_OP_CANCEL);
    CK_END(f);

    OK(lim(f, SELL, 150, 5, ACC_B)); /* o3 */
    OK(cxl(f, OID(3), ACC_B, 9023));
    assert_int_equal(cxl(f, OID(3), ACC_B, 9024), MT_ERR_NOT_CANCELLABLE); /* twice */
    CK_REJ(f, OID(3), 9024, MT_ERR_NOT_CANCELLABLE, MT_OP_CANCEL);
    CK_END(f);

    OK(ioc(f, BUY, 140, 1, ACC_A)); /* o4: IOC-cancelled */
    assert_int_equal(cxl(f, OID(4), ACC_A, 9025), MT_ERR_NOT_CANCELLABLE);
    CK_REJ(f, OID(4), 9025, MT_ERR_NOT_CANCELLABLE, MT_OP_CANCEL);
    CK_END(f);
    OK(order(f, BUY, MT_LIMIT, MT_IOC, MT_VOL_ALL, 150, 1, 0, ACC_A)); /* o5: FOK */
    assert_int_equal(cxl(f, OID(5), ACC_A, 9026), MT_ERR_NOT_CANCELLABLE);
    CK_REJ(f, OID(5), 9026, MT_ERR_NOT_CANCELLABLE, MT_OP_CANCEL);
    CK_END(f);
}

static void test_cancel_allowed_in_every_state(void **state)
{
    Fx *f = *state;
    OK(lim(f, BUY, 140, 5, ACC_A)); /* o1 */
    OK(lim(f, BUY, 141, 5, ACC_A)); /* o2 */
    OK(lim(f, BUY, 142, 5, ACC_A)); /* o3 */
    OK(gtc(f, BUY, 143, 5, ACC_A)); /* o4 */
    OK(setSt(f, MT_STATE_HALTED));
    OK(cxl(f, OID(1), ACC_A, 9030));
    CK_CXL(f, 1, BUY, 5, MT_CXL_USER);
    CK_LVL(f, BUY, 140, 0);
    CK_END(f);
    OK(setSt(f, MT_STATE_PRE_OPEN));
    OK(cxl(f, OID(2), ACC_A, 9031));
    CK_CXL(f, 2, BUY, 5, MT_CXL_USER);
    CK_LVL(f, BUY, 141, 0);
    CK_END(f);
    OK(setSt(f, MT_STATE_CLOSED));
    CK_STATE(f, MT_STATE_CLOSED, MT_STATE_PRE_OPEN);
    CK_CXL(f, 3, BUY, 5, MT_CXL_EXPIRED);
    CK_LVL(f, BUY, 142, 0);
    CK_END(f);
    OK(cxl(f, OID(4), ACC_A, 9032));
    CK_CXL(f, 4, BUY, 5, MT_CXL_USER);
    CK_LVL(f, BUY, 143, 0);
    CK_END(f);
    CK_BOOK(f, "- | -");
}

/* ---- replace ------------------------------------------------------------- */

static void test_replace_decrease_keeps_priority(void **state)
{
    Fx *f = *state;
    OK(lim(f, BUY, 140, 10, ACC_A)); /* o1 */
    OK(lim(f, BUY, 140, 5, ACC_B));  /* o2 */
    OK(rpl(f, OID(1), ACC_A, 140, 6, 900));
    CK_RPL(f, 1, 900, 140, 6, 6, BUY, 1);
    CK_LVL(f, BUY, 140, 11);
    CK_END(f);
    CK_ORDERS(f, BUY, "1@140:6 2@140:5");
    /* a later sell hits o1 first, which now reports userRef 900 */
    OK(lim(f, SELL, 140, 3, ACC_C)); /* o3 */
    CK_ACC(f, 3);
    CK_FILL(f, 1, 140, 3, SELL, 1, 3, 3, 0);
    CK_LVL(f, BUY, 140, 8);
    CK_END(f);
    assert_true(f->ev[1].u.fill.userRef[0] == 900);
    mtOrderInfo o1 = getOrder(f, 1);
    assert_true(o1.userRef == 900);
    assert_int_equal(o1.qty, 6);
    assert_int_equal(o1.leaves, 3);
}

static void test_replace_increase_loses_priority(void **state)
{
    Fx *f = *state;
    OK(lim(f, BUY, 140, 5, ACC_A)); /* o1 */
    OK(lim(f, BUY, 140, 5, ACC_B)); /* o2 */
    OK(rpl(f, OID(1), ACC_A, 140, 8, 901));
    CK_RPL(f, 1, 901, 140, 8, 8, BUY, 0);
    CK_LVL(f, BUY, 140, 13);
    CK_END(f);
    CK_ORDERS(f, BUY, "2@140:5 1@140:8");
    OK(lim(f, SELL, 140, 3, ACC_C)); /* o3 hits o2 now */
    CK_ACC(f, 3);
    CK_FILL(f, 1, 140, 3, SELL, 2, 3, 2, 0);
    CK_LVL(f, BUY, 140, 10);
    CK_END(f);
}

static void test_replace_same_qty(void **state)
{
    Fx *f = *state;
    OK(lim(f, BUY, 140, 5, ACC_A));         /* o1 */
    OK(lim(f, BUY, 140, 5, ACC_B));         /* o2 */
    OK(rpl(f, OID(1), ACC_A, 140, 5, 902)); /* nothing changes but userRef */
    CK_RPL(f, 1, 902, 140, 5, 5, BUY, 1);
    CK_END(f); /* level quantity unchanged: no LEVEL */
    CK_ORDERS(f, BUY, "1@140:5 2@140:5");
    assert_true(getOrder(f, 1).userRef == 902);
}

static void test_replace_after_partial_fill(void **state)
{
    Fx *f = *state;
    OK(lim(f, SELL, 150, 10, ACC_B)); /* o1 */
    OK(lim(f, BUY, 150, 4, ACC_A));   /* o2: o1 filled 4, leaves 6 */
    /* newQty is the total: 8 - 4 filled = 4 open < 6: keeps priority */
    OK(rpl(f, OID(1), ACC_B, 150, 8, 903));
    CK_RPL(f, 1, 903, 150, 8, 4, SELL, 1);
    CK_LVL(f, SELL, 150, 4);
    CK_END(f);
    /* not above the filled quantity */
    assert_int_equal(rpl(f, OID(1), ACC_B, 150, 4, 904), MT_ERR_REPLACE);
    CK_REJ(f, OID(1), 904, MT_ERR_REPLACE, MT_OP_REPLACE);
    CK_END(f);
    assert_int_equal(rpl(f, OID(1), ACC_B, 150, 3, 905), MT_ERR_REPLACE);
    CK_REJ(f, OID(1), 905, MT_ERR_REPLACE, MT_OP_REPLACE);
    CK_END(f);
    /* 12 - 4 = 8 open > 4: to the tail */
    OK(rpl(f, OID(1), ACC_B, 150, 12, 906));
    CK_RPL(f, 1, 906, 150, 12, 8, SELL, 0);
    CK_LVL(f, SELL, 150, 8);
    CK_END(f);
    mtOrderInfo o1 = getOrder(f, 1);
    assert_int_equal(o1.qty, 12);
    assert_int_equal(o1.leaves, 8);
}

static void test_replace_price_change_rests_at_tail(void **state)
{
    Fx *f = *state;
    OK(lim(f, BUY, 140, 5, ACC_A)); /* o1 */
    OK(lim(f, BUY, 140, 5, ACC_B)); /* o2 */
    OK(rpl(f, OID(1), ACC_A, 141, 5, 907));
    CK_RPL(f, 1, 907, 141, 5, 5, BUY, 0);
    CK_LVL(f, BUY, 140, 5);
    CK_LVL(f, BUY, 141, 5);
    CK_END(f);
    OK(rpl(f, OID(1), ACC_A, 140, 5, 908)); /* back: now behind o2 */
    CK_RPL(f, 1, 908, 140, 5, 5, BUY, 0);
    CK_LVL(f, BUY, 141, 0);
    CK_LVL(f, BUY, 140, 10);
    CK_END(f);
    CK_ORDERS(f, BUY, "2@140:5 1@140:5");
    OK(rpl(f, OID(1), ACC_A, 139, 3, 909)); /* price and quantity */
    CK_RPL(f, 1, 909, 139, 3, 3, BUY, 0);
    CK_LVL(f, BUY, 140, 5);
    CK_LVL(f, BUY, 139, 3);
    CK_END(f);
    CK_BOOK(f, "140x5 139x3 | -");
}

static void test_replace_price_change_trades(void **state)
{
    Fx *f = *state;
    OK(lim(f, BUY, 140, 5, ACC_A));  /* o1 */
    OK(lim(f, BUY, 139, 5, ACC_C));  /* o2 */
    OK(lim(f, SELL, 150, 4, ACC_B)); /* o3 */
    OK(rpl(f, OID(2), ACC_C, 150, 5, 910));
    CK_RPL(f, 2, 910, 150, 5, 5, BUY, 0);
    CK_LVL(f, BUY, 139, 0);
    CK_FILL(f, 1, 150, 4, BUY, 2, 3, 1, 0); /* the replaced order is the aggressor */
    CK_LVL(f, SELL, 150, 0);
    CK_LVL(f, BUY, 150, 1);
    CK_END(f);
    CK_BOOK(f, "150x1 140x5 | -");

    OK(lim(f, BUY, 145, 2, ACC_A));         /* o4 */
    OK(lim(f, SELL, 160, 3, ACC_B));        /* o5 */
    OK(rpl(f, OID(5), ACC_B, 140, 3, 911)); /* sell side: 1 @150, 2 @145 */
    CK_RPL(f, 5, 911, 140, 3, 3, SELL, 0);
    CK_LVL(f, SELL, 160, 0);
    CK_FILL(f, 2, 150, 1, SELL, 2, 5, 0, 2);
    CK_LVL(f, BUY, 150, 0);
    CK_FILL(f, 3, 145, 2, SELL, 4, 5, 0, 0);
    CK_LVL(f, BUY, 145, 0);
    CK_END(f);
    CK_BOOK(f, "140x5 | -");
}

static void test_replace_price_change_fully_filled(void **state)
{
    Fx *f = *state;
    OK(lim(f, SELL, 150, 4, ACC_B)); /* o1 */
    OK(lim(f, BUY, 140, 3, ACC_A));  /* o2 */
    OK(rpl(f, OID(2), ACC_A, 150, 3, 912));
    CK_RPL(f, 2, 912, 150, 3, 3, BUY, 0);
    CK_LVL(f, BUY, 140, 0);
    CK_FILL(f, 1, 150, 3, BUY, 2, 1, 0, 1);
    CK_LVL(f, SELL, 150, 1);
    CK_END(f);
    assert_int_equal(cxl(f, OID(2), ACC_A, 1), MT_ERR_NOT_CANCELLABLE);
    CK_BOOK(f, "- | 150x1");
}

static void test_replace_volume_condition_not_rechecked(void **state)
{
    Fx *f = *state;
    OK(lim(f, SELL, 140, 5, ACC_B));                                    /* o1 */
    OK(order(f, BUY, MT_LIMIT, MT_GFD, MT_VOL_MIN, 140, 10, 5, ACC_A)); /* o2: 5 fill, 5 rest */
    CK_ACC(f, 2);
    CK_FILL(f, 1, 140, 5, BUY, 2, 1, 5, 0);
    CK_LVL(f, SELL, 140, 0);
    CK_LVL(f, BUY, 140, 5);
    CK_END(f);
    OK(lim(f, SELL, 150, 2, ACC_B)); /* o3: only 2 < minQty 5 available */
    OK(rpl(f, OID(2), ACC_A, 150, 10, 913));
    CK_RPL(f, 2, 913, 150, 10, 5, BUY, 0);
    CK_LVL(f, BUY, 140, 0);
    CK_FILL(f, 2, 150, 2, BUY, 2, 3, 3, 0);
    CK_LVL(f, SELL, 150, 0);
    CK_LVL(f, BUY, 150, 3);
    CK_END(f);
}

static void test_replace_errors(void **state)
{
    Fx *f = *state;
    OK(lim(f, BUY, 140, 5, ACC_A)); /* o1 */
    uint64_t ref1 = getOrder(f, 1).userRef;
    assert_int_equal(rpl(f, OID(99), ACC_A, 140, 6, 920), MT_ERR_ORDER_NOT_FOUND);
    CK_REJ(f, OID(99), 920, MT_ERR_ORDER_NOT_FOUND, MT_OP_REPLACE);
    CK_END(f);
    assert_int_equal(rpl(f, OID(1), ACC_B, 140, 6, 921), MT_ERR_ORDER_NOT_FOUND);
    CK_REJ(f, OID(1), 921, MT_ERR_ORDER_NOT_FOUND, MT_OP_REPLACE);
    CK_END(f);
    assert_int_equal(rpl(f, OID(1), ACC_A, 201, 5, 922), MT_ERR_INVALID_PARAMS);
    CK_REJ(f, OID(1), 922, MT_ERR_INVALID_PARAMS, MT_OP_REPLACE);
    CK_END(f);
    assert_int_equal(rpl(f, OID(1), ACC_A, 99, 5, 923), MT_ERR_INVALID_PARAMS);
    CK_REJ(f, OID(1), 923, MT_ERR_INVALID_PARAMS, MT_OP_REPLACE);
    CK_END(f);
    assert_int_equal(rpl(f, OID(1), ACC_A, 140, 1001, 924), MT_ERR_INVALID_PARAMS);
    CK_REJ(f, OID(1), 924, MT_ERR_INVALID_PARAMS, MT_OP_REPLACE);
    CK_END(f);
    assert_int_equal(rpl(f, OID(1), ACC_A, 140, 0, 925), MT_ERR_INVALID_PARAMS);
    CK_REJ(f, OID(1), 925, MT_ERR_INVALID_PARAMS, MT_OP_REPLACE);
    CK_END(f);
    /* none of that changed the order */
    mtOrderInfo o1 = getOrder(f, 1);
    assert_true(o1.userRef == ref1);
    assert_true(o1.price == 140);
    assert_int_equal(o1.qty, 5);
    assert_int_equal(o1.leaves, 5);
    CK_BOOK(f, "140x5 | -");

    OK(lim(f, SELL, 150, 2, ACC_B)); /* o2 */
    OK(lim(f, BUY, 150, 2, ACC_C));  /* o3: o2 filled */
    assert_int_equal(rpl(f, OID(2), ACC_B, 150, 5, 926), MT_ERR_NOT_CANCELLABLE);
    CK_REJ(f, OID(2), 926, MT_ERR_NOT_CANCELLABLE, MT_OP_REPLACE);
    CK_END(f);

    /* band edges are inside; MT_ANY_ACCOUNT works as for cancel */
    OK(rpl(f, OID(1), MT_ANY_ACCOUNT, 100, 1000, 927));
    CK_RPL(f, 1, 927, 100, 1000, 1000, BUY, 0);
    CK_LVL(f, BUY, 140, 0);
    CK_LVL(f, BUY, 100, 1000);
    CK_END(f);
    OK(rpl(f, OID(1), ACC_A, 200, 1, 928)); /* no asks left: rests at 200 */
    CK_RPL(f, 1, 928, 200, 1, 1, BUY, 0);
    CK_LVL(f, BUY, 100, 0);
    CK_LVL(f, BUY, 200, 1);
    CK_END(f);
}

static void test_replace_check_order(void **state)
{
    Fx *f = *state;
    OK(lim(f, BUY, 140, 5, ACC_A)); /* o1 */
    OK(lim(f, BUY, 141, 5, ACC_A)); /* o2 */
    OK(cxl(f, OID(2), ACC_A, 1));
    OK(setSt(f, MT_STATE_HALTED));
    /* lookup comes first: 3001 / 3002 even in HALTED */
    assert_int_equal(rpl(f, OID(99), ACC_A, 999, 0, 930), MT_ERR_ORDER_NOT_FOUND);
    CK_REJ(f, OID(99), 930, MT_ERR_ORDER_NOT_FOUND, MT_OP_REPLACE);
    CK_END(f);
    assert_int_equal(rpl(f, OID(2), ACC_A, 999, 0, 931), MT_ERR_NOT_CANCELLABLE);
    CK_REJ(f, OID(2), 931, MT_ERR_NOT_CANCELLABLE, MT_OP_REPLACE);
    CK_END(f);
    /* then the state, before lots and band */
    assert_int_equal(rpl(f, OID(1), ACC_A, 999, 0, 932), MT_ERR_STATE);
    CK_REJ(f, OID(1), 932, MT_ERR_STATE, MT_OP_REPLACE);
    CK_END(f);
    OK(setSt(f, MT_STATE_CONTINUOUS));
    OK(lim(f, SELL, 140, 2, ACC_B)); /* o3: o1 filled 2, leaves 3 */
    /* lots and band come before 3004 */
    assert_int_equal(rpl(f, OID(1), ACC_A, 140, 0, 933), MT_ERR_INVALID_PARAMS);
    CK_REJ(f, OID(1), 933, MT_ERR_INVALID_PARAMS, MT_OP_REPLACE);
    CK_END(f);
    assert_int_equal(rpl(f, OID(1), ACC_A, 999, 1, 934), MT_ERR_INVALID_PARAMS);
    CK_REJ(f, OID(1), 934, MT_ERR_INVALID_PARAMS, MT_OP_REPLACE);
    CK_END(f);
    assert_int_equal(rpl(f, OID(1), ACC_A, 140, 2, 935), MT_ERR_REPLACE);
    CK_REJ(f, OID(1), 935, MT_ERR_REPLACE, MT_OP_REPLACE);
    CK_END(f);
}

static void test_replace_state(void **state)
{
    Fx *f = *state;
    OK(gtc(f, BUY, 140, 5, ACC_A));  /* o1 */
    OK(gtc(f, SELL, 150, 5, ACC_B)); /* o2 */
    OK(setSt(f, MT_STATE_HALTED));
    assert_int_equal(rpl(f, OID(1), ACC_A, 141, 5, 940), MT_ERR_STATE);
    CK_REJ(f, OID(1), 940, MT_ERR_STATE, MT_OP_REPLACE);
    CK_END(f);
    OK(setSt(f, MT_STATE_CLOSED));
    assert_int_equal(rpl(f, OID(1), ACC_A, 141, 5, 941), MT_ERR_STATE);
    CK_REJ(f, OID(1), 941, MT_ERR_STATE, MT_OP_REPLACE);
    CK_END(f);
    OK(setSt(f, MT_STATE_PRE_OPEN));
    /* PRE_OPEN: a new price rests at the tail without matching */
    OK(rpl(f, OID(1), ACC_A, 155, 5, 942));
    CK_RPL(f, 1, 942, 155, 5, 5, BUY, 0);
    CK_LVL(f, BUY, 140, 0);
    CK_LVL(f, BUY, 155, 5);
    CK_END(f);
    CK_BOOK(f, "155x5 | 150x5");
    OK(rpl(f, OID(1), ACC_A, 155, 4, 943));
    CK_RPL(f, 1, 943, 155, 4, 4, BUY, 1);
    CK_LVL(f, BUY, 155, 4);
    CK_END(f);
    /* B(p) = 4 for p <= 155, S(p) = 5 for p >= 150: V = 4 on 150..155 with
     * imbalance 1 (SELL) everywhere; reference 150 picks 150. */
    OK(setSt(f, MT_STATE_CONTINUOUS));
    CK_STATE(f, MT_STATE_CONTINUOUS, MT_STATE_PRE_OPEN);
    CK_UNCROSS(f, 150, 4, 1, SELL);
    CK_FILL(f, 1, 150, 4, AGG_NONE, 1, 2, 0, 1);
    CK_LVL(f, BUY, 155, 0);
    CK_LVL(f, SELL, 150, 1);
    CK_END(f);
}

static void test_replace_stp_cancel_incoming(void **state)
{
    Fx *f = *state;                  /* STP CANCEL_INCOMING applies to a replaced order too */
    OK(lim(f, BUY, 140, 5, ACC_A));  /* o1 */
    OK(lim(f, SELL, 150, 2, ACC_B)); /* o2 */
    OK(lim(f, SELL, 150, 3, ACC_A)); /* o3 own */
    OK(rpl(f, OID(1), ACC_A, 150, 5, 950));
    CK_RPL(f, 1, 950, 150, 5, 5, BUY, 0);
    CK_LVL(f, BUY, 140, 0);
    CK_FILL(f, 1, 150, 2, BUY, 1, 2, 3, 0);
    CK_LVL(f, SELL, 150, 3);
    CK_CXL(f, 1, BUY, 3, MT_CXL_SELF_TRADE);
    CK_END(f);
    CK_BOOK(f, "- | 150x3");
}

/* ---- validation of new orders -------------------------------------------- */

static void test_validation_unknown_instrument(void **state)
{
    Fx *f = *state;
    static const uint16_t bad[] = {2, 3, 4, 65535}; /* 2, 3 undefined; 4+ beyond max */
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        f->inst = bad[i];
        assert_int_equal(lim(f, BUY, 140, 1, ACC_A), MT_ERR_UNKNOWN_INSTRUMENT);
        CK_REJNEW(f, MT_ERR_UNKNOWN_INSTRUMENT);
        CK_END(f);
    }
    f->inst = 0;
    assert_int_equal(stats(f).ordersAccepted, 0);
}

static void test_validation_bad_enums(void **state)
{
    Fx *f = *state;
    assert_int_equal(order(f, 2, MT_LIMIT, MT_GFD, MT_VOL_ANY, 140, 1, 0, ACC_A),
                     MT_ERR_INVALID_PARAMS);
    CK_REJNEW(f, MT_ERR_INVALID_PARAMS);
    CK_END(f);
    assert_int_equal(order(f, 255, MT_LIMIT, MT_GFD, MT_VOL_ANY, 140, 1, 0, ACC_A),
                     MT_ERR_INVALID_PARAMS);
    CK_REJNEW(f, MT_ERR_INVALID_PARAMS);
    CK_END(f);
    assert_int_equal(order(f, BUY, 2, MT_GFD, MT_VOL_ANY, 140, 1, 0, ACC_A), MT_ERR_INVALID_PARAMS);
    CK_REJNEW(f, MT_ERR_INVALID_PARAMS);
    CK_END(f);
    assert_int_equal(order(f, BUY, MT_LIMIT, 3, MT_VOL_ANY, 140, 1, 0, ACC_A),
                     MT_ERR_INVALID_PARAMS);
    CK_REJNEW(f, MT_ERR_INVALID_PARAMS);
    CK_END(f);
    assert_int_equal(order(f, BUY, MT_LIMIT, MT_GFD, 3, 140, 1, 0, ACC_A), MT_ERR_INVALID_PARAMS);
    CK_REJNEW(f, MT_ERR_INVALID_PARAMS);
    CK_END(f);
    CK_BOOK(f, "- | -");
    mtStats s = stats(f);
    assert_int_equal(s.ordersAccepted, 0);
    assert_int_equal(s.ordersRejected, 5);
}

static void test_validation_lots(void **state)
{
    Fx *f = *state;
    assert_int_equal(lim(f, BUY, 140, 0, ACC_A), MT_ERR_INVALID_PARAMS);
    CK_REJNEW(f, MT_ERR_INVALID_PARAMS);
    CK_END(f);
    assert_int_equal(lim(f, BUY, 140, 1001, ACC_A), MT_ERR_INVALID_PARAMS);
    CK_REJNEW(f, MT_ERR_INVALID_PARAMS);
    CK_END(f);
    assert_int_equal(mkt(f, BUY, 0, ACC_A), MT_ERR_INVALID_PARAMS);
    CK_REJNEW(f, MT_ERR_INVALID_PARAMS);
    CK_END(f);
    OK(lim(f, BUY, 140, 1000, ACC_A));
    CK_ACC(f, 1);

    /* instrument 1 accepts 2..50 lots */
    mtBookConfig bc = bookCfg(100, 200, 150, 2, 50);
    OK(mtEngineAddInstrument(f->e, 1, &bc));
    f->inst = 1;
    OK(setSt(f, MT_STATE_CONTINUOUS));
    CK_STATE(f, MT_STATE_CONTINUOUS, MT_STATE_CLOSED);
    CK_END(f);
    assert_int_equal(lim(f, SELL, 160, 1, ACC_A), MT_ERR_INVALID_PARAMS);
    CK_REJNEW(f, MT_ERR_INVALID_PARAMS);
    CK_END(f);
    assert_int_equal(lim(f, SELL, 160, 51, ACC_A), MT_ERR_INVALID_PARAMS);
    CK_REJNEW(f, MT_ERR_INVALID_PARAMS);
    CK_END(f);
    OK(lim(f, SELL, 160, 2, ACC_A));
    CK_ACC(f, 2);
    CK_LVL(f, SELL, 160, 2);
    CK_END(f);
    OK(lim(f, SELL, 160, 50, ACC_A));
    CK_ACC(f, 3);
    CK_LVL(f, SELL, 160, 52);
    CK_END(f);
    /* replace obeys the same range */
    assert_int_equal(rpl(f, OID(2), ACC_A, 160, 1, 960), MT_ERR_INVALID_PARAMS);
    CK_REJ(f, OID(2), 960, MT_ERR_INVALID_PARAMS, MT_OP_REPLACE);
    CK_END(f);
    assert_int_equal(rpl(f, OID(2), ACC_A, 160, 51, 961), MT_ERR_INVALID_PARAMS);
    CK_REJ(f, OID(2), 961, MT_ERR_INVALID_PARAMS, MT_OP_REPLACE);
    CK_END(f);
}

static void test_validation_min_qty(void **state)
{
    Fx *f = *state;
    OK(lim(f, SELL, 150, 20, ACC_B)); /* o1: liquidity */
    assert_int_equal(order(f, BUY, MT_LIMIT, MT_GFD, MT_VOL_MIN, 150, 10, 0, ACC_A),
                     MT_ERR_INVALID_PARAMS);
    CK_REJNEW(f, MT_ERR_INVALID_PARAMS);
    CK_END(f);
    assert_int_equal(order(f, BUY, MT_LIMIT, MT_GFD, MT_VOL_MIN, 150, 10, 11, ACC_A),
                     MT_ERR_INVALID_PARAMS);
    CK_REJNEW(f, MT_ERR_INVALID_PARAMS);
    CK_END(f);
    OK(order(f, BUY, MT_LIMIT, MT_GFD, MT_VOL_MIN, 150, 10, 10, ACC_A)); /* minQty == qty */
    CK_ACC(f, 2);
    CK_FILL(f, 1, 150, 10, BUY, 2, 1, 0, 10);
    CK_LVL(f, SELL, 150, 10);
    CK_END(f);
    /* minQty is only looked at for MIN */
    OK(order(f, BUY, MT_LIMIT, MT_GFD, MT_VOL_ANY, 140, 3, 50, ACC_A));
    CK_ACC(f, 3);
    CK_LVL(f, BUY, 140, 3);
    CK_END(f);
    OK(order(f, BUY, MT_LIMIT, MT_IOC, MT_VOL_ALL, 150, 3, 0, ACC_A));
    CK_ACC(f, 4);
    CK_FILL(f, 2, 150, 3, BUY, 4, 1, 0, 7);
    CK_LVL(f, SELL, 150, 7);
    CK_END(f);
}

static void test_validation_band(void **state)
{
    Fx *f = *state;
    static const int64_t bad[] = {99, 201, 0, -1, INT64_MIN, INT64_MAX};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(lim(f, BUY, bad[i], 1, ACC_A), MT_ERR_INVALID_PARAMS);
        CK_REJNEW(f, MT_ERR_INVALID_PARAMS);
        CK_END(f);
    }
    OK(lim(f, BUY, 100, 1, ACC_A)); /* both edges are inside */
    CK_ACC(f, 1);
    OK(lim(f, SELL, 200, 1, ACC_A));
    CK_ACC(f, 2);
    /* the band does not apply to market orders, whose price is ignored */
    OK(order(f, SELL, MT_MARKET, MT_GFD, MT_VOL_ANY, -5, 1, 0, ACC_B));
    CK_ACC(f, 3);
    CK_FILL(f, 1, 100, 1, SELL, 1, 3, 0, 0);
    CK_LVL(f, BUY, 100, 0);
    CK_END(f);
}

static void test_validation_check_order(void **state)
{
    Fx *f = *state;
    /* 1 before 2..5: undefined instrument with a bad side, 0 lots, bad price */
    f->inst = 3;
    assert_int_equal(order(f, 9, MT_LIMIT, MT_GFD, MT_VOL_ANY, 999, 0, 0, ACC_A),
                     MT_ERR_UNKNOWN_INSTRUMENT);
    CK_REJNEW(f, MT_ERR_UNKNOWN_INSTRUMENT);
    CK_END(f);
    f->inst = 0;
    /* 2..5 before 6: each 1008 cause in a state that takes no orders */
    OK(setSt(f, MT_STATE_HALTED));
    assert_int_equal(order(f, 9, MT_LIMIT, MT_GFD, MT_VOL_ANY, 140, 1, 0, ACC_A),
                     MT_ERR_INVALID_PARAMS);
    CK_REJNEW(f, MT_ERR_INVALID_PARAMS);
    CK_END(f);
    assert_int_equal(lim(f, BUY, 140, 0, ACC_A), MT_ERR_INVALID_PARAMS);
    CK_REJNEW(f, MT_ERR_INVALID_PARAMS);
    CK_END(f);
    assert_int_equal(order(f, BUY, MT_LIMIT, MT_GFD, MT_VOL_MIN, 140, 5, 0, ACC_A),
                     MT_ERR_INVALID_PARAMS);
    CK_REJNEW(f, MT_ERR_INVALID_PARAMS);
    CK_END(f);
    assert_int_equal(lim(f, BUY, 250, 1, ACC_A), MT_ERR_INVALID_PARAMS); /* band and state */
    CK_REJNEW(f, MT_ERR_INVALID_PARAMS);
    CK_END(f);
    assert_int_equal(lim(f, BUY, 140, 1, ACC_A), MT_ERR_STATE);
    CK_REJNEW(f, MT_ERR_STATE);
    CK_END(f);
    /* PRE_OPEN: a MIN order with minQty > qty is 1008 (check 4), not 3003 */
    OK(setSt(f, MT_STATE_PRE_OPEN));
    assert_int_equal(order(f, BUY, MT_LIMIT, MT_GFD, MT_VOL_MIN, 140, 5, 6, ACC_A),
                     MT_ERR_INVALID_PARAMS);
    CK_REJNEW(f, MT_ERR_INVALID_PARAMS);
    CK_END(f);
    assert_int_equal(order(f, BUY, MT_LIMIT, MT_GFD, MT_VOL_MIN, 140, 5, 5, ACC_A), MT_ERR_STATE);
    CK_REJNEW(f, MT_ERR_STATE);
    CK_END(f);
    assert_int_equal(mkt(f, BUY, 0, ACC_A), MT_ERR_INVALID_PARAMS);
    CK_REJNEW(f, MT_ERR_INVALID_PARAMS);
    CK_END(f);
    assert_int_equal(mkt(f, BUY, 1, ACC_A), MT_ERR_STATE);
    CK_REJNEW(f, MT_ERR_STATE);
    CK_END(f);
}

/* ---- order pool ---------------------------------------------------------- */

static void test_pool_exhaustion(void **state)
{
    Fx *f = *state;                  /* orderCapacity 3 */
    OK(lim(f, BUY, 140, 1, ACC_A));  /* o1 */
    OK(lim(f, BUY, 141, 1, ACC_A));  /* o2 */
    OK(lim(f, SELL, 150, 1, ACC_B)); /* o3 */
    mtStats s = stats(f);
    assert_int_equal(s.poolCapacity, 3);
    assert_int_equal(s.ordersResting, 3);
    assert_int_equal(lim(f, BUY, 139, 1, ACC_A), MT_ERR_POOL_FULL);
    CK_REJNEW(f, MT_ERR_POOL_FULL);
    CK_END(f);
    CK_BOOK(f, "141x1 140x1 | 150x1");
    s = stats(f);
    assert_int_equal(s.ordersAccepted, 3);
    assert_int_equal(s.ordersRejected, 1);
    assert_int_equal(s.ordersResting, 3);

    /* a state reject comes before the pool check (check 6 before 7) */
    OK(setSt(f, MT_STATE_HALTED));
    assert_int_equal(lim(f, BUY, 139, 1, ACC_A), MT_ERR_STATE);
    CK_REJNEW(f, MT_ERR_STATE);
    CK_END(f);
    OK(setSt(f, MT_STATE_CONTINUOUS));

    OK(cxl(f, OID(1), ACC_A, 1));
    OK(lim(f, BUY, 139, 1, ACC_A)); /* o4: the rejects took no id */
    CK_ACC(f, 4);
    CK_LVL(f, BUY, 139, 1);
    CK_END(f);
    assert_int_equal(lim(f, SELL, 160, 1, ACC_B), MT_ERR_POOL_FULL);
    CK_REJNEW(f, MT_ERR_POOL_FULL);
    CK_END(f);
    s = stats(f);
    assert_int_equal(s.ordersAccepted, 4);
    assert_int_equal(s.ordersRejected, 3);
    assert_int_equal(s.ordersResting, 3);
}

static void test_pool_full_rejects_marketable_order(void **state)
{
    Fx *f = *state; /* orderCapacity 3; every accepted order takes a slot */
    OK(lim(f, SELL, 150, 1, ACC_B));
    OK(lim(f, SELL, 151, 1, ACC_B));
    OK(lim(f, SELL, 152, 1, ACC_B));
    assert_int_equal(lim(f, BUY, 152, 1, ACC_A), MT_ERR_POOL_FULL);
    CK_REJNEW(f, MT_ERR_POOL_FULL);
    CK_END(f);
    assert_int_equal(mkt(f, BUY, 1, ACC_A), MT_ERR_POOL_FULL);
    CK_REJNEW(f, MT_ERR_POOL_FULL);
    CK_END(f);
    CK_BOOK(f, "- | 150x1 151x1 152x1");
}

static void test_pool_slots_freed(void **state)
{
    Fx *f = *state;                  /* orderCapacity 3 */
    OK(lim(f, SELL, 150, 1, ACC_B)); /* o1 */
    OK(lim(f, SELL, 151, 1, ACC_B)); /* o2 */
    OK(ioc(f, BUY, 140, 1, ACC_A));  /* o3: takes the last slot, gives it back */
    CK_ACC(f, 3);
    CK_CXL(f, 3, BUY, 1, MT_CXL_IOC);
    CK_END(f);
    OK(lim(f, BUY, 150, 1, ACC_A)); /* o4: fills o1; both slots free */
    CK_ACC(f, 4);
    CK_FILL(f, 1, 150, 1, BUY, 4, 1, 0, 0);
    CK_LVL(f, SELL, 150, 0);
    CK_END(f);
    assert_int_equal(stats(f).ordersResting, 1);
    OK(lim(f, SELL, 152, 1, ACC_B)); /* o5 */
    OK(lim(f, SELL, 153, 1, ACC_B)); /* o6 */
    assert_int_equal(lim(f, SELL, 154, 1, ACC_B), MT_ERR_POOL_FULL);
    assert_int_equal(stats(f).ordersResting, 3);
}

/* ---- trading states ------------------------------------------------------ */

static void test_state_transitions(void **state)
{
    Fx *f = *state;
    assert_int_equal(mtEngineState(f->e, 0), MT_STATE_CONTINUOUS);
    OK(setSt(f, MT_STATE_CONTINUOUS)); /* same state: nothing */
    CK_END(f);
    OK(setSt(f, MT_STATE_HALTED));
    CK_STATE(f, MT_STATE_HALTED, MT_STATE_CONTINUOUS);
    CK_END(f);
    assert_int_equal(mtEngineState(f->e, 0), MT_STATE_HALTED);
    OK(setSt(f, MT_STATE_HALTED));
    CK_END(f);
    OK(setSt(f, MT_STATE_PRE_OPEN));
    CK_STATE(f, MT_STATE_PRE_OPEN, MT_STATE_HALTED);
    CK_END(f);
    OK(setSt(f, MT_STATE_PRE_OPEN));
    CK_END(f);
    OK(setSt(f, MT_STATE_CLOSED));
    CK_STATE(f, MT_STATE_CLOSED, MT_STATE_PRE_OPEN);
    CK_END(f);
    OK(setSt(f, MT_STATE_CLOSED));
    CK_END(f);
    OK(setSt(f, MT_STATE_HALTED));
    CK_STATE(f, MT_STATE_HALTED, MT_STATE_CLOSED);
    CK_END(f);
    OK(setSt(f, MT_STATE_CLOSED));
    CK_STATE(f, MT_STATE_CLOSED, MT_STATE_HALTED);
    CK_END(f);
    OK(setSt(f, MT_STATE_CONTINUOUS));
    CK_STATE(f, MT_STATE_CONTINUOUS, MT_STATE_CLOSED);
    CK_END(f);
    OK(setSt(f, MT_STATE_PRE_OPEN));
    CK_STATE(f, MT_STATE_PRE_OPEN, MT_STATE_CONTINUOUS);
    CK_END(f);
    assert_int_equal(mtEngineState(f->e, 0), MT_STATE_PRE_OPEN);
}

static void test_state_bad_args(void **state)
{
    Fx *f = *state;
    clr(f);
    assert_int_equal(mtEngineSetState(f->e, 2, MT_STATE_HALTED), MT_ERR_UNKNOWN_INSTRUMENT);
    assert_int_equal(mtEngineSetState(f->e, 9, MT_STATE_HALTED), MT_ERR_UNKNOWN_INSTRUMENT);
    assert_int_equal(mtEngineSetState(f->e, 0, (mtState)4), MT_ERR_INVALID_PARAMS);
    assert_int_equal(mtEngineSetState(f->e, 0, (mtState)200), MT_ERR_INVALID_PARAMS);
    CK_END(f); /* nothing changed, nothing emitted */
    assert_int_equal(mtEngineState(f->e, 0), MT_STATE_CONTINUOUS);
    assert_int_equal(mtEngineState(f->e, 2), -1);
    assert_int_equal(mtEngineState(f->e, 1000), -1);
    assert_int_not_equal(mtEngineSetReferencePrice(f->e, 2, 150), MT_OK);
    mtAuction a;
    assert_int_not_equal(mtEngineIndicate(f->e, 2, &a), MT_OK);
}

static void test_pre_open_accepts_only_plain_limits(void **state)
{
    Fx *f = *state;
    OK(setSt(f, MT_STATE_PRE_OPEN));
    OK(lim(f, BUY, 140, 1, ACC_A)); /* LIMIT GFD ANY */
    CK_ACC(f, 1);
    CK_LVL(f, BUY, 140, 1);
    CK_END(f);
    OK(gtc(f, BUY, 140, 2, ACC_A)); /* LIMIT GTC ANY */
    CK_ACC(f, 2);
    CK_LVL(f, BUY, 140, 3);
    CK_END(f);
    static const struct {
        int pt, tc, vc;
    } bad[] = {
        {MT_MARKET, MT_GFD, MT_VOL_ANY}, {MT_MARKET, MT_IOC, MT_VOL_ANY},
        {MT_MARKET, MT_GTC, MT_VOL_ANY}, {MT_LIMIT, MT_IOC, MT_VOL_ANY},
        {MT_LIMIT, MT_GFD, MT_VOL_MIN},  {MT_LIMIT, MT_GTC, MT_VOL_MIN},
        {MT_LIMIT, MT_GFD, MT_VOL_ALL},  {MT_LIMIT, MT_IOC, MT_VOL_ALL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(order(f, SELL, bad[i].pt, bad[i].tc, bad[i].vc, 150, 5, 2, ACC_B),
                         MT_ERR_STATE);
        CK_REJNEW(f, MT_ERR_STATE);
        CK_END(f);
    }
    CK_BOOK(f, "140x3 | -");
}

static void test_pre_open_no_matching(void **state)
{
    Fx *f = *state;
    OK(setSt(f, MT_STATE_PRE_OPEN));
    OK(lim(f, BUY, 155, 5, ACC_A));
    CK_ACC(f, 1);
    CK_LVL(f, BUY, 155, 5);
    CK_END(f);
    OK(lim(f, SELL, 150, 3, ACC_B)); /* crosses: rests anyway */
    CK_ACC(f, 2);
    CK_LVL(f, SELL, 150, 3);
    CK_END(f);
    OK(lim(f, SELL, 155, 2, ACC_B));
    CK_ACC(f, 3);
    CK_LVL(f, SELL, 155, 2);
    CK_END(f);
    CK_BOOK(f, "155x5 | 150x3 155x2");
    assert_int_equal(stats(f).fills, 0);
    OK(cxl(f, OID(2), ACC_B, 1));
    CK_CXL(f, 2, SELL, 3, MT_CXL_USER);
    CK_LVL(f, SELL, 150, 0);
    CK_END(f);
}

static void test_halted_and_closed_reject_new_orders(void **state)
{
    Fx *f = *state;
    OK(gtc(f, BUY, 140, 5, ACC_A)); /* o1 */
    OK(gtc(f, BUY, 141, 5, ACC_A)); /* o2 */
    static const mtState st[] = {MT_STATE_HALTED, MT_STATE_CLOSED};
    for (size_t i = 0; i < 2; i++) {
        OK(setSt(f, st[i]));
        assert_int_equal(lim(f, SELL, 160, 1, ACC_B), MT_ERR_STATE);
        CK_REJNEW(f, MT_ERR_STATE);
        CK_END(f);
        assert_int_equal(gtc(f, SELL, 160, 1, ACC_B), MT_ERR_STATE);
        CK_REJNEW(f, MT_ERR_STATE);
        CK_END(f);
        assert_int_equal(mkt(f, SELL, 1, ACC_B), MT_ERR_STATE);
        CK_REJNEW(f, MT_ERR_STATE);
        CK_END(f);
        assert_int_equal(ioc(f, SELL, 140, 1, ACC_B), MT_ERR_STATE);
        CK_REJNEW(f, MT_ERR_STATE);
        CK_END(f);
        /* but cancels are accepted */
        OK(cxl(f, OID(i + 1), ACC_A, 1));
        CK_CXL(f, i + 1, BUY, 5, MT_CXL_USER);
        CK_LVL(f, BUY, 140 + (int64_t)i, 0);
        CK_END(f);
    }
}

static void test_halt_keeps_book(void **state)
{
    Fx *f = *state;
    OK(lim(f, BUY, 140, 5, ACC_A));
    OK(lim(f, SELL, 150, 5, ACC_B));
    OK(setSt(f, MT_STATE_HALTED)); /* no expiry, nothing but STATE */
    CK_STATE(f, MT_STATE_HALTED, MT_STATE_CONTINUOUS);
    CK_END(f);
    CK_BOOK(f, "140x5 | 150x5");
    OK(setSt(f, MT_STATE_CONTINUOUS));
    CK_STATE(f, MT_STATE_CONTINUOUS, MT_STATE_HALTED);
    CK_END(f);
    CK_BOOK(f, "140x5 | 150x5");
}

/* ---- call auction ---------------------------------------------------------
 * B(p) = bid quantity at prices >= p, S(p) = ask quantity at prices <= p,
 * V(p) = min(B, S), imbalance |B - S|. Prices where V = 0 are left out of the
 * tables below. */

static void test_auction_max_volume(void **state)
{
    Fx *f = *state;
    OK(setSt(f, MT_STATE_PRE_OPEN));
    OK(lim(f, BUY, 152, 10, ACC_A)); /* o1 */
    OK(lim(f, BUY, 150, 5, ACC_B));  /* o2 */
    OK(lim(f, SELL, 148, 4, ACC_C)); /* o3 */
    OK(lim(f, SELL, 152, 8, ACC_D)); /* o4 */
    /*   p        B    S    V   imbalance
     * 148..150   15   4    4   11 BUY
     * 151        10   4    4    6 BUY
     * 152        10  12   10    2 SELL   <- the only maximum
     * 153+        0  12    0
     * Uncross at 152: 10 paired, 2 SELL left over. */
    mtAuction a;
    memset(&a, 0xff, sizeof a);
    OK(indicate(f, &a));
    CK_IMB(f, 152, 10, 2, SELL);
    CK_END(f);
    assert_true(a.price == 152);
    assert_true(a.pairedQty == 10);
    assert_true(a.imbalanceQty == 2);
    assert_int_equal(a.imbalanceSide, SELL);
    CK_BOOK(f, "152x10 150x5 | 148x4 152x8"); /* Indicate did not trade */
    assert_int_equal(stats(f).fills, 0);

    /* o1 (best bid) meets o3 (best ask): 4, o3's level empties; o1's last 6
     * meet o4, o1's level empties; 10 traded; o4's level keeps 2. */
    OK(setSt(f, MT_STATE_CONTINUOUS));
    CK_STATE(f, MT_STATE_CONTINUOUS, MT_STATE_PRE_OPEN);
    CK_UNCROSS(f, 152, 10, 2, SELL);
    CK_FILL(f, 1, 152, 4, AGG_NONE, 1, 3, 6, 0);
    CK_LVL(f, SELL, 148, 0);
    CK_FILL(f, 2, 152, 6, AGG_NONE, 1, 4, 0, 2);
    CK_LVL(f, BUY, 152, 0);
    CK_LVL(f, SELL, 152, 2);
    CK_END(f);
    CK_BOOK(f, "150x5 | 152x2"); /* no longer crossed */
}

static void test_auction_tie_min_imbalance(void **state)
{
    Fx *f = *state;
    OK(setRef(f, 160)); /* the reference would favour 152 */
    CK_END(f);
    OK(setSt(f, MT_STATE_PRE_OPEN));
    OK(lim(f, BUY, 152, 10, ACC_A));  /* o1 */
    OK(lim(f, BUY, 151, 3, ACC_B));   /* o2 */
    OK(lim(f, SELL, 151, 10, ACC_C)); /* o3 */
    OK(lim(f, SELL, 152, 5, ACC_D));  /* o4 */
    /*   p    B    S    V   imbalance
     * 151   13   10   10   3 BUY    <- smaller imbalance wins
     * 152   10   15   10   5 SELL
     * Same volume; the imbalance decides before the reference price (160,
     * nearer 152) is looked at. */
    OK(indicate(f, NULL));
    CK_IMB(f, 151, 10, 3, BUY);
    CK_END(f);
    /* o1 and o3 fill each other: both levels empty, buy side first */
    OK(setSt(f, MT_STATE_CONTINUOUS));
    CK_STATE(f, MT_STATE_CONTINUOUS, MT_STATE_PRE_OPEN);
    CK_UNCROSS(f, 151, 10, 3, BUY);
    CK_FILL(f, 1, 151, 10, AGG_NONE, 1, 3, 0, 0);
    CK_LVL(f, BUY, 152, 0);
    CK_LVL(f, SELL, 151, 0);
    CK_END(f);
    CK_BOOK(f, "151x3 | 152x5");
}

static void test_auction_tie_reference_price(void **state)
{
    Fx *f = *state;
    OK(setSt(f, MT_STATE_PRE_OPEN));
    OK(lim(f, BUY, 152, 10, ACC_A));  /* o1 */
    OK(lim(f, SELL, 150, 10, ACC_B)); /* o2 */
    /* p = 150, 151, 152: B = 10, S = 10, V = 10, imbalance 0 at each; the
     * price closest to the reference wins. */
    static const struct {
        int64_t ref, want;
    } cases[] = {
        {150, 150},                         /* default: the book's referencePrice */
        {151, 151}, {152, 152}, {190, 152}, /* 152 is 38 away, 150 is 40 */
        {100, 150},                         /* 150 is 50 away, 152 is 52 */
        {151, 151},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (i > 0) {
            OK(setRef(f, cases[i].ref));
            CK_END(f);
        }
        OK(indicate(f, NULL));
        CK_IMB(f, cases[i].want, 10, 0, AGG_NONE);
        CK_END(f);
    }
    OK(setSt(f, MT_STATE_CONTINUOUS)); /* reference is 151 now */
    CK_STATE(f, MT_STATE_CONTINUOUS, MT_STATE_PRE_OPEN);
    CK_UNCROSS(f, 151, 10, 0, AGG_NONE);
    CK_FILL(f, 1, 151, 10, AGG_NONE, 1, 2, 0, 0);
    CK_LVL(f, BUY, 152, 0);
    CK_LVL(f, SELL, 150, 0);
    CK_END(f);
    CK_BOOK(f, "- | -");
}

/* "then to the lower price": with integer prices and an integer reference
 * this last rule can never decide. B is non-increasing and S non-decreasing
 * in p, so the prices of maximum V form one run [lo, hi]; on it B - S is
 * non-increasing, so the prices of minimum |B - S| form one run too; and an
 * integer reference has exactly one nearest price in a run of integers (the
 * reference itself, or the nearer end). What is observable is that, with the
 * reference at or below the run, the lowest price of the run is chosen, and
 * at or above it the highest -- checked here on a wide run. */
static void test_auction_tie_lower_price(void **state)
{
    Fx *f = *state;
    OK(setSt(f, MT_STATE_PRE_OPEN));
    OK(lim(f, BUY, 180, 6, ACC_A));  /* o1 */
    OK(lim(f, SELL, 120, 6, ACC_B)); /* o2 */
    /* p = 120..180: B = 6, S = 6, V = 6, imbalance 0 everywhere */
    OK(setRef(f, 100));
    OK(indicate(f, NULL));
    CK_IMB(f, 120, 6, 0, AGG_NONE);
    CK_END(f);
    OK(setRef(f, 120));
    OK(indicate(f, NULL));
    CK_IMB(f, 120, 6, 0, AGG_NONE);
    CK_END(f);
    OK(setRef(f, 200));
    OK(indicate(f, NULL));
    CK_IMB(f, 180, 6, 0, AGG_NONE);
    CK_END(f);
    OK(setRef(f, 100));
    OK(setSt(f, MT_STATE_CONTINUOUS));
    CK_STATE(f, MT_STATE_CONTINUOUS, MT_STATE_PRE_OPEN);
    CK_UNCROSS(f, 120, 6, 0, AGG_NONE);
    CK_FILL(f, 1, 120, 6, AGG_NONE, 1, 2, 0, 0);
    CK_LVL(f, BUY, 180, 0);
    CK_LVL(f, SELL, 120, 0);
    CK_END(f);
}

static void test_auction_many_orders_one_price(void **state)
{
    Fx *f = *state; /* STP CANCEL_BOTH: must not apply in the auction */
    OK(setSt(f, MT_STATE_PRE_OPEN));
    OK(lim(f, BUY, 155, 4, ACC_A));  /* o1 */
    OK(lim(f, BUY, 153, 6, ACC_B));  /* o2 */
    OK(lim(f, BUY, 153, 5, ACC_C));  /* o3 */
    OK(lim(f, BUY, 149, 10, ACC_D)); /* o4 */
    OK(lim(f, SELL, 147, 3, ACC_E)); /* o5 */
    OK(lim(f, SELL, 150, 7, ACC_F)); /* o6 */
    OK(lim(f, SELL, 152, 4, ACC_C)); /* o7: same account as o3 */
    OK(lim(f, SELL, 156, 9, ACC_G)); /* o8 */
    /*   p        B    S    V   imbalance
     * 147..149   25   3    3   22 BUY
     * 150..151   15  10   10    5 BUY
     * 152..153   15  14   14    1 BUY   <- maximum volume, twice
     * 154..155    4  14    4   10 SELL
     * 156+        0  23    0
     * 152 and 153 tie on volume and imbalance; the reference 150 is 2 away
     * from 152 and 3 from 153: uncross at 152, 14 paired, 1 BUY left. */
    OK(indicate(f, NULL));
    CK_IMB(f, 152, 14, 1, BUY);
    CK_END(f);
    /* priority order, all at 152, aggressor NONE:
     *   o1(4) x o5(3): 3  -> o5 done, level 147 empty
     *   o1(1) x o6(7): 1  -> o1 done, level 155 empty
     *   o2(6) x o6(6): 6  -> both done; level 150 empty (153 still has o3)
     *   o3(5) x o7(4): 4  -> o7 done, level 152 empty; same account trades
     * 3 + 1 + 6 + 4 = 14; then the partly consumed bid level 153 (o3: 1). */
    OK(setSt(f, MT_STATE_CONTINUOUS));
    CK_STATE(f, MT_STATE_CONTINUOUS, MT_STATE_PRE_OPEN);
    CK_UNCROSS(f, 152, 14, 1, BUY);
    CK_FILL(f, 1, 152, 3, AGG_NONE, 1, 5, 1, 0);
    CK_LVL(f, SELL, 147, 0);
    CK_FILL(f, 2, 152, 1, AGG_NONE, 1, 6, 0, 6);
    CK_LVL(f, BUY, 155, 0);
    CK_FILL(f, 3, 152, 6, AGG_NONE, 2, 6, 0, 0);
    CK_LVL(f, SELL, 150, 0);
    CK_FILL(f, 4, 152, 4, AGG_NONE, 3, 7, 1, 0);
    CK_LVL(f, SELL, 152, 0);
    CK_LVL(f, BUY, 153, 1);
    CK_END(f);
    CK_BOOK(f, "153x1 149x10 | 156x9");
    CK_ORDERS(f, BUY, "3@153:1 4@149:10");
}

static void test_auction_no_cross(void **state)
{
    Fx *f = *state;
    mtAuction a;
    memset(&a, 0xff, sizeof a);
    OK(indicate(f, &a)); /* empty book */
    CK_IMB(f, 0, 0, 0, AGG_NONE);
    CK_END(f);
    assert_true(a.price == 0 && a.pairedQty == 0 && a.imbalanceQty == 0);
    assert_int_equal(a.imbalanceSide, AGG_NONE);

    OK(setSt(f, MT_STATE_PRE_OPEN));
    OK(lim(f, BUY, 149, 5, ACC_A));
    OK(indicate(f, NULL)); /* one side only */
    CK_IMB(f, 0, 0, 0, AGG_NONE);
    CK_END(f);
    OK(lim(f, SELL, 150, 5, ACC_B));
    OK(indicate(f, NULL)); /* 149 < 150: V = 0 everywhere */
    CK_IMB(f, 0, 0, 0, AGG_NONE);
    CK_END(f);
    OK(setSt(f, MT_STATE_CONTINUOUS)); /* nothing crosses: no UNCROSS */
    CK_STATE(f, MT_STATE_CONTINUOUS, MT_STATE_PRE_OPEN);
    CK_END(f);
    CK_BOOK(f, "149x5 | 150x5");
    OK(indicate(f, NULL)); /* continuous book: never crossed */
    CK_IMB(f, 0, 0, 0, AGG_NONE);
    CK_END(f);
}

static void test_auction_touching_book(void **state)
{
    Fx *f = *state;
    OK(setSt(f, MT_STATE_PRE_OPEN));
    OK(lim(f, BUY, 150, 5, ACC_A));  /* o1 */
    OK(lim(f, SELL, 150, 3, ACC_B)); /* o2: bid == ask is a crossed book */
    /* only p = 150 has volume: B = 5, S = 3, V = 3, imbalance 2 BUY */
    OK(setSt(f, MT_STATE_CONTINUOUS));
    CK_STATE(f, MT_STATE_CONTINUOUS, MT_STATE_PRE_OPEN);
    CK_UNCROSS(f, 150, 3, 2, BUY);
    CK_FILL(f, 1, 150, 3, AGG_NONE, 1, 2, 2, 0);
    CK_LVL(f, SELL, 150, 0);
    CK_LVL(f, BUY, 150, 2);
    CK_END(f);
    CK_BOOK(f, "150x2 | -");
}

static void test_auction_from_halted(void **state)
{
    Fx *f = *state;
    OK(setSt(f, MT_STATE_PRE_OPEN));
    OK(lim(f, BUY, 151, 5, ACC_A));  /* o1 */
    OK(lim(f, SELL, 150, 5, ACC_B)); /* o2 */
    OK(setSt(f, MT_STATE_HALTED));   /* no uncross on the way to HALTED */
    CK_STATE(f, MT_STATE_HALTED, MT_STATE_PRE_OPEN);
    CK_END(f);
    CK_BOOK(f, "151x5 | 150x5");
    /* p = 150, 151: B = S = 5, imbalance 0; reference 150 */
    OK(setSt(f, MT_STATE_CONTINUOUS));
    CK_STATE(f, MT_STATE_CONTINUOUS, MT_STATE_HALTED);
    CK_UNCROSS(f, 150, 5, 0, AGG_NONE);
    CK_FILL(f, 1, 150, 5, AGG_NONE, 1, 2, 0, 0);
    CK_LVL(f, BUY, 151, 0);
    CK_LVL(f, SELL, 150, 0);
    CK_END(f);
}

static void test_auction_from_closed_with_gtc(void **state)
{
    Fx *f = *state;
    OK(setSt(f, MT_STATE_PRE_OPEN));
    OK(gtc(f, BUY, 160, 8, ACC_A));  /* o1 */
    OK(gtc(f, SELL, 140, 3, ACC_B)); /* o2 */
    OK(gtc(f, SELL, 145, 2, ACC_C)); /* o3 */
    OK(setSt(f, MT_STATE_CLOSED));   /* GTC only: STATE and nothing else */
    CK_STATE(f, MT_STATE_CLOSED, MT_STATE_PRE_OPEN);
    CK_END(f);
    /*   p        B   S   V  imbalance
     * 140..144   8   3   3  5 BUY
     * 145..160   8   5   5  3 BUY    <- maximum; reference 150 inside
     * Uncross at 150, 5 paired, 3 BUY. */
    OK(setSt(f, MT_STATE_CONTINUOUS));
    CK_STATE(f, MT_STATE_CONTINUOUS, MT_STATE_CLOSED);
    CK_UNCROSS(f, 150, 5, 3, BUY);
    CK_FILL(f, 1, 150, 3, AGG_NONE, 1, 2, 5, 0);
    CK_LVL(f, SELL, 140, 0);
    CK_FILL(f, 2, 150, 2, AGG_NONE, 1, 3, 3, 0);
    CK_LVL(f, SELL, 145, 0);
    CK_LVL(f, BUY, 160, 3);
    CK_END(f);
    CK_BOOK(f, "160x3 | -");
}

/* ---- queries ------------------------------------------------------------- */

static void test_depth(void **state)
{
    Fx *f = *state;
    OK(lim(f, BUY, 140, 5, ACC_A));
    OK(lim(f, BUY, 140, 3, ACC_A));
    OK(lim(f, BUY, 139, 2, ACC_A));
    OK(lim(f, BUY, 135, 1, ACC_A));
    OK(lim(f, SELL, 152, 6, ACC_B));
    OK(lim(f, SELL, 150, 4, ACC_B));
    clr(f);
    mtDepthLevel lv[8];
    memset(lv, 0, sizeof lv);
    assert_int_equal(mtEngineDepth(f->e, 0, MT_BUY, lv, 8), 3);
    assert_true(lv[0].price == 140 && lv[0].qty == 8);
    assert_true(lv[1].price == 139 && lv[1].qty == 2);
    assert_true(lv[2].price == 135 && lv[2].qty == 1);
    memset(lv, 0, sizeof lv);
    assert_int_equal(mtEngineDepth(f->e, 0, MT_BUY, lv, 2), 2);
    assert_true(lv[0].price == 140 && lv[1].price == 139);
    assert_true(lv[2].price == 0 && lv[2].qty == 0); /* not written past n */
    assert_int_equal(mtEngineDepth(f->e, 0, MT_BUY, lv, 0), 0);
    assert_int_equal(mtEngineDepth(f->e, 0, MT_SELL, lv, 8), 2);
    assert_true(lv[0].price == 150 && lv[0].qty == 4);
    assert_true(lv[1].price == 152 && lv[1].qty == 6);
    assert_int_equal(mtEngineDepth(f->e, 2, MT_SELL, lv, 8), 0); /* undefined */
    CK_END(f);                                                   /* queries emit nothing */
}

static void test_for_each_order_priority(void **state)
{
    Fx *f = *state;
    OK(lim(f, BUY, 140, 5, ACC_A));  /* o1 */
    OK(lim(f, BUY, 142, 3, ACC_B));  /* o2 */
    OK(lim(f, BUY, 140, 2, ACC_C));  /* o3 */
    OK(lim(f, BUY, 139, 4, ACC_D));  /* o4 */
    OK(gtc(f, SELL, 150, 6, ACC_E)); /* o5 */
    OK(lim(f, SELL, 149, 2, ACC_F)); /* o6 */
    OK(lim(f, BUY, 149, 1, ACC_G));  /* o7: fills 1 of o6 */
    CK_ORDERS(f, BUY, "2@142:3 1@140:5 3@140:2 4@139:4");
    CK_ORDERS(f, SELL, "6@149:1 5@150:6");

    Visit v;
    memset(&v, 0, sizeof v);
    clr(f);
    assert_int_equal(mtEngineForEachOrder(f->e, 0, MT_SELL, visitFn, &v), 2);
    CK_END(f);
    const mtOrderInfo *o5 = &v.o[1];
    assert_true(o5->orderId == oid(f, 5));
    assert_true(o5->userRef == f->refOf[5]);
    assert_true(o5->price == 150);
    assert_int_equal(o5->account, ACC_E);
    assert_int_equal(o5->qty, 6);
    assert_int_equal(o5->leaves, 6);
    assert_int_equal(o5->instrument, 0);
    assert_int_equal(o5->side, MT_SELL);
    assert_int_equal(o5->timeCondition, MT_GTC);
    assert_int_equal(v.o[0].qty, 2); /* o6: total 2, open 1 */
    assert_int_equal(v.o[0].leaves, 1);
    assert_int_equal(mtEngineForEachOrder(f->e, 2, MT_SELL, visitFn, &v), 0);
}

static void test_order_get(void **state)
{
    Fx *f = *state;
    OK(gtc(f, SELL, 150, 10, ACC_B)); /* o1 */
    clr(f);
    mtOrderInfo o = getOrder(f, 1);
    CK_END(f);
    assert_true(o.orderId == oid(f, 1));
    assert_true(o.userRef == f->refOf[1]);
    assert_true(o.price == 150);
    assert_int_equal(o.account, ACC_B);
    assert_int_equal(o.qty, 10);
    assert_int_equal(o.leaves, 10);
    assert_int_equal(o.instrument, 0);
    assert_int_equal(o.side, MT_SELL);
    assert_int_equal(o.timeCondition, MT_GTC);
    OK(lim(f, BUY, 150, 4, ACC_A)); /* o2 */
    o = getOrder(f, 1);
    assert_int_equal(o.qty, 10);
    assert_int_equal(o.leaves, 6);
    OK(cxl(f, OID(1), ACC_B, 1));
    assert_int_equal(orderCode(f, 1), MT_ERR_ORDER_NOT_FOUND);
    assert_int_equal(orderCode(f, 2), MT_ERR_ORDER_NOT_FOUND);
    assert_int_equal(orderCode(f, 77), MT_ERR_ORDER_NOT_FOUND);
}

static void test_stats(void **state)
{
    Fx *f = *state;
    mtStats s = stats(f);
    assert_int_equal(s.ordersAccepted, 0);
    assert_int_equal(s.ordersRejected, 0);
    assert_int_equal(s.fills, 0);
    assert_int_equal(s.cancels, 0);
    assert_int_equal(s.replaces, 0);
    assert_int_equal(s.ordersResting, 0);
    assert_int_equal(s.poolCapacity, 64);
    assert_true(s.bytesPerOrder > 0 && s.bytesPerOrder <= 64);
    assert_true(s.bytesAllocated >= (uint64_t)s.poolCapacity * s.bytesPerOrder);

    OK(lim(f, BUY, 140, 5, ACC_A));                                      /* o1 */
    OK(lim(f, SELL, 150, 5, ACC_B));                                     /* o2 */
    assert_int_equal(lim(f, BUY, 300, 1, ACC_A), MT_ERR_INVALID_PARAMS); /* reject */
    OK(lim(f, BUY, 150, 2, ACC_C));                                      /* o3: 1 fill */
    OK(cxl(f, OID(1), ACC_A, 1));                                        /* 1 cancel */
    OK(rpl(f, OID(2), ACC_B, 150, 4, 2));                                /* 1 replace */
    OK(lim(f, SELL, 151, 1, ACC_B));                                     /* o4 */
    OK(lim(f, BUY, 152, 5, ACC_C)); /* o5: fills o2 (2) and o4 (1), rests 2 */
    s = stats(f);
    assert_int_equal(s.ordersAccepted, 5);
    assert_int_equal(s.ordersRejected, 1);
    assert_int_equal(s.fills, 3);
    assert_int_equal(s.cancels, 1);
    assert_int_equal(s.replaces, 1);
    assert_int_equal(s.ordersResting, 1);
    assert_int_equal(s.poolCapacity, 64);
}

static void test_multi_instrument(void **state)
{
    Fx *f = *state;
    mtBookConfig bc = bookCfg(1000, 2000, 1500, 1, 10);
    OK(mtEngineAddInstrument(f->e, 1, &bc));
    f->inst = 1;
    OK(setSt(f, MT_STATE_CONTINUOUS));
    CK_STATE(f, MT_STATE_CONTINUOUS, MT_STATE_CLOSED);
    CK_END(f);

    f->inst = 0;
    OK(lim(f, SELL, 150, 5, ACC_B)); /* o1 on instrument 0 */
    f->inst = 1;
    OK(lim(f, BUY, 1500, 5, ACC_A)); /* o2 on instrument 1: ids are shared */
    CK_ACC(f, 2);
    CK_LVL(f, BUY, 1500, 5);
    CK_END(f);
    assert_int_equal(lim(f, BUY, 150, 1, ACC_A), MT_ERR_INVALID_PARAMS);   /* its own band */
    assert_int_equal(lim(f, BUY, 1500, 11, ACC_A), MT_ERR_INVALID_PARAMS); /* its own lots */
    OK(lim(f, SELL, 1500, 3, ACC_C));                                      /* o3 */
    CK_ACC(f, 3);
    CK_FILL(f, 1, 1500, 3, SELL, 2, 3, 2, 0);
    CK_LVL(f, BUY, 1500, 2);
    CK_END(f);
    f->inst = 0;
    OK(lim(f, BUY, 150, 5, ACC_A)); /* o4: the trade sequence is shared too */
    CK_ACC(f, 4);
    CK_FILL(f, 2, 150, 5, BUY, 4, 1, 0, 0);
    CK_LVL(f, SELL, 150, 0);
    CK_END(f);
    CK_BOOK(f, "- | -");
    f->inst = 1;
    CK_BOOK(f, "1500x2 | -");

    OK(setSt(f, MT_STATE_CLOSED)); /* only instrument 1's GFD orders expire */
    CK_STATE(f, MT_STATE_CLOSED, MT_STATE_CONTINUOUS);
    CK_CXL(f, 2, BUY, 2, MT_CXL_EXPIRED);
    CK_LVL(f, BUY, 1500, 0);
    CK_END(f);
    assert_int_equal(mtEngineState(f->e, 0), MT_STATE_CONTINUOUS);
    assert_int_equal(lim(f, BUY, 1500, 1, ACC_A), MT_ERR_STATE);
    f->inst = 0;
    OK(lim(f, BUY, 140, 1, ACC_A));
    CK_ACC(f, 5);
}

/* Many orders in and out of a small pool, some of them long-lived: the id
 * index keeps finding every live order after every step, and every issued
 * but dead id answers 3002. */
static void test_id_index_churn(void **state)
{
    Fx *f = *state; /* orderCapacity 64 */
    enum { N = 3000 };
    static uint8_t live[N + 1];
    static uint32_t qtyOf[N + 1];
    uint32_t nLive = 0, seq = 0, rnd = 12345;
    memset(live, 0, sizeof live);
    for (int step = 0; step < N; step++) {
        rnd = rnd * 1103515245u + 12345u;
        uint32_t r = rnd >> 8;
        if (nLive < 64 && (nLive < 16 || r % 3 != 0)) {
            /* bids 100..140 and asks 160..200 never cross */
            int side = (int)(r & 1);
            int64_t px = side == BUY ? 100 + (int64_t)(r % 41) : 160 + (int64_t)(r % 41);
            uint32_t q = 1 + r % 9;
            OK(gtc(f, side, px, q, ACC_A + (r % 3)));
            seq++;
            CK_ACC(f, seq);
            live[seq] = 1;
            qtyOf[seq] = q;
            nLive++;
        } else {
            /* o1..o12 are never cancelled: later ids 128 apart collide
             * with them in the index and build probe runs */
            uint32_t k = 1 + r % seq;
            while (!live[k] || k <= 12)
                k = k % seq + 1;
            OK(cxl(f, OID(k), MT_ANY_ACCOUNT, k));
            CK_CXL(f, k, f->ev[0].u.cancelled.side, qtyOf[k], MT_CXL_USER);
            live[k] = 0;
            nLive--;
        }
        for (uint32_t k = 1; k <= seq; k++) /* every live order can be found */
            if (live[k])
                assert_int_equal(orderCode(f, k), MT_OK);
    }
    assert_true(seq > 500);
    assert_int_equal(stats(f).ordersResting, nLive);
    uint64_t sum = 0;
    for (uint32_t k = 1; k <= seq; k++) {
        if (live[k]) {
            mtOrderInfo o = getOrder(f, k);
            assert_int_equal(o.leaves, qtyOf[k]);
            sum += o.leaves;
        } else {
            assert_int_equal(orderCode(f, k), MT_ERR_ORDER_NOT_FOUND);
            assert_int_equal(cxl(f, OID(k), MT_ANY_ACCOUNT, 1), MT_ERR_NOT_CANCELLABLE);
        }
    }
    mtDepthLevel lv[128];
    uint64_t depthSum = 0;
    for (int side = BUY; side <= SELL; side++) {
        uint32_t n = mtEngineDepth(f->e, 0, (mtSide)side, lv, 128);
        for (uint32_t i = 0; i < n; i++)
            depthSum += lv[i].qty;
    }
    assert_true(depthSum == sum);
    assert_int_equal(cxl(f, OID(seq + 1), MT_ANY_ACCOUNT, 1), MT_ERR_ORDER_NOT_FOUND);
}

/* ------------------------------------------------------------------------ */

#define T(fn)     cmocka_unit_test_setup_teardown(fn, setupDefault, teardownFx)
#define TS(fn, s) cmocka_unit_test_setup_teardown(fn, s, teardownFx)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_rejects_invalid_config),
        cmocka_unit_test(test_add_instrument_validation),
        cmocka_unit_test(test_allocator_used_only_at_setup),
        cmocka_unit_test(test_allocator_failure),
        TS(test_ids_segment_and_sequence, setupSegAB),
        T(test_rejects_consume_no_id),
        cmocka_unit_test(test_deterministic_two_engines),
        cmocka_unit_test(test_index_ids_wrap_the_table),
        T(test_limit_rests_and_levels),
        T(test_accepted_echoes_every_field),
        T(test_full_match_at_resting_price),
        T(test_sell_aggressor_fill_indexes),
        T(test_price_time_priority_sweep),
        T(test_bid_side_priority),
        T(test_one_level_event_per_level),
        T(test_incoming_remainder_rests),
        T(test_resting_partially_filled),
        T(test_fill_reports_accounts_and_userrefs),
        T(test_market_sweep_remainder_ioc),
        T(test_market_empty_opposite_side),
        T(test_market_gtc_remainder_cancelled),
        T(test_market_full_fill),
        T(test_ioc_remainder_cancelled),
        T(test_ioc_no_cross),
        T(test_close_expires_gfd_keeps_gtc),
        T(test_close_expires_pre_open_orders),
        T(test_min_qty_satisfied_rests),
        T(test_min_qty_satisfied_ioc),
        T(test_min_qty_not_satisfied),
        T(test_fok_fills_across_levels),
        T(test_fok_cannot_fill_book_unchanged),
        T(test_fok_market),
        T(test_fok_stp_none_counts_own_orders),
        TS(test_fok_stp_cancel_resting, setupResting),
        TS(test_fok_stp_cancel_incoming, setupIncoming),
        TS(test_fok_stp_cancel_both, setupBoth),
        TS(test_min_qty_stp_cancel_both, setupBoth),
        T(test_stp_none_trades_with_itself),
        TS(test_stp_cancel_resting, setupResting),
        TS(test_stp_cancel_incoming, setupIncoming),
        TS(test_stp_cancel_both, setupBoth),
        TS(test_stp_market_remainder_is_self_trade, setupIncoming),
        T(test_cancel_success),
        T(test_cancel_partially_filled),
        T(test_cancel_any_account),
        T(test_cancel_not_found),
        T(test_cancel_not_cancellable),
        T(test_cancel_allowed_in_every_state),
        T(test_replace_decrease_keeps_priority),
        T(test_replace_increase_loses_priority),
        T(test_replace_same_qty),
        T(test_replace_after_partial_fill),
        T(test_replace_price_change_rests_at_tail),
        T(test_replace_price_change_trades),
        T(test_replace_price_change_fully_filled),
        T(test_replace_volume_condition_not_rechecked),
        T(test_replace_errors),
        T(test_replace_check_order),
        T(test_replace_state),
        TS(test_replace_stp_cancel_incoming, setupIncoming),
        T(test_validation_unknown_instrument),
        T(test_validation_bad_enums),
        T(test_validation_lots),
        T(test_validation_min_qty),
        T(test_validation_band),
        T(test_validation_check_order),
        TS(test_pool_exhaustion, setupPool3),
        TS(test_pool_full_rejects_marketable_order, setupPool3),
        TS(test_pool_slots_freed, setupPool3),
        T(test_state_transitions),
        T(test_state_bad_args),
        T(test_pre_open_accepts_only_plain_limits),
        T(test_pre_open_no_matching),
        T(test_halted_and_closed_reject_new_orders),
        T(test_halt_keeps_book),
        T(test_auction_max_volume),
        T(test_auction_tie_min_imbalance),
        T(test_auction_tie_reference_price),
        T(test_auction_tie_lower_price),
        TS(test_auction_many_orders_one_price, setupBoth),
        T(test_auction_no_cross),
        T(test_auction_touching_book),
        T(test_auction_from_halted),
        T(test_auction_from_closed_with_gtc),
        T(test_depth),
        T(test_for_each_order_priority),
        T(test_order_get),
        T(test_stats),
        T(test_multi_instrument),
        T(test_id_index_churn),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
