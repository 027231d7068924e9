/* test_sst.c -- unit tests of SSTables (storage/sst_write.c, sst_read.c) and the bloom filter.
 *
 * Tables are written from generated key sets (varying lengths, shared
 * prefixes, tombstones, values up to 200 KiB) with every block size, restart
 * interval and compression, then read back: every key by sstGet, absent keys,
 * a full scan and seeks to present and absent keys, all compared with the
 * generated set. The bloom filter's false-positive rate is measured on keys
 * never added and compared with the plain-bloom formula. Damage is made by
 * flipping bytes of the file at offsets taken from the table itself, and the
 * error must name the file and the damaged block's offset. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
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

#include "storage/bloom.h"
#include "storage/sst.h"
#include "storage/sst_int.h"

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
    snprintf(tmpDir, sizeof tmpDir, "/tmp/xchg-sst-XXXXXX");
    assert_non_null(mkdtemp(tmpDir));
    return 0;
}

static int tearDown(void **state)
{
    (void)state;
    nftw(tmpDir, rmEntry, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

/* ---- generated key sets ------------------------------------------------------------ */

static uint64_t rng = 88172645463325252ull;
static uint64_t next64(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

typedef struct {
    char key[48];
    size_t klen;
    size_t vlen;
    int tomb;
} genEntry;

/* Key i: a shared prefix by group of 64, then the number; sorted because the
 * number is zero-padded. */
static void genKey(genEntry *e, size_t i)
{
    e->klen = (size_t)snprintf(e->key, sizeof e->key, "acct/%04zu/order/%012zu", i / 64, i * 3);
}

/* Value bytes of entry i, deterministic. */
static void genValue(size_t i, uint8_t *out, size_t n)
{
    for (size_t j = 0; j < n; j++)
        out[j] = (uint8_t)(i * 31 + j * 7 + (j >> 8));
}

static genEntry *genSet(size_t n, int bigValues)
{
    genEntry *es = calloc(n, sizeof *es);
    assert_non_null(es);
    for (size_t i = 0; i < n; i++) {
        genKey(&es[i], i);
        uint64_t r = next64();
        es[i].tomb = r % 11 == 0;
        es[i].vlen = es[i].tomb ? 0 : (r >> 8) % 120;
        if (bigValues && !es[i].tomb && r % 997 == 1)
            es[i].vlen = 200000 + (r >> 20) % 1000;
    }
    return es;
}

static void writeTable(const char *path, const genEntry *es, size_t n, const sstOptions *o,
                       sstInfo *info)
{
    sstError err;
    sstWriter *w = sstWriterOpen(path, o, &err);
    assert_non_null(w);
    uint8_t *v = malloc(210000);
    for (size_t i = 0; i < n; i++) {
        genValue(i, v, es[i].vlen);
        int rc = es[i].tomb ? sstWriterDelete(w, es[i].key, es[i].klen, &err)
                            : sstWriterAdd(w, es[i].key, es[i].klen, v, es[i].vlen, &err);
        assert_int_equal(rc, 0);
    }
    free(v);
    assert_int_equal(sstWriterFinish(w, info, &err), 0);
}

/* Every key found with its value, absent keys not found, full scan in
 * order, seeks land on the right entry. */
static void checkTable(sstTable *t, const genEntry *es, size_t n)
{
    sstError err;
    uint8_t *v = malloc(210000);
    for (size_t i = 0; i < n; i++) {
        const void *got;
        size_t glen;
        int rc = sstGet(t, es[i].key, es[i].klen, &got, &glen, &err);
        if (es[i].tomb) {
            assert_int_equal(rc, SST_DELETED);
            continue;
        }
        assert_int_equal(rc, SST_FOUND);
        assert_int_equal(glen, es[i].vlen);
        genValue(i, v, glen);
        assert_memory_equal(got, v, glen);
    }
    /* absent keys between and around the present ones */
    for (size_t i = 0; i < n; i += 7) {
        char k[64];
        int kl = snprintf(k, sizeof k, "acct/%04zu/order/%012zu", i / 64, i * 3 + 1);
        const void *got;
        size_t glen;
        assert_int_equal(sstGet(t, k, (size_t)kl, &got, &glen, &err), SST_NOT_FOUND);
    }
    const void *got;
    size_t glen;
    assert_int_equal(sstGet(t, "a", 1, &got, &glen, &err), SST_NOT_FOUND);
    assert_int_equal(sstGet(t, "zzz", 3, &got, &glen, &err), SST_NOT_FOUND);

    sstIter *it = sstIterOpen(t);
    assert_non_null(it);
    sstEntry e;
    size_t i = 0;
    while (sstIterNext(it, &e, &err) == 1) {
        assert_true(i < n);
        assert_int_equal(e.klen, es[i].klen);
        assert_memory_equal(e.key, es[i].key, e.klen);
        assert_int_equal(e.tombstone, es[i].tomb);
        assert_int_equal(e.vlen, es[i].vlen);
        i++;
    }
    assert_int_equal(i, n);
    for (size_t j = 0; j < n; j += 13) {
        /* an exact key, then a key just before it */
        assert_int_equal(sstIterSeek(it, es[j].key, es[j].klen, &err), 0);
        assert_int_equal(sstIterNext(it, &e, &err), 1);
        assert_memory_equal(e.key, es[j].key, es[j].klen);
        char k[64];
        memcpy(k, es[j].key, es[j].klen);
        k[es[j].klen - 1]--;
        assert_int_equal(sstIterSeek(it, k, es[j].klen, &err), 0);
        assert_int_equal(sstIterNext(it, &e, &err), 1);
        assert_memory_equal(e.key, es[j].key, es[j].klen);
        if (j + 1 < n) {
            assert_int_equal(sstIterNext(it, &e, &err), 1);
            assert_memory_equal(e.key, es[j + 1].key, es[j + 1].klen);
        }
    }
    assert_int_equal(sstIterSeek(it, "zzz", 3, &err), 0);
    assert_int_equal(sstIterNext(it, &e, &err), 0);
    sstIterClose(it);
    free(v);
}

static void roundTrip(uint32_t blockSize, uint32_t restart, int compression, size_t n, int big)
{
    char path[128];
    snprintf(path, sizeof path, "%s/t-%u-%u-%d.sst", tmpDir, blockSize, restart, compression);
    genEntry *es = genSet(n, big);
    sstOptions o;
    sstOptionsDefaults(&o);
    o.blockSize = blockSize;
    o.restartInterval = restart;
    o.compression = compression;
    o.sync = 0;
    o.userMeta = "checkpoint seq=42";
    o.userMetaLen = 17;
    sstInfo wi, ri;
    writeTable(path, es, n, &o, &wi);
    assert_int_equal(access(path, F_OK), 0);
    char tmp[140];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    assert_int_equal(access(tmp, F_OK), -1); /* published by rename */
    sstError err;
    sstTable *t = sstOpen(path, SST_OPEN_VERIFY, &err);
    if (!t)
        fail_msg("%s", err.msg);
    sstGetInfo(t, &ri);
    assert_int_equal(ri.entries, n);
    assert_int_equal(ri.entries, wi.entries);
    assert_int_equal(ri.tombstones, wi.tombstones);
    assert_int_equal(ri.dataBlocks, wi.dataBlocks);
    assert_int_equal(ri.fileBytes, wi.fileBytes);
    assert_int_equal(ri.compression, compression);
    size_t ml;
    const void *m = sstUserMeta(t, &ml);
    assert_int_equal(ml, 17);
    assert_memory_equal(m, "checkpoint seq=42", 17);
    size_t kl;
    const void *k = sstSmallest(t, &kl);
    assert_int_equal(kl, es[0].klen);
    assert_memory_equal(k, es[0].key, kl);
    k = sstLargest(t, &kl);
    assert_memory_equal(k, es[n - 1].key, kl);
    checkTable(t, es, n);
    sstClose(t);
    free(es);
}

static void testRoundTrips(void **state)
{
    (void)state;
    roundTrip(4096, 16, SST_COMPRESS_NONE, 20000, 0);
    roundTrip(4096, 1, SST_COMPRESS_NONE, 3000, 0);
    roundTrip(16384, 16, SST_COMPRESS_LZ4, 20000, 0);
    roundTrip(65536, 128, SST_COMPRESS_LZ4, 20000, 1);
    roundTrip(65536, 16, SST_COMPRESS_NONE, 5000, 1);
    roundTrip(4096, 3, SST_COMPRESS_NONE, 1, 0);
}

static void testLz4Smaller(void **state)
{
    (void)state;
    /* values of repeated bytes compress; the LZ4 table must be smaller */
    char p1[128], p2[128];
    snprintf(p1, sizeof p1, "%s/raw.sst", tmpDir);
    snprintf(p2, sizeof p2, "%s/lz4.sst", tmpDir);
    sstInfo a, b;
    for (int c = 0; c < 2; c++) {
        sstOptions o;
        sstOptionsDefaults(&o);
        o.sync = 0;
        o.compression = c ? SST_COMPRESS_LZ4 : SST_COMPRESS_NONE;
        sstError err;
        sstWriter *w = sstWriterOpen(c ? p2 : p1, &o, &err);
        assert_non_null(w);
        char v[100];
        memset(v, 'x', sizeof v);
        for (int i = 0; i < 10000; i++) {
            char k[32];
            int kl = snprintf(k, sizeof k, "k%08d", i);
            assert_int_equal(sstWriterAdd(w, k, (size_t)kl, v, sizeof v, &err), 0);
        }
        assert_int_equal(sstWriterFinish(w, c ? &b : &a, &err), 0);
    }
    assert_true(b.fileBytes * 3 < a.fileBytes);
}

static void testEmptyTable(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/empty.sst", tmpDir);
    sstError err;
    sstWriter *w = sstWriterOpen(path, NULL, &err);
    assert_non_null(w);
    assert_int_equal(sstWriterFinish(w, NULL, &err), 0);
    sstTable *t = sstOpen(path, SST_OPEN_VERIFY, &err);
    assert_non_null(t);
    const void *v;
    size_t vl;
    assert_int_equal(sstGet(t, "a", 1, &v, &vl, &err), SST_NOT_FOUND);
    sstIter *it = sstIterOpen(t);
    sstEntry e;
    assert_int_equal(sstIterNext(it, &e, &err), 0);
    assert_int_equal(sstIterSeek(it, "a", 1, &err), 0);
    assert_int_equal(sstIterNext(it, &e, &err), 0);
    sstIterClose(it);
    sstClose(t);
}

static void testWriterRejects(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/bad.sst", tmpDir);
    sstError err;
    sstOptions o;
    sstOptionsDefaults(&o);
    o.blockSize = 1024;
    assert_null(sstWriterOpen(path, &o, &err));
    assert_int_equal(err.code, SST_EARG);
    o.blockSize = 128 << 10;
    assert_null(sstWriterOpen(path, &o, &err));
    sstWriter *w = sstWriterOpen(path, NULL, &err);
    assert_non_null(w);
    assert_int_equal(sstWriterAdd(w, "b", 1, "1", 1, &err), 0);
    assert_int_equal(sstWriterAdd(w, "b", 1, "1", 1, &err), -1); /* duplicate */
    assert_int_equal(err.code, SST_EARG);
    assert_int_equal(sstWriterAdd(w, "a", 1, "1", 1, &err), -1); /* smaller */
    assert_int_equal(sstWriterAdd(w, "", 0, "1", 1, &err), -1);  /* empty */
    assert_int_equal(sstWriterAdd(w, "ba", 2, "1", 1, &err), 0);
    sstWriterAbort(w);
    assert_int_equal(access(path, F_OK), -1);
    char tmp[140];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    assert_int_equal(access(tmp, F_OK), -1);
    /* an unwritable directory: a clear error, nothing crashes */
    assert_null(sstWriterOpen("/proc/no/such/dir/x.sst", NULL, &err));
    assert_int_equal(err.code, SST_EIO);
    assert_non_null(strstr(err.msg, "cannot create"));
}

/* ---- bloom ------------------------------------------------------------------------- */

static void testBloomRate(void **state)
{
    (void)state;
    const uint32_t bits = 10, n = 100000, probes = 1000000;
    uint32_t k = bloomProbes(bits), lines = bloomLines(n, bits);
    uint8_t *f = calloc(lines, BLOOM_LINE_BYTES);
    char key[32];
    for (uint32_t i = 0; i < n; i++) {
        int kl = snprintf(key, sizeof key, "order-%u", i);
        bloomAdd(f, lines, k, bloomHash(key, (size_t)kl));
    }
    for (uint32_t i = 0; i < n; i++) { /* no false negatives */
        int kl = snprintf(key, sizeof key, "order-%u", i);
        assert_true(bloomMayContain(f, lines, k, bloomHash(key, (size_t)kl)));
    }
    uint32_t fp = 0;
    for (uint32_t i = 0; i < probes; i++) {
        int kl = snprintf(key, sizeof key, "other-%u", i);
        fp += (uint32_t)bloomMayContain(f, lines, k, bloomHash(key, (size_t)kl));
    }
    double rate = (double)fp / probes, target = bloomTargetRate(bits, bloomProbes(bits));
    print_message("bloom: %u bits/key, k=%u: false positives %.4f%%, plain-bloom target "
                  "%.4f%%, ratio %.2f\n",
                  bits, k, rate * 100, target * 100, rate / target);
    assert_true(rate <= 1.5 * target);
    assert_true(rate > 0); /* the test would be vacuous otherwise */
    free(f);
}

/* The table's filter answers "absent" for most absent keys (the lookup does
 * not touch data blocks for them). */
static void testTableBloom(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/bloom.sst", tmpDir);
    genEntry *es = genSet(50000, 0);
    sstOptions o;
    sstOptionsDefaults(&o);
    o.sync = 0;
    writeTable(path, es, 50000, &o, NULL);
    sstError err;
    sstTable *t = sstOpen(path, 0, &err);
    assert_non_null(t);
    uint32_t maybe = 0;
    for (uint32_t i = 0; i < 200000; i++) {
        char k[64];
        int kl = snprintf(k, sizeof k, "absent/%u", i);
        maybe += (uint32_t)sstMayContain(t, k, (size_t)kl);
    }
    for (size_t i = 0; i < 50000; i++)
        assert_true(sstMayContain(t, es[i].key, es[i].klen));
    assert_true(maybe < 200000 * 15 / 1000);
    sstClose(t);
    free(es);
}

/* ---- damage ------------------------------------------------------------------------ */

static void flipByte(const char *path, uint64_t off)
{
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    uint8_t b;
    assert_int_equal(pread(fd, &b, 1, (off_t)off), 1);
    b ^= 0x5a;
    assert_int_equal(pwrite(fd, &b, 1, (off_t)off), 1);
    close(fd);
}

static uint64_t fileSize(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return (uint64_t)st.st_size;
}

/* A data block flipped in the middle of the file: open succeeds (blocks are
 * checked on use), the lookup of a key in that block fails with the block's
 * offset, other blocks still answer; SST_OPEN_VERIFY refuses the table. */
static void testCorruptDataBlock(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/dmg.sst", tmpDir);
    genEntry *es = genSet(20000, 0);
    sstOptions o;
    sstOptionsDefaults(&o);
    o.sync = 0;
    writeTable(path, es, 20000, &o, NULL);
    sstError err;
    /* find the block of key 10000 with an iterator-free probe: its offset is
     * where the reader must point; locate it by damaging and reading back */
    sstTable *t = sstOpen(path, 0, &err);
    assert_non_null(t);
    sstInfo info;
    sstGetInfo(t, &info);
    sstClose(t);
    uint64_t off = info.fileBytes / 2; /* inside the data blocks (index etc. are small) */
    flipByte(path, off);
    t = sstOpen(path, 0, &err);
    assert_non_null(t);
    int bad = 0;
    uint64_t badOff = 0;
    for (size_t i = 0; i < 20000; i++) {
        const void *v;
        size_t vl;
        int rc = sstGet(t, es[i].key, es[i].klen, &v, &vl, &err);
        if (rc < 0) {
            assert_int_equal(err.code, SST_ECORRUPT);
            assert_string_equal(err.file, path);
            assert_true(err.offset <= off && off - err.offset < 4096 + 200);
            assert_non_null(strstr(err.msg, path));
            assert_non_null(strstr(err.msg, "CRC"));
            badOff = err.offset;
            bad++;
        } else
            assert_int_equal(rc, es[i].tomb ? SST_DELETED : SST_FOUND);
    }
    assert_true(bad > 0 && bad < 200); /* one block's keys */
    /* a scan stops at the block with the same report */
    sstIter *it = sstIterOpen(t);
    sstEntry e;
    int rc;
    while ((rc = sstIterNext(it, &e, &err)) == 1)
        ;
    assert_int_equal(rc, -1);
    assert_int_equal(err.offset, badOff);
    sstIterClose(it);
    sstClose(t);
    assert_null(sstOpen(path, SST_OPEN_VERIFY, &err));
    assert_int_equal(err.code, SST_ECORRUPT);
    assert_int_equal(err.offset, badOff);
    free(es);
}

static void testCorruptTail(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/tail.sst", tmpDir);
    genEntry *es = genSet(3000, 0);
    sstOptions o;
    sstOptionsDefaults(&o);
    o.sync = 0;
    writeTable(path, es, 3000, &o, NULL);
    uint64_t size = fileSize(path);
    sstError err;
    /* footer: a flipped CRC byte */
    flipByte(path, size - SST_FOOTER_BYTES + SST_F_CRC);
    assert_null(sstOpen(path, 0, &err));
    assert_int_equal(err.code, SST_ECORRUPT);
    assert_int_equal(err.offset, size - SST_FOOTER_BYTES);
    assert_non_null(strstr(err.msg, "footer CRC"));
    flipByte(path, size - SST_FOOTER_BYTES + SST_F_CRC);
    /* the index block: its offset from the footer */
    int fd = open(path, O_RDONLY);
    uint8_t f[SST_FOOTER_BYTES];
    assert_int_equal(pread(fd, f, sizeof f, (off_t)(size - SST_FOOTER_BYTES)), SST_FOOTER_BYTES);
    close(fd);
    uint64_t io = sstLoad64(f + SST_F_INDEX_OFF), mo = sstLoad64(f + SST_F_META_OFF);
    flipByte(path, io + 3);
    assert_null(sstOpen(path, 0, &err));
    assert_int_equal(err.offset, io);
    assert_non_null(strstr(err.msg, "index block CRC"));
    flipByte(path, io + 3);
    flipByte(path, mo + 1);
    assert_null(sstOpen(path, 0, &err));
    assert_int_equal(err.offset, mo);
    flipByte(path, mo + 1);
    sstTable *t = sstOpen(path, SST_OPEN_VERIFY, &err);
    assert_non_null(t); /* restored: fine again */
    sstClose(t);
    /* truncated: no footer magic */
    assert_int_equal(truncate(path, (off_t)(size - 10)), 0);
    assert_null(sstOpen(path, 0, &err));
    assert_non_null(strstr(err.msg, "magic"));
    assert_int_equal(truncate(path, 0), 0);
    assert_null(sstOpen(path, 0, &err));
    assert_int_equal(err.code, SST_ECORRUPT);
    assert_null(sstOpen("/nonexistent/x.sst", 0, &err));
    assert_int_equal(err.code, SST_EIO);
    free(es);
}

/* Seeds for tests/fuzz/fuzz_sst.c: small valid tables of every kind. */
static int writeCorpus(const char *dir)
{
    static const struct {
        uint32_t restart;
        int compression;
        size_t n;
        uint32_t bloom;
    } kinds[] = {{16, SST_COMPRESS_NONE, 0, 10},
                 {16, SST_COMPRESS_NONE, 12, 10},
                 {1, SST_COMPRESS_NONE, 8, 0},
                 {4, SST_COMPRESS_LZ4, 14, 10},
                 {2, SST_COMPRESS_NONE, 20, 4}};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/seed-%zu.sst", dir, i);
        sstOptions o;
        sstOptionsDefaults(&o);
        o.restartInterval = kinds[i].restart;
        o.compression = kinds[i].compression;
        o.bloomBitsPerKey = kinds[i].bloom;
        o.sync = 0;
        sstError err;
        sstWriter *w = sstWriterOpen(path, &o, &err);
        if (!w)
            return fprintf(stderr, "%s\n", err.msg), 1;
        for (size_t k = 0; k < kinds[i].n; k++) {
            char key[16], val[40];
            int kl = snprintf(key, sizeof key, "key%04zu", k * 3);
            memset(val, 'a' + (int)(k % 26), sizeof val);
            if (k % 5 == 4)
                sstWriterDelete(w, key, (size_t)kl, &err);
            else
                sstWriterAdd(w, key, (size_t)kl, val, k % 40, &err);
        }
        if (sstWriterFinish(w, NULL, &err) < 0)
            return fprintf(stderr, "%s\n", err.msg), 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--corpus") == 0)
        return writeCorpus(argv[2]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(testRoundTrips, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testLz4Smaller, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testEmptyTable, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testWriterRejects, setUp, tearDown),
        cmocka_unit_test(testBloomRate),
        cmocka_unit_test_setup_teardown(testTableBloom, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testCorruptDataBlock, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testCorruptTail, setUp, tearDown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
