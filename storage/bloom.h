/* bloom.h -- cache-local bloom filter of SSTables: every probe of a key in one 64-byte line.
 *
 * A key's 64-bit hash picks a line (upper 32 bits, multiply-shift range
 * reduction) and k bit positions inside its 512 bits (lower 32 bits, stepped
 * by a multiplicative constant). A lookup costs one cache miss at most.
 * At 10 bits per key and k = 7 the false-positive rate is about 0.9%
 * (a plain bloom filter: 0.82%); tests/unit/test_sst.c measures it.
 * The layout is part of the SSTable format (docs/storage/sstable.md). */
#ifndef XCHG_STORAGE_BLOOM_H
#define XCHG_STORAGE_BLOOM_H

#include <stddef.h>
#include <stdint.h>

#define BLOOM_LINE_BYTES 64u
#define BLOOM_LINE_BITS  512u

/* 64-bit hash of a key (seedless, stable across builds: it is stored). */
uint64_t bloomHash(const void *key, size_t len);

/* Probes per key for bitsPerKey bits per key (round(bitsPerKey * ln 2), 1..16). */
uint32_t bloomProbes(uint32_t bitsPerKey);

/* Lines for n keys at bitsPerKey (at least 1). */
uint32_t bloomLines(uint64_t n, uint32_t bitsPerKey);

/* Sets the bits of hash h in the filter of nlines lines at bits (zeroed by
 * the caller before the first add). */
void bloomAdd(uint8_t *bits, uint32_t nlines, uint32_t k, uint64_t h);

/* 1 if h may have been added, 0 if certainly not. nlines 0 answers 1. */
int bloomMayContain(const uint8_t *bits, uint32_t nlines, uint32_t k, uint64_t h);

/* The false-positive rate of a plain (unblocked) bloom filter with these
 * parameters, (1 - e^(-k/b))^k: the target the tests compare against. */
double bloomTargetRate(uint32_t bitsPerKey, uint32_t k);

#endif
