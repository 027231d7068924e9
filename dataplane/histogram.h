/* histogram.h -- log-linear latency histogram: 8 buckets per power of two, integer only.
 *
 * Values below 8 have a bucket each; above, a value v with highest bit e
 * falls in bucket 8 * (e - 2) + the next three bits, so every bucket is at
 * most 12.5% wide. Recording is two instructions and an increment, cheap
 * enough for a worker's hot path; the single writer owns it and readers get
 * a copy. */
#ifndef XCHG_DATAPLANE_HISTOGRAM_H
#define XCHG_DATAPLANE_HISTOGRAM_H

#include <stdint.h>

#define HIST_BUCKETS (8 * 63)

typedef struct {
    uint64_t count[HIST_BUCKETS];
    uint64_t total;
    uint64_t max;
} histLog;

static inline uint32_t histBucket(uint64_t v)
{
    if (v < 8)
        return (uint32_t)v;
    uint32_t e = 63u - (uint32_t)__builtin_clzll(v);
    return 8u * (e - 2u) + (uint32_t)((v >> (e - 3u)) & 7u);
}

/* Smallest value of a bucket; the bucket holds [low(b), low(b + 1)). */
static inline uint64_t histBucketLow(uint32_t b)
{
    if (b < 8)
        return b;
    uint32_t e = b / 8 + 2;
    return (8ULL + (b & 7)) << (e - 3);
}

static inline void histRecord(histLog *h, uint64_t v, uint64_t n)
{
    h->count[histBucket(v)] += n;
    h->total += n;
    if (v > h->max)
        h->max = v;
}

/* The value at quantile num/den (1/2 = median, 999/1000 = p99.9): the upper
 * edge of the bucket holding it, capped at the largest value seen. 0 when
 * empty. */
static inline uint64_t histQuantile(const histLog *h, uint64_t num, uint64_t den)
{
    if (!h->total)
        return 0;
    uint64_t rank = (uint64_t)(((unsigned __int128)h->total * num + den - 1) / den);
    if (rank == 0)
        rank = 1;
    uint64_t seen = 0;
    for (uint32_t b = 0; b < HIST_BUCKETS; b++) {
        seen += h->count[b];
        if (seen >= rank) {
            uint64_t high = b + 1 < HIST_BUCKETS ? histBucketLow(b + 1) - 1 : h->max;
            return high < h->max ? high : h->max;
        }
    }
    return h->max;
}

#endif
