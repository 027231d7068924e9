/* durable.c -- recovery by replay at start, the journals and their storage thread, shutdown. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <rte_lcore.h>

#include "control/ctl.h"
#include "dataplane/crlink.h"
#include "dataplane/ctlckpt.h"
#include "dataplane/ctljournal.h"
#include "dataplane/durable.h"
#include "dataplane/gwsnap.h"
#include "dataplane/histfeed.h"
#include "dataplane/replica.h"
#include "dataplane/wal.h"
#include "storage/checkpoint.h"
#include "storage/journal.h"

#define DU_MAX_CKPT 64
#define DU_ERR_CKPT 5010 /* control error: the checkpoint failed (message says why) */
#define DU_SESSIONS 64   /* as xchgd when duOptions leaves them 0 */
#define DU_HISTORY  4096

/* The record a segment's checkpoint carries after the gateway's (whose
 * kinds end at 0x7F): how many credit events the segment had emitted up to
 * the checkpoint's sequence (8 bytes, little-endian). Recovery subtracts
 * it from the control core's skip count (docs/storage/checkpoint.md,
 * "Credit events and the control core"). */
#define DU_KEY_CR_EVENTS 0x80

/* frames a segment may hold for durability: half of it (the point where the
 * worker stops reading input) stays well below the worker's 8191 mbufs */
#define DU_GATE_SLOTS 4096

/* A segment's shadow for the replica: its own gateway and credit state,
 * and the credit events it emitted (the segment's whole count: a restored
 * checkpoint's plus those of the records applied since). */
typedef struct {
    crRisk *risk;
    gwGateway *gw;
    uint64_t events;
    hfFeed *hf;   /* the history its reports go to (NULL: none) */
    uint32_t idx; /* its segment index */
} duShadow;

struct duStore {
    uint32_t n;
    jnJournal **j;
    walLog **wal;
    jnGroup *group;
    jnJournal *control; /* the control core's stream, in the group after the segments */
    int recovered;
    uint32_t maxSessionId;
    const cfgConfig *cfg;
    duOptions opt;
    char ckRoot[CFG_PATH_MAX + 16];
    duShadow *shadow;
    uint64_t ckId;      /* checkpoint recovered from, 0: none */
    ckManifest ckm;     /* ... its manifest */
    uint64_t nextCkId;  /* id of the next checkpoint */
    wkWorker **workers; /* during duOpen: their credit links hold the skip counts */
    rpReplica *replica;
    hfFeed *hf;    /* the trading history, fed by the replica (NULL: none) */
    ccMailbox *cc; /* the control core's captures (opt.acd), NULL: none */
    int running;   /* duOpen succeeded: duClose takes the final checkpoint */
};

static uint64_t duNow(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* mkdir -p, then a file actually created and removed: access(2) says yes
 * to root on a read-only filesystem. */
static int duCheckDir(const char *dir, char *err, size_t errlen)
{
    char path[CFG_PATH_MAX + 64];
    snprintf(path, sizeof path, "%s", dir);
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p)
            continue;
        char c = *p;
        *p = 0;
        if (mkdir(path, 0750) && errno != EEXIST) {
            snprintf(err, errlen, "storage directory %s cannot be created: %s", path,
                     strerror(errno));
            return -1;
        }
        *p = c;
        if (!c)
            break;
    }
    snprintf(path, sizeof path, "%s/.xchgd-write-test", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "storage directory %s is not writable: %s", dir, strerror(errno));
        return -1;
    }
    close(fd);
    unlink(path);
    return 0;
}

static void duProgress(void *ctx, const walReplayReport *r)
{
    const unsigned *seg = ctx;
    printf("xchgd: recovery: segment %u: %llu records replayed (%.0f records/s)\n", *seg,
           (unsigned long long)r->records, r->ns ? (double)r->records * 1e9 / (double)r->ns : 0.0);
    fflush(stdout);
}

/* ---- checkpoints: shadows, choice, restore ---- */

/* The shadows' sends and credit events go nowhere (the live worker sent
 * them) but to the trading history. */
static void duShadowSend(void *ctx, gwAddr to, const uint8_t *data, uint16_t len)
{
    const duShadow *s = ctx;
    (void)to;
    if (s->hf)
        hfFrame(s->hf, s->idx, s->gw, data, len);
}

static void duShadowEmit(void *ctx, const crEvent *ev)
{
    duShadow *s = ctx;
    (void)ev;
    s->events++; /* the number the next checkpoint records */
}

static void duShadowFree(duShadow *s)
{
    gwDestroy(s->gw);
    crDestroy(s->risk);
    s->gw = NULL;
    s->risk = NULL;
    s->events = 0;
}

/* A fresh shadow of segment i made with the worker's options (a snapshot
 * restores only into a gateway with the same ones). */
static int duShadowMake(duStore *d, uint32_t i)
{
    duShadow *s = &d->shadow[i];
    crOptions co;
    duShadowFree(s);
    crlRiskOptions(&co, d->cfg, (uint16_t)i, d->cfg->segments[i].orderCapacity + CRL_REF_SPARE,
                   NULL);
    co.emit = duShadowEmit;
    co.emitCtx = s;
    s->risk = crCreate(&co);
    gwOptions go = {.cfg = d->cfg,
                    .segment = (uint16_t)i,
                    .maxSessions = d->opt.maxSessions ? d->opt.maxSessions : DU_SESSIONS,
                    .historyDepth = d->opt.historyDepth ? d->opt.historyDepth : DU_HISTORY,
                    .tradingDay = d->opt.tradingDay,
                    .risk = s->risk,
                    .send = duShadowSend,
                    .sendCtx = s};
    s->gw = s->risk ? gwCreate(&go) : NULL;
    if (!s->gw) {
        duShadowFree(s);
        return -1;
    }
    return 0;
}

static void duSegDir(const duStore *d, uint32_t i, char *dir, size_t n)
{
    snprintf(dir, n, "%s/seg-%u", d->cfg->storage.walDir, d->cfg->segments[i].id);
}

/* A source that hands the gateway its records and keeps the credit event
 * count (DU_KEY_CR_EVENTS) for durable.c. */
typedef struct {
    ckptSource in;
    uint64_t events;
    int seen, bad;
} duEvSource;

static int duEvNext(void *ctx, const void **key, size_t *klen, const void **val, size_t *vlen)
{
    duEvSource *e = ctx;
    for (;;) {
        int rc = ckptNext(&e->in, key, klen, val, vlen);
        if (rc != 1 || *klen == 0 || ((const uint8_t *)*key)[0] != DU_KEY_CR_EVENTS)
            return rc;
        if (*klen != 1 || *vlen != 8 || e->seen) {
            e->bad = 1;
            return -1;
        }
        const uint8_t *v = *val;
        e->events = 0;
        for (int b = 7; b >= 0; b--)
            e->events = e->events << 8 | v[b];
        e->seen = 1;
    }
}

/* Restores stream cs of checkpoint id into gw; *events: the credit events
 * the segment had emitted up to the checkpoint's sequence. */
static int duRestoreInto(duStore *d, uint64_t id, const ckStream *cs, gwGateway *gw,
                         uint64_t *events, char *err, size_t errlen)
{
    duEvSource e = {0};
    ckReader *r = ckReaderOpen(d->ckRoot, id, cs, &e.in, err, errlen);
    if (!r)
        return -1;
    const ckptSource src = {.next = duEvNext, .ctx = &e};
    int rc = gwRestore(gw, &src);
    if (rc && e.bad)
        snprintf(err, errlen, "stream %u (%s): a damaged credit event count record", cs->stream,
                 cs->file);
    else if (rc)
        snprintf(err, errlen, "stream %u (%s): restore refused: %s", cs->stream, cs->file,
                 gwSnapError());
    else if (!e.seen) {
        snprintf(err, errlen,
                 "stream %u (%s): no credit event count (a checkpoint of an older build): the "
                 "control core's skip count cannot be set",
                 cs->stream, cs->file);
        rc = -1;
    }
    ckReaderClose(r);
    *events = e.events;
    return rc;
}

/* The journal of segment i continues right after what m covers. */
static int duFits(duStore *d, const ckManifest *m, uint32_t i, char *err, size_t errlen)
{
    const unsigned id = d->cfg->segments[i].id;
    const ckStream *cs = ckFind(m, id);
    char dir[CFG_PATH_MAX + 32];
    uint64_t first, last;
    jnError je;
    duSegDir(d, i, dir, sizeof dir);
    if (!cs) {
        snprintf(err, errlen, "it holds no state of segment %u", id);
        return -1;
    }
    if (jnStreamRange(dir, id, &first, &last, &je)) {
        snprintf(err, errlen, "segment %u: %.600s", id, je.msg);
        return -1;
    }
    if (first > cs->seq + 1) {
        snprintf(err, errlen,
                 "stale: segment %u's journal starts at sequence %llu, it covers up to %llu: "
                 "the records between are gone",
                 id, (unsigned long long)first, (unsigned long long)cs->seq);
        return -1;
    }
    if (last < cs->seq) {
        snprintf(err, errlen,
                 "newer than the journal: segment %u's journal ends at sequence %llu, the "
                 "checkpoint covers up to %llu",
                 id, (unsigned long long)last, (unsigned long long)cs->seq);
        return -1;
    }
    return 0;
}

/* Checkpoint id is whole (CRCs), fits every journal and restores into
 * fresh shadows (a failed restore leaves a gateway unusable: the workers'
 * own are restored only once the shadows took it). strict: each segment's
 * credit events up to the checkpoint are among those the control core's
 * stream consumed (its skip count), or the replay from the checkpoint
 * could not give the control core the ones it lacks. */
static int duTry(duStore *d, uint64_t id, int strict, char *err, size_t errlen)
{
    if (ckLoad(d->ckRoot, id, &d->ckm, err, errlen))
        return -1;
    for (uint32_t i = 0; i < d->n; i++)
        if (duFits(d, &d->ckm, i, err, errlen))
            return -1;
    for (uint32_t i = 0; i < d->n; i++) {
        const ckStream *cs = ckFind(&d->ckm, d->cfg->segments[i].id);
        if (duShadowMake(d, i)) {
            snprintf(err, errlen, "out of memory for the replica's gateways");
            return -1;
        }
        uint64_t ev;
        if (duRestoreInto(d, id, cs, d->shadow[i].gw, &ev, err, errlen))
            return -1;
        d->shadow[i].events = ev;
        const uint64_t skip = d->workers ? crlSkip(wkCredit(d->workers[i])) : ev;
        if (strict && ev > skip) {
            snprintf(err, errlen,
                     "segment %u had emitted %llu credit events up to it, the control core's "
                     "stream consumed only %llu: the replay from it cannot give the others back",
                     d->cfg->segments[i].id, (unsigned long long)ev, (unsigned long long)skip);
            return -1;
        }
    }
    return 0;
}

static int duFullReplayOk(duStore *d, int n, char *err, size_t errlen);

/* Where recovery starts: the newest checkpoint duTry accepts, else a full
 * replay when every journal still starts at sequence 1, else the newest
 * checkpoint that fails only duTry's strict check; else xchgd must not
 * start. */
static int duChoose(duStore *d, char *err, size_t errlen)
{
    uint64_t ids[DU_MAX_CKPT];
    int n = ckList(d->ckRoot, ids, DU_MAX_CKPT);
    if (n < 0)
        printf("xchgd: recovery: warning: %s cannot be read: %s\n", d->ckRoot, strerror(errno));
    n = n < 0 ? 0 : n;
    d->nextCkId = n > 0 ? ids[0] + 1 : 1;
    /* A segment restored from a checkpoint does not bring its feed back
     * (the builder's sequence numbers, trading states and published
     * orders: docs/storage/checkpoint.md, "Not done"), so by default a
     * complete journal is replayed instead. */
    if (!d->cfg->storage.recoverFromCheckpoint && n > 0 && duFullReplayOk(d, n, err, errlen) == 0) {
        printf("xchgd: recovery: full replay of the journals (they start at sequence 1; "
               "storage.recover_from_checkpoint is off)\n");
        fflush(stdout);
        return 0;
    }
    for (int k = 0; k < n; k++) {
        char why[CK_ERR_MAX];
        if (duTry(d, ids[k], 1, why, sizeof why) == 0) {
            d->ckId = ids[k];
            printf("xchgd: recovery: from checkpoint %llu (%u stream(s)) plus the journal tail\n",
                   (unsigned long long)ids[k], d->ckm.n);
            return 0;
        }
        printf("xchgd: recovery: checkpoint %llu not used: %s%s\n", (unsigned long long)ids[k], why,
               k + 1 < n ? "; trying the previous one" : "");
    }
    if (duFullReplayOk(d, n, err, errlen) == 0) {
        if (n > 0)
            printf("xchgd: recovery: no usable checkpoint: full replay of the journals\n");
        fflush(stdout);
        return 0;
    }
    /* Neither: a checkpoint that covers credit events the control core
     * never journaled is still better than not starting. Its accounts miss
     * those events (the restart's resync sets the credit lines from the
     * workers); the log says how many. */
    for (int k = 0; k < n; k++) {
        char why[CK_ERR_MAX];
        if (duTry(d, ids[k], 0, why, sizeof why) == 0) {
            d->ckId = ids[k];
            printf("xchgd: recovery: warning: from checkpoint %llu although the control core's "
                   "stream lacks some credit events it covers (a full replay is impossible: "
                   "%s)\n",
                   (unsigned long long)ids[k], err);
            fflush(stdout);
            return 0;
        }
    }
    return -1;
}

/* A full replay can rebuild every segment: each journal starts at sequence
 * 1 (or is empty with no checkpoint around). Makes fresh shadows. */
static int duFullReplayOk(duStore *d, int n, char *err, size_t errlen)
{
    for (uint32_t i = 0; i < d->n; i++) {
        char dir[CFG_PATH_MAX + 32];
        uint64_t first = 0, last = 0;
        jnError je;
        duSegDir(d, i, dir, sizeof dir);
        if (duShadowMake(d, i)) {
            snprintf(err, errlen, "out of memory for the replica's gateways");
            return -1;
        }
        if (jnStreamRange(dir, d->cfg->segments[i].id, &first, &last, &je) == 0 && n > 0 &&
            first == 0) {
            snprintf(err, errlen,
                     "segment %u: its journal is empty but checkpoints exist under %s and none "
                     "can be used: starting empty would lose their state; xchgd does not start "
                     "(put the journal back, or move the checkpoints away to start empty)",
                     d->cfg->segments[i].id, d->ckRoot);
            return -1;
        }
        if (first > 1) {
            snprintf(err, errlen,
                     "segment %u: no usable checkpoint, and its journal starts at sequence %llu: "
                     "the state before it is lost; xchgd does not start (put back a valid "
                     "checkpoint under %s or the journal's first files)",
                     d->cfg->segments[i].id, (unsigned long long)first, d->ckRoot);
            return -1;
        }
    }
    return 0;
}

static int duSnapFailed; /* the last snapshot failed on the count record (replica thread) */

static int duApplyRec(void *state, uint16_t type, const void *payload, uint32_t len)
{
    return walApply(((duShadow *)state)->gw, type, payload, len);
}

/* As duApplyRec, for the history: a record's reports are flushed out of
 * the shadow before the next record (so each is taken under its own
 * sequence), then the sequence is stored as covered. */
static int duApplyAt(void *state, uint64_t seq, uint16_t type, const void *payload, uint32_t len)
{
    duShadow *s = state;
    hfBegin(s->hf, s->idx, seq);
    int rc = walApply(s->gw, type, payload, len);
    gwFlush(s->gw);
    if (rc == 0)
        hfEnd(s->hf, s->idx);
    return rc;
}

static void duHistTick(void *ctx)
{
    hfTick(ctx);
}

static int duHistSync(void *ctx, char *err, size_t errlen)
{
    return hfSync(ctx, err, errlen);
}

/* Opens the history in <sst_dir>/history (what xchgctl query reads) and
 * gives it to the shadows. The history is derived data: one that cannot be
 * opened is logged and trading starts without it. */
static void duOpenHistory(duStore *d)
{
    char dir[CFG_PATH_MAX + 16], why[512];
    snprintf(dir, sizeof dir, "%s/history", d->cfg->storage.sstDir);
    d->hf = hfOpen(d->cfg, dir, why, sizeof why);
    if (!d->hf) {
        printf("xchgd: history: not kept: %s\n", why);
        return;
    }
    printf("xchgd: history: %s, segment 0 covered up to sequence %llu\n", dir,
           (unsigned long long)hfPosition(d->hf, 0));
    for (uint32_t i = 0; i < d->n; i++) {
        d->shadow[i].hf = d->hf;
        d->shadow[i].idx = i;
        const ckStream *cs = d->ckId ? ckFind(&d->ckm, d->cfg->segments[i].id) : NULL;
        if (cs && cs->seq > hfPosition(d->hf, i)) /* the history had stopped (disk) */
            printf("xchgd: history: warning: segment %u: the history covers up to sequence %llu "
                   "but the replica starts after %llu: records %llu..%llu are not in it\n",
                   d->cfg->segments[i].id, (unsigned long long)hfPosition(d->hf, i),
                   (unsigned long long)cs->seq, (unsigned long long)hfPosition(d->hf, i) + 1,
                   (unsigned long long)cs->seq);
    }
}

/* The shadow is between inputs, but a timer or control input leaves its
 * frames batched until the next flush (the worker flushes per burst):
 * flushing sends them nowhere and changes no state. */
static int duSnapRec(void *state, const ckptSink *sink)
{
    const duShadow *s = state;
    uint8_t key = DU_KEY_CR_EVENTS, v[8];
    for (int b = 0; b < 8; b++)
        v[b] = (uint8_t)(s->events >> (8 * b));
    gwFlush(s->gw);
    if (gwSnapshot(s->gw, sink))
        return -1;
    if (ckptPut(sink, &key, 1, v, sizeof v)) {
        duSnapFailed = 1;
        return -1;
    }
    duSnapFailed = 0;
    return 0;
}

/* Why the last snapshot failed: the gateway's reason, or the count's. */
static const char *duSnapWhy(void)
{
    return duSnapFailed ? "the credit event count record could not be stored" : gwSnapError();
}

/* Starts the replica on the shadows; the control core's stream (one more
 * component with its own shadow, apply and snapshot) is added here too. */
static int duStartReplica(duStore *d, char *err, size_t errlen)
{
    const cfgStorage *st = &d->cfg->storage;
    rpOptions ro = {.root = d->ckRoot,
                    .cpu = d->cfg->lcores.storage,
                    .intervalS = st->checkpointIntervalS,
                    .everyRecords = st->checkpointRecords,
                    .kept = st->checkpointsKept,
                    .segmentsRetained = st->segmentsRetained,
                    .firstId = d->nextCkId};
    duOpenHistory(d);
    if (d->hf) {
        ro.hookCtx = d->hf;
        ro.tick = duHistTick;
        ro.sync = duHistSync;
    }
    d->replica = rpCreate(&ro);
    for (uint32_t i = 0; d->replica && i < d->n; i++) {
        const unsigned id = d->cfg->segments[i].id;
        const ckStream *cs = d->ckId ? ckFind(&d->ckm, id) : NULL;
        rpComponent c = {.stream = id,
                         .journal = d->j[i],
                         .state = &d->shadow[i],
                         .apply = duApplyRec,
                         .applyAt = d->hf ? duApplyAt : NULL,
                         .snapshot = duSnapRec,
                         .why = duSnapWhy,
                         .seq = cs ? cs->seq : 0};
        snprintf(c.name, sizeof c.name, "segment %u", id);
        duSegDir(d, i, c.dir, sizeof c.dir);
        if (rpAddComponent(d->replica, &c)) {
            snprintf(err, errlen, "replica: too many streams");
            return -1;
        }
    }
    if (d->replica && d->control && d->opt.acd) {
        /* the control core: captured on its own lcore between inputs, not
         * followed (docs/storage/checkpoint.md) */
        rpComponent c = {.name = "control",
                         .stream = CJ_STREAM,
                         .journal = d->control,
                         .snapshot = ccSnapshot,
                         .seqNow = ccSeqNow};
        snprintf(c.dir, sizeof c.dir, "%s/control", d->cfg->storage.walDir);
        d->cc = ccCreate(d->opt.acd, c.dir);
        c.state = d->cc;
        if (!d->cc || rpAddComponent(d->replica, &c)) {
            snprintf(err, errlen, "replica: the control core's component cannot be added");
            return -1;
        }
    }
    if (!d->replica) {
        snprintf(err, errlen, "out of memory for the replica");
        return -1;
    }
    return rpStart(d->replica, err, errlen);
}

/* Replays one segment's stream into its gateway. */
static int duReplay(duStore *d, const char *dir, uint32_t i, wkWorker *w, const duOptions *opt,
                    char *err, size_t errlen)
{
    walReplayReport rep;
    jnError je;
    unsigned flags = JN_RD_REPAIR | (opt->recoverToCorruption ? JN_RD_STOP_AT_BAD : 0);
    unsigned segId = d->cfg->segments[i].id;
    gwGateway *gw = wkGateway(w);
    const ckStream *cs = d->ckId ? ckFind(&d->ckm, segId) : NULL;
    const uint64_t after = cs ? cs->seq : 0;
    if (cs) {
        const uint64_t t0 = duNow();
        uint64_t ev;
        const uint64_t skip = crlSkip(wkCredit(w));
        if (duRestoreInto(d, d->ckId, cs, gw, &ev, err, errlen))
            return -1;
        /* the replay emits only the tail's events: the control core's skip
         * count covers the segment's whole day */
        if (crlSetEmitted(wkCredit(w), ev))
            printf("xchgd: recovery: segment %u: WARNING: the control core lacks %llu credit "
                   "event(s) the checkpoint covers (it consumed %llu of %llu): its accounts miss "
                   "them\n",
                   segId, (unsigned long long)(ev - skip), (unsigned long long)skip,
                   (unsigned long long)ev);
        printf("xchgd: recovery: segment %u: checkpoint %llu restored (state at sequence %llu, "
               "%llu records, %llu bytes, %llu credit events; control skip %llu -> %llu) in "
               "%.3f s\n",
               segId, (unsigned long long)d->ckId, (unsigned long long)cs->seq,
               (unsigned long long)cs->entries, (unsigned long long)cs->bytes,
               (unsigned long long)ev, (unsigned long long)skip,
               (unsigned long long)crlSkip(wkCredit(w)), (double)(duNow() - t0) / 1e9);
        d->recovered = 1;
    }
    /* not gwSetReplaying here: with it, storage_fail.sh's torn-tail and
     * journal-stall cases failed (state hash after recovery, no trading
     * after the thaw) while xchg-replay's hashes matched; not understood
     * yet (docs/perf/dataplane.md, "Replay, 2026-11-22 third") */
    const int rc = walReplayFrom(dir, segId, flags, after, gw, duProgress, &segId, &rep, &je);
    if (rc) {
        snprintf(err, errlen,
                 "recovery of segment %u stopped: %s; xchgd does not start on a damaged journal "
                 "(--recover-to-corruption replays up to the damage and sets the rest aside)",
                 segId, je.msg);
        return -1;
    }
    const jnReadReport *rd = &rep.read;
    if (rd->cut)
        printf("xchgd: recovery: segment %u: torn tail cut: %s offset %llu (%llu bytes, %llu "
               "records of the unfinished commit)\n",
               segId, rd->tornFile, (unsigned long long)rd->tornOffset,
               (unsigned long long)rd->tornBytes, (unsigned long long)rd->tornRecords);
    if (rd->stoppedAtBad) {
        printf("xchgd: recovery: segment %u: WARNING: journal damaged: %s; recovering up to it "
               "as asked: the inputs after it are lost\n",
               segId, rd->bad.msg);
        int k = jnCutAt(dir, rd->bad.file, rd->bad.offset, &je);
        if (k < 0) {
            snprintf(err, errlen, "segment %u: cannot set the damage aside: %s", segId, je.msg);
            return -1;
        }
        printf("xchgd: recovery: segment %u: %d file(s) cut or renamed *.damaged\n", segId, k);
    }
    double secs = (double)rep.ns / 1e9;
    printf("xchgd: recovery: segment %u: %s%llu records (sequences %llu..%llu) replayed in %.3f s, "
           "%.0f records/s, %u segment file(s)\n",
           segId, cs ? "journal tail: " : "", (unsigned long long)rep.records,
           (unsigned long long)(rep.records ? rep.firstSeq : after),
           (unsigned long long)(rep.records ? rep.lastSeq : after), secs,
           secs > 0 ? (double)rep.records / secs : 0.0, rd->segments);
    fflush(stdout);
    d->recovered |= rep.records > 0;
    if (rep.maxSessionId > d->maxSessionId)
        d->maxSessionId = rep.maxSessionId;
    return 0;
}

/* Opens segment i's stream and attaches its log to the worker. */
static int duAttach(duStore *d, const cfgConfig *cfg, uint32_t i, const char *dir, wkWorker *w,
                    const duOptions *opt, char *err, size_t errlen)
{
    jnConfig jc;
    jnError je;
    jnConfigDefaults(&jc);
    jc.dir = dir;
    jc.stream = cfg->segments[i].id;
    jc.segmentBytes = cfg->storage.walSegmentSize;
    if (opt->ringMiB > 0)
        jc.ringBytes = (uint32_t)opt->ringMiB << 20;
    if (cfg->storage.durability == CFG_DURABILITY_ASYNC)
        jc.commitGapUs = cfg->storage.asyncCommitUs; /* nobody waits: fewer fdatasyncs */
    d->j[i] = jnOpen(&jc, &je);
    if (!d->j[i]) {
        snprintf(err, errlen, "segment %u: %s", cfg->segments[i].id, je.msg);
        return -1;
    }
    d->wal[i] = walCreate(d->j[i], wkGateway(w), cfg->storage.durability == CFG_DURABILITY_SYNC,
                          DU_GATE_SLOTS, NULL);
    if (!d->wal[i]) {
        snprintf(err, errlen, "segment %u: out of memory for the output gate", cfg->segments[i].id);
        return -1;
    }
    wkAttachWal(w, d->wal[i]);
    return 0;
}

/* Warns when a worker lcore spins on the CPU that takes the disk's
 * interrupts: every commit then waits for a scheduler tick or more. */
static void duCheckPlacement(const cfgConfig *cfg, uint32_t n)
{
    int irq = jnDiskIrqCpu(cfg->storage.walDir);
    for (uint32_t i = 0; irq >= 0 && i < n; i++) {
        if ((int)rte_lcore_to_cpu_id((int)cfg->segments[i].lcore) != irq)
            continue;
        printf("xchgd: warning: the disk under %s takes its interrupts on CPU %d, where worker "
               "lcore %u spins: journal commits will wait for scheduler ticks (ms, not us). Move "
               "the interrupt to the storage lcore's CPU (/proc/irq/N/smp_affinity_list) or the "
               "worker to another CPU (docs/storage/journal.md, \"Used by xchgd\")\n",
               cfg->storage.walDir, irq, cfg->segments[i].lcore);
    }
}

/* The highest session id in gw (a restored checkpoint holds sessions the
 * journal tail does not add again). */
static uint32_t duMaxSession(gwGateway *gw)
{
    static gwSessionInfo s[WK_MAX_SESSIONS];
    uint32_t k = gwSessionList(gw, s, WK_MAX_SESSIONS), max = 0;
    for (uint32_t j = 0; j < k; j++)
        max = s[j].sessionId > max ? s[j].sessionId : max;
    return max;
}

static duStore *duAlloc(const cfgConfig *cfg, uint32_t n, const duOptions *opt)
{
    duStore *d = calloc(1, sizeof *d);
    if (d) {
        d->j = calloc(n, sizeof *d->j);
        d->wal = calloc(n, sizeof *d->wal);
        d->shadow = calloc(n, sizeof *d->shadow);
        d->n = n;
        d->cfg = cfg;
        d->opt = *opt;
        snprintf(d->ckRoot, sizeof d->ckRoot, "%s/checkpoints", cfg->storage.dataDir);
    }
    if (d && (!d->j || !d->wal || !d->shadow)) {
        duClose(d);
        return NULL;
    }
    return d;
}

duStore *duOpen(const cfgConfig *cfg, wkWorker **workers, uint32_t n, const duOptions *opt,
                char *err, size_t errlen)
{
    duStore *d = duAlloc(cfg, n, opt);
    if (!d) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    for (uint32_t i = 0; i < n; i++) {
        char dir[CFG_PATH_MAX + 32];
        duSegDir(d, i, dir, sizeof dir);
        if (duCheckDir(dir, err, errlen)) {
            duClose(d);
            return NULL;
        }
    }
    d->workers = workers;
    if (duChoose(d, err, errlen)) {
        duClose(d);
        return NULL;
    }
    for (uint32_t i = 0; i < n; i++) {
        char dir[CFG_PATH_MAX + 32];
        duSegDir(d, i, dir, sizeof dir);
        gwGateway *gw = wkGateway(workers[i]);
        if (duReplay(d, dir, i, workers[i], opt, err, errlen) ||
            duAttach(d, cfg, i, dir, workers[i], opt, err, errlen)) {
            duClose(d);
            return NULL;
        }
        uint32_t maxId = duMaxSession(gw);
        d->maxSessionId = maxId > d->maxSessionId ? maxId : d->maxSessionId;
        /* every start is an input too: it opens logons (a shutdown closed them) */
        const walTimeRec start = {.nowNs = duNow()};
        walControl(d->wal[i], WAL_START, &start, sizeof start);
        walApply(gw, WAL_START, &start, sizeof start);
        walPoll(d->wal[i]);
        walSetMuted(d->wal[i], 0);
    }
    d->control = opt->control;
    jnJournal *all[n + 1];
    for (uint32_t i = 0; i < n; i++)
        all[i] = d->j[i];
    if (d->control)
        all[n] = d->control;
    d->group = jnGroupStart(all, n + (d->control != NULL), cfg->lcores.storage, 50);
    if (!d->group) {
        snprintf(err, errlen, "storage thread: %s", strerror(errno));
        duClose(d);
        return NULL;
    }
    if (duStartReplica(d, err, errlen)) {
        duClose(d);
        return NULL;
    }
    d->running = 1;
    duCheckPlacement(cfg, n);
    printf("xchgd: storage: %u journal stream(s) in %s, durability %s, segments of %llu MiB; "
           "checkpoints in %s (every %u s / %llu records, %u kept, journal files %s)\n",
           n, cfg->storage.walDir, cfgDurabilityName(cfg->storage.durability),
           (unsigned long long)(cfg->storage.walSegmentSize >> 20), d->ckRoot,
           cfg->storage.checkpointIntervalS, (unsigned long long)cfg->storage.checkpointRecords,
           cfg->storage.checkpointsKept,
           cfg->storage.segmentsRetained < 0 ? "all kept" : "retired once covered");
    fflush(stdout);
    return d;
}

void duHistoryControl(duStore *d, const acctBook *book)
{
    if (!d->hf)
        return;
    hfSetControl(d->hf);
    hfSettledAll(book);
}

jnJournal *duJournal(const duStore *d, uint32_t i)
{
    return i < d->n ? d->j[i] : i == d->n ? d->control : NULL;
}

int duRecovered(const duStore *d)
{
    return d->recovered;
}

uint32_t duNextSessionId(const duStore *d)
{
    return d->maxSessionId + 1;
}

void duForEachSession(const duStore *d, wkWorker **workers, duSessionFn *fn, void *ctx)
{
    static gwSessionInfo s[WK_MAX_SESSIONS];
    for (uint32_t i = 0; i < d->n; i++) {
        uint32_t k = gwSessionList(wkGateway(workers[i]), s, WK_MAX_SESSIONS);
        for (uint32_t j = 0; j < k; j++)
            if (s[j].state != GW_SESSION_DISABLED)
                fn(ctx, i, &s[j]);
    }
}

void duClose(duStore *d)
{
    if (!d)
        return;
    jnGroupStop(d->group); /* drains: everything published becomes durable */
    if (d->running) {      /* a graceful stop: the final checkpoint covers everything */
        rpResult res;
        char err[CK_ERR_MAX];
        if (d->cc)
            ccCapture(d->cc); /* the control loop has stopped: its final state */
        if (rpCheckpoint(d->replica, "final", &res, err, sizeof err))
            printf("xchgd: final checkpoint failed: %s\n", err);
    }
    hfSetControl(NULL);
    rpDestroy(d->replica);
    hfClose(d->hf);
    ccDestroy(d->cc);
    for (uint32_t i = 0; d->j && i < d->n; i++) {
        jnClose(d->j[i]);
        walDestroy(d->wal ? d->wal[i] : NULL);
        if (d->shadow)
            duShadowFree(&d->shadow[i]);
    }
    jnClose(d->control);
    free(d->j);
    free(d->wal);
    free(d->shadow);
    free(d);
}

void duControlTick(duStore *d)
{
    if (d)
        ccTick(d->cc);
}

/* storage.checkpoint: takes one now and says what it covers. Blocks the
 * control loop while the replica writes it (tens of ms for small books). */
static int duCmdCheckpoint(void *ctx, json_t *args, json_t **data, ctlError *err)
{
    duStore *d = ctx;
    rpResult res;
    char why[CK_ERR_MAX];
    (void)args;
    if (d->cc) /* on the control lcore, between inputs: the state as of now */
        ccCapture(d->cc);
    if (rpCheckpoint(d->replica, "requested", &res, why, sizeof why))
        return ctlErrorf(err, DU_ERR_CKPT, "checkpoint failed: %s", why);
    json_t *streams = json_array();
    for (uint32_t i = 0; i < res.m.n; i++) {
        const ckStream *s = &res.m.s[i];
        json_array_append_new(streams, json_pack("{s:I, s:I, s:I, s:I, s:s}", "stream",
                                                 (json_int_t)s->stream, "seq", (json_int_t)s->seq,
                                                 "entries", (json_int_t)s->entries, "bytes",
                                                 (json_int_t)s->bytes, "file", s->file));
    }
    char dir[CFG_PATH_MAX + 48];
    snprintf(dir, sizeof dir, "%s/ckpt-%020llu", d->ckRoot, (unsigned long long)res.m.id);
    uint64_t caps, capRecs;
    double capMs;
    ccStats(d->cc, &caps, &capMs, &capRecs);
    *data = json_pack("{s:I, s:o, s:I, s:f, s:i, s:s, s:f, s:I}", "id", (json_int_t)res.m.id,
                      "streams", streams, "bytes", (json_int_t)res.bytes, "ms", res.ms,
                      "journal_files_retired", (int)res.filesRetired, "dir", dir,
                      "control_capture_ms", capMs, "control_capture_records", (json_int_t)capRecs);
    return 0;
}

/* One checkpoint directory as JSON: its manifest, or why it cannot be used. */
static json_t *duCkptJson(const duStore *d, uint64_t id)
{
    ckManifest m;
    char why[CK_ERR_MAX];
    if (ckLoad(d->ckRoot, id, &m, why, sizeof why))
        return json_pack("{s:I, s:b, s:s}", "id", (json_int_t)id, "valid", 0, "error", why);
    json_t *streams = json_array();
    for (uint32_t i = 0; i < m.n; i++)
        json_array_append_new(
            streams, json_pack("{s:I, s:I, s:I, s:I}", "stream", (json_int_t)m.s[i].stream, "seq",
                               (json_int_t)m.s[i].seq, "entries", (json_int_t)m.s[i].entries,
                               "bytes", (json_int_t)m.s[i].bytes));
    return json_pack("{s:I, s:b, s:I, s:o}", "id", (json_int_t)id, "valid", 1, "time_ns",
                     (json_int_t)m.timeNs, "streams", streams);
}

/* storage.checkpoints: the checkpoints on disk (each verified, as recovery
 * would) and the replica's counters. */
static int duCmdCheckpoints(void *ctx, json_t *args, json_t **data, ctlError *err)
{
    duStore *d = ctx;
    uint64_t ids[DU_MAX_CKPT];
    rpStats st;
    (void)args;
    (void)err;
    int n = ckList(d->ckRoot, ids, DU_MAX_CKPT);
    json_t *list = json_array();
    for (int k = 0; k < n; k++)
        json_array_append_new(list, duCkptJson(d, ids[k]));
    rpGetStats(d->replica, &st);
    *data = json_pack("{s:s, s:o, s:I, s:{s:I, s:I, s:I, s:I, s:I, s:b}}", "dir", d->ckRoot,
                      "checkpoints", list, "recovered_from", (json_int_t)d->ckId, "replica",
                      "taken", (json_int_t)st.taken, "failed", (json_int_t)st.failed, "last_id",
                      (json_int_t)st.lastId, "last_ms", (json_int_t)st.lastMs, "records_applied",
                      (json_int_t)st.applied, "stopped", st.stopped);
    return 0;
}

int duRegister(ctlServer *s, duStore *d)
{
    if (d->hf && hfRegister(s, d->hf))
        return -1;
    if (ctlServerRegister(s, "storage.checkpoints", duCmdCheckpoints, d,
                          "checkpoints on disk (verified) and the replica's counters"))
        return -1;
    return ctlServerRegister(s, "storage.checkpoint", duCmdCheckpoint, d,
                             "take a checkpoint now: id, per-stream sequences, bytes, ms");
}
