/* feedarch.c -- a segment's feed archive: the journal of sent packets, its index, the answers.
 *
 * API in dataplane/feedarch.h; the rules in docs/protocol/feed.md §2.4.
 * The index is read back from the files, not kept from what the worker
 * appended: only durable packets are answered from here, and a restart
 * finds the same index. The tail reader below follows the journal's
 * layout (storage/journal_int.h): it reads only records the writer has
 * reported durable, so every one it looks for is complete, either at the
 * current offset or at the start of the next segment file. */
#define _GNU_SOURCE
#include "dataplane/feedarch.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage/journal_int.h"
#include "xchg/itch.h"

/* the largest packet: a jumbo MTU (FD_MTU_MAX) less the IPv4 and UDP headers */
#define FA_PAYLOAD_MAX (9216 - 28)
/* faPoll calls in a row that may find a durable record unreadable before
 * the archive counts it as damaged (seconds at the archive thread's pace) */
#define FA_STUCK_POLLS 20000

typedef struct {
    uint64_t seq;   /* feed sequence number of the packet's first message */
    uint64_t off;   /* record header offset in its segment file */
    uint32_t seg;   /* segment file index */
    uint16_t count; /* messages */
    uint16_t len;   /* payload (packet) bytes */
} faEntry;

struct faArchive {
    char dir[JN_PATH_MAX];
    uint32_t stream;
    uint16_t maxPayload;
    jnJournal *j;
    int failed;
    char err[JN_PATH_MAX + 256];
    /* the index, in sequence order */
    faEntry *ix;
    size_t n, cap;
    /* the tail reader: the next record is journal sequence `expect`, at
     * `off` of segment file `seg` (open as fd), or at the start of the next */
    uint64_t expect, off, segSize;
    uint32_t seg;
    int fd;
    uint32_t stuck; /* polls in a row that found a durable record unreadable */
    /* a read-back fd per answer: the segment file last opened for one */
    int rfd;
    uint32_t rseg;
    uint8_t rec[JN_REC_HDR + FA_PAYLOAD_MAX + 8];
    uint8_t out[FA_PAYLOAD_MAX];
};

static void faFail(faArchive *a, const char *why)
{
    a->failed = 1;
    snprintf(a->err, sizeof a->err, "feed archive %s: %s", a->dir, why);
}

/* Adds the packet of a record to the index. A packet that does not
 * continue the index (a restart after a crash re-sent numbers whose first
 * sending never became durable) replaces what it overlaps. */
static int faIndexAdd(faArchive *a, uint32_t seg, uint64_t off, const uint8_t *pkt, uint32_t len)
{
    if (len < MOLD_HEADER_SIZE || len > a->maxPayload)
        return 0; /* not a packet of ours: ignored */
    uint64_t seq = itchGet64(pkt + MOLD_OFF_SEQUENCE);
    uint16_t count = itchGet16(pkt + MOLD_OFF_COUNT);
    if (count == 0 || count == MOLD_END_OF_SESSION || seq == 0)
        return 0;
    while (a->n > 0 && a->ix[a->n - 1].seq >= seq)
        a->n--;
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 4096;
        faEntry *ix = realloc(a->ix, cap * sizeof *ix);
        if (!ix)
            return -1;
        a->ix = ix;
        a->cap = cap;
    }
    a->ix[a->n++] =
        (faEntry){.seq = seq, .off = off, .seg = seg, .count = count, .len = (uint16_t)len};
    return 0;
}

/* Segment index from a reader's file path ".../seg-<index>.jnl". */
static int faSegOf(const char *path, uint32_t *seg)
{
    const char *p = strrchr(path, '/');
    unsigned long v;
    char tail[8];
    if (!p || sscanf(p + 1, "seg-%lu%7s", &v, tail) != 2 || strcmp(tail, ".jnl") != 0)
        return -1;
    *seg = (uint32_t)v;
    return 0;
}

/* Indexes what a previous run archived (cutting a torn tail). */
static int faRecover(faArchive *a, char *err, size_t errlen)
{
    jnError je;
    struct stat st;
    if (stat(a->dir, &st) != 0 && errno == ENOENT)
        return 0; /* nothing yet: jnOpen creates it */
    jnReader *r = jnReaderOpen(a->dir, a->stream, JN_RD_REPAIR, &je);
    if (!r) {
        snprintf(err, errlen, "feed archive: %s", je.msg);
        return -1;
    }
    jnRecord rec;
    int rc;
    while ((rc = jnReaderNext(r, &rec, &je)) == 1) {
        uint32_t seg;
        if (rec.type != FA_REC_PACKET)
            continue;
        if (faSegOf(rec.file, &seg) || faIndexAdd(a, seg, rec.offset, rec.payload, rec.len)) {
            snprintf(err, errlen, "feed archive %s: cannot index (memory or file name)", rec.file);
            jnReaderClose(r);
            return -1;
        }
    }
    if (rc < 0)
        snprintf(err, errlen, "feed archive: %s", je.msg);
    jnReaderClose(r);
    return rc < 0 ? -1 : 0;
}

faArchive *faOpen(const char *dir, uint32_t stream, uint16_t maxPayload, const jnConfig *jcfg,
                  char *err, size_t errlen)
{
    faArchive *a = calloc(1, sizeof *a);
    if (!a) {
        snprintf(err, errlen, "feed archive: out of memory");
        return NULL;
    }
    a->fd = a->rfd = -1;
    a->stream = stream;
    a->maxPayload = maxPayload > FA_PAYLOAD_MAX ? FA_PAYLOAD_MAX : maxPayload;
    if (snprintf(a->dir, sizeof a->dir, "%s", dir) >= (int)sizeof a->dir) {
        snprintf(err, errlen, "feed archive: directory path too long");
        free(a);
        return NULL;
    }
    if (faRecover(a, err, errlen)) {
        faClose(a);
        return NULL;
    }
    jnConfig jc;
    if (jcfg)
        jc = *jcfg;
    else
        jnConfigDefaults(&jc);
    jc.dir = a->dir;
    jc.stream = stream;
    jc.firstSeq = 0;
    jc.maxPayload = a->maxPayload; /* one packet a record */
    jnError je;
    a->j = jnOpen(&jc, &je);
    if (!a->j) {
        snprintf(err, errlen, "feed archive: %s", je.msg);
        faClose(a);
        return NULL;
    }
    a->expect = jnLastSeq(a->j) + 1;
    return a;
}

jnJournal *faJournal(const faArchive *a)
{
    return a->j;
}

/* Opens segment file `seg` for the tail reader if its header says it
 * starts with journal sequence a->expect. Returns 1 if so, 0 if not (yet). */
static int faTailOpen(faArchive *a, uint32_t seg)
{
    char path[JN_PATH_MAX];
    if (jnSegPath(path, sizeof path, a->dir, seg))
        return 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    unsigned char h[JN_HDR_BYTES];
    jnSegHdr sh;
    const char *why;
    struct stat st;
    if (pread(fd, h, sizeof h, 0) != (ssize_t)sizeof h || jnSegHdrDecode(h, &sh, &why) != 0 ||
        sh.firstSeq != a->expect || sh.stream != a->stream || fstat(fd, &st)) {
        close(fd);
        return 0;
    }
    if (a->fd >= 0)
        close(a->fd);
    a->fd = fd;
    a->seg = seg;
    a->off = sh.dataOffset;
    a->segSize = (uint64_t)st.st_size;
    return 1;
}

/* Finds the segment the next record starts: the next one, or at the very
 * start any listed one. */
static int faTailFind(faArchive *a)
{
    if (a->fd >= 0)
        return faTailOpen(a, a->seg + 1);
    uint32_t *idx = NULL;
    size_t n = 0;
    jnError je;
    int found = 0;
    if (jnListSegments(a->dir, &idx, &n, &je) == 0)
        for (size_t i = 0; i < n && !found; i++)
            found = faTailOpen(a, idx[i]);
    free(idx);
    return found;
}

/* Reads the record at the tail; 1 indexed (or skipped), 0 not there. */
static int faTailRecord(faArchive *a)
{
    jnRecHdr h;
    if (a->off + JN_REC_HDR > a->segSize ||
        pread(a->fd, &h, sizeof h, (off_t)a->off) != (ssize_t)sizeof h || h.seq != a->expect ||
        h.len > FA_PAYLOAD_MAX)
        return 0;
    uint32_t size = jnRecSize(h.len);
    if (a->off + size > a->segSize || pread(a->fd, a->rec, size, (off_t)a->off) != (ssize_t)size ||
        jnRecCrc(a->rec, size) != h.crc)
        return 0;
    if (h.type == FA_REC_PACKET && faIndexAdd(a, a->seg, a->off, a->rec + JN_REC_HDR, h.len) != 0) {
        faFail(a, "out of memory for the index");
        return 0;
    }
    a->off += size;
    a->expect++;
    return 1;
}

int faPoll(faArchive *a)
{
    int rc = jnWriterPoll(a->j);
    if (rc < 0 && !a->failed)
        faFail(a, jnStatusMessage(a->j));
    int progress = rc > 0;
    uint64_t durable = jnDurableSeq(a->j);
    while (!a->failed && a->expect <= durable) {
        if ((a->fd >= 0 && faTailRecord(a)) || (faTailFind(a) && faTailRecord(a))) {
            progress = 1;
            a->stuck = 0;
            continue;
        }
        /* durable, yet neither here nor at the start of the next file: a
         * read racing the writer's last block sees it next time; a record
         * that stays unreadable is damage */
        if (!a->failed && ++a->stuck >= FA_STUCK_POLLS)
            faFail(a, "a durable record is not readable where the journal put it");
        break;
    }
    return a->failed ? -1 : progress;
}

/* The record of entry e, checked: its payload (the packet), or NULL. */
static const uint8_t *faRead(faArchive *a, const faEntry *e)
{
    if (a->rfd < 0 || a->rseg != e->seg) {
        char path[JN_PATH_MAX];
        if (a->rfd >= 0)
            close(a->rfd);
        a->rfd = -1;
        if (jnSegPath(path, sizeof path, a->dir, e->seg) ||
            (a->rfd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
            snprintf(a->err, sizeof a->err, "feed archive %s: cannot open segment %u: %s", a->dir,
                     e->seg, strerror(errno));
            return NULL;
        }
        a->rseg = e->seg;
    }
    uint32_t size = jnRecSize(e->len);
    jnRecHdr h;
    if (pread(a->rfd, a->rec, size, (off_t)e->off) != (ssize_t)size) {
        snprintf(a->err, sizeof a->err, "feed archive %s: segment %u offset %llu: short read",
                 a->dir, e->seg, (unsigned long long)e->off);
        return NULL;
    }
    memcpy(&h, a->rec, sizeof h);
    if (h.len != e->len || jnRecCrc(a->rec, size) != h.crc) {
        snprintf(a->err, sizeof a->err, "feed archive %s: segment %u offset %llu: record damaged",
                 a->dir, e->seg, (unsigned long long)e->off);
        return NULL;
    }
    return a->rec + JN_REC_HDR;
}

/* Index of the last entry whose first sequence is <= seq, or n if none. */
static size_t faFind(const faArchive *a, uint64_t seq)
{
    size_t lo = 0, hi = a->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (a->ix[mid].seq <= seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo == 0 ? a->n : lo - 1;
}

faResult faAnswer(faArchive *a, uint64_t seq, uint16_t count, faEmitFn *emit, void *ctx,
                  uint32_t *messages)
{
    *messages = 0;
    size_t i = faFind(a, seq);
    if (i == a->n)
        return FA_GONE;
    if (seq >= a->ix[i].seq + a->ix[i].count)
        return i + 1 == a->n ? FA_NOT_YET : FA_GONE; /* past the end, or in a hole */
    uint32_t len = 0, packets = 0, inPkt = 0;
    for (; i < a->n && count > 0 && a->ix[i].seq <= seq; i++) {
        const uint8_t *p = faRead(a, &a->ix[i]);
        if (!p)
            return *messages ? FA_ANSWERED : FA_ERROR;
        uint64_t s = a->ix[i].seq;
        uint32_t off = MOLD_HEADER_SIZE;
        for (uint16_t k = 0; k < a->ix[i].count && count > 0; k++, s++) {
            if (off + 2 > a->ix[i].len)
                break;
            uint32_t blk = 2u + itchGet16(p + off);
            if (off + blk > a->ix[i].len)
                break;
            if (s == seq) {
                if (len + blk > a->maxPayload) { /* full: send it, start the next */
                    emit(ctx, a->out, (uint16_t)len);
                    if (++packets == FA_MAX_PACKETS)
                        return FA_ANSWERED;
                    len = inPkt = 0;
                }
                if (len == 0) {
                    memcpy(a->out, p, MOLD_SESSION_LEN);
                    itchPut64(a->out + MOLD_OFF_SEQUENCE, seq);
                    len = MOLD_HEADER_SIZE;
                }
                memcpy(a->out + len, p + off, blk);
                len += blk;
                itchPut16(a->out + MOLD_OFF_COUNT, (uint16_t)++inPkt);
                (*messages)++;
                seq++;
                count--;
            }
            off += blk;
        }
    }
    if (inPkt)
        emit(ctx, a->out, (uint16_t)len);
    return FA_ANSWERED;
}

void faRange(const faArchive *a, uint64_t *first, uint64_t *next)
{
    if (a->n == 0) {
        *first = *next = 0;
        return;
    }
    *first = a->ix[0].seq;
    *next = a->ix[a->n - 1].seq + a->ix[a->n - 1].count;
}

uint64_t faPackets(const faArchive *a)
{
    return a->n;
}

const char *faError(const faArchive *a)
{
    return a->err;
}

void faClose(faArchive *a)
{
    if (!a)
        return;
    if (a->j) {
        jnFlush(a->j);
        jnClose(a->j);
    }
    if (a->fd >= 0)
        close(a->fd);
    if (a->rfd >= 0)
        close(a->rfd);
    free(a->ix);
    free(a);
}
