/* fuzz_journal.c -- libFuzzer target for the journal reader (storage/journal_read.c).
 *
 * The reader parses segment files from disk at recovery, where a crash or
 * bit rot may have left anything. The input becomes one segment file: its
 * first 64 bytes are the segment header (offset 0), the rest the data from
 * offset 4096 on (so short inputs reach the records). When the first input
 * byte is odd the harness first makes the header CRC and every record CRC
 * right where the lengths allow, so mutations get past the checksums to the
 * sequence, flag, commit-number and torn-tail logic.
 *
 * Checks, for each input: read with JN_RD_REPAIR | JN_RD_STOP_AT_BAD, every
 * delivered record lies inside the file and sequences are consecutive; the
 * report agrees with what was delivered; then a second read of the (maybe
 * cut) file delivers exactly the same records and finds no torn tail any
 * more: a cut tail stays cut, corruption stays where it was.
 *
 * make fuzz compiles only this file, so it includes the reader's sources.
 * Build and run:
 *   clang -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined \
 *     -fno-sanitize-recover=all -Iinclude -I. tests/fuzz/fuzz_journal.c -o build/fuzz/fuzz_journal
 *   build/fuzz/fuzz_journal -max_total_time=60 -max_len=1600 tests/fuzz/corpus_journal
 * The seeds are the start of segments written by xchgd (header block and
 * the first records), cut to fit. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "storage/crc32c.c"
#include "storage/journal_fmt.c"
#include "storage/journal_read.c"

#define FZ_FILE_MAX (JN_DATA_OFF + 4096)

static char fzDir[64];
static char fzPath[128];

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    snprintf(fzDir, sizeof fzDir, "/tmp/fuzz_journal.XXXXXX");
    if (!mkdtemp(fzDir))
        abort();
    jnSegPath(fzPath, sizeof fzPath, fzDir, 1);
    return 0;
}

/* Header and record CRCs made right where lengths allow. */
static void fixCrcs(unsigned char *f, size_t size)
{
    uint32_t crc = crc32c(f, 60);
    memcpy(f + 60, &crc, 4);
    for (uint64_t off = JN_DATA_OFF; off + JN_REC_HDR <= size;) {
        uint32_t len;
        memcpy(&len, f + off, 4);
        if (len > JN_PAYLOAD_LIMIT || off + jnRecSize(len) > size)
            break;
        crc = jnRecCrc(f + off, jnRecSize(len));
        memcpy(f + off + 4, &crc, 4);
        off += jnRecSize(len);
    }
}

typedef struct {
    uint64_t records, lastSeq;
    int rc, torn, stopped;
} fzRun;

static fzRun readAll(uint32_t stream, unsigned flags, size_t size)
{
    fzRun run = {0};
    jnError err;
    jnReader *r = jnReaderOpen(fzDir, stream, flags, &err);
    if (!r) {
        run.rc = -2;
        return run;
    }
    jnRecord rec;
    int rc;
    while ((rc = jnReaderNext(r, &rec, &err)) == 1) {
        if (rec.offset < JN_DATA_OFF || rec.offset + JN_REC_HDR + rec.len > size)
            abort(); /* a record outside the file */
        if (run.records && rec.seq != run.lastSeq + 1)
            abort(); /* sequences must be consecutive */
        run.records++;
        run.lastSeq = rec.seq;
    }
    const jnReadReport *rep = jnReaderReport(r);
    if (rc == 0 && (rep->records != run.records || (run.records && rep->lastSeq != run.lastSeq)))
        abort(); /* the report disagrees with what was delivered */
    if (rc < 0 && err.msg[0] == 0)
        abort(); /* an error without a message */
    run.rc = rc;
    run.torn = rep->torn;
    run.stopped = rep->stoppedAtBad;
    jnReaderClose(r);
    return run;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static unsigned char f[FZ_FILE_MAX];
    const int fix = data[0] & 1;
    data++;
    size--;
    memset(f, 0, sizeof f);
    size_t head = size < JN_HDR_BYTES ? size : JN_HDR_BYTES;
    memcpy(f, data, head);
    size_t rest = size - head < FZ_FILE_MAX - JN_DATA_OFF ? size - head : FZ_FILE_MAX - JN_DATA_OFF;
    memcpy(f + JN_DATA_OFF, data + head, rest);
    size_t fileSize = JN_DATA_OFF + rest;
    if (fix)
        fixCrcs(f, fileSize);
    FILE *out = fopen(fzPath, "wb");
    if (!out || fwrite(f, 1, fileSize, out) != fileSize)
        abort();
    fclose(out);
    uint32_t stream;
    memcpy(&stream, f + 8, 4);
    fzRun a = readAll(stream, JN_RD_REPAIR | JN_RD_STOP_AT_BAD, fileSize);
    fzRun b = readAll(stream, JN_RD_STOP_AT_BAD, fileSize);
    if (a.rc == 0 && (b.rc != 0 || b.records != a.records || b.torn || b.stopped != a.stopped))
        abort(); /* a cut tail must stay cut, the records the same */
    unlink(fzPath);
    return 0;
}
