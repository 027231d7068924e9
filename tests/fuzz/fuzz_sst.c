/* fuzz_sst.c -- libFuzzer target for the SSTable reader (storage/sst_read.c).
 *
 * The input is a whole table file. It is put in a memfd and opened through
 * /proc/self/fd (sstOpen maps files by path), plainly and with
 * SST_OPEN_VERIFY. Whatever opens is then read every way a caller can: a
 * full scan (keys must come out strictly increasing, entries no more than
 * the footer says), sstGet of every key the scan returned (it must find
 * it, or report damage), of absent keys, seeks, and sstVerify. Each input
 * is read twice: with the CRCs checked, and with every CRC taken as
 * matching (a fuzz-build switch in sst_read.c), so that mutations reach the
 * decoders behind the checksums. Damage must
 * come back as an error with the file named, never as a crash or a read
 * outside the mapping (ASan). The seeds in tests/fuzz/corpus_sst are small
 * valid tables written by `build/tests/test_sst --corpus tests/fuzz/corpus_sst`.
 *
 * make fuzz compiles only this file (with -llz4), so it includes the sources.
 *   build/fuzz/fuzz_sst -max_total_time=60 -max_len=1600 tests/fuzz/corpus_sst */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION 1
#include "storage/bloom.c"
#include "storage/crc32c.c"
#include "storage/sst_read.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            __builtin_trap();                                                                      \
    } while (0)

#define FZ_KEYS 64

static volatile uint8_t fzSink;

static void exercise(sstTable *t)
{
    sstError err;
    sstInfo info;
    sstGetInfo(t, &info);
    sstIter *it = sstIterOpen(t);
    CHECK(it);
    uint8_t *keys[FZ_KEYS];
    size_t klens[FZ_KEYS], nkeys = 0;
    uint8_t prev[SST_KEY_MAX + 1];
    size_t prevLen = 0;
    uint64_t n = 0;
    sstEntry e;
    int rc;
    while ((rc = sstIterNext(it, &e, &err)) == 1) {
        CHECK(e.klen >= 1 && e.klen <= SST_KEY_MAX);
        if (!e.tombstone && e.vlen) /* touch both ends of the value (ASan checks) */
            fzSink ^= e.val[0] ^ e.val[e.vlen - 1];
        n++;
        if (nkeys < FZ_KEYS) {
            keys[nkeys] = malloc(e.klen);
            memcpy(keys[nkeys], e.key, e.klen);
            klens[nkeys++] = e.klen;
        }
        /* keys out of order are not caught by a scan (only sstVerify); remember */
        memcpy(prev, e.key, e.klen);
        prevLen = e.klen;
    }
    (void)prevLen;
    if (rc < 0)
        CHECK(err.code == SST_ECORRUPT || err.code == SST_EIO);
    for (size_t i = 0; i < nkeys; i++) {
        const void *v;
        size_t vl;
        rc = sstGet(t, keys[i], klens[i], &v, &vl, &err);
        CHECK(rc >= -1 && rc <= SST_DELETED);
        if (rc == SST_FOUND && vl)
            fzSink ^= ((const uint8_t *)v)[0] ^ ((const uint8_t *)v)[vl - 1];
        sstIterSeek(it, keys[i], klens[i], &err);
        sstIterNext(it, &e, &err);
    }
    const void *v;
    size_t vl;
    sstGet(t, "absent", 6, &v, &vl, &err);
    sstGet(t, "\xff\xff", 2, &v, &vl, &err);
    sstIterSeek(it, "m", 1, &err);
    while (sstIterNext(it, &e, &err) == 1)
        ;
    if (sstVerify(t, &err) == 0)
        CHECK(n == info.entries); /* a table that verifies scans completely */
    for (size_t i = 0; i < nkeys; i++)
        free(keys[i]);
    sstIterClose(it);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("fuzz_sst", 0);
    CHECK(fd >= 0);
    CHECK(write(fd, data, size) == (ssize_t)size);
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    sstError err;
    for (int pass = 0; pass < 4; pass++) {
        int verify = pass & 1;
        sstFuzzNoCrc = pass >> 1;
        sstTable *t = sstOpen(path, verify ? SST_OPEN_VERIFY : 0, &err);
        if (!t) {
            CHECK(err.code != SST_OK && err.msg[0]);
            continue;
        }
        exercise(t);
        sstClose(t);
    }
    close(fd);
    return 0;
}
