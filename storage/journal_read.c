/* journal_read.c -- journal reader: walks a stream's segments, checks them, cuts a torn tail.
 *
 * Each written segment is mapped read-only in turn. Records must carry
 * consecutive sequences and valid CRCs. Where the good data of a segment
 * ends, the rest must be zeros; anything else is either a torn tail or
 * corruption, told apart by the commit numbers of the intact records after
 * it (docs/storage/journal.md, "Recovery rules"): the writer has one commit
 * in flight at a time, so only the last commit of the last segment can be
 * partly on disk. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage/journal_int.h"

struct jnReader {
    char dir[JN_PATH_MAX];
    uint32_t stream;
    unsigned flags;
    uint32_t *idx;      /* segment indexes in dir, sorted */
    size_t nFiles;      /* all of them */
    size_t nUsed;       /* the written ones; the rest are unused spares */
    size_t first;       /* first file walked (jnReaderOpenLast skips) */
    size_t cur;         /* file being walked, or next to open */
    int fd;             /* of the current file, -1 if none */
    unsigned char *map; /* current file, NULL if none */
    uint64_t size;
    char path[JN_PATH_MAX];
    jnSegHdr hdr;
    uint64_t off;       /* next record in the current file */
    uint64_t expectSeq; /* next sequence; 0 before the first header */
    int haveGood;       /* a record of the current file was delivered */
    jnRecHdr good;      /* ... the last one */
    int done, failed;
    jnError lastErr;
    char why[160];
    jnReadReport rep;
};

/* Bytes 0..n of p are all zero. p is 8-byte aligned. */
static int zeroRange(const unsigned char *p, uint64_t n)
{
    uint64_t i = 0;
    /* the rest of a preallocated segment: up to 64 MiB at recovery. Blocks
     * of 256 bytes OR-ed together (the compiler vectorises the inner loop),
     * one test a block */
    for (; i + 256 <= n; i += 256) {
        uint64_t acc = 0;
        for (unsigned k = 0; k < 256; k += 8) {
            uint64_t w;
            memcpy(&w, p + i + k, 8);
            acc |= w;
        }
        if (acc)
            return 0;
    }
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        if (w)
            return 0;
    }
    for (; i < n; i++) {
        if (p[i])
            return 0;
    }
    return 1;
}

/* One past the last non-zero byte of p[0..n), or 0. */
static uint64_t dataEnd(const unsigned char *p, uint64_t n)
{
    while (n > 0 && p[n - 1] == 0)
        n--;
    return n;
}

/* Reads the first JN_HDR_BYTES of path into buf (zeros where the file is
 * shorter). Returns 0, or -1 with *err filled. */
static int readHeader(const char *path, unsigned char *buf, jnError *err)
{
    memset(buf, 0, JN_HDR_BYTES);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        jnErrSet(err, JN_EIO, errno, path, UINT64_MAX, "cannot open: %s", strerror(errno));
        return -1;
    }
    ssize_t n = pread(fd, buf, JN_HDR_BYTES, 0);
    int e = errno;
    close(fd);
    if (n < 0) {
        jnErrSet(err, JN_EIO, e, path, 0, "cannot read header: %s", strerror(e));
        return -1;
    }
    return 0;
}

/* Counts the trailing segments that were never written (zero header). */
static int findUsed(jnReader *r, jnError *err)
{
    r->nUsed = r->nFiles;
    while (r->nUsed > 0) {
        unsigned char buf[JN_HDR_BYTES];
        char path[JN_PATH_MAX];
        jnSegHdr h;
        const char *why;
        if (jnSegPath(path, sizeof path, r->dir, r->idx[r->nUsed - 1]) ||
            readHeader(path, buf, err))
            return -1;
        if (jnSegHdrDecode(buf, &h, &why) != 1)
            break;
        r->nUsed--;
    }
    r->rep.spares = (uint32_t)(r->nFiles - r->nUsed);
    return 0;
}

static jnReader *readerOpen(const char *dir, uint32_t stream, unsigned flags, jnError *err)
{
    jnReader *r = calloc(1, sizeof *r);
    if (!r) {
        jnErrSet(err, JN_EIO, ENOMEM, dir, UINT64_MAX, "out of memory");
        return NULL;
    }
    if (snprintf(r->dir, sizeof r->dir, "%s", dir) >= (int)sizeof r->dir) {
        jnErrSet(err, JN_ECONFIG, 0, NULL, UINT64_MAX, "directory path too long");
        free(r);
        return NULL;
    }
    r->stream = stream;
    r->flags = flags;
    r->fd = -1;
    if (jnListSegments(dir, &r->idx, &r->nFiles, err) || findUsed(r, err)) {
        jnReaderClose(r);
        return NULL;
    }
    return r;
}

jnReader *jnReaderOpen(const char *dir, uint32_t stream, unsigned flags, jnError *err)
{
    return readerOpen(dir, stream, flags, err);
}

jnReader *jnReaderOpenLast(const char *dir, uint32_t stream, jnError *err)
{
    jnReader *r = readerOpen(dir, stream, 0, err);
    if (r && r->nUsed > 0)
        r->first = r->cur = r->nUsed - 1;
    return r;
}

static void segClose(jnReader *r)
{
    if (r->map)
        munmap(r->map, r->size);
    if (r->fd >= 0)
        close(r->fd);
    r->map = NULL;
    r->fd = -1;
}

static int isLast(const jnReader *r)
{
    return r->cur + 1 == r->nUsed;
}

/* Checks the header of the mapped file against the stream and what came
 * before. Returns 0 or -1 with *err. */
static int segCheckHeader(jnReader *r, jnError *err)
{
    const char *why = NULL;
    int rc = jnSegHdrDecode(r->map, &r->hdr, &why);
    if (rc == 1)
        why = "segment never written, but later segments are";
    else if (rc == 0 && r->hdr.index != r->idx[r->cur])
        why = "header names another segment index";
    else if (rc == 0 && r->hdr.dataOffset > r->size)
        why = "data offset beyond the end of the file";
    if (why) {
        jnErrSet(err, JN_EHEADER, 0, r->path, 0, "%s", why);
        return -1;
    }
    if (r->hdr.stream != r->stream) {
        jnErrSet(err, JN_ESTREAM, 0, r->path, 8, "segment of stream %u, expected stream %u",
                 r->hdr.stream, r->stream);
        return -1;
    }
    if (r->expectSeq && r->hdr.firstSeq != r->expectSeq) {
        jnErrSet(err, JN_ESEQ, 0, r->path, 16, "first sequence %llu, expected %llu",
                 (unsigned long long)r->hdr.firstSeq, (unsigned long long)r->expectSeq);
        return -1;
    }
    return 0;
}

/* Opens and maps file r->cur and checks its header. */
static int segOpen(jnReader *r, jnError *err)
{
    uint32_t index = r->idx[r->cur];
    if (jnSegPath(r->path, sizeof r->path, r->dir, index)) {
        jnErrSet(err, JN_ECONFIG, 0, NULL, UINT64_MAX, "path too long");
        return -1;
    }
    if (r->cur > r->first && index != r->idx[r->cur - 1] + 1) {
        jnErrSet(err, JN_ESEQ, 0, r->path, UINT64_MAX, "segment %u missing before it",
                 r->idx[r->cur - 1] + 1);
        return -1;
    }
    int rw = isLast(r) && (r->flags & JN_RD_REPAIR);
    r->fd = open(r->path, (rw ? O_RDWR : O_RDONLY) | O_CLOEXEC);
    struct stat st;
    if (r->fd < 0 || fstat(r->fd, &st)) {
        jnErrSet(err, JN_EIO, errno, r->path, UINT64_MAX, "cannot open: %s", strerror(errno));
        return -1;
    }
    r->size = (uint64_t)st.st_size;
    if (r->size < JN_HDR_BYTES) {
        jnErrSet(err, JN_EHEADER, 0, r->path, 0, "file too short for a header");
        return -1;
    }
    r->map = mmap(NULL, r->size, PROT_READ, MAP_SHARED, r->fd, 0);
    if (r->map == MAP_FAILED) {
        r->map = NULL;
        jnErrSet(err, JN_EIO, errno, r->path, UINT64_MAX, "cannot map: %s", strerror(errno));
        return -1;
    }
    madvise(r->map, r->size, MADV_SEQUENTIAL);
    if (segCheckHeader(r, err))
        return -1;
    r->expectSeq = r->hdr.firstSeq;
    r->off = r->hdr.dataOffset;
    r->haveGood = 0;
    r->rep.segments++;
    if (!r->rep.records)
        r->rep.lastBatch = r->hdr.firstBatch - 1;
    return 0;
}

/* NULL if the record header h at off is a valid record, else why not. */
static const char *recCheck(jnReader *r, uint64_t off, const jnRecHdr *h)
{
    if (h->len > JN_PAYLOAD_LIMIT)
        return "implausible record length";
    uint32_t size = jnRecSize(h->len);
    if (off + size > r->size)
        return "record runs past the end of the file";
    if (h->flags & ~JN_REC_FLAGS)
        return "unknown record flags";
    if (h->crc != jnRecCrc(r->map + off, size))
        return "record CRC mismatch";
    if (h->seq != r->expectSeq) {
        snprintf(r->why, sizeof r->why, "sequence %llu, expected %llu", (unsigned long long)h->seq,
                 (unsigned long long)r->expectSeq);
        return r->why;
    }
    return NULL;
}

/* An intact record at p with a sequence at or after the expected one:
 * its header goes to *h. */
static int laterRecord(const jnReader *r, uint64_t p, jnRecHdr *h)
{
    memcpy(h, r->map + p, sizeof *h);
    if (h->len > JN_PAYLOAD_LIMIT || (h->flags & ~JN_REC_FLAGS) || h->seq < r->expectSeq ||
        h->seq - r->expectSeq > (1ull << 32))
        return 0;
    uint32_t size = jnRecSize(h->len);
    return p + size <= r->size && h->crc == jnRecCrc(r->map + p, size);
}

/* Scans the last segment after the damage at x for intact records. Returns
 * the offset of one from a commit after the tail commit t (corruption), or
 * 0 if all belong to t (a torn tail); counts those in rep.tornRecords. */
static uint64_t scanAfter(jnReader *r, uint64_t x, uint32_t t)
{
    for (uint64_t p = x + 8; p + JN_REC_HDR <= r->size; p += 8) {
        jnRecHdr h;
        if (!laterRecord(r, p, &h))
            continue;
        if ((int32_t)(h.batch - t) > 0)
            return p;
        if (h.batch == t) {
            r->rep.tornRecords++;
            p += jnRecSize(h.len) - 8;
        }
    }
    return 0;
}

/* Cuts the last segment at x (JN_RD_REPAIR). */
static int cutTail(jnReader *r, uint64_t x, jnError *err)
{
    munmap(r->map, r->size);
    r->map = NULL;
    if (ftruncate(r->fd, (off_t)x) || fsync(r->fd)) {
        jnErrSet(err, JN_EIO, errno, r->path, x, "cannot cut the torn tail: %s", strerror(errno));
        return -1;
    }
    r->rep.cut = 1;
    return 0;
}

/* The good data of the current segment ends at x; why says what is at x
 * (NULL: zeros or the end of the file). Returns 0 (end of segment, or of
 * the stream after a torn tail) or -1 with *err. */
static int segEnd(jnReader *r, uint64_t x, const char *why, jnError *err)
{
    if (!why && zeroRange(r->map + x, r->size - x))
        return 0;
    if (!isLast(r)) {
        jnErrSet(err, JN_ECORRUPT, 0, r->path, x, "%s",
                 why ? why : "non-zero bytes after the last record");
        return -1;
    }
    uint32_t t =
        r->haveGood ? r->good.batch + ((r->good.flags & JN_REC_END) ? 1u : 0u) : r->hdr.firstBatch;
    uint64_t later = scanAfter(r, x, t);
    if (later) {
        jnErrSet(err, JN_ECORRUPT, 0, r->path, x,
                 "%s; intact records of later commits follow (offset %llu)",
                 why ? why : "zeros inside the data", (unsigned long long)later);
        return -1;
    }
    r->rep.torn = 1;
    snprintf(r->rep.tornFile, sizeof r->rep.tornFile, "%s", r->path);
    r->rep.tornOffset = x;
    r->rep.tornBytes = dataEnd(r->map + x, r->size - x);
    r->done = 1;
    return (r->flags & JN_RD_REPAIR) ? cutTail(r, x, err) : 0;
}

/* Next record of the current segment: 1 with *rec, 0 at its end, -1. */
static int segNext(jnReader *r, jnRecord *rec, jnError *err)
{
    jnRecHdr h;
    static const jnRecHdr zero;
    if (r->off + JN_REC_HDR > r->size)
        return segEnd(r, r->off, NULL, err);
    memcpy(&h, r->map + r->off, sizeof h);
    if (!memcmp(&h, &zero, sizeof h))
        return segEnd(r, r->off, NULL, err);
    const char *why = recCheck(r, r->off, &h);
    if (why)
        return segEnd(r, r->off, why, err);
    rec->seq = h.seq;
    rec->type = h.type;
    rec->len = h.len;
    rec->payload = r->map + r->off + JN_REC_HDR;
    rec->file = r->path;
    rec->offset = r->off;
    r->good = h;
    r->haveGood = 1;
    r->off += jnRecSize(h.len);
    r->expectSeq++;
    if (!r->rep.records++)
        r->rep.firstSeq = h.seq;
    r->rep.lastSeq = h.seq;
    r->rep.lastBatch = h.batch;
    return 1;
}

/* An error: with JN_RD_STOP_AT_BAD, damage ends the stream instead. */
static int readerFail(jnReader *r, jnError *err)
{
    segClose(r);
    int damage = err->code == JN_ECORRUPT || err->code == JN_ESEQ || err->code == JN_EHEADER;
    if (damage && (r->flags & JN_RD_STOP_AT_BAD)) {
        r->rep.stoppedAtBad = 1;
        r->rep.bad = *err;
        r->done = 1;
        return 0;
    }
    r->failed = 1;
    r->lastErr = *err;
    return -1;
}

int jnReaderNext(jnReader *r, jnRecord *rec, jnError *err)
{
    if (r->failed) {
        *err = r->lastErr;
        return -1;
    }
    while (!r->done) {
        if (!r->map) {
            if (r->cur >= r->nUsed) {
                r->done = 1;
                break;
            }
            if (segOpen(r, err))
                return readerFail(r, err);
        }
        int rc = segNext(r, rec, err);
        if (rc == 1)
            return 1;
        if (rc < 0)
            return readerFail(r, err);
        segClose(r);
        r->cur++;
    }
    segClose(r);
    return 0;
}

const jnReadReport *jnReaderReport(const jnReader *r)
{
    return &r->rep;
}

uint64_t jnReaderNextSeq(const jnReader *r)
{
    return r->nUsed ? r->expectSeq : 0;
}

uint32_t jnReaderLastIndex(const jnReader *r)
{
    return r->nUsed ? r->idx[r->nUsed - 1] : 0;
}

size_t jnReaderSpares(const jnReader *r, const uint32_t **spares)
{
    *spares = r->idx + r->nUsed;
    return r->nFiles - r->nUsed;
}

void jnReaderClose(jnReader *r)
{
    if (!r)
        return;
    segClose(r);
    free(r->idx);
    free(r);
}

/* Renames path to path.damaged. */
static int setAside(const char *path, jnError *err)
{
    char to[JN_PATH_MAX + 16];
    snprintf(to, sizeof to, "%s.damaged", path);
    if (rename(path, to)) {
        jnErrSet(err, JN_EIO, errno, path, UINT64_MAX, "cannot rename to %s: %s", to,
                 strerror(errno));
        return -1;
    }
    return 0;
}

/* Copies path to path.damaged before it is cut: the evidence stays. */
static int keepCopy(const char *path, jnError *err)
{
    char to[JN_PATH_MAX + 16];
    snprintf(to, sizeof to, "%s.damaged", path);
    int in = open(path, O_RDONLY | O_CLOEXEC);
    int out = in < 0 ? -1 : open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int rc = in < 0 || out < 0 ? -1 : 0;
    char buf[1 << 16];
    ssize_t n;
    while (rc == 0 && (n = read(in, buf, sizeof buf)) != 0)
        rc = n < 0 || write(out, buf, (size_t)n) != n ? -1 : 0;
    if (rc == 0)
        rc = fsync(out);
    if (rc)
        jnErrSet(err, JN_EIO, errno, path, UINT64_MAX, "cannot copy to %s: %s", to,
                 strerror(errno));
    if (in >= 0)
        close(in);
    if (out >= 0)
        close(out);
    return rc;
}

int jnCutAt(const char *dir, const char *file, uint64_t offset, jnError *err)
{
    uint32_t *idx;
    size_t n;
    if (jnListSegments(dir, &idx, &n, err))
        return -1;
    int done = 0, found = 0;
    char path[JN_PATH_MAX];
    for (size_t i = 0; i < n && done >= 0; i++) {
        if (jnSegPath(path, sizeof path, dir, idx[i]))
            continue;
        if (found) {
            done = setAside(path, err) ? -1 : done + 1;
            continue;
        }
        if (strcmp(path, file) != 0)
            continue;
        found = 1;
        if (offset == UINT64_MAX || offset < JN_DATA_OFF) {
            done = setAside(path, err) ? -1 : done + 1;
            continue;
        }
        if (keepCopy(path, err)) {
            done = -1;
            continue;
        }
        int fd = open(path, O_RDWR | O_CLOEXEC);
        if (fd < 0 || ftruncate(fd, (off_t)offset) || fsync(fd)) {
            jnErrSet(err, JN_EIO, errno, path, offset, "cannot cut: %s", strerror(errno));
            done = -1;
        } else {
            done++;
        }
        if (fd >= 0)
            close(fd);
    }
    free(idx);
    if (done >= 0 && !found) {
        jnErrSet(err, JN_ECONFIG, 0, file, offset, "not a segment file of %s", dir);
        return -1;
    }
    if (done > 0) {
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
    }
    return done;
}
