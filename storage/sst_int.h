/* sst_int.h -- SSTable on-disk format constants and encoding helpers shared by writer and reader.
 *
 * docs/storage/sstable.md is the normative description. Little-endian. */
#ifndef XCHG_STORAGE_SST_INT_H
#define XCHG_STORAGE_SST_INT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "storage/sst.h"

#define SST_MAGIC        0x31304C4254535358ull /* bytes "XSSTBL01" */
#define SST_VERSION      1u
#define SST_FOOTER_BYTES 64u
#define SST_TRAILER      5u /* after every block: type byte + CRC32C */

/* Block types in the trailer. */
#define SST_BLK_RAW 0u
#define SST_BLK_LZ4 1u

/* Footer field offsets. */
#define SST_F_INDEX_OFF 0  /* u64 */
#define SST_F_INDEX_LEN 8  /* u32 stored bytes, trailer excluded */
#define SST_F_BLOOM_LEN 12 /* u32 */
#define SST_F_BLOOM_OFF 16 /* u64 */
#define SST_F_META_OFF  24 /* u64 */
#define SST_F_META_LEN  32 /* u32 */
#define SST_F_FLAGS     36 /* u32, zero */
#define SST_F_ENTRIES   40 /* u64 */
#define SST_F_VERSION   48 /* u32 */
#define SST_F_CRC       52 /* u32 CRC32C of bytes 0..51 */
#define SST_F_MAGIC     56 /* u64 */

/* Bloom block header: u32 lines, u32 probes, then lines * 64 bytes. */
#define SST_BLOOM_HDR 8u

static inline uint32_t sstLoad32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static inline uint64_t sstLoad64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline void sstStore32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

static inline void sstStore64(uint8_t *p, uint64_t v)
{
    memcpy(p, &v, 8);
}

/* LEB128. Encode: returns bytes written (<= 10). */
static inline size_t sstPutVarint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

/* Decode from [p, end): returns the position after it, or NULL if the
 * varint runs past end or past 64 bits. */
static inline const uint8_t *sstGetVarint(const uint8_t *p, const uint8_t *end, uint64_t *v)
{
    if (p < end && *p < 0x80) { /* the common case: one byte */
        *v = *p;
        return p + 1;
    }
    uint64_t r = 0;
    for (unsigned shift = 0; shift <= 63 && p < end; shift += 7) {
        uint64_t b = *p++;
        r |= (b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = r;
            return p;
        }
    }
    return NULL;
}

/* memcmp order with the shorter key first on a common prefix. */
static inline int sstKeyCmp(const void *a, size_t alen, const void *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    int c = n ? memcmp(a, b, n) : 0;
    if (c)
        return c;
    return alen < blen ? -1 : alen > blen;
}

/* Fills *err (if not NULL): "sstable FILE: offset N: what" (offset part
 * omitted when UINT64_MAX, file part when file is NULL or ""). */
void sstErrorSet(sstError *err, int code, int sysErrno, const char *file, uint64_t offset,
                 const char *fmt, ...) __attribute__((format(printf, 6, 7)));

#endif
