/* lsm.c -- the LSM tree: open, put/get, memtable switching, versions, background flush and
 * compaction.
 *
 * Threads: the writer thread (the one that opened the tree) puts into the
 * active memtable and switches memtables; the background thread writes the
 * immutable memtable out as a level-0 table and compacts. Only the
 * background thread changes the set of tables: it builds a new version,
 * writes the manifest, then swaps the version in under the mutex. Readers
 * take references to the memtables and the version under the mutex and
 * search without it. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "storage/lsm_int.h"
#include "storage/sst_int.h"

void lsmConfigDefaults(lsmConfig *c)
{
    memset(c, 0, sizeof *c);
    c->memtableBytes = 4u << 20;
    c->flushIntervalMs = 1000;
    c->l0Trigger = 4;
    c->l1Bytes = 16u << 20;
    c->levelMultiplier = 10;
    c->targetFileBytes = 4u << 20;
    sstOptionsDefaults(&c->sst);
}

static uint64_t nowNs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void oom(sstError *err, const char *where)
{
    sstErrorSet(err, SST_EIO, ENOMEM, where, UINT64_MAX, "out of memory");
}

/* ---- references (all under db->mu) ---------------------------------------------------- */

static void fileUnref(lsmFile *f)
{
    if (--f->refs > 0)
        return;
    char path[SST_PATH_MAX];
    snprintf(path, sizeof path, "%s", sstPath(f->t));
    sstClose(f->t);
    if (f->obsolete)
        unlink(path);
    free(f);
}

static void versionUnref(lsmVersion *v)
{
    if (!v || --v->refs > 0)
        return;
    for (int l = 0; l < LSM_LEVELS; l++) {
        for (uint32_t i = 0; i < v->n[l]; i++)
            fileUnref(v->f[l][i]);
        free(v->f[l]);
    }
    free(v);
}

static void memUnref(lsmDb *db, lsmMem *m)
{
    if (!m || --m->refs > 0)
        return;
    if (!db->spare) {
        sklReset(m->s);
        db->spare = m->s;
    } else
        sklFree(m->s);
    free(m);
}

/* A copy of v with fresh arrays, every file referenced once more. */
static lsmVersion *versionCopy(const lsmVersion *v)
{
    lsmVersion *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->refs = 1;
    for (int l = 0; l < LSM_LEVELS; l++) {
        if (!v || !v->n[l])
            continue;
        c->f[l] = malloc(v->n[l] * sizeof *c->f[l]);
        if (!c->f[l]) {
            versionUnref(c);
            return NULL;
        }
        for (uint32_t i = 0; i < v->n[l]; i++) {
            c->f[l][i] = v->f[l][i];
            c->f[l][i]->refs++;
        }
        c->n[l] = v->n[l];
    }
    return c;
}

static int versionAppend(lsmVersion *v, int level, lsmFile *f)
{
    lsmFile **a = realloc(v->f[level], (v->n[level] + 1) * sizeof *a);
    if (!a)
        return -1;
    v->f[level] = a;
    a[v->n[level]++] = f;
    return 0;
}

static int fileByKey(const void *a, const void *b)
{
    const lsmFile *x = *(lsmFile *const *)a, *y = *(lsmFile *const *)b;
    return sstKeyCmp(x->lo, x->loLen, y->lo, y->loLen);
}

static uint64_t levelBytes(const lsmVersion *v, int l)
{
    uint64_t b = 0;
    for (uint32_t i = 0; i < v->n[l]; i++)
        b += v->f[l][i]->bytes;
    return b;
}

/* ---- tables ------------------------------------------------------------------------ */

static lsmFile *fileOpen(const char *dir, uint64_t number, unsigned flags, sstError *err)
{
    char path[SST_PATH_MAX];
    lsmTablePath(path, sizeof path, dir, number);
    lsmFile *f = calloc(1, sizeof *f);
    if (!f) {
        oom(err, path);
        return NULL;
    }
    f->t = sstOpen(path, flags, err);
    if (!f->t) {
        free(f);
        return NULL;
    }
    sstInfo info;
    sstGetInfo(f->t, &info);
    f->refs = 1;
    f->number = number;
    f->bytes = info.fileBytes;
    f->lo = sstSmallest(f->t, &f->loLen);
    f->hi = sstLargest(f->t, &f->hiLen);
    return f;
}

/* Builds a version from the manifest. 1 ok, 0 no manifest, -1 error. */
static int loadVersion(lsmDb *db, unsigned flags, sstError *err)
{
    uint64_t *nums[LSM_LEVELS];
    uint32_t n[LSM_LEVELS];
    int rc = lsmManifestRead(db->dir, nums, n, &db->nextFile, err);
    if (rc <= 0)
        return rc;
    lsmVersion *v = versionCopy(NULL);
    if (!v)
        oom(err, db->dir);
    for (int l = 0; v && l < LSM_LEVELS; l++)
        for (uint32_t i = 0; v && i < n[l]; i++) {
            lsmFile *f = fileOpen(db->dir, nums[l][i], flags, err);
            if (!f || versionAppend(v, l, f) < 0) {
                if (f)
                    fileUnref(f);
                versionUnref(v);
                v = NULL;
            } else if (nums[l][i] >= db->nextFile)
                db->nextFile = nums[l][i] + 1;
        }
    for (int l = 0; l < LSM_LEVELS; l++)
        free(nums[l]);
    if (!v)
        return -1;
    db->cur = v;
    return 1;
}

/* Removes .tmp files and tables the current version does not list. */
static void removeStrays(lsmDb *db)
{
    DIR *d = opendir(db->dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name);
        char path[SST_PATH_MAX + 256];
        snprintf(path, sizeof path, "%s/%s", db->dir, de->d_name);
        if (len > 4 && strcmp(de->d_name + len - 4, ".tmp") == 0) {
            unlink(path);
            continue;
        }
        if (len != 14 || strcmp(de->d_name + 10, ".sst") != 0)
            continue;
        uint64_t num = strtoull(de->d_name, NULL, 10);
        int listed = 0;
        for (int l = 0; l < LSM_LEVELS && !listed; l++)
            for (uint32_t i = 0; i < db->cur->n[l] && !listed; i++)
                listed = db->cur->f[l][i]->number == num;
        if (!listed)
            unlink(path);
    }
    closedir(d);
}

static int hasTables(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    struct dirent *de;
    int found = 0;
    while (!found && (de = readdir(d))) {
        size_t len = strlen(de->d_name);
        found = len == 14 && strcmp(de->d_name + 10, ".sst") == 0;
    }
    closedir(d);
    return found;
}

/* ---- the background thread: flush ---------------------------------------------------- */

/* Writes the manifest of v, then makes it current; the tables in gone[]
 * (compaction inputs) become obsolete in the same step, so they are
 * unlinked once the last version or reader holding them lets go. */
static int installVersion(lsmDb *db, lsmVersion *v, lsmFile **const gone[2],
                          const uint32_t ngone[2], sstError *err)
{
    if (lsmManifestWrite(db->dir, v, db->nextFile, err) < 0)
        return -1;
    pthread_mutex_lock(&db->mu);
    for (int s = 0; gone && s < 2; s++)
        for (uint32_t i = 0; i < ngone[s]; i++)
            gone[s][i]->obsolete = 1;
    lsmVersion *old = db->cur;
    db->cur = v;
    db->st.manifestNumber++;
    versionUnref(old);
    pthread_mutex_unlock(&db->mu);
    return 0;
}

/* Opens the table just written and appends it to *out. */
static int addOutput(lsmDb *db, uint64_t number, lsmFile ***out, uint32_t *nout, uint64_t *bytes,
                     sstError *err)
{
    lsmFile *f = fileOpen(db->dir, number, SST_OPEN_RANDOM, err);
    lsmFile **a = f ? realloc(*out, (*nout + 1) * sizeof *a) : NULL;
    if (!a) {
        if (f) {
            oom(err, db->dir);
            pthread_mutex_lock(&db->mu);
            f->obsolete = 1;
            fileUnref(f);
            pthread_mutex_unlock(&db->mu);
        }
        return -1;
    }
    *out = a;
    a[(*nout)++] = f;
    *bytes += f->bytes;
    return 0;
}

/* Writes the entries of a merge into tables of at most target bytes (0: one
 * table), appended to *out. Tombstones dropped when dropTombs. */
static int writeTables(lsmDb *db, lsmMerge *m, uint64_t target, int dropTombs, lsmFile ***out,
                       uint32_t *nout, uint64_t *bytes, sstError *err)
{
    sstWriter *w = NULL;
    uint64_t number = 0;
    sstEntry e;
    int rc;
    *bytes = 0;
    while ((rc = lsmMergeNext(m, &e, err)) == 1) {
        if (e.tombstone && dropTombs)
            continue;
        if (!w) {
            char path[SST_PATH_MAX];
            number = db->nextFile++;
            lsmTablePath(path, sizeof path, db->dir, number);
            if (!(w = sstWriterOpen(path, &db->cfg.sst, err)))
                return -1;
        }
        rc = e.tombstone ? sstWriterDelete(w, e.key, e.klen, err)
                         : sstWriterAdd(w, e.key, e.klen, e.val, e.vlen, err);
        if (rc < 0)
            break;
        if (target && sstWriterBytes(w) >= target) {
            sstWriter *done = w;
            w = NULL;
            if (sstWriterFinish(done, NULL, err) < 0 ||
                addOutput(db, number, out, nout, bytes, err) < 0)
                return -1;
        }
    }
    if (rc < 0) {
        sstWriterAbort(w);
        return -1;
    }
    if (!w)
        return 0;
    if (sstWriterFinish(w, NULL, err) < 0)
        return -1;
    return addOutput(db, number, out, nout, bytes, err);
}

static int flushImm(lsmDb *db, sstError *err)
{
    lsmMem *imm = db->imm; /* stays referenced by db->imm until swapped out */
    lsmFile **out = NULL;
    uint32_t nout = 0;
    uint64_t bytes = 0;
    lsmMerge m = {0};
    int rc = lsmMergeAddMem(&m, imm->s);
    if (rc == 0)
        rc = lsmMergeSeek(&m, NULL, 0, err);
    if (rc == 0)
        rc = writeTables(db, &m, 0, 0, &out, &nout, &bytes, err);
    lsmMergeFree(&m);
    pthread_mutex_lock(&db->mu);
    lsmVersion *v = rc == 0 ? versionCopy(db->cur) : NULL;
    pthread_mutex_unlock(&db->mu);
    if (rc == 0 && !v) {
        oom(err, db->dir);
        rc = -1;
    }
    for (uint32_t i = 0; rc == 0 && i < nout; i++)
        if (versionAppend(v, 0, out[i]) == 0)
            out[i] = NULL;
        else
            rc = -1;
    if (rc == 0)
        rc = installVersion(db, v, NULL, NULL, err);
    pthread_mutex_lock(&db->mu);
    if (rc < 0 && v)
        versionUnref(v);
    for (uint32_t i = 0; i < nout; i++)
        if (out[i]) {
            out[i]->obsolete = 1;
            fileUnref(out[i]);
        }
    if (rc == 0) {
        db->imm = NULL;
        memUnref(db, imm);
        db->st.flushes++;
        db->st.bytesFlushed += bytes;
    }
    pthread_mutex_unlock(&db->mu);
    free(out);
    return rc;
}

/* ---- the background thread: compaction ------------------------------------------------ */

typedef struct {
    int level, out; /* inputs from level (and out), written to out */
    lsmFile **in[2];
    uint32_t nin[2];
    const uint8_t *lo, *hi;
    size_t loLen, hiLen;
} lsmCompaction;

static void widen(lsmCompaction *c, const lsmFile *f)
{
    if (!c->lo || sstKeyCmp(f->lo, f->loLen, c->lo, c->loLen) < 0) {
        c->lo = f->lo;
        c->loLen = f->loLen;
    }
    if (!c->hi || sstKeyCmp(f->hi, f->hiLen, c->hi, c->hiLen) > 0) {
        c->hi = f->hi;
        c->hiLen = f->hiLen;
    }
}

static int overlaps(const lsmFile *f, const lsmCompaction *c)
{
    return sstKeyCmp(f->hi, f->hiLen, c->lo, c->loLen) >= 0 &&
           sstKeyCmp(f->lo, f->loLen, c->hi, c->hiLen) <= 0;
}

/* The overlapping files of level l into c->in[1]. */
static int addOverlapping(const lsmVersion *v, int l, lsmCompaction *c)
{
    c->nin[1] = 0;
    c->in[1] = malloc((v->n[l] + 1) * sizeof *c->in[1]);
    if (!c->in[1])
        return -1;
    for (uint32_t i = 0; i < v->n[l]; i++)
        if (overlaps(v->f[l][i], c))
            c->in[1][c->nin[1]++] = v->f[l][i];
    for (uint32_t i = 0; i < c->nin[1]; i++)
        widen(c, c->in[1][i]);
    return 0;
}

/* Picks the next compaction. 1 with *c, 0 if nothing is due, -1 OOM. */
static int pickCompaction(lsmDb *db, lsmCompaction *c)
{
    const lsmVersion *v = db->cur;
    memset(c, 0, sizeof *c);
    if (db->compactAllReq) {
        int deepest = 1;
        for (int l = 1; l < LSM_LEVELS; l++)
            if (v->n[l])
                deepest = l;
        uint32_t total = 0;
        for (int l = 0; l < LSM_LEVELS; l++)
            total += v->n[l];
        c->level = 0;
        c->out = deepest;
        c->in[0] = malloc((total + 1) * sizeof *c->in[0]);
        if (!c->in[0])
            return -1;
        /* newest first: level 0 newest to oldest, then by level */
        for (uint32_t i = v->n[0]; i-- > 0;)
            c->in[0][c->nin[0]++] = v->f[0][i];
        for (int l = 1; l < LSM_LEVELS; l++)
            for (uint32_t i = 0; i < v->n[l]; i++)
                c->in[0][c->nin[0]++] = v->f[l][i];
        for (uint32_t i = 0; i < c->nin[0]; i++)
            widen(c, c->in[0][i]);
        return total ? 1 : 0;
    }
    if (v->n[0] >= db->cfg.l0Trigger) {
        c->level = 0;
        c->out = 1;
        c->in[0] = malloc(v->n[0] * sizeof *c->in[0]);
        if (!c->in[0])
            return -1;
        for (uint32_t i = v->n[0]; i-- > 0;)
            c->in[0][c->nin[0]++] = v->f[0][i];
        for (uint32_t i = 0; i < c->nin[0]; i++)
            widen(c, c->in[0][i]);
        return addOverlapping(v, 1, c) < 0 ? -1 : 1;
    }
    uint64_t limit = db->cfg.l1Bytes;
    for (int l = 1; l < LSM_LEVELS - 1; l++, limit *= db->cfg.levelMultiplier) {
        if (levelBytes(v, l) <= limit)
            continue;
        uint32_t pick = 0; /* first table after the last one compacted */
        if (db->compactPtr[l])
            while (pick < v->n[l] && sstKeyCmp(v->f[l][pick]->lo, v->f[l][pick]->loLen,
                                               db->compactPtr[l], db->compactPtrLen[l]) <= 0)
                pick++;
        if (pick == v->n[l])
            pick = 0;
        c->level = l;
        c->out = l + 1;
        c->in[0] = malloc(sizeof *c->in[0]);
        if (!c->in[0])
            return -1;
        c->in[0][c->nin[0]++] = v->f[l][pick];
        widen(c, v->f[l][pick]);
        uint8_t *p = realloc(db->compactPtr[l], v->f[l][pick]->hiLen);
        if (!p)
            return -1;
        memcpy(p, v->f[l][pick]->hi, v->f[l][pick]->hiLen);
        db->compactPtr[l] = p;
        db->compactPtrLen[l] = v->f[l][pick]->hiLen;
        return addOverlapping(v, l + 1, c) < 0 ? -1 : 1;
    }
    return 0;
}

static int isInput(const lsmCompaction *c, const lsmFile *f)
{
    for (int s = 0; s < 2; s++)
        for (uint32_t i = 0; i < c->nin[s]; i++)
            if (c->in[s][i] == f)
                return 1;
    return 0;
}

/* No table below the output level overlaps the compacted range: tombstones
 * have nothing left to shadow. */
static int bottommost(const lsmVersion *v, const lsmCompaction *c)
{
    for (int l = c->out + 1; l < LSM_LEVELS; l++)
        for (uint32_t i = 0; i < v->n[l]; i++)
            if (overlaps(v->f[l][i], c))
                return 0;
    return 1;
}

static int runCompaction(lsmDb *db, lsmCompaction *c, sstError *err)
{
    lsmMerge m = {0};
    int rc = 0;
    /* level 0 inputs (and a full compaction's) are separate sources, newest
     * first; a deeper level's inputs are one sorted run each */
    if (c->level == 0)
        for (uint32_t i = 0; rc == 0 && i < c->nin[0]; i++)
            rc = lsmMergeAddFiles(&m, &c->in[0][i], 1);
    else
        rc = lsmMergeAddFiles(&m, c->in[0], c->nin[0]);
    if (rc == 0)
        rc = lsmMergeAddFiles(&m, c->in[1], c->nin[1]);
    if (rc == 0)
        rc = lsmMergeSeek(&m, NULL, 0, err);
    lsmFile **out = NULL;
    uint32_t nout = 0;
    uint64_t bytes = 0;
    if (rc == 0)
        rc = writeTables(db, &m, db->cfg.targetFileBytes, bottommost(db->cur, c), &out, &nout,
                         &bytes, err);
    lsmMergeFree(&m);
    /* the new version: every table but the inputs (referenced once more,
     * under the mutex since readers drop references), plus the outputs */
    pthread_mutex_lock(&db->mu);
    lsmVersion *v = rc == 0 ? versionCopy(NULL) : NULL;
    if (rc == 0 && !v)
        rc = -1;
    for (int l = 0; rc == 0 && l < LSM_LEVELS; l++) {
        for (uint32_t i = 0; rc == 0 && i < db->cur->n[l]; i++) {
            lsmFile *f = db->cur->f[l][i];
            if (!isInput(c, f) && (rc = versionAppend(v, l, f)) == 0)
                f->refs++;
        }
        if (rc == 0 && l == c->out) {
            for (uint32_t i = 0; rc == 0 && i < nout; i++)
                if ((rc = versionAppend(v, l, out[i])) == 0)
                    out[i] = NULL;
            if (rc == 0 && v->n[l] > 1)
                qsort(v->f[l], v->n[l], sizeof *v->f[l], fileByKey);
        }
    }
    pthread_mutex_unlock(&db->mu);
    if (rc == 0)
        rc = installVersion(db, v, c->in, c->nin, err);
    pthread_mutex_lock(&db->mu);
    if (rc < 0 && v)
        versionUnref(v);
    for (uint32_t i = 0; i < nout; i++)
        if (out[i]) {
            out[i]->obsolete = 1;
            fileUnref(out[i]);
        }
    if (rc == 0) {
        db->st.compactions++;
        db->st.bytesCompacted += bytes;
    }
    pthread_mutex_unlock(&db->mu);
    free(out);
    return rc;
}

/* One job: the pending flush (haveImm, seen under the mutex; only this
 * thread clears db->imm) or a compaction. 1 if it did one, 0 if none was
 * due, -1 on failure. */
static int backgroundStep(lsmDb *db, int haveImm, sstError *err)
{
    if (haveImm)
        return flushImm(db, err) < 0 ? -1 : 1;
    lsmCompaction c;
    pthread_mutex_lock(&db->mu); /* pick reads db->cur; only this thread changes it */
    int rc = pickCompaction(db, &c);
    pthread_mutex_unlock(&db->mu);
    if (rc > 0)
        rc = runCompaction(db, &c, err) < 0 ? -1 : 1;
    else if (rc < 0)
        oom(err, db->dir);
    if (rc >= 0 && db->compactAllReq) {
        pthread_mutex_lock(&db->mu);
        db->compactAllReq = 0;
        pthread_mutex_unlock(&db->mu);
        rc = 1;
    }
    free(c.in[0]);
    free(c.in[1]);
    return rc;
}

static void *backgroundMain(void *arg)
{
    lsmDb *db = arg;
    pthread_mutex_lock(&db->mu);
    for (;;) {
        while (!db->stop && !db->imm && !db->wake && !db->compactAllReq)
            pthread_cond_wait(&db->workCv, &db->mu);
        if (db->st.failed) { /* stopped: answer waiters, wait for lsmClose */
            db->wake = 0;
            db->compactAllReq = 0;
            pthread_cond_broadcast(&db->doneCv);
            if (db->stop)
                break;
            pthread_cond_wait(&db->workCv, &db->mu);
            continue;
        }
        if (db->stop && !db->imm)
            break;
        db->wake = 0;
        db->idle = 0;
        int haveImm = db->imm != NULL;
        pthread_mutex_unlock(&db->mu);
        sstError err;
        int rc = backgroundStep(db, haveImm, &err);
        pthread_mutex_lock(&db->mu);
        if (rc < 0) {
            db->st.failed = 1;
            db->st.error = err;
        }
        if (rc > 0) {
            db->wake = 1; /* look again: one job may make the next one due */
            pthread_cond_broadcast(&db->doneCv);
            continue;
        }
        db->idle = 1;
        pthread_cond_broadcast(&db->doneCv);
    }
    db->idle = 1;
    pthread_cond_broadcast(&db->doneCv);
    pthread_mutex_unlock(&db->mu);
    return NULL;
}

/* ---- open and close ------------------------------------------------------------------ */

static lsmDb *dbNew(const char *dir, sstError *err)
{
    if (!dir || !*dir || strlen(dir) >= sizeof(((lsmDb *)0)->dir)) {
        sstErrorSet(err, SST_EARG, 0, NULL, UINT64_MAX, "lsm: directory missing or too long");
        return NULL;
    }
    lsmDb *db = calloc(1, sizeof *db);
    if (!db) {
        oom(err, dir);
        return NULL;
    }
    snprintf(db->dir, sizeof db->dir, "%s", dir);
    db->lockFd = -1;
    pthread_mutex_init(&db->mu, NULL);
    pthread_cond_init(&db->workCv, NULL);
    pthread_cond_init(&db->doneCv, NULL);
    return db;
}

static void dbFree(lsmDb *db)
{
    versionUnref(db->cur);
    if (db->mem)
        memUnref(db, db->mem);
    if (db->imm)
        memUnref(db, db->imm);
    sklFree(db->spare);
    for (int l = 0; l < LSM_LEVELS; l++)
        free(db->compactPtr[l]);
    if (db->lockFd >= 0)
        close(db->lockFd);
    pthread_mutex_destroy(&db->mu);
    pthread_cond_destroy(&db->workCv);
    pthread_cond_destroy(&db->doneCv);
    free(db);
}

lsmDb *lsmOpenReadOnly(const char *dir, sstError *err)
{
    lsmDb *db = dbNew(dir, err);
    if (!db)
        return NULL;
    db->readOnly = 1;
    for (int attempt = 0;; attempt++) {
        int rc = loadVersion(db, SST_OPEN_RANDOM, err);
        if (rc > 0)
            return db;
        if (rc == 0)
            sstErrorSet(err, SST_EIO, ENOENT, dir, UINT64_MAX, "no MANIFEST: not an LSM tree");
        /* a table vanished: the writer replaced the manifest meanwhile */
        if (rc == 0 || err->sysErrno != ENOENT || attempt >= 20)
            break;
        usleep(1000);
    }
    dbFree(db);
    return NULL;
}

static lsmMem *memNew(lsmDb *db)
{
    lsmMem *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->refs = 1;
    if (db->spare) {
        m->s = db->spare;
        db->spare = NULL;
    } else if (!(m->s = sklCreate(db->cfg.memtableBytes))) {
        free(m);
        return NULL;
    }
    return m;
}

static int mkdirs(const char *dir)
{
    char p[SST_PATH_MAX];
    snprintf(p, sizeof p, "%s", dir);
    for (char *s = p + 1; *s; s++)
        if (*s == '/') {
            *s = 0;
            if (mkdir(p, 0755) < 0 && errno != EEXIST)
                return -1;
            *s = '/';
        }
    return mkdir(p, 0755) < 0 && errno != EEXIST ? -1 : 0;
}

lsmDb *lsmOpen(const lsmConfig *cfg, sstError *err)
{
    if (cfg->memtableBytes < (64u << 10) || cfg->l0Trigger < 1 || cfg->levelMultiplier < 2 ||
        cfg->l1Bytes == 0) {
        sstErrorSet(err, SST_EARG, 0, cfg->dir, UINT64_MAX,
                    "lsm: bad config (memtable >= 64 KiB, l0Trigger >= 1, multiplier >= 2)");
        return NULL;
    }
    lsmDb *db = dbNew(cfg->dir, err);
    if (!db)
        return NULL;
    db->cfg = *cfg;
    db->cfg.dir = NULL;
    char lock[SST_PATH_MAX];
    snprintf(lock, sizeof lock, "%s/LOCK", db->dir);
    if (mkdirs(db->dir) < 0 || access(db->dir, W_OK) < 0 ||
        (db->lockFd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) < 0) {
        sstErrorSet(err, SST_EIO, errno, db->dir, UINT64_MAX, "directory not writable: %s",
                    strerror(errno));
        goto fail;
    }
    if (flock(db->lockFd, LOCK_EX | LOCK_NB) < 0) {
        sstErrorSet(err, SST_EIO, errno, db->dir, UINT64_MAX,
                    "locked by another process (LOCK): %s", strerror(errno));
        goto fail;
    }
    int rc = loadVersion(db, cfg->verifyOnOpen ? SST_OPEN_VERIFY : SST_OPEN_RANDOM, err);
    if (rc < 0)
        goto fail;
    if (rc == 0) {
        if (hasTables(db->dir)) {
            sstErrorSet(err, SST_ECORRUPT, 0, db->dir, UINT64_MAX,
                        "tables present but MANIFEST missing: refusing to guess the tree");
            goto fail;
        }
        db->nextFile = 1;
        if (!(db->cur = versionCopy(NULL)) || lsmManifestWrite(db->dir, db->cur, 1, err) < 0)
            goto fail;
    }
    removeStrays(db);
    if (!(db->mem = memNew(db))) {
        oom(err, db->dir);
        goto fail;
    }
    if (pthread_create(&db->bg, NULL, backgroundMain, db) != 0) {
        sstErrorSet(err, SST_EIO, errno, db->dir, UINT64_MAX, "cannot start the thread");
        goto fail;
    }
    db->bgStarted = 1;
    return db;
fail:
    dbFree(db);
    return NULL;
}

void lsmClose(lsmDb *db)
{
    if (!db)
        return;
    if (!db->readOnly) {
        sstError err;
        lsmFlush(db, &err);
        pthread_mutex_lock(&db->mu);
        db->stop = 1;
        pthread_cond_broadcast(&db->workCv);
        pthread_mutex_unlock(&db->mu);
        if (db->bgStarted)
            pthread_join(db->bg, NULL);
    }
    dbFree(db);
}

/* ---- writes ------------------------------------------------------------------------- */

/* Makes the active memtable immutable and starts a fresh one. With wait,
 * waits for a previous immutable one to be flushed first (a stall);
 * without, gives up (returns 0) if one is pending. Returns 1 if switched,
 * -1 on failure. Writer thread, db->mu held. */
static int switchMem(lsmDb *db, int wait, sstError *err)
{
    if (db->imm && wait)
        db->st.stalls++;
    while (db->imm && wait && !db->st.failed)
        pthread_cond_wait(&db->doneCv, &db->mu);
    if (db->st.failed) {
        *err = db->st.error;
        return -1;
    }
    if (db->imm)
        return 0;
    lsmMem *m = memNew(db);
    if (!m) {
        oom(err, db->dir);
        return -1;
    }
    db->imm = db->mem;
    db->mem = m;
    pthread_cond_broadcast(&db->workCv);
    return 1;
}

static int put(lsmDb *db, const void *key, size_t klen, const void *val, size_t vlen, int tomb,
               sstError *err)
{
    if (db->readOnly || klen == 0 || klen > SST_KEY_MAX || vlen > db->cfg.memtableBytes / 4) {
        sstErrorSet(err, SST_EARG, 0, db->dir, UINT64_MAX,
                    db->readOnly ? "lsm: read-only" : "lsm: key or value size out of range");
        return -1;
    }
    if (__atomic_load_n(&db->st.failed, __ATOMIC_RELAXED)) {
        pthread_mutex_lock(&db->mu);
        *err = db->st.error;
        pthread_mutex_unlock(&db->mu);
        return -1;
    }
    lsmMem *m = db->mem;
    if (sklPut(m->s, key, klen, val, vlen, tomb) < 0) {
        pthread_mutex_lock(&db->mu);
        int rc = switchMem(db, 1, err);
        pthread_mutex_unlock(&db->mu);
        if (rc < 0)
            return -1;
        m = db->mem;
        if (sklPut(m->s, key, klen, val, vlen, tomb) < 0) {
            sstErrorSet(err, SST_EARG, 0, db->dir, UINT64_MAX, "lsm: entry larger than a memtable");
            return -1;
        }
    }
    if (!m->firstNs)
        m->firstNs = nowNs();
    return 0;
}

int lsmPut(lsmDb *db, const void *key, size_t klen, const void *val, size_t vlen, sstError *err)
{
    return put(db, key, klen, val, vlen, 0, err);
}

int lsmDelete(lsmDb *db, const void *key, size_t klen, sstError *err)
{
    return put(db, key, klen, NULL, 0, 1, err);
}

int lsmTick(lsmDb *db, uint64_t now)
{
    if (db->readOnly || !db->cfg.flushIntervalMs || !db->mem->firstNs ||
        now - db->mem->firstNs < (uint64_t)db->cfg.flushIntervalMs * 1000000u)
        return 0;
    sstError err;
    pthread_mutex_lock(&db->mu);
    int rc = switchMem(db, 0, &err);
    pthread_mutex_unlock(&db->mu);
    return rc > 0;
}

static int waitIdle(lsmDb *db, sstError *err)
{
    db->wake = 1;
    pthread_cond_broadcast(&db->workCv);
    while (!db->st.failed && (db->imm || db->wake || !db->idle || db->compactAllReq))
        pthread_cond_wait(&db->doneCv, &db->mu);
    if (db->st.failed) {
        *err = db->st.error;
        return -1;
    }
    return 0;
}

int lsmFlush(lsmDb *db, sstError *err)
{
    if (db->readOnly)
        return 0;
    pthread_mutex_lock(&db->mu);
    int rc = 0;
    if (db->mem->firstNs)
        rc = switchMem(db, 1, err) < 0 ? -1 : 0;
    while (rc == 0 && db->imm && !db->st.failed)
        pthread_cond_wait(&db->doneCv, &db->mu);
    if (rc == 0 && db->st.failed) {
        *err = db->st.error;
        rc = -1;
    }
    pthread_mutex_unlock(&db->mu);
    return rc;
}

int lsmWaitIdle(lsmDb *db, sstError *err)
{
    if (db->readOnly)
        return 0;
    pthread_mutex_lock(&db->mu);
    int rc = waitIdle(db, err);
    pthread_mutex_unlock(&db->mu);
    return rc;
}

int lsmCompactAll(lsmDb *db, sstError *err)
{
    if (db->readOnly || lsmFlush(db, err) < 0)
        return db->readOnly ? 0 : -1;
    pthread_mutex_lock(&db->mu);
    db->compactAllReq = 1;
    pthread_cond_broadcast(&db->workCv);
    int rc = waitIdle(db, err);
    pthread_mutex_unlock(&db->mu);
    return rc;
}

/* ---- reads ------------------------------------------------------------------------- */

typedef struct {
    lsmMem *mem, *imm;
    lsmVersion *v;
} lsmSnap;

static void snapTake(lsmDb *db, lsmSnap *s)
{
    pthread_mutex_lock(&db->mu);
    s->mem = db->mem;
    s->imm = db->imm;
    s->v = db->cur;
    if (s->mem)
        s->mem->refs++;
    if (s->imm)
        s->imm->refs++;
    s->v->refs++;
    pthread_mutex_unlock(&db->mu);
}

static void snapDrop(lsmDb *db, lsmSnap *s)
{
    pthread_mutex_lock(&db->mu);
    if (s->mem)
        memUnref(db, s->mem);
    if (s->imm)
        memUnref(db, s->imm);
    versionUnref(s->v);
    pthread_mutex_unlock(&db->mu);
}

static int copyOut(const void *v, size_t vl, void *buf, size_t cap, size_t *vlen)
{
    if (buf && cap)
        memcpy(buf, v, vl < cap ? vl : cap);
    *vlen = vl;
    return 1;
}

/* Level >= 1: the one table whose range holds key. */
static lsmFile *levelFind(const lsmVersion *v, int l, const void *key, size_t klen)
{
    uint32_t lo = 0, hi = v->n[l];
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (sstKeyCmp(v->f[l][mid]->hi, v->f[l][mid]->hiLen, key, klen) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == v->n[l] || sstKeyCmp(v->f[l][lo]->lo, v->f[l][lo]->loLen, key, klen) > 0)
        return NULL;
    return v->f[l][lo];
}

static int getIn(const lsmSnap *s, const void *key, size_t klen, void *buf, size_t cap,
                 size_t *vlen, sstError *err)
{
    const void *val;
    size_t vl;
    const lsmMem *mems[2] = {s->mem, s->imm};
    for (int i = 0; i < 2; i++) {
        if (!mems[i])
            continue;
        int rc = sklGet(mems[i]->s, key, klen, &val, &vl);
        if (rc == SST_FOUND)
            return copyOut(val, vl, buf, cap, vlen);
        if (rc == SST_DELETED)
            return 0;
    }
    const lsmVersion *v = s->v;
    for (uint32_t i = v->n[0]; i-- > 0;) {
        const lsmFile *f = v->f[0][i];
        if (sstKeyCmp(key, klen, f->lo, f->loLen) < 0 || sstKeyCmp(key, klen, f->hi, f->hiLen) > 0)
            continue;
        int rc = sstGet(f->t, key, klen, &val, &vl, err);
        if (rc < 0)
            return -1;
        if (rc == SST_FOUND)
            return copyOut(val, vl, buf, cap, vlen);
        if (rc == SST_DELETED)
            return 0;
    }
    for (int l = 1; l < LSM_LEVELS; l++) {
        const lsmFile *f = levelFind(v, l, key, klen);
        if (!f)
            continue;
        int rc = sstGet(f->t, key, klen, &val, &vl, err);
        if (rc < 0)
            return -1;
        if (rc == SST_FOUND)
            return copyOut(val, vl, buf, cap, vlen);
        if (rc == SST_DELETED)
            return 0;
    }
    return 0;
}

int lsmGet(lsmDb *db, const void *key, size_t klen, void *buf, size_t cap, size_t *vlen,
           sstError *err)
{
    lsmSnap s;
    snapTake(db, &s);
    int rc = getIn(&s, key, klen, buf, cap, vlen, err);
    snapDrop(db, &s);
    return rc;
}

struct lsmIter {
    lsmDb *db;
    lsmSnap snap;
    lsmMerge m;
};

lsmIter *lsmIterOpen(lsmDb *db, sstError *err)
{
    lsmIter *it = calloc(1, sizeof *it);
    if (!it) {
        oom(err, db->dir);
        return NULL;
    }
    it->db = db;
    snapTake(db, &it->snap);
    int rc = 0;
    if (it->snap.mem)
        rc |= lsmMergeAddMem(&it->m, it->snap.mem->s);
    if (it->snap.imm)
        rc |= lsmMergeAddMem(&it->m, it->snap.imm->s);
    lsmVersion *v = it->snap.v;
    for (uint32_t i = v->n[0]; i-- > 0;)
        rc |= lsmMergeAddFiles(&it->m, &v->f[0][i], 1);
    for (int l = 1; l < LSM_LEVELS; l++)
        rc |= lsmMergeAddFiles(&it->m, v->f[l], v->n[l]);
    if (rc || lsmMergeSeek(&it->m, NULL, 0, err) < 0) {
        if (rc)
            oom(err, db->dir);
        lsmIterClose(it);
        return NULL;
    }
    return it;
}

int lsmIterSeek(lsmIter *it, const void *key, size_t klen, sstError *err)
{
    return lsmMergeSeek(&it->m, key, klen, err);
}

int lsmIterNext(lsmIter *it, sstEntry *e, sstError *err)
{
    int rc;
    while ((rc = lsmMergeNext(&it->m, e, err)) == 1 && e->tombstone)
        ;
    return rc;
}

void lsmIterClose(lsmIter *it)
{
    if (!it)
        return;
    lsmMergeFree(&it->m);
    snapDrop(it->db, &it->snap);
    free(it);
}

void lsmGetStats(lsmDb *db, lsmStats *st)
{
    pthread_mutex_lock(&db->mu);
    *st = db->st;
    for (int l = 0; l < LSM_LEVELS; l++) {
        st->files[l] = db->cur->n[l];
        st->bytes[l] = levelBytes(db->cur, l);
    }
    st->memtableBytes = db->mem ? sklBytes(db->mem->s) : 0;
    pthread_mutex_unlock(&db->mu);
}
