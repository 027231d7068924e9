/* fuzz_manifest.c -- libFuzzer target for the checkpoint manifest reader (storage/checkpoint.c).
 *
 * The input is a whole MANIFEST file. It is written into a checkpoint
 * directory of a scratch root and loaded with ckLoad, which checks the
 * magic line and the CRC line, parses every line and then checks the
 * SSTables it names (absent here, or named with a path: refused). Any input
 * must come back as 0 or -1 with a message, never a crash or an
 * out-of-bounds access (ASan). Seeds in tests/fuzz/corpus_manifest are
 * manifests written by xchgd.
 *
 * make fuzz compiles only this file (with -llz4), so it includes the sources.
 *   build/fuzz/fuzz_manifest -max_total_time=60 tests/fuzz/corpus_manifest */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage/bloom.c"
#include "storage/checkpoint.c"
#include "storage/crc32c.c"
#include "storage/sst_read.c"
#include "storage/sst_write.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char fmRoot[64];
static char fmPath[128];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!fmRoot[0]) {
        snprintf(fmRoot, sizeof fmRoot, "/tmp/fuzz-manifest-XXXXXX");
        if (!mkdtemp(fmRoot))
            abort();
        snprintf(fmPath, sizeof fmPath, "%s/ckpt-%020d", fmRoot, 1);
        mkdir(fmPath, 0700);
        snprintf(fmPath, sizeof fmPath, "%s/ckpt-%020d/MANIFEST", fmRoot, 1);
    }
    FILE *f = fopen(fmPath, "wb");
    if (!f)
        abort();
    fwrite(data, 1, size, f);
    fclose(f);
    ckManifest m;
    char err[CK_ERR_MAX];
    if (ckLoad(fmRoot, 1, &m, err, sizeof err) == 0 && m.n > CK_MAX_STREAMS)
        abort();
    return 0;
}
