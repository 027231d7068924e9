/* checkpoint.h -- checkpoint files: one SSTable per journal stream and an atomically replaced
 * manifest.
 *
 * A checkpoint is a directory <root>/ckpt-<id>/ (id: 20 digits, growing)
 * holding, for each journal stream (a market segment, later the control
 * core), the stream's state as an SSTable (stream-<id>.sst) with the journal
 * sequence it covers, and a MANIFEST that lists them. The manifest is
 * written to MANIFEST.tmp, fsynced, renamed over MANIFEST and the directory
 * fsynced, so a checkpoint exists whole or not at all: a directory without
 * a MANIFEST is an unfinished one. The manifest is text (an operator can
 * read it) ending in a line with the CRC32C of everything before it; every
 * SSTable's whole-file CRC32C and entry count are in it too.
 * docs/storage/checkpoint.md describes the format and how xchgd uses it.
 *
 * Components write their records through a ckptSink (storage/ckpt.h) and
 * read them back through a ckptSource, in key order. Not for the hot path:
 * writing allocates and does file I/O. */
#ifndef XCHG_STORAGE_CHECKPOINT_H
#define XCHG_STORAGE_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "storage/ckpt.h"

#define CK_MAX_STREAMS 64
#define CK_NAME_MAX    48
#define CK_ERR_MAX     768

typedef struct {
    uint32_t stream;         /* journal stream id (segment id; 0xFFFF: control core) */
    uint64_t seq;            /* every record <= seq is in this state, none after it */
    char file[CK_NAME_MAX];  /* SSTable file name inside the checkpoint directory */
    uint64_t entries, bytes; /* records and file size */
    uint32_t crc;            /* CRC32C of the whole file */
} ckStream;

typedef struct {
    uint64_t id;
    uint64_t timeNs; /* CLOCK_REALTIME when it was written */
    uint32_t n;
    ckStream s[CK_MAX_STREAMS];
} ckManifest;

/* ---- writing ---- */

typedef struct ckWriter ckWriter;

/* Starts checkpoint `id` under root (created if missing). A leftover
 * directory of that id without a manifest is replaced. Returns NULL with a
 * message in err. */
ckWriter *ckBegin(const char *root, uint64_t id, char *err, size_t errlen);

/* Opens the next stream's state: fills *sink with a sink that collects
 * its records (copies). Then the component writes, then ckStreamEnd. */
int ckStreamBegin(ckWriter *w, uint32_t stream, uint64_t seq, ckptSink *sink);

/* Sorts what the sink got, refuses a key given twice, writes the SSTable
 * (fsynced) and adds it to the manifest. Returns 0, or -1 with err (the
 * checkpoint is then to be aborted). */
int ckStreamEnd(ckWriter *w, char *err, size_t errlen);

/* Writes the manifest atomically (tmp, fsync, rename, directory fsync),
 * copies it to *out when not NULL and frees w. Returns 0, or -1 with err
 * (the directory is removed). */
int ckCommit(ckWriter *w, ckManifest *out, char *err, size_t errlen);

/* Removes the unfinished checkpoint and frees w. NULL is a no-op. */
void ckAbort(ckWriter *w);

/* ---- reading ---- */

/* Ids of the directories ckpt-<id> under root, newest first, at most max.
 * Returns how many (0 when root is missing), -1 when root cannot be read. */
int ckList(const char *root, uint64_t *ids, int max);

/* Reads and checks checkpoint id: the manifest's CRC and fields, then every
 * SSTable (opened with every block's CRC checked, entries and whole-file
 * CRC compared with the manifest). Returns 0 with *m, or -1 with err naming
 * the file and, for damage inside it, the byte offset. */
int ckLoad(const char *root, uint64_t id, ckManifest *m, char *err, size_t errlen);

/* The manifest's entry for stream, or NULL. */
const ckStream *ckFind(const ckManifest *m, uint32_t stream);

typedef struct ckReader ckReader;

/* Opens stream s of checkpoint id for reading: *src delivers its records
 * in key order. Returns NULL with err. Close with ckReaderClose. */
ckReader *ckReaderOpen(const char *root, uint64_t id, const ckStream *s, ckptSource *src, char *err,
                       size_t errlen);
void ckReaderClose(ckReader *r);

/* ---- retention ---- */

/* Removes the checkpoints under root beyond the `keep` newest complete ones
 * (ckLoad-valid or not: only their age counts) and every directory without
 * a manifest older than the newest complete one. Returns how many were
 * removed. */
int ckPrune(const char *root, int keep);

#endif
