/* lsm_manifest.c -- the LSM tree's MANIFEST: which tables form the tree, replaced atomically.
 *
 * A small text file, so an operator can read it:
 *
 *   xchg-lsm-manifest 1
 *   next-file 42
 *   table 0 41 1048576        (level, number, bytes)
 *   ...
 *   crc32c 1a2b3c4d           (CRC32C of every byte before this line)
 *
 * Written to MANIFEST.tmp, fsync'd, renamed over MANIFEST, and the directory
 * fsync'd: a reader sees the old or the new manifest, never a mix. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "storage/crc32c.h"
#include "storage/lsm_int.h"
#include "storage/sst_int.h"

#define MANIFEST_MAX (16u << 20)

void lsmTablePath(char *out, size_t cap, const char *dir, uint64_t number)
{
    snprintf(out, cap, "%s/%010" PRIu64 ".sst", dir, number);
}

static int syncPath(const char *path, int flags)
{
    int fd = open(path, flags | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

int lsmManifestWrite(const char *dir, const lsmVersion *v, uint64_t nextFile, sstError *err)
{
    size_t cap = 128, len = 0;
    for (int l = 0; l < LSM_LEVELS; l++)
        cap += (size_t)v->n[l] * 64;
    char *b = malloc(cap);
    if (!b) {
        sstErrorSet(err, SST_EIO, ENOMEM, dir, UINT64_MAX, "out of memory");
        return -1;
    }
    len += (size_t)snprintf(b + len, cap - len, "xchg-lsm-manifest 1\nnext-file %" PRIu64 "\n",
                            nextFile);
    for (int l = 0; l < LSM_LEVELS; l++)
        for (uint32_t i = 0; i < v->n[l]; i++)
            len += (size_t)snprintf(b + len, cap - len, "table %d %" PRIu64 " %" PRIu64 "\n", l,
                                    v->f[l][i]->number, v->f[l][i]->bytes);
    len += (size_t)snprintf(b + len, cap - len, "crc32c %08x\n", crc32c(b, len));
    char tmp[SST_PATH_MAX], path[SST_PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s/MANIFEST.tmp", dir);
    snprintf(path, sizeof path, "%s/MANIFEST", dir);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int ok = fd >= 0 && write(fd, b, len) == (ssize_t)len && fdatasync(fd) == 0;
    int e = errno;
    if (fd >= 0 && close(fd) < 0 && ok) {
        ok = 0;
        e = errno;
    }
    free(b);
    if (!ok || rename(tmp, path) < 0 || syncPath(dir, O_RDONLY | O_DIRECTORY) < 0) {
        if (ok)
            e = errno;
        sstErrorSet(err, SST_EIO, e, path, UINT64_MAX, "cannot write manifest: %s", strerror(e));
        unlink(tmp);
        return -1;
    }
    return 0;
}

static char *readWhole(const char *path, size_t *len, int *missing, sstError *err)
{
    *missing = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) {
            *missing = 1;
            return NULL;
        }
        sstErrorSet(err, SST_EIO, errno, path, UINT64_MAX, "open: %s", strerror(errno));
        return NULL;
    }
    char *b = malloc(MANIFEST_MAX + 1);
    size_t n = 0;
    ssize_t k = 0;
    while (b && n < MANIFEST_MAX && (k = read(fd, b + n, MANIFEST_MAX - n)) > 0)
        n += (size_t)k;
    int e = errno;
    close(fd);
    if (!b || k < 0) {
        sstErrorSet(err, SST_EIO, b ? e : ENOMEM, path, UINT64_MAX, "read: %s",
                    strerror(b ? e : ENOMEM));
        free(b);
        return NULL;
    }
    b[n] = 0;
    *len = n;
    return b;
}

static int addNumber(uint64_t *nums[LSM_LEVELS], uint32_t n[LSM_LEVELS], int level, uint64_t num)
{
    if ((n[level] & (n[level] - 1)) == 0) { /* grow at powers of two */
        uint32_t cap = n[level] ? n[level] * 2 : 8;
        uint64_t *p = realloc(nums[level], cap * sizeof *p);
        if (!p)
            return -1;
        nums[level] = p;
    }
    nums[level][n[level]++] = num;
    return 0;
}

int lsmManifestRead(const char *dir, uint64_t *nums[LSM_LEVELS], uint32_t n[LSM_LEVELS],
                    uint64_t *nextFile, sstError *err)
{
    char path[SST_PATH_MAX];
    snprintf(path, sizeof path, "%s/MANIFEST", dir);
    memset(n, 0, sizeof(uint32_t) * LSM_LEVELS);
    for (int l = 0; l < LSM_LEVELS; l++)
        nums[l] = NULL;
    size_t len;
    int missing;
    char *b = readWhole(path, &len, &missing, err);
    if (!b)
        return missing ? 0 : -1;
    int rc = -1, sawCrc = 0;
    *nextFile = 0;
    char *line = b, *nl;
    if (strncmp(b, "xchg-lsm-manifest 1\n", 20) != 0) {
        sstErrorSet(err, SST_ECORRUPT, 0, path, 0, "not an xchg LSM manifest");
        goto out;
    }
    for (; *line; line = nl + 1) {
        nl = strchr(line, '\n');
        uint64_t off = (uint64_t)(line - b);
        if (!nl) {
            sstErrorSet(err, SST_ECORRUPT, 0, path, off, "manifest: unterminated line");
            goto out;
        }
        char ln[256];
        if ((size_t)(nl - line) >= sizeof ln) {
            sstErrorSet(err, SST_ECORRUPT, 0, path, off, "manifest: line too long");
            goto out;
        }
        memcpy(ln, line, (size_t)(nl - line));
        ln[nl - line] = 0;
        int level;
        uint64_t num, bytes;
        unsigned crc;
        char extra;
        if (sawCrc) {
            sstErrorSet(err, SST_ECORRUPT, 0, path, off, "manifest: data after the CRC line");
            goto out;
        }
        if (off == 0)
            continue;
        if (sscanf(ln, "next-file %" SCNu64 " %c", nextFile, &extra) == 1)
            continue;
        if (sscanf(ln, "table %d %" SCNu64 " %" SCNu64 " %c", &level, &num, &bytes, &extra) == 3 &&
            level >= 0 && level < LSM_LEVELS && num > 0) {
            if (addNumber(nums, n, level, num) < 0) {
                sstErrorSet(err, SST_EIO, ENOMEM, path, off, "out of memory");
                goto out;
            }
            continue;
        }
        if (sscanf(ln, "crc32c %8x %c", &crc, &extra) == 1) {
            if (crc != crc32c(b, (size_t)off)) {
                sstErrorSet(err, SST_ECORRUPT, 0, path, off, "manifest: CRC mismatch");
                goto out;
            }
            sawCrc = 1;
            continue;
        }
        sstErrorSet(err, SST_ECORRUPT, 0, path, off, "manifest: bad line");
        goto out;
    }
    if (!sawCrc || *nextFile == 0) {
        sstErrorSet(err, SST_ECORRUPT, 0, path, len, "manifest: truncated (no CRC or next-file)");
        goto out;
    }
    rc = 1;
out:
    free(b);
    if (rc < 0)
        for (int l = 0; l < LSM_LEVELS; l++) {
            free(nums[l]);
            nums[l] = NULL;
        }
    return rc;
}
