/* journal.c -- journal producer ring and io_uring group-commit writer.
 *
 * The producer writes records, already in their on-disk layout, into a byte
 * ring (power-of-two size, head and tail as byte counts since open) and
 * publishes its head with a release store. The writer copies what is
 * published into one of two block-aligned staging buffers, stamping each
 * record with its commit number and CRC, and frees the ring space at once.
 * One commit is in flight at a time: while it is, the other buffer fills;
 * when it completes the durable sequence is published and the filled
 * buffer goes out. A commit writes whole 4 KiB blocks, so the partial block
 * at its end is written again, completed, by the next commit.
 *
 * Segments are created ahead: jnOpen prepares cfg.readySegments of them, and
 * after every rotation the writer creates the next spare (open, fallocate,
 * then fdatasync + directory fsync through the ring) and, when it has nothing
 * else to do, zero-fills it so commits into it need no metadata update. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dataplane/histogram.h" /* the commit latency histogram (header only) */
#include "matcher/matcher.h"     /* mtDefaultAllocator: hugepage-backed regions */
#include "storage/journal_int.h"

#define JN_QD         16           /* io_uring entries */
#define JN_FILL_CHUNK (256u << 10) /* zeros per background prefill write */
#define JN_ZERO_BYTES (1u << 20)   /* zero buffer: prefill source */
#define JN_SPIN_IDLE  4096         /* empty polls before jnWriterMain backs off */
#define JN_MAX_READY  64           /* cfg.readySegments ceiling */

enum { OP_COMMIT = 1, OP_SYNC = 2, OP_SEGSYNC = 3, OP_FILL = 4, OP_FILLSYNC = 5 };
#define OP_MASK 7u

/* A segment file the writer holds open. */
typedef struct {
    int fd;     /* data writes (O_DIRECT|O_DSYNC in JN_SYNC_DIRECT); -1: slot free */
    int fillFd; /* O_DIRECT fd for zero-filling ahead; -1 when not needed */
    uint32_t index;
    uint64_t fillOff; /* zeros written up to here */
    int busy;         /* sync or fill operations in flight */
    int synced;       /* size and directory entry are durable */
    int ready;        /* zero-filled (or prefill is off) */
    int written;      /* a commit has written (or is writing) its header */
    int failed;       /* an async preparation step failed */
} jnSeg;

/* A commit: records staged in mem, written to [fileOff, fileOff + ioLen). */
typedef struct {
    unsigned char *mem; /* JN_BLOCK aligned */
    jnSeg *seg;
    uint64_t fileOff;
    uint32_t len;      /* bytes staged, from fileOff */
    uint32_t recBytes; /* of them, records of this commit */
    uint32_t records;
    uint32_t lastRec; /* offset in mem of the last record */
    uint32_t id;      /* commit number */
    int full;         /* the next record does not fit: submit before more */
    uint64_t lastSeq;
    uint32_t ioLen, ioDone;
    int pending;           /* operations in flight */
    int writeRes, syncRes; /* their results */
    unsigned bufIndex;     /* registered buffer */
    uint64_t submitNs;
} jnBatch;

struct jnJournal {
    /* producer only */
    _Alignas(64) struct {
        uint64_t head;      /* reserved up to here (bytes since open) */
        uint64_t tailCache; /* writer's tail as last seen */
        uint64_t nextSeq;
        unsigned char *ring;
        uint64_t mask;
        uint32_t ringBytes, maxPayload;
    } p;
    _Alignas(64) _Atomic uint64_t pubHead; /* producer -> writer */
    _Atomic uint64_t pubSeq;               /* producer -> metrics: last sequence published */
    _Alignas(64) _Atomic uint64_t tail;    /* writer -> producer */
    _Alignas(64) _Atomic uint64_t durable; /* writer -> everyone */
    _Alignas(64) _Atomic int status;       /* writer -> everyone, rarely written */
    _Atomic int stop;
    _Atomic int spareErrPub; /* writer -> everyone: the next segment cannot be made */
    char statusMsg[JN_PATH_MAX + 256];

    /* writer only */
    _Alignas(64) jnConfig cfg;
    char dir[JN_PATH_MAX];
    int dirFd;
    jnSyncMode sync; /* in effect */
    struct io_uring uring;
    int uringOk, fixedBufs;
    int createdAny; /* a segment was created: the sync mode is settled */
    unsigned inflightOps;
    uint64_t lastSubmitNs; /* CLOCK_MONOTONIC start of the last commit */
    int flushing;          /* jnFlush: commit without waiting for the gap */
    jnBatch b[2];
    int fill;     /* b[fill] is filling */
    int inflight; /* b[fill ^ 1] is being written */
    jnSeg seg[JN_MAX_READY + 2];
    jnSeg *cur;
    jnSeg *spare[JN_MAX_READY + 2];
    unsigned nSpare;
    int spareErr; /* errno of the last failed spare creation */
    uint32_t nextIndex;
    uint64_t wpos; /* next record's offset in cur; 0: header not staged */
    unsigned char tailBlock[JN_BLOCK];
    uint32_t tailLen;
    uint32_t nextBatch;
    uint64_t tailLocal;
    const unsigned char *wRing; /* the writer's copy of the ring geometry: */
    uint64_t wMask;             /* no reads of the producer's line */
    uint32_t wRingBytes;
    unsigned char *zero;
    void *region, *ringRegion;
    size_t regionBytes;

    _Atomic uint64_t stCommits, stRecords, stRecordBytes, stIoBytes, stRotations;
    _Atomic uint64_t stPrefill, stMaxBatch, stLastCommitNs, stSegment;
    _Atomic uint64_t stErrors, stInflightNs; /* failures; submit time of the commit in flight */
    _Atomic uint64_t stHist[HIST_BUCKETS];   /* submit-to-durable ns of every commit */
    _Atomic uint64_t stHistMax;
};

/* ---- small helpers -------------------------------------------------------- */

static uint64_t alignUp(uint64_t v, uint64_t a)
{
    return (v + a - 1) & ~(a - 1);
}

static void statAdd(_Atomic uint64_t *c, uint64_t v)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + v,
                          memory_order_relaxed);
}

/* Stops the writer for good with errno e; the first failure wins. */
static void jnFail(jnJournal *j, int e, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void jnFail(jnJournal *j, int e, const char *fmt, ...)
{
    statAdd(&j->stErrors, 1);
    if (atomic_load_explicit(&j->status, memory_order_relaxed))
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(j->statusMsg, sizeof j->statusMsg, fmt, ap);
    va_end(ap);
    atomic_store_explicit(&j->status, e ? e : EIO, memory_order_release);
}

static int failed(const jnJournal *j)
{
    return atomic_load_explicit(&j->status, memory_order_relaxed) != 0;
}

void jnConfigDefaults(jnConfig *c)
{
    memset(c, 0, sizeof *c);
    c->segmentBytes = 64ull << 20;
    c->ringBytes = 8u << 20;
    c->maxBatchBytes = 1u << 20;
    c->maxPayload = 65536;
    c->sync = JN_SYNC_DIRECT;
    c->prefill = 1;
    c->readySegments = 2;
    c->idleSleepUs = 50;
}

static int checkConfig(const jnConfig *c, jnError *err)
{
    const char *why = NULL;
    uint64_t rec = jnRecSize(c->maxPayload);
    if (!c->dir || !c->dir[0] || strlen(c->dir) + JN_SEG_NAME_LEN + 2 > JN_PATH_MAX)
        why = "dir missing or too long";
    else if (c->maxPayload > JN_PAYLOAD_LIMIT)
        why = "maxPayload above 16 MiB";
    else if (c->segmentBytes % JN_BLOCK || c->segmentBytes < JN_DATA_OFF + alignUp(rec, JN_BLOCK))
        why = "segmentBytes not a multiple of 4096 or too small for maxPayload";
    else if (c->ringBytes < JN_BLOCK || (c->ringBytes & (c->ringBytes - 1)) ||
             rec > c->ringBytes / 2)
        why = "ringBytes not a power of two >= 4096 and >= 2 records of maxPayload";
    else if (c->maxBatchBytes < rec || c->maxBatchBytes > (64u << 20))
        why = "maxBatchBytes below one record of maxPayload or above 64 MiB";
    else if (c->sync != JN_SYNC_DIRECT && c->sync != JN_SYNC_DSYNC && c->sync != JN_SYNC_FDATASYNC)
        why = "unknown sync mode";
    else if (c->readySegments < 1 || c->readySegments > JN_MAX_READY)
        why = "readySegments outside 1..64";
    if (why)
        jnErrSet(err, JN_ECONFIG, 0, NULL, UINT64_MAX, "bad configuration: %s", why);
    return why ? -1 : 0;
}

/* mkdir -p dir, then insist on write access. */
static int prepareDir(const char *dir, jnError *err)
{
    char path[JN_PATH_MAX];
    snprintf(path, sizeof path, "%s", dir);
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p)
            continue;
        char c = *p;
        *p = 0;
        if (mkdir(path, 0755) && errno != EEXIST) {
            jnErrSet(err, JN_EIO, errno, dir, UINT64_MAX, "cannot create directory %s: %s", path,
                     strerror(errno));
            return -1;
        }
        *p = c;
        if (!c)
            break;
    }
    struct stat st;
    if (stat(dir, &st) || !S_ISDIR(st.st_mode) || access(dir, W_OK | X_OK)) {
        int e = errno ? errno : ENOTDIR;
        if (!stat(dir, &st) && !S_ISDIR(st.st_mode))
            e = ENOTDIR;
        jnErrSet(err, JN_EIO, e, dir, UINT64_MAX, "directory not writable: %s", strerror(e));
        return -1;
    }
    return 0;
}

/* ---- segment files ---------------------------------------------------------- */

static jnSeg *segSlot(jnJournal *j)
{
    for (unsigned i = 0; i < sizeof j->seg / sizeof j->seg[0]; i++) {
        if (j->seg[i].fd < 0) {
            memset(&j->seg[i], 0, sizeof j->seg[i]);
            j->seg[i].fd = j->seg[i].fillFd = -1;
            return &j->seg[i];
        }
    }
    return NULL; /* cannot happen: at most readySegments + 2 are open */
}

static void segClose(jnJournal *j, jnSeg *s, int unlinkIt)
{
    if (s->fd < 0)
        return;
    if (unlinkIt) {
        char path[JN_PATH_MAX];
        if (!jnSegPath(path, sizeof path, j->dir, s->index))
            unlink(path);
    }
    if (!unlinkIt && j->sync == JN_SYNC_FDATASYNC)
        posix_fadvise(s->fd, 0, 0, POSIX_FADV_DONTNEED); /* written: drop it from the cache */
    if (s->fillFd >= 0)
        close(s->fillFd);
    close(s->fd);
    s->fd = s->fillFd = -1;
}

/* Opens the data fd of path: O_DIRECT, plus O_DSYNC in DSYNC mode. The
 * first segment decides whether the filesystem takes O_DIRECT; if it
 * refuses, the journal falls back to buffered writes + fdatasync. */
static int openData(jnJournal *j, const char *path, int plainFd)
{
    if (j->sync == JN_SYNC_FDATASYNC)
        return dup(plainFd);
    int fd = open(path, O_RDWR | O_DIRECT | O_CLOEXEC | (j->sync == JN_SYNC_DSYNC ? O_DSYNC : 0));
    if (fd < 0 && errno == EINVAL && !j->createdAny) {
        j->sync = JN_SYNC_FDATASYNC;
        return dup(plainFd);
    }
    return fd;
}

/* Creates segment file index: O_EXCL, fallocate, data and fill fds. */
static int segCreateFile(jnJournal *j, jnSeg *s, uint32_t index, jnError *err)
{
    char path[JN_PATH_MAX];
    jnSegPath(path, sizeof path, j->dir, index);
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        jnErrSet(err, JN_EIO, errno, path, UINT64_MAX, "cannot create: %s", strerror(errno));
        return -1;
    }
    int e = fallocate(fd, 0, 0, (off_t)j->cfg.segmentBytes) ? errno : 0;
    if (e == EOPNOTSUPP)
        e = posix_fallocate(fd, 0, (off_t)j->cfg.segmentBytes);
    const char *what = e ? "cannot preallocate" : "cannot open";
    s->fd = e ? -1 : openData(j, path, fd);
    if (s->fd < 0 && !e)
        e = errno;
    if (!e && j->cfg.prefill) {
        s->fillFd = open(path, O_RDWR | O_DIRECT | O_CLOEXEC);
        if (s->fillFd < 0)
            s->fillFd = dup(fd);
    }
    close(fd);
    if (e) {
        unlink(path);
        jnErrSet(err, JN_EIO, e, path, UINT64_MAX, "%s %llu bytes: %s", what,
                 (unsigned long long)j->cfg.segmentBytes, strerror(e));
        return -1;
    }
    s->index = index;
    s->ready = !j->cfg.prefill;
    j->createdAny = 1;
    return 0;
}

/* Zero-fills s now (prefill) and makes it durable: fdatasync, dir fsync. */
static int segSyncNow(jnJournal *j, jnSeg *s, int zeroFill, jnError *err)
{
    char path[JN_PATH_MAX];
    jnSegPath(path, sizeof path, j->dir, s->index);
    for (uint64_t off = s->fillOff; zeroFill && s->fillFd >= 0 && off < j->cfg.segmentBytes;) {
        size_t n = (size_t)(j->cfg.segmentBytes - off < JN_ZERO_BYTES ? j->cfg.segmentBytes - off
                                                                      : JN_ZERO_BYTES);
        ssize_t w = pwrite(s->fillFd, j->zero, n, (off_t)off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            int e = w < 0 ? errno : ENOSPC;
            jnErrSet(err, JN_EIO, e, path, off, "cannot zero-fill: %s", strerror(e));
            return -1;
        }
        off += (uint64_t)w;
        s->fillOff = off;
        statAdd(&j->stPrefill, (uint64_t)w);
    }
    if (fdatasync(s->fd) || fsync(j->dirFd)) {
        jnErrSet(err, JN_EIO, errno, path, UINT64_MAX, "cannot sync new segment: %s",
                 strerror(errno));
        return -1;
    }
    s->synced = 1;
    s->ready = s->ready || s->fillOff >= j->cfg.segmentBytes;
    if (s->ready && s->fillFd >= 0) {
        close(s->fillFd);
        s->fillFd = -1;
    }
    return 0;
}

/* ---- io_uring plumbing -------------------------------------------------------- */

static struct io_uring_sqe *getSqe(jnJournal *j)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&j->uring);
    if (!sqe) {
        io_uring_submit(&j->uring);
        sqe = io_uring_get_sqe(&j->uring);
    }
    return sqe;
}

static void submit(jnJournal *j, unsigned ops)
{
    int rc = io_uring_submit(&j->uring);
    if (rc < 0)
        jnFail(j, -rc, "journal %s: io_uring submit: %s", j->dir, strerror(-rc));
    else
        j->inflightOps += ops;
}

/* Queues fdatasync(s) then fsync(dir), linked: the spare's size, extents
 * and name become durable. */
static void segSyncAsync(jnJournal *j, jnSeg *s)
{
    struct io_uring_sqe *a = getSqe(j);
    io_uring_prep_fsync(a, s->fd, IORING_FSYNC_DATASYNC);
    a->flags |= IOSQE_IO_LINK;
    io_uring_sqe_set_data64(a, (uint64_t)(uintptr_t)s | OP_SEGSYNC);
    struct io_uring_sqe *b = getSqe(j);
    io_uring_prep_fsync(b, j->dirFd, 0);
    io_uring_sqe_set_data64(b, (uint64_t)(uintptr_t)s | OP_SEGSYNC);
    s->busy += 2;
    submit(j, 2);
}

/* Queues the write of what is left of batch b and, unless the fd has
 * O_DSYNC, the fdatasync linked to it. */
static void commitSubmit(jnJournal *j, jnBatch *b)
{
    struct io_uring_sqe *w = getSqe(j);
    uint32_t n = b->ioLen - b->ioDone;
    if (j->fixedBufs)
        io_uring_prep_write_fixed(w, b->seg->fd, b->mem + b->ioDone, n, b->fileOff + b->ioDone,
                                  (int)b->bufIndex);
    else
        io_uring_prep_write(w, b->seg->fd, b->mem + b->ioDone, n, b->fileOff + b->ioDone);
    io_uring_sqe_set_data64(w, (uint64_t)(uintptr_t)b | OP_COMMIT);
    b->pending = 1;
    b->writeRes = b->syncRes = 0;
    if (j->sync != JN_SYNC_DSYNC) {
        w->flags |= IOSQE_IO_LINK;
        struct io_uring_sqe *s = getSqe(j);
        io_uring_prep_fsync(s, b->seg->fd, IORING_FSYNC_DATASYNC);
        io_uring_sqe_set_data64(s, (uint64_t)(uintptr_t)b | OP_SYNC);
        b->pending = 2;
    }
    submit(j, (unsigned)b->pending);
}

/* ---- commits ---------------------------------------------------------------- */

/* Batch b is on disk: publish, count, release its buffer. */
static void commitDone(jnJournal *j, jnBatch *b)
{
    atomic_store_explicit(&j->durable, b->lastSeq, memory_order_release);
    statAdd(&j->stCommits, 1);
    statAdd(&j->stRecords, b->records);
    statAdd(&j->stRecordBytes, b->recBytes);
    statAdd(&j->stIoBytes, b->ioLen);
    const uint64_t took = jnNowNs(CLOCK_MONOTONIC) - b->submitNs;
    atomic_store_explicit(&j->stLastCommitNs, took, memory_order_relaxed);
    statAdd(&j->stHist[histBucket(took)], 1);
    if (took > atomic_load_explicit(&j->stHistMax, memory_order_relaxed))
        atomic_store_explicit(&j->stHistMax, took, memory_order_relaxed);
    atomic_store_explicit(&j->stInflightNs, 0, memory_order_relaxed);
    if (b->records > atomic_load_explicit(&j->stMaxBatch, memory_order_relaxed))
        atomic_store_explicit(&j->stMaxBatch, b->records, memory_order_relaxed);
    if (b->seg != j->cur)
        segClose(j, b->seg, 0);
    b->records = 0;
    j->inflight = 0;
}

/* Both results of b's last submission are in: finish, retry or fail. */
static void commitResult(jnJournal *j, jnBatch *b)
{
    char path[JN_PATH_MAX];
    jnSegPath(path, sizeof path, j->dir, b->seg->index);
    if (b->writeRes < 0) {
        jnFail(j, -b->writeRes, "journal %s: write at %llu: %s", path,
               (unsigned long long)(b->fileOff + b->ioDone), strerror(-b->writeRes));
    } else if ((uint32_t)b->writeRes < b->ioLen - b->ioDone) {
        b->ioDone += (uint32_t)b->writeRes; /* short write: the rest again */
        if (failed(j))
            j->inflight = 0;
        else if (b->writeRes == 0)
            jnFail(j, ENOSPC, "journal %s: write made no progress", path);
        else
            commitSubmit(j, b);
    } else if (b->syncRes < 0) {
        jnFail(j, -b->syncRes, "journal %s: fdatasync: %s", path, strerror(-b->syncRes));
    } else {
        commitDone(j, b);
    }
}

static void onPrefill(jnJournal *j, jnSeg *s, unsigned op, int res)
{
    s->busy--;
    if (res < 0 || (op == OP_FILL && res == 0)) { /* best effort until the spare is needed */
        s->failed = 1;
        return;
    }
    if (op == OP_FILL) {
        s->fillOff += (uint64_t)res;
        statAdd(&j->stPrefill, (uint64_t)res);
    } else if (op == OP_SEGSYNC && !s->busy) {
        s->synced = 1;
    } else if (op == OP_FILLSYNC) {
        s->ready = 1;
        close(s->fillFd);
        s->fillFd = -1;
    }
}

/* Reaps every completed operation. */
static void reap(jnJournal *j)
{
    struct io_uring_cqe *cqe;
    while (j->inflightOps && io_uring_peek_cqe(&j->uring, &cqe) == 0) {
        uint64_t ud = io_uring_cqe_get_data64(cqe);
        int res = cqe->res;
        io_uring_cqe_seen(&j->uring, cqe);
        j->inflightOps--;
        unsigned op = (unsigned)(ud & OP_MASK);
        void *obj = (void *)(uintptr_t)(ud & ~(uint64_t)OP_MASK);
        if (op == OP_COMMIT || op == OP_SYNC) {
            jnBatch *b = obj;
            *(op == OP_COMMIT ? &b->writeRes : &b->syncRes) = res;
            if (--b->pending == 0)
                commitResult(j, b);
        } else {
            onPrefill(j, obj, op, res);
        }
    }
}

/* Blocks until op count drops (one completion), then reaps. */
static void waitOne(jnJournal *j)
{
    struct io_uring_cqe *cqe;
    if (j->inflightOps && io_uring_wait_cqe(&j->uring, &cqe) == 0)
        reap(j);
}

/* ---- rotation and spares --------------------------------------------------- */

/* The spare to rotate into: the oldest prepared one, else one made now. */
static jnSeg *takeSpare(jnJournal *j)
{
    jnError err;
    jnSeg *s = NULL;
    if (j->nSpare) {
        s = j->spare[0];
        memmove(j->spare, j->spare + 1, --j->nSpare * sizeof j->spare[0]);
        while (s->busy && j->inflightOps)
            waitOne(j);
        if (s->synced && !s->failed)
            return s;
        if (!segSyncNow(j, s, 0, &err))
            return s;
        segClose(j, s, 1);
    } else {
        s = segSlot(j);
        if (!segCreateFile(j, s, j->nextIndex, &err) && !segSyncNow(j, s, 0, &err)) {
            j->nextIndex++;
            return s;
        }
        segClose(j, s, 1);
    }
    jnFail(j, err.sysErrno, "%s", err.msg);
    return NULL;
}

/* Moves writing to the next segment. The old one stays open while a commit
 * to it is in flight. */
static int rotate(jnJournal *j)
{
    jnSeg *s = takeSpare(j);
    if (!s)
        return -1;
    if (s->fillFd >= 0) {
        close(s->fillFd);
        s->fillFd = -1;
    }
    jnSeg *old = j->cur;
    j->cur = s;
    if (!(j->inflight && j->b[j->fill ^ 1].seg == old))
        segClose(j, old, 0);
    j->wpos = 0;
    j->tailLen = 0;
    statAdd(&j->stRotations, 1);
    atomic_store_explicit(&j->stSegment, s->index, memory_order_relaxed);
    return 0;
}

/* Keeps one spare on the way: created here, made durable through the ring. */
static void maybeSpare(jnJournal *j)
{
    if (j->nSpare || j->spareErr || failed(j))
        return;
    jnError err;
    jnSeg *s = segSlot(j);
    if (segCreateFile(j, s, j->nextIndex, &err)) {
        j->spareErr = err.sysErrno ? err.sysErrno : EIO;
        statAdd(&j->stErrors, 1);
        atomic_store_explicit(&j->spareErrPub, j->spareErr, memory_order_release);
        return;
    }
    j->nextIndex++;
    j->spare[j->nSpare++] = s;
    segSyncAsync(j, s);
}

/* With nothing else to do, writes the next chunk of zeros into a spare, and
 * syncs it once complete. */
static void maybeFill(jnJournal *j, int idle)
{
    if (!idle || !j->nSpare || failed(j))
        return;
    jnSeg *s = j->spare[0];
    if (s->busy || s->ready || !s->synced || s->failed || s->fillFd < 0)
        return;
    struct io_uring_sqe *sqe = getSqe(j);
    if (s->fillOff < j->cfg.segmentBytes) {
        uint64_t n = j->cfg.segmentBytes - s->fillOff;
        n = n < JN_FILL_CHUNK ? n : JN_FILL_CHUNK;
        io_uring_prep_write(sqe, s->fillFd, j->zero, (unsigned)n, s->fillOff);
        io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)s | OP_FILL);
    } else {
        io_uring_prep_fsync(sqe, s->fillFd, IORING_FSYNC_DATASYNC);
        io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)s | OP_FILLSYNC);
    }
    s->busy++;
    submit(j, 1);
}

/* ---- staging ---------------------------------------------------------------- */

/* Starts batch b with the record whose header is first (size bytes):
 * rotates if it does not fit, then stages the segment header or the
 * partial block the previous commit ended in. */
static int batchStart(jnJournal *j, jnBatch *b, const jnRecHdr *first, uint32_t size)
{
    if (j->wpos && j->wpos + size > j->cfg.segmentBytes && rotate(j))
        return -1;
    b->seg = j->cur;
    b->id = j->nextBatch++;
    b->records = b->recBytes = 0;
    b->full = 0;
    if (j->wpos == 0) {
        jnSegHdr h = {.stream = j->cfg.stream,
                      .index = j->cur->index,
                      .firstSeq = first->seq,
                      .segmentBytes = j->cfg.segmentBytes,
                      .dataOffset = JN_DATA_OFF,
                      .firstBatch = b->id,
                      .createdNs = jnNowNs(CLOCK_REALTIME)};
        memset(b->mem, 0, JN_DATA_OFF);
        jnSegHdrEncode(&h, b->mem);
        b->fileOff = 0;
        b->len = JN_DATA_OFF;
        j->wpos = JN_DATA_OFF;
        j->cur->written = 1;
    } else {
        b->fileOff = j->wpos - j->tailLen;
        memcpy(b->mem, j->tailBlock, j->tailLen);
        b->len = j->tailLen;
    }
    return 0;
}

/* Copies one record from the ring into b, stamping commit number and CRC. */
static void batchAdd(jnJournal *j, jnBatch *b, const unsigned char *rec, uint32_t size)
{
    unsigned char *dst = b->mem + b->len;
    memcpy(dst, rec, size);
    memcpy(dst + 20, &b->id, 4);
    uint32_t crc = jnRecCrc(dst, size);
    memcpy(dst + 4, &crc, 4);
    memcpy(&b->lastSeq, dst + 8, 8);
    b->lastRec = b->len;
    b->len += size;
    b->recBytes += size;
    b->records++;
    j->wpos += size;
}

/* Drains published records into the filling batch until it is full.
 * Returns 1 if it took any, 0 if not, -1 if rotation failed. */
static int pull(jnJournal *j)
{
    jnBatch *b = &j->b[j->fill];
    uint64_t head = atomic_load_explicit(&j->pubHead, memory_order_acquire);
    uint64_t t = j->tailLocal;
    int rc = 0;
    while (t != head && !b->full) {
        uint32_t pos = (uint32_t)(t & j->wMask), len;
        const unsigned char *rec = j->wRing + pos;
        memcpy(&len, rec, 4);
        if (len == JN_RING_SKIP) {
            t += j->wRingBytes - pos;
            continue;
        }
        uint32_t size = jnRecSize(len);
        if (b->records == 0) {
            jnRecHdr h;
            memcpy(&h, rec, sizeof h);
            if (batchStart(j, b, &h, size)) {
                rc = -1;
                break;
            }
        } else if (j->wpos + size > j->cfg.segmentBytes ||
                   b->recBytes + size > j->cfg.maxBatchBytes) {
            b->full = 1;
            break;
        }
        batchAdd(j, b, rec, size);
        t += size;
        rc = 1;
    }
    if (t != j->tailLocal) {
        j->tailLocal = t;
        atomic_store_explicit(&j->tail, t, memory_order_release);
    }
    return rc;
}

/* Seals b (commit-end flag, block padding, tail block kept) and writes it. */
static void batchSubmit(jnJournal *j, jnBatch *b)
{
    unsigned char *last = b->mem + b->lastRec;
    uint16_t flags;
    uint32_t len;
    memcpy(&flags, last + 18, 2);
    memcpy(&len, last, 4);
    flags |= JN_REC_END;
    memcpy(last + 18, &flags, 2);
    uint32_t crc = jnRecCrc(last, jnRecSize(len));
    memcpy(last + 4, &crc, 4);
    b->ioLen = (uint32_t)alignUp(b->len, JN_BLOCK);
    memset(b->mem + b->len, 0, b->ioLen - b->len);
    j->tailLen = b->len % JN_BLOCK;
    memcpy(j->tailBlock, b->mem + b->len - j->tailLen, j->tailLen);
    b->ioDone = 0;
    b->submitNs = jnNowNs(CLOCK_MONOTONIC);
    j->lastSubmitNs = b->submitNs;
    atomic_store_explicit(&j->stInflightNs, b->submitNs, memory_order_relaxed);
    commitSubmit(j, b);
    j->inflight = 1;
    j->fill ^= 1;
    j->b[j->fill].full = 0; /* its commit is done: free to fill */
}

/* Whether the staged batch b should be committed now: always without a
 * commit gap; with one, once the gap since the last commit's start has
 * passed or b is half full. */
static int commitDue(jnJournal *j, const jnBatch *b)
{
    if (!j->cfg.commitGapUs || j->flushing || b->len >= j->cfg.maxBatchBytes / 2)
        return 1;
    return jnNowNs(CLOCK_MONOTONIC) - j->lastSubmitNs >= (uint64_t)j->cfg.commitGapUs * 1000;
}

/* ---- writer API ------------------------------------------------------------- */

int jnWriterPoll(jnJournal *j)
{
    unsigned before = j->inflightOps;
    reap(j);
    int progress = j->inflightOps != before;
    if (failed(j))
        return -1;
    if (pull(j) > 0)
        progress = 1;
    if (!j->inflight && j->b[j->fill].records && !failed(j) && commitDue(j, &j->b[j->fill])) {
        batchSubmit(j, &j->b[j->fill]);
        pull(j); /* stage what arrived meanwhile while the commit is out */
        progress = 1;
    }
    if (failed(j))
        return -1;
    maybeSpare(j);
    int idle = !j->inflight && !j->b[j->fill].records &&
               atomic_load_explicit(&j->pubHead, memory_order_relaxed) == j->tailLocal;
    maybeFill(j, idle);
    return progress;
}

void jnWriterWait(jnJournal *j, uint32_t timeoutUs)
{
    struct io_uring_cqe *cqe;
    struct __kernel_timespec ts = {.tv_sec = timeoutUs / 1000000,
                                   .tv_nsec = (long long)(timeoutUs % 1000000) * 1000};
    if (j->inflightOps)
        io_uring_wait_cqe_timeout(&j->uring, &cqe, &ts);
}

/* Everything published is durable. */
static int caughtUp(jnJournal *j)
{
    return !j->inflight && !j->b[j->fill].records &&
           atomic_load_explicit(&j->pubHead, memory_order_acquire) == j->tailLocal;
}

int jnFlush(jnJournal *j)
{
    j->flushing = 1;
    for (;;) {
        int rc = jnWriterPoll(j);
        if (rc < 0) {
            while (j->inflightOps) /* what is in flight may still become durable */
                waitOne(j);
            j->flushing = 0;
            return -1;
        }
        if (caughtUp(j)) {
            j->flushing = 0;
            return 0;
        }
        if (rc == 0)
            jnWriterWait(j, 1000);
    }
}

void *jnWriterMain(void *arg)
{
    jnJournal *j = arg;
    unsigned idle = 0;
    uint32_t sleepUs = 1, maxUs = j->cfg.idleSleepUs;
    while (!atomic_load_explicit(&j->stop, memory_order_acquire)) {
        int rc = jnWriterPoll(j);
        if (rc < 0)
            return NULL;
        if (rc > 0) {
            idle = 0;
            sleepUs = 1;
        } else if (j->inflightOps && !j->cfg.spinOnIo) {
            jnWriterWait(j, maxUs ? maxUs : 50); /* leave the core to the kernel */
        } else if (maxUs && ++idle >= JN_SPIN_IDLE) {
            struct timespec ts = {0, (long)sleepUs * 1000};
            nanosleep(&ts, NULL);
            sleepUs = sleepUs * 2 > maxUs ? maxUs : sleepUs * 2;
        }
    }
    jnFlush(j);
    return NULL;
}

void jnWriterStop(jnJournal *j)
{
    atomic_store_explicit(&j->stop, 1, memory_order_release);
}

void jnGetStats(const jnJournal *j, jnStats *st)
{
    st->commits = atomic_load_explicit(&j->stCommits, memory_order_relaxed);
    st->records = atomic_load_explicit(&j->stRecords, memory_order_relaxed);
    st->recordBytes = atomic_load_explicit(&j->stRecordBytes, memory_order_relaxed);
    st->ioBytes = atomic_load_explicit(&j->stIoBytes, memory_order_relaxed);
    st->rotations = atomic_load_explicit(&j->stRotations, memory_order_relaxed);
    st->prefillBytes = atomic_load_explicit(&j->stPrefill, memory_order_relaxed);
    st->maxBatchRecords = atomic_load_explicit(&j->stMaxBatch, memory_order_relaxed);
    st->lastCommitNs = atomic_load_explicit(&j->stLastCommitNs, memory_order_relaxed);
    st->segmentIndex = atomic_load_explicit(&j->stSegment, memory_order_relaxed);
    st->sync = j->sync;
    st->errors = atomic_load_explicit(&j->stErrors, memory_order_relaxed);
    st->publishedSeq = atomic_load_explicit(&j->pubSeq, memory_order_relaxed);
    const uint64_t since = atomic_load_explicit(&j->stInflightNs, memory_order_relaxed);
    const uint64_t now = jnNowNs(CLOCK_MONOTONIC);
    st->inflightNs = since && now > since ? now - since : 0;
}

void jnGetCommitHist(const jnJournal *j, histLog *out)
{
    out->total = 0;
    for (uint32_t i = 0; i < HIST_BUCKETS; i++) {
        out->count[i] = atomic_load_explicit(&j->stHist[i], memory_order_relaxed);
        out->total += out->count[i];
    }
    out->max = atomic_load_explicit(&j->stHistMax, memory_order_relaxed);
}

/* ---- producer API ------------------------------------------------------------ */

void *jnReserve(jnJournal *j, uint16_t type, uint32_t len, uint64_t *seq)
{
    if (len > j->p.maxPayload || atomic_load_explicit(&j->status, memory_order_relaxed))
        return NULL;
    uint32_t size = jnRecSize(len);
    uint64_t head = j->p.head;
    uint32_t pos = (uint32_t)(head & j->p.mask);
    uint32_t contig = j->p.ringBytes - pos;
    uint64_t need = size <= contig ? size : (uint64_t)contig + size;
    if (head + need - j->p.tailCache > j->p.ringBytes) {
        j->p.tailCache = atomic_load_explicit(&j->tail, memory_order_acquire);
        if (head + need - j->p.tailCache > j->p.ringBytes)
            return NULL;
    }
    if (size > contig) { /* never split: mark the rest unused, start over */
        uint32_t skip = JN_RING_SKIP;
        memcpy(j->p.ring + pos, &skip, 4);
        head += contig;
        pos = 0;
    }
    unsigned char *rec = j->p.ring + pos;
    jnRecHdr h = {.len = len, .seq = j->p.nextSeq, .type = type};
    memcpy(rec, &h, sizeof h);
    if (len & 7) {
        uint64_t z = 0; /* padding is covered by the CRC */
        memcpy(rec + size - 8, &z, 8);
    }
    j->p.head = head + size;
    *seq = j->p.nextSeq++;
    return rec + JN_REC_HDR;
}

int jnRoom(jnJournal *j, uint32_t bytes)
{
    /* a record may need the rest of the ring before the end as well */
    uint64_t need = (uint64_t)bytes + j->p.maxPayload + JN_REC_HDR + 8;
    if (j->p.head + need - j->p.tailCache <= j->p.ringBytes)
        return 1;
    j->p.tailCache = atomic_load_explicit(&j->tail, memory_order_acquire);
    return j->p.head + need - j->p.tailCache <= j->p.ringBytes;
}

uint64_t jnAppend(jnJournal *j, uint16_t type, const void *payload, uint32_t len)
{
    uint64_t seq;
    void *p = jnReserve(j, type, len, &seq);
    if (!p)
        return 0;
    memcpy(p, payload, len);
    return seq;
}

void jnPublish(jnJournal *j)
{
    atomic_store_explicit(&j->pubSeq, j->p.nextSeq - 1, memory_order_relaxed);
    atomic_store_explicit(&j->pubHead, j->p.head, memory_order_release);
}

uint64_t jnDurableSeq(const jnJournal *j)
{
    return atomic_load_explicit(&j->durable, memory_order_acquire);
}

uint64_t jnLastSeq(const jnJournal *j)
{
    return j->p.nextSeq - 1;
}

int jnSpareError(const jnJournal *j)
{
    return atomic_load_explicit(&j->spareErrPub, memory_order_acquire);
}

int jnStatus(const jnJournal *j)
{
    return atomic_load_explicit(&j->status, memory_order_acquire);
}

const char *jnStatusMessage(const jnJournal *j)
{
    return jnStatus(j) ? j->statusMsg : "";
}

uint32_t jnMaxPayload(const jnJournal *j)
{
    return j->p.maxPayload;
}

/* ---- open and close --------------------------------------------------------- */

/* Reads the end of what dir holds: where the stream continues, which unused
 * segments to remove. Refuses a torn tail or a sequence mismatch. */
static int scanExisting(jnJournal *j, jnError *err)
{
    jnReader *r = jnReaderOpenLast(j->dir, j->cfg.stream, err);
    if (!r)
        return -1;
    jnRecord rec;
    int rc;
    while ((rc = jnReaderNext(r, &rec, err)) == 1)
        ;
    const jnReadReport *rep = jnReaderReport(r);
    uint64_t next = jnReaderNextSeq(r);
    if (rc == 0 && rep->torn) {
        jnErrSet(err, JN_ETORN, 0, rep->tornFile, rep->tornOffset,
                 "stream ends in a torn write (%llu bytes); cut it with the reader "
                 "(JN_RD_REPAIR) before appending",
                 (unsigned long long)rep->tornBytes);
        rc = -1;
    } else if (rc == 0 && next && j->cfg.firstSeq && j->cfg.firstSeq != next) {
        jnErrSet(err, JN_ESEQ, 0, j->dir, UINT64_MAX, "stream continues at sequence %llu, not %llu",
                 (unsigned long long)next, (unsigned long long)j->cfg.firstSeq);
        rc = -1;
    }
    if (rc == 0) {
        const uint32_t *spares;
        size_t n = jnReaderSpares(r, &spares);
        char path[JN_PATH_MAX];
        for (size_t i = 0; i < n; i++) {
            if (!jnSegPath(path, sizeof path, j->dir, spares[i]))
                unlink(path);
        }
        j->p.nextSeq = next ? next : (j->cfg.firstSeq ? j->cfg.firstSeq : 1);
        j->nextIndex = jnReaderLastIndex(r) + 1;
        j->nextBatch = next ? rep->lastBatch + 1 : 1;
    }
    jnReaderClose(r);
    return rc;
}

/* Ring, staging buffers and zeros, from the hugepage-aware allocator. */
static int allocMemory(jnJournal *j, jnError *err)
{
    const mtAllocator *al = mtDefaultAllocator();
    size_t stage = alignUp(j->cfg.maxBatchBytes + 3 * JN_BLOCK, JN_BLOCK);
    j->regionBytes = 2 * stage + JN_ZERO_BYTES + JN_BLOCK;
    j->ringRegion = al->alloc(al->ctx, j->cfg.ringBytes);
    j->region = al->alloc(al->ctx, j->regionBytes);
    if (!j->ringRegion || !j->region) {
        jnErrSet(err, JN_EIO, ENOMEM, NULL, UINT64_MAX, "out of memory for the journal buffers");
        return -1;
    }
    unsigned char *base = (unsigned char *)alignUp((uintptr_t)j->region, JN_BLOCK);
    j->b[0].mem = base;
    j->b[1].mem = base + stage;
    j->zero = base + 2 * stage;
    j->p.ring = j->ringRegion;
    j->p.ringBytes = j->cfg.ringBytes;
    j->p.mask = j->cfg.ringBytes - 1;
    j->p.maxPayload = j->cfg.maxPayload;
    j->wRing = j->p.ring;
    j->wMask = j->p.mask;
    j->wRingBytes = j->p.ringBytes;
    struct iovec iov[2] = {{j->b[0].mem, stage}, {j->b[1].mem, stage}};
    j->b[0].bufIndex = 0;
    j->b[1].bufIndex = 1;
    j->fixedBufs = io_uring_register_buffers(&j->uring, iov, 2) == 0;
    return 0;
}

/* Creates the first segment and the prepared spares. */
static int createInitial(jnJournal *j, jnError *err)
{
    for (uint32_t k = 0; k < j->cfg.readySegments; k++) {
        jnSeg *s = segSlot(j);
        if (segCreateFile(j, s, j->nextIndex, err))
            return -1;
        j->nextIndex++;
        if (segSyncNow(j, s, j->cfg.prefill, err))
            return -1;
        if (k == 0)
            j->cur = s;
        else
            j->spare[j->nSpare++] = s;
        atomic_store_explicit(&j->stSegment, j->cur->index, memory_order_relaxed);
    }
    return 0;
}

jnJournal *jnOpen(const jnConfig *cfg, jnError *err)
{
    jnError tmp;
    err = err ? err : &tmp;
    memset(err, 0, sizeof *err);
    if (checkConfig(cfg, err) || prepareDir(cfg->dir, err))
        return NULL;
    jnJournal *j = aligned_alloc(64, alignUp(sizeof *j, 64));
    if (!j) {
        jnErrSet(err, JN_EIO, ENOMEM, NULL, UINT64_MAX, "out of memory");
        return NULL;
    }
    memset(j, 0, sizeof *j);
    j->cfg = *cfg;
    snprintf(j->dir, sizeof j->dir, "%s", cfg->dir);
    j->cfg.dir = j->dir;
    j->sync = cfg->sync;
    for (unsigned i = 0; i < sizeof j->seg / sizeof j->seg[0]; i++)
        j->seg[i].fd = j->seg[i].fillFd = -1;
    j->dirFd = open(j->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (j->dirFd < 0) {
        jnErrSet(err, JN_EIO, errno, j->dir, UINT64_MAX, "cannot open: %s", strerror(errno));
        jnClose(j);
        return NULL;
    }
    int rc = io_uring_queue_init(JN_QD, &j->uring, 0);
    if (rc < 0) {
        jnErrSet(err, JN_EIO, -rc, j->dir, UINT64_MAX, "io_uring set-up failed: %s", strerror(-rc));
        jnClose(j);
        return NULL;
    }
    j->uringOk = 1;
    if (scanExisting(j, err) || allocMemory(j, err) || createInitial(j, err)) {
        jnClose(j);
        return NULL;
    }
    atomic_store_explicit(&j->durable, j->p.nextSeq - 1, memory_order_relaxed);
    return j;
}

void jnClose(jnJournal *j)
{
    if (!j)
        return;
    while (j->uringOk && j->inflightOps)
        waitOne(j);
    for (unsigned i = 0; i < sizeof j->seg / sizeof j->seg[0]; i++)
        segClose(j, &j->seg[i], !j->seg[i].written);
    if (j->dirFd >= 0)
        close(j->dirFd);
    if (j->uringOk)
        io_uring_queue_exit(&j->uring);
    const mtAllocator *al = mtDefaultAllocator();
    if (j->region)
        al->free(al->ctx, j->region, j->regionBytes);
    if (j->ringRegion)
        al->free(al->ctx, j->ringRegion, j->cfg.ringBytes);
    free(j);
}
