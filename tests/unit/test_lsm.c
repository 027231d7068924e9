/* test_lsm.c -- unit tests of the LSM tree (storage/lsm*.c, skl.c): a randomized differential
 * test against an in-memory map, reopen, full compaction, read-only view, damage and locking.
 *
 * The tree runs with a 64 KiB memtable, 64 KiB tables and a 256 KiB level 1,
 * so a few hundred thousand operations flush hundreds of memtables and
 * compact through three or four levels. Every value carries its key number
 * and a version, and the bytes after them are derived from both, so a value
 * read back proves which write it came from. The reference is an array of
 * the last version written per key (0 = deleted or never written). */
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
#include <unistd.h>

#include <cmocka.h>

#include "storage/lsm.h"
#include "storage/skl.h"

#define NKEYS 20000u
#define NOPS  300000u

static char tmpDir[64];
static char mountDir[80]; /* a tmpfs mounted by a test, "" if none */

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
    snprintf(tmpDir, sizeof tmpDir, "/tmp/xchg-lsm-XXXXXX");
    assert_non_null(mkdtemp(tmpDir));
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

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static uint64_t next64(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Key k: "k" + big-endian number + a tail so keys vary in length. */
static size_t makeKey(uint32_t k, uint8_t *out)
{
    out[0] = 'k';
    out[1] = (uint8_t)(k >> 24);
    out[2] = (uint8_t)(k >> 16);
    out[3] = (uint8_t)(k >> 8);
    out[4] = (uint8_t)k;
    size_t tail = k % 7;
    for (size_t i = 0; i < tail; i++)
        out[5 + i] = (uint8_t)('a' + i);
    return 5 + tail;
}

static size_t valueLen(uint32_t k, uint32_t ver)
{
    return 8 + (k * 131u + ver * 7u) % 180u;
}

static size_t makeValue(uint32_t k, uint32_t ver, uint8_t *out)
{
    size_t n = valueLen(k, ver);
    memcpy(out, &k, 4);
    memcpy(out + 4, &ver, 4);
    for (size_t i = 8; i < n; i++)
        out[i] = (uint8_t)(k ^ (ver * 13u) ^ (uint32_t)i);
    return n;
}

/* 1 if v is exactly the value of (k, some version); stores that version. */
static int valueOk(uint32_t k, const uint8_t *v, size_t n, uint32_t *ver)
{
    uint8_t want[256];
    if (n < 8)
        return 0;
    uint32_t kk;
    memcpy(&kk, v, 4);
    memcpy(ver, v + 4, 4);
    return kk == k && makeValue(k, *ver, want) == n && memcmp(want, v, n) == 0;
}

static void smallConfig(lsmConfig *c)
{
    lsmConfigDefaults(c);
    c->dir = tmpDir;
    c->memtableBytes = 64u << 10;
    c->targetFileBytes = 64u << 10;
    c->l1Bytes = 256u << 10;
    c->sst.sync = 0;
}

/* Every key's value equals the reference, and a full scan returns exactly
 * the live keys in order. */
static void checkAll(lsmDb *db, const uint32_t *ref)
{
    sstError err;
    uint8_t key[16], buf[256];
    for (uint32_t k = 0; k < NKEYS; k++) {
        size_t kl = makeKey(k, key), vl;
        int rc = lsmGet(db, key, kl, buf, sizeof buf, &vl, &err);
        assert_true(rc >= 0);
        if (!ref[k]) {
            if (rc != 0)
                fail_msg("key %u: deleted but found", k);
            continue;
        }
        uint32_t ver;
        if (rc != 1 || !valueOk(k, buf, vl, &ver) || ver != ref[k])
            fail_msg("key %u: want version %u, rc %d", k, ref[k], rc);
    }
    lsmIter *it = lsmIterOpen(db, &err);
    assert_non_null(it);
    sstEntry e;
    uint32_t k = 0;
    int rc;
    while ((rc = lsmIterNext(it, &e, &err)) == 1) {
        while (k < NKEYS && !ref[k])
            k++;
        assert_true(k < NKEYS);
        size_t kl = makeKey(k, key);
        assert_int_equal(e.klen, kl);
        assert_memory_equal(e.key, key, kl);
        uint32_t ver;
        assert_true(valueOk(k, e.val, e.vlen, &ver));
        assert_int_equal(ver, ref[k]);
        k++;
    }
    assert_int_equal(rc, 0);
    while (k < NKEYS && !ref[k])
        k++;
    assert_int_equal(k, NKEYS);
    /* seeks land on the next live key */
    for (uint32_t s = 0; s < NKEYS; s += 997) {
        size_t kl = makeKey(s, key);
        assert_int_equal(lsmIterSeek(it, key, kl, &err), 0);
        uint32_t want = s;
        while (want < NKEYS && !ref[want])
            want++;
        rc = lsmIterNext(it, &e, &err);
        if (want == NKEYS) {
            assert_int_equal(rc, 0);
            continue;
        }
        assert_int_equal(rc, 1);
        kl = makeKey(want, key);
        assert_memory_equal(e.key, key, kl);
    }
    lsmIterClose(it);
}

/* Random puts (70%) and deletes over NKEYS keys; gets checked against the
 * reference as it goes. */
static void randomOps(lsmDb *db, uint32_t *ref, uint32_t ops)
{
    sstError err;
    uint8_t key[16], val[256], buf[256];
    for (uint32_t i = 0; i < ops; i++) {
        uint64_t r = next64();
        uint32_t k = (uint32_t)(r % NKEYS);
        size_t kl = makeKey(k, key);
        if ((r >> 32) % 10 < 7) {
            uint32_t ver = ref[k] + 1 + (uint32_t)((r >> 40) % 3);
            size_t vl = makeValue(k, ver, val);
            assert_int_equal(lsmPut(db, key, kl, val, vl, &err), 0);
            ref[k] = ver;
        } else {
            assert_int_equal(lsmDelete(db, key, kl, &err), 0);
            ref[k] = 0;
        }
        if (i % 16 == 0) {
            uint32_t q = (uint32_t)((r >> 20) % NKEYS), ver;
            size_t vl;
            kl = makeKey(q, key);
            int rc = lsmGet(db, key, kl, buf, sizeof buf, &vl, &err);
            if (ref[q])
                assert_true(rc == 1 && valueOk(q, buf, vl, &ver) && ver == ref[q]);
            else
                assert_int_equal(rc, 0);
        }
    }
}

typedef struct {
    lsmDb *db;
    volatile int stop;
    uint64_t reads, bad;
} readerArg;

/* Another thread reading while the writer writes and the tree compacts:
 * whatever it finds must be a well-formed value of the right key. */
static void *readerMain(void *p)
{
    readerArg *a = p;
    uint64_t r = 12345;
    uint8_t key[16], buf[256];
    sstError err;
    while (!a->stop) {
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        uint32_t k = (uint32_t)((r >> 33) % NKEYS), ver;
        size_t kl = makeKey(k, key), vl;
        int rc = lsmGet(a->db, key, kl, buf, sizeof buf, &vl, &err);
        if (rc < 0 || (rc == 1 && !valueOk(k, buf, vl, &ver)))
            a->bad++;
        a->reads++;
    }
    return NULL;
}

static uint64_t countTables(lsmDb *db, uint64_t *entries)
{
    lsmStats st;
    lsmGetStats(db, &st);
    uint64_t n = 0;
    for (int l = 0; l < LSM_LEVELS; l++)
        n += st.files[l];
    (void)entries;
    return n;
}

static void testDifferential(void **state)
{
    (void)state;
    uint32_t *ref = calloc(NKEYS, sizeof *ref);
    lsmConfig c;
    smallConfig(&c);
    sstError err;
    lsmDb *db = lsmOpen(&c, &err);
    if (!db)
        fail_msg("%s", err.msg);
    readerArg ra = {db, 0, 0, 0};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, readerMain, &ra), 0);
    randomOps(db, ref, NOPS);
    ra.stop = 1;
    pthread_join(th, NULL);
    assert_int_equal(ra.bad, 0);
    assert_true(ra.reads > 0);
    checkAll(db, ref); /* memtable + tables, compactions possibly running */
    assert_int_equal(lsmFlush(db, &err), 0);
    assert_int_equal(lsmWaitIdle(db, &err), 0);
    lsmStats st;
    lsmGetStats(db, &st);
    print_message("lsm: %llu flushes, %llu compactions, %llu stalls, files per level %u %u %u %u "
                  "%u, bytes L1 %llu L2 %llu\n",
                  (unsigned long long)st.flushes, (unsigned long long)st.compactions,
                  (unsigned long long)st.stalls, st.files[0], st.files[1], st.files[2], st.files[3],
                  st.files[4], (unsigned long long)st.bytes[1], (unsigned long long)st.bytes[2]);
    assert_true(st.flushes > 50);
    assert_true(st.compactions > 10);
    assert_true(st.files[0] < c.l0Trigger);
    assert_true(st.files[2] > 0); /* compaction went past level 1 */
    assert_true(st.bytes[1] <= c.l1Bytes);
    assert_int_equal(st.failed, 0);
    checkAll(db, ref);

    /* a reader in "another process": the flushed tree, read-only */
    lsmDb *ro = lsmOpenReadOnly(tmpDir, &err);
    if (!ro)
        fail_msg("%s", err.msg);
    checkAll(ro, ref);
    assert_int_equal(lsmPut(ro, "k", 1, "v", 1, &err), -1);
    /* more writes and compactions while the read-only view stays valid */
    uint32_t *ref2 = malloc(NKEYS * sizeof *ref2);
    memcpy(ref2, ref, NKEYS * sizeof *ref);
    randomOps(db, ref2, NOPS / 4);
    assert_int_equal(lsmFlush(db, &err), 0);
    assert_int_equal(lsmWaitIdle(db, &err), 0);
    checkAll(ro, ref); /* its tables are unlinked but still mapped */
    lsmClose(ro);
    memcpy(ref, ref2, NKEYS * sizeof *ref);
    free(ref2);
    lsmClose(db);

    /* reopen: the manifest describes everything (close flushed the memtable) */
    db = lsmOpen(&c, &err);
    if (!db)
        fail_msg("%s", err.msg);
    checkAll(db, ref);
    /* a full compaction keeps every live key and drops the tombstones */
    assert_int_equal(lsmCompactAll(db, &err), 0);
    assert_int_equal(lsmWaitIdle(db, &err), 0);
    checkAll(db, ref);
    uint32_t live = 0;
    for (uint32_t k = 0; k < NKEYS; k++)
        live += ref[k] != 0;
    lsmIter *it = lsmIterOpen(db, &err);
    (void)it;
    lsmIterClose(it);
    assert_true(countTables(db, NULL) > 0);
    lsmClose(db);
    /* the tables hold exactly the live keys: count their entries */
    ro = lsmOpenReadOnly(tmpDir, &err);
    if (!ro)
        fail_msg("%s", err.msg);
    uint64_t entries = 0;
    {
        char path[512];
        uint32_t seen = 0;
        for (uint64_t n = 1; n < 100000 && seen < countTables(ro, NULL); n++) {
            snprintf(path, sizeof path, "%s/%010llu.sst", tmpDir, (unsigned long long)n);
            sstTable *t = sstOpen(path, 0, &err);
            if (!t)
                continue;
            sstInfo info;
            sstGetInfo(t, &info);
            assert_int_equal(info.tombstones, 0);
            entries += info.entries;
            seen++;
            sstClose(t);
        }
    }
    assert_int_equal(entries, live);
    lsmClose(ro);
    free(ref);
}

static void testTimeFlush(void **state)
{
    (void)state;
    lsmConfig c;
    smallConfig(&c);
    c.flushIntervalMs = 50;
    sstError err;
    lsmDb *db = lsmOpen(&c, &err);
    assert_non_null(db);
    assert_int_equal(lsmTick(db, 0), 0); /* empty: nothing to flush */
    assert_int_equal(lsmPut(db, "a", 1, "1", 1, &err), 0);
    lsmStats st;
    lsmGetStats(db, &st);
    uint64_t t0 = 0;
    {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        t0 = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    }
    assert_int_equal(lsmTick(db, t0), 0);               /* too young */
    assert_int_equal(lsmTick(db, t0 + 60000000ull), 1); /* 60 ms later */
    assert_int_equal(lsmWaitIdle(db, &err), 0);
    lsmGetStats(db, &st);
    assert_int_equal(st.flushes, 1);
    assert_int_equal(st.files[0], 1);
    lsmDb *ro = lsmOpenReadOnly(tmpDir, &err);
    if (!ro)
        fail_msg("%s", err.msg);
    char buf[4];
    size_t vl;
    assert_int_equal(lsmGet(ro, "a", 1, buf, sizeof buf, &vl, &err), 1);
    lsmClose(ro);
    lsmClose(db);
}

static void testOpenFailures(void **state)
{
    (void)state;
    lsmConfig c;
    smallConfig(&c);
    sstError err;
    lsmDb *db = lsmOpen(&c, &err);
    assert_non_null(db);
    /* one writer per directory */
    assert_null(lsmOpen(&c, &err));
    assert_non_null(strstr(err.msg, "locked"));
    for (int i = 0; i < 3000; i++) {
        char k[16];
        int kl = snprintf(k, sizeof k, "key%05d", i);
        assert_int_equal(lsmPut(db, k, (size_t)kl, k, (size_t)kl, &err), 0);
    }
    lsmClose(db);
    char path[128], bad[140];
    /* a stray table and a leftover .tmp are removed at open */
    snprintf(path, sizeof path, "%s/0000099999.sst", tmpDir);
    snprintf(bad, sizeof bad, "%s/0000099998.sst.tmp", tmpDir);
    fclose(fopen(path, "w"));
    fclose(fopen(bad, "w"));
    db = lsmOpen(&c, &err);
    if (!db)
        fail_msg("%s", err.msg);
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(access(bad, F_OK), -1);
    lsmClose(db);
    /* a damaged manifest: refused, with the file and the offset */
    snprintf(path, sizeof path, "%s/MANIFEST", tmpDir);
    FILE *f = fopen(path, "r+");
    assert_non_null(f);
    fseek(f, 30, SEEK_SET); /* the first digit of next-file's number */
    int d = fgetc(f);
    assert_true(d >= '1' && d <= '9');
    fseek(f, 30, SEEK_SET);
    fputc(d == '9' ? '1' : d + 1, f);
    fclose(f);
    assert_null(lsmOpen(&c, &err));
    assert_int_equal(err.code, SST_ECORRUPT);
    assert_string_equal(err.file, path);
    if (!strstr(err.msg, "CRC"))
        fail_msg("%s", err.msg);
    assert_null(lsmOpenReadOnly(tmpDir, &err));
    /* a missing manifest with tables present: refused */
    assert_int_equal(unlink(path), 0);
    assert_null(lsmOpen(&c, &err));
    assert_non_null(strstr(err.msg, "MANIFEST missing"));
    /* an unwritable directory: refused with a clear message */
    c.dir = "/proc/xchg-no-such-dir";
    assert_null(lsmOpen(&c, &err));
    assert_non_null(strstr(err.msg, "not writable"));
}

static void testSkiplist(void **state)
{
    (void)state;
    sklList *s = sklCreate(64u << 10);
    assert_non_null(s);
    int n = 0;
    char k[16];
    while (1) {
        int kl = snprintf(k, sizeof k, "%08d", (n * 7919) % 100000);
        if (sklPut(s, k, (size_t)kl, k, (size_t)kl, 0) < 0)
            break;
        n++;
    }
    assert_true(n > 500);
    assert_int_equal(sklCount(s), n);
    assert_true(sklBytes(s) <= 64u << 10);
    sklIter it;
    sklIterSeek(&it, s, NULL, 0);
    sstEntry e, prev = {0};
    int m = 0;
    while (sklIterNext(&it, &e)) {
        if (m)
            assert_true(memcmp(prev.key, e.key, 8) < 0);
        prev = e;
        m++;
    }
    assert_int_equal(m, n);
    const void *v;
    size_t vl;
    assert_int_equal(sklGet(s, "00007919", 8, &v, &vl), SST_FOUND);
    sklReset(s);
    assert_int_equal(sklPut(s, "a", 1, "1", 1, 0), 0);
    assert_int_equal(sklPut(s, "a", 1, NULL, 0, 1), 0);
    assert_int_equal(sklGet(s, "a", 1, &v, &vl), SST_DELETED);
    assert_int_equal(sklPut(s, "a", 1, "22", 2, 0), 0);
    assert_int_equal(sklGet(s, "a", 1, &v, &vl), SST_FOUND);
    assert_int_equal(vl, 2);
    assert_int_equal(sklCount(s), 1);
    sklFree(s);
}

/* A full disk: the background thread's write fails with ENOSPC; the
 * failure is reported by every later write and flush, nothing crashes, and
 * what was installed before stays readable, in the process and after a
 * reopen. */
static void testDiskFull(void **state)
{
    (void)state;
    snprintf(mountDir, sizeof mountDir, "%s/mnt", tmpDir);
    if (geteuid() != 0 || mkdir(mountDir, 0755) ||
        mount("tmpfs", mountDir, "tmpfs", 0, "size=512k")) {
        mountDir[0] = 0;
        print_message("skipped: needs root to mount a 512 KiB tmpfs\n");
        skip();
    }
    lsmConfig c;
    smallConfig(&c);
    c.dir = mountDir;
    sstError err;
    lsmDb *db = lsmOpen(&c, &err);
    assert_non_null(db);
    uint8_t key[16], val[256];
    /* a first part that fits, made durable */
    for (uint32_t k = 0; k < 500; k++) {
        size_t kl = makeKey(k, key), vl = makeValue(k, 1, val);
        assert_int_equal(lsmPut(db, key, kl, val, vl, &err), 0);
    }
    assert_int_equal(lsmFlush(db, &err), 0);
    /* then far more than 512 KiB */
    int rc = 0;
    for (uint32_t i = 0; rc == 0 && i < 200000; i++) {
        uint32_t k = 500 + i % (NKEYS - 500);
        size_t kl = makeKey(k, key), vl = makeValue(k, 2, val);
        rc = lsmPut(db, key, kl, val, vl, &err);
    }
    if (rc == 0)
        rc = lsmFlush(db, &err);
    assert_int_equal(rc, -1);
    assert_int_equal(err.code, SST_EIO);
    assert_int_equal(err.sysErrno, ENOSPC);
    if (!strstr(err.msg, "No space left"))
        fail_msg("%s", err.msg);
    lsmStats st;
    lsmGetStats(db, &st);
    assert_int_equal(st.failed, 1);
    assert_int_equal(lsmPut(db, "k", 1, "v", 1, &err), -1); /* stays failed */
    assert_int_equal(lsmWaitIdle(db, &err), -1);
    uint8_t buf[256];
    size_t vl;
    uint32_t ver;
    for (uint32_t k = 0; k < 500; k++) { /* the first part is intact */
        size_t kl = makeKey(k, key);
        assert_int_equal(lsmGet(db, key, kl, buf, sizeof buf, &vl, &err), 1);
        assert_true(valueOk(k, buf, vl, &ver));
    }
    lsmClose(db);
    lsmDb *ro = lsmOpenReadOnly(mountDir, &err);
    if (!ro)
        fail_msg("%s", err.msg);
    for (uint32_t k = 0; k < 500; k++) {
        size_t kl = makeKey(k, key);
        assert_int_equal(lsmGet(ro, key, kl, buf, sizeof buf, &vl, &err), 1);
        assert_true(valueOk(k, buf, vl, &ver));
    }
    lsmClose(ro);
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(testSkiplist),
        cmocka_unit_test_setup_teardown(testDifferential, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testTimeFlush, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testOpenFailures, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testDiskFull, setUp, tearDown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
