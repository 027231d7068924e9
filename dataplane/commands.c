/* commands.c -- xchgd's control socket commands; they run on the control lcore.
 *
 * Anything a worker owns (books, sessions, counters) is read or changed
 * through wkCall, so the worker stays the single writer of its state. A
 * request whose worker does not answer in time is left allocated (the worker
 * may still write it) and reported as 5000. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "control/log.h"
#include "dataplane/commands.h"
#include "dataplane/feedjson.h"
#include "dataplane/xdp/xdpctl.h"

#define CMD_TIMEOUT_MS 2000
#define VERSION        "0.1.0"

static const char *const stateNames[] = {"closed", "pre_open", "continuous", "halted"};

static uint64_t monotonicNs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* Sends a request to a segment's worker; on success the caller owns and
 * frees *out. */
static int cmdCall(cmdDaemon *d, uint32_t segIndex, wkRequest *proto, wkRequest **out,
                   ctlError *err)
{
    wkRequest *r = malloc(sizeof *r);
    if (!r)
        return ctlErrorf(err, 5000, "out of memory");
    *r = *proto;
    if (wkCall(d->workers[segIndex], r, CMD_TIMEOUT_MS) != 0)
        return ctlErrorf(err, 5000, "segment %u did not answer within %d ms", segIndex,
                         CMD_TIMEOUT_MS); /* r stays allocated: the worker may still write it */
    *out = r;
    return 0;
}

static json_t *priceJson(const cfgInstrument *ins, int64_t ticks)
{
    char buf[48];
    cfgFormatPrice(ins, ticks, buf, sizeof buf);
    return json_string(buf);
}

static const cfgInstrument *argInstrument(cmdDaemon *d, json_t *args, ctlError *err)
{
    const char *name = json_string_value(json_object_get(args, "instrument"));
    if (!name) {
        ctlErrorf(err, 1008, "args.instrument: an instrument id is required");
        return NULL;
    }
    const cfgInstrument *ins = cfgFindInstrument(d->cfg, name);
    if (!ins)
        ctlErrorf(err, 1007, "unknown instrument '%s'", name);
    return ins;
}

/* ---- status and instruments ------------------------------------------------- */

/* Sessions of a segment that are logged on, or -1. */
static int64_t loggedOn(cmdDaemon *d, uint32_t seg, ctlError *err)
{
    wkRequest q = {.type = WK_REQ_SESSION_LIST}, *r;
    if (cmdCall(d, seg, &q, &r, err))
        return -1;
    int64_t n = 0;
    for (uint32_t k = 0; k < r->out.sessions.n; k++)
        n += r->out.sessions.s[k].state == GW_SESSION_LOGGED_ON;
    free(r);
    return n;
}

/* The segment's state hash and journal position (dataplane/wal.h) into seg. */
static int cmdStorageStatus(cmdDaemon *d, uint32_t i, json_t *seg, ctlError *err)
{
    wkRequest q = {.type = WK_REQ_STATE_HASH}, *r;
    if (cmdCall(d, i, &q, &r, err))
        return -1;
    char hash[17];
    snprintf(hash, sizeof hash, "%016llx", (unsigned long long)r->out.state.hash);
    json_object_set_new(seg, "state_hash", json_string(hash));
    json_object_set_new(seg, "journal_seq", json_integer((json_int_t)r->out.state.lastSeq));
    json_object_set_new(seg, "durable_seq", json_integer((json_int_t)r->out.state.durableSeq));
    json_object_set_new(seg, "storage_error", json_integer(r->out.state.storageErrno));
    json_object_set_new(seg, "storage_full", json_integer(r->out.state.spaceErrno));
    json_object_set_new(seg, "frames_held", json_integer(r->out.state.held));
    json_object_set_new(seg, "journal_commits", json_integer((json_int_t)r->out.state.commits));
    json_object_set_new(seg, "journal_records", json_integer((json_int_t)r->out.state.records));
    json_object_set_new(seg, "journal_last_commit_us",
                        json_integer((json_int_t)(r->out.state.lastCommitNs / 1000)));
    free(r);
    return 0;
}

static int cmdStatus(void *ctx, json_t *args, json_t **data, ctlError *err)
{
    cmdDaemon *d = ctx;
    (void)args;
    json_t *segs = json_array();
    for (uint32_t i = 0; i < d->workerCount; i++) {
        wkRequest q = {.type = WK_REQ_STATS}, *r;
        int64_t sessions = loggedOn(d, i, err);
        if (sessions < 0 || cmdCall(d, i, &q, &r, err)) {
            json_decref(segs);
            return -1;
        }
        const cfgSegment *s = &d->cfg->segments[i];
        json_t *seg = json_pack("{s:i, s:i, s:i, s:I, s:I}", "id", s->id, "lcore", s->lcore,
                                "order_port", s->orderPort, "sessions", (json_int_t)sessions,
                                "orders_resting", (json_int_t)r->out.stats.matcher.ordersResting);
        free(r);
        if (cmdStorageStatus(d, i, seg, err)) {
            json_decref(seg);
            json_decref(segs);
            return -1;
        }
        json_array_append_new(segs, seg);
    }
    *data = json_pack("{s:s, s:s, s:i, s:I, s:o}", "version", VERSION, "state", "running",
                      "trading_day", d->tradingDay, "uptime_s",
                      (json_int_t)((monotonicNs() - d->startNs) / 1000000000ULL), "segments", segs);
    if (d->controlStatus && *data)
        json_object_set_new(*data, "control", d->controlStatus(d->accountCtx));
    return 0;
}

static int cmdInstrumentList(void *ctx, json_t *args, json_t **data, ctlError *err)
{
    cmdDaemon *d = ctx;
    (void)args;
    json_t *list = json_array();
    for (uint32_t i = 0; i < d->cfg->instrumentCount; i++) {
        const cfgInstrument *ins = &d->cfg->instruments[i];
        wkRequest q = {.type = WK_REQ_BOOK, .arg.book = {ins->book, 0}}, *r;
        if (cmdCall(d, ins->segIndex, &q, &r, err)) {
            json_decref(list);
            return -1;
        }
        char tick[32];
        cfgFormatDecimal(ins->tickSize, 4, 4, tick, sizeof tick);
        int st = r->out.book.state;
        free(r);
        json_array_append_new(
            list, json_pack("{s:s, s:s, s:i, s:i, s:s, s:I, s:s, s:o, s:o, s:o}", "id", ins->id,
                            "name", ins->name, "segment", ins->segment, "book", ins->book,
                            "tick_size", tick, "multiplier", (json_int_t)ins->multiplier, "state",
                            st >= 0 && st < 4 ? stateNames[st] : "unknown", "lower_limit",
                            priceJson(ins, ins->lowerTicks), "upper_limit",
                            priceJson(ins, ins->upperTicks), "pre_settlement",
                            priceJson(ins, ins->preSettlementTicks)));
    }
    *data = json_pack("{s:o}", "instruments", list);
    return 0;
}

static json_t *levelsJson(const cfgInstrument *ins, const mtDepthLevel *lv, uint32_t n)
{
    json_t *a = json_array();
    for (uint32_t i = 0; i < n; i++)
        json_array_append_new(a, json_pack("{s:o, s:I}", "price", priceJson(ins, lv[i].price),
                                           "qty", (json_int_t)lv[i].qty));
    return a;
}

static int cmdBookGet(void *ctx, json_t *args, json_t **data, ctlError *err)
{
    cmdDaemon *d = ctx;
    const cfgInstrument *ins = argInstrument(d, args, err);
    if (!ins)
        return -1;
    json_t *jd = json_object_get(args, "depth");
    json_int_t depth = jd ? json_integer_value(jd) : 5;
    if ((jd && !json_is_integer(jd)) || depth < 1 || depth > WK_MAX_DEPTH)
        return ctlErrorf(err, 1008, "args.depth: an integer from 1 to %d", WK_MAX_DEPTH);
    wkRequest q = {.type = WK_REQ_BOOK, .arg.book = {ins->book, (uint32_t)depth}}, *r;
    if (cmdCall(d, ins->segIndex, &q, &r, err))
        return -1;
    int st = r->out.book.state;
    *data = json_pack("{s:s, s:s, s:o, s:o}", "instrument", ins->id, "state",
                      st >= 0 && st < 4 ? stateNames[st] : "unknown", "bids",
                      levelsJson(ins, r->out.book.bids, r->out.book.nbids), "asks",
                      levelsJson(ins, r->out.book.asks, r->out.book.nasks));
    free(r);
    return 0;
}

static int cmdInstrumentState(void *ctx, json_t *args, json_t **data, ctlError *err)
{
    cmdDaemon *d = ctx;
    const cfgInstrument *ins = argInstrument(d, args, err);
    if (!ins)
        return -1;
    const char *name = json_string_value(json_object_get(args, "state"));
    int st = -1;
    for (int i = 0; name && i < 4; i++)
        if (!strcmp(name, stateNames[i]))
            st = i;
    if (st < 0)
        return ctlErrorf(err, 1008, "args.state: one of closed, pre_open, continuous, halted");
    wkRequest q = {.type = WK_REQ_SET_STATE, .arg.setState = {ins->book, (uint8_t)st}}, *r;
    if (cmdCall(d, ins->segIndex, &q, &r, err))
        return -1;
    int rc = r->rc;
    free(r);
    if (rc)
        return ctlErrorf(err, rc, "state change refused");
    *data = json_pack("{s:s, s:s}", "instrument", ins->id, "state", stateNames[st]);
    return 0;
}

int cmdSetAllStates(cmdDaemon *d, mtState state)
{
    for (uint32_t i = 0; i < d->cfg->instrumentCount; i++) {
        const cfgInstrument *ins = &d->cfg->instruments[i];
        wkRequest q = {.type = WK_REQ_SET_STATE, .arg.setState = {ins->book, (uint8_t)state}}, *r;
        ctlError err;
        if (cmdCall(d, ins->segIndex, &q, &r, &err))
            return -1;
        free(r);
    }
    return 0;
}

/* ---- sessions --------------------------------------------------------------------- */

static int segmentIndexArg(cmdDaemon *d, json_t *args, uint32_t *out, ctlError *err)
{
    json_t *js = json_object_get(args, "segment");
    if (!js) {
        if (d->cfg->segmentCount != 1)
            return ctlErrorf(err, 1008, "args.segment: required with several segments");
        *out = 0;
        return 0;
    }
    for (uint32_t i = 0; json_is_integer(js) && i < d->cfg->segmentCount; i++)
        if (d->cfg->segments[i].id == json_integer_value(js)) {
            *out = i;
            return 0;
        }
    return ctlErrorf(err, 1008, "args.segment: no such segment id");
}

static int sourceArg(json_t *args, uint32_t *ip, ctlError *err)
{
    const char *src = json_string_value(json_object_get(args, "source"));
    struct in_addr a;
    if (!src || !strcmp(src, "any")) {
        *ip = 0;
        return 0;
    }
    if (inet_pton(AF_INET, src, &a) != 1)
        return ctlErrorf(err, 1008, "args.source: an IPv4 address or \"any\"");
    *ip = ntohl(a.s_addr);
    return 0;
}

static int cmdSessionAdd(void *ctx, json_t *args, json_t **data, ctlError *err)
{
    cmdDaemon *d = ctx;
    json_t *ja = json_object_get(args, "account");
    if (!json_is_integer(ja) || json_integer_value(ja) < 1 ||
        json_integer_value(ja) > UINT32_MAX - 1)
        return ctlErrorf(err, 1006, "args.account: a positive account number is required");
    if (d->accountKnown && !d->accountKnown(d->accountCtx, (uint32_t)json_integer_value(ja)))
        return ctlErrorf(err, 1006, "account %lld does not exist (account.open first)",
                         (long long)json_integer_value(ja));
    uint32_t seg = 0, ip = 0;
    if (segmentIndexArg(d, args, &seg, err) || sourceArg(args, &ip, err))
        return -1;
    wkRequest q = {.type = WK_REQ_SESSION_ADD}, *r;
    q.arg.sessionAdd.sessionId = d->nextSessionId;
    q.arg.sessionAdd.account = (uint32_t)json_integer_value(ja);
    q.arg.sessionAdd.allowedIp = ip;
    if (getrandom(q.arg.sessionAdd.token, XOE_TOKEN_SIZE, 0) != XOE_TOKEN_SIZE)
        return ctlErrorf(err, 5000, "getrandom failed");
    if (cmdCall(d, seg, &q, &r, err))
        return -1;
    int rc = r->rc;
    free(r);
    if (rc)
        return ctlErrorf(err, 5000, "the segment's session table is full");
    char hex[2 * XOE_TOKEN_SIZE + 1];
    for (int i = 0; i < XOE_TOKEN_SIZE; i++)
        snprintf(hex + 2 * i, 3, "%02x", q.arg.sessionAdd.token[i]);
    const char *src = json_string_value(json_object_get(args, "source"));
    *data = json_pack("{s:I, s:s, s:I, s:i, s:s}", "session_id", (json_int_t)d->nextSessionId,
                      "token", hex, "account", json_integer_value(ja), "segment",
                      d->cfg->segments[seg].id, "source", src ? src : "any");
    json_object_set_new(
        *data, "filter",
        json_string(xdpCtlSessionAdded(d->nextSessionId, ip, d->cfg->segments[seg].orderPort)));
    d->nextSessionId++;
    return 0;
}

static int cmdSessionKick(void *ctx, json_t *args, json_t **data, ctlError *err)
{
    cmdDaemon *d = ctx;
    json_t *js = json_object_get(args, "session_id");
    if (!json_is_integer(js))
        return ctlErrorf(err, 1008, "args.session_id: a session id is required");
    for (uint32_t i = 0; i < d->workerCount; i++) {
        wkRequest q = {.type = WK_REQ_SESSION_KICK,
                       .arg.sessionId = (uint32_t)json_integer_value(js)},
                  *r;
        if (cmdCall(d, i, &q, &r, err))
            return -1;
        int rc = r->rc;
        free(r);
        if (rc == 0) {
            xdpCtlSessionRemoved((uint32_t)json_integer_value(js));
            *data =
                json_pack("{s:I, s:s}", "session_id", json_integer_value(js), "state", "disabled");
            return 0;
        }
    }
    return ctlErrorf(err, 9001, "no session %lld", (long long)json_integer_value(js));
}

static json_t *sessionJson(const cfgSegment *seg, const gwSessionInfo *s)
{
    static const char *const names[] = {"idle", "logged_on", "disabled"};
    char bound[32] = "";
    if (s->state == GW_SESSION_LOGGED_ON) {
        struct in_addr a = {htonl(s->bound.ip)};
        char ip[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &a, ip, sizeof ip);
        snprintf(bound, sizeof bound, "%s:%u", ip, s->bound.port);
    }
    return json_pack("{s:I, s:I, s:i, s:s, s:s, s:I, s:I, s:I, s:I}", "session_id",
                     (json_int_t)s->sessionId, "account", (json_int_t)s->account, "segment",
                     seg->id, "state", s->state < 3 ? names[s->state] : "unknown", "bound", bound,
                     "next_in_seq", (json_int_t)s->nextInSeq, "next_out_seq",
                     (json_int_t)s->nextOutSeq, "messages_in", (json_int_t)s->messagesIn,
                     "messages_out", (json_int_t)s->messagesOut);
}

static int cmdSessionList(void *ctx, json_t *args, json_t **data, ctlError *err)
{
    cmdDaemon *d = ctx;
    (void)args;
    json_t *list = json_array();
    for (uint32_t i = 0; i < d->workerCount; i++) {
        wkRequest q = {.type = WK_REQ_SESSION_LIST}, *r;
        if (cmdCall(d, i, &q, &r, err)) {
            json_decref(list);
            return -1;
        }
        for (uint32_t k = 0; k < r->out.sessions.n; k++)
            json_array_append_new(list, sessionJson(&d->cfg->segments[i], &r->out.sessions.s[k]));
        free(r);
    }
    *data = json_pack("{s:o}", "sessions", list);
    return 0;
}

/* ---- stats and shutdown ------------------------------------------------------------ */

static json_t *latencyJson(const histLog *h)
{
    return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "count", (json_int_t)h->total, "p50_ns",
                     (json_int_t)histQuantile(h, 1, 2), "p90_ns",
                     (json_int_t)histQuantile(h, 9, 10), "p99_ns",
                     (json_int_t)histQuantile(h, 99, 100), "p999_ns",
                     (json_int_t)histQuantile(h, 999, 1000), "max_ns", (json_int_t)h->max);
}

static json_t *netJson(const wkCounters *c)
{
    json_t *o = json_object();
    for (int k = 0; k < NET_KIND_COUNT; k++)
        json_object_set_new(o, netKindName((netKind)k), json_integer((json_int_t)c->kinds[k]));
    json_object_set_new(o, "udp_other_port", json_integer((json_int_t)c->udpOtherPort));
    return o;
}

static json_t *gatewayJson(const gwStats *g)
{
    json_t *malformed = json_object();
    for (int i = 1; i < 32; i++)
        if (g->malformed[i])
            json_object_set_new(malformed, xoeErrorName(i),
                                json_integer((json_int_t)g->malformed[i]));
    json_t *o = json_pack(
        "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "datagrams_in",
        (json_int_t)g->datagramsIn, "datagrams_out", (json_int_t)g->datagramsOut,
        "datagrams_processed", (json_int_t)g->datagramsProcessed, "unknown_session",
        (json_int_t)g->unknownSession, "wrong_address", (json_int_t)g->wrongAddress,
        "not_logged_on", (json_int_t)g->notLoggedOn, "logon_throttled",
        (json_int_t)g->logonThrottled, "logons", (json_int_t)g->logons, "logon_rejects",
        (json_int_t)g->logonRejects, "duplicates", (json_int_t)g->duplicates, "gaps",
        (json_int_t)g->gaps, "throttled", (json_int_t)g->throttled, "new_orders",
        (json_int_t)g->newOrders, "executions", (json_int_t)g->executions);
    json_object_set_new(o, "accepted", json_integer((json_int_t)g->accepted));
    json_object_set_new(o, "rejected", json_integer((json_int_t)g->rejected));
    json_object_set_new(o, "cancelled", json_integer((json_int_t)g->cancelled));
    json_object_set_new(o, "retransmitted", json_integer((json_int_t)g->retransmitted));
    json_object_set_new(o, "timeouts", json_integer((json_int_t)g->timeouts));
    json_object_set_new(o, "malformed", malformed);
    return o;
}

static json_t *segmentStatsJson(const cfgSegment *seg, const wkStatsReply *s)
{
    const wkCounters *c = &s->counters;
    uint64_t cycles = c->busyCycles + c->idleCycles;
    json_t *o =
        json_pack("{s:i, s:I, s:I, s:I, s:I, s:I, s:I}", "segment", seg->id, "rx_packets",
                  (json_int_t)c->rxPackets, "tx_packets", (json_int_t)c->txPackets, "tx_dropped",
                  (json_int_t)c->txDropped, "mbuf_failed", (json_int_t)c->mbufFailed, "no_arp",
                  (json_int_t)c->noArp, "busy_permille",
                  (json_int_t)(cycles ? c->busyCycles * 1000 / cycles : 0));
    json_object_set_new(o, "frames", netJson(c));
    json_object_set_new(o, "gateway", gatewayJson(&s->gateway));
    json_object_set_new(o, "orders_resting", json_integer(s->matcher.ordersResting));
    json_object_set_new(o, "md_trades", json_integer((json_int_t)c->mdTrades));
    json_object_set_new(o, "journal_stalls", json_integer((json_int_t)c->journalStalls));
    json_object_set_new(o, "control_stalls", json_integer((json_int_t)c->controlStalls));
    json_object_set_new(o, "md_dropped", json_integer((json_int_t)c->mdDropped));
    json_object_set_new(o, "md_tx", json_integer((json_int_t)c->mdTx));
    json_object_set_new(o, "in_box_latency", latencyJson(&s->inBoxNs));
    json_object_set_new(o, "tx_call_latency", latencyJson(&s->txCallNs));
    json_object_set_new(
        o, "feed",
        feedStatsJson(s->feedSession, &s->feed, &s->feedServer, &s->feedReqNs, &s->feedSnapNs));
    return o;
}

static int cmdStats(void *ctx, json_t *args, json_t **data, ctlError *err)
{
    cmdDaemon *d = ctx;
    (void)args;
    json_t *segs = json_array();
    for (uint32_t i = 0; i < d->workerCount; i++) {
        wkRequest q = {.type = WK_REQ_STATS}, *r;
        if (cmdCall(d, i, &q, &r, err)) {
            json_decref(segs);
            return -1;
        }
        json_array_append_new(segs, segmentStatsJson(&d->cfg->segments[i], &r->out.stats));
        free(r);
    }
    *data = json_pack("{s:o, s:o}", "segments", segs, "filter", xdpCtlStatsJson());
    if (d->journals && *data)
        json_object_set_new(*data, "journals", jmJson(d->journals));
    if (d->monitor)
        dmStatsAugment(d->monitor, *data); /* the workers just published (WK_REQ_STATS) */
    return 0;
}

static int cmdShutdown(void *ctx, json_t *args, json_t **data, ctlError *err)
{
    cmdDaemon *d = ctx;
    (void)args;
    (void)err;
    *d->quit = 1;
    *data = json_pack("{s:s}", "state", "stopping");
    return 0;
}

int cmdRegisterAll(ctlServer *s, cmdDaemon *d)
{
    static const struct {
        const char *name;
        ctlHandler *fn;
        const char *help;
    } cmds[] = {
        {"status", cmdStatus, "daemon and segment status"},
        {"instrument.list", cmdInstrumentList, "instruments with limits and trading state"},
        {"instrument.state", cmdInstrumentState,
         "instrument=ID state=closed|pre_open|continuous|halted"},
        {"book.get", cmdBookGet, "instrument=ID [depth=N]: price levels"},
        {"session.add", cmdSessionAdd, "account=N [segment=ID] [source=IP|any]: new session"},
        {"session.list", cmdSessionList, "sessions of every segment"},
        {"session.kick", cmdSessionKick, "session_id=N: log out and disable"},
        {"stats", cmdStats, "counters and latency per segment"},
        {"shutdown", cmdShutdown, "stop xchgd"},
    };
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (ctlServerRegister(s, cmds[i].name, cmds[i].fn, d, cmds[i].help))
            return -1;
    return logRegisterCommands(s); /* log.level, control/log.c */
}
