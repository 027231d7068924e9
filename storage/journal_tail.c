/* journal_tail.c -- follows a live journal stream from its files, up to a sequence known durable.
 *
 * The replica (dataplane/replica.c) reads what the writer has made durable
 * while the writer keeps appending: it never touches the producer's ring
 * and takes no lock the writer takes. The cursor reads record headers with
 * pread from the current segment file; a record is delivered only when its
 * sequence is at or below the limit the caller passes (the journal's
 * durable sequence), so a commit still in flight is never looked at. When
 * the current file holds no further record the next segment file (index +
 * 1) must start with the expected sequence. Every record's CRC is checked. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "storage/journal_int.h"

struct jnTail {
    char dir[JN_PATH_MAX];
    char path[JN_PATH_MAX];
    uint32_t stream;
    uint32_t index;     /* current segment file */
    int fd;             /* -1: none open yet */
    uint64_t off;       /* next record header in it */
    uint64_t expectSeq; /* next sequence to deliver */
    unsigned char *buf; /* the record being delivered */
    uint32_t cap;
};

/* Opens segment `index` and checks its header. 0, 1 (no such written
 * file yet), -1 with *err. */
static int tailOpenSeg(jnTail *t, uint32_t index, jnError *err)
{
    char path[JN_PATH_MAX];
    unsigned char hb[JN_HDR_BYTES];
    jnSegHdr h;
    const char *why = NULL;
    if (jnSegPath(path, sizeof path, t->dir, index)) {
        jnErrSet(err, JN_ECONFIG, 0, NULL, UINT64_MAX, "path too long");
        return -1;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 1
                               : (jnErrSet(err, JN_EIO, errno, path, UINT64_MAX, "cannot open: %s",
                                           strerror(errno)),
                                  -1);
    ssize_t n = pread(fd, hb, sizeof hb, 0);
    int rc = n == (ssize_t)sizeof hb ? jnSegHdrDecode(hb, &h, &why) : 1;
    if (rc == 1) {
        close(fd);
        return 1;
    }
    if (rc < 0 || h.stream != t->stream) {
        jnErrSet(err, JN_EHEADER, 0, path, 0, "%s", rc < 0 ? why : "segment of another stream");
        close(fd);
        return -1;
    }
    if (t->expectSeq && h.firstSeq != t->expectSeq) {
        close(fd);
        return 1; /* not (yet) the continuation */
    }
    if (t->fd >= 0)
        close(t->fd);
    t->fd = fd;
    t->index = index;
    t->off = h.dataOffset;
    if (!t->expectSeq)
        t->expectSeq = h.firstSeq;
    memcpy(t->path, path, sizeof path);
    return 0;
}

jnTail *jnTailOpen(const char *dir, uint32_t stream, uint64_t fromSeq, jnError *err)
{
    jnTail *t = calloc(1, sizeof *t);
    uint32_t *idx = NULL;
    size_t n = 0;
    if (!t) {
        jnErrSet(err, JN_EIO, ENOMEM, dir, UINT64_MAX, "out of memory");
        return NULL;
    }
    snprintf(t->dir, sizeof t->dir, "%s", dir);
    fromSeq = fromSeq ? fromSeq : 1;
    t->stream = stream;
    t->fd = -1;
    if (jnListSegments(dir, &idx, &n, err)) {
        free(t);
        return NULL;
    }
    /* the last written file whose first sequence is <= fromSeq */
    int found = 0, written = 0;
    for (size_t i = n; i-- > 0 && !found;) {
        t->expectSeq = 0;
        int rc = tailOpenSeg(t, idx[i], err);
        if (rc < 0) {
            free(idx);
            jnTailClose(t);
            return NULL;
        }
        written |= rc == 0;
        found = rc == 0 && t->expectSeq <= fromSeq;
    }
    free(idx);
    if (!found && (written || fromSeq > 1)) {
        jnErrSet(err, JN_ESEQ, 0, dir, UINT64_MAX,
                 written ? "stream %u: its files start at sequence %llu, after %llu: the files "
                           "holding the records before it are gone"
                         : "stream %u: no journal file, but sequence %llu..%llu expected",
                 stream, (unsigned long long)(written ? t->expectSeq : 1),
                 (unsigned long long)fromSeq);
        jnTailClose(t);
        return NULL;
    }
    if (!found)
        t->expectSeq = 1; /* an empty stream: its first file will be seg 1 */
    while (t->expectSeq < fromSeq) {
        jnRecord rec;
        if (jnTailNext(t, fromSeq - 1, &rec, err) != 1) {
            jnTailClose(t);
            return NULL;
        }
    }
    return t;
}

/* Reads the record header at t->off: 1 valid and complete in *h, 0 none. */
static int tailHeader(jnTail *t, jnRecHdr *h)
{
    if (t->fd < 0 || pread(t->fd, h, sizeof *h, (off_t)t->off) != (ssize_t)sizeof *h)
        return 0;
    return h->len != 0 || h->seq != 0;
}

int jnTailNext(jnTail *t, uint64_t limit, jnRecord *rec, jnError *err)
{
    if (t->expectSeq > limit)
        return 0;
    jnRecHdr h;
    if (!tailHeader(t, &h)) {
        /* the record durable at expectSeq is in the next file */
        int rc = tailOpenSeg(t, t->fd < 0 ? 1 : t->index + 1, err);
        if (rc != 0 || !tailHeader(t, &h)) {
            if (rc >= 0)
                jnErrSet(err, JN_ESEQ, 0, t->path, t->off,
                         "durable sequence %llu not found in the files",
                         (unsigned long long)t->expectSeq);
            return -1;
        }
    }
    uint32_t size = jnRecSize(h.len);
    if (h.len > JN_PAYLOAD_LIMIT || h.seq != t->expectSeq) {
        jnErrSet(err, JN_ECORRUPT, 0, t->path, t->off, "record sequence %llu, expected %llu",
                 (unsigned long long)h.seq, (unsigned long long)t->expectSeq);
        return -1;
    }
    if (size > t->cap) {
        unsigned char *nb = realloc(t->buf, size);
        if (!nb) {
            jnErrSet(err, JN_EIO, ENOMEM, t->path, t->off, "out of memory");
            return -1;
        }
        t->buf = nb;
        t->cap = size;
    }
    if (pread(t->fd, t->buf, size, (off_t)t->off) != (ssize_t)size ||
        jnRecCrc(t->buf, size) != h.crc) {
        jnErrSet(err, JN_ECORRUPT, 0, t->path, t->off, "record CRC mismatch");
        return -1;
    }
    rec->seq = h.seq;
    rec->type = h.type;
    rec->len = h.len;
    rec->payload = t->buf + JN_REC_HDR;
    rec->file = t->path;
    rec->offset = t->off;
    t->off += size;
    t->expectSeq++;
    return 1;
}

uint64_t jnTailNextSeq(const jnTail *t)
{
    return t->expectSeq;
}

uint32_t jnTailSegment(const jnTail *t)
{
    return t->fd >= 0 ? t->index : 0;
}

void jnTailClose(jnTail *t)
{
    if (!t)
        return;
    if (t->fd >= 0)
        close(t->fd);
    free(t->buf);
    free(t);
}

int jnStreamRange(const char *dir, uint32_t stream, uint64_t *first, uint64_t *last, jnError *err)
{
    *first = *last = 0;
    uint32_t *idx = NULL;
    size_t n = 0;
    jnTail probe = {.stream = stream, .fd = -1};
    snprintf(probe.dir, sizeof probe.dir, "%s", dir);
    if (jnListSegments(dir, &idx, &n, err))
        return -1;
    int rc = 0;
    for (size_t i = 0; i < n && probe.fd < 0 && rc >= 0; i++)
        rc = tailOpenSeg(&probe, idx[i], err); /* the first written file */
    free(idx);
    if (probe.fd >= 0)
        close(probe.fd);
    if (rc < 0)
        return -1;
    if (probe.fd < 0)
        return 0; /* nothing written */
    *first = probe.expectSeq;
    jnReader *r = jnReaderOpenLast(dir, stream, err);
    if (!r)
        return -1;
    jnRecord rec;
    while ((rc = jnReaderNext(r, &rec, err)) == 1)
        *last = rec.seq;
    if (!*last && rc == 0)
        *last = jnReaderNextSeq(r) - 1; /* the last file holds no record yet */
    jnReaderClose(r);
    return rc < 0 ? -1 : 0;
}

int jnRetire(const char *dir, uint32_t stream, uint64_t coveredSeq, uint32_t belowIndex,
             uint32_t keep, jnError *err)
{
    uint32_t *idx = NULL;
    size_t n = 0;
    if (jnListSegments(dir, &idx, &n, err))
        return -1;
    /* file k is wholly covered when file k+1 starts at or below coveredSeq + 1 */
    size_t covered = 0;
    for (size_t k = 0; k + 1 < n && idx[k] < belowIndex; k++) {
        jnTail probe = {.stream = stream, .fd = -1};
        snprintf(probe.dir, sizeof probe.dir, "%s", dir);
        if (idx[k + 1] != idx[k] + 1 || tailOpenSeg(&probe, idx[k + 1], err) != 0)
            break;
        close(probe.fd);
        if (probe.expectSeq > coveredSeq + 1)
            break;
        covered = k + 1;
    }
    int removed = 0;
    for (size_t k = 0; k + keep < covered; k++) {
        char path[JN_PATH_MAX];
        if (jnSegPath(path, sizeof path, dir, idx[k]) == 0 && unlink(path) == 0)
            removed++;
    }
    free(idx);
    return removed;
}
