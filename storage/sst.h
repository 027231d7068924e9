/* sst.h -- SSTables: immutable sorted key/value files, written once, read through mmap.
 *
 * A table maps byte-string keys (memcmp order, shorter first on a common
 * prefix) to byte-string values or to tombstones (a deletion marker the LSM
 * tree needs to shadow older files). docs/storage/sstable.md is the
 * normative format; in one paragraph: data blocks of about blockSize bytes
 * (4-64 KiB) holding prefix-compressed keys with a restart point every
 * restartInterval keys, each block optionally LZ4-compressed and followed by
 * a type byte and a CRC32C; an index block (last key of every data block ->
 * its offset and size); a bloom filter block (10 bits per key, one cache line
 * per probe set); a meta block (counts, smallest and largest key, the
 * caller's own bytes); a 64-byte footer with the offsets, the entry count,
 * its own CRC32C and a magic number.
 *
 * Writing: sstWriterOpen, sstWriterAdd / sstWriterDelete in strictly
 * increasing key order, sstWriterFinish (fsync, then rename from PATH.tmp to
 * PATH, so a table appears complete or not at all) or sstWriterAbort.
 *
 * Reading: sstOpen maps the file and checks footer, index, bloom and meta
 * (their CRCs and bounds); data blocks are checked on first use (CRC32C,
 * once per block per open table, then remembered). sstGet and the iterator
 * are safe from many threads at once on one sstTable. Every damage found is
 * reported with the file and the byte offset of the damaged block. */
#ifndef XCHG_STORAGE_SST_H
#define XCHG_STORAGE_SST_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SST_PATH_MAX      512
#define SST_KEY_MAX       65535u      /* longest key */
#define SST_VALUE_MAX     (64u << 20) /* longest value */
#define SST_USER_META_MAX (64u << 10) /* caller bytes kept in the meta block */
#define SST_BLOCK_MIN     (4u << 10)
#define SST_BLOCK_MAX     (64u << 10)

/* Error classes in sstError.code. */
enum {
    SST_OK = 0,
    SST_EIO = 1,      /* a system call failed: sysErrno */
    SST_EARG = 2,     /* bad options, key order, sizes */
    SST_ECORRUPT = 3, /* bad magic, CRC, bounds or encoding: file and offset say where */
    SST_EVERSION = 4  /* format version this build does not read */
};

/* What went wrong and where. msg is complete on its own, e.g.
 * "sstable /d/000012.sst: offset 40960: data block CRC mismatch". */
typedef struct {
    int code;                /* SST_* */
    int sysErrno;            /* errno for SST_EIO, else 0 */
    char file[SST_PATH_MAX]; /* file concerned, "" if none */
    uint64_t offset;         /* byte offset of the damaged part, UINT64_MAX if none */
    char msg[SST_PATH_MAX + 160];
} sstError;

/* Block compression. */
enum { SST_COMPRESS_NONE = 0, SST_COMPRESS_LZ4 = 1 };

typedef struct {
    uint32_t blockSize;       /* target data block bytes before compression, 4-64 KiB (4096) */
    uint32_t restartInterval; /* keys between full keys in a data block, 1-1024 (16) */
    uint32_t bloomBitsPerKey; /* 0 = no filter; 1-32 (10) */
    int compression;          /* SST_COMPRESS_* (NONE); LZ4 blocks kept only if >= 1/8 smaller */
    int sync;                 /* 1: fsync the file and its directory at finish (1) */
    const void *userMeta;     /* bytes stored in the meta block (NULL) */
    uint32_t userMetaLen;     /* <= SST_USER_META_MAX (0) */
} sstOptions;

/* Fills o with the defaults given in the comments of sstOptions. */
void sstOptionsDefaults(sstOptions *o);

/* Facts about a finished or opened table. */
typedef struct {
    uint64_t entries; /* values and tombstones */
    uint64_t tombstones;
    uint64_t dataBlocks;
    uint64_t fileBytes;
    uint64_t keyBytes;   /* sum of key lengths, before prefix compression */
    uint64_t valueBytes; /* sum of value lengths */
    uint32_t blockSize;
    int compression;
} sstInfo;

/* ---- writer ---------------------------------------------------------------- */

typedef struct sstWriter sstWriter;

/* Starts a table to be published at path (written to "path.tmp" until
 * sstWriterFinish). o NULL = defaults. Returns NULL with *err filled on bad
 * options or I/O failure. The caller frees with Finish or Abort. */
sstWriter *sstWriterOpen(const char *path, const sstOptions *o, sstError *err);

/* Adds key -> value. Keys must be strictly increasing (memcmp order, a prefix
 * sorts first); klen 1..SST_KEY_MAX, vlen <= SST_VALUE_MAX. Returns 0, or -1
 * with *err (SST_EARG on order or size, SST_EIO on a failed write; the writer
 * is then unusable except for Abort). */
int sstWriterAdd(sstWriter *w, const void *key, size_t klen, const void *val, size_t vlen,
                 sstError *err);

/* Adds a tombstone for key (same rules as sstWriterAdd). */
int sstWriterDelete(sstWriter *w, const void *key, size_t klen, sstError *err);

/* Entries added so far, and bytes the file will have at least (for callers
 * that cut output files by size). */
uint64_t sstWriterEntries(const sstWriter *w);
uint64_t sstWriterBytes(const sstWriter *w);

/* Writes the last data block, index, bloom, meta and footer, fsyncs (o.sync),
 * renames path.tmp to path and fsyncs the directory. A table with no entries
 * is valid. Fills *info if not NULL (its fields only, no key pointers).
 * Frees w in every case. Returns 0, or -1 with *err (the .tmp file is
 * removed). */
int sstWriterFinish(sstWriter *w, sstInfo *info, sstError *err);

/* Drops the table being written (removes path.tmp) and frees w. NULL is a
 * no-op. */
void sstWriterAbort(sstWriter *w);

/* ---- reader ---------------------------------------------------------------- */

typedef struct sstTable sstTable;

/* sstOpen flags. SST_OPEN_VERIFY checks every data block's CRC at open (so a
 * damaged table is refused at once, e.g. at recovery); without it blocks are
 * checked on first use. SST_OPEN_RANDOM advises the kernel against read-ahead
 * (point lookups); SST_OPEN_SEQUENTIAL for it (scans, compaction input). */
#define SST_OPEN_VERIFY     1u
#define SST_OPEN_RANDOM     2u
#define SST_OPEN_SEQUENTIAL 4u

/* Maps the table at path read-only and checks footer, index, bloom and meta.
 * Returns NULL with *err (SST_EIO, SST_ECORRUPT with file and offset,
 * SST_EVERSION) on failure. The file may be unlinked while open. */
sstTable *sstOpen(const char *path, unsigned flags, sstError *err);

/* Unmaps and frees. No iterator of t may be in use. NULL is a no-op. */
void sstClose(sstTable *t);

/* Result of sstGet. */
enum { SST_NOT_FOUND = 0, SST_FOUND = 1, SST_DELETED = 2 };

/* Looks key up. Returns SST_FOUND with *val / *vlen set, SST_DELETED if the
 * table holds a tombstone for it, SST_NOT_FOUND, or -1 when a block on the
 * way is damaged (*err filled if err is not NULL; the table stays usable for
 * other blocks). *val points into the mapping (valid until sstClose) or, for
 * an LZ4 table, into a per-thread buffer (valid until this thread's next
 * sstGet). Thread-safe; no allocation for uncompressed tables. */
int sstGet(sstTable *t, const void *key, size_t klen, const void **val, size_t *vlen,
           sstError *err);

/* 1 if the bloom filter says key may be present (always 1 without a
 * filter), 0 if it is certainly absent. */
int sstMayContain(const sstTable *t, const void *key, size_t klen);

/* Checks every data block's CRC and encoding. Returns 0, or -1 with *err
 * naming the first damaged block's offset. */
int sstVerify(sstTable *t, sstError *err);

/* Table facts, smallest/largest key (klen 0 for an empty table) and the
 * caller's meta bytes (pointers valid until sstClose). */
void sstGetInfo(const sstTable *t, sstInfo *info);
const void *sstSmallest(const sstTable *t, size_t *klen);
const void *sstLargest(const sstTable *t, size_t *klen);
const void *sstUserMeta(const sstTable *t, size_t *len);
const char *sstPath(const sstTable *t);

/* ---- iterator ---------------------------------------------------------------- */

typedef struct sstIter sstIter;

/* One entry. key and val are valid until the next call on the iterator;
 * val is NULL (vlen 0) for a tombstone. */
typedef struct {
    const uint8_t *key;
    size_t klen;
    const uint8_t *val;
    size_t vlen;
    int tombstone;
} sstEntry;

/* An iterator positioned before the first entry. Returns NULL only when
 * out of memory. Free with sstIterClose (before sstClose of t). */
sstIter *sstIterOpen(sstTable *t);

/* Positions the iterator so that the next sstIterNext returns the first
 * entry with key >= the given one (klen 0: the first entry). Returns 0, or
 * -1 on a damaged block (*err). */
int sstIterSeek(sstIter *it, const void *key, size_t klen, sstError *err);

/* Next entry into *e. Returns 1 with an entry, 0 at the end, -1 on a damaged
 * block (*err; the iterator then stays at its end). */
int sstIterNext(sstIter *it, sstEntry *e, sstError *err);

/* Frees the iterator. NULL is a no-op. */
void sstIterClose(sstIter *it);

#ifdef __cplusplus
}
#endif

#endif
