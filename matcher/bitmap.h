/* bitmap.h -- three-level bitmap of non-empty price levels for best-price search.
 *
 * Covers up to 64^3 = 262144 levels. Each word of a level summarises 64 words
 * of the level below, so finding the next set bit above or below any index
 * takes at most three word scans whatever the book looks like. */
#ifndef XCHG_MATCHER_BITMAP_H
#define XCHG_MATCHER_BITMAP_H

#include <stdint.h>

#define MT_BITMAP_MAX_BITS (64u * 64u * 64u)

typedef struct {
    uint64_t *l0; /* one bit per level */
    uint64_t *l1; /* one bit per non-zero l0 word */
    uint64_t l2;  /* one bit per non-zero l1 word */
    uint32_t nbits;
} mtBitmap;

/* Words of l0 and l1 a bitmap of nbits needs. */
static inline uint32_t bmWordsL0(uint32_t nbits)
{
    return (nbits + 63) / 64;
}
static inline uint32_t bmWordsL1(uint32_t nbits)
{
    return (bmWordsL0(nbits) + 63) / 64;
}

static inline uint64_t bmMaskUpTo(uint32_t bit)
{
    return bit >= 63 ? ~0ULL : (2ULL << bit) - 1;
}

static inline void bmSet(mtBitmap *bm, uint32_t i)
{
    bm->l0[i >> 6] |= 1ULL << (i & 63);
    bm->l1[i >> 12] |= 1ULL << ((i >> 6) & 63);
    bm->l2 |= 1ULL << (i >> 12);
}

static inline void bmClear(mtBitmap *bm, uint32_t i)
{
    uint64_t w = bm->l0[i >> 6] &= ~(1ULL << (i & 63));
    if (w)
        return;
    w = bm->l1[i >> 12] &= ~(1ULL << ((i >> 6) & 63));
    if (w)
        return;
    bm->l2 &= ~(1ULL << (i >> 12));
}

static inline int bmTest(const mtBitmap *bm, uint32_t i)
{
    return (bm->l0[i >> 6] >> (i & 63)) & 1;
}

/* Highest set index <= i, or -1. */
static inline int64_t bmFindAtOrBelow(const mtBitmap *bm, int64_t i)
{
    if (i < 0)
        return -1;
    if (i >= (int64_t)bm->nbits)
        i = (int64_t)bm->nbits - 1;
    uint32_t u = (uint32_t)i;
    uint64_t w = bm->l0[u >> 6] & bmMaskUpTo(u & 63);
    if (w)
        return (int64_t)((u & ~63u) | (63u - (uint32_t)__builtin_clzll(w)));
    int64_t j = (int64_t)(u >> 6) - 1; /* l0 word index */
    if (j < 0)
        return -1;
    uint64_t w1 = bm->l1[j >> 6] & bmMaskUpTo((uint32_t)j & 63);
    uint32_t k;
    if (w1) {
        k = ((uint32_t)j & ~63u) | (63u - (uint32_t)__builtin_clzll(w1));
    } else {
        int64_t m = (j >> 6) - 1; /* l1 word index */
        if (m < 0)
            return -1;
        uint64_t w2 = bm->l2 & bmMaskUpTo((uint32_t)m);
        if (!w2)
            return -1;
        uint32_t mm = 63u - (uint32_t)__builtin_clzll(w2);
        k = mm * 64 + (63u - (uint32_t)__builtin_clzll(bm->l1[mm]));
    }
    return (int64_t)k * 64 + (63 - __builtin_clzll(bm->l0[k]));
}

/* Lowest set index >= i, or -1. */
static inline int64_t bmFindAtOrAbove(const mtBitmap *bm, int64_t i)
{
    if (i < 0)
        i = 0;
    if (i >= (int64_t)bm->nbits)
        return -1;
    uint32_t u = (uint32_t)i;
    uint64_t w = bm->l0[u >> 6] & (~0ULL << (u & 63));
    if (w)
        return (int64_t)((u & ~63u) | (uint32_t)__builtin_ctzll(w));
    uint32_t j = (u >> 6) + 1; /* l0 word index */
    if (j >= bmWordsL0(bm->nbits))
        return -1;
    uint64_t w1 = bm->l1[j >> 6] & (~0ULL << (j & 63));
    uint32_t k;
    if (w1) {
        k = (j & ~63u) | (uint32_t)__builtin_ctzll(w1);
    } else {
        uint32_t m = (j >> 6) + 1; /* l1 word index */
        if (m >= 64)
            return -1;
        uint64_t w2 = bm->l2 & (~0ULL << m);
        if (!w2)
            return -1;
        uint32_t mm = (uint32_t)__builtin_ctzll(w2);
        k = mm * 64 + (uint32_t)__builtin_ctzll(bm->l1[mm]);
    }
    return (int64_t)k * 64 + __builtin_ctzll(bm->l0[k]);
}

#endif
