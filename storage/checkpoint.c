/* checkpoint.c -- checkpoint directories: SSTables per stream and a manifest replaced atomically.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "storage/checkpoint.h"
#include "storage/crc32c.h"
#include "storage/sst.h"

#define CK_MAGIC_LINE "xchg-checkpoint 1\n"
#define CK_PATH       1024

typedef struct {
    uint8_t *key, *val;
    uint32_t klen, vlen;
} ckRec;

struct ckWriter {
    char dir[CK_PATH];
    ckManifest m;
    ckRec *recs;
    size_t n, cap;
    int failed; /* a put could not be stored */
};

static void ckErr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void ckErr(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static void ckDirPath(char *out, size_t n, const char *root, uint64_t id)
{
    snprintf(out, n, "%s/ckpt-%020" PRIu64, root, id);
}

/* rm -r of a checkpoint directory (it holds files only). */
static void ckRemoveDir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.')
                continue;
            char p[CK_PATH + 64];
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

static int ckFsyncDir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

static void ckFreeRecs(ckWriter *w)
{
    for (size_t i = 0; i < w->n; i++)
        free(w->recs[i].key);
    w->n = 0;
}

ckWriter *ckBegin(const char *root, uint64_t id, char *err, size_t errlen)
{
    ckWriter *w = calloc(1, sizeof *w);
    if (!w) {
        ckErr(err, errlen, "out of memory");
        return NULL;
    }
    if (mkdir(root, 0750) && errno != EEXIST) {
        ckErr(err, errlen, "checkpoint directory %s cannot be created: %s", root, strerror(errno));
        free(w);
        return NULL;
    }
    ckDirPath(w->dir, sizeof w->dir, root, id);
    ckRemoveDir(w->dir); /* an unfinished one of the same id */
    if (mkdir(w->dir, 0750)) {
        ckErr(err, errlen, "%s cannot be created: %s", w->dir, strerror(errno));
        free(w);
        return NULL;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    w->m.id = id;
    w->m.timeNs = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    return w;
}

/* The sink: one allocation per record, key and value side by side. */
static int ckPutRec(void *ctx, const void *key, size_t klen, const void *val, size_t vlen)
{
    ckWriter *w = ctx;
    if (klen == 0 || klen > CKPT_MAX_KEY || vlen > CKPT_MAX_VALUE)
        return w->failed = 1, -1;
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 1024;
        ckRec *r = realloc(w->recs, cap * sizeof *r);
        if (!r)
            return w->failed = 1, -1;
        w->recs = r;
        w->cap = cap;
    }
    uint8_t *b = malloc(klen + vlen + 1);
    if (!b)
        return w->failed = 1, -1;
    memcpy(b, key, klen);
    if (vlen)
        memcpy(b + klen, val, vlen);
    w->recs[w->n++] =
        (ckRec){.key = b, .val = b + klen, .klen = (uint32_t)klen, .vlen = (uint32_t)vlen};
    return 0;
}

int ckStreamBegin(ckWriter *w, uint32_t stream, uint64_t seq, ckptSink *sink)
{
    if (w->m.n >= CK_MAX_STREAMS)
        return -1;
    ckFreeRecs(w);
    w->failed = 0;
    ckStream *s = &w->m.s[w->m.n];
    memset(s, 0, sizeof *s);
    s->stream = stream;
    s->seq = seq;
    snprintf(s->file, sizeof s->file, "stream-%u.sst", stream);
    sink->put = ckPutRec;
    sink->ctx = w;
    return 0;
}

/* memcmp order, a prefix first (ckpt.h, sst.h). */
static int ckCmp(const void *a, const void *b)
{
    const ckRec *x = a, *y = b;
    uint32_t n = x->klen < y->klen ? x->klen : y->klen;
    int c = memcmp(x->key, y->key, n);
    return c ? c : (x->klen > y->klen) - (x->klen < y->klen);
}

/* CRC32C of the whole file at path into *crc, its size into *bytes. */
static int ckFileCrc(const char *path, uint32_t *crc, uint64_t *bytes)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    static __thread unsigned char buf[1 << 16];
    uint32_t c = 0;
    uint64_t total = 0;
    ssize_t k;
    while ((k = read(fd, buf, sizeof buf)) > 0) {
        c = crc32cExtend(c, buf, (size_t)k);
        total += (uint64_t)k;
    }
    close(fd);
    *crc = c;
    *bytes = total;
    return k < 0 ? -1 : 0;
}

int ckStreamEnd(ckWriter *w, char *err, size_t errlen)
{
    ckStream *s = &w->m.s[w->m.n];
    if (w->failed) {
        ckErr(err, errlen, "stream %u: a record could not be stored (size or memory)", s->stream);
        return -1;
    }
    qsort(w->recs, w->n, sizeof *w->recs, ckCmp);
    char path[CK_PATH + CK_NAME_MAX];
    snprintf(path, sizeof path, "%s/%s", w->dir, s->file);
    sstOptions o;
    sstOptionsDefaults(&o);
    sstError se;
    sstWriter *sw = sstWriterOpen(path, &o, &se);
    if (!sw) {
        ckErr(err, errlen, "%s", se.msg);
        return -1;
    }
    for (size_t i = 0; i < w->n; i++) {
        if (i && !ckCmp(&w->recs[i - 1], &w->recs[i])) {
            sstWriterAbort(sw);
            ckErr(err, errlen, "stream %u: the component gave a key twice (%u bytes, kind %u)",
                  s->stream, w->recs[i].klen, w->recs[i].key[0]);
            return -1;
        }
        if (sstWriterAdd(sw, w->recs[i].key, w->recs[i].klen, w->recs[i].val, w->recs[i].vlen,
                         &se)) {
            sstWriterAbort(sw);
            ckErr(err, errlen, "%s", se.msg);
            return -1;
        }
    }
    sstInfo info;
    if (sstWriterFinish(sw, &info, &se)) {
        ckErr(err, errlen, "%s", se.msg);
        return -1;
    }
    s->entries = info.entries;
    if (ckFileCrc(path, &s->crc, &s->bytes)) {
        ckErr(err, errlen, "%s: cannot read it back: %s", path, strerror(errno));
        return -1;
    }
    ckFreeRecs(w);
    w->m.n++;
    return 0;
}

/* The manifest's text without its CRC line; returns its length. */
static int ckFormat(const ckManifest *m, char *buf, size_t n)
{
    size_t k = (size_t)snprintf(buf, n, CK_MAGIC_LINE "id %" PRIu64 "\ntime_ns %" PRIu64 "\n",
                                m->id, m->timeNs);
    for (uint32_t i = 0; i < m->n && k < n; i++) {
        const ckStream *s = &m->s[i];
        k += (size_t)snprintf(buf + k, n - k,
                              "stream %u seq %" PRIu64 " file %s entries %" PRIu64 " bytes %" PRIu64
                              " crc %08x\n",
                              s->stream, s->seq, s->file, s->entries, s->bytes, s->crc);
    }
    return k < n ? (int)k : -1;
}

int ckCommit(ckWriter *w, ckManifest *out, char *err, size_t errlen)
{
    static char buf[CK_MAX_STREAMS * 200 + 256];
    char tmp[CK_PATH + 32], fin[CK_PATH + 32];
    int k = ckFormat(&w->m, buf, sizeof buf - 32);
    if (k < 0) {
        ckErr(err, errlen, "manifest too long");
        ckAbort(w);
        return -1;
    }
    k += snprintf(buf + k, 32, "crc %08x\n", crc32c(buf, (size_t)k));
    snprintf(tmp, sizeof tmp, "%s/MANIFEST.tmp", w->dir);
    snprintf(fin, sizeof fin, "%s/MANIFEST", w->dir);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    int ok = fd >= 0 && write(fd, buf, (size_t)k) == k && fsync(fd) == 0;
    int e = errno;
    if (fd >= 0)
        close(fd);
    if (!ok || rename(tmp, fin) || ckFsyncDir(w->dir)) {
        ckErr(err, errlen, "%s: cannot be written: %s", fin, strerror(ok ? errno : e));
        ckAbort(w);
        return -1;
    }
    if (out)
        *out = w->m;
    ckFreeRecs(w);
    free(w->recs);
    free(w);
    return 0;
}

void ckAbort(ckWriter *w)
{
    if (!w)
        return;
    ckRemoveDir(w->dir);
    ckFreeRecs(w);
    free(w->recs);
    free(w);
}

static int ckIdCmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x < y) - (x > y); /* newest first */
}

int ckList(const char *root, uint64_t *ids, int max)
{
    DIR *d = opendir(root);
    if (!d)
        return errno == ENOENT ? 0 : -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < max) {
        char *end;
        if (strncmp(e->d_name, "ckpt-", 5) || strlen(e->d_name) != 25)
            continue;
        uint64_t id = strtoull(e->d_name + 5, &end, 10);
        if (*end == 0)
            ids[n++] = id;
    }
    closedir(d);
    qsort(ids, (size_t)n, sizeof *ids, ckIdCmp);
    return n;
}

/* Parses the manifest text (CRC already checked). */
static int ckParse(char *text, ckManifest *m)
{
    memset(m, 0, sizeof *m);
    char *save = NULL;
    char *line;
    strtok_r(text, "\n", &save); /* the magic line */
    int haveId = 0;
    while ((line = strtok_r(NULL, "\n", &save)) != NULL) {
        ckStream *s = &m->s[m->n];
        unsigned st;
        if (sscanf(line, "id %" SCNu64, &m->id) == 1) {
            haveId = 1;
        } else if (sscanf(line, "time_ns %" SCNu64, &m->timeNs) == 1) {
            continue;
        } else if (m->n < CK_MAX_STREAMS &&
                   sscanf(line,
                          "stream %u seq %" SCNu64 " file %47s entries %" SCNu64 " bytes %" SCNu64
                          " crc %x",
                          &st, &s->seq, s->file, &s->entries, &s->bytes, &s->crc) == 6) {
            s->stream = st;
            if (strchr(s->file, '/'))
                return -1;
            m->n++;
        } else if (strncmp(line, "crc ", 4)) {
            return -1;
        }
    }
    return haveId ? 0 : -1;
}

/* Reads dir/MANIFEST and checks its CRC. */
static int ckReadManifest(const char *dir, ckManifest *m, char *err, size_t errlen)
{
    static char buf[CK_MAX_STREAMS * 200 + 256];
    char path[CK_PATH + 32];
    snprintf(path, sizeof path, "%s/MANIFEST", dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        ckErr(err, errlen, "%s: %s (an unfinished checkpoint)", path, strerror(errno));
        return -1;
    }
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n < 0) {
        ckErr(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        return -1;
    }
    buf[n] = 0;
    char *crcLine = strstr(buf, "\ncrc ");
    unsigned crc;
    if (strncmp(buf, CK_MAGIC_LINE, strlen(CK_MAGIC_LINE)) || !crcLine ||
        sscanf(crcLine + 1, "crc %x", &crc) != 1) {
        ckErr(err, errlen, "%s: offset 0: not a checkpoint manifest", path);
        return -1;
    }
    size_t body = (size_t)(crcLine + 1 - buf);
    if (crc32c(buf, body) != crc) {
        ckErr(err, errlen, "%s: offset %zu: manifest CRC mismatch", path, body);
        return -1;
    }
    if (ckParse(buf, m)) {
        ckErr(err, errlen, "%s: malformed manifest", path);
        return -1;
    }
    return 0;
}

/* Checks one stream's SSTable against the manifest. */
static int ckCheckStream(const char *dir, const ckStream *s, char *err, size_t errlen)
{
    char path[CK_PATH + CK_NAME_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, s->file);
    sstError se;
    sstTable *t = sstOpen(path, SST_OPEN_VERIFY, &se);
    if (!t) {
        ckErr(err, errlen, "%s", se.msg);
        return -1;
    }
    sstInfo info;
    sstGetInfo(t, &info);
    sstClose(t);
    uint32_t crc;
    uint64_t bytes;
    if (info.entries != s->entries) {
        ckErr(err, errlen, "%s: %" PRIu64 " entries, the manifest says %" PRIu64, path,
              info.entries, s->entries);
        return -1;
    }
    if (ckFileCrc(path, &crc, &bytes) || crc != s->crc || bytes != s->bytes) {
        ckErr(err, errlen, "%s: file CRC or size differs from the manifest (%" PRIu64 " bytes)",
              path, bytes);
        return -1;
    }
    return 0;
}

int ckLoad(const char *root, uint64_t id, ckManifest *m, char *err, size_t errlen)
{
    char dir[CK_PATH];
    ckDirPath(dir, sizeof dir, root, id);
    if (ckReadManifest(dir, m, err, errlen))
        return -1;
    if (m->id != id) {
        ckErr(err, errlen, "%s/MANIFEST: id %" PRIu64 " in directory of %" PRIu64, dir, m->id, id);
        return -1;
    }
    for (uint32_t i = 0; i < m->n; i++)
        if (ckCheckStream(dir, &m->s[i], err, errlen))
            return -1;
    return 0;
}

const ckStream *ckFind(const ckManifest *m, uint32_t stream)
{
    for (uint32_t i = 0; i < m->n; i++)
        if (m->s[i].stream == stream)
            return &m->s[i];
    return NULL;
}

struct ckReader {
    sstTable *t;
    sstIter *it;
    sstError se;
};

static int ckNextRec(void *ctx, const void **key, size_t *klen, const void **val, size_t *vlen)
{
    ckReader *r = ctx;
    sstEntry e;
    int rc = sstIterNext(r->it, &e, &r->se);
    if (rc != 1)
        return rc;
    *key = e.key;
    *klen = e.klen;
    *val = e.val;
    *vlen = e.vlen;
    return 1;
}

ckReader *ckReaderOpen(const char *root, uint64_t id, const ckStream *s, ckptSource *src, char *err,
                       size_t errlen)
{
    char path[CK_PATH + CK_NAME_MAX + 32];
    ckReader *r = calloc(1, sizeof *r);
    if (!r) {
        ckErr(err, errlen, "out of memory");
        return NULL;
    }
    int n = snprintf(path, sizeof path, "%s/ckpt-%020" PRIu64 "/%s", root, id, s->file);
    r->t = n > 0 && (size_t)n < sizeof path ? sstOpen(path, SST_OPEN_SEQUENTIAL, &r->se) : NULL;
    r->it = r->t ? sstIterOpen(r->t) : NULL;
    if (!r->it) {
        ckErr(err, errlen, "%s", r->t ? "out of memory" : r->se.msg);
        ckReaderClose(r);
        return NULL;
    }
    src->next = ckNextRec;
    src->ctx = r;
    return r;
}

void ckReaderClose(ckReader *r)
{
    if (!r)
        return;
    sstIterClose(r->it);
    sstClose(r->t);
    free(r);
}

int ckPrune(const char *root, int keep)
{
    uint64_t ids[256];
    int n = ckList(root, ids, 256), complete = 0, removed = 0;
    for (int i = 0; i < n; i++) {
        char dir[CK_PATH], man[CK_PATH + 16];
        ckDirPath(dir, sizeof dir, root, ids[i]);
        snprintf(man, sizeof man, "%s/MANIFEST", dir);
        int done = access(man, F_OK) == 0;
        /* an unfinished one newer than every complete one may be in the works */
        if ((done && ++complete > keep) || (!done && complete > 0)) {
            ckRemoveDir(dir);
            removed++;
        }
    }
    return removed;
}
