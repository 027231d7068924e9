/* test_journal.c -- unit tests of the journal (storage/journal.c, journal_read.c, crc32c.c).
 *
 * Every test works in a fresh directory under /tmp with small segments
 * (64 KiB) so a few thousand records rotate through several files. Records
 * have varying lengths and contents derived from their sequence, so every
 * read checks order, continuity and bytes. Damage is made by editing the
 * files in place (truncation, garbage, flipped bytes) at offsets the reader
 * itself reported. The ENOSPC and read-only cases mount a tiny tmpfs and are
 * skipped, with a message, when that is not possible (not root). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "storage/crc32c.h"
#include "storage/journal.h"
#include "storage/journal_int.h"

#define STREAM   3
#define SEG_SIZE (64u << 10)
#define MAX_PAY  1024

static char tmpDir[64];
static char mountDir[80]; /* a tmpfs mounted by a test, "" if none */

/* ---- fixtures ---------------------------------------------------------------- */

static int rmEntry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int setUp(void **state)
{
    (void)state;
    snprintf(tmpDir, sizeof tmpDir, "/tmp/xchg-jn-XXXXXX");
    assert_non_null(mkdtemp(tmpDir));
    mountDir[0] = 0;
    return 0;
}

static int tearDown(void **state)
{
    (void)state;
    if (mountDir[0] && umount2(mountDir, 0))
        umount2(mountDir, MNT_DETACH);
    mountDir[0] = 0;
    nftw(tmpDir, rmEntry, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

static void smallConfig(jnConfig *c, const char *dir)
{
    jnConfigDefaults(c);
    c->dir = dir;
    c->stream = STREAM;
    c->segmentBytes = SEG_SIZE;
    c->ringBytes = 16u << 10;
    c->maxBatchBytes = 16u << 10;
    c->maxPayload = MAX_PAY;
    c->idleSleepUs = 20;
}

static jnJournal *openOk(const jnConfig *c)
{
    jnError err;
    jnJournal *j = jnOpen(c, &err);
    if (!j)
        fail_msg("jnOpen: %s", err.msg);
    return j;
}

/* Payload of record seq: its length and bytes follow from seq alone. */
static uint32_t payLen(uint64_t seq)
{
    return (uint32_t)((seq * 37) % 301);
}

static void payFill(uint64_t seq, unsigned char *p, uint32_t len)
{
    for (uint32_t i = 0; i < len; i++)
        p[i] = (unsigned char)(seq * 31 + i * 7);
}

/* Appends n records, publishing every `burst`, polling the writer when the
 * ring is full; with commitEvery > 0, flushes after every commitEvery
 * records so each flush is one commit. */
static void appendN(jnJournal *j, uint64_t n, unsigned burst, unsigned commitEvery)
{
    for (uint64_t k = 1; k <= n; k++) {
        uint64_t want = jnLastSeq(j) + 1, seq;
        uint32_t len = payLen(want);
        unsigned char *p;
        while ((p = jnReserve(j, (uint16_t)want, len, &seq)) == NULL) {
            assert_int_equal(jnStatus(j), 0);
            jnPublish(j);
            assert_true(jnWriterPoll(j) >= 0);
        }
        assert_int_equal(seq, want);
        payFill(seq, p, len);
        if (k % burst == 0)
            jnPublish(j);
        if (commitEvery && k % commitEvery == 0) {
            jnPublish(j);
            assert_int_equal(jnFlush(j), 0);
        }
    }
    jnPublish(j);
}

/* Reads the stream and checks every record; returns how many it read and
 * leaves the reader's result in *rc (0 end, -1 error with *err). */
static uint64_t readAll(const char *dir, unsigned flags, int *rc, jnError *err, jnReadReport *rep)
{
    jnReader *r = jnReaderOpen(dir, STREAM, flags, err);
    if (!r)
        fail_msg("jnReaderOpen: %s", err->msg);
    jnRecord rec;
    uint64_t n = 0, expect = 0;
    unsigned char buf[MAX_PAY];
    while ((*rc = jnReaderNext(r, &rec, err)) == 1) {
        if (expect)
            assert_int_equal(rec.seq, expect);
        expect = rec.seq + 1;
        assert_int_equal(rec.len, payLen(rec.seq));
        assert_int_equal(rec.type, (uint16_t)rec.seq);
        payFill(rec.seq, buf, rec.len);
        assert_memory_equal(rec.payload, buf, rec.len);
        n++;
    }
    if (rep)
        *rep = *jnReaderReport(r);
    jnReaderClose(r);
    return n;
}

/* Offset and file of record seq, found with the reader. */
static uint64_t recordAt(const char *dir, uint64_t seq, char *file)
{
    jnError err;
    jnReader *r = jnReaderOpen(dir, STREAM, 0, &err);
    assert_non_null(r);
    jnRecord rec;
    uint64_t off = 0;
    while (jnReaderNext(r, &rec, &err) == 1) {
        if (rec.seq == seq) {
            off = rec.offset;
            strcpy(file, rec.file);
            break;
        }
    }
    jnReaderClose(r);
    assert_true(off > 0);
    return off;
}

static void pokeByte(const char *file, uint64_t off, unsigned char x)
{
    int fd = open(file, O_RDWR);
    assert_true(fd >= 0);
    unsigned char b;
    assert_int_equal(pread(fd, &b, 1, (off_t)off), 1);
    b ^= x;
    assert_int_equal(pwrite(fd, &b, 1, (off_t)off), 1);
    close(fd);
}

static int countSegments(const char *dir)
{
    uint32_t *idx;
    size_t n;
    jnError err;
    assert_int_equal(jnListSegments(dir, &idx, &n, &err), 0);
    free(idx);
    return (int)n;
}

static uint64_t fileSize(const char *file)
{
    struct stat st;
    assert_int_equal(stat(file, &st), 0);
    return (uint64_t)st.st_size;
}

/* Writes a stream of n records committed every commitEvery, then closes. */
static void writeStream(uint64_t n, unsigned commitEvery)
{
    jnConfig c;
    smallConfig(&c, tmpDir);
    jnJournal *j = openOk(&c);
    appendN(j, n, 8, commitEvery);
    assert_int_equal(jnFlush(j), 0);
    assert_int_equal(jnDurableSeq(j), n);
    jnClose(j);
}

/* ---- CRC32C ------------------------------------------------------------------ */

static void testCrcVectors(void **state)
{
    (void)state;
    assert_int_equal(crc32c("123456789", 9), 0xE3069283u);
    assert_int_equal(crc32cExtendSoft(0, "123456789", 9), 0xE3069283u);
    assert_int_equal(crc32c(NULL, 0), 0);
    unsigned char zeros[32] = {0}; /* RFC 3720 B.4: 32 bytes of zeros */
    assert_int_equal(crc32c(zeros, 32), 0x8A9136AAu);
    unsigned char buf[300];
    for (unsigned i = 0; i < sizeof buf; i++)
        buf[i] = (unsigned char)(i * 131 + 7);
    for (unsigned off = 0; off < 8; off++) {
        for (unsigned n = 0; n + off <= sizeof buf; n += 13) {
            uint32_t hw = crc32c(buf + off, n);
            assert_int_equal(hw, crc32cExtendSoft(0, buf + off, n));
            assert_int_equal(hw,
                             crc32cExtend(crc32c(buf + off, n / 3), buf + off + n / 3, n - n / 3));
        }
    }
    /* a record's CRC covers its length and everything after the CRC field */
    for (uint32_t size = 24; size <= 256; size += 8) {
        uint32_t want = crc32cExtendSoft(crc32cExtendSoft(0, buf, 4), buf + 8, size - 8);
        assert_int_equal(jnRecCrc(buf, size), want);
    }
    print_message("crc32c: %s\n", crc32cHardware() ? "SSE4.2 instruction" : "table");
}

/* ---- writing and reading ----------------------------------------------------- */

static void testRoundTripRotations(void **state)
{
    (void)state;
    jnConfig c;
    smallConfig(&c, tmpDir);
    c.ringBytes = 8192; /* records wrap the ring many times */
    jnJournal *j = openOk(&c);
    assert_int_equal(jnDurableSeq(j), 0);
    appendN(j, 6000, 16, 0);
    assert_int_equal(jnFlush(j), 0);
    assert_int_equal(jnDurableSeq(j), 6000);
    jnStats st;
    jnGetStats(j, &st);
    assert_true(st.rotations >= 4);
    assert_int_equal(st.records, 6000);
    assert_true(st.commits > 1 && st.commits < 6000);
    jnClose(j);
    int rc;
    jnError err;
    jnReadReport rep;
    assert_int_equal(readAll(tmpDir, 0, &rc, &err, &rep), 6000);
    assert_int_equal(rc, 0);
    assert_int_equal(rep.firstSeq, 1);
    assert_int_equal(rep.lastSeq, 6000);
    assert_int_equal(rep.segments, st.rotations + 1);
    assert_int_equal(rep.torn, 0);
    assert_int_equal(rep.spares, 0); /* unused spares were removed at close */
    assert_int_equal(countSegments(tmpDir), rep.segments);
}

static void testSyncModes(void **state)
{
    (void)state;
    static const jnSyncMode modes[] = {JN_SYNC_DIRECT, JN_SYNC_DSYNC, JN_SYNC_FDATASYNC};
    for (int mode = 0; mode < 3; mode++) {
        char dir[128];
        snprintf(dir, sizeof dir, "%s/m%d", tmpDir, mode);
        jnConfig c;
        smallConfig(&c, dir);
        c.sync = modes[mode];
        c.prefill = mode & 1; /* covers fallocate-only segments as well */
        jnJournal *j = openOk(&c);
        appendN(j, 1500, 4, 0);
        assert_int_equal(jnFlush(j), 0);
        jnStats st;
        jnGetStats(j, &st);
        assert_int_equal(st.sync, c.sync);
        jnClose(j);
        int rc;
        jnError err;
        assert_int_equal(readAll(dir, 0, &rc, &err, NULL), 1500);
        assert_int_equal(rc, 0);
    }
}

static void testDurableAdvances(void **state)
{
    (void)state;
    jnConfig c;
    smallConfig(&c, tmpDir);
    jnJournal *j = openOk(&c);
    uint64_t last = 0;
    for (int round = 0; round < 50; round++) {
        appendN(j, 7, 7, 0);
        assert_int_equal(jnDurableSeq(j), last); /* published, not yet written */
        assert_int_equal(jnFlush(j), 0);
        assert_int_equal(jnDurableSeq(j), last + 7);
        last += 7;
    }
    jnStats st;
    jnGetStats(j, &st);
    assert_int_equal(st.commits, 50 + st.rotations); /* a rotation splits a commit */
    assert_int_equal(st.maxBatchRecords, 7);
    jnClose(j);
}

/* Polls the writer up to `rounds` times, waiting in io_uring while a commit
 * is out; returns the durable sequence then. */
static uint64_t pollRounds(jnJournal *j, int rounds)
{
    for (int i = 0; i < rounds; i++) {
        jnWriterPoll(j);
        jnWriterWait(j, 1000);
    }
    return jnDurableSeq(j);
}

/* With a commit gap (async durability) a record published right after a
 * commit waits for the gap, unless its batch is half full; jnFlush never
 * waits for it. The gap here (30 s) never passes during the test. */
static void testCommitGap(void **state)
{
    (void)state;
    jnConfig c;
    smallConfig(&c, tmpDir);
    c.commitGapUs = 30000000;
    jnJournal *j = openOk(&c);
    appendN(j, 1, 1, 0);
    assert_int_equal(pollRounds(j, 200), 1); /* the first commit goes at once */
    appendN(j, 3, 3, 0);
    assert_int_equal(pollRounds(j, 200), 1); /* staged, waiting for the gap */
    jnStats st;
    jnGetStats(j, &st);
    assert_int_equal(st.commits, 1);
    assert_int_equal(jnFlush(j), 0);
    assert_int_equal(jnDurableSeq(j), 4);
    appendN(j, 3, 3, 0);
    assert_int_equal(pollRounds(j, 200), 4); /* a flush does not turn the gap off */
    /* more than half a batch (8 KiB) of records goes without the gap */
    appendN(j, 120, 8, 0);
    assert_true(pollRounds(j, 200) > 7);
    jnClose(j);
}

/* With one segment prepared at open, the writer makes the spare itself and
 * zero-fills it while idle; rotation then moves into it. */
static void testSparePreparedWhileIdle(void **state)
{
    (void)state;
    jnConfig c;
    smallConfig(&c, tmpDir);
    c.readySegments = 1;
    jnJournal *j = openOk(&c);
    jnStats st;
    jnGetStats(j, &st);
    assert_int_equal(st.prefillBytes, SEG_SIZE); /* the first segment, at open */
    for (int i = 0; i < 1000 && st.prefillBytes < 2 * SEG_SIZE; i++) {
        jnWriterPoll(j);
        jnWriterWait(j, 1000);
        jnGetStats(j, &st);
    }
    assert_int_equal(st.prefillBytes, 2 * SEG_SIZE); /* the spare, in the background */
    assert_int_equal(countSegments(tmpDir), 2);
    appendN(j, 2000, 8, 0);
    assert_int_equal(jnFlush(j), 0);
    jnGetStats(j, &st);
    assert_true(st.rotations >= 2);
    jnClose(j);
    int rc;
    jnError err;
    assert_int_equal(readAll(tmpDir, 0, &rc, &err, NULL), 2000);
    assert_int_equal(rc, 0);
}

static void testEmptyAndLargestPayloads(void **state)
{
    (void)state;
    jnConfig c;
    smallConfig(&c, tmpDir);
    jnJournal *j = openOk(&c);
    static unsigned char big[MAX_PAY];
    uint64_t seq;
    assert_non_null(jnReserve(j, 1, 0, &seq));
    assert_int_equal(jnAppend(j, 2, big, MAX_PAY), 2);
    assert_null(jnReserve(j, 3, MAX_PAY + 1, &seq));
    assert_int_equal(jnLastSeq(j), 2);
    jnPublish(j);
    assert_int_equal(jnFlush(j), 0);
    jnClose(j);
    jnError err;
    jnReader *r = jnReaderOpen(tmpDir, STREAM, 0, &err);
    jnRecord rec;
    assert_int_equal(jnReaderNext(r, &rec, &err), 1);
    assert_int_equal(rec.len, 0);
    assert_int_equal(jnReaderNext(r, &rec, &err), 1);
    assert_int_equal(rec.len, MAX_PAY);
    assert_int_equal(jnReaderNext(r, &rec, &err), 0);
    jnReaderClose(r);
}

static void testReopenContinues(void **state)
{
    (void)state;
    writeStream(700, 0);
    jnConfig c;
    smallConfig(&c, tmpDir);
    c.firstSeq = 5; /* not where the stream is */
    jnError err;
    assert_null(jnOpen(&c, &err));
    assert_int_equal(err.code, JN_ESEQ);
    c.firstSeq = 0;
    jnJournal *j = openOk(&c);
    assert_int_equal(jnDurableSeq(j), 700);
    appendN(j, 300, 8, 0);
    assert_int_equal(jnLastSeq(j), 1000);
    assert_int_equal(jnFlush(j), 0);
    jnClose(j);
    c.firstSeq = 1001; /* explicit and right */
    j = openOk(&c);
    jnClose(j);
    int rc;
    assert_int_equal(readAll(tmpDir, 0, &rc, &err, NULL), 1000);
    assert_int_equal(rc, 0);
}

static void testRingFullFailsCleanly(void **state)
{
    (void)state;
    jnConfig c;
    smallConfig(&c, tmpDir);
    c.ringBytes = 4096;
    c.maxPayload = 1000;
    jnJournal *j = openOk(&c);
    static unsigned char buf[100];
    uint64_t n = 0;
    while (jnAppend(j, 0, buf, sizeof buf))
        n++;
    assert_true(n >= 30 && n <= 4096 / 128); /* 128 bytes a record, no writer */
    assert_int_equal(jnLastSeq(j), n);
    assert_int_equal(jnStatus(j), 0);
    jnPublish(j);
    assert_int_equal(jnFlush(j), 0);
    assert_int_equal(jnDurableSeq(j), n);
    assert_int_equal(jnAppend(j, 0, buf, sizeof buf), n + 1); /* space again */
    jnPublish(j);
    assert_int_equal(jnFlush(j), 0);
    jnClose(j);
}

static void testWriterThread(void **state)
{
    (void)state;
    jnConfig c;
    smallConfig(&c, tmpDir);
    jnJournal *j = openOk(&c);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, jnWriterMain, j), 0);
    const uint64_t n = 20000;
    for (uint64_t k = 1; k <= n; k++) {
        uint64_t seq;
        uint32_t len = payLen(k);
        unsigned char *p;
        while ((p = jnReserve(j, (uint16_t)k, len, &seq)) == NULL) {
            jnPublish(j);
            assert_int_equal(jnStatus(j), 0);
        }
        payFill(seq, p, len);
        if (k % 32 == 0)
            jnPublish(j);
    }
    jnPublish(j);
    while (jnDurableSeq(j) < n)
        ;
    jnWriterStop(j);
    pthread_join(t, NULL);
    jnClose(j);
    int rc;
    jnError err;
    assert_int_equal(readAll(tmpDir, 0, &rc, &err, NULL), n);
    assert_int_equal(rc, 0);
}

/* ---- recovery ---------------------------------------------------------------- */

static void testTornTailTruncated(void **state)
{
    (void)state;
    writeStream(900, 50);
    char file[JN_PATH_MAX];
    uint64_t off = recordAt(tmpDir, 900, file);
    assert_int_equal(truncate(file, (off_t)(off + 10)), 0); /* mid-record */
    int rc;
    jnError err;
    jnReadReport rep;
    assert_int_equal(readAll(tmpDir, 0, &rc, &err, &rep), 899);
    assert_int_equal(rc, 0);
    assert_int_equal(rep.torn, 1);
    assert_int_equal(rep.cut, 0);
    assert_int_equal(rep.tornOffset, off);
    assert_string_equal(rep.tornFile, file);
    jnConfig c;
    smallConfig(&c, tmpDir);
    assert_null(jnOpen(&c, &err)); /* appending after a torn tail is refused */
    assert_int_equal(err.code, JN_ETORN);
    assert_int_equal(readAll(tmpDir, JN_RD_REPAIR, &rc, &err, &rep), 899);
    assert_int_equal(rep.cut, 1);
    assert_int_equal(fileSize(file), off);
    assert_int_equal(readAll(tmpDir, 0, &rc, &err, &rep), 899);
    assert_int_equal(rep.torn, 0);
    jnJournal *j = openOk(&c);
    assert_int_equal(jnLastSeq(j), 899);
    appendN(j, 101, 8, 0);
    assert_int_equal(jnFlush(j), 0);
    jnClose(j);
    assert_int_equal(readAll(tmpDir, 0, &rc, &err, &rep), 1000);
    assert_int_equal(rc, 0);
}

static void testGarbageAfterLastRecord(void **state)
{
    (void)state;
    writeStream(500, 25);
    char file[JN_PATH_MAX];
    uint64_t off = recordAt(tmpDir, 500, file) + jnRecSize(payLen(500));
    int fd = open(file, O_RDWR);
    unsigned char junk[300];
    for (unsigned i = 0; i < sizeof junk; i++)
        junk[i] = (unsigned char)(i * 13 + 1);
    assert_int_equal(pwrite(fd, junk, sizeof junk, (off_t)off), (ssize_t)sizeof junk);
    close(fd);
    int rc;
    jnError err;
    jnReadReport rep;
    assert_int_equal(readAll(tmpDir, JN_RD_REPAIR, &rc, &err, &rep), 500);
    assert_int_equal(rc, 0);
    assert_int_equal(rep.torn, 1);
    assert_int_equal(rep.tornOffset, off);
    assert_int_equal(rep.tornBytes, sizeof junk);
    assert_int_equal(rep.cut, 1);
    assert_int_equal(readAll(tmpDir, 0, &rc, &err, &rep), 500);
    assert_int_equal(rep.torn, 0);
}

/* A write of the last commit that reached the disk out of order: a hole in
 * the middle of the commit, intact records of the same commit after it. */
static void testTornLastCommitWithHole(void **state)
{
    (void)state;
    writeStream(400, 40); /* ten commits of 40 */
    char file[JN_PATH_MAX], first[JN_PATH_MAX];
    recordAt(tmpDir, 361, first);
    uint64_t off = recordAt(tmpDir, 370, file);
    assert_string_equal(first, file); /* the last commit is in one segment */
    int fd = open(file, O_RDWR);
    unsigned char zeros[JN_REC_HDR] = {0};
    assert_int_equal(pwrite(fd, zeros, sizeof zeros, (off_t)off), JN_REC_HDR);
    close(fd);
    int rc;
    jnError err;
    jnReadReport rep;
    assert_int_equal(readAll(tmpDir, 0, &rc, &err, &rep), 369);
    assert_int_equal(rc, 0);
    assert_int_equal(rep.torn, 1);
    assert_int_equal(rep.tornRecords, 30); /* 371..400 dropped with the commit */
}

static void testFlippedByteIsCorruption(void **state)
{
    (void)state;
    writeStream(1200, 30);
    for (int pass = 0; pass < 2; pass++) {
        /* pass 0: in the first segment; pass 1: in the last segment, with
         * later commits after it */
        uint64_t victim = pass ? 1140 : 100;
        char file[JN_PATH_MAX];
        uint64_t off = recordAt(tmpDir, victim, file);
        pokeByte(file, off + JN_REC_HDR + 1, 0x40);
        int rc;
        jnError err;
        jnReadReport rep;
        uint64_t n = readAll(tmpDir, 0, &rc, &err, &rep);
        assert_int_equal(n, victim - 1);
        assert_int_equal(rc, -1);
        assert_int_equal(err.code, JN_ECORRUPT);
        assert_string_equal(err.file, file);
        assert_int_equal(err.offset, off);
        char where[64];
        snprintf(where, sizeof where, "offset %llu", (unsigned long long)off);
        assert_non_null(strstr(err.msg, file));
        assert_non_null(strstr(err.msg, where));
        /* recover up to it */
        n = readAll(tmpDir, JN_RD_STOP_AT_BAD | JN_RD_REPAIR, &rc, &err, &rep);
        assert_int_equal(n, victim - 1);
        assert_int_equal(rc, 0);
        assert_int_equal(rep.stoppedAtBad, 1);
        assert_int_equal(rep.bad.code, JN_ECORRUPT);
        assert_int_equal(rep.bad.offset, off);
        assert_int_equal(rep.cut, 0);               /* corruption is never cut */
        pokeByte(file, off + JN_REC_HDR + 1, 0x40); /* undo */
    }
}

static void testHeaderCorruption(void **state)
{
    (void)state;
    writeStream(2000, 0);
    char file[JN_PATH_MAX];
    jnSegPath(file, sizeof file, tmpDir, 2);
    struct stat st;
    assert_int_equal(stat(file, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600); /* records hold session tokens */
    pokeByte(file, 20, 0x01);                  /* first sequence */
    int rc;
    jnError err;
    uint64_t n = readAll(tmpDir, 0, &rc, &err, NULL);
    assert_int_equal(rc, -1);
    assert_int_equal(err.code, JN_EHEADER);
    assert_string_equal(err.file, file);
    assert_int_equal(err.offset, 0);
    assert_non_null(strstr(err.msg, "header CRC"));
    assert_true(n > 0);
    jnReadReport rep;
    assert_int_equal(readAll(tmpDir, JN_RD_STOP_AT_BAD, &rc, &err, &rep), n);
    assert_int_equal(rc, 0);
    assert_int_equal(rep.stoppedAtBad, 1);
    pokeByte(file, 20, 0x01);
    /* the last segment's header is checked as well, also by jnOpen */
    uint32_t *idx;
    size_t nf;
    assert_int_equal(jnListSegments(tmpDir, &idx, &nf, &err), 0);
    jnSegPath(file, sizeof file, tmpDir, idx[nf - 1]);
    free(idx);
    pokeByte(file, 0, 0xFF);
    readAll(tmpDir, 0, &rc, &err, NULL);
    assert_int_equal(err.code, JN_EHEADER);
    assert_non_null(strstr(err.msg, "magic"));
    jnConfig c;
    smallConfig(&c, tmpDir);
    assert_null(jnOpen(&c, &err));
    assert_int_equal(err.code, JN_EHEADER);
}

static void testWrongStream(void **state)
{
    (void)state;
    writeStream(100, 0);
    jnError err;
    jnReader *r = jnReaderOpen(tmpDir, STREAM + 1, 0, &err);
    assert_non_null(r);
    jnRecord rec;
    assert_int_equal(jnReaderNext(r, &rec, &err), -1);
    assert_int_equal(err.code, JN_ESTREAM);
    assert_non_null(strstr(err.msg, "stream 3, expected stream 4"));
    jnReaderClose(r);
    jnConfig c;
    smallConfig(&c, tmpDir);
    c.stream = STREAM + 1;
    assert_null(jnOpen(&c, &err));
    assert_int_equal(err.code, JN_ESTREAM);
}

static void testMissingSegment(void **state)
{
    (void)state;
    writeStream(3000, 0);
    char file[JN_PATH_MAX];
    jnSegPath(file, sizeof file, tmpDir, 2);
    assert_int_equal(unlink(file), 0);
    int rc;
    jnError err;
    readAll(tmpDir, 0, &rc, &err, NULL);
    assert_int_equal(rc, -1);
    assert_int_equal(err.code, JN_ESEQ);
    assert_non_null(strstr(err.msg, "segment 2 missing"));
}

/* ---- failures of the file system ---------------------------------------------- */

static int mountTmpfs(unsigned long flags, const char *opts)
{
    snprintf(mountDir, sizeof mountDir, "%s/mnt", tmpDir);
    if (geteuid() != 0 || mkdir(mountDir, 0755) || mount("tmpfs", mountDir, "tmpfs", flags, opts)) {
        mountDir[0] = 0;
        return -1;
    }
    return 0;
}

static void testDiskFull(void **state)
{
    (void)state;
    if (mountTmpfs(0, "size=1m")) {
        print_message("skipped: needs root to mount a 1 MiB tmpfs\n");
        skip();
    }
    jnConfig c;
    smallConfig(&c, mountDir);
    c.segmentBytes = 384u << 10; /* two fit, the third does not */
    c.prefill = 0;
    jnJournal *j = openOk(&c);
    static unsigned char buf[1000];
    uint64_t appended = 0;
    time_t until = time(NULL) + 10;
    while (!jnStatus(j) && time(NULL) < until) {
        if (jnAppend(j, 9, buf, sizeof buf))
            appended++;
        jnPublish(j);
        if (jnWriterPoll(j) == 0)
            jnWriterWait(j, 1000); /* ring and both buffers full: wait for the disk */
    }
    assert_int_equal(jnStatus(j), ENOSPC);
    assert_non_null(strstr(jnStatusMessage(j), "No space left"));
    assert_int_equal(jnAppend(j, 9, buf, sizeof buf), 0); /* refused, no waiting */
    assert_int_equal(jnFlush(j), -1);                     /* lets the commit in flight finish */
    uint64_t durable = jnDurableSeq(j);
    uint64_t perSeg = ((384u << 10) - JN_DATA_OFF) / jnRecSize(sizeof buf);
    assert_int_equal(durable, 2 * perSeg);
    assert_true(appended > durable);
    jnClose(j);
    jnError err;
    jnReader *r = jnReaderOpen(mountDir, STREAM, 0, &err);
    jnRecord rec;
    uint64_t n = 0;
    while (jnReaderNext(r, &rec, &err) == 1)
        assert_int_equal(rec.seq, ++n);
    assert_int_equal(n, durable);
    assert_int_equal(jnReaderReport(r)->torn, 0);
    jnReaderClose(r);
}

static void testUnwritableDirectory(void **state)
{
    (void)state;
    char file[128], dir[160];
    snprintf(file, sizeof file, "%s/plain", tmpDir);
    int fd = open(file, O_CREAT | O_WRONLY, 0644);
    close(fd);
    snprintf(dir, sizeof dir, "%s/wal", file); /* under a regular file */
    jnConfig c;
    smallConfig(&c, dir);
    jnError err;
    assert_null(jnOpen(&c, &err));
    assert_int_equal(err.code, JN_EIO);
    assert_non_null(strstr(err.msg, dir));
    assert_non_null(strstr(err.msg, strerror(ENOTDIR)));

    const char *expect = strerror(EACCES);
    if (!mountTmpfs(MS_RDONLY, "size=64k")) {
        snprintf(dir, sizeof dir, "%s", mountDir);
        expect = strerror(EROFS);
    } else if (geteuid() != 0) {
        snprintf(dir, sizeof dir, "%s/ro", tmpDir);
        assert_int_equal(mkdir(dir, 0555), 0);
    } else {
        print_message("skipped the read-only half: cannot mount a tmpfs\n");
        return;
    }
    smallConfig(&c, dir);
    assert_null(jnOpen(&c, &err));
    assert_non_null(strstr(err.msg, "directory not writable"));
    assert_non_null(strstr(err.msg, dir));
    assert_non_null(strstr(err.msg, expect));
}

static void testBadConfig(void **state)
{
    (void)state;
    jnConfig c;
    smallConfig(&c, tmpDir);
    c.ringBytes = 5000;
    jnError err;
    assert_null(jnOpen(&c, &err));
    assert_int_equal(err.code, JN_ECONFIG);
    smallConfig(&c, tmpDir);
    c.segmentBytes = 10000;
    assert_null(jnOpen(&c, &err));
    assert_int_equal(err.code, JN_ECONFIG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(testCrcVectors),
        cmocka_unit_test_setup_teardown(testRoundTripRotations, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testSyncModes, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testDurableAdvances, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testCommitGap, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testSparePreparedWhileIdle, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testEmptyAndLargestPayloads, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testReopenContinues, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testRingFullFailsCleanly, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testWriterThread, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testTornTailTruncated, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testGarbageAfterLastRecord, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testTornLastCommitWithHole, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testFlippedByteIsCorruption, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testHeaderCorruption, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testWrongStream, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testMissingSegment, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testDiskFull, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testUnwritableDirectory, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testBadConfig, setUp, tearDown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
