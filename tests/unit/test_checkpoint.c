/* test_checkpoint.c -- unit tests of checkpoint files (storage/checkpoint.c) and the journal tail
 * (storage/journal_tail.c).
 *
 * Checkpoints: records given in any order come back sorted; a key given
 * twice is refused; the manifest round-trips; a flipped byte in an SSTable
 * is reported with its file and offset; a damaged or missing manifest is
 * refused; ckPrune keeps the newest. Tail: a cursor follows a stream while
 * a writer thread appends across segment files, never past the limit it is
 * given; it can start after a sequence; jnRetire deletes only covered files
 * and a cursor then cannot start before them; jnStreamRange. */
#define _GNU_SOURCE
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
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "storage/checkpoint.h"
#include "storage/journal.h"

static char tmpDir[64];

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
    snprintf(tmpDir, sizeof tmpDir, "/tmp/xchg-ck-XXXXXX");
    assert_non_null(mkdtemp(tmpDir));
    return 0;
}

static int tearDown(void **state)
{
    (void)state;
    nftw(tmpDir, rmEntry, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

/* ---- checkpoints ---- */

/* Writes checkpoint id: stream 7 with n records "k<i>" (big-endian i) given
 * in a scrambled order, stream 9 with one record. */
static void writeCkpt(uint64_t id, uint32_t n, uint64_t seq)
{
    char err[CK_ERR_MAX];
    ckWriter *w = ckBegin(tmpDir, id, err, sizeof err);
    assert_non_null(w);
    ckptSink sink;
    assert_int_equal(ckStreamBegin(w, 7, seq, &sink), 0);
    for (uint32_t j = 0; j < n; j++) {
        uint32_t i = (j * 7919u) % n; /* n is prime: a permutation */
        uint8_t key[5] = {'k', (uint8_t)(i >> 24), (uint8_t)(i >> 16), (uint8_t)(i >> 8),
                          (uint8_t)i};
        char val[32];
        int vl = snprintf(val, sizeof val, "value-%u", i);
        assert_int_equal(ckptPut(&sink, key, sizeof key, val, (size_t)vl), 0);
    }
    assert_int_equal(ckStreamEnd(w, err, sizeof err), 0);
    assert_int_equal(ckStreamBegin(w, 9, seq + 1, &sink), 0);
    assert_int_equal(ckptPut(&sink, "z", 1, "", 0), 0);
    assert_int_equal(ckStreamEnd(w, err, sizeof err), 0);
    ckManifest m;
    assert_int_equal(ckCommit(w, &m, err, sizeof err), 0);
    assert_int_equal(m.n, 2);
    assert_int_equal(m.s[0].entries, n);
}

static void testRoundTrip(void **state)
{
    (void)state;
    writeCkpt(3, 10007, 500);
    ckManifest m;
    char err[CK_ERR_MAX];
    assert_int_equal(ckLoad(tmpDir, 3, &m, err, sizeof err), 0);
    assert_int_equal(m.id, 3);
    const ckStream *s = ckFind(&m, 7);
    assert_non_null(s);
    assert_int_equal(s->seq, 500);
    assert_int_equal(ckFind(&m, 9)->seq, 501);
    assert_null(ckFind(&m, 8));
    ckptSource src;
    ckReader *r = ckReaderOpen(tmpDir, 3, s, &src, err, sizeof err);
    assert_non_null(r);
    const void *k, *v;
    size_t kl, vl;
    uint32_t i = 0;
    while (ckptNext(&src, &k, &kl, &v, &vl) == 1) {
        const uint8_t *kb = k;
        uint32_t got = (uint32_t)kb[1] << 24 | (uint32_t)kb[2] << 16 | (uint32_t)kb[3] << 8 | kb[4];
        assert_int_equal(got, i);
        char want[32];
        int wl = snprintf(want, sizeof want, "value-%u", i);
        assert_int_equal(vl, (size_t)wl);
        assert_memory_equal(v, want, vl);
        i++;
    }
    assert_int_equal(i, 10007);
    ckReaderClose(r);
}

static void testDuplicateKeyRefused(void **state)
{
    (void)state;
    char err[CK_ERR_MAX];
    ckWriter *w = ckBegin(tmpDir, 1, err, sizeof err);
    ckptSink sink;
    ckStreamBegin(w, 0, 1, &sink);
    ckptPut(&sink, "ab", 2, "1", 1);
    ckptPut(&sink, "ab", 2, "2", 1);
    assert_int_equal(ckStreamEnd(w, err, sizeof err), -1);
    assert_non_null(strstr(err, "twice"));
    ckAbort(w);
    uint64_t ids[4];
    assert_int_equal(ckList(tmpDir, ids, 4), 0); /* aborted: nothing left */
}

static void flipByte(const char *path, long at)
{
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    uint8_t b;
    assert_int_equal(pread(fd, &b, 1, at), 1);
    b ^= 0x5a;
    assert_int_equal(pwrite(fd, &b, 1, at), 1);
    close(fd);
}

static void testCorruptSstNamed(void **state)
{
    (void)state;
    writeCkpt(4, 10007, 10);
    char path[256], err[CK_ERR_MAX];
    snprintf(path, sizeof path, "%s/ckpt-%020u/stream-7.sst", tmpDir, 4u);
    flipByte(path, 100); /* inside the first data block */
    ckManifest m;
    assert_int_equal(ckLoad(tmpDir, 4, &m, err, sizeof err), -1);
    assert_non_null(strstr(err, "stream-7.sst"));
    assert_non_null(strstr(err, "offset"));
}

static void testManifestDamageAndAbsence(void **state)
{
    (void)state;
    writeCkpt(5, 11, 10);
    char path[256], err[CK_ERR_MAX];
    ckManifest m;
    snprintf(path, sizeof path, "%s/ckpt-%020u/MANIFEST", tmpDir, 5u);
    flipByte(path, 25); /* in the id line */
    assert_int_equal(ckLoad(tmpDir, 5, &m, err, sizeof err), -1);
    assert_non_null(strstr(err, "manifest CRC mismatch"));
    unlink(path);
    assert_int_equal(ckLoad(tmpDir, 5, &m, err, sizeof err), -1);
    assert_non_null(strstr(err, "MANIFEST"));
}

static void testPruneKeepsNewest(void **state)
{
    (void)state;
    for (uint64_t id = 1; id <= 5; id++)
        writeCkpt(id, 11, id * 10);
    char err[CK_ERR_MAX];
    ckWriter *unfinished = ckBegin(tmpDir, 6, err, sizeof err); /* in the works */
    assert_int_equal(ckPrune(tmpDir, 2), 3);
    uint64_t ids[8];
    assert_int_equal(ckList(tmpDir, ids, 8), 3);
    assert_int_equal(ids[0], 6);
    assert_int_equal(ids[1], 5);
    assert_int_equal(ids[2], 4);
    ckAbort(unfinished);
}

/* ---- tail ---- */

#define T_STREAM 3

static jnJournal *openJournal(void)
{
    jnConfig c;
    jnError e;
    jnConfigDefaults(&c);
    c.dir = tmpDir;
    c.stream = T_STREAM;
    c.segmentBytes = 64u << 10;
    c.ringBytes = 16u << 10;
    c.maxBatchBytes = 16u << 10;
    c.maxPayload = 1024;
    c.idleSleepUs = 20;
    jnJournal *j = jnOpen(&c, &e);
    if (!j)
        fail_msg("%s", e.msg);
    return j;
}

static void appendN(jnJournal *j, uint64_t from, uint64_t n)
{
    for (uint64_t i = from; i < from + n; i++) {
        uint64_t payload[40] = {i};
        while (!jnAppend(j, 1, payload, sizeof payload))
            jnFlush(j);
        if (i % 16 == 0)
            jnPublish(j);
    }
    jnPublish(j);
}

static void testTailFollowsAcrossFiles(void **state)
{
    (void)state;
    jnJournal *j = openJournal();
    jnError e;
    jnTail *t = jnTailOpen(tmpDir, T_STREAM, 1, &e);
    assert_non_null(t);
    jnRecord rec;
    assert_int_equal(jnTailNext(t, jnDurableSeq(j), &rec, &e), 0); /* nothing yet */
    uint64_t next = 1;
    for (int round = 0; round < 5; round++) {
        appendN(j, jnDurableSeq(j) + 1, 700); /* ~2.6 files a round */
        assert_int_equal(jnFlush(j), 0);
        uint64_t limit = jnDurableSeq(j) - 100; /* pretend the last 100 are not durable */
        while (jnTailNext(t, limit, &rec, &e) == 1) {
            assert_int_equal(rec.seq, next);
            uint64_t v;
            memcpy(&v, rec.payload, 8);
            assert_int_equal(v, next);
            next++;
        }
        assert_int_equal(next, limit + 1);
        next = limit + 1;
        /* the rest next round */
        while (jnTailNext(t, jnDurableSeq(j), &rec, &e) == 1)
            next++;
        assert_int_equal(next, jnDurableSeq(j) + 1);
    }
    assert_true(jnTailSegment(t) > 10);
    /* a cursor starting in the middle */
    jnTail *m = jnTailOpen(tmpDir, T_STREAM, 1234, &e);
    assert_non_null(m);
    assert_int_equal(jnTailNext(m, UINT64_MAX, &rec, &e), 1);
    assert_int_equal(rec.seq, 1234);
    jnTailClose(m);
    uint64_t first, last;
    assert_int_equal(jnStreamRange(tmpDir, T_STREAM, &first, &last, &e), 0);
    assert_int_equal(first, 1);
    assert_int_equal(last, jnDurableSeq(j));
    /* retention: files wholly <= 2000 and below the cursor's file go */
    int k = jnRetire(tmpDir, T_STREAM, 2000, jnTailSegment(t), 1, &e);
    assert_true(k > 0);
    assert_int_equal(jnStreamRange(tmpDir, T_STREAM, &first, &last, &e), 0);
    assert_true(first > 1 && first <= 2001);
    assert_null(jnTailOpen(tmpDir, T_STREAM, 1, &e)); /* gone */
    assert_non_null(strstr(e.msg, "gone"));
    m = jnTailOpen(tmpDir, T_STREAM, 2001, &e);
    assert_non_null(m);
    assert_int_equal(jnTailNext(m, UINT64_MAX, &rec, &e), 1);
    assert_int_equal(rec.seq, 2001);
    jnTailClose(m);
    jnTailClose(t);
    jnClose(j);
}

static void testTailDetectsCorruption(void **state)
{
    (void)state;
    jnJournal *j = openJournal();
    appendN(j, 1, 50);
    assert_int_equal(jnFlush(j), 0);
    char path[256];
    snprintf(path, sizeof path, "%s/seg-0000000001.jnl", tmpDir);
    flipByte(path, 4096 + 24 * 3 + 400); /* inside the third record or so */
    jnError e;
    jnTail *t = jnTailOpen(tmpDir, T_STREAM, 1, &e);
    assert_non_null(t);
    jnRecord rec;
    int rc;
    while ((rc = jnTailNext(t, jnDurableSeq(j), &rec, &e)) == 1)
        ;
    assert_int_equal(rc, -1);
    assert_non_null(strstr(e.msg, "seg-0000000001.jnl"));
    assert_non_null(strstr(e.msg, "offset"));
    jnTailClose(t);
    jnClose(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(testRoundTrip, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testDuplicateKeyRefused, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testCorruptSstNamed, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testManifestDamageAndAbsence, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testPruneKeepsNewest, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testTailFollowsAcrossFiles, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testTailDetectsCorruption, setUp, tearDown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
