/* itest_md.c -- integration test of the summary market data of the real xchgd.
 *
 * tests/integration/md.sh starts xchgd on a veth pair (config with
 * market_data.trading_day_start "00:00", utc_offset "+00:00", and IF2501's
 * pre_close "3780.0"), creates two sessions and runs this program inside the
 * namespace:
 *
 *   itest_md --server IP --port N --ctl SOCKET --local IP --group IP --md-port N
 *            --session A:ACCOUNT:ID:TOKENHEX --session B:ACCOUNT:ID:TOKENHEX
 *
 * It joins the summary channel's multicast group, crosses nine script orders
 * of IF2501 (five trades) through libxchg-client, then checks against values
 * computed by hand from the script:
 *   - md.snapshot: the 35 fields (last, change, change %, pre-close, open,
 *     high, low, volume, turnover, open interest, limits, 5 levels, day);
 *   - md.klines: the day bar exactly; 3s and 1m bars aligned on their period,
 *     adding up to the day's volume, open/close of the first/last trade;
 *     errors for a bad period, count 0 and 1001, an unknown instrument;
 *   - md.daily: vwap, trades, open interest;
 *   - the summary channel: MoldUDP64 packets of session YYYYMMDD"SM" with
 *     contiguous sequence numbers, a snapshot message decoding to the same
 *     values as md.snapshot, and finished 3s K-line messages adding up to
 *     the traded volume.
 * Prints "ok"/"FAIL" per check and "itest-md: summary P passed, F failed";
 * exits 0 only when all passed. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "control/mdsummary.h"
#include "xchg/client.h"
#include "xchg/itch.h"
#include "xchg/xoe.h"

static struct {
    const char *server, *ctlPath, *local, *group;
    uint16_t port, mdPort;
    uint32_t ids[2];
    uint8_t tokens[2][XOE_TOKEN_SIZE];
    int sessions;
} opt = {.port = 9000, .mdPort = 9200};

static int gPass, gFail;

static void check(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void check(int ok, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("%s ", ok ? "ok  " : "FAIL");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    fflush(stdout);
    ok ? gPass++ : gFail++;
}

static uint64_t nowNs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* ---- control socket ------------------------------------------------------------------ */

static int gCtl = -1;
static char gBuf[1 << 20];
static size_t gLen;
static int gLastCode;

/* One request; the answer's data (new reference), or NULL with gLastCode
 * set to the error code (-1: transport). args is stolen. */
static json_t *ctl(const char *cmd, json_t *args)
{
    static unsigned id;
    gLastCode = -1;
    json_t *req = json_pack("{s:I, s:s, s:o}", "id", (json_int_t)++id, "cmd", cmd, "args",
                            args ? args : json_object());
    char *line = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    if (!line)
        return NULL;
    size_t len = strlen(line);
    line[len++] = '\n';
    int ok = write(gCtl, line, len) == (ssize_t)len;
    free(line);
    char *nl;
    while (ok && !(nl = memchr(gBuf, '\n', gLen))) {
        struct pollfd p = {gCtl, POLLIN, 0};
        ssize_t n = gLen < sizeof gBuf && poll(&p, 1, 5000) == 1
                        ? read(gCtl, gBuf + gLen, sizeof gBuf - gLen)
                        : -1;
        if (n <= 0)
            return NULL;
        gLen += (size_t)n;
    }
    if (!ok)
        return NULL;
    json_t *ans = json_loadb(gBuf, (size_t)(nl - gBuf), 0, NULL);
    const size_t used = (size_t)(nl - gBuf) + 1;
    memmove(gBuf, gBuf + used, gLen - used);
    gLen -= used;
    json_t *data = NULL;
    if (ans && json_is_true(json_object_get(ans, "ok")))
        data = json_incref(json_object_get(ans, "data"));
    else if (ans)
        gLastCode = (int)json_integer_value(json_object_get(json_object_get(ans, "error"), "code"));
    json_decref(ans);
    return data;
}

static int ctlOpen(void)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if (strlen(opt.ctlPath) >= sizeof a.sun_path)
        return -1;
    strcpy(a.sun_path, opt.ctlPath);
    gCtl = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    return gCtl >= 0 && connect(gCtl, (struct sockaddr *)&a, sizeof a) == 0 ? 0 : -1;
}

static int strIs(const json_t *o, const char *key, const char *want)
{
    const char *v = json_string_value(json_object_get(o, key));
    if (!v || strcmp(v, want) != 0) {
        printf("     %s: got %s, want %s\n", key, v ? v : "(not a string)", want);
        return 0;
    }
    return 1;
}

static int intIs(const json_t *o, const char *key, long long want)
{
    const json_t *v = json_object_get(o, key);
    if (!json_is_integer(v) || json_integer_value(v) != want) {
        printf("     %s: got %lld, want %lld\n", key, (long long)json_integer_value(v), want);
        return 0;
    }
    return 1;
}

/* ---- the summary channel ------------------------------------------------------------------ */

typedef struct {
    int fd;
    uint64_t packets, messages, gaps, nextSeq;
    char session[MOLD_SESSION_LEN + 1];
    mdsSnapshot lastSnap; /* of IF2501 */
    int haveSnap;
    uint64_t vol3s; /* volume of IF2501's finished 3s K-lines */
    int bars3s, badLen;
} mdRx;

static int mdOpen(mdRx *r)
{
    memset(r, 0, sizeof *r);
    r->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(r->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(opt.mdPort)};
    inet_pton(AF_INET, opt.group, &a.sin_addr);
    struct ip_mreq m;
    inet_pton(AF_INET, opt.group, &m.imr_multiaddr);
    inet_pton(AF_INET, opt.local, &m.imr_interface);
    if (r->fd < 0 || bind(r->fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        setsockopt(r->fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &m, sizeof m) != 0) {
        printf("     summary channel socket: %s\n", strerror(errno));
        return -1;
    }
    return 0;
}

static void mdPacket(mdRx *r, const uint8_t *p, size_t len)
{
    if (len < MOLD_HEADER_SIZE) {
        r->badLen++;
        return;
    }
    r->packets++;
    char session[MOLD_SESSION_LEN + 1] = {0};
    memcpy(session, p, MOLD_SESSION_LEN);
    const uint64_t seq = itchGet64(p + MOLD_OFF_SEQUENCE);
    const uint16_t count = itchGet16(p + MOLD_OFF_COUNT);
    if (strcmp(session, r->session) != 0) { /* first packet or a new day */
        memcpy(r->session, session, sizeof session);
        r->nextSeq = seq;
    }
    if (seq != r->nextSeq)
        r->gaps++;
    r->nextSeq = seq + count;
    size_t off = MOLD_HEADER_SIZE;
    for (uint16_t i = 0; i < count; i++) {
        if (off + 2 > len || off + 2 + itchGet16(p + off) > len) {
            r->badLen++;
            return;
        }
        const uint16_t ml = itchGet16(p + off);
        mdsWireMsg m;
        if (mdsDecode(p + off + 2, ml, &m) != 0) {
            r->badLen++;
        } else if (strcmp(m.stock, "IF2501") == 0) {
            if (m.type == MDS_MSG_SNAPSHOT) {
                r->lastSnap = m.u.snapshot;
                r->haveSnap = 1;
            } else if (m.type == MDS_MSG_KLINE && m.u.bar.period == MDS_3S) {
                r->vol3s += m.u.bar.volume;
                r->bars3s++;
            }
        }
        r->messages++;
        off += 2u + ml;
    }
}

/* Reads what arrived, waiting up to ms for the first packet. */
static void mdRead(mdRx *r, int ms)
{
    uint8_t buf[2048];
    struct pollfd p = {r->fd, POLLIN, 0};
    while (poll(&p, 1, ms) == 1) {
        ssize_t n = recv(r->fd, buf, sizeof buf, 0);
        if (n <= 0)
            break;
        mdPacket(r, buf, (size_t)n);
        ms = 0;
    }
}

/* ---- orders ---------------------------------------------------------------------------------- */

#define PX(whole) ((int64_t)(whole)*10000)

/* The resting side's fill reports arrive on the other session: drain them. */
static void drain(xclSession *s)
{
    xclReport rep;
    while (xclPoll(s, 50, &rep) == 1)
        ;
}

/* Sends an order and reads reports until its answer and fills settle; then
 * drains the other session, so neither holds stale reports. Returns the
 * fills, -1 if not accepted. */
static int order(xclSession *s, xclSession *other, uint8_t side, uint8_t offset, int64_t price,
                 uint32_t qty, int expectFills)
{
    xclOrder o = {.instrument = 0, .side = side, .offset = offset, .price = price, .qty = qty};
    if (xclNewOrder(s, &o, NULL) != XCL_OK)
        return -1;
    int accepted = 0, fills = 0;
    xclReport rep;
    const uint64_t deadline = nowNs() + 3000000000ULL;
    while ((!accepted || fills < expectFills) && nowNs() < deadline) {
        if (xclPoll(s, 100, &rep) != 1)
            continue;
        if (rep.type == XOE_MSG_ACCEPTED)
            accepted = 1;
        else if (rep.type == XOE_MSG_EXECUTED)
            fills++;
        else if (rep.type == XOE_MSG_REJECTED)
            break;
    }
    drain(other);
    return accepted ? fills : -1;
}

/* ---- checks ---------------------------------------------------------------------------------- */

/* Trading day with trading_day_start "00:00" and utc_offset "+00:00": the
 * UTC date, Saturday and Sunday moved on to Monday (computed with gmtime,
 * not the library). */
static long long expectedDay(void)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    if (tm.tm_wday == 6 || tm.tm_wday == 0) {
        t += (tm.tm_wday == 6 ? 2 : 1) * 86400;
        gmtime_r(&t, &tm);
    }
    return (tm.tm_year + 1900) * 10000LL + (tm.tm_mon + 1) * 100 + tm.tm_mday;
}

/* The script's hand-computed results (IF2501: tick 0.2, x300, pre_close
 * 3780.0, band 3420.0 .. 4180.0 from pre_settlement 3800.0):
 *   trades 2@3800.0 (open/open, OI +2), 3@3800.0 (close/open, 0),
 *          1@3790.0 (close/close, OI -1), 1@3802.0 (open/close-today, 0),
 *          2@3802.0 (open/close, 0)
 *   volume 9, open 3800.0, high 3802.0, low 3790.0, last 3802.0, OI 1
 *   turnover (3800x5 + 3790 + 3802x3) x 300 = 34196 x 300 = 10258800.00
 *   change 3802.0 - 3780.0 = 22.0, change % 22/3780 = 0.58201% -> 0.5820
 *   vwap 10258800 / 2700 = 3799.5555...(rounded down to 4 decimals)
 *   book: bids 1@3802.0 (A), 1@3795.0 (B); asks 2@3806.0 (A) */
static void checkSnapshotJson(const json_t *s, long long day)
{
    check(s != NULL, "md.snapshot instrument=IF2501 answers");
    if (!s)
        return;
    check(strIs(s, "instrument_id", "IF2501") && intIs(s, "trading_day", day) &&
              strIs(s, "last_price", "3802.0") && strIs(s, "pre_close", "3780.0") &&
              strIs(s, "change_amount", "22.0") && strIs(s, "change_percent", "0.5820"),
          "md.snapshot: last 3802.0, pre_close 3780.0, change 22.0, change %% 0.5820, day %lld",
          day);
    check(strIs(s, "open", "3800.0") && strIs(s, "high", "3802.0") && strIs(s, "low", "3790.0") &&
              intIs(s, "volume", 9) && strIs(s, "turnover", "10258800.00") &&
              intIs(s, "open_interest", 1),
          "md.snapshot: open/high/low 3800.0/3802.0/3790.0, volume 9, turnover 10258800.00, OI 1");
    check(strIs(s, "upper_limit", "4180.0") && strIs(s, "lower_limit", "3420.0"),
          "md.snapshot: limits 4180.0 / 3420.0");
    check(strIs(s, "bid_price1", "3802.0") && intIs(s, "bid_volume1", 1) &&
              strIs(s, "bid_price2", "3795.0") && intIs(s, "bid_volume2", 1) &&
              json_is_null(json_object_get(s, "bid_price3")) && intIs(s, "bid_volume3", 0) &&
              strIs(s, "ask_price1", "3806.0") && intIs(s, "ask_volume1", 2) &&
              json_is_null(json_object_get(s, "ask_price2")),
          "md.snapshot: 5 levels (bids 1@3802.0 1@3795.0, asks 2@3806.0, rest empty)");
    check(json_object_size(s) == 35, "md.snapshot has 35 fields (got %zu)", json_object_size(s));
}

static int barsConsistent(const json_t *bars, int64_t len, uint64_t *vol)
{
    *vol = 0;
    size_t i;
    const json_t *b;
    json_array_foreach(bars, i, b)
    {
        const int64_t t = json_integer_value(json_object_get(b, "datetime"));
        const int64_t e = json_integer_value(json_object_get(b, "end"));
        if (t % len != 0 || e - t != len)
            return 0;
        *vol += (uint64_t)json_integer_value(json_object_get(b, "volume"));
    }
    const json_t *first = json_array_get(bars, 0), *last = json_array_get(bars, i - 1);
    return i > 0 && strIs(first, "open", "3800.0") && strIs(last, "close", "3802.0");
}

static void checkKlines(long long day)
{
    json_t *k = ctl("md.klines", json_pack("{s:s, s:s, s:i}", "instrument", "IF2501", "period",
                                           "day", "count", 5));
    const json_t *bars = json_object_get(k, "bars");
    const json_t *b = json_array_get(bars, 0);
    check(json_array_size(bars) == 1 && strIs(b, "open", "3800.0") && strIs(b, "high", "3802.0") &&
              strIs(b, "low", "3790.0") && strIs(b, "close", "3802.0") && intIs(b, "volume", 9) &&
              strIs(b, "amount", "10258800.00") && intIs(b, "open_oi", 0) &&
              intIs(b, "close_oi", 1) && intIs(b, "trades", 5) && intIs(b, "trading_day", day) &&
              json_is_false(json_object_get(b, "finished")),
          "md.klines day: one current bar O/H/L/C 3800.0/3802.0/3790.0/3802.0, volume 9, amount "
          "10258800.00, OI 0 -> 1, 5 trades");
    json_decref(k);
    const struct {
        const char *period;
        int64_t len;
    } ps[] = {{"3s", 3000000000LL}, {"1m", 60000000000LL}};
    for (int i = 0; i < 2; i++) {
        k = ctl("md.klines", json_pack("{s:s, s:s, s:i}", "instrument", "IF2501", "period",
                                       ps[i].period, "count", 1000));
        uint64_t vol = 0;
        int ok = k && barsConsistent(json_object_get(k, "bars"), ps[i].len, &vol) && vol == 9;
        check(ok, "md.klines %s: %zu bars on period boundaries, volume adds up to 9 (%llu)",
              ps[i].period, json_array_size(json_object_get(k, "bars")), (unsigned long long)vol);
        json_decref(k);
    }
    json_t *bad = ctl("md.klines", json_pack("{s:s, s:s}", "instrument", "IF2501", "period", "2m"));
    check(!bad && gLastCode == 1008, "md.klines period=2m refused with 1008 (%d)", gLastCode);
    bad = ctl("md.klines",
              json_pack("{s:s, s:s, s:i}", "instrument", "IF2501", "period", "1m", "count", 1001));
    check(!bad && gLastCode == 1008, "md.klines count=1001 refused with 1008 (%d)", gLastCode);
    bad = ctl("md.klines",
              json_pack("{s:s, s:s, s:i}", "instrument", "IF2501", "period", "1m", "count", 0));
    check(!bad && gLastCode == 1008, "md.klines count=0 refused with 1008 (%d)", gLastCode);
    bad = ctl("md.klines", json_pack("{s:s, s:s}", "instrument", "XX9999", "period", "1m"));
    check(!bad && gLastCode == 1007, "md.klines unknown instrument refused with 1007 (%d)",
          gLastCode);
    bad = ctl("md.snapshot", json_pack("{s:s}", "instrument", "XX9999"));
    check(!bad && gLastCode == 1007, "md.snapshot unknown instrument refused with 1007 (%d)",
          gLastCode);
}

static void checkDaily(void)
{
    json_t *d = ctl("md.daily", json_pack("{s:s}", "instrument", "IF2501"));
    const json_t *s = json_array_get(json_object_get(d, "instruments"), 0);
    check(s && strIs(s, "vwap", "3799.5555") && intIs(s, "trades", 5) &&
              intIs(s, "open_interest", 1) && intIs(s, "pre_open_interest", 0) &&
              strIs(s, "close", "3802.0"),
          "md.daily IF2501: vwap 3799.5555, 5 trades, OI 1, close 3802.0");
    const json_t *c = json_object_get(d, "counters");
    check(c && intIs(c, "trades", 5) && intIs(c, "rejected", 0) && intIs(c, "late", 0),
          "md.daily counters: 5 trades aggregated, none rejected or late");
    json_decref(d);
}

static void checkChannel(mdRx *r, long long day)
{
    /* the last 3s bar closes 3 s + 100 ms grace after the last trade at most */
    const uint64_t deadline = nowNs() + 6000000000ULL;
    while (nowNs() < deadline && (r->vol3s < 9 || !r->haveSnap || r->lastSnap.volume != 9))
        mdRead(r, 200);
    char want[32];
    snprintf(want, sizeof want, "%08lldSM", day % 100000000);
    check(r->packets > 0 && strcmp(r->session, want) == 0 && r->gaps == 0 && r->badLen == 0,
          "summary channel: %llu packets, %llu messages, session %s (want %s), no gap, no bad "
          "length",
          (unsigned long long)r->packets, (unsigned long long)r->messages, r->session, want);
    const mdsSnapshot *s = &r->lastSnap;
    check(r->haveSnap && s->lastPrice == PX(3802) && s->preClose == PX(3780) &&
              s->changeAmount == PX(22) && s->changePercent == 5820 && s->open == PX(3800) &&
              s->high == PX(3802) && s->low == PX(3790) && s->volume == 9 &&
              s->turnover == 102588000000LL && s->openInterest == 1 && s->upperLimit == PX(4180) &&
              s->lowerLimit == PX(3420) && s->tradingDay == day && s->bid[0].price == PX(3802) &&
              s->bid[0].qty == 1 && s->bid[1].price == PX(3795) && s->ask[0].price == PX(3806) &&
              s->ask[0].qty == 2 && s->ask[1].qty == 0,
          "summary channel: IF2501 snapshot decodes to the hand-computed values");
    check(r->vol3s == 9,
          "summary channel: finished 3s K-lines of IF2501 add up to volume 9 (%llu "
          "in %d bars)",
          (unsigned long long)r->vol3s, r->bars3s);
}

/* ---- main ---------------------------------------------------------------------------------------
 */

static void usage(void)
{
    fprintf(stderr, "usage: itest_md --server IP [--port N] --ctl SOCKET --local IP --group IP "
                    "[--md-port N] --session A:ACCT:ID:TOKEN --session B:ACCT:ID:TOKEN\n");
    exit(2);
}

static void parseArgs(int argc, char **argv)
{
    static const struct option lo[] = {
        {"server", required_argument, NULL, 's'},  {"port", required_argument, NULL, 'p'},
        {"ctl", required_argument, NULL, 'c'},     {"local", required_argument, NULL, 'l'},
        {"group", required_argument, NULL, 'g'},   {"md-port", required_argument, NULL, 'm'},
        {"session", required_argument, NULL, 'S'}, {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        if (c == 's')
            opt.server = optarg;
        else if (c == 'p')
            opt.port = (uint16_t)atoi(optarg);
        else if (c == 'c')
            opt.ctlPath = optarg;
        else if (c == 'l')
            opt.local = optarg;
        else if (c == 'g')
            opt.group = optarg;
        else if (c == 'm')
            opt.mdPort = (uint16_t)atoi(optarg);
        else if (c == 'S' && opt.sessions < 2) {
            /* ROLE:ACCOUNT:ID:TOKEN -> ID:TOKEN for the client library */
            const char *p = strchr(optarg, ':');
            p = p ? strchr(p + 1, ':') : NULL;
            if (!p || xclSessionParse(p + 1, &opt.ids[opt.sessions], opt.tokens[opt.sessions]))
                usage();
            opt.sessions++;
        } else
            usage();
    }
    if (!opt.server || !opt.ctlPath || !opt.local || !opt.group || opt.sessions != 2)
        usage();
}

int main(int argc, char **argv)
{
    parseArgs(argc, argv);
    mdRx rx;
    check(ctlOpen() == 0, "control socket %s", opt.ctlPath);
    check(mdOpen(&rx) == 0, "joined the summary channel %s:%u", opt.group, opt.mdPort);
    xclSession *s[2];
    xclOptions xo = {.localIp = opt.local};
    char err[256];
    for (int i = 0; i < 2; i++) {
        s[i] = xclOpen(opt.server, opt.port, opt.ids[i], opt.tokens[i], &xo, err, sizeof err);
        check(s[i] && xclLogon(s[i], 1000, 5000) == XCL_OK, "session %c logs on", 'A' + i);
    }
    if (gFail) {
        printf("itest-md: summary %d passed, %d failed\n", gPass, gFail);
        return 1;
    }
    mdRead(&rx, 1500); /* the channel's first snapshots: before any trade */
    check(rx.haveSnap && rx.lastSnap.volume == 0 && rx.lastSnap.lastPrice == PX(3780),
          "summary channel: snapshot before any trade: volume 0, last = pre_close 3780.0");
    xclSession *A = s[0], *B = s[1];
    /* offsets follow the positions (xchgd refuses a close of lots not held,
     * 2005): A ends short 1, B long 1, open interest 1 */
    int ok = order(A, B, XOE_SELL, XOE_OPEN, PX(3800), 5, 0) == 0 &&
             order(B, A, XOE_BUY, XOE_OPEN, PX(3800), 2, 1) == 1 &&
             order(B, A, XOE_BUY, XOE_OPEN, PX(3801), 3, 1) == 1 &&
             order(A, B, XOE_BUY, XOE_CLOSE, PX(3790), 1, 0) == 0 &&
             order(B, A, XOE_SELL, XOE_CLOSE, PX(3790), 1, 1) == 1 &&
             order(A, B, XOE_BUY, XOE_CLOSE, PX(3802), 4, 0) == 0 &&
             order(B, A, XOE_SELL, XOE_CLOSE_TODAY, PX(3802), 1, 1) == 1 &&
             order(B, A, XOE_SELL, XOE_CLOSE, PX(3802), 2, 1) == 1 &&
             order(A, B, XOE_SELL, XOE_OPEN, PX(3806), 2, 0) == 0 &&
             order(B, A, XOE_BUY, XOE_OPEN, PX(3795), 1, 0) == 0;
    check(ok, "ten orders accepted, five trades executed");
    const long long day = expectedDay();
    json_t *snap = ctl("md.snapshot", json_pack("{s:s}", "instrument", "IF2501"));
    checkSnapshotJson(snap, day);
    json_decref(snap);
    checkKlines(day);
    checkDaily();
    checkChannel(&rx, day);
    for (int i = 0; i < 2; i++) {
        xclLogout(s[i], 2000);
        xclClose(s[i]);
    }
    close(rx.fd);
    close(gCtl);
    printf("itest-md: summary %d passed, %d failed\n", gPass, gFail);
    return gFail ? 1 : 0;
}
