/* bloom.c -- cache-local bloom filter of SSTables (bloom.h). */
#include <math.h>
#include <string.h>

#include "storage/bloom.h"

#define BLOOM_P0 0xa0761d6478bd642full
#define BLOOM_P1 0xe7037ed1a0b428dbull
#define BLOOM_P2 0x8ebc6af09c88c6e3ull

static inline uint64_t bloomMix(uint64_t a, uint64_t b)
{
    __uint128_t r = (__uint128_t)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
}

static inline uint64_t bloomRead64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* A wyhash-style hash: 16 bytes per 128-bit multiply, the tail zero-padded.
 * Stored in files through the filter bits, so it must never change. */
uint64_t bloomHash(const void *key, size_t len)
{
    const uint8_t *p = key;
    uint64_t seed = BLOOM_P0 ^ (uint64_t)len;
    size_t n = len;
    while (n >= 16) {
        /* cppcheck-suppress pointerOutOfBounds ; n >= 16 bytes remain at p */
        seed = bloomMix(bloomRead64(p) ^ BLOOM_P1, bloomRead64(p + 8) ^ seed);
        p += 16;
        n -= 16;
    }
    uint8_t tail[16] = {0};
    if (n)
        memcpy(tail, p, n);
    seed = bloomMix(bloomRead64(tail) ^ BLOOM_P1, bloomRead64(tail + 8) ^ seed);
    return bloomMix(seed ^ BLOOM_P2, (uint64_t)len ^ BLOOM_P1);
}

uint32_t bloomProbes(uint32_t bitsPerKey)
{
    uint32_t k = (bitsPerKey * 69 + 50) / 100;
    return k < 1 ? 1 : k > 16 ? 16 : k;
}

uint32_t bloomLines(uint64_t n, uint32_t bitsPerKey)
{
    uint64_t bits = n * bitsPerKey;
    uint64_t lines = (bits + BLOOM_LINE_BITS - 1) / BLOOM_LINE_BITS;
    if (lines < 1)
        lines = 1;
    return lines > UINT32_MAX ? UINT32_MAX : (uint32_t)lines;
}

static inline uint32_t bloomLine(uint32_t nlines, uint64_t h)
{
    return (uint32_t)(((h >> 32) * (uint64_t)nlines) >> 32);
}

void bloomAdd(uint8_t *bits, uint32_t nlines, uint32_t k, uint64_t h)
{
    uint8_t *line = bits + (size_t)bloomLine(nlines, h) * BLOOM_LINE_BYTES;
    uint32_t h2 = (uint32_t)h;
    for (uint32_t i = 0; i < k; i++) {
        uint32_t bit = h2 >> 23; /* 9 bits: 0..511 */
        line[bit >> 3] |= (uint8_t)(1u << (bit & 7));
        h2 *= 0x9e3779b9u;
    }
}

int bloomMayContain(const uint8_t *bits, uint32_t nlines, uint32_t k, uint64_t h)
{
    if (nlines == 0)
        return 1;
    const uint8_t *line = bits + (size_t)bloomLine(nlines, h) * BLOOM_LINE_BYTES;
    uint32_t h2 = (uint32_t)h;
    for (uint32_t i = 0; i < k; i++) {
        uint32_t bit = h2 >> 23;
        if (!(line[bit >> 3] & (1u << (bit & 7))))
            return 0;
        h2 *= 0x9e3779b9u;
    }
    return 1;
}

double bloomTargetRate(uint32_t bitsPerKey, uint32_t k)
{
    return pow(1.0 - exp(-(double)k / (double)bitsPerKey), (double)k);
}
