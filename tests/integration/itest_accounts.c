/* itest_accounts.c -- accounts, risk, positions and settlement of the real xchgd, over XOE and the
 * control socket.
 *
 *   itest_accounts --server IP --port N --ctl SOCKET [--local IP] [--two-segments]
 *
 * Run by tests/integration/run.sh inside its namespace against a fresh
 * xchgd (config/xchg.conf's instruments: IF 0, IC 1, IH 2, cu 3; risk
 * limits the defaults). It opens its own accounts and sessions through the
 * control socket and provokes every account, risk, order and settlement
 * code the daemon can give: over XOE 1001, 1002, 1003, 1004, 1007, 1008,
 * 2002, 2005, 3003 and self-trade (Cancelled SELF_TRADE, the 1005 case); on
 * the control socket 1006, 1007, 1008, 2001-2004, 3001, 6001, 6002; and a
 * force liquidation, a settlement with a roll, the event subscription and
 * the money figures against hand-computed values. Prints one line per check
 * and "itest: summary N passed, M failed"; exits 1 on any failure.
 * --two-segments runs only the multi-segment credit case against the
 * two-segment xchgd of tests/integration/segments.sh. */
#define _GNU_SOURCE
#include <errno.h>
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
#define IC 1
#define CU 3

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

/* IF price from a decimal string: "3800.2" -> 38002000 */
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

static Ctl gCtl, gSub;

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
    json_t *ans = ctlLine(&gCtl, 5000);
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

static json_t *account(uint32_t id)
{
    return ctl("account.get", json_pack("{s:i}", "account", (int)id));
}

/* The account's field as a string equal to want. */
static int acctIs(uint32_t id, const char *field, const char *want)
{
    json_t *a = account(id);
    int ok = a && !strcmp(str(a, field), want);
    if (!ok)
        printf("       account %u %s = %s, want %s\n", id, field, a ? str(a, field) : gErr, want);
    json_decref(a);
    return ok;
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

static int rejected(Sess *x, uint16_t ins, uint8_t side, uint8_t offset, int64_t price,
                    uint32_t qty, uint16_t code)
{
    Ans a = order(x, ins, side, offset, price, qty, 0);
    if (a.type != XOE_MSG_REJECTED || a.code != code)
        printf("       answer type 0x%x code %u, want Rejected %u\n", a.type, a.code, code);
    return a.type == XOE_MSG_REJECTED && a.code == code;
}

/* Waits until the control core has caught up (its fill count stops moving). */
static void settle(void)
{
    struct timespec ts = {0, 100 * 1000000};
    nanosleep(&ts, NULL);
}

/* ---- cases ------------------------------------------------------------------------------- */

static Sess A, B, C, L, M;

static void caseAccountsOnTheSocket(void)
{
    printf("-- accounts on the control socket\n");
    CHECK(openAccount(101, "2000000"), "account.open 101: %s", gErr);
    CHECK(ctlFails("account.open", json_pack("{s:i}", "account", 101), 2001), "2001: %d %s",
          gErrCode, gErr);
    CHECK(ctlFails("account.open", json_pack("{s:i}", "account", 0), 1008), "1008: %d", gErrCode);
    CHECK(ctlFails("account.deposit", json_pack("{s:i, s:s}", "account", 101, "amount", "0"), 2003),
          "2003: %d", gErrCode);
    CHECK(ctlFails("account.deposit", json_pack("{s:i, s:s}", "account", 999, "amount", "1"), 1006),
          "1006: %d", gErrCode);
    CHECK(ctlFails("account.withdraw",
                   json_pack("{s:i, s:s}", "account", 101, "amount", "2000000.0001"), 2004),
          "2004: %d", gErrCode);
    json_t *d = ctl("account.deposit", json_pack("{s:i, s:s}", "account", 101, "amount", "0.5"));
    CHECK(d && !strcmp(str(d, "balance"), "2000000.5000"), "deposit: %s",
          d ? str(d, "balance") : gErr);
    json_decref(d);
    d = ctl("account.withdraw", json_pack("{s:i, s:s}", "account", 101, "amount", "1000000.5"));
    CHECK(d && !strcmp(str(d, "available"), "1000000.0000"), "withdraw: %s",
          d ? str(d, "available") : gErr);
    json_decref(d);
    json_decref(ctl("account.freeze", json_pack("{s:i}", "account", 101)));
    CHECK(
        ctlFails("account.withdraw", json_pack("{s:i, s:s}", "account", 101, "amount", "1"), 2002),
        "2002: %d", gErrCode);
    json_decref(ctl("account.unfreeze", json_pack("{s:i}", "account", 101)));
    CHECK(ctlFails("session.add", json_pack("{s:i}", "account", 4242), 1006),
          "session.add of an unknown account: %d %s", gErrCode, gErr);
    d = ctl("account.list", NULL);
    CHECK(d && json_array_size(json_object_get(d, "accounts")) >= 1, "account.list");
    json_decref(d);
}

static void caseWireCodes(void)
{
    printf("-- pre-trade codes over XOE\n");
    CHECK(openAccount(1, "5000000") && openAccount(2, "5000000") && openAccount(3, "300000"),
          "accounts: %s", gErr);
    CHECK(sessOpen(&A, 1) == 0 && sessOpen(&B, 2) == 0 && sessOpen(&C, 3) == 0, "sessions");
    CHECK(rejected(&A, 9, XOE_BUY, XOE_OPEN, px("3800"), 1, 1007), "1007");
    CHECK(rejected(&A, IF, XOE_BUY, XOE_OPEN, px("3800.1"), 1, 1008), "1008 off tick");
    CHECK(rejected(&A, IF, XOE_BUY, XOE_OPEN, px("3000"), 1, 1008), "1008 outside the band");
    /* 9 x 3800 x 300 = 10,260,000 > 10,000,000 */
    CHECK(rejected(&A, IF, XOE_BUY, XOE_OPEN, px("3800"), 9, 1003), "1003");
    /* concentration: 3 orders of 8 (1,094,400 margin each) > 50% of 5,000,000 */
    Ans a1 = order(&A, IF, XOE_BUY, XOE_OPEN, px("3700"), 8, 0);
    Ans a2 = order(&A, IF, XOE_BUY, XOE_OPEN, px("3700"), 8, 0);
    CHECK(a1.type == XOE_MSG_ACCEPTED && a2.type == XOE_MSG_ACCEPTED, "two 8-lot orders");
    CHECK(rejected(&A, IF, XOE_BUY, XOE_OPEN, px("3700"), 8, 1002), "1002");
    /* C has 300,000 and a 100% concentration share: an IC order freezes
     * 134,400, then 2 IF lots (273,600) pass the share but not the money */
    json_decref(ctl("risk.limits", json_pack("{s:s}", "concentration", "100%")));
    settle();
    Ans ic = order(&C, IC, XOE_BUY, XOE_OPEN, px("5600"), 1, 0);
    CHECK(ic.type == XOE_MSG_ACCEPTED, "C's IC order");
    CHECK(rejected(&C, IF, XOE_BUY, XOE_OPEN, px("3800"), 2, 1001), "1001");
    xclCancel(C.s, ic.orderId, 0, NULL);
    CHECK(rejected(&B, IF, XOE_SELL, XOE_CLOSE, px("3800"), 1, 2005), "2005 no long to close");
    CHECK(rejected(&B, IF, XOE_BUY, XOE_CLOSE_TODAY, px("3800"), 1, 2005), "2005 no short");
    json_decref(ctl("account.freeze", json_pack("{s:i}", "account", 2)));
    settle();
    CHECK(rejected(&B, IF, XOE_SELL, XOE_OPEN, px("3800"), 1, 2002), "2002 frozen");
    json_decref(ctl("account.unfreeze", json_pack("{s:i}", "account", 2)));
    settle();
    /* 3003 while suspended */
    json_decref(ctl("instrument.suspend", json_pack("{s:s}", "instrument", "IC2501")));
    CHECK(rejected(&B, IC, XOE_SELL, XOE_OPEN, px("5600"), 1, 3003), "3003 suspended");
    json_decref(ctl("instrument.resume", json_pack("{s:s}", "instrument", "IC2501")));
    Ans r = order(&B, IC, XOE_SELL, XOE_OPEN, px("5600"), 1, 0);
    CHECK(r.type == XOE_MSG_ACCEPTED, "resumed: accepted");
    /* self-trade: A's two resting bids at 3700, A sells into them: the
     * incoming order is cancelled (stp cancel_incoming), reason SELF_TRADE */
    Ans st = order(&A, IF, XOE_SELL, XOE_OPEN, px("3700"), 1, 0);
    xclReport rep;
    while (st.type == XOE_MSG_ACCEPTED && !st.cancelReason && xclPoll(A.s, 3000, &rep) == 1)
        if (rep.type == XOE_MSG_CANCELLED && rep.clOrdId == st.clOrdId)
            st.cancelReason = rep.msg.u.cancelled.reason;
    CHECK(st.cancelReason == XOE_CXL_SELF_TRADE, "self trade: cancelled reason %u",
          st.cancelReason);
    /* cancel everything of A and B */
    xclCancel(A.s, a1.orderId, 0, NULL);
    xclCancel(A.s, a2.orderId, 0, NULL);
    xclCancel(B.s, r.orderId, 0, NULL);
    settle();
    while (xclPoll(A.s, 100, &rep) == 1 || xclPoll(B.s, 0, &rep) == 1)
        ;
    CHECK(acctIs(1, "frozen_margin", "0.0000"), "A's freezes released");
}

static void caseTradeFigures(void)
{
    printf("-- a trade: margin, commission, positions, events\n");
    json_decref(ctl("risk.limits", json_pack("{s:s}", "concentration", "50%")));
    CHECK(ctlConnect(&gSub) == 0, "subscriber connects");
    const char *sub = "{\"id\":1,\"cmd\":\"subscribe\",\"args\":{\"topics\":[\"trade.1\","
                      "\"account.1\",\"position.1\"]}}\n";
    CHECK(write(gSub.fd, sub, strlen(sub)) == (ssize_t)strlen(sub), "subscribe sent");
    json_t *ack = ctlLine(&gSub, 3000);
    CHECK(ack && json_is_true(json_object_get(ack, "ok")), "subscribed");
    json_decref(ack);
    /* B sells 2 IF at 3800.2, A buys them at 3800.4: fills at 3800.2 */
    Ans s = order(&B, IF, XOE_SELL, XOE_OPEN, px("3800.2"), 2, 0);
    Ans b = order(&A, IF, XOE_BUY, XOE_OPEN, px("3800.4"), 2, 1);
    CHECK(s.type == XOE_MSG_ACCEPTED && b.type == XOE_MSG_ACCEPTED && b.executed == 1,
          "trade: %x %x %u", s.type, b.type, b.executed);
    settle();
    /* margin 3800.2 x 2 x 300 x 12% = 273,614.4; commission 3800.2 x 600 x 0.0023% =
     * 52.44276 -> 52.4428 */
    CHECK(acctIs(1, "margin", "273614.4000"), "A margin");
    CHECK(acctIs(1, "commission", "52.4428"), "A commission");
    CHECK(acctIs(2, "margin", "273614.4000"), "B margin");
    json_t *p = ctl("position.list", json_pack("{s:i}", "account", 1));
    json_t *p0 = json_array_get(json_object_get(p, "positions"), 0);
    CHECK(p0 && json_integer_value(json_object_get(p0, "volume_long_today")) == 2 &&
              !strcmp(str(p0, "open_price_long"), "3800.2"),
          "A's position");
    json_decref(p);
    json_t *t = ctl("trade.list", json_pack("{s:i}", "account", 1));
    CHECK(t && json_array_size(json_object_get(t, "trades")) == 1, "trade.list");
    json_decref(t);
    json_t *o = ctl("order.list", json_pack("{s:i, s:s}", "account", 1, "status", "FILLED"));
    CHECK(o && json_array_size(json_object_get(o, "orders")) == 1, "order.list by status");
    json_decref(o);
    json_t *g = ctl("order.get", json_pack("{s:I}", "order_id", (json_int_t)b.orderId));
    CHECK(g && !strcmp(str(g, "status"), "FILLED"), "order.get");
    json_decref(g);
    CHECK(ctlFails("order.get", json_pack("{s:i}", "order_id", 12345), 3001), "3001");
    /* the subscription saw the trade, the position and the account */
    int seen = 0;
    for (json_t *ev; seen != 7 && (ev = ctlLine(&gSub, 2000)) != NULL; json_decref(ev)) {
        const char *topic = str(ev, "event");
        seen |= !strcmp(topic, "trade.1")      ? 1
                : !strcmp(topic, "position.1") ? 2
                : !strcmp(topic, "account.1")  ? 4
                                               : 0;
    }
    CHECK(seen == 7, "events trade/position/account for account 1: %d", seen);
    json_t *ls = ctl("ledger.stats", NULL);
    json_t *lag = json_object_get(ls, "fill_lag");
    CHECK(ls && json_integer_value(json_object_get(lag, "count")) >= 2 &&
              json_integer_value(json_object_get(ls, "mismatches")) == 0,
          "ledger: fills applied, no mismatch");
    printf("     fill-to-account lag p50 %lld ns, p99 %lld ns\n",
           (long long)json_integer_value(json_object_get(lag, "p50_ns")),
           (long long)json_integer_value(json_object_get(lag, "p99_ns")));
    json_decref(ls);
}

static void caseRiskAndLiquidation(void)
{
    printf("-- risk ratio, 1004 and force liquidation\n");
    /* L has 290,000 and buys 2 IF at 3800 from M (margin 273,600: 94%) */
    CHECK(openAccount(11, "290000") && openAccount(12, "50000000"), "accounts");
    CHECK(sessOpen(&L, 11) == 0 && sessOpen(&M, 12) == 0, "sessions");
    json_decref(ctl("risk.limits", json_pack("{s:s}", "concentration", "100%")));
    settle();
    Ans s = order(&M, IF, XOE_SELL, XOE_OPEN, px("3800"), 2, 0);
    Ans b = order(&L, IF, XOE_BUY, XOE_OPEN, px("3800"), 2, 1);
    CHECK(s.type == XOE_MSG_ACCEPTED && b.executed == 1, "L bought 2");
    /* M trades 1 with B at 3790: L loses 2 x 300 x 10 = 6,000 -> 95.9% > 95% */
    Ans m1 = order(&M, IF, XOE_SELL, XOE_OPEN, px("3790"), 1, 0);
    Ans b1 = order(&B, IF, XOE_BUY, XOE_OPEN, px("3790"), 1, 1);
    CHECK(m1.type == XOE_MSG_ACCEPTED && b1.executed == 1, "a trade at 3790");
    settle();
    CHECK(rejected(&L, IF, XOE_BUY, XOE_OPEN, px("3790"), 1, 1004), "1004");
    json_t *ra = ctl("risk.accounts", json_pack("{s:s}", "threshold", "90%"));
    json_t *first = json_array_get(json_object_get(ra, "accounts"), 0);
    CHECK(first && json_integer_value(json_object_get(first, "user_id")) == 11 &&
              !strcmp(str(first, "risk_level"), "high"),
          "risk.accounts: L first, high");
    json_decref(ra);
    /* M bids 3 at 3700; B sells it 1: at 3700 L is at 119%, over the 100%
     * level: the control core closes L's 2 lots at market into M's bid */
    Ans bid = order(&M, IF, XOE_BUY, XOE_OPEN, px("3700"), 3, 0);
    CHECK(bid.type == XOE_MSG_ACCEPTED, "M's bid");
    Ans b2 = order(&B, IF, XOE_SELL, XOE_OPEN, px("3700"), 1, 1);
    CHECK(b2.executed == 1, "a trade at 3700");
    int closed = 0;
    for (int i = 0; i < 30 && !closed; i++) {
        settle();
        json_t *pl = ctl("position.list", json_pack("{s:i}", "account", 11));
        closed = pl && json_array_size(json_object_get(pl, "positions")) == 0;
        json_decref(pl);
    }
    CHECK(closed, "L's position was force-closed");
    json_t *lq = ctl("risk.liquidations", json_pack("{s:i}", "account", 11));
    CHECK(lq && json_array_size(json_object_get(lq, "liquidations")) >= 1,
          "risk.liquidations has L's record");
    json_decref(lq);
    json_decref(ctl("risk.limits", json_pack("{s:s}", "concentration", "50%")));
}

/* instrument.update of the price limits: the next order meets the new band */
static void caseLimitUpdate(void)
{
    printf("-- price limits changed at run time\n");
    /* IF: pre-settlement 3800, 10%: 3420..4180; 5% makes it 3610..3990 */
    json_t *u = ctl("instrument.update", json_pack("{s:s, s:s, s:s}", "instrument", "IF2501",
                                                   "limit_up", "5%", "limit_down", "5%"));
    CHECK(u && !strcmp(str(u, "upper_limit"), "3990.0") && !strcmp(str(u, "lower_limit"), "3610.0"),
          "limits 5%%: %s..%s", u ? str(u, "lower_limit") : gErr, u ? str(u, "upper_limit") : "");
    json_decref(u);
    CHECK(rejected(&A, IF, XOE_BUY, XOE_OPEN, px("4000"), 1, 1008),
          "4000 over the new limit: 1008");
    CHECK(rejected(&A, IF, XOE_BUY, XOE_OPEN, px("3600"), 1, 1008), "3600 under it: 1008");
    Ans in = order(&A, IF, XOE_BUY, XOE_OPEN, px("3610"), 1, 0);
    CHECK(in.type == XOE_MSG_ACCEPTED, "3610 inside: accepted (type 0x%x code %u)", in.type,
          in.code);
    /* wider than the band the book was made for: refused, nothing changed */
    CHECK(ctlFails("instrument.update",
                   json_pack("{s:s, s:s}", "instrument", "IF2501", "limit_up", "20%"), 1008) &&
              strstr(gErr, "band") != NULL,
          "20%%: 1008: %s", gErr);
    CHECK(rejected(&A, IF, XOE_BUY, XOE_OPEN, px("4000"), 1, 1008), "still 3990 at most");
    CHECK(ctlFails("instrument.update",
                   json_pack("{s:s, s:s}", "instrument", "IF2501", "limit_down", "x"), 1008),
          "a bad rate: 1008");
    u = ctl("instrument.update", json_pack("{s:s, s:s, s:s}", "instrument", "IF2501", "limit_up",
                                           "10%", "limit_down", "10%"));
    CHECK(u && !strcmp(str(u, "upper_limit"), "4180.0"), "back to 10%%");
    json_decref(u);
    Ans back = order(&A, IF, XOE_BUY, XOE_OPEN, px("3600"), 1, 0);
    CHECK(back.type == XOE_MSG_ACCEPTED, "3600 accepted again (type 0x%x code %u)", back.type,
          back.code);
    xclCancel(A.s, in.orderId, 0, NULL);
    xclCancel(A.s, back.orderId, 0, NULL);
    settle();
    xclReport rep;
    while (xclPoll(A.s, 100, &rep) == 1)
        ;
}

static void caseInstrumentsAndSettlement(void)
{
    printf("-- instruments and settlement\n");
    CHECK(ctlFails("instrument.update",
                   json_pack("{s:s, s:s}", "instrument", "XX", "margin_rate", "10%"), 1007),
          "1007");
    CHECK(ctlFails("instrument.update",
                   json_pack("{s:s, s:s}", "instrument", "IH2501", "margin_rate", "0%"), 1008),
          "1008 margin 0");
    json_t *u = ctl("instrument.update",
                    json_pack("{s:s, s:s}", "instrument", "IH2501", "margin_rate", "15%"));
    CHECK(u && !strcmp(str(u, "margin_rate"), "0.15"), "update: %s",
          u ? str(u, "margin_rate") : gErr);
    json_decref(u);
    CHECK(ctlFails("instrument.delist", json_pack("{s:s}", "instrument", "IF2501"), 1008) &&
              strstr(gErr, "Accounts: 1, 2") != NULL,
          "delist refused naming holders: %s", gErr);
    json_t *dl = ctl("instrument.delist", json_pack("{s:s}", "instrument", "IH2501"));
    CHECK(dl && !strcmp(str(dl, "status"), "Delisted"), "IH delisted");
    json_decref(dl);
    CHECK(ctlFails("settlement.run", json_pack("{s:i}", "date", 20300101), 6001), "6001: %d %s",
          gErrCode, gErr);
    CHECK(ctlFails("settlement.set_price",
                   json_pack("{s:s, s:s}", "instrument", "IF2501", "price", "3800.1"), 1008),
          "set_price off tick");
    json_t *sp =
        ctl("settlement.set_prices", json_pack("{s:{s:s, s:s, s:s}}", "prices", "IF2501", "3790.0",
                                               "IC2501", "5600.0", "cu2501", "75230"));
    CHECK(sp != NULL, "set_prices: %s", gErr);
    json_decref(sp);
    json_t *r = ctl("settlement.run", json_pack("{s:i}", "date", 20300101));
    CHECK(r && json_integer_value(json_object_get(r, "settled_accounts")) >= 6, "settled: %s",
          r ? "" : gErr);
    json_decref(r);
    CHECK(ctlFails("settlement.run", json_pack("{s:i}", "date", 20300101), 6002), "6002");
    json_t *det = ctl("settlement.detail", json_pack("{s:i}", "date", 20300101));
    CHECK(det && json_array_size(json_object_get(det, "accounts")) >= 6, "settlement.detail");
    json_decref(det);
    json_t *h = ctl("settlement.history", NULL);
    CHECK(h && json_array_size(json_object_get(h, "settlements")) == 1, "settlement.history");
    json_decref(h);
    /* A's 2 lots are yesterday's now: position price 3790, marked */
    CHECK(acctIs(1, "position_profit", "0.0000"), "A marked at the settlement price");
    for (int i = 0; i < 4; i++)
        if (i != 2)
            json_decref(ctl("instrument.state", json_pack("{s:s, s:s}", "instrument",
                                                          i == 0   ? "IF2501"
                                                          : i == 1 ? "IC2501"
                                                                   : "cu2501",
                                                          "state", "continuous")));
    CHECK(rejected(&A, IF, XOE_SELL, XOE_CLOSE_TODAY, px("3790"), 1, 2005),
          "CLOSETODAY after the roll: 2005");
    Ans ok = order(&A, IF, XOE_SELL, XOE_CLOSE_YESTERDAY, px("3790"), 1, 0);
    CHECK(ok.type == XOE_MSG_ACCEPTED, "CLOSEYESTERDAY accepted");
}

/* ---- two segments (--two-segments) -------------------------------------------------------- */

/* A session on the segment whose order port is `port`. On one af_packet port
 * with two queues the kernel spreads flows by hash: a flow that lands on
 * the other segment's queue is dropped there (not its order port), so the
 * logon is tried again from another local UDP port. */
static int sessOpenOn(Sess *x, uint32_t account, int segment, uint16_t port)
{
    x->account = account;
    json_t *d = ctl("session.add", json_pack("{s:i, s:i, s:s}", "account", (int)account, "segment",
                                             segment, "source", "any"));
    if (!d)
        return -1;
    uint8_t token[XOE_TOKEN_SIZE];
    uint32_t id = (uint32_t)json_integer_value(json_object_get(d, "session_id"));
    int rc = xclTokenParse(str(d, "token"), token);
    json_decref(d);
    for (int attempt = 0; rc == 0 && attempt < 24; attempt++) {
        char err[200];
        xclOptions o = {.localIp = gLocal};
        x->s = xclOpen(gServer, port, id, token, &o, err, sizeof err);
        if (x->s && xclLogon(x->s, 60000, 400) == XCL_OK)
            return 0;
        xclClose(x->s);
        x->s = NULL;
    }
    return -1;
}

static json_int_t ledgerStat(const char *key)
{
    json_t *ls = ctl("ledger.stats", NULL);
    json_int_t v = ls ? json_integer_value(json_object_get(ls, key)) : -1;
    json_decref(ls);
    return v;
}

/* An account trading on both segments: an order one line cannot cover
 * while the account has the money goes through, the control core
 * reclaiming the difference from the other segment's idle line. The
 * config (tests/integration/segments.sh): IF on segment 0, IC on segment 1,
 * concentration 100%. */
static void caseTwoSegments(void)
{
    printf("-- one account on two segments\n");
    Sess s0, s1;
    CHECK(openAccount(21, "400000"), "account 21: %s", gErr);
    CHECK(sessOpenOn(&s0, 21, 0, 9000) == 0, "session on segment 0");
    CHECK(sessOpenOn(&s1, 21, 1, 9010) == 0, "session on segment 1");
    if (!s0.s || !s1.s)
        return;
    settle();
    /* lines 200,000 + 200,000; 2 IF at 3800 need 273,600 + 52.44 */
    Ans a = order(&s0, 0, XOE_BUY, XOE_OPEN, px("3800"), 2, 0);
    CHECK(a.type == XOE_MSG_ACCEPTED,
          "2 IF on segment 0 over its half: accepted (type 0x%x code %u)", a.type, a.code);
    settle();
    CHECK(acctIs(21, "frozen_margin", "273600.0000"), "frozen margin 273,600");
    CHECK(acctIs(21, "available", "126347.5600"), "available 126,347.56");
    CHECK(ledgerStat("topup_reclaims") >= 1, "the top-up reclaimed from segment 1");
    /* 1 IC at 5600 on segment 1: 134,400 + 25.76 > 126,347.56: 1001 */
    CHECK(rejected(&s1, 0, XOE_BUY, XOE_OPEN, px("5600"), 1, 1001),
          "IC over what the account has: 1001");
    json_decref(ctl("account.deposit", json_pack("{s:i, s:s}", "account", 21, "amount", "10000")));
    settle();
    const json_int_t before = ledgerStat("topup_reclaims");
    Ans b = order(&s1, 0, XOE_BUY, XOE_OPEN, px("5600"), 1, 0);
    CHECK(b.type == XOE_MSG_ACCEPTED, "after a deposit: accepted on segment 1 (type 0x%x code %u)",
          b.type, b.code);
    settle();
    CHECK(ledgerStat("topup_reclaims") > before, "reclaimed from segment 0 this time");
    CHECK(acctIs(21, "frozen_margin", "408000.0000"), "frozen margin 408,000");
    CHECK(ledgerStat("mismatches") == 0, "no mismatch between the workers and the control core");
    xclCancel(s0.s, a.orderId, 0, NULL);
    xclCancel(s1.s, b.orderId, 0, NULL);
    settle();
    CHECK(acctIs(21, "available", "410000.0000"), "cancels give everything back");
    xclClose(s0.s);
    xclClose(s1.s);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"server", required_argument, NULL, 's'}, {"port", required_argument, NULL, 'p'},
        {"ctl", required_argument, NULL, 'c'},    {"local", required_argument, NULL, 'l'},
        {"two-segments", no_argument, NULL, '2'}, {NULL, 0, NULL, 0}};
    int c, two = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 's')
            gServer = optarg;
        else if (c == 'p')
            gPort = (uint16_t)atoi(optarg);
        else if (c == 'c')
            gCtlPath = optarg;
        else if (c == 'l')
            gLocal = optarg;
        else if (c == '2')
            two = 1;
        else
            return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (!gCtlPath || ctlConnect(&gCtl) != 0) {
        printf("itest: cannot connect to the control socket\nitest: summary 0 passed, 1 failed\n");
        return 1;
    }
    if (two) {
        caseTwoSegments();
        printf("itest: summary %d passed, %d failed\n", gPass, gFail);
        return gFail ? 1 : 0;
    }
    caseAccountsOnTheSocket();
    caseWireCodes();
    caseTradeFigures();
    caseRiskAndLiquidation();
    caseLimitUpdate();
    caseInstrumentsAndSettlement();
    printf("itest: summary %d passed, %d failed\n", gPass, gFail);
    return gFail ? 1 : 0;
}
