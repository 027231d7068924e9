/* client.c -- libxchg-client: XOE sessions over UDP sockets (include/xchg/client.h).
 *
 * State of a session, in the terms of docs/protocol/xoe.md §7:
 *
 *   outbound (client -> xchg): nextSeq is the number of our next request;
 *   `pend` is a ring of the requests sent (or queued) and not yet answered,
 *   contiguous numbers in sending order. A request leaves the ring when its
 *   direct answer arrives in order (Accepted/Rejected for a NewOrder,
 *   Cancelled{USER}/CancelRejected for a Cancel, Replaced/CancelRejected for
 *   a Replace; xchg processes in order, so everything before it was
 *   processed too), or when xchg says it expects a later number (LogonAccepted
 *   nextInSeq, SessionReject GAP expectedSeq). What is left when xchg reports
 *   a gap is sent again, numbered from the number xchg expects.
 *
 *   inbound (xchg -> client): `hold` is a ring indexed by sequence number.
 *   D is the next number handed to the caller, E the first number not yet
 *   received: every number in [D, E) is in the ring. A report numbered below
 *   E is a duplicate; above E it is held and the hole [E, ...) is asked for
 *   with a RetransmitRequest. Session-level reports (LoggedOut, ...) go to a
 *   small event queue, each tagged with the E of its arrival, so they come
 *   out after the reports that preceded them.
 *
 * Nothing runs in the background: every public call reads what arrived and
 * does what is due (heartbeat, retransmission, timeout). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "xchg/client.h"

#define XCL_DEFAULT_WINDOW   4096u
#define XCL_MAX_WINDOW       (1u << 20)
#define XCL_DEFAULT_RT_MS    200u
#define XCL_DEFAULT_LOGON_MS 1100u /* xchg evaluates one Logon per second per session */
#define XCL_EVENTS           64u
#define XCL_RECV_BURST       256
#define XCL_ACK_SCAN         64u /* pending requests searched for an answer's request */
#define XCL_NS_PER_MS        1000000ull

typedef struct {
    uint64_t seq;
    uint64_t clOrdId;
    uint64_t orderId;
    uint8_t type; /* XOE_MSG_NEW_ORDER, _CANCEL, _REPLACE */
    union {
        xoeNewOrder newOrder;
        xoeCancel cancel;
        xoeReplace replace;
    } u;
} xclPend;

typedef struct {
    uint64_t seq; /* 0: empty slot */
    uint64_t rxNs;
    uint8_t retransmitted;
    xoeMsg msg;
} xclHeld;

typedef struct {
    uint64_t pos; /* handed out once every report numbered below pos was */
    xclReport r;
} xclEvent;

enum { XCL_LOGON_WAITING = 0, XCL_LOGON_ACCEPTED = 1, XCL_LOGON_REJECTED = 2 };

struct xclSession {
    int fd;
    uint32_t sessionId;
    uint8_t token[XOE_TOKEN_SIZE];
    int batch;
    uint32_t window, mask;
    uint64_t rtNs, logonRetryNs;
    uint64_t firstNextOutSeq; /* opt->nextOutSeq for the first logon */

    int state;
    int logonResult;
    uint32_t hbMs;
    uint64_t hbNs;
    uint32_t tradingDay;
    uint8_t segment;
    uint16_t lastRejectCode;
    uint16_t localPort;

    /* outbound */
    uint64_t nextSeq;  /* number of our next application message */
    uint64_t ackedSeq; /* highest of our numbers known processed */
    uint64_t nextClOrdId;
    xclPend *pend;
    uint32_t pendHead, pendCount;
    uint64_t resendFrom, resendNs; /* last resend after a gap, to ignore repeats */

    /* inbound */
    uint64_t D, E;       /* next to hand out, first not received (0: unknown yet) */
    uint64_t maxSeen;    /* highest number received */
    uint64_t serverNext; /* xchg's next number as far as we know */
    uint32_t contig;     /* reports present in [D, E) */
    xclHeld *hold;
    xclEvent ev[XCL_EVENTS];
    uint32_t evHead, evCount;

    /* retransmit request in flight: [rtFrom, rtEnd) asked at rtSentNs */
    int rtActive;
    uint64_t rtFrom, rtEnd, rtSentNs, rtLastE;

    uint64_t lastSendNs, lastRecvNs;
    int refused;    /* an ICMP port unreachable came back since the last logon */
    int loggingOut; /* inside xclLogout: NOT_LOGGED_ON confirms the logout */

    /* batch being built */
    xoeWriter w;
    int wOpen;
    uint8_t tx[XOE_FRAME_MAX];
    uint8_t rx[XOE_FRAME_MAX + 8];

    xclInfo st; /* counters only; the rest is filled by xclGetInfo */
    char err[192];
};

/* ==== small helpers ========================================================= */

static uint64_t xclNow(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void xclSetErr(xclSession *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void xclSetErr(xclSession *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->err, sizeof s->err, fmt, ap);
    va_end(ap);
}

static uint64_t xclLoad64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

const char *xclStrerror(int err)
{
    switch (err) {
    case XCL_OK:
        return "ok";
    case XCL_EINVAL:
        return "invalid argument";
    case XCL_ESTATE:
        return "not allowed in this session state";
    case XCL_EAGAIN:
        return "too many unanswered requests";
    case XCL_ETIMEOUT:
        return "timed out";
    case XCL_EREJECTED:
        return "logon rejected";
    case XCL_ESYS:
        return "system error";
    case XCL_ENOMEM:
        return "out of memory";
    case XCL_ESYNTAX:
        return "syntax error";
    case XCL_EDECIMALS:
        return "too many decimals";
    case XCL_ERANGE:
        return "out of range";
    default:
        return "unknown error";
    }
}

const char *xclCodeName(unsigned code)
{
    switch (code) {
    case 0:
        return "none";
    case XOE_CODE_INSUFFICIENT_FUNDS:
        return "insufficient funds";
    case XOE_CODE_POSITION_LIMIT:
        return "position limit";
    case XOE_CODE_ORDER_AMOUNT:
        return "order notional too large";
    case XOE_CODE_RISK_RATIO:
        return "risk ratio above threshold";
    case XOE_CODE_ACCOUNT_NOT_FOUND:
        return "account not found";
    case XOE_CODE_UNKNOWN_INSTRUMENT:
        return "unknown instrument";
    case XOE_CODE_INVALID_PARAMS:
        return "invalid parameters";
    case XOE_CODE_ACCOUNT_FROZEN:
        return "account frozen";
    case XOE_CODE_INSUFFICIENT_POSITION:
        return "insufficient position";
    case XOE_CODE_ORDER_NOT_FOUND:
        return "order not found";
    case XOE_CODE_NOT_CANCELLABLE:
        return "order already filled or cancelled";
    case XOE_CODE_STATE:
        return "trading state does not allow it";
    case XOE_CODE_REPLACE:
        return "replace quantity not above filled";
    case XOE_CODE_POOL_FULL:
        return "order pool full";
    case XOE_CODE_INTERNAL:
        return "internal error";
    case XOE_CODE_STORAGE:
        return "journal unavailable, retry";
    case XOE_CODE_AUTH:
        return "logon refused";
    case XOE_CODE_NOT_LOGGED_ON:
        return "not logged on";
    case XOE_CODE_MALFORMED:
        return "malformed";
    case XOE_CODE_THROTTLED:
        return "throttled";
    case XOE_CODE_UNAVAILABLE:
        return "segment not accepting logons";
    default:
        return "unknown code";
    }
}

/* ==== prices and tokens ===================================================== */

int xclPriceParse(const char *s, int64_t *out)
{
    if (s == NULL || out == NULL)
        return XCL_ESYNTAX;
    const char *p = s;
    const int neg = *p == '-';
    p += neg;
    /* syntax first: digits [. digits] end */
    const char *ip = p;
    while (*p >= '0' && *p <= '9')
        p++;
    const char *ipEnd = p;
    if (ipEnd == ip)
        return XCL_ESYNTAX;
    const char *fp = p, *fpEnd = p;
    if (*p == '.') {
        fp = ++p;
        while (*p >= '0' && *p <= '9')
            p++;
        fpEnd = p;
        if (fpEnd == fp)
            return XCL_ESYNTAX;
    }
    if (*p != '\0')
        return XCL_ESYNTAX;
    if (fpEnd - fp > 4)
        return XCL_EDECIMALS;
    /* magnitude in 1e-4 units, at most 2^63 (negative) or 2^63 - 1 */
    const uint64_t limit = neg ? (uint64_t)INT64_MAX + 1u : (uint64_t)INT64_MAX;
    uint64_t whole = 0;
    for (const char *q = ip; q < ipEnd; q++) {
        const unsigned d = (unsigned)(*q - '0');
        if (whole > (limit / XCL_PRICE_SCALE - d) / 10)
            return XCL_ERANGE;
        whole = whole * 10 + d;
    }
    uint64_t frac = 0;
    unsigned n = 0;
    for (const char *q = fp; q < fpEnd; q++, n++)
        frac = frac * 10 + (uint64_t)(*q - '0');
    for (; n < 4; n++)
        frac *= 10;
    const uint64_t mag = whole * XCL_PRICE_SCALE;
    if (frac > limit - mag)
        return XCL_ERANGE;
    const uint64_t v = mag + frac;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v; /* 0 - 2^63 wraps to INT64_MIN */
    return XCL_OK;
}

int xclPriceFormat(int64_t price, char *buf, size_t len)
{
    const uint64_t mag = price < 0 ? 0 - (uint64_t)price : (uint64_t)price;
    const uint64_t whole = mag / XCL_PRICE_SCALE;
    unsigned frac = (unsigned)(mag % XCL_PRICE_SCALE);
    const char *sign = price < 0 ? "-" : "";
    if (frac == 0)
        return snprintf(buf, len, "%s%" PRIu64, sign, whole);
    int digits = 4;
    while (frac % 10 == 0) {
        frac /= 10;
        digits--;
    }
    return snprintf(buf, len, "%s%" PRIu64 ".%0*u", sign, whole, digits, frac);
}

static int xclHexDigit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int xclTokenParse(const char *hex, uint8_t token[XOE_TOKEN_SIZE])
{
    uint8_t t[XOE_TOKEN_SIZE];
    if (hex == NULL || token == NULL)
        return XCL_ESYNTAX;
    for (unsigned i = 0; i < XOE_TOKEN_SIZE; i++) {
        const int hi = xclHexDigit(hex[2 * i]);
        const int lo = hi < 0 ? -1 : xclHexDigit(hex[2 * i + 1]);
        if (lo < 0)
            return XCL_ESYNTAX;
        t[i] = (uint8_t)(hi << 4 | lo);
    }
    if (hex[2 * XOE_TOKEN_SIZE] != '\0')
        return XCL_ESYNTAX;
    memcpy(token, t, sizeof t);
    return XCL_OK;
}

int xclSessionParse(const char *spec, uint32_t *sessionId, uint8_t token[XOE_TOKEN_SIZE])
{
    if (spec == NULL || sessionId == NULL || token == NULL)
        return XCL_ESYNTAX;
    uint64_t id = 0;
    const char *p = spec;
    for (; *p >= '0' && *p <= '9'; p++) {
        id = id * 10 + (uint64_t)(*p - '0');
        if (id > UINT32_MAX)
            return XCL_ESYNTAX;
    }
    if (p == spec || *p != ':' || id == 0)
        return XCL_ESYNTAX;
    uint8_t t[XOE_TOKEN_SIZE];
    if (xclTokenParse(p + 1, t) != XCL_OK)
        return XCL_ESYNTAX;
    *sessionId = (uint32_t)id;
    memcpy(token, t, sizeof t);
    return XCL_OK;
}

/* ==== sending =============================================================== */

/* Sends one finished frame. A datagram the socket refuses counts as lost: the
 * protocol recovers it (gap report, retransmission). Returns 0 or -1. */
static int xclSendRaw(xclSession *s, const uint8_t *buf, size_t len, unsigned msgs, uint64_t now)
{
    for (int tries = 0; tries < 2; tries++) {
        const ssize_t n = send(s->fd, buf, len, MSG_NOSIGNAL);
        if (n == (ssize_t)len) {
            s->lastSendNs = now;
            s->st.datagramsOut++;
            s->st.messagesOut += msgs;
            return 0;
        }
        if (n < 0 && errno == EINTR)
            continue;
        /* A connected UDP socket reports an earlier ICMP error once on the
         * next call; the datagram itself was not sent: try once more. */
        if (n < 0 && errno == ECONNREFUSED && tries == 0)
            continue;
        break;
    }
    const int e = errno;
    s->st.sendErrors++;
    xclSetErr(s, "send: %s", strerror(e));
    errno = e;
    return -1;
}

static int xclSendWriter(xclSession *s, xoeWriter *w, uint64_t now)
{
    const size_t len = xoeWriterFinish(w);
    if (len == 0)
        return 0;
    return xclSendRaw(s, w->buf, len, w->count, now);
}

/* Sends the batch being built, if any. */
static int xclFlushBatch(xclSession *s, uint64_t now)
{
    if (!s->wOpen)
        return 0;
    s->wOpen = 0;
    return xclSendWriter(s, &s->w, now);
}

/* A frame holding one session message (Logon, Logout, Heartbeat,
 * RetransmitRequest); its seq is the number of our next request not yet
 * sent (the first of a batch being built). */
static int xclSendSession(xclSession *s, uint8_t type, const void *msg, uint64_t now)
{
    uint8_t buf[64];
    xoeWriter w;
    const uint64_t seq = s->wOpen ? s->nextSeq - s->w.sequenced : s->nextSeq;
    xoeWriterInit(&w, buf, sizeof buf, s->sessionId, seq, 0);
    if (xoeAppend(&w, type, msg) != XOE_OK)
        return -1;
    return xclSendWriter(s, &w, now);
}

static int xclSendHeartbeat(xclSession *s, uint64_t now)
{
    const xoeHeartbeat hb = {{0, 0, 0}, 0};
    s->st.heartbeatsOut++;
    return xclSendSession(s, XOE_MSG_HEARTBEAT, &hb, now);
}

static int xclSendLogon(xclSession *s, uint32_t heartbeatMs, uint64_t now)
{
    xoeLogon l;
    memset(&l, 0, sizeof l);
    l.heartbeatMs = heartbeatMs;
    memcpy(l.token, s->token, XOE_TOKEN_SIZE);
    l.nextOutSeq = s->E != 0 ? s->E : s->firstNextOutSeq;
    s->st.logonsOut++;
    return xclSendSession(s, XOE_MSG_LOGON, &l, now);
}

static int xclSendLogout(xclSession *s, uint64_t now)
{
    const xoeLogout lo = {{0, 0, 0}, 0};
    return xclSendSession(s, XOE_MSG_LOGOUT, &lo, now);
}

static xclPend *xclPendAt(xclSession *s, uint32_t i)
{
    return &s->pend[(s->pendHead + i) & s->mask];
}

static void xclPendPop(xclSession *s, uint32_t n)
{
    s->pendHead = (s->pendHead + n) & s->mask;
    s->pendCount -= n;
}

/* xchg expects number x next: our requests below x were processed; the
 * others are numbered again from x (they normally already are) and sent
 * again. Used after LogonAccepted and SessionReject{GAP}. */
static void xclResendFrom(xclSession *s, uint64_t x, uint64_t now)
{
    uint32_t done = 0;
    while (done < s->pendCount && xclPendAt(s, done)->seq < x)
        done++;
    xclPendPop(s, done);
    if (x > 0 && x - 1 > s->ackedSeq)
        s->ackedSeq = x - 1;
    s->wOpen = 0; /* a batch being built is in pend: it goes out below */
    s->nextSeq = x + s->pendCount;
    if (s->pendCount == 0) {
        s->resendFrom = 0;
        return;
    }
    s->resendFrom = x;
    s->resendNs = now;
    xoeWriter w;
    int open = 0;
    for (uint32_t i = 0; i < s->pendCount; i++) {
        xclPend *p = xclPendAt(s, i);
        p->seq = x + i;
        if (open && xoeWriterRoom(&w) < xoeMsgSize(p->type)) {
            xclSendWriter(s, &w, now);
            open = 0;
        }
        if (!open) {
            xoeWriterInit(&w, s->tx, sizeof s->tx, s->sessionId, p->seq, 0);
            open = 1;
        }
        xoeAppend(&w, p->type, &p->u); /* validated when first queued */
    }
    if (open)
        xclSendWriter(s, &w, now);
    s->st.resent += s->pendCount;
}

/* Queues (batch) or sends one request. `msg` is the xoe struct of `type`. */
static int xclSubmit(xclSession *s, uint8_t type, const void *msg, uint64_t clOrdId,
                     uint64_t orderId)
{
    if (s->state != XCL_STATE_LOGGED_ON) {
        xclSetErr(s, "not logged on");
        return XCL_ESTATE;
    }
    if (s->pendCount >= s->window) {
        xclSetErr(s, "%u requests unanswered (window full)", s->pendCount);
        return XCL_EAGAIN;
    }
    const uint64_t now = xclNow();
    const uint16_t size = xoeMsgSize(type);
    if (s->wOpen && xoeWriterRoom(&s->w) < size)
        xclFlushBatch(s, now);
    const int fresh = !s->wOpen;
    if (fresh)
        xoeWriterInit(&s->w, s->tx, sizeof s->tx, s->sessionId, s->nextSeq, 0);
    const int rc = xoeAppend(&s->w, type, msg);
    if (rc != XOE_OK) {
        if (fresh)
            s->wOpen = 0;
        xclSetErr(s, "invalid %s: %s", xoeTypeName(type), xoeErrorName(rc));
        return XCL_EINVAL;
    }
    s->wOpen = 1;
    xclPend *p = xclPendAt(s, s->pendCount);
    memset(p, 0, sizeof *p);
    memcpy(&p->u, msg, size);
    p->seq = s->nextSeq++;
    p->type = type;
    p->clOrdId = clOrdId;
    p->orderId = orderId;
    s->pendCount++;
    if (!s->batch)
        xclFlushBatch(s, now);
    return XCL_OK;
}

static uint64_t xclTakeClOrdId(xclSession *s, uint64_t given)
{
    return given != 0 ? given : s->nextClOrdId++;
}

int xclNewOrder(xclSession *s, const xclOrder *o, uint64_t *clOrdIdOut)
{
    if (s == NULL || o == NULL)
        return XCL_EINVAL;
    if (o->qty == 0) {
        xclSetErr(s, "NewOrder: quantity 0");
        return XCL_EINVAL;
    }
    xoeNewOrder m;
    memset(&m, 0, sizeof m);
    m.instrument = o->instrument;
    m.side = o->side;
    m.offset = o->offset;
    m.price = o->price;
    m.qty = o->qty;
    m.minQty = o->minQty;
    m.priceType = o->priceType;
    m.timeCondition = o->timeCondition;
    m.volumeCondition = o->volumeCondition;
    const uint64_t saved = s->nextClOrdId;
    m.clOrdId = xclTakeClOrdId(s, o->clOrdId);
    const int rc = xclSubmit(s, XOE_MSG_NEW_ORDER, &m, m.clOrdId, 0);
    if (rc != XCL_OK) {
        s->nextClOrdId = saved;
        return rc;
    }
    if (clOrdIdOut)
        *clOrdIdOut = m.clOrdId;
    return XCL_OK;
}

int xclCancel(xclSession *s, uint64_t orderId, uint64_t clOrdId, uint64_t *clOrdIdOut)
{
    if (s == NULL)
        return XCL_EINVAL;
    xoeCancel m;
    memset(&m, 0, sizeof m);
    m.orderId = orderId;
    const uint64_t saved = s->nextClOrdId;
    m.clOrdId = xclTakeClOrdId(s, clOrdId);
    const int rc = xclSubmit(s, XOE_MSG_CANCEL, &m, m.clOrdId, orderId);
    if (rc != XCL_OK) {
        s->nextClOrdId = saved;
        return rc;
    }
    if (clOrdIdOut)
        *clOrdIdOut = m.clOrdId;
    return XCL_OK;
}

int xclReplace(xclSession *s, uint64_t orderId, int64_t price, uint32_t qty, uint64_t clOrdId,
               uint64_t *clOrdIdOut)
{
    if (s == NULL)
        return XCL_EINVAL;
    if (qty == 0) {
        xclSetErr(s, "Replace: quantity 0");
        return XCL_EINVAL;
    }
    xoeReplace m;
    memset(&m, 0, sizeof m);
    m.orderId = orderId;
    m.price = price;
    m.qty = qty;
    const uint64_t saved = s->nextClOrdId;
    m.clOrdId = xclTakeClOrdId(s, clOrdId);
    const int rc = xclSubmit(s, XOE_MSG_REPLACE, &m, m.clOrdId, orderId);
    if (rc != XCL_OK) {
        s->nextClOrdId = saved;
        return rc;
    }
    if (clOrdIdOut)
        *clOrdIdOut = m.clOrdId;
    return XCL_OK;
}

int xclFlush(xclSession *s)
{
    if (s == NULL)
        return XCL_EINVAL;
    return xclFlushBatch(s, xclNow()) == 0 ? XCL_OK : XCL_ESYS;
}

/* ==== receiving ============================================================= */

static void xclPushEvent(xclSession *s, const xclReport *r)
{
    if (s->evCount == XCL_EVENTS)
        return; /* 64 session events unread: the oldest matter most */
    xclEvent *e = &s->ev[(s->evHead + s->evCount) % XCL_EVENTS];
    e->pos = s->E;
    e->r = *r;
    s->evCount++;
}

static void xclEventFromMsg(xclSession *s, const xoeMsg *m, int retransmitted, uint64_t now)
{
    xclReport r;
    memset(&r, 0, sizeof r);
    r.type = m->type;
    r.retransmitted = retransmitted;
    r.rxNs = now;
    r.msg = *m;
    xclPushEvent(s, &r);
}

/* Does this in-order report answer request p? */
static int xclAnswers(const xclPend *p, const xoeMsg *m)
{
    switch (p->type) {
    case XOE_MSG_NEW_ORDER:
        return (m->type == XOE_MSG_ACCEPTED && m->u.accepted.clOrdId == p->clOrdId) ||
               (m->type == XOE_MSG_REJECTED && m->u.rejected.clOrdId == p->clOrdId);
    case XOE_MSG_CANCEL:
        return (m->type == XOE_MSG_CANCELLED && m->u.cancelled.reason == XOE_CXL_USER &&
                m->u.cancelled.orderId == p->orderId) ||
               (m->type == XOE_MSG_CANCEL_REJECTED && m->u.cancelRejected.clOrdId == p->clOrdId);
    case XOE_MSG_REPLACE:
        return (m->type == XOE_MSG_REPLACED && m->u.replaced.clOrdId == p->clOrdId) ||
               (m->type == XOE_MSG_CANCEL_REJECTED && m->u.cancelRejected.clOrdId == p->clOrdId);
    default:
        return 0;
    }
}

/* A report has arrived in order: if it answers a pending request, that
 * request and every earlier one were processed. */
static void xclAck(xclSession *s, const xoeMsg *m)
{
    const uint32_t n = s->pendCount < XCL_ACK_SCAN ? s->pendCount : XCL_ACK_SCAN;
    for (uint32_t i = 0; i < n; i++) {
        const xclPend *p = xclPendAt(s, i);
        if (xclAnswers(p, m)) {
            if (p->seq > s->ackedSeq)
                s->ackedSeq = p->seq;
            xclPendPop(s, i + 1);
            return;
        }
    }
}

/* Moves E over the reports received contiguously. */
static void xclAdvance(xclSession *s)
{
    while (s->E - s->D < s->window) {
        const xclHeld *h = &s->hold[s->E & s->mask];
        if (h->seq != s->E)
            break;
        xclAck(s, &h->msg);
        s->E++;
        s->contig++;
    }
}

static void xclOnApp(xclSession *s, const xoeMsg *m, int retransmitted, uint64_t now)
{
    const uint64_t q = m->seq;
    if (s->E == 0)
        return; /* before the first LogonAccepted told us where we are */
    if (q < s->E) {
        s->st.duplicates++;
        return;
    }
    if (q - s->D >= s->window) {
        s->st.windowDrops++;
        return;
    }
    xclHeld *h = &s->hold[q & s->mask];
    if (h->seq == q) {
        s->st.duplicates++;
        return;
    }
    h->seq = q;
    h->rxNs = now;
    h->retransmitted = (uint8_t)retransmitted;
    h->msg = *m;
    if (q > s->maxSeen)
        s->maxSeen = q;
    if (q != s->E)
        s->st.outOfOrder++;
    xclAdvance(s);
}

/* First number after E that is held, or `limit` if none below it. */
static uint64_t xclNextHeld(const xclSession *s, uint64_t limit)
{
    for (uint64_t q = s->E + 1; q < limit && q - s->D < s->window; q++)
        if (s->hold[q & s->mask].seq == q)
            return q;
    return limit;
}

/* Asks for the hole at E when there is one and no request for it is in
 * flight (or the last one is older than retransmitMs). */
static void xclGapCheck(xclSession *s, uint64_t now)
{
    if (s->state != XCL_STATE_LOGGED_ON || s->E == 0)
        return;
    uint64_t hi = s->serverNext;
    if (s->maxSeen + 1 > hi)
        hi = s->maxSeen + 1;
    if (hi <= s->E) {
        s->rtActive = 0;
        return;
    }
    const int fresh = now - s->rtSentNs >= s->rtNs;
    if (s->rtActive && s->E < s->rtEnd && s->E >= s->rtFrom && !fresh)
        return;
    if (!s->rtActive && s->rtLastE == s->E && !fresh)
        return;
    if (s->E - s->D >= s->window)
        return; /* no room to take the answer: the caller must read first */
    uint64_t end = xclNextHeld(s, hi < s->E + XOE_RETRANSMIT_MAX ? hi : s->E + XOE_RETRANSMIT_MAX);
    xoeRetransmitRequest rr;
    memset(&rr, 0, sizeof rr);
    rr.fromSeq = s->E;
    rr.count = (uint32_t)(end - s->E);
    s->rtActive = 1;
    s->rtFrom = s->E;
    s->rtEnd = end;
    s->rtSentNs = now;
    s->rtLastE = s->E;
    s->st.retransmitRequests++;
    xclSendSession(s, XOE_MSG_RETRANSMIT_REQUEST, &rr, now);
}

static void xclOnRetransmitEnd(xclSession *s, const xoeRetransmitEnd *re, uint64_t now)
{
    s->rtActive = 0;
    if (!(re->flags & XOE_RT_TOO_OLD) || s->E == 0)
        return;
    /* [fromSeq, firstSeq) (or the whole range when nothing was sent) has
     * left xchg's history. */
    uint64_t lostEnd = re->sent ? re->firstSeq : re->fromSeq + re->count;
    uint64_t known = s->serverNext > s->maxSeen + 1 ? s->serverNext : s->maxSeen + 1;
    if (lostEnd > known)
        lostEnd = known;
    lostEnd = xclNextHeld(s, lostEnd);
    if (re->fromSeq > s->E || lostEnd <= s->E)
        return;
    xclReport r;
    memset(&r, 0, sizeof r);
    r.type = XCL_RPT_LOST;
    r.rxNs = now;
    r.lostFrom = s->E;
    r.lostCount = lostEnd - s->E;
    xclPushEvent(s, &r);
    s->st.lost += r.lostCount;
    xclSetErr(s, "%" PRIu64 " reports from %" PRIu64 " left xchg's history", r.lostCount,
              r.lostFrom);
    s->E = lostEnd;
    xclAdvance(s);
}

static void xclOnLogonAccepted(xclSession *s, const xoeLogonAccepted *la, uint64_t now)
{
    if (s->state != XCL_STATE_LOGGING_ON)
        return; /* a repeated answer to a repeated Logon */
    s->hbMs = la->heartbeatMs ? la->heartbeatMs : XOE_HEARTBEAT_DEFAULT_MS;
    s->hbNs = (uint64_t)s->hbMs * XCL_NS_PER_MS;
    s->tradingDay = la->tradingDay;
    s->segment = la->segment;
    const uint64_t next = la->nextOutSeq ? la->nextOutSeq : 1;
    if (s->E == 0)
        s->E = s->D = next;
    if (next > s->serverNext)
        s->serverNext = next;
    s->state = XCL_STATE_LOGGED_ON;
    s->logonResult = XCL_LOGON_ACCEPTED;
    s->lastRecvNs = now;
    s->rtActive = 0;
    if (s->E < next) { /* xchg replays [E, next) after LogonAccepted */
        s->rtActive = 1;
        s->rtFrom = s->rtLastE = s->E;
        s->rtEnd = next;
        s->rtSentNs = now;
    }
    s->ackedSeq = la->nextInSeq ? la->nextInSeq - 1 : 0;
    xclResendFrom(s, la->nextInSeq ? la->nextInSeq : 1, now);
}

static void xclOnSessionReject(xclSession *s, const xoeMsg *m, int retransmitted, uint64_t now)
{
    const xoeSessionReject *sr = &m->u.sessionReject;
    if (sr->reason != XOE_SR_GAP) {
        if (sr->reason == XOE_SR_NOT_LOGGED_ON) {
            /* news only when we believed we were logged on and did not ask
             * to leave (xchg logged us out and its LoggedOut was lost) */
            if (s->state != XCL_STATE_LOGGED_ON || s->loggingOut) {
                s->st.staleDropped++;
                if (s->loggingOut)
                    s->state = XCL_STATE_LOGGED_OUT; /* confirms our Logout */
                return;
            }
            s->state = XCL_STATE_LOGGED_OUT;
        }
        xclEventFromMsg(s, m, retransmitted, now);
        return;
    }
    s->st.gapRejects++;
    const uint64_t x = sr->expectedSeq;
    if (s->state != XCL_STATE_LOGGED_ON || x <= s->ackedSeq || x > s->nextSeq)
        return; /* stale: those numbers were processed, or never sent */
    if (x == s->resendFrom && now - s->resendNs < s->rtNs)
        return; /* one of several rejects for frames sent before our resend */
    xclResendFrom(s, x, now);
}

static void xclOnDatagram(xclSession *s, const uint8_t *buf, size_t len, uint64_t now)
{
    xoeFrame f;
    if (xoeFrameParse(buf, len, XOE_DIR_TO_CLIENT, &f, NULL) != XOE_OK) {
        s->st.malformed++;
        return;
    }
    if (f.session != s->sessionId) {
        s->st.foreign++;
        return;
    }
    s->st.datagramsIn++;
    s->lastRecvNs = now;
    const uint64_t next = f.sequenced ? f.seq + f.sequenced : f.seq;
    if (next > s->serverNext)
        s->serverNext = next;
    const int rt = (f.flags & XOE_FLAG_RETRANSMIT) != 0;
    xoeIter it;
    xoeMsg m;
    xoeIterInit(&it, &f);
    while (xoeIterNext(&it, &m)) {
        s->st.messagesIn++;
        if (xoeIsSequenced(m.type)) {
            xclOnApp(s, &m, rt, now);
            continue;
        }
        switch (m.type) {
        case XOE_MSG_LOGON_ACCEPTED:
            xclOnLogonAccepted(s, &m.u.logonAccepted, now);
            break;
        case XOE_MSG_LOGON_REJECTED:
            if (s->state == XCL_STATE_LOGGING_ON) {
                s->lastRejectCode = m.u.logonRejected.code;
                s->logonResult = XCL_LOGON_REJECTED;
                s->state = XCL_STATE_LOGGED_OUT;
            }
            break;
        case XOE_MSG_LOGGED_OUT:
            /* Reported when it ends the logged-on session. Otherwise it is
             * about an earlier binding (during a logon: e.g. the timeout of
             * a session whose LogonAccepted was lost) or a repeat. */
            if (s->state != XCL_STATE_LOGGED_ON) {
                s->st.staleDropped++;
                break;
            }
            s->state = XCL_STATE_LOGGED_OUT;
            xclEventFromMsg(s, &m, rt, now);
            break;
        case XOE_MSG_SESSION_REJECT:
            xclOnSessionReject(s, &m, rt, now);
            break;
        case XOE_MSG_RETRANSMIT_END:
            xclOnRetransmitEnd(s, &m.u.retransmitEnd, now);
            break;
        default: /* ServerHeartbeat: its seq was taken above; unknown session types */
            break;
        }
    }
    xclGapCheck(s, now);
}

/* Reads what the socket holds (a bounded burst). Returns 0 or XCL_ESYS. */
static int xclReadAll(xclSession *s)
{
    for (int i = 0; i < XCL_RECV_BURST; i++) {
        const ssize_t n = recv(s->fd, s->rx, sizeof s->rx, MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            if (errno == EINTR)
                continue;
            if (errno == ECONNREFUSED || errno == EHOSTUNREACH || errno == ENETUNREACH) {
                /* ICMP for an earlier datagram: nobody at the server's port
                 * (yet). Lost like any datagram; keep reading. */
                xclSetErr(s, "server %s", strerror(errno));
                s->refused = 1;
                continue;
            }
            xclSetErr(s, "recv: %s", strerror(errno));
            return XCL_ESYS;
        }
        xclOnDatagram(s, s->rx, (size_t)n, xclNow());
    }
    return 0;
}

/* Heartbeat, retransmission and timeout duties. */
static void xclTimers(xclSession *s, uint64_t now)
{
    if (s->state != XCL_STATE_LOGGED_ON)
        return;
    if (now - s->lastRecvNs >= (uint64_t)XOE_TIMEOUT_INTERVALS * s->hbNs) {
        s->state = XCL_STATE_LOGGED_OUT;
        s->rtActive = 0;
        xclReport r;
        memset(&r, 0, sizeof r);
        r.type = XCL_RPT_SESSION_LOST;
        r.rxNs = now;
        xclPushEvent(s, &r);
        xclSetErr(s, "nothing from xchg for %u ms: session lost", XOE_TIMEOUT_INTERVALS * s->hbMs);
        return;
    }
    xclGapCheck(s, now);
    if (now - s->lastSendNs >= s->hbNs) {
        xclFlushBatch(s, now);
        if (now - s->lastSendNs >= s->hbNs)
            xclSendHeartbeat(s, now);
    }
}

/* Takes the next report: an event due at this point, else the report
 * numbered D if received. Returns 1 or 0. */
static int xclTake(xclSession *s, xclReport *out)
{
    if (s->evCount && s->ev[s->evHead].pos <= s->D) {
        *out = s->ev[s->evHead].r;
        s->evHead = (s->evHead + 1) % XCL_EVENTS;
        s->evCount--;
        if (out->type == XCL_RPT_LOST && out->lostFrom + out->lostCount > s->D)
            s->D = out->lostFrom + out->lostCount;
        return 1;
    }
    if (s->D >= s->E)
        return 0;
    xclHeld *h = &s->hold[s->D & s->mask];
    if (h->seq != s->D)
        return 0;
    memset(out, 0, sizeof *out);
    out->type = h->msg.type;
    out->retransmitted = h->retransmitted;
    out->seq = h->seq;
    out->clOrdId = h->msg.length >= 16 ? xclLoad64(h->msg.u.raw + 8) : 0;
    out->rxNs = h->rxNs;
    out->msg = h->msg;
    h->seq = 0;
    s->D++;
    s->contig--;
    return 1;
}

/* ==== timing ================================================================ */

static uint64_t xclDeadline(const xclSession *s, uint64_t now)
{
    if (s->state != XCL_STATE_LOGGED_ON)
        return UINT64_MAX;
    uint64_t t = s->lastSendNs + s->hbNs;
    const uint64_t dead = s->lastRecvNs + (uint64_t)XOE_TIMEOUT_INTERVALS * s->hbNs;
    if (dead < t)
        t = dead;
    uint64_t hi = s->serverNext > s->maxSeen + 1 ? s->serverNext : s->maxSeen + 1;
    if (s->E != 0 && hi > s->E) {
        const uint64_t rt = s->rtSentNs + s->rtNs;
        if (rt < t)
            t = rt;
    }
    if (s->wOpen)
        t = now;
    return t;
}

static int xclMsUntil(uint64_t t, uint64_t now)
{
    if (t == UINT64_MAX)
        return -1;
    if (t <= now)
        return 0;
    const uint64_t ms = (t - now + XCL_NS_PER_MS - 1) / XCL_NS_PER_MS;
    return ms > 3600000 ? 3600000 : (int)ms;
}

int xclNextTimeoutMs(const xclSession *s)
{
    if (s == NULL)
        return -1;
    const uint64_t now = xclNow();
    return xclMsUntil(xclDeadline(s, now), now);
}

/* Waits for the socket to be readable for at most ms (-1: no limit).
 * Returns 0 or XCL_ESYS. */
static int xclWait(xclSession *s, int ms)
{
    struct pollfd p = {s->fd, POLLIN, 0};
    const int rc = poll(&p, 1, ms);
    if (rc < 0 && errno != EINTR) {
        xclSetErr(s, "poll: %s", strerror(errno));
        return XCL_ESYS;
    }
    return 0;
}

/* ==== public: polling ======================================================= */

int xclService(xclSession *s)
{
    if (s == NULL)
        return XCL_EINVAL;
    xclFlushBatch(s, xclNow());
    const int rc = xclReadAll(s);
    if (rc < 0)
        return rc;
    xclTimers(s, xclNow());
    return (int)(s->evCount + s->contig);
}

int xclPoll(xclSession *s, int timeoutMs, xclReport *out)
{
    if (s == NULL || out == NULL)
        return XCL_EINVAL;
    const uint64_t start = xclNow();
    const uint64_t deadline =
        timeoutMs < 0 ? UINT64_MAX : start + (uint64_t)timeoutMs * XCL_NS_PER_MS;
    for (;;) {
        if (xclTake(s, out))
            return 1;
        const int rc = xclService(s);
        if (rc < 0)
            return rc;
        if (xclTake(s, out))
            return 1;
        const uint64_t now = xclNow();
        if (now >= deadline)
            return 0;
        int wait = xclMsUntil(deadline, now);
        const int duty = xclMsUntil(xclDeadline(s, now), now);
        if (duty >= 0 && (wait < 0 || duty < wait))
            wait = duty;
        if (xclWait(s, wait) < 0)
            return XCL_ESYS;
    }
}

int xclFd(const xclSession *s)
{
    return s ? s->fd : -1;
}

/* ==== public: session life ================================================== */

static uint32_t xclPow2(uint32_t v)
{
    uint32_t p = 1;
    while (p < v)
        p <<= 1;
    return p;
}

xclSession *xclOpen(const char *serverIp, uint16_t port, uint32_t sessionId,
                    const uint8_t token[XOE_TOKEN_SIZE], const xclOptions *opt, char *err,
                    size_t errlen)
{
    static const xclOptions defaults;
    if (opt == NULL)
        opt = &defaults;
    if (err == NULL)
        errlen = 0;
    if (errlen > 0)
        err[0] = '\0';
    struct sockaddr_in srv, local;
    memset(&srv, 0, sizeof srv);
    memset(&local, 0, sizeof local);
    srv.sin_family = local.sin_family = AF_INET;
    srv.sin_port = htons(port);
    local.sin_port = htons(opt->localPort);
    if (serverIp == NULL || inet_pton(AF_INET, serverIp, &srv.sin_addr) != 1 || port == 0) {
        snprintf(err, errlen, "bad server address %s:%u", serverIp ? serverIp : "(null)", port);
        return NULL;
    }
    if (opt->localIp && inet_pton(AF_INET, opt->localIp, &local.sin_addr) != 1) {
        snprintf(err, errlen, "bad local address %s", opt->localIp);
        return NULL;
    }
    if (token == NULL || opt->window > XCL_MAX_WINDOW || opt->rcvbuf < 0) {
        snprintf(err, errlen, "bad argument (token NULL, window above %u or rcvbuf < 0)",
                 XCL_MAX_WINDOW);
        return NULL;
    }
    xclSession *s = calloc(1, sizeof *s);
    const uint32_t window = xclPow2(opt->window ? opt->window : XCL_DEFAULT_WINDOW);
    if (s) {
        s->fd = -1;
        s->pend = calloc(window, sizeof *s->pend);
        s->hold = calloc(window, sizeof *s->hold);
    }
    if (s == NULL || s->pend == NULL || s->hold == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    s->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s->fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        goto fail;
    }
    if (opt->rcvbuf > 0 &&
        setsockopt(s->fd, SOL_SOCKET, SO_RCVBUF, &opt->rcvbuf, sizeof opt->rcvbuf) != 0) {
        snprintf(err, errlen, "SO_RCVBUF: %s", strerror(errno));
        goto fail;
    }
    if ((opt->localIp || opt->localPort) &&
        bind(s->fd, (const struct sockaddr *)&local, sizeof local) != 0) {
        snprintf(err, errlen, "bind %s:%u: %s", opt->localIp ? opt->localIp : "0.0.0.0",
                 opt->localPort, strerror(errno));
        goto fail;
    }
    if (connect(s->fd, (const struct sockaddr *)&srv, sizeof srv) != 0) {
        snprintf(err, errlen, "connect %s:%u: %s", serverIp, port, strerror(errno));
        goto fail;
    }
    socklen_t alen = sizeof local;
    if (getsockname(s->fd, (struct sockaddr *)&local, &alen) == 0)
        s->localPort = ntohs(local.sin_port);
    s->sessionId = sessionId;
    memcpy(s->token, token, XOE_TOKEN_SIZE);
    s->batch = opt->batch != 0;
    s->window = window;
    s->mask = window - 1;
    s->rtNs = (uint64_t)(opt->retransmitMs ? opt->retransmitMs : XCL_DEFAULT_RT_MS) * XCL_NS_PER_MS;
    s->logonRetryNs =
        (uint64_t)(opt->logonRetryMs ? opt->logonRetryMs : XCL_DEFAULT_LOGON_MS) * XCL_NS_PER_MS;
    s->firstNextOutSeq = opt->nextOutSeq;
    s->E = s->D = opt->nextOutSeq; /* 0: unknown until LogonAccepted */
    s->nextSeq = opt->nextInSeq ? opt->nextInSeq : 1;
    s->ackedSeq = s->nextSeq - 1;
    s->nextClOrdId = opt->firstClOrdId ? opt->firstClOrdId : 1;
    s->hbMs = XOE_HEARTBEAT_DEFAULT_MS;
    s->hbNs = (uint64_t)s->hbMs * XCL_NS_PER_MS;
    s->state = XCL_STATE_LOGGED_OUT;
    return s;
fail:
    if (s) {
        if (s->fd >= 0)
            close(s->fd);
        free(s->pend);
        free(s->hold);
        free(s);
    }
    return NULL;
}

void xclClose(xclSession *s)
{
    if (s == NULL)
        return;
    close(s->fd);
    free(s->pend);
    free(s->hold);
    free(s);
}

int xclLogon(xclSession *s, uint32_t heartbeatMs, int timeoutMs)
{
    if (s == NULL)
        return XCL_EINVAL;
    uint64_t now = xclNow();
    const uint64_t deadline =
        timeoutMs < 0 ? UINT64_MAX : now + (uint64_t)timeoutMs * XCL_NS_PER_MS;
    s->wOpen = 0; /* a batch being built is in pend: resent after the logon */
    s->state = XCL_STATE_LOGGING_ON;
    s->logonResult = XCL_LOGON_WAITING;
    s->lastRejectCode = 0;
    s->refused = 0;
    if (xclSendLogon(s, heartbeatMs, now) != 0 && errno != ECONNREFUSED)
        goto sysfail;
    uint64_t sentAt = now;
    for (;;) {
        if (xclReadAll(s) < 0)
            goto sysfail;
        if (s->logonResult == XCL_LOGON_ACCEPTED)
            return XCL_OK;
        if (s->logonResult == XCL_LOGON_REJECTED) {
            xclSetErr(s, "logon rejected: %u (%s)", s->lastRejectCode,
                      xclCodeName(s->lastRejectCode));
            return XCL_EREJECTED;
        }
        now = xclNow();
        if (now >= deadline) {
            s->state = XCL_STATE_LOGGED_OUT;
            xclSetErr(s, "no answer to Logon within %d ms%s", timeoutMs,
                      s->refused ? " (server port unreachable)" : "");
            return XCL_ETIMEOUT;
        }
        if (now - sentAt >= s->logonRetryNs) {
            if (xclSendLogon(s, heartbeatMs, now) != 0 && errno != ECONNREFUSED)
                goto sysfail;
            sentAt = now;
        }
        const uint64_t t =
            sentAt + s->logonRetryNs < deadline ? sentAt + s->logonRetryNs : deadline;
        if (xclWait(s, xclMsUntil(t, now)) < 0)
            goto sysfail;
    }
sysfail:
    s->state = XCL_STATE_LOGGED_OUT;
    return XCL_ESYS;
}

int xclLogout(xclSession *s, int timeoutMs)
{
    if (s == NULL)
        return XCL_EINVAL;
    if (s->state != XCL_STATE_LOGGED_ON) {
        xclSetErr(s, "not logged on");
        return XCL_ESTATE;
    }
    uint64_t now = xclNow();
    const uint64_t deadline =
        timeoutMs < 0 ? UINT64_MAX : now + (uint64_t)timeoutMs * XCL_NS_PER_MS;
    xclFlushBatch(s, now);
    xclSendLogout(s, now);
    s->loggingOut = 1;
    uint64_t sentAt = now;
    int rc = XCL_OK;
    for (;;) {
        if (xclReadAll(s) < 0) {
            rc = XCL_ESYS;
            break;
        }
        if (s->state != XCL_STATE_LOGGED_ON)
            break; /* LoggedOut, or NOT_LOGGED_ON after a lost LoggedOut */
        now = xclNow();
        if (now >= deadline) {
            xclSetErr(s, "no LoggedOut within %d ms", timeoutMs);
            rc = XCL_ETIMEOUT;
            break;
        }
        if (now - sentAt >= s->logonRetryNs) {
            xclSendLogout(s, now);
            sentAt = now;
        }
        const uint64_t t =
            sentAt + s->logonRetryNs < deadline ? sentAt + s->logonRetryNs : deadline;
        if (xclWait(s, xclMsUntil(t, now)) < 0) {
            rc = XCL_ESYS;
            break;
        }
    }
    s->loggingOut = 0;
    s->state = XCL_STATE_LOGGED_OUT;
    return rc;
}

/* ==== public: information =================================================== */

void xclGetInfo(const xclSession *s, xclInfo *out)
{
    if (s == NULL || out == NULL)
        return;
    *out = s->st;
    out->state = s->state;
    out->sessionId = s->sessionId;
    out->heartbeatMs = s->hbMs;
    out->tradingDay = s->tradingDay;
    out->segment = s->segment;
    out->lastRejectCode = s->lastRejectCode;
    out->nextInSeq = s->nextSeq;
    out->nextOutSeq = s->E;
    out->unanswered = s->pendCount;
    out->ready = s->evCount + s->contig;
    out->localPort = s->localPort;
}

const char *xclLastError(const xclSession *s)
{
    return s ? s->err : "";
}

/* ==== report rendering ====================================================== */

static const char *xclSideName(unsigned side)
{
    return side == XOE_BUY ? "BUY" : side == XOE_SELL ? "SELL" : "?";
}

static const char *xclCancelReasonName(unsigned r)
{
    static const char *const names[] = {"USER",       "IOC",     "FOK",  "MIN_QTY",
                                        "SELF_TRADE", "EXPIRED", "ADMIN"};
    return r < sizeof names / sizeof names[0] ? names[r] : "?";
}

static const char *xclLogoutReasonName(unsigned r)
{
    static const char *const names[] = {"USER", "TIMEOUT", "SUPERSEDED", "ADMIN", "SHUTDOWN"};
    return r < sizeof names / sizeof names[0] ? names[r] : "?";
}

static const char *xclSessionRejectName(unsigned r)
{
    static const char *const names[] = {"GAP", "DUPLICATE_EXPIRED", "MALFORMED", "NOT_LOGGED_ON"};
    return r < sizeof names / sizeof names[0] ? names[r] : "?";
}

static const char *xclLiquidityName(unsigned l)
{
    static const char *const names[] = {"MAKER", "TAKER", "AUCTION"};
    return l < sizeof names / sizeof names[0] ? names[l] : "?";
}

int xclReportFormat(const xclReport *r, char *buf, size_t len)
{
    char p1[XCL_PRICE_STRLEN], p2[XCL_PRICE_STRLEN];
    const xoeMsg *m = &r->msg;
    const char *rt = r->retransmitted ? " (resent)" : "";
    switch (r->type) {
    case XOE_MSG_ACCEPTED: {
        const xoeAccepted *a = &m->u.accepted;
        xclPriceFormat(a->price, p1, sizeof p1);
        return snprintf(buf, len,
                        "Accepted seq=%" PRIu64 " clOrdId=%" PRIu64 " orderId=0x%016" PRIx64
                        " instrument=%u %s %u @ %s%s%s",
                        r->seq, a->clOrdId, a->orderId, a->instrument, xclSideName(a->side), a->qty,
                        a->priceType == XOE_MARKET ? "MARKET" : p1,
                        a->timeCondition == XOE_IOC   ? " IOC"
                        : a->timeCondition == XOE_GTC ? " GTC"
                                                      : " GFD",
                        rt);
    }
    case XOE_MSG_REJECTED: {
        const xoeRejected *j = &m->u.rejected;
        return snprintf(buf, len,
                        "Rejected seq=%" PRIu64 " clOrdId=%" PRIu64 " instrument=%u code=%u (%s)%s",
                        r->seq, j->clOrdId, j->instrument, j->code, xclCodeName(j->code), rt);
    }
    case XOE_MSG_EXECUTED: {
        const xoeExecuted *e = &m->u.executed;
        xclPriceFormat(e->price, p1, sizeof p1);
        xclPriceFormat(e->commission, p2, sizeof p2);
        return snprintf(buf, len,
                        "Executed seq=%" PRIu64 " clOrdId=%" PRIu64 " orderId=0x%016" PRIx64
                        " instrument=%u %s %u @ %s leaves=%u %s tradeId=0x%016" PRIx64
                        " commission=%s%s",
                        r->seq, e->clOrdId, e->orderId, e->instrument, xclSideName(e->side), e->qty,
                        p1, e->leaves, xclLiquidityName(e->liquidity), e->tradeId, p2, rt);
    }
    case XOE_MSG_CANCELLED: {
        const xoeCancelled *c = &m->u.cancelled;
        return snprintf(buf, len,
                        "Cancelled seq=%" PRIu64 " clOrdId=%" PRIu64 " orderId=0x%016" PRIx64
                        " instrument=%u %s qty=%u reason=%s%s",
                        r->seq, c->clOrdId, c->orderId, c->instrument, xclSideName(c->side), c->qty,
                        xclCancelReasonName(c->reason), rt);
    }
    case XOE_MSG_REPLACED: {
        const xoeReplaced *p = &m->u.replaced;
        xclPriceFormat(p->price, p1, sizeof p1);
        return snprintf(buf, len,
                        "Replaced seq=%" PRIu64 " clOrdId=%" PRIu64 " orderId=0x%016" PRIx64
                        " instrument=%u %s %u @ %s leaves=%u priority=%s%s",
                        r->seq, p->clOrdId, p->orderId, p->instrument, xclSideName(p->side), p->qty,
                        p1, p->leaves, p->keptPriority ? "kept" : "lost", rt);
    }
    case XOE_MSG_CANCEL_REJECTED: {
        const xoeCancelRejected *c = &m->u.cancelRejected;
        return snprintf(buf, len,
                        "CancelRejected seq=%" PRIu64 " clOrdId=%" PRIu64 " orderId=0x%016" PRIx64
                        " op=%s code=%u (%s)%s",
                        r->seq, c->clOrdId, c->orderId,
                        c->op == XOE_OP_REPLACE ? "REPLACE" : "CANCEL", c->code,
                        xclCodeName(c->code), rt);
    }
    case XOE_MSG_LOGGED_OUT:
        return snprintf(buf, len, "LoggedOut reason=%s",
                        xclLogoutReasonName(m->u.loggedOut.reason));
    case XOE_MSG_SESSION_REJECT: {
        const xoeSessionReject *sr = &m->u.sessionReject;
        return snprintf(buf, len,
                        "SessionReject reason=%s code=%u detail=%s expectedSeq=%" PRIu64
                        " receivedSeq=%" PRIu64,
                        xclSessionRejectName(sr->reason), sr->code,
                        sr->reason == XOE_SR_MALFORMED ? xoeErrorName(sr->detail) : "-",
                        sr->expectedSeq, sr->receivedSeq);
    }
    case XCL_RPT_LOST:
        return snprintf(buf, len,
                        "Lost reports %" PRIu64 "..%" PRIu64
                        " (left xchg's history: query the control plane)",
                        r->lostFrom, r->lostFrom + r->lostCount - 1);
    case XCL_RPT_SESSION_LOST:
        return snprintf(buf, len, "SessionLost (nothing from xchg for 3 heartbeat intervals)");
    default:
        return snprintf(buf, len, "%s type=0x%02x seq=%" PRIu64 " clOrdId=%" PRIu64 " length=%u",
                        r->msg.known ? xoeTypeName((uint8_t)r->type) : "Unknown", (unsigned)r->type,
                        r->seq, r->clOrdId, r->msg.length);
    }
}
