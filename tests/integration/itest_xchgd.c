/* itest_xchgd.c -- integration test of the real xchgd, over the wire.
 *
 * tests/integration/run.sh starts build/bin/xchgd on a veth pair whose
 * client end sits in a network namespace, creates sessions with xchgctl and
 * runs this program inside the namespace:
 *
 *   itest_xchgd --phase main|throttle|watch --server IP [--port N] --ctl SOCKET
 *               --session ROLE:ACCOUNT:ID:TOKENHEX ... [--local IP] [--other IP]
 *               [--dev IFACE] [--server-mac MAC] [--throttle N] [--fuzz N]
 *               [--fuzz-window N] [--seed N] [--timeout-ms N]
 *
 * --local is the namespace's address (198.18.0.2), --other a second address
 * on the same interface (198.18.0.3) for wrong-source traffic, --dev the
 * interface (for the AF_PACKET cases) and --server-mac xchgd's port MAC.
 * The control socket is used directly (the JSON lines xchgctl sends) to read
 * counters, books and sessions and to change trading states.
 *
 * Phases and the sessions they use (ROLE: account, allowed source):
 *   main      A 1001 local, B 2002 local (libxchg-client traders);
 *             C 1001 any (raw: rejects, duplicates, gaps, retransmission,
 *             malformed frames), D 2002 any (wrong source, takeover),
 *             E 1001 local (timeout, NOT_LOGGED_ON, allowed source),
 *             F 2002 any (never logged on), G 1001 any (throttle burst,
 *             expired history), H 2002 any (fuzz target);
 *             --throttle is the config's risk.throttle_msgs_per_sec.
 *   throttle  T 1001 any, against an xchgd whose throttle is --throttle
 *             (small: run.sh uses 2): exact throttle answers.
 *   watch     W: logs on, prints "itest-watch: ready", then waits for
 *             LoggedOut{SHUTDOWN} (run.sh sends xchgd SIGTERM meanwhile).
 *
 * Every case prints "ok" or "FAIL" with the reason. After each step the
 * test waits until gateway.datagrams_in equals the number of datagrams it
 * sent to the order-entry port (a barrier: every datagram was received and
 * processed), then compares counters. The last lines are
 *   itest: sent datagrams=N      (what gateway.datagrams_in must be)
 *   itest: folded frames=K       (frames on the veth xchgd cannot see, see caseL3)
 *   itest: summary P passed, F failed
 * and the exit status is 0 only when every case passed. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "xchg/client.h"
#include "xchg/xoe.h"

/* ---- options ------------------------------------------------------------------ */

#define IT_MAX_SPECS 16

typedef struct {
    char role[8];
    uint32_t account, id;
    uint8_t token[XOE_TOKEN_SIZE];
} itSpec;

static struct {
    const char *phase, *server, *ctlPath, *local, *other, *dev;
    uint16_t port;
    uint8_t mac[6];
    int haveMac;
    uint32_t throttle;
    unsigned long fuzz;
    unsigned fuzzWindow;
    uint64_t seed;
    int timeoutMs;
    itSpec spec[IT_MAX_SPECS];
    int nspec;
} opt;

/* Instrument indexes of config/xchg.conf's segment 0, and prices in 1e-4 units. */
enum { IF = 0, IC = 1, IH = 2, CU = 3, IT_INSTRUMENTS = 4 };
#define PX(whole, frac4) ((int64_t)(whole)*10000 + (frac4))
#define IT_NO_ORDER      UINT64_C(0x00000000DEADBEEF)

/* ---- results -------------------------------------------------------------------- */

static const char *gCase;
static int gCaseFailed, gPass, gFail;
static uint64_t gSent;      /* datagrams our own sockets sent that reach the gateway */
static uint64_t gLibClosed; /* datagrams sent by library sessions already closed */
static uint64_t gBaseIn;    /* gateway.datagrams_in when the test started */
static uint64_t gBadFrames; /* datagrams from xchgd that were not valid XOE frames */
static uint64_t gFolded;    /* frames the veth carried that xchgd cannot see: fragments the
                               kernel holds or merges before net_af_packet hands them over */

static void itFail(int line, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void itFail(int line, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    printf("     FAIL [%s] line %d: %s\n", gCase ? gCase : "-", line, msg);
    fflush(stdout);
    gCaseFailed = 1;
}

/* In a case (a void function): stop it when the condition does not hold. */
#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            itFail(__LINE__, __VA_ARGS__);                                                         \
            return;                                                                                \
        }                                                                                          \
    } while (0)
/* Stop the case when a helper failed (the helper said why). */
#define REQUIRE(expr)                                                                              \
    do {                                                                                           \
        if (!(expr) || gCaseFailed) {                                                              \
            if (!gCaseFailed)                                                                      \
                itFail(__LINE__, "%s", #expr);                                                     \
            return;                                                                                \
        }                                                                                          \
    } while (0)

static uint64_t itNs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t itWallNs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void itSleepMs(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static int itMsLeft(uint64_t deadline)
{
    const uint64_t now = itNs();
    return now >= deadline ? 0 : (int)((deadline - now + 999999) / 1000000);
}

/* xorshift64*: the fuzz and the random cases are reproducible from --seed. */
static uint64_t gRng = 1;
static uint64_t itRand(void)
{
    gRng ^= gRng >> 12;
    gRng ^= gRng << 25;
    gRng ^= gRng >> 27;
    return gRng * UINT64_C(2685821657736338717);
}

static const itSpec *itSpecOf(const char *role)
{
    for (int i = 0; i < opt.nspec; i++)
        if (!strcmp(opt.spec[i].role, role))
            return &opt.spec[i];
    fprintf(stderr, "itest: no --session for role %s\n", role);
    exit(2);
}

/* ---- control socket ---------------------------------------------------------------- */

static int gCtl = -1;
static char gCtlBuf[1 << 20];
static size_t gCtlLen;
static char gCtlErr[512];

static int itCtlOpen(void)
{
    struct sockaddr_un a;
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    if (strlen(opt.ctlPath) >= sizeof a.sun_path)
        return -1;
    strcpy(a.sun_path, opt.ctlPath);
    gCtl = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (gCtl < 0 || connect(gCtl, (struct sockaddr *)&a, sizeof a) != 0)
        return -1;
    return 0;
}

/* One request; returns the answer's data (a new reference) or NULL with
 * gCtlErr set. args is stolen (NULL: {}). */
static json_t *itCtl(const char *cmd, json_t *args)
{
    static unsigned id;
    gCtlErr[0] = 0;
    json_t *req = json_pack("{s:I, s:s, s:o}", "id", (json_int_t)++id, "cmd", cmd, "args",
                            args ? args : json_object());
    char *line = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    if (!line)
        return NULL;
    size_t len = strlen(line), off = 0;
    line[len++] = '\n'; /* json_dumps leaves room: its NUL */
    while (off < len) {
        ssize_t n = write(gCtl, line + off, len - off);
        if (n <= 0) {
            snprintf(gCtlErr, sizeof gCtlErr, "control socket write: %s", strerror(errno));
            free(line);
            return NULL;
        }
        off += (size_t)n;
    }
    free(line);
    const uint64_t deadline = itNs() + 5000000000ULL;
    char *nl;
    while (!(nl = memchr(gCtlBuf, '\n', gCtlLen))) {
        struct pollfd p = {gCtl, POLLIN, 0};
        if (gCtlLen == sizeof gCtlBuf || poll(&p, 1, itMsLeft(deadline)) <= 0) {
            snprintf(gCtlErr, sizeof gCtlErr, "control socket: no answer to %s", cmd);
            return NULL;
        }
        ssize_t n = read(gCtl, gCtlBuf + gCtlLen, sizeof gCtlBuf - gCtlLen);
        if (n <= 0) {
            snprintf(gCtlErr, sizeof gCtlErr, "control socket closed");
            return NULL;
        }
        gCtlLen += (size_t)n;
    }
    json_error_t je;
    json_t *ans = json_loadb(gCtlBuf, (size_t)(nl - gCtlBuf), 0, &je);
    const size_t used = (size_t)(nl - gCtlBuf) + 1;
    memmove(gCtlBuf, gCtlBuf + used, gCtlLen - used);
    gCtlLen -= used;
    if (!ans) {
        snprintf(gCtlErr, sizeof gCtlErr, "bad JSON answer: %s", je.text);
        return NULL;
    }
    json_t *data = NULL;
    if (json_is_true(json_object_get(ans, "ok"))) {
        data = json_incref(json_object_get(ans, "data"));
    } else {
        json_t *e = json_object_get(ans, "error");
        snprintf(gCtlErr, sizeof gCtlErr, "%s: error %lld: %s", cmd,
                 (long long)json_integer_value(json_object_get(e, "code")),
                 json_string_value(json_object_get(e, "message")));
    }
    json_decref(ans);
    return data;
}

/* The value at a dotted path of an object ("gateway.malformed.bad_magic"),
 * 0 when absent. */
static uint64_t itJU(json_t *o, const char *path)
{
    char key[128];
    while (o && *path) {
        size_t n = strcspn(path, ".");
        if (n >= sizeof key)
            return 0;
        memcpy(key, path, n);
        key[n] = 0;
        o = json_object_get(o, key);
        path += n + (path[n] == '.');
    }
    return o && json_is_integer(o) ? (uint64_t)json_integer_value(o) : 0;
}

/* stats of segment 0 (a new reference) or NULL. */
static json_t *itStats(void)
{
    json_t *d = itCtl("stats", NULL);
    if (!d)
        return NULL;
    json_t *s = json_incref(json_array_get(json_object_get(d, "segments"), 0));
    json_decref(d);
    return s;
}

/* ---- sockets and frames from xchgd --------------------------------------------------------- */

static struct sockaddr_in itServerAddr(void)
{
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons(opt.port);
    inet_pton(AF_INET, opt.server, &a.sin_addr);
    return a;
}

/* A UDP socket bound to localIp (ephemeral port), connected to xchgd's
 * order-entry port, with a large receive buffer. Exits on failure: nothing
 * can be tested without sockets. */
static int itUdp(const char *localIp)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int big = 8 << 20;
    if (fd < 0)
        goto fail;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big) != 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof big);
    struct sockaddr_in l;
    memset(&l, 0, sizeof l);
    l.sin_family = AF_INET;
    if (inet_pton(AF_INET, localIp, &l.sin_addr) != 1 || bind(fd, (struct sockaddr *)&l, sizeof l))
        goto fail;
    struct sockaddr_in s = itServerAddr();
    if (connect(fd, (struct sockaddr *)&s, sizeof s) != 0)
        goto fail;
    return fd;
fail:
    fprintf(stderr, "itest: UDP socket on %s: %s\n", localIp, strerror(errno));
    exit(2);
}

static uint16_t itLocalPort(int fd)
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &len);
    return ntohs(a.sin_port);
}

/* Sends one datagram on a socket connected to xchgd's order-entry port and
 * counts it in gSent: whatever an ordinary UDP socket sends reaches the
 * gateway (which the barrier checks). */
static int itSend(int fd, const void *buf, size_t len)
{
    for (;;) {
        ssize_t n = send(fd, buf, len, 0);
        if (n == (ssize_t)len) {
            gSent++;
            return 1;
        }
        if (n < 0 && (errno == ECONNREFUSED || errno == EINTR))
            continue; /* an ICMP error from earlier traffic: the send itself is fine */
        itFail(__LINE__, "send of %zu bytes: %s", len, n < 0 ? strerror(errno) : "short");
        return 0;
    }
}

/* A message received from xchgd, with its frame's header fields. */
typedef struct {
    xoeMsg m;
    uint8_t raw[XOE_MSG_MAX]; /* its first bytes as sent */
    uint16_t rawLen;
    uint8_t flags; /* of its frame */
    uint32_t session;
    uint64_t frameSeq;
    uint64_t rxNs;
} itMsg;

typedef struct {
    uint64_t seq;
    uint32_t session;
    uint16_t count, sequenced;
    uint8_t flags;
    int logonRejected; /* holds a LogonRejected */
} itFrameInfo;

/* Reads one datagram (waiting up to timeoutMs), which must be a valid XOE
 * frame to a client, into out[]. Returns its message count, 0 when none
 * came, -1 for an invalid frame (counted and reported). */
static int itRecvFrame(int fd, int timeoutMs, itMsg *out, itFrameInfo *fi)
{
    uint8_t buf[2048];
    struct pollfd p = {fd, POLLIN, 0};
    for (;;) {
        if (poll(&p, 1, timeoutMs) <= 0)
            return 0;
        ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == ECONNREFUSED || errno == EINTR)) {
            if (errno != EAGAIN)
                continue;
            return 0;
        }
        if (n < 0)
            return 0;
        xoeFrame f;
        xoeErrorInfo ei;
        const int rc = xoeFrameParse(buf, (size_t)n, XOE_DIR_TO_CLIENT, &f, &ei);
        if (rc != XOE_OK) {
            gBadFrames++;
            itFail(__LINE__, "xchgd sent an invalid frame (%zd bytes): %s at message %u offset %u",
                   n, xoeErrorName(rc), ei.msgIndex, ei.offset);
            return -1;
        }
        memset(fi, 0, sizeof *fi);
        fi->seq = f.seq;
        fi->session = f.session;
        fi->count = f.count;
        fi->sequenced = f.sequenced;
        fi->flags = f.flags;
        xoeIter it;
        xoeIterInit(&it, &f);
        const uint64_t now = itNs();
        int k = 0;
        while (xoeIterNext(&it, &out[k].m)) {
            itMsg *m = &out[k++];
            m->rawLen = m->m.length < XOE_MSG_MAX ? m->m.length : XOE_MSG_MAX;
            memcpy(m->raw, buf + m->m.offset, m->rawLen);
            m->flags = f.flags;
            m->session = f.session;
            m->frameSeq = f.seq;
            m->rxNs = now;
            fi->logonRejected |= m->m.type == XOE_MSG_LOGON_REJECTED;
        }
        return k;
    }
}

/* A readable one-line rendering of a message from xchgd. */
static const char *itDesc(const itMsg *m)
{
    static char buf[512];
    const xoeMsg *x = &m->m;
    switch (x->type) {
    case XOE_MSG_LOGON_ACCEPTED:
        snprintf(buf, sizeof buf,
                 "LogonAccepted hb=%u nextIn=%" PRIu64 " nextOut=%" PRIu64 " day=%u segment=%u",
                 x->u.logonAccepted.heartbeatMs, x->u.logonAccepted.nextInSeq,
                 x->u.logonAccepted.nextOutSeq, x->u.logonAccepted.tradingDay,
                 x->u.logonAccepted.segment);
        return buf;
    case XOE_MSG_LOGON_REJECTED:
        snprintf(buf, sizeof buf, "LogonRejected code=%u (frame seq %" PRIu64 ")",
                 x->u.logonRejected.code, m->frameSeq);
        return buf;
    case XOE_MSG_SERVER_HEARTBEAT:
        snprintf(buf, sizeof buf, "ServerHeartbeat (frame seq %" PRIu64 ")", m->frameSeq);
        return buf;
    case XOE_MSG_RETRANSMIT_END:
        snprintf(buf, sizeof buf,
                 "RetransmitEnd sent=%u fromSeq=%" PRIu64 " count=%u flags=%u firstSeq=%" PRIu64,
                 x->u.retransmitEnd.sent, x->u.retransmitEnd.fromSeq, x->u.retransmitEnd.count,
                 x->u.retransmitEnd.flags, x->u.retransmitEnd.firstSeq);
        return buf;
    default: {
        xclReport r;
        memset(&r, 0, sizeof r);
        r.type = x->type;
        r.seq = x->seq;
        r.msg = *x;
        r.retransmitted = (m->flags & XOE_FLAG_RETRANSMIT) != 0;
        if (xoeIsSequenced(x->type) && m->rawLen >= 16)
            memcpy(&r.clOrdId, m->raw + 8, sizeof r.clOrdId);
        xclReportFormat(&r, buf, sizeof buf);
        return buf;
    }
    }
}

/* ---- frames to xchgd ----------------------------------------------------------------------- */

typedef struct {
    uint8_t buf[XOE_FRAME_MAX];
    xoeWriter w;
} itFB;

static void itFBInit(itFB *b, uint32_t session, uint64_t seq)
{
    xoeWriterInit(&b->w, b->buf, sizeof b->buf, session, seq, 0);
}

static void itFBAdd(itFB *b, uint8_t type, const void *msg)
{
    const int rc = xoeAppend(&b->w, type, msg);
    if (rc != XOE_OK)
        itFail(__LINE__, "encoder refused %s: %s", xoeTypeName(type), xoeErrorName(rc));
}

static size_t itFBLen(itFB *b)
{
    return xoeWriterFinish(&b->w);
}

static xoeNewOrder itNO(uint16_t ins, uint8_t side, int64_t price, uint32_t qty, uint64_t clOrdId)
{
    xoeNewOrder o;
    memset(&o, 0, sizeof o);
    o.instrument = ins;
    o.side = side;
    o.price = price;
    o.qty = qty;
    o.clOrdId = clOrdId;
    return o;
}

/* ---- logon pacing -------------------------------------------------------------------------- */

/* xchgd evaluates one Logon per session per second: space ours out. */
static struct {
    uint32_t id;
    uint64_t at;
} gLogons[64];

static void itLogonPace(uint32_t id)
{
    int i = 0;
    for (; i < 64 && gLogons[i].id && gLogons[i].id != id; i++) {
    }
    if (i == 64)
        i = 63;
    if (gLogons[i].id == id) {
        const uint64_t ok = gLogons[i].at + 1100000000ULL;
        const uint64_t now = itNs();
        if (now < ok)
            itSleepMs((int)((ok - now) / 1000000) + 1);
    }
    gLogons[i].id = id;
    gLogons[i].at = itNs();
}

/* ---- raw sessions -------------------------------------------------------------------------- */

#define IT_QCAP 1024
#define IT_HIST 8192

typedef struct {
    const char *role;
    uint32_t id, account;
    uint8_t token[XOE_TOKEN_SIZE];
    int fd;
    uint64_t nextIn;  /* number of our next application message */
    uint64_t nextOut; /* next new number expected from xchgd */
    itMsg q[IT_QCAP]; /* received, not yet consumed */
    unsigned qHead, qLen;
    uint8_t hist[IT_HIST][XOE_MSG_MAX]; /* application messages received, by number */
    uint16_t histLen[IT_HIST];
    uint64_t histSeq[IT_HIST];
    uint64_t resent;     /* application messages received again (RETRANSMIT) */
    uint64_t heartbeats; /* ServerHeartbeats received */
    int keepHeartbeats;  /* queue ServerHeartbeats (else only counted) */
} itRaw;

static itRaw *itRawOpen(const char *role, const char *localIp)
{
    const itSpec *sp = itSpecOf(role);
    itRaw *r = calloc(1, sizeof *r);
    if (!r) {
        fprintf(stderr, "itest: out of memory\n");
        exit(2);
    }
    r->role = sp->role;
    r->id = sp->id;
    r->account = sp->account;
    memcpy(r->token, sp->token, XOE_TOKEN_SIZE);
    r->fd = itUdp(localIp);
    r->nextIn = 1;
    r->nextOut = 1;
    return r;
}

static void itRawClose(itRaw *r)
{
    if (r) {
        close(r->fd);
        free(r);
    }
}

/* Takes a message from xchgd: numbering and resend checks, then queues it. */
static void itRawAccept(itRaw *r, const itMsg *m)
{
    if (m->session != r->id)
        itFail(__LINE__, "%s: a frame of session %u arrived", r->role, m->session);
    if (xoeIsSequenced(m->m.type)) {
        const uint64_t seq = m->m.seq;
        const unsigned slot = (unsigned)(seq % IT_HIST);
        if (seq < r->nextOut) {
            if (!(m->flags & XOE_FLAG_RETRANSMIT))
                itFail(__LINE__, "%s: number %" PRIu64 " came again without RETRANSMIT: %s",
                       r->role, seq, itDesc(m));
            else if (r->histSeq[slot] == seq && (r->histLen[slot] != m->rawLen ||
                                                 memcmp(r->hist[slot], m->raw, m->rawLen) != 0))
                itFail(__LINE__, "%s: resent %" PRIu64 " differs from the original: %s", r->role,
                       seq, itDesc(m));
            r->resent++;
        } else {
            if (seq > r->nextOut)
                itFail(__LINE__, "%s: outbound gap: got %" PRIu64 ", expected %" PRIu64, r->role,
                       seq, r->nextOut);
            memcpy(r->hist[slot], m->raw, m->rawLen);
            r->histLen[slot] = m->rawLen;
            r->histSeq[slot] = seq;
            r->nextOut = seq + 1;
        }
    }
    if (m->m.type == XOE_MSG_SERVER_HEARTBEAT) {
        r->heartbeats++;
        if (!r->keepHeartbeats)
            return; /* idle sessions get them whenever xchgd sent nothing for an interval */
    }
    if (r->qLen == IT_QCAP) {
        itFail(__LINE__, "%s: more than %d messages unread", r->role, IT_QCAP);
        return;
    }
    r->q[(r->qHead + r->qLen++) % IT_QCAP] = *m;
}

/* Reads what arrives: waits up to timeoutMs for a first datagram, then takes
 * whatever else is there, while the queue has room. Returns messages read. */
static int itRawPump(itRaw *r, int timeoutMs)
{
    itMsg tmp[XOE_MAX_MESSAGES];
    itFrameInfo fi;
    int total = 0;
    while (r->qLen + XOE_MAX_MESSAGES <= IT_QCAP) {
        const int n = itRecvFrame(r->fd, total ? 0 : timeoutMs, tmp, &fi);
        if (n <= 0)
            break;
        for (int i = 0; i < n; i++)
            itRawAccept(r, &tmp[i]);
        if (fi.sequenced == 0 && !fi.logonRejected && fi.seq != r->nextOut)
            itFail(__LINE__,
                   "%s: frame of session messages carries seq %" PRIu64 ", next is %" PRIu64,
                   r->role, fi.seq, r->nextOut);
        total += n;
    }
    return total;
}

/* The next message, waiting up to timeoutMs. */
static int itRawNext(itRaw *r, int timeoutMs, itMsg *out)
{
    const uint64_t deadline = itNs() + (uint64_t)timeoutMs * 1000000ULL;
    while (r->qLen == 0) {
        const int left = itMsLeft(deadline);
        if (itRawPump(r, left) <= 0 && left == 0)
            return 0;
    }
    *out = r->q[r->qHead];
    r->qHead = (r->qHead + 1) % IT_QCAP;
    r->qLen--;
    return 1;
}

/* The next message must be of `type`. */
static int itRawExpectAt(itRaw *r, uint8_t type, itMsg *out, int line)
{
    itMsg m;
    if (!itRawNext(r, opt.timeoutMs, &m)) {
        itFail(line, "%s: no %s within %d ms", r->role, xoeTypeName(type), opt.timeoutMs);
        return 0;
    }
    if (m.m.type != type) {
        itFail(line, "%s: expected %s, got %s", r->role, xoeTypeName(type), itDesc(&m));
        return 0;
    }
    if (out)
        *out = m;
    return 1;
}
#define itRawExpect(r, type, out) itRawExpectAt(r, type, out, __LINE__)

/* Nothing may arrive within ms. */
static int itRawQuietAt(itRaw *r, int ms, int line)
{
    itMsg m;
    if (itRawNext(r, ms, &m)) {
        itFail(line, "%s: unexpected %s", r->role, itDesc(&m));
        return 0;
    }
    return 1;
}
#define itRawQuiet(r, ms) itRawQuietAt(r, ms, __LINE__)

/* A single-message frame with the session's next number. */
static int itRawSend(itRaw *r, uint8_t type, const void *msg)
{
    itFB b;
    itFBInit(&b, r->id, r->nextIn);
    itFBAdd(&b, type, msg);
    if (xoeIsSequenced(type))
        r->nextIn++;
    return itSend(r->fd, b.buf, itFBLen(&b));
}

static int itRawSendLogonFd(itRaw *r, int fd, uint32_t hbMs, uint64_t nextOutSeq,
                            const uint8_t *token)
{
    xoeLogon l;
    memset(&l, 0, sizeof l);
    l.heartbeatMs = hbMs;
    memcpy(l.token, token, XOE_TOKEN_SIZE);
    l.nextOutSeq = nextOutSeq;
    itFB b;
    itFBInit(&b, r->id, r->nextIn);
    itFBAdd(&b, XOE_MSG_LOGON, &l);
    itLogonPace(r->id);
    return itSend(fd, b.buf, itFBLen(&b));
}

/* Logs on and checks LogonAccepted (and, without replay, that nothing was
 * missed). */
static int itRawLogonAt(itRaw *r, uint32_t hbMs, uint64_t nextOutSeq, itMsg *la, int line)
{
    itMsg m;
    if (!itRawSendLogonFd(r, r->fd, hbMs, nextOutSeq, r->token) ||
        !itRawExpectAt(r, XOE_MSG_LOGON_ACCEPTED, &m, line))
        return 0;
    const xoeLogonAccepted *a = &m.m.u.logonAccepted;
    if (nextOutSeq == 0 && a->nextOutSeq != r->nextOut) {
        itFail(line, "%s: %s, expected nextOut %" PRIu64, r->role, itDesc(&m), r->nextOut);
        return 0;
    }
    r->nextIn = a->nextInSeq;
    if (la)
        *la = m;
    return 1;
}
#define itRawLogon(r, hb, nos, la) itRawLogonAt(r, hb, nos, la, __LINE__)

static int itRawLogoutAt(itRaw *r, int line)
{
    const xoeLogout lo = {.reserved = 0};
    itMsg m;
    if (!itRawSend(r, XOE_MSG_LOGOUT, &lo) || !itRawExpectAt(r, XOE_MSG_LOGGED_OUT, &m, line))
        return 0;
    if (m.m.u.loggedOut.reason != XOE_LOGOUT_USER) {
        itFail(line, "%s: %s, expected reason USER", r->role, itDesc(&m));
        return 0;
    }
    return 1;
}
#define itRawLogout(r) itRawLogoutAt(r, __LINE__)

/* ---- library sessions ---------------------------------------------------------------------- */

#define IT_LOG     8192
#define IT_MAX_LIB 8

typedef struct {
    const char *role;
    uint32_t id, account;
    xclSession *s;
    xclReport log[IT_LOG]; /* reports received and not consumed, in arrival order */
    int n;
} itLib;

static itLib *gLibs[IT_MAX_LIB];

static itLib *itLibOpen(const char *role)
{
    const itSpec *sp = itSpecOf(role);
    itLib *l = calloc(1, sizeof *l);
    if (!l) {
        fprintf(stderr, "itest: out of memory\n");
        exit(2);
    }
    l->role = sp->role;
    l->id = sp->id;
    l->account = sp->account;
    xclOptions o;
    memset(&o, 0, sizeof o);
    o.localIp = opt.local;
    o.rcvbuf = 8 << 20;
    char err[256];
    l->s = xclOpen(opt.server, opt.port, sp->id, sp->token, &o, err, sizeof err);
    if (!l->s) {
        fprintf(stderr, "itest: session %s: %s\n", role, err);
        exit(2);
    }
    for (int i = 0; i < IT_MAX_LIB; i++)
        if (!gLibs[i]) {
            gLibs[i] = l;
            break;
        }
    return l;
}

static void itLibClose(itLib *l)
{
    if (!l)
        return;
    xclInfo in;
    xclGetInfo(l->s, &in);
    gLibClosed += in.datagramsOut;
    for (int i = 0; i < IT_MAX_LIB; i++)
        if (gLibs[i] == l)
            gLibs[i] = NULL;
    xclClose(l->s);
    free(l);
}

static int itLibLogonAt(itLib *l, uint32_t hbMs, int line)
{
    itLogonPace(l->id);
    const int rc = xclLogon(l->s, hbMs, opt.timeoutMs);
    if (rc != XCL_OK)
        itFail(line, "%s: logon: %s", l->role, xclLastError(l->s));
    return rc == XCL_OK;
}
#define itLibLogon(l, hb) itLibLogonAt(l, hb, __LINE__)

static const char *itRptDesc(const xclReport *r)
{
    static char buf[512];
    xclReportFormat(r, buf, sizeof buf);
    return buf;
}

/* Reads reports for up to timeoutMs (the first one waited for). */
static int itLibPump(itLib *l, int timeoutMs)
{
    int got = 0;
    xclReport r;
    while (l->n < IT_LOG) {
        const int rc = xclPoll(l->s, got ? 0 : timeoutMs, &r);
        if (rc < 0) {
            itFail(__LINE__, "%s: poll: %s", l->role, xclLastError(l->s));
            return -1;
        }
        if (rc == 0)
            break;
        l->log[l->n++] = r;
        got++;
    }
    return got;
}

/* Takes the first report of `type` for clOrdId (0: any), waiting for it. */
static int itLibTakeAt(itLib *l, int type, uint64_t clOrdId, xclReport *out, int line)
{
    const uint64_t deadline = itNs() + (uint64_t)opt.timeoutMs * 1000000ULL;
    for (;;) {
        for (int i = 0; i < l->n; i++) {
            if (l->log[i].type == type && (clOrdId == 0 || l->log[i].clOrdId == clOrdId)) {
                if (out)
                    *out = l->log[i];
                memmove(&l->log[i], &l->log[i + 1], (size_t)(l->n - i - 1) * sizeof l->log[0]);
                l->n--;
                return 1;
            }
        }
        const int left = itMsLeft(deadline);
        if (left == 0 || itLibPump(l, left) < 0) {
            char have[1024] = "";
            for (int i = 0; i < l->n && strlen(have) < 700; i++)
                snprintf(have + strlen(have), sizeof have - strlen(have), "\n         have: %s",
                         itRptDesc(&l->log[i]));
            itFail(line, "%s: no %s for clOrdId %" PRIu64 " within %d ms (%s)%s", l->role,
                   type < 0x100 ? xoeTypeName((uint8_t)type) : "report", clOrdId, opt.timeoutMs,
                   xclLastError(l->s), have);
            return 0;
        }
    }
}
#define itLibTake(l, type, cl, out) itLibTakeAt(l, type, cl, out, __LINE__)

/* No report may be left unconsumed or arrive within ms. */
static int itLibQuietAt(itLib *l, int ms, int line)
{
    if (itLibPump(l, ms) < 0)
        return 0;
    if (l->n) {
        itFail(line, "%s: %d unexpected report(s), first: %s", l->role, l->n,
               itRptDesc(&l->log[0]));
        l->n = 0;
        return 0;
    }
    return 1;
}
#define itLibQuiet(l, ms) itLibQuietAt(l, ms, __LINE__)

/* Sends a new order; returns its clOrdId (0 when the library refused). */
static uint64_t itLibSendAt(itLib *l, const xclOrder *o, int line)
{
    uint64_t cl = 0;
    if (xclNewOrder(l->s, o, &cl) != XCL_OK) {
        itFail(line, "%s: NewOrder: %s", l->role, xclLastError(l->s));
        return 0;
    }
    return cl;
}

static xclOrder itOrd(uint16_t ins, uint8_t side, int64_t price, uint32_t qty)
{
    xclOrder o;
    memset(&o, 0, sizeof o);
    o.instrument = ins;
    o.side = side;
    o.price = price;
    o.qty = qty;
    return o;
}

/* A limit GFD order that must be accepted; checks Accepted echoes it.
 * Returns its clOrdId (0 on failure), *orderId its id. */
static uint64_t itPlaceOAt(itLib *l, const xclOrder *o, uint64_t *orderId, int line)
{
    const uint64_t cl = itLibSendAt(l, o, line);
    xclReport r;
    if (!cl || !itLibTakeAt(l, XOE_MSG_ACCEPTED, cl, &r, line))
        return 0;
    const xoeAccepted *a = &r.msg.u.accepted;
    const int64_t wantPrice = o->priceType == XOE_MARKET ? 0 : o->price;
    const uint64_t wall = itWallNs();
    if (a->instrument != o->instrument || a->side != o->side || a->offset != o->offset ||
        a->price != wantPrice || a->qty != o->qty || a->minQty != o->minQty ||
        a->priceType != o->priceType || a->timeCondition != o->timeCondition ||
        a->volumeCondition != o->volumeCondition || a->clOrdId != cl || a->orderId == 0 ||
        (a->orderId >> 56) != 0 || a->timestamp + 5000000000ULL < wall ||
        a->timestamp > wall + 5000000000ULL) {
        itFail(line,
               "%s: Accepted does not echo the order: %s (timestamp %" PRIu64
               ", wall clock %" PRIu64 ")",
               l->role, itRptDesc(&r), a->timestamp, wall);
        return 0;
    }
    if (orderId)
        *orderId = a->orderId;
    return cl;
}

static uint64_t itPlaceAt(itLib *l, uint16_t ins, uint8_t side, int64_t price, uint32_t qty,
                          uint64_t *orderId, int line)
{
    const xclOrder o = itOrd(ins, side, price, qty);
    return itPlaceOAt(l, &o, orderId, line);
}
#define itPlace(l, ins, side, px, qty, oid) itPlaceAt(l, ins, side, px, qty, oid, __LINE__)

/* Takes the next Executed for clOrdId and checks it. */
static int itExecAt(itLib *l, uint64_t cl, uint64_t orderId, uint8_t side, uint8_t liq, int64_t px,
                    uint32_t qty, uint32_t leaves, uint64_t *tradeId, int line)
{
    xclReport r;
    if (!itLibTakeAt(l, XOE_MSG_EXECUTED, cl, &r, line))
        return 0;
    const xoeExecuted *e = &r.msg.u.executed;
    if (e->orderId != orderId || e->side != side || e->liquidity != liq || e->price != px ||
        e->qty != qty || e->leaves != leaves || e->tradeId == 0 || (e->tradeId >> 56) != 0) {
        char p[XCL_PRICE_STRLEN];
        xclPriceFormat(px, p, sizeof p);
        itFail(line, "%s: %s; expected orderId 0x%016" PRIx64 " %s %u @ %s leaves=%u liquidity %u",
               l->role, itRptDesc(&r), orderId, side == XOE_BUY ? "BUY" : "SELL", qty, p, leaves,
               liq);
        return 0;
    }
    if (tradeId)
        *tradeId = e->tradeId;
    return 1;
}
#define itExec(l, cl, oid, side, liq, px, qty, leaves, tid)                                        \
    itExecAt(l, cl, oid, side, liq, px, qty, leaves, tid, __LINE__)

/* Takes the next Cancelled for clOrdId and checks it. */
static int itCancelledAt(itLib *l, uint64_t cl, uint64_t orderId, uint8_t reason, uint32_t qty,
                         int line)
{
    xclReport r;
    if (!itLibTakeAt(l, XOE_MSG_CANCELLED, cl, &r, line))
        return 0;
    const xoeCancelled *c = &r.msg.u.cancelled;
    if (c->orderId != orderId || c->reason != reason || c->qty != qty) {
        itFail(line, "%s: %s; expected orderId 0x%016" PRIx64 " qty %u reason %u", l->role,
               itRptDesc(&r), orderId, qty, reason);
        return 0;
    }
    return 1;
}
#define itCancelled(l, cl, oid, reason, qty) itCancelledAt(l, cl, oid, reason, qty, __LINE__)

/* Cancels an order that must be cancelled with `qty` open, reason USER. */
static int itCancelAt(itLib *l, uint64_t orderId, uint64_t orderCl, uint32_t qty, int line)
{
    if (xclCancel(l->s, orderId, 0, NULL) != XCL_OK) {
        itFail(line, "%s: Cancel: %s", l->role, xclLastError(l->s));
        return 0;
    }
    return itCancelledAt(l, orderCl, orderId, XOE_CXL_USER, qty, line);
}
#define itCancel(l, oid, cl, qty) itCancelAt(l, oid, cl, qty, __LINE__)

/* Sends a NewOrder that must be Rejected with `code`. */
static int itRejectAt(itLib *l, const xclOrder *o, uint16_t code, int line)
{
    const uint64_t cl = itLibSendAt(l, o, line);
    xclReport r;
    if (!cl || !itLibTakeAt(l, XOE_MSG_REJECTED, cl, &r, line))
        return 0;
    const uint64_t wall = itWallNs();
    if (r.msg.u.rejected.code != code || r.msg.u.rejected.instrument != o->instrument ||
        r.msg.u.rejected.timestamp + 5000000000ULL < wall ||
        r.msg.u.rejected.timestamp > wall + 5000000000ULL) {
        itFail(line, "%s: %s; expected code %u instrument %u", l->role, itRptDesc(&r), code,
               o->instrument);
        return 0;
    }
    return 1;
}
#define itReject(l, o, code) itRejectAt(l, o, code, __LINE__)

/* Sends a Cancel (op CANCEL) or Replace that must be refused with `code`. */
static int itCxlRejectAt(itLib *l, uint8_t op, uint64_t orderId, int64_t px, uint32_t qty,
                         uint16_t code, int line)
{
    uint64_t cl = 0;
    const int rc = op == XOE_OP_CANCEL ? xclCancel(l->s, orderId, 0, &cl)
                                       : xclReplace(l->s, orderId, px, qty, 0, &cl);
    xclReport r;
    if (rc != XCL_OK) {
        itFail(line, "%s: request refused by the library: %s", l->role, xclLastError(l->s));
        return 0;
    }
    if (!itLibTakeAt(l, XOE_MSG_CANCEL_REJECTED, cl, &r, line))
        return 0;
    const xoeCancelRejected *c = &r.msg.u.cancelRejected;
    if (c->code != code || c->op != op || c->orderId != orderId) {
        itFail(line, "%s: %s; expected code %u op %u orderId 0x%016" PRIx64, l->role, itRptDesc(&r),
               code, op, orderId);
        return 0;
    }
    return 1;
}
#define itCxlReject(l, op, oid, px, qty, code) itCxlRejectAt(l, op, oid, px, qty, code, __LINE__)

/* Replaces an order; checks Replaced. Returns the new clOrdId. */
static uint64_t itReplaceAt(itLib *l, uint64_t orderId, int64_t px, uint32_t qty, uint32_t leaves,
                            int kept, int line)
{
    uint64_t cl = 0;
    xclReport r;
    if (xclReplace(l->s, orderId, px, qty, 0, &cl) != XCL_OK) {
        itFail(line, "%s: Replace: %s", l->role, xclLastError(l->s));
        return 0;
    }
    if (!itLibTakeAt(l, XOE_MSG_REPLACED, cl, &r, line))
        return 0;
    const xoeReplaced *p = &r.msg.u.replaced;
    if (p->orderId != orderId || p->price != px || p->qty != qty || p->leaves != leaves ||
        p->keptPriority != kept) {
        itFail(line, "%s: %s; expected %u leaves %u priority %s", l->role, itRptDesc(&r), qty,
               leaves, kept ? "kept" : "lost");
        return 0;
    }
    return cl;
}
#define itReplace(l, oid, px, qty, leaves, kept)                                                   \
    itReplaceAt(l, oid, px, qty, leaves, kept, __LINE__)

/* ---- counters and books -------------------------------------------------------------------- */

static uint64_t itSentTotal(void)
{
    uint64_t n = gSent + gLibClosed;
    for (int i = 0; i < IT_MAX_LIB; i++) {
        if (gLibs[i]) {
            xclInfo in;
            xclGetInfo(gLibs[i]->s, &in);
            n += in.datagramsOut;
        }
    }
    return n;
}

/* Waits until xchgd's gateway has received every datagram we sent to it, and
 * returns the stats then (a new reference), or NULL after a failure. */
static json_t *itBarrierAt(int line)
{
    const uint64_t want = gBaseIn + itSentTotal();
    const uint64_t deadline = itNs() + 5000000000ULL;
    for (;;) {
        json_t *s = itStats();
        if (!s) {
            itFail(line, "stats: %s", gCtlErr);
            return NULL;
        }
        const uint64_t have = itJU(s, "gateway.datagrams_in");
        if (have == want)
            return s;
        if (have > want || itNs() > deadline) {
            itFail(line,
                   "gateway.datagrams_in is %" PRIu64 ", we sent %" PRIu64 " (rx_packets %" PRIu64
                   ")",
                   have - gBaseIn, want - gBaseIn, itJU(s, "rx_packets"));
            json_decref(s);
            return NULL;
        }
        json_decref(s);
        itSleepMs(1);
    }
}
#define itBarrier() itBarrierAt(__LINE__)

/* After a barrier, compares counter deltas since `before` with a list
 * "path=delta path=delta ...". */
static int itDeltasAt(json_t *before, const char *spec, int line)
{
    json_t *after = itBarrierAt(line);
    if (!after || !before)
        return 0;
    char buf[1024], bad[2048] = "";
    snprintf(buf, sizeof buf, "%s", spec);
    for (char *save = NULL, *tok = strtok_r(buf, " ", &save); tok;
         tok = strtok_r(NULL, " ", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq)
            continue;
        *eq = 0;
        const long long want = strtoll(eq + 1, NULL, 10);
        const long long got = (long long)(itJU(after, tok) - itJU(before, tok));
        if (got != want)
            snprintf(bad + strlen(bad), sizeof bad - strlen(bad), " %s %+lld (expected %+lld);",
                     tok, got, want);
    }
    json_decref(after);
    if (bad[0]) {
        itFail(line, "counters:%s", bad);
        return 0;
    }
    return 1;
}
#define itDeltas(before, spec) itDeltasAt(before, spec, __LINE__)

static json_t *itSnapAt(int line)
{
    return itBarrierAt(line);
}
#define itSnap() itSnapAt(__LINE__)

/* The book as "bids=[P xQ, ...] asks=[...]" with the control plane's prices. */
static int itBookStr(const char *ins, char *out, size_t len, char *state, size_t slen)
{
    json_t *d = itCtl("book.get", json_pack("{s:s, s:i}", "instrument", ins, "depth", 20));
    if (!d)
        return 0;
    size_t o = 0;
    const char *sides[2] = {"bids", "asks"};
    for (int s = 0; s < 2; s++) {
        o += (size_t)snprintf(out + o, len - o, "%s%s=[", s ? " " : "", sides[s]);
        json_t *lv = json_object_get(d, sides[s]);
        for (size_t i = 0; i < json_array_size(lv); i++) {
            json_t *l = json_array_get(lv, i);
            o += (size_t)snprintf(out + o, len - o, "%s%sx%lld", i ? " " : "",
                                  json_string_value(json_object_get(l, "price")),
                                  (long long)json_integer_value(json_object_get(l, "qty")));
        }
        o += (size_t)snprintf(out + o, len - o, "]");
    }
    if (state)
        snprintf(state, slen, "%s", json_string_value(json_object_get(d, "state")));
    json_decref(d);
    return 1;
}

static int itBookIsAt(const char *ins, const char *want, int line)
{
    char have[2048];
    if (!itBookStr(ins, have, sizeof have, NULL, 0)) {
        itFail(line, "book.get %s: %s", ins, gCtlErr);
        return 0;
    }
    if (strcmp(have, want) != 0) {
        itFail(line, "book %s is '%s', expected '%s'", ins, have, want);
        return 0;
    }
    return 1;
}
#define itBookIs(ins, want) itBookIsAt(ins, want, __LINE__)

static int itSetStateAt(const char *ins, const char *state, int line)
{
    json_t *d =
        itCtl("instrument.state", json_pack("{s:s, s:s}", "instrument", ins, "state", state));
    if (!d) {
        itFail(line, "instrument.state %s %s: %s", ins, state, gCtlErr);
        return 0;
    }
    json_decref(d);
    return 1;
}
#define itSetState(ins, state) itSetStateAt(ins, state, __LINE__)

/* ---- raw helpers used by several cases ------------------------------------------------------ */

/* Sends a NewOrder on a raw session; it must be Accepted. Returns the order id. */
static uint64_t itRawPlaceAt(itRaw *r, const xoeNewOrder *o, int line)
{
    itMsg m;
    if (!itRawSend(r, XOE_MSG_NEW_ORDER, o) || !itRawExpectAt(r, XOE_MSG_ACCEPTED, &m, line))
        return 0;
    if (m.m.u.accepted.clOrdId != o->clOrdId || m.m.u.accepted.price != o->price ||
        m.m.u.accepted.qty != o->qty) {
        itFail(line, "%s: %s does not echo the order", r->role, itDesc(&m));
        return 0;
    }
    return m.m.u.accepted.orderId;
}
#define itRawPlace(r, o) itRawPlaceAt(r, o, __LINE__)

/* Cancels an order on a raw session; it must be Cancelled (reason USER). */
static int itRawCancelAt(itRaw *r, uint64_t orderId, uint64_t orderCl, uint32_t qty, int line)
{
    const xoeCancel c = {.clOrdId = orderCl + 1000000, .orderId = orderId};
    itMsg m;
    if (!itRawSend(r, XOE_MSG_CANCEL, &c) || !itRawExpectAt(r, XOE_MSG_CANCELLED, &m, line))
        return 0;
    const xoeCancelled *x = &m.m.u.cancelled;
    if (x->orderId != orderId || x->clOrdId != orderCl || x->qty != qty ||
        x->reason != XOE_CXL_USER) {
        itFail(line, "%s: %s, expected order 0x%016" PRIx64 " qty %u", r->role, itDesc(&m), orderId,
               qty);
        return 0;
    }
    return 1;
}
#define itRawCancel(r, oid, cl, qty) itRawCancelAt(r, oid, cl, qty, __LINE__)

/* A Cancel of an order that does not exist must be refused 3001. */
static int itRawProbeAt(itRaw *r, int line)
{
    const xoeCancel c = {.clOrdId = 999, .orderId = IT_NO_ORDER};
    itMsg m;
    if (!itRawSend(r, XOE_MSG_CANCEL, &c) || !itRawExpectAt(r, XOE_MSG_CANCEL_REJECTED, &m, line))
        return 0;
    if (m.m.u.cancelRejected.code != XOE_CODE_ORDER_NOT_FOUND) {
        itFail(line, "%s: %s, expected code 3001", r->role, itDesc(&m));
        return 0;
    }
    return 1;
}
#define itRawProbe(r) itRawProbeAt(r, __LINE__)

/* One datagram from a plain socket, which must hold one message of `type`
 * for `session`. */
static int itFdExpectAt(int fd, uint32_t session, uint8_t type, itMsg *out, int line)
{
    itMsg tmp[XOE_MAX_MESSAGES];
    itFrameInfo fi;
    const int n = itRecvFrame(fd, opt.timeoutMs, tmp, &fi);
    if (n <= 0) {
        if (n == 0)
            itFail(line, "no %s within %d ms", xoeTypeName(type), opt.timeoutMs);
        return 0;
    }
    if (n != 1 || tmp[0].m.type != type || fi.session != session) {
        itFail(line, "expected one %s for session %u, got %d message(s), first %s (session %u)",
               xoeTypeName(type), session, n, itDesc(&tmp[0]), fi.session);
        return 0;
    }
    if (out)
        *out = tmp[0];
    return 1;
}
#define itFdExpect(fd, session, type, out) itFdExpectAt(fd, session, type, out, __LINE__)

static int itFdQuietAt(int fd, int ms, int line)
{
    itMsg tmp[XOE_MAX_MESSAGES];
    itFrameInfo fi;
    const int n = itRecvFrame(fd, ms, tmp, &fi);
    if (n > 0)
        itFail(line, "unexpected %s (session %u)", itDesc(&tmp[0]), fi.session);
    return n == 0;
}
#define itFdQuiet(fd, ms) itFdQuietAt(fd, ms, __LINE__)

static size_t itLogonFrame(itFB *b, uint32_t id, uint64_t seq, uint32_t hbMs, uint64_t nextOutSeq,
                           const uint8_t *token)
{
    xoeLogon l;
    memset(&l, 0, sizeof l);
    l.heartbeatMs = hbMs;
    memcpy(l.token, token, XOE_TOKEN_SIZE);
    l.nextOutSeq = nextOutSeq;
    itFBInit(b, id, seq);
    itFBAdd(b, XOE_MSG_LOGON, &l);
    return itFBLen(b);
}

/* ---- main phase ------------------------------------------------------------------------------ */

static itLib *A, *B;
static itRaw *C, *D, *E, *F, *G, *H;
static int64_t gTradingDay;
static int gAbort; /* set when a case others depend on failed */

static void caseSetup(void)
{
    gAbort = 1;
    CHECK(itCtlOpen() == 0, "cannot connect to the control socket %s: %s", opt.ctlPath,
          strerror(errno));
    json_t *st = itCtl("status", NULL);
    CHECK(st, "status: %s", gCtlErr);
    gTradingDay = json_integer_value(json_object_get(st, "trading_day"));
    const char *state = json_string_value(json_object_get(st, "state"));
    const int running = state && !strcmp(state, "running");
    json_decref(st);
    CHECK(running, "status.state is not \"running\"");
    json_t *s = itStats();
    CHECK(s, "stats: %s", gCtlErr);
    gBaseIn = itJU(s, "gateway.datagrams_in");
    json_decref(s);
    json_t *l = itCtl("instrument.list", NULL);
    CHECK(l, "instrument.list: %s", gCtlErr);
    json_t *ins = json_object_get(l, "instruments");
    static const char *const ids[IT_INSTRUMENTS] = {"IF2501", "IC2501", "IH2501", "cu2501"};
    int good = json_array_size(ins) == IT_INSTRUMENTS;
    for (size_t i = 0; good && i < IT_INSTRUMENTS; i++) {
        json_t *x = json_array_get(ins, i);
        good = !strcmp(json_string_value(json_object_get(x, "id")), ids[i]) &&
               json_integer_value(json_object_get(x, "book")) == (json_int_t)i &&
               !strcmp(json_string_value(json_object_get(x, "state")), "continuous");
    }
    json_decref(l);
    CHECK(good,
          "instrument.list: expected IF2501, IC2501, IH2501, cu2501 at books 0-3, continuous");
    for (int i = 0; i < IT_INSTRUMENTS; i++)
        REQUIRE(itBookIs(ids[i], "bids=[] asks=[]"));
    gAbort = 0;
}

/* Session state as session.list shows it. */
static int itSessionIsAt(uint32_t id, const char *state, const char *bound, int line)
{
    json_t *d = itCtl("session.list", NULL);
    if (!d) {
        itFail(line, "session.list: %s", gCtlErr);
        return 0;
    }
    json_t *list = json_object_get(d, "sessions");
    int ok = -1;
    for (size_t i = 0; i < json_array_size(list); i++) {
        json_t *x = json_array_get(list, i);
        if (json_integer_value(json_object_get(x, "session_id")) != (json_int_t)id)
            continue;
        const char *st = json_string_value(json_object_get(x, "state"));
        const char *b = json_string_value(json_object_get(x, "bound"));
        ok = st && b && !strcmp(st, state) && !strcmp(b, bound);
        if (!ok)
            itFail(line, "session %u is %s bound to '%s', expected %s '%s'", id, st, b, state,
                   bound);
    }
    json_decref(d);
    if (ok < 0)
        itFail(line, "session %u not in session.list", id);
    return ok == 1;
}
#define itSessionIs(id, state, bound) itSessionIsAt(id, state, bound, __LINE__)

static void caseLogon(void)
{
    gAbort = 1;
    json_t *before = itSnap();
    REQUIRE(before);
    A = itLibOpen("A");
    B = itLibOpen("B");
    REQUIRE(itLibLogon(A, 60000));
    REQUIRE(itLibLogon(B, 60000));
    xclInfo ia;
    xclGetInfo(A->s, &ia);
    CHECK(ia.heartbeatMs == 60000 && ia.tradingDay == (uint32_t)gTradingDay && ia.segment == 0 &&
              ia.nextInSeq == 1 && ia.nextOutSeq == 1,
          "A's LogonAccepted: hb %u day %u segment %u nextIn %" PRIu64 " nextOut %" PRIu64,
          ia.heartbeatMs, ia.tradingDay, ia.segment, ia.nextInSeq, ia.nextOutSeq);
    C = itRawOpen("C", opt.local);
    itMsg la;
    REQUIRE(itRawLogon(C, 70000, 0, &la)); /* above the maximum: clamped */
    const xoeLogonAccepted *a = &la.m.u.logonAccepted;
    CHECK(a->heartbeatMs == XOE_HEARTBEAT_MAX_MS && a->nextInSeq == 1 && a->nextOutSeq == 1 &&
              a->tradingDay == (uint32_t)gTradingDay && a->segment == 0,
          "C: %s", itDesc(&la));
    char bound[64];
    snprintf(bound, sizeof bound, "%s:%u", opt.local, ia.localPort);
    REQUIRE(itSessionIs(A->id, "logged_on", bound));
    snprintf(bound, sizeof bound, "%s:%u", opt.local, itLocalPort(C->fd));
    REQUIRE(itSessionIs(C->id, "logged_on", bound));
    REQUIRE(itDeltas(before, "gateway.logons=3 gateway.logon_rejects=0 gateway.wrong_address=0"));
    json_decref(before);
    gAbort = 0;
}

static void caseExecute(void)
{
    json_t *before = itSnap();
    REQUIRE(before);
    const int64_t p = PX(3800, 0), p2 = PX(3800, 2000), p4 = PX(3800, 4000);
    uint64_t oa, ob, t1, t2, t3, t4;
    /* A rests 3; B buys 5: 3 trade (B taker, A maker), 2 rest */
    const uint64_t ca = itPlace(A, IF, XOE_SELL, p, 3, &oa);
    REQUIRE(ca);
    const uint64_t cb = itPlace(B, IF, XOE_BUY, p, 5, &ob);
    REQUIRE(cb);
    REQUIRE(itExec(B, cb, ob, XOE_BUY, XOE_TAKER, p, 3, 2, &t1));
    REQUIRE(itExec(A, ca, oa, XOE_SELL, XOE_MAKER, p, 3, 0, &t2));
    CHECK(t1 == t2, "trade ids differ: 0x%016" PRIx64 " and 0x%016" PRIx64, t1, t2);
    CHECK(ob > oa, "order ids not increasing: 0x%016" PRIx64 " then 0x%016" PRIx64, oa, ob);
    REQUIRE(itBookIs("IF2501", "bids=[3800.0x2] asks=[]"));
    /* partial fills of B's resting order */
    uint64_t oa2, oa3, oa4, ob2;
    const uint64_t ca2 = itPlace(A, IF, XOE_SELL, p, 1, &oa2);
    REQUIRE(ca2);
    REQUIRE(itExec(A, ca2, oa2, XOE_SELL, XOE_TAKER, p, 1, 0, &t3));
    REQUIRE(itExec(B, cb, ob, XOE_BUY, XOE_MAKER, p, 1, 1, &t4));
    CHECK(t3 == t4 && t3 == t1 + 1,
          "trade ids 0x%016" PRIx64 " 0x%016" PRIx64 " after 0x%016" PRIx64, t3, t4, t1);
    const uint64_t ca3 = itPlace(A, IF, XOE_SELL, p, 4, &oa3);
    REQUIRE(ca3);
    REQUIRE(itExec(A, ca3, oa3, XOE_SELL, XOE_TAKER, p, 1, 3, NULL));
    REQUIRE(itExec(B, cb, ob, XOE_BUY, XOE_MAKER, p, 1, 0, NULL));
    const uint64_t ca4 = itPlace(A, IF, XOE_SELL, p2, 2, &oa4);
    REQUIRE(ca4);
    REQUIRE(itBookIs("IF2501", "bids=[] asks=[3800.0x3 3800.2x2]"));
    /* B sweeps two levels at the resting prices, 1 lot rests */
    const uint64_t cb2 = itPlace(B, IF, XOE_BUY, p4, 6, &ob2);
    REQUIRE(cb2);
    REQUIRE(itExec(B, cb2, ob2, XOE_BUY, XOE_TAKER, p, 3, 3, NULL));
    REQUIRE(itExec(B, cb2, ob2, XOE_BUY, XOE_TAKER, p2, 2, 1, NULL));
    REQUIRE(itExec(A, ca3, oa3, XOE_SELL, XOE_MAKER, p, 3, 0, NULL));
    REQUIRE(itExec(A, ca4, oa4, XOE_SELL, XOE_MAKER, p2, 2, 0, NULL));
    REQUIRE(itBookIs("IF2501", "bids=[3800.4x1] asks=[]"));
    /* cancel the rest; a second cancel is refused: the order is finished */
    REQUIRE(itCancel(B, ob2, cb2, 1));
    REQUIRE(itBookIs("IF2501", "bids=[] asks=[]"));
    REQUIRE(itCxlReject(B, XOE_OP_CANCEL, ob2, 0, 0, XOE_CODE_NOT_CANCELLABLE));
    REQUIRE(itLibQuiet(A, 20) && itLibQuiet(B, 0));
    REQUIRE(itDeltas(before, "gateway.new_orders=6 gateway.accepted=6 gateway.executions=10 "
                             "gateway.cancelled=1 gateway.rejected=0 orders_resting=0"));
    json_decref(before);
}

static void caseReplace(void)
{
    json_t *before = itSnap();
    REQUIRE(before);
    const int64_t p = PX(3802, 0), p1 = PX(3801, 0);
    uint64_t o1, o2, o3, ob, ob2, ob3;
    /* a lower quantity at the same price keeps the place: o1 still trades first */
    const uint64_t c1 = itPlace(A, IF, XOE_SELL, p, 2, &o1);
    const uint64_t c2 = itPlace(A, IF, XOE_SELL, p, 2, &o2);
    REQUIRE(c1 && c2);
    const uint64_t r1 = itReplace(A, o1, p, 1, 1, 1);
    REQUIRE(r1);
    const uint64_t cb = itPlace(B, IF, XOE_BUY, p, 1, &ob);
    REQUIRE(cb);
    REQUIRE(itExec(B, cb, ob, XOE_BUY, XOE_TAKER, p, 1, 0, NULL));
    REQUIRE(itExec(A, r1, o1, XOE_SELL, XOE_MAKER, p, 1, 0, NULL));
    /* a higher quantity goes to the back: o3 (placed after o2) trades first */
    const uint64_t c3 = itPlace(A, IF, XOE_SELL, p, 2, &o3);
    REQUIRE(c3);
    const uint64_t r2 = itReplace(A, o2, p, 3, 3, 0);
    REQUIRE(r2);
    REQUIRE(itBookIs("IF2501", "bids=[] asks=[3802.0x5]"));
    const uint64_t cb2 = itPlace(B, IF, XOE_BUY, p, 2, &ob2);
    REQUIRE(cb2);
    REQUIRE(itExec(B, cb2, ob2, XOE_BUY, XOE_TAKER, p, 2, 0, NULL));
    REQUIRE(itExec(A, c3, o3, XOE_SELL, XOE_MAKER, p, 2, 0, NULL));
    /* a new price loses priority and trades at once when it crosses */
    const uint64_t cb3 = itPlace(B, IF, XOE_BUY, p1, 2, &ob3);
    REQUIRE(cb3);
    const uint64_t r3 = itReplace(A, o2, p1, 3, 3, 0);
    REQUIRE(r3);
    REQUIRE(itExec(A, r3, o2, XOE_SELL, XOE_TAKER, p1, 2, 1, NULL));
    REQUIRE(itExec(B, cb3, ob3, XOE_BUY, XOE_MAKER, p1, 2, 0, NULL));
    REQUIRE(itBookIs("IF2501", "bids=[] asks=[3801.0x1]"));
    REQUIRE(itCancel(A, o2, r3, 1));
    REQUIRE(itBookIs("IF2501", "bids=[] asks=[]"));
    REQUIRE(itLibQuiet(A, 20) && itLibQuiet(B, 0));
    REQUIRE(itDeltas(before, "gateway.new_orders=6 gateway.accepted=6 gateway.executions=6 "
                             "gateway.cancelled=1 orders_resting=0"));
    json_decref(before);
}

static void caseConditions(void)
{
    json_t *before = itSnap();
    REQUIRE(before);
    const int64_t p = PX(3800, 0);
    uint64_t oid, ob;
    /* MARKET with nothing on the other side: accepted, cancelled IOC */
    xclOrder o = itOrd(IF, XOE_BUY, 0, 1);
    o.priceType = XOE_MARKET;
    uint64_t c = itPlaceOAt(A, &o, &oid, __LINE__);
    REQUIRE(c && itCancelled(A, c, oid, XOE_CXL_IOC, 1));
    o = itOrd(IF, XOE_BUY, p, 1);
    o.timeCondition = XOE_IOC;
    c = itPlaceOAt(A, &o, &oid, __LINE__);
    REQUIRE(c && itCancelled(A, c, oid, XOE_CXL_IOC, 1));
    const uint64_t cb = itPlace(B, IF, XOE_SELL, p, 1, &ob);
    REQUIRE(cb);
    /* fill-or-kill for 2 with 1 available: cancelled FOK, nothing trades */
    o = itOrd(IF, XOE_BUY, p, 2);
    o.volumeCondition = XOE_VOL_ALL;
    c = itPlaceOAt(A, &o, &oid, __LINE__);
    REQUIRE(c && itCancelled(A, c, oid, XOE_CXL_FOK, 2));
    /* at least 2 of 3 with 1 available: cancelled MIN_QTY */
    o = itOrd(IF, XOE_BUY, p, 3);
    o.volumeCondition = XOE_VOL_MIN;
    o.minQty = 2;
    c = itPlaceOAt(A, &o, &oid, __LINE__);
    REQUIRE(c && itCancelled(A, c, oid, XOE_CXL_MIN_QTY, 3));
    /* at least 1 of 3: trades 1, rests 2 */
    o.minQty = 1;
    c = itPlaceOAt(A, &o, &oid, __LINE__);
    REQUIRE(c);
    REQUIRE(itExec(A, c, oid, XOE_BUY, XOE_TAKER, p, 1, 2, NULL));
    REQUIRE(itExec(B, cb, ob, XOE_SELL, XOE_MAKER, p, 1, 0, NULL));
    REQUIRE(itBookIs("IF2501", "bids=[3800.0x2] asks=[]"));
    /* self-trade prevention (cancel_incoming): C has A's account */
    const xoeNewOrder no = itNO(IF, XOE_SELL, p, 1, 7001);
    itMsg m;
    REQUIRE(itRawPlace(C, &no));
    REQUIRE(itRawExpect(C, XOE_MSG_CANCELLED, &m));
    CHECK(m.m.u.cancelled.reason == XOE_CXL_SELF_TRADE && m.m.u.cancelled.qty == 1 &&
              m.m.u.cancelled.clOrdId == 7001,
          "C: %s, expected SELF_TRADE", itDesc(&m));
    REQUIRE(itBookIs("IF2501", "bids=[3800.0x2] asks=[]"));
    REQUIRE(itCancel(A, oid, c, 2));
    /* GTC is echoed and rests */
    o = itOrd(IF, XOE_SELL, PX(3830, 0), 1);
    o.timeCondition = XOE_GTC;
    c = itPlaceOAt(A, &o, &oid, __LINE__);
    REQUIRE(c && itCancel(A, oid, c, 1));
    REQUIRE(itBookIs("IF2501", "bids=[] asks=[]"));
    REQUIRE(itLibQuiet(A, 20) && itLibQuiet(B, 0) && itRawQuiet(C, 0));
    REQUIRE(itDeltas(before, "gateway.new_orders=8 gateway.accepted=8 gateway.executions=2 "
                             "gateway.cancelled=7 gateway.rejected=0 orders_resting=0"));
    json_decref(before);
}

static void caseRejectNew(void)
{
    json_t *before = itSnap();
    REQUIRE(before);
    const int64_t p = PX(3800, 0);
    xclOrder o = itOrd(IT_INSTRUMENTS, XOE_BUY, p, 1);
    REQUIRE(itReject(A, &o, XOE_CODE_UNKNOWN_INSTRUMENT));
    o = itOrd(65535, XOE_BUY, p, 1);
    REQUIRE(itReject(A, &o, XOE_CODE_UNKNOWN_INSTRUMENT));
    o = itOrd(IF, XOE_BUY, PX(3800, 1000), 1); /* off the 0.2 tick */
    REQUIRE(itReject(A, &o, XOE_CODE_INVALID_PARAMS));
    o = itOrd(IF, XOE_BUY, 0, 1);
    REQUIRE(itReject(A, &o, XOE_CODE_INVALID_PARAMS));
    o = itOrd(IF, XOE_BUY, -p, 1);
    REQUIRE(itReject(A, &o, XOE_CODE_INVALID_PARAMS));
    o = itOrd(IF, XOE_BUY, PX(4180, 2000), 1); /* band 3420..4180 */
    REQUIRE(itReject(A, &o, XOE_CODE_INVALID_PARAMS));
    o = itOrd(IF, XOE_SELL, PX(3419, 8000), 1);
    REQUIRE(itReject(A, &o, XOE_CODE_INVALID_PARAMS));
    o = itOrd(IF, XOE_BUY, p, 10001); /* max_lots 10000 */
    REQUIRE(itReject(A, &o, XOE_CODE_INVALID_PARAMS));
    o = itOrd(CU, XOE_BUY, PX(75230, 0), 501); /* cu2501: max_lots 500 */
    REQUIRE(itReject(A, &o, XOE_CODE_INVALID_PARAMS));
    o = itOrd(CU, XOE_BUY, PX(75235, 0), 1); /* tick 10 */
    REQUIRE(itReject(A, &o, XOE_CODE_INVALID_PARAMS));
    o = itOrd(IF, XOE_BUY, p, 5);
    o.volumeCondition = XOE_VOL_MIN;
    o.minQty = 6;
    REQUIRE(itReject(A, &o, XOE_CODE_INVALID_PARAMS));
    o.minQty = 0;
    REQUIRE(itReject(A, &o, XOE_CODE_INVALID_PARAMS));
    /* quantity 0 (the library refuses it: raw) */
    const xoeNewOrder no = itNO(IF, XOE_BUY, p, 0, 7101);
    itMsg m;
    REQUIRE(itRawSend(C, XOE_MSG_NEW_ORDER, &no));
    REQUIRE(itRawExpect(C, XOE_MSG_REJECTED, &m));
    CHECK(m.m.u.rejected.code == XOE_CODE_INVALID_PARAMS && m.m.u.rejected.clOrdId == 7101,
          "C: %s, expected 1008", itDesc(&m));
    /* the edges of the band and the maximum lots are inside */
    uint64_t oid;
    uint64_t c = itPlace(A, IF, XOE_BUY, PX(4180, 0), 1, &oid);
    REQUIRE(c && itCancel(A, oid, c, 1));
    c = itPlace(A, IF, XOE_SELL, PX(3420, 0), 1, &oid);
    REQUIRE(c && itCancel(A, oid, c, 1));
    c = itPlace(A, CU, XOE_BUY, PX(75230, 0), 500, &oid);
    REQUIRE(c && itCancel(A, oid, c, 500));
    REQUIRE(itLibQuiet(A, 20) && itRawQuiet(C, 0));
    REQUIRE(itDeltas(before, "gateway.new_orders=16 gateway.accepted=3 gateway.rejected=13 "
                             "gateway.cancelled=3 orders_resting=0"));
    json_decref(before);
}

static void caseRejectCancelReplace(void)
{
    json_t *before = itSnap();
    REQUIRE(before);
    const int64_t p = PX(3806, 0), q = PX(3815, 0);
    REQUIRE(itCxlReject(A, XOE_OP_CANCEL, IT_NO_ORDER, 0, 0, XOE_CODE_ORDER_NOT_FOUND));
    REQUIRE(itCxlReject(A, XOE_OP_REPLACE, IT_NO_ORDER, p, 1, XOE_CODE_ORDER_NOT_FOUND));
    /* another account's order is not found */
    uint64_t ob, oa, ob2;
    const uint64_t cb = itPlace(B, IF, XOE_SELL, q, 1, &ob);
    REQUIRE(cb);
    REQUIRE(itCxlReject(A, XOE_OP_CANCEL, ob, 0, 0, XOE_CODE_ORDER_NOT_FOUND));
    REQUIRE(itCxlReject(A, XOE_OP_REPLACE, ob, q, 2, XOE_CODE_ORDER_NOT_FOUND));
    /* a finished order: 3002 */
    REQUIRE(itCancel(B, ob, cb, 1));
    REQUIRE(itCxlReject(B, XOE_OP_CANCEL, ob, 0, 0, XOE_CODE_NOT_CANCELLABLE));
    REQUIRE(itCxlReject(B, XOE_OP_REPLACE, ob, q, 2, XOE_CODE_NOT_CANCELLABLE));
    /* 3 of 5 filled: a total of 3 or less is refused 3004 */
    const uint64_t ca = itPlace(A, IF, XOE_SELL, p, 5, &oa);
    REQUIRE(ca);
    const uint64_t cb2 = itPlace(B, IF, XOE_BUY, p, 3, &ob2);
    REQUIRE(cb2);
    REQUIRE(itExec(B, cb2, ob2, XOE_BUY, XOE_TAKER, p, 3, 0, NULL));
    REQUIRE(itExec(A, ca, oa, XOE_SELL, XOE_MAKER, p, 3, 2, NULL));
    REQUIRE(itCxlReject(A, XOE_OP_REPLACE, oa, p, 3, XOE_CODE_REPLACE));
    REQUIRE(itCxlReject(A, XOE_OP_REPLACE, oa, p, 2, XOE_CODE_REPLACE));
    /* bad price or lots: 1008 */
    REQUIRE(itCxlReject(A, XOE_OP_REPLACE, oa, PX(3806, 1000), 4, XOE_CODE_INVALID_PARAMS));
    REQUIRE(itCxlReject(A, XOE_OP_REPLACE, oa, PX(4200, 0), 4, XOE_CODE_INVALID_PARAMS));
    REQUIRE(itCxlReject(A, XOE_OP_REPLACE, oa, p, 10001, XOE_CODE_INVALID_PARAMS));
    /* a total of 4: 1 open, fewer than before, priority kept */
    const uint64_t r = itReplace(A, oa, p, 4, 1, 1);
    REQUIRE(r && itCancel(A, oa, r, 1));
    REQUIRE(itBookIs("IF2501", "bids=[] asks=[]"));
    REQUIRE(itLibQuiet(A, 20) && itLibQuiet(B, 0));
    REQUIRE(itDeltas(before, "gateway.new_orders=3 gateway.executions=2 gateway.cancelled=2 "
                             "gateway.rejected=0 orders_resting=0"));
    json_decref(before);
}

static void caseCrossSession(void)
{
    json_t *before = itSnap();
    REQUIRE(before);
    const int64_t p = PX(3805, 0);
    uint64_t oa, oa2, ob;
    itMsg m;
    /* C, another session of A's account, cancels A's order: both are told */
    const uint64_t ca = itPlace(A, IF, XOE_SELL, p, 2, &oa);
    REQUIRE(ca);
    const xoeCancel cx = {.clOrdId = 8001, .orderId = oa};
    REQUIRE(itRawSend(C, XOE_MSG_CANCEL, &cx));
    REQUIRE(itRawExpect(C, XOE_MSG_CANCELLED, &m));
    CHECK(m.m.u.cancelled.clOrdId == ca && m.m.u.cancelled.orderId == oa &&
              m.m.u.cancelled.qty == 2 && m.m.u.cancelled.reason == XOE_CXL_USER,
          "C: %s", itDesc(&m));
    REQUIRE(itCancelled(A, ca, oa, XOE_CXL_USER, 2));
    /* C replaces A's order: the order stays A's (its fills go to A) */
    const uint64_t ca2 = itPlace(A, IF, XOE_SELL, p, 2, &oa2);
    REQUIRE(ca2);
    const xoeReplace rp = {.clOrdId = 8002, .orderId = oa2, .price = p, .qty = 1};
    REQUIRE(itRawSend(C, XOE_MSG_REPLACE, &rp));
    REQUIRE(itRawExpect(C, XOE_MSG_REPLACED, &m));
    CHECK(m.m.u.replaced.clOrdId == 8002 && m.m.u.replaced.leaves == 1, "C: %s", itDesc(&m));
    xclReport r;
    REQUIRE(itLibTake(A, XOE_MSG_REPLACED, 8002, &r));
    const uint64_t cb = itPlace(B, IF, XOE_BUY, p, 1, &ob);
    REQUIRE(cb);
    REQUIRE(itExec(B, cb, ob, XOE_BUY, XOE_TAKER, p, 1, 0, NULL));
    REQUIRE(itExec(A, 8002, oa2, XOE_SELL, XOE_MAKER, p, 1, 0, NULL));
    REQUIRE(itBookIs("IF2501", "bids=[] asks=[]"));
    REQUIRE(itLibQuiet(A, 20) && itLibQuiet(B, 0) && itRawQuiet(C, 0));
    REQUIRE(itDeltas(before, "gateway.new_orders=3 gateway.cancelled=1 gateway.executions=2"));
    json_decref(before);
}

static void caseTradingStates(void)
{
    json_t *before = itSnap();
    REQUIRE(before);
    uint64_t h1, h2, h3, h4, hb;
    char st[32], book[256];
    const uint64_t c1 = itPlace(A, IH, XOE_SELL, PX(2801, 0), 1, &h1);
    xclOrder o = itOrd(IH, XOE_SELL, PX(2800, 2000), 1);
    o.timeCondition = XOE_GTC;
    const uint64_t c2 = itPlaceOAt(A, &o, &h2, __LINE__);
    const uint64_t c3 = itPlace(A, IH, XOE_SELL, PX(2802, 0), 1, &h3);
    REQUIRE(c1 && c2 && c3);
    /* the control plane refuses what does not exist */
    json_t *bad =
        itCtl("instrument.state", json_pack("{s:s, s:s}", "instrument", "IH2501", "state", "open"));
    CHECK(!bad && strstr(gCtlErr, "error 1008"), "instrument.state open: %s",
          bad ? "accepted" : gCtlErr);
    bad = itCtl("book.get", json_pack("{s:s}", "instrument", "XX9999"));
    CHECK(!bad && strstr(gCtlErr, "error 1007"), "book.get XX9999: %s", bad ? "accepted" : gCtlErr);
    /* halted: no new orders, no replaces; cancels still work */
    REQUIRE(itSetState("IH2501", "halted"));
    REQUIRE(itBookStr("IH2501", book, sizeof book, st, sizeof st));
    CHECK(!strcmp(st, "halted"), "book.get IH2501 state %s", st);
    o = itOrd(IH, XOE_BUY, PX(2800, 0), 1);
    REQUIRE(itReject(A, &o, XOE_CODE_STATE));
    REQUIRE(itCxlReject(A, XOE_OP_REPLACE, h1, PX(2801, 0), 2, XOE_CODE_STATE));
    REQUIRE(itCancel(A, h1, c1, 1));
    /* closed: GFD orders expire, GTC orders stay */
    REQUIRE(itSetState("IH2501", "closed"));
    REQUIRE(itCancelled(A, c3, h3, XOE_CXL_EXPIRED, 1));
    REQUIRE(itBookIs("IH2501", "bids=[] asks=[2800.2x1]"));
    REQUIRE(itReject(A, &o, XOE_CODE_STATE));
    /* pre-open: limit GFD/GTC only, no matching; continuous uncrosses */
    REQUIRE(itSetState("IH2501", "pre_open"));
    o.timeCondition = XOE_IOC;
    REQUIRE(itReject(A, &o, XOE_CODE_STATE));
    const uint64_t c4 = itPlace(A, IH, XOE_SELL, PX(2800, 0), 2, &h4);
    const uint64_t cb = itPlace(B, IH, XOE_BUY, PX(2801, 0), 3, &hb);
    REQUIRE(c4 && cb);
    REQUIRE(itBookIs("IH2501", "bids=[2801.0x3] asks=[2800.0x2 2800.2x1]"));
    REQUIRE(itLibQuiet(A, 20) && itLibQuiet(B, 0));
    /* volume 3 at 2800.2..2801, no imbalance: the price nearest the reference 2800 */
    REQUIRE(itSetState("IH2501", "continuous"));
    const int64_t u = PX(2800, 2000);
    REQUIRE(itExec(B, cb, hb, XOE_BUY, XOE_AUCTION, u, 2, 1, NULL));
    REQUIRE(itExec(B, cb, hb, XOE_BUY, XOE_AUCTION, u, 1, 0, NULL));
    REQUIRE(itExec(A, c4, h4, XOE_SELL, XOE_AUCTION, u, 2, 0, NULL));
    REQUIRE(itExec(A, c2, h2, XOE_SELL, XOE_AUCTION, u, 1, 0, NULL));
    REQUIRE(itBookIs("IH2501", "bids=[] asks=[]"));
    REQUIRE(itBookStr("IH2501", book, sizeof book, st, sizeof st));
    CHECK(!strcmp(st, "continuous"), "book.get IH2501 state %s", st);
    REQUIRE(itLibQuiet(A, 20) && itLibQuiet(B, 0));
    REQUIRE(itDeltas(before, "gateway.new_orders=8 gateway.accepted=5 gateway.rejected=3 "
                             "gateway.cancelled=2 gateway.executions=4 orders_resting=0"));
    json_decref(before);
}

static void caseUnknownTypes(void)
{
    json_t *before = itSnap();
    REQUIRE(before);
    itFB b;
    itMsg m;
    /* an unknown application type: Rejected 9003 with the clOrdId at offset 8 */
    uint8_t u16[16] = {16, 0, 0x1F, 0, 1, 2, 3, 4, 0x34, 0x12};
    itFBInit(&b, C->id, C->nextIn++);
    CHECK(xoeAppendRaw(&b.w, u16, sizeof u16) == XOE_OK, "xoeAppendRaw");
    REQUIRE(itSend(C->fd, b.buf, itFBLen(&b)));
    REQUIRE(itRawExpect(C, XOE_MSG_REJECTED, &m));
    CHECK(m.m.u.rejected.code == XOE_CODE_MALFORMED && m.m.u.rejected.clOrdId == 0x1234 &&
              m.m.u.rejected.instrument == 0,
          "%s", itDesc(&m));
    /* too short to hold a clOrdId: 0 */
    const uint8_t u8[8] = {8, 0, 0x1E, 0};
    itFBInit(&b, C->id, C->nextIn++);
    CHECK(xoeAppendRaw(&b.w, u8, sizeof u8) == XOE_OK, "xoeAppendRaw");
    REQUIRE(itSend(C->fd, b.buf, itFBLen(&b)));
    REQUIRE(itRawExpect(C, XOE_MSG_REJECTED, &m));
    CHECK(m.m.u.rejected.code == XOE_CODE_MALFORMED && m.m.u.rejected.clOrdId == 0, "%s",
          itDesc(&m));
    /* an unknown session type is skipped, unanswered; what follows is processed */
    const uint8_t s8[8] = {8, 0, 0x0E, 0};
    itFBInit(&b, C->id, C->nextIn);
    CHECK(xoeAppendRaw(&b.w, s8, sizeof s8) == XOE_OK, "xoeAppendRaw");
    REQUIRE(itSend(C->fd, b.buf, itFBLen(&b)));
    REQUIRE(itRawQuiet(C, 30));
    const xoeNewOrder n1 = itNO(IC, XOE_BUY, PX(5500, 0), 1, 0x2001);
    itFBInit(&b, C->id, C->nextIn++);
    CHECK(xoeAppendRaw(&b.w, s8, sizeof s8) == XOE_OK, "xoeAppendRaw");
    itFBAdd(&b, XOE_MSG_NEW_ORDER, &n1);
    REQUIRE(itSend(C->fd, b.buf, itFBLen(&b)));
    REQUIRE(itRawExpect(C, XOE_MSG_ACCEPTED, &m));
    const uint64_t o1 = m.m.u.accepted.orderId;
    /* a longer message than its type is read up to its size */
    xoeNewOrder n2 = itNO(IC, XOE_BUY, PX(5500, 2000), 1, 0x2002);
    uint8_t l48[48];
    memset(l48, 0, sizeof l48);
    n2.h.length = 48;
    n2.h.type = XOE_MSG_NEW_ORDER;
    memcpy(l48, &n2, sizeof n2);
    itFBInit(&b, C->id, C->nextIn++);
    CHECK(xoeAppendRaw(&b.w, l48, sizeof l48) == XOE_OK, "xoeAppendRaw");
    REQUIRE(itSend(C->fd, b.buf, itFBLen(&b)));
    REQUIRE(itRawExpect(C, XOE_MSG_ACCEPTED, &m));
    CHECK(m.m.u.accepted.clOrdId == 0x2002 && m.m.u.accepted.price == PX(5500, 2000), "%s",
          itDesc(&m));
    const uint64_t o2 = m.m.u.accepted.orderId;
    REQUIRE(itBookIs("IC2501", "bids=[5500.2x1 5500.0x1] asks=[]"));
    REQUIRE(itRawCancel(C, o1, 0x2001, 1) && itRawCancel(C, o2, 0x2002, 1));
    REQUIRE(itRawQuiet(C, 20));
    REQUIRE(itDeltas(before, "gateway.new_orders=2 gateway.rejected=2 gateway.accepted=2 "
                             "gateway.cancelled=2 gateway.datagrams_processed=7"));
    json_decref(before);
}

static void caseDuplicate(void)
{
    json_t *before = itSnap();
    REQUIRE(before);
    char book1[256], book2[256];
    itMsg acc, m;
    const xoeNewOrder no = itNO(IC, XOE_BUY, PX(5502, 0), 1, 0x3001);
    itFB b;
    const uint64_t n = C->nextIn++;
    itFBInit(&b, C->id, n);
    itFBAdd(&b, XOE_MSG_NEW_ORDER, &no);
    const size_t len = itFBLen(&b);
    REQUIRE(itSend(C->fd, b.buf, len));
    REQUIRE(itRawExpect(C, XOE_MSG_ACCEPTED, &acc));
    REQUIRE(itBookStr("IC2501", book1, sizeof book1, NULL, 0));
    /* the same frame again: its answer is resent from the history, nothing executes */
    REQUIRE(itSend(C->fd, b.buf, len));
    REQUIRE(itRawExpect(C, XOE_MSG_ACCEPTED, &m));
    CHECK((m.flags & XOE_FLAG_RETRANSMIT) && m.m.seq == acc.m.seq &&
              m.m.u.accepted.orderId == acc.m.u.accepted.orderId,
          "duplicate answered with %s (flags %u), expected the resent Accepted %" PRIu64,
          itDesc(&m), m.flags, acc.m.seq);
    REQUIRE(itBookStr("IC2501", book2, sizeof book2, NULL, 0));
    CHECK(!strcmp(book1, book2), "book changed by a duplicate: '%s' then '%s'", book1, book2);
    REQUIRE(itDeltas(before, "gateway.duplicates=1 gateway.new_orders=1 gateway.accepted=1 "
                             "gateway.retransmitted=1 orders_resting=1"));
    /* a frame starting with the duplicate: the old answer resent, the new message processed */
    const xoeCancel cx = {.clOrdId = 0x3002, .orderId = acc.m.u.accepted.orderId};
    itFBInit(&b, C->id, n);
    itFBAdd(&b, XOE_MSG_NEW_ORDER, &no);
    itFBAdd(&b, XOE_MSG_CANCEL, &cx);
    C->nextIn++;
    REQUIRE(itSend(C->fd, b.buf, itFBLen(&b)));
    REQUIRE(itRawExpect(C, XOE_MSG_ACCEPTED, &m));
    CHECK(m.flags & XOE_FLAG_RETRANSMIT, "%s not flagged RETRANSMIT", itDesc(&m));
    REQUIRE(itRawExpect(C, XOE_MSG_CANCELLED, &m));
    CHECK(!(m.flags & XOE_FLAG_RETRANSMIT) && m.m.u.cancelled.clOrdId == 0x3001, "%s", itDesc(&m));
    REQUIRE(itBookIs("IC2501", "bids=[] asks=[]"));
    /* number 0 never existed: DUPLICATE_EXPIRED, not executed */
    itFBInit(&b, C->id, 0);
    itFBAdd(&b, XOE_MSG_NEW_ORDER, &no);
    REQUIRE(itSend(C->fd, b.buf, itFBLen(&b)));
    REQUIRE(itRawExpect(C, XOE_MSG_SESSION_REJECT, &m));
    CHECK(m.m.u.sessionReject.reason == XOE_SR_DUPLICATE_EXPIRED &&
              m.m.u.sessionReject.expectedSeq == C->nextIn && m.m.u.sessionReject.receivedSeq == 0,
          "%s", itDesc(&m));
    REQUIRE(itBookIs("IC2501", "bids=[] asks=[]"));
    /* a duplicate of an order that traded: all it produced is resent, nothing trades again */
    uint64_t ob;
    const uint64_t cb = itPlace(B, IC, XOE_SELL, PX(5520, 0), 2, &ob);
    REQUIRE(cb);
    const xoeNewOrder tr = itNO(IC, XOE_BUY, PX(5520, 0), 1, 0x3003);
    itFBInit(&b, C->id, C->nextIn++);
    itFBAdd(&b, XOE_MSG_NEW_ORDER, &tr);
    const size_t tlen = itFBLen(&b);
    itMsg ex;
    REQUIRE(itSend(C->fd, b.buf, tlen));
    REQUIRE(itRawExpect(C, XOE_MSG_ACCEPTED, &acc));
    REQUIRE(itRawExpect(C, XOE_MSG_EXECUTED, &ex));
    CHECK(ex.m.u.executed.liquidity == XOE_TAKER && ex.m.u.executed.leaves == 0, "%s", itDesc(&ex));
    REQUIRE(itExec(B, cb, ob, XOE_SELL, XOE_MAKER, PX(5520, 0), 1, 1, NULL));
    REQUIRE(itSend(C->fd, b.buf, tlen));
    REQUIRE(itRawExpect(C, XOE_MSG_ACCEPTED, &m));
    CHECK((m.flags & XOE_FLAG_RETRANSMIT) && m.m.seq == acc.m.seq, "%s", itDesc(&m));
    REQUIRE(itRawExpect(C, XOE_MSG_EXECUTED, &m));
    CHECK((m.flags & XOE_FLAG_RETRANSMIT) && m.m.seq == ex.m.seq, "%s", itDesc(&m));
    REQUIRE(itBookIs("IC2501", "bids=[] asks=[5520.0x1]"));
    REQUIRE(itLibQuiet(B, 20));
    REQUIRE(itCancel(B, ob, cb, 1));
    REQUIRE(itRawQuiet(C, 20));
    REQUIRE(itDeltas(before, "gateway.duplicates=4 gateway.new_orders=3 gateway.cancelled=2 "
                             "gateway.executions=2 gateway.retransmitted=4 orders_resting=0"));
    json_decref(before);
}

static void caseGap(void)
{
    json_t *before = itSnap();
    REQUIRE(before);
    itFB b;
    itMsg m;
    const uint64_t n = C->nextIn;
    const xoeNewOrder no = itNO(IC, XOE_BUY, PX(5504, 0), 1, 0x4001);
    /* a number above the expected one: SessionReject{GAP}, not processed */
    itFBInit(&b, C->id, n + 3);
    itFBAdd(&b, XOE_MSG_NEW_ORDER, &no);
    REQUIRE(itSend(C->fd, b.buf, itFBLen(&b)));
    REQUIRE(itRawExpect(C, XOE_MSG_SESSION_REJECT, &m));
    CHECK(m.m.u.sessionReject.reason == XOE_SR_GAP && m.m.u.sessionReject.code == 0 &&
              m.m.u.sessionReject.expectedSeq == n && m.m.u.sessionReject.receivedSeq == n + 3,
          "%s", itDesc(&m));
    /* two messages after a gap: one reject, neither processed */
    itFBInit(&b, C->id, n + 2);
    itFBAdd(&b, XOE_MSG_NEW_ORDER, &no);
    itFBAdd(&b, XOE_MSG_NEW_ORDER, &no);
    REQUIRE(itSend(C->fd, b.buf, itFBLen(&b)));
    REQUIRE(itRawExpect(C, XOE_MSG_SESSION_REJECT, &m));
    CHECK(m.m.u.sessionReject.reason == XOE_SR_GAP && m.m.u.sessionReject.receivedSeq == n + 2,
          "%s", itDesc(&m));
    /* a heartbeat announcing a number above the expected one (lost last order) */
    const xoeHeartbeat hb = {.reserved = 0};
    itFBInit(&b, C->id, n + 5);
    itFBAdd(&b, XOE_MSG_HEARTBEAT, &hb);
    REQUIRE(itSend(C->fd, b.buf, itFBLen(&b)));
    REQUIRE(itRawExpect(C, XOE_MSG_SESSION_REJECT, &m));
    CHECK(m.m.u.sessionReject.reason == XOE_SR_GAP && m.m.u.sessionReject.expectedSeq == n &&
              m.m.u.sessionReject.receivedSeq == n + 5,
          "%s", itDesc(&m));
    /* one below is no error */
    itFBInit(&b, C->id, n - 1);
    itFBAdd(&b, XOE_MSG_HEARTBEAT, &hb);
    REQUIRE(itSend(C->fd, b.buf, itFBLen(&b)));
    REQUIRE(itRawQuiet(C, 30));
    REQUIRE(itBookIs("IC2501", "bids=[] asks=[]"));
    /* the expected number is still n */
    REQUIRE(itRawProbe(C));
    REQUIRE(itDeltas(before, "gateway.gaps=3 gateway.new_orders=0 gateway.duplicates=0"));
    json_decref(before);
}

/* Expects `n` resent application messages numbered from `first`, then
 * RetransmitEnd{sent n, fromSeq, count, flags, firstSeq}. */
static int itResentAt(itRaw *r, uint64_t first, uint32_t n, uint64_t fromSeq, uint32_t count,
                      uint8_t flags, int line)
{
    itMsg m;
    for (uint32_t k = 0; k < n; k++) {
        if (!itRawNext(r, opt.timeoutMs, &m)) {
            itFail(line, "%s: %u of %u resent messages came", r->role, k, n);
            return 0;
        }
        if (!xoeIsSequenced(m.m.type) || m.m.seq != first + k || !(m.flags & XOE_FLAG_RETRANSMIT)) {
            itFail(line, "%s: expected resent number %" PRIu64 ", got %s", r->role, first + k,
                   itDesc(&m));
            return 0;
        }
    }
    if (!itRawExpectAt(r, XOE_MSG_RETRANSMIT_END, &m, line))
        return 0;
    const xoeRetransmitEnd *e = &m.m.u.retransmitEnd;
    if (e->sent != n || e->fromSeq != fromSeq || e->count != count || e->flags != flags ||
        e->firstSeq != (n ? first : 0)) {
        itFail(line,
               "%s: %s, expected sent=%u fromSeq=%" PRIu64 " count=%u flags=%u firstSeq=%" PRIu64,
               r->role, itDesc(&m), n, fromSeq, count, flags, n ? first : 0);
        return 0;
    }
    return 1;
}
#define itResent(r, first, n, from, count, flags)                                                  \
    itResentAt(r, first, n, from, count, flags, __LINE__)

static void caseRetransmit(void)
{
    json_t *before = itSnap();
    REQUIRE(before);
    const uint64_t next = C->nextOut;
    const uint32_t all = (uint32_t)(next - 1);
    CHECK(all >= 10 && all <= XOE_RETRANSMIT_MAX, "C has %u messages", all);
    /* everything from 1: byte for byte the originals (checked as they arrive) */
    xoeRetransmitRequest rq = {.count = all, .fromSeq = 1};
    REQUIRE(itRawSend(C, XOE_MSG_RETRANSMIT_REQUEST, &rq));
    REQUIRE(itResent(C, 1, all, 1, all, 0));
    /* a range reaching past the last message sent: BEYOND */
    rq = (xoeRetransmitRequest){.count = 10, .fromSeq = next - 2};
    REQUIRE(itRawSend(C, XOE_MSG_RETRANSMIT_REQUEST, &rq));
    REQUIRE(itResent(C, next - 2, 2, next - 2, 10, XOE_RT_BEYOND));
    /* nothing asked, nothing sent; number 0 never existed */
    rq = (xoeRetransmitRequest){.count = 0, .fromSeq = 1};
    REQUIRE(itRawSend(C, XOE_MSG_RETRANSMIT_REQUEST, &rq));
    REQUIRE(itResent(C, 0, 0, 1, 0, 0));
    rq = (xoeRetransmitRequest){.count = 1, .fromSeq = 0};
    REQUIRE(itRawSend(C, XOE_MSG_RETRANSMIT_REQUEST, &rq));
    REQUIRE(itResent(C, 0, 0, 0, 1, 0));
    /* a Logon from the bound address while logged on, asking for a replay */
    itMsg la;
    REQUIRE(itRawLogon(C, 60000, next - 3, &la));
    CHECK(la.m.u.logonAccepted.nextOutSeq == next, "%s", itDesc(&la));
    REQUIRE(itResent(C, next - 3, 3, next - 3, 3, 0));
    REQUIRE(itRawQuiet(C, 20));
    char want[128];
    snprintf(want, sizeof want, "gateway.retransmitted=%u gateway.logons=1", all + 5);
    REQUIRE(itDeltas(before, want));
    json_decref(before);
}

/* A malformed variant of a valid frame. */
typedef struct {
    const char *name;
    int err;
    size_t len;
    uint8_t f[80];
} itVariant;

static itVariant *itVar(itVariant *v, int *nv, const uint8_t base[64], const char *name, int err,
                        size_t len)
{
    itVariant *x = &v[(*nv)++];
    x->name = name;
    x->err = err;
    x->len = len;
    memset(x->f, 0, sizeof x->f);
    memcpy(x->f, base, 64);
    return x;
}

static void itPut16(uint8_t *p, uint16_t val)
{
    memcpy(p, &val, sizeof val);
}

static void caseMalformed(void)
{
    json_t *before = itSnap();
    REQUIRE(before);
    /* a valid NewOrder frame with C's next number, then variants of it */
    uint8_t base[64];
    itFB b;
    const xoeNewOrder no = itNO(IC, XOE_BUY, PX(5506, 0), 1, 0x5001);
    itFBInit(&b, C->id, C->nextIn);
    itFBAdd(&b, XOE_MSG_NEW_ORDER, &no);
    CHECK(itFBLen(&b) == sizeof base, "NewOrder frame of %zu bytes", itFBLen(&b));
    memcpy(base, b.buf, sizeof base);
    itVariant v[20], *x;
    int nv = 0;
    itVar(v, &nv, base, "empty datagram", XOE_ERR_SHORT_HEADER, 0);
    itVar(v, &nv, base, "23 bytes", XOE_ERR_SHORT_HEADER, 23);
    x = itVar(v, &nv, base, "bad magic", XOE_ERR_MAGIC, 64);
    x->f[0] ^= 0xFF;
    x = itVar(v, &nv, base, "version 2", XOE_ERR_VERSION, 64);
    x->f[2] = 2;
    itVar(v, &nv, base, "truncated to 56", XOE_ERR_FRAME_LENGTH, 56);
    itVar(v, &nv, base, "padded to 72", XOE_ERR_FRAME_LENGTH, 72);
    x = itVar(v, &nv, base, "length 60", XOE_ERR_FRAME_ALIGN, 60);
    itPut16(x->f + 6, 60);
    x = itVar(v, &nv, base, "flag bit 1", XOE_ERR_FLAGS, 64);
    x->f[3] = 2;
    x = itVar(v, &nv, base, "header reserved", XOE_ERR_HEADER_RESERVED, 64);
    x->f[12] = 1;
    x = itVar(v, &nv, base, "count 0", XOE_ERR_NO_MESSAGES, 24);
    itPut16(x->f + 4, 0);
    itPut16(x->f + 6, 24);
    const int firstMsgLevel = nv;
    x = itVar(v, &nv, base, "count 2", XOE_ERR_COUNT_SHORT, 64);
    itPut16(x->f + 4, 2);
    x = itVar(v, &nv, base, "message length 0", XOE_ERR_MSG_ZERO_LENGTH, 64);
    itPut16(x->f + 24, 0);
    x = itVar(v, &nv, base, "message length 36", XOE_ERR_MSG_ALIGN, 64);
    itPut16(x->f + 24, 36);
    x = itVar(v, &nv, base, "message length 48", XOE_ERR_MSG_OVERRUN, 64);
    itPut16(x->f + 24, 48);
    x = itVar(v, &nv, base, "type 0x90", XOE_ERR_DIRECTION, 64);
    x->f[26] = 0x90;
    x = itVar(v, &nv, base, "NewOrder of 32 bytes", XOE_ERR_MSG_SHORT, 56);
    itPut16(x->f + 6, 56);
    itPut16(x->f + 24, 32);
    x = itVar(v, &nv, base, "reserved byte", XOE_ERR_RESERVED, 64);
    x->f[24 + 35] = 1;
    x = itVar(v, &nv, base, "side 2", XOE_ERR_ENUM, 64);
    x->f[24 + 6] = 2;
    x = itVar(v, &nv, base, "trailing heartbeat", XOE_ERR_TRAILING, 72);
    itPut16(x->f + 6, 72);
    itPut16(x->f + 64, 8);
    x->f[66] = XOE_MSG_HEARTBEAT;
    /* check the variants fail the decoder as intended, then send them */
    for (int i = 0; i < nv; i++) {
        xoeFrame f;
        xoeErrorInfo ei;
        const int rc = xoeFrameParse(v[i].f, v[i].len, XOE_DIR_TO_XCHG, &f, &ei);
        CHECK(rc == v[i].err, "variant '%s': the decoder says %s", v[i].name, xoeErrorName(rc));
        CHECK((ei.msgIndex == XOE_NO_MSG) == (i < firstMsgLevel), "variant '%s': msgIndex %u",
              v[i].name, ei.msgIndex);
        REQUIRE(itSend(C->fd, v[i].f, v[i].len));
    }
    /* only message-level errors are answered (the header was sound) */
    for (int i = firstMsgLevel; i < nv; i++) {
        itMsg m;
        REQUIRE(itRawExpect(C, XOE_MSG_SESSION_REJECT, &m));
        const xoeSessionReject *sr = &m.m.u.sessionReject;
        CHECK(sr->reason == XOE_SR_MALFORMED && sr->code == XOE_CODE_MALFORMED &&
                  sr->detail == v[i].err && sr->expectedSeq == C->nextIn &&
                  sr->receivedSeq == C->nextIn,
              "variant '%s': %s", v[i].name, itDesc(&m));
    }
    REQUIRE(itRawQuiet(C, 20));
    char want[1024] = "gateway.datagrams_processed=0 gateway.new_orders=0";
    for (int e = 1; e <= XOE_ERR_TRAILING; e++) {
        int cnt = 0;
        for (int i = 0; i < nv; i++)
            cnt += v[i].err == e;
        snprintf(want + strlen(want), sizeof want - strlen(want), " gateway.malformed.%s=%d",
                 xoeErrorName(e), e == XOE_ERR_FRAME_TOO_LONG ? 0 : cnt);
    }
    REQUIRE(itDeltas(before, want));
    json_decref(before);
    /* from an address the session is not bound to: counted, never answered */
    before = itSnap();
    REQUIRE(before);
    const int o2 = itUdp(opt.local), o3 = itUdp(opt.other);
    REQUIRE(itSend(o2, v[firstMsgLevel + 3].f, v[firstMsgLevel + 3].len));
    REQUIRE(itSend(o3, v[firstMsgLevel + 3].f, v[firstMsgLevel + 3].len));
    uint8_t unk[64];
    memcpy(unk, v[firstMsgLevel + 3].f, sizeof unk);
    unk[11] ^= 0x80; /* another, unknown session */
    REQUIRE(itSend(C->fd, unk, sizeof unk));
    REQUIRE(itDeltas(before, "gateway.malformed.msg_overrun=3 gateway.datagrams_processed=0"));
    REQUIRE(itFdQuiet(o2, 20) && itFdQuiet(o3, 0) && itRawQuiet(C, 0));
    close(o2);
    close(o3);
    /* the number was not used: the valid frame with it is processed */
    REQUIRE(itSend(C->fd, base, sizeof base));
    C->nextIn++;
    itMsg m;
    REQUIRE(itRawExpect(C, XOE_MSG_ACCEPTED, &m));
    REQUIRE(itRawCancel(C, m.m.u.accepted.orderId, 0x5001, 1));
    REQUIRE(itDeltas(before, "gateway.new_orders=1 gateway.datagrams_processed=2"));
    json_decref(before);
}

static void caseLogonRejects(void)
{
    json_t *before = itSnap();
    REQUIRE(before);
    itFB b;
    itMsg m;
    F = itRawOpen("F", opt.local);
    E = itRawOpen("E", opt.local);
    /* an unknown session: 9001, and the frame tells nothing (seq 0) */
    uint8_t zero[XOE_TOKEN_SIZE] = {0};
    REQUIRE(itSend(F->fd, b.buf, itLogonFrame(&b, 999999, 1, 1000, 0, zero)));
    REQUIRE(itFdExpect(F->fd, 999999, XOE_MSG_LOGON_REJECTED, &m));
    CHECK(m.m.u.logonRejected.code == XOE_CODE_AUTH && m.frameSeq == 0, "%s", itDesc(&m));
    /* a wrong token: 9001, seq 0 */
    uint8_t bad[XOE_TOKEN_SIZE];
    memcpy(bad, F->token, sizeof bad);
    bad[0] ^= 1;
    REQUIRE(itRawSendLogonFd(F, F->fd, 60000, 0, bad));
    REQUIRE(itRawExpect(F, XOE_MSG_LOGON_REJECTED, &m));
    CHECK(m.m.u.logonRejected.code == XOE_CODE_AUTH && m.frameSeq == 0, "%s", itDesc(&m));
    /* at once again, even with the right token: not evaluated within a second */
    REQUIRE(itSend(F->fd, b.buf, itLogonFrame(&b, F->id, 1, 60000, 0, F->token)));
    REQUIRE(itRawQuiet(F, 50));
    /* a Logon not alone in its frame: 9003, answered whatever the rate */
    const xoeHeartbeat hb = {.reserved = 0};
    itLogonFrame(&b, F->id, 1, 60000, 0, F->token);
    itFBAdd(&b, XOE_MSG_HEARTBEAT, &hb);
    REQUIRE(itSend(F->fd, b.buf, itFBLen(&b)));
    REQUIRE(itRawExpect(F, XOE_MSG_LOGON_REJECTED, &m));
    CHECK(m.m.u.logonRejected.code == XOE_CODE_MALFORMED, "%s", itDesc(&m));
    /* C (logged on) asks for a replay beyond what was sent: 1008, with its next number */
    REQUIRE(itRawSendLogonFd(C, C->fd, 60000, C->nextOut + 100, C->token));
    REQUIRE(itRawExpect(C, XOE_MSG_LOGON_REJECTED, &m));
    CHECK(m.m.u.logonRejected.code == XOE_CODE_INVALID_PARAMS && m.frameSeq == C->nextOut, "%s",
          itDesc(&m));
    REQUIRE(itRawProbe(C)); /* still logged on */
    /* E may log on only from the namespace's first address */
    const int fd3 = itUdp(opt.other);
    REQUIRE(itRawSendLogonFd(E, fd3, 60000, 0, E->token));
    REQUIRE(itFdExpect(fd3, E->id, XOE_MSG_LOGON_REJECTED, &m));
    CHECK(m.m.u.logonRejected.code == XOE_CODE_AUTH && m.frameSeq == 0, "%s", itDesc(&m));
    close(fd3);
    REQUIRE(itRawQuiet(F, 0) && itRawQuiet(E, 0));
    REQUIRE(itDeltas(before, "gateway.logon_rejects=5 gateway.logon_throttled=1 gateway.logons=0 "
                             "gateway.unknown_session=0"));
    json_decref(before);
}

static void caseBeforeLogon(void)
{
    json_t *before = itSnap();
    REQUIRE(before);
    /* F never logged on: its frames are dropped unanswered (no address was
     * ever bound: counted as wrong address) */
    const xoeNewOrder no = itNO(IC, XOE_BUY, PX(5500, 0), 1, 0x6001);
    const xoeHeartbeat hb = {.reserved = 0};
    itFB b;
    itFBInit(&b, F->id, 1);
    itFBAdd(&b, XOE_MSG_NEW_ORDER, &no);
    REQUIRE(itSend(F->fd, b.buf, itFBLen(&b)));
    itFBInit(&b, F->id, 1);
    itFBAdd(&b, XOE_MSG_HEARTBEAT, &hb);
    REQUIRE(itSend(F->fd, b.buf, itFBLen(&b)));
    /* a session that does not exist */
    itFBInit(&b, 424242, 1);
    itFBAdd(&b, XOE_MSG_NEW_ORDER, &no);
    REQUIRE(itSend(F->fd, b.buf, itFBLen(&b)));
    REQUIRE(itDeltas(before, "gateway.wrong_address=2 gateway.unknown_session=1 "
                             "gateway.not_logged_on=0 gateway.new_orders=0 "
                             "gateway.datagrams_processed=0"));
    REQUIRE(itRawQuiet(F, 20));
    REQUIRE(itBookIs("IC2501", "bids=[] asks=[]"));
    json_decref(before);
}

static void caseWrongSource(void)
{
    D = itRawOpen("D", opt.local);
    REQUIRE(itRawLogon(D, 60000, 0, NULL));
    json_t *before = itSnap();
    REQUIRE(before);
    const int fd3 = itUdp(opt.other), fd2 = itUdp(opt.local);
    const xoeNewOrder no = itNO(IC, XOE_BUY, PX(5508, 0), 1, 0x6101);
    itFB b;
    itFBInit(&b, D->id, D->nextIn);
    itFBAdd(&b, XOE_MSG_NEW_ORDER, &no);
    const size_t len = itFBLen(&b);
    /* D's frames from 198.18.0.3 and from another port: dropped unanswered */
    REQUIRE(itSend(fd3, b.buf, len));
    REQUIRE(itSend(fd2, b.buf, len));
    const xoeLogout lo = {.reserved = 0};
    itFB b2;
    itFBInit(&b2, D->id, D->nextIn);
    itFBAdd(&b2, XOE_MSG_LOGOUT, &lo);
    REQUIRE(itSend(fd3, b2.buf, itFBLen(&b2)));
    REQUIRE(itDeltas(before, "gateway.wrong_address=3 gateway.new_orders=0 "
                             "gateway.datagrams_processed=0"));
    REQUIRE(itFdQuiet(fd3, 20) && itFdQuiet(fd2, 0) && itRawQuiet(D, 0));
    /* D is still logged on at its address and the number unused */
    const uint64_t oid = itRawPlace(D, &no);
    REQUIRE(oid);
    /* a Logon from 198.18.0.3 takes the session over: the old address is told */
    const int old = D->fd;
    D->fd = fd3;
    itMsg la, m;
    REQUIRE(itRawLogon(D, 60000, 0, &la));
    REQUIRE(itFdExpect(old, D->id, XOE_MSG_LOGGED_OUT, &m));
    CHECK(m.m.u.loggedOut.reason == XOE_LOGOUT_SUPERSEDED, "%s", itDesc(&m));
    char bound[64];
    snprintf(bound, sizeof bound, "%s:%u", opt.other, itLocalPort(fd3));
    REQUIRE(itSessionIs(D->id, "logged_on", bound));
    /* now the old address is the wrong one */
    const xoeCancel cx = {.clOrdId = 0x6102, .orderId = oid};
    itFBInit(&b, D->id, D->nextIn);
    itFBAdd(&b, XOE_MSG_CANCEL, &cx);
    json_t *mid = itSnap();
    REQUIRE(mid);
    REQUIRE(itSend(old, b.buf, itFBLen(&b)));
    REQUIRE(itDeltas(mid, "gateway.wrong_address=1 gateway.cancelled=0"));
    json_decref(mid);
    REQUIRE(itFdQuiet(old, 20));
    REQUIRE(itRawCancel(D, oid, 0x6101, 1));
    /* the operator ends the session: LoggedOut{ADMIN}, then its logons are refused */
    json_t *k = itCtl("session.kick", json_pack("{s:I}", "session_id", (json_int_t)D->id));
    CHECK(k, "session.kick: %s", gCtlErr);
    json_decref(k);
    REQUIRE(itRawExpect(D, XOE_MSG_LOGGED_OUT, &m));
    CHECK(m.m.u.loggedOut.reason == XOE_LOGOUT_ADMIN, "%s", itDesc(&m));
    REQUIRE(itSessionIs(D->id, "disabled", ""));
    REQUIRE(itRawSendLogonFd(D, D->fd, 60000, 0, D->token));
    REQUIRE(itRawExpect(D, XOE_MSG_LOGON_REJECTED, &m));
    CHECK(m.m.u.logonRejected.code == XOE_CODE_AUTH && m.frameSeq == 0, "%s", itDesc(&m));
    k = itCtl("session.kick", json_pack("{s:i}", "session_id", 999999));
    CHECK(!k && strstr(gCtlErr, "error 9001"), "session.kick of no session: %s",
          k ? "accepted" : gCtlErr);
    close(old);
    close(fd2);
    REQUIRE(itDeltas(before, "gateway.wrong_address=4 gateway.logons=1 gateway.new_orders=1 "
                             "gateway.cancelled=1 gateway.logon_rejects=1 orders_resting=0"));
    json_decref(before);
}

static void caseTimeout(void)
{
    json_t *before = itSnap();
    REQUIRE(before);
    itMsg la, m;
    /* 50 ms asked: clamped to 100; silent for 3 intervals: LoggedOut{TIMEOUT} */
    E->keepHeartbeats = 1;
    const uint64_t sentAt = itNs(); /* before xchgd saw the Logon */
    REQUIRE(itRawLogon(E, 50, 0, &la));
    CHECK(la.m.u.logonAccepted.heartbeatMs == XOE_HEARTBEAT_MIN_MS, "%s", itDesc(&la));
    int heartbeats = 0;
    for (;;) {
        REQUIRE(itRawNext(E, 2000, &m) || (itFail(__LINE__, "E: no LoggedOut within 2 s"), 0));
        if (m.m.type != XOE_MSG_SERVER_HEARTBEAT)
            break;
        heartbeats++;
    }
    const double ms = (double)(m.rxNs - sentAt) / 1e6;
    CHECK(m.m.type == XOE_MSG_LOGGED_OUT && m.m.u.loggedOut.reason == XOE_LOGOUT_TIMEOUT,
          "E: %s, expected LoggedOut TIMEOUT", itDesc(&m));
    CHECK(ms >= 295 && ms < 1500, "E: timed out after %.0f ms, expected about 300", ms);
    CHECK(heartbeats >= 1 && heartbeats <= 3, "E: %d ServerHeartbeats before the timeout",
          heartbeats);
    printf("     E timed out %.0f ms after sending its logon, %d heartbeat(s) before\n", ms,
           heartbeats);
    E->keepHeartbeats = 0;
    REQUIRE(itDeltas(before, "gateway.timeouts=1 gateway.logons=1"));
    json_decref(before);
    before = itSnap();
    REQUIRE(before);
    /* from the address it was bound to: SessionReject{NOT_LOGGED_ON}, one a second */
    const xoeNewOrder no = itNO(IC, XOE_BUY, PX(5510, 0), 1, 0x7001);
    itFB b;
    itFBInit(&b, E->id, E->nextIn);
    itFBAdd(&b, XOE_MSG_NEW_ORDER, &no);
    const size_t len = itFBLen(&b);
    REQUIRE(itSend(E->fd, b.buf, len));
    REQUIRE(itRawExpect(E, XOE_MSG_SESSION_REJECT, &m));
    const uint64_t nlAt = itNs();
    CHECK(m.m.u.sessionReject.reason == XOE_SR_NOT_LOGGED_ON &&
              m.m.u.sessionReject.code == XOE_CODE_NOT_LOGGED_ON &&
              m.m.u.sessionReject.expectedSeq == E->nextIn &&
              m.m.u.sessionReject.receivedSeq == E->nextIn,
          "%s", itDesc(&m));
    REQUIRE(itSend(E->fd, b.buf, len));
    REQUIRE(itDeltas(before, "gateway.not_logged_on=2 gateway.new_orders=0"));
    REQUIRE(itRawQuiet(E, 20));
    json_decref(before);
    /* a new logon: the numbers were kept, nothing was processed meanwhile */
    REQUIRE(itRawLogon(E, 60000, 0, &la));
    CHECK(la.m.u.logonAccepted.nextInSeq == 1 && la.m.u.logonAccepted.nextOutSeq == 1, "%s",
          itDesc(&la));
    REQUIRE(itRawLogout(E));
    /* after a Logout too */
    const uint64_t since = (itNs() - nlAt) / 1000000;
    if (since < 1100)
        itSleepMs((int)(1100 - since));
    REQUIRE(itSend(E->fd, b.buf, len));
    REQUIRE(itRawExpect(E, XOE_MSG_SESSION_REJECT, &m));
    CHECK(m.m.u.sessionReject.reason == XOE_SR_NOT_LOGGED_ON, "%s", itDesc(&m));
}

/* ---- frames below UDP (AF_PACKET) ---------------------------------------------------------- */

static uint32_t itSum(const uint8_t *p, size_t len, uint32_t sum)
{
    for (; len > 1; p += 2, len -= 2)
        sum += (uint32_t)(p[0] << 8 | p[1]);
    if (len)
        sum += (uint32_t)p[0] << 8;
    return sum;
}

static uint16_t itFold(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xFFFF) + (sum >> 16);
    return (uint16_t)~sum;
}

static void itBe16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

/* Ethernet + IPv4 + UDP around payload with correct checksums; returns the length. */
static size_t itEthUdp(uint8_t *f, const uint8_t *dst, const uint8_t *src, uint32_t sip,
                       uint32_t dip, uint16_t sport, uint16_t dport, const void *payload,
                       size_t plen)
{
    memcpy(f, dst, 6);
    memcpy(f + 6, src, 6);
    itBe16(f + 12, 0x0800);
    uint8_t *ip = f + 14, *udp = ip + 20;
    memset(ip, 0, 28);
    ip[0] = 0x45;
    itBe16(ip + 2, (uint16_t)(28 + plen));
    itBe16(ip + 6, 0x4000);
    ip[8] = 64;
    ip[9] = 17;
    const uint32_t s = htonl(sip), d = htonl(dip);
    memcpy(ip + 12, &s, 4);
    memcpy(ip + 16, &d, 4);
    itBe16(ip + 10, itFold(itSum(ip, 20, 0)));
    itBe16(udp, sport);
    itBe16(udp + 2, dport);
    itBe16(udp + 4, (uint16_t)(8 + plen));
    memcpy(udp + 8, payload, plen);
    uint32_t sum = itSum(ip + 12, 8, 17u + (uint32_t)(8 + plen));
    uint16_t c = itFold(itSum(udp, 8 + plen, sum));
    itBe16(udp + 6, c ? c : 0xFFFF);
    return 14 + 28 + plen;
}

static void itFixIpSum(uint8_t *f)
{
    itBe16(f + 14 + 10, 0);
    itBe16(f + 14 + 10, itFold(itSum(f + 14, 20, 0)));
}

static void caseL3(void)
{
    if (!opt.dev || !opt.haveMac) {
        printf("     skipped: no --dev/--server-mac (AF_PACKET cases need them)\n");
        return;
    }
    json_t *before = itSnap();
    REQUIRE(before);
    const int pf = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
    CHECK(pf >= 0, "AF_PACKET socket: %s", strerror(errno));
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", opt.dev);
    CHECK(ioctl(pf, SIOCGIFHWADDR, &ifr) == 0, "SIOCGIFHWADDR %s: %s", opt.dev, strerror(errno));
    uint8_t me[6];
    memcpy(me, ifr.ifr_hwaddr.sa_data, 6);
    struct sockaddr_ll ll;
    memset(&ll, 0, sizeof ll);
    ll.sll_family = AF_PACKET;
    ll.sll_protocol = htons(ETH_P_ALL);
    ll.sll_ifindex = (int)if_nametoindex(opt.dev);
    CHECK(ll.sll_ifindex > 0, "no interface %s", opt.dev);
    struct in_addr la, sa;
    inet_pton(AF_INET, opt.local, &la);
    inet_pton(AF_INET, opt.server, &sa);
    const uint32_t myIp = ntohl(la.s_addr), srv = ntohl(sa.s_addr);
    /* payload: a heartbeat of a session that does not exist */
    itFB hb;
    const xoeHeartbeat h = {.reserved = 0};
    itFBInit(&hb, 0x7777, 1);
    itFBAdd(&hb, XOE_MSG_HEARTBEAT, &h);
    const size_t pl = itFBLen(&hb);
    uint8_t f[128];
    size_t n;
#define PKT(expr)                                                                                  \
    do {                                                                                           \
        n = itEthUdp(f, opt.mac, me, myIp, srv, 40000, opt.port, hb.buf, pl);                      \
        expr;                                                                                      \
        CHECK(sendto(pf, f, n, 0, (struct sockaddr *)&ll, sizeof ll) == (ssize_t)n,                \
              "AF_PACKET send: %s", strerror(errno));                                              \
    } while (0)
    PKT((void)0);                               /* valid: reaches the gateway */
    PKT(itBe16(f + 40, 0));                     /* UDP checksum 0: none, accepted */
    PKT(f[41] ^= 0x5A);                         /* bad UDP checksum */
    PKT(f[24] ^= 0x5A);                         /* bad IP header checksum */
    PKT(itBe16(f + 38, (uint16_t)(16 + pl)));   /* UDP length beyond the IP payload */
    PKT(itBe16(f + 20, 0x2000); itFixIpSum(f)); /* a fragment (more fragments) */
    PKT(f[33] = 77; itFixIpSum(f));             /* not our address */
    PKT(f[23] = 6; itFixIpSum(f));              /* TCP */
    PKT(itBe16(f + 12, 0x86DD));                /* IPv6 ethertype */
    PKT(f[14] = 0x65; itFixIpSum(f));           /* IP version 6 in an IPv4 frame */
    PKT(n = 20);                                /* shorter than its headers */
    PKT(itBe16(f + 36, (uint16_t)(opt.port + 1)); itBe16(f + 40, 0)); /* another UDP port */
#undef PKT
    close(pf);
    gSent += 2; /* the first two reach the gateway */
    REQUIRE(itDeltas(before, "gateway.datagrams_in=2 gateway.unknown_session=2 frames.udp=3 "
                             "frames.drop_udp_csum=1 frames.drop_ip_csum=1 frames.drop_udp_len=1 "
                             "frames.drop_not_us=1 frames.drop_proto=1 frames.drop_ethertype=1 "
                             "frames.drop_ip_header=1 frames.drop_short=1 "
                             "frames.udp_other_port=1"));
    /* The lone fragment: net_af_packet joins its sockets to a PACKET_FANOUT
     * group with PACKET_FANOUT_FLAG_DEFRAG, so the kernel holds fragments for
     * reassembly and xchgd never sees this one (another PMD would hand it
     * over and xchgd would count drop_ip_frag). */
    json_t *s = itStats();
    REQUIRE(s);
    const uint64_t frag = itJU(s, "frames.drop_ip_frag") - itJU(before, "frames.drop_ip_frag");
    json_decref(s);
    CHECK(frag <= 1, "frames.drop_ip_frag +%" PRIu64 " for one fragment", frag);
    gFolded += frag == 0;
    if (frag == 0)
        printf("     a lone IP fragment never reached xchgd (held by the kernel's defragmentation "
               "for AF_PACKET fanout)\n");
    json_decref(before);
    before = itSnap();
    REQUIRE(before);
    /* ICMP echo is answered */
    const int ic = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP);
    CHECK(ic >= 0, "ICMP socket: %s", strerror(errno));
    uint8_t echo[16] = {8, 0, 0, 0, 0x12, 0x34, 0, 1, 'x', 'c', 'h', 'g', 'i', 't', 'e', 's'};
    itBe16(echo + 2, itFold(itSum(echo, sizeof echo, 0)));
    struct sockaddr_in dst = itServerAddr();
    dst.sin_port = 0;
    CHECK(sendto(ic, echo, sizeof echo, 0, (struct sockaddr *)&dst, sizeof dst) ==
              (ssize_t)sizeof echo,
          "ICMP send: %s", strerror(errno));
    int replied = 0;
    const uint64_t deadline = itNs() + 2000000000ULL;
    while (!replied && itMsLeft(deadline) > 0) {
        uint8_t rb[256];
        struct pollfd p = {ic, POLLIN, 0};
        if (poll(&p, 1, itMsLeft(deadline)) <= 0)
            break;
        const ssize_t r = recv(ic, rb, sizeof rb, 0);
        const size_t ihl = r > 0 ? (size_t)(rb[0] & 15) * 4 : 0;
        replied = r >= (ssize_t)(ihl + sizeof echo) && rb[ihl] == 0 &&
                  !memcmp(rb + ihl + 4, echo + 4, sizeof echo - 4);
    }
    close(ic);
    CHECK(replied, "no ICMP echo reply from %s", opt.server);
    /* a datagram too long for the MTU leaves the kernel in fragments: dropped */
    const int big = itUdp(opt.local);
    const int dont = IP_PMTUDISC_DONT;
    setsockopt(big, IPPROTO_IP, IP_MTU_DISCOVER, &dont, sizeof dont);
    uint8_t huge[XOE_FRAME_MAX + 8];
    memset(huge, 0, sizeof huge);
    CHECK(send(big, huge, sizeof huge, 0) == (ssize_t)sizeof huge, "send 1480 bytes: %s",
          strerror(errno));
    /* the longest datagram: a 1472-byte frame (an unknown session-class message fills it) */
    itFBInit(&hb, 0x7777, 1);
    uint8_t fill[XOE_FRAME_MAX - XOE_HEADER_SIZE];
    memset(fill, 0, sizeof fill);
    itPut16(fill, sizeof fill);
    fill[2] = 0x0D;
    CHECK(xoeAppendRaw(&hb.w, fill, sizeof fill) == XOE_OK, "xoeAppendRaw");
    CHECK(itFBLen(&hb) == XOE_FRAME_MAX, "frame of %zu bytes", itFBLen(&hb));
    REQUIRE(itSend(big, hb.buf, XOE_FRAME_MAX));
    close(big);
    /* the 1480-byte datagram: reassembled by the kernel (see above) it reaches
     * the gateway, which refuses it as too long; unreassembled, xchgd drops
     * its two fragments */
    int reassembled = -1;
    for (const uint64_t end = itNs() + 3000000000ULL; reassembled < 0 && itNs() < end;) {
        json_t *x = itStats();
        REQUIRE(x);
        if (itJU(x, "gateway.malformed.frame_too_long") >
            itJU(before, "gateway.malformed.frame_too_long"))
            reassembled = 1;
        else if (itJU(x, "frames.drop_ip_frag") >= itJU(before, "frames.drop_ip_frag") + 2)
            reassembled = 0;
        json_decref(x);
        itSleepMs(2);
    }
    CHECK(reassembled >= 0, "the 1480-byte datagram was neither refused as too long nor dropped "
                            "as fragments");
    gSent += (uint64_t)reassembled;
    gFolded += (uint64_t)reassembled; /* two fragments, one frame */
    printf("     a 1480-byte datagram: %s\n",
           reassembled ? "reassembled by the kernel, refused by the gateway (frame_too_long)"
                       : "two fragments dropped by xchgd (drop_ip_frag)");
    char want[256];
    snprintf(want, sizeof want,
             "frames.icmp_echo=1 frames.drop_ip_frag=%d gateway.datagrams_in=%d "
             "gateway.unknown_session=1 gateway.malformed.frame_too_long=%d",
             reassembled ? 0 : 2, 1 + reassembled, reassembled);
    REQUIRE(itDeltas(before, want));
    json_decref(before);
}

/* ---- throttle and history ------------------------------------------------------------------ */

static void caseThrottleBurst(void)
{
    G = itRawOpen("G", opt.local);
    itMsg la, m;
    REQUIRE(itRawLogon(G, 0, 0, &la)); /* 0: the default interval */
    CHECK(la.m.u.logonAccepted.heartbeatMs == XOE_HEARTBEAT_DEFAULT_MS, "%s", itDesc(&la));
    json_t *before = itSnap();
    REQUIRE(before);
    /* twice the per-second rate of Cancels at once: the first `rate` pass
     * (the bucket holds a second's worth), then mostly 9004 */
    const uint32_t rate = opt.throttle, total = 2 * rate, per = 60;
    const uint64_t first = G->nextIn, t0 = itNs();
    uint32_t sent = 0, frames = 0;
    while (sent < total) {
        itFB b;
        itFBInit(&b, G->id, G->nextIn);
        for (uint32_t k = 0; k < per && sent < total; k++, sent++) {
            const xoeCancel c = {.clOrdId = G->nextIn + k, .orderId = IT_NO_ORDER};
            itFBAdd(&b, XOE_MSG_CANCEL, &c);
        }
        G->nextIn += b.w.sequenced;
        REQUIRE(itSend(G->fd, b.buf, itFBLen(&b)));
        frames++;
    }
    uint32_t ok = 0, throttled = 0, firstThrottled = 0;
    for (uint32_t k = 0; k < total; k++) {
        REQUIRE(itRawNext(G, opt.timeoutMs, &m) ||
                (itFail(__LINE__, "G: %u of %u answers came", k, total), 0));
        const xoeCancelRejected *c = &m.m.u.cancelRejected;
        CHECK(m.m.type == XOE_MSG_CANCEL_REJECTED && c->clOrdId == first + k &&
                  (c->code == XOE_CODE_ORDER_NOT_FOUND || c->code == XOE_CODE_THROTTLED),
              "G: answer %u: %s", k, itDesc(&m));
        if (c->code == XOE_CODE_THROTTLED && throttled++ == 0)
            firstThrottled = k;
        ok += c->code == XOE_CODE_ORDER_NOT_FOUND;
    }
    const double secs = (double)(itNs() - t0) / 1e9;
    printf("     %u Cancels in %u frames: %u answered 3001, %u throttled (9004), first at %u, in "
           "%.3f s\n",
           total, frames, ok, throttled, firstThrottled, secs);
    CHECK(throttled > 0 && firstThrottled >= rate && ok >= rate &&
              ok <= rate + (uint32_t)(rate * secs) + 1,
          "throttle: %u passed, %u throttled (first at %u) for %u at a rate of %u in %.3f s", ok,
          throttled, firstThrottled, total, rate, secs);
    char want[256];
    snprintf(want, sizeof want, "gateway.throttled=%u gateway.datagrams_processed=%u", throttled,
             frames);
    REQUIRE(itDeltas(before, want));
    json_decref(before);
    /* after a second the bucket is full again; the burst pushed the first
     * answers out of the history */
    itSleepMs(1100);
    before = itSnap();
    REQUIRE(before);
    const xoeCancel c1 = {.clOrdId = first, .orderId = IT_NO_ORDER};
    itFB b;
    itFBInit(&b, G->id, first);
    itFBAdd(&b, XOE_MSG_CANCEL, &c1);
    REQUIRE(itSend(G->fd, b.buf, itFBLen(&b)));
    REQUIRE(itRawExpect(G, XOE_MSG_SESSION_REJECT, &m));
    CHECK(m.m.u.sessionReject.reason == XOE_SR_DUPLICATE_EXPIRED &&
              m.m.u.sessionReject.receivedSeq == first &&
              m.m.u.sessionReject.expectedSeq == G->nextIn,
          "%s", itDesc(&m));
    /* numbers that left the history: TOO_OLD */
    xoeRetransmitRequest rq = {.count = 10, .fromSeq = 1};
    REQUIRE(itRawSend(G, XOE_MSG_RETRANSMIT_REQUEST, &rq));
    REQUIRE(itResent(G, 0, 0, 1, 10, XOE_RT_TOO_OLD));
    /* from 1 to the end: TOO_OLD and LIMIT, the oldest 512 kept are resent */
    const uint32_t depthGuess = (uint32_t)(G->nextOut - 1);
    rq = (xoeRetransmitRequest){.count = depthGuess, .fromSeq = 1};
    REQUIRE(itRawSend(G, XOE_MSG_RETRANSMIT_REQUEST, &rq));
    REQUIRE(itRawNext(G, opt.timeoutMs, &m) || (itFail(__LINE__, "G: nothing resent"), 0));
    const uint64_t oldest = m.m.seq;
    CHECK(xoeIsSequenced(m.m.type) && (m.flags & XOE_FLAG_RETRANSMIT) && oldest > 1 &&
              G->nextOut - oldest >= XOE_RETRANSMIT_MAX,
          "G: first resent %s", itDesc(&m));
    for (uint32_t k = 1; k < XOE_RETRANSMIT_MAX; k++) {
        REQUIRE(itRawNext(G, opt.timeoutMs, &m) || (itFail(__LINE__, "G: %u resent", k), 0));
        CHECK(xoeIsSequenced(m.m.type) && m.m.seq == oldest + k, "G: resent %s", itDesc(&m));
    }
    REQUIRE(itRawExpect(G, XOE_MSG_RETRANSMIT_END, &m));
    const xoeRetransmitEnd *e = &m.m.u.retransmitEnd;
    CHECK(e->sent == XOE_RETRANSMIT_MAX && e->fromSeq == 1 && e->count == depthGuess &&
              e->flags == (XOE_RT_TOO_OLD | XOE_RT_LIMIT) && e->firstSeq == oldest,
          "G: %s", itDesc(&m));
    printf("     xchgd keeps the last %" PRIu64 " messages of a session\n", G->nextOut - oldest);
    char want2[128];
    snprintf(want2, sizeof want2,
             "gateway.duplicates=1 gateway.throttled=0 gateway.retransmitted=%d",
             XOE_RETRANSMIT_MAX);
    REQUIRE(itDeltas(before, want2));
    json_decref(before);
    REQUIRE(itRawLogout(G));
}

/* ---- control plane: the session table ---------------------------------------------------------
 */

static void caseSessionTable(void)
{
    json_t *l = itCtl("session.list", NULL);
    CHECK(l, "session.list: %s", gCtlErr);
    const size_t have = json_array_size(json_object_get(l, "sessions"));
    json_decref(l);
    /* xchgd holds 64 sessions per segment: add until it refuses */
    size_t added = 0;
    json_int_t lastId = 0;
    for (;;) {
        json_t *d = itCtl("session.add", json_pack("{s:i, s:s}", "account", 3003, "source", "any"));
        if (!d)
            break;
        const json_int_t id = json_integer_value(json_object_get(d, "session_id"));
        const char *tok = json_string_value(json_object_get(d, "token"));
        const int good = id > lastId && tok && strlen(tok) == 2 * XOE_TOKEN_SIZE;
        json_decref(d);
        CHECK(good, "session.add answered id %lld token %s", (long long)id, tok ? tok : "-");
        lastId = id;
        CHECK(++added <= 1000, "session.add never refuses");
    }
    CHECK(strstr(gCtlErr, "error 5000") != NULL, "session.add refused with %s", gCtlErr);
    printf("     the session table took %zu more sessions (%zu in all), then: %s\n", added,
           have + added, gCtlErr);
    CHECK(have + added == 64, "the table holds %zu sessions", have + added);
    json_t *s = itStats();
    CHECK(s, "stats: %s", gCtlErr);
    const uint64_t lat = itJU(s, "in_box_latency.count");
    json_decref(s);
    CHECK(lat > 0, "in_box_latency.count is 0 after all this traffic");
}

/* ---- fuzz ------------------------------------------------------------------------------------ */

#define IT_TPL 24

static uint8_t gTpl[IT_TPL][XOE_FRAME_MAX];
static size_t gTplLen[IT_TPL];
static int gNTpl;
static uint64_t gFuzzSeq = 1;

static void itTplAdd(itFB *b)
{
    const size_t len = itFBLen(b);
    if (gNTpl < IT_TPL && len) {
        memcpy(gTpl[gNTpl], b->buf, len);
        gTplLen[gNTpl++] = len;
    }
}

/* Valid frames of session h (the fuzz target) to mutate. */
static void itFuzzTemplates(const itRaw *h)
{
    itFB b;
    uint8_t bad[XOE_TOKEN_SIZE];
    memcpy(bad, h->token, sizeof bad);
    bad[5] ^= 0x10;
    itLogonFrame(&b, h->id, 1, 60000, 0, h->token);
    itTplAdd(&b);
    itLogonFrame(&b, h->id, 1, 60000, 0, bad);
    itTplAdd(&b);
    const xoeHeartbeat hb = {.reserved = 0};
    itFBInit(&b, h->id, 1);
    itFBAdd(&b, XOE_MSG_HEARTBEAT, &hb);
    itTplAdd(&b);
    for (int side = 0; side < 2; side++) {
        xoeNewOrder no = itNO(CU, (uint8_t)side, PX(75230 + (side ? 100 : -100), 0), 1, 1);
        itFBInit(&b, h->id, 1);
        itFBAdd(&b, XOE_MSG_NEW_ORDER, &no);
        itTplAdd(&b);
        no.timeCondition = XOE_IOC;
        no.price = PX(75230, 0);
        itFBInit(&b, h->id, 1);
        itFBAdd(&b, XOE_MSG_NEW_ORDER, &no);
        itTplAdd(&b);
    }
    const xoeCancel cx = {.clOrdId = 2, .orderId = IT_NO_ORDER};
    itFBInit(&b, h->id, 1);
    itFBAdd(&b, XOE_MSG_CANCEL, &cx);
    itTplAdd(&b);
    const xoeReplace rp = {.clOrdId = 3, .orderId = 5, .price = PX(75240, 0), .qty = 2};
    itFBInit(&b, h->id, 1);
    itFBAdd(&b, XOE_MSG_REPLACE, &rp);
    itTplAdd(&b);
    const xoeRetransmitRequest rq = {.count = 4, .fromSeq = 1};
    itFBInit(&b, h->id, 1);
    itFBAdd(&b, XOE_MSG_RETRANSMIT_REQUEST, &rq);
    itTplAdd(&b);
    const xoeLogout lo = {.reserved = 0};
    itFBInit(&b, h->id, 1);
    itFBAdd(&b, XOE_MSG_LOGOUT, &lo);
    itTplAdd(&b);
    const xoeNewOrder ioc = {.instrument = CU,
                             .side = XOE_BUY,
                             .clOrdId = 4,
                             .price = PX(75000, 0),
                             .qty = 1,
                             .timeCondition = XOE_IOC};
    itFBInit(&b, h->id, 1);
    itFBAdd(&b, XOE_MSG_NEW_ORDER, &ioc);
    itFBAdd(&b, XOE_MSG_CANCEL, &cx);
    itFBAdd(&b, XOE_MSG_HEARTBEAT, &hb);
    itFBAdd(&b, XOE_MSG_REPLACE, &rp);
    itTplAdd(&b);
    itFBInit(&b, h->id, 1); /* a full frame */
    while (xoeWriterRoom(&b.w) >= sizeof ioc)
        itFBAdd(&b, XOE_MSG_NEW_ORDER, &ioc);
    itTplAdd(&b);
    const uint8_t app[16] = {16, 0, 0x1F, 0, 0, 0, 0, 0, 9};
    const uint8_t ses[8] = {8, 0, 0x0E, 0};
    itFBInit(&b, h->id, 1);
    xoeAppendRaw(&b.w, app, sizeof app);
    xoeAppendRaw(&b.w, ses, sizeof ses);
    itTplAdd(&b);
    itLogonFrame(&b, h->id, 1, 60000, 0, h->token);
    itFBAdd(&b, XOE_MSG_HEARTBEAT, &hb);
    itTplAdd(&b);
}

static int itProtected(uint32_t id, uint32_t target)
{
    if (id == target)
        return 0;
    for (int i = 0; i < opt.nspec; i++)
        if (opt.spec[i].id == id)
            return 1;
    return 0;
}

/* One fuzz datagram: random bytes or a mutated template. Never a frame of
 * a session other than `target` that run.sh created. */
static size_t itFuzzOne(uint8_t *out, uint32_t target)
{
    const uint64_t r = itRand();
    size_t len;
    if (r % 100 < 30) {
        len = (r >> 8) % 100 < 15 ? (size_t)((r >> 16) % XOE_HEADER_SIZE)
                                  : (size_t)((r >> 16) % (XOE_FRAME_MAX + 1));
        for (size_t i = 0; i < len; i += 8) {
            const uint64_t x = itRand();
            memcpy(out + i, &x, len - i < 8 ? len - i : 8);
        }
        if ((r >> 40) % 2 && len >= 8) { /* let some reach past the first header checks */
            out[0] = 0x58;
            out[1] = 0x4F;
            out[2] = 1;
            out[3] = 0;
            itPut16(out + 6, (uint16_t)len);
        }
    } else {
        const int t = (int)((r >> 8) % (uint64_t)gNTpl);
        len = gTplLen[t];
        memcpy(out, gTpl[t], len);
        memcpy(out + 16, &gFuzzSeq, sizeof gFuzzSeq);
        gFuzzSeq += (r >> 50) % 8 == 0 ? 0 : 1;
        if ((r >> 16) % 100 >= 15) { /* 15% stay valid */
            const int nm = 1 + (int)((r >> 24) % 3);
            for (int k = 0; k < nm && len > 0; k++) {
                const uint64_t x = itRand();
                switch (x % 8) {
                case 0:
                    out[(x >> 8) % len] ^= (uint8_t)(1u << ((x >> 40) % 8));
                    break;
                case 1:
                    out[(x >> 8) % len] = (uint8_t)(x >> 32);
                    break;
                case 2:
                    len = (size_t)((x >> 8) % (len + 1));
                    break;
                case 3: {
                    const size_t add = 8 * (1 + (x >> 8) % 4);
                    for (size_t i = 0; i < add && len < XOE_FRAME_MAX; i++)
                        out[len++] = (uint8_t)(x >> (16 + i % 6 * 8));
                    break;
                }
                case 4:
                    if (len >= 8)
                        itPut16(out + 6, (uint16_t)(x >> 8));
                    break;
                case 5:
                    if (len >= 8)
                        itPut16(out + 4, (uint16_t)((x >> 8) % 6));
                    break;
                case 6:
                    if (len > XOE_HEADER_SIZE) {
                        const size_t msgs = (len - XOE_HEADER_SIZE + 7) / 8;
                        const size_t at = XOE_HEADER_SIZE + 8 * ((x >> 8) % msgs) + (x >> 32) % 4;
                        if (at < len)
                            out[at] = (uint8_t)(x >> 48);
                    }
                    break;
                default:
                    if (len >= XOE_HEADER_SIZE)
                        memcpy(out + 16, &x, sizeof x);
                    break;
                }
            }
            if (itRand() % 2 && len >= 8)
                itPut16(out + 6, (uint16_t)len); /* a consistent length goes further */
        }
    }
    if (len >= 12) {
        uint32_t id;
        memcpy(&id, out + 8, sizeof id);
        if (itProtected(id, target))
            memcpy(out + 8, &target, sizeof target);
    }
    return len;
}

static uint64_t itMalformedTotal(json_t *s)
{
    json_t *m = json_object_get(json_object_get(s, "gateway"), "malformed");
    const char *k;
    json_t *v;
    uint64_t n = 0;
    json_object_foreach(m, k, v) n += (uint64_t)json_integer_value(v);
    return n;
}

/* Every datagram in exactly one of: processed, malformed, unknown session,
 * wrong address, not logged on, logon throttled. */
static uint64_t itAccounted(json_t *s)
{
    return itJU(s, "gateway.datagrams_processed") + itMalformedTotal(s) +
           itJU(s, "gateway.unknown_session") + itJU(s, "gateway.wrong_address") +
           itJU(s, "gateway.not_logged_on") + itJU(s, "gateway.logon_throttled");
}

/* Reads whatever xchgd sent to a fuzz socket; every datagram must be a valid frame. */
static uint64_t itDrain(int fd)
{
    itMsg tmp[XOE_MAX_MESSAGES];
    itFrameInfo fi;
    uint64_t n = 0;
    while (itRecvFrame(fd, 0, tmp, &fi) != 0)
        n++;
    return n;
}

static void caseFuzz(void)
{
    if (opt.fuzz == 0) {
        printf("     skipped: --fuzz 0\n");
        return;
    }
    H = itRawOpen("H", opt.local);
    REQUIRE(itRawLogon(H, 60000, 0, NULL));
    itFuzzTemplates(H);
    const int fa = H->fd, fb = itUdp(opt.other);
    json_t *before = itSnap();
    REQUIRE(before);
    enum { BATCH = 32 };
    /* a trading round trip every EVERY datagrams: no more than that many are
     * ever in flight, fewer than net_af_packet's ring of 512 frames, so
     * nothing is lost; 0: no pacing (loss measured, not checked) */
    const uint64_t EVERY = opt.fuzzWindow ? opt.fuzzWindow : UINT64_MAX;
    static uint8_t bufs[BATCH][XOE_FRAME_MAX + 64];
    struct mmsghdr mm[BATCH];
    struct iovec iov[BATCH];
    uint64_t sent = 0, steps = 0, replies = 0, clA = 0, oidA = 0;
    const uint64_t t0 = itNs(), badBefore = gBadFrames;
    while (sent < opt.fuzz) {
        /* a batch of random datagrams from one of the two addresses */
        uint64_t n = opt.fuzz - sent;
        const uint64_t toStep = EVERY - sent % EVERY;
        n = n < BATCH ? n : BATCH;
        n = n < toStep ? n : toStep;
        const int fd = itRand() % 5 == 0 ? fb : fa;
        for (uint64_t i = 0; i < n; i++) {
            iov[i].iov_base = bufs[i];
            iov[i].iov_len = itFuzzOne(bufs[i], H->id);
            memset(&mm[i], 0, sizeof mm[i]);
            mm[i].msg_hdr.msg_iov = &iov[i];
            mm[i].msg_hdr.msg_iovlen = 1;
        }
        for (uint64_t done = 0; done < n;) {
            const int rc = sendmmsg(fd, mm + done, (unsigned)(n - done), 0);
            if (rc < 0 && (errno == ECONNREFUSED || errno == EINTR))
                continue;
            CHECK(rc > 0, "sendmmsg: %s", strerror(errno));
            done += (uint64_t)rc;
        }
        sent += n;
        gSent += n;
        if (sent % EVERY != 0 && sent != opt.fuzz)
            continue;
        /* a trading step: A bids 1, B sells it; each gets its answer */
        const int isB = steps++ % 2;
        itLib *l = isB ? B : A;
        xclOrder o = itOrd(IC, isB ? XOE_SELL : XOE_BUY, PX(5600, 0), 1);
        uint64_t oid;
        const uint64_t cl = itPlaceOAt(l, &o, &oid, __LINE__);
        REQUIRE(cl);
        if (isB) {
            uint64_t t1, t2;
            REQUIRE(itExec(B, cl, oid, XOE_SELL, XOE_TAKER, o.price, 1, 0, &t1));
            REQUIRE(itExec(A, clA, oidA, XOE_BUY, XOE_MAKER, o.price, 1, 0, &t2));
            CHECK(t1 == t2, "trade ids differ");
        } else {
            clA = cl;
            oidA = oid;
        }
        replies += itDrain(fa) + itDrain(fb);
        CHECK(gBadFrames == badBefore, "xchgd sent invalid frames");
    }
    if (steps % 2) { /* B takes A's last bid */
        xclOrder o = itOrd(IC, XOE_SELL, PX(5600, 0), 1);
        uint64_t oid;
        const uint64_t cl = itPlaceOAt(B, &o, &oid, __LINE__);
        REQUIRE(cl && itExec(B, cl, oid, XOE_SELL, XOE_TAKER, o.price, 1, 0, NULL) &&
                itExec(A, clA, oidA, XOE_BUY, XOE_MAKER, o.price, 1, 0, NULL));
        steps++;
    }
    const double secs = (double)(itNs() - t0) / 1e9;
    if (!opt.fuzzWindow) { /* unpaced: wait for the counters to settle, measure the loss */
        uint64_t last = UINT64_MAX, now = 0;
        for (;;) {
            itSleepMs(200);
            json_t *x = itStats();
            REQUIRE(x);
            now = itJU(x, "gateway.datagrams_in");
            json_decref(x);
            if (now == last)
                break;
            last = now;
        }
        const uint64_t want = gBaseIn + itSentTotal();
        printf("     unpaced: %" PRIu64 " of %" PRIu64 " datagrams lost before xchgd\n", want - now,
               sent);
        gSent -= want - now;
    }
    json_t *after = itBarrier(); /* exact: every datagram arrived */
    REQUIRE(after);
    itSleepMs(20);
    replies += itDrain(fa) + itDrain(fb);
    CHECK(gBadFrames == badBefore, "xchgd sent invalid frames");
    const uint64_t in = itJU(after, "gateway.datagrams_in") - itJU(before, "gateway.datagrams_in");
    const uint64_t acc = itAccounted(after) - itAccounted(before);
    printf("     %" PRIu64 " datagrams in %.1f s (%.0f/s) + %" PRIu64
           " trading requests, all answered; xchgd counted %" PRIu64 " in: processed %" PRIu64
           ", malformed %" PRIu64 ", unknown session %" PRIu64 ", wrong address %" PRIu64
           ", not logged on %" PRIu64 ", logon throttled %" PRIu64 "; %" PRIu64
           " datagrams back to the fuzz sockets, all valid\n",
           sent, secs, (double)sent / secs, steps, in,
           itJU(after, "gateway.datagrams_processed") - itJU(before, "gateway.datagrams_processed"),
           itMalformedTotal(after) - itMalformedTotal(before),
           itJU(after, "gateway.unknown_session") - itJU(before, "gateway.unknown_session"),
           itJU(after, "gateway.wrong_address") - itJU(before, "gateway.wrong_address"),
           itJU(after, "gateway.not_logged_on") - itJU(before, "gateway.not_logged_on"),
           itJU(after, "gateway.logon_throttled") - itJU(before, "gateway.logon_throttled"),
           replies);
    CHECK(in == acc, "counters do not add up: %" PRIu64 " in, %" PRIu64 " accounted for", in, acc);
    json_decref(after);
    json_decref(before);
    REQUIRE(itBookIs("IC2501", "bids=[] asks=[]"));
    REQUIRE(itLibQuiet(A, 20) && itLibQuiet(B, 0));
    json_t *st = itCtl("status", NULL);
    CHECK(st, "status after the fuzz: %s", gCtlErr);
    json_decref(st);
    close(fb);
}

static void caseFinal(void)
{
    xclReport r;
    CHECK(xclLogout(A->s, opt.timeoutMs) == XCL_OK, "A logout: %s", xclLastError(A->s));
    CHECK(xclLogout(B->s, opt.timeoutMs) == XCL_OK, "B logout: %s", xclLastError(B->s));
    REQUIRE(itLibTake(A, XOE_MSG_LOGGED_OUT, 0, &r));
    CHECK(r.msg.u.loggedOut.reason == XOE_LOGOUT_USER, "A: %s", itRptDesc(&r));
    REQUIRE(itLibTake(B, XOE_MSG_LOGGED_OUT, 0, &r));
    REQUIRE(itLibQuiet(A, 0) && itLibQuiet(B, 0));
    xclInfo ia, ib;
    xclGetInfo(A->s, &ia);
    xclGetInfo(B->s, &ib);
    CHECK(ia.lost + ib.lost + ia.gapRejects + ib.gapRejects + ia.malformed + ib.malformed == 0,
          "library sessions saw lost %" PRIu64 "/%" PRIu64 ", gap rejects %" PRIu64 "/%" PRIu64
          ", malformed %" PRIu64 "/%" PRIu64,
          ia.lost, ib.lost, ia.gapRejects, ib.gapRejects, ia.malformed, ib.malformed);
    /* messages after a Logout in the same frame are ignored (their numbers unused) */
    const xoeCancel cx = {.clOrdId = 0x9001, .orderId = IT_NO_ORDER};
    const xoeLogout lo = {.reserved = 0};
    itFB b;
    itMsg m, la;
    const uint64_t n = C->nextIn;
    itFBInit(&b, C->id, n);
    itFBAdd(&b, XOE_MSG_CANCEL, &cx);
    itFBAdd(&b, XOE_MSG_LOGOUT, &lo);
    itFBAdd(&b, XOE_MSG_CANCEL, &cx);
    REQUIRE(itSend(C->fd, b.buf, itFBLen(&b)));
    REQUIRE(itRawExpect(C, XOE_MSG_CANCEL_REJECTED, &m));
    CHECK(m.m.u.cancelRejected.code == XOE_CODE_ORDER_NOT_FOUND, "%s", itDesc(&m));
    REQUIRE(itRawExpect(C, XOE_MSG_LOGGED_OUT, &m));
    CHECK(m.m.u.loggedOut.reason == XOE_LOGOUT_USER, "%s", itDesc(&m));
    REQUIRE(itRawQuiet(C, 20));
    REQUIRE(itRawLogon(C, 60000, 0, &la));
    CHECK(la.m.u.logonAccepted.nextInSeq == n + 1, "%s, expected nextIn %" PRIu64, itDesc(&la),
          n + 1);
    REQUIRE(itRawLogout(C));
    if (H) {
        itDrain(H->fd);
        itRawClose(H);
        H = NULL;
    }
    json_t *s = itBarrier();
    REQUIRE(s);
    const uint64_t in = itJU(s, "gateway.datagrams_in");
    CHECK(in == itAccounted(s), "totals do not add up: %" PRIu64 " in, %" PRIu64 " accounted for",
          in, itAccounted(s));
    CHECK(itJU(s, "tx_dropped") == 0 && itJU(s, "mbuf_failed") == 0 && itJU(s, "no_arp") == 0,
          "tx_dropped %" PRIu64 " mbuf_failed %" PRIu64 " no_arp %" PRIu64, itJU(s, "tx_dropped"),
          itJU(s, "mbuf_failed"), itJU(s, "no_arp"));
    CHECK(itJU(s, "rx_packets") >= in, "rx_packets %" PRIu64 " below datagrams_in %" PRIu64,
          itJU(s, "rx_packets"), in);
    CHECK(gBadFrames == 0, "%" PRIu64 " invalid frames from xchgd", gBadFrames);
    CHECK(itJU(s, "frames.arp_request") >= 1, "the namespace never resolved %s by ARP", opt.server);
    json_decref(s);
}

/* ---- throttle phase ---------------------------------------------------------------------------
 */

static void caseThrottleExact(void)
{
    const uint32_t rate = opt.throttle;
    CHECK(rate >= 1 && rate <= 4, "--throttle %u: this phase wants an xchgd throttle of 1 to 4",
          rate);
    itRaw *T = itRawOpen("T", opt.local);
    itMsg m;
    REQUIRE(itRawLogon(T, 60000, 0, NULL));
    json_t *before = itSnap();
    REQUIRE(before);
    /* 5 NewOrders, a Cancel, a Replace, an unknown type and a
     * RetransmitRequest in one frame: `rate` orders pass */
    itFB b, dup;
    itFBInit(&b, T->id, T->nextIn);
    itFBInit(&dup, T->id, T->nextIn);
    for (int i = 0; i < 5; i++) {
        const xoeNewOrder no = itNO(CU, XOE_BUY, PX(75230, 0), 1, (uint64_t)(101 + i));
        itFBAdd(&b, XOE_MSG_NEW_ORDER, &no);
        itFBAdd(&dup, XOE_MSG_NEW_ORDER, &no);
    }
    const xoeCancel cx = {.clOrdId = 106, .orderId = IT_NO_ORDER};
    const xoeReplace rp = {.clOrdId = 107, .orderId = IT_NO_ORDER, .price = PX(75230, 0), .qty = 2};
    const uint8_t unk[16] = {16, 0, 0x1F, 0, 0, 0, 0, 0, 108};
    const xoeRetransmitRequest rq = {.count = 2, .fromSeq = 1};
    itFBAdd(&b, XOE_MSG_CANCEL, &cx);
    itFBAdd(&b, XOE_MSG_REPLACE, &rp);
    CHECK(xoeAppendRaw(&b.w, unk, sizeof unk) == XOE_OK, "xoeAppendRaw");
    itFBAdd(&b, XOE_MSG_RETRANSMIT_REQUEST, &rq);
    T->nextIn += b.w.sequenced;
    REQUIRE(itSend(T->fd, b.buf, itFBLen(&b)));
    uint64_t oids[5];
    for (uint32_t i = 0; i < 5; i++) {
        if (i < rate) {
            REQUIRE(itRawExpect(T, XOE_MSG_ACCEPTED, &m));
            CHECK(m.m.u.accepted.clOrdId == 101 + i, "%s", itDesc(&m));
            oids[i] = m.m.u.accepted.orderId;
        } else {
            REQUIRE(itRawExpect(T, XOE_MSG_REJECTED, &m));
            CHECK(m.m.u.rejected.code == XOE_CODE_THROTTLED && m.m.u.rejected.clOrdId == 101 + i &&
                      m.m.u.rejected.instrument == CU,
                  "%s", itDesc(&m));
        }
    }
    REQUIRE(itRawExpect(T, XOE_MSG_CANCEL_REJECTED, &m));
    CHECK(m.m.u.cancelRejected.code == XOE_CODE_THROTTLED &&
              m.m.u.cancelRejected.op == XOE_OP_CANCEL && m.m.u.cancelRejected.clOrdId == 106 &&
              m.m.u.cancelRejected.orderId == IT_NO_ORDER,
          "%s", itDesc(&m));
    REQUIRE(itRawExpect(T, XOE_MSG_CANCEL_REJECTED, &m));
    CHECK(m.m.u.cancelRejected.code == XOE_CODE_THROTTLED &&
              m.m.u.cancelRejected.op == XOE_OP_REPLACE && m.m.u.cancelRejected.clOrdId == 107,
          "%s", itDesc(&m));
    REQUIRE(itRawExpect(T, XOE_MSG_REJECTED, &m));
    CHECK(m.m.u.rejected.code == XOE_CODE_THROTTLED && m.m.u.rejected.clOrdId == 108 &&
              m.m.u.rejected.instrument == 0,
          "%s", itDesc(&m));
    REQUIRE(itResent(T, 0, 0, 1, 2, XOE_RT_LIMIT));
    /* duplicates count against the throttle: over it they are not answered */
    REQUIRE(itSend(T->fd, dup.buf, itFBLen(&dup)));
    char want[256];
    snprintf(want, sizeof want,
             "gateway.throttled=%u gateway.new_orders=%u gateway.accepted=%u gateway.rejected=%u "
             "gateway.duplicates=5 gateway.retransmitted=0",
             14 - rate, rate, rate, 6 - rate);
    REQUIRE(itDeltas(before, want));
    REQUIRE(itRawQuiet(T, 30));
    json_decref(before);
    /* a second later the bucket is full: `rate` messages pass, then 9004 */
    itSleepMs(1100);
    before = itSnap();
    REQUIRE(before);
    itFBInit(&b, T->id, T->nextIn);
    for (uint32_t i = 0; i <= rate; i++) {
        const xoeCancel c = {.clOrdId = 200 + i, .orderId = IT_NO_ORDER};
        itFBAdd(&b, XOE_MSG_CANCEL, &c);
    }
    T->nextIn += b.w.sequenced;
    REQUIRE(itSend(T->fd, b.buf, itFBLen(&b)));
    for (uint32_t i = 0; i <= rate; i++) {
        REQUIRE(itRawExpect(T, XOE_MSG_CANCEL_REJECTED, &m));
        CHECK(m.m.u.cancelRejected.code ==
                  (i < rate ? XOE_CODE_ORDER_NOT_FOUND : XOE_CODE_THROTTLED),
              "answer %u: %s", i, itDesc(&m));
    }
    REQUIRE(itDeltas(before, "gateway.throttled=1"));
    json_decref(before);
    /* under the rate a duplicate is answered from the history */
    itSleepMs(1100);
    itFB one;
    const xoeNewOrder no1 = itNO(CU, XOE_BUY, PX(75230, 0), 1, 101);
    itFBInit(&one, T->id, 1);
    itFBAdd(&one, XOE_MSG_NEW_ORDER, &no1);
    REQUIRE(itSend(T->fd, one.buf, itFBLen(&one)));
    REQUIRE(itRawExpect(T, XOE_MSG_ACCEPTED, &m));
    CHECK((m.flags & XOE_FLAG_RETRANSMIT) && m.m.seq == 1 && m.m.u.accepted.orderId == oids[0],
          "%s", itDesc(&m));
    /* clean up under the rate */
    itSleepMs(1100);
    for (uint32_t i = 0; i < rate; i++)
        REQUIRE(itRawCancel(T, oids[i], 101 + i, 1));
    REQUIRE(itBookIs("cu2501", "bids=[] asks=[]"));
    REQUIRE(itRawLogout(T));
    json_t *s = itBarrier();
    REQUIRE(s);
    CHECK(itJU(s, "gateway.datagrams_in") == itAccounted(s), "totals do not add up");
    json_decref(s);
    itRawClose(T);
}

/* ---- watch phase ------------------------------------------------------------------------------
 */

static int runWatch(void)
{
    itRaw *W = itRawOpen("W", opt.local);
    itMsg m;
    gCase = "watch";
    for (int tries = 0; tries < 5; tries++) { /* a Logon may fall in another's second */
        itRawSendLogonFd(W, W->fd, 60000, 0, W->token);
        if (itRawNext(W, 1500, &m) && m.m.type == XOE_MSG_LOGON_ACCEPTED)
            break;
        m.m.type = 0;
    }
    if (m.m.type != XOE_MSG_LOGON_ACCEPTED) {
        printf("itest-watch: FAIL: no LogonAccepted\n");
        return 1;
    }
    printf("itest-watch: ready\n");
    fflush(stdout);
    if (!itRawNext(W, 30000, &m)) {
        printf("itest-watch: FAIL: nothing within 30 s\n");
        return 1;
    }
    if (m.m.type != XOE_MSG_LOGGED_OUT || m.m.u.loggedOut.reason != XOE_LOGOUT_SHUTDOWN) {
        printf("itest-watch: FAIL: %s, expected LoggedOut SHUTDOWN\n", itDesc(&m));
        return 1;
    }
    printf("itest-watch: LoggedOut SHUTDOWN\n");
    itRawClose(W);
    return 0;
}

/* ---- main -------------------------------------------------------------------------------------
 */

static void itRun(const char *name, void (*fn)(void))
{
    gCase = name;
    gCaseFailed = 0;
    const uint64_t t0 = itNs();
    fn();
    const double ms = (double)(itNs() - t0) / 1e6;
    if (gCaseFailed) {
        gFail++;
        printf("FAIL %-26s %7.0f ms\n", name, ms);
    } else {
        gPass++;
        printf("ok   %-26s %7.0f ms\n", name, ms);
    }
    fflush(stdout);
}

static void usage(void)
{
    fprintf(stderr,
            "usage: itest_xchgd --phase main|throttle|watch --server IP [--port N] --ctl SOCKET\n"
            "                   --session ROLE:ACCOUNT:ID:TOKENHEX ... [--local IP] [--other IP]\n"
            "                   [--dev IFACE] [--server-mac MAC] [--throttle N] [--fuzz N]\n"
            "                   [--fuzz-window N] [--seed N] [--timeout-ms N]\n");
}

static int parseSession(const char *s)
{
    itSpec *sp = &opt.spec[opt.nspec];
    char *end;
    const char *c1 = strchr(s, ':');
    if (opt.nspec == IT_MAX_SPECS || !c1 || c1 == s || (size_t)(c1 - s) >= sizeof sp->role)
        return -1;
    memcpy(sp->role, s, (size_t)(c1 - s));
    sp->role[c1 - s] = 0;
    const unsigned long acc = strtoul(c1 + 1, &end, 10);
    if (*end != ':' || acc == 0 || acc > UINT32_MAX)
        return -1;
    sp->account = (uint32_t)acc;
    if (xclSessionParse(end + 1, &sp->id, sp->token) != XCL_OK)
        return -1;
    opt.nspec++;
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {{"phase", required_argument, NULL, 'P'},
                                       {"server", required_argument, NULL, 's'},
                                       {"port", required_argument, NULL, 'p'},
                                       {"ctl", required_argument, NULL, 'c'},
                                       {"session", required_argument, NULL, 'S'},
                                       {"local", required_argument, NULL, 'l'},
                                       {"other", required_argument, NULL, 'o'},
                                       {"dev", required_argument, NULL, 'd'},
                                       {"server-mac", required_argument, NULL, 'm'},
                                       {"throttle", required_argument, NULL, 't'},
                                       {"fuzz", required_argument, NULL, 'f'},
                                       {"fuzz-window", required_argument, NULL, 'w'},
                                       {"seed", required_argument, NULL, 'r'},
                                       {"timeout-ms", required_argument, NULL, 'T'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
    opt.phase = "main";
    opt.port = 9000;
    opt.local = "198.18.0.2";
    opt.other = "198.18.0.3";
    opt.throttle = 10000;
    opt.fuzz = 1000000;
    opt.fuzzWindow = 192;
    opt.seed = (uint64_t)time(NULL);
    opt.timeoutMs = 5000;
    int c;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case 'P':
            opt.phase = optarg;
            break;
        case 's':
            opt.server = optarg;
            break;
        case 'p':
            opt.port = (uint16_t)strtoul(optarg, NULL, 10);
            break;
        case 'c':
            opt.ctlPath = optarg;
            break;
        case 'S':
            if (parseSession(optarg) != 0) {
                fprintf(stderr, "--session %s: want ROLE:ACCOUNT:ID:TOKENHEX\n", optarg);
                return 2;
            }
            break;
        case 'l':
            opt.local = optarg;
            break;
        case 'o':
            opt.other = optarg;
            break;
        case 'd':
            opt.dev = optarg;
            break;
        case 'm': {
            unsigned x[6];
            if (sscanf(optarg, "%x:%x:%x:%x:%x:%x", &x[0], &x[1], &x[2], &x[3], &x[4], &x[5]) !=
                6) {
                fprintf(stderr, "--server-mac %s: want XX:XX:XX:XX:XX:XX\n", optarg);
                return 2;
            }
            for (int i = 0; i < 6; i++)
                opt.mac[i] = (uint8_t)x[i];
            opt.haveMac = 1;
            break;
        }
        case 't':
            opt.throttle = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case 'f':
            opt.fuzz = strtoul(optarg, NULL, 10);
            break;
        case 'w':
            opt.fuzzWindow = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'r':
            opt.seed = strtoull(optarg, NULL, 10);
            break;
        case 'T':
            opt.timeoutMs = (int)strtol(optarg, NULL, 10);
            break;
        default:
            usage();
            return c == 'h' ? 0 : 2;
        }
    }
    if (!opt.server || opt.port == 0 || opt.timeoutMs <= 0 ||
        (strcmp(opt.phase, "watch") != 0 && !opt.ctlPath)) {
        usage();
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    gRng = opt.seed ? opt.seed : 1;
    if (!strcmp(opt.phase, "watch"))
        return runWatch();
    printf("itest: phase %s, seed %" PRIu64 "\n", opt.phase, opt.seed);
    itRun("setup", caseSetup);
    if (!strcmp(opt.phase, "main")) {
        static const struct {
            const char *name;
            void (*fn)(void);
        } cases[] = {{"logon", caseLogon},
                     {"execute_partial_fills", caseExecute},
                     {"replace_priority", caseReplace},
                     {"order_conditions_stp", caseConditions},
                     {"reject_new_order", caseRejectNew},
                     {"reject_cancel_replace", caseRejectCancelReplace},
                     {"same_account_sessions", caseCrossSession},
                     {"trading_states_auction", caseTradingStates},
                     {"unknown_and_long_types", caseUnknownTypes},
                     {"duplicate", caseDuplicate},
                     {"gap", caseGap},
                     {"retransmit_and_replay", caseRetransmit},
                     {"malformed_frames", caseMalformed},
                     {"logon_rejects", caseLogonRejects},
                     {"before_logon", caseBeforeLogon},
                     {"wrong_source_takeover", caseWrongSource},
                     {"timeout_not_logged_on", caseTimeout},
                     {"l2_l3_frames", caseL3},
                     {"throttle_burst_history", caseThrottleBurst},
                     {"session_table_full", caseSessionTable},
                     {"fuzz", caseFuzz},
                     {"final_counters", caseFinal}};
        for (size_t i = 0; i < sizeof cases / sizeof cases[0] && !gAbort; i++)
            itRun(cases[i].name, cases[i].fn);
    } else if (!strcmp(opt.phase, "throttle")) {
        if (!gAbort)
            itRun("throttle_exact", caseThrottleExact);
    } else {
        usage();
        return 2;
    }
    printf("itest: sent datagrams=%" PRIu64 "\n", itSentTotal());
    printf("itest: folded frames=%" PRIu64 "\n", gFolded);
    printf("itest: summary %d passed, %d failed\n", gPass, gFail);
    for (int i = 0; i < IT_MAX_LIB; i++)
        itLibClose(gLibs[i]);
    itRawClose(C);
    itRawClose(D);
    itRawClose(E);
    itRawClose(F);
    itRawClose(G);
    itRawClose(H);
    return gFail || gAbort ? 1 : 0;
}
