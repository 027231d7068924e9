/* itest_hist.c -- what the clients saw, as a history to compare xchgd's with
 * (tests/integration/history.sh).
 *
 *   itest_hist -c CONFIG --out DIR [--session ID:ACCOUNT ...] LOG...
 *   itest_hist --fetch LOG --server IP [--port N] --local IP --client ID:TOKENHEX ...
 *
 * --fetch: logs each session on asking xchgd to replay every report from
 * number 1 (what xchgd still holds: 4096 a session) and appends them to LOG
 * in the same format, up to the answer to a probe (a cancel of no order,
 * answered after every report xchgd had): a client that lost
 * reports under load (UDP) gets them this way, as any XOE client would.
 * The script merges them with the logs (one line per session and number).
 *
 * Reads the report logs of tests/integration/itest_crash.c ("R <session>
 * <seq> <hex of one XOE message>", one line per application report the
 * client received), builds from them, with the same writer as xchgd
 * (storage/history.h: K-lines from ticks, the config's instrument map), a
 * history tree in DIR that `xchgctl query --dir DIR` reads: history.sh
 * then asks both trees the same SQL and compares the answers. So that the
 * comparison does not rest on the writer alone, it also prints tallies
 * counted here straight from the messages, one "name value" per line:
 *   executions N        execution reports
 *   trade_ids N         distinct trade ids
 *   accepted N          orders accepted
 *   cancelled N         cancel reports
 *   rejected N          rejects
 *   lots ACCOUNT SIDE N lots executed (SIDE buy/sell)
 *   volume INSTRUMENT N lots traded per instrument (the config's index)
 *   gaps N              report numbers missing between 1 and a session's highest
 * Exits 0, or 1 on a bad log line or a history error. */
#define _GNU_SOURCE
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/config.h"
#include "storage/history.h"
#include "xchg/client.h"
#include "xchg/xoe.h"

#define IH_MAX_SESSIONS 16
#define IH_MAX_TRADES   (1u << 20)
#define IH_MAX_ACCOUNTS 16

static struct {
    uint32_t id, account;
} ihSess[IH_MAX_SESSIONS];
static unsigned ihNsess;

static struct {
    uint32_t account;
    uint64_t lots[2];
} ihAcct[IH_MAX_ACCOUNTS];
static unsigned ihNacct;

static uint64_t *ihTradeIds;
static uint32_t ihNtrades;
static uint64_t ihExec, ihAccepted, ihCancelled, ihRejected;
static uint64_t *ihVolume; /* per config instrument */
static uint64_t ihMaxSeq[IH_MAX_SESSIONS], ihSeen[IH_MAX_SESSIONS];

static uint32_t ihAccountOf(uint32_t session)
{
    for (unsigned i = 0; i < ihNsess; i++)
        if (ihSess[i].id == session)
            return ihSess[i].account;
    return 0;
}

static void ihLots(uint32_t account, unsigned side, uint32_t qty)
{
    unsigned i = 0;
    while (i < ihNacct && ihAcct[i].account != account)
        i++;
    if (i == ihNacct && ihNacct < IH_MAX_ACCOUNTS)
        ihAcct[ihNacct++].account = account;
    if (i < ihNacct)
        ihAcct[i].lots[side & 1] += qty;
}

static int ihCmpU64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Tallies one decoded message. */
static void ihCount(const cfgConfig *cfg, uint32_t session, const xoeMsg *m)
{
    switch (m->type) {
    case XOE_MSG_ACCEPTED:
        ihAccepted++;
        break;
    case XOE_MSG_CANCELLED:
        ihCancelled++;
        break;
    case XOE_MSG_REJECTED:
        ihRejected++;
        break;
    case XOE_MSG_EXECUTED: {
        const xoeExecuted *x = &m->u.executed;
        ihExec++;
        ihLots(ihAccountOf(session), x->side, x->qty);
        if (x->side == XOE_BUY) {
            const cfgInstrument *in = cfgFindBook(cfg, 0, x->instrument);
            if (in)
                ihVolume[in - cfg->instruments] += x->qty;
        }
        if (ihNtrades < IH_MAX_TRADES)
            ihTradeIds[ihNtrades++] = x->tradeId;
        break;
    }
    default:
        break;
    }
}

/* One log line: the message wrapped in a frame of its own for histOnFrame. */
static int ihLine(const cfgConfig *cfg, histWriter *h, const char *line)
{
    unsigned sid;
    uint64_t seq;
    char hex[2 * XOE_MSG_MAX + 2];
    uint8_t msg[XOE_MSG_MAX], frame[XOE_FRAME_MAX];
    if (sscanf(line, "R %u %" SCNu64 " %300s", &sid, &seq, hex) != 3)
        return -1;
    for (unsigned i = 0; i < ihNsess; i++)
        if (ihSess[i].id == sid) {
            ihSeen[i]++;
            ihMaxSeq[i] = seq > ihMaxSeq[i] ? seq : ihMaxSeq[i];
        }
    size_t n = strlen(hex) / 2;
    if (n == 0 || n > sizeof msg)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (sscanf(hex + 2 * i, "%2hhx", &msg[i]) != 1)
            return -1;
    xoeWriter w;
    if (xoeWriterInit(&w, frame, sizeof frame, sid, seq, 0) != XOE_OK ||
        xoeAppendRaw(&w, msg, n) != XOE_OK)
        return -1;
    size_t len = xoeWriterFinish(&w);
    xoeFrame f;
    xoeIter it;
    xoeMsg m;
    if (xoeFrameParse(frame, len, XOE_DIR_TO_CLIENT, &f, NULL) != XOE_OK)
        return -1;
    xoeIterInit(&it, &f);
    while (xoeIterNext(&it, &m))
        ihCount(cfg, sid, &m);
    sstError e;
    if (histOnFrame(h, (uint8_t)cfg->segments[0].id, frame, len, &e)) {
        fprintf(stderr, "itest-hist: %s\n", e.msg);
        return -2;
    }
    return 0;
}

/* --fetch: every report xchgd still holds for each client session. */
static int ihFetch(const char *log, const char *server, uint16_t port, const char *local,
                   const char *const *clients, unsigned n)
{
    FILE *f = fopen(log, "a");
    if (!f) {
        perror(log);
        return 1;
    }
    int rc = 0;
    for (unsigned i = 0; i < n && rc == 0; i++) {
        uint32_t id;
        uint8_t token[XOE_TOKEN_SIZE];
        char err[256];
        if (xclSessionParse(clients[i], &id, token) != XCL_OK) {
            fprintf(stderr, "itest-hist: --client %s: want ID:TOKENHEX\n", clients[i]);
            rc = 2;
            break;
        }
        /* a client order id no earlier probe used */
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        xclOptions o = {.localIp = local,
                        .nextOutSeq = 1,
                        .firstClOrdId =
                            (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec};
        xclSession *s = xclOpen(server, port, id, token, &o, err, sizeof err);
        if (!s || xclLogon(s, 1000, 10000) != XCL_OK) {
            fprintf(stderr, "itest-hist: session %u: %s\n", id, s ? xclLastError(s) : err);
            xclClose(s);
            rc = 1;
            break;
        }
        /* a cancel of no order: its CancelRejected is numbered after every
         * report xchgd had, and reports come out in order, so once it is
         * here the replay is complete */
        uint64_t probe = 0;
        if (xclCancel(s, UINT64_MAX - 1, 0, &probe) != XCL_OK)
            fprintf(stderr, "itest-hist: session %u: probe: %s\n", id, xclLastError(s));
        xclReport r;
        int k, done = 0;
        while (!done && (k = xclPoll(s, 5000, &r)) == 1) {
            if (r.type == XCL_RPT_LOST)
                fprintf(stderr,
                        "itest-hist: session %u: %" PRIu64 " reports lost from %" PRIu64 "\n", id,
                        r.lostCount, r.lostFrom);
            if (r.seq == 0)
                continue;
            done = r.type == XOE_MSG_CANCEL_REJECTED && r.clOrdId == probe;
            fprintf(f, "R %u %" PRIu64 " ", id, r.seq);
            for (unsigned b = 0; b < r.msg.length && b < XOE_MSG_MAX; b++)
                fprintf(f, "%02x", r.msg.u.raw[b]);
            fputc('\n', f);
        }
        if (!done) {
            fprintf(stderr, "itest-hist: session %u: the replay did not complete\n", id);
            rc = 1;
        }
        xclLogout(s, 1000);
        xclClose(s);
    }
    fclose(f);
    return rc;
}

int main(int argc, char **argv)
{
    const char *conf = NULL, *out = NULL, *fetch = NULL, *server = NULL, *local = NULL;
    const char *clients[IH_MAX_SESSIONS];
    unsigned nclients = 0;
    uint16_t port = 9000;
    static const struct option lo[] = {
        {"out", required_argument, NULL, 'o'},    {"session", required_argument, NULL, 's'},
        {"fetch", required_argument, NULL, 'f'},  {"server", required_argument, NULL, 'S'},
        {"port", required_argument, NULL, 'p'},   {"local", required_argument, NULL, 'l'},
        {"client", required_argument, NULL, 'C'}, {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "c:", lo, NULL)) != -1) {
        if (c == 'c')
            conf = optarg;
        else if (c == 'o')
            out = optarg;
        else if (c == 'f')
            fetch = optarg;
        else if (c == 'S')
            server = optarg;
        else if (c == 'l')
            local = optarg;
        else if (c == 'p')
            port = (uint16_t)strtoul(optarg, NULL, 10);
        else if (c == 'C' && nclients < IH_MAX_SESSIONS)
            clients[nclients++] = optarg;
        else if (c == 's' && ihNsess < IH_MAX_SESSIONS &&
                 sscanf(optarg, "%u:%u", &ihSess[ihNsess].id, &ihSess[ihNsess].account) == 2)
            ihNsess++;
        else {
            fprintf(stderr, "usage: itest_hist -c CONFIG --out DIR [--session ID:ACCOUNT ...] "
                            "LOG...\n");
            return 2;
        }
    }
    if (fetch) {
        if (!server || !nclients) {
            fprintf(stderr, "itest-hist: --fetch needs --server and --client\n");
            return 2;
        }
        return ihFetch(fetch, server, port, local, clients, nclients);
    }
    if (!conf || !out || optind >= argc) {
        fprintf(stderr, "itest-hist: -c, --out and a log are required\n");
        return 2;
    }
    cfgConfig cfg;
    char err[512];
    if (cfgLoad(conf, &cfg, err, sizeof err)) {
        fprintf(stderr, "itest-hist: %s\n", err);
        return 1;
    }
    sstError e;
    histWriter *h = histOpen(out, NULL, &e);
    ihTradeIds = calloc(IH_MAX_TRADES, sizeof *ihTradeIds);
    ihVolume = calloc(cfg.instrumentCount + 1, sizeof *ihVolume);
    if (!h || !ihTradeIds || !ihVolume) {
        fprintf(stderr, "itest-hist: %s\n", h ? "out of memory" : e.msg);
        return 1;
    }
    histSetTickBars(h, 1);
    for (uint32_t i = 0; i < cfg.instrumentCount; i++)
        histMapInstrument(h, cfg.instruments[i].segment, cfg.instruments[i].book, (uint16_t)i);
    for (unsigned i = 0; i < ihNsess; i++)
        histSetAccount(h, ihSess[i].id, ihSess[i].account);
    int rc = 0;
    for (int a = optind; a < argc && rc == 0; a++) {
        FILE *f = fopen(argv[a], "r");
        char line[512];
        unsigned no = 0;
        if (!f) {
            perror(argv[a]);
            rc = 1;
            break;
        }
        while (rc == 0 && fgets(line, sizeof line, f)) {
            no++;
            int k = ihLine(&cfg, h, line);
            if (k == -1)
                fprintf(stderr, "itest-hist: %s:%u: not a report line\n", argv[a], no);
            rc = k ? 1 : 0;
        }
        fclose(f);
    }
    histClose(h);
    qsort(ihTradeIds, ihNtrades, sizeof *ihTradeIds, ihCmpU64);
    uint64_t distinct = 0;
    for (uint32_t i = 0; i < ihNtrades; i++)
        distinct += i == 0 || ihTradeIds[i] != ihTradeIds[i - 1];
    printf("executions %" PRIu64 "\ntrade_ids %" PRIu64 "\naccepted %" PRIu64 "\ncancelled %" PRIu64
           "\nrejected %" PRIu64 "\n",
           ihExec, distinct, ihAccepted, ihCancelled, ihRejected);
    uint64_t gaps = 0;
    for (unsigned i = 0; i < ihNsess; i++)
        gaps += ihMaxSeq[i] > ihSeen[i] ? ihMaxSeq[i] - ihSeen[i] : 0;
    printf("gaps %" PRIu64 "\n", gaps);
    for (unsigned i = 0; i < ihNacct; i++)
        printf("lots %u buy %" PRIu64 "\nlots %u sell %" PRIu64 "\n", ihAcct[i].account,
               ihAcct[i].lots[0], ihAcct[i].account, ihAcct[i].lots[1]);
    for (uint32_t i = 0; i < cfg.instrumentCount; i++)
        if (ihVolume[i])
            printf("volume %u %" PRIu64 "\n", i, ihVolume[i]);
    free(ihTradeIds);
    free(ihVolume);
    cfgFree(&cfg);
    return rc;
}
