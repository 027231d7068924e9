/* itest_feed.c -- randomized order flow through a real xchgd, for the feed's integration test.
 *
 * Usage (inside the test namespace, see tests/integration/feed.sh):
 *   itest_feed --config FILE --server IP [--port N] --session ID:TOKEN [--session ...]
 *              [--orders N] [--seed S] [--window N] [--pause-at N --pause-file F]
 *
 * Logs the sessions on (each of its own account, so they trade with each
 * other) and sends --orders NewOrders (default 100000) spread over every
 * instrument of the config's first segment, mixed with cancels and
 * replaces of resting orders: limit orders a few ticks around each
 * instrument's pre-settlement price (about a quarter of them through the
 * other side, so they trade), IOC orders, cancels of random resting orders,
 * replaces changing price or quantity. At most --window requests per
 * session are unanswered at any time, so nothing is lost to queues. Waits
 * for every answer, logs out and prints one line:
 *   itest-feed: orders=N cancels=N replaces=N executed_qty=N rejects=N resting=N
 * (executed_qty: lots of every Executed report of every session, both
 * sides). With --pause-at N it writes "N" to --pause-file after N orders
 * (the test starts a late joiner then). Exit 0, or 1 when a session could
 * not log on or answers were missing after 30 s.
 *
 * Addresses: the test network only (198.18.0.0/15). */
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/config.h"
#include "xchg/client.h"

#define IF_MAX_SESSIONS 8
#define IF_LIVE_MAX     (1 << 16)

typedef struct {
    uint64_t orderId;
    uint16_t instrument;
    int64_t price;
    uint32_t qty;
} ifLive;

typedef struct {
    xclSession *s;
    ifLive *live; /* resting orders as its reports tell */
    size_t nLive;
} ifSession;

typedef struct {
    uint16_t book;
    int64_t tick, ref; /* 1e-4 units */
    uint32_t maxLots;
} ifInstrument;

static uint64_t gRng;
static uint64_t cOrders, cCancels, cReplaces, cExecQty, cRejects;

static uint64_t rnd(void)
{
    gRng ^= gRng << 13;
    gRng ^= gRng >> 7;
    gRng ^= gRng << 17;
    return gRng;
}

static uint64_t below(uint64_t n)
{
    return rnd() % n;
}

static ifLive *liveFind(ifSession *x, uint64_t orderId)
{
    for (size_t i = 0; i < x->nLive; i++)
        if (x->live[i].orderId == orderId)
            return &x->live[i];
    return NULL;
}

static void liveRemove(ifSession *x, uint64_t orderId)
{
    ifLive *l = liveFind(x, orderId);
    if (l)
        *l = x->live[--x->nLive];
}

static void onReport(ifSession *x, const xclReport *r)
{
    const xoeMsg *m = &r->msg;
    switch (r->type) {
    case XOE_MSG_ACCEPTED:
        if (x->nLive < IF_LIVE_MAX && m->u.accepted.timeCondition != XOE_IOC)
            x->live[x->nLive++] = (ifLive){m->u.accepted.orderId, m->u.accepted.instrument,
                                           m->u.accepted.price, m->u.accepted.qty};
        break;
    case XOE_MSG_REJECTED:
        cRejects++;
        break;
    case XOE_MSG_EXECUTED:
        cExecQty += m->u.executed.qty;
        if (m->u.executed.leaves == 0)
            liveRemove(x, m->u.executed.orderId);
        break;
    case XOE_MSG_CANCELLED:
        liveRemove(x, m->u.cancelled.orderId);
        break;
    case XOE_MSG_REPLACED: {
        ifLive *l = liveFind(x, m->u.replaced.orderId);
        if (l) {
            l->price = m->u.replaced.price;
            l->qty = m->u.replaced.qty;
        }
        if (m->u.replaced.leaves == 0)
            liveRemove(x, m->u.replaced.orderId);
        break;
    }
    default:
        break;
    }
}

static void drain(ifSession *x)
{
    xclReport r;
    while (xclPoll(x->s, 0, &r) == 1)
        onReport(x, &r);
}

static uint32_t unanswered(const ifSession *x)
{
    xclInfo i;
    xclGetInfo(x->s, &i);
    return i.unanswered;
}

/* One random request of session x. Returns 1 when it was a NewOrder. */
static int randomRequest(ifSession *x, const ifInstrument *ins, size_t nIns)
{
    uint64_t dice = below(100);
    if (dice < 18 && x->nLive) {
        const ifLive *l = &x->live[below(x->nLive)];
        if (xclCancel(x->s, l->orderId, 0, NULL) == XCL_OK)
            cCancels++;
        return 0;
    }
    if (dice < 26 && x->nLive) {
        const ifLive *l = &x->live[below(x->nLive)];
        const ifInstrument *in = &ins[l->instrument];
        int64_t price = l->price;
        uint32_t qty = l->qty;
        if (below(2))
            price += ((int64_t)below(5) - 2) * in->tick;
        else
            qty = (uint32_t)(1 + below(10));
        if (xclReplace(x->s, l->orderId, price, qty, 0, NULL) == XCL_OK)
            cReplaces++;
        return 0;
    }
    const ifInstrument *in = &ins[below(nIns)];
    xclOrder o = {.instrument = in->book, .qty = (uint32_t)(1 + below(10))};
    o.side = below(2) ? XOE_BUY : XOE_SELL;
    int64_t away = (int64_t)(1 + below(12)); /* ticks from the reference, on our side */
    if (below(4) == 0)
        away = -(int64_t)below(4); /* through the other side: trades */
    o.price = o.side == XOE_BUY ? in->ref - away * in->tick : in->ref + away * in->tick;
    o.timeCondition = below(10) == 0 ? XOE_IOC : XOE_GFD;
    if (xclNewOrder(x->s, &o, NULL) != XCL_OK)
        return 0;
    cOrders++;
    return 1;
}

static int loadInstruments(const char *path, ifInstrument *out, size_t *n)
{
    static cfgConfig cfg;
    char err[512];
    if (cfgLoad(path, &cfg, err, sizeof err) != 0) {
        fprintf(stderr, "itest-feed: %s\n", err);
        return -1;
    }
    *n = 0;
    for (uint32_t i = 0; i < cfg.instrumentCount && *n < 64; i++) {
        const cfgInstrument *ci = &cfg.instruments[i];
        if (ci->segIndex != 0)
            continue;
        out[*n] = (ifInstrument){ci->book, ci->tickSize, ci->preSettlement, ci->maxLots};
        (*n)++;
    }
    cfgFree(&cfg);
    return *n ? 0 : -1;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, 0, 'c'},     {"server", required_argument, 0, 's'},
        {"port", required_argument, 0, 'p'},       {"session", required_argument, 0, 'S'},
        {"orders", required_argument, 0, 'n'},     {"seed", required_argument, 0, 'r'},
        {"window", required_argument, 0, 'w'},     {"pause-at", required_argument, 0, 'a'},
        {"pause-file", required_argument, 0, 'f'}, {0, 0, 0, 0}};
    const char *config = NULL, *server = NULL, *pauseFile = NULL;
    uint16_t port = 9000;
    uint64_t orders = 100000, pauseAt = 0;
    uint32_t window = 64;
    static ifSession ses[IF_MAX_SESSIONS];
    size_t nSes = 0;
    gRng = 0x9E3779B97F4A7C15ull;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        uint32_t id;
        uint8_t token[XOE_TOKEN_SIZE];
        char err[256];
        switch (c) {
        case 'c':
            config = optarg;
            break;
        case 's':
            server = optarg;
            break;
        case 'p':
            port = (uint16_t)atoi(optarg);
            break;
        case 'n':
            orders = strtoull(optarg, NULL, 10);
            break;
        case 'r':
            gRng = strtoull(optarg, NULL, 0) | 1;
            break;
        case 'w':
            window = (uint32_t)atoi(optarg);
            break;
        case 'a':
            pauseAt = strtoull(optarg, NULL, 10);
            break;
        case 'f':
            pauseFile = optarg;
            break;
        case 'S':
            if (nSes == IF_MAX_SESSIONS || xclSessionParse(optarg, &id, token) != XCL_OK) {
                fprintf(stderr, "itest-feed: bad --session %s\n", optarg);
                return 2;
            }
            ses[nSes].s = xclOpen(server ? server : "198.18.0.1", port, id, token,
                                  &(xclOptions){.batch = 1, .rcvbuf = 4 << 20}, err, sizeof err);
            ses[nSes].live = calloc(IF_LIVE_MAX, sizeof(ifLive));
            if (!ses[nSes].s || !ses[nSes].live) {
                fprintf(stderr, "itest-feed: %s\n", err);
                return 1;
            }
            nSes++;
            break;
        default:
            return 2;
        }
    }
    ifInstrument ins[64];
    size_t nIns;
    if (!config || !server || nSes < 2 || loadInstruments(config, ins, &nIns) != 0) {
        fprintf(stderr, "itest-feed: need --config, --server and two --session\n");
        return 2;
    }
    for (size_t i = 0; i < nSes; i++)
        if (xclLogon(ses[i].s, 1000, 5000) != XCL_OK) {
            fprintf(stderr, "itest-feed: logon: %s\n", xclLastError(ses[i].s));
            return 1;
        }
    uint64_t sent = 0, sentBefore = 0;
    int paused = 0;
    struct timespec progressAt, nowTs;
    clock_gettime(CLOCK_MONOTONIC, &progressAt);
    while (sent < orders) {
        /* a driver starved of CPU can be logged out by xchgd (heartbeat
         * timeout): then nothing is answered and the loop would wait forever */
        clock_gettime(CLOCK_MONOTONIC, &nowTs);
        if (sent != sentBefore) {
            sentBefore = sent;
            progressAt = nowTs;
        } else if (nowTs.tv_sec - progressAt.tv_sec > 30) {
            fprintf(stderr, "itest-feed: no progress for 30 s after %" PRIu64 " orders:", sent);
            for (size_t i = 0; i < nSes; i++)
                fprintf(stderr, " session %zu: %u unanswered (%s);", i, unanswered(&ses[i]),
                        xclLastError(ses[i].s));
            fprintf(stderr, "\n");
            return 1;
        }
        for (size_t i = 0; i < nSes && sent < orders; i++) {
            ifSession *x = &ses[i];
            drain(x);
            for (int k = 0; k < 16 && unanswered(x) < window && sent < orders; k++)
                sent += (uint64_t)randomRequest(x, ins, nIns);
            xclFlush(x->s);
        }
        if (pauseFile && !paused && sent >= pauseAt) {
            FILE *f = fopen(pauseFile, "w");
            if (f) {
                fprintf(f, "%" PRIu64 "\n", sent);
                fclose(f);
            }
            paused = 1;
        }
        struct pollfd pf[IF_MAX_SESSIONS];
        for (size_t i = 0; i < nSes; i++)
            pf[i] = (struct pollfd){.fd = xclFd(ses[i].s), .events = POLLIN};
        poll(pf, nSes, 1);
    }
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int pending = 1;
    while (pending) {
        pending = 0;
        for (size_t i = 0; i < nSes; i++) {
            xclReport r;
            while (xclPoll(ses[i].s, 1, &r) == 1)
                onReport(&ses[i], &r);
            pending |= unanswered(&ses[i]) != 0;
        }
        clock_gettime(CLOCK_MONOTONIC, &t);
        if (t.tv_sec - t0.tv_sec > 30) {
            fprintf(stderr, "itest-feed: answers missing after 30 s\n");
            return 1;
        }
    }
    size_t resting = 0;
    for (size_t i = 0; i < nSes; i++) {
        resting += ses[i].nLive;
        xclLogout(ses[i].s, 2000);
        xclClose(ses[i].s);
        free(ses[i].live);
    }
    printf("itest-feed: orders=%" PRIu64 " cancels=%" PRIu64 " replaces=%" PRIu64
           " executed_qty=%" PRIu64 " rejects=%" PRIu64 " resting=%zu\n",
           cOrders, cCancels, cReplaces, cExecQty, cRejects, resting);
    return 0;
}
