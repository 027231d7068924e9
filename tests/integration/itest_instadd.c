/* itest_instadd.c -- instrument.add on a running xchgd, end to end (run by instadd.sh).
 *
 *   itest_instadd --server IP --port N --ctl SOCKET [--local IP] --phase add|verify
 *                 [--expect-long N]
 *
 * --phase add, against a fresh xchgd whose segment has instrument_capacity
 * 6 (config/xchg.conf's 4 instruments and room for 2): while a client
 * trades IF2501 (orders pipelined before, during and after the command),
 * adds al2501 (tick 5, multiplier 5, margin 10%, commission 3 a lot,
 * limits 5% of 20000); the IF orders are all answered; the refusals give
 * their codes (1008 duplicate id, unknown segment, bad tick; 5001 once
 * zn2501 used the last slot); instrument.list shows it CLOSED, then
 * instrument.state opens it; accounts 501 and 502 trade 2 lots (a fill on
 * both sides), positions, margin and commission follow; 501 leaves a bid
 * of 1 at 19990; md.snapshot and book.get show the new book.
 *
 * --phase verify, after a restart: the instruments are there, the book has
 * the bid, 501 is long --expect-long lots; capacity and duplicate still
 * refused; 502 sells 1 into the bid (a fill: the recovered book trades),
 * 501 is long one more, and 501 bids 1 at 19990 again (the same book for
 * the next restart). Prints one line per failed check and "itest:
 * summary N passed, M failed"; exits 1 on any failure. */
#include <getopt.h>
#include <jansson.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "xchg/client.h"

#define IF 0
#define AL 4 /* the added instrument's book */

static const char *gServer = "198.18.0.1", *gCtlPath, *gLocal;
static uint16_t gPort = 9000;
static int gPass, gFail;
static char gErr[512];
static int gErrCode;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (cond) {                                                                                \
            gPass++;                                                                               \
        } else {                                                                                   \
            gFail++;                                                                               \
            printf("       FAIL line %d: ", __LINE__);                                             \
            printf(__VA_ARGS__);                                                                   \
            printf("\n");                                                                          \
        }                                                                                          \
    } while (0)

static int64_t px(const char *s)
{
    int64_t v = 0;
    xclPriceParse(s, &v);
    return v;
}

/* ---- control socket ------------------------------------------------------------------------ */

typedef struct {
    int fd;
    char buf[1 << 20];
    size_t len;
} Ctl;

static Ctl gCtl;

static int ctlConnect(Ctl *c)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s", gCtlPath);
    c->fd = socket(AF_UNIX, SOCK_STREAM, 0);
    c->len = 0;
    return c->fd >= 0 && connect(c->fd, (struct sockaddr *)&a, sizeof a) == 0 ? 0 : -1;
}

/* Reads one line (waiting up to ms); returns the parsed object or NULL. */
static json_t *ctlLine(Ctl *c, int ms)
{
    for (;;) {
        char *nl = memchr(c->buf, '\n', c->len);
        if (nl) {
            *nl = 0;
            json_t *j = json_loads(c->buf, 0, NULL);
            size_t used = (size_t)(nl - c->buf) + 1;
            memmove(c->buf, nl + 1, c->len - used);
            c->len -= used;
            return j;
        }
        struct pollfd p = {c->fd, POLLIN, 0};
        if (poll(&p, 1, ms) <= 0 || c->len == sizeof c->buf)
            return NULL;
        ssize_t n = read(c->fd, c->buf + c->len, sizeof c->buf - c->len);
        if (n <= 0)
            return NULL;
        c->len += (size_t)n;
    }
}

/* Sends a command (args stolen); returns its data (new reference) or NULL
 * with gErrCode and gErr set. */
static json_t *ctl(const char *cmd, json_t *args)
{
    static int id;
    json_t *req =
        json_pack("{s:i, s:s, s:o}", "id", ++id, "cmd", cmd, "args", args ? args : json_object());
    char *line = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    size_t len = strlen(line);
    line[len] = '\n';
    ssize_t w = write(gCtl.fd, line, len + 1);
    free(line);
    gErrCode = 0;
    gErr[0] = 0;
    if (w != (ssize_t)len + 1) {
        gErrCode = -1;
        snprintf(gErr, sizeof gErr, "write failed");
        return NULL;
    }
    /* sync durability on a loaded disk takes seconds; the answer of an
     * earlier request that timed out is skipped (answers carry their id) */
    json_t *ans = ctlLine(&gCtl, 60000);
    while (ans && json_integer_value(json_object_get(ans, "id")) != id) {
        json_decref(ans);
        ans = ctlLine(&gCtl, 60000);
    }
    if (!ans) {
        gErrCode = -1;
        snprintf(gErr, sizeof gErr, "no answer");
        return NULL;
    }
    json_t *data = NULL;
    if (json_is_true(json_object_get(ans, "ok"))) {
        data = json_incref(json_object_get(ans, "data"));
        if (!data)
            data = json_object();
    } else {
        json_t *e = json_object_get(ans, "error");
        gErrCode = (int)json_integer_value(json_object_get(e, "code"));
        snprintf(gErr, sizeof gErr, "%s", json_string_value(json_object_get(e, "message")));
    }
    json_decref(ans);
    return data;
}

/* Sends a command expecting error `code`. */
static int ctlFails(const char *cmd, json_t *args, int code)
{
    json_t *d = ctl(cmd, args);
    json_decref(d);
    return !d && gErrCode == code;
}

static const char *str(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "(none)";
}

static int openAccount(uint32_t id, const char *cash)
{
    json_t *d = ctl("account.open", json_pack("{s:i, s:s, s:s}", "account", (int)id, "name",
                                              "itest", "init_cash", cash));
    json_decref(d);
    return d != NULL;
}

/* ---- XOE sessions ---------------------------------------------------------------------------- */

typedef struct {
    uint32_t account;
    xclSession *s;
} Sess;

static int sessOpen(Sess *x, uint32_t account)
{
    x->account = account;
    json_t *d =
        ctl("session.add", json_pack("{s:i, s:s}", "account", (int)account, "source", "any"));
    if (!d)
        return -1;
    uint8_t token[XOE_TOKEN_SIZE];
    uint32_t id = (uint32_t)json_integer_value(json_object_get(d, "session_id"));
    int rc = xclTokenParse(str(d, "token"), token);
    json_decref(d);
    char err[200];
    xclOptions o = {.localIp = gLocal};
    x->s = rc == 0 ? xclOpen(gServer, gPort, id, token, &o, err, sizeof err) : NULL;
    /* long heartbeats: a session may sit unpolled while others trade */
    return x->s && xclLogon(x->s, 60000, 5000) == XCL_OK ? 0 : -1;
}

/* The answer to an order: XOE_MSG_ACCEPTED (orderId set) or the reject code. */
typedef struct {
    int type;
    uint16_t code;
    uint64_t orderId;
    uint32_t executed; /* fills reported with the answer */
    uint8_t cancelReason;
    uint64_t clOrdId;
} Ans;

static Ans await(Sess *x, uint64_t clOrdId, int wantFills)
{
    Ans a = {.clOrdId = clOrdId};
    xclReport r;
    int fills = 0;
    while (xclPoll(x->s, 3000, &r) == 1) {
        if (r.clOrdId != clOrdId)
            continue;
        if (r.type == XOE_MSG_REJECTED) {
            a.type = r.type;
            a.code = r.msg.u.rejected.code;
            return a;
        }
        if (r.type == XOE_MSG_CANCEL_REJECTED) {
            a.type = r.type;
            a.code = r.msg.u.cancelRejected.code;
            return a;
        }
        if (r.type == XOE_MSG_ACCEPTED) {
            a.type = r.type;
            a.orderId = r.msg.u.accepted.orderId;
        }
        if (r.type == XOE_MSG_EXECUTED) {
            fills++;
            a.executed++;
        }
        if (r.type == XOE_MSG_CANCELLED)
            a.cancelReason = r.msg.u.cancelled.reason;
        if (r.type == XOE_MSG_REPLACED)
            a.type = r.type;
        if (a.type && fills >= wantFills)
            return a;
    }
    return a;
}

static Ans order(Sess *x, uint16_t ins, uint8_t side, uint8_t offset, int64_t price, uint32_t qty,
                 int wantFills)
{
    xclOrder o = {.instrument = ins,
                  .side = side,
                  .offset = offset,
                  .priceType = XOE_LIMIT,
                  .timeCondition = XOE_GFD,
                  .volumeCondition = XOE_VOL_ANY,
                  .price = price,
                  .qty = qty};
    uint64_t cl = 0;
    if (xclNewOrder(x->s, &o, &cl) != XCL_OK)
        return (Ans){0};
    return await(x, cl, wantFills);
}

static void pause100(void)
{
    struct timespec ts = {0, 150 * 1000000};
    nanosleep(&ts, NULL);
}

static json_t *addArgs(const char *id, int segment, const char *tick)
{
    return json_pack("{s:s, s:s, s:i, s:s, s:i, s:s, s:s, s:s, s:s, s:s, s:i}", "instrument", id,
                     "name", "aluminium 2025-01", "segment", segment, "tick", tick, "multiplier", 5,
                     "margin_rate", "10%", "limit_up", "5%", "limit_down", "5%", "pre_settlement",
                     "20000", "commission_per_lot", "3", "max_lots", 1000);
}

/* The instrument's entry in instrument.list (a new reference) or NULL. */
static json_t *listed(const char *id)
{
    json_t *d = ctl("instrument.list", NULL), *v, *found = NULL;
    size_t i;
    json_array_foreach(json_object_get(d, "instruments"), i, v) if (!strcmp(str(v, "id"), id))
        found = json_incref(v);
    json_decref(d);
    return found;
}

/* The account's position in the instrument, field `key`; -1 if none. */
static long long position(uint32_t account, const char *id, const char *key)
{
    json_t *d = ctl("position.list", json_pack("{s:i}", "account", (int)account)), *v;
    long long n = -1;
    size_t i;
    json_array_foreach(json_object_get(d, "positions"), i,
                       v) if (!strcmp(str(v, "instrument_id"), id)) n =
        json_integer_value(json_object_get(v, key));
    json_decref(d);
    return n;
}

/* book.get: the best bid's price and quantity. */
static int bestBid(const char *id, char *price, size_t len, long long *qty)
{
    json_t *d = ctl("book.get", json_pack("{s:s}", "instrument", id));
    json_t *b = json_array_get(json_object_get(d, "bids"), 0);
    int ok = b != NULL;
    if (ok) {
        json_t *p = json_object_get(b, "price");
        if (json_is_string(p))
            snprintf(price, len, "%s", json_string_value(p));
        else
            snprintf(price, len, "%lld", (long long)json_integer_value(p));
        *qty = json_integer_value(json_object_get(b, "qty"));
    }
    json_decref(d);
    return ok;
}

/* Pipelined IF orders of C (buys) and D (sells) at one price: clOrdIds kept. */
#define PIPE 40
static uint64_t gPipeC[3 * PIPE], gPipeD[3 * PIPE];
static int gPiped;

static void pipeIF(Sess *c, Sess *d, int n)
{
    for (int k = 0; k < n; k++, gPiped++) {
        xclOrder o = {.instrument = IF,
                      .side = XOE_BUY,
                      .offset = XOE_OPEN,
                      .priceType = XOE_LIMIT,
                      .timeCondition = XOE_GFD,
                      .volumeCondition = XOE_VOL_ANY,
                      .price = px("3800"),
                      .qty = 1};
        xclNewOrder(c->s, &o, &gPipeC[gPiped]);
        o.side = XOE_SELL;
        xclNewOrder(d->s, &o, &gPipeD[gPiped]);
    }
}

/* Every pipelined order answered (accepted, or rejected: counted apart). */
static int pipeAnswered(Sess *x, const uint64_t *ids, int n, int *accepted)
{
    int answered = 0;
    *accepted = 0;
    xclReport r;
    while (answered < n && xclPoll(x->s, 3000, &r) == 1) {
        for (int k = 0; k < n; k++) {
            if (r.clOrdId != ids[k])
                continue;
            if (r.type == XOE_MSG_ACCEPTED)
                (*accepted)++, answered++;
            else if (r.type == XOE_MSG_REJECTED)
                answered++;
        }
    }
    return answered;
}

static void phaseAdd(void)
{
    static Sess A, B, C, D;
    printf("-- accounts and sessions\n");
    CHECK(openAccount(501, "10000000") && openAccount(502, "10000000") &&
              openAccount(503, "100000000") && openAccount(504, "100000000"),
          "account.open: %s", gErr);
    CHECK(sessOpen(&A, 501) == 0 && sessOpen(&B, 502) == 0 && sessOpen(&C, 503) == 0 &&
              sessOpen(&D, 504) == 0,
          "sessions: %s", gErr);
    if (!A.s || !B.s || !C.s || !D.s)
        return;

    printf("-- instrument.add while IF2501 trades\n");
    pipeIF(&C, &D, PIPE);
    json_t *d = ctl("instrument.add", addArgs("al2501", 0, "5"));
    pipeIF(&C, &D, PIPE);
    CHECK(d && !strcmp(str(d, "instrument_id"), "al2501") &&
              json_integer_value(json_object_get(d, "book")) == AL &&
              !strcmp(str(d, "upper_limit"), "21000") && !strcmp(str(d, "lower_limit"), "19000"),
          "instrument.add al2501: %s %s", d ? str(d, "instrument_id") : gErr,
          d ? str(d, "upper_limit") : "");
    json_decref(d);
    int accC = 0, accD = 0;
    const int ansC = pipeAnswered(&C, gPipeC, gPiped, &accC);
    const int ansD = pipeAnswered(&D, gPipeD, gPiped, &accD);
    printf("       IF orders around the add: %d/%d and %d/%d answered, %d and %d accepted\n", ansC,
           gPiped, ansD, gPiped, accC, accD);
    CHECK(ansC == gPiped && ansD == gPiped && accC == gPiped && accD == gPiped,
          "every IF order answered and accepted");

    printf("-- refusals\n");
    CHECK(ctlFails("instrument.add", addArgs("al2501", 0, "5"), 1008) &&
              strstr(gErr, "already exists"),
          "duplicate id: %d %s", gErrCode, gErr);
    CHECK(ctlFails("instrument.add", addArgs("AL2501", 0, "5"), 1008),
          "duplicate id in other case: %d %s", gErrCode, gErr);
    CHECK(ctlFails("instrument.add", addArgs("cu2609", 9, "5"), 1008) && strstr(gErr, "segment"),
          "unknown segment: %d %s", gErrCode, gErr);
    CHECK(ctlFails("instrument.add", addArgs("cu2609", 0, "3"), 1008) && strstr(gErr, "tick"),
          "pre-settlement off tick: %d %s", gErrCode, gErr);
    d = ctl("instrument.add", addArgs("zn2501", 0, "5"));
    CHECK(d != NULL, "zn2501 takes the last slot: %s", gErr);
    json_decref(d);
    CHECK(ctlFails("instrument.add", addArgs("ni2501", 0, "5"), 5001) &&
              strstr(gErr, "instrument_capacity"),
          "capacity exhausted: %d %s", gErrCode, gErr);

    printf("-- the new book\n");
    json_t *l = listed("al2501");
    CHECK(l && !strcmp(str(l, "state"), "closed") &&
              json_integer_value(json_object_get(l, "book")) == AL,
          "instrument.list: al2501 %s", l ? str(l, "state") : "missing");
    json_decref(l);
    d = ctl("instrument.state",
            json_pack("{s:s, s:s}", "instrument", "al2501", "state", "continuous"));
    CHECK(d != NULL, "instrument.state al2501 continuous: %s", gErr);
    json_decref(d);
    Ans a = order(&A, AL, XOE_BUY, XOE_OPEN, px("20000"), 2, 0);
    CHECK(a.type == XOE_MSG_ACCEPTED, "501 buys 2 al2501 @ 20000: type 0x%x code %u", a.type,
          a.code);
    Ans b = order(&B, AL, XOE_SELL, XOE_OPEN, px("20000"), 2, 1);
    CHECK(b.type == XOE_MSG_ACCEPTED && b.executed >= 1, "502 sells 2 @ 20000: a fill (0x%x, %u)",
          b.type, b.executed);
    pause100();
    CHECK(position(501, "al2501", "volume_long") == 2 &&
              position(502, "al2501", "volume_short") == 2,
          "positions: 501 long %lld, 502 short %lld", position(501, "al2501", "volume_long"),
          position(502, "al2501", "volume_short"));
    json_t *acc = ctl("account.get", json_pack("{s:i}", "account", 501));
    /* margin 20000 x 5 x 2 x 10% = 20000; commission 2 lots x 3 */
    CHECK(acc && !strcmp(str(acc, "margin"), "20000.0000") &&
              !strcmp(str(acc, "commission"), "6.0000"),
          "501 margin %s commission %s", acc ? str(acc, "margin") : gErr,
          acc ? str(acc, "commission") : "");
    json_decref(acc);
    a = order(&A, AL, XOE_BUY, XOE_OPEN, px("19990"), 1, 0);
    CHECK(a.type == XOE_MSG_ACCEPTED, "501 bids 1 @ 19990 (rests)");
    pause100();
    char p[32] = "";
    long long q = 0;
    CHECK(bestBid("al2501", p, sizeof p, &q) && !strcmp(p, "19990") && q == 1,
          "book.get: %s x %lld", p, q);
    d = ctl("md.snapshot", json_pack("{s:s}", "instrument", "al2501"));
    CHECK(d && !strcmp(str(d, "instrument_id"), "al2501") &&
              json_integer_value(json_object_get(d, "volume")) == 2,
          "md.snapshot al2501: volume %lld %s",
          d ? (long long)json_integer_value(json_object_get(d, "volume")) : -1LL, d ? "" : gErr);
    json_decref(d);
}

static void phaseVerify(long long expectLong)
{
    static Sess A, B;
    printf("-- after the restart\n");
    json_t *l = listed("al2501"), *z = listed("zn2501");
    CHECK(l && z && !strcmp(str(l, "state"), "continuous") && !strcmp(str(z, "state"), "closed"),
          "instrument.list: al2501 %s, zn2501 %s", l ? str(l, "state") : "missing",
          z ? str(z, "state") : "missing");
    json_decref(l);
    json_decref(z);
    json_t *d = ctl("instrument.get", json_pack("{s:s}", "instrument", "al2501"));
    CHECK(d && !strcmp(str(d, "margin_rate"), "0.1") && !strcmp(str(d, "status"), "Trading"),
          "instrument.get al2501: margin_rate %s status %s", d ? str(d, "margin_rate") : gErr,
          d ? str(d, "status") : "");
    json_decref(d);
    CHECK(position(501, "al2501", "volume_long") == expectLong, "501 long %lld, want %lld",
          position(501, "al2501", "volume_long"), expectLong);
    char p[32] = "";
    long long q = 0;
    CHECK(bestBid("al2501", p, sizeof p, &q) && !strcmp(p, "19990") && q == 1,
          "the resting bid came back: %s x %lld", p, q);
    CHECK(ctlFails("instrument.add", addArgs("ni2501", 0, "5"), 5001),
          "capacity still exhausted: %d %s", gErrCode, gErr);
    CHECK(ctlFails("instrument.add", addArgs("al2501", 0, "5"), 1008),
          "duplicate still refused: %d", gErrCode);
    CHECK(sessOpen(&A, 501) == 0 && sessOpen(&B, 502) == 0, "sessions: %s", gErr);
    if (!A.s || !B.s)
        return;
    Ans b = order(&B, AL, XOE_SELL, XOE_OPEN, px("19990"), 1, 1);
    CHECK(b.type == XOE_MSG_ACCEPTED && b.executed >= 1,
          "502 sells 1 into the recovered bid: a fill (0x%x, %u)", b.type, b.executed);
    pause100();
    CHECK(position(501, "al2501", "volume_long") == expectLong + 1, "501 long %lld, want %lld",
          position(501, "al2501", "volume_long"), expectLong + 1);
    Ans a = order(&A, AL, XOE_BUY, XOE_OPEN, px("19990"), 1, 0);
    CHECK(a.type == XOE_MSG_ACCEPTED, "501 bids 1 @ 19990 again");
    pause100();
    d = ctl("md.snapshot", json_pack("{s:s}", "instrument", "al2501"));
    CHECK(d && json_integer_value(json_object_get(d, "volume")) >= 1, "md.snapshot al2501: %s",
          d ? "ok" : gErr);
    json_decref(d);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"server", required_argument, NULL, 's'},
                                         {"port", required_argument, NULL, 'p'},
                                         {"ctl", required_argument, NULL, 'c'},
                                         {"local", required_argument, NULL, 'l'},
                                         {"phase", required_argument, NULL, 'P'},
                                         {"expect-long", required_argument, NULL, 'e'},
                                         {NULL, 0, NULL, 0}};
    int c;
    const char *phase = NULL;
    long long expectLong = 2;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 's')
            gServer = optarg;
        else if (c == 'p')
            gPort = (uint16_t)atoi(optarg);
        else if (c == 'c')
            gCtlPath = optarg;
        else if (c == 'l')
            gLocal = optarg;
        else if (c == 'P')
            phase = optarg;
        else if (c == 'e')
            expectLong = atoll(optarg);
        else
            return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (!phase || (strcmp(phase, "add") && strcmp(phase, "verify")))
        return 2;
    if (!gCtlPath || ctlConnect(&gCtl) != 0) {
        printf("itest: cannot connect to the control socket\nitest: summary 0 passed, 1 failed\n");
        return 1;
    }
    if (!strcmp(phase, "add"))
        phaseAdd();
    else
        phaseVerify(expectLong);
    printf("itest: summary %d passed, %d failed\n", gPass, gFail);
    return gFail ? 1 : 0;
}
