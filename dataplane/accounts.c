/* accounts.c -- the control lcore's accounts loop: credit events in, risk scan, liquidation, events
 * out. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "control/log.h"
#include "dataplane/accounts.h"
#include "dataplane/ctlckpt.h"
#include "dataplane/crlink.h"

#define ACD_SCAN_NS (10 * 1000000ull) /* risk scan period */
#define ACD_BUSY_NS (50 * 1000000ull) /* events within this: nap, do not sleep in poll */
#define ACD_NAP_NS  50000             /* the nap between empty polls while busy */

static int acdSend(void *ctx, uint16_t seg, const crCmd *c)
{
    acdState *s = ctx;
    return seg < s->nWorkers ? crlSend(wkCredit(s->workers[seg]), c) : -1;
}

static uint32_t acdFetch(void *ctx, uint32_t seg, crEvent *out, uint32_t max)
{
    acdState *s = ctx;
    return crlEvents(wkCredit(s->workers[seg]), out, max);
}

/* Moves a book's trading state through its worker. */
static int acdSetBookState(void *ctx, uint16_t seg, uint16_t book, uint8_t state)
{
    acdState *s = ctx;
    wkRequest *r = calloc(1, sizeof *r);
    if (!r || seg >= s->nWorkers)
        return -1;
    r->type = WK_REQ_SET_STATE;
    r->arg.setState.instrument = book;
    r->arg.setState.state = state;
    if (wkCall(s->workers[seg], r, 2000) != 0)
        return -1; /* r stays allocated: the worker may still answer */
    free(r);
    return 0;
}

/* instrument.add on the owning worker: the book's memory is allocated
 * here, on the control lcore, so the worker only links it in. On a
 * timeout the request and the memory stay allocated (the worker may still
 * take them). */
static int acdAddInstrument(void *ctx, const cfgInstrument *ins, uint16_t cfgIndex)
{
    acdState *s = ctx;
    if (ins->segIndex >= s->nWorkers)
        return 5000;
    const mtBookConfig bc = {.lowerPrice = ins->lowerTicks,
                             .upperPrice = ins->upperTicks,
                             .referencePrice = ins->preSettlementTicks,
                             .minLots = ins->minLots,
                             .maxLots = ins->maxLots};
    wkWorker *w = s->workers[ins->segIndex];
    wkRequest *r = calloc(1, sizeof *r);
    mtBookMem *mem = calloc(1, sizeof *mem);
    cfgInstrument *copy = malloc(sizeof *copy);
    if (!r || !mem || !copy || mtBookMemAlloc(gwEngine(wkGateway(w)), &bc, mem) != MT_OK) {
        free(r);
        free(mem);
        free(copy);
        return 5000;
    }
    *copy = *ins;
    r->type = WK_REQ_INSTRUMENT_ADD;
    r->arg.insAdd.ins = copy;
    r->arg.insAdd.mem = mem;
    r->arg.insAdd.cfgIndex = cfgIndex;
    if (wkCall(w, r, 2000) != 0)
        return 5000; /* r, mem and copy stay: the worker may still answer */
    const int rc = r->rc;
    mtBookMemFree(gwEngine(wkGateway(w)), mem); /* the engine took it unless rc != 0 */
    free(mem);
    free(copy);
    free(r);
    return rc == 0 ? 0 : rc == XOE_CODE_STORAGE ? 5002 : 5000;
}

static json_t *acdSegStats(void *ctx)
{
    acdState *s = ctx;
    json_t *segs = json_array();
    for (uint32_t w = 0; w < s->nWorkers; w++) {
        crlStats c;
        crlGetStats(wkCredit(s->workers[w]), &c);
        json_array_append_new(
            segs, json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "events", (json_int_t)c.events,
                            "spilled", (json_int_t)c.spilled, "lost", (json_int_t)c.lost,
                            "commands", (json_int_t)c.commands, "liquidations_no_session",
                            (json_int_t)c.liquidationsNoSession, "replay_skipped",
                            (json_int_t)c.skipped));
    }
    return segs;
}

acdState *acdCreate(cfgConfig *cfg, wkWorker **workers, uint32_t nWorkers, ctlServer *ctl,
                    uint32_t tradingDay)
{
    acdState *s = acdCreateCore(cfg, nWorkers, ctl, tradingDay, NULL);
    if (!s)
        return NULL;
    s->workers = workers;
    s->hooks = (acdHooks){.send = acdSend,
                          .sendCtx = s,
                          .fetch = acdFetch,
                          .setBookState = acdSetBookState,
                          .addInstrument = acdAddInstrument,
                          .segStats = acdSegStats,
                          .ctx = s};
    return s;
}

int acdInstrumentsRecover(acdState *s, char *err, size_t errlen)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    const uint64_t nowNs = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    /* a control checkpoint's book may hold instruments the config file does not */
    for (uint32_t i = s->cfg->instrumentCount; i < instCount(s->book); i++) {
        if (cfgInstrumentAppend(s->cfg, &instAt(s->book, (uint16_t)i)->spec) != (int)i) {
            snprintf(err, errlen,
                     "instrument %s of the recovered state does not fit the config "
                     "(instrument_capacity or a changed instruments list)",
                     instAt(s->book, (uint16_t)i)->spec.id);
            return -1;
        }
        lgInstrumentAdded(s->lg, (uint16_t)i);
    }
    for (uint32_t i = 0; i < s->cfg->instrumentCount; i++) {
        const cfgInstrument *in = &s->cfg->instruments[i];
        if (in->segIndex >= s->nWorkers ||
            in->book < gwInstrumentCount(wkGateway(s->workers[in->segIndex])))
            continue;
        const int rc = wkAddInstrumentOffline(s->workers[in->segIndex], (uint16_t)i, nowNs);
        if (rc) {
            snprintf(err, errlen, "instrument %s: segment %u cannot define its book (code %d)",
                     in->id, in->segment, rc);
            return -1;
        }
        logText(LOGL_WARNING,
                "instrument %s: added to segment %u at start (its instrument.add reached the "
                "control journal but not the segment's)",
                in->id, in->segment);
    }
    return 0;
}

int acdRecover(acdState *s, const char *walDir, int recoverToCorruption, jnJournal **jn, char *err,
               size_t errlen)
{
    snprintf(s->walDir, sizeof s->walDir, "%s/control", walDir);
    uint64_t skip[CJ_MAX_SEGMENTS];
    jnError je;
    unsigned flags = JN_RD_REPAIR | (recoverToCorruption ? JN_RD_STOP_AT_BAD : 0);
    /* the newest checkpoint's control state, then only the stream after it
     * (dataplane/ctlckpt.h) */
    char root[CFG_PATH_MAX + 16];
    snprintf(root, sizeof root, "%s/checkpoints", s->cfg->storage.dataDir);
    if (ccRecover(s, root, s->walDir, err, errlen) < 0)
        return -1;
    if (cjPrepass(s, s->walDir, flags, skip, &je) != 0) {
        snprintf(err, errlen,
                 "recovery of the control stream stopped: %s; xchgd does not start on a damaged "
                 "journal",
                 je.msg);
        return -1;
    }
    for (uint32_t w = 0; w < s->nWorkers && w < CJ_MAX_SEGMENTS; w++)
        crlSetSkip(wkCredit(s->workers[w]), skip[w]);
    jnConfig jc;
    jnConfigDefaults(&jc);
    jc.dir = s->walDir;
    jc.stream = CJ_STREAM;
    /* the control stream carries far fewer bytes than a segment's: files
     * of 1/16 of storage.wal_segment_size (at least 64 KiB), so the two it
     * prepares ahead do not double the space the journals take */
    jc.segmentBytes = (s->cfg->storage.walSegmentSize / 16) & ~(uint64_t)4095;
    if (jc.segmentBytes < 131072)
        jc.segmentBytes = 131072;
    jc.maxPayload = 16384; /* a longer command is answered 5002 */
    if (s->cfg->storage.durability == CFG_DURABILITY_ASYNC)
        jc.commitGapUs = s->cfg->storage.asyncCommitUs;
    *jn = jnOpen(&jc, &je);
    if (!*jn) {
        snprintf(err, errlen, "control stream: %s", je.msg);
        return -1;
    }
    s->pendingJn = *jn;
    return 0;
}

static uint64_t acdDurable(void *ctx)
{
    const acdState *s = ctx;
    return s->cj.jn ? jnDurableSeq(s->cj.jn) : UINT64_MAX;
}

static int64_t acdWorkerLine(void *ctx, uint16_t seg, uint32_t account)
{
    acdState *s = ctx;
    return crLine(crlRisk(wkCredit(s->workers[seg])), account);
}

int acdStart(acdState *s, char *err, size_t errlen)
{
    uint64_t last, records;
    jnError je;
    for (uint32_t w = 0; w < s->nWorkers && w < CJ_MAX_SEGMENTS; w++) {
        crlStats st;
        crlGetStats(wkCredit(s->workers[w]), &st);
        cjSetLimit(s, (uint16_t)w, st.events);
        /* a replay that emitted fewer events than the control core had
         * consumed (their inputs were not durable) leaves skip over: the
         * live events from now on must not be dropped */
        crlSetSkip(wkCredit(s->workers[w]), 0);
    }
    const uint64_t t0 = acdNowNs();
    if (cjReplay(s, s->walDir, 0, &last, &records, &je) != 0) {
        snprintf(err, errlen, "recovery of the control stream stopped: %s", je.msg);
        return -1;
    }
    const double secs = (double)(acdNowNs() - t0) / 1e9;
    printf("xchgd: recovery: control: %llu records (last sequence %llu) replayed in %.3f s, %u "
           "account(s), %llu event(s) void (their worker inputs never became durable)\n",
           (unsigned long long)records, (unsigned long long)last, secs, acctCount(s->book),
           (unsigned long long)s->cj.voided);
    cjAttach(s, s->pendingJn);
    if (s->ctl && s->cfg->storage.durability == CFG_DURABILITY_SYNC)
        ctlServerSetGate(s->ctl, acdDurable, s);
    cjEpoch(s);
    uint64_t tail = 0;
    for (uint32_t n; (n = acdDrain(s)) > 0;)
        tail += n;
    const uint32_t fixed = cjResync(s, acdWorkerLine, s);
    printf("xchgd: recovery: control: %llu event(s) of the workers' replay consumed after the "
           "control stream, %u line(s) resynced, state hash %016llx\n",
           (unsigned long long)tail, fixed, (unsigned long long)cjStateHash(s));
    fflush(stdout);
    return 0;
}

int acdIdleMs(const acdState *s)
{
    /* while events flow acdPoll naps 50 us when the rings are empty (the
     * fill-to-account lag stays in microseconds without spinning a core the
     * kernel and the storage threads share); after 50 ms of quiet the loop
     * sleeps up to 1 ms in poll */
    return acdNowNs() - s->lastEventNs < ACD_BUSY_NS ? 0 : 1;
}

uint32_t acdPoll(acdState *s)
{
    ctlServerStats cs;
    ctlServerGetStats(s->ctl, &cs);
    acdSetNotify(s, cs.subscribers > 0);
    const uint32_t n = acdDrain(s);
    const uint64_t now = acdNowNs();
    if (n) {
        s->lastEventNs = now;
    } else if (now - s->lastEventNs < ACD_BUSY_NS) {
        const struct timespec nap = {0, ACD_NAP_NS};
        nanosleep(&nap, NULL);
    }
    if (now - s->lastScanNs >= ACD_SCAN_NS) {
        s->lastScanNs = now;
        acdScan(s, now);
    }
    return n;
}
