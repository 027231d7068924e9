/* journal_int.h -- on-disk format of the journal, shared by its writer and reader.
 *
 * Little-endian throughout (the host's order; checked at compile time).
 * docs/storage/journal.md draws these layouts. Not a public header. */
#ifndef XCHG_STORAGE_JOURNAL_INT_H
#define XCHG_STORAGE_JOURNAL_INT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "storage/journal.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the journal format is little-endian and written in host order"
#endif

#define JN_MAGIC         0x4C4E4A58u /* "XJNL" as bytes */
#define JN_VERSION       1
#define JN_HDR_BYTES     64   /* segment header, at offset 0 */
#define JN_BLOCK         4096 /* write unit and O_DIRECT alignment */
#define JN_DATA_OFF      4096 /* first record of a segment */
#define JN_REC_HDR       24   /* record header */
#define JN_REC_END       1u   /* flags: last record of a commit (batch) */
#define JN_REC_FLAGS     JN_REC_END
#define JN_RING_SKIP     0xFFFFFFFFu /* ring only: rest of the ring unused */
#define JN_PAYLOAD_LIMIT (16u << 20) /* reader's bound on a record's length */
#define JN_SEG_NAME_LEN  18          /* "seg-" 10 digits ".jnl" */

/* Record header; the payload follows, zero-padded to a multiple of 8. */
typedef struct {
    uint32_t len;   /* payload bytes */
    uint32_t crc;   /* CRC32C of bytes 0..3 and 8..end of padding */
    uint64_t seq;   /* sequence, consecutive in a stream */
    uint16_t type;  /* producer's record type */
    uint16_t flags; /* JN_REC_END */
    uint32_t batch; /* commit number (low 32 bits), set by the writer */
} jnRecHdr;
_Static_assert(sizeof(jnRecHdr) == JN_REC_HDR, "record header is 24 bytes");

/* Segment header, decoded. Encoded layout in jnSegHdrEncode. */
typedef struct {
    uint32_t stream;
    uint32_t index; /* segment number, also in the file name */
    uint64_t firstSeq;
    uint64_t segmentBytes;
    uint32_t dataOffset;
    uint32_t firstBatch; /* commit number of the segment's first batch */
    uint64_t createdNs;  /* CLOCK_REALTIME */
} jnSegHdr;

/* The clock's time in ns (CLOCK_MONOTONIC for intervals, CLOCK_REALTIME for
 * segment headers). Never fails. */
static inline uint64_t jnNowNs(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Bytes a record of len payload bytes takes in the ring and on disk. */
static inline uint32_t jnRecSize(uint32_t len)
{
    return (JN_REC_HDR + len + 7u) & ~7u;
}

/* CRC of a record of size bytes at rec (size = jnRecSize(len)). */
uint32_t jnRecCrc(const unsigned char *rec, uint32_t size);

/* Writes h into out[JN_HDR_BYTES] with magic, version and CRC. */
void jnSegHdrEncode(const jnSegHdr *h, unsigned char *out);

/* Decodes in[JN_HDR_BYTES]: 0 valid, 1 all zero (segment never written),
 * -1 invalid, with the reason in *why. */
int jnSegHdrDecode(const unsigned char *in, jnSegHdr *h, const char **why);

/* "<dir>/seg-<index>.jnl" into out. Returns 0, or -1 if it does not fit. */
int jnSegPath(char *out, size_t n, const char *dir, uint32_t index);

/* Segment indexes present in dir, sorted, into a malloc'd *idx (free it).
 * Returns 0, or -1 with *err filled. */
int jnListSegments(const char *dir, uint32_t **idx, size_t *n, jnError *err);

/* Fills *e; file may be NULL, offset UINT64_MAX when none. The message is
 * "journal <file>: offset <off>: <text>" or "journal: <text>". */
void jnErrSet(jnError *e, int code, int sysErrno, const char *file, uint64_t off, const char *fmt,
              ...) __attribute__((format(printf, 6, 7)));

/* ---- reader internals jnOpen uses to check the end of a stream ---- */

/* Opens only the last written segment of dir (no continuity check with the
 * ones before), read-only. Same results as jnReaderOpen otherwise. */
jnReader *jnReaderOpenLast(const char *dir, uint32_t stream, jnError *err);

/* Sequence the stream continues with once the reader reached its end (the
 * last record + 1, or the last segment header's first sequence). 0 if the
 * directory holds no written segment. */
uint64_t jnReaderNextSeq(const jnReader *r);

/* Index of the last written segment (0 if none) and the indexes of the
 * trailing never-written ones (*spares, count returned). */
uint32_t jnReaderLastIndex(const jnReader *r);
size_t jnReaderSpares(const jnReader *r, const uint32_t **spares);

#endif
