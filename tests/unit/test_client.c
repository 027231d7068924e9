/* test_client.c -- unit tests of libxchg-client (include/xchg/client.h) against a fake xchg.
 *
 * The fake server is a thread with a UDP socket on 127.0.0.1 that speaks
 * enough XOE (through include/xchg/xoe.h) for one session: Logon (token
 * check, replay from nextOutSeq), NewOrder (Accepted, plus Executed when
 * the price is CROSS_PRICE, Rejected when it is REJECT_PRICE), Cancel,
 * Replace, Heartbeat, RetransmitRequest (with a configurable oldest kept
 * number, so TOO_OLD happens), Logout, inbound sequencing (duplicates
 * answered from history, gaps answered SessionReject{GAP}) and
 * ServerHeartbeats. It can misbehave on purpose: drop the first
 * transmission of given outbound numbers, send everything twice, swap two
 * reports, drop inbound datagrams, go mute. Every outbound report goes in a
 * datagram of its own so faults hit single reports.
 *
 * Loopback only: the server binds 127.0.0.1 and the client connects there. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "xchg/client.h"

#define SESSION_ID   7u
#define CROSS_PRICE  INT64_C(1000000) /* 100.0: the fake server fills 2 lots at once */
#define REJECT_PRICE INT64_C(990000)  /* 99.0: Rejected{1008} */
#define REST_PRICE   INT64_C(950000)  /* 95.0: rests */
#define FS_HIST      4096u
#define FS_ORDERS    256

static const uint8_t TOKEN[XOE_TOKEN_SIZE] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
                                              0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10};

/* ==== fake server ============================================================ */

/* The server runs in its own thread, where cmocka's asserts cannot be used. */
#define FS_CHECK(x)                                                                                \
    do {                                                                                           \
        if (!(x)) {                                                                                \
            fprintf(stderr, "fake server: %s failed (line %d)\n", #x, __LINE__);                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

typedef struct {
    uint8_t raw[XOE_MSG_MAX];
    uint16_t len;
} fsMsg;

typedef struct {
    uint64_t orderId, clOrdId;
    int64_t price;
    uint32_t qty, filled;
    uint16_t instrument;
    uint8_t side;
    uint8_t live;
} fsOrder;

typedef struct {
    int fd;
    uint16_t port;
    pthread_t th;
    pthread_mutex_t mu;
    int stop;

    /* behaviour (change under mu) */
    uint64_t dropOut[8]; /* first transmission of these outbound numbers is dropped */
    int nDropOut;
    int dupOut;            /* every first transmission is sent twice */
    uint64_t swapOut;      /* this outbound number is sent after the next one */
    int dropIn;            /* drop the next N inbound datagrams holding application messages */
    int mute;              /* read and ignore everything, send nothing */
    int noServerHb;        /* never send ServerHeartbeat */
    int emitUnknown;       /* the next NewOrder also gets an application message of type 0x9F */
    uint64_t oldest;       /* numbers below this have left the history (0: none have) */
    int loseLogonAccepted; /* the next N LogonAccepted are lost, and the half-open
                              session is timed out at once (LoggedOut{TIMEOUT}) */
    int loseLoggedOut;     /* the next N LoggedOut{USER} are lost */
    int kick;              /* send LoggedOut{ADMIN} now and log the session out */

    /* session */
    int loggedOn;
    struct sockaddr_in peer;
    uint64_t expected, nextOut;
    uint32_t hbMs;
    uint64_t lastTxNs;
    fsMsg hist[FS_HIST];                         /* by outbound number */
    uint64_t outFirst[FS_HIST], outEnd[FS_HIST]; /* outputs of each inbound number */
    uint64_t heldSeq;
    fsOrder orders[FS_ORDERS];
    uint64_t nextOrderId, nextTradeId;

    /* observations */
    int datagrams, appDatagrams, logons, heartbeats, retransmitRequests, logouts, gapsSent;
    int dupsIn, processed, notLoggedOnSent;
    int dgMsgs[64]; /* messages in each application datagram, in arrival order */
    uint64_t lastLogonNextOutSeq, lastLogonSeq, lastHbSeq;
} fakeServer;

static uint64_t nowNs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sleepMs(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Sends a frame of raw messages to the bound peer (or `to`). */
static void fsSendMsgs(fakeServer *fs, const struct sockaddr_in *to, uint64_t seq, uint8_t flags,
                       const fsMsg *const *msgs, int n)
{
    uint8_t buf[XOE_FRAME_MAX];
    xoeWriter w;
    xoeWriterInit(&w, buf, sizeof buf, SESSION_ID, seq, flags);
    for (int i = 0; i < n; i++)
        FS_CHECK(xoeAppendRaw(&w, msgs[i]->raw, msgs[i]->len) == XOE_OK);
    const size_t len = xoeWriterFinish(&w);
    sendto(fs->fd, buf, len, 0, (const struct sockaddr *)to, sizeof *to);
    fs->lastTxNs = nowNs();
}

/* Encodes one message of a known type into m. */
static void fsEncode(fsMsg *m, uint8_t type, const void *msg)
{
    uint8_t buf[XOE_FRAME_MAX];
    xoeWriter w;
    xoeWriterInit(&w, buf, sizeof buf, SESSION_ID, 0, 0);
    FS_CHECK(xoeAppend(&w, type, msg) == XOE_OK);
    m->len = xoeMsgSize(type);
    memcpy(m->raw, buf + XOE_HEADER_SIZE, m->len);
}

static void fsSendSession(fakeServer *fs, const struct sockaddr_in *to, uint8_t type,
                          const void *msg)
{
    fsMsg m;
    fsEncode(&m, type, msg);
    const fsMsg *one = &m;
    fsSendMsgs(fs, to, fs->nextOut, 0, &one, 1);
}

static void fsSendHist(fakeServer *fs, uint64_t seq, uint8_t flags)
{
    const fsMsg *one = &fs->hist[seq % FS_HIST];
    fsSendMsgs(fs, &fs->peer, seq, flags, &one, 1);
}

/* First transmission of outbound number seq, with the configured faults. */
static void fsTransmit(fakeServer *fs, uint64_t seq)
{
    for (int i = 0; i < fs->nDropOut; i++) {
        if (fs->dropOut[i] == seq) {
            fs->dropOut[i] = fs->dropOut[--fs->nDropOut];
            return;
        }
    }
    if (fs->swapOut == seq) {
        fs->heldSeq = seq;
        fs->swapOut = 0;
        return;
    }
    fsSendHist(fs, seq, 0);
    if (fs->dupOut)
        fsSendHist(fs, seq, 0);
    if (fs->heldSeq && fs->heldSeq != seq) {
        fsSendHist(fs, fs->heldSeq, 0);
        fs->heldSeq = 0;
    }
}

/* Numbers and keeps an application message; sent by fsTransmit. */
static uint64_t fsEmit(fakeServer *fs, uint8_t type, const void *msg)
{
    const uint64_t seq = fs->nextOut++;
    fsEncode(&fs->hist[seq % FS_HIST], type, msg);
    return seq;
}

static uint64_t fsEmitUnknown(fakeServer *fs, uint64_t clOrdId)
{
    const uint64_t seq = fs->nextOut++;
    fsMsg *m = &fs->hist[seq % FS_HIST];
    memset(m, 0, sizeof *m);
    m->len = 16;
    m->raw[0] = 16;
    m->raw[2] = 0x9F;
    memcpy(m->raw + 8, &clOrdId, 8);
    return seq;
}

static fsOrder *fsFind(fakeServer *fs, uint64_t orderId)
{
    for (int i = 0; i < FS_ORDERS; i++)
        if (fs->orders[i].live && fs->orders[i].orderId == orderId)
            return &fs->orders[i];
    return NULL;
}

static void fsNewOrder(fakeServer *fs, const xoeNewOrder *o)
{
    if (o->price == REJECT_PRICE) {
        xoeRejected r;
        memset(&r, 0, sizeof r);
        r.code = XOE_CODE_INVALID_PARAMS;
        r.instrument = o->instrument;
        r.clOrdId = o->clOrdId;
        fsEmit(fs, XOE_MSG_REJECTED, &r);
        return;
    }
    fsOrder *slot = NULL;
    for (int i = 0; i < FS_ORDERS && !slot; i++)
        if (!fs->orders[i].live)
            slot = &fs->orders[i];
    FS_CHECK(slot != NULL);
    *slot = (fsOrder){UINT64_C(0x0100000000000000) | ++fs->nextOrderId,
                      o->clOrdId,
                      o->price,
                      o->qty,
                      0,
                      o->instrument,
                      o->side,
                      1};
    xoeAccepted a;
    memset(&a, 0, sizeof a);
    a.instrument = o->instrument;
    a.side = o->side;
    a.offset = o->offset;
    a.clOrdId = o->clOrdId;
    a.orderId = slot->orderId;
    a.price = o->price;
    a.qty = o->qty;
    a.minQty = o->minQty;
    a.priceType = o->priceType;
    a.timeCondition = o->timeCondition;
    a.volumeCondition = o->volumeCondition;
    a.timestamp = 1;
    fsEmit(fs, XOE_MSG_ACCEPTED, &a);
    if (fs->emitUnknown) {
        fs->emitUnknown = 0;
        fsEmitUnknown(fs, o->clOrdId);
    }
    if (o->price == CROSS_PRICE) {
        const uint32_t fill = o->qty < 2 ? o->qty : 2;
        slot->filled = fill;
        xoeExecuted e;
        memset(&e, 0, sizeof e);
        e.instrument = o->instrument;
        e.side = o->side;
        e.liquidity = XOE_TAKER;
        e.clOrdId = o->clOrdId;
        e.orderId = slot->orderId;
        e.tradeId = UINT64_C(0x0100000000000000) | ++fs->nextTradeId;
        e.price = o->price;
        e.qty = fill;
        e.leaves = o->qty - fill;
        e.commission = 524428;
        e.timestamp = 2;
        fsEmit(fs, XOE_MSG_EXECUTED, &e);
        if (e.leaves == 0)
            slot->live = 0;
    }
}

static void fsCancel(fakeServer *fs, const xoeCancel *c)
{
    fsOrder *o = fsFind(fs, c->orderId);
    if (o == NULL) {
        xoeCancelRejected r;
        memset(&r, 0, sizeof r);
        r.code = XOE_CODE_ORDER_NOT_FOUND;
        r.op = XOE_OP_CANCEL;
        r.clOrdId = c->clOrdId;
        r.orderId = c->orderId;
        fsEmit(fs, XOE_MSG_CANCEL_REJECTED, &r);
        return;
    }
    xoeCancelled x;
    memset(&x, 0, sizeof x);
    x.instrument = o->instrument;
    x.side = o->side;
    x.reason = XOE_CXL_USER;
    x.clOrdId = o->clOrdId;
    x.orderId = o->orderId;
    x.qty = o->qty - o->filled;
    fsEmit(fs, XOE_MSG_CANCELLED, &x);
    o->live = 0;
}

static void fsReplace(fakeServer *fs, const xoeReplace *r)
{
    fsOrder *o = fsFind(fs, r->orderId);
    if (o == NULL) {
        xoeCancelRejected j;
        memset(&j, 0, sizeof j);
        j.code = XOE_CODE_ORDER_NOT_FOUND;
        j.op = XOE_OP_REPLACE;
        j.clOrdId = r->clOrdId;
        j.orderId = r->orderId;
        fsEmit(fs, XOE_MSG_CANCEL_REJECTED, &j);
        return;
    }
    o->clOrdId = r->clOrdId;
    o->qty = r->qty;
    xoeReplaced p;
    memset(&p, 0, sizeof p);
    p.instrument = o->instrument;
    p.side = o->side;
    p.keptPriority = r->price == o->price;
    p.clOrdId = r->clOrdId;
    p.orderId = o->orderId;
    p.price = r->price;
    p.qty = r->qty;
    p.leaves = r->qty - o->filled;
    o->price = r->price;
    fsEmit(fs, XOE_MSG_REPLACED, &p);
}

/* Resends [from, from + count) as far as kept and sent, then RetransmitEnd. */
static void fsRetransmit(fakeServer *fs, uint64_t from, uint32_t count)
{
    xoeRetransmitEnd re;
    memset(&re, 0, sizeof re);
    re.fromSeq = from;
    re.count = count;
    uint64_t start = from, end = from + count;
    const uint64_t oldest = fs->oldest > 1 ? fs->oldest : 1;
    if (start < oldest) {
        re.flags |= XOE_RT_TOO_OLD;
        start = oldest;
    }
    if (end > fs->nextOut) {
        re.flags |= XOE_RT_BEYOND;
        end = fs->nextOut;
    }
    for (uint64_t q = start; q < end; q++) {
        fsSendHist(fs, q, XOE_FLAG_RETRANSMIT);
        if (re.sent++ == 0)
            re.firstSeq = q;
    }
    fsSendSession(fs, &fs->peer, XOE_MSG_RETRANSMIT_END, &re);
}

static void fsGap(fakeServer *fs, uint64_t received)
{
    xoeSessionReject sr;
    memset(&sr, 0, sizeof sr);
    sr.reason = XOE_SR_GAP;
    sr.expectedSeq = fs->expected;
    sr.receivedSeq = received;
    fs->gapsSent++;
    fsSendSession(fs, &fs->peer, XOE_MSG_SESSION_REJECT, &sr);
}

static void fsLogon(fakeServer *fs, const xoeFrame *f, const xoeLogon *l,
                    const struct sockaddr_in *from)
{
    fs->logons++;
    fs->lastLogonNextOutSeq = l->nextOutSeq;
    fs->lastLogonSeq = f->seq;
    if (!xoeTokenEqual(l->token, TOKEN) || f->count != 1) {
        xoeLogonRejected r;
        memset(&r, 0, sizeof r);
        r.code = f->count != 1 ? XOE_CODE_MALFORMED : XOE_CODE_AUTH;
        fsSendSession(fs, from, XOE_MSG_LOGON_REJECTED, &r);
        return;
    }
    uint32_t hb = l->heartbeatMs ? l->heartbeatMs : XOE_HEARTBEAT_DEFAULT_MS;
    hb = hb < XOE_HEARTBEAT_MIN_MS ? XOE_HEARTBEAT_MIN_MS : hb;
    hb = hb > XOE_HEARTBEAT_MAX_MS ? XOE_HEARTBEAT_MAX_MS : hb;
    fs->hbMs = hb;
    fs->loggedOn = 1;
    fs->peer = *from;
    xoeLogonAccepted la;
    memset(&la, 0, sizeof la);
    la.heartbeatMs = hb;
    la.nextInSeq = fs->expected;
    la.nextOutSeq = fs->nextOut;
    la.tradingDay = 20250106;
    la.segment = 1;
    if (fs->loseLogonAccepted > 0) {
        fs->loseLogonAccepted--;
        const xoeLoggedOut lo = {{0, 0, 0}, XOE_LOGOUT_TIMEOUT, {0, 0, 0}};
        fsSendSession(fs, from, XOE_MSG_LOGGED_OUT, &lo);
        fs->loggedOn = 0;
        return;
    }
    fsSendSession(fs, from, XOE_MSG_LOGON_ACCEPTED, &la);
    if (l->nextOutSeq != 0 && l->nextOutSeq < fs->nextOut)
        fsRetransmit(fs, l->nextOutSeq, (uint32_t)(fs->nextOut - l->nextOutSeq));
}

static void fsOnDatagram(fakeServer *fs, const uint8_t *buf, size_t len,
                         const struct sockaddr_in *from)
{
    xoeFrame f;
    if (fs->mute || xoeFrameParse(buf, len, XOE_DIR_TO_XCHG, &f, NULL) != XOE_OK)
        return;
    fs->datagrams++;
    if (f.sequenced) {
        if (fs->appDatagrams < 64)
            fs->dgMsgs[fs->appDatagrams] = f.count;
        fs->appDatagrams++;
        if (fs->dropIn > 0) {
            fs->dropIn--;
            return;
        }
    }
    xoeIter it;
    xoeMsg m;
    xoeIterInit(&it, &f);
    int gap = 0;
    while (xoeIterNext(&it, &m)) {
        if (m.type == XOE_MSG_LOGON) {
            fsLogon(fs, &f, &m.u.logon, from);
            continue;
        }
        if (!fs->loggedOn) {
            /* from the address last bound: SessionReject{NOT_LOGGED_ON}, once a frame */
            if (it.index == 1 && from->sin_port == fs->peer.sin_port) {
                xoeSessionReject sr;
                memset(&sr, 0, sizeof sr);
                sr.code = XOE_CODE_NOT_LOGGED_ON;
                sr.reason = XOE_SR_NOT_LOGGED_ON;
                sr.expectedSeq = fs->expected;
                sr.receivedSeq = f.seq;
                fs->notLoggedOnSent++;
                fsSendSession(fs, from, XOE_MSG_SESSION_REJECT, &sr);
            }
            continue;
        }
        switch (m.type) {
        case XOE_MSG_LOGOUT: {
            fs->logouts++;
            fs->loggedOn = 0;
            if (fs->loseLoggedOut > 0) {
                fs->loseLoggedOut--;
                continue;
            }
            const xoeLoggedOut lo = {{0, 0, 0}, XOE_LOGOUT_USER, {0, 0, 0}};
            fsSendSession(fs, &fs->peer, XOE_MSG_LOGGED_OUT, &lo);
            continue;
        }
        case XOE_MSG_HEARTBEAT:
            fs->heartbeats++;
            fs->lastHbSeq = f.seq;
            if (f.sequenced == 0 && f.seq > fs->expected)
                fsGap(fs, f.seq);
            continue;
        case XOE_MSG_RETRANSMIT_REQUEST:
            fs->retransmitRequests++;
            fsRetransmit(fs, m.u.retransmitRequest.fromSeq, m.u.retransmitRequest.count);
            continue;
        default:
            break;
        }
        if (!xoeIsSequenced(m.type) || gap)
            continue;
        if (m.seq < fs->expected) { /* duplicate: answers again from history */
            fs->dupsIn++;
            const uint64_t i = m.seq % FS_HIST;
            for (uint64_t q = fs->outFirst[i]; q < fs->outEnd[i]; q++)
                fsSendHist(fs, q, XOE_FLAG_RETRANSMIT);
            continue;
        }
        if (m.seq > fs->expected) {
            gap = 1;
            fsGap(fs, m.seq);
            continue;
        }
        const uint64_t first = fs->nextOut;
        if (m.type == XOE_MSG_NEW_ORDER)
            fsNewOrder(fs, &m.u.newOrder);
        else if (m.type == XOE_MSG_CANCEL)
            fsCancel(fs, &m.u.cancel);
        else if (m.type == XOE_MSG_REPLACE)
            fsReplace(fs, &m.u.replace);
        fs->processed++;
        fs->outFirst[m.seq % FS_HIST] = first;
        fs->outEnd[m.seq % FS_HIST] = fs->nextOut;
        fs->expected++;
        for (uint64_t q = first; q < fs->nextOut; q++)
            fsTransmit(fs, q);
    }
}

static void *fsThread(void *arg)
{
    fakeServer *fs = arg;
    uint8_t buf[2048];
    for (;;) {
        struct pollfd p = {fs->fd, POLLIN, 0};
        poll(&p, 1, 5);
        pthread_mutex_lock(&fs->mu);
        if (fs->stop) {
            pthread_mutex_unlock(&fs->mu);
            return NULL;
        }
        for (;;) {
            struct sockaddr_in from;
            socklen_t alen = sizeof from;
            const ssize_t n =
                recvfrom(fs->fd, buf, sizeof buf, MSG_DONTWAIT, (struct sockaddr *)&from, &alen);
            if (n < 0)
                break;
            fsOnDatagram(fs, buf, (size_t)n, &from);
        }
        if (fs->kick && fs->loggedOn) {
            fs->kick = 0;
            fs->loggedOn = 0;
            const xoeLoggedOut lo = {{0, 0, 0}, XOE_LOGOUT_ADMIN, {0, 0, 0}};
            fsSendSession(fs, &fs->peer, XOE_MSG_LOGGED_OUT, &lo);
        }
        if (fs->loggedOn && !fs->mute && !fs->noServerHb &&
            nowNs() - fs->lastTxNs >= (uint64_t)fs->hbMs * 1000000u) {
            const xoeServerHeartbeat hb = {{0, 0, 0}, 0};
            fsSendSession(fs, &fs->peer, XOE_MSG_SERVER_HEARTBEAT, &hb);
        }
        pthread_mutex_unlock(&fs->mu);
    }
}

static int fsSetup(void **state)
{
    fakeServer *fs = calloc(1, sizeof *fs);
    assert_non_null(fs);
    fs->fd = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(fs->fd >= 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fs->fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t alen = sizeof a;
    assert_int_equal(getsockname(fs->fd, (struct sockaddr *)&a, &alen), 0);
    fs->port = ntohs(a.sin_port);
    fs->expected = 1;
    fs->nextOut = 1;
    fs->hbMs = 1000;
    pthread_mutex_init(&fs->mu, NULL);
    assert_int_equal(pthread_create(&fs->th, NULL, fsThread, fs), 0);
    *state = fs;
    return 0;
}

static int fsTeardown(void **state)
{
    fakeServer *fs = *state;
    pthread_mutex_lock(&fs->mu);
    fs->stop = 1;
    pthread_mutex_unlock(&fs->mu);
    pthread_join(fs->th, NULL);
    close(fs->fd);
    pthread_mutex_destroy(&fs->mu);
    free(fs);
    return 0;
}

#define LOCKED(fs, stmt)                                                                           \
    do {                                                                                           \
        pthread_mutex_lock(&(fs)->mu);                                                             \
        stmt;                                                                                      \
        pthread_mutex_unlock(&(fs)->mu);                                                           \
    } while (0)

static int fsGet(fakeServer *fs, const int *field)
{
    pthread_mutex_lock(&fs->mu);
    const int v = *field;
    pthread_mutex_unlock(&fs->mu);
    return v;
}

/* ==== client helpers ========================================================= */

static xclSession *openClient(const fakeServer *fs, const xclOptions *opt)
{
    char err[128];
    xclSession *c = xclOpen("127.0.0.1", fs->port, SESSION_ID, TOKEN, opt, err, sizeof err);
    if (c == NULL)
        fail_msg("xclOpen: %s", err);
    return c;
}

static xclSession *logonClient(const fakeServer *fs, const xclOptions *opt, uint32_t hbMs)
{
    xclSession *c = openClient(fs, opt);
    const int rc = xclLogon(c, hbMs, 2000);
    if (rc != XCL_OK)
        fail_msg("xclLogon: %s (%s)", xclStrerror(rc), xclLastError(c));
    return c;
}

/* Next report, which must be of this type, within timeoutMs. */
static xclReport expectReport(xclSession *c, int type, int timeoutMs)
{
    xclReport r;
    const int rc = xclPoll(c, timeoutMs, &r);
    if (rc != 1)
        fail_msg("expected report 0x%x, xclPoll returned %d", (unsigned)type, rc);
    if (r.type != type) {
        char line[256];
        xclReportFormat(&r, line, sizeof line);
        fail_msg("expected report 0x%x, got %s", (unsigned)type, line);
    }
    return r;
}

static void expectNothing(xclSession *c, int timeoutMs)
{
    xclReport r;
    const int rc = xclPoll(c, timeoutMs, &r);
    if (rc != 0) {
        char line[256];
        xclReportFormat(&r, line, sizeof line);
        fail_msg("expected no report, xclPoll returned %d: %s", rc, line);
    }
}

static xclOrder order(int64_t price, uint32_t qty)
{
    xclOrder o;
    memset(&o, 0, sizeof o);
    o.instrument = 3;
    o.side = XOE_BUY;
    o.price = price;
    o.qty = qty;
    return o;
}

static uint64_t sendOrder(xclSession *c, int64_t price, uint32_t qty)
{
    const xclOrder o = order(price, qty);
    uint64_t id = 0;
    assert_int_equal(xclNewOrder(c, &o, &id), XCL_OK);
    return id;
}

static xclInfo info(const xclSession *c)
{
    xclInfo i;
    xclGetInfo(c, &i);
    return i;
}

/* ==== prices and tokens ====================================================== */

static void test_price_roundtrip(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        int64_t v;
        const char *out;
    } cases[] = {
        {"3800.2", 38002000, "3800.2"},
        {"3800.20", 38002000, "3800.2"},
        {"0", 0, "0"},
        {"-0", 0, "0"},
        {"0.0001", 1, "0.0001"},
        {"-0.0001", -1, "-0.0001"},
        {"7", 70000, "7"},
        {"007.5000", 75000, "7.5"},
        {"52.4428", 524428, "52.4428"},
        {"75230", 752300000, "75230"},
        {"922337203685477.5807", INT64_MAX, "922337203685477.5807"},
        {"-922337203685477.5808", INT64_MIN, "-922337203685477.5808"},
        {"-922337203685477.5807", -INT64_MAX, "-922337203685477.5807"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t v = 12345;
        char buf[XCL_PRICE_STRLEN];
        assert_int_equal(xclPriceParse(cases[i].in, &v), XCL_OK);
        assert_int_equal(v, cases[i].v);
        const int n = xclPriceFormat(v, buf, sizeof buf);
        assert_string_equal(buf, cases[i].out);
        assert_int_equal(n, (int)strlen(cases[i].out));
    }
    /* pseudo-random values through format and parse */
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (int i = 0; i < 100000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        const int64_t v = (int64_t)(x >> (unsigned)(i % 64)) * (i & 1 ? -1 : 1);
        char buf[XCL_PRICE_STRLEN];
        int64_t back = 0;
        assert_true(xclPriceFormat(v, buf, sizeof buf) < XCL_PRICE_STRLEN);
        assert_int_equal(xclPriceParse(buf, &back), XCL_OK);
        assert_int_equal(back, v);
    }
}

static void test_price_refusals(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        int rc;
    } cases[] = {
        {"1.23456", XCL_EDECIMALS},
        {"1.00000", XCL_EDECIMALS},
        {"-0.00001", XCL_EDECIMALS},
        {"", XCL_ESYNTAX},
        {"abc", XCL_ESYNTAX},
        {"12a", XCL_ESYNTAX},
        {"1.2.3", XCL_ESYNTAX},
        {" 1", XCL_ESYNTAX},
        {"1 ", XCL_ESYNTAX},
        {"+1", XCL_ESYNTAX},
        {"1.", XCL_ESYNTAX},
        {".5", XCL_ESYNTAX},
        {"1e3", XCL_ESYNTAX},
        {"-", XCL_ESYNTAX},
        {"--1", XCL_ESYNTAX},
        {"0x10", XCL_ESYNTAX},
        {"1,5", XCL_ESYNTAX},
        {"922337203685477.5808", XCL_ERANGE},
        {"-922337203685477.5809", XCL_ERANGE},
        {"922337203685478", XCL_ERANGE},
        {"99999999999999999999999", XCL_ERANGE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t v = 12345;
        if (xclPriceParse(cases[i].in, &v) != cases[i].rc)
            fail_msg("\"%s\": got %d, want %d", cases[i].in, xclPriceParse(cases[i].in, &v),
                     cases[i].rc);
        assert_int_equal(v, 12345); /* untouched */
    }
    int64_t v = 0;
    assert_int_equal(xclPriceParse(NULL, &v), XCL_ESYNTAX);
    assert_int_equal(xclPriceParse("1", NULL), XCL_ESYNTAX);
    assert_string_equal(xclStrerror(XCL_EDECIMALS), "too many decimals");
}

static void test_price_format_truncation(void **state)
{
    (void)state;
    char buf[4];
    assert_int_equal(xclPriceFormat(38002000, buf, sizeof buf), 6);
    assert_string_equal(buf, "380");
    assert_int_equal(xclPriceFormat(-1, NULL, 0), 7);
}

static void test_token_parse(void **state)
{
    (void)state;
    uint8_t t[XOE_TOKEN_SIZE];
    assert_int_equal(xclTokenParse("0123456789ABCDEFfedcba9876543210", t), XCL_OK);
    assert_memory_equal(t, TOKEN, XOE_TOKEN_SIZE);
    memset(t, 0x55, sizeof t);
    assert_int_equal(xclTokenParse("0123456789abcdeffedcba987654321", t), XCL_ESYNTAX);
    assert_int_equal(xclTokenParse("0123456789abcdeffedcba98765432100", t), XCL_ESYNTAX);
    assert_int_equal(xclTokenParse("0123456789abcdeffedcba987654321g", t), XCL_ESYNTAX);
    assert_int_equal(xclTokenParse(NULL, t), XCL_ESYNTAX);
    assert_int_equal(t[0], 0x55);
}

static void test_session_parse(void **state)
{
    (void)state;
    uint32_t id = 0;
    uint8_t t[XOE_TOKEN_SIZE];
    assert_int_equal(xclSessionParse("7:0123456789abcdeffedcba9876543210", &id, t), XCL_OK);
    assert_int_equal(id, 7);
    assert_memory_equal(t, TOKEN, XOE_TOKEN_SIZE);
    assert_int_equal(xclSessionParse("4294967295:0123456789abcdeffedcba9876543210", &id, t),
                     XCL_OK);
    assert_int_equal(id, UINT32_MAX);
    static const char *const bad[] = {
        "",
        "7",
        "7:",
        ":0123456789abcdeffedcba9876543210",
        "0:0123456789abcdeffedcba9876543210",
        "4294967296:0123456789abcdeffedcba9876543210",
        "-7:0123456789abcdeffedcba9876543210",
        "7 :0123456789abcdeffedcba9876543210",
        "7:0123456789abcdeffedcba987654321",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        id = 99;
        assert_int_equal(xclSessionParse(bad[i], &id, t), XCL_ESYNTAX);
        assert_int_equal(id, 99);
    }
}

static void test_code_names(void **state)
{
    (void)state;
    assert_string_equal(xclCodeName(9001), "logon refused");
    assert_string_equal(xclCodeName(1001), "insufficient funds");
    assert_string_equal(xclCodeName(4242), "unknown code");
}

/* ==== sessions =============================================================== */

static void test_open_errors(void **state)
{
    (void)state;
    char err[128];
    assert_null(xclOpen("not an ip", 9000, 1, TOKEN, NULL, err, sizeof err));
    assert_non_null(strstr(err, "bad server address"));
    assert_null(xclOpen("127.0.0.1", 0, 1, TOKEN, NULL, err, sizeof err));
    assert_null(xclOpen("127.0.0.1", 9000, 1, NULL, NULL, err, sizeof err));
    xclOptions o;
    memset(&o, 0, sizeof o);
    o.localIp = "300.1.1.1";
    assert_null(xclOpen("127.0.0.1", 9000, 1, TOKEN, &o, err, sizeof err));
    assert_non_null(strstr(err, "bad local address"));
    assert_null(xclOpen(NULL, 9000, 1, TOKEN, NULL, NULL, 0));
    xclClose(NULL);
}

static void test_logon_accepted(void **state)
{
    fakeServer *fs = *state;
    xclOptions o;
    memset(&o, 0, sizeof o);
    o.localIp = "127.0.0.1";
    xclSession *c = openClient(fs, &o);
    assert_int_equal(info(c).state, XCL_STATE_LOGGED_OUT);
    assert_int_equal(xclNextTimeoutMs(c), -1);
    assert_true(xclFd(c) >= 0);
    assert_int_equal(xclLogon(c, 250, 2000), XCL_OK);
    const xclInfo i = info(c);
    assert_int_equal(i.state, XCL_STATE_LOGGED_ON);
    assert_int_equal(i.heartbeatMs, 250);
    assert_int_equal(i.tradingDay, 20250106);
    assert_int_equal(i.segment, 1);
    assert_int_equal(i.nextInSeq, 1);
    assert_int_equal(i.nextOutSeq, 1);
    assert_int_equal(i.sessionId, SESSION_ID);
    assert_true(i.localPort != 0);
    assert_int_equal(fsGet(fs, &fs->logons), 1);
    LOCKED(fs, assert_int_equal(fs->lastLogonNextOutSeq, 0));
    const int t = xclNextTimeoutMs(c);
    assert_true(t >= 0 && t <= 250);
    xclClose(c);
}

static void test_logon_rejected(void **state)
{
    fakeServer *fs = *state;
    uint8_t bad[XOE_TOKEN_SIZE];
    memcpy(bad, TOKEN, sizeof bad);
    bad[15] ^= 1;
    char err[128];
    xclSession *c = xclOpen("127.0.0.1", fs->port, SESSION_ID, bad, NULL, err, sizeof err);
    assert_non_null(c);
    assert_int_equal(xclLogon(c, 0, 2000), XCL_EREJECTED);
    const xclInfo i = info(c);
    assert_int_equal(i.state, XCL_STATE_LOGGED_OUT);
    assert_int_equal(i.lastRejectCode, XOE_CODE_AUTH);
    assert_non_null(strstr(xclLastError(c), "9001"));
    const xclOrder o = order(REST_PRICE, 1);
    assert_int_equal(xclNewOrder(c, &o, NULL), XCL_ESTATE);
    assert_int_equal(xclLogout(c, 100), XCL_ESTATE);
    xclClose(c);
}

static void test_logon_answer_lost(void **state)
{
    fakeServer *fs = *state;
    LOCKED(fs, fs->loseLogonAccepted = 1);
    xclOptions o;
    memset(&o, 0, sizeof o);
    o.logonRetryMs = 150;
    xclSession *c = openClient(fs, &o);
    assert_int_equal(xclLogon(c, 100, 2000), XCL_OK);
    xclInfo i = info(c);
    assert_int_equal(i.logonsOut, 2);
    assert_int_equal(i.staleDropped, 1); /* the timeout of the first binding */
    assert_int_equal(fsGet(fs, &fs->logons), 2);
    sendOrder(c, REST_PRICE, 1);
    assert_int_equal(expectReport(c, XOE_MSG_ACCEPTED, 1000).seq, 1); /* no LoggedOut first */
    expectNothing(c, 50);
    assert_int_equal(info(c).state, XCL_STATE_LOGGED_ON);
    xclClose(c);
}

static void test_logon_timeout(void **state)
{
    (void)state;
    /* a loopback port nobody listens on */
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t alen = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &alen);
    close(fd);
    xclOptions o;
    memset(&o, 0, sizeof o);
    o.logonRetryMs = 100;
    char err[128];
    xclSession *c = xclOpen("127.0.0.1", ntohs(a.sin_port), 1, TOKEN, &o, err, sizeof err);
    assert_non_null(c);
    const uint64_t t0 = nowNs();
    assert_int_equal(xclLogon(c, 0, 350), XCL_ETIMEOUT);
    const uint64_t dt = nowNs() - t0;
    assert_true(dt >= 340000000ull && dt < 2000000000ull);
    assert_true(info(c).logonsOut >= 3);
    assert_int_equal(info(c).state, XCL_STATE_LOGGED_OUT);
    assert_non_null(strstr(xclLastError(c), "no answer"));
    xclClose(c);
}

static void test_orders_reports_in_order(void **state)
{
    fakeServer *fs = *state;
    xclSession *c = logonClient(fs, NULL, 1000);
    const uint64_t id1 = sendOrder(c, CROSS_PRICE, 5);
    assert_int_equal(id1, 1);
    xclReport r = expectReport(c, XOE_MSG_ACCEPTED, 1000);
    assert_int_equal(r.seq, 1);
    assert_int_equal(r.clOrdId, id1);
    assert_int_equal(r.msg.u.accepted.qty, 5);
    assert_int_equal(r.msg.u.accepted.instrument, 3);
    assert_int_equal(r.retransmitted, 0);
    const uint64_t oid1 = r.msg.u.accepted.orderId;
    r = expectReport(c, XOE_MSG_EXECUTED, 1000);
    assert_int_equal(r.seq, 2);
    assert_int_equal(r.msg.u.executed.qty, 2);
    assert_int_equal(r.msg.u.executed.leaves, 3);
    assert_int_equal(r.msg.u.executed.orderId, oid1);
    char line[256];
    xclReportFormat(&r, line, sizeof line);
    assert_non_null(strstr(line, "Executed seq=2 clOrdId=1"));
    assert_non_null(strstr(line, "BUY 2 @ 100 leaves=3 TAKER"));
    assert_non_null(strstr(line, "commission=52.4428"));

    /* replace, cancel, reject, cancel of an unknown order */
    uint64_t rid = 0, cid = 0;
    assert_int_equal(xclReplace(c, oid1, CROSS_PRICE - 2000, 4, 0, &rid), XCL_OK);
    r = expectReport(c, XOE_MSG_REPLACED, 1000);
    assert_int_equal(r.seq, 3);
    assert_int_equal(r.clOrdId, rid);
    assert_int_equal(r.msg.u.replaced.leaves, 2);
    assert_int_equal(r.msg.u.replaced.keptPriority, 0);
    assert_int_equal(xclCancel(c, oid1, 0, &cid), XCL_OK);
    r = expectReport(c, XOE_MSG_CANCELLED, 1000);
    assert_int_equal(r.clOrdId, rid); /* the order's id, not the cancel's */
    assert_int_equal(r.msg.u.cancelled.qty, 2);
    assert_int_equal(r.msg.u.cancelled.reason, XOE_CXL_USER);
    sendOrder(c, REJECT_PRICE, 1);
    r = expectReport(c, XOE_MSG_REJECTED, 1000);
    assert_int_equal(r.msg.u.rejected.code, XOE_CODE_INVALID_PARAMS);
    assert_int_equal(xclCancel(c, 12345, 777, &cid), XCL_OK);
    assert_int_equal(cid, 777);
    r = expectReport(c, XOE_MSG_CANCEL_REJECTED, 1000);
    assert_int_equal(r.seq, 6);
    assert_int_equal(r.clOrdId, 777);
    assert_int_equal(r.msg.u.cancelRejected.code, XOE_CODE_ORDER_NOT_FOUND);
    expectNothing(c, 50);
    const xclInfo i = info(c);
    assert_int_equal(i.unanswered, 0);
    assert_int_equal(i.nextInSeq, 6);
    assert_int_equal(i.nextOutSeq, 7);
    assert_int_equal(i.duplicates, 0);
    assert_int_equal(i.retransmitRequests, 0);
    xclClose(c);
}

static void test_lost_answer_recovered(void **state)
{
    fakeServer *fs = *state;
    xclSession *c = logonClient(fs, NULL, 1000);
    LOCKED(fs, fs->dropOut[fs->nDropOut++] = 1); /* the Accepted */
    sendOrder(c, CROSS_PRICE, 5);
    xclReport r = expectReport(c, XOE_MSG_ACCEPTED, 1000);
    assert_int_equal(r.seq, 1);
    assert_int_equal(r.retransmitted, 1);
    r = expectReport(c, XOE_MSG_EXECUTED, 1000);
    assert_int_equal(r.seq, 2);
    assert_int_equal(r.retransmitted, 0);
    const xclInfo i = info(c);
    assert_true(i.retransmitRequests >= 1);
    assert_true(i.outOfOrder >= 1);
    assert_int_equal(i.unanswered, 0);
    assert_true(fsGet(fs, &fs->retransmitRequests) >= 1);
    expectNothing(c, 50);
    xclClose(c);
}

static void test_lost_last_answer_found_by_server_heartbeat(void **state)
{
    fakeServer *fs = *state;
    xclSession *c = logonClient(fs, NULL, 100);
    LOCKED(fs, fs->dropOut[fs->nDropOut++] = 1);
    sendOrder(c, REST_PRICE, 1); /* its only answer is lost */
    const xclReport r = expectReport(c, XOE_MSG_ACCEPTED, 1500);
    assert_int_equal(r.seq, 1);
    assert_int_equal(r.retransmitted, 1);
    assert_true(info(c).retransmitRequests >= 1);
    xclClose(c);
}

static void test_duplicates_ignored(void **state)
{
    fakeServer *fs = *state;
    xclSession *c = logonClient(fs, NULL, 1000);
    LOCKED(fs, fs->dupOut = 1);
    for (int k = 0; k < 3; k++)
        sendOrder(c, REST_PRICE, 1);
    for (uint64_t q = 1; q <= 3; q++) {
        const xclReport r = expectReport(c, XOE_MSG_ACCEPTED, 1000);
        assert_int_equal(r.seq, q);
        assert_int_equal(r.clOrdId, q);
    }
    expectNothing(c, 100);
    assert_true(info(c).duplicates >= 3);
    assert_int_equal(fsGet(fs, &fs->processed), 3);
    xclClose(c);
}

static void test_reordered_answers(void **state)
{
    fakeServer *fs = *state;
    xclSession *c = logonClient(fs, NULL, 1000);
    LOCKED(fs, fs->swapOut = 1); /* Executed(2) arrives before Accepted(1) */
    sendOrder(c, CROSS_PRICE, 5);
    assert_int_equal(expectReport(c, XOE_MSG_ACCEPTED, 1000).seq, 1);
    assert_int_equal(expectReport(c, XOE_MSG_EXECUTED, 1000).seq, 2);
    expectNothing(c, 50);
    assert_true(info(c).outOfOrder >= 1);
    xclClose(c);
}

static void test_unknown_report_type_delivered(void **state)
{
    fakeServer *fs = *state;
    xclSession *c = logonClient(fs, NULL, 1000);
    LOCKED(fs, fs->emitUnknown = 1);
    const uint64_t id = sendOrder(c, REST_PRICE, 1);
    assert_int_equal(expectReport(c, XOE_MSG_ACCEPTED, 1000).seq, 1);
    const xclReport r = expectReport(c, 0x9F, 1000);
    assert_int_equal(r.seq, 2);
    assert_int_equal(r.msg.known, 0);
    assert_int_equal(r.clOrdId, id);
    sendOrder(c, REST_PRICE, 1);
    assert_int_equal(expectReport(c, XOE_MSG_ACCEPTED, 1000).seq, 3);
    xclClose(c);
}

static void test_lost_request_resent_on_gap(void **state)
{
    fakeServer *fs = *state;
    xclSession *c = logonClient(fs, NULL, 1000);
    LOCKED(fs, fs->dropIn = 1); /* the first order never reaches xchg */
    const uint64_t a = sendOrder(c, REST_PRICE, 1);
    const uint64_t b = sendOrder(c, REST_PRICE, 2); /* seq 2: xchg answers GAP, expected 1 */
    xclReport r = expectReport(c, XOE_MSG_ACCEPTED, 1000);
    assert_int_equal(r.clOrdId, a);
    assert_int_equal(r.seq, 1);
    r = expectReport(c, XOE_MSG_ACCEPTED, 1000);
    assert_int_equal(r.clOrdId, b);
    assert_int_equal(r.seq, 2);
    expectNothing(c, 100);
    const xclInfo i = info(c);
    assert_true(i.gapRejects >= 1);
    assert_true(i.resent >= 2);
    assert_int_equal(i.unanswered, 0);
    assert_int_equal(i.nextInSeq, 3);
    assert_int_equal(fsGet(fs, &fs->processed), 2); /* each order executed once */
    xclClose(c);
}

static void test_lost_request_resent_when_idle(void **state)
{
    fakeServer *fs = *state;
    xclSession *c = logonClient(fs, NULL, 100);
    LOCKED(fs, fs->dropIn = 1);
    const uint64_t a = sendOrder(c, REST_PRICE, 1);
    /* nothing more is sent: the next Heartbeat's seq shows xchg the gap */
    const xclReport r = expectReport(c, XOE_MSG_ACCEPTED, 1500);
    assert_int_equal(r.clOrdId, a);
    assert_true(info(c).heartbeatsOut >= 1);
    assert_int_equal(fsGet(fs, &fs->processed), 1);
    xclClose(c);
}

static void test_heartbeat_when_idle(void **state)
{
    fakeServer *fs = *state;
    xclSession *c = logonClient(fs, NULL, 100);
    sendOrder(c, REST_PRICE, 1);
    expectReport(c, XOE_MSG_ACCEPTED, 1000);
    expectNothing(c, 450);
    const xclInfo i = info(c);
    assert_true(i.heartbeatsOut >= 3);
    assert_true(i.heartbeatsOut <= 6);
    assert_true(fsGet(fs, &fs->heartbeats) >= 3);
    LOCKED(fs, assert_int_equal(fs->lastHbSeq, 2)); /* our next request's number */
    assert_int_equal(i.state, XCL_STATE_LOGGED_ON);
    const int t = xclNextTimeoutMs(c);
    assert_true(t >= 0 && t <= 100);
    xclClose(c);
}

static void test_batching(void **state)
{
    fakeServer *fs = *state;
    xclOptions o;
    memset(&o, 0, sizeof o);
    o.batch = 1;
    xclSession *c = logonClient(fs, &o, 1000);
    for (int k = 0; k < 5; k++)
        sendOrder(c, REST_PRICE, 1);
    sleepMs(30);
    assert_int_equal(fsGet(fs, &fs->appDatagrams), 0); /* queued, not sent */
    assert_int_equal(info(c).unanswered, 5);
    assert_int_equal(xclFlush(c), XCL_OK);
    assert_int_equal(xclFlush(c), XCL_OK); /* nothing more */
    for (uint64_t q = 1; q <= 5; q++)
        assert_int_equal(expectReport(c, XOE_MSG_ACCEPTED, 1000).seq, q);
    assert_int_equal(fsGet(fs, &fs->appDatagrams), 1);
    LOCKED(fs, assert_int_equal(fs->dgMsgs[0], 5));

    /* 40 NewOrders (40 bytes each) do not fit one 1472-byte frame: 36 + 4 */
    for (int k = 0; k < 40; k++)
        sendOrder(c, REST_PRICE, 1);
    assert_int_equal(fsGet(fs, &fs->appDatagrams) <= 2, 1);
    assert_int_equal(xclFlush(c), XCL_OK);
    for (uint64_t q = 6; q <= 45; q++)
        assert_int_equal(expectReport(c, XOE_MSG_ACCEPTED, 1000).seq, q);
    LOCKED(fs, {
        assert_int_equal(fs->appDatagrams, 3);
        assert_int_equal(fs->dgMsgs[1], (XOE_FRAME_MAX - XOE_HEADER_SIZE) / 40);
        assert_int_equal(fs->dgMsgs[2], 40 - (XOE_FRAME_MAX - XOE_HEADER_SIZE) / 40);
    });

    /* xclPoll sends a batch left queued */
    sendOrder(c, REST_PRICE, 1);
    uint64_t cid = 0;
    assert_int_equal(xclCancel(c, 0x0100000000000001ull, 0, &cid), XCL_OK);
    assert_int_equal(expectReport(c, XOE_MSG_ACCEPTED, 1000).seq, 46);
    assert_int_equal(expectReport(c, XOE_MSG_CANCELLED, 1000).seq, 47);
    LOCKED(fs, {
        assert_int_equal(fs->appDatagrams, 4);
        assert_int_equal(fs->dgMsgs[3], 2);
    });
    assert_int_equal(info(c).unanswered, 0);
    xclClose(c);
}

static void test_logout_and_resume(void **state)
{
    fakeServer *fs = *state;
    xclSession *c = logonClient(fs, NULL, 1000);
    sendOrder(c, REST_PRICE, 1);
    assert_int_equal(expectReport(c, XOE_MSG_ACCEPTED, 1000).seq, 1);

    /* The next two reports are lost and the client logs out before it
     * notices: the next logon asks for them and they are replayed. */
    LOCKED(fs, {
        fs->dropOut[fs->nDropOut++] = 2;
        fs->dropOut[fs->nDropOut++] = 3;
        fs->noServerHb = 1;
    });
    const uint64_t id2 = sendOrder(c, CROSS_PRICE, 4);
    sleepMs(30);
    assert_int_equal(xclLogout(c, 1000), XCL_OK);
    assert_int_equal(info(c).state, XCL_STATE_LOGGED_OUT);
    xclReport r = expectReport(c, XOE_MSG_LOGGED_OUT, 100);
    assert_int_equal(r.msg.u.loggedOut.reason, XOE_LOGOUT_USER);
    const xclOrder o = order(REST_PRICE, 1);
    assert_int_equal(xclNewOrder(c, &o, NULL), XCL_ESTATE);
    assert_int_equal(fsGet(fs, &fs->logouts), 1);

    LOCKED(fs, fs->noServerHb = 0);
    assert_int_equal(xclLogon(c, 1000, 2000), XCL_OK);
    LOCKED(fs, {
        assert_int_equal(fs->lastLogonNextOutSeq, 2);
        assert_int_equal(fs->lastLogonSeq, 3);
    });
    r = expectReport(c, XOE_MSG_ACCEPTED, 1000);
    assert_int_equal(r.seq, 2);
    assert_int_equal(r.clOrdId, id2);
    assert_int_equal(r.retransmitted, 1);
    assert_int_equal(expectReport(c, XOE_MSG_EXECUTED, 1000).seq, 3);
    const uint64_t id3 = sendOrder(c, REST_PRICE, 1);
    assert_int_equal(id3, id2 + 1);
    r = expectReport(c, XOE_MSG_ACCEPTED, 1000);
    assert_int_equal(r.seq, 4);
    assert_int_equal(r.clOrdId, id3);
    assert_int_equal(fsGet(fs, &fs->processed), 3);
    assert_int_equal(info(c).unanswered, 0);
    xclClose(c);
}

static void test_logout_answer_lost(void **state)
{
    fakeServer *fs = *state;
    xclOptions o;
    memset(&o, 0, sizeof o);
    o.logonRetryMs = 100;
    xclSession *c = logonClient(fs, &o, 1000);
    LOCKED(fs, fs->loseLoggedOut = 1);
    assert_int_equal(xclLogout(c, 2000), XCL_OK); /* the repeat gets NOT_LOGGED_ON */
    assert_int_equal(fsGet(fs, &fs->notLoggedOnSent), 1);
    xclInfo i = info(c);
    assert_int_equal(i.state, XCL_STATE_LOGGED_OUT);
    assert_int_equal(i.staleDropped, 1);
    expectNothing(c, 50); /* nothing to report: the caller asked to leave */
    /* and it logs on again */
    assert_int_equal(xclLogon(c, 1000, 2000), XCL_OK);
    xclClose(c);
}

static void test_kicked_by_operator(void **state)
{
    fakeServer *fs = *state;
    xclSession *c = logonClient(fs, NULL, 1000);
    LOCKED(fs, fs->kick = 1);
    const xclReport r = expectReport(c, XOE_MSG_LOGGED_OUT, 1000);
    assert_int_equal(r.msg.u.loggedOut.reason, XOE_LOGOUT_ADMIN);
    char line[64];
    xclReportFormat(&r, line, sizeof line);
    assert_string_equal(line, "LoggedOut reason=ADMIN");
    assert_int_equal(info(c).state, XCL_STATE_LOGGED_OUT);
    const xclOrder ord = order(REST_PRICE, 1);
    assert_int_equal(xclNewOrder(c, &ord, NULL), XCL_ESTATE);
    assert_int_equal(xclLogout(c, 100), XCL_ESTATE);
    xclClose(c);
}

static void test_resume_from_options(void **state)
{
    fakeServer *fs = *state;
    /* an earlier process got as far as report 1 */
    xclSession *c = logonClient(fs, NULL, 1000);
    sendOrder(c, CROSS_PRICE, 5);
    expectReport(c, XOE_MSG_ACCEPTED, 1000);
    expectReport(c, XOE_MSG_EXECUTED, 1000);
    xclClose(c);
    xclOptions o;
    memset(&o, 0, sizeof o);
    o.nextOutSeq = 2;
    o.firstClOrdId = 100;
    c = logonClient(fs, &o, 1000);
    LOCKED(fs, assert_int_equal(fs->lastLogonNextOutSeq, 2));
    const xclReport r = expectReport(c, XOE_MSG_EXECUTED, 1000);
    assert_int_equal(r.seq, 2);
    assert_int_equal(r.retransmitted, 1);
    assert_int_equal(info(c).nextInSeq, 2); /* from LogonAccepted */
    assert_int_equal(sendOrder(c, REST_PRICE, 1), 100);
    assert_int_equal(expectReport(c, XOE_MSG_ACCEPTED, 1000).seq, 3);
    xclClose(c);
}

static void test_too_old_reported_lost(void **state)
{
    fakeServer *fs = *state;
    xclSession *c = logonClient(fs, NULL, 1000);
    sendOrder(c, REST_PRICE, 1);
    assert_int_equal(expectReport(c, XOE_MSG_ACCEPTED, 1000).seq, 1);
    LOCKED(fs, {
        fs->dropOut[fs->nDropOut++] = 2;
        fs->dropOut[fs->nDropOut++] = 3;
        fs->oldest = 4; /* and they leave the history at once */
        fs->noServerHb = 1;
    });
    sendOrder(c, CROSS_PRICE, 5);
    sleepMs(30);
    sendOrder(c, REST_PRICE, 1);
    const xclReport r = expectReport(c, XCL_RPT_LOST, 1000);
    assert_int_equal(r.lostFrom, 2);
    assert_int_equal(r.lostCount, 2);
    char line[160];
    xclReportFormat(&r, line, sizeof line);
    assert_non_null(strstr(line, "2..3"));
    assert_int_equal(expectReport(c, XOE_MSG_ACCEPTED, 1000).seq, 4);
    const xclInfo i = info(c);
    assert_int_equal(i.lost, 2);
    assert_int_equal(i.unanswered, 0);
    xclClose(c);
}

static void test_session_lost(void **state)
{
    fakeServer *fs = *state;
    xclSession *c = logonClient(fs, NULL, 100);
    LOCKED(fs, fs->mute = 1);
    const xclReport r = expectReport(c, XCL_RPT_SESSION_LOST, 1000);
    assert_int_equal(r.seq, 0);
    assert_int_equal(info(c).state, XCL_STATE_LOGGED_OUT);
    assert_int_equal(xclNextTimeoutMs(c), -1);
    const xclOrder o = order(REST_PRICE, 1);
    assert_int_equal(xclNewOrder(c, &o, NULL), XCL_ESTATE);
    /* the server comes back: log on again */
    LOCKED(fs, fs->mute = 0);
    assert_int_equal(xclLogon(c, 100, 2000), XCL_OK);
    sendOrder(c, REST_PRICE, 1);
    assert_int_equal(expectReport(c, XOE_MSG_ACCEPTED, 1000).seq, 1);
    xclClose(c);
}

static void test_window_full(void **state)
{
    fakeServer *fs = *state;
    xclOptions o;
    memset(&o, 0, sizeof o);
    o.window = 3; /* rounded up to 4 */
    xclSession *c = logonClient(fs, &o, 200);
    LOCKED(fs, fs->dropIn = 100);
    for (int k = 0; k < 4; k++)
        sendOrder(c, REST_PRICE, 1);
    const xclOrder ord = order(REST_PRICE, 1);
    uint64_t id = 0;
    assert_int_equal(xclNewOrder(c, &ord, &id), XCL_EAGAIN);
    assert_int_equal(id, 0);
    assert_int_equal(xclCancel(c, 1, 0, NULL), XCL_EAGAIN);
    assert_int_equal(info(c).unanswered, 4);
    LOCKED(fs, fs->dropIn = 0);
    /* heartbeat -> gap -> resend: all four answered, room again */
    for (uint64_t q = 1; q <= 4; q++)
        assert_int_equal(expectReport(c, XOE_MSG_ACCEPTED, 2500).clOrdId, q);
    assert_int_equal(xclNewOrder(c, &ord, &id), XCL_OK);
    assert_int_equal(id, 5); /* the refused calls used no id */
    xclClose(c);
}

static void test_invalid_requests(void **state)
{
    fakeServer *fs = *state;
    xclSession *c = logonClient(fs, NULL, 1000);
    xclOrder o = order(REST_PRICE, 1);
    o.side = 2;
    assert_int_equal(xclNewOrder(c, &o, NULL), XCL_EINVAL);
    assert_non_null(strstr(xclLastError(c), "bad_enum"));
    o = order(REST_PRICE, 0);
    assert_int_equal(xclNewOrder(c, &o, NULL), XCL_EINVAL);
    o = order(REST_PRICE, 1);
    o.timeCondition = 3;
    assert_int_equal(xclNewOrder(c, &o, NULL), XCL_EINVAL);
    assert_int_equal(xclReplace(c, 1, REST_PRICE, 0, 0, NULL), XCL_EINVAL);
    assert_int_equal(xclNewOrder(NULL, &o, NULL), XCL_EINVAL);
    assert_int_equal(xclNewOrder(c, NULL, NULL), XCL_EINVAL);
    assert_int_equal(xclPoll(c, 0, NULL), XCL_EINVAL);
    assert_int_equal(xclPoll(NULL, 0, NULL), XCL_EINVAL);
    assert_int_equal(xclLogon(NULL, 0, 0), XCL_EINVAL);
    assert_int_equal(xclFd(NULL), -1);
    const xclInfo i = info(c);
    assert_int_equal(i.unanswered, 0);
    assert_int_equal(i.nextInSeq, 1);
    /* a valid order still gets id 1 and number 1 */
    o = order(REST_PRICE, 1);
    uint64_t id = 0;
    assert_int_equal(xclNewOrder(c, &o, &id), XCL_OK);
    assert_int_equal(id, 1);
    assert_int_equal(expectReport(c, XOE_MSG_ACCEPTED, 1000).seq, 1);
    assert_int_equal(xclService(c), 0);
    xclClose(c);
}

#define T(f) cmocka_unit_test(f)
#define S(f) cmocka_unit_test_setup_teardown(f, fsSetup, fsTeardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_price_roundtrip),
        T(test_price_refusals),
        T(test_price_format_truncation),
        T(test_token_parse),
        T(test_session_parse),
        T(test_code_names),
        T(test_open_errors),
        S(test_logon_accepted),
        S(test_logon_rejected),
        S(test_logon_answer_lost),
        T(test_logon_timeout),
        S(test_orders_reports_in_order),
        S(test_lost_answer_recovered),
        S(test_lost_last_answer_found_by_server_heartbeat),
        S(test_duplicates_ignored),
        S(test_reordered_answers),
        S(test_unknown_report_type_delivered),
        S(test_lost_request_resent_on_gap),
        S(test_lost_request_resent_when_idle),
        S(test_heartbeat_when_idle),
        S(test_batching),
        S(test_logout_and_resume),
        S(test_logout_answer_lost),
        S(test_kicked_by_operator),
        S(test_resume_from_options),
        S(test_too_old_reported_lost),
        S(test_session_lost),
        S(test_window_full),
        S(test_invalid_requests),
    };
    return cmocka_run_group_tests_name("client", tests, NULL, NULL) ? 1 : 0;
}
