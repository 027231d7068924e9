/* lsm_merge.c -- the LSM tree's merging iterator over memtables, tables and levels.
 *
 * Sources are added newest first; for a key held by several sources the
 * first one's entry wins and the others are skipped. A level source walks
 * its non-overlapping tables one after the other, opening an sstIter on
 * one table at a time. The winner's entry stays valid until the next call:
 * the sources that held the key are moved on only then. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "storage/lsm_int.h"
#include "storage/sst_int.h"

static lsmSrc *addSrc(lsmMerge *m)
{
    if (m->n == m->cap) {
        uint32_t cap = m->cap ? m->cap * 2 : 16;
        lsmSrc *s = realloc(m->src, cap * sizeof *s);
        int32_t *a = realloc(m->advance, cap * sizeof *a);
        if (s)
            m->src = s;
        if (a)
            m->advance = a;
        if (!s || !a)
            return NULL;
        m->cap = cap;
    }
    lsmSrc *s = &m->src[m->n++];
    memset(s, 0, sizeof *s);
    return s;
}

int lsmMergeAddMem(lsmMerge *m, const sklList *s)
{
    lsmSrc *x = addSrc(m);
    if (!x)
        return -1;
    x->kind = LSM_SRC_MEM;
    sklIterSeek(&x->skl, s, NULL, 0);
    x->skl.node = NULL; /* unpositioned until lsmMergeSeek */
    return 0;
}

int lsmMergeAddFiles(lsmMerge *m, lsmFile **files, uint32_t n)
{
    if (n == 0)
        return 0;
    lsmSrc *x = addSrc(m);
    if (!x)
        return -1;
    x->kind = LSM_SRC_LEVEL;
    x->files = files;
    x->nfiles = n;
    return 0;
}

/* Moves a level source to table fi (seeking to key) and reads its first
 * entry, going on to later tables while one is exhausted. */
static int levelFrom(lsmSrc *x, uint32_t fi, const void *key, size_t klen, sstError *err)
{
    for (x->fi = fi; x->fi < x->nfiles; x->fi++, klen = 0) {
        sstIterClose(x->it);
        x->it = sstIterOpen(x->files[x->fi]->t);
        if (!x->it) {
            sstErrorSet(err, SST_EIO, ENOMEM, NULL, UINT64_MAX, "out of memory");
            return -1;
        }
        if (sstIterSeek(x->it, key, klen, err) < 0)
            return -1;
        int rc = sstIterNext(x->it, &x->e, err);
        if (rc < 0)
            return -1;
        if (rc == 1) {
            x->valid = 1;
            return 0;
        }
    }
    x->valid = 0;
    return 0;
}

static int srcAdvance(lsmSrc *x, sstError *err)
{
    if (x->kind == LSM_SRC_MEM) {
        x->valid = sklIterNext(&x->skl, &x->e);
        return 0;
    }
    int rc = sstIterNext(x->it, &x->e, err);
    if (rc < 0)
        return -1;
    if (rc == 1)
        return 0;
    return levelFrom(x, x->fi + 1, NULL, 0, err);
}

static int srcSeek(lsmSrc *x, const void *key, size_t klen, sstError *err)
{
    if (x->kind == LSM_SRC_MEM) {
        sklIterSeek(&x->skl, x->skl.s, key, klen);
        x->valid = sklIterNext(&x->skl, &x->e);
        return 0;
    }
    uint32_t lo = 0, hi = x->nfiles; /* first table whose largest key >= key */
    while (klen && lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        const lsmFile *f = x->files[mid];
        if (sstKeyCmp(f->hi, f->hiLen, key, klen) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return levelFrom(x, lo, key, klen, err);
}

int lsmMergeSeek(lsmMerge *m, const void *key, size_t klen, sstError *err)
{
    m->nadvance = 0;
    for (uint32_t i = 0; i < m->n; i++)
        if (srcSeek(&m->src[i], key, klen, err) < 0)
            return -1;
    return 0;
}

int lsmMergeNext(lsmMerge *m, sstEntry *e, sstError *err)
{
    for (uint32_t i = 0; i < m->nadvance; i++)
        if (srcAdvance(&m->src[m->advance[i]], err) < 0)
            return -1;
    m->nadvance = 0;
    int32_t win = -1;
    for (uint32_t i = 0; i < m->n; i++) {
        const lsmSrc *x = &m->src[i];
        if (!x->valid)
            continue;
        if (win < 0 || sstKeyCmp(x->e.key, x->e.klen, m->src[win].e.key, m->src[win].e.klen) < 0)
            win = (int32_t)i;
    }
    if (win < 0)
        return 0;
    *e = m->src[win].e;
    for (uint32_t i = 0; i < m->n; i++) {
        const lsmSrc *x = &m->src[i];
        if (x->valid && ((int32_t)i == win || sstKeyCmp(x->e.key, x->e.klen, e->key, e->klen) == 0))
            m->advance[m->nadvance++] = (int32_t)i;
    }
    return 1;
}

void lsmMergeFree(lsmMerge *m)
{
    for (uint32_t i = 0; i < m->n; i++)
        sstIterClose(m->src[i].it);
    free(m->src);
    free(m->advance);
    memset(m, 0, sizeof *m);
}
