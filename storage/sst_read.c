/* sst_read.c -- SSTable reader: mmap, footer/index/bloom/meta checks, point get, iterator.
 *
 * The file is mapped read-only. sstOpen checks the footer, the layout of the
 * whole file (blocks back to back from offset 0: data blocks, index, bloom,
 * meta, footer) and the CRCs of index, bloom and meta, and decodes the index
 * into an array. A data block's CRC is checked the first time a lookup or
 * an iterator touches it and remembered in a per-block byte, so steady-state
 * reads do not pay for it. Every decode is bounds-checked: a damaged or
 * hostile file yields SST_ECORRUPT with the offset of the block, never a
 * read outside the mapping (tests/fuzz/fuzz_sst.c). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <lz4.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage/bloom.h"
#include "storage/crc32c.h"
#include "storage/sst.h"
#include "storage/sst_int.h"

#define SST_RAW_MAX ((size_t)SST_VALUE_MAX + 2u * SST_BLOCK_MAX + SST_KEY_MAX + 64u)

/* Fuzz builds (tests/fuzz/fuzz_sst.c) can make every CRC match, so that
 * mutated inputs reach the decoders behind the checksums. */
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
static int sstFuzzNoCrc;
#define SST_CRC_EQ(a, b) (sstFuzzNoCrc || (a) == (b))
#else
#define SST_CRC_EQ(a, b) ((a) == (b))
#endif

/* One data block as the index describes it. */
typedef struct {
    const uint8_t *key; /* last key of the block, in the mapping */
    uint32_t klen;
    uint32_t len; /* stored bytes, trailer excluded */
    uint64_t off;
} sstIdx;

struct sstTable {
    const uint8_t *base;
    size_t size;
    sstIdx *idx;
    uint64_t *pfx; /* first 8 bytes of each index key, big-endian: the binary search
                    * compares these (one dense array) and reads keys only on ties */
    uint32_t nblocks;
    uint8_t *verified; /* per block: 1 once its CRC matched (relaxed atomics) */
    const uint8_t *bloom;
    uint32_t bloomLines, bloomK;
    const uint8_t *smallest, *largest, *userMeta;
    size_t smallestLen, largestLen, userMetaLen;
    sstInfo info;
    char path[SST_PATH_MAX];
};

/* Scratch space of a reader: a decompressed block and the current key. */
typedef struct {
    uint8_t *buf;
    size_t cap;
    uint8_t key[SST_KEY_MAX + 1];
} sstScratch;

/* A decoded view of one block's contents. */
typedef struct {
    const uint8_t *p;   /* first entry */
    const uint8_t *end; /* end of entries = start of the restart array */
    const uint8_t *restarts;
    uint32_t nrestarts;
    uint64_t off; /* file offset, for messages */
} sstView;

struct sstIter {
    sstTable *t;
    sstScratch s;
    uint32_t bi; /* block being read; t->nblocks = end */
    sstView v;
    const uint8_t *pos; /* next entry to decode */
    size_t klen;        /* bytes of s.key that are the current key */
    int pending;        /* sstIterSeek decoded the entry sstIterNext returns next */
    sstEntry pend;
    int done;
};

void sstErrorSet(sstError *err, int code, int sysErrno, const char *file, uint64_t offset,
                 const char *fmt, ...)
{
    if (!err)
        return;
    char what[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    err->code = code;
    err->sysErrno = sysErrno;
    snprintf(err->file, sizeof err->file, "%s", file ? file : "");
    err->offset = offset;
    if (file && *file && offset != UINT64_MAX)
        snprintf(err->msg, sizeof err->msg, "sstable %s: offset %llu: %s", file,
                 (unsigned long long)offset, what);
    else if (file && *file)
        snprintf(err->msg, sizeof err->msg, "sstable %s: %s", file, what);
    else
        snprintf(err->msg, sizeof err->msg, "sstable: %s", what);
}

static int corrupt(const sstTable *t, uint64_t off, sstError *err, const char *what)
{
    sstErrorSet(err, SST_ECORRUPT, 0, t->path, off, "%s", what);
    return -1;
}

/* ---- per-thread scratch of sstGet ----------------------------------------------------- */

static pthread_key_t scratchKey;
static pthread_once_t scratchOnce = PTHREAD_ONCE_INIT;

static void scratchFree(void *p)
{
    sstScratch *s = p;
    if (s)
        free(s->buf);
    free(s);
}

static void scratchInit(void)
{
    pthread_key_create(&scratchKey, scratchFree);
}

static sstScratch *threadScratch(void)
{
    pthread_once(&scratchOnce, scratchInit);
    sstScratch *s = pthread_getspecific(scratchKey);
    if (!s) {
        s = calloc(1, sizeof *s);
        if (s && pthread_setspecific(scratchKey, s) != 0) {
            free(s);
            s = NULL;
        }
    }
    return s;
}

/* ---- blocks ------------------------------------------------------------------------ */

/* Checks the CRC32C over stored bytes + type byte of the block at off. */
static int blockCrcOk(const sstTable *t, uint64_t off, uint32_t len)
{
    const uint8_t *p = t->base + off;
    uint32_t crc = crc32c(p, (size_t)len + 1);
    return SST_CRC_EQ(crc, sstLoad32(p + len + 1));
}

/* Splits block contents into entries and restart array. */
static int viewInit(const sstTable *t, const uint8_t *p, size_t n, uint64_t off, sstView *v,
                    sstError *err)
{
    if (n < 4)
        return corrupt(t, off, err, "block shorter than its restart count");
    uint32_t nr = sstLoad32(p + n - 4);
    if (nr == 0 || (uint64_t)nr * 4 + 4 > n)
        return corrupt(t, off, err, "bad restart count in block");
    v->p = p;
    v->restarts = p + n - 4 - (size_t)nr * 4;
    v->end = v->restarts;
    v->nrestarts = nr;
    v->off = off;
    return 0;
}

/* Makes block bi readable: CRC on first use, LZ4 into s->buf. */
static int blockLoad(sstTable *t, uint32_t bi, sstScratch *s, sstView *v, sstError *err)
{
    const sstIdx *x = &t->idx[bi];
    if (!__atomic_load_n(&t->verified[bi], __ATOMIC_RELAXED)) {
        if (!blockCrcOk(t, x->off, x->len))
            return corrupt(t, x->off, err, "data block CRC mismatch");
        __atomic_store_n(&t->verified[bi], 1, __ATOMIC_RELAXED);
    }
    const uint8_t *p = t->base + x->off;
    uint8_t type = p[x->len];
    if (type == SST_BLK_RAW)
        return viewInit(t, p, x->len, x->off, v, err);
    if (type != SST_BLK_LZ4)
        return corrupt(t, x->off, err, "unknown block type");
    uint64_t raw;
    const uint8_t *q = sstGetVarint(p, p + x->len, &raw);
    if (!q || raw > SST_RAW_MAX || raw < 4)
        return corrupt(t, x->off, err, "bad LZ4 block length");
    if (s->cap < raw) {
        uint8_t *b = realloc(s->buf, raw);
        if (!b) {
            sstErrorSet(err, SST_EIO, ENOMEM, t->path, x->off, "out of memory");
            return -1;
        }
        s->buf = b;
        s->cap = raw;
    }
    int got = LZ4_decompress_safe((const char *)q, (char *)s->buf, (int)(p + x->len - q), (int)raw);
    if (got < 0 || (uint64_t)got != raw)
        return corrupt(t, x->off, err, "LZ4 block does not decompress");
    return viewInit(t, s->buf, raw, x->off, v, err);
}

/* Decodes the entry at *pos into key (prefix from the previous key in
 * key[0..*klen)). Returns the position after it, or NULL if damaged. */
static const uint8_t *entryDecode(const sstView *v, const uint8_t *pos, uint8_t *key, size_t *klen,
                                  sstEntry *e)
{
    uint64_t shared = 0, unshared = 0, vword = 0;
    const uint8_t *q = sstGetVarint(pos, v->end, &shared);
    if (q)
        q = sstGetVarint(q, v->end, &unshared);
    if (q)
        q = sstGetVarint(q, v->end, &vword);
    if (!q || shared > *klen || unshared > SST_KEY_MAX - shared || shared + unshared == 0)
        return NULL;
    uint64_t vlen = vword >> 1;
    if ((uint64_t)(v->end - q) < unshared || (uint64_t)(v->end - q) - unshared < vlen)
        return NULL;
    memcpy(key + shared, q, unshared);
    *klen = shared + unshared;
    e->key = key;
    e->klen = *klen;
    e->tombstone = (int)(vword & 1);
    e->val = e->tombstone ? NULL : q + unshared;
    e->vlen = e->tombstone ? 0 : vlen;
    return q + unshared + vlen;
}

/* The full key stored at restart point i (shared must be 0), in place. */
static int restartKey(const sstView *v, uint32_t i, const uint8_t **key, size_t *klen)
{
    uint32_t off = sstLoad32(v->restarts + (size_t)i * 4);
    if (off >= (size_t)(v->end - v->p))
        return -1;
    const uint8_t *q = v->p + off;
    uint64_t shared = 0, unshared = 0, vword = 0;
    q = sstGetVarint(q, v->end, &shared);
    if (q)
        q = sstGetVarint(q, v->end, &unshared);
    if (q)
        q = sstGetVarint(q, v->end, &vword);
    if (!q || shared != 0 || unshared == 0 || unshared > (uint64_t)(v->end - q))
        return -1;
    *key = q;
    *klen = unshared;
    return 0;
}

/* Positions at the last restart point whose key is < key (0 if none).
 * Returns the entry offset, or -1 on damage. */
static int64_t restartSeek(const sstView *v, const void *key, size_t klen)
{
    uint32_t lo = 0, hi = v->nrestarts - 1;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo + 1) / 2;
        const uint8_t *k;
        size_t kl;
        if (restartKey(v, mid, &k, &kl) < 0)
            return -1;
        if (sstKeyCmp(k, kl, key, klen) < 0)
            lo = mid;
        else
            hi = mid - 1;
    }
    uint32_t off = sstLoad32(v->restarts + (size_t)lo * 4);
    return off < (size_t)(v->end - v->p) ? (int64_t)off : -1;
}

/* The first 8 bytes of a key as a big-endian number, zero-padded: a < b as
 * numbers implies a < b as keys. */
static inline uint64_t keyPrefix(const void *key, size_t klen)
{
    uint8_t b[8] = {0};
    memcpy(b, key, klen < 8 ? klen : 8);
    uint64_t v;
    memcpy(&v, b, 8);
    return __builtin_bswap64(v);
}

/* First block whose last key is >= key, or t->nblocks. */
static uint32_t indexSeek(const sstTable *t, const void *key, size_t klen)
{
    uint64_t kp = keyPrefix(key, klen);
    uint32_t lo = 0, hi = t->nblocks;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        uint64_t p = t->pfx[mid];
        int below = p != kp ? p < kp : sstKeyCmp(t->idx[mid].key, t->idx[mid].klen, key, klen) < 0;
        if (below)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* ---- open -------------------------------------------------------------------------- */

static int checkBlock(const sstTable *t, uint64_t off, uint32_t len, uint64_t limit,
                      const char *name, sstError *err)
{
    char what[64];
    if (off > limit || len > limit - off || limit - off - len < SST_TRAILER) {
        snprintf(what, sizeof what, "%s block out of bounds", name);
        return corrupt(t, off, err, what);
    }
    if (!blockCrcOk(t, off, len)) {
        snprintf(what, sizeof what, "%s block CRC mismatch", name);
        return corrupt(t, off, err, what);
    }
    if (t->base[off + len] != SST_BLK_RAW) {
        snprintf(what, sizeof what, "%s block has a bad type", name);
        return corrupt(t, off, err, what);
    }
    return 0;
}

/* Decodes the index block into t->idx and checks that the data blocks lie
 * back to back from offset 0 up to the index, keys increasing. */
static int loadIndex(sstTable *t, uint64_t off, uint32_t len, sstError *err)
{
    sstView v;
    if (len == 4 && sstLoad32(t->base + off) == 0)
        return 0; /* an empty table: no data blocks */
    if (viewInit(t, t->base + off, len, off, &v, err) < 0)
        return -1;
    if (v.nrestarts > len / 4)
        return corrupt(t, off, err, "index block: bad restart count");
    t->idx = calloc(v.nrestarts, sizeof *t->idx);
    t->pfx = calloc(v.nrestarts, sizeof *t->pfx);
    t->verified = calloc(v.nrestarts, 1);
    if (!t->idx || !t->pfx || !t->verified) {
        sstErrorSet(err, SST_EIO, ENOMEM, t->path, UINT64_MAX, "out of memory");
        return -1;
    }
    uint64_t expect = 0;
    const uint8_t *pos = v.p;
    for (uint32_t i = 0; i < v.nrestarts; i++) {
        const uint8_t *k, *h;
        size_t kl;
        uint64_t boff, blen;
        if (restartKey(&v, i, &k, &kl) < 0 || sstLoad32(v.restarts + (size_t)i * 4) != pos - v.p)
            return corrupt(t, off, err, "index block: bad entry");
        uint64_t vword;
        const uint8_t *q = sstGetVarint(pos, v.end, &vword); /* shared (0) */
        q = q ? sstGetVarint(q, v.end, &vword) : NULL;       /* unshared */
        q = q ? sstGetVarint(q, v.end, &vword) : NULL;       /* value word */
        if (!q || (vword & 1) || (vword >> 1) > (uint64_t)(v.end - q - kl))
            return corrupt(t, off, err, "index block: bad entry");
        h = q + kl;
        const uint8_t *hend = h + (vword >> 1);
        h = sstGetVarint(h, hend, &boff);
        h = h ? sstGetVarint(h, hend, &blen) : NULL;
        if (!h || h != hend || boff != expect || blen > UINT32_MAX ||
            blen + SST_TRAILER > off - boff)
            return corrupt(t, off, err, "index block: bad block handle");
        if (i && sstKeyCmp(t->idx[i - 1].key, t->idx[i - 1].klen, k, kl) >= 0)
            return corrupt(t, off, err, "index block: keys out of order");
        t->idx[i] = (sstIdx){k, (uint32_t)kl, (uint32_t)blen, boff};
        t->pfx[i] = keyPrefix(k, kl);
        expect = boff + blen + SST_TRAILER;
        pos = hend;
    }
    if (expect != off || pos != v.end)
        return corrupt(t, off, err, "index block does not cover the data blocks");
    t->nblocks = v.nrestarts;
    return 0;
}

static int loadBloom(sstTable *t, uint64_t off, uint32_t len, sstError *err)
{
    if (len < SST_BLOOM_HDR)
        return corrupt(t, off, err, "bloom block too short");
    const uint8_t *p = t->base + off;
    uint32_t lines = sstLoad32(p), k = sstLoad32(p + 4);
    if ((uint64_t)lines * BLOOM_LINE_BYTES + SST_BLOOM_HDR != len || k > 16 || (lines && !k))
        return corrupt(t, off, err, "bloom block: bad geometry");
    t->bloom = p + SST_BLOOM_HDR;
    t->bloomLines = lines;
    t->bloomK = k;
    return 0;
}

static const uint8_t *metaBytes(const uint8_t *q, const uint8_t *end, const uint8_t **p, size_t *n)
{
    uint64_t len;
    q = q ? sstGetVarint(q, end, &len) : NULL;
    if (!q || len > (uint64_t)(end - q))
        return NULL;
    *p = q;
    *n = len;
    return q + len;
}

static int loadMeta(sstTable *t, uint64_t off, uint32_t len, uint64_t entries, sstError *err)
{
    const uint8_t *q = t->base + off, *end = q + len;
    uint64_t f[8] = {0};
    for (int i = 0; i < 8 && q; i++)
        q = sstGetVarint(q, end, &f[i]);
    q = metaBytes(q, end, &t->smallest, &t->smallestLen);
    q = metaBytes(q, end, &t->largest, &t->largestLen);
    q = metaBytes(q, end, &t->userMeta, &t->userMetaLen);
    if (!q || f[0] != SST_VERSION || f[1] != entries || f[2] > entries || f[3] != t->nblocks ||
        f[6] < SST_BLOCK_MIN || f[6] > SST_BLOCK_MAX || (entries && !t->smallestLen) ||
        t->smallestLen > SST_KEY_MAX || t->largestLen > SST_KEY_MAX)
        return corrupt(t, off, err, "meta block: bad contents");
    if (t->nblocks && (t->largestLen != t->idx[t->nblocks - 1].klen ||
                       memcmp(t->largest, t->idx[t->nblocks - 1].key, t->largestLen) != 0))
        return corrupt(t, off, err, "meta block: largest key differs from the index");
    t->info.entries = entries;
    t->info.tombstones = f[2];
    t->info.dataBlocks = f[3];
    t->info.keyBytes = f[4];
    t->info.valueBytes = f[5];
    t->info.blockSize = (uint32_t)f[6];
    return 0;
}

static int loadFooter(sstTable *t, sstError *err)
{
    if (t->size < SST_FOOTER_BYTES)
        return corrupt(t, 0, err, "file shorter than a footer");
    uint64_t foff = t->size - SST_FOOTER_BYTES;
    const uint8_t *f = t->base + foff;
    if (sstLoad64(f + SST_F_MAGIC) != SST_MAGIC)
        return corrupt(t, foff, err, "bad magic (not an sstable, or truncated)");
    if (!SST_CRC_EQ(crc32c(f, SST_F_CRC), sstLoad32(f + SST_F_CRC)))
        return corrupt(t, foff, err, "footer CRC mismatch");
    if (sstLoad32(f + SST_F_VERSION) != SST_VERSION) {
        sstErrorSet(err, SST_EVERSION, 0, t->path, foff, "format version %u not supported",
                    sstLoad32(f + SST_F_VERSION));
        return -1;
    }
    uint64_t io = sstLoad64(f + SST_F_INDEX_OFF), bo = sstLoad64(f + SST_F_BLOOM_OFF);
    uint64_t mo = sstLoad64(f + SST_F_META_OFF);
    uint32_t il = sstLoad32(f + SST_F_INDEX_LEN), bl = sstLoad32(f + SST_F_BLOOM_LEN);
    uint32_t ml = sstLoad32(f + SST_F_META_LEN);
    /* the fixed tail layout: index, bloom, meta, footer, back to back */
    if (io > foff || bo != io + il + SST_TRAILER || mo != bo + bl + SST_TRAILER ||
        mo + ml + SST_TRAILER != foff)
        return corrupt(t, foff, err, "footer: block offsets inconsistent");
    if (checkBlock(t, io, il, foff, "index", err) < 0 ||
        checkBlock(t, bo, bl, foff, "bloom", err) < 0 ||
        checkBlock(t, mo, ml, foff, "meta", err) < 0)
        return -1;
    if (loadIndex(t, io, il, err) < 0 || loadBloom(t, bo, bl, err) < 0)
        return -1;
    return loadMeta(t, mo, ml, sstLoad64(f + SST_F_ENTRIES), err);
}

sstTable *sstOpen(const char *path, unsigned flags, sstError *err)
{
    if (!path || strlen(path) >= SST_PATH_MAX) {
        sstErrorSet(err, SST_EARG, 0, NULL, UINT64_MAX, "path missing or too long");
        return NULL;
    }
    sstTable *t = calloc(1, sizeof *t);
    if (!t) {
        sstErrorSet(err, SST_EIO, ENOMEM, path, UINT64_MAX, "out of memory");
        return NULL;
    }
    snprintf(t->path, sizeof t->path, "%s", path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        sstErrorSet(err, SST_EIO, errno, path, UINT64_MAX, "open: %s", strerror(errno));
        if (fd >= 0)
            close(fd);
        free(t);
        return NULL;
    }
    t->size = (size_t)st.st_size;
    if (t->size) {
        void *m = mmap(NULL, t->size, PROT_READ, MAP_SHARED, fd, 0);
        if (m == MAP_FAILED) {
            sstErrorSet(err, SST_EIO, errno, path, UINT64_MAX, "mmap: %s", strerror(errno));
            close(fd);
            free(t);
            return NULL;
        }
        t->base = m;
        if (flags & (SST_OPEN_RANDOM | SST_OPEN_SEQUENTIAL))
            madvise(m, t->size, (flags & SST_OPEN_RANDOM) ? MADV_RANDOM : MADV_SEQUENTIAL);
    }
    close(fd);
    t->info.fileBytes = t->size;
    if (loadFooter(t, err) < 0 || ((flags & SST_OPEN_VERIFY) && sstVerify(t, err) < 0)) {
        sstClose(t);
        return NULL;
    }
    /* what a reader cannot know from the meta block: compression in use */
    t->info.compression = SST_COMPRESS_NONE;
    for (uint32_t i = 0; i < t->nblocks; i++)
        if (t->base[t->idx[i].off + t->idx[i].len] == SST_BLK_LZ4) {
            t->info.compression = SST_COMPRESS_LZ4;
            break;
        }
    return t;
}

void sstClose(sstTable *t)
{
    if (!t)
        return;
    if (t->base)
        munmap((void *)t->base, t->size);
    free(t->idx);
    free(t->pfx);
    free(t->verified);
    free(t);
}

/* ---- lookups ------------------------------------------------------------------------ */

int sstMayContain(const sstTable *t, const void *key, size_t klen)
{
    return bloomMayContain(t->bloom, t->bloomLines, t->bloomK, bloomHash(key, klen));
}

int sstGet(sstTable *t, const void *key, size_t klen, const void **val, size_t *vlen, sstError *err)
{
    if (t->bloomLines && !bloomMayContain(t->bloom, t->bloomLines, t->bloomK, bloomHash(key, klen)))
        return SST_NOT_FOUND;
    uint32_t bi = indexSeek(t, key, klen);
    if (bi >= t->nblocks)
        return SST_NOT_FOUND;
    sstScratch *s = threadScratch();
    if (!s) {
        sstErrorSet(err, SST_EIO, ENOMEM, t->path, UINT64_MAX, "out of memory");
        return -1;
    }
    sstView v;
    if (blockLoad(t, bi, s, &v, err) < 0)
        return -1;
    int64_t at = restartSeek(&v, key, klen);
    if (at < 0)
        return corrupt(t, v.off, err, "data block: bad restart point");
    const uint8_t *pos = v.p + at;
    size_t kl = 0;
    sstEntry e;
    while (pos < v.end) {
        pos = entryDecode(&v, pos, s->key, &kl, &e);
        if (!pos)
            return corrupt(t, v.off, err, "data block: bad entry");
        int c = sstKeyCmp(e.key, e.klen, key, klen);
        if (c < 0)
            continue;
        if (c > 0)
            return SST_NOT_FOUND;
        if (e.tombstone)
            return SST_DELETED;
        *val = e.val;
        *vlen = e.vlen;
        return SST_FOUND;
    }
    return SST_NOT_FOUND;
}

/* Walks one block completely: every entry decodes, keys increase, and the
 * restart points match the entries. Adds its entries to *count. */
static int verifyBlock(sstTable *t, uint32_t bi, sstScratch *s, uint8_t *prev, size_t *prevLen,
                       uint64_t *count, sstError *err)
{
    sstView v;
    if (blockLoad(t, bi, s, &v, err) < 0)
        return -1;
    const uint8_t *pos = v.p;
    size_t kl = 0;
    uint32_t r = 0;
    sstEntry e;
    uint8_t *last = malloc(SST_KEY_MAX + 1);
    if (!last) {
        sstErrorSet(err, SST_EIO, ENOMEM, t->path, UINT64_MAX, "out of memory");
        return -1;
    }
    size_t lastLen = *prevLen;
    memcpy(last, prev, lastLen);
    int rc = 0;
    while (pos < v.end && rc == 0) {
        if (r < v.nrestarts && sstLoad32(v.restarts + (size_t)r * 4) == pos - v.p) {
            r++;
            kl = 0; /* a restart entry shares nothing */
        }
        pos = entryDecode(&v, pos, s->key, &kl, &e);
        if (!pos || (lastLen && sstKeyCmp(last, lastLen, e.key, e.klen) >= 0))
            rc = corrupt(t, v.off, err, "data block: bad entry or key order");
        else {
            memcpy(last, e.key, e.klen);
            lastLen = e.klen;
            (*count)++;
        }
    }
    if (rc == 0 && (r != v.nrestarts || lastLen != t->idx[bi].klen ||
                    memcmp(last, t->idx[bi].key, lastLen) != 0))
        rc = corrupt(t, v.off, err, "data block: restart points or last key disagree with index");
    if (rc == 0) {
        memcpy(prev, last, lastLen);
        *prevLen = lastLen;
    }
    free(last);
    return rc;
}

int sstVerify(sstTable *t, sstError *err)
{
    sstScratch *s = calloc(1, sizeof *s);
    uint8_t *prev = malloc(SST_KEY_MAX + 1);
    size_t prevLen = 0;
    uint64_t count = 0;
    int rc = 0;
    if (!s || !prev) {
        sstErrorSet(err, SST_EIO, ENOMEM, t->path, UINT64_MAX, "out of memory");
        rc = -1;
    }
    for (uint32_t i = 0; rc == 0 && i < t->nblocks; i++)
        rc = verifyBlock(t, i, s, prev, &prevLen, &count, err);
    if (rc == 0 && count != t->info.entries)
        rc = corrupt(t, t->size - SST_FOOTER_BYTES, err, "entry count differs from the footer");
    if (rc == 0 && t->nblocks &&
        (t->smallestLen == 0 ||
         sstKeyCmp(t->smallest, t->smallestLen, t->idx[0].key, t->idx[0].klen) > 0))
        rc = corrupt(t, t->size - SST_FOOTER_BYTES, err, "smallest key inconsistent");
    if (s)
        free(s->buf);
    free(s);
    free(prev);
    return rc;
}

void sstGetInfo(const sstTable *t, sstInfo *info)
{
    *info = t->info;
}

const void *sstSmallest(const sstTable *t, size_t *klen)
{
    *klen = t->smallestLen;
    return t->smallest;
}

const void *sstLargest(const sstTable *t, size_t *klen)
{
    *klen = t->largestLen;
    return t->largest;
}

const void *sstUserMeta(const sstTable *t, size_t *len)
{
    *len = t->userMetaLen;
    return t->userMeta;
}

const char *sstPath(const sstTable *t)
{
    return t->path;
}

/* ---- iterator ------------------------------------------------------------------------ */

sstIter *sstIterOpen(sstTable *t)
{
    sstIter *it = calloc(1, sizeof *it);
    if (!it)
        return NULL;
    it->t = t;
    it->bi = t->nblocks; /* unpositioned: Next starts at the first block */
    it->done = 0;
    it->pos = NULL;
    return it;
}

void sstIterClose(sstIter *it)
{
    if (!it)
        return;
    free(it->s.buf);
    free(it);
}

static int iterLoad(sstIter *it, uint32_t bi, sstError *err)
{
    it->bi = bi;
    it->klen = 0;
    if (bi >= it->t->nblocks) {
        it->done = 1;
        return 0;
    }
    if (blockLoad(it->t, bi, &it->s, &it->v, err) < 0) {
        it->done = 1;
        return -1;
    }
    it->pos = it->v.p;
    return 0;
}

int sstIterSeek(sstIter *it, const void *key, size_t klen, sstError *err)
{
    it->pending = 0;
    it->done = 0;
    uint32_t bi = klen ? indexSeek(it->t, key, klen) : 0;
    if (iterLoad(it, bi, err) < 0)
        return -1;
    if (it->done || klen == 0)
        return 0;
    int64_t at = restartSeek(&it->v, key, klen);
    if (at < 0) {
        it->done = 1;
        return corrupt(it->t, it->v.off, err, "data block: bad restart point");
    }
    it->pos = it->v.p + at;
    while (it->pos < it->v.end) {
        const uint8_t *next = entryDecode(&it->v, it->pos, it->s.key, &it->klen, &it->pend);
        if (!next) {
            it->done = 1;
            return corrupt(it->t, it->v.off, err, "data block: bad entry");
        }
        it->pos = next;
        if (sstKeyCmp(it->pend.key, it->pend.klen, key, klen) >= 0) {
            it->pending = 1;
            return 0;
        }
    }
    /* every key of the block is smaller: cannot happen with a sound index,
     * the next block starts with a larger key */
    return 0;
}

int sstIterNext(sstIter *it, sstEntry *e, sstError *err)
{
    if (it->pending) {
        it->pending = 0;
        *e = it->pend;
        return 1;
    }
    if (it->done)
        return 0;
    if (!it->pos && iterLoad(it, 0, err) < 0)
        return -1;
    while (!it->done && it->pos >= it->v.end)
        if (iterLoad(it, it->bi + 1, err) < 0)
            return -1;
    if (it->done)
        return 0;
    const uint8_t *next = entryDecode(&it->v, it->pos, it->s.key, &it->klen, e);
    if (!next) {
        it->done = 1;
        return corrupt(it->t, it->v.off, err, "data block: bad entry");
    }
    it->pos = next;
    return 1;
}
