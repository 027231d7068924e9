/* journal_fmt.c -- journal format helpers: headers, record CRCs, file names, errors. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/crc32c.h"
#include "storage/journal_int.h"

#if defined(__SSE4_2__) && defined(__x86_64__)
#include <nmmintrin.h>

/* One pass of crc32 instructions (size is a multiple of 8): a third faster
 * than two crc32cExtend calls, and the writer runs it for every record. */
uint32_t jnRecCrc(const unsigned char *rec, uint32_t size)
{
    uint32_t len;
    memcpy(&len, rec, 4);
    uint64_t c = _mm_crc32_u32(~0u, len);
    for (uint32_t off = 8; off < size; off += 8) {
        uint64_t w;
        memcpy(&w, rec + off, 8);
        c = _mm_crc32_u64(c, w);
    }
    return ~(uint32_t)c;
}
#else
uint32_t jnRecCrc(const unsigned char *rec, uint32_t size)
{
    uint32_t c = crc32cExtend(0, rec, 4); /* len */
    return crc32cExtend(c, rec + 8, size - 8);
}
#endif

/* Encoded header, 64 bytes:
 *   0 u32 magic      4 u16 version   6 u16 header bytes
 *   8 u32 stream    12 u32 index    16 u64 first seq   24 u64 segment bytes
 *  32 u32 data off  36 u32 first batch                 40 u64 created ns
 *  48 12 bytes zero                 60 u32 CRC32C of bytes 0..59 */
void jnSegHdrEncode(const jnSegHdr *h, unsigned char *out)
{
    uint32_t magic = JN_MAGIC;
    uint16_t version = JN_VERSION, bytes = JN_HDR_BYTES;
    memset(out, 0, JN_HDR_BYTES);
    memcpy(out + 0, &magic, 4);
    memcpy(out + 4, &version, 2);
    memcpy(out + 6, &bytes, 2);
    memcpy(out + 8, &h->stream, 4);
    memcpy(out + 12, &h->index, 4);
    memcpy(out + 16, &h->firstSeq, 8);
    memcpy(out + 24, &h->segmentBytes, 8);
    memcpy(out + 32, &h->dataOffset, 4);
    memcpy(out + 36, &h->firstBatch, 4);
    memcpy(out + 40, &h->createdNs, 8);
    uint32_t crc = crc32c(out, 60);
    memcpy(out + 60, &crc, 4);
}

static int allZero(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i])
            return 0;
    }
    return 1;
}

int jnSegHdrDecode(const unsigned char *in, jnSegHdr *h, const char **why)
{
    uint32_t magic, crc;
    uint16_t version, bytes;
    if (allZero(in, JN_HDR_BYTES))
        return 1;
    memcpy(&magic, in + 0, 4);
    memcpy(&version, in + 4, 2);
    memcpy(&bytes, in + 6, 2);
    memcpy(&crc, in + 60, 4);
    *why = NULL;
    if (magic != JN_MAGIC)
        *why = "bad magic (not a journal segment)";
    else if (crc != crc32c(in, 60))
        *why = "header CRC mismatch";
    else if (version != JN_VERSION || bytes != JN_HDR_BYTES)
        *why = "unsupported header version";
    if (*why)
        return -1;
    memcpy(&h->stream, in + 8, 4);
    memcpy(&h->index, in + 12, 4);
    memcpy(&h->firstSeq, in + 16, 8);
    memcpy(&h->segmentBytes, in + 24, 8);
    memcpy(&h->dataOffset, in + 32, 4);
    memcpy(&h->firstBatch, in + 36, 4);
    memcpy(&h->createdNs, in + 40, 8);
    if (h->firstSeq == 0 || h->dataOffset < JN_HDR_BYTES || h->dataOffset % 8) {
        *why = "header fields out of range";
        return -1;
    }
    return 0;
}

int jnSegPath(char *out, size_t n, const char *dir, uint32_t index)
{
    int k = snprintf(out, n, "%s/seg-%010u.jnl", dir, index);
    return k < 0 || (size_t)k >= n ? -1 : 0;
}

/* Index of a segment file name, or -1 if name is not one. */
static int64_t segIndexOf(const char *name)
{
    if (strlen(name) != JN_SEG_NAME_LEN || strncmp(name, "seg-", 4) || strcmp(name + 14, ".jnl"))
        return -1;
    uint64_t v = 0;
    for (int i = 4; i < 14; i++) {
        if (name[i] < '0' || name[i] > '9')
            return -1;
        v = v * 10 + (uint64_t)(name[i] - '0');
    }
    return v > UINT32_MAX ? -1 : (int64_t)v;
}

static int cmpU32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

int jnListSegments(const char *dir, uint32_t **idx, size_t *n, jnError *err)
{
    DIR *d = opendir(dir);
    if (!d) {
        jnErrSet(err, JN_EIO, errno, dir, UINT64_MAX, "cannot open directory: %s", strerror(errno));
        return -1;
    }
    size_t cap = 16, k = 0;
    uint32_t *v = malloc(cap * sizeof *v);
    struct dirent *de;
    while (v && (de = readdir(d)) != NULL) {
        int64_t i = segIndexOf(de->d_name);
        if (i < 0)
            continue;
        if (k == cap) {
            uint32_t *nv = realloc(v, 2 * cap * sizeof *v);
            if (!nv) {
                free(v);
                v = NULL;
                break;
            }
            v = nv;
            cap *= 2;
        }
        v[k++] = (uint32_t)i;
    }
    closedir(d);
    if (!v) {
        jnErrSet(err, JN_EIO, ENOMEM, dir, UINT64_MAX, "out of memory listing segments");
        return -1;
    }
    qsort(v, k, sizeof *v, cmpU32);
    *idx = v;
    *n = k;
    return 0;
}

void jnErrSet(jnError *e, int code, int sysErrno, const char *file, uint64_t off, const char *fmt,
              ...)
{
    char text[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    e->code = code;
    e->sysErrno = sysErrno;
    e->offset = off;
    snprintf(e->file, sizeof e->file, "%s", file ? file : "");
    if (file && off != UINT64_MAX)
        snprintf(e->msg, sizeof e->msg, "journal %s: offset %llu: %s", file,
                 (unsigned long long)off, text);
    else if (file)
        snprintf(e->msg, sizeof e->msg, "journal %s: %s", file, text);
    else
        snprintf(e->msg, sizeof e->msg, "journal: %s", text);
}
