/* xchg-ckdiff.c -- compares a segment restored from a checkpoint with a from-scratch replay, record
 * by record.
 *
 *   xchg-ckdiff [-c CONFIG] --wal DIR [--segment I] [--day YYYYMMDD]
 *               (--ckpt-root ROOT --ckpt ID | --split S) [--to T] [--step K]
 *
 * Diagnoses checkpoint recovery (docs/storage/checkpoint.md). Gateway A
 * replays segment I's journal (DIR/seg-<id>/) from its first record.
 * Gateway B starts from a checkpoint: with --ckpt, stream I of checkpoint
 * ID under ROOT (first compared, at the checkpoint's sequence, with A's
 * gwSnapshot there); with --split, A's own gwSnapshot at sequence S
 * restored into a fresh gateway (tests snapshot + restore alone). Then both
 * apply the journal after that sequence and their gwSnapshots are compared
 * every K records (1 by default) up to T (the end by default). The first
 * difference is printed (sequence, record type applied, record kind, key,
 * first differing byte) and the exit status is 1; 0 when they never
 * differ. Read-only. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "dataplane/crlink.h"
#include "dataplane/gateway.h"
#include "dataplane/gw_int.h"
#include "dataplane/gwsnap.h"
#include "dataplane/wal.h"
#include "storage/checkpoint.h"
#include "storage/journal.h"

#define CD_MAX_SESSIONS 64 /* as xchgd (dataplane/xchgd.c) */
#define CD_HISTORY      4096

typedef struct {
    uint8_t *key, *val;
    size_t klen, vlen;
} cdRec;

typedef struct {
    cdRec *r;
    size_t n, cap;
} cdSet;

typedef struct {
    uint64_t seq;
    uint16_t type;
    uint32_t len;
    uint8_t *payload;
} cdInput;

static void cdSend(void *ctx, gwAddr to, const uint8_t *data, uint16_t len)
{
    (void)ctx;
    (void)to;
    (void)data;
    (void)len;
}

static void cdEmit(void *ctx, const crEvent *ev)
{
    (void)ctx;
    (void)ev;
}

static int cdPut(void *ctx, const void *key, size_t klen, const void *val, size_t vlen)
{
    cdSet *s = ctx;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 1024;
        cdRec *r = realloc(s->r, cap * sizeof *r);
        if (!r)
            return -1;
        s->r = r;
        s->cap = cap;
    }
    cdRec *e = &s->r[s->n++];
    e->key = malloc(klen ? klen : 1);
    e->val = malloc(vlen ? vlen : 1);
    if (!e->key || !e->val)
        return -1;
    memcpy(e->key, key, klen);
    memcpy(e->val, val, vlen);
    e->klen = klen;
    e->vlen = vlen;
    return 0;
}

static void cdFree(cdSet *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->r[i].key);
        free(s->r[i].val);
    }
    free(s->r);
    memset(s, 0, sizeof *s);
}

static int cdKeyCmp(const cdRec *a, const cdRec *b)
{
    size_t n = a->klen < b->klen ? a->klen : b->klen;
    int c = memcmp(a->key, b->key, n);
    return c ? c : (a->klen > b->klen) - (a->klen < b->klen);
}

static int cdSortCmp(const void *a, const void *b)
{
    return cdKeyCmp(a, b);
}

static void cdHex(const char *what, const uint8_t *p, size_t n)
{
    printf("  %s (%zu bytes):", what, n);
    for (size_t i = 0; i < n && i < 96; i++)
        printf("%s%02x", i % 8 ? "" : " ", p[i]);
    printf("%s\n", n > 96 ? " ..." : "");
}

/* Prints the first difference of a and b (both sorted); 0 when equal. */
static int cdCompare(const cdSet *a, const cdSet *b, const char *na, const char *nb)
{
    size_t i = 0, j = 0;
    while (i < a->n || j < b->n) {
        int c = i == a->n ? 1 : j == b->n ? -1 : cdKeyCmp(&a->r[i], &b->r[j]);
        if (c < 0) {
            printf("record kind 0x%02x only in %s\n", a->r[i].key[0], na);
            cdHex("key", a->r[i].key, a->r[i].klen);
            return 1;
        }
        if (c > 0) {
            printf("record kind 0x%02x only in %s\n", b->r[j].key[0], nb);
            cdHex("key", b->r[j].key, b->r[j].klen);
            return 1;
        }
        const cdRec *x = &a->r[i], *y = &b->r[j];
        if (x->vlen != y->vlen || memcmp(x->val, y->val, x->vlen)) {
            size_t k = 0;
            while (k < x->vlen && k < y->vlen && x->val[k] == y->val[k])
                k++;
            printf("record kind 0x%02x differs at value byte %zu\n", x->key[0], k);
            cdHex("key", x->key, x->klen);
            size_t from = k >= 16 ? k - 16 : 0;
            cdHex(na, x->val + from, x->vlen > from ? x->vlen - from : 0);
            cdHex(nb, y->val + from, y->vlen > from ? y->vlen - from : 0);
            return 1;
        }
        i++;
        j++;
    }
    return 0;
}

static int cdSnap(const gwGateway *gw, cdSet *s)
{
    const ckptSink sink = {.put = cdPut, .ctx = s};
    if (gwSnapshot(gw, &sink)) {
        fprintf(stderr, "xchg-ckdiff: gwSnapshot: %s\n", gwSnapError());
        return -1;
    }
    qsort(s->r, s->n, sizeof *s->r, cdSortCmp);
    return 0;
}

typedef struct {
    crRisk *risk;
    gwGateway *gw;
} cdSeg;

static int cdMake(const cfgConfig *cfg, uint16_t seg, uint32_t day, cdSeg *s)
{
    crOptions co;
    crlRiskOptions(&co, cfg, seg, cfg->segments[seg].orderCapacity + CRL_REF_SPARE, NULL);
    co.emit = cdEmit;
    s->risk = crCreate(&co);
    gwOptions go = {.cfg = cfg,
                    .segment = seg,
                    .maxSessions = CD_MAX_SESSIONS,
                    .historyDepth = CD_HISTORY,
                    .tradingDay = day,
                    .risk = s->risk,
                    .send = cdSend};
    s->gw = s->risk ? gwCreate(&go) : NULL;
    return s->gw ? 0 : -1;
}

static void cdDrop(cdSeg *s)
{
    gwDestroy(s->gw);
    crDestroy(s->risk);
}

/* Replays sorted set s (a snapshot) into a fresh segment. */
typedef struct {
    const cdSet *s;
    size_t i;
} cdCursor;

static int cdNext(void *ctx, const void **key, size_t *klen, const void **val, size_t *vlen)
{
    cdCursor *c = ctx;
    if (c->i == c->s->n)
        return 0;
    const cdRec *r = &c->s->r[c->i++];
    *key = r->key;
    *klen = r->klen;
    *val = r->val;
    *vlen = r->vlen;
    return 1;
}

static int cdLoad(const char *dir, uint32_t stream, cdInput **out, size_t *n)
{
    jnError err;
    jnReader *r = jnReaderOpen(dir, stream, 0, &err);
    if (!r) {
        fprintf(stderr, "xchg-ckdiff: %s\n", err.msg);
        return -1;
    }
    size_t cap = 0;
    jnRecord rec;
    int rc;
    *out = NULL;
    *n = 0;
    while ((rc = jnReaderNext(r, &rec, &err)) == 1) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 4096;
            cdInput *p = realloc(*out, cap * sizeof *p);
            if (!p)
                return -1;
            *out = p;
        }
        cdInput *in = &(*out)[(*n)++];
        in->seq = rec.seq;
        in->type = rec.type;
        in->len = rec.len;
        in->payload = malloc(rec.len ? rec.len : 1);
        if (!in->payload)
            return -1;
        memcpy(in->payload, rec.payload, rec.len);
    }
    jnReaderClose(r);
    if (rc < 0)
        fprintf(stderr, "xchg-ckdiff: %s\n", err.msg);
    return rc < 0 ? -1 : 0;
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {
        {"wal", required_argument, NULL, 'w'},  {"segment", required_argument, NULL, 's'},
        {"day", required_argument, NULL, 'd'},  {"ckpt-root", required_argument, NULL, 'R'},
        {"ckpt", required_argument, NULL, 'k'}, {"split", required_argument, NULL, 'S'},
        {"to", required_argument, NULL, 't'},   {"step", required_argument, NULL, 'K'},
        {"scan", no_argument, NULL, 'P'},       {"flush-b", no_argument, NULL, 'F'},
        {"help", no_argument, NULL, 'h'},       {NULL, 0, NULL, 0}};
    const char *conf = "config/xchg.conf", *wal = NULL, *root = NULL;
    uint64_t ckId = 0, split = 0, to = UINT64_MAX, step = 1;
    uint32_t day = 0;
    uint16_t segi = 0;
    int c, haveCk = 0, haveSplit = 0, scan = 0, flushB = 0;
    while ((c = getopt_long(argc, argv, "c:h", lo, NULL)) != -1) {
        switch (c) {
        case 'c':
            conf = optarg;
            break;
        case 'w':
            wal = optarg;
            break;
        case 's':
            segi = (uint16_t)atoi(optarg);
            break;
        case 'd':
            day = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case 'R':
            root = optarg;
            break;
        case 'k':
            ckId = strtoull(optarg, NULL, 10);
            haveCk = 1;
            break;
        case 'S':
            split = strtoull(optarg, NULL, 10);
            haveSplit = 1;
            break;
        case 't':
            to = strtoull(optarg, NULL, 10);
            break;
        case 'P':
            scan = 1;
            break;
        case 'F':
            flushB = 1;
            break;
        case 'K':
            step = strtoull(optarg, NULL, 10) ? strtoull(optarg, NULL, 10) : 1;
            break;
        default:
            fprintf(c == 'h' ? stdout : stderr,
                    "usage: xchg-ckdiff [-c CONFIG] --wal DIR [--segment I] [--day YYYYMMDD] "
                    "(--ckpt-root ROOT --ckpt ID | --split S) [--to T] [--step K]\n");
            return c == 'h' ? 0 : 2;
        }
    }
    if (scan)
        haveSplit = 1;
    if (!wal || haveCk == haveSplit || (haveCk && !root)) {
        fprintf(stderr, "xchg-ckdiff: --wal and one of --ckpt (with --ckpt-root) or --split\n");
        return 2;
    }
    static cfgConfig cfg;
    char err[512];
    if (cfgLoad(conf, &cfg, err, sizeof err)) {
        fprintf(stderr, "xchg-ckdiff: %s\n", err);
        return 2;
    }
    char dir[CFG_PATH_MAX + 32];
    const uint32_t stream = cfg.segments[segi].id;
    snprintf(dir, sizeof dir, "%s/seg-%u", wal, stream);
    cdInput *in;
    size_t nIn;
    if (cdLoad(dir, stream, &in, &nIn))
        return 2;
    printf("journal: %zu records, sequences %llu..%llu\n", nIn,
           nIn ? (unsigned long long)in[0].seq : 0ull,
           nIn ? (unsigned long long)in[nIn - 1].seq : 0ull);
    cdSet ck = {0};
    uint64_t from = split;
    if (haveCk) {
        ckManifest m;
        if (ckLoad(root, ckId, &m, err, sizeof err)) {
            fprintf(stderr, "xchg-ckdiff: %s\n", err);
            return 2;
        }
        const ckStream *cs = ckFind(&m, stream);
        ckptSource src;
        ckReader *r = cs ? ckReaderOpen(root, ckId, cs, &src, err, sizeof err) : NULL;
        if (!r) {
            fprintf(stderr, "xchg-ckdiff: checkpoint %llu: %s\n", (unsigned long long)ckId,
                    cs ? err : "no such stream");
            return 2;
        }
        const void *k, *v;
        size_t kl, vl;
        while (ckptNext(&src, &k, &kl, &v, &vl) == 1)
            cdPut(&ck, k, kl, v, vl);
        ckReaderClose(r);
        from = cs->seq;
        /* the header's trading day (offset 30 of its value) shapes the state */
        if (!day && ck.n && ck.r[0].key[0] == 0x01 && ck.r[0].vlen >= 34)
            day = (uint32_t)ck.r[0].val[30] << 24 | (uint32_t)ck.r[0].val[31] << 16 |
                  (uint32_t)ck.r[0].val[32] << 8 | ck.r[0].val[33];
        printf("checkpoint %llu: stream %u at sequence %llu, %zu records, trading day %u\n",
               (unsigned long long)ckId, stream, (unsigned long long)from, ck.n, day);
    }
    if (scan) {
        /* the sequences after which a frame is left pending (the replica
         * flushes it before its snapshot; a replay flushes it at a later
         * input) */
        cdSeg z;
        if (cdMake(&cfg, segi, day, &z))
            return 2;
        for (size_t q = 0; q < nIn; q++) {
            walApply(z.gw, in[q].type, in[q].payload, in[q].len);
            if (z.gw->nDirty)
                printf("pending after %llu type %u (%u sessions)\n", (unsigned long long)in[q].seq,
                       in[q].type, z.gw->nDirty);
        }
        cdDrop(&z);
        return 0;
    }
    cdSeg a, b;
    if (cdMake(&cfg, segi, day, &a) || cdMake(&cfg, segi, day, &b)) {
        fprintf(stderr, "xchg-ckdiff: gateway creation failed\n");
        return 2;
    }
    size_t i = 0;
    for (; i < nIn && in[i].seq <= from; i++)
        if (walApply(a.gw, in[i].type, in[i].payload, in[i].len)) {
            fprintf(stderr, "xchg-ckdiff: record %llu: not applicable\n",
                    (unsigned long long)in[i].seq);
            return 2;
        }
    cdSet sa = {0}, sb = {0};
    if (haveSplit) {
        /* as the replica (durable.c duSnapRec): a copy replayed to S, flushed, snapshotted */
        cdSeg z;
        if (cdMake(&cfg, segi, day, &z))
            return 2;
        for (size_t q = 0; q < i; q++)
            walApply(z.gw, in[q].type, in[q].payload, in[q].len);
        gwFlush(z.gw);
        if (cdSnap(z.gw, &sa))
            return 2;
        cdDrop(&z);
    } else if (cdSnap(a.gw, &sa))
        return 2;
    int rc = 0;
    if (haveCk) {
        printf("at sequence %llu: from-scratch A vs checkpoint:\n", (unsigned long long)from);
        if (cdCompare(&sa, &ck, "scratch", "checkpoint"))
            rc = 1;
        else
            printf("  identical (%zu records)\n", sa.n);
    }
    cdCursor cur = {.s = haveCk ? &ck : &sa, .i = 0};
    const ckptSource src = {.next = cdNext, .ctx = &cur};
    if (gwRestore(b.gw, &src)) {
        fprintf(stderr, "xchg-ckdiff: gwRestore: %s\n", gwSnapError());
        return 2;
    }
    cdFree(&sa);
    uint64_t n = 0;
    for (; i < nIn && in[i].seq <= to; i++) {
        if (walApply(a.gw, in[i].type, in[i].payload, in[i].len) ||
            walApply(b.gw, in[i].type, in[i].payload, in[i].len)) {
            fprintf(stderr, "xchg-ckdiff: record %llu: not applicable\n",
                    (unsigned long long)in[i].seq);
            return 2;
        }
        if (flushB)
            gwFlush(b.gw); /* as the live worker may, before the next input */
        if (++n % step && i + 1 < nIn)
            continue;
        if (a.gw->nDirty || b.gw->nDirty) {
            n--; /* a frame pending (snapshots refuse it): compare after the next input */
            continue;
        }
        if (cdSnap(a.gw, &sa) || cdSnap(b.gw, &sb))
            return 2;
        int d = cdCompare(&sa, &sb, "scratch", "restored");
        cdFree(&sa);
        cdFree(&sb);
        if (d) {
            printf("  first seen after applying sequence %llu (type %u, %u bytes)\n",
                   (unsigned long long)in[i].seq, in[i].type, in[i].len);
            cdHex("that record's payload", in[i].payload, in[i].len);
            return 1;
        }
    }
    printf("restored and scratch identical after %llu more records (to sequence %llu)\n",
           (unsigned long long)n, i ? (unsigned long long)in[i - 1].seq : 0ull);
    cdDrop(&a);
    cdDrop(&b);
    cdFree(&ck);
    for (size_t k = 0; k < nIn; k++)
        free(in[k].payload);
    free(in);
    cfgFree(&cfg);
    return rc;
}
