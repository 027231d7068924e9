/* xchg-load.c -- open-loop XOE load generator: round-trip latency at a fixed offered rate.
 *
 * Usage:
 *   xchg-load --server IP [--port N] (--session ID:TOKENHEX ... | --sessions-file F)
 *             --rate ORDERS_PER_S --duration S [--batch K] [--instrument N]
 *             [--price DEC] [--tick DEC] [--levels N] [--cross-pct P] [--max-resting N]
 *             [--warmup S] [--drain-ms N] [--heartbeat-ms N] [--cpu N] [--spin] [--label S]
 *   xchg-load --echo --server IP [--port N] --rate R --duration S [--batch K] ...
 *
 * Requests go out on a fixed schedule computed from the start time: datagram
 * i (holding K requests, one session's, sessions taken in turn) is due at
 * t0 + i * K / rate. When the sender falls behind it sends at once, but every
 * round trip is measured from the SCHEDULED time, so a stalled server shows
 * as latency rather than as a lower offered load (no coordinated omission).
 * One thread: it sends what is due, reads every socket, sleeps (or spins
 * with --spin) until the next send.
 *
 * xchg mode: each session logs on (nextOutSeq 0: no replay), then sends
 * NewOrders of 1 lot alternating buy and sell that mostly rest (a random
 * 1..levels ticks away from --price) and, --cross-pct percent of them, IOC
 * orders priced through the book that trade; once a session has
 * --max-resting orders resting or on their way (NewOrders that will rest,
 * sent and not yet answered), its next request cancels the oldest resting
 * one, so the book stays bounded even when answers queue up behind a
 * saturated server (every resting order is tracked until it is cancelled).
 * The answer to a request is its direct answer, matched by client order id:
 * Accepted or Rejected for a NewOrder, Cancelled{USER} (carrying the order's
 * id) or CancelRejected for a Cancel. A SessionReject{GAP} (a request
 * datagram was lost) renumbers the session from the number xchg expects; the
 * skipped requests count as lost (the orders their Cancels named are
 * cancelled again later). No retransmission: a lost answer is a lost
 * request.
 *
 * --echo mode: for baselines against a plain UDP echo (kernel socket echo,
 * DPDK echo). The same frames of NewOrders are sent, no logon, and the
 * echoed datagram itself answers every request in it.
 *
 * Output: one JSON line on stdout,
 *   {"target_rate","achieved_rate","sent","answered","lost","duration_s",
 *    "orders_per_datagram","rtt_ns":{"p50","p90","p99","p999","max"}, ...}
 * then details ("mode", "sessions", "datagrams", "new_orders", "cancels",
 * "rejected", "throttled", "cancel_rejected", "fills", "gaps",
 * "send_errors", "max_send_lag_ns", "samples", "max_resting_tracked" (the
 * most resting orders one session had), "untracked" (resting orders left
 * behind for lack of memory), "cpu_user_s", "cpu_sys_s", "label"; cpu_* is
 * this process's CPU time over the whole run, logons and drain included, to
 * tell when the client itself is the bottleneck). sent counts
 * requests (NewOrders and Cancels); lost = sent - answered after the drain
 * time; percentiles (log-linear histogram, < 0.8% error, upper bucket edge)
 * cover requests scheduled after --warmup seconds. Exit status 0, or 1 when
 * nothing was answered or set-up failed, 2 for a usage error.
 *
 * Send only to addresses you own; the test network uses 198.18.0.0/15. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "xchg/xoe.h"

#define LD_MAX_SESSIONS 1024
#define LD_MAX_BATCH    ((XOE_FRAME_MAX - XOE_HEADER_SIZE) / (int)sizeof(xoeNewOrder)) /* 36 */
#define LD_SEND_BURST   32          /* datagrams sent per loop turn before reading */
#define LD_GAP_GUARD_NS 20000000ull /* repeated GAP rejects for one loss within 20 ms */
#define LD_HIST_SUB     7
#define LD_HIST_N       (256 + 56 * 128)
#define LD_SLOTS_MAX    (1u << 21)
_Static_assert(LD_MAX_BATCH == 36, "36 NewOrders fill a frame");

enum { K_FREE = 0, K_NEW_REST = 1, K_NEW_IOC = 2, K_CANCEL = 3 };

typedef struct {
    uint64_t clOrdId; /* request in this slot */
    uint64_t schedNs; /* its datagram's scheduled send time */
    uint64_t link;    /* a resting NewOrder: clOrdId of the Cancel sent for it;
                       * a Cancel: clOrdId of the order it cancels */
    uint64_t target;  /* a Cancel: id of the order it cancels */
    uint64_t seq;     /* its sequence number */
    uint8_t kind;
    uint8_t answered;
} ldSlot;

typedef struct {
    uint64_t orderId, clOrdId;
} ldRest;

typedef struct {
    int fd;
    uint32_t id;
    uint8_t token[XOE_TOKEN_SIZE];
    int loggedOn;
    uint64_t nextSeq, nextClOrdId;
    uint64_t hbNs, lastSendNs, lastLogonNs;
    ldRest *rest; /* FIFO of our resting orders, restCap (a power of two) slots */
    uint32_t restHead, restCount, restCap;
    uint32_t pendingRest; /* NewOrders that will rest, sent and not answered */
    uint64_t gapExpected, gapNs;
    uint64_t processedSeq; /* highest of our numbers known processed (answered) */
    unsigned side;
} ldSess;

typedef struct {
    /* options */
    const char *server;
    uint16_t port;
    int echo, spin, cpu;
    double rate, duration, warmup;
    unsigned batch, levels, crossPct, maxResting;
    uint16_t instrument;
    int64_t price, tick;
    uint32_t drainMs, heartbeatMs;
    const char *label;
    /* sessions */
    ldSess sess[LD_MAX_SESSIONS];
    unsigned nsess;
    ldSlot *slots; /* per session: slotsPer entries */
    uint32_t slotsPer, slotMask;
    /* counters */
    uint64_t sent, answered, datagrams, newOrders, cancels, rejected, throttled, cancelRejected;
    uint64_t fills, gaps, sendErrors, loggedOut, sessionRejects, malformed, samples;
    uint64_t untracked;    /* resting orders not tracked (out of memory): never cancelled */
    uint32_t maxRestCount; /* most resting orders one session had tracked */
    uint64_t maxLagNs, warmupEndNs;
    uint64_t hist[LD_HIST_N];
    uint64_t maxRtt;
    uint64_t rng;
} ldState;

static ldState L;

static uint64_t ldNow(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t ldRand(void)
{
    uint64_t x = L.rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return L.rng = x;
}

/* ---- histogram ----------------------------------------------------------------- */

static unsigned ldHistIndex(uint64_t v)
{
    if (v < 256)
        return (unsigned)v;
    const unsigned msb = 63u - (unsigned)__builtin_clzll(v);
    const unsigned shift = msb - LD_HIST_SUB;
    const unsigned sub = (unsigned)(v >> shift); /* 128..255 */
    return 256u + (shift - 1u) * 128u + (sub - 128u);
}

static uint64_t ldHistUpper(unsigned idx)
{
    if (idx < 256)
        return idx;
    const unsigned shift = (idx - 256u) / 128u + 1u;
    const uint64_t sub = (idx - 256u) % 128u + 128u;
    return ((sub + 1) << shift) - 1;
}

static void ldRecord(const ldSlot *s, uint64_t rxNs)
{
    L.answered++;
    if (s->schedNs < L.warmupEndNs)
        return;
    const uint64_t rtt = rxNs > s->schedNs ? rxNs - s->schedNs : 0;
    L.hist[ldHistIndex(rtt)]++;
    L.samples++;
    if (rtt > L.maxRtt)
        L.maxRtt = rtt;
}

/* ceil for non-negative values (no libm) */
static uint64_t ldCeil(double x)
{
    const uint64_t i = (uint64_t)x;
    return (double)i < x ? i + 1 : i;
}

static uint64_t ldPercentile(double p)
{
    if (L.samples == 0)
        return 0;
    uint64_t rank = ldCeil(p * (double)L.samples);
    if (rank == 0)
        rank = 1;
    uint64_t cum = 0;
    for (unsigned i = 0; i < LD_HIST_N; i++) {
        cum += L.hist[i];
        if (cum >= rank) {
            const uint64_t v = ldHistUpper(i);
            return v < L.maxRtt ? v : L.maxRtt;
        }
    }
    return L.maxRtt;
}

/* ---- parsing ------------------------------------------------------------------- */

/* "[-]digits[.digits]" with at most 4 decimals, into 1e-4 units. */
static int ldParsePrice(const char *s, int64_t *out)
{
    const int neg = *s == '-';
    const char *p = s + neg;
    int64_t whole = 0, frac = 0;
    int digits = 0, fd = 0;
    for (; *p >= '0' && *p <= '9'; p++, digits++) {
        if (whole > (INT64_MAX / 10000 - 9) / 10)
            return -1;
        whole = whole * 10 + (*p - '0');
    }
    if (digits == 0)
        return -1;
    if (*p == '.') {
        for (p++; *p >= '0' && *p <= '9'; p++, fd++) {
            if (fd == 4)
                return -1;
            frac = frac * 10 + (*p - '0');
        }
        if (fd == 0)
            return -1;
    }
    if (*p != '\0')
        return -1;
    for (; fd < 4; fd++)
        frac *= 10;
    *out = (whole * 10000 + frac) * (neg ? -1 : 1);
    return 0;
}

static int ldHex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* "ID:TOKENHEX" */
static int ldParseSession(const char *spec, ldSess *s)
{
    char *end;
    errno = 0;
    const unsigned long id = strtoul(spec, &end, 10);
    if (errno || end == spec || *end != ':' || id == 0 || id > UINT32_MAX)
        return -1;
    const char *h = end + 1;
    for (int i = 0; i < XOE_TOKEN_SIZE; i++) {
        const int hi = ldHex(h[2 * i]);
        const int lo = hi < 0 ? -1 : ldHex(h[2 * i + 1]);
        if (lo < 0)
            return -1;
        s->token[i] = (uint8_t)(hi << 4 | lo);
    }
    if (h[2 * XOE_TOKEN_SIZE] != '\0' && h[2 * XOE_TOKEN_SIZE] != '\n' &&
        h[2 * XOE_TOKEN_SIZE] != '\r')
        return -1;
    s->id = (uint32_t)id;
    return 0;
}

static int ldAddSession(const char *spec)
{
    if (L.nsess == LD_MAX_SESSIONS) {
        fprintf(stderr, "xchg-load: at most %d sessions\n", LD_MAX_SESSIONS);
        return -1;
    }
    if (ldParseSession(spec, &L.sess[L.nsess]) != 0) {
        fprintf(stderr, "xchg-load: bad session \"%s\": want ID:TOKENHEX (32 hex digits)\n", spec);
        return -1;
    }
    L.nsess++;
    return 0;
}

static int ldSessionsFile(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "xchg-load: %s: %s\n", path, strerror(errno));
        return -1;
    }
    char line[256];
    int rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '#' || *p == '\n' || *p == '\0')
            continue;
        rc = ldAddSession(p);
    }
    fclose(f);
    return rc;
}

/* ---- sockets ------------------------------------------------------------------- */

static int ldSocket(const struct sockaddr_in *srv)
{
    const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    const int buf = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
    if (connect(fd, (const struct sockaddr *)srv, sizeof *srv) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int ldSend(ldSess *s, const uint8_t *buf, size_t len, uint64_t now)
{
    for (int tries = 0; tries < 2; tries++) {
        const ssize_t n = send(s->fd, buf, len, 0);
        if (n == (ssize_t)len) {
            s->lastSendNs = now;
            return 0;
        }
        if (n < 0 && (errno == EINTR || (errno == ECONNREFUSED && tries == 0)))
            continue;
        break;
    }
    L.sendErrors++;
    return -1;
}

static void ldSendSession(ldSess *s, uint8_t type, const void *msg, uint64_t now)
{
    uint8_t buf[64];
    xoeWriter w;
    xoeWriterInit(&w, buf, sizeof buf, s->id, s->nextSeq, 0);
    if (xoeAppend(&w, type, msg) == XOE_OK)
        ldSend(s, buf, xoeWriterFinish(&w), now);
}

static void ldSendLogon(ldSess *s, uint64_t now)
{
    xoeLogon l;
    memset(&l, 0, sizeof l);
    l.heartbeatMs = L.heartbeatMs;
    memcpy(l.token, s->token, XOE_TOKEN_SIZE);
    ldSendSession(s, XOE_MSG_LOGON, &l, now);
    s->lastLogonNs = now;
}

/* ---- requests ------------------------------------------------------------------ */

static ldSlot *ldSlotOf(unsigned si, uint64_t clOrdId)
{
    return &L.slots[(size_t)si * L.slotsPer + (clOrdId & L.slotMask)];
}

/* Appends a resting order to its session's FIFO, doubling it when full. */
static void ldRestPush(ldSess *s, ldRest r)
{
    if (s->restCount == s->restCap) {
        ldRest *n = malloc((size_t)s->restCap * 2 * sizeof *n);
        if (n == NULL) {
            L.untracked++;
            return;
        }
        for (uint32_t i = 0; i < s->restCount; i++)
            n[i] = s->rest[(s->restHead + i) & (s->restCap - 1)];
        free(s->rest);
        s->rest = n;
        s->restCap *= 2;
        s->restHead = 0;
    }
    s->rest[(s->restHead + s->restCount) & (s->restCap - 1)] = r;
    s->restCount++;
    if (s->restCount > L.maxRestCount)
        L.maxRestCount = s->restCount;
}

/* Before a renumbering from seq x: our requests numbered x and later were
 * never processed, so NewOrders among them will not rest and the orders
 * their Cancels named still rest (they go back to the FIFO to be cancelled).
 * Numbers and client order ids advance together, so those requests are the
 * last nextSeq - x client order ids. */
static void ldForgetFrom(unsigned si, uint64_t x)
{
    ldSess *s = &L.sess[si];
    uint64_t n = s->nextSeq - x;
    if (n > L.slotsPer)
        n = L.slotsPer;
    for (uint64_t c = s->nextClOrdId - n; c < s->nextClOrdId; c++) {
        ldSlot *sl = ldSlotOf(si, c);
        if (sl->clOrdId != c || sl->kind == K_FREE || sl->answered || sl->seq < x)
            continue;
        if (sl->kind == K_NEW_REST && s->pendingRest)
            s->pendingRest--;
        if (sl->kind == K_CANCEL)
            ldRestPush(s, (ldRest){sl->target, sl->link});
        sl->kind = K_FREE;
    }
}

/* Builds and sends datagram number idx, due at sched. */
static void ldSendDatagram(uint64_t idx, uint64_t sched, uint64_t now)
{
    const unsigned si = (unsigned)(idx % L.nsess);
    ldSess *s = &L.sess[si];
    if (!L.echo && !s->loggedOn)
        return;
    uint8_t buf[XOE_FRAME_MAX];
    xoeWriter w;
    xoeWriterInit(&w, buf, sizeof buf, s->id, s->nextSeq, 0);
    uint64_t ids[LD_MAX_BATCH];
    ldRest popped[LD_MAX_BATCH];
    unsigned npopped = 0, nrest = 0;
    for (unsigned k = 0; k < L.batch; k++) {
        const uint64_t c = s->nextClOrdId + k;
        ids[k] = c;
        ldSlot *slot = ldSlotOf(si, c);
        if (!L.echo && s->restCount > 0 && s->restCount + s->pendingRest + nrest >= L.maxResting) {
            const ldRest r = s->rest[s->restHead];
            s->restHead = (s->restHead + 1) & (s->restCap - 1);
            s->restCount--;
            popped[npopped++] = r;
            xoeCancel m;
            memset(&m, 0, sizeof m);
            m.clOrdId = c;
            m.orderId = r.orderId;
            xoeAppendCancel(&w, &m);
            ldSlot *os = ldSlotOf(si, r.clOrdId);
            if (os->clOrdId == r.clOrdId)
                os->link = c;
            *slot = (ldSlot){c, sched, r.clOrdId, r.orderId, s->nextSeq + k, K_CANCEL, 0};
            continue;
        }
        xoeNewOrder m;
        memset(&m, 0, sizeof m);
        m.instrument = L.instrument;
        m.side = (uint8_t)(s->side ^= 1u);
        m.clOrdId = c;
        m.qty = 1;
        const int cross = (unsigned)(ldRand() % 100) < L.crossPct;
        const int64_t k1 = 1 + (int64_t)(ldRand() % L.levels);
        if (cross) {
            m.timeCondition = XOE_IOC;
            m.price = L.price + (m.side == XOE_BUY ? 1 : -1) * (int64_t)L.levels * L.tick;
        } else {
            m.price = L.price + (m.side == XOE_BUY ? -k1 : k1) * L.tick;
        }
        xoeAppendNewOrder(&w, &m);
        *slot = (ldSlot){c, sched, 0, 0, s->nextSeq + k, cross ? K_NEW_IOC : K_NEW_REST, 0};
        nrest += !cross;
    }
    const size_t len = xoeWriterFinish(&w);
    if (ldSend(s, buf, len, now) != 0) {
        /* not sent: these numbers and ids were not used */
        for (unsigned k = 0; k < L.batch; k++)
            ldSlotOf(si, ids[k])->kind = K_FREE;
        for (unsigned k = npopped; k-- > 0;) {
            s->restHead = (s->restHead - 1) & (s->restCap - 1);
            s->rest[s->restHead] = popped[k];
            s->restCount++;
        }
        return;
    }
    s->pendingRest += nrest;
    s->nextClOrdId += L.batch;
    s->nextSeq += L.batch;
    L.sent += L.batch;
    L.cancels += npopped;
    L.newOrders += L.batch - npopped;
    L.datagrams++;
    if (now - sched > L.maxLagNs && now > sched)
        L.maxLagNs = now - sched;
}

/* ---- answers ------------------------------------------------------------------- */

static void ldAnswer(unsigned si, uint64_t c, uint64_t rxNs, int wantCancel)
{
    ldSlot *s = ldSlotOf(si, c);
    if (s->clOrdId != c || s->answered || s->kind == K_FREE || (s->kind == K_CANCEL) != wantCancel)
        return;
    s->answered = 1;
    if (s->kind == K_NEW_REST && L.sess[si].pendingRest)
        L.sess[si].pendingRest--;
    ldRecord(s, rxNs);
    if (s->seq > L.sess[si].processedSeq)
        L.sess[si].processedSeq = s->seq;
}

static void ldOnXchg(unsigned si, const uint8_t *buf, size_t len, uint64_t rxNs)
{
    ldSess *s = &L.sess[si];
    xoeFrame f;
    if (xoeFrameParse(buf, len, XOE_DIR_TO_CLIENT, &f, NULL) != XOE_OK || f.session != s->id) {
        L.malformed++;
        return;
    }
    xoeIter it;
    xoeMsg m;
    xoeIterInit(&it, &f);
    while (xoeIterNext(&it, &m)) {
        switch (m.type) {
        case XOE_MSG_LOGON_ACCEPTED:
            if (!s->loggedOn) {
                s->loggedOn = 1;
                s->nextSeq = m.u.logonAccepted.nextInSeq;
                s->hbNs = (uint64_t)m.u.logonAccepted.heartbeatMs * 1000000u;
            }
            break;
        case XOE_MSG_LOGON_REJECTED:
            fprintf(stderr, "xchg-load: session %" PRIu32 ": logon rejected, code %u\n", s->id,
                    m.u.logonRejected.code);
            exit(1);
        case XOE_MSG_LOGGED_OUT:
            if (s->loggedOn)
                L.loggedOut++;
            s->loggedOn = 0;
            break;
        case XOE_MSG_SESSION_REJECT:
            if (m.u.sessionReject.reason == XOE_SR_GAP) {
                const uint64_t x = m.u.sessionReject.expectedSeq;
                /* numbers up to processedSeq were processed: a GAP naming
                 * one of them is older than our renumbering */
                if (x < s->nextSeq && x > s->processedSeq &&
                    (x != s->gapExpected || rxNs - s->gapNs > LD_GAP_GUARD_NS)) {
                    ldForgetFrom(si, x);
                    s->nextSeq = x;
                    s->gapExpected = x;
                    s->gapNs = rxNs;
                    L.gaps++;
                }
            } else {
                L.sessionRejects++;
            }
            break;
        case XOE_MSG_ACCEPTED: {
            const uint64_t c = m.u.accepted.clOrdId;
            ldSlot *sl = ldSlotOf(si, c);
            if (sl->clOrdId == c && !sl->answered && sl->kind == K_NEW_REST)
                ldRestPush(s, (ldRest){m.u.accepted.orderId, c});
            ldAnswer(si, c, rxNs, 0);
            break;
        }
        case XOE_MSG_REJECTED:
            L.rejected++;
            L.throttled += m.u.rejected.code == XOE_CODE_THROTTLED;
            ldAnswer(si, m.u.rejected.clOrdId, rxNs, 0);
            break;
        case XOE_MSG_CANCELLED:
            if (m.u.cancelled.reason == XOE_CXL_USER) {
                const ldSlot *os = ldSlotOf(si, m.u.cancelled.clOrdId);
                if (os->clOrdId == m.u.cancelled.clOrdId && os->link)
                    ldAnswer(si, os->link, rxNs, 1);
            }
            break;
        case XOE_MSG_CANCEL_REJECTED:
            L.cancelRejected++;
            L.throttled += m.u.cancelRejected.code == XOE_CODE_THROTTLED;
            ldAnswer(si, m.u.cancelRejected.clOrdId, rxNs, 1);
            break;
        case XOE_MSG_EXECUTED:
            L.fills++;
            break;
        default:
            break;
        }
    }
}

static void ldOnEcho(unsigned si, const uint8_t *buf, size_t len, uint64_t rxNs)
{
    xoeFrame f;
    if (xoeFrameParse(buf, len, XOE_DIR_TO_XCHG, &f, NULL) != XOE_OK) {
        L.malformed++;
        return;
    }
    xoeIter it;
    xoeMsg m;
    xoeIterInit(&it, &f);
    while (xoeIterNext(&it, &m))
        if (m.type == XOE_MSG_NEW_ORDER)
            ldAnswer(si, m.u.newOrder.clOrdId, rxNs, 0);
}

/* Reads every socket that has data; waits up to timeoutNs for the first. */
static void ldReceive(struct pollfd *pfd, int64_t timeoutNs)
{
    struct timespec ts = {0, 0};
    if (timeoutNs > 0) {
        ts.tv_sec = timeoutNs / 1000000000;
        ts.tv_nsec = timeoutNs % 1000000000;
    }
    const int n = ppoll(pfd, L.nsess, &ts, NULL);
    if (n <= 0)
        return;
    static uint8_t buf[XOE_FRAME_MAX + 64];
    for (unsigned si = 0; si < L.nsess; si++) {
        if (!(pfd[si].revents & POLLIN))
            continue;
        for (int k = 0; k < 256; k++) {
            const ssize_t r = recv(pfd[si].fd, buf, sizeof buf, MSG_DONTWAIT);
            if (r < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK)
                    break;
                continue; /* ICMP errors and the like */
            }
            const uint64_t rx = ldNow();
            if (L.echo)
                ldOnEcho(si, buf, (size_t)r, rx);
            else
                ldOnXchg(si, buf, (size_t)r, rx);
        }
    }
}

/* ---- main ---------------------------------------------------------------------- */

/* Copies s into out as the inside of a JSON string (quotes, backslashes and
 * control characters escaped), truncated to fit. */
static void ldJsonEscape(const char *s, char *out, size_t len)
{
    size_t o = 0;
    for (; *s && o + 7 < len; s++) {
        const unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') {
            out[o++] = '\\';
            out[o++] = (char)ch;
        } else if (ch < 0x20) {
            o += (size_t)snprintf(out + o, len - o, "\\u%04x", ch);
        } else {
            out[o++] = (char)ch;
        }
    }
    out[o] = '\0';
}

static void usage(void)
{
    fprintf(stderr,
            "usage: xchg-load --server IP [--port N] (--session ID:TOKENHEX ... | --sessions-file "
            "F | --echo)\n"
            "         --rate ORDERS_PER_S --duration S [--batch K (1-%d)] [--instrument N]\n"
            "         [--price DEC] [--tick DEC] [--levels N] [--cross-pct P] [--max-resting N]\n"
            "         [--warmup S] [--drain-ms N] [--heartbeat-ms N] [--cpu N] [--spin] "
            "[--label S]\n",
            LD_MAX_BATCH);
}

static uint32_t ldPow2(uint64_t v)
{
    uint32_t p = 1024;
    while (p < v && p < LD_SLOTS_MAX)
        p <<= 1;
    return p;
}

int main(int argc, char **argv)
{
    L.port = 9000;
    L.batch = 1;
    L.levels = 5;
    L.crossPct = 10;
    L.maxResting = 50;
    L.price = 38000000;
    L.tick = 2000;
    L.drainMs = 1000;
    L.heartbeatMs = 1000;
    L.cpu = -1;
    L.label = "";
    L.rng = 0x9E3779B97F4A7C15ull ^ (uint64_t)getpid();
    static const struct option opts[] = {{"server", required_argument, NULL, 's'},
                                         {"port", required_argument, NULL, 'p'},
                                         {"session", required_argument, NULL, 'S'},
                                         {"sessions-file", required_argument, NULL, 'F'},
                                         {"echo", no_argument, NULL, 'e'},
                                         {"rate", required_argument, NULL, 'r'},
                                         {"duration", required_argument, NULL, 'd'},
                                         {"batch", required_argument, NULL, 'b'},
                                         {"instrument", required_argument, NULL, 'i'},
                                         {"price", required_argument, NULL, 'P'},
                                         {"tick", required_argument, NULL, 't'},
                                         {"levels", required_argument, NULL, 'l'},
                                         {"cross-pct", required_argument, NULL, 'x'},
                                         {"max-resting", required_argument, NULL, 'm'},
                                         {"warmup", required_argument, NULL, 'w'},
                                         {"drain-ms", required_argument, NULL, 'D'},
                                         {"heartbeat-ms", required_argument, NULL, 'H'},
                                         {"cpu", required_argument, NULL, 'c'},
                                         {"spin", no_argument, NULL, 'z'},
                                         {"label", required_argument, NULL, 'L'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            L.server = optarg;
            break;
        case 'p':
            L.port = (uint16_t)strtoul(optarg, NULL, 10);
            break;
        case 'S':
            if (ldAddSession(optarg) != 0)
                return 2;
            break;
        case 'F':
            if (ldSessionsFile(optarg) != 0)
                return 2;
            break;
        case 'e':
            L.echo = 1;
            break;
        case 'r':
            L.rate = strtod(optarg, NULL);
            break;
        case 'd':
            L.duration = strtod(optarg, NULL);
            break;
        case 'b':
            L.batch = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'i':
            L.instrument = (uint16_t)strtoul(optarg, NULL, 10);
            break;
        case 'P':
        case 't':
            if (ldParsePrice(optarg, c == 'P' ? &L.price : &L.tick) != 0) {
                fprintf(stderr, "xchg-load: bad decimal %s (at most 4 decimals)\n", optarg);
                return 2;
            }
            break;
        case 'l':
            L.levels = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'x':
            L.crossPct = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'm':
            L.maxResting = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'w':
            L.warmup = strtod(optarg, NULL);
            break;
        case 'D':
            L.drainMs = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case 'H':
            L.heartbeatMs = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case 'c':
            L.cpu = (int)strtol(optarg, NULL, 10);
            break;
        case 'z':
            L.spin = 1;
            break;
        case 'L':
            L.label = optarg;
            break;
        default:
            usage();
            return c == 'h' ? 0 : 2;
        }
    }
    if (L.echo && L.nsess == 0)
        ldAddSession("1:00000000000000000000000000000000");
    if (L.server == NULL || L.nsess == 0 || L.port == 0 || !(L.rate > 0) || !(L.duration > 0) ||
        L.batch < 1 || L.batch > LD_MAX_BATCH || L.levels < 1 || L.crossPct > 100 ||
        L.maxResting < 1 || L.tick <= 0 || L.price - (int64_t)L.levels * L.tick <= 0 ||
        L.warmup < 0 || L.warmup >= L.duration) {
        usage();
        return 2;
    }
    if (L.cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(L.cpu, &set);
        if (sched_setaffinity(0, sizeof set, &set) != 0)
            fprintf(stderr, "xchg-load: cpu %d: %s\n", L.cpu, strerror(errno));
    }

    struct sockaddr_in srv;
    memset(&srv, 0, sizeof srv);
    srv.sin_family = AF_INET;
    srv.sin_port = htons(L.port);
    if (inet_pton(AF_INET, L.server, &srv.sin_addr) != 1) {
        fprintf(stderr, "xchg-load: bad server address %s\n", L.server);
        return 2;
    }

    /* Slots: enough for 2 s of one session's requests plus its resting
     * orders, so an answer finds its request. */
    const double perSess = L.rate / L.nsess;
    L.slotsPer = ldPow2((uint64_t)(perSess * 2.0) + 8u * L.maxResting + 4096u);
    L.slotMask = L.slotsPer - 1;
    L.slots = calloc((size_t)L.slotsPer * L.nsess, sizeof *L.slots);
    struct pollfd *pfd = calloc(L.nsess, sizeof *pfd);
    if (L.slots == NULL || pfd == NULL) {
        fprintf(stderr, "xchg-load: out of memory\n");
        return 1;
    }
    for (unsigned i = 0; i < L.nsess; i++) {
        ldSess *s = &L.sess[i];
        s->fd = ldSocket(&srv);
        s->restCap = 64;
        while (s->restCap < 2 * L.maxResting)
            s->restCap <<= 1;
        s->rest = calloc(s->restCap, sizeof *s->rest);
        if (s->fd < 0 || s->rest == NULL) {
            fprintf(stderr, "xchg-load: socket: %s\n", strerror(errno));
            return 1;
        }
        s->nextSeq = 1;
        s->nextClOrdId = 1;
        s->hbNs = (uint64_t)L.heartbeatMs * 1000000u;
        pfd[i] = (struct pollfd){s->fd, POLLIN, 0};
    }

    /* Log on every session (xchg evaluates one Logon per second each). */
    if (!L.echo) {
        const uint64_t start = ldNow();
        for (unsigned i = 0; i < L.nsess; i++)
            ldSendLogon(&L.sess[i], start);
        for (;;) {
            unsigned on = 0;
            for (unsigned i = 0; i < L.nsess; i++)
                on += L.sess[i].loggedOn != 0;
            if (on == L.nsess)
                break;
            const uint64_t now = ldNow();
            if (now - start > 10000000000ull) {
                fprintf(stderr, "xchg-load: %u of %u sessions logged on after 10 s\n", on, L.nsess);
                return 1;
            }
            for (unsigned i = 0; i < L.nsess; i++)
                if (!L.sess[i].loggedOn && now - L.sess[i].lastLogonNs > 1100000000ull)
                    ldSendLogon(&L.sess[i], now);
            ldReceive(pfd, 10000000);
        }
    }

    const double intervalNs = (double)L.batch * 1e9 / L.rate;
    const uint64_t total = ldCeil(L.rate * L.duration / L.batch);
    const uint64_t t0 = ldNow() + 1000000;
    L.warmupEndNs = t0 + (uint64_t)(L.warmup * 1e9);
    const uint64_t drainNs = (uint64_t)L.drainMs * 1000000u;
    uint64_t next = 0, endNs = 0, lastSendNs = t0, lastHbCheck = 0;
    for (;;) {
        uint64_t now = ldNow();
        for (unsigned k = 0; k < LD_SEND_BURST && next < total; k++) {
            const uint64_t sched = t0 + (uint64_t)((double)next * intervalNs);
            if (sched > now)
                break;
            ldSendDatagram(next, sched, now);
            lastSendNs = now;
            next++;
            now = ldNow();
        }
        if (!L.echo && now - lastHbCheck > 10000000u) {
            lastHbCheck = now;
            for (unsigned i = 0; i < L.nsess; i++) {
                ldSess *s = &L.sess[i];
                if (s->loggedOn && now - s->lastSendNs >= s->hbNs) {
                    const xoeHeartbeat hb = {{0, 0, 0}, 0};
                    ldSendSession(s, XOE_MSG_HEARTBEAT, &hb, now);
                }
            }
        }
        if (next == total) {
            if (endNs == 0)
                endNs = now;
            if (L.answered >= L.sent || now - endNs >= drainNs)
                break;
        }
        int64_t wait = 0;
        if (!L.spin) {
            const uint64_t due =
                next < total ? t0 + (uint64_t)((double)next * intervalNs) : endNs + drainNs;
            wait = due > now + 60000 ? (int64_t)(due - now - 50000) : 0;
            if (wait > 10000000)
                wait = 10000000; /* heartbeats */
        }
        ldReceive(pfd, wait);
    }

    if (!L.echo) {
        const uint64_t now = ldNow();
        for (unsigned i = 0; i < L.nsess; i++) {
            if (L.sess[i].loggedOn) {
                const xoeLogout lo = {{0, 0, 0}, 0};
                ldSendSession(&L.sess[i], XOE_MSG_LOGOUT, &lo, now);
            }
        }
    }

    char label[256];
    ldJsonEscape(L.label, label, sizeof label);
    struct rusage ru;
    memset(&ru, 0, sizeof ru);
    getrusage(RUSAGE_SELF, &ru);
    const double cpuUser = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
    const double cpuSys = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    const double sendSpan = (double)(lastSendNs - t0) / 1e9 + intervalNs / 1e9;
    const double dur = sendSpan > L.duration ? sendSpan : L.duration;
    printf("{\"target_rate\":%.1f,\"achieved_rate\":%.1f,\"sent\":%" PRIu64 ",\"answered\":%" PRIu64
           ",\"lost\":%" PRIu64 ",\"duration_s\":%.3f,\"orders_per_datagram\":%u,"
           "\"rtt_ns\":{\"p50\":%" PRIu64 ",\"p90\":%" PRIu64 ",\"p99\":%" PRIu64
           ",\"p999\":%" PRIu64 ",\"max\":%" PRIu64 "},"
           "\"mode\":\"%s\",\"sessions\":%u,\"datagrams\":%" PRIu64 ",\"new_orders\":%" PRIu64
           ",\"cancels\":%" PRIu64 ",\"rejected\":%" PRIu64 ",\"throttled\":%" PRIu64
           ",\"cancel_rejected\":%" PRIu64 ",\"fills\":%" PRIu64 ",\"gaps\":%" PRIu64
           ",\"session_rejects\":%" PRIu64 ",\"logged_out\":%" PRIu64 ",\"malformed\":%" PRIu64
           ",\"send_errors\":%" PRIu64 ",\"max_send_lag_ns\":%" PRIu64 ",\"samples\":%" PRIu64
           ",\"max_resting_tracked\":%" PRIu32 ",\"untracked\":%" PRIu64
           ",\"cpu_user_s\":%.3f,\"cpu_sys_s\":%.3f,\"label\":\"%s\"}\n",
           L.rate, (double)L.sent / dur, L.sent, L.answered, L.sent - L.answered, dur, L.batch,
           ldPercentile(0.50), ldPercentile(0.90), ldPercentile(0.99), ldPercentile(0.999),
           L.maxRtt, L.echo ? "echo" : "xchg", L.nsess, L.datagrams, L.newOrders, L.cancels,
           L.rejected, L.throttled, L.cancelRejected, L.fills, L.gaps, L.sessionRejects,
           L.loggedOut, L.malformed, L.sendErrors, L.maxLagNs, L.samples, L.maxRestCount,
           L.untracked, cpuUser, cpuSys, label);
    for (unsigned i = 0; i < L.nsess; i++) {
        close(L.sess[i].fd);
        free(L.sess[i].rest);
    }
    free(L.slots);
    free(pfd);
    return L.answered > 0 ? 0 : 1;
}
