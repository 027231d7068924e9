/* acctckpt.c -- the account book as checkpoint records (storage/ckpt.h): out and back in. */
#include <stddef.h>
#include <string.h>

#include "control/acct_int.h"
#include "storage/ckpt.h"

/* Record kinds, the first key byte: the header sorts first. */
enum { AC_HEADER = 0x00, AC_LIMITS = 0x01, AC_TOTALS = 0x02, AC_ARRAY = 0x10 };

#define AC_VERSION 1u

/* The book's arrays: element size, where the pointer and the counts live. */
typedef struct {
    size_t size, ptr, n, cap;
} acArray;

#define AC_ARR(field, nfield, capfield)                                                            \
    {                                                                                              \
        sizeof(*((acctBook *)0)->field), offsetof(acctBook, field), offsetof(acctBook, nfield),    \
            offsetof(acctBook, capfield)                                                           \
    }

static const acArray acArrays[] = {
    AC_ARR(ins, nIns, capIns),    AC_ARR(acc, nAcc, capAcc),          AC_ARR(pos, nPos, capPos),
    AC_ARR(ord, nOrd, capOrd),    AC_ARR(trd, nTrd, capTrd),          AC_ARR(liq, nLiq, capLiq),
    AC_ARR(hist, nHist, capHist), AC_ARR(detail, nDetail, capDetail),
};
#define AC_NARR (sizeof acArrays / sizeof acArrays[0])

/* header: the version and every element size, so a checkpoint written by a
 * build with other layouts is refused instead of misread */
typedef struct {
    uint32_t version, nArrays;
    uint32_t size[AC_NARR];
} acHeader;

static void acKey(unsigned char *k, uint8_t kind, uint32_t i)
{
    k[0] = kind;
    k[1] = (unsigned char)(i >> 24);
    k[2] = (unsigned char)(i >> 16);
    k[3] = (unsigned char)(i >> 8);
    k[4] = (unsigned char)i;
}

static void acHeaderOf(acHeader *h)
{
    memset(h, 0, sizeof *h);
    h->version = AC_VERSION;
    h->nArrays = AC_NARR;
    for (size_t a = 0; a < AC_NARR; a++)
        h->size[a] = (uint32_t)acArrays[a].size;
}

int acctSnapshot(const acctBook *b, const ckptSink *sink)
{
    unsigned char k[5];
    acHeader h;
    acHeaderOf(&h);
    acKey(k, AC_HEADER, 0);
    if (ckptPut(sink, k, 1, &h, sizeof h))
        return -1;
    acKey(k, AC_LIMITS, 0);
    if (ckptPut(sink, k, 1, &b->lim, sizeof b->lim))
        return -1;
    acKey(k, AC_TOTALS, 0);
    if (ckptPut(sink, k, 1, &b->tot, sizeof b->tot))
        return -1;
    for (size_t a = 0; a < AC_NARR; a++) {
        const acArray *x = &acArrays[a];
        const char *base = *(char *const *)((const char *)b + x->ptr);
        const uint32_t n = *(const uint32_t *)((const char *)b + x->n);
        for (uint32_t i = 0; i < n; i++) {
            acKey(k, (uint8_t)(AC_ARRAY + a), i);
            if (ckptPut(sink, k, sizeof k, base + (size_t)i * x->size, x->size))
                return -1;
        }
    }
    return 0;
}

/* Appends element i of array a (indexes must come 0, 1, 2, ...). */
static int acAppend(acctBook *b, size_t a, uint32_t i, const void *v, size_t vlen)
{
    const acArray *x = &acArrays[a];
    void **p = (void **)((char *)b + x->ptr);
    uint32_t *n = (uint32_t *)((char *)b + x->n), *cap = (uint32_t *)((char *)b + x->cap);
    if (vlen != x->size || i != *n || acctGrow(p, cap, *n + 1, x->size))
        return -1;
    memcpy((char *)*p + (size_t)i * x->size, v, x->size);
    (*n)++;
    return 0;
}

/* The maps are not stored: they follow from the arrays. */
static int acRebuildMaps(acctBook *b)
{
    for (uint32_t i = 0; i < b->nAcc; i++)
        if (acctMapPut(&b->accMap, b->acc[i].id, i))
            return -1;
    for (uint32_t i = 0; i < b->nPos; i++)
        if (acctMapPut(&b->posMap, (uint64_t)b->pos[i].account << 16 | b->pos[i].instrument, i))
            return -1;
    for (uint32_t i = 0; i < b->nOrd; i++)
        if (acctMapPut(&b->ordMap, b->ord[i].orderId, i))
            return -1;
    return 0;
}

int acctRestore(acctBook *b, const ckptSource *src)
{
    const void *key, *val;
    size_t klen, vlen;
    int rc, header = 0;
    acHeader want;
    acHeaderOf(&want);
    if (b->nAcc || b->nPos || b->nOrd || b->nTrd || b->nLiq || b->nHist)
        return -1; /* a book with accounts or trading: not a fresh one */
    b->nIns = 0;   /* the checkpoint's instruments replace the config's */
    while ((rc = ckptNext(src, &key, &klen, &val, &vlen)) == 1) {
        const unsigned char *k = key;
        if (klen < 1)
            return -1;
        if (k[0] == AC_HEADER) {
            if (vlen != sizeof want || memcmp(val, &want, sizeof want))
                return -1;
            header = 1;
        } else if (!header) {
            return -1;
        } else if (k[0] == AC_LIMITS && vlen == sizeof b->lim) {
            memcpy(&b->lim, val, sizeof b->lim);
        } else if (k[0] == AC_TOTALS && vlen == sizeof b->tot) {
            memcpy(&b->tot, val, sizeof b->tot);
        } else if (k[0] >= AC_ARRAY && k[0] < AC_ARRAY + AC_NARR && klen == 5) {
            const uint32_t i =
                (uint32_t)k[1] << 24 | (uint32_t)k[2] << 16 | (uint32_t)k[3] << 8 | k[4];
            if (acAppend(b, (size_t)(k[0] - AC_ARRAY), i, val, vlen))
                return -1;
        } else {
            return -1;
        }
    }
    if (rc < 0 || !header)
        return -1;
    return acRebuildMaps(b);
}
