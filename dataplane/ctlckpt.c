/* ctlckpt.c -- the control core's state in checkpoints (dataplane/ctlckpt.h). */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dataplane/accounts.h"
#include "dataplane/ctlckpt.h"
#include "dataplane/ctljournal.h"
#include "dataplane/ctlstate.h"
#include "storage/checkpoint.h"
#include "storage/journal.h"

typedef struct {
    uint8_t *p; /* key then value */
    uint32_t klen, vlen;
} ccRec;

/* One capture: the records ctlStateSnapshot gave and what they cover. */
typedef struct {
    ccRec *r;
    size_t n, cap;
    uint64_t seq;
} ccCap;

/* The fingerprint record's key: above every ctlstate.h kind. */
#define CC_KEY_FINGERPRINT 0xF0

struct ccMailbox {
    acdState *acd;
    char dir[512];      /* the control stream's journal directory */
    pthread_mutex_t mu; /* guards pending: the control lcore fills it, the replica takes it */
    ccCap *pending;     /* the newest capture not yet adopted */
    ccCap *adopted;     /* the replica's: the capture the next checkpoint writes */
    int want;           /* the replica asks for a fresh capture (atomic) */
    uint64_t captures, lastRecords;
    double lastMs;
};

static uint64_t ccNow(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void ccCapFree(ccCap *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++)
        free(c->r[i].p);
    free(c->r);
    free(c);
}

static int ccPut(void *ctx, const void *key, size_t klen, const void *val, size_t vlen)
{
    ccCap *c = ctx;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 1024;
        ccRec *r = realloc(c->r, cap * sizeof *r);
        if (!r)
            return -1;
        c->r = r;
        c->cap = cap;
    }
    uint8_t *p = malloc(klen + vlen + 1);
    if (!p)
        return -1;
    memcpy(p, key, klen);
    if (vlen)
        memcpy(p + klen, val, vlen);
    c->r[c->n++] = (ccRec){p, (uint32_t)klen, (uint32_t)vlen};
    return 0;
}

/* FNV-1a of the record at seq of stream CJ_STREAM in dir (type, length,
 * payload): 0 with *fp, or -1 when it cannot be read. */
static int ccFingerprint(const char *dir, uint64_t seq, uint64_t *fp)
{
    jnError je;
    jnTail *t = jnTailOpen(dir, CJ_STREAM, seq, &je);
    if (!t)
        return -1;
    jnRecord rec;
    const int rc = jnTailNext(t, seq, &rec, &je);
    const int ok = rc == 1 && rec.seq == seq;
    if (ok) {
        uint64_t h = 0xcbf29ce484222325ull;
        const uint8_t hdr[6] = {(uint8_t)rec.type,        (uint8_t)(rec.type >> 8),
                                (uint8_t)rec.len,         (uint8_t)(rec.len >> 8),
                                (uint8_t)(rec.len >> 16), (uint8_t)(rec.len >> 24)};
        for (size_t i = 0; i < sizeof hdr; i++)
            h = (h ^ hdr[i]) * 0x100000001b3ull;
        for (uint32_t i = 0; i < rec.len; i++)
            h = (h ^ ((const uint8_t *)rec.payload)[i]) * 0x100000001b3ull;
        *fp = h;
    }
    jnTailClose(t);
    return ok ? 0 : -1;
}

ccMailbox *ccCreate(acdState *acd, const char *ctlDir)
{
    ccMailbox *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->acd = acd;
    snprintf(m->dir, sizeof m->dir, "%s", ctlDir);
    m->want = 1; /* the control loop's first turn (after its recovery) captures */
    pthread_mutex_init(&m->mu, NULL);
    return m;
}

void ccDestroy(ccMailbox *m)
{
    if (!m)
        return;
    ccCapFree(m->pending);
    ccCapFree(m->adopted);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

int ccCapture(ccMailbox *m)
{
    const uint64_t t0 = ccNow();
    ccCap *c = calloc(1, sizeof *c);
    if (!c)
        return -1;
    const ckptSink sink = {ccPut, c};
    if (ctlStateSnapshot(m->acd, &sink)) {
        ccCapFree(c);
        return -1;
    }
    c->seq = ctlStateSeq(m->acd);
    pthread_mutex_lock(&m->mu);
    ccCap *old = m->pending;
    m->pending = c;
    pthread_mutex_unlock(&m->mu);
    ccCapFree(old);
    m->lastMs = (double)(ccNow() - t0) / 1e6;
    m->lastRecords = c->n;
    m->captures++;
    __atomic_store_n(&m->want, 0, __ATOMIC_RELEASE);
    return 0;
}

void ccTick(ccMailbox *m)
{
    if (m && __atomic_load_n(&m->want, __ATOMIC_ACQUIRE))
        ccCapture(m);
}

uint64_t ccSeqNow(void *state)
{
    ccMailbox *m = state;
    pthread_mutex_lock(&m->mu);
    ccCap *c = m->pending;
    m->pending = NULL;
    pthread_mutex_unlock(&m->mu);
    if (c) {
        ccCapFree(m->adopted);
        m->adopted = c;
    }
    __atomic_store_n(&m->want, 1, __ATOMIC_RELEASE);
    /* a capture at sequence 0 (nothing journaled yet) has no sequence a
     * manifest can name: the stream replays from its start anyway */
    return m->adopted ? m->adopted->seq : 0;
}

int ccSnapshot(void *state, const ckptSink *sink)
{
    const ccMailbox *m = state;
    const ccCap *c = m->adopted;
    for (size_t i = 0; c && i < c->n; i++)
        if (ckptPut(sink, c->r[i].p, c->r[i].klen, c->r[i].p + c->r[i].klen, c->r[i].vlen))
            return -1;
    uint64_t fp;
    const uint8_t key = CC_KEY_FINGERPRINT;
    if (c && (ccFingerprint(m->dir, c->seq, &fp) || ckptPut(sink, &key, 1, &fp, sizeof fp)))
        return -1;
    return 0;
}

void ccStats(const ccMailbox *m, uint64_t *captures, double *lastMs, uint64_t *lastRecords)
{
    *captures = m ? m->captures : 0;
    *lastMs = m ? m->lastMs : 0;
    *lastRecords = m ? m->lastRecords : 0;
}

/* ---- recovery ---- */

/* A source that hands ctlStateRestore the state's records and keeps the
 * fingerprint record (the last key, 0xF0) for ccRestoreInto. */
typedef struct {
    ckptSource in;
    uint64_t fp;
    int seen;
} ccFpSource;

static int ccFpNext(void *ctx, const void **key, size_t *klen, const void **val, size_t *vlen)
{
    ccFpSource *f = ctx;
    int rc = ckptNext(&f->in, key, klen, val, vlen);
    if (rc == 1 && *klen == 1 && ((const uint8_t *)*key)[0] == CC_KEY_FINGERPRINT) {
        if (*vlen != sizeof f->fp || f->seen)
            return -1;
        memcpy(&f->fp, *val, sizeof f->fp);
        f->seen = 1;
        rc = ckptNext(&f->in, key, klen, val, vlen);
        if (rc != 0)
            return -1; /* the fingerprint is the last record */
    }
    return rc;
}

/* Restores stream cs of checkpoint id into s, after checking that the
 * journal record at the covered sequence is the one the checkpoint was
 * taken at. 0 or -1. */
static int ccRestoreInto(acdState *s, const char *root, uint64_t id, const ckStream *cs,
                         const char *ctlDir, char *err, size_t errlen)
{
    ccFpSource f = {0};
    ckReader *r = ckReaderOpen(root, id, cs, &f.in, err, errlen);
    if (!r)
        return -1;
    const ckptSource src = {ccFpNext, &f};
    int rc = ctlStateRestore(s, &src);
    uint64_t fp = 0;
    if (rc)
        snprintf(err, errlen, "%s: the control state does not restore (damaged or foreign)",
                 cs->file);
    else if (!f.seen) {
        snprintf(err, errlen, "%s: no journal fingerprint", cs->file);
        rc = -1;
    } else if (ccFingerprint(ctlDir, cs->seq, &fp) || fp != f.fp) {
        snprintf(err, errlen,
                 "the control journal's record %" PRIu64
                 " is not the one it was taken at (another history)",
                 cs->seq);
        rc = -1;
    }
    ckReaderClose(r);
    return rc;
}

/* Checkpoint id's control stream, if whole and fitting the journal. */
static const ckStream *ccUsable(const char *root, uint64_t id, const char *ctlDir, ckManifest *m,
                                char *why, size_t whylen)
{
    if (ckLoad(root, id, m, why, whylen))
        return NULL;
    const ckStream *cs = ckFind(m, CJ_STREAM);
    if (!cs) {
        snprintf(why, whylen, "it holds no control state");
        return NULL;
    }
    uint64_t first = 0, last = 0;
    jnError je;
    if (jnStreamRange(ctlDir, CJ_STREAM, &first, &last, &je)) {
        snprintf(why, whylen, "control journal: %.400s", je.msg);
        return NULL;
    }
    if (first > cs->seq + 1 || last < cs->seq) {
        snprintf(why, whylen,
                 "the control journal (sequences %" PRIu64 "..%" PRIu64
                 ") does not continue after it (%" PRIu64 ")",
                 first, last, cs->seq);
        return NULL;
    }
    return cs;
}

int ccRecover(acdState *s, const char *root, const char *ctlDir, char *err, size_t errlen)
{
    uint64_t ids[256];
    int n = ckList(root, ids, 256);
    for (int k = 0; k < n; k++) {
        char why[CK_ERR_MAX];
        ckManifest m;
        const ckStream *cs = ccUsable(root, ids[k], ctlDir, &m, why, sizeof why);
        if (cs) { /* a failed restore leaves the state unusable: a scratch one first */
            acdState *t = acdCreateCore(s->cfg, s->nWorkers, NULL, s->tradingDay, NULL);
            int rc = t ? ccRestoreInto(t, root, ids[k], cs, ctlDir, why, sizeof why) : -1;
            if (!t)
                snprintf(why, sizeof why, "out of memory");
            acdDestroy(t);
            if (rc == 0) {
                const uint64_t t0 = ccNow();
                if (ccRestoreInto(s, root, ids[k], cs, ctlDir, err, errlen))
                    return -1;
                printf("xchgd: recovery: control: checkpoint %" PRIu64
                       " restored (state at control sequence %" PRIu64 ", %" PRIu64
                       " records, %" PRIu64
                       " bytes) in %.3f s; the stream's tail replays after it\n",
                       ids[k], cs->seq, cs->entries, cs->bytes, (double)(ccNow() - t0) / 1e9);
                fflush(stdout);
                return 1;
            }
        }
        printf("xchgd: recovery: control: checkpoint %" PRIu64 " not used: %s\n", ids[k], why);
    }
    return 0;
}
