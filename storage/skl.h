/* skl.h -- the memtable: an arena skiplist of byte-string keys, one writer, concurrent readers.
 *
 * The LSM tree (lsm.h) puts recent writes here until the table is large or
 * old enough to be flushed to an SSTable. All memory comes from one arena
 * allocated at creation (hugepages when available, matcher/alloc.c), so a
 * put never calls malloc; when the arena is full, sklPut says so and the
 * owner switches to a fresh memtable. A put of an existing key replaces its
 * value (the new value record is published with one release store), so the
 * list holds one version per key, as an SSTable does. Readers on other
 * threads may get and iterate while the single writer inserts: links are
 * published with release stores and read with acquire loads. */
#ifndef XCHG_STORAGE_SKL_H
#define XCHG_STORAGE_SKL_H

#include <stddef.h>
#include <stdint.h>

#include "storage/sst.h"

typedef struct sklList sklList;

/* A list with an arena of arenaBytes (>= 64 KiB). NULL when memory cannot
 * be had. */
sklList *sklCreate(size_t arenaBytes);

/* Frees the list and its arena. No reader may be using it. NULL is a no-op. */
void sklFree(sklList *s);

/* Empties the list for reuse (keeps the arena). No reader may be using it. */
void sklReset(sklList *s);

/* Inserts or replaces key -> value (tomb: a tombstone, val ignored). Writer
 * thread only. Returns 0, or -1 when the arena has no room for it (nothing
 * changed: flush and retry on a fresh list). */
int sklPut(sklList *s, const void *key, size_t klen, const void *val, size_t vlen, int tomb);

/* SST_FOUND with *val / *vlen (pointing into the arena, valid while the
 * list is neither reset nor freed), SST_DELETED or SST_NOT_FOUND. Any thread. */
int sklGet(const sklList *s, const void *key, size_t klen, const void **val, size_t *vlen);

/* Distinct keys held, and arena bytes used (what flush-by-size measures). */
uint64_t sklCount(const sklList *s);
size_t sklBytes(const sklList *s);

/* An iterator over the list (a cursor; no allocation). */
typedef struct {
    const sklList *s;
    const void *node; /* next node to return, NULL at the end */
} sklIter;

/* Positions it before the first key >= key (klen 0: the first key). */
void sklIterSeek(sklIter *it, const sklList *s, const void *key, size_t klen);

/* Next entry into *e (pointers into the arena). Returns 1, or 0 at the end. */
int sklIterNext(sklIter *it, sstEntry *e);

#endif
