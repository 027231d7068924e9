/* itest_crash.c -- the client side of the kill -9 crash-recovery test (tests/integration/crash.sh).
 *
 *   itest_crash --phase load   --server IP --port N --local IP --log FILE [--seed N]
 *               [--max-reports N]
 *               --session ID:TOKENHEX ...
 *   itest_crash --phase verify --server IP --port N --local IP --log FILE
 *               [--storage-failed] [--oldest ID:SEQ ...] --session ID:TOKENHEX ...
 *
 * load: logs every session on (no replay of older reports) and trades until
 * killed: new orders on both sides of IF2501 around 3800 (so they rest,
 * fill, or partly fill), cancels and replaces of orders it knows to rest,
 * until a session has had --max-reports reports (IC_ROUND_MAX; then it only
 * listens).
 * Every application report it receives is appended to the log at once
 * (one write per line, so a SIGKILL of xchgd or of this program loses no
 * line): "R <session> <seq> <hex bytes of the message>". It prints
 * "itest-crash: trading" once every session is logged on.
 *
 * verify: for each session, the reports in the log (those of this round:
 * crash.sh gives each round a fresh log) must come back from the restarted
 * xchgd, byte for byte, at the same sequence numbers: it logs on asking for
 * a replay from the lowest sequence seen and compares each report up to the
 * highest. A report the client saw before the crash is an acknowledgement
 * xchg gave, so it must have survived (durability = sync). Prints one line
 * per session and exits 0 only when every report matched.
 * --storage-failed (the disk-full test): the log must also hold reports
 * Rejected/CancelRejected{5002}; they are compared like the others.
 * --oldest ID:SEQ: session ID's history starts at SEQ (xchgctl session.list
 * next_out_seq minus the history depth: xchgd may have sent reports the
 * client never read, pushing older ones out); reports below it are not
 * asked for. */
#define _GNU_SOURCE
#include <getopt.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "xchg/client.h"
#include "xchg/xoe.h"

#define IC_MAX_SESSIONS 8
#define IC_MAX_LIVE     256
#define IC_MAX_REPORTS  (1u << 20)
#define IC_HISTORY                                                                                 \
    3500                  /* reports compared at most: xchgd keeps 4096 a session, and             \
                           * may have sent more than the client read */
#define IC_ROUND_MAX 3000 /* reports a session takes in a round, below the history */

typedef struct {
    uint32_t id;
    uint8_t token[XOE_TOKEN_SIZE];
    xclSession *s;
    uint64_t live[IC_MAX_LIVE]; /* resting order ids */
    unsigned nLive;
    uint64_t reports;      /* logged this round */
    uint64_t lastReportMs; /* when the last one came */
    uint64_t oldest;       /* verify: the first number xchgd still keeps (--oldest) */
} icSession;

static struct {
    const char *phase, *server, *local, *log;
    uint16_t port;
    unsigned seed;
    int storageFailed;   /* verify: reports from the first 5002 on need not survive */
    uint64_t maxReports; /* load: a session stops sending after this many reports */
    icSession ss[IC_MAX_SESSIONS];
    unsigned n;
} opt = {.port = 9000, .maxReports = IC_ROUND_MAX};

static uint64_t rnd(void)
{
    static uint64_t x;
    if (!x)
        x = 0x9E3779B97F4A7C15ull ^ opt.seed;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
}

static uint64_t icNowMs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static xclSession *icOpen(icSession *c, uint64_t nextOutSeq)
{
    char err[256];
    xclOptions o = {.localIp = opt.local, .nextOutSeq = nextOutSeq};
    xclSession *s = xclOpen(opt.server, opt.port, c->id, c->token, &o, err, sizeof err);
    if (!s) {
        fprintf(stderr, "itest-crash: session %u: %s\n", c->id, err);
        return NULL;
    }
    /* after a restart the first Logon may meet the one-a-second rule */
    if (xclLogon(s, 1000, 10000) != XCL_OK) {
        fprintf(stderr, "itest-crash: session %u: logon: %s\n", c->id, xclLastError(s));
        xclClose(s);
        return NULL;
    }
    return s;
}

/* ---- load ---------------------------------------------------------------------- */

static void icLogReport(FILE *f, const icSession *c, const xclReport *r)
{
    char line[2 * XOE_MSG_MAX + 64];
    int k = snprintf(line, sizeof line, "R %u %" PRIu64 " ", c->id, r->seq);
    for (unsigned i = 0; i < r->msg.length && i < XOE_MSG_MAX; i++)
        k += snprintf(line + k, sizeof line - (size_t)k, "%02x", r->msg.u.raw[i]);
    line[k++] = '\n';
    fwrite(line, 1, (size_t)k, f);
    fflush(f);
}

static void icTrack(icSession *c, const xclReport *r)
{
    uint64_t id = 0;
    uint32_t leaves = 1;
    if (r->type == XOE_MSG_ACCEPTED) {
        if (c->nLive < IC_MAX_LIVE)
            c->live[c->nLive++] = r->msg.u.accepted.orderId;
        return;
    }
    if (r->type == XOE_MSG_EXECUTED) {
        id = r->msg.u.executed.orderId;
        leaves = r->msg.u.executed.leaves;
    } else if (r->type == XOE_MSG_CANCELLED) {
        id = r->msg.u.cancelled.orderId;
        leaves = 0;
    }
    for (unsigned i = 0; leaves == 0 && i < c->nLive; i++) {
        if (c->live[i] == id) {
            c->live[i] = c->live[--c->nLive];
            break;
        }
    }
}

static void icSend(icSession *c)
{
    unsigned what = (unsigned)(rnd() % 10);
    if (what == 0 && c->nLive) {
        xclCancel(c->s, c->live[rnd() % c->nLive], 0, NULL);
    } else if (what == 1 && c->nLive) {
        int64_t price = (int64_t)(18950 + rnd() % 100) * 2000;
        xclReplace(c->s, c->live[rnd() % c->nLive], price, 1 + (uint32_t)(rnd() % 9), 0, NULL);
    } else {
        /* IF2501: tick 0.2, prices 3790.0 .. 3809.8, so books cross often */
        xclOrder o = {.instrument = 0,
                      .side = (uint8_t)(rnd() & 1),
                      .price = (int64_t)(18950 + rnd() % 100) * 2000,
                      .qty = 1 + (uint32_t)(rnd() % 9),
                      .timeCondition = (rnd() % 8) == 0 ? XOE_IOC : XOE_GFD};
        xclNewOrder(c->s, &o, NULL);
    }
}

static int icLoad(void)
{
    FILE *f = fopen(opt.log, "a");
    if (!f) {
        perror(opt.log);
        return 1;
    }
    for (unsigned i = 0; i < opt.n; i++) {
        opt.ss[i].s = icOpen(&opt.ss[i], 0);
        if (!opt.ss[i].s)
            return 1;
    }
    printf("itest-crash: trading\n");
    fflush(stdout);
    for (;;) {
        for (unsigned i = 0; i < opt.n; i++) {
            icSession *c = &opt.ss[i];
            xclInfo in;
            xclGetInfo(c->s, &in);
            /* a round stays inside xchg's history of 4096 reports a session,
             * so verify can have all of them replayed */
            /* unanswered requests whose answers never come (their inputs
             * were not durable when the storage failed) do not stop it */
            uint64_t now = icNowMs();
            if (in.state == XCL_STATE_LOGGED_ON && c->reports < opt.maxReports &&
                (in.unanswered < 32 || now - c->lastReportMs > 200))
                icSend(c);
            xclReport r;
            while (xclPoll(c->s, 0, &r) == 1) {
                if (r.seq == 0)
                    continue;
                icLogReport(f, c, &r);
                icTrack(c, &r);
                c->reports++;
                c->lastReportMs = icNowMs();
            }
        }
        struct timespec ts = {0, 200000}; /* about 2,500 requests a second per session */
        nanosleep(&ts, NULL);
    }
}

/* ---- verify ---------------------------------------------------------------------- */

typedef struct {
    uint64_t seq;
    uint16_t len;
    uint8_t bytes[XOE_MSG_MAX];
} icSeen;

static int cmpSeen(const void *a, const void *b)
{
    const icSeen *x = a, *y = b;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* The log's reports of session id, sorted by sequence (duplicates kept once). */
static icSeen *icReadLog(uint32_t id, size_t *n)
{
    FILE *f = fopen(opt.log, "r");
    icSeen *v = calloc(IC_MAX_REPORTS, sizeof *v);
    char line[2 * XOE_MSG_MAX + 64];
    size_t k = 0;
    while (f && v && k < IC_MAX_REPORTS && fgets(line, sizeof line, f)) {
        unsigned sid;
        uint64_t seq;
        char hex[2 * XOE_MSG_MAX + 2];
        if (sscanf(line, "R %u %" SCNu64 " %130s", &sid, &seq, hex) != 3 || sid != id)
            continue;
        size_t hl = strlen(hex);
        if (hl % 2 || hl / 2 > XOE_MSG_MAX)
            continue; /* a line cut by the kill: never a complete report */
        icSeen *e = &v[k];
        e->seq = seq;
        e->len = (uint16_t)(hl / 2);
        for (size_t i = 0; i < e->len; i++)
            sscanf(hex + 2 * i, "%2hhx", &e->bytes[i]);
        k++;
    }
    if (f)
        fclose(f);
    qsort(v, k, sizeof *v, cmpSeen);
    size_t u = 0;
    for (size_t i = 0; i < k; i++)
        if (u == 0 || v[u - 1].seq != v[i].seq)
            v[u++] = v[i];
    *n = u;
    return v;
}

/* 1 if the report is Rejected or CancelRejected with 5002 (storage). */
static int icStorageReject(const icSeen *e)
{
    xoeMsgHeader h;
    uint16_t code;
    memcpy(&h, e->bytes, sizeof h);
    if (h.type != XOE_MSG_REJECTED && h.type != XOE_MSG_CANCEL_REJECTED)
        return 0;
    memcpy(&code,
           e->bytes + (h.type == XOE_MSG_REJECTED ? offsetof(xoeRejected, code)
                                                  : offsetof(xoeCancelRejected, code)),
           sizeof code);
    return code == XOE_CODE_STORAGE;
}

static int icVerifySession(icSession *c)
{
    size_t n;
    icSeen *seen = icReadLog(c->id, &n);
    if (!seen)
        return 1;
    if (opt.storageFailed) {
        /* the disk filled up: orders were answered 5002, as journaled inputs */
        size_t rejects = 0;
        for (size_t i = 0; i < n; i++)
            rejects += icStorageReject(&seen[i]);
        printf("itest-crash: session %u: %zu of %zu reports were 5002\n", c->id, rejects, n);
        if (rejects == 0) {
            free(seen);
            return 1;
        }
    }
    size_t keep = 0;
    for (size_t i = 0; i < n; i++)
        if (seen[i].seq >= c->oldest)
            seen[keep++] = seen[i];
    if (keep < n)
        printf("itest-crash: session %u: %zu reports below %llu (out of xchgd's history) not "
               "asked for\n",
               c->id, n - keep, (unsigned long long)c->oldest);
    n = keep;
    if (n > IC_HISTORY) { /* older ones left xchg's history: not replayable over XOE */
        memmove(seen, seen + (n - IC_HISTORY), IC_HISTORY * sizeof *seen);
        n = IC_HISTORY;
    }
    if (n == 0) {
        printf("itest-crash: session %u: no reports seen this round\n", c->id);
        free(seen);
        return 0;
    }
    xclSession *s = icOpen(c, seen[0].seq);
    if (!s) {
        free(seen);
        return 1;
    }
    size_t next = 0, same = 0, differ = 0, missing = 0;
    uint64_t last = seen[n - 1].seq;
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int done = 0; !done;) {
        xclReport r;
        int rc = xclPoll(s, 100, &r);
        clock_gettime(CLOCK_MONOTONIC, &t);
        if (t.tv_sec - t0.tv_sec > 15)
            break;
        if (rc != 1 || r.seq == 0)
            continue;
        while (next < n && seen[next].seq < r.seq) {
            if (missing++ < 5) /* the client saw it; xchg replayed past it */
                printf("itest-crash: session %u: report %" PRIu64 " missing after recovery\n",
                       c->id, seen[next].seq);
            next++;
        }
        if (next < n && seen[next].seq == r.seq) {
            if (seen[next].len == r.msg.length &&
                !memcmp(seen[next].bytes, r.msg.u.raw, seen[next].len)) {
                same++;
            } else {
                differ++;
                printf("itest-crash: session %u: report %" PRIu64 " differs after recovery\n",
                       c->id, r.seq);
            }
            next++;
        }
        done = r.seq >= last;
    }
    for (size_t i = next; i < n && missing++ < 5; i++)
        printf("itest-crash: session %u: report %" PRIu64 " not replayed after recovery\n", c->id,
               seen[i].seq);
    int ok = same == n && differ == 0;
    printf("itest-crash: session %u: %zu of %zu reports seen before the crash (seq %" PRIu64
           "..%" PRIu64 ") came back identical%s\n",
           c->id, same, n, seen[0].seq, last, ok ? "" : " -- MISSING OR CHANGED");
    xclLogout(s, 2000);
    xclClose(s);
    free(seen);
    return ok ? 0 : 1;
}

static int icVerify(void)
{
    int bad = 0;
    for (unsigned i = 0; i < opt.n; i++)
        bad |= icVerifySession(&opt.ss[i]);
    return bad;
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {{"phase", required_argument, NULL, 'p'},
                                       {"server", required_argument, NULL, 's'},
                                       {"port", required_argument, NULL, 'P'},
                                       {"local", required_argument, NULL, 'l'},
                                       {"log", required_argument, NULL, 'L'},
                                       {"seed", required_argument, NULL, 'S'},
                                       {"storage-failed", no_argument, NULL, 'F'},
                                       {"max-reports", required_argument, NULL, 'M'},
                                       {"session", required_argument, NULL, 'x'},
                                       {"oldest", required_argument, NULL, 'O'},
                                       {NULL, 0, NULL, 0}};
    struct {
        uint32_t id;
        uint64_t seq;
    } old[IC_MAX_SESSIONS];
    unsigned nOld = 0;
    int c;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case 'p':
            opt.phase = optarg;
            break;
        case 's':
            opt.server = optarg;
            break;
        case 'P':
            opt.port = (uint16_t)atoi(optarg);
            break;
        case 'l':
            opt.local = optarg;
            break;
        case 'L':
            opt.log = optarg;
            break;
        case 'S':
            opt.seed = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'F':
            opt.storageFailed = 1;
            break;
        case 'M':
            opt.maxReports = strtoull(optarg, NULL, 10);
            break;
        case 'O': {
            unsigned long long q;
            if (nOld == IC_MAX_SESSIONS || sscanf(optarg, "%u:%llu", &old[nOld].id, &q) != 2) {
                fprintf(stderr, "--oldest %s: want ID:SEQ (at most %d)\n", optarg, IC_MAX_SESSIONS);
                return 2;
            }
            old[nOld++].seq = q;
            break;
        }
        case 'x':
            if (opt.n == IC_MAX_SESSIONS ||
                xclSessionParse(optarg, &opt.ss[opt.n].id, opt.ss[opt.n].token) != XCL_OK) {
                fprintf(stderr, "--session %s: want ID:TOKENHEX (at most %d)\n", optarg,
                        IC_MAX_SESSIONS);
                return 2;
            }
            opt.n++;
            break;
        default:
            return 2;
        }
    }
    for (unsigned i = 0; i < nOld; i++)
        for (unsigned k = 0; k < opt.n; k++)
            if (opt.ss[k].id == old[i].id)
                opt.ss[k].oldest = old[i].seq;
    if (!opt.phase || !opt.server || !opt.log || !opt.n) {
        fprintf(stderr, "usage: itest_crash --phase load|verify --server IP [--port N] "
                        "[--local IP] --log FILE [--seed N] --session ID:TOKENHEX ...\n");
        return 2;
    }
    if (!strcmp(opt.phase, "load"))
        return icLoad();
    if (!strcmp(opt.phase, "verify"))
        return icVerify();
    fprintf(stderr, "itest-crash: unknown phase %s\n", opt.phase);
    return 2;
}
