/* lsm.h -- a log-structured merge tree: memtable, SSTables in levels, background compaction.
 *
 * One directory holds a MANIFEST and numbered tables (NNNNNNNNNN.sst). Writes
 * go to a memtable (skl.h) owned by the caller's thread (the storage
 * thread); a memtable is flushed to a level-0 table when it reaches
 * memtableBytes or, through lsmTick, when its oldest write is older than
 * flushIntervalMs. A background thread writes the flushes and compacts:
 * when level 0 has l0Trigger tables they are merged with the overlapping
 * level-1 tables into level 1; when level n (n >= 1) holds more than
 * l1Bytes x levelMultiplier^(n-1) bytes, one of its tables (round robin
 * over the key space) is merged with the overlapping tables of level n+1.
 * Every change of the set of tables is written as a new MANIFEST (to
 * MANIFEST.tmp, fsync, rename, fsync of the directory), so the directory
 * always describes a complete tree; tables are deleted only once no
 * manifest and no reader needs them.
 *
 * The tree is not a write-ahead log: what is in the memtable is lost in a
 * crash. Its users rebuild it from the journal (history is derived data).
 *
 * lsmOpenReadOnly opens the tables of the current MANIFEST without a
 * memtable or a thread, for other processes (xchgctl query): tables are
 * immutable and mmap'd, so they stay readable while the owner compacts. */
#ifndef XCHG_STORAGE_LSM_H
#define XCHG_STORAGE_LSM_H

#include <stddef.h>
#include <stdint.h>

#include "storage/sst.h"

#define LSM_LEVELS 7

typedef struct {
    const char *dir;          /* created if missing (writable open) */
    size_t memtableBytes;     /* flush size (4 MiB); entries of up to a quarter of it */
    uint32_t flushIntervalMs; /* lsmTick flushes a memtable this old (1000; 0 = never) */
    uint32_t l0Trigger;       /* level-0 tables that start a compaction (4) */
    uint64_t l1Bytes;         /* level-1 size limit (16 MiB) */
    uint32_t levelMultiplier; /* each deeper level this many times larger (10) */
    uint64_t targetFileBytes; /* compaction output tables cut at this size (4 MiB) */
    int verifyOnOpen;         /* check every block of every table at open (0) */
    sstOptions sst;           /* options of the tables written (sst defaults) */
} lsmConfig;

/* Fills c with the defaults given in the comments (dir NULL). */
void lsmConfigDefaults(lsmConfig *c);

typedef struct lsmDb lsmDb;

/* Opens (creating if needed) the tree in cfg->dir for writing and starts
 * its background thread. A directory with tables but no MANIFEST, a damaged
 * MANIFEST or a damaged or missing table is refused with *err naming the
 * file (and offset); leftover .tmp files and tables no manifest lists (from
 * a crash in the middle of a compaction) are removed. Only one process may
 * open a directory for writing (flock on LOCK). Returns NULL on failure. */
lsmDb *lsmOpen(const lsmConfig *cfg, sstError *err);

/* Opens the tables of dir's current MANIFEST for reading only: no memtable,
 * no thread, no file changed. Retries if a compaction of the writer
 * replaces the manifest while the tables are being opened. */
lsmDb *lsmOpenReadOnly(const char *dir, sstError *err);

/* Writable: flushes the memtable, waits for the background thread to
 * finish its current job, stops it. Frees everything. NULL is a no-op. */
void lsmClose(lsmDb *db);

/* Writer thread only (the thread that opened the tree). Puts key -> value or
 * a tombstone. May wait for the background thread when the previous
 * memtable is still being flushed (a write stall, counted). Returns 0, or -1
 * with *err (SST_EARG: read-only tree or sizes; SST_EIO: the background
 * thread failed, see lsmStats.error). */
int lsmPut(lsmDb *db, const void *key, size_t klen, const void *val, size_t vlen, sstError *err);

/* Writes a tombstone for key: later gets miss it and compaction drops it
 * with what it shadows. Same thread, errors and waits as lsmPut. */
int lsmDelete(lsmDb *db, const void *key, size_t klen, sstError *err);

/* Looks key up in memtables and tables, newest first. Returns 1 with the
 * value copied into buf (at most cap bytes; *vlen = its full length), 0 if
 * absent or deleted, -1 on a damaged table (*err). Any thread. */
int lsmGet(lsmDb *db, const void *key, size_t klen, void *buf, size_t cap, size_t *vlen,
           sstError *err);

/* Writer thread: flushes the memtable if it is not empty and older than
 * flushIntervalMs (now: CLOCK_MONOTONIC ns). Never waits. Returns 1 if a
 * flush was started. */
int lsmTick(lsmDb *db, uint64_t nowNs);

/* Writer thread: flushes the memtable now and waits until it is a table.
 * Returns 0, or -1 with *err. */
int lsmFlush(lsmDb *db, sstError *err);

/* Waits until the background thread has nothing to do (no flush pending,
 * no level over its limit). Returns 0, or -1 if it failed (*err). */
int lsmWaitIdle(lsmDb *db, sstError *err);

/* Writer thread: flushes, then merges every table into one sorted run in
 * the deepest level needed (tombstones dropped). For tests and benchmarks. */
int lsmCompactAll(lsmDb *db, sstError *err);

/* ---- iteration: a merged view of memtables and tables, tombstones hidden ---- */

typedef struct lsmIter lsmIter;

/* Any thread. The view is of the tables current at open; memtable entries
 * written after open may or may not appear. NULL when out of memory or on a
 * damaged table (*err). Free with lsmIterClose. */
lsmIter *lsmIterOpen(lsmDb *db, sstError *err);

/* Positions before the first live key >= key (klen 0: the first). */
int lsmIterSeek(lsmIter *it, const void *key, size_t klen, sstError *err);

/* Next live entry (e->tombstone always 0). 1, 0 at the end, -1 (*err). */
int lsmIterNext(lsmIter *it, sstEntry *e, sstError *err);

/* Frees the iterator and releases the tables it held (a compacted-away
 * table is unlinked once its last iterator is closed). NULL is a no-op. */
void lsmIterClose(lsmIter *it);

typedef struct {
    uint32_t files[LSM_LEVELS];
    uint64_t bytes[LSM_LEVELS];
    uint64_t flushes, compactions, stalls;
    uint64_t bytesFlushed, bytesCompacted; /* table bytes written */
    uint64_t memtableBytes;                /* arena bytes of the active memtable */
    uint64_t manifestNumber;               /* how many manifests were written */
    int failed;                            /* the background thread stopped on error */
    sstError error;                        /* ... this one */
} lsmStats;

/* A consistent copy of the counters. Any thread. */
void lsmGetStats(lsmDb *db, lsmStats *st);

#endif
