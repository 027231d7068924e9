/* xchg-feed.c -- market feed listener: joins a segment's ITCH/MoldUDP64 channel and rebuilds its
 * books.
 *
 * Usage:
 *   xchg-feed [--group IP] [--port N] [--local IP] [--server IP] [--retrans-port N]
 *             [--snapshot] [--quiet] [--depth N] [--max-orders N] [--drop-every N]
 *             [--duration S] [--dump FILE] [--check --ctl SOCKET [--xchgctl PATH]
 *             [--quiet-ms N] [--check-when FILE]]
 *
 * Joins --group:--port (default 239.1.1.1:9100, the default config's
 * segment) on the interface that has --local (default: any; the route to
 * the group decides), and applies every MoldUDP64 packet's ITCH messages in
 * sequence order to the books (libxchg-client's feedbook). A gap (a packet
 * or heartbeat with a higher sequence number than expected) is asked for
 * with a MoldUDP64 request to --server:--retrans-port (default
 * 198.18.0.1:9101) sent from a socket of its own (several listeners on
 * one host share the multicast port, and a unicast answer to it would
 * reach only one of them); the request is repeated every 50 ms while the gap stays open.
 * Messages after a gap wait in memory until it is filled.
 *
 * --snapshot joins late (docs/protocol/feed.md §2.5): it asks the server
 * for a snapshot from a second socket, holds the incremental messages
 * meanwhile, builds the books from the snapshot and goes on from the
 * sequence number its End of Snapshot message gives. Without it the
 * listener starts at sequence number 1 (asking for what it missed).
 *
 * Live output (unless --quiet): trades as they print, each instrument's
 * best bid and offer when they change, and --depth levels (default 5) of
 * every book each second.
 *
 * --dump FILE writes every incremental message applied, in sequence
 * order, as "SEQ SUMMARY" lines (fbFormat: the format of the summary field
 * of tests/unit/itch50.lua, so a capture decoded by tshark compares line by
 * line).
 *
 * --drop-every N ignores every Nth packet with messages, as if the network
 * had lost it, to exercise retransmission.
 *
 * --check: once the channel has been quiet (no new message, no open gap)
 * for --quiet-ms (default 1500) and, with --check-when FILE, FILE exists
 * (a test creates it when its order flow is over), compares every book with
 * `xchgctl --socket SOCKET --json book.get instrument=ID depth=64` (the
 * top 64 levels of each side, prices and quantities) and exits. Exit
 * status: 0 books equal; 1 a difference (printed); 2 usage; 3 the feed
 * could not be followed (message errors, nothing received before
 * --duration, a gap never filled). The last line is a JSON summary:
 * messages, packets, gaps, requests, retransmitted messages, dropped
 * packets, request round trips (p50/max ns), instruments and orders
 * compared.
 *
 * Send requests only to the appliance; tests use 198.18.0.0/15 and
 * 239.0.0.0/8 only. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "xchg/client.h"
#include "xchg/feedbook.h"
#include "xchg/itch.h"

#define XF_WINDOW        (1u << 18) /* messages held after a gap */
#define XF_SLOT          64         /* bytes per held message (ITCH messages are <= 50) */
#define XF_RETRY_NS      50000000ull
#define XF_SNAP_RETRY_NS 300000000ull
#define XF_MAX_LOCATES   4096
#define XF_CHECK_DEPTH   64
#define XF_RTT_MAX       65536

typedef struct {
    uint64_t seq; /* 0 = empty */
    uint16_t len;
    uint8_t msg[XF_SLOT];
} xfHeld;

typedef struct {
    /* options */
    const char *group, *local, *server, *ctl, *xchgctl, *dumpPath, *checkWhen;
    FILE *dump;
    uint16_t port, retransPort;
    int snapshot, quiet, check;
    uint32_t depth, dropEvery, quietMs;
    size_t maxOrders;
    double duration;
    /* state */
    int fd, snapFd, reqFd; /* multicast; snapshot; retransmission requests and answers */
    struct sockaddr_in serverAddr;
    fbBook *book;
    char session[MOLD_SESSION_LEN];
    int haveSession, ended;
    uint64_t expected; /* next sequence number to apply; 0 = waiting for a snapshot */
    uint64_t highest;  /* highest sequence number known to exist + 1 */
    xfHeld *held;
    uint64_t reqAt, reqFor;                /* open request: when sent, for which expected */
    uint64_t snapAt, snapNext, snapLastNs; /* request sent; next number; last packet taken */
    uint64_t holdBase; /* first sequence number held while waiting for a snapshot */
    int snapDone;
    uint64_t lastNewNs, startNs;
    /* counters */
    uint64_t packets, heartbeats, messages, gaps, requests, retransMessages, dropped, dupMessages,
        heldOverflow, errors, snapshotMessages, snapshotRequests, rttN;
    uint64_t rtt[XF_RTT_MAX];
    /* display */
    uint32_t bbo[XF_MAX_LOCATES][4]; /* last printed bid, bid size, ask, ask size */
    uint8_t touched[XF_MAX_LOCATES];
    uint64_t lastDepthNs;
} xfState;

static volatile sig_atomic_t gStop;

static void onSignal(int sig)
{
    (void)sig;
    gStop = 1;
}

static uint64_t nowNs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: xchg-feed [--group IP] [--port N] [--local IP] [--server IP]\n"
               "                 [--retrans-port N] [--snapshot] [--quiet] [--depth N]\n"
               "                 [--max-orders N] [--drop-every N] [--duration S] [--dump FILE]\n"
               "                 [--check --ctl SOCKET [--xchgctl PATH] [--quiet-ms N]\n"
               "                  [--check-when FILE]]\n");
}

static void priceText(uint32_t p, char *buf, size_t n)
{
    xclPriceFormat((int64_t)p, buf, n);
}

/* ---- sockets ----------------------------------------------------------------- */

/* 16 MiB of receive buffer: a snapshot arrives as one burst of up to
 * thousands of packets. Above net.core.rmem_max only root may (FORCE). */
static void xfRcvbuf(int fd)
{
    int want = 16 << 20;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &want, sizeof want) != 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &want, sizeof want);
}

static int xfOpen(xfState *s)
{
    struct in_addr group, local = {htonl(INADDR_ANY)};
    if (inet_pton(AF_INET, s->group, &group) != 1 || (ntohl(group.s_addr) >> 28) != 0xE ||
        (s->local && inet_pton(AF_INET, s->local, &local) != 1) ||
        inet_pton(AF_INET, s->server, &s->serverAddr.sin_addr) != 1) {
        fprintf(stderr, "xchg-feed: bad --group, --local or --server address\n");
        return -1;
    }
    s->serverAddr.sin_family = AF_INET;
    s->serverAddr.sin_port = htons(s->retransPort);
    s->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    s->snapFd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    s->reqFd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    if (s->fd < 0 || s->snapFd < 0 || s->reqFd < 0) {
        perror("xchg-feed: socket");
        return -1;
    }
    int one = 1;
    setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    xfRcvbuf(s->fd);
    xfRcvbuf(s->snapFd);
    xfRcvbuf(s->reqFd);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(s->port)};
    a.sin_addr.s_addr = htonl(INADDR_ANY);
    if (bind(s->fd, (struct sockaddr *)&a, sizeof a) != 0) {
        perror("xchg-feed: bind");
        return -1;
    }
    struct ip_mreq mr = {.imr_multiaddr = group, .imr_interface = local};
    if (setsockopt(s->fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mr, sizeof mr) != 0) {
        perror("xchg-feed: IP_ADD_MEMBERSHIP");
        return -1;
    }
    struct sockaddr_in b = {.sin_family = AF_INET, .sin_addr = local};
    if (bind(s->snapFd, (struct sockaddr *)&b, sizeof b) != 0 ||
        bind(s->reqFd, (struct sockaddr *)&b, sizeof b) != 0) {
        perror("xchg-feed: bind (request sockets)");
        return -1;
    }
    return 0;
}

static void xfRequest(xfState *s, int fd, uint64_t seq, uint16_t count)
{
    uint8_t p[MOLD_HEADER_SIZE];
    moldPutHeader(p, s->session, seq, count);
    if (sendto(fd, p, sizeof p, 0, (struct sockaddr *)&s->serverAddr, sizeof s->serverAddr) < 0)
        fprintf(stderr, "xchg-feed: sendto: %s\n", strerror(errno));
}

/* ---- display ------------------------------------------------------------------ */

static void xfOnMessage(void *ctx, uint64_t seq, const itchMsg *m)
{
    xfState *s = ctx;
    if (s->dump && s->expected) {
        char line[512];
        fbFormat(m, line, sizeof line);
        fprintf(s->dump, "%" PRIu64 " %s\n", seq, line);
    }
    if (m->locate < XF_MAX_LOCATES)
        s->touched[m->locate] = 1;
    if (s->quiet)
        return;
    char stock[ITCH_STOCK_LEN + 1] = "?", px[XCL_PRICE_STRLEN];
    fbStock(s->book, m->locate, stock);
    switch (m->type) {
    case ITCH_CROSS_TRADE:
        priceText(m->u.cross.price, px, sizeof px);
        printf("cross  %-8s %" PRIu64 " @ %s\n", stock, m->u.cross.shares, px);
        break;
    case ITCH_TRADING_ACTION:
        printf("state  %-8s %c %.4s\n", stock, m->u.tradingAction.state, m->u.tradingAction.reason);
        break;
    case ITCH_SYSTEM_EVENT:
        printf("system %c\n", m->u.systemEvent.eventCode);
        break;
    default:
        break;
    }
}

/* Trades are printed before the execution is applied: the order's price
 * is gone afterwards. */
static void xfPrintExecution(xfState *s, const uint8_t *msg, size_t len)
{
    itchMsg m;
    if (s->quiet || len < 1 || (msg[0] != ITCH_ORDER_EXECUTED && msg[0] != ITCH_ORDER_EXECUTED_PX))
        return;
    if (itchDecode(msg, len, &m) != ITCH_OK)
        return;
    fbOrder o;
    if (fbOrderGet(s->book, m.u.executed.orderRef, &o) != 0)
        return;
    char stock[ITCH_STOCK_LEN + 1] = "?", px[XCL_PRICE_STRLEN];
    fbStock(s->book, m.locate, stock);
    priceText(m.type == ITCH_ORDER_EXECUTED_PX ? m.u.executed.price : o.price, px, sizeof px);
    printf("trade  %-8s %u @ %s (%s order %#" PRIx64 ")%s\n", stock, m.u.executed.shares, px,
           o.side == ITCH_BUY ? "buy" : "sell", o.origin,
           m.type == ITCH_ORDER_EXECUTED_PX && m.u.executed.printable == 'N' ? " auction" : "");
}

static void xfPrintBbo(xfState *s)
{
    for (uint16_t i = 0; i < XF_MAX_LOCATES; i++) {
        if (!s->touched[i])
            continue;
        s->touched[i] = 0;
        fbLevel b = {0}, a = {0};
        fbDepth(s->book, i, ITCH_BUY, &b, 1);
        fbDepth(s->book, i, ITCH_SELL, &a, 1);
        uint32_t now[4] = {b.price, (uint32_t)b.shares, a.price, (uint32_t)a.shares};
        if (memcmp(now, s->bbo[i], sizeof now) == 0)
            continue;
        memcpy(s->bbo[i], now, sizeof now);
        char stock[ITCH_STOCK_LEN + 1] = "?", bp[XCL_PRICE_STRLEN] = "-",
                                    ap[XCL_PRICE_STRLEN] = "-";
        fbStock(s->book, i, stock);
        if (b.shares)
            priceText(b.price, bp, sizeof bp);
        if (a.shares)
            priceText(a.price, ap, sizeof ap);
        printf("bbo    %-8s %" PRIu64 " @ %s | %s @ %" PRIu64 "\n", stock, b.shares, bp, ap,
               a.shares);
    }
}

static void xfPrintDepth(xfState *s)
{
    fbLevel *bl = calloc(s->depth, sizeof *bl), *al = calloc(s->depth, sizeof *al);
    if (!bl || !al) {
        free(bl);
        free(al);
        return;
    }
    for (uint16_t i = 0; i < XF_MAX_LOCATES; i++) {
        char stock[ITCH_STOCK_LEN + 1];
        if (fbStock(s->book, i, stock) != 0)
            continue;
        size_t nb = fbDepth(s->book, i, ITCH_BUY, bl, s->depth);
        size_t na = fbDepth(s->book, i, ITCH_SELL, al, s->depth);
        printf("depth  %-8s (state %c)\n", stock, fbTradingState(s->book, i) ?: '?');
        for (uint32_t k = 0; k < s->depth && (k < nb || k < na); k++) {
            char bp[XCL_PRICE_STRLEN] = "", ap[XCL_PRICE_STRLEN] = "";
            if (k < nb)
                priceText(bl[k].price, bp, sizeof bp);
            if (k < na)
                priceText(al[k].price, ap, sizeof ap);
            printf("       %10" PRIu64 " %12s | %-12s %" PRIu64 "\n", k < nb ? bl[k].shares : 0, bp,
                   ap, k < na ? al[k].shares : 0);
        }
    }
    free(bl);
    free(al);
}

/* ---- sequencing ------------------------------------------------------------------ */

static void xfApply(xfState *s, uint64_t seq, const uint8_t *msg, size_t len)
{
    xfPrintExecution(s, msg, len);
    if (fbApply(s->book, seq, msg, len) != FB_OK) {
        if (s->errors++ < 5)
            fprintf(stderr, "xchg-feed: %s\n", fbLastError(s->book));
    }
    s->messages++;
}

/* Applies held messages that are now in sequence. */
static void xfDrain(xfState *s)
{
    for (;;) {
        xfHeld *h = &s->held[s->expected & (XF_WINDOW - 1)];
        if (h->seq != s->expected)
            return;
        h->seq = 0;
        xfApply(s, s->expected, h->msg, h->len);
        s->expected++;
    }
}

static void xfHold(xfState *s, uint64_t seq, const uint8_t *msg, size_t len)
{
    if (!s->holdBase)
        s->holdBase = seq; /* waiting for a snapshot: hold from the first message seen */
    uint64_t base = s->expected ? s->expected : s->holdBase;
    if (seq < base || seq - base >= XF_WINDOW || len > XF_SLOT) {
        s->heldOverflow++; /* asked for again when the gap is filled up to it */
        return;
    }
    xfHeld *h = &s->held[seq & (XF_WINDOW - 1)];
    h->seq = seq;
    h->len = (uint16_t)len;
    memcpy(h->msg, msg, len);
}

static void xfRtt(xfState *s, uint64_t before)
{
    if (s->reqAt && s->expected > before && before == s->reqFor) {
        if (s->rttN < XF_RTT_MAX)
            s->rtt[s->rttN++] = nowNs() - s->reqAt;
        s->reqAt = 0;
    }
}

static void xfPacket(xfState *s, const uint8_t *p, size_t len)
{
    moldHeader h;
    int rc = moldParse(p, len, &h);
    if (rc != MOLD_OK) {
        if (s->errors++ < 5)
            fprintf(stderr, "xchg-feed: bad packet: %s\n", moldErrorName(rc));
        return;
    }
    if (!s->haveSession) {
        memcpy(s->session, h.session, MOLD_SESSION_LEN);
        s->haveSession = 1;
        if (!s->quiet)
            printf("session %.10s\n", s->session);
    } else if (memcmp(s->session, h.session, MOLD_SESSION_LEN) != 0) {
        return; /* another session (yesterday's) */
    }
    if (h.count == MOLD_HEARTBEAT || h.count == MOLD_END_OF_SESSION) {
        s->heartbeats++;
        if (h.count == MOLD_END_OF_SESSION)
            s->ended = 1;
        if (h.sequence > s->highest)
            s->highest = h.sequence;
        return;
    }
    if (s->dropEvery && ++s->packets % s->dropEvery == 0) {
        s->dropped++;
        return;
    }
    if (!s->dropEvery)
        s->packets++;
    if (h.sequence + h.count > s->highest)
        s->highest = h.sequence + h.count;
    uint64_t before = s->expected, seq = h.sequence;
    size_t off = MOLD_HEADER_SIZE, n;
    const uint8_t *msg;
    int progressed = 0;
    while (moldNextMessage(p, len, &off, &msg, &n)) {
        if (s->expected && seq == s->expected) {
            xfApply(s, seq, msg, n);
            s->expected++;
            progressed = 1;
        } else if (!s->expected || seq > s->expected) {
            xfHold(s, seq, msg, n);
        } else {
            s->dupMessages++;
        }
        seq++;
    }
    if (progressed)
        xfDrain(s);
    if (before && s->expected > before)
        s->lastNewNs = nowNs();
    xfRtt(s, before);
}

/* Snapshot packets: numbered from 1 in the snapshot; any gap restarts it. */
static void xfSnapshotPacket(xfState *s, const uint8_t *p, size_t len)
{
    moldHeader h;
    if (s->snapDone || moldParse(p, len, &h) != MOLD_OK || h.count == MOLD_HEARTBEAT ||
        h.count == MOLD_END_OF_SESSION)
        return;
    if (h.sequence != s->snapNext) {
        s->snapNext = 0; /* lost a packet: wait for the retry and start over */
        return;
    }
    s->snapLastNs = nowNs();
    if (h.sequence == 1) {
        fbReset(s->book);
        memcpy(s->session, h.session, MOLD_SESSION_LEN);
        s->haveSession = 1;
    }
    size_t off = MOLD_HEADER_SIZE, n;
    const uint8_t *msg;
    uint64_t seq = h.sequence;
    while (moldNextMessage(p, len, &off, &msg, &n)) {
        uint64_t at;
        if (itchGetEndOfSnapshot(msg, n, &at) == 0) {
            s->snapDone = 1;
            s->expected = at;
            if (s->highest < at)
                s->highest = at;
            s->lastNewNs = nowNs();
            if (!s->quiet)
                printf("snapshot: %" PRIu64 " messages, continuing at sequence %" PRIu64 "\n",
                       seq - 1, at);
            xfDrain(s);
            return;
        }
        if (fbApply(s->book, seq, msg, n) != FB_OK && s->errors++ < 5)
            fprintf(stderr, "xchg-feed: snapshot: %s\n", fbLastError(s->book));
        s->snapshotMessages++;
        seq++;
    }
    s->snapNext = seq;
}

/* Asks for what is missing (or for the snapshot) when due. */
static void xfTimers(xfState *s, uint64_t now)
{
    if (!s->expected) {
        uint64_t last = s->snapLastNs > s->snapAt ? s->snapLastNs : s->snapAt;
        if (s->haveSession && now - last > XF_SNAP_RETRY_NS && !s->snapDone) {
            s->snapNext = 1;
            s->snapAt = now;
            s->snapshotRequests++;
            xfRequest(s, s->snapFd, 0, 0);
        }
        return;
    }
    if (s->highest > s->expected && s->haveSession) {
        if (s->reqAt == 0 || s->reqFor != s->expected || now - s->reqAt > XF_RETRY_NS) {
            if (s->reqFor != s->expected || s->reqAt == 0)
                s->gaps += s->reqAt == 0;
            uint64_t want = s->highest - s->expected;
            xfRequest(s, s->reqFd, s->expected, (uint16_t)(want > 65534 ? 65534 : want));
            s->requests++;
            s->reqAt = now;
            s->reqFor = s->expected;
        }
    }
}

/* ---- check ---------------------------------------------------------------------------- */

static json_t *xfBookGet(xfState *s, const char *stock)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' --socket '%s' --json book.get instrument=%s depth=%d",
             s->xchgctl, s->ctl, stock, XF_CHECK_DEPTH);
    FILE *f = popen(cmd, "r");
    if (!f)
        return NULL;
    json_error_t e;
    json_t *j = json_loadf(f, JSON_DISABLE_EOF_CHECK, &e);
    int rc = pclose(f);
    if (rc != 0) {
        json_decref(j);
        return NULL;
    }
    return j;
}

/* Compares one side; returns the number of differences (printed). */
static int xfCompareSide(xfState *s, uint16_t locate, const char *stock, uint8_t side,
                         json_t *levels, size_t *compared)
{
    fbLevel fl[XF_CHECK_DEPTH];
    size_t nf = fbDepth(s->book, locate, side, fl, XF_CHECK_DEPTH);
    size_t ne = json_array_size(levels);
    if (nf > XF_CHECK_DEPTH)
        nf = XF_CHECK_DEPTH;
    int diff = 0;
    for (size_t k = 0; k < nf || k < ne; k++) {
        int64_t price = -1;
        json_int_t qty = -1;
        if (k < ne) {
            json_t *lv = json_array_get(levels, k);
            const char *ps = json_string_value(json_object_get(lv, "price"));
            qty = json_integer_value(json_object_get(lv, "qty"));
            if (!ps || xclPriceParse(ps, &price) != XCL_OK)
                price = -2;
        }
        int64_t fp = k < nf ? (int64_t)fl[k].price : -1;
        json_int_t fq = k < nf ? (json_int_t)fl[k].shares : -1;
        if (fp != price || fq != qty) {
            if (diff++ < 5)
                printf("DIFF %s %s level %zu: feed %lld @ %lld, engine %lld @ %lld\n", stock,
                       side == ITCH_BUY ? "bid" : "ask", k, (long long)fq, (long long)fp,
                       (long long)qty, (long long)price);
        }
        (*compared)++;
    }
    return diff;
}

static int xfCheck(xfState *s, size_t *instruments, size_t *levels)
{
    int diffs = 0;
    for (uint16_t i = 0; i < XF_MAX_LOCATES; i++) {
        char stock[ITCH_STOCK_LEN + 1];
        if (fbStock(s->book, i, stock) != 0)
            continue;
        json_t *j = NULL;
        for (int attempt = 0; attempt < 3 && !j; attempt++) {
            if (attempt)
                sleep(1); /* a busy worker answers the control lcore late: ask again */
            j = xfBookGet(s, stock);
        }
        if (!j) {
            printf("DIFF %s: xchgctl book.get failed\n", stock);
            diffs++;
            continue;
        }
        (*instruments)++;
        diffs += xfCompareSide(s, i, stock, ITCH_BUY, json_object_get(j, "bids"), levels);
        diffs += xfCompareSide(s, i, stock, ITCH_SELL, json_object_get(j, "asks"), levels);
        const char *st = json_string_value(json_object_get(j, "state"));
        uint8_t want = !st                         ? 0
                       : !strcmp(st, "continuous") ? ITCH_STATE_TRADING
                       : !strcmp(st, "pre_open")   ? ITCH_STATE_QUOTATION_ONLY
                                                   : ITCH_STATE_HALTED;
        if (fbTradingState(s->book, i) != want) {
            printf("DIFF %s: state on the feed %c, engine %s\n", stock,
                   fbTradingState(s->book, i) ?: '?', st ? st : "?");
            diffs++;
        }
        json_decref(j);
    }
    return diffs;
}

static int cmpU64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void xfSummary(xfState *s, const char *result, size_t instruments, size_t levels)
{
    qsort(s->rtt, s->rttN, sizeof s->rtt[0], cmpU64);
    fbStats st;
    fbGetStats(s->book, &st);
    printf("{\"result\":\"%s\",\"messages\":%" PRIu64 ",\"packets\":%" PRIu64
           ",\"heartbeats\":%" PRIu64 ",\"next_sequence\":%" PRIu64 ",\"gaps\":%" PRIu64
           ",\"requests\":%" PRIu64 ",\"dropped\":%" PRIu64 ",\"duplicates\":%" PRIu64
           ",\"snapshot_requests\":%" PRIu64 ",\"snapshot_messages\":%" PRIu64
           ",\"errors\":%" PRIu64 ",\"request_rtt_ns\":{\"count\":%" PRIu64 ",\"p50\":%" PRIu64
           ",\"max\":%" PRIu64 "},\"orders\":%zu,\"printed\":%" PRIu64 ",\"instruments\":%zu"
           ",\"levels_compared\":%zu}\n",
           result, s->messages, s->packets, s->heartbeats, s->expected, s->gaps, s->requests,
           s->dropped, s->dupMessages, s->snapshotRequests, s->snapshotMessages, s->errors, s->rttN,
           s->rttN ? s->rtt[s->rttN / 2] : 0, s->rttN ? s->rtt[s->rttN - 1] : 0, st.orders,
           st.printed, instruments, levels);
}

/* ---- main ------------------------------------------------------------------------------ */

static int xfParse(xfState *s, int argc, char **argv)
{
    static const struct option opts[] = {{"group", required_argument, 0, 'g'},
                                         {"port", required_argument, 0, 'p'},
                                         {"local", required_argument, 0, 'l'},
                                         {"server", required_argument, 0, 's'},
                                         {"retrans-port", required_argument, 0, 'r'},
                                         {"snapshot", no_argument, 0, 'S'},
                                         {"quiet", no_argument, 0, 'q'},
                                         {"depth", required_argument, 0, 'd'},
                                         {"max-orders", required_argument, 0, 'm'},
                                         {"drop-every", required_argument, 0, 'D'},
                                         {"duration", required_argument, 0, 't'},
                                         {"check", no_argument, 0, 'c'},
                                         {"dump", required_argument, 0, 'o'},
                                         {"check-when", required_argument, 0, 'W'},
                                         {"ctl", required_argument, 0, 'C'},
                                         {"xchgctl", required_argument, 0, 'X'},
                                         {"quiet-ms", required_argument, 0, 'Q'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'g':
            s->group = optarg;
            break;
        case 'p':
            s->port = (uint16_t)atoi(optarg);
            break;
        case 'l':
            s->local = optarg;
            break;
        case 's':
            s->server = optarg;
            break;
        case 'r':
            s->retransPort = (uint16_t)atoi(optarg);
            break;
        case 'S':
            s->snapshot = 1;
            break;
        case 'q':
            s->quiet = 1;
            break;
        case 'd':
            s->depth = (uint32_t)atoi(optarg);
            break;
        case 'm':
            s->maxOrders = (size_t)strtoull(optarg, NULL, 10);
            break;
        case 'D':
            s->dropEvery = (uint32_t)atoi(optarg);
            break;
        case 't':
            s->duration = atof(optarg);
            break;
        case 'c':
            s->check = 1;
            break;
        case 'o':
            s->dumpPath = optarg;
            break;
        case 'W':
            s->checkWhen = optarg;
            break;
        case 'C':
            s->ctl = optarg;
            break;
        case 'X':
            s->xchgctl = optarg;
            break;
        case 'Q':
            s->quietMs = (uint32_t)atoi(optarg);
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            return -1;
        }
    }
    if (optind != argc || !s->port || !s->retransPort || !s->maxOrders || (s->check && !s->ctl) ||
        s->depth == 0 || s->depth > 1000 || s->dropEvery == 1) {
        return -1;
    }
    return 0;
}

static int xfDone(xfState *s, uint64_t now)
{
    if (gStop)
        return 1;
    if (s->duration > 0 && (double)(now - s->startNs) / 1e9 > s->duration)
        return 1;
    if (s->check && s->lastNewNs && s->expected >= s->highest &&
        now - s->lastNewNs > (uint64_t)s->quietMs * 1000000ull &&
        (!s->checkWhen || access(s->checkWhen, F_OK) == 0))
        return 1;
    return 0;
}

static void xfLoop(xfState *s)
{
    static uint8_t buf[65536];
    struct pollfd pf[3] = {{.fd = s->fd, .events = POLLIN},
                           {.fd = s->snapFd, .events = POLLIN},
                           {.fd = s->reqFd, .events = POLLIN}};
    while (!xfDone(s, nowNs())) {
        poll(pf, 3, 10);
        for (int k = 0; k < 256; k++) {
            ssize_t n = recv(s->fd, buf, sizeof buf, 0);
            if (n <= 0)
                break;
            xfPacket(s, buf, (size_t)n);
        }
        for (int k = 0; k < 256; k++) {
            ssize_t n = recv(s->reqFd, buf, sizeof buf, 0);
            if (n <= 0)
                break;
            xfPacket(s, buf, (size_t)n);
        }
        for (int k = 0; k < 256; k++) {
            ssize_t n = recv(s->snapFd, buf, sizeof buf, 0);
            if (n <= 0)
                break;
            xfSnapshotPacket(s, buf, (size_t)n);
        }
        uint64_t now = nowNs();
        xfTimers(s, now);
        if (!s->quiet) {
            xfPrintBbo(s);
            if (now - s->lastDepthNs > 1000000000ull) {
                xfPrintDepth(s);
                s->lastDepthNs = now;
            }
            fflush(stdout);
        }
    }
}

int main(int argc, char **argv)
{
    static xfState s;
    s.group = "239.1.1.1";
    s.server = "198.18.0.1";
    s.xchgctl = "xchgctl";
    s.port = 9100;
    s.retransPort = 9101;
    s.depth = 5;
    s.quietMs = 1500;
    s.maxOrders = 1u << 22;
    if (xfParse(&s, argc, argv) != 0) {
        usage(stderr);
        return 2;
    }
    s.book = fbCreate(s.maxOrders);
    s.held = calloc(XF_WINDOW, sizeof *s.held);
    if (!s.book || !s.held || xfOpen(&s) != 0) {
        fprintf(stderr, "xchg-feed: set-up failed\n");
        return 3;
    }
    if (s.dumpPath && !(s.dump = fopen(s.dumpPath, "w"))) {
        perror(s.dumpPath);
        return 3;
    }
    fbSetListener(s.book, xfOnMessage, &s);
    s.expected = s.snapshot ? 0 : 1;
    s.startNs = nowNs();
    signal(SIGINT, onSignal);
    signal(SIGTERM, onSignal);
    xfLoop(&s);
    size_t instruments = 0, levels = 0;
    int rc = 0;
    const char *result = "ok";
    int noData = s.messages == 0 && s.snapshotMessages == 0;
    if (s.errors || !s.expected || s.expected < s.highest || noData) {
        rc = 3;
        result = s.errors ? "feed errors" : noData ? "no data" : "gap not filled";
    } else if (s.check) {
        int diffs = xfCheck(&s, &instruments, &levels);
        if (diffs || instruments == 0) {
            rc = 1;
            result = "books differ";
        }
    }
    if (!s.check && rc == 3 && gStop)
        rc = 0; /* interrupted live view */
    xfSummary(&s, result, instruments, levels);
    if (s.dump)
        fclose(s.dump);
    fbDestroy(s.book);
    free(s.held);
    close(s.fd);
    close(s.snapFd);
    close(s.reqFd);
    return rc;
}
