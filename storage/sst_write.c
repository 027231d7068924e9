/* sst_write.c -- SSTable writer: blocks with prefix-compressed keys, index, bloom, meta, footer.
 *
 * The table is written sequentially to PATH.tmp through a 256 KiB buffer;
 * sstWriterFinish fsyncs it, renames it to PATH and fsyncs the directory,
 * so a reader (or a crash) sees a complete table or none. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <lz4.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "storage/bloom.h"
#include "storage/crc32c.h"
#include "storage/sst.h"
#include "storage/sst_int.h"

#define SST_OUT_BUF (256u << 10)

/* A growable byte buffer. */
typedef struct {
    uint8_t *p;
    size_t len, cap;
} sstBuf;

/* One block being built: entries, then the restart array. */
typedef struct {
    sstBuf data;
    uint32_t *restarts;
    uint32_t nrestarts, rcap;
    uint32_t sinceRestart, interval;
    sstBuf last; /* last key added */
    uint32_t entries;
} sstBlock;

struct sstWriter {
    int fd;
    int failed;
    char path[SST_PATH_MAX];
    char tmp[SST_PATH_MAX + 8];
    sstOptions o;
    sstBlock block, index;
    uint64_t offset; /* bytes handed to the file so far (buffered included) */
    sstBuf out;      /* write buffer */
    sstBuf packed;   /* compression output */
    uint64_t *hashes;
    size_t nhashes, hcap;
    sstBuf smallest, userMeta;
    sstInfo info;
};

void sstOptionsDefaults(sstOptions *o)
{
    memset(o, 0, sizeof *o);
    o->blockSize = 4096;
    o->restartInterval = 16;
    o->bloomBitsPerKey = 10;
    o->compression = SST_COMPRESS_NONE;
    o->sync = 1;
}

/* ---- buffers ------------------------------------------------------------------ */

static int bufReserve(sstBuf *b, size_t extra)
{
    if (b->len + extra <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra)
        cap *= 2;
    uint8_t *p = realloc(b->p, cap);
    if (!p)
        return -1;
    b->p = p;
    b->cap = cap;
    return 0;
}

static int bufAppend(sstBuf *b, const void *p, size_t n)
{
    if (bufReserve(b, n) < 0)
        return -1;
    if (n)
        memcpy(b->p + b->len, p, n);
    b->len += n;
    return 0;
}

static int bufVarint(sstBuf *b, uint64_t v)
{
    if (bufReserve(b, 10) < 0)
        return -1;
    b->len += sstPutVarint(b->p + b->len, v);
    return 0;
}

/* ---- block builder --------------------------------------------------------------- */

static void blockReset(sstBlock *b)
{
    b->data.len = 0;
    b->nrestarts = 0;
    b->sinceRestart = 0;
    b->last.len = 0;
    b->entries = 0;
}

static void blockFree(sstBlock *b)
{
    free(b->data.p);
    free(b->restarts);
    free(b->last.p);
}

/* Appends an entry: varint shared, varint unshared, varint (vlen << 1 |
 * tombstone), the unshared key bytes, the value. */
static int blockAdd(sstBlock *b, const uint8_t *key, size_t klen, const void *val, size_t vlen,
                    int tomb)
{
    size_t shared = 0;
    if (b->sinceRestart >= b->interval || b->entries == 0) {
        if (b->nrestarts == b->rcap) {
            uint32_t cap = b->rcap ? b->rcap * 2 : 64;
            uint32_t *r = realloc(b->restarts, cap * sizeof *r);
            if (!r)
                return -1;
            b->restarts = r;
            b->rcap = cap;
        }
        b->restarts[b->nrestarts++] = (uint32_t)b->data.len;
        b->sinceRestart = 0;
    } else {
        size_t n = klen < b->last.len ? klen : b->last.len;
        while (shared < n && b->last.p[shared] == key[shared])
            shared++;
    }
    if (bufVarint(&b->data, shared) < 0 || bufVarint(&b->data, klen - shared) < 0 ||
        bufVarint(&b->data, ((uint64_t)vlen << 1) | (tomb ? 1 : 0)) < 0 ||
        bufAppend(&b->data, key + shared, klen - shared) < 0 || bufAppend(&b->data, val, vlen) < 0)
        return -1;
    b->last.len = 0;
    if (bufAppend(&b->last, key, klen) < 0)
        return -1;
    b->sinceRestart++;
    b->entries++;
    return 0;
}

/* Bytes the block will have once finished. */
static size_t blockSize(const sstBlock *b)
{
    return b->data.len + 4u * b->nrestarts + 4u;
}

/* Appends the restart array and its count; the block is then b->data. */
static int blockFinish(sstBlock *b)
{
    if (bufReserve(&b->data, 4u * b->nrestarts + 4u) < 0)
        return -1;
    for (uint32_t i = 0; i < b->nrestarts; i++) {
        sstStore32(b->data.p + b->data.len, b->restarts[i]);
        b->data.len += 4;
    }
    sstStore32(b->data.p + b->data.len, b->nrestarts);
    b->data.len += 4;
    return 0;
}

/* ---- file output ------------------------------------------------------------------ */

static int writeAll(sstWriter *w, const uint8_t *p, size_t n, sstError *err)
{
    while (n) {
        ssize_t k = write(w->fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            w->failed = 1;
            sstErrorSet(err, SST_EIO, errno, w->tmp, w->offset, "write: %s", strerror(errno));
            return -1;
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

static int outFlush(sstWriter *w, sstError *err)
{
    int rc = writeAll(w, w->out.p, w->out.len, err);
    w->out.len = 0;
    return rc;
}

static int outWrite(sstWriter *w, const void *p, size_t n, sstError *err)
{
    if (w->out.len + n > w->out.cap && outFlush(w, err) < 0)
        return -1;
    if (n > w->out.cap)
        return writeAll(w, p, n, err);
    memcpy(w->out.p + w->out.len, p, n);
    w->out.len += n;
    return 0;
}

/* Writes a block's stored bytes and its trailer (type, CRC32C of the stored
 * bytes and the type); *off / *len say where the stored bytes went. */
static int writeRawBlock(sstWriter *w, const uint8_t *p, size_t n, uint8_t type, uint64_t *off,
                         uint32_t *len, sstError *err)
{
    uint8_t trailer[SST_TRAILER];
    trailer[0] = type;
    uint32_t crc = crc32cExtend(crc32c(p, n), trailer, 1);
    sstStore32(trailer + 1, crc);
    *off = w->offset;
    *len = (uint32_t)n;
    if (outWrite(w, p, n, err) < 0 || outWrite(w, trailer, SST_TRAILER, err) < 0)
        return -1;
    w->offset += n + SST_TRAILER;
    return 0;
}

/* Compresses with LZ4 when asked and worth it (stored as varint raw length +
 * LZ4 bytes), else stores raw. */
static int writeBlock(sstWriter *w, const uint8_t *p, size_t n, uint64_t *off, uint32_t *len,
                      sstError *err)
{
    if (w->o.compression == SST_COMPRESS_LZ4 && n >= 64) {
        int bound = LZ4_compressBound((int)n);
        w->packed.len = 0;
        if (bufReserve(&w->packed, (size_t)bound + 10) < 0) {
            sstErrorSet(err, SST_EIO, ENOMEM, w->tmp, UINT64_MAX, "out of memory");
            return -1;
        }
        size_t h = sstPutVarint(w->packed.p, n);
        int c = LZ4_compress_default((const char *)p, (char *)w->packed.p + h, (int)n, bound);
        if (c > 0 && h + (size_t)c <= n - n / 8)
            return writeRawBlock(w, w->packed.p, h + (size_t)c, SST_BLK_LZ4, off, len, err);
    }
    return writeRawBlock(w, p, n, SST_BLK_RAW, off, len, err);
}

/* ---- data blocks and index ------------------------------------------------------------ */

/* Ends the current data block: writes it and adds its index entry (last key
 * -> varint offset, varint stored length). */
static int flushDataBlock(sstWriter *w, sstError *err)
{
    sstBlock *b = &w->block;
    if (b->entries == 0)
        return 0;
    uint64_t off;
    uint32_t len;
    if (blockFinish(b) < 0) {
        sstErrorSet(err, SST_EIO, ENOMEM, w->tmp, UINT64_MAX, "out of memory");
        return -1;
    }
    if (writeBlock(w, b->data.p, b->data.len, &off, &len, err) < 0)
        return -1;
    uint8_t handle[20];
    size_t h = sstPutVarint(handle, off);
    h += sstPutVarint(handle + h, len);
    if (blockAdd(&w->index, b->last.p, b->last.len, handle, h, 0) < 0) {
        sstErrorSet(err, SST_EIO, ENOMEM, w->tmp, UINT64_MAX, "out of memory");
        return -1;
    }
    w->info.dataBlocks++;
    blockReset(b);
    return 0;
}

sstWriter *sstWriterOpen(const char *path, const sstOptions *o, sstError *err)
{
    sstOptions def;
    if (!o) {
        sstOptionsDefaults(&def);
        o = &def;
    }
    if (!path || strlen(path) >= SST_PATH_MAX) {
        sstErrorSet(err, SST_EARG, 0, NULL, UINT64_MAX, "path missing or too long");
        return NULL;
    }
    if (o->blockSize < SST_BLOCK_MIN || o->blockSize > SST_BLOCK_MAX || o->restartInterval < 1 ||
        o->restartInterval > 1024 || o->bloomBitsPerKey > 32 ||
        (o->compression != SST_COMPRESS_NONE && o->compression != SST_COMPRESS_LZ4) ||
        o->userMetaLen > SST_USER_META_MAX || (o->userMetaLen && !o->userMeta)) {
        sstErrorSet(err, SST_EARG, 0, path, UINT64_MAX,
                    "bad options (block size 4-64 KiB, restart interval 1-1024, bloom bits "
                    "0-32, compression none or lz4, user meta <= 64 KiB)");
        return NULL;
    }
    sstWriter *w = calloc(1, sizeof *w);
    if (!w || bufReserve(&w->out, SST_OUT_BUF) < 0) {
        if (w)
            free(w);
        sstErrorSet(err, SST_EIO, ENOMEM, path, UINT64_MAX, "out of memory");
        return NULL;
    }
    w->o = *o;
    w->o.userMeta = NULL;
    snprintf(w->path, sizeof w->path, "%s", path);
    snprintf(w->tmp, sizeof w->tmp, "%s.tmp", path);
    w->block.interval = o->restartInterval;
    w->index.interval = 1; /* every index key whole: binary search reads them in place */
    w->info.blockSize = o->blockSize;
    w->info.compression = o->compression;
    if (o->userMetaLen)
        bufAppend(&w->userMeta, o->userMeta, o->userMetaLen);
    w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (w->fd < 0 || (o->userMetaLen && w->userMeta.len != o->userMetaLen)) {
        sstErrorSet(err, SST_EIO, errno, w->tmp, UINT64_MAX, "cannot create: %s", strerror(errno));
        if (w->fd >= 0)
            close(w->fd);
        w->fd = -1;
        sstWriterAbort(w);
        return NULL;
    }
    return w;
}

static int addEntry(sstWriter *w, const void *key, size_t klen, const void *val, size_t vlen,
                    int tomb, sstError *err)
{
    if (w->failed) {
        sstErrorSet(err, SST_EIO, 0, w->tmp, UINT64_MAX, "writer failed earlier");
        return -1;
    }
    if (klen == 0 || klen > SST_KEY_MAX || vlen > SST_VALUE_MAX || !key || (vlen && !val)) {
        sstErrorSet(err, SST_EARG, 0, w->tmp, UINT64_MAX,
                    "key length %zu (1..%u) or value length %zu (<= %u) out of range", klen,
                    SST_KEY_MAX, vlen, SST_VALUE_MAX);
        return -1;
    }
    if (w->info.entries &&
        sstKeyCmp(key, klen, w->block.entries ? w->block.last.p : w->index.last.p,
                  w->block.entries ? w->block.last.len : w->index.last.len) <= 0) {
        sstErrorSet(err, SST_EARG, 0, w->tmp, UINT64_MAX, "keys not strictly increasing");
        return -1;
    }
    if (w->nhashes == w->hcap) {
        size_t cap = w->hcap ? w->hcap * 2 : 1024;
        uint64_t *h = realloc(w->hashes, cap * sizeof *h);
        if (!h) {
            sstErrorSet(err, SST_EIO, ENOMEM, w->tmp, UINT64_MAX, "out of memory");
            return -1;
        }
        w->hashes = h;
        w->hcap = cap;
    }
    if (w->info.entries == 0 && bufAppend(&w->smallest, key, klen) < 0)
        goto nomem;
    if (w->o.bloomBitsPerKey)
        w->hashes[w->nhashes++] = bloomHash(key, klen);
    if (blockAdd(&w->block, key, klen, val, vlen, tomb) < 0)
        goto nomem;
    w->info.entries++;
    w->info.tombstones += tomb ? 1 : 0;
    w->info.keyBytes += klen;
    w->info.valueBytes += vlen;
    if (blockSize(&w->block) >= w->o.blockSize)
        return flushDataBlock(w, err);
    return 0;
nomem:
    w->failed = 1;
    sstErrorSet(err, SST_EIO, ENOMEM, w->tmp, UINT64_MAX, "out of memory");
    return -1;
}

int sstWriterAdd(sstWriter *w, const void *key, size_t klen, const void *val, size_t vlen,
                 sstError *err)
{
    return addEntry(w, key, klen, val, vlen, 0, err);
}

int sstWriterDelete(sstWriter *w, const void *key, size_t klen, sstError *err)
{
    return addEntry(w, key, klen, NULL, 0, 1, err);
}

uint64_t sstWriterEntries(const sstWriter *w)
{
    return w->info.entries;
}

uint64_t sstWriterBytes(const sstWriter *w)
{
    return w->offset + blockSize(&w->block);
}

/* ---- finish ------------------------------------------------------------------------ */

static int writeBloom(sstWriter *w, uint64_t *off, uint32_t *len, sstError *err)
{
    uint32_t lines = 0, k = 0;
    if (w->o.bloomBitsPerKey && w->nhashes) {
        lines = bloomLines(w->nhashes, w->o.bloomBitsPerKey);
        k = bloomProbes(w->o.bloomBitsPerKey);
    }
    size_t n = SST_BLOOM_HDR + (size_t)lines * BLOOM_LINE_BYTES;
    uint8_t *b = calloc(1, n);
    if (!b) {
        sstErrorSet(err, SST_EIO, ENOMEM, w->tmp, UINT64_MAX, "out of memory");
        return -1;
    }
    sstStore32(b, lines);
    sstStore32(b + 4, k);
    for (size_t i = 0; lines && i < w->nhashes; i++)
        bloomAdd(b + SST_BLOOM_HDR, lines, k, w->hashes[i]);
    int rc = writeRawBlock(w, b, n, SST_BLK_RAW, off, len, err);
    free(b);
    return rc;
}

/* Meta block: varints version, entries, tombstones, data blocks, key bytes,
 * value bytes, block size, created (ns), then smallest key, largest key and
 * user meta, each as varint length + bytes. */
static int writeMeta(sstWriter *w, uint64_t *off, uint32_t *len, sstError *err)
{
    sstBuf m = {0};
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    const sstBuf *largest = &w->index.last;
    int bad = bufVarint(&m, SST_VERSION) | bufVarint(&m, w->info.entries) |
              bufVarint(&m, w->info.tombstones) | bufVarint(&m, w->info.dataBlocks) |
              bufVarint(&m, w->info.keyBytes) | bufVarint(&m, w->info.valueBytes) |
              bufVarint(&m, w->o.blockSize) |
              bufVarint(&m, (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec) |
              bufVarint(&m, w->smallest.len) | bufAppend(&m, w->smallest.p, w->smallest.len) |
              bufVarint(&m, largest->len) | bufAppend(&m, largest->p, largest->len) |
              bufVarint(&m, w->userMeta.len) | bufAppend(&m, w->userMeta.p, w->userMeta.len);
    int rc = -1;
    if (bad)
        sstErrorSet(err, SST_EIO, ENOMEM, w->tmp, UINT64_MAX, "out of memory");
    else
        rc = writeRawBlock(w, m.p, m.len, SST_BLK_RAW, off, len, err);
    free(m.p);
    return rc;
}

static int writeFooter(sstWriter *w, uint64_t indexOff, uint32_t indexLen, uint64_t bloomOff,
                       uint32_t bloomLen, uint64_t metaOff, uint32_t metaLen, sstError *err)
{
    uint8_t f[SST_FOOTER_BYTES] = {0};
    sstStore64(f + SST_F_INDEX_OFF, indexOff);
    sstStore32(f + SST_F_INDEX_LEN, indexLen);
    sstStore32(f + SST_F_BLOOM_LEN, bloomLen);
    sstStore64(f + SST_F_BLOOM_OFF, bloomOff);
    sstStore64(f + SST_F_META_OFF, metaOff);
    sstStore32(f + SST_F_META_LEN, metaLen);
    sstStore64(f + SST_F_ENTRIES, w->info.entries);
    sstStore32(f + SST_F_VERSION, SST_VERSION);
    sstStore32(f + SST_F_CRC, crc32c(f, SST_F_CRC));
    sstStore64(f + SST_F_MAGIC, SST_MAGIC);
    if (outWrite(w, f, sizeof f, err) < 0)
        return -1;
    w->offset += sizeof f;
    return 0;
}

static int syncDir(const char *path, sstError *err)
{
    char dir[SST_PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    int fd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) < 0) {
        sstErrorSet(err, SST_EIO, errno, path, UINT64_MAX, "fsync of directory: %s",
                    strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

static int finishFile(sstWriter *w, sstError *err)
{
    uint64_t indexOff, bloomOff, metaOff;
    uint32_t indexLen, bloomLen, metaLen;
    if (flushDataBlock(w, err) < 0)
        return -1;
    if (blockFinish(&w->index) < 0) {
        sstErrorSet(err, SST_EIO, ENOMEM, w->tmp, UINT64_MAX, "out of memory");
        return -1;
    }
    if (writeRawBlock(w, w->index.data.p, w->index.data.len, SST_BLK_RAW, &indexOff, &indexLen,
                      err) < 0 ||
        writeBloom(w, &bloomOff, &bloomLen, err) < 0 || writeMeta(w, &metaOff, &metaLen, err) < 0 ||
        writeFooter(w, indexOff, indexLen, bloomOff, bloomLen, metaOff, metaLen, err) < 0 ||
        outFlush(w, err) < 0)
        return -1;
    if (w->o.sync && fdatasync(w->fd) < 0) {
        sstErrorSet(err, SST_EIO, errno, w->tmp, UINT64_MAX, "fdatasync: %s", strerror(errno));
        return -1;
    }
    if (close(w->fd) < 0) {
        w->fd = -1;
        sstErrorSet(err, SST_EIO, errno, w->tmp, UINT64_MAX, "close: %s", strerror(errno));
        return -1;
    }
    w->fd = -1;
    if (rename(w->tmp, w->path) < 0) {
        sstErrorSet(err, SST_EIO, errno, w->path, UINT64_MAX, "rename from .tmp: %s",
                    strerror(errno));
        return -1;
    }
    w->tmp[0] = 0; /* published: Abort must not remove anything */
    return w->o.sync ? syncDir(w->path, err) : 0;
}

int sstWriterFinish(sstWriter *w, sstInfo *info, sstError *err)
{
    int rc = finishFile(w, err);
    w->info.fileBytes = w->offset;
    if (rc == 0 && info)
        *info = w->info;
    sstWriterAbort(w);
    return rc;
}

void sstWriterAbort(sstWriter *w)
{
    if (!w)
        return;
    if (w->fd >= 0)
        close(w->fd);
    if (w->tmp[0])
        unlink(w->tmp);
    blockFree(&w->block);
    blockFree(&w->index);
    free(w->out.p);
    free(w->packed.p);
    free(w->hashes);
    free(w->smallest.p);
    free(w->userMeta.p);
    free(w);
}
