/* ctlstate.c -- the control core's checkpoint functions: book, ledger and stream counters as
 * records. */
#include <string.h>

#include "dataplane/accounts.h"
#include "dataplane/ctlstate.h"

enum { CS_COUNTERS = 0x30, CS_LIMIT = 0x20 };

typedef struct {
    uint32_t version, nSeg;
    uint64_t lastSeq, closeSeq, scanFails;
    uint64_t consumed[CJ_MAX_SEGMENTS];
} csCounters;

int ctlStateSnapshot(acdState *s, const ckptSink *sink)
{
    csCounters c;
    memset(&c, 0, sizeof c);
    c.version = 1;
    c.nSeg = s->nWorkers;
    c.lastSeq = s->cj.lastSeq;
    c.closeSeq = s->closeSeq;
    c.scanFails = s->cj.scanFails;
    memcpy(c.consumed, s->cj.consumed, sizeof c.consumed);
    const unsigned char k = CS_COUNTERS;
    if (acctSnapshot(s->book, sink) || lgSnapshot(s->lg, sink) ||
        ckptPut(sink, &k, 1, &c, sizeof c))
        return -1;
    return 0;
}

/* A view of a source that ends before the first key >= limit, keeping
 * that record for the next view (the source's pointers stay valid: it is
 * not called again until the record is taken). */
typedef struct {
    const ckptSource *src;
    uint8_t limit;
    int pending, eof;
    const void *k, *v;
    size_t kl, vl;
} csView;

static int csViewNext(void *ctx, const void **key, size_t *klen, const void **val, size_t *vlen)
{
    csView *w = ctx;
    if (!w->pending) {
        if (w->eof)
            return 0;
        const int rc = ckptNext(w->src, &w->k, &w->kl, &w->v, &w->vl);
        if (rc <= 0) {
            w->eof = 1;
            return rc;
        }
        if (w->kl == 0)
            return -1;
        w->pending = 1;
    }
    if (((const unsigned char *)w->k)[0] >= w->limit)
        return 0;
    w->pending = 0;
    *key = w->k;
    *klen = w->kl;
    *val = w->v;
    *vlen = w->vl;
    return 1;
}

int ctlStateRestore(acdState *s, const ckptSource *src)
{
    csView w = {.src = src, .limit = CS_LIMIT};
    const ckptSource view = {csViewNext, &w};
    if (acctRestore(s->book, &view))
        return -1;
    w.limit = CS_COUNTERS;
    if (lgRestore(s->lg, &view))
        return -1;
    w.limit = 0xff;
    const void *key, *val;
    size_t klen, vlen;
    csCounters c;
    if (csViewNext(&w, &key, &klen, &val, &vlen) != 1 || klen != 1 ||
        *(const unsigned char *)key != CS_COUNTERS || vlen != sizeof c)
        return -1;
    memcpy(&c, val, sizeof c);
    if (c.version != 1 || c.nSeg != s->nWorkers || csViewNext(&w, &key, &klen, &val, &vlen) != 0)
        return -1;
    s->cj.lastSeq = c.lastSeq;
    s->cj.afterSeq = c.lastSeq;
    s->closeSeq = c.closeSeq;
    s->cj.scanFails = c.scanFails;
    memcpy(s->cj.consumed, c.consumed, sizeof c.consumed);
    s->cj.dirty = 1; /* the first scan after a restore runs */
    return 0;
}

uint64_t ctlStateSeq(const acdState *s)
{
    return s->cj.lastSeq;
}
