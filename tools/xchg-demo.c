/* xchg-demo.c -- live demo of xchgd over XOE: two sessions trade with each other.
 *
 * Usage:
 *   xchg-demo --server IP [--port N] --session ID:TOKENHEX --session ID:TOKENHEX
 *             [--instrument N] [--price DEC] [--tick DEC] [--timeout-ms N]
 *
 * Logs on both sessions (A and B, which should belong to different
 * accounts), then:
 *   1. A sells 3 lots at PRICE (rests);
 *   2. B buys 5 lots at PRICE: 3 trade with A's order (B taker, A maker),
 *      2 stay open;
 *   3. B replaces its order: one tick lower, total 4 lots (1 open);
 *   4. B cancels the rest;
 *   5. B cancels again: refused, the order is gone (CancelRejected 3002);
 * and logs both out. Every report is printed as it arrives, with decimal
 * prices. Exit status 0 when every expected report arrived with the
 * expected contents within --timeout-ms per step (default 5000); 1 with a
 * message saying what was missing or wrong otherwise; 2 for a usage error.
 *
 * The instrument (index in the segment, default 0) must be in continuous
 * trading and PRICE (default 3800) inside its price band and on its tick
 * (--tick, default 0.2). The book should hold no other orders at PRICE or
 * better, or the fills will not be against A's order. */
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xchg/client.h"

#define DEMO_LOG 128

typedef struct {
    const char *name;
    uint32_t id;
    uint8_t token[XOE_TOKEN_SIZE];
    xclSession *s;
    xclReport log[DEMO_LOG]; /* reports received and not yet consumed by an expectation */
    int used[DEMO_LOG];
    int n;
} demoSession;

static int demoTimeoutMs = 5000;
static unsigned demoReports;

static void demoFail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void demoFail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("xchg-demo: FAILED: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static const char *demoHint(unsigned code)
{
    switch (code) {
    case XOE_CODE_STATE:
        return " (is the instrument open for continuous trading?)";
    case XOE_CODE_INVALID_PARAMS:
        return " (is --price on the instrument's tick and inside its price band?)";
    case XOE_CODE_UNKNOWN_INSTRUMENT:
        return " (check --instrument: the index of the instrument in the segment)";
    case XOE_CODE_INSUFFICIENT_FUNDS:
        return " (deposit money into the session's account)";
    case XOE_CODE_ACCOUNT_FROZEN:
        return " (the account is frozen)";
    default:
        return "";
    }
}

/* Prints a report and stops the demo on anything that means the scenario
 * cannot go on. */
static void demoCheck(demoSession *d, const xclReport *r, int wantType)
{
    char line[320];
    xclReportFormat(r, line, sizeof line);
    printf("  [%s] %s\n", d->name, line);
    fflush(stdout);
    demoReports++;
    if (r->type == wantType)
        return;
    switch (r->type) {
    case XOE_MSG_REJECTED:
        demoFail("session %s: order %" PRIu64 " rejected: %u %s%s", d->name, r->clOrdId,
                 r->msg.u.rejected.code, xclCodeName(r->msg.u.rejected.code),
                 demoHint(r->msg.u.rejected.code));
    case XOE_MSG_CANCEL_REJECTED:
        demoFail("session %s: request %" PRIu64 " refused: %u %s%s", d->name, r->clOrdId,
                 r->msg.u.cancelRejected.code, xclCodeName(r->msg.u.cancelRejected.code),
                 demoHint(r->msg.u.cancelRejected.code));
    case XOE_MSG_CANCELLED:
        if (r->msg.u.cancelled.reason == XOE_CXL_SELF_TRADE)
            demoFail("session %s: order cancelled by self-trade prevention: the two sessions "
                     "must belong to different accounts",
                     d->name);
        return;
    case XOE_MSG_LOGGED_OUT:
    case XOE_MSG_SESSION_REJECT:
    case XCL_RPT_SESSION_LOST:
        demoFail("session %s: %s", d->name, line);
    default:
        return;
    }
}

/* Waits for a report of `type` for `clOrdId` on d (reports that arrived
 * earlier included), keeping d's other reports and the other session
 * serviced. */
static xclReport demoExpect(demoSession *d, demoSession *other, int type, uint64_t clOrdId,
                            const char *what)
{
    for (int waited = 0;; waited += 20) {
        for (int i = 0; i < d->n; i++) {
            if (!d->used[i] && d->log[i].type == type && d->log[i].clOrdId == clOrdId) {
                d->used[i] = 1;
                return d->log[i];
            }
        }
        if (waited >= demoTimeoutMs)
            demoFail("session %s: no %s within %d ms (%s)", d->name, what, demoTimeoutMs,
                     xclLastError(d->s)[0] ? xclLastError(d->s) : "no error reported");
        xclReport r;
        int rc;
        while ((rc = xclPoll(d->s, 20, &r)) == 1) {
            demoCheck(d, &r, type);
            if (d->n == DEMO_LOG)
                demoFail("session %s: too many reports", d->name);
            d->used[d->n] = 0;
            d->log[d->n++] = r;
            if (r.type == type && r.clOrdId == clOrdId)
                break;
        }
        if (rc < 0)
            demoFail("session %s: %s", d->name, xclLastError(d->s));
        if (other->s && xclService(other->s) < 0)
            demoFail("session %s: %s", other->name, xclLastError(other->s));
    }
}

static void demoPrice(int64_t p, char *buf)
{
    xclPriceFormat(p, buf, XCL_PRICE_STRLEN);
}

static void demoWant(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void demoWant(int ok, const char *fmt, ...)
{
    if (ok)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    demoFail("%s", msg);
}

static void usage(void)
{
    fprintf(stderr,
            "usage: xchg-demo --server IP [--port N] --session ID:TOKENHEX --session ID:TOKENHEX\n"
            "                 [--instrument N] [--price DEC] [--tick DEC] [--timeout-ms N]\n");
}

int main(int argc, char **argv)
{
    const char *server = NULL;
    unsigned long port = 9000;
    uint16_t instrument = 0;
    int64_t price = 38000000, tick = 2000; /* 3800, 0.2 */
    demoSession a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    a.name = "A";
    b.name = "B";
    int nsess = 0;
    static const struct option opts[] = {{"server", required_argument, NULL, 's'},
                                         {"port", required_argument, NULL, 'p'},
                                         {"session", required_argument, NULL, 'S'},
                                         {"instrument", required_argument, NULL, 'i'},
                                         {"price", required_argument, NULL, 'P'},
                                         {"tick", required_argument, NULL, 't'},
                                         {"timeout-ms", required_argument, NULL, 'T'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            server = optarg;
            break;
        case 'p':
            port = strtoul(optarg, NULL, 10);
            break;
        case 'S': {
            demoSession *d = nsess == 0 ? &a : &b;
            if (nsess == 2 || xclSessionParse(optarg, &d->id, d->token) != XCL_OK) {
                fprintf(stderr, "--session: want ID:TOKENHEX (32 hex digits), twice\n");
                return 2;
            }
            nsess++;
            break;
        }
        case 'i':
            instrument = (uint16_t)strtoul(optarg, NULL, 10);
            break;
        case 'P':
        case 't': {
            int64_t *v = c == 'P' ? &price : &tick;
            const int rc = xclPriceParse(optarg, v);
            if (rc != XCL_OK || *v <= 0) {
                fprintf(stderr, "--%s %s: %s\n", c == 'P' ? "price" : "tick", optarg,
                        rc != XCL_OK ? xclStrerror(rc) : "must be positive");
                return 2;
            }
            break;
        }
        case 'T':
            demoTimeoutMs = (int)strtol(optarg, NULL, 10);
            break;
        default:
            usage();
            return c == 'h' ? 0 : 2;
        }
    }
    if (server == NULL || nsess != 2 || port == 0 || port > 65535 || demoTimeoutMs <= 0 ||
        price - tick <= 0) {
        usage();
        return 2;
    }
    if (a.id == b.id)
        fprintf(stderr, "xchg-demo: warning: both sessions are %" PRIu32 "\n", a.id);

    char err[256], p0[XCL_PRICE_STRLEN], p1[XCL_PRICE_STRLEN];
    demoSession *all[2] = {&a, &b};
    for (int i = 0; i < 2; i++) {
        demoSession *d = all[i];
        d->s = xclOpen(server, (uint16_t)port, d->id, d->token, NULL, err, sizeof err);
        if (d->s == NULL)
            demoFail("session %s: %s", d->name, err);
        if (xclLogon(d->s, 1000, demoTimeoutMs) != XCL_OK)
            demoFail("session %s (%" PRIu32 "): %s", d->name, d->id, xclLastError(d->s));
        xclInfo info;
        xclGetInfo(d->s, &info);
        printf("[%s] logged on: session %" PRIu32 " segment %u trading day %" PRIu32
               " next numbers in %" PRIu64 " out %" PRIu64 "\n",
               d->name, d->id, info.segment, info.tradingDay, info.nextInSeq, info.nextOutSeq);
    }
    demoPrice(price, p0);
    demoPrice(price - tick, p1);

    /* 1. A sells 3 at PRICE: it rests. */
    printf("1. A sells 3 @ %s\n", p0);
    xclOrder o;
    memset(&o, 0, sizeof o);
    o.instrument = instrument;
    o.side = XOE_SELL;
    o.price = price;
    o.qty = 3;
    uint64_t clA = 0, clB = 0, clB2 = 0, clB3 = 0, clB4 = 0;
    if (xclNewOrder(a.s, &o, &clA) != XCL_OK)
        demoFail("A NewOrder: %s", xclLastError(a.s));
    xclReport r = demoExpect(&a, &b, XOE_MSG_ACCEPTED, clA, "Accepted for A's sell");
    const uint64_t oidA = r.msg.u.accepted.orderId;

    /* 2. B buys 5 at PRICE: 3 fill against A, 2 rest. */
    printf("2. B buys 5 @ %s: 3 trade with A, 2 stay open\n", p0);
    o.side = XOE_BUY;
    o.qty = 5;
    if (xclNewOrder(b.s, &o, &clB) != XCL_OK)
        demoFail("B NewOrder: %s", xclLastError(b.s));
    r = demoExpect(&b, &a, XOE_MSG_ACCEPTED, clB, "Accepted for B's buy");
    const uint64_t oidB = r.msg.u.accepted.orderId;
    const xclReport fb = demoExpect(&b, &a, XOE_MSG_EXECUTED, clB, "Executed for B's buy");
    const xclReport fa = demoExpect(&a, &b, XOE_MSG_EXECUTED, clA, "Executed for A's sell");
    demoWant(fb.msg.u.executed.orderId == oidB && fb.msg.u.executed.qty == 3 &&
                 fb.msg.u.executed.price == price && fb.msg.u.executed.leaves == 2 &&
                 fb.msg.u.executed.liquidity == XOE_TAKER,
             "B's fill is not 3 @ %s with 2 left as taker (other orders in the book?)", p0);
    demoWant(fa.msg.u.executed.orderId == oidA && fa.msg.u.executed.qty == 3 &&
                 fa.msg.u.executed.price == price && fa.msg.u.executed.leaves == 0 &&
                 fa.msg.u.executed.liquidity == XOE_MAKER,
             "A's fill is not 3 @ %s, done, as maker", p0);
    demoWant(fa.msg.u.executed.tradeId == fb.msg.u.executed.tradeId,
             "the two sides carry different trade ids");

    /* 3. B replaces the rest: one tick lower, total 4 (1 open). */
    printf("3. B replaces its order: %s, total 4 lots (3 filled, 1 open)\n", p1);
    if (xclReplace(b.s, oidB, price - tick, 4, 0, &clB2) != XCL_OK)
        demoFail("B Replace: %s", xclLastError(b.s));
    r = demoExpect(&b, &a, XOE_MSG_REPLACED, clB2, "Replaced");
    demoWant(r.msg.u.replaced.orderId == oidB && r.msg.u.replaced.price == price - tick &&
                 r.msg.u.replaced.qty == 4 && r.msg.u.replaced.leaves == 1,
             "Replaced is not %s total 4 leaves 1", p1);

    /* 4. B cancels the rest. */
    printf("4. B cancels the rest\n");
    if (xclCancel(b.s, oidB, 0, &clB3) != XCL_OK)
        demoFail("B Cancel: %s", xclLastError(b.s));
    r = demoExpect(&b, &a, XOE_MSG_CANCELLED, clB2, "Cancelled"); /* the order's id */
    demoWant(r.msg.u.cancelled.orderId == oidB && r.msg.u.cancelled.qty == 1 &&
                 r.msg.u.cancelled.reason == XOE_CXL_USER,
             "Cancelled is not 1 lot, reason USER");

    /* 5. B cancels again: refused. */
    printf("5. B cancels again: refused, the order is finished\n");
    if (xclCancel(b.s, oidB, 0, &clB4) != XCL_OK)
        demoFail("B Cancel: %s", xclLastError(b.s));
    r = demoExpect(&b, &a, XOE_MSG_CANCEL_REJECTED, clB4, "CancelRejected");
    demoWant(r.msg.u.cancelRejected.code == XOE_CODE_NOT_CANCELLABLE ||
                 r.msg.u.cancelRejected.code == XOE_CODE_ORDER_NOT_FOUND,
             "CancelRejected code %u, expected 3002 or 3001", r.msg.u.cancelRejected.code);

    for (int i = 0; i < 2; i++) {
        demoSession *d = all[i];
        if (xclLogout(d->s, demoTimeoutMs) != XCL_OK)
            demoFail("session %s: logout: %s", d->name, xclLastError(d->s));
        xclReport lo;
        while (xclPoll(d->s, 0, &lo) == 1)
            demoCheck(d, &lo, XOE_MSG_LOGGED_OUT);
        xclClose(d->s);
    }
    printf("xchg-demo: OK: %u reports; trade 0x%016" PRIx64 " of 3 @ %s between sessions %" PRIu32
           " and %" PRIu32 "\n",
           demoReports, fa.msg.u.executed.tradeId, p0, a.id, b.id);
    return 0;
}
