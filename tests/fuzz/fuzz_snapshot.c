/* fuzz_snapshot.c -- libFuzzer target for gwRestore (dataplane/gwsnap.c, crsnap.c).
 *
 * A checkpoint's records come from files that a crash or bit rot may have
 * damaged (their SSTables are checksummed, but a bug or an old version may
 * still hand over anything). Two kinds of input, by the first byte:
 *  - even: a stream of records, each [key length u8][value length u16
 *    little-endian][key][value], given to gwRestore in the order they come
 *    (so order checks are fuzzed too);
 *  - odd: an edit script over a real snapshot the harness makes at start (a
 *    session with history, resting orders, credit lines): 5-byte edits
 *    [op][record][offset u16 le][byte] that set a value byte, cut a value,
 *    drop a record, repeat one or swap it with the next, or change a key
 *    byte; so short inputs reach deep into a valid checkpoint.
 * Each goes to a fresh gateway with credit state.
 *
 * Checks, for each input: gwRestore returns 0 or -1, -1 with a message.
 * After 0: the restored segment survives use (timers, trading state
 * changes that uncross and expire, an admin cancel, a logon), and its own
 * snapshot restores into a second fresh gateway whose snapshot is the same
 * records (restore -> snapshot is a fixed point).
 *
 * make fuzz compiles only this file: it includes the snapshot sources and
 * links the project's libraries (built by make) for the rest. Seeds: run
 * with FUZZ_SNAPSHOT_SEEDS=dir to write real snapshots of small workloads
 * there (tests/fuzz/corpus_snapshot was made so). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "dataplane/crsnap.c"
#include "dataplane/gwsnap.c"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static cfgConfig fzCfg;

static void *fzAlloc(void *ctx, size_t bytes)
{
    (void)ctx;
    void *p = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
    if (p)
        memset(p, 0, bytes);
    return p;
}

static void fzFree(void *ctx, void *p, size_t bytes)
{
    (void)ctx;
    (void)bytes;
    free(p);
}

static const mtAllocator fzAllocator = {fzAlloc, fzFree, NULL};

static void fzSend(void *ctx, gwAddr to, const uint8_t *data, uint16_t len)
{
    (void)ctx;
    (void)to;
    (void)data;
    (void)len;
}

static void fzEmit(void *ctx, const crEvent *ev)
{
    (void)ctx;
    (void)ev;
}

typedef struct {
    gwGateway *gw;
    crRisk *risk;
} fzSeg;

static fzSeg fzOpen(void)
{
    fzSeg s = {0};
    const crOptions co = {.cfg = &fzCfg,
                          .segment = 0,
                          .maxAccounts = 8,
                          .maxPositions = 32,
                          .refCap = fzCfg.segments[0].orderCapacity + 4,
                          .emit = fzEmit,
                          .allocator = &fzAllocator};
    s.risk = crCreate(&co);
    const gwOptions o = {.cfg = &fzCfg,
                         .segment = 0,
                         .maxSessions = 4,
                         .historyDepth = 16,
                         .tradingDay = 20251006,
                         .send = fzSend,
                         .risk = s.risk,
                         .allocator = &fzAllocator};
    s.gw = gwCreate(&o);
    if (!s.risk || !s.gw)
        abort();
    return s;
}

static void fzClose(fzSeg *s)
{
    gwDestroy(s->gw);
    crDestroy(s->risk);
}

/* Records: parsed from the input, or collected from a snapshot. */
typedef struct {
    const uint8_t *k, *v;
    size_t kn, vn;
} fzRec;

typedef struct {
    fzRec r[4096];
    size_t n, pos;
    uint8_t *own[4096]; /* copies made by fzPut */
} fzRecs;

static int fzNext(void *ctx, const void **k, size_t *kn, const void **v, size_t *vn)
{
    fzRecs *s = ctx;
    if (s->pos == s->n)
        return 0;
    const fzRec *r = &s->r[s->pos++];
    *k = r->k;
    *kn = r->kn;
    *v = r->v;
    *vn = r->vn;
    return 1;
}

static int fzPut(void *ctx, const void *k, size_t kn, const void *v, size_t vn)
{
    fzRecs *s = ctx;
    if (s->n == 4096)
        return -1;
    uint8_t *p = malloc(kn + vn + 1);
    if (!p)
        return -1;
    memcpy(p, k, kn);
    memcpy(p + kn, v, vn);
    s->own[s->n] = p;
    s->r[s->n++] = (fzRec){p, p + kn, kn, vn};
    return 0;
}

static int fzCmp(const void *a, const void *b)
{
    const fzRec *x = a, *y = b;
    const int c = memcmp(x->k, y->k, x->kn < y->kn ? x->kn : y->kn);
    return c ? c : (x->kn > y->kn) - (x->kn < y->kn);
}

static void fzRecsFree(fzRecs *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->own[i]);
    s->n = s->pos = 0;
}

static int fzSame(const fzRecs *a, const fzRecs *b)
{
    if (a->n != b->n)
        return 0;
    for (size_t i = 0; i < a->n; i++)
        if (fzCmp(&a->r[i], &b->r[i]) || a->r[i].vn != b->r[i].vn ||
            memcmp(a->r[i].v, b->r[i].v, a->r[i].vn))
            return 0;
    return 1;
}

/* Snapshot of s, sorted as a checkpoint writer would. */
static void fzSnap(const fzSeg *s, fzRecs *out)
{
    const ckptSink sink = {fzPut, out};
    if (gwSnapshot(s->gw, &sink) != 0) {
        fprintf(stderr, "snapshot of a restored segment failed: %s\n", gwSnapError());
        abort();
    }
    qsort(out->r, out->n, sizeof out->r[0], fzCmp);
}

static void fzUse(fzSeg *s)
{
    const uint64_t t = UINT64_C(1759714200000000000);
    gwOnTimer(s->gw, t + 100 * UINT64_C(1000000000));
    for (uint16_t i = 0; i < fzCfg.segments[0].instrumentCount; i++) {
        gwSetState(s->gw, i, MT_STATE_CONTINUOUS, t);
        mtAuction a;
        mtEngineIndicate((mtEngine *)gwEngine(s->gw), i, &a);
        gwSetState(s->gw, i, MT_STATE_CLOSED, t);
    }
    gwAdminCancel(s->gw, 1, t);
    gwShutdown(s->gw, t);
}

static fzRecs fzIn, fzA, fzB, fzBase;
static uint8_t fzEdit[1 << 16]; /* edited copies of base records */

/* Applies the edit script to a copy of the base snapshot, into fzIn. */
static void fzEdits(const uint8_t *data, size_t size)
{
    size_t used = 0;
    fzIn.n = fzBase.n;
    memcpy(fzIn.r, fzBase.r, fzBase.n * sizeof fzIn.r[0]);
    for (size_t at = 1; at + 5 <= size && fzIn.n; at += 5) {
        const uint8_t op = data[at] % 6, b = data[at + 4];
        const size_t i = data[at + 1] % fzIn.n;
        const size_t off = (size_t)data[at + 2] | (size_t)data[at + 3] << 8;
        fzRec *r = &fzIn.r[i];
        if (op == 0 || op == 5) { /* set a value or key byte: edit a copy */
            const size_t n = r->kn + r->vn;
            if (used + n > sizeof fzEdit)
                continue;
            uint8_t *p = fzEdit + used;
            memcpy(p, r->k, r->kn);
            memcpy(p + r->kn, r->v, r->vn);
            used += n;
            if (op == 0 && r->vn)
                p[r->kn + off % r->vn] = b;
            else if (op == 5 && r->kn)
                p[off % r->kn] = b;
            r->k = p;
            r->v = p + r->kn;
        } else if (op == 1) {
            r->vn = r->vn ? off % r->vn : 0;
        } else if (op == 2) {
            memmove(r, r + 1, (fzIn.n - i - 1) * sizeof *r);
            fzIn.n--;
        } else if (op == 3 && fzIn.n < 4096) {
            memmove(r + 1, r, (fzIn.n - i) * sizeof *r);
            fzIn.n++;
        } else if (op == 4 && i + 1 < fzIn.n) {
            const fzRec x = r[0];
            r[0] = r[1];
            r[1] = x;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fzIn.n = fzIn.pos = 0;
    if (size && (data[0] & 1))
        fzEdits(data, size);
    for (size_t at = 1; !(size && (data[0] & 1)) && at + 3 <= size && fzIn.n < 4096;) {
        const size_t kn = data[at], vn = (size_t)data[at + 1] | (size_t)data[at + 2] << 8;
        at += 3;
        if (kn + vn > size - at)
            break;
        fzIn.r[fzIn.n++] = (fzRec){data + at, data + at + kn, kn, vn};
        at += kn + vn;
    }
    fzSeg a = fzOpen();
    const ckptSource src = {fzNext, &fzIn};
    const int rc = gwRestore(a.gw, &src);
    if (getenv("FUZZ_SNAPSHOT_VERBOSE"))
        fprintf(stderr, "gwRestore: %d %s\n", rc, gwSnapError());
    if (rc != 0) {
        if (!gwSnapError()[0])
            abort(); /* a failure always says why */
        fzClose(&a);
        return 0;
    }
    fzSnap(&a, &fzA);
    fzSeg b = fzOpen();
    const ckptSource srcA = {fzNext, &fzA};
    if (gwRestore(b.gw, &srcA) != 0) {
        fprintf(stderr, "a restored segment's snapshot does not restore: %s\n", gwSnapError());
        abort();
    }
    fzSnap(&b, &fzB);
    if (!fzSame(&fzA, &fzB))
        abort();
    fzUse(&a);
    fzRecsFree(&fzA);
    fzRecsFree(&fzB);
    fzClose(&a);
    fzClose(&b);
    return 0;
}

/* ---- seeds: real snapshots of small workloads ---- */

static void fzToken(unsigned s, uint8_t *t)
{
    for (int i = 0; i < XOE_TOKEN_SIZE; i++)
        t[i] = (uint8_t)(s * 17 + (unsigned)i);
}

static void fzOrder(fzSeg *s, unsigned sess, uint64_t *seq, uint8_t side, int64_t price,
                    uint64_t now)
{
    uint8_t buf[XOE_FRAME_MAX];
    xoeWriter w;
    xoeWriterInit(&w, buf, sizeof buf, sess, (*seq)++, 0);
    const xoeNewOrder o = {
        .instrument = 0, .side = side, .clOrdId = *seq, .qty = 2, .price = price};
    xoeAppend(&w, XOE_MSG_NEW_ORDER, &o);
    gwOnDatagram(s->gw, (gwAddr){0xC6120002u + sess, 40000}, buf, (uint16_t)xoeWriterFinish(&w),
                 now);
    gwFlush(s->gw);
}

/* A small workload's snapshot into r (sorted). */
static void fzWorkload(fzRecs *r, unsigned orders, int rich)
{
    fzSeg s = fzOpen();
    const uint64_t t = UINT64_C(1759714200000000000);
    crParkedOrder po;
    const crCmd c = {.type = CR_CMD_ACCOUNT,
                     .account = 1001,
                     .amount = rich ? INT64_C(1) << 40 : 30000000,
                     .concCap = INT64_MAX};
    crApply(s.risk, &c, &po, t);
    uint8_t tok[XOE_TOKEN_SIZE];
    fzToken(1, tok);
    gwSessionAdd(s.gw, 1, tok, 1001, 0);
    uint8_t buf[XOE_FRAME_MAX];
    xoeWriter w;
    xoeWriterInit(&w, buf, sizeof buf, 1, 1, 0);
    xoeLogon l = {.heartbeatMs = 1000};
    memcpy(l.token, tok, sizeof tok);
    xoeAppend(&w, XOE_MSG_LOGON, &l);
    gwOnDatagram(s.gw, (gwAddr){0xC6120003u, 40000}, buf, (uint16_t)xoeWriterFinish(&w), t);
    gwSetState(s.gw, 0, MT_STATE_CONTINUOUS, t);
    uint64_t seq = 1;
    for (unsigned i = 0; i < orders; i++)
        fzOrder(&s, 1, &seq, (uint8_t)(i & 1), (int64_t)(18990 + (i * 7) % 20) * 2000, t + i);
    fzSnap(&s, r);
    fzClose(&s);
}

/* Writes the snapshot of a small workload as a raw seed (first byte 0). */
static void fzWriteSeed(const char *dir, unsigned n, unsigned orders, int rich)
{
    static fzRecs r;
    fzWorkload(&r, orders, rich);
    char path[512];
    snprintf(path, sizeof path, "%s/seed-%u", dir, n);
    FILE *f = fopen(path, "wb");
    if (!f)
        abort();
    fputc(0, f);
    for (size_t i = 0; i < r.n; i++) {
        const uint8_t h[3] = {(uint8_t)r.r[i].kn, (uint8_t)r.r[i].vn, (uint8_t)(r.r[i].vn >> 8)};
        fwrite(h, 1, 3, f);
        fwrite(r.r[i].k, 1, r.r[i].kn, f);
        fwrite(r.r[i].v, 1, r.r[i].vn, f);
    }
    fclose(f);
    fzRecsFree(&r);
}

/* An edit-script seed: a few edits of the base. */
static void fzWriteEdits(const char *dir, unsigned n, const uint8_t *e, size_t len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/seed-%u", dir, n);
    FILE *f = fopen(path, "wb");
    if (!f)
        abort();
    fwrite(e, 1, len, f);
    fclose(f);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char err[256];
    if (cfgLoad("config/xchg.conf", &fzCfg, err, sizeof err)) {
        fprintf(stderr, "fuzz_snapshot: run from the repository root: %s\n", err);
        abort();
    }
    fzCfg.segments[0].orderCapacity = 32; /* small pool: fast gateways, pool-full paths */
    fzWorkload(&fzBase, 20, 0);
    const char *seeds = getenv("FUZZ_SNAPSHOT_SEEDS");
    if (seeds) {
        fzWriteSeed(seeds, 0, 0, 0);
        fzWriteSeed(seeds, 1, 3, 1);
        const uint8_t none[] = {1};
        const uint8_t flip[] = {1, 0, 9, 3, 0, 0xFF};
        const uint8_t cut[] = {1, 1, 12, 8, 0, 0};
        const uint8_t drop[] = {1, 2, 14, 0, 0, 0, 4, 3, 0, 0, 0};
        fzWriteEdits(seeds, 2, none, sizeof none);
        fzWriteEdits(seeds, 3, flip, sizeof flip);
        fzWriteEdits(seeds, 4, cut, sizeof cut);
        fzWriteEdits(seeds, 5, drop, sizeof drop);
        exit(0);
    }
    return 0;
}
