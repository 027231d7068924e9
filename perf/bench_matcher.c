/* bench_matcher.c -- throughput and per-call latency of the matching engine.
 *
 * Prints one JSON line per run (docs/perf/matcher.md explains every field).
 *
 *   bench_matcher [--workload exchange-core|inserts|idwrap] [--ops N] [--seed S]
 *                 [--book N] [--capacity N] [--no-latency] [--pin CPU]
 *
 * --workload idwrap is different (idwrapMain): the order-id index when the
 * id sequence wraps around its table, with a block of 1/21 of the table's
 * size resting, for this matcher and for a copy homing ids by their low
 * bits (the baseline), interleaved; --ops is the number of rounds there
 * (default 3, at most 15), and the line has ns per new+cancel pair in the
 * window before the first wrap and in the windows right after each.
 *
 * A run has four phases, and only the last one is timed:
 *  1. generate: every command is made up front into a preallocated array. The
 *     generator drives its own mtEngine and follows the event stream to know
 *     which orders rest where (order ids are deterministic, so the same calls
 *     give the same ids on any fresh engine). It also measures the shape of
 *     the workload: trade ratio, resting orders, non-empty levels.
 *  2. warm up: a second fresh engine replays all commands (code, branch
 *     predictors, the command array in cache/TLB).
 *  3. prefill: the timed engine, fresh, replays the commands that build the
 *     initial book, untimed.
 *  4. timed: the --ops benchmark commands, each engine call bracketed by
 *     serialised TSC reads (or, with --no-latency, only the whole loop).
 * The events of phases 1, 2 and 4 are hashed over the benchmark commands; the
 * three hashes must agree or the run fails (the engine is not deterministic). */
#define _GNU_SOURCE
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define BENCH_HAVE_TSC 1
#endif

#include "matcher/matcher.h"

/* ---- workload constants --------------------------------------------------- */

#define SEGMENT_ID   1
#define INSTRUMENT   0
#define REF_PRICE    100000 /* ticks */
#define BAND_LOWER   90000  /* +-10% daily band: 20001 levels per side */
#define BAND_UPPER   110000
#define MAX_LOTS     10000
#define NUM_ACCOUNTS 1000

/* exchange-core: price structure of the book */
#define EC_SPREAD    900  /* passive GTC orders rest 1..EC_SPREAD ticks from the mid */
#define EC_REST_MIN  10   /* resting order size: EC_REST_MIN + randomSize() */
#define EC_IOC_MAX   3    /* IOC size: 1..EC_IOC_MAX lots */
#define EC_MOVE_DIV  128  /* a move steps 1 + distance/EC_MOVE_DIV ticks to the mid */
#define EC_DRIFT_LIM 3000 /* the mid wanders within REF_PRICE +- this */
#define EC_IOC_REACH 400  /* IOC limit: this far through the mid */

/* inserts: five levels each side of a fixed mid */
#define INS_LEVELS 5

enum { CMD_NEW = 0, CMD_CANCEL = 1, CMD_REPLACE = 2 };
/* what a command is, for the per-kind statistics */
enum { KIND_GTC = 0, KIND_IOC = 1, KIND_CANCEL = 2, KIND_REPLACE = 3, KIND_N = 4 };
static const char *const kindName[KIND_N] = {"gtc", "ioc", "cancel", "replace"};

/* One engine call. 24 bytes so 3M commands stay at 72 MB. */
typedef struct {
    uint64_t orderId; /* cancel, replace */
    int32_t price;    /* new order limit price, replace new price */
    uint32_t qty;     /* new order qty, replace new total qty */
    uint32_t account;
    uint8_t op, side, tif, kind;
} benchCmd;
_Static_assert(sizeof(benchCmd) == 24, "keep the command array compact");

typedef struct {
    const char *workload;
    uint64_t ops;
    uint64_t seed;
    uint32_t book; /* target resting orders */
    uint32_t capacity;
    int latency;
    int pin; /* -1: do not pin */
    int opsGiven;
} benchOpts;

/* ---- small utilities --------------------------------------------------------- */

static void die(const char *msg)
{
    fprintf(stderr, "bench_matcher: %s\n", msg);
    exit(1);
}

/* Median of n doubles (sorts them). */
static double medianD(double *v, int n)
{
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && v[j] < v[j - 1]; j--) {
            double t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static uint64_t nowNs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#ifdef BENCH_HAVE_TSC
/* Serialised reads: nothing before tscBegin leaks into the window and the
 * measured call cannot start before it; rdtscp waits for the call's
 * instructions to finish and the fence keeps later ones out. */
static inline uint64_t tscBegin(void)
{
    _mm_lfence();
    uint64_t t = __rdtsc();
    _mm_lfence();
    return t;
}
static inline uint64_t tscEnd(void)
{
    unsigned aux;
    uint64_t t = __rdtscp(&aux);
    _mm_lfence();
    return t;
}
#else
static inline uint64_t tscBegin(void)
{
    return nowNs();
}
static inline uint64_t tscEnd(void)
{
    return nowNs();
}
#endif

/* TSC ticks per second, against CLOCK_MONOTONIC_RAW over ~200 ms. */
static uint64_t calibrateTsc(void)
{
#ifdef BENCH_HAVE_TSC
    uint64_t n0 = nowNs(), c0 = tscBegin();
    struct timespec d = {0, 200 * 1000 * 1000};
    while (nanosleep(&d, &d) != 0) {
    }
    uint64_t n1 = nowNs(), c1 = tscBegin();
    if (n1 <= n0 || c1 <= c0)
        die("cannot calibrate the TSC");
    return (uint64_t)((unsigned __int128)(c1 - c0) * 1000000000u / (n1 - n0));
#else
    return 1000000000u;
#endif
}

static uint64_t cyclesToNs(uint64_t cycles, uint64_t hz)
{
    return (uint64_t)(((unsigned __int128)cycles * 1000000000u + hz / 2) / hz);
}

/* splitmix64: small, fast, and the same sequence everywhere for a seed. */
typedef struct {
    uint64_t s;
} rng;

static inline uint64_t rngNext(rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in [0, n), n >= 1 (multiply-shift; bias below 2^-32). */
static inline uint32_t rngBelow(rng *r, uint32_t n)
{
    return (uint32_t)(((rngNext(r) >> 32) * (uint64_t)n) >> 32);
}

static void *bigAlloc(size_t bytes)
{
    const mtAllocator *a = mtDefaultAllocator();
    void *p = a->alloc(a->ctx, bytes);
    if (!p)
        die("out of memory");
    return p;
}

static void bigFree(void *p, size_t bytes)
{
    const mtAllocator *a = mtDefaultAllocator();
    a->free(a->ctx, p, bytes);
}

/* A /proc/meminfo number ("HugePages_Free", "Hugepagesize" in kB), -1 if
 * unknown. */
static long meminfo(const char *key)
{
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f)
        return -1;
    char line[128];
    size_t klen = strlen(key);
    long n = -1;
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, key, klen) && line[klen] == ':') {
            n = strtol(line + klen + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return n;
}

/* ---- event sink: hash and counts, plus book tracking while generating ------- */

#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME  0x100000001b3ull

/* FNV-1a over 64-bit words, with a xor-shift so high bits feed back down. */
static inline uint64_t hashWord(uint64_t h, uint64_t w)
{
    h = (h ^ w) * FNV_PRIME;
    return h ^ (h >> 31);
}

/* An event's canonical words are mixed in parallel lanes and folded into the
 * running hash with one serial step, so hashing costs the benchmark a few
 * cycles per event instead of a dependent multiply per field. */
static inline uint64_t hashLane(uint64_t w, uint64_t k)
{
    w *= k;
    return w ^ (w >> 32);
}

static inline uint64_t hashEvent(uint64_t h, const mtEvent *ev)
{
    static const uint64_t lanes[9] = {
        0x9E3779B97F4A7C15ull, 0xBF58476D1CE4E5B9ull, 0x94D049BB133111EBull,
        0xD6E8FEB86659FD93ull, 0xA0761D6478BD642Full, 0xE7037ED1A0B428DBull,
        0x8EBC6AF09C88C6E3ull, 0x589965CC75374CC3ull, 0x1D8E4E27C47D124Full};
    uint64_t w[9];
    unsigned n = 0;
    uint64_t head = (uint64_t)ev->type | (uint64_t)ev->instrument << 8;
    switch (ev->type) {
    case MT_EV_ACCEPTED: {
        const mtAccepted *a = &ev->u.accepted;
        w[n++] = (head | (uint64_t)a->side << 24 | (uint64_t)a->priceType << 32 |
                  (uint64_t)a->timeCondition << 40 | (uint64_t)a->volumeCondition << 48);
        w[n++] = (a->orderId);
        w[n++] = (a->userRef);
        w[n++] = ((uint64_t)a->price);
        w[n++] = ((uint64_t)a->account | (uint64_t)a->qty << 32);
        w[n++] = (a->minQty);
        break;
    }
    case MT_EV_REJECTED: {
        const mtRejected *r = &ev->u.rejected;
        w[n++] = (head | (uint64_t)r->op << 24 | (uint64_t)r->code << 32);
        w[n++] = (r->orderId);
        w[n++] = (r->userRef);
        break;
    }
    case MT_EV_FILL: {
        const mtFill *f = &ev->u.fill;
        w[n++] = (head | (uint64_t)f->aggressor << 24 | (uint64_t)f->qty << 32);
        w[n++] = (f->tradeId);
        w[n++] = ((uint64_t)f->price);
        w[n++] = (f->orderId[0]);
        w[n++] = (f->orderId[1]);
        w[n++] = (f->userRef[0]);
        w[n++] = (f->userRef[1]);
        w[n++] = ((uint64_t)f->account[0] | (uint64_t)f->account[1] << 32);
        w[n++] = ((uint64_t)f->leaves[0] | (uint64_t)f->leaves[1] << 32);
        break;
    }
    case MT_EV_CANCELLED: {
        const mtCancelled *c = &ev->u.cancelled;
        w[n++] = (head | (uint64_t)c->side << 24 | (uint64_t)c->reason << 32);
        w[n++] = (c->orderId);
        w[n++] = (c->userRef);
        w[n++] = ((uint64_t)c->account | (uint64_t)c->qty << 32);
        break;
    }
    case MT_EV_REPLACED: {
        const mtReplaced *r = &ev->u.replaced;
        w[n++] = (head | (uint64_t)r->side << 24 | (uint64_t)r->keptPriority << 32);
        w[n++] = (r->orderId);
        w[n++] = (r->userRef);
        w[n++] = ((uint64_t)r->price);
        w[n++] = ((uint64_t)r->account | (uint64_t)r->qty << 32);
        w[n++] = (r->leaves);
        break;
    }
    case MT_EV_LEVEL: {
        const mtLevel *l = &ev->u.level;
        w[n++] = (head | (uint64_t)l->side << 24);
        w[n++] = ((uint64_t)l->price);
        w[n++] = (l->qty);
        break;
    }
    case MT_EV_STATE:
        w[n++] = (head | (uint64_t)ev->u.state.state << 24 | (uint64_t)ev->u.state.previous << 32);
        break;
    case MT_EV_IMBALANCE:
    case MT_EV_UNCROSS: {
        const mtAuction *a = &ev->u.auction;
        w[n++] = (head | (uint64_t)a->imbalanceSide << 24);
        w[n++] = ((uint64_t)a->price);
        w[n++] = (a->pairedQty);
        w[n++] = (a->imbalanceQty);
        break;
    }
    default:
        w[n++] = (head | 0xff000000ull);
        break;
    }
    uint64_t acc = 0;
    for (unsigned i = 0; i < n; i++)
        acc += hashLane(w[i], lanes[i]);
    return hashWord(h, acc ^ n);
}

/* What the generator knows of an order it has seen accepted. */
typedef struct {
    int32_t price;
    uint32_t qty; /* total quantity (what a price-only replace must pass) */
    uint32_t account;
    int32_t livePos; /* index in genBook.live, -1 when not live */
    uint8_t side;
} genOrder;

typedef struct {
    genOrder *ord; /* indexed by order sequence number */
    uint64_t ordCap;
    uint64_t *live; /* live order ids; swap-remove */
    uint32_t nLive, nSide[2];
    uint8_t *levelBusy; /* [side][price - BAND_LOWER]: level non-empty */
    uint32_t nLevels;
    int64_t lastTrade;
} genBook;

typedef struct {
    uint64_t hash;
    uint64_t events;
    uint64_t fills;
    uint32_t callFills; /* fills seen since the generator last looked */
    genBook *gen;       /* NULL outside generation */
} sink;

static inline uint64_t idSeq(uint64_t id)
{
    return id & ((1ull << 56) - 1);
}

static void genRemove(genBook *g, uint64_t id)
{
    genOrder *o = &g->ord[idSeq(id)];
    if (o->livePos < 0)
        return;
    uint32_t pos = (uint32_t)o->livePos;
    uint64_t last = g->live[--g->nLive];
    g->live[pos] = last;
    g->ord[idSeq(last)].livePos = (int32_t)pos;
    o->livePos = -1;
    g->nSide[o->side]--;
}

static void genTrack(genBook *g, const mtEvent *ev)
{
    switch (ev->type) {
    case MT_EV_ACCEPTED: {
        const mtAccepted *a = &ev->u.accepted;
        uint64_t seq = idSeq(a->orderId);
        if (seq >= g->ordCap)
            die("generator: order id beyond its table");
        genOrder *o = &g->ord[seq];
        o->price = (int32_t)a->price;
        o->qty = a->qty;
        o->account = a->account;
        o->side = a->side;
        o->livePos = (int32_t)g->nLive;
        g->live[g->nLive++] = a->orderId;
        g->nSide[a->side]++;
        break;
    }
    case MT_EV_FILL:
        for (int k = 0; k < 2; k++)
            if (ev->u.fill.leaves[k] == 0)
                genRemove(g, ev->u.fill.orderId[k]);
        g->lastTrade = ev->u.fill.price;
        break;
    case MT_EV_CANCELLED:
        genRemove(g, ev->u.cancelled.orderId);
        break;
    case MT_EV_REPLACED: {
        genOrder *o = &g->ord[idSeq(ev->u.replaced.orderId)];
        o->price = (int32_t)ev->u.replaced.price;
        o->qty = ev->u.replaced.qty;
        break;
    }
    case MT_EV_LEVEL: {
        const mtLevel *l = &ev->u.level;
        uint8_t *busy = &g->levelBusy[(size_t)l->side * (BAND_UPPER - BAND_LOWER + 1) +
                                      (size_t)(l->price - BAND_LOWER)];
        uint8_t now = l->qty != 0;
        g->nLevels += now;
        g->nLevels -= *busy;
        *busy = now;
        break;
    }
    default:
        break;
    }
}

static void onEvent(void *ctx, const mtEvent *ev)
{
    sink *s = ctx;
    s->hash = hashEvent(s->hash, ev);
    s->events++;
    if (ev->type == MT_EV_FILL) {
        s->fills++;
        s->callFills++;
    }
    if (s->gen)
        genTrack(s->gen, ev);
}

/* ---- engine set-up and command execution ---------------------------------- */

static mtEngine *newEngine(const benchOpts *o, sink *s)
{
    mtEngineConfig cfg = {.segmentId = SEGMENT_ID,
                          .orderCapacity = o->capacity,
                          .maxInstruments = 1,
                          .stp = MT_STP_NONE,
                          .onEvent = onEvent,
                          .eventCtx = s,
                          .allocator = NULL};
    mtEngine *e = mtEngineCreate(&cfg);
    if (!e)
        die("mtEngineCreate failed");
    mtBookConfig bc = {.lowerPrice = BAND_LOWER,
                       .upperPrice = BAND_UPPER,
                       .referencePrice = REF_PRICE,
                       .minLots = 1,
                       .maxLots = MAX_LOTS};
    if (mtEngineAddInstrument(e, INSTRUMENT, &bc) != MT_OK)
        die("mtEngineAddInstrument failed");
    if (mtEngineSetState(e, INSTRUMENT, MT_STATE_CONTINUOUS) != MT_OK)
        die("mtEngineSetState failed");
    return e;
}

/* userRef of command i: its index, plus one so it is never 0 */
static inline int execCmd(mtEngine *e, const benchCmd *c, uint64_t userRef)
{
    switch (c->op) {
    case CMD_NEW: {
        mtNewOrder o = {.instrument = INSTRUMENT,
                        .side = c->side,
                        .priceType = MT_LIMIT,
                        .timeCondition = c->tif,
                        .volumeCondition = MT_VOL_ANY,
                        .price = c->price,
                        .qty = c->qty,
                        .minQty = 0,
                        .account = c->account,
                        .userRef = userRef};
        return mtEngineNewOrder(e, &o);
    }
    case CMD_CANCEL:
        return mtEngineCancel(e, c->orderId, c->account, userRef);
    default:
        return mtEngineReplace(e, c->orderId, c->account, c->price, c->qty, userRef);
    }
}

/* Untimed replay of cmds[from, to); returns the number of non-OK returns. */
static uint64_t replay(mtEngine *e, const benchCmd *cmds, uint64_t from, uint64_t to)
{
    uint64_t bad = 0;
    for (uint64_t i = from; i < to; i++)
        bad += execCmd(e, &cmds[i], i + 1) != MT_OK;
    return bad;
}

/* ---- workload generation -------------------------------------------------- */

typedef struct {
    benchCmd *cmds;
    uint64_t nCmds, cap;
    uint64_t prefill;     /* cmds[0, prefill) build the book, untimed */
    uint64_t msgsTrading; /* benchmark commands that gave >= 1 fill */
    uint64_t sumOrders;   /* resting orders after each benchmark command */
    uint64_t sumLevels;   /* non-empty levels (both sides) after each */
    uint64_t kindCount[KIND_N];
    uint64_t kindTrading[KIND_N]; /* of which gave >= 1 fill */
    int64_t tradeMin, tradeMax;   /* range of the last trade price */
    uint64_t genHash, genFills, genEvents;
} workload;

typedef struct {
    mtEngine *e;
    sink s;
    genBook g;
    workload *w;
    rng r;
} genCtx;

static uint32_t randomAccount(rng *r)
{
    return 1 + rngBelow(r, NUM_ACCOUNTS);
}

/* 1 + a*b*c with a, b, c uniform in 0..5: mostly small, sometimes up to 126
 * (exchange-core's order size distribution). */
static uint32_t randomSize(rng *r)
{
    return 1 + rngBelow(r, 6) * rngBelow(r, 6) * rngBelow(r, 6);
}

static int64_t clampPrice(int64_t p)
{
    return p < BAND_LOWER ? BAND_LOWER : p > BAND_UPPER ? BAND_UPPER : p;
}

/* Appends a command, runs it on the generator's engine, records the shape. */
static void genIssue(genCtx *c, benchCmd cmd, int timed)
{
    workload *w = c->w;
    if (w->nCmds == w->cap)
        die("generator: command array full");
    uint64_t i = w->nCmds++;
    w->cmds[i] = cmd;
    c->s.callFills = 0;
    if (execCmd(c->e, &w->cmds[i], i + 1) != MT_OK)
        die("generator: the engine refused a generated command");
    if (!timed) {
        w->prefill = w->nCmds;
        c->s.hash = FNV_OFFSET; /* hash only the benchmark commands */
        c->s.events = c->s.fills = 0;
    } else {
        w->msgsTrading += c->s.callFills != 0;
        w->kindTrading[cmd.kind] += c->s.callFills != 0;
        if (c->s.callFills) {
            int64_t p = c->g.lastTrade;
            w->tradeMin = w->tradeMin && w->tradeMin < p ? w->tradeMin : p;
            w->tradeMax = w->tradeMax > p ? w->tradeMax : p;
        }
        w->sumOrders += c->g.nLive;
        w->sumLevels += c->g.nLevels;
        w->kindCount[cmd.kind]++;
    }
}

static benchCmd mkNew(uint8_t side, uint8_t tif, int64_t price, uint32_t qty, uint32_t account)
{
    benchCmd c = {.orderId = 0,
                  .price = (int32_t)clampPrice(price),
                  .qty = qty,
                  .account = account,
                  .op = CMD_NEW,
                  .side = side,
                  .tif = tif,
                  .kind = tif == MT_IOC ? KIND_IOC : KIND_GTC};
    return c;
}

static uint64_t randomLive(genCtx *c)
{
    return c->g.live[rngBelow(&c->r, c->g.nLive)];
}

static benchCmd mkCancel(genCtx *c, uint64_t id)
{
    benchCmd cmd = {.orderId = id,
                    .account = c->g.ord[idSeq(id)].account,
                    .op = CMD_CANCEL,
                    .kind = KIND_CANCEL};
    return cmd;
}

/* Side for a new resting order: 50/50, leaning towards the thinner side. */
static uint8_t balancedSide(genCtx *c)
{
    int32_t diff = (int32_t)c->g.nSide[MT_SELL] - (int32_t)c->g.nSide[MT_BUY];
    int32_t pBuy = 500 + diff * 10; /* per mille */
    pBuy = pBuy < 100 ? 100 : pBuy > 900 ? 900 : pBuy;
    return (int32_t)rngBelow(&c->r, 1000) < pBuy ? MT_BUY : MT_SELL;
}

/* exchange-core single-symbol shape: 9% GTC, 3% IOC, 6% cancel, 82% move;
 * about 1,000 resting orders over about 750 levels; about 6% of messages
 * trade.
 *
 * Passive GTC orders rest uniformly 1..EC_SPREAD ticks from the mid of the
 * book, so the book is wide and thin (1,000 orders spread over +-900 ticks
 * fill about 750 distinct levels). Moves step an order 1 + distance/128 ticks
 * towards the mid. IOC orders are small (1..3 lots against resting orders of
 * 11..135) and take from the touch without exhausting it. The book size is
 * held by the one lever that leaves the mix alone: while the book is over its
 * target, new GTC orders are priced at the opposite touch (they trade, then
 * rest their remainder). Every fill exhausts one of its two orders, so with
 * 9% adds and 6% cancels only about 3% of messages can take an order out of
 * the book by trading; with the 3% of IOC orders (which exhaust themselves)
 * that is the ~6% of messages that trade. */
static int64_t bestPrice(genCtx *c, mtSide side)
{
    mtDepthLevel l;
    return mtEngineDepth(c->e, INSTRUMENT, side, &l, 1) ? l.price : -1;
}

/* Mid of the book (last trade when a side is empty), kept EC_DRIFT_LIM from
 * the reference. */
static int64_t ecMid(genCtx *c)
{
    int64_t bid = bestPrice(c, MT_BUY), ask = bestPrice(c, MT_SELL);
    int64_t m = bid >= 0 && ask >= 0 ? (bid + ask) / 2 : c->g.lastTrade;
    int64_t lo = REF_PRICE - EC_DRIFT_LIM, hi = REF_PRICE + EC_DRIFT_LIM;
    return m < lo ? lo : m > hi ? hi : m;
}

/* Distance from the mid of a passive order: uniform over 1..EC_SPREAD. */
static int64_t ecDistance(genCtx *c)
{
    return 1 + rngBelow(&c->r, EC_SPREAD);
}

static void ecGtc(genCtx *c, int timed, uint32_t book, int dir)
{
    uint8_t side = balancedSide(c);
    int64_t m = ecMid(c);
    int64_t price = side == MT_BUY ? m - ecDistance(c) : m + ecDistance(c);
    uint32_t qty = EC_REST_MIN + randomSize(&c->r);
    if (timed && c->g.nLive > book) {
        /* marketable at the opposite touch; against the drift near its limit */
        if (dir)
            side = dir > 0 ? MT_BUY : MT_SELL;
        int64_t opp = bestPrice(c, side == MT_BUY ? MT_SELL : MT_BUY);
        if (opp >= 0)
            price = opp;
    }
    genIssue(c, mkNew(side, MT_GTC, price, qty, randomAccount(&c->r)), timed);
}

static void genExchangeCore(genCtx *c, uint64_t ops, uint32_t book)
{
    /* prefill: resting orders around the reference until the book is full */
    while (c->g.nLive < book)
        ecGtc(c, 0, book, 0);
    int dir = 0; /* +1: the mid is low, lean buying; -1: lean selling */
    for (uint64_t i = 0; i < ops; i++) {
        uint32_t q = rngBelow(&c->r, 100);
        if (c->g.nLive == 0)
            q = 0;
        int64_t m = ecMid(c);
        if (m <= REF_PRICE - EC_DRIFT_LIM)
            dir = 1;
        else if (m >= REF_PRICE + EC_DRIFT_LIM)
            dir = -1;
        else if ((dir > 0 && m >= REF_PRICE) || (dir < 0 && m <= REF_PRICE))
            dir = 0;
        if (q < 9) {
            ecGtc(c, 1, book, dir);
        } else if (q < 12) {
            /* small IOC through the touch */
            uint8_t side = rngBelow(&c->r, 2) ? MT_BUY : MT_SELL;
            uint32_t qty = 1 + rngBelow(&c->r, EC_IOC_MAX);
            int64_t price = side == MT_BUY ? m + EC_IOC_REACH : m - EC_IOC_REACH;
            genIssue(c, mkNew(side, MT_IOC, price, qty, randomAccount(&c->r)), 1);
        } else if (q < 18) {
            genIssue(c, mkCancel(c, randomLive(c)), 1);
        } else {
            /* move: a price-only replace, a step towards the mid */
            uint64_t id = randomLive(c);
            const genOrder *o = &c->g.ord[idSeq(id)];
            int64_t p = o->price, step;
            if (p == m)
                step = rngBelow(&c->r, 2) ? 1 : -1;
            else if (p < m)
                step = 1 + (m - p) / EC_MOVE_DIV;
            else
                step = -1 - (p - m) / EC_MOVE_DIV;
            int64_t np = clampPrice(p + step);
            if (np == p)
                np = p == BAND_LOWER ? p + 1 : p - 1;
            benchCmd cmd = {.orderId = id,
                            .price = (int32_t)np,
                            .qty = o->qty,
                            .account = o->account,
                            .op = CMD_REPLACE,
                            .side = o->side,
                            .kind = KIND_REPLACE};
            genIssue(c, cmd, 1);
        }
    }
}

/* inserts: 80% GTC inserts at one of the five best prices per side, 15%
 * cancels, 5% IOC orders sweeping the touch, sized to hold the book at the
 * target. The price levels never move, so inserts never cross. */
static void insGtc(genCtx *c, int timed)
{
    uint8_t side = balancedSide(c);
    int64_t off = 1 + rngBelow(&c->r, INS_LEVELS);
    int64_t price = side == MT_BUY ? REF_PRICE - off : REF_PRICE + off;
    genIssue(c, mkNew(side, MT_GTC, price, 1 + rngBelow(&c->r, 10), randomAccount(&c->r)), timed);
}

static void genInserts(genCtx *c, uint64_t ops, uint32_t book)
{
    while (c->g.nLive < book)
        insGtc(c, 0);
    for (uint64_t i = 0; i < ops; i++) {
        uint32_t q = rngBelow(&c->r, 100);
        if (c->g.nLive == 0)
            q = 0;
        if (q < 80) {
            insGtc(c, 1);
        } else if (q < 95) {
            genIssue(c, mkCancel(c, randomLive(c)), 1);
        } else {
            /* inserts add 0.80 order per message and cancels take 0.15, so an
             * aggressive order has to take 13 orders (5.5 lots each) on
             * average; steer by the distance from the target */
            int64_t orders = 13 + ((int64_t)c->g.nLive - (int64_t)book) / 8;
            orders = orders < 1 ? 1 : orders > 200 ? 200 : orders;
            uint8_t side = c->g.nSide[MT_SELL] >= c->g.nSide[MT_BUY] ? MT_BUY : MT_SELL;
            int64_t price = side == MT_BUY ? REF_PRICE + INS_LEVELS : REF_PRICE - INS_LEVELS;
            uint32_t qty = (uint32_t)(orders * 11 / 2);
            genIssue(c, mkNew(side, MT_IOC, price, qty, randomAccount(&c->r)), 1);
        }
    }
}

static void generate(const benchOpts *o, workload *w, int insertsWorkload)
{
    genCtx c;
    memset(&c, 0, sizeof c);
    c.w = w;
    c.r.s = o->seed;
    /* lazily zeroed: only the pages the run touches count */
    c.g.ordCap = w->cap + 2;
    c.g.ord = calloc(c.g.ordCap, sizeof *c.g.ord);
    c.g.live = calloc(c.g.ordCap, sizeof *c.g.live);
    c.g.levelBusy = calloc(2 * (size_t)(BAND_UPPER - BAND_LOWER + 1), 1);
    if (!c.g.ord || !c.g.live || !c.g.levelBusy)
        die("out of memory");
    c.g.lastTrade = REF_PRICE;
    c.s.hash = FNV_OFFSET;
    c.s.gen = &c.g;
    c.e = newEngine(o, &c.s);

    if (insertsWorkload)
        genInserts(&c, o->ops, o->book);
    else
        genExchangeCore(&c, o->ops, o->book);

    w->genHash = c.s.hash;
    w->genFills = c.s.fills;
    w->genEvents = c.s.events;
    mtEngineDestroy(c.e);
    free(c.g.ord);
    free(c.g.live);
    free(c.g.levelBusy);
}

/* The timed loops. Out of line so profilers can single them out
 * (valgrind --tool=callgrind --toggle-collect='timedLoop*'). userRef of
 * bench[i] is ref0 + i, as in replay(). Return the number of non-OK calls. */
__attribute__((noinline)) static uint64_t timedLoopLatency(mtEngine *e, const benchCmd *bench,
                                                           uint64_t n, uint64_t ref0, uint32_t *lat)
{
    uint64_t bad = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t t0 = tscBegin();
        int rc = execCmd(e, &bench[i], ref0 + i);
        uint64_t t1 = tscEnd();
        uint64_t d = t1 - t0;
        lat[i] = d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
        bad += rc != MT_OK;
    }
    return bad;
}

__attribute__((noinline)) static uint64_t timedLoopPlain(mtEngine *e, const benchCmd *bench,
                                                         uint64_t n, uint64_t ref0)
{
    uint64_t bad = 0;
    for (uint64_t i = 0; i < n; i++)
        bad += execCmd(e, &bench[i], ref0 + i) != MT_OK;
    return bad;
}

/* ---- statistics --------------------------------------------------------------- */

/* LSD radix sort of 32-bit values, two 16-bit passes; tmp as large as a. */
static void radixSort(uint32_t *a, uint32_t *tmp, uint64_t n)
{
    static uint64_t count[65536];
    for (int pass = 0; pass < 2; pass++) {
        int shift = pass * 16;
        memset(count, 0, sizeof count);
        for (uint64_t i = 0; i < n; i++)
            count[(a[i] >> shift) & 0xffff]++;
        uint64_t sum = 0;
        for (uint32_t b = 0; b < 65536; b++) {
            uint64_t cnt = count[b];
            count[b] = sum;
            sum += cnt;
        }
        for (uint64_t i = 0; i < n; i++)
            tmp[count[(a[i] >> shift) & 0xffff]++] = a[i];
        memcpy(a, tmp, n * sizeof *a);
    }
}

/* Nearest-rank percentile num/den of sorted a[0..n). */
static uint32_t pct(const uint32_t *a, uint64_t n, uint64_t num, uint64_t den)
{
    if (n == 0)
        return 0;
    uint64_t rank = (n * num + den - 1) / den;
    return a[rank ? rank - 1 : 0];
}

static uint64_t peakRss(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return (uint64_t)ru.ru_maxrss * 1024u;
}

/* Median cost of an empty tscBegin/tscEnd pair, in cycles. */
static uint32_t timerOverhead(uint32_t *buf, uint32_t *tmp, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        uint64_t t0 = tscBegin();
        uint64_t t1 = tscEnd();
        buf[i] = (uint32_t)(t1 - t0);
    }
    radixSort(buf, tmp, n);
    return pct(buf, n, 1, 2);
}

static uint32_t countLevels(const mtEngine *e)
{
    static mtDepthLevel lv[BAND_UPPER - BAND_LOWER + 1];
    return mtEngineDepth(e, INSTRUMENT, MT_BUY, lv, BAND_UPPER - BAND_LOWER + 1) +
           mtEngineDepth(e, INSTRUMENT, MT_SELL, lv, BAND_UPPER - BAND_LOWER + 1);
}

/* ---- idwrap: the order-id index across wraps of the id sequence ----------- */

/* The baseline matcher: the same source with ids homed by their low bits
 * (Makefile: perf/matcher_lowbits.h) */
mtEngine *mtLowbitsCreate(const mtEngineConfig *cfg);
void mtLowbitsDestroy(mtEngine *e);
int mtLowbitsAddInstrument(mtEngine *e, uint16_t instrument, const mtBookConfig *bc);
int mtLowbitsSetState(mtEngine *e, uint16_t instrument, mtState state);
int mtLowbitsNewOrder(mtEngine *e, const mtNewOrder *o);
int mtLowbitsCancel(mtEngine *e, uint64_t orderId, uint32_t account, uint64_t userRef);

typedef struct {
    const char *name;
    mtEngine *(*create)(const mtEngineConfig *cfg);
    void (*destroy)(mtEngine *e);
    int (*addInstrument)(mtEngine *e, uint16_t instrument, const mtBookConfig *bc);
    int (*setState)(mtEngine *e, uint16_t instrument, mtState state);
    int (*newOrder)(mtEngine *e, const mtNewOrder *o);
    int (*cancel)(mtEngine *e, uint64_t orderId, uint32_t account, uint64_t userRef);
} idwMatcher;

#define IDW_WRAPS 3

static void idwOnEvent(void *ctx, const mtEvent *ev)
{
    if (ev->type == MT_EV_ACCEPTED)
        *(uint64_t *)ctx = ev->u.accepted.orderId;
}

/* One matcher: `block` GTC buys that stay resting, then new+cancel pairs
 * (GTC sells that never cross) until the ids have passed IDW_WRAPS
 * multiples of the table's size. Times the window of `block` pairs before
 * the first wrap (steady) and the one right after each wrap, where a
 * low-bits home falls inside the block's run. Returns the ns a pair. */
static void idwRun(const idwMatcher *m, uint32_t capacity, uint32_t slots, uint32_t block,
                   double *steady, double *after)
{
    uint64_t lastId = 0;
    mtEngineConfig c = {.segmentId = SEGMENT_ID,
                        .orderCapacity = capacity,
                        .maxInstruments = 1,
                        .stp = MT_STP_NONE,
                        .onEvent = idwOnEvent,
                        .eventCtx = &lastId};
    mtEngine *e = m->create(&c);
    mtBookConfig bc = {.lowerPrice = BAND_LOWER,
                       .upperPrice = BAND_UPPER,
                       .referencePrice = REF_PRICE,
                       .minLots = 1,
                       .maxLots = MAX_LOTS};
    if (!e || m->addInstrument(e, INSTRUMENT, &bc) != MT_OK ||
        m->setState(e, INSTRUMENT, MT_STATE_CONTINUOUS) != MT_OK)
        die("idwrap: engine set-up failed");
    mtNewOrder o = {.instrument = INSTRUMENT,
                    .side = MT_BUY,
                    .priceType = MT_LIMIT,
                    .timeCondition = MT_GTC,
                    .volumeCondition = MT_VOL_ANY,
                    .qty = 1,
                    .account = 1};
    for (uint32_t i = 0; i < block; i++) {
        o.price = REF_PRICE - 1 - (int64_t)(i % 500);
        if (m->newOrder(e, &o) != MT_OK)
            die("idwrap: resting order refused");
    }
    o.side = MT_SELL;
    /* ids are 1, 2, ...: the block took 1..block, pair n takes block + n */
    uint64_t seq = block;
    for (int w = 0; w <= IDW_WRAPS; w++) {
        /* window w: ids [w x slots, w x slots + block), the first before any wrap */
        const uint64_t from = w ? (uint64_t)w * slots : (uint64_t)slots - block;
        while (seq + 1 < from) {
            o.price = REF_PRICE + 1 + (int64_t)(seq % 500);
            if (m->newOrder(e, &o) != MT_OK || m->cancel(e, lastId, 1, 0) != MT_OK)
                die("idwrap: pair refused");
            seq++;
        }
        const uint64_t t0 = nowNs();
        for (uint32_t k = 0; k < block; k++) {
            o.price = REF_PRICE + 1 + (int64_t)(seq % 500);
            if (m->newOrder(e, &o) != MT_OK || m->cancel(e, lastId, 1, 0) != MT_OK)
                die("idwrap: pair refused");
            seq++;
        }
        const double ns = (double)(nowNs() - t0) / block;
        if (w == 0)
            *steady = ns;
        else
            after[w - 1] = ns;
    }
    m->destroy(e);
}

/* --workload idwrap: both homings, interleaved, --ops rounds (default 3);
 * medians. One JSON line. */
static int idwrapMain(const benchOpts *o, int rounds)
{
    const idwMatcher ms[2] = {{"fib_chunks", mtEngineCreate, mtEngineDestroy, mtEngineAddInstrument,
                               mtEngineSetState, mtEngineNewOrder, mtEngineCancel},
                              {"lowbits", mtLowbitsCreate, mtLowbitsDestroy, mtLowbitsAddInstrument,
                               mtLowbitsSetState, mtLowbitsNewOrder, mtLowbitsCancel}};
    uint32_t slots = 2;
    while (slots < 2ULL * o->capacity)
        slots <<= 1;
    const uint32_t block = slots / 21; /* 100,000 of 2^21 with the default config */
    double steady[2][16], after[2][IDW_WRAPS][16];
    for (int r = 0; r < rounds; r++)
        for (int v = 0; v < 2; v++) {
            double a[IDW_WRAPS];
            idwRun(&ms[v], o->capacity, slots, block, &steady[v][r], a);
            for (int w = 0; w < IDW_WRAPS; w++)
                after[v][w][r] = a[w];
        }
    printf("{\"workload\":\"idwrap\",\"capacity\":%u,\"index_slots\":%u,\"resting_block\":%u,"
           "\"window_pairs\":%u,\"rounds\":%d,\"pin\":%d",
           o->capacity, slots, block, block, rounds, o->pin);
    double med[2][IDW_WRAPS + 1];
    for (int v = 0; v < 2; v++) {
        med[v][0] = medianD(steady[v], rounds);
        printf(",\"%s\":{\"ns_per_pair_before_wrap\":%.1f,\"ns_per_pair_after_wrap\":[", ms[v].name,
               med[v][0]);
        for (int w = 0; w < IDW_WRAPS; w++) {
            med[v][w + 1] = medianD(after[v][w], rounds);
            printf("%s%.1f", w ? "," : "", med[v][w + 1]);
        }
        printf("]}");
    }
    double worst[2] = {0, 0};
    for (int v = 0; v < 2; v++)
        for (int w = 1; w <= IDW_WRAPS; w++)
            worst[v] = med[v][w] > worst[v] ? med[v][w] : worst[v];
    printf(",\"after_wrap_worst_ratio_lowbits_over_fib\":%.1f}\n", worst[1] / worst[0]);
    return 0;
}

/* ---- main ------------------------------------------------------------------ */

static void usage(void)
{
    fprintf(stderr, "usage: bench_matcher [--workload exchange-core|inserts|idwrap] [--ops N] "
                    "[--seed S] [--book N] [--capacity N] [--no-latency] [--pin CPU]\n");
    exit(2);
}

static uint64_t parseNum(const char *s)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 0);
    if (*s == '\0' || *end != '\0')
        usage();
    return v;
}

static void parseOpts(int argc, char **argv, benchOpts *o)
{
    o->opsGiven = 0;
    o->workload = "exchange-core";
    o->ops = 3000000;
    o->seed = 1;
    o->book = 1000;
    o->capacity = 1u << 20;
    o->latency = 1;
    o->pin = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--no-latency")) {
            o->latency = 0;
        } else if (!v) {
            usage();
        } else if (!strcmp(a, "--workload")) {
            o->workload = v;
            i++;
        } else if (!strcmp(a, "--ops")) {
            o->ops = parseNum(v);
            o->opsGiven = 1;
            i++;
        } else if (!strcmp(a, "--seed")) {
            o->seed = parseNum(v);
            i++;
        } else if (!strcmp(a, "--book")) {
            o->book = (uint32_t)parseNum(v);
            i++;
        } else if (!strcmp(a, "--capacity")) {
            o->capacity = (uint32_t)parseNum(v);
            i++;
        } else if (!strcmp(a, "--pin")) {
            o->pin = (int)parseNum(v);
            i++;
        } else {
            usage();
        }
    }
    if (strcmp(o->workload, "exchange-core") != 0 && strcmp(o->workload, "inserts") != 0 &&
        strcmp(o->workload, "idwrap") != 0)
        usage();
    if (o->ops == 0 || o->ops > 200000000u || o->book == 0 || o->book >= o->capacity)
        usage();
}

int main(int argc, char **argv)
{
    benchOpts o;
    parseOpts(argc, argv, &o);
    int inserts = !strcmp(o.workload, "inserts");
    if (!strcmp(o.workload, "idwrap")) {
        if (o.pin >= 0) {
            cpu_set_t set;
            CPU_ZERO(&set);
            CPU_SET(o.pin, &set);
            if (sched_setaffinity(0, sizeof set, &set) != 0)
                die("sched_setaffinity failed");
        }
        return idwrapMain(&o, o.opsGiven ? (int)(o.ops < 15 ? o.ops : 15) : 3);
    }

    if (o.pin >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(o.pin, &set);
        if (sched_setaffinity(0, sizeof set, &set) != 0)
            die("sched_setaffinity failed");
    }
    long hugeBefore = meminfo("HugePages_Free");
    uint64_t tscHz = calibrateTsc();

    /* 1. generate. Prefill is at most book + a few orders per target order */
    workload w;
    memset(&w, 0, sizeof w);
    w.cap = o.ops + 4 * (uint64_t)o.book + 1024;
    size_t cmdBytes = w.cap * sizeof(benchCmd);
    w.cmds = bigAlloc(cmdBytes);
    generate(&o, &w, inserts);
    uint64_t nBench = w.nCmds - w.prefill;

    /* tmp holds one kind's samples and the radix sort's scratch: 2 x nBench */
    size_t latBytes = nBench * sizeof(uint32_t);
    uint32_t *lat = bigAlloc(latBytes);
    uint32_t *tmp = bigAlloc(2 * latBytes);
    uint32_t timerCycles = timerOverhead(lat, tmp, nBench < 100000 ? (uint32_t)nBench : 100000);

    /* 2. warm up on an engine of its own */
    sink ws = {.hash = FNV_OFFSET};
    mtEngine *we = newEngine(&o, &ws);
    if (replay(we, w.cmds, 0, w.prefill) != 0)
        die("warm-up: prefill refused");
    ws.hash = FNV_OFFSET;
    ws.events = ws.fills = 0;
    if (replay(we, w.cmds, w.prefill, w.nCmds) != 0)
        die("warm-up: command refused");
    mtEngineDestroy(we);

    /* 3. prefill the timed engine */
    sink ts = {.hash = FNV_OFFSET};
    mtEngine *e = newEngine(&o, &ts);
    if (replay(e, w.cmds, 0, w.prefill) != 0)
        die("prefill refused");
    ts.hash = FNV_OFFSET;
    ts.events = ts.fills = 0;
    long hugeAfter = meminfo("HugePages_Free");
    long hugeKb = meminfo("Hugepagesize");

    /* 4. timed */
    const benchCmd *bench = w.cmds + w.prefill;
    uint64_t rejects = 0;
    uint64_t n0 = nowNs();
    uint64_t c0 = tscBegin();
    if (o.latency)
        rejects = timedLoopLatency(e, bench, nBench, w.prefill + 1, lat);
    else
        rejects = timedLoopPlain(e, bench, nBench, w.prefill + 1);
    uint64_t c1 = tscEnd();
    uint64_t n1 = nowNs();

    if (rejects)
        die("the timed engine refused commands the generator's engine took");
    if (ts.hash != w.genHash || ws.hash != w.genHash || ts.fills != w.genFills ||
        ts.events != w.genEvents)
        die("event streams differ between identical runs: the engine is not deterministic");

    mtStats st;
    mtEngineGetStats(e, &st);
    uint32_t levelsEnd = countLevels(e);
    mtEngineDestroy(e);

    /* statistics */
    uint64_t wallNs = n1 - n0;
    if (wallNs == 0)
        wallNs = 1;
    uint64_t loopNs = cyclesToNs(c1 - c0, tscHz);
    char pcts[512] = "\"p50_ns\":null,\"p99_ns\":null,\"p999_ns\":null,\"p9999_ns\":null,"
                     "\"max_ns\":null";
    char byOp[1024] = "null";
    if (o.latency) {
        int len = snprintf(byOp, sizeof byOp, "{");
        for (int k = 0; k < KIND_N; k++) {
            uint64_t m = 0, sum = 0;
            for (uint64_t i = 0; i < nBench; i++) {
                if (bench[i].kind == k) {
                    tmp[m++] = lat[i];
                    sum += lat[i];
                }
            }
            radixSort(tmp, tmp + m, m);
            len += snprintf(byOp + len, sizeof byOp - (size_t)len,
                            "%s\"%s\":{\"n\":%" PRIu64 ",\"trading\":%" PRIu64
                            ",\"mean_ns\":%.1f,\"p50_ns\":%" PRIu64 ",\"p99_ns\":%" PRIu64 "}",
                            k ? "," : "", kindName[k], m, w.kindTrading[k],
                            m ? (double)sum * 1e9 / (double)tscHz / (double)m : 0.0,
                            cyclesToNs(pct(tmp, m, 1, 2), tscHz),
                            cyclesToNs(pct(tmp, m, 99, 100), tscHz));
        }
        snprintf(byOp + len, sizeof byOp - (size_t)len, "}");
        radixSort(lat, tmp, nBench);
        snprintf(
            pcts, sizeof pcts,
            "\"p50_ns\":%" PRIu64 ",\"p99_ns\":%" PRIu64 ",\"p999_ns\":%" PRIu64
            ",\"p9999_ns\":%" PRIu64 ",\"max_ns\":%" PRIu64,
            cyclesToNs(pct(lat, nBench, 1, 2), tscHz), cyclesToNs(pct(lat, nBench, 99, 100), tscHz),
            cyclesToNs(pct(lat, nBench, 999, 1000), tscHz),
            cyclesToNs(pct(lat, nBench, 9999, 10000), tscHz), cyclesToNs(lat[nBench - 1], tscHz));
    }

    printf("{\"workload\":\"%s\",\"ops\":%" PRIu64 ",\"ops_per_sec\":%" PRIu64
           ",\"ns_per_op_mean\":%.2f,%s,\"events_hash\":\"%016" PRIx64
           "\",\"bytes_per_order\":%u,\"peak_rss_bytes\":%" PRIu64 ",\"seed\":%" PRIu64
           ",\"latency\":%s,\"pin\":%d,\"trades\":%" PRIu64 ",\"fill_ratio\":%.4f"
           ",\"events\":%" PRIu64 ",\"mix\":{\"gtc\":%.4f,\"ioc\":%.4f,\"cancel\":%.4f"
           ",\"replace\":%.4f},\"resting_orders_avg\":%.1f,\"levels_avg\":%.1f"
           ",\"resting_orders_end\":%u,\"levels_end\":%u,\"trade_price_min\":%" PRId64
           ",\"trade_price_max\":%" PRId64 ",\"prefill_ops\":%" PRIu64
           ",\"by_op\":%s,\"wall_ns\":%" PRIu64 ",\"loop_tsc_ns\":%" PRIu64
           ",\"timer_overhead_ns\":%" PRIu64 ",\"tsc_hz\":%" PRIu64 ",\"pool_capacity\":%u"
           ",\"engine_bytes\":%" PRIu64 ",\"command_bytes\":%zu,\"hugepage_bytes\":%ld}\n",
           o.workload, nBench, (uint64_t)((unsigned __int128)nBench * 1000000000u / wallNs),
           (double)wallNs / (double)nBench, pcts, ts.hash, st.bytesPerOrder, peakRss(), o.seed,
           o.latency ? "true" : "false", o.pin, ts.fills, (double)w.msgsTrading / (double)nBench,
           ts.events, (double)w.kindCount[KIND_GTC] / (double)nBench,
           (double)w.kindCount[KIND_IOC] / (double)nBench,
           (double)w.kindCount[KIND_CANCEL] / (double)nBench,
           (double)w.kindCount[KIND_REPLACE] / (double)nBench, (double)w.sumOrders / (double)nBench,
           (double)w.sumLevels / (double)nBench, st.ordersResting, levelsEnd, w.tradeMin,
           w.tradeMax, w.prefill, byOp, wallNs, loopNs, cyclesToNs(timerCycles, tscHz), tscHz,
           st.poolCapacity, st.bytesAllocated, cmdBytes,
           (hugeBefore >= 0 && hugeAfter >= 0 && hugeKb > 0)
               ? (hugeBefore - hugeAfter) * hugeKb * 1024
               : -1L);

    bigFree(lat, latBytes);
    bigFree(tmp, 2 * latBytes);
    bigFree(w.cmds, cmdBytes);
    return 0;
}
