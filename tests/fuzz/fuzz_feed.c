/* fuzz_feed.c -- libFuzzer target for the feed's parsers: the client book
 * library (include/xchg/feedbook.h) and the retransmission/snapshot server's
 * request handling (dataplane/feedsrv.h).
 *
 * Part 1: the input, as a MoldUDP64 packet, goes through moldParse; its
 * messages (or, when it does not parse, the input cut into 1..50-byte
 * messages by its own bytes) are applied with fbApply. Whatever fbApply
 * refuses must leave the book as it was (same order count); afterwards the
 * books' invariants must hold: fbDepth's levels add up to fbOrders' orders,
 * prices strictly ordered by side, every order has shares. fbFormat never
 * writes past its buffer. itchGetEndOfSnapshot on the input never accepts
 * anything that itchPutEndOfSnapshot would not write the same.
 *
 * Part 2: the input is one request datagram to a server with a short
 * history and a small book: it must be answered or counted, with every
 * request counted exactly once.
 *
 * make fuzz compiles only this file, so it includes the sources it needs.
 * Build and run:
 *   clang -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined \
 *     -fno-sanitize-recover=all -Iinclude -I. tests/fuzz/fuzz_feed.c -o build/fuzz/fuzz_feed
 *   build/fuzz/fuzz_feed -max_total_time=60 -max_len=1600 tests/fuzz/corpus_feed */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/feed.c"
#include "dataplane/feedsrv.c"
#include "matcher/matcher.c"
#include "tools/client/feedbook.c"

/* The matcher's default allocator without libhugetlbfs (alloc.c needs it). */
static void *fzAlloc(void *ctx, size_t bytes)
{
    (void)ctx;
    void *p = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
    if (p)
        memset(p, 0, bytes);
    return p;
}

static void fzFree(void *ctx, void *p, size_t bytes)
{
    (void)ctx;
    (void)bytes;
    free(p);
}

const mtAllocator *mtDefaultAllocator(void)
{
    static const mtAllocator a = {fzAlloc, fzFree, NULL};
    return &a;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            __builtin_trap();                                                                      \
    } while (0)

static void applyOne(fbBook *b, uint64_t seq, const uint8_t *m, size_t n)
{
    fbStats before, after;
    fbGetStats(b, &before);
    int rc = fbApply(b, seq, m, n);
    fbGetStats(b, &after);
    if (rc != FB_OK) {
        CHECK(after.orders == before.orders);
        CHECK(after.errors == before.errors + 1);
        CHECK(fbLastError(b)[0] != 0);
    } else {
        itchMsg msg;
        CHECK(itchDecode(m, n, &msg) == ITCH_OK);
        char line[96];
        int len = fbFormat(&msg, line, sizeof line);
        CHECK(len > 0 && strlen(line) < sizeof line);
    }
}

static void checkBooks(fbBook *b)
{
    static fbOrder o[64];
    static fbLevel l[64];
    for (uint16_t loc = 0; loc < 4; loc++)
        for (int s = 0; s < 2; s++) {
            uint8_t side = s ? ITCH_SELL : ITCH_BUY;
            size_t n = fbOrders(b, loc, side, o, 64), nl = fbDepth(b, loc, side, l, 64);
            if (n > 64 || nl > 64)
                continue;
            uint64_t sum = 0, lsum = 0;
            for (size_t i = 0; i < n; i++) {
                CHECK(o[i].shares > 0 && o[i].locate == loc && o[i].side == side);
                sum += o[i].shares;
            }
            for (size_t i = 0; i < nl; i++) {
                lsum += l[i].shares;
                if (i)
                    CHECK(side == ITCH_BUY ? l[i].price < l[i - 1].price
                                           : l[i].price > l[i - 1].price);
            }
            CHECK(sum == lsum);
        }
}

static void partBook(const uint8_t *data, size_t size)
{
    static fbBook *b;
    if (!b)
        b = fbCreate(48);
    fbReset(b);
    moldHeader h;
    if (moldParse(data, size, &h) == MOLD_OK && h.count != MOLD_HEARTBEAT &&
        h.count != MOLD_END_OF_SESSION) {
        size_t off = MOLD_HEADER_SIZE, n;
        const uint8_t *m;
        uint64_t seq = h.sequence;
        while (moldNextMessage(data, size, &off, &m, &n))
            applyOne(b, seq++, m, n);
    } else {
        size_t off = 0;
        for (uint64_t seq = 1; off < size; seq++) {
            size_t n = 1 + data[off] % 50;
            if (n > size - off)
                n = size - off;
            applyOne(b, seq, data + off, n);
            off += n;
        }
    }
    checkBooks(b);
    uint64_t v;
    if (itchGetEndOfSnapshot(data, size, &v) == 0) {
        uint8_t g[ITCH_END_OF_SNAPSHOT_SIZE];
        itchPutEndOfSnapshot(g, v);
        uint64_t w;
        CHECK(itchGetEndOfSnapshot(g, sizeof g, &w) == 0 && w == v);
    }
}

/* ---- part 2: requests ----------------------------------------------------------------- */

static int gSent;

static void onSend(void *ctx, uint32_t ip, uint16_t port, const uint8_t *p, uint16_t len)
{
    (void)ctx;
    (void)ip;
    (void)port;
    moldHeader h;
    CHECK(moldParse(p, len, &h) == MOLD_OK);
    CHECK(len <= FD_MTU_DEFAULT - MOLD_IP_UDP_OVERHEAD);
    gSent++;
}

static void onEvent(void *ctx, const mtEvent *ev)
{
    fsOnEvent(ctx, ev, 1000);
}

static void partRequest(const uint8_t *data, size_t size)
{
    static cfgConfig cfg;
    static cfgSegment seg;
    static cfgInstrument ins;
    static fsServer *fs;
    static mtEngine *e;
    if (!fs) {
        seg = (cfgSegment){.id = 1,
                           .feedGroup = 0xEF010101u,
                           .feedPort = 9100,
                           .retransPort = 9101,
                           .feedHistory = 16,
                           .feedHeartbeatMs = 1000,
                           .orderCapacity = 64,
                           .instrumentCount = 1};
        ins = (cfgInstrument){.id = "IF2501",
                              .tickSize = 2000,
                              .preSettlementTicks = 19000,
                              .lowerTicks = 17100,
                              .upperTicks = 20900,
                              .minLots = 1,
                              .maxLots = 100};
        cfg = (cfgConfig){
            .instruments = &ins, .segments = &seg, .instrumentCount = 1, .segmentCount = 1};
        fsOptions o = {.cfg = &cfg, .segment = 0, .tradingDay = 20250106, .send = onSend};
        fs = fsCreate(&o);
        mtEngineConfig ec = {.segmentId = 1,
                             .orderCapacity = 64,
                             .maxInstruments = 1,
                             .onEvent = onEvent,
                             .eventCtx = fs};
        e = mtEngineCreate(&ec);
        mtBookConfig bc = {17100, 20900, 19000, 1, 100};
        CHECK(fs && e && mtEngineAddInstrument(e, 0, &bc) == MT_OK);
        fsStart(fs, 1000);
        mtEngineSetState(e, 0, MT_STATE_CONTINUOUS);
        for (int i = 0; i < 40; i++) {
            mtNewOrder no = {.side = (uint8_t)(i % 2),
                             .price = 19000 + (i % 2 ? 1 + i % 5 : -1 - i % 5),
                             .qty = 1 + (uint32_t)i % 3,
                             .account = 1};
            mtEngineNewOrder(e, &no);
        }
        fsFlush(fs);
    }
    static uint64_t now = 1000000;
    now += 50000000; /* 50 ms between requests: the rate limit rarely refuses */
    uint8_t req[64];
    size_t n = size < sizeof req ? size : sizeof req;
    memcpy(req, data, n);
    if (n >= MOLD_SESSION_LEN && data[0] & 1) /* often the right session, to get further */
        memcpy(req, fdSession(fsFeed(fs)), MOLD_SESSION_LEN);
    fsStats before, after;
    fsGetStats(fs, &before);
    fsOnRequest(fs, 0xC6120002u, 40000, req, (uint16_t)n, e, now);
    fsGetStats(fs, &after);
    CHECK(after.requests == before.requests + 1);
    uint64_t outcomes =
        (after.malformed - before.malformed) + (after.wrongSession - before.wrongSession) +
        (after.rateLimited - before.rateLimited) + (after.notYetSent - before.notYetSent) +
        (after.gone - before.gone) + (after.answered - before.answered) +
        (after.snapshots - before.snapshots) + (after.snapshotBusy - before.snapshotBusy);
    CHECK(outcomes == 1);
    while (fsPump(fs) > 0) {
    }
    CHECK(after.snapshotFailed == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    partBook(data, size);
    partRequest(data, size);
    return 0;
}
