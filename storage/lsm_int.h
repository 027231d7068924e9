/* lsm_int.h -- internals shared by the LSM tree's files: versions, merge iterator, manifest. */
#ifndef XCHG_STORAGE_LSM_INT_H
#define XCHG_STORAGE_LSM_INT_H

#include <pthread.h>

#include "storage/lsm.h"
#include "storage/skl.h"
#include "storage/sst.h"

/* A table of the tree. Reference-counted under lsmDb.mu; the last release of
 * an obsolete file closes and unlinks it. */
typedef struct {
    int refs;
    int obsolete;
    uint64_t number;
    uint64_t bytes;
    sstTable *t;
    const uint8_t *lo, *hi; /* smallest and largest key, in the mapping */
    size_t loLen, hiLen;
} lsmFile;

/* An immutable set of tables: level 0 by number (oldest first), deeper
 * levels by key, not overlapping. */
typedef struct {
    int refs;
    uint32_t n[LSM_LEVELS];
    lsmFile **f[LSM_LEVELS];
} lsmVersion;

typedef struct {
    int refs;
    sklList *s;
    uint64_t firstNs; /* CLOCK_MONOTONIC of the first put, 0 while empty */
} lsmMem;

struct lsmDb {
    char dir[SST_PATH_MAX - 32];
    lsmConfig cfg;
    int readOnly;
    int lockFd;
    pthread_mutex_t mu;
    pthread_cond_t workCv, doneCv;
    pthread_t bg;
    int bgStarted;
    int stop, wake, idle, compactAllReq;
    lsmMem *mem, *imm;
    sklList *spare;
    lsmVersion *cur;
    uint64_t nextFile;
    uint8_t *compactPtr[LSM_LEVELS]; /* round robin: last key compacted per level */
    size_t compactPtrLen[LSM_LEVELS];
    lsmStats st;
};

/* ---- merge iterator (lsm_merge.c) ---- */

typedef struct {
    int kind; /* LSM_SRC_* */
    sklIter skl;
    lsmFile **files; /* level: its files; single table: one */
    uint32_t nfiles, fi;
    sstIter *it;
    sstEntry e;
    int valid;
} lsmSrc;

enum { LSM_SRC_MEM = 1, LSM_SRC_LEVEL = 2 };

typedef struct {
    lsmSrc *src;
    uint32_t n, cap;
    int32_t *advance; /* sources to move on at the next call */
    uint32_t nadvance;
} lsmMerge;

int lsmMergeAddMem(lsmMerge *m, const sklList *s);
/* Files sorted by key and not overlapping, or one file. */
int lsmMergeAddFiles(lsmMerge *m, lsmFile **files, uint32_t n);
int lsmMergeSeek(lsmMerge *m, const void *key, size_t klen, sstError *err);
/* Next entry by key, the first source holding it winning (sources are added
 * newest first). Valid until the next call. 1, 0 at the end, -1. */
int lsmMergeNext(lsmMerge *m, sstEntry *e, sstError *err);
void lsmMergeFree(lsmMerge *m);

/* ---- manifest (lsm_manifest.c) ---- */

/* Writes dir/MANIFEST atomically listing v and nextFile. */
int lsmManifestWrite(const char *dir, const lsmVersion *v, uint64_t nextFile, sstError *err);

/* Reads dir/MANIFEST: per level the file numbers (and byte sizes), and
 * nextFile. Returns 1, 0 if there is no MANIFEST, -1 on damage (*err with
 * the file and the offset of the bad line). *nums / *sizes malloc'd per
 * level (caller frees). */
int lsmManifestRead(const char *dir, uint64_t *nums[LSM_LEVELS], uint32_t n[LSM_LEVELS],
                    uint64_t *nextFile, sstError *err);

/* dir/NNNNNNNNNN.sst */
void lsmTablePath(char *out, size_t cap, const char *dir, uint64_t number);

#endif
