/* ctljournal.c -- the control core's journal stream: journal before apply, replay, resync, state
 * hash. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "control/settle.h"
#include "dataplane/accounts.h"

#define CJ_BURST       256
#define CJ_EVENT_BYTES (24 + 8 + 64) /* a CJ_EVENT record in the ring */
#define CJ_MAX_LIQ     64

/* the time of the command or record being applied; 0: the wall clock */
static uint64_t cjClock;

static uint64_t cjWallNs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t acdNowNs(void)
{
    return cjClock ? cjClock : cjWallNs();
}

void cjClockSet(uint64_t ns)
{
    cjClock = ns;
}

/* ---- life ---------------------------------------------------------------------------- */

/* Every command the ledger sends goes through here: muted while replaying
 * (the workers replay what they applied from their own streams). */
static int acdSendHook(void *ctx, uint16_t seg, const crCmd *c)
{
    acdState *s = ctx;
    if (s->cj.replaying)
        return 0;
    return s->hooks.send ? s->hooks.send(s->hooks.sendCtx, seg, c) : -1;
}

/* Events go to the topic of their kind and to "<kind>.<account>". */
static void acdNotify(void *ctx, const char *kind, uint32_t account, json_t *ev)
{
    acdState *s = ctx;
    char topic[CTL_TOPIC_MAX];
    if (!s->ctl)
        return;
    ctlServerBroadcast(s->ctl, kind, ev);
    snprintf(topic, sizeof topic, "%s.%u", kind, account);
    ctlServerBroadcast(s->ctl, topic, ev);
}

acdState *acdCreateCore(cfgConfig *cfg, uint32_t nSegments, ctlServer *ctl, uint32_t tradingDay,
                        const acdHooks *hooks)
{
    acdState *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->cfg = cfg;
    s->nWorkers = nSegments;
    s->ctl = ctl;
    s->tradingDay = tradingDay;
    if (hooks)
        s->hooks = *hooks;
    for (uint32_t i = 0; i < CJ_MAX_SEGMENTS; i++)
        s->cj.limit[i] = UINT64_MAX;
    const acctLimits lim = acctLimitsFromConfig(&cfg->risk);
    s->book = acctCreate(&lim);
    if (!s->book || instLoadConfig(s->book, cfg) != 0 ||
        !(s->lg = lgCreate(cfg, s->book, acdSendHook, s))) {
        acdDestroy(s);
        return NULL;
    }
    lgSetNotify(s->lg, acdNotify, s, 0);
    return s;
}

void acdDestroy(acdState *s)
{
    if (!s)
        return;
    lgDestroy(s->lg);
    acctDestroy(s->book);
    for (uint32_t i = 0; i < CJ_MAX_SEGMENTS; i++) {
        free(s->cj.ep[i].seq);
        free(s->cj.ep[i].count);
    }
    free(s);
}

int acdAccountKnown(void *state, uint32_t account)
{
    const acdState *s = state;
    return acctGet(s->book, account) != NULL;
}

/* ---- journaling -------------------------------------------------------------------------- */

int cjAppend(acdState *s, uint16_t type, const void *a, uint32_t alen, const void *b, uint32_t blen)
{
    if (!s->cj.jn || s->cj.replaying)
        return 0;
    uint64_t seq;
    unsigned char *p = jnReserve(s->cj.jn, type, alen + blen, &seq);
    if (!p)
        return -1;
    memcpy(p, a, alen);
    if (blen)
        memcpy(p + alen, b, blen);
    jnPublish(s->cj.jn);
    s->cj.lastSeq = seq;
    return 0;
}

void cjAttach(acdState *s, jnJournal *jn)
{
    s->cj.jn = jn;
}

static void cjApplyEvent(acdState *s, const crEvent *ev, uint64_t nowNs)
{
    if (ev->segment < CJ_MAX_SEGMENTS)
        s->cj.consumed[ev->segment]++;
    s->cj.dirty = 1;
    lgOnEvent(s->lg, ev, nowNs);
}

/* A replayed event: void when its segment already has as many events
 * applied as existed at the next epoch (or, after the last, as its
 * worker's replay emitted). */
static void cjReplayEvent(acdState *s, const crEvent *ev, uint64_t nowNs, uint64_t seq)
{
    const uint16_t g = ev->segment;
    if (g < CJ_MAX_SEGMENTS) {
        typeof(s->cj.ep[0]) *e = &s->cj.ep[g];
        while (e->pos < e->n && e->seq[e->pos] < seq)
            e->pos++;
        const uint64_t limit = e->pos < e->n ? e->count[e->pos] : s->cj.limit[g];
        if (s->cj.consumed[g] >= limit) {
            s->cj.voided++;
            return;
        }
    }
    cjApplyEvent(s, ev, nowNs);
}

/* Applies recorded events up to the next CJ_WAIT_END (a command's drain
 * while replaying). */
static uint32_t cjReplayNested(acdState *s)
{
    jnRecord rec;
    uint32_t n = 0;
    if (!s->cj.rd || s->cj.replayErr)
        return 0;
    for (;;) {
        int rc = jnReaderNext(s->cj.rd, &rec, &s->cj.replayError);
        if (rc <= 0) {
            if (rc == 0)
                snprintf(s->cj.replayError.msg, sizeof s->cj.replayError.msg,
                         "control journal ends inside a command's drain (no wait-end record)");
            s->cj.replayErr = 1;
            return n;
        }
        s->cj.records++;
        if (rec.type == CJ_WAIT_END)
            return n;
        if (rec.type != CJ_EVENT || rec.len != 8 + sizeof(crEvent)) {
            s->cj.replayErr = 1;
            snprintf(s->cj.replayError.msg, sizeof s->cj.replayError.msg,
                     "journal %s: offset %llu: record type %u (%u bytes) inside a command's drain",
                     rec.file, (unsigned long long)rec.offset, rec.type, rec.len);
            return n;
        }
        uint64_t now;
        crEvent ev;
        memcpy(&now, rec.payload, 8);
        memcpy(&ev, (const char *)rec.payload + 8, sizeof ev);
        cjReplayEvent(s, &ev, now, rec.seq);
        n++;
    }
}

uint32_t acdDrain(acdState *s)
{
    if (s->cj.replaying)
        return cjReplayNested(s);
    crEvent ev[CJ_BURST];
    uint32_t total = 0;
    for (uint32_t w = 0; w < s->nWorkers && s->hooks.fetch; w++) {
        /* an event the journal cannot take stays in the ring for the next
         * turn; only a failed journal lets events through unjournaled */
        if (s->cj.jn && !jnStatus(s->cj.jn) && !jnRoom(s->cj.jn, CJ_BURST * CJ_EVENT_BYTES))
            continue;
        const uint32_t n = s->hooks.fetch(s->hooks.ctx, w, ev, CJ_BURST);
        const uint64_t now = acdNowNs();
        for (uint32_t i = 0; i < n; i++) {
            if (cjAppend(s, CJ_EVENT, &now, sizeof now, &ev[i], sizeof ev[i]))
                s->cj.unjournaled++;
            cjApplyEvent(s, &ev[i], now);
        }
        total += n;
    }
    return total;
}

static void cjWaitEnd(acdState *s)
{
    const uint64_t now = acdNowNs();
    if (cjAppend(s, CJ_WAIT_END, &now, sizeof now, NULL, 0))
        s->cj.unjournaled++;
}

void acdWaitReclaims(acdState *s, uint32_t account, uint32_t timeoutMs)
{
    if (s->cj.replaying) {
        cjReplayNested(s);
        return;
    }
    const uint64_t end = cjWallNs() + (uint64_t)timeoutMs * 1000000ull;
    while (lgPending(s->lg, account) > 0 && cjWallNs() < end)
        acdDrain(s);
    cjWaitEnd(s);
}

void acdQuiesce(acdState *s, uint32_t quietMs, uint32_t timeoutMs)
{
    if (s->cj.replaying) {
        cjReplayNested(s);
        return;
    }
    const uint64_t start = cjWallNs(), end = start + (uint64_t)timeoutMs * 1000000ull;
    uint64_t last = start;
    for (uint64_t now = start; now < end; now = cjWallNs()) {
        if (acdDrain(s))
            last = now;
        else if (now - last >= (uint64_t)quietMs * 1000000ull)
            break;
    }
    cjWaitEnd(s);
}

/* ---- risk scan and liquidation ------------------------------------------------------------ */

/* Force liquidation (DESIGN.md §7): cancel the account's live orders, then
 * close every lot at market, IOC, in chunks the notional limit accepts,
 * through the segment that trades each instrument. Commands on one ring are
 * applied in order, so the cancels free the lots before the closes. */
void acdLiquidate(acdState *s, uint32_t account)
{
    for (uint32_t i = 0; i < acctOrderCount(s->book); i++) {
        const acctOrder *o = acctOrderAt(s->book, i);
        if (o->account != account || o->status >= ACCT_ORDER_FILLED)
            continue;
        const cfgInstrument *in = &instAt(s->book, o->instrument)->spec;
        crCmd c = {.type = CR_CMD_CANCEL, .account = account, .amount = (int64_t)o->orderId};
        acdSendHook(s, in->segIndex, &c);
    }
    const acctAccount *a = acctGet(s->book, account);
    uint32_t it = 0;
    uint16_t ins;
    const posPosition *p;
    while (a && (p = acctNextPosition(s->book, a, &it, &ins)) != NULL) {
        const cfgInstrument *in = &instAt(s->book, ins)->spec;
        const int64_t lotValue = in->upperTicks * in->tickSize * (int64_t)in->multiplier;
        int64_t chunk = lotValue > 0 ? acctGetLimits(s->book)->maxOrderNotional / lotValue : 1;
        if (chunk > in->maxLots)
            chunk = in->maxLots;
        if (chunk < 1)
            chunk = 1;
        for (int k = 0; k < 2; k++) {
            const uint32_t lots[2] = {p->side[k].today, p->side[k].yd};
            for (int day = 0; day < 2; day++) {
                for (uint32_t left = lots[day]; left > 0;) {
                    const uint32_t q = left < chunk ? left : (uint32_t)chunk;
                    crCmd c = {.type = CR_CMD_CLOSE,
                               .account = account,
                               .book = in->book,
                               .side = k == POS_LONG ? 1 : 0,
                               .offset = day == 0 ? POS_CLOSE_TODAY : POS_CLOSE_YESTERDAY,
                               .parked = q,
                               .seq = ++s->closeSeq};
                    acdSendHook(s, in->segIndex, &c);
                    left -= q;
                }
            }
        }
    }
}

void acdScan(acdState *s, uint64_t nowNs)
{
    lgStats st;
    lgGetStats(s->lg, &st);
    if (!s->cj.replaying) {
        /* a scan over unchanged state does nothing: it is neither run nor
         * journaled (an idle exchange writes no records) */
        if (!s->cj.dirty && st.sendFailed == s->cj.scanFails && !lgBusy(s->lg))
            return;
        if (cjAppend(s, CJ_SCAN, &nowNs, sizeof nowNs, NULL, 0))
            return; /* at the next scan */
    }
    s->cj.dirty = 0;
    uint32_t liq[CJ_MAX_LIQ];
    const uint32_t k = lgScan(s->lg, nowNs, liq, CJ_MAX_LIQ);
    for (uint32_t i = 0; i < k; i++)
        acdLiquidate(s, liq[i]);
    lgGetStats(s->lg, &st);
    s->cj.scanFails = st.sendFailed;
}

/* ---- replay --------------------------------------------------------------------------------- */

static int cjBad(jnError *err, const jnRecord *r, const char *what)
{
    memset(err, 0, sizeof *err);
    err->code = JN_ECORRUPT;
    snprintf(err->file, sizeof err->file, "%s", r->file);
    err->offset = r->offset;
    snprintf(err->msg, sizeof err->msg, "journal %s: offset %llu: control record seq %llu: %s",
             r->file, (unsigned long long)r->offset, (unsigned long long)r->seq, what);
    return -1;
}

static int cjApplyRecord(acdState *s, const jnRecord *r, jnError *err)
{
    uint64_t now = 0;
    if (r->len < 8)
        return cjBad(err, r, "shorter than its time stamp");
    memcpy(&now, r->payload, 8);
    const char *p = (const char *)r->payload + 8;
    switch (r->type) {
    case CJ_CMD: {
        json_error_t je;
        json_t *j = json_loadb(p, r->len - 8, 0, &je);
        const char *cmd = json_string_value(json_object_get(j, "cmd"));
        json_t *args = json_object_get(j, "args");
        int rc = !cmd || !json_is_object(args) ? -2 : acdReplayCommand(s, cmd, args, now);
        json_decref(j);
        if (rc == -2)
            return cjBad(err, r, "command record does not parse");
        if (rc < 0)
            return cjBad(err, r, "unknown control command");
        return 0;
    }
    case CJ_EVENT: {
        crEvent ev;
        if (r->len != 8 + sizeof ev)
            return cjBad(err, r, "event record of the wrong size");
        memcpy(&ev, p, sizeof ev);
        cjReplayEvent(s, &ev, now, r->seq);
        return 0;
    }
    case CJ_SCAN:
        acdScan(s, now);
        return 0;
    case CJ_WAIT_END:
        return 0; /* a drain that found nothing to consume */
    case CJ_RESYNC:
    case CJ_EPOCH: {
        cjResyncRec x;
        if (r->len != sizeof x)
            return cjBad(err, r, "resync or epoch record of the wrong size");
        memcpy(&x, r->payload, sizeof x);
        if (r->type == CJ_EPOCH && x.segment < CJ_MAX_SEGMENTS)
            s->cj.consumed[x.segment] = (uint64_t)x.line;
        if (r->type == CJ_RESYNC)
            lgResyncLine(s->lg, x.account, x.segment, x.line);
        s->cj.dirty = 1;
        return 0;
    }
    default:
        return cjBad(err, r, "unknown record type");
    }
}

static int cjEpochAdd(acdState *s, uint16_t g, uint64_t seq, uint64_t count)
{
    typeof(s->cj.ep[0]) *e = &s->cj.ep[g];
    uint64_t *a = realloc(e->seq, sizeof *a * (e->n + 1));
    if (a)
        e->seq = a;
    uint64_t *b = a ? realloc(e->count, sizeof *b * (e->n + 1)) : NULL;
    if (!b)
        return -1;
    e->count = b;
    e->seq[e->n] = seq;
    e->count[e->n++] = count;
    return 0;
}

int cjPrepass(acdState *s, const char *dir, unsigned flags, uint64_t *skip, jnError *err)
{
    struct stat st;
    memcpy(skip, s->cj.consumed, sizeof(uint64_t) * CJ_MAX_SEGMENTS);
    if (stat(dir, &st) != 0 && errno == ENOENT)
        return 0;
    jnReader *rd = jnReaderOpen(dir, CJ_STREAM, flags, err);
    if (!rd)
        return -1;
    jnRecord rec;
    int rc;
    while ((rc = jnReaderNext(rd, &rec, err)) == 1) {
        if (rec.seq <= s->cj.afterSeq)
            continue; /* in the restored checkpoint */
        if (rec.type == CJ_EVENT && rec.len == 8 + sizeof(crEvent)) {
            crEvent ev;
            memcpy(&ev, (const char *)rec.payload + 8, sizeof ev);
            if (ev.segment < CJ_MAX_SEGMENTS)
                skip[ev.segment]++;
        } else if (rec.type == CJ_EPOCH && rec.len == sizeof(cjResyncRec)) {
            cjResyncRec x;
            memcpy(&x, rec.payload, sizeof x);
            if (x.segment >= CJ_MAX_SEGMENTS)
                continue;
            if (cjEpochAdd(s, x.segment, rec.seq, (uint64_t)x.line)) {
                snprintf(err->msg, sizeof err->msg, "control journal: out of memory");
                rc = -1;
                break;
            }
            skip[x.segment] = (uint64_t)x.line;
        }
    }
    jnReaderClose(rd);
    return rc < 0 ? -1 : 0;
}

void cjSetLimit(acdState *s, uint16_t seg, uint64_t events)
{
    if (seg < CJ_MAX_SEGMENTS)
        s->cj.limit[seg] = events;
}

void cjEpoch(acdState *s)
{
    for (uint16_t g = 0; g < s->nWorkers && g < CJ_MAX_SEGMENTS; g++) {
        const cjResyncRec x = {
            .nowNs = acdNowNs(), .segment = g, .line = (int64_t)s->cj.consumed[g]};
        if (cjAppend(s, CJ_EPOCH, &x, sizeof x, NULL, 0))
            s->cj.unjournaled++;
    }
}

int cjReplay(acdState *s, const char *dir, unsigned flags, uint64_t *lastSeq, uint64_t *records,
             jnError *err)
{
    struct stat st;
    *lastSeq = 0;
    *records = 0;
    if (stat(dir, &st) != 0 && errno == ENOENT)
        return 0;
    jnReader *rd = jnReaderOpen(dir, CJ_STREAM, flags, err);
    if (!rd)
        return -1;
    s->cj.rd = rd;
    s->cj.replaying = 1;
    s->cj.replayErr = 0;
    jnRecord rec;
    int rc;
    while ((rc = jnReaderNext(rd, &rec, err)) == 1) {
        if (rec.seq <= s->cj.afterSeq)
            continue; /* in the restored checkpoint */
        s->cj.records++;
        if (cjApplyRecord(s, &rec, err) != 0) {
            rc = -1;
            break;
        }
        if (s->cj.replayErr) {
            *err = s->cj.replayError;
            rc = -1;
            break;
        }
    }
    cjClockSet(0);
    const jnReadReport *rep = jnReaderReport(rd);
    *lastSeq = rep->lastSeq > s->cj.afterSeq ? rep->lastSeq : s->cj.afterSeq;
    *records = s->cj.records;
    s->cj.lastSeq = *lastSeq;
    s->cj.replaying = 0;
    s->cj.rd = NULL;
    jnReaderClose(rd);
    return rc < 0 ? -1 : 0;
}

uint32_t cjResync(acdState *s, cjLineFn *fn, void *ctx)
{
    uint32_t n = 0;
    for (uint32_t ai = 0; ai < acctCount(s->book); ai++) {
        const uint32_t id = acctAt(s->book, ai)->id;
        for (uint16_t seg = 0; seg < s->nWorkers; seg++) {
            int64_t line, pending;
            if (lgLineView(s->lg, id, seg, &line, &pending))
                continue;
            const int64_t w = fn(ctx, seg, id);
            if (w == line && pending == 0)
                continue;
            const cjResyncRec x = {.nowNs = acdNowNs(), .segment = seg, .account = id, .line = w};
            if (cjAppend(s, CJ_RESYNC, &x, sizeof x, NULL, 0))
                s->cj.unjournaled++;
            lgResyncLine(s->lg, id, seg, w);
            n++;
        }
    }
    s->cj.dirty = 1;
    return n;
}

/* ---- state hash ------------------------------------------------------------------------------ */

static uint64_t cjFnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

static uint64_t cjFnvJson(uint64_t h, json_t *j)
{
    char *t = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    if (t) {
        h = cjFnv(h, t, strlen(t) + 1);
        free(t);
    }
    json_decref(j);
    return h;
}

uint64_t cjStateHash(acdState *s)
{
    uint64_t h = 1469598103934665603ull;
    const acctLimits *lim = acctGetLimits(s->book);
    const int64_t l[4] = {lim->rejectRatio, lim->liquidationRatio, lim->concentration,
                          lim->maxOrderNotional};
    h = cjFnv(h, l, sizeof l);
    for (uint32_t i = 0; i < instCount(s->book); i++) {
        const acctInstrument *in = instAt(s->book, (uint16_t)i);
        const int64_t v[8] = {
            in->status,          in->lastPrice,           in->settlePrice,
            in->spec.marginRate, in->spec.commissionRate, in->spec.commissionPerLot,
            in->spec.minLots,    in->spec.maxLots};
        h = cjFnv(h, v, sizeof v);
    }
    for (uint32_t ai = 0; ai < acctCount(s->book); ai++) {
        const acctAccount *a = acctAt(s->book, ai);
        h = cjFnvJson(h, lgAccountJson(s->book, a));
        uint32_t it = 0;
        uint16_t ins;
        const posPosition *p;
        while ((p = acctNextPosition(s->book, a, &it, &ins)) != NULL)
            h = cjFnvJson(h, lgPositionJson(s->book, a->id, ins, p));
    }
    for (uint32_t i = 0; i < acctOrderCount(s->book); i++)
        h = cjFnvJson(h, lgOrderJson(s->book, acctOrderAt(s->book, i)));
    const uint64_t n[5] = {acctTradeCount(s->book), settleCount(s->book),
                           acctLiquidationCount(s->book), s->closeSeq,
                           settleCount(s->book) ? settleAt(s->book, 0)->date : 0};
    h = cjFnv(h, n, sizeof n);
    h = cjFnv(h, s->cj.consumed, sizeof s->cj.consumed);
    return lgHash(s->lg, h);
}

void acdSetNotify(acdState *s, int on)
{
    lgSetNotify(s->lg, acdNotify, s, on);
}

json_t *acdControlStatus(void *ctx)
{
    acdState *s = ctx;
    char hash[17];
    snprintf(hash, sizeof hash, "%016llx", (unsigned long long)cjStateHash(s));
    lgStats st;
    lgGetStats(s->lg, &st);
    return json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "control_hash", hash,
                     "control_seq", (json_int_t)s->cj.lastSeq, "control_durable_seq",
                     (json_int_t)(s->cj.jn ? jnDurableSeq(s->cj.jn) : 0), "records_replayed",
                     (json_int_t)s->cj.records, "unjournaled", (json_int_t)s->cj.unjournaled,
                     "refused", (json_int_t)s->cj.refused, "accounts",
                     (json_int_t)acctCount(s->book), "mismatches", (json_int_t)st.mismatches);
}
